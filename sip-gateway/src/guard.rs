//! Protection of the gateway core from more than it can carry: overload control for new calls
//! (a calls-per-second budget, a ceiling on calls in the system, and the delay datagrams spend
//! in our receive queue) and flood defence per source address (rate limits on new REGISTER,
//! INVITE and OPTIONS requests; a source that keeps failing digest authentication is blocked
//! for a while). Pure bookkeeping over `now`; the gateway asks before it opens a transaction.
//!
//! Overload answers new INVITEs 503 with `Retry-After` at once (RFC 3261 §21.5.4), so callers
//! and carriers retry elsewhere or later while admitted calls finish normally. Floods are
//! dropped without an answer: answering a scanner only feeds it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A rate with a burst allowance: `per_second` tokens accrue up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests accepted at once after a quiet spell.
    pub burst: u32,
}

impl Rate {
    /// `per_second` with a burst of twice as many (at least 1).
    pub const fn per_second(per_second: u32) -> Self {
        Self {
            per_second,
            burst: if per_second == 0 {
                1
            } else {
                per_second.saturating_mul(2)
            },
        }
    }
}

/// What the gateway protects itself with. `None` limits are off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// New calls admitted per second, all sources together.
    pub calls_per_second: Option<Rate>,
    /// Calls in the system at once.
    pub max_calls: Option<usize>,
    /// Longest a datagram may have waited in our receive queue before new calls are refused.
    pub max_delay: Option<Duration>,
    /// The `Retry-After` of a 503, in seconds.
    pub retry_after: u32,
    /// New INVITEs per source address.
    pub invite_per_source: Option<Rate>,
    /// REGISTERs per source address.
    pub register_per_source: Option<Rate>,
    /// OPTIONS per source address.
    pub options_per_source: Option<Rate>,
    /// Failed digest authentications from one address within `auth_window` that get it blocked.
    pub auth_failures: u32,
    /// The window failures are counted in.
    pub auth_window: Duration,
    /// How long a blocked address is ignored.
    pub block_for: Duration,
    /// Addresses exempt from per-source limits and blocking (carrier trunks, sub-platforms).
    pub trusted: Vec<IpAddr>,
    /// Most source addresses tracked at once; beyond, idle ones are forgotten, and a new
    /// source that finds no room is not rate-limited (overload control still applies).
    pub max_sources: usize,
}

impl Default for GuardConfig {
    /// Everything off but the defences against scanners.
    fn default() -> Self {
        Self {
            calls_per_second: None,
            max_calls: None,
            max_delay: None,
            retry_after: 5,
            invite_per_source: None,
            register_per_source: None,
            options_per_source: None,
            auth_failures: 0,
            auth_window: Duration::from_secs(60),
            block_for: Duration::from_secs(600),
            trusted: Vec::new(),
            max_sources: 100_000,
        }
    }
}

/// The kinds of new requests limited per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new INVITE (not a re-INVITE).
    Invite,
    /// A REGISTER.
    Register,
    /// An OPTIONS outside a dialog.
    Options,
}

/// Why a new call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// More new calls per second than configured.
    Rate,
    /// As many calls in the system as configured.
    Calls,
    /// Datagrams wait in our receive queue longer than configured: we are behind.
    Delay,
    /// The server is stopping (a graceful stop lets the calls in progress finish).
    Stopping,
}

impl Overload {
    /// A label for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Calls => "calls",
            Self::Delay => "delay",
            Self::Stopping => "stopping",
        }
    }
}

/// A token bucket in thousandths of a token, refilled from `now`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli: u64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            milli: u64::from(rate.burst) * 1000,
            at: now,
        }
    }

    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at);
        let earned = elapsed.as_micros() * u128::from(rate.per_second) / 1000;
        let cap = u64::from(rate.burst) * 1000;
        self.milli = (u128::from(self.milli) + earned).min(u128::from(cap)) as u64;
        self.at = now;
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// What is known of one source address.
#[derive(Debug, Clone)]
struct Source {
    invite: Option<Bucket>,
    register: Option<Bucket>,
    options: Option<Bucket>,
    failures: Vec<Instant>,
    blocked_until: Option<Instant>,
    seen: Instant,
}

impl Source {
    const fn new(now: Instant) -> Self {
        Self {
            invite: None,
            register: None,
            options: None,
            failures: Vec::new(),
            blocked_until: None,
            seen: now,
        }
    }
}

