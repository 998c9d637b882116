//! Reading the audit ledger back (`GET /api/v1/audit`). Rows are only ever inserted, by the
//! writer thread (`Record::Audit`); this side only reads, on a read-only connection.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OpenFlags};

use crate::audit::{AuditQuery, AuditRow};

/// The rows `query` selects from the database file at `db`, in the order written.
///
/// # Errors
///
/// The database cannot be opened or read.
pub fn read_audit(db: &Path, query: &AuditQuery) -> rusqlite::Result<Vec<AuditRow>> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    select(&conn, query)
}

/// As [`read_audit`] on an open connection.
///
/// # Errors
///
/// The query fails (e.g. a database older than schema 4, without the table).
pub fn select(conn: &Connection, query: &AuditQuery) -> rusqlite::Result<Vec<AuditRow>> {
    let mut sql = String::from(
        "SELECT id, at_ms, actor, role, source, method, path, status, action, detail
         FROM audit WHERE 1 = 1",
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(since) = query.since {
        sql.push_str(" AND at_ms >= ?");
        args.push(Value::Integer(since));
    }
    if let Some(after) = query.after {
        sql.push_str(" AND id > ?");
        args.push(Value::Integer(after));
    }
    if let Some(actor) = &query.actor {
        sql.push_str(" AND actor = ?");
        args.push(Value::Text(actor.clone()));
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    args.push(Value::Integer(i64::from(query.limit)));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok(AuditRow {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            actor: r.get(2)?,
            role: r.get(3)?,
            source: r.get(4)?,
            method: r.get(5)?,
            path: r.get(6)?,
            status: r.get(7)?,
            action: r.get(8)?,
            detail: r.get(9)?,
        })
    })?;
    rows.collect()
}
