//! An embedded S3 server that runs inside the current process and listens on loopback.
//!
//! This is a real S3 implementation, not a mock. Requests go through
//! [s3s](https://crates.io/crates/s3s), which parses S3 REST requests, checks AWS Signature
//! Version 4 (and V2) signatures and writes S3 XML responses. Objects are stored by
//! [s3s-fs](https://crates.io/crates/s3s-fs), which keeps each bucket as a directory under
//! [`GatewayConfig::root`] and each object as a file. hyper serves the whole thing over HTTP/1.1
//! on a TCP listener, or over HTTPS when [`GatewayConfig::tls`] names a certificate and key.
//! haul uses it in two places:
//!
//! - `haul demo` and `haul gateway serve --root DIR`: a gateway that needs nothing installed;
//! - the test suite, as the second real S3 implementation next to Ceph's RADOS Gateway.
//!
//! It also holds [`fault`], a fault-injecting proxy put in front of either gateway (`haul
//! gateway fault-proxy`) to test how a client copes with throttling, errors, resets, truncated
//! bodies, a slow first byte and a body size limit.
//!
//! And [`synthetic`], a read-only S3 server of a generated bucket (`haul gateway synthetic
//! --objects N`): N keys computed from their index in S3 byte order, in a Docker registry's
//! blob layout or a flat one, none of them stored, so a listing page costs O(page × log N)
//! and memory does not grow with N. It serves ListObjects V1 and V2, HeadObject and GetObject
//! for scale tests and listing-speed comparisons between clients; with `--hostile MODE` its
//! listings are hostile instead (a 100 MiB page, an endless one, a looping continuation token,
//! an entity bomb, a slow drip) for testing how a client ends each.
//!
//! # What this crate adds to s3s-fs
//!
//! - **Relaxed bucket names** ([`GatewayConfig::relaxed_bucket_names`]). s3s rejects bucket
//!   names outside the AWS rules (`db_wal` is refused with `InvalidBucketName`), while the
//!   runbook's RGW accepts them. s3s has a hook for request paths; the `x-amz-copy-source` header
//!   and s3s-fs's ListBuckets have none, so this crate fills those in. `bucket_name.rs` explains
//!   how, including why SigV4 checks still see the request exactly as it was signed.
//! - **Behaviour closer to S3 and RGW**: PutObject and CreateMultipartUpload into a missing
//!   bucket return `NoSuchBucket` (s3s-fs would create the directory); DeleteBucket on a bucket
//!   that still has objects returns `BucketNotEmpty` (s3s-fs would delete everything);
//!   CreateBucket on an existing bucket returns `BucketAlreadyOwnedByYou`; GetObject in a
//!   missing bucket returns `NoSuchBucket`; GetObject and HeadObject on the `a` of an `a/b`
//!   return `NoSuchKey`; an unknown multipart upload id is `NoSuchUpload` (s3s-fs says
//!   `AccessDenied`); `encoding-type=url` listings encode keys (s3s-fs echoes the parameter but
//!   returns raw keys); ListObjects V1 echoes `Marker`; ListObjectsV2 continuation tokens are
//!   opaque (hex of the last key) instead of raw keys.
//! - **A server**: keep-alive HTTP/1.1 connections, a bounded number of them, graceful
//!   shutdown with a bounded wait, an idle timeout, and a handler panic turned into a
//!   `500 InternalError` response instead of a dropped connection.
//! - **HTTPS** ([`GatewayConfig::tls`]): TLS 1.2 and 1.3 through tokio-rustls with the ring
//!   provider, from a PEM certificate chain and key, so clients' certificate handling (a CA
//!   bundle, verification turned off) can be tested against a real server.
//!
//! # Operations
//!
//! Implemented by s3s-fs 0.14 and served here: ListBuckets, CreateBucket, HeadBucket,
//! DeleteBucket, GetBucketLocation, PutObject, GetObject (with `Range`), HeadObject,
//! DeleteObject, DeleteObjects, CopyObject, ListObjects (V1), ListObjectsV2 (prefix, delimiter,
//! continuation token, start-after, max-keys), CreateMultipartUpload, UploadPart,
//! UploadPartCopy (with `x-amz-copy-source-range`), ListParts, CompleteMultipartUpload and
//! AbortMultipartUpload. Every other operation answers `501 NotImplemented`.
//!
//! # Limits
//!
//! - Path-style addressing only (`http://127.0.0.1:PORT/bucket/key`).
//! - One listener serves either plain HTTP or HTTPS, not both; no client certificates.
//! - One access key and secret; no ACLs, policies, versioning, tagging, lifecycle, object lock
//!   or server-side encryption.
//! - ListMultipartUploads is not implemented, so abandoned uploads cannot be listed.
//! - Listing entries carry key, size, last-modified time and the `ETag` s3s-fs recorded for
//!   the object (read from its sidecar file, one small read per entry). A listing reads the whole bucket tree and sorts it
//!   in memory, so it is meant for test-sized buckets, not millions of objects.
//! - s3s-fs names its sidecar files after the base64 of bucket and key: a multipart upload
//!   of a key longer than about 128 bytes (fewer with a long bucket name) fails with
//!   `InternalError`, its sidecar's name being past the file system's 255-byte limit
//!   (a 148-byte key gives a 282-byte name); single PUTs hold keys up to about 160 bytes.
//! - The file system shapes the key space: `a` and `a/b` cannot both exist (one would be a
//!   file, the other a directory); keys ending in `/` become empty directories and are not
//!   listed; keys must be valid path components (no `..` escaping the bucket).
//! - Multipart: parts must be numbered 1, 2, 3, … without gaps at completion, and every part
//!   but the last must be at least 5 MiB (`EntityTooSmall`), as in S3.
//! - ListParts does not check the upload id (an unknown one lists no parts); DeleteObjects
//!   ignores `Quiet`; conditional requests are limited to what s3s-fs implements (`If-Match` /
//!   `If-None-Match` on PutObject and CompleteMultipartUpload, `x-amz-copy-source-if-*`).
//! - One gateway per root: s3s-fs names its temporary files with a per-process counter.
//! - CPU: s3s checks a signed payload's SHA-256 and s3s-fs computes the MD5 ETag as the body
//!   streams through, chunk by chunk on tokio's worker threads; file reads and writes run on
//!   tokio's blocking pool (a few `exists` checks in s3s-fs are direct system calls). An object
//!   placed in the root by hand, not uploaded, has its MD5 computed on each HeadObject or
//!   GetObject.
//! - s3s logs each request at `debug`, headers included (the `Authorization` header carries
//!   the access key and signature, never the secret). A subscriber that must not show them
//!   should filter the `s3s` target to `info`.
//!
//! Start reading at [`Gateway::start`]; the server loop is in `server.rs`, the storage glue in
//! `store.rs`, TLS in `tls.rs`.

