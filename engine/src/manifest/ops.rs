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

/// What [`merge_files`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// Entries in the merged manifest.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The parts' shard count N, when they were the shards of one sync.
    pub shards: Option<u32>,
    /// The run they belong to, when they carry one.
    pub run: Option<String>,
    /// The parts merged (with `newest`, those chosen).
    pub parts: Vec<PathBuf>,
}

/// `K/N` of a shard header.
fn parse_shard(text: &str) -> Option<(u32, u32)> {
    let (k, n) = text.split_once('/')?;
    let (k, n): (u32, u32) = (k.parse().ok()?, n.parse().ok()?);
    // At most `sync::shard::MAX_SHARDS`, as `--shard` takes.
    (k < n && n <= 65_536).then_some((k, n))
}

/// Merges manifests of disjoint parts of one tree into the manifest of the whole, at `out`
/// (written under a temporary name, renamed when complete): a k-way merge by key, in
/// constant memory per part. Blocking.
///
/// The parts must be all shards of one sync (`haul sync --shard K/N --manifest`: every K of
/// 0..N exactly once, one N) or all unsharded; they must describe the same source, unless
/// `source` names the merged manifest's (the N machines' directories may differ), and be of
/// one run when they carry a run id. With `newest`, parts of several runs may be given (a
/// glob over what each shard kept): each shard's newest (by `created`) is taken. A key in two
/// parts is an error naming both.
///
/// # Errors
/// [`ManifestError::Merge`] for the cases above; a part unreadable, damaged or truncated
/// (every part is read to its trailer); `out` not writable.
pub fn merge_files(
    parts: &[PathBuf],
    out: &Path,
    source: Option<String>,
    newest: bool,
) -> Result<MergeSummary, ManifestError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    if parts.is_empty() {
        return Err(ManifestError::Merge("no manifests to merge".to_owned()));
    }
    let mut readers = Vec::with_capacity(parts.len());
    for p in parts {
        readers.push(Reader::open(p)?);
    }
    let (parts, mut readers) = if newest {
        newest_of_each_shard(parts, readers)?
    } else {
        (parts.to_vec(), readers)
    };
    let parts = parts.as_slice();
    let run = readers[0].header().run.clone();
    if let Some((r, p)) = readers
        .iter()
        .zip(parts)
        .find(|(r, _)| r.header().run != run)
    {
        let name = |run: &Option<String>| {
            run.as_deref()
                .map_or("none".to_owned(), |r| format!("{r:?}"))
        };
        return Err(ManifestError::Merge(format!(
            "parts of different runs: {} (run {}) and {} (run {})",
            parts[0].display(),
            name(&run),
            p.display(),
            name(&r.header().run)
        )));
    }
    let shards: Vec<Option<(u32, u32)>> = readers
        .iter()
        .zip(parts)
        .map(|(r, p)| match r.header().shard.as_deref() {
            None => Ok(None),
            Some(t) => parse_shard(t).map(Some).ok_or_else(|| {
                ManifestError::Merge(format!("{}: shard {t:?} is not K/N", p.display()))
            }),
        })
        .collect::<Result<_, _>>()?;
    let count = match shards.iter().flatten().map(|&(_, n)| n).next() {
        None => None,
        Some(n) => {
            let mut seen = vec![None::<&PathBuf>; usize::try_from(n).unwrap_or(0)];
            for (shard, p) in shards.iter().zip(parts) {
                let Some((k, m)) = *shard else {
                    return Err(ManifestError::Merge(format!(
                        "{} is not a shard, while other parts are shards of {n}",
                        p.display()
                    )));
                };
                if m != n {
                    return Err(ManifestError::Merge(format!(
                        "{} is shard {k}/{m}, while other parts are shards of {n}",
                        p.display()
                    )));
                }
                let slot = &mut seen[usize::try_from(k).unwrap_or(0)];
                if let Some(first) = slot {
                    return Err(ManifestError::Merge(format!(
                        "shard {k}/{n} given twice: {} and {}",
                        first.display(),
                        p.display()
                    )));
                }
                *slot = Some(p);
            }
            let missing: Vec<String> = seen
                .iter()
                .enumerate()
                .filter(|(_, p)| p.is_none())
                .map(|(k, _)| format!("{k}/{n}"))
                .collect();
            if !missing.is_empty() {
                return Err(ManifestError::Merge(format!(
                    "shards missing: {} (every K of 0..{n} is needed)",
                    missing.join(", ")
                )));
            }
            Some(n)
        }
    };
    let source = if let Some(s) = source {
        s
    } else {
        let first = readers[0].header().source.clone();
        if let Some((r, p)) = readers
            .iter()
            .zip(parts)
            .find(|(r, _)| r.header().source != first)
        {
            return Err(ManifestError::Merge(format!(
                "{} describes {:?}, {} describes {first:?}: give --source for the merged manifest",
                p.display(),
                r.header().source,
                parts[0].display()
            )));
        }
        first
    };
    // The next entry of each part, and a heap of (key, part) over them.
    let mut heads: Vec<Option<Entry>> = Vec::with_capacity(readers.len());
    let mut order = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        let head = r.next().transpose()?;
        if let Some(e) = &head {
            order.push(Reverse((e.key.clone(), i)));
        }
        heads.push(head);
    }
    let mut failed: Option<ManifestError> = None;
    let entries = std::iter::from_fn(|| {
        let Reverse((key, i)) = order.pop()?;
        if let Some(Reverse((next, j))) = order.peek()
            && *next == key
        {
            return Some(Err(ManifestError::Merge(format!(
                "key {key:?} is in both {} and {}",
                parts[i.min(*j)].display(),
                parts[i.max(*j)].display()
            ))));
        }
        let entry = heads[i].take()?;
        match readers[i].next().transpose() {
            Ok(Some(e)) => {
                order.push(Reverse((e.key.clone(), i)));
                heads[i] = Some(e);
            }
            Ok(None) => {}
            Err(e) => failed = Some(e),
        }
        match failed.take() {
            Some(e) => Some(Err(e)),
            None => Some(Ok(entry)),
        }
    });
    let header = Header {
        run: run.clone(),
        ..Header::new(source)
    };
    let summary = write_manifest(out, &header, entries)?;
    Ok(MergeSummary {
        entries: summary.entries,
        bytes: summary.bytes,
        shards: count,
        run,
        parts: parts.to_vec(),
    })
}

