//! libFuzzer entry for `haul_fuzz::list_objects` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::list_objects(data));
