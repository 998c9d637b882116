//! Supervisor controls over the API against a running `hotline serve`, with SIPp callers and
//! seats: a waiting call withdrawn to a named seat that does not serve its queue, and a seat
//! moved into a pool that serves a waiting call, which it is then offered at once. Bad input
//! gets 4xx and changes nothing.

mod common;

use std::time::Duration;

use common::*;

fn post(gw: &Gateway, path: &str, body: &str) -> (u16, String) {
    http(gw.http, "POST", path, Some(body))
}

/// The id of the one waiting call, once there is one.
fn waiting_call(gw: &Gateway) -> u64 {
    let mut id = None;
    eventually(Duration::from_secs(10), "a call waits", || {
        let (_, body) = http(gw.http, "GET", "/api/v1/calls", None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        id = v["calls"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["state"] == "waiting"))
            .and_then(|c| c["id"].as_u64());
        id.is_some()
    });
    id.unwrap()
}

fn caller(dir: &TestDir, gw: &Gateway, name: &str) -> Running {
    Sipp::new(dir, name)
        .remote(gw.port)
        .args(["-sn", "uac", "-s", "12345", "-d", "2000"])
        .calls(1)
        .timeout(60)
        .spawn()
}

#[test]
fn a_supervisor_withdraws_a_waiting_call_and_moves_a_seat_between_pools() {
    let dir = TestDir::new("supervisor");
    let gw = Gateway::start(&dir, &[]);
    // Support seats take 12345's callers only after a minute: these two would leave them
    // waiting.
    let seat_a = Sipp::new(&dir, "seat-2001")
        .args(["-sn", "uas"])
        .calls(1)
        .timeout(60);
    let seat_b = Sipp::new(&dir, "seat-2002")
        .args(["-sn", "uas"])
        .calls(1)
        .timeout(60);
    register_seat(&dir, &gw, "2001", seat_a.local_port, false);
    register_seat(&dir, &gw, "2002", seat_b.local_port, false);
    ready(&gw, "2001");
    ready(&gw, "2002");
    let (seat_a, seat_b) = (seat_a.spawn(), seat_b.spawn());

    let first = caller(&dir, &gw, "caller-1");
    let id = waiting_call(&gw);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(waiting_call(&gw), id, "nobody takes it by routing");
    let path = format!("/api/v1/calls/{id}/withdraw");
    for (p, body, status, code) in [
        (
            "/api/v1/calls/999999/withdraw",
            r#"{"seat":"2001"}"#,
            404,
            "unknown_call",
        ),
        (path.as_str(), r#"{"seat":"9999"}"#, 404, "unknown_seat"),
        (path.as_str(), r#"{"seat":"1001"}"#, 409, "not_registered"),
        (path.as_str(), r#"{}"#, 422, "invalid_body"),
        (
            path.as_str(),
            r#"{"seat":"2001","x":1}"#,
            422,
            "invalid_body",
        ),
    ] {
        let (got, text) = post(&gw, p, body);
        assert_eq!(got, status, "{p} {body}: {text}");
        assert!(text.contains(code), "{p} {body}: {text}");
    }
    assert_eq!(waiting_call(&gw), id, "refusals change nothing");
    let (status, body) = post(&gw, &path, r#"{"seat":"2001"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""seat":"2001""#), "{body}");
    let first = first.wait(Duration::from_secs(30));
    let seat_a = seat_a.finish(Duration::from_secs(10));
    assert!(
        first.ok() && seat_a.ok(),
        "{}",
        failure(
            "the withdrawn call is answered by 2001",
            &[&first, &seat_a],
            &gw
        )
    );
    let (status, body) = post(&gw, &path, r#"{"seat":"2002"}"#);
    assert_eq!(status, 404, "a finished call cannot be withdrawn: {body}");

    let second = caller(&dir, &gw, "caller-2");
    let id = waiting_call(&gw);
    for (p, body, status, code) in [
        (
            "/api/v1/seats/9999/pools",
            r#"{"pool":"intake"}"#,
            404,
            "unknown_seat",
        ),
        (
            "/api/v1/seats/2002/pools",
            r#"{"pool":"nowhere"}"#,
            422,
            "unknown_pool",
        ),
        (
            "/api/v1/seats/2002/pools",
            r#"{"skills":["legal:11"]}"#,
            422,
            "invalid_skill",
        ),
        (
            "/api/v1/seats/2002/pools",
            r#"{"skills":["astrology:5"]}"#,
            422,
            "invalid_skill",
        ),
        ("/api/v1/seats/2002/pools", r#"{}"#, 422, "invalid_body"),
        (
            "/api/v1/seats/2002/pools",
            r#"{"pool":7}"#,
            422,
            "invalid_body",
        ),
    ] {
        let (got, text) = post(&gw, p, body);
        assert_eq!(got, status, "{p} {body}: {text}");
        assert!(text.contains(code), "{p} {body}: {text}");
    }
    assert_eq!(waiting_call(&gw), id, "refusals change nothing");
    let (status, body) = post(
        &gw,
        "/api/v1/seats/2002/pools",
        r#"{"pool":"intake","skills":["legal:7"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""pool":"intake""#), "{body}");
    assert!(body.contains(r#""skills":["legal:7"]"#), "{body}");
    let second = second.wait(Duration::from_secs(30));
    let seat_b = seat_b.finish(Duration::from_secs(10));
    assert!(
        second.ok() && seat_b.ok(),
        "{}",
        failure(
            "the moved seat takes the waiting call",
            &[&second, &seat_b],
            &gw
        )
    );
    let (_, body) = http(gw.http, "GET", "/api/v1/seats/2002", None);
    assert!(body.contains(r#""pool":"intake""#), "{body}");
}
