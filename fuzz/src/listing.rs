//! `ListObjects` (V1) and `ListObjectsV2` pages: the target `list_objects`.
//!
//! Every input is read twice:
//!
//! - as a response body: both parsers agree (the same page but for the dialect, or the same
//!   error), a page respects the caps, its keys are valid keys, a truncated page says how to
//!   continue with a non-empty token or marker, and the page written back as a document
//!   (keys url-encoded) parses to the same page;
//! - as a description of a page (keys, prefixes, tokens, sizes, tags, times, V1 or V2, with
//!   or without `encoding-type=url` in one of the gateways' styles, escaped with or without
//!   character references): the document written from it parses to exactly those values, or
//!   to the one error the description calls for (an invalid key, a truncated page with no
//!   way to continue).

use engine::s3::{
    ListDialect, ListPage, MAX_ENTRIES_PER_PAGE, ObjectEntry, ParseError, ParseErrorKind,
    StorageClass, parse_list_objects, parse_list_objects_v2,
};
use time::OffsetDateTime;

use crate::input::Input;
use crate::xml::{self, Doc, UrlStyle};

const ROOT: &str = "ListBucketResult";

/// The `list_objects` target.
pub fn list_objects(data: &[u8]) {
    as_body(data);
    as_description(&mut Input::new(data));
}

/// Arbitrary bytes as a response body.
fn as_body(data: &[u8]) {
    let v2 = parse_list_objects_v2(data);
    let v1 = parse_list_objects(data);
    // The two read a body alike but for the dialect, and so for the way forward a truncated
    // page must have: a V2 page goes on from its token, the answer to a V1 request from a
    // marker (NextMarker or its last entry).
    let way_forward = |e: &ParseError| {
        matches!(
            e.kind,
            ParseErrorKind::Missing("NextContinuationToken" | "NextMarker")
        )
    };
    match (&v2, &v1) {
        (Ok(a), Ok(b)) => {
            let mut a = a.clone();
            a.dialect = ListDialect::V1;
            assert_eq!(
                &a, b,
                "ListObjects and ListObjectsV2 read one body differently"
            );
        }
        (Err(a), Err(b)) if way_forward(a) && way_forward(b) => {}
        (Err(a), Err(b)) => assert_eq!(
            (&a.location, &a.kind),
            (&b.location, &b.kind),
            "ListObjects and ListObjectsV2 refuse one body differently"
        ),
        (Ok(page), Err(e)) | (Err(e), Ok(page)) => assert!(
            page.is_truncated && way_forward(e),
            "one listing parser accepts what the other refuses ({e}): {page:?}"
        ),
    }
    for page in [&v2, &v1].into_iter().flatten() {
        check_page(page);
    }
    let Ok(page) = v2 else { return };
    let Some(body) = write_page(&page) else {
        return;
    };
    let again = parse_list_objects_v2(&body)
        .unwrap_or_else(|e| panic!("a page written back does not parse: {e}"));
    let mut expected = page;
    expected.url_decoded = true;
    assert_eq!(again, expected, "a page written back reads differently");
}

/// What every page a parser returns must hold.
fn check_page(page: &ListPage) {
    assert!(
        page.objects.len() + page.common_prefixes.len() <= MAX_ENTRIES_PER_PAGE,
        "a page above the entry cap"
    );
    for o in &page.objects {
        assert!(xml::valid_key(o.key.as_str()), "an invalid key {:?}", o.key);
    }
    if page.is_truncated {
        let forward = match page.dialect {
            ListDialect::V2 => page.next_continuation_token.as_deref(),
            ListDialect::V1 => page.resume_marker(),
        };
        assert!(
            forward.is_some_and(|f| !f.is_empty()),
            "a truncated {:?} page without a non-empty way to continue: {page:?}",
            page.dialect
        );
    } else {
        assert_eq!(
            page.resume_marker(),
            None,
            "a last page with a resume marker"
        );
    }
}

