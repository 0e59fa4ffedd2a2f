//! Which bucket names the gateway accepts, and how names outside the AWS rules get through s3s.
//!
//! The runbook's buckets are `db_wal` and `registry`. RGW accepts `db_wal` (it has
//! `rgw_relaxed_s3_bucket_names`); AWS's rules do not (no underscores). s3s 0.14 checks bucket
//! names in three places, and each needs its own answer:
//!
//! 1. **The request path** (`/{bucket}/{key}`), parsed by
//!    `s3s::path::parse_path_style_with_validation_and_normalization` with the
//!    [`NameValidation`] given to `S3ServiceBuilder::set_validation`; the default,
//!    `AwsNameValidation`, refuses `db_wal` with `400 InvalidBucketName`. This is a supported
//!    hook: [`BucketNaming`] is that validation. No rewriting, so the signature is checked over
//!    the path exactly as the client signed it.
//! 2. **The `x-amz-copy-source` header** of CopyObject and UploadPartCopy, parsed by
//!    `s3s::dto::CopySource::parse`, which calls `s3s::path::check_bucket_name` (AWS rules)
//!    with no hook: a copy out of `db_wal` fails with `400 InvalidArgument`. The header has to
//!    be changed before s3s parses it, but it is one of the signed headers (aws-sigv4 signs
//!    every header it is given), so it must not change before the signature is checked.
//!    s3s runs exactly one user hook between those two steps: [`S3Route`]. So
//!    [`RelaxedCopySourceRoute`] matches such copies *after* the outer service has verified the
//!    signature over the untouched request, replaces the source bucket with
//!    [`COPY_SOURCE_PLACEHOLDER`] (a name s3s accepts), puts the real name and the verified
//!    credentials in the request's extensions ([`RelaxedCopySource`]), and hands the request to
//!    an inner s3s service over the same store. That inner service has no authentication of
//!    its own and no socket: it is reachable only through this route, which s3s calls only for
//!    signed requests (the default `S3Route::check_access` refuses anonymous ones). The store
//!    puts the real bucket name and credentials back before calling s3s-fs
//!    ([`restore_copy_source`]). Nothing is mapped in responses: CopyObject and UploadPartCopy
//!    results do not name the source bucket.
//! 3. **s3s-fs's ListBuckets**, which skips directories whose names fail the AWS rules: the
//!    store lists buckets itself (see `store.rs`).
//!
//! The route also removes the `Authorization` header and presigned-URL query parameters before
//! the inner service sees the request: the outer service has checked them, and the inner one,
//! having no keys, would refuse them. Virtual-host addressing is not offered at all, so relaxed
//! names never need to be valid host labels.

use http::header::AUTHORIZATION;
use http::{Extensions, HeaderMap, HeaderValue, Method, Uri};
use percent_encoding::percent_decode_str;
use s3s::auth::Credentials;
use s3s::dto::CopySource;
use s3s::header::X_AMZ_COPY_SOURCE;
use s3s::route::S3Route;
use s3s::service::S3Service;
use s3s::validation::NameValidation;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

/// The bucket naming rule in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BucketNaming {
    /// AWS's rules (`s3s::path::check_bucket_name`): 3–63 characters, lowercase letters,
    /// digits, `.` and `-`, and so on.
    Aws,
    /// RGW's relaxed rules: see [`is_relaxed_bucket_name`].
    Relaxed,
}

impl BucketNaming {
    /// Whether `name` may name a bucket under this rule.
    pub(crate) fn accepts(self, name: &str) -> bool {
        match self {
            Self::Aws => s3s::path::check_bucket_name(name),
            Self::Relaxed => is_relaxed_bucket_name(name),
        }
    }
}

impl NameValidation for BucketNaming {
    fn validate_bucket_name(&self, name: &str) -> bool {
        self.accepts(name)
    }
}

/// Shortest relaxed bucket name, as in AWS and RGW.
const RELAXED_MIN_LEN: usize = 3;
/// Longest relaxed bucket name: RGW's limit with `rgw_relaxed_s3_bucket_names` (255), which is
/// also the longest file name on the usual Linux file systems.
const RELAXED_MAX_LEN: usize = 255;

/// RGW's relaxed rule, which every AWS-valid name also follows: 3 to 255 characters from
/// `A-Z a-z 0-9 . _ -`, the first a letter or digit.
///
/// The first-character rule also keeps names off s3s-fs's own files in the root, which all
/// start with `.`, and rules out `.` and `..`; the character set rules out `/`, so a name is
/// always exactly one directory under the root.
pub(crate) fn is_relaxed_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (RELAXED_MIN_LEN..=RELAXED_MAX_LEN).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The source bucket written into `x-amz-copy-source` for the inner service. It follows the
/// AWS rules, so s3s parses it; the store replaces it with the real name before s3s-fs runs.
pub(crate) const COPY_SOURCE_PLACEHOLDER: &str = "haul-gateway-relaxed-copy-source";

