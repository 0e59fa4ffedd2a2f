//! `haul sync`: make a destination hold what a source holds — local → S3, S3 → local, S3 → S3
//! (one gateway or two) — moving only what differs.
//!
//! Both sides are listed as streams in S3 key order (a bucket page by page, a directory by a
//! walk that yields keys in byte order), each through a bounded channel, and merge-joined
//! ([`diff::Merge`] logic) into decisions without holding either side in memory. New and
//! changed entries are transferred concurrently (bounded by `parallel` tasks, the client's
//! request limit and the memory budget); with `--delete`, what the source lacks is deleted
//! only after every transfer succeeded, and never more than `--max-delete`.
//! Read `transfer` for how one object moves.

mod checksum;
pub mod diff;
pub mod filter;
pub mod manifests;
pub mod remove;
pub mod shard;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use diff::{Compare, Decision, Entry};
pub use filter::{Filter, FilterError, RuleKind};
pub use shard::{Shard, ShardError};

use crate::client::{Client, PutOptions};
use crate::error::Error;
use crate::local::{PARTIAL_MARKER, SafeRelPath, SyncedFrom, WalkItem, WalkOptions};
use crate::progress::{Event, Progress};
use crate::s3::{BucketName, MAX_DELETE_KEYS, ObjectKey};
use crate::transfer::{self, MemoryBudget, ObjectRef, TransferOptions};

/// Entries buffered between a lister and the merge. Chosen: one listing page (1,000 keys),
/// so the next page is fetched while the current one is merged.
const LISTING_CHANNEL_BOUND: usize = 1000;

/// What one transfer task ends with: its key, what it did, and when it started.
type TaskResult = (String, Result<Outcome, Error>, Instant);

/// What one transfer task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Moved this many bytes from the source.
    Moved(u64),
    /// `--checksum` found the content identical: nothing moved.
    Same,
    /// Copied this many bytes from [`SyncOptions::base`] (server-side): nothing moved from
    /// the source.
    Reused(u64),
}

/// One side of a sync.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// A bucket and a prefix (empty, or ending in `/`) on a gateway.
    S3 {
        /// The gateway.
        client: Client,
        /// The bucket.
        bucket: BucketName,
        /// The prefix: empty, or ending in `/`.
        prefix: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix, .. } => write!(f, "s3://{}/{prefix}", bucket.as_str()),
        }
    }
}

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How entries present on both sides are compared.
    pub compare: Compare,
    /// Delete what the source lacks.
    pub delete: bool,
    /// Refuse to delete more than this many entries.
    pub max_delete: Option<u64>,
    /// Print the plan, move nothing.
    pub dry_run: bool,
    /// Which keys take part.
    pub filter: Filter,
    /// Part sizes and thresholds.
    pub transfer: TransferOptions,
    /// Objects transferred at once.
    pub parallel: usize,
    /// Bytes of object data held in memory at most.
    pub memory_bytes: u64,
    /// Follow symlinks in a local tree (else they are skipped with a warning).
    pub follow_symlinks: bool,
    /// Build the destination from an earlier copy of the source (`rsync --link-dest`, for an
    /// incremental backup set on a gateway): the source is compared with `base` instead of
    /// the destination, which is taken to be empty (a new prefix); what `base` holds the same
    /// is copied from it into the destination server-side, and only what differs moves from
    /// the source. `base` and the destination must be on one gateway; not with `delete`.
    pub base: Option<Location>,
    /// Bucket listings by up to this many streams at once over the key space's prefixes
    /// ([`crate::client::list_in_order`]).
    pub list_fanout: crate::client::ListFanout,
}

/// What one decision led to, for `--dry-run` and `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Local to S3.
    Upload,
    /// S3 to local.
    Download,
    /// S3 to S3.
    Copy,
    /// Removed from the destination.
    Delete,
    /// Compared by content (`--checksum` in a dry run).
    Verify,
}

impl Verb {
    /// Lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Upload => "upload",
            Verb::Download => "download",
            Verb::Copy => "copy",
            Verb::Delete => "delete",
            Verb::Verify => "verify",
        }
    }
}

