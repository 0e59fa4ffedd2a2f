//! A bounded, streaming reader over S3 XML bodies, shared by every response parser.
//!
//! It wraps `quick-xml`'s slice reader and turns its events into two steps, [`Step::Open`]
//! and [`Step::Close`] (which carries the element's text), while tracking the element path
//! (`ListBucketResult/Contents/Key`) so that parsers `match` on paths and errors say where
//! they happened. It refuses rather than guesses:
//!
//! - a document type declaration (`<!DOCTYPE …>`): S3 never sends one, and refusing it means
//!   no entity can be declared, so neither an entity bomb nor an external entity (XXE) can
//!   be expanded; references to undeclared entities are errors too. Only the five XML
//!   entities and character references are resolved;
//! - nesting deeper than [`MAX_DEPTH`], element text longer than [`MAX_TEXT_BYTES`];
//! - a document that ends before its root element closes (a truncated body is an error,
//!   never a short page), and elements after the root.
//!
//! Element text is taken as sent, without trimming and without XML line-end normalisation,
//! so keys that start or end with spaces or hold a carriage return survive when a gateway
//! does not url-encode them. Parsers trim where a value is a number, date or flag.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::error::{Location, ParseError, ParseErrorKind};

/// Deepest element nesting accepted. S3 responses nest 4 levels at most
/// (`ListBucketResult/Contents/Owner/ID`); 32 leaves room for gateway extensions and stops
/// a deeply nested hostile body from costing stack or memory.
pub const MAX_DEPTH: usize = 32;

/// Longest text of one element, in bytes. The longest legitimate values are url-encoded
/// 1024-byte keys (3 KiB) and error messages; 64 KiB is chosen to be far above both.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Largest XML body parsed. A 1,000-entry listing page is at most about 4 MiB (1,000
/// url-encoded 1024-byte keys at 3 KiB each, plus about 600 bytes of other fields per
/// entry); 64 MiB is chosen to leave room for gateways configured for larger pages while
/// bounding what one answer may cost. The client should stop reading a body past this.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Most entries (objects, prefixes, uploads, parts, deleted keys) accepted in one response.
/// S3 and RGW return at most 1,000 per page (RGW's `rgw_max_listing_results` can raise
/// that); 100,000 bounds the memory a page costs whatever the gateway is configured to.
pub const MAX_ENTRIES_PER_PAGE: usize = 100_000;

/// One step through the document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// An element opened; [`XmlReader::path`] ends with its name.
    Open,
    /// An element closed, with its text content; [`XmlReader::path`] still ends with its
    /// name until the next step.
    Close(String),
}

/// The streaming reader. See the module documentation.
pub(crate) struct XmlReader<'a> {
    reader: Reader<&'a [u8]>,
    operation: &'static str,
    /// Element names joined by `/`.
    path: String,
    /// Length of `path` before each open element was appended.
    marks: Vec<usize>,
    text: String,
    /// The last step was a `Close` whose name is still on the path.
    pop_pending: bool,
    phase: Phase,
}

/// Where the reader is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The body is larger than [`MAX_BODY_BYTES`]: refused before any parsing.
    Oversized,
    /// No element seen yet.
    BeforeRoot,
    /// Inside the root element.
    InRoot,
    /// The root element has closed and the rest was checked.
    Done,
}

impl<'a> XmlReader<'a> {
    /// A reader over `body`; `operation` names the S3 operation in errors.
    pub(crate) fn new(body: &'a [u8], operation: &'static str) -> Self {
        let mut reader = Reader::from_reader(body);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        Self {
            reader,
            operation,
            path: String::new(),
            marks: Vec::new(),
            text: String::new(),
            pop_pending: false,
            phase: if body.len() > MAX_BODY_BYTES {
                Phase::Oversized
            } else {
                Phase::BeforeRoot
            },
        }
    }

    /// The path of the current element, `Root/Child/Leaf`.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The byte offset just after the last event read.
    pub(crate) fn offset(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// An error of `kind` at the current element and byte offset.
    pub(crate) fn error(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at(kind, self.reader.buffer_position())
    }

    fn error_at(&self, kind: ParseErrorKind, offset: u64) -> ParseError {
        let location = if self.path.is_empty() {
            Location::Document { offset }
        } else {
            Location::Element {
                path: self.path.clone(),
                offset,
            }
        };
        ParseError {
            operation: self.operation,
            location,
            kind,
        }
    }

    /// Reads up to the root element and returns its name (the reader is then inside it).
    pub(crate) fn open_root(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Some(Step::Open) => Ok(self.path.clone()),
            // `next` only closes what it opened, so the first step is an `Open` or the end.
            Some(Step::Close(_)) | None => Err(self.error(ParseErrorKind::Empty)),
        }
    }

