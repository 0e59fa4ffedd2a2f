//! The jobs behind `haul manifest`: build a manifest of a directory or bucket, verify a
//! directory or bucket against one, diff two. Blocking functions run on the caller's thread
//! (call them from a blocking thread); the remote ones are async and keep hashing,
//! compression and file IO on blocking threads.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::cache::HashCache;
use super::diff::{Change, diff};
use super::format::{Header, Reader, Writer};
use super::hash::{TreeOptions, hash_tree, hash_tree_cached};
use super::remote::{RemoteSource, stream};
use super::{Entry, ManifestError};

/// Entries between the remote hasher and the blocking writer or differ: one listing page's
/// worth (chosen, as sync's listers).
pub const ENTRY_CHANNEL: usize = 1000;

/// What a build wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildSummary {
    /// Entries written.
    pub entries: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Local builds: files whose hash came from the hash cache, and files read.
    pub cache: super::hash::CacheStats,
}

/// What a diff or verify found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffSummary {
    /// Entries only in the second (for verify: extra files or objects).
    pub added: u64,
    /// Entries only in the first (for verify: missing).
    pub removed: u64,
    /// Entries in both with another size or hash.
    pub changed: u64,
}

impl DiffSummary {
    /// True when nothing differs.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.changed == 0
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".haul-partial");
    out.with_file_name(name)
}

