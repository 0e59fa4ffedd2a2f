//! `haul bench`: how much a gateway moves, how fast it answers, and at what concurrency it
//! stops growing or starts to throttle.
//!
//! A run is a list of groups, one per (workload, object size); each group is a sweep of steps
//! at fixed concurrency levels, then, with `adaptive`, one step under haul's congestion
//! controller. A step runs `concurrency` workers, each sending one operation after the other,
//! until its duration or its operation count is spent. Every operation is exactly one S3
//! request (a multipart PUT is one operation of several requests, one after the other), sent
//! once: nothing is retried, so a throttled or failed request is counted as such, and the
//! figures are what the gateway did. Latency is measured from the request's start to its last
//! byte; for GETs the time to the response headers is kept apart (TTFB).
//!
//! Everything lives under a unique prefix (`haul-bench-<time>-<random>/`) that is removed at
//! the end, after an interruption too. [`knee`] finds where each sweep stops paying.
//! Read `run.rs` next.

pub mod knee;
mod run;
mod stats;

use std::time::Duration;

use crate::s3::BucketName;

pub use knee::{Knee, KneeReason, LevelFigure};
pub use run::{Cleanup, run, run_prefix};
pub use stats::{Latency, OpFigures};

/// One kind of S3 operation the benchmark sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// PutObject (or a multipart upload above the part size).
    Put,
    /// GetObject of a whole object, read to its end.
    Get,
    /// HeadObject.
    Stat,
    /// One ListObjectsV2 page (up to 1,000 keys).
    List,
    /// DeleteObject.
    Delete,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 5] = [
        OpKind::Put,
        OpKind::Get,
        OpKind::Stat,
        OpKind::List,
        OpKind::Delete,
    ];

    /// The name used on the command line and in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Stat => "stat",
            OpKind::List => "list",
            OpKind::Delete => "delete",
        }
    }

    /// The kind named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the operation moves object bytes.
    #[must_use]
    pub fn moves_bytes(self) -> bool {
        matches!(self, OpKind::Put | OpKind::Get)
    }
}

/// What a group's workers send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// One kind of operation.
    Single(OpKind),
    /// Operations drawn at random with these weights.
    Mixed(Mix),
}

impl Workload {
    /// The name used in reports: the operation's, or `mixed`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Single(k) => k.name(),
            Workload::Mixed(_) => "mixed",
        }
    }

    /// Whether the workload runs once per object size. LIST and DELETE are about keys: they
    /// run once, on empty objects. STAT runs per size, as its answer names the size.
    #[must_use]
    pub fn per_size(&self) -> bool {
        match self {
            Workload::Single(k) => !matches!(k, OpKind::List | OpKind::Delete),
            Workload::Mixed(_) => true,
        }
    }
}

/// Weights of a mixed workload. The default is warp's `mixed`: 45 % GET, 30 % STAT, 15 % PUT,
/// 10 % DELETE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    /// (operation, weight); weights are relative, at least one is positive.
    pub weights: Vec<(OpKind, u32)>,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            weights: vec![
                (OpKind::Get, 45),
                (OpKind::Stat, 30),
                (OpKind::Put, 15),
                (OpKind::Delete, 10),
            ],
        }
    }
}

impl Mix {
    /// Parses `get=45,stat=30,put=15,delete=10`.
    ///
    /// # Errors
    /// An unknown operation, a weight that is not a number, a repeated operation, or no
    /// positive weight.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut weights = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (op, w) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected OP=WEIGHT, e.g. get=45"))?;
            let op = OpKind::parse(op.trim()).ok_or_else(|| {
                format!("{op:?}: unknown operation (put, get, stat, list, delete)")
            })?;
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("{item:?}: the weight must be a whole number"))?;
            if weights.iter().any(|(o, _)| *o == op) {
                return Err(format!("{} is given twice", op.name()));
            }
            weights.push((op, w));
        }
        if weights.iter().all(|(_, w)| *w == 0) {
            return Err(format!("{s:?}: at least one weight must be above 0"));
        }
        Ok(Self { weights })
    }

    /// The operation that a uniform draw `r` in `0..total()` selects.
    #[must_use]
    pub fn pick(&self, mut r: u64) -> OpKind {
        for &(op, w) in &self.weights {
            if r < u64::from(w) {
                return op;
            }
            r -= u64::from(w);
        }
        self.weights.last().map_or(OpKind::Get, |(op, _)| *op)
    }

    /// The sum of the weights.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.weights.iter().map(|(_, w)| u64::from(*w)).sum()
    }
}

