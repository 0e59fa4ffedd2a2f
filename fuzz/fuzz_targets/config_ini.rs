//! libFuzzer entry for `haul_fuzz::config_ini` (the invariants are there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| haul_fuzz::config_ini(data));
