//! Typed errors for bad input; on error the state is unchanged.

use crate::model::{CallId, Line, SeatId, TopicId};

/// Bad input or configuration. The distributor's state is unchanged when `handle` returns one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    /// No seat with this id.
    #[error("unknown seat {0:?}")]
    UnknownSeat(SeatId),
    /// No call with this id is known.
    #[error("unknown call {0:?}")]
    UnknownCall(CallId),
    /// No queue is fed by this line.
    #[error("no queue serves line {0:?}")]
    UnknownLine(Line),
    /// The topic id is outside the configured topics.
    #[error("unknown topic {0:?}")]
    UnknownTopic(TopicId),
    /// A call with this id is already known.
    #[error("call {0:?} already known")]
    DuplicateCall(CallId),
    /// The seat is already ready.
    #[error("seat {0:?} is already ready")]
    AlreadyReady(SeatId),
    /// The seat is already logged out.
    #[error("seat {0:?} is already logged out")]
    AlreadyLoggedOut(SeatId),
    /// The seat is ringing or talking and cannot change state now.
    #[error("seat {0:?} is busy with a call")]
    SeatBusy(SeatId),
    /// The call is not ringing at this seat.
    #[error("call {call:?} was not offered to seat {seat:?}")]
    NotOffered {
        /// The call.
        call: CallId,
        /// The seat.
        seat: SeatId,
    },
    /// The call is not in conversation.
    #[error("call {0:?} is not talking")]
    NotTalking(CallId),
    /// The call is already answered, so it cannot be abandoned; end it instead.
    #[error("call {0:?} is already answered")]
    AlreadyAnswered(CallId),
    /// The call is not waiting in a queue (it rings a seat, or talks).
    #[error("call {0:?} is not waiting")]
    NotWaiting(CallId),
    /// The seat is not ready to take a call.
    #[error("seat {0:?} is not ready")]
    SeatNotReady(SeatId),
    /// The configuration is inconsistent.
    #[error("bad configuration: {0}")]
    BadConfig(&'static str),
}
