//! `DeleteObject`: remove one key (the fall-back for keys `DeleteObjects` cannot carry).
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html>

use http::{Method, Request};

use super::endpoint::Endpoint;
use super::names::{BucketName, ObjectKey};
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "DeleteObject";

/// `DELETE /bucket/key`; answered 204 whether or not the key existed.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html>
#[derive(Debug, Clone, Copy)]
pub struct DeleteObject<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
}

impl DeleteObject<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::DELETE, ep)
            .object(self.bucket, self.key)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_the_request_with_awkward_keys() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("\u{1}bell/../x?y").unwrap();
        let req = DeleteObject {
            bucket: &bucket,
            key: &key,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::DELETE);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/%01bell/../x%3Fy"
        );
    }
}
