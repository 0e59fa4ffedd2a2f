//! haul through a misbehaving gateway: `haul gateway fault-proxy` (a fault-injecting reverse
//! proxy, `haul_gateway::fault`) in front of the harness's gateway, one proxy per case, run as
//! a child process and steered through its control API with plain HTTP/1.1 over a TCP socket.
//!
//! Every case round-trips a small tree (1 KiB to 12 MiB; 5 MiB parts so multipart uploads and
//! ranged downloads run) with `haul sync` through the proxy, up into a fresh prefix and down
//! into a fresh directory, and requires byte-identical files and that the fault was actually
//! thrown (the proxy's counters). Buckets are made and removed directly on the gateway.
//!
//! A case the engine cannot pass yet is registered with an ignore reason: it is reported as
//! ignored with that reason, and runs with `--ignored` or `--include-ignored`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use libtest_mimic::{Completion, Failed, Trial};
use serde_json::Value;

use crate::cases::data;
use crate::gateway::Gateway;
use crate::haul::{self, Haul, unique_bucket};

/// One case: a mode of the proxy and what haul must do under it.
struct FaultCase {
    name: &'static str,
    run: fn(&Gateway) -> Result<()>,
    /// Runs only against this gateway (reported as ignored on the others): the cases that
    /// aim a seeded fault at the n-th request depend on the order of requests, which differs
    /// where a gateway answers differently (s3s-fs has no ListMultipartUploads).
    only: Option<&'static str>,
    /// Why the case cannot pass yet (an engine fix missing); `None` runs it.
    ignore: Option<&'static str>,
}

const ALL: &[FaultCase] = &[
    FaultCase {
        name: "issue_6_faults_read_ahead_to_stdout",
        run: read_ahead_to_stdout,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_6_faults_tar_only_reads_the_blocks_it_needs",
        run: tar_only_reads_what_it_needs,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_none_round_trip",
        run: no_faults,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_first_byte_delay",
        run: first_byte_delay,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_max_body_shrinks_parts",
        run: max_body,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_body_reset_shrinks_parts",
        run: max_body_reset,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_body_limit_on_a_streamed_upload",
        run: streamed_body_limit,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_mode_switched_mid_sync",
        run: mode_switched_mid_sync,
        only: None,
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_download_errors_resets_truncations",
        run: download_faults,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_max_concurrent_4",
        run: max_concurrent,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_error_rate",
        run: error_rate,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_reset_rate",
        run: reset_rate,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_truncate_rate",
        run: truncate_rate,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_combined_switched_mid_run",
        run: combined_switched_mid_run,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_create_multipart_upload_500",
        run: create_multipart_upload_500,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_create_multipart_upload_answer_reset",
        run: create_multipart_upload_answer_reset,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_complete_multipart_upload_answer_truncated",
        run: complete_multipart_upload_answer_truncated,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_4_faults_list_objects_answer_truncated",
        run: list_objects_answer_truncated,
        only: Some("s3s"),
        ignore: None,
    },
    FaultCase {
        name: "issue_3_faults_sigterm_during_a_stalled_listing",
        run: sigterm_during_a_stalled_listing,
        only: None,
        ignore: None,
    },
];

