//! libFuzzer entry for `haul_fuzz::create_multipart_upload` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::create_multipart_upload(data));
