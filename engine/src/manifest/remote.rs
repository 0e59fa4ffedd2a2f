//! The entries of a bucket (under a prefix), in key order: the listing is paged on a task,
//! objects are read with `GetObject` a window at a time, and their bytes are hashed as they
//! arrive — on a blocking thread for all but small objects, so the reactor never hashes
//! more than [`INLINE_HASH_MAX_BYTES`] at a time. No temporary files.
//!
//! With [`RemoteSource::trust_metadata`], an object's hash is taken from its
//! `x-amz-meta-blake3` (one `HeadObject`) instead of reading it; objects without it are read.
//! With [`RemoteSource::known`], an object whose key, size and ETag an earlier manifest of
//! the same objects records keeps the hash recorded there, unread (an incremental backup set
//! whose objects were copied server-side from the previous set's).

use std::collections::VecDeque;
use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Entry, ManifestError};
use crate::client::{Client, ListFanout, list_in_order};
use crate::error::Error;
use crate::s3::{BLAKE3_META, BucketName, ObjectEntry};

/// Objects up to this size are hashed on the task that reads them: hashing 64 KiB takes
/// tens of microseconds, less than handing the bytes to another thread (chosen, issue 5).
pub const INLINE_HASH_MAX_BYTES: u64 = 64 * 1024;

/// Chunks queued between a download and its blocking hasher: a few response chunks (each
/// at most a socket read, typically 16–64 KiB), enough to keep both sides busy (chosen).
pub const HASH_CHUNKS_IN_FLIGHT: usize = 8;

/// Listed objects waiting to be read: one listing page (chosen, as sync's listers).
pub const LIST_CHANNEL: usize = 1000;

/// A bucket and prefix to hash.
#[derive(Clone)]
pub struct RemoteSource {
    /// The gateway.
    pub client: Client,
    /// The bucket.
    pub bucket: BucketName,
    /// The prefix: empty, or ending in `/` (see [`RemoteSource::new`]).
    pub prefix: String,
    /// Take `x-amz-meta-blake3` from `HeadObject` instead of reading the object.
    pub trust_metadata: bool,
    /// Objects read at once (at least 1).
    pub concurrency: usize,
    /// An earlier manifest of these objects (keys relative to the same prefix): an object
    /// listed with the key, size and ETag of one of its entries takes that entry's hash
    /// without being read. The whole file is checked (checksum, count, order) before any of
    /// it is used; a damaged one is not used at all (a warning) and every object is read.
    pub known: Option<PathBuf>,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("trust_metadata", &self.trust_metadata)
            .field("concurrency", &self.concurrency)
            .field("known", &self.known)
            .finish_non_exhaustive()
    }
}

impl RemoteSource {
    /// `s3://bucket/prefix`; a non-empty prefix gets a trailing `/`, so keys in the manifest
    /// are relative to a "directory", as a local build's are to its root.
    #[must_use]
    pub fn new(client: Client, bucket: BucketName, prefix: &str, concurrency: usize) -> Self {
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        RemoteSource {
            client,
            bucket,
            prefix,
            trust_metadata: false,
            concurrency: concurrency.max(1),
            known: None,
        }
    }

    /// `s3://bucket/prefix` for headers and messages.
    #[must_use]
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket.as_str(), self.prefix)
    }
}

