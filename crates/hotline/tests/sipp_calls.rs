//! Calls through the gateway between real SIPp peers: a SIPp seat registers (benches/sipp/
//! register.xml), a SIPp caller calls it through `hotline serve`, and both ends check what
//! they get (scenarios in tests/scenarios/). Every test runs its own gateway on its own ports.
//!
//! Needs `sipp` on PATH (Debian/Ubuntu: `apt-get install sip-tester`) or `$HOTLINE_SIPP`.
//! Logs, SIPp message traces and statistics stay in `target/tmp/hotline-itest/<test>/`.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const SEAT: &str = "1001";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One call: start the seat (a SIPp UAS scenario), register it, run the caller (a SIPp UAC
/// scenario) to `service`, then give the seat a few seconds to finish its own scenario.
fn one_call(
    dir: &TestDir,
    gw: &Gateway,
    seat_scenario: &str,
    caller_scenario: &str,
    service: &str,
    caller_extra: &[&str],
) -> (Outcome, Outcome) {
    let seat = Sipp::seat(dir, "seat", seat_scenario).calls(1).timeout(40);
    register_seat(dir, gw, SEAT, seat.local_port, false);
    let seat = seat.spawn();
    let caller = Sipp::caller(dir, "caller", gw, caller_scenario, service)
        .calls(1)
        .timeout(30)
        .args(caller_extra.iter().copied())
        .run(secs(40));
    let seat = seat.finish(secs(5));
    (caller, seat)
}

/// Bulk calls with SIPp's built-in uac/uas, asserting the success ratio from the caller's
/// statistics file.
fn bulk(test: &str, calls: u64, rate: u32, tcp: bool) {
    let dir = TestDir::new(test);
    let gw = Gateway::start(&dir, &[]);
    let mut seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(calls as u32)
        .timeout(120);
    if tcp {
        seat = seat.tcp();
    }
    register_seat(&dir, &gw, SEAT, seat.local_port, tcp);
    let seat = seat.spawn();

    let mut caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", SEAT, "-l", "200", "-d", "100"])
        .args(["-r".to_owned(), rate.to_string()])
        .calls(calls as u32)
        .timeout(90);
    if tcp {
        caller = caller.tcp();
    }
    let started = Instant::now();
    let caller = caller.run(secs(120));
    let took = started.elapsed();
    let seat = seat.finish(secs(5));

    let what = format!("{calls} calls over {}", if tcp { "TCP" } else { "UDP" });
    let Some(st) = caller.stats() else {
        panic!(
            "{}",
            failure(
                &format!("{what}: caller wrote no statistics"),
                &[&caller, &seat],
                &gw
            )
        );
    };
    eprintln!("{what}: {st:?} in {took:.1?}");
    let needed = (calls * 998).div_ceil(1000);
    if st.successful < needed || st.successful + st.failed != calls || caller.killed_at_limit {
        panic!(
            "{}",
            failure(
                &format!(
                    "{what}: {} successful, {} failed (need ≥ {needed} successful of {calls}, all completed)",
                    st.successful, st.failed
                ),
                &[&caller, &seat],
                &gw
            )
        );
    }
}

/// 1. A registered seat takes 500 calls placed at 150 cps over UDP; ≥ 99.8 % succeed.
#[test]
fn udp_500_calls_to_a_registered_seat() {
    bulk("udp_500_calls", 500, 150, false);
}

/// 1b. The same over TCP (one connection per side), fewer calls.
#[test]
fn tcp_100_calls_to_a_registered_seat() {
    bulk("tcp_100_calls", 100, 50, true);
}

/// 2. The caller CANCELs while the seat rings: 200 for the CANCEL, 487 for the INVITE, and
///    the seat's leg is CANCELled too (the seat answers 200 + 487 and gets its ACK).
#[test]
fn caller_cancel_while_ringing() {
    let dir = TestDir::new("caller_cancel");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_ring_expect_cancel.xml",
        "uac_cancel.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "caller gets 200 (CANCEL) + 487; seat gets CANCEL and ACK",
        &[&caller, &seat],
        &gw,
    );
}

