//! Which S3 operation a request is, as the S3 API reference names it ([`S3Op`]), judged from
//! its method, path, query parameter names and one header; the proxy counts what passes
//! through it per operation ([`super::OpStats`]).
//!
//! # Rules
//!
//! The path is read as path-style addressing, `/bucket/key?query`, as haul sends requests to
//! loopback addresses (where the proxy listens): the first segment is the bucket, the rest (if
//! not empty) the key, both left percent-encoded. The `Host` header is not looked at, so a
//! virtual-hosted request (`Host: bucket.example`, path `/key`) is classified one level up:
//! `GET /` as ListBuckets, an object operation as the bucket operation of the same method. The
//! totals are right either way; only the split between operations is off.
//!
//! Query parameters are matched by exact name (case-sensitive, as S3's are); their values are
//! ignored, so `list-type` means ListObjectsV2 whatever it is set to.
//!
//! | request | operation |
//! |---|---|
//! | `GET /` | ListBuckets |
//! | `GET /bucket?list-type` | ListObjectsV2 |
//! | `GET /bucket?uploads` | ListMultipartUploads |
//! | `GET /bucket?location` | GetBucketLocation |
//! | `GET /bucket?` another bucket subresource (`acl`, `versioning`, `policy`, `versions`, …) | GetBucketSubresource |
//! | `GET /bucket` | ListObjects |
//! | `HEAD /bucket` | HeadBucket |
//! | `PUT /bucket` | CreateBucket |
//! | `DELETE /bucket` | DeleteBucket |
//! | `POST /bucket?delete` | DeleteObjects |
//! | `GET /bucket/key?uploadId` | ListParts |
//! | `GET /bucket/key` | GetObject |
//! | `HEAD /bucket/key` | HeadObject |
//! | `PUT /bucket/key?partNumber&uploadId` with `x-amz-copy-source` | UploadPartCopy |
//! | `PUT /bucket/key?partNumber&uploadId` | UploadPart |
//! | `PUT /bucket/key` with `x-amz-copy-source` | CopyObject |
//! | `PUT /bucket/key` | PutObject |
//! | `POST /bucket/key?uploads` | CreateMultipartUpload |
//! | `POST /bucket/key?uploadId` | CompleteMultipartUpload |
//! | `DELETE /bucket/key?uploadId` | AbortMultipartUpload |
//! | `DELETE /bucket/key` | DeleteObject |
//!
//! Anything else is Other: other methods, a path with an empty bucket segment (`//key`), a
//! bucket subresource on `PUT` or `DELETE` of a bucket (PutBucketPolicy, …), an object
//! subresource (`acl`, `tagging`, `retention`, `legal-hold`, `attributes`, `restore`,
//! `select`, `torrent`) on an object (GetObjectTagging, …), `POST` without the parameters
//! above, `PUT` or `GET` with `uploadId` but not the rest of a part's parameters.

use std::fmt;

use http::{HeaderMap, Method, Uri};

/// An S3 operation, as the proxy classifies requests (the module's table). Its name
/// ([`S3Op::as_str`]) is the key of [`super::FaultStats::ops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum S3Op {
    /// `GET /`.
    ListBuckets,
    /// `GET /bucket` without parameters naming another operation.
    ListObjects,
    /// `GET /bucket?list-type=2`.
    ListObjectsV2,
    /// `GET /bucket?uploads`.
    ListMultipartUploads,
    /// `GET /bucket?location`.
    GetBucketLocation,
    /// `GET /bucket` with another bucket subresource (`acl`, `versioning`, `policy`, …).
    GetBucketSubresource,
    /// `HEAD /bucket`.
    HeadBucket,
    /// `PUT /bucket`.
    CreateBucket,
    /// `DELETE /bucket`.
    DeleteBucket,
    /// `POST /bucket?delete`.
    DeleteObjects,
    /// `GET /bucket/key`.
    GetObject,
    /// `HEAD /bucket/key`.
    HeadObject,
    /// `PUT /bucket/key`.
    PutObject,
    /// `PUT /bucket/key` with `x-amz-copy-source`.
    CopyObject,
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload,
    /// `PUT /bucket/key?partNumber=N&uploadId=U`.
    UploadPart,
    /// `PUT /bucket/key?partNumber=N&uploadId=U` with `x-amz-copy-source`.
    UploadPartCopy,
    /// `GET /bucket/key?uploadId=U`.
    ListParts,
    /// `POST /bucket/key?uploadId=U`.
    CompleteMultipartUpload,
    /// `DELETE /bucket/key?uploadId=U`.
    AbortMultipartUpload,
    /// `DELETE /bucket/key`.
    DeleteObject,
    /// Any other request.
    Other,
}

/// Subresources of a bucket: a `GET` with one reads that resource, not the listing.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "versioning",
    "versions",
    "website",
];

