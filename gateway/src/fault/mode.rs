//! What the proxy does wrong, and the seeded dice that decide which request it does it to.
//!
//! A [`FaultMode`] is plain data, read from and written as JSON by the control API. Its
//! decisions are a pure function of the mode's seed and the request's sequence number since
//! the mode was set ([`Dice`]), so a run with one seed throws the same faults at the same
//! (first, second, …) requests every time, whatever the timing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The faults the proxy injects. Every field is off by default; several may be on at once.
///
/// The JSON form is the body of `PUT /__fault/mode`, with the same field names, e.g.
/// `{"max_concurrent": 4}` or `{"error_rate": 0.1, "truncate_rate": 0.05, "seed": 7}`.
/// Unknown fields are refused, so a misspelt mode never silently means "no faults".
///
/// A request meets the checks in this order; the first that fires answers it:
///
/// 1. `max_body`: a declared `Content-Length` above it gets `413 EntityTooLarge`, the body
///    unread, and the connection is closed (after a lingering close, as nginx does, so the
///    client reads the answer instead of a reset);
/// 2. `max_body_reset`: a declared `Content-Length` above it has that many bytes of its body
///    read, then the connection is reset without an answer, as a router that drops the
///    connection instead of answering 413 does;
/// 3. `max_concurrent`: with that many requests already forwarded and unfinished, `503
///    SlowDown` (the body is read and dropped, the connection stays open, as RGW does);
/// 4. `error_rate`: `500 InternalError`, not forwarded (body read and dropped);
/// 5. `reset_rate`: a request with a body has part of it read, then the connection is reset
///    (TCP RST) without an answer and nothing forwarded; any other request is forwarded and its
///    answer broken by a reset: part of the response body then a reset, or, for an answer
///    without a body (HEAD, 204, an empty 200), a reset in place of the answer;
/// 6. `truncate_rate`: the answer's head is sent as the gateway wrote it (its full
///    `Content-Length`), then only part of its body, then the connection is closed (FIN);
///    answers without a body are left alone;
/// 7. `first_byte_delay_ms`: every forwarded answer waits this long before its head is sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultMode {
    /// At most this many requests forwarded and unfinished at once; above it, `503 SlowDown`,
    /// as RGW's `rgw max concurrent requests` answers. `0` throttles every request.
    pub max_concurrent: Option<u32>,
    /// Probability (0..=1) of answering `500 InternalError` instead of forwarding.
    pub error_rate: f64,
    /// Probability (0..=1) of resetting the connection mid-exchange.
    pub reset_rate: f64,
    /// Probability (0..=1) of sending only part of a response body, then closing.
    pub truncate_rate: f64,
    /// Milliseconds to wait before sending each forwarded response head.
    pub first_byte_delay_ms: u64,
    /// Largest request body (`Content-Length`) accepted; larger gets `413 EntityTooLarge`.
    pub max_body: Option<u64>,
    /// Largest request body (`Content-Length`) let through; above it, the connection is reset
    /// once this many bytes of the body arrived, with no answer.
    pub max_body_reset: Option<u64>,
    /// Seed of the dice: the same seed injects the same faults into the same (n-th) requests.
    pub seed: u64,
}

/// Why a [`FaultMode`] was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultModeError {
    /// The text is not the JSON of a mode (syntax, a wrong type, an unknown field).
    #[error("not a fault mode")]
    Json(#[source] serde_json::Error),
    /// A probability outside 0..=1 (or not a number).
    #[error("{field} is {value}, not a probability between 0 and 1")]
    Rate {
        /// The field name, e.g. `"error_rate"`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
}

impl FaultMode {
    /// Checks that every rate is a probability.
    pub fn validate(&self) -> Result<(), FaultModeError> {
        for (field, value) in [
            ("error_rate", self.error_rate),
            ("reset_rate", self.reset_rate),
            ("truncate_rate", self.truncate_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultModeError::Rate { field, value });
            }
        }
        Ok(())
    }

    /// The mode as one line of JSON, as `GET /__fault/mode` answers it.
    #[must_use]
    pub fn to_json(&self) -> String {
        // A struct of numbers and options always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl FromStr for FaultMode {
    type Err = FaultModeError;

    /// Parses and validates the JSON form, e.g. `{"error_rate": 0.1, "seed": 7}`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mode: FaultMode = serde_json::from_str(s).map_err(FaultModeError::Json)?;
        mode.validate()?;
        Ok(mode)
    }
}

impl fmt::Display for FaultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// One roll of the dice per decision; each has its own stream so that turning one fault on
/// does not move another's choices.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Roll {
    Error = 1,
    Reset = 2,
    ResetCut = 3,
    Truncate = 4,
    TruncateCut = 5,
    RequestId = 6,
}

/// The decisions for one request: a pure function of the mode's seed, the request's sequence
/// number since the mode was set, and the decision asked ([`Roll`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dice {
    seed: u64,
    seq: u64,
}

impl Dice {
    pub(crate) fn new(seed: u64, seq: u64) -> Self {
        Self { seed, seq }
    }

