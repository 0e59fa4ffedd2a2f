//! `CreateMultipartUpload`: start a multipart upload and get its id.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html>

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request};

use super::endpoint::Endpoint;
use super::error::{ParseError, ParseErrorKind};
use super::metadata::UserMetadata;
use super::names::{BucketName, ObjectKey, UploadId};
use super::request::{RequestBuilder, RequestError};
use super::xml::{Step, XmlReader};

const OPERATION: &str = "CreateMultipartUpload";

/// `POST /bucket/key?uploads`. Content type and metadata are given here, not on the parts.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html>
#[derive(Debug, Clone, Copy)]
pub struct CreateMultipartUpload<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// `Content-Type` of the finished object.
    pub content_type: Option<&'a str>,
    /// `x-amz-meta-*` of the finished object.
    pub metadata: Option<&'a UserMetadata>,
}

impl CreateMultipartUpload<'_> {
    /// The request, without body (`Content-Length: 0`).
    ///
    /// # Errors
    ///
    /// [`RequestError::InvalidHeader`] for a content type that is not ASCII.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::POST, ep)
            .object(self.bucket, self.key)
            .flag("uploads")
            .header(CONTENT_LENGTH, "0")?
            .header_opt(CONTENT_TYPE, self.content_type)?
            .metadata(self.metadata)?
            .build()
    }
}

/// Parses the answer into the upload id.
///
/// # Errors
///
/// A [`ParseError`] for anything but a complete `InitiateMultipartUploadResult` with a
/// valid `UploadId`.
pub fn parse_create_multipart_upload(body: &[u8]) -> Result<UploadId, ParseError> {
    let mut xml = XmlReader::new(body, OPERATION);
    xml.expect_root("InitiateMultipartUploadResult")?;
    let mut upload_id = None;
    while let Some(step) = xml.next()? {
        if let Step::Close(text) = step
            && xml.path() == "InitiateMultipartUploadResult/UploadId"
        {
            upload_id =
                Some(UploadId::new(text).map_err(|e| xml.error(ParseErrorKind::InvalidName(e)))?);
        }
    }
    upload_id.ok_or_else(|| xml.missing("UploadId"))
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
        let req = CreateMultipartUpload {
            bucket: &bucket,
            key: &key,
            content_type: Some("application/x-tar"),
            metadata: None,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/base/base.tar?uploads"
        );
        assert_eq!(req.headers()["content-length"], "0");
        assert_eq!(req.headers()["content-type"], "application/x-tar");
    }

    #[test]
    fn parses_rgw_and_s3s_answers() {
        for (body, id) in [
            (
                &include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/s3/handwritten/create_multipart_upload-rgw.xml"
                ))[..],
                "2~iCw_lDY8VoNGvDpL5Gu3nkd0E4yHwQd",
            ),
            (
                &include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/s3/handwritten/create_multipart_upload-s3s.xml"
                ))[..],
                "c1b3a0e4-8f0e-4a4e-9d7e-2f3c1b7a9e11",
            ),
        ] {
            assert_eq!(parse_create_multipart_upload(body).unwrap().as_str(), id);
        }
    }

    #[test]
    fn refuses_a_missing_or_empty_id() {
        let err = parse_create_multipart_upload(
            b"<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>",
        )
        .unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Missing("UploadId"));
        assert!(parse_create_multipart_upload(
            b"<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>"
        )
        .is_err());
    }
}
