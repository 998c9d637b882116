//! One-key transfers end to end through `hotline serve`: a raw SIP caller talks to a SIPp seat,
//! the seat's call is transferred over the HTTP API to SIPp sub-platform trunks that check the
//! context headers; the three-way media is verified through the mixer (the caller hears seat
//! and target, not itself), and the failure paths leave caller and seat together.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// The shipped plan with the targets' trunks moved to `trunks` (shipped address → test port).
fn plan_with_trunks(dir: &TestDir, trunks: &[(&str, u16)]) -> String {
    let mut text = include_str!("../../../deploy/zhengzhou.toml").to_owned();
    for (shipped, port) in trunks {
        assert!(text.contains(shipped), "the shipped plan has {shipped}");
        text = text.replace(shipped, &format!("127.0.0.1:{port}"));
    }
    let path = dir.file("plan.toml");
    std::fs::write(&path, text).expect("write plan");
    path.display().to_string()
}

/// What a caller heard: when each packet came, decoded.
type Heard = Arc<Mutex<Vec<(Instant, Vec<i16>)>>>;

/// A raw caller in a call: sends a 500 Hz PCMA tone to the gateway, keeps what it hears.
struct Caller {
    sip: UdpSocket,
    gw_port: u16,
    tag: &'static str,
    to: String,
    heard: Heard,
    stop: Arc<AtomicBool>,
}

