//! Connections: the accept loop shared by the proxy and its control API, and the socket
//! wrapper that lets a request decide how its connection ends.
//!
//! hyper owns a connection's socket while it serves it, so a request cannot close the socket
//! itself. Instead it marks the connection's [`ConnFaults`]; when hyper drops the socket (it
//! does after an error or a `Connection: close` answer), [`FaultIo`]'s `Drop` carries the mark
//! out: a reset sets `SO_LINGER` to zero first, so closing sends a TCP RST; a lingering close
//! hands the socket back to its connection task, which shuts down the write side and reads and
//! drops what the client still sends before closing (closing with unread bytes would send an
//! RST and could destroy the answer before the client read it).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;

use crate::server::{drain_connections, log_connection_task};
use tokio::time::Instant;
use tracing::Instrument as _;

/// Most connections served at once, per listener.
///
/// Chosen: as the embedded gateway's own limit (`server::MAX_CONNECTIONS`), above any
/// `--concurrency` haul uses against one gateway; each client connection through the proxy
/// also holds one upstream connection.
pub(crate) const MAX_CONNECTIONS: usize = 512;

/// How long a connection may wait for its next request head before it is closed.
///
/// Chosen: below the embedded gateway's and RGW's 65 s, so the proxy closes an idle client
/// connection before its upstream would close the pooled one behind it.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A lingering close ends when the client sends nothing for this long.
///
/// Taken from nginx's `lingering_timeout` default (5 s), the proxy behaviour emulated here.
const LINGER_IDLE: Duration = Duration::from_secs(5);

/// A lingering close ends after this long in all.
///
/// Taken from nginx's `lingering_time` default (30 s).
const LINGER_TOTAL: Duration = Duration::from_secs(30);

/// Pause after a failed `accept` (for instance out of file descriptors) so the loop does not
/// spin. Chosen: short enough to be unnoticeable once descriptors free up.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// How a connection ends when hyper lets go of its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Close {
    /// Closed as usual (FIN).
    Normal = 0,
    /// Shut down for writing, then read until the client stops sending, then closed.
    Linger = 1,
    /// Reset (RST), dropping whatever is unsent or unread.
    Reset = 2,
}

/// The marks a request leaves on its connection. A reset wins over a lingering close.
#[derive(Debug, Default)]
pub(crate) struct ConnFaults {
    close: AtomicU8,
}

impl ConnFaults {
    /// Reset the connection when it ends.
    pub(crate) fn reset(&self) {
        self.close.store(Close::Reset as u8, Ordering::Release);
    }

    /// Close the connection with a lingering close when it ends.
    pub(crate) fn linger(&self) {
        let _ = self.close.compare_exchange(
            Close::Normal as u8,
            Close::Linger as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    fn close(&self) -> Close {
        match self.close.load(Ordering::Acquire) {
            1 => Close::Linger,
            2 => Close::Reset,
            _ => Close::Normal,
        }
    }
}

/// A client connection's socket as hyper sees it; see the module docs.
pub(crate) struct FaultIo {
    stream: Option<TcpStream>,
    faults: Arc<ConnFaults>,
    linger: Option<oneshot::Sender<TcpStream>>,
}

impl FaultIo {
    /// Wraps `stream`; a lingering close sends it back through `linger`.
    pub(crate) fn new(
        stream: TcpStream,
        faults: Arc<ConnFaults>,
        linger: oneshot::Sender<TcpStream>,
    ) -> Self {
        Self {
            stream: Some(stream),
            faults,
            linger: Some(linger),
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A connection marked for a reset must not send a FIN first (hyper shuts the write
        // side down when a service fails): the client would read an orderly end of file
        // before the RST that the drop sends.
        if matches!(this.faults.close(), Close::Reset) {
            return Poll::Ready(Ok(()));
        }
        match this.stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(TcpStream::is_write_vectored)
    }
}

impl Drop for FaultIo {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        match self.faults.close() {
            Close::Normal => {}
            Close::Reset => {
                if let Err(err) = stream.set_zero_linger() {
                    tracing::debug!(error = %err, "cannot set SO_LINGER to reset a connection");
                }
            }
            Close::Linger => {
                if let Some(linger) = self.linger.take() {
                    // The connection task may be gone (shutdown): then the socket just closes.
                    let _ = linger.send(stream);
                }
            }
        }
    }
}

/// Shuts down the write side of `stream`, then reads and drops what the client still sends
/// until it closes, goes quiet for [`LINGER_IDLE`], [`LINGER_TOTAL`] passes, or `stop`.
pub(crate) async fn lingering_close(mut stream: TcpStream, mut stop: watch::Receiver<bool>) {
    // hyper may have shut the write side down already; a second shutdown changes nothing.
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGER_TOTAL;
    let mut scratch = vec![0u8; 64 * 1024];
    let mut dropped = 0u64;
    loop {
        let until = deadline.min(Instant::now() + LINGER_IDLE);
        tokio::select! {
            () = stopped(&mut stop) => break,
            read = tokio::time::timeout_at(until, stream.read(&mut scratch)) => match read {
                Ok(Ok(n)) if n > 0 => dropped += n as u64,
                _ => break,
            },
        }
    }
    tracing::debug!(dropped, "lingering close done");
}

/// Resolves once the proxy is asked to stop, or once nobody can ask any more.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Accepts connections until `stop`, serving each with `serve` in its own task (at most
/// [`MAX_CONNECTIONS`] at once), then waits for them at most [`crate::SHUTDOWN_GRACE`].
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    name: &'static str,
    serve: F,
) where
    F: Fn(TcpStream, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => log_connection_task(done, "fault proxy"),
            permit = Arc::clone(&slots).acquire_owned() => {
                let Ok(permit) = permit else { break }; // the semaphore is never closed
                let (stream, peer) = tokio::select! {
                    () = stopped(&mut stop) => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(err) => {
                            tracing::warn!(error = %err, name, "fault proxy cannot accept a connection");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                            continue;
                        }
                    },
                };
                let served = serve(stream, stop.clone());
                let span = tracing::debug_span!("fault_proxy_connection", name, %peer);
                connections.spawn(
                    async move {
                        served.await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }
    }
    drop(listener);
    drain_connections(connections, "fault proxy").await;
}
