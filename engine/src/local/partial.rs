//! Files written under a temporary name beside their destination and renamed into place only
//! once complete and synced: a reader, a crash or a kill never sees a half-written file under
//! the final name.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Marker in temporary file names, so leftovers of a killed run are recognisable.
pub const PARTIAL_MARKER: &str = ".haul-partial";

/// A file being written. Dropped without [`PartialFile::persist`], it is removed.
#[derive(Debug)]
pub struct PartialFile {
    file: fs_err::File,
    temp: PathBuf,
    dest: PathBuf,
    persisted: bool,
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
        })
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

    /// Starts writing `len` bytes at `offset` back to the disk, without waiting for it, and
    /// lets the page cache drop them once they are clean (`posix_fadvise(POSIX_FADV_DONTNEED)`
    /// on Linux: asynchronous writeback of the range, then the clean pages released). A large
    /// download then overlaps its disk writes with the network, and the fsync or `syncfs` that
    /// ends it waits for what is still in flight, not for the whole file written at once; and
    /// gigabytes of downloaded data do not push everything else out of the page cache.
    /// Best effort: when the advice fails, the final sync does all the writing.
    pub fn start_writeback(&self, offset: u64, len: u64) {
        let Some(len) = std::num::NonZeroU64::new(len) else {
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

    /// Sets the modification time the final file will carry.
    ///
    /// # Errors
    /// IO errors, naming the path.
    pub fn set_modified(&self, mtime: SystemTime) -> io::Result<()> {
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

    /// Syncs the data, then renames the file to its destination (replacing an older file).
    ///
    /// # Errors
    /// IO errors, naming the path; the temporary file is removed on failure.
    pub fn persist(self) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        self.persist_unsynced()
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
}
