//! The guard layer in process: tokens, roles, the limiter, masking and what reaches the
//! ledger. The engine is a stand-in that records the audit entries it is sent; the real
//! ledger in SQLite is tested end to end in `tests/api_auth.rs`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::access::{Access, ApiToken, Role};
use super::limiter::{BLOCK, MAX_FAILURES};
use super::{router, router_with_access, BODY_LIMIT};
use crate::api::{
    ApiError, CallView, Command, EngineHandle, SeatView, SurgeView, TransferMode, TransferView,
};
use crate::audit::{AuditAction, AuditEntry, AuditRow};
use crate::metrics::Metrics;
use crate::privacy::CallerNumber;

const ADMIN: &str = "admin-token-0123456789abcdef";
const SUPERVISOR: &str = "supervisor-token-0123456789abcdef";
const SEAT_1001: &str = "seat-1001-token-0123456789abcdef";
const MONITOR: &str = "monitor-token-0123456789abcdef";

type Ledger = Arc<Mutex<Vec<AuditEntry>>>;

fn call(id: u64, seat: Option<&str>, caller: &str) -> CallView {
    CallView {
        id,
        line: "12345".into(),
        caller: CallerNumber::new(caller.into()),
        state: if seat.is_some() { "talking" } else { "waiting" }.into(),
        queue: None,
        topic: None,
        seat: seat.map(Into::into),
        waited_ms: 0,
        origin: None,
    }
}

/// Seat 1001 talks on call 7, seat 1002 on call 8, call 9 waits.
fn answer(cmd: Command, ledger: &Ledger) {
    let seat = |id: &str, call: Option<u64>| SeatView {
        id: id.into(),
        pool: "intake".into(),
        state: "talking".into(),
        reason: None,
        registered: true,
        call,
        skills: Vec::new(),
    };
    match cmd {
        Command::Audit(entry) => ledger.lock().expect("ledger").push(entry),
        Command::ReadAudit { reply, .. } => {
            let rows = ledger
                .lock()
                .expect("ledger")
                .iter()
                .enumerate()
                .map(|(i, e)| AuditRow {
                    id: i as i64 + 1,
                    at_ms: e.at_ms,
                    actor: e.actor.clone(),
                    role: e.role.clone(),
                    source: e.source.clone(),
                    method: e.method.clone(),
                    path: e.path.clone(),
                    status: e.status,
                    action: e.action.as_str().into(),
                    detail: e.detail.clone(),
                })
                .collect();
            let _ = reply.send(Ok(rows));
        }
        Command::GetSeat { seat: id, reply } => {
            let _ = reply.send(match id.as_str() {
                "1001" => Ok(seat("1001", Some(7))),
                "1002" => Ok(seat("1002", Some(8))),
                _ => Err(ApiError::not_found("unknown_seat", "no such seat")),
            });
        }
        Command::SetSeatState {
            seat: id, reply, ..
        } => {
            let _ = reply.send(Ok(seat(&id, None)));
        }
        Command::ListSeats { reply } => {
            let _ = reply.send(vec![seat("1001", Some(7)), seat("1002", Some(8))]);
        }
        Command::ListCalls { reply } => {
            let _ = reply.send(vec![
                call(7, Some("1001"), "13812341234"),
                call(8, Some("1002"), "13900001111"),
                call(9, None, "110"),
            ]);
        }
        Command::Transfer { call, reply, .. } => {
            let _ = reply.send(Ok(TransferView {
                call,
                target: "renshe".into(),
                number: "12333".into(),
                mode: TransferMode::Blind,
                state: "ringing".into(),
            }));
        }
        Command::Surge { open, reply } => {
            let _ = reply.send(Ok(SurgeView { open }));
        }
        Command::RefreshGauges { reply } => {
            let _ = reply.send(());
        }
        Command::ListQueues { reply } => {
            let _ = reply.send(Vec::new());
        }
        Command::EndTransfer { reply, .. } => {
            let _ = reply.send(Err(ApiError::conflict("no_transfer", "none")));
        }
        Command::AssignSeat {
            seat: id, reply, ..
        } => {
            let _ = reply.send(Ok(seat(&id, None)));
        }
        Command::Withdraw { reply, .. } => {
            let _ = reply.send(Err(ApiError::conflict("call_not_waiting", "not waiting")));
        }
        Command::Stats { .. }
        | Command::Media(_)
        | Command::TicketPushed { .. }
        | Command::Wallboard { .. } => {}
    }
}

