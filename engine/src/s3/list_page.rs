//! One page of an object listing, shared by `ListObjectsV2` and `ListObjects` (V1), and the
//! parser of their common `ListBucketResult` document.
//!
//! Both versions answer with the same root element. A V2 answer always carries `KeyCount`
//! (AWS, RGW and s3s all send it); a gateway that ignores `list-type=2` answers a V2
//! request with a V1 page (`Marker`, `NextMarker`, no `KeyCount`). The parser reports which
//! one it saw in [`ListPage::dialect`], so the client can continue with V1 requests and
//! [`ListPage::resume_marker`] instead of a continuation token.
//!
//! Keys, common prefixes and `NextMarker` are url-decoded when the response says
//! `<EncodingType>url</EncodingType>`, wherever that element appears (RGW writes it first,
//! s3s last). The continuation token is opaque and never decoded.

use time::OffsetDateTime;

use super::encoding::decode_listing_value;
use super::error::{Location, ParseError, ParseErrorKind};
use super::names::{ETag, ObjectKey, StorageClass};
use super::xml::{Step, XmlReader, value};

/// Whether to ask the gateway to url-encode keys in the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListEncoding {
    /// `encoding-type=url`: keys with characters XML 1.0 cannot carry survive. The default.
    #[default]
    Url,
    /// No `encoding-type`: for gateways that claim to encode but do not (see
    /// [`ParseErrorKind::NotUrlEncoded`]).
    Raw,
}

/// Which listing API the answer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListDialect {
    /// `ListObjects` (V1): continue with `marker` = [`ListPage::resume_marker`].
    V1,
    /// `ListObjectsV2`: continue with `continuation-token` = `next_continuation_token`.
    V2,
}

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    /// The key, decoded.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// The `ETag`, quotes kept (absent only on gateways that omit it).
    pub etag: Option<ETag>,
    /// Last modification time (millisecond precision on AWS and RGW).
    pub last_modified: OffsetDateTime,
    /// Storage class, when sent.
    pub storage_class: Option<StorageClass>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, in the order sent (S3 byte order of keys).
    pub objects: Vec<ObjectEntry>,
    /// Common prefixes (with a delimiter), decoded.
    pub common_prefixes: Vec<String>,
    /// More results follow.
    pub is_truncated: bool,
    /// V2: the token for the next page (present whenever a V2 page is truncated).
    pub next_continuation_token: Option<String>,
    /// V1: `NextMarker`, decoded (often absent without a delimiter: see
    /// [`ListPage::resume_marker`]).
    pub next_marker: Option<String>,
    /// V2: `KeyCount` (objects plus common prefixes on this page).
    pub key_count: Option<u64>,
    /// Which API the answer follows.
    pub dialect: ListDialect,
    /// Whether keys were url-decoded (the response said `EncodingType` `url`).
    pub url_decoded: bool,
}

impl ListPage {
    /// The V1 `marker` for the next page, or `None` when this page is the last.
    ///
    /// `NextMarker` when sent; otherwise the greatest key or common prefix on the page, as
    /// the `ListObjects` reference says to do ("if the response does not include the
    /// `NextMarker` element and it is truncated, you can use the value of the last `Key`
    /// element in the response as the marker parameter"). The parser guarantees a
    /// truncated V1 page has one or the other.
    #[must_use]
    pub fn resume_marker(&self) -> Option<&str> {
        if !self.is_truncated {
            return None;
        }
        if let Some(marker) = &self.next_marker {
            return Some(marker);
        }
        let last_key = self.objects.last().map(|o| o.key.as_str());
        let last_prefix = self.common_prefixes.last().map(String::as_str);
        last_key.max(last_prefix)
    }
}

#[derive(Default)]
struct RawEntry {
    key: Option<(String, u64)>,
    size: Option<u64>,
    etag: Option<ETag>,
    last_modified: Option<OffsetDateTime>,
    storage_class: Option<StorageClass>,
}

/// A listed object before its key is decoded.
struct PendingEntry {
    key: String,
    key_offset: u64,
    size: u64,
    etag: Option<ETag>,
    last_modified: OffsetDateTime,
    storage_class: Option<StorageClass>,
}

