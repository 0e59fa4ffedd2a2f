//! Hostile listings (`haul gateway synthetic --hostile MODE`): the synthetic gateway answers
//! every ListObjects (V1) and ListObjectsV2 request — with or without a delimiter, whatever
//! page it asks for — the way a broken or malicious gateway would, so that a client's
//! defences (a cap on what it buffers, a refused cursor that repeats, a refused DOCTYPE, a
//! timeout on a body that stalls) can be tested end to end. HeadObject, GetObject and the
//! other answers stay normal.
//!
//! - [`HostileMode::HugePage`]: a `200 OK` `ListBucketResult` of [`HUGE_PAGE_BYTES`] or a
//!   little more, with its `Content-Length`: a normal page head, then `<Contents>` entries
//!   whose keys are 1,024 bytes long (S3's longest), in key order, then the end of the
//!   document — well-formed to its last byte.
//! - [`HostileMode::EndlessPage`]: a `200 OK` chunked answer that never ends: the same head,
//!   then entries for ever.
//! - [`HostileMode::TokenLoop`]: a small, valid page holding no entries, `IsTruncated`
//!   true, and the same `NextContinuationToken` (V2) or `NextMarker` (V1), [`LOOP_TOKEN`],
//!   whatever the request asked: a client that follows it pages for ever and receives
//!   nothing (and a sync has nothing to download before it notices).
//! - [`HostileMode::TokenCycle`]: as the token loop, but the next cursor alternates between
//!   two values ([`CYCLE_TOKENS`]), so that no page repeats the cursor it was asked with.
//! - [`HostileMode::EmptyPages`]: empty truncated pages for ever, each with a new cursor
//!   (the one asked for, plus one): never a repeat, never an end.
//! - [`HostileMode::EntityBomb`]: a billion-laughs document: a `<!DOCTYPE>` declaring
//!   entities nested [`BOMB_LEVELS`] deep, each ten of the one before, and a
//!   `ListBucketResult` whose one key is the last of them (3 GB once expanded).
//! - [`HostileMode::SlowDrip`]: the normal answer, with its `Content-Length`, one byte every
//!   [`DRIP_INTERVAL`] after the headers: a pause between two bytes is never long, but a page
//!   takes hours.
//!
//! Bodies are generated as the connection takes them ([`Generated`] is an
//! [`http_body::Body`] polled by hyper), never held whole: a huge or endless answer costs
//! one chunk of memory, and generation stops when the client goes away (hyper drops the
//! body; the drop is counted in [`HostileCounters::abandoned`]).

use std::fmt;
use std::fmt::Write as _;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use percent_encoding::utf8_percent_encode;

use super::xml::{XML_HEAD, XML_NS, escape};
use crate::store::LISTING_KEY_ENCODE;

/// Size of a [`HostileMode::HugePage`] answer, at least. Chosen: 100 MiB, six times the
/// 16 MiB haul buffers for one XML answer, and more than any real page (1,000 keys of
/// 1,024 bytes make about 1.3 MiB).
pub const HUGE_PAGE_BYTES: u64 = 100 * 1024 * 1024;

/// The continuation token and marker a [`HostileMode::TokenLoop`] page always gives.
pub const LOOP_TOKEN: &str = "hostile-token-loop";

/// The two cursors a [`HostileMode::TokenCycle`] page alternates between.
pub const CYCLE_TOKENS: [&str; 2] = ["hostile-cycle-a", "hostile-cycle-b"];

/// Levels of nested entities in a [`HostileMode::EntityBomb`]: the classic billion laughs,
/// `lol9` expands to 10^9 copies of `lol`.
pub const BOMB_LEVELS: u32 = 9;

/// The pause between two bytes of a [`HostileMode::SlowDrip`] answer. Chosen: one second,
/// far below any idle timeout (haul's body idle timeout is 60 s), so only a client that
/// bounds a whole answer's time notices.
pub const DRIP_INTERVAL: Duration = Duration::from_secs(1);

/// Longest key S3 allows, the length of every generated key. Taken from the S3 user guide
/// ("The object key name … up to 1,024 bytes long").
const KEY_BYTES: usize = 1024;

/// What one poll of a generated body produces, at least one entry. Chosen: 64 KiB, hyper's
/// write buffer is of that order, so a chunk is written in one go and little sits queued.
const CHUNK_BYTES: usize = 64 * 1024;

