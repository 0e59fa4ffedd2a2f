//! Errors of the protocol layer: [`S3Error`] (the gateway said no), [`ParseError`] (the
//! gateway's answer could not be understood) and [`ResponseError`] (either, for the
//! operations whose 200 responses may carry an error).
//!
//! Retryability is not decided here: `congestion::classify` reads [`S3Error::status`] and
//! [`S3Error::code`] (and [`S3Error::retry_after`]).

use std::fmt;
use std::time::{Duration, SystemTime};

use http::HeaderMap;

use super::encoding::DecodeError;
use super::names::NameError;
use super::xml::{Step, XmlReader};

/// Where in a response a [`ParseError`] happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Inside an element: its path from the root (`ListBucketResult/Contents/Size`) and the
    /// byte offset in the body.
    Element {
        /// Element names from the root, joined by `/`.
        path: String,
        /// Byte offset in the body.
        offset: u64,
    },
    /// Outside any element (before the root, or at its very start).
    Document {
        /// Byte offset in the body.
        offset: u64,
    },
    /// In a response header.
    Header(&'static str),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Element { path, offset } => write!(f, "at {path} (byte {offset})"),
            Self::Document { offset } => write!(f, "at byte {offset}"),
            Self::Header(name) => write!(f, "in header {name}"),
        }
    }
}

/// What was wrong with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Not well-formed XML (quick-xml's description).
    Syntax(String),
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// A `<!DOCTYPE>`: refused so that no entity can be declared (entity bombs, XXE).
    DocType,
    /// A reference to an entity other than the five XML ones or a valid character.
    UnknownEntity(String),
    /// No root element at all (an empty body).
    Empty,
    /// The body ended before the root element closed.
    Truncated,
    /// Something other than whitespace or comments outside the root element.
    TrailingContent,
    /// A root element other than the one this operation answers with.
    UnexpectedRoot {
        /// The root the operation answers with.
        expected: &'static str,
        /// The root found.
        found: String,
    },
    /// A body larger than `xml::MAX_BODY_BYTES`.
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Elements nested deeper than `xml::MAX_DEPTH`.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// An element's text longer than `xml::MAX_TEXT_BYTES`.
    TextTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// More entries than `xml::MAX_ENTRIES_PER_PAGE`.
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A required element or header was absent.
    Missing(&'static str),
    /// A value of the wrong form.
    InvalidValue {
        /// What was expected ("an unsigned integer").
        expected: &'static str,
        /// What was found (cut to 100 characters).
        found: String,
    },
    /// The response said `<EncodingType>url</EncodingType>` but a value was not
    /// url-encoded: the gateway echoes the encoding type without encoding (s3s-fs 0.14
    /// does). Listing again without `encoding-type` gives correct keys.
    NotUrlEncoded(DecodeError),
    /// A name or value the gateway sent breaks the rules of its type.
    InvalidName(NameError),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(msg) => write!(f, "not well-formed XML: {msg}"),
            Self::NotUtf8 => f.write_str("not UTF-8"),
            Self::DocType => f.write_str("document type declarations are not accepted"),
            Self::UnknownEntity(name) => write!(f, "unknown entity &{name};"),
            Self::Empty => f.write_str("no XML element in the body"),
            Self::Truncated => f.write_str("the body ends before the document does"),
            Self::TrailingContent => f.write_str("content outside the root element"),
            Self::UnexpectedRoot { expected, found } => {
                write!(f, "expected a {expected} document, found {found}")
            }
            Self::BodyTooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            Self::TooDeep { limit } => write!(f, "elements nested deeper than {limit}"),
            Self::TextTooLong { limit } => write!(f, "element text longer than {limit} bytes"),
            Self::TooManyEntries { limit } => write!(f, "more than {limit} entries"),
            Self::Missing(what) => write!(f, "{what} is missing"),
            Self::InvalidValue { expected, found } => {
                write!(f, "expected {expected}, found {found:?}")
            }
            Self::NotUrlEncoded(err) => write!(
                f,
                "the gateway says keys are url-encoded but this one is not ({err})"
            ),
            Self::InvalidName(err) => err.fmt(f),
        }
    }
}

