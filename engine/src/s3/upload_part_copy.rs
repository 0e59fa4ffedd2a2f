//! `UploadPartCopy`: one part of a multipart upload, copied server-side from a range of
//! another object (how objects above 5 GiB are copied).
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html>

use http::header::{CONTENT_LENGTH, HeaderName};
use http::{Method, Request};

use super::copy_object::{CopyResult, copy_source, parse_copy_result};
use super::endpoint::Endpoint;
use super::error::ResponseError;
use super::names::{BucketName, ByteRange, ETag, ObjectKey, PartNumber, UploadId};
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "UploadPartCopy";

/// `PUT /bucket/key?partNumber=N&uploadId=ID` with `x-amz-copy-source` and, for a part of
/// the source, `x-amz-copy-source-range`. Like `CopyObject`, it can fail inside a 200.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html>
#[derive(Debug, Clone, Copy)]
pub struct UploadPartCopy<'a> {
    /// Destination bucket.
    pub bucket: &'a BucketName,
    /// Destination key.
    pub key: &'a ObjectKey,
    /// The destination's upload.
    pub upload_id: &'a UploadId,
    /// The part.
    pub part_number: PartNumber,
    /// Source bucket.
    pub source_bucket: &'a BucketName,
    /// Source key.
    pub source_key: &'a ObjectKey,
    /// The bytes of the source to copy (bounded: S3 refuses `bytes=a-`); the whole source
    /// when `None`.
    pub source_range: Option<ByteRange>,
    /// `x-amz-copy-source-if-match`: copy only if the source still has this `ETag`.
    pub source_if_match: Option<&'a ETag>,
}

impl UploadPartCopy<'_> {
    /// The request, without body (`Content-Length: 0`).
    ///
    /// # Errors
    ///
    /// [`RequestError::OpenCopyRange`] for a source range without an end.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        if self.source_range.is_some_and(|r| r.end().is_none()) {
            return Err(RequestError::OpenCopyRange {
                operation: OPERATION,
            });
        }
        RequestBuilder::new(OPERATION, Method::PUT, ep)
            .object(self.bucket, self.key)
            .query("partNumber", self.part_number.to_string())
            .query("uploadId", self.upload_id.as_str())
            .header(CONTENT_LENGTH, "0")?
            .header(
                HeaderName::from_static("x-amz-copy-source"),
                copy_source(self.source_bucket, self.source_key),
            )?
            .header_opt(
                HeaderName::from_static("x-amz-copy-source-range"),
                self.source_range.map(|r| r.header_value()),
            )?
            .header_opt(
                HeaderName::from_static("x-amz-copy-source-if-match"),
                self.source_if_match.map(ETag::as_str),
            )?
            .build()
    }
}

/// Parses the answer, checking first for an error inside the 200 body.
///
/// # Errors
///
/// [`ResponseError::Service`] for an `<Error>` body; [`ResponseError::Parse`] for anything
/// but a complete `CopyPartResult` with an `ETag`.
pub fn parse_upload_part_copy(body: &[u8]) -> Result<CopyResult, ResponseError> {
    parse_copy_result(body, OPERATION, "CopyPartResult")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_ranged_part_copies() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("registry").unwrap();
        let key = ObjectKey::new("big").unwrap();
        let id = UploadId::new("2~abc").unwrap();
        let op = UploadPartCopy {
            bucket: &bucket,
            key: &key,
            upload_id: &id,
            part_number: PartNumber::new(3).unwrap(),
            source_bucket: &bucket,
            source_key: &key,
            source_range: Some(ByteRange::new(10_485_760, 15_728_639).unwrap()),
            source_if_match: None,
        };
        let req = op.request(&ep).unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/registry/big?partNumber=3&uploadId=2~abc"
        );
        assert_eq!(req.headers()["x-amz-copy-source"], "/registry/big");
        assert_eq!(
            req.headers()["x-amz-copy-source-range"],
            "bytes=10485760-15728639"
        );
        let open = UploadPartCopy {
            source_range: Some(ByteRange::from_offset(5)),
            ..op
        };
        assert!(matches!(
            open.request(&ep),
            Err(RequestError::OpenCopyRange { .. })
        ));
    }

    #[test]
    fn parses_the_result() {
        let ok = parse_upload_part_copy(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/upload_part_copy-rgw.xml"
        )))
        .unwrap();
        assert!(ok.etag.is_plain_md5());
        assert!(matches!(
            parse_upload_part_copy(b"<CopyObjectResult><ETag>\"x\"</ETag></CopyObjectResult>"),
            Err(ResponseError::Parse(_))
        ));
    }
}
