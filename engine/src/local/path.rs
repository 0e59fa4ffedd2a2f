//! Mapping object keys to local paths that cannot leave the destination directory, and
//! creating their directories without going through a symlink.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Longest file name component most Linux filesystems hold (`NAME_MAX`).
pub const NAME_MAX_BYTES: usize = 255;

/// Why a key cannot become a local path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {key:?} cannot be written locally: {reason}")]
pub struct PathError {
    /// The key, as received.
    pub key: String,
    /// What rule it breaks.
    pub reason: &'static str,
}

/// A relative path proven to stay under any root it is joined to: no `..`, no `.`, no empty
/// component, no leading `/`, no NUL or control characters, no backslash, no component longer
/// than [`NAME_MAX_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafeRelPath(String);

impl SafeRelPath {
    /// Validates a key (relative to the prefix being copied) as a local relative path.
    ///
    /// # Errors
    /// A [`PathError`] naming the key and the rule it breaks. Nothing is ever written for such
    /// a key (path traversal, CWE-22).
    pub fn from_key(key: &str) -> Result<Self, PathError> {
        let err = |reason| {
            Err(PathError {
                key: key.to_owned(),
                reason,
            })
        };
        if key.is_empty() {
            return err("empty path");
        }
        if key.starts_with('/') {
            return err("absolute path (leading '/')");
        }
        if key.chars().any(|c| c == '\0') {
            return err("contains a NUL byte");
        }
        if key.chars().any(char::is_control) {
            return err("contains a control character");
        }
        if key.contains('\\') {
            return err("contains a backslash (a path separator on Windows)");
        }
        for component in key.split('/') {
            match component {
                "" => return err("empty path component ('//' or a trailing '/')"),
                "." => return err("'.' path component"),
                ".." => return err("'..' path component (would leave the destination)"),
                c if c.len() > NAME_MAX_BYTES => {
                    return err("a path component longer than 255 bytes");
                }
                _ => {}
            }
        }
        Ok(Self(key.to_owned()))
    }

    /// The path as a `/`-separated string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path under `root`.
    #[must_use]
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in self.0.split('/') {
            p.push(c);
        }
        p
    }
}

/// Creates `dir` and every missing directory between `root` and it, refusing to go through a
/// symlink or anything that is not a directory on the way (CWE-59): a download under `root`
/// cannot land outside it through a symlink that sits in the destination, whoever put it
/// there. `root` itself may be a symlink (the user named it) and is created when missing.
///
/// One `lstat` per directory level (the dentries are cached), no state kept: it costs
/// microseconds per file and nothing per directory count, whatever the tree's shape.
///
/// This checks, then creates: it does not defend against a local user who can write in the
/// destination and swaps a directory for a symlink while haul runs (SECURITY.md).
///
/// # Errors
/// `dir` not under `root` or with a `..` component (`InvalidInput`), a symlink or a
/// non-directory on the way (`NotADirectory`, naming it), and IO errors, each naming the path.
pub fn create_dirs_beneath(root: &Path, dir: &Path) -> io::Result<()> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not under {}", dir.display(), root.display()),
        )
    })?;
    // One `stat` when the root is there (every file but the first): `create_dir_all` would
    // try a `mkdir` first and `stat` after its EEXIST, two calls per downloaded file.
    if !fs_err::metadata(root).is_ok_and(|m| m.is_dir()) {
        fs_err::create_dir_all(root)?;
    }
    let mut at = root.to_path_buf();
    for component in rel.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a plain relative path", dir.display()),
            ));
        };
        at.push(name);
        match fs_err::symlink_metadata(&at) {
            Ok(meta) => real_dir(&at, &meta)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs_err::create_dir(&at) {
                Ok(()) => {}
                // Another download made it first: it must still be a real directory.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    real_dir(&at, &fs_err::symlink_metadata(&at)?)?;
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `Ok` when `meta` (from `lstat`) is a directory, else an error naming `path` and what it is.
fn real_dir(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    if meta.is_dir() {
        return Ok(());
    }
    let what = if meta.file_type().is_symlink() {
        "is a symlink: haul does not write through a symlink in the destination \
         (sync --follow-symlinks allows it)"
    } else {
        "is not a directory"
    };
    Err(io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{} {what}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_keys() {
        for k in [
            "a",
            "a/b/c.txt",
            "dir with space/f+1%20=?#~",
            "ünï/cödé",
            "..a/b..",
            ".hidden",
        ] {
            assert!(SafeRelPath::from_key(k).is_ok(), "{k}");
        }
    }

    #[test]
    fn refuses_escapes_and_oddities() {
        for k in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
            "..",
        ] {
            let e = SafeRelPath::from_key(k).unwrap_err();
            assert_eq!(e.key, k);
        }
        let long = "x".repeat(256);
        assert!(SafeRelPath::from_key(&long).is_err());
    }

    proptest! {
        #[test]
        fn never_leaves_the_root(key in ".{0,80}") {
            if let Ok(p) = SafeRelPath::from_key(&key) {
                let joined = p.under(Path::new("/root/dest"));
                prop_assert!(joined.starts_with("/root/dest"));
                for c in joined.strip_prefix("/root/dest").unwrap().components() {
                    prop_assert!(matches!(c, Component::Normal(_)), "{:?}", c);
                }
            }
        }

        #[test]
        fn never_leaves_the_root_with_dots(parts in proptest::collection::vec(
            prop_oneof![Just(".."), Just("."), Just(""), Just("a"), Just("/"), Just("\\")], 0..8)) {
            let key = parts.join("/");
            if let Ok(p) = SafeRelPath::from_key(&key) {
                let joined = p.under(Path::new("/d"));
                for c in joined.strip_prefix("/d").unwrap().components() {
                    prop_assert!(matches!(c, Component::Normal(_)));
                }
            }
        }
    }

    #[test]
    fn dirs_beneath_are_made_and_symlinks_refused() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = t.path().join("dest");
        create_dirs_beneath(&root, &root.join("a/b/c")).unwrap();
        assert!(root.join("a/b/c").is_dir());
        // Again: everything already there is fine.
        create_dirs_beneath(&root, &root.join("a/b/c")).unwrap();
        create_dirs_beneath(&root, &root).unwrap();

        std::os::unix::fs::symlink(outside.path(), root.join("a/link")).unwrap();
        let e = create_dirs_beneath(&root, &root.join("a/link/x")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
        assert!(e.to_string().contains("a/link is a symlink"), "{e}");
        assert!(!outside.path().join("x").exists(), "nothing made outside");

        fs_err::write(root.join("a/file"), b"x").unwrap();
        let e = create_dirs_beneath(&root, &root.join("a/file/x")).unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");

        let e = create_dirs_beneath(&root, outside.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = create_dirs_beneath(&root, &root.join("a/../..")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

        // The root itself may be a symlink: the user named it.
        let linked = t.path().join("linked-root");
        std::os::unix::fs::symlink(&root, &linked).unwrap();
        create_dirs_beneath(&linked, &linked.join("a/b/d")).unwrap();
        assert!(root.join("a/b/d").is_dir());
    }
}
