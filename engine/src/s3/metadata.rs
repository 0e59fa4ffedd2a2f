//! User metadata (`x-amz-meta-*` headers): what haul stores beside an object (mtime, mode,
//! owner, BLAKE3) and what it reads back, s3cmd's `x-amz-meta-s3cmd-attrs` included.

use std::collections::BTreeMap;

use http::HeaderMap;
use http::header::HeaderName;

use super::names::truncate_for_message;

/// The header prefix of user metadata.
pub const META_PREFIX: &str = "x-amz-meta-";

/// Metadata name (after `x-amz-meta-`) of the BLAKE3 hex digest of an object's bytes, which
/// every upload haul makes stores (docs/manifest-format.md).
pub const BLAKE3_META: &str = "blake3";

/// Why a metadata entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The name cannot be part of a header name.
    #[error("metadata name {name:?} is not valid: {reason}")]
    Name {
        /// The name (cut to 300 bytes).
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The value cannot be sent unchanged in a header.
    #[error("metadata {name:?} has a value that cannot be stored: {reason}")]
    Value {
        /// The entry's name.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

/// User metadata: names lowercased (HTTP header names are case-insensitive and S3 and RGW
/// return them lowercase) and without the `x-amz-meta-` prefix, in name order.
///
/// Values are refused rather than encoded when they are not printable ASCII: S3 and RGW
/// store header bytes as sent but return non-ASCII values differently (AWS as RFC 2047
/// `=?UTF-8?B?…?=`, RGW as raw bytes), and other tools (s3cmd) would not decode them, so
/// the caller encodes such values itself (haul's own metadata is ASCII). Leading and
/// trailing whitespace is refused too, since HTTP drops it. There is no size limit here:
/// AWS caps metadata at 2 KiB and says so with `MetadataTooLarge`; RGW's limit is
/// configurable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserMetadata(BTreeMap<String, String>);

impl UserMetadata {
    /// No metadata.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an entry. `name` is lowercased.
    ///
    /// # Errors
    ///
    /// [`MetadataError`] when the name is empty or has characters header names cannot, or
    /// the value holds non-ASCII or control characters or starts or ends with whitespace.
    pub fn insert(
        &mut self,
        name: impl AsRef<str>,
        value: impl Into<String>,
    ) -> Result<(), MetadataError> {
        let name = name.as_ref().to_ascii_lowercase();
        let bad_name = |reason| MetadataError::Name {
            name: truncate_for_message(&name),
            reason,
        };
        if name.is_empty() {
            return Err(bad_name("empty"));
        }
        if HeaderName::from_bytes(format!("{META_PREFIX}{name}").as_bytes()).is_err() {
            return Err(bad_name("not a valid HTTP header name"));
        }
        let value = value.into();
        let bad_value = |reason| MetadataError::Value {
            name: truncate_for_message(&name),
            reason,
        };
        if !value.is_ascii() {
            return Err(bad_value("not ASCII; encode it first"));
        }
        if value.bytes().any(|b| b.is_ascii_control()) {
            return Err(bad_value("holds a control character"));
        }
        if value.trim() != value {
            return Err(bad_value(
                "starts or ends with whitespace, which HTTP drops",
            ));
        }
        self.0.insert(name, value);
        Ok(())
    }

    /// The value of `name` (lowercase, without prefix).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True without entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `x-amz-meta-*` headers of a response. Values that are not UTF-8 are read
    /// lossily (a gateway that stored raw bytes must not make the object unreadable).
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let entries = headers.iter().filter_map(|(name, value)| {
            let short = name.as_str().strip_prefix(META_PREFIX)?;
            let value = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            Some((short.to_owned(), value))
        });
        Self(entries.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn names_are_lowercased_and_values_checked() {
        let mut meta = UserMetadata::new();
        meta.insert("S3cmd-Attrs", "uid:0/gid:0/mode:33188/mtime:1700000000")
            .unwrap();
        assert_eq!(
            meta.get("s3cmd-attrs"),
            Some("uid:0/gid:0/mode:33188/mtime:1700000000")
        );
        assert!(meta.insert("", "x").is_err());
        assert!(meta.insert("bad name", "x").is_err());
        assert!(meta.insert("a", "café").is_err());
        assert!(meta.insert("a", "line\nbreak").is_err());
        assert!(meta.insert("a", " padded").is_err());
        assert!(meta.insert("a", "").is_ok());
    }

    #[test]
    fn reads_metadata_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-meta-blake3", HeaderValue::from_static("af13"));
        headers.insert("X-Amz-Meta-Mode", HeaderValue::from_static("644"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert(
            "x-amz-meta-raw",
            HeaderValue::from_bytes(b"caf\xc3\xa9 \xff").unwrap(),
        );
        let meta = UserMetadata::from_headers(&headers);
        assert_eq!(meta.len(), 3);
        assert_eq!(meta.get("blake3"), Some("af13"));
        assert_eq!(meta.get("mode"), Some("644"));
        assert_eq!(meta.get("raw"), Some("café \u{fffd}"));
    }
}