mod bucket_name;
pub mod fault;
mod server;
mod store;
pub mod synthetic;
mod tls;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bucket_name::BucketNaming;

pub use crate::fault::{
    FaultMode, FaultProxy, FaultProxyConfig, FaultProxyError, FaultStats, OpStats,
};
pub use crate::synthetic::{
    HostileMode, Layout, SyntheticConfig, SyntheticError, SyntheticGateway, SyntheticStats,
};

/// How to start a [`Gateway`].
#[derive(Clone)]
pub struct GatewayConfig {
    /// Directory holding the buckets, one sub-directory each; created if missing.
    pub root: PathBuf,
    /// Address to listen on; [`GatewayConfig::new`] uses `127.0.0.1:0` (a free port chosen
    /// by the OS, see [`Gateway::local_addr`]).
    pub listen: SocketAddr,
    /// The one access key accepted in SigV4 / SigV2 signatures.
    pub access_key: String,
    /// The secret of [`GatewayConfig::access_key`]. Never printed by `Debug`.
    pub secret_key: String,
    /// Accept bucket names outside the AWS rules, as RGW does with
    /// `rgw_relaxed_s3_bucket_names = true`: 3 to 255 characters from `A-Z a-z 0-9 . _ -`,
    /// starting with a letter or digit. `db_wal` needs this. When `false`, only names that
    /// follow the AWS rules are accepted.
    pub relaxed_bucket_names: bool,
    /// Serve HTTPS with this certificate and key instead of plain HTTP; [`GatewayConfig::new`]
    /// leaves it `None`.
    pub tls: Option<TlsFiles>,
}

/// The PEM files of an HTTPS gateway's identity.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (its subject alternative names must cover the
    /// address clients use, e.g. the IP `127.0.0.1`).
    pub cert_pem: PathBuf,
    /// The leaf's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key_pem: PathBuf,
}

