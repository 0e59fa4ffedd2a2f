//! `haul mb` and `haul rb`.

use anyhow::Result;
use engine::client::ListCursor;
use engine::s3::{MAX_DELETE_KEYS, ObjectKey};

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

/// Aborts every multipart upload and deletes every object, in batches of 1,000.
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
    let mut deleted = 0u64;
    // Deleting while listing shifts the listing; list from the start after each batch.
    loop {
        let (page, _) = client
            .list_objects_page(bucket, None, None, &ListCursor::Start)
            .await?;
        if page.objects.is_empty() {
            return Ok(deleted);
        }
        let keys: Vec<ObjectKey> = page.objects.into_iter().map(|o| o.key).collect();
        for batch in keys.chunks(MAX_DELETE_KEYS) {
            let failed = client.delete_objects(bucket, batch).await?;
            if let Some(f) = failed.first() {
                return Err(engine::Error::Integrity {
                    what: format!(
                        "could not delete s3://{}/{}: {} {}",
                        bucket.as_str(),
                        f.key,
                        f.code,
                        f.message.as_deref().unwrap_or("")
                    ),
                }
                .into());
            }
            deleted += batch.len() as u64;
        }
    }
}
