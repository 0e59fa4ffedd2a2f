//! `haul tar`: a directory packed into one tar stream and unpacked from one, with the stream
//! moving to and from the gateway as it is made, in bounded memory and without a temporary
//! file.
//!
//! - [`pack()`] walks a directory in a deterministic order (names sorted bytewise in each
//!   directory, a directory before what it holds) and writes GNU tar entries (GNU long names
//!   and long link names, directories, symlinks, hardlinks as links, fifos and devices,
//!   modes, numeric ids and user/group names, mtimes) through a [`Compression`]. Files that
//!   change while read are archived as of the size their header declared
//!   ([`PackWarning`]).
//! - [`unpack()`] reads such a stream and extracts it under a directory by the rules listed in
//!   its module ([`mod@unpack`], [`ExtractRule`]), each named in the error it raises.
//! - [`push`] and [`pull`] join them to the network: the tar and compression work runs on a
//!   blocking thread, and a bounded [`pipe`] carries the bytes to and from
//!   [`transfer::upload_reader`] / [`transfer::download_to_writer`].
//!
//! - [`mod@index`] is the file beside an archive listing every entry's offsets, size and
//!   BLAKE3, and the compressed stream's seek points; `verify` and `pull --only` read it.
//!
//! Compression: gzip or zstd on every core (`blocks.rs`: independent 1 MiB members or
//! frames, one standard stream, each block a seek point). Read [`mod@pack`] next.

mod blocks;
pub mod entries;
pub mod index;
pub mod only;
pub mod pack;
pub mod pipe;
pub mod tree;
pub mod unpack;
pub mod verify;
pub mod xattrs;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::client::{Client, PutOptions};
use crate::error::Error;
use crate::s3::{BucketName, ObjectKey};
use crate::transfer::{self, MemoryBudget, TransferOptions};

use index::{IndexHeader, IndexWriter, SeekPoint, Totals};

pub use pack::{PackOptions, PackReport, PackWarning, pack};
pub use unpack::{ExtractRule, Selection, UnpackOptions, UnpackReport, unpack, unpack_selected};

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip (what `tar -xzf` reads), the default; compressed on every core as independent
    /// members of one stream.
    #[default]
    Gzip,
    /// zstd (what `tar --zstd -xf` reads).
    Zstd,
    /// A plain tar stream.
    None,
}

/// gzip level: flate2's default (6), gzip's own default, a balance of speed and size.
const GZIP_LEVEL: u32 = 6;
/// zstd level: libzstd's default (3).
const ZSTD_LEVEL: i32 = 3;

/// An error of `haul tar`: the path or entry it concerns, and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The local path (or the archive entry).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The archive is truncated or corrupt at or after an entry.
    #[error("corrupt or truncated archive at {entry}: {source}")]
    Corrupt {
        /// The entry being read (or the last good one, "after ...").
        entry: String,
        /// The cause.
        source: io::Error,
    },
    /// An entry breaks an extraction rule.
    #[error("refused entry {entry}: {rule}")]
    Refused {
        /// The entry's path in the archive.
        entry: String,
        /// The rule it breaks.
        rule: ExtractRule,
    },
    /// The headers read at a place in the archive declare a record over its limit
    /// ([`mod@entries`]); the entry they belong to is not known yet.
    #[error("refused {at}: {rule}")]
    RefusedAt {
        /// Where (`the entry after PATH`).
        at: String,
        /// The rule (`record-too-large`).
        rule: ExtractRule,
    },
    /// The index cannot be read.
    #[error(transparent)]
    Index(#[from] index::IndexError),
    /// The blocking tar thread stopped unexpectedly.
    #[error("the tar thread stopped: {0}")]
    Thread(String),
}

impl From<ArchiveError> for Error {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Refused { .. }
            | ArchiveError::RefusedAt { .. }
            | ArchiveError::Corrupt { .. }
            | ArchiveError::Index(_) => Error::Integrity {
                what: e.to_string(),
            },
            ArchiveError::Io { path, source } => Error::Local { path, source },
            ArchiveError::Thread(what) => Error::Local {
                path: PathBuf::from("-"),
                source: io::Error::other(what),
            },
        }
    }
}

