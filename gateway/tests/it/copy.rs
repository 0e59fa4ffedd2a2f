//! CopyObject, including out of buckets whose names only the relaxed rule accepts.

use http::{HeaderValue, StatusCode};

use crate::client::object_path;
use crate::{TestGateway, pattern};

#[tokio::test]
async fn copy_object_between_and_within_runbook_buckets() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal", "registry"]).await;
    let data = pattern(4096);
    let src_key = "base/wal 0001 ü";
    conn.send(
        "PUT",
        &object_path("db_wal", src_key),
        &[("x-amz-meta-origin", "wal")],
        data.clone(),
    )
    .await
    .unwrap()
    .expect_status(StatusCode::OK);
    let source = object_path("db_wal", src_key);

    for (bucket, key) in [("registry", "copied/one"), ("db_wal", "copied/two")] {
        let copy = conn
            .send(
                "PUT",
                &object_path(bucket, key),
                &[("x-amz-copy-source", &source)],
                "",
            )
            .await
            .unwrap();
        copy.expect_status(StatusCode::OK);
        assert!(
            copy.tag("ETag").is_some(),
            "no CopyObjectResult: {}",
            copy.text()
        );

        let got = conn
            .send("GET", &object_path(bucket, key), &[], "")
            .await
            .unwrap();
        got.expect_status(StatusCode::OK);
        assert_eq!(got.body.as_ref(), data.as_slice());
        assert_eq!(
            got.header("x-amz-meta-origin"),
            Some("wal"),
            "metadata copied"
        );
    }

    // Out of an AWS-valid bucket into a relaxed one goes through s3s unchanged.
    let back = conn
        .send(
            "PUT",
            &object_path("db_wal", "back"),
            &[("x-amz-copy-source", "registry/copied/one")],
            "",
        )
        .await
        .unwrap();
    back.expect_status(StatusCode::OK);

    // Listings carry every object's ETag, a copy's being its source's.
    let put_etag = conn
        .send("HEAD", &source, &[], "")
        .await
        .unwrap()
        .header("ETag")
        .map(str::to_owned)
        .expect("HeadObject ETag");
    for query in ["?list-type=2", ""] {
        let listed = conn
            .send("GET", &format!("/db_wal{query}"), &[], "")
            .await
            .unwrap();
        listed.expect_status(StatusCode::OK);
        assert_eq!(
            listed.tags("Key"),
            ["back", src_key, "copied/two"],
            "{}",
            listed.text()
        );
        assert_eq!(
            listed.tags("ETag"),
            [put_etag.as_str(); 3],
            "ListObjects{query} ETags: {}",
            listed.text()
        );
    }
}

#[tokio::test]
async fn copy_from_a_missing_key_in_a_relaxed_bucket_is_no_such_key() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    conn.send(
        "PUT",
        &object_path("db_wal", "dst"),
        &[("x-amz-copy-source", "/db_wal/nothing")],
        "",
    )
    .await
    .unwrap()
    .expect_error(StatusCode::NOT_FOUND, "NoSuchKey");
}

/// The relaxed copy path rewrites `x-amz-copy-source`, but only after s3s has checked the
/// signature over the header as sent: a header changed after signing is refused.
#[tokio::test]
async fn copy_source_is_covered_by_the_signature() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    for key in ["signed", "other"] {
        conn.send("PUT", &object_path("db_wal", key), &[], key)
            .await
            .unwrap();
    }

    let tampered = conn
        .send_tampered(
            "PUT",
            &object_path("db_wal", "dst"),
            &[("x-amz-copy-source", "/db_wal/signed")],
            |headers| {
                headers.insert(
                    "x-amz-copy-source",
                    HeaderValue::from_static("/db_wal/other"),
                );
            },
        )
        .await
        .unwrap();
    tampered.expect_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    conn.send("HEAD", &object_path("db_wal", "dst"), &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn strict_names_refuse_a_copy_out_of_db_wal() {
    let gw = TestGateway::start_with(false).await;
    let mut conn = gw.conn_with_buckets(&["registry"]).await;
    let copy = conn
        .send(
            "PUT",
            &object_path("registry", "k"),
            &[("x-amz-copy-source", "/db_wal/k")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(copy.status, StatusCode::BAD_REQUEST, "{}", copy.text());
}
