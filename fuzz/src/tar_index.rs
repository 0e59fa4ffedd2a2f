//! Tar indexes from anywhere (`KEY.index` beside an archive): the target `tar_index`.
//!
//! Any bytes (a zstd stream as is, anything else sealed as decompressed text by `sealed`)
//! give entries or a named error, never a panic; what reads holds the invariants the reader
//! promises (`docs/tar-index.md`); and an index that reads completely is written again by
//! `IndexWriter` to the same header, entries, seek points and totals.

use engine::archive::index::{
    EntryKind, FORMAT_VERSION, IndexEntry, IndexHeader, IndexReader, IndexWriter, MAX_LINE_BYTES,
    SeekPoint, Totals,
};

use crate::sealed;

/// Entries read before giving up (a few bytes of zstd expand to many lines).
const MAX_ENTRIES: usize = 100_000;
/// Bytes of paths and link targets held before giving up.
const MAX_HELD_BYTES: usize = 64 << 20;
/// An entry line less its path and link target: the type, seven numbers of at most 20
/// digits, a BLAKE3 in hex, the tabs and the newline (218 bytes), rounded up.
const ENTRY_LINE_OVERHEAD: usize = 256;

/// The `tar_index` target.
pub fn tar_index(data: &[u8]) {
    let file = sealed::file(data, b"e\t");
    let Ok(mut reader) = IndexReader::new(file.as_slice(), "fuzz") else {
        return;
    };
    let header = reader.header().clone();
    assert!(
        (1..=FORMAT_VERSION).contains(&header.version),
        "a header read with version {}",
        header.version
    );
    let mut entries: Vec<IndexEntry> = Vec::new();
    let mut held = 0usize;
    loop {
        match reader.next_entry() {
            Ok(Some(e)) => {
                check_entry(&e, entries.last());
                held += e.path.len() + e.link.as_ref().map_or(0, Vec::len);
                entries.push(e);
                if entries.len() >= MAX_ENTRIES || held >= MAX_HELD_BYTES {
                    return;
                }
            }
            Ok(None) => break,
            Err(_) => return,
        }
    }
    assert!(
        matches!(reader.next_entry(), Ok(None)),
        "an index read to its end reads no more"
    );
    let points = reader.seek_points().to_vec();
    let totals = reader
        .totals()
        .cloned()
        .expect("totals once the last entry was read");
    check_tail(&entries, &points, &totals);

    // The writer escapes raw bytes that are not UTF-8, which the reader accepts unescaped,
    // so a line near the cap can grow past it when written again: no round trip then.
    if entries.iter().any(|e| {
        let link = match e.link.as_deref() {
            None => 1,
            Some(b"-") => 3,
            Some(l) => escaped_len(l),
        };
        escaped_len(&e.path) + link + ENTRY_LINE_OVERHEAD > MAX_LINE_BYTES
    }) {
        return;
    }

    // Every field of the header is kept (created and haul too, which `IndexHeader::new` would
    // set to now and this haul); the version is the one the writer writes.
    let rewrite = IndexHeader {
        version: FORMAT_VERSION,
        archive: header.archive.clone(),
        created: header.created.clone(),
        haul_version: header.haul_version.clone(),
        compression: header.compression,
    };
    let mut w = IndexWriter::new(Vec::new(), &rewrite).expect("writing to memory");
    for e in &entries {
        w.push(e).expect("writing to memory");
    }
    let out = w.finish(&points, &totals).expect("finishing in memory");

    let mut again = IndexReader::new(out.as_slice(), "fuzz").expect("a written index reads");
    let mut entries_again = Vec::with_capacity(entries.len());
    while let Some(e) = again
        .next_entry()
        .expect("a written index reads to the end")
    {
        entries_again.push(e);
    }
    assert_eq!(again.header(), &rewrite, "header after a round trip");
    assert_eq!(entries_again, entries, "entries after a round trip");
    assert_eq!(
        again.seek_points(),
        points.as_slice(),
        "seek points after a round trip"
    );
    let totals_again = again.totals().expect("totals of a written index");
    assert_eq!(
        totals_again,
        &Totals {
            etag: etag_as_written(totals.etag.as_ref()),
            ..totals
        },
        "totals after a round trip"
    );
}

/// What the reader promises of each entry it returns (docs/tar-index.md).
fn check_entry(e: &IndexEntry, previous: Option<&IndexEntry>) {
    assert!(!e.path.is_empty(), "an entry without a path");
    assert!(
        e.start.is_multiple_of(512) && e.data.is_multiple_of(512) && e.data > e.start,
        "offsets {}/{} are not tar records",
        e.start,
        e.data
    );
    if let Some(p) = previous {
        assert!(e.start >= p.end(), "entries overlap");
    }
    assert!(
        e.size
            .div_ceil(512)
            .checked_mul(512)
            .and_then(|n| e.data.checked_add(n))
            .is_some(),
        "an entry ending past u64"
    );
    assert_eq!(
        e.kind == EntryKind::File,
        e.blake3.is_some(),
        "a hash on a non-file"
    );
    assert!(
        e.kind == EntryKind::File || e.size == 0,
        "a size on a non-file"
    );
    assert_eq!(
        matches!(e.kind, EntryKind::Symlink | EntryKind::Hardlink),
        e.link.is_some(),
        "a link target on a non-link"
    );
    assert!(e.mode <= 0o7777, "mode {:o}", e.mode);
}

/// What the reader promises of the seek points and totals.
fn check_tail(entries: &[IndexEntry], points: &[SeekPoint], totals: &Totals) {
    if let Some(first) = points.first() {
        assert_eq!(*first, SeekPoint { raw: 0, stored: 0 }, "first seek point");
    }
    for w in points.windows(2) {
        assert!(
            w[1].raw > w[0].raw && w[1].stored > w[0].stored,
            "seek points out of order"
        );
    }
    if let Some(last) = entries.last() {
        assert!(totals.raw >= last.end(), "entries past the size");
    }
    if let Some(last) = points.last() {
        assert!(last.raw < totals.raw.max(1), "a seek point past the size");
    }
}

/// The writer writes an empty tag, and one that is just `-`, as none (`-`).
fn etag_as_written(etag: Option<&String>) -> Option<String> {
    etag.filter(|t| !t.is_empty() && *t != "-").cloned()
}

/// Bytes of `bytes` %-escaped as the writer does: `%`, ASCII controls and bytes that are not
/// UTF-8 take three.
fn escaped_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| {
            let valid: usize = c
                .valid()
                .bytes()
                .map(|b| {
                    if b == b'%' || b.is_ascii_control() {
                        3
                    } else {
                        1
                    }
                })
                .sum();
            valid + 3 * c.invalid().len()
        })
        .sum()
}
