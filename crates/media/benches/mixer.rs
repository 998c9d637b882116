//! Cost of one 20 ms mixer tick (every party `put`s a frame, then `mix`) for 3 and 8 parties.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use media::mixer::{Frame, Mixer, FRAME_SAMPLES};
use media::tone::{Level, Tone};

fn tick(c: &mut Criterion, parties: usize) {
    let mut mixer = Mixer::new();
    let ids: Vec<_> = (0..parties).map(|_| mixer.add_party().unwrap()).collect();
    let frames: Vec<Frame> = (0..parties)
        .map(|p| {
            let mut t = Tone::new(300.0 + 150.0 * p as f32, Level::Dbm0(-10.0));
            let mut f = [0i16; FRAME_SAMPLES];
            t.fill(&mut f);
            f
        })
        .collect();
    c.bench_function(&format!("mixer tick, {parties} parties"), |b| {
        b.iter(|| {
            for (id, f) in ids.iter().zip(&frames) {
                mixer.put(*id, black_box(f));
            }
            mixer.mix(|id, out| {
                black_box((id, out));
            });
        });
    });
}

fn ticks(c: &mut Criterion) {
    tick(c, 3);
    tick(c, 8);
}

criterion_group!(benches, ticks);
criterion_main!(benches);
