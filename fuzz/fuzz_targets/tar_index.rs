//! libFuzzer entry for `haul_fuzz::tar_index` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::tar_index(data));
