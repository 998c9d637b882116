//! `cargo fuzz run sdp_parse`: see [`hotline_fuzz::sdp_parse`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline_fuzz::sdp_parse(data));