/// The real source of a copy whose source bucket s3s would have refused, carried from
/// [`RelaxedCopySourceRoute`] to the store in the request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct RelaxedCopySource {
    bucket: String,
    /// The credentials the outer service verified; the inner service has none, and s3s-fs
    /// needs them to match multipart upload ids to their owner in UploadPartCopy.
    credentials: Option<Credentials>,
}

/// Undoes [`RelaxedCopySourceRoute`]'s rewrite in a CopyObject or UploadPartCopy request
/// before it reaches s3s-fs. A request that did not pass through the route is left alone.
pub(crate) fn restore_copy_source(
    extensions: &mut Extensions,
    credentials: &mut Option<Credentials>,
    copy_source: &mut CopySource,
) {
    let Some(original) = extensions.remove::<RelaxedCopySource>() else {
        return;
    };
    if let CopySource::Bucket { bucket, .. } = copy_source
        && &**bucket == COPY_SOURCE_PLACEHOLDER
    {
        *bucket = original.bucket.into_boxed_str();
    }
    *credentials = original.credentials;
}

/// Splits `x-amz-copy-source` (`[/]bucket/key[?versionId=…]`, percent-encoded) into the
/// decoded bucket and the raw rest after the first `/`.
fn split_copy_source(header: &str) -> Option<(String, &str)> {
    let raw = header.strip_prefix('/').unwrap_or(header);
    let (bucket, rest) = raw.split_once('/')?;
    let bucket = percent_decode_str(bucket).decode_utf8().ok()?;
    Some((bucket.into_owned(), rest))
}

/// Whether s3s would refuse this copy source's bucket while the relaxed rule accepts it.
fn needs_relaxed_copy(headers: &HeaderMap) -> bool {
    headers
        .get(X_AMZ_COPY_SOURCE)
        .and_then(|v| v.to_str().ok())
        .and_then(split_copy_source)
        .is_some_and(|(bucket, _)| {
            !s3s::path::check_bucket_name(&bucket) && is_relaxed_bucket_name(&bucket)
        })
}

/// Query parameters of presigned URLs (SigV4 and SigV2). The outer service has checked them;
/// the inner one has no keys and would refuse them.
const PRESIGN_PARAMS: [&str; 10] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

fn strip_presign_params(uri: &Uri) -> S3Result<Uri> {
    let Some(query) = uri.query() else {
        return Ok(uri.clone());
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !PRESIGN_PARAMS.contains(&name)
        })
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    path_and_query.parse().map_err(|_| {
        S3Error::with_message(S3ErrorCode::InvalidURI, "cannot rebuild the request uri")
    })
}

/// Serves CopyObject and UploadPartCopy whose source bucket only the relaxed rule accepts;
/// see the module documentation for why this is a route.
pub(crate) struct RelaxedCopySourceRoute {
    /// An s3s service over the same store, with relaxed names, no authentication and no route.
    inner: S3Service,
}

impl RelaxedCopySourceRoute {
    pub(crate) fn new(inner: S3Service) -> Self {
        Self { inner }
    }
}

#[async_trait::async_trait]
impl S3Route for RelaxedCopySourceRoute {
    fn is_match(
        &self,
        method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        _extensions: &mut Extensions,
    ) -> bool {
        // CopyObject and UploadPartCopy are the only operations with this header; both are PUT.
        method == Method::PUT && needs_relaxed_copy(headers)
    }

    // `check_access` keeps its default: requests without verified credentials are refused.

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let S3Request {
            input: body,
            method,
            uri,
            mut headers,
            mut extensions,
            credentials,
            ..
        } = req;

