//! `sync --manifest`: after a sync with a local side, the manifest of that side written next
//! to the backup, under [`MANIFEST_DIR`] of the destination, keeping the newest N.
//!
//! The manifest is built from the local tree with the hash cache, so a nightly run reads only
//! the files that changed since the last one. Upload (directory → bucket): the directory's
//! manifest, uploaded as `PREFIX.haul/manifests/<UTC time>.manifest`. Download (bucket →
//! directory): the restored directory's manifest, written to
//! `DIR/.haul/manifests/<UTC time>.manifest`. Either way it describes the destination as the
//! sync left it (the same keys, sizes and contents), which `haul manifest verify` checks later.
//! The keys under `.haul/` are haul's own and never take part in a sync ([`super::Filter`]).
//!
//! With `--shard K/N` the manifest holds the shard's keys only, is named
//! `<UTC time>.shard-K-of-N.manifest`, records `K/N` in its header, and pruning keeps the
//! newest of that shard's own manifests (the shards of one sync share the directory);
//! `haul manifest merge` joins the N parts into the manifest of the whole.

use std::path::{Path, PathBuf};

use super::{Filter, Location};
use crate::client::{ListPager, PutOptions};
use crate::error::Error;
use crate::local::WalkOptions;
use crate::manifest::{self, HashCache, HashMode, Header, TreeOptions};
use crate::s3::{BucketName, ObjectKey};
use crate::transfer::{self, MemoryBudget, TransferOptions};

/// Where manifests go, relative to the sync's destination root.
pub const MANIFEST_DIR: &str = ".haul/manifests/";

/// File name suffix of the manifests written here.
const SUFFIX: &str = ".manifest";

/// What `sync --manifest` does.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    /// How many manifests to keep under [`MANIFEST_DIR`] (the newest; at least 1).
    pub keep: usize,
    /// Use the hash cache of the local tree.
    pub hash_cache: bool,
    /// Follow symlinks, as the sync did.
    pub follow_symlinks: bool,
    /// The run the manifest belongs to (`--run-id`), recorded in its header.
    pub run_id: Option<String>,
}

/// What it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenManifest {
    /// Where: a path or an `s3://` URL.
    pub location: String,
    /// Entries in it.
    pub entries: u64,
    /// Files read and hashed (the others came from the hash cache).
    pub hashed: u64,
    /// Older manifests removed.
    pub pruned: u64,
}

/// Refuses, before anything moves, a `--manifest` sync without a local side.
///
/// # Errors
/// [`Error::Usage`] for bucket-to-bucket syncs.
pub fn check_sides(src: &Location, dst: &Location) -> Result<(), Error> {
    match (src, dst) {
        (Location::Local(_), Location::S3 { .. }) | (Location::S3 { .. }, Location::Local(_)) => {
            Ok(())
        }
        _ => Err(Error::Usage(
            "sync --manifest needs a local directory on one side; for a bucket-to-bucket \
             sync run `haul manifest build s3://… -o …` after it"
                .to_owned(),
        )),
    }
}

/// What comes between the time and [`SUFFIX`] in a manifest's name: `.shard-K-of-N` for a
/// shard, nothing otherwise.
fn shard_infix(shard: Option<super::Shard>) -> String {
    shard.map_or_else(String::new, |s| {
        format!(".shard-{}-of-{}", s.index(), s.count())
    })
}

/// The name of a manifest written now: sortable UTC time to the millisecond, then the shard.
fn name_now(shard: Option<super::Shard>) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z{}{SUFFIX}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond(),
        shard_infix(shard)
    )
}

