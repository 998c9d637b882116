//! SDP parsing, codec choice and answers on real-world offers; RTP continuity and latching.
//!
//! The offers are written in the shape their sources send (field order, attribute set, line
//! endings); addresses, ports and session ids are illustrative:
//! - linphone: Linphone desktop 5.x default audio offer (opus, speex, G.711, telephone-event at
//!   three clock rates, rtcp-fb, rtcp-xr).
//! - SIPp: the `uac` built-in scenario's body (`sipp -sn uac`), with `[media_ip]` etc. filled.
//! - carrier: an IMS/softswitch trunk offer as Chinese carriers send it to a 12345 platform
//!   (PCMA first, G.729, telephone-event 0-15, `a=ptime:20`).
//! - IPv6 and a softphone offering audio and video.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use media::relay::*;
use media::sdp::*;
use proptest::prelude::*;
use rtp_rs::RtpReader;

const LINPHONE: &str = "v=0\r\n\
o=alice 3017 1417 IN IP4 192.168.1.20\r\n\
s=Talk\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:97 speex/16000\r\n\
a=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\n\
a=fmtp:98 vbr=on\r\n\
a=fmtp:18 annexb=yes\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=rtcp-fb:* trr-int 1000\r\n\
a=rtcp-fb:* ccm tmmbr\r\n";

const SIPP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const CARRIER: &str = "v=0\r\n\
o=HuaweiSoftX3000 1073761823 1073761823 IN IP4 10.10.1.5\r\n\
s=Sip Call\r\n\
c=IN IP4 10.10.1.6\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 8 0 18 4 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:4 G723/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

// LF endings and trailing whitespace on purpose.
const IPV6: &str = "v=0\n\
o=- 8000 8000 IN IP6 2001:db8::10 \n\
s=-\n\
c=IN IP6 2001:db8::10\n\
t=0 0\n\
m=audio 5004 RTP/AVP 8 101\t\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-16\n";

const AUDIO_VIDEO: &str = "v=0\r\n\
o=zoiper 0 1 IN IP4 192.168.0.33\r\n\
s=Z\r\n\
c=IN IP4 192.168.0.33\r\n\
t=0 0\r\n\
m=audio 52000 RTP/AVP 0 8 3 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=rtcp:52001\r\n\
a=sendrecv\r\n\
m=video 52002 RTP/AVP 96 34\r\n\
c=IN IP4 192.168.0.34\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n\
a=rtpmap:34 H263/90000\r\n\
a=sendrecv\r\n";

const BOTH: &[u8] = &[PCMU, PCMA];

fn ours() -> Endpoint {
    Endpoint {
        addr: "198.51.100.7".parse().unwrap(),
        port: 40000,
    }
}

