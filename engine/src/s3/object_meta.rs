//! What `HeadObject` and `GetObject` responses say about an object, read from headers.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use time::OffsetDateTime;

use super::error::{ParseError, ParseErrorKind};
use super::metadata::UserMetadata;
use super::names::{ETag, StorageClass};

/// The operation name used in errors from header parsing.
const OPERATION: &str = "HeadObject/GetObject";

/// A satisfied `Content-Range`: bytes `start..=end` of an object of `total` bytes (`None`
/// when the gateway sent `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte.
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
    /// Size of the whole object, when known.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Number of bytes in the range (saturating: `0-18446744073709551615/*` reports
    /// `u64::MAX`, which no `Content-Length` can match).
    #[must_use]
    pub fn len_bytes(&self) -> u64 {
        (self.end - self.start).saturating_add(1)
    }
}

/// Parses `bytes <start>-<end>/<total|*>` (RFC 9110 §14.4).
///
/// # Errors
///
/// A [`ParseError`] in header `content-range` for another unit, an unsatisfied range
/// (`bytes */100`), non-digits (signs, spaces, hex), numbers beyond `u64`, `end < start`,
/// or `end >= total`.
pub fn parse_content_range(value: &str) -> Result<ContentRange, ParseError> {
    let invalid = |expected| {
        ParseError::header(
            OPERATION,
            "content-range",
            ParseErrorKind::InvalidValue {
                expected,
                found: value.chars().take(100).collect(),
            },
        )
    };
    let shape = "bytes <start>-<end>/<total>";
    let (unit, rest) = value.trim().split_once(' ').ok_or_else(|| invalid(shape))?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return Err(invalid(shape));
    }
    let (range, total) = rest.split_once('/').ok_or_else(|| invalid(shape))?;
    let (start, end) = range.split_once('-').ok_or_else(|| invalid(shape))?;
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(shape));
        }
        s.parse::<u64>()
            .map_err(|_| invalid("byte positions below 2^64"))
    };
    let start = number(start)?;
    let end = number(end)?;
    let total = match total {
        "*" => None,
        t => Some(number(t)?),
    };
    if end < start {
        return Err(invalid("a range whose end is not before its start"));
    }
    if total.is_some_and(|total| end >= total) {
        return Err(invalid("a range inside the object's size"));
    }
    Ok(ContentRange { start, end, total })
}

/// An object's metadata from `HeadObject` or `GetObject` response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// `Content-Length`: the object's size, or the range's for a ranged `GetObject`.
    pub content_length: u64,
    /// `ETag`, quotes kept.
    pub etag: Option<ETag>,
    /// `Last-Modified` (whole seconds, as HTTP dates are).
    pub last_modified: Option<OffsetDateTime>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `x-amz-meta-*`, names lowercased and without the prefix.
    pub metadata: UserMetadata,
    /// `Content-Range` of a ranged or part `GetObject` (or `HeadObject` with a part number).
    pub content_range: Option<ContentRange>,
    /// `x-amz-mp-parts-count`: parts of a multipart object, sent when a part number was
    /// asked for.
    pub parts_count: Option<u32>,
    /// `x-amz-storage-class` (S3 omits it for `STANDARD`).
    pub storage_class: Option<StorageClass>,
}

