//! Figures on a fake clock: counts, rates, ASA, AHT, percentiles, windows, calendar day and
//! estimated wait.

mod harness;

use std::time::{Duration, Instant};

use acd_core::*;
use harness::*;

fn close(got: Option<Duration>, want: Duration) {
    let got = got.expect("a value");
    let (g, w) = (got.as_secs_f64(), want.as_secs_f64());
    assert!((g - w).abs() <= w * 0.01, "got {got:?}, want ≈ {want:?}");
}

fn rate(got: Option<f64>, want: f64) {
    let got = got.expect("a rate");
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

fn abandon(sim: &mut Sim, call: u64) -> Vec<Output> {
    sim.input(Input::CallAbandoned { call: CallId(call) })
}

/// One intake seat; queue 0 times out after 100 s.
fn one_seat() -> Sim {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    cfg.queues[0].max_wait = Some(MaxWait {
        after: secs(100),
        exit: Exit::Disconnect,
    });
    Sim::new(cfg)
}

/// answered fast (3 s), answered slow (60 s), short abandon (2 s), long abandon (20 s),
/// timeout (100 s), all on line 12349 of queue 0.
fn scripted() -> Sim {
    let mut sim = one_seat();
    sim.arrive(1, 12349, 0, 0);
    sim.advance(secs(3));
    assert_eq!(one_offer(&sim.ready(1)), (1, 1));
    sim.answer(1, 1); // wait 3 s
    sim.arrive(2, 12349, 0, 0);
    sim.advance(secs(60));
    assert_eq!(one_offer(&sim.end(1)), (2, 1)); // call 1: talk 60 s
    sim.answer(2, 1); // wait 60 s
    sim.arrive(3, 12349, 0, 0);
    sim.advance(secs(2));
    abandon(&mut sim, 3); // short
    sim.arrive(4, 12349, 0, 0);
    sim.advance(secs(20));
    abandon(&mut sim, 4); // long
    sim.arrive(5, 12349, 0, 0);
    sim.advance(secs(50));
    let f = sim
        .acd
        .figures(Scope::Line(Line(12349)), Window::Min15, sim.now)
        .unwrap();
    assert_eq!(f.waiting_now, 1);
    assert_eq!(f.longest_wait, Some(secs(50)));
    let out = sim.advance(secs(50));
    assert!(out.contains(&Output::CallLeft {
        call: CallId(5),
        why: LeaveReason::TimedOut {
            exit: Exit::Disconnect
        },
    }));
    sim.end(2); // call 2: talk 122 s
    sim
}

#[test]
fn scripted_sequence_gives_expected_figures_per_line_and_queue() {
    let sim = scripted();
    for scope in [Scope::Line(Line(12349)), Scope::Queue(QueueId(0))] {
        for window in [Window::Min15, Window::Hour, Window::Day, Window::Today] {
            let f = sim.acd.figures(scope, window, sim.now).unwrap();
            assert_eq!(f.offered, 5, "{scope:?} {window:?}");
            assert_eq!(f.answered, 2);
            assert_eq!(f.answered_within, 1);
            assert_eq!(f.abandoned_short, 1);
            assert_eq!(f.abandoned_long, 1);
            assert_eq!(f.timed_out, 1);
            assert_eq!(f.transferred, 0);
            rate(f.answer_rate, 2.0 / 5.0);
            rate(f.answer_rate_excl_short, 2.0 / 4.0);
            rate(f.answered_within_rate, 1.0 / 5.0);
            assert_eq!(f.asa, Some(Duration::from_millis(31_500)));
            assert_eq!(f.aht, Some(secs(91)));
            assert_eq!(f.handled, 2);
            assert_eq!(f.waiting_now, 0);
            assert_eq!(f.longest_wait, None);
            close(f.wait_p50, secs(3));
            close(f.wait_p90, secs(60));
            close(f.wait_p99, secs(60));
        }
    }
    let other = sim
        .acd
        .figures(Scope::Line(Line(12345)), Window::Hour, sim.now)
        .unwrap();
    assert_eq!(other.offered, 0);
    assert_eq!(other.answer_rate, None);
    assert_eq!(other.wait_p50, None);
}

#[test]
fn a_transfer_counts_once_per_scope_and_ends_the_conversation() {
    let mut sim = one_seat();
    sim.arrive(1, 12349, 0, 0);
    sim.ready(1);
    sim.answer(1, 1);
    sim.advance(secs(40));
    let out = sim.input(Input::CallTransferred { call: CallId(1) });
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::SeatChanged {
                seat: SeatId(1),
                ..
            }
        )),
        "the seat is freed: {out:?}"
    );
    for scope in [
        Scope::Line(Line(12349)),
        Scope::Queue(QueueId(0)),
        Scope::Pool(Pool::Intake),
        Scope::Seat(SeatId(1)),
    ] {
        let f = sim.acd.figures(scope, Window::Hour, sim.now).unwrap();
        assert_eq!(f.transferred, 1, "{scope:?}");
        assert_eq!(f.handled, 1, "{scope:?}");
        assert_eq!(f.answered, 1, "{scope:?}");
    }
    assert_eq!(
        sim.try_input(Input::CallTransferred { call: CallId(1) }),
        Err(AcdError::UnknownCall(CallId(1)))
    );
}

