//! Running a benchmark: preparing pools, the steps and their workers, and the cleanup that
//! removes every object the run created.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::task::JoinSet;

use super::stats::{Done, Recorder};
use super::{
    AdaptiveFigures, BenchReport, BenchSpec, GroupReport, Live, OpKind, StepReport, Stop, Workload,
    knee,
};
use crate::cancel;
use crate::client::{Client, ClientConfig, ListCursor, ListPager, PutOptions};
use crate::congestion::{Backoff, ControllerConfig};
use crate::error::Error;
use crate::progress;
use crate::s3::{BucketName, CompletedPart, ObjectKey, PartNumber};

/// What the cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Objects deleted.
    pub deleted: u64,
    /// Unfinished multipart uploads aborted.
    pub aborted: u64,
    /// Objects or uploads that could not be removed (named in `first_error`).
    pub failed: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

impl Cleanup {
    fn failed(&mut self, n: u64, what: String) {
        self.failed += n;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// How often the live line is refreshed.
const LIVE_EVERY: Duration = Duration::from_secs(1);
/// How often the adaptive controller's limit is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Least time operations in flight at a step's end may take to finish before they are
/// abandoned (the step's duration if longer). Chosen: 10 s, longer than any healthy answer of
/// a part-sized request on the gateways measured, far below the transport's 120 s first-byte
/// timeout.
const MIN_GRACE: Duration = Duration::from_secs(10);
/// Largest DeleteObjects batch (the S3 limit).
const DELETE_BATCH: usize = 1000;
/// Requests in flight while preparing pools and cleaning up, at most. Chosen: 32, a load every
/// gateway in the tests holds; these phases are not measured.
const HOUSEKEEPING_CONCURRENCY: usize = 32;

/// The unique prefix a run works under: `PREFIX/haul-bench-<UTC time>-<random>/`.
#[must_use]
pub fn run_prefix(spec: &BenchSpec) -> String {
    let stamp = time::OffsetDateTime::now_utc();
    format!(
        "{}haul-bench-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:08x}/",
        spec.prefix,
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second(),
        rand::rng().next_u32()
    )
}

/// Runs `spec` against the gateway of `base` (whose controller and backoff are replaced per
/// step) under `run_prefix` (from [`run_prefix`]), reporting live figures to `live`, and
/// removes everything it created, after an interruption too. The report holds the groups
/// that finished.
///
/// # Errors
/// The bucket missing or unreachable, or a pool that could not be prepared. Failed benchmark
/// operations are figures, not errors.
pub async fn run(
    base: &ClientConfig,
    spec: &BenchSpec,
    run_prefix: &str,
    live: &mut (dyn FnMut(&Live) + Send),
) -> Result<BenchReport, Error> {
    let housekeeping = Client::new(
        ClientConfig {
            controller: ControllerConfig::with_ceiling(HOUSEKEEPING_CONCURRENCY),
            backoff: Backoff::default(),
            ..base.clone()
        },
        progress::silent(),
    )?;
    housekeeping.head_bucket(&spec.bucket).await?;
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let run_prefix = run_prefix.to_owned();
    let biggest = spec.sizes.iter().copied().max().unwrap_or(0);
    let mut data = vec![0u8; usize::try_from(biggest.min(spec.part_size)).unwrap_or(0)];
    rng.fill_bytes(&mut data);
    let mut ctx = RunCtx {
        base,
        spec,
        data: Bytes::from(data),
        run_prefix,
        housekeeping,
        requests: BTreeMap::new(),
        prepared_bytes: 0,
        live,
    };
    let mut report = BenchReport {
        prefix: format!("s3://{}/{}", spec.bucket.as_str(), ctx.run_prefix),
        ..BenchReport::default()
    };
    let outcome = ctx.groups(&mut report).await;
    // Whatever happened, remove what the run left (the group cleanups already did most).
    let mut cleanup = Cleanup::default();
    ctx.remove_prefix(&ctx.run_prefix.clone(), &mut cleanup)
        .await;
    if spec.sizes.iter().any(|&s| s > spec.part_size) {
        ctx.abort_uploads(&mut cleanup).await;
    }
    report.cleanup.deleted += cleanup.deleted;
    report.cleanup.aborted += cleanup.aborted;
    report.cleanup.failed += cleanup.failed;
    if report.cleanup.first_error.is_none() {
        report.cleanup.first_error = cleanup.first_error;
    }
    ctx.count_requests(&ctx.housekeeping.clone());
    report.requests = std::mem::take(&mut ctx.requests);
    report.prepared_bytes = ctx.prepared_bytes;
    report.interrupted = cancel::is_cancelled();
    outcome.map(|()| report)
}

struct RunCtx<'a> {
    base: &'a ClientConfig,
    spec: &'a BenchSpec,
    /// Random bytes: every object's content (a prefix of it), or every part's.
    data: Bytes,
    run_prefix: String,
    housekeeping: Client,
    requests: BTreeMap<&'static str, u64>,
    prepared_bytes: u64,
    live: &'a mut (dyn FnMut(&Live) + Send),
}

impl RunCtx<'_> {
    async fn groups(&mut self, report: &mut BenchReport) -> Result<(), Error> {
        let spec = self.spec;
        let mut n = 0;
        for workload in &spec.workloads {
            // A listing is the same whatever its objects' sizes: one group of empty objects.
            // A listing or a delete is about keys, not bytes: one group of empty objects.
            let sizes: Vec<u64> = if workload.per_size() {
                spec.sizes.clone()
            } else {
                vec![0]
            };
            for size in sizes {
                if cancel::is_cancelled() {
                    return Ok(());
                }
                n += 1;
                // Interrupted while preparing: the groups that finished are the report.
                let group = match self.group(workload, size, n, report).await {
                    Err(Error::Interrupted) => Ok(()),
                    other => other,
                };
                let mut cleanup = Cleanup::default();
                self.remove_prefix(&format!("{}g{n}/", self.run_prefix), &mut cleanup)
                    .await;
                merge_cleanup(&mut report.cleanup, cleanup);
                group?;
            }
        }
        Ok(())
    }

