//! The media plane over real UDP on 127.0.0.1: relay, latching, source continuity, prompts,
//! DTMF, the mixer, bad input, the no-RTP timeout, bind failures. Each test uses its own
//! ports (40000-40999) and plane, and is bounded in time.
#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use media::call::LegId;
use media::dtmf::{DtmfReceiver, DtmfSender};
use media::g711::{self, Codec};
use media::plane::{MediaEvent, MediaPlane, MediaStats, PlaneConfig};
use media::player::{After, Clip, Playlist};
use media::relay::Header;
use media::sdp::Choice;
use media::tone::{goertzel_power, Level, Tone};
use media::wav::Prompt;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LIMIT: Duration = Duration::from_secs(15);

fn pcmu() -> Choice {
    Choice {
        payload_type: 0,
        encoding: "PCMU",
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
    }
}

fn pcma() -> Choice {
    Choice {
        payload_type: 8,
        encoding: "PCMA",
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
    }
}

fn plane(no_rtp: Duration) -> (MediaPlane, mpsc::UnboundedReceiver<MediaEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let plane = MediaPlane::start(
        PlaneConfig {
            bind_ip: LOCAL,
            no_rtp_timeout: no_rtp,
        },
        move |e| {
            let _ = tx.send(e);
        },
    );
    (plane, rx)
}

async fn socket() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind((LOCAL, 0)).await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

fn port(p: u16) -> SocketAddr {
    SocketAddr::new(LOCAL, p)
}

fn rtp(seq: u16, ts: u32, ssrc: u32, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = Header {
        seq,
        timestamp: ts,
        ssrc,
        marker,
    }
    .to_bytes(pt)
    .to_vec();
    p.extend_from_slice(payload);
    p
}

