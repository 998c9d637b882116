//! Tests of the HTTP layer's mapping only: routes, status codes, JSON shapes, error bodies and
//! content types. The engine side is a stand-in task that answers [`Command`]s with fixed views
//! (and echoes what it was asked); it says nothing about the real engine's behaviour, which is
//! tested with the engine.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::{router, router_with_timeout, serve, BODY_LIMIT};
use crate::api::{
    ApiError, CallView, Command, EngineHandle, FiguresView, QueueView, SeatStateRequest, SeatView,
    StatsView, SurgeView, TotalsView,
};
use crate::metrics::Metrics;
use crate::privacy::CallerNumber;

fn seat(id: &str, state: &str, reason: Option<String>) -> SeatView {
    SeatView {
        id: id.into(),
        pool: "intake".into(),
        state: state.into(),
        reason,
        registered: true,
        call: None,
        skills: vec!["民政:2".into()],
    }
}

pub(super) fn stats_view() -> StatsView {
    let figures = acd_core::Figures {
        offered: 10,
        answered: 9,
        answered_within: 8,
        abandoned_short: 1,
        answer_rate: Some(0.9),
        asa: Some(Duration::from_millis(4_500)),
        ..acd_core::Figures::default()
    };
    let windows = BTreeMap::from([("1h".to_string(), FiguresView::from(&figures))]);
    StatsView {
        at: 1_700_000_000_000,
        target_answer_rate: 0.98,
        answer_within_s: 15,
        surge_open: false,
        surge_reason: None,
        totals: TotalsView {
            offered: 10,
            answered: 9,
            abandoned_short: 1,
            abandoned_long: 0,
            timed_out: 0,
            waiting: 2,
            ringing: 1,
        },
        lines: BTreeMap::from([("12349".to_string(), windows.clone())]),
        queues: BTreeMap::from([("12345".to_string(), windows.clone())]),
        pools: BTreeMap::new(),
        platform: BTreeMap::from([("today".to_string(), windows["1h"].clone())]),
        today_by_hour: Vec::new(),
        transfers: Vec::new(),
    }
}

/// The stand-in engine: seat "1001" exists, seat "1002" exists but refuses every change (409),
/// any other seat is unknown. `RefreshGauges` sets `hotline_surge_open` to 1 so a test can see
/// that the scrape refreshed before rendering.
fn answer(cmd: Command, metrics: &Metrics) {
    let lookup = |seat: &str| match seat {
        "1001" | "1002" => Ok(self::seat(seat, "ready", None)),
        _ => Err(ApiError::not_found(
            "unknown_seat",
            format!("no seat {seat}"),
        )),
    };
    // A closed reply channel only means the HTTP side gave up; nothing to do.
    match cmd {
        // The HTTP side never sends media events or ticket outcomes.
        Command::Media(_) | Command::TicketPushed { .. } => {}
        Command::Transfer { call, reply, .. } | Command::EndTransfer { call, reply, .. } => {
            let _ = reply.send(Err(ApiError::not_found(
                "unknown_call",
                format!("no call {call} in progress"),
            )));
        }
        Command::ListSeats { reply } => {
            let _ = reply.send(vec![
                seat("1001", "ready", None),
                seat("1002", "talking", None),
            ]);
        }
        Command::GetSeat { seat, reply } => {
            let _ = reply.send(lookup(&seat));
        }
        Command::AssignSeat { seat, reply, .. } => {
            let _ = reply.send(lookup(&seat));
        }
        Command::Withdraw { call, reply, .. } => {
            let _ = reply.send(Err(ApiError::not_found(
                "unknown_call",
                format!("no call {call} in progress"),
            )));
        }
        Command::SetSeatState {
            seat,
            request,
            reply,
        } => {
            let result = lookup(&seat).and_then(|mut view| {
                if seat == "1002" {
                    return Err(ApiError::conflict(
                        "invalid_transition",
                        "seat 1002 is talking",
                    ));
                }
                let (state, reason) = match request {
                    SeatStateRequest::Ready { .. } => ("ready", None),
                    SeatStateRequest::NotReady { reason } => ("not_ready", reason),
                    SeatStateRequest::LoggedOut { .. } => ("logged_out", None),
                };
                view.state = state.into();
                view.reason = reason;
                Ok(view)
            });
            let _ = reply.send(result);
        }
        Command::ListCalls { reply } => {
            let _ = reply.send(vec![CallView {
                id: 7,
                line: "12349".into(),
                caller: CallerNumber::new("13812341234".into()),
                state: "waiting".into(),
                queue: Some("12345".into()),
                topic: Some("民政".into()),
                seat: None,
                waited_ms: 3_200,
                origin: None,
            }]);
        }
        Command::ListQueues { reply } => {
            let _ = reply.send(vec![QueueView {
                name: "12345".into(),
                lines: vec!["12345".into(), "12349".into()],
                strategy: "longest_idle".into(),
                waiting: 1,
                longest_wait_ms: Some(3_200),
                estimated_wait_ms: None,
            }]);
        }
        Command::Stats { reply } => {
            let _ = reply.send(stats_view());
        }
        Command::Wallboard { reply } => {
            let _ = reply.send(crate::api::WallboardView {
                stats: stats_view(),
                queues: Vec::new(),
                lines: Vec::new(),
                seats: BTreeMap::new(),
                waiting_calls: Vec::new(),
            });
        }
        Command::RefreshGauges { reply } => {
            metrics.set_surge_open(true);
            let _ = reply.send(());
        }
        Command::Surge { open, reply } => {
            let _ = reply.send(Ok(SurgeView { open }));
        }
        // The ledger is tested in tests_auth.rs.
        Command::Audit(_) => {}
        Command::ReadAudit { reply, .. } => {
            let _ = reply.send(Ok(Vec::new()));
        }
    }
}

