//! The backup plan file: what `haul backup` copies and where (`docs/backup.md`).
//!
//! TOML, read strictly: unknown keys, a wrong type, an invalid bucket name or glob, a repeated
//! part name are errors that name the file and the line. Relative paths are taken relative to
//! the plan file's directory, so a plan works the same from cron and from a shell.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::archive::Compression;
use crate::s3::BucketName;
use crate::sync::filter::{Filter, RuleKind};

/// The buckets backed up when a plan names no part: the runbook's.
pub const DEFAULT_BUCKETS: [&str; 2] = ["db_wal", "registry"];

/// Sets kept at a destination unless the plan says otherwise. Chosen: 14, two weeks of
/// nightly backups, as `sync --keep-manifests`.
pub const DEFAULT_KEEP: u32 = 14;

/// A checked plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Where sets go.
    pub destination: Destination,
    /// The gateway buckets are read from (`None`: the usual configuration).
    pub source_endpoint: Option<String>,
    /// The profile of the source's keys.
    pub source_profile: Option<String>,
    /// Buckets to copy, in plan order.
    pub buckets: Vec<BucketPart>,
    /// Directories to archive, in plan order.
    pub archives: Vec<ArchivePart>,
    /// Ceiling of the adaptive concurrency per gateway (`None`: the global default).
    pub concurrency: Option<u32>,
    /// Sets kept at the destination.
    pub keep: u32,
}

/// Where a plan's sets go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A local directory.
    Local(PathBuf),
    /// `s3://bucket/prefix` on a gateway.
    S3 {
        /// The bucket.
        bucket: BucketName,
        /// The prefix, empty or ending in `/`.
        prefix: String,
        /// Its gateway (`None`: the source's configuration).
        endpoint: Option<String>,
        /// The profile of its keys.
        profile: Option<String>,
    },
}

/// A bucket to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPart {
    /// The bucket, also the part's name.
    pub name: BucketName,
    /// Key globs left out (as `haul sync --exclude`).
    pub exclude: Vec<String>,
}

/// A directory to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePart {
    /// The part's name (the archive's file name in the set).
    pub name: String,
    /// The directory.
    pub path: PathBuf,
    /// How the archive is compressed.
    pub compression: Compression,
    /// Extended attributes stored.
    pub xattrs: bool,
    /// Path globs left out.
    pub exclude: Vec<String>,
}

