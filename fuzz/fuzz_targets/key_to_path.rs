//! libFuzzer entry for `haul_fuzz::key_to_path` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::key_to_path(data));