/// A compressing writer of one of the [`Compression`] kinds.
pub(crate) enum Encoder<W: Write> {
    Blocks(blocks::ParallelEncoder<W>),
    /// No compression: the writer and the bytes written.
    None(W, u64),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(w: W, c: Compression) -> Self {
        match c {
            Compression::Gzip => Self::Blocks(blocks::ParallelEncoder::new(
                w,
                blocks::Codec::Gzip(GZIP_LEVEL),
            )),
            Compression::Zstd => Self::Blocks(blocks::ParallelEncoder::new(
                w,
                blocks::Codec::Zstd(ZSTD_LEVEL),
            )),
            Compression::None => Self::None(w, 0),
        }
    }

    /// Writes what is left and returns the inner writer, the seek points (none without
    /// compression: every offset is one) and the stored length.
    pub(crate) fn finish(self) -> io::Result<(W, Vec<SeekPoint>, u64)> {
        match self {
            Self::Blocks(e) => e.finish(),
            Self::None(mut w, n) => {
                w.flush()?;
                Ok((w, Vec::new(), n))
            }
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Blocks(e) => e.write(buf),
            Self::None(w, count) => {
                let n = w.write(buf)?;
                *count += n as u64;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Blocks(e) => e.flush(),
            Self::None(w, _) => w.flush(),
        }
    }
}

/// What packing into a stream gave: the report, the stored stream's writer, the index
/// (to be finished with the totals) and what finishing it needs.
pub(crate) struct Packed<W, X: Write> {
    report: PackReport,
    out: W,
    index: Option<IndexWriter<X>>,
    points: Vec<SeekPoint>,
    raw: u64,
    stored: u64,
}

impl<W, X: Write> Packed<W, X> {
    /// Finishes the index (when there is one) with the archive's totals.
    fn finish_index(self, etag: Option<String>) -> io::Result<(PackReport, W, Option<X>)> {
        let totals = Totals {
            raw: self.raw,
            stored: self.stored,
            etag,
        };
        let index = match self.index {
            Some(i) => Some(i.finish(&self.points, &totals)?),
            None => None,
        };
        Ok((self.report, self.out, index))
    }
}

/// Packs `root` through `compression` into `out`, feeding `index` (blocking).
fn pack_stream<W: Write, X: Write>(
    root: &Path,
    out: W,
    compression: Compression,
    opts: PackOptions,
    mut index: Option<IndexWriter<X>>,
) -> Result<Packed<W, X>, ArchiveError> {
    let io_err = |source| ArchiveError::Io {
        path: PathBuf::from("-"),
        source,
    };
    let (report, raw, enc) = pack(root, Encoder::new(out, compression), opts, &mut |e| {
        index.as_mut().map_or(Ok(()), |i| i.push(e))
    })?;
    let (out, points, stored) = enc.finish().map_err(io_err)?;
    Ok(Packed {
        report,
        out,
        index,
        points,
        raw,
        stored,
    })
}

/// The index's name for an archive's: `KEY.index`.
#[must_use]
pub fn index_name(archive: &str) -> String {
    format!("{archive}.index")
}

/// Bytes that start a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Bytes that start a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A reader that decompresses what `r` holds, recognising gzip and zstd by their magic bytes
/// (anything else is read as a plain tar stream).
pub(crate) fn decoder<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = io::BufReader::with_capacity(pipe::CHUNK_BYTES, r);
    let head = io::BufRead::fill_buf(&mut r)?;
    if head.starts_with(&ZSTD_MAGIC) {
        return Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r)?));
    }
    if head.starts_with(&GZIP_MAGIC) {
        // Multi-member: `pigz` and concatenated gzip files are one stream for `gzip -d`.
        return Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)));
    }
    Ok(Box::new(r))
}

