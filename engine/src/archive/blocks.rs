//! Parallel compression in independent blocks: the stream cut into blocks of `BLOCK_BYTES`,
//! each compressed as its own gzip member or zstd frame on rayon's pool, written in order.
//! Concatenated members are one gzip stream for `gzip -d`, GNU tar's `-z`, pigz and flate2's
//! `MultiGzDecoder` (RFC 1952 §2.2); concatenated frames are one zstd stream for `zstd -d`
//! and `tar --zstd` (RFC 8878 §3.1). The output is standard; it is a little larger than one
//! member's (no dictionary carried across blocks) and the same for any number of threads.
//!
//! Each block is also a seek point ([`SeekPoint`]): decompression can start at any block's
//! first stored byte, which is what the tar index records so that `tar pull --only` reads
//! only the blocks an entry lies in.
//!
//! Memory is bounded: at most `IN_FLIGHT_PER_THREAD` blocks per pool thread are queued or
//! being compressed; the writer waits for the oldest before taking another.

use std::collections::VecDeque;
use std::io::{self, Write};

use crossbeam_channel::Receiver;

use super::index::SeekPoint;

/// Uncompressed bytes per gzip member (chosen: 1 MiB, large enough that the per-member
/// header and lost dictionary cost well under 1% of the size on log-like text).
const BLOCK_BYTES: usize = 1024 * 1024;
/// Blocks in flight per rayon thread (chosen: 2, one compressing and one queued, so every
/// core stays busy while the writer waits for the oldest).
const IN_FLIGHT_PER_THREAD: usize = 2;

/// How each block is compressed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Codec {
    /// A gzip member at this level.
    Gzip(u32),
    /// A zstd frame at this level.
    Zstd(i32),
}

/// A writer that compresses on every core (see the module documentation).
pub(crate) struct ParallelEncoder<W: Write> {
    inner: W,
    codec: Codec,
    block: Vec<u8>,
    /// Blocks being compressed: their raw offset and where their bytes will come.
    pending: VecDeque<(u64, Receiver<io::Result<Vec<u8>>>)>,
    max_pending: usize,
    wrote_member: bool,
    /// Raw bytes handed to the pool so far.
    raw: u64,
    /// Stored bytes written so far.
    stored: u64,
    points: Vec<SeekPoint>,
}

impl<W: Write> ParallelEncoder<W> {
    pub(crate) fn new(inner: W, codec: Codec) -> Self {
        Self {
            inner,
            codec,
            block: Vec::with_capacity(BLOCK_BYTES),
            pending: VecDeque::new(),
            max_pending: rayon::current_num_threads().max(1) * IN_FLIGHT_PER_THREAD,
            wrote_member: false,
            raw: 0,
            stored: 0,
            points: Vec::new(),
        }
    }

    /// Hands the current block to the pool.
    fn submit(&mut self) -> io::Result<()> {
        while self.pending.len() >= self.max_pending {
            self.write_oldest()?;
        }
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_BYTES));
        let codec = self.codec;
        let raw = self.raw;
        self.raw += block.len() as u64;
        // A oneshot per block: bounded by construction.
        let (tx, rx) = crossbeam_channel::bounded(1);
        rayon::spawn(move || {
            let _ = tx.send(compress(&block, codec));
        });
        self.pending.push_back((raw, rx));
        self.wrote_member = true;
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some((raw, rx)) = self.pending.pop_front() {
            let member = rx
                .recv()
                .map_err(|_| io::Error::other("a compression worker stopped"))??;
            self.inner.write_all(&member)?;
            self.points.push(SeekPoint {
                raw,
                stored: self.stored,
            });
            self.stored += member.len() as u64;
        }
        Ok(())
    }

    /// Compresses what is left, writes every block in order and returns the inner writer
    /// with the seek points and the stored length.
    pub(crate) fn finish(mut self) -> io::Result<(W, Vec<SeekPoint>, u64)> {
        if !self.block.is_empty() || !self.wrote_member {
            // An empty stream is still one (empty) member: `gzip -d` refuses zero bytes.
            self.submit()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.inner.flush()?;
        Ok((self.inner, self.points, self.stored))
    }
}

fn compress(block: &[u8], codec: Codec) -> io::Result<Vec<u8>> {
    match codec {
        Codec::Gzip(level) => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(block.len() / 3 + 64),
                flate2::Compression::new(level),
            );
            enc.write_all(block)?;
            enc.finish()
        }
        Codec::Zstd(level) => zstd::bulk::compress(block, level),
    }
}

impl<W: Write> Write for ParallelEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.block.len() >= BLOCK_BYTES {
            self.submit()?;
        }
        let n = data.len().min(BLOCK_BYTES - self.block.len());
        self.block
            .extend_from_slice(data.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Writes the members finished so far (a partial block stays: cutting it would change
    /// the output).
    fn flush(&mut self) -> io::Result<()> {
        while self.pending.front().is_some_and(|(_, rx)| !rx.is_empty()) {
            self.write_oldest()?;
        }
        self.inner.flush()
    }
}

/// A `BufRead` that counts the bytes consumed from it: the offset in the stored stream.
pub(crate) struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: io::BufRead> io::Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: io::BufRead> io::BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.inner.consume(n);
    }
}

