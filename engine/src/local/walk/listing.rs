//! Reading one directory: readdir, one `lstat` per entry (and a `stat` through a followed
//! symlink), classification, and the sort into key order. Runs on the walk's worker threads;
//! knows nothing of scheduling (that is `prefetch`).

use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{LocalEntry, Op, SkipReason, WalkError};

/// `ELOOP`, "too many levels of symbolic links": what `stat` says for a cycle of symlinks
/// (`a -> b -> a`). `io::ErrorKind::FilesystemLoop` is not stable, so the number is matched.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ELOOP: i32 = 40;
/// `ELOOP` on macOS and the BSDs.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ELOOP: i32 = 62;

/// A directory's identity, for loop detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DirId {
    dev: u64,
    ino: u64,
}

impl DirId {
    pub(super) fn of(md: &Metadata) -> Self {
        DirId {
            dev: md.dev(),
            ino: md.ino(),
        }
    }
}

/// The directories from the root down to one directory (a shared linked list, so each
/// directory costs one node however deep it is).
#[derive(Debug)]
pub(super) struct Ancestors {
    id: DirId,
    parent: Option<Arc<Ancestors>>,
}

impl Ancestors {
    pub(super) fn root(id: DirId) -> Arc<Self> {
        Arc::new(Ancestors { id, parent: None })
    }

    fn child(self: &Arc<Self>, id: DirId) -> Arc<Self> {
        Arc::new(Ancestors {
            id,
            parent: Some(Arc::clone(self)),
        })
    }

    fn contains(&self, id: DirId) -> bool {
        let mut node = Some(self);
        while let Some(n) = node {
            if n.id == id {
                return true;
            }
            node = n.parent.as_deref();
        }
        false
    }
}

/// One entry of a directory, classified.
#[derive(Debug)]
pub(super) enum Found {
    File(LocalEntry),
    /// A directory to descend into: `key` is its key prefix, ending in `/`.
    Dir {
        key: String,
        path: PathBuf,
        ancestors: Arc<Ancestors>,
    },
    Skipped {
        path: PathBuf,
        reason: SkipReason,
    },
    Error(WalkError),
}

/// Reads `dir` (whose key prefix is `prefix`, `""` or ending in `/`) and returns its entries
/// sorted into key order. Returns early, with whatever it has, once `stop` is set: the walk
/// has been dropped and nobody will look.
pub(super) fn list(
    dir: &Path,
    prefix: &str,
    ancestors: &Arc<Ancestors>,
    follow_symlinks: bool,
    stop: &AtomicBool,
) -> Result<Vec<Found>, WalkError> {
    let entries = read_dir(dir).map_err(|e| WalkError::at(Op::ReadDir, dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // A failure while reading the directory (EIO, a vanished directory) fails the whole
        // directory: a partial listing would look like deleted files to a sync.
        let entry = entry.map_err(|e| WalkError::at(Op::ReadDir, dir, e))?;
        found.push(classify(dir, prefix, ancestors, follow_symlinks, &entry));
    }
    found.sort_unstable_by(|a, b| a.sort_key().cmp(b.sort_key()));
    Ok(found.into_iter().map(|s| s.found).collect())
}

/// An entry with the name it sorts by.
struct Sorted {
    name: OsString,
    /// Sorts as `name/`.
    dir: bool,
    found: Found,
}

impl Sorted {
    /// The bytes of the name as it appears in a key: `name/` for a directory, `name` else.
    fn sort_key(&self) -> impl Iterator<Item = &u8> + Clone {
        let slash: &[u8] = if self.dir { b"/" } else { b"" };
        self.name.as_bytes().iter().chain(slash)
    }
}

fn classify(
    dir: &Path,
    prefix: &str,
    ancestors: &Arc<Ancestors>,
    follow_symlinks: bool,
    entry: &std::fs::DirEntry,
) -> Sorted {
    let name = entry.file_name();
    let path = dir.join(&name);
    let sorted = |dir, found| Sorted {
        name: name.clone(),
        dir,
        found,
    };
    let skip = |dir, path, reason| sorted(dir, Found::Skipped { path, reason });
    let Some(utf8) = name.to_str() else {
        return skip(false, path, SkipReason::NotUtf8);
    };
    // `lstat` relative to the open directory (fstatat).
    let md = match entry.metadata() {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return skip(false, path, SkipReason::Vanished);
        }
        Err(e) => return sorted(false, Found::Error(WalkError::at(Op::Metadata, path, e))),
    };
    let md = if md.file_type().is_symlink() {
        if !follow_symlinks {
            return skip(false, path, SkipReason::Symlink);
        }
        match stat(&path) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return skip(false, path, SkipReason::DanglingSymlink);
            }
            Err(e) if e.raw_os_error() == Some(ELOOP) => {
                return skip(false, path, SkipReason::Loop);
            }
            Err(e) => {
                return sorted(
                    false,
                    Found::Error(WalkError::at(Op::ResolveSymlink, path, e)),
                );
            }
        }
    } else {
        md
    };
    let ft = md.file_type();
    if ft.is_file() {
        let key = format!("{prefix}{utf8}");
        match LocalEntry::from_metadata(key, path.clone(), &md) {
            Ok(entry) => sorted(false, Found::File(entry)),
            Err(e) => sorted(false, Found::Error(WalkError::at(Op::Metadata, path, e))),
        }
    } else if ft.is_dir() {
        let id = DirId::of(&md);
        if ancestors.contains(id) {
            return skip(true, path, SkipReason::Loop);
        }
        sorted(
            true,
            Found::Dir {
                key: format!("{prefix}{utf8}/"),
                path,
                ancestors: ancestors.child(id),
            },
        )
    } else {
        skip(false, path, SkipReason::Special)
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the caller wraps every error in a WalkError naming the path"
)]
fn read_dir(dir: &Path) -> io::Result<std::fs::ReadDir> {
    std::fs::read_dir(dir)
}

/// `stat`, following symlinks.
#[allow(
    clippy::disallowed_methods,
    reason = "the caller wraps every error in a WalkError naming the path"
)]
pub(super) fn stat(path: &Path) -> io::Result<Metadata> {
    std::fs::metadata(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_removed_between_readdir_and_lstat_is_vanished() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("f"), b"x").unwrap();
        let root = Ancestors::root(DirId::of(&stat(dir.path()).unwrap()));
        let entry = read_dir(dir.path()).unwrap().next().unwrap().unwrap();
        fs_err::remove_file(dir.path().join("f")).unwrap();
        let sorted = classify(dir.path(), "", &root, false, &entry);
        assert!(
            matches!(
                sorted.found,
                Found::Skipped {
                    reason: SkipReason::Vanished,
                    ..
                }
            ),
            "{:?}",
            sorted.found
        );
    }

    #[test]
    fn sort_keys_put_directories_after_their_dash_and_dot_siblings() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            fs_err::create_dir(dir.path().join(d)).unwrap();
        }
        for f in ["a-", "a.", "a0", "b", "b!"] {
            if f != "b" {
                fs_err::write(dir.path().join(f), b"").unwrap();
            }
        }
        let root = Ancestors::root(DirId::of(&stat(dir.path()).unwrap()));
        let found = list(dir.path(), "", &root, false, &AtomicBool::new(false)).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|f| match f {
                Found::File(e) => e.key.clone(),
                Found::Dir { key, .. } => key.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        // `!` (0x21) < `/` (0x2f): `b!` before `b/`; `-` and `.` before `/`, `0` after.
        assert_eq!(names, ["a-", "a.", "a/", "a0", "b!", "b/"]);
    }
}
