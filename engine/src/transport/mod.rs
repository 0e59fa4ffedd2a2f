//! HTTP transport: one pooled hyper client per endpoint, with a timeout for every phase.
//!
//! This module owns connections, TLS and timeouts, and streams bodies both ways. It knows
//! nothing of S3 (no signing, no XML) and nothing of retries: it reports *what* went wrong as a
//! [`TransportError`] with a [`FailureKind`], and `congestion` decides what that means.
//! Read `client` next, the one place that joins this module with `s3` and `congestion`.
//!
//! Timeouts, per phase (a single overall timeout would kill a healthy 5 GiB upload):
//! - connect: TCP connect plus TLS handshake;
//! - send idle: while the request body is sent, the longest pause between two chunks handed
//!   to the connection (a gateway or proxy that stops reading);
//! - first byte: from the end of the request body to the response head;
//! - body idle: while the response body is received, the longest pause between two chunks;
//! - answer: the whole of a body read into memory ([`ResponseBody::collect_limited`]: listings
//!   and other small answers, error answers; never object data, nor the answers a gateway keeps
//!   open while it copies or completes, [`ResponseBody::collect_within`]), so that a gateway
//!   sending a byte now and then, which never trips the idle timeout, cannot hold a listing
//!   for ever.

mod body;
mod quickack;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

pub use body::{Body, BodyError, FRAME_BYTES, SendState, SendWatch};
pub use tls::TlsOptions;

/// Timeouts and pool sizes for one endpoint's client.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// TCP connect plus TLS handshake. Chosen: 10 s, long enough for a loaded gateway's accept
    /// queue, short enough that a dead endpoint is reported promptly.
    pub connect_timeout: Duration,
    /// Longest pause while sending a request body. Chosen: 60 s, matching common proxy idle
    /// timeouts (nginx `client_body_timeout` defaults to 60 s).
    pub send_idle_timeout: Duration,
    /// From the end of the request body to the response head. Chosen: 120 s: RGW assembles a
    /// large CompleteMultipartUpload before it answers.
    pub first_byte_timeout: Duration,
    /// Longest pause between two chunks of a response body. Chosen: 60 s, as for sending.
    pub body_idle_timeout: Duration,
    /// Longest time to read a whole answer haul reads into memory (at most 16 MiB of XML).
    /// Chosen: 120 s, as for the first byte; a 16 MiB answer then needs 140 KB/s, a
    /// 1,000-key page (~300 KB) 2.5 KB/s.
    pub answer_timeout: Duration,
    /// Idle keep-alive connections kept per host: sized to the concurrency in use, so that
    /// every request in flight finds a warm connection (s5cmd's Go transport keeps two and
    /// reconnects constantly under load).
    pub pool_max_idle_per_host: usize,
    /// How long an idle connection is kept. Chosen: 60 s, below RGW beast's default idle
    /// timeout so that haul, not the gateway, closes idle connections.
    pub pool_idle_timeout: Duration,
    /// TLS settings for https endpoints.
    pub tls: TlsOptions,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            send_idle_timeout: Duration::from_secs(60),
            first_byte_timeout: Duration::from_secs(120),
            body_idle_timeout: Duration::from_secs(60),
            answer_timeout: Duration::from_secs(120),
            pool_max_idle_per_host: 64,
            pool_idle_timeout: Duration::from_secs(60),
            tls: TlsOptions::default(),
        }
    }
}

/// Which phase of an exchange timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connecting (TCP and TLS).
    Connect,
    /// Sending the request body.
    SendBody,
    /// Waiting for the response head after the body was sent.
    FirstByte,
    /// Receiving the response body.
    ReceiveBody,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::SendBody => "sending the request body",
            Phase::FirstByte => "waiting for the response",
            Phase::ReceiveBody => "receiving the response body",
        })
    }
}

/// What kind of failure a transport error is; `congestion::classify` maps this to a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing accepted the connection (refused, unreachable, DNS failure).
    Connect,
    /// A phase took longer than its timeout.
    Timeout(Phase),
    /// The connection closed or was reset mid-exchange.
    Reset,
    /// TLS failed: certificate not trusted, handshake refused.
    Tls,
    /// The request body's own source failed (a file read error): not the network's fault.
    BodySource,
    /// A response body was larger than the caller allows.
    TooLarge,
    /// Anything else hyper reported.
    Other,
}

/// A failed HTTP exchange.
#[derive(Debug, thiserror::Error)]
#[error("{what} {authority}: {detail}")]
pub struct TransportError {
    /// Classification for retry decisions.
    pub kind: FailureKind,
    /// `host:port` of the endpoint.
    pub authority: String,
    what: &'static str,
    detail: String,
    while_sending: bool,
}