/// Every generated key starts with the listing's prefix, then this, then its index.
const KEY_STEM: &str = "hostile-";

/// Digits of a generated key's index; fixed, so keys sort by index. Chosen: a client reading
/// 10^12 entries of a kilobyte would read an exabyte first.
const INDEX_DIGITS: usize = 12;

/// The ETag of an empty object (MD5 of nothing), as every generated entry has.
const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// How a hostile synthetic gateway answers listings; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileMode {
    /// A page of about [`HUGE_PAGE_BYTES`], streamed with a `Content-Length`.
    HugePage,
    /// A chunked page that never ends.
    EndlessPage,
    /// An empty truncated page whose next cursor is always [`LOOP_TOKEN`].
    TokenLoop,
    /// An empty truncated page whose next cursor alternates between [`CYCLE_TOKENS`].
    TokenCycle,
    /// Empty truncated pages, each with a new next cursor.
    EmptyPages,
    /// A billion-laughs document.
    EntityBomb,
    /// The normal answer, one byte per [`DRIP_INTERVAL`].
    SlowDrip,
}

impl HostileMode {
    /// Every mode, in the order the docs list them.
    pub const ALL: [HostileMode; 7] = [
        HostileMode::HugePage,
        HostileMode::EndlessPage,
        HostileMode::TokenLoop,
        HostileMode::TokenCycle,
        HostileMode::EmptyPages,
        HostileMode::EntityBomb,
        HostileMode::SlowDrip,
    ];

    /// The name used on the command line, e.g. `huge-page`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HostileMode::HugePage => "huge-page",
            HostileMode::EndlessPage => "endless-page",
            HostileMode::TokenLoop => "token-loop",
            HostileMode::TokenCycle => "token-cycle",
            HostileMode::EmptyPages => "empty-pages",
            HostileMode::EntityBomb => "entity-bomb",
            HostileMode::SlowDrip => "slow-drip",
        }
    }
}

impl fmt::Display for HostileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`HostileMode`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown hostile mode {0:?}: use huge-page, endless-page, token-loop, token-cycle, empty-pages, entity-bomb or slow-drip"
)]
pub struct UnknownHostileMode(String);

impl FromStr for HostileMode {
    type Err = UnknownHostileMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostileMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownHostileMode(s.to_owned()))
    }
}

/// Counters of hostile answers, shared with the bodies that are still being generated.
#[derive(Debug, Default)]
pub(crate) struct HostileCounters {
    /// Hostile listing answers started.
    pub(crate) answers: AtomicU64,
    /// Body bytes of hostile answers handed to the connection.
    pub(crate) bytes: AtomicU64,
    /// Hostile answers dropped before their end (the client went away): their generation
    /// stopped there.
    pub(crate) abandoned: AtomicU64,
}

/// What a hostile answer echoes of the listing request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) bucket: &'a str,
    /// ListObjectsV2 (else V1).
    pub(crate) v2: bool,
    pub(crate) prefix: &'a str,
    /// Empty for none.
    pub(crate) delimiter: &'a str,
    /// The V1 `marker` or the V2 `continuation-token`, as sent.
    pub(crate) cursor: Option<&'a str>,
    pub(crate) max_keys: usize,
    /// `encoding-type=url`.
    pub(crate) url: bool,
    /// Every entry's `LastModified`.
    pub(crate) last_modified: &'a str,
}

