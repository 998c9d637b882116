//! The whole gateway core driven with a fake clock: retransmissions absorbed, 2xx repeated
//! until ACK, Timer B/F/H expiry, CANCEL, ring timeout — without sockets or sleeps.
// The fake clock starts from the real one, once.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use sip_gateway::b2bua::{EndCause, Event, Gateway, GatewayConfig, Side};
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::route::SeatRouter;
use sip_gateway::transaction::TimerConfig;
use sip_gateway::validate::Limits;
use sip_gateway::Peer;

const CALLER: &str = "127.0.0.1:6000";
const SEAT: &str = "127.0.0.1:7000";

struct Harness {
    gw: Gateway<SeatRouter>,
    start: Instant,
    now: Instant,
    caller: Peer,
    seat: Peer,
}

/// A message the gateway sent, kept as text for assertions.
#[derive(Debug, Clone)]
struct Sent {
    to: Peer,
    text: String,
}

impl Sent {
    fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn tag_of(&self, name: &str) -> Option<String> {
        let v = self.header(name)?;
        let i = v.find(";tag=")?;
        Some(v[i + 5..].split(';').next().unwrap_or("").to_owned())
    }
    fn branch(&self) -> String {
        let via = self.header("Via").unwrap_or("");
        let i = via.find("branch=").map(|i| i + 7).unwrap_or(via.len());
        via[i..].split(';').next().unwrap_or("").to_owned()
    }
}

