//! INVITE client transaction: RFC 3261 §17.1.1, with the Accepted state of RFC 6026 §7.2.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::action::ActionQueue;
use super::timers::Timers;
use super::{classify, Action, Class, TimerConfig, TimerName};

/// Where an INVITE client transaction is, named by the RFC 3261 §17.1.1.2 / RFC 6026 §7.2 states;
/// each variant's doc says what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientInviteState {
    /// Request sent; waiting for any response while Timer A retransmits (unreliable) and Timer B
    /// runs (RFC 3261 §17.1.1.2).
    Calling,
    /// A provisional arrived; waiting for a final response. No timer runs: the TU bounds this
    /// state itself (CANCEL, then §9.1's 64*T1 after the CANCEL's final response).
    Proceeding,
    /// A 300–699 arrived and was ACKed; absorbing its retransmissions until Timer D (§17.1.1.2).
    Completed,
    /// A 2xx arrived; passing 2xx retransmissions to the TU (which ACKs them) until Timer M
    /// (RFC 6026 §7.2).
    Accepted,
    /// Over; the owner removes the transaction.
    Terminated,
}

/// RFC 3261 §17.1.1 + RFC 6026 §7.2 (Accepted state): the INVITE client transaction.
///
/// The owner matches responses to it (§17.1.3) and builds the non-2xx ACK (§17.1.1.3); this
/// machine decides when to send what.
#[derive(Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    actions: ActionQueue,
    request: Bytes,
    /// Timer A's current interval (RFC 3261 §17.1.1.2: T1, doubling on every firing).
    a_interval: Duration,
    /// The ACK for the non-2xx final, re-sent for each retransmission of that response.
    ack: Option<Bytes>,
}

impl ClientInvite {
    /// RFC 3261 §17.1.1.2: enter Calling, queue `Transmit(request)`, arm Timer A = T1
    /// (unreliable transports only) and Timer B = 64*T1.
    pub fn new(now: Instant, request: Bytes, reliable: bool, timers: TimerConfig) -> Self {
        let mut this = Self {
            state: ClientInviteState::Calling,
            reliable,
            config: timers,
            timers: Timers::default(),
            actions: ActionQueue::default(),
            request,
            a_interval: timers.t1,
            ack: None,
        };
        this.actions.push(Action::Transmit(this.request.clone()));
        if !reliable {
            this.timers.arm(TimerName::A, now, this.a_interval);
        }
        this.timers.arm(TimerName::B, now, timers.t1_x64());
        this
    }

    /// A response matched this transaction. Returns true when the response must go to the TU,
    /// false when the transaction absorbed it.
    ///
    /// - 1xx in Calling/Proceeding: → Proceeding, stop A and B, pass (§17.1.1.2).
    /// - 2xx in Calling/Proceeding: → Accepted, arm M = 64*T1, pass (RFC 6026 §7.2).
    /// - 2xx in Accepted: pass, so the TU re-sends its ACK (RFC 6026 §7.2, §13.2.2.4).
    /// - 300–699 in Calling/Proceeding: → Completed, queue `Transmit(ack())`, arm D
    ///   (max(32 s, 64*T1) unreliable; reliable: Terminated at once), pass (§17.1.1.2).
    /// - 300–699 in Completed: re-send the stored ACK, absorb (§17.1.1.2).
    /// - Anything else (other states, codes outside 100–699): absorb.
    ///
    /// `ack` is called at most once, on entering Completed.
    #[must_use = "true means the response must be passed to the TU"]
    pub fn on_response(&mut self, now: Instant, status: u16, ack: impl FnOnce() -> Bytes) -> bool {
        use ClientInviteState::*;
        let Some(class) = classify(status) else {
            return false;
        };
        match (self.state, class) {
            (Calling | Proceeding, Class::Provisional) => {
                self.state = Proceeding;
                self.timers.cancel(TimerName::A);
                self.timers.cancel(TimerName::B);
                true
            }
            (Calling | Proceeding, Class::Success) => {
                self.state = Accepted;
                self.timers.cancel_all();
                self.timers.arm(TimerName::M, now, self.config.t1_x64());
                true
            }
            (Calling | Proceeding, Class::Failure) => {
                let ack = ack();
                self.actions.push(Action::Transmit(ack.clone()));
                self.timers.cancel_all();
                if self.reliable {
                    self.terminate();
                } else {
                    self.ack = Some(ack);
                    self.state = Completed;
                    self.timers.arm(TimerName::D, now, self.config.timer_d());
                }
                true
            }
            (Accepted, Class::Success) => true,
            (Completed, Class::Failure) => {
                if let Some(ack) = &self.ack {
                    self.actions.push(Action::Transmit(ack.clone()));
                }
                false
            }
            _ => false,
        }
    }

    /// The transport could not deliver the request (RFC 3261 §17.1.4): in Calling or
    /// Proceeding, queue `TransportError` and terminate; otherwise (a final response already
    /// came) nothing changes.
    pub fn on_transport_error(&mut self) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            self.actions.push(Action::TransportError);
            self.terminate();
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
        use ClientInviteState::*;
        match (self.state, name) {
            // RFC 3261 §17.1.1.2: retransmit, double the interval (no T2 cap for INVITE).
            (Calling, TimerName::A) => {
                self.actions.push(Action::Transmit(self.request.clone()));
                self.a_interval = self.a_interval.saturating_mul(2);
                self.timers.arm(TimerName::A, now, self.a_interval);
            }
            // RFC 3261 §17.1.1.2: inform the TU of the timeout.
            (Calling, TimerName::B) => {
                self.actions.push(Action::Timeout(TimerName::B));
                self.terminate();
            }
            (Completed, TimerName::D) | (Accepted, TimerName::M) => self.terminate(),
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
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// True once the transaction entered Terminated (the owner still drains its actions).
    pub fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }

    fn terminate(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.timers.cancel_all();
        self.actions.push(Action::Terminated);
    }
}