    async fn group(
        &mut self,
        workload: &Workload,
        size: u64,
        n: usize,
        report: &mut BenchReport,
    ) -> Result<(), Error> {
        let spec = self.spec;
        let group_prefix = format!("{}g{n}/", self.run_prefix);
        let pool_prefix = format!("{group_prefix}pool/");
        let per_step_pool = *workload == Workload::Single(OpKind::Delete);
        let pool_size = spec.pool_size(workload, size);
        let pool = Arc::new(Pool::default());
        let needs_pool = !matches!(workload, Workload::Single(OpKind::Put));
        if needs_pool && !per_step_pool {
            self.prepare(&pool, &pool_prefix, pool_size, size).await?;
        }
        let mut result = GroupReport {
            workload: workload.clone(),
            size,
            prepared: if needs_pool { pool_size } else { 0 },
            steps: Vec::new(),
            knee: None,
            adaptive: None,
        };
        let levels: Vec<(usize, bool)> = spec
            .levels
            .iter()
            .map(|&l| (l, false))
            .chain(
                spec.adaptive
                    .then(|| (spec.levels.iter().copied().max().unwrap_or(1), true)),
            )
            .collect();
        for (i, (level, adaptive)) in levels.into_iter().enumerate() {
            if cancel::is_cancelled() {
                break;
            }
            if per_step_pool {
                // Topped up to its size: what the previous step left stays in use.
                let missing = pool_size.saturating_sub(pool.len() as u64);
                self.prepare(&pool, &format!("{pool_prefix}s{i}/"), missing, size)
                    .await?;
            }
            let step_prefix = format!("{group_prefix}s{i}/");
            let step = self
                .step(&StepPlan {
                    workload,
                    size,
                    level,
                    adaptive,
                    pool: Arc::clone(&pool),
                    put_prefix: if matches!(workload, Workload::Mixed(_)) {
                        format!("{pool_prefix}s{i}-")
                    } else {
                        step_prefix.clone()
                    },
                    list_prefix: pool_prefix.clone(),
                })
                .await?;
            if *workload == Workload::Single(OpKind::Put) {
                let mut cleanup = Cleanup::default();
                self.remove_prefix(&step_prefix, &mut cleanup).await;
                merge_cleanup(&mut report.cleanup, cleanup);
            }
            if adaptive {
                result.adaptive = Some(step);
            } else {
                result.steps.push(step);
            }
        }
        let figures: Vec<_> = result.steps.iter().map(StepReport::level_figure).collect();
        result.knee = knee::knee(&figures);
        report.groups.push(result);
        Ok(())
    }

