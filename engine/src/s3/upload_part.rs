//! `UploadPart`: one part of a multipart upload.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html>

use http::header::{CONTENT_LENGTH, HeaderName};
use http::{HeaderMap, Method, Request};

use super::endpoint::Endpoint;
use super::error::ParseError;
use super::names::{BucketName, ETag, ObjectKey, PartNumber, UploadId};
use super::put_object::{MAX_PUT_BYTES, etag_header};
use super::request::{ContentMd5, RequestBuilder, RequestError};

const OPERATION: &str = "UploadPart";

/// Smallest part other than the last: 5 MiB (S3 limit, `EntityTooSmall` below it; RGW's
/// `rgw_multipart_min_part_size` defaults to the same).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// Largest part: 5 GiB (S3 limit).
pub const MAX_PART_BYTES: u64 = MAX_PUT_BYTES;

/// `PUT /bucket/key?partNumber=N&uploadId=ID` with a body of `content_length` bytes (signed
/// as `UNSIGNED-PAYLOAD`; `content_md5` protects it).
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html>
#[derive(Debug, Clone, Copy)]
pub struct UploadPart<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// The upload.
    pub upload_id: &'a UploadId,
    /// The part.
    pub part_number: PartNumber,
    /// The body's exact length.
    pub content_length: u64,
    /// `Content-MD5` of the part.
    pub content_md5: Option<&'a ContentMd5>,
}

impl UploadPart<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::TooLarge`] above [`MAX_PART_BYTES`]. The 5 MiB minimum is not
    /// checked: the last part may be smaller, and only the caller knows which is last.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        if self.content_length > MAX_PART_BYTES {
            return Err(RequestError::TooLarge {
                operation: OPERATION,
                size_bytes: self.content_length,
                limit_bytes: MAX_PART_BYTES,
            });
        }
        RequestBuilder::new(OPERATION, Method::PUT, ep)
            .object(self.bucket, self.key)
            .query("partNumber", self.part_number.to_string())
            .query("uploadId", self.upload_id.as_str())
            .header(CONTENT_LENGTH, self.content_length.to_string())?
            .header_opt(
                HeaderName::from_static("content-md5"),
                self.content_md5.map(ContentMd5::as_str),
            )?
            .build()
    }
}

/// Reads the part's `ETag`, which `CompleteMultipartUpload` needs.
///
/// # Errors
///
/// A [`ParseError`] when the header is missing or malformed.
pub fn parse_upload_part(headers: &HeaderMap) -> Result<ETag, ParseError> {
    etag_header(OPERATION, headers)
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
        let req = UploadPart {
            bucket: &bucket,
            key: &key,
            upload_id: &id,
            part_number: PartNumber::new(7).unwrap(),
            content_length: MIN_PART_BYTES,
            content_md5: None,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/base/base.tar?partNumber=7&uploadId=2~iCw_lDY8VoNGvDpL5Gu3nkd0E4yHwQd"
        );
        assert_eq!(req.headers()["content-length"], "5242880");
    }

    #[test]
    fn reads_the_part_etag() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "etag",
            "\"9b2cf535f27731c974343645a3985328\"".parse().unwrap(),
        );
        assert_eq!(
            parse_upload_part(&headers).unwrap().as_str(),
            "\"9b2cf535f27731c974343645a3985328\""
        );
        let err = parse_upload_part(&HeaderMap::new()).unwrap_err();
        assert!(err.to_string().contains("UploadPart"), "{err}");
    }
}
