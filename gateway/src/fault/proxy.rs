//! The proxy itself: one hyper HTTP/1.1 server connection per client connection, each request
//! judged by the mode ([`FaultMode`]'s order of checks) and, unless a fault answers it,
//! forwarded through a pooled hyper-util client to the upstream gateway.
//!
//! Forwarding keeps the request as signed: method, path and query byte for byte, every
//! end-to-end header (the client's `Host` included, so a SigV4 signature over it still
//! verifies upstream); only hop-by-hop headers (RFC 9110 §7.6.1) are dropped, as any proxy
//! does. Bodies stream both ways, never buffered whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version, header};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

use super::FaultMode;
use super::body::{Cut, CutAt, CutKind, FaultError, ProxyBody, S3ErrorReply, UpBody};
use super::conn::{self, ConnFaults, FaultIo};
use super::mode::{Dice, Roll};
use super::ops::S3Op;
use super::stats::{Admitted, Counters, InFlight, bump};

/// Longest the proxy waits for a TCP connection to the upstream gateway.
///
/// Chosen: haul's default `--connect-timeout`, so the proxy never gives up on its upstream
/// before the client would give up on the proxy.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle upstream connections are dropped from the pool after this long.
///
/// Chosen: well below the 65 s after which the embedded gateway and RGW close idle
/// connections, so the proxy never sends a request on a connection the gateway is closing.
const UPSTREAM_POOL_IDLE: Duration = Duration::from_secs(30);

/// The mode in force and how many requests it has judged (the dice's sequence numbers).
pub(crate) struct Epoch {
    pub(crate) mode: FaultMode,
    next_seq: AtomicU64,
}

/// What every connection of one proxy shares.
pub(crate) struct Shared {
    pub(crate) counters: Arc<Counters>,
    epoch: Mutex<Arc<Epoch>>,
    client: Client<HttpConnector, UpBody>,
    scheme: Scheme,
    authority: Authority,
}

impl Shared {
    pub(crate) fn new(scheme: Scheme, authority: Authority, mode: FaultMode) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(UPSTREAM_CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(UPSTREAM_POOL_IDLE)
            .build(connector);
        Self {
            counters: Arc::new(Counters::default()),
            epoch: Mutex::new(Arc::new(Epoch {
                mode,
                next_seq: AtomicU64::new(0),
            })),
            client,
            scheme,
            authority,
        }
    }

    /// The mode in force.
    pub(crate) fn mode(&self) -> FaultMode {
        self.epoch().mode.clone()
    }

    /// Replaces the mode; the dice start again at the first request (sequence number 0).
    pub(crate) fn set_mode(&self, mode: FaultMode) {
        let epoch = Arc::new(Epoch {
            mode,
            next_seq: AtomicU64::new(0),
        });
        *self.epoch.lock().unwrap_or_else(PoisonError::into_inner) = epoch;
    }

