//! Manifest files from anywhere: the target `manifest_read`.
//!
//! Any bytes (a zstd stream as is, anything else sealed as decompressed text by `sealed`)
//! give entries or a named error, never a panic; what reads has strictly increasing keys;
//! and a manifest that reads to its end is written again by `manifest::Writer` and reads
//! back to the same header and entries.

use std::path::Path;

use engine::manifest::format::MAX_LINE_BYTES;
use engine::manifest::{Entry, FORMAT_VERSION, Header, Reader, Writer};

use crate::sealed;

/// Most entries read before giving up (a few bytes of zstd expand to many lines).
const MAX_ENTRIES: usize = 100_000;

/// The `manifest_read` target.
pub fn manifest_read(data: &[u8]) {
    let file = sealed::file(data, b"f\t");
    let path = Path::new("fuzz.manifest");
    let Ok(reader) = Reader::new(file.as_slice(), path) else {
        return;
    };
    let header = reader.header().clone();
    assert!(
        (1..=FORMAT_VERSION).contains(&header.version),
        "a header read with version {}",
        header.version
    );
    let mut entries: Vec<Entry> = Vec::new();
    for e in reader {
        let Ok(e) = e else { return };
        if let Some(previous) = entries.last() {
            assert!(
                previous.key < e.key,
                "keys out of order: {:?}, {:?}",
                previous.key,
                e.key
            );
        }
        entries.push(e);
        if entries.len() >= MAX_ENTRIES {
            return;
        }
    }

    // The writer escapes raw control characters the reader accepts, so a line near the cap
    // can grow past it when written again: no round trip then.
    let header_too_long = [&header.source, &header.created, &header.haul_version]
        .into_iter()
        .chain(header.shard.as_ref())
        .chain(header.run.as_ref())
        .any(|v| 16 + escaped_len(v) > MAX_LINE_BYTES);
    let entry_too_long = entries.iter().any(|e| {
        // f, tabs, two 20-digit numbers, an 11-digit mode, 64 hex digits, the newline.
        let fixed = 2 + 6 + 20 + 20 + 11 + 64 + 1;
        fixed + escaped_len(&e.key) + e.etag.as_deref().map_or(3, |t| escaped_len(t).max(3))
            > MAX_LINE_BYTES
    });
    if header_too_long || entry_too_long {
        return;
    }

    let mut w = Writer::new(Vec::new(), path, &header).expect("writing to memory");
    for e in &entries {
        w.push(e).expect("entries read in order write in order");
    }
    let out = w.finish().expect("finishing in memory");
    let again = Reader::new(out.as_slice(), path).expect("a written manifest reads");
    assert_eq!(
        again.header(),
        &Header {
            version: FORMAT_VERSION,
            ..header
        },
        "header after a round trip"
    );
    let entries_again: Vec<Entry> = again
        .collect::<Result<_, _>>()
        .expect("a written manifest reads to the end");
    assert_eq!(entries_again, entries, "entries after a round trip");
}

/// Bytes of `s` as the writer escapes it: `%` and ASCII controls take three.
fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if b == b'%' || b.is_ascii_control() {
                3
            } else {
                1
            }
        })
        .sum()
}
