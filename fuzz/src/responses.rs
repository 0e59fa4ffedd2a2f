//! The other S3 response parsers: `ListBuckets`, the multipart answers
//! (`CreateMultipartUpload`, `ListParts`, `ListMultipartUploads`,
//! `CompleteMultipartUpload`), `CopyObject`/`UploadPartCopy` and `DeleteObjects`.
//!
//! Each target reads its input twice, as `listing` does: as a response body (what parses
//! holds the parser's promises and, written back as a document, parses to the same value;
//! an `<Error>` in a 200 body is always reported as the gateway's error), and as a
//! description of an answer whose document must parse to exactly the values described, or
//! to the one error the description calls for, at the element where it is due.

use engine::s3::{
    BucketEntry, CompletedUpload, CopyResult, DeleteFailure, DeleteObjectsOutput, ETag,
    ListBucketsOutput, Location, MAX_ENTRIES_PER_PAGE, MultipartUploadEntry, MultipartUploadsPage,
    ParseError, ParseErrorKind, PartEntry, PartsPage, ResponseError, S3ErrorCode, StorageClass,
    error_in_200_body, parse_complete_multipart_upload, parse_copy_object,
    parse_create_multipart_upload, parse_delete_objects, parse_list_buckets,
    parse_list_multipart_uploads, parse_list_parts, parse_upload_part_copy,
};
use time::OffsetDateTime;

use crate::errors::ErrorSpec;
use crate::input::Input;
use crate::listing::same_kind;
use crate::xml::{self, Doc};

/// An expected refusal: the element path and the kind of error.
type Refusal = (String, ParseErrorKind);

/// Compares a parse with what a description calls for.
fn check<T: PartialEq + std::fmt::Debug>(
    got: &Result<T, ParseError>,
    expected: &Result<T, Refusal>,
    body: &[u8],
) {
    let body = String::from_utf8_lossy(body);
    match (got, expected) {
        (Ok(value), Ok(want)) => assert_eq!(value, want, "read differs from written:\n{body}"),
        (Err(err), Err((path, kind))) => {
            let at = match &err.location {
                Location::Element { path, .. } => path.as_str(),
                other => panic!("an error outside any element ({other}): {err}\n{body}"),
            };
            assert_eq!(at, path, "error at the wrong element: {err}\n{body}");
            same_kind(&err.kind, kind, &body);
        }
        (Ok(value), Err(want)) => {
            panic!("accepted what must be refused ({want:?}): {value:?}\n{body}")
        }
        (Err(err), Ok(_)) => panic!("refused a valid answer: {err}\n{body}"),
    }
}

fn refuse<T>(path: &str, kind: ParseErrorKind) -> Result<T, Refusal> {
    Err((path.to_owned(), kind))
}

fn invalid_name() -> ParseErrorKind {
    ParseErrorKind::InvalidName(engine::s3::NameError::PartNumber(0))
}

fn invalid_value() -> ParseErrorKind {
    ParseErrorKind::InvalidValue {
        expected: "",
        found: String::new(),
    }
}

/// Text XML can carry, with leading and trailing whitespace the input chooses.
fn padded(input: &mut Input<'_>, text: &str) -> String {
    match input.below(4) {
        0 => format!(" {text}\n"),
        1 => format!("\t{text}"),
        _ => text.to_owned(),
    }
}

