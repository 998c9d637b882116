//! The contract between the HTTP API and the engine task: commands with a reply channel, and
//! the JSON views they answer with. One task owns the engine; HTTP handlers only send it
//! [`Command`]s and wait for the reply, so no lock is held across an await.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEntry, AuditQuery, AuditRow};
use crate::privacy::CallerNumber;
use crate::record::UnixMs;

/// Where a command's answer goes.
pub type Reply<T> = oneshot::Sender<T>;

/// A request to the engine task.
#[derive(Debug)]
pub enum Command {
    /// Something the media plane reports (a key, a prompt that finished, a silent leg).
    Media(media::plane::MediaEvent),
    /// Start a transfer (`POST /api/v1/calls/{id}/transfer`).
    Transfer {
        /// Call id (as listed by `GET /api/v1/calls`).
        call: u64,
        /// Target key, number or short code.
        target: String,
        /// Three-way or blind.
        mode: TransferMode,
        /// The transfer, or why not.
        reply: Reply<Result<TransferView, ApiError>>,
    },
    /// Complete (`.../transfer/complete`) or cancel (`.../transfer/cancel`) a transfer.
    EndTransfer {
        /// Call id.
        call: u64,
        /// Complete (true) or cancel (false).
        complete: bool,
        /// The transfer as it ended, or why not.
        reply: Reply<Result<TransferView, ApiError>>,
    },
    /// A ticket push ended (工单推送).
    TicketPushed {
        /// The ticket.
        ticket: crate::ticket::Ticket,
        /// How it ended.
        outcome: crate::ticket::PushOutcome,
    },
    /// Change a seat's state (`POST /api/v1/seats/{id}/state`).
    SetSeatState {
        /// Seat id as registered (e.g. "1001").
        seat: String,
        /// The wanted state.
        request: SeatStateRequest,
        /// The seat after the change, or why not.
        reply: Reply<Result<SeatView, ApiError>>,
    },
    /// All seats (`GET /api/v1/seats`).
    ListSeats {
        /// Seats in configuration order.
        reply: Reply<Vec<SeatView>>,
    },
    /// One seat (`GET /api/v1/seats/{id}`).
    GetSeat {
        /// Seat id.
        seat: String,
        /// The seat, or 404.
        reply: Reply<Result<SeatView, ApiError>>,
    },
    /// Calls in progress (`GET /api/v1/calls`).
    ListCalls {
        /// Calls, oldest first.
        reply: Reply<Vec<CallView>>,
    },
    /// Queues (`GET /api/v1/queues`).
    ListQueues {
        /// Queues in configuration order.
        reply: Reply<Vec<QueueView>>,
    },
    /// Figures (`GET /api/v1/stats`). Answered only once every record behind the figures is
    /// committed to storage.
    Stats {
        /// The figures.
        reply: Reply<StatsView>,
    },
    /// Refresh the gauges of [`crate::metrics::Metrics`] (`GET /metrics`); counters and
    /// histograms are kept current by the engine as events happen. Answered like `Stats`,
    /// after the records behind the figures are committed.
    RefreshGauges {
        /// Done.
        reply: Reply<()>,
    },
    /// Move a seat between pools or skills (`POST /api/v1/seats/{id}/pools`).
    AssignSeat {
        /// Seat id.
        seat: String,
        /// The new pool and/or skills.
        request: SeatAssignRequest,
        /// The seat afterwards, or why not.
        reply: Reply<Result<SeatView, ApiError>>,
    },
    /// Ring a named seat with a waiting call now (`POST /api/v1/calls/{id}/withdraw`).
    Withdraw {
        /// Call id.
        call: u64,
        /// Seat id.
        seat: String,
        /// The call afterwards (ringing the seat), or why not.
        reply: Reply<Result<CallView, ApiError>>,
    },
    /// Everything the wallboard shows, in one round trip (`GET /api/v1/events`). Answered at
    /// once, without waiting for storage: the board is live, not a record.
    Wallboard {
        /// The board's snapshot.
        reply: Reply<WallboardView>,
    },
    /// Open or close the surge pool by hand (`POST /api/v1/pools/surge`).
    Surge {
        /// Open (true) or close (false).
        open: bool,
        /// Whether surge is open afterwards.
        reply: Reply<Result<SurgeView, ApiError>>,
    },
    /// Append an entry to the audit ledger (written to storage in order with every other
    /// record; no reply: the request it records is answered without waiting for the disk).
    Audit(AuditEntry),
    /// Read the audit ledger (`GET /api/v1/audit`). Answered like `Stats`, once every record
    /// written before it (every audit entry sent before) is committed.
    ReadAudit {
        /// Which rows.
        query: AuditQuery,
        /// The rows, or why not (503 when the database cannot be read).
        reply: Reply<Result<Vec<AuditRow>, ApiError>>,
    },
}

