//! The unpacker: a tar stream extracted under one directory, which nothing in the archive
//! may leave.
//!
//! Every entry passes these rules; one that breaks a rule stops the extraction with
//! [`ArchiveError::Refused`] naming the entry and the rule (the CVE class each prevents in
//! brackets):
//!
//! | rule | refuses |
//! | --- | --- |
//! | `parent-dir` | a path with a `..` component (path traversal, "zip slip") |
//! | `absolute-path` | an absolute path (`/etc/passwd`) |
//! | `through-symlink` | any entry whose parent directory is a symlink on disk, whether the archive or the directory put it there (write through a planted symlink, CVE-2007-4131 class) |
//! | `symlink-outside` | a symlink whose target is absolute or climbs above DIR (a later entry or user would follow it out) |
//! | `hardlink-outside` | a hardlink whose target is absolute, has `..`, is reached through a symlink, or does not exist under DIR (link to `/etc/shadow`) |
//! | `device` | a character or block device without `allow_devices` |
//! | `setid` | a mode with the setuid or setgid bit without `allow_setid` |
//! | `unsupported-type` | an entry type haul does not extract (e.g. a GNU volume header) |
//! | `record-too-large` | a PAX or GNU long-name record over 1 MiB, a GNU sparse map over 16 MiB, content on an entry that is not a file over 1 MiB (memory exhaustion: the record would be read whole into memory; see [`mod@super::entries`]) |
//! | `no-space` | a file larger than the free space of DIR's filesystem, less a margin, checked before anything of it is written (a decompression bomb filling the disk) |
//!
//! Files are written to a temporary name (`.haul-tar.PID.N`) beside their final name and
//! renamed when complete, so a truncated or corrupt archive leaves no half-written file under
//! a final name: the error names the entry being read. Directories get their mode and mtime
//! after everything under them is written (a read-only directory would refuse its
//! children), in reverse order, as GNU tar does. Ownership is restored from the numeric
//! ids (as `--numeric-owner`) with `same_owner`.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;

use fs_err::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use super::ArchiveError;
use super::entries::{self, TarReader};
use super::xattrs::{self, XattrRestore};

/// An extraction rule (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractRule {
    /// A `..` component.
    ParentDir,
    /// An absolute path.
    AbsolutePath,
    /// Written through a symlink.
    ThroughSymlink,
    /// A symlink pointing outside the directory.
    SymlinkOutside,
    /// A hardlink to a target outside the directory (or not in it).
    HardlinkOutside,
    /// A device node without `allow_devices`.
    Device,
    /// A setuid or setgid bit without `allow_setid`.
    SetId,
    /// An entry type haul does not extract (its type byte).
    UnsupportedType(u8),
    /// A record over its limit ([`super::entries::MAX_RECORD_BYTES`]): a PAX or GNU
    /// long-name record, a GNU sparse map (`kind` `S`), or the content of an entry that is
    /// not a file.
    RecordTooLarge {
        /// The type byte of the header that declares it.
        kind: u8,
        /// The bytes it declares (a sparse map: the bytes read when it was refused).
        declared: u64,
    },
    /// A file larger than the destination has room for.
    NoSpace {
        /// The file's size, as its header declares it.
        declared: u64,
        /// The bytes free to unprivileged users on the destination's filesystem.
        free: u64,
        /// What haul leaves free of them.
        kept: u64,
    },
}

/// `bytes` for people: `5.0 GiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss, reason = "an approximation for a message")]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"?"))
    }
}

/// The name of the record a type byte declares, for [`ExtractRule::RecordTooLarge`].
fn record_name(kind: u8) -> &'static str {
    match kind {
        b'x' => "a PAX extended header",
        b'g' => "a PAX global header",
        b'L' => "a GNU long name",
        b'K' => "a GNU long link name",
        b'5' => "a directory",
        b'2' => "a symlink",
        b'1' => "a hard link",
        b'3' | b'4' => "a device",
        b'6' => "a fifo",
        _ => "an entry that is not a file",
    }
}

impl std::fmt::Display for ExtractRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ParentDir => {
                f.write_str("rule parent-dir: a `..` component would leave the directory")
            }
            Self::AbsolutePath => {
                f.write_str("rule absolute-path: absolute paths are not extracted")
            }
            Self::ThroughSymlink => {
                f.write_str("rule through-symlink: a parent directory is a symlink")
            }
            Self::SymlinkOutside => f.write_str(
                "rule symlink-outside: the symlink's target is absolute or outside the directory",
            ),
            Self::HardlinkOutside => f.write_str(
                "rule hardlink-outside: the hardlink's target is not a path inside the directory",
            ),
            Self::Device => {
                f.write_str("rule device: device nodes are extracted only with --allow-devices")
            }
            Self::SetId => {
                f.write_str("rule setid: setuid/setgid modes are extracted only with --allow-setid")
            }
            Self::UnsupportedType(t) => write!(
                f,
                "rule unsupported-type: entry type {:?} is not extracted",
                char::from(*t)
            ),
            Self::RecordTooLarge {
                kind: b'S',
                declared,
            } => write!(
                f,
                "rule record-too-large: a GNU sparse map longer than {declared} bytes ({}), over haul's limit of {} bytes",
                human(*declared),
                super::entries::MAX_SPARSE_MAP_BYTES
            ),
            Self::RecordTooLarge {
                kind: kind @ (b'x' | b'g' | b'L' | b'K'),
                declared,
            } => write!(
                f,
                "rule record-too-large: {} (type {:?}) declares {declared} bytes ({}), over haul's limit of {} bytes for such a record; not read",
                record_name(*kind),
                char::from(*kind),
                human(*declared),
                super::entries::MAX_RECORD_BYTES
            ),
            Self::RecordTooLarge { kind, declared } => write!(
                f,
                "rule record-too-large: {} (type {:?}) declares {declared} bytes ({}) of content, over haul's limit of {} bytes for an entry that is not a file; not read",
                record_name(*kind),
                char::from(*kind),
                human(*declared),
                super::entries::MAX_RECORD_BYTES
            ),
            Self::NoSpace {
                declared,
                free,
                kept,
            } => write!(
                f,
                "rule no-space: the file declares {declared} bytes ({}), more than the destination's filesystem has free: {free} bytes ({}), of which haul keeps {} free; nothing of it written",
                human(*declared),
                human(*free),
                human(*kept)
            ),
        }
    }
}

