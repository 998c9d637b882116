//! The platform core on a fake clock with the shipped Zhengzhou plan: SIP bytes in, SIP
//! bytes and records out, no sockets or sleeps. A seat whose registration lapses leaves
//! routing; a seat that does not answer sends the call back to the queue and the next seat
//! gets it; the records tell the same story.
#![allow(clippy::disallowed_methods)] // the fake clock starts from the real one, once

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::api::SeatStateRequest;
use hotline::config;
use hotline::engine::audio::MediaCommand;
use hotline::engine::{Engine, PlatformRouter, WallClock};
use hotline::metrics::Metrics;
use hotline::record::{QueueEventKind, Record};
use media::call::LegId;
use media::plane::MediaEvent;
use media::player::Clip;
use sip_gateway::b2bua::{AnchorConfig, Gateway, GatewayConfig};
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::transaction::TimerConfig;
use sip_gateway::validate::Limits;
use sip_gateway::Peer;

const CARRIER: &str = "127.0.0.1:6000";

struct H {
    engine: Engine,
    now: Instant,
    records: Vec<Record>,
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
        Self::build(false)
    }

    /// With media anchored on ports 40000.. and the plan's audio, as `hotline serve` runs.
    fn anchored() -> Self {
        Self::build(true)
    }

    fn build(anchored: bool) -> Self {
        let now = Instant::now();
        let plan = config::zhengzhou();
        let mut gw = Gateway::new(
            GatewayConfig {
                local_addr: "127.0.0.1:5060".parse().expect("addr"),
                timers: TimerConfig::default(),
                limits: Limits::default(),
                ring_timeout: Duration::from_secs(30),
            },
            PlatformRouter::new(
                plan.acd.seats.iter().map(|s| s.id.0.to_string()),
                Duration::from_secs(30),
            ),
            Registrar::new(RegistrarConfig::new("127.0.0.1"), None, [7; 32], now),
            42,
        );
        if anchored {
            gw = gw.with_anchor(AnchorConfig {
                address: "127.0.0.1".parse().expect("ip"),
                ports: 40000..=40099,
            });
        }
        let mut engine = Engine::new(
            &plan,
            gw,
            Arc::new(Metrics::new()),
            1,
            WallClock::new(now, 1_800_000_000_000),
            Duration::from_secs(30),
        )
        .expect("engine");
        if anchored {
            engine = engine.with_audio(&plan);
        }
        Self {
            engine,
            now,
            records: Vec::new(),
        }
    }

    fn send(&mut self, from: &str, text: &str) -> Vec<(Peer, String)> {
        let now = self.now;
        self.engine.handle_message(now, peer(from), text.as_bytes());
        self.drain()
    }

    fn drain(&mut self) -> Vec<(Peer, String)> {
        self.records
            .extend(std::iter::from_fn(|| self.engine.poll_record()));
        std::iter::from_fn(|| self.engine.poll_transmit())
            .map(|t| (t.to, String::from_utf8_lossy(&t.bytes).into_owned()))
            .collect()
    }

    fn advance(&mut self, d: Duration) -> Vec<(Peer, String)> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.engine.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    fn register(&mut self, seat: &str, addr: &str, expires: u32) {
        let sent = self.send(
            addr,
            &format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKr{seat}{expires}\r\n\
                 From: <sip:{seat}@127.0.0.1>;tag=r{seat}\r\nTo: <sip:{seat}@127.0.0.1>\r\n\
                 Call-ID: reg-{seat}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{seat}@{addr}>\r\n\
                 Expires: {expires}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ),
        );
        assert!(sent[0].1.starts_with("SIP/2.0 200"), "{sent:?}");
    }

    fn state(&self, seat: &str) -> String {
        self.engine.seat(self.now, seat).expect("seat").state
    }

    fn ready(&mut self, seat: &str) {
        let now = self.now;
        self.engine
            .set_seat_state(now, seat, &SeatStateRequest::Ready { reason: None }, "api")
            .expect("ready");
        self.drain();
    }

    fn dial(&mut self, number: &str, call_id: &str) -> Vec<(Peer, String)> {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n";
        self.send(
            CARRIER,
            &format!(
                "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bK{call_id}\r\n\
                 From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:{number}@127.0.0.1>\r\n\
                 Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CARRIER}>\r\nMax-Forwards: 70\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ),
        )
    }
}

#[test]
fn a_seat_whose_registration_lapses_leaves_routing() {
    let mut h = H::new();
    h.register("1001", "127.0.0.1:7001", 60);
    h.ready("1001");
    assert_eq!(h.state("1001"), "ready");
    h.advance(Duration::from_secs(61));
    assert_eq!(h.state("1001"), "logged_out");
    let view = h.engine.seat(h.now, "1001").expect("seat");
    assert!(!view.registered);
    assert!(h.records.iter().any(|r| matches!(
        r,
        Record::SeatState { seat: 1001, state, source, .. }
            if state == "logged_out" && source == "registration"
    )));
    // A caller now waits: nobody is left to ring.
    let sent = h.dial("12345", "lapse-1");
    assert!(
        sent.iter().all(|(p, _)| *p == peer(CARRIER)),
        "no seat is rung: {sent:?}"
    );
    assert_eq!(h.engine.calls(h.now)[0].state, "waiting");
}