/// The cases against `gw`, named `GATEWAY::case`.
pub(crate) fn trials(gw: &Arc<Gateway>) -> Vec<Trial> {
    let requested = std::env::args().any(|a| a == "--ignored" || a == "--include-ignored");
    let only_ignored = std::env::args().any(|a| a == "--ignored");
    ALL.iter()
        .map(|case| {
            let gw = Arc::clone(gw);
            let name = format!("{}::{}", gw.name, case.name);
            let unsupported = case.only.is_some_and(|only| only != gw.name);
            let waiting = case.ignore.filter(|_| !requested);
            Trial::ignorable_test(name, move || {
                if let (true, Some(only)) = (unsupported, case.only) {
                    return Ok(Completion::ignored_with(format!(
                        "runs against {only} only"
                    )));
                }
                if let Some(reason) = waiting {
                    return Ok(Completion::ignored_with(reason));
                }
                (case.run)(&gw)
                    .map(|()| Completion::Completed)
                    .map_err(|e| Failed::from(format!("{e:#}\ngateway log {}", gw.log_tail())))
            })
            // With --ignored only flagged trials run: flag the ones that wait for the engine.
            .with_ignored_flag(unsupported || (only_ignored && case.ignore.is_some()))
        })
        .collect()
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The flags every round trip uses: 5 MiB parts, multipart above 5 MiB.
const PARTS_5MIB: &[&str] = &["--part-size", "5MiB", "--multipart-threshold", "5MiB"];

// ---- the proxy as a child process ----

/// `haul gateway fault-proxy` in front of a gateway; killed and reaped on drop.
pub(crate) struct Proxy {
    child: Child,
    pub(crate) endpoint: String,
    control: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts a proxy to `gw` with `mode` (JSON) in force from the first request.
    pub(crate) fn start(gw: &Gateway, mode: &str) -> Result<Proxy> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("fault-proxy.log");
        let mut child = Command::new(haul::binary()?)
            .args(["gateway", "fault-proxy", "--upstream", &gw.endpoint])
            .args(["--mode", mode])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs_err::File::create(&log)?.into_parts().0)
            .spawn()
            .context("starting haul gateway fault-proxy")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut endpoint = None;
        let mut control = None;
        while endpoint.is_none() || control.is_none() {
            let Some(line) = lines.next() else {
                let text = fs_err::read_to_string(&log).unwrap_or_default();
                bail!("haul gateway fault-proxy exited before printing its addresses:\n{text}");
            };
            let line = line?;
            if let Some(url) = line.strip_prefix("endpoint=") {
                endpoint = Some(url.trim().to_owned());
            } else if let Some(url) = line.strip_prefix("control=") {
                control = Some(url.trim().to_owned());
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Proxy {
            child,
            endpoint: endpoint.unwrap_or_default(),
            control: control.unwrap_or_default(),
            log,
            _dir: dir,
        })
    }

    fn set_mode(&self, mode: &str) -> Result<()> {
        control_request(&self.control, "PUT", "/__fault/mode", mode)?;
        Ok(())
    }

    pub(crate) fn stats(&self) -> Result<Value> {
        let body = control_request(&self.control, "GET", "/__fault/stats", "")?;
        serde_json::from_str(&body).with_context(|| format!("stats are not JSON: {body}"))
    }

    fn log_tail(&self) -> String {
        let text = fs_err::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `haul ARGS…` against the gateway's keys, through this proxy.
    pub(crate) fn haul(&self, gw: &Gateway, args: &[&str]) -> Result<Haul> {
        Ok(Haul::bare(args)?
            .env("AWS_ACCESS_KEY_ID", &gw.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &gw.secret_key)
            .env("AWS_ENDPOINT_URL", &self.endpoint))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Our own child, by its handle (its PID).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange with the control API (`Connection: close`, read to the end); the body
/// of a `200` answer, an error with the status and body otherwise.
fn control_request(base: &str, method: &str, path: &str, body: &str) -> Result<String> {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("connecting to control API {base}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, text) = answer
        .split_once("\r\n\r\n")
        .with_context(|| format!("no HTTP answer from {base}{path}: {answer:?}"))?;
    let status = head.split(' ').nth(1).unwrap_or_default();
    ensure!(status == "200", "{method} {base}{path}: {head}\n{text}");
    Ok(text.to_owned())
}

// ---- data and round trips ----

/// Writes files of `sizes` under `root` (`f00`, `dir/f01`, …); returns their relative paths.
fn make_files(root: &Path, sizes: &[usize], stem: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        let key = if i % 2 == 0 {
            format!("{stem}{i:03}.bin")
        } else {
            format!("dir/{stem}{i:03}.bin")
        };
        let path = root.join(&key);
        fs_err::create_dir_all(path.parent().context("parent")?)?;
        fs_err::write(&path, data(*len, i as u64 + 1))?;
        keys.push(key);
    }
    Ok(keys)
}

/// The standard tree: 1 KiB to 12 MiB, two of them multipart at 5 MiB parts.
const TREE: &[usize] = &[KIB, 64 * KIB, MIB + 7, 5 * MIB - 1, 5 * MIB + 1, 12 * MIB];

/// What one `haul sync` did, from its `--json` output.
struct Run {
    summary: Value,
    /// The last `progress` event's limiter: `{limit, in_flight, retries, throttles}`.
    limiter: Value,
    stderr: String,
}

impl Run {
    fn requests(&self) -> u64 {
        ["source", "dest"]
            .iter()
            .filter_map(|side| self.summary["requests"][side].as_object())
            .flat_map(|ops| ops.values())
            .filter_map(Value::as_u64)
            .sum()
    }
}

/// `haul --json [global…] sync [args…]` through the proxy; requires exit 0 and no failed entry.
fn sync(proxy: &Proxy, gw: &Gateway, global: &[&str], args: &[&str]) -> Result<Run> {
    let mut all = vec!["--json"];
    all.extend_from_slice(global);
    all.push("sync");
    all.extend_from_slice(args);
    let out = proxy.haul(gw, &all)?.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stats = proxy.stats().map(|s| s.to_string()).unwrap_or_default();
    if !out.status.success() {
        let failed: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains(r#""event":"failed""#))
            .collect();
        let summary = stdout
            .lines()
            .rev()
            .find(|l| l.contains(r#""event":"summary""#))
            .unwrap_or("none");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        bail!(
            "haul {all:?} through the fault proxy failed ({}); {} failed events, the first: \
             {:#?}\nsummary: {summary}\nstderr, {} error lines, the first: {:#?}\n\
             proxy stats: {stats}\nproxy log:\n{}",
            out.status,
            failed.len(),
            &failed[..failed.len().min(5)],
            errors.len(),
            &errors[..errors.len().min(10)],
            proxy.log_tail()
        );
    }
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let summary = events
        .iter()
        .rev()
        .find(|e| e["event"] == "summary")
        .cloned()
        .with_context(|| format!("no summary in {stdout}"))?;
    let limiter = events
        .iter()
        .rev()
        .find(|e| e["event"] == "progress")
        .map_or(Value::Null, |e| e["limiter"].clone());
    ensure!(
        summary["failed"] == 0,
        "haul reported failures: {summary}\nstderr: {stderr}"
    );
    Ok(Run {
        summary,
        limiter,
        stderr,
    })
}

/// Every file under `keys` has the same bytes in both trees.
fn same_files(a: &Path, b: &Path, keys: &[String]) -> Result<()> {
    for k in keys {
        let (x, y) = (
            fs_err::read(a.join(k))?,
            fs_err::read(b.join(k)).with_context(|| format!("{k} missing after the round trip"))?,
        );
        ensure!(
            x.len() == y.len(),
            "{k}: {} bytes, came back as {}",
            x.len(),
            y.len()
        );
        ensure!(x == y, "{k}: content differs after the round trip");
    }
    Ok(())
}

/// Both legs of a round trip through the proxy.
struct RoundTrip {
    up: Run,
    down: Run,
}

/// `sizes` up through the proxy into a new bucket, down into a fresh directory, compared.
/// `flags` go after `sync`, `global` before it.
fn round_trip(
    gw: &Gateway,
    proxy: &Proxy,
    sizes: &[usize],
    global: &[&str],
    flags: &[&str],
) -> Result<RoundTrip> {
    round_trip_with(gw, proxy, sizes, global, flags, || Ok(()))
}

/// [`round_trip`], calling `between` after the upload and before the download.
fn round_trip_with(
    gw: &Gateway,
    proxy: &Proxy,
    sizes: &[usize],
    global: &[&str],
    flags: &[&str],
    between: impl FnOnce() -> Result<()>,
) -> Result<RoundTrip> {
    let bucket = unique_bucket("faults");
    Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
    let src = tempfile::tempdir()?;
    let keys = make_files(src.path(), sizes, "f")?;
    let url = format!("s3://{bucket}/tree/");
    let s = src.path().to_str().context("path")?;
    let mut up_args = flags.to_vec();
    up_args.extend([s, url.as_str()]);
    let up = sync(proxy, gw, global, &up_args).context("upload through the proxy")?;
    ensure!(
        up.summary["transferred"] == keys.len(),
        "upload moved {} of {} files: {}",
        up.summary["transferred"],
        keys.len(),
        up.summary
    );
    between()?;
    // Beside the build, on a disk filesystem, where the ranged downloads take direct I/O and
    // its aligned resumes are exercised (a tmpfs `/tmp` may have no direct I/O).
    let dst = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let d = dst.path().join("restore");
    let d_str = d.to_str().context("path")?;
    let mut down_args = flags.to_vec();
    down_args.extend([url.as_str(), d_str]);
    let down = sync(proxy, gw, global, &down_args).context("download through the proxy")?;
    same_files(src.path(), &d, &keys)?;
    // Nothing but the tree came down (no temporary file left behind).
    let mut found = Vec::new();
    walk(&d, &d, &mut found)?;
    found.sort();
    let mut want = keys.clone();
    want.sort();
    ensure!(
        found == want,
        "restored tree holds {found:?}, expected {want:?}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{bucket}")])?.ok()?;
    Ok(RoundTrip { up, down })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root)?.to_str().context("utf-8 path")?;
            out.push(rel.to_owned());
        }
    }
    Ok(())
}

/// Sets a mode from a thread once the proxy has seen a number of requests.
struct Switcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Option<u64>>>,
}

