//! Durable records against a real SQLite database in a fresh directory under the system temp
//! directory (removed when the test passes, kept when it fails).
//!
//! The throughput measurement is ignored by default:
//! `cargo test --release -p hotline --test store -- --ignored --nocapture throughput`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hotline::audit::{AuditAction, AuditEntry, AuditQuery, AuditRow};
use hotline::record::{CallOutcome, QueueEventKind, Record};
use hotline::store::{
    open_read_only, read_audit, totals, Counts, Recovery, Store, StoreOptions, StoreStatus, DB_FILE,
};
use rusqlite::types::Value;
use rusqlite::Connection;

/// A unique directory for one test; removed on drop unless the test panicked.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "hotline-store-{name}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

const T0: i64 = 1_700_000_000_000;
const CLOSE: Duration = Duration::from_secs(10);

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn int(v: i64) -> Value {
    Value::Integer(v)
}
fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
const NULL: Value = Value::Null;

/// Waits (on a real clock, bounded) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn committed_within(status: &StoreStatus, seq: u64) {
    tokio::time::timeout(Duration::from_secs(10), status.wait_committed(seq))
        .await
        .unwrap_or_else(|_| panic!("seq {seq} not committed; status {status:?}"));
}

fn queue(call: u64, at: i64, q: &str, line: &str, kind: QueueEventKind) -> Record {
    Record::Queue {
        call,
        at,
        queue: q.into(),
        line: line.into(),
        seat: None,
        kind,
        wait_ms: None,
    }
}

