//! The difference of two key-ordered entry streams, as a streaming merge-join: memory does
//! not grow with the number of entries.
//!
//! An entry is changed when its size or its BLAKE3 differ; mtime, mode and ETag are not
//! compared (a copy restored elsewhere keeps its content but not always its times).

use std::iter::Peekable;

use super::{Entry, ManifestError};

/// One difference between `a` and `b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Only in `b`.
    Added(Entry),
    /// Only in `a`.
    Removed(Entry),
    /// In both, with another size or hash.
    Changed {
        /// As in `a`.
        old: Entry,
        /// As in `b`.
        new: Entry,
    },
}

impl Change {
    /// The key it is about.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Change::Added(e) | Change::Removed(e) | Change::Changed { new: e, .. } => &e.key,
        }
    }
}

/// The iterator [`diff()`] returns.
pub struct Diff<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
    failed: bool,
}

impl<A: Iterator, B: Iterator> std::fmt::Debug for Diff<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diff")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// The changes that turn `a` into `b`, in key order. Both inputs must be sorted by key (the
/// manifest reader and the tree hash are); the first error from either ends the diff.
pub fn diff<A, B>(a: A, b: B) -> Diff<A::IntoIter, B::IntoIter>
where
    A: IntoIterator<Item = Result<Entry, ManifestError>>,
    B: IntoIterator<Item = Result<Entry, ManifestError>>,
{
    Diff {
        a: a.into_iter().peekable(),
        b: b.into_iter().peekable(),
        failed: false,
    }
}

impl<A, B> Iterator for Diff<A, B>
where
    A: Iterator<Item = Result<Entry, ManifestError>>,
    B: Iterator<Item = Result<Entry, ManifestError>>,
{
    type Item = Result<Change, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if matches!(self.a.peek(), Some(Err(_))) {
                self.failed = true;
                return self.a.next().map(|r| r.map(Change::Removed));
            }
            if matches!(self.b.peek(), Some(Err(_))) {
                self.failed = true;
                return self.b.next().map(|r| r.map(Change::Added));
            }
            let order = match (self.a.peek(), self.b.peek()) {
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(Ok(x)), Some(Ok(y))) => x.key.as_str().cmp(y.key.as_str()),
                // Both ended (errors were taken above).
                _ => return None,
            };
            match order {
                std::cmp::Ordering::Less => return self.a.next().map(|r| r.map(Change::Removed)),
                std::cmp::Ordering::Greater => {
                    return self.b.next().map(|r| r.map(Change::Added));
                }
                std::cmp::Ordering::Equal => {
                    let (Some(Ok(old)), Some(Ok(new))) = (self.a.next(), self.b.next()) else {
                        return None;
                    };
                    if old.size != new.size || old.hash != new.hash {
                        return Some(Ok(Change::Changed { old, new }));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn entry(key: &str, size: u64, content: u8) -> Entry {
        Entry {
            key: key.to_owned(),
            size,
            mtime_ns: 0,
            mode: None,
            hash: blake3::hash(&[content]),
            etag: None,
        }
    }

    fn model() -> impl Strategy<Value = BTreeMap<String, (u64, u8)>> {
        proptest::collection::btree_map("[a-c/]{1,4}", (0u64..3, 0u8..3), 0..30)
    }

    fn entries(m: &BTreeMap<String, (u64, u8)>) -> Vec<Result<Entry, ManifestError>> {
        m.iter().map(|(k, &(s, c))| Ok(entry(k, s, c))).collect()
    }

    proptest! {
        #[test]
        fn diff_applied_to_a_gives_b(a in model(), b in model()) {
            let mut applied: BTreeMap<String, Entry> =
                entries(&a).into_iter().map(|e| { let e = e.unwrap(); (e.key.clone(), e) }).collect();
            let mut last: Option<String> = None;
            for change in diff(entries(&a), entries(&b)) {
                let change = change.unwrap();
                // Changes come out in key order.
                prop_assert!(last.as_deref() < Some(change.key()));
                last = Some(change.key().to_owned());
                match change {
                    Change::Added(e) => { prop_assert!(applied.insert(e.key.clone(), e).is_none()); }
                    Change::Removed(e) => { prop_assert!(applied.remove(&e.key).is_some()); }
                    Change::Changed { old, new } => {
                        prop_assert!(old.size != new.size || old.hash != new.hash);
                        prop_assert_eq!(applied.insert(new.key.clone(), new), Some(old));
                    }
                }
            }
            let applied: Vec<Entry> = applied.into_values().collect();
            let b: Vec<Entry> = entries(&b).into_iter().map(Result::unwrap).collect();
            prop_assert_eq!(applied, b);
        }
    }

    #[test]
    fn an_error_ends_the_diff() {
        let a = vec![Ok(entry("a", 1, 1)), Err(ManifestError::Worker("test"))];
        let b = vec![Ok(entry("a", 1, 1)), Ok(entry("b", 1, 1))];
        let out: Vec<_> = diff(a, b).collect();
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
    }
}