/// A response (body or headers) that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {operation} response {location}: {kind}")]
pub struct ParseError {
    /// The S3 operation answered (`ListObjectsV2`).
    pub operation: &'static str,
    /// Where in the response.
    pub location: Location,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// An error about a response header.
    pub(crate) fn header(
        operation: &'static str,
        header: &'static str,
        kind: ParseErrorKind,
    ) -> Self {
        Self {
            operation,
            location: Location::Header(header),
            kind,
        }
    }
}

/// The error codes haul acts on or reports specially; anything else is kept in
/// [`S3ErrorCode::Other`]. Names and spellings are S3's
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum S3ErrorCode {
    /// 503: reduce the request rate (S3's and RGW's throttle answer).
    SlowDown,
    /// 429 (`TooManyRequests`, or a 429 without a body, as proxies and RGW's rate limiter
    /// send).
    TooManyRequests,
    /// 404: the key does not exist.
    NoSuchKey,
    /// 404: the bucket does not exist.
    NoSuchBucket,
    /// 404: the multipart upload does not exist (aborted, completed or never created).
    NoSuchUpload,
    /// 404 without a body on a request that named no particular resource kind.
    NotFound,
    /// 403: permission denied.
    AccessDenied,
    /// 403: the signature did not match (wrong secret, or a proxy rewrote the request).
    SignatureDoesNotMatch,
    /// 403: the access key id is unknown.
    InvalidAccessKeyId,
    /// 400: the `Authorization` header was malformed (often: wrong region).
    AuthorizationHeaderMalformed,
    /// 400: the session token has expired.
    ExpiredToken,
    /// 400: the session token is invalid.
    InvalidToken,
    /// 403: the request time is too far from the gateway's clock.
    RequestTimeTooSkewed,
    /// 400 (or a bare 413 from a proxy): the body is larger than allowed.
    EntityTooLarge,
    /// 400: a part other than the last is smaller than 5 MiB.
    EntityTooSmall,
    /// 400: a part of `CompleteMultipartUpload` was not found or its `ETag` differs.
    InvalidPart,
    /// 400: parts of `CompleteMultipartUpload` were not in ascending order.
    InvalidPartOrder,
    /// 409: the bucket name is taken by another account.
    BucketAlreadyExists,
    /// 409: the bucket exists and is yours (RGW answers 200 instead).
    BucketAlreadyOwnedByYou,
    /// 409: the bucket is not empty.
    BucketNotEmpty,
    /// 400: the gateway does not accept the bucket name.
    InvalidBucketName,
    /// 400: the account has too many buckets.
    TooManyBuckets,
    /// 400: the location constraint does not match the gateway (RGW: the zonegroup's
    /// api name).
    InvalidLocationConstraint,
    /// 416: the range is outside the object.
    InvalidRange,
    /// 412: an `If-Match` or similar condition failed.
    PreconditionFailed,
    /// 304: an `If-None-Match` or similar condition held.
    NotModified,
    /// 400: the connection was idle too long while sending the body.
    RequestTimeout,
    /// 500: the gateway failed.
    InternalError,
    /// 503: the gateway is unavailable.
    ServiceUnavailable,
    /// 501: the gateway does not implement this.
    NotImplemented,
    /// 405: the method is not allowed on this resource.
    MethodNotAllowed,
    /// 400: an argument was invalid.
    InvalidArgument,
    /// 400: the request was invalid.
    InvalidRequest,
    /// 400: the `Content-MD5` was not valid base64 of 16 bytes.
    InvalidDigest,
    /// 400: the body did not match `Content-MD5`.
    BadDigest,
    /// 400: the body did not match `x-amz-content-sha256`.
    XAmzContentSHA256Mismatch,
    /// 411: `Content-Length` is required.
    MissingContentLength,
    /// 400: fewer bytes arrived than `Content-Length` announced.
    IncompleteBody,
    /// 400: the XML body was not well-formed or not valid.
    MalformedXML,
    /// 400: the key is longer than the gateway allows.
    KeyTooLongError,
    /// 403: the object is archived (S3 Glacier classes).
    InvalidObjectState,
    /// 403: a bucket or user quota is exhausted (RGW).
    QuotaExceeded,
    /// 301: the bucket lives in another region or must be addressed differently.
    PermanentRedirect,
    /// 307: temporary redirect.
    TemporaryRedirect,
    /// The response carried no code and its status maps to none (a bare 400 to a `HEAD`,
    /// a proxy's 502 page).
    Unspecified,
    /// Any other code, as sent.
    Other(String),
}

