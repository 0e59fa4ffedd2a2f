//! Where backup sets live: a local directory, or a prefix of a bucket on a gateway (the
//! plan's `destination`). Both hold the same layout, `sets/<ID>/…` (`docs/backup.md`).

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::client::{Client, ListPager, PutOptions};
use crate::error::{Error, ErrorKind};
use crate::s3::{BucketName, ObjectKey};
use crate::transfer::{self, MemoryBudget, TransferOptions};

/// Keys removed per `DeleteObjects` request (the S3 maximum).
const DELETE_BATCH: usize = 1000;

/// A prefix of a bucket: a "directory" on a gateway.
#[derive(Clone)]
pub struct S3Dir {
    /// The gateway.
    pub client: Client,
    /// The bucket.
    pub bucket: BucketName,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl std::fmt::Debug for S3Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

impl S3Dir {
    /// `prefix` under `bucket`, with a trailing `/` added when missing.
    #[must_use]
    pub fn new(client: Client, bucket: BucketName, prefix: &str) -> Self {
        let mut prefix = prefix.trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self {
            client,
            bucket,
            prefix,
        }
    }

    /// `s3://bucket/prefix`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket.as_str(), self.prefix)
    }

    /// The "subdirectory" `rel` (no leading or trailing `/`).
    #[must_use]
    pub fn join(&self, rel: &str) -> Self {
        Self::new(
            self.client.clone(),
            self.bucket.clone(),
            &format!("{}{rel}", self.prefix),
        )
    }

    /// The key of `rel` under the prefix.
    ///
    /// # Errors
    /// A key S3 cannot hold (too long).
    pub fn key(&self, rel: &str) -> Result<ObjectKey, Error> {
        let key = format!("{}{rel}", self.prefix);
        ObjectKey::new(&key)
            .map_err(|e| Error::Usage(format!("s3://{}/{key}: {e}", self.bucket.as_str())))
    }

    /// The object `rel`, whole, when it exists and holds at most `max` bytes.
    ///
    /// # Errors
    /// Gateway errors other than "not found"; an object larger than `max`.
    pub async fn get_small(&self, rel: &str, max: u64) -> Result<Option<Bytes>, Error> {
        let key = self.key(rel)?;
        let got = match self.client.get_object(&self.bucket, &key, None, None).await {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if got.meta.content_length > max {
            return Err(Error::Integrity {
                what: format!(
                    "s3://{}/{}: {} bytes, more than the {max} it may hold",
                    self.bucket.as_str(),
                    key.as_str(),
                    got.meta.content_length
                ),
            });
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        Ok(Some(got.response.bytes(max).await?))
    }

    /// Writes `body` as the object `rel`.
    ///
    /// # Errors
    /// Gateway errors.
    pub async fn put(&self, rel: &str, body: Bytes) -> Result<(), Error> {
        let key = self.key(rel)?;
        self.client
            .put_object(&self.bucket, &key, body, &PutOptions::default())
            .await
            .map(drop)
    }

    /// Uploads the file `path` as the object `rel`.
    ///
    /// # Errors
    /// Local read errors, gateway errors.
    pub async fn upload(
        &self,
        rel: &str,
        path: &Path,
        opts: &TransferOptions,
        budget: &MemoryBudget,
    ) -> Result<u64, Error> {
        let key = self.key(rel)?;
        transfer::upload_file(
            &self.client,
            path,
            &self.bucket,
            &key,
            opts,
            &PutOptions::default(),
            budget,
        )
        .await
    }

    /// Downloads the object `rel` into a new temporary file (removed when the returned path
    /// is dropped): manifests and indexes grow with the number of entries, so they are not
    /// held in memory.
    ///
    /// # Errors
    /// Gateway errors (`NotFound` for a missing object); the temporary file.
    pub async fn fetch(
        &self,
        rel: &str,
        opts: &TransferOptions,
        budget: &MemoryBudget,
    ) -> Result<tempfile::TempPath, Error> {
        let key = self.key(rel)?;
        let temp_err = |source| Error::Local {
            path: std::env::temp_dir(),
            source,
        };
        let temp = tempfile::NamedTempFile::new().map_err(temp_err)?;
        let (file, path) = temp.into_parts();
        let mut out = tokio::fs::File::from_std(file);
        transfer::download_to_writer(&self.client, &self.bucket, &key, &mut out, opts, budget)
            .await?;
        tokio::io::AsyncWriteExt::flush(&mut out)
            .await
            .map_err(temp_err)?;
        Ok(path)
    }

    /// The names of the "subdirectories" directly under the prefix (a delimiter listing).
    ///
    /// # Errors
    /// Gateway errors.
    pub async fn list_dirs(&self) -> Result<Vec<String>, Error> {
        let mut pager = ListPager::new(&self.client, &self.bucket, &self.prefix, Some("/"));
        let mut out = Vec::new();
        while let Some(page) = pager.next_page().await? {
            for p in page.common_prefixes {
                if let Some(name) = p
                    .strip_prefix(&self.prefix)
                    .and_then(|n| n.strip_suffix('/'))
                {
                    out.push(name.to_owned());
                }
            }
        }
        Ok(out)
    }

    /// Whether any object lies under the prefix.
    ///
    /// # Errors
    /// Gateway errors.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        let mut pager = ListPager::new(&self.client, &self.bucket, &self.prefix, None);
        Ok(pager
            .next_page()
            .await?
            .is_none_or(|p| p.objects.is_empty()))
    }

    /// Removes every object under the prefix, a page at a time; the number removed.
    ///
    /// # Errors
    /// Gateway errors, or objects the gateway did not delete (named).
    pub async fn remove_all(&self) -> Result<u64, Error> {
        let mut removed = 0;
        loop {
            // Listed again after each batch: deleting while paging would skip keys on
            // gateways whose cursors are positional.
            let mut pager = ListPager::new(&self.client, &self.bucket, &self.prefix, None);
            let Some(page) = pager.next_page().await? else {
                return Ok(removed);
            };
            if page.objects.is_empty() {
                return Ok(removed);
            }
            for batch in page.objects.chunks(DELETE_BATCH) {
                let keys: Vec<ObjectKey> = batch.iter().map(|o| o.key.clone()).collect();
                let failed = self.client.delete_objects(&self.bucket, &keys).await?;
                if let Some(f) = failed.first() {
                    return Err(Error::Integrity {
                        what: format!(
                            "removing {}: {} objects not deleted, first {f:?}",
                            self.url(),
                            failed.len()
                        ),
                    });
                }
                removed += keys.len() as u64;
            }
        }
    }
}

/// Where the sets of a destination live.
#[derive(Debug, Clone)]
pub enum Store {
    /// A local directory (`DEST/sets/ID`).
    Local(PathBuf),
    /// A prefix of a bucket (`s3://BUCKET/PREFIX/sets/ID/`).
    S3(S3Dir),
}

/// Where one set lives.
#[derive(Debug, Clone)]
pub enum SetAt {
    /// Its directory.
    Local(PathBuf),
    /// Its prefix (ending in `/`).
    S3(S3Dir),
}

impl SetAt {
    /// The directory or `s3://bucket/prefix/` for messages.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::Local(p) => p.display().to_string(),
            Self::S3(d) => d.url(),
        }
    }
}