impl Switcher {
    /// Sets `mode` once `proxy` has seen `after` requests.
    fn after(proxy: &Arc<Proxy>, after: u64, mode: &'static str) -> Switcher {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (proxy, stop) = (Arc::clone(proxy), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let seen = counter(&proxy.stats()?, "requests");
                    if seen >= after {
                        proxy.set_mode(mode)?;
                        return Ok(Some(seen));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None)
            })
        };
        Switcher { stop, thread }
    }

    /// Stops waiting; after how many requests the mode was switched.
    fn finish(self) -> Result<u64> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("mode switcher panicked"))??
            .context("the sync ended before the mode was switched")
    }
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or(0)
}

/// One line for the test log: what the proxy did and what haul saw.
fn report(case: &str, gw: &Gateway, stats: &Value, trip: &RoundTrip) {
    eprintln!(
        "faults: {}::{case}: proxy {stats}; haul up {} requests (limiter {}), down {} requests \
         (limiter {})",
        gw.name,
        trip.up.requests(),
        trip.up.limiter,
        trip.down.requests(),
        trip.down.limiter,
    );
}

// ---- the cases ----

/// The proxy with no faults is transparent: signatures verify, bytes match, nothing injected.
fn no_faults(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, "{}")?;
    let trip = round_trip(gw, &proxy, TREE, &[], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("none", gw, &stats, &trip);
    let total: usize = TREE.iter().sum();
    ensure!(
        counter(&stats, "requests") == counter(&stats, "forwarded"),
        "requests not all forwarded: {stats}"
    );
    for fault in [
        "slow_downs",
        "internal_errors",
        "resets",
        "truncations",
        "too_large",
        "upstream_errors",
    ] {
        ensure!(
            counter(&stats, fault) == 0,
            "{fault} without a fault mode: {stats}"
        );
    }
    ensure!(
        counter(&stats, "bytes_up") >= total as u64
            && counter(&stats, "bytes_down") >= total as u64,
        "{total} bytes each way expected: {stats}"
    );
    ensure!(
        trip.up.requests() + trip.down.requests() == counter(&stats, "requests"),
        "haul counted {} + {} requests, the proxy {}",
        trip.up.requests(),
        trip.down.requests(),
        counter(&stats, "requests")
    );
    Ok(())
}

