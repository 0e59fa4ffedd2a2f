//! Keys becoming local paths: an accepted key never leads outside the destination.
#![no_main]

use std::path::{Component, Path};

use engine::local::SafeRelPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|key: &str| {
    if let Ok(p) = SafeRelPath::from_key(key) {
        let root = Path::new("/dest");
        let joined = p.under(root);
        let rel = joined.strip_prefix(root).expect("stays under the root");
        assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
    }
});