fn bool_text(input: &mut Input<'_>, value: bool) -> &'static str {
    match (value, input.below(3)) {
        (true, 0) => "True",
        (true, _) => "true",
        (false, 0) => " FALSE ",
        (false, _) => "false",
    }
}

fn time_text(at: OffsetDateTime) -> Option<String> {
    xml::format_timestamp(at)
}

// ---------------------------------------------------------------------------------------
// ListBuckets

const BUCKETS_ROOT: &str = "ListAllMyBucketsResult";

/// The `list_buckets` target.
pub fn list_buckets(data: &[u8]) {
    if let Ok(out) = parse_list_buckets(data) {
        assert!(
            out.buckets.len() <= MAX_ENTRIES_PER_PAGE,
            "above the entry cap"
        );
        for b in &out.buckets {
            assert!(
                xml::valid_bucket(b.name.as_str()),
                "invalid name {:?}",
                b.name
            );
        }
        if let Some(body) = write_buckets(&out) {
            check(&parse_list_buckets(&body), &Ok(out), &body);
        }
    }
    let mut input = Input::new(data);
    let refs = input.flag();
    let owner = input.flag().then(|| xml::safe_text(&mut input, 100));
    let mut doc = Doc::new(BUCKETS_ROOT);
    if let Some(id) = &owner {
        doc.open("Owner");
        doc.leaf("ID", id, refs);
        doc.leaf("DisplayName", "haul", refs);
        doc.close("Owner");
    }
    doc.open("Buckets");
    let mut expected: Result<Vec<BucketEntry>, Refusal> = Ok(Vec::new());
    for _ in 0..input.below(10) {
        let name = xml::safe_text(&mut input, 300);
        let created = input.flag().then(|| xml::timestamp(&mut input));
        doc.open("Bucket");
        doc.leaf("Name", &name, refs);
        if let Some((_, text)) = &created {
            doc.leaf("CreationDate", text, refs);
        }
        doc.close("Bucket");
        if let Ok(list) = &mut expected {
            if xml::valid_bucket(&name) {
                list.push(BucketEntry {
                    name: engine::s3::BucketName::new(name).expect("checked by valid_bucket"),
                    creation_date: created.map(|(at, _)| at),
                });
            } else {
                expected = refuse("ListAllMyBucketsResult/Buckets/Bucket/Name", invalid_name());
            }
        }
    }
    doc.close("Buckets");
    let body = doc.finish(BUCKETS_ROOT);
    let expected = expected.map(|buckets| ListBucketsOutput {
        buckets,
        owner_id: owner.map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()),
    });
    check(&parse_list_buckets(&body), &expected, &body);
}

fn write_buckets(out: &ListBucketsOutput) -> Option<Vec<u8>> {
    let mut doc = Doc::new(BUCKETS_ROOT);
    if let Some(id) = &out.owner_id {
        doc.open("Owner");
        doc.leaf("ID", id, false);
        doc.close("Owner");
    }
    doc.open("Buckets");
    for b in &out.buckets {
        doc.open("Bucket");
        doc.leaf("Name", b.name.as_str(), false);
        if let Some(at) = b.creation_date {
            doc.leaf("CreationDate", &time_text(at)?, false);
        }
        doc.close("Bucket");
    }
    doc.close("Buckets");
    Some(doc.finish(BUCKETS_ROOT))
}

// ---------------------------------------------------------------------------------------
// CreateMultipartUpload

const INITIATE_ROOT: &str = "InitiateMultipartUploadResult";

/// The `create_multipart_upload` target.
pub fn create_multipart_upload(data: &[u8]) {
    if let Ok(id) = parse_create_multipart_upload(data) {
        assert!(
            xml::valid_upload_id(id.as_str()),
            "invalid upload id {id:?}"
        );
        let mut doc = Doc::new(INITIATE_ROOT);
        doc.leaf("UploadId", id.as_str(), false);
        let body = doc.finish(INITIATE_ROOT);
        check(&parse_create_multipart_upload(&body), &Ok(id), &body);
    }
    let mut input = Input::new(data);
    let refs = input.flag();
    let id = input.flag().then(|| xml::safe_text(&mut input, 1100));
    let mut doc = Doc::new(INITIATE_ROOT);
    doc.leaf("Bucket", "db_wal", refs);
    doc.leaf("Key", &xml::safe_text(&mut input, 100), refs);
    if let Some(id) = &id {
        doc.leaf("UploadId", id, refs);
    }
    let body = doc.finish(INITIATE_ROOT);
    let expected = match id {
        None => refuse(INITIATE_ROOT, ParseErrorKind::Missing("UploadId")),
        Some(id) if xml::valid_upload_id(&id) => {
            Ok(engine::s3::UploadId::new(id).expect("checked by valid_upload_id"))
        }
        Some(_) => refuse("InitiateMultipartUploadResult/UploadId", invalid_name()),
    };
    check(&parse_create_multipart_upload(&body), &expected, &body);
}

// ---------------------------------------------------------------------------------------
// ListParts

const PARTS_ROOT: &str = "ListPartsResult";

