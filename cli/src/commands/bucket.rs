//! `haul mb` and `haul rb`.

use anyhow::Result;
use engine::sync::remove::{DELETE_BATCHES_IN_FLIGHT, RemoveOptions, remove_prefix};

use super::{client, parse_bucket_url};
use crate::args::GlobalArgs;
use crate::output::Out;

pub(crate) async fn make(g: &GlobalArgs, url: &str) -> Result<()> {
    let bucket = parse_bucket_url(url)?;
    let client = client(g)?;
    client.create_bucket(&bucket).await?;
    let mut out = Out::new(g.json);
    out.line(&format!("make_bucket: s3://{}", bucket.as_str()))?;
    out.record(&serde_json::json!({"created": bucket.as_str()}))?;
    out.flush()?;
    Ok(())
}

pub(crate) async fn remove(g: &GlobalArgs, url: &str, force: bool) -> Result<()> {
    let bucket = parse_bucket_url(url)?;
    let client = client(g)?;
    let mut out = Out::new(g.json);
    if force {
        let deleted = empty_bucket(&client, &bucket).await?;
        if deleted > 0 {
            out.line(&format!("deleted {deleted} objects"))?;
        }
    }
    // A non-empty bucket fails with BucketNotEmpty, whose hint names --force.
    client.delete_bucket(&bucket).await?;
    out.line(&format!("remove_bucket: s3://{}", bucket.as_str()))?;
    out.record(&serde_json::json!({"removed": bucket.as_str()}))?;
    out.flush()?;
    Ok(())
}

/// Aborts every multipart upload and deletes every object, in batches of 1,000, a few at once.
async fn empty_bucket(
    client: &engine::client::Client,
    bucket: &engine::s3::BucketName,
) -> Result<u64> {
    for upload in client
        .list_multipart_uploads(bucket, None)
        .await
        .unwrap_or_default()
    {
        client
            .abort_multipart_upload(bucket, &upload.key, &upload.upload_id)
            .await?;
    }
    // Every object, streamed and deleted in parallel batches (`haul rm -r s3://bucket`).
    let opts = RemoveOptions {
        filter: engine::sync::Filter::default(),
        dry_run: false,
        list_fanout: engine::client::ListFanout::default(),
        batches_in_flight: DELETE_BATCHES_IN_FLIGHT,
    };
    let report = remove_prefix(client, bucket, "", &opts, &mut |_, _| {}).await;
    if let Some(e) = report.stopped {
        return Err(e.into());
    }
    if let Some((key, why)) = report.failed.first() {
        return Err(engine::Error::Integrity {
            what: format!(
                "could not delete s3://{}/{key}: {why} ({} objects not deleted)",
                bucket.as_str(),
                report.failed.len()
            ),
        }
        .into());
    }
    Ok(report.deleted)
}
