//! RFC 3261 §17.2.1 + RFC 6026 §7.1 + §13.3.1.4: INVITE server transaction.

use super::harness::{ms, msg, secs, tx, udp, Driver};
use crate::transaction::{Action, ServerInvite, ServerInviteState, TimerName};

fn server(reliable: bool) -> Driver<ServerInvite> {
    Driver::new(|now| ServerInvite::new(now, reliable, udp()))
}

/// Sends 200 at `t` and returns the driver.
fn answered_at(reliable: bool, t: u64) -> Driver<ServerInvite> {
    let mut d = server(reliable);
    d.run_until(ms(t));
    let (ok, out) = d.input(|m, now| m.respond(now, 200, msg("200")));
    assert!(ok);
    assert_eq!(out, [tx("200")]);
    assert_eq!(d.m.state(), ServerInviteState::Accepted);
    d
}

/// Sends 486 at 0 and returns the driver.
fn rejected(reliable: bool) -> Driver<ServerInvite> {
    let mut d = server(reliable);
    let (ok, out) = d.input(|m, now| m.respond(now, 486, msg("486")));
    assert!(ok);
    assert_eq!(out, [tx("486")]);
    assert_eq!(d.m.state(), ServerInviteState::Completed);
    d
}

#[test]
fn new_sends_nothing_and_arms_nothing() {
    let d = server(false);
    assert!(d.log.is_empty());
    assert_eq!(d.m.state(), ServerInviteState::Proceeding);
    assert_eq!(d.m.poll_timeout(), None);
}

#[test]
fn retransmitted_invite_re_sends_latest_provisional() {
    let mut d = server(false);
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert!(out.is_empty(), "nothing sent yet, nothing to re-send");
    let (ok, out) = d.input(|m, now| m.respond(now, 100, msg("100")));
    assert!(ok);
    assert_eq!(out, [tx("100")]);
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(out, [tx("100")]);
    let (ok, _) = d.input(|m, now| m.respond(now, 180, msg("180")));
    assert!(ok);
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(out, [tx("180")]);
    assert_eq!(d.m.state(), ServerInviteState::Proceeding);
    assert_eq!(
        d.m.poll_timeout(),
        None,
        "provisionals are not retransmitted"
    );
}

#[test]
fn udp_2xx_retransmitted_doubling_to_t2_until_ack() {
    let mut d = answered_at(false, 0);
    d.run_until(secs(12));
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(
        out,
        [tx("200")],
        "INVITE retransmission before the ACK re-sends the 2xx"
    );
    let (for_2xx, out) = d.input(|m, now| m.on_ack(now));
    assert!(for_2xx);
    assert!(out.is_empty());
    let (for_2xx, _) = d.input(|m, now| m.on_ack(now));
    assert!(
        for_2xx,
        "repeated ACKs for the 2xx still belong to the dialog"
    );
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert!(
        out.is_empty(),
        "after the ACK, INVITE retransmissions are absorbed silently"
    );
    assert_eq!(d.m.state(), ServerInviteState::Accepted);
    d.run();
    assert_eq!(
        d.sent("200"),
        [0, 500, 1_500, 3_500, 7_500, 11_500, 12_000].map(ms)
    );
    assert_eq!(
        d.events(),
        [(secs(32), Action::Terminated)],
        "Timer L = 64*T1"
    );
}

#[test]
fn udp_2xx_without_ack_reports_no_ack_for_2xx() {
    let mut d = answered_at(false, 1_000);
    d.run();
    assert_eq!(
        d.sent("200"),
        [1_000, 1_500, 2_500, 4_500, 8_500, 12_500, 16_500, 20_500, 24_500, 28_500, 32_500].map(ms)
    );
    assert_eq!(
        d.events(),
        [
            (secs(33), Action::NoAckFor2xx),
            (secs(33), Action::Terminated)
        ]
    );
}

#[test]
fn tcp_2xx_is_retransmitted_too() {
    // §13.3.1.4: "independent of whatever transport protocols are used".
    let mut d = answered_at(true, 0);
    d.run_until(secs(4));
    let (for_2xx, _) = d.input(|m, now| m.on_ack(now));
    assert!(for_2xx);
    d.run();
    assert_eq!(d.sent("200"), [0, 500, 1_500, 3_500].map(ms));
    assert_eq!(d.events(), [(secs(32), Action::Terminated)]);
}

#[test]
fn udp_non_2xx_timer_g_then_ack_confirms_then_timer_i() {
    let mut d = rejected(false);
    d.run_until(secs(4));
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert_eq!(out, [tx("486")]);
    let (for_2xx, out) = d.input(|m, now| m.on_ack(now));
    assert!(!for_2xx, "the ACK for a non-2xx is absorbed");
    assert!(out.is_empty());
    assert_eq!(d.m.state(), ServerInviteState::Confirmed);
    d.run_until(secs(5));
    let (for_2xx, out) = d.input(|m, now| m.on_ack(now));
    assert!(!for_2xx && out.is_empty());
    let ((), out) = d.input(|m, now| m.on_retransmission(now));
    assert!(out.is_empty());
    d.run();
    assert_eq!(d.sent("486"), [0, 500, 1_500, 3_500, 4_000].map(ms));
    assert_eq!(d.events(), [(secs(9), Action::Terminated)], "Timer I = T4");
}

#[test]
fn udp_non_2xx_without_ack_times_out_with_timer_h() {
    let mut d = rejected(false);
    d.run();
    assert_eq!(
        d.sent("486"),
        [0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500].map(ms)
    );
    assert_eq!(
        d.events(),
        [
            (secs(32), Action::Timeout(TimerName::H)),
            (secs(32), Action::Terminated)
        ]
    );
}

#[test]
fn tcp_non_2xx_no_timer_g_and_ack_terminates_at_once() {
    let mut d = rejected(true);
    d.run_until(secs(1));
    let (for_2xx, out) = d.input(|m, now| m.on_ack(now));
    assert!(!for_2xx);
    assert_eq!(out, [Action::Terminated]);
    assert_eq!(d.sent("486"), [ms(0)]);
}

#[test]
fn tcp_non_2xx_without_ack_times_out_with_timer_h() {
    let mut d = rejected(true);
    d.run();
    assert_eq!(d.sent("486"), [ms(0)]);
    assert_eq!(
        d.events(),
        [
            (secs(32), Action::Timeout(TimerName::H)),
            (secs(32), Action::Terminated)
        ]
    );
}

#[test]
fn responses_outside_proceeding_are_ignored() {
    let mut d = rejected(false);
    for code in [180, 200, 500] {
        let (ok, out) = d.input(|m, now| m.respond(now, code, msg("late")));
        assert!(!ok && out.is_empty());
    }
    let mut d = answered_at(false, 0);
    for code in [180, 200, 500] {
        let (ok, out) = d.input(|m, now| m.respond(now, code, msg("late")));
        assert!(!ok && out.is_empty());
    }
    let mut d = server(false);
    for code in [0, 99, 700] {
        let (ok, out) = d.input(|m, now| m.respond(now, code, msg("bad")));
        assert!(!ok && out.is_empty());
    }
}

#[test]
fn ack_before_any_final_is_absorbed() {
    let mut d = server(false);
    let (for_2xx, out) = d.input(|m, now| m.on_ack(now));
    assert!(!for_2xx && out.is_empty());
    assert_eq!(d.m.state(), ServerInviteState::Proceeding);
}
