//! Real gateways for the end-to-end suite, started and stopped by the harness.
//!
//! - `rgw`: Ceph's RADOS Gateway, a single-node cluster started by `scripts/gateway.sh`.
//! - `s3s`: haul's embedded gateway (the s3s-fs S3 server), run as `haul gateway serve` in a
//!   child process on a port the OS picks.
//!
//! `HAUL_E2E_GATEWAYS` (comma-separated, default `rgw,s3s`) selects them. A selected gateway
//! that cannot start fails the run loudly: no test passes vacuously.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running gateway.
pub(crate) struct Gateway {
    /// Short name used in test names.
    pub(crate) name: &'static str,
    /// `http://127.0.0.1:PORT` (`https://` for a gateway started with TLS).
    pub(crate) endpoint: String,
    /// Access key of the test user.
    pub(crate) access_key: String,
    /// Secret key of the test user.
    pub(crate) secret_key: String,
    /// Longest key the gateway stores: 1,024 bytes on RGW (the S3 limit); s3s-fs keeps each
    /// object's metadata in a file named after the whole key, so NAME_MAX (255) minus its
    /// suffixes bounds it (measured: 150 bytes pass, 200 fail).
    pub(crate) max_key_bytes: usize,
    /// Whether keys with `//`, `./` or `../` segments are stored as sent. s3s-fs maps keys to
    /// file paths and normalises them (`a//b` becomes `a/b`); RGW keeps them exactly.
    pub(crate) keeps_dot_segments: bool,
    kind: Kind,
}

enum Kind {
    S3s {
        child: Child,
        _root: tempfile::TempDir,
        log: PathBuf,
    },
    Rgw {
        state: PathBuf,
    },
}

impl Gateway {
    /// The last lines of the gateway's log, for failure reports.
    pub(crate) fn log_tail(&self) -> String {
        let path = match &self.kind {
            Kind::S3s { log, .. } => log.clone(),
            Kind::Rgw { state } => state.join("log").join("rgw.log"),
        };
        let text = fs_err::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!("({}):\n{}", path.display(), lines[start..].join("\n"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::S3s { child, .. } => {
                // Our own child, by its handle (its PID).
                let _ = child.kill();
                let _ = child.wait();
            }
            Kind::Rgw { state } => {
                let _ = Command::new(repo_root().join("scripts/gateway.sh"))
                    .args(["stop", "rgw"])
                    .arg(&*state)
                    .status();
            }
        }
    }
}

/// The repository root (the parent of `tests/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Starts every selected gateway, in parallel.
pub(crate) fn start_all(haul: &Path) -> Result<Vec<Gateway>> {
    let wanted = std::env::var("HAUL_E2E_GATEWAYS").unwrap_or_else(|_| "rgw,s3s".to_owned());
    let names: Vec<String> = wanted
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                scope.spawn(move || -> Result<Gateway> {
                    let started = Instant::now();
                    let gw = match name.as_str() {
                        "s3s" => start_s3s(haul),
                        "rgw" => start_rgw(),
                        other => bail!(
                            "unknown gateway {other:?} in HAUL_E2E_GATEWAYS (known: rgw, s3s)"
                        ),
                    }?;
                    eprintln!(
                        "e2e: gateway {} ready at {} in {:.1} s",
                        gw.name,
                        gw.endpoint,
                        started.elapsed().as_secs_f64()
                    );
                    Ok(gw)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("gateway start panicked"))?
            })
            .collect()
    })
}

/// A new, empty instance of the same kind as `like` (a new Ceph cluster for RGW): a cluster
/// to restore into, with its own keys. Stopped when dropped.
pub(crate) fn start_fresh(like: &Gateway) -> Result<Gateway> {
    match like.kind {
        Kind::S3s { .. } => spawn_s3s(&crate::haul::binary()?, "s3s-fresh", &[]),
        Kind::Rgw { .. } => start_rgw(),
    }
}

fn start_s3s(haul: &Path) -> Result<Gateway> {
    spawn_s3s(haul, "s3s", &[])
}

