//! Durable call records in embedded SQLite (WAL), written off the engine's task.
//!
//! The engine owns a [`Store`] and hands it [`Record`]s with [`Store::write`], which never
//! blocks and never fails: the record goes into an unbounded channel and gets a sequence number
//! (1, 2, …). A dedicated thread (`hotline-store`) owns the only writing
//! [`rusqlite::Connection`]: it blocks for the first record, drains what else is queued (up to
//! [`StoreOptions::max_batch`]) into one transaction, commits, and publishes the highest sequence
//! number committed. Readers ([`crate::http`], [`crate::metrics`]) hold a cloneable
//! [`StoreStatus`] and can await [`StoreStatus::wait_committed`] before reporting a figure.
//!
//! Driving contract for the engine:
//!
//! 1. [`Store::open`] once at start-up; start call ids above [`Recovery::max_call_id`].
//! 2. [`Store::write`] every record, in the order the facts happened.
//! 3. Before answering with figures that depend on a record, await
//!    [`StoreStatus::wait_committed`] with its sequence number (bound the wait with a timeout:
//!    while the disk fails, it waits until the disk works again).
//! 4. [`Store::close`] at shutdown, which flushes and stops the thread.
//!
//! When the database fails (disk full, locked, I/O error), the writer logs the error, keeps the
//! batch and everything queued after it in memory and retries with backoff (100 ms doubling to
//! 5 s). Memory is bounded by [`StoreOptions::max_pending`] records queued but not committed;
//! past it [`Store::write`] refuses records (counted in [`StoreStatus::dropped`], logged at
//! error level once per episode) until the backlog shrinks. A record that can never be stored
//! (a call id above `i64::MAX`, a string over SQLite's size limit) is logged, counted and
//! skipped; the rest of its batch is stored. Nothing here panics on bad data.
//!
//! Tables, columns and figures: `docs/storage.md`; the decision: `docs/decisions/0007`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use tokio::sync::watch;

use crate::record::Record;

mod audit;
mod schema;
mod totals;
mod writer;

pub use audit::{read_audit, select as select_audit};
pub use schema::SCHEMA_VERSION;
pub use totals::{totals, Counts, Totals};

/// The database file's name inside the storage directory.
pub const DB_FILE: &str = "hotline.db";

/// Tuning of a [`Store`]; [`Default`] suits production.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Records queued but not yet committed beyond which [`Store::write`] refuses new records
    /// (default 1,000,000: about 180 MB of memory, docs/storage.md).
    pub max_pending: u64,
    /// Most records written in one transaction (default 1,000).
    pub max_batch: usize,
    /// How long a statement waits for another connection's lock before failing with "database
    /// is locked" (default 5 s). The failed batch is then retried like any other error.
    pub busy_timeout: Duration,
    /// Fault injection: the writer waits this long before each transaction, as on a slow disk
    /// (default 0; `hotline serve --fault-commit-delay-ms`, for crash-safety tests).
    pub commit_delay: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_pending: 1_000_000,
            max_batch: 1_000,
            busy_timeout: Duration::from_secs(5),
            commit_delay: Duration::ZERO,
        }
    }
}

/// What [`Store::open`] found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Calls with no end (the server stopped while they were in flight), now ended with outcome
    /// `interrupted` at the time passed to [`Store::open`].
    pub interrupted_calls: u64,
    /// Legs with no end, now ended with outcome `interrupted`.
    pub interrupted_legs: u64,
    /// The largest call id in the database (0 when empty); new ids must be above it.
    pub max_call_id: u64,
}

/// Counters of the writer thread, for metrics and the throughput measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Records in committed transactions.
    pub records: u64,
    /// Time spent in committed transactions (begin to commit), microseconds.
    pub busy_micros: u64,
    /// The longest committed transaction, microseconds.
    pub max_batch_micros: u64,
}

/// State shared by the [`Store`], its writer thread and every [`StoreStatus`].
#[derive(Debug)]
struct Shared {
    path: PathBuf,
    /// Highest sequence number handed out by [`Store::write`].
    written: AtomicU64,
    /// Highest sequence number settled (committed, or rejected as unstorable).
    committed: AtomicU64,
    /// The same, for async waiters.
    committed_tx: watch::Sender<u64>,
    errors: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
    records: AtomicU64,
    busy_micros: AtomicU64,
    max_batch_micros: AtomicU64,
    /// Set by [`Store::close`] when it gives up waiting: the writer stops after its attempt.
    stop: AtomicBool,
}

