//! `ListObjectsV2`: one page of the keys in a bucket.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>

use http::{Method, Request};

use super::endpoint::Endpoint;
use super::error::ParseError;
use super::list_page::{ListDialect, ListEncoding, ListPage, parse_list_bucket_result};
use super::names::BucketName;
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "ListObjectsV2";

/// `GET /bucket?list-type=2&…`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>
#[derive(Debug, Clone, Copy)]
pub struct ListObjectsV2<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// Only keys starting with this.
    pub prefix: Option<&'a str>,
    /// Group keys up to this into common prefixes (`/` for a directory view).
    pub delimiter: Option<&'a str>,
    /// The previous page's `next_continuation_token`.
    pub continuation_token: Option<&'a str>,
    /// Only keys after this one (resuming a listing from a known key).
    pub start_after: Option<&'a str>,
    /// At most this many entries (S3 and RGW default to and cap at 1,000).
    pub max_keys: Option<u32>,
    /// Whether to ask for url-encoded keys.
    pub encoding: ListEncoding,
}

impl ListObjectsV2<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the encoded URI.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        let mut builder = RequestBuilder::new(OPERATION, Method::GET, ep)
            .bucket(self.bucket)
            .query("list-type", "2")
            .query_opt("prefix", self.prefix)
            .query_opt("delimiter", self.delimiter)
            .query_opt("continuation-token", self.continuation_token)
            .query_opt("start-after", self.start_after)
            .query_opt("max-keys", self.max_keys.map(|n| n.to_string()));
        if self.encoding == ListEncoding::Url {
            builder = builder.query("encoding-type", "url");
        }
        builder.build()
    }
}

/// Parses the answer. A gateway that ignored `list-type=2` gives a page whose
/// [`ListPage::dialect`] is `V1`: its entries are valid but start at the beginning of the
/// prefix (such a gateway ignores `start-after` too), and the listing continues with
/// `ListObjects` from [`ListPage::resume_marker`].
///
/// # Errors
///
/// A [`ParseError`] with the element path and offset for anything but a complete, valid
/// `ListBucketResult`, including a truncated page with no way to continue.
pub fn parse_list_objects_v2(body: &[u8]) -> Result<ListPage, ParseError> {
    parse_list_bucket_result(body, OPERATION, ListDialect::V2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;
    use crate::s3::list_page::ListDialect;
    use time::macros::datetime;

    const RGW: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/s3/handwritten/list_objects_v2-rgw_encoded.xml"
    ));
    const S3S: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/s3/handwritten/list_objects_v2-s3s_delimiter.xml"
    ));
    const V1_ANSWER: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/s3/handwritten/list_objects-truncated_no_next_marker.xml"
    ));

    #[test]
    fn builds_path_style_requests_for_db_wal() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::VirtualHost, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let req = ListObjectsV2 {
            bucket: &bucket,
            prefix: Some("base backups/2024+01"),
            delimiter: Some("/"),
            continuation_token: Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
            start_after: None,
            max_keys: Some(1000),
            encoding: ListEncoding::Url,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal?list-type=2&prefix=base%20backups%2F2024%2B01&delimiter=%2F\
             &continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D&max-keys=1000&encoding-type=url"
        );
        assert_eq!(req.headers()["host"], "rgw:7480");
        assert_eq!(req.headers().len(), 1);
    }

    #[test]
    fn builds_virtual_host_requests() {
        let ep = Endpoint::parse(
            "https://s3.example.com",
            Addressing::VirtualHost,
            "eu-west-1",
        )
        .unwrap();
        let bucket = BucketName::new("registry").unwrap();
        let req = ListObjectsV2 {
            bucket: &bucket,
            prefix: None,
            delimiter: None,
            continuation_token: None,
            start_after: Some("docker/registry/v2/blobs/sha256/ff"),
            max_keys: None,
            encoding: ListEncoding::Raw,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "https://registry.s3.example.com/?list-type=2&start-after=docker%2Fregistry%2Fv2%2Fblobs%2Fsha256%2Fff"
        );
        assert_eq!(req.headers()["host"], "registry.s3.example.com");
    }

    #[test]
    fn parses_an_rgw_page_with_encoded_keys() {
        let page = parse_list_objects_v2(RGW).unwrap();
        assert_eq!(page.dialect, ListDialect::V2);
        assert!(page.is_truncated);
        assert!(page.url_decoded);
        assert_eq!(page.key_count, Some(4));
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("wal/000000010000000000000003")
        );
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "wal/000000010000000000000001",
                "wal/a b+c%d.partial",
                "wal/\u{1}ctl",
                "wal/日本"
            ]
        );
        let first = &page.objects[0];
        assert_eq!(first.size, 16_777_216);
        assert_eq!(first.last_modified, datetime!(2024-03-05 10:11:12.345 UTC));
        assert_eq!(
            first.etag.as_ref().unwrap().as_str(),
            "\"b6d81b360a5672d80c27430f39153e2c\""
        );
        assert_eq!(
            page.objects[1]
                .etag
                .as_ref()
                .unwrap()
                .multipart_part_count(),
            Some(2)
        );
    }

    #[test]
    fn parses_an_s3s_page_with_prefixes() {
        let page = parse_list_objects_v2(S3S).unwrap();
        assert_eq!(page.dialect, ListDialect::V2);
        assert!(!page.is_truncated);
        assert_eq!(
            page.common_prefixes,
            ["registry/docker/", "registry/notes/"]
        );
        assert_eq!(page.objects.len(), 1);
        assert_eq!(page.objects[0].key.as_str(), "registry/README");
    }

    #[test]
    fn decodes_aws_plus_for_space() {
        // Measured on AWS: a key `a b.txt` lists as `a+b.txt`, a key `a+b.txt` as `a%2Bb.txt`.
        let page = parse_list_objects_v2(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_objects_v2-aws_plus_spaces.xml"
        )))
        .unwrap();
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a b.txt", "a+b.txt"]);
        assert_eq!(page.common_prefixes, ["run books/"]);
    }

    #[test]
    fn notices_a_v1_answer_to_a_v2_request() {
        let page = parse_list_objects_v2(V1_ANSWER).unwrap();
        assert_eq!(page.dialect, ListDialect::V1);
        assert_eq!(page.next_continuation_token, None);
        assert!(page.resume_marker().is_some());
    }
}