    /// Reads up to the root element and checks its name.
    pub(crate) fn expect_root(&mut self, expected: &'static str) -> Result<(), ParseError> {
        let found = self.open_root()?;
        if found == expected {
            Ok(())
        } else {
            Err(self.error(ParseErrorKind::UnexpectedRoot { expected, found }))
        }
    }

    /// The next step, or `None` once the root element has closed and the rest of the
    /// document holds nothing but whitespace, comments and processing instructions.
    pub(crate) fn next(&mut self) -> Result<Option<Step>, ParseError> {
        match self.phase {
            Phase::Oversized => {
                return Err(self.error(ParseErrorKind::BodyTooLarge {
                    limit: MAX_BODY_BYTES,
                }));
            }
            Phase::Done => return Ok(None),
            Phase::BeforeRoot | Phase::InRoot => {}
        }
        if self.pop_pending {
            self.pop_pending = false;
            if let Some(mark) = self.marks.pop() {
                self.path.truncate(mark);
            }
        }
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(err) => {
                    let offset = self.reader.error_position();
                    return Err(self.error_at(ParseErrorKind::Syntax(err.to_string()), offset));
                }
            };
            match event {
                Event::Start(start) => {
                    if self.marks.len() >= MAX_DEPTH {
                        return Err(self.error(ParseErrorKind::TooDeep { limit: MAX_DEPTH }));
                    }
                    let name = std::str::from_utf8(start.local_name().as_ref())
                        .map_err(|_| self.error(ParseErrorKind::NotUtf8))?
                        .to_owned();
                    self.marks.push(self.path.len());
                    if !self.path.is_empty() {
                        self.path.push('/');
                    }
                    self.path.push_str(&name);
                    self.phase = Phase::InRoot;
                    self.text.clear();
                    return Ok(Some(Step::Open));
                }
                Event::End(_) => {
                    // quick-xml has checked that the name matches the open element.
                    let text = std::mem::take(&mut self.text);
                    self.pop_pending = true;
                    if self.marks.len() == 1 {
                        self.done_after_root()?;
                    }
                    return Ok(Some(Step::Close(text)));
                }
                Event::Text(text) => {
                    let text = text
                        .decode()
                        .map_err(|_| self.error(ParseErrorKind::NotUtf8))?;
                    self.push_text(&text)?;
                }
                Event::CData(data) => {
                    let data = data
                        .decode()
                        .map_err(|_| self.error(ParseErrorKind::NotUtf8))?;
                    if self.marks.is_empty() {
                        return Err(self.error(ParseErrorKind::TrailingContent));
                    }
                    self.push_text(&data)?;
                }
                Event::GeneralRef(reference) => {
                    if self.marks.is_empty() {
                        return Err(self.error(ParseErrorKind::TrailingContent));
                    }
                    let resolved = if reference.is_char_ref() {
                        reference.resolve_char_ref().ok().flatten()
                    } else {
                        let name: &[u8] = &reference;
                        match name {
                            b"lt" => Some('<'),
                            b"gt" => Some('>'),
                            b"amp" => Some('&'),
                            b"apos" => Some('\''),
                            b"quot" => Some('"'),
                            _ => None,
                        }
                    };
                    let Some(c) = resolved else {
                        let name: &[u8] = &reference;
                        let name = String::from_utf8_lossy(name);
                        let name = name.chars().take(64).collect();
                        return Err(self.error(ParseErrorKind::UnknownEntity(name)));
                    };
                    self.push_text(c.encode_utf8(&mut [0; 4]))?;
                }
                Event::DocType(_) => return Err(self.error(ParseErrorKind::DocType)),
                // `expand_empty_elements` turns `<a/>` into Start + End, so Empty never comes.
                Event::Empty(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if self.phase == Phase::BeforeRoot {
                        return Err(self.error(ParseErrorKind::Empty));
                    }
                    return Err(self.error(ParseErrorKind::Truncated));
                }
            }
        }
    }

    fn push_text(&mut self, text: &str) -> Result<(), ParseError> {
        if self.marks.is_empty() {
            // Outside the root only whitespace may appear (AWS sends spaces before the XML
            // of a slow `CompleteMultipartUpload` to keep the connection alive).
            if text.trim().is_empty() {
                return Ok(());
            }
            return Err(self.error(ParseErrorKind::TrailingContent));
        }
        if self.text.len() + text.len() > MAX_TEXT_BYTES {
            return Err(self.error(ParseErrorKind::TextTooLong {
                limit: MAX_TEXT_BYTES,
            }));
        }
        self.text.push_str(text);
        Ok(())
    }

    /// Checks that only whitespace, comments and processing instructions follow the root.
    fn done_after_root(&mut self) -> Result<(), ParseError> {
        self.phase = Phase::Done;
        loop {
            match self.reader.read_event() {
                Ok(Event::Eof) => return Ok(()),
                Ok(Event::Text(text)) if text.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                Ok(_) => return Err(self.error(ParseErrorKind::TrailingContent)),
                Err(err) => {
                    let offset = self.reader.error_position();
                    return Err(self.error_at(ParseErrorKind::Syntax(err.to_string()), offset));
                }
            }
        }
    }

    /// Fails with [`ParseErrorKind::TooManyEntries`] once `count` exceeds
    /// [`MAX_ENTRIES_PER_PAGE`].
    pub(crate) fn check_count(&self, count: usize) -> Result<(), ParseError> {
        if count > MAX_ENTRIES_PER_PAGE {
            return Err(self.error(ParseErrorKind::TooManyEntries {
                limit: MAX_ENTRIES_PER_PAGE,
            }));
        }
        Ok(())
    }

    /// An [`ParseErrorKind::InvalidValue`] error for `found` (cut to 100 characters).
    pub(crate) fn invalid(&self, expected: &'static str, found: &str) -> ParseError {
        self.error(ParseErrorKind::InvalidValue {
            expected,
            found: found.chars().take(100).collect(),
        })
    }

    /// An [`ParseErrorKind::Missing`] error: a required element was absent.
    pub(crate) fn missing(&self, element: &'static str) -> ParseError {
        self.error_at(
            ParseErrorKind::Missing(element),
            self.reader.buffer_position(),
        )
    }
}

