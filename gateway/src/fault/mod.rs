//! A fault-injecting S3 proxy: a real HTTP/1.1 reverse proxy in front of a real gateway (the
//! embedded one or Ceph RGW) that misbehaves on demand, for testing how a client copes with an
//! overloaded or flaky gateway.
//!
//! Requests are forwarded unchanged (method, path, query and signed headers as sent, the
//! client's `Host` included), so SigV4 signatures made for the proxy's address verify at the
//! gateway, which with path-style loopback addressing checks `Host` only as a signed header.
//! Bodies stream both ways. On top of that the [`FaultMode`] in force throws, combinably:
//!
//! - `max_concurrent`: `503 SlowDown` above N requests in flight, as RGW's
//!   `rgw max concurrent requests` does;
//! - `error_rate`: `500 InternalError`;
//! - `reset_rate`: connections reset mid-request or mid-response;
//! - `truncate_rate`: response bodies cut short of their `Content-Length`;
//! - `first_byte_delay_ms`: a slow first byte;
//! - `max_body`: `413 EntityTooLarge` above a body size, as a router's body limit does;
//! - `max_body_reset`: the connection reset mid-body above a body size, as a router that
//!   drops the connection instead of answering does.
//!
//! Random faults come from seeded dice: a pure function of the seed and of the request's
//! sequence number since the mode was set, so a seed replays the same faults on the same
//! (n-th) requests. The mode can be changed at any time, through [`FaultProxy::set_mode`] or
//! the control API (`PUT /__fault/mode`, see `control.rs`), and the counters read through
//! [`FaultProxy::stats`] or `GET /__fault/stats`. The control API has no authentication, so it
//! listens only on a loopback address, apart from the proxy's own listener.
//!
//! # Per-operation counts
//!
//! Besides the totals, [`FaultStats::ops`] splits the traffic by S3 operation ([`S3Op`], named
//! as in the S3 API reference: `PutObject`, `ListObjectsV2`, …, and `Other`), so the figures a
//! benchmark reports can be checked against what the gateway side saw. For each operation
//! seen, [`OpStats`] counts the requests received (those the proxy answered with a fault
//! included), the `2xx` answers and the `503`/`429` answers sent to the client (the proxy's
//! `SlowDown` or the gateway's own), and the request and response body bytes passed through.
//! The body bytes are the same as the totals' `bytes_up` and `bytes_down`: only forwarded
//! bodies (the proxy's own error bodies are not counted), and their sums over the operations
//! equal the totals. An answer the proxy cuts short counts in neither `ok` nor `throttled`.
//!
//! The operation is judged from the method, the path read as path-style addressing
//! (`/bucket/key`, as haul addresses loopback gateways), the names of the query parameters
//! and the `x-amz-copy-source` header; the `Host` header is not looked at, so a
//! virtual-hosted request is classified one level up (its key read as the bucket). `ops.rs`
//! has the table. Counting costs a few relaxed atomic adds per request and per body frame on
//! a fixed table indexed by operation; the map is built only for a snapshot.
//!
//! `GET /__fault/stats` answers e.g.
//!
//! ```json
//! {"requests":3,"forwarded":2,"slow_downs":1,...,"bytes_up":1048576,"bytes_down":1048576,...,
//!  "ops":{"GetObject":{"requests":1,"ok":1,"throttled":0,"bytes_up":0,"bytes_down":1048576},
//!         "PutObject":{"requests":2,"ok":1,"throttled":1,"bytes_up":1048576,"bytes_down":0}}}
//! ```
//!
//! `haul gateway fault-proxy --upstream URL` runs it as a command; the end-to-end suite's
//! `faults::` cases run `haul sync` through it.
//!
//! # Limits
//!
//! - HTTP/1.1 only, plain HTTP on both sides (no TLS), one upstream.
//! - A response's `Content-Length` is the gateway's: the proxy never rewrites bodies.
//! - `max_body` and `max_body_reset` judge the declared `Content-Length`; a chunked body of unknown length passes.
//!
//! Read [`FaultMode`] for the exact order of checks, then `proxy.rs` for forwarding,
//! `body.rs` for cut bodies and `conn.rs` for how a connection is reset or lingers.

