//! One-key transfers end to end through `hotline serve`: a raw SIP caller talks to a SIPp seat,
//! the seat's call is transferred over the HTTP API to SIPp sub-platform trunks that check the
//! context headers; the three-way media is verified through the mixer (the caller hears seat
//! and target, not itself), and the failure paths leave caller and seat together.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// The shipped plan with the targets' trunks moved to `trunks` (shipped address → test port).
fn plan_with_trunks(dir: &TestDir, trunks: &[(&str, u16)]) -> String {
    plan_with(dir, trunks, &[])
}

/// As [`plan_with_trunks`], with each `(shipped, replacement)` of `edits` replaced as well
/// (every `shipped` text must occur exactly once in the shipped plan).
fn plan_with(dir: &TestDir, trunks: &[(&str, u16)], edits: &[(&str, &str)]) -> String {
    let mut text = include_str!("../../../deploy/zhengzhou.toml").to_owned();
    for (shipped, port) in trunks {
        assert!(text.contains(shipped), "the shipped plan has {shipped}");
        text = text.replace(shipped, &format!("127.0.0.1:{port}"));
    }
    for (shipped, replacement) in edits {
        assert_eq!(
            text.matches(shipped).count(),
            1,
            "the shipped plan has {shipped:?} once"
        );
        text = text.replace(shipped, replacement);
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
        let stop = Arc::new(AtomicBool::new(false));
        spawn_tone(media.try_clone().unwrap(), rtp_port, 500.0, &stop);
        let heard = spawn_listener(media, &stop);
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
        powers(&self.heard, window)
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

/// Sends a PCMA tone at `freq` Hz to `rtp_port` every 20 ms until `stop`.
fn spawn_tone(media: UdpSocket, rtp_port: u16, freq: f32, stop: &Arc<AtomicBool>) {
    let s = Arc::clone(stop);
    std::thread::spawn(move || {
        let mut tone = media::tone::Tone::new(freq, media::tone::Level::Dbm0(-10.0));
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
            let _ = media.send_to(&p, ("127.0.0.1", rtp_port));
            let next = start + Duration::from_millis(20 * u64::from(i + 1));
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    });
}

/// Keeps what arrives on `media` (PCMA RTP), decoded, until `stop`.
fn spawn_listener(media: UdpSocket, stop: &Arc<AtomicBool>) -> Heard {
    let heard: Heard = Arc::new(Mutex::new(Vec::new()));
    let (h, s) = (Arc::clone(&heard), Arc::clone(stop));
    std::thread::spawn(move || {
        media
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if let Ok((n, _)) = media.recv_from(&mut buf) {
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
    heard
}

/// Power at 500, 1000 and 1500 Hz in what was heard during the last `window`.
fn powers(heard: &Heard, window: Duration) -> (f32, f32, f32) {
    let since = Instant::now() - window;
    let pcm: Vec<i16> = heard
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

/// The caller, talking with the target, hangs up: the trunk's scenario (context headers, then
/// BYE) ends well, and the call's one transfer is stored, completed in `mode`, answered.
fn hang_up_on_target(caller: Caller, trunk: Running, gw: &Gateway, mode: &str) {
    caller.hang_up();
    let trunk = trunk.finish(Duration::from_secs(10));
    assert!(
        trunk.ok(),
        "{}",
        failure("the trunk: context headers, then BYE", &[&trunk], gw)
    );
    eventually(Duration::from_secs(5), "transfer stored", || {
        !transfers(gw).is_empty()
    });
    assert_eq!(
        transfers(gw),
        vec![("renshe".into(), mode.into(), "completed".into(), true)]
    );
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
    // The same count in the figures the wallboard shows.
    let (_, body) = http(gw.http, "GET", "/api/v1/stats", None);
    let stats: serde_json::Value = serde_json::from_str(&body).expect("stats JSON");
    let renshe = stats["transfers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["target"] == "renshe"))
        .unwrap_or_else(|| panic!("renshe in the stats' transfers: {body}"));
    assert_eq!(renshe["outcomes"]["completed"], 1, "{body}");
    assert_eq!(renshe["under_way"], 0, "{body}");
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

// ---------------------------------------------------------------------------------------------
// The remaining paths: no answer, the caller leaving, the seat leaving, the seat's keys, the
// ticket push, an unreachable target.

/// A seat (UAS) running `scenario`, a copy of ours playing a 1000 Hz tone for `seconds`.
fn tone_seat(dir: &TestDir, scenario: &str, seconds: u32) -> Sipp {
    let tone = dir.file("seat-1000hz.pcap");
    write_tone_pcap(&tone, 1000.0, seconds);
    Sipp::new(dir, "seat")
        .arg("-sf")
        .arg(scenario_with_pcap(dir, scenario, &tone))
        .calls(1)
        .timeout(90)
}

/// A sub-platform trunk (uas_trunk.xml) answering with a 1500 Hz tone.
fn tone_trunk(dir: &TestDir) -> Sipp {
    let tone = dir.file("target-1500hz.pcap");
    write_tone_pcap(&tone, 1500.0, 30);
    Sipp::new(dir, "trunk-12333")
        .arg("-sf")
        .arg(scenario_with_pcap(dir, "uas_trunk.xml", &tone))
        .calls(1)
        .timeout(60)
}

/// Every row `sql` selects from the gateway's database, each column as text ("NULL" for null).
fn rows(gw: &Gateway, sql: &str) -> Vec<Vec<String>> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open_with_flags(
        gw.data.join("hotline.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db");
    let mut st = conn.prepare(sql).expect("prepare");
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => "NULL".to_owned(),
                    ValueRef::Integer(v) => v.to_string(),
                    ValueRef::Real(v) => v.to_string(),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn transfer_count(gw: &Gateway, target: &str, outcome: &str) -> f64 {
    metric(
        &metrics(gw),
        "hotline_transfers_total",
        &[("target", target), ("outcome", outcome)],
    )
}

/// The caller hears the seat, and neither itself nor a target.
fn assert_with_seat(caller: &Caller, what: &str) {
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        s > 100.0 * own.max(1.0) && s > 100.0 * t.max(1.0),
        "{what}: the seat only: own {own} seat {s} target {t}"
    );
}

/// The caller hears the target, and neither itself nor the seat.
fn assert_with_target(caller: &Caller, what: &str) {
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        t > 100.0 * own.max(1.0) && t > 100.0 * s.max(1.0),
        "{what}: the target only: own {own} seat {s} target {t}"
    );
}

/// The caller hears seat and target, not itself.
fn assert_three_way(caller: &Caller, what: &str) {
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        s > 20.0 * own.max(1.0) && t > 20.0 * own.max(1.0),
        "{what}: seat and target, not itself: own {own} seat {s} target {t}"
    );
}

#[test]
fn a_target_that_never_answers_fails_after_the_ring_timeout_and_the_caller_stays_with_the_seat() {
    let dir = TestDir::new("transfer_no_answer");
    let seat = tone_seat(&dir, "uas_tone.xml", 30);
    let trunk = Sipp::seat(&dir, "trunk-12333", "uas_ring_forever.xml")
        .calls(1)
        .timeout(60);
    let plan = plan_with(
        &dir,
        &[("127.0.0.1:5071", trunk.local_port)],
        &[(r#"ring_timeout = "30s""#, r#"ring_timeout = "2s""#)],
    );
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());

    let caller = Caller::call(&gw, "na1");
    std::thread::sleep(Duration::from_millis(1200));
    assert_with_seat(&caller, "before the transfer");
    let id = call_id(&gw);
    let started = Instant::now();
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"three_way"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"ringing""#), "{body}");
    eventually(Duration::from_secs(8), "no_answer counted", || {
        transfer_count(&gw, "renshe", "no_answer") == 1.0
    });
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_secs(6),
        "gave up after {after:?}, the ring timeout is 2 s"
    );
    let trunk = trunk.finish(Duration::from_secs(10));
    assert!(
        trunk.ok(),
        "{}",
        failure("the trunk rang and got CANCEL", &[&trunk], &gw)
    );
    // Nothing to complete any more; the seat can transfer again.
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{id}/transfer/complete"),
        None,
    );
    assert_eq!(status, 409, "nothing to complete: {body}");

    std::thread::sleep(Duration::from_millis(1500));
    assert_with_seat(&caller, "after the ring timeout");

    caller.hang_up();
    let seat = seat.finish(Duration::from_secs(10));
    assert!(seat.ok(), "{}", failure("the seat", &[&seat], &gw));
    eventually(Duration::from_secs(5), "transfer stored", || {
        !transfers(&gw).is_empty()
    });
    assert_eq!(
        transfers(&gw),
        vec![(
            "renshe".into(),
            "three_way".into(),
            "no_answer".into(),
            false
        )]
    );
    assert_eq!(
        rows(&gw, "SELECT reason FROM transfers"),
        vec![vec!["no answer within the ring timeout".to_owned()]]
    );
}

#[test]
fn a_caller_who_hangs_up_while_the_target_rings_cancels_the_target() {
    let dir = TestDir::new("transfer_caller_leaves_ringing");
    let seat = tone_seat(&dir, "uas_tone.xml", 30);
    let trunk = Sipp::seat(&dir, "trunk-12333", "uas_ring_forever.xml")
        .calls(1)
        .timeout(60);
    let plan = plan_with_trunks(&dir, &[("127.0.0.1:5071", trunk.local_port)]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());

    let caller = Caller::call(&gw, "cl1");
    std::thread::sleep(Duration::from_millis(1200));
    let (_, seat_before, _) = caller.hears(Duration::from_secs(1));
    let id = call_id(&gw);
    // Blind: the caller hears ringback while the target rings, the seat is silenced.
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"blind"}"#);
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(1500));
    let (_, s, _) = caller.hears(Duration::from_secs(1));
    assert!(
        s * 100.0 < seat_before,
        "blind, ringing: the seat no more: {s} ({seat_before} before)"
    );
    assert_eq!(transfer_count(&gw, "renshe", "caller_left"), 0.0);

    caller.hang_up();
    let trunk = trunk.finish(Duration::from_secs(10));
    assert!(
        trunk.ok(),
        "{}",
        failure("the ringing trunk got CANCEL", &[&trunk], &gw)
    );
    let seat = seat.finish(Duration::from_secs(10));
    assert!(seat.ok(), "{}", failure("the seat got BYE", &[&seat], &gw));
    eventually(Duration::from_secs(5), "caller_left counted", || {
        transfer_count(&gw, "renshe", "caller_left") == 1.0
    });
    eventually(Duration::from_secs(5), "transfer stored", || {
        !transfers(&gw).is_empty()
    });
    assert_eq!(
        transfers(&gw),
        vec![("renshe".into(), "blind".into(), "caller_left".into(), false)]
    );
    assert_eq!(
        rows(&gw, "SELECT reason FROM transfers"),
        vec![vec!["the caller hung up".to_owned()]]
    );
}

#[test]
fn a_seat_that_hangs_up_during_a_three_way_call_completes_the_transfer() {
    let dir = TestDir::new("transfer_seat_leaves_three_way");
    let seat = tone_seat(&dir, "uas_tone_then_bye.xml", 30);
    let trunk = tone_trunk(&dir);
    let plan = plan_with_trunks(&dir, &[("127.0.0.1:5071", trunk.local_port)]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());

    // The seat hangs up 4 s after its answer: transfer at once.
    let caller = Caller::call(&gw, "sl1");
    let answered = Instant::now();
    let id = call_id(&gw);
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"three_way"}"#);
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(answered.elapsed()));
    assert_three_way(&caller, "three-way, before the seat leaves");
    assert_eq!(transfer_count(&gw, "renshe", "completed"), 0.0);

    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat hung up (BYE answered)", &[&seat], &gw)
    );
    eventually(Duration::from_secs(5), "completed counted", || {
        transfer_count(&gw, "renshe", "completed") == 1.0
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_with_target(&caller, "after the seat left");

    hang_up_on_target(caller, trunk, &gw, "three_way");
}

/// A copy of the RFC 4733 key pcap `src` (Ethernet, IPv4, UDP, RTP) at `dst` with every RTP
/// timestamp moved `by` units on: the same key pressed again later. (Played twice as it is,
/// its second press repeats the first's timestamp: a retransmission to the receiver.)
fn retimed_dtmf_pcap(src: &Path, dst: &Path, by: u32) {
    let mut b = std::fs::read(src).expect("read the key pcap");
    assert_eq!(
        u32::from_le_bytes(b[20..24].try_into().unwrap()),
        1,
        "{}: Ethernet",
        src.display()
    );
    let mut off = 24;
    while off + 16 <= b.len() {
        let len = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = off + 16;
        let ip_len = usize::from(b[frame + 14] & 0x0f) * 4;
        let ts = frame + 14 + ip_len + 8 + 4;
        let old = u32::from_be_bytes(b[ts..ts + 4].try_into().unwrap());
        b[ts..ts + 4].copy_from_slice(&old.wrapping_add(by).to_be_bytes());
        off = frame + len;
    }
    std::fs::write(dst, b).expect("write the key pcap");
}

#[test]
fn the_seat_keys_star2_code_pound_then_star3_to_transfer_and_complete() {
    let dir = TestDir::new("transfer_seat_keys");
    let star_again = dir.file("star-again.pcap");
    retimed_dtmf_pcap(
        Path::new("/usr/share/sip-tester/dtmf_2833_star.pcap"),
        &star_again,
        400_000,
    );
    let seat = Sipp::new(&dir, "seat")
        .arg("-sf")
        .arg(scenario_with_pcap(
            &dir,
            "uas_keys_transfer.xml",
            &star_again,
        ))
        .calls(1)
        .timeout(60);
    let trunk = tone_trunk(&dir);
    let plan = plan_with_trunks(&dir, &[("127.0.0.1:5071", trunk.local_port)]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());

    let caller = Caller::call(&gw, "ky1");
    // *2 1 # from about 0.5 s to 1.5 s after the answer, *3 about 3 s later.
    eventually(Duration::from_secs(5), "the keyed transfer rings", || {
        read_lossy(&gw.log).contains("transfer started")
    });
    std::thread::sleep(Duration::from_millis(1200));
    let (own, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        t > 20.0 * own.max(1.0),
        "three-way after *2 1 #: the target, not itself: own {own} seat {s} target {t}"
    );
    assert_eq!(transfer_count(&gw, "renshe", "completed"), 0.0);

    let seat = seat.finish(Duration::from_secs(15));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat keyed *2 1 # and *3, and got BYE", &[&seat], &gw)
    );
    eventually(Duration::from_secs(5), "completed counted", || {
        transfer_count(&gw, "renshe", "completed") == 1.0
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_with_target(&caller, "after *3");

    hang_up_on_target(caller, trunk, &gw, "three_way");
}

/// What the ticket receiver got: (Idempotency-Key, JSON body).
type Tickets = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A ticket receiver on 127.0.0.1 (`POST /tickets`, answers 200) on a runtime of its own;
/// stopped when the runtime is dropped.
fn ticket_receiver() -> (tokio::runtime::Runtime, u16, Tickets) {
    use axum::http::HeaderMap;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let got: Tickets = Arc::new(Mutex::new(Vec::new()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the ticket receiver");
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/tickets",
        // No async syntax here: a plain `rustfmt` (edition 2015) formats this file too.
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            seen.lock().unwrap().push((key, json));
            std::future::ready("ok")
        }),
    );
    rt.spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, app,
    )));
    (rt, port, got)
}

