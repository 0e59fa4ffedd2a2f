//! S3 error answers: the target `error_xml`, and the `<Error>` documents the multipart and
//! copy targets put in 200 bodies.
//!
//! As a body, any bytes under any status give an error value: the status kept, the code
//! from the body or else from the status, every text field short, trimmed of control
//! characters and non-empty, and what `error_in_200_body` reads the same as what
//! `S3Error::from_response` reads. As a description, an `<Error>` document with chosen
//! fields, response headers (`x-amz-request-id`, `x-amz-id-2`, `Retry-After`) and the
//! elements AWS echoes on `SignatureDoesNotMatch` (string to sign, signature, canonical
//! request) gives exactly the fields described, and nothing echoed ever reaches the error's
//! `Display` or `Debug`: signing material never reaches a log.

use std::time::{Duration, SystemTime};

use engine::s3::{ResourceKind, RetryAfter, S3Error, S3ErrorCode, error_in_200_body};
use http::{HeaderMap, HeaderValue};

use crate::input::Input;
use crate::xml::{self, Doc};

/// Longest text the error keeps from a body or header, in characters.
const MAX_CHARS: usize = 1024;

/// Stands for the signing material AWS echoes in a `SignatureDoesNotMatch` body.
const CANARY: &str = "haul-fuzz-canary-1b7c";

/// The codes a description picks from: known ones, one haul does not know, blanks.
const CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchUpload",
    "InvalidPart",
    "InvalidPartOrder",
    "SlowDown",
    "SignatureDoesNotMatch",
    "InternalError",
    "XNotAThing",
    "  NoSuchKey\n",
    "",
];

/// The `error_xml` target.
pub fn error_xml(data: &[u8]) {
    as_body(data);
    as_description(&mut Input::new(data));
}

/// What every error value holds.
fn check_fields(err: &S3Error) {
    for field in [
        err.message.as_ref(),
        err.request_id.as_ref(),
        err.host_id.as_ref(),
        err.resource.as_ref(),
        err.bucket.as_ref(),
        err.key.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!field.is_empty(), "an empty field kept: {err:?}");
        assert!(
            field.chars().count() <= MAX_CHARS,
            "a field above 1024 characters"
        );
        assert!(
            !field.chars().any(char::is_control),
            "a control character kept: {err:?}"
        );
    }
    let shown = err.to_string();
    assert!(shown.contains(err.code.as_str()), "{shown}");
}

fn as_body(data: &[u8]) {
    let in_200 = error_in_200_body(data);
    if let Some(e) = &in_200 {
        assert_eq!(e.status, 200);
        assert_eq!(e.retry_after, None);
        check_fields(e);
    }
    for status in [404, 503] {
        let err = S3Error::from_response(status, &HeaderMap::new(), data);
        assert_eq!(err.status, status);
        check_fields(&err);
        match &in_200 {
            // The same body, read by both: the same fields.
            Some(e) => {
                let code = if e.code == S3ErrorCode::Unspecified {
                    S3ErrorCode::from_status(status, ResourceKind::Unspecified)
                } else {
                    e.code.clone()
                };
                assert_eq!(
                    err,
                    S3Error {
                        status,
                        code,
                        ..e.clone()
                    },
                    "from_response and error_in_200_body read one body differently"
                );
            }
            None => {
                assert_eq!(
                    err.code,
                    S3ErrorCode::from_status(status, ResourceKind::Unspecified)
                );
                assert_eq!(
                    (&err.message, &err.resource, &err.bucket, &err.key),
                    (&None, &None, &None, &None),
                    "fields read from a body that is not an <Error>"
                );
            }
        }
    }
}

/// S3's error fields as a description chose them.
#[derive(Debug, Default)]
pub struct ErrorSpec {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    host_id: Option<String>,
    resource: Option<String>,
    bucket: Option<String>,
    key: Option<String>,
    echo: bool,
    declaration: bool,
}

/// Text without the canary in it (the input could spell it out).
fn scrub(mut text: String) -> String {
    while text.contains(CANARY) {
        text = text.replace(CANARY, "");
    }
    text
}

impl ErrorSpec {
    /// Reads a description.
    pub fn read(input: &mut Input<'_>) -> Self {
        let field =
            |input: &mut Input<'_>, max| input.flag().then(|| scrub(xml::safe_text(input, max)));
        let code = if input.flag() {
            Some(CODES[input.below(CODES.len())].to_owned())
        } else {
            field(input, 64)
        };
        Self {
            code,
            message: field(input, 1300),
            request_id: field(input, 64),
            host_id: field(input, 128),
            resource: field(input, 200),
            bucket: field(input, 64),
            key: field(input, 300),
            echo: input.flag(),
            declaration: input.flag(),
        }
    }

