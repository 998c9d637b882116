//! A fake clock and a quinn-`Pair`-like driver: jump the clock to `poll_timeout()`, fire, collect
//! what the machine asked for, with the time it asked.

// Tests start their fake clock from the real one, once.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::transaction::{
    Action, ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TimerConfig,
};

/// The one real instant the tests need: every other instant is `start() + Duration`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn start() -> Instant {
    Instant::now()
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn msg(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

pub(crate) fn tx(s: &'static str) -> Action {
    Action::Transmit(msg(s))
}

pub(crate) fn udp() -> TimerConfig {
    TimerConfig::default()
}

/// The part of the driving contract every machine shares.
pub(crate) trait Machine {
    fn poll_action(&mut self) -> Option<Action>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn is_terminated(&self) -> bool;
}

macro_rules! machine {
    ($($t:ty),*) => {$(
        impl Machine for $t {
            fn poll_action(&mut self) -> Option<Action> {
                self.poll_action()
            }
            fn poll_timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }
            fn handle_timeout(&mut self, now: Instant) {
                self.handle_timeout(now)
            }
            fn is_terminated(&self) -> bool {
                self.is_terminated()
            }
        }
    )*};
}
machine!(ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite);

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Input,
    Timer,
}

/// One machine on a fake clock, with everything it asked for.
#[derive(Debug)]
pub(crate) struct Driver<M> {
    pub(crate) m: M,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    /// Every action, with its time since `start` and its cause, in order.
    pub(crate) log: Vec<(Duration, Cause, Action)>,
}

impl<M: Machine> Driver<M> {
    /// Builds the machine at `start` (via `make`) and drains what construction queued.
    pub(crate) fn new(make: impl FnOnce(Instant) -> M) -> Self {
        let start = start();
        let mut this = Self {
            m: make(start),
            start,
            now: start,
            log: Vec::new(),
        };
        this.drain(Cause::Input);
        this
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Drains the machine's actions into the log and returns them.
    pub(crate) fn drain(&mut self, cause: Cause) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.m.poll_action() {
            assert!(
                !self.log.iter().any(|(_, _, a)| *a == Action::Terminated),
                "action {a:?} after Terminated"
            );
            self.log.push((self.elapsed(), cause, a.clone()));
            out.push(a);
        }
        assert_eq!(
            self.m.is_terminated(),
            self.terminated_logged(),
            "is_terminated() disagrees with the Terminated action"
        );
        if self.m.is_terminated() {
            assert_eq!(self.m.poll_timeout(), None, "timer armed after Terminated");
        }
        out
    }

    fn terminated_logged(&self) -> bool {
        self.log.iter().any(|(_, _, a)| *a == Action::Terminated)
    }

    /// Feeds one input at the current time; returns its result and the actions it caused.
    pub(crate) fn input<R>(&mut self, f: impl FnOnce(&mut M, Instant) -> R) -> (R, Vec<Action>) {
        let r = f(&mut self.m, self.now);
        self.assert_future();
        (r, self.drain(Cause::Input))
    }

    /// Jumps the clock to the next timer and fires it. False if no timer is armed.
    pub(crate) fn step(&mut self) -> bool {
        let Some(at) = self.m.poll_timeout() else {
            return false;
        };
        assert!(
            at >= self.now,
            "poll_timeout in the past before handle_timeout"
        );
        self.now = at;
        self.fire();
        true
    }

    fn fire(&mut self) {
        self.m.handle_timeout(self.now);
        self.assert_future();
        self.drain(Cause::Timer);
    }

    fn assert_future(&self) {
        if let Some(at) = self.m.poll_timeout() {
            assert!(at > self.now, "poll_timeout() is in the past or now");
        }
    }

    /// Runs every timer due up to `start + t` at its own deadline, then sets the clock there.
    pub(crate) fn run_until(&mut self, t: Duration) {
        let until = self.start + t;
        while self.m.poll_timeout().is_some_and(|at| at <= until) {
            self.step();
        }
        self.now = until;
    }

    /// Moves the clock to `start + t` in one jump, as a late owner would, and fires what is
    /// due once.
    pub(crate) fn jump_to(&mut self, t: Duration) {
        self.now = self.start + t;
        if self.m.poll_timeout().is_some_and(|at| at <= self.now) {
            self.fire();
        }
    }

    /// Steps until no timer is armed (bounded).
    pub(crate) fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("timers never stop");
    }

    /// Times of every `Transmit` carrying exactly `bytes`.
    pub(crate) fn sent(&self, bytes: &'static str) -> Vec<Duration> {
        let want = tx(bytes);
        self.log
            .iter()
            .filter(|(_, _, a)| *a == want)
            .map(|(t, _, _)| *t)
            .collect()
    }

    /// Every action that is not a `Transmit`, with its time.
    pub(crate) fn events(&self) -> Vec<(Duration, Action)> {
        self.log
            .iter()
            .filter(|(_, _, a)| !matches!(a, Action::Transmit(_)))
            .map(|(t, _, a)| (*t, a.clone()))
            .collect()
    }

    /// Number of `Transmit`s caused by timers.
    pub(crate) fn timer_transmits(&self) -> usize {
        self.log
            .iter()
            .filter(|(_, c, a)| *c == Cause::Timer && matches!(a, Action::Transmit(_)))
            .count()
    }
}
