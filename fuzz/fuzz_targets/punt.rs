//! libFuzzer target: `control::testkit::fuzz::punt` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::testkit::fuzz::punt(data));
