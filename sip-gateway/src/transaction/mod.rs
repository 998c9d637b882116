//! RFC 3261 §17 transactions as pure state machines, with RFC 6026's Accepted states.
//!
//! Four machines: [`ClientInvite`] (§17.1.1), [`ClientNonInvite`] (§17.1.2), [`ServerInvite`]
//! (§17.2.1, with the UAS core's 2xx retransmission of §13.3.1.4 folded in) and
//! [`ServerNonInvite`] (§17.2.2). They do no I/O, read no clock and parse nothing: time is an
//! argument, responses are status codes, and messages are opaque [`Bytes`](bytes::Bytes) the
//! owner built. Matching messages to transactions (§17.1.3, §17.2.3) is the owner's job.
//!
//! # Driving contract
//!
//! 1. Create the machine with `new(now, ..)`.
//! 2. For each input, call the matching method: `on_response` (client), `on_retransmission`,
//!    `on_ack`, `respond` (server).
//! 3. When `poll_timeout()` returns an instant at or before the current time, call
//!    `handle_timeout(now)`; it fires every due timer in deadline order.
//! 4. After every call, drain `poll_action()` until it returns `None`: send each
//!    [`Action::Transmit`], tell the TU about [`Action::Timeout`] and [`Action::NoAckFor2xx`],
//!    and drop the machine after [`Action::Terminated`] (it comes last, exactly once).
//! 5. Re-read `poll_timeout()` and re-arm the one wake-up timer.
//!
//! Retransmission timers are re-armed from the `now` given to `handle_timeout`, so an owner
//! that wakes up late gets one retransmission, never a burst. After `handle_timeout(now)`,
//! `poll_timeout()` is `None` or later than `now`.
//!
//! # Reliable transports
//!
//! No retransmission timers (A, E, G) run. Timers D, I, J and K are zero (RFC 3261 Table 4):
//! they are not armed; the machine enters Terminated in the same call that would have started
//! them (e.g. `on_response(486)` queues the ACK and then `Terminated`). The 2xx retransmission
//! of [`ServerInvite`] runs on every transport, as §13.3.1.4 requires.
//!
//! # Left to the TU
//!
//! - 100 Trying for an INVITE within 200 ms (§17.2.1): send it through `respond`.
//! - Bounding [`ClientInvite`] in Proceeding, where the RFC runs no timer: CANCEL, and drop the
//!   transaction 64*T1 after the CANCEL's final response if no final response came (§9.1).
//! - Transport errors (§17.1.4, §17.2.4): treat like a timeout and drop the machine.

mod action;
mod client_invite;
mod client_non_invite;
mod server_invite;
mod server_non_invite;
mod timers;

#[cfg(test)]
mod tests;

pub use action::Action;
pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use timers::{TimerConfig, TimerName};

/// The response classes a transaction distinguishes (RFC 3261 §7.2, §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// 100–199.
    Provisional,
    /// 200–299.
    Success,
    /// 300–699: a final response that is not a 2xx.
    Failure,
}

/// Classifies a status code; `None` outside 100–699 (RFC 3261 §21 defines no other classes).
fn classify(status: u16) -> Option<Class> {
    match status {
        100..=199 => Some(Class::Provisional),
        200..=299 => Some(Class::Success),
        300..=699 => Some(Class::Failure),
        _ => None,
    }
}
