//! Directory walks that yield files in S3 key order, as a stream, with directories read ahead
//! by a pool of threads.
//!
//! # Order
//!
//! S3 lists keys in byte order of the whole key, so `a-b` (0x2d) comes before `a/b` (0x2f) and
//! `a/b` before `a0` (0x30): sorting each directory by its plain names does not give that
//! order. [`walk`] sorts each directory by the name *as it appears in a key*: a directory's
//! sort key is `name/`, a file's is `name`, compared as bytes. Visiting depth-first in that
//! order yields every key in byte order. Why: all keys under a child start with that child's
//! sort key `s`. Take two siblings with `s1 < s2`. If `s1` is not a prefix of `s2`, they differ
//! at some byte inside both, so every key under the first is smaller. If `s1` is a proper
//! prefix of `s2`, `s1` cannot end in `/` (names hold no `/`, so `s2` would be `s1` itself),
//! so the first child is a file whose only key, `s1`, is a prefix of — hence smaller than —
//! every key under the second. The property test at the bottom checks this on random trees.
//!
//! # Threads and memory
//!
//! [`walk`] returns a blocking [`Walk`] iterator. Reading directories (readdir and one `lstat`
//! per entry) is done by worker threads ahead of the consumer, in walk order, within a bound of
//! [`PREFETCH_DIRS`] directories and [`PREFETCH_ENTRIES`] entries; `prefetch` explains the
//! scheduling, the memory bound and why it cannot deadlock. [`walk_sorted`] collects a walk
//! for callers that want a `Vec`.
//!
//! # What is skipped
//!
//! Only regular files become [`LocalEntry`]s. Symlinks (unless followed), sockets, fifos,
//! devices, names that are not UTF-8 (an S3 key is UTF-8), directory loops and files that
//! vanish between readdir and `lstat` come out as [`WalkItem::Skipped`] with a
//! [`SkipReason`]; the caller decides whether to warn. A directory that cannot be read is a
//! [`WalkItem::Error`] at the place its keys would have been, and the walk goes on.
//!
//! Every path the walk reports is the root joined with the key's components (symlinks are
//! never replaced by their targets), so `path.strip_prefix(root)` recovers the key.

mod listing;
mod prefetch;

use std::fmt;
use std::io;
use std::iter::FusedIterator;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use prefetch::{Child, Limits, Pool};
pub use prefetch::{PREFETCH_DIRS, PREFETCH_ENTRIES};

/// A regular file found by a walk (or a file a followed symlink points to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// Path relative to the walk's root, `/`-separated: the key suffix it maps to.
    pub key: String,
    /// Full path: the root joined with the key's components.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
    /// `st_mode`: the file type bits and the permission bits.
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Device holding the file.
    pub dev: u64,
    /// Inode number on that device.
    pub ino: u64,
    /// Status change time, seconds since the Unix epoch (may be negative).
    pub ctime_secs: i64,
    /// Nanoseconds to add to `ctime_secs`, below 1,000,000,000.
    pub ctime_nanos: u32,
}

impl LocalEntry {
    /// The entry for a file's metadata (`lstat`, or `stat` through a followed symlink).
    fn from_metadata(key: String, path: PathBuf, md: &std::fs::Metadata) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        Ok(LocalEntry {
            key,
            path,
            size: md.len(),
            mtime: md.modified()?,
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            dev: md.dev(),
            ino: md.ino(),
            ctime_secs: md.ctime(),
            ctime_nanos: u32::try_from(md.ctime_nsec()).unwrap_or(0),
        })
    }
}

/// How a walk runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkOptions {
    /// Follow symlinks to files and directories (with loop detection). When false, each
    /// symlink is reported as [`SkipReason::Symlink`]. The root is always followed.
    pub follow_symlinks: bool,
    /// Threads reading directories; 0 means [`std::thread::available_parallelism`].
    pub threads: usize,
}

