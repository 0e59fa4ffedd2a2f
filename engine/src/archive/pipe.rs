//! A bounded pipe between the blocking tar thread and the async transfer: the writer end is
//! both [`Write`] (blocking, for the packer) and [`AsyncWrite`] (for a download), the reader
//! end both [`Read`] (blocking, for the unpacker) and [`AsyncRead`] (for an upload).
//!
//! A stream ends cleanly only when the writer calls [`PipeWriter::close`]: a writer dropped
//! without it (the packer failed, the download broke) makes the reader fail instead of
//! returning end-of-file, so a broken stream never becomes a short archive or object.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// Bytes per chunk sent through the pipe (chosen: 256 KiB, large enough that the channel
/// costs nothing next to compression, small next to a part).
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks the pipe holds (chosen: 16, so at most 4 MiB sit between the two ends).
const PIPE_CHUNKS: usize = 16;

/// The writing end.
#[derive(Debug)]
pub struct PipeWriter {
    tx: Option<PollSender<Bytes>>,
    buf: BytesMut,
    closed: Arc<AtomicBool>,
}

/// The reading end.
#[derive(Debug)]
pub struct PipeReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    closed: Arc<AtomicBool>,
}

/// A new pipe of at most `PIPE_CHUNKS` chunks of `CHUNK_BYTES`.
#[must_use]
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = mpsc::channel(PIPE_CHUNKS);
    let closed = Arc::new(AtomicBool::new(false));
    (
        PipeWriter {
            tx: Some(PollSender::new(tx)),
            buf: BytesMut::with_capacity(CHUNK_BYTES),
            closed: Arc::clone(&closed),
        },
        PipeReader {
            rx,
            current: Bytes::new(),
            closed,
        },
    )
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the other end of the pipe stopped",
    )
}

fn stopped_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the stream stopped before its end",
    )
}

impl PipeWriter {
    /// Ends the stream cleanly, after what was written has been flushed.
    pub fn close(&mut self) {
        if self.buf.is_empty() {
            self.closed.store(true, Ordering::Release);
        }
        self.tx = None;
    }

    fn send_blocking(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        let tx = self
            .tx
            .as_ref()
            .and_then(PollSender::get_ref)
            .ok_or_else(broken)?;
        tx.blocking_send(chunk).map_err(|_| broken())
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let tx = self.tx.as_mut().ok_or_else(broken)?;
        ready!(tx.poll_reserve(cx)).map_err(|_| broken())?;
        let chunk = self.buf.split().freeze();
        tx.send_item(chunk).map_err(|_| broken())?;
        Poll::Ready(Ok(()))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() >= CHUNK_BYTES {
            self.send_blocking()?;
        }
        let n = data.len().min(CHUNK_BYTES - self.buf.len());
        self.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_blocking()
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= CHUNK_BYTES {
            ready!(this.poll_send(cx))?;
        }
        let n = data.len().min(CHUNK_BYTES - this.buf.len());
        this.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }
}

impl PipeReader {
    /// After the channel ended: end-of-file if the writer closed, else an error.
    fn ended(&self) -> io::Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(stopped_early())
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return self.ended().map(|()| 0),
            }
        }
        let n = out.len().min(self.current.len());
        self.current
            .copy_to_slice(out.get_mut(..n).unwrap_or_default());
        Ok(n)
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.current.is_empty() {
            match ready!(this.rx.poll_recv(cx)) {
                Some(b) => this.current = b,
                None => return Poll::Ready(this.ended()),
            }
        }
        let n = out.remaining().min(this.current.len());
        out.put_slice(this.current.split_to(n).as_ref());
        Poll::Ready(Ok(()))
    }
}

/// Runs `decode(input)` on a thread of its own and hands what it yields to `consume` through
/// a pipe, so that decompression and extraction use two cores at once (as `pigz -dc | tar
/// -x` does). An error of `decode` reaches `consume` as the read error that follows what was
/// decoded before it; a decoder that stops without an error and without reaching its end
/// cannot happen (the pipe is closed only after the whole stream was copied).
pub(crate) fn decode_ahead<R, D, T>(
    input: R,
    decode: impl FnOnce(R) -> io::Result<D> + Send,
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> T
where
    R: Read + Send,
    D: Read,
{
    let (mut writer, reader) = pipe();
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        let failure_slot = &failure;
        s.spawn(move || {
            let copied = decode(input)
                .and_then(|mut d| io::copy(&mut d, &mut writer))
                .and_then(|_| writer.flush());
            match copied {
                Ok(()) => writer.close(),
                Err(e) => {
                    // What was decoded before the error goes first (best effort: the
                    // consumer may have quit).
                    let _ = writer.flush();
                    *failure_slot
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                }
            }
        });
        let mut relay = Relay {
            reader,
            failure: &failure,
        };
        // `relay` (the reading end) is dropped before the scope joins the decoder, which
        // then stops at its next write if `consume` returned early.
        consume(&mut relay)
    })
}

/// The reading end of [`decode_ahead`]: the decoder's own error in place of the pipe's.
struct Relay<'a> {
    reader: PipeReader,
    failure: &'a std::sync::Mutex<Option<io::Error>>,
}

impl Read for Relay<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.reader.read(out).map_err(|e| {
            self.failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .unwrap_or(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn closed_stream_ends_and_dropped_stream_fails() {
        let (mut w, mut r) = pipe();
        let writer = tokio::task::spawn_blocking(move || {
            w.write_all(&vec![7u8; CHUNK_BYTES * 3 + 5]).unwrap();
            w.flush().unwrap();
            w.close();
        });
        let mut got = Vec::new();
        AsyncReadExt::read_to_end(&mut r, &mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), CHUNK_BYTES * 3 + 5);

        let (mut w, mut r) = pipe();
        let writer = tokio::task::spawn_blocking(move || {
            w.write_all(b"partial").unwrap();
            w.flush().unwrap();
            drop(w);
        });
        let err = AsyncReadExt::read_to_end(&mut r, &mut Vec::new())
            .await
            .unwrap_err();
        writer.await.unwrap();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn decode_ahead_relays_the_stream_and_the_decoders_error() {
        /// Yields `good` bytes, then fails.
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad block"));
                }
                let n = out.len().min(self.0);
                out[..n].fill(1);
                self.0 -= n;
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..CHUNK_BYTES * 5 + 17).map(|i| (i % 251) as u8).collect();
        let got = decode_ahead(&data[..], Ok, |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        });
        assert_eq!(got.unwrap(), data);

        let mut seen = 0;
        let err = decode_ahead(
            &b""[..],
            |_| Ok(Failing(CHUNK_BYTES * 2)),
            |r| {
                let mut buf = vec![0u8; 4096];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => return None,
                        Ok(n) => seen += n,
                        Err(e) => return Some(e),
                    }
                }
            },
        )
        .expect("an error, not an end");
        assert_eq!(err.to_string(), "bad block");
        assert_eq!(seen, CHUNK_BYTES * 2);

        // A consumer that stops early does not hang the decoder.
        let endless = io::repeat(0);
        let first = decode_ahead(endless, Ok, |r| {
            let mut b = [0u8; 10];
            r.read_exact(&mut b).map(|()| b)
        });
        assert_eq!(first.unwrap(), [0u8; 10]);
    }
}