/// `haul tar push DIR s3://bucket/key`: packs `root` on a blocking thread and uploads the
/// stream as it is made, as a multipart upload of unknown length (no temporary file; memory
/// is the pipe's bound plus the upload's parts within `budget`). With `index_key`, the
/// index is written as the archive is packed (to an unnamed temporary file: it grows with
/// the number of entries) and uploaded there once the archive is stored, with the archive's
/// ETag.
///
/// # Errors
/// The upload's errors (the multipart upload is aborted), or an [`ArchiveError`] of the walk
/// (the upload is aborted too, since the stream ends early with an error).
#[allow(clippy::too_many_arguments)]
pub async fn push(
    client: &Client,
    root: &Path,
    bucket: &BucketName,
    key: &ObjectKey,
    compression: Compression,
    pack_opts: PackOptions,
    index_key: Option<(&BucketName, &ObjectKey)>,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<(PackReport, u64), Error> {
    let (writer, reader) = pipe::pipe();
    let root = root.to_path_buf();
    let index = match index_key {
        Some(_) => {
            let file = crate::local::anonymous_file().map_err(|source| Error::Local {
                path: std::env::temp_dir(),
                source,
            })?;
            let header = IndexHeader::new(
                format!("s3://{}/{}", bucket.as_str(), key.as_str()),
                compression,
            );
            Some(
                IndexWriter::new(io::BufWriter::new(file), &header).map_err(|source| {
                    Error::Local {
                        path: std::env::temp_dir(),
                        source,
                    }
                })?,
            )
        }
        None => None,
    };
    let pack_task = tokio::task::spawn_blocking(move || {
        let mut packed = pack_stream(&root, writer, compression, pack_opts, index)?;
        packed.out.flush().map_err(|source| ArchiveError::Io {
            path: PathBuf::from("-"),
            source,
        })?;
        packed.out.close();
        Ok::<_, ArchiveError>(packed)
    });
    let uploaded = transfer::upload_reader(
        client,
        reader,
        bucket,
        key,
        opts,
        &PutOptions::default(),
        budget,
    )
    .await;
    let pack_result = pack_task
        .await
        .map_err(|e| Error::from(ArchiveError::Thread(e.to_string())))?;
    match (uploaded, pack_result) {
        // The upload failed and the packer then found the pipe closed: the upload's error
        // is the cause.
        (Err(e), Err(ArchiveError::Io { source, .. }))
            if source.kind() == io::ErrorKind::BrokenPipe =>
        {
            Err(e)
        }
        // Otherwise the packer's error says why the stream broke (the upload, which then saw
        // the stream stop early, was aborted).
        (_, Err(e)) => Err(e.into()),
        (Err(e), Ok(_)) => Err(e),
        (Ok(bytes), Ok(packed)) => {
            if bytes != packed.stored {
                return Err(Error::Integrity {
                    what: format!(
                        "s3://{}/{}: uploaded {bytes} bytes of a {}-byte archive",
                        bucket.as_str(),
                        key.as_str(),
                        packed.stored
                    ),
                });
            }
            let Some((index_bucket, index_key)) = index_key else {
                return Ok((packed.report, bytes));
            };
            let etag = client.head_object(bucket, key).await?.etag;
            let (report, _, file) = tokio::task::spawn_blocking(move || {
                packed.finish_index(etag.map(|t| t.as_str().to_owned()))
            })
            .await
            .map_err(|e| Error::from(ArchiveError::Thread(e.to_string())))?
            .map_err(|source| Error::Local {
                path: std::env::temp_dir(),
                source,
            })?;
            let mut file = file
                .map(io::BufWriter::into_inner)
                .transpose()
                .map_err(|e| Error::Local {
                    path: std::env::temp_dir(),
                    source: e.into_error(),
                })?
                .ok_or_else(|| Error::from(ArchiveError::Thread("no index".into())))?;
            io::Seek::rewind(&mut file).map_err(|source| Error::Local {
                path: std::env::temp_dir(),
                source,
            })?;
            transfer::upload_reader(
                client,
                tokio::fs::File::from_std(file),
                index_bucket,
                index_key,
                opts,
                &PutOptions::default(),
                budget,
            )
            .await?;
            Ok((report, bytes))
        }
    }
}

/// `haul tar push DIR FILE|-`: packs `root` into `out` on a blocking thread; with `index`
/// (`(file, archive name)`), writes the index there. Returns the report, `out` and the index
/// file, both flushed, for the caller to persist.
///
/// # Errors
/// An [`ArchiveError`] of the walk or of writing `out` or the index.
pub async fn pack_to<W: Write + Send + 'static, X: Write + Send + 'static>(
    root: &Path,
    out: W,
    compression: Compression,
    pack_opts: PackOptions,
    index: Option<(X, String)>,
) -> Result<(PackReport, W, Option<X>), Error> {
    let root = root.to_path_buf();
    let done = tokio::task::spawn_blocking(move || {
        let io_err = |source| ArchiveError::Io {
            path: PathBuf::from("-"),
            source,
        };
        let index = match index {
            Some((x, name)) => {
                Some(IndexWriter::new(x, &IndexHeader::new(name, compression)).map_err(io_err)?)
            }
            None => None,
        };
        let mut packed = pack_stream(&root, out, compression, pack_opts, index)?;
        packed.out.flush().map_err(io_err)?;
        packed.finish_index(None).map_err(io_err)
    })
    .await
    .map_err(|e| Error::from(ArchiveError::Thread(e.to_string())))??;
    Ok(done)
}

/// `haul tar pull s3://bucket/key DIR`: downloads the object in order, with ranged GETs read
/// ahead ([`transfer::download_to_writer`]), and extracts it on a blocking thread as it
/// arrives.
///
/// # Errors
/// The download's errors, or an [`ArchiveError`] of the extraction (the download stops).
/// With `only`, extracts just the entries it selects (reading the whole archive: without an
/// index, nothing says where they are).
///
/// # Errors
/// The download's errors, or an [`ArchiveError`] of the extraction (the download stops).
pub async fn pull(
    r: Remote<'_>,
    bucket: &BucketName,
    key: &ObjectKey,
    dir: &Path,
    opts: UnpackOptions,
    mut only: Option<Selection>,
) -> Result<UnpackReport, Error> {
    let dir = dir.to_path_buf();
    through_pipe(
        move |reader| unpack_stream(reader, &dir, opts, only.as_mut()),
        async |writer| {
            transfer::download_to_writer(r.client, bucket, key, writer, r.read, r.budget)
                .await
                .map(drop)
        },
    )
    .await
}

/// Runs `consume` on a blocking thread, reading what `feed` writes into a bounded pipe.
async fn through_pipe<T: Send + 'static>(
    consume: impl FnOnce(pipe::PipeReader) -> Result<T, ArchiveError> + Send + 'static,
    feed: impl AsyncFnOnce(&mut pipe::PipeWriter) -> Result<(), Error>,
) -> Result<T, Error> {
    let (mut writer, reader) = pipe::pipe();
    let task = tokio::task::spawn_blocking(move || consume(reader));
    let sent = feed(&mut writer).await;
    if sent.is_ok() {
        // Flushed by the feeder: the stream ends cleanly. On failure the writer is dropped
        // unclosed and the consumer sees an error, never a short archive.
        writer.close();
    }
    drop(writer);
    let consumed = task.await.map_err(|e| thread_error(&e))?;
    match (sent, consumed) {
        // A download that broke makes the consumer fail at the stream's end: report the
        // download's error then.
        (Err(e), Err(ArchiveError::Corrupt { .. }) | Ok(_)) => Err(e),
        // Otherwise the consumer's own error explains a download that stopped because it
        // quit.
        (_, Err(e)) => Err(e.into()),
        (Ok(()), Ok(t)) => Ok(t),
    }
}

