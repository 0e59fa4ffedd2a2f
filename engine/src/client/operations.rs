//! One async method per S3 operation, each a thin wrapper over [`Client::execute`] with the
//! pure request builder and parser from `s3`.

use bytes::Bytes;
use http::StatusCode;

use super::{Call, Client, ClientResponse, Payload, expected_read_bytes};
use crate::error::{Error, Target};
use crate::s3::{
    self, AbortMultipartUpload, BucketName, ByteRange, CompleteMultipartUpload, CompletedPart,
    CreateBucket, CreateMultipartUpload, DeleteBucket, DeleteObject, DeleteObjects, DeleteReport,
    ETag, HeadBucket, HeadObject, ListBuckets, ListEncoding, ListObjects, ListObjectsV2, ListPage,
    ObjectKey, ObjectMeta, PartNumber, PayloadHash, PutObject, ResourceKind, UploadId, UploadPart,
    UserMetadata,
};

/// A bucket in `ListBuckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Its name.
    pub name: BucketName,
    /// When it was created, if the gateway says.
    pub created: Option<time::OffsetDateTime>,
}

/// What an upload stores besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `x-amz-meta-*`.
    pub metadata: UserMetadata,
}

/// A `GetObject` whose body is being received.
#[derive(Debug)]
pub struct GetObject {
    /// The object's metadata from the response headers.
    pub meta: ObjectMeta,
    /// The streaming response.
    pub response: ClientResponse,
}

/// Where the next page of a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListCursor {
    /// The first page.
    Start,
    /// A V2 continuation token.
    Token(String),
    /// A V1 marker (after a fallback to ListObjects).
    Marker(String),
}

fn bucket_target(bucket: &BucketName) -> Target {
    Target::bucket(bucket.as_str())
}

fn object_target(bucket: &BucketName, key: &ObjectKey) -> Target {
    Target::object(bucket.as_str(), key.as_str())
}

fn call(operation: &'static str, target: Target, resource: ResourceKind) -> Call {
    Call {
        operation,
        target,
        resource,
        idempotent: true,
        expected_bytes: 0,
    }
}

fn parse_err(call: &Call) -> impl Fn(s3::ParseError) -> Error + '_ {
    move |source| Error::Parse {
        operation: call.operation,
        target: call.target.clone(),
        source: Box::new(source),
    }
}

/// Maps the answer of an operation that can fail inside a 200 body.
fn response_err(call: &Call) -> impl Fn(s3::ResponseError) -> Error + '_ {
    move |e| match e {
        s3::ResponseError::Parse(source) => Error::Parse {
            operation: call.operation,
            target: call.target.clone(),
            source: Box::new(source),
        },
        s3::ResponseError::Service(source) => Error::S3 {
            operation: call.operation,
            target: call.target.clone(),
            source,
        },
    }
}

