//! The packer: a directory walked in a fixed order into tar entries.
//!
//! Order: the root's entries sorted bytewise by name, each directory's entry written before
//! its contents (depth first), so two runs over the same tree give the same archive. Only
//! one directory listing is held per level of depth.
//!
//! A live directory (the runbook's `/var/lib/deis/store`) is archived consistently: a
//! regular file's header declares the size `fstat` gave when the file was opened, and exactly
//! that many bytes follow it: a file that shrank is padded with zeros, one that grew is cut
//! off, and either is reported as [`PackWarning::Changed`] (GNU tar's "file changed as we read
//! it"). A file or directory that vanishes between listing and opening is skipped with
//! [`PackWarning::Vanished`]. Sockets cannot be archived and are skipped with
//! [`PackWarning::Socket`], as GNU tar does.
//!
//! With [`PackOptions::xattrs`], each entry's extended attributes go into a PAX extended
//! header just before it (see [`super::xattrs`]); the entry's index `START` is that header's.

use crate::sync::Filter;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header};

use super::index::{EntryKind, IndexEntry};
use super::{ArchiveError, xattrs};

/// Where each entry goes once written: the index writer, or nothing.
pub type IndexSink<'a> = &'a mut dyn FnMut(&IndexEntry) -> io::Result<()>;

/// What went wrong with one path without stopping the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackWarning {
    /// The file's size or mtime changed while it was read; the archive holds the size its
    /// header declared (padded with zeros or cut off).
    Changed(PathBuf),
    /// The path vanished between the listing and the read; it is not in the archive.
    Vanished(PathBuf),
    /// A socket, which tar cannot hold; not in the archive.
    Socket(PathBuf),
    /// Extended attributes with names that are not UTF-8 (PAX keys are): archived without
    /// them.
    XattrName(PathBuf, Vec<String>),
    /// Extended attributes whose PAX header would be larger than `tar pull` reads
    /// ([`super::entries::MAX_RECORD_BYTES`]): archived without them. The bytes they need.
    XattrsTooLarge(PathBuf, u64),
}

/// What to put in the archive beyond what tar always holds, and what to leave out.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Store every entry's extended attributes (PAX `SCHILY.xattr.*` records).
    pub xattrs: bool,
    /// Entries left out, by their path relative to the directory (globs as `haul sync
    /// --exclude`: `*` within a segment, `**` across, a pattern without `/` also matches the
    /// name at any depth). An excluded directory is left out with everything under it, as
    /// GNU tar's `--exclude`.
    pub exclude: Filter,
}

impl std::fmt::Display for PackWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed(p) => write!(f, "{}: file changed as we read it", p.display()),
            Self::Vanished(p) => write!(f, "{}: file vanished before it was read", p.display()),
            Self::Socket(p) => write!(f, "{}: socket ignored", p.display()),
            Self::XattrName(p, names) => write!(
                f,
                "{}: extended attributes with names that are not UTF-8 not archived: {}",
                p.display(),
                names.join(", ")
            ),
            Self::XattrsTooLarge(p, bytes) => write!(
                f,
                "{}: extended attributes not archived: their PAX header would take {bytes} bytes, over the {} a tar reader accepts",
                p.display(),
                super::entries::MAX_RECORD_BYTES
            ),
        }
    }
}

/// What a pack wrote.
#[derive(Debug, Default, Clone)]
pub struct PackReport {
    /// Entries written (every kind).
    pub entries: u64,
    /// Bytes of file content written (before compression).
    pub content_bytes: u64,
    /// Paths archived with a warning, or skipped.
    pub warnings: Vec<PackWarning>,
}