impl Request<'_> {
    /// `s` as a key-like value of the answer: percent-encoded when asked, XML-escaped.
    fn enc(&self, s: &str) -> String {
        if self.url {
            escape(&utf8_percent_encode(s, LISTING_KEY_ENCODE).to_string())
        } else {
            escape(s)
        }
    }

    /// The document up to its first entry: declaration, root, the echoed parameters,
    /// `KeyCount` when known (V2), `IsTruncated` and the next cursor when given.
    fn head(&self, key_count: Option<u64>, truncated: bool, next: Option<&str>) -> String {
        let mut out = String::from(XML_HEAD);
        let _ = write!(out, "<ListBucketResult xmlns=\"{XML_NS}\">");
        let _ = write!(out, "<Name>{}</Name>", escape(self.bucket));
        let _ = write!(out, "<Prefix>{}</Prefix>", self.enc(self.prefix));
        match (self.v2, self.cursor) {
            (false, cursor) => {
                let _ = write!(out, "<Marker>{}</Marker>", self.enc(cursor.unwrap_or("")));
            }
            (true, Some(token)) => {
                let _ = write!(
                    out,
                    "<ContinuationToken>{}</ContinuationToken>",
                    escape(token)
                );
            }
            (true, None) => {}
        }
        if !self.delimiter.is_empty() {
            let _ = write!(out, "<Delimiter>{}</Delimiter>", self.enc(self.delimiter));
        }
        let _ = write!(out, "<MaxKeys>{}</MaxKeys>", self.max_keys);
        if self.url {
            out.push_str("<EncodingType>url</EncodingType>");
        }
        if let (true, Some(n)) = (self.v2, key_count) {
            let _ = write!(out, "<KeyCount>{n}</KeyCount>");
        }
        let _ = write!(out, "<IsTruncated>{truncated}</IsTruncated>");
        if let Some(next) = next {
            if self.v2 {
                let _ = write!(
                    out,
                    "<NextContinuationToken>{}</NextContinuationToken>",
                    escape(next)
                );
            } else {
                let _ = write!(out, "<NextMarker>{}</NextMarker>", self.enc(next));
            }
        }
        out
    }
}

/// The end of every listing document.
const TAIL: &str = "</ListBucketResult>";

/// The `<Contents>` entries of a huge or endless page: key `i` is the prefix,
/// [`KEY_STEM`], `i` in [`INDEX_DIGITS`] digits and `x`s up to [`KEY_BYTES`], so every entry
/// has the same length and the keys are in order.
#[derive(Debug, Clone)]
struct Entries {
    /// The entry's text before the index (`<Contents><Key>` and the encoded prefix and stem).
    before: String,
    /// The entry's text after the index (padding and the rest of the entry).
    after: String,
}

impl Entries {
    fn new(req: &Request<'_>) -> Self {
        let pad = KEY_BYTES.saturating_sub(req.prefix.len() + KEY_STEM.len() + INDEX_DIGITS);
        let before = format!("<Contents><Key>{}{KEY_STEM}", req.enc(req.prefix));
        let after = format!(
            "{}</Key><LastModified>{}</LastModified><ETag>&quot;{EMPTY_ETAG}&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>",
            "x".repeat(pad),
            req.last_modified,
        );
        Self { before, after }
    }

    /// Bytes of one entry.
    fn len(&self) -> u64 {
        (self.before.len() + INDEX_DIGITS + self.after.len()) as u64
    }

    /// Entries `first..first + n`, appended to `out`.
    fn write(&self, out: &mut String, first: u64, n: u64) {
        for i in first..first + n {
            out.push_str(&self.before);
            let _ = write!(out, "{i:0INDEX_DIGITS$}");
            out.push_str(&self.after);
        }
    }
}

/// What a [`Generated`] body still has to produce.
#[derive(Debug)]
enum Source {
    /// A head, entries `next..end` (`end` `None`: for ever), then the tail.
    Entries {
        head: Option<Bytes>,
        entries: Entries,
        next: u64,
        end: Option<u64>,
        tail: Option<Bytes>,
    },
    /// `body[at..]`, one byte per [`DRIP_INTERVAL`]; the next after `sleep`.
    Drip {
        body: Bytes,
        at: usize,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    /// A whole answer in one chunk (token loop, entity bomb), `None` once sent.
    Once(Option<Bytes>),
}

/// A hostile answer's body, produced as hyper polls it.
#[derive(Debug)]
pub(crate) struct Generated {
    mode: HostileMode,
    source: Source,
    /// The answer's length when it has one (`Content-Length`).
    length: Option<u64>,
    sent: u64,
    done: bool,
    counters: Arc<HostileCounters>,
}

impl Generated {
    fn new(
        mode: HostileMode,
        source: Source,
        length: Option<u64>,
        counters: &Arc<HostileCounters>,
    ) -> Self {
        counters.answers.fetch_add(1, Ordering::Relaxed);
        Self {
            mode,
            source,
            length,
            sent: 0,
            done: false,
            counters: Arc::clone(counters),
        }
    }

    /// The answer's length, if it has one (everything but the endless page).
    pub(crate) fn length(&self) -> Option<u64> {
        self.length
    }

