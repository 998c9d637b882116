//! Who may call what: API tokens, roles, and the role table — the one place that lists every
//! guarded route and the roles allowed on it (docs/api.md, "Roles"; decision 0015).
//!
//! Pure: [`Access::authenticate`] maps a presented token to a [`Principal`], [`rule_for`] finds
//! a request's row in [`RULES`], [`authorize`] decides. The middleware in `auth.rs` carries
//! the decision out and writes the audit ledger.
//!
//! Guarded are `/metrics` and every path under `/api/`. A guarded method and path that no row
//! lists is **admin only**: a route added without a row is closed to everyone else until its
//! row says otherwise. Other paths (`/healthz`, the wallboard's page and its assets) are open;
//! they carry no data of their own, everything they show comes through `/api/v1`.

use std::fmt;

use axum::http::Method;
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// One seat: its own seat, its own calls, the shared figures.
    Seat,
    /// Read-only figures for a wall display or Prometheus: no writes, numbers always masked.
    Monitor,
    /// The duty supervisor (值班长): everything but the audit ledger.
    Supervisor,
    /// Everything, including the audit ledger.
    Admin,
}

impl Role {
    /// Every role, in the order docs/api.md lists them.
    pub const ALL: [Self; 4] = [Self::Seat, Self::Monitor, Self::Supervisor, Self::Admin];

    /// The role's name in the secrets file and the audit ledger.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Seat => "seat",
            Self::Monitor => "monitor",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }

    /// The role named `name`, if there is one.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether this role may ask for callers' numbers unmasked (with a reason).
    pub const fn may_unmask(self) -> bool {
        matches!(self, Self::Supervisor | Self::Admin)
    }
}

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name in the secrets file, or [`LOOPBACK_ACTOR`].
    pub actor: String,
    /// Its role.
    pub role: Role,
    /// For [`Role::Seat`]: the seat it is.
    pub seat: Option<String>,
}

/// The actor of a loopback client while no tokens are configured.
pub const LOOPBACK_ACTOR: &str = "loopback";

impl Principal {
    /// A loopback client while no tokens are configured: an admin.
    pub fn loopback() -> Self {
        Self {
            actor: LOOPBACK_ACTOR.to_owned(),
            role: Role::Admin,
            seat: None,
        }
    }
}

/// One API token as the secrets file gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Its name (`[tokens.<name>]`), recorded as the actor.
    pub name: String,
    /// The secret itself.
    pub token: String,
    /// Its role.
    pub role: Role,
    /// For [`Role::Seat`]: the seat.
    pub seat: Option<String>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("seat", &self.seat)
            .finish_non_exhaustive()
    }
}

