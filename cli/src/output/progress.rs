//! Progress while `haul cp` and `haul sync` run, on stderr or as NDJSON on stdout.
//!
//! The engine calls [`ProgressSink::emit`] from many tasks at once; the sink here only adds to
//! atomic counters, and with `--json` hands one line per finished or failed object to a
//! bounded queue. One thread per command (`haul-progress`) does the rest, and stops when the
//! command finishes, before its summary is printed:
//!
//! - on a terminal (stderr is a TTY): an indicatif bar on stderr, refreshed every 100 ms;
//! - otherwise: a plain line on stderr every 5 s;
//! - with `--json`: the queued `object` and `failed` lines on stdout, a `progress` line every
//!   second and a last one when the command ends;
//! - with `-q`: no bar, no plain lines, no `progress` lines (the `object`/`failed` lines of
//!   `--json` are results and stay).
//!
//! Every mode shows the same figures: bytes (of the total when the job was known up front),
//! the rate over the last few seconds, an ETA when the total is known, objects done and
//! failed, and the request limiter of each gateway (limit, requests in flight, retries,
//! throttles), polled at each tick rather than sent as events.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::congestion::Limiter;
use engine::progress::{Event, Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::human_bytes;

/// How often the terminal bar is updated, and the most redraws per second indicatif makes.
const BAR_EVERY: Duration = Duration::from_millis(100);
const BAR_HZ: u8 = 10;
/// How often a plain line is written when stderr is not a terminal. Chosen: 5 s, often
/// enough to show a run is alive in a CI log, rare enough not to flood it.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often a `progress` event is written with `--json`.
const JSON_EVERY: Duration = Duration::from_secs(1);
/// NDJSON lines queued for stdout. Chosen: 1,024 lines (about 150 KiB). When a reader of
/// stdout falls that far behind, `emit` waits for it, so the run slows down instead of
/// holding an ever longer queue.
const JSON_QUEUE_BOUND: usize = 1024;
/// The rate is measured over about this much of the latest history. Chosen: 5 s, long enough
/// to smooth bursts of part completions, short enough to follow a throttled gateway.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// What the progress thread does periodically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Periodic {
    Bar,
    Plain,
    Json,
    Off,
}

impl Periodic {
    fn choose(json: bool, quiet: bool, stderr_is_terminal: bool) -> Self {
        match (quiet, json, stderr_is_terminal) {
            (true, _, _) => Periodic::Off,
            (false, true, _) => Periodic::Json,
            (false, false, true) => Periodic::Bar,
            (false, false, false) => Periodic::Plain,
        }
    }

    fn every(self) -> Option<Duration> {
        match self {
            Periodic::Bar => Some(BAR_EVERY),
            Periodic::Plain => Some(PLAIN_EVERY),
            Periodic::Json => Some(JSON_EVERY),
            Periodic::Off => None,
        }
    }
}

/// What the progress thread receives.
enum Msg {
    /// One NDJSON line for stdout.
    Line(String),
    /// The command is done; write the last `progress` line first when asked.
    Stop { last_progress: bool },
}

/// The counters the engine's events feed.
#[derive(Debug, Default)]
struct Counters {
    planned: AtomicBool,
    planned_objects: AtomicU64,
    planned_bytes: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    unchanged: AtomicU64,
    deleted: AtomicU64,
    /// From `BytesMoved`, as parts and ranges complete.
    bytes_moved: AtomicU64,
    /// From `TransferDone`: a floor for `bytes_moved`, so a path that reports no partial
    /// progress still counts once its object is done.
    bytes_finished: AtomicU64,
}

/// The sink handed to the engine.
#[derive(Debug)]
struct Sink {
    counters: Counters,
    /// With `--json`: where `object` and `failed` lines go.
    lines: Option<SyncSender<Msg>>,
}

impl Sink {
    fn line(&self, value: &Value) {
        if let Some(tx) = &self.lines {
            // Fails only once the progress thread is gone (stdout closed): nothing to do.
            let _ = tx.send(Msg::Line(value.to_string()));
        }
    }
}