#[tokio::test]
async fn every_record_variant_round_trips() {
    let dir = TestDir::new("roundtrip");
    let (mut store, recovery) = Store::open(dir.path(), T0).unwrap();
    assert_eq!(recovery, Recovery::default());
    let records = vec![
        Record::CallStarted {
            call: 7,
            at: T0,
            line: "12349".into(),
            caller: "13800000000".into(),
        },
        Record::Queue {
            call: 7,
            at: T0 + 10,
            queue: "12345".into(),
            line: "12349".into(),
            seat: None,
            kind: QueueEventKind::Enter,
            wait_ms: None,
        },
        Record::LegStarted {
            call: 7,
            leg: 1,
            at: T0 + 20,
            seat: 1001,
        },
        Record::Queue {
            call: 7,
            at: T0 + 3_000,
            queue: "12345".into(),
            line: "12349".into(),
            seat: Some(1001),
            kind: QueueEventKind::Connect,
            wait_ms: Some(2_990),
        },
        Record::LegEnded {
            call: 7,
            leg: 1,
            at: T0 + 60_000,
            answered_at: Some(T0 + 3_000),
            outcome: "answered-then-hung-up".into(),
        },
        Record::CallEnded {
            call: 7,
            at: T0 + 60_000,
            outcome: CallOutcome::Answered,
            queue: Some("12345".into()),
            topic: Some("民政".into()),
            seat: Some(1001),
            wait_ms: Some(2_990),
            talk_ms: Some(57_000),
            survey: Some(3),
        },
        Record::SeatState {
            seat: 1001,
            at: T0 + 60_001,
            state: "not_ready".into(),
            reason: Some("break".into()),
            source: "api".into(),
        },
        Record::SeatState {
            seat: 1002,
            at: T0 + 60_002,
            state: "ready".into(),
            reason: None,
            source: "phone".into(),
        },
        // A rejected call: no queue, no seat.
        Record::CallStarted {
            call: 8,
            at: T0 + 1,
            line: "99999".into(),
            caller: "anonymous".into(),
        },
        Record::CallEnded {
            call: 8,
            at: T0 + 2,
            outcome: CallOutcome::Rejected,
            queue: None,
            topic: None,
            seat: None,
            wait_ms: None,
            talk_ms: None,
            survey: None,
        },
        // Ends whose starts were never written are still stored in full.
        Record::CallEnded {
            call: 9,
            at: T0 + 5,
            outcome: CallOutcome::AbandonedShort,
            queue: Some("12345".into()),
            topic: None,
            seat: None,
            wait_ms: Some(1_200),
            talk_ms: None,
            survey: None,
        },
        Record::LegEnded {
            call: 9,
            leg: 2,
            at: T0 + 4,
            answered_at: None,
            outcome: "refused 486".into(),
        },
        // A leg that is still open.
        Record::LegStarted {
            call: 8,
            leg: 1,
            at: T0 + 1,
            seat: 1003,
        },
    ];
    let mut last = 0;
    for (i, r) in records.into_iter().enumerate() {
        last = store.write(r);
        assert_eq!(last, i as u64 + 1, "sequence numbers count from 1");
    }
    let status = store.status();
    committed_within(&status, last).await;
    assert_eq!(status.pending(), 0);
    assert_eq!(status.errors(), 0);
    store.close(CLOSE).unwrap();

    let conn = open_read_only(dir.path()).unwrap();
    assert_eq!(
        rows(&conn, "SELECT * FROM calls ORDER BY id"),
        vec![
            vec![
                int(7),
                int(T0),
                text("12349"),
                text("13800000000"),
                int(T0 + 60_000),
                text("answered"),
                text("12345"),
                text("民政"),
                int(1001),
                int(2_990),
                int(57_000),
                int(3)
            ],
            vec![
                int(8),
                int(T0 + 1),
                text("99999"),
                text("anonymous"),
                int(T0 + 2),
                text("rejected"),
                NULL,
                NULL,
                NULL,
                NULL,
                NULL,
                NULL
            ],
            vec![
                int(9),
                NULL,
                NULL,
                NULL,
                int(T0 + 5),
                text("abandoned_short"),
                text("12345"),
                NULL,
                NULL,
                int(1_200),
                NULL,
                NULL
            ],
        ]
    );
    assert_eq!(
        rows(
            &conn,
            "SELECT call, leg, started_at, seat, ended_at, answered_at, outcome FROM legs \
             ORDER BY call, leg"
        ),
        vec![
            vec![
                int(7),
                int(1),
                int(T0 + 20),
                int(1001),
                int(T0 + 60_000),
                int(T0 + 3_000),
                text("answered-then-hung-up")
            ],
            vec![int(8), int(1), int(T0 + 1), int(1003), NULL, NULL, NULL],
            vec![
                int(9),
                int(2),
                NULL,
                NULL,
                int(T0 + 4),
                NULL,
                text("refused 486")
            ],
        ]
    );
    assert_eq!(
        rows(
            &conn,
            "SELECT id, call, at, queue, line, seat, kind, wait_ms FROM queue_events ORDER BY id"
        ),
        vec![
            vec![
                int(1),
                int(7),
                int(T0 + 10),
                text("12345"),
                text("12349"),
                NULL,
                text("enter"),
                NULL
            ],
            vec![
                int(2),
                int(7),
                int(T0 + 3_000),
                text("12345"),
                text("12349"),
                int(1001),
                text("connect"),
                int(2_990)
            ],
        ]
    );
    assert_eq!(
        rows(
            &conn,
            "SELECT id, seat, at, state, reason, source FROM seat_events ORDER BY id"
        ),
        vec![
            vec![
                int(1),
                int(1001),
                int(T0 + 60_001),
                text("not_ready"),
                text("break"),
                text("api")
            ],
            vec![
                int(2),
                int(1002),
                int(T0 + 60_002),
                text("ready"),
                NULL,
                text("phone")
            ],
        ]
    );
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, hotline::store::SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn every_queue_event_kind_and_call_outcome_is_stored_by_name() {
    use QueueEventKind as K;
    let dir = TestDir::new("names");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let kinds = [
        K::Enter,
        K::Offer,
        K::Connect,
        K::RingNoAnswer,
        K::Refused,
        K::Unreachable,
        K::AbandonLong,
        K::AbandonShort,
        K::Timeout,
        K::Transfer,
        K::CompleteCaller,
        K::CompleteSeat,
    ];
    let outcomes = [
        CallOutcome::Answered,
        CallOutcome::AbandonedShort,
        CallOutcome::Abandoned,
        CallOutcome::TimedOut,
        CallOutcome::Rejected,
        CallOutcome::Interrupted,
    ];
    let mut seq = 0;
    for (i, k) in kinds.iter().enumerate() {
        seq = store.write(queue(1, T0 + i as i64, "q", "l", *k));
    }
    for (i, o) in outcomes.iter().enumerate() {
        let call = 100 + i as u64;
        store.write(Record::CallStarted {
            call,
            at: T0,
            line: "12345".into(),
            caller: "x".into(),
        });
        seq = store.write(Record::CallEnded {
            call,
            at: T0 + 1,
            outcome: *o,
            queue: None,
            topic: None,
            seat: None,
            wait_ms: None,
            talk_ms: None,
            survey: None,
        });
    }
    committed_within(&store.status(), seq).await;
    store.close(CLOSE).unwrap();
    let conn = open_read_only(dir.path()).unwrap();
    let stored: Vec<Vec<Value>> = rows(&conn, "SELECT kind FROM queue_events ORDER BY id");
    let want: Vec<Vec<Value>> = kinds.iter().map(|k| vec![text(k.as_str())]).collect();
    assert_eq!(stored, want);
    let stored = rows(&conn, "SELECT outcome FROM calls ORDER BY id");
    let want: Vec<Vec<Value>> = outcomes.iter().map(|o| vec![text(o.as_str())]).collect();
    assert_eq!(stored, want);
}

#[tokio::test]
async fn recovery_interrupts_calls_in_flight_and_reports_the_largest_id() {
    let dir = TestDir::new("recovery");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    for call in [3_u64, 41, 12] {
        store.write(Record::CallStarted {
            call,
            at: T0 + call as i64,
            line: "12345".into(),
            caller: "13900000000".into(),
        });
    }
    store.write(Record::LegStarted {
        call: 41,
        leg: 1,
        at: T0 + 100,
        seat: 1001,
    });
    store.write(Record::LegStarted {
        call: 3,
        leg: 1,
        at: T0 + 100,
        seat: 1002,
    });
    store.write(Record::LegEnded {
        call: 3,
        leg: 1,
        at: T0 + 200,
        answered_at: Some(T0 + 150),
        outcome: "answered-then-hung-up".into(),
    });
    let seq = store.write(Record::CallEnded {
        call: 3,
        at: T0 + 200,
        outcome: CallOutcome::Answered,
        queue: Some("12345".into()),
        topic: None,
        seat: Some(1002),
        wait_ms: Some(50),
        talk_ms: Some(50),
        survey: None,
    });
    committed_within(&store.status(), seq).await;
    // A crash: the store is dropped without close (the writer still flushes what it has).
    drop(store);

    let restart = T0 + 1_000_000;
    let reopened = loop {
        // The dropped writer may still hold the write lock for a moment.
        match Store::open(dir.path(), restart) {
            Ok(r) => break r,
            Err(e) if e.to_string().contains("locked") => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let (store, recovery) = reopened;
    assert_eq!(
        recovery,
        Recovery {
            interrupted_calls: 2,
            interrupted_legs: 1,
            max_call_id: 41
        }
    );
    store.close(CLOSE).unwrap();

    let conn = open_read_only(dir.path()).unwrap();
    assert_eq!(
        rows(&conn, "SELECT id, ended_at, outcome FROM calls ORDER BY id"),
        vec![
            vec![int(3), int(T0 + 200), text("answered")],
            vec![int(12), int(restart), text("interrupted")],
            vec![int(41), int(restart), text("interrupted")],
        ]
    );
    assert_eq!(
        rows(
            &conn,
            "SELECT call, ended_at, outcome FROM legs ORDER BY call"
        ),
        vec![
            vec![int(3), int(T0 + 200), text("answered-then-hung-up")],
            vec![int(41), int(restart), text("interrupted")],
        ]
    );
    drop(conn);

    // A second start finds nothing to repair and the same largest id.
    let (store, recovery) = Store::open(dir.path(), restart + 1).unwrap();
    assert_eq!(
        recovery,
        Recovery {
            interrupted_calls: 0,
            interrupted_legs: 0,
            max_call_id: 41
        }
    );
    store.close(CLOSE).unwrap();
}

#[tokio::test]
async fn max_call_id_counts_ids_seen_only_in_events() {
    let dir = TestDir::new("maxid");
    let (mut store, recovery) = Store::open(dir.path(), T0).unwrap();
    assert_eq!(recovery.max_call_id, 0);
    store.write(Record::CallStarted {
        call: 5,
        at: T0,
        line: "12345".into(),
        caller: "1".into(),
    });
    store.write(queue(77, T0, "12345", "12345", QueueEventKind::Enter));
    let seq = store.write(Record::LegStarted {
        call: 60,
        leg: 1,
        at: T0,
        seat: 1,
    });
    committed_within(&store.status(), seq).await;
    store.close(CLOSE).unwrap();
    let (store, recovery) = Store::open(dir.path(), T0 + 1).unwrap();
    assert_eq!(recovery.max_call_id, 77);
    store.close(CLOSE).unwrap();
}

#[tokio::test]
async fn totals_reproduce_the_counts_of_a_scripted_day() {
    use QueueEventKind as K;
    let dir = TestDir::new("totals");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let min = 60_000;
    let connect = |call, at, q: &str, line: &str, wait| Record::Queue {
        call,
        at,
        queue: q.into(),
        line: line.into(),
        seat: Some(1001),
        kind: K::Connect,
        wait_ms: Some(wait),
    };
    let waited = |call, at, q: &str, line: &str, kind, wait| Record::Queue {
        call,
        at,
        queue: q.into(),
        line: line.into(),
        seat: None,
        kind,
        wait_ms: Some(wait),
    };
    let script = vec![
        // Before the window: counted nowhere.
        queue(1, T0 - 1, "12345", "12345", K::Enter),
        connect(1, T0 - 1, "12345", "12345", 1),
        // Line 12345 → queue 12345.
        queue(2, T0, "12345", "12345", K::Enter), // the window's first instant counts
        queue(2, T0 + 1_000, "12345", "12345", K::Offer),
        queue(2, T0 + 15_000, "12345", "12345", K::RingNoAnswer),
        connect(2, T0 + 15_000, "12345", "12345", 15_000), // exactly 15 s: within
        queue(3, T0 + min, "12345", "12345", K::Enter),
        connect(3, T0 + min + 15_001, "12345", "12345", 15_001), // not within
        waited(3, T0 + 5 * min, "12345", "12345", K::Transfer, 15_001),
        queue(4, T0 + min, "12345", "12345", K::Enter),
        waited(
            4,
            T0 + min + 3_000,
            "12345",
            "12345",
            K::AbandonShort,
            3_000,
        ),
        queue(5, T0 + min, "12345", "12345", K::Enter),
        waited(5, T0 + 2 * min, "12345", "12345", K::AbandonLong, 60_000),
        // Line 12349 (merged) also feeds queue 12345.
        queue(6, T0 + 2 * min, "12345", "12349", K::Enter),
        connect(6, T0 + 2 * min + 500, "12345", "12349", 500),
        queue(7, T0 + 2 * min, "12345", "12349", K::Enter),
        waited(7, T0 + 12 * min, "12345", "12349", K::Timeout, 600_000),
        // Line 12348 → queue legal.
        queue(8, T0 + 3 * min, "legal", "12348", K::Enter),
        queue(8, T0 + 3 * min, "legal", "12348", K::Unreachable),
        waited(8, T0 + 3 * min + 100, "legal", "12348", K::Transfer, 100), // kind only
        // Arrived inside, abandoned after the window: the enter counts, the abandon does not.
        queue(9, T0 + 59 * min, "legal", "12348", K::Enter),
        waited(9, T0 + 60 * min, "legal", "12348", K::AbandonLong, min),
    ];
    let mut seq = 0;
    for r in script {
        seq = store.write(r);
    }
    committed_within(&store.status(), seq).await;
    let conn = open_read_only(dir.path()).unwrap();
    let t = totals(&conn, T0, T0 + 60 * min, 15_000).unwrap();

    let q12345 = Counts {
        offered: 6,
        answered: 3,
        answered_within: 2,
        abandoned_short: 1,
        abandoned_long: 1,
        timed_out: 1,
        transferred: 1,
    };
    let legal = Counts {
        offered: 2,
        transferred: 1,
        ..Counts::default()
    };
    assert_eq!(t.queues.len(), 2, "{t:?}");
    assert_eq!(t.queues["12345"], q12345);
    assert_eq!(t.queues["legal"], legal);
    assert_eq!(t.lines.len(), 3, "{t:?}");
    assert_eq!(
        t.lines["12345"],
        Counts {
            offered: 4,
            answered: 2,
            answered_within: 1,
            abandoned_short: 1,
            abandoned_long: 1,
            timed_out: 0,
            transferred: 1,
        }
    );
    assert_eq!(
        t.lines["12349"],
        Counts {
            offered: 2,
            answered: 1,
            answered_within: 1,
            timed_out: 1,
            ..Counts::default()
        }
    );
    assert_eq!(t.lines["12348"], legal);

    // A narrower window and a stricter threshold.
    let t = totals(&conn, T0 + min, T0 + 2 * min, 10_000).unwrap();
    assert_eq!(
        t.queues["12345"],
        Counts {
            offered: 3,
            answered: 1,
            answered_within: 0,
            abandoned_short: 1,
            ..Counts::default()
        }
    );
    assert!(totals(&conn, T0 + 61 * min, T0 + 62 * min, 15_000)
        .unwrap()
        .queues
        .is_empty());
    drop(conn);
    store.close(CLOSE).unwrap();
}

#[tokio::test]
async fn wait_committed_resolves_after_the_commit_is_visible_to_readers() {
    let dir = TestDir::new("wait");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let status = store.status();
    assert_eq!(status.committed(), 0);
    // Nothing to wait for yet.
    committed_within(&status, 0).await;
    let reader = open_read_only(dir.path()).unwrap();
    for round in 1..=20_u64 {
        let seq = store.write(Record::CallStarted {
            call: round,
            at: T0,
            line: "12345".into(),
            caller: "1".into(),
        });
        assert_eq!(seq, round);
        let waiter = status.clone();
        let waited = tokio::spawn(async move { waiter.wait_committed(seq).await });
        tokio::time::timeout(Duration::from_secs(10), waited)
            .await
            .expect("wait_committed resolves")
            .unwrap();
        assert!(status.committed() >= seq);
        let n: i64 = reader
            .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            n as u64, round,
            "a committed record is visible to another connection"
        );
    }
    assert_eq!(status.pending(), 0);
    let stats = status.stats();
    assert_eq!(stats.records, 20);
    assert!(stats.batches >= 1 && stats.batches <= 20, "{stats:?}");
    drop(reader);
    store.close(CLOSE).unwrap();
    // The status outlives the store and still answers.
    assert_eq!(status.committed(), 20);
    committed_within(&status, 20).await;
}

fn audit(at: i64, actor: &str, action: AuditAction, status: u16) -> Record {
    Record::Audit(AuditEntry {
        at_ms: at,
        actor: actor.into(),
        role: (actor != "-").then(|| "supervisor".into()),
        source: "10.0.0.5:40000".into(),
        method: "POST".into(),
        path: "/api/v1/pools/surge".into(),
        status,
        action,
        detail: Some(r#"{"open":true}"#.into()),
    })
}

#[tokio::test]
async fn the_audit_ledger_is_appended_read_back_and_never_changed() {
    let dir = TestDir::new("audit");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    store.write(audit(T0, "-", AuditAction::Unauthenticated, 401));
    store.write(audit(T0 + 1, "duty-1", AuditAction::Write, 200));
    let seq = store.write(audit(T0 + 2, "duty-2", AuditAction::Forbidden, 403));
    committed_within(&store.status(), seq).await;
    let db = dir.path().join(DB_FILE);
    let q = |since, after, actor: Option<&str>, limit| AuditQuery {
        since,
        after,
        actor: actor.map(Into::into),
        limit,
    };
    let all = read_audit(&db, &q(None, None, None, 100)).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[0].id, all[0].actor.as_str(), all[0].role.as_deref()),
        (1, "-", None)
    );
    assert_eq!(
        (all[1].status, all[1].action.as_str(), all[1].path.as_str()),
        (200, "write", "/api/v1/pools/surge")
    );
    assert_eq!(all[1].detail.as_deref(), Some(r#"{"open":true}"#));
    assert_eq!(all[2].source, "10.0.0.5:40000");
    let ids = |rows: Vec<AuditRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(read_audit(&db, &q(Some(T0 + 1), None, None, 100)).unwrap()),
        [2, 3]
    );
    assert_eq!(
        ids(read_audit(&db, &q(None, Some(2), None, 100)).unwrap()),
        [3]
    );
    assert_eq!(
        ids(read_audit(&db, &q(None, None, Some("duty-1"), 100)).unwrap()),
        [2]
    );
    assert_eq!(
        ids(read_audit(&db, &q(None, None, None, 2)).unwrap()),
        [1, 2]
    );

    // Append-only, whoever connects: the triggers refuse changes and removals.
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    for sql in [
        "UPDATE audit SET status = 200 WHERE id = 1",
        "DELETE FROM audit WHERE id = 3",
        "DELETE FROM audit",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(
            err.contains("the audit ledger is append-only"),
            "{sql}: {err}"
        );
    }
    drop(conn);
    store.close(CLOSE).unwrap();
    assert_eq!(read_audit(&db, &q(None, None, None, 100)).unwrap(), all);
}

#[tokio::test]
async fn a_schema_3_database_gains_the_ledger_and_keeps_its_calls() {
    let dir = TestDir::new("v3");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let seq = store.write(Record::CallStarted {
        call: 5,
        at: T0,
        line: "12345".into(),
        caller: "13800000000".into(),
    });
    committed_within(&store.status(), seq).await;
    store.close(CLOSE).unwrap();
    // Back to what a schema-3 build left behind.
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TABLE audit;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);

    let (mut store, recovery) = Store::open(dir.path(), T0 + 10).unwrap();
    assert_eq!(recovery.max_call_id, 5);
    let seq = store.write(audit(T0 + 11, "root", AuditAction::Write, 200));
    committed_within(&store.status(), seq).await;
    store.close(CLOSE).unwrap();
    let conn = open_read_only(dir.path()).unwrap();
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    assert_eq!(
        rows(&conn, "SELECT id, actor FROM audit"),
        vec![vec![int(1), text("root")]]
    );
    assert_eq!(
        rows(&conn, "SELECT id, caller FROM calls"),
        vec![vec![int(5), text("13800000000")]]
    );
}

#[test]
fn a_file_where_the_directory_should_be_is_a_clear_error() {
    let dir = TestDir::new("notadir");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = Store::open(&file, T0).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&*file.to_string_lossy()), "{msg}");
    assert!(msg.contains("cannot create the storage directory"), "{msg}");
    assert_eq!(err.path(), file);
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_foreign_or_newer_database_is_refused() {
    let dir = TestDir::new("foreign");
    std::fs::create_dir_all(dir.path()).unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch("CREATE TABLE other (x)").unwrap();
    drop(conn);
    let msg = Store::open(dir.path(), T0).unwrap_err().to_string();
    assert!(msg.contains("not a hotline database"), "{msg}");
    assert!(msg.contains(DB_FILE), "{msg}");

    let dir = TestDir::new("newer");
    let (store, _) = Store::open(dir.path(), T0).unwrap();
    store.close(CLOSE).unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let msg = Store::open(dir.path(), T0).unwrap_err().to_string();
    assert!(msg.contains("schema version 99 is newer"), "{msg}");
}

