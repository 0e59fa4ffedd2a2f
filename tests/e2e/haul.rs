//! Running the real `haul` binary as a user would, with a clean environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

    /// Runs under a time limit and measures the child's peak RSS: for hostile input, where the
    /// question is whether haul ends with a clear error within bounded memory and time. A run
    /// over `limit` is killed (SIGKILL, by its id) and reported as such, never waited on for
    /// ever.
    pub(crate) fn bounded(mut self, limit: Duration) -> Result<Bounded> {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = self.cmd.spawn().context("spawning haul")?;
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let pid = libc::pid_t::try_from(child.id()).context("child pid")?;
        let mut killed = false;
        // wait4's ru_maxrss is no measure here: Linux carries the high-water mark of the mm a
        // process had before exec (this test binary's, shared by the spawn) into it, so it
        // never reads below this process's own size. The child's own mm's high-water mark,
        // VmHWM, polled while it runs, is; wait4's figure is kept only for a child that ended
        // before the first poll (an upper bound).
        let mut polled_kib: Option<u64> = None;
        let (status, peak_rss_kib) = loop {
            if let Some(kib) = vm_hwm_kib(pid) {
                polled_kib = Some(polled_kib.map_or(kib, |p| p.max(kib)));
            }
            if let Some((status, maxrss)) = wait4(pid, false)? {
                break (status, polled_kib.unwrap_or(maxrss));
            }
            if started.elapsed() > limit {
                // Our own child, by its id; then reap it.
                let _ = child.kill();
                killed = true;
                match wait4(pid, true)? {
                    Some((status, maxrss)) => break (status, polled_kib.unwrap_or(maxrss)),
                    None => bail!("haul (pid {pid}) did not end after SIGKILL"),
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = started.elapsed();
        // The child is reaped by wait4: std must not wait on it again.
        std::mem::forget(child);
        let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
        Ok(Bounded {
            exit_code: if killed { None } else { status },
            killed,
            stdout: String::from_utf8_lossy(&join(stdout)).into_owned(),
            stderr: String::from_utf8_lossy(&join(stderr)).into_owned(),
            peak_rss_bytes: peak_rss_kib.saturating_mul(1024),
            elapsed,
        })
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

/// What [`Haul::bounded`] saw of one run.
#[derive(Debug)]
pub(crate) struct Bounded {
    /// The exit code; `None` when it was killed (by the limit or a signal).
    pub(crate) exit_code: Option<i32>,
    /// Killed for running over the time limit.
    pub(crate) killed: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The child's peak resident set size (its `VmHWM`, polled every 2 ms while it ran).
    pub(crate) peak_rss_bytes: u64,
    pub(crate) elapsed: Duration,
}

impl Bounded {
    /// Requires that haul ended by itself with `code`, within `max_rss_mib` of peak RSS, and
    /// that its stderr names the problem (`needle`, case-insensitive). Returns stderr.
    pub(crate) fn failed_clearly(&self, code: i32, max_rss_mib: u64, needle: &str) -> Result<&str> {
        if self.killed {
            bail!(
                "haul ran past its time limit ({:.1?}) and was killed\nstderr: {}",
                self.elapsed,
                tail(&self.stderr)
            );
        }
        if self.exit_code != Some(code) {
            bail!(
                "expected exit code {code}, got {:?}\nstdout: {}\nstderr: {}",
                self.exit_code,
                tail(&self.stdout),
                tail(&self.stderr)
            );
        }
        let mib = self.peak_rss_bytes / (1024 * 1024);
        if mib > max_rss_mib {
            bail!("peak RSS {mib} MiB, over the bound of {max_rss_mib} MiB");
        }
        if !self.stderr.to_lowercase().contains(&needle.to_lowercase()) {
            bail!(
                "stderr does not name the problem ({needle:?}):\n{}",
                tail(&self.stderr)
            );
        }
        Ok(&self.stderr)
    }
}

/// The last few KiB of a child's output, for an error message.
fn tail(s: &str) -> &str {
    let mut start = s.len().saturating_sub(4096);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The high-water mark of `pid`'s resident set (`VmHWM` in `/proc/PID/status`), in KiB;
/// `None` once it has exited (a zombie has no memory map) or when it cannot be read.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// wait4(2) on one child: `Some((exit code, peak RSS in KiB))` once it has ended (the code is
/// `None` for a signal), `None` while it runs (unless `block`).
#[allow(unsafe_code)]
fn wait4(pid: libc::pid_t, block: bool) -> Result<Option<(Option<i32>, u64)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if block { 0 } else { libc::WNOHANG };
    // SAFETY: both pointers are to live, writable locals of the right types; `pid` is our own
    // unreaped child.
    let got = unsafe { libc::wait4(pid, &raw mut status, flags, &raw mut usage) };
    if got < 0 {
        return Err(std::io::Error::last_os_error()).context("wait4 on haul");
    }
    if got == 0 {
        return Ok(None);
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Some((code, u64::try_from(usage.ru_maxrss).unwrap_or(0))))
}

/// A bucket name unique to this run and test.
pub(crate) fn unique_bucket(stem: &str) -> String {
    format!("{stem}-{:08x}", rand::random::<u32>())
}
