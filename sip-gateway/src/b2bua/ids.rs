//! Tags, branches and Call-IDs that are unique across calls and restarts.

use std::fmt::Write as _;

/// A counter mixed with a per-process seed.
#[derive(Debug)]
pub(super) struct Ids {
    seed: u64,
    counter: u64,
}

impl Ids {
    pub(super) fn new(seed: u64) -> Self {
        Self { seed, counter: 0 }
    }

    /// A number derived from the seed, e.g. to start SDP session ids from.
    pub(super) fn next_seed(&mut self) -> u64 {
        self.word()
    }

    /// A fresh number for internal tables.
    pub(super) fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn word(&mut self) -> u64 {
        // SplitMix64 over (seed + counter): distinct for every counter value, unguessable
        // without the seed, cheap.
        let mut z = self
            .seed
            .wrapping_add(self.next().wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A dialog tag (RFC 3261 §19.3: at least 32 bits of randomness).
    pub(super) fn tag(&mut self) -> String {
        let mut s = String::with_capacity(17);
        let _ = write!(s, "h{:x}", self.word());
        s
    }

    /// A branch with the RFC 3261 magic cookie.
    pub(super) fn branch(&mut self) -> String {
        let mut s = String::with_capacity(24);
        let _ = write!(s, "z9hG4bK{:x}", self.word());
        s
    }

    /// A Call-ID for a leg we originate.
    pub(super) fn call_id(&mut self, host: &str) -> String {
        let mut s = String::with_capacity(40);
        let _ = write!(s, "{:x}{:x}@{host}", self.word(), self.counter);
        s
    }
}
