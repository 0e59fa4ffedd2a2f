//! `PutObject`: upload an object in one request (below the multipart threshold).
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderName};
use http::{HeaderMap, Method, Request};

use super::endpoint::Endpoint;
use super::error::{ParseError, ParseErrorKind};
use super::metadata::UserMetadata;
use super::names::{BucketName, ETag, ObjectKey};
use super::request::{ContentMd5, RequestBuilder, RequestError};

const OPERATION: &str = "PutObject";

/// Largest body of one `PutObject` or `UploadPart`: 5 GiB (S3 limit; RGW's
/// `rgw_max_put_size` defaults to the same).
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// `PUT /bucket/key` with a body of `content_length` bytes, which the client attaches
/// (signed as `UNSIGNED-PAYLOAD`, see `sign`).
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>
#[derive(Debug, Clone, Copy)]
pub struct PutObject<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// The body's exact length (RGW refuses a `PUT` without length or chunking).
    pub content_length: u64,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Content-MD5`, so the gateway refuses a body damaged on the way (`BadDigest`).
    pub content_md5: Option<&'a ContentMd5>,
    /// `x-amz-meta-*`.
    pub metadata: Option<&'a UserMetadata>,
}

impl PutObject<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::TooLarge`] above [`MAX_PUT_BYTES`];
    /// [`RequestError::InvalidHeader`] for a content type that is not ASCII.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        if self.content_length > MAX_PUT_BYTES {
            return Err(RequestError::TooLarge {
                operation: OPERATION,
                size_bytes: self.content_length,
                limit_bytes: MAX_PUT_BYTES,
            });
        }
        RequestBuilder::new(OPERATION, Method::PUT, ep)
            .object(self.bucket, self.key)
            .header(CONTENT_LENGTH, self.content_length.to_string())?
            .header_opt(CONTENT_TYPE, self.content_type)?
            .header_opt(
                HeaderName::from_static("content-md5"),
                self.content_md5.map(ContentMd5::as_str),
            )?
            .metadata(self.metadata)?
            .build()
    }
}

/// Reads the `ETag` of the stored object from the answer's headers.
///
/// # Errors
///
/// A [`ParseError`] when the header is missing or malformed.
pub fn parse_put_object(headers: &HeaderMap) -> Result<ETag, ParseError> {
    etag_header(OPERATION, headers)
}

/// The `ETag` header, required.
pub(crate) fn etag_header(
    operation: &'static str,
    headers: &HeaderMap,
) -> Result<ETag, ParseError> {
    let value = headers
        .get(ETAG)
        .ok_or_else(|| ParseError::header(operation, "etag", ParseErrorKind::Missing("etag")))?;
    let text = value.to_str().map_err(|_| {
        ParseError::header(
            operation,
            "etag",
            ParseErrorKind::InvalidValue {
                expected: "visible ASCII",
                found: String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(100)
                    .collect(),
            },
        )
    })?;
    ETag::new(text)
        .map_err(|e| ParseError::header(operation, "etag", ParseErrorKind::InvalidName(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_requests_with_metadata_and_md5() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("wal/000000010000000000000001").unwrap();
        let mut meta = UserMetadata::new();
        meta.insert("Mtime", "1709633472").unwrap();
        meta.insert(
            "blake3",
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        )
        .unwrap();
        let md5 = ContentMd5::of(b"hello");
        let req = PutObject {
            bucket: &bucket,
            key: &key,
            content_length: 5,
            content_type: Some("application/octet-stream"),
            content_md5: Some(&md5),
            metadata: Some(&meta),
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/wal/000000010000000000000001"
        );
        let h = |n: &str| req.headers()[n].to_str().unwrap().to_owned();
        assert_eq!(h("content-length"), "5");
        assert_eq!(h("content-type"), "application/octet-stream");
        assert_eq!(h("content-md5"), "XUFAKrxLKna5cZ2REBfFkg==");
        assert_eq!(h("x-amz-meta-mtime"), "1709633472");
        assert!(req.headers().contains_key("x-amz-meta-blake3"));
    }

    #[test]
    fn refuses_bodies_above_5_gib_and_bad_content_types() {
        let ep = Endpoint::parse("http://rgw", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("b").unwrap();
        let key = ObjectKey::new("k").unwrap();
        let put = |len, content_type| {
            PutObject {
                bucket: &bucket,
                key: &key,
                content_length: len,
                content_type,
                content_md5: None,
                metadata: None,
            }
            .request(&ep)
        };
        assert!(matches!(
            put(MAX_PUT_BYTES + 1, None),
            Err(RequestError::TooLarge { .. })
        ));
        assert!(put(MAX_PUT_BYTES, None).is_ok());
        assert!(matches!(
            put(1, Some("text/plain; charset=\u{e9}")),
            Err(RequestError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn reads_the_etag() {
        let mut headers = HeaderMap::new();
        assert!(parse_put_object(&headers).is_err());
        headers.insert(
            "etag",
            "\"5d41402abc4b2a76b9719d911017c592\"".parse().unwrap(),
        );
        assert!(parse_put_object(&headers).unwrap().is_plain_md5());
    }
}
