//! Mapping object keys to local paths that cannot leave the destination directory.

use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

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
}
