//! Buckets, objects and listings.

use http::StatusCode;

use crate::client::{object_path, query_value};
use crate::{TestGateway, pattern};

#[tokio::test]
async fn runbook_buckets_are_created_and_listed() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal", "registry"]).await;

    let list = conn.send("GET", "/", &[], "").await.unwrap();
    list.expect_status(StatusCode::OK);
    assert_eq!(list.tags("Name"), ["db_wal", "registry"]);

    conn.send("HEAD", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    conn.send("PUT", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::CONFLICT, "BucketAlreadyOwnedByYou");
}

#[tokio::test]
async fn strict_names_refuse_an_underscore() {
    let gw = TestGateway::start_with(false).await;
    let mut conn = gw.conn().await;
    conn.send("PUT", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::BAD_REQUEST, "InvalidBucketName");
    conn.send("PUT", "/registry", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn key_with_spaces_and_unicode_round_trips() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    let key = "base backups/2024 01/wal ü 日本 +%.bin";
    let path = object_path("db_wal", key);
    let data = pattern(10_000);

    let put = conn
        .send(
            "PUT",
            &path,
            &[("content-type", "application/octet-stream")],
            data.clone(),
        )
        .await
        .unwrap();
    put.expect_status(StatusCode::OK);
    let etag = put
        .header("etag")
        .expect("PutObject returns an ETag")
        .to_owned();

    let get = conn.send("GET", &path, &[], "").await.unwrap();
    get.expect_status(StatusCode::OK);
    assert_eq!(get.body.as_ref(), data.as_slice());
    assert_eq!(get.header("etag"), Some(etag.as_str()));
    assert_eq!(get.header("content-type"), Some("application/octet-stream"));

    let head = conn.send("HEAD", &path, &[], "").await.unwrap();
    head.expect_status(StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("10000"));

    let list = conn
        .send("GET", "/db_wal?list-type=2", &[], "")
        .await
        .unwrap();
    assert_eq!(list.tags("Key"), [key]);
}

#[tokio::test]
async fn ranged_get_returns_the_range() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;
    let path = object_path("registry", "blobs/sha256/ab");
    let data = pattern(1000);
    conn.send("PUT", &path, &[], data.clone())
        .await
        .unwrap()
        .expect_status(StatusCode::OK);

    let part = conn
        .send("GET", &path, &[("range", "bytes=100-199")], "")
        .await
        .unwrap();
    part.expect_status(StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.as_ref(), &data[100..200]);
    assert_eq!(part.header("content-range"), Some("bytes 100-199/1000"));

    let open_end = conn
        .send("GET", &path, &[("range", "bytes=990-")], "")
        .await
        .unwrap();
    open_end.expect_status(StatusCode::PARTIAL_CONTENT);
    assert_eq!(open_end.body.as_ref(), &data[990..]);

    let suffix = conn
        .send("GET", &path, &[("range", "bytes=-5")], "")
        .await
        .unwrap();
    suffix.expect_status(StatusCode::PARTIAL_CONTENT);
    assert_eq!(suffix.body.as_ref(), &data[995..]);

    conn.send("GET", &path, &[("range", "bytes=1000-1001")], "")
        .await
        .unwrap()
        .expect_error(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange");
}

#[tokio::test]
async fn list_v2_pages_through_continuation_tokens() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    // S3 order is byte order of the whole key: `a-b` before `a/…`, `B` before `a`.
    let mut keys = vec!["a-b", "a/1", "a/2", "a/sub/3", "B", "c d", "z\u{fc}"];
    for key in &keys {
        conn.send("PUT", &object_path("db_wal", key), &[], *key)
            .await
            .unwrap();
    }
    keys.sort_unstable();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &token {
            None => "/db_wal?list-type=2&max-keys=2".to_owned(),
            Some(token) => format!(
                "/db_wal?list-type=2&max-keys=2&continuation-token={}",
                query_value(token)
            ),
        };
        let page = conn.send("GET", &query, &[], "").await.unwrap();
        page.expect_status(StatusCode::OK);
        pages += 1;
        seen.extend(page.tags("Key"));
        if page.tag("IsTruncated").as_deref() != Some("true") {
            break;
        }
        let next = page
            .tag("NextContinuationToken")
            .expect("a truncated page has a token");
        assert!(
            !keys.contains(&next.as_str()),
            "token {next:?} is a raw key"
        );
        token = Some(next);
        assert!(pages < 10, "listing does not end");
    }
    assert_eq!(seen, keys);
    assert_eq!(pages, 4);
}

#[tokio::test]
async fn list_v2_groups_by_delimiter_and_encodes_keys() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;
    for key in ["top", "dir one/x", "dir one/y", "dir+two/z", "other/deep/w"] {
        conn.send("PUT", &object_path("registry", key), &[], "x")
            .await
            .unwrap();
    }

    let root = conn
        .send("GET", "/registry?list-type=2&delimiter=%2F", &[], "")
        .await
        .unwrap();
    root.expect_status(StatusCode::OK);
    assert_eq!(root.tags("Key"), ["top"]);
    assert_eq!(root.common_prefixes(), ["dir one/", "dir+two/", "other/"]);

    let nested = conn
        .send(
            "GET",
            "/registry?list-type=2&delimiter=%2F&prefix=other%2F",
            &[],
            "",
        )
        .await
        .unwrap();
    assert!(nested.tags("Key").is_empty());
    assert_eq!(nested.tag("Prefix").as_deref(), Some("other/"));
    assert_eq!(nested.common_prefixes(), ["other/deep/"]);

    let encoded = conn
        .send(
            "GET",
            "/registry?list-type=2&delimiter=%2F&encoding-type=url",
            &[],
            "",
        )
        .await
        .unwrap();
    assert_eq!(encoded.tag("EncodingType").as_deref(), Some("url"));
    assert_eq!(
        encoded.common_prefixes(),
        ["dir%20one/", "dir%2Btwo/", "other/"]
    );
    assert_eq!(encoded.tag("Delimiter").as_deref(), Some("/"));
}

