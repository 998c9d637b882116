//! The writer thread: batches records into transactions and retries on database errors.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};

use super::Shared;
use crate::record::Record;

/// First retry delay after a failed transaction; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a backoff sleep looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The writer thread's state; [`Writer::run`] is the thread's body.
pub(super) struct Writer {
    conn: Connection,
    rx: Receiver<(u64, Record)>,
    shared: Arc<Shared>,
    max_batch: usize,
    /// Dropped when the thread ends, which tells [`super::Store::close`].
    _done: Sender<()>,
    /// Fault injection: a pause before each transaction.
    commit_delay: Duration,
}

/// A record skipped because it can never be stored.
struct Rejected {
    seq: u64,
    kind: &'static str,
    call: Option<u64>,
    why: String,
}

/// Why a record was not applied.
enum Failure {
    /// The database failed (locked, full, I/O): roll back and retry the batch.
    Database(rusqlite::Error),
    /// This record cannot be stored: skip it, keep the rest.
    Record(String),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        let record_level = match &e {
            rusqlite::Error::SqliteFailure(f, _) => matches!(
                f.code,
                ErrorCode::TooBig
                    | ErrorCode::ConstraintViolation
                    | ErrorCode::TypeMismatch
                    | ErrorCode::ParameterOutOfRange
            ),
            // Conversion and binding errors come from the record's values.
            rusqlite::Error::ToSqlConversionFailure(_)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidParameterCount(..) => true,
            _ => false,
        };
        if record_level {
            Self::Record(e.to_string())
        } else {
            Self::Database(e)
        }
    }
}

/// The variant's name, for logs (records carry callers' numbers, which stay out of logs).
pub(super) const fn kind_name(record: &Record) -> &'static str {
    match record {
        Record::CallStarted { .. } => "CallStarted",
        Record::Queue { .. } => "Queue",
        Record::LegStarted { .. } => "LegStarted",
        Record::LegEnded { .. } => "LegEnded",
        Record::CallEnded { .. } => "CallEnded",
        Record::SeatState { .. } => "SeatState",
        Record::Transfer { .. } => "Transfer",
        Record::TicketPush { .. } => "TicketPush",
        Record::Audit(_) => "Audit",
    }
}

const fn call_of(record: &Record) -> Option<u64> {
    match record {
        Record::CallStarted { call, .. }
        | Record::Queue { call, .. }
        | Record::LegStarted { call, .. }
        | Record::LegEnded { call, .. }
        | Record::CallEnded { call, .. }
        | Record::Transfer { call, .. }
        | Record::TicketPush { call, .. } => Some(*call),
        Record::SeatState { .. } | Record::Audit(_) => None,
    }
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        rx: Receiver<(u64, Record)>,
        shared: Arc<Shared>,
        max_batch: usize,
        done: Sender<()>,
    ) -> Self {
        conn.set_prepared_statement_cache_capacity(16);
        Self {
            conn,
            rx,
            shared,
            max_batch: max_batch.max(1),
            _done: done,
            commit_delay: Duration::ZERO,
        }
    }

    /// Wait `delay` before each transaction (fault injection: a slow disk).
    pub(super) const fn with_commit_delay(mut self, delay: Duration) -> Self {
        self.commit_delay = delay;
        self
    }

    /// Runs until every sender is gone and everything received is committed, or until the
    /// stop flag is set.
    pub(super) fn run(mut self) {
        let mut batch: Vec<(u64, Record)> = Vec::with_capacity(self.max_batch);
        let mut rejected = Vec::new();
        let mut backoff = MIN_BACKOFF;
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                self.log_abandoned();
                return;
            }
            if batch.is_empty() {
                match self.rx.recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => return, // closed and drained
                }
            }
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            if !self.commit_delay.is_zero() {
                std::thread::sleep(self.commit_delay);
            }
            let started = Instant::now();
            match apply(&mut self.conn, &batch, &mut rejected) {
                Ok(()) => {
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.committed(&batch, &rejected, micros);
                    batch.clear();
                    backoff = MIN_BACKOFF;
                }
                Err(e) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        path = %self.shared.path.display(),
                        error = %e,
                        records = batch.len(),
                        pending = self.shared.pending(),
                        retry_in_ms = backoff.as_millis() as u64,
                        "storage write failed; records kept in memory and retried"
                    );
                    if !self.sleep(backoff) {
                        self.log_abandoned();
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn committed(&self, batch: &[(u64, Record)], rejected: &[Rejected], micros: u64) {
        let s = &self.shared;
        for r in rejected {
            s.errors.fetch_add(1, Ordering::Relaxed);
            s.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                path = %s.path.display(),
                seq = r.seq,
                record = r.kind,
                call = r.call,
                error = %r.why,
                "record cannot be stored; skipped"
            );
        }
        s.batches.fetch_add(1, Ordering::Relaxed);
        s.records
            .fetch_add((batch.len() - rejected.len()) as u64, Ordering::Relaxed);
        s.busy_micros.fetch_add(micros, Ordering::Relaxed);
        s.max_batch_micros.fetch_max(micros, Ordering::Relaxed);
        if let Some((seq, _)) = batch.last() {
            s.publish_committed(*seq);
        }
    }

    /// Sleeps `d` unless the stop flag is set meanwhile; false if it was.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(STOP_POLL));
        }
    }

    fn log_abandoned(&self) {
        let lost = self.shared.pending();
        if lost > 0 {
            tracing::error!(
                path = %self.shared.path.display(),
                lost,
                "storage writer stopped by close() before committing every record"
            );
        }
    }
}