/// A cheap, cloneable handle for sending [`Command`]s.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    /// A handle over the engine task's command channel.
    pub const fn new(tx: mpsc::Sender<Command>) -> Self {
        Self { tx }
    }

    /// Send a command built around a fresh reply channel and wait for the answer.
    /// `Err` (503) when the engine has stopped.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ApiError::unavailable())?;
        rx.await.map_err(|_| ApiError::unavailable())
    }

    /// Send a command that has no reply. `Err` (503) when the engine has stopped.
    pub async fn tell(&self, command: Command) -> Result<(), ApiError> {
        self.tx
            .send(command)
            .await
            .map_err(|_| ApiError::unavailable())
    }
}

/// `POST /api/v1/seats/{id}/pools`: the seat's new pool and/or skills.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatAssignRequest {
    /// "intake", "support", "surge", "expert" or "leader"; absent keeps the pool.
    pub pool: Option<String>,
    /// Skills as "topic:level" (level 1-10), replacing the seat's; absent keeps them.
    pub skills: Option<Vec<String>>,
}

/// `POST /api/v1/calls/{id}/withdraw`: the seat to ring with a waiting call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// Seat id, e.g. "1001".
    pub seat: String,
}

/// The state a seat asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum SeatStateRequest {
    /// Take calls.
    Ready {
        /// Ignored for ready; accepted so clients may always send the field.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Present but not taking calls.
    NotReady {
        /// Why: "break", "meal", "meeting", "training", "after_call_work", or free text.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Gone.
    LoggedOut {
        /// Ignored.
        #[serde(default)]
        reason: Option<String>,
    },
}

/// An API error: HTTP status plus a JSON body `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code (4xx, or 503 when the engine is gone).
    pub status: u16,
    /// Stable machine-readable code, e.g. "unknown_seat", "invalid_transition".
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 404,
            code,
            message: message.into(),
        }
    }

    /// 409: the request is well-formed but impossible in the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 409,
            code,
            message: message.into(),
        }
    }

    /// 400: malformed request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            message: message.into(),
        }
    }

    /// 422: well-formed JSON whose values cannot be used (an unknown pool, a bad skill).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 422,
            code,
            message: message.into(),
        }
    }

    /// 503: the engine task is not running.
    pub fn unavailable() -> Self {
        Self {
            status: 503,
            code: "engine_unavailable",
            message: "the engine is not running".into(),
        }
    }
}

/// A seat as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeatView {
    /// Seat id as registered.
    pub id: String,
    /// Pool: "intake", "support", "surge", "expert", "leader".
    pub pool: String,
    /// "logged_out", "ready", "not_ready", "ringing", "talking", "wrap_up".
    pub state: String,
    /// Reason of not_ready.
    pub reason: Option<String>,
    /// Whether the seat's phone has a live registration.
    pub registered: bool,
    /// The call it holds (ringing or talking).
    pub call: Option<u64>,
    /// Skills as "topic:level".
    pub skills: Vec<String>,
}

/// A call in progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallView {
    /// Call id.
    pub id: u64,
    /// The dialed line.
    pub line: String,
    /// The caller's number, masked (`138****1234`) unless the HTTP layer revealed it.
    pub caller: CallerNumber,
    /// "waiting", "ringing", "talking".
    pub state: String,
    /// Queue name while queued.
    pub queue: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// The seat ringing or talking.
    pub seat: Option<String>,
    /// Milliseconds since the call entered its queue (or arrived, if never queued).
    pub waited_ms: u64,
    /// The transfer target (sub-platform, sub-center) whose trunk sent the call to us.
    pub origin: Option<String>,
}

