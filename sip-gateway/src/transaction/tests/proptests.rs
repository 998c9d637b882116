//! Random event sequences against every machine: no panic, timers never in the past, bounded
//! retransmissions, and termination within 64*T1 + T4 + 32 s of the last event.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::harness::{ms, msg, Cause, Driver, Machine};
use crate::transaction::{
    Action, ClientInvite, ClientInviteState, ClientNonInvite, ServerInvite, ServerInviteState,
    ServerNonInvite, ServerNonInviteState, TimerConfig,
};

/// An input; machines ignore the kinds that are not theirs.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Client: a response arrived.
    Response(u16),
    /// Server: the TU responds.
    Respond(u16),
    /// Server: the request was retransmitted.
    Retransmission,
    /// Server INVITE: an ACK matched.
    Ack,
}

/// How the clock reaches the next event.
#[derive(Debug, Clone, Copy)]
enum Gap {
    /// A punctual owner: every timer fires at its deadline.
    Punctual(u64),
    /// A late owner: one `handle_timeout` at the event's time.
    Late(u64),
}

trait Fuzz: Machine + Sized {
    /// Applies `ev`; returns whether it could have caused a `Transmit`.
    fn apply(&mut self, now: Instant, ev: Event) -> bool;
    /// The event that ends a state in which the RFC runs no timer (waiting on the TU or on a
    /// final response), if the machine is in one.
    fn closing(&self) -> Option<Event>;
    /// Most timer-driven `Transmit`s one machine may produce with default timers.
    const MAX_TIMER_TRANSMITS: usize;
}

impl Fuzz for ClientInvite {
    fn apply(&mut self, now: Instant, ev: Event) -> bool {
        match ev {
            Event::Response(code) => {
                let _ = self.on_response(now, code, || msg("ACK"));
                true
            }
            _ => false,
        }
    }
    fn closing(&self) -> Option<Event> {
        (self.state() == ClientInviteState::Proceeding).then_some(Event::Response(487))
    }
    // Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    const MAX_TIMER_TRANSMITS: usize = 6;
}

impl Fuzz for ClientNonInvite {
    fn apply(&mut self, now: Instant, ev: Event) -> bool {
        match ev {
            Event::Response(code) => {
                let _ = self.on_response(now, code);
                false
            }
            _ => false,
        }
    }
    fn closing(&self) -> Option<Event> {
        None
    }
    // Timer E: 0.5, 1.5, 3.5, 7.5, 11.5, …, 31.5 s.
    const MAX_TIMER_TRANSMITS: usize = 10;
}

impl Fuzz for ServerInvite {
    fn apply(&mut self, now: Instant, ev: Event) -> bool {
        match ev {
            Event::Respond(code) => self.respond(now, code, msg("response")),
            Event::Retransmission => {
                self.on_retransmission(now);
                true
            }
            Event::Ack => {
                let _ = self.on_ack(now);
                false
            }
            Event::Response(_) => false,
        }
    }
    fn closing(&self) -> Option<Event> {
        (self.state() == ServerInviteState::Proceeding).then_some(Event::Respond(500))
    }
    // Timer G or the 2xx retransmission: 0.5, 1.5, 3.5, 7.5, 11.5, …, 31.5 s.
    const MAX_TIMER_TRANSMITS: usize = 10;
}

impl Fuzz for ServerNonInvite {
    fn apply(&mut self, now: Instant, ev: Event) -> bool {
        match ev {
            Event::Respond(code) => self.respond(now, code, msg("response")),
            Event::Retransmission => {
                self.on_retransmission(now);
                true
            }
            _ => false,
        }
    }
    fn closing(&self) -> Option<Event> {
        matches!(
            self.state(),
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
        )
        .then_some(Event::Respond(200))
    }
    const MAX_TIMER_TRANSMITS: usize = 0;
}