/// `page` as a document, every key, prefix and marker url-encoded; `None` when a time
/// cannot be written as RFC 3339.
fn write_page(page: &ListPage) -> Option<Vec<u8>> {
    let mut doc = Doc::new(ROOT);
    doc.leaf("Name", "bucket", false);
    doc.leaf("EncodingType", "url", false);
    doc.leaf(
        "IsTruncated",
        if page.is_truncated { "true" } else { "false" },
        false,
    );
    if page.dialect == ListDialect::V2 {
        // Any of these marks a V2 answer; StartAfter carries nothing the parser keeps.
        doc.leaf("StartAfter", "", false);
    }
    if let Some(n) = page.key_count {
        doc.leaf("KeyCount", &n.to_string(), false);
    }
    if let Some(t) = &page.next_continuation_token {
        doc.leaf("NextContinuationToken", t, false);
    }
    if let Some(m) = &page.next_marker {
        doc.leaf("NextMarker", &UrlStyle::Strict.encode(m), false);
    }
    for o in &page.objects {
        doc.open("Contents");
        doc.leaf("Key", &UrlStyle::Strict.encode(o.key.as_str()), false);
        doc.leaf(
            "LastModified",
            &xml::format_timestamp(o.last_modified)?,
            false,
        );
        if let Some(e) = &o.etag {
            doc.leaf("ETag", e.as_str(), false);
        }
        doc.leaf("Size", &o.size.to_string(), false);
        if let Some(c) = &o.storage_class {
            doc.leaf("StorageClass", c.as_str(), false);
        }
        doc.open("Owner");
        doc.leaf("ID", "owner", false);
        doc.close("Owner");
        doc.close("Contents");
    }
    for p in &page.common_prefixes {
        doc.open("CommonPrefixes");
        doc.leaf("Prefix", &UrlStyle::Strict.encode(p), false);
        doc.close("CommonPrefixes");
    }
    Some(doc.finish(ROOT))
}

/// One listed object of a description, its key possibly invalid.
struct SpecObject {
    key: String,
    size: u64,
    /// The `ETag` element's text, if written.
    etag: Option<String>,
    last_modified: (OffsetDateTime, String),
    storage_class: Option<&'static str>,
}

/// A page described by the input.
struct Spec {
    v2: bool,
    /// `EncodingType` `url` and each value's style.
    url: bool,
    encoding_first: bool,
    refs: bool,
    truncated: bool,
    token: Option<String>,
    next_marker: Option<String>,
    key_count: Option<u64>,
    objects: Vec<SpecObject>,
    prefixes: Vec<String>,
    styles: Vec<UrlStyle>,
}

const CLASSES: &[&str] = &["STANDARD", "STANDARD_IA", "GLACIER", "COLD", " STANDARD "];

impl Spec {
    fn read(input: &mut Input<'_>) -> Self {
        let v2 = input.flag();
        let mut url = input.flag();
        let encoding_first = input.flag();
        let refs = input.flag();
        let truncated = input.flag();
        let token = input.flag().then(|| xml::safe_text(input, 200));
        let next_marker = input.flag().then(|| input.text(300));
        let explicit_count = input.flag().then(|| input.u64());
        let mut objects = Vec::new();
        for _ in 0..input.below(12) {
            let key = input.text(1100);
            let size = input.u64();
            let etag = match input.below(4) {
                0 => None,
                1 => Some(String::new()),
                _ => Some(xml::etag(input)),
            };
            let last_modified = xml::timestamp(input);
            let storage_class = match input.below(CLASSES.len() + 1) {
                0 => None,
                n => CLASSES.get(n - 1).copied(),
            };
            objects.push(SpecObject {
                key,
                size,
                etag,
                last_modified,
                storage_class,
            });
        }
        let prefixes: Vec<String> = (0..input.below(6)).map(|_| input.text(300)).collect();
        // Without encoding-type=url only what XML can carry can be listed: a gateway that
        // holds other keys must be asked for url-encoding.
        let raw_values = objects
            .iter()
            .map(|o| o.key.as_str())
            .chain(prefixes.iter().map(String::as_str))
            .chain(next_marker.as_deref());
        if raw_values.into_iter().any(|v| !xml::xml_safe(v)) {
            url = true;
        }
        let styles = (0..=objects.len() + prefixes.len())
            .map(|_| UrlStyle::pick(input))
            .collect();
        let key_count = if v2 {
            Some(explicit_count.unwrap_or((objects.len() + prefixes.len()) as u64))
        } else {
            None
        };
        Self {
            v2,
            url,
            encoding_first,
            refs,
            truncated,
            token: token.filter(|_| v2),
            next_marker: next_marker.filter(|_| !v2),
            key_count,
            objects,
            prefixes,
            styles,
        }
    }

    fn value(&self, n: usize, v: &str) -> String {
        match (self.url, self.styles.get(n)) {
            (true, Some(style)) => style.encode(v),
            _ => v.to_owned(),
        }
    }

