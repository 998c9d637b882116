//! RFC 3261 §17.1.2: non-INVITE client transaction.

use super::harness::{ms, msg, secs, udp, Driver};
use crate::transaction::{Action, ClientNonInvite, ClientNonInviteState, TimerName};

fn request(reliable: bool) -> Driver<ClientNonInvite> {
    Driver::new(|now| ClientNonInvite::new(now, msg("BYE"), reliable, udp()))
}

fn timed_out_at(t: u64) -> [(std::time::Duration, Action); 2] {
    [
        (secs(t), Action::Timeout(TimerName::F)),
        (secs(t), Action::Terminated),
    ]
}

#[test]
fn udp_timer_e_doubles_up_to_t2_then_timer_f_times_out() {
    let mut d = request(false);
    d.run();
    // Intervals 0.5, 1, 2, 4, 4, 4, … s: 11 sends in all.
    assert_eq!(
        d.sent("BYE"),
        [0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500].map(ms)
    );
    assert_eq!(d.events(), timed_out_at(32));
}

#[test]
fn a_transport_error_terminates_at_once() {
    let mut d = request(true);
    let (_, out) = d.input(|m, _| m.on_transport_error());
    assert_eq!(out, [Action::TransportError, Action::Terminated]);
    assert_eq!(d.m.state(), ClientNonInviteState::Terminated);
}

#[test]
fn tcp_sends_once_and_timer_f_times_out() {
    let mut d = request(true);
    d.run();
    assert_eq!(d.sent("BYE"), [ms(0)]);
    assert_eq!(d.events(), timed_out_at(32));
}

#[test]
fn proceeding_retransmits_every_t2() {
    let mut d = request(false);
    d.run_until(ms(700));
    let (pass, _) = d.input(|m, now| m.on_response(now, 100));
    assert!(pass);
    assert_eq!(d.m.state(), ClientNonInviteState::Proceeding);
    d.run_until(secs(3));
    let (pass, _) = d.input(|m, now| m.on_response(now, 180));
    assert!(pass, "every provisional goes to the TU");
    d.run();
    // The E armed in Trying (due 1.5 s) fires, then every T2.
    assert_eq!(
        d.sent("BYE"),
        [0, 500, 1_500, 5_500, 9_500, 13_500, 17_500, 21_500, 25_500, 29_500].map(ms)
    );
    assert_eq!(d.events(), timed_out_at(32));
}

#[test]
fn final_response_enters_completed_until_timer_k() {
    let mut d = request(false);
    d.run_until(secs(1));
    let (pass, out) = d.input(|m, now| m.on_response(now, 200));
    assert!(pass);
    assert!(out.is_empty());
    assert_eq!(d.m.state(), ClientNonInviteState::Completed);
    d.run_until(secs(2));
    for code in [200, 100, 481] {
        let (pass, out) = d.input(|m, now| m.on_response(now, code));
        assert!(!pass && out.is_empty(), "{code} in Completed is absorbed");
    }
    d.run();
    assert_eq!(d.sent("BYE"), [0, 500].map(ms), "E stopped by the final");
    assert_eq!(d.events(), [(secs(6), Action::Terminated)], "Timer K = T4");
}

#[test]
fn tcp_final_response_terminates_at_once() {
    let mut d = request(true);
    d.run_until(secs(1));
    let (pass, out) = d.input(|m, now| m.on_response(now, 404));
    assert!(pass);
    assert_eq!(out, [Action::Terminated]);
}

#[test]
fn codes_outside_100_to_699_are_absorbed() {
    let mut d = request(false);
    for code in [0, 42, 700, 6_000] {
        let (pass, out) = d.input(|m, now| m.on_response(now, code));
        assert!(!pass && out.is_empty());
    }
    assert_eq!(d.m.state(), ClientNonInviteState::Trying);
}
