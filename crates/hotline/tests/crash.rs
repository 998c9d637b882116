//! Crash safety and graceful stop of `hotline serve`, with SIPp: SIGKILL under load and a
//! restart (every call SIPp saw complete has exactly one record, the calls in flight are
//! recorded as interrupted, the server answers again within a second, the seat's next
//! registration brings calls back); SIGTERM refuses new calls at once while the calls in
//! progress finish, or ends them when the drain limit passes.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;

fn register(dir: &TestDir, gw: &Gateway, name: &str, port: u16) {
    let out = Sipp::new(dir, name)
        .remote(gw.port)
        .arg("-sf")
        .arg(register_xml().display().to_string())
        .calls(1)
        .args(["-key", "seat", "1001", "-key", "contact_port"])
        .arg(port.to_string())
        .timeout(10)
        .run(Duration::from_secs(20));
    expect_all_ok("the seat registers", &[&out], gw);
}

/// The call numbers (From user 9<n>) whose BYE SIPp saw answered 200, from its message log.
fn completed_calls(messages_log: &str) -> HashSet<String> {
    messages_log
        .split("----------------------------------------------- ")
        .filter(|m| m.contains("message received") && m.contains("CSeq: 2 BYE"))
        .filter(|m| m.lines().any(|l| l.trim_start().starts_with("SIP/2.0 200")))
        .filter_map(|m| {
            let from = m.lines().find(|l| l.starts_with("From:"))?;
            let user = from.split("sip:").nth(1)?.split('@').next()?;
            Some(user.to_owned())
        })
        .collect()
}

/// caller → outcomes of its rows in `calls`.
fn call_rows(gw: &Gateway) -> HashMap<String, Vec<String>> {
    let conn = hotline::store::open_read_only(&gw.data).expect("open the database");
    let mut st = conn
        .prepare("SELECT caller, outcome, ended_at IS NOT NULL FROM calls")
        .expect("prepare");
    let mut rows: HashMap<String, Vec<String>> = HashMap::new();
    for r in st
        .query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, bool>(2)?,
            ))
        })
        .expect("query")
    {
        let (caller, outcome, ended) = r.expect("row");
        assert!(
            ended,
            "every call has an end after recovery: {caller} {outcome}"
        );
        rows.entry(caller).or_default().push(outcome);
    }
    rows
}

#[test]
fn killed_under_load_the_server_restarts_within_a_second_and_loses_no_completed_call() {
    let dir = TestDir::new("crash_sigkill");
    // A slow disk (50 ms a commit) widens the window between answering a BYE and storing the
    // call's end: the gateway must not answer before the record is durable.
    // Calls last longer on a slow disk: more RTP ports than a test's usual block.
    let slow = [
        "--fault-commit-delay-ms",
        "50",
        "--rtp-ports",
        "40000-41999",
    ];
    let mut gw = Gateway::start(&dir, &slow);
    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(2000)
        .timeout(60);
    register(&dir, &gw, "register-1", seat.local_port);
    let seat_port = seat.local_port;
    let seat = seat.spawn();
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .arg("-sf")
        .arg(scenario("uac_numbered.xml").display().to_string())
        .args(["-s", "1001", "-r", "100", "-l", "300"])
        .calls(800)
        .timeout(40)
        .spawn();
    std::thread::sleep(Duration::from_secs(3));
    gw.signal("KILL");
    eventually(Duration::from_secs(5), "the server is gone", || !gw.alive());
    let took = gw.restart(dir.file("gateway-restarted.log"), &slow);
    assert!(
        took < Duration::from_secs(1),
        "serves again within a second: {took:?}"
    );
    assert!(
        gw.log_tail().contains("closed as interrupted"),
        "{}",
        gw.log_tail()
    );
    // The seat's phone refreshes its registration; calls reach it again.
    register(&dir, &gw, "register-2", seat_port);
    let after = Sipp::new(&dir, "caller-after")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", "1001", "-r", "50"])
        .calls(50)
        .timeout(30)
        .run(Duration::from_secs(40));
    // Every call of the first caller ends: before the kill, in flight (failed), or after.
    let caller = caller.wait(Duration::from_secs(60));
    let seat = seat.finish(Duration::from_secs(1));
    assert!(
        after.ok(),
        "{}",
        failure("calls after the restart", &[&after], &gw)
    );

    let completed = completed_calls(&read_lossy(&dir.file("caller.messages.log")));
    let rows = call_rows(&gw);
    assert!(
        completed.len() >= 100,
        "a load worth the name completed: {}\n{}",
        completed.len(),
        caller.report()
    );
    for n in &completed {
        let outcomes = rows.get(n).cloned().unwrap_or_default();
        assert_eq!(
            outcomes,
            vec!["answered".to_owned()],
            "call {n} completed before the kill: exactly one record, answered"
        );
    }
    let interrupted = rows
        .values()
        .flatten()
        .filter(|o| *o == "interrupted")
        .count();
    assert!(
        interrupted >= 1,
        "calls in flight are recorded as interrupted"
    );
    for (n, outcomes) in rows.iter().filter(|(n, _)| n.starts_with('9')) {
        assert_eq!(outcomes.len(), 1, "call {n} recorded once: {outcomes:?}");
    }
    assert_eq!(
        rows.get("sipp").map(Vec::len),
        Some(50),
        "the 50 calls after the restart are recorded"
    );
    eprintln!(
        "calls SIPp saw complete (before the kill and after): {}, interrupted: {interrupted}, restart to first answer: {took:?}; seat {}",
        completed.len(),
        seat.ok()
    );
}

