//! The wallboard's routes over a real socket and a stand-in engine: the assets, the event
//! stream, and what hundreds of clients that connect and vanish leave behind (nothing).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{routes_with, Feed, FeedConfig};
use crate::api::{Command, EngineHandle, WallboardView};
use crate::http::tests::stats_view;

/// Answers `Wallboard` with a board whose `offered` is `board.load()` and whose `at` moves on
/// every answer (which alone must not publish a snapshot); counts the questions.
#[derive(Debug, Default)]
struct Board {
    offered: AtomicU64,
    asked: AtomicU64,
}

fn stand_in(board: Arc<Board>) -> (EngineHandle, mpsc::Sender<()>) {
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    // Dropping the returned sender stops the engine (its command channel closes).
    let (stop_tx, mut stop) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        loop {
            let cmd = tokio::select! {
                cmd = rx.recv() => cmd,
                _ = stop.recv() => None,
            };
            let Some(cmd) = cmd else { return };
            if let Command::Wallboard { reply } = cmd {
                let n = board.asked.fetch_add(1, Ordering::SeqCst);
                let mut stats = stats_view();
                stats.at += i64::try_from(n).unwrap_or(0);
                stats.totals.offered = board.offered.load(Ordering::SeqCst);
                let _ = reply.send(WallboardView {
                    stats,
                    queues: Vec::new(),
                    lines: Vec::new(),
                    seats: BTreeMap::new(),
                    waiting_calls: Vec::new(),
                });
            }
        }
    });
    (EngineHandle::new(tx), stop_tx)
}

fn config(max_clients: usize) -> FeedConfig {
    FeedConfig {
        poll_every: Duration::from_millis(50),
        keep_alive: Duration::from_millis(200),
        max_clients,
        engine_timeout: Duration::from_secs(1),
    }
}

struct Server {
    addr: SocketAddr,
    feed: Feed,
    board: Arc<Board>,
    stop_engine: Option<mpsc::Sender<()>>,
    stop_http: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn server(max_clients: usize) -> Server {
    let board = Arc::new(Board::default());
    let (engine, stop_engine) = stand_in(Arc::clone(&board));
    let feed = Feed::new(engine, config(max_clients));
    let app: axum::Router = routes_with(feed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(super::super::serve(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        feed,
        board,
        stop_engine: Some(stop_engine),
        stop_http: Some(stop_http),
        task,
    }
}

/// A whole response to a plain request (`Connection: close`).
async fn fetch(addr: SocketAddr, path: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.expect("read");
    String::from_utf8_lossy(&raw).into_owned()
}

/// An open event stream.
async fn open_stream(addr: SocketAddr) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .expect("write");
    conn
}

/// Read from `conn` until `needle` has arrived `times` times (or panic after `within`).
async fn read_until(conn: &mut TcpStream, needle: &str, times: usize, within: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.matches(needle).count() >= times {
            return text;
        }
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(0)) => panic!("stream closed before {times} × {needle:?}: {text}"),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read: {e}; {text}"),
            Err(_) => panic!("no {times} × {needle:?} within {within:?}: {text}"),
        }
    }
}

