//! A backup set read back from disk for `haul restore` and `haul backup verify`: `set.json`
//! parsed and every part's files located.
//!
//! `set.json` is input like any other: a set copied around, damaged or written by hand must
//! not send haul anywhere else. So the paths in it are not followed; each part's files are
//! derived from its kind and name (`buckets/NAME`, `buckets/NAME.manifest`,
//! `archives/NAME.EXT`, `archives/NAME.EXT.index`), and a `path` or `proof` that says
//! otherwise is an error naming the part.

use std::path::PathBuf;

use super::run::{SET_FORMAT, SetReport};
use super::store::SetAt;
use crate::archive::{self, Compression};
use crate::error::Error;
use crate::s3::BucketName;
use crate::sync::{Filter, RuleKind};

/// The most `set.json` may hold (chosen: a set of thousands of parts with their warnings is
/// well under a MiB; anything bigger is not a set).
pub const MAX_SET_JSON_BYTES: u64 = 16 << 20;

/// A complete set and where its parts are.
#[derive(Debug, Clone)]
pub struct Set {
    /// Where it lives.
    pub at: SetAt,
    /// `set.json` as written.
    pub report: SetReport,
    /// Its bucket copies.
    pub buckets: Vec<SetBucket>,
    /// Its archives.
    pub archives: Vec<SetArchive>,
}

/// A bucket copied in a set.
#[derive(Debug, Clone)]
pub struct SetBucket {
    /// The bucket (the part's name).
    pub name: BucketName,
    /// The copy, relative to the set: a directory (prefix) of the bucket's objects.
    pub copy: String,
    /// Its manifest, relative to the set.
    pub manifest: String,
    /// Objects and bytes recorded.
    pub entries: u64,
    /// Bytes recorded.
    pub bytes: u64,
    /// Keys left out of the copy (globs), neither restored nor deleted nor differences.
    pub exclude: Filter,
}

/// A directory archived in a set.
#[derive(Debug, Clone)]
pub struct SetArchive {
    /// The part's name.
    pub name: String,
    /// The directory it was made from.
    pub source: PathBuf,
    /// The archive, relative to the set.
    pub archive: String,
    /// Its index, relative to the set.
    pub index: String,
    /// Entries recorded.
    pub entries: u64,
    /// Bytes recorded.
    pub bytes: u64,
    /// Warnings recorded when it was made (files changed while archived).
    pub warnings: Vec<String>,
    /// Paths left out of the archive (globs), not differences where a restore finds them.
    pub exclude: Filter,
}

fn bad(at: &SetAt, what: impl std::fmt::Display) -> Error {
    let mut name = at.display();
    if !name.ends_with('/') {
        name.push('/');
    }
    Error::Usage(format!("{name}set.json: {what}"))
}

/// Whether `name` can name an archive part's file: not empty, no `/`, no NUL, not `.` or
/// `..`, not hidden.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\0'])
}

