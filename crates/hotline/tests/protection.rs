//! Overload control and flood defence against a running `hotline serve`, with SIPp: past its
//! configured calls per second the gateway answers new INVITEs 503 with Retry-After at once
//! while every admitted call completes; a source flooding OPTIONS is held to its rate and one
//! failing digest login repeatedly is blocked, while real calls go on untouched.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;

/// The shipped plan with `[protection]` values replaced (`key = value` lines).
fn plan_with_protection(dir: &TestDir, edits: &[(&str, &str)]) -> String {
    let mut text = include_str!("../../../deploy/zhengzhou.toml").to_owned();
    for (key, value) in edits {
        let old = text
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("the shipped plan sets {key}"))
            .to_owned();
        text = text.replacen(&old, &format!("{key} = {value}"), 1);
    }
    let path = dir.file("plan.toml");
    std::fs::write(&path, text).expect("write plan");
    path.display().to_string()
}

#[test]
fn past_its_call_rate_the_gateway_refuses_new_calls_at_once_and_completes_the_admitted() {
    let dir = TestDir::new("overload");
    let plan = plan_with_protection(&dir, &[("calls_per_second", "50")]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(1000)
        .timeout(60);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    let seat = seat.spawn();
    // Twice the configured rate for 6 s.
    let started = Instant::now();
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .arg("-sf")
        .arg(scenario("uac_or_503.xml").display().to_string())
        .args(["-s", "1001", "-r", "100", "-l", "200"])
        .calls(600)
        .timeout(60)
        .run(Duration::from_secs(60));
    let elapsed = started.elapsed().as_secs_f64();
    let seat = seat.finish(Duration::from_secs(5));
    let text = metrics(&gw);
    let refused = metric(
        &text,
        "hotline_sip_overload_refused_total",
        &[("reason", "rate")],
    );
    let admitted = metric(&text, "hotline_sip_calls_started_total", &[]);
    let stats = caller.stats().expect("caller stats");
    assert_eq!(
        stats.successful + stats.failed,
        600,
        "{}",
        failure("every call ends", &[&caller, &seat], &gw)
    );
    assert!(
        stats.failed as f64 <= admitted * 0.001,
        "admitted calls ≥ 99.9 % successful: {} failed of {admitted} admitted\n{}",
        stats.failed,
        failure("overload", &[&caller, &seat], &gw)
    );
    assert_eq!(
        admitted + refused,
        600.0,
        "each call admitted or refused: {text}"
    );
    assert!(
        refused >= 100.0,
        "about a third refused at twice the rate: {refused}"
    );
    // Goodput: the configured 50 calls/s (plus its 100-call burst) over the run.
    let goodput = admitted / elapsed.max(6.0);
    eprintln!(
        "offered 600 at 100/s: admitted {admitted}, refused {refused}, failed {}, {elapsed:.1} s",
        stats.failed
    );
    assert!(
        admitted >= 0.9 * 50.0 * 6.0,
        "goodput ≥ 90 % of the configured rate: {admitted} admitted in {elapsed:.1} s ({goodput:.0}/s)"
    );
}

/// OPTIONS from `from` as fast as it can for `period`; returns (sent, answered).
fn options_flood(from: &str, gw_port: u16, period: Duration) -> (u32, u32) {
    let sock = UdpSocket::bind((from, 0)).expect("bind flooder");
    sock.set_nonblocking(true).unwrap();
    let local = sock.local_addr().unwrap();
    let (mut sent, mut answered) = (0u32, 0u32);
    let mut buf = [0u8; 4096];
    let end = Instant::now() + period;
    while Instant::now() < end {
        let msg = format!(
            "OPTIONS sip:scan@127.0.0.1:{gw_port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-fl{sent}\r\n\
             From: <sip:scan@{local}>;tag=fl{sent}\r\nTo: <sip:scan@127.0.0.1>\r\nCall-ID: flood{sent}@scan\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        if sock.send_to(msg.as_bytes(), ("127.0.0.1", gw_port)).is_ok() {
            sent += 1;
        }
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 200") {
                answered += 1;
            }
        }
        // About 2,000 a second.
        if sent % 20 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        if buf[..n].starts_with(b"SIP/2.0 200") {
            answered += 1;
        }
    }
    (sent, answered)
}

