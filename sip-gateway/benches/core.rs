//! Criterion benches of the pure cores: validating one message, and one whole call through
//! the gateway core (both legs, every message a real call exchanges) with no sockets.
// The fake clock starts from the real one, once.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sip_gateway::b2bua::{Gateway, GatewayConfig};
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::route::SeatRouter;
use sip_gateway::transaction::TimerConfig;
use sip_gateway::validate::{validate, Limits};
use sip_gateway::Peer;

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn invite(n: u64) -> String {
    format!(
        "INVITE sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK-{n}-1-0\r\n\
         From: sipp <sip:sipp@127.0.0.1:6000>;tag={n}SIPpTag001\r\nTo: 1001 <sip:1001@127.0.0.1:5060>\r\n\
         Call-ID: {n}-1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: sip:sipp@127.0.0.1:6000\r\nMax-Forwards: 70\r\n\
         Subject: Performance Test\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

/// The seat's answer to the gateway's INVITE (copying its Via, From, To, Call-ID, CSeq).
fn answer(invite: &str, status: &str, body: bool) -> String {
    let h = |name: &str| {
        invite
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let (ct, b) = if body {
        ("Content-Type: application/sdp\r\n", SDP)
    } else {
        ("", "")
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=seat1\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:1001@127.0.0.1:7000>\r\n{ct}Content-Length: {}\r\n\r\n{b}",
        h("Via:"),
        h("From:"),
        h("To:"),
        h("Call-ID:"),
        h("CSeq:"),
        b.len()
    )
}

fn gateway(start: Instant) -> Gateway<SeatRouter> {
    let config = GatewayConfig {
        local_addr: "127.0.0.1:5060".parse().expect("addr"),
        timers: TimerConfig::default(),
        limits: Limits::default(),
        ring_timeout: Duration::from_secs(30),
    };
    let registrar = Registrar::new(RegistrarConfig::new("127.0.0.1"), None, [1; 32], start);
    let mut gw = Gateway::new(config, SeatRouter, registrar, 7);
    let seat = Peer::udp("127.0.0.1:7000".parse().expect("addr"));
    gw.handle_message(
        start,
        seat,
        b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKr\r\n\
          From: <sip:1001@127.0.0.1>;tag=r\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n\
          Contact: <sip:1001@127.0.0.1:7000>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
    );
    while gw.poll_transmit().is_some() {}
    gw
}

/// One complete call: INVITE, 100, INVITE', 180', 180, 200', ACK', 200, ACK, BYE, 200, BYE', 200'.
fn one_call(gw: &mut Gateway<SeatRouter>, now: Instant, n: u64) {
    let caller = Peer::udp("127.0.0.1:6000".parse().expect("addr"));
    let seat = Peer::udp("127.0.0.1:7000".parse().expect("addr"));
    gw.handle_message(now, caller, invite(n).as_bytes());
    let mut to_seat = String::new();
    let mut to_caller_tag = String::new();
    while let Some(t) = gw.poll_transmit() {
        if t.to == seat {
            to_seat = String::from_utf8_lossy(&t.bytes).into_owned();
        }
    }
    gw.handle_message(now, seat, answer(&to_seat, "180 Ringing", false).as_bytes());
    gw.handle_message(now, seat, answer(&to_seat, "200 OK", true).as_bytes());
    while let Some(t) = gw.poll_transmit() {
        if t.to == caller {
            let text = String::from_utf8_lossy(&t.bytes);
            if let Some(i) = text.find(";tag=h") {
                to_caller_tag = text[i + 5..]
                    .split(['\r', ';'])
                    .next()
                    .unwrap_or("")
                    .to_owned();
            }
        }
    }
    let dialog = format!(
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK-{n}-X\r\nFrom: sipp <sip:sipp@127.0.0.1:6000>;tag={n}SIPpTag001\r\n\
         To: 1001 <sip:1001@127.0.0.1:5060>;tag={to_caller_tag}\r\nCall-ID: {n}-1@127.0.0.1\r\nMax-Forwards: 70\r\n"
    );
    gw.handle_message(
        now,
        caller,
        format!(
            "ACK sip:1001@127.0.0.1:5060 SIP/2.0\r\n{}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            dialog.replace("-X", "-2")
        )
        .as_bytes(),
    );
    gw.handle_message(
        now,
        caller,
        format!(
            "BYE sip:1001@127.0.0.1:5060 SIP/2.0\r\n{}CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            dialog.replace("-X", "-3")
        )
        .as_bytes(),
    );
    let mut bye = String::new();
    while let Some(t) = gw.poll_transmit() {
        if t.to == seat {
            bye = String::from_utf8_lossy(&t.bytes).into_owned();
        }
    }
    let ok = answer(&bye, "200 OK", false);
    gw.handle_message(now, seat, ok.as_bytes());
    while gw.poll_transmit().is_some() {}
    while gw.poll_event().is_some() {}
}

fn benches(c: &mut Criterion) {
    let limits = Limits::default();
    let msg = invite(1);
    c.bench_function("validate INVITE (SIPp uac, 500 B)", |b| {
        b.iter(|| black_box(validate(black_box(msg.as_bytes()), &limits)))
    });
    let start = Instant::now();
    let mut gw = gateway(start);
    let mut n = 0u64;
    c.bench_function("gateway core: one whole call (13 messages)", |b| {
        b.iter(|| {
            n += 1;
            // Advance time and fire timers so finished transactions are reaped, as in service.
            let now = start + Duration::from_millis(n);
            gw.handle_timeout(now);
            one_call(&mut gw, now, n);
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
