//! `haul tar pull --only PATH…`: the entries selected read from the index, and only the
//! stored bytes they lie in fetched and decoded.
//!
//! Each selected entry spans `[start, end)` of the tar stream; the seek points before and
//! after it give the stored bytes to fetch (for a plain archive, the same offsets). Entries
//! whose stored ranges touch are fetched as one run, so restoring a directory is one ranged
//! read per run, not per file. A hard link selected without its target brings the target
//! along (the link needs it on disk). Every extracted file must hash to the BLAKE3 the index
//! holds before it is renamed into place, and every entry must have the path the index gives
//! at its offset: an index that does not match its archive is an error, never a wrong file.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;

use super::entries::TarReader;
use super::index::{IndexEntry, IndexReader, SeekPoint, Totals};
use super::unpack::{Extractor, Selection, UnpackOptions, UnpackReport};
use super::{ArchiveError, Compression};

/// What the index gave for a selection.
#[derive(Debug)]
pub struct Selected {
    /// The entries to extract, in archive order.
    pub entries: Vec<IndexEntry>,
    /// Hard link targets the entries need that the selection did not name.
    pub missing_targets: HashSet<Vec<u8>>,
    /// The archive's seek points.
    pub points: Vec<SeekPoint>,
    /// The archive's totals.
    pub totals: Totals,
    /// The archive's compression.
    pub compression: Compression,
}

/// Reads `index`, keeping the entries `sel` selects and those whose path is in `also`.
///
/// # Errors
/// [`ArchiveError::Index`] for a damaged index.
pub fn read_selected<I: Read, S: std::hash::BuildHasher>(
    mut index: IndexReader<I>,
    sel: &mut Selection,
    also: &HashSet<Vec<u8>, S>,
) -> Result<Selected, ArchiveError> {
    let mut entries = Vec::new();
    let mut have = HashSet::new();
    let mut targets = HashSet::new();
    while let Some(e) = index.next_entry()? {
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&e.path));
        if sel.select(path) || also.contains(&e.path) {
            if let (super::index::EntryKind::Hardlink, Some(t)) = (e.kind, &e.link) {
                targets.insert(t.clone());
            }
            have.insert(e.path.clone());
            entries.push(e);
        }
    }
    targets.retain(|t| !have.contains(t));
    Ok(Selected {
        entries,
        missing_targets: targets,
        points: index.seek_points().to_vec(),
        totals: index.totals().cloned().unwrap_or_default(),
        compression: index.header().compression,
    })
}

/// Stored bytes to fetch in one read and the entries they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// First stored byte (a seek point).
    pub stored_start: u64,
    /// One past the last stored byte.
    pub stored_end: u64,
    /// The tar offset decoding starts at.
    pub raw_start: u64,
    /// The entries, in archive order.
    pub entries: Vec<IndexEntry>,
}

/// Groups `entries` (in archive order) into runs of stored bytes.
///
/// # Errors
/// [`ArchiveError::Corrupt`] when the index's seek points do not cover an entry.
pub fn plan_runs(selected: &Selected) -> Result<Vec<Run>, ArchiveError> {
    let mut runs: Vec<Run> = Vec::new();
    for e in &selected.entries {
        let (stored_start, raw_start, stored_end) = match selected.compression {
            Compression::None => (e.start, e.start, e.end()),
            Compression::Gzip | Compression::Zstd => {
                let points = &selected.points;
                // The last block starting at or before the entry, the first starting at or
                // after its end (or the end of the archive).
                let before = points.partition_point(|p| p.raw <= e.start);
                let from = before
                    .checked_sub(1)
                    .and_then(|i| points.get(i))
                    .ok_or_else(|| index_mismatch(e, "no seek point before it"))?;
                let after = points.partition_point(|p| p.raw < e.end());
                let to = points
                    .get(after)
                    .map_or(selected.totals.stored, |p| p.stored);
                (from.stored, from.raw, to)
            }
        };
        if stored_end <= stored_start {
            return Err(index_mismatch(e, "its stored range is empty"));
        }
        match runs.last_mut() {
            Some(run) if stored_start <= run.stored_end => {
                run.stored_end = run.stored_end.max(stored_end);
                run.entries.push(e.clone());
            }
            _ => runs.push(Run {
                stored_start,
                stored_end,
                raw_start,
                entries: vec![e.clone()],
            }),
        }
    }
    Ok(runs)
}

fn index_mismatch(e: &IndexEntry, what: &str) -> ArchiveError {
    ArchiveError::Corrupt {
        entry: e.display(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the index does not match the archive: {what}"),
        ),
    }
}

