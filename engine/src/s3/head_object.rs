//! `HeadObject`: an object's size, `ETag`, times and metadata.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>

use http::header::IF_MATCH;
use http::{HeaderMap, Method, Request};

use super::endpoint::Endpoint;
use super::error::ParseError;
use super::names::{BucketName, ETag, ObjectKey, PartNumber};
use super::object_meta::ObjectMeta;
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "HeadObject";

/// `HEAD /bucket/key`. Its errors have no body: build them with
/// `S3Error::from_response_for(ResourceKind::Object, …)` so a 404 reads `NoSuchKey`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
#[derive(Debug, Clone, Copy)]
pub struct HeadObject<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// `If-Match`: answer 412 unless the `ETag` matches.
    pub if_match: Option<&'a ETag>,
    /// `partNumber`: describe this part of a multipart object (its size, and
    /// `x-amz-mp-parts-count`).
    pub part_number: Option<PartNumber>,
}

impl HeadObject<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::HEAD, ep)
            .object(self.bucket, self.key)
            .query_opt("partNumber", self.part_number.map(|n| n.to_string()))
            .header_opt(IF_MATCH, self.if_match.map(ETag::as_str))?
            .build()
    }
}

/// Reads the answer's headers.
///
/// # Errors
///
/// See [`ObjectMeta::from_headers`].
pub fn parse_head_object(headers: &HeaderMap) -> Result<ObjectMeta, ParseError> {
    ObjectMeta::from_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_conditional_part_requests() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("registry").unwrap();
        let key = ObjectKey::new("docker/registry/v2/blobs/sha256/ab/abcd/data").unwrap();
        let etag = ETag::new("\"d41d8cd98f00b204e9800998ecf8427e-3\"").unwrap();
        let req = HeadObject {
            bucket: &bucket,
            key: &key,
            if_match: Some(&etag),
            part_number: Some(PartNumber::new(2).unwrap()),
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::HEAD);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/registry/docker/registry/v2/blobs/sha256/ab/abcd/data?partNumber=2"
        );
        assert_eq!(req.headers()["if-match"], etag.as_str());
    }
}
