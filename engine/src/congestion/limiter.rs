//! Request permits: at most the controller's current limit of requests in flight per gateway,
//! handed out first come, first served.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::controller::{Controller, ControllerConfig, ControllerStats, RequestClass};

/// Hands out one [`Permit`] per request in flight, shared by every transfer to one gateway, and
/// adapts the number it allows through a [`Controller`].
#[derive(Debug, Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    retries: AtomicU64,
    ceiling: usize,
}

#[derive(Debug)]
struct State {
    controller: Controller,
    /// Permits granted and not yet dropped, those handed to a waiter included.
    in_flight: usize,
    /// Requests waiting for a permit, oldest first. A freed slot goes to the oldest waiter
    /// (its permit is counted in `in_flight` when handed over, with the epoch sent), never to
    /// a request that arrives later: no request waits while later ones go ahead of it.
    waiters: VecDeque<oneshot::Sender<u64>>,
}

impl State {
    /// Hands free slots to the oldest waiters. A waiter that gave up (its receiver dropped)
    /// is skipped and its slot goes to the next.
    fn dispatch(&mut self) {
        while self.in_flight < self.controller.limit() {
            let Some(tx) = self.waiters.pop_front() else {
                return;
            };
            self.in_flight += 1;
            if tx.send(self.controller.epoch()).is_err() {
                self.in_flight -= 1;
            }
        }
    }

    fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.dispatch();
    }
}

/// A request waiting for its permit; if it is dropped (the request was cancelled) after a slot
/// was handed to it, the slot is released again.
struct Waiting {
    rx: Option<oneshot::Receiver<u64>>,
    shared: Arc<Shared>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.shared
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .release();
            }
        }
    }
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
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .release();
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
                    waiters: VecDeque::new(),
                }),
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

    /// Waits until a request may be sent: at once while fewer than the limit are in flight and
    /// nobody waits, else behind every request that waits already.
    pub async fn acquire(&self) -> Permit {
        let mut waiting = {
            let mut st = self.state();
            if st.waiters.is_empty() && st.in_flight < st.controller.limit() {
                st.in_flight += 1;
                return Permit {
                    shared: self.shared.clone(),
                    started: Instant::now(),
                    epoch: st.controller.epoch(),
                };
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(tx);
            Waiting {
                rx: Some(rx),
                shared: self.shared.clone(),
            }
        };
        let epoch = match waiting.rx.as_mut() {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        // The slot is ours now (counted when it was handed over): the guard must not free it.
        waiting.rx = None;
        Permit {
            shared: self.shared.clone(),
            started: Instant::now(),
            // A sender is dropped unsent only with the limiter itself, which this call holds.
            epoch: epoch.unwrap_or(0),
        }
    }

    /// A request succeeded after `latency`.
    pub fn on_success(&self, class: RequestClass, latency: Duration) {
        let mut st = self.state();
        let before = st.controller.limit();
        st.controller.on_success(class, latency, Instant::now());
        if st.controller.limit() > before {
            st.dispatch();
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

    /// Where the limit sat over the run and what moved it.
    #[must_use]
    pub fn stats(&self) -> ControllerStats {
        self.state().controller.stats()
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

    #[tokio::test]
    async fn waiters_are_served_in_order_and_a_cancelled_one_frees_its_slot() {
        let mut cfg = ControllerConfig::with_ceiling(1);
        cfg.start = 1;
        let l = Limiter::with_config(cfg);
        let first = l.acquire().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (l, order) = (l.clone(), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let _p = l.acquire().await;
                order.lock().unwrap().push(i);
                tokio::task::yield_now().await;
            }));
            // Each waits before the next arrives.
            tokio::task::yield_now().await;
        }
        // A waiter that gives up before its turn, and one whose slot arrives as it gives up.
        let cancelled = tokio::spawn({
            let l = l.clone();
            async move {
                let _p = l.acquire().await;
                unreachable!("aborted before its turn");
            }
        });
        tokio::task::yield_now().await;
        cancelled.abort();
        let _ = cancelled.await;
        // A newcomer does not go ahead of the waiters even when it arrives as a slot frees.
        drop(first);
        let late = l.acquire().await;
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        drop(late);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(l.in_flight(), 0);
        // The slot handed to a waiter dropped unpolled is freed.
        let held = l.acquire().await;
        let mut fut = Box::pin(l.acquire());
        assert!(
            futures_util::FutureExt::now_or_never(fut.as_mut()).is_none(),
            "a free slot while one is held at limit 1"
        );
        drop(held);
        assert_eq!(l.in_flight(), 1, "handed to the waiting future");
        drop(fut);
        assert_eq!(l.in_flight(), 0, "freed when the future was dropped");
    }
}