fn code() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(100),
        Just(180),
        Just(183),
        Just(200),
        Just(202),
        Just(302),
        Just(486),
        Just(487),
        Just(503),
        Just(603),
        any::<u16>(),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        code().prop_map(Event::Response),
        code().prop_map(Event::Respond),
        Just(Event::Retransmission),
        Just(Event::Ack),
    ]
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        (0..40_000u64).prop_map(Gap::Punctual),
        (0..40_000u64).prop_map(Gap::Late),
        (0..2_000u64).prop_map(Gap::Punctual),
    ]
}

fn script() -> impl Strategy<Value = Vec<(Gap, Event)>> {
    prop::collection::vec((gap(), event()), 0..24)
}

fn config() -> impl Strategy<Value = TimerConfig> {
    (1..1_000u64, 0..8_000u64, 1..10_000u64).prop_map(|(t1, extra, t4)| TimerConfig {
        t1: ms(t1),
        t2: ms(t1 + extra),
        t4: ms(t4),
    })
}

/// Runs `script`, closes any state the RFC leaves open, and checks the properties. With
/// `strict`, also the retransmission bound that holds for the default timers.
fn check<M: Fuzz>(
    make: impl FnOnce(Instant) -> M,
    config: TimerConfig,
    script: &[(Gap, Event)],
    strict: bool,
) {
    let mut d = Driver::new(make);
    let mut inputs_that_may_send = 0;
    let mut last_event = d.elapsed();
    for &(gap, ev) in script {
        match gap {
            Gap::Punctual(t) => d.run_until(d.elapsed() + ms(t)),
            Gap::Late(t) => d.jump_to(d.elapsed() + ms(t)),
        }
        let (may_send, _) = d.input(|m, now| m.apply(now, ev));
        inputs_that_may_send += usize::from(may_send);
        last_event = d.elapsed();
    }
    if let Some(ev) = d.m.closing() {
        d.input(|m, now| m.apply(now, ev));
        last_event = d.elapsed();
    }
    d.run();

    let d_timer = Duration::from_secs(32).max(config.t1 * 64);
    let bound = config.t1 * 64 + config.t4 + d_timer;
    assert!(
        d.m.is_terminated(),
        "not terminated: {:?}",
        d.m.poll_timeout()
    );
    let ended = d
        .log
        .iter()
        .find(|(_, _, a)| *a == Action::Terminated)
        .map(|(t, _, _)| *t)
        .expect("Terminated logged");
    assert!(
        ended <= last_event + bound,
        "terminated at {ended:?}, last event at {last_event:?}"
    );

    let timer_sends = d.timer_transmits();
    if strict {
        assert!(
            timer_sends <= M::MAX_TIMER_TRANSMITS,
            "{timer_sends} retransmissions"
        );
    } else {
        assert!(timer_sends <= 64, "{timer_sends} retransmissions");
    }
    let input_sends = d
        .log
        .iter()
        .filter(|(_, c, a)| *c == Cause::Input && matches!(a, Action::Transmit(_)))
        .count();
    // One for the request a client sends at construction; at most one per input otherwise.
    assert!(input_sends <= 1 + inputs_that_may_send);

    // Dead machines stay dead.
    for ev in [
        Event::Response(200),
        Event::Respond(200),
        Event::Retransmission,
        Event::Ack,
    ] {
        let (_, out) = d.input(|m, now| m.apply(now, ev));
        assert!(out.is_empty());
    }
}

fn all_machines(config: TimerConfig, reliable: bool, script: &[(Gap, Event)], strict: bool) {
    check(
        |now| ClientInvite::new(now, msg("INVITE"), reliable, config),
        config,
        script,
        strict,
    );
    check(
        |now| ClientNonInvite::new(now, msg("OPTIONS"), reliable, config),
        config,
        script,
        strict,
    );
    check(
        |now| ServerInvite::new(now, reliable, config),
        config,
        script,
        strict,
    );
    check(
        |now| ServerNonInvite::new(now, reliable, config),
        config,
        script,
        strict,
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_events_with_default_timers(reliable in any::<bool>(), script in script()) {
        all_machines(TimerConfig::default(), reliable, &script, true);
    }

    #[test]
    fn random_events_with_random_timers(
        config in config(),
        reliable in any::<bool>(),
        script in script(),
    ) {
        all_machines(config, reliable, &script, false);
    }
}
