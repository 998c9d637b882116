//! Figures recomputed from the stored queue events alone (docs/metrics.md, line and queue
//! scopes): the check that the stored events reproduce every count the server reports.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

/// Counts of one line or queue over a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls that entered the queue (`enter`).
    pub offered: u64,
    /// Calls a seat answered (`connect`).
    pub answered: u64,
    /// Answered with a wait of at most `answer_within_ms` (`connect` with `wait_ms` ≤ it).
    pub answered_within: u64,
    /// Callers who hung up before the short-abandon threshold (`abandon_short`).
    pub abandoned_short: u64,
    /// Callers who hung up at or after it (`abandon`).
    pub abandoned_long: u64,
    /// Calls that reached the queue's maximum wait (`timeout`).
    pub timed_out: u64,
    /// Answered calls the seat handed on (`transfer`).
    pub transferred: u64,
}

/// [`Counts`] per line (dialed number) and per queue. A line or queue appears when any of its
/// queue events falls in the range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// By `queue_events.line`.
    pub lines: BTreeMap<String, Counts>,
    /// By `queue_events.queue`.
    pub queues: BTreeMap<String, Counts>,
}

impl Counts {
    fn add(&mut self, kind: &str, n: u64, within: u64) {
        match kind {
            "enter" => self.offered += n,
            "connect" => {
                self.answered += n;
                self.answered_within += within;
            }
            "abandon_short" => self.abandoned_short += n,
            "abandon" => self.abandoned_long += n,
            "timeout" => self.timed_out += n,
            "transfer" => self.transferred += n,
            _ => {}
        }
    }
}

/// Counts per line and per queue of the queue events with `from_ms <= at < to_ms`, each event
/// attributed by its own timestamp (an abandon counts when it happens, wherever the call
/// arrived). Uses the index on `queue_events.at`.
pub fn totals(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    answer_within_ms: i64,
) -> rusqlite::Result<Totals> {
    let mut stmt = conn.prepare_cached(
        "SELECT line, queue, kind, count(*), coalesce(sum(wait_ms <= ?3), 0)
         FROM queue_events WHERE at >= ?1 AND at < ?2
         GROUP BY line, queue, kind",
    )?;
    let mut rows = stmt.query(params![from_ms, to_ms, answer_within_ms])?;
    let mut totals = Totals::default();
    while let Some(row) = rows.next()? {
        let line: String = row.get(0)?;
        let queue: String = row.get(1)?;
        let kind: String = row.get(2)?;
        let n = u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0);
        let within = u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0);
        totals.lines.entry(line).or_default().add(&kind, n, within);
        totals
            .queues
            .entry(queue)
            .or_default()
            .add(&kind, n, within);
    }
    Ok(totals)
}