/// The `list_parts` target.
pub fn list_parts(data: &[u8]) {
    if let Ok(page) = parse_list_parts(data) {
        assert!(
            page.parts.len() <= MAX_ENTRIES_PER_PAGE,
            "above the entry cap"
        );
        assert!(
            !page.is_truncated || page.next_part_number_marker.is_some(),
            "a truncated page without a marker"
        );
        for p in &page.parts {
            assert!(
                (1..=10_000).contains(&p.part_number.get()),
                "part {}",
                p.part_number
            );
        }
        if let Some(body) = write_parts(&page) {
            check(&parse_list_parts(&body), &Ok(page), &body);
        }
    }
    parts_description(&mut Input::new(data));
}

fn write_parts(page: &PartsPage) -> Option<Vec<u8>> {
    let mut doc = Doc::new(PARTS_ROOT);
    doc.leaf(
        "IsTruncated",
        if page.is_truncated { "true" } else { "false" },
        false,
    );
    if let Some(m) = page.next_part_number_marker {
        doc.leaf("NextPartNumberMarker", &m.to_string(), false);
    }
    for p in &page.parts {
        doc.open("Part");
        doc.leaf("PartNumber", &p.part_number.to_string(), false);
        if let Some(at) = p.last_modified {
            doc.leaf("LastModified", &time_text(at)?, false);
        }
        doc.leaf("ETag", p.etag.as_str(), false);
        doc.leaf("Size", &p.size.to_string(), false);
        doc.close("Part");
    }
    Some(doc.finish(PARTS_ROOT))
}

fn parts_description(input: &mut Input<'_>) {
    let refs = input.flag();
    let truncated = input.flag();
    let marker = input.flag().then(|| match input.below(4) {
        0 => input.u64(),
        _ => u64::from(input.u16()),
    });
    let mut doc = Doc::new(PARTS_ROOT);
    doc.leaf("Bucket", "db_wal", refs);
    doc.leaf("Key", "base/base.tar", refs);
    doc.leaf("UploadId", "2~abc", refs);
    doc.leaf("PartNumberMarker", "0", refs);
    let truncated_text = bool_text(input, truncated);
    doc.leaf("IsTruncated", truncated_text, refs);
    let mut expected: Result<Vec<PartEntry>, Refusal> = Ok(Vec::new());
    if let Some(m) = marker {
        doc.leaf("NextPartNumberMarker", &padded(input, &m.to_string()), refs);
        if u32::try_from(m).is_err() {
            expected = refuse("ListPartsResult/NextPartNumberMarker", invalid_value());
        }
    }
    for _ in 0..input.below(10) {
        let number = match input.below(8) {
            0 => input.u64(),
            _ => 1 + input.below(10_000) as u64,
        };
        let etag = match input.below(8) {
            0 => None,
            1 => Some(" ".to_owned()),
            _ => Some(xml::etag(input)),
        };
        let size = input.flag().then(|| input.u64());
        let modified = input.flag().then(|| xml::timestamp(input));
        let has_number = input.below(8) != 0;
        doc.open("Part");
        if has_number {
            doc.leaf("PartNumber", &padded(input, &number.to_string()), refs);
        }
        if let Some((_, text)) = &modified {
            doc.leaf("LastModified", text, refs);
        }
        if let Some(tag) = &etag {
            doc.leaf("ETag", tag, refs);
        }
        if let Some(size) = size {
            doc.leaf("Size", &size.to_string(), refs);
        }
        doc.close("Part");
        let Ok(parts) = &mut expected else { continue };
        let number_ok = (1..=10_000).contains(&number);
        let part = if has_number && !number_ok {
            refuse("ListPartsResult/Part/PartNumber", invalid_name())
        } else if etag.as_deref().is_some_and(|t| t.trim().is_empty()) {
            refuse("ListPartsResult/Part/ETag", invalid_value())
        } else if !has_number {
            refuse(
                "ListPartsResult/Part",
                ParseErrorKind::Missing("PartNumber"),
            )
        } else if etag.is_none() {
            refuse("ListPartsResult/Part", ParseErrorKind::Missing("ETag"))
        } else if size.is_none() {
            refuse("ListPartsResult/Part", ParseErrorKind::Missing("Size"))
        } else {
            Ok(PartEntry {
                part_number: engine::s3::PartNumber::new(number).expect("in 1..=10000"),
                etag: ETag::new(etag.unwrap_or_default()).expect("xml::etag is valid"),
                size: size.unwrap_or_default(),
                last_modified: modified.map(|(at, _)| at),
            })
        };
        match part {
            Ok(p) => parts.push(p),
            Err(e) => expected = Err(e),
        }
    }
    let body = doc.finish(PARTS_ROOT);
    let expected = expected.and_then(|parts| {
        if truncated && marker.is_none() {
            return refuse(PARTS_ROOT, ParseErrorKind::Missing("NextPartNumberMarker"));
        }
        Ok(PartsPage {
            parts,
            is_truncated: truncated,
            next_part_number_marker: marker.and_then(|m| u32::try_from(m).ok()),
        })
    });
    check(&parse_list_parts(&body), &expected, &body);
}

