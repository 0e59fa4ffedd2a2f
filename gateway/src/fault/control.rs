//! The control API: plain HTTP/1.1 on its own loopback listener, no authentication.
//!
//! | request | answer |
//! |---|---|
//! | `GET /__fault/mode` | `200`, the mode in force as JSON |
//! | `PUT /__fault/mode` with a [`FaultMode`] as JSON | `200`, the new mode as JSON; `400` with the reason for a body that is not a valid mode |
//! | `GET /__fault/stats` | `200`, the [`super::FaultStats`] as JSON: the totals, and per S3 operation under `"ops"` |
//!
//! Anything else is `404` (unknown path) or `405` (a known path with another method).

use std::convert::Infallible;
use std::error::Error as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::FaultMode;
use super::conn;
use super::proxy::Shared;

/// Largest `PUT /__fault/mode` body read. Chosen: a mode is a few hundred bytes of JSON.
const MAX_MODE_BYTES: usize = 64 * 1024;

/// Path of the mode resource.
pub(crate) const MODE_PATH: &str = "/__fault/mode";
/// Path of the stats resource.
pub(crate) const STATS_PATH: &str = "/__fault/stats";

/// Serves one control connection until it closes or `stop`.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let handler = service_fn(move |req| handle(Arc::clone(&shared), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(conn::IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), handler);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = conn::stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "control connection ended with an error");
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = match (req.method(), req.uri().path()) {
        (&Method::GET, MODE_PATH) => json(StatusCode::OK, shared.mode().to_json()),
        (&Method::PUT, MODE_PATH) => match read_mode(req).await {
            Ok(mode) => {
                tracing::info!(%mode, "fault mode set");
                let json_mode = mode.to_json();
                shared.set_mode(mode);
                json(StatusCode::OK, json_mode)
            }
            Err(reason) => text(StatusCode::BAD_REQUEST, reason),
        },
        (&Method::GET, STATS_PATH) => json(StatusCode::OK, shared.counters.snapshot().to_json()),
        (_, MODE_PATH | STATS_PATH) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
        }
        _ => text(
            StatusCode::NOT_FOUND,
            format!("unknown path: use {MODE_PATH} or {STATS_PATH}"),
        ),
    };
    Ok(reply)
}

/// The body of a `PUT`, as a validated mode, or why not (every cause, joined by `: `).
async fn read_mode(req: Request<Incoming>) -> Result<FaultMode, String> {
    let body = Limited::new(req.into_body(), MAX_MODE_BYTES)
        .collect()
        .await
        .map_err(|err| format!("cannot read the mode: {err}"))?
        .to_bytes();
    let text = std::str::from_utf8(&body).map_err(|err| format!("mode is not UTF-8: {err}"))?;
    text.parse::<FaultMode>().map_err(|err| {
        let mut reason = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        reason
    })
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    reply(status, "application/json", body)
}

fn text(status: StatusCode, mut body: String) -> Response<Full<Bytes>> {
    body.push('\n');
    reply(status, "text/plain; charset=utf-8", body)
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