/// `haul gateway serve` as a child process, with `extra` arguments (`--tls-cert FILE …`),
/// returned once it printed its endpoint and accepts connections. Dropping the [`Gateway`]
/// kills the child by its handle and waits for it.
pub(crate) fn spawn_s3s(haul: &Path, name: &'static str, extra: &[&OsStr]) -> Result<Gateway> {
    let root = tempfile::tempdir()?;
    let data = root.path().join("data");
    fs_err::create_dir(&data)?;
    let log = root.path().join("gateway.log");
    let access_key = "haul-e2e".to_owned();
    let secret_key = format!("haul-e2e-secret-{}", rand::random::<u32>());
    let mut child = Command::new(haul)
        .args([
            "gateway",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-key",
            &access_key,
        ])
        .arg("--root")
        .arg(&data)
        .args(extra)
        .env("HAUL_GATEWAY_SECRET_KEY", &secret_key)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs_err::File::create(&log)?.into_parts().0)
        .spawn()
        .with_context(|| format!("starting {} gateway serve", haul.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let endpoint = loop {
        let Some(line) = lines.next() else {
            let mut err = String::new();
            fs_err::File::open(&log)?.read_to_string(&mut err)?;
            bail!("haul gateway serve exited before printing its endpoint:\n{err}");
        };
        let line = line?;
        if let Some(ep) = line.strip_prefix("endpoint=") {
            break ep.trim().to_owned();
        }
        if Instant::now() > deadline {
            bail!("haul gateway serve did not print its endpoint within 30 s");
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    probe(&endpoint)?;
    Ok(Gateway {
        name,
        max_key_bytes: 150,
        keeps_dot_segments: false,
        endpoint,
        access_key,
        secret_key,
        kind: Kind::S3s {
            child,
            _root: root,
            log,
        },
    })
}

fn start_rgw() -> Result<Gateway> {
    if Command::new("radosgw").arg("--version").output().is_err() {
        bail!(
            "Ceph's radosgw is not installed: run `scripts/gateway.sh install rgw` (the README's \
             test command does), or set HAUL_E2E_GATEWAYS=s3s to test only the embedded gateway"
        );
    }
    // A single-node Ceph cluster occasionally fails its first steps on a loaded 2-core machine
    // (seen: the OSD's mkfs refused with EPERM while the monitor was still settling); a fresh
    // cluster in a fresh directory is tried up to three times, each failure shown in full.
    let mut attempt = 0;
    let (out, state) = loop {
        attempt += 1;
        let state = tempfile::Builder::new()
            .prefix("haul-e2e-rgw-")
            .tempdir()?
            .keep();
        let out = Command::new(repo_root().join("scripts/gateway.sh"))
            .args(["start", "rgw"])
            .arg(&state)
            .stderr(Stdio::inherit())
            .output()
            .context("running scripts/gateway.sh start rgw")?;
        if out.status.success() {
            break (out, state);
        }
        if attempt >= 3 {
            bail!(
                "scripts/gateway.sh start rgw failed {attempt} times (last: {})",
                out.status
            );
        }
        eprintln!(
            "e2e: starting Ceph RGW failed ({}), trying again",
            out.status
        );
        let _ = fs_err::remove_dir_all(&state);
    };
    let text = String::from_utf8(out.stdout)?;
    let get = |k: &str| -> Result<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
            .with_context(|| format!("gateway.sh printed no {k}:\n{text}"))
    };
    Ok(Gateway {
        name: "rgw",
        max_key_bytes: 1024,
        keeps_dot_segments: true,
        endpoint: get("HAUL_TEST_RGW_ENDPOINT")?,
        access_key: get("HAUL_TEST_RGW_ACCESS_KEY")?,
        secret_key: get("HAUL_TEST_RGW_SECRET_KEY")?,
        kind: Kind::Rgw { state },
    })
}

/// Waits until something accepts TCP connections at the endpoint.
fn probe(endpoint: &str) -> Result<()> {
    let addr = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing accepts connections at {endpoint} after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