fn ep(s: &str) -> Endpoint {
    let a: SocketAddr = s.parse().unwrap();
    Endpoint {
        addr: a.ip(),
        port: a.port(),
    }
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

/// The non-empty m= lines of a body.
fn m_lines(b: &[u8]) -> Vec<String> {
    text(b)
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(str::to_owned)
        .collect()
}

// --- parsing ----------------------------------------------------------------------------------

#[test]
fn linphone_parses_and_chooses_pcmu_with_8k_telephone_event() {
    let s = Session::parse(LINPHONE.as_bytes()).unwrap();
    assert_eq!(s.origin.username, "alice");
    assert_eq!(s.origin.session_id, "3017");
    assert_eq!(s.origin.version, 1417);
    assert_eq!(s.audio_endpoint(), Some(ep("192.168.1.20:7078")));
    let audio = s.audio().unwrap();
    assert_eq!(
        audio.payload_types().collect::<Vec<_>>(),
        [96, 97, 98, 0, 8, 18, 101, 99, 100]
    );
    assert_eq!(audio.rtpmaps.len(), 6);
    assert_eq!(audio.rtpmap(96).unwrap().channels, Some(2));
    assert_eq!(audio.fmtps.len(), 4);
    assert_eq!(audio.ptime, None);
    let c = choose(&s, BOTH).unwrap();
    assert_eq!(
        c,
        Choice {
            payload_type: 0,
            encoding: "PCMU",
            dtmf_payload_type: Some(100),
            ptime_ms: 20
        }
    );
    // Only PCMA allowed: the offer's 8 is taken.
    assert_eq!(choose(&s, &[PCMA]).unwrap().payload_type, 8);
}

#[test]
fn sipp_default_offer() {
    let s = Session::parse(SIPP.as_bytes()).unwrap();
    assert_eq!(s.audio_endpoint(), Some(ep("127.0.0.1:6000")));
    let c = choose(&s, BOTH).unwrap();
    assert_eq!(
        c,
        Choice {
            payload_type: 0,
            encoding: "PCMU",
            dtmf_payload_type: None,
            ptime_ms: 20
        }
    );
    assert_eq!(choose(&s, &[PCMA]), Err(SdpError::NoCommonCodec));
}

#[test]
fn carrier_offer_keeps_its_order_and_ptime() {
    let s = Session::parse(CARRIER.as_bytes()).unwrap();
    assert_eq!(s.origin.username, "HuaweiSoftX3000");
    assert_eq!(s.audio_endpoint(), Some(ep("10.10.1.6:30000")));
    let audio = s.audio().unwrap();
    assert_eq!(audio.ptime, Some(20));
    assert_eq!(audio.direction, Direction::SendRecv);
    assert_eq!(
        audio.fmtps[1],
        Fmtp {
            payload_type: 101,
            params: "0-15".into()
        }
    );
    let c = choose(&s, BOTH).unwrap();
    assert_eq!(
        c,
        Choice {
            payload_type: 8,
            encoding: "PCMA",
            dtmf_payload_type: Some(101),
            ptime_ms: 20
        }
    );
}

#[test]
fn ipv6_with_lf_and_trailing_whitespace() {
    let s = Session::parse(IPV6.as_bytes()).unwrap();
    assert_eq!(s.origin.addr_type, AddrType::Ip6);
    assert_eq!(s.origin.address, "2001:db8::10");
    assert_eq!(s.audio_endpoint(), Some(ep("[2001:db8::10]:5004")));
    let c = choose(&s, BOTH).unwrap();
    assert_eq!(
        (c.payload_type, c.encoding, c.dtmf_payload_type),
        (8, "PCMA", Some(101))
    );

    let v6 = Endpoint {
        addr: "2001:db8::1".parse().unwrap(),
        port: 41000,
    };
    let mut origin = Origin::new(9, v6.addr);
    let a = answer(&s, &c, v6, &mut origin);
    let a = text(&a);
    assert!(a.contains("o=hotline 9 1 IN IP6 2001:db8::1\r\n"), "{a}");
    assert!(a.contains("c=IN IP6 2001:db8::1\r\n"), "{a}");
}

#[test]
fn audio_and_video_keep_both_m_lines() {
    let s = Session::parse(AUDIO_VIDEO.as_bytes()).unwrap();
    assert_eq!(s.media.len(), 2);
    assert_eq!(s.media[1].kind, "video");
    assert_eq!(
        s.media[1].connection,
        Some("192.168.0.34".parse::<IpAddr>().unwrap())
    );
    assert_eq!(s.media[1].formats, ["96", "34"]);
    assert_eq!(s.audio_endpoint(), Some(ep("192.168.0.33:52000")));
    let c = choose(&s, BOTH).unwrap();
    assert_eq!((c.payload_type, c.dtmf_payload_type), (0, Some(101)));
}

#[test]
fn unknown_lines_and_attributes_are_ignored_not_echoed() {
    let body = format!("{SIPP}a=x-carrier-tag:secret\r\nb=AS:64\r\nk=prompt\r\na=foo\r\n");
    let s = Session::parse(body.as_bytes()).unwrap();
    let c = choose(&s, BOTH).unwrap();
    let a = answer(&s, &c, ours(), &mut Origin::new(1, ours().addr));
    assert!(!text(&a).contains("x-carrier"));
    assert!(!text(&a).contains("b=AS"));
}

// --- negotiation: 488 -------------------------------------------------------------------------

#[test]
fn offers_we_cannot_take_are_488() {
    let g729 = CARRIER.replace(
        "m=audio 30000 RTP/AVP 8 0 18 4 101",
        "m=audio 30000 RTP/AVP 18 4 101",
    );
    let e = choose(&Session::parse(g729.as_bytes()).unwrap(), BOTH).unwrap_err();
    assert_eq!(e, SdpError::NoCommonCodec);
    assert_eq!(e.sip_status(), 488);

    // A dynamic payload type mapped to PCMU/16000 is not G.711.
    let wideband = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n";
    assert_eq!(
        choose(&Session::parse(wideband.as_bytes()).unwrap(), BOTH),
        Err(SdpError::NoCommonCodec)
    );

    let srtp = SIPP.replace("RTP/AVP", "RTP/SAVP");
    let e = choose(&Session::parse(srtp.as_bytes()).unwrap(), BOTH).unwrap_err();
    assert_eq!(e, SdpError::Transport("RTP/SAVP".into()));
    assert_eq!(e.sip_status(), 488);

    let no_audio = SIPP.replace("m=audio 6000", "m=audio 0");
    let e = choose(&Session::parse(no_audio.as_bytes()).unwrap(), BOTH).unwrap_err();
    assert_eq!((e.clone(), e.sip_status()), (SdpError::NoAudio, 488));
}

#[test]
fn dynamic_pcma_is_taken_at_its_number() {
    let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 97 96\r\na=rtpmap:97 pcma/8000/1\r\na=rtpmap:96 Telephone-Event/8000\r\n";
    let c = choose(&Session::parse(body.as_bytes()).unwrap(), BOTH).unwrap();
    assert_eq!(
        c,
        Choice {
            payload_type: 97,
            encoding: "PCMA",
            dtmf_payload_type: Some(96),
            ptime_ms: 20
        }
    );
}

// --- answers (RFC 3264 §6) --------------------------------------------------------------------

#[test]
fn answer_has_one_m_line_per_offered_line_in_order() {
    let offer = Session::parse(AUDIO_VIDEO.as_bytes()).unwrap();
    let c = choose(&offer, BOTH).unwrap();
    let mut origin = Origin::new(777, ours().addr);
    let a = answer(&offer, &c, ours(), &mut origin);
    assert_eq!(
        m_lines(&a),
        ["m=audio 40000 RTP/AVP 0 101", "m=video 0 RTP/AVP 96 34"]
    );

    let parsed = Session::parse(&a).unwrap();
    assert_eq!(parsed.media.len(), offer.media.len());
    assert_eq!(parsed.audio_endpoint(), Some(ours()));
    assert_eq!(parsed.timing, offer.timing);
    // The answer reads back as the same choice: the offerer's view of it.
    assert_eq!(choose(&parsed, BOTH).unwrap(), c);
    let audio = parsed.audio().unwrap();
    assert_eq!(audio.rtpmap(101).unwrap().encoding, "telephone-event");
    assert_eq!(
        audio.fmtps,
        [Fmtp {
            payload_type: 101,
            params: "0-15".into()
        }]
    );
    assert_eq!(audio.direction, Direction::SendRecv);
    assert_eq!(audio.ptime, Some(20));
    assert!(
        !text(&a).contains("a=rtcp:"),
        "no far-side addresses in ours"
    );
}

#[test]
fn answer_exactly_as_written() {
    let offer = Session::parse(CARRIER.as_bytes()).unwrap();
    let c = choose(&offer, BOTH).unwrap();
    let a = answer(&offer, &c, ours(), &mut Origin::new(5, ours().addr));
    assert_eq!(
        text(&a),
        "v=0\r\n\
o=hotline 5 1 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n"
    );
}

#[test]
fn answer_mirrors_direction() {
    for (offered, answered) in [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ] {
        let body = CARRIER.replace("a=sendrecv", &format!("a={offered}"));
        let offer = Session::parse(body.as_bytes()).unwrap();
        let c = choose(&offer, BOTH).unwrap();
        let a = answer(&offer, &c, ours(), &mut Origin::new(1, ours().addr));
        assert!(
            text(&a).ends_with(&format!("a={answered}\r\n")),
            "{offered}: {}",
            text(&a)
        );
    }
}

#[test]
fn disabled_streams_stay_disabled_and_later_audio_lines_are_rejected() {
    let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 0 RTP/AVP 18\r\nm=audio 4000 RTP/AVP 8\r\nm=audio 4002 RTP/AVP 0\r\nm=application 5000 UDP/BFCP *\r\n";
    let offer = Session::parse(body.as_bytes()).unwrap();
    assert_eq!(offer.audio_endpoint(), Some(ep("10.0.0.1:4000")));
    let c = choose(&offer, BOTH).unwrap();
    let a = answer(&offer, &c, ours(), &mut Origin::new(1, ours().addr));
    assert_eq!(
        m_lines(&a),
        [
            "m=audio 0 RTP/AVP 18",
            "m=audio 40000 RTP/AVP 8",
            "m=audio 0 RTP/AVP 0",
            "m=application 0 UDP/BFCP *"
        ]
    );
}

// --- offers we originate ----------------------------------------------------------------------

#[test]
fn offer_all_and_offer_exactly() {
    let mut origin = Origin::new(11, ours().addr);
    let all = offer(&Offer::all(), ours(), &mut origin);
    assert_eq!(m_lines(&all), ["m=audio 40000 RTP/AVP 0 8 101"]);
    let s = Session::parse(&all).unwrap();
    assert_eq!(s.audio().unwrap().rtpmap(8).unwrap().encoding, "PCMA");

    // The seat answers PCMA of the two.
    let seat_answer = "v=0\r\no=seat 1 1 IN IP4 10.1.0.50\r\ns=-\r\nc=IN IP4 10.1.0.50\r\nt=0 0\r\nm=audio 11000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let seat = Session::parse(seat_answer.as_bytes()).unwrap();
    assert_eq!(choose(&seat, BOTH).unwrap().encoding, "PCMA");

    // Towards the seat, exactly what the linphone caller got: no transcoding, same numbers.
    let caller = choose(&Session::parse(LINPHONE.as_bytes()).unwrap(), BOTH).unwrap();
    let mut seat_origin = Origin::new(12, ours().addr);
    let exact = offer(&Offer::exactly(&caller), ours(), &mut seat_origin);
    assert_eq!(m_lines(&exact), ["m=audio 40000 RTP/AVP 0 100"]);
    assert_eq!(
        choose(&Session::parse(&exact).unwrap(), BOTH).unwrap(),
        caller
    );

    // Hold the seat: same origin, body changed, version + 1.
    let hold = Offer {
        direction: Direction::SendOnly,
        ..Offer::exactly(&caller)
    };
    let held = offer(&hold, ours(), &mut seat_origin);
    assert!(text(&held).contains("o=hotline 12 2 IN IP4"));
    assert_eq!(
        Session::parse(&held).unwrap().audio().unwrap().direction,
        Direction::SendOnly
    );
}

// --- rewrite ----------------------------------------------------------------------------------

#[test]
fn rewrite_changes_addresses_and_audio_port_only() {
    let out = rewrite(AUDIO_VIDEO.as_bytes(), ours()).unwrap();
    let expected = AUDIO_VIDEO
        .replace("c=IN IP4 192.168.0.33", "c=IN IP4 198.51.100.7")
        .replace("m=audio 52000", "m=audio 40000")
        .replace("m=video 52002", "m=video 0")
        .replace("a=rtcp:52001\r\n", "");
    assert_eq!(text(&out), expected);
    // The video section's own c= is left: the stream is disabled.
    assert!(text(&out).contains("c=IN IP4 192.168.0.34\r\n"));
}

#[test]
fn rewrite_keeps_lf_endings_and_everything_else() {
    let v4 = ep("203.0.113.1:30000");
    let out = rewrite(IPV6.as_bytes(), v4).unwrap();
    let expected = IPV6
        .replace("c=IN IP6 2001:db8::10\n", "c=IN IP4 203.0.113.1\n")
        .replace(
            "m=audio 5004 RTP/AVP 8 101\t\n",
            "m=audio 30000 RTP/AVP 8 101\t\n",
        );
    assert_eq!(text(&out), expected);
    // The origin is the far side's, untouched.
    assert!(text(&out).contains("o=- 8000 8000 IN IP6 2001:db8::10 \n"));
}

#[test]
fn rewrite_media_level_connection() {
    let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.9\r\na=ptime:30\r\n";
    let out = rewrite(body.as_bytes(), ours()).unwrap();
    assert_eq!(
        text(&out),
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\nc=IN IP4 198.51.100.7\r\na=ptime:30\r\n"
    );
    assert_eq!(rewrite(b"v=0\r\n", ours()), Err(SdpError::MissingOrigin));
}

// --- robustness -------------------------------------------------------------------------------

fn mangle(base: &str, cuts: &[(usize, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for &(pos, byte) in cuts {
        if b.is_empty() {
            break;
        }
        let i = pos % b.len();
        match byte % 3 {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            _ => {
                b.remove(i);
            }
        }
    }
    b
}

fn exercise(body: &[u8]) {
    if let Ok(s) = Session::parse(body) {
        let _ = s.audio_endpoint();
        if let Ok(c) = choose(&s, BOTH) {
            let a = answer(&s, &c, ours(), &mut Origin::new(1, ours().addr));
            let back = Session::parse(&a).expect("our answers parse");
            assert_eq!(back.media.len(), s.media.len());
        }
        let r = rewrite(body, ours()).expect("a parsed body rewrites");
        Session::parse(&r).expect("a rewritten body parses");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&body);
    }

    #[test]
    fn mangled_offers_never_panic(
        which in 0usize..5,
        cuts in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
    ) {
        let base = [LINPHONE, SIPP, CARRIER, IPV6, AUDIO_VIDEO][which];
        exercise(&mangle(base, &cuts));
    }

    /// Bodies that get past `v=0`: random lines of the types we read, with plausible values.
    #[test]
    fn random_sdp_shaped_lines_never_panic(
        lines in proptest::collection::vec(
            "(o=[-a-z]{1,3} [0-9]{1,3} [0-9]{1,21} IN IP[46] [0-9a-f.:]{1,12}|c=IN IP[46] [0-9a-f.:/]{1,16}|m=(audio|video) [0-9/]{1,6} [A-Z/]{3,8}( [0-9*]{1,3}){0,4}|a=(rtpmap|fmtp|ptime|sendonly|rtcp|ice-ufrag)(:[ -~]{0,20})?|t=[0-9 ]{0,8}|[a-z]=[ -~]{0,12})",
            0..14,
        ),
        lf in any::<bool>(),
    ) {
        let eol = if lf { "\n" } else { "\r\n" };
        let body = format!("v=0{eol}{}{eol}", lines.join(eol));
        exercise(body.as_bytes());
    }

    #[test]
    fn answers_round_trip(pt_order in proptest::sample::subsequence(vec![0u8, 8, 18, 96, 101], 1..5),
                          ptime in 5u16..200) {
        let fmts: Vec<String> = pt_order.iter().map(u8::to_string).collect();
        let body = format!(
            "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {}\r\na=rtpmap:96 telephone-event/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:{ptime}\r\n",
            fmts.join(" ")
        );
        let offer = Session::parse(body.as_bytes()).unwrap();
        match choose(&offer, BOTH) {
            Ok(c) => {
                let first_g711 = pt_order.iter().find(|&&p| p == 0 || p == 8).copied();
                prop_assert_eq!(Some(c.payload_type), first_g711);
                let first_te = pt_order.iter().find(|&&p| p == 96 || p == 101).copied();
                prop_assert_eq!(c.dtmf_payload_type, first_te);
                let a = answer(&offer, &c, ours(), &mut Origin::new(1, ours().addr));
                prop_assert_eq!(choose(&Session::parse(&a).unwrap(), BOTH).unwrap(), c);
            }
            Err(e) => {
                prop_assert!(!pt_order.contains(&0) && !pt_order.contains(&8));
                prop_assert_eq!(e, SdpError::NoCommonCodec);
            }
        }
    }
}

// --- relay: continuity ------------------------------------------------------------------------

const OUR_SSRC: u32 = 0x0bad_cafe;

fn rtp(seq: u16, ts: u32, ssrc: u32, pt: u8, marker: bool) -> Vec<u8> {
    let mut p = Header {
        seq,
        timestamp: ts,
        ssrc,
        marker,
    }
    .to_bytes(pt)
    .to_vec();
    p.resize(172, 0xd5);
    p
}

/// (seq, ts, ssrc, marker, pt) as re-read by rtp-rs.
fn read(p: &[u8]) -> (u16, u32, u32, bool, u8) {
    let r = RtpReader::new(p).expect("valid RTP after rewrite");
    (
        r.sequence_number().into(),
        r.timestamp(),
        r.ssrc(),
        r.mark(),
        r.payload_type(),
    )
}

const MS20: Duration = Duration::from_millis(20);

#[test]
fn continuity_across_a_source_switch() {
    let t0 = Instant::now();
    let mut out = OutStream::new(OUR_SSRC, 100, 10_000);
    let caller = SourceId(1);
    let prompt = SourceId(2);

    // The caller's stream: seq 5000.., ts 777_000.., one packet lost (5002).
    let mut t = t0;
    let mut got = Vec::new();
    for (k, seq) in [5000u16, 5001, 5003].into_iter().enumerate() {
        let mut p = rtp(seq, 777_000 + 160 * u32::from(seq - 5000), 0x1111, 0, false);
        t = t0 + MS20 * k as u32;
        out.rewrite(caller, &mut p, t).unwrap();
        got.push(read(&p));
    }
    assert_eq!(
        got,
        [
            (100, 10_000, OUR_SSRC, true, 0),
            (101, 10_160, OUR_SSRC, false, 0),
            (103, 10_480, OUR_SSRC, false, 0), // the gap is kept
        ]
    );

    // 1 s of silence, then a prompt in its own numbering.
    let t1 = t + Duration::from_secs(1);
    let h = out.next_header(
        prompt,
        SourcePacket {
            seq: 0,
            timestamp: 0,
            marker: false,
            samples: 160,
        },
        t1,
    );
    assert_eq!(
        h,
        Header {
            seq: 104,
            timestamp: 10_480 + 8000,
            ssrc: OUR_SSRC,
            marker: true
        }
    );
    let h2 = out.next_header(
        prompt,
        SourcePacket {
            seq: 1,
            timestamp: 160,
            marker: false,
            samples: 160,
        },
        t1 + MS20,
    );
    assert_eq!(
        (h2.seq, h2.timestamp, h2.marker),
        (105, 18_480 + 160, false)
    );

    // Back to the caller (who kept counting meanwhile), switched at once: at least one packet
    // duration on, even though no wall time passed.
    let mut p = rtp(5060, 777_000 + 160 * 60, 0x1111, 0, false);
    out.rewrite(caller, &mut p, t1 + MS20).unwrap();
    assert_eq!(read(&p), (106, 18_640 + 160, OUR_SSRC, true, 0));
    assert_eq!(out.counters().source_switches, 3);
    assert_eq!(out.counters().packets_out, 6);
}

#[test]
fn continuity_across_wrap_around() {
    let t0 = Instant::now();
    let mut out = OutStream::new(OUR_SSRC, 65_534, u32::MAX - 200);
    let src = SourceId(9);
    let mut seen = Vec::new();
    for k in 0..4u16 {
        // The source itself wraps too.
        let mut p = rtp(
            65_535u16.wrapping_add(k),
            (u32::MAX - 100).wrapping_add(160 * u32::from(k)),
            7,
            8,
            false,
        );
        out.rewrite(src, &mut p, t0 + MS20 * u32::from(k)).unwrap();
        seen.push(read(&p));
    }
    let seqs: Vec<u16> = seen.iter().map(|s| s.0).collect();
    let tss: Vec<u32> = seen.iter().map(|s| s.1).collect();
    assert_eq!(seqs, [65_534, 65_535, 0, 1]);
    assert_eq!(tss, [u32::MAX - 200, u32::MAX - 40, 119, 279]);

    // A switch right after the wrap continues from the highest values, not the numerically
    // largest.
    let h = out.next_header(
        SourceId(10),
        SourcePacket {
            seq: 9,
            timestamp: 9,
            marker: false,
            samples: 160,
        },
        t0 + MS20 * 4,
    );
    assert_eq!((h.seq, h.timestamp, h.marker), (2, 439, true));
}

#[test]
fn reordering_and_dtmf_timestamps_survive() {
    let t0 = Instant::now();
    let mut out = OutStream::new(OUR_SSRC, 0, 0);
    let src = SourceId(1);
    let mut p = rtp(10, 1600, 5, 0, false);
    out.rewrite(src, &mut p, t0).unwrap();
    // RFC 4733: three packets of one event share its start timestamp; start has the marker.
    let mut seen = Vec::new();
    for (seq, marker) in [(11u16, true), (12, false), (13, false)] {
        let mut e = rtp(seq, 1760, 5, 101, marker);
        e.truncate(16);
        out.rewrite(src, &mut e, t0 + MS20).unwrap();
        seen.push(read(&e));
    }
    assert_eq!(
        seen,
        [
            (1, 160, OUR_SSRC, true, 101),
            (2, 160, OUR_SSRC, false, 101),
            (3, 160, OUR_SSRC, false, 101)
        ]
    );
    // A late packet keeps its place.
    let mut late = rtp(9, 1440, 5, 0, false);
    out.rewrite(src, &mut late, t0 + MS20).unwrap();
    assert_eq!(read(&late).0, u16::MAX);
    // ...and does not lower what the next switch continues from.
    let h = out.next_header(
        SourceId(2),
        SourcePacket {
            seq: 0,
            timestamp: 0,
            marker: false,
            samples: 0,
        },
        t0 + MS20,
    );
    assert_eq!(h.seq, 4);
}

#[test]
fn payload_types_can_be_renumbered() {
    let t0 = Instant::now();
    let mut out = OutStream::new(OUR_SSRC, 0, 0);
    out.map_payload_type(96, 101);
    out.map_payload_type(200, 1); // ignored
    let mut e = rtp(1, 1, 5, 96, true);
    out.rewrite(SourceId(1), &mut e, t0).unwrap();
    assert_eq!(read(&e).4, 101);
    let mut a = rtp(2, 161, 5, 0, false);
    out.rewrite(SourceId(1), &mut a, t0).unwrap();
    assert_eq!(read(&a).4, 0);
}

#[test]
fn rewrite_keeps_csrc_extension_padding_and_payload() {
    let t0 = Instant::now();
    let payload: Vec<u8> = (0..160u8).collect();
    let ext = [1u8, 2, 3, 4];
    let original = rtp_rs::RtpPacketBuilder::new()
        .payload_type(8)
        .ssrc(0x42)
        .sequence(rtp_rs::Seq::from(7))
        .timestamp(99)
        .add_csrc(0x0102_0304)
        .extension(0xbede, &ext)
        .padded(rtp_rs::Pad::round_to(4))
        .payload(&payload)
        .build()
        .unwrap();
    let mut p = original.clone();
    let mut out = OutStream::new(OUR_SSRC, 500, 600);
    out.rewrite(SourceId(3), &mut p, t0).unwrap();
    let r = RtpReader::new(&p).unwrap();
    assert_eq!(r.payload(), &payload[..]);
    assert_eq!(r.csrc().collect::<Vec<_>>(), [0x0102_0304]);
    assert_eq!(r.extension(), Some((0xbede, &ext[..])));
    assert_eq!(
        (
            u16::from(r.sequence_number()),
            r.timestamp(),
            r.ssrc(),
            r.mark()
        ),
        (500, 600, OUR_SSRC, true)
    );
    assert_eq!(p[12..], original[12..]);
    assert_eq!(p[0], original[0]);
}

#[test]
fn rewrite_refuses_non_rtp_untouched() {
    let t0 = Instant::now();
    let mut out = OutStream::new(OUR_SSRC, 0, 0);
    let mut junk = vec![0x80, 0x00, 1, 2, 3];
    assert_eq!(
        out.rewrite(SourceId(1), &mut junk, t0),
        Err(RelayError::TooShort(5))
    );
    assert_eq!(junk, [0x80, 0x00, 1, 2, 3]);
    let mut truncated = rtp(1, 1, 1, 0, false);
    truncated[0] = 0x8f; // 15 CSRCs announced
    truncated.truncate(40);
    assert_eq!(
        out.rewrite(SourceId(1), &mut truncated, t0),
        Err(RelayError::Truncated)
    );
    assert_eq!(out.counters().packets_out, 0);
    assert_eq!(out.source(), None);
}

proptest! {
    /// Whatever the source numbering and switch pattern, our sequence numbers advance by
    /// exactly one per packet when sources send in order, and our timestamps never go back.
    #[test]
    fn in_order_sources_give_a_gapless_stream(
        init_seq in any::<u16>(), init_ts in any::<u32>(),
        runs in proptest::collection::vec((any::<u16>(), any::<u32>(), 1usize..6, 0u64..3), 1..8),
    ) {
        let t0 = Instant::now();
        let mut out = OutStream::new(OUR_SSRC, init_seq, init_ts);
        let mut now = t0;
        let mut prev: Option<(u16, u32)> = None;
        for (i, (seq0, ts0, n, gap_ms)) in runs.into_iter().enumerate() {
            now += Duration::from_millis(gap_ms);
            for k in 0..n {
                let mut p = rtp(seq0.wrapping_add(k as u16), ts0.wrapping_add(160 * k as u32), 1, 0, false);
                out.rewrite(SourceId(i as u64), &mut p, now).unwrap();
                let (seq, ts, ssrc, marker, _) = read(&p);
                prop_assert_eq!(ssrc, OUR_SSRC);
                prop_assert_eq!(marker, k == 0);
                match prev {
                    None => prop_assert_eq!((seq, ts), (init_seq, init_ts)),
                    Some((ps, pt)) => {
                        prop_assert_eq!(seq, ps.wrapping_add(1));
                        let step = ts.wrapping_sub(pt);
                        prop_assert!((160..1 << 20).contains(&step), "step {}", step);
                    }
                }
                prev = Some((seq, ts));
                now += MS20;
            }
        }
    }
}

// --- relay: latching --------------------------------------------------------------------------

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn sends_to_sdp_address_until_rtp_arrives_then_latches() {
    let t0 = Instant::now();
    let sdp = sa("10.0.0.5:4000"); // private address in the SDP
    let nat = sa("203.0.113.9:61000"); // where its packets come from
    let mut latch = Latch::new(Some(sdp), &[8, 101], t0);
    assert_eq!(latch.send_to(), Some(sdp));
    assert_eq!(latch.idle_since(), t0);

    let t1 = t0 + MS20;
    assert_eq!(
        latch.on_packet(nat, &rtp(1, 1, 0xaaaa, 8, false), t1),
        Verdict::AcceptAndLatch {
            to: nat,
            ssrc: 0xaaaa
        }
    );
    assert_eq!(latch.send_to(), Some(nat));
    assert_eq!(latch.latched(), Some((nat, 0xaaaa)));
    assert_eq!(
        latch.on_packet(nat, &rtp(2, 161, 0xaaaa, 101, true), t1 + MS20),
        Verdict::Accept { ssrc: 0xaaaa }
    );
    assert_eq!(latch.idle_since(), t1 + MS20);
    assert_eq!(latch.counters().latched, 1);
}

#[test]
fn drops_what_is_not_the_leg_s_rtp() {
    let t0 = Instant::now();
    let peer = sa("203.0.113.9:61000");
    let mut latch = Latch::new(None, &[0, 101], t0);
    assert_eq!(latch.send_to(), None);
    // Not negotiated (comfort noise 13, PCMA 8): no latch.
    assert_eq!(
        latch.on_packet(peer, &rtp(1, 1, 1, 13, false), t0),
        Verdict::Drop(DropReason::PayloadType(13))
    );
    assert_eq!(
        latch.on_packet(peer, &rtp(1, 1, 1, 8, false), t0),
        Verdict::Drop(DropReason::PayloadType(8))
    );
    // STUN-like junk, version 0.
    assert_eq!(
        latch.on_packet(
            peer,
            &[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0],
            t0
        ),
        Verdict::Drop(DropReason::NotRtp(RelayError::Version(0)))
    );
    // RTCP sender report and receiver report on the RTP port.
    assert_eq!(
        latch.on_packet(peer, &[0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0], t0),
        Verdict::Rtcp
    );
    assert_eq!(
        latch.on_packet(peer, &[0x81, 201, 0, 7, 0, 0, 0, 1], t0),
        Verdict::Rtcp
    );
    assert_eq!(latch.latched(), None);
    assert_eq!(
        latch.idle_since(),
        t0,
        "nothing accepted keeps the leg alive"
    );
    let c = *latch.counters();
    assert_eq!(
        (
            c.packets_in,
            c.dropped_payload_type,
            c.dropped_not_rtp,
            c.rtcp_in
        ),
        (5, 2, 1, 2)
    );
}

#[test]
fn foreign_source_is_dropped_while_the_latched_one_is_live() {
    let t0 = Instant::now();
    let peer = sa("203.0.113.9:61000");
    let intruder = sa("192.0.2.66:5004");
    let mut latch = Latch::new(None, &[0], t0);
    latch.on_packet(peer, &rtp(1, 1, 0xaaaa, 0, false), t0);
    let t = t0 + MS20;
    assert_eq!(
        latch.on_packet(intruder, &rtp(9, 9, 0xbbbb, 0, false), t),
        Verdict::Drop(DropReason::ForeignSource { ssrc: 0xbbbb })
    );
    assert_eq!(latch.send_to(), Some(peer));
    assert_eq!(latch.counters().dropped_foreign_source, 1);

    // Same address, new SSRC: the peer restarted its stream.
    assert_eq!(
        latch.on_packet(peer, &rtp(500, 9, 0xcccc, 0, false), t),
        Verdict::Accept { ssrc: 0xcccc }
    );
    assert_eq!(latch.counters().ssrc_changes, 1);

    // Same SSRC, new port: the NAT binding moved.
    let rebound = sa("203.0.113.9:61002");
    assert_eq!(
        latch.on_packet(rebound, &rtp(501, 169, 0xcccc, 0, false), t + MS20),
        Verdict::AcceptAndLatch {
            to: rebound,
            ssrc: 0xcccc
        }
    );

    // The latched source goes silent for longer than the relatch period: a newcomer takes over.
    let later = t + MS20 + DEFAULT_RELATCH_AFTER;
    assert_eq!(
        latch.on_packet(intruder, &rtp(10, 10, 0xbbbb, 0, false), later),
        Verdict::AcceptAndLatch {
            to: intruder,
            ssrc: 0xbbbb
        }
    );
    assert_eq!(latch.counters().latched, 3);
}

#[test]
fn relatch_period_is_configurable() {
    let t0 = Instant::now();
    let mut latch = Latch::new(None, &[0], t0);
    latch.set_relatch_after(Duration::from_secs(3600));
    latch.on_packet(sa("10.0.0.1:1000"), &rtp(1, 1, 1, 0, false), t0);
    let v = latch.on_packet(
        sa("10.0.0.2:1000"),
        &rtp(1, 1, 2, 0, false),
        t0 + Duration::from_secs(60),
    );
    assert_eq!(v, Verdict::Drop(DropReason::ForeignSource { ssrc: 2 }));
}

#[test]
fn no_rtp_timeout_and_sdp_updates() {
    let t0 = Instant::now();
    let timeout = Duration::from_secs(30);
    let sdp = sa("10.0.0.5:4000");
    let peer = sa("203.0.113.9:61000");
    let mut latch = Latch::new(Some(sdp), &[0], t0);
    assert!(!latch.timed_out(t0 + Duration::from_secs(29), timeout));
    assert!(latch.timed_out(t0 + timeout, timeout));

    let t1 = t0 + Duration::from_secs(10);
    latch.on_packet(peer, &rtp(1, 1, 1, 0, false), t1);
    assert!(!latch.timed_out(t0 + timeout, timeout));
    assert!(latch.timed_out(t1 + timeout, timeout));

    // Re-INVITE with the same address (refresh, resume): stays latched, clock restarts.
    let t2 = t1 + Duration::from_secs(25);
    latch.update(Some(sdp), &[0, 101], t2);
    assert_eq!(latch.send_to(), Some(peer));
    assert_eq!(latch.idle_since(), t2);
    assert_eq!(
        latch.on_packet(peer, &rtp(2, 161, 1, 101, false), t2),
        Verdict::Accept { ssrc: 1 }
    );

    // The far side moves its media: unlatch, send to the new SDP address until it speaks.
    let moved = sa("10.0.0.6:4100");
    latch.update(Some(moved), &[0, 101], t2);
    assert_eq!(latch.send_to(), Some(moved));
    assert_eq!(latch.latched(), None);
}

#[test]
fn counters_add_up_per_leg() {
    let t0 = Instant::now();
    let peer = sa("203.0.113.9:61000");
    let mut latch = Latch::new(None, &[0], t0);
    let mut out = OutStream::new(OUR_SSRC, 0, 0);
    for k in 0..3u16 {
        let mut p = rtp(k, u32::from(k) * 160, 1, 0, false);
        if let Verdict::Accept { .. } | Verdict::AcceptAndLatch { .. } =
            latch.on_packet(peer, &p, t0)
        {
            out.rewrite(SourceId(1), &mut p, t0).unwrap();
        }
    }
    let leg = *latch.counters() + *out.counters();
    assert_eq!(
        (
            leg.packets_in,
            leg.packets_out,
            leg.latched,
            leg.source_switches
        ),
        (3, 3, 1, 1)
    );
}
