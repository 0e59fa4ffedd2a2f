//! AWS Signature Version 4 for S3 requests, through the `aws-sigv4` crate.
//!
//! [`sign`] takes the time and the credentials as parameters, so tests are byte-exact
//! (the known-answer test below is the AWS documentation's example). Settings, and why:
//!
//! - `PercentEncodingMode::Single`: request builders already percent-encode the path once
//!   (`encoding::encode_path`); S3 verifies over that path, so it must not be encoded again
//!   (double encoding is for other AWS services).
//! - `UriPathNormalizationMode::Disabled`: `a//b` and `../x` are distinct keys; S3 and RGW
//!   verify over the path as sent, so normalizing it would break their signatures.
//! - `PayloadChecksumKind::XAmzSha256`: S3 requires `x-amz-content-sha256` on every
//!   `SigV4` request, so the header is added and signed.
//! - No `x-amz-checksum-*`, `CRC64NVME` or `aws-chunked` trailers, ever: Ceph RGW 16 does
//!   not understand them, and haul's integrity checks are its own (Content-MD5, BLAKE3).

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode, sign as sigv4_sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;

/// The `SigV4` service name for S3.
const SERVICE: &str = "s3";

/// What the `x-amz-content-sha256` header says about the body.
///
/// The choice is made by the caller, per request:
/// - [`PayloadHash::Unsigned`] (`UNSIGNED-PAYLOAD`) for streamed bodies (`PutObject`,
///   `UploadPart`): hashing would mean reading a part twice; the body is protected by TLS
///   or `Content-MD5` instead. It is what most tools send over plain HTTP and what Ceph
///   RGW 16 accepts.
/// - [`PayloadHash::for_body`] for small in-memory bodies (the XML of `DeleteObjects`,
///   `CompleteMultipartUpload`, `CreateBucket`), so the body is covered by the signature.
/// - [`PayloadHash::Empty`] for requests without a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadHash {
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The SHA-256 of no bytes.
    Empty,
    /// The lowercase hex SHA-256 of the body (64 characters).
    Sha256Hex(String),
}

impl PayloadHash {
    /// The SHA-256 of `body`, or [`PayloadHash::Empty`] when it is empty.
    #[must_use]
    pub fn for_body(body: &[u8]) -> Self {
        if body.is_empty() {
            Self::Empty
        } else {
            Self::Sha256Hex(hex::encode(Sha256::digest(body)))
        }
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The request has no `Host` header; the request builders always set one.
    #[error("the request has no Host header to sign")]
    MissingHost,
    /// A header value is not visible ASCII, which `SigV4` cannot canonicalise.
    #[error("header {name} has a value that is not visible ASCII and cannot be signed")]
    HeaderNotAscii {
        /// The header's name.
        name: String,
    },
    /// A [`PayloadHash::Sha256Hex`] that is not 64 lowercase hex digits.
    #[error("payload hash {0:?} is not 64 lowercase hex digits")]
    InvalidPayloadHash(String),
    /// The signing library refused the request or parameters (the message never holds the
    /// secret).
    #[error("SigV4 signing failed: {0}")]
    Signer(String),
}

/// Signs `req` for S3 in `region` at `now`: adds `x-amz-date`, `x-amz-content-sha256`,
/// `x-amz-security-token` (for session credentials) and `Authorization`, replacing any
/// left from an earlier signing (a retried request is signed again).
///
/// Every header on the request is signed except those `SigV4` leaves out because proxies
/// change them (`user-agent`, `transfer-encoding`, `x-amzn-trace-id`), so headers added
/// after signing are the transport's business and must not be ones S3 checks.
///
/// # Errors
///
/// [`SignError`] when `Host` is missing, a header value is not ASCII, the payload hash is
/// malformed, or the signer refuses the input.
pub fn sign(
    req: &mut http::Request<()>,
    creds: &Credentials,
    region: &str,
    payload: &PayloadHash,
    now: SystemTime,
) -> Result<(), SignError> {
    if !req.headers().contains_key(HOST) {
        return Err(SignError::MissingHost);
    }
    let body = match payload {
        PayloadHash::Unsigned => SignableBody::UnsignedPayload,
        PayloadHash::Empty => SignableBody::Bytes(&[]),
        PayloadHash::Sha256Hex(hex) => {
            let valid = hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid {
                return Err(SignError::InvalidPayloadHash(
                    hex.chars().take(80).collect(),
                ));
            }
            SignableBody::Precomputed(hex.clone())
        }
    };
    for stale in [
        AUTHORIZATION,
        HeaderName::from_static("x-amz-date"),
        HeaderName::from_static("x-amz-content-sha256"),
        HeaderName::from_static("x-amz-security-token"),
    ] {
        req.headers_mut().remove(stale);
    }

    let mut headers = Vec::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        let value = value.to_str().map_err(|_| SignError::HeaderNotAscii {
            name: name.as_str().to_owned(),
        })?;
        headers.push((name.as_str(), value));
    }
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(req.method().as_str(), uri, headers.into_iter(), body)
        .map_err(|e| SignError::Signer(e.to_string()))?;

    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.session_token_mode = SessionTokenMode::Include;

