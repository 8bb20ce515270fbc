//! libFuzzer target: `control::testkit::fuzz::config` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::testkit::fuzz::config(data));
