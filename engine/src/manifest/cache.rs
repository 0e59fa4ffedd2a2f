//! The hash cache: the BLAKE3 of every local file hashed by the last run, keyed by the file's
//! key and its (size, mtime, inode, ctime), so that a nightly manifest of a tree that barely
//! changed reads only the files that changed.
//!
//! A cache is a file of its own per directory (under `$HAUL_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/haul`, else `~/.cache/haul`), named by a hash of the directory's canonical
//! path. Like a manifest it is a zstd stream of tab-separated lines in key order with a trailer
//! that checksums the whole, so it is read in one streaming pass merged with the walk (constant
//! memory whatever the tree size) and written anew, beside the old one, as the walk goes:
//!
//! ```text
//! haul-hash-cache<TAB>1
//! f<TAB>KEY<TAB>SIZE<TAB>MTIME_NS<TAB>INODE<TAB>CTIME_NS<TAB>BLAKE3     in key order
//! end<TAB>COUNT<TAB>BLAKE3 of every byte before this line
//! ```
//!
//! A cache is an optimisation, never a source of truth it cannot back: a file whose trailer
//! does not check out is ignored whole (the tree is hashed from scratch, with a warning), a
//! changed ctime (which no user can set back) makes the entry stale, and files changed within
//! [`RACY_WINDOW`] of being hashed are not cached, since a write in the same timestamp tick
//! after the hash would go unseen (git's "racily clean" problem).

use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::format::{escape, unescape};

/// First line's magic.
const MAGIC: &str = "haul-hash-cache";
/// Format version this haul writes and reads.
const VERSION: u32 = 1;
/// Longest line read. Keys are at most 1 KiB in S3; escaped, at most 3 KiB. Chosen: 16 KiB.
const MAX_LINE: u64 = 16 * 1024;
/// Files whose ctime is this close to the moment they were hashed are not cached. Chosen: 2 s,
/// above the timestamp granularity of every Linux filesystem (a jiffy on ext4 and XFS, 2 s on
/// FAT).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i128,
}

impl Stamp {
    /// The stamp of a walked file.
    #[must_use]
    pub fn of(e: &crate::local::LocalEntry) -> Self {
        Self {
            size: e.size,
            mtime_ns: super::hash::mtime_ns(e.mtime),
            ino: e.ino,
            ctime_ns: i128::from(e.ctime_secs) * 1_000_000_000 + i128::from(e.ctime_nanos),
        }
    }

    /// Whether the file changed so recently, against `now`, that a later write could share
    /// its timestamps.
    fn is_racy(&self, now: SystemTime, window: Duration) -> bool {
        let now_ns = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
            Err(_) => 0,
        };
        now_ns - self.ctime_ns < i128::try_from(window.as_nanos()).unwrap_or(i128::MAX)
    }
}

/// Where the cache of one directory lives.
#[derive(Debug, Clone)]
pub struct HashCache {
    path: PathBuf,
    racy_window: Duration,
}

/// One cached line.
struct Cached {
    key: String,
    stamp: Stamp,
    hash: blake3::Hash,
}

