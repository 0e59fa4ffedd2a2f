//! The filesystem side: keys mapped to paths that provably stay under a root, files written
//! under a temporary name and renamed into place only when complete, and directory walks in
//! S3 key order.
//!
//! Everything here is blocking `std::fs` work (through `fs_err`, whose errors name the path):
//! async callers run it on blocking threads. This module knows nothing of S3 requests.
//! Read `transfer` next.

mod compare;
mod partial;
mod path;
mod synced;
mod walk;

pub use compare::{Difference, compare_trees};
pub use partial::{DIRECT_ALIGN, PARTIAL_MARKER, PartialFile, anonymous_file};
pub use path::{NAME_MAX_BYTES, PathError, SafeRelPath, create_dirs_beneath};
pub use synced::{SYNCED_XATTR, SyncedFrom};
pub use walk::{
    LocalEntry, PREFETCH_DIRS, PREFETCH_ENTRIES, SkipReason, Walk, WalkError, WalkItem,
    WalkOptions, walk, walk_sorted,
};

/// Flushes everything written to the filesystem that holds `root` (`syncfs(2)`): one call at
/// the end of a run replaces an fsync per small file ([`PartialFile::persist_unsynced`]).
///
/// # Errors
/// IO errors, naming `root`.
pub fn sync_filesystem(root: &std::path::Path) -> std::io::Result<()> {
    let dir = fs_err::File::open(root)?;
    rustix::fs::syncfs(dir.file()).map_err(|e| {
        std::io::Error::new(
            std::io::Error::from(e).kind(),
            format!("syncfs {}: {e}", root.display()),
        )
    })
}