#[tokio::test]
async fn list_v1_pages_with_marker() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;
    for key in ["k1", "k2", "k3"] {
        conn.send("PUT", &object_path("registry", key), &[], "x")
            .await
            .unwrap();
    }
    let first = conn
        .send("GET", "/registry?max-keys=2", &[], "")
        .await
        .unwrap();
    first.expect_status(StatusCode::OK);
    assert_eq!(first.tags("Key"), ["k1", "k2"]);
    assert_eq!(first.tag("IsTruncated").as_deref(), Some("true"));

    let second = conn
        .send("GET", "/registry?max-keys=2&marker=k2", &[], "")
        .await
        .unwrap();
    assert_eq!(second.tags("Key"), ["k3"]);
    assert_eq!(second.tag("Marker").as_deref(), Some("k2"));
    assert_eq!(second.tag("IsTruncated").as_deref(), Some("false"));
}

#[tokio::test]
async fn delete_objects_removes_several_keys() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    for key in ["a", "b", "dir/c", "keep"] {
        conn.send("PUT", &object_path("db_wal", key), &[], "x")
            .await
            .unwrap();
    }
    let body = "<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object>\
                <Object><Key>dir/c</Key></Object><Object><Key>missing</Key></Object></Delete>";
    // S3 requires an integrity header on DeleteObjects; s3s accepts the request without one.
    let deleted = conn
        .send("POST", "/db_wal?delete", &[], body)
        .await
        .unwrap();
    deleted.expect_status(StatusCode::OK);
    assert_eq!(deleted.tags("Key"), ["a", "b", "dir/c", "missing"]);

    let list = conn
        .send("GET", "/db_wal?list-type=2", &[], "")
        .await
        .unwrap();
    assert_eq!(list.tags("Key"), ["keep"]);
}

#[tokio::test]
async fn missing_buckets_and_keys_answer_like_s3() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;

    conn.send("PUT", &object_path("nope", "k"), &[], "x")
        .await
        .unwrap()
        .expect_error(StatusCode::NOT_FOUND, "NoSuchBucket");
    conn.send(
        "POST",
        &format!("{}?uploads", object_path("nope", "k")),
        &[],
        "",
    )
    .await
    .unwrap()
    .expect_error(StatusCode::NOT_FOUND, "NoSuchBucket");
    conn.send("GET", &object_path("nope", "k"), &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::NOT_FOUND, "NoSuchBucket");
    conn.send("GET", &object_path("registry", "k"), &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::NOT_FOUND, "NoSuchKey");
    assert!(
        !gw.root.path().join("nope").exists(),
        "a PUT created the bucket"
    );

    // `a` is a directory on disk once `a/b` exists; it is not an object.
    conn.send("PUT", &object_path("registry", "a/b"), &[], "x")
        .await
        .unwrap();
    conn.send("GET", &object_path("registry", "a"), &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::NOT_FOUND, "NoSuchKey");
    let head = conn
        .send("HEAD", &object_path("registry", "a"), &[], "")
        .await
        .unwrap();
    assert_eq!(head.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bucket_with_objects_is_not_deleted() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    let path = object_path("db_wal", "dir/wal-1");
    conn.send("PUT", &path, &[], "x").await.unwrap();

    conn.send("DELETE", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::CONFLICT, "BucketNotEmpty");

    conn.send("DELETE", &path, &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::NO_CONTENT);
    // The empty `dir/` left on disk is not an object.
    conn.send("DELETE", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::NO_CONTENT);
    conn.send("HEAD", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn conditional_reads_follow_etag_and_date() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;
    let path = object_path("registry", "manifest");
    let put = conn.send("PUT", &path, &[], pattern(100)).await.unwrap();
    let etag = put.header("etag").unwrap().to_owned();

    // A ranged download pinned to the ETag.
    let pinned = conn
        .send(
            "GET",
            &path,
            &[("range", "bytes=0-9"), ("if-match", &etag)],
            "",
        )
        .await
        .unwrap();
    pinned.expect_status(StatusCode::PARTIAL_CONTENT);
    assert_eq!(pinned.body.len(), 10);

    conn.send("PUT", &path, &[], pattern(101)).await.unwrap();
    conn.send(
        "GET",
        &path,
        &[("range", "bytes=0-9"), ("if-match", &etag)],
        "",
    )
    .await
    .unwrap()
    .expect_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed");
    let head = conn
        .send("HEAD", &path, &[("if-match", &etag)], "")
        .await
        .unwrap();
    assert_eq!(head.status, StatusCode::PRECONDITION_FAILED);

    let current = conn.send("HEAD", &path, &[], "").await.unwrap();
    let current_etag = current.header("etag").unwrap().to_owned();
    let not_modified = conn
        .send("GET", &path, &[("if-none-match", &current_etag)], "")
        .await
        .unwrap();
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());
    conn.send("GET", &path, &[("if-none-match", &etag)], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);

    // The stored date, at the second, is "not modified since" itself.
    let since = current.header("last-modified").unwrap().to_owned();
    let by_date = conn
        .send("GET", &path, &[("if-modified-since", &since)], "")
        .await
        .unwrap();
    assert_eq!(by_date.status, StatusCode::NOT_MODIFIED);
    conn.send("GET", &path, &[("if-unmodified-since", &since)], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    conn.send(
        "GET",
        &path,
        &[("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        "",
    )
    .await
    .unwrap()
    .expect_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed");
}
