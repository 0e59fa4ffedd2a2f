//! The synthetic gateway's HTTP side: one hyper HTTP/1.1 connection per accepted socket, and
//! the routing of each request to a listing, an object or an S3 error. A hostile gateway's
//! listings are answered by `hostile.rs`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::hostile::{self, Generated, HostileMode};
use super::list::{self, Answer, MAX_KEYS, Version, Walk};
use super::{Bucket, Counters, LAST_MODIFIED, LAST_MODIFIED_HTTP, xml};
use crate::fault::conn;

/// An answer's body: in memory, or generated as the connection takes it (hostile listings).
type Body = Either<Full<Bytes>, Generated>;

/// Query parameters that name a sub-resource or an operation other than a listing or a plain
/// object read: answered `501 NotImplemented` instead of being taken for a listing.
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
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
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versioning",
    "versions",
    "website",
];

/// Serves one connection until it closes or `stop`.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    bucket: Arc<Bucket>,
    mut stop: watch::Receiver<bool>,
) {
    let handler = service_fn(move |req| handle(Arc::clone(&bucket), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(conn::IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), handler);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = conn::stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "synthetic gateway connection ended with an error");
    }
}

async fn handle<B>(bucket: Arc<Bucket>, req: Request<B>) -> Result<Response<Body>, Infallible> {
    let n = bucket.counters.requests.fetch_add(1, Ordering::Relaxed);
    let id = format!("{n:016x}");
    let mut resp = route(&bucket, req.method(), req.uri(), req.headers(), &id).await;
    if resp.status().is_client_error() || resp.status().is_server_error() {
        Counters::add(&bucket.counters.errors, 1);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amz-request-id", value);
    }
    Ok(resp)
}

/// A request's query, decoded (`+` as a space, as S3 reads it).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let decode = |s: &str| -> String {
            let s = s.replace('+', " ");
            percent_decode_str(&s).decode_utf8_lossy().into_owned()
        };
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(part), String::new()),
            })
            .collect();
        Self(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn subresource(&self) -> Option<&str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| SUBRESOURCES.contains(k))
    }
}

/// An error answer: its status, S3 code and message.
struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    /// `Content-Range: bytes */SIZE` of a `416`.
    content_range: Option<String>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            content_range: None,
        }
    }

    fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "{what} is not implemented: the synthetic gateway is read-only and serves listings, HeadBucket, GetBucketLocation, HeadObject and GetObject"
            ),
        )
    }

    fn into_response(self, resource: &str, id: &str, head: bool) -> Response<Body> {
        let mut resp = if head {
            reply(self.status, None, Bytes::new())
        } else {
            let body = xml::error(self.code, &self.message, resource, id);
            reply(self.status, Some("application/xml"), Bytes::from(body))
        };
        if let Some(range) = &self.content_range {
            insert(&mut resp, header::CONTENT_RANGE, range);
        }
        resp
    }
}

async fn route(
    bucket: &Bucket,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    id: &str,
) -> Response<Body> {
    let head = method == Method::HEAD;
    let resource = uri.path();
    let answer = if method == Method::GET || head {
        read(bucket, head, uri, headers).await
    } else {
        Err(S3Error::not_implemented(&format!("{method}")))
    };
    answer.unwrap_or_else(|err| err.into_response(resource, id, head))
}

/// A GET or HEAD.
async fn read(
    bucket: &Bucket,
    head: bool,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Result<Response<Body>, S3Error> {
    let query = Query::parse(uri.query());
    let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
    if path.is_empty() {
        if head {
            return Err(S3Error::not_implemented("HEAD /"));
        }
        let body = xml::list_buckets(&bucket.name, LAST_MODIFIED);
        return Ok(reply(
            StatusCode::OK,
            Some("application/xml"),
            Bytes::from(body),
        ));
    }
    let (name, key) = match path.split_once('/') {
        Some((name, key)) => (name, key),
        None => (path, ""),
    };
    let name = percent_decode_str(name).decode_utf8_lossy();
    if name != bucket.name.as_str() {
        return Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ));
    }
    if let Some(sub) = query.subresource() {
        return Err(S3Error::not_implemented(&format!("the {sub} sub-resource")));
    }
    if key.is_empty() {
        if query.get("location").is_some() {
            if head {
                return Err(S3Error::not_implemented("HEAD ?location"));
            }
            return Ok(reply(
                StatusCode::OK,
                Some("application/xml"),
                Bytes::from(xml::location()),
            ));
        }
        if head {
            return Ok(reply(StatusCode::OK, None, Bytes::new()));
        }
        return listing(bucket, &query).await;
    }
    let key = percent_decode_str(key).decode_utf8_lossy();
    object(bucket, head, &key, headers)
}