impl Harness {
    fn new(ring_timeout: Duration) -> Self {
        let start = Instant::now();
        let config = GatewayConfig {
            local_addr: "127.0.0.1:5060".parse().expect("addr"),
            timers: TimerConfig::default(),
            limits: Limits::default(),
            ring_timeout,
        };
        let registrar = Registrar::new(RegistrarConfig::new("127.0.0.1"), None, [7; 32], start);
        let mut h = Self {
            gw: Gateway::new(config, SeatRouter, registrar, 42),
            start,
            now: start,
            caller: Peer::udp(CALLER.parse().expect("addr")),
            seat: Peer::udp(SEAT.parse().expect("addr")),
        };
        h.seat_sends(&format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {SEAT};branch=z9hG4bKreg1\r\n\
             From: <sip:1001@127.0.0.1>;tag=r1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg-1\r\n\
             CSeq: 1 REGISTER\r\nContact: <sip:1001@{SEAT}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        ));
        let sent = h.drain();
        assert!(sent[0].first_line().starts_with("SIP/2.0 200"), "{sent:?}");
        h
    }

    fn at(&self) -> Duration {
        self.now - self.start
    }

    fn caller_sends(&mut self, text: &str) {
        let (now, peer) = (self.now, self.caller);
        self.gw.handle_message(now, peer, text.as_bytes());
    }

    fn seat_sends(&mut self, text: &str) {
        let (now, peer) = (self.now, self.seat);
        self.gw.handle_message(now, peer, text.as_bytes());
    }

    fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.gw.poll_transmit() {
            out.push(Sent {
                to: t.to,
                text: String::from_utf8_lossy(&t.bytes).into_owned(),
            });
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.gw.poll_event()).collect()
    }

    /// Advance to `until`, firing timers on the way; returns (time since start, message).
    fn run_until(&mut self, until: Duration) -> Vec<(Duration, Sent)> {
        let end = self.start + until;
        let mut out = Vec::new();
        while let Some(at) = self.gw.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.gw.handle_timeout(self.now);
            for s in self.drain() {
                out.push((self.at(), s));
            }
        }
        self.now = end;
        out
    }

    fn invite(&self, call_id: &str, branch: &str) -> String {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n";
        format!(
            "INVITE sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch={branch}\r\n\
             From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:1001@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    /// Start a call; returns the INVITE sent to the seat.
    fn start_call(&mut self) -> Sent {
        let invite = self.invite("call-1", "z9hG4bKinv1");
        self.caller_sends(&invite);
        let sent = self.drain();
        assert_eq!(
            sent.len(),
            2,
            "100 to the caller and INVITE to the seat: {sent:?}"
        );
        assert!(sent[0].first_line().starts_with("SIP/2.0 100"));
        assert_eq!(sent[0].to, self.caller);
        assert!(sent[1]
            .first_line()
            .starts_with("INVITE sip:1001@127.0.0.1:7000"));
        assert_eq!(sent[1].to, self.seat);
        sent[1].clone()
    }

    /// The seat's response to the gateway's INVITE.
    fn seat_response(&self, invite: &Sent, status: &str, seat_tag: &str, sdp: bool) -> String {
        let body = if sdp {
            "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n"
        } else {
            ""
        };
        let ct = if sdp {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        };
        format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag={seat_tag}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Contact: <sip:1001@{SEAT}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            invite.header("Via").expect("via"),
            invite.header("From").expect("from"),
            invite.header("To").expect("to"),
            invite.header("Call-ID").expect("call-id"),
            invite.header("CSeq").expect("cseq"),
            body.len()
        )
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut h = Harness::new(secs(30.0));
    let to_seat = h.start_call();
    let invite = h.invite("call-1", "z9hG4bKinv1");
    h.now += secs(0.2);
    h.caller_sends(&invite);
    let sent = h.drain();
    assert_eq!(sent.len(), 1, "only the 100 is repeated: {sent:?}");
    assert!(sent[0].first_line().starts_with("SIP/2.0 100"));
    assert_eq!(h.gw.active_calls(), 1);
    assert_eq!(
        to_seat.header("Call-ID").map(|c| c.contains("call-1")),
        Some(false)
    );
}

#[test]
fn seat_invite_is_retransmitted_over_udp_then_timer_b_gives_480() {
    let mut h = Harness::new(secs(60.0));
    h.start_call();
    let sent = h.run_until(secs(40.0));
    let to_seat: Vec<Duration> = sent
        .iter()
        .filter(|(_, s)| s.to == h.seat && s.first_line().starts_with("INVITE"))
        .map(|(t, _)| *t)
        .collect();
    // Timer A: 0.5, 1, 2, 4, 8, 16 s intervals → at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(
        to_seat,
        [0.5, 1.5, 3.5, 7.5, 15.5, 31.5].map(secs).to_vec(),
        "Timer A schedule"
    );
    let final_to_caller: Vec<_> = sent
        .iter()
        .filter(|(_, s)| s.to == h.caller && s.first_line().starts_with("SIP/2.0 4"))
        .collect();
    // The first final reaches the caller when Timer B fires; later copies are Timer G
    // retransmissions of the same 480 (the test caller never ACKs).
    assert_eq!(
        final_to_caller[0].0,
        secs(32.0),
        "Timer B = 64*T1: {sent:?}"
    );
    assert!(final_to_caller
        .iter()
        .all(|(_, s)| s.first_line().starts_with("SIP/2.0 480")));
    let ended: Vec<_> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::CallEnded { .. }))
        .collect();
    assert!(
        matches!(
            ended[..],
            [Event::CallEnded {
                cause: EndCause::Unreachable,
                ..
            }]
        ),
        "{ended:?}"
    );
}

