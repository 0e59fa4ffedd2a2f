//! Progress output as a script sees it: `--json` writes one `object` event per object moved, one
//! `failed` event per object refused or failed, `progress` events with the request limiter's
//! state, and the summary last; `-q` leaves out the `progress` events.

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::cases::Case;
use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};

pub(crate) const ALL: &[Case] = &[
    Case {
        name: "issue_3_progress_json_events_sync_both_ways",
        run: json_events_both_ways,
        only: None,
    },
    Case {
        name: "issue_3_progress_json_failed_event",
        run: json_failed_event,
        only: None,
    },
    Case {
        name: "issue_3_progress_json_cp_and_quiet",
        run: json_cp_and_quiet,
        only: None,
    },
];

const MIB: usize = 1024 * 1024;

/// Every stdout line, parsed: each must be one JSON object.
fn events(stdout: &[u8]) -> Result<Vec<Value>> {
    let text = String::from_utf8(stdout.to_vec())?;
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).with_context(|| format!("not JSON: {l:?}")))
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The summary is the last line; object events name each key once with its size; the last
/// progress event agrees with the summary and shows the limiter.
fn check_run(events: &[Value], expected: &[(&str, usize)]) -> Result<()> {
    let last = events.last().context("no output")?;
    ensure!(
        last["event"] == "summary",
        "last line is not the summary: {last}"
    );
    let mut objects: Vec<(String, u64)> = of_kind(events, "object")
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap_or_default().to_owned(),
                e["bytes"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    objects.sort();
    let mut want: Vec<(String, u64)> = expected
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n as u64))
        .collect();
    want.sort();
    ensure!(
        objects == want,
        "object events {objects:?}, expected {want:?}"
    );
    for e in of_kind(events, "object") {
        ensure!(e["seconds"].as_f64().is_some(), "no seconds in {e}");
    }
    let progress = of_kind(events, "progress");
    let p = progress.last().context("no progress event")?;
    ensure!(
        p["bytes"] == last["bytes"],
        "last progress {p} vs summary {last}"
    );
    ensure!(
        p["objects"] == last["transferred"],
        "last progress {p} vs summary {last}"
    );
    ensure!(
        p["limiter"]["limit"].as_u64().is_some_and(|l| l > 0)
            && p["limiter"]["in_flight"].is_u64()
            && p["limiter"]["retries"].is_u64()
            && p["limiter"]["throttles"].is_u64(),
        "limiter state missing in {p}"
    );
    Ok(())
}

fn json_events_both_ways(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("progress");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let src = tempfile::tempdir()?;
    // A multipart object (6 MiB in 5 MiB parts), a small one, an empty one.
    let files: &[(&str, usize)] = &[("big.bin", 6 * MIB), ("dir/small", 1000), ("empty", 0)];
    for (k, n) in files {
        let p = src.path().join(k);
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, vec![7u8; *n])?;
    }
    let url = format!("s3://{b}/p/");
    let sync = ["--json", "sync", "--part-size", "5MiB"];
    let s = src.path().to_str().context("path")?;
    let up = events(
        &Haul::new(
            gw,
            &[&sync[..], &["--multipart-threshold", "5MiB", s, &url]].concat(),
        )?
        .ok()?,
    )?;
    check_run(&up, files).context("upload")?;
    let dst = tempfile::tempdir()?;
    let d = dst.path().to_str().context("path")?;
    let down = events(
        &Haul::new(
            gw,
            &[&sync[..], &["--multipart-threshold", "5MiB", &url, d]].concat(),
        )?
        .ok()?,
    )?;
    check_run(&down, files).context("download")?;
    // Nothing to move: no object events, the unchanged count in the progress event.
    let again = events(&Haul::new(gw, &[&sync[..], &[&url, d]].concat())?.ok()?)?;
    check_run(&again, &[]).context("no-change run")?;
    let p = of_kind(&again, "progress");
    ensure!(
        p.last().is_some_and(|p| p["unchanged"] == files.len()),
        "unchanged not counted: {p:?}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn json_failed_event(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("progfail");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    // A key no file name can hold here, and one that syncs.
    for k in ["back\\slash", "good"] {
        Haul::new(gw, &["cp", "-", &format!("s3://{b}/{k}")])?
            .stdin(k.as_bytes().to_vec())
            .ok()?;
    }
    let dst = tempfile::tempdir()?;
    let out = Haul::new(
        gw,
        &[
            "--json",
            "sync",
            &format!("s3://{b}"),
            dst.path().to_str().context("path")?,
        ],
    )?
    .output()?;
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let ev = events(&out.stdout)?;
    let failed = of_kind(&ev, "failed");
    ensure!(
        failed.len() == 1
            && failed[0]["key"] == "back\\slash"
            && failed[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "failed events: {failed:?}"
    );
    let last = ev.last().context("no output")?;
    ensure!(
        last["event"] == "summary" && last["failed"] == 1 && last["transferred"] == 1,
        "summary: {last}"
    );
    ensure!(of_kind(&ev, "object").len() == 1, "object events: {ev:?}");
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn json_cp_and_quiet(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("progcp");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let dir = tempfile::tempdir()?;
    let f = dir.path().join("one.bin");
    fs_err::write(&f, vec![1u8; 3000])?;
    let f = f.to_str().context("path")?;
    let url = format!("s3://{b}/one.bin");
    let ev = events(&Haul::new(gw, &["--json", "cp", f, &url])?.ok()?)?;
    let objects = of_kind(&ev, "object");
    ensure!(
        objects.len() == 1 && objects[0]["key"] == "one.bin" && objects[0]["bytes"] == 3000,
        "object events: {ev:?}"
    );
    let p = of_kind(&ev, "progress");
    let p = p.last().context("no progress event")?;
    ensure!(
        p["bytes_total"] == 3000 && p["objects_total"] == 1,
        "total known up front: {p}"
    );
    ensure!(
        ev.last().is_some_and(|e| e["event"] == "upload"),
        "the cp result comes last: {ev:?}"
    );
    // -q: results and the summary, no progress events.
    let dst = tempfile::tempdir()?;
    let d = dst.path().to_str().context("path")?;
    let quiet = events(&Haul::new(gw, &["--json", "-q", "sync", &format!("s3://{b}"), d])?.ok()?)?;
    ensure!(
        of_kind(&quiet, "progress").is_empty() && of_kind(&quiet, "object").len() == 1,
        "with -q: {quiet:?}"
    );
    ensure!(
        quiet.last().is_some_and(|e| e["event"] == "summary"),
        "summary last: {quiet:?}"
    );
    // Without --json and without a terminal, stdout holds only the human summary.
    let out = Haul::new(gw, &["sync", &format!("s3://{b}"), d])?.ok()?;
    let text = String::from_utf8(out)?;
    ensure!(
        text.lines().count() == 1 && text.starts_with("sync "),
        "stdout: {text}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}
