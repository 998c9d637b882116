//! Calls held for the platform ([`RouteDecision::Hold`]) on a fake clock: ringback repeated
//! every minute, a seat that does not answer is cancelled and the caller stays held, a
//! refusing seat likewise, the next seat answers and the legs are bridged; a held caller
//! who cancels gets 487; the platform can reject a held call. A transfer to a TLS trunk whose
//! handshake fails ends at once as unreachable.
#![allow(clippy::disallowed_methods)] // the fake clock starts from the real one, once

use std::time::{Duration, Instant};

use sip_gateway::b2bua::{Dial, EndCause, Event, Gateway, GatewayConfig, OfferError, SeatFailure};
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::route::HoldRouter;
use sip_gateway::transaction::TimerConfig;
use sip_gateway::validate::Limits;
use sip_gateway::{Peer, TransportFailure};

const CALLER: &str = "127.0.0.1:6000";
const SEAT_A: &str = "127.0.0.1:7001";
const SEAT_B: &str = "127.0.0.1:7002";

struct H {
    gw: Gateway<HoldRouter>,
    now: Instant,
}

fn peer(a: &str) -> Peer {
    Peer::udp(a.parse().expect("addr"))
}

fn header<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("")
}

impl H {
    fn new() -> Self {
        let now = Instant::now();
        let config = GatewayConfig {
            local_addr: "127.0.0.1:5060".parse().expect("addr"),
            timers: TimerConfig::default(),
            limits: Limits::default(),
            ring_timeout: Duration::from_secs(30),
        };
        let registrar = Registrar::new(RegistrarConfig::new("127.0.0.1"), None, [7; 32], now);
        let mut h = Self {
            gw: Gateway::new(config, HoldRouter, registrar, 42)
                .with_tls_address("127.0.0.1:5061".parse().expect("addr")),
            now,
        };
        for (seat, addr) in [("1001", SEAT_A), ("1002", SEAT_B)] {
            h.send(
                addr,
                &format!(
                    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKr{seat}\r\n\
                     From: <sip:{seat}@127.0.0.1>;tag=r{seat}\r\nTo: <sip:{seat}@127.0.0.1>\r\n\
                     Call-ID: reg-{seat}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{seat}@{addr}>\r\n\
                     Expires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                ),
            );
        }
        h.drain();
        h.events();
        h
    }

    fn send(&mut self, from: &str, text: &str) {
        let now = self.now;
        self.gw.handle_message(now, peer(from), text.as_bytes());
    }

    fn drain(&mut self) -> Vec<(Peer, String)> {
        std::iter::from_fn(|| self.gw.poll_transmit())
            .map(|t| (t.to, String::from_utf8_lossy(&t.bytes).into_owned()))
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.gw.poll_event()).collect()
    }

    fn advance(&mut self, d: Duration) -> Vec<(Peer, String)> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.gw.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.gw.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    /// A caller dials 12345; returns the gateway's call id.
    fn call_in(&mut self, call_id: &str) -> u64 {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n";
        let invite = format!(
            "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{call_id}\r\n\
             From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:12345@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.send(CALLER, &invite);
        let sent = self.drain();
        assert_eq!(sent.len(), 1, "only 100 Trying while held: {sent:?}");
        assert!(sent[0].1.starts_with("SIP/2.0 100"));
        match self.events().as_slice() {
            [Event::CallStarted {
                call,
                dialed,
                from_seat: None,
                ..
            }] if dialed == "12345" => *call,
            other => panic!("{other:?}"),
        }
    }

    fn respond(&mut self, from: &str, invite: &str, status: &str, tag: &str) {
        let text = format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag={tag}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Contact: <sip:x@{from}>\r\nContent-Length: 0\r\n\r\n",
            header(invite, "Via"),
            header(invite, "From"),
            header(invite, "To"),
            header(invite, "Call-ID"),
            header(invite, "CSeq"),
        );
        self.send(from, &text);
    }
}

fn first_lines(sent: &[(Peer, String)]) -> Vec<(Peer, &str)> {
    sent.iter()
        .map(|(p, t)| (*p, t.lines().next().unwrap_or("")))
        .collect()
}

