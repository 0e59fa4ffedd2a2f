//! `HeadBucket`: does the bucket exist, may we use it, and where is it.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>

use http::{HeaderMap, Method, Request};

use super::endpoint::Endpoint;
use super::names::BucketName;
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "HeadBucket";

/// `HEAD /bucket`. Its errors have no body: build them with
/// `S3Error::from_response_for(ResourceKind::Bucket, …)` so a 404 reads `NoSuchBucket`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>
#[derive(Debug, Clone, Copy)]
pub struct HeadBucket<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
}

impl HeadBucket<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::HEAD, ep)
            .bucket(self.bucket)
            .build()
    }
}

/// What a successful `HeadBucket` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// `x-amz-bucket-region` (AWS always, RGW not at all).
    pub region: Option<String>,
}

/// Reads the answer's headers; never fails.
#[must_use]
pub fn parse_head_bucket(headers: &HeaderMap) -> BucketInfo {
    BucketInfo {
        region: headers
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_and_parses() {
        let ep = Endpoint::parse("http://rgw", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let req = HeadBucket { bucket: &bucket }.request(&ep).unwrap();
        assert_eq!(req.method(), Method::HEAD);
        assert_eq!(req.uri().to_string(), "http://rgw/db_wal");
        assert_eq!(req.headers()["host"], "rgw");
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-bucket-region", "eu-west-1".parse().unwrap());
        assert_eq!(
            parse_head_bucket(&headers).region.as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(parse_head_bucket(&HeaderMap::new()).region, None);
    }
}