/// `haul tar pull FILE|- DIR`: extracts what `input` holds on a blocking thread (with
/// `only`, just the entries it selects).
///
/// # Errors
/// An [`ArchiveError`] of the extraction.
pub async fn unpack_from<R: Read + Send + 'static>(
    input: R,
    dir: &Path,
    opts: UnpackOptions,
    mut only: Option<Selection>,
) -> Result<UnpackReport, Error> {
    let dir = dir.to_path_buf();
    let report =
        tokio::task::spawn_blocking(move || unpack_stream(input, &dir, opts, only.as_mut()))
            .await
            .map_err(|e| thread_error(&e))??;
    Ok(report)
}

/// Decompresses `input` on a thread of its own while this one extracts (see
/// [`pipe::decode_ahead`]).
fn unpack_stream<R: Read + Send>(
    input: R,
    dir: &Path,
    opts: UnpackOptions,
    only: Option<&mut Selection>,
) -> Result<UnpackReport, ArchiveError> {
    pipe::decode_ahead(input, decoder, |r| {
        unpack::unpack_selected(r, dir, opts, only)
    })
}

/// Where an archive or an index is read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An object.
    S3 {
        /// Its bucket.
        bucket: BucketName,
        /// Its key.
        key: ObjectKey,
    },
    /// A local file.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Source {
    /// The name messages give it.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::S3 { bucket, key } => format!("s3://{}/{}", bucket.as_str(), key.as_str()),
            Self::File(p) => p.display().to_string(),
            Self::Stdin => "-".into(),
        }
    }
}

