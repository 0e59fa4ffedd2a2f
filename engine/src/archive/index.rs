//! The tar index: a file beside an archive (`KEY.index`) that lists every entry with its
//! offsets, size and BLAKE3, and the compressed stream's seek points, so that
//! `haul tar verify` checks an archive without extracting it and `haul tar pull --only`
//! fetches just the bytes of the entries it restores. `docs/tar-index.md` is the spec; this
//! file implements it.
//!
//! Like a manifest, an index is a zstd stream of text lines ending in a trailer that holds the
//! BLAKE3 of everything before it; [`IndexWriter`] and [`IndexReader`] hold one line at a time,
//! and lines are capped at [`MAX_LINE_BYTES`] when read, so a hostile index cannot make the
//! reader allocate without bound.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::Compression;

/// The first line's first field.
pub const MAGIC: &str = "haul-tar-index";
/// The format version written and the highest read.
pub const FORMAT_VERSION: u32 = 1;
/// The longest line accepted: two paths of `PATH_MAX` (4,096 bytes) escaped to three bytes
/// each, plus the other fields, fit (chosen).
pub const MAX_LINE_BYTES: usize = 32 * 1024;
/// zstd level of the index (zstd's default).
const ZSTD_LEVEL: i32 = 3;
/// The zstd frame magic.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// A tar record.
const RECORD: u64 = 512;

/// The kind of an archive entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (the only kind with content).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier entry.
    Hardlink,
    /// A named pipe.
    Fifo,
    /// A character device.
    Char,
    /// A block device.
    Block,
}

impl EntryKind {
    fn letter(self) -> u8 {
        match self {
            Self::File => b'f',
            Self::Dir => b'd',
            Self::Symlink => b'l',
            Self::Hardlink => b'h',
            Self::Fifo => b'p',
            Self::Char => b'c',
            Self::Block => b'b',
        }
    }

    fn from_letter(b: &[u8]) -> Option<Self> {
        Some(match b {
            b"f" => Self::File,
            b"d" => Self::Dir,
            b"l" => Self::Symlink,
            b"h" => Self::Hardlink,
            b"p" => Self::Fifo,
            b"c" => Self::Char,
            b"b" => Self::Block,
            _ => return None,
        })
    }

    /// The kind of a tar entry type, if haul indexes it.
    #[must_use]
    pub fn of(t: tar::EntryType) -> Option<Self> {
        use tar::EntryType as T;
        Some(match t {
            T::Regular | T::Continuous => Self::File,
            T::Directory => Self::Dir,
            T::Symlink => Self::Symlink,
            T::Link => Self::Hardlink,
            T::Fifo => Self::Fifo,
            T::Char => Self::Char,
            T::Block => Self::Block,
            _ => return None,
        })
    }
}

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// What it is.
    pub kind: EntryKind,
    /// Its path in the archive, as bytes (directories end with `/`).
    pub path: Vec<u8>,
    /// Offset in the uncompressed tar stream of its first record (a GNU long-name record
    /// when it has one).
    pub start: u64,
    /// Offset in the uncompressed tar stream of its content (just after its header).
    pub data: u64,
    /// Bytes of content (0 for everything but files).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// BLAKE3 of the content (files only).
    pub blake3: Option<blake3::Hash>,
    /// Target of a symlink or hard link.
    pub link: Option<Vec<u8>>,
}

impl IndexEntry {
    /// Offset just past its content and padding: where the next entry starts.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.data + self.size.div_ceil(RECORD) * RECORD
    }

    /// The path for messages (lossy UTF-8).
    #[must_use]
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Where a compressed member (gzip) or frame (zstd) starts: its offset in the uncompressed
/// tar stream and in the stored (compressed) archive. Decompression can begin at any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeekPoint {
    /// Offset in the uncompressed stream.
    pub raw: u64,
    /// Offset in the stored archive.
    pub stored: u64,
}

/// The archive's totals, known once it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    /// Bytes of the uncompressed tar stream.
    pub raw: u64,
    /// Bytes of the stored archive.
    pub stored: u64,
    /// The stored object's ETag (an archive on S3), pinning ranged reads to it.
    pub etag: Option<String>,
}

