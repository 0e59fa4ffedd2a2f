//! `GetObject`: an object's bytes, whole or a range.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>

use http::header::{IF_MATCH, RANGE};
use http::{HeaderMap, Method, Request};

use super::endpoint::Endpoint;
use super::error::ParseError;
use super::names::{BucketName, ByteRange, ETag, ObjectKey, PartNumber};
use super::object_meta::ObjectMeta;
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "GetObject";

/// `GET /bucket/key`. The body streams through the client; the headers are read with
/// [`parse_get_object`]. Ranged downloads pass `if_match` with the `ETag` seen first, so a
/// change of the object between ranges fails with 412 instead of mixing two versions.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>
#[derive(Debug, Clone, Copy)]
pub struct GetObject<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// `Range`: only these bytes (answered 206 with `Content-Range`).
    pub range: Option<ByteRange>,
    /// `If-Match`: answer 412 unless the `ETag` matches.
    pub if_match: Option<&'a ETag>,
    /// `partNumber`: only this part of a multipart object.
    pub part_number: Option<PartNumber>,
}

impl GetObject<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Combination`] for both a range and a part number (S3 refuses
    /// that); [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        if self.range.is_some() && self.part_number.is_some() {
            return Err(RequestError::Combination {
                operation: OPERATION,
                reason: "a range and a part number cannot be asked for together",
            });
        }
        RequestBuilder::new(OPERATION, Method::GET, ep)
            .object(self.bucket, self.key)
            .query_opt("partNumber", self.part_number.map(|n| n.to_string()))
            .header_opt(RANGE, self.range.map(|r| r.header_value()))?
            .header_opt(IF_MATCH, self.if_match.map(ETag::as_str))?
            .build()
    }
}

/// Reads the answer's headers (the body is the object's bytes).
///
/// # Errors
///
/// See [`ObjectMeta::from_headers`].
pub fn parse_get_object(headers: &HeaderMap) -> Result<ObjectMeta, ParseError> {
    ObjectMeta::from_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_ranged_requests() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("base/2024 01/base.tar.gz").unwrap();
        let req = GetObject {
            bucket: &bucket,
            key: &key,
            range: Some(ByteRange::new(8_388_608, 16_777_215).unwrap()),
            if_match: None,
            part_number: None,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/base/2024%2001/base.tar.gz"
        );
        assert_eq!(req.headers()["range"], "bytes=8388608-16777215");
        assert_eq!(req.headers()["host"], "rgw:7480");
    }

    #[test]
    fn refuses_range_with_part_number() {
        let ep = Endpoint::parse("http://rgw", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("b").unwrap();
        let key = ObjectKey::new("k").unwrap();
        let err = GetObject {
            bucket: &bucket,
            key: &key,
            range: Some(ByteRange::from_offset(0)),
            if_match: None,
            part_number: Some(PartNumber::MIN),
        }
        .request(&ep)
        .unwrap_err();
        assert!(err.to_string().contains("GetObject"), "{err}");
    }
}