#[test]
fn answer_is_retransmitted_until_the_caller_acks() {
    let mut h = Harness::new(secs(30.0));
    let to_seat = h.start_call();
    h.seat_sends(&h.seat_response(&to_seat, "180 Ringing", "s1", false));
    let sent = h.drain();
    assert!(sent
        .iter()
        .any(|s| s.to == h.caller && s.first_line().starts_with("SIP/2.0 180")));
    h.seat_sends(&h.seat_response(&to_seat, "200 OK", "s1", true));
    let sent = h.drain();
    let ok = sent
        .iter()
        .find(|s| s.to == h.caller && s.first_line().starts_with("SIP/2.0 200"))
        .expect("200 relayed to caller")
        .clone();
    assert!(ok.text.contains("m=audio 9000"), "SDP crosses unchanged");
    assert!(sent
        .iter()
        .any(|s| s.to == h.seat && s.first_line().starts_with("ACK")));
    // No ACK from the caller yet: the 200 is repeated at T1, 2T1, 4T1 ... capped at T2.
    let repeated: Vec<Duration> = h
        .run_until(secs(8.0))
        .into_iter()
        .filter(|(_, s)| s.to == h.caller && s.first_line().starts_with("SIP/2.0 200"))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(repeated, [0.5, 1.5, 3.5, 7.5].map(secs).to_vec());
    let local_tag = ok.tag_of("To").expect("to tag");
    h.caller_sends(&format!(
        "ACK sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack1\r\n\
         From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:1001@127.0.0.1>;tag={local_tag}\r\n\
         Call-ID: call-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(
        h.drain().is_empty(),
        "ACK is not relayed (the seat was ACKed already)"
    );
    let after: Vec<_> = h
        .run_until(secs(40.0))
        .into_iter()
        .filter(|(_, s)| s.to == h.caller)
        .collect();
    assert!(
        after.is_empty(),
        "no more retransmissions after ACK: {after:?}"
    );
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::CallAnswered { .. })));
}

#[test]
fn unacknowledged_answer_hangs_up_both_legs() {
    let mut h = Harness::new(secs(30.0));
    let to_seat = h.start_call();
    h.seat_sends(&h.seat_response(&to_seat, "200 OK", "s1", true));
    h.drain();
    let sent = h.run_until(secs(40.0));
    let byes: Vec<_> = sent
        .iter()
        .filter(|(_, s)| s.first_line().starts_with("BYE"))
        .collect();
    assert!(
        byes.iter()
            .any(|(t, s)| s.to == h.caller && *t == secs(32.0)),
        "{byes:?}"
    );
    assert!(byes.iter().any(|(_, s)| s.to == h.seat));
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CallEnded {
            cause: EndCause::NoAck,
            ..
        }
    )));
    assert_eq!(h.gw.active_calls(), 0);
}

#[test]
fn busy_seat_gives_486_repeated_until_ack_then_timer_h() {
    let mut h = Harness::new(secs(30.0));
    let to_seat = h.start_call();
    h.seat_sends(&h.seat_response(&to_seat, "486 Busy Here", "s1", false));
    let sent = h.drain();
    assert!(
        sent.iter()
            .any(|s| s.to == h.seat && s.first_line().starts_with("ACK")),
        "non-2xx ACK to seat"
    );
    assert!(sent
        .iter()
        .any(|s| s.to == h.caller && s.first_line().starts_with("SIP/2.0 486")));
    // The caller never ACKs: Timer G repeats the 486, Timer H gives up at 32 s.
    let repeats: Vec<Duration> = h
        .run_until(secs(60.0))
        .into_iter()
        .filter(|(_, s)| s.to == h.caller)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(&repeats[..4], &[0.5, 1.5, 3.5, 7.5].map(secs));
    assert!(repeats.iter().all(|t| *t < secs(32.0)), "{repeats:?}");
    assert_eq!(
        h.gw.active_transactions(),
        0,
        "everything terminated after Timer H"
    );
}

#[test]
fn caller_cancel_answers_487_and_cancels_the_seat() {
    let mut h = Harness::new(secs(30.0));
    let to_seat = h.start_call();
    h.seat_sends(&h.seat_response(&to_seat, "180 Ringing", "s1", false));
    h.drain();
    h.caller_sends(
        &format!("CANCEL sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKinv1\r\n\
         From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:1001@127.0.0.1>\r\n\
         Call-ID: call-1\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
    );
    let sent = h.drain();
    let lines: Vec<_> = sent
        .iter()
        .map(|s| (s.to == h.caller, s.first_line().to_owned()))
        .collect();
    assert!(
        lines.contains(&(true, "SIP/2.0 200 OK".into())),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(c, l)| *c && l.starts_with("SIP/2.0 487")),
        "{lines:?}"
    );
    let cancel = sent
        .iter()
        .find(|s| s.first_line().starts_with("CANCEL"))
        .expect("CANCEL to seat");
    assert_eq!(cancel.to, h.seat);
    assert_eq!(
        cancel.branch(),
        to_seat.branch(),
        "CANCEL matches the INVITE's branch"
    );
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CallEnded {
            cause: EndCause::CallerCancelled,
            ..
        }
    )));
}

