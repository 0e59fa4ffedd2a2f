//! Listing pages of the synthetic bucket (pure): where a listing starts, the walk with S3's
//! delimiter semantics, and the ListObjects (V1) and ListObjectsV2 XML answers.
//!
//! A page is produced by walking indexes from its start: a key whose rest after the prefix
//! holds the delimiter rolls up into the common prefix ending with that delimiter, emitted
//! once, and the walk jumps past every key that shares it (one [`KeySpace::lower_bound`]).
//! Each entry, key or common prefix, counts one toward `max-keys`. A page costs
//! O(max-keys × log N) key computations and holds at most max-keys entries.

use std::fmt::Write as _;

use percent_encoding::utf8_percent_encode;

use super::keys::KeySpace;
use super::object::Objects;
use super::xml::{XML_HEAD, XML_NS, escape};
use crate::store::LISTING_KEY_ENCODE;

/// Most entries of a page, and the default `max-keys`, as in S3.
pub(crate) const MAX_KEYS: usize = 1000;

/// One listing request's parameters, shared by V1 and V2.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk<'a> {
    /// Only keys that start with this.
    pub(crate) prefix: &'a str,
    /// Roll keys up at the first occurrence of this after the prefix; empty for none.
    pub(crate) delimiter: &'a str,
    /// Most entries on the page.
    pub(crate) max_keys: usize,
    /// The first index to look at (before clamping to the prefix).
    pub(crate) start: u64,
}

/// One entry of a page, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An object: its key.
    Key(String),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// Keys and common prefixes, in key order.
    pub(crate) entries: Vec<Entry>,
    /// Whether more entries follow.
    pub(crate) truncated: bool,
    /// The index the next page starts at.
    pub(crate) next: u64,
}

/// The first index after a V1 `marker` or V2 `start-after`: past every key that starts with
/// it when it is itself a common prefix of this listing (so a V1 `NextMarker` that was a
/// common prefix is not listed again), else the first key above it.
pub(crate) fn start_after(space: &KeySpace, marker: &str, prefix: &str, delimiter: &str) -> u64 {
    if !delimiter.is_empty()
        && let Some(rest) = marker.strip_prefix(prefix)
        && rest.find(delimiter).map(|pos| pos + delimiter.len()) == Some(rest.len())
    {
        return space.end_of_prefix(marker.as_bytes());
    }
    space.upper_bound(marker.as_bytes())
}

/// Walks one page.
pub(crate) fn page(space: &KeySpace, walk: Walk<'_>) -> Page {
    let prefix = walk.prefix.as_bytes();
    let delimiter = walk.delimiter.as_bytes();
    let end = if prefix.is_empty() {
        space.len()
    } else {
        space.end_of_prefix(prefix)
    };
    let mut i = walk.start.max(space.lower_bound(prefix));
    let mut entries = Vec::with_capacity(walk.max_keys.min(MAX_KEYS));
    while i < end && entries.len() < walk.max_keys {
        let key = space.key(i);
        // Every key in [lower_bound(prefix), end) starts with the prefix.
        let rest = key.as_bytes().get(prefix.len()..).unwrap_or_default();
        if let Some(pos) = find(rest, delimiter) {
            let cut = prefix.len() + pos + delimiter.len();
            let common = key.get(..cut).unwrap_or(&key).to_owned();
            i = space.end_of_prefix(common.as_bytes()).max(i + 1);
            entries.push(Entry::Prefix(common));
        } else {
            i += 1;
            entries.push(Entry::Key(key));
        }
    }
    Page {
        entries,
        // With max-keys 0 nothing is listed and, as in S3, nothing is said to follow: a
        // client paging on would otherwise loop forever.
        truncated: walk.max_keys > 0 && i < end,
        next: i,
    }
}

/// Where `needle` first occurs in `hay`; never for an empty needle (no delimiter).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A V2 continuation token: the next index in hex (opaque to clients).
pub(crate) fn token(next: u64) -> String {
    format!("{next:x}")
}