    /// The `<Error>` document.
    #[must_use]
    pub fn render(&self, refs: bool) -> Vec<u8> {
        let mut out = String::new();
        if self.declaration {
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        let mut doc = Doc::default();
        doc.open("Error");
        for (name, value) in [
            ("Code", &self.code),
            ("Message", &self.message),
            ("BucketName", &self.bucket),
            ("Key", &self.key),
            ("Resource", &self.resource),
            ("RequestId", &self.request_id),
            ("HostId", &self.host_id),
        ] {
            if let Some(v) = value {
                doc.leaf(name, v, refs);
            }
        }
        if self.echo {
            // What AWS sends back with SignatureDoesNotMatch.
            doc.leaf("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE", refs);
            doc.leaf(
                "StringToSign",
                &format!("AWS4-HMAC-SHA256\n20240101T000000Z\n{CANARY}"),
                refs,
            );
            doc.leaf("SignatureProvided", CANARY, refs);
            doc.leaf("StringToSignBytes", &format!("41 57 {CANARY}"), refs);
            doc.leaf("CanonicalRequest", &format!("GET\n/{CANARY}\n"), refs);
            doc.leaf("CanonicalRequestBytes", CANARY, refs);
        }
        let body = doc.finish("Error");
        out.push_str(&String::from_utf8_lossy(&body));
        out.into_bytes()
    }

    /// The error this document stands for under `status`, with `headers` as described.
    #[must_use]
    pub fn expected(&self, status: u16, headers: Option<&HeaderSpec>) -> S3Error {
        let code = cut(self.code.as_deref()).map_or_else(
            || S3ErrorCode::from_status(status, ResourceKind::Unspecified),
            |c| S3ErrorCode::from_code(&c),
        );
        let header = |pick: fn(&HeaderSpec) -> Option<&String>| {
            headers.and_then(pick).and_then(|v| cut(Some(v)))
        };
        S3Error {
            status,
            code,
            message: cut(self.message.as_deref()),
            request_id: cut(self.request_id.as_deref())
                .or_else(|| header(|h| h.request_id.as_ref())),
            host_id: cut(self.host_id.as_deref()).or_else(|| header(|h| h.host_id.as_ref())),
            resource: cut(self.resource.as_deref()),
            bucket: cut(self.bucket.as_deref()),
            key: cut(self.key.as_deref()),
            retry_after: headers.and_then(|h| h.retry_after),
        }
    }
}

/// A field as the error keeps it: trimmed, at most 1024 characters, control characters as
/// spaces, absent when empty.
fn cut(text: Option<&str>) -> Option<String> {
    let kept: String = text?
        .trim()
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Response headers as a description chose them.
#[derive(Debug, Default)]
pub struct HeaderSpec {
    request_id: Option<String>,
    host_id: Option<String>,
    retry_after_text: Option<String>,
    retry_after: Option<RetryAfter>,
}

impl HeaderSpec {
    fn read(input: &mut Input<'_>) -> Self {
        let visible = |input: &mut Input<'_>, max| {
            input.flag().then(|| {
                input
                    .bytes(max)
                    .iter()
                    .map(|&b| char::from(0x20 + b % 95))
                    .collect::<String>()
            })
        };
        let request_id = visible(input, 64);
        let host_id = visible(input, 128);
        let (retry_after_text, retry_after) = match input.below(4) {
            0 => {
                let secs = input.u64();
                (
                    Some(format!(" {secs}")),
                    Some(RetryAfter::Delay(Duration::from_secs(secs))),
                )
            }
            1 => (
                Some("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
                Some(RetryAfter::At(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480),
                )),
            ),
            2 => (Some("soon".to_owned()), None),
            _ => (None, None),
        };
        Self {
            request_id,
            host_id,
            retry_after_text,
            retry_after,
        }
    }

    fn map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("x-amz-request-id", &self.request_id),
            ("x-amz-id-2", &self.host_id),
            ("retry-after", &self.retry_after_text),
        ] {
            if let Some(v) = value {
                map.insert(name, HeaderValue::from_str(v).expect("visible ASCII"));
            }
        }
        map
    }
}

fn as_description(input: &mut Input<'_>) {
    let status = input.u16();
    let refs = input.flag();
    let headers = HeaderSpec::read(input);
    let spec = ErrorSpec::read(input);
    let body = match input.below(4) {
        // A proxy's page, or the empty body of a HEAD: everything from status and headers.
        0 => b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
        1 => Vec::new(),
        _ => spec.render(refs),
    };
    let err = S3Error::from_response(status, &headers.map(), &body);
    let want = if body.starts_with(b"<html>") || body.is_empty() {
        ErrorSpec::default().expected(status, Some(&headers))
    } else {
        spec.expected(status, Some(&headers))
    };
    assert_eq!(err, want, "the error read differs from the error written");
    check_fields(&err);
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(
            !shown.contains(CANARY),
            "signing material echoed into an error: {shown}"
        );
    }
    if !body.starts_with(b"<Error") && !body.starts_with(b"<?xml") {
        assert_eq!(
            error_in_200_body(&body),
            None,
            "a body without an <Error> read as one"
        );
    } else {
        let in_200 = error_in_200_body(&body).expect("an <Error> document");
        assert_eq!(in_200, spec.expected(200, None));
        assert!(!format!("{in_200} {in_200:?}").contains(CANARY));
    }
}