/// The decoder of one block.
enum Block<R: io::BufRead> {
    Gzip(Box<flate2::bufread::GzDecoder<Counted<R>>>),
    Zstd(zstd::stream::read::Decoder<'static, Counted<R>>),
    Plain(Counted<R>),
    Done,
}

/// Decodes a stored stream (gzip members, zstd frames, or plain) block by block, recording
/// where each block starts: the seek points an index must list. Anything after the last
/// block that is not another block is an error, as for `gzip -d`.
pub(crate) struct Tracked<R: io::BufRead> {
    block: Block<R>,
    codec: Option<Codec>,
    raw: u64,
    points: Vec<SeekPoint>,
}

impl<R: io::BufRead> Tracked<R> {
    /// A decoder of `input`, stored with `codec` (`None`: plain).
    pub(crate) fn new(input: R, codec: Option<Codec>) -> io::Result<Self> {
        let mut t = Self {
            block: Block::Done,
            codec,
            raw: 0,
            points: Vec::new(),
        };
        let input = Counted {
            inner: input,
            pos: 0,
        };
        t.block = match codec {
            None => Block::Plain(input),
            Some(_) => t.start(input)?,
        };
        Ok(t)
    }

    fn start(&mut self, input: Counted<R>) -> io::Result<Block<R>> {
        self.points.push(SeekPoint {
            raw: self.raw,
            stored: input.pos,
        });
        Ok(match self.codec {
            Some(Codec::Zstd(_)) => {
                Block::Zstd(zstd::stream::read::Decoder::with_buffer(input)?.single_frame())
            }
            _ => Block::Gzip(Box::new(flate2::bufread::GzDecoder::new(input))),
        })
    }

    /// The seek points found, the bytes decoded and the bytes consumed.
    pub(crate) fn finish(self) -> (Vec<SeekPoint>, u64, u64) {
        let stored = match &self.block {
            Block::Gzip(d) => d.get_ref().pos,
            Block::Zstd(d) => d.get_ref().pos,
            Block::Plain(c) => c.pos,
            Block::Done => 0,
        };
        (self.points, self.raw, stored)
    }
}

impl<R: io::BufRead> io::Read for Tracked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = match &mut self.block {
                Block::Gzip(d) => d.read(out)?,
                Block::Zstd(d) => d.read(out)?,
                Block::Plain(c) => c.read(out)?,
                Block::Done => return Ok(0),
            };
            if n > 0 || out.is_empty() {
                self.raw += n as u64;
                return Ok(n);
            }
            // The block ended: another follows unless the input did.
            let mut input = match std::mem::replace(&mut self.block, Block::Done) {
                Block::Gzip(d) => d.into_inner(),
                Block::Zstd(d) => d.finish(),
                Block::Plain(c) => {
                    self.block = Block::Plain(c);
                    return Ok(0);
                }
                Block::Done => return Ok(0),
            };
            if io::BufRead::fill_buf(&mut input)?.is_empty() {
                self.block = Block::Plain(input);
                return Ok(0);
            }
            self.block = self.start(input)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn blocks_decode_to_the_input_for_any_size_and_from_every_seek_point() {
        for codec in [Codec::Gzip(6), Codec::Zstd(3)] {
            for len in [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES * 3 + 17] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut enc = ParallelEncoder::new(Vec::new(), codec);
                enc.write_all(&data).unwrap();
                let (stored, points, stored_len) = enc.finish().unwrap();
                assert_eq!(stored_len, stored.len() as u64);
                let decode = |bytes: &[u8]| {
                    let mut out = Vec::new();
                    match codec {
                        Codec::Gzip(_) => flate2::read::MultiGzDecoder::new(bytes)
                            .read_to_end(&mut out)
                            .unwrap(),
                        Codec::Zstd(_) => zstd::stream::read::Decoder::new(bytes)
                            .unwrap()
                            .read_to_end(&mut out)
                            .unwrap(),
                    };
                    out
                };
                assert_eq!(decode(&stored), data, "{codec:?} len {len}");
                let mut tracked = Tracked::new(&stored[..], Some(codec)).unwrap();
                let mut out = Vec::new();
                tracked.read_to_end(&mut out).unwrap();
                assert_eq!(out, data);
                assert_eq!(tracked.finish(), (points.clone(), len as u64, stored_len));
                assert_eq!(points.len(), len.div_ceil(BLOCK_BYTES).max(1));
                for p in &points {
                    let from = usize::try_from(p.stored).unwrap();
                    let raw = usize::try_from(p.raw).unwrap();
                    assert_eq!(decode(&stored[from..]), data[raw..], "{codec:?} {p:?}");
                }
            }
        }
    }
}
