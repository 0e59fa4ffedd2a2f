//! `ListBuckets`: the buckets the credentials own.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html>

use http::{Method, Request};
use time::OffsetDateTime;

use super::endpoint::Endpoint;
use super::error::{ParseError, ParseErrorKind};
use super::names::BucketName;
use super::request::{RequestBuilder, RequestError};
use super::xml::{Step, XmlReader, value};

const OPERATION: &str = "ListBuckets";

/// `GET /` on the service endpoint. RGW returns every bucket in one answer; AWS's optional
/// pagination (`max-buckets`) is not used.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html>
#[derive(Debug, Clone, Copy, Default)]
pub struct ListBuckets;

impl ListBuckets {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the URI.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::GET, ep).build()
    }
}

/// A bucket in the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    /// Its name.
    pub name: BucketName,
    /// When it was created (s3s-fs reports the directory's time).
    pub creation_date: Option<OffsetDateTime>,
}

/// The answer to `ListBuckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBucketsOutput {
    /// The buckets, in the order sent.
    pub buckets: Vec<BucketEntry>,
    /// The owner's canonical id (RGW: the user id).
    pub owner_id: Option<String>,
}

/// Parses the answer.
///
/// # Errors
///
/// A [`ParseError`] for anything but a complete `ListAllMyBucketsResult` whose buckets all
/// have valid names.
pub fn parse_list_buckets(body: &[u8]) -> Result<ListBucketsOutput, ParseError> {
    let mut xml = XmlReader::new(body, OPERATION);
    xml.expect_root("ListAllMyBucketsResult")?;
    let mut out = ListBucketsOutput {
        buckets: Vec::new(),
        owner_id: None,
    };
    let mut name: Option<BucketName> = None;
    let mut created = None;
    while let Some(step) = xml.next()? {
        let text = match step {
            Step::Open => {
                if xml.path() == "ListAllMyBucketsResult/Buckets/Bucket" {
                    xml.check_count(out.buckets.len() + 1)?;
                    name = None;
                    created = None;
                }
                continue;
            }
            Step::Close(text) => text,
        };
        match xml.path() {
            "ListAllMyBucketsResult/Buckets/Bucket/Name" => {
                name = Some(
                    BucketName::new(text).map_err(|e| xml.error(ParseErrorKind::InvalidName(e)))?,
                );
            }
            "ListAllMyBucketsResult/Buckets/Bucket/CreationDate" => {
                created = Some(value::timestamp(&xml, &text)?);
            }
            "ListAllMyBucketsResult/Buckets/Bucket" => {
                out.buckets.push(BucketEntry {
                    name: name.take().ok_or_else(|| xml.missing("Name"))?,
                    creation_date: created.take(),
                });
            }
            "ListAllMyBucketsResult/Owner/ID" => {
                out.owner_id = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_a_service_request() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::VirtualHost, "us-east-1").unwrap();
        let req = ListBuckets.request(&ep).unwrap();
        assert_eq!(req.uri().to_string(), "http://rgw:7480/");
        assert_eq!(req.headers()["host"], "rgw:7480");
    }

    #[test]
    fn parses_rgw_and_s3s_answers() {
        let rgw = parse_list_buckets(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_buckets-rgw.xml"
        )))
        .unwrap();
        let names: Vec<&str> = rgw.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["db_wal", "registry", "Logs_2019"]);
        assert_eq!(rgw.owner_id.as_deref(), Some("deis"));
        assert!(rgw.buckets[0].creation_date.is_some());
        let s3s = parse_list_buckets(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_buckets-s3s.xml"
        )))
        .unwrap();
        assert_eq!(s3s.buckets.len(), 2);
        assert_eq!(s3s.owner_id, None);
    }

    #[test]
    fn refuses_a_bucket_without_name() {
        let err = parse_list_buckets(
            b"<ListAllMyBucketsResult><Buckets><Bucket><CreationDate>2024-01-01T00:00:00Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>",
        )
        .unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Missing("Name"));
    }
}
