//! `CompleteMultipartUpload`: assemble the uploaded parts into the object.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html>

use std::fmt::Write as _;

use bytes::Bytes;
use http::{Method, Request};

use super::endpoint::Endpoint;
use super::error::{ParseError, ResponseError, error_in_200_body};
use super::list_page::optional_etag;
use super::names::{BucketName, ETag, ObjectKey, PartNumber, UploadId};
use super::request::{RequestBuilder, RequestError, escape_xml_text};
use super::xml::{Step, XmlReader};

const OPERATION: &str = "CompleteMultipartUpload";

/// A part as `UploadPart` reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// Its number.
    pub part_number: PartNumber,
    /// The `ETag` `UploadPart` returned, sent back unchanged.
    pub etag: ETag,
}

/// `POST /bucket/key?uploadId=ID` with the list of parts as XML.
///
/// The answer is 200 as soon as the gateway starts assembling; a failure after that comes
/// as an `<Error>` document in the 200 body, which [`parse_complete_multipart_upload`]
/// reports as [`ResponseError::Service`].
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html>
#[derive(Debug, Clone, Copy)]
pub struct CompleteMultipartUpload<'a> {
    bucket: &'a BucketName,
    key: &'a ObjectKey,
    upload_id: &'a UploadId,
    parts: &'a [CompletedPart],
}

impl<'a> CompleteMultipartUpload<'a> {
    /// Checks the parts: at least one, in strictly ascending order (S3 answers
    /// `InvalidPartOrder` otherwise, after the parts were uploaded).
    ///
    /// # Errors
    ///
    /// [`RequestError::Parts`] for an empty or unordered list.
    pub fn new(
        bucket: &'a BucketName,
        key: &'a ObjectKey,
        upload_id: &'a UploadId,
        parts: &'a [CompletedPart],
    ) -> Result<Self, RequestError> {
        if parts.is_empty() {
            return Err(RequestError::Parts {
                operation: OPERATION,
                reason: "no parts to complete the upload with".to_owned(),
            });
        }
        for pair in parts.windows(2) {
            if let [a, b] = pair
                && a.part_number >= b.part_number
            {
                return Err(RequestError::Parts {
                    operation: OPERATION,
                    reason: format!(
                        "part numbers must be strictly ascending, {} is followed by {}",
                        a.part_number, b.part_number
                    ),
                });
            }
        }
        Ok(Self {
            bucket,
            key,
            upload_id,
            parts,
        })
    }

    /// The request, without body; `Content-Length`, `Content-MD5` and `Content-Type` match
    /// [`CompleteMultipartUpload::body`]. Sign it with the body's SHA-256.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::POST, ep)
            .object(self.bucket, self.key)
            .query("uploadId", self.upload_id.as_str())
            .xml_body_headers(&self.body())?
            .build()
    }

    /// The `CompleteMultipartUpload` XML.
    #[must_use]
    pub fn body(&self) -> Bytes {
        let mut xml = String::with_capacity(100 + self.parts.len() * 90);
        xml.push_str("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        for part in self.parts {
            // Writing to a String cannot fail.
            let _ = write!(
                xml,
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                part.part_number,
                escape_xml_text(part.etag.as_str())
            );
        }
        xml.push_str("</CompleteMultipartUpload>");
        Bytes::from(xml)
    }
}

/// The assembled object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    /// `Location`: the object's URL as the gateway sees it.
    pub location: Option<String>,
    /// The object's ETag (`"…-N"` on S3). `None` when the gateway leaves it empty: Ceph RGW
    /// 16.2 answers `<ETag></ETag>` (recorded in `fixtures/s3/rgw/`); a `HeadObject` gives it.
    pub etag: Option<ETag>,
}

/// Parses the answer, checking first for an error inside the 200 body.
///
/// # Errors
///
/// [`ResponseError::Service`] for an `<Error>` body; [`ResponseError::Parse`] for anything
/// but a complete `CompleteMultipartUploadResult` with an `ETag`.
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<CompletedUpload, ResponseError> {
    if let Some(err) = error_in_200_body(body) {
        return Err(ResponseError::Service(Box::new(err)));
    }
    Ok(parse_result(body)?)
}