/// ListObjects (V1) or ListObjectsV2.
async fn listing(bucket: &Bucket, query: &Query) -> Result<Response<Body>, S3Error> {
    let v2 = match query.get("list-type") {
        None => false,
        Some("2") => true,
        Some(_) => return Err(S3Error::invalid_argument("Invalid list type specified")),
    };
    let max_keys = match query.get("max-keys") {
        None => MAX_KEYS,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| {
                S3Error::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                )
            })?
            .min(MAX_KEYS),
    };
    let url = match query.get("encoding-type") {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    let prefix = query.get("prefix").unwrap_or_default();
    let delimiter = query.get("delimiter").unwrap_or_default();
    if let Some(mode) = bucket.hostile {
        // Before the cursor is read: a hostile answer takes any cursor, even its own.
        let cursor = if v2 {
            query.get("continuation-token")
        } else {
            query.get("marker")
        };
        let req = hostile::Request {
            bucket: &bucket.name,
            v2,
            prefix,
            delimiter,
            cursor,
            max_keys,
            url,
            last_modified: LAST_MODIFIED,
        };
        if let Some(body) = hostile::listing(mode, &req, &bucket.counters.hostile) {
            Counters::add(list_counter(&bucket.counters, v2), 1);
            return Ok(generated(body));
        }
    }
    let space = &bucket.space;
    let (start, version) = if v2 {
        let token = query.get("continuation-token").filter(|t| !t.is_empty());
        let start_after = query.get("start-after");
        let start = match (token, start_after) {
            (Some(token), _) => list::parse_token(token, space.len()).ok_or_else(|| {
                S3Error::invalid_argument("The continuation token provided is incorrect")
            })?,
            (None, Some(after)) => list::start_after(space, after, prefix, delimiter),
            (None, None) => 0,
        };
        (start, Version::V2 { token, start_after })
    } else {
        let marker = query.get("marker").unwrap_or_default();
        let start = if marker.is_empty() {
            0
        } else {
            list::start_after(space, marker, prefix, delimiter)
        };
        (start, Version::V1 { marker })
    };
    if !bucket.list_delay.is_zero() {
        tokio::time::sleep(bucket.list_delay).await;
    }
    let walk = Walk {
        prefix,
        delimiter,
        max_keys,
        start,
    };
    let page = list::page(space, walk);
    let answer = Answer {
        bucket: &bucket.name,
        walk,
        version,
        url,
        last_modified: LAST_MODIFIED,
    };
    let body = list::render(&answer, &page, &bucket.objects);
    let counters = &bucket.counters;
    Counters::add(list_counter(counters, v2), 1);
    Counters::add(&counters.keys_listed, page.entries.len() as u64);
    if bucket.hostile == Some(HostileMode::SlowDrip) {
        return Ok(generated(hostile::drip(
            Bytes::from(body),
            &counters.hostile,
        )));
    }
    Ok(reply(
        StatusCode::OK,
        Some("application/xml"),
        Bytes::from(body),
    ))
}

/// The counter of listings of this version.
fn list_counter(counters: &Counters, v2: bool) -> &std::sync::atomic::AtomicU64 {
    if v2 {
        &counters.list_v2
    } else {
        &counters.list_v1
    }
}

/// A `200 OK` listing answer with a generated body, and its `Content-Length` when it has one
/// (else hyper sends it chunked).
fn generated(body: Generated) -> Response<Body> {
    let length = body.length();
    let mut resp = Response::new(Either::Right(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Some(length) = length {
        insert(&mut resp, header::CONTENT_LENGTH, &length.to_string());
    }
    resp
}

/// HeadObject or GetObject.
fn object(
    bucket: &Bucket,
    head: bool,
    key: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, S3Error> {
    if bucket.space.index_of(key).is_none() {
        return Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        ));
    }
    let objects = &bucket.objects;
    let size = objects.size();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Range::Full, |v| parse_range(v, size));
    let (status, first, last) = match range {
        Range::Full => (StatusCode::OK, 0, size),
        Range::Part(first, last) => (StatusCode::PARTIAL_CONTENT, first, last + 1),
        Range::Unsatisfiable => {
            let mut err = S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            );
            err.content_range = Some(format!("bytes */{size}"));
            return Err(err);
        }
    };
    let etag = objects.etag(key);
    let body = if head {
        Bytes::new()
    } else {
        let content = objects.content(key);
        let part = content
            .get(first as usize..last as usize)
            .unwrap_or_default();
        Bytes::copy_from_slice(part)
    };
    let mut resp = reply(status, Some("application/octet-stream"), body);
    insert(
        &mut resp,
        header::CONTENT_LENGTH,
        &(last - first).to_string(),
    );
    insert(&mut resp, header::ETAG, &format!("\"{etag}\""));
    insert(&mut resp, header::LAST_MODIFIED, LAST_MODIFIED_HTTP);
    insert(&mut resp, header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        insert(
            &mut resp,
            header::CONTENT_RANGE,
            &format!("bytes {first}-{}/{size}", last - 1),
        );
    }
    let counter = if head {
        &bucket.counters.head
    } else {
        &bucket.counters.get
    };
    Counters::add(counter, 1);
    Ok(resp)
}

/// What a `Range` header asks of an object.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// The whole object (no header, or one that is malformed or asks for several ranges,
    /// which S3 ignores).
    Full,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// Nothing of the object: `416`.
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (num(first), num(last)) {
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || size == 0 {
                Range::Unsatisfiable
            } else {
                Range::Part(size - suffix.min(size), size - 1)
            }
        }
        (Some(first), None) if last.is_empty() => {
            if first >= size {
                Range::Unsatisfiable
            } else {
                Range::Part(first, size - 1)
            }
        }
        (Some(first), Some(last)) if first <= last => {
            if first >= size {
                Range::Unsatisfiable
            } else {
                Range::Part(first, last.min(size - 1))
            }
        }
        _ => Range::Full,
    }
}

fn reply(status: StatusCode, content_type: Option<&'static str>, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Either::Left(Full::new(body)));
    *resp.status_mut() = status;
    if let Some(content_type) = content_type {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    resp
}

fn insert<B>(resp: &mut Response<B>, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Range::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Range::Part(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Range::Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Range::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Range::Full);
        assert_eq!(parse_range("items=0-1", 100), Range::Full);
        assert_eq!(parse_range("bytes=a-b", 100), Range::Full);
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some(
            "list-type=2&prefix=a%2Fb+c&location&x-id=ListObjectsV2",
        ));
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert_eq!(q.get("location"), Some(""));
        assert_eq!(q.subresource(), None);
        assert_eq!(Query::parse(Some("uploads")).subresource(), Some("uploads"));
    }
}
