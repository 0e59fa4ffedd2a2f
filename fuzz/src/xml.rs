//! Writing S3 XML documents for the structured modes and for re-serialising what a parser
//! read: escaping, the gateways' url-encodings of listing values, timestamps and `ETag`s.
//!
//! The rules for names (which keys, bucket names, upload ids and tags a parser must accept)
//! are written out here from the S3 documentation and the engine's doc comments rather than
//! by calling the engine's validators, so that a target checks the parser against the
//! rule, not against itself.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::input::{Input, truncate_at_char};

/// A document being written.
#[derive(Debug, Default)]
pub struct Doc {
    out: String,
}

impl Doc {
    /// A document with the XML declaration and `root` opened, with S3's namespace.
    #[must_use]
    pub fn new(root: &str) -> Self {
        let mut doc = Self::default();
        doc.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(
            doc.out,
            "<{root} xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        );
        doc
    }

    /// Opens `name`.
    pub fn open(&mut self, name: &str) {
        let _ = write!(self.out, "<{name}>");
    }

    /// Closes `name`.
    pub fn close(&mut self, name: &str) {
        let _ = write!(self.out, "</{name}>");
    }

    /// `<name>text</name>`, `text` escaped by [`escape`] (`refs`: see there).
    pub fn leaf(&mut self, name: &str, text: &str, refs: bool) {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(text, refs));
    }

    /// Closes `root` and gives the bytes.
    #[must_use]
    pub fn finish(mut self, root: &str) -> Vec<u8> {
        self.close(root);
        self.out.into_bytes()
    }
}

/// Escapes element text. `&`, `<` and `>` always become entities; with `refs`, tab, line
/// feed and carriage return become character references and quotes entities too (what
/// careful gateways write); without, they are written raw, which the engine's reader keeps
/// exactly as it keeps any other raw character.
#[must_use]
pub fn escape(text: &str, refs: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if refs => out.push_str("&quot;"),
            '\'' if refs => out.push_str("&apos;"),
            '\t' | '\n' | '\r' if refs => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// True when every character may appear in an XML 1.0 document:
/// `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`.
#[must_use]
pub fn xml_safe(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    })
}

/// `text` with the characters XML 1.0 cannot carry removed.
#[must_use]
pub fn only_xml_safe(text: &str) -> String {
    text.chars()
        .filter(|c| xml_safe(c.encode_utf8(&mut [0; 4])))
        .collect()
}

/// How a gateway url-encodes keys, prefixes and markers under `encoding-type=url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyle {
    /// Ceph RGW's `url_encode(.., encode_slash = true)`: bytes up to 0x20, from 0x7f, and
    /// each of ``"#%&+,/:;<=>?@[\]^`{}`` as `%XX`.
    Rgw,
    /// AWS S3 as measured: everything but `A-Z a-z 0-9 - . _ ~ /` as `%XX`, a space as `+`.
    Aws,
    /// Everything but `A-Z a-z 0-9 - . _ ~` as `%XX` (a strict encoder).
    Strict,
    /// As [`UrlStyle::Strict`] with lowercase hex digits.
    Lowercase,
}

impl UrlStyle {
    /// A style chosen by the input.
    pub fn pick(input: &mut Input<'_>) -> Self {
        match input.below(4) {
            0 => Self::Rgw,
            1 => Self::Aws,
            2 => Self::Strict,
            _ => Self::Lowercase,
        }
    }

