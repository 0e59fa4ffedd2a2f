//! The manifest file: a zstd stream of text lines, a header, entries sorted by key, and a
//! trailer with the BLAKE3 of everything before it. `docs/manifest-format.md` is the spec;
//! this file implements it and nothing else.
//!
//! Both [`Writer`] and [`Reader`] hold one line at a time: memory does not grow with the
//! number of entries. Lines are capped at [`MAX_LINE_BYTES`] when read, so a foreign or
//! damaged file cannot make the reader allocate without bound.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::{Entry, ManifestError};

/// The first line's first field.
pub const MAGIC: &str = "haul-manifest";

/// The format version this code writes and the highest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The longest line accepted when reading: a key of S3's maximum 1,024 bytes escaped to at
/// most three bytes each, plus the other fields, fits with room to spare (chosen, issue 5).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// The zstd level written: level 3 is zstd's default, fast and about 3× on manifests of
/// hex hashes (chosen).
const ZSTD_LEVEL: i32 = 3;

/// The zstd frame magic, little-endian `0xFD2FB528`.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A manifest's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version (read: as declared; written: always [`FORMAT_VERSION`]).
    pub version: u32,
    /// What was hashed: a directory path or `s3://bucket/prefix`.
    pub source: String,
    /// When the manifest was made, RFC 3339.
    pub created: String,
    /// The haul version that made it.
    pub haul_version: String,
    /// `K/N` when it describes shard K of N of a sync (`haul sync --shard`): one part of the
    /// whole, for `haul manifest merge`. Written only when set; absent in older manifests.
    pub shard: Option<String>,
    /// The run the manifest belongs to (`haul sync --run-id`, e.g. a Kubernetes Job's UID):
    /// `haul manifest merge` refuses parts of different runs. Written only when set.
    pub run: Option<String>,
}

impl Header {
    /// A header for `source`, created now by this haul.
    #[must_use]
    pub fn new(source: impl Into<String>) -> Self {
        let created = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Header {
            version: FORMAT_VERSION,
            source: source.into(),
            created,
            haul_version: env!("CARGO_PKG_VERSION").to_owned(),
            shard: None,
            run: None,
        }
    }
}

