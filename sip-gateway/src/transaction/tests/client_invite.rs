//! RFC 3261 §17.1.1 + RFC 6026 §7.2: INVITE client transaction.

use std::cell::Cell;

use super::harness::{ms, msg, secs, tx, udp, Driver};
use crate::transaction::{Action, ClientInvite, ClientInviteState, TimerName};

fn invite(reliable: bool) -> Driver<ClientInvite> {
    Driver::new(|now| ClientInvite::new(now, msg("INVITE"), reliable, udp()))
}

#[test]
fn udp_timer_a_doubles_then_timer_b_times_out() {
    let mut d = invite(false);
    d.run();
    // Intervals 0.5, 1, 2, 4, 8, 16 s after the first send at 0.
    assert_eq!(
        d.sent("INVITE"),
        [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500].map(ms)
    );
    assert_eq!(
        d.events(),
        [
            (secs(32), Action::Timeout(TimerName::B)),
            (secs(32), Action::Terminated)
        ]
    );
    assert_eq!(d.m.state(), ClientInviteState::Terminated);
}

#[test]
fn tcp_sends_once_and_timer_b_times_out() {
    let mut d = invite(true);
    d.run();
    assert_eq!(d.sent("INVITE"), [ms(0)]);
    assert_eq!(
        d.events(),
        [
            (secs(32), Action::Timeout(TimerName::B)),
            (secs(32), Action::Terminated)
        ]
    );
}

#[test]
fn a_transport_error_terminates_at_once_and_only_before_a_final() {
    let mut d = invite(true);
    d.run_until(ms(300));
    let (_, out) = d.input(|m, _| m.on_transport_error());
    assert_eq!(out, [Action::TransportError, Action::Terminated]);
    assert_eq!(d.m.poll_timeout(), None);

    // After a 2xx the transport's news is too late to matter.
    let mut d = invite(true);
    let _ = d.input(|m, now| m.on_response(now, 200, || unreachable!()));
    let (_, out) = d.input(|m, _| m.on_transport_error());
    assert!(out.is_empty());
    assert_eq!(d.m.state(), ClientInviteState::Accepted);
}

#[test]
fn provisional_stops_timer_a_and_b() {
    let mut d = invite(false);
    d.run_until(ms(1_600));
    let (pass, out) = d.input(|m, now| m.on_response(now, 180, || unreachable!()));
    assert!(pass);
    assert!(out.is_empty());
    assert_eq!(d.m.state(), ClientInviteState::Proceeding);
    assert_eq!(d.m.poll_timeout(), None);
    let (pass, _) = d.input(|m, now| m.on_response(now, 183, || unreachable!()));
    assert!(pass, "every provisional goes to the TU");
    assert_eq!(d.sent("INVITE"), [0, 500, 1_500].map(ms));
}

#[test]
fn non_2xx_final_is_acked_once_and_retransmissions_re_ack() {
    let mut d = invite(false);
    d.run_until(ms(200));
    let _ = d.input(|m, now| m.on_response(now, 100, || unreachable!()));
    d.run_until(secs(2));
    let built = Cell::new(0);
    let make_ack = || {
        built.set(built.get() + 1);
        msg("ACK")
    };
    let (pass, out) = d.input(|m, now| m.on_response(now, 486, make_ack));
    assert!(pass);
    assert_eq!(out, [tx("ACK")]);
    assert_eq!(d.m.state(), ClientInviteState::Completed);

    d.run_until(secs(3));
    let (pass, out) = d.input(|m, now| m.on_response(now, 486, || unreachable!()));
    assert!(!pass, "a retransmitted final is absorbed");
    assert_eq!(out, [tx("ACK")]);
    let (pass, out) = d.input(|m, now| m.on_response(now, 200, || unreachable!()));
    assert!(!pass && out.is_empty());
    assert_eq!(built.get(), 1);

    d.run();
    assert_eq!(d.sent("ACK"), [secs(2), secs(3)]);
    assert_eq!(
        d.events(),
        [(secs(34), Action::Terminated)],
        "Timer D = 32 s"
    );
}

#[test]
fn tcp_non_2xx_final_acks_and_terminates_at_once() {
    let mut d = invite(true);
    d.run_until(secs(1));
    let (pass, out) = d.input(|m, now| m.on_response(now, 603, || msg("ACK")));
    assert!(pass);
    assert_eq!(out, [tx("ACK"), Action::Terminated]);
    assert!(d.m.is_terminated());
}

#[test]
fn success_enters_accepted_passes_retransmissions_until_timer_m() {
    let mut d = invite(false);
    d.run_until(ms(700));
    let (pass, out) = d.input(|m, now| m.on_response(now, 200, || unreachable!()));
    assert!(pass);
    assert!(out.is_empty(), "the TU ACKs a 2xx, not the transaction");
    assert_eq!(d.m.state(), ClientInviteState::Accepted);

    d.run_until(secs(5));
    let (pass, out) = d.input(|m, now| m.on_response(now, 200, || unreachable!()));
    assert!(
        pass,
        "2xx retransmissions reach the TU, which re-sends its ACK"
    );
    assert!(out.is_empty());
    let (pass, _) = d.input(|m, now| m.on_response(now, 180, || unreachable!()));
    assert!(!pass);
    let (pass, _) = d.input(|m, now| m.on_response(now, 500, || unreachable!()));
    assert!(!pass);

    d.run();
    assert_eq!(d.sent("INVITE"), [0, 500].map(ms), "A stopped by the 2xx");
    assert_eq!(
        d.events(),
        [(ms(32_700), Action::Terminated)],
        "Timer M = 64*T1"
    );
}

#[test]
fn codes_outside_100_to_699_are_absorbed() {
    let mut d = invite(false);
    for code in [0, 99, 700, 999, u16::MAX] {
        let (pass, out) = d.input(|m, now| m.on_response(now, code, || unreachable!()));
        assert!(!pass && out.is_empty());
    }
    assert_eq!(d.m.state(), ClientInviteState::Calling);
}

#[test]
fn late_wake_up_sends_one_retransmission() {
    let mut d = invite(false);
    d.jump_to(secs(10));
    assert_eq!(d.sent("INVITE"), [secs(0), secs(10)]);
    // Timer A's second interval (2*T1) runs from the late firing.
    assert_eq!(d.m.poll_timeout(), Some(d.start + secs(11)));
}

#[test]
fn late_wake_up_fires_each_due_timer_once_in_deadline_order() {
    let mut d = invite(false);
    d.jump_to(secs(40));
    assert_eq!(d.sent("INVITE"), [secs(0), secs(40)]);
    assert_eq!(
        d.events(),
        [
            (secs(40), Action::Timeout(TimerName::B)),
            (secs(40), Action::Terminated)
        ]
    );
}

#[test]
fn terminated_ignores_everything() {
    let mut d = invite(true);
    d.run();
    let (pass, out) = d.input(|m, now| m.on_response(now, 200, || unreachable!()));
    assert!(!pass && out.is_empty());
    assert_eq!(d.m.poll_timeout(), None);
}
