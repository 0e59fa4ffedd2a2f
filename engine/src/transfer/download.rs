//! Downloads: one object to a file (ranged GETs in parallel, positional writes into a temporary
//! file, fsync, rename) or to a writer (in order, for stdout).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use super::upload::{blocking, joined};
use super::{FileAttrs, MemoryBudget, PartPlan, TransferOptions};
use crate::client::Client;
use crate::error::Error;
use crate::local::{DIRECT_ALIGN, PartialFile, SyncedFrom};
use crate::progress::{Event, Progress};
use crate::s3::{BucketName, ByteRange, ETag, ObjectKey, ObjectMeta};

/// Bytes gathered from the network before one positional write. Chosen: 1 MiB, so a blocking
/// write costs far less than the data it carries, while a range holds little memory; a
/// multiple of [`DIRECT_ALIGN`], so that every direct write but a file's last is aligned.
const WRITE_CHUNK_BYTES: usize = 1024 * 1024;

/// A range's write buffer: a write chunk, and room to start it at an aligned address.
const RANGE_BUFFER_BYTES: usize = WRITE_CHUNK_BYTES + DIRECT_ALIGN;

/// How many times one range may be resumed after its body broke off. Chosen: 5; each resume
/// continues from the byte where the previous attempt stopped (with direct I/O, from the last
/// whole 4 KiB block before it).
const MAX_RESUMES: u32 = 5;