#[test]
fn a_transfer_to_a_target_with_a_ticket_url_pushes_the_ticket() {
    let dir = TestDir::new("transfer_ticket_push");
    let (rt, port, got) = ticket_receiver();
    let seat = tone_seat(&dir, "uas_tone.xml", 30);
    let trunk = tone_trunk(&dir);
    let url = format!("code = \"1\"\nticket_url = \"http://127.0.0.1:{port}/tickets\"\n");
    let plan = plan_with(
        &dir,
        &[("127.0.0.1:5071", trunk.local_port)],
        &[("code = \"1\"\n", &url)],
    );
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());

    let caller = Caller::call(&gw, "tk1");
    let id = call_id(&gw);
    let (status, body) = transfer(&gw, id, r#"{"target":"12333","mode":"three_way"}"#);
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(10), "the ticket arrives", || {
        !got.lock().unwrap().is_empty()
    });
    eventually(Duration::from_secs(5), "the push counted", || {
        metric(
            &metrics(&gw),
            "hotline_ticket_pushes_total",
            &[("target", "renshe"), ("outcome", "delivered")],
        ) == 1.0
    });
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "one ticket: {got:?}");
        let (key, json) = &got[0];
        assert_eq!(key, &format!("hotline-{id}-1-renshe"));
        assert_eq!(json["call"], id, "{json}");
        assert_eq!(json["transfer"], 1, "{json}");
        assert_eq!(json["target"], "renshe", "{json}");
        assert_eq!(json["line"], "12345", "{json}");
        assert_eq!(json["topic"], "general", "{json}");
        assert_eq!(json["caller"], "raw", "{json}");
        assert_eq!(json["seat"], 1001, "{json}");
        assert!(json["at"].as_i64().is_some_and(|at| at > 0), "{json}");
    }

    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{id}/transfer/complete"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    caller.hang_up();
    for run in [
        seat.finish(Duration::from_secs(10)),
        trunk.finish(Duration::from_secs(10)),
    ] {
        assert!(run.ok(), "{}", failure("peers", &[&run], &gw));
    }
    eventually(Duration::from_secs(5), "ticket push stored", || {
        !rows(&gw, "SELECT call FROM ticket_pushes").is_empty()
    });
    assert_eq!(
        rows(
            &gw,
            "SELECT call, transfer, target, delivered, status, attempts, reason FROM ticket_pushes"
        ),
        vec![vec![
            id.to_string(),
            "1".into(),
            "renshe".into(),
            "1".into(),
            "200".into(),
            "1".into(),
            String::new()
        ]]
    );
    assert_eq!(got.lock().unwrap().len(), 1, "pushed once");
    drop(rt);
}

