//! libFuzzer entry for `haul_fuzz::copy_object` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::copy_object(data));
