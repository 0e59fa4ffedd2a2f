//! haul's engine: everything haul knows about S3, the network and the filesystem.
//!
//! The modules follow the layering in `ARCHITECTURE.md`: [`s3`] (the protocol, no IO),
//! [`transport`] (HTTP), [`congestion`] (how many requests, which to retry) stand alone and
//! are joined only in [`client`]. [`local`] owns the filesystem side, [`transfer`] moves
//! objects, [`config`] finds settings and [`progress`] carries events to the CLI.
//! Read [`client`] next.
#![deny(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod archive;
pub mod backup;
pub mod bench;
pub mod cancel;
pub mod client;
pub mod config;
pub mod congestion;
pub mod error;
pub mod local;
pub mod manifest;
pub mod progress;
pub mod s3;
pub mod sync;
pub mod transfer;
pub mod transport;

pub use error::{Error, ErrorKind};