impl S3ErrorCode {
    /// The code for a `<Code>` value.
    #[must_use]
    pub fn from_code(code: &str) -> Self {
        match code {
            "SlowDown" => Self::SlowDown,
            "TooManyRequests" => Self::TooManyRequests,
            "NoSuchKey" => Self::NoSuchKey,
            "NoSuchBucket" => Self::NoSuchBucket,
            "NoSuchUpload" => Self::NoSuchUpload,
            "NotFound" => Self::NotFound,
            "AccessDenied" => Self::AccessDenied,
            "SignatureDoesNotMatch" => Self::SignatureDoesNotMatch,
            "InvalidAccessKeyId" => Self::InvalidAccessKeyId,
            "AuthorizationHeaderMalformed" => Self::AuthorizationHeaderMalformed,
            "ExpiredToken" => Self::ExpiredToken,
            "InvalidToken" => Self::InvalidToken,
            "RequestTimeTooSkewed" => Self::RequestTimeTooSkewed,
            "EntityTooLarge" => Self::EntityTooLarge,
            "EntityTooSmall" => Self::EntityTooSmall,
            "InvalidPart" => Self::InvalidPart,
            "InvalidPartOrder" => Self::InvalidPartOrder,
            "BucketAlreadyExists" => Self::BucketAlreadyExists,
            "BucketAlreadyOwnedByYou" => Self::BucketAlreadyOwnedByYou,
            "BucketNotEmpty" => Self::BucketNotEmpty,
            "InvalidBucketName" => Self::InvalidBucketName,
            "TooManyBuckets" => Self::TooManyBuckets,
            "InvalidLocationConstraint" => Self::InvalidLocationConstraint,
            "InvalidRange" => Self::InvalidRange,
            "PreconditionFailed" => Self::PreconditionFailed,
            "NotModified" => Self::NotModified,
            "RequestTimeout" => Self::RequestTimeout,
            "InternalError" => Self::InternalError,
            "ServiceUnavailable" => Self::ServiceUnavailable,
            "NotImplemented" => Self::NotImplemented,
            "MethodNotAllowed" => Self::MethodNotAllowed,
            "InvalidArgument" => Self::InvalidArgument,
            "InvalidRequest" => Self::InvalidRequest,
            "InvalidDigest" => Self::InvalidDigest,
            "BadDigest" => Self::BadDigest,
            "XAmzContentSHA256Mismatch" => Self::XAmzContentSHA256Mismatch,
            "MissingContentLength" => Self::MissingContentLength,
            "IncompleteBody" => Self::IncompleteBody,
            "MalformedXML" => Self::MalformedXML,
            "KeyTooLongError" => Self::KeyTooLongError,
            "InvalidObjectState" => Self::InvalidObjectState,
            "QuotaExceeded" => Self::QuotaExceeded,
            "PermanentRedirect" => Self::PermanentRedirect,
            "TemporaryRedirect" => Self::TemporaryRedirect,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code a bodiless error response (the answer to a `HEAD`, or a proxy's) stands
    /// for, given its status and what kind of resource the request was about.
    #[must_use]
    pub fn from_status(status: u16, kind: ResourceKind) -> Self {
        match status {
            301 => Self::PermanentRedirect,
            304 => Self::NotModified,
            307 => Self::TemporaryRedirect,
            403 => Self::AccessDenied,
            404 => match kind {
                ResourceKind::Object => Self::NoSuchKey,
                ResourceKind::Bucket => Self::NoSuchBucket,
                ResourceKind::Upload => Self::NoSuchUpload,
                ResourceKind::Unspecified => Self::NotFound,
            },
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            411 => Self::MissingContentLength,
            412 => Self::PreconditionFailed,
            413 => Self::EntityTooLarge,
            416 => Self::InvalidRange,
            429 => Self::TooManyRequests,
            500 => Self::InternalError,
            501 => Self::NotImplemented,
            503 => Self::ServiceUnavailable,
            _ => Self::Unspecified,
        }
    }

    /// The code as S3 spells it (`Unspecified` for a response without one).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::SlowDown => "SlowDown",
            Self::TooManyRequests => "TooManyRequests",
            Self::NoSuchKey => "NoSuchKey",
            Self::NoSuchBucket => "NoSuchBucket",
            Self::NoSuchUpload => "NoSuchUpload",
            Self::NotFound => "NotFound",
            Self::AccessDenied => "AccessDenied",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            Self::ExpiredToken => "ExpiredToken",
            Self::InvalidToken => "InvalidToken",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::EntityTooSmall => "EntityTooSmall",
            Self::InvalidPart => "InvalidPart",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::BucketAlreadyExists => "BucketAlreadyExists",
            Self::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            Self::BucketNotEmpty => "BucketNotEmpty",
            Self::InvalidBucketName => "InvalidBucketName",
            Self::TooManyBuckets => "TooManyBuckets",
            Self::InvalidLocationConstraint => "InvalidLocationConstraint",
            Self::InvalidRange => "InvalidRange",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::NotModified => "NotModified",
            Self::RequestTimeout => "RequestTimeout",
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::NotImplemented => "NotImplemented",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::InvalidArgument => "InvalidArgument",
            Self::InvalidRequest => "InvalidRequest",
            Self::InvalidDigest => "InvalidDigest",
            Self::BadDigest => "BadDigest",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Self::MissingContentLength => "MissingContentLength",
            Self::IncompleteBody => "IncompleteBody",
            Self::MalformedXML => "MalformedXML",
            Self::KeyTooLongError => "KeyTooLongError",
            Self::InvalidObjectState => "InvalidObjectState",
            Self::QuotaExceeded => "QuotaExceeded",
            Self::PermanentRedirect => "PermanentRedirect",
            Self::TemporaryRedirect => "TemporaryRedirect",
            Self::Unspecified => "Unspecified",
            Self::Other(code) => code,
        }
    }
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request was about, so that a bodiless 404 (the answer to `HEAD`) gets the code
/// callers expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// An object (`HeadObject`, `GetObject`): 404 means [`S3ErrorCode::NoSuchKey`].
    Object,
    /// A bucket (`HeadBucket`): 404 means [`S3ErrorCode::NoSuchBucket`].
    Bucket,
    /// A multipart upload: 404 means [`S3ErrorCode::NoSuchUpload`].
    Upload,
    /// Nothing in particular: 404 means [`S3ErrorCode::NotFound`].
    Unspecified,
}

/// A `Retry-After` header: a delay, or a point in time (converted by the caller, which
/// owns the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Delay(Duration),
    /// `Retry-After: <HTTP date>`.
    At(SystemTime),
}

