//! `haul rm --recursive`: deleting every object under a prefix, as a stream.
//!
//! The prefix is listed in key order (by the same fan-out as `sync`), each key relative to the
//! prefix goes through the `--exclude`/`--include` rules (haul's own `.haul/` is not spared:
//! removing a prefix removes its manifests too), and the keys kept are gathered into
//! batches of 1,000, one `DeleteObjects` each, a few batches in flight at once under the
//! client's request limit. Nothing holds the listing: memory is the batches in flight. A
//! cancelled run sends no new batch, waits for those in flight and ends with
//! [`Error::Interrupted`]; a batch whose request failed (after the client's retries) stops the
//! run the same way, with its error.

use tokio::task::JoinSet;

use super::Filter;
use crate::client::{Client, ListFanout, list_in_order};
use crate::error::Error;
use crate::s3::{BucketName, DeleteFailure, MAX_DELETE_KEYS, ObjectKey};

/// Batches of keys in flight at once. Chosen: 4. A `DeleteObjects` of 1,000 keys is 1,000
/// index updates on the gateway (a second or two on a loopback RGW), so a few keep it busy
/// while the listing runs ahead; the client's limit still caps the requests.
pub const DELETE_BATCHES_IN_FLIGHT: usize = 4;

/// How a removal runs.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// Keys (relative to the prefix) that take part.
    pub filter: Filter,
    /// List and report what would be deleted; delete nothing.
    pub dry_run: bool,
    /// Listing streams.
    pub list_fanout: ListFanout,
    /// Batches of up to 1,000 keys in flight at once (at least 1).
    pub batches_in_flight: usize,
}

/// What a removal did, also when it stopped early.
#[derive(Debug, Default)]
pub struct RemoveReport {
    /// Objects deleted (in a dry run: that would be).
    pub deleted: u64,
    /// Their listed bytes.
    pub bytes: u64,
    /// Objects the filters left alone.
    pub filtered: u64,
    /// Keys the gateway refused to delete, with its reason.
    pub failed: Vec<(String, String)>,
    /// Why the removal stopped before the end of the listing: the listing or a batch's
    /// request failed, the listing broke the rules (a key outside the prefix, keys out of
    /// order), or the run was cancelled. What was done before is counted above.
    pub stopped: Option<Error>,
}

/// Hears of each object deleted: its whole key and listed size.
pub type OnDeleted<'a> = &'a mut (dyn FnMut(&str, u64) + Send);

/// One batch: the keys with their listed sizes, and what the gateway answered.
type BatchResult = (Vec<(ObjectKey, u64)>, Result<Vec<DeleteFailure>, Error>);

/// Deletes every object under `prefix` (empty: the whole bucket; otherwise ending in `/`) that
/// the filter keeps. `deleted` hears of each object once its batch is answered (in a dry
/// run, as it is listed). A key the listing returns outside `prefix` stops the run.
///
/// The listing failing, a batch's request failing, or the run being cancelled stop it
/// ([`RemoveReport::stopped`]): batches already sent are waited for (and reported through
/// `deleted`) first.
pub async fn remove_prefix(
    client: &Client,
    bucket: &BucketName,
    prefix: &str,
    opts: &RemoveOptions,
    deleted: OnDeleted<'_>,
) -> RemoveReport {
    let mut report = RemoveReport::default();
    let mut pages = list_in_order(client, bucket, prefix, opts.list_fanout);
    let mut batches = Batches {
        client,
        bucket,
        in_flight: opts.batches_in_flight.max(1),
        batch: Vec::with_capacity(MAX_DELETE_KEYS),
        tasks: JoinSet::new(),
    };
    let mut stopped: Option<Error> = None;
    let mut last: Option<ObjectKey> = None;
    let cancel = crate::cancel::token();
    'listing: loop {
        let page = tokio::select! {
            page = pages.recv() => Some(page),
            () = cancel.cancelled() => None,
        };
        let Some(page) = page else {
            stopped = Some(Error::Interrupted);
            break;
        };
        let Some(page) = page else { break };
        let objects = match page {
            Ok(objects) => objects,
            Err(e) => {
                stopped = Some(e);
                break;
            }
        };
        for o in objects {
            // A gateway that answers with keys outside the prefix is not obeyed: nothing
            // outside what the user named is ever deleted.
            let Some(rel) = o.key.as_str().strip_prefix(prefix) else {
                stopped = Some(Error::Integrity {
                    what: format!(
                        "listing s3://{}/{prefix}: the gateway returned {:?}, outside the \
                         prefix; nothing outside it is deleted",
                        bucket.as_str(),
                        o.key.as_str()
                    ),
                });
                break 'listing;
            };
            // Strictly increasing keys: a gateway repeating a key would have it sent twice.
            if let Some(prev) = &last
                && prev.as_str().as_bytes() >= o.key.as_str().as_bytes()
            {
                stopped = Some(Error::Integrity {
                    what: format!(
                        "listing s3://{}/{prefix}: keys out of order ({:?} then {:?})",
                        bucket.as_str(),
                        prev.as_str(),
                        o.key.as_str()
                    ),
                });
                break 'listing;
            }
            last = Some(o.key.clone());
            // The rules alone: haul's own `.haul/` under the prefix goes too.
            if !opts.filter.admits(rel) {
                report.filtered += 1;
                continue;
            }
            if opts.dry_run {
                report.deleted += 1;
                report.bytes += o.size;
                deleted(o.key.as_str(), o.size);
                continue;
            }
            batches.batch.push((o.key, o.size));
            if batches.batch.len() == MAX_DELETE_KEYS
                && let Err(e) = batches.send(&mut report, deleted).await
            {
                stopped = Some(e);
                break 'listing;
            }
        }
    }
    if stopped.is_none()
        && !batches.batch.is_empty()
        && let Err(e) = batches.send(&mut report, deleted).await
    {
        stopped = Some(e);
    }
    while let Some(joined) = batches.tasks.join_next().await {
        if let Err(e) = record(joined, &mut report, deleted) {
            stopped.get_or_insert(e);
        }
    }
    report.stopped = stopped;
    report
}

