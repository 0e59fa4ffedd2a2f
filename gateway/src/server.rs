//! The HTTP side: the s3s service, the accept loop and one task per connection.
//!
//! Connections are HTTP/1.1 with keep-alive, served by hyper, each in its own task, at most
//! [`MAX_CONNECTIONS`] at once (the accept loop waits for a free slot; clients queue in the
//! kernel's backlog). A connection idle for [`IDLE_TIMEOUT`] is closed. Errors on one
//! connection (a client that resets, a malformed request) are logged at `debug` and end only
//! that connection; a panic in a request handler becomes a `500 InternalError` response.
//!
//! With TLS, each connection first completes a rustls handshake (within
//! [`TLS_HANDSHAKE_TIMEOUT`]); a failed one (a client that does not trust the certificate, or
//! speaks plain HTTP) is logged at `debug` and closes only that connection.
//!
//! Shutdown: the accept loop stops and closes the listener, every connection is told to finish
//! its current request and close (idle ones close at once), and the loop waits for them at most
//! [`crate::SHUTDOWN_GRACE`] before aborting the rest.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument as _;

use crate::bucket_name::{BucketNaming, RelaxedCopySourceRoute};
use crate::store::Store;

/// Most connections served at once.
///
/// Chosen: above any `--concurrency` haul uses against one gateway, and half the common
/// 1024-descriptor soft limit, since in `haul demo` the client's sockets live in the same
/// process as the gateway's.
pub(crate) const MAX_CONNECTIONS: usize = 512;

/// How long a connection may sit without a complete request head before it is closed; this
/// covers idle keep-alive connections too (hyper's header-read timeout starts when it begins
/// waiting for the next request).
///
/// Taken from RGW's beast frontend, whose `request_timeout_ms` option defaults to
/// `REQUEST_TIMEOUT` (65 000 ms, `src/rgw/rgw_asio_frontend.h`), so clients see idle
/// connections closed on the same schedule as with the reference gateway.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(65);

/// Longest a new connection may take to complete its TLS handshake before it is closed, so a
/// client that connects and says nothing does not hold a connection slot.
///
/// Chosen: haul's default connect timeout (TCP plus TLS handshake, `TransportConfig`), so the
/// gateway never gives up on a handshake before the client would.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed `accept` (for instance out of file descriptors) so the loop does not
/// spin. Chosen: short enough to be unnoticeable once descriptors free up.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The s3s service: `store` behind SigV4/SigV2 checks with one key pair, with the bucket
/// naming rule, and, for relaxed names, the copy-source route (see `bucket_name.rs`).
pub(crate) fn build_service(
    store: Store,
    access_key: &str,
    secret_key: &str,
    naming: BucketNaming,
) -> S3Service {
    let mut builder = S3ServiceBuilder::new(store.clone());
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    if naming == BucketNaming::Relaxed {
        builder.set_validation(naming);
        let mut inner = S3ServiceBuilder::new(store);
        inner.set_validation(naming);
        builder.set_route(RelaxedCopySourceRoute::new(inner.build()));
    }
    builder.build()
}

/// Accepts connections until `stop` turns true (or its sender is dropped), then drains them.
/// With `tls`, every connection is HTTPS.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    service: Arc<S3Service>,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();

    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => log_connection_task(done, "gateway"),
            permit = Arc::clone(&slots).acquire_owned() => {
                let Ok(permit) = permit else { break }; // the semaphore is never closed
                let (stream, peer) = tokio::select! {
                    () = stopped(&mut stop) => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(err) => {
                            tracing::warn!(error = %err, "gateway cannot accept a connection");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                            continue;
                        }
                    },
                };
                let service = Arc::clone(&service);
                let tls = tls.clone();
                let stop = stop.clone();
                let span = tracing::debug_span!("gateway_connection", %peer);
                connections.spawn(
                    async move {
                        serve_accepted(stream, tls, service, stop).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }
    }

    drop(listener);
    // Every connection task watches `stop` too, so each is already finishing its request.
    drain_connections(connections, "gateway").await;
}

/// Waits up to [`crate::SHUTDOWN_GRACE`] for the connection tasks of a stopping server (the
/// gateway or the fault proxy, named by `server`) to finish, then closes the rest.
pub(crate) async fn drain_connections(mut connections: JoinSet<()>, server: &'static str) {
    let drained = tokio::time::timeout(crate::SHUTDOWN_GRACE, async {
        while let Some(done) = connections.join_next().await {
            log_connection_task(done, server);
        }
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            remaining = connections.len(),
            server,
            "shutdown grace period over, closing connections"
        );
        connections.shutdown().await;
    }
}

/// Resolves once the gateway is asked to stop, or once nobody can ask any more (the
/// [`crate::Gateway`] was dropped).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Logs a connection task of `server` that panicked (a finished or cancelled one is normal).
pub(crate) fn log_connection_task(done: Result<(), tokio::task::JoinError>, server: &'static str) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, server, "connection task panicked");
    }
}

/// One accepted connection: TLS handshake first when `tls` is set, then HTTP/1.1.
async fn serve_accepted(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    service: Arc<S3Service>,
    mut stop: watch::Receiver<bool>,
) {
    // Small request/response exchanges (HEAD, part ETags) should not wait for Nagle.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    let Some(acceptor) = tls else {
        return serve_connection(stream, service, stop).await;
    };
    let handshake = tokio::select! {
        () = stopped(&mut stop) => return,
        done = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => done,
    };
    match handshake {
        Ok(Ok(stream)) => serve_connection(stream, service, stop).await,
        Ok(Err(err)) => tracing::debug!(error = %err, "tls handshake failed"),
        Err(_) => tracing::debug!(
            timeout = ?TLS_HANDSHAKE_TIMEOUT,
            "tls handshake not completed in time"
        ),
    }
}

async fn serve_connection<I>(io: I, service: Arc<S3Service>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handler = service_fn(move |req| handle(Arc::clone(&service), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(io), handler);
    let mut conn = std::pin::pin!(conn);

    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    match result {
        Ok(()) => tracing::trace!("connection closed"),
        Err(err) => tracing::debug!(error = %err, "connection ended with an error"),
    }
}

/// One request through s3s. Never fails: s3s turns S3 errors into error responses itself, and
/// what it cannot answer (an internal failure, a panic in a handler) becomes a 500 here, so the
/// connection stays usable.
async fn handle(
    service: Arc<S3Service>,
    req: http::Request<Incoming>,
) -> Result<http::Response<s3s::Body>, Infallible> {
    let req = req.map(s3s::Body::from);
    match AssertUnwindSafe(service.call(req)).catch_unwind().await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(err)) => {
            tracing::debug!(error = ?err, "s3s could not produce a response");
            Ok(internal_error())
        }
        Err(_) => {
            tracing::error!("gateway request handler panicked");
            Ok(internal_error())
        }
    }
}

fn internal_error() -> http::Response<s3s::Body> {
    const BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <Error><Code>InternalError</Code>\
        <Message>We encountered an internal error. Please try again.</Message></Error>";
    let mut resp = http::Response::new(s3s::Body::from(BODY.to_owned()));
    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}