/// Longest message kept from an error body; S3's are one sentence.
const MAX_MESSAGE_CHARS: usize = 1024;

/// An error answer from the gateway.
///
/// Built by [`S3Error::from_response`] from whatever came back, never failing: a body that
/// is not S3 error XML (a proxy's HTML page, an empty `HEAD` answer) still gives an error
/// with the status, a code derived from it and the request id header. Only `Code`,
/// `Message`, `Resource`, `RequestId`, `HostId`, `BucketName` and `Key` are read from the
/// body: AWS's `SignatureDoesNotMatch` body also echoes the string to sign and the
/// signature provided, which are never copied into an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// HTTP status (200 for an error inside a 200 body).
    pub status: u16,
    /// The error code.
    pub code: S3ErrorCode,
    /// The gateway's message, if any (cut to 1024 characters).
    pub message: Option<String>,
    /// `RequestId` from the body, else the `x-amz-request-id` header.
    pub request_id: Option<String>,
    /// `HostId` from the body, else the `x-amz-id-2` header.
    pub host_id: Option<String>,
    /// `Resource` from the body.
    pub resource: Option<String>,
    /// The bucket, from the body or from the caller ([`S3Error::with_bucket`]).
    pub bucket: Option<String>,
    /// The key, from the body or from the caller ([`S3Error::with_key`]).
    pub key: Option<String>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<RetryAfter>,
}

