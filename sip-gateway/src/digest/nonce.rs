//! Nonces that need no storage to be checked, and the bounded table that stops replays.
//!
//! A nonce is `hex(issued_ms ‖ counter ‖ MAC)`: the issue time in milliseconds since the
//! issuer's epoch (8 bytes, big-endian), a per-issuer counter (8 bytes), and the first 16 bytes
//! of HMAC-SHA-256 over both under the issuer's secret. This is the construction RFC 7616 §3.3
//! suggests ("time-stamp H(time-stamp ":" ETag ":" secret-data)"), with a MAC instead of a plain
//! hash. A forged or altered nonce fails the MAC; an old one is recognised by its time stamp;
//! neither needs a lookup. Only nonces that have been *used successfully* enter the replay
//! table, so an attacker without a password cannot fill it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::ct_eq;

/// How long a nonce is accepted after it was issued, unless configured otherwise.
pub const DEFAULT_NONCE_TTL: Duration = Duration::from_secs(300);

/// How many used nonces the replay table remembers, unless configured otherwise.
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;

const PAYLOAD_LEN: usize = 16;
const MAC_LEN: usize = 16;
const NONCE_HEX_LEN: usize = 2 * (PAYLOAD_LEN + MAC_LEN);

/// Issues and checks nonces (RFC 7616 §3.3) without storing them.
///
/// The secret must come from a random source owned by the caller, fresh for every process
/// start: the replay table lives in memory, so a secret that survived a restart would let a
/// nonce from before the restart be replayed once while it is still fresh.
pub struct NonceIssuer {
    secret: [u8; 32],
    epoch: Instant,
    ttl: Duration,
    counter: u64,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("secret", &"<redacted>")
            .field("epoch", &self.epoch)
            .field("ttl", &self.ttl)
            .field("counter", &self.counter)
            .finish()
    }
}

/// What a nonce presented by a client turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours, and younger than the TTL.
    Fresh(NonceId),
    /// Ours, but older than the TTL (or issued "after" `now`): challenge again with
    /// `stale=true` (RFC 7616 §3.3).
    Stale,
    /// Not ours: wrong length, not hex, or the MAC does not match.
    Invalid,
}

/// The authenticated contents of a nonce we issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceId {
    /// The issuer's counter when the nonce was made; unique per issuer.
    pub counter: u64,
    /// Milliseconds between the issuer's epoch and the issue time.
    pub issued_ms: u64,
}

impl NonceIssuer {
    /// An issuer whose nonces stay fresh for `ttl`. `epoch` is any instant not after the first
    /// `now` this issuer will see (the shell's start time).
    pub fn new(secret: [u8; 32], epoch: Instant, ttl: Duration) -> Self {
        Self {
            secret,
            epoch,
            ttl,
            counter: 0,
        }
    }

    /// How long a nonce stays fresh.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new nonce: 64 lowercase hex digits.
    pub fn issue(&mut self, now: Instant) -> String {
        let issued_ms = self.ms_since_epoch(now);
        let counter = self.counter;
        self.counter = self.counter.wrapping_add(1);
        let mut raw = [0u8; PAYLOAD_LEN + MAC_LEN];
        raw[..8].copy_from_slice(&issued_ms.to_be_bytes());
        raw[8..PAYLOAD_LEN].copy_from_slice(&counter.to_be_bytes());
        let mac = hmac_sha256(&self.secret, &raw[..PAYLOAD_LEN]);
        raw[PAYLOAD_LEN..].copy_from_slice(&mac[..MAC_LEN]);
        hex::encode(raw)
    }