/// Counters of what the guard refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GuardStats {
    /// New calls answered 503, by reason: rate, calls, delay, stopping.
    pub overload: [u64; 4],
    /// New requests dropped by per-source limits: INVITE, REGISTER, OPTIONS.
    pub flood: [u64; 3],
    /// Messages dropped because their source is blocked.
    pub blocked_messages: u64,
    /// Times a source was blocked for failing authentication.
    pub blocks: u64,
}

/// Overload control and flood defence. See the module documentation.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    calls: Option<Bucket>,
    delay: Duration,
    sources: HashMap<IpAddr, Source>,
    stats: GuardStats,
    stopping: bool,
}

impl Guard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        Self {
            config,
            calls: None,
            delay: Duration::ZERO,
            sources: HashMap::new(),
            stats: GuardStats::default(),
            stopping: false,
        }
    }

    /// A graceful stop began: every new call is refused from now on.
    pub fn stop_admitting(&mut self) {
        self.stopping = true;
    }

    /// What it refused so far.
    pub const fn stats(&self) -> &GuardStats {
        &self.stats
    }

    /// Addresses blocked now.
    pub fn blocked_sources(&self, now: Instant) -> usize {
        self.sources
            .values()
            .filter(|s| s.blocked_until.is_some_and(|u| u > now))
            .count()
    }

    /// How long the datagrams just read waited in the receive queue (the shell measures it).
    pub fn note_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.config.trusted.contains(&ip)
    }

    /// Whether messages from `ip` are ignored now (counted).
    pub fn is_blocked(&mut self, now: Instant, ip: IpAddr) -> bool {
        let blocked = self
            .sources
            .get(&ip)
            .and_then(|s| s.blocked_until)
            .is_some_and(|until| until > now);
        if blocked {
            self.stats.blocked_messages += 1;
        }
        blocked
    }

    /// May a new request of `kind` from `ip` be handled? False (counted) when its source is
    /// over its rate: drop it unanswered.
    pub fn admit_request(&mut self, now: Instant, ip: IpAddr, kind: Kind) -> bool {
        let rate = match kind {
            Kind::Invite => self.config.invite_per_source,
            Kind::Register => self.config.register_per_source,
            Kind::Options => self.config.options_per_source,
        };
        let Some(rate) = rate else {
            return true;
        };
        if self.trusted(ip) {
            return true;
        }
        let Some(source) = self.source(now, ip) else {
            return true;
        };
        source.seen = now;
        let bucket = match kind {
            Kind::Invite => &mut source.invite,
            Kind::Register => &mut source.register,
            Kind::Options => &mut source.options,
        };
        let ok = bucket
            .get_or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now);
        if !ok {
            self.stats.flood[kind as usize] += 1;
        }
        ok
    }

    /// May a new call be admitted with `active` calls in the system? `Err` (counted): answer
    /// 503 with [`retry_after`](Self::retry_after).
    pub fn admit_call(&mut self, now: Instant, active: usize) -> Result<(), Overload> {
        let refused = if self.stopping {
            Some(Overload::Stopping)
        } else if self.config.max_delay.is_some_and(|d| self.delay > d) {
            Some(Overload::Delay)
        } else if self.config.max_calls.is_some_and(|m| active >= m) {
            Some(Overload::Calls)
        } else if let Some(rate) = self.config.calls_per_second {
            let ok = self
                .calls
                .get_or_insert_with(|| Bucket::full(rate, now))
                .take(rate, now);
            (!ok).then_some(Overload::Rate)
        } else {
            None
        };
        match refused {
            Some(why) => {
                self.stats.overload[why as usize] += 1;
                Err(why)
            }
            None => Ok(()),
        }
    }

    /// The `Retry-After` of an overload 503, in seconds.
    pub const fn retry_after(&self) -> u32 {
        self.config.retry_after
    }

    /// `ip` failed digest authentication; true if that gets it blocked now.
    pub fn auth_failed(&mut self, now: Instant, ip: IpAddr) -> bool {
        let (limit, window, block_for) = (
            self.config.auth_failures,
            self.config.auth_window,
            self.config.block_for,
        );
        if limit == 0 || self.trusted(ip) {
            return false;
        }
        let Some(source) = self.source(now, ip) else {
            return false;
        };
        source.seen = now;
        source
            .failures
            .retain(|&at| now.saturating_duration_since(at) < window);
        source.failures.push(now);
        if source.failures.len() < limit as usize {
            return false;
        }
        source.failures.clear();
        source.blocked_until = now.checked_add(block_for);
        self.stats.blocks += 1;
        true
    }

    /// The record of `ip`, made room for if needed; `None` when the table is full of live
    /// sources (a spoofed flood): the source is then not tracked.
    fn source(&mut self, now: Instant, ip: IpAddr) -> Option<&mut Source> {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.config.max_sources {
            let idle = Duration::from_secs(60);
            self.sources.retain(|_, s| {
                s.blocked_until.is_some_and(|u| u > now)
                    || now.saturating_duration_since(s.seen) < idle
            });
            if self.sources.len() >= self.config.max_sources {
                return None;
            }
        }
        Some(self.sources.entry(ip).or_insert_with(|| Source::new(now)))
    }
}