impl HashCache {
    /// The cache file at `path`.
    #[must_use]
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            racy_window: RACY_WINDOW,
        }
    }

    /// The same cache with another [`RACY_WINDOW`] (tests use zero: their files are new).
    #[must_use]
    pub fn with_racy_window(mut self, window: Duration) -> Self {
        self.racy_window = window;
        self
    }

    /// The default cache of the directory `root`: `None` without a cache directory (no
    /// `$HAUL_CACHE_DIR`, `$XDG_CACHE_HOME` or `$HOME`) or when `root` cannot be resolved.
    #[must_use]
    pub fn for_root(root: &Path) -> Option<Self> {
        let dir = std::env::var_os("HAUL_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("haul")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/haul")))?;
        let canonical = fs_err::canonicalize(root).ok()?;
        let id = blake3::hash(canonical.as_os_str().as_encoded_bytes());
        let name = format!("{}.hashes", &id.to_hex()[..32]);
        Some(Self::at(dir.join("hashes").join(name)))
    }

    /// A cache of its own for `part` of the same tree (`shard-K-of-N`): the shards of one
    /// sync hash their keys of one directory at once, and one shared file would keep only the
    /// last writer's entries.
    #[must_use]
    pub fn for_part(self, part: &str) -> Self {
        let mut path = self.path.into_os_string();
        path.push(format!(".{part}"));
        Self::at(path).with_racy_window(self.racy_window)
    }

    /// The cache file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cache as of the last run, to look hashes up in key order. A missing cache is
    /// empty; a damaged one is ignored with a warning.
    #[must_use]
    pub fn lookup(&self) -> Lookup {
        match self.open_checked() {
            Ok(Some(lines)) => Lookup {
                lines: Some(lines),
                next: None,
                path: self.path.clone(),
            },
            Ok(None) => Lookup::empty(&self.path),
            Err(why) => {
                tracing::warn!(
                    cache = %self.path.display(),
                    "ignoring the hash cache ({why}): every file is hashed"
                );
                Lookup::empty(&self.path)
            }
        }
    }

    /// Opens the cache after checking its trailer over a first pass; `None` when absent.
    fn open_checked(&self) -> Result<Option<CacheLines>, String> {
        let mut file = match fs_err::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        {
            let mut lines = CacheLines::new(file.file().try_clone().map_err(|e| e.to_string())?)?;
            let mut hasher = blake3::Hasher::new();
            let mut count = 0u64;
            loop {
                let line = lines.next_line()?.ok_or("truncated")?;
                if let Some(trailer) = line.strip_prefix("end\t") {
                    let (n, sum) = trailer.split_once('\t').ok_or("bad trailer")?;
                    if n.parse::<u64>().ok() != Some(count)
                        || sum != hasher.finalize().to_hex().as_str()
                    {
                        return Err("checksum mismatch".into());
                    }
                    if lines.next_line()?.is_some() {
                        return Err("data after the trailer".into());
                    }
                    break;
                }
                if line.starts_with("f\t") {
                    count += 1;
                }
                hasher.update(line.as_bytes());
                hasher.update(b"\n");
            }
        }
        file.rewind().map_err(|e| e.to_string())?;
        let mut lines = CacheLines::new(file.into_parts().0)?;
        // The magic line, checked in the first pass.
        lines.next_line()?;
        Ok(Some(lines))
    }

    /// A writer of the new cache, beside the old one until [`CacheWriter::finish`]. `None`
    /// (with a debug note) when the cache directory cannot be written.
    #[must_use]
    pub fn writer(&self) -> Option<CacheWriter> {
        match CacheWriter::create(&self.path, self.racy_window) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::debug!(cache = %self.path.display(), %e, "hash cache not written");
                None
            }
        }
    }
}

/// Decoded lines of a cache file.
struct CacheLines {
    reader: BufReader<zstd::stream::read::Decoder<'static, BufReader<std::fs::File>>>,
    buf: String,
    first: bool,
}

impl CacheLines {
    fn new(file: std::fs::File) -> Result<Self, String> {
        let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| e.to_string())?;
        Ok(Self {
            reader: BufReader::new(decoder),
            buf: String::new(),
            first: true,
        })
    }

    /// The next line without its `\n`; `None` at the end.
    fn next_line(&mut self) -> Result<Option<&str>, String> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_line(&mut self.buf)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
        let line = self.buf.strip_suffix('\n').ok_or("unterminated line")?;
        if std::mem::take(&mut self.first) && line != format!("{MAGIC}\t{VERSION}") {
            return Err("not a haul hash cache of this version".into());
        }
        Ok(Some(line))
    }
}

fn parse(line: &str) -> Option<Cached> {
    let mut f = line.strip_prefix("f\t")?.split('\t');
    let key = unescape(f.next()?)?;
    let stamp = Stamp {
        size: f.next()?.parse().ok()?,
        mtime_ns: f.next()?.parse().ok()?,
        ino: f.next()?.parse().ok()?,
        ctime_ns: f.next()?.parse().ok()?,
    };
    let hash = blake3::Hash::from_hex(f.next()?).ok()?;
    f.next().is_none().then_some(Cached { key, stamp, hash })
}