mod body;
pub(crate) mod conn;
mod control;
mod mode;
mod ops;
mod proxy;
mod stats;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::Uri;
use http::uri::Scheme;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use mode::{FaultMode, FaultModeError};
pub use ops::S3Op;
pub use stats::{FaultStats, OpStats};

use proxy::Shared;

/// How to start a [`FaultProxy`].
#[derive(Debug, Clone)]
pub struct FaultProxyConfig {
    /// The gateway to forward to, e.g. `http://127.0.0.1:7480` (plain HTTP, no path).
    pub upstream: String,
    /// Address for S3 clients; port 0 takes a free one.
    pub listen: SocketAddr,
    /// Address of the control API; must be a loopback address. [`FaultProxyConfig::new`] uses
    /// `127.0.0.1:0`.
    pub control_listen: SocketAddr,
    /// The mode in force from the start; [`FaultProxyConfig::new`] injects nothing.
    pub mode: FaultMode,
}

impl FaultProxyConfig {
    /// A proxy to `upstream` on `listen`, its control API on `127.0.0.1:0`, no faults yet.
    pub fn new(upstream: impl Into<String>, listen: SocketAddr) -> Self {
        Self {
            upstream: upstream.into(),
            listen,
            control_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            mode: FaultMode::default(),
        }
    }
}

