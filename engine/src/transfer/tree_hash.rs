//! The BLAKE3 of an object whose parts are read and hashed apart, in any order, on any thread.
//!
//! BLAKE3 is a tree: 1 KiB chunks are leaves, and a node over `n` bytes has as its left child
//! the largest power-of-two number of chunks below `n` (`hazmat::left_subtree_len`). Every
//! block of 2^k chunks that starts at a multiple of its own size and lies within the input is a
//! node of that tree, and so is the short last chunk. A part is therefore cut into such blocks,
//! each hashed to its chaining value on its own ([`hash_part`]); when every part is in,
//! [`TreeHash::finish`] walks the tree from the root, taking each node from the blocks or
//! merging its two children, and gives exactly `blake3::hash` of the whole object. A part must
//! start at a multiple of 1 KiB (part plans are cut so) and end on one unless it ends the
//! object. The result is checked against `blake3::hash` by the tests below, as the `hazmat`
//! module asks.

use std::collections::HashMap;

use blake3::CHUNK_LEN;
use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, left_subtree_len, max_subtree_len, merge_subtrees_non_root,
    merge_subtrees_root,
};

const CHUNK: u64 = CHUNK_LEN as u64;

/// The hashed blocks of one part.
#[derive(Debug, Clone)]
pub(crate) struct PartHash(Blocks);

#[derive(Debug, Clone)]
enum Blocks {
    /// The part is the whole object: its hash is the root.
    Whole(blake3::Hash),
    /// (start, end, chaining value) of each block.
    Subtrees(Vec<(u64, u64, ChainingValue)>),
    /// The part's bounds are not on chunk boundaries: the object's hash cannot be assembled.
    Unaligned,
}

/// Hashes the part of `data.len()` bytes at `offset` of an object of `total` bytes. CPU work:
/// call it on a blocking thread.
pub(crate) fn hash_part(offset: u64, data: &[u8], total: u64) -> PartHash {
    let end = offset + data.len() as u64;
    if offset == 0 && end == total {
        return PartHash(Blocks::Whole(blake3::hash(data)));
    }
    if !offset.is_multiple_of(CHUNK) || (!end.is_multiple_of(CHUNK) && end != total) || end > total
    {
        return PartHash(Blocks::Unaligned);
    }
    let mut blocks = Vec::new();
    let mut start = offset;
    while start < end {
        let left = end - start;
        let size = if left < CHUNK {
            // The object's short last chunk.
            left
        } else {
            // The largest aligned power-of-two block that starts here and fits.
            let fits = CHUNK << (left / CHUNK).ilog2();
            max_subtree_len(start).map_or(fits, |align| align.min(fits))
        };
        let from = usize::try_from(start - offset).unwrap_or(usize::MAX);
        let to = usize::try_from(start + size - offset).unwrap_or(usize::MAX);
        let cv = blake3::Hasher::new()
            .set_input_offset(start)
            .update(&data[from..to])
            .finalize_non_root();
        blocks.push((start, start + size, cv));
        start += size;
    }
    PartHash(Blocks::Subtrees(blocks))
}

/// Collects the parts of one object and gives its BLAKE3.
#[derive(Debug)]
pub(crate) struct TreeHash {
    total: u64,
    whole: Option<blake3::Hash>,
    blocks: HashMap<(u64, u64), ChainingValue>,
    unaligned: bool,
}

impl TreeHash {
    /// For an object of `total` bytes.
    pub(crate) fn new(total: u64) -> Self {
        Self {
            total,
            whole: None,
            blocks: HashMap::new(),
            unaligned: false,
        }
    }

    /// Adds one part's blocks.
    pub(crate) fn add(&mut self, part: PartHash) {
        match part.0 {
            Blocks::Whole(h) => self.whole = Some(h),
            Blocks::Subtrees(v) => self
                .blocks
                .extend(v.into_iter().map(|(s, e, cv)| ((s, e), cv))),
            Blocks::Unaligned => self.unaligned = true,
        }
    }

    /// The object's BLAKE3, or `None` when a part is missing or was not cut on chunk bounds.
    pub(crate) fn finish(self) -> Option<blake3::Hash> {
        if let Some(h) = self.whole {
            return Some(h);
        }
        if self.unaligned {
            return None;
        }
        if self.total <= CHUNK {
            // One chunk is the root itself: only a whole part gives it.
            return None;
        }
        let mid = left_subtree_len(self.total);
        let left = self.node(0, mid)?;
        let right = self.node(mid, self.total)?;
        Some(merge_subtrees_root(&left, &right, Mode::Hash))
    }

    /// The chaining value of the (non-root) node over `start..end`.
    fn node(&self, start: u64, end: u64) -> Option<ChainingValue> {
        if let Some(cv) = self.blocks.get(&(start, end)) {
            return Some(*cv);
        }
        if end - start <= CHUNK {
            return None;
        }
        let mid = start + left_subtree_len(end - start);
        let left = self.node(start, mid)?;
        let right = self.node(mid, end)?;
        Some(merge_subtrees_non_root(&left, &right, Mode::Hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 1000) as u8).collect()
    }

    /// Cuts `bytes` into parts of `part` bytes, hashes them in the given order, and finishes.
    fn assembled(bytes: &[u8], part: usize, order: &[usize]) -> Option<blake3::Hash> {
        let mut parts: Vec<(usize, &[u8])> = bytes
            .chunks(part.max(1))
            .enumerate()
            .map(|(i, c)| (i * part, c))
            .collect();
        if parts.is_empty() {
            // A plan always has one part, empty for an empty object.
            parts.push((0, bytes));
        }
        let mut tree = TreeHash::new(bytes.len() as u64);
        let mut idx: Vec<usize> = (0..parts.len()).collect();
        for (i, o) in order.iter().enumerate().take(idx.len()) {
            let j = o % idx.len();
            idx.swap(i, j);
        }
        for i in idx {
            let (off, c) = parts[i];
            tree.add(hash_part(off as u64, c, bytes.len() as u64));
        }
        tree.finish()
    }

    #[test]
    fn known_shapes() {
        for (len, part) in [
            (5 * 1024 * 1024 + 1, 1024 * 1024),
            (3 * 1024 * 1024, 1024 * 1024),
            (6 * 1024 * 1024 + 77, 3 * 1024 * 1024),
            (2049, 1024),
            (4096, 4096),
            (1024 * 1024, 5 * 1024),
        ] {
            let b = data(len);
            assert_eq!(
                assembled(&b, part, &[]),
                Some(blake3::hash(&b)),
                "len {len} part {part}"
            );
        }
    }

    #[test]
    fn missing_or_unaligned_parts_give_nothing() {
        let b = data(4 * 1024 * 1024);
        let mut tree = TreeHash::new(b.len() as u64);
        tree.add(hash_part(0, &b[..1024 * 1024], b.len() as u64));
        assert_eq!(tree.finish(), None);
        let mut tree = TreeHash::new(b.len() as u64);
        tree.add(hash_part(0, &b[..1000], b.len() as u64));
        tree.add(hash_part(1000, &b[1000..], b.len() as u64));
        assert_eq!(tree.finish(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_chunk_aligned_cut_in_any_order_is_blake3(
            len in 0usize..300_000,
            part_chunks in 1usize..40,
            order in proptest::collection::vec(0usize..1000, 0..300),
        ) {
            let b = data(len);
            let part = part_chunks * 1024;
            prop_assert_eq!(assembled(&b, part, &order), Some(blake3::hash(&b)));
        }
    }
}