/// RGW's `rgw max concurrent requests = 4` in front of `haul --concurrency 64`: the sync
/// completes; the throttles and requests are reported (the adaptive limiter should settle
/// near 4). The tree has 400 files of 64 KiB besides the standard ones, as in issue 4's
/// s5cmd measurement.
fn max_concurrent(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"max_concurrent": 4}"#)?;
    let mut sizes = TREE.to_vec();
    sizes.extend(std::iter::repeat_n(64 * KIB, 400));
    let trip = round_trip(gw, &proxy, &sizes, &["--concurrency", "64"], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("max_concurrent_4", gw, &stats, &trip);
    let (requests, throttled) = (counter(&stats, "requests"), counter(&stats, "slow_downs"));
    let per_mille = throttled * 1000 / requests.max(1);
    eprintln!(
        "faults: {}::max_concurrent_4: {throttled} of {requests} requests answered 503 SlowDown \
         ({}.{} %); most in flight offered {}, forwarded {}",
        gw.name,
        per_mille / 10,
        per_mille % 10,
        counter(&stats, "max_in_flight"),
        counter(&stats, "max_forwarded_in_flight"),
    );
    ensure!(throttled > 0, "haul never went above 4 in flight: {stats}");
    ensure!(
        counter(&stats, "max_forwarded_in_flight") <= 4,
        "the proxy let more than 4 through: {stats}"
    );
    // The summary tells what the limiter did: the upload's gateway is the destination.
    let (up, local) = (
        &trip.up.summary["concurrency"]["dest"],
        &trip.up.summary["concurrency"]["source"],
    );
    eprintln!("faults: {}::max_concurrent_4: upload limiter {up}", gw.name);
    ensure!(local.is_null(), "a directory has no limiter: {local}");
    let field = |name: &str| up[name].as_f64().with_context(|| format!("{name} in {up}"));
    ensure!(up["ceiling"] == 64, "ceiling is --concurrency: {up}");
    ensure!(field("throttles")? >= 1.0, "the 503s are not counted: {up}");
    ensure!(
        field("lowest")? < 16.0 && field("lowest")? <= field("mean")?,
        "the throttles should have pulled the limit under its start of 16: {up}"
    );
    ensure!(
        field("mean")? <= field("highest")? && field("highest")? <= 64.0,
        "mean and highest out of order: {up}"
    );
    Ok(())
}

/// One request in five answered `500 InternalError`.
fn error_rate(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"error_rate": 0.2, "seed": 4}"#)?;
    let trip = round_trip(gw, &proxy, TREE, &[], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("error_rate", gw, &stats, &trip);
    ensure!(
        counter(&stats, "internal_errors") > 0,
        "no 500 thrown: {stats}"
    );
    Ok(())
}

