//! What each fuzz target does with its input, as plain functions.
//!
//! `fuzz_targets/<name>.rs` calls [`<name>`](self) from libFuzzer; the stable test
//! `crates/hotline/tests/fuzz_corpus.rs` includes this very file and replays every file of
//! `fuzz/corpus/<name>/` through the same function, so the committed corpora and the
//! regressions found by fuzzing are checked by `cargo test --workspace` without cargo-fuzz.
//!
//! Each function must never panic, whatever the bytes: a panic is the bug libFuzzer reports.
//! The `assert!`s below are properties the code promises (a message framed in one read is
//! framed the same way in many; our SDP answer to an offer parses and agrees with itself; a
//! configuration error names its file on every line).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use media::call::{Feed, LegId, MediaCall};
use media::dtmf::{DtmfReceiver, EventPayload};
use media::sdp::{self, Endpoint, Origin, Session};
use sip_gateway::b2bua::{AnchorConfig, Gateway, GatewayConfig};
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::route::SeatRouter;
use sip_gateway::transaction::TimerConfig;
use sip_gateway::validate::{self, Frame, Limits, Verdict};
use sip_gateway::Peer;

/// The fixed origin of every run's clock: read once, so each input sees the same offsets.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // The one read of the real clock; everything after it is `epoch + offset`.
    #[allow(clippy::disallowed_methods)]
    *EPOCH.get_or_init(Instant::now)
}

/// `HOTLINE_FUZZ_TRACE=1`: `sip_validate` prints the first line of each message of its
/// scenario (to see how deep an input gets).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("HOTLINE_FUZZ_TRACE").is_some())
}

/// Splits a `sip_validate` input into the messages of its scenario.
pub const SIP_SEPARATOR: &[u8] = b"\0\0";

const CALLER: &str = "127.0.0.1:6000";
const SEAT: &str = "127.0.0.1:7000";

/// `sip_validate`: the whole input through [`validate::validate`] (with the default size
/// limit and with 512 bytes; a 200 built for an accepted request must validate as a response
/// to it); then the input as a scenario for a [`Gateway`] core with media anchoring, seat
/// 1001 registered: parts split by [`SIP_SEPARATOR`] arrive alternately from the caller and
/// from the seat's phone, one second apart, with timers fired in between and for five
/// minutes after the last.
///
/// So that a scenario can answer what the gateway sent, a part's `$VIA`, `$FROM`, `$TO`,
/// `$CALLID` and `$CSEQ` are replaced by those header values of the last message the
/// gateway sent to that part's sender (e.g. the seat answers the INVITE it was sent).
pub fn sip_validate(data: &[u8]) {
    // The default limit, and a small one so the 513 path is reached by short inputs.
    for limits in [
        Limits::default(),
        Limits {
            max_message_bytes: 512,
        },
    ] {
        match validate::validate(data, &limits) {
            Verdict::Request(req) => {
                // What the gateway builds from any accepted request must read back as a
                // response to it.
                let resp = validate::response_to(&req, 200, "OK", Some("fz"), &[], None);
                match validate::validate(&resp, &Limits::default()) {
                    Verdict::Response(r) => {
                        assert_eq!(r.call_id, req.call_id);
                        assert_eq!(r.cseq, req.cseq);
                        assert_eq!(r.branch, req.branch);
                    }
                    other => panic!(
                        "our response to an accepted request is refused: {other:?}\n{}",
                        String::from_utf8_lossy(&resp)
                    ),
                }
            }
            Verdict::Reject(rejection) => {
                assert!((400..700).contains(&rejection.status));
                let _ = validate::validate(&rejection.bytes, &limits);
            }
            Verdict::Response(_) | Verdict::Drop(_) => {}
        }
    }
    gateway_scenario(data);
}

/// The last message the gateway sent to one peer, for the `$` placeholders.
#[derive(Default)]
struct LastSent {
    text: String,
}

impl LastSent {
    fn header(&self, name: &str) -> &str {
        self.text
            .split("\r\n")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
            .unwrap_or("")
    }