#[test]
fn a_held_caller_survives_a_seat_that_does_not_answer_and_one_that_refuses() {
    let mut h = H::new();
    let call = h.call_in("held-1");
    assert!(h.gw.ring_back(h.now, call));
    let sent = h.drain();
    assert!(sent[0].1.starts_with("SIP/2.0 180 Ringing"), "{sent:?}");
    let tag = header(&sent[0].1, "To").to_owned();

    // Ringback is repeated every minute while the caller waits.
    let again = h.advance(Duration::from_secs(61));
    assert_eq!(first_lines(&again), [(peer(CALLER), "SIP/2.0 180 Ringing")]);
    assert_eq!(header(&again[0].1, "To"), tag, "same early dialog");

    // Seat A rings, sends 180, and does not answer within 10 s: CANCEL, caller still held.
    h.gw.offer(h.now, call, "1001", Duration::from_secs(10))
        .expect("offer");
    let sent = h.drain();
    let invite_a = sent
        .iter()
        .find(|(p, t)| *p == peer(SEAT_A) && t.starts_with("INVITE"))
        .expect("INVITE to seat A")
        .1
        .clone();
    assert_eq!(
        h.gw.offer(h.now, call, "1002", Duration::from_secs(10)),
        Err(OfferError::NotHeld)
    );
    h.respond(SEAT_A, &invite_a, "180 Ringing", "a1");
    h.drain();
    let out = h.advance(Duration::from_secs(10));
    assert!(
        out.iter()
            .any(|(p, t)| *p == peer(SEAT_A) && t.starts_with("CANCEL")),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|(p, _)| *p == peer(CALLER)),
        "the caller hears nothing final: {out:?}"
    );
    let ev = h.events();
    assert!(ev.contains(&Event::OfferFailed {
        call,
        seat: "1001".into(),
        why: SeatFailure::NoAnswer
    }));
    // The cancelled seat's 487 is absorbed by its own transaction; the call is untouched.
    h.respond(SEAT_A, &invite_a, "487 Request Terminated", "a1");
    h.drain();

    // Seat B refuses (busy): caller still held.
    h.gw.offer(h.now, call, "1002", Duration::from_secs(10))
        .expect("offer B");
    let invite_b = h
        .drain()
        .into_iter()
        .find(|(p, t)| *p == peer(SEAT_B) && t.starts_with("INVITE"))
        .expect("INVITE to B")
        .1;
    h.respond(SEAT_B, &invite_b, "486 Busy Here", "b1");
    let sent = h.drain();
    assert!(
        sent.iter().all(|(p, _)| *p != peer(CALLER)),
        "caller still held: {sent:?}"
    );
    assert!(h.events().contains(&Event::OfferFailed {
        call,
        seat: "1002".into(),
        why: SeatFailure::Refused(486)
    }));

    // Seat A again, and it answers: the caller gets the 200 in the same dialog.
    h.gw.offer(h.now, call, "1001", Duration::from_secs(10))
        .expect("offer A again");
    let invite_a2 = h
        .drain()
        .into_iter()
        .find(|(p, t)| *p == peer(SEAT_A) && t.starts_with("INVITE"))
        .expect("INVITE to A")
        .1;
    assert_ne!(header(&invite_a2, "Call-ID"), header(&invite_a, "Call-ID"));
    h.respond(SEAT_A, &invite_a2, "200 OK", "a2");
    let sent = h.drain();
    let ok = sent
        .iter()
        .find(|(p, t)| *p == peer(CALLER) && t.starts_with("SIP/2.0 200"))
        .expect("200 to caller");
    assert_eq!(header(&ok.1, "To"), tag);
    assert!(h.events().contains(&Event::CallAnswered {
        call,
        seat: "1001".into()
    }));
    // The stale ring timer of the first attempt must not cut the answered call.
    h.advance(Duration::from_secs(30));
    assert_eq!(h.gw.active_calls(), 1);
}

