//! `haul manifest build|show|diff|verify`: BLAKE3 content manifests (engine::manifest does
//! the hashing, the format and the diff; this prints).

use anyhow::{Result, anyhow};
use engine::manifest::{
    Change, DiffSummary, Entry, HashMode, ManifestError, Reader, RemoteSource, TreeOptions,
};
use serde_json::json;

use super::{Location, client, parse_location};
use crate::args::{GlobalArgs, ManifestCommand};
use crate::output::{Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, m: ManifestCommand) -> Result<()> {
    match m {
        ManifestCommand::Build {
            source,
            output,
            trust_metadata,
            no_mmap,
            no_hash_cache,
        } => {
            // `-o s3://bucket/key`: built into a temporary file, uploaded once complete.
            let upload_to = match parse_location(&output)? {
                Location::S3 { bucket, key } if !key.is_empty() && !key.ends_with('/') => {
                    Some((bucket, key))
                }
                Location::S3 { .. } | Location::Stdio => {
                    return Err(engine::Error::Usage(format!(
                        "-o {output:?}: expected a file or s3://BUCKET/KEY"
                    ))
                    .into());
                }
                Location::Local(_) => None,
            };
            let temp = upload_to.as_ref().map(|_| TempManifest::new());
            let output_path = temp
                .as_ref()
                .map_or_else(|| std::path::PathBuf::from(&output), |t| t.0.clone());
            let summary = match target(g, &source)? {
                Target::Local(dir) => {
                    let opts = tree_options(no_mmap);
                    let out = output_path.clone();
                    let cache = (!no_hash_cache)
                        .then(|| engine::manifest::HashCache::for_root(&dir))
                        .flatten();
                    tokio::task::spawn_blocking(move || {
                        engine::manifest::build_local(&dir, &out, opts, cache.as_ref())
                    })
                    .await??
                }
                Target::Remote(mut src) => {
                    src.trust_metadata = trust_metadata;
                    engine::manifest::build_remote(src, output_path.clone())
                        .await
                        .map_err(lift)?
                }
            };
            if let Some((bucket, key)) = &upload_to {
                let object = engine::s3::ObjectKey::new(key.clone())
                    .map_err(|e| engine::Error::Usage(format!("-o {output:?}: {e}")))?;
                let opts = engine::transfer::TransferOptions::default();
                let budget = engine::transfer::MemoryBudget::new(64 * 1024 * 1024);
                engine::transfer::upload_file(
                    &client(g)?,
                    &output_path,
                    bucket,
                    &object,
                    &opts,
                    &engine::client::PutOptions::default(),
                    &budget,
                )
                .await?;
            }
            drop(temp);
            let mut out = Out::new(g.json);
            out.line(&format!(
                "manifest {output}: {} entries, {} from {source}",
                summary.entries,
                human_bytes(summary.bytes)
            ))?;
            if summary.cache.reused > 0 {
                out.line(&format!(
                    "  {} files read, {} unchanged taken from the hash cache",
                    summary.cache.hashed, summary.cache.reused
                ))?;
            }
            out.record(&json!({
                "manifest": output, "source": source,
                "entries": summary.entries, "bytes": summary.bytes,
                "hashed": summary.cache.hashed, "reused_from_cache": summary.cache.reused,
            }))?;
            out.flush()?;
            Ok(())
        }
        ManifestCommand::Show { file } => {
            let json = g.json;
            tokio::task::spawn_blocking(move || show(&file, json)).await?
        }
        ManifestCommand::Merge {
            parts,
            output,
            source,
            newest,
        } => {
            let shown = output.display().to_string();
            let s = tokio::task::spawn_blocking(move || {
                engine::manifest::merge_files(&parts, &output, source, newest)
            })
            .await??;
            let mut out = Out::new(g.json);
            let shards = s
                .shards
                .map_or_else(String::new, |n| format!(" of {n} shards"));
            out.line(&format!(
                "merged {shown}: {} entries, {}{shards}",
                s.entries,
                human_bytes(s.bytes)
            ))?;
            out.record(&json!({
                "event": "merged", "manifest": shown, "entries": s.entries, "bytes": s.bytes,
                "shards": s.shards, "run": s.run, "parts": s.parts,
            }))?;
            out.flush()?;
            Ok(())
        }
        ManifestCommand::Diff { a, b } => {
            let json = g.json;
            let summary = tokio::task::spawn_blocking(move || {
                let mut out = Out::new(json);
                let s = engine::manifest::diff_files(&a, &b, &mut |c| {
                    print_change(&mut out, false, c);
                });
                out.flush()?;
                Ok::<_, anyhow::Error>(s?)
            })
            .await??;
            verdict("diff", summary, false)
        }
        ManifestCommand::Verify {
            manifest,
            target: t,
            no_mmap,
        } => {
            let json = g.json;
            let summary = match target(g, &t)? {
                Target::Local(dir) => {
                    let opts = tree_options(no_mmap);
                    tokio::task::spawn_blocking(move || {
                        let mut out = Out::new(json);
                        let s = engine::manifest::verify_local(&manifest, &dir, opts, &mut |c| {
                            print_change(&mut out, true, c);
                        });
                        out.flush()?;
                        Ok::<_, anyhow::Error>(s?)
                    })
                    .await??
                }
                Target::Remote(src) => {
                    let mut out = Out::new(json);
                    engine::manifest::verify_remote(manifest, src, move |c| {
                        print_change(&mut out, true, c);
                        let _ = out.flush();
                    })
                    .await
                    .map_err(lift)?
                }
            };
            verdict("verify", summary, true)
        }
    }
}