/// A plan that cannot be used, with where.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PlanError {
    /// The plan file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    version: Spanned<u32>,
    destination: Spanned<String>,
    destination_endpoint: Option<Spanned<String>>,
    destination_profile: Option<String>,
    #[serde(default)]
    source: RawSource,
    #[serde(default)]
    bucket: Vec<RawBucket>,
    #[serde(default)]
    archive: Vec<RawArchive>,
    #[serde(default)]
    options: RawOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    endpoint: Option<String>,
    profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBucket {
    name: Spanned<String>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchive {
    name: Spanned<String>,
    path: Spanned<String>,
    compression: Option<Spanned<String>>,
    #[serde(default)]
    xattrs: bool,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    concurrency: Option<Spanned<u32>>,
    keep: Option<Spanned<u32>>,
}

/// Largest plan file read. Chosen: 1 MiB; a plan is a few hundred bytes.
const MAX_PLAN_BYTES: u64 = 1 << 20;

/// Reads and checks the plan at `file`.
///
/// # Errors
/// The file unreadable or larger than 1 MiB, or anything [`parse`] refuses.
pub fn read(file: &Path) -> Result<Plan, PlanError> {
    let err = |message: String| PlanError {
        file: file.to_path_buf(),
        line: None,
        message,
    };
    let meta = fs_err::metadata(file).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_PLAN_BYTES {
        return Err(err(format!(
            "{} bytes: a plan is at most 1 MiB",
            meta.len()
        )));
    }
    let text = fs_err::read_to_string(file).map_err(|e| err(e.to_string()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    parse(&text, file, base)
}

/// Parses and checks a plan's text; `file` names it in errors, `base` is the directory
/// relative paths start from.
///
/// # Errors
/// TOML syntax, unknown keys, wrong types, a version other than 1, an invalid destination,
/// bucket name or glob, a part name given twice, a keep of 0 or a concurrency out of
/// 1..=4096 — each with its line.
pub fn parse(text: &str, file: &Path, base: &Path) -> Result<Plan, PlanError> {
    let at = |span: std::ops::Range<usize>, message: String| PlanError {
        file: file.to_path_buf(),
        line: Some(line_of(text, span.start)),
        message,
    };
    let raw: RawPlan = toml::from_str(text).map_err(|e| PlanError {
        file: file.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_owned(),
    })?;
    if *raw.version.get_ref() != 1 {
        return Err(at(
            raw.version.span(),
            format!(
                "version {}: this haul reads plan version 1",
                raw.version.get_ref()
            ),
        ));
    }
    let destination = destination(&raw, base).map_err(|m| at(raw.destination.span(), m))?;
    if let (Destination::Local(_), Some(ep)) = (&destination, &raw.destination_endpoint) {
        return Err(at(
            ep.span(),
            "destination_endpoint is for an s3:// destination".to_owned(),
        ));
    }
    let mut buckets = Vec::new();
    for b in &raw.bucket {
        let name = BucketName::new(b.name.get_ref())
            .map_err(|e| at(b.name.span(), format!("bucket {:?}: {e}", b.name.get_ref())))?;
        if buckets.iter().any(|p: &BucketPart| p.name == name) {
            return Err(at(
                b.name.span(),
                format!("bucket {:?} is given twice", b.name.get_ref()),
            ));
        }
        buckets.push(BucketPart {
            name,
            exclude: globs(&b.exclude).map_err(|(span, m)| at(span, m))?,
        });
    }
    let mut archives = Vec::new();
    for a in &raw.archive {
        let name = a.name.get_ref();
        let valid = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(at(
                a.name.span(),
                format!(
                    "archive name {name:?}: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with a dot"
                ),
            ));
        }
        if archives.iter().any(|p: &ArchivePart| p.name == *name) {
            return Err(at(
                a.name.span(),
                format!("archive {name:?} is given twice"),
            ));
        }
        let path = a.path.get_ref();
        if path.is_empty() {
            return Err(at(a.path.span(), "an empty archive path".to_owned()));
        }
        let compression = match a
            .compression
            .as_ref()
            .map(|c| (c.get_ref().as_str(), c.span()))
        {
            None | Some(("gzip", _)) => Compression::Gzip,
            Some(("zstd", _)) => Compression::Zstd,
            Some(("none", _)) => Compression::None,
            Some((other, span)) => {
                return Err(at(
                    span,
                    format!("compression {other:?}: gzip, zstd or none"),
                ));
            }
        };
        archives.push(ArchivePart {
            name: name.clone(),
            path: base.join(path),
            compression,
            xattrs: a.xattrs,
            exclude: globs(&a.exclude).map_err(|(span, m)| at(span, m))?,
        });
    }
    if buckets.is_empty() && archives.is_empty() {
        for name in DEFAULT_BUCKETS {
            buckets.push(BucketPart {
                name: BucketName::new(name).map_err(|e| at(0..0, e.to_string()))?,
                exclude: Vec::new(),
            });
        }
    }
    let concurrency = match &raw.options.concurrency {
        Some(c) if !(1..=4096).contains(c.get_ref()) => {
            return Err(at(
                c.span(),
                format!("concurrency {}: 1 to 4096", c.get_ref()),
            ));
        }
        c => c.as_ref().map(|c| *c.get_ref()),
    };
    let keep = match &raw.options.keep {
        Some(k) if *k.get_ref() == 0 => {
            return Err(at(k.span(), "keep 0 would remove every set".to_owned()));
        }
        k => k.as_ref().map_or(DEFAULT_KEEP, |k| *k.get_ref()),
    };
    Ok(Plan {
        destination,
        source_endpoint: raw.source.endpoint,
        source_profile: raw.source.profile,
        buckets,
        archives,
        concurrency,
        keep,
    })
}

fn destination(raw: &RawPlan, base: &Path) -> Result<Destination, String> {
    let d = raw.destination.get_ref();
    if let Some(rest) = d.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = BucketName::new(bucket)
            .map_err(|e| format!("destination {d:?}: bad bucket name: {e}"))?;
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        return Ok(Destination::S3 {
            bucket,
            prefix,
            endpoint: raw
                .destination_endpoint
                .as_ref()
                .map(|e| e.get_ref().clone()),
            profile: raw.destination_profile.clone(),
        });
    }
    if d.contains("://") {
        return Err(format!(
            "destination {d:?}: a local directory or s3://BUCKET[/PREFIX]"
        ));
    }
    if d.is_empty() {
        return Err("an empty destination".to_owned());
    }
    Ok(Destination::Local(base.join(d)))
}

/// Checks each glob as `haul sync --exclude` would compile it.
fn globs(list: &[Spanned<String>]) -> Result<Vec<String>, (std::ops::Range<usize>, String)> {
    list.iter()
        .map(|g| {
            Filter::new([(RuleKind::Exclude, g.get_ref().as_str())])
                .map(|_| g.get_ref().clone())
                .map_err(|e| (g.span(), e.to_string()))
        })
        .collect()
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    // Segments between newlines before `offset`: one more than the newlines.
    text.as_bytes()[..offset.min(text.len())]
        .split(|&b| b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan, PlanError> {
        parse(text, Path::new("plan.toml"), Path::new("/etc/haul"))
    }

    /// The commented example of docs/backup.md parses to what it says.
    #[test]
    fn the_documented_example() {
        let doc = include_str!("../../../docs/backup.md");
        let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
        let text = &doc[start..start + doc[start..].find("```").unwrap()];
        let p = plan(text).unwrap();
        assert_eq!(
            p.destination,
            Destination::Local("/srv/backups/deis".into())
        );
        assert_eq!(
            p.buckets
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            ["db_wal", "registry"]
        );
        assert_eq!(p.archives.len(), 1);
        assert_eq!(p.archives[0].path, PathBuf::from("/var/lib/deis/store"));
        assert_eq!(p.archives[0].compression, Compression::Gzip);
        assert_eq!((p.keep, p.concurrency), (DEFAULT_KEEP, None));
    }

    #[test]
    fn defaults_relative_paths_and_s3_destinations() {
        let p = plan("version = 1\ndestination = \"backups\"\n").unwrap();
        assert_eq!(
            p.destination,
            Destination::Local("/etc/haul/backups".into())
        );
        assert_eq!(
            p.buckets
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            DEFAULT_BUCKETS
        );
        let p = plan(
            "version = 1\ndestination = \"s3://backups/deis\"\n\
             destination_endpoint = \"http://b:7480\"\n\
             [[archive]]\nname = \"store\"\npath = \"store\"\ncompression = \"zstd\"\n\
             [options]\nkeep = 3\nconcurrency = 8\n",
        )
        .unwrap();
        assert_eq!(
            p.destination,
            Destination::S3 {
                bucket: BucketName::new("backups").unwrap(),
                prefix: "deis/".into(),
                endpoint: Some("http://b:7480".into()),
                profile: None
            }
        );
        // An archive alone: no default buckets.
        assert!(p.buckets.is_empty());
        assert_eq!(p.archives[0].path, PathBuf::from("/etc/haul/store"));
        assert_eq!(p.archives[0].compression, Compression::Zstd);
        assert_eq!((p.keep, p.concurrency), (3, Some(8)));
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("version = 2\ndestination = \"d\"\n", 1, "version 2"),
            (
                "version = 1\ndestination = \"d\"\ncolour = 1\n",
                3,
                "unknown field",
            ),
            (
                "version = 1\ndestination = \"d\"\n[[bucket]]\nname = \"db_wal\"\n[[bucket]]\nname = \"db_wal\"\n",
                6,
                "given twice",
            ),
            (
                "version = 1\ndestination = \"d\"\n[[bucket]]\nname = \"a/b\"\n",
                4,
                "bucket \"a/b\"",
            ),
            (
                "version = 1\ndestination = \"d\"\n[[bucket]]\nname = \"db_wal\"\nexclude = [\"a[\"]\n",
                5,
                "a[",
            ),
            (
                "version = 1\ndestination = \"d\"\n[[archive]]\nname = \"../x\"\npath = \"/x\"\n",
                4,
                "archive name",
            ),
            (
                "version = 1\ndestination = \"d\"\n[[archive]]\nname = \"x\"\npath = \"/x\"\ncompression = \"lz4\"\n",
                6,
                "lz4",
            ),
            (
                "version = 1\ndestination = \"d\"\n[options]\nkeep = 0\n",
                4,
                "keep 0",
            ),
            (
                "version = 1\ndestination = \"d\"\n[options]\nconcurrency = 5000\n",
                4,
                "5000",
            ),
            ("version = 1\ndestination = \"gs://x\"\n", 2, "gs://x"),
            (
                "version = 1\ndestination = \"d\"\ndestination_endpoint = \"http://x\"\n",
                3,
                "s3:// destination",
            ),
            ("version = 1\n", 1, "destination"),
            ("version = 1\ndestination = \n", 2, ""),
        ];
        for (text, line, needle) in cases {
            let e = plan(text).unwrap_err();
            assert_eq!(e.line, Some(*line), "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
            assert!(e.to_string().starts_with("plan.toml:"), "{e}");
        }
    }
}
