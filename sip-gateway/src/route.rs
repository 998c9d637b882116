//! Where an inbound call goes.
//!
//! The B2BUA asks a [`Router`] once per new inbound INVITE. [`SeatRouter`] dials a registered
//! seat by its id; the platform (dial plan and call distributor) answers
//! [`RouteDecision::Hold`] and drives the call through the gateway's methods.

use std::time::{Duration, Instant};

use crate::registrar::Registrar;

/// The facts about a new inbound call that routing may use.
#[derive(Debug, Clone, Copy)]
pub struct InboundCall<'a> {
    /// The gateway's id for this call (stable for the call's life).
    pub call: u64,
    /// The dialed number: the Request-URI user part.
    pub dialed: &'a str,
    /// The caller's user part (number), from From.
    pub caller: &'a str,
}

/// What to do with a new inbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// Ring this seat's registered phone; give up after `ring_timeout` (None: the gateway's default).
    Ring {
        /// The seat id, as registered (`sip:<seat-id>@<domain>`).
        seat: String,
        /// How long to ring before giving up.
        ring_timeout: Option<Duration>,
    },
    /// Hold the caller (only 100 Trying is sent) and let the platform decide: it reads
    /// [`crate::Event::CallStarted`], then calls [`crate::Gateway::ring_back`],
    /// [`crate::Gateway::offer`] or [`crate::Gateway::reject`]. A seat attempt that fails
    /// returns the caller to held ([`crate::Event::OfferFailed`]).
    Hold,
    /// Refuse with this final response.
    Reject {
        /// Status code, e.g. 404.
        status: u16,
        /// Reason phrase.
        reason: &'static str,
    },
}

/// Decides where new inbound calls go.
pub trait Router {
    /// Called once per new inbound INVITE, before anything is sent to a seat.
    fn route(
        &mut self,
        now: Instant,
        call: &InboundCall<'_>,
        registrar: &Registrar,
    ) -> RouteDecision;
}

/// Seat-to-seat dialling: a Request-URI user that is a registered seat rings that seat.
///
/// A seat id with no live registration gets 480 (the seat exists but cannot be reached when
/// seats have credentials); anything else gets 404.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeatRouter;

impl Router for SeatRouter {
    fn route(
        &mut self,
        now: Instant,
        call: &InboundCall<'_>,
        registrar: &Registrar,
    ) -> RouteDecision {
        if registrar.lookup(now, call.dialed).is_some() {
            RouteDecision::Ring {
                seat: call.dialed.to_owned(),
                ring_timeout: None,
            }
        } else if registrar.is_known_seat(call.dialed) {
            RouteDecision::Reject {
                status: 480,
                reason: "Temporarily Unavailable",
            }
        } else {
            RouteDecision::Reject {
                status: 404,
                reason: "Not Found",
            }
        }
    }
}

/// Every call is held for the platform to decide ([`RouteDecision::Hold`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct HoldRouter;

impl Router for HoldRouter {
    fn route(&mut self, _: Instant, _: &InboundCall<'_>, _: &Registrar) -> RouteDecision {
        RouteDecision::Hold
    }
}
