//! Uploads: a file or a stream to one object.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use super::tree_hash::{PartHash, TreeHash, hash_part};
use super::{FileAttrs, MemoryBudget, PartPlan, TransferOptions, body_refusal};
use crate::client::{Client, PutOptions};
use crate::error::Error;
use crate::progress::{Event, Progress};
use crate::s3::{BucketName, CompletedPart, ETag, ObjectKey, PartNumber, UploadId};

/// Uploads the file at `path` to `bucket`/`key`: one `PutObject` below the multipart
/// threshold, else a multipart upload whose parts are read and sent concurrently within the
/// memory budget. A failed multipart upload is aborted, so the gateway keeps no partial object
/// and the previous version of the object (if any) stays untouched. The object's metadata
/// carries the file's mtime, mode, uid and gid ([`FileAttrs`]). Returns the bytes sent.
///
/// # Errors
/// Local read errors naming the file; S3 and transport errors naming the object and part; an
/// error if the file changed size or mtime while it was read.
pub async fn upload_file(
    client: &Client,
    path: &Path,
    bucket: &BucketName,
    key: &ObjectKey,
    opts: &TransferOptions,
    put: &PutOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    // A 413 from a router in front of the gateway (or a connection it closes while a large
    // body is sent) lowers the run's body limit, and the file starts over with parts that fit
    // (the refused upload was aborted). Each retry halves the body, so a handful reach the
    // 5 MiB floor.
    for _ in 0..8 {
        match upload_file_once(client, path, bucket, key, opts, put, budget).await {
            Err(e) => match body_refusal(&e) {
                Some((how, Some(bytes))) => {
                    opts.max_body.lower_below(bytes, how)?;
                }
                Some((how, None)) => {
                    let refused = refused_body(path, opts).await?;
                    opts.max_body.lower_below(refused, how)?;
                }
                None => return Err(e),
            },
            ok => return ok,
        }
    }
    Err(Error::Integrity {
        what: format!(
            "{}: request bodies refused (413 or connection closed) eight times",
            path.display()
        ),
    })
}

/// The size of the body a 413 refused: the whole file for a single PUT, else a part.
async fn refused_body(path: &Path, opts: &TransferOptions) -> Result<u64, Error> {
    let owned = path.to_path_buf();
    let len = blocking(move || {
        fs_err::metadata(&owned)
            .map(|m| m.len())
            .map_err(|e| Error::local(&owned, e))
    })
    .await?;
    let single = len <= opts.multipart_threshold && opts.max_body.get().is_none_or(|m| len <= m);
    if single {
        return Ok(len);
    }
    Ok(PartPlan::multipart(len, opts.part_size, opts.max_body.get())?.part_size())
}