/// The index of a continuation token, if it is one this bucket could have given.
pub(crate) fn parse_token(token: &str, len: u64) -> Option<u64> {
    if token.is_empty() || token.len() > 16 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(token, 16).ok().filter(|&i| i <= len)
}

/// The request's echo fields and the answer's version.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Version<'a> {
    /// ListObjects (V1) with its `marker` (empty when none).
    V1 {
        /// The `marker` parameter as sent.
        marker: &'a str,
    },
    /// ListObjectsV2 with its `continuation-token` and `start-after` as sent.
    V2 {
        /// The `continuation-token` parameter as sent.
        token: Option<&'a str>,
        /// The `start-after` parameter as sent.
        start_after: Option<&'a str>,
    },
}

/// What the XML answer needs besides the page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) walk: Walk<'a>,
    pub(crate) version: Version<'a>,
    /// `encoding-type=url` was asked for.
    pub(crate) url: bool,
    /// `LastModified` of every object, ISO 8601 with milliseconds.
    pub(crate) last_modified: &'a str,
}

/// The XML answer for `page`.
pub(crate) fn render(answer: &Answer<'_>, page: &Page, objects: &Objects) -> String {
    // About 300 bytes per registry entry.
    let mut out = String::with_capacity(1024 + page.entries.len() * 320);
    let enc = |s: &str| -> String {
        if answer.url {
            escape(&utf8_percent_encode(s, LISTING_KEY_ENCODE).to_string())
        } else {
            escape(s)
        }
    };
    let walk = answer.walk;
    out.push_str(XML_HEAD);
    let _ = write!(out, "<ListBucketResult xmlns=\"{XML_NS}\">");
    let _ = write!(out, "<Name>{}</Name>", escape(answer.bucket));
    let _ = write!(out, "<Prefix>{}</Prefix>", enc(walk.prefix));
    match answer.version {
        Version::V1 { marker } => {
            let _ = write!(out, "<Marker>{}</Marker>", enc(marker));
        }
        Version::V2 { token, start_after } => {
            if let Some(start_after) = start_after {
                let _ = write!(out, "<StartAfter>{}</StartAfter>", enc(start_after));
            }
            if let Some(token) = token {
                let _ = write!(
                    out,
                    "<ContinuationToken>{}</ContinuationToken>",
                    escape(token)
                );
            }
        }
    }
    if !walk.delimiter.is_empty() {
        let _ = write!(out, "<Delimiter>{}</Delimiter>", enc(walk.delimiter));
    }
    let _ = write!(out, "<MaxKeys>{}</MaxKeys>", walk.max_keys);
    if answer.url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    if let Version::V2 { .. } = answer.version {
        let _ = write!(out, "<KeyCount>{}</KeyCount>", page.entries.len());
    }
    let _ = write!(out, "<IsTruncated>{}</IsTruncated>", page.truncated);
    if page.truncated {
        match answer.version {
            Version::V1 { .. } => {
                if let Some(Entry::Key(last) | Entry::Prefix(last)) = page.entries.last() {
                    let _ = write!(out, "<NextMarker>{}</NextMarker>", enc(last));
                }
            }
            Version::V2 { .. } => {
                let _ = write!(
                    out,
                    "<NextContinuationToken>{}</NextContinuationToken>",
                    token(page.next)
                );
            }
        }
    }
    for entry in &page.entries {
        if let Entry::Key(key) = entry {
            let _ = write!(
                out,
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                enc(key),
                answer.last_modified,
                objects.etag(key),
                objects.size(),
            );
        }
    }
    for entry in &page.entries {
        if let Entry::Prefix(common) = entry {
            let _ = write!(
                out,
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                enc(common)
            );
        }
    }
    out.push_str("</ListBucketResult>");
    out
}

#[cfg(test)]
mod tests {
    use super::super::keys::Layout;
    use super::*;

