//! `ListParts`: the parts uploaded so far (to resume an interrupted upload).
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html>

use http::{Method, Request};
use time::OffsetDateTime;

use super::endpoint::Endpoint;
use super::error::{ParseError, ParseErrorKind};
use super::list_page::required_etag;
use super::names::{BucketName, ETag, ObjectKey, PartNumber, UploadId};
use super::request::{RequestBuilder, RequestError};
use super::xml::{Step, XmlReader, value};

const OPERATION: &str = "ListParts";

/// `GET /bucket/key?uploadId=ID&…`, paginated by `part-number-marker`. Errors without a
/// body take `ResourceKind::Upload`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html>
#[derive(Debug, Clone, Copy)]
pub struct ListParts<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// The upload.
    pub upload_id: &'a UploadId,
    /// The previous page's `next_part_number_marker` (parts after it are listed).
    pub part_number_marker: Option<u32>,
    /// At most this many parts (S3 default and cap: 1,000).
    pub max_parts: Option<u32>,
}

impl ListParts<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::GET, ep)
            .object(self.bucket, self.key)
            .query("uploadId", self.upload_id.as_str())
            .query_opt(
                "part-number-marker",
                self.part_number_marker.map(|n| n.to_string()),
            )
            .query_opt("max-parts", self.max_parts.map(|n| n.to_string()))
            .build()
    }
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    /// Its number.
    pub part_number: PartNumber,
    /// Its `ETag`.
    pub etag: ETag,
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded.
    pub last_modified: Option<OffsetDateTime>,
}

/// One page of parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsPage {
    /// The parts, by number.
    pub parts: Vec<PartEntry>,
    /// More parts follow.
    pub is_truncated: bool,
    /// `part-number-marker` for the next page.
    pub next_part_number_marker: Option<u32>,
}

#[derive(Default)]
struct RawPart {
    part_number: Option<PartNumber>,
    etag: Option<ETag>,
    size: Option<u64>,
    last_modified: Option<OffsetDateTime>,
}

/// Parses the answer.
///
/// # Errors
///
/// A [`ParseError`] for anything but a complete `ListPartsResult`, including a truncated
/// page without `NextPartNumberMarker`.
pub fn parse_list_parts(body: &[u8]) -> Result<PartsPage, ParseError> {
    let mut xml = XmlReader::new(body, OPERATION);
    xml.expect_root("ListPartsResult")?;
    let mut page = PartsPage {
        parts: Vec::new(),
        is_truncated: false,
        next_part_number_marker: None,
    };
    let mut is_truncated = None;
    let mut part: Option<RawPart> = None;
    while let Some(step) = xml.next()? {
        let text = match step {
            Step::Open => {
                if xml.path() == "ListPartsResult/Part" {
                    xml.check_count(page.parts.len() + 1)?;
                    part = Some(RawPart::default());
                }
                continue;
            }
            Step::Close(text) => text,
        };
        match xml.path() {
            "ListPartsResult/Part/PartNumber" => {
                let n = PartNumber::new(value::u64(&xml, &text)?)
                    .map_err(|e| xml.error(ParseErrorKind::InvalidName(e)))?;
                if let Some(p) = part.as_mut() {
                    p.part_number = Some(n);
                }
            }
            "ListPartsResult/Part/ETag" => {
                let etag = required_etag(&xml, &text)?;
                if let Some(p) = part.as_mut() {
                    p.etag = Some(etag);
                }
            }
            "ListPartsResult/Part/Size" => {
                let size = value::u64(&xml, &text)?;
                if let Some(p) = part.as_mut() {
                    p.size = Some(size);
                }
            }
            "ListPartsResult/Part/LastModified" => {
                let time = value::timestamp(&xml, &text)?;
                if let Some(p) = part.as_mut() {
                    p.last_modified = Some(time);
                }
            }
            "ListPartsResult/Part" => {
                let Some(raw) = part.take() else { continue };
                page.parts.push(PartEntry {
                    part_number: raw.part_number.ok_or_else(|| xml.missing("PartNumber"))?,
                    etag: raw.etag.ok_or_else(|| xml.missing("ETag"))?,
                    size: raw.size.ok_or_else(|| xml.missing("Size"))?,
                    last_modified: raw.last_modified,
                });
            }
            "ListPartsResult/IsTruncated" => is_truncated = Some(value::bool(&xml, &text)?),
            "ListPartsResult/NextPartNumberMarker" => {
                let marker = value::u64(&xml, &text)?;
                page.next_part_number_marker =
                    Some(u32::try_from(marker).map_err(|_| xml.invalid("a part number", &text))?);
            }
            "ListPartsResult" => {
                page.is_truncated = is_truncated.ok_or_else(|| xml.missing("IsTruncated"))?;
                if page.is_truncated && page.next_part_number_marker.is_none() {
                    return Err(xml.missing("NextPartNumberMarker"));
                }
            }
            _ => {}
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_the_request() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("base/base.tar").unwrap();
        let id = UploadId::new("2~iCw_lDY8VoNGvDpL5Gu3nkd0E4yHwQd").unwrap();
        let req = ListParts {
            bucket: &bucket,
            key: &key,
            upload_id: &id,
            part_number_marker: Some(2),
            max_parts: None,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/base/base.tar?uploadId=2~iCw_lDY8VoNGvDpL5Gu3nkd0E4yHwQd&part-number-marker=2"
        );
    }

    #[test]
    fn parses_rgw_and_s3s_pages() {
        let rgw = parse_list_parts(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_parts-rgw.xml"
        )))
        .unwrap();
        assert!(rgw.is_truncated);
        assert_eq!(rgw.next_part_number_marker, Some(2));
        assert_eq!(rgw.parts.len(), 2);
        assert_eq!(rgw.parts[1].part_number.get(), 2);
        assert_eq!(rgw.parts[0].size, 5_242_880);
        let s3s = parse_list_parts(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_parts-s3s.xml"
        )))
        .unwrap();
        assert!(!s3s.is_truncated);
        assert_eq!(s3s.parts.len(), 1);
    }

    #[test]
    fn refuses_bad_part_numbers() {
        let err = parse_list_parts(
            b"<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>10001</PartNumber><ETag>\"a\"</ETag><Size>1</Size></Part></ListPartsResult>",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ListPartsResult/Part/PartNumber"),
            "{err}"
        );
    }
}
