//! Moving one object: uploads (a single `PutObject` below the multipart threshold, concurrent
//! multipart parts above it), downloads (parallel ranged GETs written at their offsets into a
//! temporary file, then fsync and rename), and streams to and from stdin/stdout.
//!
//! Memory is bounded by a [`MemoryBudget`]: a part's bytes are reserved *before* the part is
//! read and released when its request finishes, so the bytes in flight never exceed the budget
//! whatever the object sizes. Requests in flight are bounded separately by the client's
//! limiter. Files are read and written on blocking threads, never on the reactor.
//! Read `client` for the requests themselves.

mod attrs;
mod copy;
mod download;
mod plan;
mod tree;
mod tree_hash;
mod upload;

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Error;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::progress::{self, Progress};

pub use attrs::{FileAttrs, HAUL_MTIME, S3CMD_ATTRS};
pub use copy::{ObjectRef, copy_object};
pub use download::{
    READ_AHEAD_RANGES, download_file, download_range_to_writer, download_to_writer,
};
pub use plan::{MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, Part, PartPlan, PlanError};
pub use tree::{TreeReport, download_tree, flush_filesystem, upload_tree};
pub use upload::{BLAKE3_META, blocking as blocking_task, upload_file, upload_reader};

/// How objects are cut into parts and ranges, and where the bytes moved are reported.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Objects larger than this use multipart uploads and ranged downloads. Chosen default:
    /// 16 MiB; up to it one request is cheaper than the multipart handshake (a 16 MiB WAL
    /// segment is one PutObject).
    pub multipart_threshold: u64,
    /// Part and range size. Chosen default: 16 MiB (the part size s5cmd and rclone converge on
    /// for loopback and LAN gateways); raised automatically to stay within 10,000 parts.
    pub part_size: u64,
    /// Largest request body a router in front of the gateway accepts (`--max-body`), if known.
    pub max_body: BodyLimit,
    /// Where [`Event::BytesMoved`](crate::progress::Event::BytesMoved) goes as parts and
    /// ranges complete (silent by default). Orchestrators that also take a progress handle
    /// are normally given the same one.
    pub progress: Progress,
    /// Downloads fetched whole (up to `multipart_threshold`) are renamed into place without an
    /// fsync each: for callers that call [`sync_filesystem`](crate::local::sync_filesystem)
    /// on the destination before reporting success (`sync`, tree downloads). On a tree of
    /// small files the fsyncs cost more than the transfers. False by default.
    pub defer_fsync: bool,
    /// Downloads make their directories only beneath this root, never through a symlink
    /// below it ([`create_dirs_beneath`](crate::local::create_dirs_beneath)): set by tree
    /// downloads and `sync` into a directory (unless `--follow-symlinks`). `None` (the
    /// default): a download's directories are made as its path says.
    pub beneath: Option<Arc<std::path::Path>>,
    /// Downloads of objects over 1 MiB (ranged, or fetched whole) write with direct I/O where
    /// the filesystem has it, past the page cache
    /// ([`PartialFile::use_direct_io`](crate::local::PartialFile::use_direct_io)). True by default; `--no-direct-io` turns it off, for a download that is read again at
    /// once and should stay cached.
    pub direct_io: bool,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            max_body: BodyLimit::default(),
            progress: progress::silent(),
            defer_fsync: false,
            beneath: None,
            direct_io: true,
        }
    }
}

/// The largest request body the path to the gateway accepts (`--max-body`, or what a 413 from
/// a router taught), shared by every transfer of a run: once one upload learns it, the others
/// cut their parts to fit.
#[derive(Debug, Clone, Default)]
pub struct BodyLimit {
    /// Bytes; 0 means no known limit.
    bytes: Arc<std::sync::atomic::AtomicU64>,
    announced: Arc<std::sync::atomic::AtomicBool>,
}

impl BodyLimit {
    /// A limit of `bytes`, or none.
    #[must_use]
    pub fn new(bytes: Option<u64>) -> Self {
        let l = Self::default();
        l.bytes
            .store(bytes.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        l
    }

    /// The limit in force.
    #[must_use]
    pub fn get(&self) -> Option<u64> {
        match self.bytes.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            b => Some(b),
        }
    }

    /// After a body of `refused` bytes was refused (a 413, or the connection closed while it
    /// was sent, see [`Refusal`]): lower the limit (half the refused size, in whole MiB, never
    /// below the 5 MiB S3 minimum part) for the rest of the run, and say so once. Returns the
    /// new limit.
    ///
    /// # Errors
    /// [`PlanError::BodyLimitTooSmall`] when even a 5 MiB body was refused: no multipart upload
    /// can pass such a router.
    pub fn lower_below(&self, refused: u64, how: Refusal) -> Result<u64, PlanError> {
        const MIB: u64 = 1024 * 1024;
        if refused <= MIN_PART_BYTES {
            return Err(PlanError::BodyLimitTooSmall {
                limit_bytes: refused.saturating_sub(1),
            });
        }
        let target = (refused / 2 / MIB * MIB).max(MIN_PART_BYTES);
        let prev = self
            .bytes
            .fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |cur| (cur == 0 || cur > target).then_some(target),
            )
            .unwrap_or(target);
        let now = self.get().unwrap_or(target);
        if !self
            .announced
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            let how = match how {
                Refusal::TooLarge => "refused a request body of",
                Refusal::ConnectionClosed => "closed the connection twice while sending a body of",
            };
            tracing::warn!(
                "the gateway or a proxy in front of it {how} {refused} bytes: sending bodies of \
                 at most {now} bytes for the rest of the run; raise the router's limit (deisctl \
                 config router set bodySize=100m) or pass --max-body"
            );
        }
        let _ = prev;
        Ok(now)
    }
}