impl S3Error {
    /// The error a non-2xx response stands for; see [`S3Error::from_response_for`].
    #[must_use]
    pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        Self::from_response_for(ResourceKind::Unspecified, status, headers, body)
    }

    /// The error a non-2xx response stands for, given the kind of resource the request was
    /// about (which decides the code of a bodiless 404). Never fails.
    #[must_use]
    pub fn from_response_for(
        kind: ResourceKind,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let parsed = ErrorBody::parse(body).unwrap_or_default();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| cut(v.trim()))
                .filter(|v| !v.is_empty())
        };
        let code = match parsed.code {
            Some(code) => S3ErrorCode::from_code(&code),
            None => S3ErrorCode::from_status(status, kind),
        };
        Self {
            status,
            code,
            message: parsed.message,
            request_id: parsed.request_id.or_else(|| header("x-amz-request-id")),
            host_id: parsed.host_id.or_else(|| header("x-amz-id-2")),
            resource: parsed.resource,
            bucket: parsed.bucket,
            key: parsed.key,
            retry_after: headers.get(http::header::RETRY_AFTER).and_then(|v| {
                let v = v.to_str().ok()?.trim();
                match v.parse::<u64>() {
                    Ok(seconds) => Some(RetryAfter::Delay(Duration::from_secs(seconds))),
                    Err(_) => httpdate::parse_http_date(v).ok().map(RetryAfter::At),
                }
            }),
        }
    }

    /// Adds the bucket the request was about, unless the body named one.
    #[must_use]
    pub fn with_bucket(mut self, bucket: &str) -> Self {
        if self.bucket.is_none() {
            self.bucket = Some(bucket.to_owned());
        }
        self
    }

    /// Adds the key the request was about, unless the body named one.
    #[must_use]
    pub fn with_key(mut self, key: &str) -> Self {
        if self.key.is_none() {
            self.key = Some(key.to_owned());
        }
        self
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.status)?;
        match (&self.bucket, &self.key) {
            (Some(bucket), Some(key)) => write!(f, " on {bucket}/{key}")?,
            (Some(bucket), None) => write!(f, " on bucket {bucket}")?,
            (None, Some(key)) => write!(f, " on key {key}")?,
            (None, None) => {
                if let Some(resource) = &self.resource {
                    write!(f, " on {resource}")?;
                }
            }
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

/// If `body` is an `<Error>` document, the error it carries (status 200).
///
/// `CompleteMultipartUpload`, `CopyObject` and `UploadPartCopy` answer 200 as soon as they
/// start and can fail later, reporting the failure in the body; their parsers call this
/// first. A body whose root is `Error` gives an error even when it is cut short.
#[must_use]
pub fn error_in_200_body(body: &[u8]) -> Option<S3Error> {
    let parsed = ErrorBody::parse(body)?;
    Some(S3Error {
        status: 200,
        code: parsed
            .code
            .as_deref()
            .map_or(S3ErrorCode::Unspecified, S3ErrorCode::from_code),
        message: parsed.message,
        request_id: parsed.request_id,
        host_id: parsed.host_id,
        resource: parsed.resource,
        bucket: parsed.bucket,
        key: parsed.key,
        retry_after: None,
    })
}

/// A parse failure or an error reported by the gateway inside a 200 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The body could not be understood.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The body was an `<Error>` document.
    #[error(transparent)]
    Service(Box<S3Error>),
}

/// The fields of an `<Error>` body.
#[derive(Debug, Default)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    host_id: Option<String>,
    resource: Option<String>,
    bucket: Option<String>,
    key: Option<String>,
}

impl ErrorBody {
    /// The fields read before the end or the first problem; `None` unless the root is
    /// `Error`.
    fn parse(body: &[u8]) -> Option<Self> {
        let mut xml = XmlReader::new(body, "error");
        if xml.open_root().ok()? != "Error" {
            return None;
        }
        let mut out = Self::default();
        while let Ok(Some(step)) = xml.next() {
            let Step::Close(text) = step else { continue };
            let text = cut(text.trim());
            let slot = match xml.path() {
                "Error/Code" => &mut out.code,
                "Error/Message" => &mut out.message,
                "Error/RequestId" => &mut out.request_id,
                "Error/HostId" => &mut out.host_id,
                "Error/Resource" => &mut out.resource,
                "Error/BucketName" => &mut out.bucket,
                "Error/Key" => &mut out.key,
                _ => continue,
            };
            if !text.is_empty() {
                *slot = Some(text);
            }
        }
        Some(out)
    }
}