    /// Whether the whole answer was handed over. hyper stops polling a body once its
    /// `Content-Length` is sent, so the end is not always seen as `None`.
    fn finished(&self) -> bool {
        self.done || self.length == Some(self.sent)
    }

    /// The next chunk: `Ready(None)` at the end, `Pending` while a drip waits.
    fn next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match &mut self.source {
            Source::Entries {
                head,
                entries,
                next,
                end,
                tail,
            } => {
                if let Some(head) = head.take() {
                    return Poll::Ready(Some(head));
                }
                let left = end.map_or(u64::MAX, |end| end.saturating_sub(*next));
                if left > 0 {
                    let per_chunk = (CHUNK_BYTES as u64 / entries.len()).max(1);
                    let n = per_chunk.min(left);
                    let mut out = String::with_capacity(CHUNK_BYTES + entries.len() as usize);
                    entries.write(&mut out, *next, n);
                    *next += n;
                    return Poll::Ready(Some(Bytes::from(out)));
                }
                Poll::Ready(tail.take())
            }
            Source::Drip { body, at, sleep } => {
                if *at >= body.len() {
                    return Poll::Ready(None);
                }
                if let Some(s) = sleep
                    && s.as_mut().poll(cx).is_pending()
                {
                    return Poll::Pending;
                }
                let byte = body.slice(*at..=*at);
                *at += 1;
                *sleep = Some(Box::pin(tokio::time::sleep(DRIP_INTERVAL)));
                Poll::Ready(Some(byte))
            }
            Source::Once(whole) => Poll::Ready(whole.take()),
        }
    }
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.next_chunk(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(chunk)) => {
                this.sent += chunk.len() as u64;
                this.counters
                    .bytes
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(len) => SizeHint::with_exact(len.saturating_sub(self.sent)),
            None => SizeHint::default(),
        }
    }
}

impl Drop for Generated {
    fn drop(&mut self) {
        if !self.finished() {
            self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                mode = %self.mode,
                sent_bytes = self.sent,
                "hostile answer abandoned by the client: generation stopped"
            );
        }
    }
}

/// The hostile answer's body for `req`; `None` for [`HostileMode::SlowDrip`], whose answer is
/// the normal one, dripped ([`drip`]).
pub(crate) fn listing(
    mode: HostileMode,
    req: &Request<'_>,
    counters: &Arc<HostileCounters>,
) -> Option<Generated> {
    tracing::info!(%mode, v2 = req.v2, prefix = req.prefix, delimiter = req.delimiter, "hostile listing answer");
    let body = match mode {
        HostileMode::HugePage => {
            let entries = Entries::new(req);
            let tail = Bytes::from_static(TAIL.as_bytes());
            // The head's KeyCount holds the count, whose digits change the head's length:
            // count with a head as long as it will be (the count has at most 20 digits).
            let guess = req.head(Some(0), false, None).len() as u64;
            let n = HUGE_PAGE_BYTES
                .saturating_sub(guess + tail.len() as u64)
                .div_ceil(entries.len());
            let head = Bytes::from(req.head(Some(n), false, None));
            let length = head.len() as u64 + n * entries.len() + tail.len() as u64;
            let source = Source::Entries {
                head: Some(head),
                entries,
                next: 0,
                end: Some(n),
                tail: Some(tail),
            };
            Generated::new(mode, source, Some(length), counters)
        }
        HostileMode::EndlessPage => {
            let source = Source::Entries {
                head: Some(Bytes::from(req.head(None, false, None))),
                entries: Entries::new(req),
                next: 0,
                end: None,
                tail: None,
            };
            Generated::new(mode, source, None, counters)
        }
        HostileMode::TokenLoop => {
            let mut page = req.head(Some(0), true, Some(LOOP_TOKEN));
            page.push_str(TAIL);
            once(mode, Bytes::from(page), counters)
        }
        HostileMode::TokenCycle => {
            let next = if req.cursor == Some(CYCLE_TOKENS[0]) {
                CYCLE_TOKENS[1]
            } else {
                CYCLE_TOKENS[0]
            };
            let mut page = req.head(Some(0), true, Some(next));
            page.push_str(TAIL);
            once(mode, Bytes::from(page), counters)
        }
        HostileMode::EmptyPages => {
            let n = req
                .cursor
                .and_then(|c| c.strip_prefix("hostile-empty-"))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            let next = format!("hostile-empty-{:012}", n + 1);
            let mut page = req.head(Some(0), true, Some(&next));
            page.push_str(TAIL);
            once(mode, Bytes::from(page), counters)
        }
        HostileMode::EntityBomb => once(mode, Bytes::from(entity_bomb(req)), counters),
        HostileMode::SlowDrip => return None,
    };
    Some(body)
}

