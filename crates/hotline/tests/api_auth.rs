//! API tokens, roles, masking and the audit ledger end to end: a real `hotline serve` with a
//! secrets file, requests over TCP, a caller over raw SIP, the ledger read back through the
//! API and straight from SQLite (where the triggers refuse any change). And without a
//! secrets file: loopback clients are admin, as every other end-to-end test relies on.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use serde_json::Value;

const ADMIN: &str = "adm-0123456789abcdef0123456789abcdef";
const SUPERVISOR: &str = "sup-0123456789abcdef0123456789abcdef";
const SEAT_1001: &str = "s1001-0123456789abcdef0123456789abcdef";
const CALLER: &str = "13812341234";

fn secrets(dir: &TestDir) -> String {
    let text = format!(
        "[seats]\n1001 = \"seat-password\"\n\n\
         [tokens.root]\ntoken = \"{ADMIN}\"\nrole = \"admin\"\n\n\
         [tokens.duty-1]\ntoken = \"{SUPERVISOR}\"\nrole = \"supervisor\"\n\n\
         [tokens.seat-1001]\ntoken = \"{SEAT_1001}\"\nrole = \"seat\"\nseat = \"1001\"\n"
    );
    let path = dir.file("secrets.toml");
    std::fs::write(&path, text).expect("write secrets");
    path.display().to_string()
}

/// An answer: status, head (lower-cased) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request with an optional bearer token.
fn call_api(gw: &Gateway, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", gw.http)).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn get(gw: &Gateway, path: &str, token: Option<&str>) -> Answer {
    call_api(gw, "GET", path, token, "")
}

/// The ledger's rows as (actor, action, status, path, detail).
fn ledger(gw: &Gateway, query: &str) -> Vec<(String, String, u64, String, String)> {
    let a = get(gw, &format!("/api/v1/audit{query}"), Some(ADMIN));
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["audit"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                s("actor"),
                s("action"),
                r["status"].as_u64().unwrap_or(0),
                s("path"),
                s("detail"),
            )
        })
        .collect()
}

/// A caller from `CALLER` waiting in 12345's queue (no seat is ready).
fn waiting_caller(gw: &Gateway) -> UdpSocket {
    let sip = UdpSocket::bind("127.0.0.1:0").expect("sip socket");
    let media = UdpSocket::bind("127.0.0.1:0").expect("media socket");
    let req = invite(
        &sip,
        gw.port,
        media.local_addr().expect("addr").port(),
        "12345",
        "audit1",
    )
    .replace("sip:raw@", &format!("sip:{CALLER}@"));
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port))
        .expect("send INVITE");
    until_status(&sip, 183, Duration::from_secs(5));
    sip
}

