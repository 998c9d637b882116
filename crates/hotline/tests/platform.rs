//! The running platform end to end with SIPp: the Zhengzhou plan, 30 intake seats that
//! register and go ready over the HTTP API, callers on 12345 and merged lines queued to them,
//! abandons while waiting, 12348 to legal experts and widening to intake, feature codes —
//! and every count agreeing between `/api/v1/stats`, `/metrics`, the database and SIPp.

mod common;

use std::time::Duration;

use common::*;

/// The embedded plan with no wrap-up (so 30 seats turn calls over quickly) and 12348's
/// widening to intake after 5 s instead of 30 s (so the test does not wait). Everything else
/// is the shipped `deploy/zhengzhou.toml`.
fn test_plan(dir: &TestDir) -> String {
    let text = include_str!("../../../deploy/zhengzhou.toml");
    let changed = test_plan_text(text);
    assert_ne!(
        changed, text,
        "the test plan must differ from the shipped one"
    );
    let path = dir.file("plan.toml");
    std::fs::write(&path, changed).expect("write plan");
    path.display().to_string()
}

fn test_plan_text(shipped: &str) -> String {
    shipped
        .replace(r#"wrap_up = "30s""#, r#"wrap_up = "0s""#)
        .replace(r#"wrap_up = "60s""#, r#"wrap_up = "0s""#)
        .replace(r#"after = "30s""#, r#"after = "5s""#)
}

fn ready(gw: &Gateway, seat: &str) {
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/seats/{seat}/state"),
        Some(r#"{"state":"ready"}"#),
    );
    assert_eq!(status, 200, "seat {seat} ready: {body}");
    assert!(body.contains(r#""state":"ready""#), "{body}");
}

fn log_out(gw: &Gateway, seat: &str) {
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/seats/{seat}/state"),
        Some(r#"{"state":"logged_out"}"#),
    );
    assert_eq!(status, 200, "seat {seat} log out: {body}");
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Callers that run `scenario` against `service`; panics unless every call succeeds.
fn callers(
    dir: &TestDir,
    gw: &Gateway,
    name: &str,
    service: &str,
    scenario: Option<&str>,
    (calls, rate, hold_ms): (u32, u32, u32),
) -> Outcome {
    let caller = match scenario {
        Some(file) => Sipp::caller(dir, name, gw, file, service),
        None => Sipp::new(dir, name)
            .remote(gw.port)
            .args(["-sn", "uac", "-s", service]),
    };
    let out = caller
        .args([
            "-r".to_owned(),
            rate.to_string(),
            "-d".to_owned(),
            hold_ms.to_string(),
        ])
        .args(["-l", "200"])
        .calls(calls)
        .timeout(120)
        .run(Duration::from_secs(150));
    let st = out.stats().unwrap_or_else(|| {
        panic!(
            "{}",
            failure(&format!("{name}: no statistics"), &[&out], gw)
        )
    });
    if st.successful != u64::from(calls) || st.failed != 0 {
        panic!(
            "{}",
            failure(
                &format!(
                    "{name}: {} successful, {} failed of {calls}",
                    st.successful, st.failed
                ),
                &[&out],
                gw
            )
        );
    }
    out
}

#[test]
fn thirty_seats_take_queued_calls_and_every_count_agrees() {
    let dir = TestDir::new("platform_counts");
    let plan = test_plan(&dir);
    let gw = Gateway::start(&dir, &["--config", &plan]);

    // One SIPp answers for every seat: each seat registers with its Contact on that port.
    let seats_uas = Sipp::new(&dir, "seats")
        .args(["-sn", "uas"])
        .calls(402)
        .timeout(240);
    let seats: Vec<String> = (1001..=1030).map(|s| s.to_string()).collect();
    for seat in &seats {
        register_seat(&dir, &gw, seat, seats_uas.local_port, false);
    }
    register_seat(&dir, &gw, "1101", seats_uas.local_port, false);
    let seats_uas = seats_uas.spawn();

    // Nobody is ready yet: callers wait, and hang up after 2 s (short) or 8 s (long).
    let short = std::thread::scope(|s| {
        let short = s.spawn(|| {
            callers(
                &dir,
                &gw,
                "abandon-short",
                "12345",
                Some("uac_abandon.xml"),
                (10, 10, 2000),
            )
        });
        let long = s.spawn(|| {
            callers(
                &dir,
                &gw,
                "abandon-long",
                "12345",
                Some("uac_abandon.xml"),
                (10, 10, 8000),
            )
        });
        let _ = long.join().expect("long abandons");
        short.join().expect("short abandons")
    });
    drop(short);

    // 12348 with a legal expert ready goes to the expert.
    ready(&gw, "1101");
    callers(&dir, &gw, "legal-expert", "12348", None, (1, 1, 500));
    log_out(&gw, "1101");

    for seat in &seats {
        ready(&gw, seat);
    }
    // 12348 with no expert ready widens to intake (after 5 s in the test plan).
    callers(&dir, &gw, "legal-intake", "12348", None, (1, 1, 500));

    // 300 calls to 12345 and 100 to the merged 民政 line 12349, 1 s conversations.
    std::thread::scope(|s| {
        let a = s.spawn(|| callers(&dir, &gw, "calls-12345", "12345", None, (300, 15, 1000)));
        let b = s.spawn(|| callers(&dir, &gw, "calls-12349", "12349", None, (100, 5, 1000)));
        a.join().expect("12345 callers");
        b.join().expect("12349 callers");
    });
    let seats_uas = seats_uas.finish(Duration::from_secs(10));
    expect_all_ok("the seats' SIPp answered every call", &[&seats_uas], &gw);

    // /api/v1/stats
    let (status, body) = http(gw.http, "GET", "/api/v1/stats", None);
    assert_eq!(status, 200, "{body}");
    let stats = json(&body);
    let totals = &stats["totals"];
    assert_eq!(totals["offered"], 422, "{body}");
    assert_eq!(totals["answered"], 402, "{body}");
    assert_eq!(totals["abandoned_short"], 10, "{body}");
    assert_eq!(totals["abandoned_long"], 10, "{body}");
    assert_eq!(totals["waiting"], 0, "{body}");
    let today = |line: &str, key: &str| {
        stats["lines"][line]["today"][key]
            .as_u64()
            .unwrap_or(u64::MAX)
    };
    let expected = [
        ("12345", 320, 300, 10, 10),
        ("12349", 100, 100, 0, 0),
        ("12348", 2, 2, 0, 0),
    ];
    for (line, offered, answered, short, long) in expected {
        assert_eq!(today(line, "offered"), offered, "{line} offered: {body}");
        assert_eq!(today(line, "answered"), answered, "{line} answered");
        assert_eq!(today(line, "abandoned_short"), short, "{line} short");
        assert_eq!(today(line, "abandoned_long"), long, "{line} long");
    }

    // /metrics
    let (status, text) = http(gw.http, "GET", "/metrics", None);
    assert_eq!(status, 200, "{text}");
    for (line, offered, answered, short, long) in expected {
        let l = [("line", line)];
        assert_eq!(
            metric(&text, "hotline_calls_offered_total", &l),
            offered as f64,
            "{line}"
        );
        assert_eq!(
            metric(&text, "hotline_calls_answered_total", &l),
            answered as f64,
            "{line}"
        );
        let s = [("line", line), ("short", "true")];
        assert_eq!(
            metric(&text, "hotline_calls_abandoned_total", &s),
            short as f64,
            "{line}"
        );
        let s = [("line", line), ("short", "false")];
        assert_eq!(
            metric(&text, "hotline_calls_abandoned_total", &s),
            long as f64,
            "{line}"
        );
    }
    assert_eq!(
        metric(&text, "hotline_wait_seconds_count", &[("line", "12345")]),
        300.0,
        "one wait sample per answered call"
    );
    assert!(
        metric(
            &text,
            "hotline_seats",
            &[("pool", "intake"), ("state", "ready")]
        ) >= 30.0
    );

    // The database: the stored events alone give the same counts.
    let conn = hotline::store::open_read_only(&gw.data).expect("open the database");
    let stored = hotline::store::totals(&conn, 0, i64::MAX, 15_000).expect("totals");
    for (line, offered, answered, short, long) in expected {
        let c = &stored.lines[line];
        assert_eq!(
            (c.offered, c.answered, c.abandoned_short, c.abandoned_long),
            (offered, answered, short, long),
            "{line} in the database"
        );
        let within = today(line, "answered_within");
        assert_eq!(c.answered_within, within, "{line} answered within 15 s");
        // ASA and AHT (wrap-up is 0 in the test plan) from the stored waits and talk times.
        let (asa, aht): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT sum(wait_ms) / count(*) FROM queue_events \
                         WHERE kind = 'connect' AND line = ?1), \
                        (SELECT sum(talk_ms) / count(*) FROM calls \
                         WHERE outcome = 'answered' AND line = ?1)",
                [line],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("ASA and AHT");
        assert_eq!(
            Some(asa as u64),
            stats["lines"][line]["today"]["asa_ms"].as_u64(),
            "{line} ASA"
        );
        assert_eq!(
            Some(aht as u64),
            stats["lines"][line]["today"]["aht_ms"].as_u64(),
            "{line} AHT"
        );
    }
    let calls: i64 = conn
        .query_row(
            "SELECT count(*) FROM calls WHERE ended_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count calls");
    assert_eq!(calls, 422, "every call has its finished record");

    // 12349 reached a seat with topic 民政 and line 12349 kept.
    let (topic, seat): (String, i64) = conn
        .query_row(
            "SELECT topic, seat FROM calls WHERE line = '12349' AND outcome = 'answered' LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a 12349 call");
    assert_eq!(topic, "民政");
    assert!((1001..=1030).contains(&seat), "seat {seat}");

    // 12348: the first call went to legal expert 1101, the second (no expert ready) to intake.
    let mut rows = conn
        .prepare("SELECT seat FROM calls WHERE line = '12348' ORDER BY id")
        .expect("prepare");
    let legal: Vec<i64> = rows
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(legal.len(), 2, "{legal:?}");
    assert_eq!(legal[0], 1101, "expert first");
    assert!(
        (1001..=1030).contains(&legal[1]),
        "intake when no expert: {legal:?}"
    );
}

#[test]
fn feature_codes_and_api_errors_change_seat_state_or_nothing() {
    let dir = TestDir::new("platform_seats");
    let gw = Gateway::start(&dir, &[]);
    let phone_port = free_port();
    register_seat(&dir, &gw, "1002", phone_port, false);

    let dial = |code: &str| {
        let out = Sipp::caller(
            &dir,
            &format!("feature{}", code.trim_start_matches('*')),
            &gw,
            "uac_feature.xml",
            code,
        )
        .local_port(phone_port)
        .args(["-key", "seat", "1002"])
        .calls(1)
        .timeout(10)
        .run(Duration::from_secs(20));
        expect_all_ok(&format!("seat 1002 dials {code}"), &[&out], &gw);
        let (_, body) = http(gw.http, "GET", "/api/v1/seats/1002", None);
        json(&body)["state"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(dial("*11"), "ready");
    assert_eq!(dial("*12"), "not_ready");
    assert_eq!(dial("*13"), "logged_out");

    // Bad input: JSON errors and nothing changed.
    let before = http(gw.http, "GET", "/api/v1/seats", None).1;
    let cases: [(&str, &str, Option<&str>, u16); 5] = [
        (
            "POST",
            "/api/v1/seats/9999/state",
            Some(r#"{"state":"ready"}"#),
            404,
        ),
        (
            "POST",
            "/api/v1/seats/1002/state",
            Some(r#"{"state":"logged_out"}"#),
            409,
        ),
        (
            "POST",
            "/api/v1/seats/1003/state",
            Some(r#"{"state":"ready"}"#),
            409,
        ),
        (
            "POST",
            "/api/v1/seats/1002/state",
            Some(r#"{"state":"asleep"}"#),
            422,
        ),
        ("POST", "/api/v1/seats/1002/state", Some("{not json"), 400),
    ];
    for (method, path, body, want) in cases {
        let (status, reply) = http(gw.http, method, path, body);
        assert_eq!(status, want, "{method} {path} {body:?}: {reply}");
        assert!(
            json(&reply)["error"]["code"].is_string(),
            "JSON error: {reply}"
        );
    }
    assert_eq!(
        http(gw.http, "GET", "/api/v1/seats", None).1,
        before,
        "nothing changed"
    );

    // An unknown number gets 404 from the dial plan.
    let out = Sipp::caller(&dir, "unknown", &gw, "uac_expect_404.xml", "4444")
        .calls(1)
        .timeout(10)
        .run(Duration::from_secs(20));
    expect_all_ok("unknown number: 404", &[&out], &gw);
}

#[test]
fn calls_in_flight_at_a_crash_are_closed_as_interrupted_at_the_next_start() {
    let dir = TestDir::new("platform_crash");
    let gw = Gateway::start(&dir, &[]);
    // Nobody is ready: the caller waits (it would hang up after 30 s).
    let caller = Sipp::caller(&dir, "waiting", &gw, "uac_abandon.xml", "12345")
        .args(["-d", "30000"])
        .calls(1)
        .timeout(40)
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = http(gw.http, "GET", "/api/v1/calls", None);
        if body.contains(r#""state":"waiting""#) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no waiting call: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The stats reply waits for the store, so the call's start is on disk now.
    let (status, _) = http(gw.http, "GET", "/api/v1/stats", None);
    assert_eq!(status, 200);
    drop(gw); // SIGKILL: no orderly shutdown
    drop(caller);

    let gw = Gateway::start(&dir, &[]);
    assert!(
        gw.log_tail()
            .contains("1 call(s) in flight at the last stop closed as interrupted"),
        "{}",
        gw.log_tail()
    );
    let conn = hotline::store::open_read_only(&gw.data).expect("open the database");
    let (outcome, ended): (String, Option<i64>) = conn
        .query_row("SELECT outcome, ended_at FROM calls", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the call's row");
    assert_eq!(outcome, "interrupted");
    assert!(ended.is_some());
}

#[test]
fn sigterm_stops_the_server_cleanly_with_every_record_written() {
    let dir = TestDir::new("platform_sigterm");
    let gw = Gateway::start(&dir, &[]);
    let out = Sipp::caller(&dir, "unknown", &gw, "uac_expect_404.xml", "4444")
        .calls(1)
        .timeout(10)
        .run(Duration::from_secs(20));
    expect_all_ok("unknown number: 404", &[&out], &gw);
    let status = gw
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}: {}", gw.log_tail());
    let conn = hotline::store::open_read_only(&gw.data).expect("open the database");
    let (outcome, line): (String, String) = conn
        .query_row("SELECT outcome, line FROM calls", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the call's row");
    assert_eq!((outcome.as_str(), line.as_str()), ("rejected", "4444"));
}

#[test]
fn a_bad_configuration_never_starts_a_server() {
    let dir = TestDir::new("platform_bad_config");
    let bad = dir.file("bad.toml");
    let shipped = include_str!("../../../deploy/zhengzhou.toml");
    // A contradiction deep in the file: a line feeding a queue that does not exist.
    let text = shipped.replacen(r#"queue = "12348""#, r#"queue = "12399""#, 1);
    assert_ne!(text, shipped);
    std::fs::write(&bad, &text).expect("write");
    let line = text
        .lines()
        .position(|l| l.contains(r#"queue = "12399""#))
        .expect("the changed line")
        + 1;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args([
            "serve",
            "--sip",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&bad)
        .arg("--data")
        .arg(dir.file("data"))
        .output()
        .expect("run hotline");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("bad.toml:{line}: key `lines")),
        "names file, line and key: {stderr}"
    );
    assert!(stderr.contains("12399"), "{stderr}");
    assert!(!dir.file("data").exists(), "nothing was started or created");
}
