//! A seeded discrete-event simulation of a day of hotline traffic through the real [`Acd`].
//!
//! Callers arrive as a Poisson process whose rate is constant within each hour and follows a
//! 24-value profile; each brings a line (and so a topic), a patience and a talk time. Seats ring
//! for a short while and answer, or occasionally miss the offer and let it time out. Intake
//! seats are signed in and out on the hour by a staffing profile; surge seats are signed in all
//! day and take calls only while the distributor has surge open; support seats are signed in
//! only if [`SimConfig::support_staffed`] says so. Every input goes through [`Acd::handle`] and
//! [`Acd::handle_timeout`], every output is carried out, exactly as a telephony shell would.
//!
//! Time is a binary heap of timed events keyed by (time, sequence), and randomness is a
//! splitmix64 generator seeded from [`SimConfig::seed`]: the same configuration gives the same
//! [`DayReport`], bit for bit.
//!
//! Beside each simulated hour the report shows the Erlang A prediction
//! ([`crate::staffing::erlang_a`]) for that hour's arrivals, the intake seats staffed, the mean
//! handling time (talk + intake wrap-up + mean ring) and the mean patience. The prediction's
//! threshold is the service target less the mean ring time, since the simulated wait runs to
//! pick-up. Erlang A assumes a stationary hour, exponential patience and no surge or support
//! help, so it is a yardstick, not a forecast.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::plan::{self, GENERAL_TOPIC, LEGAL_TOPIC, MERGED_LINES};
use crate::staffing::{erlang_a, seats_for, Load};
use crate::{
    Acd, AcdConfig, AcdError, CallId, Input, LeaveReason, Line, NotReadyReason, OfferFailure,
    Output, Pool, Priority, SeatId, SeatRequest, SeatState, TopicId,
};

/// Hours in the simulated day.
pub const HOURS: usize = 24;

/// A distribution of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Exponential with this mean.
    Exponential {
        /// Mean, in seconds.
        mean_secs: f64,
    },
    /// Lognormal with this mean and standard deviation.
    Lognormal {
        /// Mean, in seconds.
        mean_secs: f64,
        /// Standard deviation, in seconds.
        sd_secs: f64,
    },
}

impl Dist {
    /// The mean, in seconds.
    #[must_use]
    pub const fn mean_secs(&self) -> f64 {
        match *self {
            Self::Exponential { mean_secs } | Self::Lognormal { mean_secs, .. } => mean_secs,
        }
    }

    fn valid(&self) -> bool {
        match *self {
            Self::Exponential { mean_secs } => mean_secs.is_finite() && mean_secs > 0.0,
            Self::Lognormal { mean_secs, sd_secs } => {
                mean_secs.is_finite() && mean_secs > 0.0 && sd_secs.is_finite() && sd_secs >= 0.0
            }
        }
    }

    fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Self::Exponential { mean_secs } => rng.exp(mean_secs),
            Self::Lognormal { mean_secs, sd_secs } => {
                let s2 = (1.0 + (sd_secs / mean_secs).powi(2)).ln();
                let mu = mean_secs.ln() - s2 / 2.0;
                (mu + s2.sqrt() * rng.normal()).exp()
            }
        }
    }
}

/// A government-hotline day: quiet at night, peaks 9–11 and 14–17 (relative weights).
pub const GOVERNMENT_PROFILE: [f64; HOURS] = [
    1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 3.0, 6.0, 9.0, 9.5, 9.0, 6.0, 6.0, 8.5, 9.0, 9.0, 8.0, 5.0,
    3.5, 3.0, 2.5, 2.0, 1.5,
];