        let header = headers
            .get(X_AMZ_COPY_SOURCE)
            .and_then(|v| v.to_str().ok())
            .and_then(split_copy_source);
        let Some((bucket, key_and_query)) = header else {
            // is_match saw a valid header; s3s does not change headers in between.
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "invalid x-amz-copy-source",
            ));
        };
        let rewritten = HeaderValue::from_str(&format!(
            "/{COPY_SOURCE_PLACEHOLDER}/{key_and_query}"
        ))
        .map_err(|_| {
            S3Error::with_message(S3ErrorCode::InvalidArgument, "invalid x-amz-copy-source")
        })?;
        tracing::debug!(source_bucket = %bucket, "copy from a relaxed-name bucket");
        headers.insert(X_AMZ_COPY_SOURCE, rewritten);
        // Checked by the outer service; the inner one has no keys to check them with.
        headers.remove(AUTHORIZATION);
        extensions.insert(RelaxedCopySource {
            bucket,
            credentials,
        });

        let mut inner_req = http::Request::new(body);
        *inner_req.method_mut() = method;
        *inner_req.uri_mut() = strip_presign_params(&uri)?;
        *inner_req.headers_mut() = headers;
        *inner_req.extensions_mut() = extensions;

        let response = self
            .inner
            .call(inner_req)
            .await
            .map_err(|err| S3Error::with_source(S3ErrorCode::InternalError, err.into()))?;
        let (parts, body) = response.into_parts();
        let mut out = S3Response::with_status(body, parts.status);
        out.headers = parts.headers;
        out.extensions = parts.extensions;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_buckets_need_the_relaxed_rule_for_db_wal_only() {
        assert!(!BucketNaming::Aws.accepts("db_wal"));
        assert!(BucketNaming::Relaxed.accepts("db_wal"));
        assert!(BucketNaming::Aws.accepts("registry"));
        assert!(BucketNaming::Relaxed.accepts("registry"));
    }

    #[test]
    fn relaxed_rule_keeps_names_one_safe_directory() {
        for bad in [
            "",
            "ab",
            ".hidden",
            "..",
            "a/b",
            "-x-",
            "_ab",
            "a b",
            "caf\u{e9}",
            &"a".repeat(256),
        ] {
            assert!(!is_relaxed_bucket_name(bad), "{bad:?} accepted");
        }
        for good in ["abc", "DB_WAL", "db.wal-2", &"a".repeat(255)] {
            assert!(is_relaxed_bucket_name(good), "{good:?} refused");
        }
    }

    #[test]
    fn every_aws_name_is_a_relaxed_name() {
        for name in ["abc", "my.bucket-1", "0-9", "registry"] {
            assert!(s3s::path::check_bucket_name(name));
            assert!(is_relaxed_bucket_name(name));
        }
    }

    #[test]
    fn copy_source_split_decodes_only_the_bucket() {
        assert_eq!(
            split_copy_source("/db_wal/a%20b/c?versionId=1"),
            Some(("db_wal".to_owned(), "a%20b/c?versionId=1"))
        );
        assert_eq!(
            split_copy_source("db%5Fwal/k"),
            Some(("db_wal".to_owned(), "k"))
        );
        assert_eq!(split_copy_source("no-slash"), None);
    }

    #[test]
    fn route_matches_only_copies_s3s_would_refuse() {
        let mut headers = HeaderMap::new();
        headers.insert(X_AMZ_COPY_SOURCE, HeaderValue::from_static("/db_wal/k"));
        assert!(needs_relaxed_copy(&headers));
        headers.insert(X_AMZ_COPY_SOURCE, HeaderValue::from_static("/registry/k"));
        assert!(!needs_relaxed_copy(&headers));
        headers.insert(
            X_AMZ_COPY_SOURCE,
            HeaderValue::from_static("arn:aws:s3:r:1:accesspoint/x/object/k"),
        );
        assert!(!needs_relaxed_copy(&headers));
    }

    #[test]
    fn presign_params_are_stripped_and_others_kept() {
        let uri: Uri = "/b/k?partNumber=2&X-Amz-Signature=ab&uploadId=u&X-Amz-Date=1"
            .parse()
            .unwrap();
        assert_eq!(
            strip_presign_params(&uri).unwrap(),
            "/b/k?partNumber=2&uploadId=u"
        );
        let uri: Uri = "/b/k?X-Amz-Signature=ab".parse().unwrap();
        assert_eq!(strip_presign_params(&uri).unwrap(), "/b/k");
    }

    #[test]
    fn restore_puts_back_bucket_and_credentials() {
        let mut ext = Extensions::new();
        ext.insert(RelaxedCopySource {
            bucket: "db_wal".to_owned(),
            credentials: Some(Credentials {
                access_key: "ak".to_owned(),
                secret_key: "sk".into(),
            }),
        });
        let mut creds = None;
        let mut src = CopySource::Bucket {
            bucket: COPY_SOURCE_PLACEHOLDER.into(),
            key: "k".into(),
            version_id: None,
        };
        restore_copy_source(&mut ext, &mut creds, &mut src);
        assert!(matches!(&src, CopySource::Bucket { bucket, .. } if &**bucket == "db_wal"));
        assert_eq!(creds.map(|c| c.access_key).as_deref(), Some("ak"));
    }
}
