//! BLAKE3 of files and of directory trees.
//!
//! Small files (below [`SMALL_FILE_BYTES`]) are read into memory: a map costs more than the
//! read. Larger files are memory-mapped and hashed with `Hasher::update_rayon`, which splits
//! the input across rayon's threads — the approach of `b3sum` (see `BLAKE3-team/BLAKE3`
//! `src/io.rs`). [`HashMode::Read`] reads instead of mapping, for files on a live volume.
//!
//! [`hash_tree`] walks a directory in key order ([`crate::local::walk`]) and hashes up to
//! [`TREE_WINDOW`] files at once on rayon, yielding entries in key order.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::cache::{CacheWriter, HashCache, Lookup, Stamp};
use super::{Entry, ManifestError};
use crate::local::{LocalEntry, Walk, WalkItem, WalkOptions};

/// Files smaller than this are read, not mapped: below 16 KiB a read is cheaper than
/// setting up and tearing down a map (b3sum's threshold, `BLAKE3-team/BLAKE3` `src/io.rs`).
pub const SMALL_FILE_BYTES: u64 = 16 * 1024;

/// Files hashed at once by [`hash_tree`]: enough to keep every core busy on small files
/// while bounding memory to this many small-file buffers (chosen, issue 5).
pub const TREE_WINDOW: usize = 64;

/// The read size of [`HashMode::Read`]: large enough for `update_rayon` to split (chosen).
const READ_CHUNK_BYTES: usize = 1024 * 1024;

/// How large files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMode {
    /// Memory-map files of [`SMALL_FILE_BYTES`] and more (fast; see [`hash_file`] for the
    /// risk on files being truncated).
    #[default]
    Mmap,
    /// Read every file in chunks (safe on live volumes, slower on large files).
    Read,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError + '_ {
    move |source| ManifestError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The BLAKE3 of a file's content, with [`HashMode::Mmap`].
///
/// # Errors
/// [`ManifestError::Io`] naming the path.
pub fn hash_file(path: &Path) -> Result<blake3::Hash, ManifestError> {
    hash_file_with(path, HashMode::Mmap)
}

/// The BLAKE3 of a file's content, large files mapped or read as `mode` says.
///
/// # Errors
/// [`ManifestError::Io`] naming the path.
pub fn hash_file_with(path: &Path, mode: HashMode) -> Result<blake3::Hash, ManifestError> {
    let mut file = fs_err::File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len < SMALL_FILE_BYTES {
        let mut buf = Vec::with_capacity(len as usize);
        file.read_to_end(&mut buf).map_err(io_err(path))?;
        return Ok(blake3::hash(&buf));
    }
    match mode {
        HashMode::Mmap => hash_mapped(file.file(), path),
        HashMode::Read => {
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; READ_CHUNK_BYTES];
            loop {
                let n = file.read(&mut buf).map_err(io_err(path))?;
                if n == 0 {
                    break;
                }
                hasher.update_rayon(buf.get(..n).unwrap_or_default());
            }
            Ok(hasher.finalize())
        }
    }
}

/// Maps `file` and hashes it on rayon's threads.
#[allow(unsafe_code)]
fn hash_mapped(file: &std::fs::File, path: &Path) -> Result<blake3::Hash, ManifestError> {
    // SAFETY: `Mmap::map` is unsafe because the mapped file may change underneath us. The
    // worst case: another process truncates the file while it is mapped, and reading a page
    // past the new end raises SIGBUS, which kills haul (no memory is corrupted, but the run
    // dies without cleanup). A file written in place while mapped only yields a hash of
    // mixed content, which `hash_tree`'s size/mtime re-check reports as
    // `ManifestError::Changed`. So only files that are not live are mapped: on a volume
    // being written, use `HashMode::Read` (`haul manifest build --no-mmap`). The map is
    // read-only and private to this function; no reference to it outlives it.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(io_err(path))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_rayon(&map);
    Ok(hasher.finalize())
}

