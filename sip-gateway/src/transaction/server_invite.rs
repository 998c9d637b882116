//! INVITE server transaction: RFC 3261 §17.2.1, with the Accepted state of RFC 6026 §7.1 and the
//! UAS core's 2xx retransmission (RFC 3261 §13.3.1.4) folded in.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::action::ActionQueue;
use super::timers::Timers;
use super::{classify, Action, Class, TimerConfig, TimerName};

/// Where an INVITE server transaction is, named by the RFC 3261 §17.2.1 / RFC 6026 §7.1 states;
/// each variant's doc says what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerInviteState {
    /// Waiting for the TU's responses; INVITE retransmissions re-send the last provisional.
    /// No timer runs: the TU must answer (and send 100 Trying within 200 ms, §17.2.1).
    Proceeding,
    /// A 300–699 was sent; waiting for the ACK while Timer G retransmits it (unreliable) and
    /// Timer H runs (§17.2.1).
    Completed,
    /// The ACK for the non-2xx arrived; absorbing ACK retransmissions until Timer I (§17.2.1).
    Confirmed,
    /// A 2xx was sent; waiting for its ACK while the 2xx is retransmitted (§13.3.1.4), then
    /// absorbing INVITE retransmissions until Timer L (RFC 6026 §7.1).
    Accepted,
    /// Over; the owner removes the transaction.
    Terminated,
}

/// RFC 3261 §17.2.1 + RFC 6026 §7.1 (Accepted), with the UAS core's 2xx retransmission
/// (§13.3.1.4) folded in: the INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    actions: ActionQueue,
    /// The last response sent, re-sent for INVITE retransmissions and by Timers G and
    /// Retransmit2xx.
    last_response: Option<Bytes>,
    /// Current interval of Timer G or of the 2xx retransmission (T1 doubling up to T2).
    interval: Duration,
    /// Accepted only: the ACK for the 2xx arrived.
    acked: bool,
}

impl ServerInvite {
    /// RFC 3261 §17.2.1: enter Proceeding; nothing is sent (the TU sends 100 Trying itself via
    /// [`Self::respond`]).
    pub fn new(now: Instant, reliable: bool, timers: TimerConfig) -> Self {
        let _ = now; // Nothing is armed until the TU responds.
        Self {
            state: ServerInviteState::Proceeding,
            reliable,
            config: timers,
            timers: Timers::default(),
            actions: ActionQueue::default(),
            last_response: None,
            interval: timers.t1,
            acked: false,
        }
    }

    /// A retransmission of the INVITE arrived; it is always absorbed (RFC 3261 §17.2.1,
    /// RFC 6026 §7.1). Proceeding and Completed: re-send the last response, if any. Accepted:
    /// re-send the 2xx until its ACK arrived, then nothing (the peer has the 2xx).
    pub fn on_retransmission(&mut self, now: Instant) {
        let _ = now; // Re-sending arms nothing.
        use ServerInviteState::*;
        let resend = match self.state {
            Proceeding | Completed => true,
            Accepted => !self.acked,
            Confirmed | Terminated => false,
        };
        if resend {
            if let Some(response) = &self.last_response {
                self.actions.push(Action::Transmit(response.clone()));
            }
        }
    }

    /// The TU sends a response. Returns true if the transaction took it, false if it was ignored
    /// (any response outside Proceeding, or a code outside 100–699).
    ///
    /// - 1xx in Proceeding: transmit, remember for INVITE retransmissions (§17.2.1).
    /// - 2xx in Proceeding: transmit, → Accepted, arm Retransmit2xx = T1 (doubling up to T2) and
    ///   L = 64*T1 (§13.3.1.4, RFC 6026 §7.1). The 2xx is retransmitted on reliable transports
    ///   too: §13.3.1.4 says this "is independent of whatever transport protocols are used",
    ///   because hops beyond the next one may be UDP.
    /// - 300–699 in Proceeding: transmit, → Completed, arm G = T1 (unreliable, doubling up to
    ///   T2) and H = 64*T1 (§17.2.1).
    pub fn respond(&mut self, now: Instant, status: u16, response: Bytes) -> bool {
        let Some(class) = classify(status) else {
            return false;
        };
        if self.state != ServerInviteState::Proceeding {
            return false;
        }
        self.actions.push(Action::Transmit(response.clone()));
        self.last_response = Some(response);
        match class {
            Class::Provisional => {}
            Class::Success => {
                self.state = ServerInviteState::Accepted;
                self.interval = self.config.t1;
                self.timers
                    .arm(TimerName::Retransmit2xx, now, self.interval);
                self.timers.arm(TimerName::L, now, self.config.t1_x64());
            }
            Class::Failure => {
                self.state = ServerInviteState::Completed;
                self.interval = self.config.t1;
                if !self.reliable {
                    self.timers.arm(TimerName::G, now, self.interval);
                }
                self.timers.arm(TimerName::H, now, self.config.t1_x64());
            }
        }
        true
    }

    /// An ACK matched this transaction. Returns true if the ACK is for a 2xx (the owner passes
    /// it to the dialog), false if absorbed.
    ///
    /// - Completed: → Confirmed, stop G and H, arm I = T4 (unreliable; reliable: Terminated at
    ///   once); absorbed (§17.2.1).
    /// - Accepted: stop the 2xx retransmission, stay Accepted until L to absorb INVITE
    ///   retransmissions; true, also for repeated ACKs (§13.3.1.4, RFC 6026 §7.1).
    /// - Anything else (Proceeding, Confirmed, Terminated): absorbed.
    #[must_use = "true means the ACK acknowledges a 2xx and belongs to the dialog"]
    pub fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            ServerInviteState::Completed => {
                self.timers.cancel_all();
                if self.reliable {
                    self.terminate();
                } else {
                    self.state = ServerInviteState::Confirmed;
                    self.timers.arm(TimerName::I, now, self.config.t4);
                }
                false
            }
            ServerInviteState::Accepted => {
                self.acked = true;
                self.timers.cancel(TimerName::Retransmit2xx);
                true
            }
            _ => false,
        }
    }

    /// Fires every timer due at or before `now`, in deadline order. Retransmission timers are
    /// re-armed from `now`, so a late call never produces a burst of retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(name) = self.timers.pop_due(now) {
            self.on_timer(now, name);
        }
    }

    fn on_timer(&mut self, now: Instant, name: TimerName) {
        use ServerInviteState::*;
        match (self.state, name) {
            // §17.2.1 (G) and §13.3.1.4 (2xx): re-send, interval = MIN(2*interval, T2).
            (Completed, TimerName::G) | (Accepted, TimerName::Retransmit2xx) => {
                if let Some(response) = &self.last_response {
                    self.actions.push(Action::Transmit(response.clone()));
                }
                self.interval = self.config.double_capped(self.interval);
                self.timers.arm(name, now, self.interval);
            }
            (Completed, TimerName::H) => {
                self.actions.push(Action::Timeout(TimerName::H));
                self.terminate();
            }
            (Confirmed, TimerName::I) => self.terminate(),
            (Accepted, TimerName::L) => {
                if !self.acked {
                    self.actions.push(Action::NoAckFor2xx);
                }
                self.terminate();
            }
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
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// True once the transaction entered Terminated (the owner still drains its actions).
    pub fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.timers.cancel_all();
        self.actions.push(Action::Terminated);
    }
}