/// Writes `entries` to `out` through a temporary file beside it, renamed into place only when
/// complete; on error the temporary file is removed.
pub(crate) fn write_manifest(
    out: &Path,
    header: &Header,
    entries: impl Iterator<Item = Result<Entry, ManifestError>>,
) -> Result<BuildSummary, ManifestError> {
    let tmp = partial_path(out);
    let result = (|| {
        let mut w = Writer::create(&tmp, header)?;
        let mut summary = BuildSummary::default();
        for e in entries {
            let e = e?;
            summary.bytes += e.size;
            w.push(&e)?;
        }
        summary.entries = w.count();
        let file = w.finish()?;
        let file = file.into_inner().map_err(|e| ManifestError::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| ManifestError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(summary)
    })();
    match result {
        Ok(summary) => {
            fs_err::rename(&tmp, out).map_err(|source| ManifestError::Io {
                path: out.to_owned(),
                source,
            })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = fs_err::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Hashes the tree under `root` into a manifest at `out`, taking unchanged files' hashes from
/// `cache` when given (and writing it anew). Blocking. Fails on the first file that cannot be
/// read or changed while hashed: a manifest that silently missed a file would not prove what
/// a backup holds.
///
/// # Errors
/// [`ManifestError`] naming the file.
pub fn build_local(
    root: &Path,
    out: &Path,
    opts: TreeOptions,
    cache: Option<&HashCache>,
) -> Result<BuildSummary, ManifestError> {
    let header = Header::new(root.display().to_string());
    let mut tree = hash_tree_cached(root, opts, cache);
    let mut summary = write_manifest(out, &header, tree.by_ref())?;
    summary.cache = tree.cache_stats();
    Ok(summary)
}

/// Hashes every object of `src` into a manifest at `out`.
///
/// # Errors
/// [`ManifestError::Remote`] for gateway errors, others naming the manifest file.
pub async fn build_remote(src: RemoteSource, out: PathBuf) -> Result<BuildSummary, ManifestError> {
    let header = Header::new(src.url());
    let (tx, mut rx) = mpsc::channel(ENTRY_CHANNEL);
    let producer = tokio::spawn(stream(src, tx));
    let writer = tokio::task::spawn_blocking(move || {
        write_manifest(&out, &header, std::iter::from_fn(|| rx.blocking_recv()))
    });
    let result = writer
        .await
        .map_err(|_| ManifestError::Worker("manifest writer"))?;
    producer.abort();
    result
}

fn run_diff(
    a: impl Iterator<Item = Result<Entry, ManifestError>>,
    b: impl Iterator<Item = Result<Entry, ManifestError>>,
    on_change: &mut dyn FnMut(&Change),
) -> Result<DiffSummary, ManifestError> {
    let mut summary = DiffSummary::default();
    for change in diff(a, b) {
        let change = change?;
        match &change {
            Change::Added(_) => summary.added += 1,
            Change::Removed(_) => summary.removed += 1,
            Change::Changed { .. } => summary.changed += 1,
        }
        on_change(&change);
    }
    Ok(summary)
}

/// The changes from manifest `a` to manifest `b`, each given to `on_change` in key order.
/// Blocking, constant memory. Both files are read to their trailers, so damage anywhere is an
/// error even after changes were reported.
///
/// # Errors
/// [`ManifestError`] naming the damaged, truncated or foreign file.
pub fn diff_files(
    a: &Path,
    b: &Path,
    on_change: &mut dyn FnMut(&Change),
) -> Result<DiffSummary, ManifestError> {
    run_diff(Reader::open(a)?, Reader::open(b)?, on_change)
}

/// Rehashes the tree under `root` and compares it with `manifest`: [`Change::Removed`] is a
/// missing file, [`Change::Added`] an extra one, [`Change::Changed`] another size or hash.
/// Blocking.
///
/// # Errors
/// [`ManifestError`]: a bad manifest, or a file that cannot be read.
pub fn verify_local(
    manifest: &Path,
    root: &Path,
    opts: TreeOptions,
    on_change: &mut dyn FnMut(&Change),
) -> Result<DiffSummary, ManifestError> {
    let expected = Reader::open(manifest)?;
    run_diff(expected, hash_tree(root, opts), on_change)
}

/// Rehashes (reads) every object of `src` and compares it with `manifest`, as
/// [`verify_local`]; `on_change` runs on a blocking thread.
///
/// # Errors
/// [`ManifestError`]: a bad manifest, or a gateway error.
pub async fn verify_remote(
    manifest: PathBuf,
    src: RemoteSource,
    mut on_change: impl FnMut(&Change) + Send + 'static,
) -> Result<DiffSummary, ManifestError> {
    // Open (and check the header of) the manifest before reading any object.
    let expected = tokio::task::spawn_blocking(move || Reader::open(&manifest))
        .await
        .map_err(|_| ManifestError::Worker("manifest reader"))??;
    let (tx, mut rx) = mpsc::channel(ENTRY_CHANNEL);
    let producer = tokio::spawn(stream(src, tx));
    let differ = tokio::task::spawn_blocking(move || {
        run_diff(
            expected,
            std::iter::from_fn(|| rx.blocking_recv()),
            &mut on_change,
        )
    });
    let result = differ
        .await
        .map_err(|_| ManifestError::Worker("manifest differ"))?;
    producer.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::hash::CacheStats;

    #[test]
    fn build_then_verify_then_flip_one_byte() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        for (k, len) in [("a", 10usize), ("b/c", 100_000), ("b/d", 0)] {
            let p = root.join(k);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(&p, vec![7u8; len]).unwrap();
        }
        let m = dir.path().join("m.haul");
        let s = build_local(&root, &m, TreeOptions::default(), None).unwrap();
        assert_eq!(
            s,
            BuildSummary {
                entries: 3,
                bytes: 100_010,
                cache: CacheStats {
                    reused: 0,
                    hashed: 3
                },
            }
        );
        assert!(!partial_path(&m).exists());
        let mut changes = Vec::new();
        let v = verify_local(&m, &root, TreeOptions::default(), &mut |c| {
            changes.push(c.clone());
        })
        .unwrap();
        assert!(v.is_clean(), "{changes:?}");

        let mut data = fs_err::read(root.join("b/c")).unwrap();
        data[54_321] ^= 1;
        fs_err::write(root.join("b/c"), &data).unwrap();
        fs_err::remove_file(root.join("a")).unwrap();
        fs_err::write(root.join("z"), b"new").unwrap();
        let mut keys = Vec::new();
        let v = verify_local(&m, &root, TreeOptions::default(), &mut |c| {
            keys.push(c.key().to_owned());
        })
        .unwrap();
        assert_eq!(
            v,
            DiffSummary {
                added: 1,
                removed: 1,
                changed: 1
            }
        );
        assert_eq!(keys, ["a", "b/c", "z"]);

        let m2 = dir.path().join("m2.haul");
        build_local(&root, &m2, TreeOptions::default(), None).unwrap();
        let d = diff_files(&m, &m2, &mut |_| {}).unwrap();
        assert_eq!(d, v);
    }

    #[test]
    fn rebuild_reads_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        for i in 0..200 {
            let p = root.join(format!("d{}/f{i:03}", i % 9));
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(&p, format!("content {i}").repeat(i + 1)).unwrap();
        }
        let cache = HashCache::at(dir.path().join("cache/t.hashes"))
            .with_racy_window(std::time::Duration::ZERO);
        let opts = TreeOptions::default();
        let (m1, m2, m3) = (
            dir.path().join("1.haul"),
            dir.path().join("2.haul"),
            dir.path().join("3.haul"),
        );
        let s1 = build_local(&root, &m1, opts, Some(&cache)).unwrap();
        assert_eq!(
            s1.cache,
            CacheStats {
                reused: 0,
                hashed: 200
            }
        );
        let s2 = build_local(&root, &m2, opts, Some(&cache)).unwrap();
        assert_eq!(
            s2.cache,
            CacheStats {
                reused: 200,
                hashed: 0
            }
        );
        assert!(diff_files(&m1, &m2, &mut |_| {}).unwrap().is_clean());

        // One file rewritten (same size: only mtime and ctime tell), one added, one removed.
        let changed = root.join("d1/f010");
        let len = fs_err::metadata(&changed).unwrap().len();
        fs_err::write(&changed, vec![b'x'; usize::try_from(len).unwrap()]).unwrap();
        // Timestamps may not move within one clock tick: make the mtime tell for certain.
        fs_err::File::options()
            .write(true)
            .open(&changed)
            .unwrap()
            .file()
            .set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1))
            .unwrap();
        fs_err::write(root.join("d0/new"), b"new").unwrap();
        fs_err::remove_file(root.join("d2/f002")).unwrap();
        let s3 = build_local(&root, &m3, opts, Some(&cache)).unwrap();
        assert_eq!(
            s3.cache,
            CacheStats {
                reused: 198,
                hashed: 2
            }
        );
        let mut keys = Vec::new();
        let d = diff_files(&m2, &m3, &mut |c| keys.push(c.key().to_owned())).unwrap();
        assert_eq!(
            d,
            DiffSummary {
                added: 1,
                removed: 1,
                changed: 1
            }
        );
        assert_eq!(keys, ["d0/new", "d1/f010", "d2/f002"]);
        // The cached manifest equals one built from scratch.
        let fresh = dir.path().join("fresh.haul");
        build_local(&root, &fresh, opts, None).unwrap();
        assert!(diff_files(&m3, &fresh, &mut |_| {}).unwrap().is_clean());
    }
}
