//! The vocabulary of the distributor: identifiers, seat states, inputs, outputs and counters.

use std::time::{Duration, Instant};

/// A call, numbered by the caller of the API (the telephony shell); unique while it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// A seat (坐席), numbered by configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeatId(pub u32);

/// A dialed number that feeds a queue, e.g. `Line(12345)`, `Line(12348)`, `Line(12349)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Line(pub u32);

/// A queue, the index of its [`crate::QueueConfig`] in [`crate::AcdConfig::queues`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub u16);

/// A topic (诉求类别) such as "民政" or "legal", interned by [`crate::AcdConfig::topic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId(pub u16);

/// Call priority; a higher value is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Priority(pub u8);

/// The seat pools of the 12345 main platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pool {
    /// 话务、网络受理: answers calls and online requests.
    Intake,
    /// 支撑: dispatch, review, quality, callback, counselling.
    Support,
    /// 高峰应急: no fixed staff, opened at peaks and emergencies.
    Surge,
    /// Experts sent by departments (12348 legal, 12333, 12329, 12320).
    Expert,
    /// Leaders taking calls on a schedule (领导干部接听热线制度).
    Leader,
}

impl Pool {
    /// Number of pools.
    pub const COUNT: usize = 5;
    /// Every pool, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Intake,
        Self::Support,
        Self::Surge,
        Self::Expert,
        Self::Leader,
    ];

    /// Dense index of the pool, `0..Pool::COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A seat's skill: a topic and a level from 1 (novice) to 10 (expert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Skill {
    /// The topic the seat can handle.
    pub topic: TopicId,
    /// Level 1–10.
    pub level: u8,
}

/// Why a seat is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotReadyReason {
    /// A break.
    Break,
    /// A meal.
    Meal,
    /// Training or coaching.
    Training,
    /// A meeting.
    Meeting,
    /// Set by the distributor after `count` consecutive offers failed.
    MissedOffers {
        /// How many offers in a row were missed.
        count: u8,
    },
    /// Another reason, coded by the operator.
    Other(u16),
}

/// The state of a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatState {
    /// Not signed in.
    LoggedOut,
    /// Idle and waiting for an offer.
    Ready,
    /// Signed in but not taking calls.
    NotReady {
        /// Why.
        reason: NotReadyReason,
    },
    /// A call is ringing at the seat.
    Offered(CallId),
    /// The seat is talking to the caller.
    Talking(CallId),
    /// After-call work (话后处理) until the given instant, then Ready.
    WrapUp {
        /// When wrap-up ends.
        until: Instant,
    },
}

/// What an agent asks their seat to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatRequest {
    /// Take calls.
    Ready,
    /// Stop taking calls for a reason.
    NotReady(NotReadyReason),
    /// Sign out.
    LoggedOut,
}

/// Why an offer did not turn into a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferFailure {
    /// Rang until the ring timeout.
    NoAnswer,
    /// The agent rejected it.
    Rejected,
    /// The seat's phone could not be reached.
    Unreachable,
}

/// Where a call goes when it has waited its queue's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Leave a message.
    Voicemail,
    /// Register a callback (回访) and hang up.
    Callback,
    /// Transfer to another line.
    Transfer(Line),
    /// Play a closing announcement and hang up.
    Disconnect,
}

/// Why a call left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// A seat answered.
    Answered {
        /// The seat.
        seat: SeatId,
    },
    /// The caller hung up before being answered.
    Abandoned {
        /// Waited less than [`crate::AcdConfig::short_abandon`].
        short: bool,
    },
    /// The queue's maximum wait passed; the shell carries out `exit`.
    TimedOut {
        /// The configured exit.
        exit: Exit,
    },
}

/// Why the surge pool opened or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SurgeReason {
    /// The longest waiting caller had waited this long.
    LongestWait(Duration),
    /// This many callers were waiting.
    CallsWaiting(usize),
    /// The 15-second answer rate of the recent window was this, in per mille.
    AnswerRate {
        /// Answered within the limit, per mille of the window's calls.
        permille: u16,
    },
    /// A supervisor pressed the button.
    Manual,
    /// The platform has been calm for the configured time.
    Calm,
}

