//! `CreateBucket`: make a bucket (restore needs it).
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html>

use bytes::Bytes;
use http::{Method, Request};

use super::endpoint::Endpoint;
use super::names::BucketName;
use super::request::{RequestBuilder, RequestError, escape_xml_text};

const OPERATION: &str = "CreateBucket";

/// `PUT /bucket`, with a `CreateBucketConfiguration` body only when a location constraint
/// is given.
///
/// The constraint is explicit because gateways disagree on it: AWS refuses one for
/// us-east-1 and requires one elsewhere ([`CreateBucket::location_constraint_for`] gives
/// AWS's rule), while RGW compares it with its zonegroup's `api_name` and refuses a
/// mismatch with `InvalidLocationConstraint` (a default single-zone RGW has an empty or
/// `default` api name), so sending none is what works on most RGW setups.
///
/// RGW answers 200 for a bucket the caller already owns; AWS outside us-east-1 answers
/// 409 `BucketAlreadyOwnedByYou`. Both mean the bucket is there.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html>
#[derive(Debug, Clone, Copy)]
pub struct CreateBucket<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// `LocationConstraint`, when the gateway wants one.
    pub location_constraint: Option<&'a str>,
}

impl CreateBucket<'_> {
    /// AWS's rule: no constraint for `us-east-1`, the region otherwise.
    #[must_use]
    pub fn location_constraint_for(region: &str) -> Option<&str> {
        (region != "us-east-1").then_some(region)
    }

    /// The request, without body; `Content-Length` (and `Content-MD5`, `Content-Type`)
    /// match [`CreateBucket::body`].
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::PUT, ep)
            .bucket(self.bucket)
            .xml_body_headers(&self.body())?
            .build()
    }

    /// The body: empty, or the `CreateBucketConfiguration` with the constraint.
    #[must_use]
    pub fn body(&self) -> Bytes {
        match self.location_constraint {
            None => Bytes::new(),
            Some(region) => Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                escape_xml_text(region)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;
    use crate::s3::request::ContentMd5;

    #[test]
    fn without_constraint_the_body_is_empty() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let op = CreateBucket {
            bucket: &bucket,
            location_constraint: CreateBucket::location_constraint_for("us-east-1"),
        };
        let req = op.request(&ep).unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(req.uri().to_string(), "http://rgw:7480/db_wal");
        assert_eq!(req.headers()["content-length"], "0");
        assert!(req.headers().get("content-md5").is_none());
        assert!(op.body().is_empty());
    }

    #[test]
    fn with_constraint_headers_match_the_body() {
        let ep = Endpoint::parse(
            "https://s3.example.com",
            Addressing::VirtualHost,
            "eu-west-1",
        )
        .unwrap();
        let bucket = BucketName::new("registry").unwrap();
        let op = CreateBucket {
            bucket: &bucket,
            location_constraint: CreateBucket::location_constraint_for("eu-west-1"),
        };
        let req = op.request(&ep).unwrap();
        let body = op.body();
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .contains("<LocationConstraint>eu-west-1</LocationConstraint>")
        );
        assert_eq!(req.uri().to_string(), "https://registry.s3.example.com/");
        assert_eq!(
            req.headers()["content-length"],
            body.len().to_string().as_str()
        );
        assert_eq!(req.headers()["content-md5"], ContentMd5::of(&body).as_str());
    }
}