/// Downloads `bucket`/`key` to `dest`. The data goes to a temporary file beside `dest` and is
/// renamed into place only once every byte arrived and was synced, so `dest` is never a partial
/// file. Objects at least `multipart_threshold` long are fetched as parallel ranged GETs pinned
/// to the object's ETag (`If-Match`), so a concurrent overwrite fails the download instead of
/// mixing two versions. Objects longer than 1 MiB are written with direct I/O where the
/// filesystem has it and [`TransferOptions::direct_io`] allows ([`PartialFile::use_direct_io`]).
/// The file's mtime and permission bits come from the object's metadata ([`FileAttrs`]), its
/// mtime from `Last-Modified` when the metadata has none.
/// Returns the bytes written.
///
/// # Errors
/// S3, transport and local errors naming the object or file; an integrity error when the bytes
/// received do not match the object's length.
#[allow(
    clippy::too_many_arguments,
    reason = "each is a distinct input of the download"
)]
pub async fn download_file(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    dest: &Path,
    size_hint: Option<u64>,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    // An object a listing showed to be small is fetched with one GET, whose headers carry
    // everything a HEAD would: half the requests for trees of small files. Otherwise HEAD
    // gives the size and ETag that plan and pin the ranged GETs.
    let mut first = None;
    let meta = match size_hint {
        Some(size) if size <= opts.multipart_threshold => {
            let get = client
                .get_object_sized(bucket, key, None, None, Some(size))
                .await?;
            let meta = get.meta.clone();
            first = Some(get);
            meta
        }
        _ => client.head_object(bucket, key).await?,
    };
    let len = meta.content_length;
    let etag = meta.etag.clone();
    let finish = Finish::new(&meta, len);
    let plan = if len > opts.multipart_threshold {
        PartPlan::ranges(len, opts.part_size)
    } else {
        PartPlan::ranges(len, len.max(1))
    };
    // Files fetched whole may skip their own fsync when the caller syncs the filesystem at
    // the end; ranged (large) downloads are always synced before their rename.
    let durable = plan.count() > 1 || !opts.defer_fsync;
    if plan.count() > 1 {
        // The object grew past the threshold since it was listed: ranged GETs after all.
        first = None;
    }
    // A small object already answering: its body in memory, then the temporary file created,
    // written, given its attributes and renamed in one blocking call (one thread hop per
    // file, not three). A body that breaks off falls through to the resuming path below.
    if let Some(get) = first.take_if(|_| len <= WRITE_CHUNK_BYTES as u64) {
        // A range's buffer size, so that the pool's buffers serve both kinds of download.
        let _mem = budget.reserve(RANGE_BUFFER_BYTES as u64).await;
        let mut buf = budget.buffer(RANGE_BUFFER_BYTES);
        let whole = tokio::select! {
            r = read_whole(get, len, &mut buf, bucket, key) => r?,
            () = crate::cancel::token().cancelled() => return Err(Error::Interrupted),
        };
        if whole {
            let dest_owned = dest.to_path_buf();
            let beneath = opts.beneath.clone();
            let buf = blocking(move || {
                let local = |e| Error::local(&dest_owned, e);
                let file = PartialFile::create_beneath(beneath.as_deref(), &dest_owned, None)
                    .map_err(local)?;
                file.write_at(&buf, 0).map_err(local)?;
                finish.apply(file, &dest_owned, durable)?;
                Ok(buf)
            })
            .await?;
            budget.give_back(buf);
            opts.progress.emit(Event::BytesMoved { bytes: len });
            return Ok(len);
        }
        budget.give_back(buf);
    }
    let dest_owned = dest.to_path_buf();
    let beneath = opts.beneath.clone();
    // Direct writes need every range to start at an aligned offset. An object fetched whole
    // (up to the threshold: a WAL segment) starts at 0 and takes them too: under memory
    // pressure each page-cache page must first be reclaimed by the process that writes it,
    // which doubled the system CPU and wall time of a WAL download; on a quiet machine the
    // two are level (BENCHMARKS.md, "Whole-object downloads with direct I/O"). Objects of up
    // to one write chunk keep the page cache (one short write; a padded block would cost more).
    let try_direct = opts.direct_io
        && if plan.count() == 1 {
            len > WRITE_CHUNK_BYTES as u64
        } else {
            plan.part_size().is_multiple_of(DIRECT_ALIGN as u64)
        };
    let (file, direct) = blocking(move || {
        let file = PartialFile::create_beneath(beneath.as_deref(), &dest_owned, Some(len))
            .map_err(|e| Error::local(&dest_owned, e))?;
        let direct = try_direct && file.use_direct_io();
        Ok((file, direct))
    })
    .await?;
    let file = Arc::new(file);
    let fetch_all = async {
        let mut tasks = JoinSet::new();
        // At most as many ranges in flight as the gateway's request limit.
        let max_tasks = client.limiter().ceiling();
        let mut written = 0u64;
        for part in plan.parts() {
            if part.len == 0 {
                continue;
            }
            while tasks.len() >= max_tasks {
                if let Some(res) = tasks.join_next().await {
                    written += joined(res)??;
                }
            }
            let mem = budget.reserve(RANGE_BUFFER_BYTES as u64).await;
            let (client, bucket, key, etag, file, progress) = (
                client.clone(),
                bucket.clone(),
                key.clone(),
                etag.clone(),
                file.clone(),
                opts.progress.clone(),
            );
            let whole = plan.count() == 1;
            let budget = budget.clone();
            let first = first.take();
            tasks.spawn(async move {
                let _mem = mem;
                fetch_range(
                    &client,
                    &bucket,
                    &key,
                    etag.as_ref(),
                    part.offset,
                    part.len,
                    (whole, direct),
                    &file,
                    &progress,
                    &budget,
                    first,
                )
                .await
            });
        }
        while let Some(res) = tasks.join_next().await {
            written += joined(res)??;
        }
        Ok::<u64, Error>(written)
    };
    // Cancellation drops the range tasks and, with them, the temporary file.
    let written = tokio::select! {
        r = fetch_all => r?,
        () = crate::cancel::token().cancelled() => return Err(Error::Interrupted),
    };
    if written != len {
        return Err(Error::Integrity {
            what: format!(
                "s3://{}/{}: received {written} bytes of {len}",
                bucket.as_str(),
                key.as_str()
            ),
        });
    }
    let Ok(file) = Arc::try_unwrap(file) else {
        return Err(Error::Integrity {
            what: "download tasks still hold the temporary file".to_owned(),
        });
    };
    let dest_owned = dest.to_path_buf();
    blocking(move || finish.apply(file, &dest_owned, durable)).await?;
    Ok(len)
}

/// What a downloaded file is given before its rename: the original mtime and permission bits
/// when the object carries them (haul's or s3cmd's metadata), else the object's Last-Modified,
/// and the record of the object version it holds. Setuid, setgid and sticky bits are never
/// restored from a gateway's say-so.
struct Finish {
    mtime: Option<SystemTime>,
    mode: Option<u32>,
    synced: Option<SyncedFrom>,
}

impl Finish {
    fn new(meta: &ObjectMeta, len: u64) -> Self {
        let attrs = FileAttrs::load(&meta.metadata);
        let mtime: Option<SystemTime> = attrs
            .mtime
            .or_else(|| meta.last_modified.map(SystemTime::from));
        let last_modified_secs = meta
            .last_modified
            .and_then(|t| u64::try_from(t.unix_timestamp()).ok());
        let synced = mtime.zip(last_modified_secs).map(|(t, lm)| SyncedFrom {
            size: len,
            last_modified_secs: lm,
            mtime: t,
        });
        Self {
            mtime,
            mode: attrs.mode.map(|m| m & 0o777),
            synced,
        }
    }