/// Why a [`FaultProxy`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultProxyError {
    /// The upstream is not a plain `http://host:port` URL.
    #[error("cannot proxy to {url:?}: {reason}")]
    Upstream {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The control API was asked to listen on an address other clients could reach.
    #[error("the fault proxy's control API listens on loopback only, not on {addr}")]
    ControlNotLoopback {
        /// The address given.
        addr: SocketAddr,
    },
    /// The initial mode is invalid.
    #[error("invalid initial fault mode")]
    Mode(#[from] FaultModeError),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address given.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A running fault proxy. Dropping it stops accepting connections without waiting for the
/// ones in flight; [`FaultProxy::shutdown`] also waits for them (a bounded time).
pub struct FaultProxy {
    local_addr: SocketAddr,
    control_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    loops: [JoinHandle<()>; 2],
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("local_addr", &self.local_addr)
            .field("control_addr", &self.control_addr)
            .field("mode", &self.shared.mode())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (e.g. `http://127.0.0.1:7480`) listening on `listen`, its control
    /// API on `127.0.0.1:0`, injecting no faults until [`FaultProxy::set_mode`].
    ///
    /// # Errors
    ///
    /// As [`FaultProxy::start_with`].
    pub async fn start(upstream: &str, listen: SocketAddr) -> Result<FaultProxy, FaultProxyError> {
        Self::start_with(FaultProxyConfig::new(upstream, listen)).await
    }

    /// Binds both listeners and spawns their accept loops on the current tokio runtime.
    /// Returns once both listen: clients may connect as soon as this returns.
    ///
    /// # Errors
    ///
    /// [`FaultProxyError::Upstream`] for an upstream that is not `http://host:port`,
    /// [`FaultProxyError::ControlNotLoopback`], [`FaultProxyError::Mode`] for an invalid
    /// initial mode, [`FaultProxyError::Bind`] when an address cannot be bound.
    pub async fn start_with(cfg: FaultProxyConfig) -> Result<FaultProxy, FaultProxyError> {
        let (scheme, authority) = parse_upstream(&cfg.upstream)?;
        if !cfg.control_listen.ip().is_loopback() {
            return Err(FaultProxyError::ControlNotLoopback {
                addr: cfg.control_listen,
            });
        }
        cfg.mode.validate()?;
        let (listener, local_addr) = bind(cfg.listen).await?;
        let (control, control_addr) = bind(cfg.control_listen).await?;
        let shared = Arc::new(Shared::new(scheme, authority, cfg.mode));

        let (stop, stop_rx) = watch::channel(false);
        let proxy_shared = Arc::clone(&shared);
        let proxy_loop = tokio::spawn(conn::accept_loop(
            listener,
            stop_rx.clone(),
            "proxy",
            move |stream, stop| proxy::serve_connection(stream, Arc::clone(&proxy_shared), stop),
        ));
        let control_shared = Arc::clone(&shared);
        let control_loop = tokio::spawn(conn::accept_loop(
            control,
            stop_rx,
            "control",
            move |stream, stop| {
                control::serve_connection(stream, Arc::clone(&control_shared), stop)
            },
        ));
        tracing::info!(%local_addr, %control_addr, upstream = %cfg.upstream, "fault proxy listening");
        Ok(FaultProxy {
            local_addr,
            control_addr,
            shared,
            stop,
            loops: [proxy_loop, control_loop],
        })
    }

    /// Replaces the mode in force; requests already past their checks are not affected, and
    /// the dice start again at sequence number 0.
    ///
    /// # Errors
    ///
    /// [`FaultModeError::Rate`] when a rate is not a probability; the mode in force stays.
    pub fn set_mode(&self, mode: FaultMode) -> Result<(), FaultModeError> {
        mode.validate()?;
        tracing::info!(%mode, "fault mode set");
        self.shared.set_mode(mode);
        Ok(())
    }

    /// The mode in force.
    #[must_use]
    pub fn mode(&self) -> FaultMode {
        self.shared.mode()
    }

    /// The counters since the proxy started, totals and per S3 operation
    /// ([`FaultStats::ops`]).
    #[must_use]
    pub fn stats(&self) -> FaultStats {
        self.shared.counters.snapshot()
    }

    /// The address S3 clients connect to, with the port the OS chose for `:0`.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint to give an S3 client, e.g. `http://127.0.0.1:41234` (path-style).
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The address of the control API.
    #[must_use]
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// The base URL of the control API, e.g. `http://127.0.0.1:41235`; the mode is at
    /// `/__fault/mode`, the counters at `/__fault/stats`.
    #[must_use]
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr)
    }

    /// Stops accepting connections, lets requests in flight finish for at most
    /// [`crate::SHUTDOWN_GRACE`], closes what remains and returns.
    pub async fn shutdown(self) {
        let FaultProxy {
            local_addr,
            stop,
            loops,
            ..
        } = self;
        stop.send_replace(true);
        for accept_loop in loops {
            if let Err(err) = accept_loop.await {
                tracing::debug!(%local_addr, error = %err, "fault proxy loop ended abnormally");
            }
        }
        tracing::info!(%local_addr, "fault proxy stopped");
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), FaultProxyError> {
    let bind_err = |source| FaultProxyError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// The scheme and authority of a plain `http://host:port` URL.
fn parse_upstream(url: &str) -> Result<(Scheme, http::uri::Authority), FaultProxyError> {
    let err = |reason| FaultProxyError::Upstream {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url
        .trim_end_matches('/')
        .parse()
        .map_err(|_| err("not a URL"))?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(err("only http:// upstreams are supported"));
    }
    let authority = uri.authority().cloned().ok_or_else(|| err("no host"))?;
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(err("a path or query is not supported"));
    }
    Ok((Scheme::HTTP, authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let (_, a) = parse_upstream("http://127.0.0.1:7480").unwrap();
        assert_eq!(a.as_str(), "127.0.0.1:7480");
        assert_eq!(
            parse_upstream("http://127.0.0.1:7480/").unwrap().1.as_str(),
            "127.0.0.1:7480"
        );
        for bad in [
            "https://127.0.0.1:1",
            "127.0.0.1:1",
            "http://h:1/bucket",
            "nonsense url",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }
}
