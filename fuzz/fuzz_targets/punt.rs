//! libFuzzer target: `control::fuzz::punt` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::fuzz::punt(data));
