//! What a downloaded file was synced from, kept in an extended attribute of the file itself.
//!
//! A download restores the file's original mtime (from the object's metadata), which is older
//! than the object's `LastModified`; comparing the two on the next sync would fetch every file
//! again. So a download records `user.haul.synced` = the object's size and `LastModified`
//! (whole seconds) and the mtime it gave the file. While the file keeps that size and mtime it
//! is known to hold that object version, and a no-change sync needs no request beyond the
//! listing. Filesystems without user xattrs simply lose the shortcut.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The attribute's name.
pub const SYNCED_XATTR: &str = "user.haul.synced";

/// The object version a file was downloaded from, and the mtime the download gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncedFrom {
    /// Object size.
    pub size: u64,
    /// Object `LastModified`, whole seconds since the epoch.
    pub last_modified_secs: u64,
    /// The mtime the file was given.
    pub mtime: SystemTime,
}

impl SyncedFrom {
    fn encode(&self) -> String {
        let d = self.mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        format!(
            "v1 {} {} {}.{:09}",
            self.size,
            self.last_modified_secs,
            d.as_secs(),
            d.subsec_nanos()
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut it = s.split(' ');
        if it.next()? != "v1" {
            return None;
        }
        let size = it.next()?.parse().ok()?;
        let last_modified_secs = it.next()?.parse().ok()?;
        let (secs, nanos) = it.next()?.split_once('.')?;
        if it.next().is_some() || nanos.len() != 9 {
            return None;
        }
        let mtime =
            UNIX_EPOCH.checked_add(Duration::new(secs.parse().ok()?, nanos.parse().ok()?))?;
        Some(Self {
            size,
            last_modified_secs,
            mtime,
        })
    }

    /// Records it on an open file.
    ///
    /// # Errors
    /// The xattr call's error (`ENOTSUP` on filesystems without user attributes).
    pub fn record(&self, file: impl AsFd) -> io::Result<()> {
        rustix::fs::fsetxattr(
            file,
            SYNCED_XATTR,
            self.encode().as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(io::Error::from)
    }

    /// Reads it from a file; `None` when absent, unreadable or malformed.
    #[must_use]
    pub fn read(path: &Path) -> Option<Self> {
        let mut buf = [0u8; 128];
        let n = rustix::fs::getxattr(path, SYNCED_XATTR, &mut buf[..]).ok()?;
        Self::decode(std::str::from_utf8(buf.get(..n)?).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let s = SyncedFrom {
            size: 42,
            last_modified_secs: 1_700_000_000,
            mtime: UNIX_EPOCH + Duration::new(1_600_000_000, 5),
        };
        assert_eq!(SyncedFrom::decode(&s.encode()), Some(s));
        for bad in [
            "",
            "v2 1 2 3.000000000",
            "v1 x 2 3.000000000",
            "v1 1 2 3.5",
            "v1 1 2 3.000000000 x",
        ] {
            assert_eq!(SyncedFrom::decode(bad), None, "{bad}");
        }
    }

    #[test]
    #[allow(clippy::print_stderr, reason = "a skipped check says so loudly")]
    fn records_on_a_real_file_when_the_filesystem_allows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = fs_err::File::create(&p).unwrap();
        let s = SyncedFrom {
            size: 1,
            last_modified_secs: 2,
            mtime: UNIX_EPOCH + Duration::new(3, 4),
        };
        match s.record(f.file()) {
            Ok(()) => assert_eq!(SyncedFrom::read(&p), Some(s)),
            Err(e) => eprintln!("skipped: this filesystem has no user xattrs ({e})"),
        }
    }
}