/// 3. The seat is busy: its 486 reaches the caller.
#[test]
fn seat_busy_486_reaches_the_caller() {
    let dir = TestDir::new("seat_486");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_reject_486.xml",
        "uac_expect_486.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "seat 486 → caller 486, both legs ACKed",
        &[&caller, &seat],
        &gw,
    );
}

/// The seat answers 480: the caller gets 480.
#[test]
fn seat_480_reaches_the_caller() {
    let dir = TestDir::new("seat_480");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_reject_480.xml",
        "uac_expect_480.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "seat 480 → caller 480, both legs ACKed",
        &[&caller, &seat],
        &gw,
    );
}

/// The seat answers 408: the caller gets 480 (a 408 is the seat's leg's business).
#[test]
fn seat_408_becomes_480() {
    let dir = TestDir::new("seat_408");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_reject_408.xml",
        "uac_expect_480.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "seat 408 → caller 480, both legs ACKed",
        &[&caller, &seat],
        &gw,
    );
}

/// 4a. The caller hangs up (SIPp's built-in uac sends the BYE); the seat (built-in uas) gets it.
#[test]
fn caller_bye_reaches_the_seat() {
    let dir = TestDir::new("caller_bye");
    let gw = Gateway::start(&dir, &[]);
    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(1)
        .timeout(30);
    register_seat(&dir, &gw, SEAT, seat.local_port, false);
    let seat = seat.spawn();
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", SEAT, "-d", "300"])
        .calls(1)
        .timeout(30)
        .run(secs(40));
    let seat = seat.finish(secs(5));
    expect_all_ok(
        "call answered; caller's BYE answered 200; seat gets a BYE",
        &[&caller, &seat],
        &gw,
    );
}

/// 4b. The seat hangs up: the caller gets a BYE in its own dialog and answers it; the seat's
///     BYE is answered 200. Also checked on the way: each side gets the gateway's own SDP (anchored media), and
///     the seat's leg has the gateway's own Call-ID and From tag, not the caller's.
#[test]
fn seat_bye_reaches_the_caller() {
    let dir = TestDir::new("seat_bye");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_answer_then_bye.xml",
        "uac_seat_hangs_up.xml",
        SEAT,
        &["-cid_str", "itestcaller-%u-%p@%s"],
    );
    expect_all_ok(
        "seat's BYE → caller gets BYE (R-URI = its Contact, tags of its dialog) and answers; \
         seat's BYE gets 200; SDP anchored (ours); B-leg Call-ID/From-tag are the gateway's own \
         (a 'receive timeout on message …:9' in the caller means the BYE's From tag ≠ the 200's To tag)",
        &[&caller, &seat],
        &gw,
    );
}

/// re-INVITE and UPDATE from the caller pass across, their SDP rewritten as ours both ways (anchored media).
#[test]
fn reinvite_and_update_pass_across() {
    let dir = TestDir::new("reinvite_update");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_reinvite_update.xml",
        "uac_reinvite_update.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "re-INVITE and UPDATE relayed with their SDP, then BYE",
        &[&caller, &seat],
        &gw,
    );
}

/// re-INVITE and UPDATE from the seat pass across too, their SDP rewritten as ours both ways (anchored media).
#[test]
fn seat_reinvite_and_update_pass_across() {
    let dir = TestDir::new("seat_reinvite_update");
    let gw = Gateway::start(&dir, &[]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_seat_reinvite_update.xml",
        "uac_answer_seat_reinvite_update.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "seat's re-INVITE and UPDATE relayed to the caller with their SDP, answers back",
        &[&caller, &seat],
        &gw,
    );
}

