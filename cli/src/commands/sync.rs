//! `haul sync`.

use std::time::Instant;

use anyhow::Result;
use engine::sync::{self, Compare, Location as SyncLocation, SyncOptions};
use engine::transfer::TransferOptions;
use serde_json::json;

use super::{Location, client_for, parse_location, resolve_with};
use crate::args::{GlobalArgs, SyncArgs};
use crate::output::progress::Reporter;
use crate::output::{Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, a: &SyncArgs) -> Result<()> {
    let filter = super::filter_from_rules(&a.rules)?.with_shard(a.shard);
    let src = side(
        g,
        &a.source,
        a.source_endpoint.as_deref(),
        a.source_profile.as_deref(),
        None,
    )?;
    // Two s3:// sides on the same gateway share one client: one connection pool and one
    // request limit for the gateway, and server-side copies.
    let shared = match &src {
        SyncLocation::S3 { client, .. }
            if a.dest_endpoint.is_none()
                && a.dest_profile.is_none()
                && a.source_endpoint.is_none()
                && a.source_profile.is_none() =>
        {
            Some(client.clone())
        }
        _ => None,
    };
    let one_gateway = shared.is_some();
    let dst = side(
        g,
        &a.dest,
        a.dest_endpoint.as_deref(),
        a.dest_profile.as_deref(),
        shared,
    )?;
    let progress = Reporter::start(g.json, g.quiet);
    // Two sides sharing one client share its limiter: it is watched once.
    let watched: &[&SyncLocation] = if one_gateway { &[&src] } else { &[&src, &dst] };
    for loc in watched {
        if let SyncLocation::S3 { client, .. } = loc {
            progress.watch(client.limiter());
        }
    }
    let opts = SyncOptions {
        compare: if a.checksum {
            Compare::Checksum
        } else if a.size_only {
            Compare::SizeOnly
        } else {
            Compare::SizeAndTime
        },
        delete: a.delete,
        max_delete: a.max_delete,
        dry_run: a.dry_run,
        filter,
        transfer: TransferOptions {
            progress: progress.sink(),
            ..a.transfer.options()
        },
        parallel: g.concurrency() as usize,
        memory_bytes: a.transfer.memory,
        follow_symlinks: a.follow_symlinks,
        base: None,
        list_fanout: super::ls::list_fanout(a.list_fanout),
    };
    if a.manifest {
        sync::manifests::check_sides(&src, &dst)?;
    }
    let started = Instant::now();
    let report = sync::sync(&src, &dst, &opts, &progress.sink()).await;
    // The bar is cleared and every object line written before the results below.
    progress.finish();
    let report = report?;
    let mut out = Out::new(g.json);
    for (verb, key, size) in &report.planned {
        out.line(&format!(
            "(dry run) {}: {key} ({})",
            verb.as_str(),
            human_bytes(*size)
        ))?;
        out.record(
            &json!({"event": "planned", "action": verb.as_str(), "key": key, "bytes": size}),
        )?;
    }
    // With --json each failure was written as a `failed` event when it happened.
    for (key, err) in &report.failed {
        crate::output::error_line(&format!("{key}: {err}"));
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "display only"
    )]
    let rate = (report.bytes as f64 / secs.max(1e-6)) as u64;
    out.line(&format!(
        "sync {src} -> {dst}{}: {} {} ({}), {} unchanged, {} deleted, {} filtered out, {} failed in {secs:.2} s ({}/s){}",
        a.shard.map_or_else(String::new, |s| format!(" [shard {s}]")),
        report.transferred,
        if a.dry_run { "to transfer" } else { "transferred" },
        human_bytes(report.bytes),
        report.skipped,
        report.deleted,
        report.filtered,
        report.failed.len(),
        human_bytes(rate),
        if a.dry_run { " [dry run: nothing moved]" } else { "" },
    ))?;
    out.record(&json!({
        "event": "summary", "source": src.to_string(), "dest": dst.to_string(),
        "requests": {"source": requests(&src), "dest": requests(&dst)},
        "concurrency": {"source": concurrency(&src), "dest": concurrency(&dst)},
        "transferred": report.transferred, "bytes": report.bytes, "unchanged": report.skipped,
        "deleted": report.deleted, "filtered": report.filtered, "failed": report.failed.len(),
        "dry_run": a.dry_run, "seconds": secs, "shard": a.shard.map(|s| s.to_string()),
        "peak_rss_bytes": super::peak_rss_bytes(),
    }))?;
    if a.manifest && !a.dry_run && report.failed.is_empty() {
        let mopts = sync::manifests::ManifestOptions {
            keep: usize::try_from(a.keep_manifests).unwrap_or(usize::MAX),
            hash_cache: !a.no_hash_cache,
            follow_symlinks: a.follow_symlinks,
            run_id: a.run_id.clone(),
        };
        let budget = engine::transfer::MemoryBudget::new(a.transfer.memory);
        let written = sync::manifests::write_after_sync(
            &src,
            &dst,
            &opts.filter,
            &mopts,
            &opts.transfer,
            &budget,
        )
        .await?;
        out.line(&format!(
            "manifest {}: {} entries ({} files read, the rest from the hash cache); {} older \
             manifests removed",
            written.location, written.entries, written.hashed, written.pruned
        ))?;
        out.record(&json!({
            "event": "manifest", "location": written.location, "entries": written.entries,
            "hashed": written.hashed, "pruned": written.pruned,
        }))?;
    }
    out.flush()?;
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "sync incomplete: {} of {} entries failed",
            report.failed.len(),
            report.failed.len() as u64 + report.transferred
        ))
    }
}

/// Requests sent to one side's gateway, per S3 operation.
fn requests(loc: &SyncLocation) -> serde_json::Value {
    match loc {
        SyncLocation::S3 { client, .. } => json!(client.request_counts()),
        SyncLocation::Local(_) => json!({}),
    }
}

/// What the request limiter of one side's gateway did: where its limit sat and what moved it.
/// Null for a directory.
fn concurrency(loc: &SyncLocation) -> serde_json::Value {
    let SyncLocation::S3 { client, .. } = loc else {
        return serde_json::Value::Null;
    };
    let l = client.limiter();
    let s = l.stats();
    json!({
        "ceiling": l.ceiling(), "limit": s.limit, "lowest": s.lowest, "highest": s.highest,
        "mean": (s.mean * 10.0).round() / 10.0, "throttles": s.throttles,
        "latency_decreases": s.latency_decreases, "retries": l.retries(),
    })
}

/// One side: a directory, or a bucket and prefix on the default or a given gateway.
fn side(
    g: &GlobalArgs,
    spec: &str,
    endpoint: Option<&str>,
    profile: Option<&str>,
    shared: Option<engine::client::Client>,
) -> Result<SyncLocation> {
    match parse_location(spec)? {
        Location::Local(p) => {
            if endpoint.is_some() || profile.is_some() {
                return Err(engine::Error::Usage(format!(
                    "{spec} is local: --source/--dest-endpoint and -profile apply to s3:// sides"
                ))
                .into());
            }
            Ok(SyncLocation::Local(p))
        }
        Location::Stdio => Err(engine::Error::Usage(
            "sync cannot read or write - (stdin/stdout)".to_owned(),
        )
        .into()),
        Location::S3 { bucket, key } => {
            let client = match shared {
                Some(c) => c,
                None => client_for(g, &resolve_with(g, endpoint, profile)?)?,
            };
            let prefix = if key.is_empty() || key.ends_with('/') {
                key
            } else {
                format!("{key}/")
            };
            Ok(SyncLocation::S3 {
                client,
                bucket,
                prefix,
            })
        }
    }
}