/// An index's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHeader {
    /// The format version.
    pub version: u32,
    /// Where the archive was written (`s3://bucket/key` or a path).
    pub archive: String,
    /// When, RFC 3339.
    pub created: String,
    /// The haul that wrote it.
    pub haul_version: String,
    /// The archive's compression.
    pub compression: Compression,
}

impl IndexHeader {
    /// A header for `archive`, written now by this haul.
    #[must_use]
    pub fn new(archive: impl Into<String>, compression: Compression) -> Self {
        Self {
            version: FORMAT_VERSION,
            archive: archive.into(),
            created: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            haul_version: env!("CARGO_PKG_VERSION").to_owned(),
            compression,
        }
    }
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
        Compression::None => "none",
    }
}

/// Escapes `%`, ASCII control characters, DEL and bytes that are not UTF-8 as `%XX`.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    fn hex(b: u8, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        out.push(b'%');
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
    for chunk in bytes.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            if b == b'%' || b.is_ascii_control() {
                hex(b, out);
            } else {
                out.push(b);
            }
        }
        for &b in chunk.invalid() {
            hex(b, out);
        }
    }
}

/// Decodes every `%XX`; `None` for a malformed escape or a raw tab, newline or control byte.
fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hi = char::from(*s.get(i + 1)?).to_digit(16)?;
            let lo = char::from(*s.get(i + 2)?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else if b.is_ascii_control() {
            return None;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Writes an index as the archive is packed: the header at once, an entry per call, the
/// seek points and totals at [`IndexWriter::finish`].
pub struct IndexWriter<W: Write> {
    out: zstd::stream::write::Encoder<'static, W>,
    checksum: blake3::Hasher,
    count: u64,
    line: Vec<u8>,
    end: u64,
}

impl<W: Write> std::fmt::Debug for IndexWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<W: Write> IndexWriter<W> {
    /// Starts an index in `out`.
    ///
    /// # Errors
    /// Writing `out`.
    pub fn new(out: W, header: &IndexHeader) -> io::Result<Self> {
        let mut w = Self {
            out: zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?,
            checksum: blake3::Hasher::new(),
            count: 0,
            line: Vec::new(),
            end: 0,
        };
        w.line = format!("{MAGIC}\t{FORMAT_VERSION}\n").into_bytes();
        for (name, value) in [
            ("archive", header.archive.as_str()),
            ("created", header.created.as_str()),
            ("haul", header.haul_version.as_str()),
            ("compression", compression_name(header.compression)),
        ] {
            w.line.extend_from_slice(name.as_bytes());
            w.line.push(b'\t');
            escape(value.as_bytes(), &mut w.line);
            w.line.push(b'\n');
        }
        w.line.push(b'\n');
        w.emit()?;
        Ok(w)
    }

    fn emit(&mut self) -> io::Result<()> {
        self.checksum.update(&self.line);
        self.out.write_all(&self.line)?;
        self.line.clear();
        Ok(())
    }

    /// Appends an entry (entries come in archive order).
    ///
    /// # Errors
    /// Writing the index.
    pub fn push(&mut self, e: &IndexEntry) -> io::Result<()> {
        use std::io::Write as _;
        self.line
            .extend_from_slice(&[b'e', b'\t', e.kind.letter(), b'\t']);
        escape(&e.path, &mut self.line);
        write!(
            self.line,
            "\t{}\t{}\t{}\t{}\t{:o}\t{}\t{}\t",
            e.start, e.data, e.size, e.mtime, e.mode, e.uid, e.gid
        )?;
        match &e.blake3 {
            Some(h) => self.line.extend_from_slice(h.to_hex().as_bytes()),
            None => self.line.push(b'-'),
        }
        self.line.push(b'\t');
        match &e.link {
            Some(l) if l.as_slice() == b"-" => self.line.extend_from_slice(b"%2D"),
            Some(l) => escape(l, &mut self.line),
            None => self.line.push(b'-'),
        }
        self.line.push(b'\n');
        self.emit()?;
        self.count += 1;
        self.end = e.end();
        Ok(())
    }

    /// Writes the seek points, the totals and the trailer; returns the inner writer.
    ///
    /// # Errors
    /// Writing the index.
    pub fn finish(mut self, points: &[SeekPoint], totals: &Totals) -> io::Result<W> {
        use std::io::Write as _;
        for p in points {
            writeln!(self.line, "m\t{}\t{}", p.raw, p.stored)?;
            self.emit()?;
        }
        write!(self.line, "size\t{}\t{}\t", totals.raw, totals.stored)?;
        match &totals.etag {
            Some(t) if !t.is_empty() && t != "-" => escape(t.as_bytes(), &mut self.line),
            _ => self.line.push(b'-'),
        }
        self.line.push(b'\n');
        self.emit()?;
        let trailer = format!(
            "end\t{}\t{}\n",
            self.count,
            self.checksum.finalize().to_hex()
        );
        self.out.write_all(trailer.as_bytes())?;
        let mut inner = self.out.finish()?;
        inner.flush()?;
        Ok(inner)
    }
}

/// Why an index cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading it failed.
    #[error("{name}: {source}")]
    Io {
        /// The index's name.
        name: String,
        /// The cause.
        source: io::Error,
    },
    /// Not an index at all.
    #[error("{name}: not a haul tar index ({what})")]
    Foreign {
        /// The index's name.
        name: String,
        /// What it looks like.
        what: String,
    },
    /// A version this haul does not read.
    #[error(
        "{name}: tar index format version {version} is not supported (this haul reads {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The index's name.
        name: String,
        /// The version it declares.
        version: u32,
    },
    /// It ends before its trailer.
    #[error("{name}: tar index is truncated ({what})")]
    Truncated {
        /// The index's name.
        name: String,
        /// Where.
        what: String,
    },
    /// A malformed or inconsistent line, or a checksum that does not match.
    #[error("{name}: tar index is damaged at line {line}: {what}")]
    Damaged {
        /// The index's name.
        name: String,
        /// The line (1-based, decompressed).
        line: u64,
        /// What is wrong.
        what: String,
    },
}

