//! Progress events: what the engine tells the CLI while it works.
//!
//! Progress is not logging (STYLE.md §9): the engine sends coalesced, typed events through a
//! [`ProgressSink`] that the CLI plugs in; the CLI draws them as bars on a terminal or as NDJSON
//! lines with `--json`. The engine never prints.

use std::sync::Arc;
use std::time::Duration;

/// One thing worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A transfer of one object or file started; `bytes` is its size when known.
    TransferStarted {
        /// Object key or path, as the user named it.
        name: String,
        /// Size in bytes, when known up front (`None` for stdin).
        bytes: Option<u64>,
    },
    /// Bytes of a transfer reached the other side (sent or received and written).
    BytesMoved {
        /// How many more bytes moved.
        bytes: u64,
    },
    /// A transfer finished.
    TransferDone {
        /// Object key or path.
        name: String,
        /// Bytes moved for it.
        bytes: u64,
        /// How long it took.
        elapsed: Duration,
    },
    /// A transfer failed; the run goes on with other objects where it can.
    TransferFailed {
        /// Object key or path.
        name: String,
        /// The error, rendered with its context chain.
        error: String,
    },
    /// A request is being retried.
    Retry {
        /// The S3 operation (`PutObject`, `UploadPart`, …).
        operation: &'static str,
        /// Which attempt comes next (2 is the first retry).
        attempt: u32,
        /// Why the previous attempt failed.
        reason: String,
    },
}

/// Where the engine sends events. Implementations must be cheap and must not block: the CLI's
/// sink updates counters or hands lines to a bounded writer.
pub trait ProgressSink: Send + Sync {
    /// Take one event.
    fn emit(&self, event: Event);
}

/// A sink that drops every event, for library users and tests that do not watch progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl ProgressSink for Silent {
    fn emit(&self, _event: Event) {}
}

/// Shared handle to a sink.
pub type Progress = Arc<dyn ProgressSink>;

/// A progress handle that drops everything.
#[must_use]
pub fn silent() -> Progress {
    Arc::new(Silent)
}
