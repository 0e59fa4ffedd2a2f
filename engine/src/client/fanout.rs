//! A bucket listed in key order by several streams at once: listing fan-out.
//!
//! One ListObjects stream is serial: each page waits for the cursor the previous page
//! returned, so a listing moves at one page per round trip however idle the gateway is. The
//! keys under one prefix are one contiguous run in key order, so prefixes can be listed side
//! by side and their runs read back one after the other, in the order of the prefixes, as the
//! whole listing in key order. The registry's blobs spread over 256 prefixes
//! (`docker/registry/v2/blobs/sha256/00/` … `ff/`), which is what this is for.
//!
//! 1. **Discovery** ([`discover`]): delimiter listings (`/`) from the listing's prefix down,
//!    level by level, turn the listing into a plan of segments: objects met on the way,
//!    prefixes to list whole, and the rest of a delimiter listing that was not read ahead. A
//!    level expands every prefix until the plan holds [`SEGMENTS_PER_STREAM`] × fan-out of
//!    them; a prefix that was its parent's only entry (`docker/` → `registry/` → `v2/` …) is
//!    expanded whatever the count. A page read in discovery is not read again: what it held
//!    is part of the plan, and a listing that stops early continues from its cursor.
//! 2. **Listing** ([`drive`]): up to fan-out segments are listed at once, each by a task of
//!    its own into a channel of [`PAGES_AHEAD`] pages, and their pages are forwarded in plan
//!    order. Every request goes through the [`Client`], so under its congestion controller.
//! 3. **Whether to fan out at all**, decided before both ([`ListFanout::Auto`], the
//!    default): discovery and one request per prefix only pay for themselves on a listing of
//!    many pages. The listing starts as a plain one; a first page that is not truncated is
//!    the whole listing (one request). Otherwise discovery runs, and when the first page
//!    already held several of the plan's prefixes whole, those prefixes are smaller than a
//!    page and fan-out would cost more requests than it saves round trips
//!    ([`fan_out_gains`]): the plain listing goes on from its cursor instead.
//!    [`ListFanout::Fixed`] (an explicit `--list-fanout N`) always fans out.
//!
//! Memory: the plan holds at most [`MAX_PLAN`] entries, the listers at most fan-out ×
//! ([`PAGES_AHEAD`] + 1) pages. A bucket without prefixes (flat keys) is listed by one
//! stream after one plain page and one delimiter request. Whether the keys come back in
//! order is checked by the caller, as for a single stream; here a gateway's common prefixes
//! and objects are checked to lie under the prefix that was listed and in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::{Client, ListCursor, ListPager};
use crate::error::Error;
use crate::s3::{BucketName, ListPage, ObjectEntry};

/// Segments listed at once by default.
///
/// Chosen: with a 1,000-key page every few milliseconds per stream on a loopback RGW, eight
/// streams keep the listing ahead of a merge that compares a few hundred thousand keys a
/// second, while staying well under any `--concurrency`; measured in BENCHMARKS.md.
pub const DEFAULT_LIST_FANOUT: usize = 8;

/// Most fan-out a caller may ask for. Chosen: the embedded gateway's connection limit is 512
/// and each stream holds one connection; 64 streams of 1,000-key pages already list faster
/// than any merge consumes.
pub const MAX_LIST_FANOUT: usize = 64;

/// Pages a segment's lister reads ahead of the consumer. Chosen: a registry prefix of a
/// 1 M-object bucket is about four pages, so a lister finishes its prefix before its turn.
const PAGES_AHEAD: usize = 4;

/// Most entries (objects and prefixes) the plan holds. Chosen: about 10 MiB of keys, the
/// width of 32 full pages; discovery stops expanding when the next level would not fit.
const MAX_PLAN: usize = 32_768;

/// Deepest level discovery goes below the listing's prefix. Chosen: the registry's blob
/// prefixes are six levels below its root; a few more for a bucket prefix above it.
const MAX_LEVELS: usize = 10;

