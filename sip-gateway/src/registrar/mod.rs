//! The seat registrar (RFC 3261 §10.3): seat phones register as `sip:<seat-id>@<domain>`,
//! authenticated with Digest ([`crate::digest`]) when the secrets file gives passwords.
//!
//! Sans-IO. The shell drives it like this:
//!
//! - each REGISTER that passed validation goes to [`Registrar::handle_register`], with the
//!   time, the flow it came on, its Call-ID and CSeq number; the [`RegisterOutcome`] says what
//!   to answer (and, for [`RegisterOutcome::Ok`], whether the seat is now reachable);
//! - the call path asks [`Registrar::lookup`] where to ring a seat;
//! - the shell sleeps until [`Registrar::poll_timeout`] and then calls [`Registrar::expire`],
//!   which names the seats that just lost their last binding, for the call distributor.
//!
//! Bindings remember the [`Peer`] the REGISTER came from, and calls to the seat are sent to
//! that flow rather than to the Contact address, which is often a private address behind NAT.
//!
//! ## Decisions
//!
//! - **Unknown seat ids get 401, not 404.** A REGISTER for a seat that has no password is
//!   answered exactly like a wrong password (a fresh challenge, and the same work: the digest
//!   is computed against a dummy password). A 404 would let a scanner enumerate seat ids, as
//!   SIP scanners do by telling 404 from 401. 404 is kept for a To URI with no user part.
//! - **Unparseable `Authorization`**: another scheme (`Basic`), or Digest with an algorithm or
//!   qop we do not offer, is treated as *no credentials* (401 with a challenge); Digest that is
//!   syntactically broken or lacks a required parameter gets 400.
//! - **Too many contacts**: past `max_contacts_per_seat`, the least recently refreshed
//!   bindings are dropped (a phone whose NAT mapping changed leaves a dead binding behind; it
//!   should not lock the seat out).
//! - The To host is not checked against the domain: phones are often provisioned with the
//!   server's IP address. The seat is the To user.
//! - `Require` (RFC 3261 §10.3 step 2) is the validation layer's business.

mod contact;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use crate::digest::{
    AuthorizationError, DigestAlgorithm, DigestAuth, DigestCredentials, Verification,
    DEFAULT_NONCE_TTL,
};
use crate::peer::Peer;
use crate::sip::{Header, Request};

use contact::Contacts;

/// Registrar settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The domain seats register in (`sip:<seat>@<domain>`); also the Digest realm.
    pub domain: String,
    /// Shorter registrations get 423 Interval Too Brief (RFC 3261 §10.3 step 7). Default 60.
    pub min_expires: u32,
    /// Longer registrations are shortened to this. Default 3600.
    pub max_expires: u32,
    /// For contacts with neither an `expires` parameter nor an Expires header. Default 3600.
    pub default_expires: u32,
    /// How long a nonce stays fresh. Default 300 s.
    pub nonce_ttl: Duration,
    /// Bindings kept per seat; past it the least recently refreshed go. Default 4.
    pub max_contacts_per_seat: usize,
    /// Digest algorithms offered, most preferred first. Default SHA-256, MD5.
    pub digest_algorithms: Vec<DigestAlgorithm>,
}

impl RegistrarConfig {
    /// The defaults above, for `domain`.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            nonce_ttl: DEFAULT_NONCE_TTL,
            max_contacts_per_seat: 4,
            digest_algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
        }
    }
}

/// Seat credentials from the secrets file: seat id → password.
///
/// Registrar constructors take `Option<Credentials>`: `None` means no secrets file, and then
/// only loopback sources may register, without authentication. `Debug` shows the number of
/// seats, never a password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials(HashMap<String, String>);

impl Credentials {
    /// Credentials from a map of seat id → password.
    pub fn new(passwords: HashMap<String, String>) -> Self {
        Self(passwords)
    }

    /// The password of `seat`, if it has one.
    pub fn password(&self, seat: &str) -> Option<&str> {
        self.0.get(seat).map(String::as_str)
    }

    /// How many seats have a password.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no seat has a password (then nobody can register).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>, P: Into<String>> FromIterator<(S, P)> for Credentials {
    fn from_iter<I: IntoIterator<Item = (S, P)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(s, p)| (s.into(), p.into()))
                .collect(),
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("seats", &self.0.len())
            .finish_non_exhaustive()
    }
}

