//! ListObjects (V1 and V2) pages from a hostile gateway: never a panic; a page that parses has
//! keys that round-trip through the key type and at most the documented number of entries.
#![no_main]

use engine::s3::{MAX_ENTRIES_PER_PAGE, ObjectKey, parse_list_objects, parse_list_objects_v2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for page in [parse_list_objects_v2(data), parse_list_objects(data)]
        .into_iter()
        .flatten()
    {
        assert!(page.objects.len() + page.common_prefixes.len() <= MAX_ENTRIES_PER_PAGE);
        for o in &page.objects {
            let again = ObjectKey::new(o.key.as_str()).expect("a parsed key is a valid key");
            assert_eq!(again.as_str(), o.key.as_str());
        }
        if page.is_truncated {
            // A truncated page always says how to continue (or the parser refused it).
            assert!(page.next_continuation_token.is_some() || page.resume_marker().is_some());
        }
    }
});