/// How to extract.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Restore owners from the archive's numeric uid/gid (needs root).
    pub same_owner: bool,
    /// Create character and block devices.
    pub allow_devices: bool,
    /// Keep setuid and setgid bits (and, with `xattrs`, `security.capability`).
    pub allow_setid: bool,
    /// Which extended attributes to restore from the archive's PAX records.
    pub xattrs: XattrRestore,
}

/// What an extraction wrote.
#[derive(Debug, Default, Clone)]
pub struct UnpackReport {
    /// Entries extracted.
    pub entries: u64,
    /// Bytes of file content written.
    pub content_bytes: u64,
    /// `--only` paths that selected nothing.
    pub unmatched: Vec<PathBuf>,
    /// What could not be restored but did not stop the extraction (an extended attribute
    /// the filesystem or the user's privileges refuse), each naming its entry.
    pub warnings: Vec<String>,
}

/// Attributes of one entry to restore.
#[derive(Debug, Clone, Copy)]
struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

/// Extracts the (decompressed) tar stream `input` under `dir`, created if missing, by the
/// rules of this module.
///
/// # Errors
/// [`ArchiveError::Refused`] for an entry breaking a rule, [`ArchiveError::Corrupt`] for a
/// truncated or corrupt archive (naming the entry), [`ArchiveError::Io`] for local failures.
pub fn unpack<R: Read>(
    input: R,
    dir: &Path,
    opts: UnpackOptions,
) -> Result<UnpackReport, ArchiveError> {
    unpack_selected(input, dir, opts, None)
}

/// As [`unpack`], extracting only the entries `only` selects (the others are read past);
/// every rule applies to what is extracted.
///
/// # Errors
/// As [`unpack`].
pub fn unpack_selected<R: Read>(
    input: R,
    dir: &Path,
    opts: UnpackOptions,
    mut only: Option<&mut Selection>,
) -> Result<UnpackReport, ArchiveError> {
    let mut x = Extractor::new(dir, opts)?;
    let mut reader = TarReader::new(input);
    let mut last = String::from("the start of the archive");
    {
        let mut entries = reader.entries()?;
        while let Some(mut entry) = entries.next_entry(|| format!("the entry after {last}"))? {
            let raw = entry
                .path()
                .map_err(|source| ArchiveError::Corrupt {
                    entry: format!("the entry after {last}"),
                    source,
                })?
                .into_owned();
            last = raw.display().to_string();
            if let Some(only) = only.as_deref_mut()
                && !only.select(&raw)
            {
                continue;
            }
            x.entry(&mut entry, &raw, &last)?;
        }
    }
    reader.finish(&last)?;
    let mut report = x.finish()?;
    report.unmatched = only.map(|s| s.unmatched()).unwrap_or_default();
    Ok(report)
}

fn io_at(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `raw` as a relative path of normal components (`.` dropped), or the rule it breaks.
fn relative(raw: &Path) -> Result<PathBuf, ExtractRule> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(ExtractRule::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(ExtractRule::AbsolutePath),
        }
    }
    Ok(out)
}

