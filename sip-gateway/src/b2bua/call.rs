//! One B2BUA call: the caller's leg (we are UAS) joined to the seat's leg (we are UAC).
//!
//! Each leg is its own dialog with its own Call-ID, tags and CSeq. What crosses from one leg to
//! the other is chosen here: provisional and final responses (with their SDP), BYE (answered
//! locally, re-issued on the other leg), CANCEL (answered locally, re-issued as a CANCEL of the
//! seat's INVITE), and in-dialog requests such as re-INVITE, UPDATE and INFO (relayed as new
//! transactions, their responses relayed back).

use std::time::Instant;

use bytes::Bytes;
use rsipstack::sip::{Header, Method};

use super::anchor::{CallMedia, SdpKind};
use super::{AckTemplate, Event, Gateway, ServerKey, ALLOW};
use crate::dialog::{
    build_request, uri_of, user_of, without_tag, Dialog, InDialog, OutRequest, Via,
};
use crate::peer::Peer;
use crate::route::{InboundCall, RouteDecision, Router};
use crate::validate::{ValidRequest, ValidResponse};

/// Which leg of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller's leg (carrier trunk or another seat dialling in).
    Caller,
    /// The seat's leg.
    Seat,
}

impl Side {
    pub(super) fn other(self) -> Self {
        match self {
            Self::Caller => Self::Seat,
            Self::Seat => Self::Caller,
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Self::Caller => 0,
            Self::Seat => 1,
        }
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// One side hung up after the answer.
    HungUp {
        /// Who sent the BYE.
        by: Side,
    },
    /// The caller cancelled while the seat was ringing.
    CallerCancelled,
    /// The seat did not answer within the ring timeout.
    NoAnswer,
    /// The seat's phone gave no final response at all (Timer B).
    Unreachable,
    /// The seat refused with this status (e.g. 486); the caller got `to_caller`.
    SeatRefused {
        /// The seat's final status.
        status: u16,
        /// What the caller was told.
        to_caller: u16,
    },
    /// Our 2xx was never acknowledged (RFC 3261 §13.3.1.4): both legs were sent BYE.
    NoAck,
    /// The platform ended the call ([`Gateway::terminate`]), e.g. because a leg sent no RTP
    /// for the configured time: answered legs got BYE, an unanswered caller 408.
    Terminated,
    /// The platform answered the call itself and hung up when done
    /// ([`Gateway::hang_up_locally`]).
    Completed,
    /// The platform refused the call with this status ([`Gateway::reject`]), e.g. 404 for an
    /// unknown number or the queue's maximum wait.
    Rejected {
        /// The final status the caller got.
        status: u16,
    },
}

/// Why ringing a seat for a held call failed; the caller stays held ([`Event::OfferFailed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatFailure {
    /// The ring timeout passed; the seat's INVITE is cancelled.
    NoAnswer,
    /// The seat's phone answered with this final non-2xx status (busy, decline, ...).
    Refused(u16),
    /// The seat's phone gave no final response (Timer B) or its flow could not be reached.
    Unreachable,
}

/// Why [`Gateway::offer`] could not ring a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferError {
    /// No such call (it ended, or never existed).
    UnknownCall,
    /// The call is not held: a seat is already ringing, or it was answered.
    NotHeld,
    /// The seat has no live registration.
    NotRegistered,
    /// No RTP port is free to anchor the seat's media.
    NoMediaPort,
}

/// What a client transaction's responses are for.
#[derive(Debug, Clone, Copy)]
pub(super) enum ClientPurpose {
    /// The INVITE that rings the seat.
    SeatInvite { call: u64 },
    /// An in-dialog request relayed from the other leg; its final goes back to `origin`.
    Relay {
        call: u64,
        origin: u64,
        to_side: Side,
        method: Method,
        cseq: u32,
        offer_in_request: bool,
    },
    /// A BYE we originated; its answer changes nothing.
    Bye,
    /// A CANCEL we originated; the INVITE's 487 does the work.
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallState {
    /// The caller waits (ringback sent or not) for the platform to offer a seat.
    Held,
    /// The seat's phone is being rung.
    Ringing,
    /// The seat answered; the legs are bridged.
    Answered,
    /// The caller's side is finished (cancelled, timed out); waiting for the seat's INVITE to resolve.
    Ending,
}

/// The seat-side INVITE while it is unresolved.
#[derive(Debug, Clone)]
pub(super) struct SeatInvite {
    /// The client transaction, dropped if the seat never answers our CANCEL (§9.1).
    pub(super) client_tx: u64,
    pub(super) branch: String,
    pub(super) uri: String,
    pub(super) to: String,
    pub(super) got_provisional: bool,
    pub(super) cancel_pending: bool,
}

/// A 2xx we sent on one leg that still waits for its ACK.
#[derive(Debug, Clone, Copy)]
pub(super) struct AwaitAck {
    server_tx: u64,
    /// Late offer: when the ACK arrives, its body (the SDP answer) is carried in the ACK we
    /// owe the other leg for this CSeq.
    forward_cseq: Option<u32>,
}

/// One call through the gateway.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) a: Dialog,
    pub(super) b: Dialog,
    pub(super) seat: String,
    pub(super) state: CallState,
    pub(super) a_invite_tx: u64,
    pub(super) seat_invite: Option<SeatInvite>,
    /// ACKs we sent for 2xx responses on each leg, re-sent when the 2xx is retransmitted.
    pub(super) acks_sent: [Option<(u32, Bytes)>; 2],
    pub(super) awaiting_ack: [Option<AwaitAck>; 2],
    /// The platform decides the seat ([`RouteDecision::Hold`]): a failed seat attempt returns
    /// the call to `Held` instead of ending it.
    pub(super) managed: bool,
    /// The ring timer of the current seat attempt; earlier attempts' timers are stale.
    pub(super) ring_deadline: Option<Instant>,
    /// When the caller's ringback (180) is next repeated (RFC 3261 §13.3.1.1: every minute).
    pub(super) refresh_at: Option<Instant>,
    /// The call's media anchors, when the gateway anchors media.
    pub(super) media: Option<CallMedia>,
    /// When the seat hangs up, keep the caller (for the survey) instead of hanging up.
    pub(super) keep_caller: bool,
    /// A transfer target's leg: the call it was dialled for ([`Gateway::dial_target`]).
    pub(super) parent: Option<u64>,
    /// The seat's phone referred the call (REFER) and waits for the outcome's NOTIFY.
    pub(super) refer_pending: bool,
    /// The seat's consultation call: the call it consults about ([`Gateway::consult`]).
    pub(super) consult_for: Option<u64>,
}

impl Call {
    /// A call with these legs, held, before any seat.
    pub(super) fn new(a: Dialog, b: Dialog, a_invite_tx: u64) -> Self {
        Self {
            a,
            b,
            seat: String::new(),
            state: CallState::Held,
            a_invite_tx,
            seat_invite: None,
            acks_sent: [None, None],
            awaiting_ack: [None, None],
            managed: false,
            ring_deadline: None,
            refresh_at: None,
            media: None,
            keep_caller: false,
            parent: None,
            refer_pending: false,
            consult_for: None,
        }
    }

    fn leg(&self, side: Side) -> &Dialog {
        match side {
            Side::Caller => &self.a,
            Side::Seat => &self.b,
        }
    }

