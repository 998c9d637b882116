//! Deterministic scenarios on a fake clock.

mod harness;

use acd_core::*;
use harness::*;

/// Answers and immediately ends a call at a seat, leaving the seat Ready (no wrap-up).
fn serve(sim: &mut Sim, call: u64, seat: u32) {
    sim.answer(call, seat);
    sim.end(call);
}

#[test]
fn longest_idle_picks_the_longest_idle_seat() {
    let mut sim = Sim::new(platform(3, 0, 0, Strategy::LongestIdle));
    sim.ready(2);
    sim.advance(secs(1));
    sim.ready(3);
    sim.advance(secs(1));
    sim.ready(1);
    let out = sim.arrive(10, 12345, 0, 0);
    assert_eq!(one_offer(&out), (10, 2));
    let out = sim.arrive(11, 12345, 0, 0);
    assert_eq!(one_offer(&out), (11, 3));
}

#[test]
fn fewest_calls_picks_the_seat_with_fewest_answered() {
    let mut sim = Sim::new(platform(3, 0, 0, Strategy::FewestCalls));
    sim.ready(1);
    for call in 1..=2 {
        assert_eq!(one_offer(&sim.arrive(call, 12345, 0, 0)), (call, 1));
        serve(&mut sim, call, 1);
    }
    sim.ready(2);
    assert_eq!(one_offer(&sim.arrive(3, 12345, 0, 0)), (3, 2));
    serve(&mut sim, 3, 2);
    sim.advance(secs(5));
    sim.ready(3);
    // Seat 3 was readied last (shortest idle) but has answered nothing.
    assert_eq!(one_offer(&sim.arrive(4, 12345, 0, 0)), (4, 3));
    serve(&mut sim, 4, 3);
    // Now 2 and 3 tie at one call; 2 has been idle longer.
    assert_eq!(one_offer(&sim.arrive(5, 12345, 0, 0)), (5, 2));
}

#[test]
fn least_talk_time_picks_the_seat_with_least_talk() {
    let mut sim = Sim::new(platform(2, 0, 0, Strategy::LeastTalkTime));
    sim.ready(1);
    sim.ready(2);
    assert_eq!(one_offer(&sim.arrive(1, 12345, 0, 0)), (1, 1));
    assert_eq!(one_offer(&sim.arrive(2, 12345, 0, 0)), (2, 2));
    sim.answer(1, 1);
    sim.answer(2, 2);
    sim.advance(secs(10));
    sim.end(2); // seat 2 talked 10 s
    sim.advance(secs(50));
    sim.end(1); // seat 1 talked 60 s, and is idle for less time
    assert_eq!(one_offer(&sim.arrive(3, 12345, 0, 0)), (3, 2));
    serve(&mut sim, 3, 2);
    assert_eq!(one_offer(&sim.arrive(4, 12345, 0, 0)), (4, 2));
}

#[test]
fn round_robin_cycles_in_configuration_order() {
    let mut sim = Sim::new(platform(4, 0, 0, Strategy::RoundRobin));
    for seat in [3, 1, 4, 2] {
        sim.ready(seat);
        sim.advance(secs(1));
    }
    let mut order = Vec::new();
    for call in 1..=6 {
        let (_, seat) = one_offer(&sim.arrive(call, 12345, 0, 0));
        order.push(seat);
        serve(&mut sim, call, seat);
    }
    assert_eq!(order, [1, 2, 3, 4, 1, 2]);
}

fn weighted_run(seed: u64) -> Vec<u32> {
    let mut cfg = platform(3, 0, 0, Strategy::WeightedRandom);
    cfg.seed = seed;
    cfg.seats[0].weight = 1;
    cfg.seats[1].weight = 3;
    cfg.seats[2].weight = 6;
    let mut sim = Sim::new(cfg);
    for seat in 1..=3 {
        sim.ready(seat);
    }
    (1..=5000)
        .map(|call| {
            let (_, seat) = one_offer(&sim.arrive(call, 12345, 0, 0));
            serve(&mut sim, call, seat);
            seat
        })
        .collect()
}

