//! Files written under a temporary name beside their destination and renamed into place only
//! once complete and synced: a reader, a crash or a kill never sees a half-written file under
//! the final name.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Marker in temporary file names, so leftovers of a killed run are recognisable.
pub const PARTIAL_MARKER: &str = ".haul-partial";

/// The alignment of every direct write ([`PartialFile::use_direct_io`]): its file offset, its
/// length and the address of its data are multiples of it. 4096 is the largest logical block
/// size of the disks and filesystems in common use, so it satisfies all of them (a filesystem
/// that wants more refuses the write, and the file falls back to the page cache).
pub const DIRECT_ALIGN: usize = 4096;

/// A file being written. Dropped without [`PartialFile::persist`], it is removed.
#[derive(Debug)]
pub struct PartialFile {
    file: fs_err::File,
    temp: PathBuf,
    dest: PathBuf,
    persisted: bool,
    /// The length the file was created with: restored before the rename, since a direct
    /// write of the last, padded block may have run past it.
    len: Option<u64>,
    /// Data writes bypass the page cache (`O_DIRECT`).
    direct: AtomicBool,
}

impl PartialFile {
    /// Creates an empty temporary file in `dest`'s directory (creating the directory), sized
    /// to `len` bytes when given so that ranges can be written at their offsets.
    ///
    /// # Errors
    /// IO errors, naming the path.
    pub fn create(dest: &Path, len: Option<u64>) -> io::Result<Self> {
        Self::create_beneath(None, dest, len)
    }

    /// As [`PartialFile::create`]; with a `root`, `dest`'s directories are made with
    /// [`create_dirs_beneath`](super::create_dirs_beneath): never through a symlink below
    /// `root`.
    ///
    /// # Errors
    /// IO errors, naming the path; a symlink or non-directory between `root` and `dest`.
    pub fn create_beneath(root: Option<&Path>, dest: &Path, len: Option<u64>) -> io::Result<Self> {
        let dir = dest.parent().unwrap_or_else(|| Path::new("."));
        if let Some(root) = root {
            super::create_dirs_beneath(root, dir)?;
        } else if !dir.as_os_str().is_empty() {
            fs_err::create_dir_all(dir)?;
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Keep the temporary name within NAME_MAX: a long final name is shortened here.
        let short: String = name.chars().take(180).collect();
        let temp = dir.join(format!(
            ".{short}{PARTIAL_MARKER}-{:016x}",
            rand::random::<u64>()
        ));
        let file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Some(len) = len {
            file.set_len(len)?;
        }
        Ok(Self {
            file,
            temp,
            dest: dest.to_path_buf(),
            persisted: false,
            len,
            direct: AtomicBool::new(false),
        })
    }

    /// Switches the file's data writes to direct I/O (`O_DIRECT` on Linux): from the network
    /// buffer straight to the disk, with no copy into the page cache. For a large download,
    /// which is synced before its rename anyway, that copy is pure cost, and its price depends
    /// on the state of the machine's memory (BENCHMARKS.md, "The big download and the page
    /// cache": 2 GiB written through the page cache cost 0.5–2.9 s of system CPU there,
    /// directly 0.1–0.2 s); and gigabytes restored do not push the rest of the machine's
    /// working set out of memory. Every write must then be aligned ([`DIRECT_ALIGN`];
    /// [`PartialFile::write_direct_at`]). Returns whether the switch was made: a filesystem
    /// without direct I/O (tmpfs before Linux 6.6, some FUSE mounts) keeps the page cache.
    pub fn use_direct_io(&self) -> bool {
        let fd = self.file.file();
        let on = rustix::fs::fcntl_getfl(fd)
            .and_then(|flags| rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::DIRECT));
        match on {
            Ok(()) => {
                self.direct.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::debug!(path = %self.temp.display(), %e, "no direct I/O");
                false
            }
        }
    }

    /// Whether data writes bypass the page cache (see [`PartialFile::use_direct_io`]).
    #[must_use]
    pub fn is_direct(&self) -> bool {
        self.direct.load(Ordering::Relaxed)
    }