/// Whether permission bits stop this process (they do not stop root).
#[cfg(unix)]
fn permissions_apply(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let denied = std::fs::write(&probe, b"x").is_err();
    let _ = std::fs::remove_file(&probe);
    denied
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_read_only_directory_is_a_clear_error() {
    let dir = TestDir::new("readonly");
    std::fs::create_dir_all(dir.path()).unwrap();
    set_mode(dir.path(), 0o555);
    if !permissions_apply(dir.path()) {
        set_mode(dir.path(), 0o755);
        eprintln!("skipped: permission bits do not apply to this user (root?)");
        return;
    }
    let result = Store::open(dir.path(), T0);
    set_mode(dir.path(), 0o755);
    let msg = result.unwrap_err().to_string();
    assert!(
        msg.contains(&*dir.path().join(DB_FILE).to_string_lossy()),
        "{msg}"
    );
    assert!(msg.contains("unable to open database file"), "{msg}");
}

#[cfg(unix)]
#[test]
fn a_read_only_database_file_is_a_clear_error() {
    let dir = TestDir::new("readonlyfile");
    let (store, _) = Store::open(dir.path(), T0).unwrap();
    store.close(CLOSE).unwrap();
    let db = dir.path().join(DB_FILE);
    set_mode(&db, 0o444);
    let denied = std::fs::OpenOptions::new().write(true).open(&db).is_err();
    let result = Store::open(dir.path(), T0);
    set_mode(&db, 0o644);
    if !denied {
        eprintln!("skipped: permission bits do not apply to this user (root?)");
        return;
    }
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("read-only"), "{msg}");
    assert!(msg.contains(&*db.to_string_lossy()), "{msg}");
}

