//! Object keys becoming local paths: the target `key_to_path`.
//!
//! A key is accepted exactly when the rule of `local::SafeRelPath` (written out here) allows
//! it, and an accepted key maps to a path under the root, made only of normal components,
//! one per `/`-separated part of the key, spelling the key exactly (nothing normalised
//! away). The same holds for the key a listing with `encoding-type=url` gives after
//! percent-decoding the input, and for the key itself sent through each gateway's encoding
//! and decoded again.

use std::path::{Component, Path};

use engine::local::{NAME_MAX_BYTES, SafeRelPath};
use engine::s3::decode_listing_value;

use crate::xml::UrlStyle;

/// The `key_to_path` target.
pub fn key_to_path(data: &[u8]) {
    let key = String::from_utf8_lossy(data);
    check(&key);
    if let Ok(decoded) = decode_listing_value(&key) {
        check(&decoded);
    }
    for style in [
        UrlStyle::Rgw,
        UrlStyle::Aws,
        UrlStyle::Strict,
        UrlStyle::Lowercase,
    ] {
        let encoded = style.encode(&key);
        assert_eq!(
            decode_listing_value(&encoded).as_deref(),
            Ok(&*key),
            "{style:?} encoding does not decode to the key"
        );
    }
}

/// The rule: not empty, not absolute, no control character (NUL included), no backslash,
/// and every `/`-separated component non-empty, not `.` or `..`, at most 255 bytes.
fn allowed(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('/')
        && !key.chars().any(char::is_control)
        && !key.contains('\\')
        && key
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c.len() <= NAME_MAX_BYTES)
}

fn check(key: &str) {
    let mapped = SafeRelPath::from_key(key);
    assert_eq!(mapped.is_ok(), allowed(key), "key {key:?}: {mapped:?}");
    let Ok(rel) = mapped else { return };
    assert_eq!(rel.as_str(), key);
    let root = Path::new("/srv/restore/db_wal");
    let path = rel.under(root);
    let inside = path
        .strip_prefix(root)
        .unwrap_or_else(|_| panic!("{key:?} maps outside the root: {}", path.display()));
    let components: Vec<Component<'_>> = inside.components().collect();
    assert!(
        components.iter().all(|c| matches!(c, Component::Normal(_))),
        "{key:?} maps to a path with a component that is not a name: {}",
        path.display()
    );
    assert_eq!(
        components.len(),
        key.split('/').count(),
        "{key:?} maps to a path with another number of components"
    );
    assert_eq!(inside.to_str(), Some(key), "{key:?} maps to another path");
}