#[test]
fn weighted_random_follows_weights_and_is_deterministic() {
    let picks = weighted_run(42);
    assert_eq!(picks, weighted_run(42), "same seed, same picks");
    assert_ne!(picks, weighted_run(43), "another seed, other picks");
    let share = |s: u32| picks.iter().filter(|&&p| p == s).count() as f64 / picks.len() as f64;
    assert!((share(1) - 0.1).abs() < 0.03, "seat 1 share {}", share(1));
    assert!((share(2) - 0.3).abs() < 0.03, "seat 2 share {}", share(2));
    assert!((share(3) - 0.6).abs() < 0.03, "seat 3 share {}", share(3));
}

#[test]
fn across_queues_the_longest_waiting_caller_of_equal_priority_goes_first() {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    // 12349 gets its own queue, also served by intake.
    cfg.queues[0].lines = vec![Line(12345)];
    cfg.queues.push(queue(
        "12349",
        &[12349],
        Strategy::LongestIdle,
        vec![tier(&[Pool::Intake], None, 0)],
    ));
    let mut sim = Sim::new(cfg);
    sim.arrive(1, 12349, 1, 0);
    sim.advance(secs(1));
    sim.arrive(2, 12345, 0, 0);
    sim.advance(secs(1));
    sim.arrive(3, 12349, 1, 0);
    sim.advance(secs(1));
    sim.arrive(4, 12345, 0, 1); // more urgent, arrived last
    let mut served = Vec::new();
    let mut out = sim.ready(1);
    for _ in 0..4 {
        let (call, seat) = one_offer(&out);
        served.push(call);
        sim.answer(call, seat);
        out = sim.end(call);
    }
    assert_eq!(served, [4, 1, 2, 3]);
}

#[test]
fn legal_calls_wait_for_experts_then_widen_to_intake() {
    let mut sim = Sim::new(platform(1, 1, 0, Strategy::LongestIdle));
    sim.ready(1); // intake, idle longest
    sim.advance(secs(5));
    sim.ready(2); // legal expert
                  // Expert tier is preferred even though the intake seat has been idle longer.
    assert_eq!(one_offer(&sim.arrive(1, 12348, 2, 0)), (1, 2));
    sim.answer(1, 2);
    // The expert is busy: the next legal call waits, intake stays idle.
    assert!(offers(&sim.arrive(2, 12348, 2, 0)).is_empty());
    assert!(offers(&sim.advance(secs(29))).is_empty());
    let out = sim.advance(secs(1));
    assert_eq!(one_offer(&out), (2, 1));
    assert_eq!(sim.elapsed(), secs(35));
}

#[test]
fn higher_skill_level_wins_before_strategy() {
    let mut cfg = platform(0, 2, 0, Strategy::LongestIdle);
    cfg.seats[1].skills[0].level = 9;
    let mut sim = Sim::new(cfg);
    sim.ready(1); // level 7, idle longest
    sim.advance(secs(10));
    sim.ready(2); // level 9
    assert_eq!(one_offer(&sim.arrive(1, 12348, 2, 0)), (1, 2));
}

fn surge_config() -> AcdConfig {
    let mut cfg = platform(1, 0, 2, Strategy::LongestIdle);
    cfg.surge = SurgeConfig {
        automatic: true,
        longest_wait: Some(secs(60)),
        calls_waiting: None,
        answer_rate_below_permille: None,
        open_after: secs(40),
        close_after: secs(300),
        ..SurgeConfig::default()
    };
    cfg
}