    /// Sets the attributes, then renames `file` to `dest`: after an fsync when `durable`,
    /// else leaving that to the caller's [`sync_filesystem`](crate::local::sync_filesystem).
    fn apply(self, file: PartialFile, dest: &Path, durable: bool) -> Result<(), Error> {
        let local = |e| Error::local(dest, e);
        if let Some(t) = self.mtime {
            file.set_modified(t).map_err(local)?;
        }
        if let Some(s) = &self.synced {
            file.record_synced(s);
        }
        if let Some(m) = self.mode {
            file.set_mode(m).map_err(local)?;
        }
        if durable {
            file.persist().map_err(local)?;
        } else {
            file.persist_unsynced().map_err(local)?;
        }
        Ok(())
    }
}

/// Reads a whole small object's body into `buf`. `Ok(false)` when the body ended early or
/// broke off in a way worth retrying (the caller fetches it again, resuming).
async fn read_whole(
    mut get: crate::client::GetObject,
    len: u64,
    buf: &mut Vec<u8>,
    bucket: &BucketName,
    key: &ObjectKey,
) -> Result<bool, Error> {
    buf.clear();
    while let Some(chunk) = get.response.chunk().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) if e.is_retryable() => {
                tracing::warn!(key = key.as_str(), "body broke off ({e}); fetching again");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if (buf.len() + chunk.len()) as u64 > len {
            return Err(too_much(bucket, key, len));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != len {
        tracing::warn!(
            key = key.as_str(),
            got = buf.len(),
            len,
            "body ended early; fetching again"
        );
        return Ok(false);
    }
    Ok(true)
}

fn too_much(bucket: &BucketName, key: &ObjectKey, len: u64) -> Error {
    Error::Integrity {
        what: format!(
            "s3://{}/{}: the gateway sent more than the {len} bytes asked for",
            bucket.as_str(),
            key.as_str()
        ),
    }
}

/// Fetches `len` bytes at `offset` into the file, resuming from where a broken body stopped.
/// Each write is reported to `progress` once it is done. With `direct`, the file takes
/// direct writes ([`PartialFile::write_direct_at`]): `offset` is aligned, every write is a
/// whole [`WRITE_CHUNK_BYTES`] from an aligned address, but the last of a range (aligned too,
/// unless it ends the file: then padded, and the padding cut off before the rename), and a
/// body that breaks off writes only the whole blocks it brought, the rest fetched again.
#[allow(
    clippy::too_many_arguments,
    reason = "private helper with one call site"
)]
async fn fetch_range(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    etag: Option<&ETag>,
    offset: u64,
    len: u64,
    (whole, direct): (bool, bool),
    file: &Arc<PartialFile>,
    progress: &Progress,
    budget: &MemoryBudget,
    mut first: Option<crate::client::GetObject>,
) -> Result<u64, Error> {
    let mut got = 0u64;
    let mut resumes = 0u32;
    // One pooled write buffer per range, moved to the blocking writer and back: no allocation
    // per chunk, and none per range once the pool is warm. It never grows past its capacity,
    // so its address, and the aligned start of its data after `pad` unused bytes, stay put.
    let mut buf = budget.buffer(RANGE_BUFFER_BYTES);
    let pad = if direct {
        buf.as_ptr().align_offset(DIRECT_ALIGN)
    } else {
        0
    };
    let chunk_at = Chunk { pad, direct };
    loop {
        let start = offset + got;
        // A whole small object is fetched without a Range header on the first attempt.
        let range = if whole && got == 0 {
            None
        } else {
            Some(
                ByteRange::new(start, offset + len - 1)
                    .map_err(|e| Error::Usage(format!("range: {e}")))?,
            )
        };
        let mut resp = match first.take() {
            Some(r) => r,
            None => client.get_object(bucket, key, range, etag).await?,
        };
        buf.clear();
        buf.resize(pad, 0);
        let mut buf_at = start;
        let broke = loop {
            match resp.response.chunk().await {
                None => break None,
                Some(Err(e)) => break Some(e),
                Some(Ok(chunk)) => {
                    if got + (buf.len() - pad + chunk.len()) as u64 > len {
                        return Err(too_much(bucket, key, len));
                    }
                    // Filled a whole write chunk at a time, whatever the network's chunks.
                    let mut unread: &[u8] = &chunk;
                    while !unread.is_empty() {
                        let room = WRITE_CHUNK_BYTES - (buf.len() - pad);
                        let (now, later) = unread.split_at(room.min(unread.len()));
                        buf.extend_from_slice(now);
                        unread = later;
                        if buf.len() - pad == WRITE_CHUNK_BYTES {
                            buf = chunk_at.write(file, buf, WRITE_CHUNK_BYTES, buf_at).await?;
                            progress.emit(Event::BytesMoved {
                                bytes: WRITE_CHUNK_BYTES as u64,
                            });
                            got += WRITE_CHUNK_BYTES as u64;
                            buf_at += WRITE_CHUNK_BYTES as u64;
                        }
                    }
                }
            }
        };
        let held = buf.len() - pad;
        // A direct write of a range's middle must stay aligned: what follows the last whole
        // block of a broken body is dropped and fetched again.
        let n = if direct && got + held as u64 != len {
            held / DIRECT_ALIGN * DIRECT_ALIGN
        } else {
            held
        };
        if n > 0 {
            buf = chunk_at.write(file, buf, n, buf_at).await?;
            progress.emit(Event::BytesMoved { bytes: n as u64 });
            got += n as u64;
        }
        if got == len {
            // Every byte is in, whatever happened after the last one.
            budget.give_back(buf);
            return Ok(got);
        }
        match broke {
            None => {
                // The body ended early without an error: treat it like a reset and resume.
                tracing::warn!(key = key.as_str(), got, len, "body ended early; resuming");
            }
            Some(e) if resumes < MAX_RESUMES && e.is_retryable() => {
                tracing::warn!(
                    key = key.as_str(),
                    got,
                    len,
                    "body broke off ({e}); resuming"
                );
            }
            Some(e) => return Err(e),
        }
        resumes += 1;
        if resumes > MAX_RESUMES {
            return Err(Error::Integrity {
                what: format!(
                    "s3://{}/{}: body ended after {got} of {len} bytes, {MAX_RESUMES} times",
                    bucket.as_str(),
                    key.as_str()
                ),
            });
        }
    }
}

