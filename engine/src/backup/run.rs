//! `haul backup PLAN`: one backup set, every part at once (`docs/backup.md`).
//!
//! A set is a directory `DEST/sets/<UTC time>/` holding each bucket's copy and its BLAKE3
//! manifest, each archive and its index, and `set.json`, written last (under a temporary name,
//! then renamed): a set without `set.json` is incomplete. So far a local destination only.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::plan::{ArchivePart, BucketPart, Plan};
use super::store::{S3Dir, SetAt, Store};
use crate::archive::{self, Compression, PackOptions};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::local::PartialFile;
use crate::manifest::{self, HashCache, RemoteSource, TreeOptions};
use crate::progress::Progress;
use crate::sync::{self, Compare, Filter, Location, RuleKind, SyncOptions};
use crate::transfer::{MemoryBudget, TransferOptions};

/// The format version of `set.json`.
pub const SET_FORMAT: u32 = 1;

/// How the parts move.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Transfer settings for the bucket copies.
    pub transfer: TransferOptions,
    /// Transfers in flight per bucket copy.
    pub parallel: usize,
    /// Memory budget of the run, shared out among its parts.
    pub memory_bytes: u64,
    /// Build on the newest complete set: unchanged objects are hard links to its files (and
    /// keep its hashes), only changes are downloaded.
    pub incremental: bool,
}

/// What one part did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartReport {
    /// `bucket` or `archive`.
    pub kind: String,
    /// The part's name.
    pub name: String,
    /// What was read: `s3://bucket` or the directory.
    pub source: String,
    /// Where it went, relative to the set's directory.
    pub path: String,
    /// Its manifest (buckets) or index (archives), relative to the set's directory.
    pub proof: String,
    /// Objects copied or entries archived.
    pub entries: u64,
    /// Bytes of content.
    pub bytes: u64,
    /// Objects downloaded (the rest came from the base set).
    #[serde(default)]
    pub moved: u64,
    /// Bytes downloaded.
    #[serde(default)]
    pub moved_bytes: u64,
    /// Files linked from the base set (incremental), unchanged and not downloaded.
    #[serde(default)]
    pub reused: u64,
    /// Seconds the part took.
    pub seconds: f64,
    /// Files changed while archived, vanished, and the like; objects that failed to copy.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The part failed: the set is not complete.
    pub error: Option<String>,
    /// The plan's `exclude` globs: keys left out of the copy or paths left out of the
    /// archive (a restore neither restores nor deletes nor reports them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl PartReport {
    /// A part not run yet: nothing counted, no warning, no error.
    fn new(kind: &'static str, name: &str, source: String, path: String, proof: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            source,
            path,
            proof: proof.to_owned(),
            entries: 0,
            bytes: 0,
            moved: 0,
            moved_bytes: 0,
            reused: 0,
            seconds: 0.0,
            warnings: Vec::new(),
            error: None,
            exclude: Vec::new(),
        }
    }
}

/// The set as recorded in `set.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetReport {
    /// Format version of this file.
    pub format: u32,
    /// The set's name: its start time, UTC.
    pub id: String,
    /// The haul that wrote it.
    pub haul: String,
    /// Start and end, RFC 3339 UTC.
    pub started: String,
    /// End.
    pub finished: String,
    /// `complete`, or `failed` when a part failed.
    pub state: String,
    /// The set an incremental set was built on.
    #[serde(default)]
    pub base: Option<String>,
    /// Per part.
    pub parts: Vec<PartReport>,
    /// Where the set is: its directory or `s3://bucket/prefix/` (not written to `set.json`).
    #[serde(skip)]
    pub location: String,
    /// Older sets removed to keep the plan's `keep` (not written to `set.json`).
    #[serde(skip)]
    pub pruned: Vec<String>,
    /// Why removing older sets stopped (not written to `set.json`).
    #[serde(skip)]
    pub prune_error: Option<String>,
}