/// What a sync did (or, with `--dry-run`, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Entries transferred.
    pub transferred: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Entries already the same on both sides.
    pub skipped: u64,
    /// Entries copied from [`SyncOptions::base`], and their bytes.
    pub reused: u64,
    /// Bytes of the entries copied from [`SyncOptions::base`].
    pub reused_bytes: u64,
    /// Entries left out by the filters.
    pub filtered: u64,
    /// Entries deleted from the destination.
    pub deleted: u64,
    /// Entries that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// With `--dry-run`: the plan, in key order.
    pub planned: Vec<(Verb, String, u64)>,
}

/// Runs a sync from `src` to `dst`.
///
/// # Errors
/// Failures that stop the whole run: a listing or walk that fails, a refused `--max-delete`,
/// a download whose final `syncfs` of the destination fails (files downloaded whole are not
/// synced one by one: [`TransferOptions::defer_fsync`]). Per-entry failures are in [`SyncReport::failed`], and then nothing is deleted.
pub async fn sync(
    src: &Location,
    dst: &Location,
    opts: &SyncOptions,
    progress: &Progress,
) -> Result<SyncReport, Error> {
    let verb = match (src, dst) {
        (Location::Local(_), Location::S3 { .. }) => Verb::Upload,
        (Location::S3 { .. }, Location::Local(_)) => Verb::Download,
        (Location::S3 { .. }, Location::S3 { .. }) => Verb::Copy,
        (Location::Local(_), Location::Local(_)) => {
            return Err(Error::Usage(
                "one side of a sync must be an s3:// location".to_owned(),
            ));
        }
    };
    let base = opts
        .base
        .as_ref()
        .map(|b| check_base(b, dst, opts))
        .transpose()?;
    let mut src_rx = list(
        src,
        &opts.filter,
        false,
        opts.follow_symlinks,
        opts.list_fanout,
    );
    // A local destination is cleaned of what an interrupted run (kill -9) left behind.
    let mut dst_rx = list(
        base.unwrap_or(dst),
        &opts.filter,
        !opts.dry_run,
        opts.follow_symlinks,
        opts.list_fanout,
    );
    let budget = MemoryBudget::new(opts.memory_bytes);
    // Downloads sync the destination's filesystem once at the end, not each small file.
    // ...and write nothing through a symlink inside it, which the walk skipped too.
    let beneath = match dst {
        Location::Local(root) if !opts.follow_symlinks => {
            Some(std::sync::Arc::from(root.as_path()))
        }
        _ => None,
    };
    let transfer = TransferOptions {
        defer_fsync: verb == Verb::Download,
        beneath,
        ..opts.transfer.clone()
    };
    let mut report = SyncReport::default();
    let mut tasks: JoinSet<TaskResult> = JoinSet::new();
    let mut deletes: Vec<Entry> = Vec::new();
    let mut src_head = next(&mut src_rx, &mut report).await?;
    let mut dst_head = next(&mut dst_rx, &mut report).await?;
    // The last key sent for transfer, to refuse keys nested under an object (`a` and `a/b`
    // cannot both be files).
    let mut last_new: Option<String> = None;
    while let Some(step) = diff::step(src_head.as_ref(), dst_head.as_ref()) {
        if crate::cancel::is_cancelled() {
            break;
        }
        let decision = match step {
            diff::Step::Source => {
                let s = src_head.take();
                src_head = next(&mut src_rx, &mut report).await?;
                s.map(Decision::New)
            }
            diff::Step::Dest => {
                let d = dst_head.take();
                dst_head = next(&mut dst_rx, &mut report).await?;
                d.map(Decision::Extra)
            }
            diff::Step::Both => {
                let (s, d) = (src_head.take(), dst_head.take());
                src_head = next(&mut src_rx, &mut report).await?;
                dst_head = next(&mut dst_rx, &mut report).await?;
                match (s, d) {
                    (Some(s), Some(d)) if opts.compare == Compare::Checksum && s.size == d.size => {
                        Some(Decision::Verify(s, d))
                    }
                    (Some(s), Some(d))
                        if diff::differs(&s, &d, opts.compare)
                            || (base.is_some() && md5s_differ(&s, &d)) =>
                    {
                        Some(Decision::Changed(s))
                    }
                    (Some(s), Some(_)) => Some(Decision::Same(s.key)),
                    _ => None,
                }
            }
        };
        let Some(decision) = decision else { break };
        match decision {
            Decision::Same(key) => match base {
                Some(base) if !opts.dry_run => {
                    wait_for_room(&mut tasks, opts.parallel, &mut report, progress).await;
                    if crate::cancel::is_cancelled() {
                        break;
                    }
                    let (base, dst, topts, budget) =
                        (base.clone(), dst.clone(), transfer.clone(), budget.clone());
                    tasks.spawn(async move {
                        let started = Instant::now();
                        // From the base into the destination, on their gateway.
                        let res = copy_key(&base, &dst, &key, &topts, &budget)
                            .await
                            .map(Outcome::Reused);
                        (key, res, started)
                    });
                }
                _ => {
                    report.skipped += 1;
                    progress.emit(Event::Unchanged { count: 1 });
                }
            },
            Decision::Extra(e) => {
                if opts.delete {
                    deletes.push(e);
                }
            }
            Decision::New(_) | Decision::Changed(_) | Decision::Verify(..) => {
                let (e, verify) = match decision {
                    Decision::Verify(s, d) => (s, Some(d)),
                    Decision::New(e) | Decision::Changed(e) => (e, None),
                    Decision::Same(_) | Decision::Extra(_) => continue,
                };
                if verb == Verb::Download
                    && let Some(prev) = &last_new
                    && e.key.starts_with(prev.as_str())
                    && e.key.as_bytes().get(prev.len()) == Some(&b'/')
                {
                    let msg = format!(
                        "key {:?} lies under the object {prev:?}: a file cannot also be a directory",
                        e.key
                    );
                    tracing::error!("{msg}");
                    progress.emit(Event::TransferFailed {
                        name: e.key.clone(),
                        error: msg.clone(),
                    });
                    report.failed.push((e.key.clone(), msg));
                    continue;
                }
                last_new = Some(e.key.clone());
                if opts.dry_run {
                    // With --checksum a dry run does not read content: an equal-size entry is
                    // listed as one the run would verify.
                    let planned = if verify.is_some() { Verb::Verify } else { verb };
                    report.planned.push((planned, e.key.clone(), e.size));
                    if verify.is_none() {
                        report.transferred += 1;
                        report.bytes += e.size;
                    }
                    continue;
                }
                wait_for_room(&mut tasks, opts.parallel, &mut report, progress).await;
                if crate::cancel::is_cancelled() {
                    break;
                }
                progress.emit(Event::TransferStarted {
                    name: e.key.clone(),
                    bytes: Some(e.size),
                });
                let (src, dst, topts, budget) =
                    (src.clone(), dst.clone(), transfer.clone(), budget.clone());
                tasks.spawn(async move {
                    let started = Instant::now();
                    let res = match &verify {
                        Some(d) => match checksum::same_content(&src, &dst, &e, d, &topts).await {
                            Ok(true) => Ok(Outcome::Same),
                            Ok(false) => transfer_one(&src, &dst, &e, &topts, &budget)
                                .await
                                .map(Outcome::Moved),
                            Err(err) => Err(err),
                        },
                        None => transfer_one(&src, &dst, &e, &topts, &budget)
                            .await
                            .map(Outcome::Moved),
                    };
                    (e.key, res, started)
                });
            }
        }
    }
    while let Some(res) = tasks.join_next().await {
        record(&mut report, res, progress);
    }
    if let Location::Local(root) = dst
        && verb == Verb::Download
        && report.transferred > 0
        && !opts.dry_run
    {
        transfer::flush_filesystem(root).await?;
    }
    if crate::cancel::is_cancelled() {
        return Err(Error::Interrupted);
    }
    if !deletes.is_empty() {
        delete_extras(dst, deletes, opts, &mut report, progress).await?;
    }
    Ok(report)
}