    let identity: Identity = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        creds.session_token().map(str::to_owned),
        None,
        "haul",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| SignError::Signer(e.to_string()))?
        .into();
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| SignError::Signer(e.to_string()))?
        .into_parts();

    let (new_headers, _query) = instructions.into_parts();
    for header in new_headers {
        let mut value =
            HeaderValue::from_str(header.value()).map_err(|_| SignError::HeaderNotAscii {
                name: header.name().to_owned(),
            })?;
        // `Debug` of a sensitive value prints `Sensitive`, so a logged request never shows
        // the signature or the session token.
        value.set_sensitive(header.sensitive() || header.name() == AUTHORIZATION.as_str());
        let name = HeaderName::from_bytes(header.name().as_bytes())
            .map_err(|_| SignError::Signer(format!("invalid header name {:?}", header.name())))?;
        req.headers_mut().insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::s3::endpoint::{Addressing, Endpoint};
    use crate::s3::get_object::GetObject;
    use crate::s3::names::{BucketName, ByteRange, ObjectKey};

    /// 2013-05-24T00:00:00Z, the AWS documentation's example time.
    fn example_time() -> SystemTime {
        httpdate::parse_http_date("Fri, 24 May 2013 00:00:00 GMT").unwrap()
    }

    fn example_creds() -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        )
    }

    /// The "GET Object" example of
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>.
    #[test]
    fn matches_the_aws_documentation_example() {
        let ep = Endpoint::parse(
            "https://s3.amazonaws.com",
            Addressing::VirtualHost,
            "us-east-1",
        )
        .unwrap();
        let bucket = BucketName::new("examplebucket").unwrap();
        let key = ObjectKey::new("test.txt").unwrap();
        let mut req = GetObject {
            bucket: &bucket,
            key: &key,
            range: Some(ByteRange::new(0, 9).unwrap()),
            if_match: None,
            part_number: None,
        }
        .request(&ep)
        .unwrap();
        sign(
            &mut req,
            &example_creds(),
            "us-east-1",
            &PayloadHash::Empty,
            example_time(),
        )
        .unwrap();
        let h = |name: &str| req.headers().get(name).unwrap().to_str().unwrap();
        assert_eq!(h("host"), "examplebucket.s3.amazonaws.com");
        assert_eq!(h("x-amz-date"), "20130524T000000Z");
        assert_eq!(
            h("x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            h("authorization"),
            // The documentation writes the parts without a space after the commas; aws-sigv4
            // writes ", ". Both are valid (the separator is not signed).
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(req.headers().get("authorization").unwrap().is_sensitive());
    }

    /// Signing twice (a retry) replaces the first signature instead of adding a second.
    #[test]
    fn resigning_replaces_the_signature() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        let key = ObjectKey::new("a").unwrap();
        let mut req = GetObject {
            bucket: &bucket,
            key: &key,
            range: None,
            if_match: None,
            part_number: None,
        }
        .request(&ep)
        .unwrap();
        let creds = example_creds();
        sign(
            &mut req,
            &creds,
            "us-east-1",
            &PayloadHash::Empty,
            example_time(),
        )
        .unwrap();
        let later = example_time() + Duration::from_mins(1);
        sign(&mut req, &creds, "us-east-1", &PayloadHash::Unsigned, later).unwrap();
        assert_eq!(req.headers().get_all("authorization").iter().count(), 1);
        assert_eq!(req.headers()["x-amz-date"], "20130524T000100Z");
        assert_eq!(req.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    }

    /// Recomputes the signature from first principles (the `SigV4` spec, with sha2 and a
    /// hand-written HMAC) over the path exactly as sent, and compares: keys with spaces,
    /// `+`, `%`, `//` and `..` are signed over the encoded path, with no double encoding
    /// and no normalisation.
    #[test]
    fn special_keys_are_signed_over_the_path_that_is_sent() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("db_wal").unwrap();
        for raw in ["a b+c%d", "x//y/../z", "./日本 語", "q?x=1#f&y"] {
            let key = ObjectKey::new(raw).unwrap();
            let mut req = GetObject {
                bucket: &bucket,
                key: &key,
                range: None,
                if_match: None,
                part_number: None,
            }
            .request(&ep)
            .unwrap();
            let sent_path = req.uri().path().to_owned();
            assert!(
                !sent_path.contains("%25") || raw.contains('%'),
                "{sent_path}"
            );
            sign(
                &mut req,
                &example_creds(),
                "us-east-1",
                &PayloadHash::Empty,
                example_time(),
            )
            .unwrap();
            let expected = reference_signature(&sent_path, "rgw:7480");
            let auth = req.headers()["authorization"].to_str().unwrap();
            assert!(
                auth.ends_with(&format!("Signature={expected}")),
                "{raw}: {auth}"
            );
        }
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner_hash = Sha256::new()
            .chain_update(&inner)
            .chain_update(data)
            .finalize();
        Sha256::new()
            .chain_update(&outer)
            .chain_update(inner_hash)
            .finalize()
            .to_vec()
    }

    fn reference_signature(path: &str, host: &str) -> String {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let canonical = format!(
            "GET\n{path}\n\nhost:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n{empty}"
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", b"20130524");
        let key = hmac(&key, b"us-east-1");
        let key = hmac(&key, b"s3");
        let key = hmac(&key, b"aws4_request");
        hex::encode(hmac(&key, string_to_sign.as_bytes()))
    }

    #[test]
    fn session_tokens_are_sent_and_signed() {
        let ep = Endpoint::parse("http://rgw:7480", Addressing::PathStyle, "us-east-1").unwrap();
        let bucket = BucketName::new("b").unwrap();
        let key = ObjectKey::new("k").unwrap();
        let mut req = GetObject {
            bucket: &bucket,
            key: &key,
            range: None,
            if_match: None,
            part_number: None,
        }
        .request(&ep)
        .unwrap();
        let creds = Credentials::new("AK", "SECRET", Some("TOKEN".into()));
        sign(
            &mut req,
            &creds,
            "us-east-1",
            &PayloadHash::Empty,
            example_time(),
        )
        .unwrap();
        assert_eq!(req.headers()["x-amz-security-token"], "TOKEN");
        assert!(req.headers()["x-amz-security-token"].is_sensitive());
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("x-amz-security-token"), "{auth}");
        assert!(!auth.contains("SECRET"));
    }

    #[test]
    fn payload_hashes() {
        assert_eq!(PayloadHash::for_body(b""), PayloadHash::Empty);
        assert_eq!(
            PayloadHash::for_body(b"abc"),
            PayloadHash::Sha256Hex(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
            )
        );
        let mut req = http::Request::builder()
            .uri("http://h/")
            .header("host", "h")
            .body(())
            .unwrap();
        let bad = PayloadHash::Sha256Hex("ABC".into());
        assert!(matches!(
            sign(
                &mut req,
                &example_creds(),
                "us-east-1",
                &bad,
                example_time()
            ),
            Err(SignError::InvalidPayloadHash(_))
        ));
        let mut no_host = http::Request::builder().uri("http://h/").body(()).unwrap();
        assert!(matches!(
            sign(
                &mut no_host,
                &example_creds(),
                "us-east-1",
                &PayloadHash::Empty,
                example_time()
            ),
            Err(SignError::MissingHost)
        ));
    }
}