    /// Checks a nonce's MAC and age. Never panics, whatever the input.
    pub fn check(&self, now: Instant, nonce: &str) -> NonceStatus {
        if nonce.len() != NONCE_HEX_LEN {
            return NonceStatus::Invalid;
        }
        let mut raw = [0u8; PAYLOAD_LEN + MAC_LEN];
        if hex::decode_to_slice(nonce, &mut raw).is_err() {
            return NonceStatus::Invalid;
        }
        let mac = hmac_sha256(&self.secret, &raw[..PAYLOAD_LEN]);
        if !ct_eq(&mac[..MAC_LEN], &raw[PAYLOAD_LEN..]) {
            return NonceStatus::Invalid;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&raw[..8]);
        let issued_ms = u64::from_be_bytes(word);
        word.copy_from_slice(&raw[8..PAYLOAD_LEN]);
        let counter = u64::from_be_bytes(word);
        let now_ms = self.ms_since_epoch(now);
        match now_ms.checked_sub(issued_ms) {
            Some(age) if age <= self.ttl_ms() => NonceStatus::Fresh(NonceId { counter, issued_ms }),
            _ => NonceStatus::Stale,
        }
    }

    pub(super) fn ms_since_epoch(&self, now: Instant) -> u64 {
        millis(now.saturating_duration_since(self.epoch))
    }

    pub(super) fn ttl_ms(&self) -> u64 {
        millis(self.ttl)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// HMAC-SHA-256 (RFC 2104) for keys of at most one block (64 bytes).
pub(super) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; BLOCK];
    let mut opad = [0x5cu8; BLOCK];
    for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(block_key) {
        *i ^= k;
        *o ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// How a nonce has been used so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Used {
    /// With qop: the highest `nc` accepted.
    Counted(u32),
    /// Without qop (RFC 2069 style): the nonce was used once and is spent.
    Spent,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    issued_ms: u64,
    used: Used,
}

/// What the replay table says about a verified response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// First use of this `nc` (or of this single-use nonce): recorded.
    Admitted,
    /// `nc` not above the highest seen for the nonce, or a single-use nonce used again.
    Replay,
    /// The nonce is older than anything the table still remembers: it may have been used
    /// and forgotten, so the client must get a new one (answer as stale).
    Forgotten,
}

/// Per-nonce highest `nc`, bounded: when full, the oldest nonce is forgotten and every nonce
/// at least as old is refused from then on ([`Admission::Forgotten`]), so eviction never opens
/// a replay window. Entries past the TTL are dropped as they age out.
#[derive(Debug)]
pub(super) struct ReplayTable {
    /// Keyed by the nonce counter, which grows with issue time.
    seen: BTreeMap<u64, Seen>,
    /// Nonces with a counter at or below this were forgotten.
    floor: Option<u64>,
    capacity: usize,
}

impl ReplayTable {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            seen: BTreeMap::new(),
            floor: None,
            capacity: capacity.max(1),
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.seen.len()
    }

    /// Records a use of a fresh, verified nonce. `nc` is `None` without qop.
    pub(super) fn admit(
        &mut self,
        now_ms: u64,
        ttl_ms: u64,
        id: NonceId,
        nc: Option<u32>,
    ) -> Admission {
        self.drop_aged(now_ms, ttl_ms);
        if let Some(seen) = self.seen.get_mut(&id.counter) {
            return match (seen.used, nc) {
                (Used::Counted(last), Some(nc)) if nc > last => {
                    seen.used = Used::Counted(nc);
                    Admission::Admitted
                }
                _ => Admission::Replay,
            };
        }
        if self.floor.is_some_and(|floor| id.counter <= floor) {
            return Admission::Forgotten;
        }
        let used = match nc {
            Some(0) => return Admission::Replay,
            Some(nc) => Used::Counted(nc),
            None => Used::Spent,
        };
        self.seen.insert(
            id.counter,
            Seen {
                issued_ms: id.issued_ms,
                used,
            },
        );
        while self.seen.len() > self.capacity {
            self.forget_oldest();
        }
        Admission::Admitted
    }

    fn drop_aged(&mut self, now_ms: u64, ttl_ms: u64) {
        while let Some((_, seen)) = self.seen.first_key_value() {
            if now_ms.saturating_sub(seen.issued_ms) <= ttl_ms {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((counter, _)) = self.seen.pop_first() {
            self.floor = Some(self.floor.map_or(counter, |f| f.max(counter)));
        }
    }
}