    fn render(&self) -> Vec<u8> {
        let mut doc = Doc::new(ROOT);
        let r = self.refs;
        doc.leaf("Name", "db_wal", r);
        doc.leaf("Prefix", "", r);
        if self.url && self.encoding_first {
            doc.leaf("EncodingType", "url", r);
        }
        if self.v2 {
            doc.leaf("ContinuationToken", "previous-token", r);
            if let Some(n) = self.key_count {
                doc.leaf("KeyCount", &n.to_string(), r);
            }
        } else {
            doc.leaf("Marker", "", r);
        }
        doc.leaf("MaxKeys", "1000", r);
        doc.leaf("Delimiter", "/", r);
        doc.leaf(
            "IsTruncated",
            if self.truncated { "true" } else { "false" },
            r,
        );
        if let Some(t) = &self.token {
            doc.leaf("NextContinuationToken", t, r);
        }
        if let Some(m) = &self.next_marker {
            doc.leaf("NextMarker", &self.value(0, m), r);
        }
        for (i, o) in self.objects.iter().enumerate() {
            doc.open("Contents");
            doc.leaf("Key", &self.value(i + 1, &o.key), r);
            doc.leaf("LastModified", &o.last_modified.1, r);
            if let Some(e) = &o.etag {
                doc.leaf("ETag", e, r);
            }
            doc.leaf("Size", &o.size.to_string(), r);
            if let Some(c) = o.storage_class {
                doc.leaf("StorageClass", c, r);
            }
            doc.close("Contents");
        }
        for (i, p) in self.prefixes.iter().enumerate() {
            doc.open("CommonPrefixes");
            doc.leaf("Prefix", &self.value(1 + self.objects.len() + i, p), r);
            doc.close("CommonPrefixes");
        }
        if self.url && !self.encoding_first {
            doc.leaf("EncodingType", "url", r);
        }
        doc.finish(ROOT)
    }

    /// What the parser for `request` must answer: the page, or the error's element path
    /// and kind. The answer to a V1 request is a V1 page whatever it holds.
    fn expected(&self, request: ListDialect) -> Result<ListPage, (&'static str, ParseErrorKind)> {
        let mut objects = Vec::new();
        for o in &self.objects {
            if !xml::valid_key(&o.key) {
                return Err(("ListBucketResult/Contents/Key", invalid_name()));
            }
            objects.push(ObjectEntry {
                key: engine::s3::ObjectKey::new(o.key.clone()).expect("checked by valid_key"),
                size: o.size,
                etag: o
                    .etag
                    .as_ref()
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| engine::s3::ETag::new(t.clone()).expect("xml::etag is valid")),
                last_modified: o.last_modified.0,
                storage_class: o.storage_class.map(StorageClass::parse),
            });
        }
        let page = ListPage {
            objects,
            common_prefixes: self.prefixes.clone(),
            is_truncated: self.truncated,
            next_continuation_token: self.token.clone().filter(|t| !t.is_empty()),
            next_marker: self.next_marker.clone().filter(|m| !m.is_empty()),
            key_count: self.key_count,
            dialect: if self.v2 && request == ListDialect::V2 {
                ListDialect::V2
            } else {
                ListDialect::V1
            },
            url_decoded: self.url,
        };
        if self.truncated {
            match page.dialect {
                ListDialect::V2 if page.next_continuation_token.is_none() => {
                    return Err((ROOT, ParseErrorKind::Missing("NextContinuationToken")));
                }
                // A V1 page goes on from NextMarker, else from its greatest key or prefix;
                // an empty one would start the listing over.
                ListDialect::V1 if page.resume_marker().is_none_or(str::is_empty) => {
                    return Err((ROOT, ParseErrorKind::Missing("NextMarker")));
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

fn invalid_name() -> ParseErrorKind {
    ParseErrorKind::InvalidName(engine::s3::NameError::PartNumber(0))
}

/// A description of a page as a document: the parsers give back exactly its values.
fn as_description(input: &mut Input<'_>) {
    let spec = Spec::read(input);
    let body = spec.render();
    check(
        &parse_list_objects_v2(&body),
        &spec.expected(ListDialect::V2),
        &body,
    );
    check(
        &parse_list_objects(&body),
        &spec.expected(ListDialect::V1),
        &body,
    );
}

fn check(
    got: &Result<ListPage, ParseError>,
    expected: &Result<ListPage, (&'static str, ParseErrorKind)>,
    body: &[u8],
) {
    let body = String::from_utf8_lossy(body);
    match (got, expected) {
        (Ok(page), Ok(want)) => {
            assert_eq!(
                page, want,
                "the page read differs from the page written:\n{body}"
            );
            check_page(page);
        }
        (Err(err), Err((path, kind))) => {
            let at = match &err.location {
                engine::s3::Location::Element { path, .. } => path.as_str(),
                other => panic!("an error outside any element ({other}): {err}"),
            };
            assert_eq!(at, *path, "error at the wrong element: {err}\n{body}");
            same_kind(&err.kind, kind, &body);
        }
        (Ok(page), Err(want)) => {
            panic!("accepted a page that must be refused ({want:?}): {page:?}\n{body}")
        }
        (Err(err), Ok(_)) => panic!("refused a valid page: {err}\n{body}"),
    }
}

/// Kinds compare by variant, and `Missing` by what is missing.
pub(crate) fn same_kind(got: &ParseErrorKind, want: &ParseErrorKind, body: &str) {
    let same = match (got, want) {
        (ParseErrorKind::Missing(a), ParseErrorKind::Missing(b)) => a == b,
        (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
    };
    assert!(same, "error {got:?} where {want:?} was due:\n{body}");
}