/// How [`hash_tree`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeOptions {
    /// How large files are read.
    pub mode: HashMode,
    /// Walk options (symlinks, walker threads).
    pub walk: WalkOptions,
}

pub(crate) fn mtime_ns(t: std::time::SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// Hashes one walked file and checks it did not change meanwhile.
fn hash_entry(local: &LocalEntry, mode: HashMode) -> Result<Entry, ManifestError> {
    let hash = hash_file_with(&local.path, mode)?;
    let after = fs_err::metadata(&local.path).map_err(io_err(&local.path))?;
    let mtime_after = after.modified().map_err(io_err(&local.path))?;
    if after.len() != local.size || mtime_after != local.mtime {
        return Err(ManifestError::Changed {
            path: local.path.clone(),
        });
    }
    Ok(Entry {
        key: local.key.clone(),
        size: local.size,
        mtime_ns: mtime_ns(local.mtime),
        mode: Some(local.mode),
        hash,
        etag: None,
    })
}

/// A pending hash: its answer arrives on the receiver; the stamp is the file's, for the cache
/// (`None` for an error of the walk).
type Pending = (mpsc::Receiver<Result<Entry, ManifestError>>, Option<Stamp>);

/// How many files a tree hash took from the cache and how many it read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Hashes reused from the cache.
    pub reused: u64,
    /// Files read and hashed.
    pub hashed: u64,
}

/// The entries of a directory tree, hashed in parallel, in key order. See [`hash_tree`].
pub struct TreeHash {
    walk: Walk,
    mode: HashMode,
    pending: VecDeque<Pending>,
    walk_done: bool,
    lookup: Option<Lookup>,
    writer: Option<CacheWriter>,
    stats: CacheStats,
    keep: Option<KeyFilter>,
}

/// Which keys a tree hash takes (the others are left out unread).
type KeyFilter = Box<dyn Fn(&str) -> bool + Send>;

impl std::fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeHash")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Walks `root` in key order and hashes its files on rayon, at most [`TREE_WINDOW`] at once,
/// yielding entries in key order. Skipped paths (symlinks, special files) are logged at
/// `warn` and left out; a walk or hash error is yielded in its place and the walk goes on.
/// A blocking iterator: run it on a blocking thread.
#[must_use]
pub fn hash_tree(root: &Path, opts: TreeOptions) -> TreeHash {
    hash_tree_cached(root, opts, None)
}

/// [`hash_tree`], taking the hash of every file whose (size, mtime, inode, ctime) did not
/// change from `cache` and writing the cache anew for the next run (renamed into place once
/// the walk was read to its end; errors only leave their files out of it).
#[must_use]
pub fn hash_tree_cached(root: &Path, opts: TreeOptions, cache: Option<&HashCache>) -> TreeHash {
    TreeHash {
        walk: crate::local::walk(root, opts.walk),
        mode: opts.mode,
        pending: VecDeque::with_capacity(TREE_WINDOW),
        walk_done: false,
        lookup: cache.map(HashCache::lookup),
        writer: cache.and_then(HashCache::writer),
        stats: CacheStats::default(),
        keep: None,
    }
}

