//! libFuzzer target: `control::fuzz::fpm` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::fuzz::fpm(data));
