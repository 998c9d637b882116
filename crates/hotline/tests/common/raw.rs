//! A SIP caller on a plain UDP socket, for tests that need to see exactly what a phone gets
//! (SDP, RTP) or to act at a precise moment, plus small waits and API helpers.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::{http, status_code, Gateway};

pub fn ready(gw: &Gateway, seat: &str) {
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/seats/{seat}/state"),
        Some(r#"{"state":"ready"}"#),
    );
    assert_eq!(status, 200, "seat {seat} ready: {body}");
}

pub fn metrics(gw: &Gateway) -> String {
    let (status, body) = http(gw.http, "GET", "/metrics", None);
    assert_eq!(status, 200);
    body
}

/// Wait until `f` holds (checked every 100 ms) or panic with `what`.
pub fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("not within {within:?}: {what}");
}

/// A minimal SIP caller on a raw socket: INVITE with PCMA only from `media`'s port.
pub fn invite(sip: &UdpSocket, gw_port: u16, media_port: u16, dialed: &str, tag: &str) -> String {
    let local = sip.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n"
    );
    format!(
        "INVITE sip:{dialed}@127.0.0.1:{gw_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{tag}\r\n\
         From: <sip:raw@127.0.0.1:{local}>;tag={tag}\r\n\
         To: <sip:{dialed}@127.0.0.1:{gw_port}>\r\n\
         Call-ID: {tag}@raw\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:raw@127.0.0.1:{local}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

pub fn cancel(sip: &UdpSocket, gw_port: u16, dialed: &str, tag: &str) -> String {
    let local = sip.local_addr().unwrap().port();
    format!(
        "CANCEL sip:{dialed}@127.0.0.1:{gw_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{tag}\r\n\
         From: <sip:raw@127.0.0.1:{local}>;tag={tag}\r\n\
         To: <sip:{dialed}@127.0.0.1:{gw_port}>\r\n\
         Call-ID: {tag}@raw\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Receive SIP messages until one has status `want`; returns it.
pub fn until_status(sip: &UdpSocket, want: u16, within: Duration) -> String {
    until_reply(sip, want, "", within)
}

/// Receive SIP messages until a response `want` whose CSeq names `method` ("" for any).
pub fn until_reply(sip: &UdpSocket, want: u16, method: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 65_535];
    while Instant::now() < deadline {
        sip.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if status_code(&msg) == Some(want) && header(&msg, "CSeq").ends_with(method) {
                return msg;
            }
        }
    }
    panic!("no {want} within {within:?}");
}

/// Receive SIP messages until a request `method`; returns it.
pub fn until_request(sip: &UdpSocket, method: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 65_535];
    while Instant::now() < deadline {
        sip.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with(&format!("{method} ")) {
                return msg;
            }
        }
    }
    panic!("no {method} within {within:?}");
}

/// The header value of `name` in a SIP message.
pub fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_default()
}

/// Writes a classic pcap of `seconds` of a PCMA tone at `freq` Hz as 20 ms RTP packets (PT 8),
/// for SIPp's `play_pcap_audio`.
pub fn write_tone_pcap(path: &std::path::Path, freq: f32, seconds: u32) {
    let mut tone = media::tone::Tone::new(freq, media::tone::Level::Dbm0(-10.0));
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 65_535, 1] {
        if v == 0x0004_0002 {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut pcm = [0i16; 160];
    for i in 0..seconds * 50 {
        tone.fill(&mut pcm);
        let mut rtp = vec![0x80, 8];
        rtp.extend_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&(i * 160).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678_u32.to_be_bytes());
        rtp.extend(pcm.iter().map(|&s| media::g711::Codec::Pcma.encode(s)));
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&[
            0x13,
            0x88,
            0x13,
            0x88,
            (udp_len >> 8) as u8,
            udp_len as u8,
            0,
            0,
        ]);
        frame.extend_from_slice(&rtp);
        let usec = i * 20_000;
        out.extend_from_slice(&(usec / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// A copy of scenario `name` in the test's directory with `PCAP_FILE` replaced by `pcap`.
pub fn scenario_with_pcap(dir: &super::TestDir, name: &str, pcap: &std::path::Path) -> String {
    let text = std::fs::read_to_string(super::scenario(name)).expect("scenario");
    let path = dir.file(&format!(
        "{}-{name}",
        pcap.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &path,
        text.replace("PCAP_FILE", &pcap.display().to_string()),
    )
    .expect("write scenario");
    path.display().to_string()
}

/// Power of `freq` in decoded PCMA `payloads` (Goertzel).
pub fn tone_power(pcm: &[i16], freq: f32) -> f32 {
    media::tone::goertzel_power(pcm, freq)
}
