//! proptest invariants over random scripts of callers, seats, time and supervisors.

mod harness;

use std::collections::HashMap;

use acd_core::{Strategy as Pick, *};
use harness::*;
use proptest::prelude::{
    any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest, ProptestConfig, Strategy,
    TestCaseError,
};

#[derive(Debug, Clone)]
enum Op {
    Arrive { line: u8, topic: u16, prio: u8 },
    Abandon(usize),
    Answer(usize),
    Fail(usize, u8),
    End(usize),
    Seat(u32, u8),
    Advance(u16),
    Surge(bool),
    Junk(u64, u32, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u16..3, 0u8..2).prop_map(|(line, topic, prio)| Op::Arrive { line, topic, prio }),
        1 => any::<usize>().prop_map(Op::Abandon),
        3 => any::<usize>().prop_map(Op::Answer),
        1 => (any::<usize>(), 0u8..3).prop_map(|(i, w)| Op::Fail(i, w)),
        3 => any::<usize>().prop_map(Op::End),
        2 => (1u32..=6, 0u8..3).prop_map(|(s, r)| Op::Seat(s, r)),
        3 => (0u16..40).prop_map(Op::Advance),
        1 => any::<bool>().prop_map(Op::Surge),
        1 => (0u64..40, 0u32..8, 0u8..3).prop_map(|(c, s, k)| Op::Junk(c, s, k)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Waiting,
    Ringing(u32),
    Talking(u32),
    Gone,
}

#[derive(Debug)]
struct Track {
    group: (u8, u16, u8),
    order: u64,
    st: St,
    left: u32,
}

#[derive(Default)]
struct Model {
    calls: HashMap<u64, Track>,
    holds: HashMap<u32, u64>,
    next: u64,
}

impl Model {
    fn pick(&self, i: usize, want: fn(St) -> bool) -> Option<(u64, St)> {
        let mut ids: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, t)| want(t.st))
            .map(|(&c, t)| (c, t.st))
            .collect();
        ids.sort_unstable_by_key(|x| x.0);
        (!ids.is_empty()).then(|| ids[i % ids.len()])
    }

    fn apply(&mut self, out: &[Output]) -> Result<(), TestCaseError> {
        for o in out {
            match *o {
                Output::Offer { call, seat, .. } => {
                    let t = &self.calls[&call.0];
                    prop_assert_eq!(t.st, St::Waiting, "offered a call that was not waiting");
                    prop_assert!(
                        !self.holds.contains_key(&seat.0),
                        "seat {:?} would hold two calls",
                        seat
                    );
                    let (g, ord) = (t.group, t.order);
                    let older = self
                        .calls
                        .values()
                        .any(|u| u.st == St::Waiting && u.group == g && u.order < ord);
                    prop_assert!(
                        !older,
                        "call {:?} passed an older caller of its queue/topic/priority",
                        call
                    );
                    self.calls.get_mut(&call.0).unwrap().st = St::Ringing(seat.0);
                    self.holds.insert(seat.0, call.0);
                }
                Output::CallLeft { call, why } => {
                    let t = self.calls.get_mut(&call.0).unwrap();
                    t.left += 1;
                    prop_assert_eq!(t.left, 1, "call left twice");
                    match why {
                        LeaveReason::Answered { seat } => {
                            prop_assert_eq!(t.st, St::Ringing(seat.0));
                            t.st = St::Talking(seat.0);
                        }
                        _ => {
                            if let St::Ringing(s) = t.st {
                                self.holds.remove(&s);
                            } else {
                                prop_assert_eq!(t.st, St::Waiting);
                            }
                            t.st = St::Gone;
                        }
                    }
                }
                Output::SeatChanged { seat, state } => match state {
                    SeatState::Offered(c) | SeatState::Talking(c) => {
                        prop_assert_eq!(self.holds.get(&seat.0), Some(&c.0));
                    }
                    _ => prop_assert!(
                        !self.holds.contains_key(&seat.0),
                        "seat {:?} freed while holding",
                        seat
                    ),
                },
                Output::SurgeOpened { .. } | Output::SurgeClosed { .. } => {}
            }
        }
        Ok(())
    }

    fn check(&self, acd: &Acd) -> Result<(), TestCaseError> {
        let c = acd.counters();
        prop_assert_eq!(
            c.offered,
            c.answered + c.abandoned() + c.timed_out + c.waiting + c.ringing
        );
        let count = |f: fn(St) -> bool| self.calls.values().filter(|t| f(t.st)).count() as u64;
        prop_assert_eq!(c.waiting, count(|s| s == St::Waiting));
        prop_assert_eq!(c.ringing, count(|s| matches!(s, St::Ringing(_))));
        prop_assert_eq!(c.offered, self.calls.len() as u64);
        for (&seat, &call) in &self.holds {
            let st = acd.seat_state(SeatId(seat)).unwrap();
            prop_assert!(
                st == SeatState::Offered(CallId(call)) || st == SeatState::Talking(CallId(call))
            );
        }
        Ok(())
    }
}

fn config() -> AcdConfig {
    let mut cfg = platform(3, 2, 1, Pick::LongestIdle);
    cfg.queues[0].max_wait = Some(MaxWait {
        after: secs(90),
        exit: Exit::Callback,
    });
    cfg.pools.push(PoolConfig {
        pool: Pool::Intake,
        wrap_up: secs(5),
    });
    cfg.max_consecutive_misses = 2;
    cfg.surge = SurgeConfig {
        automatic: true,
        longest_wait: Some(secs(20)),
        calls_waiting: Some(4),
        open_after: secs(10),
        close_after: secs(30),
        min_samples: 3,
        ..SurgeConfig::default()
    };
    cfg
}