/// Subresources of an object: a request with one is not about the object's data.
const OBJECT_SUBRESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "legal-hold",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
];

impl S3Op {
    /// Every operation, in declaration order (`ALL[op.index()] == op`).
    pub const ALL: [S3Op; 22] = [
        S3Op::ListBuckets,
        S3Op::ListObjects,
        S3Op::ListObjectsV2,
        S3Op::ListMultipartUploads,
        S3Op::GetBucketLocation,
        S3Op::GetBucketSubresource,
        S3Op::HeadBucket,
        S3Op::CreateBucket,
        S3Op::DeleteBucket,
        S3Op::DeleteObjects,
        S3Op::GetObject,
        S3Op::HeadObject,
        S3Op::PutObject,
        S3Op::CopyObject,
        S3Op::CreateMultipartUpload,
        S3Op::UploadPart,
        S3Op::UploadPartCopy,
        S3Op::ListParts,
        S3Op::CompleteMultipartUpload,
        S3Op::AbortMultipartUpload,
        S3Op::DeleteObject,
        S3Op::Other,
    ];

    /// The operation's name, as the S3 API reference spells it (`"PutObject"`); `"Other"`
    /// and `"GetBucketSubresource"` are the proxy's own.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            S3Op::ListBuckets => "ListBuckets",
            S3Op::ListObjects => "ListObjects",
            S3Op::ListObjectsV2 => "ListObjectsV2",
            S3Op::ListMultipartUploads => "ListMultipartUploads",
            S3Op::GetBucketLocation => "GetBucketLocation",
            S3Op::GetBucketSubresource => "GetBucketSubresource",
            S3Op::HeadBucket => "HeadBucket",
            S3Op::CreateBucket => "CreateBucket",
            S3Op::DeleteBucket => "DeleteBucket",
            S3Op::DeleteObjects => "DeleteObjects",
            S3Op::GetObject => "GetObject",
            S3Op::HeadObject => "HeadObject",
            S3Op::PutObject => "PutObject",
            S3Op::CopyObject => "CopyObject",
            S3Op::CreateMultipartUpload => "CreateMultipartUpload",
            S3Op::UploadPart => "UploadPart",
            S3Op::UploadPartCopy => "UploadPartCopy",
            S3Op::ListParts => "ListParts",
            S3Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            S3Op::AbortMultipartUpload => "AbortMultipartUpload",
            S3Op::DeleteObject => "DeleteObject",
            S3Op::Other => "Other",
        }
    }

    /// The operation's place in [`S3Op::ALL`]: the index of its counters.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The operation a request is (the module's table): a pure function of the method, the
    /// path and the names of the query parameters of `uri`, and whether `headers` hold
    /// `x-amz-copy-source`.
    pub(crate) fn classify(method: &Method, uri: &Uri, headers: &HeaderMap) -> S3Op {
        let path = uri.path();
        let rest = path.strip_prefix('/').unwrap_or(path);
        let params = Params::parse(uri.query().unwrap_or(""));
        let copy = headers.contains_key("x-amz-copy-source");
        let method = method.as_str();
        if rest.is_empty() {
            return if method == "GET" {
                S3Op::ListBuckets
            } else {
                S3Op::Other
            };
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            S3Op::Other
        } else if key.is_empty() {
            Self::bucket_op(method, &params)
        } else {
            Self::object_op(method, &params, copy)
        }
    }

    fn bucket_op(method: &str, p: &Params) -> S3Op {
        match method {
            "GET" if p.list_type => S3Op::ListObjectsV2,
            "GET" if p.uploads => S3Op::ListMultipartUploads,
            "GET" if p.location => S3Op::GetBucketLocation,
            "GET" if p.bucket_subresource => S3Op::GetBucketSubresource,
            "GET" => S3Op::ListObjects,
            "HEAD" => S3Op::HeadBucket,
            "PUT" if !p.bucket_subresource => S3Op::CreateBucket,
            "DELETE" if !p.bucket_subresource => S3Op::DeleteBucket,
            "POST" if p.delete => S3Op::DeleteObjects,
            _ => S3Op::Other,
        }
    }

    fn object_op(method: &str, p: &Params, copy: bool) -> S3Op {
        match method {
            "GET" if p.upload_id => S3Op::ListParts,
            "GET" if !p.object_subresource => S3Op::GetObject,
            "HEAD" => S3Op::HeadObject,
            "PUT" if p.upload_id && p.part_number && copy => S3Op::UploadPartCopy,
            "PUT" if p.upload_id && p.part_number => S3Op::UploadPart,
            "PUT" if !p.upload_id && !p.object_subresource && copy => S3Op::CopyObject,
            "PUT" if !p.upload_id && !p.object_subresource => S3Op::PutObject,
            "POST" if p.uploads => S3Op::CreateMultipartUpload,
            "POST" if p.upload_id => S3Op::CompleteMultipartUpload,
            "DELETE" if p.upload_id => S3Op::AbortMultipartUpload,
            "DELETE" if !p.object_subresource => S3Op::DeleteObject,
            _ => S3Op::Other,
        }
    }
}

