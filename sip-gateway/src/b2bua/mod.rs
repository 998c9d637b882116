//! The sans-IO gateway core: validation, transactions, the registrar and B2BUA calls joined
//! into one state machine.
//!
//! # Driving contract
//!
//! The owner (the tokio [`shell`](crate::shell), or a test with a fake clock) calls
//! [`Gateway::handle_message`] for every datagram or framed stream message and
//! [`Gateway::handle_timeout`] when [`Gateway::poll_timeout`] is due, then drains
//! [`Gateway::poll_transmit`] (bytes to send, in order) and [`Gateway::poll_event`] (what the
//! platform must know) until both return `None`. The core never reads a clock or touches a
//! socket; `now` is always an argument.

mod anchor;
mod call;
mod consult;
mod ids;
mod refer;
mod transfer;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsipstack::sip::Method;

use crate::guard::{Guard, GuardConfig, Kind};
use crate::peer::{Peer, Transport, TransportFailure};
use crate::registrar::{BindingChange, RegisterOutcome, Registrar};
use crate::route::Router;
use crate::transaction::{
    Action, ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TimerConfig,
};
use crate::validate::{self, Limits, ValidRequest, ValidResponse, Verdict};

use anchor::Anchor;
pub use anchor::{AnchorConfig, MediaOrder, PortPool, PortSource, CONSULT_LEG, TARGET_LEG};
use call::{Call, ClientPurpose};
pub use call::{EndCause, OfferError, SeatFailure, Side};
use ids::Ids;
pub use refer::{ReferTo, Replaces};
pub use transfer::{Dial, TransferError};

/// Settings of the gateway core.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The address we listen on and advertise in Via and Contact.
    pub local_addr: SocketAddr,
    /// RFC 3261 timer values.
    pub timers: TimerConfig,
    /// Size limits for incoming messages.
    pub limits: Limits,
    /// How long a seat rings before the call gives up on it.
    pub ring_timeout: Duration,
}

/// Bytes to send and where to.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Destination flow.
    pub to: Peer,
    /// One complete SIP message.
    pub bytes: Bytes,
}

/// What the platform must know about; drained with [`Gateway::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new inbound call was accepted for routing.
    CallStarted {
        /// The gateway's call id.
        call: u64,
        /// Request-URI user part.
        dialed: String,
        /// The caller's number (From user part).
        caller: String,
        /// The registered seat whose phone placed the call (From user with a binding on the
        /// very address the INVITE came from), e.g. for feature codes.
        from_seat: Option<String>,
        /// Where the INVITE came from (e.g. a sub-platform's trunk).
        source: SocketAddr,
        /// The `X-Hotline-*` headers it carried (a transfer from another platform), as
        /// (name without the prefix, lowercase; value), e.g. ("topic", "人社").
        context: Vec<(String, String)>,
    },
    /// Ringing a seat for a held call failed; the caller is held again.
    OfferFailed {
        /// Call id.
        call: u64,
        /// The seat that was rung.
        seat: String,
        /// Why.
        why: SeatFailure,
    },
    /// The call is ringing this seat.
    SeatRinging {
        /// Call id.
        call: u64,
        /// Seat id.
        seat: String,
    },
    /// The seat answered; the legs are bridged.
    CallAnswered {
        /// Call id.
        call: u64,
        /// Seat id.
        seat: String,
    },
    /// The call is over.
    CallEnded {
        /// Call id.
        call: u64,
        /// Why.
        cause: EndCause,
    },
    /// A seat now has a live registration.
    SeatRegistered {
        /// Seat id.
        seat: String,
    },
    /// A seat's last registration expired or was removed: it can no longer be rung.
    SeatUnregistered {
        /// Seat id.
        seat: String,
    },
    /// The seat's leg ended (it hung up, or was released) but the caller stays on the line
    /// for the platform ([`Gateway::keep_caller`]); the call goes on.
    SeatHungUp {
        /// Call id.
        call: u64,
        /// The seat that left.
        seat: String,
    },
    /// The transfer target of this call is ringing.
    TransferRinging {
        /// The call being transferred.
        call: u64,
    },
    /// The transfer target answered; complete or cancel the transfer.
    TransferAnswered {
        /// The call being transferred.
        call: u64,
    },
    /// The transfer target could not be reached, refused or did not answer; caller and seat
    /// are as they were.
    TransferFailed {
        /// The call being transferred.
        call: u64,
        /// Why.
        why: SeatFailure,
    },
    /// The transfer target hung up before the transfer completed.
    TransferEnded {
        /// The call being transferred.
        call: u64,
    },
    /// The seat's phone asks to transfer the call (REFER). Answer with
    /// [`Gateway::answer_refer`].
    Refer {
        /// The call.
        call: u64,
        /// The REFER's transaction, for the answer.
        refer: u64,
        /// What it asks for.
        target: ReferTo,
        /// The seat's consultation call its `Replaces` names, when it is one of this call's
        /// ([`Gateway::consult`]): an attended transfer.
        consult: Option<u64>,
    },
    /// A key pressed, carried in a SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Dtmf {
        /// Call id.
        call: u64,
        /// The leg it came from.
        side: Side,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
    },
}