/// Waits until fewer than `parallel` tasks run (or the run is cancelled), recording those
/// that end.
async fn wait_for_room(
    tasks: &mut JoinSet<TaskResult>,
    parallel: usize,
    report: &mut SyncReport,
    progress: &Progress,
) {
    while tasks.len() >= parallel.max(1) {
        tokio::select! {
            res = tasks.join_next() => {
                if let Some(res) = res {
                    record(report, res, progress);
                }
            }
            () = crate::cancel::token().cancelled() => return,
        }
    }
}

/// Whether two listed objects carry MD5 ETags (single-part uploads) that differ: their
/// content differs, whatever their times say. With a base, times come from two gateways'
/// clocks and a change the times miss would be carried into every later set; a different
/// MD5 catches it (multipart and encrypted objects' tags prove nothing and are not
/// compared).
fn md5s_differ(s: &Entry, d: &Entry) -> bool {
    match (&s.etag, &d.etag) {
        (Some(a), Some(b)) if a.is_plain_md5() && b.is_plain_md5() => {
            !a.unquoted().eq_ignore_ascii_case(b.unquoted())
        }
        _ => false,
    }
}

/// Checks [`SyncOptions::base`] against the destination: both on one gateway, no `--delete`
/// (the destination is not listed, so there is nothing to delete from), and no content
/// comparison (it would compare with the base and leave the destination without the entry).
fn check_base<'a>(
    base: &'a Location,
    dst: &Location,
    opts: &SyncOptions,
) -> Result<&'a Location, Error> {
    match (base, dst) {
        (Location::S3 { client: b, .. }, Location::S3 { client: d, .. })
            if b.endpoint() == d.endpoint()
                && !opts.delete
                && opts.compare != Compare::Checksum =>
        {
            Ok(base)
        }
        _ => Err(Error::Usage(format!(
            "a sync from a base ({base}) needs the base and the destination ({dst}) on one \
             gateway, no --delete and no --checksum"
        ))),
    }
}