impl Shared {
    fn publish_committed(&self, seq: u64) {
        self.committed.store(seq, Ordering::Release);
        self.committed_tx.send_replace(seq);
    }

    fn pending(&self) -> u64 {
        self.written
            .load(Ordering::Acquire)
            .saturating_sub(self.committed.load(Ordering::Acquire))
    }
}

/// The writing end of storage, owned by the engine task.
pub struct Store {
    tx: Option<Sender<(u64, Record)>>,
    shared: Arc<Shared>,
    /// Highest sequence number handed out.
    seq: u64,
    max_pending: u64,
    /// Records refused in the current memory-bound episode, if one is under way.
    overflow: Option<u64>,
    writer: Option<JoinHandle<()>>,
    /// Disconnects when the writer thread ends.
    done: Receiver<()>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .field("written", &self.seq)
            .field("committed", &self.shared.committed.load(Ordering::Relaxed))
            .field("max_pending", &self.max_pending)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens or creates `dir/hotline.db` with [`StoreOptions::default`]; see [`Self::open_with`].
    pub fn open(dir: &Path, now_ms: i64) -> Result<(Self, Recovery), StoreError> {
        Self::open_with(dir, now_ms, &StoreOptions::default())
    }

    /// Opens or creates `dir/hotline.db` (creating `dir` if missing) in WAL mode with
    /// `synchronous=NORMAL`, creates or migrates the schema (`PRAGMA user_version`), then
    /// recovers: every call and leg with no end is ended as `interrupted` at `now_ms`. Returns
    /// the store with its writer thread running, and what recovery did.
    pub fn open_with(
        dir: &Path,
        now_ms: i64,
        options: &StoreOptions,
    ) -> Result<(Self, Recovery), StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::new(dir, "cannot create the storage directory", Cause::Io(e))
        })?;
        let path = dir.join(DB_FILE);
        let mut conn = schema::open_rw(&path, options.busy_timeout)?;
        schema::migrate(&mut conn, &path)?;
        let recovery = schema::recover(&mut conn, &path, now_ms)?;
        if recovery.interrupted_calls > 0 || recovery.interrupted_legs > 0 {
            tracing::warn!(
                path = %path.display(),
                calls = recovery.interrupted_calls,
                legs = recovery.interrupted_legs,
                "calls in flight at the last stop were ended as interrupted"
            );
        }

        let (committed_tx, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            path: path.clone(),
            written: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            committed_tx,
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
            max_batch_micros: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let (done_tx, done) = crossbeam_channel::bounded(0);
        let writer = writer::Writer::new(conn, rx, Arc::clone(&shared), options.max_batch, done_tx)
            .with_commit_delay(options.commit_delay);
        let handle = std::thread::Builder::new()
            .name("hotline-store".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::new(&path, "cannot start the writer thread", Cause::Io(e)))?;
        tracing::info!(path = %path.display(), max_call_id = recovery.max_call_id, "storage open");

        let store = Self {
            tx: Some(tx),
            shared,
            seq: 0,
            max_pending: options.max_pending.max(1),
            overflow: None,
            writer: Some(handle),
            done,
        };
        Ok((store, recovery))
    }

    /// Queues a record for writing. Never blocks, never fails. Returns the record's sequence
    /// number (1, 2, …). A record refused at the memory bound gets no number: the call returns
    /// the last number handed out, so waiting for it waits for everything accepted before.
    pub fn write(&mut self, record: Record) -> u64 {
        let pending = self
            .seq
            .saturating_sub(self.shared.committed.load(Ordering::Acquire));
        if pending >= self.max_pending {
            self.refuse(&record, "the backlog is at its memory bound");
            return self.seq;
        }
        let Some(tx) = &self.tx else {
            self.refuse(&record, "the store is closed");
            return self.seq;
        };
        let seq = self.seq + 1;
        // Published before sending, so `pending()` never sees committed > written.
        self.shared.written.store(seq, Ordering::Release);
        if tx.send((seq, record)).is_err() {
            self.shared.written.store(self.seq, Ordering::Release);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                path = %self.shared.path.display(),
                "storage writer thread is gone; record dropped"
            );
            return self.seq;
        }
        self.seq = seq;
        if let Some(refused) = self.overflow.take() {
            tracing::error!(
                path = %self.shared.path.display(),
                refused,
                "storage backlog below its bound again; records refused meanwhile are lost"
            );
        }
        seq
    }

    fn refuse(&mut self, record: &Record, why: &str) {
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        match &mut self.overflow {
            Some(n) => *n += 1,
            None => {
                self.overflow = Some(1);
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    path = %self.shared.path.display(),
                    record = writer::kind_name(record),
                    max_pending = self.max_pending,
                    "storage refuses records: {why}"
                );
            }
        }
    }

    /// The status handle.
    pub fn status(&self) -> StoreStatus {
        StoreStatus {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Flushes everything queued and stops the writer thread, waiting at most `timeout`. On
    /// timeout the writer stops after its current attempt and the error says how many records
    /// were not committed.
    pub fn close(mut self, timeout: Duration) -> Result<(), StoreError> {
        drop(self.tx.take());
        match self.done.recv_timeout(timeout) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                let panicked = self.writer.take().is_some_and(|h| h.join().is_err());
                let pending = self.shared.pending();
                if panicked || pending > 0 {
                    return Err(StoreError::new(
                        &self.shared.path,
                        format!("the writer thread stopped with {pending} records not committed"),
                        Cause::None,
                    ));
                }
                tracing::info!(path = %self.shared.path.display(), "storage closed");
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => {
                self.shared.stop.store(true, Ordering::Release);
                let pending = self.shared.pending();
                Err(StoreError::new(
                    &self.shared.path,
                    format!("{pending} records not committed after {timeout:?}"),
                    Cause::None,
                ))
            }
        }
    }
}

