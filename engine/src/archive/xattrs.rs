//! Extended attributes in archives, on request (`tar push --xattrs`, `tar pull --xattrs`).
//!
//! Each attribute is a PAX record `SCHILY.xattr.NAME=VALUE` in an extended header written
//! just before the entry it belongs to: the form GNU tar (`--xattrs`), star and bsdtar read
//! and write, so either side of the pipeline can be GNU tar. The value is stored as raw bytes
//! (PAX records are length-prefixed, so binary values pass unchanged).
//!
//! Archiving stores every attribute `llistxattr` lists, in every namespace, sorted by name.
//! Extracting restores only what the caller's [`XattrRestore`] admits: the `user` namespace
//! by default, as GNU tar does, because attributes of the other namespaces mean something
//! only to the system that set them. `security.capability` grants privileges like a setuid
//! bit, so it is restored only with `allow_setid`.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// The PAX key prefix of an extended attribute.
pub const PAX_PREFIX: &str = "SCHILY.xattr.";

/// Linux's limit on the size of one attribute value and of a name list (`XATTR_SIZE_MAX`,
/// `XATTR_LIST_MAX`): buffers this size never get `ERANGE`.
const XATTR_MAX: usize = 64 * 1024;

/// Which attributes an extraction restores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum XattrRestore {
    /// None (the default, as GNU tar's `--no-xattrs`).
    #[default]
    None,
    /// The `user.` namespace (GNU tar's `--xattrs`).
    User,
    /// Every namespace (GNU tar's `--xattrs --xattrs-include='*'`); `trusted.` and
    /// `security.` need root.
    All,
}

impl XattrRestore {
    /// Whether the attribute `name` is restored (`allow_setid` admits `security.capability`).
    #[must_use]
    pub fn admits(self, name: &str, allow_setid: bool) -> bool {
        match self {
            Self::None => false,
            Self::User => name.starts_with("user."),
            Self::All => name != "security.capability" || allow_setid,
        }
    }
}

/// One attribute: its name and value.
pub type Xattr = (String, Vec<u8>);

