//! Every S3 response parser against every fixture in `tests/fixtures/s3/<gateway>/`,
//! whole, cut at every byte, and against garbage.
//!
//! Fixtures are named `<operation>-<case>.xml`; `<operation>` picks the parser that must
//! accept the whole body (`error` fixtures are error bodies for `S3Error::from_response`,
//! cases starting `error_in_200` must come back as an error inside a 200). New recordings
//! dropped into a gateway folder are picked up without changing this file.

use std::path::Path;

use engine::s3;
use http::HeaderMap;
use proptest::prelude::*;

/// A parser under test: `Ok` when it accepted the body, `Err` with a description when not.
type Parser = fn(&[u8]) -> Result<(), String>;

fn show<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<(), String> {
    result.map(drop).map_err(|e| e.to_string())
}

/// Every body parser, by the operation name used in fixture file names.
const PARSERS: &[(&str, Parser)] = &[
    ("list_buckets", |b| show(s3::parse_list_buckets(b))),
    ("list_objects_v2", |b| show(s3::parse_list_objects_v2(b))),
    ("list_objects", |b| show(s3::parse_list_objects(b))),
    ("create_multipart_upload", |b| {
        show(s3::parse_create_multipart_upload(b))
    }),
    ("complete_multipart_upload", |b| {
        show(s3::parse_complete_multipart_upload(b))
    }),
    ("list_multipart_uploads", |b| {
        show(s3::parse_list_multipart_uploads(b))
    }),
    ("list_parts", |b| show(s3::parse_list_parts(b))),
    ("delete_objects", |b| show(s3::parse_delete_objects(b))),
    ("copy_object", |b| show(s3::parse_copy_object(b))),
    ("upload_part_copy", |b| show(s3::parse_upload_part_copy(b))),
];

