//! `ListObjects` (V1), the fall-back for gateways without `ListObjectsV2`.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html>

use http::{Method, Request};

use super::endpoint::Endpoint;
use super::error::ParseError;
use super::list_page::{ListDialect, ListEncoding, ListPage, parse_list_bucket_result};
use super::names::BucketName;
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "ListObjects";

/// `GET /bucket?marker=…`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html>
#[derive(Debug, Clone, Copy)]
pub struct ListObjects<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// Only keys starting with this.
    pub prefix: Option<&'a str>,
    /// Group keys up to this into common prefixes.
    pub delimiter: Option<&'a str>,
    /// Only keys after this one: the previous page's [`ListPage::resume_marker`].
    pub marker: Option<&'a str>,
    /// At most this many entries.
    pub max_keys: Option<u32>,
    /// Whether to ask for url-encoded keys.
    pub encoding: ListEncoding,
}

impl ListObjects<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the encoded URI.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        let mut builder = RequestBuilder::new(OPERATION, Method::GET, ep)
            .bucket(self.bucket)
            .query_opt("prefix", self.prefix)
            .query_opt("delimiter", self.delimiter)
            .query_opt("marker", self.marker)
            .query_opt("max-keys", self.max_keys.map(|n| n.to_string()));
        if self.encoding == ListEncoding::Url {
            builder = builder.query("encoding-type", "url");
        }
        builder.build()
    }
}

/// Parses the answer; the page's dialect is always [`ListDialect::V1`].
///
/// # Errors
///
/// A [`ParseError`] for anything but a complete, valid `ListBucketResult`, including a
/// truncated page with neither `NextMarker` nor entries to continue from.
pub fn parse_list_objects(body: &[u8]) -> Result<ListPage, ParseError> {
    parse_list_bucket_result(body, OPERATION, ListDialect::V1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    const RGW: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/s3/handwritten/list_objects-truncated_no_next_marker.xml"
    ));

    #[test]
    fn builds_requests() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("registry").unwrap();
        let req = ListObjects {
            bucket: &bucket,
            prefix: Some("docker/"),
            delimiter: None,
            marker: Some("docker/a b"),
            max_keys: None,
            encoding: ListEncoding::Url,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/registry?prefix=docker%2F&marker=docker%2Fa%20b&encoding-type=url"
        );
    }

    #[test]
    fn decodes_rgw_next_marker_and_prefixes() {
        let page = parse_list_objects(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_objects-rgw_next_marker.xml"
        )))
        .unwrap();
        assert_eq!(page.common_prefixes, ["docker/registry/"]);
        assert_eq!(page.objects[0].key.as_str(), "docker/a b");
        assert_eq!(page.next_marker.as_deref(), Some("docker/a b"));
        assert_eq!(page.resume_marker(), Some("docker/a b"));
    }

    #[test]
    fn refuses_a_truncated_answer_with_only_a_v2_token() {
        // Found by the list_objects fuzz target: a V2 page answering a V1 request, with a
        // continuation token but no NextMarker and no entries, read as the last page (the
        // V1 listing has no marker to go on from), which ended the listing early.
        let body = b"<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>true</IsTruncated>\
            <NextContinuationToken>t</NextContinuationToken></ListBucketResult>";
        assert!(crate::s3::parse_list_objects_v2(body).is_ok());
        let err = parse_list_objects(body).unwrap_err();
        assert_eq!(
            err.kind,
            crate::s3::ParseErrorKind::Missing("NextMarker"),
            "{err}"
        );
    }

    #[test]
    fn continues_from_the_last_key_without_next_marker() {
        let page = parse_list_objects(RGW).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_marker, None);
        assert_eq!(page.objects.len(), 2);
        assert_eq!(
            page.resume_marker(),
            Some("docker/registry/v2/blobs/sha256/01/01ab")
        );
    }
}