impl ProgressSink for Sink {
    fn emit(&self, event: Event) {
        let c = &self.counters;
        match event {
            Event::Planned { objects, bytes } => {
                c.planned_objects.fetch_add(objects, Ordering::Relaxed);
                c.planned_bytes.fetch_add(bytes, Ordering::Relaxed);
                c.planned.store(true, Ordering::Relaxed);
            }
            Event::BytesMoved { bytes } => {
                c.bytes_moved.fetch_add(bytes, Ordering::Relaxed);
            }
            Event::TransferDone {
                name,
                bytes,
                elapsed,
            } => {
                c.done.fetch_add(1, Ordering::Relaxed);
                c.bytes_finished.fetch_add(bytes, Ordering::Relaxed);
                self.line(&object_json(&name, bytes, elapsed));
            }
            Event::TransferFailed { name, error } => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                self.line(&failed_json(&name, &error));
            }
            Event::Unchanged { count } => {
                c.unchanged.fetch_add(count, Ordering::Relaxed);
            }
            Event::Deleted { count } => {
                c.deleted.fetch_add(count, Ordering::Relaxed);
            }
            // Counted by the limiters, which every tick reads.
            Event::TransferStarted { .. } | Event::Retry { .. } => {}
        }
    }
}

/// What the progress thread reads.
#[derive(Debug)]
struct Shared {
    sink: Arc<Sink>,
    limiters: Mutex<Vec<Limiter>>,
    started: Instant,
}

impl Shared {
    fn snapshot(&self, meter: &mut RateMeter, last: bool) -> Snapshot {
        let c = &self.sink.counters;
        let elapsed = self.started.elapsed();
        let bytes = c
            .bytes_moved
            .load(Ordering::Relaxed)
            .max(c.bytes_finished.load(Ordering::Relaxed));
        let planned = c.planned.load(Ordering::Relaxed);
        let bytes_total = planned.then(|| c.planned_bytes.load(Ordering::Relaxed));
        // The last figure is the average of the whole run; the others follow recent history.
        let rate = if last {
            per_second(bytes, elapsed)
        } else {
            meter.sample(elapsed, bytes)
        };
        let mut requests = Requests::default();
        for l in self
            .limiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            requests.limit += l.limit() as u64;
            requests.in_flight += l.in_flight() as u64;
            requests.throttles += l.throttles();
            requests.retries += l.retries();
        }
        Snapshot {
            elapsed,
            objects: c.done.load(Ordering::Relaxed),
            objects_total: planned.then(|| c.planned_objects.load(Ordering::Relaxed)),
            failed: c.failed.load(Ordering::Relaxed),
            unchanged: c.unchanged.load(Ordering::Relaxed),
            deleted: c.deleted.load(Ordering::Relaxed),
            bytes,
            bytes_total,
            rate,
            eta: bytes_total.and_then(|total| eta(bytes, total, rate)),
            requests,
        }
    }
}

/// The progress display of one command. Create it before the transfers start, hand
/// [`Reporter::sink`] to the engine, call [`Reporter::finish`] before printing the summary.
/// Dropping it (an error returned early) stops the display without a last `progress` line.
#[derive(Debug)]
pub(crate) struct Reporter {
    shared: Arc<Shared>,
    control: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// Starts the display the flags and the terminal ask for.
    pub(crate) fn start(json: bool, quiet: bool) -> Self {
        Self::with(
            json,
            Periodic::choose(json, quiet, std::io::stderr().is_terminal()),
        )
    }

