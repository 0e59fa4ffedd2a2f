//! `haul bench` against the real gateways, through the fault proxy, whose per-operation
//! counters are the gateway side's log: what haul reports must be what the proxy saw.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::cases::{Case, mb, signal, wait_until};
use crate::faults::Proxy;
use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};

pub(crate) const ALL: &[Case] = &[
    Case {
        name: "issue_7_bench_figures_equal_what_the_gateway_side_counted",
        run: figures_equal_the_proxys,
        only: None,
    },
    Case {
        name: "issue_7_bench_knee_at_a_throttling_gateways_limit",
        run: knee_at_the_limit,
        only: Some("s3s"),
    },
    Case {
        name: "issue_7_bench_ctrl_c_removes_what_it_wrote",
        run: ctrl_c_cleans_up,
        only: None,
    },
];

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Sums `field` of every step (adaptive included) of the groups whose workload is `workload`,
/// over the per-operation figures of kind `op`.
fn sum(report: &Value, workload: Option<&str>, op: &str, field: &str) -> u64 {
    let mut total = 0;
    for g in report["groups"].as_array().into_iter().flatten() {
        if workload.is_some_and(|w| g["workload"] != w) {
            continue;
        }
        let steps = g["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(g["adaptive"].as_object().map(|_| &g["adaptive"]));
        for s in steps {
            for f in s["per_op"].as_array().into_iter().flatten() {
                if f["op"] == op {
                    total += u(&f[field]);
                }
            }
        }
    }
    total
}

fn proxy_op(stats: &Value, op: &str, field: &str) -> u64 {
    u(&stats["ops"][op][field])
}

fn bucket_is_empty(gw: &Gateway, bucket: &str) -> Result<()> {
    let listed = Haul::new(gw, &["ls", "-r", &format!("s3://{bucket}")])?.ok()?;
    ensure!(
        listed.is_empty(),
        "objects left behind: {}",
        String::from_utf8_lossy(&listed)
    );
    Ok(())
}

/// Requires the bucket empty (the benchmark removed all it wrote), then removes it.
fn remove_empty_bucket(gw: &Gateway, bucket: &str) -> Result<()> {
    bucket_is_empty(gw, bucket)?;
    Haul::new(gw, &["rb", &format!("s3://{bucket}")])?.ok()?;
    Ok(())
}

/// Every workload, a small and a multipart size, two levels, a fixed operation count: each
/// step ran exactly its operations, and the requests and bytes haul reports equal the proxy's
/// per-operation counts; nothing is left in the bucket.
fn figures_equal_the_proxys(gw: &Gateway) -> Result<()> {
    let bucket = unique_bucket("bench");
    mb(gw, &bucket)?;
    let proxy = Proxy::start(gw, "{}")?;
    let dir = tempfile::tempdir()?;
    let json = dir.path().join("report.json");
    let out = proxy
        .haul(
            gw,
            &[
                "bench",
                &format!("s3://{bucket}/under/"),
                "--ops",
                "put,get,stat,list,delete,mixed",
                "--size",
                "64KiB,6MiB",
                "--part-size",
                "5MiB",
                "--concurrency",
                "1,4",
                "--objects",
                "12",
                "--pool",
                "8",
                "--adaptive",
                "--json",
                json.to_str().context("path")?,
            ],
        )?
        .ok()?;
    let table = String::from_utf8_lossy(&out);
    eprintln!("bench: {}:\n{table}", gw.name);
    let report: Value = serde_json::from_slice(&fs_err::read(&json)?)?;
    let stats = proxy.stats()?;
    eprintln!("bench: {}: proxy {stats}", gw.name);

    // put, get, stat and mixed × 2 sizes; list and delete once (empty objects).
    let groups = report["groups"].as_array().context("groups")?;
    ensure!(groups.len() == 10, "{} groups: {report}", groups.len());
    for g in groups {
        ensure!(g["knee"]["concurrency"].as_u64().is_some(), "no knee: {g}");
        let adaptive = &g["adaptive"]["adaptive"];
        ensure!(
            u(&adaptive["ceiling"]) == 4 && (1..=4).contains(&u(&adaptive["settled"])),
            "adaptive step: {g}"
        );
        for s in g["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .chain([&g["adaptive"]])
        {
            ensure!(
                u(&s["errors"]) == 0 && u(&s["throttles"]) == 0,
                "failures on a healthy gateway: {s}"
            );
            // The delete pool (8 objects) runs out before 12 operations; the rest run 12.
            let want = if g["workload"] == "delete" { 8 } else { 12 };
            ensure!(
                u(&s["ops"]) == want,
                "{} operations, not {want}: {s}",
                s["ops"]
            );
        }
    }
    ensure!(
        report["prefix"]
            .as_str()
            .is_some_and(|p| p.starts_with(&format!("s3://{bucket}/under/haul-bench-"))),
        "prefix {}",
        report["prefix"]
    );

    // Requests: haul's count per S3 operation is the proxy's, one for one.
    let requests = report["requests"].as_object().context("requests")?;
    for (op, n) in requests {
        ensure!(
            u(n) == proxy_op(&stats, op, "requests"),
            "{op}: haul counted {n}, the proxy {}",
            proxy_op(&stats, op, "requests")
        );
    }
    let proxied: u64 = stats["ops"]
        .as_object()
        .context("ops")?
        .values()
        .map(|o| u(&o["requests"]))
        .sum();
    let counted: u64 = requests.values().map(u).sum();
    ensure!(
        proxied == counted,
        "the proxy saw {proxied} requests, haul counted {counted}"
    );
    // Operations: each success of a kind is one 2xx answer of its request (multipart PUTs
    // apart: their parts are counted as UploadPart).
    ensure!(
        sum(&report, None, "stat", "ops") == proxy_op(&stats, "HeadObject", "ok"),
        "HEADs"
    );
    ensure!(
        sum(&report, None, "get", "ops") == proxy_op(&stats, "GetObject", "ok"),
        "GETs"
    );
    ensure!(
        sum(&report, None, "delete", "ops") == proxy_op(&stats, "DeleteObject", "ok"),
        "DELETEs"
    );
    ensure!(
        sum(&report, None, "list", "ops") <= proxy_op(&stats, "ListObjectsV2", "ok"),
        "LISTs"
    );
    // Bytes: what haul says it uploaded (steps and pools) went up; what it says it read came
    // down as GetObject bodies.
    let up = sum(&report, None, "put", "bytes") + u(&report["prepared_bytes"]);
    let proxied_up =
        proxy_op(&stats, "PutObject", "bytes_up") + proxy_op(&stats, "UploadPart", "bytes_up");
    ensure!(
        up == proxied_up,
        "haul uploaded {up} bytes, the proxy passed {proxied_up}"
    );
    let down = sum(&report, None, "get", "bytes");
    ensure!(
        down == proxy_op(&stats, "GetObject", "bytes_down"),
        "haul read {down} bytes, the proxy passed {}",
        proxy_op(&stats, "GetObject", "bytes_down")
    );
    ensure!(
        u(&report["cleanup"]["failed"]) == 0,
        "cleanup: {}",
        report["cleanup"]
    );
    remove_empty_bucket(gw, &bucket)
}

/// A gateway that answers 503 SlowDown above 8 requests in flight: the sweep's knee is 8, or
/// one step off it; the throttles haul reports are the proxy's; the adaptive step settles
/// near 8. Each answer is held 20 ms (a gateway across a network), so that throughput grows
/// with concurrency up to the limit whatever else the machine is doing, as it does on a real
/// gateway, instead of being bound by the two cores the loopback gateway shares.
fn knee_at_the_limit(gw: &Gateway) -> Result<()> {
    let bucket = unique_bucket("knee");
    mb(gw, &bucket)?;
    let proxy = Proxy::start(gw, r#"{"max_concurrent": 8, "first_byte_delay_ms": 20}"#)?;
    let dir = tempfile::tempdir()?;
    let json = dir.path().join("report.json");
    let out = proxy
        .haul(
            gw,
            &[
                "bench",
                &format!("s3://{bucket}"),
                "--ops",
                "stat",
                "--size",
                "4KiB",
                "--concurrency",
                "2,4,8,16,32",
                "--duration",
                "2s",
                "--pool",
                "64",
                "--adaptive",
                "--json",
                json.to_str().context("path")?,
            ],
        )?
        .ok()?;
    eprintln!("bench: {}:\n{}", gw.name, String::from_utf8_lossy(&out));
    let report: Value = serde_json::from_slice(&fs_err::read(&json)?)?;
    let stats = proxy.stats()?;
    let group = &report["groups"][0];
    let knee = u(&group["knee"]["concurrency"]);
    ensure!(
        [4, 8, 16].contains(&knee),
        "knee at {knee}, not 8 within one step: {group}"
    );
    let steps = group["steps"].as_array().context("steps")?;
    for s in steps {
        let c = u(&s["concurrency"]);
        let throttles = u(&s["throttles"]);
        if c > 8 {
            ensure!(throttles > 0, "no throttles at {c}: {s}");
        }
    }
    let reported = sum(&report, None, "stat", "throttles");
    ensure!(
        reported == proxy_op(&stats, "HeadObject", "throttled"),
        "haul counted {reported} throttles, the proxy sent {}",
        proxy_op(&stats, "HeadObject", "throttled")
    );
    let settled = u(&group["adaptive"]["adaptive"]["settled"]);
    eprintln!("bench: knee {knee}, adaptive settled at {settled}");
    ensure!(
        (2..=16).contains(&settled),
        "the controller settled at {settled} under a limit of 8: {group}"
    );
    remove_empty_bucket(gw, &bucket)
}

/// Ctrl-C in the middle of a PUT step (multipart objects in flight): exit 130, and nothing of
/// the run is left on the gateway, neither objects nor multipart uploads.
fn ctrl_c_cleans_up(gw: &Gateway) -> Result<()> {
    let bucket = unique_bucket("benchint");
    mb(gw, &bucket)?;
    let url = format!("s3://{bucket}");
    let (mut child, _home) = Haul::new(
        gw,
        &[
            "bench",
            &url,
            "--ops",
            "put",
            "--size",
            "12MiB,64KiB",
            "--part-size",
            "5MiB",
            "--concurrency",
            "4",
            "--duration",
            "60s",
        ],
    )?
    .spawn()?;
    wait_until("the benchmark to write", Duration::from_secs(30), || {
        let out = Haul::new(gw, &["ls", "-r", &url])?.ok()?;
        Ok(out.len() > 200)
    })?;
    signal(&child, "-INT")?;
    let status = child.wait()?;
    ensure!(
        status.code() == Some(130),
        "exit status after SIGINT: {status}"
    );
    bucket_is_empty(gw, &bucket)?;
    if gw.name != "s3s" {
        let left = Haul::new(gw, &["multipart", "ls", &url])?.ok()?;
        ensure!(
            left.is_empty(),
            "multipart uploads left: {}",
            String::from_utf8_lossy(&left)
        );
    }
    Haul::new(gw, &["rb", &url])?.ok()?;
    Ok(())
}
