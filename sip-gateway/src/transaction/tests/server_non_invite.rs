//! RFC 3261 §17.2.2: non-INVITE server transaction.

use super::harness::{ms, msg, secs, tx, udp, Driver};
use crate::transaction::{Action, ServerNonInvite, ServerNonInviteState};

fn server(reliable: bool) -> Driver<ServerNonInvite> {
    Driver::new(|now| ServerNonInvite::new(now, reliable, udp()))
}

#[test]
fn retransmitted_request_re_sends_last_response() {
    let mut d = server(false);
    assert_eq!(d.m.state(), ServerNonInviteState::Trying);
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert!(out.is_empty(), "Trying: absorbed silently");
    let (ok, _) = d.input(|m, now| m.respond(now, 100, msg("100")));
    assert!(ok);
    assert_eq!(d.m.state(), ServerNonInviteState::Proceeding);
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(out, [tx("100")]);
    d.run_until(secs(3));
    let (ok, out) = d.input(|m, now| m.respond(now, 200, msg("200")));
    assert!(ok);
    assert_eq!(out, [tx("200")]);
    assert_eq!(d.m.state(), ServerNonInviteState::Completed);
    d.run_until(secs(10));
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(out, [tx("200")]);
    d.run();
    assert_eq!(
        d.sent("200"),
        [secs(3), secs(10)],
        "no timer retransmits responses"
    );
    assert_eq!(
        d.events(),
        [(secs(35), Action::Terminated)],
        "Timer J = 64*T1"
    );
}

#[test]
fn udp_timer_j_terminates_after_64_t1() {
    let mut d = server(false);
    d.run_until(ms(250));
    let (ok, _) = d.input(|m, now| m.respond(now, 481, msg("481")));
    assert!(ok);
    d.run();
    assert_eq!(d.events(), [(ms(32_250), Action::Terminated)]);
}

#[test]
fn tcp_final_response_terminates_at_once() {
    let mut d = server(true);
    let (ok, out) = d.input(|m, now| m.respond(now, 200, msg("200")));
    assert!(ok);
    assert_eq!(out, [tx("200"), Action::Terminated]);
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert!(out.is_empty());
}

#[test]
fn responses_in_completed_are_ignored() {
    let mut d = server(false);
    let (ok, _) = d.input(|m, now| m.respond(now, 200, msg("200")));
    assert!(ok);
    for code in [100, 200, 500] {
        let (ok, out) = d.input(|m, now| m.respond(now, code, msg("late")));
        assert!(!ok && out.is_empty());
    }
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(out, [tx("200")], "the first final stays the one re-sent");
}

#[test]
fn codes_outside_100_to_699_are_ignored() {
    let mut d = server(false);
    for code in [0, 99, 700] {
        let (ok, out) = d.input(|m, now| m.respond(now, code, msg("bad")));
        assert!(!ok && out.is_empty());
    }
    assert_eq!(d.m.state(), ServerNonInviteState::Trying);
}
