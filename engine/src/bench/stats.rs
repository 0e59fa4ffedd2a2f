//! What one benchmark step counted: operations, bytes, failures, and latency histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::OpKind;
use crate::error::Error;

/// Largest latency a histogram holds apart, in microseconds: one hour. Longer ones are recorded
/// as one hour (no request haul sends waits that long: its timeouts are minutes).
const MAX_MICROS: u64 = 3_600_000_000;

/// Significant decimal digits of the histograms: 3, so a percentile is within 0.1 % of the
/// value measured (HdrHistogram's usual setting, and warp's precision).
const SIGNIFICANT_DIGITS: u8 = 3;

fn histogram() -> Result<Histogram<u64>, Error> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS).map_err(|e| Error::Integrity {
        what: format!("internal: latency histogram: {e}"),
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

/// Latency percentiles of successful operations.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Operations measured.
    pub count: u64,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let at = |q: f64| Duration::from_micros(h.value_at_quantile(q));
        Self {
            count: h.len(),
            mean: Duration::from_secs_f64(h.mean() / 1e6),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_micros(h.max()),
        }
    }
}

/// The figures of one kind of operation in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct OpFigures {
    /// The operation.
    pub op: OpKind,
    /// Operations that succeeded.
    pub ops: u64,
    /// Object bytes moved by successful operations (sent by PUTs, received by GETs).
    pub bytes: u64,
    /// Keys returned by successful listings.
    pub listed: u64,
    /// Operations that failed for another reason than throttling.
    pub errors: u64,
    /// Operations answered with 503 (SlowDown) or 429.
    pub throttles: u64,
    /// Latency of successful operations, from the request's start to its last byte.
    pub latency: Latency,
    /// For GETs: time from the request's start to the response headers.
    pub ttfb: Option<Latency>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

/// Counts for one kind of operation, shared by a step's workers.
#[derive(Debug)]
pub(crate) struct Recorder {
    op: OpKind,
    ops: AtomicU64,
    bytes: AtomicU64,
    listed: AtomicU64,
    errors: AtomicU64,
    throttles: AtomicU64,
    hists: Mutex<Hists>,
}

#[derive(Debug)]
struct Hists {
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
    first_error: Option<String>,
}

/// What a successful operation did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Done {
    pub(crate) bytes: u64,
    pub(crate) listed: u64,
    pub(crate) ttfb: Option<Duration>,
}

impl Recorder {
    pub(crate) fn new(op: OpKind) -> Result<Self, Error> {
        Ok(Self {
            op,
            ops: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            listed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
            hists: Mutex::new(Hists {
                latency: histogram()?,
                ttfb: histogram()?,
                first_error: None,
            }),
        })
    }

    pub(crate) fn success(&self, done: Done, latency: Duration) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(done.bytes, Ordering::Relaxed);
        self.listed.fetch_add(done.listed, Ordering::Relaxed);
        let mut h = self.hists.lock().unwrap_or_else(PoisonError::into_inner);
        // Values are clamped into the histogram's range, so recording cannot fail.
        let _ = h.latency.record(micros(latency));
        if let Some(t) = done.ttfb {
            let _ = h.ttfb.record(micros(t));
        }
    }

    pub(crate) fn failure(&self, error: &Error) {
        if is_throttle(error) {
            self.throttles.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut h = self.hists.lock().unwrap_or_else(PoisonError::into_inner);
        if h.first_error.is_none() {
            h.first_error = Some(error.to_string());
        }
    }

    /// (successes, bytes, errors, throttles) so far, for the live line.
    pub(crate) fn live(&self) -> (u64, u64, u64, u64) {
        (
            self.ops.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.throttles.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn figures(&self) -> OpFigures {
        let h = self.hists.lock().unwrap_or_else(PoisonError::into_inner);
        OpFigures {
            op: self.op,
            ops: self.ops.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            listed: self.listed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            throttles: self.throttles.load(Ordering::Relaxed),
            latency: Latency::of(&h.latency),
            ttfb: (self.op == OpKind::Get).then(|| Latency::of(&h.ttfb)),
            first_error: h.first_error.clone(),
        }
    }
}

/// A 503 or a 429: the gateway asking for less.
pub(crate) fn is_throttle(error: &Error) -> bool {
    match error {
        Error::S3 { source, .. } => {
            source.status == 503
                || source.status == 429
                || source.code == crate::s3::S3ErrorCode::SlowDown
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_counts() {
        let r = Recorder::new(OpKind::Get).unwrap();
        for ms in 1..=1000u64 {
            r.success(
                Done {
                    bytes: 10,
                    listed: 0,
                    ttfb: Some(Duration::from_micros(ms * 100)),
                },
                Duration::from_millis(ms),
            );
        }
        r.failure(&Error::Integrity {
            what: "short body".into(),
        });
        let f = r.figures();
        assert_eq!(
            (f.ops, f.bytes, f.errors, f.throttles),
            (1000, 10_000, 1, 0)
        );
        let within = |d: Duration, ms: f64| {
            let got = d.as_secs_f64() * 1000.0;
            assert!((got - ms).abs() <= ms * 0.001 + 0.001, "{got} vs {ms}");
        };
        within(f.latency.p50, 500.0);
        within(f.latency.p90, 900.0);
        within(f.latency.p99, 990.0);
        within(f.latency.p999, 999.0);
        within(f.latency.max, 1000.0);
        within(f.ttfb.unwrap().p50, 50.0);
        assert_eq!(f.first_error.as_deref(), Some("short body"));
        // Only GETs have a time to first byte.
        assert!(Recorder::new(OpKind::Put).unwrap().figures().ttfb.is_none());
    }
}
