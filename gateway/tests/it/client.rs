//! A minimal S3 client for the tests: raw HTTP/1.1 over one hyper connection, signed with
//! aws-sigv4, so the gateway is exercised the way haul's engine talks to it and nothing else
//! stands between the test and the server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::SystemTime;

use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Region put in the signature scope; s3s takes whatever the client signed with.
const REGION: &str = "us-east-1";

/// RFC 3986 unreserved characters stay, everything else is `%XX` (spaces as `%20`).
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`QUERY_ENCODE`], keeping the `/` between key segments.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// `/bucket/key` with the key percent-encoded once, as SigV4 for S3 expects.
pub(crate) fn object_path(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", utf8_percent_encode(key, PATH_ENCODE))
}

/// A query parameter value, percent-encoded.
pub(crate) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_ENCODE).to_string()
}

/// How the payload is signed.
pub(crate) enum Payload<'a> {
    /// `x-amz-content-sha256` is the SHA-256 of these bytes (what is sent).
    Signed(&'a [u8]),
    /// `UNSIGNED-PAYLOAD`, for a body streamed while the request is in flight.
    Unsigned,
}

/// One keep-alive connection to the gateway with one key pair.
pub(crate) struct Conn {
    /// `http` or `https`: the scheme of the request URIs.
    scheme: &'static str,
    addr: SocketAddr,
    access_key: String,
    secret_key: String,
    sender: SendRequest<BoxBody<Bytes, Infallible>>,
}

impl Conn {
    pub(crate) async fn open(
        addr: SocketAddr,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        Self::over(stream, "http", addr, access_key, secret_key).await
    }

    /// HTTP/1.1 over an already established `io` (a TLS stream) to `addr`.
    pub(crate) async fn over<I>(
        io: I,
        scheme: &'static str,
        addr: SocketAddr,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<Conn>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(async move {
            // The gateway closing the connection (shutdown, idle timeout) ends this quietly.
            let _ = connection.await;
        });
        Ok(Conn {
            scheme,
            addr,
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            sender,
        })
    }

    /// Sends a request with a body held in memory and reads the whole reply.
    pub(crate) async fn send(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<Reply> {
        let body: Bytes = body.into();
        let payload = body.clone();
        self.send_body(
            method,
            path_and_query,
            headers,
            Payload::Signed(&payload),
            Full::new(body).boxed(),
        )
        .await
    }

    /// Sends a request with any body, signing the payload as told, and reads the whole reply.
    pub(crate) async fn send_body(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
        body: BoxBody<Bytes, Infallible>,
    ) -> anyhow::Result<Reply> {
        let uri = format!("{}://{}{path_and_query}", self.scheme, self.addr);
        let mut builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(http::header::HOST, self.addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut req = builder.body(body)?;
        self.sign(&mut req, &payload)?;
        self.exchange(req).await
    }

    /// Signs a request with an in-memory body, lets `tamper` change it, and sends it: what a
    /// proxy that rewrote the request after signing would produce.
    pub(crate) async fn send_tampered(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        tamper: impl FnOnce(&mut HeaderMap),
    ) -> anyhow::Result<Reply> {
        let uri = format!("{}://{}{path_and_query}", self.scheme, self.addr);
        let mut builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(http::header::HOST, self.addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut req = builder.body(Full::new(Bytes::new()).boxed())?;
        self.sign(&mut req, &Payload::Signed(b""))?;
        tamper(req.headers_mut());
        self.exchange(req).await
    }

    async fn exchange(
        &mut self,
        req: Request<BoxBody<Bytes, Infallible>>,
    ) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .context("send request")?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .context("read response body")?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn sign<B>(&self, req: &mut Request<B>, payload: &Payload<'_>) -> anyhow::Result<()> {
        let identity: Identity =
            Credentials::new(&self.access_key, &self.secret_key, None, None, "tests").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        // S3 signs the path as sent, encoded once and not normalized.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers = req
            .headers()
            .iter()
            .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let body = match payload {
            Payload::Signed(bytes) => SignableBody::Bytes(bytes),
            Payload::Unsigned => SignableBody::UnsignedPayload,
        };
        let signable = SignableRequest::new(
            req.method().as_str(),
            req.uri().to_string(),
            headers.into_iter(),
            body,
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// A whole response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not utf-8>")
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The text of every `<tag>…</tag>` in the body, in order, XML entities decoded. Enough for
    /// S3's answers; not an XML parser.
    pub(crate) fn tags(&self, tag: &str) -> Vec<String> {
        raw_tags(self.text(), tag)
            .into_iter()
            .map(unescape)
            .collect()
    }

    /// The `<Prefix>` of every `<CommonPrefixes>` entry.
    pub(crate) fn common_prefixes(&self) -> Vec<String> {
        raw_tags(self.text(), "CommonPrefixes")
            .into_iter()
            .flat_map(|entry| raw_tags(entry, "Prefix"))
            .map(unescape)
            .collect()
    }

    pub(crate) fn tag(&self, tag: &str) -> Option<String> {
        self.tags(tag).into_iter().next()
    }

    /// Fails with the status and body unless the status is `expected`.
    #[track_caller]
    pub(crate) fn expect_status(&self, expected: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Fails unless this is an S3 error with `status` and `code`.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        assert_eq!(
            self.tag("Code").as_deref(),
            Some(code),
            "unexpected error; body: {}",
            self.text()
        );
    }
}

fn raw_tags<'a>(mut xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    while let Some(start) = xml.find(&open) {
        let after = &xml[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        xml = &after[end + close.len()..];
    }
    found
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
