//! Transfers (一键转接、三方通话): an answered call dials a target (a sub-platform trunk, an
//! emergency line, an expert seat) on a third leg of its own, while caller and seat stay
//! connected. The target's leg is an entry of its own in the call table (a call with a
//! `parent`), driven by the same client-INVITE machinery as a seat's leg; its media is the
//! parent's third media leg. Completing moves the target's dialog into the seat's place; the
//! platform decides when (docs/decisions/0014-transfers.md).

use std::time::{Duration, Instant};

use rsipstack::sip::Method;

use super::call::{placeholder_leg, Call, CallState, SeatFailure, SeatInvite, Side};
use super::{AckTemplate, Event, Gateway, ALLOW};
use crate::dialog::{build_request, user_of, Dialog, OutRequest, Via};
use crate::peer::{Peer, Transport};
use crate::route::Router;

/// What to dial for a transfer.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    /// The target's SIP URI with an IP host: `sip:user@ip[:port]` (UDP, or TCP with
    /// `;transport=tcp`), or `sips:user@ip[:port]` / `sip:…;transport=tls` (TLS).
    pub uri: &'a str,
    /// The target's label, reported as the leg's seat name in events.
    pub label: &'a str,
    /// Extra header lines (without CRLF), e.g. `X-Hotline-Ticket: 42`.
    pub headers: &'a [String],
    /// How long the target may ring.
    pub ring_timeout: Duration,
}

/// Why [`Gateway::dial_target`] could not start a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    /// No such call.
    UnknownCall,
    /// The call is not answered by a seat (still waiting, or the platform answered it).
    NotAnswered,
    /// A transfer of this call is already under way.
    Pending,
    /// The URI is not `sip:` or `sips:` with an IP host, or names a transport we do not
    /// speak.
    BadUri,
    /// No RTP port is free for the target's leg.
    NoMediaPort,
    /// The call offered as a consultation is not a held call with an SDP offer
    /// ([`Gateway::consult`]).
    NotConsultable,
}

/// `sip:user@host[:port][;params]` with an IP host → its peer: UDP on 5060 by default, TCP
/// with `;transport=tcp`; `sips:` or `;transport=tls` → TLS on 5061 by default (RFC 3261
/// §19.1.2, §26.2.2; RFC 5630). Host names are not dialled: the core does no DNS.
fn target_peer(uri: &str) -> Option<Peer> {
    let lower = uri.to_ascii_lowercase();
    let (sips, rest) = match lower.strip_prefix("sips:") {
        Some(rest) => (true, rest),
        None => (false, lower.strip_prefix("sip:")?),
    };
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let end = host_port.find([';', '?', '>']).unwrap_or(host_port.len());
    let params = host_port[end..]
        .split(['?', '>'])
        .next()
        .unwrap_or_default();
    let transport = match params.split(';').find_map(|p| p.strip_prefix("transport=")) {
        _ if sips => Transport::Tls,
        Some("tls") => Transport::Tls,
        Some("tcp") => Transport::Tcp,
        None | Some("udp") => Transport::Udp,
        Some(_) => return None,
    };
    let host_port = &host_port[..end];
    let default_port = if transport == Transport::Tls {
        5061
    } else {
        5060
    };
    let addr = host_port.parse::<std::net::SocketAddr>().ok().or_else(|| {
        host_port
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| std::net::SocketAddr::new(ip, default_port))
    })?;
    Some(Peer { transport, addr })
}