impl TransportError {
    pub(crate) fn new(kind: FailureKind, authority: &str, detail: impl Into<String>) -> Self {
        let what = match kind {
            FailureKind::Connect => "cannot connect to",
            FailureKind::Timeout(_) => "timed out talking to",
            FailureKind::Reset => "connection reset by",
            FailureKind::Tls => "tls failure with",
            FailureKind::BodySource => "request body failed for",
            FailureKind::TooLarge => "response too large from",
            FailureKind::Other => "http error with",
        };
        Self {
            kind,
            authority: authority.to_owned(),
            what,
            detail: detail.into(),
            while_sending: false,
        }
    }

    /// Whether the connection broke after the request body started to go and before the
    /// gateway answered: what a router with a body limit that closes instead of answering 413
    /// looks like, among other causes. (A bodiless request counts as sent at once.)
    #[must_use]
    pub fn while_sending(&self) -> bool {
        self.while_sending
    }
}

/// A response whose head has arrived; the body streams on demand.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, read chunk by chunk with the idle timeout.
    pub body: ResponseBody,
}

/// A streaming response body with an idle timeout between chunks.
pub struct ResponseBody {
    inner: hyper::body::Incoming,
    idle: Duration,
    whole: Duration,
    authority: Arc<str>,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// The next chunk of data, `None` at the end.
    ///
    /// # Errors
    /// A timeout when no data arrived for the idle timeout, a reset when the connection broke.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, TransportError>> {
        loop {
            let frame = match tokio::time::timeout(self.idle, self.inner.frame()).await {
                Err(_) => {
                    return Some(Err(TransportError::new(
                        FailureKind::Timeout(Phase::ReceiveBody),
                        &self.authority,
                        format!("no data for {:?}", self.idle),
                    )));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    return Some(Err(TransportError::new(
                        FailureKind::Reset,
                        &self.authority,
                        format!("body interrupted: {e}"),
                    )));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            // Trailers carry nothing haul uses; skip them and keep reading.
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
            {
                return Some(Ok(data));
            }
        }
    }

    /// Reads the whole body, refusing more than `max_bytes`.
    ///
    /// # Errors
    /// As [`ResponseBody::chunk`], and [`FailureKind::TooLarge`] past `max_bytes`.
    pub async fn collect_limited(self, max_bytes: usize) -> Result<Bytes, TransportError> {
        let whole = self.whole;
        self.collect_within(max_bytes, Some(whole)).await
    }

    /// As [`ResponseBody::collect_limited`], with the whole body's deadline given: `None` for
    /// answers a gateway may rightly keep open while it works, sending a space now and then
    /// (CopyObject, CompleteMultipartUpload: AWS and RGW both do), which only the idle
    /// timeout bounds.
    ///
    /// # Errors
    /// As [`ResponseBody::collect_limited`].
    pub async fn collect_within(
        mut self,
        max_bytes: usize,
        deadline: Option<Duration>,
    ) -> Result<Bytes, TransportError> {
        // Far beyond any run: as good as no deadline, and no overflow on adding to now.
        let whole = deadline.unwrap_or(Duration::from_secs(365 * 24 * 3600));
        let authority = Arc::clone(&self.authority);
        let mut out = Vec::new();
        let read = async {
            while let Some(chunk) = self.chunk().await {
                let chunk = chunk?;
                if out.len() + chunk.len() > max_bytes {
                    return Err(TransportError::new(
                        FailureKind::TooLarge,
                        &self.authority,
                        format!("body exceeds {max_bytes} bytes"),
                    ));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(())
        };
        match tokio::time::timeout(whole, read).await {
            Ok(Ok(())) => Ok(Bytes::from(out)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(TransportError::new(
                FailureKind::Timeout(Phase::ReceiveBody),
                &authority,
                format!("answer not complete after {whole:?} (a gateway sending too slowly)"),
            )),
        }
    }
}

type Connector = hyper_rustls::HttpsConnector<quickack::QuickAckConnector>;

/// A pooled HTTP/1.1 client for one endpoint.
#[derive(Clone)]
pub struct Transport {
    client: Client<Connector, Body>,
    config: Arc<TransportConfig>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Builds the client: TCP with `TCP_NODELAY`, TLS through rustls with the system roots
    /// (plus a CA bundle when given), HTTP/1.1 keep-alive.
    ///
    /// # Errors
    /// When the CA bundle cannot be read or holds no certificate.
    pub fn new(config: TransportConfig) -> Result<Self, TransportError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(30)));
        let tls = tls::client_config(&config.tls)
            .map_err(|e| TransportError::new(FailureKind::Tls, "(tls setup)", e))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(quickack::QuickAckConnector(http));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .timer(hyper_util::rt::TokioTimer::new())
            // A request that met a pooled connection closed by the server before anything was
            // written is sent again on a fresh one by hyper itself: that is not congestion.
            .retry_canceled_requests(true)
            .build(connector);
        Ok(Self {
            client,
            config: Arc::new(config),
        })
    }

    /// The timeouts and pool settings in use.
    #[must_use]
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// Sends a request and waits for the response head, enforcing the connect, send-idle and
    /// first-byte timeouts. The body is streamed as the connection takes it.
    ///
    /// # Errors
    /// A [`TransportError`] classified by what failed.
    pub async fn send(&self, req: http::Request<Body>) -> Result<Response, TransportError> {
        let authority: Arc<str> = req
            .uri()
            .authority()
            .map_or_else(|| Arc::from("(no host)"), |a| Arc::from(a.as_str()));
        let (parts, body) = req.into_parts();
        let watch = body.watch();
        let req = http::Request::from_parts(parts, body);
        let fut = self.client.request(req);
        tokio::pin!(fut);
        let cfg = &self.config;
        let started = Instant::now();
        loop {
            let deadline = next_deadline(&watch, cfg, started);
            tokio::select! {
                res = &mut fut => {
                    return match res {
                        Ok(resp) => {
                            let (parts, incoming) = resp.into_parts();
                            Ok(Response {
                                status: parts.status,
                                headers: parts.headers,
                                body: ResponseBody {
                                    inner: incoming,
                                    idle: cfg.body_idle_timeout,
                                    whole: cfg.answer_timeout,
                                    authority,
                                },
                            })
                        }
                        Err(e) => Err(classify_hyper(&e, &watch, &authority)),
                    };
                }
                () = tokio::time::sleep_until(deadline.0) => {
                    // Re-check: progress may have moved the deadline since we slept.
                    let now_deadline = next_deadline(&watch, cfg, started);
                    if now_deadline.0 <= Instant::now() {
                        return Err(TransportError::new(
                            FailureKind::Timeout(now_deadline.1),
                            &authority,
                            format!("no progress while {}", now_deadline.1),
                        ));
                    }
                }
            }
        }
    }
}

/// The instant at which the exchange times out, and the phase that would be to blame.
fn next_deadline(watch: &SendWatch, cfg: &TransportConfig, started: Instant) -> (Instant, Phase) {
    match watch.state() {
        body::SendState::NotStarted => {
            // Connect (and TLS) happen before the first body byte; allow connect plus the
            // send-idle allowance for the first chunk to be taken.
            (
                started + cfg.connect_timeout + cfg.send_idle_timeout,
                Phase::Connect,
            )
        }
        body::SendState::Sending { last_progress } => {
            (last_progress + cfg.send_idle_timeout, Phase::SendBody)
        }
        body::SendState::Done { at } => (at + cfg.first_byte_timeout, Phase::FirstByte),
    }
}

fn classify_hyper(
    e: &hyper_util::client::legacy::Error,
    watch: &SendWatch,
    authority: &str,
) -> TransportError {
    let detail = error_chain(e);
    if watch.source_failed() {
        return TransportError::new(FailureKind::BodySource, authority, detail);
    }
    if e.is_connect() {
        let kind = if chain_has::<rustls::Error>(e) {
            FailureKind::Tls
        } else if chain_io_kind(e) == Some(std::io::ErrorKind::TimedOut) {
            FailureKind::Timeout(Phase::Connect)
        } else {
            FailureKind::Connect
        };
        return TransportError::new(kind, authority, detail);
    }
    let mut err = TransportError::new(FailureKind::Reset, authority, detail);
    // Sending, or sent but unanswered: a proxy that reads part of a body and resets may do so
    // after the whole body sat in the socket buffers (loopback buffers hold megabytes).
    err.while_sending = !matches!(watch.state(), body::SendState::NotStarted);
    err
}

/// Whether any error in the source chain is an `E`, looking inside `io::Error`s too.
///
/// `io::Error::source` skips the error an `io::Error` wraps (it returns that error's own
/// source), and tokio-rustls reports a refused certificate as
/// `io::Error::new(InvalidData, rustls::Error)`: without [`std::io::Error::get_ref`] the
/// `rustls::Error` is never seen, and an untrusted certificate would pass for a refused
/// connection (retried until the connect timeout, with the wrong hint).
fn chain_has<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<E>() {
            return true;
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            // The wrapped error, whose own `source` continues the chain.
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// The kind of the first `io::Error` in the source chain.
fn chain_io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// Renders an error and its sources as `a: b: c`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a source, as hyper-util wraps what a connector returned.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapper(#[source] Box<dyn std::error::Error + Send + Sync>);

    #[test]
    fn rustls_error_inside_an_io_error_is_found() {
        // What tokio-rustls returns when the server's certificate is not trusted.
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let e = Wrapper(Box::new(io));
        assert!(chain_has::<rustls::Error>(&e));
        assert_eq!(chain_io_kind(&e), Some(std::io::ErrorKind::InvalidData));
    }

    #[test]
    fn plain_io_errors_are_not_tls() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = Wrapper(Box::new(refused));
        assert!(!chain_has::<rustls::Error>(&e));
        assert_eq!(
            chain_io_kind(&e),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        let custom = std::io::Error::other(Wrapper(Box::new(std::io::Error::from(
            std::io::ErrorKind::TimedOut,
        ))));
        assert!(!chain_has::<rustls::Error>(&Wrapper(Box::new(custom))));
    }
}
