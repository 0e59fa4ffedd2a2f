//! The fault proxy in front of a real gateway: signed requests pass unchanged, and each fault
//! looks on the wire the way it should (S3 error bodies, a connection kept or closed, a body
//! that ends early with a FIN, a TCP reset).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use haul_gateway::fault::FaultProxyError;
use haul_gateway::{FaultMode, FaultProxy, FaultProxyConfig};
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
