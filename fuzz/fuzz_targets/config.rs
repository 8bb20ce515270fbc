//! libFuzzer target: `control::fuzz::config` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::fuzz::config(data));