    fn leg_mut(&mut self, side: Side) -> &mut Dialog {
        match side {
            Side::Caller => &mut self.a,
            Side::Seat => &mut self.b,
        }
    }
}

/// Header values of a request the B2BUA reads.
#[derive(Debug, Default)]
struct Facts {
    from: String,
    to: String,
    contact: Option<String>,
    record_route: Vec<String>,
}

fn facts(headers: &rsipstack::sip::Headers) -> Facts {
    let mut f = Facts::default();
    for h in headers.iter() {
        match h {
            Header::From(v) => f.from = v.value().to_owned(),
            Header::To(v) => f.to = v.value().to_owned(),
            Header::Contact(v) if f.contact.is_none() => {
                f.contact = Some(uri_of(v.value()).to_owned());
            }
            Header::RecordRoute(v) => {
                // A Record-Route header may list several entries separated by commas.
                f.record_route
                    .extend(split_list(v.value()).map(str::to_owned));
            }
            _ => {}
        }
    }
    f
}

/// Split a comma-separated header list, respecting <...> and quotes.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

fn body_of(req: &ValidRequest) -> Option<(String, Vec<u8>)> {
    let body = req.request.body();
    if body.is_empty() {
        return None;
    }
    Some((
        req.content_type
            .clone()
            .unwrap_or_else(|| "application/sdp".to_owned()),
        body.clone(),
    ))
}