/// One request in five has its connection reset: uploads part-way through their body, other
/// requests part-way through the answer.
fn reset_rate(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"reset_rate": 0.2, "seed": 5}"#)?;
    let trip = round_trip(gw, &proxy, TREE, &[], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("reset_rate", gw, &stats, &trip);
    ensure!(counter(&stats, "resets") > 0, "no reset thrown: {stats}");
    Ok(())
}

/// One answer in three cut short of its `Content-Length`, then the connection closed.
fn truncate_rate(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"truncate_rate": 0.3, "seed": 6}"#)?;
    let trip = round_trip(gw, &proxy, TREE, &[], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("truncate_rate", gw, &stats, &trip);
    ensure!(
        counter(&stats, "truncations") > 0,
        "no body truncated: {stats}"
    );
    Ok(())
}

/// Every answer's head held back 300 ms.
fn first_byte_delay(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"first_byte_delay_ms": 300}"#)?;
    let trip = round_trip(gw, &proxy, TREE, &[], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("first_byte_delay", gw, &stats, &trip);
    ensure!(
        counter(&stats, "delayed") == counter(&stats, "forwarded"),
        "not every answer delayed: {stats}"
    );
    Ok(())
}

/// A router's 6 MiB body limit against 16 MiB parts: haul must lower its part size (and turn
/// a single PUT above the limit into a multipart upload) and finish.
fn max_body(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"max_body": 6291456}"#)?;
    let mut sizes = TREE.to_vec();
    sizes.push(20 * MIB);
    let flags = ["--part-size", "16MiB", "--multipart-threshold", "16MiB"];
    let trip = round_trip(gw, &proxy, &sizes, &[], &flags)?;
    let stats = proxy.stats()?;
    report("max_body", gw, &stats, &trip);
    ensure!(counter(&stats, "too_large") > 0, "no 413 thrown: {stats}");
    eprintln!(
        "faults: {}::max_body: haul said: {}",
        gw.name,
        trip.up
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    Ok(())
}

/// A router that drops the connection after 6 MiB of a larger body instead of answering 413:
/// haul must take the repeated cut for a body limit, lower its part size and finish, and say
/// what it found.
fn max_body_reset(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"max_body_reset": 6291456}"#)?;
    let mut sizes = TREE.to_vec();
    sizes.push(20 * MIB);
    let flags = ["--part-size", "16MiB", "--multipart-threshold", "16MiB"];
    let trip = round_trip(gw, &proxy, &sizes, &[], &flags)?;
    let stats = proxy.stats()?;
    report("max_body_reset", gw, &stats, &trip);
    ensure!(counter(&stats, "body_resets") >= 2, "no body cut: {stats}");
    ensure!(
        trip.up
            .stderr
            .contains("closed the connection twice while sending a body of"),
        "haul did not say it found a body limit: {}",
        trip.up.stderr
    );
    Ok(())
}

/// All faults at once at low rates, and the mode switched while a sync runs: first
/// throttling and errors, then resets, truncations and a slow first byte.
fn combined_switched_mid_run(gw: &Gateway) -> Result<()> {
    let first = r#"{"max_concurrent": 8, "error_rate": 0.05, "seed": 11}"#;
    let second = r#"{"max_concurrent": 16, "reset_rate": 0.05, "truncate_rate": 0.05,
                    "first_byte_delay_ms": 20, "seed": 12}"#;
    let proxy = Arc::new(Proxy::start(gw, first)?);
    // Switch once the upload is under way.
    let switcher = Switcher::after(&proxy, 40, second);
    let mut sizes = TREE.to_vec();
    sizes.extend(std::iter::repeat_n(16 * KIB, 100));
    let trip = round_trip(gw, &proxy, &sizes, &["--concurrency", "32"], PARTS_5MIB);
    let switched_at = switcher.finish()?;
    let trip = trip?;
    let stats = proxy.stats()?;
    report("combined", gw, &stats, &trip);
    eprintln!(
        "faults: {}::combined: mode switched after {switched_at} requests",
        gw.name
    );
    ensure!(
        counter(&stats, "slow_downs") + counter(&stats, "internal_errors") > 0
            && counter(&stats, "resets") + counter(&stats, "truncations") > 0,
        "both modes should have thrown something: {stats}"
    );
    Ok(())
}

