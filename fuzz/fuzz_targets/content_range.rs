//! Content-Range headers: a parsed range is consistent (start <= end < total).
#![no_main]

use engine::s3::parse_content_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(r) = parse_content_range(data) {
        assert!(r.start <= r.end);
        if let Some(total) = r.total {
            assert!(r.end < total);
        }
    }
});