/// Where a range's data sits in its buffer (after `pad` bytes, at an aligned address when
/// `direct`), and how it is written.
#[derive(Clone, Copy)]
struct Chunk {
    pad: usize,
    direct: bool,
}

impl Chunk {
    /// Writes the `n` bytes after the pad at `at` on a blocking thread and hands the buffer
    /// back emptied (to the pad). Direct: a short last block is padded with zeros to
    /// [`DIRECT_ALIGN`]. Buffered: the chunk's writeback starts at once
    /// ([`PartialFile::start_writeback`]), so the disk works while the rest arrives and the
    /// fsync (or the `syncfs` of a sync) at the end has little left to write.
    async fn write(
        self,
        file: &Arc<PartialFile>,
        mut buf: Vec<u8>,
        n: usize,
        at: u64,
    ) -> Result<Vec<u8>, Error> {
        let file = file.clone();
        let pad = self.pad;
        blocking(move || {
            let local = |e| Error::local(file.temp_path(), e);
            if self.direct {
                buf.resize(pad + n.next_multiple_of(DIRECT_ALIGN), 0);
                let data = buf.get(pad..).unwrap_or_default();
                file.write_direct_at(data, at).map_err(local)?;
            } else {
                let data = buf.get(pad..pad + n).unwrap_or_default();
                file.write_at(data, at).map_err(local)?;
                file.start_writeback(at, n as u64);
            }
            buf.truncate(pad);
            Ok(buf)
        })
        .await
    }
}

/// Ranged GETs fetched ahead of the writer by [`download_to_writer`]: enough to keep the
/// gateway streaming while the writer (a decompressor, stdout) consumes one range (chosen: 4,
/// so 4 × the part size in memory, within the budget).
pub const READ_AHEAD_RANGES: usize = 4;