/// Wait until `check` holds, polling; panic with `what` after `within`.
async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_their_types() {
    let s = server(10).await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<html"),
        ("/wallboard.css", "text/css; charset=utf-8", "body"),
        (
            "/wallboard.js",
            "text/javascript; charset=utf-8",
            "getReader",
        ),
    ] {
        let raw = fetch(s.addr, path).await;
        assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {raw}");
        let head = raw.split("\r\n\r\n").next().unwrap_or("").to_lowercase();
        assert!(
            head.contains(&format!("content-type: {content_type}")),
            "{path}: {head}"
        );
        assert!(head.contains("cache-control: no-cache"), "{path}: {head}");
        assert!(head.contains("content-security-policy:"), "{path}: {head}");
        assert!(raw.contains(marker), "{path} carries {marker:?}");
    }
    assert!(
        !s.feed.polling(),
        "serving the page asks the engine nothing"
    );
    assert_eq!(s.board.asked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stream_gets_a_snapshot_at_once_then_only_changes_and_keep_alives() {
    let s = server(10).await;
    let mut conn = open_stream(s.addr).await;
    let text = read_until(&mut conn, "event: snapshot\n", 1, Duration::from_secs(5)).await;
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(head.contains("x-accel-buffering: no"), "{head}");
    assert!(text.contains(r#""totals":{"offered":0,"#), "{text}");

    // `at` moves on every poll; that alone publishes nothing, keep-alives flow instead.
    let text = read_until(&mut conn, ": keep-alive\n", 2, Duration::from_secs(5)).await;
    assert_eq!(text.matches("event: snapshot").count(), 0, "{text}");
    assert!(
        s.board.asked.load(Ordering::SeqCst) >= 4,
        "the poller polls"
    );

    // A change is published within a poll.
    s.board.offered.store(77, Ordering::SeqCst);
    let text = read_until(&mut conn, "event: snapshot\n", 1, Duration::from_secs(5)).await;
    assert!(text.contains(r#""offered":77"#), "{text}");
}

#[tokio::test]
async fn hundreds_of_clients_that_vanish_leave_nothing_behind() {
    let s = server(1000).await;
    // 300 clients: a third vanish before the answer, a third after the headers, a third after
    // the first snapshot. None says goodbye.
    let mut tasks = Vec::new();
    for i in 0..300 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            let mut conn = open_stream(addr).await;
            match i % 3 {
                0 => {}
                1 => {
                    let _ = read_until(&mut conn, "\r\n\r\n", 1, Duration::from_secs(10)).await;
                }
                _ => {
                    let _ =
                        read_until(&mut conn, "event: snapshot", 1, Duration::from_secs(10)).await;
                }
            }
            drop(conn);
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    // Each vanished stream is dropped at its next write (a snapshot or a keep-alive).
    s.board.offered.store(1, Ordering::SeqCst);
    let feed = s.feed.clone();
    eventually(
        "every vanished client released",
        Duration::from_secs(5),
        || feed.clients() == 0,
    )
    .await;
    eventually(
        "the poller stops with nobody watching",
        Duration::from_secs(5),
        || !feed.polling(),
    )
    .await;
    let asked = s.board.asked.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.board.asked.load(Ordering::SeqCst),
        asked,
        "no engine work with no client"
    );

    // A fresh client is served at once and gets the current figures.
    let started = Instant::now();
    let mut conn = open_stream(s.addr).await;
    let text = read_until(&mut conn, "event: snapshot\n", 1, Duration::from_secs(2)).await;
    assert!(text.contains(r#""offered":1"#), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "first snapshot after {:?}",
        started.elapsed()
    );
    assert_eq!(s.feed.clients(), 1);
}

#[tokio::test]
async fn streams_beyond_the_bound_are_refused_until_one_leaves() {
    let s = server(2).await;
    let mut a = open_stream(s.addr).await;
    let mut b = open_stream(s.addr).await;
    read_until(&mut a, "event: snapshot\n", 1, Duration::from_secs(5)).await;
    read_until(&mut b, "event: snapshot\n", 1, Duration::from_secs(5)).await;
    let raw = fetch(s.addr, "/api/v1/events").await;
    assert!(
        raw.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{raw}"
    );
    assert!(raw.contains(r#""code":"too_many_streams""#), "{raw}");
    drop(a);
    s.board.offered.store(5, Ordering::SeqCst);
    let feed = s.feed.clone();
    eventually("a place is free again", Duration::from_secs(5), || {
        feed.clients() < 2
    })
    .await;
    let mut c = open_stream(s.addr).await;
    read_until(&mut c, "event: snapshot\n", 1, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn streams_end_when_the_engine_stops_so_shutdown_completes() {
    let mut s = server(10).await;
    let mut conn = open_stream(s.addr).await;
    read_until(&mut conn, "event: snapshot\n", 1, Duration::from_secs(5)).await;
    // The engine stops first (as in `hotline serve`), then the HTTP server is told to stop.
    drop(s.stop_engine.take());
    let _ = s.stop_http.take().map(|tx| tx.send(()));
    let result = tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .expect("serve ends although a stream was open")
        .expect("serve task not panicked");
    assert!(result.is_ok());
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut rest)).await;
    assert!(!s.feed.polling());
}