/// Copies `key` (relative to both prefixes) from one location on a gateway to another.
async fn copy_key(
    from: &Location,
    to: &Location,
    key: &str,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let (
        Location::S3 {
            client: sc,
            bucket: sb,
            prefix: sp,
        },
        Location::S3 {
            client: dc,
            bucket: db,
            prefix: dp,
        },
    ) = (from, to)
    else {
        return Err(Error::Usage(format!(
            "{from} to {to}: a copy is between locations on a gateway"
        )));
    };
    let under = |prefix: &str| {
        ObjectKey::new(format!("{prefix}{key}")).map_err(|err| Error::Usage(err.to_string()))
    };
    let (sk, dk) = (under(sp)?, under(dp)?);
    transfer::copy_object(
        ObjectRef {
            client: sc,
            bucket: sb,
            key: &sk,
        },
        ObjectRef {
            client: dc,
            bucket: db,
            key: &dk,
        },
        opts,
        budget,
    )
    .await
}

/// Deletes what the source lacks, after all transfers succeeded and within `--max-delete`.
async fn delete_extras(
    dst: &Location,
    extras: Vec<Entry>,
    opts: &SyncOptions,
    report: &mut SyncReport,
    progress: &Progress,
) -> Result<(), Error> {
    if !report.failed.is_empty() {
        tracing::warn!(
            count = extras.len(),
            "transfers failed: nothing is deleted in this run"
        );
        return Ok(());
    }
    let count = extras.len() as u64;
    if let Some(max) = opts.max_delete
        && count > max
    {
        return Err(Error::Usage(format!(
            "{count} entries would be deleted from {dst}, more than --max-delete {max}: \
             nothing was deleted"
        )));
    }
    if opts.dry_run {
        for d in extras {
            report.planned.push((Verb::Delete, d.key, d.size));
            report.deleted += 1;
        }
        return Ok(());
    }
    let (deleted_before, failed_before) = (report.deleted, report.failed.len());
    match dst {
        Location::S3 {
            client,
            bucket,
            prefix,
        } => {
            for batch in extras.chunks(MAX_DELETE_KEYS) {
                let mut keys = Vec::with_capacity(batch.len());
                for d in batch {
                    match ObjectKey::new(format!("{prefix}{}", d.key)) {
                        Ok(k) => keys.push(k),
                        Err(e) => report.failed.push((d.key.clone(), e.to_string())),
                    }
                }
                if keys.is_empty() {
                    continue;
                }
                let failed = client.delete_objects(bucket, &keys).await?;
                report.deleted += (keys.len() - failed.len()) as u64;
                for f in failed {
                    report
                        .failed
                        .push((f.key.clone(), format!("delete failed: {}", f.code)));
                }
            }
        }
        Location::Local(root) => {
            let root = root.clone();
            let keys: Vec<String> = extras.into_iter().map(|d| d.key).collect();
            let (removed, failed) = transfer::blocking_task(move || {
                let mut removed = 0u64;
                let mut failed = Vec::new();
                for key in keys {
                    match SafeRelPath::from_key(&key) {
                        Ok(rel) => match fs_err::remove_file(rel.under(&root)) {
                            Ok(()) => removed += 1,
                            Err(e) => failed.push((key, e.to_string())),
                        },
                        Err(e) => failed.push((key, e.to_string())),
                    }
                }
                Ok((removed, failed))
            })
            .await?;
            report.deleted += removed;
            report.failed.extend(failed);
        }
    }
    progress.emit(Event::Deleted {
        count: report.deleted - deleted_before,
    });
    for (name, error) in report.failed.iter().skip(failed_before) {
        progress.emit(Event::TransferFailed {
            name: name.clone(),
            error: error.clone(),
        });
    }
    Ok(())
}

