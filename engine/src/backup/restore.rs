//! `haul restore SET` and `haul backup verify SET` (`docs/backup.md`).
//!
//! Restore puts every part of a set back, all parts at once, and proves the result:
//!
//! - a bucket part: the bucket is made when missing, the set's copy is synced into it
//!   (`haul sync` semantics: only what differs moves, so a rerun continues where a killed run
//!   stopped, and a multipart upload cut off resumes from its parts), then every object is
//!   read back and compared with the set's manifest (size and BLAKE3);
//! - an archive part: the target directory is first checked against the archive's index
//!   ([`archive::tree`]); when it already matches, nothing is extracted (a rerun after a
//!   completed extraction), otherwise the archive is extracted (files under temporary names,
//!   renamed when whole; owners restored as root, as `tar -xpf --same-owner`) and the
//!   directory checked again: content, modes, mtimes, owners, links.
//!
//! Every difference is reported by name; the caller exits 1 when any part is not clean.
//! Verify checks a set where it lies: each bucket copy against its manifest, each archive
//! against its index.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::set::{Set, SetArchive, SetBucket};
use super::store::SetAt;
use crate::archive::tree::{self, MAX_LISTED, TreeCheck};
use crate::archive::{self, UnpackOptions};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::manifest::{self, Change, RemoteSource, TreeOptions};
use crate::progress::Progress;
use crate::sync::{self, Compare, Filter, Location, SyncOptions};
use crate::transfer::{MemoryBudget, TransferOptions};

/// How a restore runs.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Transfer settings for the bucket uploads.
    pub transfer: TransferOptions,
    /// Transfers in flight per bucket.
    pub parallel: usize,
    /// Memory budget of the run, shared out among its parts.
    pub memory_bytes: u64,
    /// Where archives go, by part name.
    pub archive_dirs: Vec<(String, PathBuf)>,
    /// Archives without an `archive_dirs` entry go back to the directory `set.json` says they
    /// were made from (otherwise that is an error: `set.json` is input, and must not choose
    /// where a restore as root writes).
    pub in_place: bool,
    /// Restore (and check) numeric owners and setid bits, and make devices: as root.
    pub owners: bool,
    /// Remove objects the set does not hold from the restored buckets.
    pub delete: bool,
}

/// What restoring (or verifying) one part found.
#[derive(Debug, Clone, Serialize)]
pub struct PartCheck {
    /// `bucket` or `archive`.
    pub kind: &'static str,
    /// The part's name.
    pub name: String,
    /// Where it went (`s3://bucket`, a directory) or, for verify, the copy checked.
    pub target: String,
    /// What was done: `restored`, `bucket made, restored`, `already restored`, `verified`.
    pub action: &'static str,
    /// Objects uploaded or entries extracted.
    pub moved: u64,
    /// Bytes uploaded or extracted.
    pub moved_bytes: u64,
    /// Objects or entries compared.
    pub checked: u64,
    /// Differences found (all of them).
    pub different: u64,
    /// The first differences, each naming its key or path.
    pub differences: Vec<String>,
    /// What the set recorded when it was made (files changed while archived) and what the
    /// restore could not do but did not stop it.
    pub warnings: Vec<String>,
    /// The part could not be restored or checked.
    pub error: Option<String>,
    /// Seconds it took.
    pub seconds: f64,
}

impl PartCheck {
    fn new(kind: &'static str, name: &str, target: String) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            target,
            action: "",
            moved: 0,
            moved_bytes: 0,
            checked: 0,
            different: 0,
            differences: Vec::new(),
            warnings: Vec::new(),
            error: None,
            seconds: 0.0,
        }
    }

    /// Restored or verified, and nothing differs.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && self.different == 0
    }

    fn absorb(&mut self, found: &tree::TreeReport) {
        self.checked = found.entries;
        self.different += found.different;
        let room = MAX_LISTED.saturating_sub(self.differences.len());
        self.differences
            .extend(found.differences.iter().take(room).cloned());
    }
}

