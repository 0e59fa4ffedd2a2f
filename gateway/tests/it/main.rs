//! The gateway against a real S3 client: each test starts a gateway on `127.0.0.1:0` over a
//! temporary directory and talks SigV4-signed HTTP/1.1 to it.
//!
//! The gateway's log goes to the test writer, so a failing test shows it (`RUST_LOG` selects
//! levels; the default shows the gateway at `debug`).

mod client;
mod copy;
mod fault;
mod multipart;
mod objects;
mod server;
mod synthetic;
mod tls;

use std::net::SocketAddr;

use haul_gateway::{Gateway, GatewayConfig};
use http::StatusCode;
use tempfile::TempDir;

use crate::client::Conn;

pub(crate) const ACCESS_KEY: &str = "haul-test-access";
pub(crate) const SECRET_KEY: &str = "haul-test-secret-0123456789";

/// A running gateway and the directory it stores into (removed on drop).
pub(crate) struct TestGateway {
    pub(crate) gateway: Gateway,
    pub(crate) root: TempDir,
}

impl TestGateway {
    /// A gateway with relaxed bucket names, as `haul demo` runs it.
    pub(crate) async fn start() -> TestGateway {
        Self::start_with(true).await
    }

    pub(crate) async fn start_with(relaxed_bucket_names: bool) -> TestGateway {
        init_log();
        let root = tempfile::tempdir().expect("temporary directory");
        let mut cfg = GatewayConfig::new(root.path(), ACCESS_KEY, SECRET_KEY);
        cfg.relaxed_bucket_names = relaxed_bucket_names;
        let gateway = Gateway::start(cfg).await.expect("gateway starts");
        TestGateway { gateway, root }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }

    /// A new connection with the gateway's key pair.
    pub(crate) async fn conn(&self) -> Conn {
        Conn::open(self.addr(), ACCESS_KEY, SECRET_KEY)
            .await
            .expect("connect")
    }

    /// A new connection and the buckets, created.
    pub(crate) async fn conn_with_buckets(&self, buckets: &[&str]) -> Conn {
        let mut conn = self.conn().await;
        for bucket in buckets {
            conn.send("PUT", &format!("/{bucket}"), &[], "")
                .await
                .expect("create bucket")
                .expect_status(StatusCode::OK);
        }
        conn
    }
}

fn init_log() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("haul_gateway=debug,s3s=warn,s3s_fs=warn")
    });
    // Several tests share the process: only the first one installs the subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// `n` bytes that differ from one offset to the next, so a misplaced range shows.
pub(crate) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}