/// Everything a simulated day needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The distributor's configuration (by default [`plan::zhengzhou_plan`]).
    pub acd: AcdConfig,
    /// Seed of the simulation's generator.
    pub seed: u64,
    /// Expected calls over the day.
    pub calls_per_day: f64,
    /// Relative arrival weight of each hour.
    pub profile: [f64; HOURS],
    /// Talk time (wrap-up comes from the distributor's configuration).
    pub talk: Dist,
    /// Caller patience: a waiting or ringing caller hangs up after this long.
    pub patience: Dist,
    /// Intake seats signed in during each hour (expert seats 1101–1114 first, then 1001 up).
    pub staffing: [u32; HOURS],
    /// Support seats signed in all day (they take calls only through their overflow tier).
    pub support_staffed: u32,
    /// Dialed line, its topic, and relative weight of the call mix.
    pub line_mix: Vec<(Line, TopicId, f64)>,
    /// Ring time before an answering seat picks up, uniform in this range (seconds).
    pub ring_secs: (f64, f64),
    /// Probability that a seat misses an offer (it rings until the ring timeout).
    pub miss_probability: f64,
    /// How long a seat put NotReady for missed offers takes to come back.
    pub miss_recovery: Duration,
    /// Threshold of the 15-second answer rate.
    pub answer_within: Duration,
}

impl Default for SimConfig {
    /// The Zhengzhou plan, 12,000 calls on [`GOVERNMENT_PROFILE`], exponential talk of 240 s,
    /// lognormal patience of mean 60 s and deviation 40 s (hardly anyone hangs up within the
    /// ring time, unlike exponential patience, which loses ~3 % to a 2 s ring even with idle
    /// seats; Erlang A still takes the mean as an exponential), 1–3 s ring, 2 % missed offers, staffing from
    /// [`SimConfig::staff_for`] at 90 % within 15 s.
    fn default() -> Self {
        let acd = plan::zhengzhou_plan();
        let topic = |name: &str| acd.topic_id(name).unwrap_or(TopicId(0));
        let mut line_mix = vec![
            (Line(12345), topic(GENERAL_TOPIC), 0.80),
            (Line(12348), topic(LEGAL_TOPIC), 0.04),
        ];
        #[allow(clippy::cast_precision_loss)]
        let share = 0.16 / MERGED_LINES.len() as f64;
        line_mix.extend(
            MERGED_LINES
                .iter()
                .map(|&(n, name)| (Line(n), topic(name), share)),
        );
        let mut cfg = Self {
            acd,
            seed: 12345,
            calls_per_day: 12_000.0,
            profile: GOVERNMENT_PROFILE,
            talk: Dist::Exponential { mean_secs: 240.0 },
            patience: Dist::Lognormal {
                mean_secs: 60.0,
                sd_secs: 40.0,
            },
            staffing: [114; HOURS],
            support_staffed: 0,
            line_mix,
            ring_secs: (1.0, 3.0),
            miss_probability: 0.02,
            miss_recovery: Duration::from_secs(60),
            answer_within: plan::SERVICE_TARGET,
        };
        cfg.staff_for(0.9);
        cfg
    }
}

impl SimConfig {
    /// Expected arrivals in each hour.
    #[must_use]
    pub fn hourly_calls(&self) -> [f64; HOURS] {
        let sum: f64 = self.profile.iter().sum();
        let mut out = [0.0; HOURS];
        if sum > 0.0 {
            for (o, w) in out.iter_mut().zip(self.profile) {
                *o = self.calls_per_day * w / sum;
            }
        }
        out
    }

    /// Mean handling time used for predictions: talk + intake wrap-up + mean ring.
    #[must_use]
    pub fn aht_secs(&self) -> f64 {
        self.talk.mean_secs() + self.intake_wrap_up().as_secs_f64() + self.mean_ring_secs()
    }

    fn mean_ring_secs(&self) -> f64 {
        (self.ring_secs.0 + self.ring_secs.1) / 2.0
    }

    fn intake_wrap_up(&self) -> Duration {
        self.acd
            .pools
            .iter()
            .find(|p| p.pool == Pool::Intake)
            .map_or(Duration::ZERO, |p| p.wrap_up)
    }