fn fake_engine(metrics: Arc<Metrics>) -> EngineHandle {
    let (tx, mut rx) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            answer(cmd, &metrics);
        }
    });
    EngineHandle::new(tx)
}

/// `router` as a loopback client sees it (no tokens: loopback clients are admin). Without a
/// socket, `oneshot` requests carry no address; this gives them one.
fn on_loopback(router: Router) -> Router {
    router.layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))))
}

fn app() -> (Router, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    (
        on_loopback(router(fake_engine(metrics.clone()), metrics.clone())),
        metrics,
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/json",
            "JSON content type"
        );
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Assert the JSON error body and return its message.
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{v}");
        assert_eq!(v["error"].as_object().map(|o| o.len()), Some(2), "{v}");
        v["error"]["message"]
            .as_str()
            .expect("message is a string")
            .to_string()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(app: &Router, method: &str, path: &str, ct: Option<&str>, body: Body) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(ct) = ct {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(body).expect("valid request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let body = to_bytes(body, usize::MAX).await.expect("body").to_vec();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn get(app: &Router, path: &str) -> Answer {
    send(app, "GET", path, None, Body::empty()).await
}

async fn post_json(app: &Router, path: &str, body: &str) -> Answer {
    send(
        app,
        "POST",
        path,
        Some("application/json"),
        Body::from(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn seats_list_and_one() {
    let (app, _) = app();
    let a = get(&app, "/api/v1/seats").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"seats": [
            {"id": "1001", "pool": "intake", "state": "ready", "reason": null,
             "registered": true, "call": null, "skills": ["民政:2"]},
            {"id": "1002", "pool": "intake", "state": "talking", "reason": null,
             "registered": true, "call": null, "skills": ["民政:2"]},
        ]})
    );

    let a = get(&app, "/api/v1/seats/1001").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["id"], "1001");
    assert_eq!(a.json()["state"], "ready");

    let msg = get(&app, "/api/v1/seats/9999")
        .await
        .error(404, "unknown_seat");
    assert!(msg.contains("9999"), "{msg}");
}

#[tokio::test]
async fn seat_state_changes_reach_the_engine_as_requests() {
    let (app, _) = app();
    let path = "/api/v1/seats/1001/state";
    let a = post_json(&app, path, r#"{"state":"not_ready","reason":"meal"}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["state"], "not_ready");
    assert_eq!(a.json()["reason"], "meal");

    let a = post_json(&app, path, r#"{"state":"ready"}"#).await;
    assert_eq!(
        (a.status, a.json()["state"].clone()),
        (StatusCode::OK, json!("ready"))
    );
    let a = post_json(&app, path, r#"{"state":"logged_out","reason":null}"#).await;
    assert_eq!(a.json()["state"], "logged_out");

    // `application/…+json` and a charset are accepted.
    let a = send(
        &app,
        "POST",
        path,
        Some("application/vnd.hotline+json; charset=utf-8"),
        Body::from(r#"{"state":"ready"}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);

    // Engine refusals keep the engine's status and code.
    post_json(&app, "/api/v1/seats/1002/state", r#"{"state":"ready"}"#)
        .await
        .error(409, "invalid_transition");
    post_json(&app, "/api/v1/seats/42/state", r#"{"state":"ready"}"#)
        .await
        .error(404, "unknown_seat");
}

#[tokio::test]
async fn calls_queues_stats_and_surge() {
    let (app, _) = app();
    let a = get(&app, "/api/v1/calls").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"calls": [{"id": 7, "line": "12349", "caller": "138****1234", "state": "waiting",
                          "queue": "12345", "topic": "民政", "seat": null, "waited_ms": 3200,
                          "origin": null}]})
    );

    let a = get(&app, "/api/v1/queues").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"queues": [{"name": "12345", "lines": ["12345", "12349"],
                           "strategy": "longest_idle", "waiting": 1,
                           "longest_wait_ms": 3200, "estimated_wait_ms": null}]})
    );

    let a = get(&app, "/api/v1/stats").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["at"], 1_700_000_000_000_i64);
    assert_eq!(v["answer_within_s"], 15);
    assert_eq!(v["totals"]["waiting"], 2);
    let hour = &v["lines"]["12349"]["1h"];
    assert_eq!(hour["offered"], 10);
    assert_eq!(hour["answer_rate"], 0.9);
    assert_eq!(hour["asa_ms"], 4500);
    assert_eq!(hour["aht_ms"], Value::Null);
    assert_eq!(v["queues"]["12345"]["1h"]["answered_within"], 8);
    assert_eq!(v["pools"], json!({}));

    for open in [true, false] {
        let a = post_json(
            &app,
            "/api/v1/pools/surge",
            &format!(r#"{{"open":{open}}}"#),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json(), json!({ "open": open }));
    }
}

#[tokio::test]
async fn metrics_refresh_then_render_as_prometheus_text() {
    let (app, metrics) = app();
    let _ = metrics.line("12345", "12345");
    let a = get(&app, "/metrics").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = a.text();
    // Set by the stand-in engine while answering RefreshGauges, so the refresh came first.
    assert!(text.contains("\nhotline_surge_open 1\n"), "{text}");
    assert!(text.contains("hotline_calls_offered_total{line=\"12345\",queue=\"12345\"} 0"));
}

#[tokio::test]
async fn healthz_is_plain_ok() {
    let (app, _) = app();
    let a = get(&app, "/healthz").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text(), "ok");
    assert!(a.headers[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|ct| ct.starts_with("text/plain")));
}

#[tokio::test]
async fn bodies_that_are_not_the_right_json_are_refused_with_reasons() {
    let (app, _) = app();
    let seat = "/api/v1/seats/1001/state";
    let surge = "/api/v1/pools/surge";

    // 415: no or wrong content type, even with a valid JSON body.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let a = send(&app, "POST", seat, ct, Body::from(r#"{"state":"ready"}"#)).await;
        let msg = a.error(415, "unsupported_media_type");
        assert!(msg.contains("application/json"), "{msg}");
    }

    // 400: not JSON at all.
    for body in [r#"{"state":"ready""#, "state=ready", ""] {
        let msg = post_json(&app, seat, body)
            .await
            .error(400, "malformed_json");
        assert!(!msg.is_empty());
    }

    // 422: JSON of the wrong shape; the message names the problem.
    let cases = [
        (seat, r#"{"reason":"meal"}"#, "state"),
        (seat, r#"{"state":"on_break"}"#, "on_break"),
        (seat, r#"{"state":"ready","colour":"red"}"#, "colour"),
        (seat, r#"{"state":7}"#, "state"),
        (seat, "[]", "state"),
        (surge, "{}", "open"),
        (surge, r#"{"open":"yes"}"#, "boolean"),
        (surge, r#"{"open":true,"pool":"surge"}"#, "pool"),
    ];
    for (path, body, needle) in cases {
        let msg = post_json(&app, path, body).await.error(422, "invalid_body");
        assert!(msg.contains(needle), "{body}: {msg}");
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused() {
    let (app, _) = app();
    // Valid JSON, one byte over the limit: the size is what is refused.
    let pad = BODY_LIMIT - r#"{"state":"ready","reason":""}"#.len() + 1;
    let body = format!(r#"{{"state":"ready","reason":"{}"}}"#, "x".repeat(pad));
    assert_eq!(body.len(), BODY_LIMIT + 1);
    let a = post_json(&app, "/api/v1/seats/1001/state", &body).await;
    let msg = a.error(413, "body_too_large");
    assert!(msg.contains("65536"), "{msg}");

    // Exactly at the limit it is read and accepted.
    let body = format!(r#"{{"state":"ready","reason":"{}"}}"#, "x".repeat(pad - 1));
    assert_eq!(body.len(), BODY_LIMIT);
    let a = post_json(&app, "/api/v1/seats/1001/state", &body).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_json() {
    let (app, _) = app();
    for path in [
        "/index.html",
        "/api/v1",
        "/api/v1/seat",
        "/api/v2/seats",
        "/api/v1/seats/1001/x",
    ] {
        let msg = get(&app, path).await.error(404, "not_found");
        assert!(msg.contains(path), "{msg}");
    }

    let cases = [
        ("POST", "/api/v1/seats", "GET,HEAD"),
        ("DELETE", "/api/v1/seats/1001", "GET,HEAD"),
        ("GET", "/api/v1/seats/1001/state", "POST"),
        ("GET", "/api/v1/pools/surge", "POST"),
        ("PUT", "/metrics", "GET,HEAD"),
        ("POST", "/healthz", "GET,HEAD"),
    ];
    for (method, path, allow) in cases {
        let a = send(&app, method, path, None, Body::empty()).await;
        let msg = a.error(405, "method_not_allowed");
        assert!(msg.contains(method) && msg.contains(path), "{msg}");
        assert_eq!(a.headers[header::ALLOW], allow, "{method} {path}");
    }
}

#[tokio::test]
async fn a_stopped_engine_is_503_on_every_engine_route() {
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let app = on_loopback(router(EngineHandle::new(tx), metrics));
    for path in [
        "/api/v1/seats",
        "/api/v1/seats/1001",
        "/api/v1/calls",
        "/api/v1/queues",
        "/api/v1/stats",
        "/metrics",
    ] {
        get(&app, path).await.error(503, "engine_unavailable");
    }
    post_json(&app, "/api/v1/pools/surge", r#"{"open":true}"#)
        .await
        .error(503, "engine_unavailable");
    post_json(&app, "/api/v1/seats/1001/state", r#"{"state":"ready"}"#)
        .await
        .error(503, "engine_unavailable");
    // The body is checked before the engine is asked.
    post_json(&app, "/api/v1/pools/surge", "{}")
        .await
        .error(422, "invalid_body");
    // Liveness does not depend on the engine.
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_engine_that_drops_or_sits_on_the_command_is_503() {
    let metrics = Arc::new(Metrics::new());

    // Drops every command unanswered (e.g. stopping while the command was queued).
    let (tx, mut rx) = mpsc::channel::<Command>(8);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let app = on_loopback(router(EngineHandle::new(tx), metrics.clone()));
    get(&app, "/api/v1/stats")
        .await
        .error(503, "engine_unavailable");

    // Keeps every command and never answers.
    let (tx, mut rx) = mpsc::channel::<Command>(8);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(cmd) = rx.recv().await {
            held.push(cmd);
        }
    });
    let app = on_loopback(router_with_timeout(
        EngineHandle::new(tx),
        metrics,
        Duration::from_millis(50),
    ));
    let msg = get(&app, "/metrics").await.error(503, "engine_timeout");
    assert!(msg.contains("50 ms"), "{msg}");
}

#[tokio::test]
async fn an_invalid_status_from_the_engine_becomes_500() {
    use axum::response::IntoResponse;
    let resp = ApiError {
        status: 200,
        code: "bug",
        message: "not an error status".into(),
    }
    .into_response();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let resp = ApiError {
        status: 1000,
        code: "bug",
        message: String::new(),
    }
    .into_response();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// `serve` over a real socket: a request is answered, then shutdown ends `serve` with `Ok`.
#[tokio::test]
async fn serve_answers_on_a_socket_and_shuts_down() {
    let (app, _) = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, async {
        let _ = stopped.await;
    }));

    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET /api/v1/nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.expect("read");
    assert!(raw.starts_with("HTTP/1.1 404 Not Found\r\n"), "{raw}");
    assert!(raw.contains("content-type: application/json\r\n"), "{raw}");
    assert!(
        raw.ends_with(r#"{"error":{"code":"not_found","message":"no route for /api/v1/nothing"}}"#),
        "{raw}"
    );

    let _ = stop.send(());
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve ends after shutdown")
        .expect("serve task not panicked");
    assert!(result.is_ok());
}

/// A chunked body (no Content-Length) over the limit is refused too, over a real socket.
#[tokio::test]
async fn chunked_bodies_over_64_kib_are_refused() {
    let (app, _) = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(serve(listener, app, std::future::pending()));

    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = b"POST /api/v1/pools/surge HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..2 {
        req.extend_from_slice(format!("{:x}\r\n", BODY_LIMIT / 2 + 1).as_bytes());
        req.extend(std::iter::repeat_n(b' ', BODY_LIMIT / 2 + 1));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = conn.write_all(&req).await;
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw).await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{raw}"
    );
    assert!(raw.contains(r#""code":"body_too_large""#), "{raw}");
    server.abort();
}