async fn upload_file_once(
    client: &Client,
    path: &Path,
    bucket: &BucketName,
    key: &ObjectKey,
    opts: &TransferOptions,
    put: &PutOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let owned = path.to_path_buf();
    let (file, len, mtime, attrs) = blocking(move || {
        let file = fs_err::File::open(&owned).map_err(|e| Error::local(&owned, e))?;
        let md = file.metadata().map_err(|e| Error::local(&owned, e))?;
        let mtime = md.modified().map_err(|e| Error::local(&owned, e))?;
        Ok((
            Arc::new(file),
            md.len(),
            mtime,
            FileAttrs::from_metadata(&md),
        ))
    })
    .await?;
    // The object carries the file's mtime, mode and ownership (s3cmd-compatible).
    let mut with_attrs = put.clone();
    attrs.store(&mut with_attrs.metadata);
    let put = &with_attrs;
    let single_put =
        len <= opts.multipart_threshold && opts.max_body.get().is_none_or(|m| len <= m);
    let sent = if single_put {
        let _mem = budget.reserve(len).await;
        let data = read_range(file.clone(), path.to_path_buf(), 0, len, budget).await?;
        // The object carries the BLAKE3 of its bytes, hashed from the buffer being sent (not
        // a second read), so manifests and `--checksum` can trust it without reading the
        // object back. (A multipart object gets it once its parts are in: `store_blake3`.)
        let hashed = data.clone();
        let digest = blocking(move || Ok(blake3::hash(&hashed).to_hex().to_string())).await?;
        let mut with_hash = put.clone();
        // A 64-character hex string is always valid metadata.
        let _ = with_hash.metadata.insert(BLAKE3_META, digest);
        client.put_object(bucket, key, data, &with_hash).await?;
        opts.progress.emit(Event::BytesMoved { bytes: len });
        len
    } else {
        let plan = PartPlan::multipart(len, opts.part_size, opts.max_body.get())?;
        multipart_from_file(
            client,
            file.clone(),
            path,
            mtime,
            bucket,
            key,
            plan,
            opts.max_body.get(),
            put,
            budget,
            &opts.progress,
        )
        .await?
    };
    ensure_unchanged(path, len, mtime).await?;
    Ok(sent)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
async fn multipart_from_file(
    client: &Client,
    file: Arc<fs_err::File>,
    path: &Path,
    mtime: SystemTime,
    bucket: &BucketName,
    key: &ObjectKey,
    plan: PartPlan,
    max_body: Option<u64>,
    put: &PutOptions,
    budget: &MemoryBudget,
    progress: &Progress,
) -> Result<u64, Error> {
    // An upload a killed run left behind for this key is continued, in its own part size:
    // its parts that match the file's bytes (MD5 against the part ETag) are kept, the rest
    // are sent again.
    let (upload_id, reusable, plan) =
        match resumable(client, bucket, key, plan, max_body, mtime).await {
            Some((id, parts, plan)) => {
                tracing::info!(
                    key = key.as_str(),
                    parts = parts.len(),
                    part_size = plan.part_size(),
                    "resuming an interrupted multipart upload"
                );
                (id, parts, plan)
            }
            None => (
                client.create_multipart_upload(bucket, key, put).await?,
                HashMap::new(),
                plan,
            ),
        };
    let reusable = Arc::new(reusable);
    let total = plan.parts().map(|p| p.len).sum();
    // Each part is hashed where it is read, on its own thread; the parts' subtrees make the
    // object's BLAKE3 (tree_hash.rs), which a multipart upload can only carry once complete.
    let mut tree = TreeHash::new(total);
    let etag = aborting_on_failure(client, bucket, key, &upload_id, async {
        let mut tasks = JoinSet::new();
        let mut done = Vec::with_capacity(plan.count() as usize);
        let mut finished = |(part, hash): (CompletedPart, PartHash)| {
            tree.add(hash);
            done.push(part);
        };
        for part in plan.parts() {
            // Reserve memory before reading: at most budget / part_size parts are in memory.
            let mem = budget.reserve(part.len).await;
            // Collect finished parts as we go so an early failure stops the loop.
            while let Some(res) = tasks.try_join_next() {
                finished(joined(res)??);
            }
            let (client, file, path) = (client.clone(), file.clone(), path.to_path_buf());
            let (bucket, key, upload_id) = (bucket.clone(), key.clone(), upload_id.clone());
            let (reusable, budget, progress) = (reusable.clone(), budget.clone(), progress.clone());
            tasks.spawn(async move {
                let _mem = mem;
                let number = part_number(part.number)?;
                let data = read_range(file, path, part.offset, part.len, &budget).await?;
                let reused = reusable.get(&part.number).cloned();
                let bytes = data.clone();
                let (hash, md5) = blocking(move || {
                    let md5 = reused.is_some().then(|| hex::encode(Md5::digest(&bytes)));
                    Ok((hash_part(part.offset, &bytes, total), md5))
                })
                .await?;
                if let Some(etag) = reusable.get(&part.number)
                    && etag.md5_hex() == md5
                {
                    // Sent by the interrupted run: counted, as the returned total is.
                    progress.emit(Event::BytesMoved { bytes: part.len });
                    let part = CompletedPart {
                        part_number: number,
                        etag: etag.clone(),
                    };
                    return Ok::<_, Error>((part, hash));
                }
                let etag = client
                    .upload_part(&bucket, &key, &upload_id, number, data)
                    .await?;
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
        client
            .complete_multipart_upload(bucket, key, &upload_id, &done)
            .await
    })
    .await?;
    store_blake3(client, bucket, key, etag, total, put, tree.finish()).await;
    Ok(total)
}

/// Gives a just-completed multipart object its `x-amz-meta-blake3`, which could not be set
/// when the upload was created: a copy of the object onto itself that replaces its metadata
/// (the upload's own plus the hash), made only if the object still has the `ETag` the upload
/// completed with, so a newer object someone else put meanwhile is left alone. Gateways copy
/// onto itself without moving data (RGW rewrites the head; s3s-fs the metadata file); S3
/// refuses copies over 5 GiB, and then the object stays without the hash: manifests read it
/// instead. Failing here never fails the upload, which is complete and correct. When `put`
/// already carries the right hash (a copied object's), nothing is sent; a wrong one (a source
/// whose claim does not match its bytes) is replaced, with a warning.
pub(crate) async fn store_blake3(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    etag: Option<ETag>,
    len: u64,
    put: &PutOptions,
    hash: Option<blake3::Hash>,
) {
    // A gateway that neither answers the ETag nor tags parts with plain MD5s: a HEAD gives
    // it, accepted only for a multipart object of the uploaded length (not someone else's
    // newer PUT).
    let etag = match etag {
        Some(e) => Some(e),
        None => client.head_object(bucket, key).await.ok().and_then(|m| {
            m.etag
                .filter(|e| m.content_length == len && e.multipart_part_count().is_some())
        }),
    };
    let (Some(etag), Some(hash)) = (etag.as_ref(), hash) else {
        tracing::debug!(
            key = key.as_str(),
            etag = etag.is_some(),
            hash = hash.is_some(),
            "no ETag or no assembled hash: the object keeps no x-amz-meta-blake3"
        );
        return;
    };
    let hex = hash.to_hex();
    match put.metadata.get(BLAKE3_META) {
        Some(claimed) if claimed == hex.as_str() => return,
        Some(claimed) => tracing::warn!(
            key = key.as_str(),
            claimed,
            actual = hex.as_str(),
            "the source's x-amz-meta-blake3 does not match its bytes; the copy gets the right one"
        ),
        None => {}
    }
    let mut with_hash = put.clone();
    // A 64-character hex string is always valid metadata.
    let _ = with_hash.metadata.insert(BLAKE3_META, hex.to_string());
    if let Err(e) = client.replace_metadata(bucket, key, etag, &with_hash).await {
        tracing::info!(
            key = key.as_str(),
            %e,
            "the object is uploaded, but its BLAKE3 could not be stored as metadata"
        );
    }
}

pub use crate::s3::BLAKE3_META;

/// The newest multipart upload in progress for `key` that a rerun can continue: started after
/// the file was last modified (so the metadata it was created with still describes the file),
/// with every uploaded part sized as one plan cuts the file: `plan`, or the part size the
/// interrupted run chose (its largest part) when that is a size a plan can have under
/// `max_body` (a rerun with another `--part-size` or default continues the upload rather than
/// leaving it behind). Returns its id, the ETags of its parts by number and the plan to
/// finish it with. Gateways without ListMultipartUploads (s3s-fs) give `None`.
async fn resumable(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    plan: PartPlan,
    max_body: Option<u64>,
    mtime: SystemTime,
) -> Option<(UploadId, HashMap<u32, ETag>, PartPlan)> {
    let uploads = client
        .list_multipart_uploads(bucket, Some(key.as_str()))
        .await
        .ok()?;
    let newest = uploads
        .into_iter()
        .filter(|u| u.key == *key)
        .filter(|u| u.initiated.is_some_and(|t| SystemTime::from(t) >= mtime))
        .max_by_key(|u| u.initiated)?;
    let parts = client
        .list_parts(bucket, key, &newest.upload_id)
        .await
        .ok()?;
    let cut: Vec<(u32, u64)> = parts
        .iter()
        .map(|p| (u32::from(p.part_number.get()), p.size))
        .collect();
    let plan = resume_plan(plan, max_body, &cut)?;
    let etags = parts
        .into_iter()
        .map(|p| (u32::from(p.part_number.get()), p.etag))
        .collect();
    Some((newest.upload_id, etags, plan))
}

/// The plan that cuts the file as the uploaded `parts` (number, size) are cut: `plan` when
/// they fit it, else one with the largest part's size when that is a valid part size under
/// `max_body` and every part fits it; `None` when no plan does.
fn resume_plan(plan: PartPlan, max_body: Option<u64>, parts: &[(u32, u64)]) -> Option<PartPlan> {
    let fits = |plan: &PartPlan| {
        let sizes: HashMap<u32, u64> = plan.parts().map(|p| (p.number, p.len)).collect();
        parts.iter().all(|(n, size)| sizes.get(n) == Some(size))
    };
    if fits(&plan) {
        return Some(plan);
    }
    let theirs = parts.iter().map(|&(_, size)| size).max()?;
    let adopted = PartPlan::multipart(plan.len(), theirs, max_body).ok()?;
    if adopted.part_size() == theirs && fits(&adopted) {
        return Some(adopted);
    }
    tracing::debug!("an interrupted upload has parts no plan cuts this file into; starting over");
    None
}

/// Uploads everything `reader` yields (stdin) to `bucket`/`key`. A stream that fits in one
/// part is sent with one `PutObject`; a longer one as a multipart upload whose parts of
/// `part_size` are uploaded as they fill, so the length need not be known in advance (which
/// caps the object at 10,000 parts). The first part is sent alone, before any other is
/// numbered: a router that refuses its body (413, or a connection cut mid-body) gets it again
/// as smaller parts, and the rest of the stream is cut to the size it took.
///
/// # Errors
/// Read errors, S3 and transport errors; the multipart upload is aborted on failure.
pub async fn upload_reader<R: AsyncRead + Unpin>(
    client: &Client,
    mut reader: R,
    bucket: &BucketName,
    key: &ObjectKey,
    opts: &TransferOptions,
    put: &PutOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    // The length is unknown: parts have the requested size (clamped to the S3 and body
    // limits) and are never raised, which caps the stream at 10,000 parts.
    let mut part_size = PartPlan::multipart(0, opts.part_size, opts.max_body.get())?.part_size();
    let stdin_path = PathBuf::from("-");
    let mem = budget.reserve(part_size).await;
    let first = fill(&mut reader, part_size, None, &stdin_path, budget).await?;
    let mut hash = StreamHash::new();
    hash.feed(first.clone()).await?;
    if (first.len() as u64) < part_size {
        // The whole stream fits in one part: one PutObject, unless a router refuses the body;
        // then a multipart upload of pieces that fit.
        let len = first.len() as u64;
        let digest = hash.finish().await?;
        let mut with_hash = put.clone();
        // A 64-character hex string is always valid metadata.
        let _ = with_hash
            .metadata
            .insert(BLAKE3_META, digest.to_hex().to_string());
        match client
            .put_object(bucket, key, first.clone(), &with_hash)
            .await
        {
            Ok(_) => {
                opts.progress.emit(Event::BytesMoved { bytes: len });
                return Ok(len);
            }
            Err(e) => {
                let Some((how, bytes)) = body_refusal(&e) else {
                    return Err(e);
                };
                opts.max_body.lower_below(bytes.unwrap_or(len), how)?;
            }
        }
        let upload_id = client.create_multipart_upload(bucket, key, put).await?;
        let etag = aborting_on_failure(client, bucket, key, &upload_id, async {
            let mut done = Vec::new();
            send_fitting(
                client, bucket, key, &upload_id, first, true, opts, &mut 0, &mut done,
            )
            .await?;
            drop(mem);
            client
                .complete_multipart_upload(bucket, key, &upload_id, &done)
                .await
        })
        .await?;
        store_blake3(client, bucket, key, etag, len, put, Some(digest)).await;
        return Ok(len);
    }
    let upload_id = client.create_multipart_upload(bucket, key, put).await?;
    let (total, etag) = aborting_on_failure(client, bucket, key, &upload_id, async {
        let mut tasks = JoinSet::new();
        let mut done = Vec::new();
        let mut total = first.len() as u64;
        let mut number = 0u32;
        // The first part goes alone: if a router refuses its body, nothing later has been
        // numbered yet, so it is re-sent as smaller parts and the rest of the stream is cut
        // to the size the router took (a stream cannot be read twice).
        let mut carry = send_fitting(
            client,
            bucket,
            key,
            &upload_id,
            first,
            false,
            opts,
            &mut number,
            &mut done,
        )
        .await?;
        drop(mem);
        part_size = part_size.min(opts.max_body.get().unwrap_or(part_size));
        loop {
            let mem = budget.reserve(part_size).await;
            // Bytes carried over from the first part were counted with it.
            let carried = carry.as_ref().map_or(0, |c| c.len() as u64);
            let data = fill(&mut reader, part_size, carry.take(), &stdin_path, budget).await?;
            if data.is_empty() {
                break;
            }
            // The carried bytes were hashed with the first part.
            hash.feed(data.slice(usize::try_from(carried).unwrap_or(0)..))
                .await?;
            let last = (data.len() as u64) < part_size;
            number += 1;
            let pn = part_number(number).map_err(|_| {
                Error::Usage(format!(
                    "stdin is larger than 10,000 parts of {part_size} B: pass a larger --part-size"
                ))
            })?;
            total += data.len() as u64 - carried;
            while let Some(res) = tasks.try_join_next() {
                done.push(joined(res)??);
            }
            let (client, bucket, key, id, progress) = (
                client.clone(),
                bucket.clone(),
                key.clone(),
                upload_id.clone(),
                opts.progress.clone(),
            );
            tasks.spawn(async move {
                let _mem = mem;
                let n = data.len() as u64;
                let etag = client.upload_part(&bucket, &key, &id, pn, data).await?;
                progress.emit(Event::BytesMoved { bytes: n });
                Ok::<_, Error>(CompletedPart {
                    part_number: pn,
                    etag,
                })
            });
            if last {
                break;
            }
        }
        while let Some(res) = tasks.join_next().await {
            done.push(joined(res)??);
        }
        done.sort_by_key(|p| p.part_number);
        let etag = client
            .complete_multipart_upload(bucket, key, &upload_id, &done)
            .await?;
        Ok((total, etag))
    })
    .await?;
    let digest = hash.finish().await?;
    store_blake3(client, bucket, key, etag, total, put, Some(digest)).await;
    Ok(total)
}

/// The BLAKE3 of a stream, hashed in order on blocking threads while the next piece is read.
/// A piece is held until it is hashed, which may be after its part was sent: one part beyond
/// the memory budget at most.
/// (`None` before the first piece: a fresh hasher.)
struct StreamHash(Option<tokio::task::JoinHandle<blake3::Hasher>>);

impl StreamHash {
    fn new() -> Self {
        Self(None)
    }

    async fn hasher(&mut self) -> Result<blake3::Hasher, Error> {
        match self.0.take() {
            Some(task) => joined(task.await),
            None => Ok(blake3::Hasher::new()),
        }
    }

    /// Queues `data` after the pieces fed before; waits only for the previous piece's hashing.
    async fn feed(&mut self, data: Bytes) -> Result<(), Error> {
        let mut hasher = self.hasher().await?;
        self.0 = Some(tokio::task::spawn_blocking(move || {
            hasher.update(&data);
            hasher
        }));
        Ok(())
    }

    async fn finish(mut self) -> Result<blake3::Hash, Error> {
        Ok(self.hasher().await?.finalize())
    }
}

/// Uploads `data` as the next part, or, if the path to the gateway refuses a body that large
/// (a 413, or the connection cut mid-body), as consecutive parts of the lowered body limit.
/// Unless `data` ends the stream (`last`), a tail shorter than that limit is not sent (S3 wants
/// every part but the last to be at least 5 MiB) but returned, to start the next part.
/// `number` is the last part number used.
#[allow(
    clippy::too_many_arguments,
    reason = "private helper: the upload's identity plus its running state"
)]
async fn send_fitting(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    upload_id: &UploadId,
    data: Bytes,
    last: bool,
    opts: &TransferOptions,
    number: &mut u32,
    done: &mut Vec<CompletedPart>,
) -> Result<Option<Bytes>, Error> {
    let mut rest = data;
    // First try: everything as one part, unless the run already knows a smaller limit.
    let mut size = opts
        .max_body
        .get()
        .and_then(|l| usize::try_from(l).ok())
        .map_or(rest.len(), |l| l.min(rest.len()));
    while !rest.is_empty() {
        if !last && rest.len() < size {
            return Ok(Some(rest));
        }
        let piece = rest.slice(..size.min(rest.len()));
        let pn = part_number(*number + 1)?;
        match client
            .upload_part(bucket, key, upload_id, pn, piece.clone())
            .await
        {
            Ok(etag) => {
                *number += 1;
                opts.progress.emit(Event::BytesMoved {
                    bytes: piece.len() as u64,
                });
                done.push(CompletedPart {
                    part_number: pn,
                    etag,
                });
                rest = rest.slice(piece.len()..);
            }
            Err(e) => {
                let Some((how, bytes)) = body_refusal(&e) else {
                    return Err(e);
                };
                let limit = opts
                    .max_body
                    .lower_below(bytes.unwrap_or(piece.len() as u64), how)?;
                size = usize::try_from(limit).unwrap_or(usize::MAX);
            }
        }
    }
    Ok(None)
}

/// Reads up to `want` bytes (fewer only at the end of the stream), after `prefix` if given.
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    want: u64,
    prefix: Option<Bytes>,
    path: &Path,
    budget: &MemoryBudget,
) -> Result<Bytes, Error> {
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    let mut buf = budget.buffer(want);
    if let Some(p) = prefix {
        buf.extend_from_slice(&p);
    }
    while buf.len() < want {
        // `read_buf` on a Vec may grow it past `want`: read into the exact remainder.
        let mut limited = (&mut *reader).take((want - buf.len()) as u64);
        let n = limited
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::local(path, e))?;
        if n == 0 {
            break;
        }
    }
    Ok(budget.freeze(buf))
}

