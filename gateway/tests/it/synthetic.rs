//! The synthetic gateway over HTTP: whole listings paged through (V1 and V2, with and without
//! a delimiter, several page sizes), delimiter answers of the registry layout, object reads
//! with ranges, its errors, and its hostile listings. Unsigned requests: the gateway ignores authentication.

use std::fmt::Write as _;

use bytes::Bytes;
use haul_gateway::synthetic::{HUGE_PAGE_BYTES, LOOP_TOKEN};
use haul_gateway::{HostileMode, Layout, SyntheticConfig, SyntheticGateway};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use md5::{Digest as _, Md5};

const ROOT: &str = "docker/registry/v2/blobs/sha256/";

struct Synth {
    gw: SyntheticGateway,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    bytes: Bytes,
}

impl Synth {
    async fn start(cfg: SyntheticConfig) -> Synth {
        crate::init_log();
        let gw = SyntheticGateway::start(cfg)
            .await
            .expect("synthetic starts");
        let client = Client::builder(TokioExecutor::new()).build_http();
        Synth { gw, client }
    }

    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.gw.endpoint_url()));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::new())).unwrap())
            .await
            .expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[]).await
    }

    /// Every key and common prefix of a listing, paged through with V2 tokens or V1 markers.
    async fn list_all(
        &self,
        v2: bool,
        prefix: &str,
        delimiter: &str,
        max_keys: usize,
    ) -> (Vec<String>, Vec<String>) {
        let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
        let mut next: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!(
                "/{}?prefix={prefix}&delimiter={delimiter}&max-keys={max_keys}",
                self.gw.bucket()
            );
            if v2 {
                path.push_str("&list-type=2&fetch-owner=false");
            }
            if let Some(next) = &next {
                let name = if v2 { "continuation-token" } else { "marker" };
                write!(path, "&{name}={next}").unwrap();
            }
            let answer = self.get(&path).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            let body = &answer.body;
            let page_keys = tags(body, "Key");
            let page_prefixes = common_prefixes(body);
            assert!(page_keys.len() + page_prefixes.len() <= max_keys);
            if v2 {
                assert_eq!(
                    tags(body, "KeyCount"),
                    [(page_keys.len() + page_prefixes.len()).to_string()]
                );
            }
            for etag in tags(body, "ETag") {
                assert_eq!(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
            }
            let truncated = tags(body, "IsTruncated") == ["true"];
            keys.extend(page_keys);
            prefixes.extend(page_prefixes);
            pages += 1;
            assert!(pages <= 10_000, "listing does not end");
            if !truncated {
                assert!(!body.contains("<NextContinuationToken>"));
                return (keys, prefixes);
            }
            let name = if v2 {
                "NextContinuationToken"
            } else {
                "NextMarker"
            };
            let token = tags(body, name);
            assert_eq!(token.len(), 1, "{name} in {body}");
            next = Some(token[0].clone());
        }
    }
}

/// The texts of every `<name>` element, unescaped.
fn tags(body: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close).expect("closed element");
        out.push(
            after[..end]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    out
}

fn common_prefixes(body: &str) -> Vec<String> {
    tags(body, "CommonPrefixes")
        .iter()
        .flat_map(|cp| tags(cp, "Prefix"))
        .collect()
}

fn config(layout: Layout, objects: u64) -> SyntheticConfig {
    let mut cfg = SyntheticConfig::new(objects);
    cfg.layout = layout;
    cfg
}

#[tokio::test]
async fn whole_listings_page_through_every_key() {
    for layout in [Layout::Registry, Layout::Flat] {
        let synth = Synth::start(config(layout, 3000)).await;
        let all: Vec<String> = (0..3000).map(|i| synth.gw.key(i).unwrap()).collect();
        assert_eq!(synth.gw.key(3000), None);
        for v2 in [true, false] {
            for max_keys in [1, 7, 1000] {
                let (keys, prefixes) = synth.list_all(v2, "", "", max_keys).await;
                assert!(prefixes.is_empty());
                assert_eq!(keys, all, "{layout} v2={v2} max-keys={max_keys}");
                // With a delimiter: the top level is one common prefix.
                let (keys, prefixes) = synth.list_all(v2, "", "/", max_keys).await;
                assert!(keys.is_empty());
                let top = if layout == Layout::Registry {
                    "docker/"
                } else {
                    "objects/"
                };
                assert_eq!(prefixes, [top]);
            }
            // One level down with a delimiter: the 256 prefixes, or the flat keys themselves.
            for max_keys in [7, 1000] {
                let prefix = if layout == Layout::Registry {
                    ROOT
                } else {
                    "objects/"
                };
                let (keys, prefixes) = synth.list_all(v2, prefix, "/", max_keys).await;
                if layout == Layout::Registry {
                    assert!(keys.is_empty());
                    let expected: Vec<String> =
                        (0..256).map(|p| format!("{ROOT}{p:02x}/")).collect();
                    assert_eq!(prefixes, expected);
                } else {
                    assert!(prefixes.is_empty());
                    assert_eq!(keys, all);
                }
            }
        }
        let stats = synth.gw.stats();
        assert!(stats.list_v1 > 3000 && stats.list_v2 > 3000, "{stats}");
        assert_eq!(stats.errors, 0);
        synth.gw.shutdown().await;
    }
}