/// One thing a walk found, in S3 key order.
#[derive(Debug)]
pub enum WalkItem {
    /// A regular file.
    File(LocalEntry),
    /// Something that is not uploaded, and why.
    Skipped {
        /// Its path.
        path: PathBuf,
        /// Why it was skipped.
        reason: SkipReason,
    },
    /// A directory (or an entry's metadata) that could not be read. It stands where the
    /// directory's keys would have been; the walk goes on with the rest.
    Error(WalkError),
}

/// Why a walk skipped a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A symlink, and the walk does not follow symlinks.
    Symlink,
    /// A symlink whose target does not exist.
    DanglingSymlink,
    /// A directory that is already on the path from the root (a symlink or bind mount
    /// pointing at an ancestor), or a cycle of symlinks.
    Loop,
    /// A socket, fifo or device.
    Special,
    /// A name that is not UTF-8, so it cannot be part of an S3 key.
    NotUtf8,
    /// A file or directory that disappeared between its parent's readdir and its own
    /// `lstat` or readdir.
    Vanished,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Symlink => "a symlink (not followed)",
            SkipReason::DanglingSymlink => "a symlink to nothing",
            SkipReason::Loop => "a directory loop",
            SkipReason::Special => "a special file (socket, fifo or device)",
            SkipReason::NotUtf8 => "a name that is not UTF-8",
            SkipReason::Vanished => "removed during the walk",
        })
    }
}

/// A walk failed to read something.
///
/// One variant, an [`io::Error`] (kind preserved), because callers match it as
/// `WalkError::Io(e)` to wrap it in `engine::Error::Local`. Every error the walk itself makes
/// names the path and the operation in its message, and [`WalkError::path`] returns the path.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A filesystem call failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl WalkError {
    /// Wraps `source` with the operation and the path it failed on.
    fn at(op: Op, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let kind = source.kind();
        WalkError::Io(io::Error::new(
            kind,
            Failure {
                op,
                path: path.into(),
                source,
            },
        ))
    }

    /// The file or directory the error is about; `None` only for errors converted from a
    /// bare [`io::Error`] by a caller.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        let WalkError::Io(e) = self;
        e.get_ref()?
            .downcast_ref::<Failure>()
            .map(|f| f.path.as_path())
    }

    /// The kind of the underlying IO error (`PermissionDenied`, `NotFound`, …).
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        let WalkError::Io(e) = self;
        e.kind()
    }
}

/// What the walk was doing when a call failed.
#[derive(Debug, Clone, Copy)]
enum Op {
    ReadDir,
    Metadata,
    ResolveSymlink,
    StartThreads,
    /// The worker reading the directory ended without an answer (it panicked).
    WorkerLost,
}

/// The payload of every [`WalkError`] the walk makes: the operation, the path and the cause.
#[derive(Debug)]
struct Failure {
    op: Op,
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.op {
            Op::ReadDir => "cannot read directory",
            Op::Metadata => "cannot read the metadata of",
            Op::ResolveSymlink => "cannot resolve symlink",
            Op::StartThreads => "cannot start threads to walk",
            Op::WorkerLost => "walk thread stopped while reading",
        };
        // The cause inline, as `fs_err` and `engine::Error` do: the CLI prints `Display` only.
        write!(f, "{what} `{}`: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A walk in progress: a blocking iterator of [`WalkItem`]s in S3 key order. Consume it on a
/// blocking thread. Dropping it stops the worker threads (each finishes the directory it is
/// reading, checking between entries) and waits for them.
pub struct Walk {
    /// Unvisited children of each directory on the path from the root, innermost last.
    stack: Vec<std::vec::IntoIter<Child>>,
    pool: Pool,
}

impl fmt::Debug for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Walk")
            .field("depth", &self.stack.len())
            .finish_non_exhaustive()
    }
}

/// Walks `root` (always followed if it is a symlink) and streams its entries in S3 key order,
/// reading directories ahead on `opts.threads` threads. Errors, including a root that cannot
/// be read, come out as [`WalkItem::Error`] items.
#[must_use]
pub fn walk(root: &Path, opts: WalkOptions) -> Walk {
    walk_within(root, opts, Limits::DEFAULT)
}