fn run(ops: Vec<Op>, strategy: Pick) -> Result<(), TestCaseError> {
    let mut cfg = config();
    for q in &mut cfg.queues {
        q.strategy = strategy;
    }
    let mut sim = Sim::new(cfg);
    let mut m = Model::default();
    for op in ops {
        let before = sim.acd.counters();
        let input = match op {
            Op::Arrive { line, topic, prio } => {
                m.next += 1;
                let line = [12345, 12349, 12348][usize::from(line)];
                let queue = u8::from(line == 12348);
                m.calls.insert(
                    m.next,
                    Track {
                        group: (queue, topic, prio),
                        order: m.next,
                        st: St::Waiting,
                        left: 0,
                    },
                );
                Input::CallArrived {
                    call: CallId(m.next),
                    line: Line(line),
                    topic: TopicId(topic),
                    priority: Priority(prio),
                }
            }
            Op::Abandon(i) => match m.pick(i, |s| matches!(s, St::Waiting | St::Ringing(_))) {
                Some((c, _)) => Input::CallAbandoned { call: CallId(c) },
                None => continue,
            },
            Op::Answer(i) => match m.pick(i, |s| matches!(s, St::Ringing(_))) {
                Some((c, St::Ringing(s))) => Input::OfferAnswered {
                    call: CallId(c),
                    seat: SeatId(s),
                },
                _ => continue,
            },
            Op::Fail(i, w) => match m.pick(i, |s| matches!(s, St::Ringing(_))) {
                Some((c, St::Ringing(s))) => {
                    m.holds.remove(&s);
                    m.calls.get_mut(&c).unwrap().st = St::Waiting;
                    let why = [
                        OfferFailure::NoAnswer,
                        OfferFailure::Rejected,
                        OfferFailure::Unreachable,
                    ][usize::from(w)];
                    Input::OfferFailed {
                        call: CallId(c),
                        seat: SeatId(s),
                        why,
                    }
                }
                _ => continue,
            },
            Op::End(i) => match m.pick(i, |s| matches!(s, St::Talking(_))) {
                Some((c, St::Talking(s))) => {
                    m.holds.remove(&s);
                    m.calls.get_mut(&c).unwrap().st = St::Gone;
                    // Some conversations end by a transfer; both free the seat alike.
                    if i % 3 == 0 {
                        Input::CallTransferred { call: CallId(c) }
                    } else {
                        Input::CallEnded { call: CallId(c) }
                    }
                }
                _ => continue,
            },
            Op::Seat(s, r) => {
                let state = [
                    SeatRequest::Ready,
                    SeatRequest::NotReady(NotReadyReason::Break),
                    SeatRequest::LoggedOut,
                ][usize::from(r)];
                Input::SeatState {
                    seat: SeatId(s),
                    state,
                }
            }
            Op::Advance(d) => {
                let out = sim.advance(secs(u64::from(d)));
                m.apply(&out)?;
                m.check(&sim.acd)?;
                continue;
            }
            Op::Surge(open) => Input::SurgeManual { open },
            Op::Junk(c, s, k) => match k {
                _ if m.calls.get(&c).is_some_and(|t| {
                    t.st == St::Ringing(s) || (k == 1 && matches!(t.st, St::Talking(_)))
                }) =>
                {
                    continue
                }
                0 => Input::OfferAnswered {
                    call: CallId(c),
                    seat: SeatId(s),
                },
                1 => Input::CallEnded { call: CallId(c) },
                _ => Input::OfferFailed {
                    call: CallId(c),
                    seat: SeatId(s),
                    why: OfferFailure::Rejected,
                },
            },
        };
        match sim.try_input(input) {
            Ok(out) => m.apply(&out)?,
            Err(_) => {
                prop_assert!(
                    matches!(op, Op::Seat(..) | Op::Junk(..)),
                    "valid input refused: {:?}",
                    op
                );
                prop_assert_eq!(sim.acd.poll_output(), None);
                prop_assert_eq!(sim.acd.counters(), before);
            }
        }
        m.check(&sim.acd)?;
    }
    // Every call ends exactly once: abandon whatever is still waiting or ringing.
    let open: Vec<u64> = m
        .calls
        .iter()
        .filter(|(_, t)| matches!(t.st, St::Waiting | St::Ringing(_)))
        .map(|(&c, _)| c)
        .collect();
    for c in open {
        let out = sim.input(Input::CallAbandoned { call: CallId(c) });
        m.apply(&out)?;
    }
    for (c, t) in &m.calls {
        prop_assert_eq!(t.left, 1, "call {} left {} times", c, t.left);
    }
    m.check(&sim.acd)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_longest_idle(ops in prop::collection::vec(op(), 1..300)) {
        run(ops, Pick::LongestIdle)?;
    }

    #[test]
    fn invariants_hold_weighted_random(ops in prop::collection::vec(op(), 1..300)) {
        run(ops, Pick::WeightedRandom)?;
    }

    #[test]
    fn invariants_hold_round_robin(ops in prop::collection::vec(op(), 1..300)) {
        run(ops, Pick::RoundRobin)?;
    }
}