#[test]
fn scripted_sequence_per_pool_and_seat() {
    let sim = scripted();
    for scope in [Scope::Pool(Pool::Intake), Scope::Seat(SeatId(1))] {
        let f = sim.acd.figures(scope, Window::Hour, sim.now).unwrap();
        assert_eq!(f.offered, 2, "{scope:?}");
        assert_eq!(f.answered, 2);
        assert_eq!(f.answered_within, 1);
        assert_eq!(f.abandoned_short + f.abandoned_long + f.timed_out, 0);
        assert_eq!(f.asa, Some(Duration::from_millis(31_500)));
        assert_eq!(f.aht, Some(secs(91)));
    }
    let f = sim
        .acd
        .figures(Scope::Pool(Pool::Expert), Window::Hour, sim.now)
        .unwrap();
    assert_eq!(f.offered, 0);
    assert!(sim
        .acd
        .figures(Scope::Seat(SeatId(99)), Window::Hour, sim.now)
        .is_none());
    assert!(sim
        .acd
        .figures(Scope::Line(Line(1)), Window::Hour, sim.now)
        .is_none());
}

#[test]
fn event_61_minutes_ago_leaves_the_hour_but_stays_in_24_hours() {
    let mut sim = one_seat();
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(10));
    abandon(&mut sim, 1);
    let at = |sim: &Sim, w| {
        sim.acd
            .figures(Scope::Line(Line(12345)), w, sim.now)
            .unwrap()
            .abandoned_long
    };
    sim.advance(secs(14 * 60));
    assert_eq!(at(&sim, Window::Min15), 1);
    sim.advance(secs(2 * 60));
    assert_eq!(at(&sim, Window::Min15), 0);
    assert_eq!(at(&sim, Window::Hour), 1);
    sim.advance(secs(45 * 60)); // 61 min after the event
    assert_eq!(at(&sim, Window::Hour), 0);
    assert_eq!(at(&sim, Window::Day), 1);
    assert_eq!(at(&sim, Window::Today), 1);
    sim.advance(secs(23 * 3600));
    assert_eq!(at(&sim, Window::Day), 0);
}

#[test]
#[allow(clippy::disallowed_methods)] // tests may read the clock: the anchor precedes Sim's start
fn calendar_day_resets_at_local_midnight() {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    cfg.day_start = Some(Instant::now());
    let mut sim = Sim::new(cfg);
    sim.advance(secs(23 * 3600 + 50 * 60)); // 23:50
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(10));
    abandon(&mut sim, 1);
    let offered = |sim: &Sim, w| {
        sim.acd
            .figures(Scope::Queue(QueueId(0)), w, sim.now)
            .unwrap()
            .offered
    };
    assert_eq!(offered(&sim, Window::Today), 1);
    sim.advance(secs(20 * 60)); // 00:10 next day
    assert_eq!(offered(&sim, Window::Today), 0);
    assert_eq!(offered(&sim, Window::Hour), 1);
    assert_eq!(offered(&sim, Window::Day), 1);
    sim.arrive(2, 12345, 0, 0);
    assert_eq!(offered(&sim, Window::Today), 1);
    assert_eq!(offered(&sim, Window::Day), 2);
}

#[test]
fn estimated_wait_grows_with_position() {
    let mut sim = one_seat();
    sim.ready(1);
    // No handle-time sample yet: no estimate.
    sim.arrive(1, 12345, 0, 0);
    sim.answer(1, 1);
    sim.arrive(2, 12345, 0, 0);
    assert_eq!(sim.acd.estimated_wait(CallId(2), sim.now), None);
    sim.advance(secs(90));
    assert_eq!(one_offer(&sim.end(1)), (2, 1)); // AHT 90 s
    sim.answer(2, 1);
    for call in 3..=5 {
        sim.arrive(call, 12345, 0, 0);
        sim.advance(secs(1));
    }
    let ewt = |call| sim.acd.estimated_wait(CallId(call), sim.now);
    assert_eq!(ewt(3), Some(secs(90)));
    assert_eq!(ewt(4), Some(secs(180)));
    assert_eq!(ewt(5), Some(secs(270)));
    assert_eq!(ewt(2), None); // talking, not waiting
    assert_eq!(
        sim.acd.estimated_wait_queue(QueueId(0), sim.now),
        Some(secs(360))
    );
}