impl Caller {
    fn call(gw: &Gateway, tag: &'static str) -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let media = UdpSocket::bind("127.0.0.1:0").unwrap();
        let req = invite(
            &sip,
            gw.port,
            media.local_addr().unwrap().port(),
            "12345",
            tag,
        );
        sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
        let ok = until_reply(&sip, 200, "INVITE", Duration::from_secs(10));
        let to = header(&ok, "To").to_owned();
        let body = ok.split("\r\n\r\n").nth(1).unwrap_or_default();
        let rtp_port: u16 = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("m=audio");
        let local = sip.local_addr().unwrap().port();
        let ack = format!(
            "ACK sip:12345@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{tag}-ack\r\n\
             From: <sip:raw@127.0.0.1:{local}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {tag}@raw\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = gw.port
        );
        sip.send_to(ack.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
        let heard: Heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx_media, rx_media) = (media.try_clone().unwrap(), media);
        let s = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut tone = media::tone::Tone::new(500.0, media::tone::Level::Dbm0(-10.0));
            let mut pcm = [0i16; 160];
            let start = Instant::now();
            for i in 0u32.. {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                tone.fill(&mut pcm);
                let mut p = vec![0x80, 8];
                p.extend_from_slice(&(i as u16).to_be_bytes());
                p.extend_from_slice(&(i * 160).to_be_bytes());
                p.extend_from_slice(&0xCA11_E500_u32.to_be_bytes());
                p.extend(pcm.iter().map(|&x| media::g711::Codec::Pcma.encode(x)));
                let _ = tx_media.send_to(&p, ("127.0.0.1", rtp_port));
                let next = start + Duration::from_millis(20 * u64::from(i + 1));
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        let (h, s) = (Arc::clone(&heard), Arc::clone(&stop));
        std::thread::spawn(move || {
            rx_media
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, _)) = rx_media.recv_from(&mut buf) {
                    if n > 12 && buf[1] & 0x7f == 8 {
                        let pcm = buf[12..n]
                            .iter()
                            .map(|&b| media::g711::Codec::Pcma.decode(b))
                            .collect();
                        h.lock().unwrap().push((Instant::now(), pcm));
                    }
                }
            }
        });
        Self {
            sip,
            gw_port: gw.port,
            tag,
            to,
            heard,
            stop,
        }
    }

    /// Power at 500 (itself), 1000 (the seat) and 1500 Hz (the target) in what it heard
    /// during the last `window`.
    fn hears(&self, window: Duration) -> (f32, f32, f32) {
        let since = Instant::now() - window;
        let pcm: Vec<i16> = self
            .heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= since)
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        assert!(
            pcm.len() >= 4000,
            "heard {} samples in {window:?}",
            pcm.len()
        );
        (
            tone_power(&pcm, 500.0),
            tone_power(&pcm, 1000.0),
            tone_power(&pcm, 1500.0),
        )
    }

    fn hang_up(self) {
        let local = self.sip.local_addr().unwrap().port();
        let bye = format!(
            "BYE sip:12345@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{tag}-bye\r\n\
             From: <sip:raw@127.0.0.1:{local}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {tag}@raw\r\n\
             CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = self.gw_port,
            tag = self.tag,
            to = self.to
        );
        self.sip
            .send_to(bye.as_bytes(), ("127.0.0.1", self.gw_port))
            .unwrap();
        until_reply(&self.sip, 200, "BYE", Duration::from_secs(5));
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The API's id of the one call in progress.
fn call_id(gw: &Gateway) -> u64 {
    let (status, body) = http(gw.http, "GET", "/api/v1/calls", None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["calls"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("a call: {body}"))
}

fn transfer(gw: &Gateway, call: u64, body: &str) -> (u16, String) {
    http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{call}/transfer"),
        Some(body),
    )
}

fn transfers(gw: &Gateway) -> Vec<(String, String, String, bool)> {
    let conn = rusqlite::Connection::open_with_flags(
        gw.data.join("hotline.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db");
    let mut st = conn
        .prepare("SELECT target, mode, outcome, answered_at IS NOT NULL FROM transfers ORDER BY call, transfer")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn a_three_way_call_mixes_caller_seat_and_sub_platform_then_the_seat_leaves() {
    let dir = TestDir::new("transfer_three_way");
    let seat_tone = dir.file("seat-1000hz.pcap");
    let target_tone = dir.file("target-1500hz.pcap");
    write_tone_pcap(&seat_tone, 1000.0, 20);
    write_tone_pcap(&target_tone, 1500.0, 20);
    let seat = Sipp::new(&dir, "seat")
        .arg("-sf")
        .arg(scenario_with_pcap(&dir, "uas_tone.xml", &seat_tone))
        .calls(1)
        .timeout(60);
    let trunk = Sipp::new(&dir, "trunk-12333")
        .arg("-sf")
        .arg(scenario_with_pcap(&dir, "uas_trunk.xml", &target_tone))
        .calls(1)
        .timeout(60);
    let plan = plan_with_trunks(&dir, &[("127.0.0.1:5071", trunk.local_port)]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());

    let caller = Caller::call(&gw, "tw1");
    std::thread::sleep(Duration::from_millis(1500));
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        s > 100.0 * own.max(1.0) && s > 100.0 * t.max(1.0),
        "the seat only: {own} {s} {t}"
    );

    let id = call_id(&gw);
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"three_way"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"ringing""#), "{body}");
    assert!(body.contains(r#""target":"renshe""#), "{body}");
    // A second transfer while one is pending: 409, nothing changes.
    let (status, body) = transfer(&gw, id, r#"{"target":"12329","mode":"blind"}"#);
    assert_eq!(status, 409, "{body}");

    std::thread::sleep(Duration::from_millis(1500));
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        s > 20.0 * own.max(1.0),
        "the seat, not itself: {own} {s} {t}"
    );
    assert!(
        t > 20.0 * own.max(1.0),
        "the target, not itself: {own} {s} {t}"
    );

    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{id}/transfer/complete"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"completed""#), "{body}");
    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat is hung up", &[&seat], &gw)
    );

    std::thread::sleep(Duration::from_millis(1500));
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        t > 100.0 * s.max(1.0) && t > 100.0 * own.max(1.0),
        "the target only: {own} {s} {t}"
    );

    caller.hang_up();
    let trunk = trunk.finish(Duration::from_secs(10));
    assert!(
        trunk.ok(),
        "{}",
        failure("the trunk: context headers, BYE", &[&trunk], &gw)
    );

    let text = metrics(&gw);
    assert_eq!(
        metric(
            &text,
            "hotline_transfers_total",
            &[("target", "renshe"), ("outcome", "completed")]
        ),
        1.0,
        "{text}"
    );
    eventually(Duration::from_secs(5), "transfer stored", || {
        !transfers(&gw).is_empty()
    });
    assert_eq!(
        transfers(&gw),
        vec![(
            "renshe".into(),
            "three_way".into(),
            "completed".into(),
            true
        )]
    );
}

#[test]
fn failed_and_cancelled_transfers_leave_caller_and_seat_together() {
    let dir = TestDir::new("transfer_failures");
    let seat_tone = dir.file("seat-1000hz.pcap");
    write_tone_pcap(&seat_tone, 1000.0, 30);
    let seat = Sipp::new(&dir, "seat")
        .arg("-sf")
        .arg(scenario_with_pcap(&dir, "uas_tone.xml", &seat_tone))
        .calls(1)
        .timeout(60);
    let busy = Sipp::seat(&dir, "trunk-busy", "uas_reject_486.xml")
        .calls(1)
        .timeout(60);
    let ringing = Sipp::seat(&dir, "trunk-ringing", "uas_ring_expect_cancel.xml")
        .calls(1)
        .timeout(60);
    let plan = plan_with_trunks(
        &dir,
        &[
            ("127.0.0.1:5071", busy.local_port),
            ("127.0.0.1:5072", ringing.local_port),
        ],
    );
    let gw = Gateway::start(&dir, &["--config", &plan]);
    // Bad input first: no call, unknown call id.
    let (status, body) = transfer(&gw, 999, r#"{"target":"12333","mode":"three_way"}"#);
    assert_eq!(status, 404, "{body}");
    register_seat(&dir, &gw, "1001", seat.local_port, false);

    // A call that is still waiting cannot be transferred.
    let waiting = UdpSocket::bind("127.0.0.1:0").unwrap();
    let req = invite(&waiting, gw.port, 9, "12345", "wait1");
    waiting
        .send_to(req.as_bytes(), ("127.0.0.1", gw.port))
        .unwrap();
    until_status(&waiting, 183, Duration::from_secs(5));
    let id = call_id(&gw);
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"blind"}"#);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("call_not_answered"), "{body}");
    let req = cancel(&waiting, gw.port, "12345", "wait1");
    waiting
        .send_to(req.as_bytes(), ("127.0.0.1", gw.port))
        .unwrap();
    until_status(&waiting, 487, Duration::from_secs(5));

    ready(&gw, "1001");
    let (seat, busy, ringing) = (seat.spawn(), busy.spawn(), ringing.spawn());
    let caller = Caller::call(&gw, "tf1");
    let id = call_id(&gw);
    let (status, body) = transfer(&gw, id, r#"{"target":"nowhere","mode":"three_way"}"#);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("unknown_target"), "{body}");
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"sideways"}"#);
    assert_eq!(status, 422, "{body}");

    // Busy: the caller stays with the seat.
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"three_way"}"#);
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(5), "busy counted", || {
        metric(
            &metrics(&gw),
            "hotline_transfers_total",
            &[("target", "renshe"), ("outcome", "busy")],
        ) == 1.0
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (own, s, _) = caller.hears(Duration::from_secs(1));
    assert!(s > 100.0 * own.max(1.0), "back with the seat: {own} {s}");
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{id}/transfer/complete"),
        None,
    );
    assert_eq!(status, 409, "nothing to complete: {body}");

    // Cancelled while ringing: the target gets CANCEL.
    let (status, body) = transfer(&gw, id, r#"{"target":"12329","mode":"blind"}"#);
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{id}/transfer/cancel"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"cancelled""#), "{body}");
    std::thread::sleep(Duration::from_millis(1500));
    let (own, s, _) = caller.hears(Duration::from_secs(1));
    assert!(s > 100.0 * own.max(1.0), "with the seat again: {own} {s}");

    caller.hang_up();
    for run in [
        seat.finish(Duration::from_secs(10)),
        busy.finish(Duration::from_secs(10)),
        ringing.finish(Duration::from_secs(10)),
    ] {
        assert!(run.ok(), "{}", failure("peers", &[&run], &gw));
    }
    eventually(Duration::from_secs(5), "transfers stored", || {
        transfers(&gw).len() == 2
    });
    assert_eq!(
        transfers(&gw),
        vec![
            ("renshe".into(), "three_way".into(), "busy".into(), false),
            (
                "gongjijin".into(),
                "blind".into(),
                "cancelled".into(),
                false
            ),
        ]
    );
}