/// Most pages of one prefix's delimiter listing read in discovery (further ones come in the
/// listing phase, from the cursor). Chosen: 10,000 sub-prefixes of one prefix are plenty.
const MAX_DISCOVERY_PAGES: usize = 10;

/// Prefix segments per stream at which discovery stops expanding every prefix. Chosen: four
/// per stream evens out prefixes of different sizes without listing tiny ones one by one.
const SEGMENTS_PER_STREAM: usize = 4;

/// The delimiter discovery lists with.
const DELIMITER: &str = "/";

/// Entries on a full listing page (S3's default and largest `max-keys`).
const PAGE: usize = 1000;

/// What a fan-out listing sends: pages of objects in key order.
pub type ListedPages = mpsc::Receiver<Result<Vec<ObjectEntry>, Error>>;

/// How many streams list a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFanout {
    /// Up to this many streams when the listing is large enough to gain from them, else one
    /// (the default, with [`DEFAULT_LIST_FANOUT`]).
    Auto(usize),
    /// Up to this many streams whenever discovery finds prefixes (`--list-fanout N`); 1 lists
    /// with one stream and no discovery.
    Fixed(usize),
}

impl Default for ListFanout {
    fn default() -> Self {
        Self::Auto(DEFAULT_LIST_FANOUT)
    }
}

impl ListFanout {
    /// The most streams, within 1..=[`MAX_LIST_FANOUT`].
    #[must_use]
    pub fn streams(self) -> usize {
        match self {
            Self::Auto(n) | Self::Fixed(n) => n.clamp(1, MAX_LIST_FANOUT),
        }
    }
}

