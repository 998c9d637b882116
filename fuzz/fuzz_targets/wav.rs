//! `cargo fuzz run wav`: see [`hotline_fuzz::wav`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline_fuzz::wav(data));
