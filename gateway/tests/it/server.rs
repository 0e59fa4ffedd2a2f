//! Authentication, connections and shutdown.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt as _, Channel};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::client::{Conn, Payload, object_path};
use crate::{ACCESS_KEY, SECRET_KEY, TestGateway, pattern};

/// Upper bound for waiting on something the gateway does by itself; only a broken gateway
/// gets near it.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let gw = TestGateway::start().await;
    gw.conn_with_buckets(&["db_wal"]).await;
    let mut intruder = Conn::open(gw.addr(), ACCESS_KEY, "not-the-secret")
        .await
        .unwrap();
    intruder
        .send("GET", "/db_wal?list-type=2", &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    intruder
        .send("PUT", &object_path("db_wal", "k"), &[], "x")
        .await
        .unwrap()
        .expect_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    // A copy out of a relaxed-name bucket takes the route; the signature is checked first.
    intruder
        .send(
            "PUT",
            &object_path("db_wal", "k2"),
            &[("x-amz-copy-source", "/db_wal/k")],
            "",
        )
        .await
        .unwrap()
        .expect_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn unknown_key_and_anonymous_requests_are_refused() {
    let gw = TestGateway::start().await;
    gw.conn_with_buckets(&["db_wal"]).await;
    let mut stranger = Conn::open(gw.addr(), "someone-else", SECRET_KEY)
        .await
        .unwrap();
    let refused = stranger.send("GET", "/", &[], "").await.unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());

    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    let request = format!(
        "GET /db_wal HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        gw.addr()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

#[tokio::test]
async fn one_connection_serves_many_requests() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;
    for i in 0..50 {
        let path = object_path("registry", &format!("k{i}"));
        conn.send("PUT", &path, &[], format!("v{i}"))
            .await
            .unwrap()
            .expect_status(StatusCode::OK);
        let got = conn.send("GET", &path, &[], "").await.unwrap();
        assert_eq!(got.body, format!("v{i}"));
    }
}

#[tokio::test]
async fn concurrent_connections_do_not_interfere() {
    const CLIENTS: usize = 32;
    const OBJECTS_EACH: usize = 8;
    let gw = TestGateway::start().await;
    gw.conn_with_buckets(&["db_wal"]).await;

    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        let addr = gw.addr();
        clients.spawn(async move {
            let mut conn = Conn::open(addr, ACCESS_KEY, SECRET_KEY).await.unwrap();
            for i in 0..OBJECTS_EACH {
                let path = object_path("db_wal", &format!("c{client:02}/o{i}"));
                let data = pattern(1000 + client * 31 + i);
                conn.send("PUT", &path, &[], data.clone())
                    .await
                    .unwrap()
                    .expect_status(StatusCode::OK);
                let got = conn.send("GET", &path, &[], "").await.unwrap();
                assert_eq!(got.body.as_ref(), data.as_slice());
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }

    let mut conn = gw.conn().await;
    let list = conn
        .send("GET", "/db_wal?list-type=2", &[], "")
        .await
        .unwrap();
    assert_eq!(list.tags("Key").len(), CLIENTS * OBJECTS_EACH);
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let gw = TestGateway::start().await;
    let addr = gw.addr();
    let mut idle = gw.conn_with_buckets(&["db_wal"]).await;

    tokio::time::timeout(PATIENCE, gw.gateway.shutdown())
        .await
        .expect("shutdown returns though a keep-alive connection is open");

    let refused = TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "gateway still accepts connections after shutdown"
    );
    // The idle keep-alive connection was closed too.
    assert!(idle.send("GET", "/", &[], "").await.is_err());
}

/// A request in flight when shutdown starts is finished, not cut: here an upload whose body
/// the test is still sending.
#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let TestGateway { gateway, root } = TestGateway::start().await;
    let mut conn = Conn::open(gateway.local_addr(), ACCESS_KEY, SECRET_KEY)
        .await
        .unwrap();
    conn.send("PUT", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);

    let (mut body_tx, body) = Channel::<Bytes>::new(1);
    let path = object_path("db_wal", "in-flight");
    let upload = tokio::spawn(async move {
        conn.send_body(
            "PUT",
            &path,
            &[("content-length", "6")],
            Payload::Unsigned,
            body.boxed(),
        )
        .await
    });
    body_tx.send_data(Bytes::from_static(b"abc")).await.unwrap();

    // s3s-fs writes an upload to a temporary file in the root: once one exists the server is
    // inside the PutObject handler, so the request is in flight.
    let in_handler = async {
        loop {
            let mut entries = tokio::fs::read_dir(root.path()).await.unwrap();
            while let Some(entry) = entries.next_entry().await.unwrap() {
                if entry.file_name().to_string_lossy().starts_with(".tmp.") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, in_handler)
        .await
        .expect("upload reaches the handler");

    let shutdown = tokio::spawn(gateway.shutdown());
    body_tx.send_data(Bytes::from_static(b"def")).await.unwrap();
    drop(body_tx);

    let reply = tokio::time::timeout(PATIENCE, upload)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    reply.expect_status(StatusCode::OK);
    tokio::time::timeout(PATIENCE, shutdown)
        .await
        .unwrap()
        .unwrap();
    let stored = tokio::fs::read(root.path().join("db_wal").join("in-flight"))
        .await
        .unwrap();
    assert_eq!(stored, b"abcdef");
}

#[tokio::test]
async fn dropping_the_gateway_stops_it() {
    let TestGateway {
        gateway,
        root: _root,
    } = TestGateway::start().await;
    let addr = gateway.local_addr();
    drop(gateway);
    let closed = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, closed)
        .await
        .expect("listener closes after drop");
}

#[tokio::test]
async fn endpoint_url_names_the_bound_port() {
    let gw = TestGateway::start().await;
    let addr = gw.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    assert_eq!(gw.gateway.endpoint_url(), format!("http://{addr}"));
}

/// Everything the gateway and s3s log, at `trace`, while it serves signed requests (a copy
/// through the relaxed-name route and a refused signature included), never holds the secret.
/// (s3s does log request headers at `debug`, the `Authorization` header with its access key and
/// signature among them: see the crate documentation.)
#[tokio::test]
async fn logs_never_hold_the_secret() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // A `#[tokio::test]` runtime runs the gateway's tasks on this thread, so a thread-local
    // subscriber sees them all.
    let _guard = tracing::subscriber::set_default(subscriber);

    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    let path = object_path("db_wal", "k");
    conn.send("PUT", &path, &[], "x").await.unwrap();
    conn.send("GET", &path, &[], "").await.unwrap();
    conn.send(
        "PUT",
        &object_path("db_wal", "k2"),
        &[("x-amz-copy-source", "/db_wal/k")],
        "",
    )
    .await
    .unwrap()
    .expect_status(StatusCode::OK);
    let mut intruder = Conn::open(gw.addr(), ACCESS_KEY, "not-the-secret")
        .await
        .unwrap();
    intruder.send("GET", "/", &[], "").await.unwrap();
    gw.gateway.shutdown().await;

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(log.contains("gateway listening"), "nothing captured");
    assert!(!log.contains(SECRET_KEY), "the secret was logged");
}

/// A handler that panics answers `500 InternalError` and the connection stays usable. s3s-fs's
/// ListParts unwraps the part number it reads back from a file name; a stray file in the root
/// whose name is not a number makes it panic.
#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_connection_lives_on() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    let path = object_path("db_wal", "k");
    let created = conn
        .send("POST", &format!("{path}?uploads"), &[], "")
        .await
        .unwrap();
    let upload_id = created.tag("UploadId").unwrap();
    let stray = gw
        .root
        .path()
        .join(format!(".upload_id-{upload_id}.part-bogus"));
    tokio::fs::write(&stray, b"").await.unwrap();

    conn.send("GET", &format!("{path}?uploadId={upload_id}"), &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
    conn.send("HEAD", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
}