    fn intake_seats(&self) -> Vec<SeatId> {
        let mut seats: Vec<SeatId> = self
            .acd
            .seats
            .iter()
            .filter(|s| s.pool == Pool::Intake)
            .map(|s| s.id)
            .collect();
        // Expert seats first so they are staffed whenever anyone is.
        seats.sort_by_key(|s| (s.0 < plan::FIRST_EXPERT_SEAT, s.0));
        seats
    }

    /// Staffs every hour with the fewest intake seats that Erlang A says answer `target` of
    /// the hour's expected calls within the threshold, at least 5 and at most all intake seats.
    pub fn staff_for(&mut self, target: f64) {
        let max = u32::try_from(self.intake_seats().len()).unwrap_or(u32::MAX);
        let within = (self.answer_within.as_secs_f64() - self.mean_ring_secs()).max(0.0);
        for (h, calls) in self.hourly_calls().into_iter().enumerate() {
            let load = Load {
                calls: calls.max(1e-6),
                interval_secs: 3600.0,
                aht_secs: self.aht_secs(),
            };
            let n = seats_for(&load, within, target, Some(self.patience.mean_secs()))
                .map_or(max, |s| s.seats);
            self.staffing[h] = n.clamp(5.min(max), max);
        }
    }

    /// Staffs every hour with `n` intake seats.
    pub fn staff_all_day(&mut self, n: u32) {
        self.staffing = [n; HOURS];
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |what: &str| Err(SimError::Invalid(what.to_owned()));
        if !(self.calls_per_day.is_finite() && self.calls_per_day >= 0.0) {
            return bad("calls per day must be a finite non-negative number");
        }
        if self.profile.iter().any(|w| !w.is_finite() || *w < 0.0)
            || self.profile.iter().sum::<f64>() <= 0.0
        {
            return bad("the hourly profile needs non-negative weights with a positive sum");
        }
        if !self.talk.valid() || !self.patience.valid() {
            return bad("talk time and patience need positive finite means");
        }
        if self.line_mix.is_empty()
            || self
                .line_mix
                .iter()
                .any(|&(_, _, w)| !w.is_finite() || w < 0.0)
            || self.line_mix.iter().map(|l| l.2).sum::<f64>() <= 0.0
        {
            return bad("the line mix needs non-negative weights with a positive sum");
        }
        let (lo, hi) = self.ring_secs;
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi >= lo) {
            return bad("ring time range must satisfy 0 <= low <= high");
        }
        if !(0.0..=1.0).contains(&self.miss_probability) {
            return bad("miss probability must lie in 0..=1");
        }
        Ok(())
    }
}

/// Why a day could not be simulated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// A simulation setting is out of range.
    Invalid(String),
    /// The distributor rejected its configuration.
    Acd(AcdError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(s) => f.write_str(s),
            Self::Acd(e) => write!(f, "distributor configuration rejected: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

/// The Erlang A yardstick for one hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Offered load, in Erlangs.
    pub erlangs: f64,
    /// Predicted fraction of offered calls answered (1 − P(abandon)).
    pub answer_rate: f64,
    /// Predicted fraction answered within the threshold.
    pub within_rate: f64,
}

/// Counts over an hour (by arrival hour) or the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    /// Calls that arrived.
    pub offered: u64,
    /// Calls answered by a seat.
    pub answered: u64,
    /// Calls answered within the threshold (queue plus ring time).
    pub answered_within: u64,
    /// Calls abandoned, short and long.
    pub abandoned: u64,
    /// Of those, short abandons (excluded from the 人工接通率 denominator).
    pub abandoned_short: u64,
    /// Calls that reached a queue's maximum wait.
    pub timed_out: u64,
    /// Times the surge pool opened (by the hour it opened in).
    pub surge_openings: u64,
    /// Offers missed by seats.
    pub missed_offers: u64,
}

impl Tally {
    /// Answered / offered (1 when nothing was offered).
    #[must_use]
    pub fn answer_rate(&self) -> f64 {
        ratio(self.answered, self.offered)
    }

    /// Answered within the threshold / offered (1 when nothing was offered).
    #[must_use]
    pub fn within_rate(&self) -> f64 {
        ratio(self.answered_within, self.offered)
    }

