//! Running the real `haul` binary as a user would, with a clean environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::gateway::{Gateway, repo_root};

/// Path of the `haul` binary: `HAUL_BIN`, else `target/<profile>/haul` beside this test
/// binary, built with cargo when missing.
pub(crate) fn binary() -> Result<PathBuf> {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = BIN.get() {
        return Ok(p.clone());
    }
    let path = if let Ok(p) = std::env::var("HAUL_BIN") {
        PathBuf::from(p)
    } else {
        // target/debug/deps/e2e-HASH -> target/debug/haul
        let exe = std::env::current_exe()?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .context("test binary has no target directory")?
            .to_path_buf();
        let bin = profile_dir.join("haul");
        if !bin.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "haul", "--bin", "haul"])
                .current_dir(repo_root())
                .status()?;
            if !status.success() {
                bail!("cargo build -p haul failed");
            }
        }
        bin
    };
    if !path.exists() {
        bail!("haul binary not found at {}", path.display());
    }
    Ok(BIN.get_or_init(|| path).clone())
}

/// A `haul` command for `gw`, with an environment holding only what the test gives it: a
/// fresh HOME (no ~/.s3cfg, no ~/.aws), the gateway's endpoint and keys.
pub(crate) struct Haul {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    home: tempfile::TempDir,
}

impl Haul {
    /// `haul ARGS…` against `gw`.
    pub(crate) fn new(gw: &Gateway, args: &[&str]) -> Result<Self> {
        let mut h = Self::bare(args)?;
        h.cmd
            .env("AWS_ACCESS_KEY_ID", &gw.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &gw.secret_key)
            .env("AWS_ENDPOINT_URL", &gw.endpoint);
        Ok(h)
    }

    /// `haul ARGS…` with no gateway settings at all.
    pub(crate) fn bare(args: &[&str]) -> Result<Self> {
        let home = tempfile::tempdir()?;
        let mut cmd = Command::new(binary()?);
        cmd.args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_BACKTRACE", "1");
        Ok(Self {
            cmd,
            stdin: None,
            home,
        })
    }

    /// Sets an environment variable.
    pub(crate) fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// The fresh HOME directory of this command.
    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    /// Feeds `data` on stdin.
    pub(crate) fn stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }

    /// Starts in the background (stdin closed, output discarded); the caller waits on it and
    /// keeps the returned HOME directory until then.
    pub(crate) fn spawn(mut self) -> Result<(std::process::Child, tempfile::TempDir)> {
        let child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning haul")?;
        Ok((child, self.home))
    }

    /// Runs to completion.
    pub(crate) fn output(mut self) -> Result<Output> {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().context("spawning haul")?;
        let writer = match (self.stdin.take(), child.stdin.take()) {
            (Some(data), Some(mut pipe)) => Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            })),
            _ => None,
        };
        let out = child.wait_with_output()?;
        if let Some(w) = writer {
            let _ = w.join();
        }
        Ok(out)
    }

    /// Runs and requires success; returns stdout.
    pub(crate) fn ok(self) -> Result<Vec<u8>> {
        let desc = format!("{:?}", self.cmd.get_args().collect::<Vec<_>>());
        let out = self.output()?;
        if !out.status.success() {
            bail!(
                "haul {desc} failed ({}):\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// Runs and requires failure with `code`; returns stderr.
    pub(crate) fn fails_with(self, code: i32) -> Result<String> {
        let desc = format!("{:?}", self.cmd.get_args().collect::<Vec<_>>());
        let out = self.output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() != Some(code) {
            bail!(
                "haul {desc}: expected exit code {code}, got {:?}\nstdout: {}\nstderr: {stderr}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
            );
        }
        Ok(stderr)
    }
}

/// A bucket name unique to this run and test.
pub(crate) fn unique_bucket(stem: &str) -> String {
    format!("{stem}-{:08x}", rand::random::<u32>())
}