/// Text values shared by the parsers.
pub(crate) mod value {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use super::XmlReader;
    use crate::s3::error::ParseError;

    /// A non-negative integer (sizes, counts, part numbers).
    pub(crate) fn u64(xml: &XmlReader<'_>, text: &str) -> Result<u64, ParseError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(xml.invalid("an unsigned integer", text));
        }
        trimmed
            .parse()
            .map_err(|_| xml.invalid("an unsigned integer below 2^64", text))
    }

    /// `true` or `false` (any case, as RGW and AWS both write lowercase but older gateways
    /// have been seen to write `True`).
    pub(crate) fn bool(xml: &XmlReader<'_>, text: &str) -> Result<bool, ParseError> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Ok(true),
            t if t.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(xml.invalid("true or false", text)),
        }
    }

    /// An ISO 8601 / RFC 3339 timestamp (`2024-05-01T12:00:00.000Z`).
    pub(crate) fn timestamp(xml: &XmlReader<'_>, text: &str) -> Result<OffsetDateTime, ParseError> {
        OffsetDateTime::parse(text.trim(), &Rfc3339)
            .map_err(|_| xml.invalid("an ISO 8601 timestamp", text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(body: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
        let mut xml = XmlReader::new(body.as_bytes(), "Test");
        let mut out = Vec::new();
        while let Some(step) = xml.next()? {
            match step {
                Step::Open => out.push((xml.path().to_owned(), None)),
                Step::Close(text) => out.push((xml.path().to_owned(), Some(text))),
            }
        }
        Ok(out)
    }

    #[test]
    fn walks_paths_and_texts() {
        let got = steps(
            "<?xml version=\"1.0\"?>\n<R xmlns=\"x\"><a>1</a><b><c>x &amp; &#65;&#x42;</c><d/></b></R>\n",
        )
        .unwrap();
        let want: Vec<(String, Option<String>)> = vec![
            ("R".into(), None),
            ("R/a".into(), None),
            ("R/a".into(), Some("1".into())),
            ("R/b".into(), None),
            ("R/b/c".into(), None),
            ("R/b/c".into(), Some("x & AB".into())),
            ("R/b/d".into(), None),
            ("R/b/d".into(), Some(String::new())),
            ("R/b".into(), Some(String::new())),
            ("R".into(), Some(String::new())),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn keeps_text_exactly() {
        let got = steps("<R><k>  lead\ttrail  </k><n><![CDATA[<raw>]]></n></R>").unwrap();
        assert_eq!(got[2].1.as_deref(), Some("  lead\ttrail  "));
        assert_eq!(got[4].1.as_deref(), Some("<raw>"));
    }

    #[test]
    fn strips_namespace_prefixes() {
        let got = steps("<s3:R xmlns:s3=\"x\"><s3:a>1</s3:a></s3:R>").unwrap();
        assert_eq!(got[1].0, "R/a");
    }

    #[test]
    fn accepts_a_byte_order_mark() {
        assert!(steps("\u{feff}<?xml version=\"1.0\"?><R/>").is_ok());
    }

    #[test]
    fn refuses_bodies_above_the_cap() {
        let body = format!("<R>{}</R>", " ".repeat(MAX_BODY_BYTES));
        assert_eq!(
            kind(&body),
            ParseErrorKind::BodyTooLarge {
                limit: MAX_BODY_BYTES
            }
        );
    }

    #[test]
    fn accepts_leading_whitespace_before_the_declaration() {
        // AWS keeps a slow CompleteMultipartUpload alive with spaces before the XML.
        assert!(steps("   \n  <R/>").is_ok());
    }

    fn kind(body: &str) -> ParseErrorKind {
        steps(body).unwrap_err().kind
    }

    #[test]
    fn refuses_doctype_and_unknown_entities() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><R>&lol2;</R>";
        assert_eq!(kind(bomb), ParseErrorKind::DocType);
        let xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><R>&x;</R>";
        assert_eq!(kind(xxe), ParseErrorKind::DocType);
        assert_eq!(
            kind("<R>&lol;</R>"),
            ParseErrorKind::UnknownEntity("lol".into())
        );
        assert!(matches!(
            kind("<R>&#0;</R>"),
            ParseErrorKind::UnknownEntity(_)
        ));
        assert!(matches!(
            kind("<R>&#xFFFFFFFF;</R>"),
            ParseErrorKind::UnknownEntity(_)
        ));
    }

    #[test]
    fn refuses_truncation_and_trailing_content() {
        assert_eq!(kind(""), ParseErrorKind::Empty);
        assert_eq!(kind("   "), ParseErrorKind::Empty);
        assert_eq!(kind("<R><a>1</a>"), ParseErrorKind::Truncated);
        assert_eq!(kind("<R><a>1"), ParseErrorKind::Truncated);
        assert!(matches!(kind("<R><a>1</a></R"), ParseErrorKind::Syntax(_)));
        assert!(matches!(kind("<R><a>1</b></R>"), ParseErrorKind::Syntax(_)));
        assert_eq!(kind("<R/><S/>"), ParseErrorKind::TrailingContent);
        assert_eq!(kind("<R/>junk"), ParseErrorKind::TrailingContent);
        assert_eq!(kind("junk<R/>"), ParseErrorKind::TrailingContent);
    }

    #[test]
    fn refuses_deep_nesting_and_huge_text() {
        let deep = "<a>".repeat(10_000);
        assert_eq!(kind(&deep), ParseErrorKind::TooDeep { limit: MAX_DEPTH });
        let huge = format!("<R>{}</R>", "x".repeat(MAX_TEXT_BYTES + 1));
        assert_eq!(
            kind(&huge),
            ParseErrorKind::TextTooLong {
                limit: MAX_TEXT_BYTES
            }
        );
        let many_refs = format!("<R>{}</R>", "&amp;".repeat(MAX_TEXT_BYTES + 1));
        assert!(matches!(
            kind(&many_refs),
            ParseErrorKind::TextTooLong { .. }
        ));
    }

    #[test]
    fn refuses_invalid_utf8() {
        let mut xml = XmlReader::new(b"<R>\xff\xfe</R>", "Test");
        let err = loop {
            match xml.next() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("accepted invalid UTF-8"),
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind, ParseErrorKind::NotUtf8);
    }

    #[test]
    fn errors_name_the_path_and_offset() {
        let err = steps("<R><a>1</a><b>&nope;</b></R>").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("Test"), "{msg}");
        assert!(msg.contains("R/b"), "{msg}");
        assert!(msg.contains("byte"), "{msg}");
    }
}