    /// Uploads `count` objects of `size` bytes under `prefix` into `pool` (retrying, as a
    /// transfer would; not measured).
    async fn prepare(
        &mut self,
        pool: &Pool,
        prefix: &str,
        count: u64,
        size: u64,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let mut last_live = started;
        let target = Target {
            client: self.housekeeping.clone(),
            bucket: self.spec.bucket.clone(),
            data: self.data.clone(),
            part_size: self.spec.part_size,
        };
        let mut puts = futures_util::stream::iter(0..count)
            .map(|i| {
                let target = &target;
                async move {
                    let key = object_key(format!("{prefix}o{i:07}"))?;
                    target.put(&key, size).await?;
                    Ok::<_, Error>(key)
                }
            })
            .buffer_unordered(HOUSEKEEPING_CONCURRENCY);
        let mut done = 0u64;
        while let Some(r) = puts.next().await {
            if cancel::is_cancelled() {
                return Err(Error::Interrupted);
            }
            pool.add(r?);
            done += 1;
            self.prepared_bytes += size;
            if last_live.elapsed() >= LIVE_EVERY {
                last_live = Instant::now();
                (self.live)(&Live {
                    phase: "prepare".to_owned(),
                    size,
                    concurrency: HOUSEKEEPING_CONCURRENCY,
                    adaptive: false,
                    elapsed: started.elapsed(),
                    ops: done,
                    bytes: done * size,
                    errors: 0,
                    throttles: 0,
                });
            }
        }
        Ok(())
    }

