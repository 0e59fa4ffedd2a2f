//! The envelope manifests and tar indexes share: a zstd stream of text lines ending in
//! `end<TAB>COUNT<TAB>BLAKE3` over everything before it (`docs/manifest-format.md`,
//! `docs/tar-index.md`).
//!
//! Random bytes almost never decompress, and a random text never carries its own checksum,
//! so the `manifest_read` and `tar_index` targets read an input that is not a zstd stream as
//! the decompressed text and seal it here: the count of entry lines and the checksum are
//! computed, the trailer appended, the whole compressed. The reader's line parsing is then
//! what the fuzzer explores.

/// The zstd frame magic.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// `data` as a file: as is when it is a zstd stream, else sealed (see the module docs);
/// `entry` is the prefix of an entry line (`f\t` or `e\t`).
#[must_use]
pub fn file(data: &[u8], entry: &[u8]) -> Vec<u8> {
    if data.starts_with(&ZSTD_MAGIC) {
        return data.to_vec();
    }
    let mut text = data.to_vec();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    // Entry lines come after the empty line that ends the header.
    let count = text
        .split(|&b| b == b'\n')
        .skip_while(|line| !line.is_empty())
        .filter(|line| line.starts_with(entry))
        .count();
    let checksum = blake3::hash(&text);
    text.extend_from_slice(format!("end\t{count}\t{}\n", checksum.to_hex()).as_bytes());
    zstd::encode_all(text.as_slice(), 1).expect("compressing in memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_text_with_count_and_checksum() {
        let sealed = file(b"magic\t1\nh\tv\n\nf\ta\nf\tb", b"f\t");
        let text = zstd::decode_all(sealed.as_slice()).unwrap();
        let text = String::from_utf8(text).unwrap();
        let sum = blake3::hash(b"magic\t1\nh\tv\n\nf\ta\nf\tb\n").to_hex();
        assert!(text.ends_with(&format!("f\tb\nend\t2\t{sum}\n")), "{text}");
        assert_eq!(file(&sealed, b"f\t"), sealed);
    }
}
