//! libFuzzer entry for `haul_fuzz::tar_unpack` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::tar_unpack(data));