/// Whether the symlink target `target`, in the directory `parent` (relative to the root),
/// stays inside the root when resolved lexically. Every symlink in the root is checked by
/// this rule as it is made, and nothing is written through one, so lexical resolution is
/// enough.
fn symlink_stays_inside(parent: &Path, target: &Path) -> bool {
    let mut depth = parent.components().count();
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// The paths `tar pull --only` restores: each names an entry, and a directory everything
/// under it. Paths are compared after dropping `./` and trailing `/`.
#[derive(Debug, Clone)]
pub struct Selection {
    paths: Vec<(PathBuf, bool)>,
}

impl Selection {
    /// A selection of `paths`.
    #[must_use]
    pub fn new(paths: &[PathBuf]) -> Self {
        Self {
            paths: paths
                .iter()
                .map(|p| {
                    let p: PathBuf = p
                        .components()
                        .filter(|c| !matches!(c, Component::CurDir))
                        .collect();
                    (p, false)
                })
                .collect(),
        }
    }

    /// Whether the archive path `raw` is selected (and marks what selected it).
    pub fn select(&mut self, raw: &Path) -> bool {
        let raw: PathBuf = raw
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        let mut hit = false;
        for (p, seen) in &mut self.paths {
            if raw.starts_with(&*p) {
                *seen = true;
                hit = true;
            }
        }
        hit
    }

    /// The paths that selected nothing.
    #[must_use]
    pub fn unmatched(&self) -> Vec<PathBuf> {
        self.paths
            .iter()
            .filter(|(_, seen)| !seen)
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// The free space of a filesystem, from `statvfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FreeSpace {
    /// Bytes free to unprivileged users (`f_bavail`). Also for root: the blocks only root
    /// may use (`f_bfree` beyond it) are not always there to write (a host here reports
    /// 240 GB `f_bfree` against 80 GB `f_bavail`, and writes stop at the latter).
    pub(crate) available: u64,
    /// Bytes of the whole filesystem (`f_blocks`).
    pub(crate) total: u64,
}

/// The free space of the filesystem holding `dir`; `None` for a filesystem that reports no
/// size (`f_blocks` 0: pseudo and some FUSE filesystems), or when it cannot be asked (the
/// write itself then reports a full disk).
fn free_space(dir: &Path) -> Option<FreeSpace> {
    match rustix::fs::statvfs(dir) {
        Ok(s) if s.f_blocks > 0 => Some(FreeSpace {
            available: s.f_bavail.saturating_mul(s.f_frsize),
            total: s.f_blocks.saturating_mul(s.f_frsize),
        }),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("statvfs {}: {e}: free space not checked", dir.display());
            None
        }
    }
}

/// What haul leaves free on the destination's filesystem: 1% of it, at most
/// [`KEEP_FREE_MAX_BYTES`], for the filesystem's own metadata and the rest of the system.
fn kept_free(total: u64) -> u64 {
    (total / 100).min(KEEP_FREE_MAX_BYTES)
}

/// The most haul leaves free (chosen: 64 MiB, a margin for directory blocks and the other
/// processes writing there, small next to any disk that holds a backup).
const KEEP_FREE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The disk a file of `size` bytes takes: its content and, for the filesystems that map
/// blocks one by one (ext2/3: 4 bytes per 4 KiB block), 1/512 more for the map (twice the
/// need); extent-based filesystems need far less.
fn disk_bytes(size: u64) -> u64 {
    size.saturating_add(size / 512)
}

/// The running total of an extraction against the destination's free space: a file is
/// admitted when it fits in what was left at the last measure less what was admitted
/// since, else the free space is measured again (files replaced or deleted may have freed
/// some), so many files that each fit alone are refused once together they do not, without
/// a `statvfs` per file.
#[derive(Debug, Default)]
pub(crate) struct Room {
    /// Bytes that may still be written before measuring again.
    left: Option<u64>,
}

impl Room {
    /// Admits a file of `size` bytes, measuring with `measure` when needed; `Err` with the
    /// rule to refuse it by.
    pub(crate) fn admit(
        &mut self,
        size: u64,
        measure: impl FnOnce() -> Option<FreeSpace>,
    ) -> Result<(), ExtractRule> {
        let needed = disk_bytes(size);
        if let Some(left) = self.left
            && needed <= left
        {
            self.left = Some(left - needed);
            return Ok(());
        }
        let Some(space) = measure() else {
            // Nothing to check against: the write reports a full disk.
            self.left = None;
            return Ok(());
        };
        let kept = kept_free(space.total);
        let usable = space.available.saturating_sub(kept);
        if needed > usable {
            self.left = Some(usable);
            return Err(ExtractRule::NoSpace {
                declared: size,
                free: space.available,
                kept,
            });
        }
        self.left = Some(usable - needed);
        Ok(())
    }
}

/// Extracts entries one at a time under a root (see the module documentation).
pub(crate) struct Extractor {
    root: PathBuf,
    opts: UnpackOptions,
    report: UnpackReport,
    /// Directories extracted, with what to restore once their contents are in.
    dirs: Vec<(PathBuf, Attrs)>,
    temps: u64,
    /// The BLAKE3 the next file's content must have (from an index).
    expect: Option<blake3::Hash>,
    /// The destination's free space, as files are admitted.
    room: Room,
}

impl Extractor {
    /// An extractor into `dir`, created if missing.
    pub(crate) fn new(dir: &Path, opts: UnpackOptions) -> Result<Self, ArchiveError> {
        fs_err::create_dir_all(dir).map_err(|source| io_at(dir, source))?;
        Ok(Self {
            root: dir.to_path_buf(),
            opts,
            report: UnpackReport::default(),
            dirs: Vec::new(),
            temps: 0,
            expect: None,
            room: Room::default(),
        })
    }

    /// The next file extracted must hash to `hash`, or it is not renamed into place.
    pub(crate) fn expect_hash(&mut self, hash: Option<blake3::Hash>) {
        self.expect = hash;
    }

    /// Restores the directories' attributes and returns the report.
    pub(crate) fn finish(mut self) -> Result<UnpackReport, ArchiveError> {
        self.finish_dirs()?;
        Ok(self.report)
    }

    fn refuse(name: &str, rule: ExtractRule) -> ArchiveError {
        ArchiveError::Refused {
            entry: name.to_owned(),
            rule,
        }
    }

    /// Makes the parents of `rel` (each a real directory, never a symlink) and returns the
    /// full path of `rel`.
    fn prepare(&self, rel: &Path, name: &str) -> Result<PathBuf, ArchiveError> {
        let mut at = self.root.clone();
        let parents: Vec<_> = rel
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        for c in parents {
            at.push(c);
            match fs_err::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Self::refuse(name, ExtractRule::ThroughSymlink));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(io_at(
                        &at,
                        io::Error::new(io::ErrorKind::NotADirectory, "a parent is not a directory"),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs_err::create_dir(&at).map_err(|source| io_at(&at, source))?;
                }
                Err(e) => return Err(io_at(&at, e)),
            }
        }
        Ok(self.root.join(rel))
    }

    pub(crate) fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        name: &str,
    ) -> Result<(), ArchiveError> {
        let rel = relative(raw).map_err(|rule| Self::refuse(name, rule))?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let corrupt = |source| ArchiveError::Corrupt {
            entry: name.to_owned(),
            source,
        };
        let (xa, unreadable) =
            xattrs::from_entry(entry, self.opts.xattrs, self.opts.allow_setid).map_err(corrupt)?;
        if unreadable {
            let w = format!(
                "{name}: a PAX record could not be read (an extended attribute value holding a newline byte, which the tar library cannot parse): not restored"
            );
            tracing::warn!("{w}");
            self.report.warnings.push(w);
        }
        let h = entry.header();
        let attrs = Attrs {
            mode: h.mode().map_err(corrupt)? & 0o7777,
            uid: u32::try_from(h.uid().map_err(corrupt)?).unwrap_or(u32::MAX),
            gid: u32::try_from(h.gid().map_err(corrupt)?).unwrap_or(u32::MAX),
            mtime: h.mtime().map_err(corrupt)?,
        };
        if attrs.mode & 0o6000 != 0 && !self.opts.allow_setid {
            return Err(Self::refuse(name, ExtractRule::SetId));
        }
        if rel.as_os_str().is_empty() {
            // `./`: the directory itself; its attributes are the caller's.
            return Ok(());
        }
        if entries::is_file(kind) {
            // Before anything is made for it, its parents included: a header declaring
            // 100 GB (a decompression bomb) is refused here, not when the disk is full.
            let root = &self.root;
            self.room
                .admit(entry.size(), || free_space(root))
                .map_err(|rule| Self::refuse(name, rule))?;
        }
        let path = self.prepare(&rel, name)?;
        match kind {
            EntryType::Directory => {
                match fs_err::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(Self::refuse(name, ExtractRule::ThroughSymlink));
                    }
                    Ok(_) => {
                        fs_err::remove_file(&path).map_err(|e| io_at(&path, e))?;
                        fs_err::create_dir(&path).map_err(|e| io_at(&path, e))?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        fs_err::create_dir(&path).map_err(|e| io_at(&path, e))?;
                    }
                    Err(e) => return Err(io_at(&path, e)),
                }
                self.set_xattrs(name, &xattrs::Source::Path(&path), &xa);
                self.dirs.push((path, attrs));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, &path, name, attrs, &xa)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| Self::refuse(name, ExtractRule::SymlinkOutside))?
                    .into_owned();
                let parent = rel.parent().unwrap_or(Path::new(""));
                if !symlink_stays_inside(parent, &target) {
                    return Err(Self::refuse(name, ExtractRule::SymlinkOutside));
                }
                replace_non_dir(&path)?;
                std::os::unix::fs::symlink(&target, &path).map_err(|e| io_at(&path, e))?;
                self.restore_nofollow(&path, attrs, false)?;
                self.set_xattrs(name, &xattrs::Source::Path(&path), &xa);
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| Self::refuse(name, ExtractRule::HardlinkOutside))?
                    .into_owned();
                let target_rel = relative(&target)
                    .map_err(|_| Self::refuse(name, ExtractRule::HardlinkOutside))?;
                if target_rel.as_os_str().is_empty() {
                    return Err(Self::refuse(name, ExtractRule::HardlinkOutside));
                }
                let source = self
                    .prepare_existing(&target_rel)
                    .ok_or_else(|| Self::refuse(name, ExtractRule::HardlinkOutside))?;
                replace_non_dir(&path)?;
                fs_err::hard_link(&source, &path).map_err(|e| io_at(&path, e))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if kind != EntryType::Fifo && !self.opts.allow_devices {
                    return Err(Self::refuse(name, ExtractRule::Device));
                }
                let ft = match kind {
                    EntryType::Char => rustix::fs::FileType::CharacterDevice,
                    EntryType::Block => rustix::fs::FileType::BlockDevice,
                    _ => rustix::fs::FileType::Fifo,
                };
                let h = entry.header();
                let major = h.device_major().map_err(corrupt)?.unwrap_or(0);
                let minor = h.device_minor().map_err(corrupt)?.unwrap_or(0);
                replace_non_dir(&path)?;
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &path,
                    ft,
                    rustix::fs::Mode::from_raw_mode(attrs.mode & 0o777),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|e| io_at(&path, e.into()))?;
                self.restore_nofollow(&path, attrs, true)?;
                self.set_xattrs(name, &xattrs::Source::Path(&path), &xa);
            }
            other => {
                return Err(Self::refuse(
                    name,
                    ExtractRule::UnsupportedType(other.as_byte()),
                ));
            }
        }
        self.report.entries += 1;
        Ok(())
    }

    /// The full path of an existing entry `rel` reached without passing a symlink.
    fn prepare_existing(&self, rel: &Path) -> Option<PathBuf> {
        let mut at = self.root.clone();
        let mut comps = rel.components().peekable();
        while let Some(c) = comps.next() {
            at.push(c);
            let m = fs_err::symlink_metadata(&at).ok()?;
            if comps.peek().is_some() && !m.is_dir() {
                return None;
            }
        }
        Some(at)
    }

    /// Sets the entry's extended attributes; what is refused becomes a warning.
    fn set_xattrs(&mut self, name: &str, target: &xattrs::Source<'_>, attrs: &[xattrs::Xattr]) {
        if attrs.is_empty() {
            return;
        }
        for failed in xattrs::write(target, attrs) {
            tracing::warn!("{name}: {failed}");
            self.report.warnings.push(format!("{name}: {failed}"));
        }
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        name: &str,
        attrs: Attrs,
        xa: &[xattrs::Xattr],
    ) -> Result<(), ArchiveError> {
        let size = entry.size();
        let dir = path.parent().unwrap_or(&self.root);
        self.temps += 1;
        let temp = dir.join(format!(".haul-tar.{}.{}", std::process::id(), self.temps));
        let result = (|| {
            let mut f = fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(|e| io_at(&temp, e))?;
            let mut hasher = blake3::Hasher::new();
            let copied = io::copy(
                &mut Hashing {
                    inner: entry,
                    hash: &mut hasher,
                },
                &mut f,
            )
            .map_err(|source| ArchiveError::Corrupt {
                entry: name.to_owned(),
                source,
            })?;
            if let Some(expected) = self.expect.take()
                && hasher.finalize() != expected
            {
                return Err(ArchiveError::Corrupt {
                    entry: name.to_owned(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the content does not match the BLAKE3 the index holds",
                    ),
                });
            }
            if copied != size {
                return Err(ArchiveError::Corrupt {
                    entry: name.to_owned(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("archive ended {copied} bytes into a {size}-byte file"),
                    ),
                });
            }
            if self.opts.same_owner {
                std::os::unix::fs::fchown(f.file(), Some(attrs.uid), Some(attrs.gid))
                    .map_err(|e| io_at(path, e))?;
            }
            // After chown, which clears setuid/setgid bits.
            f.file()
                .set_permissions(std::fs::Permissions::from_mode(attrs.mode))
                .map_err(|e| io_at(path, e))?;
            // After chown too, which clears `security.capability`.
            self.set_xattrs(name, &xattrs::Source::Open(f.file().as_fd()), xa);
            f.file()
                .set_modified(mtime(attrs.mtime))
                .map_err(|e| io_at(path, e))?;
            replace_non_dir(path)?;
            fs_err::rename(&temp, path).map_err(|e| io_at(path, e))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs_err::remove_file(&temp);
        }
        result?;
        self.report.content_bytes += size;
        Ok(())
    }

    /// Owner, mode (unless a symlink) and mtime of a non-regular entry, without following
    /// a symlink.
    fn restore_nofollow(&self, path: &Path, attrs: Attrs, chmod: bool) -> Result<(), ArchiveError> {
        if self.opts.same_owner {
            std::os::unix::fs::lchown(path, Some(attrs.uid), Some(attrs.gid))
                .map_err(|e| io_at(path, e))?;
        }
        if chmod {
            fs_err::set_permissions(path, std::fs::Permissions::from_mode(attrs.mode))
                .map_err(|e| io_at(path, e))?;
        }
        let t = rustix::fs::Timespec {
            tv_sec: i64::try_from(attrs.mtime).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            path,
            &rustix::fs::Timestamps {
                last_access: t,
                last_modification: t,
            },
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_at(path, e.into()))
    }

    /// Directories' owners, modes and mtimes, deepest (last extracted) first.
    fn finish_dirs(&mut self) -> Result<(), ArchiveError> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, attrs) in dirs.into_iter().rev() {
            self.restore_nofollow(&path, attrs, true)?;
        }
        Ok(())
    }
}

