//! The storage behind the gateway: s3s-fs's [`FileSystem`], with a thin layer in front.
//!
//! [`Store`] implements s3s's `S3` trait by handing every operation s3s-fs implements to
//! s3s-fs. It changes only what makes the gateway a better stand-in for S3 and RGW, each change
//! at the operation it concerns:
//!
//! - ListBuckets is done here, because s3s-fs hides names outside the AWS rules (`db_wal`);
//! - PutObject and CreateMultipartUpload refuse a missing bucket (s3s-fs creates it);
//! - CreateBucket on an existing bucket says `409 BucketAlreadyOwnedByYou`, S3's answer to the
//!   owner outside us-east-1 (s3s-fs says `BucketAlreadyExists`, the answer for someone else's
//!   bucket, which a client must not take as success). RGW answers the owner `200`; clients
//!   have to accept both, and the two test gateways differing here checks that haul does;
//! - DeleteBucket refuses a bucket that still has objects (s3s-fs deletes them all);
//! - GetObject and HeadObject answer `NoSuchKey` for a key that is a directory on disk (the
//!   `a` of `a/b`), and GetObject `NoSuchBucket` for a missing bucket;
//! - GetObject and HeadObject honour `If-Match`, `If-None-Match`, `If-Modified-Since` and
//!   `If-Unmodified-Since` (s3s-fs parses and ignores them), so a ranged download pinned to an
//!   ETag sees `412` when the object changes;
//! - ListObjects (V1, V2) URL-encode keys when asked (`encoding-type=url`), V1 echoes
//!   `Marker`, V2 continuation tokens are opaque, and every entry carries its ETag (s3s-fs
//!   lists none; S3 and RGW always do, and clients compare them);
//! - an unknown upload id is `NoSuchUpload`, not `AccessDenied`;
//! - CopyObject and UploadPartCopy get back the real source bucket when it was renamed for s3s
//!   (see `bucket_name.rs`).
//!
//! Bucket names reach this layer already checked against [`BucketNaming`] by s3s (path) or by
//! the copy-source route, so joining them to the root stays one directory deep.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, Bucket, CommonPrefix,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput,
    CreateBucketInput, CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput,
    DeleteBucketInput, DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, ETag, ETagCondition, EncodingType,
    GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, ListPartsInput, ListPartsOutput, Object, PutObjectInput, PutObjectOutput,
    Timestamp, UploadPartCopyInput, UploadPartCopyOutput, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;

use crate::bucket_name::{BucketNaming, restore_copy_source};

/// s3s-fs behind the gateway's adjustments; cheap to clone (the gateway's outer and inner s3s
/// services share one).
#[derive(Clone)]
pub(crate) struct Store {
    fs: Arc<FileSystem>,
    /// The canonical root, the same path s3s-fs resolves against.
    root: Arc<Path>,
    naming: BucketNaming,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("naming", &self.naming)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Creates `root` if needed and opens it. s3s-fs's constructor canonicalizes the path and
    /// removes temporary files left by a crash, with blocking calls, so it runs on tokio's
    /// blocking pool.
    pub(crate) async fn open(root: PathBuf, naming: BucketNaming) -> std::io::Result<Store> {
        tokio::fs::create_dir_all(&root).await?;
        let root = tokio::fs::canonicalize(&root).await?;
        let fs_root = root.clone();
        let fs = tokio::task::spawn_blocking(move || FileSystem::new(fs_root))
            .await
            .map_err(std::io::Error::other)?
            // s3s_fs::Error has Debug but no Display (it cannot implement std's Error).
            .map_err(|err| std::io::Error::other(format!("{err:?}")))?;
        Ok(Store {
            fs: Arc::new(fs),
            root: root.into(),
            naming,
        })
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// Gives each listed object without one the ETag s3s-fs keeps for it (in its
    /// `.bucket-B.object-K.internal.json` beside the buckets, written by PutObject,
    /// CompleteMultipartUpload and CopyObject). An object without that file keeps none, and
    /// so does one whose file is newer than it (written into the root by other means after
    /// an object of that key was deleted: s3s-fs leaves the sidecar behind).
    async fn fill_etags(&self, bucket: &str, contents: Option<&mut Vec<Object>>) {
        use base64::Engine as _;
        let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for obj in contents.into_iter().flatten() {
            let (None, Some(key)) = (&obj.e_tag, &obj.key) else {
                continue;
            };
            let info = self.root.join(format!(
                ".bucket-{}.object-{}.internal.json",
                encode(bucket),
                encode(key)
            ));
            let modified = |p: PathBuf| async move { tokio::fs::metadata(p).await?.modified() };
            let (Ok(written), Ok(stored)) = (
                modified(info.clone()).await,
                modified(self.bucket_dir(bucket).join(key)).await,
            ) else {
                continue;
            };
            if written < stored {
                continue;
            }
            let Ok(bytes) = tokio::fs::read(&info).await else {
                continue;
            };
            obj.e_tag = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("e_tag")?.as_str().map(|t| ETag::Strong(t.to_owned())));
        }
    }

