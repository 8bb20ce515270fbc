//! libFuzzer target: `control::testkit::fuzz::packet` (see its docs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| control::testkit::fuzz::packet(data));