impl Client {
    /// `ListBuckets`.
    ///
    /// # Errors
    /// S3, transport and parse errors.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>, Error> {
        let c = call("ListBuckets", Target::default(), ResourceKind::Unspecified);
        let (_, body) = self
            .execute_read(&c, |ep| ListBuckets.request(ep), Payload::Empty)
            .await?;
        let out = s3::parse_list_buckets(&body).map_err(parse_err(&c))?;
        Ok(out
            .buckets
            .into_iter()
            .map(|b| BucketInfo {
                name: b.name,
                created: b.creation_date,
            })
            .collect())
    }

    /// `CreateBucket`, with a location constraint only when the region needs one.
    ///
    /// # Errors
    /// S3 errors (`BucketAlreadyExists`, `BucketAlreadyOwnedByYou`, `InvalidBucketName`), transport.
    pub async fn create_bucket(&self, bucket: &BucketName) -> Result<(), Error> {
        let c = call("CreateBucket", bucket_target(bucket), ResourceKind::Bucket);
        let region = self.endpoint().region().to_owned();
        let op = CreateBucket {
            bucket,
            location_constraint: CreateBucket::location_constraint_for(&region),
        };
        let body = op.body();
        let hash = PayloadHash::for_body(&body);
        self.execute(&c, |ep| op.request(ep), Payload::Bytes(body, hash))
            .await?;
        Ok(())
    }

    /// `HeadBucket`: whether the bucket exists and is reachable with these credentials.
    ///
    /// # Errors
    /// `NoSuchBucket` (exit code "not found"), `AccessDenied`, transport.
    pub async fn head_bucket(&self, bucket: &BucketName) -> Result<(), Error> {
        let c = call("HeadBucket", bucket_target(bucket), ResourceKind::Bucket);
        self.execute(&c, |ep| HeadBucket { bucket }.request(ep), Payload::Empty)
            .await?;
        Ok(())
    }

    /// `DeleteBucket`.
    ///
    /// # Errors
    /// `BucketNotEmpty`, `NoSuchBucket`, transport.
    pub async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), Error> {
        let c = call("DeleteBucket", bucket_target(bucket), ResourceKind::Bucket);
        self.execute(&c, |ep| DeleteBucket { bucket }.request(ep), Payload::Empty)
            .await?;
        Ok(())
    }

    /// One page of a listing: ListObjectsV2, or ListObjects (V1) on a gateway that showed it
    /// does not support V2 (it answered V2 with a V1 page, or with 400/501 `NotImplemented`).
    /// Returns the page and the cursor of the next one (`None` after the last page).
    ///
    /// # Errors
    /// S3, transport and parse errors; a gateway that repeats a continuation token is refused
    /// by the caller, which owns the loop.
    pub async fn list_objects_page(
        &self,
        bucket: &BucketName,
        prefix: Option<&str>,
        delimiter: Option<&str>,
        cursor: &ListCursor,
    ) -> Result<(ListPage, Option<ListCursor>), Error> {
        use std::sync::atomic::Ordering;
        // A V2 token continues with V2 even when another listing of this client has fallen
        // back to V1 meanwhile (V1 has no use for it and would start over).
        let use_v1 = match cursor {
            ListCursor::Marker(_) => true,
            ListCursor::Token(_) => false,
            ListCursor::Start => self.inner.list_v1.load(Ordering::Relaxed),
        };
        if !use_v1 {
            let token = match cursor {
                ListCursor::Token(t) => Some(t.as_str()),
                _ => None,
            };
            let c = call("ListObjectsV2", bucket_target(bucket), ResourceKind::Bucket);
            let op = ListObjectsV2 {
                bucket,
                prefix,
                delimiter,
                continuation_token: token,
                start_after: None,
                max_keys: None,
                encoding: ListEncoding::Url,
            };
            match self
                .execute_read(&c, |ep| op.request(ep), Payload::Empty)
                .await
            {
                Ok((_, body)) => {
                    let page = s3::parse_list_objects_v2(&body).map_err(parse_err(&c))?;
                    if page.dialect == s3::ListDialect::V1 {
                        tracing::warn!(
                            "the gateway answered ListObjectsV2 with a V1 listing; using ListObjects"
                        );
                        self.inner.list_v1.store(true, Ordering::Relaxed);
                        let next = page
                            .resume_marker()
                            .map(|m| ListCursor::Marker(m.to_owned()));
                        return Ok((page, next));
                    }
                    let next = if page.is_truncated {
                        page.next_continuation_token.clone().map(ListCursor::Token)
                    } else {
                        None
                    };
                    return Ok((page, next));
                }
                Err(Error::S3 { source, .. })
                    if token.is_none()
                        && (source.code == s3::S3ErrorCode::NotImplemented
                            || (source.status == 400
                                && source.code == s3::S3ErrorCode::InvalidArgument)) =>
                {
                    tracing::warn!(
                        "the gateway refuses ListObjectsV2 ({source}); using ListObjects"
                    );
                    self.inner.list_v1.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let marker = match cursor {
            ListCursor::Marker(m) => Some(m.as_str()),
            _ => None,
        };
        let c = call("ListObjects", bucket_target(bucket), ResourceKind::Bucket);
        let op = ListObjects {
            bucket,
            prefix,
            delimiter,
            marker,
            max_keys: None,
            encoding: ListEncoding::Url,
        };
        let (_, body) = self
            .execute_read(&c, |ep| op.request(ep), Payload::Empty)
            .await?;
        let page = s3::parse_list_objects(&body).map_err(parse_err(&c))?;
        let next = page
            .resume_marker()
            .map(|m| ListCursor::Marker(m.to_owned()));
        Ok((page, next))
    }

    /// `HeadObject`.
    ///
    /// # Errors
    /// `NoSuchKey` (exit code "not found"), transport and parse errors.
    pub async fn head_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<ObjectMeta, Error> {
        let c = call(
            "HeadObject",
            object_target(bucket, key),
            ResourceKind::Object,
        );
        let op = HeadObject {
            bucket,
            key,
            if_match: None,
            part_number: None,
        };
        let resp = self
            .execute(&c, |ep| op.request(ep), Payload::Empty)
            .await?;
        s3::parse_head_object(&resp.headers).map_err(parse_err(&c))
    }

    /// `GetObject`, optionally ranged and pinned to an ETag. The body streams from the
    /// returned response. A ranged request must come back as `206` with the asked-for range.
    ///
    /// # Errors
    /// `NoSuchKey`, `PreconditionFailed` (the object changed), `InvalidRange`, transport and
    /// parse errors; an integrity error when the gateway answers a range with other bytes.
    pub async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        range: Option<ByteRange>,
        if_match: Option<&ETag>,
    ) -> Result<GetObject, Error> {
        self.get_object_sized(bucket, key, range, if_match, None)
            .await
    }

    /// [`Client::get_object`] of an object whose length a listing gave (`listed_len`), so
    /// that a whole-object GET is judged against the latency of reads of its size.
    ///
    /// # Errors
    /// As [`Client::get_object`].
    pub(crate) async fn get_object_sized(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        range: Option<ByteRange>,
        if_match: Option<&ETag>,
        listed_len: Option<u64>,
    ) -> Result<GetObject, Error> {
        let mut c = call(
            "GetObject",
            object_target(bucket, key),
            ResourceKind::Object,
        );
        c.expected_bytes = expected_read_bytes(range, listed_len);
        let op = s3::GetObject {
            bucket,
            key,
            range,
            if_match,
            part_number: None,
        };
        let response = self
            .execute(&c, |ep| op.request(ep), Payload::Empty)
            .await?;
        let meta = s3::parse_get_object(&response.headers).map_err(parse_err(&c))?;
        if let Some(range) = range {
            let ok = response.status == StatusCode::PARTIAL_CONTENT
                && meta
                    .content_range
                    .as_ref()
                    .is_some_and(|cr| cr.start == range.start());
            if !ok {
                return Err(Error::Integrity {
                    what: format!(
                        "s3://{}/{}: asked for bytes {}, the gateway answered {} with {:?}",
                        bucket.as_str(),
                        key.as_str(),
                        range.header_value(),
                        response.status,
                        meta.content_range
                    ),
                });
            }
        }
        Ok(GetObject { meta, response })
    }

    /// `PutObject` of an in-memory body (sent again on retry). Returns the ETag.
    ///
    /// # Errors
    /// S3 errors (`EntityTooLarge` behind a router's body limit), transport.
    pub async fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        body: Bytes,
        opts: &PutOptions,
    ) -> Result<ETag, Error> {
        let c = call(
            "PutObject",
            object_target(bucket, key),
            ResourceKind::Object,
        );
        let op = PutObject {
            bucket,
            key,
            content_length: body.len() as u64,
            content_type: opts.content_type.as_deref(),
            content_md5: None,
            metadata: Some(&opts.metadata),
        };
        let resp = self
            .execute(
                &c,
                |ep| op.request(ep),
                Payload::Bytes(body, PayloadHash::Unsigned),
            )
            .await?;
        s3::parse_put_object(&resp.headers).map_err(parse_err(&c))
    }

    /// `CreateMultipartUpload`.
    ///
    /// # Errors
    /// S3, transport and parse errors.
    pub async fn create_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        opts: &PutOptions,
    ) -> Result<UploadId, Error> {
        // Retried like the rest: a retry after a lost answer leaves an empty upload behind,
        // which holds nothing and which `haul multipart abort` (or the gateway's lifecycle)
        // removes; failing the object instead would be worse.
        let c = call(
            "CreateMultipartUpload",
            object_target(bucket, key),
            ResourceKind::Object,
        );
        let op = CreateMultipartUpload {
            bucket,
            key,
            content_type: opts.content_type.as_deref(),
            metadata: Some(&opts.metadata),
        };
        let (_, body) = self
            .execute_read(&c, |ep| op.request(ep), Payload::Empty)
            .await?;
        s3::parse_create_multipart_upload(&body).map_err(parse_err(&c))
    }

    /// `UploadPart` of an in-memory part (sent again on retry). Returns the part's ETag.
    ///
    /// # Errors
    /// `NoSuchUpload`, `EntityTooLarge`, transport and parse errors.
    pub async fn upload_part(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
        part_number: PartNumber,
        body: Bytes,
    ) -> Result<ETag, Error> {
        let target =
            object_target(bucket, key).with_detail(&format!("(part {})", part_number.get()));
        let c = call("UploadPart", target, ResourceKind::Upload);
        let op = UploadPart {
            bucket,
            key,
            upload_id,
            part_number,
            content_length: body.len() as u64,
            content_md5: None,
        };
        let resp = self
            .execute(
                &c,
                |ep| op.request(ep),
                Payload::Bytes(body, PayloadHash::Unsigned),
            )
            .await?;
        s3::parse_upload_part(&resp.headers).map_err(parse_err(&c))
    }

    /// `AbortMultipartUpload`.
    ///
    /// # Errors
    /// S3 and transport errors (`NoSuchUpload` when it is already gone).
    pub async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<(), Error> {
        let c = call(
            "AbortMultipartUpload",
            object_target(bucket, key),
            ResourceKind::Upload,
        );
        let op = AbortMultipartUpload {
            bucket,
            key,
            upload_id,
        };
        self.execute(&c, |ep| op.request(ep), Payload::Empty)
            .await?;
        Ok(())
    }

    /// `DeleteObject`.
    ///
    /// # Errors
    /// S3 and transport errors.
    pub async fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), Error> {
        let c = call(
            "DeleteObject",
            object_target(bucket, key),
            ResourceKind::Object,
        );
        self.execute(
            &c,
            |ep| DeleteObject { bucket, key }.request(ep),
            Payload::Empty,
        )
        .await?;
        Ok(())
    }

    /// `CompleteMultipartUpload`, checking for an error inside the 200 answer (RGW and S3
    /// report assembly failures that way). Returns the object's ETag: the gateway's, or when the
    /// answer leaves it empty (Ceph RGW 16) the one the parts' MD5 tags give
    /// ([`ETag::multipart_of`]); `None` when neither is known.
    ///
    /// # Errors
    /// `InvalidPart`, `InvalidPartOrder`, `NoSuchUpload`, an error in the 200 body, transport.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<Option<ETag>, Error> {
        let c = call(
            "CompleteMultipartUpload",
            object_target(bucket, key),
            ResourceKind::Upload,
        );
        let op = CompleteMultipartUpload::new(bucket, key, upload_id, parts).map_err(|source| {
            Error::Request {
                operation: c.operation,
                target: c.target.clone(),
                source,
            }
        })?;
        let body = op.body();
        let hash = PayloadHash::for_body(&body);
        let answer = match self
            .execute_read(&c, |ep| op.request(ep), Payload::Bytes(body, hash))
            .await
        {
            Ok((_, answer)) => answer,
            // The gateway may have completed the upload and lost its answer: a retry then
            // meets `NoSuchUpload`. An object under the key with a multipart ETag of exactly
            // these parts tells that it was (an older object would not match).
            Err(Error::S3 { source, .. }) if source.code == s3::S3ErrorCode::NoSuchUpload => {
                let expected = ETag::multipart_of(parts.iter().map(|p| &p.etag));
                let completed = |m: &ObjectMeta| match (&expected, &m.etag) {
                    (Some(want), Some(got)) => want.unquoted().eq_ignore_ascii_case(got.unquoted()),
                    _ => {
                        m.etag.as_ref().and_then(ETag::multipart_part_count)
                            == u32::try_from(parts.len()).ok()
                    }
                };
                return match self.head_object(bucket, key).await {
                    Ok(meta) if completed(&meta) => {
                        tracing::info!(
                            key = key.as_str(),
                            "the upload was completed before its answer was lost"
                        );
                        Ok(meta.etag)
                    }
                    _ => Err(Error::S3 {
                        operation: c.operation,
                        target: c.target.clone(),
                        source,
                    }),
                };
            }
            Err(e) => return Err(e),
        };
        let etag = s3::parse_complete_multipart_upload(&answer)
            .map(|done| done.etag)
            .map_err(response_err(&c))?;
        // Ceph RGW 16 answers `<ETag></ETag>`; its object's tag is the usual one, computed
        // from the parts' tags (checked against a HEAD on RGW), so no HEAD is needed to learn it.
        Ok(etag.or_else(|| ETag::multipart_of(parts.iter().map(|p| &p.etag))))
    }

    /// Every multipart upload in progress under `prefix`, all pages.
    ///
    /// # Errors
    /// S3, transport and parse errors; an error when the gateway repeats a page marker.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        prefix: Option<&str>,
    ) -> Result<Vec<s3::MultipartUploadEntry>, Error> {
        let c = call(
            "ListMultipartUploads",
            bucket_target(bucket),
            ResourceKind::Bucket,
        );
        let mut out = Vec::new();
        let mut markers: Option<(String, Option<String>)> = None;
        loop {
            let op = s3::ListMultipartUploads {
                bucket,
                prefix,
                key_marker: markers.as_ref().map(|m| m.0.as_str()),
                upload_id_marker: markers.as_ref().and_then(|m| m.1.as_deref()),
                max_uploads: None,
            };
            let (_, body) = self
                .execute_read(&c, |ep| op.request(ep), Payload::Empty)
                .await?;
            let page = s3::parse_list_multipart_uploads(&body).map_err(parse_err(&c))?;
            out.extend(page.uploads);
            if !page.is_truncated {
                return Ok(out);
            }
            let next = match page.next_key_marker {
                Some(k) => (k, page.next_upload_id_marker),
                None => {
                    return Err(Error::Integrity {
                        what: format!(
                            "ListMultipartUploads s3://{}: truncated page without a next marker",
                            bucket.as_str()
                        ),
                    });
                }
            };
            if markers.as_ref() == Some(&next) {
                return Err(Error::Integrity {
                    what: format!(
                        "ListMultipartUploads s3://{}: the gateway repeated the page marker",
                        bucket.as_str()
                    ),
                });
            }
            markers = Some(next);
        }
    }

    /// `DeleteObjects` of up to 1,000 keys. Returns the keys that could not be deleted, with
    /// the gateway's reason.
    ///
    /// # Errors
    /// The whole request failing (S3, transport, parse); more than 1,000 keys.
    pub async fn delete_objects(
        &self,
        bucket: &BucketName,
        keys: &[ObjectKey],
    ) -> Result<Vec<s3::DeleteFailure>, Error> {
        let c = call("DeleteObjects", bucket_target(bucket), ResourceKind::Bucket);
        let op = DeleteObjects::new(bucket, keys, DeleteReport::Quiet).map_err(|source| {
            Error::Request {
                operation: c.operation,
                target: c.target.clone(),
                source,
            }
        })?;
        let body = op.body();
        let hash = PayloadHash::for_body(&body);
        let (_, answer) = self
            .execute_read(&c, |ep| op.request(ep), Payload::Bytes(body, hash))
            .await?;
        let out = s3::parse_delete_objects(&answer).map_err(parse_err(&c))?;
        Ok(out.failed)
    }

    /// `CopyObject` within this gateway (server-side, up to 5 GiB), keeping the source's
    /// metadata, only if the source still has `source_etag` when given. Checks for an error
    /// inside the 200 answer.
    ///
    /// # Errors
    /// `NoSuchKey`, `PreconditionFailed`, an error in the 200 body, transport.
    pub async fn copy_object(
        &self,
        source_bucket: &BucketName,
        source_key: &ObjectKey,
        bucket: &BucketName,
        key: &ObjectKey,
        source_etag: Option<&ETag>,
    ) -> Result<(), Error> {
        self.copy(s3::CopyObject {
            bucket,
            key,
            source_bucket,
            source_key,
            metadata: s3::MetadataDirective::Copy,
            source_if_match: source_etag,
        })
        .await
    }

    async fn copy(&self, op: s3::CopyObject<'_>) -> Result<(), Error> {
        let c = call(
            "CopyObject",
            object_target(op.bucket, op.key),
            ResourceKind::Object,
        );
        let (_, answer) = self
            .execute_read(&c, |ep| op.request(ep), Payload::Empty)
            .await?;
        s3::parse_copy_object(&answer)
            .map(|_| ())
            .map_err(response_err(&c))
    }

    /// Replaces the metadata (and content type) of `bucket`/`key` with `opts`' by copying the
    /// object onto itself, only if it still has `etag`. Gateways do this without moving the
    /// data; S3 refuses objects over 5 GiB.
    ///
    /// # Errors
    /// `PreconditionFailed` when the object changed, `NoSuchKey`, an error in the 200 body,
    /// transport.
    pub async fn replace_metadata(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        etag: &ETag,
        opts: &PutOptions,
    ) -> Result<(), Error> {
        self.copy(s3::CopyObject {
            bucket,
            key,
            source_bucket: bucket,
            source_key: key,
            metadata: s3::MetadataDirective::Replace {
                metadata: &opts.metadata,
                content_type: opts.content_type.as_deref(),
            },
            source_if_match: Some(etag),
        })
        .await
    }

    /// Every part uploaded so far to a multipart upload, all pages, in part order.
    ///
    /// # Errors
    /// `NoSuchUpload`, transport and parse errors; an error when the gateway repeats a marker.
    pub async fn list_parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<Vec<s3::PartEntry>, Error> {
        let c = call(
            "ListParts",
            object_target(bucket, key),
            ResourceKind::Upload,
        );
        let mut out = Vec::new();
        let mut marker: Option<u32> = None;
        // 10,000 parts at most, 1,000 per page: more pages than that means a looping gateway.
        for _ in 0..=10 {
            let op = s3::ListParts {
                bucket,
                key,
                upload_id,
                part_number_marker: marker,
                max_parts: None,
            };
            let (_, body) = self
                .execute_read(&c, |ep| op.request(ep), Payload::Empty)
                .await?;
            let page = s3::parse_list_parts(&body).map_err(parse_err(&c))?;
            out.extend(page.parts);
            if !page.is_truncated {
                out.sort_by_key(|p| p.part_number);
                return Ok(out);
            }
            match page.next_part_number_marker {
                Some(m) if Some(m) != marker => marker = Some(m),
                _ => break,
            }
        }
        Err(Error::Integrity {
            what: format!(
                "ListParts s3://{}/{}: the gateway's pages do not advance",
                bucket.as_str(),
                key.as_str()
            ),
        })
    }
}

