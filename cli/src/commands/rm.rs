//! `haul rm`.

use std::time::Instant;

use anyhow::Result;
use engine::s3::{BucketName, ObjectKey};
use engine::sync::remove::{DELETE_BATCHES_IN_FLIGHT, RemoveOptions, remove_prefix};
use serde_json::json;

use super::{Location, client, parse_location};
use crate::args::{GlobalArgs, RmArgs};
use crate::output::{Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, a: &RmArgs) -> Result<()> {
    let Location::S3 { bucket, key } = parse_location(&a.target)? else {
        return Err(engine::Error::Usage(format!(
            "{:?}: haul rm removes objects: expected s3://BUCKET/KEY or, with --recursive, \
             s3://BUCKET[/PREFIX]",
            a.target
        ))
        .into());
    };
    let client = client(g)?;
    if a.recursive {
        return recursive(g, a, &client, &bucket, &key).await;
    }
    if key.is_empty() || key.ends_with('/') {
        return Err(engine::Error::Usage(format!(
            "{}: a prefix, not an object: pass --recursive to remove what lies under it",
            a.target
        ))
        .into());
    }
    let object = ObjectKey::new(key.clone()).map_err(|e| engine::Error::Usage(e.to_string()))?;
    // DeleteObject answers 204 for a key that is not there: look first, so that a mistyped
    // key is an error, and one that names a directory says so.
    let size = match client.head_object(&bucket, &object).await {
        Ok(meta) => meta.content_length,
        Err(e) if e.kind() == engine::ErrorKind::NotFound => {
            // Whether it names a directory; a listing that fails leaves the plain not-found.
            let dir = format!("{key}/");
            let listed = client
                .list_objects_page(
                    &bucket,
                    Some(dir.as_str()),
                    None,
                    &engine::client::ListCursor::Start,
                )
                .await;
            if listed.is_ok_and(|(page, _)| !page.objects.is_empty()) {
                return Err(engine::Error::Usage(format!(
                    "s3://{}/{key} is not an object but a prefix of objects: pass --recursive \
                     to remove what lies under it",
                    bucket.as_str()
                ))
                .into());
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = Out::new(g.json);
    let url = format!("s3://{}/{key}", bucket.as_str());
    if a.dry_run {
        out.line(&format!("(dry run) delete: {url} ({})", human_bytes(size)))?;
        out.record(&json!({"event": "planned", "action": "delete", "key": key, "bytes": size}))?;
    } else {
        client.delete_object(&bucket, &object).await?;
        out.line(&format!("delete: {url}"))?;
        out.record(&json!({"event": "deleted", "key": key, "bytes": size}))?;
    }
    out.flush()?;
    Ok(())
}

/// Every object under the prefix (a directory: `logs` is `logs/`), streamed.
async fn recursive(
    g: &GlobalArgs,
    a: &RmArgs,
    client: &engine::client::Client,
    bucket: &BucketName,
    key: &str,
) -> Result<()> {
    let filter = super::filter_from_rules(&a.rules)?;
    let prefix = if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    };
    let opts = RemoveOptions {
        filter,
        dry_run: a.dry_run,
        list_fanout: super::ls::list_fanout(a.list_fanout),
        batches_in_flight: DELETE_BATCHES_IN_FLIGHT,
    };
    let started = Instant::now();
    let mut out = Out::new(g.json);
    // The first write error (a closed stdout) is kept and the removal goes on: it is the job.
    let mut written: std::io::Result<()> = Ok(());
    let b = bucket.as_str().to_owned();
    let dry_run = a.dry_run;
    let mut deleted = |key: &str, size: u64| {
        if written.is_err() {
            return;
        }
        written = if dry_run {
            out.line(&format!(
                "(dry run) delete: s3://{b}/{key} ({})",
                human_bytes(size)
            ))
            .and_then(|()| {
                out.record(
                    &json!({"event": "planned", "action": "delete", "key": key, "bytes": size}),
                )
            })
        } else {
            out.line(&format!("delete: s3://{b}/{key}"))
                .and_then(|()| out.record(&json!({"event": "deleted", "key": key, "bytes": size})))
        };
    };
    let report = remove_prefix(client, bucket, &prefix, &opts, &mut deleted).await;
    let target = format!("s3://{}/{prefix}", bucket.as_str());
    for (key, why) in &report.failed {
        crate::output::error_line(&format!(
            "s3://{}/{key}: not deleted: {why}",
            bucket.as_str()
        ));
        if written.is_ok() {
            written = out.record(&json!({"event": "failed", "key": key, "error": why}));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if written.is_ok() {
        written = out
            .line(&format!(
                "rm {target}: {} {} ({}), {} filtered out, {} failed in {secs:.2} s{}{}",
                report.deleted,
                if a.dry_run { "to delete" } else { "deleted" },
                human_bytes(report.bytes),
                report.filtered,
                report.failed.len(),
                if report.stopped.is_some() {
                    " [stopped early]"
                } else {
                    ""
                },
                if a.dry_run {
                    " [dry run: nothing deleted]"
                } else {
                    ""
                },
            ))
            .and_then(|()| {
                out.record(&json!({
                    "event": "summary", "target": target, "deleted": report.deleted,
                    "bytes": report.bytes, "filtered": report.filtered,
                    "failed": report.failed.len(), "stopped": report.stopped.is_some(),
                    "dry_run": a.dry_run, "seconds": secs, "requests": client.request_counts(),
                }))
            })
            .and_then(|()| out.flush());
    }
    // What stopped the removal, or what failed in it, decides the exit code before a closed
    // stdout does (`haul rm -r … | head` must not turn a failed removal into success).
    if let Some(e) = report.stopped {
        return Err(e.into());
    }
    if !report.failed.is_empty() {
        return Err(anyhow::anyhow!(
            "rm incomplete: {} of {} objects not deleted",
            report.failed.len(),
            report.failed.len() as u64 + report.deleted
        ));
    }
    written?;
    Ok(())
}