impl<R: Router> Gateway<R> {
    /// Dial a transfer target for the answered call `call_id`: a new leg of its own with our
    /// SDP offer (the caller's codec), the caller in `P-Asserted-Identity` and `dial.headers`.
    /// Caller and seat stay as they are; the outcome comes as [`Event::TransferRinging`],
    /// [`Event::TransferAnswered`] or [`Event::TransferFailed`].
    pub fn dial_target(
        &mut self,
        now: Instant,
        call_id: u64,
        dial: &Dial<'_>,
    ) -> Result<(), TransferError> {
        let call = self.calls.get(&call_id).ok_or(TransferError::UnknownCall)?;
        if call.state != CallState::Answered || call.b.call_id.is_empty() || call.parent.is_some() {
            return Err(TransferError::NotAnswered);
        }
        if self.transfer_of.contains_key(&call_id) {
            return Err(TransferError::Pending);
        }
        let peer = target_peer(dial.uri).ok_or(TransferError::BadUri)?;
        let caller = user_of(crate::dialog::uri_of(&call.a.remote_uri))
            .unwrap_or("anonymous")
            .to_owned();
        let mut body = None;
        if let (Some(anchor), Some(media)) = (
            self.anchor.as_mut(),
            self.calls.get_mut(&call_id).and_then(|c| c.media.as_mut()),
        ) {
            let offer = anchor
                .open_target(call_id, media)
                .map_err(|_| TransferError::NoMediaPort)?;
            body = Some(offer);
        }
        let out_id = self.ids.next();
        let host = self.config.local_addr.ip().to_string();
        let b = Dialog {
            call_id: self.ids.call_id(&host),
            local_tag: self.ids.tag(),
            remote_tag: None,
            local_uri: format!("<sip:{caller}@{host}>"),
            remote_uri: format!("<{}>", dial.uri),
            local_cseq: 1,
            remote_cseq: None,
            remote_target: dial.uri.to_owned(),
            route_set: Vec::new(),
            peer,
        };
        let branch = self.ids.branch();
        // RFC 3261 §8.1.1.8: a request to a SIPS URI carries a SIPS Contact.
        let contact = if dial
            .uri
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
        {
            format!("sips:{}", self.sent_by.get(Transport::Tls))
        } else {
            self.sent_by.contact(peer.transport)
        };
        let transport = peer.transport.via_token();
        let pai = format!("P-Asserted-Identity: <sip:{caller}@{host}>");
        let mut extra: Vec<&str> = vec![ALLOW, &pai];
        extra.extend(dial.headers.iter().map(String::as_str));
        let request = build_request(&OutRequest {
            method: Method::Invite,
            uri: dial.uri,
            via: Via {
                transport,
                sent_by: self.sent_by.get(peer.transport),
                branch: &branch,
            },
            max_forwards: 70,
            from: &b.local_uri,
            from_tag: &b.local_tag,
            to: &b.remote_uri,
            to_tag: None,
            call_id: &b.call_id,
            cseq: 1,
            routes: &[],
            contact: Some(&contact),
            extra: &extra,
            body: body.as_deref().map(|b| ("application/sdp", b)),
        });
        let ack = AckTemplate {
            uri: dial.uri.to_owned(),
            via_transport: transport,
            sent_by: self.sent_by.get(peer.transport).to_owned(),
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
            (out_id, Side::Seat),
        );
        let deadline = now + dial.ring_timeout;
        let invite = SeatInvite {
            client_tx: 0,
            branch: branch.clone(),
            uri: dial.uri.to_owned(),
            to: b.remote_uri.clone(),
            got_provisional: false,
            cancel_pending: false,
        };
        let mut out = Call::new(placeholder_leg(peer), b, u64::MAX);
        out.seat = dial.label.to_owned();
        out.state = CallState::Ringing;
        out.seat_invite = Some(invite);
        out.ring_deadline = Some(deadline);
        out.parent = Some(call_id);
        self.calls.insert(out_id, out);
        self.transfer_of.insert(call_id, out_id);
        self.send_leg_invite(now, out_id, peer, (branch, request, ack), deadline);
        Ok(())
    }

    /// Whether `call_id` has a transfer under way, and whether its target has answered.
    pub fn transfer_state(&self, call_id: u64) -> Option<bool> {
        let out = self.transfer_of.get(&call_id)?;
        self.calls.get(out).map(|c| c.state == CallState::Answered)
    }

    /// Complete the transfer of `call_id`: the seat's leg is hung up (BYE) unless it already
    /// left, and the target takes its place (caller and target talk on). False unless the
    /// target has answered.
    pub fn complete_transfer(&mut self, now: Instant, call_id: u64) -> bool {
        let Some(&out_id) = self.transfer_of.get(&call_id) else {
            return false;
        };
        if !self
            .calls
            .get(&out_id)
            .is_some_and(|c| c.state == CallState::Answered)
        {
            return false;
        }
        self.end_consult(now, call_id, 487, "Request Terminated");
        let seat_present = self
            .calls
            .get(&call_id)
            .is_some_and(|c| !c.b.call_id.is_empty());
        if seat_present {
            self.send_bye(now, call_id, Side::Seat);
        }
        self.transfer_of.remove(&call_id);
        let Some(out) = self.calls.remove(&out_id) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        let old = std::mem::replace(&mut call.b, out.b);
        call.seat = out.seat;
        call.acks_sent[Side::Seat.index()] = out.acks_sent[Side::Seat.index()].clone();
        call.awaiting_ack[Side::Seat.index()] = None;
        call.keep_caller = false;
        let key = (call.b.call_id.clone(), call.b.local_tag.clone());
        if let (Some(anchor), Some(media)) = (self.anchor.as_mut(), call.media.as_mut()) {
            anchor.promote_target(call_id, media);
        }
        self.dialogs.remove(&(old.call_id, old.local_tag));
        self.dialogs.insert(key, (call_id, Side::Seat));
        true
    }