impl TreeHash {
    /// Starts hashes until the window is full or the walk ends; an error of the walk itself
    /// is queued in order as a ready answer.
    fn fill(&mut self) {
        while !self.walk_done && self.pending.len() < TREE_WINDOW {
            let Some(item) = self.walk.next() else {
                self.walk_done = true;
                break;
            };
            // One answer per job, so a bound of 1 never blocks the sender.
            let (tx, rx) = mpsc::sync_channel(1);
            match item {
                WalkItem::File(local)
                    if local.key.starts_with(super::RESERVED_PREFIX)
                        || self.keep.as_ref().is_some_and(|k| !k(&local.key)) =>
                {
                    continue;
                }
                WalkItem::File(local) => {
                    let stamp = Stamp::of(&local);
                    let cached = self.lookup.as_mut().and_then(|l| l.get(&local.key, &stamp));
                    if let Some(hash) = cached {
                        self.stats.reused += 1;
                        let _ = tx.send(Ok(Entry {
                            key: local.key,
                            size: local.size,
                            mtime_ns: stamp.mtime_ns,
                            mode: Some(local.mode),
                            hash,
                            etag: None,
                        }));
                    } else {
                        self.stats.hashed += 1;
                        let mode = self.mode;
                        rayon::spawn(move || {
                            let _ = tx.send(hash_entry(&local, mode));
                        });
                    }
                    self.pending.push_back((rx, Some(stamp)));
                    continue;
                }
                // A temporary download file renamed away during the walk (another shard's, in
                // the directory a sharded sync shares) is no loss.
                WalkItem::Skipped {
                    path,
                    reason: crate::local::SkipReason::Vanished,
                } if path.file_name().is_some_and(|n| {
                    n.to_string_lossy().contains(crate::local::PARTIAL_MARKER)
                }) =>
                {
                    tracing::debug!(path = %path.display(), "a download finished during the walk");
                    continue;
                }
                WalkItem::Skipped { path, reason } => {
                    tracing::warn!(path = %path.display(), %reason, "not in the manifest");
                    continue;
                }
                WalkItem::Error(e) => {
                    let _ = tx.send(Err(ManifestError::Walk(e)));
                }
            }
            self.pending.push_back((rx, None));
        }
    }
}

impl Iterator for TreeHash {
    type Item = Result<Entry, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fill();
        let Some((rx, stamp)) = self.pending.pop_front() else {
            self.finish_cache();
            return None;
        };
        let answer = rx
            .recv()
            .unwrap_or(Err(ManifestError::Worker("hash thread")));
        if let (Ok(e), Some(stamp), Some(w)) = (&answer, stamp, self.writer.as_mut())
            && let Err(err) = w.push(&e.key, &stamp, &e.hash, SystemTime::now())
        {
            tracing::debug!(%err, "hash cache not written");
            self.writer = None;
        }
        Some(answer)
    }
}

impl TreeHash {
    /// Leaves out the files whose key `keep` refuses (a sync's `--exclude`s), unread.
    #[must_use]
    pub fn only(mut self, keep: impl Fn(&str) -> bool + Send + 'static) -> Self {
        self.keep = Some(Box::new(keep));
        self
    }

    /// Files taken from the cache and files hashed so far.
    #[must_use]
    pub fn cache_stats(&self) -> CacheStats {
        self.stats
    }

    /// At the end of the walk, the new cache replaces the old one (a walk abandoned half-way
    /// leaves the old one).
    fn finish_cache(&mut self) {
        let Some(w) = self.writer.take() else { return };
        match w.finish() {
            Ok(n) => tracing::debug!(entries = n, "hash cache written"),
            Err(err) => tracing::debug!(%err, "hash cache not written"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_large_mapped_and_read_agree_with_blake3() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 16 * 1024 - 1, 16 * 1024, 3 * 1024 * 1024 + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join(format!("f{len}"));
            fs_err::write(&p, &data).unwrap();
            let want = blake3::hash(&data);
            assert_eq!(hash_file(&p).unwrap(), want, "mmap {len}");
            assert_eq!(
                hash_file_with(&p, HashMode::Read).unwrap(),
                want,
                "read {len}"
            );
        }
        let missing = dir.path().join("missing");
        let err = hash_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn tree_hash_yields_every_file_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut want = Vec::new();
        for i in 0..300 {
            let key = format!("d{}/f{i:03}", i % 7);
            let p = dir.path().join(&key);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            let body = format!("content {i}");
            fs_err::write(&p, &body).unwrap();
            want.push((key, blake3::hash(body.as_bytes()).to_hex().to_string()));
        }
        fs_err::write(dir.path().join("a-b"), b"x").unwrap();
        want.push(("a-b".into(), blake3::hash(b"x").to_hex().to_string()));
        want.sort();
        let got: Vec<_> = hash_tree(dir.path(), TreeOptions::default())
            .map(|e| {
                let e = e.unwrap();
                (e.key, e.hash.to_hex().to_string())
            })
            .collect();
        assert_eq!(got, want);
    }
}