/// The configured tokens, kept only as SHA-256 hashes. Without any, the API is loopback-only
/// and a loopback client is an admin ([`Principal::loopback`]).
#[derive(Clone, Default)]
pub struct Access {
    tokens: Vec<([u8; 32], Principal)>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl Access {
    /// No tokens: loopback clients only, as admin.
    pub fn loopback_only() -> Self {
        Self::default()
    }

    /// These tokens; every guarded request must carry one of them. The secrets are hashed and
    /// dropped.
    pub fn with_tokens(tokens: Vec<ApiToken>) -> Self {
        Self {
            tokens: tokens
                .into_iter()
                .map(|t| {
                    let principal = Principal {
                        actor: t.name,
                        role: t.role,
                        seat: t.seat,
                    };
                    (hash(&t.token), principal)
                })
                .collect(),
        }
    }

    /// Whether no tokens are configured.
    pub fn is_loopback_only(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Tokens configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no tokens are configured (the same as [`Self::is_loopback_only`]).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many tokens carry `role`.
    pub fn count(&self, role: Role) -> usize {
        self.tokens.iter().filter(|(_, p)| p.role == role).count()
    }

    /// Whose token `presented` is. Every configured hash is compared, each in constant time,
    /// so the time taken says nothing about the token or which one matched.
    pub fn authenticate(&self, presented: &str) -> Option<&Principal> {
        let h = hash(presented);
        let mut found = None;
        for (stored, principal) in &self.tokens {
            if constant_time_eq(stored, &h) {
                found = Some(principal);
            }
        }
        found
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal without an early exit: every byte is looked at whatever the first difference.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a seat token may do on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatGrant {
    /// Nothing.
    No,
    /// Only where the path's `{id}` is its own seat.
    OwnSeat,
    /// Only where the path's `{id}` is the call it is ringing or talking on.
    OwnCall,
    /// Yes (a handler may still narrow the answer: `GET /api/v1/calls` lists its own calls).
    Yes,
}

/// One row of the role table. Admin may always; the other roles as the row says.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// `GET` (which also covers `HEAD`), `POST`, …
    pub method: &'static str,
    /// Path pattern; `{id}` matches one segment.
    pub path: &'static str,
    /// Seat tokens.
    pub seat: SeatGrant,
    /// Monitor tokens.
    pub monitor: bool,
    /// Supervisor tokens.
    pub supervisor: bool,
}

const fn rule(
    method: &'static str,
    path: &'static str,
    seat: SeatGrant,
    monitor: bool,
    supervisor: bool,
) -> Rule {
    Rule {
        method,
        path,
        seat,
        monitor,
        supervisor,
    }
}

use SeatGrant::{No, OwnCall, OwnSeat, Yes};

/// The role table: every guarded route and who may use it besides admin. docs/api.md,
/// "Roles", shows the same table; keep them together.
pub static RULES: &[Rule] = &[
    //    method  path                                       seat     monitor supervisor
    rule("GET", "/api/v1/events", Yes, true, true),
    rule("GET", "/api/v1/stats", Yes, true, true),
    rule("GET", "/api/v1/queues", Yes, true, true),
    rule("GET", "/api/v1/calls", Yes, true, true),
    rule("GET", "/api/v1/seats", No, true, true),
    rule("GET", "/api/v1/seats/{id}", OwnSeat, true, true),
    rule("POST", "/api/v1/seats/{id}/state", OwnSeat, false, true),
    rule("POST", "/api/v1/seats/{id}/pools", No, false, true),
    rule("POST", "/api/v1/calls/{id}/transfer", OwnCall, false, true),
    rule(
        "POST",
        "/api/v1/calls/{id}/transfer/complete",
        OwnCall,
        false,
        true,
    ),
    rule(
        "POST",
        "/api/v1/calls/{id}/transfer/cancel",
        OwnCall,
        false,
        true,
    ),
    rule("POST", "/api/v1/calls/{id}/withdraw", No, false, true),
    rule("POST", "/api/v1/pools/surge", No, false, true),
    rule("GET", "/api/v1/audit", No, false, false),
    rule("GET", "/metrics", Yes, true, true),
];

/// Whether `path` is guarded at all (`/metrics` and everything under `/api/`).
pub fn guarded(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/api/")
}

/// The row for `method` and `path` and the value of its `{id}` segment, if a row matches.
/// `HEAD` is looked up as `GET`.
pub fn rule_for<'p>(method: &Method, path: &'p str) -> Option<(&'static Rule, Option<&'p str>)> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES.iter().filter(|r| r.method == method).find_map(|r| {
        let id = matches(r.path, path)?;
        Some((r, id))
    })
}

/// `Some(id)` when `path` fits `pattern` segment by segment (`{id}` fits any non-empty one).
fn matches<'p>(pattern: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut id = None;
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => id = Some(seg),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// What [`authorize`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// 403, with the reason for the client and the ledger.
    Deny(String),
    /// A seat on a transfer route: allowed if `call` is the call it rings or talks on (only
    /// the engine knows).
    IfOwnCall {
        /// The seat.
        seat: String,
        /// The call id from the path.
        call: String,
    },
}