#[test]
fn seat_that_never_answers_is_cancelled_at_ring_timeout() {
    let mut h = Harness::new(secs(5.0));
    let to_seat = h.start_call();
    h.seat_sends(&h.seat_response(&to_seat, "180 Ringing", "s1", false));
    h.drain();
    let sent = h.run_until(secs(6.0));
    let to_caller: Vec<_> = sent.iter().filter(|(_, s)| s.to == h.caller).collect();
    assert_eq!(to_caller[0].0, secs(5.0));
    assert!(to_caller[0].1.first_line().starts_with("SIP/2.0 480"));
    assert!(sent
        .iter()
        .any(|(_, s)| s.to == h.seat && s.first_line().starts_with("CANCEL")));
}

#[test]
fn bye_from_the_seat_is_answered_and_sent_to_the_caller_with_timer_f() {
    let mut h = Harness::new(secs(30.0));
    let to_seat = h.start_call();
    h.seat_sends(&h.seat_response(&to_seat, "200 OK", "s1", true));
    let ok = h
        .drain()
        .into_iter()
        .find(|s| s.to == h.caller)
        .expect("200");
    let local_tag = ok.tag_of("To").expect("tag");
    h.caller_sends(&format!(
        "ACK sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack1\r\n\
         From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:1001@127.0.0.1>;tag={local_tag}\r\n\
         Call-ID: call-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ));
    h.drain();
    h.seat_sends(&format!(
        "BYE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {SEAT};branch=z9hG4bKbye1\r\n\
         From: {};tag=s1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        to_seat.header("To").expect("to"),
        to_seat.header("From").expect("from"),
        to_seat.header("Call-ID").expect("cid"),
    ));
    let sent = h.drain();
    assert!(
        sent.iter()
            .any(|s| s.to == h.seat && s.first_line().starts_with("SIP/2.0 200")),
        "{sent:?}"
    );
    let bye = sent
        .iter()
        .find(|s| s.to == h.caller)
        .expect("BYE to caller");
    assert!(
        bye.first_line()
            .starts_with("BYE sip:caller@127.0.0.1:6000"),
        "{}",
        bye.first_line()
    );
    assert_eq!(bye.header("Call-ID"), Some("call-1"));
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CallEnded {
            cause: EndCause::HungUp { by: Side::Seat },
            ..
        }
    )));
    // The caller never answers the BYE: Timer E repeats it, Timer F ends it at 32 s.
    let repeats: Vec<Duration> = h
        .run_until(secs(40.0))
        .into_iter()
        .filter(|(_, s)| s.to == h.caller)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(&repeats[..3], &[0.5, 1.5, 3.5].map(secs));
    assert!(repeats.iter().all(|t| *t < secs(32.0)));
    assert_eq!(h.gw.active_transactions(), 0);
}

#[test]
fn unknown_number_gets_404_and_unregistered_seat_never_rings() {
    let mut h = Harness::new(secs(30.0));
    let invite = h
        .invite("call-9", "z9hG4bKx9")
        .replace("sip:1001@127.0.0.1:5060", "sip:9999@127.0.0.1:5060");
    h.caller_sends(&invite);
    let sent = h.drain();
    assert!(sent.iter().all(|s| s.to == h.caller));
    assert!(sent
        .last()
        .expect("final")
        .first_line()
        .starts_with("SIP/2.0 404"));
}
