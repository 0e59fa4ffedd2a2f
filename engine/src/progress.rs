//! Progress events: what the engine tells the CLI while it works.
//!
//! Progress is not logging (STYLE.md §9): the engine sends typed events through a
//! [`ProgressSink`] that the CLI plugs in; the CLI draws them as a bar on a terminal, as
//! periodic plain lines, or as NDJSON lines with `--json`. The engine never prints.
//!
//! Who emits what:
//!
//! - the orchestrators (`transfer::upload_tree`/`download_tree`, `sync::sync`) emit one
//!   [`Event::TransferStarted`] per object and one [`Event::TransferDone`] or
//!   [`Event::TransferFailed`] when it ends, [`Event::Planned`] when the whole job is known up
//!   front, and [`Event::Unchanged`] / [`Event::Deleted`] as a sync decides;
//! - the transfer functions emit [`Event::BytesMoved`] through `TransferOptions::progress`
//!   as data moves: after each positional write of a download (at most 1 MiB), after each
//!   part of an upload or a copy, after each single `PutObject` or server-side copy;
//! - the client emits [`Event::Retry`] through the handle it was built with.
//!
//! Events are emitted from many tasks at once, so a sink must be cheap and must not block for
//! long: the CLI's sink adds to atomic counters and hands per-object lines to a bounded
//! writer. The state of the request limiter (limit, in flight, throttles, retries) is not sent
//! as events: a display polls `Client::limiter()`.

use std::sync::Arc;
use std::time::Duration;

/// One thing worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The whole job is known before it starts (a tree walked up front): this many objects
    /// and bytes will be transferred. Not sent when the job is discovered as it goes (a sync,
    /// a listing read page by page); a display then shows counts and rates without an ETA.
    Planned {
        /// Objects to transfer.
        objects: u64,
        /// Bytes to transfer.
        bytes: u64,
    },
    /// A transfer of one object or file started; `bytes` is its size when known.
    TransferStarted {
        /// Object key or path, as the user named it.
        name: String,
        /// Size in bytes, when known up front (`None` for stdin).
        bytes: Option<u64>,
    },
    /// Bytes of a transfer reached the other side (sent, or received and written). Each byte
    /// is reported once, however many times its request was retried or its body resumed;
    /// bytes of a transfer that later fails stay reported.
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
    /// A transfer failed, or an entry was refused before it started (a hostile key, a failed
    /// deletion); the run goes on with other objects where it can.
    TransferFailed {
        /// Object key or path.
        name: String,
        /// The error, rendered with its context chain.
        error: String,
    },
    /// Entries a sync found the same on both sides (nothing to move).
    Unchanged {
        /// How many more.
        count: u64,
    },
    /// Entries a sync deleted from the destination (`--delete`).
    Deleted {
        /// How many more.
        count: u64,
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

/// Where the engine sends events. Implementations must be cheap and must not block for long:
/// they are called from many tasks, some of them in the middle of a transfer.
pub trait ProgressSink: Send + Sync + std::fmt::Debug {
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
