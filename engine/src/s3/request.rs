//! What every operation's `request` shares: the error type, and the small builder that
//! turns an endpoint, a bucket, a key, query parameters and headers into an
//! `http::Request<()>` with an absolute URI and an explicit `Host` header (so that what is
//! signed is what is sent, port included when it is not the default).

use base64::Engine as _;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::{Method, Request};
use md5::{Digest as _, Md5};

use super::encoding::encode_query_value;
use super::endpoint::Endpoint;
use super::metadata::{META_PREFIX, UserMetadata};
use super::names::{BucketName, ObjectKey};

/// Why a request could not be built. Names the operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A header value (content type, metadata, copy source…) cannot be sent as a header.
    #[error("{operation}: value of header {header} cannot be sent: {reason}")]
    InvalidHeader {
        /// The operation.
        operation: &'static str,
        /// The header.
        header: String,
        /// Why.
        reason: &'static str,
    },
    /// A `DeleteObjects` request with no keys, or more than S3's limit of 1,000.
    #[error("{operation}: {count} keys in one request, it takes 1 to {limit}")]
    KeyCount {
        /// The operation.
        operation: &'static str,
        /// Keys given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A key holding a character XML 1.0 cannot carry (a control character other than tab,
    /// line feed and carriage return, or U+FFFE/U+FFFF), so it cannot appear in an XML
    /// request body; delete such keys one at a time with `DeleteObject`.
    #[error("{operation}: key {key:?} holds characters an XML request body cannot carry")]
    KeyNotXmlSafe {
        /// The operation.
        operation: &'static str,
        /// The key (cut to 300 bytes).
        key: String,
    },
    /// `CompleteMultipartUpload` parts must be given, in strictly ascending order.
    #[error("{operation}: {reason}")]
    Parts {
        /// The operation.
        operation: &'static str,
        /// What is wrong with the list.
        reason: String,
    },
    /// `UploadPartCopy` needs a bounded source range (`bytes=a-b`).
    #[error("{operation}: the copy source range must have an end")]
    OpenCopyRange {
        /// The operation.
        operation: &'static str,
    },
    /// Two options that S3 refuses together (a `Range` and a part number, say).
    #[error("{operation}: {reason}")]
    Combination {
        /// The operation.
        operation: &'static str,
        /// Which options conflict.
        reason: &'static str,
    },
    /// A body larger than S3 accepts in one request.
    #[error("{operation}: {size_bytes} bytes is more than the {limit_bytes} one request may carry")]
    TooLarge {
        /// The operation.
        operation: &'static str,
        /// The size asked for.
        size_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// The `http` crate refused the request (a bug in this module: every part is encoded).
    #[error("{operation}: could not build the request: {source}")]
    Build {
        /// The operation.
        operation: &'static str,
        /// The `http` error.
        source: http::Error,
    },
}

/// The base64 MD5 of a body, for `Content-MD5` (required by S3 and RGW on
/// `DeleteObjects`, checked by both wherever it is sent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentMd5(String);

impl ContentMd5 {
    /// Computes the digest of `body`.
    #[must_use]
    pub fn of(body: &[u8]) -> Self {
        Self::from_digest(Md5::digest(body).into())
    }

    /// From a digest computed elsewhere (while reading a part, say).
    #[must_use]
    pub fn from_digest(digest: [u8; 16]) -> Self {
        Self(base64::engine::general_purpose::STANDARD.encode(digest))
    }

    /// The header value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Builds one operation's request; see the module doc.
pub(crate) struct RequestBuilder<'a> {
    operation: &'static str,
    method: Method,
    endpoint: &'a Endpoint,
    bucket: Option<&'a BucketName>,
    key: Option<&'a ObjectKey>,
    query: Vec<(&'static str, Option<String>)>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl<'a> RequestBuilder<'a> {
    pub(crate) fn new(operation: &'static str, method: Method, endpoint: &'a Endpoint) -> Self {
        Self {
            operation,
            method,
            endpoint,
            bucket: None,
            key: None,
            query: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn bucket(mut self, bucket: &'a BucketName) -> Self {
        self.bucket = Some(bucket);
        self
    }

    pub(crate) fn object(mut self, bucket: &'a BucketName, key: &'a ObjectKey) -> Self {
        self.bucket = Some(bucket);
        self.key = Some(key);
        self
    }

    /// A `name=value` parameter; the value is encoded by [`encode_query_value`].
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, Some(value.into())));
        self
    }

    /// A parameter when `value` is `Some`.
    pub(crate) fn query_opt(self, name: &'static str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.query(name, value),
            None => self,
        }
    }

    /// A bare sub-resource flag (`?uploads`, `?delete`).
    pub(crate) fn flag(mut self, name: &'static str) -> Self {
        self.query.push((name, None));
        self
    }

    /// A header; fails for values a header cannot carry.
    pub(crate) fn header(
        mut self,
        name: HeaderName,
        value: impl AsRef<str>,
    ) -> Result<Self, RequestError> {
        let value = header_value(self.operation, &name, value.as_ref())?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// A header when `value` is `Some`.
    pub(crate) fn header_opt(
        self,
        name: HeaderName,
        value: Option<impl AsRef<str>>,
    ) -> Result<Self, RequestError> {
        match value {
            Some(value) => self.header(name, value),
            None => Ok(self),
        }
    }

    /// `x-amz-meta-*` headers (names and values were checked by [`UserMetadata`]).
    pub(crate) fn metadata(
        mut self,
        metadata: Option<&UserMetadata>,
    ) -> Result<Self, RequestError> {
        for (name, value) in metadata.into_iter().flat_map(UserMetadata::iter) {
            let full = format!("{META_PREFIX}{name}");
            let header = HeaderName::from_bytes(full.as_bytes()).map_err(|_| {
                RequestError::InvalidHeader {
                    operation: self.operation,
                    header: full.clone(),
                    reason: "not a valid header name",
                }
            })?;
            self = self.header(header, value)?;
        }
        Ok(self)
    }

    /// `Content-Length`, and `Content-MD5` and `Content-Type: application/xml` when the
    /// body is not empty: the headers of an in-memory XML body.
    pub(crate) fn xml_body_headers(self, body: &[u8]) -> Result<Self, RequestError> {
        let this = self.header(CONTENT_LENGTH, body.len().to_string())?;
        if body.is_empty() {
            return Ok(this);
        }
        this.header(CONTENT_TYPE, "application/xml")?.header(
            HeaderName::from_static("content-md5"),
            ContentMd5::of(body).0,
        )
    }

    pub(crate) fn build(self) -> Result<Request<()>, RequestError> {
        let (mut uri, host) = self.endpoint.locate(self.bucket, self.key);
        for (i, (name, value)) in self.query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(name);
            if let Some(value) = value {
                uri.push('=');
                uri.push_str(&encode_query_value(value));
            }
        }
        let mut builder = Request::builder()
            .method(self.method)
            .uri(uri)
            .header(HOST, host);
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder.body(()).map_err(|source| RequestError::Build {
            operation: self.operation,
            source,
        })
    }
}

