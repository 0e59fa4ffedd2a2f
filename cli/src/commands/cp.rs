//! `haul cp`: one object or file in either direction, stdin/stdout, or a whole tree with -r.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use engine::client::{Client, PutOptions};
use engine::local::SafeRelPath;
use engine::s3::{BucketName, ObjectKey};
use engine::transfer::{self, MemoryBudget, TransferOptions, TreeReport};
use serde_json::json;

use super::{Location, client, parse_location};
use crate::args::{CpArgs, GlobalArgs};
use crate::output::progress::Reporter;
use crate::output::{Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, a: &CpArgs) -> Result<()> {
    let src = parse_location(&a.source)?;
    let dst = parse_location(&a.dest)?;
    let mut opts = a.transfer.options();
    let budget = MemoryBudget::new(a.transfer.memory);
    let mut out = Out::new(g.json);
    let started = Instant::now();
    match (src, dst) {
        (Location::Local(path), Location::S3 { bucket, key }) => {
            let client = client(g)?;
            if a.recursive {
                let prefix = dir_prefix(&key);
                let progress = reporter(g, &client, &mut opts);
                let report = transfer::upload_tree(
                    &client,
                    &path,
                    &bucket,
                    &prefix,
                    &opts,
                    &budget,
                    g.concurrency() as usize,
                    &progress.sink(),
                )
                .await;
                progress.finish();
                let report = report?;
                summary(&mut out, "upload", &a.source, &a.dest, &report, started)?;
                return finish(&report);
            }
            if is_dir(&path).await {
                return Err(usage(format!(
                    "{} is a directory: pass --recursive to copy a tree",
                    path.display()
                )));
            }
            let key = object_key_for(&key, &path)?;
            let size = tokio::fs::metadata(&path).await.ok().map(|m| m.len());
            let progress = reporter(g, &client, &mut opts);
            let bytes = progress
                .track(
                    key.as_str(),
                    size,
                    transfer::upload_file(
                        &client,
                        &path,
                        &bucket,
                        &key,
                        &opts,
                        &PutOptions::default(),
                        &budget,
                    ),
                )
                .await;
            progress.finish();
            let bytes = bytes?;
            done(
                &mut out,
                "upload",
                &a.source,
                &s3_url(&bucket, key.as_str()),
                bytes,
                started,
            )
        }
        (Location::Stdio, Location::S3 { bucket, key }) => {
            if key.is_empty() || key.ends_with('/') {
                return Err(usage(format!(
                    "{}: uploading stdin needs a full object key, not a prefix",
                    a.dest
                )));
            }
            let client = client(g)?;
            let key = ObjectKey::new(key).map_err(|e| usage(e.to_string()))?;
            let progress = reporter(g, &client, &mut opts);
            let bytes = progress
                .track(
                    key.as_str(),
                    None,
                    transfer::upload_reader(
                        &client,
                        tokio::io::stdin(),
                        &bucket,
                        &key,
                        &opts,
                        &PutOptions::default(),
                        &budget,
                    ),
                )
                .await;
            progress.finish();
            let bytes = bytes?;
            done(
                &mut out,
                "upload",
                "-",
                &s3_url(&bucket, key.as_str()),
                bytes,
                started,
            )
        }
        (Location::S3 { bucket, key }, Location::Local(path)) => {
            let client = client(g)?;
            if a.recursive {
                let prefix = dir_prefix(&key);
                let progress = reporter(g, &client, &mut opts);
                let report = transfer::download_tree(
                    &client,
                    &bucket,
                    &prefix,
                    &path,
                    &opts,
                    &budget,
                    g.concurrency() as usize,
                    &progress.sink(),
                )
                .await;
                progress.finish();
                let report = report?;
                summary(&mut out, "download", &a.source, &a.dest, &report, started)?;
                return finish(&report);
            }
            if key.is_empty() || key.ends_with('/') {
                return Err(usage(format!(
                    "{}: names a prefix, not an object: pass --recursive to copy a tree",
                    a.source
                )));
            }
            let target = local_dest(&path, &a.dest, &key).await?;
            let key = ObjectKey::new(key).map_err(|e| usage(e.to_string()))?;
            // The size is known only once download_file has asked the gateway: no ETA here.
            let progress = reporter(g, &client, &mut opts);
            let bytes = progress
                .track(
                    key.as_str(),
                    None,
                    transfer::download_file(&client, &bucket, &key, &target, None, &opts, &budget),
                )
                .await;
            progress.finish();
            let bytes = bytes?;
            done(
                &mut out,
                "download",
                &s3_url(&bucket, key.as_str()),
                &target.display().to_string(),
                bytes,
                started,
            )
        }
        (Location::S3 { bucket, key }, Location::Stdio) => {
            if key.is_empty() {
                return Err(usage(format!(
                    "{}: names a bucket, not an object",
                    a.source
                )));
            }
            let client = client(g)?;
            let key = ObjectKey::new(key).map_err(|e| usage(e.to_string()))?;
            // No progress display: stdout carries the object (and --json lines would corrupt it).
            transfer::download_to_writer(
                &client,
                &bucket,
                &key,
                tokio::io::stdout(),
                &opts,
                &budget,
            )
            .await?;
            Ok(())
        }
        (Location::S3 { .. }, Location::S3 { .. }) => Err(usage(
            "copies between two s3:// locations are not supported by cp yet".to_owned(),
        )),
        _ => Err(usage(
            "one side of cp must be an s3:// location (the other a path or -)".to_owned(),
        )),
    }
}

