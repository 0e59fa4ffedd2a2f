//! `DeleteBucket`: remove an empty bucket.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html>

use http::{Method, Request};

use super::endpoint::Endpoint;
use super::names::BucketName;
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "DeleteBucket";

/// `DELETE /bucket`; answered 204, or 409 `BucketNotEmpty`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html>
#[derive(Debug, Clone, Copy)]
pub struct DeleteBucket<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
}

impl DeleteBucket<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::DELETE, ep)
            .bucket(self.bucket)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_the_request() {
        let ep = Endpoint::parse(
            "https://s3.example.com",
            Addressing::VirtualHost,
            "us-east-1",
        )
        .unwrap();
        let bucket = BucketName::new("scratch").unwrap();
        let req = DeleteBucket { bucket: &bucket }.request(&ep).unwrap();
        assert_eq!(req.method(), Method::DELETE);
        assert_eq!(req.uri().to_string(), "https://scratch.s3.example.com/");
    }
}
