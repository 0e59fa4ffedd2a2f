//! Directory walks that yield files in S3 key order.
//!
//! S3 lists keys in byte order of the whole key, so `a-b` (0x2d) comes before `a/b` (0x2f):
//! a per-directory sort of names does not give that order. This walk collects relative keys
//! and sorts them as byte strings. It holds one entry per file; the streaming parallel walk for
//! trees of millions of files belongs to `sync` (issue 3).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A regular file found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// Path relative to the walk's root, `/`-separated: the key suffix it maps to.
    pub key: String,
    /// Full path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

/// A walk failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Reading a directory or a file's metadata failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Walks `root` and returns its regular files sorted by key bytes. Symlinks, sockets, fifos
/// and devices are skipped with a warning; names that are not UTF-8 are skipped with a warning
/// (an S3 key is UTF-8).
///
/// # Errors
/// IO errors on directories, naming the path.
pub fn walk_sorted(root: &Path) -> Result<Vec<LocalEntry>, WalkError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs_err::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(path = %path.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let ft = entry.file_type()?;
            let key = format!("{prefix}{name}");
            if ft.is_dir() {
                stack.push((path, format!("{key}/")));
            } else if ft.is_file() {
                let md = fs_err::metadata(&path)?;
                out.push(LocalEntry {
                    key,
                    path,
                    size: md.len(),
                    mtime: md.modified()?,
                });
            } else if ft.is_symlink() {
                tracing::warn!(path = %path.display(), "skipping a symlink");
            } else {
                tracing::warn!(path = %path.display(), "skipping a special file (socket, fifo or device)");
            }
        }
    }
    out.sort_unstable_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_s3_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["a/b", "a-b", "a0", "b/c/d", "A"] {
            let path = dir.path().join(p);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, p).unwrap();
        }
        let keys: Vec<_> = walk_sorted(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["A", "a-b", "a/b", "a0", "b/c/d"]);
    }
}