    fn walk(prefix: &str, delimiter: &str, max_keys: usize, start: u64) -> Walk<'static> {
        Walk {
            prefix: Box::leak(prefix.to_owned().into_boxed_str()),
            delimiter: Box::leak(delimiter.to_owned().into_boxed_str()),
            max_keys,
            start,
        }
    }

    /// Every entry of a listing, page by page, each page starting where the last one ended
    /// (V2) or after its last entry (V1).
    fn all(
        space: &KeySpace,
        prefix: &str,
        delimiter: &str,
        max_keys: usize,
        v1: bool,
    ) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let page = page(space, walk(prefix, delimiter, max_keys, start));
            out.extend(page.entries.iter().cloned());
            if !page.truncated {
                return out;
            }
            start = if v1 {
                let (Entry::Key(last) | Entry::Prefix(last)) = page.entries.last().unwrap();
                start_after(space, last, prefix, delimiter)
            } else {
                page.next
            };
        }
    }

    /// S3's answer by brute force over all keys.
    fn naive(space: &KeySpace, prefix: &str, delimiter: &str) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..space.len() {
            let key = space.key(i);
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            match rest.find(delimiter).filter(|_| !delimiter.is_empty()) {
                Some(pos) => {
                    let common = key[..prefix.len() + pos + delimiter.len()].to_owned();
                    if out.last() != Some(&Entry::Prefix(common.clone())) {
                        out.push(Entry::Prefix(common));
                    }
                }
                None => out.push(Entry::Key(key)),
            }
        }
        out
    }

    #[test]
    fn pages_match_a_brute_force_listing() {
        for (layout, n) in [
            (Layout::Registry, 700),
            (Layout::Flat, 300),
            (Layout::Registry, 5),
        ] {
            let space = KeySpace::new(layout, n);
            for (prefix, delimiter) in [
                ("", ""),
                ("", "/"),
                ("docker/", "/"),
                ("docker/registry/v2/blobs/sha256/", "/"),
                ("docker/registry/v2/blobs/sha256/0", "/"),
                ("docker/registry/v2/blobs/sha256/ab/", "/"),
                ("docker/registry/v2/blobs/sha256/ab/", ""),
                ("docker/registry/v2/blobs/sha256/", "0"),
                ("", "data"),
                ("objects/", "/"),
                ("objects/0000000001", "5"),
                ("nothing", "/"),
            ] {
                let expected = naive(&space, prefix, delimiter);
                for max_keys in [1, 7, 1000] {
                    for v1 in [false, true] {
                        assert_eq!(
                            all(&space, prefix, delimiter, max_keys, v1),
                            expected,
                            "{layout} {n} {prefix:?} {delimiter:?} {max_keys} v1={v1}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn marker_on_a_common_prefix_skips_it() {
        let space = KeySpace::new(Layout::Registry, 1000);
        let root = "docker/registry/v2/blobs/sha256/";
        let start = start_after(&space, &format!("{root}0a/"), root, "/");
        let page = page(&space, walk(root, "/", 1, start));
        assert_eq!(page.entries, [Entry::Prefix(format!("{root}0b/"))]);
        // Without a delimiter the marker is just a string: the prefix's keys follow it.
        let start = start_after(&space, &format!("{root}0a/"), root, "");
        assert!(space.key(start).starts_with(&format!("{root}0a/")));
    }

    #[test]
    fn max_keys_zero_lists_nothing() {
        let space = KeySpace::new(Layout::Flat, 10);
        let page = page(&space, walk("", "", 0, 0));
        assert!(page.entries.is_empty());
        assert!(!page.truncated);
    }

    #[test]
    fn tokens() {
        assert_eq!(parse_token(&token(1234), 5000), Some(1234));
        assert_eq!(parse_token("5001", 5000), None);
        for bad in ["", "xyz", "-1", "11111111111111111"] {
            assert_eq!(parse_token(bad, u64::MAX), None, "{bad}");
        }
    }
}
