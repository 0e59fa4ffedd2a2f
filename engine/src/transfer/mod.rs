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
mod upload;

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use attrs::{FileAttrs, HAUL_MTIME, S3CMD_ATTRS};
pub use copy::{ObjectRef, copy_object};
pub use download::{download_file, download_to_writer};
pub use plan::{MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, Part, PartPlan, PlanError};
pub use tree::{TreeReport, download_tree, upload_tree};
pub use upload::{blocking as blocking_task, upload_file, upload_reader};

/// How objects are cut into parts and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferOptions {
    /// Objects at least this large use multipart uploads and ranged downloads. Chosen default:
    /// 16 MiB; below it one request is cheaper than the multipart handshake.
    pub multipart_threshold: u64,
    /// Part and range size. Chosen default: 16 MiB (the part size s5cmd and rclone converge on
    /// for loopback and LAN gateways); raised automatically to stay within 10,000 parts.
    pub part_size: u64,
    /// Largest request body a router in front of the gateway accepts (`--max-body`), if known.
    pub max_body: Option<u64>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            max_body: None,
        }
    }
}

/// Bytes in flight, bounded: a semaphore of KiB units (a tokio semaphore counts in `u32`
/// per acquisition; KiB units let one reservation cover a 5 GiB part).
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    total_kib: u32,
}

/// A reservation of budget, released on drop.
#[derive(Debug)]
pub struct MemoryPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least 1 MiB).
    #[must_use]
    pub fn new(bytes: u64) -> Self {
        let kib = u32::try_from((bytes / 1024).max(1024)).unwrap_or(u32::MAX >> 4);
        Self {
            sem: Arc::new(Semaphore::new(kib as usize)),
            total_kib: kib,
        }
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
}
