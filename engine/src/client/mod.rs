//! The S3 client: the one place where the protocol ([`crate::s3`]), the network
//! ([`crate::transport`]) and the retry and concurrency policy ([`crate::congestion`]) meet.
//!
//! Every S3 operation is one async method. Each attempt takes a permit from the gateway's
//! [`Limiter`], builds the request with the pure `s3` builder, signs it with the current time,
//! sends it, and on failure asks [`congestion::classify`] whether to wait and try again. Bodies
//! held in memory (`Bytes`) are sent again on retry; streamed bodies are sent once, and their
//! callers retry at a higher level. This module does not walk directories or plan parts: read
//! `transfer` next.

mod fanout;
mod operations;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::congestion::{
    self, Backoff, ControllerConfig, Decision, Failure, Limiter, Permit, RequestClass, RequestKind,
    RetryBudget,
};
use crate::error::{Error, Target};
use crate::progress::{self, Event, Progress};
use crate::s3::{self, Credentials, Endpoint, PayloadHash, ResourceKind, RetryAfter, S3Error};
use crate::transport::{Body, FailureKind, ResponseBody, Transport, TransportConfig};

pub use fanout::{DEFAULT_LIST_FANOUT, ListFanout, ListedPages, MAX_LIST_FANOUT, list_in_order};
pub use operations::{BucketInfo, GetObject, ListCursor, ListPager, PutOptions};

/// Largest error body read from a failed response. S3 error documents are a few hundred
/// bytes; a proxy's HTML error page a few KiB. Chosen: 64 KiB.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Largest XML answer read for one listing or multipart page. A 1,000-key ListObjectsV2 page
/// with 1 KiB keys is about 1.3 MiB; chosen: 16 MiB, so a hostile gateway cannot make haul
/// buffer without bound.
pub(crate) const MAX_XML_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Operations whose `200 OK` a gateway may rightly keep open while it works, sending
/// whitespace now and then until the answer (AWS for CopyObject and CompleteMultipartUpload,
/// RGW's `<Progress>` during a copy; a large DeleteObjects can take long too): their answer is
/// bounded by the idle timeout only, not by `--answer-timeout`.
const SLOW_ANSWERS: &[&str] = &["CompleteMultipartUpload", "CopyObject", "DeleteObjects"];

/// Everything needed to talk to one gateway.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway.
    pub endpoint: Endpoint,
    /// Credentials; `None` sends anonymous requests.
    pub credentials: Option<Credentials>,
    /// Timeouts, pool and TLS.
    pub transport: TransportConfig,
    /// How many requests may be in flight: the adaptive controller's floor, start and ceiling
    /// (`--concurrency`).
    pub controller: ControllerConfig,
    /// Retry backoff.
    pub backoff: Backoff,
}

/// A client for one gateway; cheap to clone, shared by every transfer of a run.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    credentials: Option<Credentials>,
    transport: Transport,
    limiter: Limiter,
    backoff: Backoff,
    budget: RetryBudget,
    progress: Progress,
    requests: Mutex<BTreeMap<&'static str, u64>>,
    /// Set once the gateway showed it does not understand ListObjectsV2.
    list_v1: std::sync::atomic::AtomicBool,
    /// The largest request body the gateway has accepted in this run: a connection that
    /// breaks while a body no larger is sent is not a body limit.
    largest_body_ok: std::sync::atomic::AtomicU64,
}

/// Request bodies larger than this whose connection breaks mid-send, twice, are taken for a
/// router's body limit ([`Error::BodyCut`]). Chosen: the 5 MiB S3 minimum part, the smallest
/// body a transfer can fall back to; routers' limits are megabytes (nginx's default is 1 MiB,
/// Deis's router 1 MiB until raised).
const BODY_CUT_MIN_BYTES: u64 = 5 * 1024 * 1024;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// A successful response whose body has not been read yet. It holds its request permit until
/// dropped, so a streaming download counts as in flight while its body arrives.
#[derive(Debug)]
pub struct ClientResponse {
    /// Response headers.
    pub headers: http::HeaderMap,
    /// HTTP status (2xx).
    pub status: http::StatusCode,
    body: ResponseBody,
    operation: &'static str,
    target: Target,
    _permit: Permit,
}

impl ClientResponse {
    /// The next body chunk, `None` at the end.
    ///
    /// # Errors
    /// A transport error (reset, idle timeout), with the operation and object named.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        let operation = self.operation;
        let target = &self.target;
        self.body.chunk().await.map(|r| {
            r.map_err(|source| Error::Transport {
                operation,
                target: target.clone(),
                source,
            })
        })
    }

    /// The whole body, at most `max_bytes`.
    ///
    /// # Errors
    /// As [`ClientResponse::chunk`], or when the body is larger than `max_bytes`.
    pub async fn bytes(self, max_bytes: usize) -> Result<Bytes, Error> {
        let operation = self.operation;
        let target = self.target;
        self.body
            .collect_limited(max_bytes)
            .await
            .map_err(|source| Error::Transport {
                operation,
                target,
                source,
            })
    }
}