/// How a transfer hands the caller over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// The target is dialled; caller, seat and target talk together; the seat completes
    /// (leaves) or cancels (drops the target).
    ThreeWay,
    /// The caller is handed to the target as soon as it answers; the seat does not talk to it.
    Blind,
    /// Consultation first (an attended transfer): the caller hears music while the seat and
    /// the target talk alone; the seat completes (caller and target talk) or cancels (back to
    /// the caller). The seat's phone does this with a call to the target and a REFER with
    /// `Replaces` (RFC 3891).
    Attended,
}

/// `POST /api/v1/calls/{id}/transfer` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Target key, number or short code, e.g. "12333".
    pub target: String,
    /// `three_way` or `blind`.
    pub mode: TransferMode,
}

/// A transfer as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferView {
    /// Call id.
    pub call: u64,
    /// Target key.
    pub target: String,
    /// The number dialled.
    pub number: String,
    /// `three_way` or `blind`.
    pub mode: TransferMode,
    /// "ringing", "talking" (three-way, target answered), "completed", "cancelled".
    pub state: String,
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueView {
    /// Queue name.
    pub name: String,
    /// Lines feeding it.
    pub lines: Vec<String>,
    /// Strategy, e.g. "longest_idle".
    pub strategy: String,
    /// Calls waiting now.
    pub waiting: u64,
    /// Longest current wait.
    pub longest_wait_ms: Option<u64>,
    /// Estimated wait for a call arriving now.
    pub estimated_wait_ms: Option<u64>,
}

/// Surge pool state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SurgeView {
    /// Whether surge seats take calls now.
    pub open: bool,
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsView {
    /// When the figures were taken.
    pub at: UnixMs,
    /// Service targets: answer rate and the answer-within limit in seconds.
    pub target_answer_rate: f64,
    /// The answer-within limit (15 s).
    pub answer_within_s: u64,
    /// Whether the surge pool is open.
    pub surge_open: bool,
    /// The last time the surge pool opened or closed, and why; `None` before the first change
    /// since start-up.
    pub surge_reason: Option<SurgeReasonView>,
    /// Totals since start-up: calls offered, answered, abandoned, timed out, waiting, ringing.
    pub totals: TotalsView,
    /// Per line (dialed number): window name ("15m", "1h", "24h", "today") → figures.
    pub lines: BTreeMap<String, BTreeMap<String, FiguresView>>,
    /// Per queue name.
    pub queues: BTreeMap<String, BTreeMap<String, FiguresView>>,
    /// Per pool name.
    pub pools: BTreeMap<String, BTreeMap<String, FiguresView>>,
    /// Every queue together (the platform), per window.
    pub platform: BTreeMap<String, FiguresView>,
    /// The platform's figures per hour of today (local midnight onwards), up to the current
    /// hour.
    pub today_by_hour: Vec<HourView>,
    /// Transfers since start-up, per target in configuration order.
    pub transfers: Vec<TransferCountsView>,
}

/// Why the surge pool last opened or closed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurgeReasonView {
    /// Opened (true) or closed (false).
    pub open: bool,
    /// "longest_wait", "calls_waiting", "answer_rate" (automatic opening), "calm"
    /// (automatic closing) or "manual" (`POST /api/v1/pools/surge`).
    pub reason: String,
    /// The figure that tripped it: the longest wait in ms, the number of calls waiting, or
    /// the recent 15-second answer rate as a fraction; `null` for "calm" and "manual".
    pub value: Option<f64>,
    /// When.
    pub at: UnixMs,
}

/// One hour of today, for the answer-rate chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourView {
    /// The local hour, 0-23.
    pub hour: u8,
    /// When the hour starts.
    pub start: UnixMs,
    /// Calls that arrived in the hour.
    pub offered: u64,
    /// Answered in the hour.
    pub answered: u64,
    /// Answered within the limit.
    pub answered_within: u64,
    /// Answer rate of the hour's requests (see [`FiguresView`]).
    pub answer_rate: Option<f64>,
    /// Answered-within rate.
    pub answered_within_rate: Option<f64>,
}

