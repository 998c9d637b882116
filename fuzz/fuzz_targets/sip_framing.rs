//! `cargo fuzz run sip_framing`: see [`hotline_fuzz::sip_framing`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline_fuzz::sip_framing(data));