/// When a step ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long (operations in flight at the end are finished and counted).
    Duration(Duration),
    /// After this many operations.
    Operations(u64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    /// The bucket, which must exist.
    pub bucket: BucketName,
    /// A prefix in it (empty, or ending in `/` for a folder); the run's own prefix goes under it.
    pub prefix: String,
    /// The workloads, in order.
    pub workloads: Vec<Workload>,
    /// Object sizes in bytes, in order.
    pub sizes: Vec<u64>,
    /// The concurrency levels of the sweep, ascending, each at least 1.
    pub levels: Vec<usize>,
    /// Also run each group under the adaptive controller, ceiling the highest level.
    pub adaptive: bool,
    /// When each step ends.
    pub stop: Stop,
    /// Objects larger than this are multipart uploads of parts this size.
    pub part_size: u64,
    /// Objects prepared for GET, STAT, LIST, DELETE and mixed steps; `None`: see
    /// [`BenchSpec::pool_size`].
    pub pool: Option<u64>,
}

/// Bytes a GET/STAT pool holds by default at most. Chosen: 1 GiB, so a default run fits any
/// test gateway (Ceph's memstore holds it in RAM), and at least [`MIN_POOL`] objects.
const POOL_BYTES: u64 = 1 << 30;
/// Fewest objects in a default pool. Chosen: 16, so concurrent GETs spread over several objects.
const MIN_POOL: u64 = 16;
/// Most objects in a default pool. Chosen: 1,000, one full listing page (warp prepares 2,500).
const MAX_POOL: u64 = 1000;

impl BenchSpec {
    /// Objects prepared for a group of `workload` with objects of `size` bytes: `pool` if
    /// given; for DELETE (per step), as many as the step may delete: its operation count, else
    /// 10,000 (a pool that runs out ends the step early, which the report says); for LIST,
    /// 1,000 (one full page); else enough to hold 1 GiB, between 16 and 1,000 objects.
    #[must_use]
    pub fn pool_size(&self, workload: &Workload, size: u64) -> u64 {
        if let Some(p) = self.pool {
            return p.max(1);
        }
        if *workload == Workload::Single(OpKind::Delete) {
            return match self.stop {
                Stop::Operations(n) => n.max(1),
                Stop::Duration(_) => MAX_POOL * 10,
            };
        }
        if *workload == Workload::Single(OpKind::List) {
            return MAX_POOL;
        }
        (POOL_BYTES / size.max(1)).clamp(MIN_POOL, MAX_POOL)
    }
}

/// Live figures of the step in progress.
#[derive(Debug, Clone)]
pub struct Live {
    /// What runs: `prepare`, a workload's name, or `cleanup`.
    pub phase: String,
    /// Object size.
    pub size: u64,
    /// Concurrency level; for adaptive steps the controller's limit now.
    pub concurrency: usize,
    /// Whether this is the adaptive step.
    pub adaptive: bool,
    /// Since the step started.
    pub elapsed: Duration,
    /// Successful operations so far.
    pub ops: u64,
    /// Object bytes so far.
    pub bytes: u64,
    /// Failed operations so far.
    pub errors: u64,
    /// Throttled operations so far.
    pub throttles: u64,
}

/// Where the adaptive controller settled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveFigures {
    /// The ceiling it was given.
    pub ceiling: usize,
    /// The median of its limit over the second half of the step.
    pub settled: usize,
    /// Its lowest and highest limit over the second half.
    pub range: (usize, usize),
    /// Its limit at the end.
    pub last: usize,
    /// Throttles it reacted to.
    pub throttles: u64,
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Requests in flight (the fixed level, or the adaptive ceiling).
    pub concurrency: usize,
    /// Set for the adaptive step.
    pub adaptive: Option<AdaptiveFigures>,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Per kind of operation sent (one for a single workload).
    pub ops: Vec<OpFigures>,
    /// The DELETE pool ran out before the step's end.
    pub pool_exhausted: bool,
    /// Operations still in flight a grace period after the step's end (the step's duration,
    /// at least 10 s), abandoned: a gateway that stopped answering.
    pub unfinished: u64,
}