/// 5. A seat that rings forever: after --ring-timeout 2 the seat's leg is CANCELled (the seat
///    answers 200 + 487) and the caller gets 480 about 2 s after calling.
#[test]
fn ring_timeout_cancels_the_seat_and_gives_480() {
    let dir = TestDir::new("ring_timeout");
    let gw = Gateway::start(&dir, &["--ring-timeout", "2"]);
    let (caller, seat) = one_call(
        &dir,
        &gw,
        "uas_ring_expect_cancel.xml",
        "uac_expect_480.xml",
        SEAT,
        &[],
    );
    expect_all_ok(
        "ring timeout: seat gets CANCEL, caller gets 480",
        &[&caller, &seat],
        &gw,
    );
    // The caller's run includes SIPp's start-up and a 200 ms pause after the ACK.
    let took = caller.elapsed;
    assert!(
        took >= Duration::from_millis(1800) && took <= secs(5),
        "{}",
        failure(
            &format!("caller got its 480 after {took:.1?}, expected ≈2 s"),
            &[&caller, &seat],
            &gw
        )
    );
}

/// A seat that never answers anything (a bare UDP socket): Timer B (32 s) ends the seat's
/// INVITE transaction and the caller gets 480. The seat's INVITE is retransmitted (UDP,
/// Timer A) and never CANCELled (no provisional response: RFC 3261 §9.1).
#[test]
fn silent_seat_timer_b_gives_480() {
    let dir = TestDir::new("silent_seat");
    let gw = Gateway::start(&dir, &["--ring-timeout", "120"]);
    let hole_port = free_port();
    register_seat(&dir, &gw, SEAT, hole_port, false);
    let hole = UdpSocket::bind(("127.0.0.1", hole_port)).expect("bind silent seat");

    let stop = Arc::new(AtomicBool::new(false));
    let heard = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut got = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                got.extend(drain_udp(&hole, Duration::from_millis(200)));
            }
            got
        })
    };
    let caller = Sipp::caller(&dir, "caller", &gw, "uac_expect_480.xml", SEAT)
        .calls(1)
        .timeout(50)
        .run(secs(60));
    stop.store(true, Ordering::Relaxed);
    let heard = heard.join().unwrap();
    eprintln!("silent seat: caller finished after {:.1?}", caller.elapsed);
    expect_all_ok("silent seat → caller gets 480 (Timer B)", &[&caller], &gw);

    let first_line = |m: &String| m.lines().next().unwrap_or("").to_owned();
    let invites = heard.iter().filter(|m| m.starts_with("INVITE ")).count();
    let cancels = heard.iter().filter(|m| m.starts_with("CANCEL ")).count();
    let lines: Vec<String> = heard.iter().map(first_line).collect();
    assert!(
        invites >= 2 && cancels == 0,
        "{}",
        failure(
            &format!(
                "silent seat received {invites} INVITE(s) and {cancels} CANCEL(s); expected the INVITE \
                 retransmitted (Timer A) and no CANCEL without a provisional. Received: {lines:?}"
            ),
            &[&caller],
            &gw
        )
    );
}

/// 6. A number that is no registered seat gets 404 (a seat is registered, just not this one).
#[test]
fn unknown_number_gets_404() {
    let dir = TestDir::new("unknown_404");
    let gw = Gateway::start(&dir, &[]);
    let seat = Sipp::new(&dir, "seat").args(["-sn", "uas"]).timeout(30);
    register_seat(&dir, &gw, SEAT, seat.local_port, false);
    let seat = seat.spawn();
    let caller = Sipp::caller(&dir, "caller", &gw, "uac_expect_404.xml", "9999")
        .calls(1)
        .timeout(20)
        .run(secs(30));
    let seat = seat.finish(Duration::ZERO);
    expect_all_ok("INVITE sip:9999@gateway → 404", &[&caller], &gw);
    let seat_heard = read_lossy(&seat.message_file);
    assert!(
        !seat_heard.contains("INVITE sip:"),
        "{}",
        failure(
            "the seat 1001 was sent an INVITE for 9999",
            &[&caller, &seat],
            &gw
        )
    );
}