/// The last run's hashes, looked up in ascending key order.
pub struct Lookup {
    lines: Option<CacheLines>,
    next: Option<Cached>,
    path: PathBuf,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Lookup {
    fn empty(path: &Path) -> Self {
        Self {
            lines: None,
            next: None,
            path: path.to_owned(),
        }
    }

    /// The cached hash of `key` if its stamp is still `stamp`. Keys must be asked in
    /// ascending order (the walk's); entries skipped over are dropped.
    pub fn get(&mut self, key: &str, stamp: &Stamp) -> Option<blake3::Hash> {
        loop {
            if self.next.is_none() {
                let lines = self.lines.as_mut()?;
                match lines.next_line() {
                    Ok(Some(line)) if line.starts_with("end\t") => {
                        self.lines = None;
                        return None;
                    }
                    Ok(Some(line)) => {
                        let Some(c) = parse(line) else {
                            tracing::warn!(
                                cache = %self.path.display(),
                                "damaged hash cache line: ignoring the rest"
                            );
                            self.lines = None;
                            return None;
                        };
                        self.next = Some(c);
                    }
                    Ok(None) | Err(_) => {
                        self.lines = None;
                        return None;
                    }
                }
            }
            let c = self.next.as_ref()?;
            match c.key.as_str().cmp(key) {
                std::cmp::Ordering::Less => self.next = None,
                std::cmp::Ordering::Greater => return None,
                std::cmp::Ordering::Equal => {
                    let hit = (c.stamp == *stamp).then_some(c.hash);
                    self.next = None;
                    return hit;
                }
            }
        }
    }
}

/// Writes a new cache to a temporary file beside the old one; [`CacheWriter::finish`] renames
/// it into place, dropping it unfinished removes it.
pub struct CacheWriter {
    encoder: Option<zstd::stream::write::Encoder<'static, std::io::BufWriter<fs_err::File>>>,
    hasher: blake3::Hasher,
    count: u64,
    line: String,
    temp: PathBuf,
    dest: PathBuf,
    last_key: Option<String>,
    racy_window: Duration,
    committed: bool,
}

impl std::fmt::Debug for CacheWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheWriter")
            .field("dest", &self.dest)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl CacheWriter {
    fn create(dest: &Path, racy_window: Duration) -> std::io::Result<Self> {
        if let Some(dir) = dest.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let mut name = dest.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{:016x}.partial", rand::random::<u64>()));
        let temp = dest.with_file_name(name);
        let file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let encoder = zstd::stream::write::Encoder::new(std::io::BufWriter::new(file), 3)?;
        let mut w = Self {
            encoder: Some(encoder),
            hasher: blake3::Hasher::new(),
            count: 0,
            line: String::new(),
            temp,
            dest: dest.to_owned(),
            last_key: None,
            racy_window,
            committed: false,
        };
        w.line = format!("{MAGIC}\t{VERSION}\n");
        w.emit()?;
        Ok(w)
    }

    fn emit(&mut self) -> std::io::Result<()> {
        self.hasher.update(self.line.as_bytes());
        let enc = self
            .encoder
            .as_mut()
            .ok_or_else(|| std::io::Error::other("cache writer finished"))?;
        enc.write_all(self.line.as_bytes())
    }

    /// Records `key`'s hash, unless the file changed too recently against `now` to be
    /// trusted next time. Keys must come in ascending order; others are left out.
    ///
    /// # Errors
    /// IO errors writing the temporary file.
    pub fn push(
        &mut self,
        key: &str,
        stamp: &Stamp,
        hash: &blake3::Hash,
        now: SystemTime,
    ) -> std::io::Result<()> {
        use std::fmt::Write as _;
        if stamp.is_racy(now, self.racy_window)
            || self.last_key.as_deref().is_some_and(|k| k >= key)
        {
            return Ok(());
        }
        self.line.clear();
        self.line.push_str("f\t");
        escape(key, &mut self.line);
        let _ = writeln!(
            self.line,
            "\t{}\t{}\t{}\t{}\t{}",
            stamp.size,
            stamp.mtime_ns,
            stamp.ino,
            stamp.ctime_ns,
            hash.to_hex()
        );
        self.emit()?;
        self.count += 1;
        self.last_key = Some(key.to_owned());
        Ok(())
    }

    /// Writes the trailer and renames the new cache over the old one.
    ///
    /// # Errors
    /// IO errors; the temporary file is removed.
    pub fn finish(mut self) -> std::io::Result<u64> {
        let trailer = format!("end\t{}\t{}\n", self.count, self.hasher.finalize().to_hex());
        let mut enc = self
            .encoder
            .take()
            .ok_or_else(|| std::io::Error::other("cache writer finished"))?;
        enc.write_all(trailer.as_bytes())?;
        let file = enc
            .finish()?
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        drop(file);
        fs_err::rename(&self.temp, &self.dest)?;
        self.committed = true;
        Ok(self.count)
    }
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs_err::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64, ctime_ns: i128) -> Stamp {
        Stamp {
            size,
            mtime_ns: 7,
            ino: 42,
            ctime_ns,
        }
    }

