//! `Content-Range` of ranged `GetObject` answers: the target `content_range`.
//!
//! As text, the parser agrees with a reading of RFC 9110 §14.4 written out here
//! (`bytes first-last/complete`, or `/*`, digits only, first <= last < complete), and what
//! it accepts is written back to the same range. As a description (first, last, complete or
//! `*`, the unit's case, blanks around), the header parses exactly when the range is
//! satisfiable.

use engine::s3::{ContentRange, parse_content_range};

use crate::input::Input;

/// The `content_range` target.
pub fn content_range(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let got = parse_content_range(&text).ok();
    assert_eq!(got, rfc9110(&text), "Content-Range {text:?}");
    if let Some(r) = got {
        assert_eq!(r.len_bytes(), (r.end - r.start).saturating_add(1));
        let again = parse_content_range(&render(r, "bytes", "")).ok();
        assert_eq!(again, Some(r), "a range written back reads differently");
    }

    let mut input = Input::new(data);
    let start = input.u64();
    let end = if input.flag() {
        start.saturating_add(input.u64())
    } else {
        input.u64()
    };
    let total = match input.below(3) {
        0 => None,
        1 => Some(end.saturating_add(input.u64())),
        _ => Some(input.u64()),
    };
    let unit = ["bytes", "BYTES", "Bytes"][input.below(3)];
    let blank = ["", " ", "\t", " \t "][input.below(4)];
    let r = ContentRange { start, end, total };
    let got = parse_content_range(&render(r, unit, blank)).ok();
    let satisfiable = start <= end && total.is_none_or(|t| end < t);
    assert_eq!(got, satisfiable.then_some(r), "range {r:?}");
}

fn render(r: ContentRange, unit: &str, blank: &str) -> String {
    let total = r.total.map_or_else(|| "*".to_owned(), |t| t.to_string());
    format!("{blank}{unit} {}-{}/{total}{blank}", r.start, r.end)
}

/// `bytes first-last/complete` (RFC 9110 §14.4, unsatisfied `*/N` excluded), read byte by
/// byte: the unit is case-insensitive, the value may have blanks around it.
fn rfc9110(value: &str) -> Option<ContentRange> {
    let v = value.trim().as_bytes();
    if !v.get(..6)?.eq_ignore_ascii_case(b"bytes ") {
        return None;
    }
    let rest = v.get(6..)?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let start = number(rest.get(..dash)?)?;
    let end = number(rest.get(dash + 1..slash)?)?;
    let total = match rest.get(slash + 1..)? {
        b"*" => None,
        t => Some(number(t)?),
    };
    (start <= end && total.is_none_or(|t| end < t)).then_some(ContentRange { start, end, total })
}

/// One or more ASCII digits below 2^64.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reading_of_the_rfc() {
        let r = |start, end, total| Some(ContentRange { start, end, total });
        assert_eq!(rfc9110("bytes 0-9/10"), r(0, 9, Some(10)));
        assert_eq!(rfc9110(" Bytes 5-5/*"), r(5, 5, None));
        for bad in [
            "bytes 0-10/10",
            "bytes 5-4/10",
            "bytes */10",
            "bytes +1-2/3",
            "bytes 1-2",
            "items 1-2/3",
            "bytes  1-2/3",
        ] {
            assert_eq!(rfc9110(bad), None, "{bad}");
        }
    }
}
