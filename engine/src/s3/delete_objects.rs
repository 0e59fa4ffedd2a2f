//! `DeleteObjects`: delete up to 1,000 keys in one request.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html>

use bytes::Bytes;
use http::{Method, Request};

use super::endpoint::Endpoint;
use super::error::{ParseError, S3ErrorCode};
use super::names::{BucketName, ObjectKey, truncate_for_message};
use super::request::{RequestBuilder, RequestError, escape_xml_text, is_xml_safe};
use super::xml::{Step, XmlReader};

const OPERATION: &str = "DeleteObjects";

/// Most keys in one `DeleteObjects` request (S3 limit; RGW shares it).
pub const MAX_DELETE_KEYS: usize = 1000;

/// Whether the answer lists the deleted keys or only the failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeleteReport {
    /// `<Quiet>true</Quiet>`: only failures are listed (smaller answers).
    Quiet,
    /// Every key is listed as deleted or failed.
    Verbose,
}

/// `POST /bucket?delete` with the keys as XML.
///
/// Keys are XML-escaped, with carriage returns, line feeds and tabs written as character
/// references so that the gateway's parser reads them back unchanged. Keys holding
/// characters XML 1.0 cannot carry at all (other control characters, U+FFFE, U+FFFF) are
/// refused by [`DeleteObjects::new`] with [`RequestError::KeyNotXmlSafe`]: no escaping can
/// put them in the body, and S3 would answer `MalformedXML` for the whole batch. Delete
/// those with `DeleteObject`.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html>
#[derive(Debug, Clone, Copy)]
pub struct DeleteObjects<'a> {
    bucket: &'a BucketName,
    keys: &'a [ObjectKey],
    report: DeleteReport,
}

impl<'a> DeleteObjects<'a> {
    /// Checks the batch.
    ///
    /// # Errors
    ///
    /// [`RequestError::KeyCount`] for no keys or more than [`MAX_DELETE_KEYS`];
    /// [`RequestError::KeyNotXmlSafe`] naming the first key XML cannot carry.
    pub fn new(
        bucket: &'a BucketName,
        keys: &'a [ObjectKey],
        report: DeleteReport,
    ) -> Result<Self, RequestError> {
        if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
            return Err(RequestError::KeyCount {
                operation: OPERATION,
                count: keys.len(),
                limit: MAX_DELETE_KEYS,
            });
        }
        if let Some(key) = keys.iter().find(|k| !is_xml_safe(k.as_str())) {
            return Err(RequestError::KeyNotXmlSafe {
                operation: OPERATION,
                key: truncate_for_message(key.as_str()),
            });
        }
        Ok(Self {
            bucket,
            keys,
            report,
        })
    }

    /// The request, without body; `Content-MD5` (which S3 and RGW require here),
    /// `Content-Length` and `Content-Type` match [`DeleteObjects::body`]. Sign it with the
    /// body's SHA-256.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::POST, ep)
            .bucket(self.bucket)
            .flag("delete")
            .xml_body_headers(&self.body())?
            .build()
    }

    /// The `Delete` XML.
    #[must_use]
    pub fn body(&self) -> Bytes {
        let mut xml = String::with_capacity(100 + self.keys.len() * 64);
        xml.push_str("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        if self.report == DeleteReport::Quiet {
            xml.push_str("<Quiet>true</Quiet>");
        }
        for key in self.keys {
            xml.push_str("<Object><Key>");
            xml.push_str(&escape_xml_text(key.as_str()));
            xml.push_str("</Key></Object>");
        }
        xml.push_str("</Delete>");
        Bytes::from(xml)
    }
}

/// A key the gateway did not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    /// The key.
    pub key: String,
    /// Why.
    pub code: S3ErrorCode,
    /// The gateway's message.
    pub message: Option<String>,
}

/// The answer to `DeleteObjects`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteObjectsOutput {
    /// Keys deleted (empty in [`DeleteReport::Quiet`] mode).
    pub deleted: Vec<String>,
    /// Keys not deleted.
    pub failed: Vec<DeleteFailure>,
}