/// What to read attributes from: an open file, or a path (a symlink itself, not followed).
pub enum Source<'a> {
    /// An open file.
    Open(BorrowedFd<'a>),
    /// A path, not followed if a symlink.
    Path(&'a Path),
}

/// The attributes of `source`, sorted by name. A filesystem without attributes gives none;
/// names that are not UTF-8 (PAX keys are UTF-8) are returned apart, to be reported.
///
/// # Errors
/// The system's error when the attributes cannot be listed or read (`NotFound` when the path
/// vanished).
pub fn read(source: &Source<'_>) -> io::Result<(Vec<Xattr>, Vec<Vec<u8>>)> {
    let mut list = vec![0u8; XATTR_MAX];
    let listed = match source {
        Source::Open(fd) => rustix::fs::flistxattr(fd, &mut list[..]),
        Source::Path(p) => rustix::fs::llistxattr(*p, &mut list[..]),
    };
    let n = match listed {
        Ok(n) => n,
        Err(e) if e == rustix::io::Errno::NOTSUP => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let mut found = Vec::new();
    let mut odd = Vec::new();
    let mut value = vec![0u8; XATTR_MAX];
    for name in list.get(..n).unwrap_or_default().split(|&b| b == 0) {
        if name.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(name) else {
            odd.push(name.to_vec());
            continue;
        };
        let got = match source {
            Source::Open(fd) => rustix::fs::fgetxattr(fd, text, &mut value[..]),
            Source::Path(p) => rustix::fs::lgetxattr(*p, text, &mut value[..]),
        };
        match got {
            Ok(len) => found.push((
                text.to_owned(),
                value.get(..len).unwrap_or_default().to_vec(),
            )),
            // Removed between the listing and the read: it is not there any more.
            Err(e) if e == rustix::io::Errno::NODATA => {}
            Err(e) => return Err(e.into()),
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((found, odd))
}

/// The PAX records of `attrs`, as `Builder::append_pax_extensions` takes them.
#[must_use]
pub fn pax_records(attrs: &[Xattr]) -> Vec<(String, &[u8])> {
    attrs
        .iter()
        .map(|(name, value)| (format!("{PAX_PREFIX}{name}"), value.as_slice()))
        .collect()
}

/// The bytes `records` take as the content of a PAX extended header: each record is
/// `LEN KEY=VALUE\n`, `LEN` counting its own digits (as `Builder::append_pax_extensions`
/// writes them).
#[must_use]
pub fn pax_len(records: &[(String, &[u8])]) -> u64 {
    records
        .iter()
        .map(|(key, value)| {
            let rest = 3 + key.len() + value.len();
            let mut digits = 1;
            let mut next = 10;
            while rest + digits >= next {
                digits += 1;
                next = next.saturating_mul(10);
            }
            (rest + digits) as u64
        })
        .sum()
}

/// The attributes an entry's PAX records hold that `restore` admits, in archive order, and
/// whether some record could not be read.
///
/// The tar library splits PAX records at newline bytes instead of by their length prefix,
/// so a value holding a `0x0A` byte (possible in binary values such as
/// `security.capability`) cannot be read back: such records are counted, not guessed at
/// (upstream: composefs/tar-rs issue 428).
///
/// # Errors
/// The archive cannot be read.
pub fn from_entry<R: io::Read>(
    entry: &mut tar::Entry<'_, R>,
    restore: XattrRestore,
    allow_setid: bool,
) -> io::Result<(Vec<Xattr>, bool)> {
    let mut out = Vec::new();
    let mut unreadable = false;
    if restore == XattrRestore::None {
        return Ok((out, unreadable));
    }
    let Some(records) = entry.pax_extensions()? else {
        return Ok((out, unreadable));
    };
    for record in records {
        let Ok(record) = record else {
            unreadable = true;
            continue;
        };
        let Ok(key) = record.key() else { continue };
        if let Some(name) = key.strip_prefix(PAX_PREFIX)
            && restore.admits(name, allow_setid)
        {
            out.push((name.to_owned(), record.value_bytes().to_vec()));
        }
    }
    Ok((out, unreadable))
}

/// Sets `attrs` on `target` (an open file, or a path not followed if a symlink). Each
/// failure (a filesystem without attributes, a namespace that needs root, `user.` on a
/// symlink) is returned as a message naming the attribute; the others are still set.
#[must_use]
pub fn write(target: &Source<'_>, attrs: &[Xattr]) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, value) in attrs {
        let set = match target {
            Source::Open(fd) => {
                rustix::fs::fsetxattr(fd, name.as_str(), value, rustix::fs::XattrFlags::empty())
            }
            Source::Path(p) => {
                rustix::fs::lsetxattr(*p, name.as_str(), value, rustix::fs::XattrFlags::empty())
            }
        };
        if let Err(e) = set {
            failed.push(format!(
                "cannot set extended attribute {name}: {}",
                io::Error::from(e)
            ));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_policies() {
        assert!(!XattrRestore::None.admits("user.a", true));
        assert!(XattrRestore::User.admits("user.a", false));
        assert!(!XattrRestore::User.admits("trusted.a", true));
        assert!(XattrRestore::All.admits("trusted.a", false));
        assert!(!XattrRestore::All.admits("security.capability", false));
        assert!(XattrRestore::All.admits("security.capability", true));
    }

    #[test]
    fn pax_len_is_what_the_builder_writes() {
        for (n, size) in [(1, 5), (3, 90), (2, 1000), (1, 70_000)] {
            let attrs: Vec<Xattr> = (0..n)
                .map(|i| (format!("user.a{i}"), vec![b'v'; size]))
                .collect();
            let records = pax_records(&attrs);
            let mut b = tar::Builder::new(Vec::new());
            b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                .unwrap();
            let bytes = b.into_inner().unwrap();
            let header = tar::Header::from_byte_slice(&bytes[..512]);
            assert_eq!(pax_len(&records), header.size().unwrap(), "{n} x {size}");
        }
    }

    #[test]
    fn read_write_round_trip_on_this_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs_err::write(&p, b"x").unwrap();
        let attrs = vec![
            ("user.b".to_owned(), vec![0u8, 1, 2, 255]),
            ("user.a".to_owned(), b"text".to_vec()),
        ];
        let failed = write(&Source::Path(&p), &attrs);
        if failed.iter().any(|f| f.contains("not supported")) {
            // A filesystem without user xattrs (tmpfs on old kernels): nothing to check.
            return;
        }
        assert!(failed.is_empty(), "{failed:?}");
        let f = fs_err::File::open(&p).unwrap();
        let (got, odd) = read(&Source::Open(std::os::fd::AsFd::as_fd(f.file()))).unwrap();
        assert!(odd.is_empty());
        let mut want = attrs.clone();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(
            pax_records(&got)[0],
            ("SCHILY.xattr.user.a".to_owned(), &b"text"[..])
        );
    }
}