/// A cheap, cloneable view of the store's progress, for HTTP and metrics.
#[derive(Clone)]
pub struct StoreStatus {
    shared: Arc<Shared>,
}

impl fmt::Debug for StoreStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreStatus")
            .field("path", &self.shared.path)
            .field("committed", &self.committed())
            .field("pending", &self.pending())
            .field("errors", &self.errors())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl StoreStatus {
    /// The highest sequence number settled: its record and every one before it is committed
    /// to the database, or was rejected as unstorable (counted in [`Self::dropped`]).
    pub fn committed(&self) -> u64 {
        self.shared.committed.load(Ordering::Acquire)
    }

    /// Resolves once [`Self::committed`] `>= seq`. While the database fails this waits until
    /// it works again, so bound it with a timeout where a reply is due.
    pub async fn wait_committed(&self, seq: u64) {
        if self.committed() >= seq {
            return;
        }
        let mut rx = self.shared.committed_tx.subscribe();
        // The sender lives in `shared`, which we hold: the channel cannot close.
        let _ = rx.wait_for(|&c| c >= seq).await;
    }

    /// Database errors so far (failed transactions and rejected records), each logged at
    /// error level; an episode of refused records at the memory bound counts once.
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Records queued but not committed.
    pub fn pending(&self) -> u64 {
        self.shared.pending()
    }

    /// Records that will never be in the database: refused at the memory bound, or rejected
    /// as unstorable.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Counters of the writer thread.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.shared.batches.load(Ordering::Relaxed),
            records: self.shared.records.load(Ordering::Relaxed),
            busy_micros: self.shared.busy_micros.load(Ordering::Relaxed),
            max_batch_micros: self.shared.max_batch_micros.load(Ordering::Relaxed),
        }
    }
}

/// Why the store could not open or close; the message names the database path and the cause.
#[derive(Debug)]
pub struct StoreError {
    path: PathBuf,
    what: String,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Io(io::Error),
    Sqlite(rusqlite::Error),
    None,
}

impl StoreError {
    fn new(path: &Path, what: impl Into<String>, cause: Cause) -> Self {
        Self {
            path: path.to_path_buf(),
            what: what.into(),
            cause,
        }
    }

    fn sqlite(path: &Path, what: impl Into<String>, e: rusqlite::Error) -> Self {
        Self::new(path, what, Cause::Sqlite(e))
    }

    /// The file or directory concerned.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage {}: {}", self.path.display(), self.what)?;
        match &self.cause {
            Cause::Io(e) => write!(f, ": {e}"),
            Cause::Sqlite(e) => write!(f, ": {e}"),
            Cause::None => Ok(()),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Io(e) => Some(e),
            Cause::Sqlite(e) => Some(e),
            Cause::None => None,
        }
    }
}

/// Opens `dir/hotline.db` read-only (for tests, reports and tools). It reads committed data
/// while the server writes.
pub fn open_read_only(dir: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    rusqlite::Connection::open_with_flags(
        dir.join(DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}