#[tokio::test]
async fn registry_delimiter_listings() {
    let synth = Synth::start(SyntheticConfig::new(3000)).await;
    let b = synth.gw.bucket().to_owned();
    assert_eq!(b, "registry");

    let answer = synth
        .get(&format!("/{b}?list-type=2&prefix={ROOT}&delimiter=/"))
        .await;
    let prefixes = common_prefixes(&answer.body);
    assert_eq!(prefixes.len(), 256);
    assert_eq!(prefixes[0], format!("{ROOT}00/"));
    assert_eq!(prefixes[255], format!("{ROOT}ff/"));
    assert!(tags(&answer.body, "Key").is_empty());
    assert_eq!(tags(&answer.body, "KeyCount"), ["256"]);
    assert_eq!(tags(&answer.body, "Delimiter"), ["/"]);

    let answer = synth
        .get(&format!("/{b}?list-type=2&prefix=docker/&delimiter=/"))
        .await;
    assert_eq!(common_prefixes(&answer.body), ["docker/registry/"]);
    assert!(tags(&answer.body, "Key").is_empty());

    // 3000 = 11 * 256 + 184: prefix ab (171) holds 12 keys.
    let answer = synth
        .get(&format!("/{b}?list-type=2&prefix={ROOT}ab/"))
        .await;
    assert!(common_prefixes(&answer.body).is_empty());
    let keys = tags(&answer.body, "Key");
    let expected: Vec<String> = (0..3000)
        .map(|i| synth.gw.key(i).unwrap())
        .filter(|k| k.starts_with(&format!("{ROOT}ab/")))
        .collect();
    assert_eq!(expected.len(), 12);
    assert_eq!(keys, expected);
    for key in &keys {
        let digest = key.strip_prefix(&format!("{ROOT}ab/")).unwrap();
        assert_eq!(digest.len(), 64 + "/data".len());
        assert!(digest.starts_with("ab"));
    }
    assert_eq!(tags(&answer.body, "Size")[0], "0");
    assert_eq!(
        tags(&answer.body, "LastModified")[0],
        "2026-01-01T00:00:00.000Z"
    );
    assert_eq!(tags(&answer.body, "StorageClass")[0], "STANDARD");
    // With a delimiter each of them is a digest directory, `…/ab/{digest}/`.
    let answer = synth
        .get(&format!("/{b}?list-type=2&prefix={ROOT}ab/&delimiter=/"))
        .await;
    assert!(tags(&answer.body, "Key").is_empty());
    let digests: Vec<String> = keys
        .iter()
        .map(|k| k.trim_end_matches("data").to_owned())
        .collect();
    assert_eq!(common_prefixes(&answer.body), digests);

    // A V1 marker on a common prefix continues after it; start-after on a key after the key.
    let answer = synth
        .get(&format!(
            "/{b}?prefix={ROOT}&delimiter=/&marker={ROOT}0a/&max-keys=2"
        ))
        .await;
    assert_eq!(
        common_prefixes(&answer.body),
        [format!("{ROOT}0b/"), format!("{ROOT}0c/")]
    );
    assert_eq!(tags(&answer.body, "Marker"), [format!("{ROOT}0a/")]);
    assert_eq!(tags(&answer.body, "NextMarker"), [format!("{ROOT}0c/")]);
    let first = synth.gw.key(0).unwrap();
    let answer = synth
        .get(&format!("/{b}?list-type=2&start-after={first}&max-keys=1"))
        .await;
    assert_eq!(tags(&answer.body, "Key"), [synth.gw.key(1).unwrap()]);
    assert_eq!(tags(&answer.body, "StartAfter"), [first]);

    // encoding-type=url: echoed, and the echoed prefix is encoded.
    let answer = synth
        .get(&format!(
            "/{b}?list-type=2&prefix=a%20b%2B&encoding-type=url"
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(tags(&answer.body, "EncodingType"), ["url"]);
    assert_eq!(tags(&answer.body, "Prefix"), ["a%20b%2B"]);
    assert_eq!(tags(&answer.body, "KeyCount"), ["0"]);
    let answer = synth
        .get(&format!("/{b}?list-type=2&max-keys=2&encoding-type=url"))
        .await;
    assert_eq!(tags(&answer.body, "Key")[0], synth.gw.key(0).unwrap());

    // max-keys 0 lists nothing and is not truncated; above 1000 is capped.
    let answer = synth.get(&format!("/{b}?list-type=2&max-keys=0")).await;
    assert_eq!(tags(&answer.body, "KeyCount"), ["0"]);
    assert_eq!(tags(&answer.body, "IsTruncated"), ["false"]);
    let answer = synth.get(&format!("/{b}?list-type=2&max-keys=5000")).await;
    assert_eq!(tags(&answer.body, "Key").len(), 1000);
    assert_eq!(tags(&answer.body, "MaxKeys"), ["1000"]);

    synth.gw.shutdown().await;
}

#[tokio::test]
async fn objects_ranges_and_errors() {
    let mut cfg = SyntheticConfig::new(500);
    cfg.size = 1000;
    cfg.bucket = "synth".to_owned();
    let synth = Synth::start(cfg).await;
    let key = synth.gw.key(123).unwrap();
    let path = format!("/synth/{key}");

    let answer = synth.get(&path).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.bytes.len(), 1000);
    let md5 = format!("\"{:x}\"", Md5::digest(&answer.bytes));
    let header = |a: &Answer, name: &str| a.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header(&answer, "etag"), md5);
    assert_eq!(header(&answer, "content-length"), "1000");
    assert_eq!(header(&answer, "content-type"), "application/octet-stream");
    assert_eq!(header(&answer, "accept-ranges"), "bytes");
    assert_eq!(
        header(&answer, "last-modified"),
        "Thu, 01 Jan 2026 00:00:00 GMT"
    );
    let full = answer.bytes.clone();

    // The listing's ETag and size are the object's.
    let listing = synth
        .get(&format!(
            "/synth?list-type=2&start-after={}&max-keys=1",
            synth.gw.key(122).unwrap()
        ))
        .await;
    assert_eq!(tags(&listing.body, "ETag"), std::slice::from_ref(&md5));
    assert_eq!(tags(&listing.body, "Size"), ["1000"]);

    let head = synth.send(Method::HEAD, &path, &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.bytes.is_empty());
    assert_eq!(header(&head, "content-length"), "1000");
    assert_eq!(header(&head, "etag"), md5);

    for (range, first, last) in [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=900-5000", 900, 999),
    ] {
        let answer = synth.send(Method::GET, &path, &[("range", range)]).await;
        assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(&answer.bytes[..], &full[first..=last], "{range}");
        assert_eq!(
            header(&answer, "content-range"),
            format!("bytes {first}-{last}/1000")
        );
    }
    let answer = synth
        .send(Method::GET, &path, &[("range", "bytes=1000-")])
        .await;
    assert_eq!(answer.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&answer, "content-range"), "bytes */1000");
    assert_eq!(tags(&answer.body, "Code"), ["InvalidRange"]);

    // Errors.
    let missing = synth.get("/synth/docker/registry/v2/nothing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(tags(&missing.body, "Code"), ["NoSuchKey"]);
    assert_eq!(
        tags(&missing.body, "Resource"),
        ["/synth/docker/registry/v2/nothing"]
    );
    assert_eq!(tags(&missing.body, "RequestId").len(), 1);
    let parent = key.rsplit_once('/').unwrap().0;
    let answer = synth
        .send(Method::HEAD, &format!("/synth/{parent}"), &[])
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.bytes.is_empty());
    let answer = synth.get(&format!("/other/{key}")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(tags(&answer.body, "Code"), ["NoSuchBucket"]);
    let answer = synth.get("/other?list-type=2").await;
    assert_eq!(tags(&answer.body, "Code"), ["NoSuchBucket"]);
    for method in [Method::PUT, Method::DELETE, Method::POST] {
        let answer = synth.send(method.clone(), &path, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED, "{method}");
        assert_eq!(tags(&answer.body, "Code"), ["NotImplemented"]);
        assert!(answer.body.contains("read-only"));
    }
    let answer = synth.get("/synth?uploads").await;
    assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED);
    let answer = synth.get("/synth?list-type=2&continuation-token=zz").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(tags(&answer.body, "Code"), ["InvalidArgument"]);
    let answer = synth.get("/synth?list-type=2&max-keys=-1").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    // The bucket itself.
    let answer = synth.send(Method::HEAD, "/synth", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = synth.get("/").await;
    assert_eq!(tags(&answer.body, "Name"), ["synth"]);
    let answer = synth.get("/synth?location").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("<LocationConstraint"));

    let stats = synth.gw.stats();
    assert_eq!(stats.get, 5);
    assert_eq!(stats.head, 1);
    assert_eq!(stats.list_v2, 1);
    assert_eq!(stats.keys_listed, 1);
    assert_eq!(stats.errors, 11);
    synth.gw.shutdown().await;
}