/// What an attempt sends as its body. Bodies are held in memory (a part at most, within the
/// memory budget) so that a retry sends the same bytes again; objects larger than a part are
/// multipart uploads.
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// An in-memory body, re-sent on retry, with how it is signed.
    Bytes(Bytes, PayloadHash),
}

impl Payload {
    fn hash(&self) -> PayloadHash {
        match self {
            Payload::Empty => PayloadHash::Empty,
            Payload::Bytes(_, h) => h.clone(),
        }
    }

    fn body(&self) -> Body {
        match self {
            Payload::Empty => Body::empty(),
            Payload::Bytes(b, _) => Body::full(b.clone()),
        }
    }
}

/// What a successful attempt gives: a response to stream, or a small answer already read.
enum Answer {
    Streaming(ClientResponse),
    Read(http::HeaderMap, Bytes),
}

/// A transport failure as the retry policy sees it, and the error to report.
fn transport_failure(
    call: &Call,
    source: crate::transport::TransportError,
) -> (Failure, Error, Option<Duration>) {
    let failure = match source.kind {
        FailureKind::Connect => Failure::Connect,
        FailureKind::Timeout(_) => Failure::Timeout,
        FailureKind::Reset | FailureKind::Other => Failure::Reset,
        FailureKind::Tls => Failure::Tls,
        FailureKind::BodySource => Failure::BodySource,
        FailureKind::TooLarge => Failure::ResponseTooLarge,
    };
    let error = Error::Transport {
        operation: call.operation,
        target: call.target.clone(),
        source,
    };
    (failure, error, None)
}

/// The latency class of a request: object reads (by the bytes expected back), object writes
/// (by body size), the rest.
fn request_class(call: &Call, payload: &Payload) -> RequestClass {
    let sent = match payload {
        Payload::Bytes(b, _) => b.len() as u64,
        Payload::Empty => 0,
    };
    let bytes = sent.max(call.expected_bytes);
    let kind = match call.operation {
        "GetObject" => RequestKind::Read,
        "PutObject" | "UploadPart" => RequestKind::Write,
        _ => RequestKind::Meta,
    };
    RequestClass::new(kind, bytes)
}

/// The bytes a `GetObject` is expected to carry: the range's length when bounded, else the
/// listed length of the object, else 0 (unknown).
fn expected_read_bytes(range: Option<s3::ByteRange>, listed_len: Option<u64>) -> u64 {
    range
        .and_then(|r| r.len_bytes())
        .or(listed_len)
        .unwrap_or(0)
}

/// What one call is about, for errors and retry decisions.
pub(crate) struct Call {
    pub(crate) operation: &'static str,
    pub(crate) target: Target,
    pub(crate) resource: ResourceKind,
    pub(crate) idempotent: bool,
    /// Bytes the answer is expected to carry (a read's range, or the listed size of an object
    /// fetched whole); 0 when unknown. Only the latency class uses it.
    pub(crate) expected_bytes: u64,
}