    /// 人工接通率 with short abandons left out of the denominator.
    #[must_use]
    pub fn answer_rate_excluding_short(&self) -> f64 {
        ratio(self.answered, self.offered - self.abandoned_short)
    }

    fn add(&mut self, o: &Self) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within += o.answered_within;
        self.abandoned += o.abandoned;
        self.abandoned_short += o.abandoned_short;
        self.timed_out += o.timed_out;
        self.surge_openings += o.surge_openings;
        self.missed_offers += o.missed_offers;
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// One simulated hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourReport {
    /// Hour of the day, 0–23.
    pub hour: u8,
    /// Intake seats staffed.
    pub staffed: u32,
    /// What happened to the calls that arrived in this hour.
    pub tally: Tally,
    /// The Erlang A yardstick; `None` when no call arrived or it could not be computed.
    pub erlang_a: Option<Prediction>,
}

/// A simulated day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayReport {
    /// Seed used.
    pub seed: u64,
    /// Threshold of the within rate.
    pub answer_within: Duration,
    /// The 24 hours.
    pub hours: Vec<HourReport>,
    /// The whole day.
    pub day: Tally,
    /// Inputs the distributor rejected (a simulator bug if not zero).
    pub rejected_inputs: u64,
    /// Events processed (simulation events plus distributor wake-ups).
    pub events: u64,
}

impl fmt::Display for DayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.answer_within.as_secs();
        writeln!(
            f,
            "hour  staffed  offered  answered  answer%  {w:>2}s%   abandons  surge  | Erlang A: erl  answer%  {w:>2}s%"
        )?;
        for h in &self.hours {
            let t = &h.tally;
            write!(
                f,
                "{:02}    {:>7}  {:>7}  {:>8}  {:>6.1}  {:>6.1}  {:>8}  {:>5}  |",
                h.hour,
                h.staffed,
                t.offered,
                t.answered,
                100.0 * t.answer_rate(),
                100.0 * t.within_rate(),
                t.abandoned,
                t.surge_openings,
            )?;
            match h.erlang_a {
                Some(p) => writeln!(
                    f,
                    "      {:>6.1}  {:>6.1}  {:>6.1}",
                    p.erlangs,
                    100.0 * p.answer_rate,
                    100.0 * p.within_rate
                )?,
                None => writeln!(f, "           -       -       -")?,
            }
        }
        let d = &self.day;
        writeln!(
            f,
            "day   {:>7}  {:>7}  {:>8}  {:>6.1}  {:>6.1}  {:>8}  {:>5}  |",
            "",
            d.offered,
            d.answered,
            100.0 * d.answer_rate(),
            100.0 * d.within_rate(),
            d.abandoned,
            d.surge_openings,
        )?;
        writeln!(
            f,
            "answer rate excluding short abandons {:.1}%; missed offers {}; seed {}",
            100.0 * d.answer_rate_excluding_short(),
            d.missed_offers,
            self.seed
        )
    }
}

