//! Request permits: at most `limit` requests in flight per gateway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hands out one [`Permit`] per request in flight, shared by every transfer to one gateway.
#[derive(Debug, Clone)]
pub struct Limiter {
    sem: Arc<Semaphore>,
    limit: usize,
    stats: Arc<Stats>,
}

#[derive(Debug, Default)]
struct Stats {
    throttles: AtomicU64,
    retries: AtomicU64,
}

/// Permission for one request to be in flight; released on drop.
#[derive(Debug)]
pub struct Permit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Limiter {
    /// A limiter admitting `limit` requests at once (at least one).
    #[must_use]
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            sem: Arc::new(Semaphore::new(limit)),
            limit,
            stats: Arc::default(),
        }
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> Permit {
        // The semaphore is never closed, so acquiring cannot fail; were it ever closed,
        // running without a permit is safer than failing the transfer.
        Permit {
            _permit: self.sem.clone().acquire_owned().await.ok(),
        }
    }

    /// The current limit on requests in flight.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests in flight now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.limit.saturating_sub(self.sem.available_permits())
    }

    /// Records a throttling answer (503/429) from the gateway.
    pub fn on_throttle(&self) {
        self.stats.throttles.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a retry.
    pub fn on_retry(&self) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Throttling answers seen so far.
    #[must_use]
    pub fn throttles(&self) -> u64 {
        self.stats.throttles.load(Ordering::Relaxed)
    }

    /// Retries made so far.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.stats.retries.load(Ordering::Relaxed)
    }
}