struct Rtp {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn parse(p: &[u8]) -> Rtp {
    assert!(p.len() >= 12, "short packet");
    Rtp {
        pt: p[1] & 0x7f,
        marker: p[1] & 0x80 != 0,
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        payload: p[12..].to_vec(),
    }
}

async fn recv(s: &UdpSocket, within: Duration) -> Option<Rtp> {
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(within, s.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(parse(&buf[..n]))
}

/// Receives `n` packets (or fewer when `within` runs out).
async fn recv_n(s: &UdpSocket, n: usize, within: Duration) -> Vec<Rtp> {
    let end = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let left = end.saturating_duration_since(Instant::now());
        match recv(s, left).await {
            Some(p) => out.push(p),
            None => break,
        }
    }
    out
}

/// Waits until the plane's stats satisfy `ok` (they are flushed every ~100 ms).
async fn stats_until(plane: &MediaPlane, ok: impl Fn(&MediaStats) -> bool) -> MediaStats {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let s = plane.stats();
        if ok(&s) || Instant::now() > end {
            return s;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

async fn next_event(
    rx: &mut mpsc::UnboundedReceiver<MediaEvent>,
    within: Duration,
) -> Option<MediaEvent> {
    timeout(within, rx.recv()).await.ok().flatten()
}

fn assert_consecutive(pkts: &[Rtp]) {
    for w in pkts.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers must be consecutive"
        );
        assert_eq!(w[1].ssrc, w[0].ssrc, "one SSRC");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_both_ways() {
    timeout(LIMIT, async {
        let (plane, _events) = plane(Duration::from_secs(30));
        let (c, ca) = socket().await;
        let (s, sa) = socket().await;
        plane
            .open_leg(1, LegId::CALLER, 40100, pcmu(), Some(ca))
            .unwrap();
        plane
            .open_leg(1, LegId::SEAT, 40102, pcmu(), Some(sa))
            .unwrap();
        plane.bridge(1, LegId::CALLER, LegId::SEAT);
        let (c, s) = (Arc::new(c), Arc::new(s));
        let rc = tokio::spawn({
            let c = Arc::clone(&c);
            async move { recv_n(&c, 100, Duration::from_secs(5)).await }
        });
        let rs = tokio::spawn({
            let s = Arc::clone(&s);
            async move { recv_n(&s, 100, Duration::from_secs(5)).await }
        });
        for i in 0..100u16 {
            let payload = [i as u8; 160];
            c.send_to(
                &rtp(1000 + i, 160 * u32::from(i), 0xc0c0, 0, false, &payload),
                port(40100),
            )
            .await
            .unwrap();
            let payload = [!(i as u8); 160];
            s.send_to(
                &rtp(5000 + i, 160 * u32::from(i), 0x5e5e, 0, false, &payload),
                port(40102),
            )
            .await
            .unwrap();
            if i % 10 == 9 {
                sleep(Duration::from_millis(2)).await;
            }
        }
        let at_seat = rs.await.unwrap();
        let at_caller = rc.await.unwrap();
        assert_eq!(at_seat.len(), 100);
        assert_eq!(at_caller.len(), 100);
        assert_consecutive(&at_seat);
        assert_consecutive(&at_caller);
        assert_ne!(at_seat[0].ssrc, 0xc0c0);
        assert_ne!(at_caller[0].ssrc, 0x5e5e);
        for (i, p) in at_seat.iter().enumerate() {
            assert_eq!((p.pt, p.payload.as_slice()), (0, &[i as u8; 160][..]));
        }
        for (i, p) in at_caller.iter().enumerate() {
            assert_eq!((p.pt, p.payload.as_slice()), (0, &[!(i as u8); 160][..]));
        }
        let st = stats_until(&plane, |s| s.packets_in == 200 && s.packets_out == 200).await;
        assert_eq!((st.packets_in, st.packets_out), (200, 200));
        assert_eq!((st.calls, st.legs, st.send_errors), (1, 2, 0));
        plane.close_call(1);
        let st = stats_until(&plane, |s| s.calls == 0).await;
        assert_eq!((st.calls, st.legs), (0, 0));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latching_symmetric_rtp() {
    timeout(LIMIT, async {
        let (plane, _events) = plane(Duration::from_secs(30));
        let (c, _) = socket().await;
        let (s, sa) = socket().await;
        plane
            .open_leg(2, LegId::CALLER, 40110, pcmu(), None)
            .unwrap();
        plane
            .open_leg(2, LegId::SEAT, 40112, pcmu(), Some(sa))
            .unwrap();
        plane.bridge(2, LegId::CALLER, LegId::SEAT);
        // The caller's first packet latches its address…
        c.send_to(&rtp(1, 0, 0xc, 0, false, &[1; 160]), port(40110))
            .await
            .unwrap();
        let p = recv(&s, Duration::from_secs(2))
            .await
            .expect("relayed to the seat");
        assert_eq!(p.payload, [1; 160]);
        // …so the seat's packets go back there.
        s.send_to(&rtp(1, 0, 0x5, 0, false, &[2; 160]), port(40112))
            .await
            .unwrap();
        let p = recv(&c, Duration::from_secs(2))
            .await
            .expect("sent to the latched address");
        assert_eq!(p.payload, [2; 160]);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_change_keeps_one_stream() {
    timeout(LIMIT, async {
        let (plane, mut events) = plane(Duration::from_secs(30));
        let (c, ca) = socket().await;
        let (s, sa) = socket().await;
        plane
            .open_leg(3, LegId::CALLER, 40120, pcmu(), Some(ca))
            .unwrap();
        plane
            .open_leg(3, LegId::SEAT, 40122, pcmu(), Some(sa))
            .unwrap();
        let tone = Tone::new(1000.0, Level::Peak(8000)).with_length(Duration::from_millis(200));
        plane.play(
            3,
            LegId::CALLER,
            Playlist {
                clips: vec![Clip::Tone(tone)],
                then: After::Silence,
            },
        );
        let mut got = recv_n(&c, 10, Duration::from_secs(3)).await;
        assert_eq!(got.len(), 10);
        assert_eq!(
            next_event(&mut events, Duration::from_secs(2)).await,
            Some(MediaEvent::PlayDone {
                call: 3,
                leg: LegId::CALLER
            })
        );
        plane.bridge(3, LegId::CALLER, LegId::SEAT);
        sleep(Duration::from_millis(50)).await;
        for i in 0..5u16 {
            s.send_to(
                &rtp(
                    9000 + i,
                    777 + 160 * u32::from(i),
                    0x5e,
                    0,
                    false,
                    &[7; 160],
                ),
                port(40122),
            )
            .await
            .unwrap();
        }
        got.extend(recv_n(&c, 5, Duration::from_secs(2)).await);
        assert_eq!(got.len(), 15);
        assert_consecutive(&got);
        assert!(got[0].marker, "first packet of the stream");
        assert!(got[1..10].iter().all(|p| !p.marker));
        assert!(got[10].marker, "first packet after the switch");
        assert_eq!(got[10].payload, [7; 160]);
        assert!(got[11..].iter().all(|p| !p.marker));
        // Timestamps move forward across the switch.
        assert!(got[10].ts.wrapping_sub(got[9].ts) as i32 >= 160);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_playback_is_exact() {
    timeout(LIMIT, async {
        let (plane, mut events) = plane(Duration::from_secs(30));
        let (c, ca) = socket().await;
        let mut samples = vec![0i16; 8000];
        Tone::new(440.0, Level::Peak(12000)).fill(&mut samples);
        let prompt = Arc::new(Prompt::from_samples(samples.clone()));
        plane
            .open_leg(4, LegId::CALLER, 40130, pcma(), Some(ca))
            .unwrap();
        plane.play(
            4,
            LegId::CALLER,
            Playlist {
                clips: vec![Clip::Prompt(prompt)],
                then: After::Silence,
            },
        );
        let got = recv_n(&c, 50, Duration::from_secs(4)).await;
        assert_eq!(got.len(), 50);
        assert_consecutive(&got);
        for (k, p) in got.iter().enumerate() {
            assert_eq!(p.pt, 8);
            let mut decoded = [0i16; 160];
            g711::decode_into(Codec::Pcma, &p.payload, &mut decoded);
            let mut expect = [0u8; 160];
            g711::encode_into(Codec::Pcma, &samples[k * 160..(k + 1) * 160], &mut expect);
            let mut expect_pcm = [0i16; 160];
            g711::decode_into(Codec::Pcma, &expect, &mut expect_pcm);
            assert_eq!(decoded, expect_pcm, "frame {k}");
            assert_eq!(p.ts.wrapping_sub(got[0].ts), 160 * k as u32);
        }
        assert_eq!(
            next_event(&mut events, Duration::from_secs(2)).await,
            Some(MediaEvent::PlayDone {
                call: 4,
                leg: LegId::CALLER
            })
        );
        // Nothing after the playlist (After::Silence).
        assert!(recv(&c, Duration::from_millis(200)).await.is_none());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_in_and_out() {
    timeout(LIMIT, async {
        let (plane, mut events) = plane(Duration::from_secs(30));
        let (c, ca) = socket().await;
        plane
            .open_leg(5, LegId::CALLER, 40140, pcmu(), Some(ca))
            .unwrap();
        let mut seq = 100u16;
        for (digit, ts) in [('4', 8000u32), ('1', 16000)] {
            for p in DtmfSender::new(digit, 100, 10).unwrap() {
                c.send_to(&rtp(seq, ts, 0xd, 101, p.marker, &p.payload), port(40140))
                    .await
                    .unwrap();
                seq += 1;
                sleep(Duration::from_millis(5)).await;
            }
        }
        let mut digits = Vec::new();
        while let Some(e) = next_event(&mut events, Duration::from_millis(500)).await {
            digits.push(e);
        }
        assert_eq!(
            digits,
            [
                MediaEvent::Digit {
                    call: 5,
                    leg: LegId::CALLER,
                    digit: '4'
                },
                MediaEvent::Digit {
                    call: 5,
                    leg: LegId::CALLER,
                    digit: '1'
                },
            ]
        );
        let st = stats_until(&plane, |s| s.dtmf_digits == 2).await;
        assert_eq!(st.dtmf_digits, 2);

        plane.send_digits(5, LegId::CALLER, "12");
        let mut rx = DtmfReceiver::new();
        let mut keys = String::new();
        let mut packets = Vec::new();
        while let Some(p) = recv(&c, Duration::from_millis(500)).await {
            assert_eq!(p.pt, 101);
            keys.extend(rx.on_packet(p.ts, p.marker, &p.payload));
            packets.push(p);
        }
        assert_eq!(keys, "12");
        assert_eq!(packets.len(), 14);
        assert_consecutive(&packets);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixer_each_hears_the_others() {
    timeout(LIMIT, async {
        let (plane, _events) = plane(Duration::from_secs(30));
        let freqs = [500.0f32, 1000.0, 1500.0];
        let ports = [40150u16, 40152, 40154];
        let mut socks = Vec::new();
        for (i, &p) in ports.iter().enumerate() {
            let (s, a) = socket().await;
            plane
                .open_leg(6, LegId(i as u8), p, pcmu(), Some(a))
                .unwrap();
            socks.push(Arc::new(s));
        }
        plane.mix(6, &[LegId(0), LegId(1), LegId(2)]);
        let mut receivers = Vec::new();
        for s in &socks {
            let s = Arc::clone(s);
            receivers.push(tokio::spawn(async move {
                let mut pcm = Vec::new();
                let end = Instant::now() + Duration::from_millis(1400);
                loop {
                    let left = end.saturating_duration_since(Instant::now());
                    let Some(p) = recv(&s, left).await else { break };
                    pcm.extend(p.payload.iter().map(|&b| Codec::Pcmu.decode(b)));
                }
                pcm
            }));
        }
        let mut senders = Vec::new();
        for (i, s) in socks.iter().enumerate() {
            let s = Arc::clone(s);
            let (f, to) = (freqs[i], port(ports[i]));
            senders.push(tokio::spawn(async move {
                let mut tone = Tone::new(f, Level::Peak(8000));
                let mut pace = tokio::time::interval(Duration::from_millis(20));
                for k in 0..50u16 {
                    pace.tick().await;
                    let mut frame = [0i16; 160];
                    tone.fill(&mut frame);
                    let mut payload = [0u8; 160];
                    g711::encode_into(Codec::Pcmu, &frame, &mut payload);
                    s.send_to(
                        &rtp(k, 160 * u32::from(k), 0x100 + i as u32, 0, false, &payload),
                        to,
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        for s in senders {
            s.await.unwrap();
        }
        for (i, r) in receivers.into_iter().enumerate() {
            let pcm = r.await.unwrap();
            assert!(pcm.len() >= 160 * 30, "leg {i} got {} samples", pcm.len());
            let power: Vec<f32> = freqs.iter().map(|&f| goertzel_power(&pcm, f)).collect();
            let others = (0..3).filter(|&j| j != i).map(|j| power[j]);
            let weakest_other = others.fold(f32::MAX, f32::min);
            assert!(weakest_other > 1.0e5, "leg {i}: {power:?}");
            assert!(
                power[i] * 100.0 < weakest_other,
                "leg {i} hears itself: {power:?}"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_relay_goes_on() {
    timeout(LIMIT, async {
        let (plane, mut events) = plane(Duration::from_secs(30));
        let (c, ca) = socket().await;
        let (s, sa) = socket().await;
        let (foreign, _) = socket().await;
        plane
            .open_leg(7, LegId::CALLER, 40160, pcmu(), Some(ca))
            .unwrap();
        plane
            .open_leg(7, LegId::SEAT, 40162, pcmu(), Some(sa))
            .unwrap();
        plane.bridge(7, LegId::CALLER, LegId::SEAT);
        c.send_to(&rtp(1, 0, 0xc, 0, false, &[1; 160]), port(40160))
            .await
            .unwrap();
        assert_eq!(
            recv(&s, Duration::from_secs(2)).await.unwrap().payload,
            [1; 160]
        );

        let rtp_port = port(40160);
        foreign.send_to(b"hello, garbage", rtp_port).await.unwrap(); // version 1: not RTP
        foreign
            .send_to(&[0x80, 0, 0, 1, 0], rtp_port)
            .await
            .unwrap(); // truncated
        foreign
            .send_to(&rtp(1, 0, 0xf, 13, false, &[0; 10]), rtp_port)
            .await
            .unwrap(); // CN: not negotiated
        foreign
            .send_to(&[0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0], rtp_port)
            .await
            .unwrap(); // RTCP SR
        foreign
            .send_to(&[0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0], port(40161))
            .await
            .unwrap(); // RTCP port
        foreign
            .send_to(&rtp(1, 0, 0xf, 0, false, &[9; 160]), rtp_port)
            .await
            .unwrap(); // foreign source
        c.send_to(&rtp(2, 160, 0xc, 101, true, &[1, 2]), rtp_port)
            .await
            .unwrap(); // short telephone-event
        sleep(Duration::from_millis(100)).await;
        c.send_to(&rtp(3, 320, 0xc, 0, false, &[3; 160]), rtp_port)
            .await
            .unwrap();
        let p = recv(&s, Duration::from_secs(2)).await.unwrap();
        assert_eq!(p.payload, [3; 160], "only the valid packet is relayed");
        assert!(recv(&s, Duration::from_millis(200)).await.is_none());

        let st = stats_until(&plane, |s| s.packets_in == 9 && s.bad_telephone_event == 1).await;
        assert_eq!(st.packets_in, 9, "{st:?}");
        assert_eq!(st.dropped_not_rtp, 2, "{st:?}");
        assert_eq!(st.dropped_payload_type, 1, "{st:?}");
        assert_eq!(st.rtcp_in, 2, "{st:?}");
        assert_eq!(st.dropped_foreign_source, 1, "{st:?}");
        assert_eq!(st.bad_telephone_event, 1, "{st:?}");
        assert_eq!(st.packets_out, 2, "{st:?}");
        assert_eq!(st.dtmf_digits, 0);
        assert!(next_event(&mut events, Duration::from_millis(50))
            .await
            .is_none());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rtp_timeout() {
    timeout(LIMIT, async {
        let (plane, mut events) = plane(Duration::from_secs(1));
        let (_c, ca) = socket().await;
        let start = Instant::now();
        plane
            .open_leg(8, LegId::CALLER, 40170, pcmu(), Some(ca))
            .unwrap();
        plane.update_leg(8, LegId::CALLER, pcmu(), Some(ca), true);
        let e = next_event(&mut events, Duration::from_secs(3)).await;
        assert_eq!(
            e,
            Some(MediaEvent::NoRtp {
                call: 8,
                leg: LegId::CALLER
            })
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2200),
            "{took:?}"
        );
        // Once only.
        assert!(next_event(&mut events, Duration::from_millis(1500))
            .await
            .is_none());
        assert_eq!(
            stats_until(&plane, |s| s.no_rtp_timeouts == 1)
                .await
                .no_rtp_timeouts,
            1
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_failure() {
    timeout(LIMIT, async {
        let (plane, _events) = plane(Duration::from_secs(30));
        // RTCP port taken: fails, and the RTP port is released.
        let held = std::net::UdpSocket::bind((LOCAL, 40181)).unwrap();
        assert!(plane
            .open_leg(9, LegId::CALLER, 40180, pcmu(), None)
            .is_err());
        assert_eq!(plane.stats().bind_failures, 1);
        drop(std::net::UdpSocket::bind((LOCAL, 40180)).expect("port released"));
        drop(held);
        // RTP port taken.
        let _held = std::net::UdpSocket::bind((LOCAL, 40190)).unwrap();
        assert!(plane
            .open_leg(9, LegId::CALLER, 40190, pcmu(), None)
            .is_err());
        let st = plane.stats();
        assert_eq!((st.bind_failures, st.calls, st.legs), (2, 0, 0));
        // Both free now: works.
        plane
            .open_leg(9, LegId::CALLER, 40180, pcmu(), None)
            .unwrap();
        assert_eq!(stats_until(&plane, |s| s.legs == 1).await.legs, 1);
    })
    .await
    .unwrap();
}
