//! Cost of [`MediaCall::on_rtp`] on the relay fast path: a 172-byte PCMU packet (12-byte
//! header, 20 ms) from the latched caller, rewritten in place for the bridged seat. This is
//! all the per-packet work of the call task besides the two syscalls.
//!
//! * `relay_same_codec`: PCMU → PCMU (latch, header rewrite).
//! * `relay_transcode`: PCMU → PCMA (the same plus 160 table lookups).
#![allow(missing_docs, clippy::disallowed_methods)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::call::{LegId, MediaCall};
use media::relay::Header;
use media::sdp::Choice;

fn choice(pt: u8) -> Choice {
    Choice {
        payload_type: pt,
        encoding: if pt == 8 { "PCMA" } else { "PCMU" },
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
    }
}

fn bench_relay(c: &mut Criterion, name: &str, seat_pt: u8) {
    let caller: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let seat: SocketAddr = "192.0.2.2:4000".parse().unwrap();
    let t0 = Instant::now();
    let mut call = MediaCall::new();
    call.add_leg(LegId::CALLER, choice(0), Some(caller), 1, 1, 1, t0);
    call.add_leg(LegId::SEAT, choice(seat_pt), Some(seat), 2, 2, 2, t0);
    call.bridge(LegId::CALLER, LegId::SEAT);
    let mut pkt = Header {
        seq: 0,
        timestamp: 0,
        ssrc: 0x1234_5678,
        marker: false,
    }
    .to_bytes(0)
    .to_vec();
    pkt.resize(172, 0x55);
    let mut seq = 0u16;
    let mut now = t0;
    let mut g = c.benchmark_group("call");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            // A fresh source header each time, as the caller would send it.
            seq = seq.wrapping_add(1);
            pkt[1] = 0;
            pkt[2..4].copy_from_slice(&seq.to_be_bytes());
            pkt[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            pkt[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
            now += Duration::from_micros(1);
            black_box(call.on_rtp(now, LegId::CALLER, caller, black_box(&mut pkt)))
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_relay(c, "relay_same_codec", 0);
    bench_relay(c, "relay_transcode", 8);
}

criterion_group!(call, benches);
criterion_main!(call);