/// Counters the shell exports as metrics.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Requests that passed validation.
    pub requests: u64,
    /// Responses that passed validation.
    pub responses: u64,
    /// Requests answered with an error by the validation layer, by status code.
    pub rejected: HashMap<u16, u64>,
    /// Messages dropped without an answer (malformed responses, unanswerable garbage).
    pub dropped: u64,
    /// Responses that matched no client transaction (late retransmissions, strays).
    pub stray_responses: u64,
    /// Messages sent (including retransmissions).
    pub transmitted: u64,
    /// Calls accepted for routing.
    pub calls_started: u64,
    /// Calls a seat answered.
    pub calls_answered: u64,
    /// Calls that ended (any cause).
    pub calls_ended: u64,
    /// SDP offers refused by media anchoring, by status (488: no PCMU/PCMA, 400: malformed,
    /// 503: no free RTP port).
    pub media_refused: HashMap<u16, u64>,
    /// TLS handshakes that failed on connections we opened (trunks we dialled).
    pub tls_handshake_failures_out: u64,
    /// TLS handshakes that failed on connections peers opened to our TLS listener.
    pub tls_handshake_failures_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
}

impl ServerKey {
    /// RFC 3261 §17.2.3: branch + sent-by + method, with ACK matching its INVITE.
    fn of(req: &ValidRequest) -> Self {
        let method = if req.method == Method::Ack {
            Method::Invite
        } else {
            req.method
        };
        let branch = if req.branch.starts_with("z9hG4bK") {
            req.branch.clone()
        } else {
            // RFC 2543 peers: no usable branch; fall back to the request's identity.
            format!(
                "{}|{}|{}",
                req.call_id,
                req.cseq,
                req.from_tag.as_deref().unwrap_or("")
            )
        };
        Self {
            branch,
            sent_by: req.via_sent_by.clone(),
            method,
        }
    }
}