fn engine() -> (EngineHandle, Ledger) {
    let ledger: Ledger = Arc::default();
    let (tx, mut rx) = mpsc::channel(64);
    let l = Arc::clone(&ledger);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            answer(cmd, &l);
        }
    });
    (EngineHandle::new(tx), ledger)
}

fn token(name: &str, token: &str, role: Role, seat: Option<&str>) -> ApiToken {
    ApiToken {
        name: name.into(),
        token: token.into(),
        role,
        seat: seat.map(Into::into),
    }
}

/// A router with the four tokens.
fn with_tokens() -> (Router, Ledger) {
    let (engine, ledger) = engine();
    let access = Access::with_tokens(vec![
        token("root", ADMIN, Role::Admin, None),
        token("duty-1", SUPERVISOR, Role::Supervisor, None),
        token("seat-1001", SEAT_1001, Role::Seat, Some("1001")),
        token("wall", MONITOR, Role::Monitor, None),
    ]);
    let metrics = Arc::new(Metrics::new());
    (router_with_access(engine, metrics, access), ledger)
}

const FAR: &str = "10.0.0.5:40000";

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// `method path` from `peer` with `bearer` and `body` (JSON).
async fn ask(
    app: &Router,
    peer: Option<&str>,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<String>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().expect("address");
        req = req.extension(ConnectInfo(addr));
    }
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.expect("body");
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn get(app: &Router, path: &str, bearer: Option<&str>) -> Answer {
    ask(app, Some(FAR), "GET", path, bearer, None).await
}

async fn post(app: &Router, path: &str, bearer: Option<&str>, body: &str) -> Answer {
    ask(app, Some(FAR), "POST", path, bearer, Some(body.into())).await
}

/// The ledger's entries so far (the audit commands are sent before the answer returns; the
/// stand-in engine handles them in order, so one more round trip sees them all).
async fn entries(app: &Router, ledger: &Ledger) -> Vec<AuditEntry> {
    let _ = get(app, "/api/v1/queues", Some(ADMIN)).await;
    ledger.lock().expect("ledger").clone()
}

#[tokio::test]
async fn no_token_or_a_wrong_one_is_401_with_a_challenge_and_audited() {
    let (app, ledger) = with_tokens();
    let a = get(&app, "/api/v1/seats", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "unauthenticated");
    assert_eq!(
        a.headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="hotline""#
    );

    let a = get(&app, "/api/v1/seats", Some("not-a-configured-token")).await;
    assert_eq!((a.status.as_u16(), a.code()), (401, "invalid_token"));
    assert_eq!(
        a.headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="hotline", error="invalid_token""#
    );

    let a = ask(&app, Some(FAR), "GET", "/metrics", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "metrics are guarded");

    let got = entries(&app, &ledger).await;
    let e = &got[0];
    assert_eq!(
        (e.actor.as_str(), e.role.as_deref(), e.source.as_str()),
        ("-", None, FAR)
    );
    assert_eq!(
        (e.method.as_str(), e.path.as_str(), e.status, e.action),
        ("GET", "/api/v1/seats", 401, AuditAction::Unauthenticated)
    );
    assert_eq!(got[1].action, AuditAction::Unauthenticated);
    assert_eq!(got[2].path, "/metrics");
}

