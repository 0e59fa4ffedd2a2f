//! `AbortMultipartUpload`: drop an upload and its parts.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html>

use http::{Method, Request};

use super::endpoint::Endpoint;
use super::names::{BucketName, ObjectKey, UploadId};
use super::request::{RequestBuilder, RequestError};

const OPERATION: &str = "AbortMultipartUpload";

/// `DELETE /bucket/key?uploadId=ID`; answered 204, or 404 `NoSuchUpload` (build bodiless
/// errors with `ResourceKind::Upload`).
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html>
#[derive(Debug, Clone, Copy)]
pub struct AbortMultipartUpload<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// The key.
    pub key: &'a ObjectKey,
    /// The upload.
    pub upload_id: &'a UploadId,
}

impl AbortMultipartUpload<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::DELETE, ep)
            .object(self.bucket, self.key)
            .query("uploadId", self.upload_id.as_str())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_the_request() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("a b").unwrap();
        let id = UploadId::new("2~x+y/z=").unwrap();
        let req = AbortMultipartUpload {
            bucket: &bucket,
            key: &key,
            upload_id: &id,
        }
        .request(&ep)
        .unwrap();
        assert_eq!(req.method(), Method::DELETE);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/a%20b?uploadId=2~x%2By%2Fz%3D"
        );
    }
}