fn cut(text: &str) -> String {
    text.chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const RGW_NO_SUCH_KEY: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message></Message><BucketName>db_wal</BucketName><RequestId>tx00000a1b2c3d4e5f6-0065f1a2b3-1234-default</RequestId><HostId>1234-default-default</HostId></Error>"#;

    #[test]
    fn parses_an_rgw_error_body() {
        let err = S3Error::from_response(404, &HeaderMap::new(), RGW_NO_SUCH_KEY).with_key("a/b");
        assert_eq!(err.code, S3ErrorCode::NoSuchKey);
        assert_eq!(err.bucket.as_deref(), Some("db_wal"));
        assert_eq!(err.message, None);
        assert_eq!(
            err.to_string(),
            "NoSuchKey (404) on db_wal/a/b [request id tx00000a1b2c3d4e5f6-0065f1a2b3-1234-default]"
        );
    }

    #[test]
    fn never_copies_the_signature_from_a_signature_error() {
        let body = b"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256</StringToSign><SignatureProvided>f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41</SignatureProvided><RequestId>4442587FB7D0A2F9</RequestId></Error>";
        let err = S3Error::from_response(403, &HeaderMap::new(), body);
        assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("f0e8bdb87c96"), "{shown}");
        assert!(shown.contains("4442587FB7D0A2F9"));
    }

    #[test]
    fn bodiless_answers_get_codes_from_status_and_kind() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-request-id", HeaderValue::from_static("req-1"));
        let head = |kind, status| S3Error::from_response_for(kind, status, &headers, b"");
        assert_eq!(head(ResourceKind::Object, 404).code, S3ErrorCode::NoSuchKey);
        assert_eq!(
            head(ResourceKind::Bucket, 404).code,
            S3ErrorCode::NoSuchBucket
        );
        assert_eq!(
            head(ResourceKind::Upload, 404).code,
            S3ErrorCode::NoSuchUpload
        );
        assert_eq!(
            head(ResourceKind::Unspecified, 404).code,
            S3ErrorCode::NotFound
        );
        assert_eq!(
            head(ResourceKind::Object, 429).code,
            S3ErrorCode::TooManyRequests
        );
        assert_eq!(
            head(ResourceKind::Object, 403).code,
            S3ErrorCode::AccessDenied
        );
        assert_eq!(
            head(ResourceKind::Object, 502).code,
            S3ErrorCode::Unspecified
        );
        assert_eq!(
            head(ResourceKind::Object, 404).request_id.as_deref(),
            Some("req-1")
        );
    }

    #[test]
    fn proxy_pages_and_garbage_still_give_an_error() {
        let html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
        let err = S3Error::from_response(502, &HeaderMap::new(), html);
        assert_eq!((err.status, &err.code), (502, &S3ErrorCode::Unspecified));
        let err = S3Error::from_response(503, &HeaderMap::new(), b"\xff\x00<<<");
        assert_eq!(err.code, S3ErrorCode::ServiceUnavailable);
        let err = S3Error::from_response(
            503,
            &HeaderMap::new(),
            b"<Error><Code>SlowDown</Code><Message>Please reduce",
        );
        assert_eq!(err.code, S3ErrorCode::SlowDown);
    }

    #[test]
    fn unknown_codes_are_kept() {
        let err = S3Error::from_response(
            400,
            &HeaderMap::new(),
            b"<Error><Code>ZonegroupDefaultPlacementMisconfiguration</Code></Error>",
        );
        assert_eq!(
            err.code,
            S3ErrorCode::Other("ZonegroupDefaultPlacementMisconfiguration".into())
        );
    }

    #[test]
    fn reads_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let err = S3Error::from_response(503, &headers, b"");
        assert_eq!(
            err.retry_after,
            Some(RetryAfter::Delay(Duration::from_secs(7)))
        );
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        let err = S3Error::from_response(503, &headers, b"");
        assert!(matches!(err.retry_after, Some(RetryAfter::At(_))));
    }

    #[test]
    fn finds_errors_in_200_bodies() {
        let body = b"  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>";
        let err = error_in_200_body(body).unwrap();
        assert_eq!((err.status, &err.code), (200, &S3ErrorCode::InternalError));
        assert!(error_in_200_body(b"<CompleteMultipartUploadResult/>").is_none());
        assert!(error_in_200_body(b"").is_none());
    }
}