/// Most pages one listing may take before haul assumes the gateway loops: ten billion keys at
/// 1,000 a page, far beyond any real bucket.
const MAX_LIST_PAGES: u64 = 10_000_000;

/// Cursors of a listing remembered to spot a gateway that cycles through a few of them (each
/// page's cursor differing from the last, the listing never ending). Chosen: 64, a few KiB.
const RECENT_CURSORS: usize = 64;

/// Most truncated pages in a row that carry no key and no prefix before haul decides the
/// listing does not progress. A real gateway sends such pages when it skips entries it hides
/// (RGW filters multipart and deleted index entries out of a page after reading them), each
/// standing for up to 1,000 skipped entries: 10,000 in a row is ten million hidden entries,
/// and about a minute of requests.
const MAX_EMPTY_PAGES_IN_A_ROW: u64 = 10_000;

/// Pages through a whole listing in key order, refusing a gateway that repeats a page cursor
/// or never ends.
#[derive(Debug)]
pub struct ListPager<'a> {
    client: &'a Client,
    bucket: &'a BucketName,
    prefix: Option<&'a str>,
    delimiter: Option<&'a str>,
    cursor: Option<ListCursor>,
    pages: u64,
    recent: std::collections::VecDeque<ListCursor>,
    empty_in_a_row: u64,
}