/// One registered contact of a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The seat id (the To user of the REGISTER).
    pub seat: String,
    /// The Contact URI as sent, without `<>`.
    pub contact: String,
    /// Where the REGISTER came from: calls to the seat go to this flow (NAT-friendly).
    pub peer: Peer,
    /// When the binding lapses unless refreshed.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that last set this binding.
    pub call_id: String,
    /// CSeq of that REGISTER; a later one on the same Call-ID must be higher.
    pub cseq: u32,
    /// Comparison key of `contact` (RFC 3261 §19.1.4, simplified).
    key: String,
    /// Unique per write; with `expires_at` it is the expiry index key.
    seq: u64,
}

/// What a successful REGISTER did to the seat's bindings.
///
/// A REGISTER may carry several contacts; the first that applies wins: `Added`, then
/// `Removed`, then `Refreshed`, else `Unchanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingChange {
    /// At least one new binding.
    Added,
    /// At least one binding removed (Expires 0, or `Contact: *`) and none added.
    Removed,
    /// Existing bindings got a new expiry (and possibly a new flow).
    Refreshed,
    /// Nothing changed: a query (no Contact), or removal of a contact that was not bound.
    Unchanged,
}

/// The answer to a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 200 OK.
    Ok {
        /// The seat id.
        seat: String,
        /// The seat's bindings after this request, as `Contact: <uri>;expires=N` header lines
        /// for the 200 (RFC 3261 §10.3 step 8), most recently refreshed first. Empty means the
        /// seat has no binding left and must be taken out of routing. No `Date`.
        contact_headers: Vec<String>,
        /// What changed.
        changed: BindingChange,
    },
    /// 401 Unauthorized with these header lines (`WWW-Authenticate: …`, SHA-256 then MD5).
    Challenge {
        /// The header lines.
        headers: Vec<String>,
    },
    /// Another final response:
    ///
    /// - 400 Bad Request: broken To, Contact, Expires or Digest credentials, or `Contact: *`
    ///   misused; a `Warning: 399` line says what;
    /// - 403 Forbidden: no credentials configured and the source is not loopback, or the
    ///   authenticated user is not the To user;
    /// - 404 Not Found: the To URI has no user part;
    /// - 423 Interval Too Brief with `Min-Expires`;
    /// - 500 Server Internal Error: a CSeq not above the binding's on the same Call-ID
    ///   (RFC 3261 §10.3 steps 6 and 7); nothing is changed.
    Reject {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: &'static str,
        /// Extra header lines.
        headers: Vec<String>,
    },
}

/// The registrar: bindings per seat, with Digest authentication.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    credentials: Option<Credentials>,
    auth: DigestAuth,
    /// Seat id → bindings, least recently refreshed first. No empty vectors.
    seats: HashMap<String, Vec<Binding>>,
    /// (expires_at, seq) → seat id, for [`Registrar::expire`] and [`Registrar::poll_timeout`].
    expiry: BTreeMap<(Instant, u64), String>,
    next_seq: u64,
}