fn open_fast_retry(dir: &Path, max_pending: u64) -> Store {
    let options = StoreOptions {
        max_pending,
        busy_timeout: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    Store::open_with(dir, T0, &options).unwrap().0
}

/// Another connection holding the write lock: the writer's transactions fail with "database is
/// locked". Portable, and works for root too.
fn lock(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

#[tokio::test]
async fn a_locked_database_counts_errors_keeps_the_records_and_commits_them_later() {
    let dir = TestDir::new("locked");
    let mut store = open_fast_retry(dir.path(), 1_000_000);
    let status = store.status();
    let blocker = lock(dir.path());
    let mut seq = 0;
    for call in 1..=500 {
        seq = store.write(Record::CallStarted {
            call,
            at: T0,
            line: "12345".into(),
            caller: "1".into(),
        });
    }
    eventually("two failed attempts", || status.errors() >= 2);
    assert_eq!(status.committed(), 0);
    assert_eq!(status.pending(), 500);
    // New records are still accepted while it fails.
    for call in 501..=600 {
        seq = store.write(Record::CallStarted {
            call,
            at: T0,
            line: "12345".into(),
            caller: "1".into(),
        });
    }
    assert_eq!(seq, 600);
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    committed_within(&status, 600).await;
    assert_eq!(status.pending(), 0);
    assert_eq!(status.dropped(), 0);
    store.close(CLOSE).unwrap();
    let conn = open_read_only(dir.path()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 600);
}

#[tokio::test]
async fn past_the_memory_bound_records_are_refused_and_counted() {
    let dir = TestDir::new("bound");
    let mut store = open_fast_retry(dir.path(), 10);
    let status = store.status();
    let blocker = lock(dir.path());
    let seat = |at| Record::SeatState {
        seat: 1001,
        at,
        state: "ready".into(),
        reason: None,
        source: "api".into(),
    };
    for i in 0..10 {
        assert_eq!(store.write(seat(T0 + i)), i as u64 + 1);
    }
    // Full: refused records get no sequence number.
    for i in 10..15 {
        assert_eq!(store.write(seat(T0 + i)), 10);
    }
    assert_eq!(status.dropped(), 5);
    assert_eq!(status.pending(), 10);
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    committed_within(&status, 10).await;
    // Accepted again once the backlog is written.
    assert_eq!(store.write(seat(T0 + 100)), 11);
    committed_within(&status, 11).await;
    store.close(CLOSE).unwrap();
    let conn = open_read_only(dir.path()).unwrap();
    let ats: Vec<Vec<Value>> = rows(&conn, "SELECT at FROM seat_events ORDER BY id");
    let want: Vec<Vec<Value>> = (0..10)
        .map(|i| T0 + i)
        .chain([T0 + 100])
        .map(|at| vec![int(at)])
        .collect();
    assert_eq!(ats, want);
}

#[tokio::test]
async fn a_record_that_cannot_be_stored_is_skipped_and_counted_not_fatal() {
    let dir = TestDir::new("baddata");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let status = store.status();
    store.write(Record::CallStarted {
        call: 1,
        at: T0,
        line: "12345".into(),
        caller: "1".into(),
    });
    store.write(Record::CallStarted {
        call: u64::MAX,
        at: T0,
        line: "12345".into(),
        caller: "1".into(),
    });
    store.write(queue(u64::MAX, T0, "q", "l", QueueEventKind::Enter));
    let seq = store.write(Record::CallStarted {
        call: 2,
        at: T0,
        line: "12345".into(),
        caller: "1".into(),
    });
    committed_within(&status, seq).await;
    assert_eq!(status.dropped(), 2);
    assert_eq!(status.errors(), 2);
    assert_eq!(status.pending(), 0);
    store.close(CLOSE).unwrap();
    let conn = open_read_only(dir.path()).unwrap();
    assert_eq!(
        rows(&conn, "SELECT id FROM calls ORDER BY id"),
        vec![vec![int(1)], vec![int(2)]]
    );
}

#[test]
fn close_gives_up_after_its_timeout_and_says_how_many_records_are_left() {
    let dir = TestDir::new("closetimeout");
    let mut store = open_fast_retry(dir.path(), 1_000);
    let blocker = lock(dir.path());
    for i in 0..3 {
        store.write(Record::SeatState {
            seat: 1,
            at: T0 + i,
            state: "ready".into(),
            reason: None,
            source: "api".into(),
        });
    }
    let msg = store
        .close(Duration::from_millis(200))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("3 records not committed"), "{msg}");
    assert!(msg.contains(DB_FILE), "{msg}");
    drop(blocker);
}

/// Calls of a realistic mix, ≈6 records each: most answered (start, enter, leg, connect, leg
/// end, end), some after a ring-no-answer, some abandoned, plus seat changes.
fn call_records(call: u64, at: i64, out: &mut Vec<Record>) {
    use QueueEventKind as K;
    let seat = 1000 + (call % 190) as u32;
    let line = match call % 7 {
        0 => "12349",
        _ => "12345",
    };
    let q = |kind, at, seat, wait| Record::Queue {
        call,
        at,
        queue: "12345".into(),
        line: line.into(),
        seat,
        kind,
        wait_ms: wait,
    };
    out.push(Record::CallStarted {
        call,
        at,
        line: line.into(),
        caller: format!("138{:08}", call % 100_000_000),
    });
    out.push(q(K::Enter, at + 5, None, None));
    if call % 10 == 9 {
        out.push(q(K::AbandonLong, at + 30_000, None, Some(30_000)));
        out.push(Record::CallEnded {
            call,
            at: at + 30_000,
            outcome: CallOutcome::Abandoned,
            queue: Some("12345".into()),
            topic: Some("民政".into()),
            seat: None,
            wait_ms: Some(30_000),
            talk_ms: None,
            survey: None,
        });
        return;
    }
    let mut leg = 1;
    if call % 10 == 8 {
        out.push(Record::LegStarted {
            call,
            leg,
            at: at + 10,
            seat: seat + 1,
        });
        out.push(q(K::RingNoAnswer, at + 15_010, Some(seat + 1), None));
        out.push(Record::LegEnded {
            call,
            leg,
            at: at + 15_010,
            answered_at: None,
            outcome: "no-answer".into(),
        });
        leg += 1;
    }
    out.push(Record::LegStarted {
        call,
        leg,
        at: at + 20,
        seat,
    });
    out.push(q(K::Connect, at + 3_000, Some(seat), Some(2_995)));
    out.push(Record::LegEnded {
        call,
        leg,
        at: at + 120_000,
        answered_at: Some(at + 3_000),
        outcome: "answered-then-hung-up".into(),
    });
    out.push(Record::CallEnded {
        call,
        at: at + 120_000,
        outcome: CallOutcome::Answered,
        queue: Some("12345".into()),
        topic: Some("民政".into()),
        seat: Some(seat),
        wait_ms: Some(2_995),
        talk_ms: Some(117_000),
        survey: None,
    });
    if call % 5 < 1 {
        out.push(Record::SeatState {
            seat,
            at: at + 120_001,
            state: "wrap_up".into(),
            reason: None,
            source: "distributor".into(),
        });
    }
}

fn realistic(n_records: usize) -> Vec<Record> {
    let mut out = Vec::with_capacity(n_records + 16);
    let mut call = 1;
    while out.len() < n_records {
        call_records(call, T0 + call as i64 * 10, &mut out);
        call += 1;
    }
    out.truncate(n_records);
    out
}

/// Resident memory of this process (Linux only).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Writes 100,000 records: first as fast as possible (throughput), then paced at 20,000
/// records/s (≈3,300 calls/s) in 1 ms ticks, measuring write-to-committed latency per tick.
#[test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
fn throughput() {
    let n: usize = std::env::var("HOTLINE_STORE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // Memory held per record while the database is locked (Linux: growth of the resident
    // set). First, before other phases leave freed memory behind for reuse.
    let dir = TestDir::new("backlog");
    let mut store = open_fast_retry(dir.path(), u64::MAX);
    let status = store.status();
    let blocker = lock(dir.path());
    let before = resident_bytes();
    let (mut call, mut seq, mut buf) = (1, 0, Vec::new());
    while seq < n as u64 {
        call_records(call, T0 + call as i64 * 10, &mut buf);
        for r in buf.drain(..) {
            seq = store.write(r);
        }
        call += 1;
    }
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        eprintln!(
            "backlog: {seq} records held while the database is locked: {:.0} bytes/record",
            after.saturating_sub(before) as f64 / seq as f64
        );
    }
    drop(blocker);
    eventually("backlog committed", || status.committed() >= seq);
    store.close(CLOSE).unwrap();

    let records = realistic(n);
    eprintln!("size_of::<Record>() = {} bytes", size_of::<Record>());

    // Burst.
    let dir = TestDir::new("throughput");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let status = store.status();
    let burst = records.clone();
    let start = Instant::now();
    let mut seq = 0;
    for r in burst {
        seq = store.write(r);
    }
    let queued = start.elapsed();
    eventually("burst committed", || status.committed() >= seq);
    let elapsed = start.elapsed();
    let stats = status.stats();
    store.close(CLOSE).unwrap();
    let db_bytes = std::fs::metadata(dir.path().join(DB_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "burst: {n} records queued in {queued:?} ({:.0} ns/write), committed in {elapsed:?}: \
         {:.0} records/s; {} transactions, mean {:.0} records and {:.2} ms each, longest {:.2} ms; \
         database {:.1} MB",
        queued.as_nanos() as f64 / n as f64,
        n as f64 / elapsed.as_secs_f64(),
        stats.batches,
        stats.records as f64 / stats.batches as f64,
        stats.busy_micros as f64 / stats.batches as f64 / 1e3,
        stats.max_batch_micros as f64 / 1e3,
        db_bytes as f64 / 1e6,
    );
    assert_eq!(stats.records, n as u64);

    // Paced, with a tokio runtime as in the server.
    let dir = TestDir::new("latency");
    let (mut store, _) = Store::open(dir.path(), T0).unwrap();
    let status = store.status();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let per_tick = 20;
    let mut latencies = rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut waits = Vec::new();
        let mut it = records.into_iter();
        loop {
            tick.tick().await;
            let mut seq = 0;
            for r in it.by_ref().take(per_tick) {
                seq = store.write(r);
            }
            if seq == 0 {
                break;
            }
            let s = status.clone();
            let written = Instant::now();
            waits.push(tokio::spawn(async move {
                s.wait_committed(seq).await;
                written.elapsed()
            }));
        }
        let mut out = Vec::with_capacity(waits.len());
        for w in waits {
            out.push(w.await.unwrap());
        }
        out
    });
    let stats = status.stats();
    store.close(CLOSE).unwrap();
    latencies.sort();
    eprintln!(
        "paced 20,000 records/s: write-to-committed latency p50 {:?}, p99 {:?}, max {:?}; \
         {} transactions, mean {:.0} records and {:.3} ms each, longest {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap(),
        stats.batches,
        stats.records as f64 / stats.batches as f64,
        stats.busy_micros as f64 / stats.batches as f64 / 1e3,
        stats.max_batch_micros as f64 / 1e3,
    );
}