impl Client {
    /// Builds a client.
    ///
    /// # Errors
    /// When the TLS settings cannot be used (an unreadable CA bundle).
    pub fn new(config: ClientConfig, progress: Progress) -> Result<Self, Error> {
        let mut transport_config = config.transport;
        transport_config.pool_max_idle_per_host = config.controller.ceiling.max(1);
        // Every request goes to the endpoint's scheme: a plain-http gateway needs no roots.
        transport_config.tls.skip_system_roots |= config.endpoint.scheme() == s3::Scheme::Http;
        let transport = Transport::new(transport_config).map_err(|source| Error::Transport {
            operation: "connect",
            target: Target::default(),
            source,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint: config.endpoint,
                credentials: config.credentials,
                transport,
                limiter: Limiter::with_config(config.controller),
                backoff: config.backoff,
                budget: RetryBudget::default(),
                progress,
                requests: Mutex::new(BTreeMap::new()),
                list_v1: std::sync::atomic::AtomicBool::new(false),
                largest_body_ok: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// A client with default settings and no progress reporting.
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn with_defaults(
        endpoint: Endpoint,
        credentials: Option<Credentials>,
    ) -> Result<Self, Error> {
        Self::new(
            ClientConfig {
                endpoint,
                credentials,
                transport: TransportConfig::default(),
                controller: ControllerConfig::with_ceiling(16),
                backoff: Backoff::default(),
            },
            progress::silent(),
        )
    }

    /// The gateway this client talks to.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The request limiter shared by every transfer on this gateway.
    #[must_use]
    pub fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// Requests sent so far, per S3 operation (retries included).
    #[must_use]
    pub fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records that the gateway accepted a request body of `len` bytes.
    fn body_passed(&self, len: u64) {
        if len > 0 {
            self.inner.largest_body_ok.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Sends one call, retrying as the policy says; returns the successful response, whose
    /// body the caller streams (object data).
    pub(crate) async fn execute(
        &self,
        call: &Call,
        build: impl Fn(&Endpoint) -> Result<http::Request<()>, s3::RequestError>,
        payload: Payload,
    ) -> Result<ClientResponse, Error> {
        match self.attempt_loop(call, build, payload, false).await? {
            Answer::Streaming(r) => Ok(r),
            Answer::Read(_, _) => Err(Error::Integrity {
                what: "internal: a read answer where a stream was asked for".to_owned(),
            }),
        }
    }

    /// Sends one call whose answer is a small document (XML, at most 16 MiB) and reads it
    /// inside the retry loop: a 200 whose body breaks off is retried like any other failure
    /// (a listing cut mid-page, a CompleteMultipartUpload answer lost on the way).
    pub(crate) async fn execute_read(
        &self,
        call: &Call,
        build: impl Fn(&Endpoint) -> Result<http::Request<()>, s3::RequestError>,
        payload: Payload,
    ) -> Result<(http::HeaderMap, Bytes), Error> {
        match self.attempt_loop(call, build, payload, true).await? {
            Answer::Read(h, b) => Ok((h, b)),
            Answer::Streaming(_) => Err(Error::Integrity {
                what: "internal: a stream where a read answer was asked for".to_owned(),
            }),
        }
    }

    async fn attempt_loop(
        &self,
        call: &Call,
        build: impl Fn(&Endpoint) -> Result<http::Request<()>, s3::RequestError>,
        payload: Payload,
        read_body: bool,
    ) -> Result<Answer, Error> {
        let inner = &*self.inner;
        let hash = payload.hash();
        let body_len = match &payload {
            Payload::Bytes(b, _) => b.len() as u64,
            Payload::Empty => 0,
        };
        let mut cuts: u32 = 0;
        let mut suspect_cut;
        let mut attempt: u32 = 0;
        let started = std::time::Instant::now();
        loop {
            attempt += 1;
            let permit = inner.limiter.acquire().await;
            let mut req = build(&inner.endpoint).map_err(|source| Error::Request {
                operation: call.operation,
                target: call.target.clone(),
                source,
            })?;
            if let Some(creds) = &inner.credentials {
                s3::sign(
                    &mut req,
                    creds,
                    inner.endpoint.region(),
                    &hash,
                    SystemTime::now(),
                )
                .map_err(|source| Error::Sign {
                    operation: call.operation,
                    target: call.target.clone(),
                    source,
                })?;
            }
            let req = req.map(|()| payload.body());
            *inner
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(call.operation)
                .or_insert(0) += 1;
            tracing::debug!(op = call.operation, target = %call.target, attempt, "request");
            suspect_cut = false;
            let (failure, error, retry_after) = match inner.transport.send(req).await {
                Ok(resp) if resp.status.is_success() && read_body => {
                    let deadline = (!SLOW_ANSWERS.contains(&call.operation))
                        .then_some(inner.transport.config().answer_timeout);
                    match resp.body.collect_within(MAX_XML_BODY_BYTES, deadline).await {
                        Ok(body) => {
                            self.body_passed(body_len);
                            inner.budget.deposit();
                            inner
                                .limiter
                                .on_success(request_class(call, &payload), permit.elapsed());
                            return Ok(Answer::Read(resp.headers, body));
                        }
                        Err(source) => transport_failure(call, source),
                    }
                }
                Ok(resp) if resp.status.is_success() => {
                    self.body_passed(body_len);
                    inner.budget.deposit();
                    inner
                        .limiter
                        .on_success(request_class(call, &payload), permit.elapsed());
                    return Ok(Answer::Streaming(ClientResponse {
                        headers: resp.headers,
                        status: resp.status,
                        body: resp.body,
                        operation: call.operation,
                        target: call.target.clone(),
                        _permit: permit,
                    }));
                }
                Ok(resp) => {
                    let status = resp.status.as_u16();
                    // A body we cannot read still leaves the status and headers to go on.
                    let body = resp
                        .body
                        .collect_limited(MAX_ERROR_BODY_BYTES)
                        .await
                        .unwrap_or_default();
                    // The wrapping Error names the bucket and key; the S3Error keeps only
                    // what the gateway said.
                    let err =
                        S3Error::from_response_for(call.resource, status, &resp.headers, &body);
                    let failure = Failure::Status {
                        status,
                        slow_down: err.code == s3::S3ErrorCode::SlowDown,
                        request_timeout: err.code == s3::S3ErrorCode::RequestTimeout,
                    };
                    let retry_after = err.retry_after.map(|ra| match ra {
                        RetryAfter::Delay(d) => d,
                        RetryAfter::At(t) => t
                            .duration_since(SystemTime::now())
                            .unwrap_or(Duration::ZERO),
                    });
                    let error = Error::S3 {
                        operation: call.operation,
                        target: call.target.clone(),
                        source: Box::new(err),
                    };
                    (failure, error, retry_after)
                }
                Err(source) => {
                    // A large body cut off twice, larger than any the gateway accepted in this
                    // run: a router's limit, not bad luck. Retrying would only cut it again.
                    if source.while_sending()
                        && body_len > BODY_CUT_MIN_BYTES
                        && body_len > inner.largest_body_ok.load(Ordering::Relaxed)
                    {
                        cuts += 1;
                        suspect_cut = true;
                        if cuts >= 2 {
                            return Err(Error::BodyCut {
                                operation: call.operation,
                                target: call.target.clone(),
                                bytes: body_len,
                                source,
                            });
                        }
                    }
                    transport_failure(call, source)
                }
            };
            let epoch = permit.epoch();
            drop(permit);
            let decision = congestion::classify(failure, call.idempotent);
            let Decision::Retry { congestion } = decision else {
                return Err(error);
            };
            // A large body cut off mid-send may be a router's body limit, not overload: the
            // concurrency is left alone (a second cut ends the call as a body limit).
            if congestion && !suspect_cut {
                inner.limiter.on_throttle(epoch);
            }
            // The budget caps retries at a fraction of successes; when it is spent, a retry
            // waits for successes to refill it (up to the backoff cap) rather than failing an
            // object a shrinking limit would have carried through.
            if attempt >= inner.backoff.max_attempts
                || !inner.budget.spend_or_wait(inner.backoff.cap).await
            {
                tracing::warn!(attempt, "giving up: {error}");
                return Err(error);
            }
            let delay = inner.backoff.delay(attempt, retry_after, &mut rand::rng());
            // Nothing listening: retry only within the connect timeout, so a wrong endpoint
            // is reported promptly while a gateway that is restarting is waited for briefly.
            if failure == Failure::Connect
                && started.elapsed() + delay > inner.transport.config().connect_timeout
            {
                return Err(error);
            }
            inner.limiter.on_retry();
            tracing::warn!(attempt, ?delay, "retrying: {error}");
            inner.progress.emit(Event::Retry {
                operation: call.operation,
                attempt: attempt + 1,
                reason: error.to_string(),
            });
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::ByteRange;

    fn get(expected_bytes: u64) -> Call {
        Call {
            operation: "GetObject",
            target: Target::default(),
            resource: ResourceKind::Object,
            idempotent: true,
            expected_bytes,
        }
    }

    #[test]
    fn reads_are_classed_by_the_bytes_they_bring_back() {
        const MIB: u64 = 1024 * 1024;
        let range = ByteRange::new(16 * MIB, 32 * MIB - 1).unwrap();
        let ranged = request_class(
            &get(expected_read_bytes(Some(range), None)),
            &Payload::Empty,
        );
        assert_eq!(ranged, RequestClass::new(RequestKind::Read, 16 * MIB));
        assert_eq!(ranged.size_log2, 25);
        // A range wins over the listed size: a resumed range asks for fewer bytes.
        let tail = ByteRange::new(0, 1023).unwrap();
        assert_eq!(expected_read_bytes(Some(tail), Some(16 * MIB)), 1024);
        let small = request_class(&get(expected_read_bytes(None, Some(1024))), &Payload::Empty);
        assert_eq!(small.size_log2, 11);
        assert_ne!(
            small, ranged,
            "a 1 KiB GET and a 16 MiB range share a latency floor"
        );
        // An open range or an unknown length: no size to go on.
        let open = ByteRange::from_offset(5);
        assert_eq!(expected_read_bytes(Some(open), None), 0);
        assert_eq!(expected_read_bytes(None, None), 0);
    }

    #[test]
    fn writes_are_classed_by_their_body() {
        let put = Call {
            operation: "UploadPart",
            ..get(0)
        };
        let body = Payload::Bytes(Bytes::from(vec![0u8; 5 << 20]), PayloadHash::Unsigned);
        let class = request_class(&put, &body);
        assert_eq!(class, RequestClass::new(RequestKind::Write, 5 << 20));
        let list = Call {
            operation: "ListObjectsV2",
            ..get(0)
        };
        assert_eq!(
            request_class(&list, &Payload::Empty).kind,
            RequestKind::Meta
        );
    }
}
