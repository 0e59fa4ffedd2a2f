//! A tar stream read entry by entry within fixed bounds of memory and time, whatever its
//! headers declare: what `unpack`, `verify` and `--only` read archives through.
//!
//! The tar crate parses the headers, follows PAX sizes, GNU long names and GNU sparse maps.
//! Left alone, it reads a PAX extended header (`x`) and a GNU long name or long link name
//! (`L`, `K`) whole into memory (`EntryFields::read_all`), however large the header says the
//! record is: a 512-byte header declaring a record of some GB, followed by a gzip bomb, makes
//! it allocate that much. So the crate reads through a guard, which sees every header
//! before the crate does and refuses, before a byte of it is read:
//!
//! - an extended-header record (`x`, `g`, `L`, `K`) over [`MAX_RECORD_BYTES`];
//! - a GNU sparse map (the extension blocks after an `S` header) over [`MAX_SPARSE_MAP_BYTES`];
//! - an entry that is not a file but declares more than [`MAX_RECORD_BYTES`] of data (a
//!   directory of 100 GB), which the crate would otherwise read past, byte by byte.
//!
//! The guard tells headers from content by how the crate reads: it reaches each header by a
//! forward seek past what is left of the previous entry ([`tar::Archive::entries_with_seek`]),
//! and the guard, which implements that seek by reading and discarding, expects a header
//! right after every seek made while the crate looks for the next entry.
//!
//! After the end-of-archive marker, at most [`MAX_TRAILING_BYTES`] are read (to the end of
//! the compressed stream, whose trailer is checked there): more is an error, so a stream of
//! compressed zeros is not decompressed for minutes after the archive ended.
//!
//! Each refusal is an [`ArchiveError::RefusedAt`] (or [`ArchiveError::Refused`], naming the
//! entry, for content on a non-file) with the rule `record-too-large`
//! ([`ExtractRule::RecordTooLarge`]). It neither extracts nor compares anything, and the
//! size a file declares is the extractor's to weigh against the disk (rule `no-space`):
//! read [`mod@super::unpack`] next.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

use tar::EntryType;

use super::ArchiveError;
use super::unpack::ExtractRule;

/// The largest extended-header record read: a PAX extended or global header, a GNU long
/// name or long link name. libarchive refuses the same records over 1 MiB ("Special header
/// too large", `read_body_to_string` in `archive_read_support_format_tar.c`); a path is at
/// most `PATH_MAX` (4 KiB) on Linux, and the extended attributes of one file, the largest
/// thing haul puts in a PAX header, fit in 64 KiB on most filesystems (`XATTR_LIST_MAX`).
/// `haul tar push` never writes a larger one (it leaves a file's attributes out with a
/// warning instead).
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The longest GNU sparse map read after a sparse file's header (chosen: 16 MiB of 512-byte
/// extension blocks, 21 holes each, is some 690,000 holes; the tar crate keeps about 40 bytes
/// per hole in memory).
pub const MAX_SPARSE_MAP_BYTES: u64 = 16 * 1024 * 1024;

/// What may follow the end-of-archive marker (chosen: 16 MiB, far above the padding any tar
/// writes — GNU tar pads to its record, 10 KiB by default — and decompressed in milliseconds).
pub const MAX_TRAILING_BYTES: u64 = 16 * 1024 * 1024;

/// A tar block.
const BLOCK: usize = 512;

/// Where the crate is in its reading, as the guard follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading an entry's content, or the stream after the archive: not checked.
    Outside,
    /// Looking for the next entry, before its first seek.
    Entering,
    /// Looking for the next entry, right after a seek: a header comes next.
    HeaderDue,
    /// Reading the record of an extended header (its size checked).
    Record,
    /// After an entry's own header, still within the search: a GNU sparse map, so far
    /// this many bytes.
    AfterHeader(u64),
}

/// What the guard and the reader share.
#[derive(Debug)]
struct Shared {
    phase: Cell<Phase>,
    /// Why the guard refused, for the error the reader returns.
    refusal: RefCell<Option<ExtractRule>>,
}

/// The reader the tar crate reads through (see the module documentation).
pub(crate) struct Guard<R> {
    inner: R,
    shared: Rc<Shared>,
    /// A header read ahead to be checked, and how much of it the crate has taken.
    block: [u8; BLOCK],
    block_len: usize,
    block_at: usize,
    /// Bytes handed to the crate or skipped: its position in the stream.
    pos: u64,
}

