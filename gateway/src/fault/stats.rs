//! What the proxy saw and did: counters shared by every connection, their snapshot
//! ([`FaultStats`]), and the guards that count requests in flight.
//!
//! Per-operation counters ([`OpStats`]) are a fixed table of atomics indexed by [`S3Op`],
//! bumped next to the totals they split (one more relaxed atomic add per count, no lock); the
//! map of [`FaultStats::ops`] is built only by [`Counters::snapshot`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ops::S3Op;

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
    /// The same traffic split by S3 operation, keyed by the operation's name
    /// ([`S3Op::as_str`], e.g. `"PutObject"`, `"Other"`), as the proxy classifies requests
    /// (path-style addressing; see [`S3Op`]). Only operations seen at least once are present.
    /// Summed over the operations, `requests`, `bytes_up` and `bytes_down` equal the totals
    /// above (exactly once no request is in flight; a snapshot taken mid-request may read one
    /// counter before the other).
    #[serde(default)]
    pub ops: BTreeMap<String, OpStats>,
}

/// What passed through the proxy for one S3 operation: a value of [`FaultStats::ops`].
///
/// An answer counts in `ok` or `throttled` when the proxy sends its head, whether the proxy
/// wrote it (a fault) or forwards the gateway's, unless the proxy then cuts its body short
/// (`reset_rate`, `truncate_rate`): the client did not get that answer. Requests that got no
/// answer at all (a reset instead of it) count in `requests` only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpStats {
    /// Requests received, every one: forwarded or answered by the proxy with a fault.
    pub requests: u64,
    /// Answers with a `2xx` status sent to the client.
    pub ok: u64,
    /// Answers with `503` or `429` sent to the client: the proxy's `SlowDown` (`max_concurrent`)
    /// or the upstream gateway's own, passed on.
    pub throttled: u64,
    /// Request body bytes passed to the upstream gateway (bodies of requests the proxy
    /// answered itself are read and dropped, not counted).
    pub bytes_up: u64,
    /// Response body bytes from the upstream gateway passed to the client, as [`FaultStats`]'s
    /// `bytes_down`: the bodies of the proxy's own error answers are not counted, and of a cut
    /// body only the bytes sent.
    pub bytes_down: u64,
}

impl FaultStats {
    /// The stats as one line of JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Integers and a map with string keys: always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The counters of one operation (all zero when it was never seen).
    #[must_use]
    pub fn op(&self, op: S3Op) -> OpStats {
        self.ops.get(op.as_str()).copied().unwrap_or_default()
    }
}

/// The live counters behind [`FaultStats`]. `requests`, `bytes_up` and `bytes_down` are
/// split per operation in `ops` and change only through the `count_*` methods, which keep
/// the two in step.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
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
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    admitted: AtomicU64,
    max_admitted: AtomicU64,
    ops: OpTable,
}

/// The live counters behind one [`OpStats`].
#[derive(Debug, Default)]
struct OpCounters {
    requests: AtomicU64,
    ok: AtomicU64,
    throttled: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

/// One [`OpCounters`] per [`S3Op`], at [`S3Op::index`].
#[derive(Debug)]
struct OpTable([OpCounters; S3Op::ALL.len()]);

impl Default for OpTable {
    fn default() -> Self {
        Self(std::array::from_fn(|_| OpCounters::default()))
    }
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
    fn op(&self, op: S3Op) -> &OpCounters {
        &self.ops.0[op.index()]
    }

    /// Counts a request received for `op`; returns how many requests came before it.
    pub(crate) fn count_request(&self, op: S3Op) -> u64 {
        bump(&self.op(op).requests);
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts an answer for `op` whose head goes to the client with `status`, in `ok` or
    /// `throttled` (other statuses are not counted per operation).
    pub(crate) fn count_answer(&self, op: S3Op, status: StatusCode) {
        if status.is_success() {
            bump(&self.op(op).ok);
        } else if status == StatusCode::SERVICE_UNAVAILABLE
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            bump(&self.op(op).throttled);
        }
    }

    /// Counts `n` request body bytes of `op` passed to the upstream.
    pub(crate) fn count_up(&self, op: S3Op, n: u64) {
        add(&self.bytes_up, n);
        add(&self.op(op).bytes_up, n);
    }

    /// Counts `n` upstream response body bytes of `op` passed to the client.
    pub(crate) fn count_down(&self, op: S3Op, n: u64) {
        add(&self.bytes_down, n);
        add(&self.op(op).bytes_down, n);
    }

    pub(crate) fn snapshot(&self) -> FaultStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let ops = S3Op::ALL
            .iter()
            .map(|&op| {
                let c = self.op(op);
                let stats = OpStats {
                    requests: get(&c.requests),
                    ok: get(&c.ok),
                    throttled: get(&c.throttled),
                    bytes_up: get(&c.bytes_up),
                    bytes_down: get(&c.bytes_down),
                };
                (op, stats)
            })
            .filter(|(_, stats)| *stats != OpStats::default())
            .map(|(op, stats)| (op.as_str().to_owned(), stats))
            .collect();
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
            ops,
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

    #[test]
    fn operations_split_the_totals_and_only_seen_ones_are_listed() {
        let c = Counters::default();
        assert!(c.snapshot().ops.is_empty());
        assert_eq!(c.count_request(S3Op::PutObject), 0);
        assert_eq!(c.count_request(S3Op::PutObject), 1);
        assert_eq!(c.count_request(S3Op::GetObject), 2);
        c.count_up(S3Op::PutObject, 10);
        c.count_up(S3Op::PutObject, 5);
        c.count_down(S3Op::GetObject, 7);
        for status in [200, 204, 206, 503, 429, 404, 500, 413, 502] {
            c.count_answer(S3Op::GetObject, StatusCode::from_u16(status).unwrap());
        }
        let s = c.snapshot();
        assert_eq!((s.requests, s.bytes_up, s.bytes_down), (3, 15, 7));
        let put = OpStats {
            requests: 2,
            ok: 0,
            throttled: 0,
            bytes_up: 15,
            bytes_down: 0,
        };
        let get = OpStats {
            requests: 1,
            ok: 3,
            throttled: 2,
            bytes_up: 0,
            bytes_down: 7,
        };
        assert_eq!(s.op(S3Op::PutObject), put);
        assert_eq!(s.op(S3Op::GetObject), get);
        assert_eq!(s.op(S3Op::HeadObject), OpStats::default());
        assert_eq!(s.ops.len(), 2);
        let json = s.to_json();
        assert!(
            json.ends_with(
                r#""ops":{"GetObject":{"requests":1,"ok":3,"throttled":2,"bytes_up":0,"bytes_down":7},"PutObject":{"requests":2,"ok":0,"throttled":0,"bytes_up":15,"bytes_down":0}}}"#
            ),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<FaultStats>(&json).unwrap(), s);
        // Stats without per-operation counts still read.
        let old = json.split(r#","ops""#).next().unwrap().to_owned() + "}";
        assert!(
            serde_json::from_str::<FaultStats>(&old)
                .unwrap()
                .ops
                .is_empty()
        );
    }
}