/// The batch being filled and those in flight.
struct Batches<'a> {
    client: &'a Client,
    bucket: &'a BucketName,
    /// Most batches in flight at once (at least 1).
    in_flight: usize,
    batch: Vec<(ObjectKey, u64)>,
    tasks: JoinSet<BatchResult>,
}

impl Batches<'_> {
    /// Sends the batch as one `DeleteObjects` once fewer than the allowed batches are in
    /// flight, recording those that end meanwhile. Errors: a batch that failed, or
    /// cancellation (the batch is then not sent).
    async fn send(
        &mut self,
        report: &mut RemoveReport,
        deleted: OnDeleted<'_>,
    ) -> Result<(), Error> {
        while self.tasks.len() >= self.in_flight {
            let joined = tokio::select! {
                joined = self.tasks.join_next() => joined,
                () = crate::cancel::token().cancelled() => return Err(Error::Interrupted),
            };
            if let Some(joined) = joined {
                record(joined, report, deleted)?;
            }
        }
        if crate::cancel::is_cancelled() {
            return Err(Error::Interrupted);
        }
        let items = std::mem::replace(&mut self.batch, Vec::with_capacity(MAX_DELETE_KEYS));
        let (client, bucket) = (self.client.clone(), self.bucket.clone());
        self.tasks.spawn(async move {
            let keys: Vec<ObjectKey> = items.iter().map(|(k, _)| k.clone()).collect();
            let res = client.delete_objects(&bucket, &keys).await;
            (items, res)
        });
        Ok(())
    }
}

/// Counts one answered batch: every key not among the gateway's failures was deleted.
fn record(
    joined: Result<BatchResult, tokio::task::JoinError>,
    report: &mut RemoveReport,
    deleted: OnDeleted<'_>,
) -> Result<(), Error> {
    let (items, res) = joined.map_err(|e| Error::Integrity {
        what: format!("a delete task ended abnormally ({e})"),
    })?;
    let failures = res?;
    let mut refused: std::collections::HashMap<&str, String> = failures
        .iter()
        .map(|f| {
            let why = match &f.message {
                Some(m) => format!("{}: {m}", f.code),
                None => f.code.to_string(),
            };
            (f.key.as_str(), why)
        })
        .collect();
    for (key, size) in &items {
        if let Some(why) = refused.remove(key.as_str()) {
            report.failed.push((key.as_str().to_owned(), why));
        } else {
            report.deleted += 1;
            report.bytes += size;
            deleted(key.as_str(), *size);
        }
    }
    // A refusal naming a key that was not sent is not silently dropped.
    for (key, why) in refused {
        report.failed.push((
            key.to_owned(),
            format!("{why} (a key this batch did not send)"),
        ));
    }
    Ok(())
}
