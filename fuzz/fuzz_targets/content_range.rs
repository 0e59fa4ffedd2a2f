//! libFuzzer entry for `haul_fuzz::content_range` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::content_range(data));
