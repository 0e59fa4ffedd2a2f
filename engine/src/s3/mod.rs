//! The S3 protocol, without IO: build requests, sign them, parse answers.
//!
//! What it owns:
//! - names and values with rules ([`BucketName`], [`ObjectKey`], [`PartNumber`],
//!   [`UploadId`], [`ETag`], [`ByteRange`], [`UserMetadata`]);
//! - addressing ([`Endpoint`]: path-style or virtual-host, with the fall-back to path-style
//!   for buckets like `db_wal`) and key encoding ([`encode_path`], [`encode_query_value`],
//!   [`decode_listing_value`]);
//! - `SigV4` signing ([`sign`], through `aws-sigv4`), with the time and the credentials as
//!   parameters;
//! - one file per S3 operation, named after the AWS API (`list_objects_v2.rs`,
//!   `complete_multipart_upload.rs`, …). Each has a struct whose `request(&Endpoint)` gives
//!   an `http::Request<()>` with an absolute URI and an explicit `Host` header; operations
//!   with an XML body also give `body()` and set the matching `Content-Length` and
//!   `Content-MD5`; a `parse_*` function reads the answer from bytes or headers;
//! - errors: [`S3Error`] (what the gateway said), [`ParseError`] (an answer we could not
//!   read, with element path and byte offset), [`RequestError`], [`SignError`].
//!
//! What it does not do: no sockets, no clock, no retries, no bodies of objects. The
//! `client` module attaches bodies, signs with [`sign`], sends through `transport`, asks
//! `congestion` whether to retry, and turns non-2xx answers into [`S3Error`] with
//! [`S3Error::from_response_for`].
//!
//! A request's life: build (`ListObjectsV2 { … }.request(&endpoint)`), sign
//! (`sign(&mut req, &creds, endpoint.region(), &PayloadHash::Empty, now)`), send, then on
//! 2xx parse (`parse_list_objects_v2(&body)`), else `S3Error::from_response_for(…)`.
//!
//! Read next: `client`, which drives these functions over the network. Gateway quirks this
//! module absorbs are noted where they are handled (search for `RGW`, `s3s`, `AWS`).
#![deny(clippy::indexing_slicing)]

mod abort_multipart_upload;
mod complete_multipart_upload;
mod copy_object;
mod create_bucket;
mod create_multipart_upload;
mod credentials;
mod delete_bucket;
mod delete_object;
mod delete_objects;
mod encoding;
mod endpoint;
mod error;
mod get_object;
mod head_bucket;
mod head_object;
mod list_buckets;
mod list_multipart_uploads;
mod list_objects;
mod list_objects_v2;
mod list_page;
mod list_parts;
mod metadata;
mod names;
mod object_meta;
mod put_object;
mod request;
mod sign;
mod upload_part;
mod upload_part_copy;
mod xml;

pub use abort_multipart_upload::AbortMultipartUpload;
pub use complete_multipart_upload::{
    CompleteMultipartUpload, CompletedPart, CompletedUpload, parse_complete_multipart_upload,
};
pub use copy_object::{
    CopyObject, CopyResult, MAX_COPY_OBJECT_BYTES, MetadataDirective, parse_copy_object,
};
pub use create_bucket::CreateBucket;
pub use create_multipart_upload::{CreateMultipartUpload, parse_create_multipart_upload};
pub use credentials::Credentials;
pub use delete_bucket::DeleteBucket;
pub use delete_object::DeleteObject;
pub use delete_objects::{
    DeleteFailure, DeleteObjects, DeleteObjectsOutput, DeleteReport, MAX_DELETE_KEYS,
    parse_delete_objects,
};
pub use encoding::{DecodeError, decode_listing_value, encode_path, encode_query_value};
pub use endpoint::{Addressing, BucketTarget, Endpoint, EndpointError, EndpointProblem, Scheme};
pub use error::{
    Location, ParseError, ParseErrorKind, ResourceKind, ResponseError, RetryAfter, S3Error,
    S3ErrorCode, error_in_200_body,
};
pub use get_object::{GetObject, parse_get_object};
pub use head_bucket::{BucketInfo, HeadBucket, parse_head_bucket};
pub use head_object::{HeadObject, parse_head_object};
pub use list_buckets::{BucketEntry, ListBuckets, ListBucketsOutput, parse_list_buckets};
pub use list_multipart_uploads::{
    ListMultipartUploads, MultipartUploadEntry, MultipartUploadsPage, parse_list_multipart_uploads,
};
pub use list_objects::{ListObjects, parse_list_objects};
pub use list_objects_v2::{ListObjectsV2, parse_list_objects_v2};
pub use list_page::{ListDialect, ListEncoding, ListPage, ObjectEntry};
pub use list_parts::{ListParts, PartEntry, PartsPage, parse_list_parts};
pub use metadata::{BLAKE3_META, META_PREFIX, MetadataError, UserMetadata};
pub use names::{
    BucketName, ByteRange, ETag, MAX_BUCKET_NAME_BYTES, MAX_OBJECT_KEY_BYTES, MAX_UPLOAD_ID_BYTES,
    NameError, ObjectKey, PartNumber, StorageClass, UploadId,
};
pub use object_meta::{ContentRange, ObjectMeta, parse_content_range};
pub use put_object::{MAX_PUT_BYTES, PutObject, parse_put_object};
pub use request::{ContentMd5, RequestError};
pub use sign::{PayloadHash, SignError, sign};
pub use upload_part::{MAX_PART_BYTES, MIN_PART_BYTES, UploadPart, parse_upload_part};
pub use upload_part_copy::{UploadPartCopy, parse_upload_part_copy};
pub use xml::{MAX_BODY_BYTES, MAX_DEPTH, MAX_ENTRIES_PER_PAGE, MAX_TEXT_BYTES};
