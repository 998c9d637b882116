//! `cargo fuzz run rtp`: see [`hotline_fuzz::rtp`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline_fuzz::rtp(data));
