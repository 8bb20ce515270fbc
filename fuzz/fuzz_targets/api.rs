//! libFuzzer target: `control::fuzz::api` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::fuzz::api(data));
