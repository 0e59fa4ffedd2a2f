//! libFuzzer entry for `haul_fuzz::complete_multipart_upload` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::complete_multipart_upload(data));
