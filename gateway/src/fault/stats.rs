//! What the proxy saw and did: counters shared by every connection, their snapshot
//! ([`FaultStats`]), and the guards that count requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of the proxy's counters since it started, as `GET /__fault/stats` answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    /// Requests received from clients.
    pub requests: u64,
    /// Requests sent to the upstream gateway that got an answer head back.
    pub forwarded: u64,
    /// `503 SlowDown` answers (the `max_concurrent` limit).
    pub slow_downs: u64,
    /// `500 InternalError` answers (`error_rate`).
    pub internal_errors: u64,
    /// Connections reset mid-exchange (`reset_rate`).
    pub resets: u64,
    /// Response bodies cut short against their `Content-Length` (`truncate_rate`).
    pub truncations: u64,
    /// `413 EntityTooLarge` answers (`max_body`).
    pub too_large: u64,
    /// Connections reset while a request body above `max_body_reset` was sent.
    pub body_resets: u64,
    /// Forwarded answers held back by `first_byte_delay_ms`.
    pub delayed: u64,
    /// Forwarded answers in which the upstream gateway itself said `503` (its own throttling,
    /// e.g. RGW's `rgw max concurrent requests`), passed on unchanged.
    pub upstream_slow_downs: u64,
    /// `502 BadGateway` answers: the upstream gateway could not be reached or broke off.
    pub upstream_errors: u64,
    /// Request body bytes passed to the upstream gateway.
    pub bytes_up: u64,
    /// Response body bytes from the upstream gateway passed to clients.
    pub bytes_down: u64,
    /// Requests being handled now (received, answer not yet fully sent).
    pub in_flight: u64,
    /// Most requests handled at once: what the client offered, throttled ones included.
    pub max_in_flight: u64,
    /// Most requests forwarded and unfinished at once: never above `max_concurrent`.
    pub max_forwarded_in_flight: u64,
}

impl FaultStats {
    /// The stats as one line of JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // A struct of integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The live counters behind [`FaultStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) slow_downs: AtomicU64,
    pub(crate) internal_errors: AtomicU64,
    pub(crate) resets: AtomicU64,
    pub(crate) truncations: AtomicU64,
    pub(crate) too_large: AtomicU64,
    pub(crate) body_resets: AtomicU64,
    pub(crate) delayed: AtomicU64,
    pub(crate) upstream_errors: AtomicU64,
    pub(crate) upstream_slow_downs: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    admitted: AtomicU64,
    max_admitted: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> FaultStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultStats {
            requests: get(&self.requests),
            forwarded: get(&self.forwarded),
            slow_downs: get(&self.slow_downs),
            internal_errors: get(&self.internal_errors),
            resets: get(&self.resets),
            truncations: get(&self.truncations),
            too_large: get(&self.too_large),
            body_resets: get(&self.body_resets),
            delayed: get(&self.delayed),
            upstream_errors: get(&self.upstream_errors),
            upstream_slow_downs: get(&self.upstream_slow_downs),
            bytes_up: get(&self.bytes_up),
            bytes_down: get(&self.bytes_down),
            in_flight: get(&self.in_flight),
            max_in_flight: get(&self.max_in_flight),
            max_forwarded_in_flight: get(&self.max_admitted),
        }
    }
}

/// One request being handled; counted in `in_flight` until dropped (with the response body).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Counters>);

impl InFlight {
    pub(crate) fn enter(counters: &Arc<Counters>) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::AcqRel);
        Self(Arc::clone(counters))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One request admitted under `max_concurrent`; holds its slot until dropped (with the
/// response body, so a slow download keeps its slot as it would on the gateway).
#[derive(Debug)]
pub(crate) struct Admitted(Arc<Counters>);

impl Admitted {
    /// A slot, unless `limit` requests already hold one (`None` means no limit).
    pub(crate) fn try_enter(counters: &Arc<Counters>, limit: Option<u32>) -> Option<Self> {
        let limit = limit.map_or(u64::MAX, u64::from);
        let taken = counters
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        counters.max_admitted.fetch_max(taken + 1, Ordering::AcqRel);
        Some(Self(Arc::clone(counters)))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_holds_the_limit_and_frees_slots() {
        let c = Arc::new(Counters::default());
        let a = Admitted::try_enter(&c, Some(2)).unwrap();
        let b = Admitted::try_enter(&c, Some(2)).unwrap();
        assert!(Admitted::try_enter(&c, Some(2)).is_none());
        drop(a);
        let again = Admitted::try_enter(&c, Some(2)).unwrap();
        assert!(Admitted::try_enter(&c, Some(0)).is_none());
        drop((b, again));
        assert_eq!(c.snapshot().max_forwarded_in_flight, 2);
        let guards: Vec<_> = (0..5).map(|_| InFlight::enter(&c)).collect();
        assert_eq!(c.snapshot().in_flight, 5);
        drop(guards);
        let s = c.snapshot();
        assert_eq!((s.in_flight, s.max_in_flight), (0, 5));
    }
}
