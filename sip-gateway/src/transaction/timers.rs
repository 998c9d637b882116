//! Timer base values, timer names and the fixed-size timer table every machine uses.
//!
//! RFC 3261 §17 Table 4 (A–K), RFC 6026 §7.1 and §7.2 (L, M) and the UAS core's 2xx
//! retransmission (§13.3.1.4).

use std::time::{Duration, Instant};

/// The shortest delay a timer is ever armed with. A `TimerConfig` with zero or tiny values
/// would otherwise re-arm a retransmission timer at `now` and `handle_timeout` would never
/// finish; with this floor every re-armed timer lies strictly after the `now` that armed it.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// RFC 3261 §17.1.1.2: Timer D is "at least 32 seconds" for unreliable transports.
const TIMER_D_MIN: Duration = Duration::from_secs(32);

/// RFC 3261 timer base values (Table 4). Default: T1 500 ms, T2 4 s, T4 5 s.
///
/// Values below 1 ms are treated as 1 ms when a timer is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RFC 3261 §17.1.1.1: round-trip time estimate; first retransmission interval.
    pub t1: Duration,
    /// RFC 3261 §17.1.2.2: maximum retransmission interval for non-INVITE requests and
    /// INVITE responses.
    pub t2: Duration,
    /// RFC 3261 §17.1.2.2: maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for TimerConfig {
    /// RFC 3261 Table 4 defaults: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J (unreliable), L and M (RFC 3261 Table 4, RFC 6026 §7.1, §7.2).
    pub(crate) fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D for unreliable transports: at least 32 s (RFC 3261 §17.1.1.2), and never
    /// shorter than the server's 64*T1 retransmission window it exists to absorb.
    pub(crate) fn timer_d(&self) -> Duration {
        TIMER_D_MIN.max(self.t1_x64())
    }

    /// The next interval of a retransmission series that doubles up to T2 (Timers E and G,
    /// §17.1.2.2 and §17.2.1; 2xx retransmission, §13.3.1.4).
    pub(crate) fn double_capped(&self, interval: Duration) -> Duration {
        interval.saturating_mul(2).min(self.t2)
    }
}

/// Timers named as in RFC 3261 §17 (A–K) and RFC 6026 (L, M), plus `Retransmit2xx` for the UAS
/// core's 2xx retransmission (§13.3.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerName {
    /// RFC 3261 §17.1.1.2: INVITE request retransmission (unreliable only), T1 doubling.
    A,
    /// RFC 3261 §17.1.1.2: INVITE client transaction timeout, 64*T1.
    B,
    /// RFC 3261 §17.1.1.2: wait for response retransmissions after a non-2xx final.
    D,
    /// RFC 3261 §17.1.2.2: non-INVITE request retransmission (unreliable only).
    E,
    /// RFC 3261 §17.1.2.2: non-INVITE client transaction timeout, 64*T1.
    F,
    /// RFC 3261 §17.2.1: non-2xx final response retransmission (unreliable only).
    G,
    /// RFC 3261 §17.2.1: wait for the ACK of a non-2xx final, 64*T1.
    H,
    /// RFC 3261 §17.2.1: absorb ACK retransmissions, T4 (unreliable only).
    I,
    /// RFC 3261 §17.2.2: absorb non-INVITE request retransmissions, 64*T1 (unreliable only).
    J,
    /// RFC 3261 §17.1.2.2: absorb non-INVITE response retransmissions, T4 (unreliable only).
    K,
    /// RFC 6026 §7.1: INVITE server transaction lingers in Accepted, 64*T1.
    L,
    /// RFC 6026 §7.2: INVITE client transaction lingers in Accepted, 64*T1.
    M,
    /// RFC 3261 §13.3.1.4: the UAS core retransmits its 2xx, T1 doubling up to T2, until ACK.
    Retransmit2xx,
}

impl TimerName {
    /// Number of timers; the size of the timer table.
    const COUNT: usize = 13;

    /// Every timer in table order (ties between equal deadlines fire in this order).
    const ALL: [Self; Self::COUNT] = [
        Self::A,
        Self::B,
        Self::D,
        Self::E,
        Self::F,
        Self::G,
        Self::H,
        Self::I,
        Self::J,
        Self::K,
        Self::L,
        Self::M,
        Self::Retransmit2xx,
    ];

    const fn index(self) -> usize {
        self as usize
    }
}

/// A fixed-size timer table: one optional deadline per [`TimerName`], no heap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers {
    at: [Option<Instant>; TimerName::COUNT],
}

impl Timers {
    /// Arms (or re-arms) `name` to fire `after` from `now`. A deadline that does not fit in an
    /// `Instant` leaves the timer disarmed: it would never fire anyway.
    pub(crate) fn arm(&mut self, name: TimerName, now: Instant, after: Duration) {
        self.at[name.index()] = now.checked_add(after.max(MIN_DELAY));
    }

    /// Stops `name`.
    pub(crate) fn cancel(&mut self, name: TimerName) {
        self.at[name.index()] = None;
    }

    /// Stops every timer.
    pub(crate) fn cancel_all(&mut self) {
        self.at = [None; TimerName::COUNT];
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at or before `now` (ties in table order).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerName> {
        let mut best: Option<(Instant, TimerName)> = None;
        for name in TimerName::ALL {
            if let Some(at) = self.at[name.index()] {
                if at <= now && best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, name));
                }
            }
        }
        let (_, name) = best?;
        self.cancel(name);
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_discriminants() {
        for (i, name) in TimerName::ALL.iter().enumerate() {
            assert_eq!(name.index(), i);
        }
    }

    #[test]
    fn pop_due_in_deadline_order_then_table_order() {
        let t0 = crate::transaction::tests::start();
        let mut timers = Timers::default();
        timers.arm(TimerName::B, t0, Duration::from_secs(2));
        timers.arm(TimerName::A, t0, Duration::from_secs(2));
        timers.arm(TimerName::D, t0, Duration::from_secs(1));
        timers.arm(TimerName::M, t0, Duration::from_secs(9));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        let now = t0 + Duration::from_secs(5);
        assert_eq!(timers.pop_due(now), Some(TimerName::D));
        assert_eq!(timers.pop_due(now), Some(TimerName::A));
        assert_eq!(timers.pop_due(now), Some(TimerName::B));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(9)));
    }

    #[test]
    fn zero_delay_is_floored() {
        let t0 = crate::transaction::tests::start();
        let mut timers = Timers::default();
        timers.arm(TimerName::E, t0, Duration::ZERO);
        assert!(timers.next().is_some_and(|at| at > t0));
        assert_eq!(timers.pop_due(t0), None);
    }

    #[test]
    fn double_capped_stops_at_t2() {
        let c = TimerConfig::default();
        let mut i = c.t1;
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(i.as_millis());
            i = c.double_capped(i);
        }
        assert_eq!(seen, [500, 1000, 2000, 4000, 4000, 4000]);
    }
}
