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
//! Compression: gzip on every core (`gzip.rs`: independent 1 MiB members through
//! `flate2`, one standard multi-member stream), zstd through libzstd (one thread). The index and `haul tar verify` of issue 6 are not
//! here yet. Read [`mod@pack`] next.

mod gzip;
pub mod pack;
pub mod pipe;
pub mod unpack;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::client::{Client, PutOptions};
use crate::error::Error;
use crate::s3::{BucketName, ObjectKey};
use crate::transfer::{self, MemoryBudget, TransferOptions};

pub use pack::{PackReport, PackWarning, pack};
pub use unpack::{ExtractRule, UnpackOptions, UnpackReport, unpack};

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
    /// The blocking tar thread stopped unexpectedly.
    #[error("the tar thread stopped: {0}")]
    Thread(String),
}

impl From<ArchiveError> for Error {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Refused { .. } | ArchiveError::Corrupt { .. } => Error::Integrity {
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
    Gzip(gzip::ParallelGzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(w: W, c: Compression) -> io::Result<Self> {
        Ok(match c {
            Compression::Gzip => Self::Gzip(gzip::ParallelGzEncoder::new(w, GZIP_LEVEL)),
            Compression::Zstd => Self::Zstd(zstd::stream::write::Encoder::new(w, ZSTD_LEVEL)?),
            Compression::None => Self::None(w),
        })
    }

    /// Writes the compressor's trailer and returns the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Self::Gzip(e) => e.finish(),
            Self::Zstd(e) => e.finish(),
            Self::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(e) => e.write(buf),
            Self::Zstd(e) => e.write(buf),
            Self::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Gzip(e) => e.flush(),
            Self::Zstd(e) => e.flush(),
            Self::None(w) => w.flush(),
        }
    }
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
/// is the pipe's bound plus the upload's parts within `budget`).
///
/// # Errors
/// The upload's errors (the multipart upload is aborted), or an [`ArchiveError`] of the walk
/// (the upload is aborted too, since the stream ends early with an error).
pub async fn push(
    client: &Client,
    root: &Path,
    bucket: &BucketName,
    key: &ObjectKey,
    compression: Compression,
    opts: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<(PackReport, u64), Error> {
    let (writer, reader) = pipe::pipe();
    let root = root.to_path_buf();
    let pack_task = tokio::task::spawn_blocking(move || -> Result<PackReport, ArchiveError> {
        let out = Encoder::new(writer, compression).map_err(|source| ArchiveError::Io {
            path: PathBuf::from("-"),
            source,
        })?;
        let (report, out) = pack(&root, out)?;
        let io_err = |source| ArchiveError::Io {
            path: PathBuf::from("-"),
            source,
        };
        let mut w = out.finish().map_err(io_err)?;
        w.flush().map_err(io_err)?;
        w.close();
        Ok(report)
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
        (Ok(bytes), Ok(report)) => Ok((report, bytes)),
    }
}

/// `haul tar push DIR FILE|-`: packs `root` into `out` on a blocking thread.
///
/// # Errors
/// An [`ArchiveError`] of the walk or of writing `out`.
pub async fn pack_to<W: Write + Send + 'static>(
    root: &Path,
    out: W,
    compression: Compression,
) -> Result<PackReport, Error> {
    let root = root.to_path_buf();
    let report = tokio::task::spawn_blocking(move || -> Result<PackReport, ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: PathBuf::from("-"),
            source,
        };
        let enc = Encoder::new(out, compression).map_err(io_err)?;
        let (report, enc) = pack(&root, enc)?;
        let mut w = enc.finish().map_err(io_err)?;
        w.flush().map_err(io_err)?;
        Ok(report)
    })
    .await
    .map_err(|e| Error::from(ArchiveError::Thread(e.to_string())))??;
    Ok(report)
}

/// `haul tar pull s3://bucket/key DIR`: downloads the object in order, with ranged GETs read
/// ahead ([`transfer::download_to_writer`]), and extracts it on a blocking thread as it
/// arrives.
///
/// # Errors
/// The download's errors, or an [`ArchiveError`] of the extraction (the download stops).
pub async fn pull(
    client: &Client,
    bucket: &BucketName,
    key: &ObjectKey,
    dir: &Path,
    opts: UnpackOptions,
    read: &TransferOptions,
    budget: &MemoryBudget,
) -> Result<UnpackReport, Error> {
    let (writer, reader) = pipe::pipe();
    let dir = dir.to_path_buf();
    let unpack_task = tokio::task::spawn_blocking(move || unpack_stream(reader, &dir, opts));
    let mut writer = writer;
    let downloaded =
        transfer::download_to_writer(client, bucket, key, &mut writer, read, budget).await;
    if downloaded.is_ok() {
        // Flushed by the download: the stream ends cleanly. On failure the writer is dropped
        // unclosed and the unpacker sees an error, never a short archive.
        writer.close();
    }
    drop(writer);
    let unpack_result = unpack_task
        .await
        .map_err(|e| Error::from(ArchiveError::Thread(e.to_string())))?;
    match (downloaded, unpack_result) {
        // A download that broke makes the unpacker fail at the stream's end: report the
        // download's error then.
        (Err(e), Err(ArchiveError::Corrupt { .. }) | Ok(_)) => Err(e),
        // Otherwise the extraction's own error explains a download that stopped because the
        // unpacker quit.
        (_, Err(e)) => Err(e.into()),
        (Ok(_), Ok(report)) => Ok(report),
    }
}

/// `haul tar pull FILE|- DIR`: extracts what `input` holds on a blocking thread.
///
/// # Errors
/// An [`ArchiveError`] of the extraction.
pub async fn unpack_from<R: Read + Send + 'static>(
    input: R,
    dir: &Path,
    opts: UnpackOptions,
) -> Result<UnpackReport, Error> {
    let dir = dir.to_path_buf();
    let report = tokio::task::spawn_blocking(move || unpack_stream(input, &dir, opts))
        .await
        .map_err(|e| Error::from(ArchiveError::Thread(e.to_string())))??;
    Ok(report)
}

fn unpack_stream<R: Read>(
    input: R,
    dir: &Path,
    opts: UnpackOptions,
) -> Result<UnpackReport, ArchiveError> {
    let r = decoder(input).map_err(|source| ArchiveError::Corrupt {
        entry: "the start of the archive".into(),
        source,
    })?;
    unpack(r, dir, opts)
}
