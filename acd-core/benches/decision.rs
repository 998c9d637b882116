//! Routing decisions at platform scale: 190 seats, 10,000 waiting calls.
//!
//! * `seat_frees_10k_waiting`: a talking seat ends its call (no wrap-up), becomes Ready and
//!   takes the best of 10,000 waiting calls across queues, topics and priorities; the offer is
//!   answered and a new call arrives to keep 10,000 waiting. Three events, one decision.
//! * `call_arrives_190_idle_*`: a call arrives with 190 idle seats and picks one; the caller
//!   then hangs up. Two events, one decision. Longest-idle reads the head of each pool's idle
//!   set; the other strategies scan the idle seats of the tier's pools.
//!
//! Before criterion runs, each decision is also timed one by one to print p50/p99/p99.9.
#![allow(missing_docs, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use acd_core::*;
use criterion::{criterion_group, Criterion, Throughput};

const WAITING: u64 = 10_000;

fn config(strategy: Strategy) -> AcdConfig {
    let mut cfg = AcdConfig::default();
    let topics: Vec<TopicId> = ["general", "民政", "legal", "education", "tourism", "fire"]
        .iter()
        .map(|t| cfg.topic(t))
        .collect();
    let legal = topics[2];
    let tier = |pools: &[Pool], min_level, after| Tier {
        pools: pools.to_vec(),
        min_level,
        after: Duration::from_secs(after),
    };
    let queue = |name: &str, lines: &[u32], tiers| QueueConfig {
        name: name.into(),
        lines: lines.iter().map(|&l| Line(l)).collect(),
        strategy,
        tiers,
        ring_timeout: Some(Duration::from_secs(15)),
        max_wait: None,
    };
    cfg.queues.push(queue(
        "12345",
        &[12345, 12349, 12301],
        vec![tier(&[Pool::Intake, Pool::Surge], None, 0)],
    ));
    cfg.queues.push(queue(
        "12348",
        &[12348],
        vec![
            tier(&[Pool::Expert], Some(5), 0),
            tier(&[Pool::Intake], None, 30),
        ],
    ));
    cfg.queues.push(queue(
        "support",
        &[12350],
        vec![tier(&[Pool::Support, Pool::Intake], None, 0)],
    ));
    let mut id = 0;
    let mut add = |cfg: &mut AcdConfig, pool, n| {
        for _ in 0..n {
            id += 1;
            let mut s = SeatConfig::new(SeatId(id), pool);
            s.skills.push(Skill {
                topic: legal,
                level: 5 + (id % 5) as u8,
            });
            cfg.seats.push(s);
        }
    };
    add(&mut cfg, Pool::Intake, 104);
    add(&mut cfg, Pool::Expert, 10);
    add(&mut cfg, Pool::Support, 51);
    add(&mut cfg, Pool::Surge, 25);
    cfg.surge.automatic = false;
    cfg
}

fn arrival(call: u64) -> Input {
    let lines = [12345, 12349, 12301, 12348, 12350];
    Input::CallArrived {
        call: CallId(call),
        line: Line(lines[(call % 5) as usize]),
        // 12348 callers want legal help; the other lines carry any topic.
        topic: TopicId(if call % 5 == 3 { 2 } else { (call % 6) as u16 }),
        priority: Priority(u8::from(call % 10 == 3)),
    }
}

fn drain(acd: &mut Acd) -> Option<(CallId, SeatId)> {
    let mut offer = None;
    while let Some(o) = acd.poll_output() {
        if let Output::Offer { call, seat, .. } = o {
            offer = Some((call, seat));
        }
    }
    offer
}

/// All 190 seats talking, 10,000 calls waiting. Returns the talking calls by seat.
struct Busy {
    acd: Acd,
    now: Instant,
    talking: Vec<Option<CallId>>,
    next_call: u64,
    cursor: usize,
}

impl Busy {
    fn new() -> Self {
        let mut acd = Acd::new(config(Strategy::LongestIdle)).unwrap();
        let mut now = Instant::now();
        let mut next_call = 0;
        let mut talking = Vec::new();
        for s in 1..=190 {
            acd.handle(
                now,
                Input::SeatState {
                    seat: SeatId(s),
                    state: SeatRequest::Ready,
                },
            )
            .unwrap();
            drain(&mut acd);
        }
        // Fill every seat first, then the queue.
        while talking.len() < 165 || acd.waiting() < WAITING {
            next_call += 1;
            now += Duration::from_millis(1);
            acd.handle(now, arrival(next_call)).unwrap();
            if let Some((call, seat)) = drain(&mut acd) {
                acd.handle(now, Input::OfferAnswered { call, seat })
                    .unwrap();
                drain(&mut acd);
                talking.push(Some(call));
            }
        }
        now += Duration::from_secs(60);
        acd.handle_timeout(now);
        while let Some((call, seat)) = drain(&mut acd) {
            acd.handle(now, Input::OfferAnswered { call, seat })
                .unwrap();
            talking.push(Some(call));
        }
        Self {
            acd,
            now,
            talking,
            next_call,
            cursor: 0,
        }
    }

