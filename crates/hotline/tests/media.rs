//! The media plane end to end through `hotline serve` on the embedded Zhengzhou plan:
//! SIPp callers play Debian's G.711 and RFC 4733 pcaps through the anchored gateway to seats
//! running `-rtp_echo`; a raw SIP caller captures what it hears while queued and decodes it
//! back to the prompt's samples; the survey (好差评) is answered by DTMF and stored; offers
//! without G.711 and bad RTP are refused and counted without harm.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;

/// RTP packets in a pcap file (classic format, Ethernet, one UDP datagram per record).
fn pcap_packets(path: &str) -> usize {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        &d[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "{path}: little-endian pcap"
    );
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + incl;
        n += 1;
    }
    n
}

/// The calls' outcome and survey columns, from the database (read only, WAL).
fn surveys(gw: &Gateway) -> Vec<(String, Option<i64>)> {
    calls(gw).into_iter().map(|(o, s, _)| (o, s)).collect()
}

/// Outcome, survey and talk time of every ended call.
fn calls(gw: &Gateway) -> Vec<(String, Option<i64>, Option<i64>)> {
    let conn = rusqlite::Connection::open_with_flags(
        gw.data.join("hotline.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open db");
    let mut st = conn
        .prepare(
            "SELECT outcome, survey, talk_ms FROM calls WHERE ended_at IS NOT NULL ORDER BY id",
        )
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn a_callers_g711_reaches_an_echoing_seat_and_comes_back() {
    let dir = TestDir::new("media_echo");
    let gw = Gateway::start(&dir, &[]);
    let seat = Sipp::seat(&dir, "seat", "uas_echo.xml")
        .arg("-rtp_echo")
        .calls(1)
        .timeout(60);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let seat = seat.spawn();
    let caller = Sipp::caller(&dir, "caller", &gw, "uac_pcap_echo.xml", "12345")
        .calls(1)
        .timeout(60)
        .run(Duration::from_secs(70));
    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        caller.ok() && seat.ok(),
        "{}",
        failure("pcap call", &[&caller, &seat], &gw)
    );

    let sent = pcap_packets("/usr/share/sip-tester/g711a.pcap");
    assert_eq!(sent, 236);
    // Caller → gateway → seat, echoed seat → gateway → caller: every packet counted twice
    // inbound; outbound the same relayed packets plus what the caller heard while the call
    // was put through (welcome and music, early media).
    let mut text = String::new();
    eventually(Duration::from_secs(5), "RTP counted", || {
        text = metrics(&gw);
        metric(&text, "hotline_rtp_packets_total", &[("direction", "in")]) >= (2 * sent) as f64
    });
    let rtp_in = metric(&text, "hotline_rtp_packets_total", &[("direction", "in")]);
    let rtp_out = metric(&text, "hotline_rtp_packets_total", &[("direction", "out")]);
    assert_eq!(
        rtp_in,
        (2 * sent) as f64,
        "in: the caller's and the echo\n{text}"
    );
    assert!(rtp_out >= (2 * sent) as f64, "out {rtp_out}\n{text}");
    for reason in ["not_rtp", "payload_type", "foreign_source", "send_error"] {
        assert_eq!(
            metric(&text, "hotline_rtp_dropped_total", &[("reason", reason)]),
            0.0,
            "{reason}\n{text}"
        );
    }
    assert_eq!(
        metric(&text, "hotline_media_calls", &[]),
        0.0,
        "media closed"
    );
}

fn survey_call(test: &str, caller_scenario: &str) -> (Gateway, Vec<(String, Option<i64>)>) {
    survey_call_with(test, caller_scenario, "uas_echo_then_bye.xml")
}

fn survey_call_with(
    test: &str,
    caller_scenario: &str,
    seat_scenario: &str,
) -> (Gateway, Vec<(String, Option<i64>)>) {
    let dir = TestDir::new(test);
    let gw = Gateway::start(&dir, &[]);
    let seat = Sipp::seat(&dir, "seat", seat_scenario)
        .arg("-rtp_echo")
        .calls(1)
        .timeout(60);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let seat = seat.spawn();
    let caller = Sipp::caller(&dir, "caller", &gw, caller_scenario, "12345")
        .calls(1)
        .timeout(60)
        .run(Duration::from_secs(70));
    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        caller.ok() && seat.ok(),
        "{}",
        failure(test, &[&caller, &seat], &gw)
    );
    let mut rows = Vec::new();
    eventually(Duration::from_secs(5), "call record stored", || {
        rows = surveys(&gw);
        !rows.is_empty()
    });
    (gw, rows)
}