#[derive(Default)]
struct RawFailure {
    key: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// Parses the answer.
///
/// # Errors
///
/// A [`ParseError`] for anything but a complete `DeleteResult`, or a failure entry without
/// `Key` or `Code`.
pub fn parse_delete_objects(body: &[u8]) -> Result<DeleteObjectsOutput, ParseError> {
    let mut xml = XmlReader::new(body, OPERATION);
    xml.expect_root("DeleteResult")?;
    let mut out = DeleteObjectsOutput::default();
    let mut deleted_key: Option<String> = None;
    let mut failure: Option<RawFailure> = None;
    while let Some(step) = xml.next()? {
        let text = match step {
            Step::Open => {
                match xml.path() {
                    "DeleteResult/Deleted" => {
                        xml.check_count(out.deleted.len() + out.failed.len() + 1)?;
                        deleted_key = None;
                    }
                    "DeleteResult/Error" => {
                        xml.check_count(out.deleted.len() + out.failed.len() + 1)?;
                        failure = Some(RawFailure::default());
                    }
                    _ => {}
                }
                continue;
            }
            Step::Close(text) => text,
        };
        match xml.path() {
            "DeleteResult/Deleted/Key" => deleted_key = Some(text),
            "DeleteResult/Deleted" => {
                let key = deleted_key.take().ok_or_else(|| xml.missing("Key"))?;
                out.deleted.push(key);
            }
            "DeleteResult/Error/Key" => {
                if let Some(f) = failure.as_mut() {
                    f.key = Some(text);
                }
            }
            "DeleteResult/Error/Code" => {
                if let Some(f) = failure.as_mut() {
                    f.code = Some(text.trim().to_owned()).filter(|c| !c.is_empty());
                }
            }
            "DeleteResult/Error/Message" => {
                if let Some(f) = failure.as_mut() {
                    f.message = Some(text.chars().take(1024).collect::<String>())
                        .filter(|m| !m.trim().is_empty());
                }
            }
            "DeleteResult/Error" => {
                let Some(raw) = failure.take() else { continue };
                let key = raw.key.ok_or_else(|| xml.missing("Key"))?;
                let code = raw.code.ok_or_else(|| xml.missing("Code"))?;
                out.failed.push(DeleteFailure {
                    key,
                    code: S3ErrorCode::from_code(&code),
                    message: raw.message,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;
    use crate::s3::request::ContentMd5;

    fn keys(raw: &[&str]) -> Vec<ObjectKey> {
        raw.iter().map(|k| ObjectKey::new(*k).unwrap()).collect()
    }

    #[test]
    fn builds_the_body_with_escaped_keys_and_matching_md5() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let keys = keys(&["a&b", "<x>", "cr\rlf\n", "quote\"'", "日本"]);
        let op = DeleteObjects::new(&bucket, &keys, DeleteReport::Quiet).unwrap();
        let body = op.body();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>\
             <Object><Key>a&amp;b</Key></Object><Object><Key>&lt;x&gt;</Key></Object>\
             <Object><Key>cr&#13;lf&#10;</Key></Object><Object><Key>quote&quot;&apos;</Key></Object>\
             <Object><Key>日本</Key></Object></Delete>"
        );
        let req = op.request(&ep).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().to_string(), "http://rgw:7480/db_wal?delete");
        assert_eq!(req.headers()["content-md5"], ContentMd5::of(&body).as_str());
        assert_eq!(
            req.headers()["content-length"],
            body.len().to_string().as_str()
        );
    }

    #[test]
    fn the_body_reads_back_to_the_same_keys() {
        let bucket = BucketName::new("b").unwrap();
        let raw = ["a&b", "cr\rlf\n\ttab", " spaced ", "]]>", "&amp;"];
        let keys = keys(&raw);
        let body = DeleteObjects::new(&bucket, &keys, DeleteReport::Verbose)
            .unwrap()
            .body();
        let mut xml = XmlReader::new(&body, "test");
        xml.expect_root("Delete").unwrap();
        let mut read = Vec::new();
        while let Some(step) = xml.next().unwrap() {
            if let Step::Close(text) = step
                && xml.path() == "Delete/Object/Key"
            {
                read.push(text);
            }
        }
        assert_eq!(read, raw);
    }

    #[test]
    fn enforces_the_batch_limits() {
        let bucket = BucketName::new("b").unwrap();
        assert!(matches!(
            DeleteObjects::new(&bucket, &[], DeleteReport::Quiet),
            Err(RequestError::KeyCount { count: 0, .. })
        ));
        let many: Vec<ObjectKey> = (0..=MAX_DELETE_KEYS)
            .map(|i| ObjectKey::new(format!("k{i}")).unwrap())
            .collect();
        assert!(DeleteObjects::new(&bucket, &many[..MAX_DELETE_KEYS], DeleteReport::Quiet).is_ok());
        assert!(matches!(
            DeleteObjects::new(&bucket, &many, DeleteReport::Quiet),
            Err(RequestError::KeyCount { count: 1001, .. })
        ));
        let bell = keys(&["ok", "bell\u{7}"]);
        let err = DeleteObjects::new(&bucket, &bell, DeleteReport::Quiet).unwrap_err();
        assert!(matches!(err, RequestError::KeyNotXmlSafe { .. }), "{err}");
    }

    #[test]
    fn parses_deleted_and_failed_entries() {
        let out = parse_delete_objects(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/delete_objects-rgw_mixed.xml"
        )))
        .unwrap();
        assert_eq!(out.deleted, ["wal/000000010000000000000001", "a&b"]);
        assert_eq!(out.failed.len(), 1);
        assert_eq!(out.failed[0].key, "locked/x");
        assert_eq!(out.failed[0].code, S3ErrorCode::AccessDenied);
    }
}