/// What reading from S3 needs: the client, the read-ahead options and the memory budget.
#[derive(Debug, Clone, Copy)]
pub struct Remote<'a> {
    /// The client of the gateway.
    pub client: &'a Client,
    /// Part size (the ranges read ahead) and the other transfer options.
    pub read: &'a TransferOptions,
    /// The bound on bytes in memory.
    pub budget: &'a MemoryBudget,
}

fn remote<'a>(remote: Option<Remote<'a>>, what: &Source) -> Result<Remote<'a>, Error> {
    remote.ok_or_else(|| Error::Usage(format!("{}: no gateway to read it from", what.name())))
}

fn thread_error(e: &tokio::task::JoinError) -> Error {
    Error::from(ArchiveError::Thread(e.to_string()))
}

/// The index at `at`: an object is fetched whole into an unnamed temporary file (an index
/// grows with the number of entries), a file is opened.
///
/// # Errors
/// The download's errors (`NotFound` when there is no index), or opening the file.
pub async fn open_index(r: Option<Remote<'_>>, at: &Source) -> Result<std::fs::File, Error> {
    match at {
        Source::S3 { bucket, key } => {
            let r = remote(r, at)?;
            let temp_err = |source| Error::Local {
                path: std::env::temp_dir(),
                source,
            };
            let file = crate::local::anonymous_file().map_err(temp_err)?;
            let mut out = tokio::fs::File::from_std(file.try_clone().map_err(temp_err)?);
            transfer::download_to_writer(r.client, bucket, key, &mut out, r.read, r.budget).await?;
            tokio::io::AsyncWriteExt::flush(&mut out)
                .await
                .map_err(temp_err)?;
            drop(out);
            let mut file = file;
            io::Seek::rewind(&mut file).map_err(temp_err)?;
            Ok(file)
        }
        Source::File(p) => Ok(fs_err::File::open(p)
            .map_err(|source| Error::Local {
                path: p.clone(),
                source,
            })?
            .into_parts()
            .0),
        Source::Stdin => Err(Error::Usage(
            "an index cannot be read from stdin (give --index FILE|s3://…)".into(),
        )),
    }
}

/// `haul tar verify`: reads the archive at `archive` once against the index in `index`
/// (from [`open_index`]), without extracting anything.
///
/// # Errors
/// Reading either; [`ArchiveError::Corrupt`] for an archive that cannot be decoded,
/// [`ArchiveError::Index`] for a damaged index. Differences are in the report.
pub async fn verify(
    r: Option<Remote<'_>>,
    archive: &Source,
    index: std::fs::File,
    index_name: String,
) -> Result<verify::VerifyReport, Error> {
    let check = move |input: Box<dyn Read + Send>| {
        let mut reader = index::IndexReader::new(io::BufReader::new(index), &index_name)?;
        verify::verify(input, &mut reader)
    };
    match archive {
        Source::S3 { bucket, key } => {
            let r = remote(r, archive)?;
            through_pipe(
                move |reader| check(Box::new(reader)),
                async |writer| {
                    transfer::download_to_writer(r.client, bucket, key, writer, r.read, r.budget)
                        .await
                        .map(drop)
                },
            )
            .await
        }
        Source::File(p) => {
            let file = fs_err::File::open(p).map_err(|source| Error::Local {
                path: p.clone(),
                source,
            })?;
            Ok(tokio::task::spawn_blocking(move || check(Box::new(file)))
                .await
                .map_err(|e| thread_error(&e))??)
        }
        Source::Stdin => Ok(
            tokio::task::spawn_blocking(move || check(Box::new(io::stdin())))
                .await
                .map_err(|e| thread_error(&e))??,
        ),
    }
}

