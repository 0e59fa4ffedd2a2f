//! libFuzzer entry for `haul_fuzz::delete_objects` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::delete_objects(data));