fn parse_result(body: &[u8]) -> Result<CompletedUpload, ParseError> {
    let mut xml = XmlReader::new(body, OPERATION);
    xml.expect_root("CompleteMultipartUploadResult")?;
    let mut location = None;
    let mut etag = None;
    let mut saw_etag = false;
    while let Some(step) = xml.next()? {
        let Step::Close(text) = step else { continue };
        match xml.path() {
            "CompleteMultipartUploadResult/Location" => {
                location = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
            }
            "CompleteMultipartUploadResult/ETag" => {
                saw_etag = true;
                etag = optional_etag(&xml, &text)?;
            }
            _ => {}
        }
    }
    if !saw_etag {
        return Err(xml.missing("ETag"));
    }
    Ok(CompletedUpload { location, etag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;
    use crate::s3::error::S3ErrorCode;
    use crate::s3::request::ContentMd5;

    fn part(n: u64, etag: &str) -> CompletedPart {
        CompletedPart {
            part_number: PartNumber::new(n).unwrap(),
            etag: ETag::new(etag).unwrap(),
        }
    }

    #[test]
    fn builds_the_body_and_matching_headers() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("base/base.tar").unwrap();
        let id = UploadId::new("2~iCw_lDY8VoNGvDpL5Gu3nkd0E4yHwQd").unwrap();
        let parts = [
            part(1, "\"7778aef83f66abc1fa1e8477f296d394\""),
            part(2, "\"8234979234d3ab34234a2b23a2323433\""),
        ];
        let op = CompleteMultipartUpload::new(&bucket, &key, &id, &parts).unwrap();
        let body = op.body();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Part><PartNumber>1</PartNumber><ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;8234979234d3ab34234a2b23a2323433&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
        let req = op.request(&ep).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal/base/base.tar?uploadId=2~iCw_lDY8VoNGvDpL5Gu3nkd0E4yHwQd"
        );
        assert_eq!(
            req.headers()["content-length"],
            body.len().to_string().as_str()
        );
        assert_eq!(req.headers()["content-md5"], ContentMd5::of(&body).as_str());
        assert_eq!(req.headers()["content-type"], "application/xml");
    }

    #[test]
    fn refuses_empty_or_unordered_parts() {
        let bucket = BucketName::new("b").unwrap();
        let key = ObjectKey::new("k").unwrap();
        let id = UploadId::new("u").unwrap();
        assert!(CompleteMultipartUpload::new(&bucket, &key, &id, &[]).is_err());
        let parts = [part(2, "\"a\""), part(1, "\"b\"")];
        let err = CompleteMultipartUpload::new(&bucket, &key, &id, &parts).unwrap_err();
        assert!(err.to_string().contains("2 is followed by 1"), "{err}");
        let parts = [part(1, "\"a\""), part(1, "\"b\"")];
        assert!(CompleteMultipartUpload::new(&bucket, &key, &id, &parts).is_err());
    }

    #[test]
    fn parses_the_result_and_errors_in_200() {
        let ok = parse_complete_multipart_upload(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/complete_multipart_upload-rgw.xml"
        )))
        .unwrap();
        assert_eq!(
            ok.etag.as_ref().and_then(ETag::multipart_part_count),
            Some(3)
        );
        let rgw = parse_complete_multipart_upload(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/rgw/complete_multipart_upload-empty_etag.xml"
        )))
        .unwrap();
        assert_eq!(rgw.etag, None, "Ceph RGW 16 sends an empty ETag");
        assert!(
            parse_complete_multipart_upload(
                b"<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>"
            )
            .is_err()
        );
        assert_eq!(
            ok.location.as_deref(),
            Some("http://rgw:7480/db_wal/base/base.tar")
        );
        let err = parse_complete_multipart_upload(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/complete_multipart_upload-error_in_200.xml"
        )))
        .unwrap_err();
        let ResponseError::Service(err) = err else {
            panic!("expected a service error, got {err:?}")
        };
        assert_eq!((err.status, &err.code), (200, &S3ErrorCode::InternalError));
    }
}
