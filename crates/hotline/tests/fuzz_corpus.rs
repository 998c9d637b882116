//! The fuzz corpora, replayed on stable: every file of `fuzz/corpus/<target>/` goes through
//! the very function its cargo-fuzz target calls (`fuzz/src/lib.rs`, included here), so the
//! corpora and the crashes fuzzing found (kept there as regressions) stay checked by
//! `cargo test --workspace` without libFuzzer. See docs/reliability.md.

use std::path::{Path, PathBuf};

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod harness;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs `run` on every file of the target's corpus; returns how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = corpus(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // A panic names the file: rerun it with `cargo fuzz run <target> <file>`.
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
    }
    files.len()
}

#[test]
fn sip_validate_corpus() {
    assert!(replay("sip_validate", harness::sip_validate) > 0);
}

#[test]
fn sip_framing_corpus() {
    assert!(replay("sip_framing", harness::sip_framing) > 0);
}

#[test]
fn sdp_parse_corpus() {
    assert!(replay("sdp_parse", harness::sdp_parse) > 0);
}

#[test]
fn rtp_corpus() {
    assert!(replay("rtp", harness::rtp) > 0);
}

#[test]
fn config_corpus() {
    assert!(replay("config", harness::config) > 0);
}

#[test]
fn wav_corpus() {
    assert!(replay("wav", harness::wav) > 0);
}