/// Moves one entry from `src` to `dst`.
async fn transfer_one(
    src: &Location,
    dst: &Location,
    e: &Entry,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let key_under = |prefix: &str| {
        ObjectKey::new(format!("{prefix}{}", e.key)).map_err(|err| Error::Usage(err.to_string()))
    };
    match (src, dst) {
        (
            Location::Local(root),
            Location::S3 {
                client,
                bucket,
                prefix,
            },
        ) => {
            let rel = SafeRelPath::from_key(&e.key)?;
            let key = key_under(prefix)?;
            transfer::upload_file(
                client,
                &rel.under(root),
                bucket,
                &key,
                opts,
                &PutOptions::default(),
                budget,
            )
            .await
        }
        (
            Location::S3 {
                client,
                bucket,
                prefix,
            },
            Location::Local(root),
        ) => {
            let rel = SafeRelPath::from_key(&e.key)?;
            let key = key_under(prefix)?;
            transfer::download_file(
                client,
                bucket,
                &key,
                &rel.under(root),
                Some(e.size),
                opts,
                budget,
            )
            .await
        }
        (Location::S3 { .. }, Location::S3 { .. }) => {
            copy_key(src, dst, &e.key, opts, budget).await
        }
        (Location::Local(_), Location::Local(_)) => Err(Error::Usage(
            "local to local is not a sync haul does".to_owned(),
        )),
    }
}

fn record(
    report: &mut SyncReport,
    res: Result<TaskResult, tokio::task::JoinError>,
    progress: &Progress,
) {
    match res {
        // Verified identical by content: nothing moved.
        Ok((_, Ok(Outcome::Same), _)) => {
            report.skipped += 1;
            progress.emit(Event::Unchanged { count: 1 });
        }
        Ok((_, Ok(Outcome::Reused(bytes)), _)) => {
            report.reused += 1;
            report.reused_bytes += bytes;
            progress.emit(Event::Unchanged { count: 1 });
        }
        Ok((name, Ok(Outcome::Moved(bytes)), started)) => {
            report.transferred += 1;
            report.bytes += bytes;
            progress.emit(Event::TransferDone {
                name,
                bytes,
                elapsed: started.elapsed(),
            });
        }
        Ok((name, Err(e), _)) => {
            progress.emit(Event::TransferFailed {
                name: name.clone(),
                error: e.to_string(),
            });
            report.failed.push((name, e.to_string()));
        }
        Err(e) => {
            let (name, error) = ("(task)".to_owned(), format!("a transfer task failed: {e}"));
            progress.emit(Event::TransferFailed {
                name: name.clone(),
                error: error.clone(),
            });
            report.failed.push((name, error));
        }
    }
}