/// What the authentication step decided.
enum AuthStep {
    /// Authenticated as this username.
    User(String),
    /// 401; `true` for `stale=true`.
    Challenge(bool),
    /// 400 with this detail.
    Malformed(&'static str),
}

impl Registrar {
    /// A registrar. `nonce_secret` must be random and fresh for each process start (see
    /// [`crate::digest::NonceIssuer`]); `epoch` is an instant not after the first `now`.
    pub fn new(
        config: RegistrarConfig,
        credentials: Option<Credentials>,
        nonce_secret: [u8; 32],
        epoch: Instant,
    ) -> Self {
        let auth = DigestAuth::new(config.domain.clone(), nonce_secret, epoch, config.nonce_ttl)
            .with_algorithms(&config.digest_algorithms);
        Self {
            config,
            credentials,
            auth,
            seats: HashMap::new(),
            expiry: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// True when `seat` has credentials in the secrets file (it exists even if unregistered).
    pub fn is_known_seat(&self, seat: &str) -> bool {
        self.credentials
            .as_ref()
            .is_some_and(|c| c.password(seat).is_some())
    }

    /// True when REGISTERs must carry Digest credentials (a secrets file was given).
    pub fn requires_auth(&self) -> bool {
        self.credentials.is_some()
    }

    /// RFC 3261 §10.3 processing of a REGISTER that passed validation: seat from the To user,
    /// authentication, then the Contact list (`*` with `Expires: 0` removes all; per-contact
    /// `expires`, else the Expires header, else the default; 0 removes; below the minimum
    /// gets 423; above the maximum is shortened), with the Call-ID/CSeq ordering check. All
    /// changes of one request are applied together or not at all.
    ///
    /// `source` is the flow the request arrived on; `call_id` and `cseq` are the request's.
    pub fn handle_register(
        &mut self,
        now: Instant,
        source: Peer,
        request: &Request,
        call_id: &str,
        cseq: u32,
    ) -> RegisterOutcome {
        let seat = match contact::seat_from_to(request) {
            Ok(seat) => seat,
            Err(why) => return self.bad_request(why),
        };
        let user = match &self.credentials {
            Some(credentials) => match authenticate(&mut self.auth, credentials, now, request) {
                AuthStep::User(user) => Some(user),
                AuthStep::Challenge(stale) => {
                    return RegisterOutcome::Challenge {
                        headers: self.auth.challenge_headers(now, stale),
                    }
                }
                AuthStep::Malformed(why) => return self.bad_request(why),
            },
            None if source.is_loopback() => None,
            None => return reject(403, "Forbidden", Vec::new()),
        };
        let Some(seat) = seat else {
            return reject(404, "Not Found", Vec::new());
        };
        if user.is_some_and(|user| user != seat) {
            return reject(403, "Forbidden", Vec::new());
        }
        let expires_header = match contact::expires_header(request) {
            Ok(e) => e,
            Err(why) => return self.bad_request(why),
        };
        let contacts = match contact::parse_contacts(request) {
            Ok(c) => c,
            Err(why) => return self.bad_request(why),
        };
        let changed = match contacts {
            Contacts::Query => {
                self.sweep_seat(now, &seat);
                BindingChange::Unchanged
            }
            Contacts::Wildcard => {
                if expires_header != Some(0) {
                    return self.bad_request("Contact * requires Expires: 0");
                }
                let out_of_order = self
                    .live(now, &seat)
                    .any(|b| b.call_id == call_id && cseq <= b.cseq);
                if out_of_order {
                    return out_of_order_cseq();
                }
                let removed = self.live(now, &seat).next().is_some();
                self.remove_seat(&seat);
                if removed {
                    BindingChange::Removed
                } else {
                    BindingChange::Unchanged
                }
            }
            Contacts::List(entries) => {
                // Plan everything first: a 423 or 500 must leave the bindings untouched.
                let mut plan: Vec<(contact::ContactEntry, u32)> = Vec::with_capacity(entries.len());
                for entry in entries {
                    let secs = match entry.expires.or(expires_header) {
                        Some(0) => 0,
                        Some(secs) if secs < self.config.min_expires => {
                            return reject(
                                423,
                                "Interval Too Brief",
                                vec![format!("Min-Expires: {}", self.config.min_expires)],
                            );
                        }
                        Some(secs) => secs.min(self.config.max_expires),
                        None => self
                            .config
                            .default_expires
                            .max(self.config.min_expires)
                            .min(self.config.max_expires),
                    };
                    // The same contact twice in one request: the last one counts.
                    plan.retain(|(e, _)| e.key != entry.key);
                    plan.push((entry, secs));
                }
                let out_of_order = self.live(now, &seat).any(|b| {
                    b.call_id == call_id
                        && cseq <= b.cseq
                        && plan.iter().any(|(e, _)| e.key == b.key)
                });
                if out_of_order {
                    return out_of_order_cseq();
                }
                self.apply(now, source, &seat, plan, call_id, cseq)
            }
        };
        RegisterOutcome::Ok {
            contact_headers: self.contact_headers(now, &seat),
            seat,
            changed,
        }
    }

    /// The live binding to ring for `seat`: the most recently refreshed one. O(1) in the
    /// number of seats.
    pub fn lookup(&self, now: Instant, seat: &str) -> Option<&Binding> {
        self.seats
            .get(seat)?
            .iter()
            .rev()
            .find(|b| b.expires_at > now)
    }

    /// All bindings of `seat` that [`expire`](Self::expire) has not removed yet, least
    /// recently refreshed first.
    pub fn bindings(&self, seat: &str) -> &[Binding] {
        self.seats.get(seat).map_or(&[], Vec::as_slice)
    }

    /// Removes the bindings whose `expires_at` is not after `now`; returns the seats that have
    /// no binding left, in the order they lost it, so the call distributor can take them out
    /// of routing. O(k log n) for k expired bindings.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut lost = Vec::new();
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, seq), seat) = entry.remove_entry();
            if let Some(bindings) = self.seats.get_mut(&seat) {
                bindings.retain(|b| b.seq != seq);
                if bindings.is_empty() {
                    self.seats.remove(&seat);
                    lost.push(seat);
                }
            }
        }
        lost
    }

    /// The earliest binding expiry: when the shell should call [`expire`](Self::expire).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.keys().next().map(|(at, _)| *at)
    }

    /// Seats with at least one binding not yet removed by [`expire`](Self::expire).
    pub fn seats_registered(&self) -> usize {
        self.seats.len()
    }

    fn bad_request(&self, why: &str) -> RegisterOutcome {
        let warning = format!("Warning: 399 {} \"{}\"", self.config.domain, why);
        reject(400, "Bad Request", vec![warning])
    }

    fn live<'a>(&'a self, now: Instant, seat: &str) -> impl Iterator<Item = &'a Binding> + 'a {
        self.bindings(seat)
            .iter()
            .filter(move |b| b.expires_at > now)
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Drops the seat's expired bindings (only on the way to a 200, which reports the result).
    fn sweep_seat(&mut self, now: Instant, seat: &str) {
        let Some(bindings) = self.seats.get_mut(seat) else {
            return;
        };
        let expiry = &mut self.expiry;
        bindings.retain(|b| {
            let live = b.expires_at > now;
            if !live {
                expiry.remove(&(b.expires_at, b.seq));
            }
            live
        });
        if bindings.is_empty() {
            self.seats.remove(seat);
        }
    }

    fn remove_seat(&mut self, seat: &str) {
        for b in self.seats.remove(seat).unwrap_or_default() {
            self.expiry.remove(&(b.expires_at, b.seq));
        }
    }

    fn apply(
        &mut self,
        now: Instant,
        source: Peer,
        seat: &str,
        plan: Vec<(contact::ContactEntry, u32)>,
        call_id: &str,
        cseq: u32,
    ) -> BindingChange {
        self.sweep_seat(now, seat);
        let (mut added, mut removed, mut refreshed) = (false, false, false);
        let mut bindings = self.seats.remove(seat).unwrap_or_default();
        for (entry, secs) in plan {
            let existing = bindings.iter().position(|b| b.key == entry.key);
            if let Some(i) = existing {
                let old = bindings.remove(i);
                self.expiry.remove(&(old.expires_at, old.seq));
            }
            if secs == 0 {
                removed |= existing.is_some();
                continue;
            }
            if existing.is_some() {
                refreshed = true;
            } else {
                added = true;
            }
            let binding = Binding {
                seat: seat.to_string(),
                contact: entry.uri,
                peer: source,
                expires_at: now + Duration::from_secs(u64::from(secs)),
                call_id: call_id.to_string(),
                cseq,
                key: entry.key,
                seq: self.next_seq(),
            };
            self.expiry
                .insert((binding.expires_at, binding.seq), seat.to_string());
            bindings.push(binding);
        }
        let max = self.config.max_contacts_per_seat.max(1);
        if bindings.len() > max {
            for old in bindings.drain(..bindings.len() - max) {
                self.expiry.remove(&(old.expires_at, old.seq));
            }
        }
        if !bindings.is_empty() {
            self.seats.insert(seat.to_string(), bindings);
        }
        if added {
            BindingChange::Added
        } else if removed {
            BindingChange::Removed
        } else if refreshed {
            BindingChange::Refreshed
        } else {
            BindingChange::Unchanged
        }
    }

    fn contact_headers(&self, now: Instant, seat: &str) -> Vec<String> {
        self.live(now, seat)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now);
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                format!("Contact: <{}>;expires={}", b.contact, secs)
            })
            .collect()
    }
}

