//! `CopyObject`: server-side copy of a whole object (up to 5 GiB) within a gateway.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use http::{Method, Request};
use time::OffsetDateTime;

use super::encoding::encode_path;
use super::endpoint::Endpoint;
use super::error::{ParseError, ResponseError, error_in_200_body};
use super::list_page::required_etag;
use super::metadata::UserMetadata;
use super::names::{BucketName, ETag, ObjectKey};
use super::request::{RequestBuilder, RequestError};
use super::xml::{Step, XmlReader, value};

const OPERATION: &str = "CopyObject";

/// Largest object `CopyObject` copies in one request: 5 GiB (S3 limit; larger objects are
/// copied part by part with `UploadPartCopy`).
pub const MAX_COPY_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// What the copy's metadata is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataDirective<'a> {
    /// `COPY`: the source's metadata and content type.
    Copy,
    /// `REPLACE`: these instead.
    Replace {
        /// The new `x-amz-meta-*`.
        metadata: &'a UserMetadata,
        /// The new `Content-Type`.
        content_type: Option<&'a str>,
    },
}

/// The `x-amz-copy-source` value: `/bucket/key`, both percent-encoded as in a path (S3
/// and RGW url-decode it).
pub(crate) fn copy_source(bucket: &BucketName, key: &ObjectKey) -> String {
    format!(
        "/{}/{}",
        encode_path(bucket.as_str()),
        encode_path(key.as_str())
    )
}

/// `PUT /bucket/key` with `x-amz-copy-source`. The answer is 200 as soon as the copy
/// starts; a later failure comes as an `<Error>` in the 200 body, which
/// [`parse_copy_object`] reports.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>
#[derive(Debug, Clone, Copy)]
pub struct CopyObject<'a> {
    /// Destination bucket.
    pub bucket: &'a BucketName,
    /// Destination key.
    pub key: &'a ObjectKey,
    /// Source bucket.
    pub source_bucket: &'a BucketName,
    /// Source key.
    pub source_key: &'a ObjectKey,
    /// Keep or replace the metadata.
    pub metadata: MetadataDirective<'a>,
    /// `x-amz-copy-source-if-match`: copy only if the source still has this `ETag`.
    pub source_if_match: Option<&'a ETag>,
}

impl CopyObject<'_> {
    /// The request, without body (`Content-Length: 0`).
    ///
    /// # Errors
    ///
    /// [`RequestError::InvalidHeader`] for a content type that is not ASCII.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        let builder = RequestBuilder::new(OPERATION, Method::PUT, ep)
            .object(self.bucket, self.key)
            .header(CONTENT_LENGTH, "0")?
            .header(
                HeaderName::from_static("x-amz-copy-source"),
                copy_source(self.source_bucket, self.source_key),
            )?
            .header_opt(
                HeaderName::from_static("x-amz-copy-source-if-match"),
                self.source_if_match.map(ETag::as_str),
            )?;
        let directive = HeaderName::from_static("x-amz-metadata-directive");
        match self.metadata {
            MetadataDirective::Copy => builder.header(directive, "COPY")?,
            MetadataDirective::Replace {
                metadata,
                content_type,
            } => builder
                .header(directive, "REPLACE")?
                .header_opt(CONTENT_TYPE, content_type)?
                .metadata(Some(metadata))?,
        }
        .build()
    }
}

/// The answer to a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    /// The new object's (or part's) `ETag`.
    pub etag: ETag,
    /// Its modification time.
    pub last_modified: Option<OffsetDateTime>,
}

/// Parses the answer, checking first for an error inside the 200 body.
///
/// # Errors
///
/// [`ResponseError::Service`] for an `<Error>` body; [`ResponseError::Parse`] for anything
/// but a complete `CopyObjectResult` with an `ETag`.
pub fn parse_copy_object(body: &[u8]) -> Result<CopyResult, ResponseError> {
    parse_copy_result(body, OPERATION, "CopyObjectResult")
}

/// Parses `CopyObjectResult` or `CopyPartResult`.
pub(crate) fn parse_copy_result(
    body: &[u8],
    operation: &'static str,
    root: &'static str,
) -> Result<CopyResult, ResponseError> {
    if let Some(err) = error_in_200_body(body) {
        return Err(ResponseError::Service(Box::new(err)));
    }
    let parse = || -> Result<CopyResult, ParseError> {
        let mut xml = XmlReader::new(body, operation);
        xml.expect_root(root)?;
        let mut etag = None;
        let mut last_modified = None;
        while let Some(step) = xml.next()? {
            let Step::Close(text) = step else { continue };
            let Some(field) = xml.path().strip_prefix(root) else {
                continue;
            };
            match field {
                "/ETag" => etag = Some(required_etag(&xml, &text)?),
                "/LastModified" => last_modified = Some(value::timestamp(&xml, &text)?),
                _ => {}
            }
        }
        Ok(CopyResult {
            etag: etag.ok_or_else(|| xml.missing("ETag"))?,
            last_modified,
        })
    };
    Ok(parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;
    use crate::s3::error::S3ErrorCode;

    #[test]
    fn builds_copy_requests() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let dst = BucketName::new("registry").unwrap();
        let src = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("new/a b+c").unwrap();
        let source_key = ObjectKey::new("old/a b+c?").unwrap();
        let req = CopyObject {
            bucket: &dst,
            key: &key,
            source_bucket: &src,
            source_key: &source_key,
            metadata: MetadataDirective::Copy,
            source_if_match: None,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/registry/new/a%20b%2Bc"
        );
        assert_eq!(
            req.headers()["x-amz-copy-source"],
            "/db_wal/old/a%20b%2Bc%3F"
        );
        assert_eq!(req.headers()["x-amz-metadata-directive"], "COPY");
        assert_eq!(req.headers()["content-length"], "0");

        let mut meta = UserMetadata::new();
        meta.insert("mode", "33188").unwrap();
        let req = CopyObject {
            bucket: &dst,
            key: &key,
            source_bucket: &src,
            source_key: &source_key,
            metadata: MetadataDirective::Replace {
                metadata: &meta,
                content_type: Some("text/plain"),
            },
            source_if_match: None,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.headers()["x-amz-metadata-directive"], "REPLACE");
        assert_eq!(req.headers()["x-amz-meta-mode"], "33188");
        assert_eq!(req.headers()["content-type"], "text/plain");
    }

    #[test]
    fn parses_results_and_errors_in_200() {
        let ok = parse_copy_object(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/copy_object-rgw.xml"
        )))
        .unwrap();
        assert!(ok.etag.is_plain_md5());
        assert!(ok.last_modified.is_some());
        let err = parse_copy_object(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/copy_object-error_in_200.xml"
        )))
        .unwrap_err();
        let ResponseError::Service(err) = err else {
            panic!("expected a service error, got {err:?}")
        };
        assert_eq!(err.code, S3ErrorCode::SlowDown);
        assert!(matches!(
            parse_copy_object(b"<CopyObjectResult><LastModified>2024-01-01T00:00:00Z</LastModified></CopyObjectResult>"),
            Err(ResponseError::Parse(_))
        ));
    }
}