#[test]
fn a_seat_that_does_not_answer_sends_the_call_to_the_next_seat() {
    let mut h = H::new();
    h.register("1001", "127.0.0.1:7001", 3600);
    h.register("1002", "127.0.0.1:7002", 3600);
    h.ready("1001");
    h.advance(Duration::from_secs(1));
    h.ready("1002");

    let sent = h.dial("12349", "nr-1");
    assert!(sent
        .iter()
        .any(|(p, t)| *p == peer(CARRIER) && t.starts_with("SIP/2.0 180")));
    let (_, invite) = sent
        .iter()
        .find(|(p, t)| *p == peer("127.0.0.1:7001") && t.starts_with("INVITE"))
        .expect("the longest idle seat, 1001, is rung first");
    let to_tag_less = header(invite, "To").to_owned();
    assert!(to_tag_less.contains("1001"));

    // The plan's ring timeout is 10 s: then 1002 rings, and 1001 gets a CANCEL only after
    // its own provisional (none came), so it is simply abandoned by Timer B.
    let out = h.advance(Duration::from_secs(10));
    assert!(
        out.iter()
            .any(|(p, t)| *p == peer("127.0.0.1:7002") && t.starts_with("INVITE")),
        "{out:?}"
    );
    let calls = h.engine.calls(h.now);
    assert_eq!(calls[0].state, "ringing");
    assert_eq!(calls[0].seat.as_deref(), Some("1002"));
    assert_eq!(calls[0].topic.as_deref(), Some("民政"));
    assert_eq!(calls[0].line, "12349");

    let kinds: Vec<QueueEventKind> = h
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Queue { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            QueueEventKind::Enter,
            QueueEventKind::Offer,
            QueueEventKind::RingNoAnswer,
            QueueEventKind::Offer
        ]
    );
}

