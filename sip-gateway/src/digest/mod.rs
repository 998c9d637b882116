//! HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 7616, RFC 8760): MD5 and SHA-256,
//! `qop=auth` (and RFC 2069-style credentials without qop, single-use).
//!
//! Sans-IO like the rest of the crate: the time is an argument, the nonce secret is given by
//! the caller. [`DigestAuth`] is what a server needs:
//!
//! 1. a request without usable credentials gets a 401 carrying
//!    [`DigestAuth::challenge_headers`] (SHA-256 first, then MD5: RFC 8760 §2.4);
//! 2. a request with credentials: parse the header with [`DigestCredentials::parse`], look up
//!    the user's password, call [`DigestAuth::verify`]; [`Verification::Ok`] lets it through,
//!    [`Verification::Stale`] gets a new challenge with `stale=true`, anything else a new
//!    challenge without.
//!
//! Nonces are stateless ([`NonceIssuer`]: time stamp, counter, MAC); only successfully used
//! nonces are remembered, with the highest `nc` seen, to refuse replays.

mod header;
mod nonce;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest as _, Sha256};

pub use header::{AuthorizationError, DigestCredentials, QopAuth};
pub use nonce::{NonceId, NonceIssuer, NonceStatus, DEFAULT_NONCE_TTL, DEFAULT_REPLAY_CAPACITY};

use nonce::{Admission, ReplayTable};

/// The hash algorithms we offer (RFC 7616 §3.2, RFC 8760). The `-sess` variants are not
/// offered: they exist for third-party authentication servers, which hotline does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5`: what most deployed SIP phones still speak.
    Md5,
    /// `SHA-256` (RFC 8760 §2.2), offered first.
    Sha256,
}

impl DigestAlgorithm {
    /// The `algorithm` parameter token.
    pub fn token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Reads an `algorithm` token, case-insensitively; `None` for anything we do not offer.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Self::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Self::Sha256)
        } else {
            None
        }
    }

    /// `H(data)` as raw bytes.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Md5 => Md5::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `H(data)` as lowercase hex, the form RFC 7616 §3.4.1 feeds into the next hash.
    pub fn hash_hex(self, data: &[u8]) -> String {
        hex::encode(self.hash(data))
    }

    /// Length of `H(data)` in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha256 => 32,
        }
    }
}

/// The expected `response` for `credentials` (RFC 7616 §3.4.1, RFC 2069 §2.1.2 without qop),
/// as raw bytes: `KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))` with
/// `A1 = username ":" realm ":" password` and `A2 = method ":" digest-uri`.
pub fn expected_response(credentials: &DigestCredentials, password: &str, method: &str) -> Vec<u8> {
    let alg = credentials.algorithm;
    let ha1 = alg.hash_hex(
        format!(
            "{}:{}:{}",
            credentials.username, credentials.realm, password
        )
        .as_bytes(),
    );
    let ha2 = alg.hash_hex(format!("{}:{}", method, credentials.uri).as_bytes());
    let kd = match &credentials.qop {
        Some(qop) => format!(
            "{ha1}:{}:{}:{}:auth:{ha2}",
            credentials.nonce, qop.nc_text, qop.cnonce
        ),
        None => format!("{ha1}:{}:{ha2}", credentials.nonce),
    };
    alg.hash(kd.as_bytes())
}

/// [`expected_response`] as lowercase hex, the way a client puts it in `response`.
pub fn expected_response_hex(
    credentials: &DigestCredentials,
    password: &str,
    method: &str,
) -> String {
    hex::encode(expected_response(credentials, password, method))
}

/// Equality whose running time depends on the lengths only, not on where the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The outcome of [`DigestAuth::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Genuine, fresh and not replayed: the user is authenticated.
    Ok,
    /// The response was right but the nonce has expired (or was forgotten by the bounded
    /// replay table): challenge again with `stale=true` so the client retries without asking
    /// its user (RFC 7616 §3.3).
    Stale,
    /// Refused: challenge again without `stale`.
    Rejected(Rejection),
}

/// Why [`DigestAuth::verify`] refused credentials. Only for logs: all of them are answered
/// with the same fresh challenge, so a client cannot tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `realm` is not ours.
    WrongRealm,
    /// The nonce is not one we issued (bad MAC, bad shape).
    BadNonce,
    /// The response does not match the password.
    BadResponse,
    /// No password for this username (checked against a dummy so the timing matches).
    UnknownUser,
    /// `nc` not above the last accepted for this nonce, or a qop-less nonce used twice.
    Replay,
    /// An algorithm this server does not offer (the operator narrowed the list).
    AlgorithmNotOffered,
}

/// A Digest server for one realm: issues challenges, verifies credentials, refuses replays.
#[derive(Debug)]
pub struct DigestAuth {
    realm: String,
    /// Offered in this order, most preferred first (RFC 8760 §2.4).
    algorithms: Vec<DigestAlgorithm>,
    nonces: NonceIssuer,
    replays: ReplayTable,
}

