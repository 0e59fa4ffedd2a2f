//! Whole trees: a directory to a prefix and a prefix to a directory, object by object, many at
//! once. (`haul sync` will compare both sides first; these copy everything.)

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::upload::{blocking, joined};
use super::{MemoryBudget, TransferOptions, download_file, upload_file};
use crate::client::{Client, ListPager, PutOptions};
use crate::error::Error;
use crate::local::{SafeRelPath, walk_sorted};
use crate::progress::{Event, Progress};
use crate::s3::{BucketName, ObjectKey};

/// What a tree copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeReport {
    /// Objects or files copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects or files that failed, with the error.
    pub failed: Vec<(String, String)>,
}

/// Uploads every regular file under `root` to `bucket`/`prefix` + relative path, up to
/// `parallel` files at once (each also bounded by the client's request limit and the memory
/// budget). A failing file is reported and the others go on.
///
/// # Errors
/// Only when the directory cannot be walked; per-file failures are in the report.
#[allow(
    clippy::too_many_arguments,
    reason = "each is a distinct input of the copy"
)]
pub async fn upload_tree(
    client: &Client,
    root: &Path,
    bucket: &BucketName,
    prefix: &str,
    opts: &TransferOptions,
    budget: &MemoryBudget,
    parallel: usize,
    progress: &Progress,
) -> Result<TreeReport, Error> {
    let root_owned = root.to_path_buf();
    let entries = super::upload::blocking(move || {
        walk_sorted(&root_owned).map_err(|e| match e {
            crate::local::WalkError::Io(io) => Error::local(&root_owned, io),
        })
    })
    .await?;
    progress.emit(Event::Planned {
        objects: entries.len() as u64,
        bytes: entries.iter().map(|e| e.size).sum(),
    });
    let mut report = TreeReport::default();
    let mut tasks = JoinSet::new();
    let put = Arc::new(PutOptions::default());
    for entry in entries {
        while tasks.len() >= parallel.max(1) {
            if let Some(res) = tasks.join_next().await {
                record(&mut report, joined(res)?, progress);
            }
        }
        let key_str = format!("{prefix}{}", entry.key);
        let key = match ObjectKey::new(key_str.clone()) {
            Ok(k) => k,
            Err(e) => {
                refused(&mut report, key_str, e.to_string(), progress);
                continue;
            }
        };
        let (client, bucket, opts, budget, put) = (
            client.clone(),
            bucket.clone(),
            opts.clone(),
            budget.clone(),
            put.clone(),
        );
        progress.emit(Event::TransferStarted {
            name: entry.key.clone(),
            bytes: Some(entry.size),
        });
        tasks.spawn(async move {
            let started = Instant::now();
            let res = upload_file(&client, &entry.path, &bucket, &key, &opts, &put, &budget).await;
            (entry.key, res, started)
        });
    }
    while let Some(res) = tasks.join_next().await {
        record(&mut report, joined(res)?, progress);
    }
    Ok(report)
}

/// Downloads every object under `bucket`/`prefix` into `dest`, the key minus the prefix being
/// the relative path. Keys that cannot be a path under `dest` (`..`, absolute, control
/// characters, …) are refused and reported; nothing is written for them. Zero-byte keys ending
/// in `/` (folder markers) are skipped.
///
/// Small files are not synced one by one: the filesystem is synced once at the end.
///
/// # Errors
/// When the listing fails or the final sync of `dest`'s filesystem does; per-object failures
/// are in the report.
#[allow(
    clippy::too_many_arguments,
    reason = "each is a distinct input of the copy"
)]
pub async fn download_tree(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    dest: &Path,
    opts: &TransferOptions,
    budget: &MemoryBudget,
    parallel: usize,
    progress: &Progress,
) -> Result<TreeReport, Error> {
    let opts = &TransferOptions {
        defer_fsync: true,
        beneath: Some(std::sync::Arc::from(dest)),
        ..opts.clone()
    };
    let mut report = TreeReport::default();
    let mut tasks = JoinSet::new();
    let mut pager = ListPager::new(client, bucket, prefix, None);
    while let Some(page) = pager.next_page().await? {
        for obj in page.objects {
            let key = obj.key.as_str();
            let rel = key.strip_prefix(prefix).unwrap_or(key);
            if rel.ends_with('/') && obj.size == 0 {
                continue;
            }
            let rel = match SafeRelPath::from_key(rel) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("{e}");
                    refused(&mut report, key.to_owned(), e.to_string(), progress);
                    continue;
                }
            };
            while tasks.len() >= parallel.max(1) {
                if let Some(res) = tasks.join_next().await {
                    record(&mut report, joined(res)?, progress);
                }
            }
            let path = rel.under(dest);
            let (client, bucket, opts, budget) =
                (client.clone(), bucket.clone(), opts.clone(), budget.clone());
            progress.emit(Event::TransferStarted {
                name: key.to_owned(),
                bytes: Some(obj.size),
            });
            let (key, size) = (obj.key, obj.size);
            tasks.spawn(async move {
                let started = Instant::now();
                let res =
                    download_file(&client, &bucket, &key, &path, Some(size), &opts, &budget).await;
                (key.into_string(), res, started)
            });
        }
    }
    while let Some(res) = tasks.join_next().await {
        record(&mut report, joined(res)?, progress);
    }
    if report.copied > 0 {
        flush_filesystem(dest).await?;
    }
    Ok(report)
}

/// Syncs the filesystem holding `root` on a blocking thread: what [`TransferOptions::defer_fsync`]
/// downloads need before a run reports success.
///
/// # Errors
/// The IO error of `syncfs`, naming `root`.
pub async fn flush_filesystem(root: &Path) -> Result<(), Error> {
    let root = root.to_path_buf();
    blocking(move || crate::local::sync_filesystem(&root).map_err(|e| Error::local(&root, e))).await
}

fn record(
    report: &mut TreeReport,
    (name, res, started): (String, Result<u64, Error>, Instant),
    progress: &Progress,
) {
    match res {
        Ok(bytes) => {
            report.copied += 1;
            report.bytes += bytes;
            progress.emit(Event::TransferDone {
                name,
                bytes,
                elapsed: started.elapsed(),
            });
        }
        Err(e) => {
            progress.emit(Event::TransferFailed {
                name: name.clone(),
                error: e.to_string(),
            });
            report.failed.push((name, e.to_string()));
        }
    }
}

/// An entry refused before its transfer started.
fn refused(report: &mut TreeReport, name: String, error: String, progress: &Progress) {
    progress.emit(Event::TransferFailed {
        name: name.clone(),
        error: error.clone(),
    });
    report.failed.push((name, error));
}