/// How a request body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A `413` answer (`EntityTooLarge`).
    TooLarge,
    /// The connection closed while the body was sent, twice ([`Error::BodyCut`]).
    ConnectionClosed,
}

/// Whether an error says the request body was too large for the path to the gateway: a 413
/// answer, or a large body whose connection was closed mid-send twice. For the latter, the
/// size of the body cut off.
pub(crate) fn body_refusal(e: &Error) -> Option<(Refusal, Option<u64>)> {
    match e {
        Error::S3 { source, .. } if source.status == 413 => Some((Refusal::TooLarge, None)),
        Error::BodyCut { bytes, .. } => Some((Refusal::ConnectionClosed, Some(*bytes))),
        _ => None,
    }
}

/// Bytes in flight, bounded: a semaphore of KiB units (a tokio semaphore counts in `u32`
/// per acquisition; KiB units let one reservation cover a 5 GiB part), and a pool of the part
/// buffers themselves.
///
/// The pool matters as much as the semaphore: freeing and allocating 16 MiB buffers over and
/// over lets glibc's allocator raise its mmap threshold and keep freed parts in its heap, so
/// a 128 MiB budget measured 278 MiB peak RSS on a 1 GB upload; with reused buffers the
/// process holds the budget plus its fixed baseline (BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    total_kib: u32,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A reservation of budget, released on drop.
#[derive(Debug)]
pub struct MemoryPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

/// A pooled buffer inside `Bytes`.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
    limit_bytes: u64,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let held: u64 = pool.iter().map(|b| b.capacity() as u64).sum();
        // The pool never holds more than the budget; a buffer beyond it is freed.
        if held + buf.capacity() as u64 <= self.limit_bytes {
            pool.push(buf);
        }
    }
}

impl MemoryBudget {
    /// A budget of `bytes` (at least 1 MiB).
    #[must_use]
    pub fn new(bytes: u64) -> Self {
        let kib = u32::try_from((bytes / 1024).max(1024)).unwrap_or(u32::MAX >> 4);
        Self {
            sem: Arc::new(Semaphore::new(kib as usize)),
            total_kib: kib,
            pool: Arc::default(),
        }
    }

    /// An empty buffer with room for `len` bytes, reused from the pool when one fits. Take it
    /// only under a reservation of at least `len`.
    #[must_use]
    pub fn buffer(&self, len: usize) -> Vec<u8> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let mut buf = match best {
            Some(i) => pool.swap_remove(i),
            None => Vec::with_capacity(len),
        };
        buf.clear();
        buf
    }

    /// Returns a buffer to the pool (while the pool holds less than the budget).
    pub fn give_back(&self, buf: Vec<u8>) {
        drop(Pooled {
            buf,
            pool: self.pool.clone(),
            limit_bytes: u64::from(self.total_kib) * 1024,
        });
    }

    /// Freezes a buffer into `Bytes` that return it to the pool when the last clone is
    /// dropped (the request that sent it has finished).
    #[must_use]
    pub fn freeze(&self, buf: Vec<u8>) -> bytes::Bytes {
        bytes::Bytes::from_owner(Pooled {
            buf,
            pool: self.pool.clone(),
            limit_bytes: u64::from(self.total_kib) * 1024,
        })
    }

    /// Reserves `bytes`; waits until that much is free. A reservation larger than the whole
    /// budget takes the whole budget (so one huge part still proceeds, alone).
    pub async fn reserve(&self, bytes: u64) -> MemoryPermit {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        MemoryPermit {
            _permit: self.sem.clone().acquire_many_owned(kib).await.ok(),
        }
    }

    /// Reserves `bytes` if that much is free now (clamped as [`MemoryBudget::reserve`]): for
    /// a caller that must not wait while it holds reservations it has yet to release.
    #[must_use]
    pub fn try_reserve(&self, bytes: u64) -> Option<MemoryPermit> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        let permit = self.sem.clone().try_acquire_many_owned(kib).ok()?;
        Some(MemoryPermit {
            _permit: Some(permit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn body_limit_halves_to_the_part_minimum_then_refuses() {
        let l = BodyLimit::new(None);
        assert_eq!(l.get(), None);
        assert_eq!(l.lower_below(16 * MIB, Refusal::TooLarge).unwrap(), 8 * MIB);
        // A later, larger refusal does not raise it again.
        assert_eq!(l.lower_below(64 * MIB, Refusal::TooLarge).unwrap(), 8 * MIB);
        assert_eq!(
            l.lower_below(8 * MIB, Refusal::ConnectionClosed).unwrap(),
            5 * MIB
        );
        assert!(matches!(
            l.lower_below(5 * MIB, Refusal::TooLarge),
            Err(PlanError::BodyLimitTooSmall { .. })
        ));
        assert_eq!(BodyLimit::new(Some(7 * MIB)).get(), Some(7 * MIB));
    }

    #[tokio::test]
    async fn pooled_buffers_are_reused_within_the_budget() {
        let b = MemoryBudget::new(8 * MIB);
        let buf = b.buffer(4 * 1024 * 1024);
        let ptr = buf.as_ptr();
        drop(b.freeze(buf));
        let again = b.buffer(1024);
        assert_eq!(again.as_ptr(), ptr, "the freed buffer is handed out again");
        assert!(again.is_empty());
    }
}
