//! `haul tar verify`: an archive read once against its index, without extracting anything.
//!
//! The stored stream is decoded block by block (`blocks::Tracked`), so the seek points the
//! index lists are checked as well as every entry: its path, type, offsets, size, mode,
//! owner, mtime, link target and, for files, the BLAKE3 of the content. A difference is
//! reported, not fatal: the report lists them all (the first [`MAX_SHOWN`] in full). A stream
//! that cannot be decoded or parsed is an error naming the entry, as for extraction.
//!
//! An entry whose declared size differs from the index's (or that the index does not list,
//! with content) ends the reading: every entry after it lies elsewhere than the index says,
//! and its content, which may be a tampered header's 100 GB of a decompression bomb, is not
//! read. The report says so.

use std::io::{self, BufReader, Read};

use super::ArchiveError;
use super::blocks::{self, Tracked};
use super::entries::TarReader;
use super::index::{EntryKind, IndexEntry, IndexReader};
use super::{Compression, GZIP_LEVEL, ZSTD_LEVEL};

/// Differences listed in full; beyond, only counted.
pub const MAX_SHOWN: usize = 100;

/// What a verification found.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    /// Entries read from the archive.
    pub entries: u64,
    /// Bytes of file content hashed.
    pub content_bytes: u64,
    /// The first differences, each naming the entry.
    pub differences: Vec<String>,
    /// All differences, counted.
    pub difference_count: u64,
}

impl VerifyReport {
    fn differ(&mut self, what: String) {
        self.difference_count += 1;
        if self.differences.len() < MAX_SHOWN {
            self.differences.push(what);
        }
    }
}

/// An archive entry as read back.
struct Seen {
    kind: Option<EntryKind>,
    type_byte: u8,
    path: Vec<u8>,
    data: u64,
    size: u64,
    mtime: u64,
    mode: u32,
    uid: u64,
    gid: u64,
    blake3: Option<blake3::Hash>,
    link: Option<Vec<u8>>,
}

/// Reads the stored archive `stored` (compressed as the index says) against `index`.
///
/// # Errors
/// [`ArchiveError::Corrupt`] when the archive cannot be decoded or parsed (naming the entry),
/// [`ArchiveError::Refused`] for a record over its limit ([`mod@super::entries`]),
/// [`ArchiveError::Index`] when the index is damaged.
pub fn verify<R: Read, I: Read>(
    stored: R,
    index: &mut IndexReader<I>,
) -> Result<VerifyReport, ArchiveError> {
    let codec = match index.header().compression {
        Compression::Gzip => Some(blocks::Codec::Gzip(GZIP_LEVEL)),
        Compression::Zstd => Some(blocks::Codec::Zstd(ZSTD_LEVEL)),
        Compression::None => None,
    };
    let corrupt = |entry: &str, source| ArchiveError::Corrupt {
        entry: entry.to_owned(),
        source,
    };
    let mut tracked = Tracked::new(BufReader::with_capacity(1 << 20, stored), codec)
        .map_err(|e| corrupt("the start of the archive", e))?;
    let mut report = VerifyReport::default();
    let mut last = String::from("the start of the archive");
    let mut end = 0u64;
    let mut reader = TarReader::new(&mut tracked);
    {
        let mut entries = reader.entries()?;
        while let Some(mut entry) = entries.next_entry(|| format!("the entry after {last}"))? {
            last = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let listed = index.next_entry()?;
            // Content the index does not account for: the entries after it cannot lie where
            // the index says, and reading it (100 GB declared by a tampered header) would
            // only confirm that. Reported, and the rest is not read.
            let listed_size = listed.as_ref().map_or(0, |l| l.size);
            if entry.size() != listed_size {
                let what = match &listed {
                    None => format!(
                        "{last}: in the archive ({} bytes), not in the index",
                        entry.size()
                    ),
                    Some(l) => format!("{last}: size {}, index {}", entry.size(), l.size),
                };
                report.entries += 1;
                report.differ(what);
                report.differ(format!(
                    "the rest of the archive was not read: after {last}, no entry can be where the index says"
                ));
                return Ok(report);
            }
            let seen = read_entry(&mut entry).map_err(|e| corrupt(&last, e))?;
            report.entries += 1;
            report.content_bytes += if seen.kind == Some(EntryKind::File) {
                seen.size
            } else {
                0
            };
            match listed {
                None => report.differ(format!("{last}: in the archive, not in the index")),
                Some(listed) => compare(&listed, &seen, end, &mut report),
            }
            end = seen.data + seen.size.div_ceil(512) * 512;
        }
    }
    // The end-of-archive records and, for a compressed stream, its trailer: a truncated
    // archive fails here rather than passing as a shorter one.
    reader.finish(&last)?;
    while let Some(missing) = index.next_entry()? {
        report.differ(format!(
            "{}: in the index, not in the archive",
            missing.display()
        ));
    }
    let (points, raw, stored) = tracked.finish();
    if codec.is_some() && points != index.seek_points() {
        report.differ(format!(
            "the archive's {} compressed blocks do not start where the index's {} seek points say",
            points.len(),
            index.seek_points().len()
        ));
    }
    if let Some(totals) = index.totals()
        && (totals.raw, totals.stored) != (raw, stored)
    {
        report.differ(format!(
            "the archive holds {raw} tar bytes stored in {stored}; the index says {} in {}",
            totals.raw, totals.stored
        ));
    }
    Ok(report)
}