// ---------------------------------------------------------------------------------------
// ListMultipartUploads

const UPLOADS_ROOT: &str = "ListMultipartUploadsResult";

/// The `list_multipart_uploads` target.
pub fn list_multipart_uploads(data: &[u8]) {
    if let Ok(page) = parse_list_multipart_uploads(data) {
        assert!(
            page.uploads.len() <= MAX_ENTRIES_PER_PAGE,
            "above the entry cap"
        );
        assert!(
            !page.is_truncated
                || page
                    .next_key_marker
                    .as_deref()
                    .is_some_and(|m| !m.is_empty()),
            "a truncated page without a key marker"
        );
        for u in &page.uploads {
            assert!(xml::valid_key(u.key.as_str()), "invalid key {:?}", u.key);
            assert!(
                xml::valid_upload_id(u.upload_id.as_str()),
                "invalid id {:?}",
                u.upload_id
            );
        }
        if let Some(body) = write_uploads(&page) {
            check(&parse_list_multipart_uploads(&body), &Ok(page), &body);
        }
    }
    uploads_description(&mut Input::new(data));
}

fn write_uploads(page: &MultipartUploadsPage) -> Option<Vec<u8>> {
    let mut doc = Doc::new(UPLOADS_ROOT);
    doc.leaf(
        "IsTruncated",
        if page.is_truncated { "true" } else { "false" },
        false,
    );
    if let Some(m) = &page.next_key_marker {
        doc.leaf("NextKeyMarker", m, false);
    }
    if let Some(m) = &page.next_upload_id_marker {
        doc.leaf("NextUploadIdMarker", m, false);
    }
    for u in &page.uploads {
        doc.open("Upload");
        doc.leaf("Key", u.key.as_str(), false);
        doc.leaf("UploadId", u.upload_id.as_str(), false);
        if let Some(at) = u.initiated {
            doc.leaf("Initiated", &time_text(at)?, false);
        }
        if let Some(c) = &u.storage_class {
            doc.leaf("StorageClass", c.as_str(), false);
        }
        doc.close("Upload");
    }
    Some(doc.finish(UPLOADS_ROOT))
}