impl ObjectMeta {
    /// Reads the headers.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] naming the header when `Content-Length` is missing or not a number,
    /// `ETag`, `Last-Modified`, `Content-Range` or `x-amz-mp-parts-count` is malformed, or
    /// `Content-Range` disagrees with `Content-Length`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ParseError> {
        let text = |name: &'static str| -> Result<Option<&str>, ParseError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str().map(str::trim).map_err(|_| {
                        ParseError::header(
                            OPERATION,
                            name,
                            ParseErrorKind::InvalidValue {
                                expected: "visible ASCII",
                                found: String::from_utf8_lossy(v.as_bytes())
                                    .chars()
                                    .take(100)
                                    .collect(),
                            },
                        )
                    })
                })
                .transpose()
        };
        let invalid = |name: &'static str, expected, found: &str| {
            ParseError::header(
                OPERATION,
                name,
                ParseErrorKind::InvalidValue {
                    expected,
                    found: found.chars().take(100).collect(),
                },
            )
        };
        let digits = |name: &'static str, v: &str| -> Result<u64, ParseError> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(name, "an unsigned integer", v));
            }
            v.parse()
                .map_err(|_| invalid(name, "an unsigned integer below 2^64", v))
        };

        let content_length = text("content-length")
            .and_then(|v| {
                v.ok_or_else(|| {
                    ParseError::header(
                        OPERATION,
                        "content-length",
                        ParseErrorKind::Missing("content-length"),
                    )
                })
            })
            .and_then(|v| digits("content-length", v))?;
        let etag = text("etag")?
            .map(|v| {
                ETag::new(v).map_err(|e| {
                    ParseError::header(OPERATION, "etag", ParseErrorKind::InvalidName(e))
                })
            })
            .transpose()?;
        let last_modified = text("last-modified")?
            .map(|v| {
                httpdate::parse_http_date(v)
                    .map(OffsetDateTime::from)
                    .map_err(|_| invalid("last-modified", "an HTTP date", v))
            })
            .transpose()?;
        let content_type = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
        let content_range = text("content-range")?
            .map(parse_content_range)
            .transpose()?;
        if let Some(range) = content_range
            && range.len_bytes() != content_length
        {
            return Err(invalid(
                "content-range",
                "a range as long as content-length",
                &format!(
                    "bytes {}-{} with content-length {content_length}",
                    range.start, range.end
                ),
            ));
        }
        let parts_count = text("x-amz-mp-parts-count")?
            .map(|v| {
                digits("x-amz-mp-parts-count", v).and_then(|n| {
                    u32::try_from(n).map_err(|_| invalid("x-amz-mp-parts-count", "a part count", v))
                })
            })
            .transpose()?;
        let storage_class = text("x-amz-storage-class")?.map(StorageClass::parse);
        Ok(Self {
            content_length,
            etag,
            last_modified,
            content_type,
            metadata: UserMetadata::from_headers(headers),
            content_range,
            parts_count,
            storage_class,
        })
    }

    /// The whole object's size: the `Content-Range` total for a ranged answer, else
    /// `Content-Length`. `None` for a ranged answer whose total was `*`.
    #[must_use]
    pub fn object_size(&self) -> Option<u64> {
        match self.content_range {
            Some(range) => range.total,
            None => Some(self.content_length),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use time::macros::datetime;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 0-9/100").unwrap(),
            ContentRange {
                start: 0,
                end: 9,
                total: Some(100)
            }
        );
        assert_eq!(parse_content_range("bytes 5-5/*").unwrap().total, None);
        assert_eq!(
            parse_content_range("Bytes 99-99/100").unwrap().len_bytes(),
            1
        );
    }

    #[test]
    fn content_ranges_refuse_malformed_and_inconsistent_values() {
        for bad in [
            "",
            "bytes",
            "bytes 0-9",
            "bytes */100",
            "items 0-9/100",
            "bytes 9-0/100",
            "bytes 0-100/100",
            "bytes 0-9/0",
            "bytes -1-9/100",
            "bytes +0-9/100",
            "bytes 0 -9/100",
            "bytes 0x1-9/100",
            "bytes 0-99999999999999999999/*",
            "bytes 0-9/100/7",
            "bytes 0-9-10/100",
        ] {
            let err = parse_content_range(bad);
            assert!(err.is_err(), "{bad:?} parsed as {err:?}");
        }
        let msg = parse_content_range("bytes 9-0/100")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("content-range"), "{msg}");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn reads_rgw_head_object_headers() {
        let meta = ObjectMeta::from_headers(&headers(&[
            ("content-length", "1048576"),
            ("etag", "\"b6d81b360a5672d80c27430f39153e2c\""),
            ("last-modified", "Tue, 05 Mar 2024 10:11:12 GMT"),
            ("content-type", "binary/octet-stream"),
            ("x-amz-meta-s3cmd-attrs", "mode:33188/mtime:1709633472"),
            ("x-amz-request-id", "tx000001"),
            ("accept-ranges", "bytes"),
        ]))
        .unwrap();
        assert_eq!(meta.content_length, 1_048_576);
        assert!(meta.etag.as_ref().unwrap().is_plain_md5());
        assert_eq!(meta.last_modified, Some(datetime!(2024-03-05 10:11:12 UTC)));
        assert_eq!(meta.content_type.as_deref(), Some("binary/octet-stream"));
        assert_eq!(
            meta.metadata.get("s3cmd-attrs"),
            Some("mode:33188/mtime:1709633472")
        );
        assert_eq!(meta.object_size(), Some(1_048_576));
    }

    #[test]
    fn reads_ranged_get_headers() {
        let meta = ObjectMeta::from_headers(&headers(&[
            ("content-length", "10"),
            ("content-range", "bytes 0-9/100"),
            ("x-amz-mp-parts-count", "3"),
        ]))
        .unwrap();
        assert_eq!(meta.object_size(), Some(100));
        assert_eq!(meta.parts_count, Some(3));
        let err = ObjectMeta::from_headers(&headers(&[
            ("content-length", "11"),
            ("content-range", "bytes 0-9/100"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("content-range"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn content_range_parsing_never_panics(value in "\\PC{0,40}") {
            let _ = parse_content_range(&value);
        }

        #[test]
        fn content_ranges_are_consistent_or_refused(start: u64, end: u64, total: Option<u64>) {
            let total_text = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
            let value = format!("bytes {start}-{end}/{total_text}");
            match parse_content_range(&value) {
                Ok(range) => {
                    proptest::prop_assert!(range.start <= range.end);
                    proptest::prop_assert!(range.total.is_none_or(|t| range.end < t));
                }
                Err(_) => proptest::prop_assert!(end < start || total.is_some_and(|t| end >= t)),
            }
            let mut headers = HeaderMap::new();
            headers.insert("content-length", HeaderValue::from_str(&start.to_string()).unwrap());
            headers.insert("content-range", HeaderValue::from_str(&value).unwrap());
            let _ = ObjectMeta::from_headers(&headers);
        }
    }

    #[test]
    fn refuses_missing_or_malformed_headers() {
        for pairs in [
            &[][..],
            &[("content-length", "-1")][..],
            &[("content-length", "ten")][..],
            &[("content-length", "1"), ("last-modified", "yesterday")][..],
            &[("content-length", "1"), ("etag", "")][..],
            &[
                ("content-length", "1"),
                ("x-amz-mp-parts-count", "99999999999"),
            ][..],
        ] {
            assert!(
                ObjectMeta::from_headers(&headers(pairs)).is_err(),
                "{pairs:?}"
            );
        }
    }
}