impl fmt::Display for S3Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The query parameters that decide an operation: which names are present.
#[derive(Debug, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per parameter name, nothing more"
)]
struct Params {
    list_type: bool,
    uploads: bool,
    upload_id: bool,
    part_number: bool,
    delete: bool,
    location: bool,
    bucket_subresource: bool,
    object_subresource: bool,
}

impl Params {
    fn parse(query: &str) -> Params {
        let mut p = Params::default();
        for pair in query.split('&') {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            match name {
                "list-type" => p.list_type = true,
                "uploads" => p.uploads = true,
                "uploadId" => p.upload_id = true,
                "partNumber" => p.part_number = true,
                "delete" => p.delete = true,
                "location" => p.location = true,
                _ => {}
            }
            p.bucket_subresource |= BUCKET_SUBRESOURCES.contains(&name);
            p.object_subresource |= OBJECT_SUBRESOURCES.contains(&name);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, target: &str) -> S3Op {
        op_with(method, target, &HeaderMap::new())
    }

    fn op_copy(method: &str, target: &str) -> S3Op {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-copy-source", "/src/a%20b".parse().unwrap());
        op_with(method, target, &headers)
    }

    fn op_with(method: &str, target: &str, headers: &HeaderMap) -> S3Op {
        let method: Method = method.parse().unwrap();
        let uri: Uri = target.parse().unwrap();
        S3Op::classify(&method, &uri, headers)
    }

    #[test]
    fn all_is_in_index_order_and_names_are_unique() {
        for (i, op) in S3Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{op}");
        }
        let mut names: Vec<_> = S3Op::ALL.iter().map(|op| op.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), S3Op::ALL.len());
        assert_eq!(S3Op::Other.index(), S3Op::ALL.len() - 1);
    }

    #[test]
    fn service_level() {
        assert_eq!(op("GET", "/"), S3Op::ListBuckets);
        assert_eq!(op("GET", "/?x-id=ListBuckets"), S3Op::ListBuckets);
        for method in ["HEAD", "PUT", "POST", "DELETE"] {
            assert_eq!(op(method, "/"), S3Op::Other, "{method}");
        }
        // An absolute-form target is read by its path.
        assert_eq!(op("GET", "http://127.0.0.1:9000/"), S3Op::ListBuckets);
        assert_eq!(op("GET", "http://127.0.0.1:9000/b/k"), S3Op::GetObject);
    }

    #[test]
    fn bucket_level() {
        assert_eq!(op("GET", "/db_wal"), S3Op::ListObjects);
        assert_eq!(op("GET", "/db_wal/"), S3Op::ListObjects);
        assert_eq!(
            op(
                "GET",
                "/db_wal?prefix=a%2F&delimiter=%2F&marker=x&max-keys=10"
            ),
            S3Op::ListObjects
        );
        assert_eq!(op("GET", "/db_wal?list-type=2"), S3Op::ListObjectsV2);
        assert_eq!(
            op(
                "GET",
                "/db_wal?continuation-token=ab&list-type=2&prefix=base%2F&start-after="
            ),
            S3Op::ListObjectsV2
        );
        assert_eq!(op("GET", "/db_wal?uploads"), S3Op::ListMultipartUploads);
        assert_eq!(
            op("GET", "/db_wal?uploads=&prefix=a"),
            S3Op::ListMultipartUploads
        );
        assert_eq!(op("GET", "/db_wal?location"), S3Op::GetBucketLocation);
        assert_eq!(op("GET", "/db_wal?location="), S3Op::GetBucketLocation);
        for sub in ["acl", "versioning", "policy", "versions", "tagging", "cors"] {
            assert_eq!(
                op("GET", &format!("/db_wal?{sub}")),
                S3Op::GetBucketSubresource,
                "{sub}"
            );
        }
        assert_eq!(op("HEAD", "/db_wal"), S3Op::HeadBucket);
        assert_eq!(op("PUT", "/db_wal"), S3Op::CreateBucket);
        assert_eq!(op("PUT", "/db_wal/"), S3Op::CreateBucket);
        assert_eq!(op("PUT", "/db_wal?versioning"), S3Op::Other);
        assert_eq!(op("DELETE", "/db_wal"), S3Op::DeleteBucket);
        assert_eq!(op("DELETE", "/db_wal?policy"), S3Op::Other);
        assert_eq!(op("POST", "/db_wal?delete"), S3Op::DeleteObjects);
        assert_eq!(op("POST", "/db_wal?delete="), S3Op::DeleteObjects);
        assert_eq!(op("POST", "/db_wal"), S3Op::Other);
        assert_eq!(op("OPTIONS", "/db_wal"), S3Op::Other);
    }

    #[test]
    fn object_level() {
        assert_eq!(op("GET", "/db_wal/base/a%20b%2Bc.bin"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?partNumber=2"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?versionId=x"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?uploadId=abc"), S3Op::ListParts);
        assert_eq!(
            op("GET", "/db_wal/k?max-parts=10&uploadId=abc"),
            S3Op::ListParts
        );
        assert_eq!(op("GET", "/db_wal/k?tagging"), S3Op::Other);
        assert_eq!(op("HEAD", "/db_wal/k"), S3Op::HeadObject);
        assert_eq!(op("HEAD", "/db_wal/k?partNumber=1"), S3Op::HeadObject);
        assert_eq!(op("PUT", "/db_wal/k"), S3Op::PutObject);
        assert_eq!(op("PUT", "/db_wal/k?x-id=PutObject"), S3Op::PutObject);
        assert_eq!(op("PUT", "/db_wal/k?acl"), S3Op::Other);
        assert_eq!(op_copy("PUT", "/db_wal/k"), S3Op::CopyObject);
        assert_eq!(
            op("PUT", "/db_wal/k?partNumber=3&uploadId=u%2Fv"),
            S3Op::UploadPart
        );
        assert_eq!(
            op("PUT", "/db_wal/k?uploadId=u&partNumber=3"),
            S3Op::UploadPart
        );
        assert_eq!(
            op_copy("PUT", "/db_wal/k?partNumber=3&uploadId=u"),
            S3Op::UploadPartCopy
        );
        assert_eq!(op("PUT", "/db_wal/k?uploadId=u"), S3Op::Other);
        assert_eq!(op_copy("PUT", "/db_wal/k?uploadId=u"), S3Op::Other);
        assert_eq!(op("POST", "/db_wal/k?uploads"), S3Op::CreateMultipartUpload);
        assert_eq!(
            op("POST", "/db_wal/k?uploads="),
            S3Op::CreateMultipartUpload
        );
        assert_eq!(
            op("POST", "/db_wal/k?uploadId=u"),
            S3Op::CompleteMultipartUpload
        );
        assert_eq!(op("POST", "/db_wal/k"), S3Op::Other);
        assert_eq!(op("POST", "/db_wal/k?restore"), S3Op::Other);
        assert_eq!(op("DELETE", "/db_wal/k"), S3Op::DeleteObject);
        assert_eq!(
            op("DELETE", "/db_wal/k?uploadId=u"),
            S3Op::AbortMultipartUpload
        );
        assert_eq!(op("DELETE", "/db_wal/k?tagging"), S3Op::Other);
    }

    #[test]
    fn names_match_exactly_and_values_are_ignored() {
        // Names are case-sensitive and not decoded; values never matter.
        assert_eq!(op("GET", "/db_wal/k?uploadid=u"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?UploadId=u"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?upload%49d=u"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?uploadIds=u"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/k?prefix=uploadId"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal?list-type=1"), S3Op::ListObjectsV2);
        assert_eq!(op("GET", "/db_wal?prefix=list-type"), S3Op::ListObjects);
        assert_eq!(op("GET", "/db_wal?uploads&&"), S3Op::ListMultipartUploads);
        // A presigned request's parameters are not subresources.
        assert_eq!(
            op(
                "GET",
                "/db_wal/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab"
            ),
            S3Op::GetObject
        );
        assert_eq!(
            op("GET", "/db_wal?X-Amz-Expires=60&list-type=2"),
            S3Op::ListObjectsV2
        );
    }

    #[test]
    fn keys_that_look_like_paths_or_queries() {
        // Percent-encoded keys stay encoded: a `%2F` or `%3F` is part of the key.
        assert_eq!(op("GET", "/db_wal/a%2Fb"), S3Op::GetObject);
        assert_eq!(op("GET", "/db_wal/a%3FuploadId%3Du"), S3Op::GetObject);
        assert_eq!(op("PUT", "/db_wal/%20"), S3Op::PutObject);
        assert_eq!(op("PUT", "/db_wal//leading-slash"), S3Op::PutObject);
        assert_eq!(op("DELETE", "/db_wal/dir/"), S3Op::DeleteObject);
        assert_eq!(op("GET", "/db_wal/uploads"), S3Op::GetObject);
        // No bucket before the key.
        assert_eq!(op("GET", "//k"), S3Op::Other);
        // Virtual-hosted style reads one level up (documented).
        assert_eq!(op("GET", "/key"), S3Op::ListObjects);
    }
}
