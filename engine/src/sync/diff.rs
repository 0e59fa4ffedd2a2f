//! The merge-join: two streams of entries, each in S3 key order, become one stream of
//! decisions, holding neither side in memory. Pure and property-tested against a naive model.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::s3::ETag;

/// One file or object, as a listing or a walk reports it. Keys are relative to the root or
/// prefix being synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Key relative to the sync root, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Local modification time (files), or `LastModified` (objects).
    pub mtime: SystemTime,
    /// The object's ETag (objects only).
    pub etag: Option<ETag>,
    /// For a downloaded file that still has the size and mtime its download gave it: the
    /// `LastModified` of the object version it holds ([`crate::local::SyncedFrom`]). It stands
    /// in for the mtime when the file is a sync's destination.
    pub synced_from: Option<SystemTime>,
}

/// How two entries of the same key are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Size, and modification time (the default): a source newer than the destination (at
    /// whole-second precision, which every gateway keeps) is transferred.
    #[default]
    SizeAndTime,
    /// Size only (`--size-only`).
    SizeOnly,
    /// Size, then content (`--checksum`): entries of equal size are verified by hash before
    /// anything moves (see `sync::checksum`).
    Checksum,
}

/// What to do with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Only the source has it.
    New(Entry),
    /// Both have it and they differ.
    Changed(Entry),
    /// Both have it and it is the same.
    Same(String),
    /// Only the destination has it (a delete with `--delete`).
    Extra(Entry),
    /// Both have it with the same size, and `--checksum` asks for the content to decide:
    /// (source, destination).
    Verify(Entry, Entry),
}

/// Whether `src` must be copied over `dst`.
///
/// A known limit of the size + mtime comparison (shared with `aws s3 sync`): an upload
/// compares a file's mtime with the object's `LastModified`, which gateways keep to the
/// second, so a file rewritten at the same size within the second its object was stored
/// looks unchanged. `--checksum` compares content; `sync --manifest` followed by `haul
/// manifest verify` detects it.
#[must_use]
pub fn differs(src: &Entry, dst: &Entry, compare: Compare) -> bool {
    if src.size != dst.size {
        return true;
    }
    match compare {
        Compare::SizeOnly | Compare::Checksum => false,
        Compare::SizeAndTime => {
            whole_secs(src.mtime) > whole_secs(dst.synced_from.unwrap_or(dst.mtime))
        }
    }
}

fn whole_secs(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => -i128::from(e.duration().as_secs()) - 1,
    }
}

/// The merge-join over two key-ordered iterators. Keys must be strictly increasing on each
/// side (byte order); an out-of-order key is reported as an error by the caller's streams.
pub struct Merge<S: Iterator<Item = Entry>, D: Iterator<Item = Entry>> {
    src: std::iter::Peekable<S>,
    dst: std::iter::Peekable<D>,
    compare: Compare,
}

impl<S: Iterator<Item = Entry>, D: Iterator<Item = Entry>> Merge<S, D> {
    /// Joins `src` and `dst`.
    pub fn new(src: S, dst: D, compare: Compare) -> Self {
        Self {
            src: src.peekable(),
            dst: dst.peekable(),
            compare,
        }
    }
}

impl<S: Iterator<Item = Entry>, D: Iterator<Item = Entry>> Iterator for Merge<S, D> {
    type Item = Decision;

    fn next(&mut self) -> Option<Decision> {
        let order = match (self.src.peek(), self.dst.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(s), Some(d)) => s.key.as_bytes().cmp(d.key.as_bytes()),
        };
        match order {
            Ordering::Less => self.src.next().map(Decision::New),
            Ordering::Greater => self.dst.next().map(Decision::Extra),
            Ordering::Equal => {
                let s = self.src.next()?;
                let d = self.dst.next()?;
                Some(if self.compare == Compare::Checksum && s.size == d.size {
                    Decision::Verify(s, d)
                } else if differs(&s, &d, self.compare) {
                    Decision::Changed(s)
                } else {
                    Decision::Same(s.key)
                })
            }
        }
    }
}

/// One step of a merge fed from two asynchronous streams: which side(s) to take next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Take the source entry alone.
    Source,
    /// Take the destination entry alone.
    Dest,
    /// Take both (same key).
    Both,
}

/// Which side(s) a merge over the heads `src` and `dst` takes next; `None` when both ended.
#[must_use]
pub fn step(src: Option<&Entry>, dst: Option<&Entry>) -> Option<Step> {
    match (src, dst) {
        (None, None) => None,
        (Some(_), None) => Some(Step::Source),
        (None, Some(_)) => Some(Step::Dest),
        (Some(s), Some(d)) => Some(match s.key.as_bytes().cmp(d.key.as_bytes()) {
            Ordering::Less => Step::Source,
            Ordering::Greater => Step::Dest,
            Ordering::Equal => Step::Both,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn entry(key: &str, size: u64, secs: u64) -> Entry {
        Entry {
            key: key.to_owned(),
            size,
            mtime: UNIX_EPOCH + Duration::from_secs(secs),
            etag: None,
            synced_from: None,
        }
    }

    #[test]
    fn time_is_compared_in_whole_seconds() {
        let a = Entry {
            mtime: UNIX_EPOCH + Duration::from_millis(10_500),
            ..entry("k", 1, 0)
        };
        let b = entry("k", 1, 10);
        assert!(!differs(&a, &b, Compare::SizeAndTime), "same second");
        assert!(differs(&entry("k", 1, 11), &b, Compare::SizeAndTime));
        assert!(
            !differs(&entry("k", 1, 9), &b, Compare::SizeAndTime),
            "older source"
        );
        assert!(differs(&entry("k", 2, 9), &b, Compare::SizeOnly));
        assert!(!differs(&entry("k", 1, 99), &b, Compare::SizeOnly));
    }

    fn side() -> impl Strategy<Value = BTreeMap<String, (u64, u64)>> {
        proptest::collection::btree_map("[a-c/\\-0]{1,4}", (0u64..3, 0u64..3), 0..30)
    }

    proptest! {
        #[test]
        fn merge_equals_the_naive_set_comparison(src in side(), dst in side(), size_only: bool) {
            let compare = if size_only { Compare::SizeOnly } else { Compare::SizeAndTime };
            let to_entries = |m: &BTreeMap<String, (u64, u64)>| {
                // BTreeMap<String> iterates in byte order, which is S3 key order.
                m.iter().map(|(k, (s, t))| entry(k, *s, *t)).collect::<Vec<_>>()
            };
            let got: Vec<Decision> =
                Merge::new(to_entries(&src).into_iter(), to_entries(&dst).into_iter(), compare)
                    .collect();
            let mut keys: Vec<&String> = src.keys().chain(dst.keys()).collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            keys.dedup();
            let want: Vec<Decision> = keys
                .into_iter()
                .map(|k| match (src.get(k), dst.get(k)) {
                    (Some((s, t)), None) => Decision::New(entry(k, *s, *t)),
                    (None, Some((s, t))) => Decision::Extra(entry(k, *s, *t)),
                    (Some((s, t)), Some((ds, dt))) => {
                        let changed = s != ds || (!size_only && t > dt);
                        if changed {
                            Decision::Changed(entry(k, *s, *t))
                        } else {
                            Decision::Same(k.clone())
                        }
                    }
                    (None, None) => unreachable!(),
                })
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