#[derive(Debug)]
enum ServerTx {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct ServerEntry {
    key: ServerKey,
    tx: ServerTx,
    peer: Peer,
    request: Box<ValidRequest>,
    call: Option<u64>,
    armed: Option<Instant>,
}

#[derive(Debug)]
enum ClientTx {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct ClientEntry {
    key: (String, Method),
    tx: ClientTx,
    peer: Peer,
    purpose: ClientPurpose,
    /// For INVITE: the ACK for a non-2xx final is built from this (RFC 3261 §17.1.1.3).
    ack: Option<AckTemplate>,
    armed: Option<Instant>,
}

/// What an ACK for a non-2xx final response copies from its INVITE.
#[derive(Debug, Clone)]
struct AckTemplate {
    uri: String,
    via_transport: &'static str,
    sent_by: String,
    branch: String,
    from: String,
    from_tag: String,
    to: String,
    call_id: String,
    cseq: u32,
    routes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Server(u64),
    Client(u64),
    Ring(u64),
    Refresh(u64),
    Reap(u64),
    Registrar,
}

/// The gateway core. See the module documentation for the driving contract.
#[derive(Debug)]
pub struct Gateway<R> {
    config: GatewayConfig,
    sent_by: SentBy,
    router: R,
    registrar: Registrar,
    ids: Ids,
    server: HashMap<u64, ServerEntry>,
    server_index: HashMap<ServerKey, u64>,
    client: HashMap<u64, ClientEntry>,
    client_index: HashMap<(String, Method), u64>,
    calls: HashMap<u64, Call>,
    dialogs: HashMap<(String, String), (u64, Side)>,
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    registrar_armed: Option<Instant>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    anchor: Option<Anchor>,
    /// A call → the entry of its transfer target's leg.
    transfer_of: HashMap<u64, u64>,
    /// Target legs of calls that ended, to drop once `now` is known.
    orphans: Vec<u64>,
    /// A call → the seat's consultation call about it ([`Gateway::consult`]).
    consults: HashMap<u64, u64>,
    /// Consultation calls of calls that ended, to end once `now` is known.
    consult_orphans: Vec<u64>,
    /// Overload control and flood defence.
    guard: Guard,
}

impl<R: Router> Gateway<R> {
    /// A gateway core. `seed` makes tags, branches and Call-IDs unique across restarts.
    pub fn new(config: GatewayConfig, router: R, registrar: Registrar, seed: u64) -> Self {
        Self {
            sent_by: SentBy {
                plain: config.local_addr.to_string(),
                tls: None,
            },
            config,
            router,
            registrar,
            ids: Ids::new(seed),
            server: HashMap::new(),
            server_index: HashMap::new(),
            client: HashMap::new(),
            client_index: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            timers: BinaryHeap::new(),
            registrar_armed: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            anchor: None,
            transfer_of: HashMap::new(),
            orphans: Vec::new(),
            consults: HashMap::new(),
            consult_orphans: Vec::new(),
            guard: Guard::new(GuardConfig::default()),
        }
    }

    /// Anchor every call's media at `config`: each leg gets a port of ours and SDP of ours,
    /// and [`poll_media`](Self::poll_media) says what the media plane must open and close.
    /// Offers without PCMU or PCMA are then refused with 488.
    #[must_use]
    pub fn with_anchor(self, config: AnchorConfig) -> Self {
        let ports = Box::new(PortPool::new(&config.ports));
        self.with_anchor_ports(config, ports)
    }

    /// [`with_anchor`](Self::with_anchor) with ports from `ports` (e.g. bound by the media
    /// plane before they are handed out) instead of the bare range.
    #[must_use]
    pub fn with_anchor_ports(mut self, config: AnchorConfig, ports: Box<dyn PortSource>) -> Self {
        self.anchor = Some(Anchor::new(config, ports, self.ids.next_seed()));
        self
    }

    /// Advertise `addr`, the TLS listener's address, in Via and Contact on TLS legs (without
    /// it they name [`GatewayConfig::local_addr`], where no TLS is spoken).
    #[must_use]
    pub fn with_tls_address(mut self, addr: SocketAddr) -> Self {
        self.sent_by.tls = Some(addr.to_string());
        self
    }

    /// The next order for the media plane (only with [`with_anchor`](Self::with_anchor)).
    pub fn poll_media(&mut self) -> Option<MediaOrder> {
        self.anchor.as_mut()?.poll()
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The registrar (read only), e.g. for listing registered seats.
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Transactions in progress (server + client).
    pub fn active_transactions(&self) -> usize {
        self.server.len() + self.client.len()
    }

    /// Protect the core with `config` (overload control, flood defence); off by default.
    pub fn with_guard(mut self, config: GuardConfig) -> Self {
        self.guard = Guard::new(config);
        self
    }

    /// The guard's counters and state.
    pub const fn guard(&self) -> &Guard {
        &self.guard
    }

    /// A graceful stop: new calls are answered 503 from now on; calls in progress go on.
    pub fn stop_admitting(&mut self) {
        self.guard.stop_admitting();
    }

    /// End every call in progress (a graceful stop's limit passed): BYE to answered legs,
    /// 408 to callers still waiting, as [`terminate`](Self::terminate) does for one.
    pub fn terminate_all(&mut self, now: Instant) {
        let mut ids: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, c)| c.parent.is_none() && c.consult_for.is_none())
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.terminate(now, id);
        }
    }