/// A raw INVITE to `dialed`; the first final response's status line and headers.
fn invite_now(gw: &Gateway, dialed: &str) -> String {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let req = invite(&sip, gw.port, 40_000, dialed, "late1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 65_535];
    while Instant::now() < deadline {
        sip.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if status_code(&msg).is_some_and(|s| s >= 200) {
                return msg;
            }
        }
    }
    panic!("no final response to a new INVITE");
}

/// A server with `--drain <drain>` and one call up: a SIPp seat, and a SIPp caller that hangs
/// up after `hold_ms`.
fn one_call_up(name: &str, drain: &str, hold_ms: &str) -> (TestDir, Gateway, Running, Running) {
    let dir = TestDir::new(name);
    let gw = Gateway::start(&dir, &["--drain", drain]);
    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(1)
        .timeout(30);
    register(&dir, &gw, "register", seat.local_port);
    let seat = seat.spawn();
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", "1001", "-d", hold_ms])
        .calls(1)
        .timeout(30)
        .spawn();
    eventually(Duration::from_secs(5), "the call is up", || {
        let (_, body) = http(gw.http, "GET", "/api/v1/calls", None);
        body.contains(r#""state":"talking""#)
    });
    (dir, gw, seat, caller)
}

#[test]
fn sigterm_refuses_new_calls_and_lets_the_call_in_progress_finish() {
    let (_dir, gw, seat, caller) = one_call_up("stop_drain", "20", "4000");
    let asked = Instant::now();
    gw.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    let refused = invite_now(&gw, "1001");
    assert_eq!(status_code(&refused), Some(503), "{refused}");
    assert!(
        header(&refused, "Retry-After").parse::<u32>().is_ok(),
        "{refused}"
    );
    let caller = caller.finish(Duration::from_secs(10));
    let seat = seat.finish(Duration::from_secs(5));
    assert!(
        caller.ok() && seat.ok(),
        "{}",
        failure(
            "the call in progress finishes normally",
            &[&caller, &seat],
            &gw
        )
    );
    let status = gw
        .terminate(Duration::from_secs(5))
        .expect("exits once drained");
    assert!(status.success(), "{status}: {}", gw.log_tail());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "it stops when the last call ends, not at the limit: {:?}",
        asked.elapsed()
    );
    let rows = call_rows(&gw);
    assert_eq!(
        rows.values().flatten().cloned().collect::<Vec<_>>(),
        vec!["answered".to_owned()],
        "the call is recorded answered, nothing interrupted"
    );
}

#[test]
fn at_the_drain_limit_the_calls_left_are_ended_and_recorded() {
    let (_dir, gw, seat, caller) = one_call_up("stop_drain_limit", "2", "60000");
    let asked = Instant::now();
    let status = gw
        .terminate(Duration::from_secs(8))
        .expect("exits after the limit");
    let took = asked.elapsed();
    assert!(status.success(), "{status}: {}", gw.log_tail());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "ends the calls at the 2 s limit: {took:?}"
    );
    // The seat got the platform's BYE (its scenario ends on a BYE).
    let seat = seat.finish(Duration::from_secs(5));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat is hung up", &[&seat], &gw)
    );
    drop(caller);
    let rows = call_rows(&gw);
    assert_eq!(
        rows.values().flatten().cloned().collect::<Vec<_>>(),
        vec!["answered".to_owned()],
        "the call is recorded as answered and ended, not interrupted"
    );
}
