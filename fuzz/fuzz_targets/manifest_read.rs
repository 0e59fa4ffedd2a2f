//! libFuzzer entry for `haul_fuzz::manifest_read` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::manifest_read(data));