    /// A uniformly distributed 64-bit value for this request and decision.
    pub(crate) fn roll(self, roll: Roll) -> u64 {
        let stream = splitmix64(self.seq ^ (roll as u64).wrapping_mul(GOLDEN_GAMMA));
        splitmix64(self.seed ^ stream)
    }

    /// `true` with probability `p` (0..=1).
    pub(crate) fn chance(self, roll: Roll, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // The top 53 bits make an exact f64 in [0, 1).
        #[allow(
            clippy::cast_precision_loss,
            reason = "a 53-bit integer is exact in an f64"
        )]
        let unit = (self.roll(roll) >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }

    /// A value in `0..n` (`0` when `n` is `0`).
    pub(crate) fn below(self, roll: Roll, n: u64) -> u64 {
        if n == 0 { 0 } else { self.roll(roll) % n }
    }
}

/// The odd constant of SplitMix64 (2⁶⁴ / φ), which spreads consecutive inputs apart.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): a bijection of `u64` whose outputs pass BigCrush for counter inputs.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_defaults() {
        let mode: FaultMode = r#"{"max_concurrent": 4, "error_rate": 0.25, "seed": 9}"#
            .parse()
            .unwrap();
        assert_eq!(mode.max_concurrent, Some(4));
        assert!((mode.error_rate - 0.25).abs() < f64::EPSILON);
        assert_eq!(mode.max_body, None);
        assert_eq!(mode.first_byte_delay_ms, 0);
        assert_eq!(mode.to_json().parse::<FaultMode>().unwrap(), mode);
        assert_eq!("{}".parse::<FaultMode>().unwrap(), FaultMode::default());
    }

    #[test]
    fn refuses_unknown_fields_and_bad_rates() {
        assert!(matches!(
            r#"{"eror_rate": 0.1}"#.parse::<FaultMode>(),
            Err(FaultModeError::Json(_))
        ));
        assert!(matches!(
            r#"{"reset_rate": 1.5}"#.parse::<FaultMode>(),
            Err(FaultModeError::Rate {
                field: "reset_rate",
                ..
            })
        ));
        assert!(matches!(
            r#"{"truncate_rate": -0.1}"#.parse::<FaultMode>(),
            Err(FaultModeError::Rate { .. })
        ));
    }

    #[test]
    fn dice_are_deterministic_and_roughly_fair() {
        let hits = |seed: u64| -> Vec<bool> {
            (0..10_000)
                .map(|seq| Dice::new(seed, seq).chance(Roll::Error, 0.1))
                .collect()
        };
        assert_eq!(hits(7), hits(7));
        assert_ne!(hits(7), hits(8));
        let n = hits(7).iter().filter(|h| **h).count();
        assert!((800..1200).contains(&n), "{n} hits of 10000 at p = 0.1");
        assert!((0..100).all(|seq| !Dice::new(1, seq).chance(Roll::Reset, 0.0)));
        assert!((0..100).all(|seq| Dice::new(1, seq).chance(Roll::Reset, 1.0)));
        // Streams differ between decisions of one request.
        let d = Dice::new(3, 5);
        assert_ne!(d.roll(Roll::Reset), d.roll(Roll::Truncate));
        assert!((0..1000).all(|seq| Dice::new(3, seq).below(Roll::ResetCut, 10) < 10));
        assert_eq!(d.below(Roll::ResetCut, 0), 0);
    }

    /// The first `n` requests' fault under `mode`, as the proxy decides it: `E` 500, `R`
    /// reset, `T` truncation (where the answer has a body), `.` none.
    fn pattern(mode: &str, n: u64) -> String {
        let mode: FaultMode = mode.parse().unwrap();
        (0..n)
            .map(|seq| {
                let dice = Dice::new(mode.seed, seq);
                if dice.chance(Roll::Error, mode.error_rate) {
                    'E'
                } else if dice.chance(Roll::Reset, mode.reset_rate) {
                    'R'
                } else if dice.chance(Roll::Truncate, mode.truncate_rate) {
                    'T'
                } else {
                    '.'
                }
            })
            .collect()
    }

    /// The end-to-end suite (`tests/e2e/faults.rs`) aims faults at the n-th request with these
    /// seeds; if the dice change, pick new seeds there.
    #[test]
    fn seeds_of_the_end_to_end_suite() {
        assert_eq!(
            pattern(r#"{"error_rate": 0.05, "seed": 8}"#, 16),
            ".E.............."
        );
        assert_eq!(
            pattern(r#"{"reset_rate": 0.05, "seed": 9}"#, 16),
            ".R.............."
        );
        assert_eq!(
            pattern(r#"{"truncate_rate": 0.05, "seed": 54}"#, 16),
            ".....T.........."
        );
        assert_eq!(
            pattern(r#"{"truncate_rate": 0.05, "seed": 89}"#, 40),
            format!("T{}", ".".repeat(39))
        );
        let download =
            r#"{"error_rate": 0.2, "reset_rate": 0.2, "truncate_rate": 0.2, "seed": 36}"#;
        assert_eq!(&pattern(download, 12), ".RT.ETR.T.EE");
    }
}