    fn fill(&self, part: &[u8]) -> Vec<u8> {
        if !part.contains(&b'$') {
            return part.to_vec();
        }
        let mut out = part.to_vec();
        for (token, header) in [
            ("$VIA", "Via"),
            ("$FROM", "From"),
            ("$TO", "To"),
            ("$CALLID", "Call-ID"),
            ("$CSEQ", "CSeq"),
        ] {
            out = replace(&out, token.as_bytes(), self.header(header).as_bytes());
        }
        out
    }
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn split<'a>(data: &'a [u8], separator: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(separator.len()).position(|w| w == separator) {
            Some(i) => {
                rest = Some(&r[i + separator.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn gateway_scenario(data: &[u8]) {
    let start = epoch();
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("address");
    let config = GatewayConfig {
        local_addr: local,
        timers: TimerConfig::default(),
        limits: Limits::default(),
        ring_timeout: Duration::from_secs(30),
    };
    let registrar = Registrar::new(RegistrarConfig::new("127.0.0.1"), None, [7; 32], start);
    let mut gw = Gateway::new(config, SeatRouter, registrar, 42).with_anchor(AnchorConfig {
        address: local.ip(),
        ports: 20000..=20099,
    });
    let caller = Peer::udp(CALLER.parse().expect("address"));
    let seat = Peer::udp(SEAT.parse().expect("address"));
    let register = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {SEAT};branch=z9hG4bKreg1\r\n\
         From: <sip:1001@127.0.0.1>;tag=r1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg-1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:1001@{SEAT}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let mut now = start;
    gw.handle_message(now, seat, register.as_bytes());
    let mut last = [LastSent::default(), LastSent::default()];
    let drain = |gw: &mut Gateway<SeatRouter>, last: &mut [LastSent; 2]| {
        while let Some(t) = gw.poll_transmit() {
            let i = if t.to == caller {
                0
            } else if t.to == seat {
                1
            } else {
                continue;
            };
            last[i].text = String::from_utf8_lossy(&t.bytes).into_owned();
            if trace() {
                let first = last[i].text.lines().next().unwrap_or("");
                eprintln!("  gateway -> {}: {first}", ["caller", "seat"][i]);
            }
        }
        while gw.poll_event().is_some() {}
        while gw.poll_media().is_some() {}
    };
    drain(&mut gw, &mut last);
    for (i, part) in split(data, SIP_SEPARATOR).take(16).enumerate() {
        now += Duration::from_secs(1);
        fire_timers(&mut gw, now);
        drain(&mut gw, &mut last);
        let (from, sent) = if i % 2 == 0 {
            (caller, &last[0])
        } else {
            (seat, &last[1])
        };
        let message = sent.fill(part);
        if trace() {
            let first = message.split(|&b| b == b'\r').next().unwrap_or(&[]);
            let who = ["caller", "seat"][i % 2];
            eprintln!("{who} -> gateway: {}", String::from_utf8_lossy(first));
        }
        gw.handle_message(now, from, &message);
        drain(&mut gw, &mut last);
    }
    // Let every timer run out: retransmissions, Timer B/F/H, the ring timeout, reaping.
    let end = now + Duration::from_secs(300);
    for _ in 0..256 {
        match gw.poll_timeout() {
            Some(at) if at <= end => {
                now = now.max(at);
                gw.handle_timeout(now);
                drain(&mut gw, &mut last);
            }
            _ => break,
        }
    }
}

fn fire_timers(gw: &mut Gateway<SeatRouter>, now: Instant) {
    for _ in 0..64 {
        match gw.poll_timeout() {
            Some(at) if at <= now => gw.handle_timeout(now),
            _ => break,
        }
    }
}

/// `sip_framing`: the input as a TCP byte stream, framed with [`validate::frame`] as the
/// shell does it (with the default size limit and with 512 bytes): once whole, and again as
/// it arrives in reads of 1 to 64 bytes (sizes drawn from the input). Both must frame the
/// same messages and agree on whether the stream breaks; every framed message then goes
/// through [`validate::validate`].
pub fn sip_framing(data: &[u8]) {
    let mut seed = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut reads = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = ((seed >> 33) as usize % 64 + 1).min(rest.len());
        let (read, tail) = rest.split_at(n);
        reads.push(read);
        rest = tail;
    }
    // The default limit, and a small one so oversize streams are reached by short inputs.
    for limits in [
        Limits::default(),
        Limits {
            max_message_bytes: 512,
        },
    ] {
        let whole = frame_stream(&[data], &limits);
        let chunked = frame_stream(&reads, &limits);
        assert_eq!(whole, chunked, "framing depends on how the stream was read");
        for message in &whole.0 {
            let _ = validate::validate(message, &limits);
        }
    }
}

/// The messages framed off a stream, and whether it ended in [`Frame::Invalid`].
fn frame_stream(reads: &[&[u8]], limits: &Limits) -> (Vec<Vec<u8>>, bool) {
    let mut buf = Vec::new();
    let mut messages = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match validate::frame(&buf, limits) {
                Frame::Complete(n) => {
                    assert!(n > 0 && n <= buf.len());
                    messages.push(buf.drain(..n).collect());
                }
                Frame::KeepAlive(n) => {
                    assert!(n > 0 && n <= buf.len());
                    buf.drain(..n);
                }
                Frame::Incomplete => break,
                Frame::Invalid(_) => return (messages, true),
            }
        }
    }
    (messages, false)
}

/// `sdp_parse`: [`Session::parse`]; on what parses, [`sdp::choose`] with each of our codec
/// preferences, [`sdp::answer`] (which must parse again and choose the same codec),
/// [`sdp::rewrite`] (which must parse again) and [`Session::audio_endpoint`].
pub fn sdp_parse(data: &[u8]) {
    let Ok(offer) = Session::parse(data) else {
        return;
    };
    let _ = offer.audio_endpoint();
    let ours = Endpoint {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 20000,
    };
    for prefs in [&[sdp::PCMU, sdp::PCMA][..], &[sdp::PCMA], &[]] {
        let Ok(choice) = sdp::choose(&offer, prefs) else {
            continue;
        };
        let mut origin = Origin::new(1, ours.addr);
        let body = sdp::answer(&offer, &choice, ours, &mut origin);
        let answer = match Session::parse(&body) {
            Ok(a) => a,
            Err(e) => panic!(
                "our answer does not parse ({e}):\n{}",
                String::from_utf8_lossy(&body)
            ),
        };
        assert_eq!(
            answer.media.len(),
            offer.media.len(),
            "one m-line per offered m-line"
        );
        assert_eq!(answer.audio_endpoint(), Some(ours));
        let again = sdp::choose(&answer, prefs).expect("our answer has the chosen codec");
        assert_eq!(again.encoding, choice.encoding);
        assert_eq!(again.dtmf_payload_type, choice.dtmf_payload_type);
    }
    if let Ok(body) = sdp::rewrite(data, ours) {
        if let Err(e) = Session::parse(&body) {
            panic!(
                "a rewritten body does not parse ({e}):\n{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

/// `rtp`: datagrams into a [`MediaCall`] of three legs (PCMU with telephone-event 101,
/// PCMA with telephone-event 96, PCMU without), and each payload through the RFC 4733
/// parser and a [`DtmfReceiver`].
///
/// Byte 0 picks the arrangement: bits 0–1 who hears whom (0: 0↔1 bridged; 1: all three
/// mixed; 2: 1 and 2 both hear 0, 0 hears 2; 3: 0↔1 bridged, 2 hears 0), bit 2 leaves leg
/// 1's address to be latched, bit 3 sends digits to leg 0. Then records of `[h, n, n
/// bytes]`: the datagram arrives on leg `h & 3` (3: a leg that does not exist), from its
/// SDP address or, with bit 2, from another; bit 3 runs the 20 ms tick first; the clock
/// advances `h >> 4` × 5 ms.
pub fn rtp(data: &[u8]) {
    let Some((&arrangement, mut rest)) = data.split_first() else {
        return;
    };
    let mut now = epoch();
    let mut call = MediaCall::new();
    let remote = |leg: u8| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, leg)), 40000);
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 40002);
    let choice = |payload_type: u8, encoding: &'static str, dtmf: Option<u8>| sdp::Choice {
        payload_type,
        encoding,
        dtmf_payload_type: dtmf,
        ptime_ms: 20,
    };
    let (l0, l1, l2) = (LegId(0), LegId(1), LegId(2));
    call.add_leg(
        l0,
        choice(0, "PCMU", Some(101)),
        Some(remote(0)),
        1,
        100,
        1000,
        now,
    );
    let leg1_remote = (arrangement & 4 == 0).then(|| remote(1));
    call.add_leg(
        l1,
        choice(8, "PCMA", Some(96)),
        leg1_remote,
        2,
        200,
        2000,
        now,
    );
    call.add_leg(
        l2,
        choice(0, "PCMU", None),
        Some(remote(2)),
        3,
        300,
        3000,
        now,
    );
    match arrangement & 3 {
        0 => call.bridge(l0, l1),
        1 => call.mix(&[l0, l1, l2]),
        2 => {
            call.set_feed(l1, Feed::Leg(l0));
            call.set_feed(l2, Feed::Leg(l0));
            call.set_feed(l0, Feed::Leg(l2));
        }
        _ => {
            call.bridge(l0, l1);
            call.set_feed(l2, Feed::Leg(l0));
        }
    }
    if arrangement & 8 != 0 {
        call.send_digits(l0, "12#*");
    }
    let mut receiver = DtmfReceiver::new();
    while let [h, n, tail @ ..] = rest {
        let n = usize::from(*n).min(tail.len());
        let (packet, tail) = tail.split_at(n);
        rest = tail;
        now += Duration::from_millis(5 * u64::from(h >> 4));
        if h & 8 != 0 {
            call.on_tick(now);
        }
        let leg = h & 3;
        let from = if h & 4 != 0 { stranger } else { remote(leg) };
        let mut pkt = packet.to_vec();
        let _ = call.on_rtp(now, LegId(leg), from, &mut pkt);
        while call.poll_transmit().is_some() {}
        while call.poll_event().is_some() {}
        if let Some(payload) = packet.get(12..) {
            let _ = EventPayload::parse(payload);
            let ts = packet
                .get(4..8)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let marker = packet.get(1).is_some_and(|b| b & 0x80 != 0);
            receiver.on_packet(ts, marker, payload).for_each(drop);
        }
    }
    now += Duration::from_secs(1);
    call.on_tick(now);
    call.check_timeouts(now, Duration::from_millis(500));
    let _ = call.media_counters();
    while call.poll_transmit().is_some() {}
    while call.poll_event().is_some() {}
}

/// `config`: the input, if UTF-8, through [`hotline::config::parse`]. An error must render,
/// every line starting with the file name and no line empty.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match hotline::config::parse("fuzz.toml", text) {
        Ok(plan) => drop(plan),
        Err(e) => {
            assert!(!e.problems().is_empty(), "an error with no problem");
            let shown = e.to_string();
            for line in shown.lines() {
                assert!(
                    line.starts_with("fuzz.toml"),
                    "line without its file: {line:?}"
                );
            }
            assert_eq!(
                shown.lines().count(),
                e.problems().len(),
                "one line per problem:\n{shown}"
            );
        }
    }
}

/// `wav`: the input as a prompt file through [`media::wav::parse`]. An error must render; a
/// prompt written back with [`media::wav::write_pcm16`] must parse to the same samples.
pub fn wav(data: &[u8]) {
    match media::wav::parse(data) {
        Ok(prompt) => {
            let again = media::wav::parse(&media::wav::write_pcm16(prompt.samples()))
                .expect("our own WAV parses");
            assert_eq!(again.samples(), prompt.samples());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