    /// One seat frees up and takes a waiting call; a new call arrives. Returns the time of the
    /// routing decision alone (the `CallEnded` handling).
    fn step(&mut self) -> Duration {
        self.now += Duration::from_micros(100);
        let mut i = self.cursor % self.talking.len();
        while self.talking[i].is_none() {
            self.cursor += 1;
            i = self.cursor % self.talking.len();
        }
        self.cursor += 1;
        let ended = self.talking[i].take().expect("talking");
        let t0 = Instant::now();
        self.acd
            .handle(self.now, Input::CallEnded { call: ended })
            .unwrap();
        let offer = drain(&mut self.acd);
        let dt = t0.elapsed();
        // A seat whose skills fit no waiting call stays Ready and leaves the rotation.
        if let Some((call, seat)) = offer {
            self.acd
                .handle(self.now, Input::OfferAnswered { call, seat })
                .unwrap();
            drain(&mut self.acd);
            self.talking[i] = Some(call);
        }
        self.next_call += 1;
        self.acd.handle(self.now, arrival(self.next_call)).unwrap();
        if let Some((call, seat)) = drain(&mut self.acd) {
            self.acd
                .handle(self.now, Input::OfferAnswered { call, seat })
                .unwrap();
            drain(&mut self.acd);
            self.talking.push(Some(call));
        }
        dt
    }
}

fn idle_platform(strategy: Strategy) -> (Acd, Instant) {
    let mut acd = Acd::new(config(strategy)).unwrap();
    let now = Instant::now();
    for s in 1..=190 {
        acd.handle(
            now,
            Input::SeatState {
                seat: SeatId(s),
                state: SeatRequest::Ready,
            },
        )
        .unwrap();
    }
    drain(&mut acd);
    (acd, now)
}

fn percentiles(name: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "{name}: n={} p50={:?} p99={:?} p99.9={:?} max={:?}",
        v.len(),
        p(0.5),
        p(0.99),
        p(0.999),
        v[v.len() - 1]
    );
}

fn print_percentiles() {
    let mut busy = Busy::new();
    assert!(busy.acd.waiting() >= WAITING);
    for _ in 0..10_000 {
        busy.step();
    }
    let v = (0..200_000).map(|_| busy.step()).collect();
    percentiles("seat frees, 10k waiting, decision", v);
    assert!(busy.acd.waiting() >= WAITING);

    for strategy in [
        Strategy::LongestIdle,
        Strategy::FewestCalls,
        Strategy::WeightedRandom,
    ] {
        let (mut acd, mut now) = idle_platform(strategy);
        let mut call = 0;
        let v = (0..200_000)
            .map(|_| {
                call += 1;
                now += Duration::from_micros(100);
                let t0 = Instant::now();
                acd.handle(now, arrival(call)).unwrap();
                let offer = drain(&mut acd);
                let dt = t0.elapsed();
                assert!(offer.is_some());
                acd.handle(now, Input::CallAbandoned { call: CallId(call) })
                    .unwrap();
                drain(&mut acd);
                dt
            })
            .collect();
        percentiles(
            &format!("call arrives, 190 idle seats, {strategy:?}, decision"),
            v,
        );
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("acd");
    let mut busy = Busy::new();
    g.throughput(Throughput::Elements(3));
    g.bench_function("seat_frees_10k_waiting (3 events)", |b| {
        b.iter(|| black_box(busy.step()));
    });
    g.throughput(Throughput::Elements(2));
    for strategy in [Strategy::LongestIdle, Strategy::WeightedRandom] {
        let (mut acd, mut now) = idle_platform(strategy);
        let mut call = 0;
        g.bench_function(
            format!("call_arrives_190_idle_{strategy:?} (2 events)"),
            |b| {
                b.iter(|| {
                    call += 1;
                    now += Duration::from_micros(100);
                    acd.handle(now, arrival(call)).unwrap();
                    black_box(drain(&mut acd));
                    acd.handle(now, Input::CallAbandoned { call: CallId(call) })
                        .unwrap();
                    drain(&mut acd);
                });
            },
        );
    }
    g.finish();
}

criterion_group!(acd, benches);

fn main() {
    print_percentiles();
    acd();
    Criterion::default().configure_from_args().final_summary();
}
