//! `haul tar push|pull`: a directory streamed as one tar archive to and from S3, a file or
//! stdio. The engine's `archive` module does the work; this maps flags, picks the ends and
//! sets GNU tar's exit codes (1 done with warnings, 2 failed).

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use engine::archive::xattrs::XattrRestore;
use engine::archive::{self, Compression, PackOptions, Selection, Source, UnpackOptions};
use engine::local::PartialFile;
use engine::s3::ObjectKey;
use engine::transfer::MemoryBudget;
use engine::{Error, ErrorKind};
use serde_json::json;

use super::{Location, client, parse_location};
use crate::args::{CompressArg, GlobalArgs, TarCommand, TarPullArgs, TarPushArgs, TarVerifyArgs};
use crate::output::{ExitWith, Out, human_bytes};

/// GNU tar's "some files differ": the archive is complete and valid, with warnings.
const EXIT_WARNINGS: u8 = 1;
/// GNU tar's "fatal error".
const EXIT_FATAL: u8 = 2;

pub(crate) async fn run(g: &GlobalArgs, t: &TarCommand) -> Result<()> {
    let result = match t {
        TarCommand::Push(a) => push(g, a).await,
        TarCommand::Pull(a) => pull(g, a).await,
        TarCommand::Verify(a) => verify(g, a).await,
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
    let pack_opts = PackOptions {
        xattrs: a.xattrs,
        exclude: engine::sync::Filter::new(
            a.exclude
                .iter()
                .map(|g| (engine::sync::RuleKind::Exclude, g.as_str())),
        )
        .map_err(|e| engine::Error::Usage(e.to_string()))?,
    };
    let dest = parse_location(&a.dest)?;
    let index = match (&a.index, a.no_index, &dest) {
        (_, true, _) | (None, false, Location::Stdio) => None,
        (Some(loc), false, _) => Some(parse_location(loc)?),
        (None, false, _) => Some(parse_location(&archive::index_name(&a.dest))?),
    };
    let (report, bytes) = match &dest {
        Location::S3 { bucket, key } => {
            let key = object_key(key, &a.dest)?;
            let index = match &index {
                None => None,
                Some(Location::S3 { bucket, key }) => Some((
                    bucket,
                    object_key(key, a.index.as_deref().unwrap_or_default())?,
                )),
                Some(_) => {
                    return Err(usage(format!(
                        "--index {}: the index of an archive on S3 goes to S3 too",
                        a.index.as_deref().unwrap_or_default()
                    )));
                }
            };
            let client = client(g)?;
            let opts = a.transfer.options();
            let budget = MemoryBudget::new(a.transfer.memory);
            let index = index.as_ref().map(|(b, k)| (*b, k));
            archive::push(
                &client,
                &a.dir,
                bucket,
                &key,
                compression,
                pack_opts,
                index,
                &opts,
                &budget,
            )
            .await?
        }
        Location::Local(path) => {
            let out = BufWriter::new(partial(path)?);
            let index = local_index(index.as_ref(), a.index.as_deref())?
                .map(|p| Ok::<_, anyhow::Error>((BufWriter::new(partial(&p)?), a.dest.clone())))
                .transpose()?;
            let (report, out, index) =
                archive::pack_to(&a.dir, out, compression, pack_opts, index).await?;
            persist(out)?;
            if let Some(index) = index {
                persist(index)?;
            }
            (report, 0)
        }
        Location::Stdio => {
            let index = local_index(index.as_ref(), a.index.as_deref())?
                .map(|p| Ok::<_, anyhow::Error>((BufWriter::new(partial(&p)?), "-".to_owned())))
                .transpose()?;
            let (report, _, index) =
                archive::pack_to(&a.dir, std::io::stdout(), compression, pack_opts, index).await?;
            if let Some(index) = index {
                persist(index)?;
            }
            (report, 0)
        }
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

/// A full object key (not a prefix) from `key` of the location `shown`.
fn object_key(key: &str, shown: &str) -> Result<ObjectKey> {
    if key.is_empty() || key.ends_with('/') {
        return Err(usage(format!(
            "{shown}: an archive or index needs a full object key, not a prefix"
        )));
    }
    ObjectKey::new(key.to_owned()).map_err(|e| usage(e.to_string()))
}

/// The local index path of a local or stdout archive.
fn local_index(index: Option<&Location>, given: Option<&str>) -> Result<Option<PathBuf>> {
    match index {
        None => Ok(None),
        Some(Location::Local(p)) => Ok(Some(p.clone())),
        Some(_) => Err(usage(format!(
            "--index {}: the index of a local archive is a file",
            given.unwrap_or_default()
        ))),
    }
}

/// A file written under a temporary name beside `path`.
fn partial(path: &std::path::Path) -> Result<PartialFile> {
    PartialFile::create(path, None).map_err(|source| {
        Error::Local {
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

/// Syncs a finished file and renames it into place.
fn persist(w: BufWriter<PartialFile>) -> Result<()> {
    let file = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    let temp = file.temp_path().to_path_buf();
    file.persist()
        .map_err(|source| Error::Local { path: temp, source })?;
    Ok(())
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
        xattrs: if a.xattrs_all {
            XattrRestore::All
        } else if a.xattrs {
            XattrRestore::User
        } else {
            XattrRestore::None
        },
    };
    let archive_at = source(&a.source)?;
    let index_at = match (&a.index, &archive_at) {
        (Some(l), _) => Some((source(l)?, true)),
        (None, Source::Stdin) => None,
        (None, _) if a.only.is_empty() => None,
        (None, _) => Some((source(&archive::index_name(&a.source))?, false)),
    };
    let client = needs_client(&archive_at, index_at.as_ref().map(|(s, _)| s))
        .then(|| client(g))
        .transpose()?;
    let transfer = a.transfer.options();
    let budget = MemoryBudget::new(a.transfer.memory);
    let remote = client.as_ref().map(|client| archive::Remote {
        client,
        read: &transfer,
        budget: &budget,
    });
    let only = (!a.only.is_empty()).then(|| Selection::new(&a.only));
    let mut index = None;
    if let (Some((at, explicit)), Some(_)) = (&index_at, &only) {
        match archive::open_index(remote, at).await {
            Ok(file) => index = Some((file, at.name())),
            Err(e) if !explicit && is_not_found(&e) => tracing::warn!(
                "no index at {}: reading the whole archive to find the --only entries",
                at.name()
            ),
            Err(e) => return Err(anyhow::Error::from(e).context(format!("index {}", at.name()))),
        }
    }
    let report = match (index, &archive_at) {
        (Some((file, name)), _) => {
            archive::pull_only(remote, &archive_at, file, &name, &a.only, &a.dir, opts).await?
        }
        (None, Source::S3 { bucket, key }) => {
            let remote = remote.ok_or_else(|| usage("no gateway".into()))?;
            archive::pull(remote, bucket, key, &a.dir, opts, only).await?
        }
        (None, Source::File(path)) => {
            let file = fs_err::File::open(path)
                .map_err(|source| Error::Local {
                    path: path.clone(),
                    source,
                })?
                .into_parts()
                .0;
            archive::unpack_from(file, &a.dir, opts, only).await?
        }
        (None, Source::Stdin) => archive::unpack_from(std::io::stdin(), &a.dir, opts, only).await?,
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
        "not_found": report.unmatched, "warnings": report.warnings,
    }))?;
    out.flush()?;
    if report.unmatched.is_empty() && report.warnings.is_empty() {
        return Ok(());
    }
    if report.unmatched.is_empty() {
        return Err(ExitWith {
            code: EXIT_WARNINGS,
            message: format!(
                "tar pull: done with {} warning(s): {}",
                report.warnings.len(),
                report.warnings.join("; ")
            ),
        }
        .into());
    }
    Err(ExitWith {
        code: EXIT_FATAL,
        message: format!(
            "tar pull: not found in the archive: {}",
            report
                .unmatched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    .into())
}

async fn verify(g: &GlobalArgs, a: &TarVerifyArgs) -> Result<()> {
    let started = Instant::now();
    let archive_at = source(&a.source)?;
    let index_at = match (&a.index, &archive_at) {
        (Some(l), _) => source(l)?,
        (None, Source::Stdin) => {
            return Err(usage(
                "tar verify -: an archive on stdin needs --index FILE|s3://…".into(),
            ));
        }
        (None, _) => source(&archive::index_name(&a.source))?,
    };
    let client = needs_client(&archive_at, Some(&index_at))
        .then(|| client(g))
        .transpose()?;
    let transfer = a.transfer.options();
    let budget = MemoryBudget::new(a.transfer.memory);
    let remote = client.as_ref().map(|client| archive::Remote {
        client,
        read: &transfer,
        budget: &budget,
    });
    let index = archive::open_index(remote, &index_at).await.map_err(|e| {
        let what = if is_not_found(&e) {
            "no index (haul tar push writes it beside the archive; --index names another)"
                .to_owned()
        } else {
            e.to_string()
        };
        anyhow::Error::from(e).context(format!("{}: {what}", index_at.name()))
    })?;
    let report = archive::verify(remote, &archive_at, index, index_at.name()).await?;
    let mut out = Out::new(g.json);
    for d in &report.differences {
        out.line(&format!("differs: {d}"))?;
        out.record(&json!({"event": "difference", "what": d}))?;
    }
    if report.difference_count > report.differences.len() as u64 {
        out.line(&format!(
            "… and {} more differences",
            report.difference_count - report.differences.len() as u64
        ))?;
    }
    out.line(&format!(
        "tar verify: {} against {}: {} entries, {} of content, {} difference(s) ({:.1} s)",
        a.source,
        index_at.name(),
        report.entries,
        human_bytes(report.content_bytes),
        report.difference_count,
        started.elapsed().as_secs_f64()
    ))?;
    out.record(&json!({
        "event": "tar_verify", "archive": a.source, "index": index_at.name(),
        "entries": report.entries, "content_bytes": report.content_bytes,
        "differences": report.difference_count, "seconds": started.elapsed().as_secs_f64(),
    }))?;
    out.flush()?;
    if report.difference_count == 0 {
        return Ok(());
    }
    Err(ExitWith {
        code: EXIT_WARNINGS,
        message: format!(
            "tar verify: {} differs from its index in {} place(s)",
            a.source, report.difference_count
        ),
    }
    .into())
}

/// Where an archive or index named on the command line is.
fn source(shown: &str) -> Result<Source> {
    Ok(match parse_location(shown)? {
        Location::S3 { bucket, key } => Source::S3 {
            bucket,
            key: object_key(&key, shown)?,
        },
        Location::Local(p) => Source::File(p),
        Location::Stdio => Source::Stdin,
    })
}

fn needs_client(archive: &Source, index: Option<&Source>) -> bool {
    matches!(archive, Source::S3 { .. }) || matches!(index, Some(Source::S3 { .. }))
}

fn is_not_found(e: &Error) -> bool {
    e.kind() == ErrorKind::NotFound
        || matches!(e, Error::Local { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// Whether haul runs as root (then `--same-owner` is the default, as in GNU tar).
pub(super) fn running_as_root() -> bool {
    fs_err::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