#[test]
fn tokens_roles_masking_and_the_ledger() {
    let dir = TestDir::new("api_auth");
    let secrets = secrets(&dir);
    let gw = Gateway::start(&dir, &["--secrets", &secrets]);
    assert!(
        gw.log_tail().contains("API auth   bearer tokens"),
        "{}",
        gw.log_tail()
    );

    // No token: 401 with a challenge; liveness stays open.
    let a = get(&gw, "/api/v1/seats", None);
    assert_eq!((a.status, a.code().as_str()), (401, "unauthenticated"));
    assert!(
        a.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{}",
        a.head
    );
    assert_eq!(get(&gw, "/healthz", None).status, 200);

    // A seat: its own seat yes, another no.
    assert_eq!(get(&gw, "/api/v1/seats/1001", Some(SEAT_1001)).status, 200);
    let a = get(&gw, "/api/v1/seats/1002", Some(SEAT_1001));
    assert_eq!((a.status, a.code().as_str()), (403, "forbidden"));
    let a = call_api(
        &gw,
        "POST",
        "/api/v1/pools/surge",
        Some(SEAT_1001),
        r#"{"open":true}"#,
    );
    assert_eq!(a.status, 403);

    // The supervisor opens surge; a malformed body is 400 and still recorded.
    let a = call_api(
        &gw,
        "POST",
        "/api/v1/pools/surge",
        Some(SUPERVISOR),
        r#"{"open":true}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["open"], true);
    let a = call_api(
        &gw,
        "POST",
        "/api/v1/pools/surge",
        Some(SUPERVISOR),
        r#"{"open":"#,
    );
    assert_eq!((a.status, a.code().as_str()), (400, "malformed_json"));

    // A caller waits: masked for everyone, unmasked for the supervisor with a reason.
    let _caller = waiting_caller(&gw);
    let mut calls = Value::Null;
    eventually(Duration::from_secs(5), "the call is listed", || {
        calls = get(&gw, "/api/v1/calls", Some(SUPERVISOR)).json()["calls"].clone();
        calls.as_array().is_some_and(|c| c.len() == 1)
    });
    assert_eq!(calls[0]["caller"], "138****1234");
    let call_id = calls[0]["id"].as_u64().expect("call id");
    // The seat is not on it: its list is empty.
    let a = get(&gw, "/api/v1/calls", Some(SEAT_1001));
    assert_eq!(a.json()["calls"], serde_json::json!([]));
    let a = get(&gw, "/api/v1/calls?unmask=true", Some(SUPERVISOR));
    assert_eq!((a.status, a.code().as_str()), (400, "invalid_query"));
    let a = get(
        &gw,
        "/api/v1/calls?unmask=true&reason=callback%20requested",
        Some(SUPERVISOR),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["calls"][0]["caller"], CALLER);

    // The ledger, read by admin, answered after the entries before it are committed.
    let rows = ledger(&gw, "");
    let has = |actor: &str, action: &str, status: u64, path: &str| {
        rows.iter()
            .any(|r| r.0 == actor && r.1 == action && r.2 == status && r.3 == path)
    };
    assert!(
        has("-", "unauthenticated", 401, "/api/v1/seats"),
        "{rows:?}"
    );
    assert!(
        has("seat-1001", "forbidden", 403, "/api/v1/seats/1002"),
        "{rows:?}"
    );
    assert!(
        has("seat-1001", "forbidden", 403, "/api/v1/pools/surge"),
        "{rows:?}"
    );
    assert!(
        has("duty-1", "write", 200, "/api/v1/pools/surge"),
        "{rows:?}"
    );
    assert!(
        has("duty-1", "write", 400, "/api/v1/pools/surge"),
        "{rows:?}"
    );
    let unmask = rows
        .iter()
        .find(|r| r.1 == "unmask")
        .unwrap_or_else(|| panic!("an unmask row: {rows:?}"));
    assert_eq!(unmask.0, "duty-1");
    assert_eq!(
        unmask.4,
        format!("reason: callback requested; calls: {call_id}")
    );
    // Filtered by actor; reads are not themselves recorded.
    let seat_rows = ledger(&gw, "?actor=seat-1001");
    assert_eq!(seat_rows.len(), 2, "{seat_rows:?}");
    assert_eq!(get(&gw, "/api/v1/audit", Some(SUPERVISOR)).status, 403);
    assert_eq!(
        call_api(&gw, "DELETE", "/api/v1/audit", Some(ADMIN), "").status,
        405
    );
    assert!(rows.iter().all(|r| !r.4.contains(CALLER)), "{rows:?}");

    // The database refuses to change the ledger, whoever asks. (Reading through the API first
    // waits for every entry so far to be committed.)
    let all = ledger(&gw, "");
    assert_eq!(
        all.len(),
        rows.len() + 2,
        "the refused read and DELETE: {all:?}"
    );
    let conn = rusqlite::Connection::open(gw.data.join("hotline.db")).expect("open db");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy");
    for sql in ["UPDATE audit SET actor = 'nobody'", "DELETE FROM audit"] {
        let err = conn.execute(sql, []).expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stored as usize, all.len());
    // Storage keeps the number (it is the record); the log never shows it.
    let kept: String = conn
        .query_row("SELECT caller FROM calls WHERE id = ?1", [call_id], |r| {
            r.get(0)
        })
        .expect("the call's row");
    assert_eq!(kept, CALLER);
    assert!(
        !read_lossy(&gw.log).contains(CALLER),
        "the caller's number is in the log"
    );

    // Guessing: ten failures in a minute (the request without a token was the first), then
    // the address is refused, even with a good token.
    for i in 0..9 {
        let a = get(
            &gw,
            "/api/v1/stats",
            Some(&format!("guess-{i}-0123456789abcdef")),
        );
        assert_eq!(a.status, 401, "attempt {i}");
    }
    for token in [Some("guess-x"), Some(ADMIN)] {
        let a = get(&gw, "/api/v1/stats", token);
        assert_eq!((a.status, a.code().as_str()), (429, "too_many_failures"));
        let retry: u64 = a
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=300).contains(&retry), "{retry}");
    }
    assert!(gw.alive(), "{}", gw.log_tail());
}

#[test]
fn without_tokens_loopback_clients_are_admin_and_audited() {
    let dir = TestDir::new("api_auth_loopback");
    let gw = Gateway::start(&dir, &[]);
    assert!(
        gw.log_tail()
            .contains("no API tokens: the API answers loopback clients only"),
        "{}",
        gw.log_tail()
    );
    let a = call_api(&gw, "POST", "/api/v1/pools/surge", None, r#"{"open":true}"#);
    assert_eq!(a.status, 200, "{}", a.body);
    let a = get(&gw, "/api/v1/calls?unmask=true&reason=", None);
    assert_eq!(a.status, 400);
    let rows = ledger(&gw, "");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str(), rows[0].2),
        ("loopback", "write", 200)
    );
    assert_eq!(rows[0].4, r#"{"open":true}"#);
}