impl<R: Read> Guard<R> {
    fn refuse(&self, rule: ExtractRule) -> io::Error {
        let message = rule.to_string();
        *self.shared.refusal.borrow_mut() = Some(rule);
        io::Error::new(io::ErrorKind::InvalidData, message)
    }

    /// Reads the header that comes next into `block` and checks what it declares.
    fn read_header(&mut self) -> io::Result<()> {
        self.block_at = 0;
        self.block_len = 0;
        while self.block_len < BLOCK {
            let n = match self
                .inner
                .read(self.block.get_mut(self.block_len..).unwrap_or_default())
            {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            self.block_len += n;
        }
        if self.block_len < BLOCK || self.block.iter().all(|&b| b == 0) {
            // The end of the archive, or a short block the crate reports.
            self.shared.phase.set(Phase::AfterHeader(0));
            return Ok(());
        }
        let header = tar::Header::from_byte_slice(&self.block);
        let kind = header.entry_type();
        let Ok(size) = header.entry_size() else {
            // A malformed size field: the crate reports it.
            self.shared.phase.set(Phase::AfterHeader(0));
            return Ok(());
        };
        if is_extension(kind) {
            if size > MAX_RECORD_BYTES {
                return Err(self.refuse(ExtractRule::RecordTooLarge {
                    kind: kind.as_byte(),
                    declared: size,
                }));
            }
            self.shared.phase.set(Phase::Record);
        } else {
            self.shared.phase.set(Phase::AfterHeader(0));
        }
        Ok(())
    }
}

/// The extended-header records the tar crate reads whole into memory (`x`, `L`, `K`), and
/// the global header (`g`), which it hands on as an entry whose content is read past.
fn is_extension(kind: EntryType) -> bool {
    matches!(
        kind,
        EntryType::XHeader
            | EntryType::XGlobalHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    )
}

/// Entry types whose content is a file's.
pub(crate) fn is_file(kind: EntryType) -> bool {
    matches!(
        kind,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
    )
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A read before any seek of the search is a header too (a crate that did not seek
        // when nothing was left to skip).
        if self.block_at >= self.block_len
            && matches!(self.shared.phase.get(), Phase::HeaderDue | Phase::Entering)
        {
            self.read_header()?;
        }
        if self.block_at < self.block_len {
            let held = self
                .block
                .get(self.block_at..self.block_len)
                .unwrap_or_default();
            let n = held.len().min(out.len());
            out.get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(held.get(..n).unwrap_or_default());
            self.block_at += n;
            self.pos += n as u64;
            return Ok(n);
        }
        let n = self.inner.read(out)?;
        if let Phase::AfterHeader(so_far) = self.shared.phase.get() {
            let so_far = so_far + n as u64;
            if so_far > MAX_SPARSE_MAP_BYTES {
                return Err(self.refuse(ExtractRule::RecordTooLarge {
                    kind: EntryType::GNUSparse.as_byte(),
                    declared: so_far,
                }));
            }
            self.shared.phase.set(Phase::AfterHeader(so_far));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Forward seeks only, by reading and discarding: how the crate skips what is left of an
/// entry before the next header.
impl<R: Read> Seek for Guard<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = to else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a tar stream is read forward only",
            ));
        };
        let mut left = u64::try_from(delta).map_err(|_| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a tar stream is read forward only",
            )
        })?;
        let held = (self.block_len - self.block_at.min(self.block_len)) as u64;
        let from_block = held.min(left);
        self.block_at += usize::try_from(from_block).unwrap_or(0);
        left -= from_block;
        let skipped = io::copy(&mut (&mut self.inner).take(left), &mut io::sink())?;
        self.pos += from_block + skipped;
        if skipped < left {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
        if matches!(
            self.shared.phase.get(),
            Phase::Entering | Phase::Record | Phase::HeaderDue | Phase::AfterHeader(_)
        ) {
            self.shared.phase.set(Phase::HeaderDue);
        }
        Ok(self.pos)
    }
}

/// A tar stream to read entries from (see the module documentation).
pub(crate) struct TarReader<R: Read> {
    archive: tar::Archive<Guard<R>>,
    shared: Rc<Shared>,
}

impl<R: Read> TarReader<R> {
    /// A reader of the (decompressed) tar stream `input`.
    pub(crate) fn new(input: R) -> Self {
        let shared = Rc::new(Shared {
            phase: Cell::new(Phase::Outside),
            refusal: RefCell::new(None),
        });
        let guard = Guard {
            inner: input,
            shared: Rc::clone(&shared),
            block: [0; BLOCK],
            block_len: 0,
            block_at: 0,
            pos: 0,
        };
        Self {
            archive: tar::Archive::new(guard),
            shared,
        }
    }