/// Everything that can happen to the distributor.
///
/// Marked non-exhaustive: a second kind of work item (online requests, callbacks) will get its
/// own arrival input rather than overloading calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A caller reached a line and wants a person.
    CallArrived {
        /// Call id, unique while known.
        call: CallId,
        /// Dialed number.
        line: Line,
        /// Topic (from the line, e.g. 12349 → 民政, or from the caller's choice).
        topic: TopicId,
        /// Priority; higher first.
        priority: Priority,
    },
    /// The caller hung up while waiting or ringing.
    CallAbandoned {
        /// The call.
        call: CallId,
    },
    /// The seat picked up the offered call.
    OfferAnswered {
        /// The call.
        call: CallId,
        /// The seat it was offered to.
        seat: SeatId,
    },
    /// The offer failed; the call goes back to the head of its queue.
    OfferFailed {
        /// The call.
        call: CallId,
        /// The seat it was offered to.
        seat: SeatId,
        /// Why.
        why: OfferFailure,
    },
    /// The conversation ended; the seat goes to wrap-up.
    CallEnded {
        /// The call.
        call: CallId,
    },
    /// The seat handed the answered caller on (a blind transfer, or the seat left a three-way
    /// call): the seat's conversation ends as with [`Input::CallEnded`] and the call counts
    /// as transferred.
    CallTransferred {
        /// The call.
        call: CallId,
    },
    /// An agent changed their seat's state.
    SeatState {
        /// The seat.
        seat: SeatId,
        /// The requested state.
        state: SeatRequest,
    },
    /// A supervisor hands a waiting call to a named seat, which must be ready: the call is
    /// offered to it at once, whatever queues the seat serves. If the offer fails the call
    /// goes back to the head of its queue (as [`Input::OfferFailed`]).
    Withdraw {
        /// The waiting call.
        call: CallId,
        /// The seat to ring.
        seat: SeatId,
    },
    /// A supervisor opened or closed the surge pool by hand.
    SurgeManual {
        /// Open (true) or close (false).
        open: bool,
    },
}

/// What the shell must carry out or know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Ring `seat` with `call`. The shell enforces `ring_timeout` and reports
    /// [`Input::OfferFailed`] with [`OfferFailure::NoAnswer`] when it passes.
    Offer {
        /// The call.
        call: CallId,
        /// The seat.
        seat: SeatId,
        /// How long to ring, from the queue's configuration.
        ring_timeout: Option<Duration>,
    },
    /// The call left the queue.
    CallLeft {
        /// The call.
        call: CallId,
        /// Why.
        why: LeaveReason,
    },
    /// A seat changed state.
    SeatChanged {
        /// The seat.
        seat: SeatId,
        /// Its new state.
        state: SeatState,
    },
    /// The surge pool opened.
    SurgeOpened {
        /// Why.
        reason: SurgeReason,
    },
    /// The surge pool closed.
    SurgeClosed {
        /// Why.
        reason: SurgeReason,
    },
}

/// Running totals, enough to check `offered = answered + abandoned + timed_out + waiting +
/// ringing` and to feed surge evaluation. Full answer-rate accounting lives elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Calls that arrived.
    pub offered: u64,
    /// Calls answered by a seat.
    pub answered: u64,
    /// Calls abandoned within the short-abandon threshold.
    pub abandoned_short: u64,
    /// Calls abandoned after the short-abandon threshold.
    pub abandoned_long: u64,
    /// Calls that reached the maximum wait.
    pub timed_out: u64,
    /// Calls waiting in a queue now.
    pub waiting: u64,
    /// Calls ringing at a seat now.
    pub ringing: u64,
}

impl Counters {
    /// Abandoned calls, short and long.
    pub const fn abandoned(&self) -> u64 {
        self.abandoned_short + self.abandoned_long
    }
}
