//! Bodies as they cross the proxy: requests counted on their way up, responses counted on
//! their way down and, when the dice say so, cut short ([`Cut`]); and the S3 error answers the
//! proxy writes itself.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;

use super::conn::ConnFaults;
use super::ops::S3Op;
use super::stats::{Admitted, Counters, InFlight, bump};

/// How long a cut body waits, after its last byte is handed over and before the connection is
/// broken.
///
/// Chosen: hyper writes out what it holds while the body is pending, and a loopback client
/// reads it within this time, so the client sees the body break mid-way (its head and some
/// bytes arrived) rather than a connection that closed before the answer.
pub(crate) const CUT_PAUSE: Duration = Duration::from_millis(50);

/// Why a body ended in error: the proxy broke it on purpose, or the upstream's broke.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FaultError {
    /// A fault the mode asked for (the connection is closed or reset after it).
    #[error("injected fault: {0}")]
    Injected(&'static str),
    /// The upstream gateway's response body broke off.
    #[error("upstream response body broke off")]
    Upstream(#[source] hyper::Error),
}

/// A request body on its way to the upstream gateway, counted in `bytes_up` (the total and
/// its operation's).
pub(crate) struct UpBody {
    inner: Incoming,
    counters: Arc<Counters>,
    op: S3Op,
}

impl UpBody {
    pub(crate) fn new(inner: Incoming, counters: Arc<Counters>, op: S3Op) -> Self {
        Self {
            inner,
            counters,
            op,
        }
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.counters.count_up(this.op, data.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a cut body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CutKind {
    /// The connection is reset (TCP RST): the client reads an error.
    Reset,
    /// The connection is closed (FIN): the client reads end of file before `Content-Length`.
    Truncate,
}

/// Where a response body is cut and what happens then.
pub(crate) struct Cut {
    kind: CutKind,
    at: CutAt,
    conn: Arc<ConnFaults>,
    pause: Option<Pin<Box<Sleep>>>,
}

/// Where to cut.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CutAt {
    /// After this many body bytes (below the body's length).
    Offset(u64),
    /// Somewhere inside the first data frame (for a body of unknown length): this roll of the
    /// dice modulo the frame's length.
    InFirstFrame(u64),
}

impl Cut {
    pub(crate) fn new(kind: CutKind, at: CutAt, conn: Arc<ConnFaults>) -> Self {
        Self {
            kind,
            at,
            conn,
            pause: None,
        }
    }
}

/// Where a response body comes from.
enum Source {
    /// An answer the proxy wrote (an S3 error): its bytes, until sent.
    Generated(Option<Bytes>),
    /// The upstream gateway's response body.
    Upstream(Incoming),
}

/// A response body on its way to the client, an upstream one counted in `bytes_down` (the
/// total and its operation's). It holds the request's [`InFlight`] and [`Admitted`] guards,
/// so the request counts as in flight until hyper has sent (or dropped) its body.
pub(crate) struct ProxyBody {
    source: Source,
    cut: Option<Cut>,
    sent: u64,
    counters: Arc<Counters>,
    op: S3Op,
    _in_flight: InFlight,
    _admitted: Option<Admitted>,
}

impl ProxyBody {
    /// The upstream's body, passed through (and cut, with `cut`).
    pub(crate) fn upstream(
        inner: Incoming,
        cut: Option<Cut>,
        counters: Arc<Counters>,
        op: S3Op,
        in_flight: InFlight,
        admitted: Option<Admitted>,
    ) -> Self {
        Self {
            source: Source::Upstream(inner),
            cut,
            sent: 0,
            counters,
            op,
            _in_flight: in_flight,
            _admitted: admitted,
        }
    }

    /// A body the proxy wrote (not counted in `bytes_down`).
    fn generated(bytes: Bytes, counters: Arc<Counters>, op: S3Op, in_flight: InFlight) -> Self {
        Self {
            source: Source::Generated(Some(bytes)),
            cut: None,
            sent: 0,
            counters,
            op,
            _in_flight: in_flight,
            _admitted: None,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = FaultError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, FaultError>>> {
        let this = self.get_mut();
        loop {
            // A body past its cut waits out the pause, then breaks the connection.
            if let Some(cut) = &mut this.cut
                && let Some(pause) = &mut cut.pause
            {
                ready!(pause.as_mut().poll(cx));
                let what = match cut.kind {
                    CutKind::Reset => {
                        cut.conn.reset();
                        bump(&this.counters.resets);
                        "connection reset mid-body"
                    }
                    CutKind::Truncate => {
                        bump(&this.counters.truncations);
                        "body truncated"
                    }
                };
                this.cut = None;
                this.source = Source::Generated(None);
                return Poll::Ready(Some(Err(FaultError::Injected(what))));
            }

            let frame = match &mut this.source {
                Source::Generated(bytes) => {
                    return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b))));
                }
                Source::Upstream(inner) => ready!(Pin::new(inner).poll_frame(cx)),
            };
            let frame = match frame {
                None => return Poll::Ready(None),
                Some(Err(err)) => return Poll::Ready(Some(Err(FaultError::Upstream(err)))),
                Some(Ok(frame)) => frame,
            };
            let mut data = match frame.into_data() {
                Ok(data) => data,
                Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
            };
            let len = data.len() as u64;
            if let Some(cut) = &mut this.cut {
                let at = match cut.at {
                    CutAt::Offset(at) => at,
                    CutAt::InFirstFrame(roll) => this.sent + roll % len.max(1),
                };
                if this.sent + len >= at {
                    data.truncate(usize::try_from(at - this.sent).unwrap_or(usize::MAX));
                    cut.pause = Some(Box::pin(tokio::time::sleep(CUT_PAUSE)));
                }
            }
            this.sent += data.len() as u64;
            this.counters.count_down(this.op, data.len() as u64);
            if data.is_empty() && this.cut.is_some() {
                // Nothing of this frame goes out: straight to the pause.
                continue;
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Generated(bytes) => bytes.is_none(),
            Source::Upstream(inner) => self.cut.is_none() && inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Generated(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            // A cut body still announces its whole length: that is the fault.
            Source::Upstream(inner) => inner.size_hint(),
        }
    }
}

/// An S3 error the proxy answers itself.
pub(crate) struct S3ErrorReply<'a> {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: &'static str,
    /// More elements after `<Message>`, already XML (e.g. `<MaxSizeAllowed>…`).
    pub(crate) extra_xml: String,
    pub(crate) request_id: &'a str,
    /// Whether the connection closes after this answer (`Connection: close`).
    pub(crate) close: bool,
}

impl S3ErrorReply<'_> {
    /// The response: S3's XML error document, `x-amz-request-id`, `Content-Length`; counted
    /// as an answer to `op`.
    pub(crate) fn into_response(
        self,
        counters: Arc<Counters>,
        op: S3Op,
        in_flight: InFlight,
    ) -> Response<ProxyBody> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Error><Code>{}</Code><Message>{}</Message>{}<RequestId>{}</RequestId></Error>",
            self.code, self.message, self.extra_xml, self.request_id
        );
        let len = body.len();
        counters.count_answer(op, self.status);
        let mut resp = Response::new(ProxyBody::generated(
            Bytes::from(body),
            counters,
            op,
            in_flight,
        ));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if let Ok(id) = HeaderValue::from_str(self.request_id) {
            headers.insert("x-amz-request-id", id);
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}