/// Transfers to one target since start-up (the counts of `hotline_transfers_total`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferCountsView {
    /// Target key.
    pub target: String,
    /// Its name for people.
    pub name: String,
    /// The number dialled.
    pub number: String,
    /// Transfers to it under way now.
    pub under_way: u64,
    /// Ended transfers by outcome: every outcome of [`crate::metrics::TRANSFER_OUTCOMES`],
    /// zero included.
    pub outcomes: BTreeMap<String, u64>,
}

/// A line as the wallboard names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineView {
    /// The number.
    pub number: String,
    /// Its name, e.g. "民政服务电话".
    pub name: String,
    /// The queue it feeds.
    pub queue: String,
}

/// Everything the wallboard shows: one engine round trip per snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WallboardView {
    /// As `GET /api/v1/stats`.
    pub stats: StatsView,
    /// As `GET /api/v1/queues`.
    pub queues: Vec<QueueView>,
    /// Lines in configuration order, with their names.
    pub lines: Vec<LineView>,
    /// Seats counted by pool, then state (every state listed, zero included).
    pub seats: BTreeMap<String, BTreeMap<String, u64>>,
    /// The calls waiting longest (at most [`WallboardView::WAITING_SHOWN`]), longest first.
    pub waiting_calls: Vec<CallView>,
}

impl WallboardView {
    /// How many waiting calls a snapshot lists.
    pub const WAITING_SHOWN: usize = 20;
}

/// Totals since the engine started (acd-core's running counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TotalsView {
    /// Calls that arrived at a queue.
    pub offered: u64,
    /// Answered by a seat.
    pub answered: u64,
    /// Abandoned before the short-abandon threshold.
    pub abandoned_short: u64,
    /// Abandoned at or after it.
    pub abandoned_long: u64,
    /// Reached the maximum wait.
    pub timed_out: u64,
    /// Waiting now.
    pub waiting: u64,
    /// Ringing a seat now.
    pub ringing: u64,
}

/// acd-core's [`acd_core::Figures`] in JSON: durations in milliseconds, rates as fractions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiguresView {
    /// See docs/metrics.md for every definition.
    pub offered: u64,
    /// Answered.
    pub answered: u64,
    /// Answered within the limit.
    pub answered_within: u64,
    /// Short abandons.
    pub abandoned_short: u64,
    /// Long abandons.
    pub abandoned_long: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Transferred.
    pub transferred: u64,
    /// Handled (conversations ended).
    pub handled: u64,
    /// Answer rate.
    pub answer_rate: Option<f64>,
    /// Answer rate without short abandons.
    pub answer_rate_excl_short: Option<f64>,
    /// Answered-within rate.
    pub answered_within_rate: Option<f64>,
    /// Average speed of answer.
    pub asa_ms: Option<u64>,
    /// Average handle time.
    pub aht_ms: Option<u64>,
    /// Waiting now (lines and queues).
    pub waiting_now: u64,
    /// Longest current wait (lines and queues).
    pub longest_wait_ms: Option<u64>,
    /// Wait percentiles of answered calls.
    pub wait_p50_ms: Option<u64>,
    /// 90th percentile.
    pub wait_p90_ms: Option<u64>,
    /// 99th percentile.
    pub wait_p99_ms: Option<u64>,
}

impl From<&acd_core::Figures> for FiguresView {
    fn from(f: &acd_core::Figures) -> Self {
        let ms = |d: Option<std::time::Duration>| {
            d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        Self {
            offered: f.offered,
            answered: f.answered,
            answered_within: f.answered_within,
            abandoned_short: f.abandoned_short,
            abandoned_long: f.abandoned_long,
            timed_out: f.timed_out,
            transferred: f.transferred,
            handled: f.handled,
            answer_rate: f.answer_rate,
            answer_rate_excl_short: f.answer_rate_excl_short,
            answered_within_rate: f.answered_within_rate,
            asa_ms: ms(f.asa),
            aht_ms: ms(f.aht),
            waiting_now: f.waiting_now,
            longest_wait_ms: ms(f.longest_wait),
            wait_p50_ms: ms(f.wait_p50),
            wait_p90_ms: ms(f.wait_p90),
            wait_p99_ms: ms(f.wait_p99),
        }
    }
}