/// Reads the set at `at`.
///
/// # Errors
/// [`Error::Usage`] naming `set.json` when it is missing (an incomplete set), unreadable, not
/// a set, of another format, not complete (unless `allow_incomplete`), or names its files
/// other than haul writes them; gateway errors reading it.
pub async fn open(at: &SetAt, allow_incomplete: bool) -> Result<Set, Error> {
    let missing = || {
        Error::Usage(format!(
            "{}: no set.json: not a backup set, or one whose backup did not finish",
            at.display()
        ))
    };
    let text = match at {
        SetAt::Local(dir) => {
            let path = dir.join("set.json");
            match fs_err::metadata(&path) {
                Ok(m) if m.len() > MAX_SET_JSON_BYTES => {
                    return Err(bad(at, format!("{} bytes: too large for a set", m.len())));
                }
                Ok(_) => fs_err::read(&path).map_err(|e| bad(at, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
                Err(e) => return Err(bad(at, e)),
            }
        }
        SetAt::S3(dir) => dir
            .get_small("set.json", MAX_SET_JSON_BYTES)
            .await?
            .ok_or_else(missing)?
            .to_vec(),
    };
    parse(at, &text, allow_incomplete)
}

fn parse(at: &SetAt, text: &[u8], allow_incomplete: bool) -> Result<Set, Error> {
    let mut report: SetReport =
        serde_json::from_slice(text).map_err(|e| bad(at, format!("not a backup set: {e}")))?;
    if report.format != SET_FORMAT {
        return Err(bad(
            at,
            format!(
                "set format {} (this haul reads {SET_FORMAT})",
                report.format
            ),
        ));
    }
    if report.state != "complete" && !allow_incomplete {
        let failed: Vec<String> = report
            .parts
            .iter()
            .filter_map(|p| p.error.as_ref().map(|e| format!("{}: {e}", p.name)))
            .collect();
        return Err(bad(
            at,
            format!(
                "the set is {} ({}): its backup did not succeed",
                report.state,
                failed.join("; ")
            ),
        ));
    }
    report.location = at.display();
    let mut set = Set {
        at: at.clone(),
        report: report.clone(),
        buckets: Vec::new(),
        archives: Vec::new(),
    };
    let mut names = std::collections::HashSet::new();
    for p in &report.parts {
        if !names.insert((p.kind.clone(), p.name.clone())) {
            return Err(bad(at, format!("part {} appears twice", p.name)));
        }
        match p.kind.as_str() {
            "bucket" => {
                if p.name.contains('/') || p.name.starts_with('.') {
                    return Err(bad(
                        at,
                        format!("bucket part {:?}: not a bucket name", p.name),
                    ));
                }
                let name = BucketName::new(&p.name)
                    .map_err(|e| bad(at, format!("part {}: {e}", p.name)))?;
                let want = (
                    format!("buckets/{}", p.name),
                    format!("buckets/{}.manifest", p.name),
                );
                if (p.path.as_str(), p.proof.as_str()) != (want.0.as_str(), want.1.as_str()) {
                    return Err(bad(
                        at,
                        format!(
                            "bucket part {}: its files are named {} and {}, not {} and {}",
                            p.name, p.path, p.proof, want.0, want.1
                        ),
                    ));
                }
                set.buckets.push(SetBucket {
                    name,
                    copy: want.0,
                    manifest: want.1,
                    entries: p.entries,
                    bytes: p.bytes,
                    exclude: exclude_filter(at, p)?,
                });
            }
            "archive" => {
                if !is_plain_name(&p.name) {
                    return Err(bad(
                        at,
                        format!("archive part {:?}: not a plain name", p.name),
                    ));
                }
                let ok = ["tar.gz", "tar.zst", "tar"]
                    .iter()
                    .map(|ext| format!("archives/{}.{ext}", p.name))
                    .find(|want| *want == p.path && archive::index_name(want) == p.proof);
                let Some(rel) = ok else {
                    return Err(bad(
                        at,
                        format!(
                            "archive part {}: its files are named {} and {}, not archives/{}.tar.gz (or .tar.zst, .tar) and its .index",
                            p.name, p.path, p.proof, p.name
                        ),
                    ));
                };
                set.archives.push(SetArchive {
                    name: p.name.clone(),
                    source: PathBuf::from(&p.source),
                    index: archive::index_name(&rel),
                    archive: rel,
                    entries: p.entries,
                    bytes: p.bytes,
                    warnings: p.warnings.clone(),
                    exclude: exclude_filter(at, p)?,
                });
            }
            other => return Err(bad(at, format!("part {}: unknown kind {other:?}", p.name))),
        }
    }
    Ok(set)
}

fn exclude_filter(at: &SetAt, p: &super::run::PartReport) -> Result<Filter, Error> {
    Filter::new(p.exclude.iter().map(|g| (RuleKind::Exclude, g.as_str())))
        .map_err(|e| bad(at, format!("part {}: {e}", p.name)))
}

impl Set {
    /// A file of a set in a local directory (`None` for a set on a gateway).
    #[must_use]
    pub fn local(&self, rel: &str) -> Option<PathBuf> {
        match &self.at {
            SetAt::Local(dir) => Some(dir.join(rel)),
            SetAt::S3(_) => None,
        }
    }
}

/// The compression an archive's file name says.
#[must_use]
pub fn compression_of(archive: &str) -> Compression {
    let name = archive;
    if name.ends_with(".tar.gz") {
        Compression::Gzip
    } else if name.ends_with(".tar.zst") {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn open_local(dir: &Path, allow_incomplete: bool) -> Result<Set, Error> {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(open(&SetAt::Local(dir.to_path_buf()), allow_incomplete))
    }

    fn write(dir: &Path, json: &str) {
        fs_err::write(dir.join("set.json"), json).unwrap();
    }

    const GOOD: &str = r#"{"format":1,"id":"20261206T000000Z","haul":"0","started":"s","finished":"f","state":"complete","parts":[
        {"kind":"bucket","name":"db-wal","source":"s3://db-wal","path":"buckets/db-wal","proof":"buckets/db-wal.manifest","entries":3,"bytes":10,"seconds":1.0,"warnings":[],"error":null},
        {"kind":"archive","name":"store","source":"/var/lib/store","path":"archives/store.tar.gz","proof":"archives/store.tar.gz.index","entries":2,"bytes":5,"seconds":1.0,"warnings":["x changed"],"error":null}]}"#;

    #[test]
    fn a_set_is_read_with_its_parts() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), GOOD);
        let set = open_local(d.path(), false).unwrap();
        assert_eq!(set.buckets.len(), 1);
        assert_eq!(set.buckets[0].manifest, "buckets/db-wal.manifest");
        assert_eq!(
            set.local(&set.buckets[0].manifest).unwrap(),
            d.path().join("buckets/db-wal.manifest")
        );
        assert_eq!(set.archives[0].source, Path::new("/var/lib/store"));
        assert_eq!(set.archives[0].index, "archives/store.tar.gz.index");
        assert_eq!(compression_of(&set.archives[0].archive), Compression::Gzip);
    }

    #[test]
    fn a_set_that_points_elsewhere_or_is_not_complete_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let err = open_local(d.path(), false).unwrap_err().to_string();
        assert!(err.contains("no set.json"), "{err}");
        for (from, to, want) in [
            (
                "buckets/db-wal\"",
                "../../etc\"",
                "its files are named ../../etc",
            ),
            (
                "archives/store.tar.gz\"",
                "/etc/passwd\"",
                "archive part store",
            ),
            (
                "\"name\":\"store\"",
                "\"name\":\"../x\"",
                "not a plain name",
            ),
            ("\"complete\"", "\"failed\"", "the set is failed"),
            ("\"format\":1", "\"format\":9", "set format 9"),
            ("\"kind\":\"bucket\"", "\"kind\":\"disk\"", "unknown kind"),
            (
                "\"name\":\"db-wal\"",
                "\"name\":\"Db_Wal!\"",
                "part Db_Wal!",
            ),
        ] {
            assert!(GOOD.contains(from), "{from}");
            write(d.path(), &GOOD.replacen(from, to, 1));
            let err = open_local(d.path(), false).unwrap_err().to_string();
            assert!(err.contains(want), "{from} -> {to}: {err}");
        }
        write(d.path(), "{not json");
        assert!(
            open_local(d.path(), false)
                .unwrap_err()
                .to_string()
                .contains("not a backup set")
        );
        write(d.path(), &GOOD.replacen("\"complete\"", "\"failed\"", 1));
        assert!(open_local(d.path(), true).is_ok());
    }
}