impl Store {
    /// The set named `id`.
    #[must_use]
    pub fn set(&self, id: &str) -> SetAt {
        match self {
            Self::Local(dest) => SetAt::Local(dest.join("sets").join(id)),
            Self::S3(dir) => SetAt::S3(dir.join(&format!("sets/{id}"))),
        }
    }

    /// The destination for messages.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::Local(p) => p.display().to_string(),
            Self::S3(d) => d.url(),
        }
    }

    /// The sets, oldest first, each with its `set.json` when it has a readable one.
    ///
    /// # Errors
    /// The destination cannot be listed (a missing local one is no sets).
    pub async fn list_sets(&self) -> Result<Vec<(String, Option<serde_json::Value>)>, Error> {
        match self {
            Self::Local(dest) => super::run::list_sets(dest),
            Self::S3(dir) => {
                let sets = dir.join("sets");
                let mut names = sets.list_dirs().await?;
                names.sort();
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    let json = sets
                        .join(&name)
                        .get_small("set.json", super::set::MAX_SET_JSON_BYTES)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    out.push((name, json));
                }
                Ok(out)
            }
        }
    }

    /// Removes the set `id`, whole: `set.json` first, so a removal cut short leaves a set
    /// `ls` shows as incomplete, never one that looks complete with parts missing.
    ///
    /// # Errors
    /// Local or gateway errors.
    pub async fn remove_set(&self, id: &str) -> Result<(), Error> {
        match self.set(id) {
            SetAt::Local(path) => {
                let local = |p: &Path| {
                    let p = p.to_path_buf();
                    move |source| Error::Local { path: p, source }
                };
                let json = path.join("set.json");
                match fs_err::remove_file(&json) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(local(&json)(e));
                    }
                    _ => {}
                }
                fs_err::remove_dir_all(&path).map_err(local(&path))
            }
            SetAt::S3(dir) => {
                let key = dir.key("set.json")?;
                dir.client.delete_object(&dir.bucket, &key).await?;
                dir.remove_all().await.map(drop)
            }
        }
    }
}
