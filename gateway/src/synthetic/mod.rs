//! A synthetic, read-only S3 gateway: one bucket of N generated objects, none of them stored.
//!
//! Keys are computed from their index in S3 byte order (`keys.rs`), so any listing page is
//! produced in O(page size × log N) and memory does not grow with N: a page builds at most
//! 1000 keys. It is a real HTTP/1.1 S3 server for scale tests (listing a million-object bucket
//! against a local tree) and for comparing listing speed between clients; `haul gateway
//! synthetic --objects N` runs it as a command.
//!
//! # Layouts
//!
//! - [`Layout::Registry`] (default): a Docker registry's blobs,
//!   `docker/registry/v2/blobs/sha256/{pp}/{digest}/data`, spread evenly over the 256 prefixes
//!   `pp` (`00` … `ff`); each digest is 64 hex digits starting with `pp`.
//! - [`Layout::Flat`]: `objects/{i:012}`, one prefix without delimiter structure below it.
//!
//! # Operations (path-style only: `/bucket`, `/bucket/key`)
//!
//! - ListObjectsV2 (`GET /bucket?list-type=2`): `prefix`, `delimiter`, `max-keys` (default and
//!   cap 1000; 0 lists nothing and is not truncated), `continuation-token` (opaque: the next
//!   index in hex; another value is `400 InvalidArgument`), `start-after`, `encoding-type=url`;
//!   `fetch-owner` is ignored.
//! - ListObjects V1 (`GET /bucket`): `marker`, `prefix`, `delimiter`, `max-keys`,
//!   `encoding-type`; `NextMarker` (the last key or common prefix of the page) whenever the
//!   answer is truncated.
//! - A `marker` or `start-after` equal to a common prefix of the listing continues after all
//!   its keys, so paging by `NextMarker` never lists a common prefix twice.
//! - ListBuckets (`GET /`), HeadBucket, GetBucketLocation (`GET /bucket?location`: empty,
//!   i.e. us-east-1).
//! - HeadObject and GetObject, with one `Range` (`bytes=a-b`, `a-`, `-n`: `206`; `416` when
//!   unsatisfiable, which every range of an empty object is; a malformed or multi-range
//!   header is ignored, as S3 does).
//!
//! Every object has [`SyntheticConfig::size`] bytes of BLAKE3 output for its key, an `ETag`
//! that is the MD5 of those bytes, and the same last-modified time, [`LAST_MODIFIED`]. A
//! wrong bucket is `404 NoSuchBucket`, an unknown key `404 NoSuchKey`, any other method or
//! sub-resource `501 NotImplemented` (the gateway is read-only).
//!
//! # Hostile listings
//!
//! With [`SyntheticConfig::hostile`] (`--hostile MODE`) every listing answer is a broken or
//! malicious one instead — a page of 100 MiB, a page that never ends, a continuation token
//! that never advances, an XML entity bomb, a page dripped one byte a second — to test how
//! a client ends each (`hostile.rs`, [`HostileMode`]). Objects stay normal.
//!
//! # Limits
//!
//! Signatures and `Authorization` headers are ignored: anyone who can connect can read, so the
//! gateway listens on loopback addresses only ([`SyntheticError::NotLoopback`]). HTTP/1.1
//! only, no TLS. Objects are at most [`MAX_OBJECT_SIZE`] bytes; the flat layout holds at most
//! 10^12 objects (its index has 12 digits). A listing with `size > 0` computes each object's
//! MD5 for its ETag (at most 16 MiB hashed per 1000-key page).

mod hostile;
mod keys;
mod list;
mod object;
mod serve;
mod xml;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use hostile::{
    BOMB_LEVELS, CYCLE_TOKENS, DRIP_INTERVAL, HUGE_PAGE_BYTES, HostileMode, LOOP_TOKEN,
    UnknownHostileMode,
};
pub use keys::{Layout, UnknownLayout};

use crate::fault::conn;
use hostile::HostileCounters;
use keys::KeySpace;
use object::Objects;

/// Largest object size. Chosen: large enough for GET and Range tests and small enough that an
/// object is generated in memory per request, and a listing's ETags (an MD5 per key when the
/// size is not 0) stay cheap.
pub const MAX_OBJECT_SIZE: u64 = 16 * 1024;

/// Every object's last-modified time, fixed so listings are the same from run to run and
/// always in the past of the machines that run them.
pub const LAST_MODIFIED: &str = "2026-01-01T00:00:00.000Z";

/// [`LAST_MODIFIED`] as an HTTP date, for `Last-Modified` headers.
const LAST_MODIFIED_HTTP: &str = "Thu, 01 Jan 2026 00:00:00 GMT";