impl StepReport {
    /// Successful operations in all.
    #[must_use]
    pub fn total_ops(&self) -> u64 {
        self.ops.iter().map(|o| o.ops).sum()
    }

    /// Object bytes in all.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.ops.iter().map(|o| o.bytes).sum()
    }

    /// Throttled operations in all.
    #[must_use]
    pub fn total_throttles(&self) -> u64 {
        self.ops.iter().map(|o| o.throttles).sum()
    }

    /// Failed operations in all (throttles apart).
    #[must_use]
    pub fn total_errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }

    /// Successful operations per second.
    #[must_use]
    pub fn ops_per_sec(&self) -> f64 {
        per_sec(self.total_ops(), self.elapsed)
    }

    /// Object bytes per second.
    #[must_use]
    pub fn bytes_per_sec(&self) -> f64 {
        per_sec(self.total_bytes(), self.elapsed)
    }

    fn level_figure(&self) -> LevelFigure {
        LevelFigure {
            concurrency: self.concurrency,
            ops_per_sec: self.ops_per_sec(),
            throttles: self.total_throttles(),
            attempts: self.total_ops()
                + self.total_errors()
                + self.total_throttles()
                + self.unfinished,
        }
    }
}

#[allow(clippy::cast_precision_loss, reason = "a rate: counts far below 2^52")]
fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

/// One (workload, size) group: its sweep, knee and adaptive step.
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// What was sent.
    pub workload: Workload,
    /// Object size (for LIST: the size of the listed objects).
    pub size: u64,
    /// Objects prepared before the steps (GET, STAT, LIST, mixed; DELETE: per step).
    pub prepared: u64,
    /// The fixed levels, ascending.
    pub steps: Vec<StepReport>,
    /// Where the sweep stops paying (`None` when no level ran).
    pub knee: Option<Knee>,
    /// The step under the adaptive controller.
    pub adaptive: Option<StepReport>,
}

/// A whole run's result.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// The run's own prefix, `s3://bucket/...`.
    pub prefix: String,
    /// The groups, in the order run.
    pub groups: Vec<GroupReport>,
    /// Requests sent per S3 operation, preparation and cleanup included.
    pub requests: std::collections::BTreeMap<&'static str, u64>,
    /// Object bytes uploaded to prepare pools.
    pub prepared_bytes: u64,
    /// What the cleanup removed.
    pub cleanup: Cleanup,
    /// The run was interrupted; the groups hold what finished.
    pub interrupted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_pick_by_weight() {
        let m = Mix::parse("get=2, put=1,delete=0").unwrap();
        assert_eq!(m.total(), 3);
        assert_eq!(
            (0..3).map(|r| m.pick(r)).collect::<Vec<_>>(),
            [OpKind::Get, OpKind::Get, OpKind::Put]
        );
        assert!(Mix::parse("get=1,get=2").is_err());
        assert!(Mix::parse("copy=1").is_err());
        assert!(Mix::parse("get=x").is_err());
        assert!(Mix::parse("get=0").is_err());
        assert_eq!(Mix::default().total(), 100);
    }

    #[test]
    fn default_pools_are_bounded() {
        let spec = BenchSpec {
            bucket: BucketName::new("b").unwrap(),
            prefix: String::new(),
            workloads: vec![],
            sizes: vec![],
            levels: vec![1],
            adaptive: false,
            stop: Stop::Duration(Duration::from_secs(1)),
            part_size: 16 << 20,
            pool: None,
        };
        let get = Workload::Single(OpKind::Get);
        assert_eq!(spec.pool_size(&get, 4096), MAX_POOL);
        assert_eq!(spec.pool_size(&get, 64 << 20), MIN_POOL);
        assert_eq!(spec.pool_size(&get, 16 << 20), 64);
        let del = Workload::Single(OpKind::Delete);
        assert_eq!(spec.pool_size(&del, 1), 10_000);
        let spec = BenchSpec {
            stop: Stop::Operations(500),
            ..spec
        };
        assert_eq!(spec.pool_size(&del, 1), 500);
    }
}
