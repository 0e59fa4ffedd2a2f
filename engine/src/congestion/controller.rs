//! The concurrency controller: how many requests a gateway is given at once.
//!
//! AIMD on two signals, as TCP congestion control does on loss and delay:
//! - **additive increase**: every success adds `1 / limit`, so the limit grows by about one
//!   per round of `limit` successful requests, while latency stays near its floor;
//! - **multiplicative decrease on throttling** (503 SlowDown, 429, 5xx, timeouts, resets):
//!   the limit is halved, at most once per cooldown, so the burst of failures that one
//!   overload produces among the requests already in flight counts once;
//! - **gentle decrease on latency**: a success whose latency is well above the floor for its
//!   class of request (the same operation and size bucket) means requests are queueing in the
//!   gateway; the limit shrinks by a smaller factor, also at most once per cooldown.
//!
//! The floor of each class is the lowest latency seen, relaxed slowly upwards so that a gateway
//! that became slower for good is not treated as congested forever.
//!
//! A gateway that throttles above a fixed number of requests (RGW's `rgw max concurrent
//! requests`) would make plain AIMD throttle once per climb back, a few percent of all
//! requests. So, as CUBIC does with its `W_max`, the controller remembers the limit at which it
//! was last throttled: below it, the limit climbs back fast (four per round of requests) to
//! one under it; around it, it probes slowly, one step per `probe_rounds` rounds, and every
//! probe throttled at the same level doubles `probe_rounds` (up to [`MAX_PROBE_ROUNDS`]); a
//! probe that passes means the gateway grew, and normal growth resumes. A throttle well below
//! the remembered limit means the gateway shrank: the probe interval starts over.
//!
//! This is a plain state machine: the clock is a parameter, nothing here sleeps or does IO.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The kind of request, for latency floors: a 1 KiB GET and a 64 MiB PUT have different
/// normal latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestClass {
    /// Reads, writes or metadata requests.
    pub kind: RequestKind,
    /// `log2` of the body size in bytes (request body for writes, expected for reads).
    pub size_log2: u8,
}

/// Broad kinds of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// GET of object data.
    Read,
    /// PUT of object data (PutObject, UploadPart).
    Write,
    /// Listing, HEAD, multipart bookkeeping, deletes.
    Meta,
}

impl RequestClass {
    /// The class of a request of `kind` moving `bytes`.
    #[must_use]
    pub fn new(kind: RequestKind, bytes: u64) -> Self {
        let size_log2 = u8::try_from(64 - bytes.leading_zeros()).unwrap_or(64);
        Self { kind, size_log2 }
    }
}

/// Tuning of the controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerConfig {
    /// Lowest limit. Chosen: 1; a gateway that throttles a single request still gets one.
    pub floor: usize,
    /// Highest limit: `--concurrency`.
    pub ceiling: usize,
    /// Where the limit starts. Chosen: 16 (or the ceiling if lower), a load every gateway in
    /// the tests holds; slow start finds more within seconds.
    pub start: usize,
    /// Factor applied on a throttling signal. Chosen: 0.5, as TCP Reno.
    pub throttle_factor: f64,
    /// Factor applied when latency climbs. Chosen: 0.9, gentler than for throttling because
    /// latency is a noisier signal.
    pub latency_factor: f64,
    /// A success slower than this many times its class's floor counts as a latency signal.
    /// Chosen: 3, well above the jitter of a loopback RGW (measured 1.5× at the p99).
    pub latency_threshold: f64,
    /// Least time between two decreases. Chosen: 250 ms, longer than a loaded RGW takes to
    /// answer, so failures from one overload are counted once.
    pub cooldown: Duration,
}

impl ControllerConfig {
    /// Defaults with `ceiling` as the limit's ceiling.
    #[must_use]
    pub fn with_ceiling(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            floor: 1,
            ceiling,
            start: 16.min(ceiling),
            throttle_factor: 0.5,
            latency_factor: 0.9,
            latency_threshold: 3.0,
            cooldown: Duration::from_millis(250),
        }
    }
}

/// Until the first signal, grow exponentially (each success adds one) up to this many times
/// the start, as TCP slow start does; chosen: 4, enough to reach 64 from 16 in one round.
const SLOW_START_MULTIPLE: f64 = 4.0;