/// Streams `bucket`/`key` to `writer` in order (stdout, `tar pull`). The first GET's headers
/// give the size and ETag; an object longer than two parts is then read as ranged GETs pinned
/// to that ETag (`If-Match`), up to [`READ_AHEAD_RANGES`] in flight ahead of the writer, each
/// range held in memory (reserved from `budget`) until its turn. A broken body is resumed with
/// a ranged GET from the byte where it stopped. Returns the bytes written.
///
/// # Errors
/// S3, transport and integrity errors naming the object; write errors naming `-`.
pub async fn download_to_writer<W: AsyncWrite + Unpin>(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    mut writer: W,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let out = PathBuf::from("-");
    let mut first = client.get_object(bucket, key, None, None).await?;
    let len = first.meta.content_length;
    let part = opts.part_size.max(1);
    let ahead = READ_AHEAD_RANGES.min(client.limiter().ceiling()).max(1);
    let Some(etag) = first
        .meta
        .etag
        .clone()
        .filter(|_| len > 2 * part && ahead > 1)
    else {
        // Small, or no ETag to pin ranges to: one stream, resumed in place.
        return stream_in_order(client, bucket, key, first, len, &mut writer).await;
    };
    // The first part comes from the first answer; the rest as ranges fetched ahead.
    let mut written = 0u64;
    let mut broke = None;
    while written < part {
        match first.response.chunk().await {
            None => break,
            Some(Err(e)) => {
                broke = Some(e);
                break;
            }
            Some(Ok(chunk)) => {
                let keep = usize::try_from((part - written).min(chunk.len() as u64))
                    .unwrap_or(chunk.len());
                writer
                    .write_all(chunk.get(..keep).unwrap_or_default())
                    .await
                    .map_err(|e| Error::local(&out, e))?;
                written += keep as u64;
            }
        }
    }
    // The rest of the first answer is not read: its connection is closed, not pooled.
    drop(first);
    if written < part {
        if let Some(e) = broke.filter(|e| !e.is_retryable()) {
            return Err(e);
        }
        let rest = fetch_to_memory(client, bucket, key, &etag, written, part - written).await?;
        writer
            .write_all(&rest)
            .await
            .map_err(|e| Error::local(&out, e))?;
        written = part;
    }
    written += ranges_in_order(
        client,
        (bucket, key, &etag),
        (part, len - part),
        (part, ahead),
        &mut writer,
        budget,
    )
    .await?;
    writer.flush().await.map_err(|e| Error::local(&out, e))?;
    if written != len {
        return Err(Error::Integrity {
            what: format!(
                "s3://{}/{}: wrote {written} bytes of {len}",
                bucket.as_str(),
                key.as_str()
            ),
        });
    }
    Ok(written)
}

/// Streams `len` bytes from `offset` of `bucket`/`key`, pinned to `etag` (`If-Match`: an
/// object replaced since is an error, never a mix), to `writer` in order, with ranged GETs of
/// the part size read ahead as [`download_to_writer`] does (`tar pull --only`).
///
/// # Errors
/// S3, transport and integrity errors naming the object; write errors naming `-`.
#[allow(clippy::too_many_arguments)]
pub async fn download_range_to_writer<W: AsyncWrite + Unpin>(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    etag: &ETag,
    offset: u64,
    len: u64,
    mut writer: W,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let part = opts.part_size.max(1);
    let ahead = READ_AHEAD_RANGES.min(client.limiter().ceiling()).max(1);
    let written = ranges_in_order(
        client,
        (bucket, key, etag),
        (offset, len),
        (part, ahead),
        &mut writer,
        budget,
    )
    .await?;
    writer
        .flush()
        .await
        .map_err(|e| Error::local(Path::new("-"), e))?;
    Ok(written)
}

/// `len` bytes from `offset` of the object, as ranges of `part` bytes with up to `ahead` in
/// flight, each held in memory (reserved from `budget`) until written in its turn.
async fn ranges_in_order<W: AsyncWrite + Unpin>(
    client: &Client,
    (bucket, key, etag): (&BucketName, &ObjectKey, &ETag),
    (offset, len): (u64, u64),
    (part, ahead): (u64, usize),
    writer: &mut W,
    budget: &MemoryBudget,
) -> Result<u64, Error> {
    let out = PathBuf::from("-");
    let mut written = 0u64;
    let plan = PartPlan::ranges(len, part);
    let mut parts = plan.parts().peekable();
    let mut queue = std::collections::VecDeque::new();
    loop {
        while queue.len() < ahead
            && let Some(p) = parts.peek().copied()
        {
            // Waiting for memory is only safe with nothing queued: queued ranges hold
            // reservations that are released only as they are written.
            let mem = if queue.is_empty() {
                budget.reserve(p.len).await
            } else if let Some(m) = budget.try_reserve(p.len) {
                m
            } else {
                break;
            };
            parts.next();
            let (client, bucket, key, etag) =
                (client.clone(), bucket.clone(), key.clone(), etag.clone());
            queue.push_back(Aborting(tokio::spawn(async move {
                let data =
                    fetch_to_memory(&client, &bucket, &key, &etag, offset + p.offset, p.len).await;
                data.map(|d| (d, mem))
            })));
        }
        let Some(mut next) = queue.pop_front() else {
            break;
        };
        let (data, _mem) = tokio::select! {
            r = &mut next.0 => joined(r)??,
            () = crate::cancel::token().cancelled() => return Err(Error::Interrupted),
        };
        writer
            .write_all(&data)
            .await
            .map_err(|e| Error::local(&out, e))?;
        written += data.len() as u64;
    }
    Ok(written)
}