    /// `value` encoded in this style.
    #[must_use]
    pub fn encode(self, value: &str) -> String {
        let mut out = String::with_capacity(value.len() * 3);
        for b in value.bytes() {
            let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
            let keep = match self {
                Self::Rgw => b > 0x20 && b < 0x7f && !b"\"#%&+,/:;<=>?@[]\\^`{}".contains(&b),
                Self::Aws => unreserved || b == b'/',
                Self::Strict | Self::Lowercase => unreserved,
            };
            if keep {
                out.push(char::from(b));
            } else if self == Self::Aws && b == b' ' {
                out.push('+');
            } else if self == Self::Lowercase {
                let _ = write!(out, "%{b:02x}");
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    }
}

/// A timestamp as S3 writes it (`2024-05-01T12:00:00.000Z`), with millisecond precision,
/// between 1970 and 9999.
pub fn timestamp(input: &mut Input<'_>) -> (OffsetDateTime, String) {
    /// 9999-12-31T23:59:59Z.
    const LAST_SECOND: u64 = 253_402_300_799;
    let secs = input.u64() % (LAST_SECOND + 1);
    let millis = input.u16() % 1000;
    let nanos = i128::from(secs) * 1_000_000_000 + i128::from(millis) * 1_000_000;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        millis
    );
    (at, text)
}

/// `at` as RFC 3339 in UTC, every digit of its fraction kept; `None` when its year is not
/// one RFC 3339 can write (0000 to 9999), which an offset can push a parsed time out of.
#[must_use]
pub fn format_timestamp(at: OffsetDateTime) -> Option<String> {
    at.checked_to_offset(UtcOffset::UTC)?.format(&Rfc3339).ok()
}

/// An `ETag` as gateways send it, without surrounding blanks: a quoted MD5, a quoted
/// multipart tag, or printable ASCII the input chooses. Always a valid tag.
pub fn etag(input: &mut Input<'_>) -> String {
    match input.below(3) {
        0 => format!("\"{}\"", hex(input, 16)),
        1 => format!("\"{}-{}\"", hex(input, 16), 1 + input.below(10_000)),
        _ => {
            let raw = input.bytes(64);
            let tag: String = raw.iter().map(|&b| char::from(0x21 + b % 94)).collect();
            if tag.is_empty() {
                "\"\"".to_owned()
            } else {
                tag
            }
        }
    }
}

/// `n` bytes of the input in lowercase hex.
pub fn hex(input: &mut Input<'_>, n: usize) -> String {
    let mut out = String::with_capacity(2 * n);
    for _ in 0..n {
        let _ = write!(out, "{:02x}", input.byte());
    }
    out
}

/// Text of up to `max` bytes that XML can carry.
pub fn safe_text(input: &mut Input<'_>, max: usize) -> String {
    let mut text = only_xml_safe(&input.text(max));
    truncate_at_char(&mut text, max);
    text
}

/// S3's rule for an object key: 1 to 1,024 bytes of UTF-8.
#[must_use]
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 1024
}

/// The rule for a bucket name haul accepts from a gateway: 1 to 255 bytes, no `/`, no
/// control character (RGW's relaxed names and AWS's legacy ones included).
#[must_use]
pub fn valid_bucket(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// The rule for an upload id haul accepts: 1 to 1,024 bytes, no control character.
#[must_use]
pub fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 1024 && !id.chars().any(char::is_control)
}

/// The rule for an `ETag` haul can send back in a header: after trimming spaces, 1 to
/// 1,024 bytes of printable ASCII or tabs.
#[must_use]
pub fn valid_etag(tag: &str) -> bool {
    let t = tag.trim();
    !t.is_empty() && t.len() <= 1024 && t.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_encode_as_the_gateways_do() {
        assert_eq!(UrlStyle::Rgw.encode("a b/c+d~"), "a%20b%2Fc%2Bd~");
        assert_eq!(UrlStyle::Aws.encode("a b/c+d"), "a+b/c%2Bd");
        assert_eq!(UrlStyle::Strict.encode("é/"), "%C3%A9%2F");
        assert_eq!(UrlStyle::Lowercase.encode("é"), "%c3%a9");
    }

    #[test]
    fn escaping_keeps_what_xml_cannot_hold_raw() {
        assert_eq!(escape("a&<>\"\t", true), "a&amp;&lt;&gt;&quot;&#9;");
        assert_eq!(escape("a\r\"", false), "a\r\"");
        assert_eq!(only_xml_safe("a\u{1}b\u{fffe}"), "ab");
    }

    #[test]
    fn timestamps_are_written_as_s3_does_and_read_back() {
        let mut input = Input::new(&[0, 10, 7, 0]);
        let (at, text) = timestamp(&mut input);
        assert_eq!(text, "1970-01-01T00:00:10.007Z");
        assert_eq!(OffsetDateTime::parse(&text, &Rfc3339).unwrap(), at);
        let shifted = OffsetDateTime::parse("2024-01-01T01:00:00.5+01:00", &Rfc3339).unwrap();
        assert_eq!(format_timestamp(shifted).unwrap(), "2024-01-01T00:00:00.5Z");
        let early = OffsetDateTime::parse("0000-01-01T00:00:00+01:00", &Rfc3339).unwrap();
        assert_eq!(format_timestamp(early), None);
    }
}