/// Whether `who` may use the route `rule` (with its `{id}`); `None` for a guarded route no
/// row lists, which only admin may use.
pub fn authorize(rule: Option<(&Rule, Option<&str>)>, who: &Principal) -> Decision {
    if who.role == Role::Admin {
        return Decision::Allow;
    }
    let Some((rule, id)) = rule else {
        return Decision::Deny("only admin may use a route the role table does not list".into());
    };
    let denied = || {
        Decision::Deny(format!(
            "role {} may not {} {}",
            who.role.as_str(),
            rule.method,
            rule.path
        ))
    };
    let allowed = match who.role {
        Role::Admin => true,
        Role::Supervisor => rule.supervisor,
        Role::Monitor => rule.monitor,
        Role::Seat => {
            let own = who.seat.as_deref().unwrap_or_default();
            match (rule.seat, id) {
                (Yes, _) => true,
                (OwnSeat, Some(id)) if id == own => true,
                (OwnSeat, _) => {
                    return Decision::Deny(format!("seat {own} may only use its own seat"));
                }
                (OwnCall, Some(call)) => {
                    return Decision::IfOwnCall {
                        seat: own.to_owned(),
                        call: call.to_owned(),
                    }
                }
                (No | OwnCall, _) => false,
            }
        }
    };
    if allowed {
        Decision::Allow
    } else {
        denied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, seat: Option<&str>) -> Principal {
        Principal {
            actor: "t".into(),
            role,
            seat: seat.map(Into::into),
        }
    }

    fn decide(method: Method, path: &str, p: &Principal) -> Decision {
        authorize(rule_for(&method, path), p)
    }

    #[test]
    fn tokens_authenticate_by_hash_and_nothing_else_does() {
        let access = Access::with_tokens(vec![
            ApiToken {
                name: "duty-1".into(),
                token: "s".repeat(32),
                role: Role::Supervisor,
                seat: None,
            },
            ApiToken {
                name: "seat-1001".into(),
                token: "t".repeat(32),
                role: Role::Seat,
                seat: Some("1001".into()),
            },
        ]);
        assert!(!access.is_loopback_only());
        assert_eq!(access.count(Role::Seat), 1);
        let p = access.authenticate(&"t".repeat(32)).expect("seat token");
        assert_eq!(p.actor, "seat-1001");
        assert_eq!(p.seat.as_deref(), Some("1001"));
        assert_eq!(
            access.authenticate(&"s".repeat(32)).map(|p| p.role),
            Some(Role::Supervisor)
        );
        for wrong in ["", "s", &"s".repeat(31), &"s".repeat(33), &"S".repeat(32)] {
            assert!(access.authenticate(wrong).is_none(), "{wrong:?}");
        }
        assert!(Access::loopback_only().authenticate("").is_none());
        // Secrets never show in Debug.
        assert!(!format!("{access:?}").contains("sss"));
    }

    #[test]
    fn paths_match_segment_by_segment() {
        let (r, id) = rule_for(&Method::POST, "/api/v1/seats/1001/state").expect("row");
        assert_eq!((r.path, id), ("/api/v1/seats/{id}/state", Some("1001")));
        let (r, _) = rule_for(&Method::HEAD, "/api/v1/stats").expect("HEAD is GET");
        assert_eq!(r.path, "/api/v1/stats");
        assert!(rule_for(&Method::GET, "/api/v1/seats/").is_none());
        assert!(rule_for(&Method::GET, "/api/v1/seats/1001/state").is_none());
        assert!(rule_for(&Method::DELETE, "/api/v1/audit").is_none());
        assert!(rule_for(&Method::GET, "/api/v1/stats/").is_none());
        assert!(guarded("/api/v2/anything") && guarded("/metrics"));
        assert!(!guarded("/healthz") && !guarded("/") && !guarded("/metrics/"));
    }

    #[test]
    fn a_seat_may_use_its_own_seat_and_calls_only() {
        let seat = who(Role::Seat, Some("1001"));
        assert_eq!(
            decide(Method::GET, "/api/v1/seats/1001", &seat),
            Decision::Allow
        );
        assert_eq!(
            decide(Method::POST, "/api/v1/seats/1001/state", &seat),
            Decision::Allow
        );
        for (m, p) in [
            (Method::GET, "/api/v1/seats/1002"),
            (Method::POST, "/api/v1/seats/1002/state"),
            (Method::GET, "/api/v1/seats"),
            (Method::POST, "/api/v1/pools/surge"),
            (Method::POST, "/api/v1/seats/1001/pools"),
            (Method::GET, "/api/v1/audit"),
            (Method::DELETE, "/api/v1/seats/1001"),
            (Method::GET, "/api/v1/new-route"),
        ] {
            assert!(
                matches!(decide(m.clone(), p, &seat), Decision::Deny(_)),
                "{m} {p}"
            );
        }
        assert_eq!(
            decide(Method::POST, "/api/v1/calls/7/transfer", &seat),
            Decision::IfOwnCall {
                seat: "1001".into(),
                call: "7".into()
            }
        );
        for p in [
            "/api/v1/calls",
            "/api/v1/stats",
            "/api/v1/events",
            "/metrics",
        ] {
            assert_eq!(decide(Method::GET, p, &seat), Decision::Allow, "{p}");
        }
    }

    #[test]
    fn monitor_reads_supervisor_writes_admin_does_everything() {
        let monitor = who(Role::Monitor, None);
        let supervisor = who(Role::Supervisor, None);
        let admin = who(Role::Admin, None);
        for p in [
            "/api/v1/seats",
            "/api/v1/seats/1002",
            "/api/v1/calls",
            "/metrics",
        ] {
            assert_eq!(decide(Method::GET, p, &monitor), Decision::Allow, "{p}");
        }
        for p in [
            "/api/v1/pools/surge",
            "/api/v1/seats/1001/state",
            "/api/v1/calls/7/transfer",
        ] {
            assert!(matches!(
                decide(Method::POST, p, &monitor),
                Decision::Deny(_)
            ));
            assert_eq!(decide(Method::POST, p, &supervisor), Decision::Allow, "{p}");
        }
        assert!(matches!(
            decide(Method::GET, "/api/v1/audit", &supervisor),
            Decision::Deny(_)
        ));
        // A route nobody listed: admin only.
        assert!(matches!(
            decide(Method::POST, "/api/v1/seats/1001/delete", &supervisor),
            Decision::Deny(_)
        ));
        for (m, p) in [
            (Method::GET, "/api/v1/audit"),
            (Method::DELETE, "/api/v1/audit"),
            (Method::POST, "/api/v1/unknown"),
        ] {
            assert_eq!(decide(m, p, &admin), Decision::Allow);
        }
        assert!(Role::Supervisor.may_unmask() && Role::Admin.may_unmask());
        assert!(!Role::Seat.may_unmask() && !Role::Monitor.may_unmask());
    }

    #[test]
    fn every_row_is_reachable_and_unique() {
        for (i, r) in RULES.iter().enumerate() {
            let path = r.path.replace("{id}", "1");
            let method = Method::from_bytes(r.method.as_bytes()).expect("method");
            let (found, _) = rule_for(&method, &path).expect("matches itself");
            assert!(std::ptr::eq(found, &RULES[i]), "{} {}", r.method, r.path);
            assert!(guarded(r.path), "{}", r.path);
        }
    }
}
