//! How many requests may be in flight, and which failed requests are tried again.
//!
//! This module is pure decision logic with the clock and randomness passed in: it knows
//! nothing of hyper or S3 XML. `client` describes each failure as a [`Failure`], asks
//! [`classify`] what to do, waits [`Backoff::delay`], and spends from the [`RetryBudget`].
//! [`Limiter`] hands out request permits.
//!
//! The [`Controller`] adapts the limit: additive increase while requests succeed at normal
//! latency, multiplicative decrease on throttling and on climbing latency, within
//! floor..=`--concurrency`.
//! Read `client` next.

mod controller;
mod limiter;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;

pub use controller::{Controller, ControllerConfig, ControllerStats, RequestClass, RequestKind};
pub use limiter::{Limiter, LimiterState, Permit};

/// What went wrong with one attempt, in the terms the retry policy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The gateway answered with an error status. `slow_down` is set for S3's `SlowDown` code,
    /// `request_timeout` for S3's `RequestTimeout` (the gateway gave up waiting for our body).
    Status {
        /// HTTP status code.
        status: u16,
        /// The S3 error code was `SlowDown`.
        slow_down: bool,
        /// The S3 error code was `RequestTimeout`.
        request_timeout: bool,
    },
    /// Nothing accepted the TCP connection.
    Connect,
    /// A phase of the exchange timed out (connect, send, first byte, body).
    Timeout,
    /// The connection was closed or reset mid-exchange.
    Reset,
    /// TLS failed (untrusted certificate, handshake refused).
    Tls,
    /// The request body's local source failed: a retry would read the same broken file.
    BodySource,
    /// The response was larger than haul accepts for its kind.
    ResponseTooLarge,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after a backoff; `congestion` says whether the failure is a sign of an
    /// overloaded gateway (the limiter shrinks on those).
    Retry {
        /// The failure signals congestion.
        congestion: bool,
    },
    /// The body was too large for a proxy or the gateway (413): send smaller bodies instead
    /// of the same one again.
    ShrinkBody,
    /// Give up: a retry cannot fix it.
    Fail,
}

/// The retry policy. It implements this table and nothing else:
///
/// | failure                                   | idempotent             | not idempotent |
/// |-------------------------------------------|------------------------|----------------|
/// | 503 (SlowDown or not), 429                | retry, congestion      | retry, congestion (not processed) |
/// | 500, 502, 504                             | retry, congestion      | fail           |
/// | 400 `RequestTimeout`, 408                 | retry                  | retry          |
/// | 413                                       | shrink body            | shrink body    |
/// | other 4xx (403, 404, signature, bad input)| fail                   | fail           |
/// | connect refused / unreachable             | retry                  | retry (nothing sent) |
/// | timeout, reset                            | retry, congestion      | fail           |
/// | TLS, body source, response too large      | fail                   | fail           |
///
/// Every S3 request haul sends is treated as idempotent: a retried `CreateMultipartUpload`
/// may leave an extra, empty upload behind (harmless; `haul multipart ls|abort` shows and
/// removes it), and a `CompleteMultipartUpload` retried after the gateway finished answers
/// `NoSuchUpload`, which the client resolves by looking at the object.
#[must_use]
pub fn classify(failure: Failure, idempotent: bool) -> Decision {
    match failure {
        Failure::Status { status, .. } if status == 503 || status == 429 => {
            Decision::Retry { congestion: true }
        }
        Failure::Status {
            request_timeout: true,
            ..
        }
        | Failure::Status { status: 408, .. }
        | Failure::Connect => Decision::Retry { congestion: false },
        Failure::Status { status: 413, .. } => Decision::ShrinkBody,
        Failure::Status {
            slow_down: true, ..
        } => Decision::Retry { congestion: true },
        Failure::Status {
            status: 500 | 502 | 504,
            ..
        }
        | Failure::Timeout
        | Failure::Reset => {
            if idempotent {
                Decision::Retry { congestion: true }
            } else {
                Decision::Fail
            }
        }
        Failure::Status { .. } | Failure::Tls | Failure::BodySource | Failure::ResponseTooLarge => {
            Decision::Fail
        }
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a uniformly random time in
/// `[0, min(cap, base · 2ⁿ)]` (the "full jitter" of the AWS architecture blog's study, which
/// spreads retries of many clients best).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First ceiling. Chosen: 100 ms, about one loopback RGW request under load.
    pub base: Duration,
    /// Largest ceiling. Chosen: 20 s, as the AWS SDKs' standard retry mode.
    pub cap: Duration,
    /// Attempts in all, the first included. Chosen: 10, enough to ride out a gateway restart
    /// (~15 s for RGW here) with the cap above.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
            max_attempts: 10,
        }
    }
}

/// Longest `Retry-After` haul honours. Chosen: 5 minutes; a gateway asking for more is treated
/// as asking for this much, so a run never hangs on a bogus header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

impl Backoff {
    /// How long to wait before attempt `attempt + 1`, `attempt` counting failures so far
    /// (1 after the first failure). A `Retry-After` from the gateway is a floor.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exp)
            .min(self.cap)
            .as_micros();
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        let jittered = Duration::from_micros(rng.random_range(0..=ceiling));
        match retry_after {
            Some(ra) => jittered.max(ra.min(MAX_RETRY_AFTER)),
            None => jittered,
        }
    }
}