fn response_body(resp: &ValidResponse) -> Option<(String, Vec<u8>)> {
    let body = resp.response.body();
    if body.is_empty() {
        return None;
    }
    let content_type = resp
        .response
        .headers
        .iter()
        .find_map(|h| match h {
            Header::ContentType(v) => Some(v.value().to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "application/sdp".to_owned());
    Some((content_type, body.clone()))
}

/// A message body and its Content-Type, if any.
type Body = Option<(String, Vec<u8>)>;

/// A digit from a SIP INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf`
/// (the digit alone), the two forms phones send.
fn dtmf_info(content_type: &str, body: &[u8]) -> Option<char> {
    let t = content_type.split(';').next()?.trim();
    let text = std::str::from_utf8(body).ok()?;
    let value = if t.eq_ignore_ascii_case("application/dtmf-relay") {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?
    } else if t.eq_ignore_ascii_case("application/dtmf") {
        text.trim()
    } else {
        return None;
    };
    let mut chars = value.chars();
    let digit = chars.next()?.to_ascii_uppercase();
    (chars.next().is_none() && "0123456789*#ABCD".contains(digit)).then_some(digit)
}

/// How often a held caller's 180 is repeated (RFC 3261 §13.3.1.1 asks for every minute).
const RINGBACK_REPEAT: std::time::Duration = std::time::Duration::from_secs(60);

/// The seat leg of a call with no seat yet: never sent on, never in the dialog index.
pub(super) fn placeholder_leg(peer: Peer) -> Dialog {
    Dialog {
        call_id: String::new(),
        local_tag: String::new(),
        remote_tag: None,
        local_uri: String::new(),
        remote_uri: String::new(),
        local_cseq: 1,
        remote_cseq: None,
        remote_target: String::new(),
        route_set: Vec::new(),
        peer,
    }
}

/// What the caller hears when the seat refuses (docs/decisions/0002-seat-failure-mapping.md).
fn status_for_caller(seat_status: u16) -> (u16, &'static str) {
    match seat_status {
        486 | 600 => (486, "Busy Here"),
        603 => (603, "Decline"),
        487 => (487, "Request Terminated"),
        488 | 606 => (488, "Not Acceptable Here"),
        // Unreachable, timed out, unknown, redirected or broken seat phones: the seat is not
        // available right now, which is what the caller (and a retrying trunk) should learn.
        _ => (480, "Temporarily Unavailable"),
    }
}

/// Where to send requests for a seat (docs/decisions/0003): the address its Contact names when
/// that is on the host the REGISTER came from (no NAT in between), else the flow the REGISTER
/// arrived on, which is the only way back through a NAT. Same transport as the REGISTER; over
/// TCP the shell reuses an open connection to that address or opens one.
fn seat_flow(contact: &str, registered_from: Peer) -> Peer {
    match contact_socket(contact) {
        Some(addr) if addr.ip() == registered_from.addr.ip() => Peer {
            transport: registered_from.transport,
            addr,
        },
        _ => registered_from,
    }
}

/// `sip:1001@127.0.0.1:5070;transport=udp` → 127.0.0.1:5070 (port 5060 when absent).
/// None when the host is not an IP literal.
fn contact_socket(contact: &str) -> Option<std::net::SocketAddr> {
    let rest = contact.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = rest.split([';', '?', '>']).next()?;
    if let Ok(addr) = hostport.parse::<std::net::SocketAddr>() {
        return Some(addr);
    }
    let host = hostport.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().ok()?;
    Some(std::net::SocketAddr::new(ip, 5060))
}

/// The reason phrase as the seat sent it (rsipstack keeps it only when it differs from the
/// standard text; its `reason_phrase()` is the Reason *header*, not this).
fn reason_of(resp: &ValidResponse) -> String {
    resp.response
        .wire_reason
        .clone()
        .unwrap_or_else(|| resp.response.status_code.text().to_owned())
}

impl<R: Router> Gateway<R> {
    pub(super) fn on_invite(
        &mut self,
        now: Instant,
        from: Peer,
        key: ServerKey,
        req: Box<ValidRequest>,
    ) {
        let call_id = self.ids.next();
        let facts = facts(&req.request.headers);
        let dialed = req.request.uri.user().unwrap_or_default().to_owned();
        let caller = user_of(uri_of(&facts.from)).unwrap_or_default().to_owned();
        let a = Dialog {
            call_id: req.call_id.clone(),
            local_tag: self.ids.tag(),
            remote_tag: req.from_tag.clone(),
            local_uri: without_tag(&facts.to).to_owned(),
            remote_uri: without_tag(&facts.from).to_owned(),
            local_cseq: 0,
            remote_cseq: Some(req.cseq),
            remote_target: facts
                .contact
                .clone()
                .unwrap_or_else(|| uri_of(&facts.from).to_owned()),
            route_set: facts.record_route.clone(),
            peer: from,
        };
        let from_seat = self.seat_at(now, &caller, from);
        let context: Vec<(String, String)> = req
            .request
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Other(name, value) => {
                    let n = name.to_ascii_lowercase();
                    n.strip_prefix("x-hotline-")
                        .map(|k| (k.to_owned(), value.trim().to_owned()))
                }
                _ => None,
            })
            .collect();
        let offer_body = self.anchor.as_ref().and_then(|_| body_of(&req));
        let a_tx = self.open_server(now, from, key, req, Some(call_id));
        self.respond_tagged(now, a_tx, 100, "Trying", None, &[], None);

        let decision = self.router.route(
            now,
            &InboundCall {
                call: call_id,
                dialed: &dialed,
                caller: &caller,
            },
            &self.registrar,
        );
        let ring = match decision {
            RouteDecision::Ring { seat, ring_timeout } => Some((seat, ring_timeout)),
            RouteDecision::Hold => None,
            RouteDecision::Reject { status, reason } => {
                let tag = a.local_tag.clone();
                self.respond_tagged(now, a_tx, status, reason, Some(&tag), &[], None);
                return;
            }
        };
        let media = match self.anchor.as_mut() {
            None => None,
            Some(anchor) => match anchor.open_caller(call_id, offer_body.as_ref()) {
                Ok(m) => Some(m),
                Err(e) => {
                    let (status, reason) = e.status();
                    *self.stats.media_refused.entry(status).or_default() += 1;
                    tracing::debug!(?e, status, "caller's offer refused");
                    let tag = a.local_tag.clone();
                    let warning = (status == 488).then_some(
                        "Warning: 305 - \"Incompatible media format: PCMU or PCMA needed\"",
                    );
                    let extra: Vec<&str> = warning.into_iter().collect();
                    self.respond_tagged(now, a_tx, status, reason, Some(&tag), &extra, None);
                    return;
                }
            },
        };
        self.dialogs.insert(
            (a.call_id.clone(), a.local_tag.clone()),
            (call_id, Side::Caller),
        );
        let b = placeholder_leg(a.peer);
        self.calls.insert(
            call_id,
            Call {
                managed: ring.is_none(),
                media,
                ..Call::new(a, b, a_tx)
            },
        );
        self.stats.calls_started += 1;
        self.events.push_back(Event::CallStarted {
            call: call_id,
            dialed,
            caller,
            from_seat,
            source: from.addr,
            context,
        });
        if let Some((seat, ring_timeout)) = ring {
            let ring = ring_timeout.unwrap_or(self.config.ring_timeout);
            if self.start_seat_leg(now, call_id, &seat, ring).is_err() {
                let Some(call) = self.calls.get(&call_id) else {
                    return;
                };
                let tag = call.a.local_tag.clone();
                self.respond_tagged(
                    now,
                    a_tx,
                    480,
                    "Temporarily Unavailable",
                    Some(&tag),
                    &[],
                    None,
                );
                self.end_call(call_id, EndCause::Unreachable);
                self.remove_call(call_id);
            }
        }
    }

    /// The registered seat whose phone sent this INVITE: the From user has a binding whose
    /// flow or Contact is exactly the source address.
    fn seat_at(&self, now: Instant, caller: &str, from: Peer) -> Option<String> {
        if caller.is_empty() || self.registrar.lookup(now, caller).is_none() {
            return None;
        }
        self.registrar
            .bindings(caller)
            .iter()
            .any(|b| b.peer.addr == from.addr || contact_socket(&b.contact) == Some(from.addr))
            .then(|| caller.to_owned())
    }

    /// Ring `seat` for a held call: a new seat leg (its own dialog) carrying the caller's offer.
    fn start_seat_leg(
        &mut self,
        now: Instant,
        call_id: u64,
        seat: &str,
        ring_timeout: std::time::Duration,
    ) -> Result<(), OfferError> {
        let call = self.calls.get(&call_id).ok_or(OfferError::UnknownCall)?;
        if call.state != CallState::Held {
            return Err(OfferError::NotHeld);
        }
        let binding = self
            .registrar
            .lookup(now, seat)
            .ok_or(OfferError::NotRegistered)?;
        let target = binding.contact.clone();
        let seat_peer = seat_flow(&binding.contact, binding.peer);
        let (mut body, max_forwards) = self
            .server
            .get(&call.a_invite_tx)
            .map(|e| {
                (
                    body_of(&e.request),
                    e.request.max_forwards.saturating_sub(1),
                )
            })
            .unwrap_or((None, 69));
        if let (Some(anchor), Some(media)) = (
            self.anchor.as_mut(),
            self.calls.get_mut(&call_id).and_then(|c| c.media.as_mut()),
        ) {
            let offer = anchor
                .open_seat(call_id, media)
                .map_err(|_| OfferError::NoMediaPort)?;
            body = Some(("application/sdp".to_owned(), offer));
        }
        let Some(call) = self.calls.get(&call_id) else {
            return Err(OfferError::UnknownCall);
        };
        let host = self.config.local_addr.ip().to_string();
        let b = Dialog {
            call_id: self.ids.call_id(&host),
            local_tag: self.ids.tag(),
            remote_tag: None,
            local_uri: call.a.remote_uri.clone(),
            remote_uri: format!("<sip:{seat}@{host}>"),
            local_cseq: 1,
            remote_cseq: None,
            remote_target: target.clone(),
            route_set: Vec::new(),
            peer: seat_peer,
        };
        let branch = self.ids.branch();
        let contact = self.sent_by.contact(seat_peer.transport);
        let transport = seat_peer.transport.via_token();
        let request = build_request(&OutRequest {
            method: Method::Invite,
            uri: &target,
            via: Via {
                transport,
                sent_by: self.sent_by.get(seat_peer.transport),
                branch: &branch,
            },
            max_forwards,
            from: &b.local_uri,
            from_tag: &b.local_tag,
            to: &b.remote_uri,
            to_tag: None,
            call_id: &b.call_id,
            cseq: 1,
            routes: &[],
            contact: Some(&contact),
            extra: &[ALLOW],
            body: body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
        });
        let ack = AckTemplate {
            uri: target.clone(),
            via_transport: transport,
            sent_by: self.sent_by.get(seat_peer.transport).to_owned(),
            branch: branch.clone(),
            from: b.local_uri.clone(),
            from_tag: b.local_tag.clone(),
            to: b.remote_uri.clone(),
            call_id: b.call_id.clone(),
            cseq: 1,
            routes: Vec::new(),
        };
        self.dialogs.insert(
            (b.call_id.clone(), b.local_tag.clone()),
            (call_id, Side::Seat),
        );
        let deadline = now + ring_timeout;
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.seat_invite = Some(SeatInvite {
                client_tx: 0,
                branch: branch.clone(),
                uri: target,
                to: b.remote_uri.clone(),
                got_provisional: false,
                cancel_pending: false,
            });
            call.b = b;
            call.seat = seat.to_owned();
            call.state = CallState::Ringing;
            call.acks_sent[Side::Seat.index()] = None;
            call.awaiting_ack[Side::Seat.index()] = None;
            call.ring_deadline = Some(deadline);
        }
        self.events.push_back(Event::SeatRinging {
            call: call_id,
            seat: seat.to_owned(),
        });
        self.send_leg_invite(now, call_id, seat_peer, (branch, request, ack), deadline);
        Ok(())
    }

    /// Send the INVITE of `call_id`'s outgoing leg (a seat, or a transfer target), keep its
    /// client transaction in the call's [`SeatInvite`] and arm the ring timer.
    pub(super) fn send_leg_invite(
        &mut self,
        now: Instant,
        call_id: u64,
        peer: Peer,
        (branch, request, ack): (String, Bytes, AckTemplate),
        deadline: Instant,
    ) {
        let client_tx = self.open_client(
            now,
            peer,
            (branch, Method::Invite),
            request,
            ClientPurpose::SeatInvite { call: call_id },
            Some(ack),
        );
        if let Some(inv) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.seat_invite.as_mut())
        {
            inv.client_tx = client_tx;
        }
        self.arm_ring(call_id, deadline);
    }

    /// Ring `seat` for a call the platform holds ([`RouteDecision::Hold`]), for at most
    /// `ring_timeout`. If the seat does not answer, refuses or cannot be reached, the caller
    /// stays held and [`Event::OfferFailed`] says why.
    pub fn offer(
        &mut self,
        now: Instant,
        call: u64,
        seat: &str,
        ring_timeout: std::time::Duration,
    ) -> Result<(), OfferError> {
        self.start_seat_leg(now, call, seat, ring_timeout)
    }

    /// Tell a held caller it is ringing (180), repeated every minute while the call waits so
    /// proxies on the way keep the transaction (RFC 3261 §13.3.1.1). Returns false if the call
    /// is unknown or already answered.
    pub fn ring_back(&mut self, now: Instant, call_id: u64) -> bool {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        if !matches!(call.state, CallState::Held | CallState::Ringing) {
            return false;
        }
        let at = now + RINGBACK_REPEAT;
        call.refresh_at = Some(at);
        let (tx, tag) = (call.a_invite_tx, call.a.local_tag.clone());
        let contact = format!("Contact: <{}>", self.sent_by.contact(call.a.peer.transport));
        let early = match (self.anchor.as_mut(), call.media.as_mut()) {
            (Some(anchor), Some(media)) if media.early => anchor.caller_answer(media),
            _ => None,
        };
        match early {
            Some(sdp) => self.respond_tagged(
                now,
                tx,
                183,
                "Session Progress",
                Some(&tag),
                &[&contact],
                Some(("application/sdp", &sdp)),
            ),
            None => self.respond_tagged(now, tx, 180, "Ringing", Some(&tag), &[&contact], None),
        }
        self.timers
            .push(std::cmp::Reverse((at, super::TimerRef::Refresh(call_id))));
        true
    }

    /// Let a held caller hear the platform's media while it waits: a 183 Session Progress
    /// carrying our SDP answer (RFC 3960's gateway model), repeated every minute like the
    /// 180 of [`ring_back`](Self::ring_back), whose place it takes. The 200 on answer carries
    /// the same SDP. Returns false (and sends a plain 180) when the call's media is not
    /// anchored or the caller made no offer (a late offer cannot be answered in a 183).
    pub fn early_media(&mut self, now: Instant, call_id: u64) -> bool {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        let able = call.media.as_ref().is_some_and(|m| !m.late_offer);
        if let Some(media) = call.media.as_mut() {
            media.early = able;
        }
        self.ring_back(now, call_id) && able
    }

    pub(super) fn on_refresh(&mut self, now: Instant, at: Instant, call_id: u64) {
        let due = self.calls.get(&call_id).is_some_and(|c| {
            c.refresh_at == Some(at) && matches!(c.state, CallState::Held | CallState::Ringing)
        });
        if due {
            self.ring_back(now, call_id);
        }
    }

    /// End a call that has not been answered with a final `status` to the caller (e.g. 404
    /// for an unknown number, 480 when the queue's maximum wait passes); a ringing seat is
    /// cancelled. Returns false if the call is unknown or already answered.
    pub fn reject(&mut self, now: Instant, call_id: u64, status: u16, reason: &str) -> bool {
        let done = self.reject_now(now, call_id, status, reason);
        self.drop_orphaned_targets(now);
        done
    }

    pub(super) fn reject_now(
        &mut self,
        now: Instant,
        call_id: u64,
        status: u16,
        reason: &str,
    ) -> bool {
        let Some(call) = self.calls.get(&call_id) else {
            return false;
        };
        match call.state {
            CallState::Held | CallState::Ringing => {
                self.abandon_ringing(now, call_id, EndCause::Rejected { status }, status, reason);
                true
            }
            CallState::Answered | CallState::Ending => false,
        }
    }

    /// The caller's SDP offer (the INVITE body) of a call not yet answered.
    pub fn caller_offer(&self, call_id: u64) -> Option<&[u8]> {
        let call = self.calls.get(&call_id)?;
        let body = self.server.get(&call.a_invite_tx)?.request.request.body();
        (!body.is_empty()).then_some(body.as_slice())
    }

    /// Our SDP answer to the caller's offer at its anchored port, for answering the call
    /// from the platform itself ([`answer_locally`](Self::answer_locally)) when media is
    /// anchored.
    pub fn anchored_answer(&mut self, call_id: u64) -> Option<Vec<u8>> {
        let call = self.calls.get_mut(&call_id)?;
        let media = call.media.as_mut()?;
        self.anchor.as_mut()?.caller_answer(media)
    }

    /// Answer a held call from the platform itself (e.g. to play a confirmation), with `sdp`
    /// as the answer to the caller's offer. The 2xx is repeated until the caller's ACK (RFC
    /// 3261 §13.3.1.4). Returns false if the call is unknown or not held.
    pub fn answer_locally(&mut self, now: Instant, call_id: u64, sdp: &[u8]) -> bool {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        if call.state != CallState::Held {
            return false;
        }
        call.state = CallState::Answered;
        call.refresh_at = None;
        let tx = call.a_invite_tx;
        call.awaiting_ack[Side::Caller.index()] = Some(AwaitAck {
            server_tx: tx,
            forward_cseq: None,
        });
        let tag = call.a.local_tag.clone();
        let contact = format!("Contact: <{}>", self.sent_by.contact(call.a.peer.transport));
        self.respond_tagged(
            now,
            tx,
            200,
            "OK",
            Some(&tag),
            &[&contact, ALLOW],
            Some(("application/sdp", sdp)),
        );
        true
    }

    /// Hang up a call the platform answered itself ([`Gateway::answer_locally`]): BYE to the
    /// caller; the call ends with [`EndCause::Completed`]. Returns false if there is no such
    /// answered call.
    pub fn hang_up_locally(&mut self, now: Instant, call_id: u64) -> bool {
        let done = self.hang_up_locally_now(now, call_id);
        self.drop_orphaned_targets(now);
        done
    }

    fn hang_up_locally_now(&mut self, now: Instant, call_id: u64) -> bool {
        let local = self
            .calls
            .get(&call_id)
            .is_some_and(|c| c.state == CallState::Answered && c.b.call_id.is_empty());
        if !local {
            return false;
        }
        self.send_bye(now, call_id, Side::Caller);
        self.end_call(call_id, EndCause::Completed);
        self.remove_call(call_id);
        true
    }

    /// The seat attempt of a managed call failed: drop the seat leg and hold the caller again.
    fn seat_attempt_failed(&mut self, call_id: u64, why: SeatFailure) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let seat = std::mem::take(&mut call.seat);
        let b = std::mem::replace(&mut call.b, placeholder_leg(call.a.peer));
        if let (Some(anchor), Some(media)) = (self.anchor.as_mut(), call.media.as_mut()) {
            anchor.close_leg(call_id, media, Side::Seat);
        }
        call.seat_invite = None;
        call.acks_sent[Side::Seat.index()] = None;
        call.awaiting_ack[Side::Seat.index()] = None;
        call.state = CallState::Held;
        call.ring_deadline = None;
        self.dialogs.remove(&(b.call_id, b.local_tag));
        self.events.push_back(Event::OfferFailed {
            call: call_id,
            seat,
            why,
        });
    }

    /// The ring timeout of a managed call passed: the seat's unresolved INVITE moves to an
    /// entry of its own (cancelled there exactly as for a caller who left), and the caller is
    /// held again.
    fn detach_ringing_seat(&mut self, now: Instant, call_id: u64) {
        let orphan_id = self.ids.next();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let b = std::mem::replace(&mut call.b, placeholder_leg(call.a.peer));
        let inv = call.seat_invite.take();
        let seat = call.seat.clone();
        let acks = call.acks_sent[Side::Seat.index()].take();
        let key = (b.call_id.clone(), b.local_tag.clone());
        let can_cancel = inv.as_ref().is_some_and(|i| i.got_provisional);
        let inv = inv.map(|mut i| {
            i.cancel_pending = !i.got_provisional;
            i
        });
        if let Some(entry) = inv.as_ref().and_then(|i| self.client.get_mut(&i.client_tx)) {
            entry.purpose = ClientPurpose::SeatInvite { call: orphan_id };
        }
        let mut a = placeholder_leg(b.peer);
        a.call_id.clear();
        self.dialogs.insert(key, (orphan_id, Side::Seat));
        let mut orphan = Call::new(a, b, u64::MAX);
        orphan.seat = seat;
        orphan.state = CallState::Ending;
        orphan.seat_invite = inv;
        orphan.acks_sent = [None, acks];
        self.calls.insert(orphan_id, orphan);
        if can_cancel {
            self.send_cancel(now, orphan_id);
        } else {
            // No provisional yet: CANCEL waits for one (§9.1); Timer B or the reap ends it.
            let at = now + self.config.timers.t1 * 64;
            self.arm_reap(orphan_id, at);
        }
        self.seat_attempt_failed(call_id, SeatFailure::NoAnswer);
    }

    pub(super) fn on_seat_invite_response(
        &mut self,
        now: Instant,
        call_id: u64,
        resp: Box<ValidResponse>,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        match resp.status {
            100 => {}
            101..=199 => {
                if call.b.remote_tag.is_none() {
                    call.b.remote_tag.clone_from(&resp.to_tag);
                }
                let mut cancel_now = false;
                let mut first_provisional_seen = true;
                if let Some(inv) = call.seat_invite.as_mut() {
                    first_provisional_seen = inv.got_provisional;
                    inv.got_provisional = true;
                    cancel_now = inv.cancel_pending;
                }
                if cancel_now {
                    self.send_cancel(now, call_id);
                    return;
                }
                if let Some(parent) = call.parent {
                    if call.state == CallState::Ringing && !first_provisional_seen {
                        self.events
                            .push_back(Event::TransferRinging { call: parent });
                    }
                    return;
                }
                if call.state == CallState::Ringing {
                    let tx = call.a_invite_tx;
                    let tag = call.a.local_tag.clone();
                    let contact =
                        format!("Contact: <{}>", self.sent_by.contact(call.a.peer.transport));
                    match &call.media {
                        // The caller already hears our media (183): nothing to add.
                        Some(m) if m.early => {}
                        // Anchored: the seat's early media stays with us; the caller is
                        // told it rings.
                        Some(_) => self.respond_tagged(
                            now,
                            tx,
                            180,
                            "Ringing",
                            Some(&tag),
                            &[&contact],
                            None,
                        ),
                        None => self.respond_tagged(
                            now,
                            tx,
                            resp.status,
                            &reason_of(&resp),
                            Some(&tag),
                            &[&contact],
                            response_body(&resp)
                                .as_ref()
                                .map(|(t, b)| (t.as_str(), b.as_slice())),
                        ),
                    }
                }
            }
            200..=299 => self.on_seat_answer(now, call_id, &resp),
            _ => {
                let status = resp.status;
                let ending = call.state == CallState::Ending;
                if call.parent.is_some() && call.state == CallState::Ringing {
                    call.seat_invite = None;
                    self.target_gone(call_id, Some(SeatFailure::Refused(status)));
                    self.remove_call(call_id);
                    return;
                }
                if call.managed && call.state == CallState::Ringing {
                    self.seat_attempt_failed(call_id, SeatFailure::Refused(status));
                    return;
                }
                call.seat_invite = None;
                if ending {
                    self.remove_call(call_id);
                    return;
                }
                let (to_caller, reason) = status_for_caller(status);
                let tx = call.a_invite_tx;
                let tag = call.a.local_tag.clone();
                self.respond_tagged(now, tx, to_caller, reason, Some(&tag), &[], None);
                self.end_call(call_id, EndCause::SeatRefused { status, to_caller });
                self.remove_call(call_id);
            }
        }
    }

    fn on_seat_answer(&mut self, now: Instant, call_id: u64, resp: &ValidResponse) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.seat_invite.is_none() {
            // A retransmitted 2xx: re-send the ACK we sent for it (RFC 3261 §13.2.2.4).
            if let Some((1, ack)) = call.acks_sent[Side::Seat.index()].clone() {
                let peer = call.b.peer;
                self.transmit(peer, ack);
            }
            return;
        }
        call.seat_invite = None;
        let f = facts(&resp.response.headers);
        call.b.remote_tag.clone_from(&resp.to_tag);
        if let Some(contact) = f.contact {
            call.b.remote_target = contact;
        }
        call.b.route_set = f.record_route.into_iter().rev().collect();
        if call.state == CallState::Ending {
            // The caller is gone (cancelled or timed out) but the seat answered anyway:
            // acknowledge and hang up the seat (RFC 3261 §15).
            self.send_ack(now, call_id, Side::Seat, 1, None);
            self.send_bye(now, call_id, Side::Seat);
            self.remove_call(call_id);
            return;
        }
        if call.parent.is_some() {
            self.target_answered(now, call_id, response_body(resp));
            return;
        }
        call.state = CallState::Answered;
        let late_offer = self
            .server
            .get(&call.a_invite_tx)
            .is_some_and(|e| e.request.request.body().is_empty());
        let tx = call.a_invite_tx;
        let seat = call.seat.clone();
        let body = match (self.anchor.as_mut(), call.media.as_mut()) {
            (Some(anchor), Some(media)) => anchor
                .seat_answered(call_id, media, response_body(resp).as_ref())
                .map(|sdp| ("application/sdp".to_owned(), sdp)),
            _ => response_body(resp),
        };
        // Anchored, a late offer is ours to make (in this 200) and the caller's ACK answers
        // us, not the seat, which already answered our offer.
        let anchored = call.media.is_some();
        let forward_ack = late_offer && !anchored;
        call.awaiting_ack[Side::Caller.index()] = Some(AwaitAck {
            server_tx: tx,
            forward_cseq: forward_ack.then_some(1),
        });
        let tag = call.a.local_tag.clone();
        let contact = format!("Contact: <{}>", self.sent_by.contact(call.a.peer.transport));
        self.respond_tagged(
            now,
            tx,
            resp.status,
            &reason_of(resp),
            Some(&tag),
            &[&contact, ALLOW],
            body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
        );
        if !forward_ack {
            self.send_ack(now, call_id, Side::Seat, 1, None);
        }
        self.stats.calls_answered += 1;
        self.events.push_back(Event::CallAnswered {
            call: call_id,
            seat,
        });
    }

    pub(super) fn on_dialog_ack(
        &mut self,
        now: Instant,
        call_id: u64,
        side: Side,
        req: Box<ValidRequest>,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(waiting) = call.awaiting_ack[side.index()].take() else {
            return;
        };
        if let Some(entry) = self.server.get_mut(&waiting.server_tx) {
            if let super::ServerTx::Invite(tx) = &mut entry.tx {
                // The dialog matched this ACK to our 2xx, so the answer is known to be "yes".
                let _ = tx.on_ack(now);
            }
        }
        self.drain_server(now, waiting.server_tx);
        if let Some(cseq) = waiting.forward_cseq {
            let body = self.cross_sdp(call_id, side, body_of(&req), SdpKind::Answer);
            self.send_ack(now, call_id, side.other(), cseq, body.ok().flatten());
        } else if let Some(body) = body_of(&req) {
            // The answer to an offer we made on this leg ourselves (a late-offer caller).
            if let (Some(anchor), Some(media)) = (
                self.anchor.as_mut(),
                self.calls.get_mut(&call_id).and_then(|c| c.media.as_mut()),
            ) {
                anchor.ack_answer(call_id, media, side, &body);
            }
        }
    }

    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        from: Peer,
        key: ServerKey,
        req: Box<ValidRequest>,
    ) {
        let invite_key = ServerKey {
            method: Method::Invite,
            ..key.clone()
        };
        let invite_tx = self.server_index.get(&invite_key).copied();
        let id = self.open_server(now, from, key, req, None);
        let Some(invite_tx) = invite_tx else {
            self.respond(now, id, 481, "Call/Transaction Does Not Exist", &[], None);
            return;
        };
        self.respond(now, id, 200, "OK", &[], None);
        if let Some(call) = self.server.get(&invite_tx).and_then(|e| e.call) {
            self.abandon_ringing(
                now,
                call,
                EndCause::CallerCancelled,
                487,
                "Request Terminated",
            );
        }
    }

    /// The caller's side is finished while the seat rings: answer the caller, cancel the seat.
    fn abandon_ringing(
        &mut self,
        now: Instant,
        call_id: u64,
        cause: EndCause,
        status: u16,
        reason: &str,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.state == CallState::Held {
            let (tx, tag) = (call.a_invite_tx, call.a.local_tag.clone());
            self.respond_tagged(now, tx, status, reason, Some(&tag), &[], None);
            self.end_call(call_id, cause);
            self.remove_call(call_id);
            return;
        }
        if call.state != CallState::Ringing {
            return;
        }
        call.state = CallState::Ending;
        let tx = call.a_invite_tx;
        let tag = call.a.local_tag.clone();
        let can_cancel = match call.seat_invite.as_mut() {
            Some(inv) if inv.got_provisional => true,
            Some(inv) => {
                // RFC 3261 §9.1: no CANCEL before a provisional response; send it then.
                inv.cancel_pending = true;
                false
            }
            None => false,
        };
        self.respond_tagged(now, tx, status, reason, Some(&tag), &[], None);
        self.end_call(call_id, cause);
        if can_cancel {
            self.send_cancel(now, call_id);
        }
    }

    pub(super) fn on_ring_timeout(&mut self, now: Instant, at: Instant, call_id: u64) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if call.ring_deadline != Some(at) || call.state != CallState::Ringing {
            return;
        }
        if call.parent.is_some() {
            // Not even a provisional response by the ring timeout: nobody is there.
            let heard = call.seat_invite.as_ref().is_some_and(|i| i.got_provisional);
            let why = if heard {
                SeatFailure::NoAnswer
            } else {
                SeatFailure::Unreachable
            };
            self.target_gone(call_id, Some(why));
            self.drop_target(now, call_id);
            return;
        }
        if call.managed {
            self.detach_ringing_seat(now, call_id);
            return;
        }
        self.abandon_ringing(
            now,
            call_id,
            EndCause::NoAnswer,
            480,
            "Temporarily Unavailable",
        );
    }

    pub(super) fn on_seat_timeout(&mut self, now: Instant, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.parent.is_some() && call.state == CallState::Ringing {
            call.seat_invite = None;
            self.target_gone(call_id, Some(SeatFailure::Unreachable));
            self.remove_call(call_id);
            return;
        }
        if call.managed && call.state == CallState::Ringing {
            self.seat_attempt_failed(call_id, SeatFailure::Unreachable);
            return;
        }
        call.seat_invite = None;
        if call.state == CallState::Ringing {
            let tx = call.a_invite_tx;
            let tag = call.a.local_tag.clone();
            self.respond_tagged(
                now,
                tx,
                480,
                "Temporarily Unavailable",
                Some(&tag),
                &[],
                None,
            );
            self.end_call(call_id, EndCause::Unreachable);
        }
        self.remove_call(call_id);
    }

    pub(super) fn on_no_ack(&mut self, now: Instant, call_id: u64, _server_tx: u64) {
        if !self.calls.contains_key(&call_id) {
            return;
        }
        self.send_bye(now, call_id, Side::Caller);
        self.send_bye(now, call_id, Side::Seat);
        self.end_call(call_id, EndCause::NoAck);
        self.remove_call(call_id);
    }

    pub(super) fn on_in_dialog(
        &mut self,
        now: Instant,
        from: Peer,
        key: ServerKey,
        req: Box<ValidRequest>,
        call_id: u64,
        side: Side,
    ) {
        let method = req.method;
        let in_order = self
            .calls
            .get_mut(&call_id)
            .map(|c| c.leg_mut(side).accept_remote_cseq(req.cseq).is_ok());
        let offer_in_request = !req.request.body().is_empty();
        let raw_body = body_of(&req);
        let refer_target = (method == Method::Refer)
            .then(|| super::refer::refer_to(&req))
            .flatten();
        let id = self.open_server(now, from, key, req, Some(call_id));
        if in_order != Some(true) {
            // RFC 3261 §12.2.2: a lower CSeq in a dialog gets 500.
            self.respond(
                now,
                id,
                500,
                "Server Internal Error",
                &["Retry-After: 1"],
                None,
            );
            return;
        }
        if method == Method::Bye {
            self.respond(now, id, 200, "OK", &[], None);
            self.hang_up(now, call_id, side);
            return;
        }
        if method == Method::Invite {
            self.respond(now, id, 100, "Trying", &[], None);
        }
        if method == Method::Refer {
            self.on_refer(now, call_id, side, id, refer_target);
            return;
        }
        if method == Method::Info {
            if let Some(digit) = raw_body.as_ref().and_then(|(t, b)| dtmf_info(t, b)) {
                // SIP INFO DTMF (the fallback to RFC 4733): ours to read, not relayed; the
                // platform re-sends it as telephone-event where it belongs.
                self.respond(now, id, 200, "OK", &[], None);
                self.events.push_back(Event::Dtmf {
                    call: call_id,
                    side,
                    digit,
                });
                return;
            }
        }
        let body = match self.cross_sdp(call_id, side, raw_body, SdpKind::Offer) {
            Ok(body) => body,
            Err((status, reason)) => {
                self.respond(now, id, status, reason, &[], None);
                return;
            }
        };
        let (answered, local) = self.calls.get(&call_id).map_or((false, false), |c| {
            (
                c.state == CallState::Answered,
                c.b.call_id.is_empty() || c.parent.is_some(),
            )
        });
        if !answered {
            self.respond(now, id, 491, "Request Pending", &[], None);
            return;
        }
        if local {
            // Answered by the platform itself (an announcement): no far leg to relay to.
            let (status, reason) = if method == Method::Info {
                (200, "OK")
            } else {
                (488, "Not Acceptable Here")
            };
            self.respond(now, id, status, reason, &[], None);
            return;
        }
        // Relay the request as a new transaction on the other leg.
        let other = side.other();
        let (request, branch, peer, cseq, ack) = {
            let Some(call) = self.calls.get_mut(&call_id) else {
                return;
            };
            let leg = call.leg_mut(other);
            let cseq = leg.next_cseq();
            let branch = self.ids.branch();
            let contact = self.sent_by.contact(leg.peer.transport);
            let refresh = matches!(method, Method::Invite | Method::Update);
            let leg = call.leg(other);
            let request = leg.request(InDialog {
                method,
                sent_by: self.sent_by.get(leg.peer.transport),
                branch: &branch,
                cseq,
                contact: refresh.then_some(contact.as_str()),
                body: body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
            });
            let ack = (method == Method::Invite).then(|| AckTemplate {
                uri: leg.remote_target.clone(),
                via_transport: leg.peer.transport.via_token(),
                sent_by: self.sent_by.get(leg.peer.transport).to_owned(),
                branch: branch.clone(),
                from: leg.local_uri.clone(),
                from_tag: leg.local_tag.clone(),
                to: leg.remote_uri.clone(),
                call_id: leg.call_id.clone(),
                cseq,
                routes: leg.route_set.clone(),
            });
            (request, branch, leg.peer, cseq, ack)
        };
        self.open_client(
            now,
            peer,
            (branch, method),
            request,
            ClientPurpose::Relay {
                call: call_id,
                origin: id,
                to_side: other,
                method,
                cseq,
                offer_in_request,
            },
            ack,
        );
    }

    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        purpose: ClientPurpose,
        resp: Box<ValidResponse>,
    ) {
        let ClientPurpose::Relay {
            call: call_id,
            origin,
            to_side,
            method,
            cseq,
            offer_in_request,
        } = purpose
        else {
            return;
        };
        if resp.status == 100 {
            return;
        }
        let is_2xx = (200..300).contains(&resp.status);
        if method == Method::Invite && is_2xx {
            let Some(call) = self.calls.get_mut(&call_id) else {
                return;
            };
            if let Some((sent_cseq, ack)) = call.acks_sent[to_side.index()].clone() {
                if sent_cseq == cseq {
                    // Retransmitted 2xx: our ACK was lost.
                    let peer = call.leg(to_side).peer;
                    self.transmit(peer, ack);
                    return;
                }
            }
            if call.awaiting_ack[to_side.other().index()].is_some_and(|w| w.server_tx == origin) {
                return;
            }
            if let Some(contact) = facts(&resp.response.headers).contact {
                call.leg_mut(to_side).remote_target = contact;
            }
            call.awaiting_ack[to_side.other().index()] = Some(AwaitAck {
                server_tx: origin,
                forward_cseq: (!offer_in_request).then_some(cseq),
            });
            if offer_in_request {
                self.send_ack(now, call_id, to_side, cseq, None);
            }
        }
        let origin_side = to_side.other();
        let contact = self.calls.get(&call_id).map(|c| {
            format!(
                "Contact: <{}>",
                self.sent_by.contact(c.leg(origin_side).peer.transport)
            )
        });
        let kind = if offer_in_request {
            SdpKind::Answer
        } else {
            SdpKind::Offer
        };
        let body = self
            .cross_sdp(call_id, to_side, response_body(&resp), kind)
            .ok()
            .flatten();
        let mut extra: Vec<&str> = Vec::new();
        if is_2xx && matches!(method, Method::Invite | Method::Update) {
            if let Some(c) = contact.as_deref() {
                extra.push(c);
            }
        }
        self.respond(
            now,
            origin,
            resp.status,
            &reason_of(&resp),
            &extra,
            body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
        );
    }

    pub(super) fn on_relay_timeout(&mut self, now: Instant, origin: u64) {
        self.respond(now, origin, 408, "Request Timeout", &[], None);
    }

    /// A BYE arrived on `by`'s leg (already answered 200): end the call, BYE the other leg.
    fn hang_up(&mut self, now: Instant, call_id: u64, by: Side) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let transfer_pending = self.transfer_of.contains_key(&call_id);
        match call.state {
            CallState::Answered if call.parent.is_some() => {
                // The target hung up before the transfer completed.
                self.target_gone(call_id, None);
                self.remove_call(call_id);
            }
            CallState::Answered
                if by == Side::Seat
                    && (call.keep_caller || transfer_pending)
                    && !call.b.call_id.is_empty() =>
            {
                self.detach_seat(call_id);
            }
            CallState::Answered => {
                self.send_bye(now, call_id, by.other());
                self.end_call(call_id, EndCause::HungUp { by });
                self.remove_call(call_id);
            }
            CallState::Held | CallState::Ringing if by == Side::Caller => {
                // A BYE in the caller's early dialog ends the attempt like a CANCEL.
                self.abandon_ringing(
                    now,
                    call_id,
                    EndCause::CallerCancelled,
                    487,
                    "Request Terminated",
                );
            }
            CallState::Held | CallState::Ringing | CallState::Ending => {}
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(inv) = call.seat_invite.as_mut() else {
            return;
        };
        inv.cancel_pending = false;
        // RFC 3261 §9.1: CANCEL copies the INVITE's Request-URI, Call-ID, From, To, CSeq
        // number and top Via (same branch).
        let request = build_request(&OutRequest {
            method: Method::Cancel,
            uri: &inv.uri,
            via: Via {
                transport: call.b.peer.transport.via_token(),
                sent_by: self.sent_by.get(call.b.peer.transport),
                branch: &inv.branch,
            },
            max_forwards: 70,
            from: &call.b.local_uri,
            from_tag: &call.b.local_tag,
            to: &inv.to,
            to_tag: None,
            call_id: &call.b.call_id,
            cseq: 1,
            routes: &[],
            contact: None,
            extra: &[],
            body: None,
        });
        let branch = inv.branch.clone();
        let peer = call.b.peer;
        self.open_client(
            now,
            peer,
            (branch, Method::Cancel),
            request,
            ClientPurpose::Cancel,
            None,
        );
        // RFC 3261 §9.1: without a final response 64*T1 after the CANCEL, give up on the
        // INVITE (a seat phone that ignores CANCEL must not hold the call forever).
        let at = now + self.config.timers.t1 * 64;
        self.arm_reap(call_id, at);
    }

    pub(super) fn on_reap(&mut self, call_id: u64) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if call.state != CallState::Ending {
            return;
        }
        if let Some(inv) = &call.seat_invite {
            if let Some(entry) = self.client.remove(&inv.client_tx) {
                self.client_index.remove(&entry.key);
            }
        }
        self.remove_call(call_id);
    }

    pub(super) fn send_bye(&mut self, now: Instant, call_id: u64, side: Side) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let leg = call.leg_mut(side);
        if leg.remote_tag.is_none() {
            return;
        }
        let cseq = leg.next_cseq();
        let leg = call.leg(side);
        let request = leg.request(InDialog {
            method: Method::Bye,
            sent_by: self.sent_by.get(leg.peer.transport),
            branch: &branch,
            cseq,
            contact: None,
            body: None,
        });
        let peer = leg.peer;
        self.open_client(
            now,
            peer,
            (branch, Method::Bye),
            request,
            ClientPurpose::Bye,
            None,
        );
    }

    /// ACK a 2xx on `side` (RFC 3261 §13.2.2.4): a new branch, the INVITE's CSeq number.
    pub(super) fn send_ack(
        &mut self,
        _now: Instant,
        call_id: u64,
        side: Side,
        cseq: u32,
        body: Option<(String, Vec<u8>)>,
    ) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let leg = call.leg(side);
        let request = leg.request(InDialog {
            method: Method::Ack,
            sent_by: self.sent_by.get(leg.peer.transport),
            branch: &branch,
            cseq,
            contact: None,
            body: body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
        });
        let peer = leg.peer;
        call.acks_sent[side.index()] = Some((cseq, request.clone()));
        self.transmit(peer, request);
    }

    /// The media seam: a body crossing from `from` to the other leg inside a dialog. Without
    /// anchoring it crosses unchanged; anchored, the other leg gets SDP of ours (see
    /// [`Anchor::cross`](super::anchor::Anchor::cross)). An offer we cannot carry is refused
    /// with its status.
    fn cross_sdp(
        &mut self,
        call_id: u64,
        from: Side,
        body: Option<(String, Vec<u8>)>,
        kind: SdpKind,
    ) -> Result<Body, (u16, &'static str)> {
        let media = self.calls.get_mut(&call_id).and_then(|c| c.media.as_mut());
        match (self.anchor.as_mut(), media) {
            (Some(anchor), Some(media)) => {
                anchor.cross(call_id, media, from, body, kind).map_err(|e| {
                    let status = e.status();
                    *self.stats.media_refused.entry(status.0).or_default() += 1;
                    status
                })
            }
            _ => Ok(body),
        }
    }

    /// Whether the caller's leg is anchored with an offer we can answer (so early media and
    /// platform prompts reach it).
    pub fn anchored_answer_possible(&self, call_id: u64) -> bool {
        self.calls
            .get(&call_id)
            .and_then(|c| c.media.as_ref())
            .is_some_and(|m| !m.late_offer)
    }

    /// End a call whatever its state: BYE to every answered leg, 408 to a caller still
    /// waiting, CANCEL to a ringing seat. The call ends with [`EndCause::Terminated`].
    /// Returns false if there is no such call.
    pub fn terminate(&mut self, now: Instant, call_id: u64) -> bool {
        let done = self.end_now(now, call_id);
        self.drop_orphaned_targets(now);
        done
    }

    fn end_now(&mut self, now: Instant, call_id: u64) -> bool {
        let Some(call) = self.calls.get(&call_id) else {
            return false;
        };
        match call.state {
            CallState::Held | CallState::Ringing => {
                self.abandon_ringing(now, call_id, EndCause::Terminated, 408, "Request Timeout");
            }
            CallState::Answered => {
                self.send_bye(now, call_id, Side::Caller);
                self.send_bye(now, call_id, Side::Seat);
                self.end_call(call_id, EndCause::Terminated);
                self.remove_call(call_id);
            }
            CallState::Ending => return false,
        }
        true
    }

    /// When the seat hangs up (or is released with [`release_seat`](Self::release_seat)),
    /// keep the caller on the line for the platform (the post-call survey) instead of hanging
    /// up: [`Event::SeatHungUp`] is reported and the call goes on as one the platform answered
    /// itself, ended with [`hang_up_locally`](Self::hang_up_locally) or by the caller.
    /// Returns false if there is no such call.
    pub fn keep_caller(&mut self, call_id: u64, keep: bool) -> bool {
        self.calls
            .get_mut(&call_id)
            .map(|c| c.keep_caller = keep)
            .is_some()
    }

    /// Hang up the seat's leg of an answered call (BYE) while the caller stays, as if the
    /// seat had hung up with [`keep_caller`](Self::keep_caller) set (e.g. a seat's key that
    /// hands the caller to the survey). Returns false if the call has no answered seat leg.
    pub fn release_seat(&mut self, now: Instant, call_id: u64) -> bool {
        let answered = self
            .calls
            .get(&call_id)
            .is_some_and(|c| c.state == CallState::Answered && !c.b.call_id.is_empty());
        if !answered {
            return false;
        }
        self.send_bye(now, call_id, Side::Seat);
        self.detach_seat(call_id);
        true
    }

    /// The seat's leg is over but the caller stays: drop the seat dialog and its media.
    fn detach_seat(&mut self, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let b = std::mem::replace(&mut call.b, placeholder_leg(call.a.peer));
        let seat = std::mem::take(&mut call.seat);
        call.acks_sent[Side::Seat.index()] = None;
        call.awaiting_ack[Side::Seat.index()] = None;
        if let (Some(anchor), Some(media)) = (self.anchor.as_mut(), call.media.as_mut()) {
            anchor.close_leg(call_id, media, Side::Seat);
        }
        self.dialogs.remove(&(b.call_id, b.local_tag));
        self.events.push_back(Event::SeatHungUp {
            call: call_id,
            seat,
        });
    }

    pub(super) fn end_call(&mut self, call_id: u64, cause: EndCause) {
        self.stats.calls_ended += 1;
        self.events.push_back(Event::CallEnded {
            call: call_id,
            cause,
        });
    }

    pub(super) fn remove_call(&mut self, call_id: u64) {
        if let Some(out) = self.transfer_of.remove(&call_id) {
            // The call ended with a transfer under way: its target is dropped too.
            self.orphans.push(out);
        }
        if let Some(consult) = self.consults.remove(&call_id) {
            self.consult_orphans.push(consult);
        }
        if let Some(about) = self.calls.get(&call_id).and_then(|c| c.consult_for) {
            self.consult_gone(about);
        }
        if let Some(call) = self.calls.remove(&call_id) {
            self.dialogs.remove(&(call.a.call_id, call.a.local_tag));
            self.dialogs.remove(&(call.b.call_id, call.b.local_tag));
            if let (Some(anchor), Some(media)) = (self.anchor.as_mut(), call.media) {
                anchor.close(call_id, media);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_flow_prefers_contact_on_the_same_host() {
        let from = Peer::udp("127.0.0.1:40000".parse().expect("addr"));
        assert_eq!(
            seat_flow("sip:1001@127.0.0.1:5070;transport=UDP", from),
            Peer::udp("127.0.0.1:5070".parse().expect("addr"))
        );
        // Behind NAT: the Contact names a private address; use the flow.
        assert_eq!(seat_flow("sip:1001@192.168.1.20:5060", from), from);
        assert_eq!(seat_flow("sip:1001@phone.example", from), from);
        assert_eq!(
            seat_flow("sip:1001@127.0.0.1", from),
            Peer::udp("127.0.0.1:5060".parse().expect("addr"))
        );
        let tcp = Peer::tcp("127.0.0.1:40000".parse().expect("addr"));
        assert_eq!(
            seat_flow("sip:1001@127.0.0.1:5070;transport=tcp", tcp),
            Peer::tcp("127.0.0.1:5070".parse().expect("addr"))
        );
        assert_eq!(seat_flow("sip:1001@10.1.2.3:5070;transport=tcp", tcp), tcp);
    }
}
