//! `cargo fuzz run sip_validate`: see [`hotline_fuzz::sip_validate`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline_fuzz::sip_validate(data));