#[tokio::test]
async fn refuses_other_than_loopback() {
    let mut cfg = SyntheticConfig::new(1);
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    let err = SyntheticGateway::start(cfg).await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    let mut cfg = SyntheticConfig::new(1);
    cfg.size = 16 * 1024 + 1;
    assert!(SyntheticGateway::start(cfg).await.is_err());
}

fn hostile(mode: HostileMode) -> SyntheticConfig {
    let mut cfg = SyntheticConfig::new(10);
    cfg.hostile = Some(mode);
    cfg
}

/// A hostile gateway's token loop over HTTP: whatever cursor a V1 or V2 listing sends (its
/// own included, which a normal synthetic gateway would refuse), the same one comes back, on
/// an empty truncated page; objects are still served normally.
#[tokio::test]
async fn hostile_token_loop_repeats_its_cursor_over_http() {
    let synth = Synth::start(hostile(HostileMode::TokenLoop)).await;
    let b = synth.gw.bucket().to_owned();
    for (query, next) in [
        ("list-type=2".to_owned(), "NextContinuationToken"),
        (
            format!("list-type=2&continuation-token={LOOP_TOKEN}&delimiter=/"),
            "NextContinuationToken",
        ),
        (String::new(), "NextMarker"),
        (format!("marker={LOOP_TOKEN}&prefix=docker/"), "NextMarker"),
    ] {
        let answer = synth.get(&format!("/{b}?{query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
        assert_eq!(tags(&answer.body, next), [LOOP_TOKEN], "{query}");
        assert_eq!(tags(&answer.body, "IsTruncated"), ["true"]);
        assert!(tags(&answer.body, "Key").is_empty());
    }
    let key = synth.gw.key(0).unwrap();
    let answer = synth.get(&format!("/{b}/{key}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let stats = synth.gw.stats();
    assert_eq!(
        (stats.list_v2, stats.list_v1, stats.hostile),
        (2, 2, 4),
        "{stats}"
    );
    assert_eq!(stats.get, 1);
    synth.gw.shutdown().await;
}

/// The huge page over HTTP: its `Content-Length` is what arrives, at least
/// [`HUGE_PAGE_BYTES`], and the document ends as it began.
#[tokio::test]
async fn hostile_huge_page_arrives_whole_with_its_length() {
    let synth = Synth::start(hostile(HostileMode::HugePage)).await;
    let b = synth.gw.bucket().to_owned();
    let answer = synth.get(&format!("/{b}?list-type=2&prefix=docker/")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let length: u64 = answer.headers[http::header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length >= HUGE_PAGE_BYTES);
    assert_eq!(answer.bytes.len() as u64, length);
    assert!(answer.body.starts_with("<?xml"));
    assert!(answer.body.ends_with("</ListBucketResult>"));
    let stats = synth.gw.stats();
    assert_eq!((stats.hostile, stats.hostile_abandoned), (1, 0), "{stats}");
    assert_eq!(stats.hostile_bytes, length);
    synth.gw.shutdown().await;
}

/// The endless page over a raw connection: it is chunked, keeps coming past the huge page's
/// size, and once the client closes the connection the gateway stops generating it.
#[tokio::test]
async fn hostile_endless_page_stops_when_the_client_goes_away() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let synth = Synth::start(hostile(HostileMode::EndlessPage)).await;
    let mut conn = tokio::net::TcpStream::connect(synth.gw.local_addr())
        .await
        .unwrap();
    let req = format!(
        "GET /{}?list-type=2 HTTP/1.1\r\nHost: {}\r\n\r\n",
        synth.gw.bucket(),
        synth.gw.local_addr()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    let mut head = Vec::new();
    while read <= HUGE_PAGE_BYTES {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the endless page ended after {read} bytes");
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096)]);
        }
        read += n as u64;
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    drop(conn);
    // Wait for the gateway to notice (its next write fails), without a fixed sleep.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while synth.gw.stats().hostile_abandoned == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still generating: {}",
            synth.gw.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let stats = synth.gw.stats();
    assert_eq!((stats.hostile, stats.hostile_abandoned), (1, 1), "{stats}");
    // Stopped: not one more byte is generated.
    let after = synth.gw.stats().hostile_bytes;
    tokio::task::yield_now().await;
    assert_eq!(synth.gw.stats().hostile_bytes, after);
    synth.gw.shutdown().await;
}
