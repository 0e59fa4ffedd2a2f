//! The fault proxy in front of a real gateway: signed requests pass unchanged, and each fault
//! looks on the wire the way it should (S3 error bodies, a connection kept or closed, a body
//! that ends early with a FIN, a TCP reset).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use haul_gateway::fault::{FaultProxyError, S3Op};
use haul_gateway::{FaultMode, FaultProxy, FaultProxyConfig, FaultStats, OpStats};
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::client::{Conn, object_path};
use crate::{ACCESS_KEY, SECRET_KEY, TestGateway, pattern};

/// Upper bound for waiting on something the proxy does by itself.
const PATIENCE: Duration = Duration::from_secs(20);

async fn proxy_for(gw: &TestGateway, mode: &str) -> FaultProxy {
    let proxy = FaultProxy::start(
        &gw.gateway.endpoint_url(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("proxy starts");
    proxy.set_mode(mode.parse().unwrap()).unwrap();
    proxy
}

async fn conn(proxy: &FaultProxy) -> Conn {
    Conn::open(proxy.local_addr(), ACCESS_KEY, SECRET_KEY)
        .await
        .expect("connect to the proxy")
}

/// What a raw HTTP/1.1 exchange got: the bytes received, and how the connection ended.
struct Raw {
    received: Vec<u8>,
    ended: io::Result<()>,
    /// How sending the request ended (`None`: still sending when the reading ended).
    sent: Option<io::Result<()>>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// The body after the head, and the `Content-Length` the head announced.
    fn body_and_length(&self) -> (Vec<u8>, usize) {
        let text = self.text();
        let (head, _) = text.split_once("\r\n\r\n").expect("a response head");
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("content-length")
            .parse()
            .unwrap();
        (self.received[head.len() + 4..].to_vec(), length)
    }
}

/// Sends `head` (and `body`, concurrently with reading), reads until the connection ends.
async fn raw(addr: SocketAddr, head: String, body: Vec<u8>) -> Raw {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let send = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&body).await?;
        // Keep the write side open: closing it could read as the client giving up.
        Ok::<_, io::Error>(writer)
    });
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("the connection ends");
    // Once the connection is closed either way, the writer finishes promptly.
    let write_result = match tokio::time::timeout(PATIENCE, send).await {
        Ok(joined) => joined.ok().map(|r| r.map(drop)),
        Err(_) => None,
    };
    Raw {
        received,
        ended,
        sent: write_result,
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")
}

#[tokio::test]
async fn signed_requests_pass_unchanged_and_are_counted() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, "{}").await;
    let mut c = conn(&proxy).await;
    c.send("PUT", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    let data = pattern(3 * 1024 * 1024 + 5);
    let path = object_path("db_wal", "base/a b+c.bin");
    c.send("PUT", &path, &[("x-amz-meta-mtime", "1")], data.clone())
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    let got = c.send("GET", &path, &[], "").await.unwrap();
    got.expect_status(StatusCode::OK);
    assert_eq!(got.body.as_ref(), data.as_slice());
    assert_eq!(got.header("x-amz-meta-mtime"), Some("1"));
    let list = c
        .send("GET", "/db_wal?list-type=2&prefix=base%2F", &[], "")
        .await
        .unwrap();
    assert_eq!(list.tags("Key"), ["base/a b+c.bin"]);

    let stats = proxy.stats();
    assert_eq!((stats.requests, stats.forwarded), (4, 4), "{stats:?}");
    assert_eq!(stats.bytes_up, data.len() as u64);
    assert!(stats.bytes_down >= data.len() as u64, "{stats:?}");
    assert_eq!(stats.in_flight, 0);
}

/// `OpStats` with these counts, in field order.
fn op_stats(requests: u64, ok: u64, throttled: u64, bytes_up: u64, bytes_down: u64) -> OpStats {
    OpStats {
        requests,
        ok,
        throttled,
        bytes_up,
        bytes_down,
    }
}

/// Sums over the operations equal the totals.
#[track_caller]
fn assert_ops_add_up(stats: &FaultStats) {
    let sum = |field: fn(&OpStats) -> u64| stats.ops.values().map(field).sum::<u64>();
    assert_eq!(sum(|o| o.requests), stats.requests, "{stats:?}");
    assert_eq!(sum(|o| o.bytes_up), stats.bytes_up, "{stats:?}");
    assert_eq!(sum(|o| o.bytes_down), stats.bytes_down, "{stats:?}");
}

