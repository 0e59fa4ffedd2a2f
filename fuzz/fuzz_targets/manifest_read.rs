//! Manifest files from disk: any bytes give entries or a named error, never a panic; a
//! manifest that reads completely is written again to the same entries.
#![no_main]

use std::path::Path;

use engine::manifest::{Reader, Writer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.manifest");
    let Ok(reader) = Reader::new(data, path) else {
        return;
    };
    let header = reader.header().clone();
    let mut entries = Vec::new();
    for e in reader {
        match e {
            Ok(e) => entries.push(e),
            Err(_) => return,
        }
    }
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out, path, &header).expect("writing to memory");
    for e in &entries {
        w.push(e).expect("entries read in order write in order");
    }
    w.finish().expect("finishing in memory");
    let again: Vec<_> = Reader::new(out.as_slice(), path)
        .expect("a written manifest reads")
        .collect::<Result<_, _>>()
        .expect("a written manifest reads to the end");
    assert_eq!(again, entries);
});
