//! libFuzzer entry for `haul_fuzz::error_xml` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::error_xml(data));