/// How to start a [`SyntheticGateway`].
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Number of objects in the bucket.
    pub objects: u64,
    /// The bucket's name; [`SyntheticConfig::new`] uses `registry`.
    pub bucket: String,
    /// How keys look; [`SyntheticConfig::new`] uses [`Layout::Registry`].
    pub layout: Layout,
    /// Every object's size in bytes, at most [`MAX_OBJECT_SIZE`]; [`SyntheticConfig::new`]
    /// uses 0.
    pub size: u64,
    /// Address to listen on, loopback only; [`SyntheticConfig::new`] uses `127.0.0.1:0` (a
    /// free port, see [`SyntheticGateway::local_addr`]).
    pub listen: SocketAddr,
    /// Added before each listing answer, to emulate a gateway whose listing is slow (for
    /// measuring how a client fans listings out); [`SyntheticConfig::new`] uses zero.
    pub list_delay: Duration,
    /// Answer every listing the way a broken or malicious gateway would (see
    /// [`HostileMode`]); [`SyntheticConfig::new`] uses `None`, normal answers.
    pub hostile: Option<HostileMode>,
}

impl SyntheticConfig {
    /// `objects` empty objects in the registry layout, bucket `registry`, on `127.0.0.1:0`.
    #[must_use]
    pub fn new(objects: u64) -> Self {
        Self {
            objects,
            bucket: "registry".to_owned(),
            layout: Layout::Registry,
            size: 0,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            list_delay: Duration::ZERO,
            hostile: None,
        }
    }
}

/// Why a [`SyntheticGateway`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyntheticError {
    /// The listen address is not a loopback address (the gateway has no authentication).
    #[error(
        "the synthetic gateway has no authentication and listens on loopback only, not on {addr}"
    )]
    NotLoopback {
        /// The address given.
        addr: SocketAddr,
    },
    /// The object size is above [`MAX_OBJECT_SIZE`].
    #[error("object size {size} is above the synthetic gateway's limit of {MAX_OBJECT_SIZE} bytes")]
    SizeTooLarge {
        /// The size given.
        size: u64,
    },
    /// More objects than the layout can hold in order.
    #[error("the {layout} layout holds at most {max} objects, not {objects}")]
    TooManyObjects {
        /// The layout.
        layout: Layout,
        /// Its limit.
        max: u64,
        /// The count given.
        objects: u64,
    },
    /// The bucket name is empty or holds a `/`.
    #[error("invalid bucket name {0:?}: it must be non-empty and hold no '/'")]
    Bucket(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address given.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Request counters of a [`SyntheticGateway`] since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyntheticStats {
    /// ListObjects (V1) requests answered `200`.
    pub list_v1: u64,
    /// ListObjectsV2 requests answered `200`.
    pub list_v2: u64,
    /// HeadObject requests answered `200`.
    pub head: u64,
    /// GetObject requests answered `200` or `206`.
    pub get: u64,
    /// Keys and common prefixes sent in listings.
    pub keys_listed: u64,
    /// Requests answered with an error status (`4xx`, `5xx`).
    pub errors: u64,
    /// Hostile listing answers started ([`SyntheticConfig::hostile`]).
    pub hostile: u64,
    /// Body bytes of hostile answers handed to connections.
    pub hostile_bytes: u64,
    /// Hostile answers whose client went away before their end; the gateway stopped
    /// generating them there.
    pub hostile_abandoned: u64,
}

impl fmt::Display for SyntheticStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "list_v1={} list_v2={} head={} get={} keys_listed={} errors={}",
            self.list_v1, self.list_v2, self.head, self.get, self.keys_listed, self.errors
        )?;
        if self.hostile > 0 {
            write!(
                f,
                " hostile={} hostile_bytes={} hostile_abandoned={}",
                self.hostile, self.hostile_bytes, self.hostile_abandoned
            )?;
        }
        Ok(())
    }
}

/// The counters behind [`SyntheticStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) list_v1: AtomicU64,
    pub(crate) list_v2: AtomicU64,
    pub(crate) head: AtomicU64,
    pub(crate) get: AtomicU64,
    pub(crate) keys_listed: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// Numbers request ids.
    pub(crate) requests: AtomicU64,
    /// Hostile answers, shared with their bodies while they are generated.
    pub(crate) hostile: Arc<HostileCounters>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SyntheticStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SyntheticStats {
            list_v1: get(&self.list_v1),
            list_v2: get(&self.list_v2),
            head: get(&self.head),
            get: get(&self.get),
            keys_listed: get(&self.keys_listed),
            errors: get(&self.errors),
            hostile: get(&self.hostile.answers),
            hostile_bytes: get(&self.hostile.bytes),
            hostile_abandoned: get(&self.hostile.abandoned),
        }
    }
}