fn read_entry<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Seen> {
    let h = entry.header();
    let type_byte = h.entry_type().as_byte();
    let kind = EntryKind::of(h.entry_type());
    let mut seen = Seen {
        kind,
        type_byte,
        path: entry.path_bytes().into_owned(),
        data: entry.raw_file_position(),
        size: entry.size(),
        mtime: h.mtime()?,
        mode: h.mode()? & 0o7777,
        uid: h.uid()?,
        gid: h.gid()?,
        blake3: None,
        link: entry.link_name_bytes().map(std::borrow::Cow::into_owned),
    };
    if kind == Some(EntryKind::File) {
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = entry.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        seen.blake3 = Some(hasher.finalize());
    }
    Ok(seen)
}

fn compare(listed: &IndexEntry, seen: &Seen, start: u64, report: &mut VerifyReport) {
    let name = listed.display();
    if listed.path != seen.path {
        report.differ(format!(
            "{}: the archive holds this entry where the index lists {name}",
            String::from_utf8_lossy(&seen.path)
        ));
        return;
    }
    let Some(kind) = seen.kind else {
        report.differ(format!(
            "{name}: entry type {:?} in the archive is not one haul writes",
            char::from(seen.type_byte)
        ));
        return;
    };
    let mut diffs = Vec::new();
    if listed.kind != kind {
        diffs.push(format!("type {kind:?}, index {:?}", listed.kind));
    }
    if listed.start != start || listed.data != seen.data {
        diffs.push(format!(
            "at {start}/{}, index {}/{}",
            seen.data, listed.start, listed.data
        ));
    }
    let size = if kind == EntryKind::File {
        seen.size
    } else {
        0
    };
    if listed.size != size {
        diffs.push(format!("size {size}, index {}", listed.size));
    }
    if listed.blake3 != seen.blake3 {
        diffs.push(format!(
            "BLAKE3 {}, index {}",
            seen.blake3.map_or("-".into(), |h| h.to_hex().to_string()),
            listed.blake3.map_or("-".into(), |h| h.to_hex().to_string())
        ));
    }
    if (listed.mode, listed.uid, listed.gid, listed.mtime)
        != (seen.mode, seen.uid, seen.gid, seen.mtime)
    {
        diffs.push(format!(
            "mode {:o} owner {}:{} mtime {}, index {:o} {}:{} {}",
            seen.mode,
            seen.uid,
            seen.gid,
            seen.mtime,
            listed.mode,
            listed.uid,
            listed.gid,
            listed.mtime
        ));
    }
    if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) && listed.link != seen.link {
        let show = |l: Option<&[u8]>| l.map(|l| String::from_utf8_lossy(l).into_owned());
        diffs.push(format!(
            "link target {:?}, index {:?}",
            show(seen.link.as_deref()),
            show(listed.link.as_deref())
        ));
    }
    if !diffs.is_empty() {
        report.differ(format!("{name}: {}", diffs.join("; ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::PackOptions;
    use crate::archive::index::{IndexHeader, IndexWriter, Totals};

    /// A plain archive of `a` and `b` and its index.
    fn archive_and_index() -> (Vec<u8>, Vec<u8>) {
        let src = tempfile::tempdir().unwrap();
        fs_err::write(src.path().join("a"), b"first").unwrap();
        fs_err::write(src.path().join("b"), b"second").unwrap();
        let mut index =
            IndexWriter::new(Vec::new(), &IndexHeader::new("t", Compression::None)).unwrap();
        let (_, raw, bytes) =
            crate::archive::pack(src.path(), Vec::new(), PackOptions::default(), &mut |e| {
                index.push(e)
            })
            .unwrap();
        let totals = Totals {
            raw,
            stored: raw,
            etag: None,
        };
        (bytes, index.finish(&[], &totals).unwrap())
    }

    fn check(archive: &[u8], index: &[u8]) -> Result<VerifyReport, ArchiveError> {
        let mut reader = IndexReader::new(index, "t.index")?;
        verify(archive, &mut reader)
    }

    #[test]
    fn a_size_that_differs_from_the_index_ends_the_reading() {
        let (mut bytes, index) = archive_and_index();
        let report = check(&bytes, &index).unwrap();
        assert_eq!(report.difference_count, 0, "{:?}", report.differences);
        // `a` now declares 1 TiB, and the archive holds its few bytes only: read on, the
        // content would be a truncated archive; the size is the difference, the rest unread.
        let at = (0..bytes.len() / 512)
            .map(|i| i * 512)
            .find(|&at| bytes[at..].starts_with(b"a\0"))
            .unwrap();
        let mut h = tar::Header::new_old();
        h.as_mut_bytes().copy_from_slice(&bytes[at..at + 512]);
        h.set_size(1 << 40);
        h.set_cksum();
        bytes[at..at + 512].copy_from_slice(h.as_bytes());
        let report = check(&bytes, &index).unwrap();
        assert_eq!(report.entries, 1);
        assert_eq!(
            report.differences,
            [
                "a: size 1099511627776, index 5".to_owned(),
                "the rest of the archive was not read: after a, no entry can be where the index says"
                    .to_owned()
            ]
        );
        assert_eq!(report.content_bytes, 0);
    }
}