/// Takes the next entry of a listing, counting filtered entries; a listing error ends the run,
/// and so does cancellation (as the end of the listing: the caller sees the run cancelled).
async fn next(
    rx: &mut mpsc::Receiver<Result<Listed, Error>>,
    report: &mut SyncReport,
) -> Result<Option<Entry>, Error> {
    loop {
        let got = tokio::select! {
            // An entry ready is taken without looking at the token.
            biased;
            got = rx.recv() => got,
            // A cancelled run does not wait for a listing page (a stalled gateway may hold it
            // for minutes): the merge ends here, and the transfers already started finish
            // their cleanup before the run reports the interruption.
            () = crate::cancel::token().cancelled() => return Ok(None),
        };
        match got {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(Listed::Filtered)) => report.filtered += 1,
            Some(Ok(Listed::Entry(e))) => return Ok(Some(e)),
        }
    }
}

/// What a lister sends.
enum Listed {
    Entry(Entry),
    /// An entry the filters left out (counted, not merged).
    Filtered,
}

/// Starts listing one side in key order; entries arrive through a bounded channel.
fn list(
    loc: &Location,
    filter: &Filter,
    clean_partials: bool,
    follow_symlinks: bool,
    fanout: crate::client::ListFanout,
) -> mpsc::Receiver<Result<Listed, Error>> {
    let (tx, rx) = mpsc::channel(LISTING_CHANNEL_BOUND);
    match loc {
        Location::Local(root) => {
            let (root, filter) = (root.clone(), filter.clone());
            tokio::task::spawn_blocking(move || {
                list_local(&root, &filter, clean_partials, follow_symlinks, &tx);
            });
        }
        Location::S3 {
            client,
            bucket,
            prefix,
        } => {
            let (client, bucket, prefix, filter) = (
                client.clone(),
                bucket.clone(),
                prefix.clone(),
                filter.clone(),
            );
            tokio::spawn(async move {
                if let Err(e) = list_s3(&client, &bucket, &prefix, &filter, fanout, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            });
        }
    }
    rx
}

/// Whether `key` names a temporary download file (`.NAME.haul-partial-RANDOM`).
pub(crate) fn is_partial(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|n| n.contains(PARTIAL_MARKER))
}

/// The key a temporary download file (`DIR/.NAME.haul-partial-RANDOM`) was to become, when
/// its name holds the whole of it (names are cut to 180 characters in temporary names).
fn partial_target(key: &str) -> Option<String> {
    let (dir, name) = match key.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, key),
    };
    let (short, _) = name.strip_prefix('.')?.rsplit_once(PARTIAL_MARKER)?;
    if short.is_empty() || short.chars().count() >= 180 {
        return None;
    }
    Some(match dir {
        Some(dir) => format!("{dir}/{short}"),
        None => short.to_owned(),
    })
}

fn list_local(
    root: &Path,
    filter: &Filter,
    clean_partials: bool,
    follow_symlinks: bool,
    tx: &mpsc::Sender<Result<Listed, Error>>,
) {
    // A destination directory that does not exist yet is an empty side.
    if !root.exists() {
        return;
    }
    let walk = crate::local::walk(
        root,
        WalkOptions {
            follow_symlinks,
            threads: 0,
        },
    );
    for item in walk {
        let e = match item {
            WalkItem::File(e) => e,
            // A temporary file renamed away during the walk is a download finishing (another
            // shard's, under --shard): not worth a warning.
            WalkItem::Skipped {
                path,
                reason: crate::local::SkipReason::Vanished,
            } if is_partial(&path.to_string_lossy()) => {
                tracing::debug!(path = %path.display(), "a download finished during the walk");
                continue;
            }
            WalkItem::Skipped { path, reason } => {
                tracing::warn!(path = %path.display(), "skipped: {reason}");
                continue;
            }
            WalkItem::Error(err) => {
                // An unreadable directory would look empty, and its keys like deletions:
                // the run stops instead.
                let path = err
                    .path()
                    .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
                let crate::local::WalkError::Io(io) = err;
                let _ = tx.blocking_send(Err(Error::local(path, io)));
                return;
            }
        };
        // Leftovers of an interrupted download are not part of the tree; in a destination
        // they are removed (two syncs into one directory at once are not supported, but the
        // shards of one are: each removes only its own keys' leftovers).
        if is_partial(&e.key) {
            let ours = match filter.shard() {
                None => true,
                Some(shard) => partial_target(&e.key).is_some_and(|k| shard.contains(&k)),
            };
            if clean_partials && ours {
                match fs_err::remove_file(&e.path) {
                    Ok(()) => {
                        tracing::info!(path = %e.path.display(), "removed a leftover temporary file");
                    }
                    Err(err) => tracing::warn!("{err}"),
                }
            }
            continue;
        }
        let item = if filter.includes(&e.key) {
            // A file a download left untouched holds the object version it recorded.
            let synced_from = SyncedFrom::read(&e.path)
                .filter(|s| s.size == e.size && s.mtime == e.mtime)
                .map(|s| UNIX_EPOCH + std::time::Duration::from_secs(s.last_modified_secs));
            Listed::Entry(Entry {
                key: e.key,
                size: e.size,
                mtime: e.mtime,
                etag: None,
                synced_from,
            })
        } else {
            Listed::Filtered
        };
        if tx.blocking_send(Ok(item)).is_err() {
            return;
        }
    }
}