/// The mode changed while a sync runs: a slow first byte for the first requests, then none;
/// the control API reports the new mode and only the requests before the switch waited.
fn mode_switched_mid_sync(gw: &Gateway) -> Result<()> {
    let proxy = Arc::new(Proxy::start(gw, r#"{"first_byte_delay_ms": 100}"#)?);
    let switcher = Switcher::after(&proxy, 8, "{}");
    let mut sizes = TREE.to_vec();
    sizes.extend(std::iter::repeat_n(16 * KIB, 40));
    let trip = round_trip(gw, &proxy, &sizes, &["--concurrency", "4"], PARTS_5MIB);
    let switched_at = switcher.finish()?;
    let trip = trip?;
    let stats = proxy.stats()?;
    report("mode_switched", gw, &stats, &trip);
    let mode: Value = serde_json::from_str(&control_request(
        &proxy.control,
        "GET",
        "/__fault/mode",
        "",
    )?)?;
    ensure!(
        mode["first_byte_delay_ms"] == 0,
        "mode after the switch: {mode}"
    );
    let (delayed, forwarded) = (counter(&stats, "delayed"), counter(&stats, "forwarded"));
    ensure!(
        delayed >= 1 && delayed <= switched_at + 4 && delayed < forwarded,
        "{delayed} of {forwarded} answers delayed, switched after {switched_at}: {stats}"
    );
    Ok(())
}

/// Upload clean, then download through 500s, resets and truncated bodies: every GET and
/// HEAD is idempotent, broken bodies resume from the byte where they stopped. Seed 36 leaves
/// the listing (request 0 after the switch) alone and hits requests 1 (reset), 2 (truncate)
/// and 4 (500) among others.
fn download_faults(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, "{}")?;
    let mode = r#"{"error_rate": 0.2, "reset_rate": 0.2, "truncate_rate": 0.2, "seed": 36}"#;
    let trip = round_trip_with(gw, &proxy, TREE, &[], PARTS_5MIB, || proxy.set_mode(mode))?;
    let stats = proxy.stats()?;
    report("download_faults", gw, &stats, &trip);
    for fault in ["internal_errors", "resets", "truncations"] {
        ensure!(counter(&stats, fault) > 0, "no {fault} thrown: {stats}");
    }
    Ok(())
}

/// `haul cp s3://… -` (as `tar pull` reads archives) of a 23 MiB + 5 B object with 5 MiB
/// ranges read ahead, through the proxy throwing errors, resets and truncations: the bytes on
/// stdout are exactly the object's, each broken range resumed where it stopped; then the
/// same without faults, and with the default 16 MiB part (one stream, no read-ahead).
fn read_ahead_to_stdout(gw: &Gateway) -> Result<()> {
    let bucket = unique_bucket("readahead");
    Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("archive.tar.gz");
    let bytes = data(23 * MIB + 5, 23);
    fs_err::write(&src, &bytes)?;
    let url = format!("s3://{bucket}/archive.tar.gz");
    Haul::new(gw, &["cp", src.to_str().context("path")?, &url])?.ok()?;
    let mode = r#"{"error_rate": 0.15, "reset_rate": 0.15, "truncate_rate": 0.15, "seed": 61}"#;
    for (mode, part) in [(mode, "5MiB"), ("{}", "5MiB"), ("{}", "16MiB")] {
        let proxy = Proxy::start(gw, mode)?;
        let out = proxy
            .haul(gw, &["cp", "--part-size", part, &url, "-"])?
            .output()?;
        let stats = proxy.stats()?;
        ensure!(
            out.status.success(),
            "cp to stdout through the proxy ({mode}, {part}) failed ({}):\nstderr: {}\n{stats}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.stdout.len() == bytes.len() && out.stdout == bytes,
            "stdout ({} bytes) differs from the object ({} bytes); {mode}, {part}: {stats}",
            out.stdout.len(),
            bytes.len()
        );
        // Without faults: the first GET, then the 18 MiB + 5 B left as 4 ranges of at most
        // 5 MiB; with 16 MiB parts the object is under two parts: one GET.
        let want = if part == "5MiB" { 5 } else { 1 };
        ensure!(
            mode != "{}" || counter(&stats, "requests") == want,
            "expected {want} GETs with {part} ranges: {stats}"
        );
        if mode != "{}" {
            let thrown: u64 = ["internal_errors", "resets", "truncations"]
                .iter()
                .map(|f| counter(&stats, f))
                .sum();
            ensure!(thrown > 0, "no fault thrown: {stats}");
        }
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{bucket}")])?.ok()?;
    Ok(())
}

/// `tar pull --only` through the proxy: a 24 MiB archive (incompressible files) from which
/// two small files are restored reads the index and one ranged GET of the blocks they lie in,
/// well under the archive's size; `tar verify` reads it all and agrees; both survive faults.
fn tar_only_reads_what_it_needs(gw: &Gateway) -> Result<()> {
    let bucket = unique_bucket("taronly");
    Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("store");
    fs_err::create_dir_all(src.join("small"))?;
    fs_err::write(src.join("big.bin"), data(20 * MIB, 5))?;
    fs_err::write(src.join("small/a.txt"), b"alpha")?;
    fs_err::write(src.join("small/b.txt"), data(3000, 6))?;
    fs_err::write(src.join("tail.log"), data(4 * MIB, 7))?;
    let url = format!("s3://{bucket}/store.tar.gz");
    let path = |p: &std::path::Path| p.to_str().unwrap_or_default().to_owned();
    Haul::new(
        gw,
        &["tar", "push", "--part-size", "5MiB", &path(&src), &url],
    )?
    .ok()?;
    let faulty = r#"{"error_rate": 0.2, "reset_rate": 0.2, "truncate_rate": 0.2, "seed": 19}"#;
    for mode in ["{}", faulty] {
        let proxy = Proxy::start(gw, mode)?;
        let dst = dir.path().join(format!("dst-{}", mode.len()));
        let out = proxy
            .haul(gw, &["tar", "pull", &url, &path(&dst), "--only", "small"])?
            .output()?;
        let stats = proxy.stats()?;
        ensure!(
            out.status.success(),
            "tar pull --only through the proxy ({mode}) failed ({}):\nstderr: {}\n{stats}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(fs_err::read(dst.join("small/a.txt"))? == b"alpha");
        ensure!(fs_err::read(dst.join("small/b.txt"))? == data(3000, 6));
        ensure!(
            !dst.join("big.bin").exists() && !dst.join("tail.log").exists(),
            "restored more than --only asked"
        );
        if mode == "{}" {
            // The index, then one range of the block(s) the two files lie in.
            ensure!(counter(&stats, "requests") == 2, "expected 2 GETs: {stats}");
            ensure!(
                counter(&stats, "bytes_down") < 3 * MIB as u64,
                "read too much of a 24 MiB archive: {stats}"
            );
        }
        let out = proxy.haul(gw, &["tar", "verify", &url])?.output()?;
        let stats = proxy.stats()?;
        ensure!(
            out.status.success(),
            "tar verify through the proxy ({mode}) failed ({}):\nstdout: {}\nstderr: {}\n{stats}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{bucket}")])?.ok()?;
    Ok(())
}

/// `haul cp` of one 12 MiB file (three 5 MiB parts) up through the proxy in `mode`, then
/// down straight from the gateway and compared; `fault` is the counter that must have moved.
///
/// The upload's requests come one at a time until the parts, so the n-th request is always
/// the same: 0 ListMultipartUploads (looking for an upload to resume), 1
/// CreateMultipartUpload, 2-4 UploadPart, 5 CompleteMultipartUpload. Each mode's seed aims
/// its fault at one of them and at no other of the first 16 requests (a unit test in
/// `haul_gateway::fault` pins these seeds).
fn cp_multipart(gw: &Gateway, mode: &str, fault: &str) -> Result<()> {
    let bucket = unique_bucket("faultcp");
    Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("wal.bin");
    let bytes = data(12 * MIB, 77);
    fs_err::write(&src, &bytes)?;
    let url = format!("s3://{bucket}/wal.bin");
    let proxy = Proxy::start(gw, mode)?;
    let mut args = vec!["cp"];
    args.extend_from_slice(PARTS_5MIB);
    args.extend([src.to_str().context("path")?, url.as_str()]);
    let out = proxy.haul(gw, &args)?.output()?;
    let stats = proxy.stats()?;
    ensure!(
        out.status.success(),
        "haul cp through the fault proxy ({mode}) failed ({}):\nstderr: {}\nproxy stats: {stats}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(counter(&stats, fault) == 1, "expected one {fault}: {stats}");
    let back = dir.path().join("back.bin");
    Haul::new(gw, &["cp", &url, back.to_str().context("path")?])?.ok()?;
    ensure!(
        fs_err::read(&back)? == bytes,
        "the object differs from the file"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{bucket}")])?.ok()?;
    Ok(())
}

/// A router's body limit met by a stream (`cp -`, as `tar push` streams): the first part is
/// re-sent as parts that fit and the rest of the stream is cut to the learned size. Streams of
/// 10 MiB (one PutObject refused) and 40 MiB + 123 B (multipart), against a 413 at 6 MiB and
/// against a connection cut after 6 MiB.
fn streamed_body_limit(gw: &Gateway) -> Result<()> {
    for mode in [r#"{"max_body": 6291456}"#, r#"{"max_body_reset": 6291456}"#] {
        for len in [10 * MIB, 40 * MIB + 123] {
            let bucket = unique_bucket("faultstream");
            Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
            let bytes = data(len, len as u64);
            let url = format!("s3://{bucket}/stream.bin");
            let proxy = Proxy::start(gw, mode)?;
            let out = proxy
                .haul(gw, &["cp", "--part-size", "16MiB", "-", &url])?
                .stdin(bytes.clone())
                .output()?;
            let stats = proxy.stats()?;
            ensure!(
                out.status.success(),
                "cp - of {len} B through {mode} failed ({}):\nstderr: {}\nproxy stats: {stats}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            ensure!(
                counter(&stats, "too_large") + counter(&stats, "body_resets") > 0,
                "{mode}: nothing was refused: {stats}"
            );
            let dir = tempfile::tempdir()?;
            let back = dir.path().join("back.bin");
            Haul::new(gw, &["cp", &url, back.to_str().context("path")?])?.ok()?;
            ensure!(
                fs_err::read(&back)? == bytes,
                "{mode}, {len} B: the object differs from the stream"
            );
            Haul::new(gw, &["rb", "--force", &format!("s3://{bucket}")])?.ok()?;
        }
    }
    Ok(())
}

/// A 500 on CreateMultipartUpload (request 1, seed 8): the gateway created nothing, a retry
/// is safe, the copy must go on.
fn create_multipart_upload_500(gw: &Gateway) -> Result<()> {
    cp_multipart(gw, r#"{"error_rate": 0.05, "seed": 8}"#, "internal_errors")
}

/// CreateMultipartUpload's 200 answer reset part-way through its XML (request 1, seed 9): a
/// retry starts another upload (the first one is left for `haul multipart abort`), the copy
/// must go on.
fn create_multipart_upload_answer_reset(gw: &Gateway) -> Result<()> {
    cp_multipart(gw, r#"{"reset_rate": 0.05, "seed": 9}"#, "resets")
}

/// CompleteMultipartUpload's 200 answer truncated (request 5, seed 54): the object is
/// complete on the gateway, but haul cannot read that it is. Retrying Complete gets
/// NoSuchUpload; haul must find out that the object is there (HeadObject: size, ETag) rather
/// than report a failure, or at least not abort and call a complete upload failed.
fn complete_multipart_upload_answer_truncated(gw: &Gateway) -> Result<()> {
    cp_multipart(gw, r#"{"truncate_rate": 0.05, "seed": 54}"#, "truncations")
}

/// The destination listing's answer truncated (request 0 of the upload sync, seed 89, no
/// other fault in the first 40 requests): the listing must be fetched again.
fn list_objects_answer_truncated(gw: &Gateway) -> Result<()> {
    let proxy = Proxy::start(gw, r#"{"truncate_rate": 0.05, "seed": 89}"#)?;
    let trip = round_trip(gw, &proxy, TREE, &[], PARTS_5MIB)?;
    let stats = proxy.stats()?;
    report("list_objects_truncated", gw, &stats, &trip);
    ensure!(
        counter(&stats, "truncations") == 1,
        "expected one truncation: {stats}"
    );
    Ok(())
}

/// SIGTERM while the sync waits for a listing page that a stalled gateway holds back (every
/// answer through the proxy delayed two minutes): the run stops at once with exit 130. It used
/// to wait out the CLI's 30 s grace, the merge blocked on a page that was never coming.
fn sigterm_during_a_stalled_listing(gw: &Gateway) -> Result<()> {
    let bucket = unique_bucket("stall");
    Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
    let proxy = Proxy::start(gw, r#"{"first_byte_delay_ms": 120000}"#)?;
    let dst = tempfile::tempdir()?;
    let d = dst.path().join("restore");
    let url = format!("s3://{bucket}/");
    let (mut child, _home) = proxy
        .haul(gw, &["sync", &url, d.to_str().context("path")?])?
        .spawn()?;
    crate::cases::wait_until(
        "the listing to reach the proxy",
        Duration::from_secs(30),
        || Ok(counter(&proxy.stats()?, "requests") >= 1),
    )?;
    let sent = std::time::Instant::now();
    crate::cases::signal(&child, "-TERM")?;
    let status = child.wait()?;
    let took = sent.elapsed();
    eprintln!(
        "faults: {}::sigterm_during_a_stalled_listing: exit {status} {took:?} after SIGTERM",
        gw.name
    );
    ensure!(
        status.code() == Some(130),
        "exit status after SIGTERM: {status}"
    );
    // The grace for a command that does not stop is 30 s; a prompt stop is well under a second
    // plus the runtime's 2 s for blocking tasks.
    ensure!(
        took < Duration::from_secs(15),
        "{took:?} from SIGTERM to exit: the stalled listing held the run up"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{bucket}")])?.ok()?;
    Ok(())
}