/// Writes `batch` in one transaction. Records that can never be stored are skipped and listed
/// in `rejected`; a database failure rolls everything back.
fn apply(
    conn: &mut Connection,
    batch: &[(u64, Record)],
    rejected: &mut Vec<Rejected>,
) -> rusqlite::Result<()> {
    rejected.clear();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (seq, record) in batch {
        match apply_one(&tx, record) {
            Ok(()) => {}
            Err(Failure::Record(why)) => rejected.push(Rejected {
                seq: *seq,
                kind: kind_name(record),
                call: call_of(record),
                why,
            }),
            Err(Failure::Database(e)) => return Err(e),
        }
    }
    tx.commit()
}

/// A call id as SQLite's signed 64-bit integer.
fn id(call: u64) -> Result<i64, Failure> {
    i64::try_from(call).map_err(|_| Failure::Record(format!("call id {call} exceeds i64::MAX")))
}

fn apply_one(conn: &Connection, record: &Record) -> Result<(), Failure> {
    match record {
        Record::CallStarted {
            call,
            at,
            line,
            caller,
        } => {
            // An upsert: if the end was stored first, the row exists already.
            conn.prepare_cached(
                "INSERT INTO calls (id, started_at, line, caller) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at,
                    line = excluded.line, caller = excluded.caller",
            )?
            .execute(params![id(*call)?, at, line, caller])?;
        }
        Record::Queue {
            call,
            at,
            queue,
            line,
            seat,
            kind,
            wait_ms,
        } => {
            conn.prepare_cached(
                "INSERT INTO queue_events (call, at, queue, line, seat, kind, wait_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                id(*call)?,
                at,
                queue,
                line,
                seat,
                kind.as_str(),
                wait_ms
            ])?;
        }
        Record::LegStarted {
            call,
            leg,
            at,
            seat,
        } => {
            conn.prepare_cached(
                "INSERT INTO legs (call, leg, started_at, seat) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (call, leg) DO UPDATE SET started_at = excluded.started_at,
                    seat = excluded.seat",
            )?
            .execute(params![id(*call)?, leg, at, seat])?;
        }
        Record::LegEnded {
            call,
            leg,
            at,
            answered_at,
            outcome,
        } => {
            let call_id = id(*call)?;
            let updated = conn
                .prepare_cached(
                    "UPDATE legs SET ended_at = ?3, answered_at = ?4, outcome = ?5
                     WHERE call = ?1 AND leg = ?2",
                )?
                .execute(params![call_id, leg, at, answered_at, outcome])?;
            if updated == 0 {
                tracing::warn!(
                    call,
                    leg,
                    "LegEnded with no LegStarted stored; row inserted"
                );
                conn.prepare_cached(
                    "INSERT INTO legs (call, leg, ended_at, answered_at, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![call_id, leg, at, answered_at, outcome])?;
            }
        }
        Record::CallEnded {
            call,
            at,
            outcome,
            queue,
            topic,
            seat,
            wait_ms,
            talk_ms,
            survey,
        } => {
            let call_id = id(*call)?;
            let values = params![
                call_id,
                at,
                outcome.as_str(),
                queue,
                topic,
                seat,
                wait_ms,
                talk_ms,
                survey
            ];
            let updated = conn
                .prepare_cached(
                    "UPDATE calls SET ended_at = ?2, outcome = ?3, queue = ?4, topic = ?5,
                        seat = ?6, wait_ms = ?7, talk_ms = ?8, survey = ?9
                     WHERE id = ?1",
                )?
                .execute(values)?;
            if updated == 0 {
                tracing::warn!(call, "CallEnded with no CallStarted stored; row inserted");
                conn.prepare_cached(
                    "INSERT INTO calls (id, ended_at, outcome, queue, topic, seat, wait_ms, talk_ms,
                        survey)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(values)?;
            }
        }
        Record::Transfer {
            call,
            transfer,
            target,
            number,
            mode,
            started_at,
            answered_at,
            ended_at,
            outcome,
            reason,
        } => {
            conn.prepare_cached(
                "INSERT INTO transfers (call, transfer, target, number, mode, started_at,
                    answered_at, ended_at, outcome, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                id(*call)?,
                transfer,
                target,
                number,
                mode,
                started_at,
                answered_at,
                ended_at,
                outcome,
                reason
            ])?;
        }
        Record::TicketPush {
            call,
            transfer,
            target,
            at,
            delivered,
            status,
            attempts,
            reason,
        } => {
            conn.prepare_cached(
                "INSERT INTO ticket_pushes (call, transfer, target, at, delivered, status,
                    attempts, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id(*call)?,
                transfer,
                target,
                at,
                delivered,
                status,
                attempts,
                reason
            ])?;
        }
        Record::SeatState {
            seat,
            at,
            state,
            reason,
            source,
        } => {
            conn.prepare_cached(
                "INSERT INTO seat_events (seat, at, state, reason, source)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![seat, at, state, reason, source])?;
        }
        Record::Audit(e) => {
            conn.prepare_cached(
                "INSERT INTO audit (at_ms, actor, role, source, method, path, status, action,
                    detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                e.at_ms,
                e.actor,
                e.role,
                e.source,
                e.method,
                e.path,
                e.status,
                e.action.as_str(),
                e.detail
            ])?;
        }
    }
    Ok(())
}
