//! Percent-encoding of keys for the request line, and decoding of keys from listings.
//!
//! There is exactly one encoder for the URI path ([`encode_path`]) and one for query values
//! ([`encode_query_value`]); every request builder and the signer see the same bytes, so
//! what is signed is what is sent. Both follow the `SigV4` `UriEncode` rules: every byte
//! except the unreserved set `A-Z a-z 0-9 - . _ ~` is written `%XX` (uppercase hex), a space
//! is `%20` (never `+`), and only the path encoder keeps `/`.
//!
//! Listing with `encoding-type=url` makes the gateway percent-encode keys in the response
//! (so keys holding characters XML 1.0 cannot carry, like U+0001, survive). Gateways differ
//! in *how* they encode, which [`decode_listing_value`] absorbs:
//!
//! | gateway | space | literal `+` | `/` in `Key` | source |
//! | --- | --- | --- | --- | --- |
//! | AWS S3 | `+` | `%2B` | kept | measured (a key `a b` lists as `a+b`); botocore decodes with `unquote_plus` |
//! | Ceph RGW | `%20` | `%2B` | `%2F` | `url_encode` in `src/rgw/rgw_common.cc` encodes `<= 0x20`, `>= 0x7f` and `"#%&+,/:;<=>?@[\]^`{}` |
//!
//! Neither gateway ever leaves a literal `+` meaning `+`, so decoding `+` as a space is right
//! for both. A gateway that echoes `<EncodingType>url</EncodingType>` *without* encoding
//! (s3s-fs 0.14 does: it copies the request's encoding type into the response and returns
//! raw keys) cannot be told apart for keys made only of printable ASCII without `%` and `+`;
//! for any other key the decoder refuses the value (a raw space, a non-ASCII byte, a
//! control character or a `%` not followed by two hex digits cannot come out of an
//! encoder), so the caller can list that gateway again without `encoding-type`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes written as `%XX` in a query value: everything but the `SigV4` unreserved set.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Bytes written as `%XX` in the URI path: as for query values, but `/` separates segments
/// and is sent as is (S3 keys are not split on it, but the path is).
const PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Encodes a bucket name or key for the URI path: everything except `A-Z a-z 0-9 - . _ ~ /`
/// becomes `%XX`; a space is `%20`.
///
/// Dot segments and empty segments (`../`, `a//b`) are sent literally; the signer does not
/// normalize them either (see `sign`), so S3 and RGW see and verify the same path.
#[must_use]
pub fn encode_path(key: &str) -> String {
    utf8_percent_encode(key, PATH).to_string()
}

/// Encodes a query parameter value: everything except `A-Z a-z 0-9 - . _ ~` becomes `%XX`,
/// including `/`, `+`, `=` and `&`.
#[must_use]
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Why a value from a listing with `EncodingType` `url` could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits, at this byte offset of the value.
    #[error("'%' at byte {0} is not followed by two hex digits")]
    BadEscape(usize),
    /// A byte no encoder leaves unescaped (a space, a control character or a non-ASCII
    /// byte), at this offset: the gateway most likely did not encode at all.
    #[error("byte {byte:#04x} at offset {offset} is not url-encoded")]
    NotEncoded {
        /// The byte.
        byte: u8,
        /// Its offset in the value.
        offset: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("the decoded bytes are not UTF-8")]
    NotUtf8,
}