/// Sends the entries of `src` to `tx` in key order. Stops at the first error (which is sent)
/// or when the receiver is dropped.
pub async fn stream(src: RemoteSource, tx: mpsc::Sender<Result<Entry, ManifestError>>) {
    let (list_tx, mut list_rx) = mpsc::channel::<Result<ObjectEntry, Error>>(LIST_CHANNEL);
    let lister = {
        let src = src.clone();
        tokio::spawn(async move {
            // By several streams over the bucket's prefixes, merged back into key order.
            let mut pages =
                list_in_order(&src.client, &src.bucket, &src.prefix, ListFanout::default());
            while let Some(page) = pages.recv().await {
                match page {
                    Ok(objects) => {
                        for obj in objects {
                            if list_tx.send(Ok(obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = list_tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        })
    };
    let mut known = src.known.clone().map(Known::open);
    let mut pending: VecDeque<JoinHandle<Result<Entry, ManifestError>>> = VecDeque::new();
    let mut listed_all = false;
    loop {
        while !listed_all && pending.len() < src.concurrency {
            match list_rx.recv().await {
                Some(Ok(obj)) => {
                    let Some(rel) = obj.key.as_str().strip_prefix(src.prefix.as_str()) else {
                        continue;
                    };
                    // Directory markers (`dir/`, empty) made by other tools hold no file.
                    if rel.is_empty()
                        || rel.ends_with('/')
                        || rel.starts_with(super::RESERVED_PREFIX)
                    {
                        continue;
                    }
                    let rel = rel.to_owned();
                    if let Some(entry) = match &mut known {
                        Some(k) => k.lookup(&rel, &obj).await,
                        None => None,
                    } {
                        pending.push_back(tokio::spawn(async move { Ok(entry) }));
                        continue;
                    }
                    let src = src.clone();
                    pending.push_back(tokio::spawn(
                        async move { hash_object(&src, obj, rel).await },
                    ));
                }
                Some(Err(e)) => {
                    pending.push_back(tokio::spawn(async move { Err(ManifestError::from(e)) }));
                    listed_all = true;
                }
                None => listed_all = true,
            }
        }
        let Some(next) = pending.pop_front() else {
            break;
        };
        let result = next
            .await
            .unwrap_or(Err(ManifestError::Worker("object hash task")));
        let failed = result.is_err();
        if tx.send(result).await.is_err() || failed {
            break;
        }
    }
    for task in pending {
        task.abort();
    }
    lister.abort();
}

/// The entries of a [`RemoteSource::known`] manifest, read on a blocking thread and looked
/// up in key order as the listing advances (a merge: constant memory).
struct Known {
    rx: mpsc::Receiver<Entry>,
    head: Option<Entry>,
    /// Entries whose hash was taken.
    taken: u64,
}

impl Known {
    fn open(path: PathBuf) -> Self {
        let (tx, rx) = mpsc::channel(LIST_CHANNEL);
        tokio::task::spawn_blocking(move || {
            // First the whole file is checked: entries are trusted only from a sound one.
            let checked = super::Reader::open(&path).and_then(|r| {
                for e in r {
                    e?;
                }
                Ok(())
            });
            if let Err(e) = checked {
                tracing::warn!("{e}: not used; every object is read");
                return;
            }
            let Ok(reader) = super::Reader::open(&path) else {
                return;
            };
            for entry in reader {
                let Ok(entry) = entry else { return };
                if tx.blocking_send(entry).is_err() {
                    return;
                }
            }
        });
        Known {
            rx,
            head: None,
            taken: 0,
        }
    }

    /// The entry for `rel`, listed as `obj`, if the known manifest has one of the same size
    /// and ETag. Keys must be asked for in increasing order.
    async fn lookup(&mut self, rel: &str, obj: &ObjectEntry) -> Option<Entry> {
        loop {
            if self.head.is_none() {
                self.head = Some(self.rx.recv().await?);
            }
            let head = self.head.as_ref()?;
            match head.key.as_bytes().cmp(rel.as_bytes()) {
                std::cmp::Ordering::Less => self.head = None,
                std::cmp::Ordering::Greater => return None,
                std::cmp::Ordering::Equal => break,
            }
        }
        let head = self.head.take()?;
        let etag = obj.etag.as_ref().map(|t| t.unquoted().to_owned());
        if head.size != obj.size || etag.is_none() || head.etag != etag {
            return None;
        }
        self.taken += 1;
        Some(Entry {
            key: head.key,
            size: obj.size,
            mtime_ns: i64::try_from(obj.last_modified.unix_timestamp_nanos()).unwrap_or(i64::MAX),
            mode: None,
            hash: head.hash,
            etag,
        })
    }
}

impl Drop for Known {
    fn drop(&mut self) {
        tracing::debug!(taken = self.taken, "hashes taken from the known manifest");
    }
}

/// The entry of one listed object.
async fn hash_object(
    src: &RemoteSource,
    obj: ObjectEntry,
    rel: String,
) -> Result<Entry, ManifestError> {
    let mtime_ns = i64::try_from(obj.last_modified.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    let etag = obj.etag.as_ref().map(|t| t.unquoted().to_owned());
    if src.trust_metadata {
        let meta = src.client.head_object(&src.bucket, &obj.key).await?;
        if let Some(hash) = meta
            .metadata
            .get(BLAKE3_META)
            .and_then(|h| blake3::Hash::from_hex(h.trim()).ok())
        {
            return Ok(Entry {
                key: rel,
                size: meta.content_length,
                mtime_ns,
                mode: None,
                hash,
                etag,
            });
        }
        tracing::debug!(
            key = obj.key.as_str(),
            "no x-amz-meta-blake3; reading the object"
        );
    }
    let mut get = src
        .client
        .get_object(&src.bucket, &obj.key, None, None)
        .await?;
    let size = get.meta.content_length;
    let mut received = 0u64;
    let hash = if size <= INLINE_HASH_MAX_BYTES {
        let mut hasher = blake3::Hasher::new();
        while let Some(chunk) = get.response.chunk().await {
            let chunk = chunk?;
            received += chunk.len() as u64;
            if received > INLINE_HASH_MAX_BYTES {
                break;
            }
            hasher.update(&chunk);
        }
        hasher.finalize()
    } else {
        let (chunk_tx, mut chunk_rx) = mpsc::channel::<Bytes>(HASH_CHUNKS_IN_FLIGHT);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hasher = blake3::Hasher::new();
            while let Some(chunk) = chunk_rx.blocking_recv() {
                // `update_rayon` pays off only on large inputs (BLAKE3 docs: 128 KiB).
                if chunk.len() >= 128 * 1024 {
                    hasher.update_rayon(&chunk);
                } else {
                    hasher.update(&chunk);
                }
            }
            hasher.finalize()
        });
        while let Some(chunk) = get.response.chunk().await {
            let chunk = chunk?;
            received += chunk.len() as u64;
            if chunk_tx.send(chunk).await.is_err() {
                break;
            }
        }
        drop(chunk_tx);
        hasher
            .await
            .map_err(|_| ManifestError::Worker("object hasher"))?
    };
    if received != size {
        return Err(ManifestError::from(Error::Integrity {
            what: format!(
                "s3://{}/{}: GetObject sent {received} bytes of {size}",
                src.bucket.as_str(),
                obj.key.as_str()
            ),
        }));
    }
    Ok(Entry {
        key: rel,
        size,
        mtime_ns,
        mode: None,
        hash,
        etag,
    })
}