impl<'a> ListPager<'a> {
    /// A listing of `bucket` under `prefix` (empty for all), grouped by `delimiter` if given.
    #[must_use]
    pub fn new(
        client: &'a Client,
        bucket: &'a BucketName,
        prefix: &'a str,
        delimiter: Option<&'a str>,
    ) -> Self {
        Self {
            client,
            bucket,
            prefix: (!prefix.is_empty()).then_some(prefix),
            delimiter,
            cursor: Some(ListCursor::Start),
            pages: 0,
            recent: std::collections::VecDeque::with_capacity(RECENT_CURSORS),
            empty_in_a_row: 0,
        }
    }

    /// The same listing continued from `cursor` (a cursor an earlier page of it returned).
    #[must_use]
    pub fn resume(
        client: &'a Client,
        bucket: &'a BucketName,
        prefix: &'a str,
        delimiter: Option<&'a str>,
        cursor: ListCursor,
    ) -> Self {
        Self {
            cursor: Some(cursor),
            ..Self::new(client, bucket, prefix, delimiter)
        }
    }

    /// The cursor of the next page, `None` after the last.
    #[must_use]
    pub fn cursor(&self) -> Option<&ListCursor> {
        self.cursor.as_ref()
    }

    /// The next page, `None` after the last.
    ///
    /// # Errors
    /// As [`Client::list_objects_page`]; an integrity error when the gateway repeats a cursor
    /// (the last one, or one of the last 64), sends 10,000 empty truncated pages in a row, or
    /// the listing exceeds ten million pages.
    pub async fn next_page(&mut self) -> Result<Option<ListPage>, Error> {
        let Some(cursor) = self.cursor.take() else {
            return Ok(None);
        };
        self.pages += 1;
        let looping = |what: &str| Error::Integrity {
            what: format!(
                "listing s3://{}/{}: {what}",
                self.bucket.as_str(),
                self.prefix.unwrap_or("")
            ),
        };
        if self.pages > MAX_LIST_PAGES {
            return Err(looping("more pages than any bucket holds"));
        }
        let (page, next) = self
            .client
            .list_objects_page(self.bucket, self.prefix, self.delimiter, &cursor)
            .await?;
        if next.as_ref() == Some(&cursor) {
            return Err(looping("the gateway returned the same page cursor twice"));
        }
        if let Some(n) = &next
            && self.recent.contains(n)
        {
            return Err(looping(
                "the gateway returned a page cursor it had already returned (a loop)",
            ));
        }
        if page.objects.is_empty() && page.common_prefixes.is_empty() && next.is_some() {
            self.empty_in_a_row += 1;
            if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
                return Err(looping(&format!(
                    "{} pages in a row without a key, the listing does not progress",
                    self.empty_in_a_row
                )));
            }
        } else {
            self.empty_in_a_row = 0;
        }
        if self.recent.len() == RECENT_CURSORS {
            self.recent.pop_front();
        }
        self.recent.push_back(cursor);
        self.cursor = next;
        Ok(Some(page))
    }
}