#[test]
fn the_platform_is_every_queue_together_and_sees_every_waiting_call() {
    let mut sim = one_seat();
    sim.ready(1);
    sim.arrive(1, 12349, 0, 0); // queue 0, offered to seat 1
    sim.advance(secs(4));
    sim.answer(1, 1);
    sim.arrive(2, 12348, 2, 0); // queue 1: no expert, waits
    sim.advance(secs(3));
    sim.arrive(3, 12345, 0, 0); // queue 0: the seat is busy, waits
    sim.advance(secs(2));
    abandon(&mut sim, 3);
    sim.advance(secs(5));
    let f = |scope| sim.acd.figures(scope, Window::Today, sim.now).unwrap();
    let (q0, q1, all) = (
        f(Scope::Queue(QueueId(0))),
        f(Scope::Queue(QueueId(1))),
        f(Scope::Platform),
    );
    assert_eq!(all.offered, q0.offered + q1.offered);
    assert_eq!((all.offered, all.answered, all.abandoned_short), (3, 1, 1));
    rate(all.answer_rate, 1.0 / 2.0);
    assert_eq!(all.asa, Some(secs(4)));
    assert_eq!(all.waiting_now, 1, "call 2 in queue 1");
    assert_eq!(all.longest_wait, Some(secs(10)));
    close(all.wait_p50, secs(4));
}

#[test]
#[allow(clippy::disallowed_methods)] // tests may read the clock: the anchor precedes Sim's start
fn hours_of_the_day_add_up_to_today() {
    let mut cfg = platform(1, 0, 0, Strategy::LongestIdle);
    cfg.day_start = Some(Instant::now());
    let mut sim = Sim::new(cfg);
    sim.ready(1);
    sim.advance(secs(2 * 3600 + 30 * 60)); // 02:30
    sim.arrive(1, 12345, 0, 0);
    sim.advance(secs(20));
    sim.answer(1, 1); // 02:30, wait 20 s: not within 15 s
    sim.advance(secs(3600)); // 03:30
    sim.end(1);
    sim.arrive(2, 12349, 0, 0);
    sim.advance(secs(2));
    sim.answer(2, 1); // 03:30, within
    sim.arrive(3, 12345, 0, 0);
    sim.advance(secs(40 * 60)); // 04:10
    abandon(&mut sim, 3); // abandoned in hour 4
    let hours = sim.acd.figures_by_hour(Scope::Platform, sim.now).unwrap();
    assert_eq!(hours.len(), 5, "hours 0 to 4");
    let counts: Vec<(u64, u64, u64, u64)> = hours
        .iter()
        .map(|h| (h.offered, h.answered, h.answered_within, h.abandoned_long))
        .collect();
    assert_eq!(
        counts,
        [
            (0, 0, 0, 0),
            (0, 0, 0, 0),
            (1, 1, 0, 0),
            (2, 1, 1, 0),
            (0, 0, 0, 1)
        ]
    );
    assert_eq!(hours[0].answer_rate, None);
    rate(hours[2].answer_rate, 1.0);
    rate(hours[2].answered_within_rate, 0.0);
    rate(hours[4].answer_rate, 0.0);
    let today = sim
        .acd
        .figures(Scope::Platform, Window::Today, sim.now)
        .unwrap();
    let sum = |get: fn(&Figures) -> u64| hours.iter().map(get).sum::<u64>();
    assert_eq!(sum(|h| h.offered), today.offered);
    assert_eq!(sum(|h| h.answered), today.answered);
    assert_eq!(sum(|h| h.answered_within), today.answered_within);
    assert_eq!(sum(|h| h.abandoned_long), today.abandoned_long);
    // The next day starts with one empty hour.
    sim.advance(secs(20 * 3600));
    let hours = sim.acd.figures_by_hour(Scope::Platform, sim.now).unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].offered, 0);
    assert!(sim
        .acd
        .figures_by_hour(Scope::Line(Line(1)), sim.now)
        .is_none());
}