#[test]
fn surge_opens_after_sustained_falling_behind_and_closes_after_calm() {
    let mut sim = Sim::new(surge_config());
    sim.ready(2); // surge seat, not used while closed
    sim.ready(3);
    let mut out = sim.arrive(1, 12345, 0, 0);
    out.extend(sim.arrive(2, 12345, 0, 0));
    assert!(offers(&out).is_empty(), "surge seats closed");
    // Behind from 60 s (longest wait), sustained for 40 s → open at 100 s.
    let out = sim.advance(secs(99));
    assert!(!out.iter().any(|o| matches!(o, Output::SurgeOpened { .. })));
    let out = sim.advance(secs(1));
    assert!(out.contains(&Output::SurgeOpened {
        reason: SurgeReason::LongestWait(secs(100))
    }));
    assert_eq!(sim.elapsed(), secs(100));
    assert_eq!(offers(&out), [(1, 2), (2, 3)]);
    assert!(sim.acd.surge_open());
    serve(&mut sim, 1, 2);
    serve(&mut sim, 2, 3);
    // Calm for 300 s → close.
    let out = sim.advance(secs(299));
    assert!(!out.iter().any(|o| matches!(o, Output::SurgeClosed { .. })));
    let out = sim.advance(secs(2));
    assert!(out.contains(&Output::SurgeClosed {
        reason: SurgeReason::Calm
    }));
    assert!(!sim.acd.surge_open());
    assert!(offers(&sim.arrive(3, 12345, 0, 0)).is_empty());
}

#[test]
fn surge_does_not_open_when_behind_is_not_sustained() {
    let mut sim = Sim::new(surge_config());
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(80)); // behind since 60 s
    let out = sim.ready(1); // served at 80 s: calm again
    assert_eq!(one_offer(&out), (1, 1));
    let out = sim.advance(secs(100));
    assert!(!out.iter().any(|o| matches!(o, Output::SurgeOpened { .. })));
}

#[test]
fn surge_opens_on_low_answer_rate() {
    let mut cfg = surge_config();
    cfg.surge.longest_wait = None;
    cfg.surge.answer_rate_below_permille = Some(800);
    cfg.surge.min_samples = 4;
    let mut sim = Sim::new(cfg);
    for call in 1..=4 {
        sim.arrive(call, 12345, 0, 0);
    }
    sim.advance(secs(20));
    for call in 1..=4 {
        sim.input(Input::CallAbandoned { call: CallId(call) }); // long abandons
    }
    sim.arrive(5, 12345, 0, 0);
    let out = sim.advance(secs(41));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SurgeOpened {
            reason: SurgeReason::AnswerRate { permille: 0 }
        }
    )));
}

#[test]
fn supervisor_opens_and_closes_surge_by_hand() {
    let mut sim = Sim::new(surge_config());
    sim.ready(2);
    sim.arrive(1, 12345, 0, 0);
    let out = sim.input(Input::SurgeManual { open: true });
    assert_eq!(
        out[0],
        Output::SurgeOpened {
            reason: SurgeReason::Manual
        }
    );
    assert_eq!(offers(&out), [(1, 2)]);
    serve(&mut sim, 1, 2);
    // A manual open is not closed by calm.
    assert!(sim.advance(secs(1000)).is_empty());
    assert!(sim.acd.surge_open());
    let out = sim.input(Input::SurgeManual { open: false });
    assert_eq!(
        out,
        [Output::SurgeClosed {
            reason: SurgeReason::Manual
        }]
    );
    assert!(sim.input(Input::SurgeManual { open: false }).is_empty());
}