fn uploads_description(input: &mut Input<'_>) {
    let refs = input.flag();
    let truncated = input.flag();
    let key_marker = input.flag().then(|| xml::safe_text(input, 200));
    let id_marker = input.flag().then(|| xml::safe_text(input, 100));
    let mut doc = Doc::new(UPLOADS_ROOT);
    doc.leaf("Bucket", "registry", refs);
    doc.leaf("KeyMarker", "", refs);
    doc.leaf("IsTruncated", bool_text(input, truncated), refs);
    if let Some(m) = &key_marker {
        doc.leaf("NextKeyMarker", m, refs);
    }
    if let Some(m) = &id_marker {
        doc.leaf("NextUploadIdMarker", m, refs);
    }
    let mut expected: Result<Vec<MultipartUploadEntry>, Refusal> = Ok(Vec::new());
    for _ in 0..input.below(8) {
        let key = input.flag().then(|| xml::safe_text(input, 1100));
        let id = (input.below(8) != 0).then(|| xml::safe_text(input, 200));
        let initiated = input.flag().then(|| xml::timestamp(input));
        let class = input
            .flag()
            .then(|| ["STANDARD", "GLACIER", " odd "][input.below(3)]);
        doc.open("Upload");
        if let Some(k) = &key {
            doc.leaf("Key", k, refs);
        }
        if let Some(i) = &id {
            doc.leaf("UploadId", i, refs);
        }
        doc.open("Initiator");
        doc.leaf("ID", "haul", refs);
        doc.close("Initiator");
        if let Some(c) = class {
            doc.leaf("StorageClass", c, refs);
        }
        if let Some((_, text)) = &initiated {
            doc.leaf("Initiated", text, refs);
        }
        doc.close("Upload");
        let Ok(uploads) = &mut expected else { continue };
        let upload = match (&key, &id) {
            (Some(k), _) if !xml::valid_key(k) => {
                refuse("ListMultipartUploadsResult/Upload/Key", invalid_name())
            }
            (_, Some(i)) if !xml::valid_upload_id(i) => {
                refuse("ListMultipartUploadsResult/Upload/UploadId", invalid_name())
            }
            (None, _) => refuse(
                "ListMultipartUploadsResult/Upload",
                ParseErrorKind::Missing("Key"),
            ),
            (_, None) => refuse(
                "ListMultipartUploadsResult/Upload",
                ParseErrorKind::Missing("UploadId"),
            ),
            (Some(k), Some(i)) => Ok(MultipartUploadEntry {
                key: engine::s3::ObjectKey::new(k.clone()).expect("checked by valid_key"),
                upload_id: engine::s3::UploadId::new(i.clone()).expect("checked"),
                initiated: initiated.map(|(at, _)| at),
                storage_class: class.map(StorageClass::parse),
            }),
        };
        match upload {
            Ok(u) => uploads.push(u),
            Err(e) => expected = Err(e),
        }
    }
    let body = doc.finish(UPLOADS_ROOT);
    let next_key_marker = key_marker.filter(|m| !m.is_empty());
    let expected = expected.and_then(|uploads| {
        if truncated && next_key_marker.is_none() {
            return refuse(UPLOADS_ROOT, ParseErrorKind::Missing("NextKeyMarker"));
        }
        Ok(MultipartUploadsPage {
            uploads,
            is_truncated: truncated,
            next_key_marker,
            next_upload_id_marker: id_marker.filter(|m| !m.is_empty()),
        })
    });
    check(&parse_list_multipart_uploads(&body), &expected, &body);
}

// ---------------------------------------------------------------------------------------
// CompleteMultipartUpload

const COMPLETE_ROOT: &str = "CompleteMultipartUploadResult";

/// The `complete_multipart_upload` target.
pub fn complete_multipart_upload(data: &[u8]) {
    let got = parse_complete_multipart_upload(data);
    check_error_in_200(data, &got);
    if let Ok(done) = &got {
        assert!(
            done.etag
                .as_ref()
                .is_none_or(|t| xml::valid_etag(t.as_str())),
            "{done:?}"
        );
        let mut doc = Doc::new(COMPLETE_ROOT);
        if let Some(l) = &done.location {
            doc.leaf("Location", l, false);
        }
        doc.leaf("ETag", done.etag.as_ref().map_or("", ETag::as_str), false);
        let body = doc.finish(COMPLETE_ROOT);
        assert_eq!(
            parse_complete_multipart_upload(&body),
            Ok(done.clone()),
            "a result written back reads differently"
        );
    }

    let mut input = Input::new(data);
    let refs = input.flag();
    // AWS keeps a slow CompleteMultipartUpload alive with spaces before the XML.
    let keep_alive = if input.flag() { "  \n \n" } else { "" };
    if input.below(3) == 0 {
        let spec = ErrorSpec::read(&mut input);
        let mut body = keep_alive.as_bytes().to_vec();
        body.extend(spec.render(refs));
        let got = parse_complete_multipart_upload(&body);
        match got {
            Err(ResponseError::Service(err)) => {
                assert_eq!(*err, spec.expected(200, None), "the error in a 200 body");
            }
            other => panic!("an <Error> in a 200 body not reported: {other:?}"),
        }
        return;
    }
    let location = input.flag().then(|| xml::safe_text(&mut input, 200));
    let etag = match input.below(6) {
        0 => None,
        1 => Some("  ".to_owned()),
        _ => Some(xml::etag(&mut input)),
    };
    let mut doc = Doc::new(COMPLETE_ROOT);
    if let Some(l) = &location {
        doc.leaf("Location", l, refs);
    }
    doc.leaf("Bucket", "db_wal", refs);
    doc.leaf("Key", &xml::safe_text(&mut input, 100), refs);
    if let Some(t) = &etag {
        doc.leaf("ETag", &padded(&mut input, t), refs);
    }
    let mut body = keep_alive.as_bytes().to_vec();
    body.extend(doc.finish(COMPLETE_ROOT));
    let expected = match etag {
        None => refuse(COMPLETE_ROOT, ParseErrorKind::Missing("ETag")),
        Some(t) => Ok(CompletedUpload {
            location: location
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty()),
            // RGW 16 answers an empty ETag, which the caller computes from the parts.
            etag: Some(t)
                .filter(|t| !t.trim().is_empty())
                .map(|t| ETag::new(t).expect("xml::etag is valid")),
        }),
    };
    let got = parse_complete_multipart_upload(&body).map_err(|e| match e {
        ResponseError::Parse(p) => p,
        ResponseError::Service(s) => panic!("a result read as an error: {s}"),
    });
    check(&got, &expected, &body);
}

