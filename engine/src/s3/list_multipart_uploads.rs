//! `ListMultipartUploads`: uploads started and neither completed nor aborted (to clean up
//! after an interrupted run).
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html>

use http::{Method, Request};
use time::OffsetDateTime;

use super::endpoint::Endpoint;
use super::error::{ParseError, ParseErrorKind};
use super::names::{BucketName, ObjectKey, StorageClass, UploadId};
use super::request::{RequestBuilder, RequestError};
use super::xml::{Step, XmlReader, value};

const OPERATION: &str = "ListMultipartUploads";

/// `GET /bucket?uploads&…`, paginated by `key-marker` and `upload-id-marker`.
///
/// Keys come back unencoded (no `encoding-type`): keys with characters XML 1.0 cannot
/// carry are not expected among uploads haul started.
///
/// AWS reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html>
#[derive(Debug, Clone, Copy)]
pub struct ListMultipartUploads<'a> {
    /// The bucket.
    pub bucket: &'a BucketName,
    /// Only keys starting with this.
    pub prefix: Option<&'a str>,
    /// The previous page's `next_key_marker`.
    pub key_marker: Option<&'a str>,
    /// The previous page's `next_upload_id_marker`.
    pub upload_id_marker: Option<&'a str>,
    /// At most this many uploads (S3 default and cap: 1,000).
    pub max_uploads: Option<u32>,
}

impl ListMultipartUploads<'_> {
    /// The request, without body.
    ///
    /// # Errors
    ///
    /// [`RequestError::Build`] only if the `http` crate refuses the request.
    pub fn request(&self, ep: &Endpoint) -> Result<Request<()>, RequestError> {
        RequestBuilder::new(OPERATION, Method::GET, ep)
            .bucket(self.bucket)
            .flag("uploads")
            .query_opt("prefix", self.prefix)
            .query_opt("key-marker", self.key_marker)
            .query_opt("upload-id-marker", self.upload_id_marker)
            .query_opt("max-uploads", self.max_uploads.map(|n| n.to_string()))
            .build()
    }
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUploadEntry {
    /// The key being uploaded.
    pub key: ObjectKey,
    /// The upload's id.
    pub upload_id: UploadId,
    /// When it was started.
    pub initiated: Option<OffsetDateTime>,
    /// Its storage class.
    pub storage_class: Option<StorageClass>,
}

/// One page of uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUploadsPage {
    /// The uploads, by key then initiation time.
    pub uploads: Vec<MultipartUploadEntry>,
    /// More uploads follow.
    pub is_truncated: bool,
    /// `key-marker` for the next page.
    pub next_key_marker: Option<String>,
    /// `upload-id-marker` for the next page.
    pub next_upload_id_marker: Option<String>,
}

#[derive(Default)]
struct RawUpload {
    key: Option<ObjectKey>,
    upload_id: Option<UploadId>,
    initiated: Option<OffsetDateTime>,
    storage_class: Option<StorageClass>,
}

/// Parses the answer.
///
/// # Errors
///
/// A [`ParseError`] for anything but a complete `ListMultipartUploadsResult`, including a
/// truncated page without `NextKeyMarker`.
pub fn parse_list_multipart_uploads(body: &[u8]) -> Result<MultipartUploadsPage, ParseError> {
    let mut xml = XmlReader::new(body, OPERATION);
    xml.expect_root("ListMultipartUploadsResult")?;
    let mut page = MultipartUploadsPage {
        uploads: Vec::new(),
        is_truncated: false,
        next_key_marker: None,
        next_upload_id_marker: None,
    };
    let mut is_truncated = None;
    let mut upload: Option<RawUpload> = None;
    while let Some(step) = xml.next()? {
        let text = match step {
            Step::Open => {
                if xml.path() == "ListMultipartUploadsResult/Upload" {
                    xml.check_count(page.uploads.len() + 1)?;
                    upload = Some(RawUpload::default());
                }
                continue;
            }
            Step::Close(text) => text,
        };
        let name_error = |e| xml.error(ParseErrorKind::InvalidName(e));
        match xml.path() {
            "ListMultipartUploadsResult/Upload/Key" => {
                let key = ObjectKey::new(text).map_err(name_error)?;
                if let Some(u) = upload.as_mut() {
                    u.key = Some(key);
                }
            }
            "ListMultipartUploadsResult/Upload/UploadId" => {
                let id = UploadId::new(text).map_err(name_error)?;
                if let Some(u) = upload.as_mut() {
                    u.upload_id = Some(id);
                }
            }
            "ListMultipartUploadsResult/Upload/Initiated" => {
                let time = value::timestamp(&xml, &text)?;
                if let Some(u) = upload.as_mut() {
                    u.initiated = Some(time);
                }
            }
            "ListMultipartUploadsResult/Upload/StorageClass" => {
                if let Some(u) = upload.as_mut() {
                    u.storage_class = Some(StorageClass::parse(&text));
                }
            }
            "ListMultipartUploadsResult/Upload" => {
                let Some(raw) = upload.take() else { continue };
                page.uploads.push(MultipartUploadEntry {
                    key: raw.key.ok_or_else(|| xml.missing("Key"))?,
                    upload_id: raw.upload_id.ok_or_else(|| xml.missing("UploadId"))?,
                    initiated: raw.initiated,
                    storage_class: raw.storage_class,
                });
            }
            "ListMultipartUploadsResult/IsTruncated" => {
                is_truncated = Some(value::bool(&xml, &text)?);
            }
            "ListMultipartUploadsResult/NextKeyMarker" => {
                page.next_key_marker = Some(text).filter(|t| !t.is_empty());
            }
            "ListMultipartUploadsResult/NextUploadIdMarker" => {
                page.next_upload_id_marker = Some(text).filter(|t| !t.is_empty());
            }
            "ListMultipartUploadsResult" => {
                page.is_truncated = is_truncated.ok_or_else(|| xml.missing("IsTruncated"))?;
                if page.is_truncated && page.next_key_marker.is_none() {
                    return Err(xml.missing("NextKeyMarker"));
                }
            }
            _ => {}
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::endpoint::Addressing;

    #[test]
    fn builds_the_request() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let req = ListMultipartUploads {
            bucket: &bucket,
            prefix: None,
            key_marker: Some("base/a b"),
            upload_id_marker: Some("2~abc"),
            max_uploads: Some(500),
        }
        .request(&ep)
        .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://rgw:7480/db_wal?uploads&key-marker=base%2Fa%20b&upload-id-marker=2~abc&max-uploads=500"
        );
    }

    #[test]
    fn parses_an_rgw_page() {
        let page = parse_list_multipart_uploads(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/handwritten/list_multipart_uploads-rgw.xml"
        )))
        .unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key.as_str(), "base/base.tar");
        assert_eq!(
            page.uploads[1].upload_id.as_str(),
            "2~0vTT3ZkqR1yq8yT2DVkD8Y0Ft2bY9iV"
        );
        assert_eq!(page.next_key_marker.as_deref(), Some("wal/big file"));
        assert_eq!(
            page.next_upload_id_marker.as_deref(),
            Some("2~0vTT3ZkqR1yq8yT2DVkD8Y0Ft2bY9iV")
        );
    }

    #[test]
    fn refuses_truncation_without_marker() {
        let err = parse_list_multipart_uploads(
            b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>",
        )
        .unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Missing("NextKeyMarker"));
    }
}