/// A restore's or a verify's report, part by part.
#[derive(Debug, Clone, Serialize)]
pub struct SetCheck {
    /// The set's name.
    pub set: String,
    /// Per part, buckets first.
    pub parts: Vec<PartCheck>,
}

impl SetCheck {
    /// Every part done and nothing differs.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.parts.iter().all(PartCheck::is_clean)
    }
}

/// Restores every part of `set` to the gateway of `client` and to the archive directories,
/// then checks each against the set.
///
/// # Errors
/// An `archive_dirs` entry that names no archive part of the set, or an archive whose
/// recorded directory is not absolute and has no `archive_dirs` entry. A part that fails is
/// recorded in the report.
pub async fn restore(
    set: &Set,
    client: &Client,
    opts: &RestoreOptions,
    progress: &Progress,
) -> Result<SetCheck, Error> {
    for (name, _) in &opts.archive_dirs {
        if !set.archives.iter().any(|a| &a.name == name) {
            return Err(Error::Usage(format!(
                "--archive-dir {name}=…: the set has no archive part {name} (it has: {})",
                set.archives
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let opts = &RestoreOptions {
        memory_bytes: super::run::share_of(
            opts.memory_bytes,
            set.buckets.len() + set.archives.len(),
        ),
        ..opts.clone()
    };
    let mut targets = Vec::new();
    for a in &set.archives {
        let target = match opts.archive_dirs.iter().rev().find(|(n, _)| n == &a.name) {
            Some((_, dir)) => dir.clone(),
            None if opts.in_place && a.source.is_absolute() => a.source.clone(),
            None if opts.in_place => {
                return Err(Error::Usage(format!(
                    "archive part {}: made from {}, not an absolute path: give --archive-dir {}=DIR",
                    a.name,
                    a.source.display(),
                    a.name
                )));
            }
            None => {
                return Err(Error::Usage(format!(
                    "archive part {}: where to extract it? --archive-dir {}=DIR, or --in-place to extract it into {} (the directory the set says it was made from)",
                    a.name,
                    a.name,
                    a.source.display()
                )));
            }
        };
        targets.push(target);
    }
    let buckets = set
        .buckets
        .iter()
        .map(|b| restore_bucket(set, b, client, opts, progress));
    let archives = set
        .archives
        .iter()
        .zip(&targets)
        .map(|(a, dir)| restore_archive(set, a, dir, opts));
    let (mut parts, archive_parts) = futures_util::future::join(
        futures_util::future::join_all(buckets),
        futures_util::future::join_all(archives),
    )
    .await;
    parts.extend(archive_parts);
    Ok(SetCheck {
        set: set.report.id.clone(),
        parts,
    })
}

/// Makes `bucket` unless it exists; whether it was made.
async fn ensure_bucket(client: &Client, bucket: &crate::s3::BucketName) -> Result<bool, Error> {
    match client.head_bucket(bucket).await {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            client.create_bucket(bucket).await?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// A file of the set on the local disk: the set's own, or a temporary copy of its object
/// (removed when dropped).
enum LocalCopy {
    Own(PathBuf),
    Temp(tempfile::TempPath),
}

impl LocalCopy {
    fn path(&self) -> &Path {
        match self {
            Self::Own(p) => p,
            Self::Temp(t) => t,
        }
    }
}

/// The set's file `rel` where it can be read as a file: itself, or fetched from the gateway.
async fn local_copy(
    set: &Set,
    rel: &str,
    read: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<LocalCopy, Error> {
    match &set.at {
        SetAt::Local(dir) => Ok(LocalCopy::Own(dir.join(rel))),
        SetAt::S3(dir) => Ok(LocalCopy::Temp(dir.fetch(rel, read, budget).await?)),
    }
}

/// The set's bucket copy `rel` as a sync location.
fn copy_location(set: &Set, rel: &str) -> Location {
    match &set.at {
        SetAt::Local(dir) => Location::Local(dir.join(rel)),
        SetAt::S3(dir) => {
            let d = dir.join(rel);
            Location::S3 {
                client: d.client,
                bucket: d.bucket,
                prefix: d.prefix,
            }
        }
    }
}

async fn restore_bucket(
    set: &Set,
    b: &SetBucket,
    client: &Client,
    opts: &RestoreOptions,
    progress: &Progress,
) -> PartCheck {
    let started = Instant::now();
    let mut part = PartCheck::new(
        "bucket",
        b.name.as_str(),
        format!("s3://{}", b.name.as_str()),
    );
    let result = async {
        let created = ensure_bucket(client, &b.name).await?;
        // By content: an object overwritten at the same size after the backup (a WAL
        // segment: every one is 16 MiB) is newer than the set's copy, and times would keep
        // it. Keys the part's `exclude` left out are neither uploaded nor deleted.
        let sync_opts = SyncOptions {
            compare: Compare::Checksum,
            delete: opts.delete,
            max_delete: None,
            dry_run: false,
            filter: b.exclude.clone(),
            transfer: opts.transfer.clone(),
            parallel: opts.parallel,
            memory_bytes: opts.memory_bytes,
            follow_symlinks: false,
            base: None,
            list_fanout: crate::client::ListFanout::default(),
        };
        let dst = Location::S3 {
            client: client.clone(),
            bucket: b.name.clone(),
            prefix: String::new(),
        };
        let synced = sync::sync(&copy_location(set, &b.copy), &dst, &sync_opts, progress).await?;
        Ok::<_, Error>((created, synced))
    }
    .await;
    match result {
        Ok((created, synced)) => {
            part.moved = synced.transferred;
            part.moved_bytes = synced.bytes;
            part.action = match (created, synced.transferred, synced.skipped) {
                (true, _, _) => "bucket made, restored",
                (false, 0, s) if s > 0 => "already restored",
                _ => "restored",
            };
            for (key, err) in &synced.failed {
                part.warnings.push(format!("{key}: {err}"));
            }
            if !synced.failed.is_empty() {
                part.error = Some(format!(
                    "{} objects could not be uploaded",
                    synced.failed.len()
                ));
            }
        }
        Err(e) => {
            part.error = Some(e.to_string());
            part.seconds = started.elapsed().as_secs_f64();
            return part;
        }
    }
    // Read back every object and compare it with the manifest.
    part.checked = b.entries;
    let budget = MemoryBudget::new(opts.memory_bytes);
    let manifest = match local_copy(set, &b.manifest, &opts.transfer, &budget).await {
        Ok(m) => m,
        Err(e) => {
            part.error = Some(format!("reading the set's manifest {}: {e}", b.manifest));
            part.seconds = started.elapsed().as_secs_f64();
            return part;
        }
    };
    let src = RemoteSource::new(client.clone(), b.name.clone(), "", opts.parallel);
    check_against_manifest(
        &mut part,
        manifest.path(),
        &b.exclude,
        async |manifest, on_change| manifest::verify_remote(manifest, src, on_change).await,
    )
    .await;
    part.seconds = started.elapsed().as_secs_f64();
    part
}

/// How a difference of a manifest check reads, `what` naming where the copy is.
fn describe(c: &Change, extra: &str) -> String {
    match c {
        Change::Removed(e) => format!("{}: missing", e.key),
        Change::Added(e) => format!("{}: {extra}", e.key),
        Change::Changed { old, new } if old.size != new.size => {
            format!("{}: size {} instead of {}", new.key, new.size, old.size)
        }
        Change::Changed { new, .. } => format!("{}: content differs (BLAKE3)", new.key),
    }
}

/// Runs `verify` (a manifest check giving each change to its callback) and records what it
/// found in `part`.
async fn check_against_manifest(
    part: &mut PartCheck,
    manifest: &Path,
    excluded: &Filter,
    verify: impl AsyncFnOnce(
        PathBuf,
        Box<dyn FnMut(&Change) + Send + 'static>,
    ) -> Result<manifest::DiffSummary, manifest::ManifestError>,
) {
    // (count, the first differences); keys the part's `exclude` left out of the set are not
    // differences where the check finds them.
    let found: Arc<Mutex<(u64, Vec<String>)>> = Arc::default();
    let sink = found.clone();
    let excluded = excluded.clone();
    let on_change = Box::new(move |c: &Change| {
        if matches!(c, Change::Added(_)) && !excluded.is_empty() && !excluded.includes(c.key()) {
            return;
        }
        let mut found = sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        found.0 += 1;
        if found.1.len() < MAX_LISTED {
            found.1.push(describe(c, "not in the set"));
        }
    });
    match verify(manifest.to_path_buf(), on_change).await {
        Ok(_) => {
            let (count, listed) = std::mem::take(
                &mut *found
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            part.different += count;
            let room = MAX_LISTED.saturating_sub(part.differences.len());
            part.differences.extend(listed.into_iter().take(room));
        }
        Err(e) => part.error = Some(format!("checking against {}: {e}", manifest.display())),
    }
}

fn thread_err(e: &tokio::task::JoinError) -> Error {
    Error::Integrity {
        what: format!("internal: a worker thread failed: {e}"),
    }
}

fn open_file(path: &Path) -> Result<std::fs::File, Error> {
    Ok(fs_err::File::open(path)
        .map_err(|source| Error::Local {
            path: path.to_path_buf(),
            source,
        })?
        .into_parts()
        .0)
}

/// The directory `dir` checked against the index at `index` on a blocking thread.
async fn check_tree(
    index: &Path,
    dir: &Path,
    check: TreeCheck,
    excluded: &crate::sync::Filter,
) -> Result<tree::TreeReport, Error> {
    let file = open_file(index)?;
    let name = index.display().to_string();
    let dir = dir.to_path_buf();
    let excluded = excluded.clone();
    Ok(
        tokio::task::spawn_blocking(move || tree::check(file, &name, &dir, check, &excluded))
            .await
            .map_err(|e| thread_err(&e))??,
    )
}

async fn restore_archive(
    set: &Set,
    a: &SetArchive,
    dir: &Path,
    opts: &RestoreOptions,
) -> PartCheck {
    let owners = opts.owners;
    let started = Instant::now();
    let mut part = PartCheck::new("archive", &a.name, dir.display().to_string());
    part.warnings = a
        .warnings
        .iter()
        .map(|w| format!("when backed up: {w}"))
        .collect();
    let check = TreeCheck {
        owners,
        setid: owners,
    };
    let budget = MemoryBudget::new(opts.memory_bytes);
    let result = async {
        let index = local_copy(set, &a.index, &opts.transfer, &budget).await?;
        let before = check_tree(index.path(), dir, check, &a.exclude).await?;
        if before.is_clean() {
            return Ok::<_, Error>((before, None));
        }
        let unpack_opts = UnpackOptions {
            same_owner: owners,
            allow_devices: owners,
            allow_setid: owners,
            ..UnpackOptions::default()
        };
        let unpacked = match &set.at {
            SetAt::Local(set_dir) => {
                let input = std::io::BufReader::new(open_file(&set_dir.join(&a.archive))?);
                archive::unpack_from(input, dir, unpack_opts, None).await?
            }
            SetAt::S3(set_dir) => {
                let remote = archive::Remote {
                    client: &set_dir.client,
                    read: &opts.transfer,
                    budget: &budget,
                };
                let key = set_dir.key(&a.archive)?;
                archive::pull(remote, &set_dir.bucket, &key, dir, unpack_opts, None).await?
            }
        };
        let after = check_tree(index.path(), dir, check, &a.exclude).await?;
        Ok((after, Some(unpacked)))
    }
    .await;
    match result {
        Ok((found, unpacked)) => {
            part.absorb(&found);
            match unpacked {
                None => part.action = "already restored",
                Some(u) => {
                    part.action = "restored";
                    part.moved = u.entries;
                    part.moved_bytes = u.content_bytes;
                    part.warnings.extend(u.warnings);
                }
            }
            if !owners {
                part.warnings
                    .push("owners not restored nor checked: not running as root".to_owned());
            }
        }
        Err(e) => part.error = Some(e.to_string()),
    }
    part.seconds = started.elapsed().as_secs_f64();
    part
}

/// Checks a set where it lies: each bucket copy rehashed against its manifest, each archive
/// read whole against its index (a set on a gateway is read from it with `read`, `parallel`
/// objects at once, within `memory_bytes`). Nothing is written.
///
/// # Errors
/// None of its own; a part that cannot be checked is recorded in the report.
pub async fn verify(
    set: &Set,
    read: &TransferOptions,
    parallel: usize,
    memory_bytes: u64,
) -> SetCheck {
    let budget = MemoryBudget::new(memory_bytes);
    let buckets = set
        .buckets
        .iter()
        .map(|b| verify_bucket_copy(set, b, read, &budget, parallel));
    let archives = set
        .archives
        .iter()
        .map(|a| verify_archive(set, a, read, &budget));
    let (mut parts, archive_parts) = futures_util::future::join(
        futures_util::future::join_all(buckets),
        futures_util::future::join_all(archives),
    )
    .await;
    parts.extend(archive_parts);
    SetCheck {
        set: set.report.id.clone(),
        parts,
    }
}

async fn verify_bucket_copy(
    set: &Set,
    b: &SetBucket,
    read: &TransferOptions,
    budget: &MemoryBudget,
    parallel: usize,
) -> PartCheck {
    let started = Instant::now();
    let target = match &set.at {
        SetAt::Local(dir) => dir.join(&b.copy).display().to_string(),
        SetAt::S3(dir) => dir.join(&b.copy).url(),
    };
    let mut part = PartCheck::new("bucket", b.name.as_str(), target);
    part.action = "verified";
    part.checked = b.entries;
    match local_copy(set, &b.manifest, read, budget).await {
        Ok(manifest) => match &set.at {
            SetAt::Local(dir) => {
                let root = dir.join(&b.copy);
                check_against_manifest(
                    &mut part,
                    manifest.path(),
                    &b.exclude,
                    async |manifest, mut on_change| {
                        tokio::task::spawn_blocking(move || {
                            manifest::verify_local(
                                &manifest,
                                &root,
                                TreeOptions::default(),
                                &mut on_change,
                            )
                        })
                        .await
                        .map_err(|_| manifest::ManifestError::Worker("set verifier"))?
                    },
                )
                .await;
            }
            SetAt::S3(dir) => {
                let copy = dir.join(&b.copy);
                let src = RemoteSource::new(copy.client, copy.bucket, &copy.prefix, parallel);
                check_against_manifest(
                    &mut part,
                    manifest.path(),
                    &b.exclude,
                    async |manifest, on_change| {
                        manifest::verify_remote(manifest, src, on_change).await
                    },
                )
                .await;
            }
        },
        Err(e) => part.error = Some(format!("reading the set's manifest {}: {e}", b.manifest)),
    }
    part.seconds = started.elapsed().as_secs_f64();
    part
}

async fn verify_archive(
    set: &Set,
    a: &SetArchive,
    read: &TransferOptions,
    budget: &MemoryBudget,
) -> PartCheck {
    let started = Instant::now();
    let (source, remote) = match &set.at {
        SetAt::Local(dir) => (archive::Source::File(dir.join(&a.archive)), None),
        SetAt::S3(dir) => match dir.key(&a.archive) {
            Ok(key) => (
                archive::Source::S3 {
                    bucket: dir.bucket.clone(),
                    key,
                },
                Some(archive::Remote {
                    client: &dir.client,
                    read,
                    budget,
                }),
            ),
            Err(e) => {
                let mut part = PartCheck::new("archive", &a.name, a.archive.clone());
                part.error = Some(e.to_string());
                return part;
            }
        },
    };
    let mut part = PartCheck::new("archive", &a.name, source.name());
    part.action = "verified";
    let result = async {
        let index = local_copy(set, &a.index, read, budget).await?;
        let file = open_file(index.path())?;
        archive::verify(remote, &source, file, a.index.clone()).await
    }
    .await;
    match result {
        Ok(r) => {
            part.checked = r.entries;
            part.different = r.difference_count;
            part.differences = r.differences;
        }
        Err(e) => part.error = Some(e.to_string()),
    }
    part.seconds = started.elapsed().as_secs_f64();
    part
}