/// Packs the tree under `root` into `out` as a tar stream (GNU headers), returning the
/// report, the length of the tar stream and `out` (to be finished by the caller, e.g. the
/// compressor's trailer). Each entry, once written, goes to `index` with its offsets in the
/// tar stream and, for files, the BLAKE3 of the content archived (hashed as it is read).
///
/// Paths in the archive are relative to `root`, directories end with `/`; `root` itself is
/// not an entry (as `tar -C root .` without the `./` prefix).
///
/// # Errors
/// [`ArchiveError::Io`] when `root` cannot be read or `out` or the index cannot be written;
/// paths that vanish or change are warnings, not errors.
pub fn pack<W: Write>(
    root: &Path,
    out: W,
    opts: PackOptions,
    index: IndexSink<'_>,
) -> Result<(PackReport, u64, W), ArchiveError> {
    let meta = fs_err::metadata(root).map_err(|source| io_at(root, source))?;
    if !meta.is_dir() {
        return Err(io_at(
            root,
            io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        ));
    }
    let mut packer = Packer {
        builder: Builder::new(Counting { inner: out, pos: 0 }),
        report: PackReport::default(),
        links: HashMap::new(),
        names: Names::load(),
        index,
        opts,
    };
    packer.builder.follow_symlinks(false);
    packer.dir(root, Path::new(""))?;
    let out = packer
        .builder
        .into_inner()
        .map_err(|source| io_at(Path::new("-"), source))?;
    Ok((packer.report, out.pos, out.inner))
}

/// A writer that counts what passes: the offset in the tar stream.
struct Counting<W> {
    inner: W,
    pos: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn io_at(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Packer<'a, W: Write> {
    builder: Builder<Counting<W>>,
    report: PackReport,
    /// (device, inode) of files with more than one link → their first path in the archive.
    links: HashMap<(u64, u64), PathBuf>,
    names: Names,
    index: IndexSink<'a>,
    opts: PackOptions,
}

impl<W: Write> Packer<'_, W> {
    fn pos(&self) -> u64 {
        self.builder.get_ref().pos
    }

    /// Hands the entry just written (from `start`) to the index.
    fn indexed(
        &mut self,
        h: &Header,
        name: &Path,
        start: u64,
        blake3: Option<blake3::Hash>,
        link: Option<&Path>,
    ) -> Result<(), ArchiveError> {
        let Some(kind) = EntryKind::of(h.entry_type()) else {
            return Ok(());
        };
        let size = if kind == EntryKind::File {
            h.size().unwrap_or(0)
        } else {
            0
        };
        let end = self.pos();
        let e = IndexEntry {
            kind,
            path: name.as_os_str().as_bytes().to_vec(),
            start,
            data: end - size.div_ceil(512) * 512,
            size,
            mtime: h.mtime().unwrap_or(0),
            mode: h.mode().unwrap_or(0) & 0o7777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            blake3,
            link: link.map(|l| l.as_os_str().as_bytes().to_vec()),
        };
        (self.index)(&e).map_err(|source| io_at(Path::new("the tar index"), source))?;
        self.report.entries += 1;
        Ok(())
    }

