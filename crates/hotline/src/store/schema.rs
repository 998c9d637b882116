//! Opening, schema versions (`PRAGMA user_version`) and start-up recovery.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, DatabaseName, OpenFlags, TransactionBehavior};

use super::{Cause, Recovery, StoreError};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 4;

/// `PRAGMA application_id` of a hotline database ("HL12" in ASCII), so a foreign SQLite file is
/// refused instead of written into.
const APPLICATION_ID: i32 = 0x484C_3132;

/// `MIGRATIONS[v]` takes the schema from version `v` to `v + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 0 → 1: the first schema. docs/storage.md describes every column.
    "CREATE TABLE calls (
        id          INTEGER PRIMARY KEY,
        started_at  INTEGER,
        line        TEXT,
        caller      TEXT,
        ended_at    INTEGER,
        outcome     TEXT,
        queue       TEXT,
        topic       TEXT,
        seat        INTEGER,
        wait_ms     INTEGER,
        talk_ms     INTEGER
    );
    CREATE INDEX calls_open ON calls (id) WHERE ended_at IS NULL;
    CREATE TABLE legs (
        call        INTEGER NOT NULL,
        leg         INTEGER NOT NULL,
        started_at  INTEGER,
        seat        INTEGER,
        ended_at    INTEGER,
        answered_at INTEGER,
        outcome     TEXT,
        PRIMARY KEY (call, leg)
    ) WITHOUT ROWID;
    CREATE INDEX legs_open ON legs (call) WHERE ended_at IS NULL;
    CREATE TABLE queue_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        call        INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        queue       TEXT NOT NULL,
        line        TEXT NOT NULL,
        seat        INTEGER,
        kind        TEXT NOT NULL,
        wait_ms     INTEGER
    );
    CREATE INDEX queue_events_at ON queue_events (at);
    CREATE INDEX queue_events_call ON queue_events (call);
    CREATE TABLE seat_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        seat        INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        state       TEXT NOT NULL,
        reason      TEXT,
        source      TEXT NOT NULL
    );",
    // 1 → 2: the post-call survey (好差评): 1-5 as pressed, 0 asked but not answered,
    // NULL not asked.
    "ALTER TABLE calls ADD COLUMN survey INTEGER;",
    // 2 → 3: transfers (一键转接): one row per target leg, with how it ended.
    "CREATE TABLE transfers (
        call        INTEGER NOT NULL,
        transfer    INTEGER NOT NULL,
        target      TEXT NOT NULL,
        number      TEXT NOT NULL,
        mode        TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at    INTEGER NOT NULL,
        outcome     TEXT NOT NULL,
        reason      TEXT NOT NULL,
        PRIMARY KEY (call, transfer)
    ) WITHOUT ROWID;
    CREATE INDEX transfers_target ON transfers (target, ended_at);
    CREATE TABLE ticket_pushes (
        call        INTEGER NOT NULL,
        transfer    INTEGER NOT NULL,
        target      TEXT NOT NULL,
        at          INTEGER NOT NULL,
        delivered   INTEGER NOT NULL,
        status      INTEGER,
        attempts    INTEGER NOT NULL,
        reason      TEXT NOT NULL
    );",
    // 3 → 4: the audit ledger (docs/decisions/0015). Append-only: the triggers refuse any
    // change or removal, whoever connects, so the ledger cannot be edited in place without
    // first dropping them (which a DBA can, and which a file-level copy would show).
    "CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms       INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        role        TEXT,
        source      TEXT NOT NULL,
        method      TEXT NOT NULL,
        path        TEXT NOT NULL,
        status      INTEGER NOT NULL,
        action      TEXT NOT NULL,
        detail      TEXT
    );
    CREATE INDEX audit_at ON audit (at_ms);
    CREATE INDEX audit_actor ON audit (actor, id);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;",
];

