//! Object to object: a server-side `CopyObject` within one gateway, or a streamed GET → PUT
//! between two gateways (cluster to cluster) with no local staging, part by part within the
//! memory budget.

use tokio::task::JoinSet;

use super::tree_hash::{TreeHash, hash_part};
use super::upload::{BLAKE3_META, aborting_on_failure, blocking, joined, store_blake3};
use super::{MemoryBudget, PartPlan, TransferOptions, body_refusal};
use crate::client::{Client, PutOptions};
use crate::error::Error;
use crate::progress::Event;
use crate::s3::{
    BucketName, ByteRange, CompletedPart, ETag, MAX_COPY_OBJECT_BYTES, ObjectKey, PartNumber,
};

/// Where an object is.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'a> {
    /// The gateway.
    pub client: &'a Client,
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
}

/// Copies `src` to `dst` and returns the bytes copied. On one gateway (same endpoint) objects
/// up to 5 GiB are copied server-side, keeping their metadata; otherwise the bytes stream
/// through haul: one GET and PUT below the multipart threshold, else ranged GETs pinned to the
/// source's ETag feeding the parts of a multipart upload, which is aborted on failure. Either
/// way the metadata (mtime, mode, …) travels with the object. Streamed bytes are hashed on the
/// way: the copy carries the BLAKE3 of what it received, and a source whose
/// `x-amz-meta-blake3` does not match its bytes is refused below the multipart threshold
/// (nothing is overwritten) and named in a warning above it.
///
/// # Errors
/// S3 and transport errors naming the object; `PreconditionFailed` when the source changed.
pub async fn copy_object(
    src: ObjectRef<'_>,
    dst: ObjectRef<'_>,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    // As for uploads: a 413 lowers the run's body limit and the copy starts over.
    for _ in 0..8 {
        match copy_object_once(src, dst, opts, budget).await {
            Err(e) => match body_refusal(&e) {
                Some((how, bytes)) => {
                    let sent = bytes.unwrap_or_else(|| {
                        opts.max_body
                            .get()
                            .unwrap_or(opts.part_size.max(opts.multipart_threshold))
                    });
                    opts.max_body.lower_below(sent, how)?;
                }
                None => return Err(e),
            },
            ok => return ok,
        }
    }
    Err(Error::Integrity {
        what: format!(
            "s3://{}/{}: request bodies refused (413 or connection closed) eight times",
            dst.bucket.as_str(),
            dst.key.as_str()
        ),
    })
}

async fn copy_object_once(
    src: ObjectRef<'_>,
    dst: ObjectRef<'_>,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let meta = src.client.head_object(src.bucket, src.key).await?;
    let len = meta.content_length;
    if src.client.endpoint() == dst.client.endpoint() && len <= MAX_COPY_OBJECT_BYTES {
        dst.client
            .copy_object(src.bucket, src.key, dst.bucket, dst.key, meta.etag.as_ref())
            .await?;
        opts.progress.emit(Event::BytesMoved { bytes: len });
        return Ok(len);
    }
    let mut put = PutOptions {
        content_type: meta.content_type.clone(),
        metadata: meta.metadata.clone(),
    };
    let etag = meta.etag.clone();
    if len <= opts.multipart_threshold && opts.max_body.get().is_none_or(|m| len <= m) {
        let _mem = budget.reserve(len).await;
        let data = fetch(src, 0, len, etag.as_ref(), budget).await?;
        let hashed = data.clone();
        let hex = blocking(move || Ok(blake3::hash(&hashed).to_hex().to_string())).await?;
        if let Some(claimed) = put.metadata.get(BLAKE3_META)
            && claimed != hex
        {
            return Err(Error::Integrity {
                what: format!(
                    "s3://{}/{}: its x-amz-meta-blake3 says {claimed} but its bytes hash to                      {hex}: not copied",
                    src.bucket.as_str(),
                    src.key.as_str()
                ),
            });
        }
        // A 64-character hex string is always valid metadata.
        let _ = put.metadata.insert(BLAKE3_META, hex);
        dst.client
            .put_object(dst.bucket, dst.key, data, &put)
            .await?;
        opts.progress.emit(Event::BytesMoved { bytes: len });
        return Ok(len);
    }
    let plan = PartPlan::multipart(len, opts.part_size, opts.max_body.get())?;
    let upload_id = dst
        .client
        .create_multipart_upload(dst.bucket, dst.key, &put)
        .await?;
    let mut tree = TreeHash::new(len);
    let done_etag = aborting_on_failure(dst.client, dst.bucket, dst.key, &upload_id, async {
        let mut tasks = JoinSet::new();
        let mut done = Vec::with_capacity(plan.count() as usize);
        let mut finished = |(part, hash)| {
            tree.add(hash);
            done.push(part);
        };
        for part in plan.parts() {
            let mem = budget.reserve(part.len).await;
            while let Some(res) = tasks.try_join_next() {
                finished(joined(res)??);
            }
            let (sc, sb, sk) = (src.client.clone(), src.bucket.clone(), src.key.clone());
            let (dc, db, dk) = (dst.client.clone(), dst.bucket.clone(), dst.key.clone());
            let (id, etag, progress) = (upload_id.clone(), etag.clone(), opts.progress.clone());
            let budget = budget.clone();
            tasks.spawn(async move {
                let _mem = mem;
                let number = PartNumber::new(u64::from(part.number))
                    .map_err(|e| Error::Usage(e.to_string()))?;
                let source = ObjectRef {
                    client: &sc,
                    bucket: &sb,
                    key: &sk,
                };
                let data = fetch(source, part.offset, part.len, etag.as_ref(), &budget).await?;
                let hashed = data.clone();
                let hash = blocking(move || Ok(hash_part(part.offset, &hashed, len))).await?;
                let etag = dc.upload_part(&db, &dk, &id, number, data).await?;
                progress.emit(Event::BytesMoved { bytes: part.len });
                let part = CompletedPart {
                    part_number: number,
                    etag,
                };
                Ok::<_, Error>((part, hash))
            });
        }
        while let Some(res) = tasks.join_next().await {
            finished(joined(res)??);
        }
        done.sort_by_key(|p| p.part_number);
        dst.client
            .complete_multipart_upload(dst.bucket, dst.key, &upload_id, &done)
            .await
    })
    .await?;
    store_blake3(
        dst.client,
        dst.bucket,
        dst.key,
        done_etag,
        len,
        &put,
        tree.finish(),
    )
    .await;
    Ok(len)
}

/// Reads `len` bytes at `offset` of the source into memory, pinned to its ETag.
async fn fetch(
    src: ObjectRef<'_>,
    offset: u64,
    len: u64,
    etag: Option<&ETag>,
    budget: &MemoryBudget,
) -> Result<bytes::Bytes, Error> {
    if len == 0 {
        return Ok(bytes::Bytes::new());
    }
    let range =
        ByteRange::new(offset, offset + len - 1).map_err(|e| Error::Usage(e.to_string()))?;
    let mut resp = src
        .client
        .get_object(src.bucket, src.key, Some(range), etag)
        .await?;
    let mut buf = budget.buffer(usize::try_from(len).unwrap_or(0));
    while let Some(chunk) = resp.response.chunk().await {
        let chunk = chunk?;
        if (buf.len() + chunk.len()) as u64 > len {
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != len {
        return Err(Error::Integrity {
            what: format!(
                "s3://{}/{}: bytes {offset}..{}: received {} of {len}",
                src.bucket.as_str(),
                src.key.as_str(),
                offset + len,
                buf.len()
            ),
        });
    }
    Ok(budget.freeze(buf))
}