/// Parses a `ListBucketResult` answering `operation` (`ListObjectsV2` or `ListObjects`),
/// sent as a `request` of that dialect: the answer to a V1 request is a V1 page whatever it
/// holds (the listing goes on from markers), so it must have one to go on from.
pub(crate) fn parse_list_bucket_result(
    body: &[u8],
    operation: &'static str,
    request: ListDialect,
) -> Result<ListPage, ParseError> {
    const ROOT: &str = "ListBucketResult";
    let mut xml = XmlReader::new(body, operation);
    xml.expect_root(ROOT)?;

    let mut entries: Vec<PendingEntry> = Vec::new();
    let mut prefixes: Vec<(String, u64)> = Vec::new();
    let mut entry: Option<RawEntry> = None;
    let mut is_truncated = None;
    let mut next_token = None;
    let mut next_marker: Option<(String, u64)> = None;
    let mut key_count = None;
    let mut url = false;
    let mut v2_marks = false;

    while let Some(step) = xml.next()? {
        let text = match step {
            Step::Open => {
                if xml.path() == "ListBucketResult/Contents" {
                    entry = Some(RawEntry::default());
                    xml.check_count(entries.len() + prefixes.len() + 1)?;
                }
                continue;
            }
            Step::Close(text) => text,
        };
        match xml.path() {
            "ListBucketResult/Contents/Key" => {
                if let Some(e) = entry.as_mut() {
                    e.key = Some((text, xml.offset()));
                }
            }
            "ListBucketResult/Contents/Size" => {
                let size = value::u64(&xml, &text)?;
                if let Some(e) = entry.as_mut() {
                    e.size = Some(size);
                }
            }
            "ListBucketResult/Contents/ETag" => {
                let etag = optional_etag(&xml, &text)?;
                if let Some(e) = entry.as_mut() {
                    e.etag = etag;
                }
            }
            "ListBucketResult/Contents/LastModified" => {
                let time = value::timestamp(&xml, &text)?;
                if let Some(e) = entry.as_mut() {
                    e.last_modified = Some(time);
                }
            }
            "ListBucketResult/Contents/StorageClass" => {
                if let Some(e) = entry.as_mut() {
                    e.storage_class = Some(StorageClass::parse(&text));
                }
            }
            "ListBucketResult/Contents" => {
                let Some(raw) = entry.take() else { continue };
                let (key, key_offset) = raw.key.ok_or_else(|| xml.missing("Key"))?;
                entries.push(PendingEntry {
                    key,
                    key_offset,
                    size: raw.size.ok_or_else(|| xml.missing("Size"))?,
                    etag: raw.etag,
                    last_modified: raw
                        .last_modified
                        .ok_or_else(|| xml.missing("LastModified"))?,
                    storage_class: raw.storage_class,
                });
            }
            "ListBucketResult/CommonPrefixes/Prefix" => {
                xml.check_count(entries.len() + prefixes.len() + 1)?;
                prefixes.push((text, xml.offset()));
            }
            "ListBucketResult/IsTruncated" => is_truncated = Some(value::bool(&xml, &text)?),
            "ListBucketResult/NextContinuationToken" => {
                v2_marks = true;
                next_token = Some(text).filter(|t| !t.is_empty());
            }
            "ListBucketResult/ContinuationToken" | "ListBucketResult/StartAfter" => {
                v2_marks = true;
            }
            "ListBucketResult/KeyCount" => {
                v2_marks = true;
                key_count = Some(value::u64(&xml, &text)?);
            }
            "ListBucketResult/NextMarker" => {
                next_marker = Some((text, xml.offset())).filter(|(t, _)| !t.is_empty());
            }
            "ListBucketResult/EncodingType" => {
                url = text.trim().eq_ignore_ascii_case("url");
            }
            _ => {}
        }
    }
    let end = xml.offset();
    let is_truncated = is_truncated.ok_or_else(|| missing_at_end(operation, end, "IsTruncated"))?;
    let dialect = if v2_marks && request == ListDialect::V2 {
        ListDialect::V2
    } else {
        ListDialect::V1
    };

    let decode = |path: &'static str, (text, offset): (String, u64)| {
        if !url {
            return Ok(text);
        }
        decode_listing_value(&text).map_err(|e| ParseError {
            operation,
            location: Location::Element {
                path: path.to_owned(),
                offset,
            },
            kind: ParseErrorKind::NotUrlEncoded(e),
        })
    };
    let mut objects = Vec::with_capacity(entries.len());
    for e in entries {
        let offset = e.key_offset;
        let key = decode("ListBucketResult/Contents/Key", (e.key, offset))?;
        let key = ObjectKey::new(key).map_err(|err| ParseError {
            operation,
            location: Location::Element {
                path: "ListBucketResult/Contents/Key".to_owned(),
                offset,
            },
            kind: ParseErrorKind::InvalidName(err),
        })?;
        objects.push(ObjectEntry {
            key,
            size: e.size,
            etag: e.etag,
            last_modified: e.last_modified,
            storage_class: e.storage_class,
        });
    }
    let common_prefixes = prefixes
        .into_iter()
        .map(|p| decode("ListBucketResult/CommonPrefixes/Prefix", p))
        .collect::<Result<Vec<_>, _>>()?;
    let next_marker = next_marker
        .map(|m| decode("ListBucketResult/NextMarker", m))
        .transpose()?;

    let page = ListPage {
        objects,
        common_prefixes,
        is_truncated,
        next_continuation_token: next_token,
        next_marker,
        key_count,
        dialect,
        url_decoded: url,
    };
    // A truncated page that says nothing about where to continue would end the listing
    // early without an error: a sync would then delete what it never saw.
    if page.is_truncated {
        match page.dialect {
            ListDialect::V2 if page.next_continuation_token.is_none() => {
                return Err(missing_at_end(operation, end, "NextContinuationToken"));
            }
            // An empty marker (an empty common prefix, last on the page) would start the
            // listing over.
            ListDialect::V1 if page.resume_marker().is_none_or(str::is_empty) => {
                return Err(missing_at_end(operation, end, "NextMarker"));
            }
            _ => {}
        }
    }
    Ok(page)
}

