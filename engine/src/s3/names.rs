//! Newtypes for the values S3 puts rules on: bucket names, object keys, upload ids, part
//! numbers, entity tags and byte ranges.
//!
//! Each is built through a validating constructor, so code above `s3` never hands a bare
//! `String` to a request builder. The rules are deliberately the *loosest* any gateway we
//! talk to enforces (the gateway remains the judge of its own stricter rules): haul must be
//! able to address the `db_wal` bucket that old Ceph RGW created with
//! `rgw relaxed s3 bucket names = true`.

use std::fmt;

/// Why a name or value was refused by one of the constructors in this file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A bucket name broke a rule that no gateway relaxes.
    #[error("invalid bucket name {name:?}: {reason}")]
    BucketName {
        /// The refused name (cut to 300 bytes).
        name: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// An object key was empty or longer than S3 allows.
    #[error("invalid object key {key:?}: {reason}")]
    ObjectKey {
        /// The refused key (cut to 300 bytes).
        key: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// An upload id was empty, too long or held characters no gateway issues.
    #[error("invalid multipart upload id {id:?}: {reason}")]
    UploadId {
        /// The refused id (cut to 300 bytes).
        id: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A part number outside `1..=10_000`.
    #[error("invalid part number {0}: S3 numbers parts 1 to 10000")]
    PartNumber(u64),
    /// An entity tag that is empty or not a valid header value.
    #[error("invalid ETag {etag:?}: {reason}")]
    ETag {
        /// The refused tag (cut to 300 bytes).
        etag: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A byte range whose end lies before its start.
    #[error("invalid byte range {start}-{end}: the end is before the start")]
    ByteRange {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
}

/// Cuts a refused value for an error message so a hostile 1 MiB input cannot bloat logs.
pub(crate) fn truncate_for_message(value: &str) -> String {
    /// Chosen: long enough to recognise a key or name, short enough for one log line.
    const LIMIT: usize = 300;
    if value.len() <= LIMIT {
        return value.to_owned();
    }
    let mut end = LIMIT;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = value.get(..end).unwrap_or_default().to_owned();
    cut.push('…');
    cut
}

/// A bucket name as the gateway knows it.
///
/// Accepted: 1 to 255 bytes without `/` or control characters. That covers AWS's rules
/// (3..=63 lowercase letters, digits, `.`, `-`), AWS's legacy us-east-1 rules (up to 255,
/// uppercase and `_` allowed) and Ceph RGW with `rgw relaxed s3 bucket names` (up to 255,
/// `[A-Za-z0-9._-]`), which is how buckets like `db_wal` exist. A name the gateway does not
/// like is refused by the gateway with `InvalidBucketName`, which names the bucket.
///
/// Whether the name can be a DNS label (and so be addressed as `bucket.host`) is a separate
/// question: see [`BucketName::is_dns_compatible`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

/// Longest bucket name any gateway accepts (AWS legacy us-east-1 and RGW relaxed names).
pub const MAX_BUCKET_NAME_BYTES: usize = 255;

impl BucketName {
    /// Validates a bucket name.
    ///
    /// # Errors
    ///
    /// [`NameError::BucketName`] when the name is empty, longer than
    /// [`MAX_BUCKET_NAME_BYTES`], or holds `/` or a control character.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        let refuse = |reason| NameError::BucketName {
            name: truncate_for_message(&name),
            reason,
        };
        if name.is_empty() {
            return Err(refuse("empty"));
        }
        if name.len() > MAX_BUCKET_NAME_BYTES {
            return Err(refuse("longer than 255 bytes"));
        }
        if name.contains('/') {
            return Err(refuse("contains '/'"));
        }
        if name.chars().any(char::is_control) {
            return Err(refuse("contains a control character"));
        }
        Ok(Self(name))
    }

    /// The name as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the name follows AWS's current rules and so is a valid DNS label sequence
    /// that may be used as `bucket.host` (virtual-host addressing): 3..=63 bytes of lowercase
    /// letters, digits, `.` and `-`, starting and ending with a letter or digit, no `..`,
    /// `.-` or `-.`, and not shaped like an IPv4 address.
    ///
    /// `db_wal` is not: `_` is not allowed in host names, so it must go path-style.
    #[must_use]
    pub fn is_dns_compatible(&self) -> bool {
        let name = self.0.as_str();
        let bytes = name.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        (3..=63).contains(&bytes.len())
            && bytes.iter().all(|b| alnum(b) || *b == b'.' || *b == b'-')
            && bytes.first().is_some_and(alnum)
            && bytes.last().is_some_and(alnum)
            && !name.contains("..")
            && !name.contains(".-")
            && !name.contains("-.")
            && name.parse::<std::net::Ipv4Addr>().is_err()
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BucketName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Longest object key S3 accepts, in bytes of UTF-8.
pub const MAX_OBJECT_KEY_BYTES: usize = 1024;

/// An object key: any non-empty UTF-8 string of at most [`MAX_OBJECT_KEY_BYTES`] bytes.
///
/// S3 allows every Unicode character in keys, control characters included, and so does
/// this type: `a//b`, `../x`, `dir/` and `x y+z%` are all distinct, valid keys and are sent
/// exactly as they are (see `encoding`). Whether a key can become a local path is the
/// `local` module's question, not this one's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates an object key.
    ///
    /// # Errors
    ///
    /// [`NameError::ObjectKey`] when the key is empty or longer than 1024 bytes.
    pub fn new(key: impl Into<String>) -> Result<Self, NameError> {
        let key = key.into();
        if key.is_empty() {
            return Err(NameError::ObjectKey {
                key,
                reason: "empty",
            });
        }
        if key.len() > MAX_OBJECT_KEY_BYTES {
            return Err(NameError::ObjectKey {
                key: truncate_for_message(&key),
                reason: "longer than 1024 bytes",
            });
        }
        Ok(Self(key))
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives the key back as a `String`.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ObjectKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Longest upload id we accept from a gateway. AWS ids are about 100 bytes and RGW's
/// (`2~` + 32 characters) shorter; the cap only stops a hostile response from carrying
/// megabytes into every later request.
pub const MAX_UPLOAD_ID_BYTES: usize = 1024;

/// The opaque id a gateway gives a multipart upload in `CreateMultipartUpload`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// Validates an upload id.
    ///
    /// # Errors
    ///
    /// [`NameError::UploadId`] when the id is empty, longer than [`MAX_UPLOAD_ID_BYTES`] or
    /// holds a control character.
    pub fn new(id: impl Into<String>) -> Result<Self, NameError> {
        let id = id.into();
        let refuse = |reason| NameError::UploadId {
            id: truncate_for_message(&id),
            reason,
        };
        if id.is_empty() {
            return Err(refuse("empty"));
        }
        if id.len() > MAX_UPLOAD_ID_BYTES {
            return Err(refuse("longer than 1024 bytes"));
        }
        if id.chars().any(char::is_control) {
            return Err(refuse("contains a control character"));
        }
        Ok(Self(id))
    }

    /// The id as the gateway sent it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of a part in a multipart upload, `1..=10_000` (the S3 limit, which RGW
/// shares).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartNumber(u16);

impl PartNumber {
    /// The first part number.
    pub const MIN: PartNumber = PartNumber(1);
    /// The last part number S3 accepts: at most 10,000 parts per upload (S3 API limit).
    pub const MAX: PartNumber = PartNumber(10_000);

    /// Validates a part number.
    ///
    /// # Errors
    ///
    /// [`NameError::PartNumber`] outside `1..=10_000`.
    pub fn new(number: u64) -> Result<Self, NameError> {
        match u16::try_from(number) {
            Ok(n) if (Self::MIN.0..=Self::MAX.0).contains(&n) => Ok(Self(n)),
            _ => Err(NameError::PartNumber(number)),
        }
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for PartNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An entity tag exactly as the gateway sent it, quotes included (`"9b2cf5…"`), because
/// `If-Match` and `CompleteMultipartUpload` must send it back unchanged.
///
/// A single-part upload's tag is the MD5 of the content ([`ETag::is_plain_md5`]); a
/// multipart upload's is `"<md5 of part md5s>-<parts>"`; encrypted objects' tags are
/// neither, which is why callers ask before trusting one as a content hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// Wraps a tag as received.
    ///
    /// # Errors
    ///
    /// [`NameError::ETag`] when the tag is empty (after trimming spaces) or holds characters
    /// a header value cannot carry, so it could never be sent back.
    pub fn new(etag: impl Into<String>) -> Result<Self, NameError> {
        let etag = etag.into();
        let refuse = |reason| NameError::ETag {
            etag: truncate_for_message(&etag),
            reason,
        };
        let trimmed = etag.trim();
        if trimmed.is_empty() {
            return Err(refuse("empty"));
        }
        if trimmed.len() > 1024 {
            return Err(refuse("longer than 1024 bytes"));
        }
        if !trimmed
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(refuse("not printable ASCII"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The tag as sent, quotes included.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag without its surrounding double quotes (when it has both).
    #[must_use]
    pub fn unquoted(&self) -> &str {
        self.0
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(&self.0)
    }

    /// True when the tag is 32 hex digits (an MD5) without a `-N` multipart suffix.
    #[must_use]
    pub fn is_plain_md5(&self) -> bool {
        let inner = self.unquoted();
        inner.len() == 32 && inner.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The MD5 in lowercase hex when [`ETag::is_plain_md5`] holds.
    #[must_use]
    pub fn md5_hex(&self) -> Option<String> {
        self.is_plain_md5()
            .then(|| self.unquoted().to_ascii_lowercase())
    }

    /// The number of parts of a multipart tag (`"…-12"` → 12), if the tag has that shape.
    #[must_use]
    pub fn multipart_part_count(&self) -> Option<u32> {
        let (digest, parts) = self.unquoted().rsplit_once('-')?;
        let hex = digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit());
        let parts: u32 = parts.parse().ok()?;
        (hex && parts > 0).then_some(parts)
    }

    /// The tag S3 (and Ceph RGW, MinIO) give the object a multipart upload of these parts
    /// assembles: the MD5 of the parts' binary MD5s, then `-<count>`, quoted. `None` when a
    /// part's tag is not a plain MD5 (encrypted or foreign), or there are no parts.
    #[must_use]
    pub fn multipart_of<'a>(parts: impl IntoIterator<Item = &'a ETag>) -> Option<ETag> {
        use md5::{Digest, Md5};
        let mut outer = Md5::new();
        let mut count = 0u32;
        for part in parts {
            let digest = hex::decode(part.md5_hex()?).ok()?;
            outer.update(&digest);
            count = count.checked_add(1)?;
        }
        (count > 0).then(|| ETag(format!("\"{}-{count}\"", hex::encode(outer.finalize()))))
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A range of bytes of an object: `start` to `end` inclusive, or `start` to the end of the
/// object when `end` is `None`, as in the HTTP `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    start: u64,
    end: Option<u64>,
}

impl ByteRange {
    /// The range `start..=end`.
    ///
    /// # Errors
    ///
    /// [`NameError::ByteRange`] when `end < start`.
    pub fn new(start: u64, end: u64) -> Result<Self, NameError> {
        if end < start {
            return Err(NameError::ByteRange { start, end });
        }
        Ok(Self {
            start,
            end: Some(end),
        })
    }

    /// The range from `start` to the end of the object.
    #[must_use]
    pub fn from_offset(start: u64) -> Self {
        Self { start, end: None }
    }

    /// The first byte.
    #[must_use]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The last byte (inclusive), if bounded.
    #[must_use]
    pub fn end(&self) -> Option<u64> {
        self.end
    }

    /// Number of bytes when bounded (saturating: `0..=u64::MAX` reports `u64::MAX`).
    #[must_use]
    pub fn len_bytes(&self) -> Option<u64> {
        self.end.map(|end| (end - self.start).saturating_add(1))
    }

    /// The header value: `bytes=a-b` or `bytes=a-`.
    #[must_use]
    pub fn header_value(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "bytes={}-{end}", self.start),
            None => write!(f, "bytes={}-", self.start),
        }
    }
}

/// An S3 storage class. RGW reports `STANDARD` unless placement targets define others,
/// whose names it passes through ([`StorageClass::Other`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageClass {
    /// `STANDARD`.
    Standard,
    /// `REDUCED_REDUNDANCY`.
    ReducedRedundancy,
    /// `STANDARD_IA`.
    StandardIa,
    /// `ONEZONE_IA`.
    OnezoneIa,
    /// `INTELLIGENT_TIERING`.
    IntelligentTiering,
    /// `GLACIER`: archived, must be restored before `GetObject`.
    Glacier,
    /// `DEEP_ARCHIVE`: archived, must be restored before `GetObject`.
    DeepArchive,
    /// `GLACIER_IR`: readable directly.
    GlacierIr,
    /// Any other class, as sent.
    Other(String),
}

impl StorageClass {
    /// The class for a `StorageClass` element or `x-amz-storage-class` header.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "STANDARD" => Self::Standard,
            "REDUCED_REDUNDANCY" => Self::ReducedRedundancy,
            "STANDARD_IA" => Self::StandardIa,
            "ONEZONE_IA" => Self::OnezoneIa,
            "INTELLIGENT_TIERING" => Self::IntelligentTiering,
            "GLACIER" => Self::Glacier,
            "DEEP_ARCHIVE" => Self::DeepArchive,
            "GLACIER_IR" => Self::GlacierIr,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The class as S3 spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Standard => "STANDARD",
            Self::ReducedRedundancy => "REDUCED_REDUNDANCY",
            Self::StandardIa => "STANDARD_IA",
            Self::OnezoneIa => "ONEZONE_IA",
            Self::IntelligentTiering => "INTELLIGENT_TIERING",
            Self::Glacier => "GLACIER",
            Self::DeepArchive => "DEEP_ARCHIVE",
            Self::GlacierIr => "GLACIER_IR",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_accept_relaxed_rgw_names() {
        for name in [
            "db_wal",
            "registry",
            "DB_WAL",
            "a",
            "my.bucket",
            "x".repeat(255).as_str(),
        ] {
            assert!(BucketName::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn bucket_names_refuse_what_no_gateway_accepts() {
        for name in ["", "a/b", "a\nb", "tab\tname", "x".repeat(256).as_str()] {
            assert!(BucketName::new(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn dns_compatibility_follows_aws_rules() {
        let dns = |n: &str| BucketName::new(n).unwrap().is_dns_compatible();
        assert!(dns("registry"));
        assert!(dns("my-bucket.backups"));
        assert!(dns("abc"));
        assert!(!dns("db_wal"));
        assert!(!dns("DBWAL"));
        assert!(!dns("ab"));
        assert!(!dns("a..b"));
        assert!(!dns("a.-b"));
        assert!(!dns("-ab"));
        assert!(!dns("ab-"));
        assert!(!dns("192.168.1.1"));
        assert!(!dns(&"a".repeat(64)));
    }

    #[test]
    fn object_keys_accept_any_utf8_up_to_1024_bytes() {
        for key in [
            "a",
            " ",
            "a//b",
            "../x",
            "\u{1}ctl",
            "日本語",
            "x".repeat(1024).as_str(),
        ] {
            assert!(ObjectKey::new(key).is_ok(), "{key:?}");
        }
        assert!(ObjectKey::new("").is_err());
        assert!(ObjectKey::new("x".repeat(1025)).is_err());
        // 342 three-byte characters = 1026 bytes: the limit is bytes, not characters.
        assert!(ObjectKey::new("語".repeat(342)).is_err());
    }

    #[test]
    fn part_numbers_are_1_to_10000() {
        assert!(PartNumber::new(0).is_err());
        assert_eq!(PartNumber::new(1).unwrap(), PartNumber::MIN);
        assert_eq!(PartNumber::new(10_000).unwrap(), PartNumber::MAX);
        assert!(PartNumber::new(10_001).is_err());
        assert!(PartNumber::new(u64::MAX).is_err());
    }

    #[test]
    fn etags_keep_quotes_and_know_md5() {
        let plain = ETag::new("\"9B2CF535F27731C974343645A3985328\"").unwrap();
        assert_eq!(plain.as_str(), "\"9B2CF535F27731C974343645A3985328\"");
        assert!(plain.is_plain_md5());
        assert_eq!(
            plain.md5_hex().as_deref(),
            Some("9b2cf535f27731c974343645a3985328")
        );
        let multi = ETag::new("\"d41d8cd98f00b204e9800998ecf8427e-12\"").unwrap();
        assert!(!multi.is_plain_md5());
        assert_eq!(multi.md5_hex(), None);
        assert_eq!(multi.multipart_part_count(), Some(12));
        assert_eq!(plain.multipart_part_count(), None);
        assert!(ETag::new("  ").is_err());
        assert!(ETag::new("\"a\nb\"").is_err());
    }

    #[test]
    fn a_multipart_tag_is_the_md5_of_the_part_md5s() {
        // md5("hello"), md5("world") (the second in upper case, unquoted), and the MD5 of
        // their 32 binary bytes, as Python's hashlib gives it; Ceph RGW 16 tagged a real
        // two-part upload with the same formula.
        let hello = ETag::new("\"5d41402abc4b2a76b9719d911017c592\"").unwrap();
        let world = ETag::new("7D793037A0760186574B0282F2F435E7").unwrap();
        let tag = ETag::multipart_of([&hello, &world]).unwrap();
        assert_eq!(tag.as_str(), "\"065947336a2f2a95ba8899f3675c3be6-2\"");
        assert_eq!(tag.multipart_part_count(), Some(2));
        assert_eq!(ETag::multipart_of([]), None);
        let multi = ETag::new("\"d41d8cd98f00b204e9800998ecf8427e-12\"").unwrap();
        assert_eq!(ETag::multipart_of([&hello, &multi]), None);
    }

    #[test]
    fn byte_ranges_render_as_range_headers() {
        assert_eq!(ByteRange::new(0, 9).unwrap().header_value(), "bytes=0-9");
        assert_eq!(ByteRange::from_offset(100).header_value(), "bytes=100-");
        assert_eq!(ByteRange::new(5, 5).unwrap().len_bytes(), Some(1));
        assert!(ByteRange::new(10, 9).is_err());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let err = ObjectKey::new("k".repeat(5000)).unwrap_err().to_string();
        assert!(err.len() < 400, "{}", err.len());
    }
}