impl DigestAuth {
    /// A server for `realm` whose nonces stay fresh for `nonce_ttl`
    /// ([`DEFAULT_NONCE_TTL`] is 300 s). See [`NonceIssuer`] on the secret and epoch.
    pub fn new(
        realm: impl Into<String>,
        secret: [u8; 32],
        epoch: Instant,
        nonce_ttl: Duration,
    ) -> Self {
        Self {
            realm: realm.into(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonces: NonceIssuer::new(secret, epoch, nonce_ttl),
            replays: ReplayTable::new(DEFAULT_REPLAY_CAPACITY),
        }
    }

    /// Offer these algorithms, most preferred first (default SHA-256 then MD5). Phones that
    /// read only the first challenge and know only MD5 (SIPp 3.6, older handsets) need MD5
    /// first. An empty list keeps the default.
    pub fn with_algorithms(mut self, algorithms: &[DigestAlgorithm]) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms.to_vec();
        }
        self
    }

    /// Bounds the replay table to `capacity` used nonces (default [`DEFAULT_REPLAY_CAPACITY`];
    /// at least 1). When full, the oldest is forgotten and answered as stale if it comes back.
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replays = ReplayTable::new(capacity);
        self
    }

    /// The realm in our challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The nonce issuer, e.g. to check a nonce by hand.
    pub fn nonces(&self) -> &NonceIssuer {
        &self.nonces
    }

    /// The header lines of a 401: one `WWW-Authenticate` per algorithm, SHA-256 first
    /// (RFC 8760 §2.4), both with the same new nonce and `qop="auth"`, and `stale=true` when
    /// `stale`:
    ///
    /// ```text
    /// WWW-Authenticate: Digest realm="hotline", nonce="…", qop="auth", algorithm=SHA-256
    /// WWW-Authenticate: Digest realm="hotline", nonce="…", qop="auth", algorithm=MD5
    /// ```
    pub fn challenge_headers(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.nonces.issue(now);
        self.algorithms
            .iter()
            .map(|alg| {
                let mut line = String::from("WWW-Authenticate: Digest realm=");
                // Writing into a String cannot fail.
                let _ = header::write_quoted(&mut line, &self.realm);
                let _ = write!(
                    line,
                    ", nonce=\"{nonce}\", qop=\"auth\", algorithm={}",
                    alg.token()
                );
                if stale {
                    line.push_str(", stale=true");
                }
                line
            })
            .collect()
    }

    /// Verifies `credentials` for a request with `method`, given the user's password
    /// (`None` when the username is unknown: the work is done against a dummy password and
    /// the answer is [`Rejection::UnknownUser`]).
    ///
    /// The `uri` parameter is not compared with the Request-URI: it is covered by the
    /// response hash and by the per-nonce `nc` check, and proxies in front of phones are
    /// known to rewrite the Request-URI.
    ///
    /// Only a correct, fresh, unreplayed response is recorded in the replay table, so a
    /// failed attempt can neither consume a nonce nor fill the table.
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        credentials: &DigestCredentials,
        password: Option<&str>,
    ) -> Verification {
        if credentials.realm != self.realm {
            return Verification::Rejected(Rejection::WrongRealm);
        }
        if !self.algorithms.contains(&credentials.algorithm) {
            return Verification::Rejected(Rejection::AlgorithmNotOffered);
        }
        let status = self.nonces.check(now, &credentials.nonce);
        if status == NonceStatus::Invalid {
            return Verification::Rejected(Rejection::BadNonce);
        }
        let expected = expected_response(credentials, password.unwrap_or(DUMMY_PASSWORD), method);
        let mut presented = vec![0u8; credentials.algorithm.output_len()];
        let decoded = credentials.response.len() == 2 * presented.len()
            && hex::decode_to_slice(&credentials.response, &mut presented).is_ok();
        // black_box: the work must be done even when the answer is already known (unknown user).
        let correct = std::hint::black_box(ct_eq(&expected, &presented) && decoded);
        if password.is_none() {
            return Verification::Rejected(Rejection::UnknownUser);
        }
        if !correct {
            return Verification::Rejected(Rejection::BadResponse);
        }
        let id = match status {
            NonceStatus::Fresh(id) => id,
            NonceStatus::Stale | NonceStatus::Invalid => return Verification::Stale,
        };
        let now_ms = self.nonces.ms_since_epoch(now);
        let nc = credentials.qop.as_ref().map(|q| q.nc);
        match self.replays.admit(now_ms, self.nonces.ttl_ms(), id, nc) {
            Admission::Admitted => Verification::Ok,
            Admission::Replay => Verification::Rejected(Rejection::Replay),
            Admission::Forgotten => Verification::Stale,
        }
    }
}

/// Hashed in place of a password for unknown users, so that they take as long as known ones.
const DUMMY_PASSWORD: &str = "\u{0}hotline-no-such-user\u{0}";