/// A listing of `prefix` in `bucket` in key order, page by page, by up to `fanout` streams at
/// once. Pages arrive through a bounded channel; an error ends the listing.
#[must_use]
pub fn list_in_order(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    fanout: ListFanout,
) -> ListedPages {
    let (tx, rx) = mpsc::channel(PAGES_AHEAD);
    let (client, bucket, prefix) = (client.clone(), bucket.clone(), prefix.to_owned());
    tokio::spawn(async move {
        // The listing runs in a task of its own so that a panic in it reaches the reader as
        // an error: a channel that merely closed would read as a complete listing (and a
        // `sync --delete` would delete what it never saw).
        let inner = {
            let tx = tx.clone();
            tokio::spawn(async move { drive(&client, &bucket, prefix, fanout, &tx).await })
        };
        let failed = match inner.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(task_failed(&e)),
        };
        if let Some(e) = failed {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// A listing task that panicked or was cancelled.
fn task_failed(e: &tokio::task::JoinError) -> Error {
    Error::Integrity {
        what: format!("a listing task ended abnormally ({e}); the listing is incomplete"),
    }
}

/// One part of a listing, in key order with the others.
#[derive(Debug)]
enum Segment {
    /// An object a delimiter listing showed.
    Object(ObjectEntry),
    /// Every key under this prefix. `sole`: the only entry its parent's listing held.
    Prefix { prefix: String, sole: bool },
    /// The rest of `prefix`'s delimiter listing from `cursor`: its objects, and the keys
    /// under each of its common prefixes, in turn.
    Rest { prefix: String, cursor: ListCursor },
    /// The rest of `prefix`'s plain listing from `cursor`.
    After { prefix: String, cursor: ListCursor },
}

/// An entry of a delimiter listing page.
#[derive(Debug)]
enum Item {
    Object(ObjectEntry),
    Prefix(String),
}

impl Item {
    fn start(&self) -> &str {
        match self {
            Item::Object(o) => o.key.as_str(),
            Item::Prefix(p) => p,
        }
    }
}

/// A window entry: objects the plan holds, or a segment being listed.
enum Ahead {
    Objects(Vec<ObjectEntry>),
    Listing(ListedPages, tokio::task::JoinHandle<()>),
}

/// Lists the plan's segments, up to `fanout` at once, forwarding their pages in order.
async fn drive(
    client: &Client,
    bucket: &BucketName,
    prefix: String,
    fanout: ListFanout,
    tx: &mpsc::Sender<Result<Vec<ObjectEntry>, Error>>,
) -> Result<(), Error> {
    let streams = fanout.streams();
    let plan = match fanout {
        _ if streams == 1 => vec![Segment::Prefix { prefix, sole: true }],
        ListFanout::Fixed(_) => discover(client, bucket, prefix, streams).await?,
        ListFanout::Auto(_) => plan_if_gains(client, bucket, prefix, streams).await?,
    };
    let fanout = streams;
    tracing::debug!(
        bucket = bucket.as_str(),
        segments = plan.len(),
        fanout,
        "listing plan"
    );
    let mut plan = plan.into_iter();
    let mut window: VecDeque<Ahead> = VecDeque::new();
    let mut streams = 0;
    // Every key forwarded follows the one before, whatever the segments did.
    let mut last: Option<String> = None;
    loop {
        while streams < fanout {
            match plan.next() {
                None => break,
                Some(Segment::Object(o)) => match window.back_mut() {
                    Some(Ahead::Objects(v)) if v.len() < PAGE => v.push(o),
                    _ => window.push_back(Ahead::Objects(vec![o])),
                },
                Some(segment) => {
                    let (pages, task) = spawn_segment(client, bucket, segment);
                    window.push_back(Ahead::Listing(pages, task));
                    streams += 1;
                }
            }
        }
        let Some(next) = window.pop_front() else {
            return Ok(());
        };
        match next {
            Ahead::Objects(objects) => {
                in_order(bucket, &mut last, &objects)?;
                if tx.send(Ok(objects)).await.is_err() {
                    return Ok(());
                }
            }
            Ahead::Listing(mut pages, task) => {
                while let Some(page) = pages.recv().await {
                    let page = page?;
                    in_order(bucket, &mut last, &page)?;
                    if !page.is_empty() && tx.send(Ok(page)).await.is_err() {
                        return Ok(());
                    }
                }
                // A closed channel is a finished segment only if its task ended normally.
                task.await.map_err(|e| task_failed(&e))?;
                streams -= 1;
            }
        }
    }
}

/// A plan for [`ListFanout::Auto`]: the first page of a plain listing; when there is more,
/// discovery's plan if fan-out gains on it, else the first page and the plain listing's rest.
async fn plan_if_gains(
    client: &Client,
    bucket: &BucketName,
    prefix: String,
    fanout: usize,
) -> Result<Vec<Segment>, Error> {
    let mut pager = ListPager::new(client, bucket, &prefix, None);
    let first = pager
        .next_page()
        .await?
        .map(|p| p.objects)
        .unwrap_or_default();
    under_prefix(bucket, &prefix, &first)?;
    let cursor = pager.cursor().cloned();
    let last = first.last().map(|o| o.key.as_str().to_owned());
    let mut plan: Vec<Segment> = first.into_iter().map(Segment::Object).collect();
    let Some(cursor) = cursor else {
        // Not truncated: the whole listing, in one request.
        return Ok(plan);
    };
    if let Some(last) = last {
        let planned = discover(client, bucket, prefix.clone(), fanout).await?;
        if fan_out_gains(&planned, &last, fanout) {
            // The first page is listed again in its segments: one request more in a
            // listing of many.
            return Ok(planned);
        }
    }
    tracing::debug!(
        bucket = bucket.as_str(),
        "listing with one stream: its prefixes are smaller than a page"
    );
    plan.push(Segment::After { prefix, cursor });
    Ok(plan)
}

/// Whether listing `plan`'s segments side by side gains over going on with the plain listing
/// whose first page (a full one) ended at `last`.
///
/// A prefix segment that lies wholly before `last` was on that page. When `c` of them were,
/// segments average at most a page / `c` keys: the plain listing needs about S / `c` requests
/// in a row for the S segments, fan-out S requests, `fanout` at a time. Fan-out is chosen
/// when it at least halves the round trips (`2c < fanout`) and there are two listings or more
/// to run side by side; else its extra requests would only load the gateway.
fn fan_out_gains(plan: &[Segment], last: &str, fanout: usize) -> bool {
    let mut before = 0;
    let mut listings = 0;
    for segment in plan {
        match segment {
            Segment::Prefix { prefix, .. }
                if prefix.as_str() < last && !last.starts_with(prefix.as_str()) =>
            {
                before += 1;
            }
            Segment::Prefix { .. } | Segment::Rest { .. } | Segment::After { .. } => {
                listings += 1;
            }
            Segment::Object(_) => {}
        }
    }
    listings >= 2 && before * 2 < fanout
}

/// Refuses a plain listing's page with a key outside the prefix listed.
fn under_prefix(bucket: &BucketName, prefix: &str, page: &[ObjectEntry]) -> Result<(), Error> {
    match page.iter().find(|o| !o.key.as_str().starts_with(prefix)) {
        None => Ok(()),
        Some(o) => Err(Error::Integrity {
            what: format!(
                "listing s3://{}/{prefix}: the gateway sent key {:?}, which is not under the \
                 prefix listed",
                bucket.as_str(),
                o.key.as_str()
            ),
        }),
    }
}

/// Checks that `page` continues the listing in strictly increasing key order.
fn in_order(
    bucket: &BucketName,
    last: &mut Option<String>,
    page: &[ObjectEntry],
) -> Result<(), Error> {
    let mut prev = last.as_deref();
    for o in page {
        let key = o.key.as_str();
        if let Some(prev) = prev
            && prev.as_bytes() >= key.as_bytes()
        {
            return Err(Error::Integrity {
                what: format!(
                    "listing s3://{}: keys out of order or repeated ({prev:?} then {key:?})",
                    bucket.as_str()
                ),
            });
        }
        prev = Some(key);
    }
    if let Some(o) = page.last() {
        *last = Some(o.key.as_str().to_owned());
    }
    Ok(())
}

/// Turns the listing of `root` into segments by delimiter listings, level by level.
async fn discover(
    client: &Client,
    bucket: &BucketName,
    root: String,
    fanout: usize,
) -> Result<Vec<Segment>, Error> {
    let mut plan = vec![Segment::Prefix {
        prefix: root,
        sole: true,
    }];
    for _ in 0..MAX_LEVELS {
        let prefixes = plan
            .iter()
            .filter(|s| matches!(s, Segment::Prefix { .. }))
            .count();
        let wide = prefixes >= fanout * SEGMENTS_PER_STREAM;
        // Every expansion reads at least one page: only as many as that page fits.
        let mut space = MAX_PLAN.saturating_sub(plan.len());
        let mut expand = vec![false; plan.len()];
        for (chosen, segment) in expand.iter_mut().zip(&plan) {
            if let Segment::Prefix { sole, .. } = segment
                && (*sole || !wide)
                && space >= PAGE
            {
                space -= PAGE;
                *chosen = true;
            }
        }
        if !expand.contains(&true) {
            break;
        }
        // Further pages of prefix-heavy listings share what is left.
        let extra = AtomicUsize::new(space);
        let mut expansions = Vec::new();
        for (segment, &chosen) in plan.iter().zip(&expand) {
            if let Segment::Prefix { prefix, .. } = segment
                && chosen
            {
                expansions.push(expand_prefix(client, bucket, prefix, &extra));
            }
        }
        let expanded: Vec<Result<Vec<Segment>, Error>> = futures_util::stream::iter(expansions)
            .buffered(fanout)
            .collect()
            .await;
        let mut expanded = expanded.into_iter();
        let mut next = Vec::with_capacity(plan.len());
        for (segment, chosen) in plan.into_iter().zip(expand) {
            match (chosen, chosen.then(|| expanded.next()).flatten()) {
                (true, Some(Ok(parts))) => next.extend(parts),
                // Discovery only speeds the listing up: a delimiter listing that makes no
                // sense leaves its prefix to be listed plainly.
                (true, Some(Err(Error::Integrity { what }))) => {
                    tracing::warn!("{what}; listing it with one stream");
                    next.push(segment);
                }
                (true, Some(Err(e))) => return Err(e),
                _ => next.push(segment),
            }
        }
        plan = next;
    }
    Ok(plan)
}

/// One prefix's delimiter listing as segments: its objects, its common prefixes, and when it
/// was not read to the end, the rest from its cursor.
async fn expand_prefix(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    extra: &AtomicUsize,
) -> Result<Vec<Segment>, Error> {
    let mut pager = ListPager::new(client, bucket, prefix, Some(DELIMITER));
    let mut items = Vec::new();
    let mut rest = None;
    let mut read = 0;
    while let Some(page) = pager.next_page().await? {
        read += 1;
        let prefix_heavy = page.common_prefixes.len() * 2 >= page.objects.len().max(1);
        merge_page(bucket, prefix, page, &mut items)?;
        let Some(cursor) = pager.cursor() else {
            break;
        };
        let more = prefix_heavy
            && read < MAX_DISCOVERY_PAGES
            && extra
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    r.checked_sub(PAGE)
                })
                .is_ok();
        if !more {
            rest = Some(Segment::Rest {
                prefix: prefix.to_owned(),
                cursor: cursor.clone(),
            });
            break;
        }
    }
    let sole = rest.is_none() && items.len() == 1;
    let mut segments: Vec<Segment> = items
        .into_iter()
        .map(|item| match item {
            Item::Object(o) => Segment::Object(o),
            Item::Prefix(prefix) => Segment::Prefix { prefix, sole },
        })
        .collect();
    segments.extend(rest);
    Ok(segments)
}

/// Appends a delimiter listing page's objects and common prefixes to `out` in key order,
/// refusing entries outside `prefix`, common prefixes that are not below it, and entries out
/// of order.
fn merge_page(
    bucket: &BucketName,
    prefix: &str,
    page: ListPage,
    out: &mut Vec<Item>,
) -> Result<(), Error> {
    let bad = |what: String| Error::Integrity {
        what: format!(
            "listing s3://{}/{prefix} by prefixes: {what}",
            bucket.as_str()
        ),
    };
    if let Some(p) = page.common_prefixes.iter().find(|p| {
        // One level: `p/a/`, never `p/a/b/` (that would leave `p/a/x` unlisted).
        !(p.len() > prefix.len()
            && p.starts_with(prefix)
            && p.ends_with(DELIMITER)
            && !p[prefix.len()..p.len() - DELIMITER.len()].contains(DELIMITER))
    }) {
        return Err(bad(format!(
            "the gateway sent common prefix {p:?}, which is not below the prefix listed"
        )));
    }
    if let Some(o) = page
        .objects
        .iter()
        .find(|o| !o.key.as_str().starts_with(prefix))
    {
        return Err(bad(format!(
            "the gateway sent key {:?}, which is not under the prefix listed",
            o.key.as_str()
        )));
    }
    let mut objects = page.objects.into_iter().peekable();
    let mut prefixes = page.common_prefixes.into_iter().peekable();
    loop {
        let take_object = match (objects.peek(), prefixes.peek()) {
            (None, None) => break,
            (Some(o), Some(p)) => o.key.as_str().as_bytes() < p.as_bytes(),
            (o, _) => o.is_some(),
        };
        let item = if take_object {
            objects.next().map(Item::Object)
        } else {
            prefixes.next().map(Item::Prefix)
        };
        let Some(item) = item else { break };
        if let Some(last) = out.last()
            && last.start().as_bytes() >= item.start().as_bytes()
        {
            return Err(bad(format!(
                "entries out of order ({:?} then {:?})",
                last.start(),
                item.start()
            )));
        }
        out.push(item);
    }
    Ok(())
}

/// Starts listing one segment in a task of its own.
fn spawn_segment(
    client: &Client,
    bucket: &BucketName,
    segment: Segment,
) -> (ListedPages, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(PAGES_AHEAD);
    let (client, bucket) = (client.clone(), bucket.clone());
    let task = tokio::spawn(async move {
        let listed = match segment {
            Segment::Prefix { prefix, .. } => {
                list_prefix(&client, &bucket, &prefix, None, &tx).await
            }
            Segment::After { prefix, cursor } => {
                list_prefix(&client, &bucket, &prefix, Some(cursor), &tx).await
            }
            Segment::Rest { prefix, cursor } => {
                list_rest(&client, &bucket, &prefix, cursor, &tx).await
            }
            Segment::Object(o) => tx.send(Ok(vec![o])).await.map_err(|_| Stopped),
        };
        if let Err(Stopped) = listed {
            tracing::debug!("a listing segment's reader went away");
        }
    });
    (rx, task)
}

/// The reader of a segment went away (the listing stopped): nothing more to do.
#[derive(Debug)]
struct Stopped;

/// Lists every key under `prefix`, or those after `from`; an error goes to the reader.
async fn list_prefix(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    from: Option<ListCursor>,
    tx: &mpsc::Sender<Result<Vec<ObjectEntry>, Error>>,
) -> Result<(), Stopped> {
    let mut pager = match from {
        None => ListPager::new(client, bucket, prefix, None),
        Some(cursor) => ListPager::resume(client, bucket, prefix, None, cursor),
    };
    loop {
        let page = match pager.next_page().await {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(()),
            Err(e) => return tx.send(Err(e)).await.map_err(|_| Stopped),
        };
        if let Err(e) = under_prefix(bucket, prefix, &page.objects) {
            return tx.send(Err(e)).await.map_err(|_| Stopped);
        }
        tx.send(Ok(page.objects)).await.map_err(|_| Stopped)?;
    }
}

/// Continues `prefix`'s delimiter listing from `cursor`: its objects as they come, and each
/// common prefix listed whole in its place.
async fn list_rest(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    cursor: ListCursor,
    tx: &mpsc::Sender<Result<Vec<ObjectEntry>, Error>>,
) -> Result<(), Stopped> {
    let mut pager = ListPager::resume(client, bucket, prefix, Some(DELIMITER), cursor);
    loop {
        let mut items = Vec::new();
        let merged = match pager.next_page().await {
            Ok(Some(page)) => merge_page(bucket, prefix, page, &mut items),
            Ok(None) => return Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = merged {
            return tx.send(Err(e)).await.map_err(|_| Stopped);
        }
        let mut objects = Vec::new();
        for item in items {
            match item {
                Item::Object(o) => objects.push(o),
                Item::Prefix(p) => {
                    if !objects.is_empty() {
                        tx.send(Ok(std::mem::take(&mut objects)))
                            .await
                            .map_err(|_| Stopped)?;
                    }
                    Box::pin(list_prefix(client, bucket, &p, None, tx)).await?;
                }
            }
        }
        if !objects.is_empty() {
            tx.send(Ok(objects)).await.map_err(|_| Stopped)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::{ListDialect, ObjectKey};
    use time::OffsetDateTime;

    fn object(key: &str) -> ObjectEntry {
        ObjectEntry {
            key: ObjectKey::new(key).unwrap(),
            size: 1,
            etag: None,
            last_modified: OffsetDateTime::UNIX_EPOCH,
            storage_class: None,
        }
    }

    fn page(objects: &[&str], prefixes: &[&str]) -> ListPage {
        ListPage {
            objects: objects.iter().map(|k| object(k)).collect(),
            common_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            is_truncated: false,
            next_continuation_token: None,
            next_marker: None,
            key_count: None,
            dialect: ListDialect::V2,
            url_decoded: false,
        }
    }

    fn starts(items: &[Item]) -> Vec<&str> {
        items.iter().map(Item::start).collect()
    }

    fn bucket() -> BucketName {
        BucketName::new("registry").unwrap()
    }

    #[test]
    fn objects_and_prefixes_interleave_in_key_order() {
        // `a!` (0x21) sorts before `a/` (0x2f), `a0` after every key under `a/`.
        let mut out = Vec::new();
        merge_page(
            &bucket(),
            "p/",
            page(&["p/a", "p/a!", "p/a0", "p/z"], &["p/a/", "p/b/"]),
            &mut out,
        )
        .unwrap();
        assert_eq!(starts(&out), ["p/a", "p/a!", "p/a/", "p/a0", "p/b/", "p/z"]);
    }

    #[test]
    fn a_page_continues_the_order_of_the_one_before() {
        let mut out = Vec::new();
        merge_page(&bucket(), "", page(&["b"], &["a/"]), &mut out).unwrap();
        let err = merge_page(&bucket(), "", page(&["a0"], &[]), &mut out).unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
    }

    #[test]
    fn entries_outside_the_prefix_are_refused() {
        for (objects, prefixes, what) in [
            (&["q/x"][..], &[][..], "key \"q/x\""),
            (&[], &["p/"], "common prefix \"p/\""),
            (&[], &["q/a/"], "common prefix \"q/a/\""),
            (&[], &["p/a"], "common prefix \"p/a\""),
            (&[], &["p/a/b/"], "common prefix \"p/a/b/\""),
        ] {
            let err =
                merge_page(&bucket(), "p/", page(objects, prefixes), &mut Vec::new()).unwrap_err();
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
    }

    /// Segments for the prefixes `p/00/` … of `n` two-digit hex names.
    fn prefixes(n: usize) -> Vec<Segment> {
        (0..n)
            .map(|i| Segment::Prefix {
                prefix: format!("p/{i:02x}/"),
                sole: false,
            })
            .collect()
    }

    #[test]
    fn fan_out_where_prefixes_hold_a_page_or_more() {
        // The first page ended inside the first prefix, or after one or three whole ones:
        // prefixes of a page and more (or a third of one), fan-out cuts the round trips.
        for last in ["p/00/zz", "p/01/00", "p/03/ff"] {
            assert!(fan_out_gains(&prefixes(256), last, 8), "{last}");
        }
    }

    #[test]
    fn one_stream_where_prefixes_are_small() {
        // Four whole prefixes on the first page: fan-out by 8 would not halve the requests
        // in a row; 160 of them (a small registry): it would multiply the requests by 160.
        for last in ["p/04/00", "p/a0/00", "q"] {
            assert!(!fan_out_gains(&prefixes(256), last, 8), "{last}");
        }
        // With more streams, more whole prefixes on the page still gain.
        assert!(fan_out_gains(&prefixes(256), "p/04/00", 64));
        // A prefix is wholly before a key only if the key is not under it: `a/` before `a0`.
        let plan = vec![
            Segment::Prefix {
                prefix: "a/".into(),
                sole: false,
            },
            Segment::Prefix {
                prefix: "b/".into(),
                sole: false,
            },
        ];
        assert!(!fan_out_gains(&plan, "a0", 2));
        assert!(fan_out_gains(&plan, "a/zz", 2));
    }

    #[test]
    fn one_stream_where_there_is_one_listing_to_run() {
        // A flat prefix: its objects and the rest of its delimiter listing.
        let mut plan: Vec<Segment> = (0..1000)
            .map(|i| Segment::Object(object(&format!("f/{i:04}"))))
            .collect();
        plan.push(Segment::Rest {
            prefix: "f/".into(),
            cursor: ListCursor::Token("t".into()),
        });
        assert!(!fan_out_gains(&plan, "f/0999", 8));
        assert!(!fan_out_gains(&prefixes(1), "p/00/zz", 8));
        assert!(fan_out_gains(&prefixes(2), "p/00/zz", 8));
    }

    #[test]
    fn fanout_streams_are_bounded() {
        assert_eq!(ListFanout::Auto(0).streams(), 1);
        assert_eq!(ListFanout::Fixed(1_000).streams(), MAX_LIST_FANOUT);
        assert_eq!(ListFanout::default(), ListFanout::Auto(DEFAULT_LIST_FANOUT));
    }
}