#[test]
fn a_target_that_never_responds_is_unreachable_after_timer_b() {
    let dir = TestDir::new("transfer_unreachable");
    let seat = tone_seat(&dir, "uas_tone.xml", 60);
    // Nothing listens there (taken from the tests' port counter, never bound); the target may
    // ring longer than Timer B (64 × T1 = 32 s) so that Timer B decides.
    let dead = free_port();
    let plan = plan_with(
        &dir,
        &[("127.0.0.1:5072", dead)],
        &[("code = \"2\"\n", "code = \"2\"\nring_timeout = \"60s\"\n")],
    );
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let seat = seat.spawn();

    let caller = Caller::call(&gw, "ur1");
    let id = call_id(&gw);
    let started = Instant::now();
    let (status, body) = transfer(&gw, id, r#"{"target":"12329","mode":"three_way"}"#);
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(45), "unreachable counted", || {
        transfer_count(&gw, "gongjijin", "unreachable") == 1.0
    });
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(30),
        "unreachable after {after:?}: Timer B is 32 s"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_with_seat(&caller, "after the target proved unreachable");

    caller.hang_up();
    let seat = seat.finish(Duration::from_secs(10));
    assert!(seat.ok(), "{}", failure("the seat", &[&seat], &gw));
    eventually(Duration::from_secs(5), "transfer stored", || {
        !transfers(&gw).is_empty()
    });
    assert_eq!(
        transfers(&gw),
        vec![(
            "gongjijin".into(),
            "three_way".into(),
            "unreachable".into(),
            false
        )]
    );
}

