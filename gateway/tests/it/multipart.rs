//! Multipart uploads, UploadPartCopy included.

use std::fmt::Write as _;

use http::StatusCode;

use crate::client::{Conn, object_path};
use crate::{TestGateway, pattern};

/// S3's smallest part but the last, which s3s-fs enforces too.
const MIN_PART: usize = 5 * 1024 * 1024;

async fn create_upload(conn: &mut Conn, path: &str) -> String {
    let created = conn
        .send("POST", &format!("{path}?uploads"), &[], "")
        .await
        .unwrap();
    created.expect_status(StatusCode::OK);
    created.tag("UploadId").expect("UploadId")
}

fn complete_body(etags: &[String]) -> String {
    let mut body = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        let number = i + 1;
        write!(
            body,
            "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
        )
        .expect("writing to a String cannot fail");
    }
    body + "</CompleteMultipartUpload>"
}

#[tokio::test]
async fn multipart_upload_with_a_copied_part() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal", "registry"]).await;
    let source = pattern(3000);
    conn.send(
        "PUT",
        &object_path("db_wal", "src segment"),
        &[],
        source.clone(),
    )
    .await
    .unwrap()
    .expect_status(StatusCode::OK);

    let path = object_path("registry", "blobs/big layer");
    let upload_id = create_upload(&mut conn, &path).await;

    let first = pattern(MIN_PART);
    let second: Vec<u8> = pattern(MIN_PART + 7).into_iter().rev().collect();
    let mut etags = Vec::new();
    for (number, data) in [(1, &first), (2, &second)] {
        let part = conn
            .send(
                "PUT",
                &format!("{path}?partNumber={number}&uploadId={upload_id}"),
                &[],
                data.clone(),
            )
            .await
            .unwrap();
        part.expect_status(StatusCode::OK);
        etags.push(part.header("etag").expect("part ETag").to_owned());
    }
    let copied = conn
        .send(
            "PUT",
            &format!("{path}?partNumber=3&uploadId={upload_id}"),
            &[
                ("x-amz-copy-source", &object_path("db_wal", "src segment")),
                ("x-amz-copy-source-range", "bytes=1000-1999"),
            ],
            "",
        )
        .await
        .unwrap();
    copied.expect_status(StatusCode::OK);
    etags.push(copied.tag("ETag").expect("CopyPartResult ETag"));

    let parts = conn
        .send("GET", &format!("{path}?uploadId={upload_id}"), &[], "")
        .await
        .unwrap();
    parts.expect_status(StatusCode::OK);
    let mut numbers = parts.tags("PartNumber");
    numbers.sort();
    assert_eq!(numbers, ["1", "2", "3"]);

    let done = conn
        .send(
            "POST",
            &format!("{path}?uploadId={upload_id}"),
            &[],
            complete_body(&etags),
        )
        .await
        .unwrap();
    done.expect_status(StatusCode::OK);
    let etag = done
        .tag("ETag")
        .expect("CompleteMultipartUploadResult ETag");
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "multipart ETag {etag}"
    );

    let whole = conn.send("GET", &path, &[], "").await.unwrap();
    whole.expect_status(StatusCode::OK);
    let expected: Vec<u8> = [first.as_slice(), second.as_slice(), &source[1000..2000]].concat();
    assert_eq!(whole.body.len(), expected.len());
    assert!(
        whole.body.as_ref() == expected.as_slice(),
        "assembled object differs"
    );

    let ranged = conn
        .send(
            "GET",
            &path,
            &[("range", &format!("bytes={}-{}", MIN_PART - 2, MIN_PART + 1))],
            "",
        )
        .await
        .unwrap();
    ranged.expect_status(StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.body.as_ref(), &expected[MIN_PART - 2..MIN_PART + 2]);
}

#[tokio::test]
async fn small_parts_but_the_last_are_refused() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    let path = object_path("db_wal", "k");
    let upload_id = create_upload(&mut conn, &path).await;
    let mut etags = Vec::new();
    for number in 1..=2 {
        let part = conn
            .send(
                "PUT",
                &format!("{path}?partNumber={number}&uploadId={upload_id}"),
                &[],
                "tiny",
            )
            .await
            .unwrap();
        etags.push(part.header("etag").unwrap().to_owned());
    }
    conn.send(
        "POST",
        &format!("{path}?uploadId={upload_id}"),
        &[],
        complete_body(&etags),
    )
    .await
    .unwrap()
    .expect_error(StatusCode::BAD_REQUEST, "EntityTooSmall");
}

#[tokio::test]
async fn aborted_upload_is_gone() {
    let gw = TestGateway::start().await;
    let mut conn = gw.conn_with_buckets(&["db_wal"]).await;
    let path = object_path("db_wal", "k");
    let upload_id = create_upload(&mut conn, &path).await;
    conn.send(
        "PUT",
        &format!("{path}?partNumber=1&uploadId={upload_id}"),
        &[],
        "x",
    )
    .await
    .unwrap()
    .expect_status(StatusCode::OK);

    conn.send("DELETE", &format!("{path}?uploadId={upload_id}"), &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::NO_CONTENT);
    conn.send(
        "PUT",
        &format!("{path}?partNumber=2&uploadId={upload_id}"),
        &[],
        "x",
    )
    .await
    .unwrap()
    .expect_error(StatusCode::NOT_FOUND, "NoSuchUpload");
    conn.send("DELETE", &format!("{path}?uploadId={upload_id}"), &[], "")
        .await
        .unwrap()
        .expect_error(StatusCode::NOT_FOUND, "NoSuchUpload");
}