    /// Writes `data` at `offset` as [`PartialFile::write_at`] does; with direct I/O on,
    /// `offset`, `data.len()` and `data`'s address must be multiples of [`DIRECT_ALIGN`]
    /// (a last block padded past the file's end is cut off again before the rename). A
    /// filesystem that refuses the write (`EINVAL`: it wants another alignment, or no direct
    /// I/O after all) turns direct I/O off for this file, and the write and those after it go
    /// through the page cache.
    ///
    /// # Errors
    /// IO errors, naming the temporary path.
    pub fn write_direct_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        if !self.is_direct() {
            return self.write_at(data, offset);
        }
        match self.file.file().write_all_at(data, offset) {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                tracing::debug!(path = %self.temp.display(), %e, "direct write refused; buffered");
                self.buffered();
                self.write_at(data, offset)
            }
            r => r.map_err(|e| {
                io::Error::new(e.kind(), format!("write {}: {e}", self.temp.display()))
            }),
        }
    }

    /// Turns direct I/O off (the writes already made stay on the disk, and the kernel keeps
    /// the page cache coherent with them).
    /// The flag goes down only after `O_DIRECT` is off: another range that sees it down writes
    /// through the page cache at once ([`PartialFile::write_at`], which has no fallback).
    /// Should `fcntl` fail, the flag stays down and the retried write reports its error.
    fn buffered(&self) {
        let fd = self.file.file();
        if let Err(e) = rustix::fs::fcntl_getfl(fd)
            .and_then(|flags| rustix::fs::fcntl_setfl(fd, flags - rustix::fs::OFlags::DIRECT))
        {
            tracing::debug!(path = %self.temp.display(), %e, "direct I/O stays on");
        }
        self.direct.store(false, Ordering::Relaxed);
    }

    /// Writes `data` at `offset` (positional: ranges may arrive in any order, from any thread).
    ///
    /// # Errors
    /// IO errors, naming the temporary path.
    pub fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.file
            .file()
            .write_all_at(data, offset)
            .map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", self.temp.display())))
    }

    /// Starts writing `len` bytes at `offset` back to the disk, without waiting for it
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)` on Linux: asynchronous writeback of the range's
    /// dirty pages, and the release of those already clean). The pages just written are
    /// still dirty or under writeback when the advice returns, so they stay cached until the
    /// kernel reclaims them: the advice spreads the disk writes over the download, so that
    /// the fsync or `syncfs` that ends it waits for what is still in flight, not for the whole
    /// file at once; it does not keep the download out of the page cache (direct I/O does:
    /// [`PartialFile::use_direct_io`]). Nothing to do with direct I/O on. Best effort: when
    /// the advice fails, the final sync does all the writing.
    pub fn start_writeback(&self, offset: u64, len: u64) {
        let Some(len) = std::num::NonZeroU64::new(len).filter(|_| !self.is_direct()) else {
            return;
        };
        if let Err(e) = rustix::fs::fadvise(
            self.file.file(),
            offset,
            Some(len),
            rustix::fs::Advice::DontNeed,
        ) {
            tracing::debug!(path = %self.temp.display(), %e, "no early writeback");
        }
    }

    /// The temporary path.
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Sets the modification time the final file will carry. A padded last block of direct
    /// writes is cut off first: the truncation would set the mtime to now.
    ///
    /// # Errors
    /// IO errors, naming the path.
    pub fn set_modified(&self, mtime: SystemTime) -> io::Result<()> {
        self.trim()?;
        self.file.file().set_modified(mtime).map_err(|e| {
            io::Error::new(e.kind(), format!("set mtime {}: {e}", self.temp.display()))
        })
    }

    /// Records which object version the file holds ([`super::SyncedFrom`]). Filesystems
    /// without user extended attributes are tolerated: the record is an optimisation.
    pub fn record_synced(&self, from: &super::SyncedFrom) {
        if let Err(e) = from.record(self.file.file()) {
            tracing::debug!(path = %self.temp.display(), %e, "no xattr for the sync record");
        }
    }

    /// Sets the permission bits the final file will carry.
    ///
    /// # Errors
    /// IO errors, naming the path.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.file
            .file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io::Error::new(e.kind(), format!("chmod {}: {e}", self.temp.display())))
    }

    /// Cuts off a padded last block of direct writes ([`PartialFile::write_direct_at`]), syncs
    /// the data, then renames the file to its destination (replacing an older file). Set the
    /// mtime last of all writes: [`PartialFile::set_modified`] trims before it sets.
    ///
    /// # Errors
    /// IO errors, naming the path; the temporary file is removed on failure.
    pub fn persist(mut self) -> io::Result<PathBuf> {
        self.trim()?;
        self.file.sync_all()?;
        self.rename_into_place()
    }

    /// Cuts off what a padded direct write left past the length the file was created with
    /// (nothing to do, and no change to the mtime, when nothing was padded).
    fn trim(&self) -> io::Result<()> {
        match self.len {
            Some(len) if self.file.metadata()?.len() > len => self.file.set_len(len),
            _ => Ok(()),
        }
    }

    /// Renames the file to its destination without syncing it first: for a caller that syncs
    /// the whole filesystem once at the end ([`sync_filesystem`](super::sync_filesystem)).
    /// A crash of the process cannot expose a partial file (the page cache keeps what was
    /// written); a power loss before that sync can lose files renamed since the last one, as
    /// with tools that never fsync (rclone, s5cmd, aws), so the caller reports success only
    /// after its sync.
    ///
    /// # Errors
    /// IO errors, naming the path; the temporary file is removed on failure.
    pub fn persist_unsynced(mut self) -> io::Result<PathBuf> {
        self.trim()?;
        self.rename_into_place()
    }

    fn rename_into_place(&mut self) -> io::Result<PathBuf> {
        fs_err::rename(&self.temp, &self.dest)?;
        self.persisted = true;
        Ok(self.dest.clone())
    }
}

/// Sequential writes (an archive, an index) go to the temporary file.
impl io::Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// An unnamed temporary file in the system's temporary directory (`$TMPDIR`, else `/tmp`):
/// `O_TMPFILE` where the filesystem has it, else a file unlinked as soon as it is open. It
/// vanishes with its last descriptor, even after a kill.
///
/// # Errors
/// IO errors, naming the directory.
pub fn anonymous_file() -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let dir = std::env::temp_dir();
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    match rustix::fs::open(
        &dir,
        OFlags::RDWR | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => Ok(std::fs::File::from(fd)),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::ISDIR => {
            let path = dir.join(format!(".haul-temp-{:016x}", rand::random::<u64>()));
            let file = fs_err::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            fs_err::remove_file(&path)?;
            Ok(file.into_parts().0)
        }
        Err(e) => Err(named(e.into())),
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: the file may already be gone; nothing else to do from a destructor.
            let _ = fs_err::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_renames_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/file.bin");
        let p = PartialFile::create(&dest, Some(6)).unwrap();
        p.write_at(b"def", 3).unwrap();
        p.write_at(b"abc", 0).unwrap();
        assert!(!dest.exists());
        p.persist().unwrap();
        assert_eq!(fs_err::read(&dest).unwrap(), b"abcdef");

        let dest2 = dir.path().join("sub/other.bin");
        let p = PartialFile::create(&dest2, None).unwrap();
        let temp = p.temp_path().to_path_buf();
        p.write_at(b"x", 0).unwrap();
        assert!(temp.exists());
        drop(p);
        assert!(!temp.exists());
        assert!(!dest2.exists());
        let left: Vec<_> = fs_err::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "only the persisted file remains");
    }

    /// A buffer of `len` bytes starting at a [`DIRECT_ALIGN`]-aligned address.
    fn aligned(storage: &mut Vec<u8>, len: usize, fill: u8) -> &mut [u8] {
        storage.clear();
        storage.resize(len + DIRECT_ALIGN, 0);
        let pad = storage.as_ptr().align_offset(DIRECT_ALIGN);
        let out = &mut storage[pad..pad + len];
        out.fill(fill);
        out
    }

    #[test]
    fn direct_writes_and_a_padded_tail_give_the_exact_file() {
        // Where the temporary directory has no direct I/O, the writes take the page cache
        // and the file must come out the same.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.bin");
        let len = 3 * DIRECT_ALIGN as u64 + 100;
        let p = PartialFile::create(&dest, Some(len)).unwrap();
        let direct = p.use_direct_io();
        assert_eq!(direct, p.is_direct());
        let mut storage = Vec::new();
        // The last block first, padded with zeros past the end, then the first three.
        let tail = aligned(&mut storage, DIRECT_ALIGN, 0);
        tail[..100].fill(b'z');
        p.write_direct_at(tail, 3 * DIRECT_ALIGN as u64).unwrap();
        let head = aligned(&mut storage, 3 * DIRECT_ALIGN, b'a');
        p.write_direct_at(head, 0).unwrap();
        if direct {
            assert!(p.is_direct(), "aligned writes keep direct I/O on");
        }
        p.persist().unwrap();
        let got = fs_err::read(&dest).unwrap();
        assert_eq!(got.len() as u64, len, "the padding is cut off");
        assert!(got[..3 * DIRECT_ALIGN].iter().all(|&b| b == b'a'));
        assert!(got[3 * DIRECT_ALIGN..].iter().all(|&b| b == b'z'));
    }

    #[test]
    fn a_refused_direct_write_falls_back_to_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("odd.bin");
        let p = PartialFile::create(&dest, Some(10)).unwrap();
        let direct = p.use_direct_io();
        // Unaligned in every way: where a filesystem enforces the alignment, it refuses this.
        p.write_direct_at(b"abcde", 0).unwrap();
        p.write_direct_at(b"fghij", 5).unwrap();
        if direct && !p.is_direct() {
            // Refused and fallen back: later writes go through the page cache too.
            p.write_direct_at(b"J", 9).unwrap();
            assert!(!p.is_direct());
            p.persist().unwrap();
            assert_eq!(fs_err::read(&dest).unwrap(), b"abcdefghiJ");
        } else {
            p.persist().unwrap();
            assert_eq!(fs_err::read(&dest).unwrap(), b"abcdefghij");
        }
    }
}