/// The `m=audio` port of the SDP in a SIP message.
fn sdp_port(msg: &str) -> u16 {
    msg.split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("m=audio in {msg}"))
}

/// The `tag` parameter of a From or To value.
fn tag_of(value: &str) -> &str {
    value
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_else(|| panic!("a tag in {value}"))
}

/// A seat's phone on a raw socket, for what SIPp cannot do: a second dialog (the consultation
/// call to the target) while its caller waits, and a REFER whose Replaces names it.
struct RawSeat {
    sip: UdpSocket,
    gw_port: u16,
    stop: Arc<AtomicBool>,
}

impl RawSeat {
    fn port(&self) -> u16 {
        self.sip.local_addr().unwrap().port()
    }

    fn send(&self, msg: &str) {
        self.sip
            .send_to(msg.as_bytes(), ("127.0.0.1", self.gw_port))
            .unwrap();
    }

    /// A response to `req` echoing its dialog headers; `to_tag` is added to To when given.
    fn respond(&self, req: &str, status: &str, to_tag: Option<&str>, sdp: Option<&str>) {
        let mut out = format!("SIP/2.0 {status}\r\n");
        for l in req.lines() {
            if l.to_ascii_lowercase().starts_with("via:") {
                out += &format!("{l}\r\n");
            }
        }
        let to = header(req, "To");
        let to = match to_tag {
            Some(t) => format!("{to};tag={t}"),
            None => to.to_owned(),
        };
        out += &format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:1001@127.0.0.1:{}>\r\n",
            header(req, "From"),
            header(req, "Call-ID"),
            header(req, "CSeq"),
            self.port()
        );
        match sdp {
            Some(b) => {
                out += &format!(
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                );
            }
            None => out += "Content-Length: 0\r\n\r\n",
        }
        self.send(&out);
    }

    /// An SDP offer/answer for PCMA at `port`.
    fn sdp(port: u16) -> String {
        format!(
            "v=0\r\no=rawseat 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        )
    }

    /// The seat's phone calls `number` through the platform (a consultation call).
    fn invite(&self, number: &str, call_id: &str, tag: &str, media_port: u16) {
        let sdp = Self::sdp(media_port);
        self.send(&format!(
            "INVITE sip:{number}@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{tag}\r\n\
             From: <sip:1001@127.0.0.1>;tag={tag}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:{me}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            gw = self.gw_port,
            me = self.port()
        ));
    }

    /// ACK of a final response to the seat's INVITE `call_id`.
    fn ack(&self, number: &str, call_id: &str, tag: &str, resp: &str) {
        self.send(&format!(
            "ACK sip:{number}@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{tag}-ack\r\n\
             From: <sip:1001@127.0.0.1>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = self.gw_port,
            me = self.port(),
            to = header(resp, "To")
        ));
    }

    /// A REFER in the dialog the platform's INVITE `invite` opened (the seat answered with
    /// tag `my_tag`).
    fn refer(&self, invite: &str, my_tag: &str, cseq: u32, refer_to: &str) {
        let target = header(invite, "Contact")
            .trim_start_matches('<')
            .trim_end_matches('>');
        self.send(&format!(
            "REFER {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-refer{cseq}\r\n\
             From: {to};tag={my_tag}\r\nTo: {from}\r\nCall-ID: {cid}\r\nCSeq: {cseq} REFER\r\n\
             Contact: <sip:1001@127.0.0.1:{me}>\r\nRefer-To: {refer_to}\r\n\
             Referred-By: <sip:1001@127.0.0.1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            me = self.port(),
            to = header(invite, "To"),
            from = header(invite, "From"),
            cid = header(invite, "Call-ID"),
        ));
    }
}

