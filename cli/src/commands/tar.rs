//! `haul tar push|pull`: a directory streamed as one tar archive to and from S3, a file or
//! stdio. The engine's `archive` module does the work; this maps flags, picks the ends and
//! sets GNU tar's exit codes (1 done with warnings, 2 failed).

use std::time::Instant;

use anyhow::Result;
use engine::archive::{self, Compression, UnpackOptions};
use engine::s3::ObjectKey;
use engine::transfer::MemoryBudget;
use engine::{Error, ErrorKind};
use serde_json::json;

use super::{Location, client, parse_location};
use crate::args::{CompressArg, GlobalArgs, TarCommand, TarPullArgs, TarPushArgs};
use crate::output::{ExitWith, Out, human_bytes};

/// GNU tar's "some files differ": the archive is complete and valid, with warnings.
const EXIT_WARNINGS: u8 = 1;
/// GNU tar's "fatal error".
const EXIT_FATAL: u8 = 2;

pub(crate) async fn run(g: &GlobalArgs, t: &TarCommand) -> Result<()> {
    let result = match t {
        TarCommand::Push(a) => push(g, a).await,
        TarCommand::Pull(a) => pull(g, a).await,
    };
    result.map_err(fatal)
}

/// A failure exits 2, as GNU tar, unless it has a more telling code of haul's (not found,
/// access, network, interrupted).
fn fatal(e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<ExitWith>().is_some() {
        return e;
    }
    if matches!(
        e.downcast_ref::<Error>().map(Error::kind),
        Some(ErrorKind::NotFound | ErrorKind::Auth | ErrorKind::Network | ErrorKind::Interrupted)
    ) {
        return e;
    }
    let message = e.to_string();
    e.context(ExitWith {
        code: EXIT_FATAL,
        message,
    })
}

fn usage(msg: String) -> anyhow::Error {
    Error::Usage(msg).into()
}

async fn push(g: &GlobalArgs, a: &TarPushArgs) -> Result<()> {
    let compression = match a.compress {
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
        CompressArg::None => Compression::None,
    };
    let started = Instant::now();
    let dest = parse_location(&a.dest)?;
    let (report, bytes) = match &dest {
        Location::S3 { bucket, key } => {
            if key.is_empty() || key.ends_with('/') {
                return Err(usage(format!(
                    "{}: an archive needs a full object key, not a prefix",
                    a.dest
                )));
            }
            let key = ObjectKey::new(key.clone()).map_err(|e| usage(e.to_string()))?;
            let client = client(g)?;
            let opts = a.transfer.options();
            let budget = MemoryBudget::new(a.transfer.memory);
            archive::push(&client, &a.dir, bucket, &key, compression, &opts, &budget).await?
        }
        Location::Local(path) => {
            let file = tokio::fs::File::create(path)
                .await
                .map_err(|source| Error::Local {
                    path: path.clone(),
                    source,
                })?
                .into_std()
                .await;
            let out = std::io::BufWriter::new(file);
            (archive::pack_to(&a.dir, out, compression).await?, 0)
        }
        Location::Stdio => (
            archive::pack_to(&a.dir, std::io::stdout(), compression).await?,
            0,
        ),
    };
    if !matches!(dest, Location::Stdio) {
        let mut out = Out::new(g.json);
        let size = if bytes > 0 {
            format!(", {} stored", human_bytes(bytes))
        } else {
            String::new()
        };
        out.line(&format!(
            "tar push: {} -> {} ({} entries, {} of content{size}, {:.1} s)",
            a.dir.display(),
            a.dest,
            report.entries,
            human_bytes(report.content_bytes),
            started.elapsed().as_secs_f64()
        ))?;
        out.record(&json!({
            "event": "tar_push", "dir": a.dir, "to": a.dest, "entries": report.entries,
            "content_bytes": report.content_bytes, "stored_bytes": bytes,
            "warnings": report.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "seconds": started.elapsed().as_secs_f64(),
        }))?;
        out.flush()?;
    }
    if report.warnings.is_empty() {
        return Ok(());
    }
    Err(ExitWith {
        code: EXIT_WARNINGS,
        message: format!(
            "tar push: done with {} warning(s); the archive is valid (files that changed hold their size when archived): {}",
            report.warnings.len(),
            report
                .warnings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
    .into())
}

async fn pull(g: &GlobalArgs, a: &TarPullArgs) -> Result<()> {
    let started = Instant::now();
    let is_root = running_as_root();
    let opts = UnpackOptions {
        same_owner: if a.no_same_owner {
            false
        } else {
            a.same_owner || is_root
        },
        allow_devices: a.allow_devices,
        allow_setid: a.allow_setid,
    };
    let report = match parse_location(&a.source)? {
        Location::S3 { bucket, key } => {
            if key.is_empty() || key.ends_with('/') {
                return Err(usage(format!(
                    "{}: names a prefix, not an archive object",
                    a.source
                )));
            }
            let key = ObjectKey::new(key).map_err(|e| usage(e.to_string()))?;
            let client = client(g)?;
            let transfer = a.transfer.options();
            let budget = MemoryBudget::new(a.transfer.memory);
            archive::pull(&client, &bucket, &key, &a.dir, opts, &transfer, &budget).await?
        }
        Location::Local(path) => {
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|source| Error::Local {
                    path: path.clone(),
                    source,
                })?
                .into_std()
                .await;
            archive::unpack_from(file, &a.dir, opts).await?
        }
        Location::Stdio => archive::unpack_from(std::io::stdin(), &a.dir, opts).await?,
    };
    let mut out = Out::new(g.json);
    out.line(&format!(
        "tar pull: {} -> {} ({} entries, {} of content, {:.1} s)",
        a.source,
        a.dir.display(),
        report.entries,
        human_bytes(report.content_bytes),
        started.elapsed().as_secs_f64()
    ))?;
    out.record(&json!({
        "event": "tar_pull", "from": a.source, "dir": a.dir, "entries": report.entries,
        "content_bytes": report.content_bytes, "seconds": started.elapsed().as_secs_f64(),
    }))?;
    out.flush()?;
    Ok(())
}

/// Whether haul runs as root (then `--same-owner` is the default, as in GNU tar).
fn running_as_root() -> bool {
    fs_err::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
