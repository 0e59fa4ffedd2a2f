//! The synthetic bucket's key space: N keys computed from their index, in S3 byte order, so
//! that any key, and the position of any byte string among the keys, is found without storing
//! them.
//!
//! - [`Layout::Registry`]: the blob layout of a Docker registry on S3,
//!   `docker/registry/v2/blobs/sha256/{pp}/{digest}/data`, with the N objects spread over the
//!   256 two-hex-digit prefixes `pp` as evenly as possible (prefix `p` holds `N / 256` objects,
//!   one more for `p < N % 256`). A digest is 64 lowercase hex digits: `pp`, then the index
//!   `j` within the prefix as 14 hex digits (fixed width, so keys of a prefix sort by `j`),
//!   then 48 hex digits of BLAKE3 of the global index, so it looks like a real digest.
//! - [`Layout::Flat`]: `objects/{i:012}`, one prefix without any delimiter structure below it.
//!
//! Global index `i` (the position in byte order) and `(p, j)` map to each other in O(1);
//! [`KeySpace::lower_bound`] is a binary search over `i`, O(log N) key computations.

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

/// Where every registry key starts.
const REGISTRY_ROOT: &str = "docker/registry/v2/blobs/sha256/";

/// Where every flat key starts.
const FLAT_ROOT: &str = "objects/";

/// Number of two-hex-digit prefixes of the registry layout (`00` … `ff`), as a Docker
/// registry has.
const PREFIXES: u64 = 256;

/// Hex digits of the index within a prefix. Chosen: the largest such index is below
/// `u64::MAX / 256 + 1 = 2^56`, which 14 hex digits hold, so no object count overflows it.
const INDEX_HEX_DIGITS: usize = 14;

/// Hex digits of BLAKE3 filler: a digest is 64 hex digits, 2 of prefix and
/// [`INDEX_HEX_DIGITS`] of index.
const FILLER_HEX_DIGITS: usize = 64 - 2 - INDEX_HEX_DIGITS;

/// Lowercase hex digits, as in a sha256 digest.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Decimal digits of a flat key's index. Chosen: a trillion objects is far beyond any test,
/// and a fixed width is what keeps decimal keys in byte order.
const FLAT_DIGITS: usize = 12;

/// Most objects in the flat layout: past it the index would need more than [`FLAT_DIGITS`]
/// digits and keys would stop sorting.
pub(crate) const FLAT_MAX_OBJECTS: u64 = 1_000_000_000_000;

/// How the synthetic bucket's keys look; see the module docs of [`crate::synthetic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `docker/registry/v2/blobs/sha256/{pp}/{digest}/data` over 256 prefixes `pp`.
    #[default]
    Registry,
    /// `objects/{i:012}`: one prefix, no delimiter structure (the worst case for a lister
    /// that fans out by prefix).
    Flat,
}

impl Layout {
    /// The name used on the command line: `registry` or `flat`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Registry => "registry",
            Layout::Flat => "flat",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layout name that is neither `registry` nor `flat`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown layout {0:?}: use registry or flat")]
pub struct UnknownLayout(String);

impl FromStr for Layout {
    type Err = UnknownLayout;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "registry" => Ok(Layout::Registry),
            "flat" => Ok(Layout::Flat),
            _ => Err(UnknownLayout(s.to_owned())),
        }
    }
}

/// N keys of a [`Layout`], in byte order, index 0 first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeySpace {
    layout: Layout,
    len: u64,
}