#[test]
fn a_feature_code_is_answered_with_a_cue_and_hung_up_after_it() {
    let mut h = H::anchored();
    h.register("1002", "127.0.0.1:7002", 3600);
    let sdp = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7078 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let sent = h.send(
        "127.0.0.1:7002",
        &format!(
            "INVITE sip:*11@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7002;branch=z9hG4bKf11\r\n\
             From: <sip:1002@127.0.0.1>;tag=p1\r\nTo: <sip:*11@127.0.0.1>\r\n\
             Call-ID: f11\r\nCSeq: 1 INVITE\r\nContact: <sip:1002@127.0.0.1:7002>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    let ok = &sent
        .iter()
        .find(|(_, t)| t.starts_with("SIP/2.0 200"))
        .expect("answered")
        .1;
    assert!(
        ok.contains("m=audio 40000 RTP/AVP 8"),
        "PCMA first, as offered: {ok}"
    );
    assert!(ok.contains("c=IN IP4 127.0.0.1"));
    assert_eq!(h.state("1002"), "ready");
    let orders: Vec<MediaCommand> = std::iter::from_fn(|| h.engine.poll_media()).collect();
    let Some(MediaCommand::Open {
        call,
        port: 40000,
        remote: Some(remote),
        choice,
        ..
    }) = orders.first().cloned()
    else {
        panic!("the phone's leg opened first: {orders:?}");
    };
    assert_eq!(remote, "127.0.0.1:7078".parse().expect("addr"));
    assert_eq!((choice.payload_type, choice.encoding), (8, "PCMA"));
    assert!(
        orders.iter().any(|o| matches!(
            o,
            MediaCommand::Play { call: c, leg, playlist }
                if *c == call && *leg == LegId::CALLER
                    && matches!(playlist.clips[..], [Clip::Tone(_)])
        )),
        "the cue is played to the phone: {orders:?}"
    );
    let to = header(ok, "To").to_owned();
    h.send(
        "127.0.0.1:7002",
        &format!(
            "ACK sip:gw@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7002;branch=z9hG4bKf11a\r\n\
             From: <sip:1002@127.0.0.1>;tag=p1\r\nTo: {to}\r\nCall-ID: f11\r\nCSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    let before = h.advance(Duration::from_millis(600));
    assert!(
        before.iter().all(|(_, t)| !t.starts_with("BYE")),
        "not before the cue has played"
    );
    let now = h.now;
    h.engine.on_media_event(
        now,
        MediaEvent::PlayDone {
            call,
            leg: LegId::CALLER,
        },
    );
    let soon = h.advance(Duration::from_millis(200));
    assert!(
        soon.iter().all(|(_, t)| !t.starts_with("BYE")),
        "a moment after it"
    );
    let after = h.advance(Duration::from_millis(200));
    assert!(
        after
            .iter()
            .any(|(p, t)| *p == peer("127.0.0.1:7002") && t.starts_with("BYE")),
        "{after:?}"
    );
}

#[test]
fn a_seat_on_an_internal_call_is_not_offered_queued_calls() {
    let mut h = H::new();
    h.register("1001", "127.0.0.1:7001", 3600);
    h.register("1002", "127.0.0.1:7002", 3600);
    h.ready("1001");
    // 1002 dials 1001 directly.
    let sent = h.send(
        "127.0.0.1:7002",
        "INVITE sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7002;branch=z9hG4bKint1\r\n\
         From: <sip:1002@127.0.0.1>;tag=i1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: int1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:1002@127.0.0.1:7002>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(sent
        .iter()
        .any(|(p, t)| *p == peer("127.0.0.1:7001") && t.starts_with("INVITE")));
    assert_eq!(h.state("1001"), "not_ready");
    // A queued caller now waits instead of ringing 1001 a second time.
    let sent = h.dial("12345", "q1");
    assert!(
        sent.iter().all(|(p, _)| *p != peer("127.0.0.1:7001")),
        "{sent:?}"
    );
    // 1002 hangs up before an answer: 1001 is ready again and takes the waiting call.
    let out = h.send(
        "127.0.0.1:7002",
        "CANCEL sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7002;branch=z9hG4bKint1\r\n\
         From: <sip:1002@127.0.0.1>;tag=i1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: int1\r\n\
         CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    let offers: Vec<_> = out
        .iter()
        .filter(|(p, t)| *p == peer("127.0.0.1:7001") && t.starts_with("INVITE"))
        .collect();
    assert_eq!(offers.len(), 1, "the queued call rings 1001: {out:?}");
    assert_eq!(h.state("1001"), "ringing");
}

#[test]
fn the_wallboard_shows_waiting_calls_surge_reasons_and_the_hours_of_today() {
    let mut h = H::new();
    h.dial("12349", "board-1");
    h.advance(Duration::from_secs(5));
    let board = h.engine.wallboard(h.now);
    assert_eq!(board.waiting_calls.len(), 1);
    assert_eq!(board.waiting_calls[0].line, "12349");
    assert_eq!(board.waiting_calls[0].waited_ms, 5_000);
    let q = &board.queues[0];
    assert_eq!((q.name.as_str(), q.waiting), ("12345", 1));
    let minzheng = board
        .lines
        .iter()
        .find(|l| l.number == "12349")
        .expect("line");
    assert_eq!(
        (minzheng.name.as_str(), minzheng.queue.as_str()),
        ("民政服务电话", "12345")
    );
    assert_eq!(board.seats["intake"]["logged_out"], 114);
    assert_eq!(board.seats["surge"]["ready"], 0);
    assert_eq!(board.seats["support"].len(), 6, "every state listed");
    let stats = &board.stats;
    assert_eq!(stats.platform["today"].offered, 1);
    assert_eq!(stats.platform["today"].waiting_now, 1);
    assert_eq!(stats.platform["1h"].longest_wait_ms, Some(5_000));
    assert!(stats.transfers.iter().any(|t| t.target == "renshe"
        && t.number == "12333"
        && t.outcomes.values().all(|&n| n == 0)
        && t.outcomes.len() == hotline::metrics::TRANSFER_OUTCOMES.len()));
    // 1_800_000_000_000 is 16:00 in Beijing: hours 0 to 16, the call in the last one.
    let hours = &stats.today_by_hour;
    assert_eq!(hours.len(), 17);
    assert_eq!(hours[16].hour, 16);
    assert_eq!(hours[16].start, 1_800_000_000_000);
    assert_eq!(hours[16].offered, 1);
    assert_eq!(hours[0].start, 1_800_000_000_000 - 16 * 3_600_000);
    assert_eq!(stats.surge_reason, None);

    // Nobody answers: after 60 s the longest wait is behind, 40 s later surge opens.
    h.advance(Duration::from_secs(100));
    let reason = h.engine.stats(h.now).surge_reason.expect("surge opened");
    assert!(reason.open);
    assert_eq!(reason.reason, "longest_wait");
    assert!(reason.value.is_some_and(|ms| ms >= 60_000.0), "{reason:?}");
    assert!(reason.at > 1_800_000_000_000 + 60_000, "{reason:?}");

    // A supervisor closes it by hand.
    let now = h.now;
    assert!(!h.engine.set_surge(now, false));
    let reason = h.engine.stats(h.now).surge_reason.expect("surge closed");
    assert!(!reason.open);
    assert_eq!((reason.reason.as_str(), reason.value), ("manual", None));
    assert_eq!(reason.at, 1_800_000_000_000 + 105_000);
}
