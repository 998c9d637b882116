//! Failed attempts per client address: after [`MAX_FAILURES`] within [`WINDOW`] the address
//! is refused (429) for [`BLOCK`], whatever it sends, so tokens cannot be guessed at speed.
//!
//! Pure: the caller passes `now` (the HTTP shell passes `Instant::now()`); tests jump it.
//! Memory is bounded: at most [`MAX_TRACKED`] addresses are kept; past that, addresses with
//! nothing current are forgotten first, then the least recently seen.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures within [`WINDOW`] that block an address.
pub const MAX_FAILURES: usize = 10;
/// The window failures are counted over (sliding).
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long a blocked address is refused.
pub const BLOCK: Duration = Duration::from_secs(300);
/// Addresses tracked at most.
pub const MAX_TRACKED: usize = 10_000;

/// Whether a request from an address may be looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go on.
    Open,
    /// Refuse with 429 and `Retry-After: retry_after` (whole seconds, rounded up).
    Blocked {
        /// Until the block ends.
        retry_after: Duration,
        /// The first refusal of this block (the one the audit ledger records).
        first: bool,
    },
}

#[derive(Debug, Default)]
struct Client {
    /// Failures within the window, oldest first (at most [`MAX_FAILURES`]).
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// A refusal of the current block has been reported.
    reported: bool,
    last_seen: Option<Instant>,
}

impl Client {
    fn current(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|t| t > now)
            || self
                .failures
                .back()
                .is_some_and(|&t| now.saturating_duration_since(t) < WINDOW)
    }
}

/// The failure counts of every address seen failing recently.
#[derive(Debug)]
pub struct FailureLimiter {
    clients: HashMap<IpAddr, Client>,
    max_failures: usize,
    window: Duration,
    block: Duration,
    max_tracked: usize,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(MAX_FAILURES, WINDOW, BLOCK, MAX_TRACKED)
    }
}

impl FailureLimiter {
    /// A limiter that blocks an address for `block` after `max_failures` failures within
    /// `window`, tracking at most `max_tracked` addresses.
    pub fn new(max_failures: usize, window: Duration, block: Duration, max_tracked: usize) -> Self {
        Self {
            clients: HashMap::new(),
            max_failures: max_failures.max(1),
            window,
            block,
            max_tracked: max_tracked.max(1),
        }
    }

    /// Whether a request from `ip` at `now` is looked at or refused.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Admission {
        let Some(client) = self.clients.get_mut(&ip) else {
            return Admission::Open;
        };
        match client.blocked_until {
            Some(until) if until > now => {
                let first = !client.reported;
                client.reported = true;
                client.last_seen = Some(now);
                Admission::Blocked {
                    retry_after: until - now,
                    first,
                }
            }
            Some(_) => {
                client.blocked_until = None;
                client.reported = false;
                Admission::Open
            }
            None => Admission::Open,
        }
    }

    /// A failed attempt from `ip` at `now`; true if it starts a block.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.clients.contains_key(&ip) && self.clients.len() >= self.max_tracked {
            self.make_room(now);
        }
        let window = self.window;
        let client = self.clients.entry(ip).or_default();
        client.last_seen = Some(now);
        while client
            .failures
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= window)
        {
            client.failures.pop_front();
        }
        client.failures.push_back(now);
        if client.failures.len() >= self.max_failures {
            client.failures.clear();
            client.blocked_until = Some(now + self.block);
            client.reported = false;
            return true;
        }
        false
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }

    /// Forget addresses with nothing current; if every one is current, the least recently
    /// seen (an attacker rotating addresses can then shorten someone's block, but memory
    /// stays bounded).
    fn make_room(&mut self, now: Instant) {
        self.clients.retain(|_, c| c.current(now));
        if self.clients.len() >= self.max_tracked {
            if let Some(oldest) = self
                .clients
                .iter()
                .min_by_key(|(_, c)| c.last_seen)
                .map(|(ip, _)| *ip)
            {
                self.clients.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_tenth_failure_within_a_minute_blocks_for_five_minutes() {
        let mut l = FailureLimiter::default();
        let t0 = Instant::now();
        for i in 0..9 {
            assert!(!l.failed(A, t0 + secs(i)), "failure {i}");
            assert_eq!(l.admit(A, t0 + secs(i)), Admission::Open);
        }
        assert!(l.failed(A, t0 + secs(9)));
        assert_eq!(
            l.admit(A, t0 + secs(10)),
            Admission::Blocked {
                retry_after: secs(299),
                first: true
            }
        );
        assert_eq!(
            l.admit(A, t0 + secs(100)),
            Admission::Blocked {
                retry_after: secs(209),
                first: false
            }
        );
        // Another address is not affected.
        assert_eq!(l.admit(B, t0 + secs(100)), Admission::Open);
        // The block ends; counting starts afresh.
        assert_eq!(l.admit(A, t0 + secs(309)), Admission::Open);
        assert!(!l.failed(A, t0 + secs(310)));
        assert_eq!(l.admit(A, t0 + secs(310)), Admission::Open);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut l = FailureLimiter::default();
        let t0 = Instant::now();
        // Nine failures, then a pause of a minute, then nine more: never ten within 60 s.
        for i in 0..9 {
            assert!(!l.failed(A, t0 + secs(i)));
        }
        for i in 0..9 {
            assert!(!l.failed(A, t0 + secs(70 + i)));
        }
        assert_eq!(l.admit(A, t0 + secs(80)), Admission::Open);
        // A sliding window: the tenth within 60 s of the first of these nine blocks.
        assert!(l.failed(A, t0 + secs(125)));
    }

    #[test]
    fn a_new_block_is_reported_again() {
        let mut l = FailureLimiter::new(2, secs(60), secs(10), 100);
        let t0 = Instant::now();
        l.failed(A, t0);
        assert!(l.failed(A, t0));
        assert!(matches!(
            l.admit(A, t0),
            Admission::Blocked { first: true, .. }
        ));
        assert!(matches!(
            l.admit(A, t0),
            Admission::Blocked { first: false, .. }
        ));
        assert_eq!(l.admit(A, t0 + secs(10)), Admission::Open);
        l.failed(A, t0 + secs(11));
        assert!(l.failed(A, t0 + secs(11)));
        assert!(matches!(
            l.admit(A, t0 + secs(11)),
            Admission::Blocked { first: true, .. }
        ));
    }

    #[test]
    fn memory_is_bounded_and_stale_addresses_go_first() {
        let mut l = FailureLimiter::new(3, secs(60), secs(300), 4);
        let t0 = Instant::now();
        let ip = |n: u8| IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, n));
        // Address 1 gets itself blocked; 2..4 fail once, long ago.
        for _ in 0..3 {
            l.failed(ip(1), t0);
        }
        for n in 2..=4 {
            l.failed(ip(n), t0);
        }
        assert_eq!(l.tracked(), 4);
        // Two minutes on, a fifth address: the stale ones are forgotten, the block stays.
        l.failed(ip(5), t0 + secs(120));
        assert_eq!(l.tracked(), 2);
        assert!(matches!(
            l.admit(ip(1), t0 + secs(120)),
            Admission::Blocked { .. }
        ));
        // Everything current: the least recently seen is dropped, never more than the bound.
        for n in 6..=20 {
            l.failed(ip(n), t0 + secs(120 + u64::from(n)));
            assert!(l.tracked() <= 4);
        }
    }
}