    /// How long the datagrams about to be fed waited in the receive queue (measured by the
    /// shell from kernel receive timestamps): past the guard's `max_delay`, new calls are
    /// refused until it falls again.
    pub fn note_receive_delay(&mut self, delay: Duration) {
        self.guard.note_delay(delay);
    }

    /// Feed one datagram, or one message framed off a stream, that arrived from `from`.
    pub fn handle_message(&mut self, now: Instant, from: Peer, bytes: &[u8]) {
        if self.guard.is_blocked(now, from.addr.ip()) {
            return;
        }
        match validate::validate(bytes, &self.config.limits) {
            Verdict::Request(req) => {
                self.stats.requests += 1;
                self.on_request(now, from, req);
            }
            Verdict::Response(resp) => {
                self.stats.responses += 1;
                self.on_response(now, resp);
            }
            Verdict::Reject(rejection) => {
                *self.stats.rejected.entry(rejection.status).or_default() += 1;
                tracing::debug!(status = rejection.status, detail = %rejection.detail, %from, "rejected");
                self.transmit(from, rejection.bytes);
            }
            Verdict::Drop(reason) => {
                self.stats.dropped += 1;
                tracing::debug!(?reason, %from, "dropped");
            }
        }
        self.drop_orphaned_targets(now);
    }