    async fn step(&mut self, plan: &StepPlan<'_>) -> Result<StepReport, Error> {
        let spec = self.spec;
        let level = plan.level.max(1);
        let mut controller = ControllerConfig::with_ceiling(level);
        if !plan.adaptive {
            controller.floor = level;
            controller.start = level;
        }
        // One attempt per operation: a throttled or failed request is a figure, not a retry.
        let backoff = Backoff {
            max_attempts: 1,
            ..Backoff::default()
        };
        let client = Client::new(
            ClientConfig {
                controller,
                backoff,
                ..self.base.clone()
            },
            progress::silent(),
        )?;
        let kinds: Vec<OpKind> = match plan.workload {
            Workload::Single(k) => vec![*k],
            Workload::Mixed(m) => OpKind::ALL
                .into_iter()
                .filter(|k| m.weights.iter().any(|(o, w)| o == k && *w > 0) || *k == OpKind::Put)
                .collect(),
        };
        let mut recorders: [Option<Recorder>; 5] = Default::default();
        for k in kinds {
            recorders[k as usize] = Some(Recorder::new(k)?);
        }
        let started = Instant::now();
        let shared = Arc::new(Shared {
            target: Target {
                client: client.clone(),
                bucket: spec.bucket.clone(),
                data: self.data.clone(),
                part_size: spec.part_size,
            },
            workload: plan.workload.clone(),
            size: plan.size,
            pool: Arc::clone(&plan.pool),
            put_prefix: plan.put_prefix.clone(),
            list_prefix: plan.list_prefix.clone(),
            recorders,
            deadline: match spec.stop {
                Stop::Duration(d) => Some(started + d),
                Stop::Operations(_) => None,
            },
            tickets: match spec.stop {
                Stop::Operations(n) => Some(AtomicU64::new(n)),
                Stop::Duration(_) => None,
            },
            exhausted: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            started,
            last_answer_micros: AtomicU64::new(0),
        });
        let mut workers = JoinSet::new();
        for id in 0..level {
            workers.spawn(worker(Arc::clone(&shared), id));
        }
        let token = cancel::token();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_live = started;
        let mut samples: Vec<(Duration, usize)> = Vec::new();
        let mut aborted = false;
        let mut panicked = false;
        let mut unfinished = 0u64;
        // A gateway that stops answering (a full cluster drops writes) would hold the step
        // until the transport's timeouts (minutes): operations still in flight a grace period
        // after the step's end (its deadline, or its last operation taken) are abandoned and
        // reported as such.
        let grace = match spec.stop {
            Stop::Duration(d) => d.max(MIN_GRACE),
            Stop::Operations(_) => MIN_GRACE,
        };
        let mut give_up: Option<Instant> = shared.deadline.map(|d| d + grace);
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(Err(e)) if e.is_panic() => panicked = true,
                    Some(_) => {}
                },
                _ = tick.tick() => {
                    if give_up.is_none() && shared.tickets_spent() {
                        give_up = Some(Instant::now() + grace);
                    }
                    if !aborted && give_up.is_some_and(|t| Instant::now() >= t) {
                        aborted = true;
                        unfinished = shared.in_flight.load(Ordering::Relaxed);
                        workers.abort_all();
                    }
                    let limit = client.limiter().limit();
                    if plan.adaptive {
                        samples.push((started.elapsed(), limit));
                    }
                    if last_live.elapsed() >= LIVE_EVERY {
                        last_live = Instant::now();
                        let (ops, bytes, errors, throttles) = shared.live();
                        (self.live)(&Live {
                            phase: plan.workload.name().to_owned(),
                            size: plan.size,
                            concurrency: limit,
                            adaptive: plan.adaptive,
                            elapsed: started.elapsed(),
                            ops,
                            bytes,
                            errors,
                            throttles,
                        });
                    }
                }
                () = token.cancelled(), if !aborted => {
                    aborted = true;
                    workers.abort_all();
                }
            }
        }
        // First request to last answer: not the grace period an abandoned step waited out.
        let last_answer = Duration::from_micros(shared.last_answer_micros.load(Ordering::Relaxed));
        let elapsed = if unfinished > 0 && !last_answer.is_zero() {
            last_answer
        } else {
            started.elapsed()
        };
        self.count_requests(&client);
        if panicked {
            return Err(Error::Integrity {
                what: "internal: a benchmark worker panicked".to_owned(),
            });
        }
        let adaptive = plan.adaptive.then(|| {
            let mut late: Vec<usize> = samples
                .iter()
                .filter(|(t, _)| *t >= elapsed / 2)
                .map(|(_, l)| *l)
                .collect();
            late.sort_unstable();
            let last = client.limiter().limit();
            AdaptiveFigures {
                ceiling: level,
                settled: late.get(late.len() / 2).copied().unwrap_or(last),
                range: (
                    late.first().copied().unwrap_or(last),
                    late.last().copied().unwrap_or(last),
                ),
                last,
                throttles: client.limiter().throttles(),
            }
        });
        Ok(StepReport {
            concurrency: level,
            adaptive,
            elapsed,
            ops: shared
                .recorders
                .iter()
                .flatten()
                .map(Recorder::figures)
                .collect(),
            pool_exhausted: shared.exhausted.load(Ordering::Relaxed),
            unfinished,
        })
    }

    fn count_requests(&mut self, client: &Client) {
        for (op, n) in client.request_counts() {
            *self.requests.entry(op).or_insert(0) += n;
        }
    }

    /// Deletes every object under `prefix`.
    async fn remove_prefix(&mut self, prefix: &str, cleanup: &mut Cleanup) {
        let client = self.housekeeping.clone();
        let bucket = &self.spec.bucket;
        let started = Instant::now();
        let mut last_live = started;
        let mut pager = ListPager::new(&client, bucket, prefix, None);
        loop {
            let keys: Vec<ObjectKey> = match pager.next_page().await {
                Ok(Some(page)) => page.objects.into_iter().map(|o| o.key).collect(),
                Ok(None) => break,
                Err(e) => {
                    cleanup.failed(1, format!("listing {prefix} to remove it: {e}"));
                    break;
                }
            };
            let batches = futures_util::stream::iter(keys.chunks(DELETE_BATCH))
                .map(|chunk| {
                    let client = &client;
                    async move { (chunk.len(), client.delete_objects(bucket, chunk).await) }
                })
                .buffer_unordered(4)
                .collect::<Vec<_>>()
                .await;
            for (n, result) in batches {
                match result {
                    Ok(failures) => {
                        cleanup.deleted += (n - failures.len()) as u64;
                        if let Some(f) = failures.first() {
                            cleanup.failed(failures.len() as u64, format!("{f:?}"));
                        }
                    }
                    Err(e) => cleanup.failed(n as u64, e.to_string()),
                }
            }
            if last_live.elapsed() >= LIVE_EVERY {
                last_live = Instant::now();
                (self.live)(&Live {
                    phase: "cleanup".to_owned(),
                    size: 0,
                    concurrency: HOUSEKEEPING_CONCURRENCY,
                    adaptive: false,
                    elapsed: started.elapsed(),
                    ops: cleanup.deleted,
                    bytes: 0,
                    errors: cleanup.failed,
                    throttles: 0,
                });
            }
        }
    }

    /// Aborts the multipart uploads an interrupted run left under its prefix.
    async fn abort_uploads(&mut self, cleanup: &mut Cleanup) {
        let client = &self.housekeeping;
        let bucket = &self.spec.bucket;
        match client
            .list_multipart_uploads(bucket, Some(&self.run_prefix))
            .await
        {
            Ok(uploads) => {
                for u in uploads {
                    match client
                        .abort_multipart_upload(bucket, &u.key, &u.upload_id)
                        .await
                    {
                        Ok(()) => cleanup.aborted += 1,
                        Err(e) => cleanup.failed(1, e.to_string()),
                    }
                }
            }
            // A gateway without the listing (s3s-fs) has nothing to list; an upload it holds
            // was aborted by the PUT that started it.
            Err(Error::S3 { source, .. }) if source.status == 501 => {
                tracing::debug!("no ListMultipartUploads here: {source}");
            }
            Err(e) => cleanup.failed(1, format!("listing multipart uploads: {e}")),
        }
    }
}