impl SetReport {
    /// Warnings of every part, each naming its part.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        self.parts
            .iter()
            .flat_map(|p| p.warnings.iter().map(move |w| format!("{}: {w}", p.name)))
            .collect()
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn set_id(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn local_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Local {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs `plan`: copies every bucket from `source` and archives every directory into a new
/// set at `store`, all parts at once, then writes `set.json`.
///
/// # Errors
/// A destination inside what the plan backs up, a set that cannot be made (one of the same
/// second exists), or `set.json` that cannot be written. A part that fails is
/// recorded in the set (state `failed`), not returned as an error.
pub async fn run(
    plan: &Plan,
    source: &Client,
    store: &Store,
    opts: &BackupOptions,
    progress: &Progress,
) -> Result<SetReport, Error> {
    refuse_self_copy(plan, source, store)?;
    // One memory budget for the run, shared out among the parts that run at once.
    let opts = &BackupOptions {
        memory_bytes: share_of(opts.memory_bytes, plan.buckets.len() + plan.archives.len()),
        ..opts.clone()
    };
    let started_at = time::OffsetDateTime::now_utc();
    let id = set_id(started_at);
    let at = store.set(&id);
    let exists = match &at {
        SetAt::Local(dir) => dir.exists(),
        SetAt::S3(dir) => !dir.is_empty().await?,
    };
    if exists {
        return Err(Error::Usage(format!(
            "{}: a set of this second exists already; run again in a second",
            at.display()
        )));
    }
    let base = if opts.incremental {
        newest_complete(store).await?
    } else {
        None
    };
    if opts.incremental && base.is_none() {
        tracing::info!("no complete set to build on: this set is a full one");
    }
    if let SetAt::Local(dir) = &at {
        for sub in ["buckets", "archives"] {
            fs_err::create_dir_all(dir.join(sub)).map_err(local_err(dir))?;
        }
    }
    let base_at = base.as_ref().map(|id| store.set(id));
    let buckets = plan.buckets.iter().map(|b| async {
        match (&at, &base_at) {
            (SetAt::Local(dir), base) => {
                let base = match base {
                    Some(SetAt::Local(b)) => Some(b.as_path()),
                    _ => None,
                };
                bucket_part(b, source, dir, base, opts, progress).await
            }
            (SetAt::S3(dir), base) => {
                let base = match base {
                    Some(SetAt::S3(b)) => Some(b),
                    _ => None,
                };
                bucket_part_s3(b, source, dir, base, opts, progress).await
            }
        }
    });
    let archives = plan.archives.iter().map(|a| async {
        match &at {
            SetAt::Local(dir) => archive_part(a, dir).await,
            SetAt::S3(dir) => archive_part_s3(a, dir, opts).await,
        }
    });
    let (mut parts, archive_parts) = futures_util::future::join(
        futures_util::future::join_all(buckets),
        futures_util::future::join_all(archives),
    )
    .await;
    parts.extend(archive_parts);
    let failed = parts.iter().any(|p| p.error.is_some());
    let report = SetReport {
        format: SET_FORMAT,
        id,
        haul: env!("CARGO_PKG_VERSION").to_owned(),
        started: started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        finished: now_rfc3339(),
        state: if failed { "failed" } else { "complete" }.to_owned(),
        base,
        parts,
        location: at.display(),
        pruned: Vec::new(),
        prune_error: None,
    };
    match &at {
        SetAt::Local(dir) => write_set_json(dir, &report)?,
        SetAt::S3(dir) => dir.put("set.json", set_json(&report)?.into()).await?,
    }
    let mut report = report;
    if !failed {
        // The set is complete whatever happens to older ones: a failed prune is a warning.
        match prune(store, plan.keep).await {
            Ok(pruned) => report.pruned = pruned,
            Err(e) => {
                tracing::warn!("removing older sets: {e}");
                report.prune_error = Some(e.to_string());
            }
        }
    }
    Ok(report)
}

/// Whether `name` is a set's name (`YYYYMMDDTHHMMSSZ`): only such directories are ever
/// removed.
fn is_set_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// A destination inside what the plan backs up would copy every earlier set into each new
/// one (and a restore with `--delete` would remove them): a bucket part that is the
/// destination's bucket on the same gateway, or an archived directory holding the local
/// destination.
fn refuse_self_copy(plan: &Plan, source: &Client, store: &Store) -> Result<(), Error> {
    match store {
        Store::S3(dir) => {
            let same_gateway = dir.client.endpoint().authority() == source.endpoint().authority();
            if let Some(b) = plan
                .buckets
                .iter()
                .find(|b| same_gateway && b.name == dir.bucket)
            {
                return Err(Error::Usage(format!(
                    "the destination {} is in the bucket {} the plan backs up: choose another bucket",
                    dir.url(),
                    b.name.as_str()
                )));
            }
        }
        Store::Local(dest) => {
            let dest = fs_err::canonicalize(dest).unwrap_or_else(|_| dest.clone());
            for a in &plan.archives {
                let root = fs_err::canonicalize(&a.path).unwrap_or_else(|_| a.path.clone());
                if dest.starts_with(&root) {
                    return Err(Error::Usage(format!(
                        "the destination {} is inside {}, which archive {} archives: choose a directory outside it",
                        dest.display(),
                        root.display(),
                        a.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The least memory a part gets when the run's budget is shared out (chosen: one default
/// part, 16 MiB; a budget smaller than a part moves one part at a time).
pub(super) const MIN_PART_MEMORY: u64 = 16 << 20;

/// Each of `parts`' share of `budget` bytes, at least [`MIN_PART_MEMORY`].
#[must_use]
pub(super) fn share_of(budget: u64, parts: usize) -> u64 {
    (budget / u64::try_from(parts.max(1)).unwrap_or(u64::MAX)).max(MIN_PART_MEMORY)
}

/// The newest complete set at `store`, by name.
async fn newest_complete(store: &Store) -> Result<Option<String>, Error> {
    Ok(store
        .list_sets()
        .await?
        .into_iter()
        .rev()
        .find(|(id, json)| is_set_id(id) && json.as_ref().is_some_and(|j| j["state"] == "complete"))
        .map(|(id, _)| id))
}

/// Keeps the newest `keep` complete sets under `dest` and removes every set older than the
/// oldest of them, complete or not (a set left incomplete by a crash is not kept forever).
/// Sets newer than it — complete or not, a run in progress among them — are left alone.
/// Returns the names removed, oldest first.
async fn prune(store: &Store, keep: u32) -> Result<Vec<String>, Error> {
    let sets = store.list_sets().await?;
    let complete: Vec<&String> = sets
        .iter()
        .filter(|(id, json)| {
            is_set_id(id) && json.as_ref().is_some_and(|j| j["state"] == "complete")
        })
        .map(|(id, _)| id)
        .collect();
    let keep = usize::try_from(keep).unwrap_or(usize::MAX).max(1);
    let Some(oldest_kept) = complete
        .len()
        .checked_sub(keep)
        .map(|i| complete[i].clone())
    else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for (id, _) in &sets {
        if is_set_id(id) && *id < oldest_kept {
            store.remove_set(id).await?;
            removed.push(id.clone());
        }
    }
    Ok(removed)
}

fn set_json(report: &SetReport) -> Result<Vec<u8>, Error> {
    let mut text = serde_json::to_vec_pretty(report).map_err(|e| Error::Integrity {
        what: format!("internal: set.json: {e}"),
    })?;
    text.push(b'\n');
    Ok(text)
}

fn write_set_json(dir: &Path, report: &SetReport) -> Result<(), Error> {
    let path = dir.join("set.json");
    let text = set_json(report)?;
    let mut file = PartialFile::create(&path, None).map_err(local_err(&path))?;
    file.write_all(&text).map_err(local_err(&path))?;
    file.persist().map_err(local_err(&path))?;
    Ok(())
}

/// A bucket part's name, its copy's and manifest's paths in the set, and its report before
/// it runs.
fn bucket_report(part: &BucketPart) -> (String, String, String, PartReport) {
    let name = part.name.as_str().to_owned();
    let rel = format!("buckets/{name}");
    let proof = format!("buckets/{name}.manifest");
    let mut report = PartReport::new("bucket", &name, format!("s3://{name}"), rel.clone(), &proof);
    report.exclude.clone_from(&part.exclude);
    (name, rel, proof, report)
}

async fn bucket_part(
    part: &BucketPart,
    source: &Client,
    dir: &Path,
    base: Option<&Path>,
    opts: &BackupOptions,
    progress: &Progress,
) -> PartReport {
    let started = Instant::now();
    let (name, rel, proof, mut report) = bucket_report(part);
    let copy = dir.join(&rel);
    let result = async {
        let filter = Filter::new(part.exclude.iter().map(|g| (RuleKind::Exclude, g.as_str())))
            .map_err(|e| Error::Usage(e.to_string()))?;
        // Incremental: the base set's copy, hard-linked, is where the sync starts from; what
        // the bucket no longer holds is deleted from the new copy (the links only).
        let base = base
            .map(|b| (b.join(&rel), b.join(&proof)))
            .filter(|(copy, manifest)| copy.is_dir() && manifest.is_file());
        let reused = match &base {
            Some((base_copy, _)) => {
                let (from, to) = (base_copy.clone(), copy.clone());
                tokio::task::spawn_blocking(move || link_tree(&from, &to))
                    .await
                    .map_err(|e| Error::Integrity {
                        what: format!("internal: linking {}: {e}", base_copy.display()),
                    })??
            }
            None => 0,
        };
        let sync_opts = SyncOptions {
            compare: Compare::SizeAndTime,
            delete: base.is_some(),
            max_delete: None,
            dry_run: false,
            filter,
            transfer: opts.transfer.clone(),
            parallel: opts.parallel,
            memory_bytes: opts.memory_bytes,
            follow_symlinks: false,
            base: None,
            list_fanout: crate::client::ListFanout::default(),
        };
        let src = Location::S3 {
            client: source.clone(),
            bucket: part.name.clone(),
            prefix: String::new(),
        };
        fs_err::create_dir_all(&copy).map_err(local_err(&copy))?;
        let synced = sync::sync(&src, &Location::Local(copy.clone()), &sync_opts, progress).await?;
        let manifest_path = dir.join(&proof);
        let root = copy.clone();
        let cache_path = dir.join(format!("buckets/.{name}.hashes"));
        let summary = tokio::task::spawn_blocking(move || {
            // Files still linked to the base set's keep the hashes its manifest holds.
            let (cache, seeded) = match &base {
                Some((base_copy, base_manifest)) => {
                    let cache = HashCache::at(&cache_path).with_racy_window(Duration::ZERO);
                    let seeded = seed_cache(base_manifest, base_copy, &root, &cache)?;
                    (Some(cache), seeded)
                }
                None => (None, 0),
            };
            let built = manifest::build_local(
                &root,
                &manifest_path,
                TreeOptions::default(),
                cache.as_ref(),
            );
            let _ = fs_err::remove_file(&cache_path);
            Ok::<_, Error>((built?, seeded))
        })
        .await
        .map_err(|e| Error::Integrity {
            what: format!("internal: hashing {}: {e}", copy.display()),
        })??;
        Ok::<_, Error>((synced, summary, reused))
    }
    .await;
    match result {
        Ok((synced, (summary, reused), linked)) => {
            report.entries = summary.entries;
            report.bytes = summary.bytes;
            report.reused = reused;
            tracing::debug!(linked, reused, "files taken from the base set");
            record_sync(&mut report, &synced);
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// What a bucket part's sync moved, and what failed, into its report.
fn record_sync(report: &mut PartReport, synced: &sync::SyncReport) {
    report.moved = synced.transferred;
    report.moved_bytes = synced.bytes;
    for (key, err) in &synced.failed {
        report.warnings.push(format!("{key}: {err}"));
    }
    if !synced.failed.is_empty() {
        report.error = Some(format!(
            "{} objects could not be copied",
            synced.failed.len()
        ));
    }
}

/// An archive part's file name in the set, its index's, and its report before it runs.
fn archive_report(part: &ArchivePart) -> (String, String, PartReport) {
    let rel = format!("archives/{}.{}", part.name, extension(part.compression));
    let proof = archive::index_name(&rel);
    let mut report = PartReport::new(
        "archive",
        &part.name,
        part.path.display().to_string(),
        rel.clone(),
        &proof,
    );
    report.exclude.clone_from(&part.exclude);
    (rel, proof, report)
}

/// An archive part's `exclude` globs as a filter.
fn archive_exclude(part: &ArchivePart) -> Result<Filter, Error> {
    Filter::new(part.exclude.iter().map(|g| (RuleKind::Exclude, g.as_str())))
        .map_err(|e| Error::Usage(format!("archive {}: {e}", part.name)))
}

/// An archive part's report once it ran.
fn archive_done(
    mut report: PartReport,
    result: Result<archive::PackReport, Error>,
    started: Instant,
) -> PartReport {
    match result {
        Ok(packed) => {
            report.entries = packed.entries;
            report.bytes = packed.content_bytes;
            report.warnings = packed.warnings.iter().map(ToString::to_string).collect();
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

async fn archive_part(part: &ArchivePart, dir: &Path) -> PartReport {
    let started = Instant::now();
    let (rel, proof, report) = archive_report(part);
    let result = async {
        let exclude = archive_exclude(part)?;
        let out_path = dir.join(&rel);
        let index_path = dir.join(&proof);
        let out =
            BufWriter::new(PartialFile::create(&out_path, None).map_err(local_err(&out_path))?);
        let index =
            BufWriter::new(PartialFile::create(&index_path, None).map_err(local_err(&index_path))?);
        let (packed, out, index) = archive::pack_to(
            &part.path,
            out,
            part.compression,
            PackOptions {
                xattrs: part.xattrs,
                exclude,
            },
            Some((index, rel.clone())),
        )
        .await?;
        persist(out, &out_path)?;
        if let Some(index) = index {
            persist(index, &index_path)?;
        }
        Ok::<_, Error>(packed)
    }
    .await;
    archive_done(report, result, started)
}

/// A bucket part into a set on a gateway: the bucket copied under `sets/ID/buckets/NAME/`
/// (server-side copies on the same gateway, streamed GET→PUT between two), then every copied
/// object read back and hashed into the manifest, uploaded beside it: the manifest proves
/// what the destination holds, not what was sent.
///
/// Incremental (`base`, the previous set): the bucket is compared with the base set's copy
/// (size and time, as a sync), what is unchanged is copied from it on the destination's
/// gateway (server-side), and only what changed is sent from the source; an object whose
/// size and ETag are those the base set's manifest records keeps the hash recorded there,
/// unread.
async fn bucket_part_s3(
    part: &BucketPart,
    source: &Client,
    set: &S3Dir,
    base: Option<&S3Dir>,
    opts: &BackupOptions,
    progress: &Progress,
) -> PartReport {
    let started = Instant::now();
    let (_, rel, proof, mut report) = bucket_report(part);
    let copy = set.join(&rel);
    let result = async {
        let filter = Filter::new(part.exclude.iter().map(|g| (RuleKind::Exclude, g.as_str())))
            .map_err(|e| Error::Usage(e.to_string()))?;
        let budget = MemoryBudget::new(opts.memory_bytes);
        // The base set's copy and its manifest; a base set without this bucket is no base.
        let base = match base {
            Some(b) => match b.fetch(&proof, &opts.transfer, &budget).await {
                Ok(manifest) => Some((b.join(&rel), manifest)),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let sync_opts = SyncOptions {
            compare: Compare::SizeAndTime,
            delete: false,
            max_delete: None,
            dry_run: false,
            filter,
            transfer: opts.transfer.clone(),
            parallel: opts.parallel,
            memory_bytes: opts.memory_bytes,
            follow_symlinks: false,
            base: base.as_ref().map(|(b, _)| Location::S3 {
                client: b.client.clone(),
                bucket: b.bucket.clone(),
                prefix: b.prefix.clone(),
            }),
            list_fanout: crate::client::ListFanout::default(),
        };
        let src = Location::S3 {
            client: source.clone(),
            bucket: part.name.clone(),
            prefix: String::new(),
        };
        let dst = Location::S3 {
            client: copy.client.clone(),
            bucket: copy.bucket.clone(),
            prefix: copy.prefix.clone(),
        };
        let synced = sync::sync(&src, &dst, &sync_opts, progress).await?;
        let temp = tempfile::NamedTempFile::new()
            .map_err(|e| local_err(&std::env::temp_dir())(e))?
            .into_temp_path();
        let summary = manifest::build_remote(
            RemoteSource {
                known: base.as_ref().map(|(_, m)| m.to_path_buf()),
                ..RemoteSource::new(
                    copy.client.clone(),
                    copy.bucket.clone(),
                    &copy.prefix,
                    opts.parallel,
                )
            },
            temp.to_path_buf(),
        )
        .await?;
        set.upload(&proof, &temp, &opts.transfer, &budget).await?;
        Ok::<_, Error>((synced, summary))
    }
    .await;
    match result {
        Ok((synced, summary)) => {
            report.entries = summary.entries;
            report.bytes = summary.bytes;
            report.reused = synced.reused;
            record_sync(&mut report, &synced);
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// An archive part into a set on a gateway: `haul tar push` of the directory with its index.
async fn archive_part_s3(part: &ArchivePart, set: &S3Dir, opts: &BackupOptions) -> PartReport {
    let started = Instant::now();
    let (rel, proof, report) = archive_report(part);
    let result = async {
        let exclude = archive_exclude(part)?;
        let (key, index_key) = (set.key(&rel)?, set.key(&proof)?);
        let budget = MemoryBudget::new(opts.memory_bytes);
        let (packed, _) = archive::push(
            &set.client,
            &part.path,
            &set.bucket,
            &key,
            part.compression,
            PackOptions {
                xattrs: part.xattrs,
                exclude,
            },
            Some((&set.bucket, &index_key)),
            &opts.transfer,
            &budget,
        )
        .await?;
        Ok::<_, Error>(packed)
    }
    .await;
    archive_done(report, result, started)
}

/// The file name extension of an archive compressed with `c`.
fn extension(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => "tar.gz",
        Compression::Zstd => "tar.zst",
        Compression::None => "tar",
    }
}

/// Hard-links every file under `base` to the same place under `copy`, directories made as
/// needed (`cp -al`, `rsync --link-dest`). A file that cannot be linked is left out: the sync
/// downloads it. Returns the files linked.
fn link_tree(base: &Path, copy: &Path) -> Result<u64, Error> {
    let mut linked = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let from_dir = base.join(&rel);
        let to_dir = copy.join(&rel);
        fs_err::create_dir_all(&to_dir).map_err(local_err(&to_dir))?;
        for item in fs_err::read_dir(&from_dir).map_err(local_err(&from_dir))? {
            let item = item.map_err(local_err(&from_dir))?;
            let ft = item.file_type().map_err(local_err(&item.path()))?;
            let name = rel.join(item.file_name());
            if ft.is_dir() {
                stack.push(name);
            } else if ft.is_file() {
                match fs_err::hard_link(item.path(), copy.join(&name)) {
                    Ok(()) => linked += 1,
                    Err(e) => tracing::info!(%e, "not linked from the base set: downloaded again"),
                }
            }
        }
    }
    Ok(linked)
}

/// Writes `cache` for the copy `copy` from the base set's manifest: every entry whose file in
/// `copy` is still the base's file (the same inode: linked, not replaced by the sync) keeps
/// its hash, so only downloaded files are read to build the new manifest.
fn seed_cache(
    base_manifest: &Path,
    base_copy: &Path,
    copy: &Path,
    cache: &HashCache,
) -> Result<u64, Error> {
    use std::os::unix::fs::MetadataExt;
    let Some(mut writer) = cache.writer() else {
        return Ok(0);
    };
    let now = std::time::SystemTime::now();
    let mut seeded = 0;
    for entry in manifest::Reader::open(base_manifest)? {
        let entry = entry?;
        // Keys are relative paths the walk found; anything else is not looked up.
        if entry.key.starts_with('/') || entry.key.split('/').any(|c| c == ".." || c.is_empty()) {
            continue;
        }
        let (Ok(old), Ok(new)) = (
            fs_err::symlink_metadata(base_copy.join(&entry.key)),
            fs_err::symlink_metadata(copy.join(&entry.key)),
        ) else {
            continue;
        };
        if !new.is_file()
            || (old.dev(), old.ino()) != (new.dev(), new.ino())
            || new.len() != entry.size
        {
            continue;
        }
        let Ok(modified) = new.modified() else {
            continue;
        };
        let stamp = manifest::Stamp {
            size: new.len(),
            mtime_ns: manifest::hash::mtime_ns(modified),
            ino: new.ino(),
            ctime_ns: i128::from(new.ctime()) * 1_000_000_000 + i128::from(new.ctime_nsec()),
        };
        if writer.push(&entry.key, &stamp, &entry.hash, now).is_ok() {
            seeded += 1;
        }
    }
    writer.finish().map_err(local_err(cache.path()))?;
    Ok(seeded)
}

/// Flushes, syncs and renames a finished file into place.
fn persist(w: BufWriter<PartialFile>, path: &Path) -> Result<(), Error> {
    let file = w.into_inner().map_err(|e| Error::Local {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.persist().map(|_| ()).map_err(local_err(path))
}

/// The sets under a local destination, oldest first, with their `set.json` if readable.
///
/// # Errors
/// The destination's `sets/` directory unreadable (a missing one is no sets).
pub fn list_sets(dest: &Path) -> Result<Vec<(String, Option<serde_json::Value>)>, Error> {
    let sets = dest.join("sets");
    let entries = match fs_err::read_dir(&sets) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(local_err(&sets)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(local_err(&sets))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !entry.path().is_dir() {
            continue;
        }
        let json = fs_err::read(entry.path().join("set.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        out.push((name, json));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prune_local(dest: &Path, keep: u32) -> Vec<String> {
        let store = Store::Local(dest.to_path_buf());
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(prune(&store, keep))
            .unwrap()
    }

    #[test]
    fn prune_keeps_the_newest_complete_sets_and_nothing_else_is_touched() {
        let dest = tempfile::tempdir().unwrap();
        let sets = dest.path().join("sets");
        let make = |id: &str, state: Option<&str>| {
            fs_err::create_dir_all(sets.join(id)).unwrap();
            if let Some(state) = state {
                fs_err::write(
                    sets.join(id).join("set.json"),
                    format!("{{\"state\": \"{state}\"}}"),
                )
                .unwrap();
            }
        };
        make("20261201T000000Z", Some("complete"));
        make("20261202T000000Z", None); // a crash
        make("20261203T000000Z", Some("failed"));
        make("20261204T000000Z", Some("complete"));
        make("20261205T000000Z", Some("complete"));
        make("20261206T000000Z", None); // in progress
        make("not-a-set", None);
        assert_eq!(prune_local(dest.path(), 5), Vec::<String>::new());
        assert_eq!(
            prune_local(dest.path(), 2),
            ["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"]
        );
        let mut left: Vec<_> = fs_err::read_dir(&sets)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "20261204T000000Z",
                "20261205T000000Z",
                "20261206T000000Z",
                "not-a-set"
            ]
        );
        assert!(!is_set_id("20261204T00000Z"));
        assert!(!is_set_id("2026120xT000000Z"));
    }

    #[test]
    fn set_ids_sort_by_time() {
        let t = time::macros::datetime!(2026-12-06 03:04:05 UTC);
        assert_eq!(set_id(t), "20261206T030405Z");
        let later = time::macros::datetime!(2026-12-06 13:04:05 UTC);
        assert!(set_id(later) > set_id(t));
    }

    #[test]
    fn an_archive_part_writes_the_archive_its_index_and_no_temporary_file() {
        let src = tempfile::tempdir().unwrap();
        fs_err::write(src.path().join("a.log"), b"line\n".repeat(1000)).unwrap();
        let set = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(set.path().join("archives")).unwrap();
        let part = ArchivePart {
            name: "store".into(),
            path: src.path().to_path_buf(),
            compression: Compression::Gzip,
            xattrs: false,
            exclude: Vec::new(),
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = rt.block_on(archive_part(&part, set.path()));
        assert_eq!(r.error, None);
        assert_eq!((r.entries, r.bytes), (1, 5000));
        let mut names: Vec<_> = fs_err::read_dir(set.path().join("archives"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["store.tar.gz", "store.tar.gz.index"]);
        let list = list_sets(set.path()).unwrap();
        assert!(list.is_empty());
    }
}