/// Opens the database for writing with the pragmas the writer relies on.
pub(super) fn open_rw(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::sqlite(path, "cannot open the database", e))?;
    let err = |what: &'static str| move |e| StoreError::sqlite(path, what, e);
    conn.busy_timeout(busy_timeout)
        .map_err(err("cannot set busy_timeout"))?;
    // SQLite silently opens a write-protected file read-only; say so now, not at the first write.
    if conn
        .is_readonly(DatabaseName::Main)
        .map_err(err("cannot inspect the database"))?
    {
        return Err(StoreError::new(
            path,
            "the database file is read-only (check its permissions)",
            Cause::None,
        ));
    }
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(err(
            "cannot switch to WAL mode (is the directory writable?)",
        ))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::new(
            path,
            format!("SQLite refused WAL mode (journal_mode is {mode})"),
            Cause::None,
        ));
    }
    // WAL + NORMAL: a commit is durable against a crash of the process, and against power loss
    // once the next checkpoint syncs (docs/decisions/0007).
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err("cannot set synchronous=NORMAL"))?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(err("cannot set journal_size_limit"))?;
    Ok(conn)
}

/// Creates the schema in a new database or migrates an older one.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |what: &'static str| move |e| StoreError::sqlite(path, what, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err("cannot lock the database to check its schema"))?;
    let app: i32 = tx
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(err("cannot read application_id"))?;
    let version: i32 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err("cannot read user_version"))?;
    if app != 0 && app != APPLICATION_ID {
        return Err(StoreError::new(
            path,
            format!("not a hotline database (application_id {app:#x})"),
            Cause::None,
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(
            path,
            format!(
                "schema version {version} is newer than this build understands \
                 ({SCHEMA_VERSION}); run a newer hotline"
            ),
            Cause::None,
        ));
    }
    if version < 0 {
        return Err(StoreError::new(
            path,
            format!("not a hotline database (user_version {version})"),
            Cause::None,
        ));
    }
    if version == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(err("cannot read the schema"))?;
        if tables > 0 {
            return Err(StoreError::new(
                path,
                "not a hotline database (it has tables but no schema version)",
                Cause::None,
            ));
        }
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(|e| {
            StoreError::sqlite(
                path,
                format!("cannot migrate the schema from version {v}"),
                e,
            )
        })?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(err("cannot set application_id"))?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(err("cannot set user_version"))?;
    tx.commit()
        .map_err(err("cannot commit the schema migration"))?;
    if version > 0 {
        tracing::info!(path = %path.display(), from = version, to = SCHEMA_VERSION, "schema migrated");
    }
    Ok(())
}

/// Ends every call and leg left open by the last run as `interrupted` at `now_ms`, and finds
/// the largest call id stored.
pub(super) fn recover(
    conn: &mut Connection,
    path: &Path,
    now_ms: i64,
) -> Result<Recovery, StoreError> {
    let err = |what: &'static str| move |e| StoreError::sqlite(path, what, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err("cannot lock the database for recovery"))?;
    let legs = tx
        .execute(
            "UPDATE legs SET ended_at = ?1, outcome = 'interrupted' WHERE ended_at IS NULL",
            params![now_ms],
        )
        .map_err(err("cannot end the legs left open"))?;
    let calls = tx
        .execute(
            "UPDATE calls SET ended_at = ?1, outcome = 'interrupted' WHERE ended_at IS NULL",
            params![now_ms],
        )
        .map_err(err("cannot end the calls left open"))?;
    let max: Option<i64> = tx
        .query_row(
            "SELECT max(m) FROM (
                SELECT max(id) AS m FROM calls
                UNION ALL SELECT max(call) FROM legs
                UNION ALL SELECT max(call) FROM queue_events)",
            [],
            |r| r.get(0),
        )
        .map_err(err("cannot read the largest call id"))?;
    tx.commit().map_err(err("cannot commit the recovery"))?;
    Ok(Recovery {
        interrupted_calls: calls as u64,
        interrupted_legs: legs as u64,
        max_call_id: max.and_then(|m| u64::try_from(m).ok()).unwrap_or(0),
    })
}