fn merge_cleanup(into: &mut Cleanup, c: Cleanup) {
    into.deleted += c.deleted;
    into.aborted += c.aborted;
    into.failed += c.failed;
    if into.first_error.is_none() {
        into.first_error = c.first_error;
    }
}

fn object_key(s: String) -> Result<ObjectKey, Error> {
    ObjectKey::new(s).map_err(|e| Error::Usage(format!("benchmark key: {e}")))
}

/// What one step runs.
struct StepPlan<'a> {
    workload: &'a Workload,
    size: u64,
    level: usize,
    adaptive: bool,
    pool: Arc<Pool>,
    /// Where PUTs write (mixed steps: into the pool's prefix, so their objects join it).
    put_prefix: String,
    /// What LIST lists: the pool.
    list_prefix: String,
}

/// Where objects go and what they hold.
struct Target {
    client: Client,
    bucket: BucketName,
    data: Bytes,
    part_size: u64,
}

impl Target {
    /// Uploads `size` bytes of the run's data under `key`: one PutObject up to the part size,
    /// else a multipart upload of parts sent one after the other (aborted if one fails).
    async fn put(&self, key: &ObjectKey, size: u64) -> Result<(), Error> {
        let opts = PutOptions::default();
        if size <= self.part_size {
            let body = self
                .data
                .slice(..usize::try_from(size).unwrap_or(usize::MAX));
            self.client
                .put_object(&self.bucket, key, body, &opts)
                .await?;
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart_upload(&self.bucket, key, &opts)
            .await?;
        let parts = async {
            let mut parts = Vec::new();
            let mut offset = 0u64;
            let mut number = 1u64;
            while offset < size {
                let len = (size - offset).min(self.part_size);
                let part_number = PartNumber::new(number).map_err(|e| {
                    Error::Usage(format!(
                        "--size {size} with --part-size {}: {e}",
                        self.part_size
                    ))
                })?;
                let body = self
                    .data
                    .slice(..usize::try_from(len).unwrap_or(usize::MAX));
                let etag = self
                    .client
                    .upload_part(&self.bucket, key, &upload, part_number, body)
                    .await?;
                parts.push(CompletedPart { part_number, etag });
                offset += len;
                number += 1;
            }
            self.client
                .complete_multipart_upload(&self.bucket, key, &upload, &parts)
                .await
        }
        .await;
        match parts {
            Ok(_) => Ok(()),
            Err(e) => {
                // Best effort: what is left is aborted by the run's final cleanup anyway.
                let _ = self
                    .client
                    .abort_multipart_upload(&self.bucket, key, &upload)
                    .await;
                Err(e)
            }
        }
    }
}

/// The objects GET, STAT, LIST and DELETE work on.
#[derive(Default)]
struct Pool {
    inner: Mutex<PoolInner>,
}

#[derive(Default)]
struct PoolInner {
    keys: Vec<ObjectKey>,
    /// Keys being read now (GET, STAT), with how many readers: a mixed step's DELETE leaves
    /// them alone, so that a read never fails on an object the step itself removed.
    reading: std::collections::HashMap<ObjectKey, u32>,
}

/// Random draws a DELETE makes for a key nobody reads before it gives up (a mixed step then
/// sends a PUT instead). Chosen: 8; with fewer readers than keys a draw finds one at once.
const TAKE_TRIES: usize = 8;

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, key: ObjectKey) {
        self.lock().keys.push(key);
    }

    fn len(&self) -> usize {
        self.lock().keys.len()
    }

    /// A random key, left in the pool and marked as being read until [`Pool::done_reading`].
    fn pick(&self, rng: &mut StdRng) -> Option<ObjectKey> {
        let mut p = self.lock();
        if p.keys.is_empty() {
            return None;
        }
        let key = p.keys[rng.random_range(0..p.keys.len())].clone();
        *p.reading.entry(key.clone()).or_insert(0) += 1;
        Some(key)
    }

    fn done_reading(&self, key: &ObjectKey) {
        let mut p = self.lock();
        if let Some(n) = p.reading.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                p.reading.remove(key);
            }
        }
    }

    /// A random key nobody is reading, taken out of the pool.
    fn take(&self, rng: &mut StdRng) -> Option<ObjectKey> {
        let mut p = self.lock();
        for _ in 0..TAKE_TRIES {
            if p.keys.is_empty() {
                return None;
            }
            let i = rng.random_range(0..p.keys.len());
            if !p.reading.contains_key(&p.keys[i]) {
                return Some(p.keys.swap_remove(i));
            }
        }
        None
    }
}