    /// Drop the transfer of `call_id`: CANCEL a ringing target, BYE an answered one. Caller
    /// and seat stay. False if there is none.
    pub fn cancel_transfer(&mut self, now: Instant, call_id: u64) -> bool {
        self.end_consult(now, call_id, 487, "Request Terminated");
        let Some(out_id) = self.transfer_of.remove(&call_id) else {
            return false;
        };
        self.close_target_media(call_id);
        self.drop_target(now, out_id);
        true
    }

    fn close_target_media(&mut self, call_id: u64) {
        if let (Some(anchor), Some(media)) = (
            self.anchor.as_mut(),
            self.calls.get_mut(&call_id).and_then(|c| c.media.as_mut()),
        ) {
            anchor.close_target(call_id, media);
        }
    }

    /// End a target's leg whatever its state, reporting nothing.
    pub(super) fn drop_target(&mut self, now: Instant, out_id: u64) {
        let Some(out) = self.calls.get_mut(&out_id) else {
            return;
        };
        out.parent = None;
        match out.state {
            CallState::Ringing => {
                out.state = CallState::Ending;
                let can_cancel = match out.seat_invite.as_mut() {
                    Some(inv) if inv.got_provisional => true,
                    Some(inv) => {
                        inv.cancel_pending = true;
                        false
                    }
                    None => false,
                };
                if can_cancel {
                    self.send_cancel(now, out_id);
                } else {
                    let at = now + self.config.timers.t1 * 64;
                    self.arm_reap(out_id, at);
                }
            }
            CallState::Answered => {
                self.send_bye(now, out_id, Side::Seat);
                self.remove_call(out_id);
            }
            CallState::Held | CallState::Ending => {}
        }
    }

    /// Targets of calls that ended: dropped once `now` is known.
    pub(super) fn drop_orphaned_targets(&mut self, now: Instant) {
        while let Some(out_id) = self.orphans.pop() {
            self.drop_target(now, out_id);
        }
        self.drop_orphaned_consults(now);
    }

    /// The target's leg failed (`why`) or ended: tell the platform, tidy up.
    pub(super) fn target_gone(&mut self, out_id: u64, why: Option<SeatFailure>) {
        let Some(parent) = self.calls.get(&out_id).and_then(|c| c.parent) else {
            return;
        };
        if self.transfer_of.get(&parent) == Some(&out_id) {
            self.transfer_of.remove(&parent);
            self.close_target_media(parent);
        }
        self.events.push_back(match why {
            Some(why) => Event::TransferFailed { call: parent, why },
            None => Event::TransferEnded { call: parent },
        });
    }

    /// The target answered: ACK, learn its media, tell the platform.
    pub(super) fn target_answered(
        &mut self,
        now: Instant,
        out_id: u64,
        body: Option<(String, Vec<u8>)>,
    ) {
        let Some(parent) = self.calls.get(&out_id).and_then(|c| c.parent) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&out_id) {
            c.state = CallState::Answered;
        }
        self.send_ack(now, out_id, Side::Seat, 1, None);
        if let (Some(anchor), Some(media)) = (
            self.anchor.as_mut(),
            self.calls.get_mut(&parent).and_then(|c| c.media.as_mut()),
        ) {
            anchor.target_answered(parent, media, body.as_ref());
        }
        self.events
            .push_back(Event::TransferAnswered { call: parent });
    }
}

#[cfg(test)]
mod tests {
    use super::target_peer;
    use crate::peer::Transport;

    #[test]
    fn target_uris_resolve_to_peers() {
        let peer = |uri: &str| target_peer(uri).map(|p| (p.transport, p.addr.to_string()));
        let udp = |a: &str| Some((Transport::Udp, a.to_owned()));
        let tcp = |a: &str| Some((Transport::Tcp, a.to_owned()));
        let tls = |a: &str| Some((Transport::Tls, a.to_owned()));
        assert_eq!(peer("sip:12333@127.0.0.1:5071"), udp("127.0.0.1:5071"));
        assert_eq!(peer("SIP:110@10.0.0.9;transport=udp"), udp("10.0.0.9:5060"));
        assert_eq!(peer("sip:110@10.0.0.9;transport=TCP"), tcp("10.0.0.9:5060"));
        assert_eq!(peer("sips:12333@10.0.0.9"), tls("10.0.0.9:5061"));
        assert_eq!(peer("sips:12333@10.0.0.9:5071"), tls("10.0.0.9:5071"));
        assert_eq!(
            peer("sip:12333@[2001:db8::1];user=phone;transport=tls"),
            tls("[2001:db8::1]:5061")
        );
        assert_eq!(
            peer("sips:12333@10.0.0.9;transport=tcp"),
            tls("10.0.0.9:5061")
        );
        assert_eq!(peer("sip:12333@10.0.0.9;transport=sctp"), None);
        assert_eq!(peer("sip:12333@trunk.example.org"), None);
        assert_eq!(peer("sips:12333@trunk.example.org"), None);
        assert_eq!(peer("tel:12333"), None);
    }
}