/// Rounds of requests per step of growth while probing around the last throttled limit, at
/// most. Chosen: 64, so that once converged under 1 % of requests are throttled (one or two
/// throttled per 64 rounds of `limit` requests), while a gateway that grows is still found
/// within about 128 rounds (two steps past the old level: well under a second at loopback
/// latencies, a few seconds on a loaded gateway).
const MAX_PROBE_ROUNDS: f64 = 64.0;

/// Growth per round of requests while climbing back towards the last throttled limit. Chosen: 4,
/// so that the halving costs a round or two of throughput, not `limit / 2` rounds.
const RECOVERY_STEPS_PER_ROUND: f64 = 4.0;

/// How fast a latency floor relaxes upwards, per sample. Chosen: 0.1 % per request, so a floor
/// follows a lasting slowdown within a few thousand requests.
const FLOOR_RELAX: f64 = 1.001;

/// What the controller did so far, for a run's summary: where the limit sat and what moved it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerStats {
    /// Requests allowed in flight now.
    pub limit: usize,
    /// The lowest limit held so far (the start value included).
    pub lowest: usize,
    /// The highest limit held so far.
    pub highest: usize,
    /// The limit each successful request found when it completed, averaged over them; the
    /// start value before any success.
    pub mean: f64,
    /// Requests that succeeded.
    pub successes: u64,
    /// Throttling signals seen.
    pub throttles: u64,
    /// Decreases made because latency climbed.
    pub latency_decreases: u64,
}

/// The controller's state.
#[derive(Debug, Clone)]
pub struct Controller {
    cfg: ControllerConfig,
    limit: f64,
    slow_start: bool,
    floors: HashMap<RequestClass, Duration>,
    last_decrease: Option<Instant>,
    throttles: u64,
    latency_decreases: u64,
    /// Counts decreases; a request remembers the epoch it was sent in.
    epoch: u64,
    /// The limit at the last throttle decrease (CUBIC's `W_max`), until a probe passes it.
    throttled_at: Option<f64>,
    /// Rounds of requests per step while probing around `throttled_at`.
    probe_rounds: f64,
    /// The lowest and highest limit held, for [`ControllerStats`].
    lowest: usize,
    highest: usize,
    /// Successes, and the sum of the limits they found.
    successes: u64,
    limit_sum: f64,
}

impl Controller {
    /// A controller at its start value.
    #[must_use]
    pub fn new(cfg: ControllerConfig) -> Self {
        let floor = cfg.floor.max(1);
        let ceiling = cfg.ceiling.max(floor);
        let cfg = ControllerConfig {
            floor,
            ceiling,
            start: cfg.start.clamp(floor, ceiling),
            ..cfg
        };
        #[allow(clippy::cast_precision_loss, reason = "limits are small integers")]
        let limit = cfg.start as f64;
        Self {
            cfg,
            limit,
            slow_start: true,
            floors: HashMap::new(),
            last_decrease: None,
            throttles: 0,
            latency_decreases: 0,
            epoch: 0,
            throttled_at: None,
            probe_rounds: 1.0,
            lowest: cfg.start,
            highest: cfg.start,
            successes: 0,
            limit_sum: 0.0,
        }
    }