#[test]
fn a_seat_phone_consults_the_sub_platform_then_transfers_with_replaces() {
    let dir = TestDir::new("transfer_attended");
    let trunk = tone_trunk(&dir);
    let plan = plan_with_trunks(&dir, &[("127.0.0.1:5071", trunk.local_port)]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    let seat = RawSeat {
        sip: UdpSocket::bind("127.0.0.1:0").unwrap(),
        gw_port: gw.port,
        stop: Arc::new(AtomicBool::new(false)),
    };
    register_seat(&dir, &gw, "1001", seat.port(), false);
    ready(&gw, "1001");
    let trunk = trunk.spawn();

    // Outside a call a seat may not reach a target through the platform.
    seat.invite("12333", "idle@seat", "idle", 40_000);
    let refused = until_reply(&seat.sip, 403, "INVITE", Duration::from_secs(5));
    seat.ack("12333", "idle@seat", "idle", &refused);

    // The caller reaches the seat, which answers from its first media socket.
    let media1 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let answer = {
        let sip = seat.sip.try_clone().unwrap();
        let m1 = media1.local_addr().unwrap().port();
        let probe = RawSeat {
            sip,
            gw_port: gw.port,
            stop: Arc::clone(&seat.stop),
        };
        std::thread::spawn(move || {
            let invite = until_request(&probe.sip, "INVITE", Duration::from_secs(10));
            probe.respond(&invite, "200 OK", Some("seat1"), Some(&RawSeat::sdp(m1)));
            invite
        })
    };
    let caller = Caller::call(&gw, "att1");
    let invite1 = answer.join().expect("the seat's INVITE");
    spawn_tone(
        media1.try_clone().unwrap(),
        sdp_port(&invite1),
        1000.0,
        &seat.stop,
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_with_seat(&caller, "before the consultation");
    let (_, talking, _) = caller.hears(Duration::from_secs(1));

    // The seat calls the sub-platform from its phone: the trunk gets the caller's context
    // (uas_trunk.xml checks it), rings, answers with its tone.
    seat.invite(
        "12333",
        "consult@seat",
        "s2",
        media2.local_addr().unwrap().port(),
    );
    until_reply(&seat.sip, 180, "INVITE", Duration::from_secs(10));
    let ok = until_reply(&seat.sip, 200, "INVITE", Duration::from_secs(10));
    seat.ack("12333", "consult@seat", "s2", &ok);
    let our_tag = tag_of(header(&ok, "To")).to_owned();
    spawn_tone(
        media2.try_clone().unwrap(),
        sdp_port(&ok),
        1000.0,
        &seat.stop,
    );
    let consult_heard = spawn_listener(media2, &seat.stop);
    std::thread::sleep(Duration::from_millis(1500));
    let (_, own, target) = powers(&consult_heard, Duration::from_secs(1));
    assert!(
        target > 100.0 * own.max(1.0),
        "the seat's consultation hears the target: own {own} target {target}"
    );
    // The caller hears the line's music meanwhile, not the two tones at their strength.
    let (_, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        s < talking / 100.0 && t < talking / 100.0,
        "the caller hears neither seat nor target while they consult: seat {s} target {t}, \
         the seat's tone in conversation {talking}"
    );

    // A Replaces that names no consultation of this call is refused.
    seat.refer(
        &invite1,
        "seat1",
        1,
        &format!(
            "<sip:12333@127.0.0.1:{}?Replaces=other%40seat%3Bto-tag%3Dx%3Bfrom-tag%3Dy>",
            gw.port
        ),
    );
    until_reply(&seat.sip, 403, "REFER", Duration::from_secs(5));

    // The transfer: REFER with Replaces naming the consultation.
    seat.refer(
        &invite1,
        "seat1",
        2,
        &format!(
            "<sip:12333@127.0.0.1:{}?Replaces=consult%40seat%3Bto-tag%3D{our_tag}%3Bfrom-tag%3Ds2>",
            gw.port
        ),
    );
    until_reply(&seat.sip, 202, "REFER", Duration::from_secs(5));
    let (mut frags, mut byes) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 65_535];
    while byes.len() < 2 && Instant::now() < deadline {
        seat.sip
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let Ok((n, _)) = seat.sip.recv_from(&mut buf) else {
            continue;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.starts_with("NOTIFY ") {
            frags.push(msg.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned());
            seat.respond(&msg, "200 OK", None, None);
        } else if msg.starts_with("BYE ") {
            byes.push(header(&msg, "Call-ID").to_owned());
            seat.respond(&msg, "200 OK", None, None);
        }
    }
    assert!(
        frags.iter().any(|f| f.starts_with("SIP/2.0 100"))
            && frags.last().is_some_and(|f| f.starts_with("SIP/2.0 200")),
        "NOTIFY progress 100 then 200: {frags:?}"
    );
    byes.sort();
    let mut want = vec![
        "consult@seat".to_owned(),
        header(&invite1, "Call-ID").to_owned(),
    ];
    want.sort();
    assert_eq!(byes, want, "both of the seat's calls are hung up");
    seat.stop.store(true, Ordering::Relaxed);

    std::thread::sleep(Duration::from_millis(1500));
    assert_with_target(&caller, "after the attended transfer");
    hang_up_on_target(caller, trunk, &gw, "attended");
    assert_eq!(transfer_count(&gw, "renshe", "completed"), 1.0);
}

#[test]
fn an_attended_transfer_over_the_api_keeps_the_caller_apart_until_the_seat_completes() {
    let dir = TestDir::new("transfer_attended_api");
    let seat = tone_seat(&dir, "uas_tone.xml", 30);
    let trunk = tone_trunk(&dir);
    let plan = plan_with_trunks(&dir, &[("127.0.0.1:5071", trunk.local_port)]);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());
    let caller = Caller::call(&gw, "ata1");
    std::thread::sleep(Duration::from_millis(1500));
    assert_with_seat(&caller, "before the transfer");
    let (_, talking, _) = caller.hears(Duration::from_secs(1));

    let id = call_id(&gw);
    let (status, body) = transfer(&gw, id, r#"{"target":"renshe","mode":"attended"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""mode":"attended""#), "{body}");
    std::thread::sleep(Duration::from_millis(2000));
    let (_, s, t) = caller.hears(Duration::from_secs(1));
    assert!(
        s < talking / 100.0 && t < talking / 100.0,
        "seat and target consult without the caller: seat {s} target {t}, talking {talking}"
    );

    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{id}/transfer/complete"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat is hung up", &[&seat], &gw)
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_with_target(&caller, "after completing");
    hang_up_on_target(caller, trunk, &gw, "attended");
}