/// Of parts of several runs of a sharded sync, each shard's newest (by `created`, RFC 3339
/// UTC: ordered as text), in shard order.
fn newest_of_each_shard(
    parts: &[PathBuf],
    readers: Vec<Reader<fs_err::File>>,
) -> Result<(Vec<PathBuf>, Vec<Reader<fs_err::File>>), ManifestError> {
    let mut chosen: std::collections::BTreeMap<u32, (PathBuf, Reader<fs_err::File>)> =
        std::collections::BTreeMap::new();
    for (p, r) in parts.iter().zip(readers) {
        let Some((k, _)) = r.header().shard.as_deref().and_then(parse_shard) else {
            return Err(ManifestError::Merge(format!(
                "{}: not a shard's manifest (--newest picks among shards)",
                p.display()
            )));
        };
        let newer = chosen
            .get(&k)
            .is_none_or(|(_, old)| r.header().created > old.header().created);
        if newer {
            chosen.insert(k, (p.clone(), r));
        }
    }
    Ok(chosen.into_values().unzip())
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

    /// Writes a manifest of `keys` (content = the key) with `shard` and `source` to `path`.
    fn part(path: &Path, source: &str, shard: Option<&str>, keys: &[&str]) {
        let header = Header {
            shard: shard.map(str::to_owned),
            ..Header::new(source)
        };
        let entries = keys.iter().map(|k| {
            Ok(Entry {
                key: (*k).to_owned(),
                size: k.len() as u64,
                mtime_ns: 1,
                mode: None,
                hash: blake3::hash(k.as_bytes()),
                etag: None,
            })
        });
        write_manifest(path, &header, entries).unwrap();
    }

    #[test]
    fn shards_merge_into_the_whole_and_bad_sets_of_parts_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        part(&p("0"), "/data", Some("0/3"), &["a", "d/x", "z"]);
        part(&p("1"), "/data", Some("1/3"), &["b", "d/w"]);
        part(&p("2"), "/data", Some("2/3"), &[]);
        part(&p("all"), "/data", None, &["a", "b", "d/w", "d/x", "z"]);
        let out = p("merged");
        let s = merge_files(&[p("2"), p("0"), p("1")], &out, None, false).unwrap();
        assert_eq!((s.entries, s.shards), (5, Some(3)));
        let read = |m: &Path| {
            let r = Reader::open(m).unwrap();
            let h = r.header().clone();
            (h, r.map(Result::unwrap).collect::<Vec<_>>())
        };
        let (h, merged) = read(&out);
        assert_eq!((h.source.as_str(), h.shard), ("/data", None));
        assert_eq!(merged, read(&p("all")).1);
        assert_eq!(
            diff_files(&out, &p("all"), &mut |_| {}).unwrap(),
            DiffSummary::default()
        );

        let err = |parts: &[&str], source: Option<&str>| {
            let parts: Vec<PathBuf> = parts.iter().map(|n| p(n)).collect();
            let e = merge_files(&parts, &p("bad"), source.map(str::to_owned), false).unwrap_err();
            assert!(!p("bad").exists(), "a failed merge left its output");
            e.to_string()
        };
        assert!(err(&["0", "1"], None).contains("shards missing: 2/3"));
        assert!(err(&["0", "1", "2", "1"], None).contains("shard 1/3 given twice"));
        assert!(err(&["0", "1", "all"], None).contains("is not a shard"));
        part(&p("0of2"), "/data", Some("0/2"), &["q"]);
        assert!(err(&["0", "1", "2", "0of2"], None).contains("shard 0/2, while"));
        part(&p("dup"), "/data", None, &["b"]);
        let e = err(&["all", "dup"], None);
        assert!(e.contains("key \"b\" is in both"), "{e}");
        part(&p("other"), "/srv", None, &["c"]);
        assert!(err(&["all", "other"], None).contains("give --source"));
        let s = merge_files(&[p("all"), p("other")], &out, Some("both".into()), false).unwrap();
        assert_eq!(s.entries, 6);
        assert!(err(&[], None).contains("no manifests"));
    }

    #[test]
    fn newest_takes_each_shards_latest_part_and_runs_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let at = |path: &Path, shard: &str, run: &str, created: &str, keys: &[&str]| {
            let header = Header {
                shard: Some(shard.to_owned()),
                run: Some(run.to_owned()),
                created: created.to_owned(),
                ..Header::new("/data")
            };
            let entries = keys.iter().map(|k| {
                Ok(Entry {
                    key: (*k).to_owned(),
                    size: 1,
                    mtime_ns: 1,
                    mode: None,
                    hash: blake3::hash(k.as_bytes()),
                    etag: None,
                })
            });
            write_manifest(path, &header, entries).unwrap();
        };
        let (mon, tue) = ("2026-12-01T03:00:00Z", "2026-12-02T03:00:00Z");
        at(&p("a0"), "0/2", "mon", mon, &["a"]);
        at(&p("a1"), "1/2", "mon", mon, &["b"]);
        at(&p("b0"), "0/2", "tue", tue, &["a", "c"]);
        at(&p("b1"), "1/2", "tue", tue, &["b"]);
        let all = [p("a0"), p("b1"), p("b0"), p("a1")];
        let out = p("merged");
        let s = merge_files(&all, &out, None, true).unwrap();
        assert_eq!((s.entries, s.run.as_deref()), (3, Some("tue")));
        assert_eq!(s.parts, [p("b0"), p("b1")]);
        assert_eq!(
            Reader::open(&out).unwrap().header().run.as_deref(),
            Some("tue")
        );
        // Tuesday's shard 1 failed: its newest part is Monday's, of another run.
        fs_err::remove_file(p("b1")).unwrap();
        let e = merge_files(&[p("a0"), p("a1"), p("b0")], &out, None, true).unwrap_err();
        assert!(e.to_string().contains("parts of different runs"), "{e}");
        // Without --newest, two runs' parts are a shard given twice.
        let e = merge_files(&[p("a0"), p("b0"), p("a1")], &out, None, false).unwrap_err();
        assert!(e.to_string().contains("parts of different runs"), "{e}");
        part(&p("plain"), "/data", None, &["z"]);
        let e = merge_files(&[p("plain")], &out, None, true).unwrap_err();
        assert!(e.to_string().contains("--newest picks among shards"), "{e}");
    }
}
