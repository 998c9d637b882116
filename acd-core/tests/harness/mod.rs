//! A fake-clock harness: scripted callers and seats, time advanced by jumping to timeouts.
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use acd_core::*;

/// The distributor plus a simulated clock.
pub struct Sim {
    pub acd: Acd,
    pub start: Instant,
    pub now: Instant,
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn tier(pools: &[Pool], min_level: Option<u8>, after: u64) -> Tier {
    Tier {
        pools: pools.to_vec(),
        min_level,
        after: secs(after),
    }
}

pub fn queue(name: &str, lines: &[u32], strategy: Strategy, tiers: Vec<Tier>) -> QueueConfig {
    QueueConfig {
        name: name.into(),
        lines: lines.iter().map(|&l| Line(l)).collect(),
        strategy,
        tiers,
        ring_timeout: Some(secs(15)),
        max_wait: None,
    }
}

/// Topics: 0 general, 1 民政, 2 legal. Queue 0 "12345" (12345, 12349) at intake + surge;
/// queue 1 "12348" at legal experts (level ≥ 5), widening to intake after 30 s.
/// Seats 1..=intake are intake, then `experts` expert seats with legal skill, then surge seats.
pub fn platform(intake: u32, experts: u32, surge: u32, strategy: Strategy) -> AcdConfig {
    let mut cfg = AcdConfig::default();
    let _general = cfg.topic("general");
    let _minzheng = cfg.topic("民政");
    let legal = cfg.topic("legal");
    cfg.surge.automatic = false;
    cfg.queues.push(queue(
        "12345",
        &[12345, 12349],
        strategy,
        vec![tier(&[Pool::Intake, Pool::Surge], None, 0)],
    ));
    cfg.queues.push(queue(
        "12348",
        &[12348],
        strategy,
        vec![
            tier(&[Pool::Expert], Some(5), 0),
            tier(&[Pool::Intake], None, 30),
        ],
    ));
    let mut id = 1;
    for _ in 0..intake {
        cfg.seats.push(SeatConfig::new(SeatId(id), Pool::Intake));
        id += 1;
    }
    for _ in 0..experts {
        let mut s = SeatConfig::new(SeatId(id), Pool::Expert);
        s.skills.push(Skill {
            topic: legal,
            level: 7,
        });
        cfg.seats.push(s);
        id += 1;
    }
    for _ in 0..surge {
        cfg.seats.push(SeatConfig::new(SeatId(id), Pool::Surge));
        id += 1;
    }
    cfg
}

impl Sim {
    pub fn new(cfg: AcdConfig) -> Self {
        let start = Instant::now();
        Self {
            acd: Acd::new(cfg).expect("valid config"),
            start,
            now: start,
        }
    }

    pub fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.acd.poll_output()).collect()
    }

    pub fn try_input(&mut self, input: Input) -> Result<Vec<Output>, AcdError> {
        self.acd.handle(self.now, input)?;
        Ok(self.drain())
    }

    pub fn input(&mut self, input: Input) -> Vec<Output> {
        self.try_input(input).expect("input accepted")
    }

    /// Advances the clock by `d`, running every timeout on the way.
    pub fn advance(&mut self, d: Duration) -> Vec<Output> {
        let target = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.acd.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.acd.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = target;
        out
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn ready(&mut self, seat: u32) -> Vec<Output> {
        self.input(Input::SeatState {
            seat: SeatId(seat),
            state: SeatRequest::Ready,
        })
    }

    pub fn arrive(&mut self, call: u64, line: u32, topic: u16, priority: u8) -> Vec<Output> {
        self.input(Input::CallArrived {
            call: CallId(call),
            line: Line(line),
            topic: TopicId(topic),
            priority: Priority(priority),
        })
    }

    pub fn answer(&mut self, call: u64, seat: u32) -> Vec<Output> {
        self.input(Input::OfferAnswered {
            call: CallId(call),
            seat: SeatId(seat),
        })
    }

    pub fn end(&mut self, call: u64) -> Vec<Output> {
        self.input(Input::CallEnded { call: CallId(call) })
    }

    pub fn fail(&mut self, call: u64, seat: u32, why: OfferFailure) -> Vec<Output> {
        self.input(Input::OfferFailed {
            call: CallId(call),
            seat: SeatId(seat),
            why,
        })
    }
}

/// The (call, seat) offers in a batch of outputs.
pub fn offers(out: &[Output]) -> Vec<(u64, u32)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Offer { call, seat, .. } => Some((call.0, seat.0)),
            _ => None,
        })
        .collect()
}

/// The single offer in a batch, panicking otherwise.
pub fn one_offer(out: &[Output]) -> (u64, u32) {
    let o = offers(out);
    assert_eq!(o.len(), 1, "expected one offer in {out:?}");
    o[0]
}
