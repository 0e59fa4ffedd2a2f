//! TCP connections that acknowledge every response segment at once (`TCP_QUICKACK`).
//!
//! Measured against Ceph RGW 16 (beast, `tcp_nodelay` off, its default): a GET on a reused
//! connection took 40–68 ms whatever the object size, against ~5 ms on a fresh connection. The
//! server writes the response head and body as two small segments; Nagle's algorithm holds
//! the second until the first is acknowledged, and the client's kernel delays that ACK by
//! 40 ms hoping to piggyback it. Linux clears `TCP_QUICKACK` after it takes effect, so it is
//! set again after every read. It costs one `setsockopt` per read and changes nothing on the
//! wire but the timing of ACKs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// [`HttpConnector`] whose connections re-arm `TCP_QUICKACK` after every read.
#[derive(Clone, Debug)]
pub(super) struct QuickAckConnector(pub(super) HttpConnector);

/// A TCP stream that re-arms `TCP_QUICKACK` after every read.
#[derive(Debug)]
pub(super) struct QuickAckStream {
    inner: TokioIo<TcpStream>,
}

impl QuickAckStream {
    fn rearm(&self) {
        // A failure only means an ACK may be late again.
        let _ = rustix::net::sockopt::set_tcp_quickack(self.inner.inner(), true);
    }
}

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = QuickAckStream;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<QuickAckStream, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let fut = self.0.call(uri);
        Box::pin(async move {
            let inner = fut.await?;
            Ok(QuickAckStream { inner })
        })
    }
}

impl Read for QuickAckStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if res.is_ready() {
            this.rearm();
        }
        res
    }
}

impl Write for QuickAckStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<Result<usize, std::io::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), std::io::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<Result<usize, std::io::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}