#[tokio::test]
async fn liveness_and_pages_outside_the_api_need_no_token() {
    let (app, _) = with_tokens();
    let a = ask(&app, Some(FAR), "GET", "/healthz", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    // The wallboard's page and assets hold no data: a browser loads them without a token.
    let a = ask(&app, Some(FAR), "GET", "/wallboard.css", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn a_seat_token_reaches_its_own_seat_and_calls_only() {
    let (app, ledger) = with_tokens();
    let mine = get(&app, "/api/v1/seats/1001", Some(SEAT_1001)).await;
    assert_eq!(mine.status, StatusCode::OK);
    let other = get(&app, "/api/v1/seats/1002", Some(SEAT_1001)).await;
    assert_eq!((other.status.as_u16(), other.code()), (403, "forbidden"));
    let a = post(
        &app,
        "/api/v1/seats/1001/state",
        Some(SEAT_1001),
        r#"{"state":"not_ready","reason":"meal"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = post(
        &app,
        "/api/v1/pools/surge",
        Some(SEAT_1001),
        r#"{"open":true}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Transfers: only the call it talks on.
    let body = r#"{"target":"12333","mode":"blind"}"#;
    let a = post(&app, "/api/v1/calls/7/transfer", Some(SEAT_1001), body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = post(&app, "/api/v1/calls/8/transfer", Some(SEAT_1001), body).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Calls: its own, masked; no unmasking for a seat.
    let a = get(&app, "/api/v1/calls", Some(SEAT_1001)).await;
    assert_eq!(a.body["calls"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.body["calls"][0]["caller"], "138****1234");
    let a = get(
        &app,
        "/api/v1/calls?unmask=true&reason=callback",
        Some(SEAT_1001),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let got = entries(&app, &ledger).await;
    let summary: Vec<(u16, AuditAction, &str)> = got
        .iter()
        .map(|e| (e.status, e.action, e.path.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (403, AuditAction::Forbidden, "/api/v1/seats/1002"),
            (200, AuditAction::Write, "/api/v1/seats/1001/state"),
            (403, AuditAction::Forbidden, "/api/v1/pools/surge"),
            (200, AuditAction::Write, "/api/v1/calls/7/transfer"),
            (403, AuditAction::Forbidden, "/api/v1/calls/8/transfer"),
            (403, AuditAction::Forbidden, "/api/v1/calls"),
        ]
    );
    assert!(got
        .iter()
        .all(|e| e.actor == "seat-1001" && e.role.as_deref() == Some("seat")));
    assert_eq!(
        got[1].detail.as_deref(),
        Some(r#"{"state":"not_ready","reason":"meal"}"#)
    );
    assert!(
        got[4].detail.as_deref().unwrap_or("").contains("call 8"),
        "{:?}",
        got[4].detail
    );
}

#[tokio::test]
async fn unmasking_needs_a_role_that_may_and_a_reason_and_is_audited() {
    let (app, ledger) = with_tokens();
    let a = get(&app, "/api/v1/calls", Some(SUPERVISOR)).await;
    let callers: Vec<&str> = a.body["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|c| c["caller"].as_str())
        .collect();
    assert_eq!(callers, ["138****1234", "139****1111", "110"]);
    let long = "x".repeat(201);
    for query in [
        "unmask=true",
        "unmask=true&reason=",
        "unmask=true&reason=%20%20",
        &format!("unmask=true&reason={long}"),
        "unmask=true&reason=a%0Ab",
        "reason=callback",
        "unmask=yes&reason=callback",
        "unmask=true&reason=x&who=me",
    ] {
        let a = get(&app, &format!("/api/v1/calls?{query}"), Some(SUPERVISOR)).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (400, "invalid_query"),
            "{query}"
        );
    }
    let a = get(
        &app,
        "/api/v1/calls?unmask=true&reason=callback",
        Some(MONITOR),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let reason = "x".repeat(200);
    let a = get(
        &app,
        &format!("/api/v1/calls?unmask=true&reason={reason}"),
        Some(SUPERVISOR),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = get(
        &app,
        "/api/v1/calls?unmask=true&reason=%E5%9B%9E%E8%AE%BF%20callback",
        Some(SUPERVISOR),
    )
    .await;
    assert_eq!(
        a.body["calls"][0],
        json!({"id": 7, "line": "12345", "caller": "13812341234", "state": "talking",
               "queue": null, "topic": null, "seat": "1001", "waited_ms": 0, "origin": null})
    );
    assert_eq!(a.body["calls"][1]["caller"], "13900001111");

    let got = entries(&app, &ledger).await;
    let unmasks: Vec<&AuditEntry> = got
        .iter()
        .filter(|e| e.action == AuditAction::Unmask)
        .collect();
    assert_eq!(unmasks.len(), 2, "{got:?}");
    let last = unmasks[1];
    assert_eq!(
        (last.actor.as_str(), last.status, last.method.as_str()),
        ("duty-1", 200, "GET")
    );
    assert_eq!(
        last.detail.as_deref(),
        Some("reason: 回访 callback; calls: 7, 8, 9")
    );
    // Refused queries change nothing and are not views; the monitor's refusal is recorded.
    assert_eq!(
        got.iter()
            .filter(|e| e.action == AuditAction::Forbidden)
            .map(|e| e.actor.as_str())
            .collect::<Vec<_>>(),
        ["wall"]
    );
    // No entry anywhere holds a number in full.
    for e in &got {
        let d = e.detail.clone().unwrap_or_default();
        assert!(!d.contains("13812341234"), "{d}");
    }
}

#[tokio::test]
async fn the_ledger_is_for_admin_and_cannot_be_changed_through_the_api() {
    let (app, _) = with_tokens();
    let a = get(&app, "/api/v1/audit", Some(SUPERVISOR)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let _ = post(
        &app,
        "/api/v1/pools/surge",
        Some(SUPERVISOR),
        r#"{"open":true}"#,
    )
    .await;
    let a = get(&app, "/api/v1/audit", Some(ADMIN)).await;
    assert_eq!(a.status, StatusCode::OK);
    let rows = a.body["audit"].as_array().expect("rows");
    assert_eq!(rows[0]["action"], "forbidden");
    assert_eq!(rows[0]["actor"], "duty-1");
    assert_eq!(rows[1]["action"], "write");
    assert_eq!(rows[1]["detail"], r#"{"open":true}"#);
    for method in ["PUT", "PATCH", "DELETE", "POST"] {
        let a = ask(&app, Some(FAR), method, "/api/v1/audit", Some(ADMIN), None).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        let a = ask(
            &app,
            Some(FAR),
            method,
            "/api/v1/audit",
            Some(SUPERVISOR),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{method}");
    }
    for query in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "actor=",
        "since=yesterday",
        "all=1",
    ] {
        let a = get(&app, &format!("/api/v1/audit?{query}"), Some(ADMIN)).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (400, "invalid_query"),
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_monitor_reads_figures_and_writes_nothing() {
    let (app, _) = with_tokens();
    for path in ["/api/v1/seats", "/api/v1/queues", "/metrics"] {
        assert_eq!(
            get(&app, path, Some(MONITOR)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let a = post(
        &app,
        "/api/v1/pools/surge",
        Some(MONITOR),
        r#"{"open":true}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A route no row lists is admin-only: forbidden to the rest, 404 for admin.
    let a = get(&app, "/api/v1/not-yet", Some(SUPERVISOR)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = get(&app, "/api/v1/not-yet", Some(ADMIN)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_event_stream_alone_takes_the_token_in_the_query() {
    let (app, _) = with_tokens();
    // Past the guard (the stream itself is not read: it does not end).
    let status = |path: String| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .uri(path)
                .extension(ConnectInfo(FAR.parse::<SocketAddr>().expect("address")))
                .body(Body::empty())
                .expect("request");
            app.oneshot(req).await.expect("infallible").status()
        }
    };
    let s = status(format!("/api/v1/events?access_token={MONITOR}")).await;
    assert!(
        s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
        "{s}"
    );
    let s = status("/api/v1/events?access_token=wrong".to_owned()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let a = get(&app, &format!("/api/v1/stats?access_token={MONITOR}"), None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failures_block_the_address_then_429_with_retry_after() {
    let (app, ledger) = with_tokens();
    for i in 0..MAX_FAILURES {
        let a = get(&app, "/api/v1/stats", Some(&format!("guess-{i}"))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for bearer in [Some("guess-x"), Some(ADMIN), None] {
        let a = get(&app, "/api/v1/stats", bearer).await;
        assert_eq!((a.status.as_u16(), a.code()), (429, "too_many_failures"));
        assert_eq!(
            a.headers[header::RETRY_AFTER],
            BLOCK.as_secs().to_string().as_str()
        );
    }
    // Another address is not blocked.
    let a = ask(
        &app,
        Some("10.0.0.6:1"),
        "GET",
        "/api/v1/queues",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let got = ledger.lock().expect("ledger").clone();
    let limited: Vec<&AuditEntry> = got
        .iter()
        .filter(|e| e.action == AuditAction::RateLimited)
        .collect();
    assert_eq!(limited.len(), 1, "the first 429 of the block only");
    assert_eq!(limited[0].status, 429);
    assert_eq!(
        got.iter()
            .filter(|e| e.action == AuditAction::Unauthenticated)
            .count(),
        MAX_FAILURES
    );
}

#[tokio::test]
async fn without_tokens_only_loopback_clients_are_answered_as_admin() {
    let (engine, ledger) = engine();
    let app = router(engine, Arc::new(Metrics::new()));
    let a = ask(&app, Some(FAR), "GET", "/api/v1/seats", None, None).await;
    assert_eq!((a.status.as_u16(), a.code()), (403, "loopback_only"));
    let msg = a.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("no API tokens") && msg.contains("loopback"),
        "{msg}"
    );
    // No address known (a server without connect info): never taken for loopback.
    let a = ask(&app, None, "GET", "/api/v1/seats", None, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
        let a = ask(&app, Some(peer), "GET", "/api/v1/audit", None, None).await;
        assert_eq!(a.status, StatusCode::OK, "{peer}");
    }
    let a = ask(
        &app,
        Some("127.0.0.1:5000"),
        "POST",
        "/api/v1/pools/surge",
        None,
        Some(r#"{"open":false}"#.into()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = ask(
        &app,
        Some("127.0.0.1:5000"),
        "GET",
        "/api/v1/audit",
        None,
        None,
    )
    .await;
    let rows = a.body["audit"].as_array().expect("rows");
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or(""),
                r["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("forbidden", "-"),
            ("forbidden", "-"),
            ("write", "loopback")
        ]
    );
    assert_eq!(rows[0]["source"], FAR);
    assert_eq!(rows[1]["source"], "unknown");
    assert_eq!(ledger.lock().expect("ledger").len(), 3);
}

#[tokio::test]
async fn bad_bodies_are_refused_and_the_attempt_audited() {
    let (app, ledger) = with_tokens();
    let a = post(
        &app,
        "/api/v1/pools/surge",
        Some(SUPERVISOR),
        r#"{"open":tru"#,
    )
    .await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "malformed_json"));
    let a = post(
        &app,
        "/api/v1/pools/surge",
        Some(SUPERVISOR),
        r#"{"open":"yes"}"#,
    )
    .await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "invalid_body"));
    let big = format!(r#"{{"open":true,"pad":"{}"}}"#, " ".repeat(BODY_LIMIT));
    let a = post(&app, "/api/v1/pools/surge", Some(SUPERVISOR), &big).await;
    assert_eq!((a.status.as_u16(), a.code()), (413, "body_too_large"));
    let got = entries(&app, &ledger).await;
    let summary: Vec<(u16, Option<&str>)> = got
        .iter()
        .map(|e| (e.status, e.detail.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (400, Some(r#"{"open":tru"#)),
            (422, Some(r#"{"open":"yes"}"#)),
            (413, None)
        ]
    );
}