#[test]
fn the_survey_key_pressed_after_the_seat_hangs_up_is_stored_with_the_call() {
    let (gw, rows) = survey_call("media_survey_key", "uac_survey_key4.xml");
    assert_eq!(rows, vec![("answered".to_owned(), Some(4))]);
    // Talk ends when the seat hangs up (after 1.5 s), not when the survey does.
    let talk = calls(&gw)[0].2.expect("talk time");
    assert!((1_000..3_000).contains(&talk), "talk {talk} ms");
    let text = metrics(&gw);
    assert!(
        metric(&text, "hotline_dtmf_digits_total", &[]) >= 1.0,
        "{text}"
    );
}

#[test]
fn a_seat_pressing_star_8_hands_the_caller_to_the_survey() {
    let (gw, rows) = survey_call_with("media_survey_star8", "uac_survey_key4.xml", "uas_star8.xml");
    assert_eq!(rows, vec![("answered".to_owned(), Some(4))]);
    let text = metrics(&gw);
    assert!(
        metric(&text, "hotline_dtmf_digits_total", &[]) >= 3.0,
        "*, 8, 4\n{text}"
    );
}

#[test]
fn a_survey_left_unanswered_is_stored_as_none_after_the_timeout() {
    let started = Instant::now();
    let (_gw, rows) = survey_call("media_survey_silent", "uac_survey_silent.xml");
    // 0: asked, no answer (decision 0013).
    assert_eq!(rows, vec![("answered".to_owned(), Some(0))]);
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "the timeout was waited for"
    );
}

#[test]
fn a_queued_caller_hears_the_merged_line_notice_sample_for_sample_and_bad_rtp_is_counted() {
    let dir = TestDir::new("media_prompt");
    let gw = Gateway::start(&dir, &[]);
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = media.local_addr().unwrap().port();
    // No seat is ready: 12349 plays its notice, then the welcome and music, as early media.
    let req = invite(&sip, gw.port, media_port, "12349", "prompt1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    let progress = until_status(&sip, 183, Duration::from_secs(5));
    let body = progress.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.contains("o=hotline "), "our SDP: {progress}");
    assert!(
        body.contains("RTP/AVP 8 101"),
        "PCMA and telephone-event: {progress}"
    );
    let ours: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio port");

    let notice = media::wav::parse(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/prompts/notice_12349.wav"
        ))
        .unwrap(),
    )
    .expect("notice wav");
    let want: Vec<i16> = notice
        .samples()
        .iter()
        .map(|&s| media::g711::Codec::Pcma.decode(media::g711::Codec::Pcma.encode(s)))
        .collect();
    let frames = want.len().div_ceil(160);

    // Capture what the caller hears, while sending the gateway bad datagrams.
    media
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut packets: Vec<(u16, u32, Vec<u8>)> = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + notice.duration() + Duration::from_secs(3);
    let mut sent_bad = false;
    while packets.len() < frames + 10 && Instant::now() < deadline {
        let Ok((n, _)) = media.recv_from(&mut buf) else {
            continue;
        };
        let p = &buf[..n];
        assert!(n >= 12 && p[0] >> 6 == 2, "RTP version 2");
        assert_eq!(p[1] & 0x7f, 8, "PCMA on the wire");
        let seq = u16::from_be_bytes([p[2], p[3]]);
        let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
        packets.push((seq, ssrc, p[12..].to_vec()));
        if !sent_bad {
            sent_bad = true;
            let to = ("127.0.0.1", ours);
            for junk in [&b"hello"[..], &[0x80, 0x08, 0, 1][..], &[0u8; 40][..]] {
                media.send_to(junk, to).unwrap();
            }
            // RTP with a payload type never negotiated (18, G.729).
            let mut g729 = vec![0x80, 18, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
            g729.extend_from_slice(&[0u8; 20]);
            media.send_to(&g729, to).unwrap();
            // RTCP receiver report on the RTP port (RFC 5761) and on the RTCP port.
            let rr = [0x80, 201, 0, 1, 1, 2, 3, 4];
            media.send_to(&rr, to).unwrap();
            media.send_to(&rr, ("127.0.0.1", ours + 1)).unwrap();
            // A telephone-event payload cut short (2 of 4 bytes).
            let short_event = [0x80, 101, 0, 2, 0, 0, 1, 64, 1, 2, 3, 4, 0x05, 0x0a];
            media.send_to(&short_event, to).unwrap();
        }
    }
    assert!(
        packets.len() > frames,
        "{} packets, notice is {frames}",
        packets.len()
    );
    let ssrc = packets[0].1;
    for w in packets.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0.wrapping_add(1),
            "consecutive sequence numbers"
        );
        assert_eq!(w[1].1, ssrc, "one SSRC across notice, welcome and music");
    }
    let heard: Vec<i16> = packets
        .iter()
        .flat_map(|(_, _, payload)| payload.iter().map(|&b| media::g711::Codec::Pcma.decode(b)))
        .collect();
    assert_eq!(
        heard[..want.len()],
        want[..],
        "the notice as heard, decoded, equals the prompt through A-law"
    );

    let req = cancel(&sip, gw.port, "12349", "prompt1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    until_status(&sip, 487, Duration::from_secs(5));

    let mut text = String::new();
    eventually(Duration::from_secs(5), "bad input counted", || {
        text = metrics(&gw);
        metric(&text, "hotline_rtp_dropped_total", &[("reason", "not_rtp")]) >= 3.0
            && metric(&text, "hotline_dtmf_malformed_total", &[]) >= 1.0
    });
    assert!(
        metric(
            &text,
            "hotline_rtp_dropped_total",
            &[("reason", "payload_type")]
        ) >= 1.0
    );
    assert!(
        metric(&text, "hotline_rtcp_packets_total", &[]) >= 2.0,
        "{text}"
    );
    assert!(gw.alive(), "the gateway survived bad media");
}