/// Decodes a key, prefix or marker from a listing whose response says
/// `<EncodingType>url</EncodingType>`: `%XX` becomes the byte, `+` becomes a space (AWS's
/// form; RGW never emits a bare `+`, see the module doc), and the result must be UTF-8.
///
/// # Errors
///
/// [`DecodeError`] for a malformed escape, a byte that an encoder would have escaped, or
/// bytes that are not UTF-8.
pub fn decode_listing_value(encoded: &str) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut bytes = encoded.bytes().enumerate();
    while let Some((offset, byte)) = bytes.next() {
        match byte {
            b'%' => {
                let high = bytes.next().and_then(|(_, b)| hex_value(b));
                let low = bytes.next().and_then(|(_, b)| hex_value(b));
                match (high, low) {
                    (Some(high), Some(low)) => out.push(high << 4 | low),
                    _ => return Err(DecodeError::BadEscape(offset)),
                }
            }
            b'+' => out.push(b' '),
            0x21..=0x7e => out.push(byte),
            _ => return Err(DecodeError::NotEncoded { byte, offset }),
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Write as _;

    /// AWS S3's listing encoder as measured: form-style, space as `+`, `/` kept.
    fn aws_style(key: &str) -> String {
        encode_path(key).replace("%20", "+")
    }

    /// Ceph RGW's `url_encode(key, encode_slash = true)` from `rgw_common.cc`.
    fn rgw_style(key: &str) -> String {
        let mut out = String::new();
        for b in key.bytes() {
            let needs = b <= 0x20 || b >= 0x7f || b"\"#%&+,/:;<=>?@[]\\^`{}".contains(&b);
            if needs {
                let _ = write!(out, "%{b:02X}");
            } else {
                out.push(char::from(b));
            }
        }
        out
    }

    const AWKWARD: &[&str] = &[
        "a b",
        "a+b",
        "100%.csv",
        "tilde~x",
        "k=v&x=y",
        "what?",
        "#hash",
        "日本語/ファイル.txt",
        "a//b",
        "./x",
        "../../etc/passwd",
        "trailing/",
        " lead and trail ",
        "\u{1}\u{1f}control",
        "emoji 🦀",
        "%2F already-encoded-looking %20",
    ];

    #[test]
    fn path_encoding_keeps_only_unreserved_and_slash() {
        assert_eq!(encode_path("a b+c%d/e~f"), "a%20b%2Bc%25d/e~f");
        assert_eq!(encode_path("../x//y"), "../x//y");
        assert_eq!(encode_path("=?#&"), "%3D%3F%23%26");
        assert_eq!(encode_path("é"), "%C3%A9");
    }

    #[test]
    fn query_encoding_escapes_slash_too() {
        assert_eq!(encode_query_value("a/b c+d=e&f"), "a%2Fb%20c%2Bd%3De%26f");
        assert_eq!(encode_query_value("AZaz09-._~"), "AZaz09-._~");
    }

    #[test]
    fn both_gateway_styles_decode_to_the_key() {
        for key in AWKWARD {
            assert_eq!(
                decode_listing_value(&aws_style(key)).unwrap(),
                *key,
                "aws {key:?}"
            );
            assert_eq!(
                decode_listing_value(&rgw_style(key)).unwrap(),
                *key,
                "rgw {key:?}"
            );
        }
        assert_eq!(decode_listing_value("a+b%2Bc").unwrap(), "a b+c");
    }

    #[test]
    fn unencoded_values_are_refused_not_mangled() {
        assert!(matches!(
            decode_listing_value("a b"),
            Err(DecodeError::NotEncoded {
                byte: b' ',
                offset: 1
            })
        ));
        assert!(decode_listing_value("100%.csv").is_err());
        assert!(decode_listing_value("trailing%").is_err());
        assert!(decode_listing_value("%4").is_err());
        assert!(decode_listing_value("日本").is_err());
        assert!(matches!(
            decode_listing_value("%FF"),
            Err(DecodeError::NotUtf8)
        ));
    }

    proptest! {
        #[test]
        fn path_encoding_round_trips(key in "\\PC{1,300}") {
            prop_assert_eq!(decode_listing_value(&encode_path(&key)).unwrap(), key);
        }

        #[test]
        fn query_encoding_round_trips(key in any::<String>()) {
            let encoded = encode_query_value(&key);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            prop_assert_eq!(decode_listing_value(&encoded).unwrap(), key);
        }

        #[test]
        fn gateway_encodings_round_trip(key in "[ +%~=?#/.a-z\u{1}\u{e9}\u{65e5}\u{1f980}]{1,64}") {
            prop_assert_eq!(decode_listing_value(&aws_style(&key)).unwrap(), key.clone());
            prop_assert_eq!(decode_listing_value(&rgw_style(&key)).unwrap(), key);
        }

        #[test]
        fn long_keys_round_trip(key in proptest::collection::vec(any::<char>(), 256..=1024)) {
            let key: String = key.into_iter().collect();
            prop_assert_eq!(decode_listing_value(&encode_path(&key)).unwrap(), key);
        }

        #[test]
        fn decoding_never_panics(value in any::<String>()) {
            let _ = decode_listing_value(&value);
        }
    }
}