/// Extracts the entries of `runs` from `input`, which yields each run's stored bytes in
/// order, one run after the other (blocking).
///
/// # Errors
/// [`ArchiveError`]: a refused entry, a corrupt archive, an index that does not match.
pub fn extract_runs<R: Read>(
    mut input: R,
    runs: &[Run],
    compression: Compression,
    dir: &std::path::Path,
    opts: UnpackOptions,
) -> Result<UnpackReport, ArchiveError> {
    let mut x = Extractor::new(dir, opts)?;
    for run in runs {
        let first = run
            .entries
            .first()
            .map(IndexEntry::display)
            .unwrap_or_default();
        let mut limited = (&mut input).take(run.stored_end - run.stored_start);
        {
            let corrupt = |source| ArchiveError::Corrupt {
                entry: first.clone(),
                source,
            };
            let mut decoded: Box<dyn Read + '_> = match compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut limited)),
                Compression::Zstd => {
                    Box::new(zstd::stream::read::Decoder::new(&mut limited).map_err(corrupt)?)
                }
                Compression::None => Box::new(&mut limited),
            };
            let mut pos = run.raw_start;
            for e in &run.entries {
                let name = e.display();
                let corrupt = |source| ArchiveError::Corrupt {
                    entry: name.clone(),
                    source,
                };
                let gap = e.start - pos;
                if io::copy(&mut (&mut decoded).take(gap), &mut io::sink()).map_err(corrupt)? != gap
                {
                    return Err(index_mismatch(e, "the archive ends before it"));
                }
                let mut one = (&mut decoded).take(e.end() - e.start);
                extract_one(&mut x, &mut one, e)?;
                io::copy(&mut one, &mut io::sink()).map_err(corrupt)?;
                pos = e.end();
            }
        }
        // What is left of the run's stored bytes (past the last entry's block) is skipped.
        io::copy(&mut limited, &mut io::sink()).map_err(|source| ArchiveError::Corrupt {
            entry: first.clone(),
            source,
        })?;
    }
    x.finish()
}

/// Extracts the one entry `e` that `input` starts with.
fn extract_one<R: Read>(x: &mut Extractor, input: R, e: &IndexEntry) -> Result<(), ArchiveError> {
    let name = e.display();
    let corrupt = |source| ArchiveError::Corrupt {
        entry: name.clone(),
        source,
    };
    let mut reader = TarReader::new(input);
    let mut entries = reader.entries()?;
    let mut entry = entries
        .next_entry(|| name.clone())?
        .ok_or_else(|| index_mismatch(e, "no entry at its offset"))?;
    if entry.path_bytes().as_ref() != e.path.as_slice() {
        return Err(index_mismatch(
            e,
            &format!(
                "the archive holds {} at its offset",
                String::from_utf8_lossy(&entry.path_bytes())
            ),
        ));
    }
    let raw = entry.path().map_err(corrupt)?.into_owned();
    x.expect_hash(e.blake3);
    let done = x.entry(&mut entry, &raw, &name);
    x.expect_hash(None);
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::index::EntryKind;

    fn file(start: u64, size: u64) -> IndexEntry {
        IndexEntry {
            kind: EntryKind::File,
            path: format!("f{start}").into_bytes(),
            start,
            data: start + 512,
            size,
            mtime: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            blake3: Some(blake3::hash(b"")),
            link: None,
        }
    }

    #[test]
    fn runs_cover_each_entry_from_the_seek_point_before_it() {
        let mib = 1u64 << 20;
        let points: Vec<SeekPoint> = (0..4)
            .map(|i| SeekPoint {
                raw: i * mib,
                stored: i * 1000,
            })
            .collect();
        let sel = |entries| Selected {
            entries,
            missing_targets: HashSet::new(),
            points: points.clone(),
            totals: Totals {
                raw: 4 * mib,
                stored: 4000,
                etag: None,
            },
            compression: Compression::Gzip,
        };
        // One entry inside block 0; one spanning blocks 2 and 3 (to the end).
        let a = file(1024, 100);
        let b = file(2 * mib + 4096, mib);
        let runs = plan_runs(&sel(vec![a.clone(), b.clone()])).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].stored_start, runs[0].stored_end, runs[0].raw_start),
            (0, 1000, 0)
        );
        assert_eq!((runs[1].stored_start, runs[1].stored_end), (2000, 4000));
        // Runs that touch are one read: an entry in block 1 joins them.
        let c = file(2 * mib - 2048, 100);
        let runs = plan_runs(&sel(vec![a, c, b])).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].stored_start, runs[0].stored_end), (0, 4000));
        // Plain archives: the entry's own bytes.
        let mut plain = sel(vec![file(0, 10), file(1024, 10), file(8192, 10)]);
        plain.compression = Compression::None;
        let runs = plan_runs(&plain).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].stored_start, runs[0].stored_end), (0, 2048));
    }
}