fn walk_within(root: &Path, opts: WalkOptions, limits: Limits) -> Walk {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        opts.threads
    };
    let (pool, root_child) = Pool::start(root, threads, opts.follow_symlinks, limits);
    Walk {
        stack: vec![vec![root_child].into_iter()],
        pool,
    }
}

impl Iterator for Walk {
    type Item = WalkItem;

    fn next(&mut self) -> Option<WalkItem> {
        loop {
            let frame = self.stack.last_mut()?;
            let Some(child) = frame.next() else {
                self.stack.pop();
                if self.stack.is_empty() {
                    // Done: let the workers go now rather than when the iterator is dropped.
                    self.pool.stop();
                }
                continue;
            };
            match child {
                Child::File(entry) => return Some(WalkItem::File(entry)),
                Child::Skipped { path, reason } => return Some(WalkItem::Skipped { path, reason }),
                Child::Error(e) => return Some(WalkItem::Error(e)),
                Child::Dir(dir) => match self.pool.take(dir) {
                    Ok(children) => self.stack.push(children.into_iter()),
                    Err(e) => return Some(WalkItem::Error(e)),
                },
            }
        }
    }
}

impl FusedIterator for Walk {}

/// Walks `root` and returns its regular files sorted by key bytes: [`walk`] collected, with
/// the default options. Skipped paths are logged (`warn`; `debug` for vanished files).
///
/// # Errors
/// The first directory or metadata read that fails, naming the path.
pub fn walk_sorted(root: &Path) -> Result<Vec<LocalEntry>, WalkError> {
    let mut out = Vec::new();
    for item in walk(root, WalkOptions::default()) {
        match item {
            WalkItem::File(entry) => out.push(entry),
            WalkItem::Skipped {
                path,
                reason: SkipReason::Vanished,
            } => {
                tracing::debug!(path = %path.display(), "skipping a file removed during the walk");
            }
            WalkItem::Skipped { path, reason } => {
                tracing::warn!(path = %path.display(), %reason, "skipping");
            }
            WalkItem::Error(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use proptest::prelude::*;

    use super::*;

    fn opts(threads: usize, follow_symlinks: bool) -> WalkOptions {
        WalkOptions {
            follow_symlinks,
            threads,
        }
    }

    fn write(root: &Path, rel: &str) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, rel).unwrap();
    }

    fn items(root: &Path, o: WalkOptions) -> Vec<WalkItem> {
        walk(root, o).collect()
    }

    fn file_keys(items: &[WalkItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                WalkItem::File(e) => Some(e.key.clone()),
                _ => None,
            })
            .collect()
    }

    fn skipped(items: &[WalkItem]) -> Vec<(String, SkipReason)> {
        items
            .iter()
            .filter_map(|i| match i {
                WalkItem::Skipped { path, reason } => Some((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    *reason,
                )),
                _ => None,
            })
            .collect()
    }

    /// The walk this module used to be: collect every key, then sort the bytes. An
    /// independent answer to check the streaming walk against.
    fn collect_and_sort(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, prefix)) = dirs.pop() {
            for entry in fs_err::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let key = format!("{prefix}{}", entry.file_name().to_str().unwrap());
                let ft = entry.file_type().unwrap();
                if ft.is_dir() {
                    dirs.push((entry.path(), format!("{key}/")));
                } else if ft.is_file() {
                    out.push(key);
                }
            }
        }
        out.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        out
    }

    #[test]
    fn yields_s3_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["a/b", "a-b", "a0", "b/c/d", "A", "a.b/c", "a b"] {
            write(dir.path(), p);
        }
        let keys: Vec<_> = walk_sorted(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["A", "a b", "a-b", "a.b/c", "a/b", "a0", "b/c/d"]);
    }

    #[test]
    fn entries_carry_the_metadata_sync_needs() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d/f");
        let path = dir.path().join("d/f");
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let md = fs_err::metadata(&path).unwrap();
        let entries = walk_sorted(dir.path()).unwrap();
        assert_eq!(
            entries,
            [LocalEntry {
                key: "d/f".into(),
                path: path.clone(),
                size: 3,
                mtime: md.modified().unwrap(),
                mode: md.mode(),
                uid: md.uid(),
                gid: md.gid(),
                dev: md.dev(),
                ino: md.ino(),
                ctime_secs: md.ctime(),
                ctime_nanos: u32::try_from(md.ctime_nsec()).unwrap(),
            }]
        );
        assert_eq!(entries[0].mode & 0o777, 0o640);
        assert_eq!(entries[0].mode & 0o170_000, 0o100_000, "S_IFREG");
    }

    #[test]
    fn a_root_that_cannot_be_read_is_one_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let got = items(&missing, WalkOptions::default());
        let [WalkItem::Error(e)] = got.as_slice() else {
            panic!("expected one error, got {got:?}")
        };
        assert_eq!(e.path(), Some(missing.as_path()));
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("missing"), "{e}");
        let err = walk_sorted(&missing).unwrap_err();
        let WalkError::Io(io) = err;
        assert!(io.to_string().contains(&*missing.to_string_lossy()), "{io}");
    }

    #[test]
    fn a_file_as_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "f");
        let got = items(&dir.path().join("f"), WalkOptions::default());
        assert!(matches!(got.as_slice(), [WalkItem::Error(_)]), "{got:?}");
    }

    #[test]
    fn an_empty_root_yields_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("empty")).unwrap();
        assert!(items(dir.path(), WalkOptions::default()).is_empty());
    }

    #[test]
    fn symlinks_are_skipped_by_default() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "target/f");
        write(dir.path(), "plain");
        symlink(dir.path().join("target"), dir.path().join("to-dir")).unwrap();
        symlink(dir.path().join("plain"), dir.path().join("to-file")).unwrap();
        symlink(dir.path().join("nothing"), dir.path().join("dangling")).unwrap();
        let got = items(dir.path(), opts(2, false));
        assert_eq!(file_keys(&got), ["plain", "target/f"]);
        assert_eq!(
            skipped(&got),
            [
                ("dangling".into(), SkipReason::Symlink),
                ("to-dir".into(), SkipReason::Symlink),
                ("to-file".into(), SkipReason::Symlink),
            ]
        );
    }

    #[test]
    fn followed_symlinks_sort_as_what_they_point_to() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "f");
        write(outside.path(), "g/h");
        write(dir.path(), "plain");
        // `l-x` < `l/…` < `l0`: the link to a directory must sort as `l/`.
        write(dir.path(), "l-x");
        write(dir.path(), "l0");
        symlink(outside.path(), dir.path().join("l")).unwrap();
        symlink(dir.path().join("plain"), dir.path().join("to-file")).unwrap();
        symlink(dir.path().join("nothing"), dir.path().join("dangling")).unwrap();
        let got = items(dir.path(), opts(3, true));
        assert_eq!(
            file_keys(&got),
            ["l-x", "l/f", "l/g/h", "l0", "plain", "to-file"]
        );
        assert_eq!(
            skipped(&got),
            [("dangling".into(), SkipReason::DanglingSymlink)]
        );
        let Some(WalkItem::File(via_link)) = got
            .iter()
            .find(|i| matches!(i, WalkItem::File(e) if e.key == "l/f"))
        else {
            panic!("{got:?}")
        };
        assert_eq!(via_link.path, dir.path().join("l/f"), "paths keep the link");
        let WalkItem::File(to_file) = got.last().unwrap() else {
            panic!("{got:?}")
        };
        assert_eq!(to_file.size, "plain".len() as u64, "the target's metadata");
    }

    #[test]
    fn followed_symlink_loops_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/f");
        symlink("..", dir.path().join("a/up")).unwrap();
        symlink(dir.path(), dir.path().join("a/root")).unwrap();
        symlink("self", dir.path().join("self")).unwrap();
        symlink("ping", dir.path().join("pong")).unwrap();
        symlink("pong", dir.path().join("ping")).unwrap();
        // A second way to the same directory that is not an ancestor is walked twice, as
        // `rsync -L` would.
        symlink("a", dir.path().join("b")).unwrap();
        let got = items(dir.path(), opts(2, true));
        assert_eq!(file_keys(&got), ["a/f", "b/f"]);
        assert_eq!(
            skipped(&got),
            [
                ("root".into(), SkipReason::Loop),
                ("up".into(), SkipReason::Loop),
                ("root".into(), SkipReason::Loop),
                ("up".into(), SkipReason::Loop),
                ("ping".into(), SkipReason::Loop),
                ("pong".into(), SkipReason::Loop),
                ("self".into(), SkipReason::Loop),
            ]
        );
    }

    #[test]
    fn special_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "f");
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        for follow in [false, true] {
            let got = items(dir.path(), opts(1, follow));
            assert_eq!(file_keys(&got), ["f"]);
            assert_eq!(
                skipped(&got),
                [
                    ("fifo".into(), SkipReason::Special),
                    ("sock".into(), SkipReason::Special),
                ]
            );
        }
    }

    #[test]
    fn non_utf8_names_are_skipped() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a");
        let bad = dir.path().join(OsStr::from_bytes(b"b\xff"));
        fs_err::write(&bad, "x").unwrap();
        fs_err::create_dir(dir.path().join(OsStr::from_bytes(b"c\xfe"))).unwrap();
        write(dir.path(), "d");
        let got = items(dir.path(), WalkOptions::default());
        assert_eq!(file_keys(&got), ["a", "d"]);
        let reasons: Vec<_> = got
            .iter()
            .filter_map(|i| match i {
                WalkItem::Skipped { path, reason } => Some((path.clone(), *reason)),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (bad, SkipReason::NotUtf8),
                (
                    dir.path().join(OsStr::from_bytes(b"c\xfe")),
                    SkipReason::NotUtf8
                ),
            ]
        );
    }

    /// Environment variable telling a re-run of this test binary, as an unprivileged user,
    /// which tree to walk for `unreadable_directories_are_errors_and_the_walk_goes_on`.
    const UNPRIVILEGED_TREE: &str = "HAUL_WALK_TEST_UNPRIVILEGED_TREE";

    fn build_unreadable_tree(root: &Path) {
        write(root, "a/f");
        write(root, "b/secret");
        write(root, "c/f");
        // Readable but not searchable: names come back, their metadata does not.
        write(root, "d/hidden");
        write(root, "e");
        fs_err::set_permissions(root.join("b"), std::fs::Permissions::from_mode(0o000)).unwrap();
        fs_err::set_permissions(root.join("d"), std::fs::Permissions::from_mode(0o444)).unwrap();
    }

    fn check_unreadable_tree(root: &Path) {
        let got = items(root, opts(2, false));
        let summary: Vec<String> = got
            .iter()
            .map(|i| match i {
                WalkItem::File(e) => format!("file {}", e.key),
                WalkItem::Skipped { path, reason } => format!("skip {} {reason}", path.display()),
                WalkItem::Error(e) => {
                    let rel = e.path().unwrap().strip_prefix(root).unwrap();
                    format!("error {} {:?}", rel.display(), e.kind())
                }
            })
            .collect();
        assert_eq!(
            summary,
            [
                "file a/f",
                "error b PermissionDenied",
                "file c/f",
                "error d/hidden PermissionDenied",
                "file e",
            ]
        );
        assert!(walk_sorted(root).is_err());
    }

    #[test]
    #[allow(
        clippy::print_stderr,
        reason = "a test that cannot run says so loudly (STYLE.md §7)"
    )]
    fn unreadable_directories_are_errors_and_the_walk_goes_on() {
        if let Some(tree) = std::env::var_os(UNPRIVILEGED_TREE) {
            check_unreadable_tree(Path::new(&tree));
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        build_unreadable_tree(dir.path());
        if fs_err::read_dir(dir.path().join("b")).is_err() {
            check_unreadable_tree(dir.path());
        } else {
            // Root reads through mode 000. Re-run this one test as `nobody` when setpriv
            // allows it, else say loudly that it did not run.
            fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let exe = std::env::current_exe().unwrap();
            let run = std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&exe)
                .args([
                    "--exact",
                    "local::walk::tests::unreadable_directories_are_errors_and_the_walk_goes_on",
                    "--nocapture",
                ])
                .env(UNPRIVILEGED_TREE, dir.path())
                .output();
            match run {
                Ok(out) if out.status.success() => {
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    assert!(
                        stdout.contains("1 passed"),
                        "the re-run ran no test: {stdout}"
                    );
                }
                Ok(out) => panic!(
                    "unprivileged re-run failed:\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => eprintln!(
                    "SKIPPED unreadable_directories_are_errors_and_the_walk_goes_on: running \
                     as root, where mode 000 does not stop reads, and setpriv failed: {e}"
                ),
            }
        }
        // Let the temporary directory be removed.
        for d in ["b", "d"] {
            fs_err::set_permissions(dir.path().join(d), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
    }

    #[test]
    fn many_files_stream_in_order_within_tight_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = Vec::new();
        // 2,000 directories over two levels, 10 files each: 20,000 files.
        for top in 0..40 {
            for sub in 0..50 {
                let d = dir.path().join(format!("t{top:02}/s-{sub}"));
                fs_err::create_dir_all(&d).unwrap();
                for f in 0..10 {
                    fs_err::write(d.join(format!("f{f}")), b"").unwrap();
                    expected.push(format!("t{top:02}/s-{sub}/f{f}"));
                }
            }
        }
        expected.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(collect_and_sort(dir.path()), expected);
        let sorted: Vec<_> = walk_sorted(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(sorted, expected);
        for (threads, limits) in [
            (4, Limits::DEFAULT),
            (
                3,
                Limits {
                    dirs: 1,
                    entries: 1,
                },
            ),
            (
                2,
                Limits {
                    dirs: 7,
                    entries: 30,
                },
            ),
        ] {
            let mut w = walk_within(dir.path(), opts(threads, false), limits);
            let mut got = Vec::new();
            while let Some(item) = w.next() {
                let WalkItem::File(entry) = item else {
                    panic!("{item:?}")
                };
                got.push(entry.key);
                // The bound of the `prefetch` docs: one listing over for the consumer's
                // demand; entries over by at most one directory (50 here) per read in flight.
                let (held_dirs, held_entries) = w.pool.held();
                assert!(held_dirs <= limits.dirs + 1, "{held_dirs} listings held");
                assert!(
                    held_entries < limits.entries + threads * 50,
                    "{held_entries} entries held"
                );
            }
            assert_eq!(got, expected, "threads {threads}, {limits:?}");
        }
    }

    #[test]
    fn a_directory_removed_before_it_is_read_is_vanished() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/f");
        write(dir.path(), "b/g");
        write(dir.path(), "c");
        // No read-ahead: each directory is read only when the consumer enters it.
        let none = Limits {
            dirs: 0,
            entries: 0,
        };
        let mut w = walk_within(dir.path(), opts(2, false), none);
        assert!(matches!(w.next(), Some(WalkItem::File(e)) if e.key == "a/f"));
        fs_err::remove_dir_all(dir.path().join("b")).unwrap();
        let rest: Vec<_> = w.collect();
        assert!(
            matches!(
                rest.as_slice(),
                [
                    WalkItem::Skipped { reason: SkipReason::Vanished, path },
                    WalkItem::File(c),
                ] if path.ends_with("b") && c.key == "c"
            ),
            "{rest:?}"
        );
    }

    #[test]
    fn reads_ahead_up_to_the_bound_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..100 {
            write(dir.path(), &format!("d{i:03}/f"));
        }
        let limits = Limits {
            dirs: 7,
            entries: PREFETCH_ENTRIES,
        };
        let mut w = walk_within(dir.path(), opts(4, false), limits);
        assert!(matches!(w.next(), Some(WalkItem::File(e)) if e.key == "d000/f"));
        // The consumer stands still: the workers fill the read-ahead, then stop.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while w.pool.held().0 < limits.dirs {
            assert!(
                std::time::Instant::now() < deadline,
                "no read-ahead: {:?}",
                w.pool.held()
            );
            std::thread::yield_now();
        }
        // Give a worker that ignored the bound a chance to show it.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(w.pool.held(), (limits.dirs, limits.dirs));
        assert_eq!(file_keys(&w.collect::<Vec<_>>()).len(), 99);
    }

    #[test]
    fn dropping_a_walk_early_stops_its_threads() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..200 {
            write(dir.path(), &format!("d{i:03}/f"));
        }
        let mut w = walk(dir.path(), opts(4, false));
        assert!(matches!(w.next(), Some(WalkItem::File(_))));
        drop(w); // joins the workers; a hang here is the failure
    }

    #[test]
    fn a_walk_can_move_to_a_blocking_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Walk>();
    }

    /// Name characters around `/` (0x2f) in byte order — space, `-`, `.`, `0`, `A`, `a`, `~`
    /// — and multi-byte UTF-8 (`é`, `日`).
    const ALPHABET: &[char] = &[' ', '-', '.', '0', 'A', 'a', '~', 'é', '日'];

    fn name() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(ALPHABET), 1..=3)
            .prop_map(|cs| cs.into_iter().collect::<String>())
            .prop_filter("not . or ..", |n| n != "." && n != "..")
    }

    /// Random trees: files at random paths (up to four deep) and some empty directories.
    fn tree() -> impl Strategy<Value = (Vec<Vec<String>>, Vec<Vec<String>>)> {
        (
            proptest::collection::vec(proptest::collection::vec(name(), 1..=4), 0..40),
            proptest::collection::vec(proptest::collection::vec(name(), 1..=3), 0..5),
        )
    }

    /// Creates what fits (a path under an existing file, or onto an existing directory, is
    /// dropped) and returns the keys of the files created.
    fn build(root: &Path, files: &[Vec<String>], empty_dirs: &[Vec<String>]) -> Vec<String> {
        let mut keys = BTreeSet::new();
        for parts in files {
            let key = parts.join("/");
            let path = root.join(&key);
            let parent_ok = path
                .ancestors()
                .skip(1)
                .take_while(|p| *p != root)
                .all(|p| !p.is_file());
            if !parent_ok || path.exists() {
                continue;
            }
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, b"").unwrap();
            keys.insert(key);
        }
        for parts in empty_dirs {
            let path = root.join(parts.join("/"));
            if path.ancestors().all(|p| !p.is_file()) {
                fs_err::create_dir_all(&path).unwrap();
            }
        }
        let mut keys: Vec<String> = keys.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        keys
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn walk_yields_keys_in_s3_byte_order(
            (files, empty_dirs) in tree(),
            threads in 1usize..=4,
            dirs in 1usize..=4,
            entries in 1usize..=64,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let expected = build(dir.path(), &files, &empty_dirs);
            prop_assert_eq!(&collect_and_sort(dir.path()), &expected);
            let got = walk_within(dir.path(), opts(threads, false), Limits { dirs, entries })
                .collect::<Vec<_>>();
            prop_assert!(got.iter().all(|i| matches!(i, WalkItem::File(_))), "{:?}", got);
            prop_assert_eq!(&file_keys(&got), &expected);
            let sorted: Vec<_> = walk_sorted(dir.path()).unwrap().into_iter().map(|e| e.key).collect();
            prop_assert_eq!(&sorted, &expected);
        }
    }
}
