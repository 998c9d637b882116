//! `cargo fuzz run config`: see [`hotline_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline_fuzz::config(data));
