//! Cost of the relay's per-packet work on a 172-byte G.711 packet (12-byte header, 160 bytes
//! = 20 ms of PCMU). The platform's aim is 100,000 packets/s on two cores, so everything
//! here should stay well under 100 ns.
//!
//! * `rewrite_same_source`: [`OutStream::rewrite`] in place, steady state (one source).
//! * `rewrite_switching_source`: the same, with the source changing on every packet (the
//!   worst case: offsets recomputed, wall time converted to samples each time).
//! * `latch_accept`: [`Latch::on_packet`] for a packet from the latched address and SSRC.
//! * `latch_then_rewrite`: both, what the shell does for every relayed packet.
#![allow(missing_docs, clippy::disallowed_methods)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::relay::{Header, Latch, OutStream, SourceId};

fn packet() -> Vec<u8> {
    let mut p = Header {
        seq: 4242,
        timestamp: 123_456,
        ssrc: 0x1234_5678,
        marker: false,
    }
    .to_bytes(0)
    .to_vec();
    p.resize(172, 0xff);
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1));
    let t0 = Instant::now();
    let now = t0 + Duration::from_millis(20);

    g.bench_function("rewrite_same_source", |b| {
        let mut out = OutStream::new(0xdead_beef, 1, 1);
        let mut p = packet();
        b.iter(|| {
            out.rewrite(
                black_box(SourceId(1)),
                black_box(&mut p[..]),
                black_box(now),
            )
            .unwrap();
        });
        black_box(&p);
    });

    g.bench_function("rewrite_switching_source", |b| {
        let mut out = OutStream::new(0xdead_beef, 1, 1);
        let mut p = packet();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            out.rewrite(
                black_box(SourceId(i & 1)),
                black_box(&mut p[..]),
                black_box(now),
            )
            .unwrap();
        });
        black_box(&p);
    });

    let from: SocketAddr = "203.0.113.5:40000".parse().unwrap();
    let p = packet();
    g.bench_function("latch_accept", |b| {
        let mut latch = Latch::new(None, &[0, 101], t0);
        latch.on_packet(from, &p, t0);
        b.iter(|| black_box(latch.on_packet(black_box(from), black_box(&p), black_box(now))));
    });

    g.bench_function("latch_then_rewrite", |b| {
        let mut latch = Latch::new(None, &[0, 101], t0);
        let mut out = OutStream::new(0xdead_beef, 1, 1);
        let mut p = packet();
        latch.on_packet(from, &p, t0);
        b.iter(|| {
            black_box(latch.on_packet(black_box(from), black_box(&p), black_box(now)));
            out.rewrite(SourceId(1), black_box(&mut p[..]), now)
                .unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