    /// The entries, one at a time ([`Entries::next_entry`]).
    ///
    /// # Errors
    /// [`ArchiveError::Corrupt`] if called twice.
    pub(crate) fn entries(&mut self) -> Result<Entries<'_, R>, ArchiveError> {
        let inner = self
            .archive
            .entries_with_seek()
            .map_err(|source| ArchiveError::Corrupt {
                entry: "the start of the archive".into(),
                source,
            })?;
        Ok(Entries {
            inner,
            shared: Rc::clone(&self.shared),
        })
    }

    /// Reads what follows the end-of-archive marker, at most [`MAX_TRAILING_BYTES`]: a
    /// compressed stream checks its trailer only at its end, so a truncated `.tar.gz` fails
    /// here rather than passing as a shorter archive. `last` names the last entry read.
    ///
    /// # Errors
    /// [`ArchiveError::Corrupt`]: the stream cannot be read to its end, or more than
    /// [`MAX_TRAILING_BYTES`] follow the marker.
    pub(crate) fn finish(self, last: &str) -> Result<(), ArchiveError> {
        let mut rest = self.archive.into_inner();
        rest.shared.phase.set(Phase::Outside);
        let at = || format!("the end of the archive, after {last}");
        let read = io::copy(
            &mut (&mut rest).take(MAX_TRAILING_BYTES + 1),
            &mut io::sink(),
        )
        .map_err(|source| ArchiveError::Corrupt {
            entry: at(),
            source,
        })?;
        if read > MAX_TRAILING_BYTES {
            return Err(ArchiveError::Corrupt {
                entry: at(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "more than {MAX_TRAILING_BYTES} bytes follow the end-of-archive marker \
                         (two zero blocks): not read on (a tar stream ends there; this is \
                         another archive appended, or a decompression bomb)"
                    ),
                ),
            });
        }
        Ok(())
    }
}

/// The entries of a [`TarReader`].
pub(crate) struct Entries<'a, R: Read> {
    inner: tar::Entries<'a, Guard<R>>,
    shared: Rc<Shared>,
}

impl<'a, R: Read> Entries<'a, R> {
    /// The next entry, or `None` at the end of the archive. `at` names where the headers are
    /// read, for errors (`the entry after PATH`).
    ///
    /// # Errors
    /// [`ArchiveError::RefusedAt`] (`record-too-large`) for a record or sparse map over its
    /// limit, [`ArchiveError::Refused`] for content on a non-file over it,
    /// [`ArchiveError::Corrupt`] for an archive that cannot be read.
    pub(crate) fn next_entry(
        &mut self,
        at: impl Fn() -> String,
    ) -> Result<Option<tar::Entry<'a, Guard<R>>>, ArchiveError> {
        self.shared.phase.set(Phase::Entering);
        let next = self.inner.next();
        self.shared.phase.set(Phase::Outside);
        let entry = match next {
            None => return Ok(None),
            Some(Ok(entry)) => entry,
            Some(Err(source)) => {
                return Err(match self.shared.refusal.borrow_mut().take() {
                    Some(rule) => ArchiveError::RefusedAt { at: at(), rule },
                    None => ArchiveError::Corrupt {
                        entry: at(),
                        source,
                    },
                });
            }
        };
        let kind = entry.header().entry_type();
        if !is_file(kind) && entry.size() > MAX_RECORD_BYTES {
            // Not a file, yet it declares content to read past: a directory of 100 GB.
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            return Err(ArchiveError::Refused {
                entry: name,
                rule: ExtractRule::RecordTooLarge {
                    kind: kind.as_byte(),
                    declared: entry.size(),
                },
            });
        }
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::{Builder, Header};

    /// A GNU header of `kind` declaring `size` bytes, checksummed.
    pub(crate) fn header(name: &str, kind: EntryType, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        h
    }

    /// Reads every entry (and its content), then the rest; the names read, or the error.
    fn read_all(bytes: &[u8]) -> Result<Vec<String>, ArchiveError> {
        let mut reader = TarReader::new(bytes);
        let mut names = Vec::new();
        let mut last = String::from("the start of the archive");
        {
            let mut entries = reader.entries()?;
            while let Some(mut e) = entries.next_entry(|| format!("the entry after {last}"))? {
                last = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                io::copy(&mut e, &mut io::sink()).unwrap();
                names.push(last.clone());
            }
        }
        reader.finish(&last)?;
        Ok(names)
    }