/// A task aborted when its handle is dropped: ranges still in flight when
/// [`download_to_writer`] returns (an error, Ctrl-C) stop.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `len` bytes at `offset` of the object with `etag`, in memory, resumed where a body broke.
async fn fetch_to_memory(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    etag: &ETag,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, Error> {
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut resumes = 0u32;
    while (data.len() as u64) < len {
        let from = offset + data.len() as u64;
        let range = ByteRange::new(from, offset + len - 1)
            .map_err(|e| Error::Usage(format!("range: {e}")))?;
        let mut resp = client
            .get_object(bucket, key, Some(range), Some(etag))
            .await?;
        let broke = loop {
            match resp.response.chunk().await {
                None => break None,
                Some(Err(e)) => break Some(e),
                Some(Ok(chunk)) => {
                    if (data.len() + chunk.len()) as u64 > len {
                        return Err(too_much(bucket, key, len));
                    }
                    data.extend_from_slice(&chunk);
                }
            }
        };
        if (data.len() as u64) == len {
            break;
        }
        resumes += 1;
        match broke {
            Some(e) if !e.is_retryable() || resumes > MAX_RESUMES => return Err(e),
            _ if resumes > MAX_RESUMES => {
                return Err(Error::Integrity {
                    what: format!(
                        "s3://{}/{}: body ended early {MAX_RESUMES} times",
                        bucket.as_str(),
                        key.as_str()
                    ),
                });
            }
            _ => tracing::warn!(
                key = key.as_str(),
                offset = from,
                "range broke off; resuming"
            ),
        }
    }
    Ok(data)
}

/// Writes the rest of `resp` (an object of `len` bytes) to `writer`, resuming a broken body
/// with ranged GETs pinned to its ETag (a body without an ETag cannot be resumed safely).
async fn stream_in_order<W: AsyncWrite + Unpin>(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    mut resp: crate::client::GetObject,
    len: u64,
    writer: &mut W,
) -> Result<u64, Error> {
    let out = PathBuf::from("-");
    let etag = resp.meta.etag.clone();
    let mut got = 0u64;
    let mut resumes = 0u32;
    loop {
        let broke = loop {
            match resp.response.chunk().await {
                None => break None,
                Some(Err(e)) => break Some(e),
                Some(Ok(chunk)) => {
                    if got + chunk.len() as u64 > len {
                        return Err(too_much(bucket, key, len));
                    }
                    writer
                        .write_all(&chunk)
                        .await
                        .map_err(|e| Error::local(&out, e))?;
                    got += chunk.len() as u64;
                }
            }
        };
        if got == len {
            break;
        }
        resumes += 1;
        let Some(etag) = etag.as_ref() else {
            return Err(broke.unwrap_or_else(|| short(bucket, key, got, len)));
        };
        match broke {
            Some(e) if !e.is_retryable() || resumes > MAX_RESUMES => return Err(e),
            None if resumes > MAX_RESUMES => return Err(short(bucket, key, got, len)),
            Some(e) => tracing::warn!(key = key.as_str(), got, "body broke off ({e}); resuming"),
            None => tracing::warn!(key = key.as_str(), got, "body ended early; resuming"),
        }
        let range =
            ByteRange::new(got, len - 1).map_err(|e| Error::Usage(format!("range: {e}")))?;
        resp = client
            .get_object(bucket, key, Some(range), Some(etag))
            .await?;
    }
    writer.flush().await.map_err(|e| Error::local(&out, e))?;
    Ok(got)
}

fn short(bucket: &BucketName, key: &ObjectKey, got: u64, len: u64) -> Error {
    Error::Integrity {
        what: format!(
            "s3://{}/{}: the body ended after {got} of {len} bytes",
            bucket.as_str(),
            key.as_str()
        ),
    }
}