/// Reads an index: the header at once, entries one at a time ([`IndexReader::next_entry`]),
/// then the seek points and totals, available once `next_entry` has returned `None` (which
/// it does only after the trailer's count and checksum checked out).
pub struct IndexReader<R: Read> {
    input: BufReader<zstd::stream::read::Decoder<'static, BufReader<R>>>,
    name: String,
    header: IndexHeader,
    checksum: blake3::Hasher,
    line_no: u64,
    count: u64,
    buf: Vec<u8>,
    /// Where the previous entry ended.
    end: u64,
    /// A line read ahead (the first line after the entries).
    pending: bool,
    points: Vec<SeekPoint>,
    totals: Option<Totals>,
}

impl<R: Read> std::fmt::Debug for IndexReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("name", &self.name)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// A field of a line, parsed.
fn num<T: std::str::FromStr>(field: Option<&[u8]>) -> Option<T> {
    std::str::from_utf8(field?).ok()?.parse().ok()
}

impl<R: Read> IndexReader<R> {
    /// Reads the header of the index in `input`; `name` names it in errors.
    ///
    /// # Errors
    /// [`IndexError`]: foreign, unsupported version, truncated, damaged.
    pub fn new(input: R, name: &str) -> Result<Self, IndexError> {
        let mut raw = BufReader::new(input);
        let head = raw.fill_buf().map_err(|source| IndexError::Io {
            name: name.to_owned(),
            source,
        })?;
        if !head.starts_with(&ZSTD_MAGIC) {
            return Err(IndexError::Foreign {
                name: name.to_owned(),
                what: if head.is_empty() {
                    "it is empty".into()
                } else {
                    "it does not start with a zstd frame".into()
                },
            });
        }
        let decoder =
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|source| IndexError::Io {
                name: name.to_owned(),
                source,
            })?;
        let mut r = Self {
            input: BufReader::new(decoder),
            name: name.to_owned(),
            header: IndexHeader {
                version: 0,
                archive: String::new(),
                created: String::new(),
                haul_version: String::new(),
                compression: Compression::None,
            },
            checksum: blake3::Hasher::new(),
            line_no: 0,
            count: 0,
            buf: Vec::new(),
            end: 0,
            pending: false,
            points: Vec::new(),
            totals: None,
        };
        r.read_header()?;
        Ok(r)
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &IndexHeader {
        &self.header
    }