    fn refused(r: Result<Vec<String>, ArchiveError>) -> (String, ExtractRule) {
        match r {
            Err(
                ArchiveError::Refused { entry, rule } | ArchiveError::RefusedAt { at: entry, rule },
            ) => (entry, rule),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// A stream that declares `declared` bytes of `kind` after one ordinary entry, then
    /// yields zeros for ever: reading it whole would never end.
    fn endless(kind: EntryType, declared: u64) -> impl Read {
        let mut b = Builder::new(Vec::new());
        b.append(&header("first", EntryType::Regular, 2), &b"ok"[..])
            .unwrap();
        let mut bytes = b.into_inner().unwrap();
        // Builder::into_inner wrote the two zero blocks: the hostile header replaces them.
        bytes.truncate(bytes.len() - 1024);
        bytes.extend_from_slice(header("x", kind, declared).as_bytes());
        io::Cursor::new(bytes).chain(io::repeat(b'a'))
    }

    #[test]
    fn records_over_the_limit_are_refused_before_they_are_read() {
        for kind in [
            EntryType::XHeader,
            EntryType::GNULongName,
            EntryType::GNULongLink,
            EntryType::XGlobalHeader,
        ] {
            let mut reader = TarReader::new(endless(kind, 5 << 30));
            let mut entries = reader.entries().unwrap();
            let first = entries
                .next_entry(|| "the start of the archive".into())
                .unwrap();
            assert!(first.is_some());
            drop(first);
            let got = entries.next_entry(|| "the entry after first".into());
            let Err(ArchiveError::RefusedAt { at: entry, rule }) = got else {
                panic!(
                    "{kind:?}: not refused: {:?}",
                    got.map(|e| e.map(|e| e.size()))
                );
            };
            assert_eq!(entry, "the entry after first");
            assert_eq!(
                rule,
                ExtractRule::RecordTooLarge {
                    kind: kind.as_byte(),
                    declared: 5 << 30
                }
            );
            let text = rule.to_string();
            assert!(text.contains("5368709120 bytes"), "{text}");
            assert!(text.contains("record-too-large"), "{text}");
        }
    }

    #[test]
    fn records_within_the_limit_and_long_names_still_read() {
        let name = "d/".repeat(300) + "file";
        let mut b = Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, &b"data"[..]).unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.big", &vec![b'v'; 200_000][..])])
            .unwrap();
        let mut h = Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "pax-file", &b"hi"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(read_all(&bytes).unwrap(), vec![name, "pax-file".to_owned()]);
    }

    #[test]
    fn a_pax_record_just_over_the_limit_is_refused_and_at_it_read() {
        for (value, ok) in [
            (MAX_RECORD_BYTES as usize - 100, true),
            (MAX_RECORD_BYTES as usize, false),
        ] {
            let mut b = Builder::new(Vec::new());
            b.append_pax_extensions([("k", &vec![b'v'; value][..])])
                .unwrap();
            b.append(&header("f", EntryType::Regular, 1), &b"x"[..])
                .unwrap();
            let r = read_all(&b.into_inner().unwrap());
            if ok {
                assert_eq!(r.unwrap(), vec!["f".to_owned()]);
            } else {
                let (_, rule) = refused(r);
                assert!(matches!(
                    rule,
                    ExtractRule::RecordTooLarge { kind: b'x', .. }
                ));
            }
        }
    }

    #[test]
    fn a_directory_declaring_content_is_refused() {
        let (entry, rule) = {
            let mut reader = TarReader::new(endless(EntryType::Directory, 100 << 30));
            let mut entries = reader.entries().unwrap();
            drop(
                entries
                    .next_entry(|| "the start of the archive".into())
                    .unwrap(),
            );
            match entries.next_entry(|| "the entry after first".into()) {
                Err(ArchiveError::Refused { entry, rule }) => (entry, rule),
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("not refused"),
            }
        };
        assert_eq!(entry, "x");
        assert_eq!(
            rule,
            ExtractRule::RecordTooLarge {
                kind: b'5',
                declared: 100 << 30
            }
        );
        // Small content on a directory is read past, as before.
        let mut b = Builder::new(Vec::new());
        b.append(&header("d/", EntryType::Directory, 10), &[0u8; 10][..])
            .unwrap();
        b.append(&header("f", EntryType::Regular, 1), &b"x"[..])
            .unwrap();
        assert_eq!(read_all(&b.into_inner().unwrap()).unwrap(), ["d/", "f"]);
    }

    #[test]
    fn an_endless_sparse_map_is_refused() {
        // A GNU sparse header whose extension blocks each say another follows.
        let mut h = header("sparse", EntryType::GNUSparse, 0);
        h.as_gnu_mut().unwrap().set_is_extended(true);
        h.as_gnu_mut().unwrap().set_real_size(1 << 40);
        h.set_cksum();
        let mut ext = tar::GnuExtSparseHeader::new();
        ext.set_is_extended(true);
        let ext_block = ext.as_bytes().to_vec();
        let endless_map = io::Cursor::new(h.as_bytes().to_vec())
            .chain(io::repeat(0).take(0))
            .chain(RepeatBlock(ext_block, 0));
        let mut reader = TarReader::new(endless_map);
        let mut entries = reader.entries().unwrap();
        let Err(ArchiveError::RefusedAt { rule, .. }) = entries.next_entry(|| "the start".into())
        else {
            panic!("not refused");
        };
        assert!(matches!(
            rule,
            ExtractRule::RecordTooLarge { kind: b'S', .. }
        ));
    }

    /// The same block for ever.
    struct RepeatBlock(Vec<u8>, usize);
    impl Read for RepeatBlock {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.0.len() - self.1);
            out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 = (self.1 + n) % self.0.len();
            Ok(n)
        }
    }

    #[test]
    fn what_follows_the_end_marker_is_bounded() {
        let mut b = Builder::new(Vec::new());
        b.append(&header("f", EntryType::Regular, 1), &b"x"[..])
            .unwrap();
        let mut bytes = b.into_inner().unwrap();
        // A record's padding is read.
        bytes.extend_from_slice(&[0u8; 10240]);
        assert_eq!(read_all(&bytes).unwrap(), ["f"]);
        // Zeros for ever are not.
        let mut reader = TarReader::new(io::repeat(0));
        {
            let mut entries = reader.entries().unwrap();
            assert!(entries.next_entry(|| "the start".into()).unwrap().is_none());
        }
        let err = reader.finish("the start").unwrap_err().to_string();
        assert!(err.contains("follow the end-of-archive marker"), "{err}");
    }

    #[test]
    fn a_sparse_archive_reads_as_before() {
        // GNU tar's old sparse format: 512 bytes of data at 0 and at 1 MiB, in a 2 MiB file.
        let mut h = header("s", EntryType::GNUSparse, 1024);
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.sparse[0].set_offset(0);
            gnu.sparse[0].set_length(512);
            gnu.sparse[1].set_offset(1 << 20);
            gnu.sparse[1].set_length(512);
            // The hole at the end, as GNU tar writes it: an empty chunk at the real size.
            gnu.sparse[2].set_offset(2 << 20);
            gnu.sparse[2].set_length(0);
            gnu.set_real_size(2 << 20);
        }
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[1u8; 512]);
        bytes.extend_from_slice(&[2u8; 512]);
        bytes.extend_from_slice(header("after", EntryType::Regular, 1).as_bytes());
        bytes.extend_from_slice(&[b'z'; 512]);
        bytes.extend_from_slice(&[0u8; 1024]);
        let mut reader = TarReader::new(&bytes[..]);
        let mut entries = reader.entries().unwrap();
        let mut s = entries.next_entry(|| "the start".into()).unwrap().unwrap();
        assert_eq!(s.size(), 2 << 20);
        let mut content = Vec::new();
        s.read_to_end(&mut content).unwrap();
        drop(s);
        assert_eq!(content.len(), 2 << 20);
        assert_eq!(content[..512], [1u8; 512]);
        assert_eq!(content[1 << 20..(1 << 20) + 512], [2u8; 512]);
        assert!(content[512..1 << 20].iter().all(|&b| b == 0));
        // A sparse entry's content left unread is skipped to the next header.
        let mut reader = TarReader::new(&bytes[..]);
        let mut entries = reader.entries().unwrap();
        drop(entries.next_entry(|| "the start".into()).unwrap().unwrap());
        let mut after = entries.next_entry(|| "after s".into()).unwrap().unwrap();
        let mut z = Vec::new();
        after.read_to_end(&mut z).unwrap();
        assert_eq!(z, b"z");
    }
}
