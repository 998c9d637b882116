//! The ticket push over real HTTP on 127.0.0.1, against a small axum receiver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hotline::privacy::CallerNumber;
use hotline::ticket::{PushOutcome, RetryPolicy, Ticket, TicketPusher};
use tokio::sync::mpsc;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Receiver {
    /// The answers to give, in order; the last one repeats.
    script: Arc<Vec<(StatusCode, &'static str)>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let mut seen = r.seen.lock().unwrap();
    seen.push(Seen { headers, body });
    let i = (seen.len() - 1).min(r.script.len() - 1);
    r.script[i]
}

/// Starts a receiver at `http://<addr>/tickets` answering per `script`.
async fn receiver(script: Vec<(StatusCode, &'static str)>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Receiver {
        script: Arc::new(script),
        seen: Arc::clone(&seen),
    };
    let app = Router::new()
        .route("/tickets", post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, seen)
}

fn fast(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    }
}

fn pusher(policy: RetryPolicy) -> (TicketPusher, mpsc::UnboundedReceiver<(Ticket, PushOutcome)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pusher = TicketPusher::new(policy, move |ticket, outcome| {
        let _ = tx.send((ticket, outcome));
    });
    (pusher, rx)
}

fn ticket() -> Ticket {
    Ticket {
        call: 1001,
        transfer: 1,
        target: "renshe".to_owned(),
        line: "12345".to_owned(),
        topic: Some("社保".to_owned()),
        caller: CallerNumber::new("13800000000".to_owned()).revealed(),
        seat: Some(8001),
        at: 1_700_000_000_123,
    }
}

async fn outcome(rx: &mut mpsc::UnboundedReceiver<(Ticket, PushOutcome)>) -> PushOutcome {
    let (t, o) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no outcome within 10 s")
        .expect("pusher dropped");
    assert_eq!(t, ticket());
    o
}

#[tokio::test]
async fn delivered_first_time() {
    let (addr, seen) = receiver(vec![(StatusCode::OK, "ok")]).await;
    let (pusher, mut rx) = pusher(fast(3));
    pusher.push(&format!("http://{addr}/tickets"), ticket());
    assert_eq!(
        outcome(&mut rx).await,
        PushOutcome::Delivered {
            status: 200,
            attempts: 1
        }
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(h["idempotency-key"], "hotline-1001-1-renshe");
    assert_eq!(h["content-type"], "application/json");
    assert!(
        h["user-agent"].to_str().unwrap().starts_with("hotline/"),
        "{:?}",
        h["user-agent"]
    );
    let json: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "call": 1001,
            "transfer": 1,
            "target": "renshe",
            "line": "12345",
            "topic": "社保",
            "caller": "13800000000",
            "seat": 8001,
            "at": 1_700_000_000_123_i64,
        })
    );
}

#[tokio::test]
async fn two_503s_then_200() {
    let (addr, seen) = receiver(vec![
        (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        (StatusCode::OK, "ok"),
    ])
    .await;
    let (pusher, mut rx) = pusher(fast(5));
    pusher.push(&format!("http://{addr}/tickets"), ticket());
    assert_eq!(
        outcome(&mut rx).await,
        PushOutcome::Delivered {
            status: 200,
            attempts: 3
        }
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.headers["idempotency-key"], "hotline-1001-1-renshe");
        assert_eq!(s.body, seen[0].body);
    }
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_the_last_reason() {
    let (addr, seen) = receiver(vec![
        (StatusCode::TOO_MANY_REQUESTS, "slow down"),
        (StatusCode::BAD_GATEWAY, "upstream gone"),
    ])
    .await;
    let (pusher, mut rx) = pusher(fast(3));
    pusher.push(&format!("http://{addr}/tickets"), ticket());
    assert_eq!(
        outcome(&mut rx).await,
        PushOutcome::Failed {
            reason: "HTTP 502: upstream gone".to_owned(),
            attempts: 3
        }
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_400_fails_at_once() {
    let (addr, seen) = receiver(vec![(StatusCode::BAD_REQUEST, "missing field: caller")]).await;
    let (pusher, mut rx) = pusher(fast(5));
    pusher.push(&format!("http://{addr}/tickets"), ticket());
    match outcome(&mut rx).await {
        PushOutcome::Failed { reason, attempts } => {
            assert_eq!(attempts, 1);
            assert!(reason.contains("400"), "{reason}");
            assert!(reason.contains("missing field: caller"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    // Wait a few retry periods: no second attempt.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn nothing_listening_fails_after_max_attempts() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (pusher, mut rx) = pusher(fast(3));
    pusher.push(&format!("http://{addr}/tickets"), ticket());
    match outcome(&mut rx).await {
        PushOutcome::Failed { reason, attempts } => {
            assert_eq!(attempts, 3);
            assert!(reason.contains("connect"), "{reason}");
            assert!(reason.contains(&addr.to_string()), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn https_and_garbage_urls_fail_at_once() {
    let (pusher, mut rx) = pusher(RetryPolicy::default());
    pusher.push("https://127.0.0.1:1/tickets", ticket());
    match outcome(&mut rx).await {
        PushOutcome::Failed { reason, attempts } => {
            assert_eq!(attempts, 0);
            assert!(
                reason.contains("https needs a TLS-terminating proxy; use http://"),
                "{reason}"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    for garbage in [
        "not a url",
        "ftp://127.0.0.1/tickets",
        "127.0.0.1/tickets",
        "",
    ] {
        pusher.push(garbage, ticket());
        match outcome(&mut rx).await {
            PushOutcome::Failed { reason, attempts } => {
                assert_eq!(attempts, 0);
                assert!(reason.contains(&format!("{garbage:?}")), "{reason}");
            }
            other => panic!("expected Failed for {garbage:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn one_pusher_many_tickets() {
    let (addr, seen) = receiver(vec![(StatusCode::CREATED, "")]).await;
    let (pusher, mut rx) = pusher(fast(2));
    let url = format!("http://{addr}/tickets");
    for _ in 0..5 {
        pusher.clone().push(&url, ticket());
    }
    for _ in 0..5 {
        assert_eq!(
            outcome(&mut rx).await,
            PushOutcome::Delivered {
                status: 201,
                attempts: 1
            }
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 5);
}
