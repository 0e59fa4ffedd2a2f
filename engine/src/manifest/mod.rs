//! BLAKE3 content manifests: what a directory or a bucket holds, key by key, as a compressed,
//! checksummed, streamable file (`docs/manifest-format.md` specifies it).
//!
//! - [`hash`] holds [`hash_file`] (small files read, large files memory-mapped and hashed on rayon)
//!   and [`hash_tree`], a parallel hash over [`crate::local::walk`] that yields entries in
//!   key order within a bounded window;
//! - [`format`](mod@format) holds [`Writer`] and [`Reader`], both in constant memory; the reader names a
//!   damaged, truncated or foreign file in a [`ManifestError`];
//! - [`diff`](mod@diff) holds [`diff()`], a streaming merge-join of two key-ordered entry streams;
//! - [`remote`] holds entries of a bucket, objects streamed through [`crate::client::Client`] and
//!   hashed on blocking threads;
//! - [`ops`] holds the jobs the CLI runs (build, verify, diff of two files).
//!
//! - [`cache`] holds the [`HashCache`]: hashes of the last run keyed by (size, mtime, inode,
//!   ctime), so that a nightly build reads only changed files.
//!
//! Read `format` next.

pub mod cache;
pub mod diff;
pub mod format;
pub mod hash;
pub mod ops;
pub mod remote;

use std::path::PathBuf;

pub use cache::{HashCache, Stamp};
pub use diff::{Change, Diff, diff};
pub use format::{FORMAT_VERSION, Header, MAGIC, Reader, Writer};
pub use hash::{
    CacheStats, HashMode, SMALL_FILE_BYTES, TREE_WINDOW, TreeOptions, hash_file, hash_file_with,
    hash_tree, hash_tree_cached,
};
pub use ops::{
    BuildSummary, DiffSummary, MergeSummary, build_local, build_remote, diff_files, merge_files,
    verify_local, verify_remote,
};
pub use remote::RemoteSource;

/// Keys under this prefix at the root of a directory or bucket prefix are haul's own
/// (`sync --manifest` keeps its manifests there): manifests leave them out, syncs never touch
/// them.
pub const RESERVED_PREFIX: &str = ".haul/";

/// One file or object in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, relative to the manifest's source (a directory or `s3://bucket/prefix`).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (an object's `LastModified`).
    pub mtime_ns: i64,
    /// `st_mode` (type and permission bits), when known (not for objects).
    pub mode: Option<u32>,
    /// The BLAKE3 of the content.
    pub hash: blake3::Hash,
    /// The object's ETag, quotes removed, when known (not for local files).
    pub etag: Option<String>,
}

/// A manifest error, naming the manifest file or the hashed path.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a haul manifest (no zstd frame, or not the manifest magic inside).
    #[error("{}: not a haul manifest ({what})", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        what: String,
    },
    /// A manifest of a newer format version than this haul reads.
    #[error("{}: manifest format version {version} is not supported (this haul reads {FORMAT_VERSION})", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version it declares.
        version: u32,
    },
    /// The manifest ends before its trailer: a partial copy or an interrupted write.
    #[error("{}: manifest is truncated ({what})", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where it stopped.
        what: String,
    },
    /// The manifest is damaged: undecodable, malformed, or its checksum does not match.
    #[error("{}: manifest is damaged at line {line}: {what}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The line of the uncompressed stream (1-based).
        line: u64,
        /// What is wrong.
        what: String,
    },
    /// Entries given to a writer were not in strictly increasing key order.
    #[error("{}: key {key:?} does not follow {previous:?} (entries must be sorted by key)", path.display())]
    OutOfOrder {
        /// The manifest being written.
        path: PathBuf,
        /// The previous key.
        previous: String,
        /// The offending key.
        key: String,
    },
    /// A file changed while it was hashed (its size or mtime differ after hashing).
    #[error("{}: changed while being hashed", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The directory walk failed.
    #[error(transparent)]
    Walk(#[from] crate::local::WalkError),
    /// A request to the gateway failed.
    #[error(transparent)]
    Remote(Box<crate::error::Error>),
    /// A background thread or task ended without an answer (it panicked or was cancelled).
    #[error("{0}: worker ended unexpectedly")]
    Worker(&'static str),
    /// Manifests that cannot be merged into one: parts of different syncs or shard counts,
    /// a shard missing or given twice, a key in two parts.
    #[error("manifest merge: {0}")]
    Merge(String),
}

impl From<crate::error::Error> for ManifestError {
    fn from(e: crate::error::Error) -> Self {
        ManifestError::Remote(Box::new(e))
    }
}
