//! libFuzzer entry for `haul_fuzz::list_buckets` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::list_buckets(data));
