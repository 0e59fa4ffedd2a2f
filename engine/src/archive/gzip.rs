//! Parallel gzip: the stream cut into blocks of `BLOCK_BYTES`, each compressed as its own
//! gzip member on rayon's pool, the members written in order. Concatenated members are one
//! gzip stream for `gzip -d`, GNU tar's `-z`, pigz and flate2's `MultiGzDecoder` (RFC 1952
//! §2.2), so the output is standard; it is a little larger than one member's (no dictionary
//! carried across blocks) and the same for any number of threads.
//!
//! Memory is bounded: at most `IN_FLIGHT_PER_THREAD` blocks per pool thread are queued or
//! being compressed; the writer waits for the oldest before taking another.

use std::collections::VecDeque;
use std::io::{self, Write};

use crossbeam_channel::Receiver;

/// Uncompressed bytes per gzip member (chosen: 1 MiB, large enough that the per-member
/// header and lost dictionary cost well under 1% of the size on log-like text).
const BLOCK_BYTES: usize = 1024 * 1024;
/// Blocks in flight per rayon thread (chosen: 2, one compressing and one queued, so every
/// core stays busy while the writer waits for the oldest).
const IN_FLIGHT_PER_THREAD: usize = 2;

/// A writer that gzips on every core (see the module documentation).
pub(crate) struct ParallelGzEncoder<W: Write> {
    inner: W,
    level: flate2::Compression,
    block: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    max_pending: usize,
    wrote_member: bool,
}

impl<W: Write> ParallelGzEncoder<W> {
    pub(crate) fn new(inner: W, level: u32) -> Self {
        Self {
            inner,
            level: flate2::Compression::new(level),
            block: Vec::with_capacity(BLOCK_BYTES),
            pending: VecDeque::new(),
            max_pending: rayon::current_num_threads().max(1) * IN_FLIGHT_PER_THREAD,
            wrote_member: false,
        }
    }

    /// Hands the current block to the pool.
    fn submit(&mut self) -> io::Result<()> {
        while self.pending.len() >= self.max_pending {
            self.write_oldest()?;
        }
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_BYTES));
        let level = self.level;
        // A oneshot per block: bounded by construction.
        let (tx, rx) = crossbeam_channel::bounded(1);
        rayon::spawn(move || {
            let _ = tx.send(compress(&block, level));
        });
        self.pending.push_back(rx);
        self.wrote_member = true;
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let member = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip worker stopped"))??;
            self.inner.write_all(&member)?;
        }
        Ok(())
    }

    /// Compresses what is left, writes every member in order and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || !self.wrote_member {
            // An empty stream is still one (empty) member: `gzip -d` refuses zero bytes.
            self.submit()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

fn compress(block: &[u8], level: flate2::Compression) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(block.len() / 3 + 64), level);
    enc.write_all(block)?;
    enc.finish()
}

impl<W: Write> Write for ParallelGzEncoder<W> {
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
        while self.pending.front().is_some_and(|rx| !rx.is_empty()) {
            self.write_oldest()?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn members_decode_to_the_input_for_any_size() {
        for len in [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES * 3 + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut enc = ParallelGzEncoder::new(Vec::new(), 6);
            enc.write_all(&data).unwrap();
            let gz = enc.finish().unwrap();
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "len {len}");
        }
    }
}