/// `body` one byte per [`DRIP_INTERVAL`], the first at once.
pub(crate) fn drip(body: Bytes, counters: &Arc<HostileCounters>) -> Generated {
    tracing::info!(bytes = body.len(), "hostile listing answer: slow drip");
    let length = body.len() as u64;
    let source = Source::Drip {
        body,
        at: 0,
        sleep: None,
    };
    Generated::new(HostileMode::SlowDrip, source, Some(length), counters)
}

fn once(mode: HostileMode, body: Bytes, counters: &Arc<HostileCounters>) -> Generated {
    let length = body.len() as u64;
    Generated::new(mode, Source::Once(Some(body)), Some(length), counters)
}

/// The billion laughs with a `ListBucketResult` root whose one key is the deepest entity.
fn entity_bomb(req: &Request<'_>) -> String {
    let mut out = String::from(XML_HEAD);
    out.push_str("<!DOCTYPE ListBucketResult [\n<!ENTITY lol0 \"lol\">\n");
    for level in 1..=BOMB_LEVELS {
        let _ = write!(out, "<!ENTITY lol{level} \"");
        for _ in 0..10 {
            let _ = write!(out, "&lol{};", level - 1);
        }
        out.push_str("\">\n");
    }
    out.push_str("]>\n");
    // The head's declaration is already written; the rest of the head follows it.
    let head = req.head(Some(1), false, None);
    out.push_str(head.strip_prefix(XML_HEAD).unwrap_or(&head));
    let _ = write!(
        out,
        "<Contents><Key>{}&lol{BOMB_LEVELS};</Key><LastModified>{}</LastModified><ETag>&quot;{EMPTY_ETAG}&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>{TAIL}",
        req.enc(req.prefix),
        req.last_modified,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn request(v2: bool, prefix: &'static str, delimiter: &'static str) -> Request<'static> {
        Request {
            bucket: "registry",
            v2,
            prefix,
            delimiter,
            cursor: None,
            max_keys: 1000,
            url: true,
            last_modified: "2026-01-01T00:00:00.000Z",
        }
    }

    /// Polls `body` once; `None` at its end. Panics when it is not ready (no drip here).
    fn poll(body: &mut Generated) -> Option<Bytes> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => Some(frame.into_data().unwrap()),
            Poll::Ready(None) => None,
            Poll::Ready(Some(Err(e))) => match e {},
            Poll::Pending => panic!("a generated body is always ready"),
        }
    }

    /// The keys of a run of `<Contents>` entries.
    fn keys_of(text: &str) -> Vec<String> {
        text.split("<Key>")
            .skip(1)
            .map(|rest| rest.split_once("</Key>").unwrap().0.to_owned())
            .collect()
    }

    #[test]
    fn modes_round_trip_their_names() {
        for mode in HostileMode::ALL {
            assert_eq!(mode.as_str().parse::<HostileMode>().unwrap(), mode);
        }
        let err = "huge".parse::<HostileMode>().unwrap_err().to_string();
        assert!(err.contains("huge-page"), "{err}");
    }

    #[test]
    fn the_huge_page_is_over_100_mib_and_well_formed_to_its_end() {
        let counters = Arc::default();
        for (v2, prefix, delimiter) in [
            (true, "", ""),
            (false, "docker/registry/v2/blobs/sha256/", "/"),
        ] {
            let req = request(v2, prefix, delimiter);
            let mut body = listing(HostileMode::HugePage, &req, &counters).unwrap();
            let length = body.length().unwrap();
            assert!(length >= HUGE_PAGE_BYTES, "{length}");
            assert_eq!(body.size_hint().exact(), Some(length));
            let head = poll(&mut body).unwrap();
            let head = std::str::from_utf8(&head).unwrap();
            assert!(head.starts_with(XML_HEAD), "{head}");
            assert!(head.contains("<IsTruncated>false</IsTruncated>"), "{head}");
            let key_count = head
                .split_once("<KeyCount>")
                .map(|(_, rest)| rest.split_once('<').unwrap().0.parse::<u64>().unwrap());
            assert_eq!(key_count.is_some(), v2, "{head}");
            let mut total = head.len() as u64;
            let mut last: Option<String> = None;
            let mut keys = 0u64;
            let mut tail = None;
            while let Some(chunk) = poll(&mut body) {
                total += chunk.len() as u64;
                let text = std::str::from_utf8(&chunk).unwrap();
                if text == TAIL {
                    tail = Some(text.to_owned());
                    continue;
                }
                assert!(tail.is_none(), "entries after the end of the document");
                assert!(text.starts_with("<Contents>") && text.ends_with("</Contents>"));
                assert_eq!(
                    text.matches("<Contents>").count(),
                    text.matches("</Contents>").count()
                );
                for key in keys_of(text) {
                    assert_eq!(key.len(), KEY_BYTES, "{key}");
                    assert!(key.starts_with(prefix));
                    assert!(!key[prefix.len()..].contains('/'), "{key}");
                    if let Some(last) = &last {
                        assert!(last < &key, "{last} then {key}");
                    }
                    last = Some(key);
                    keys += 1;
                }
            }
            assert_eq!(tail.as_deref(), Some(TAIL));
            assert_eq!(total, length);
            assert!(body.is_end_stream());
            if let Some(n) = key_count {
                assert_eq!(n, keys);
            }
        }
        // Every answer ran to its end: none abandoned.
        assert_eq!(counters.abandoned.load(Ordering::Relaxed), 0);
        assert_eq!(counters.answers.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_endless_page_keeps_producing_and_counts_its_abandonment() {
        let counters = Arc::default();
        let req = request(true, "", "");
        let mut body = listing(HostileMode::EndlessPage, &req, &counters).unwrap();
        assert_eq!(body.size_hint().exact(), None);
        assert_eq!(body.length(), None);
        let head = poll(&mut body).unwrap();
        assert!(
            std::str::from_utf8(&head)
                .unwrap()
                .ends_with("<IsTruncated>false</IsTruncated>")
        );
        // Past the huge page (and so past any cap a client should have) it still produces.
        let mut total = 0u64;
        while total <= HUGE_PAGE_BYTES {
            let chunk = poll(&mut body).expect("the endless page ended");
            assert!(chunk.starts_with(b"<Contents>"));
            total += chunk.len() as u64;
        }
        assert!(!body.is_end_stream());
        assert_eq!(counters.abandoned.load(Ordering::Relaxed), 0);
        drop(body);
        assert_eq!(counters.abandoned.load(Ordering::Relaxed), 1);
        assert!(counters.bytes.load(Ordering::Relaxed) > HUGE_PAGE_BYTES);
    }

    /// The next cursor of an empty hostile page asked for with `cursor`.
    fn next_cursor(mode: HostileMode, v2: bool, cursor: Option<&str>) -> String {
        let counters = Arc::default();
        let req = Request {
            cursor,
            ..request(v2, "", "")
        };
        let mut body = listing(mode, &req, &counters).unwrap();
        let page = String::from_utf8(poll(&mut body).unwrap().to_vec()).unwrap();
        assert!(page.contains("<IsTruncated>true</IsTruncated>"), "{page}");
        assert!(!page.contains("<Contents>"), "{page}");
        let tag = if v2 {
            "NextContinuationToken"
        } else {
            "NextMarker"
        };
        let start = page.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        let end = page.find(&format!("</{tag}>")).unwrap();
        page[start..end].to_owned()
    }

    #[test]
    fn the_token_cycle_alternates_and_empty_pages_never_repeat() {
        for v2 in [true, false] {
            let a = next_cursor(HostileMode::TokenCycle, v2, None);
            let b = next_cursor(HostileMode::TokenCycle, v2, Some(&a));
            assert_ne!(a, b);
            assert_eq!(next_cursor(HostileMode::TokenCycle, v2, Some(&b)), a);

            let mut seen = std::collections::HashSet::new();
            let mut cursor = None;
            for _ in 0..100 {
                let next = next_cursor(HostileMode::EmptyPages, v2, cursor.as_deref());
                assert!(seen.insert(next.clone()), "{next} repeated");
                assert!(cursor.as_ref().is_none_or(|c| *c < next), "not increasing");
                cursor = Some(next);
            }
        }
    }

    #[test]
    fn the_token_loop_gives_the_same_cursor_whatever_was_asked() {
        let counters = Arc::default();
        for v2 in [true, false] {
            for cursor in [None, Some(LOOP_TOKEN), Some("other")] {
                let req = Request {
                    cursor,
                    ..request(v2, "docker/", "/")
                };
                let mut body = listing(HostileMode::TokenLoop, &req, &counters).unwrap();
                let page = poll(&mut body).unwrap();
                assert_eq!(poll(&mut body), None);
                let page = std::str::from_utf8(&page).unwrap();
                let next = if v2 {
                    format!("<NextContinuationToken>{LOOP_TOKEN}</NextContinuationToken>")
                } else {
                    format!("<NextMarker>{LOOP_TOKEN}</NextMarker>")
                };
                assert!(page.contains(&next), "{page}");
                assert!(page.contains("<IsTruncated>true</IsTruncated>"), "{page}");
                assert!(!page.contains("<Contents>"), "{page}");
                assert!(page.ends_with(TAIL), "{page}");
            }
        }
    }

    #[test]
    fn the_entity_bomb_nests_a_billion_laughs_into_a_key() {
        let counters = Arc::default();
        let mut body = listing(HostileMode::EntityBomb, &request(true, "", ""), &counters).unwrap();
        let doc = poll(&mut body).unwrap();
        let doc = std::str::from_utf8(&doc).unwrap();
        assert!(doc.len() < 4096, "the bomb is small until expanded");
        assert!(doc.contains("<!DOCTYPE ListBucketResult ["), "{doc}");
        // Expanded size: each level is ten of the one before.
        let mut expanded: u64 = 3;
        for level in 1..=BOMB_LEVELS {
            let decl = format!(
                "<!ENTITY lol{level} \"{}\">",
                format!("&lol{};", level - 1).repeat(10)
            );
            assert!(doc.contains(&decl), "{decl}");
            expanded *= 10;
        }
        assert_eq!(expanded, 3_000_000_000);
        assert!(
            doc.contains(&format!("<Key>&lol{BOMB_LEVELS};</Key>")),
            "{doc}"
        );
        assert!(doc.ends_with(TAIL));
    }

    /// Polls a drip, which may be waiting.
    fn poll_drip(body: &mut Generated) -> Poll<Option<Bytes>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(body)
            .poll_frame(&mut cx)
            .map(|f| f.map(|f| f.unwrap().into_data().unwrap()))
    }

    #[tokio::test]
    async fn the_slow_drip_sends_one_byte_per_interval() {
        let counters = Arc::default();
        assert!(
            listing(HostileMode::SlowDrip, &request(true, "", ""), &counters).is_none(),
            "the slow drip drips the normal answer"
        );
        let mut body = drip(Bytes::from_static(b"<abc/>"), &counters);
        assert_eq!(body.size_hint().exact(), Some(6));
        let mut got = Vec::new();
        loop {
            let before = tokio::time::Instant::now();
            match poll_drip(&mut body) {
                Poll::Ready(None) => break,
                Poll::Ready(Some(byte)) => {
                    assert_eq!(byte.len(), 1);
                    got.push(byte[0]);
                }
                Poll::Pending => panic!("a byte was due"),
            }
            let after = tokio::time::Instant::now();
            if got.len() == 6 {
                continue;
            }
            // The next byte waits for one interval after this one, then is due.
            assert!(poll_drip(&mut body).is_pending());
            let Source::Drip { sleep, .. } = &mut body.source else {
                panic!("not dripping")
            };
            let due = sleep.as_ref().expect("a wait").deadline();
            assert!(due >= before + DRIP_INTERVAL && due <= after + DRIP_INTERVAL);
            // Skip the wait: the timer is not what is tested.
            *sleep = None;
        }
        assert_eq!(got, b"<abc/>");
        assert_eq!(counters.bytes.load(Ordering::Relaxed), 6);
        drop(body);
        assert_eq!(counters.abandoned.load(Ordering::Relaxed), 0);
    }
}