#[test]
fn an_offer_without_g711_is_refused_with_488_and_counted() {
    let dir = TestDir::new("media_488");
    let gw = Gateway::start(&dir, &[]);
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let req = invite(&sip, gw.port, 4000, "12345", "g729")
        .replace("RTP/AVP 8 101", "RTP/AVP 18")
        .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000");
    // The Content-Length must follow the shorter body.
    let (head, body) = req.split_once("\r\n\r\n").unwrap();
    let head = head
        .lines()
        .map(|l| {
            if l.starts_with("Content-Length") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let req = format!("{head}\r\n\r\n{body}");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    let refused = until_status(&sip, 488, Duration::from_secs(5));
    assert!(refused.contains("Warning: 305"), "{refused}");
    let text = metrics(&gw);
    assert_eq!(
        metric(&text, "hotline_sdp_refused_total", &[("status", "488")]),
        1.0
    );
    assert!(gw.alive());
}

/// The shipped plan with position / wait notices every 4 s and a 2 s no-RTP timeout.
fn quick_plan(dir: &TestDir) -> String {
    let text = include_str!("../../../deploy/zhengzhou.toml");
    let changed = text
        .replace(r#"announce_every = "60s""#, r#"announce_every = "4s""#)
        .replace(r#"no_rtp_timeout = "60s""#, r#"no_rtp_timeout = "2s""#);
    assert_ne!(changed, text);
    let path = dir.file("plan.toml");
    std::fs::write(&path, changed).expect("write plan");
    path.display().to_string()
}

fn prompt_alaw(name: &str) -> Vec<i16> {
    let path = format!(
        "{}/../../deploy/prompts/{name}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    let p = media::wav::parse(&std::fs::read(&path).unwrap()).expect("wav");
    p.samples()
        .iter()
        .map(|&s| media::g711::Codec::Pcma.decode(media::g711::Codec::Pcma.encode(s)))
        .collect()
}

#[test]
fn a_waiting_caller_is_told_its_position_on_the_configured_period() {
    let dir = TestDir::new("media_position");
    let plan = quick_plan(&dir);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = media.local_addr().unwrap().port();
    let req = invite(&sip, gw.port, media_port, "12345", "position1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    until_status(&sip, 183, Duration::from_secs(5));
    // Listen for 4 s (the period) plus the notice's first words.
    media
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut heard: Vec<i16> = Vec::new();
    let mut buf = [0u8; 2048];
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            heard.extend(
                buf[12..n]
                    .iter()
                    .map(|&b| media::g711::Codec::Pcma.decode(b)),
            );
        }
    }
    let req = cancel(&sip, gw.port, "12345", "position1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    until_status(&sip, 487, Duration::from_secs(5));
    // A new playlist starts on a packet boundary: find "您前面还有" and, after it, "1".
    let before = prompt_alaw("position_before");
    let one = prompt_alaw("n1");
    let at = heard
        .chunks(160)
        .position(|f| f.len() == 160 && f == &before[..160])
        .expect("the position notice is heard");
    let start = at * 160;
    assert!(
        start >= 3 * 8000,
        "not before the period: at {:.1} s",
        start as f64 / 8000.0
    );
    let after = start + before.len().div_ceil(160) * 160;
    assert!(
        heard.len() >= after + 160,
        "heard too little after the notice"
    );
    assert_eq!(
        &heard[after..after + 160],
        &one[..160],
        "position 1 follows"
    );
}

#[test]
fn a_call_whose_legs_send_no_rtp_is_hung_up_and_recorded() {
    let dir = TestDir::new("media_no_rtp");
    let plan = quick_plan(&dir);
    let gw = Gateway::start(&dir, &["--config", &plan]);
    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(1)
        .timeout(30);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let seat = seat.spawn();
    // SIPp's built-in caller and seat send no RTP; the caller would hold for 20 s.
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", "12345", "-d", "20000"])
        .calls(1)
        .timeout(30)
        .spawn();
    let started = Instant::now();
    let db = gw.data.join("hotline.db");
    let mut outcome = String::new();
    eventually(Duration::from_secs(15), "leg recorded as no-rtp", || {
        let Ok(conn) =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        else {
            return false;
        };
        outcome = conn
            .query_row(
                "SELECT outcome FROM legs WHERE ended_at IS NOT NULL",
                [],
                |r| r.get::<_, String>(0),
            )
            .unwrap_or_default();
        !outcome.is_empty()
    });
    assert_eq!(outcome, "no-rtp");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "well before the caller's 20 s"
    );
    let text = metrics(&gw);
    assert_eq!(
        metric(&text, "hotline_media_no_rtp_total", &[]),
        1.0,
        "{text}"
    );
    let _ = caller.finish(Duration::from_secs(5));
    let _ = seat.finish(Duration::from_secs(5));
    assert!(gw.alive());
}

#[test]
fn a_key_sent_by_sip_info_is_carried_on_as_rfc4733_events() {
    let dir = TestDir::new("media_info");
    let gw = Gateway::start(&dir, &[]);
    let seat = Sipp::seat(&dir, "seat", "uas_echo.xml")
        .arg("-rtp_echo")
        .calls(1)
        .timeout(60);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    let seat = seat.spawn();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sip.local_addr().unwrap().port();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = media.local_addr().unwrap().port();
    let req = invite(&sip, gw.port, media_port, "12345", "info1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    // Queued a second with the welcome playing, then a seat takes the call.
    until_status(&sip, 183, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(1));
    ready(&gw, "1001");
    let ok = until_reply(&sip, 200, "INVITE", Duration::from_secs(10));
    let to = header(&ok, "To").to_owned();
    let in_dialog = |method: &str, cseq: u32, branch: &str, body: Option<(&str, &str)>| {
        let (ctype, body) = body.map_or((String::new(), ""), |(t, b)| {
            (format!("Content-Type: {t}\r\n"), b)
        });
        format!(
            "{method} sip:12345@127.0.0.1:{gw} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{branch}\r\n\
             From: <sip:raw@127.0.0.1:{local}>;tag=info1\r\nTo: {to}\r\n\
             Call-ID: info1@raw\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
             {ctype}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            gw = gw.port,
        )
    };
    let ack = in_dialog("ACK", 1, "info1-ack", None);
    sip.send_to(ack.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    let info = in_dialog(
        "INFO",
        2,
        "info1-info",
        Some(("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")),
    );
    sip.send_to(info.as_bytes(), ("127.0.0.1", gw.port))
        .unwrap();
    until_reply(&sip, 200, "INFO", Duration::from_secs(5));
    // The key goes to the seat as telephone-events; the seat echoes them; they come back.
    media
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut dtmf = media::dtmf::DtmfReceiver::new();
    let mut digits = String::new();
    let mut heard: Vec<(u16, u32)> = Vec::new();
    let mut buf = [0u8; 2048];
    let until = Instant::now() + Duration::from_secs(5);
    let mut tail = None;
    while Instant::now() < until && tail.is_none_or(|t: Instant| Instant::now() < t) {
        if !digits.is_empty() && tail.is_none() {
            // Read on a little: the rest of the key's packets.
            tail = Some(Instant::now() + Duration::from_millis(400));
        }
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            let p = &buf[..n];
            heard.push((
                u16::from_be_bytes([p[2], p[3]]),
                u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
            ));
            if n >= 16 && p[1] & 0x7f == 101 {
                let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                digits.extend(dtmf.on_packet(ts, p[1] & 0x80 != 0, &p[12..]));
            }
        }
    }
    assert_eq!(digits, "5", "the INFO key came back as RFC 4733");
    // The welcome (early media), then the seat's stream: one continuous stream of ours.
    assert!(heard.len() > 50, "{} packets", heard.len());
    for w in heard.windows(2) {
        assert_eq!(w[1].1, heard[0].1, "one SSRC from prompt to seat");
        assert_eq!(
            w[1].0,
            w[0].0.wrapping_add(1),
            "sequence continues across the switch"
        );
    }
    let bye = in_dialog("BYE", 3, "info1-bye", None);
    sip.send_to(bye.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    until_reply(&sip, 200, "BYE", Duration::from_secs(5));
    let seat = seat.finish(Duration::from_secs(10));
    assert!(seat.ok(), "{}", failure("seat", &[&seat], &gw));
    let text = metrics(&gw);
    assert!(
        metric(&text, "hotline_dtmf_digits_total", &[]) >= 1.0,
        "{text}"
    );
}

#[test]
fn a_caller_the_seat_holds_hears_music_from_its_start() {
    let dir = TestDir::new("media_hold");
    let gw = Gateway::start(&dir, &[]);
    let seat = Sipp::seat(&dir, "seat", "uas_hold.xml")
        .calls(1)
        .timeout(60);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let seat = seat.spawn();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sip.local_addr().unwrap().port();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = media.local_addr().unwrap().port();
    let req = invite(&sip, gw.port, media_port, "12345", "hold1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    let ok = until_reply(&sip, 200, "INVITE", Duration::from_secs(10));
    let to = header(&ok, "To").to_owned();
    let ack = format!(
        "ACK sip:12345@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-hold1a\r\n\
         From: <sip:raw@127.0.0.1:{local}>;tag=hold1\r\nTo: {to}\r\nCall-ID: hold1@raw\r\n\
         CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        gw = gw.port
    );
    sip.send_to(ack.as_bytes(), ("127.0.0.1", gw.port)).unwrap();
    // The seat's hold reaches us as a re-INVITE of the gateway's: we answer recvonly.
    let hold = until_request(&sip, "INVITE", Duration::from_secs(5));
    assert!(hold.contains("a=sendonly"), "{hold}");
    let sdp = format!(
        "v=0\r\no=raw 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
    );
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        answer.push_str(&format!("{h}: {}\r\n", header(&hold, h)));
    }
    answer.push_str(&format!(
        "Contact: <sip:raw@127.0.0.1:{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ));
    sip.send_to(answer.as_bytes(), ("127.0.0.1", gw.port))
        .unwrap();
    // Everything heard since the answer (a moment of the welcome, nothing from the seat),
    // then, from the hold on, the music from its first sample.
    let music = prompt_alaw("music");
    let mut buf = [0u8; 2048];
    media
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut heard: Vec<i16> = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            heard.extend(
                buf[12..n]
                    .iter()
                    .map(|&b| media::g711::Codec::Pcma.decode(b)),
            );
        }
    }
    let at = heard
        .chunks(160)
        .position(|f| f.len() == 160 && f == &music[..160])
        .expect("the music's first frame is heard");
    let from = at * 160;
    let n = (heard.len() - from).min(music.len()) / 160 * 160;
    assert!(n >= 8000, "at least a second of music heard");
    assert_eq!(
        &heard[from..from + n],
        &music[..n],
        "the music, sample for sample"
    );
    let seat = seat.finish(Duration::from_secs(10));
    assert!(seat.ok(), "{}", failure("seat", &[&seat], &gw));
}