/// A gateway error keeps its own kind (exit codes 3, 4, 5); other manifest errors exit 1.
fn lift(e: ManifestError) -> anyhow::Error {
    match e {
        ManifestError::Remote(e) => anyhow::Error::from(*e),
        other => other.into(),
    }
}

/// A temporary manifest file, removed on drop.
struct TempManifest(std::path::PathBuf);

impl TempManifest {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("haul-manifest-{:016x}.tmp", rand::random::<u64>())))
    }
}

impl Drop for TempManifest {
    fn drop(&mut self) {
        let _ = fs_err::remove_file(&self.0);
    }
}

enum Target {
    Local(std::path::PathBuf),
    Remote(RemoteSource),
}

fn target(g: &GlobalArgs, s: &str) -> Result<Target> {
    match parse_location(s)? {
        Location::Local(dir) => Ok(Target::Local(dir)),
        Location::S3 { bucket, key } => Ok(Target::Remote(RemoteSource::new(
            client(g)?,
            bucket,
            &key,
            g.concurrency() as usize,
        ))),
        Location::Stdio => Err(engine::Error::Usage(format!(
            "{s:?}: expected a directory or s3://BUCKET[/PREFIX]"
        ))
        .into()),
    }
}

fn tree_options(no_mmap: bool) -> TreeOptions {
    TreeOptions {
        mode: if no_mmap {
            HashMode::Read
        } else {
            HashMode::Mmap
        },
        ..TreeOptions::default()
    }
}

/// Prints one change: `verify` words (missing, extra, changed) or `diff` signs (-, +, ~).
fn print_change(out: &mut Out, verify: bool, c: &Change) {
    let (word, sign) = match c {
        Change::Removed(_) if verify => ("missing", "missing"),
        Change::Added(_) if verify => ("extra", "extra"),
        Change::Removed(_) => ("removed", "-"),
        Change::Added(_) => ("added", "+"),
        Change::Changed { .. } => ("changed", if verify { "changed" } else { "~" }),
    };
    let detail = match c {
        Change::Changed { old, new } if old.size != new.size => {
            format!(" (size {} -> {})", old.size, new.size)
        }
        Change::Changed { .. } => " (content)".to_owned(),
        _ => String::new(),
    };
    // A closed stdout is handled when the summary is flushed.
    let _ = out.line(&format!("{sign} {}{detail}", c.key()));
    let _ = out.record(&change_json(word, c));
}

fn change_json(word: &str, c: &Change) -> serde_json::Value {
    match c {
        Change::Added(e) | Change::Removed(e) => json!({"change": word, "key": e.key,
            "size": e.size, "blake3": e.hash.to_hex().as_str()}),
        Change::Changed { old, new } => json!({"change": word, "key": new.key,
            "old_size": old.size, "new_size": new.size,
            "old_blake3": old.hash.to_hex().as_str(), "new_blake3": new.hash.to_hex().as_str()}),
    }
}

fn verdict(what: &str, s: DiffSummary, verify: bool) -> Result<()> {
    if s.is_clean() {
        return Ok(());
    }
    let (removed, added) = if verify {
        ("missing", "extra")
    } else {
        ("removed", "added")
    };
    Err(anyhow!(
        "{what}: {} {removed}, {} {added}, {} changed",
        s.removed,
        s.added,
        s.changed
    ))
}

fn entry_json(e: &Entry) -> serde_json::Value {
    json!({"key": e.key, "size": e.size, "mtime_ns": e.mtime_ns,
        "mode": e.mode.map(|m| format!("{m:o}")), "blake3": e.hash.to_hex().as_str(),
        "etag": e.etag})
}

fn show(file: &std::path::Path, json: bool) -> Result<()> {
    let reader = Reader::open(file)?;
    let h = reader.header().clone();
    let mut out = Out::new(json);
    out.line(&format!(
        "# haul manifest v{} of {} created {} by haul {}",
        h.version, h.source, h.created, h.haul_version
    ))?;
    out.record(
        &json!({"version": h.version, "source": h.source, "created": h.created,
        "haul": h.haul_version}),
    )?;
    for e in reader {
        let e = e?;
        let mode = e.mode.map_or_else(|| "-".to_owned(), |m| format!("{m:o}"));
        let mtime = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.mtime_ns))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| e.mtime_ns.to_string());
        out.line(&format!(
            "{}  {:>12}  {mtime}  {mode:>6}  {}",
            e.hash.to_hex(),
            e.size,
            e.key
        ))?;
        out.record(&entry_json(&e))?;
    }
    out.flush()?;
    Ok(())
}