struct Fixture {
    name: String,
    operation: String,
    case: String,
    body: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/s3");
    let mut out = Vec::new();
    for gateway in fs_err::read_dir(&root).unwrap() {
        let gateway = gateway.unwrap().path();
        if !gateway.is_dir() {
            continue;
        }
        for file in fs_err::read_dir(&gateway).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let (operation, case) = stem.split_once('-').unwrap_or_else(|| {
                panic!("{} is not named <operation>-<case>.xml", path.display())
            });
            out.push(Fixture {
                name: path.strip_prefix(&root).unwrap().display().to_string(),
                operation: operation.to_owned(),
                case: case.to_owned(),
                body: fs_err::read(&path).unwrap(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 20, "fixtures missing under {}", root.display());
    out
}

fn parser_for(operation: &str) -> Option<Parser> {
    let parser = PARSERS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, parser)| *parser);
    assert!(
        parser.is_some() || operation == "error",
        "no parser for fixture operation {operation:?}"
    );
    parser
}

/// Length of the document proper: up to the `>` closing the root element. Cutting there or
/// later only drops trailing whitespace.
fn document_len(body: &[u8]) -> usize {
    body.iter().rposition(|b| *b == b'>').map_or(0, |i| i + 1)
}

#[test]
fn every_fixture_parses_with_its_own_parser() {
    for fixture in fixtures() {
        let Some(parser) = parser_for(&fixture.operation) else {
            // Error bodies: `from_response` never fails, so check that it read them.
            let err = s3::S3Error::from_response(400, &HeaderMap::new(), &fixture.body);
            assert_ne!(err.code, s3::S3ErrorCode::Unspecified, "{}", fixture.name);
            assert!(
                err.request_id.is_some() || err.message.is_some(),
                "{}",
                fixture.name
            );
            assert!(
                s3::error_in_200_body(&fixture.body).is_some(),
                "{}",
                fixture.name
            );
            continue;
        };
        let result = parser(&fixture.body);
        if fixture.case.starts_with("error_in_200") {
            let err = result.expect_err(&fixture.name);
            assert!(
                s3::error_in_200_body(&fixture.body).is_some(),
                "{}: {err}",
                fixture.name
            );
        } else {
            result.unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        }
    }
}

#[test]
fn every_parser_refuses_every_cut_of_every_fixture() {
    for fixture in fixtures() {
        let complete = document_len(&fixture.body);
        for cut in 0..complete {
            let prefix = fixture.body.get(..cut).unwrap();
            for (name, parser) in PARSERS {
                assert!(
                    parser(prefix).is_err(),
                    "{name} accepted {} cut at byte {cut} of {complete}",
                    fixture.name
                );
            }
            // Never fails, whatever the cut; a cut error body still reads as an error.
            let _ = s3::S3Error::from_response(503, &HeaderMap::new(), prefix);
            let _ = s3::error_in_200_body(prefix);
        }
        // Whole documents: the fixture's own parser decides; the others must not panic.
        for (_, parser) in PARSERS {
            let _ = parser(&fixture.body);
        }
    }
}

#[test]
fn a_truncated_listing_is_never_a_short_page() {
    // The cut that matters most: a page ending right after a complete entry would look
    // like a valid, shorter listing if the parser did not insist on the closing root.
    for fixture in fixtures()
        .iter()
        .filter(|f| f.operation.starts_with("list_objects"))
    {
        let text = std::str::from_utf8(&fixture.body).unwrap();
        for (at, _) in text.match_indices("</Contents>") {
            let cut = at + "</Contents>".len();
            let err = s3::parse_list_objects_v2(fixture.body.get(..cut).unwrap()).unwrap_err();
            assert_eq!(err.kind, s3::ParseErrorKind::Truncated, "{}", fixture.name);
        }
    }
}

fn assert_all_refuse(body: &[u8], what: &str) {
    for (name, parser) in PARSERS {
        assert!(parser(body).is_err(), "{name} accepted {what}");
    }
    let _ = s3::S3Error::from_response(500, &HeaderMap::new(), body);
}

#[test]
fn hostile_documents_are_refused() {
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&lol3;</Key></Contents></ListBucketResult>"#;
    assert_all_refuse(bomb, "an entity bomb");
    let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Error><Code>&x;</Code></Error>"#;
    assert_all_refuse(xxe, "an external entity");
    let undeclared = b"<ListBucketResult><IsTruncated>&t;</IsTruncated></ListBucketResult>";
    assert_all_refuse(undeclared, "an undeclared entity");

    let deep = format!(
        "{}{}",
        "<ListBucketResult>".repeat(100_000),
        "</ListBucketResult>".repeat(100_000)
    );
    assert_all_refuse(deep.as_bytes(), "100,000 nested elements");

    let huge = format!(
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>{}</Key></Contents></ListBucketResult>",
        "k".repeat(10 * 1024 * 1024)
    );
    assert_all_refuse(huge.as_bytes(), "a 10 MiB key");

    let wide = format!(
        "<ListBucketResult><IsTruncated>false</IsTruncated>{}</ListBucketResult>",
        "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>".repeat(s3::MAX_ENTRIES_PER_PAGE + 1)
    );
    assert!(s3::parse_list_objects_v2(wide.as_bytes()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for (_, parser) in PARSERS {
            let _ = parser(&body);
        }
        let _ = s3::S3Error::from_response(500, &HeaderMap::new(), &body);
    }

    #[test]
    fn xml_shaped_noise_never_panics(
        body in "(<[A-Za-z:]{1,12}>|</[A-Za-z:]{1,12}>|<[A-Za-z]{1,8}/>|&[a-z#x0-9]{0,6};|<!\\[CDATA\\[[a-z]*\\]\\]>|<\\?xml[ a-z=\"0-9.]*\\?>|[ a-z0-9%+\"&<>]{0,8}){0,40}"
    ) {
        for (_, parser) in PARSERS {
            let _ = parser(body.as_bytes());
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(index in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let all = fixtures();
        let fixture = &all[index.index(all.len())];
        let mut body = fixture.body.clone();
        let at = at.index(body.len());
        body[at] = byte;
        for (_, parser) in PARSERS {
            let _ = parser(&body);
        }
    }
}