    /// Where the limit sat and what moved it, so far.
    #[must_use]
    pub fn stats(&self) -> ControllerStats {
        #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let mean = if self.successes == 0 {
            self.limit() as f64
        } else {
            self.limit_sum / self.successes as f64
        };
        ControllerStats {
            limit: self.limit(),
            lowest: self.lowest,
            highest: self.highest,
            mean,
            successes: self.successes,
            throttles: self.throttles,
            latency_decreases: self.latency_decreases,
        }
    }

    /// Records the limit now in the lowest and highest held.
    fn note_limit(&mut self) {
        let l = self.limit();
        self.lowest = self.lowest.min(l);
        self.highest = self.highest.max(l);
    }

    /// Requests allowed in flight now.
    #[must_use]
    pub fn limit(&self) -> usize {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to floor..=ceiling, both usize"
        )]
        let l = self.limit.floor() as usize;
        l.clamp(self.cfg.floor, self.cfg.ceiling)
    }

    /// Throttling signals seen.
    #[must_use]
    pub fn throttles(&self) -> u64 {
        self.throttles
    }

    /// Decreases made because latency climbed.
    #[must_use]
    pub fn latency_decreases(&self) -> u64 {
        self.latency_decreases
    }

    /// A request succeeded after `latency`.
    pub fn on_success(&mut self, class: RequestClass, latency: Duration, now: Instant) {
        self.successes += 1;
        #[allow(clippy::cast_precision_loss, reason = "limits are small integers")]
        let found = self.limit() as f64;
        self.limit_sum += found;
        let floor = self.floors.entry(class).or_insert(latency);
        *floor = floor.mul_f64(FLOOR_RELAX).min(latency);
        let floor = *floor;
        if latency > floor.mul_f64(self.cfg.latency_threshold) && floor > Duration::ZERO {
            if self.decrease(self.cfg.latency_factor, now) {
                self.latency_decreases += 1;
            }
            return;
        }
        #[allow(clippy::cast_precision_loss, reason = "limits are small integers")]
        let (start, ceiling) = (self.cfg.start as f64, self.cfg.ceiling as f64);
        let round = self.limit.max(1.0);
        match self.throttled_at {
            _ if self.slow_start && self.limit < start * SLOW_START_MULTIPLE => {
                self.limit += 1.0;
            }
            // Climbing back: fast, but not past one under where the gateway throttled.
            Some(w) if self.limit < w - 1.0 => {
                self.limit = (self.limit + RECOVERY_STEPS_PER_ROUND / round).min(w - 1.0);
            }
            // Probing around it: slowly; past it, the gateway has grown.
            Some(w) => {
                self.limit += 1.0 / (round * self.probe_rounds);
                if self.limit >= w + 1.0 {
                    self.throttled_at = None;
                    self.probe_rounds = 1.0;
                }
            }
            None => self.limit += 1.0 / round,
        }
        self.slow_start = self.slow_start && self.limit < start * SLOW_START_MULTIPLE;
        self.limit = self.limit.min(ceiling);
        self.note_limit();
    }

    /// The gateway signalled overload (503, 429, 5xx, timeout, reset).
    pub fn on_throttle(&mut self, now: Instant) {
        self.throttles += 1;
        self.throttle_decrease(now);
    }

    /// The decrease epoch: it moves on every decrease. A request records it when sent.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A request sent in `sent_epoch` was throttled. As TCP reacts to losses once per window,
    /// only a request sent after the last decrease can cause another one (the cooldown does
    /// not apply: a request sent at the reduced limit and still throttled is fresh evidence);
    /// throttles of requests that were already in flight are counted and otherwise ignored.
    pub fn on_throttle_sent_in(&mut self, sent_epoch: u64, now: Instant) {
        self.throttles += 1;
        if sent_epoch < self.epoch {
            return;
        }
        self.last_decrease = None;
        self.throttle_decrease(now);
    }

    /// The decrease on a throttling signal, remembering where it happened.
    fn throttle_decrease(&mut self, now: Instant) {
        let at = self.limit;
        if !self.decrease(self.cfg.throttle_factor, now) {
            return;
        }
        self.probe_rounds = match self.throttled_at {
            // Throttled again while probing the same level: probe more rarely.
            Some(w) if at >= w - 1.0 => (self.probe_rounds * 2.0).min(MAX_PROBE_ROUNDS),
            // Throttled well below it (the gateway shrank), or a first throttle.
            _ => 1.0,
        };
        self.throttled_at = Some(at);
    }

    /// Multiplies the limit by `factor` unless a decrease happened within the cooldown.
    fn decrease(&mut self, factor: f64, now: Instant) -> bool {
        if self
            .last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < self.cfg.cooldown)
        {
            return false;
        }
        self.slow_start = false;
        self.last_decrease = Some(now);
        self.epoch += 1;
        #[allow(clippy::cast_precision_loss, reason = "limits are small integers")]
        let floor = self.cfg.floor as f64;
        self.limit = (self.limit * factor).max(floor);
        self.note_limit();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn class() -> RequestClass {
        RequestClass::new(RequestKind::Write, 16 * 1024 * 1024)
    }

    #[test]
    fn grows_under_success_and_halves_on_throttle() {
        let mut c = Controller::new(ControllerConfig::with_ceiling(256));
        let t0 = Instant::now();
        assert_eq!(c.limit(), 16);
        for i in 0..2000 {
            c.on_success(class(), 10 * MS, t0 + MS * i);
        }
        let grown = c.limit();
        assert!(grown > 64, "limit after steady success: {grown}");
        c.on_throttle(t0 + Duration::from_secs(10));
        assert_eq!(c.limit(), grown / 2);
        // A burst within the cooldown counts once.
        for i in 1..20 {
            c.on_throttle(t0 + Duration::from_secs(10) + MS * i);
        }
        assert_eq!(c.limit(), grown / 2);
        assert_eq!(c.throttles(), 20);
    }

    #[test]
    fn stats_tell_where_the_limit_sat_and_what_moved_it() {
        let mut c = Controller::new(ControllerConfig::with_ceiling(64));
        let t0 = Instant::now();
        let s = c.stats();
        assert_eq!((s.limit, s.lowest, s.highest, s.successes), (16, 16, 16, 0));
        assert!((s.mean - 16.0).abs() < f64::EPSILON);
        // Slow start: the n-th success finds 16 + n - 1, up to the ceiling.
        for i in 0..48 {
            c.on_success(class(), 10 * MS, t0 + MS * i);
        }
        let s = c.stats();
        assert_eq!((s.limit, s.highest, s.successes), (64, 64, 48));
        assert!((s.mean - 39.5).abs() < 1e-9, "mean {}", s.mean);
        c.on_throttle(t0 + Duration::from_secs(1));
        c.on_success(class(), 100 * MS, t0 + Duration::from_secs(2));
        let s = c.stats();
        assert_eq!((s.limit, s.lowest, s.highest), (28, 16, 64));
        assert_eq!((s.throttles, s.latency_decreases, s.successes), (1, 1, 49));
        // After the start, the lowest is what a decrease left.
        c.on_throttle(t0 + Duration::from_secs(3));
        c.on_throttle(t0 + Duration::from_secs(4));
        assert_eq!(c.stats().lowest, 7);
    }

    #[test]
    fn reacts_once_per_window_of_requests() {
        let mut c = Controller::new(ControllerConfig::with_ceiling(64));
        let t0 = Instant::now();
        let old = c.epoch();
        c.on_throttle_sent_in(old, t0);
        assert_eq!(c.limit(), 8);
        // Requests that were in flight before the decrease do not decrease again...
        for _ in 0..10 {
            c.on_throttle_sent_in(old, t0);
        }
        assert_eq!(c.limit(), 8);
        // ...but one sent at the new limit does, at once.
        c.on_throttle_sent_in(c.epoch(), t0);
        assert_eq!(c.limit(), 4);
        assert_eq!(c.throttles(), 12);
    }

    #[test]
    fn latency_well_above_the_floor_shrinks_the_limit() {
        let mut c = Controller::new(ControllerConfig::with_ceiling(64));
        let t0 = Instant::now();
        for i in 0..200 {
            c.on_success(class(), 10 * MS, t0 + MS * i);
        }
        let before = c.limit();
        c.on_success(class(), 80 * MS, t0 + Duration::from_secs(5));
        assert!(c.limit() < before);
        assert_eq!(c.latency_decreases(), 1);
        // Another class has its own floor: a slow large PUT does not count against GETs.
        let small = RequestClass::new(RequestKind::Read, 1024);
        let l = c.limit();
        c.on_success(small, 2 * MS, t0 + Duration::from_secs(6));
        assert!(c.limit() >= l);
    }

    /// A gateway that admits `n` requests at once and throttles the rest at once, driven in
    /// rounds: each round the client fills its limit; throttles come back first, then the
    /// admitted requests succeed. Returns (requests, throttled, admitted) of the round.
    fn round(c: &mut Controller, n: usize, now: Instant) -> (usize, usize, usize) {
        let sent = c.limit();
        let epoch = c.epoch();
        let admitted = sent.min(n);
        for _ in admitted..sent {
            c.on_throttle_sent_in(epoch, now);
        }
        for _ in 0..admitted {
            c.on_success(class(), 10 * MS, now);
        }
        (sent, sent - admitted, admitted)
    }

    #[test]
    fn settles_at_a_hard_limit_with_few_throttles() {
        for n in [2usize, 4, 8, 16, 32] {
            let mut c = Controller::new(ControllerConfig::with_ceiling(64));
            let mut now = Instant::now();
            let (mut sent, mut throttled, mut admitted) = (0, 0, 0);
            for r in 0..4000 {
                now += 10 * MS;
                let (s, t, a) = round(&mut c, n, now);
                // Convergence: the first 1,000 rounds.
                if r >= 1000 {
                    (sent, throttled, admitted) = (sent + s, throttled + t, admitted + a);
                }
            }
            #[allow(clippy::cast_precision_loss, reason = "small counts")]
            let (share, use_) = (
                throttled as f64 / sent as f64,
                admitted as f64 / (3000 * n) as f64,
            );
            assert!(share < 0.01, "n = {n}: {share:.4} of requests throttled");
            assert!(
                use_ >= 0.9,
                "n = {n}: {use_:.3} of the gateway's capacity used"
            );
        }
    }

    #[test]
    fn follows_a_limit_that_moves() {
        let mut c = Controller::new(ControllerConfig::with_ceiling(64));
        let mut now = Instant::now();
        let mut run = |c: &mut Controller, n: usize, rounds: usize| -> Vec<usize> {
            (0..rounds)
                .map(|_| {
                    now += 10 * MS;
                    round(c, n, now);
                    c.limit()
                })
                .collect()
        };
        let at32 = run(&mut c, 32, 2000);
        assert!((28..=33).contains(&at32[1999]), "at 32: {}", at32[1999]);
        let at4 = run(&mut c, 4, 2000);
        let down = at4.iter().position(|&l| l <= 8).unwrap();
        assert!(down <= 5, "took {down} rounds to fall under 8");
        assert!(
            at4[1000..].iter().all(|&l| (2..=5).contains(&l)),
            "{:?}",
            &at4[1000..]
        );
        let back = run(&mut c, 32, 2000);
        let up = back.iter().position(|&l| l >= 16).unwrap();
        assert!(up <= 200, "took {up} rounds to climb back over 16");
        assert!(
            (28..=33).contains(&back[1999]),
            "back at 32: {}",
            back[1999]
        );
    }

    proptest! {
        #[test]
        fn limit_stays_in_bounds_and_never_reaches_zero(
            ceiling in 1usize..512,
            events in proptest::collection::vec((0u8..3, 1u64..500, 0u64..50), 0..400),
        ) {
            let cfg = ControllerConfig::with_ceiling(ceiling);
            let mut c = Controller::new(cfg);
            let mut now = Instant::now();
            for (kind, latency_ms, gap_ms) in events {
                now += MS * u32::try_from(gap_ms).unwrap();
                match kind {
                    0 => c.on_throttle(now),
                    _ => c.on_success(class(), MS * u32::try_from(latency_ms).unwrap(), now),
                }
                prop_assert!(c.limit() >= 1);
                prop_assert!(c.limit() >= cfg.floor && c.limit() <= ceiling.max(1));
            }
        }

        #[test]
        fn falls_on_a_throttle_burst_and_recovers_under_success(ceiling in 8usize..256) {
            let mut c = Controller::new(ControllerConfig::with_ceiling(ceiling));
            let mut now = Instant::now();
            // Additive increase needs about sum(limit) successes to climb: 256 · 256 / 2.
            for _ in 0..40_000 {
                now += MS;
                c.on_success(class(), 10 * MS, now);
            }
            let high = c.limit();
            prop_assert_eq!(high, ceiling);
            // A sustained overload: throttles spread over several cooldowns.
            for _ in 0..20 {
                now += Duration::from_millis(300);
                c.on_throttle(now);
            }
            prop_assert!(c.limit() < high.max(2));
            prop_assert!(c.limit() >= 1);
            for _ in 0..200_000 {
                now += MS;
                c.on_success(class(), 10 * MS, now);
                if c.limit() == ceiling { break; }
            }
            prop_assert_eq!(c.limit(), ceiling, "did not recover");
        }
    }
}