/// splitmix64: small, fast, good enough for a simulation, and deterministic.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Staff(u8),
    Arrival(u64),
    Abandon(u64),
    RingDone {
        call: u64,
        seat: SeatId,
        offer: u32,
        answer: bool,
    },
    TalkDone(u64),
    SeatBack(SeatId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Waiting,
    Ringing { seat: SeatId, offer: u32 },
    Talking,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Call {
    arrived: Duration,
    hour: u8,
    line: Line,
    topic: TopicId,
    state: CallState,
    offers: u32,
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    acd: Acd,
    base: Instant,
    now: Duration,
    rng: Rng,
    heap: BinaryHeap<Reverse<(Duration, u64, Event)>>,
    seq: u64,
    calls: Vec<Call>,
    hours: [Tally; HOURS],
    intake: Vec<SeatId>,
    wanted: Vec<SeatId>,
    rejected: u64,
    events: u64,
    to_check: Vec<SeatId>,
}

const fn secs(s: f64) -> Duration {
    // Whole milliseconds keep the event times readable and exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = (s * 1000.0) as u64;
    Duration::from_millis(ms)
}

fn hour_of(t: Duration) -> usize {
    usize::try_from(t.as_secs() / 3600).map_or(HOURS - 1, |h| h.min(HOURS - 1))
}

/// Simulates one day starting at `origin` (any instant: the crate never reads the clock, and
/// the report depends only on times relative to `origin`).
///
/// # Errors
///
/// [`SimError::Invalid`] for a bad setting, [`SimError::Acd`] if the distributor rejects its
/// configuration.
pub fn simulate_day(cfg: &SimConfig, origin: Instant) -> Result<DayReport, SimError> {
    cfg.validate()?;
    let acd = Acd::new(cfg.acd.clone()).map_err(SimError::Acd)?;
    let mut sim = Sim {
        cfg,
        acd,
        base: origin,
        now: Duration::ZERO,
        rng: Rng(cfg.seed),
        heap: BinaryHeap::with_capacity(4096),
        seq: 0,
        calls: Vec::with_capacity(cfg.calls_per_day as usize + 1024),
        hours: [Tally::default(); HOURS],
        intake: cfg.intake_seats(),
        wanted: Vec::new(),
        rejected: 0,
        events: 0,
        to_check: Vec::new(),
    };
    sim.start();
    sim.run();
    Ok(sim.report())
}

impl Sim<'_> {
    fn at(&self, t: Duration) -> Instant {
        self.base + t
    }

    fn schedule(&mut self, at: Duration, ev: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn input(&mut self, input: Input) {
        if self.acd.handle(self.at(self.now), input).is_err() {
            self.rejected += 1;
        }
        self.drain();
    }

    fn start(&mut self) {
        // Surge seats are signed in all day; they take calls only while surge is open.
        let surge: Vec<SeatId> = self.seats_of(Pool::Surge);
        for s in surge {
            self.input(Input::SeatState {
                seat: s,
                state: SeatRequest::Ready,
            });
        }
        let support = self.seats_of(Pool::Support);
        for s in support.into_iter().take(self.cfg.support_staffed as usize) {
            self.input(Input::SeatState {
                seat: s,
                state: SeatRequest::Ready,
            });
        }
        for h in 0..HOURS {
            #[allow(clippy::cast_possible_truncation)]
            self.schedule(Duration::from_secs(h as u64 * 3600), Event::Staff(h as u8));
        }
        // Arrivals: Poisson within each hour (memoryless, so restarting at the hour is exact).
        let total_mix: f64 = self.cfg.line_mix.iter().map(|l| l.2).sum();
        for (h, calls) in self.cfg.hourly_calls().into_iter().enumerate() {
            if calls <= 0.0 {
                continue;
            }
            let mean_gap = 3600.0 / calls;
            let end = (h as f64 + 1.0) * 3600.0;
            let mut t = h as f64 * 3600.0;
            loop {
                t += self.rng.exp(mean_gap);
                if t >= end {
                    break;
                }
                let mut pick = self.rng.unit() * total_mix;
                let mut chosen = self.cfg.line_mix[0];
                for &l in &self.cfg.line_mix {
                    chosen = l;
                    if pick < l.2 {
                        break;
                    }
                    pick -= l.2;
                }
                let id = self.calls.len() as u64;
                #[allow(clippy::cast_possible_truncation)]
                self.calls.push(Call {
                    arrived: secs(t),
                    hour: h as u8,
                    line: chosen.0,
                    topic: chosen.1,
                    state: CallState::Waiting,
                    offers: 0,
                });
                self.schedule(secs(t), Event::Arrival(id));
            }
        }
    }

    fn seats_of(&self, pool: Pool) -> Vec<SeatId> {
        self.cfg
            .acd
            .seats
            .iter()
            .filter(|s| s.pool == pool)
            .map(|s| s.id)
            .collect()
    }

    fn run(&mut self) {
        // Stop waking the distributor two hours after the last arrival at the latest.
        let horizon = Duration::from_secs(26 * 3600);
        loop {
            let next_ev = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let next_acd = self
                .acd
                .poll_timeout()
                .map(|i| i.saturating_duration_since(self.base));
            let acd_first = match (next_ev, next_acd) {
                (None, None) => break,
                (Some(e), Some(a)) => a <= e,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            self.events += 1;
            if acd_first {
                let Some(a) = next_acd else { break };
                if a > horizon {
                    break;
                }
                self.now = self.now.max(a);
                self.acd.handle_timeout(self.at(self.now));
                self.drain();
            } else {
                let Some(Reverse((t, _, ev))) = self.heap.pop() else {
                    break;
                };
                self.now = self.now.max(t);
                self.event(ev);
            }
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Staff(h) => self.staff(h),
            Event::Arrival(id) => {
                let c = self.calls[id as usize];
                self.hours[c.hour as usize].offered += 1;
                let patience = self.cfg.patience.sample(&mut self.rng);
                self.schedule(self.now + secs(patience), Event::Abandon(id));
                self.input(Input::CallArrived {
                    call: CallId(id),
                    line: c.line,
                    topic: c.topic,
                    priority: Priority(0),
                });
            }
            Event::Abandon(id) => {
                if matches!(
                    self.calls[id as usize].state,
                    CallState::Waiting | CallState::Ringing { .. }
                ) {
                    self.input(Input::CallAbandoned { call: CallId(id) });
                }
            }
            Event::RingDone {
                call,
                seat,
                offer,
                answer,
            } => {
                if self.calls[call as usize].state != (CallState::Ringing { seat, offer }) {
                    return;
                }
                if answer {
                    self.input(Input::OfferAnswered {
                        call: CallId(call),
                        seat,
                    });
                } else {
                    self.calls[call as usize].state = CallState::Waiting;
                    let hour = self.calls[call as usize].hour as usize;
                    self.hours[hour].missed_offers += 1;
                    self.input(Input::OfferFailed {
                        call: CallId(call),
                        seat,
                        why: OfferFailure::NoAnswer,
                    });
                }
            }
            Event::TalkDone(id) => {
                if self.calls[id as usize].state == CallState::Talking {
                    self.calls[id as usize].state = CallState::Done;
                    self.input(Input::CallEnded { call: CallId(id) });
                }
            }
            Event::SeatBack(seat) => {
                if matches!(self.acd.seat_state(seat), Some(SeatState::NotReady { .. })) {
                    let state = if self.is_wanted(seat) {
                        SeatRequest::Ready
                    } else {
                        SeatRequest::LoggedOut
                    };
                    self.input(Input::SeatState { seat, state });
                }
            }
        }
    }

    fn is_wanted(&self, seat: SeatId) -> bool {
        // Non-intake seats (surge, support) are always wanted once signed in.
        !self.intake.contains(&seat) || self.wanted.contains(&seat)
    }

    fn staff(&mut self, hour: u8) {
        let n = (self.cfg.staffing[hour as usize] as usize).min(self.intake.len());
        self.wanted = self.intake[..n].to_vec();
        self.wanted.sort_unstable();
        for i in 0..self.intake.len() {
            let seat = self.intake[i];
            let state = self.acd.seat_state(seat);
            if i < n {
                if state == Some(SeatState::LoggedOut) {
                    self.input(Input::SeatState {
                        seat,
                        state: SeatRequest::Ready,
                    });
                }
            } else if matches!(state, Some(SeatState::Ready | SeatState::NotReady { .. })) {
                self.input(Input::SeatState {
                    seat,
                    state: SeatRequest::LoggedOut,
                });
            }
            // Busy or wrapping up: signed out when it next turns Ready (see `drain`).
        }
    }

    fn drain(&mut self) {
        loop {
            while let Some(out) = self.acd.poll_output() {
                self.output(out);
            }
            if self.to_check.is_empty() {
                return;
            }
            let seats = std::mem::take(&mut self.to_check);
            for seat in seats {
                let idle_unwanted =
                    self.acd.seat_state(seat) == Some(SeatState::Ready) && !self.is_wanted(seat);
                let logout = Input::SeatState {
                    seat,
                    state: SeatRequest::LoggedOut,
                };
                if idle_unwanted && self.acd.handle(self.at(self.now), logout).is_err() {
                    self.rejected += 1;
                }
            }
        }
    }

    fn output(&mut self, out: Output) {
        match out {
            Output::Offer {
                call,
                seat,
                ring_timeout,
            } => {
                let c = &mut self.calls[call.0 as usize];
                c.offers += 1;
                let offer = c.offers;
                c.state = CallState::Ringing { seat, offer };
                let miss = self.rng.unit() < self.cfg.miss_probability;
                let after = if miss {
                    ring_timeout.unwrap_or(Duration::from_secs(10))
                } else {
                    let (lo, hi) = self.cfg.ring_secs;
                    secs(lo + (hi - lo) * self.rng.unit())
                };
                self.schedule(
                    self.now + after,
                    Event::RingDone {
                        call: call.0,
                        seat,
                        offer,
                        answer: !miss,
                    },
                );
            }
            Output::CallLeft { call, why } => {
                let c = &mut self.calls[call.0 as usize];
                let t = &mut self.hours[c.hour as usize];
                match why {
                    LeaveReason::Answered { .. } => {
                        c.state = CallState::Talking;
                        t.answered += 1;
                        if self.now.saturating_sub(c.arrived) <= self.cfg.answer_within {
                            t.answered_within += 1;
                        }
                        let talk = self.cfg.talk.sample(&mut self.rng);
                        self.schedule(self.now + secs(talk), Event::TalkDone(call.0));
                    }
                    LeaveReason::Abandoned { short } => {
                        c.state = CallState::Done;
                        t.abandoned += 1;
                        if short {
                            t.abandoned_short += 1;
                        }
                    }
                    LeaveReason::TimedOut { .. } => {
                        c.state = CallState::Done;
                        t.timed_out += 1;
                    }
                }
            }
            Output::SeatChanged { seat, state } => match state {
                SeatState::NotReady {
                    reason: NotReadyReason::MissedOffers { .. },
                } => {
                    self.schedule(self.now + self.cfg.miss_recovery, Event::SeatBack(seat));
                }
                SeatState::Ready => self.to_check.push(seat),
                _ => {}
            },
            Output::SurgeOpened { .. } => self.hours[hour_of(self.now)].surge_openings += 1,
            Output::SurgeClosed { .. } => {}
        }
    }

    fn report(&self) -> DayReport {
        let aht = self.cfg.aht_secs();
        let within = (self.cfg.answer_within.as_secs_f64() - self.cfg.mean_ring_secs()).max(0.0);
        let patience = self.cfg.patience.mean_secs();
        let mut day = Tally::default();
        let mut hours = Vec::with_capacity(HOURS);
        for (h, tally) in self.hours.iter().enumerate() {
            day.add(tally);
            let staffed = self.cfg.staffing[h].min(u32::try_from(self.intake.len()).unwrap_or(0));
            #[allow(clippy::cast_precision_loss)]
            let load = Load {
                calls: tally.offered as f64,
                interval_secs: 3600.0,
                aht_secs: aht,
            };
            let erlang_a = (tally.offered > 0 && staffed > 0)
                .then(|| erlang_a(&load, staffed, within, patience).ok())
                .flatten()
                .map(|s| Prediction {
                    erlangs: load.offered_erlangs(),
                    answer_rate: 1.0 - s.p_abandon.unwrap_or(0.0),
                    within_rate: s.service_level,
                });
            #[allow(clippy::cast_possible_truncation)]
            hours.push(HourReport {
                hour: h as u8,
                staffed,
                tally: *tally,
                erlang_a,
            });
        }
        DayReport {
            seed: self.cfg.seed,
            answer_within: self.cfg.answer_within,
            hours,
            day,
            rejected_inputs: self.rejected,
            events: self.events,
        }
    }
}