#[test]
fn a_flooding_source_is_held_to_its_rate_and_a_password_guesser_blocked_while_calls_go_on() {
    let dir = TestDir::new("flood");
    let secrets = dir.file("secrets.toml");
    std::fs::write(&secrets, "[seats]\n1001 = \"correct-horse-battery\"\n").unwrap();
    let secrets = secrets.display().to_string();
    let gw = Gateway::start(
        &dir,
        &["--secrets", &secrets, "--digest-algorithms", "md5,sha-256"],
    );
    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(300)
        .timeout(90);
    let registered = Sipp::new(&dir, "register")
        .remote(gw.port)
        .arg("-sf")
        .arg(register_xml().display().to_string())
        .calls(1)
        .args(["-key", "seat", "1001", "-key", "contact_port"])
        .arg(seat.local_port.to_string())
        .args(["-au", "1001", "-ap", "correct-horse-battery"])
        .timeout(8)
        .run(Duration::from_secs(15));
    expect_all_ok("the seat registers", &[&registered], &gw);
    let seat = seat.spawn();
    let calls = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", "1001", "-r", "30", "-d", "100"])
        .calls(300)
        .timeout(60)
        .spawn();

    // A scanner floods OPTIONS from 127.0.0.3; another guesses passwords from 127.0.0.2.
    let port = gw.port;
    let flood =
        std::thread::spawn(move || options_flood("127.0.0.3", port, Duration::from_secs(6)));
    let guesser = Sipp::new(&dir, "guesser")
        .remote(gw.port)
        .arg("-sf")
        .arg(register_xml().display().to_string())
        .args(["-i", "127.0.0.2", "-r", "2"])
        .calls(10)
        .args(["-key", "seat", "1001", "-key", "contact_port", "5999"])
        .args(["-au", "1001", "-ap", "wrong-guess"])
        .timeout(20)
        .run(Duration::from_secs(40));
    let (sent, answered) = flood.join().expect("flooder");
    let calls = calls.wait(Duration::from_secs(60));
    let seat = seat.finish(Duration::from_secs(5));
    let stats = calls.stats().expect("caller stats");
    assert!(
        stats.successful >= 300 * 999 / 1000,
        "{}",
        failure(
            "real calls ≥ 99.9 % successful under the flood",
            &[&calls, &seat],
            &gw
        )
    );
    // OPTIONS: 20 a second with a burst of 40 over ~6 s, far fewer than sent.
    assert!(sent > 5_000, "the flood was a flood: {sent}");
    assert!(
        (40..=40 + 20 * 8).contains(&answered),
        "the flooder is answered at its rate only: {answered} of {sent}"
    );
    let text = metrics(&gw);
    eprintln!(
        "calls {}/300 ok; OPTIONS flood: {sent} sent, {answered} answered",
        stats.successful
    );
    let dropped = metric(
        &text,
        "hotline_sip_flood_dropped_total",
        &[("method", "OPTIONS")],
    );
    assert!(
        dropped >= f64::from(sent - answered) * 0.9,
        "{dropped} dropped: {text}"
    );
    // The guesser: 5 failures, then ignored.
    assert!(!guesser.ok(), "a wrong password never registers");
    assert_eq!(
        metric(&text, "hotline_sip_source_blocks_total", &[]),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "hotline_sip_blocked_sources", &[]),
        1.0,
        "{text}"
    );
    assert!(
        metric(&text, "hotline_sip_blocked_messages_total", &[]) >= 1.0,
        "{text}"
    );
    assert!(gw.alive(), "the server stays up");
}