    #[test]
    fn round_trip_lookup_in_order_and_stale_stamps_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::at(dir.path().join("c/x.hashes"));
        let now = SystemTime::now();
        let h = |s: &str| blake3::hash(s.as_bytes());
        let mut w = cache.writer().unwrap();
        w.push("a", &stamp(1, 0), &h("a"), now).unwrap();
        w.push("b\tc", &stamp(2, 0), &h("b"), now).unwrap();
        // Changed a moment ago: not cached.
        let fresh = i128::try_from(now.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap();
        w.push("c", &stamp(3, fresh), &h("c"), now).unwrap();
        w.push("d", &stamp(4, 0), &h("d"), now).unwrap();
        assert_eq!(w.finish().unwrap(), 3);

        let mut l = cache.lookup();
        assert_eq!(l.get("a", &stamp(1, 0)), Some(h("a")));
        assert_eq!(l.get("aa", &stamp(1, 0)), None);
        assert_eq!(l.get("b\tc", &stamp(2, 1)), None, "ctime moved");
        assert_eq!(
            l.get("c", &stamp(3, fresh)),
            None,
            "racy entry was left out"
        );
        assert_eq!(l.get("d", &stamp(4, 0)), Some(h("d")));
        assert_eq!(l.get("e", &stamp(4, 0)), None);
    }

    #[test]
    fn damaged_truncated_or_missing_caches_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::at(dir.path().join("x.hashes"));
        assert_eq!(cache.lookup().get("a", &stamp(1, 0)), None);
        let mut w = cache.writer().unwrap();
        for i in 0..100 {
            let k = format!("k{i:03}");
            w.push(
                &k,
                &stamp(i, 0),
                &blake3::hash(k.as_bytes()),
                SystemTime::now(),
            )
            .unwrap();
        }
        w.finish().unwrap();
        assert!(cache.lookup().get("k050", &stamp(50, 0)).is_some());
        let good = fs_err::read(cache.path()).unwrap();
        // Every truncation and a flipped byte anywhere: never a hit from a broken file.
        for cut in (0..good.len()).step_by(7) {
            fs_err::write(cache.path(), &good[..cut]).unwrap();
            assert_eq!(
                cache.lookup().get("k050", &stamp(50, 0)),
                None,
                "cut at {cut}"
            );
        }
        for at in (0..good.len()).step_by(11) {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            fs_err::write(cache.path(), &bad).unwrap();
            let mut l = cache.lookup();
            for i in 0..100 {
                let k = format!("k{i:03}");
                if let Some(hit) = l.get(&k, &stamp(i, 0)) {
                    assert_eq!(
                        hit,
                        blake3::hash(k.as_bytes()),
                        "flip at {at} gave a wrong hash"
                    );
                }
            }
        }
    }

    #[test]
    fn unfinished_writer_leaves_the_old_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::at(dir.path().join("x.hashes"));
        let mut w = cache.writer().unwrap();
        w.push("a", &stamp(1, 0), &blake3::hash(b"a"), SystemTime::now())
            .unwrap();
        w.finish().unwrap();
        let mut w = cache.writer().unwrap();
        w.push("b", &stamp(1, 0), &blake3::hash(b"b"), SystemTime::now())
            .unwrap();
        drop(w);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
        assert!(cache.lookup().get("a", &stamp(1, 0)).is_some());
    }
}