/// Builds the local side's manifest and stores it at the destination, then prunes old ones.
///
/// # Errors
/// Manifest errors (a file unreadable or changed while hashed), local IO and gateway errors.
pub async fn write_after_sync(
    src: &Location,
    dst: &Location,
    filter: &Filter,
    opts: &ManifestOptions,
    transfer_opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<WrittenManifest, Error> {
    check_sides(src, dst)?;
    let shard = filter.shard();
    let name = name_now(shard);
    match (src, dst) {
        (
            Location::Local(root),
            Location::S3 {
                client,
                bucket,
                prefix,
            },
        ) => {
            let temp =
                std::env::temp_dir().join(format!("haul-{:016x}{SUFFIX}", rand::random::<u64>()));
            let built = build(root, &temp, filter, opts).await;
            let result = async {
                let (entries, hashed) = built?;
                let key = format!("{prefix}{MANIFEST_DIR}{name}");
                let object = ObjectKey::new(key.clone())
                    .map_err(|e| Error::Usage(format!("manifest key {key:?}: {e}")))?;
                transfer::upload_file(
                    client,
                    &temp,
                    bucket,
                    &object,
                    transfer_opts,
                    &PutOptions::default(),
                    budget,
                )
                .await?;
                let pruned = prune_remote(client, bucket, prefix, shard, opts.keep).await?;
                Ok(WrittenManifest {
                    location: format!("s3://{}/{key}", bucket.as_str()),
                    entries,
                    hashed,
                    pruned,
                })
            }
            .await;
            let _ = fs_err::remove_file(&temp);
            result
        }
        (Location::S3 { .. }, Location::Local(root)) => {
            let dir = root.join(MANIFEST_DIR);
            let out = dir.join(&name);
            let (entries, hashed) = build(root, &out, filter, opts).await?;
            let keep = opts.keep;
            let pruned = transfer::blocking_task(move || prune_local(&dir, shard, keep)).await?;
            Ok(WrittenManifest {
                location: out.display().to_string(),
                entries,
                hashed,
                pruned,
            })
        }
        _ => unreachable!("checked by check_sides"),
    }
}

/// Hashes `root` (with its cache, leaving out what the filter excludes and `.haul/`) into a
/// manifest at `out`, on a blocking thread. Returns (entries, files read).
async fn build(
    root: &Path,
    out: &Path,
    filter: &Filter,
    opts: &ManifestOptions,
) -> Result<(u64, u64), Error> {
    let (root, out, filter, opts) = (
        root.to_path_buf(),
        out.to_path_buf(),
        filter.clone(),
        opts.clone(),
    );
    transfer::blocking_task(move || {
        if let Some(dir) = out.parent() {
            fs_err::create_dir_all(dir).map_err(|e| Error::local(dir, e))?;
        }
        let shard_name = filter
            .shard()
            .map(|s| format!("shard-{}-of-{}", s.index(), s.count()));
        let cache = opts
            .hash_cache
            .then(|| HashCache::for_root(&root))
            .flatten()
            .map(|c| match &shard_name {
                Some(part) => c.for_part(part),
                None => c,
            });
        let tree_opts = TreeOptions {
            mode: HashMode::Mmap,
            walk: WalkOptions {
                follow_symlinks: opts.follow_symlinks,
                ..WalkOptions::default()
            },
        };
        let shard = filter.shard().map(|s| s.to_string());
        let run = opts.run_id.clone();
        // Other shards' downloads in progress in the same directory are not part of the tree.
        let mut tree = manifest::hash_tree_cached(&root, tree_opts, cache.as_ref())
            .only(move |key| filter.includes(key) && !super::is_partial(key));
        let header = Header {
            shard,
            run,
            ..Header::new(root.display().to_string())
        };
        let summary = manifest::ops::write_manifest(&out, &header, tree.by_ref())?;
        Ok((summary.entries, tree.cache_stats().hashed))
    })
    .await
}

/// Removes all but the newest `keep` manifests of `shard` (or unsharded ones) in `dir`.
/// Returns how many went.
fn prune_local(dir: &Path, shard: Option<super::Shard>, keep: usize) -> Result<u64, Error> {
    let mut names: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(|e| Error::local(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| is_manifest_name(n, shard))
        })
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep.max(1));
    for p in &names[..excess] {
        fs_err::remove_file(p).map_err(|e| Error::local(p, e))?;
    }
    Ok(excess as u64)
}

/// A name this module wrote for `shard`: `YYYYMMDDTHHMMSS.mmmZ.manifest`, or
/// `YYYYMMDDTHHMMSS.mmmZ.shard-K-of-N.manifest`.
fn is_manifest_name(n: &str, shard: Option<super::Shard>) -> bool {
    n.strip_suffix(SUFFIX)
        .and_then(|t| t.strip_suffix(shard_infix(shard).as_str()))
        .is_some_and(|t| {
            t.len() == 20
                && t.bytes().enumerate().all(|(i, b)| match i {
                    8 => b == b'T',
                    15 => b == b'.',
                    19 => b == b'Z',
                    _ => b.is_ascii_digit(),
                })
        })
}

/// Removes all but the newest `keep` manifests of `shard` (or unsharded ones) under the
/// prefix's [`MANIFEST_DIR`].
async fn prune_remote(
    client: &crate::client::Client,
    bucket: &BucketName,
    prefix: &str,
    shard: Option<super::Shard>,
    keep: usize,
) -> Result<u64, Error> {
    let dir = format!("{prefix}{MANIFEST_DIR}");
    let mut pager = ListPager::new(client, bucket, &dir, Some("/"));
    let mut keys = Vec::new();
    while let Some(page) = pager.next_page().await? {
        keys.extend(page.objects.into_iter().map(|o| o.key).filter(|k| {
            k.as_str()
                .strip_prefix(&dir)
                .is_some_and(|n| is_manifest_name(n, shard))
        }));
    }
    keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let excess = keys.len().saturating_sub(keep.max(1));
    for key in &keys[..excess] {
        client.delete_object(bucket, key).await?;
    }
    Ok(excess as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_are_recognised() {
        let n = name_now(None);
        assert!(is_manifest_name(&n, None), "{n}");
        assert!(is_manifest_name("20261125T031500.123Z.manifest", None));
        assert!(!is_manifest_name(
            "20261125T031500.123Z.manifest.partial",
            None
        ));
        assert!(!is_manifest_name("notes.manifest", None));
        assert!(!is_manifest_name("20261125T0315001123Z.manifest", None));
        // A shard's names are its own: neither unsharded runs nor other shards take them.
        let shard = Some(crate::sync::Shard::new(3, 8).unwrap());
        let n = name_now(shard);
        assert!(n.ends_with("Z.shard-3-of-8.manifest"), "{n}");
        assert!(is_manifest_name(&n, shard));
        assert!(!is_manifest_name(&n, None));
        assert!(!is_manifest_name(
            &n,
            Some(crate::sync::Shard::new(3, 9).unwrap())
        ));
        assert!(!is_manifest_name("20261125T031500.123Z.manifest", shard));
    }

    #[test]
    fn prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for s in 10..15 {
            fs_err::write(
                dir.path().join(format!("20261125T0315{s}.000Z.manifest")),
                b"m",
            )
            .unwrap();
        }
        fs_err::write(dir.path().join("mine.txt"), b"x").unwrap();
        let other = "20261125T031500.000Z.shard-0-of-2.manifest";
        fs_err::write(dir.path().join(other), b"m").unwrap();
        assert_eq!(prune_local(dir.path(), None, 2).unwrap(), 3);
        let mut left: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                other,
                "20261125T031513.000Z.manifest",
                "20261125T031514.000Z.manifest",
                "mine.txt"
            ]
        );
    }
}
