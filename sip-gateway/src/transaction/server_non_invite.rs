//! Non-INVITE server transaction: RFC 3261 §17.2.2.

use std::time::Instant;

use bytes::Bytes;

use super::action::ActionQueue;
use super::timers::Timers;
use super::{classify, Action, Class, TimerConfig, TimerName};

/// Where a non-INVITE server transaction is, named by the RFC 3261 §17.2.2 states; each
/// variant's doc says what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerNonInviteState {
    /// Waiting for the TU's first response; request retransmissions are absorbed silently.
    Trying,
    /// A provisional was sent; waiting for the TU's final response. Request retransmissions
    /// re-send the provisional.
    Proceeding,
    /// The final response was sent; re-sending it for request retransmissions until Timer J
    /// (unreliable).
    Completed,
    /// Over; the owner removes the transaction.
    Terminated,
}

/// RFC 3261 §17.2.2: the non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    actions: ActionQueue,
    /// The last response sent, re-sent for request retransmissions.
    last_response: Option<Bytes>,
}

impl ServerNonInvite {
    /// RFC 3261 §17.2.2: enter Trying; nothing is sent and no timer runs.
    pub fn new(now: Instant, reliable: bool, timers: TimerConfig) -> Self {
        let _ = now; // Nothing is armed until the TU responds.
        Self {
            state: ServerNonInviteState::Trying,
            reliable,
            config: timers,
            timers: Timers::default(),
            actions: ActionQueue::default(),
            last_response: None,
        }
    }

    /// A retransmission of the request arrived; it is always absorbed (RFC 3261 §17.2.2).
    /// Proceeding and Completed: re-send the last response. Trying: nothing.
    pub fn on_retransmission(&mut self, now: Instant) {
        let _ = now; // Re-sending arms nothing.
        use ServerNonInviteState::*;
        if matches!(self.state, Proceeding | Completed) {
            if let Some(response) = &self.last_response {
                self.actions.push(Action::Transmit(response.clone()));
            }
        }
    }

    /// The TU sends a response (RFC 3261 §17.2.2). Returns true if the transaction took it,
    /// false if it was ignored (anything in Completed, or a code outside 100–699).
    ///
    /// - 1xx in Trying/Proceeding: transmit, → Proceeding.
    /// - 200–699 in Trying/Proceeding: transmit, → Completed, arm J = 64*T1 (unreliable;
    ///   reliable: Terminated at once).
    pub fn respond(&mut self, now: Instant, status: u16, response: Bytes) -> bool {
        use ServerNonInviteState::*;
        let Some(class) = classify(status) else {
            return false;
        };
        if !matches!(self.state, Trying | Proceeding) {
            return false;
        }
        self.actions.push(Action::Transmit(response.clone()));
        if class == Class::Provisional {
            self.state = Proceeding;
            self.last_response = Some(response);
        } else if self.reliable {
            self.terminate();
        } else {
            self.state = Completed;
            self.last_response = Some(response);
            self.timers.arm(TimerName::J, now, self.config.t1_x64());
        }
        true
    }

    /// Fires every timer due at or before `now`, in deadline order.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(name) = self.timers.pop_due(now) {
            if (self.state, name) == (ServerNonInviteState::Completed, TimerName::J) {
                self.terminate();
            }
        }
    }

    /// The earliest armed timer: when to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing for the owner to do; drain until `None` after every call.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop()
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// True once the transaction entered Terminated (the owner still drains its actions).
    pub fn is_terminated(&self) -> bool {
        self.state == ServerNonInviteState::Terminated
    }

    fn terminate(&mut self) {
        self.state = ServerNonInviteState::Terminated;
        self.timers.cancel_all();
        self.actions.push(Action::Terminated);
    }
}