    /// The seek points (after the last entry was read).
    #[must_use]
    pub fn seek_points(&self) -> &[SeekPoint] {
        &self.points
    }

    /// The totals (after the last entry was read).
    #[must_use]
    pub fn totals(&self) -> Option<&Totals> {
        self.totals.as_ref()
    }

    fn damaged(&self, what: impl Into<String>) -> IndexError {
        IndexError::Damaged {
            name: self.name.clone(),
            line: self.line_no,
            what: what.into(),
        }
    }

    /// Reads one line into `buf` (newline stripped).
    fn read_line(&mut self, expected: &str) -> Result<(), IndexError> {
        self.buf.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    IndexError::Truncated {
                        name: self.name.clone(),
                        what: format!("the compressed stream stops after line {}", self.line_no),
                    }
                } else {
                    self.damaged(format!("cannot decompress: {e}"))
                }
            })?;
        if self.buf.last() != Some(&b'\n') {
            if n as u64 >= limit {
                return Err(self.damaged(format!("a line longer than {MAX_LINE_BYTES} bytes")));
            }
            return Err(IndexError::Truncated {
                name: self.name.clone(),
                what: format!(
                    "ends after line {} where {expected} should be",
                    self.line_no
                ),
            });
        }
        self.line_no += 1;
        self.buf.pop();
        Ok(())
    }

    fn checksum_line(&mut self) {
        self.checksum.update(&self.buf);
        self.checksum.update(b"\n");
    }

    fn read_header(&mut self) -> Result<(), IndexError> {
        self.read_line("the header").map_err(|e| match e {
            IndexError::Damaged { what, .. } if what.starts_with("cannot decompress") => {
                IndexError::Foreign {
                    name: self.name.clone(),
                    what: "its zstd stream cannot be decoded".into(),
                }
            }
            e => e,
        })?;
        self.checksum_line();
        let first = String::from_utf8_lossy(&self.buf).into_owned();
        let Some((MAGIC, version)) = first.split_once('\t') else {
            let shown: String = first.chars().take(40).collect();
            return Err(IndexError::Foreign {
                name: self.name.clone(),
                what: format!("a zstd stream starting {shown:?}"),
            });
        };
        let version: u32 = version
            .parse()
            .map_err(|_| self.damaged(format!("version {version:?} is not a number")))?;
        if version == 0 || version > FORMAT_VERSION {
            return Err(IndexError::UnsupportedVersion {
                name: self.name.clone(),
                version,
            });
        }
        self.header.version = version;
        let mut compression = None;
        loop {
            self.read_line("the header")?;
            self.checksum_line();
            if self.buf.is_empty() {
                break;
            }
            let mut parts = self.buf.splitn(2, |&b| b == b'\t');
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                return Err(self.damaged("a header line without a tab"));
            };
            let value = unescape(value)
                .and_then(|v| String::from_utf8(v).ok())
                .ok_or_else(|| self.damaged("a bad %-escape in the header"))?;
            match name {
                b"archive" => self.header.archive = value,
                b"created" => self.header.created = value,
                b"haul" => self.header.haul_version = value,
                b"compression" => {
                    compression = Some(match value.as_str() {
                        "gzip" => Compression::Gzip,
                        "zstd" => Compression::Zstd,
                        "none" => Compression::None,
                        other => {
                            return Err(self.damaged(format!("unknown compression {other:?}")));
                        }
                    });
                }
                _ => {}
            }
        }
        self.header.compression =
            compression.ok_or_else(|| self.damaged("the header names no compression"))?;
        Ok(())
    }

    /// The next entry, or `None` after the seek points, totals and trailer were read and
    /// checked.
    ///
    /// # Errors
    /// [`IndexError`]: truncated, damaged (a malformed line, offsets out of order, a count or
    /// checksum that does not match, bytes after the trailer).
    pub fn next_entry(&mut self) -> Result<Option<IndexEntry>, IndexError> {
        if self.totals.is_some() {
            return Ok(None);
        }
        if !self.pending {
            self.read_line("an entry or the trailer")?;
        }
        if self.buf.starts_with(b"e\t") {
            self.checksum_line();
            let e = self.parse_entry()?;
            self.count += 1;
            self.end = e.end();
            return Ok(Some(e));
        }
        self.pending = false;
        self.read_tail()?;
        Ok(None)
    }

    fn parse_entry(&self) -> Result<IndexEntry, IndexError> {
        let mut f = self.buf.split(|&b| b == b'\t').skip(1);
        let bad = |what: &str| self.damaged(format!("an entry with a bad {what}"));
        let kind = f
            .next()
            .and_then(EntryKind::from_letter)
            .ok_or_else(|| bad("type"))?;
        let path = f.next().and_then(unescape).ok_or_else(|| bad("path"))?;
        let start: u64 = num(f.next()).ok_or_else(|| bad("start offset"))?;
        let data: u64 = num(f.next()).ok_or_else(|| bad("data offset"))?;
        let size: u64 = num(f.next()).ok_or_else(|| bad("size"))?;
        let mtime: u64 = num(f.next()).ok_or_else(|| bad("mtime"))?;
        let mode = f
            .next()
            .and_then(|m| u32::from_str_radix(std::str::from_utf8(m).ok()?, 8).ok())
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| bad("mode"))?;
        let uid: u64 = num(f.next()).ok_or_else(|| bad("uid"))?;
        let gid: u64 = num(f.next()).ok_or_else(|| bad("gid"))?;
        let blake3 = match f.next() {
            Some(b"-") => None,
            Some(h) => Some(
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| blake3::Hash::from_hex(h).ok())
                    .ok_or_else(|| bad("BLAKE3"))?,
            ),
            None => return Err(bad("BLAKE3")),
        };
        let link = match f.next() {
            Some(b"-") => None,
            Some(l) => Some(unescape(l).ok_or_else(|| bad("link target"))?),
            None => return Err(bad("link target")),
        };
        if f.next().is_some() {
            return Err(self.damaged("an entry with too many fields"));
        }
        if path.is_empty() {
            return Err(bad("path"));
        }
        if !start.is_multiple_of(RECORD) || !data.is_multiple_of(RECORD) || data <= start {
            return Err(self.damaged(format!(
                "entry {} has offsets {start}/{data} that are not tar records",
                String::from_utf8_lossy(&path)
            )));
        }
        if start < self.end {
            return Err(self.damaged(format!(
                "entry {} starts at {start}, inside the previous entry (ends at {})",
                String::from_utf8_lossy(&path),
                self.end
            )));
        }
        if (kind == EntryKind::File) != blake3.is_some() || (kind != EntryKind::File && size != 0) {
            return Err(self.damaged(format!(
                "entry {} has a hash or size its type cannot have",
                String::from_utf8_lossy(&path)
            )));
        }
        if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) != link.is_some() {
            return Err(self.damaged(format!(
                "entry {} has a link target its type cannot have",
                String::from_utf8_lossy(&path)
            )));
        }
        size.div_ceil(RECORD)
            .checked_mul(RECORD)
            .and_then(|n| data.checked_add(n))
            .ok_or_else(|| bad("size"))?;
        Ok(IndexEntry {
            kind,
            path,
            start,
            data,
            size,
            mtime,
            mode,
            uid,
            gid,
            blake3,
            link,
        })
    }

    /// Seek points, totals and the trailer; `buf` holds the first line after the entries.
    fn read_tail(&mut self) -> Result<(), IndexError> {
        loop {
            if self.buf.starts_with(b"m\t") {
                self.checksum_line();
                let mut f = self.buf.split(|&b| b == b'\t').skip(1);
                let raw: Option<u64> = num(f.next());
                let stored: Option<u64> = num(f.next());
                let (Some(raw), Some(stored), None) = (raw, stored, f.next()) else {
                    return Err(self.damaged("a malformed seek point"));
                };
                let in_order = match self.points.last() {
                    Some(p) => raw > p.raw && stored > p.stored,
                    None => raw == 0 && stored == 0,
                };
                if !in_order {
                    return Err(self.damaged("seek points out of order"));
                }
                self.points.push(SeekPoint { raw, stored });
            } else if self.buf.starts_with(b"size\t") {
                self.checksum_line();
                let mut f = self.buf.split(|&b| b == b'\t').skip(1);
                let raw: Option<u64> = num(f.next());
                let stored: Option<u64> = num(f.next());
                let etag = match f.next() {
                    Some(b"-") => None,
                    Some(t) => Some(
                        unescape(t)
                            .and_then(|t| String::from_utf8(t).ok())
                            .filter(|t| !t.is_empty())
                            .ok_or_else(|| self.damaged("a malformed ETag"))?,
                    ),
                    None => return Err(self.damaged("a malformed size line")),
                };
                let (Some(raw), Some(stored), None) = (raw, stored, f.next()) else {
                    return Err(self.damaged("a malformed size line"));
                };
                if raw < self.end || self.points.last().is_some_and(|p| p.raw >= raw.max(1)) {
                    return Err(self.damaged("a size smaller than the entries it holds"));
                }
                self.totals = Some(Totals { raw, stored, etag });
                self.read_line("the trailer")?;
                return self.read_trailer();
            } else {
                return Err(
                    self.damaged("a line that is neither an entry, a seek point nor the size")
                );
            }
            self.read_line("a seek point or the size")?;
        }
    }

    fn read_trailer(&mut self) -> Result<(), IndexError> {
        let mut f = self.buf.split(|&b| b == b'\t');
        if f.next() != Some(b"end") {
            self.totals = None;
            return Err(self.damaged("the trailer is missing"));
        }
        let count: Option<u64> = num(f.next());
        let sum = f
            .next()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| blake3::Hash::from_hex(s).ok());
        let result = match (count, sum, f.next()) {
            (Some(count), Some(sum), None) => {
                if count != self.count {
                    Err(self.damaged(format!(
                        "the trailer counts {count} entries, the index holds {}",
                        self.count
                    )))
                } else if sum != self.checksum.finalize() {
                    Err(self.damaged("the checksum does not match the content"))
                } else {
                    let mut rest = [0u8; 1];
                    match self.input.read(&mut rest) {
                        Ok(0) => Ok(()),
                        Ok(_) => Err(self.damaged("bytes after the trailer")),
                        Err(e) => Err(self.damaged(format!("cannot decompress: {e}"))),
                    }
                }
            }
            _ => Err(self.damaged("a malformed trailer")),
        };
        if result.is_err() {
            self.totals = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &[u8], start: u64, size: u64, kind: EntryKind) -> IndexEntry {
        IndexEntry {
            kind,
            path: path.to_vec(),
            start,
            data: start + 512,
            size,
            mtime: 1_700_000_000,
            mode: 0o644,
            uid: 0,
            gid: 0,
            blake3: (kind == EntryKind::File).then(|| blake3::hash(path)),
            link: matches!(kind, EntryKind::Symlink | EntryKind::Hardlink).then(|| b"-".to_vec()),
        }
    }

    fn write(entries: &[IndexEntry], points: &[SeekPoint], totals: &Totals) -> Vec<u8> {
        let mut w =
            IndexWriter::new(Vec::new(), &IndexHeader::new("s3://b/k", Compression::Gzip)).unwrap();
        for e in entries {
            w.push(e).unwrap();
        }
        w.finish(points, totals).unwrap()
    }

    fn read(bytes: &[u8]) -> Result<(Vec<IndexEntry>, Vec<SeekPoint>, Totals), IndexError> {
        let mut r = IndexReader::new(bytes, "idx")?;
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok((out, r.seek_points().to_vec(), r.totals().cloned().unwrap()))
    }

    fn sample() -> (Vec<IndexEntry>, Vec<SeekPoint>, Totals) {
        let entries = vec![
            entry(b"d/", 0, 0, EntryKind::Dir),
            entry(b"d/a\tb%\n\xff", 512, 1000, EntryKind::File),
            entry(b"d/l", 2048, 0, EntryKind::Symlink),
            entry(b"e", 2560, 0, EntryKind::File),
        ];
        let points = vec![
            SeekPoint { raw: 0, stored: 0 },
            SeekPoint {
                raw: 1 << 20,
                stored: 4000,
            },
        ];
        let totals = Totals {
            raw: 2 << 20,
            stored: 9000,
            etag: Some("\"abc-2\"".into()),
        };
        (entries, points, totals)
    }

    #[test]
    fn round_trip() {
        let (entries, points, totals) = sample();
        let bytes = write(&entries, &points, &totals);
        let (e, p, t) = read(&bytes).unwrap();
        assert_eq!((e, p, t), (entries, points, totals));
    }

    #[test]
    fn damage_is_named() {
        let (entries, points, totals) = sample();
        let bytes = write(&entries, &points, &totals);
        let mut text = Vec::new();
        zstd::stream::read::Decoder::new(&bytes[..])
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        let recompress = |t: &[u8]| zstd::bulk::compress(t, 3).unwrap();
        // A changed byte: the checksum catches it.
        let mut changed = text.clone();
        let at = changed.windows(4).position(|w| w == b"1700").unwrap();
        changed[at + 1] = b'8';
        let err = read(&recompress(&changed)).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        // Truncated: named as such.
        let err = read(&bytes[..bytes.len() - 8]).unwrap_err();
        assert!(matches!(err, IndexError::Truncated { .. }), "{err}");
        let cut = &text[..text.len() - 20];
        let err = read(&recompress(cut)).unwrap_err();
        assert!(err.to_string().contains("damaged") || err.to_string().contains("truncated"));
        // Foreign.
        let err = read(b"hello").unwrap_err();
        assert!(err.to_string().contains("not a haul tar index"), "{err}");
        let err = read(&recompress(b"haul-manifest\t1\n")).unwrap_err();
        assert!(err.to_string().contains("not a haul tar index"), "{err}");
        // Overlapping entries.
        let mut bad = entries.clone();
        bad[2].start = 1024;
        bad[2].data = 1536;
        let err = read(&write(&bad, &points, &totals)).unwrap_err();
        assert!(
            err.to_string().contains("inside the previous entry"),
            "{err}"
        );
    }

    #[test]
    fn declared_counts_and_sizes_are_not_allocated_by() {
        // A 1 EiB file and a trailer counting u64::MAX entries: read line by line, nothing
        // sized by them, each refused or returned as declared.
        let huge = entry(b"huge", 0, 1 << 60, EntryKind::File);
        let totals = Totals {
            raw: huge.end() + 1024,
            stored: 100,
            etag: None,
        };
        let bytes = write(std::slice::from_ref(&huge), &[], &totals);
        let (e, _, _) = read(&bytes).unwrap();
        assert_eq!(e, vec![huge.clone()]);
        let mut text = Vec::new();
        zstd::stream::read::Decoder::new(&bytes[..])
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        let at = text.windows(4).position(|w| w == b"end\t").unwrap();
        let mut counted = text[..at].to_vec();
        let sum = blake3::hash(&counted);
        counted.extend_from_slice(format!("end\t{}\t{}\n", u64::MAX, sum.to_hex()).as_bytes());
        let err = read(&zstd::bulk::compress(&counted, 3).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("counts 18446744073709551615 entries"),
            "{err}"
        );
        // A size whose end overflows u64 is damage, not a wrap-around.
        let mut line = text.clone();
        let from = line
            .windows(19)
            .position(|w| w == b"1152921504606846976")
            .unwrap();
        line.splice(from..from + 19, b"18446744073709551615".iter().copied());
        let err = read(&zstd::bulk::compress(&line, 3).unwrap()).unwrap_err();
        assert!(err.to_string().contains("bad size"), "{err}");
    }
}