/// A header value, refusing control characters and non-ASCII (which HTTP/1.1 header values
/// cannot carry portably, and which `SigV4` cannot canonicalise).
pub(crate) fn header_value(
    operation: &'static str,
    name: &HeaderName,
    value: &str,
) -> Result<HeaderValue, RequestError> {
    let refuse = |reason| RequestError::InvalidHeader {
        operation,
        header: name.as_str().to_owned(),
        reason,
    };
    if !value.is_ascii() {
        return Err(refuse("not ASCII"));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(refuse("holds a control character"));
    }
    HeaderValue::from_str(value).map_err(|_| refuse("not a valid header value"))
}

/// `value` with the five XML special characters escaped, and the carriage return, line
/// feed and tab written as character references so an XML parser cannot normalise them
/// away (a literal CR in element text reads back as LF).
pub(crate) fn escape_xml_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// True when every character of `value` may appear in an XML 1.0 document (escaped or
/// not): `Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`.
pub(crate) fn is_xml_safe(value: &str) -> bool {
    value.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_is_base64_of_the_digest() {
        // RFC 1864's example digest of "" is 1B2M2Y8AsgTpgAmY7PhCfg==.
        assert_eq!(ContentMd5::of(b"").as_str(), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn header_values_refuse_non_ascii_and_controls() {
        let name = HeaderName::from_static("x-amz-meta-a");
        assert!(header_value("PutObject", &name, "plain value").is_ok());
        assert!(header_value("PutObject", &name, "tab\tok").is_ok());
        let err = header_value("PutObject", &name, "café")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PutObject") && err.contains("x-amz-meta-a"),
            "{err}"
        );
        assert!(header_value("PutObject", &name, "a\r\nInjected: 1").is_err());
    }

    #[test]
    fn xml_text_escaping_keeps_every_character() {
        assert_eq!(
            escape_xml_text("a&b<c>\"d'\r\n\t"),
            "a&amp;b&lt;c&gt;&quot;d&apos;&#13;&#10;&#9;"
        );
        assert!(is_xml_safe("ok \t\r\n 日本 🦀"));
        assert!(!is_xml_safe("bell\u{7}"));
        assert!(!is_xml_safe("\u{FFFE}"));
    }
}
