//! File attributes carried in object metadata, readable by s3cmd and by haul.
//!
//! s3cmd stores `x-amz-meta-s3cmd-attrs: atime:…/ctime:…/gid:…/gname:…/md5:…/mode:…/mtime:…/
//! uid:…/uname:…` (sorted `key:value` pairs joined by `/`, times in whole seconds) and restores
//! mode, mtime and, as root with `--preserve`, ownership from it. haul writes the same header so
//! that either tool restores the other's backups, plus `x-amz-meta-haul-mtime` with nanosecond
//! precision (`SECONDS.NANOS`), which haul prefers when present.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::s3::UserMetadata;

/// Metadata name of s3cmd's attribute string (without `x-amz-meta-`).
pub const S3CMD_ATTRS: &str = "s3cmd-attrs";
/// Metadata name of haul's nanosecond mtime.
pub const HAUL_MTIME: &str = "haul-mtime";

/// What a file's attributes are, as far as haul keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileAttrs {
    /// Modification time.
    pub mtime: Option<SystemTime>,
    /// Permission bits and file type (`st_mode`).
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
}

impl FileAttrs {
    /// Reads the attributes of a file's metadata.
    #[must_use]
    pub fn from_metadata(md: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            mtime: md.modified().ok(),
            mode: Some(md.mode()),
            uid: Some(md.uid()),
            gid: Some(md.gid()),
        }
    }

    /// Writes them into object metadata (`s3cmd-attrs` and `haul-mtime`).
    pub fn store(&self, meta: &mut UserMetadata) {
        let mut pairs: BTreeMap<&str, String> = BTreeMap::new();
        if let Some(secs) = self.mtime.and_then(unix_secs) {
            pairs.insert("mtime", secs.to_string());
        }
        if let Some(mode) = self.mode {
            pairs.insert("mode", mode.to_string());
        }
        if let Some(uid) = self.uid {
            pairs.insert("uid", uid.to_string());
        }
        if let Some(gid) = self.gid {
            pairs.insert("gid", gid.to_string());
        }
        if !pairs.is_empty() {
            let value = pairs
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join("/");
            // Values are ASCII digits and separators: always valid metadata.
            let _ = meta.insert(S3CMD_ATTRS, value);
        }
        if let Some(d) = self.mtime.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            let _ = meta.insert(
                HAUL_MTIME,
                format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
            );
        }
    }

    /// Reads them back from object metadata; fields that are absent or malformed stay `None`
    /// (metadata comes from the gateway and may have been written by anyone).
    #[must_use]
    pub fn load(meta: &UserMetadata) -> Self {
        let mut out = Self::default();
        if let Some(attrs) = meta.get(S3CMD_ATTRS) {
            for pair in attrs.split('/') {
                let Some((k, v)) = pair.split_once(':') else {
                    continue;
                };
                match k {
                    "mtime" => {
                        out.mtime = v
                            .parse::<u64>()
                            .ok()
                            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)));
                    }
                    "mode" => out.mode = v.parse().ok(),
                    "uid" => out.uid = v.parse().ok(),
                    "gid" => out.gid = v.parse().ok(),
                    _ => {}
                }
            }
        }
        if let Some(t) = meta.get(HAUL_MTIME).and_then(parse_precise) {
            out.mtime = Some(t);
        }
        out
    }
}

fn unix_secs(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// `SECONDS.NANOS` (exactly nine digits of nanoseconds).
fn parse_precise(v: &str) -> Option<SystemTime> {
    let (s, n) = v.split_once('.')?;
    if n.len() != 9 {
        return None;
    }
    let secs: u64 = s.parse().ok()?;
    let nanos: u32 = n.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_s3cmd_attrs() {
        let a = FileAttrs {
            mtime: Some(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)),
            mode: Some(0o100_640),
            uid: Some(1000),
            gid: Some(50),
        };
        let mut m = UserMetadata::new();
        a.store(&mut m);
        assert_eq!(
            m.get(S3CMD_ATTRS),
            Some("gid:50/mode:33184/mtime:1700000000/uid:1000")
        );
        assert_eq!(FileAttrs::load(&m), a);

        // Written by s3cmd 2.x (md5, names, atime/ctime are ignored).
        let mut s = UserMetadata::new();
        s.insert(
            S3CMD_ATTRS,
            "atime:1375301781/ctime:1375301781/gid:0/gname:root/md5:7bd6c0f3e1ad2f6c0ad0ffe0eb0b1d11/mode:33188/mtime:1375301780/uid:0/uname:root",
        )
        .unwrap();
        let got = FileAttrs::load(&s);
        assert_eq!(got.mode, Some(33188));
        assert_eq!(
            got.mtime,
            Some(UNIX_EPOCH + Duration::from_secs(1_375_301_780))
        );
        assert_eq!((got.uid, got.gid), (Some(0), Some(0)));
    }

    #[test]
    fn garbage_is_ignored() {
        let mut m = UserMetadata::new();
        m.insert(S3CMD_ATTRS, "mtime:x/mode:/uid:-1/nonsense")
            .unwrap();
        m.insert(HAUL_MTIME, "12.5").unwrap();
        assert_eq!(FileAttrs::load(&m), FileAttrs::default());
    }
}
