//! Non-INVITE client transaction: RFC 3261 §17.1.2.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::action::ActionQueue;
use super::timers::Timers;
use super::{classify, Action, Class, TimerConfig, TimerName};

/// Where a non-INVITE client transaction is, named by the RFC 3261 §17.1.2.2 states; each
/// variant's doc says what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientNonInviteState {
    /// Request sent; waiting for any response while Timer E retransmits (unreliable, T1
    /// doubling up to T2) and Timer F runs.
    Trying,
    /// A provisional arrived; waiting for a final response while Timer E retransmits every T2
    /// (unreliable) and Timer F runs.
    Proceeding,
    /// A final response arrived; absorbing its retransmissions until Timer K (unreliable).
    Completed,
    /// Over; the owner removes the transaction.
    Terminated,
}

/// RFC 3261 §17.1.2: the non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    actions: ActionQueue,
    request: Bytes,
    /// Timer E's current interval in Trying (T1 doubling up to T2).
    e_interval: Duration,
}

impl ClientNonInvite {
    /// RFC 3261 §17.1.2.2: enter Trying, queue `Transmit(request)`, arm Timer E = T1 (unreliable
    /// transports only) and Timer F = 64*T1.
    pub fn new(now: Instant, request: Bytes, reliable: bool, timers: TimerConfig) -> Self {
        let mut this = Self {
            state: ClientNonInviteState::Trying,
            reliable,
            config: timers,
            timers: Timers::default(),
            actions: ActionQueue::default(),
            request,
            e_interval: timers.t1,
        };
        this.actions.push(Action::Transmit(this.request.clone()));
        if !reliable {
            this.timers.arm(TimerName::E, now, this.e_interval);
        }
        this.timers.arm(TimerName::F, now, timers.t1_x64());
        this
    }

    /// A response matched this transaction (RFC 3261 §17.1.2.2). Returns true when the response
    /// must go to the TU, false when the transaction absorbed it.
    ///
    /// - 1xx in Trying/Proceeding: → Proceeding, pass (every provisional goes to the TU).
    /// - 200–699 in Trying/Proceeding: → Completed, stop E and F, arm K = T4 (unreliable;
    ///   reliable: Terminated at once), pass.
    /// - Anything in Completed (retransmissions), or codes outside 100–699: absorb.
    #[must_use = "true means the response must be passed to the TU"]
    pub fn on_response(&mut self, now: Instant, status: u16) -> bool {
        use ClientNonInviteState::*;
        let Some(class) = classify(status) else {
            return false;
        };
        match (self.state, class) {
            (Trying | Proceeding, Class::Provisional) => {
                self.state = Proceeding;
                true
            }
            (Trying | Proceeding, Class::Success | Class::Failure) => {
                self.timers.cancel_all();
                if self.reliable {
                    self.terminate();
                } else {
                    self.state = Completed;
                    self.timers.arm(TimerName::K, now, self.config.t4);
                }
                true
            }
            _ => false,
        }
    }

    /// The transport could not deliver the request (RFC 3261 §17.1.4): in Trying or
    /// Proceeding, queue `TransportError` and terminate; in Completed nothing changes.
    pub fn on_transport_error(&mut self) {
        if matches!(
            self.state,
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
        ) {
            self.actions.push(Action::TransportError);
            self.terminate();
        }
    }

    /// Fires every timer due at or before `now`, in deadline order. Timer E is re-armed from
    /// `now`, so a late call never produces a burst of retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(name) = self.timers.pop_due(now) {
            self.on_timer(now, name);
        }
    }

    fn on_timer(&mut self, now: Instant, name: TimerName) {
        use ClientNonInviteState::*;
        match (self.state, name) {
            // RFC 3261 §17.1.2.2: in Trying, E = MIN(2*E, T2).
            (Trying, TimerName::E) => {
                self.actions.push(Action::Transmit(self.request.clone()));
                self.e_interval = self.config.double_capped(self.e_interval);
                self.timers.arm(TimerName::E, now, self.e_interval);
            }
            // RFC 3261 §17.1.2.2: in Proceeding, E is reset to T2.
            (Proceeding, TimerName::E) => {
                self.actions.push(Action::Transmit(self.request.clone()));
                self.timers.arm(TimerName::E, now, self.config.t2);
            }
            (Trying | Proceeding, TimerName::F) => {
                self.actions.push(Action::Timeout(TimerName::F));
                self.terminate();
            }
            (Completed, TimerName::K) => self.terminate(),
            _ => {}
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
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// True once the transaction entered Terminated (the owner still drains its actions).
    pub fn is_terminated(&self) -> bool {
        self.state == ClientNonInviteState::Terminated
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.timers.cancel_all();
        self.actions.push(Action::Terminated);
    }
}