#[test]
fn ring_no_answer_returns_call_to_head_with_original_wait() {
    let mut cfg = platform(2, 0, 0, Strategy::LongestIdle);
    cfg.max_consecutive_misses = 1;
    cfg.queues[0].max_wait = Some(MaxWait {
        after: secs(60),
        exit: Exit::Voicemail,
    });
    let mut sim = Sim::new(cfg);
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(10));
    sim.arrive(2, 12345, 0, 0);
    sim.advance(secs(40));
    assert_eq!(one_offer(&sim.ready(1)), (1, 1));
    sim.advance(secs(5));
    let out = sim.fail(1, 1, OfferFailure::NoAnswer);
    assert!(
        offers(&out).is_empty(),
        "seat 1 went NotReady after one miss"
    );
    // Call 1 is back at the head, ahead of call 2.
    assert_eq!(one_offer(&sim.ready(2)), (1, 2));
    sim.fail(1, 2, OfferFailure::NoAnswer);
    // Original wait kept: call 1 times out 60 s after it first arrived, call 2 at 70 s.
    let out = sim.advance(secs(5));
    assert_eq!(
        out,
        [Output::CallLeft {
            call: CallId(1),
            why: LeaveReason::TimedOut {
                exit: Exit::Voicemail
            }
        }]
    );
    assert_eq!(sim.elapsed(), secs(60));
    assert_eq!(sim.acd.counters().waiting, 1);
}

#[test]
fn failed_offer_goes_back_ahead_of_later_callers() {
    let mut sim = Sim::new(platform(2, 0, 0, Strategy::LongestIdle));
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(1));
    sim.arrive(2, 12345, 0, 0);
    assert_eq!(one_offer(&sim.ready(1)), (1, 1));
    sim.input(Input::SeatState {
        seat: SeatId(2),
        state: SeatRequest::NotReady(NotReadyReason::Break),
    });
    let out = sim.fail(1, 1, OfferFailure::Unreachable);
    assert_eq!(
        one_offer(&out),
        (1, 1),
        "call 1 keeps its place ahead of call 2"
    );
}

#[test]
fn timed_out_while_ringing_leaves_when_returned() {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    cfg.queues[0].max_wait = Some(MaxWait {
        after: secs(60),
        exit: Exit::Callback,
    });
    let mut sim = Sim::new(cfg);
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(55));
    assert_eq!(one_offer(&sim.ready(1)), (1, 1));
    sim.advance(secs(10));
    let out = sim.fail(1, 1, OfferFailure::NoAnswer);
    assert!(out.contains(&Output::CallLeft {
        call: CallId(1),
        why: LeaveReason::TimedOut {
            exit: Exit::Callback
        }
    }));
    assert_eq!(sim.acd.counters().timed_out, 1);
}

#[test]
fn consecutive_misses_put_the_seat_not_ready() {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    cfg.max_consecutive_misses = 3;
    let mut sim = Sim::new(cfg);
    sim.ready(1);
    sim.arrive(1, 12345, 0, 0);
    sim.fail(1, 1, OfferFailure::NoAnswer);
    sim.fail(1, 1, OfferFailure::Rejected);
    let out = sim.fail(1, 1, OfferFailure::NoAnswer);
    assert!(offers(&out).is_empty());
    let not_ready = SeatState::NotReady {
        reason: NotReadyReason::MissedOffers { count: 3 },
    };
    assert!(out.contains(&Output::SeatChanged {
        seat: SeatId(1),
        state: not_ready
    }));
    assert_eq!(sim.acd.seat_state(SeatId(1)), Some(not_ready));
    // Back to Ready: the count starts over and the waiting call is offered.
    assert_eq!(one_offer(&sim.ready(1)), (1, 1));
    sim.answer(1, 1);
}

#[test]
fn abandons_are_classed_short_or_long() {
    let mut sim = Sim::new(platform(1, 0, 0, Strategy::LongestIdle));
    sim.arrive(1, 12345, 0, 0);
    sim.arrive(2, 12345, 0, 0);
    sim.advance(secs(3));
    let out = sim.input(Input::CallAbandoned { call: CallId(1) });
    assert_eq!(
        out,
        [Output::CallLeft {
            call: CallId(1),
            why: LeaveReason::Abandoned { short: true }
        }]
    );
    sim.advance(secs(10));
    let out = sim.input(Input::CallAbandoned { call: CallId(2) });
    assert_eq!(
        out,
        [Output::CallLeft {
            call: CallId(2),
            why: LeaveReason::Abandoned { short: false }
        }]
    );
    let c = sim.acd.counters();
    assert_eq!((c.abandoned_short, c.abandoned_long, c.waiting), (1, 1, 0));
}