    /// Writes the entries of the directory `dir` (archive path `rel`), sorted by name.
    fn dir(&mut self, dir: &Path, rel: &Path) -> Result<(), ArchiveError> {
        let listing = match fs_err::read_dir(dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !rel.as_os_str().is_empty() => {
                self.warn(PackWarning::Vanished(dir.to_path_buf()));
                return Ok(());
            }
            Err(e) => return Err(io_at(dir, e)),
        };
        let mut names: Vec<OsString> = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| io_at(dir, e))?;
            names.push(entry.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let rel = rel.join(&name);
            if !self.opts.exclude.is_empty() && !self.opts.exclude.admits(&rel.to_string_lossy()) {
                continue;
            }
            self.entry(&path, &rel)?;
        }
        Ok(())
    }

    /// With `xattrs`, writes the PAX header holding the extended attributes of `source`
    /// (`path` on disk). Returns false when the path vanished.
    fn xattrs(&mut self, path: &Path, source: &xattrs::Source<'_>) -> Result<bool, ArchiveError> {
        if !self.opts.xattrs {
            return Ok(true);
        }
        let (attrs, odd) = match xattrs::read(source) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.warn(PackWarning::Vanished(path.to_path_buf()));
                return Ok(false);
            }
            Err(e) => return Err(io_at(path, e)),
        };
        if !odd.is_empty() {
            let names = odd
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
            self.warn(PackWarning::XattrName(path.to_path_buf(), names));
        }
        if !attrs.is_empty() {
            let records = xattrs::pax_records(&attrs);
            let bytes = xattrs::pax_len(&records);
            if bytes > super::entries::MAX_RECORD_BYTES {
                // haul's reader, and libarchive's, refuse such a header: the archive would
                // not come back.
                self.warn(PackWarning::XattrsTooLarge(path.to_path_buf(), bytes));
                return Ok(true);
            }
            self.builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(|e| io_at(path, e))?;
        }
        Ok(true)
    }

    fn warn(&mut self, w: PackWarning) {
        tracing::warn!("{w}");
        self.report.warnings.push(w);
    }

    fn header(&self, meta: &std::fs::Metadata, kind: EntryType) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        if let Some(n) = self.names.user(meta.uid()) {
            // A name longer than the field is left out: the numeric id still restores.
            let _ = h.set_username(n);
        }
        if let Some(n) = self.names.group(meta.gid()) {
            let _ = h.set_groupname(n);
        }
        h.set_size(0);
        h
    }

    fn entry(&mut self, path: &Path, rel: &Path) -> Result<(), ArchiveError> {
        let meta = match fs_err::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.warn(PackWarning::Vanished(path.to_path_buf()));
                return Ok(());
            }
            Err(e) => return Err(io_at(path, e)),
        };
        let ft = meta.file_type();
        let w = |e| io_at(path, e);
        let start = self.pos();
        let on_disk = xattrs::Source::Path(path);
        if ft.is_dir() {
            if !self.xattrs(path, &on_disk)? {
                return Ok(());
            }
            let mut h = self.header(&meta, EntryType::Directory);
            let name = dir_name(rel);
            self.builder
                .append_data(&mut h, &name, io::empty())
                .map_err(w)?;
            self.indexed(&h, &name, start, None, None)?;
            return self.dir(path, rel);
        }
        if ft.is_symlink() {
            let target = match fs_err::read_link(path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.warn(PackWarning::Vanished(path.to_path_buf()));
                    return Ok(());
                }
                Err(e) => return Err(w(e)),
            };
            if !self.xattrs(path, &on_disk)? {
                return Ok(());
            }
            let mut h = self.header(&meta, EntryType::Symlink);
            self.builder.append_link(&mut h, rel, &target).map_err(w)?;
            return self.indexed(&h, rel, start, None, Some(&target));
        }
        if ft.is_socket() {
            self.warn(PackWarning::Socket(path.to_path_buf()));
            return Ok(());
        }
        if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_fifo() {
                EntryType::Fifo
            } else if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            };
            if !self.xattrs(path, &on_disk)? {
                return Ok(());
            }
            let mut h = self.header(&meta, kind);
            let dev = meta.rdev();
            h.set_device_major(dev_major(dev)).map_err(w)?;
            h.set_device_minor(dev_minor(dev)).map_err(w)?;
            self.builder
                .append_data(&mut h, rel, io::empty())
                .map_err(w)?;
            return self.indexed(&h, rel, start, None, None);
        }
        self.file(path, rel, start)
    }

    fn file(&mut self, path: &Path, rel: &Path, start: u64) -> Result<(), ArchiveError> {
        let w = |e| io_at(path, e);
        let mut file = match fs_err::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.warn(PackWarning::Vanished(path.to_path_buf()));
                return Ok(());
            }
            Err(e) => return Err(w(e)),
        };
        // The open file's own metadata: what is read is this inode, whatever the path names
        // by now.
        let meta = file.metadata().map_err(w)?;
        if meta.nlink() > 1 {
            let id = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&id) {
                let mut h = self.header(&meta, EntryType::Link);
                let first = first.clone();
                self.builder.append_link(&mut h, rel, &first).map_err(w)?;
                return self.indexed(&h, rel, start, None, Some(&first));
            }
            self.links.insert(id, rel.to_path_buf());
        }
        self.xattrs(path, &xattrs::Source::Open(file.file().as_fd()))?;
        let size = meta.len();
        let mut h = self.header(&meta, EntryType::Regular);
        h.set_size(size);
        let mut body = Exactly {
            inner: &mut file,
            left: size,
            short: false,
            hash: blake3::Hasher::new(),
        };
        self.builder
            .append_data(
                &mut h,
                rel,
                io::BufReader::with_capacity(HASH_CHUNK, &mut body),
            )
            .map_err(w)?;
        let short = body.short;
        let hash = body.hash.finalize();
        self.indexed(&h, rel, start, Some(hash), None)?;
        self.report.content_bytes += size;
        // Grown, shrunk (a short read was padded) or rewritten while read?
        let after = file.metadata().map_err(w)?;
        if short
            || after.len() != size
            || after.mtime() != meta.mtime()
            || after.mtime_nsec() != meta.mtime_nsec()
        {
            self.warn(PackWarning::Changed(path.to_path_buf()));
        }
        Ok(())
    }
}

