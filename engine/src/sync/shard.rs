//! `--shard K/N`: one sync split over N runs (machines, pods) by a stable hash of each key.
//!
//! A key's shard is the first 8 bytes of the BLAKE3 of its bytes (the key relative to the
//! sync's root or prefix), read as a little-endian `u64`, modulo N. It depends on nothing but
//! the key and N: every key is in exactly one of the N shards, on every run, machine,
//! platform and haul version (the test below pins values). Keys spread evenly whatever their
//! layout (registry blobs, WAL segments), so N shards carry about equal work.

use std::fmt;
use std::str::FromStr;

/// The most shards a sync can be split into (chosen: far more pods than any gateway serves
/// at once; a bound keeps `K/N` typos like `3/30000000` out).
pub const MAX_SHARDS: u32 = 65_536;

/// Shard `index` of `count` (`index` counts from 0, as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// A `K/N` that is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid shard {text:?}: {reason} (expected K/N with 0 <= K < N <= {MAX_SHARDS}, e.g. 0/8)"
)]
pub struct ShardError {
    text: String,
    reason: &'static str,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// `count` 0 or above [`MAX_SHARDS`], `index` not below `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        let err = |reason| ShardError {
            text: format!("{index}/{count}"),
            reason,
        };
        if count == 0 || count > MAX_SHARDS {
            return Err(err("N out of range"));
        }
        if index >= count {
            return Err(err("K must be below N"));
        }
        Ok(Shard { index, count })
    }

    /// K.
    #[must_use]
    pub fn index(self) -> u32 {
        self.index
    }

    /// N.
    #[must_use]
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether `key` falls in this shard.
    #[must_use]
    pub fn contains(self, key: &str) -> bool {
        shard_of(key, self.count) == self.index
    }
}

/// The shard of `key` among `count` (0 for a `count` of 0 or 1).
#[must_use]
pub fn shard_of(key: &str, count: u32) -> u32 {
    if count <= 1 {
        return 0;
    }
    let hash = blake3::hash(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    let n = u64::from_le_bytes(first) % u64::from(count);
    u32::try_from(n).unwrap_or(0)
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, ShardError> {
        let err = |reason| ShardError {
            text: s.to_owned(),
            reason,
        };
        let (k, n) = s.split_once('/').ok_or_else(|| err("no '/'"))?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("K and N must be decimal numbers"));
            }
            t.parse::<u32>().map_err(|_| err("a number too large"))
        };
        let (k, n) = (number(k)?, number(n)?);
        Shard::new(k, n).map_err(|e| ShardError {
            text: s.to_owned(),
            ..e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        let s: Shard = "3/8".parse().unwrap();
        assert_eq!((s.index(), s.count()), (3, 8));
        assert_eq!(s.to_string(), "3/8");
        assert_eq!("0/1".parse::<Shard>().unwrap().count(), 1);
        for bad in [
            "",
            "3",
            "8/8",
            "9/8",
            "0/0",
            "-1/8",
            "1/-8",
            "a/8",
            "1/8x",
            " 1/8",
            "1/65537",
            "1/99999999999",
        ] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn the_split_is_pinned() {
        // The split must never change between haul versions or machines: a change here
        // would send keys of a running multi-machine sync to two shards, or none.
        let keys = [
            "docker/registry/v2/blobs/sha256/00/blob0/data",
            "wal_005/000000010000000000000001",
            "a",
            "",
        ];
        let got: Vec<u32> = keys.iter().map(|k| shard_of(k, 8)).collect();
        let again: Vec<u32> = keys.iter().map(|k| shard_of(k, 8)).collect();
        assert_eq!(got, again);
        assert_eq!(got, PINNED);
        assert_eq!(shard_of("anything", 1), 0);
    }

    // The values of `the_split_is_pinned`, computed once and kept. Two checked by hand from
    // BLAKE3's published digests: "" is af1349b9…, "a" is 17762fdd…; the low 3 bits of the
    // first (least significant) byte are the shard of 8: 0xaf & 7 = 7, 0x17 & 7 = 7.
    const PINNED: [u32; 4] = [7, 1, 7, 7];

    proptest! {
        /// Complete and disjoint: every key is in exactly one shard of N.
        #[test]
        fn every_key_in_exactly_one_shard(key in "\\PC{0,64}", n in 1u32..64) {
            let shards: Vec<Shard> = (0..n).map(|k| Shard::new(k, n).unwrap()).collect();
            let holding = shards.iter().filter(|s| s.contains(&key)).count();
            prop_assert_eq!(holding, 1);
        }

        /// Even: over many keys no shard of 4 gets far from a quarter.
        #[test]
        fn keys_spread_evenly(seed in any::<u64>()) {
            let mut counts = [0u32; 4];
            for i in 0..4000u64 {
                let key = format!("docker/registry/v2/blobs/sha256/{:02x}/{:016x}/data", i % 256, seed ^ i);
                counts[shard_of(&key, 4) as usize] += 1;
            }
            for c in counts {
                prop_assert!((800..1200).contains(&c), "{:?}", counts);
            }
        }
    }
}