/// Reads `len` bytes at `offset` on a blocking thread, into a buffer from the budget's pool.
async fn read_range(
    file: Arc<fs_err::File>,
    path: PathBuf,
    offset: u64,
    len: u64,
    budget: &MemoryBudget,
) -> Result<Bytes, Error> {
    let size = usize::try_from(len)
        .map_err(|_| Error::local(&path, std::io::Error::other("part larger than memory")))?;
    let mut buf = budget.buffer(size);
    let buf = blocking(move || {
        buf.resize(size, 0);
        file.file().read_exact_at(&mut buf, offset).map_err(|e| {
            let e = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::new(e.kind(), "file shrank while it was read")
            } else {
                e
            };
            Error::local(&path, e)
        })?;
        Ok(buf)
    })
    .await?;
    Ok(budget.freeze(buf))
}

/// Fails when the file's size or mtime moved while it was uploaded: the object would not be a
/// consistent copy of any one version of the file.
async fn ensure_unchanged(path: &Path, len: u64, mtime: SystemTime) -> Result<(), Error> {
    let owned = path.to_path_buf();
    blocking(move || {
        let md = fs_err::metadata(&owned).map_err(|e| Error::local(&owned, e))?;
        let now = md.modified().map_err(|e| Error::local(&owned, e))?;
        if md.len() != len || now != mtime {
            return Err(Error::Integrity {
                what: format!(
                    "{} changed while it was uploaded (size {len} -> {}): run again",
                    owned.display(),
                    md.len()
                ),
            });
        }
        Ok(())
    })
    .await
}