impl KeySpace {
    /// The first `len` keys of `layout`. The flat layout holds at most [`FLAT_MAX_OBJECTS`]
    /// (the caller checks).
    pub(crate) fn new(layout: Layout, len: u64) -> Self {
        Self { layout, len }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The key at index `i` (below [`KeySpace::len`]; past it the key is computed all the
    /// same but is not in the bucket, and may break the order).
    pub(crate) fn key(&self, i: u64) -> String {
        match self.layout {
            Layout::Flat => format!("{FLAT_ROOT}{i:0FLAT_DIGITS$}"),
            Layout::Registry => {
                let (p, j) = self.split(i);
                let hash = blake3::hash(&i.to_le_bytes());
                let mut key = String::with_capacity(REGISTRY_ROOT.len() + 3 + 64 + 5);
                let _ = write!(key, "{REGISTRY_ROOT}{p:02x}/{p:02x}{j:0INDEX_HEX_DIGITS$x}");
                for &b in hash.as_bytes().iter().take(FILLER_HEX_DIGITS / 2) {
                    key.push(char::from(HEX[usize::from(b >> 4)]));
                    key.push(char::from(HEX[usize::from(b & 0xf)]));
                }
                key.push_str("/data");
                key
            }
        }
    }

    /// The registry prefix `p` and index within it `j` of global index `i`.
    fn split(&self, i: u64) -> (u64, u64) {
        let q = self.len / PREFIXES;
        let r = self.len % PREFIXES;
        // The first `r` prefixes hold q + 1 keys each, the others q.
        let big = r * (q + 1);
        if i < big {
            (i / (q + 1), i % (q + 1))
        } else {
            // i < len implies q > 0 here; guard anyway so no index divides by zero.
            let q = q.max(1);
            (r + (i - big) / q, (i - big) % q)
        }
    }

    /// The global index of registry prefix `p`, index `j` within it.
    #[cfg(test)]
    fn join(&self, p: u64, j: u64) -> u64 {
        let q = self.len / PREFIXES;
        let r = self.len % PREFIXES;
        p * q + p.min(r) + j
    }

    /// The first index whose key is `>= s` in byte order ([`KeySpace::len`] when none is).
    pub(crate) fn lower_bound(&self, s: &[u8]) -> u64 {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid).as_bytes() < s {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first index whose key is `> s` in byte order: the smallest string above `s` is
    /// `s` followed by a zero byte.
    pub(crate) fn upper_bound(&self, s: &[u8]) -> u64 {
        let mut above = Vec::with_capacity(s.len() + 1);
        above.extend_from_slice(s);
        above.push(0);
        self.lower_bound(&above)
    }

    /// The first index past every key that starts with `prefix` ([`KeySpace::len`] when no
    /// string is above them all).
    pub(crate) fn end_of_prefix(&self, prefix: &[u8]) -> u64 {
        match successor(prefix) {
            Some(next) => self.lower_bound(&next),
            None => self.len,
        }
    }

    /// The index of `key`, if it is one of the keys.
    pub(crate) fn index_of(&self, key: &str) -> Option<u64> {
        let i = self.lower_bound(key.as_bytes());
        (i < self.len && self.key(i) == key).then_some(i)
    }
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (`prefix` empty or all `0xff`).
pub(crate) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_sorted(space: KeySpace) {
        let mut prev: Option<String> = None;
        for i in 0..space.len() {
            let k = space.key(i);
            if let Some(p) = &prev {
                assert!(p.as_bytes() < k.as_bytes(), "{p} !< {k} at {i}");
            }
            assert_eq!(space.index_of(&k), Some(i), "{k}");
            prev = Some(k);
        }
    }

    #[test]
    fn keys_strictly_increase_and_round_trip() {
        for n in [0, 1, 2, 255, 256, 257, 511, 1000, 2049, 3000, 4096] {
            all_sorted(KeySpace::new(Layout::Registry, n));
            all_sorted(KeySpace::new(Layout::Flat, n));
        }
    }

    #[test]
    fn registry_keys_look_like_digests() {
        let space = KeySpace::new(Layout::Registry, 1000);
        for i in [0, 1, 3, 4, 500, 999] {
            let k = space.key(i);
            let rest = k.strip_prefix(REGISTRY_ROOT).unwrap();
            let (p, rest) = rest.split_once('/').unwrap();
            let (digest, data) = rest.split_once('/').unwrap();
            assert_eq!(data, "data");
            assert_eq!(p.len(), 2);
            assert_eq!(digest.len(), 64);
            assert!(digest.starts_with(p));
            assert!(
                digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        // 1000 = 3 * 256 + 232: prefixes below 232 hold 4 keys, the others 3.
        assert_eq!(space.split(0), (0, 0));
        assert_eq!(space.split(3), (0, 3));
        assert_eq!(space.split(4), (1, 0));
        assert_eq!(space.split(232 * 4), (232, 0));
        assert_eq!(space.split(999), (255, 2));
        for i in 0..1000 {
            let (p, j) = space.split(i);
            assert_eq!(space.join(p, j), i);
        }
        assert!(space.key(999).contains("/ff/ff"));
    }

    #[test]
    fn few_objects_fill_the_first_prefixes() {
        let space = KeySpace::new(Layout::Registry, 3);
        for i in 0..3 {
            assert_eq!(space.split(i), (i, 0));
        }
    }

    #[test]
    fn flat_keys() {
        let space = KeySpace::new(Layout::Flat, 10);
        assert_eq!(space.key(7), "objects/000000000007");
        assert_eq!(space.index_of("objects/000000000010"), None);
        assert_eq!(space.index_of("objects"), None);
    }

    #[test]
    fn successors() {
        assert_eq!(successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        assert_eq!(successor(b""), None);
    }

    fn naive_lower_bound(space: KeySpace, s: &[u8]) -> u64 {
        (0..space.len())
            .find(|&i| space.key(i).as_bytes() >= s)
            .unwrap_or(space.len())
    }

    /// Strings near the keys: pieces of real keys, cut and changed, so the search is tested
    /// around its boundaries and not only far from every key.
    fn probe() -> impl Strategy<Value = (bool, u64, Vec<u8>)> {
        (
            any::<bool>(),
            0u64..700,
            prop::collection::vec(any::<u8>(), 0..4),
            0usize..80,
            any::<u8>(),
        )
            .prop_map(|(flat, n, tail, cut, byte)| {
                let layout = if flat { Layout::Flat } else { Layout::Registry };
                let space = KeySpace::new(layout, n);
                let base = space.key(n / 2 + u64::from(byte) % 3);
                let mut s = base.as_bytes()[..cut.min(base.len())].to_vec();
                if byte % 2 == 0
                    && let Some(last) = s.last_mut()
                {
                    *last = last.wrapping_add(byte % 5).wrapping_sub(2);
                }
                s.extend_from_slice(&tail);
                (flat, n, s)
            })
    }

    proptest! {
        #[test]
        fn lower_bound_matches_a_scan((flat, n, s) in probe()) {
            let layout = if flat { Layout::Flat } else { Layout::Registry };
            let space = KeySpace::new(layout, n);
            prop_assert_eq!(space.lower_bound(&s), naive_lower_bound(space, &s));
        }

        #[test]
        fn lower_bound_of_random_bytes(flat in any::<bool>(), n in 0u64..600, s in prop::collection::vec(any::<u8>(), 0..60)) {
            let layout = if flat { Layout::Flat } else { Layout::Registry };
            let space = KeySpace::new(layout, n);
            prop_assert_eq!(space.lower_bound(&s), naive_lower_bound(space, &s));
        }
    }
}