fn reject(status: u16, reason: &'static str, headers: Vec<String>) -> RegisterOutcome {
    RegisterOutcome::Reject {
        status,
        reason,
        headers,
    }
}

/// RFC 3261 §10.3 step 7: "the registrar MUST … abort the request, returning a 500".
fn out_of_order_cseq() -> RegisterOutcome {
    reject(500, "Server Internal Error", Vec::new())
}

/// RFC 3261 §10.3 step 3 / §22.4: the first Authorization header for our realm decides.
fn authenticate(
    auth: &mut DigestAuth,
    credentials: &Credentials,
    now: Instant,
    request: &Request,
) -> AuthStep {
    let mut malformed = None;
    let mut chosen = None;
    for header in request.headers.iter() {
        let Header::Authorization(value) = header else {
            continue;
        };
        match DigestCredentials::parse(value.value()) {
            Ok(creds) if creds.realm == auth.realm() => {
                chosen = Some(creds);
                break;
            }
            // Another realm's credentials (e.g. for an outbound proxy): not ours to judge.
            Ok(_) | Err(AuthorizationError::NotDigest | AuthorizationError::Unsupported(_)) => {}
            Err(AuthorizationError::Malformed(why)) => {
                malformed.get_or_insert(why);
            }
        }
    }
    let Some(creds) = chosen else {
        return malformed.map_or(AuthStep::Challenge(false), AuthStep::Malformed);
    };
    let method = request.method.to_string();
    match auth.verify(now, &method, &creds, credentials.password(&creds.username)) {
        Verification::Ok => AuthStep::User(creds.username),
        Verification::Stale => AuthStep::Challenge(true),
        Verification::Rejected(_) => AuthStep::Challenge(false),
    }
}
