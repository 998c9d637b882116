//! What the engine tells durable storage: one [`Record`] per fact, in the order they happened.
//!
//! The engine produces records; the store writes them (SQLite, WAL) on its own thread. Times
//! are Unix milliseconds (UTC) so the database reads the same on any machine. Seat ids are the
//! numbers seats register with (`sip:1001@…`); call ids are the engine's, unique for the life
//! of a database (the engine starts above the largest id stored).

/// Unix time in milliseconds.
pub type UnixMs = i64;

/// One fact for storage.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A call arrived and its flow started (table `calls`, a new row with no end yet).
    CallStarted {
        /// Call id.
        call: u64,
        /// When the INVITE arrived.
        at: UnixMs,
        /// The dialed number (the line), e.g. "12349".
        line: String,
        /// The caller's number (From user part).
        caller: String,
    },
    /// A queue event of a call (table `queue_events`), in the spirit of Asterisk's queue_log.
    Queue {
        /// Call id.
        call: u64,
        /// When.
        at: UnixMs,
        /// Queue name (e.g. "12345").
        queue: String,
        /// The dialed line of the call.
        line: String,
        /// The seat involved, for offer / connect / ring-no-answer / complete / transfer.
        seat: Option<u32>,
        /// What happened.
        kind: QueueEventKind,
        /// The caller's wait so far (from entering the queue), for connect / abandon / timeout.
        wait_ms: Option<i64>,
    },
    /// A leg to a seat or transfer target was opened (table `legs`).
    LegStarted {
        /// Call id.
        call: u64,
        /// Leg number within the call, from 1 (the caller's leg is 0 and implied by the call).
        leg: u32,
        /// When the INVITE to the seat was sent.
        at: UnixMs,
        /// The seat rung.
        seat: u32,
    },
    /// A leg ended (table `legs`, the row of `LegStarted`).
    LegEnded {
        /// Call id.
        call: u64,
        /// Leg number.
        leg: u32,
        /// When.
        at: UnixMs,
        /// When the seat answered, if it did.
        answered_at: Option<UnixMs>,
        /// Why: "answered-then-hung-up", "no-answer", "refused 486", "unreachable",
        /// "cancelled", ...
        outcome: String,
    },
    /// A call ended (table `calls`, the row of `CallStarted`). Written before the call counts
    /// as finished in any figure the server reports.
    CallEnded {
        /// Call id.
        call: u64,
        /// When.
        at: UnixMs,
        /// How it ended.
        outcome: CallOutcome,
        /// The queue it waited in, if it was queued.
        queue: Option<String>,
        /// The topic it carried, if it was queued.
        topic: Option<String>,
        /// The seat that answered, if one did.
        seat: Option<u32>,
        /// Wait from entering the queue to answer (answered) or to leaving (abandoned, timed out).
        wait_ms: Option<i64>,
        /// Talk time (answered calls).
        talk_ms: Option<i64>,
        /// The post-call survey (好差评): 1-5 as pressed, 0 asked but not answered, `None`
        /// not asked.
        survey: Option<u8>,
    },
    /// A transfer ended (table `transfers`): the target's leg.
    Transfer {
        /// Call id.
        call: u64,
        /// 1 for the call's first transfer, 2 for the second…
        transfer: u32,
        /// Target key.
        target: String,
        /// The number dialled.
        number: String,
        /// "three_way" or "blind".
        mode: String,
        /// When the target was dialled.
        started_at: UnixMs,
        /// When it answered, if it did.
        answered_at: Option<UnixMs>,
        /// When the transfer ended (completed, cancelled, failed).
        ended_at: UnixMs,
        /// completed, cancelled, busy, rejected, no_answer, unreachable, target_hung_up,
        /// caller_left.
        outcome: String,
        /// Why, for people.
        reason: String,
    },
    /// A ticket push ended (table `ticket_pushes`).
    TicketPush {
        /// Call id.
        call: u64,
        /// The transfer it belongs to.
        transfer: u32,
        /// Target key.
        target: String,
        /// When the push ended.
        at: UnixMs,
        /// Whether the target took it (2xx).
        delivered: bool,
        /// The HTTP status of the delivering attempt.
        status: Option<u16>,
        /// Attempts made.
        attempts: u32,
        /// Why it failed (empty when delivered).
        reason: String,
    },
    /// A seat changed state (table `seat_events`).
    SeatState {
        /// Seat id.
        seat: u32,
        /// When.
        at: UnixMs,
        /// New state: "logged_out", "ready", "not_ready", "ringing", "talking", "wrap_up".
        state: String,
        /// Reason for not_ready (e.g. "break", "missed 3 offers"), else None.
        reason: Option<String>,
        /// Who asked: "api", "phone" (feature code), "registration", "distributor".
        source: String,
    },
    /// An entry of the audit ledger (table `audit`): an API write, a refusal or an unmasked
    /// view. Written by the HTTP layer through the engine task.
    Audit(crate::audit::AuditEntry),
}

/// Queue events (column `queue_events.kind`, lower-case names as written here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEventKind {
    /// `enter`: the call joined the queue.
    Enter,
    /// `offer`: a seat is being rung.
    Offer,
    /// `connect`: the seat answered.
    Connect,
    /// `ring_no_answer`: the ring timeout passed; back to the head of the queue.
    RingNoAnswer,
    /// `refused`: the seat's phone refused (busy, decline); back to the head of the queue.
    Refused,
    /// `unreachable`: the seat's phone could not be reached; back to the head of the queue.
    Unreachable,
    /// `abandon`: the caller hung up while waiting or ringing, after `short_abandon` or later.
    AbandonLong,
    /// `abandon_short`: the caller hung up before the short-abandon threshold.
    AbandonShort,
    /// `timeout`: the queue's maximum wait passed.
    Timeout,
    /// `transfer`: the seat handed the caller on.
    Transfer,
    /// `complete_caller`: the caller hung up after the answer.
    CompleteCaller,
    /// `complete_seat`: the seat hung up after the answer.
    CompleteSeat,
}

impl QueueEventKind {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enter => "enter",
            Self::Offer => "offer",
            Self::Connect => "connect",
            Self::RingNoAnswer => "ring_no_answer",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::AbandonLong => "abandon",
            Self::AbandonShort => "abandon_short",
            Self::Timeout => "timeout",
            Self::Transfer => "transfer",
            Self::CompleteCaller => "complete_caller",
            Self::CompleteSeat => "complete_seat",
        }
    }
}

/// How a call ended (column `calls.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// `answered`: a seat answered (whoever hung up later).
    Answered,
    /// `abandoned_short`: the caller gave up before the short-abandon threshold.
    AbandonedShort,
    /// `abandoned`: the caller gave up at or after the threshold.
    Abandoned,
    /// `timed_out`: the queue's maximum wait passed.
    TimedOut,
    /// `rejected`: refused before queueing (unknown number 404, feature code, bad request).
    Rejected,
    /// `interrupted`: the server stopped or crashed while the call was in flight; written at
    /// the next start-up.
    Interrupted,
}

impl CallOutcome {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::AbandonedShort => "abandoned_short",
            Self::Abandoned => "abandoned",
            Self::TimedOut => "timed_out",
            Self::Rejected => "rejected",
            Self::Interrupted => "interrupted",
        }
    }
}