#[test]
fn abandon_while_ringing_frees_the_seat() {
    let mut sim = Sim::new(platform(1, 0, 0, Strategy::LongestIdle));
    sim.ready(1);
    sim.arrive(1, 12345, 0, 0);
    sim.arrive(2, 12345, 0, 0);
    let out = sim.input(Input::CallAbandoned { call: CallId(1) });
    assert_eq!(one_offer(&out), (2, 1));
}

#[test]
fn max_wait_takes_the_configured_exit() {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    cfg.queues[0].max_wait = Some(MaxWait {
        after: secs(120),
        exit: Exit::Transfer(Line(12333)),
    });
    let mut sim = Sim::new(cfg);
    sim.arrive(1, 12345, 0, 0);
    assert!(sim.advance(secs(119)).is_empty());
    let out = sim.advance(secs(1));
    assert_eq!(
        out,
        [Output::CallLeft {
            call: CallId(1),
            why: LeaveReason::TimedOut {
                exit: Exit::Transfer(Line(12333))
            }
        }]
    );
}

#[test]
fn wrap_up_per_pool_and_per_seat_override() {
    let mut cfg = platform(2, 0, 0, Strategy::LongestIdle);
    cfg.pools.push(PoolConfig {
        pool: Pool::Intake,
        wrap_up: secs(30),
    });
    cfg.seats[1].wrap_up = Some(secs(5));
    let mut sim = Sim::new(cfg);
    sim.ready(1);
    sim.ready(2);
    sim.arrive(1, 12345, 0, 0);
    sim.arrive(2, 12345, 0, 0);
    sim.answer(1, 1);
    sim.answer(2, 2);
    sim.end(1);
    sim.end(2);
    sim.arrive(3, 12345, 0, 0);
    let out = sim.advance(secs(5));
    assert_eq!(one_offer(&out), (3, 2));
    let out = sim.advance(secs(25));
    assert!(out.contains(&Output::SeatChanged {
        seat: SeatId(1),
        state: SeatState::Ready
    }));
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let mut sim = Sim::new(platform(1, 0, 0, Strategy::LongestIdle));
    sim.ready(1);
    let before = sim.acd.counters();
    let bad = [
        (
            Input::SeatState {
                seat: SeatId(99),
                state: SeatRequest::Ready,
            },
            AcdError::UnknownSeat(SeatId(99)),
        ),
        (
            Input::SeatState {
                seat: SeatId(1),
                state: SeatRequest::Ready,
            },
            AcdError::AlreadyReady(SeatId(1)),
        ),
        (
            Input::OfferAnswered {
                call: CallId(5),
                seat: SeatId(1),
            },
            AcdError::UnknownCall(CallId(5)),
        ),
        (
            Input::CallArrived {
                call: CallId(1),
                line: Line(110),
                topic: TopicId(0),
                priority: Priority(0),
            },
            AcdError::UnknownLine(Line(110)),
        ),
        (
            Input::CallArrived {
                call: CallId(1),
                line: Line(12345),
                topic: TopicId(77),
                priority: Priority(0),
            },
            AcdError::UnknownTopic(TopicId(77)),
        ),
        (
            Input::CallEnded { call: CallId(3) },
            AcdError::UnknownCall(CallId(3)),
        ),
    ];
    for (input, err) in bad {
        assert_eq!(sim.try_input(input), Err(err));
    }
    sim.input(Input::SeatState {
        seat: SeatId(1),
        state: SeatRequest::LoggedOut,
    });
    sim.arrive(1, 12345, 0, 0);
    assert_eq!(
        sim.try_input(Input::OfferAnswered {
            call: CallId(1),
            seat: SeatId(1)
        }),
        Err(AcdError::NotOffered {
            call: CallId(1),
            seat: SeatId(1)
        })
    );
    assert_eq!(
        sim.try_input(Input::CallEnded { call: CallId(1) }),
        Err(AcdError::NotTalking(CallId(1)))
    );
    assert_eq!(
        sim.try_input(Input::CallTransferred { call: CallId(1) }),
        Err(AcdError::NotTalking(CallId(1)))
    );
    assert_eq!(
        sim.try_input(Input::CallArrived {
            call: CallId(1),
            line: Line(12345),
            topic: TopicId(0),
            priority: Priority(0)
        }),
        Err(AcdError::DuplicateCall(CallId(1)))
    );
    assert_eq!(sim.acd.counters().offered, before.offered + 1);
    assert_eq!(sim.acd.seat_state(SeatId(1)), Some(SeatState::LoggedOut));
}