/// What every connection shares: the bucket and the counters.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) name: String,
    pub(crate) space: KeySpace,
    pub(crate) objects: Objects,
    pub(crate) list_delay: Duration,
    pub(crate) hostile: Option<HostileMode>,
    pub(crate) counters: Counters,
}

/// A running synthetic gateway. Dropping it stops accepting connections without waiting for
/// the ones in flight; [`SyntheticGateway::shutdown`] also waits for them (a bounded time).
pub struct SyntheticGateway {
    local_addr: SocketAddr,
    bucket: Arc<Bucket>,
    stop: watch::Sender<bool>,
    accept_loop: JoinHandle<()>,
}

impl fmt::Debug for SyntheticGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyntheticGateway")
            .field("local_addr", &self.local_addr)
            .field("bucket", &self.bucket.name)
            .field("objects", &self.bucket.space.len())
            .finish_non_exhaustive()
    }
}

impl SyntheticGateway {
    /// Checks `cfg`, binds its address and spawns the accept loop on the current tokio
    /// runtime. Clients may connect as soon as this returns.
    ///
    /// # Errors
    ///
    /// [`SyntheticError::NotLoopback`], [`SyntheticError::SizeTooLarge`],
    /// [`SyntheticError::TooManyObjects`], [`SyntheticError::Bucket`] for a configuration it
    /// refuses, [`SyntheticError::Bind`] when the address cannot be bound.
    pub async fn start(cfg: SyntheticConfig) -> Result<SyntheticGateway, SyntheticError> {
        if !cfg.listen.ip().is_loopback() {
            return Err(SyntheticError::NotLoopback { addr: cfg.listen });
        }
        if cfg.size > MAX_OBJECT_SIZE {
            return Err(SyntheticError::SizeTooLarge { size: cfg.size });
        }
        if cfg.layout == Layout::Flat && cfg.objects > keys::FLAT_MAX_OBJECTS {
            return Err(SyntheticError::TooManyObjects {
                layout: cfg.layout,
                max: keys::FLAT_MAX_OBJECTS,
                objects: cfg.objects,
            });
        }
        if cfg.bucket.is_empty() || cfg.bucket.contains('/') {
            return Err(SyntheticError::Bucket(cfg.bucket));
        }
        let addr = cfg.listen;
        let bind_err = |source| SyntheticError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let bucket = Arc::new(Bucket {
            name: cfg.bucket,
            space: KeySpace::new(cfg.layout, cfg.objects),
            objects: Objects::new(cfg.size),
            list_delay: cfg.list_delay,
            hostile: cfg.hostile,
            counters: Counters::default(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::clone(&bucket);
        let accept_loop = tokio::spawn(conn::accept_loop(
            listener,
            stop_rx,
            "synthetic",
            move |stream, stop| serve::serve_connection(stream, Arc::clone(&shared), stop),
        ));
        tracing::info!(%local_addr, bucket = %bucket.name, objects = cfg.objects, layout = %cfg.layout, hostile = cfg.hostile.map(HostileMode::as_str), "synthetic gateway listening");
        Ok(SyntheticGateway {
            local_addr,
            bucket,
            stop,
            accept_loop,
        })
    }

    /// The address clients connect to, with the port the OS chose for `:0`.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint to give an S3 client, e.g. `http://127.0.0.1:41234` (path-style).
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The bucket's name.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket.name
    }

    /// Number of objects in the bucket.
    #[must_use]
    pub fn objects(&self) -> u64 {
        self.bucket.space.len()
    }

    /// The key at index `i` in listing order, or `None` past the last object.
    #[must_use]
    pub fn key(&self, i: u64) -> Option<String> {
        (i < self.bucket.space.len()).then(|| self.bucket.space.key(i))
    }

    /// The counters since the gateway started.
    #[must_use]
    pub fn stats(&self) -> SyntheticStats {
        self.bucket.counters.snapshot()
    }

    /// Stops accepting connections, lets requests in flight finish for at most
    /// [`crate::SHUTDOWN_GRACE`], closes what remains and returns.
    pub async fn shutdown(self) {
        let SyntheticGateway {
            local_addr,
            stop,
            accept_loop,
            ..
        } = self;
        stop.send_replace(true);
        if let Err(err) = accept_loop.await {
            tracing::debug!(%local_addr, error = %err, "synthetic gateway loop ended abnormally");
        }
        tracing::info!(%local_addr, "synthetic gateway stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_forms_agree() {
        let iso = time::OffsetDateTime::parse(
            LAST_MODIFIED,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let http = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        assert_eq!(iso.format(http).unwrap(), LAST_MODIFIED_HTTP);
    }
}
