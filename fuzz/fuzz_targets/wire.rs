//! libFuzzer target: `control::fuzz::wire` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::fuzz::wire(data));