    async fn bucket_exists(&self, bucket: &str) -> bool {
        tokio::fs::metadata(self.bucket_dir(bucket))
            .await
            .is_ok_and(|m| m.is_dir())
    }

    async fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.bucket_exists(bucket).await {
            Ok(())
        } else {
            Err(S3Error::new(S3ErrorCode::NoSuchBucket))
        }
    }

    /// Whether `key` is stored as a directory (it is the `a` of some `a/b`), which s3s-fs
    /// would otherwise serve as a 4 KiB object that fails mid-body. Keys ending in `/` and
    /// keys that are not plain relative paths are left to s3s-fs.
    async fn key_is_directory(&self, bucket: &str, key: &str) -> bool {
        let rel = Path::new(key);
        if key.ends_with('/') || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return false;
        }
        tokio::fs::metadata(self.bucket_dir(bucket).join(rel))
            .await
            .is_ok_and(|m| m.is_dir())
    }

    /// Whether the bucket's tree holds at least one file (an object). Empty directories left
    /// behind by deleted keys do not count.
    async fn bucket_has_objects(&self, bucket: &str) -> std::io::Result<bool> {
        let mut pending = vec![self.bucket_dir(bucket)];
        while let Some(dir) = pending.pop() {
            let mut entries = tokio::fs::read_dir(&dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                if entry.file_type().await?.is_dir() {
                    pending.push(entry.path());
                } else {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// The preconditions of a GetObject or HeadObject, which s3s-fs parses but does not apply.
#[allow(
    clippy::struct_field_names,
    reason = "each field is named after its header: If-Match, If-None-Match, …"
)]
struct ReadPreconditions {
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
}

impl ReadPreconditions {
    /// Evaluates the conditions against the object's ETag and Last-Modified, as RFC 9110
    /// §13.2.2 orders them: `If-Match` (else `If-Unmodified-Since`) fails with
    /// `412 PreconditionFailed`; then `If-None-Match` (else `If-Modified-Since`) with
    /// `304 NotModified`. Dates compare in whole seconds, the precision of HTTP dates.
    fn check(&self, etag: Option<&ETag>, last_modified: Option<&Timestamp>) -> S3Result<()> {
        let seconds = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
        let modified_after =
            |since: &Timestamp| last_modified.is_some_and(|lm| seconds(lm) > seconds(since));

        let precondition_failed = match &self.if_match {
            Some(ETagCondition::Any) => false,
            Some(ETagCondition::ETag(wanted)) => !etag.is_some_and(|have| have.strong_cmp(wanted)),
            None => self
                .if_unmodified_since
                .as_ref()
                .is_some_and(modified_after),
        };
        if precondition_failed {
            return Err(S3Error::new(S3ErrorCode::PreconditionFailed));
        }

        let not_modified = match &self.if_none_match {
            Some(ETagCondition::Any) => true,
            Some(ETagCondition::ETag(unwanted)) => etag.is_some_and(|have| have.weak_cmp(unwanted)),
            None => self
                .if_modified_since
                .as_ref()
                .is_some_and(|since| last_modified.is_some() && !modified_after(since)),
        };
        if not_modified {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
        Ok(())
    }
}

/// s3s-fs answers `AccessDenied` when an upload id is unknown (it cannot tell that from an
/// upload started with another access key, which cannot happen with the gateway's one key).
/// S3 and RGW answer `404 NoSuchUpload`, which clients act on.
fn unknown_upload(err: S3Error) -> S3Error {
    if *err.code() == S3ErrorCode::AccessDenied {
        S3Error::new(S3ErrorCode::NoSuchUpload)
    } else {
        err
    }
}

/// Characters left as they are in `encoding-type=url` listings: RFC 3986's unreserved set and
/// `/`, as RGW does. Everything else is `%XX`, so a space is `%20` and a `+` is `%2B`; a client
/// decoding either with percent-decoding or with form-decoding (`+` as space, as botocore
/// does for AWS's answers) gets the key back.
pub(crate) const LISTING_KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn url_encode(value: &mut String) {
    let encoded = utf8_percent_encode(value, LISTING_KEY_ENCODE).to_string();
    *value = encoded;
}

fn url_encode_opt(value: Option<&mut String>) {
    if let Some(value) = value {
        url_encode(value);
    }
}

fn url_encode_entries(
    contents: Option<&mut Vec<Object>>,
    prefixes: Option<&mut Vec<CommonPrefix>>,
) {
    for object in contents.into_iter().flatten() {
        url_encode_opt(object.key.as_mut());
    }
    for prefix in prefixes.into_iter().flatten() {
        url_encode_opt(prefix.prefix.as_mut());
    }
}

fn wants_url_encoding(encoding_type: Option<&EncodingType>) -> bool {
    encoding_type.is_some_and(|e| e.as_str() == EncodingType::URL)
}

/// ListObjectsV2 continuation tokens are the hex of s3s-fs's raw token (the last key returned):
/// opaque like S3's, so a client that treats them as keys shows up in tests, and free of
/// characters XML 1.0 cannot carry.
fn encode_continuation_token(raw: &str) -> String {
    use std::fmt::Write as _;
    raw.bytes()
        .fold(String::with_capacity(raw.len() * 2), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn decode_continuation_token(token: &str) -> S3Result<String> {
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The continuation token provided is incorrect",
        )
    };
    let hex = token.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = hex
        .chunks_exact(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            u8::from_str_radix(pair, 16).map_err(|_| invalid())
        })
        .collect::<S3Result<Vec<u8>>>()?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut entries = tokio::fs::read_dir(&*self.root)
            .await
            .map_err(S3Error::internal_error)?;
        let mut buckets = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(S3Error::internal_error)?
        {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !self.naming.accepts(&name) {
                continue;
            }
            let meta = entry.metadata().await.map_err(S3Error::internal_error)?;
            if !meta.is_dir() {
                continue;
            }
            // Not every file system records a creation time; s3s-fs falls back the same way.
            let created = meta
                .created()
                .or_else(|_| meta.modified())
                .map_err(S3Error::internal_error)?;
            buckets.push(Bucket {
                creation_date: Some(Timestamp::from(created)),
                name: Some(name),
                bucket_region: None,
            });
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        if self.bucket_exists(&req.input.bucket).await {
            return Err(S3Error::new(S3ErrorCode::BucketAlreadyOwnedByYou));
        }
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = &req.input.bucket;
        self.require_bucket(bucket).await?;
        if self
            .bucket_has_objects(bucket)
            .await
            .map_err(S3Error::internal_error)?
        {
            return Err(S3Error::new(S3ErrorCode::BucketNotEmpty));
        }
        self.fs.delete_bucket(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        self.fs.put_object(req).await
    }

    async fn get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        if self.key_is_directory(&bucket, &key).await {
            return Err(S3Error::new(S3ErrorCode::NoSuchKey));
        }
        let conditions = ReadPreconditions {
            if_match: req.input.if_match.take(),
            if_none_match: req.input.if_none_match.take(),
            if_modified_since: req.input.if_modified_since.take(),
            if_unmodified_since: req.input.if_unmodified_since.take(),
        };
        let resp = match self.fs.get_object(req).await {
            Err(err)
                if *err.code() == S3ErrorCode::NoSuchKey && !self.bucket_exists(&bucket).await =>
            {
                return Err(S3Error::new(S3ErrorCode::NoSuchBucket));
            }
            result => result?,
        };
        // Checked on s3s-fs's own answer, so the ETag and date are the ones a client sees; on
        // failure the body (an open file, not yet read) is dropped.
        conditions.check(
            resp.output.e_tag.as_ref(),
            resp.output.last_modified.as_ref(),
        )?;
        Ok(resp)
    }

    async fn head_object(
        &self,
        mut req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        if self
            .key_is_directory(&req.input.bucket, &req.input.key)
            .await
        {
            return Err(S3Error::new(S3ErrorCode::NoSuchKey));
        }
        let conditions = ReadPreconditions {
            if_match: req.input.if_match.take(),
            if_none_match: req.input.if_none_match.take(),
            if_modified_since: req.input.if_modified_since.take(),
            if_unmodified_since: req.input.if_unmodified_since.take(),
        };
        let resp = self.fs.head_object(req).await?;
        conditions.check(
            resp.output.e_tag.as_ref(),
            resp.output.last_modified.as_ref(),
        )?;
        Ok(resp)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn copy_object(
        &self,
        mut req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        restore_copy_source(
            &mut req.extensions,
            &mut req.credentials,
            &mut req.input.copy_source,
        );
        self.fs.copy_object(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let marker = req.input.marker.clone();
        let bucket = req.input.bucket.clone();
        let url = wants_url_encoding(req.input.encoding_type.as_ref());
        let mut resp = self.fs.list_objects(req).await?;
        let out = &mut resp.output;
        self.fill_etags(&bucket, out.contents.as_mut()).await;
        out.marker = marker;
        if url {
            url_encode_entries(out.contents.as_mut(), out.common_prefixes.as_mut());
            url_encode_opt(out.prefix.as_mut());
            url_encode_opt(out.delimiter.as_mut());
            url_encode_opt(out.marker.as_mut());
            url_encode_opt(out.next_marker.as_mut());
        }
        Ok(resp)
    }

    async fn list_objects_v2(
        &self,
        mut req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let token = req.input.continuation_token.take();
        if let Some(token) = &token {
            req.input.continuation_token = Some(decode_continuation_token(token)?);
        }
        let url = wants_url_encoding(req.input.encoding_type.as_ref());
        let bucket = req.input.bucket.clone();
        let mut resp = self.fs.list_objects_v2(req).await?;
        let out = &mut resp.output;
        self.fill_etags(&bucket, out.contents.as_mut()).await;
        out.continuation_token = token;
        out.next_continuation_token = out
            .next_continuation_token
            .as_deref()
            .map(encode_continuation_token);
        if url {
            url_encode_entries(out.contents.as_mut(), out.common_prefixes.as_mut());
            url_encode_opt(out.prefix.as_mut());
            url_encode_opt(out.delimiter.as_mut());
            url_encode_opt(out.start_after.as_mut());
        }
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await.map_err(unknown_upload)
    }

    async fn upload_part_copy(
        &self,
        mut req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        restore_copy_source(
            &mut req.extensions,
            &mut req.credentials,
            &mut req.input.copy_source,
        );
        self.fs.upload_part_copy(req).await.map_err(unknown_upload)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs
            .complete_multipart_upload(req)
            .await
            .map_err(unknown_upload)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs
            .abort_multipart_upload(req)
            .await
            .map_err(unknown_upload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_and_reject_garbage() {
        for key in ["", "a", "dir/f\u{fc}r sp\u{e4}ter+1", "\u{1}ctl"] {
            let token = encode_continuation_token(key);
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(decode_continuation_token(&token).unwrap(), key);
        }
        for bad in ["abc", "zz", "ff"] {
            assert!(decode_continuation_token(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn listing_keys_encode_space_plus_and_unicode_but_not_slash() {
        let mut key = "dir/a b+c\u{e9}~.txt".to_owned();
        url_encode(&mut key);
        assert_eq!(key, "dir/a%20b%2Bc%C3%A9~.txt");
    }
}