fn missing_at_end(operation: &'static str, offset: u64, element: &'static str) -> ParseError {
    ParseError {
        operation,
        location: Location::Element {
            path: "ListBucketResult".to_owned(),
            offset,
        },
        kind: ParseErrorKind::Missing(element),
    }
}

/// An `ETag` element: `None` when empty, an error when it cannot be a header value.
pub(crate) fn optional_etag(xml: &XmlReader<'_>, text: &str) -> Result<Option<ETag>, ParseError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    ETag::new(text)
        .map(Some)
        .map_err(|e| xml.error(ParseErrorKind::InvalidName(e)))
}

/// A required `ETag` element.
pub(crate) fn required_etag(xml: &XmlReader<'_>, text: &str) -> Result<ETag, ParseError> {
    optional_etag(xml, text)?.ok_or_else(|| xml.invalid("an ETag", text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> Result<ListPage, ParseError> {
        parse_list_bucket_result(body.as_bytes(), "ListObjectsV2", ListDialect::V2)
    }

    #[test]
    fn resume_marker_prefers_next_marker_then_the_greatest_entry() {
        let body = |truncated, marker: &str| {
            format!(
                "<ListBucketResult><IsTruncated>{truncated}</IsTruncated>{marker}\
                 <Contents><Key>a/1</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><Size>1</Size></Contents>\
                 <CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes></ListBucketResult>"
            )
        };
        let p = page(&body("true", "")).unwrap();
        assert_eq!(p.dialect, ListDialect::V1);
        assert_eq!(p.resume_marker(), Some("b/"));
        let p = page(&body("true", "<NextMarker>zz</NextMarker>")).unwrap();
        assert_eq!(p.resume_marker(), Some("zz"));
        let p = page(&body("false", "")).unwrap();
        assert_eq!(p.resume_marker(), None);
    }

    #[test]
    fn refuses_truncated_pages_without_a_way_forward() {
        let v2 = "<ListBucketResult><IsTruncated>true</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";
        let err = page(v2).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Missing("NextContinuationToken"));
        let v1 =
            "<ListBucketResult><IsTruncated>true</IsTruncated><Marker></Marker></ListBucketResult>";
        assert_eq!(
            page(v1).unwrap_err().kind,
            ParseErrorKind::Missing("NextMarker")
        );
        // Found by the list_objects fuzz target: the only way forward an empty prefix.
        let empty = "<ListBucketResult><IsTruncated>true</IsTruncated>\
            <CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>\
            <CommonPrefixes><Prefix></Prefix></CommonPrefixes></ListBucketResult>";
        assert_eq!(
            page(empty).unwrap_err().kind,
            ParseErrorKind::Missing("NextMarker")
        );
        let none = "<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>";
        assert_eq!(
            page(none).unwrap_err().kind,
            ParseErrorKind::Missing("IsTruncated")
        );
    }

    #[test]
    fn refuses_entries_without_required_fields() {
        let body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>";
        let err = page(body).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Missing("LastModified"));
        assert!(
            err.to_string().contains("ListBucketResult/Contents"),
            "{err}"
        );
        let body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>";
        let err = page(body).unwrap_err();
        assert!(
            err.to_string().contains("ListBucketResult/Contents/Size"),
            "{err}"
        );
    }

    #[test]
    fn encoding_type_may_come_after_the_keys() {
        // s3s writes EncodingType after Contents; decoding must still apply.
        let body = "<ListBucketResult><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>\
            <Contents><Key>a%20b+c</Key><LastModified>2024-01-01T00:00:00Z</LastModified><Size>1</Size></Contents>\
            <EncodingType>url</EncodingType></ListBucketResult>";
        let p = page(body).unwrap();
        assert_eq!(p.objects[0].key.as_str(), "a b c");
        assert!(p.url_decoded);
    }

    #[test]
    fn a_gateway_that_claims_but_does_not_encode_is_detected() {
        let body = "<ListBucketResult><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>\
            <Contents><Key>photo 1.jpg</Key><LastModified>2024-01-01T00:00:00Z</LastModified><Size>1</Size></Contents>\
            <EncodingType>url</EncodingType></ListBucketResult>";
        let err = page(body).unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::NotUrlEncoded(_)),
            "{err}"
        );
        assert!(err.to_string().contains("Contents/Key"), "{err}");
    }

    #[test]
    fn refuses_too_many_entries() {
        let mut body = String::from("<ListBucketResult><IsTruncated>false</IsTruncated>");
        for _ in 0..=crate::s3::xml::MAX_ENTRIES_PER_PAGE {
            body.push_str("<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>");
        }
        body.push_str("</ListBucketResult>");
        assert!(matches!(
            page(&body).unwrap_err().kind,
            ParseErrorKind::TooManyEntries { .. }
        ));
    }
}