/// Each S3 operation is counted on its own, requests, answers and body bytes exactly: the
/// upstream's own error bodies count down, an injected SlowDown counts as a request and as
/// throttled but its bodies neither up nor down.
#[tokio::test]
async fn counts_each_operation_and_its_bytes() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, "{}").await;
    let mut c = conn(&proxy).await;
    let create = c.send("PUT", "/db_wal", &[], "").await.unwrap();
    create.expect_status(StatusCode::OK);
    let data = pattern(1_000_003);
    let path = object_path("db_wal", "dir/a b+c.bin");
    let put = c.send("PUT", &path, &[], data.clone()).await.unwrap();
    put.expect_status(StatusCode::OK);
    let got = c.send("GET", &path, &[], "").await.unwrap();
    got.expect_status(StatusCode::OK);
    assert_eq!(got.body.as_ref(), data.as_slice());
    let missing = c
        .send("GET", &object_path("db_wal", "missing"), &[], "")
        .await
        .unwrap();
    missing.expect_error(StatusCode::NOT_FOUND, "NoSuchKey");
    let head = c.send("HEAD", &path, &[], "").await.unwrap();
    head.expect_status(StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("1000003"));
    let list = c
        .send("GET", "/db_wal?list-type=2&prefix=dir%2F", &[], "")
        .await
        .unwrap();
    list.expect_status(StatusCode::OK);
    assert_eq!(list.tags("Key"), ["dir/a b+c.bin"]);

    proxy
        .set_mode(r#"{"max_concurrent": 0}"#.parse().unwrap())
        .unwrap();
    c.send("PUT", &path, &[], pattern(70_000))
        .await
        .unwrap()
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown");
    proxy.set_mode(FaultMode::default()).unwrap();
    let delete = c.send("DELETE", &path, &[], "").await.unwrap();
    delete.expect_status(StatusCode::NO_CONTENT);

    let len = |body: &bytes::Bytes| body.len() as u64;
    let stats = proxy.stats();
    assert_eq!(
        stats.op(S3Op::CreateBucket),
        op_stats(1, 1, 0, 0, len(&create.body))
    );
    assert_eq!(
        stats.op(S3Op::PutObject),
        op_stats(2, 1, 1, data.len() as u64, len(&put.body))
    );
    assert_eq!(
        stats.op(S3Op::GetObject),
        op_stats(2, 1, 0, 0, data.len() as u64 + len(&missing.body))
    );
    assert!(!missing.body.is_empty());
    assert_eq!(stats.op(S3Op::HeadObject), op_stats(1, 1, 0, 0, 0));
    assert_eq!(
        stats.op(S3Op::ListObjectsV2),
        op_stats(1, 1, 0, 0, len(&list.body))
    );
    assert_eq!(
        stats.op(S3Op::DeleteObject),
        op_stats(1, 1, 0, 0, len(&delete.body))
    );
    assert_eq!(stats.op(S3Op::ListObjects), OpStats::default());
    let seen: Vec<_> = stats.ops.keys().map(String::as_str).collect();
    assert_eq!(
        seen,
        [
            "CreateBucket",
            "DeleteObject",
            "GetObject",
            "HeadObject",
            "ListObjectsV2",
            "PutObject"
        ]
    );
    assert_eq!((stats.requests, stats.slow_downs), (8, 1), "{stats:?}");
    assert_ops_add_up(&stats);

    // The control API answers the same, under "ops".
    let (code, body) = control(&proxy, "GET", "/__fault/stats", "").await;
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["ops"]["PutObject"],
        serde_json::json!({
            "requests": 2,
            "ok": 1,
            "throttled": 1,
            "bytes_up": 1_000_003,
            "bytes_down": len(&put.body),
        })
    );
    assert_eq!(serde_json::from_str::<FaultStats>(&body).unwrap(), stats);
}