/// A body whose root is `Error` is the gateway's error, whatever else it holds; a body that
/// is not never is.
fn check_error_in_200<T: std::fmt::Debug>(body: &[u8], got: &Result<T, ResponseError>) {
    match (error_in_200_body(body), got) {
        (Some(want), Err(ResponseError::Service(err))) => {
            assert_eq!(**err, want, "the error in a 200 body");
            assert_eq!(err.status, 200);
        }
        (Some(want), other) => panic!("an <Error> in a 200 body ({want}) read as {other:?}"),
        (None, Err(ResponseError::Service(err))) => {
            panic!("a body without an <Error> root read as the gateway's error: {err}")
        }
        (None, _) => {}
    }
}

// ---------------------------------------------------------------------------------------
// CopyObject and UploadPartCopy

type CopyParser = fn(&[u8]) -> Result<CopyResult, ResponseError>;

/// The `copy_object` target: `CopyObject` and `UploadPartCopy`, which share the result's
/// shape under different roots and can both fail inside a 200.
pub fn copy_object(data: &[u8]) {
    const PARSERS: [(&str, CopyParser); 2] = [
        ("CopyObjectResult", parse_copy_object),
        ("CopyPartResult", parse_upload_part_copy),
    ];
    for (root, parse) in PARSERS {
        let got = parse(data);
        check_error_in_200(data, &got);
        if let Ok(r) = &got {
            assert!(xml::valid_etag(r.etag.as_str()), "{r:?}");
            let mut doc = Doc::new(root);
            if let Some(at) = r.last_modified {
                let Some(text) = time_text(at) else { continue };
                doc.leaf("LastModified", &text, false);
            }
            doc.leaf("ETag", r.etag.as_str(), false);
            let body = doc.finish(root);
            assert_eq!(
                parse(&body),
                Ok(r.clone()),
                "a result written back reads differently"
            );
        }
    }

    let mut input = Input::new(data);
    let refs = input.flag();
    let root = match input.below(3) {
        0 => "Error",
        1 => "CopyObjectResult",
        _ => "CopyPartResult",
    };
    if root == "Error" {
        let spec = ErrorSpec::read(&mut input);
        let body = spec.render(refs);
        for (_, parse) in PARSERS {
            match parse(&body) {
                Err(ResponseError::Service(err)) => {
                    assert_eq!(*err, spec.expected(200, None), "the error in a 200 body");
                }
                other => panic!("an <Error> in a 200 body not reported: {other:?}"),
            }
        }
        return;
    }
    let etag = match input.below(6) {
        0 => None,
        1 => Some(String::new()),
        _ => Some(xml::etag(&mut input)),
    };
    let modified = input.flag().then(|| xml::timestamp(&mut input));
    let mut doc = Doc::new(root);
    if let Some((_, text)) = &modified {
        doc.leaf("LastModified", text, refs);
    }
    if let Some(t) = &etag {
        doc.leaf("ETag", &padded(&mut input, t), refs);
    }
    doc.leaf("ChecksumCRC32", "AAAAAA==", refs);
    let body = doc.finish(root);
    for (parser_root, parse) in PARSERS {
        let expected = if parser_root != root {
            refuse(
                root,
                ParseErrorKind::UnexpectedRoot {
                    expected: parser_root,
                    found: root.to_owned(),
                },
            )
        } else {
            match &etag {
                None => refuse(root, ParseErrorKind::Missing("ETag")),
                Some(t) if t.trim().is_empty() => refuse(&format!("{root}/ETag"), invalid_value()),
                Some(t) => Ok(CopyResult {
                    etag: ETag::new(t.clone()).expect("xml::etag is valid"),
                    last_modified: modified.as_ref().map(|(at, _)| *at),
                }),
            }
        };
        let got = parse(&body).map_err(|e| match e {
            ResponseError::Parse(p) => p,
            ResponseError::Service(s) => panic!("a result read as an error: {s}"),
        });
        check(&got, &expected, &body);
    }
}