#[test]
fn a_supervisor_withdraws_a_waiting_call_to_a_named_seat_outside_its_queue() {
    // Seat 1 is intake, seat 2 a legal expert: neither serves the other's queue at first.
    let mut sim = Sim::new(platform(1, 1, 0, Strategy::LongestIdle));
    sim.arrive(1, 12345, 0, 0);
    sim.arrive(2, 12345, 0, 0);
    sim.ready(2);
    // Not ready, unknown, ringing: refused and nothing changes.
    assert_eq!(
        sim.try_input(Input::Withdraw {
            call: CallId(2),
            seat: SeatId(1),
        }),
        Err(AcdError::SeatNotReady(SeatId(1)))
    );
    assert_eq!(
        sim.try_input(Input::Withdraw {
            call: CallId(9),
            seat: SeatId(2),
        }),
        Err(AcdError::UnknownCall(CallId(9)))
    );
    // The later caller goes to the expert at once, ahead of the first.
    let out = sim.input(Input::Withdraw {
        call: CallId(2),
        seat: SeatId(2),
    });
    assert_eq!(one_offer(&out), (2, 2));
    assert_eq!(
        sim.try_input(Input::Withdraw {
            call: CallId(2),
            seat: SeatId(2),
        }),
        Err(AcdError::NotWaiting(CallId(2)))
    );
    // A failed offer puts it back in its queue with its original wait: intake takes it
    // after the caller who came first.
    sim.fail(2, 2, OfferFailure::Rejected);
    assert_eq!(one_offer(&sim.ready(1)), (1, 1));
    assert_eq!(sim.acd.counters().waiting, 1);
}

#[test]
fn a_seat_moved_to_another_pool_serves_that_pool_at_once() {
    let mut sim = Sim::new(platform(1, 0, 0, Strategy::LongestIdle));
    sim.ready(1);
    // A legal call waits for experts (the intake tier opens after 30 s).
    assert!(offers(&sim.arrive(1, 12348, 2, 0)).is_empty());
    let legal = Skill {
        topic: TopicId(2),
        level: 6,
    };
    let now = sim.now;
    assert_eq!(
        sim.acd
            .assign_seat(now, SeatId(7), Pool::Expert, vec![legal]),
        Err(AcdError::UnknownSeat(SeatId(7)))
    );
    assert_eq!(
        sim.acd.assign_seat(
            now,
            SeatId(1),
            Pool::Expert,
            vec![Skill {
                topic: TopicId(9),
                level: 6
            }]
        ),
        Err(AcdError::UnknownTopic(TopicId(9)))
    );
    assert!(sim.drain().is_empty(), "a refused move changes nothing");
    sim.acd
        .assign_seat(now, SeatId(1), Pool::Expert, vec![legal])
        .expect("moved");
    assert_eq!(one_offer(&sim.drain()), (1, 1));
    // Back to intake: a legal call waits again.
    serve(&mut sim, 1, 1);
    let now = sim.now;
    sim.acd
        .assign_seat(now, SeatId(1), Pool::Intake, Vec::new())
        .expect("moved");
    sim.advance(secs(120));
    assert!(offers(&sim.arrive(2, 12348, 2, 0)).is_empty());
}