async fn list_s3(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    filter: &Filter,
    fanout: crate::client::ListFanout,
    tx: &mpsc::Sender<Result<Listed, Error>>,
) -> Result<(), Error> {
    let mut pages = crate::client::list_in_order(client, bucket, prefix, fanout);
    let mut last: Option<String> = None;
    while let Some(page) = pages.recv().await {
        for o in page? {
            let key = o.key.into_string();
            let Some(rel) = key.strip_prefix(prefix) else {
                continue;
            };
            // Folder markers (`dir/`, zero bytes) are not files.
            if rel.is_empty() || (rel.ends_with('/') && o.size == 0) {
                continue;
            }
            if let Some(prev) = &last
                && prev.as_bytes() >= rel.as_bytes()
            {
                return Err(Error::Integrity {
                    what: format!(
                        "listing s3://{}/{prefix}: keys out of order ({prev:?} then {rel:?}); \
                         a merge needs S3 key order",
                        bucket.as_str()
                    ),
                });
            }
            last = Some(rel.to_owned());
            let item = if filter.includes(rel) {
                Listed::Entry(Entry {
                    key: rel.to_owned(),
                    size: o.size,
                    mtime: SystemTime::from(o.last_modified),
                    etag: o.etag,
                    synced_from: None,
                })
            } else {
                Listed::Filtered
            };
            if tx.send(Ok(item)).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod partial_tests {
    use super::*;

    #[test]
    fn a_temporary_file_names_the_key_it_was_for() {
        let name = format!(".data{PARTIAL_MARKER}-0123456789abcdef");
        assert_eq!(
            partial_target(&format!("blobs/00/{name}")).as_deref(),
            Some("blobs/00/data")
        );
        assert_eq!(partial_target(&name).as_deref(), Some("data"));
        assert_eq!(partial_target("blobs/00/data"), None);
        let long = "n".repeat(180);
        assert_eq!(
            partial_target(&format!(".{long}{PARTIAL_MARKER}-0123456789abcdef")),
            None
        );
    }

    #[test]
    fn only_two_different_md5_etags_count_as_a_change_of_content() {
        let entry = |etag: Option<&str>| Entry {
            key: "k".to_owned(),
            size: 1,
            mtime: UNIX_EPOCH,
            etag: etag.map(|t| crate::s3::ETag::new(t).unwrap()),
            synced_from: None,
        };
        let a = "\"0cc175b9c0f1b6a831c399e269772661\"";
        let b = "\"92eb5ffee6ae2fec3ad71c777531578f\"";
        assert!(md5s_differ(&entry(Some(a)), &entry(Some(b))));
        assert!(!md5s_differ(
            &entry(Some(a)),
            &entry(Some(&a.to_uppercase()))
        ));
        assert!(!md5s_differ(&entry(Some(a)), &entry(None)));
        let multipart = "\"92eb5ffee6ae2fec3ad71c777531578f-2\"";
        assert!(!md5s_differ(&entry(Some(a)), &entry(Some(multipart))));
    }
}