    fn with(json: bool, periodic: Periodic) -> Self {
        let needs_thread = json || periodic != Periodic::Off;
        let (tx, rx) = if needs_thread {
            let (tx, rx) = sync_channel(JSON_QUEUE_BOUND);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let sink = Arc::new(Sink {
            counters: Counters::default(),
            lines: if json { tx.clone() } else { None },
        });
        let shared = Arc::new(Shared {
            sink,
            limiters: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let bar = (periodic == Periodic::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(BAR_HZ));
            bar.set_style(bar_style(false));
            bar
        });
        let thread = rx.and_then(|rx| {
            let (shared, bar) = (shared.clone(), bar.clone());
            std::thread::Builder::new()
                .name("haul-progress".to_owned())
                .spawn(move || run(&rx, &shared, periodic, bar.as_ref()))
                // Without its thread the run goes on, silently.
                .ok()
        });
        Self {
            shared,
            control: tx,
            thread,
            bar,
        }
    }

    /// The handle the engine emits to.
    pub(crate) fn sink(&self) -> Progress {
        self.shared.sink.clone()
    }

    /// Shows this gateway's request limiter. Watch each gateway once: two sides on one
    /// gateway share one limiter.
    pub(crate) fn watch(&self, limiter: &Limiter) {
        self.shared
            .limiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(limiter.clone());
    }

    /// Reports one object moved outside a tree or a sync (a single `cp`): the object's
    /// events around `transfer`, and the total when `size` is known up front.
    pub(crate) async fn track(
        &self,
        name: &str,
        size: Option<u64>,
        transfer: impl Future<Output = Result<u64, engine::Error>>,
    ) -> Result<u64, engine::Error> {
        let sink = &self.shared.sink;
        if let Some(bytes) = size {
            sink.emit(Event::Planned { objects: 1, bytes });
        }
        sink.emit(Event::TransferStarted {
            name: name.to_owned(),
            bytes: size,
        });
        let started = Instant::now();
        let res = transfer.await;
        match &res {
            Ok(bytes) => sink.emit(Event::TransferDone {
                name: name.to_owned(),
                bytes: *bytes,
                elapsed: started.elapsed(),
            }),
            Err(e) => sink.emit(Event::TransferFailed {
                name: name.to_owned(),
                error: e.to_string(),
            }),
        }
        res
    }

    /// Stops the display: clears the bar, writes every queued line and, with `--json`, a last
    /// `progress` line. Call it before printing the summary.
    pub(crate) fn finish(mut self) {
        self.stop(true);
    }

    fn stop(&mut self, last_progress: bool) {
        if let Some(tx) = self.control.take() {
            let _ = tx.send(Msg::Stop { last_progress });
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// The progress thread: writes queued lines, ticks, stops when told.
fn run(rx: &Receiver<Msg>, shared: &Shared, periodic: Periodic, bar: Option<&ProgressBar>) {
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let mut meter = RateMeter::default();
    let every = periodic.every();
    let mut next_tick = every.map(|e| Instant::now() + e);
    // Lines written but not flushed: flushed as soon as the queue is empty.
    let mut unflushed = false;
    loop {
        let now = Instant::now();
        if let (Some(at), Some(e)) = (next_tick, every)
            && now >= at
        {
            let snap = shared.snapshot(&mut meter, false);
            match periodic {
                Periodic::Bar => {
                    if let Some(bar) = bar {
                        draw(bar, &snap);
                    }
                }
                Periodic::Plain => {
                    let _ = writeln!(std::io::stderr(), "{}", plain_line(&snap));
                }
                Periodic::Json => {
                    if writeln!(stdout, "{}", progress_json(&snap)).is_err() {
                        return;
                    }
                    unflushed = true;
                }
                Periodic::Off => {}
            }
            next_tick = Some(now + e);
        }
        let msg = if unflushed {
            rx.recv_timeout(Duration::ZERO)
        } else if let Some(at) = next_tick {
            rx.recv_timeout(at.saturating_duration_since(now))
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match msg {
            Ok(Msg::Line(line)) => {
                // A closed stdout ends the thread; the queue's senders then give up at once.
                if writeln!(stdout, "{line}").is_err() {
                    return;
                }
                unflushed = true;
            }
            Err(RecvTimeoutError::Timeout) => {
                if unflushed {
                    if stdout.flush().is_err() {
                        return;
                    }
                    unflushed = false;
                }
            }
            Ok(Msg::Stop { last_progress }) => {
                if last_progress && periodic == Periodic::Json {
                    let snap = shared.snapshot(&mut meter, true);
                    let _ = writeln!(stdout, "{}", progress_json(&snap));
                }
                let _ = stdout.flush();
                return;
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = stdout.flush();
                return;
            }
        }
    }
}

fn bar_style(with_total: bool) -> ProgressStyle {
    let template = if with_total {
        "{spinner} [{bar:20}] {wide_msg}"
    } else {
        "{spinner} {wide_msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
}

fn draw(bar: &ProgressBar, s: &Snapshot) {
    if let Some(total) = s.bytes_total
        && bar.length() != Some(total)
    {
        bar.set_style(bar_style(true));
        bar.set_length(total);
    }
    bar.set_position(s.bytes);
    bar.set_message(bar_message(s));
}

/// The request limiters' state, summed over the gateways watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Requests {
    pub(crate) limit: u64,
    pub(crate) in_flight: u64,
    pub(crate) throttles: u64,
    pub(crate) retries: u64,
}

/// Everything one progress line shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) elapsed: Duration,
    /// Objects done.
    pub(crate) objects: u64,
    /// Objects of the whole job, when known up front.
    pub(crate) objects_total: Option<u64>,
    pub(crate) failed: u64,
    pub(crate) unchanged: u64,
    pub(crate) deleted: u64,
    /// Bytes moved.
    pub(crate) bytes: u64,
    /// Bytes of the whole job, when known up front.
    pub(crate) bytes_total: Option<u64>,
    /// Bytes per second.
    pub(crate) rate: f64,
    pub(crate) eta: Option<Duration>,
    pub(crate) requests: Requests,
}

/// The rate of bytes moved over the last [`RATE_WINDOW`].
#[derive(Debug)]
struct RateMeter {
    /// (time since start, bytes moved then), oldest first.
    samples: VecDeque<(Duration, u64)>,
}

impl Default for RateMeter {
    fn default() -> Self {
        Self {
            samples: VecDeque::from([(Duration::ZERO, 0)]),
        }
    }
}

impl RateMeter {
    /// Records `bytes` at `at` and returns the rate since the oldest sample kept: the newest
    /// one at least [`RATE_WINDOW`] old, so the window spans at least that much when it can.
    fn sample(&mut self, at: Duration, bytes: u64) -> f64 {
        self.samples.push_back((at, bytes));
        while let Some(&(t, _)) = self.samples.get(1)
            && at.saturating_sub(t) >= RATE_WINDOW
        {
            self.samples.pop_front();
        }
        let (t0, b0) = self.samples.front().copied().unwrap_or((at, bytes));
        per_second(bytes.saturating_sub(b0), at.saturating_sub(t0))
    }
}

#[allow(clippy::cast_precision_loss, reason = "display only")]
fn per_second(bytes: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { bytes as f64 / secs } else { 0.0 }
}

#[allow(clippy::cast_precision_loss, reason = "display only")]
fn eta(done: u64, total: u64, rate: f64) -> Option<Duration> {
    if done >= total {
        return Some(Duration::ZERO);
    }
    (rate > 0.0).then(|| Duration::from_secs_f64((total - done) as f64 / rate))
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "display only: a rate is positive and far below u64::MAX"
)]
fn rate_u64(rate: f64) -> u64 {
    rate.max(0.0).round() as u64
}

/// `25 s`, `3 min 05 s`, `2 h 03 min`.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// `1.2 GiB of 4.0 GiB (30%)`, or `1.2 GiB` without a total.
fn bytes_text(s: &Snapshot) -> String {
    match s.bytes_total {
        Some(total) => {
            let pct = if total == 0 {
                100
            } else {
                (u128::from(s.bytes.min(total)) * 100 / u128::from(total)) as u64
            };
            format!(
                "{} of {} ({pct}%)",
                human_bytes(s.bytes),
                human_bytes(total)
            )
        }
        None => human_bytes(s.bytes),
    }
}

/// `110.2 MiB/s, ETA 25 s`, or the rate alone without an ETA.
fn rate_text(s: &Snapshot) -> String {
    let rate = format!("{}/s", human_bytes(rate_u64(s.rate)));
    match s.eta {
        Some(eta) => format!("{rate}, ETA {}", human_duration(eta)),
        None => rate,
    }
}

/// `120 of 400 objects, 2 failed, 45 unchanged, 3 deleted` (zero unchanged and deleted left
/// out).
fn objects_text(s: &Snapshot) -> String {
    let noun = |n: u64| if n == 1 { "object" } else { "objects" };
    let done = match s.objects_total {
        Some(total) => format!("{} of {total} {}", s.objects, noun(total)),
        None => format!("{} {}", s.objects, noun(s.objects)),
    };
    let mut parts = vec![done, format!("{} failed", s.failed)];
    if s.unchanged > 0 {
        parts.push(format!("{} unchanged", s.unchanged));
    }
    if s.deleted > 0 {
        parts.push(format!("{} deleted", s.deleted));
    }
    parts.join(", ")
}

/// `requests 12/64 in flight, 0 retries, 0 throttles`.
fn requests_text(r: &Requests) -> String {
    format!(
        "requests {}/{} in flight, {} retries, {} throttles",
        r.in_flight, r.limit, r.retries, r.throttles
    )
}

/// The line written every few seconds when stderr is not a terminal.
pub(crate) fn plain_line(s: &Snapshot) -> String {
    format!(
        "haul: {}: {}, {}; {}; {}",
        human_duration(s.elapsed),
        bytes_text(s),
        rate_text(s),
        objects_text(s),
        requests_text(&s.requests)
    )
}

/// The text beside the terminal bar: the figures of [`plain_line`], shorter (the bar shows
/// the percentage), most important first, as the end is cut to fit the terminal's width.
pub(crate) fn bar_message(s: &Snapshot) -> String {
    let bytes = match s.bytes_total {
        Some(total) => format!("{}/{}", human_bytes(s.bytes), human_bytes(total)),
        None => human_bytes(s.bytes),
    };
    let r = &s.requests;
    format!(
        "{bytes} · {} · {} · req {}/{}, {} retries, {} throttles",
        rate_text(s),
        objects_text(s),
        r.in_flight,
        r.limit,
        r.retries,
        r.throttles
    )
}

/// Seconds with millisecond precision, for JSON.
fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `{"event":"progress",…}`: counts, bytes, rate, ETA and the limiters' state.
pub(crate) fn progress_json(s: &Snapshot) -> Value {
    json!({
        "event": "progress",
        "seconds": seconds(s.elapsed),
        "objects": s.objects,
        "objects_total": s.objects_total,
        "failed": s.failed,
        "unchanged": s.unchanged,
        "deleted": s.deleted,
        "bytes": s.bytes,
        "bytes_total": s.bytes_total,
        "bytes_per_second": rate_u64(s.rate),
        "eta_seconds": s.eta.map(seconds),
        "limiter": {
            "limit": s.requests.limit,
            "in_flight": s.requests.in_flight,
            "throttles": s.requests.throttles,
            "retries": s.requests.retries,
        },
    })
}

/// `{"event":"object",…}`: one object transferred.
pub(crate) fn object_json(key: &str, bytes: u64, elapsed: Duration) -> Value {
    json!({"event": "object", "key": key, "bytes": bytes, "seconds": seconds(elapsed)})
}

/// `{"event":"failed",…}`: one object that failed or was refused.
pub(crate) fn failed_json(key: &str, error: &str) -> Value {
    json!({"event": "failed", "key": key, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            elapsed: Duration::from_secs(12),
            objects: 120,
            objects_total: Some(400),
            failed: 2,
            unchanged: 0,
            deleted: 0,
            bytes: 3 * 1024 * 1024 * 1024 / 10 * 4,
            bytes_total: Some(4 * 1024 * 1024 * 1024),
            rate: 110.0 * 1024.0 * 1024.0,
            eta: Some(Duration::from_secs(25)),
            requests: Requests {
                limit: 64,
                in_flight: 12,
                throttles: 1,
                retries: 3,
            },
        }
    }

    #[test]
    fn plain_line_with_totals() {
        assert_eq!(
            plain_line(&snap()),
            "haul: 12 s: 1.2 GiB of 4.0 GiB (29%), 110.0 MiB/s, ETA 25 s; 120 of 400 objects, \
             2 failed; requests 12/64 in flight, 3 retries, 1 throttles"
        );
    }

    #[test]
    fn plain_line_without_totals_has_no_eta() {
        let s = Snapshot {
            objects_total: None,
            bytes_total: None,
            eta: None,
            objects: 1,
            unchanged: 45,
            deleted: 3,
            elapsed: Duration::from_secs(185),
            ..snap()
        };
        assert_eq!(
            plain_line(&s),
            "haul: 3 min 05 s: 1.2 GiB, 110.0 MiB/s; 1 object, 2 failed, 45 unchanged, \
             3 deleted; requests 12/64 in flight, 3 retries, 1 throttles"
        );
        assert!(!bar_message(&s).contains("ETA"));
    }

    #[test]
    fn bar_message_shows_the_same_figures() {
        assert_eq!(
            bar_message(&snap()),
            "1.2 GiB/4.0 GiB · 110.0 MiB/s, ETA 25 s · 120 of 400 objects, 2 failed \
             · req 12/64, 3 retries, 1 throttles"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_millis(900)), "0 s");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 s");
        assert_eq!(human_duration(Duration::from_secs(60)), "1 min 00 s");
        assert_eq!(human_duration(Duration::from_secs(7380)), "2 h 03 min");
    }

    #[test]
    fn empty_total_is_complete() {
        let s = Snapshot {
            bytes: 0,
            bytes_total: Some(0),
            ..Snapshot::default()
        };
        assert!(bytes_text(&s).ends_with("(100%)"));
        assert_eq!(eta(0, 0, 0.0), Some(Duration::ZERO));
        assert_eq!(eta(0, 10, 0.0), None);
        assert_eq!(eta(5, 10, 1.0), Some(Duration::from_secs(5)));
    }

    #[test]
    fn progress_event_shape() {
        let v = progress_json(&snap());
        assert_eq!(v["event"], "progress");
        assert_eq!(v["seconds"], 12.0);
        assert_eq!(v["objects"], 120);
        assert_eq!(v["objects_total"], 400);
        assert_eq!(v["failed"], 2);
        assert_eq!(v["bytes_total"], 4u64 * 1024 * 1024 * 1024);
        assert_eq!(v["bytes_per_second"], 110 * 1024 * 1024);
        assert_eq!(v["eta_seconds"], 25.0);
        assert_eq!(
            v["limiter"],
            json!({"limit": 64, "in_flight": 12, "throttles": 1, "retries": 3})
        );
        // Unknown totals are null, not absent, so consumers can tell "unknown" from "zero".
        let v = progress_json(&Snapshot::default());
        assert!(v["bytes_total"].is_null() && v["objects_total"].is_null());
        assert!(v["eta_seconds"].is_null());
        // One line each.
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn object_and_failed_event_shapes() {
        assert_eq!(
            object_json("a/b c", 5, Duration::from_millis(1500)),
            json!({"event": "object", "key": "a/b c", "bytes": 5, "seconds": 1.5})
        );
        assert_eq!(
            failed_json("../x", "refused"),
            json!({"event": "failed", "key": "../x", "error": "refused"})
        );
    }

    #[test]
    fn rate_follows_the_last_window() {
        let mut m = RateMeter::default();
        let mut rate = |secs, bytes| rate_u64(m.sample(Duration::from_secs(secs), bytes));
        assert_eq!(rate(1, 100), 100);
        assert_eq!(rate(5, 500), 100);
        // After a stall the old samples leave the window and the rate falls.
        assert_eq!(rate(10, 500), 0);
        assert_eq!(rate(11, 1500), 167); // 1,000 bytes over the 6 s since the sample at 5 s
    }

    #[test]
    fn periodic_choice() {
        assert_eq!(Periodic::choose(false, false, true), Periodic::Bar);
        assert_eq!(Periodic::choose(false, false, false), Periodic::Plain);
        assert_eq!(Periodic::choose(true, false, true), Periodic::Json);
        assert_eq!(Periodic::choose(true, true, false), Periodic::Off);
        assert_eq!(Periodic::choose(false, true, true), Periodic::Off);
    }

    #[test]
    fn sink_counts_and_queues_json_lines() {
        let (tx, rx) = sync_channel(8);
        let sink = Sink {
            counters: Counters::default(),
            lines: Some(tx),
        };
        sink.emit(Event::Planned {
            objects: 2,
            bytes: 30,
        });
        sink.emit(Event::BytesMoved { bytes: 10 });
        sink.emit(Event::TransferDone {
            name: "a".into(),
            bytes: 20,
            elapsed: Duration::ZERO,
        });
        sink.emit(Event::TransferFailed {
            name: "b".into(),
            error: "boom".into(),
        });
        sink.emit(Event::Unchanged { count: 4 });
        let shared = Shared {
            sink: Arc::new(sink),
            limiters: Mutex::new(vec![Limiter::new(8), Limiter::new(4)]),
            started: Instant::now(),
        };
        let s = shared.snapshot(&mut RateMeter::default(), false);
        // Bytes of finished objects are a floor under the bytes reported as they moved.
        assert_eq!((s.bytes, s.bytes_total), (20, Some(30)));
        assert_eq!((s.objects, s.objects_total, s.failed), (1, Some(2), 1));
        assert_eq!(s.unchanged, 4);
        assert_eq!(s.requests.limit, 12);
        let lines: Vec<Value> = rx
            .try_iter()
            .map(|m| match m {
                Msg::Line(l) => serde_json::from_str(&l).unwrap(),
                Msg::Stop { .. } => panic!("unexpected stop"),
            })
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "object");
        assert_eq!(lines[1]["event"], "failed");
    }

    #[test]
    fn quiet_without_json_starts_no_thread() {
        let r = Reporter::with(false, Periodic::Off);
        assert!(r.thread.is_none() && r.control.is_none());
        r.sink().emit(Event::BytesMoved { bytes: 1 });
        r.finish();
    }
}