/// A token bucket that caps retries as a fraction of successes, so that a failing gateway
/// receives fewer requests than a healthy one, not more.
///
/// Each retry spends [`RetryBudget::RETRY_COST`]; each success deposits
/// [`RetryBudget::SUCCESS_DEPOSIT`], up to the capacity. With an empty bucket a failure is
/// final. The numbers follow the AWS SDKs' standard retry quota (500 tokens, 5 per retry,
/// 1 back per success), i.e. in steady state at most one retry per five successes.
#[derive(Debug)]
pub struct RetryBudget {
    tokens: Mutex<u32>,
    capacity: u32,
    refilled: tokio::sync::Notify,
}

impl RetryBudget {
    /// Tokens a retry costs.
    pub const RETRY_COST: u32 = 5;
    /// Tokens a success puts back.
    pub const SUCCESS_DEPOSIT: u32 = 1;
    /// Default capacity (100 retries in a burst).
    pub const DEFAULT_CAPACITY: u32 = 500;

    /// A full bucket of `capacity` tokens.
    #[must_use]
    pub fn new(capacity: u32) -> Self {
        Self {
            tokens: Mutex::new(capacity),
            capacity,
            refilled: tokio::sync::Notify::new(),
        }
    }

    /// Takes the cost of one retry; `false` when the budget is spent.
    pub fn try_spend(&self) -> bool {
        let mut t = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if *t >= Self::RETRY_COST {
            *t -= Self::RETRY_COST;
            true
        } else {
            false
        }
    }

    /// Records a success.
    pub fn deposit(&self) {
        {
            let mut t = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            *t = (*t + Self::SUCCESS_DEPOSIT).min(self.capacity);
        }
        self.refilled.notify_waiters();
    }

    /// Takes the cost of one retry, waiting up to `max_wait` for successes to refill an empty
    /// budget; `false` when none came. Retries so proceed no faster than successes allow.
    pub async fn spend_or_wait(&self, max_wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let refilled = self.refilled.notified();
            tokio::pin!(refilled);
            refilled.as_mut().enable();
            if self.try_spend() {
                return true;
            }
            if tokio::time::timeout_at(deadline, refilled).await.is_err() {
                return self.try_spend();
            }
        }
    }

    /// Tokens left.
    #[must_use]
    pub fn available(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            slow_down: false,
            request_timeout: false,
        }
    }

    #[test]
    fn table_rows() {
        assert_eq!(
            classify(status(503), false),
            Decision::Retry { congestion: true }
        );
        assert_eq!(
            classify(status(429), true),
            Decision::Retry { congestion: true }
        );
        assert_eq!(
            classify(status(500), true),
            Decision::Retry { congestion: true }
        );
        assert_eq!(classify(status(500), false), Decision::Fail);
        assert_eq!(classify(status(403), true), Decision::Fail);
        assert_eq!(classify(status(404), true), Decision::Fail);
        assert_eq!(classify(status(413), true), Decision::ShrinkBody);
        assert_eq!(
            classify(
                Failure::Status {
                    status: 400,
                    slow_down: false,
                    request_timeout: true
                },
                true
            ),
            Decision::Retry { congestion: false }
        );
        assert_eq!(
            classify(Failure::Connect, false),
            Decision::Retry { congestion: false }
        );
        assert_eq!(
            classify(Failure::Reset, true),
            Decision::Retry { congestion: true }
        );
        assert_eq!(classify(Failure::Reset, false), Decision::Fail);
        assert_eq!(classify(Failure::Tls, true), Decision::Fail);
        assert_eq!(classify(Failure::BodySource, true), Decision::Fail);
    }

    #[test]
    fn backoff_stays_under_its_ceiling_and_cap() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..40 {
            let ceiling = b.base.saturating_mul(1 << (attempt - 1).min(30)).min(b.cap);
            for _ in 0..50 {
                let d = b.delay(attempt, None, &mut rng);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
            }
        }
    }

    #[test]
    fn backoff_is_jittered_and_reproducible_with_a_pinned_rng() {
        let b = Backoff::default();
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (1..8).map(|n| b.delay(n, None, &mut rng)).collect()
        };
        let c: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (1..8).map(|n| b.delay(n, None, &mut rng)).collect()
        };
        assert_eq!(a, c);
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 3, "delays not jittered: {a:?}");
    }

    #[test]
    fn retry_after_is_a_floor_and_bounded() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(1);
        let d = b.delay(1, Some(Duration::from_secs(3)), &mut rng);
        assert!(d >= Duration::from_secs(3));
        let d = b.delay(1, Some(Duration::from_secs(100_000)), &mut rng);
        assert_eq!(d, MAX_RETRY_AFTER);
    }

    #[test]
    fn budget_empties_and_refills() {
        let budget = RetryBudget::new(10);
        assert!(budget.try_spend());
        assert!(budget.try_spend());
        assert!(!budget.try_spend());
        for _ in 0..5 {
            budget.deposit();
        }
        assert!(budget.try_spend());
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 10);
    }
}