    /// The shell could not reach `peer` ([`TransportFailure`]): every client transaction
    /// towards it that has no final response ends now as if it had timed out (RFC 3261
    /// §17.1.4), so a transfer to a trunk whose TLS handshake failed fails at once as
    /// unreachable instead of waiting for Timer B. Handshake failures are counted in
    /// [`Stats`].
    pub fn handle_transport_failure(&mut self, now: Instant, peer: Peer, why: TransportFailure) {
        match why {
            TransportFailure::TlsHandshake { inbound: true } => {
                self.stats.tls_handshake_failures_in += 1;
            }
            TransportFailure::TlsHandshake { inbound: false } => {
                self.stats.tls_handshake_failures_out += 1;
            }
            TransportFailure::Connect => {}
        }
        let mut failed: Vec<u64> = self
            .client
            .iter()
            .filter(|(_, e)| e.peer == peer)
            .map(|(&id, _)| id)
            .collect();
        // Oldest first, so the TU hears of them in the order they were started.
        failed.sort_unstable();
        for id in failed {
            if let Some(entry) = self.client.get_mut(&id) {
                match &mut entry.tx {
                    ClientTx::Invite(tx) => tx.on_transport_error(),
                    ClientTx::NonInvite(tx) => tx.on_transport_error(),
                }
                self.drain_client(now, id);
            }
        }
        self.drop_orphaned_targets(now);
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                TimerRef::Server(id) => {
                    if let Some(entry) = self.server.get_mut(&id) {
                        if entry.armed == Some(at) {
                            entry.armed = None;
                            match &mut entry.tx {
                                ServerTx::Invite(tx) => tx.handle_timeout(now),
                                ServerTx::NonInvite(tx) => tx.handle_timeout(now),
                            }
                            self.drain_server(now, id);
                        }
                    }
                }
                TimerRef::Client(id) => {
                    if let Some(entry) = self.client.get_mut(&id) {
                        if entry.armed == Some(at) {
                            entry.armed = None;
                            match &mut entry.tx {
                                ClientTx::Invite(tx) => tx.handle_timeout(now),
                                ClientTx::NonInvite(tx) => tx.handle_timeout(now),
                            }
                            self.drain_client(now, id);
                        }
                    }
                }
                TimerRef::Ring(call) => self.on_ring_timeout(now, at, call),
                TimerRef::Refresh(call) => self.on_refresh(now, at, call),
                TimerRef::Reap(call) => self.on_reap(call),
                TimerRef::Registrar => {
                    if self.registrar_armed == Some(at) {
                        self.registrar_armed = None;
                        for seat in self.registrar.expire(now) {
                            self.events.push_back(Event::SeatUnregistered { seat });
                        }
                        self.arm_registrar();
                    }
                }
            }
        }
        self.drop_orphaned_targets(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The next message to send, in the order the core produced them.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the platform.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn transmit(&mut self, to: Peer, bytes: Bytes) {
        self.stats.transmitted += 1;
        self.transmits.push_back(Transmit { to, bytes });
    }

    // ---- requests -------------------------------------------------------------------------

    fn on_request(&mut self, now: Instant, from: Peer, req: Box<ValidRequest>) {
        let key = ServerKey::of(&req);
        if req.method == Method::Ack {
            self.on_ack(now, key, req);
            return;
        }
        if let Some(&id) = self.server_index.get(&key) {
            // A retransmission: the transaction re-sends its last response.
            if let Some(entry) = self.server.get_mut(&id) {
                match &mut entry.tx {
                    ServerTx::Invite(tx) => tx.on_retransmission(now),
                    ServerTx::NonInvite(tx) => tx.on_retransmission(now),
                }
            }
            self.drain_server(now, id);
            return;
        }
        if req.method == Method::Cancel {
            self.on_cancel(now, from, key, req);
            return;
        }
        if let Some(to_tag) = req.to_tag.clone() {
            let dialog = self.dialogs.get(&(req.call_id.clone(), to_tag)).copied();
            match dialog {
                Some((call, side)) => self.on_in_dialog(now, from, key, req, call, side),
                None => {
                    let id = self.open_server(now, from, key, req, None);
                    self.respond(now, id, 481, "Call/Transaction Does Not Exist", &[], None);
                }
            }
            return;
        }
        let kind = match req.method {
            Method::Invite => Some(Kind::Invite),
            Method::Register => Some(Kind::Register),
            Method::Options => Some(Kind::Options),
            _ => None,
        };
        if kind.is_some_and(|k| !self.guard.admit_request(now, from.addr.ip(), k)) {
            tracing::debug!(%from, method = %req.method, "source over its rate: dropped");
            return;
        }
        match req.method {
            Method::Invite => match self.guard.admit_call(now, self.calls.len()) {
                Ok(()) => self.on_invite(now, from, key, req),
                Err(why) => {
                    tracing::debug!(%from, why = why.as_str(), "overload: new call refused");
                    let retry = format!("Retry-After: {}", self.guard.retry_after());
                    let id = self.open_server(now, from, key, req, None);
                    self.respond(now, id, 503, "Service Unavailable", &[&retry], None);
                }
            },
            Method::Register => self.on_register(now, from, key, req),
            Method::Options => {
                let id = self.open_server(now, from, key, req, None);
                self.respond(
                    now,
                    id,
                    200,
                    "OK",
                    &[
                        ALLOW,
                        "Accept: application/sdp",
                        "Accept-Encoding: identity",
                    ],
                    None,
                );
            }
            Method::Bye | Method::Info | Method::Update | Method::PRack | Method::Notify => {
                let id = self.open_server(now, from, key, req, None);
                self.respond(now, id, 481, "Call/Transaction Does Not Exist", &[], None);
            }
            _ => {
                let id = self.open_server(now, from, key, req, None);
                self.respond(now, id, 405, "Method Not Allowed", &[ALLOW], None);
            }
        }
    }

    fn on_register(&mut self, now: Instant, from: Peer, key: ServerKey, req: Box<ValidRequest>) {
        let outcome =
            self.registrar
                .handle_register(now, from, &req.request, &req.call_id, req.cseq);
        let tried = req
            .request
            .headers
            .iter()
            .any(|h| matches!(h, rsipstack::sip::Header::Authorization(_)));
        let failed = tried
            && match &outcome {
                // A stale nonce is a phone that must simply retry, not a wrong password.
                RegisterOutcome::Challenge { headers } => {
                    !headers.iter().any(|h| h.contains("stale=true"))
                }
                RegisterOutcome::Reject { status, .. } => *status == 403,
                RegisterOutcome::Ok { .. } => false,
            };
        if failed && self.guard.auth_failed(now, from.addr.ip()) {
            tracing::warn!(source = %from.addr.ip(), "repeated failed logins: source blocked");
        }
        let id = self.open_server(now, from, key, req, None);
        match outcome {
            RegisterOutcome::Ok {
                seat,
                contact_headers,
                changed,
            } => {
                let extra: Vec<&str> = contact_headers.iter().map(String::as_str).collect();
                self.respond(now, id, 200, "OK", &extra, None);
                if changed == BindingChange::Added {
                    self.events.push_back(Event::SeatRegistered { seat });
                } else if changed == BindingChange::Removed && contact_headers.is_empty() {
                    self.events.push_back(Event::SeatUnregistered { seat });
                }
                self.arm_registrar();
            }
            RegisterOutcome::Challenge { headers } => {
                let extra: Vec<&str> = headers.iter().map(String::as_str).collect();
                self.respond(now, id, 401, "Unauthorized", &extra, None);
            }
            RegisterOutcome::Reject {
                status,
                reason,
                headers,
            } => {
                let extra: Vec<&str> = headers.iter().map(String::as_str).collect();
                self.respond(now, id, status, reason, &extra, None);
            }
        }
    }

    fn on_ack(&mut self, now: Instant, key: ServerKey, req: Box<ValidRequest>) {
        // An ACK for a non-2xx final carries the INVITE's branch (RFC 3261 §17.1.1.3).
        if let Some(&id) = self.server_index.get(&key) {
            let for_2xx = match self.server.get_mut(&id).map(|e| &mut e.tx) {
                Some(ServerTx::Invite(tx)) => tx.on_ack(now),
                _ => false,
            };
            self.drain_server(now, id);
            if !for_2xx {
                return;
            }
        }
        // An ACK for a 2xx is its own transaction, matched to the dialog (§13.2.2.4).
        let Some(to_tag) = req.to_tag.clone() else {
            return;
        };
        if let Some(&(call, side)) = self.dialogs.get(&(req.call_id.clone(), to_tag)) {
            self.on_dialog_ack(now, call, side, req);
        }
    }

    // ---- responses ------------------------------------------------------------------------

    fn on_response(&mut self, now: Instant, resp: Box<ValidResponse>) {
        let key = (resp.branch.clone(), resp.cseq_method);
        let Some(&id) = self.client_index.get(&key) else {
            self.stats.stray_responses += 1;
            return;
        };
        let Some(entry) = self.client.get_mut(&id) else {
            return;
        };
        let pass = match &mut entry.tx {
            ClientTx::Invite(tx) => {
                let template = entry.ack.as_ref();
                let to_tag = resp.to_tag.as_deref();
                tx.on_response(now, resp.status, || match template {
                    Some(t) => build_ack(t, to_tag),
                    None => Bytes::new(),
                })
            }
            ClientTx::NonInvite(tx) => tx.on_response(now, resp.status),
        };
        let purpose = entry.purpose;
        self.drain_client(now, id);
        if !pass {
            return;
        }
        match purpose {
            ClientPurpose::SeatInvite { call } => self.on_seat_invite_response(now, call, resp),
            purpose @ ClientPurpose::Relay { .. } => self.on_relay_response(now, purpose, resp),
            ClientPurpose::Bye | ClientPurpose::Cancel => {}
        }
    }

    // ---- transactions ---------------------------------------------------------------------

    fn open_server(
        &mut self,
        now: Instant,
        peer: Peer,
        key: ServerKey,
        request: Box<ValidRequest>,
        call: Option<u64>,
    ) -> u64 {
        let reliable = peer.transport.is_reliable();
        let tx = if request.method == Method::Invite {
            ServerTx::Invite(ServerInvite::new(now, reliable, self.config.timers))
        } else {
            ServerTx::NonInvite(ServerNonInvite::new(now, reliable, self.config.timers))
        };
        let id = self.ids.next();
        self.server_index.insert(key.clone(), id);
        self.server.insert(
            id,
            ServerEntry {
                key,
                tx,
                peer,
                request,
                call,
                armed: None,
            },
        );
        id
    }

    /// Send a response on a server transaction. `to_tag` comes from the call's dialog when
    /// there is one; otherwise a fresh tag is made for final responses.
    fn respond(
        &mut self,
        now: Instant,
        id: u64,
        status: u16,
        reason: &str,
        extra: &[&str],
        body: Option<(&str, &[u8])>,
    ) {
        let tag = self.local_tag_for(id, status);
        self.respond_tagged(now, id, status, reason, tag.as_deref(), extra, body);
    }

    fn local_tag_for(&mut self, id: u64, status: u16) -> Option<String> {
        let entry = self.server.get(&id)?;
        if entry.request.to_tag.is_some() || status == 100 {
            return None;
        }
        if let Some(call) = entry.call.and_then(|c| self.calls.get(&c)) {
            return Some(call.a.local_tag.clone());
        }
        Some(self.ids.tag())
    }

    #[allow(clippy::too_many_arguments)]
    fn respond_tagged(
        &mut self,
        now: Instant,
        id: u64,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &[&str],
        body: Option<(&str, &[u8])>,
    ) {
        let Some(entry) = self.server.get_mut(&id) else {
            return;
        };
        let bytes = validate::response_to(&entry.request, status, reason, to_tag, extra, body);
        match &mut entry.tx {
            ServerTx::Invite(tx) => tx.respond(now, status, bytes),
            ServerTx::NonInvite(tx) => tx.respond(now, status, bytes),
        };
        self.drain_server(now, id);
    }

    fn open_client(
        &mut self,
        now: Instant,
        peer: Peer,
        key: (String, Method),
        request: Bytes,
        purpose: ClientPurpose,
        ack: Option<AckTemplate>,
    ) -> u64 {
        let method = key.1;
        let reliable = peer.transport.is_reliable();
        let tx = if method == Method::Invite {
            ClientTx::Invite(ClientInvite::new(
                now,
                request,
                reliable,
                self.config.timers,
            ))
        } else {
            ClientTx::NonInvite(ClientNonInvite::new(
                now,
                request,
                reliable,
                self.config.timers,
            ))
        };
        let id = self.ids.next();
        self.client_index.insert(key.clone(), id);
        self.client.insert(
            id,
            ClientEntry {
                key,
                tx,
                peer,
                purpose,
                ack,
                armed: None,
            },
        );
        self.drain_client(now, id);
        id
    }

    fn drain_server(&mut self, now: Instant, id: u64) {
        let mut no_ack = false;
        let mut terminated = false;
        let Some(entry) = self.server.get_mut(&id) else {
            return;
        };
        let peer = entry.peer;
        loop {
            let action = match &mut entry.tx {
                ServerTx::Invite(tx) => tx.poll_action(),
                ServerTx::NonInvite(tx) => tx.poll_action(),
            };
            match action {
                Some(Action::Transmit(bytes)) => {
                    self.stats.transmitted += 1;
                    self.transmits.push_back(Transmit { to: peer, bytes });
                }
                Some(Action::NoAckFor2xx) => no_ack = true,
                Some(Action::Timeout(_) | Action::TransportError) => {}
                Some(Action::Terminated) => terminated = true,
                None => break,
            }
        }
        let call = entry.call;
        if terminated {
            if let Some(entry) = self.server.remove(&id) {
                self.server_index.remove(&entry.key);
            }
        } else {
            let next = match &entry.tx {
                ServerTx::Invite(tx) => tx.poll_timeout(),
                ServerTx::NonInvite(tx) => tx.poll_timeout(),
            };
            if next != entry.armed {
                entry.armed = next;
                if let Some(at) = next {
                    self.timers.push(Reverse((at, TimerRef::Server(id))));
                }
            }
        }
        if no_ack {
            if let Some(call) = call {
                self.on_no_ack(now, call, id);
            }
        }
    }

    fn drain_client(&mut self, now: Instant, id: u64) {
        let mut timed_out = false;
        let mut terminated = false;
        let Some(entry) = self.client.get_mut(&id) else {
            return;
        };
        let peer = entry.peer;
        loop {
            let action = match &mut entry.tx {
                ClientTx::Invite(tx) => tx.poll_action(),
                ClientTx::NonInvite(tx) => tx.poll_action(),
            };
            match action {
                Some(Action::Transmit(bytes)) => {
                    self.stats.transmitted += 1;
                    self.transmits.push_back(Transmit { to: peer, bytes });
                }
                Some(Action::Timeout(_) | Action::TransportError) => timed_out = true,
                Some(Action::NoAckFor2xx) => {}
                Some(Action::Terminated) => terminated = true,
                None => break,
            }
        }
        let purpose = entry.purpose;
        if terminated {
            if let Some(entry) = self.client.remove(&id) {
                self.client_index.remove(&entry.key);
            }
        } else {
            let next = match &entry.tx {
                ClientTx::Invite(tx) => tx.poll_timeout(),
                ClientTx::NonInvite(tx) => tx.poll_timeout(),
            };
            if next != entry.armed {
                entry.armed = next;
                if let Some(at) = next {
                    self.timers.push(Reverse((at, TimerRef::Client(id))));
                }
            }
        }
        if timed_out {
            // Timer B/F: the TU acts as if a 408 had arrived (RFC 3261 §17.1.1.2); a transport
            // error is met the same way: the peer is unreachable (§8.1.3.1).
            match purpose {
                ClientPurpose::SeatInvite { call } => self.on_seat_timeout(now, call),
                ClientPurpose::Relay { origin, .. } => self.on_relay_timeout(now, origin),
                ClientPurpose::Bye | ClientPurpose::Cancel => {}
            }
        }
    }

    fn arm_registrar(&mut self) {
        let next = self.registrar.poll_timeout();
        if next != self.registrar_armed {
            self.registrar_armed = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, TimerRef::Registrar)));
            }
        }
    }

    fn arm_ring(&mut self, call: u64, at: Instant) {
        self.timers.push(Reverse((at, TimerRef::Ring(call))));
    }

    fn arm_reap(&mut self, call: u64, at: Instant) {
        self.timers.push(Reverse((at, TimerRef::Reap(call))));
    }
}