/// Runs the body of a multipart upload. When it fails, or the run is cancelled (Ctrl-C,
/// SIGTERM), the upload is aborted so the gateway keeps no orphaned parts; the object under the
/// key (if any) was never touched.
pub(crate) async fn aborting_on_failure<T>(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    id: &UploadId,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let result = tokio::select! {
        r = work => r,
        () = crate::cancel::token().cancelled() => Err(Error::Interrupted),
    };
    if result.is_err()
        && let Err(e) = client.abort_multipart_upload(bucket, key, id).await
    {
        tracing::warn!(%e, upload_id = id.as_str(), "could not abort the multipart upload; `haul multipart ls` shows it");
    }
    result
}

fn part_number(n: u32) -> Result<PartNumber, Error> {
    PartNumber::new(u64::from(n)).map_err(|e| Error::Usage(e.to_string()))
}

/// Runs blocking filesystem work off the reactor.
///
/// # Errors
/// The closure's error, or an integrity error if the blocking task panicked.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Integrity {
            what: format!("a blocking file task failed: {e}"),
        })?
}

/// Unwraps a joined task's result.
pub(crate) fn joined<T>(res: Result<T, tokio::task::JoinError>) -> Result<T, Error> {
    res.map_err(|e| Error::Integrity {
        what: format!("a transfer task failed: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_upload_keeps_the_part_size_it_was_started_with() {
        const MIB: u64 = 1024 * 1024;
        let len = 100 * MIB + 7;
        let ours = PartPlan::multipart(len, 16 * MIB, None).unwrap();
        // Parts cut as this run would: kept.
        let same = [(1, 16 * MIB), (2, 16 * MIB)];
        assert_eq!(resume_plan(ours, None, &same), Some(ours));
        // Cut by a run with 5 MiB parts: continued in 5 MiB parts, the last one shorter.
        let five = [(1, 5 * MIB), (3, 5 * MIB), (2, 5 * MIB)];
        let adopted = resume_plan(ours, None, &five).unwrap();
        assert_eq!(adopted.part_size(), 5 * MIB);
        assert_eq!(adopted.count(), 21);
        assert_eq!(adopted.parts().last().unwrap().len, 7);
        // ... unless a router's body limit is now below it.
        assert_eq!(resume_plan(ours, Some(4 * MIB + 1), &five), None);
        // Parts no plan makes (sizes that disagree, below the S3 minimum, a last part of
        // the wrong length): started over.
        assert_eq!(resume_plan(ours, None, &[(1, 5 * MIB), (2, 6 * MIB)]), None);
        assert_eq!(resume_plan(ours, None, &[(1, MIB)]), None);
        assert_eq!(resume_plan(ours, None, &[(21, 8)]), None);
        // No part uploaded yet: any plan fits, ours is kept.
        assert_eq!(resume_plan(ours, None, &[]), Some(ours));
    }
}