/// What a step's workers share.
struct Shared {
    target: Target,
    workload: Workload,
    size: u64,
    pool: Arc<Pool>,
    put_prefix: String,
    list_prefix: String,
    recorders: [Option<Recorder>; 5],
    deadline: Option<Instant>,
    tickets: Option<AtomicU64>,
    exhausted: AtomicBool,
    /// Operations being sent now.
    in_flight: AtomicU64,
    /// When the step started.
    started: Instant,
    /// When the last operation ended, in microseconds since `started`.
    last_answer_micros: AtomicU64,
}

impl Shared {
    fn recorder(&self, kind: OpKind) -> Option<&Recorder> {
        self.recorders[kind as usize].as_ref()
    }

    fn live(&self) -> (u64, u64, u64, u64) {
        self.recorders
            .iter()
            .flatten()
            .map(Recorder::live)
            .fold((0, 0, 0, 0), |a, b| {
                (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
            })
    }

    /// Every operation of an `--objects` step has been handed out.
    fn tickets_spent(&self) -> bool {
        self.tickets
            .as_ref()
            .is_some_and(|t| t.load(Ordering::Relaxed) == 0)
    }

    /// Takes one operation's ticket; false when the step is over.
    fn next_ticket(&self) -> bool {
        if cancel::is_cancelled() || self.exhausted.load(Ordering::Relaxed) {
            return false;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        self.tickets.as_ref().is_none_or(|t| {
            t.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    /// Runs one operation of kind `op` (or a PUT when the pool is empty in a mixed step).
    /// `None`: the DELETE pool ran out.
    async fn one(
        &self,
        op: OpKind,
        id: usize,
        seq: u64,
        rng: &mut StdRng,
        started: Instant,
    ) -> Option<(OpKind, Result<Done, Error>)> {
        let t = &self.target;
        let mixed = matches!(self.workload, Workload::Mixed(_));
        let key = match op {
            OpKind::Get | OpKind::Stat => self.pool.pick(rng),
            OpKind::Delete => self.pool.take(rng),
            OpKind::Put | OpKind::List => None,
        };
        let op = match (op, &key) {
            (OpKind::Get | OpKind::Stat | OpKind::Delete, None) if mixed => OpKind::Put,
            (OpKind::Get | OpKind::Stat | OpKind::Delete, None) => return None,
            _ => op,
        };
        let result = match (op, key) {
            (OpKind::Put, _) => match object_key(format!("{}w{id}-{seq}", self.put_prefix)) {
                Ok(key) => {
                    let r = t.put(&key, self.size).await;
                    if r.is_ok() && mixed {
                        self.pool.add(key);
                    }
                    r.map(|()| Done {
                        bytes: self.size,
                        ..Done::default()
                    })
                }
                Err(e) => Err(e),
            },
            (OpKind::Get, Some(key)) => {
                let r = self.get(&key, started).await;
                self.pool.done_reading(&key);
                r
            }
            (OpKind::Stat, Some(key)) => {
                let r = match t.client.head_object(&t.bucket, &key).await {
                    Ok(meta) if meta.content_length == self.size => Ok(Done::default()),
                    Ok(meta) => Err(wrong_size(&t.bucket, &key, self.size, meta.content_length)),
                    Err(e) => Err(e),
                };
                self.pool.done_reading(&key);
                r
            }
            (OpKind::Delete, Some(key)) => t
                .client
                .delete_object(&t.bucket, &key)
                .await
                .map(|()| Done::default()),
            (OpKind::List, _) => t
                .client
                .list_objects_page(&t.bucket, Some(&self.list_prefix), None, &ListCursor::Start)
                .await
                .map(|(page, _)| Done {
                    listed: page.objects.len() as u64,
                    ..Done::default()
                }),
            (OpKind::Get | OpKind::Stat | OpKind::Delete, None) => return None,
        };
        Some((op, result))
    }

    /// A whole GET, read to its end and counted; the headers' arrival is the TTFB.
    async fn get(&self, key: &ObjectKey, started: Instant) -> Result<Done, Error> {
        let t = &self.target;
        let mut got = t.client.get_object(&t.bucket, key, None, None).await?;
        let ttfb = started.elapsed();
        let mut bytes = 0u64;
        while let Some(chunk) = got.response.chunk().await {
            bytes += chunk?.len() as u64;
        }
        if bytes != self.size {
            return Err(wrong_size(&t.bucket, key, self.size, bytes));
        }
        Ok(Done {
            bytes,
            listed: 0,
            ttfb: Some(ttfb),
        })
    }
}

fn wrong_size(bucket: &BucketName, key: &ObjectKey, want: u64, got: u64) -> Error {
    Error::Integrity {
        what: format!(
            "s3://{}/{}: {got} bytes where the benchmark wrote {want}",
            bucket.as_str(),
            key.as_str()
        ),
    }
}

async fn worker(shared: Arc<Shared>, id: usize) {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut seq = 0u64;
    while shared.next_ticket() {
        let op = match &shared.workload {
            Workload::Single(k) => *k,
            Workload::Mixed(m) => m.pick(rng.random_range(0..m.total().max(1))),
        };
        seq += 1;
        let started = Instant::now();
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let outcome = shared.one(op, id, seq, &mut rng, started).await;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some((op, result)) = outcome else {
            shared.exhausted.store(true, Ordering::Relaxed);
            break;
        };
        let latency = started.elapsed();
        let since_start = u64::try_from(shared.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        shared
            .last_answer_micros
            .fetch_max(since_start, Ordering::Relaxed);
        if let Some(r) = shared.recorder(op) {
            match result {
                Ok(done) => r.success(done, latency),
                Err(e) => r.failure(&e),
            }
        }
    }
}
