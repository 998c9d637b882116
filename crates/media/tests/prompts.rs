//! The shipped prompts (`deploy/prompts/`): every file is a WAV the prompt loader accepts
//! (8 kHz mono), carries speech or music rather than silence, and is the very file
//! `make-prompts` wrote (its SHA256SUMS), so a hand-edited or re-encoded prompt fails here.

use std::path::Path;

use media::tone::goertzel_power;
use media::wav;
use sha2::{Digest, Sha256};

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/prompts"))
}

#[test]
fn every_prompt_loads_is_audible_and_matches_its_checksum() {
    let sums = std::fs::read_to_string(dir().join("SHA256SUMS")).expect("SHA256SUMS");
    let mut checked = 0;
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").expect("sha256sum format");
        let bytes = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), hash, "{name} changed");
        let prompt = wav::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let samples = prompt.samples();
        assert!(
            prompt.duration().as_millis() >= 300,
            "{name}: {:?}",
            prompt.duration()
        );
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak > 3000, "{name}: peak {peak}, silence?");
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} prompts listed");
    for required in ["welcome", "survey", "music", "notice_12349", "n1", "n30"] {
        assert!(
            sums.contains(&format!("  {required}.wav")),
            "{required}.wav is missing"
        );
    }
}

#[test]
fn the_hold_music_starts_on_c5() {
    let bytes = std::fs::read(dir().join("music.wav")).expect("music.wav");
    let music = wav::parse(&bytes).expect("parse");
    let first_note = &music.samples()[800..7200];
    let c5 = goertzel_power(first_note, 523.25);
    let a4 = goertzel_power(first_note, 440.0);
    assert!(c5 > 50.0 * a4, "C5 {c5} vs A4 {a4}");
}