/// Escapes `%`, control characters (tab and newline among them) and DEL as `%XX`.
pub(crate) fn escape(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    for c in s.chars() {
        if c == '%' || c.is_ascii_control() {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

pub(crate) fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Writes a manifest. Call [`Writer::push`] for each entry in key order, then
/// [`Writer::finish`]; a writer dropped unfinished leaves a file the reader calls truncated.
pub struct Writer<W: Write> {
    out: zstd::stream::write::Encoder<'static, W>,
    checksum: blake3::Hasher,
    path: PathBuf,
    previous: Option<String>,
    count: u64,
    line: String,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl Writer<io::BufWriter<fs_err::File>> {
    /// Creates (or truncates) `path` and writes the header.
    ///
    /// # Errors
    /// [`ManifestError::Io`] naming the path.
    pub fn create(path: &Path, header: &Header) -> Result<Self, ManifestError> {
        let file = fs_err::File::create(path).map_err(|source| ManifestError::Io {
            path: path.to_owned(),
            source,
        })?;
        Writer::new(io::BufWriter::new(file), path, header)
    }
}

impl<W: Write> Writer<W> {
    /// A writer into `out`; `path` names it in errors.
    ///
    /// # Errors
    /// [`ManifestError::Io`] when the header cannot be written.
    pub fn new(out: W, path: &Path, header: &Header) -> Result<Self, ManifestError> {
        let out = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(|source| {
            ManifestError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
        let mut w = Writer {
            out,
            checksum: blake3::Hasher::new(),
            path: path.to_owned(),
            previous: None,
            count: 0,
            line: String::new(),
        };
        w.line = format!("{MAGIC}\t{FORMAT_VERSION}\n");
        for (name, value) in [
            ("source", Some(&header.source)),
            ("created", Some(&header.created)),
            ("haul", Some(&header.haul_version)),
            ("shard", header.shard.as_ref()),
            ("run", header.run.as_ref()),
        ] {
            let Some(value) = value else { continue };
            w.line.push_str(name);
            w.line.push('\t');
            escape(value, &mut w.line);
            w.line.push('\n');
        }
        w.line.push('\n');
        w.emit()?;
        Ok(w)
    }

    fn emit(&mut self) -> Result<(), ManifestError> {
        self.checksum.update(self.line.as_bytes());
        self.out
            .write_all(self.line.as_bytes())
            .map_err(|source| ManifestError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.line.clear();
        Ok(())
    }

    /// Appends an entry; keys must be strictly increasing (byte order).
    ///
    /// # Errors
    /// [`ManifestError::OutOfOrder`], [`ManifestError::Io`].
    pub fn push(&mut self, e: &Entry) -> Result<(), ManifestError> {
        use std::fmt::Write as _;
        if let Some(prev) = &self.previous
            && prev.as_str() >= e.key.as_str()
        {
            return Err(ManifestError::OutOfOrder {
                path: self.path.clone(),
                previous: prev.clone(),
                key: e.key.clone(),
            });
        }
        self.line.push_str("f\t");
        escape(&e.key, &mut self.line);
        let _ = write!(self.line, "\t{}\t{}\t", e.size, e.mtime_ns);
        match e.mode {
            Some(m) => {
                let _ = write!(self.line, "{m:o}");
            }
            None => self.line.push('-'),
        }
        self.line.push('\t');
        self.line.push_str(e.hash.to_hex().as_str());
        self.line.push('\t');
        match &e.etag {
            // A tag that is exactly `-` is escaped, so it cannot read back as "no tag".
            Some(t) if t == "-" => self.line.push_str("%2D"),
            Some(t) if !t.is_empty() => escape(t, &mut self.line),
            _ => self.line.push('-'),
        }
        self.line.push('\n');
        self.emit()?;
        self.previous = Some(e.key.clone());
        self.count += 1;
        Ok(())
    }

    /// Entries written so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the trailer, ends the zstd frame and flushes; returns the inner writer.
    ///
    /// # Errors
    /// [`ManifestError::Io`].
    pub fn finish(mut self) -> Result<W, ManifestError> {
        let sum = self.checksum.finalize();
        let trailer = format!("end\t{}\t{}\n", self.count, sum.to_hex());
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ManifestError::Io { path, source }
        };
        self.out
            .write_all(trailer.as_bytes())
            .map_err(io(&self.path))?;
        let path = self.path.clone();
        let mut inner = self.out.finish().map_err(io(&path))?;
        inner.flush().map_err(io(&path))?;
        Ok(inner)
    }
}

/// Reads a manifest: the header at once, then entries as an iterator. The checksum and the
/// count are checked when the trailer is reached, so a consumer must drain the iterator
/// (until `None`) before trusting what it read; an error ends the iteration.
pub struct Reader<R: Read> {
    input: BufReader<zstd::stream::read::Decoder<'static, BufReader<R>>>,
    header: Header,
    path: PathBuf,
    checksum: blake3::Hasher,
    line_no: u64,
    count: u64,
    previous: Option<String>,
    buf: Vec<u8>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Reader<fs_err::File> {
    /// Opens `path` and reads its header.
    ///
    /// # Errors
    /// [`ManifestError`] naming the path: IO, foreign, unsupported version, truncated, damaged.
    pub fn open(path: &Path) -> Result<Self, ManifestError> {
        let file = fs_err::File::open(path).map_err(|source| ManifestError::Io {
            path: path.to_owned(),
            source,
        })?;
        Reader::new(file, path)
    }
}

/// Which error a failed line read becomes.
enum LineError {
    Eof,
    TooLong,
    Io(io::Error),
}

impl<R: Read> Reader<R> {
    /// A reader of `input`; `path` names it in errors. Reads the header.
    ///
    /// # Errors
    /// As [`Reader::open`].
    pub fn new(input: R, path: &Path) -> Result<Self, ManifestError> {
        let mut raw = BufReader::new(input);
        let head = raw.fill_buf().map_err(|source| ManifestError::Io {
            path: path.to_owned(),
            source,
        })?;
        if !head.starts_with(&ZSTD_MAGIC) {
            let what = if head.is_empty() {
                "the file is empty".to_owned()
            } else {
                "it does not start with a zstd frame".to_owned()
            };
            return Err(ManifestError::Foreign {
                path: path.to_owned(),
                what,
            });
        }
        let decoder =
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|source| ManifestError::Io {
                path: path.to_owned(),
                source,
            })?;
        let mut r = Reader {
            input: BufReader::new(decoder),
            header: Header {
                version: 0,
                source: String::new(),
                created: String::new(),
                haul_version: String::new(),
                shard: None,
                run: None,
            },
            path: path.to_owned(),
            checksum: blake3::Hasher::new(),
            line_no: 0,
            count: 0,
            previous: None,
            buf: Vec::new(),
            done: false,
        };
        r.read_header()?;
        Ok(r)
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The path errors name.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn damaged(&self, what: impl Into<String>) -> ManifestError {
        ManifestError::Damaged {
            path: self.path.clone(),
            line: self.line_no,
            what: what.into(),
        }
    }

    fn line_error(&self, e: LineError, expected: &str) -> ManifestError {
        match e {
            LineError::Eof => ManifestError::Truncated {
                path: self.path.clone(),
                what: format!(
                    "ends after line {} where {expected} should be",
                    self.line_no
                ),
            },
            LineError::TooLong => {
                self.damaged(format!("a line longer than {MAX_LINE_BYTES} bytes"))
            }
            LineError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                ManifestError::Truncated {
                    path: self.path.clone(),
                    what: format!("the compressed stream stops after line {}", self.line_no),
                }
            }
            LineError::Io(e) => self.damaged(format!("cannot decompress: {e}")),
        }
    }

    /// Reads one line into `buf` (without the newline), adding it to the checksum unless
    /// it is the trailer (the caller decides after looking).
    fn read_line(&mut self) -> Result<(), LineError> {
        self.buf.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(LineError::Io)?;
        if n == 0 {
            return Err(LineError::Eof);
        }
        if self.buf.last() != Some(&b'\n') {
            return Err(if n as u64 >= limit {
                LineError::TooLong
            } else {
                LineError::Eof
            });
        }
        self.line_no += 1;
        Ok(())
    }

    fn line_str(&self) -> Result<&str, ManifestError> {
        let bytes = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        std::str::from_utf8(bytes).map_err(|_| self.damaged("a line that is not UTF-8"))
    }

    fn read_header(&mut self) -> Result<(), ManifestError> {
        if let Err(e) = self.read_line() {
            return Err(match e {
                LineError::Io(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
                    ManifestError::Foreign {
                        path: self.path.clone(),
                        what: format!("its zstd stream cannot be decoded: {e}"),
                    }
                }
                e => self.line_error(e, "the header"),
            });
        }
        self.checksum.update(&self.buf);
        let first =
            String::from_utf8_lossy(self.buf.strip_suffix(b"\n").unwrap_or(&self.buf)).into_owned();
        let Some((magic, version)) = first.split_once('\t') else {
            return Err(self.foreign(&first));
        };
        if magic != MAGIC {
            return Err(self.foreign(&first));
        }
        let version: u32 = version
            .parse()
            .map_err(|_| self.damaged(format!("version {version:?} is not a number")))?;
        if version > FORMAT_VERSION || version == 0 {
            return Err(ManifestError::UnsupportedVersion {
                path: self.path.clone(),
                version,
            });
        }
        self.header.version = version;
        loop {
            self.read_line()
                .map_err(|e| self.line_error(e, "the header"))?;
            self.checksum.update(&self.buf);
            let line = self.line_str()?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once('\t') else {
                return Err(self.damaged("a header line without a tab"));
            };
            let value = unescape(value).ok_or_else(|| self.damaged("a bad %-escape"))?;
            match name {
                "source" => self.header.source = value,
                "created" => self.header.created = value,
                "haul" => self.header.haul_version = value,
                "shard" => self.header.shard = Some(value),
                "run" => self.header.run = Some(value),
                // Unknown header fields are ignored: a later minor addition stays readable.
                _ => {}
            }
        }
        Ok(())
    }

    fn foreign(&self, first: &str) -> ManifestError {
        let shown: String = first.chars().take(40).collect();
        ManifestError::Foreign {
            path: self.path.clone(),
            what: format!("a zstd stream starting {shown:?}"),
        }
    }

    fn next_entry(&mut self) -> Result<Option<Entry>, ManifestError> {
        self.read_line()
            .map_err(|e| self.line_error(e, "an entry or the trailer"))?;
        let line = self.line_str()?.to_owned();
        let mut fields = line.split('\t');
        match fields.next() {
            Some("f") => {}
            Some("end") => {
                let count = fields.next().and_then(|c| c.parse::<u64>().ok());
                let sum = fields.next().and_then(|s| blake3::Hash::from_hex(s).ok());
                let (Some(count), Some(sum), None) = (count, sum, fields.next()) else {
                    return Err(self.damaged("a malformed trailer"));
                };
                if count != self.count {
                    return Err(self.damaged(format!(
                        "the trailer counts {count} entries, the file holds {}",
                        self.count
                    )));
                }
                if sum != self.checksum.finalize() {
                    return Err(self.damaged("the checksum does not match the content"));
                }
                // Nothing may follow the trailer.
                let mut rest = [0u8; 1];
                match self.input.read(&mut rest) {
                    Ok(0) => return Ok(None),
                    Ok(_) => return Err(self.damaged("bytes after the trailer")),
                    Err(e) => return Err(self.line_error(LineError::Io(e), "the end")),
                }
            }
            _ => return Err(self.damaged("a line that is neither an entry nor the trailer")),
        }
        self.checksum.update(&self.buf);
        let entry = self.parse_entry(fields)?;
        if let Some(prev) = &self.previous
            && prev.as_str() >= entry.key.as_str()
        {
            return Err(self.damaged(format!(
                "key {:?} does not follow {prev:?} in order",
                entry.key
            )));
        }
        self.previous = Some(entry.key.clone());
        self.count += 1;
        Ok(Some(entry))
    }

    fn parse_entry<'a>(
        &self,
        mut fields: impl Iterator<Item = &'a str>,
    ) -> Result<Entry, ManifestError> {
        let mut field = |name: &str| {
            fields
                .next()
                .ok_or_else(|| self.damaged(format!("an entry without its {name}")))
        };
        let key = unescape(field("key")?).ok_or_else(|| self.damaged("a bad %-escape in a key"))?;
        let size = field("size")?
            .parse::<u64>()
            .map_err(|_| self.damaged("a size that is not a number"))?;
        let mtime_ns = field("mtime")?
            .parse::<i64>()
            .map_err(|_| self.damaged("an mtime that is not a number"))?;
        let mode = match field("mode")? {
            "-" => None,
            m => Some(
                u32::from_str_radix(m, 8).map_err(|_| self.damaged("a mode that is not octal"))?,
            ),
        };
        let hash = blake3::Hash::from_hex(field("blake3")?)
            .map_err(|_| self.damaged("a BLAKE3 that is not 64 hex digits"))?;
        let etag = match field("etag")? {
            // The writer writes an empty tag as unknown: an empty field reads as one too.
            "-" | "" => None,
            t => Some(unescape(t).ok_or_else(|| self.damaged("a bad %-escape in an etag"))?),
        };
        if fields.next().is_some() {
            return Err(self.damaged("an entry with more than 6 fields"));
        }
        Ok(Entry {
            key,
            size,
            mtime_ns,
            mode,
            hash,
            etag,
        })
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Entry, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        (
            "\\PC{0,12}|[a-z/%\t\n]{0,8}",
            any::<u64>(),
            any::<i64>(),
            proptest::option::of(any::<u32>()),
            any::<[u8; 32]>(),
            proptest::option::of("[a-f0-9-]{1,20}"),
        )
            .prop_map(|(key, size, mtime_ns, mode, hash, etag)| Entry {
                key,
                size,
                mtime_ns,
                mode,
                hash: blake3::Hash::from_bytes(hash),
                etag,
            })
    }

    fn write(entries: &[Entry]) -> Vec<u8> {
        let header = Header::new("src\twith tab");
        let mut w = Writer::new(Vec::new(), Path::new("m"), &header).unwrap();
        for e in entries {
            w.push(e).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn an_empty_etag_field_reads_as_unknown_as_it_is_written() {
        // Found by the manifest_read fuzz target: an empty ETag field read as `Some("")`,
        // which the writer writes as `-`, so the manifest did not read back the same.
        let text = format!(
            "{MAGIC}\t1\nsource\ts\n\nf\ta\t1\t2\t-\t{}\t\n",
            blake3::hash(b"x").to_hex()
        );
        let trailer = format!("end\t1\t{}\n", blake3::hash(text.as_bytes()).to_hex());
        let bytes = zstd::encode_all(format!("{text}{trailer}").as_bytes(), 1).unwrap();
        let (_, entries) = read(&bytes).unwrap();
        assert_eq!(entries[0].etag, None);
        let written = write(&entries);
        assert_eq!(read(&written).unwrap().1, entries);
    }

    #[test]
    fn a_shard_header_round_trips_and_is_absent_otherwise() {
        let header = Header {
            shard: Some("3/8".to_owned()),
            run: Some("job\t7".to_owned()),
            ..Header::new("s")
        };
        let w = Writer::new(Vec::new(), Path::new("m"), &header).unwrap();
        let bytes = w.finish().unwrap();
        let back = read(&bytes).unwrap().0;
        assert_eq!(back.shard.as_deref(), Some("3/8"));
        assert_eq!(back.run.as_deref(), Some("job\t7"));
        let plain = read(&write(&[])).unwrap().0;
        assert_eq!((plain.shard, plain.run), (None, None));
    }

    fn read(bytes: &[u8]) -> Result<(Header, Vec<Entry>), ManifestError> {
        let r = Reader::new(bytes, Path::new("m"))?;
        let h = r.header().clone();
        let v = r.collect::<Result<Vec<_>, _>>()?;
        Ok((h, v))
    }

    fn sorted(mut v: Vec<Entry>) -> Vec<Entry> {
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v.dedup_by(|a, b| a.key == b.key);
        v
    }

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::vec(entry_strategy(), 0..40)) {
            let entries = sorted(entries);
            let bytes = write(&entries);
            let (h, back) = read(&bytes).unwrap();
            prop_assert_eq!(h.source.as_str(), "src\twith tab");
            prop_assert_eq!(h.version, FORMAT_VERSION);
            prop_assert_eq!(back, entries);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = read(&bytes);
            let mut framed = ZSTD_MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = read(&framed);
        }

        #[test]
        fn any_truncation_or_harmful_flip_is_detected(
            entries in proptest::collection::vec(entry_strategy(), 1..20),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let entries = sorted(entries);
            let bytes = write(&entries);
            let at = cut.index(bytes.len());
            prop_assert!(read(&bytes[..at]).is_err());
            let mut damaged = bytes.clone();
            let i = flip.index(damaged.len());
            damaged[i] ^= 0x01;
            // A flip in the zstd frame header that leaves the decompressed stream intact
            // (an unused descriptor bit) is harmless; any other is an error.
            match read(&damaged) {
                Err(_) => {}
                Ok((_, back)) => prop_assert_eq!(back, entries),
            }
        }

        #[test]
        fn compressed_garbage_of_a_manifest_shape_is_damaged(lines in "[a-z\t\n0-9]{0,200}") {
            let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
            enc.write_all(format!("{MAGIC}\t1\n\n{lines}").as_bytes()).unwrap();
            let bytes = enc.finish().unwrap();
            prop_assert!(read(&bytes).is_err());
        }
    }

    #[test]
    fn errors_name_the_kind_of_damage() {
        let e = Entry {
            key: "a".into(),
            size: 1,
            mtime_ns: 2,
            mode: Some(0o100_644),
            hash: blake3::hash(b"x"),
            etag: None,
        };
        let bytes = write(std::slice::from_ref(&e));
        assert!(matches!(
            read(&bytes[..bytes.len() - 3]),
            Err(ManifestError::Truncated { .. })
        ));
        assert!(matches!(
            read(b"PK\x03\x04 not a manifest"),
            Err(ManifestError::Foreign { .. })
        ));
        assert!(matches!(read(b""), Err(ManifestError::Foreign { .. })));
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.write_all(b"hello world\n").unwrap();
        assert!(matches!(
            read(&enc.finish().unwrap()),
            Err(ManifestError::Foreign { .. })
        ));
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.write_all(b"haul-manifest\t9\n\n").unwrap();
        assert!(matches!(
            read(&enc.finish().unwrap()),
            Err(ManifestError::UnsupportedVersion { version: 9, .. })
        ));
        let mut w = Writer::new(Vec::new(), Path::new("m"), &Header::new("s")).unwrap();
        w.push(&e).unwrap();
        assert!(matches!(w.push(&e), Err(ManifestError::OutOfOrder { .. })));
    }
}
