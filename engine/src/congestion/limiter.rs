//! Request permits: at most the controller's current limit of requests in flight per gateway.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::controller::{Controller, ControllerConfig, RequestClass};

/// Hands out one [`Permit`] per request in flight, shared by every transfer to one gateway, and
/// adapts the number it allows through a [`Controller`].
#[derive(Debug, Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
    retries: AtomicU64,
    ceiling: usize,
}

#[derive(Debug)]
struct State {
    controller: Controller,
    in_flight: usize,
}

/// Permission for one request to be in flight; released on drop.
#[derive(Debug)]
pub struct Permit {
    shared: Arc<Shared>,
    started: Instant,
    epoch: u64,
}

impl Permit {
    /// How long ago the permit was granted (the request's latency so far).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The controller's decrease epoch when the permit was granted.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        st.in_flight = st.in_flight.saturating_sub(1);
        drop(st);
        self.shared.notify.notify_one();
    }
}

/// A snapshot of the limiter for progress displays and `--json` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterState {
    /// Requests allowed in flight now.
    pub limit: usize,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Throttling signals seen.
    pub throttles: u64,
    /// Retries made.
    pub retries: u64,
}

impl Limiter {
    /// An adaptive limiter with `ceiling` (`--concurrency`) and default tuning.
    #[must_use]
    pub fn new(ceiling: usize) -> Self {
        Self::with_config(ControllerConfig::with_ceiling(ceiling))
    }

    /// A limiter with the given tuning (a floor equal to the ceiling gives a fixed limit).
    #[must_use]
    pub fn with_config(cfg: ControllerConfig) -> Self {
        let controller = Controller::new(cfg);
        Self {
            shared: Arc::new(Shared {
                ceiling: cfg.ceiling.max(1),
                state: Mutex::new(State {
                    controller,
                    in_flight: 0,
                }),
                notify: Notify::new(),
                retries: AtomicU64::new(0),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) -> Permit {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between check and wait is not lost.
            notified.as_mut().enable();
            {
                let mut st = self.state();
                if st.in_flight < st.controller.limit() {
                    st.in_flight += 1;
                    return Permit {
                        shared: self.shared.clone(),
                        started: Instant::now(),
                        epoch: st.controller.epoch(),
                    };
                }
            }
            notified.await;
        }
    }

    /// A request succeeded after `latency`.
    pub fn on_success(&self, class: RequestClass, latency: Duration) {
        let grew = {
            let mut st = self.state();
            let before = st.controller.limit();
            st.controller.on_success(class, latency, Instant::now());
            st.controller.limit() > before
        };
        if grew {
            self.shared.notify.notify_waiters();
        }
    }

    /// A request sent in `epoch` (see [`Permit::epoch`]) met an overload signal (503, 429,
    /// 5xx, timeout, reset).
    pub fn on_throttle(&self, epoch: u64) {
        self.state()
            .controller
            .on_throttle_sent_in(epoch, Instant::now());
    }

    /// Records a retry.
    pub fn on_retry(&self) {
        self.shared.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The current limit on requests in flight.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.state().controller.limit()
    }

    /// The most the limit can grow to (`--concurrency`).
    #[must_use]
    pub fn ceiling(&self) -> usize {
        self.shared.ceiling
    }

    /// Requests in flight now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.state().in_flight
    }

    /// Throttling answers seen so far.
    #[must_use]
    pub fn throttles(&self) -> u64 {
        self.state().controller.throttles()
    }

    /// Retries made so far.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.shared.retries.load(Ordering::Relaxed)
    }

    /// Limit, in flight, throttles and retries at once.
    #[must_use]
    pub fn snapshot(&self) -> LimiterState {
        let st = self.state();
        LimiterState {
            limit: st.controller.limit(),
            in_flight: st.in_flight,
            throttles: st.controller.throttles(),
            retries: self.shared.retries.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_up_to_the_limit_and_releases_on_drop() {
        let mut cfg = ControllerConfig::with_ceiling(4);
        cfg.start = 2;
        let l = Limiter::with_config(cfg);
        let a = l.acquire().await;
        let _b = l.acquire().await;
        assert_eq!(l.in_flight(), 2);
        let waiting = tokio::spawn({
            let l = l.clone();
            async move {
                let _p = l.acquire().await;
            }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a third request got in at limit 2");
        drop(a);
        waiting.await.unwrap();
        assert_eq!(l.in_flight(), 1);
    }
}