#[cfg(test)]
mod tests {
    // The tests start their fake clock from the real one.
    #![allow(clippy::disallowed_methods)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut g = Guard::new(GuardConfig {
            options_per_source: Some(Rate {
                per_second: 10,
                burst: 5,
            }),
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let taken = (0..20)
            .filter(|_| g.admit_request(t0, a, Kind::Options))
            .count();
        assert_eq!(taken, 5, "the burst");
        // 10 per second: one more every 100 ms.
        assert!(!g.admit_request(t0 + Duration::from_millis(50), a, Kind::Options));
        assert!(g.admit_request(t0 + Duration::from_millis(150), a, Kind::Options));
        // Another source and another kind are untouched.
        assert!(g.admit_request(t0, ip("192.0.2.2"), Kind::Options));
        assert!(g.admit_request(t0, a, Kind::Register));
        assert_eq!(g.stats().flood, [0, 0, 16]);
    }

    #[test]
    fn trusted_sources_are_never_limited_or_blocked() {
        let mut g = Guard::new(GuardConfig {
            invite_per_source: Some(Rate::per_second(1)),
            auth_failures: 1,
            trusted: vec![ip("10.0.0.1")],
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(g.admit_request(t0, ip("10.0.0.1"), Kind::Invite));
        }
        assert!(!g.auth_failed(t0, ip("10.0.0.1")));
        assert!(!g.is_blocked(t0, ip("10.0.0.1")));
    }

    #[test]
    fn repeated_auth_failures_block_for_a_while() {
        let mut g = Guard::new(GuardConfig {
            auth_failures: 3,
            auth_window: Duration::from_secs(60),
            block_for: Duration::from_secs(600),
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        // Failures spread wider than the window do not add up.
        assert!(!g.auth_failed(t0, a));
        assert!(!g.auth_failed(t0 + Duration::from_secs(61), a));
        assert!(!g.auth_failed(t0 + Duration::from_secs(62), a));
        assert!(g.auth_failed(t0 + Duration::from_secs(63), a));
        let t = t0 + Duration::from_secs(64);
        assert!(g.is_blocked(t, a));
        assert!(!g.is_blocked(t, ip("198.51.100.8")));
        assert_eq!(g.blocked_sources(t), 1);
        assert!(
            !g.is_blocked(t + Duration::from_secs(600), a),
            "blocks expire"
        );
        assert_eq!(g.stats().blocks, 1);
        assert_eq!(g.stats().blocked_messages, 1);
    }

    #[test]
    fn new_calls_are_refused_past_rate_calls_or_delay_and_admitted_again() {
        let mut g = Guard::new(GuardConfig {
            calls_per_second: Some(Rate {
                per_second: 100,
                burst: 10,
            }),
            max_calls: Some(50),
            max_delay: Some(Duration::from_millis(200)),
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let admitted = (0..30).filter(|_| g.admit_call(t0, 0).is_ok()).count();
        assert_eq!(admitted, 10);
        assert_eq!(g.admit_call(t0, 0), Err(Overload::Rate));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(g.admit_call(t1, 50), Err(Overload::Calls));
        assert_eq!(g.admit_call(t1, 49), Ok(()));
        g.note_delay(Duration::from_millis(250));
        assert_eq!(g.admit_call(t1, 0), Err(Overload::Delay));
        g.note_delay(Duration::from_millis(5));
        assert_eq!(g.admit_call(t1, 0), Ok(()));
        g.stop_admitting();
        assert_eq!(g.admit_call(t1, 0), Err(Overload::Stopping));
        assert_eq!(g.stats().overload, [21, 1, 1, 1]);
    }

    #[test]
    fn a_spoofed_flood_cannot_grow_the_table_past_its_bound() {
        let mut g = Guard::new(GuardConfig {
            register_per_source: Some(Rate::per_second(1)),
            max_sources: 100,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let a = IpAddr::from(i.to_be_bytes());
            g.admit_request(t0, a, Kind::Register);
        }
        assert!(g.sources.len() <= 100);
    }
}