impl GatewayConfig {
    /// A configuration listening on `127.0.0.1:0` with relaxed bucket names.
    pub fn new(
        root: impl Into<PathBuf>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self {
            root: root.into(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            relaxed_bucket_names: true,
            tls: None,
        }
    }
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("root", &self.root)
            .field("listen", &self.listen)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("relaxed_bucket_names", &self.relaxed_bucket_names)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why a [`Gateway`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The access key or the secret is empty.
    #[error("gateway credentials are incomplete: {what} is empty")]
    EmptyCredential {
        /// `"access key"` or `"secret key"`.
        what: &'static str,
    },
    /// The root directory could not be created or opened.
    #[error("cannot use gateway root {}", path.display())]
    Root {
        /// The configured root.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A TLS certificate or key file could not be read or holds no usable PEM item.
    #[error("cannot load the gateway's TLS {what} {}", path.display())]
    TlsFile {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The configured file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The certificate and key were read but rustls refused them (a key that does not match
    /// the certificate, an unsupported key type).
    #[error(
        "cannot use TLS certificate {} with key {}",
        cert_pem.display(),
        key_pem.display()
    )]
    TlsConfig {
        /// The configured certificate file.
        cert_pem: PathBuf,
        /// The configured key file.
        key_pem: PathBuf,
        /// The underlying error.
        #[source]
        source: rustls::Error,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A running gateway. Dropping it stops accepting connections without waiting for the ones in
/// flight; [`Gateway::shutdown`] also waits for them (a bounded time).
#[derive(Debug)]
pub struct Gateway {
    local_addr: SocketAddr,
    scheme: &'static str,
    stop: watch::Sender<bool>,
    accept_loop: JoinHandle<()>,
}

impl Gateway {
    /// Prepares the root directory, binds the listener and spawns the accept loop on the
    /// current tokio runtime. Returns once the socket is listening: a client may connect as
    /// soon as this returns.
    ///
    /// # Errors
    ///
    /// [`GatewayError::EmptyCredential`] for an empty access key or secret,
    /// [`GatewayError::Root`] when the root cannot be created or opened,
    /// [`GatewayError::TlsFile`] or [`GatewayError::TlsConfig`] when [`GatewayConfig::tls`]
    /// is set and its files cannot be used, [`GatewayError::Bind`] when the address cannot be
    /// bound.
    pub async fn start(cfg: GatewayConfig) -> Result<Gateway, GatewayError> {
        if cfg.access_key.is_empty() {
            return Err(GatewayError::EmptyCredential { what: "access key" });
        }
        if cfg.secret_key.is_empty() {
            return Err(GatewayError::EmptyCredential { what: "secret key" });
        }
        let naming = if cfg.relaxed_bucket_names {
            BucketNaming::Relaxed
        } else {
            BucketNaming::Aws
        };

        // TLS files first: a bad certificate fails before anything is created on disk.
        let tls = match &cfg.tls {
            Some(files) => Some(tls::acceptor(files).await?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let store = store::Store::open(cfg.root.clone(), naming)
            .await
            .map_err(|source| GatewayError::Root {
                path: cfg.root.clone(),
                source,
            })?;
        let service = server::build_service(store, &cfg.access_key, &cfg.secret_key, naming);

        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| GatewayError::Bind {
                    addr: cfg.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| GatewayError::Bind {
            addr: cfg.listen,
            source,
        })?;

        let (stop, stop_rx) = watch::channel(false);
        let accept_loop = tokio::spawn(server::accept_loop(
            listener,
            Arc::new(service),
            tls,
            stop_rx,
        ));
        tracing::info!(%local_addr, scheme, root = %cfg.root.display(), ?naming, "gateway listening");

        Ok(Gateway {
            local_addr,
            scheme,
            stop,
            accept_loop,
        })
    }

    /// The address the gateway listens on, with the port the OS chose for `:0`.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint to give an S3 client, e.g. `http://127.0.0.1:41234` (path-style), or
    /// `https://127.0.0.1:41234` when [`GatewayConfig::tls`] is set.
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("{}://{}", self.scheme, self.local_addr)
    }

    /// Stops accepting connections, lets requests in flight finish for at most
    /// [`SHUTDOWN_GRACE`], closes what remains and returns. Idle keep-alive connections are
    /// closed at once. The port is free when this returns.
    pub async fn shutdown(self) {
        let Gateway {
            local_addr,
            scheme: _,
            stop,
            accept_loop,
        } = self;
        stop.send_replace(true);
        if let Err(err) = accept_loop.await {
            tracing::debug!(%local_addr, error = %err, "gateway accept loop ended abnormally");
        }
        tracing::info!(%local_addr, "gateway stopped");
    }
}

/// How long [`Gateway::shutdown`] waits for requests in flight.
///
/// Chosen: on loopback a 5 MiB part moves in milliseconds, so a few seconds lets every normal
/// request end, while Ctrl-C on `haul demo` still returns promptly.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
