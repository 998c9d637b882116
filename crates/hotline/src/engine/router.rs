//! The platform's [`Router`]: a seat's own number rings that seat directly (an internal call);
//! every other call is held for the dial plan and the distributor.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sip_gateway::registrar::Registrar;
use sip_gateway::route::{InboundCall, RouteDecision, Router};

/// Routes internal calls to seats; holds everything else for the engine.
#[derive(Debug, Clone)]
pub struct PlatformRouter {
    seats: HashSet<String>,
    ring_timeout: Duration,
}

impl PlatformRouter {
    /// A router over the plan's seat numbers.
    pub fn new(seats: impl IntoIterator<Item = String>, ring_timeout: Duration) -> Self {
        Self {
            seats: seats.into_iter().collect(),
            ring_timeout,
        }
    }
}

impl Router for PlatformRouter {
    fn route(
        &mut self,
        now: Instant,
        call: &InboundCall<'_>,
        registrar: &Registrar,
    ) -> RouteDecision {
        if !self.seats.contains(call.dialed) {
            return RouteDecision::Hold;
        }
        if registrar.lookup(now, call.dialed).is_some() {
            RouteDecision::Ring {
                seat: call.dialed.to_owned(),
                ring_timeout: Some(self.ring_timeout),
            }
        } else {
            RouteDecision::Reject {
                status: 480,
                reason: "Temporarily Unavailable",
            }
        }
    }
}