/// A reader that hashes what it yields.
struct Hashing<'a, R> {
    inner: R,
    hash: &'a mut blake3::Hasher,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(out.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Removes a file or symlink at `path` (a new entry replaces it, as GNU tar does); a
/// directory stays and makes the caller's create fail.
fn replace_non_dir(path: &Path) -> Result<(), ArchiveError> {
    match fs_err::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => fs_err::remove_file(path).map_err(|e| io_at(path, e)),
        _ => Ok(()),
    }
}

fn mtime(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    //! Crafted malicious archives, one per rule, each checked to leave nothing outside.
    use super::*;
    use crate::archive::PackOptions;
    use std::os::unix::fs::MetadataExt;
    use tar::{Builder, Header};

    /// A header whose name is written raw (the tar crate's `set_path` refuses `..`).
    fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        let field = &mut h.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn link(name: &str, kind: EntryType, target: &str) -> Header {
        let mut h = header(name, kind, 0, 0o777);
        let field = &mut h.as_old_mut().linkname;
        field[..target.len()].copy_from_slice(target.as_bytes());
        h
    }

    fn archive(entries: &[(Header, &[u8])]) -> Vec<u8> {
        let mut b = Builder::new(Vec::new());
        for (h, data) in entries {
            let mut h = h.clone();
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Extracts into `sandbox/dir`; returns the result and asserts nothing appeared in
    /// `sandbox` beside `dir`.
    fn extract(
        bytes: &[u8],
        opts: UnpackOptions,
    ) -> (tempfile::TempDir, Result<UnpackReport, ArchiveError>) {
        let sandbox = tempfile::tempdir().unwrap();
        let dir = sandbox.path().join("dir");
        let r = unpack(bytes, &dir, opts);
        let beside: Vec<_> = fs_err::read_dir(sandbox.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            beside,
            vec![std::ffi::OsString::from("dir")],
            "wrote outside"
        );
        (sandbox, r)
    }

    fn refused(bytes: &[u8]) -> ExtractRule {
        match extract(bytes, UnpackOptions::default()).1 {
            Err(ArchiveError::Refused { rule, .. }) => rule,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn parent_dir_and_absolute_paths_are_refused() {
        let a = archive(&[(header("../evil", EntryType::Regular, 1, 0o644), b"x")]);
        assert_eq!(refused(&a), ExtractRule::ParentDir);
        let a = archive(&[(header("ok/../../evil", EntryType::Regular, 1, 0o644), b"x")]);
        assert_eq!(refused(&a), ExtractRule::ParentDir);
        let a = archive(&[(header("/tmp/haul-evil", EntryType::Regular, 1, 0o644), b"x")]);
        assert_eq!(refused(&a), ExtractRule::AbsolutePath);
        let a = archive(&[(header("../", EntryType::Directory, 0, 0o755), b"")]);
        assert_eq!(refused(&a), ExtractRule::ParentDir);
    }

    #[test]
    fn symlinks_pointing_outside_are_refused() {
        let a = archive(&[(link("l", EntryType::Symlink, "/etc"), b"")]);
        assert_eq!(refused(&a), ExtractRule::SymlinkOutside);
        let a = archive(&[(link("a/l", EntryType::Symlink, "../../x"), b"")]);
        assert_eq!(refused(&a), ExtractRule::SymlinkOutside);
        // Inside is fine, also climbing to the root.
        let a = archive(&[(link("a/b/l", EntryType::Symlink, "../../x"), b"")]);
        let (sandbox, r) = extract(&a, UnpackOptions::default());
        r.unwrap();
        let l = sandbox.path().join("dir/a/b/l");
        assert_eq!(fs_err::read_link(l).unwrap(), PathBuf::from("../../x"));
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        // The archive's own symlink, inside, then a file through it.
        let a = archive(&[
            (header("sub/", EntryType::Directory, 0, 0o755), b""),
            (link("d", EntryType::Symlink, "sub"), b""),
            (header("d/x", EntryType::Regular, 1, 0o644), b"x"),
        ]);
        assert_eq!(refused(&a), ExtractRule::ThroughSymlink);
        // A symlink already in the directory, pointing outside.
        let sandbox = tempfile::tempdir().unwrap();
        let outside = sandbox.path().join("outside");
        let dir = sandbox.path().join("dir");
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("out")).unwrap();
        let a = archive(&[(header("out/x", EntryType::Regular, 1, 0o644), b"x")]);
        let r = unpack(&a[..], &dir, UnpackOptions::default());
        assert!(matches!(
            r,
            Err(ArchiveError::Refused {
                rule: ExtractRule::ThroughSymlink,
                ..
            })
        ));
        assert!(fs_err::read_dir(&outside).unwrap().next().is_none());
        // A directory entry over a symlink does not follow it either.
        let a = archive(&[(header("out/", EntryType::Directory, 0, 0o700), b"")]);
        let r = unpack(&a[..], &dir, UnpackOptions::default());
        assert!(matches!(r, Err(ArchiveError::Refused { .. })));
    }

    #[test]
    fn a_file_replaces_a_planted_symlink_instead_of_following_it() {
        let sandbox = tempfile::tempdir().unwrap();
        let target = sandbox.path().join("target");
        fs_err::write(&target, b"precious").unwrap();
        let dir = sandbox.path().join("dir");
        fs_err::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("f")).unwrap();
        let a = archive(&[(header("f", EntryType::Regular, 3, 0o644), b"new")]);
        unpack(&a[..], &dir, UnpackOptions::default()).unwrap();
        assert_eq!(fs_err::read(&target).unwrap(), b"precious");
        assert_eq!(fs_err::read(dir.join("f")).unwrap(), b"new");
    }

    #[test]
    fn hardlinks_to_outside_are_refused() {
        for target in ["/etc/passwd", "../../etc/passwd", "missing", "a/../../x"] {
            let a = archive(&[(link("h", EntryType::Link, target), b"")]);
            assert_eq!(refused(&a), ExtractRule::HardlinkOutside, "{target}");
        }
        // Through a symlink to a directory.
        let a = archive(&[
            (link("s", EntryType::Symlink, "."), b""),
            (link("h", EntryType::Link, "s/s"), b""),
        ]);
        assert_eq!(refused(&a), ExtractRule::HardlinkOutside);
        // Inside: one inode.
        let a = archive(&[
            (header("f", EntryType::Regular, 2, 0o644), b"hi"),
            (link("h", EntryType::Link, "f"), b""),
        ]);
        let (sandbox, r) = extract(&a, UnpackOptions::default());
        r.unwrap();
        let f = fs_err::metadata(sandbox.path().join("dir/f")).unwrap();
        let h = fs_err::metadata(sandbox.path().join("dir/h")).unwrap();
        assert_eq!(f.ino(), h.ino());
    }

    #[test]
    fn devices_and_setid_need_their_flags() {
        let a = archive(&[(header("null", EntryType::Char, 0, 0o666), b"")]);
        assert_eq!(refused(&a), ExtractRule::Device);
        let a = archive(&[(header("disk", EntryType::Block, 0, 0o660), b"")]);
        assert_eq!(refused(&a), ExtractRule::Device);
        let a = archive(&[(header("suid", EntryType::Regular, 1, 0o4755), b"x")]);
        assert_eq!(refused(&a), ExtractRule::SetId);
        let a = archive(&[(header("sgid/", EntryType::Directory, 0, 0o2755), b"")]);
        assert_eq!(refused(&a), ExtractRule::SetId);
        // With the flag, the bit is kept.
        let opts = UnpackOptions {
            allow_setid: true,
            ..UnpackOptions::default()
        };
        let a = archive(&[(header("suid", EntryType::Regular, 1, 0o4755), b"x")]);
        let (sandbox, r) = extract(&a, opts);
        r.unwrap();
        let m = fs_err::metadata(sandbox.path().join("dir/suid")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    }

    #[test]
    fn truncated_archive_names_the_entry_and_leaves_no_file() {
        let body = vec![b'z'; 10_000];
        let a = archive(&[
            (header("first", EntryType::Regular, 2, 0o644), b"ok"),
            (header("big", EntryType::Regular, 10_000, 0o644), &body),
        ]);
        let cut = &a[..4_000];
        let (sandbox, r) = extract(cut, UnpackOptions::default());
        match r {
            Err(ArchiveError::Corrupt { entry, .. }) => assert_eq!(entry, "big"),
            other => panic!("expected corrupt, got {other:?}"),
        }
        let left: Vec<_> = fs_err::read_dir(sandbox.path().join("dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec!["first".to_owned()]);
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let a = archive(&[(header("f", EntryType::Regular, 5, 0o644), b"hello")]);
        let mut enc = super::super::Encoder::new(Vec::new(), super::super::Compression::Gzip);
        io::Write::write_all(&mut enc, &a).unwrap();
        let gz = enc.finish().unwrap().0;
        let cut = &gz[..gz.len() - 6];
        let sandbox = tempfile::tempdir().unwrap();
        let r = super::super::decoder(cut)
            .map_err(|e| ArchiveError::Io {
                path: PathBuf::new(),
                source: e,
            })
            .and_then(|d| unpack(d, sandbox.path(), UnpackOptions::default()));
        assert!(matches!(r, Err(ArchiveError::Corrupt { .. })), "{r:?}");
    }

    /// What is under `dir`, relative, sorted (temporary files included).
    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs_err::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_file_larger_than_the_free_space_is_refused_before_anything_is_written() {
        // 1 EiB: larger than any disk this runs on. A GNU base-256 size field, then a PAX
        // `size` record over a small ustar one; each followed by a few bytes only.
        let huge = 1u64 << 60;
        let mut gnu = header("a/b/huge", EntryType::Regular, huge, 0o644);
        gnu.set_cksum();
        let mut base256 = archive(&[(header("first", EntryType::Regular, 2, 0o644), b"ok")]);
        base256.truncate(base256.len() - 1024);
        base256.extend_from_slice(gnu.as_bytes());
        base256.extend_from_slice(&[b'z'; 4096]);
        let mut b = Builder::new(Vec::new());
        let mut first = header("first", EntryType::Regular, 2, 0o644);
        first.set_cksum();
        b.append(&first, &b"ok"[..]).unwrap();
        let size = huge.to_string();
        b.append_pax_extensions([("size", size.as_bytes())])
            .unwrap();
        let mut h = Header::new_ustar();
        h.set_path("a/b/huge").unwrap();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append(&h, &b"abc"[..]).unwrap();
        let pax = b.into_inner().unwrap();
        for bytes in [base256, pax] {
            let (sandbox, r) = extract(&bytes, UnpackOptions::default());
            match r {
                Err(ArchiveError::Refused {
                    entry,
                    rule: ExtractRule::NoSpace { declared, free, .. },
                }) => {
                    assert_eq!(entry, "a/b/huge");
                    assert_eq!(declared, huge);
                    assert!(free < huge);
                }
                other => panic!("expected no-space, got {other:?}"),
            }
            // Nothing of it: not its parents, not a temporary file.
            assert_eq!(listing(&sandbox.path().join("dir")), ["first"]);
        }
    }

    #[test]
    fn room_counts_the_files_admitted_since_it_last_measured() {
        use std::cell::Cell;
        let gib = 1u64 << 30;
        let measured = Cell::new(0);
        let disk = |available| {
            let measured = &measured;
            move || {
                measured.set(measured.get() + 1);
                Some(FreeSpace {
                    available,
                    total: 1000 * gib,
                })
            }
        };
        let mut room = Room::default();
        // 10 GiB free, 64 MiB kept: nine files of 1 GiB fit, one measure.
        for _ in 0..9 {
            room.admit(gib, disk(10 * gib)).unwrap();
        }
        assert_eq!(measured.get(), 1);
        // The tenth does not fit in what is left (the maps' share and the margin): measured
        // again, and the disk now has the 1 GiB the nine left: each fitted alone, together
        // they do not, so it is refused.
        let err = room.admit(gib, disk(gib)).unwrap_err();
        assert_eq!(measured.get(), 2);
        assert_eq!(
            err,
            ExtractRule::NoSpace {
                declared: gib,
                free: gib,
                kept: 64 << 20
            }
        );
        // Had something freed space meanwhile, the new measure admits it.
        room.admit(gib, disk(10 * gib)).unwrap();
        assert_eq!(measured.get(), 3);
        // Empty files always fit; a filesystem that reports no size is not checked.
        let mut room = Room::default();
        room.admit(0, disk(0)).unwrap();
        room.admit(1 << 50, || None).unwrap();
        // A small filesystem keeps 1% of itself.
        let mut room = Room::default();
        let small = || {
            Some(FreeSpace {
                available: 100 << 20,
                total: 1000 << 20,
            })
        };
        room.admit(89 << 20, small).unwrap();
        let mut room = Room::default();
        assert!(room.admit(91 << 20, small).is_err());
    }

    #[test]
    fn pack_then_unpack_gives_the_same_tree() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        let long = "d".repeat(60) + "/" + &"f".repeat(120);
        fs_err::create_dir_all(s.join("empty")).unwrap();
        fs_err::create_dir_all(s.join(&long).parent().unwrap()).unwrap();
        fs_err::write(s.join(&long), b"long name").unwrap();
        fs_err::write(s.join("a.txt"), b"alpha").unwrap();
        fs_err::set_permissions(s.join("a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
        fs_err::hard_link(s.join("a.txt"), s.join("b-hard")).unwrap();
        std::os::unix::fs::symlink("a.txt", s.join("c-sym")).unwrap();
        let (report, _, bytes) =
            super::super::pack(s, Vec::new(), PackOptions::default(), &mut |_| Ok(())).unwrap();
        assert!(report.warnings.is_empty());
        // Deterministic: a second pack gives the same bytes.
        assert_eq!(
            super::super::pack(s, Vec::new(), PackOptions::default(), &mut |_| Ok(()))
                .unwrap()
                .2,
            bytes
        );
        let dst = tempfile::tempdir().unwrap();
        let d = dst.path();
        unpack(&bytes[..], d, UnpackOptions::default()).unwrap();
        assert_eq!(fs_err::read(d.join(&long)).unwrap(), b"long name");
        assert!(fs_err::metadata(d.join("empty")).unwrap().is_dir());
        assert_eq!(
            fs_err::read_link(d.join("c-sym")).unwrap(),
            PathBuf::from("a.txt")
        );
        let a = fs_err::metadata(d.join("a.txt")).unwrap();
        assert_eq!(a.ino(), fs_err::metadata(d.join("b-hard")).unwrap().ino());
        assert_eq!(a.mode() & 0o7777, 0o640);
        assert_eq!(
            a.mtime(),
            fs_err::metadata(s.join("a.txt")).unwrap().mtime()
        );
    }

    #[test]
    fn xattrs_round_trip_and_index_starts_at_the_pax_header() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs_err::create_dir(s.join("d")).unwrap();
        fs_err::write(s.join("d/f"), b"data").unwrap();
        let set = |p: &Path, n: &str, v: &[u8]| {
            rustix::fs::lsetxattr(p, n, v, rustix::fs::XattrFlags::empty())
        };
        if set(&s.join("d/f"), "user.k", b"v\0binary").is_err() {
            return; // no user xattrs on this filesystem
        }
        set(&s.join("d"), "user.dir", b"x").unwrap();
        let mut entries = Vec::new();
        let opts = PackOptions {
            xattrs: true,
            ..PackOptions::default()
        };
        let (_, _, bytes) = super::super::pack(s, Vec::new(), opts, &mut |e| {
            entries.push(e.clone());
            Ok(())
        })
        .unwrap();
        // The file's entry starts at its PAX header: two headers (PAX, then the file's) and
        // the PAX records' block come before its data.
        let f = entries.iter().find(|e| e.path == b"d/f").unwrap();
        assert_eq!(f.data - f.start, 3 * 512);
        let read = |d: &Path, p: &str| {
            let mut v = [0u8; 64];
            rustix::fs::lgetxattr(d.join(p), "user.k", &mut v[..]).map(|n| v[..n].to_vec())
        };
        for (restore, want) in [
            (XattrRestore::User, Some(b"v\0binary".to_vec())),
            (XattrRestore::None, None),
        ] {
            let dst = tempfile::tempdir().unwrap();
            let opts = UnpackOptions {
                xattrs: restore,
                ..UnpackOptions::default()
            };
            let report = unpack(&bytes[..], dst.path(), opts).unwrap();
            assert!(report.warnings.is_empty(), "{:?}", report.warnings);
            assert_eq!(read(dst.path(), "d/f").ok(), want);
            assert_eq!(fs_err::read(dst.path().join("d/f")).unwrap(), b"data");
        }
    }
}