// ---------------------------------------------------------------------------------------
// DeleteObjects

const DELETE_ROOT: &str = "DeleteResult";

/// The `delete_objects` target.
pub fn delete_objects(data: &[u8]) {
    if let Ok(out) = parse_delete_objects(data) {
        assert!(
            out.deleted.len() + out.failed.len() <= MAX_ENTRIES_PER_PAGE,
            "above the entry cap"
        );
        for f in &out.failed {
            assert!(
                !f.code.as_str().trim().is_empty(),
                "a failure without a code"
            );
            assert!(
                f.message
                    .as_ref()
                    .is_none_or(|m| m.chars().count() <= 1024 && !m.trim().is_empty()),
                "{f:?}"
            );
        }
        let body = write_delete(&out);
        check(&parse_delete_objects(&body), &Ok(out), &body);
    }

    let mut input = Input::new(data);
    let refs = input.flag();
    let mut doc = Doc::new(DELETE_ROOT);
    let mut expected: Result<DeleteObjectsOutput, Refusal> = Ok(DeleteObjectsOutput::default());
    for _ in 0..input.below(12) {
        let key = (input.below(8) != 0).then(|| xml::safe_text(&mut input, 1100));
        if input.flag() {
            doc.open("Deleted");
            if let Some(k) = &key {
                doc.leaf("Key", k, refs);
            }
            if input.flag() {
                doc.leaf("DeleteMarker", "true", refs);
                doc.leaf("DeleteMarkerVersionId", "v1", refs);
            }
            doc.close("Deleted");
            let Ok(out) = &mut expected else { continue };
            match key {
                Some(k) => out.deleted.push(k),
                None => expected = refuse("DeleteResult/Deleted", ParseErrorKind::Missing("Key")),
            }
        } else {
            let code = xml::safe_text(&mut input, 40);
            let message = input.flag().then(|| xml::safe_text(&mut input, 1200));
            doc.open("Error");
            if let Some(k) = &key {
                doc.leaf("Key", k, refs);
            }
            doc.leaf("Code", &code, refs);
            if let Some(m) = &message {
                doc.leaf("Message", m, refs);
            }
            doc.close("Error");
            let Ok(out) = &mut expected else { continue };
            let code = code.trim();
            match key {
                None => expected = refuse("DeleteResult/Error", ParseErrorKind::Missing("Key")),
                Some(_) if code.is_empty() => {
                    expected = refuse("DeleteResult/Error", ParseErrorKind::Missing("Code"));
                }
                Some(k) => out.failed.push(DeleteFailure {
                    key: k,
                    code: S3ErrorCode::from_code(code),
                    message: message
                        .map(|m| m.chars().take(1024).collect::<String>())
                        .filter(|m| !m.trim().is_empty()),
                }),
            }
        }
    }
    let body = doc.finish(DELETE_ROOT);
    check(&parse_delete_objects(&body), &expected, &body);
}

fn write_delete(out: &DeleteObjectsOutput) -> Vec<u8> {
    let mut doc = Doc::new(DELETE_ROOT);
    for k in &out.deleted {
        doc.open("Deleted");
        doc.leaf("Key", k, false);
        doc.close("Deleted");
    }
    for f in &out.failed {
        doc.open("Error");
        doc.leaf("Key", &f.key, false);
        doc.leaf("Code", f.code.as_str(), false);
        if let Some(m) = &f.message {
            doc.leaf("Message", m, false);
        }
        doc.close("Error");
    }
    doc.finish(DELETE_ROOT)
}
