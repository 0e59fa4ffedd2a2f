//! Request bodies that report how far they have been sent.
//!
//! The send-idle and first-byte timeouts need to know when a body chunk was last taken by the
//! connection and when the last one went: [`SendWatch`] records that as the connection polls
//! the body. In-memory bodies are handed out in slices of [`FRAME_BYTES`] so that progress is
//! seen while a large part is written, not only once at the start.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Largest slice of an in-memory body handed to the connection at once. Chosen: 256 KiB, a few
/// socket buffers' worth, so progress is recorded several times per second even on a slow link.
pub const FRAME_BYTES: usize = 256 * 1024;

/// The source of a streamed request body failed (for example a read error on the local file).
#[derive(Debug, thiserror::Error)]
#[error("request body source failed: {0}")]
pub struct BodyError(#[from] pub std::io::Error);

/// How far a request body has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// The connection has not asked for body data yet (still connecting).
    NotStarted,
    /// Data is being sent; `last_progress` is when a chunk was last taken.
    Sending {
        /// When the connection last took a chunk.
        last_progress: Instant,
    },
    /// The whole body was handed to the connection.
    Done {
        /// When the last chunk was taken.
        at: Instant,
    },
}

#[derive(Debug)]
struct WatchState {
    state: SendState,
    source_failed: bool,
}

/// Shared view of a body's progress, read by the transport's timeout logic.
#[derive(Debug, Clone)]
pub struct SendWatch(Arc<Mutex<WatchState>>);

impl SendWatch {
    fn new(state: SendState) -> Self {
        Self(Arc::new(Mutex::new(WatchState {
            state,
            source_failed: false,
        })))
    }

    /// Current progress.
    #[must_use]
    pub fn state(&self) -> SendState {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).state
    }

    /// Whether the body's own source (not the network) failed.
    #[must_use]
    pub fn source_failed(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .source_failed
    }

    fn set(&self, state: SendState) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).state = state;
    }

    fn fail(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .source_failed = true;
    }
}

enum Kind {
    Empty,
    Full(Bytes),
    Channel {
        rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
        len: Option<u64>,
        sent: u64,
        ended: bool,
    },
}

/// A request body: empty, in memory (can be sent again on retry), or streamed from a channel
/// (sent once).
pub struct Body {
    kind: Kind,
    watch: SendWatch,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty".to_owned(),
            Kind::Full(b) => format!("{} bytes in memory", b.len()),
            Kind::Channel { len, .. } => format!("streamed, {len:?} bytes"),
        };
        f.debug_struct("Body")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// No body. Its send phase counts as done at once.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            kind: Kind::Empty,
            watch: SendWatch::new(SendState::Done { at: Instant::now() }),
        }
    }

    /// A body held in memory. `Bytes` clones are cheap, so a retry builds a new one from the
    /// same buffer.
    #[must_use]
    pub fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            return Self::empty();
        }
        Self {
            kind: Kind::Full(bytes),
            watch: SendWatch::new(SendState::NotStarted),
        }
    }

    /// A body streamed from a bounded channel, of `len` bytes when known. A chunk that is an
    /// `Err` aborts the request and marks the failure as the source's, not the network's.
    #[must_use]
    pub fn channel(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>, len: Option<u64>) -> Self {
        Self {
            kind: Kind::Channel {
                rx,
                len,
                sent: 0,
                ended: false,
            },
            watch: SendWatch::new(SendState::NotStarted),
        }
    }

    /// The progress watch of this body.
    #[must_use]
    pub fn watch(&self) -> SendWatch {
        self.watch.clone()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let now = Instant::now();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(rest) => {
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                let chunk = rest.split_to(rest.len().min(FRAME_BYTES));
                if rest.is_empty() {
                    this.watch.set(SendState::Done { at: now });
                } else {
                    this.watch.set(SendState::Sending { last_progress: now });
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Kind::Channel {
                rx,
                len,
                sent,
                ended,
            } => {
                if *ended {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(None) => {
                        *ended = true;
                        this.watch.set(SendState::Done { at: now });
                        if let Some(len) = *len
                            && *sent != len
                        {
                            this.watch.fail();
                            return Poll::Ready(Some(Err(BodyError(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                format!("body source ended after {sent} of {len} bytes"),
                            )))));
                        }
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(Err(e))) => {
                        *ended = true;
                        this.watch.fail();
                        Poll::Ready(Some(Err(BodyError(e))))
                    }
                    Poll::Ready(Some(Ok(chunk))) => {
                        *sent += chunk.len() as u64;
                        if len.is_some_and(|l| *sent >= l) {
                            this.watch.set(SendState::Done { at: now });
                        } else {
                            this.watch.set(SendState::Sending { last_progress: now });
                        }
                        Poll::Ready(Some(Ok(Frame::data(chunk))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(rest) => rest.is_empty(),
            Kind::Channel { ended, .. } => *ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(rest) => SizeHint::with_exact(rest.len() as u64),
            Kind::Channel { len, sent, .. } => match len {
                Some(l) => SizeHint::with_exact(l.saturating_sub(*sent)),
                None => SizeHint::default(),
            },
        }
    }
}