/// `haul tar pull --only PATH…` with an index: reads the selected entries (and the hard
/// link targets they need) from `index`, fetches only the stored runs they lie in (ranged
/// GETs pinned to the ETag the index recorded, or reads at offsets of a file) and extracts
/// them, each file checked against its BLAKE3. The report lists the paths that selected
/// nothing.
///
/// # Errors
/// Reading the index or the archive; the extraction's errors; an index that does not match
/// its archive.
pub async fn pull_only(
    r: Option<Remote<'_>>,
    archive: &Source,
    index: std::fs::File,
    index_name: &str,
    paths: &[PathBuf],
    dir: &Path,
    opts: UnpackOptions,
) -> Result<UnpackReport, Error> {
    let mut sel = Selection::new(paths);
    let name = index_name.to_owned();
    let (selected, sel) = tokio::task::spawn_blocking(move || {
        let mut index = index;
        let reader = index::IndexReader::new(io::BufReader::new(&index), &name)?;
        let mut selected =
            only::read_selected(reader, &mut sel, &std::collections::HashSet::new())?;
        if !selected.missing_targets.is_empty() {
            // Hard links whose targets were not selected: a second pass brings them.
            io::Seek::rewind(&mut index).map_err(|source| ArchiveError::Io {
                path: PathBuf::from(&name),
                source,
            })?;
            let reader = index::IndexReader::new(io::BufReader::new(&index), &name)?;
            let also = std::mem::take(&mut selected.missing_targets);
            selected = only::read_selected(reader, &mut sel.clone(), &also)?;
        }
        Ok::<_, ArchiveError>((selected, sel))
    })
    .await
    .map_err(|e| thread_error(&e))??;
    let unmatched = sel.unmatched();
    let runs = only::plan_runs(&selected)?;
    let compression = selected.compression;
    let dir = dir.to_path_buf();
    let mut report = match archive {
        Source::S3 { bucket, key } => {
            let r = remote(r, archive)?;
            let etag = match selected.totals.etag.clone() {
                Some(t) => crate::s3::ETag::new(t).map_err(|e| Error::Integrity {
                    what: format!("{index_name}: the archive's ETag: {e}"),
                })?,
                None => r
                    .client
                    .head_object(bucket, key)
                    .await?
                    .etag
                    .ok_or_else(|| Error::Integrity {
                        what: format!("{}: no ETag to pin ranged reads to", archive.name()),
                    })?,
            };
            let spans: Vec<(u64, u64)> = runs
                .iter()
                .map(|run| (run.stored_start, run.stored_end - run.stored_start))
                .collect();
            through_pipe(
                move |reader| only::extract_runs(reader, &runs, compression, &dir, opts),
                async |writer| {
                    for (offset, len) in spans {
                        transfer::download_range_to_writer(
                            r.client,
                            bucket,
                            key,
                            &etag,
                            offset,
                            len,
                            &mut *writer,
                            r.read,
                            r.budget,
                        )
                        .await?;
                    }
                    Ok(())
                },
            )
            .await?
        }
        Source::File(p) => {
            let file = fs_err::File::open(p).map_err(|source| Error::Local {
                path: p.clone(),
                source,
            })?;
            tokio::task::spawn_blocking(move || {
                let input = RunsOfFile {
                    file: file.into_parts().0,
                    spans: runs
                        .iter()
                        .map(|r| (r.stored_start, r.stored_end))
                        .collect(),
                    at: 0,
                };
                only::extract_runs(input, &runs, compression, &dir, opts)
            })
            .await
            .map_err(|e| thread_error(&e))??
        }
        Source::Stdin => {
            return Err(Error::Usage(
                "--only with an index reads the archive at offsets: not from stdin".into(),
            ));
        }
    };
    report.unmatched = unmatched;
    Ok(report)
}

/// The stored bytes of each run of a file, one run after the other (positional reads).
struct RunsOfFile {
    file: std::fs::File,
    /// (start, end) of each run not yet read, first first.
    spans: std::collections::VecDeque<(u64, u64)>,
    at: u64,
}

impl Read for RunsOfFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        while let Some(&(start, end)) = self.spans.front() {
            let pos = start.max(self.at);
            if pos >= end {
                self.spans.pop_front();
                continue;
            }
            let want = usize::try_from(end - pos)
                .unwrap_or(usize::MAX)
                .min(out.len());
            let n = self
                .file
                .read_at(out.get_mut(..want).unwrap_or_default(), pos)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the archive file ends before the index says",
                ));
            }
            self.at = pos + n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}