/// Starts the progress display for transfers on `client`'s gateway and points `opts` at it.
fn reporter(g: &GlobalArgs, client: &Client, opts: &mut TransferOptions) -> Reporter {
    let reporter = Reporter::start(g.json, g.quiet);
    reporter.watch(client.limiter());
    opts.progress = reporter.sink();
    reporter
}

fn usage(msg: String) -> anyhow::Error {
    engine::Error::Usage(msg).into()
}

fn s3_url(bucket: &BucketName, key: &str) -> String {
    format!("s3://{}/{key}", bucket.as_str())
}

/// A prefix for tree copies: empty, or ending in `/`.
fn dir_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    }
}

async fn is_dir(path: &Path) -> bool {
    tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir())
}

/// The object key for uploading `path` to `key`: `key` itself, or `key` + the file name when
/// `key` is empty or ends with `/` (as `cp file s3://bucket/dir/`).
fn object_key_for(key: &str, path: &Path) -> Result<ObjectKey> {
    let full = if key.is_empty() || key.ends_with('/') {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            usage(format!(
                "{}: no UTF-8 file name to use as key",
                path.display()
            ))
        })?;
        format!("{key}{name}")
    } else {
        key.to_owned()
    };
    ObjectKey::new(full).map_err(|e| usage(e.to_string()))
}

/// Where a download of `key` to `path` lands: `path`, or `path/<last key segment>` when `path`
/// is a directory or ends with `/`. The segment must be a safe file name.
async fn local_dest(path: &Path, typed: &str, key: &str) -> Result<PathBuf> {
    if typed.ends_with('/') || is_dir(path).await {
        let name = key.rsplit('/').next().unwrap_or(key);
        let rel = SafeRelPath::from_key(name).map_err(engine::Error::from)?;
        Ok(rel.under(path))
    } else {
        Ok(path.to_path_buf())
    }
}

fn rate(bytes: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let per = bytes as f64 / secs;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "display only"
    )]
    let per = per as u64;
    format!(
        "{} in {secs:.2} s, {}/s",
        human_bytes(bytes),
        human_bytes(per)
    )
}

fn done(
    out: &mut Out,
    verb: &str,
    from: &str,
    to: &str,
    bytes: u64,
    started: Instant,
) -> Result<()> {
    out.line(&format!(
        "{verb}: {from} -> {to} ({})",
        rate(bytes, started)
    ))?;
    out.record(&json!({
        "event": verb, "from": from, "to": to, "bytes": bytes,
        "seconds": started.elapsed().as_secs_f64(),
    }))?;
    out.flush()?;
    Ok(())
}

fn summary(
    out: &mut Out,
    verb: &str,
    from: &str,
    to: &str,
    report: &TreeReport,
    started: Instant,
) -> Result<()> {
    for (name, err) in &report.failed {
        crate::output::error_line(&format!("{name}: {err}"));
    }
    out.line(&format!(
        "{verb}: {from} -> {to}: {} objects, {}{}",
        report.copied,
        rate(report.bytes, started),
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(", {} FAILED", report.failed.len())
        }
    ))?;
    out.record(&json!({
        "event": verb, "from": from, "to": to, "objects": report.copied,
        "bytes": report.bytes, "failed": report.failed.len(),
        "seconds": started.elapsed().as_secs_f64(),
    }))?;
    out.flush()?;
    Ok(())
}

fn finish(report: &TreeReport) -> Result<()> {
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} of {} objects failed",
            report.failed.len(),
            report.failed.len() as u64 + report.copied
        ))
    }
}