/// A directory's name in the archive: with a trailing `/`, as GNU tar writes it.
fn dir_name(rel: &Path) -> PathBuf {
    let mut s = rel.as_os_str().to_os_string();
    s.push("/");
    PathBuf::from(s)
}

/// Bytes a file is read and hashed in at a time (chosen: 256 KiB, where BLAKE3's SIMD paths
/// run at full speed and the read syscalls cost nothing).
const HASH_CHUNK: usize = 256 * 1024;

/// Exactly `left` bytes of `inner`: cut off where the file grew, zeros where it shrank; what
/// it yields is hashed.
struct Exactly<R> {
    inner: R,
    left: u64,
    short: bool,
    hash: blake3::Hasher,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let Some(out) = out.get_mut(..want) else {
            return Ok(0);
        };
        let n = if self.short {
            0
        } else {
            loop {
                match self.inner.read(out) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => break r?,
                }
            }
        };
        if n == 0 {
            // The file ended before its declared size: pad with zeros.
            self.short = true;
            out.fill(0);
            self.hash.update(out);
            self.left -= want as u64;
            return Ok(want);
        }
        self.hash.update(out.get(..n).unwrap_or_default());
        self.left -= n as u64;
        Ok(n)
    }
}

/// The major number of a `dev_t` (glibc's `gnu_dev_major`).
fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

/// The minor number of a `dev_t` (glibc's `gnu_dev_minor`).
fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

/// User and group names by id, from `/etc/passwd` and `/etc/group` (what GNU tar puts in
/// `uname`/`gname`; no NSS lookups: a missing file gives numeric ids only).
struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    fn load() -> Self {
        Self {
            users: id_names("/etc/passwd"),
            groups: id_names("/etc/group"),
        }
    }

    fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

/// `name:x:id:...` lines of a passwd or group file.
fn id_names(file: &str) -> HashMap<u32, String> {
    let text = fs_err::read_to_string(file).unwrap_or_default();
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            map.entry(id).or_insert_with(|| name.to_owned());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_pads_and_cuts() {
        let mut out = Vec::new();
        let mut short = Exactly {
            inner: &b"abc"[..],
            left: 6,
            short: false,
            hash: blake3::Hasher::new(),
        };
        short.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc\0\0\0");
        assert!(short.short);
        let mut out = Vec::new();
        let mut long = Exactly {
            inner: &b"abcdef"[..],
            left: 4,
            short: false,
            hash: blake3::Hasher::new(),
        };
        long.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
        assert_eq!(long.hash.finalize(), blake3::hash(b"abcd"));
    }

    #[test]
    fn device_numbers() {
        assert_eq!((dev_major(0x801), dev_minor(0x801)), (8, 1));
        let dev = rustix::fs::makedev(259, 65_537);
        assert_eq!((dev_major(dev), dev_minor(dev)), (259, 65537));
    }
}