/// An answer the proxy cuts short is not `ok`, though its head said 200; the bytes it did
/// send count down.
#[tokio::test]
async fn a_cut_answer_is_not_counted_ok() {
    let gw = TestGateway::start().await;
    gw.conn_with_buckets(&["db_wal"]).await;
    let proxy = proxy_for(&gw, "{}").await;
    let path = object_path("db_wal", "k");
    let data = pattern(300_000);
    conn(&proxy)
        .await
        .send("PUT", &path, &[], data.clone())
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    proxy
        .set_mode(r#"{"truncate_rate": 1.0}"#.parse().unwrap())
        .unwrap();
    let cut = conn(&proxy).await.send("GET", &path, &[], "").await;
    assert!(cut.is_err(), "a whole answer: {cut:?}");
    let stats = proxy.stats();
    let get = stats.op(S3Op::GetObject);
    assert_eq!((get.requests, get.ok, get.bytes_up), (1, 0, 0), "{stats:?}");
    assert!(get.bytes_down < data.len() as u64, "{stats:?}");
    let put = stats.op(S3Op::PutObject);
    assert_eq!(
        (put.requests, put.ok, put.bytes_up),
        (1, 1, data.len() as u64),
        "{stats:?}"
    );
    assert_ops_add_up(&stats);
}

#[tokio::test]
async fn above_max_concurrent_is_slow_down_and_the_connection_stays_usable() {
    let gw = TestGateway::start().await;
    gw.conn_with_buckets(&["db_wal"]).await;
    let proxy = proxy_for(&gw, r#"{"max_concurrent": 0}"#).await;
    let mut c = conn(&proxy).await;
    let path = object_path("db_wal", "k");
    let refused = c.send("PUT", &path, &[], pattern(200_000)).await.unwrap();
    refused.expect_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown");
    assert_eq!(
        refused.tag("Message").as_deref(),
        Some("Please reduce your request rate.")
    );
    let id = refused.tag("RequestId").expect("a request id");
    assert_eq!(refused.header("x-amz-request-id"), Some(id.as_str()));

    // The refused body was read and dropped: the same connection carries the next request.
    proxy.set_mode(FaultMode::default()).unwrap();
    c.send("PUT", &path, &[], "v")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    let stats = proxy.stats();
    assert_eq!((stats.slow_downs, stats.forwarded), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn max_concurrent_counts_requests_until_their_answer_is_sent() {
    let gw = TestGateway::start().await;
    gw.conn_with_buckets(&["db_wal"]).await;
    let proxy = proxy_for(&gw, r#"{"max_concurrent": 1, "first_byte_delay_ms": 500}"#).await;
    let mut slow = conn(&proxy).await;
    let held = tokio::spawn(async move { slow.send("GET", "/db_wal", &[], "").await });
    // Wait until the first request holds the one slot.
    let deadline = Instant::now() + PATIENCE;
    while proxy.stats().max_forwarded_in_flight == 0 {
        assert!(Instant::now() < deadline, "the first request never got in");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut other = conn(&proxy).await;
    other
        .send("GET", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown");
    held.await.unwrap().unwrap().expect_status(StatusCode::OK);
    let stats = proxy.stats();
    assert_eq!(stats.max_forwarded_in_flight, 1, "{stats:?}");
    assert_eq!(stats.max_in_flight, 2, "{stats:?}");
}

#[tokio::test]
async fn error_rate_one_is_internal_error() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, r#"{"error_rate": 1.0}"#).await;
    conn(&proxy)
        .await
        .send("GET", "/", &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
    assert_eq!(proxy.stats().forwarded, 0);
}

/// A body above the limit is refused before it is read, and the connection closes with a
/// lingering close: the client, still sending, reads the whole 413 and then an end of file,
/// not a reset.
#[tokio::test]
async fn max_body_is_entity_too_large_then_a_lingering_close() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, r#"{"max_body": 1048576}"#).await;
    let addr = proxy.local_addr();
    let len = 8 * 1024 * 1024;
    let head = format!("PUT /db_wal/big HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n");
    let got = raw(addr, head, vec![7u8; len]).await;
    let text = got.text();
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(text.contains("<Code>EntityTooLarge</Code>"), "{text}");
    assert!(
        text.contains(
            "<ProposedSize>8388608</ProposedSize><MaxSizeAllowed>1048576</MaxSizeAllowed>"
        ),
        "{text}"
    );
    got.ended.as_ref().expect("an end of file, not a reset");
    let (body, length) = got.body_and_length();
    assert_eq!(body.len(), length);
    let stats = proxy.stats();
    assert_eq!(
        (stats.too_large, stats.forwarded, stats.bytes_up),
        (1, 0, 0)
    );
}

/// A truncated answer keeps its head (and `Content-Length`), loses the end of its body, and
/// the connection closes with a FIN.
#[tokio::test]
async fn truncated_answer_ends_early_with_end_of_file() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, r#"{"truncate_rate": 1.0}"#).await;
    let addr = proxy.local_addr();
    // Unsigned: the gateway answers 403 AccessDenied with an XML body, which is cut.
    let got = raw(addr, get(addr, "/db_wal"), Vec::new()).await;
    assert!(got.text().starts_with("HTTP/1.1 403 "), "{}", got.text());
    got.ended.as_ref().expect("an end of file, not a reset");
    let (body, length) = got.body_and_length();
    assert!(body.len() < length, "{} of {length} bytes", body.len());
    assert_eq!(proxy.stats().truncations, 1);
}

#[tokio::test]
async fn reset_answer_is_a_tcp_reset() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, r#"{"reset_rate": 1.0}"#).await;
    let addr = proxy.local_addr();
    let got = raw(addr, get(addr, "/db_wal"), Vec::new()).await;
    let err = got.ended.expect_err("a reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    assert_eq!(proxy.stats().resets, 1);
}

#[tokio::test]
async fn reset_during_a_request_body_sends_no_answer() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, r#"{"reset_rate": 1.0}"#).await;
    let addr = proxy.local_addr();
    let len = 4 * 1024 * 1024;
    let head =
        format!("PUT /db_wal/part HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n");
    let got = raw(addr, head, vec![1u8; len]).await;
    assert!(got.received.is_empty(), "answered: {}", got.text());
    // The kernel reports a RST once, to whichever call meets it first: the read, or the write
    // of the rest of the body still in progress (then the read sees the closed socket as an
    // end of file).
    let reset = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        )
    };
    match (&got.ended, &got.sent) {
        (Err(e), _) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        (Ok(()), Some(Err(e))) => assert!(reset(e), "the write failed otherwise: {e}"),
        (Ok(()), sent) => panic!("an end of file, and the body was sent: {sent:?}"),
    }
    let stats = proxy.stats();
    assert_eq!((stats.resets, stats.forwarded), (1, 0), "{stats:?}");
}

#[tokio::test]
async fn first_byte_delay_holds_the_answer() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, r#"{"first_byte_delay_ms": 300}"#).await;
    let started = Instant::now();
    conn(&proxy)
        .await
        .send("GET", "/", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(proxy.stats().delayed, 1);
}

/// One exchange with the control API; the status and body.
async fn control(proxy: &FaultProxy, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = proxy.control_addr();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let got = raw(addr, head, body.as_bytes().to_vec()).await;
    got.ended.as_ref().expect("a clean close");
    let text = got.text();
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn control_api_sets_the_mode_and_reports_stats() {
    let gw = TestGateway::start().await;
    let proxy = proxy_for(&gw, "{}").await;
    let (status, body) = control(&proxy, "PUT", "/__fault/mode", r#"{"max_concurrent": 3}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(proxy.mode().max_concurrent, Some(3));
    let (status, body) = control(&proxy, "GET", "/__fault/mode", "").await;
    assert_eq!(status, 200);
    assert_eq!(body.parse::<FaultMode>().unwrap().max_concurrent, Some(3));

    let (status, body) = control(&proxy, "PUT", "/__fault/mode", r#"{"max_concurent": 3}"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown field `max_concurent`"), "{body}");
    let (status, body) = control(&proxy, "PUT", "/__fault/mode", r#"{"error_rate": 7}"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("error_rate is 7"), "{body}");
    // A refused mode leaves the one in force.
    assert_eq!(proxy.mode().max_concurrent, Some(3));

    let (status, body) = control(&proxy, "GET", "/__fault/stats", "").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""requests":0"#), "{body}");
    assert_eq!(control(&proxy, "POST", "/__fault/mode", "").await.0, 405);
    assert_eq!(control(&proxy, "GET", "/nothing", "").await.0, 404);
}

#[tokio::test]
async fn refuses_a_control_api_off_loopback_and_odd_upstreams() {
    let mut cfg = FaultProxyConfig::new(
        "http://127.0.0.1:9",
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    );
    cfg.control_listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    assert!(matches!(
        FaultProxy::start_with(cfg).await,
        Err(FaultProxyError::ControlNotLoopback { .. })
    ));
    for upstream in ["https://127.0.0.1:9", "http://127.0.0.1:9/bucket"] {
        assert!(matches!(
            FaultProxy::start(upstream, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await,
            Err(FaultProxyError::Upstream { .. })
        ));
    }
}

/// With nothing listening upstream the proxy answers 502 and counts it.
#[tokio::test]
async fn unreachable_upstream_is_bad_gateway() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let proxy = FaultProxy::start(&upstream, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let addr = proxy.local_addr();
    let head = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let got = raw(addr, head, Vec::new()).await;
    assert!(got.text().starts_with("HTTP/1.1 502 "), "{}", got.text());
    assert_eq!(proxy.stats().upstream_errors, 1);
    tokio::time::timeout(PATIENCE, proxy.shutdown())
        .await
        .expect("shutdown returns");
}
