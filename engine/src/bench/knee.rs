//! Where a concurrency sweep stops paying: the knee.
//!
//! Pure arithmetic over the figures of one (operation, size) sweep, so that it is tested apart
//! from any gateway.

/// One level of a sweep, as the knee sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelFigure {
    /// Requests in flight at this level.
    pub concurrency: usize,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Operations answered with 503 or 429.
    pub throttles: u64,
    /// Operations tried, throttled and failed ones included.
    pub attempts: u64,
}

impl LevelFigure {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a ratio of counts far below 2^52"
    )]
    fn throttled_share(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.throttles as f64 / self.attempts as f64
        }
    }
}

/// Why the sweep's knee is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KneeReason {
    /// The next level moved less than [`GROWTH`] more.
    Flat,
    /// The next level was throttled (more than [`THROTTLE_SHARE`] of its operations).
    Throttled,
    /// Already the lowest level was throttled: the knee lies below the sweep.
    BelowSweep,
    /// Throughput still grew at the highest level: the knee lies above the sweep.
    AboveSweep,
}

impl KneeReason {
    /// A short description for reports.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            KneeReason::Flat => "throughput stops growing above it",
            KneeReason::Throttled => "throttling begins above it",
            KneeReason::BelowSweep => "throttled already at the lowest level",
            KneeReason::AboveSweep => "still growing at the highest level",
        }
    }

    /// A stable name for machine-readable output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KneeReason::Flat => "flat",
            KneeReason::Throttled => "throttled",
            KneeReason::BelowSweep => "below-sweep",
            KneeReason::AboveSweep => "above-sweep",
        }
    }
}

/// The knee of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knee {
    /// The highest level worth running: the next one gains little or is throttled.
    pub concurrency: usize,
    /// Why.
    pub reason: KneeReason,
}

/// A level counts as growth when it moves at least this factor of the level below. Chosen: 1.10;
/// run-to-run noise on a loopback gateway is a few per cent, and a step of the usual ×2..×4
/// sweep that gains under 10 % is not worth its load on the gateway.
pub const GROWTH: f64 = 1.10;

/// A level counts as throttled when more than this share of its operations got 503 or 429.
/// Chosen: 0.5 %, above the odd 503 a healthy RGW gives under any load and below the share an
/// overloaded one returns (tens of per cent in BENCHMARKS.md's overload runs).
pub const THROTTLE_SHARE: f64 = 0.005;

/// The knee of `levels` (in any order; each concurrency once): the lowest level after which
/// the next is throttled or gains less than [`GROWTH`]. `None` for an empty sweep.
#[must_use]
pub fn knee(levels: &[LevelFigure]) -> Option<Knee> {
    let mut sorted: Vec<LevelFigure> = levels.to_vec();
    sorted.sort_by_key(|l| l.concurrency);
    let first = sorted.first()?;
    if first.throttled_share() > THROTTLE_SHARE {
        return Some(Knee {
            concurrency: first.concurrency,
            reason: KneeReason::BelowSweep,
        });
    }
    for pair in sorted.windows(2) {
        let (here, next) = (&pair[0], &pair[1]);
        if next.throttled_share() > THROTTLE_SHARE {
            return Some(Knee {
                concurrency: here.concurrency,
                reason: KneeReason::Throttled,
            });
        }
        if next.ops_per_sec < here.ops_per_sec * GROWTH {
            return Some(Knee {
                concurrency: here.concurrency,
                reason: KneeReason::Flat,
            });
        }
    }
    sorted.last().map(|l| Knee {
        concurrency: l.concurrency,
        reason: KneeReason::AboveSweep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(c: usize, ops: f64, throttles: u64) -> LevelFigure {
        LevelFigure {
            concurrency: c,
            ops_per_sec: ops,
            throttles,
            attempts: 1000,
        }
    }

    #[test]
    fn flat_throttled_and_out_of_range() {
        assert_eq!(knee(&[]), None);
        // Grows 1 → 4 → 16, flat at 64.
        let k = knee(&[
            level(64, 2050.0, 0),
            level(1, 200.0, 0),
            level(4, 700.0, 0),
            level(16, 2000.0, 0),
        ])
        .unwrap();
        assert_eq!((k.concurrency, k.reason), (16, KneeReason::Flat));
        // Still growing, but 16 is throttled: the knee is 8 even though 16 moved more.
        let k = knee(&[
            level(4, 400.0, 0),
            level(8, 800.0, 2),
            level(16, 900.0, 300),
        ])
        .unwrap();
        assert_eq!((k.concurrency, k.reason), (8, KneeReason::Throttled));
        // A few 503s (under 0.5 %) are not throttling.
        let k = knee(&[level(4, 400.0, 0), level(8, 800.0, 4)]).unwrap();
        assert_eq!((k.concurrency, k.reason), (8, KneeReason::AboveSweep));
        let k = knee(&[level(2, 400.0, 100), level(8, 800.0, 400)]).unwrap();
        assert_eq!((k.concurrency, k.reason), (2, KneeReason::BelowSweep));
        // Less throughput at a higher level is flat too.
        let k = knee(&[level(1, 400.0, 0), level(2, 300.0, 0)]).unwrap();
        assert_eq!((k.concurrency, k.reason), (1, KneeReason::Flat));
    }
}