    fn epoch(&self) -> Arc<Epoch> {
        Arc::clone(&self.epoch.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Serves one client connection until it closes or `stop`; then carries out a lingering close
/// if a request asked for one.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    let faults = Arc::new(ConnFaults::default());
    let (linger_tx, linger_rx) = oneshot::channel();
    let io = FaultIo::new(stream, Arc::clone(&faults), linger_tx);
    let result = {
        let handler = service_fn(move |req| handle(Arc::clone(&shared), Arc::clone(&faults), req));
        let conn = http1::Builder::new()
            .keep_alive(true)
            .timer(TokioTimer::new())
            .header_read_timeout(conn::IDLE_TIMEOUT)
            .serve_connection(TokioIo::new(io), handler);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => result,
            () = conn::stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
        // The connection, and with it the socket, is dropped here.
    };
    match result {
        Ok(()) => tracing::trace!("connection closed"),
        Err(err) => tracing::debug!(error = %err, "connection ended with an error"),
    }
    if let Ok(stream) = linger_rx.await {
        conn::lingering_close(stream, stop).await;
    }
}

/// One request: judged, then answered by a fault or forwarded.
async fn handle(
    shared: Arc<Shared>,
    faults: Arc<ConnFaults>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, FaultError> {
    let counters = Arc::clone(&shared.counters);
    let op = S3Op::classify(req.method(), req.uri(), req.headers());
    let nth = counters.count_request(op);
    let in_flight = InFlight::enter(&counters);
    let epoch = shared.epoch();
    let mode = &epoch.mode;
    let seq = epoch.next_seq.fetch_add(1, Ordering::Relaxed);
    let dice = Dice::new(mode.seed, seq);
    // Unique over the proxy's life, whatever the mode and seed.
    let request_id = format!("{:016X}", Dice::new(0, nth).roll(Roll::RequestId));
    let declared_len = content_length(req.headers());
    // The path only: a presigned query string carries a signature.
    tracing::debug!(seq, %op, method = %req.method(), path = req.uri().path(), "request");

    // 1. The body limit, judged on the declared length alone.
    if let (Some(max), Some(len)) = (mode.max_body, declared_len)
        && len > max
    {
        bump(&counters.too_large);
        tracing::debug!(seq, len, max, "fault: 413 EntityTooLarge");
        faults.linger();
        drop(req);
        return Ok(S3ErrorReply {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "EntityTooLarge",
            message: "Your proposed upload exceeds the maximum allowed object size.",
            extra_xml: format!(
                "<ProposedSize>{len}</ProposedSize><MaxSizeAllowed>{max}</MaxSizeAllowed>"
            ),
            request_id: &request_id,
            close: true,
        }
        .into_response(counters, op, in_flight));
    }

    // 2. A limit that drops the connection instead of answering.
    if let (Some(max), Some(len)) = (mode.max_body_reset, declared_len)
        && len > max
    {
        tracing::debug!(seq, len, max, "fault: reset after {max} bytes of the body");
        read_some(req.into_body(), max).await;
        faults.reset();
        bump(&counters.body_resets);
        return Err(FaultError::Injected(
            "connection reset mid-body (body limit)",
        ));
    }

    // 3. The concurrency limit.
    let Some(admitted) = Admitted::try_enter(&counters, mode.max_concurrent) else {
        bump(&counters.slow_downs);
        tracing::debug!(seq, "fault: 503 SlowDown");
        discard(req.into_body());
        return Ok(S3ErrorReply {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "SlowDown",
            message: "Please reduce your request rate.",
            extra_xml: String::new(),
            request_id: &request_id,
            close: false,
        }
        .into_response(counters, op, in_flight));
    };

    // 4. Random internal errors.
    if dice.chance(Roll::Error, mode.error_rate) {
        bump(&counters.internal_errors);
        tracing::debug!(seq, "fault: 500 InternalError");
        discard(req.into_body());
        return Ok(S3ErrorReply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalError",
            message: "We encountered an internal error. Please try again.",
            extra_xml: String::new(),
            request_id: &request_id,
            close: false,
        }
        .into_response(counters, op, in_flight));
    }

    // 5. Resets: a request body is broken on its way in, nothing forwarded.
    let reset = dice.chance(Roll::Reset, mode.reset_rate);
    let truncate = !reset && dice.chance(Roll::Truncate, mode.truncate_rate);
    if reset && !req.body().is_end_stream() {
        let cut = match declared_len {
            Some(len) if len >= 2 => 1 + dice.below(Roll::ResetCut, len - 1),
            Some(_) => 0,
            None => 1,
        };
        tracing::debug!(seq, cut, "fault: reset after part of the request body");
        read_some(req.into_body(), cut).await;
        faults.reset();
        bump(&counters.resets);
        return Err(FaultError::Injected("connection reset mid-request"));
    }

    // Forward.
    let method = req.method().clone();
    let upstream_req = match upstream_request(&shared, req, op) {
        Ok(r) => r,
        Err(err) => {
            tracing::debug!(error = %err, "cannot build the upstream request");
            return Ok(bad_gateway(&counters, op, in_flight, &request_id));
        }
    };
    let resp = match shared.client.request(upstream_req).await {
        Ok(resp) => resp,
        Err(err) => {
            tracing::debug!(error = ?err, "upstream request failed");
            return Ok(bad_gateway(&counters, op, in_flight, &request_id));
        }
    };
    bump(&counters.forwarded);
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
        bump(&counters.upstream_slow_downs);
    }

    // 7. A slow first byte.
    if mode.first_byte_delay_ms > 0 {
        bump(&counters.delayed);
        tokio::time::sleep(Duration::from_millis(mode.first_byte_delay_ms)).await;
    }

    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let has_body = method != Method::HEAD
        && !parts.status.is_informational()
        && parts.status != StatusCode::NO_CONTENT
        && parts.status != StatusCode::NOT_MODIFIED
        && !body.is_end_stream();
    let cut_at = |roll: Roll| match body.size_hint().exact() {
        Some(len) => CutAt::Offset(dice.below(roll, len)),
        None => CutAt::InFirstFrame(dice.roll(roll)),
    };
    // 5. (continued) and 6.: the answer is broken on its way out.
    let cut = if reset {
        if !has_body {
            tracing::debug!(seq, "fault: reset instead of the answer");
            faults.reset();
            bump(&counters.resets);
            return Err(FaultError::Injected(
                "connection reset instead of the answer",
            ));
        }
        tracing::debug!(seq, "fault: reset part-way through the answer's body");
        Some(Cut::new(
            CutKind::Reset,
            cut_at(Roll::ResetCut),
            Arc::clone(&faults),
        ))
    } else if truncate && has_body {
        tracing::debug!(seq, "fault: answer's body truncated");
        Some(Cut::new(
            CutKind::Truncate,
            cut_at(Roll::TruncateCut),
            Arc::clone(&faults),
        ))
    } else {
        None
    };
    // A cut answer does not reach the client whole: not counted as `ok` or `throttled`.
    if cut.is_none() {
        counters.count_answer(op, parts.status);
    }
    let body = ProxyBody::upstream(body, cut, counters, op, in_flight, Some(admitted));
    Ok(Response::from_parts(parts, body))
}

/// The request as the upstream gateway gets it: same method, path, query and end-to-end
/// headers, sent to the upstream's address; its body counted as `op`'s.
fn upstream_request(
    shared: &Shared,
    req: Request<Incoming>,
    op: S3Op,
) -> Result<Request<UpBody>, http::Error> {
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::builder()
        .scheme(shared.scheme.clone())
        .authority(shared.authority.clone())
        .path_and_query(path_and_query)
        .build()?;
    parts.version = Version::HTTP_11;
    // hyper-util adds a Host header only when there is none: the client's stays.
    strip_hop_by_hop(&mut parts.headers);
    Ok(Request::from_parts(
        parts,
        UpBody::new(body, Arc::clone(&shared.counters), op),
    ))
}

/// Removes the hop-by-hop headers (RFC 9110 §7.6.1): those named by `Connection` and the
/// fixed list. The framing of the next hop is hyper's to choose.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads and drops a request body the proxy answered without forwarding, in the background,
/// so the connection stays usable for the next request (as RGW's frontend does after an early
/// answer). It ends with the body or with the connection.
fn discard(body: Incoming) {
    if body.is_end_stream() {
        return;
    }
    tokio::spawn(async move {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    });
}

/// Reads at least `cut` bytes of `body` (fewer if it ends or breaks first) and drops them.
async fn read_some(mut body: Incoming, cut: u64) {
    let mut read = 0u64;
    while read < cut {
        match body.frame().await {
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Some(Err(_)) | None => break,
        }
    }
}

fn bad_gateway(
    counters: &Arc<Counters>,
    op: S3Op,
    in_flight: InFlight,
    request_id: &str,
) -> Response<ProxyBody> {
    bump(&counters.upstream_errors);
    S3ErrorReply {
        status: StatusCode::BAD_GATEWAY,
        code: "BadGateway",
        message: "The fault proxy could not get an answer from its upstream gateway.",
        extra_xml: String::new(),
        request_id,
        close: false,
    }
    .into_response(Arc::clone(counters), op, in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_end_to_end_headers_stay() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-hop".parse().unwrap());
        h.insert("x-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert(header::HOST, "127.0.0.1:9000".parse().unwrap());
        h.insert("x-amz-date", "20260101T000000Z".parse().unwrap());
        h.insert(
            header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=...".parse().unwrap(),
        );
        h.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(http::HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            ["authorization", "content-length", "host", "x-amz-date"]
        );
        assert_eq!(content_length(&h), Some(5));
    }
}