/// Our address as Via sent-by and Contact write it, by transport: TLS legs name the TLS
/// listener (RFC 3261 §18.2.2: a response whose connection is gone goes to sent-by).
#[derive(Debug, Clone)]
struct SentBy {
    /// The UDP and TCP address.
    plain: String,
    /// The TLS listener's address, if there is one.
    tls: Option<String>,
}

impl SentBy {
    /// Our sent-by for a leg on `transport`.
    fn get(&self, transport: Transport) -> &str {
        match (transport, &self.tls) {
            (Transport::Tls, Some(tls)) => tls,
            _ => &self.plain,
        }
    }

    /// Our Contact URI for a leg on `transport`.
    fn contact(&self, transport: Transport) -> String {
        let at = self.get(transport);
        match transport {
            Transport::Udp => format!("sip:{at}"),
            Transport::Tcp => format!("sip:{at};transport=tcp"),
            Transport::Tls => format!("sip:{at};transport=tls"),
        }
    }
}

/// The methods we take part in, for Allow headers.
const ALLOW: &str =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, REFER, NOTIFY";

fn build_ack(t: &AckTemplate, to_tag: Option<&str>) -> Bytes {
    crate::dialog::build_request(&crate::dialog::OutRequest {
        method: Method::Ack,
        uri: &t.uri,
        via: crate::dialog::Via {
            transport: t.via_transport,
            sent_by: &t.sent_by,
            branch: &t.branch,
        },
        max_forwards: 70,
        from: &t.from,
        from_tag: &t.from_tag,
        to: &t.to,
        to_tag,
        call_id: &t.call_id,
        cseq: t.cseq,
        routes: &t.routes,
        contact: None,
        extra: &[],
        body: None,
    })
}