#[test]
fn a_held_caller_who_cancels_gets_487_and_the_platform_can_reject() {
    let mut h = H::new();
    let call = h.call_in("held-2");
    h.gw.ring_back(h.now, call);
    h.drain();
    h.send(
        CALLER,
        &format!(
            "CANCEL sip:12345@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKheld-2\r\n\
             From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:12345@127.0.0.1>\r\n\
             Call-ID: held-2\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    let sent = h.drain();
    assert_eq!(
        first_lines(&sent),
        [
            (peer(CALLER), "SIP/2.0 200 OK"),
            (peer(CALLER), "SIP/2.0 487 Request Terminated")
        ]
    );
    assert_eq!(
        h.events(),
        [Event::CallEnded {
            call,
            cause: EndCause::CallerCancelled
        }]
    );
    assert_eq!(
        h.gw.offer(h.now, call, "1001", Duration::from_secs(5)),
        Err(OfferError::UnknownCall)
    );

    let call = h.call_in("held-3");
    assert!(h.gw.reject(h.now, call, 404, "Not Found"));
    assert_eq!(
        first_lines(&h.drain()),
        [(peer(CALLER), "SIP/2.0 404 Not Found")]
    );
    assert_eq!(
        h.events(),
        [Event::CallEnded {
            call,
            cause: EndCause::Rejected { status: 404 }
        }]
    );
    let call = h.call_in("held-4");
    assert_eq!(
        h.gw.offer(h.now, call, "9999", Duration::from_secs(5)),
        Err(OfferError::NotRegistered)
    );
}

#[test]
fn the_platform_can_answer_a_held_call_itself_and_hang_up() {
    let mut h = H::new();
    let call = h.call_in("local-1");
    let sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\na=sendonly\r\n";
    assert!(h.gw.answer_locally(h.now, call, sdp));
    assert!(!h.gw.answer_locally(h.now, call, sdp), "only once");
    let sent = h.drain();
    let ok = &sent[0].1;
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{sent:?}");
    assert!(
        ok.ends_with("a=sendonly\r\n"),
        "the SDP answer is carried: {ok}"
    );
    let to = header(ok, "To").to_owned();
    // Until the ACK arrives the 2xx is repeated (Timer G style, RFC 6026).
    let again = h.advance(Duration::from_millis(600));
    assert!(again.iter().any(|(_, t)| t.starts_with("SIP/2.0 200 OK")));
    h.send(
        CALLER,
        &format!(
            "ACK sip:gw@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack1\r\n\
             From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: {to}\r\nCall-ID: local-1\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(
        h.advance(Duration::from_secs(2)).is_empty(),
        "no more 2xx after the ACK"
    );
    assert!(h.gw.hang_up_locally(h.now, call));
    let bye = h.drain();
    assert_eq!(
        first_lines(&bye),
        [(peer(CALLER), "BYE sip:caller@127.0.0.1:6000 SIP/2.0")]
    );
    assert_eq!(
        h.events(),
        [Event::CallEnded {
            call,
            cause: EndCause::Completed
        }]
    );
    assert_eq!(h.gw.active_calls(), 0);
}

#[test]
fn a_transfer_to_a_tls_trunk_whose_handshake_fails_is_unreachable_at_once() {
    let mut h = H::new();
    let call = h.call_in("tls-1");
    h.gw.offer(h.now, call, "1001", Duration::from_secs(10))
        .expect("offer");
    let invite = h
        .drain()
        .into_iter()
        .find(|(p, t)| *p == peer(SEAT_A) && t.starts_with("INVITE"))
        .expect("INVITE to seat A")
        .1;
    h.respond(SEAT_A, &invite, "200 OK", "a1");
    h.drain();
    h.events();

    let dial = Dial {
        uri: "sips:12333@10.0.0.9",
        label: "renshe",
        headers: &[],
        ring_timeout: Duration::from_secs(30),
    };
    h.gw.dial_target(h.now, call, &dial).expect("dial");
    let trunk = Peer::tls("10.0.0.9:5061".parse().expect("addr"));
    let sent = h.drain();
    let (_, invite) = sent
        .iter()
        .find(|(p, t)| *p == trunk && t.starts_with("INVITE sips:12333@10.0.0.9 "))
        .unwrap_or_else(|| panic!("INVITE over TLS: {sent:?}"));
    assert!(
        header(invite, "Via").starts_with("SIP/2.0/TLS 127.0.0.1:5061;"),
        "{invite}"
    );
    assert_eq!(header(invite, "Contact"), "<sips:127.0.0.1:5061>");

    // The shell reports the failed handshake: the transfer fails now, not on Timer B.
    h.gw.handle_transport_failure(
        h.now,
        trunk,
        TransportFailure::TlsHandshake { inbound: false },
    );
    assert_eq!(
        h.events(),
        [Event::TransferFailed {
            call,
            why: SeatFailure::Unreachable
        }]
    );
    assert_eq!(h.gw.stats().tls_handshake_failures_out, 1);
    assert_eq!(h.gw.transfer_state(call), None);
    assert_eq!(h.gw.active_calls(), 1, "caller and seat stay");
    assert!(
        h.advance(Duration::from_secs(40))
            .iter()
            .all(|(p, _)| *p != trunk),
        "nothing more for the trunk"
    );
    let later = h.events();
    assert!(
        !later.iter().any(|e| matches!(
            e,
            Event::TransferFailed { .. } | Event::TransferEnded { .. }
        )),
        "reported once: {later:?}"
    );
}
