//! The distributor: inputs in, outputs and timeouts out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::{AcdConfig, QueueConfig, Strategy};
use crate::error::AcdError;
use crate::figures::{Event, FigureStore, Figures, Scope, ScopeIdx, Target, Window};
use crate::idhash::IdMap;
use crate::model::{
    CallId, Counters, Input, LeaveReason, Line, NotReadyReason, OfferFailure, Output, Pool,
    Priority, SeatId, SeatRequest, SeatState, Skill, SurgeReason, TopicId,
};
use crate::queue::{WaitKey, WaitingQueue};
use crate::seats::{IdleIndex, Orderings, Seat};
use crate::strategy::{pick_seat, qualifies, Rng, Want};
use crate::surge::{Surge, SurgeChange};

/// A queue at run time.
#[derive(Debug)]
struct QueueRt {
    cfg: QueueConfig,
    waiting: WaitingQueue,
    /// Seat index this queue offered last, for round-robin.
    rr_last: Option<u32>,
}

/// Where a known call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Waiting,
    Ringing(u32),
    Talking(u32),
}

/// A known call: waiting, ringing or talking.
#[derive(Debug, Clone, Copy)]
struct CallRt {
    queue: u16,
    topic: TopicId,
    priority: Priority,
    line: u16,
    entered: Instant,
    seq: u64,
    state: CallState,
}

impl CallRt {
    const fn key(&self) -> WaitKey {
        (self.entered, self.seq)
    }
}

/// Time-driven work. Stale entries (the call left, the seat moved on) are skipped when due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The call (by id and arrival sequence) reaches a later overflow tier.
    Widen(CallId, u64),
    /// The call reaches its queue's maximum wait.
    MaxWait(CallId, u64),
    /// The seat's wrap-up ends.
    WrapUpEnd(u32),
}

/// The automatic call distributor. See the crate documentation for the driving contract.
#[derive(Debug)]
pub struct Acd {
    queues: Vec<QueueRt>,
    line_queue: IdMap<Line, u16>,
    seats: Vec<Seat>,
    seat_index: IdMap<SeatId, u32>,
    /// Queues each pool serves in some tier.
    queues_by_pool: [Vec<u16>; Pool::COUNT],
    calls: IdMap<CallId, CallRt>,
    idle: IdleIndex,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    next_surge_eval: Option<Instant>,
    outputs: VecDeque<Output>,
    surge: Surge,
    rng: Rng,
    counters: Counters,
    seq: u64,
    topics: usize,
    short_abandon: Duration,
    max_misses: u8,
    figs: FigureStore,
}

impl Acd {
    /// Builds a distributor; every seat starts logged out.
    pub fn new(cfg: AcdConfig) -> Result<Self, AcdError> {
        let mut line_queue = IdMap::default();
        let mut queues_by_pool: [Vec<u16>; Pool::COUNT] = Default::default();
        let topics = cfg.topics.len();
        let all_lines: Vec<Line> = cfg
            .queues
            .iter()
            .flat_map(|q| q.lines.iter().copied())
            .collect();
        let figs = FigureStore::new(
            cfg.day_start,
            cfg.answer_within,
            &all_lines,
            cfg.queues.len(),
            cfg.seats.len(),
        );
        for (qi, q) in cfg.queues.iter().enumerate() {
            let qi = u16::try_from(qi).map_err(|_| AcdError::BadConfig("too many queues"))?;
            if q.tiers.is_empty() {
                return Err(AcdError::BadConfig("a queue has no tiers"));
            }
            for &line in &q.lines {
                if line_queue.insert(line, qi).is_some() {
                    return Err(AcdError::BadConfig("a line feeds two queues"));
                }
            }
            for pool in Pool::ALL {
                if q.tiers.iter().any(|t| t.pools.contains(&pool)) {
                    queues_by_pool[pool.index()].push(qi);
                }
            }
        }
        let used = |s: Strategy| cfg.queues.iter().any(|q| q.strategy == s);
        let idle = IdleIndex::new(
            Orderings {
                by_calls: used(Strategy::FewestCalls),
                by_talk: used(Strategy::LeastTalkTime),
                by_seat: used(Strategy::RoundRobin),
                by_weight: used(Strategy::WeightedRandom),
            },
            cfg.seats.len(),
        );
        let mut seats = Vec::with_capacity(cfg.seats.len());
        let mut seat_index = IdMap::default();
        for sc in &cfg.seats {
            if sc.skills.iter().any(|s| usize::from(s.topic.0) >= topics) {
                return Err(AcdError::BadConfig("a skill names an unknown topic"));
            }
            let idx =
                u32::try_from(seats.len()).map_err(|_| AcdError::BadConfig("too many seats"))?;
            if seat_index.insert(sc.id, idx).is_some() {
                return Err(AcdError::BadConfig("two seats share an id"));
            }
            let wrap = cfg
                .pools
                .iter()
                .find(|p| p.pool == sc.pool)
                .map_or(Duration::ZERO, |p| p.wrap_up);
            seats.push(Seat::new(sc, wrap));
        }
        Ok(Self {
            queues: cfg
                .queues
                .into_iter()
                .map(|cfg| QueueRt {
                    cfg,
                    waiting: WaitingQueue::default(),
                    rr_last: None,
                })
                .collect(),
            line_queue,
            seats,
            seat_index,
            queues_by_pool,
            calls: IdMap::with_capacity_and_hasher(1024, Default::default()),
            idle,
            timers: BinaryHeap::with_capacity(1024),
            next_surge_eval: None,
            outputs: VecDeque::with_capacity(64),
            surge: Surge::new(cfg.surge),
            rng: Rng::new(cfg.seed),
            counters: Counters::default(),
            seq: 0,
            topics,
            short_abandon: cfg.short_abandon,
            max_misses: cfg.max_consecutive_misses,
            figs,
        })
    }

    /// Handles one input at `now`. On error nothing changed and no output was queued.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), AcdError> {
        match input {
            Input::CallArrived {
                call,
                line,
                topic,
                priority,
            } => self.call_arrived(now, call, line, topic, priority)?,
            Input::CallAbandoned { call } => self.call_abandoned(now, call)?,
            Input::OfferAnswered { call, seat } => self.offer_answered(now, call, seat)?,
            Input::OfferFailed { call, seat, why } => self.offer_failed(now, call, seat, why)?,
            Input::CallEnded { call } => self.call_ended(now, call, false)?,
            Input::CallTransferred { call } => self.call_ended(now, call, true)?,
            Input::SeatState { seat, state } => self.seat_request(now, seat, state)?,
            Input::SurgeManual { open } => self.surge_manual(now, open),
            Input::Withdraw { call, seat } => self.withdraw(now, call, seat)?,
        }
        self.arm_surge_eval(now);
        Ok(())
    }

    /// The next output, if any. Drain until `None` after every `handle` or `handle_timeout`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        match (timer, self.next_surge_eval) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does the time-driven work due at `now`: overflow widening, maximum wait, wrap-up end and
    /// surge evaluation.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, _, timer))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.fire(now, at, timer);
        }
        if self.next_surge_eval.is_some_and(|t| t <= now) {
            self.next_surge_eval = None;
            self.evaluate_surge(now);
        }
        self.arm_surge_eval(now);
    }

    /// Running totals.
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// A seat's state, if the seat exists.
    pub fn seat_state(&self, seat: SeatId) -> Option<SeatState> {
        self.seat_index
            .get(&seat)
            .map(|&i| self.seats[i as usize].state)
    }

    /// Whether the surge pool is open.
    pub const fn surge_open(&self) -> bool {
        self.surge.open
    }

    /// Calls waiting in queues now.
    pub const fn waiting(&self) -> u64 {
        self.counters.waiting
    }

    /// Figures of a line, queue, pool, seat or the whole platform over a window at `now`; `None`
    /// if the scope is unknown. Formulas: `docs/metrics.md`.
    pub fn figures(&self, scope: Scope, window: Window, now: Instant) -> Option<Figures> {
        let idx = self.scope_idx(scope)?;
        let mut f = self.figs.figures(idx, window, now);
        let matches = |c: &CallRt| match idx {
            ScopeIdx::Line(i) => usize::from(c.line) == i,
            ScopeIdx::Queue(i) => usize::from(c.queue) == i,
            ScopeIdx::Platform => true,
            _ => false,
        };
        let mut oldest: Option<Instant> = None;
        for c in self.calls.values() {
            if c.state == CallState::Waiting && matches(c) {
                f.waiting_now += 1;
                oldest = Some(oldest.map_or(c.entered, |o| o.min(c.entered)));
            }
        }
        f.longest_wait = oldest.map(|o| now.saturating_duration_since(o));
        Some(f)
    }

    /// The figures of each hour of the calendar day of `now` (see
    /// [`crate::AcdConfig::day_start`]), the first hour first, up to and including the hour of
    /// `now`: counts and rates only (no percentiles, no waiting calls). The hours add up to
    /// [`Window::Today`]. `None` if the scope is unknown.
    pub fn figures_by_hour(&self, scope: Scope, now: Instant) -> Option<Vec<Figures>> {
        let idx = self.scope_idx(scope)?;
        Some(self.figs.by_hour(idx, now))
    }

    fn scope_idx(&self, scope: Scope) -> Option<ScopeIdx> {
        Some(match scope {
            Scope::Line(l) => ScopeIdx::Line(self.figs.line_index(l)?),
            Scope::Queue(q) => {
                let i = usize::from(q.0);
                (i < self.queues.len()).then_some(ScopeIdx::Queue(i))?
            }
            Scope::Pool(p) => ScopeIdx::Pool(p.index()),
            Scope::Seat(s) => ScopeIdx::Seat(*self.seat_index.get(&s)? as usize),
            Scope::Platform => ScopeIdx::Platform,
        })
    }

    /// Estimated wait of a waiting call, for announcements:
    /// `position × AHT / serving seats`, where position counts the waiting calls of its queue
    /// served before it (plus itself), AHT is the queue's last-hour average handle time (else
    /// last 24 h), and serving seats are signed-in, not-NotReady seats of the queue's pools.
    /// `None` if the call is not waiting or there is no AHT sample or no serving seat.
    pub fn estimated_wait(&self, call: CallId, now: Instant) -> Option<Duration> {
        let position = self.position(call)?;
        let queue = self.calls.get(&call)?.queue;
        self.estimate(usize::from(queue), position, now)
    }

    /// A waiting call's place in its queue, 1 for the next to be served (higher priority
    /// first, then arrival), for the "您前面还有 N 位" notice. `None` if it is not waiting
    /// (ringing a seat, answered, gone). O(calls): meant for announcements, not routing.
    pub fn position(&self, call: CallId) -> Option<usize> {
        let rt = self
            .calls
            .get(&call)
            .filter(|c| c.state == CallState::Waiting)?;
        let rank = (Reverse(rt.priority), rt.key());
        let ahead = self
            .calls
            .values()
            .filter(|c| {
                c.queue == rt.queue
                    && c.state == CallState::Waiting
                    && (Reverse(c.priority), c.key()) < rank
            })
            .count();
        Some(ahead + 1)
    }

    /// Estimated wait of a call arriving now at a queue (position = waiting + 1); see
    /// [`Acd::estimated_wait`].
    pub fn estimated_wait_queue(&self, queue: crate::QueueId, now: Instant) -> Option<Duration> {
        let qi = usize::from(queue.0);
        let q = self.queues.get(qi)?;
        let waiting: usize = q.waiting.buckets().iter().map(|b| b.calls.len()).sum();
        self.estimate(qi, waiting + 1, now)
    }

    fn estimate(&self, qi: usize, position: usize, now: Instant) -> Option<Duration> {
        let aht = self
            .figs
            .queue_aht(qi, Window::Hour, now)
            .or_else(|| self.figs.queue_aht(qi, Window::Day, now))?;
        let q = &self.queues[qi];
        let serving = self
            .seats
            .iter()
            .filter(|s| {
                !matches!(s.state, SeatState::LoggedOut | SeatState::NotReady { .. })
                    && q.cfg.tiers.iter().any(|t| t.pools.contains(&s.pool))
            })
            .count();
        if serving == 0 {
            return None;
        }
        let pos = u32::try_from(position).unwrap_or(u32::MAX);
        let serving = u32::try_from(serving).unwrap_or(u32::MAX);
        Some(aht * pos / serving)
    }

    fn target(&self, rt: &CallRt, seat: Option<u32>) -> Target {
        Target {
            line: (rt.line != u16::MAX).then_some(usize::from(rt.line)),
            queue: Some(usize::from(rt.queue)),
            pool: seat.map(|s| self.seats[s as usize].pool.index()),
            seat: seat.map(|s| s as usize),
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    fn call_arrived(
        &mut self,
        now: Instant,
        call: CallId,
        line: Line,
        topic: TopicId,
        priority: Priority,
    ) -> Result<(), AcdError> {
        let &queue = self
            .line_queue
            .get(&line)
            .ok_or(AcdError::UnknownLine(line))?;
        if usize::from(topic.0) >= self.topics {
            return Err(AcdError::UnknownTopic(topic));
        }
        if self.calls.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        let line_ix = self
            .figs
            .line_index(line)
            .and_then(|i| u16::try_from(i).ok())
            .unwrap_or(u16::MAX);
        self.seq += 1;
        let rt = CallRt {
            queue,
            topic,
            priority,
            line: line_ix,
            entered: now,
            seq: self.seq,
            state: CallState::Waiting,
        };
        self.calls.insert(call, rt);
        self.counters.offered += 1;
        self.counters.waiting += 1;
        self.figs
            .record(now, self.target(&rt, None), Event::Offered);
        let q = &mut self.queues[usize::from(queue)];
        q.waiting.insert(topic, priority, rt.key(), call);
        for tier in &q.cfg.tiers {
            if tier.after > Duration::ZERO {
                if let Some(at) = now.checked_add(tier.after) {
                    self.timers
                        .push(Reverse((at, rt.seq, Timer::Widen(call, rt.seq))));
                }
            }
        }
        if let Some(at) = q.cfg.max_wait.and_then(|m| now.checked_add(m.after)) {
            self.timers
                .push(Reverse((at, rt.seq, Timer::MaxWait(call, rt.seq))));
        }
        self.route_call(now, call);
        Ok(())
    }

    fn call_abandoned(&mut self, now: Instant, call: CallId) -> Result<(), AcdError> {
        let rt = *self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        match rt.state {
            CallState::Talking(_) => return Err(AcdError::AlreadyAnswered(call)),
            CallState::Waiting => {
                self.queues[usize::from(rt.queue)]
                    .waiting
                    .remove(rt.topic, rt.priority, rt.key());
                self.counters.waiting -= 1;
            }
            CallState::Ringing(_) => self.counters.ringing -= 1,
        }
        self.calls.remove(&call);
        let short = now.saturating_duration_since(rt.entered) < self.short_abandon;
        let ringing = match rt.state {
            CallState::Ringing(s) => Some(s),
            _ => None,
        };
        self.figs
            .record(now, self.target(&rt, ringing), Event::Abandoned { short });
        if short {
            self.counters.abandoned_short += 1;
        } else {
            self.counters.abandoned_long += 1;
            self.surge.record(now, false);
        }
        self.outputs.push_back(Output::CallLeft {
            call,
            why: LeaveReason::Abandoned { short },
        });
        if let CallState::Ringing(s) = rt.state {
            self.set_ready(s, now);
            self.route_seat(now, s);
        }
        Ok(())
    }

    fn ringing_at(&self, call: CallId, seat: SeatId) -> Result<(CallRt, u32), AcdError> {
        let &s = self
            .seat_index
            .get(&seat)
            .ok_or(AcdError::UnknownSeat(seat))?;
        let rt = *self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if rt.state != CallState::Ringing(s) {
            return Err(AcdError::NotOffered { call, seat });
        }
        Ok((rt, s))
    }

    fn offer_answered(&mut self, now: Instant, call: CallId, seat: SeatId) -> Result<(), AcdError> {
        let (rt, s) = self.ringing_at(call, seat)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Talking(s);
        }
        let st = &mut self.seats[s as usize];
        st.misses = 0;
        st.calls_answered += 1;
        st.talk_started = Some(now);
        self.counters.ringing -= 1;
        self.counters.answered += 1;
        let wait = now.saturating_duration_since(rt.entered);
        self.figs
            .record(now, self.target(&rt, Some(s)), Event::Answered { wait });
        let within = wait <= self.surge.answer_within();
        self.surge.record(now, within);
        self.outputs.push_back(Output::CallLeft {
            call,
            why: LeaveReason::Answered { seat },
        });
        self.set_state(s, SeatState::Talking(call));
        Ok(())
    }

    fn offer_failed(
        &mut self,
        now: Instant,
        call: CallId,
        seat: SeatId,
        _why: OfferFailure,
    ) -> Result<(), AcdError> {
        let (rt, s) = self.ringing_at(call, seat)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Waiting;
        }
        self.counters.ringing -= 1;
        self.counters.waiting += 1;
        let q = &mut self.queues[usize::from(rt.queue)];
        q.waiting.insert(rt.topic, rt.priority, rt.key(), call);
        let expired = q
            .cfg
            .max_wait
            .filter(|m| rt.entered.checked_add(m.after).is_some_and(|at| at <= now));
        let st = &mut self.seats[s as usize];
        st.misses = st.misses.saturating_add(1);
        if self.max_misses > 0 && st.misses >= self.max_misses {
            let count = st.misses;
            st.misses = 0;
            self.set_state(
                s,
                SeatState::NotReady {
                    reason: NotReadyReason::MissedOffers { count },
                },
            );
        } else {
            self.set_ready(s, now);
        }
        if let Some(m) = expired {
            self.time_out(now, call, m.exit);
        } else {
            self.route_call(now, call);
        }
        self.route_seat(now, s);
        Ok(())
    }

    fn call_ended(
        &mut self,
        now: Instant,
        call: CallId,
        transferred: bool,
    ) -> Result<(), AcdError> {
        let rt = *self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallState::Talking(s) = rt.state else {
            return Err(AcdError::NotTalking(call));
        };
        self.calls.remove(&call);
        let st = &mut self.seats[s as usize];
        let mut talk = Duration::ZERO;
        if let Some(start) = st.talk_started.take() {
            talk = now.saturating_duration_since(start);
            st.talk_total += talk;
        }
        let handle = talk + st.wrap_up;
        self.figs.record(
            now,
            self.target(&rt, Some(s)),
            Event::Handled {
                handle,
                transferred,
            },
        );
        let st = &mut self.seats[s as usize];
        match now.checked_add(st.wrap_up) {
            Some(until) if st.wrap_up > Duration::ZERO => {
                self.seq += 1;
                self.timers
                    .push(Reverse((until, self.seq, Timer::WrapUpEnd(s))));
                self.set_state(s, SeatState::WrapUp { until });
            }
            _ => {
                self.set_ready(s, now);
                self.route_seat(now, s);
            }
        }
        Ok(())
    }

    fn seat_request(
        &mut self,
        now: Instant,
        seat: SeatId,
        req: SeatRequest,
    ) -> Result<(), AcdError> {
        let &s = self
            .seat_index
            .get(&seat)
            .ok_or(AcdError::UnknownSeat(seat))?;
        let st = &self.seats[s as usize];
        if st.busy() {
            return Err(AcdError::SeatBusy(seat));
        }
        match req {
            SeatRequest::Ready => {
                if st.state == SeatState::Ready {
                    return Err(AcdError::AlreadyReady(seat));
                }
                self.seats[s as usize].misses = 0;
                self.set_ready(s, now);
                self.route_seat(now, s);
            }
            SeatRequest::NotReady(reason) => self.set_state(s, SeatState::NotReady { reason }),
            SeatRequest::LoggedOut => {
                if st.state == SeatState::LoggedOut {
                    return Err(AcdError::AlreadyLoggedOut(seat));
                }
                self.set_state(s, SeatState::LoggedOut);
            }
        }
        Ok(())
    }

    fn withdraw(&mut self, now: Instant, call: CallId, seat: SeatId) -> Result<(), AcdError> {
        let &s = self
            .seat_index
            .get(&seat)
            .ok_or(AcdError::UnknownSeat(seat))?;
        let rt = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if rt.state != CallState::Waiting {
            return Err(AcdError::NotWaiting(call));
        }
        if self.seats[s as usize].state != SeatState::Ready {
            return Err(AcdError::SeatNotReady(seat));
        }
        self.offer(now, call, s);
        Ok(())
    }

    /// Moves a seat to `pool` with `skills` (a supervisor's decision). A ready seat is
    /// re-indexed under its new pool and offered the best call it may now take; a busy one
    /// keeps its call and serves its new pool from its next call.
    ///
    /// # Errors
    ///
    /// [`AcdError::UnknownSeat`], [`AcdError::UnknownTopic`] (the state is unchanged).
    pub fn assign_seat(
        &mut self,
        now: Instant,
        seat: SeatId,
        pool: Pool,
        skills: Vec<Skill>,
    ) -> Result<(), AcdError> {
        let &s = self
            .seat_index
            .get(&seat)
            .ok_or(AcdError::UnknownSeat(seat))?;
        if let Some(k) = skills
            .iter()
            .find(|k| usize::from(k.topic.0) >= self.topics)
        {
            return Err(AcdError::UnknownTopic(k.topic));
        }
        let ready = self.seats[s as usize].state == SeatState::Ready;
        if ready {
            self.idle.remove(&mut self.seats, s);
        }
        let st = &mut self.seats[s as usize];
        st.pool = pool;
        st.skills = skills;
        if ready {
            self.idle.insert(&mut self.seats, s);
            self.route_seat(now, s);
        }
        self.arm_surge_eval(now);
        Ok(())
    }

    fn surge_manual(&mut self, now: Instant, open: bool) {
        if !self.surge.manual(open) {
            return;
        }
        if open {
            self.outputs.push_back(Output::SurgeOpened {
                reason: SurgeReason::Manual,
            });
            self.route_surge_seats(now);
        } else {
            self.outputs.push_back(Output::SurgeClosed {
                reason: SurgeReason::Manual,
            });
        }
    }

    // ---- time ---------------------------------------------------------------------------

    fn fire(&mut self, now: Instant, at: Instant, timer: Timer) {
        match timer {
            Timer::Widen(call, seq) => {
                if self.waiting_call(call, seq).is_some() {
                    self.route_call(now, call);
                }
            }
            Timer::MaxWait(call, seq) => {
                if let Some(rt) = self.waiting_call(call, seq) {
                    if let Some(m) = self.queues[usize::from(rt.queue)].cfg.max_wait {
                        self.time_out(now, call, m.exit);
                    }
                }
            }
            Timer::WrapUpEnd(s) => {
                if self.seats[s as usize].state == (SeatState::WrapUp { until: at }) {
                    self.set_ready(s, at);
                    self.route_seat(now, s);
                }
            }
        }
    }

    fn waiting_call(&self, call: CallId, seq: u64) -> Option<CallRt> {
        self.calls
            .get(&call)
            .filter(|c| c.seq == seq && c.state == CallState::Waiting)
            .copied()
    }

    fn arm_surge_eval(&mut self, now: Instant) {
        if self.next_surge_eval.is_none() && self.surge.needs_eval(self.counters.waiting) {
            self.next_surge_eval = self.surge.eval_every().and_then(|d| now.checked_add(d));
        }
    }

    fn evaluate_surge(&mut self, now: Instant) {
        let oldest = self.queues.iter().filter_map(|q| q.waiting.oldest()).min();
        let longest = oldest.map_or(Duration::ZERO, |o| now.saturating_duration_since(o));
        let waiting = usize::try_from(self.counters.waiting).unwrap_or(usize::MAX);
        match self.surge.evaluate(now, longest, waiting) {
            Some(SurgeChange::Open(reason)) => {
                self.outputs.push_back(Output::SurgeOpened { reason });
                self.route_surge_seats(now);
            }
            Some(SurgeChange::Close(reason)) => {
                self.outputs.push_back(Output::SurgeClosed { reason });
            }
            None => {}
        }
    }

    fn time_out(&mut self, now: Instant, call: CallId, exit: crate::model::Exit) {
        let Some(rt) = self.calls.remove(&call) else {
            return;
        };
        self.queues[usize::from(rt.queue)]
            .waiting
            .remove(rt.topic, rt.priority, rt.key());
        self.counters.waiting -= 1;
        self.counters.timed_out += 1;
        self.figs
            .record(now, self.target(&rt, None), Event::TimedOut);
        self.surge.record(now, false);
        self.outputs.push_back(Output::CallLeft {
            call,
            why: LeaveReason::TimedOut { exit },
        });
    }

    // ---- routing ------------------------------------------------------------------------

    fn route_surge_seats(&mut self, now: Instant) {
        let idle: Vec<u32> = self.idle.of(Pool::Surge).collect();
        for s in idle {
            self.route_seat(now, s);
        }
    }

    /// The best waiting call a Ready seat may take now: highest priority, then longest wait,
    /// across every queue the seat serves. Looks at bucket heads only.
    fn best_call_for(&self, now: Instant, s: u32) -> Option<CallId> {
        let seat = &self.seats[s as usize];
        let mut best: Option<((Reverse<Priority>, WaitKey), CallId)> = None;
        for &qi in &self.queues_by_pool[seat.pool.index()] {
            let q = &self.queues[usize::from(qi)];
            for b in q.waiting.buckets() {
                let Some((&key, &call)) = b.calls.first_key_value() else {
                    continue;
                };
                let rank = (Reverse(b.priority), key);
                if best.is_some_and(|(r, _)| r <= rank) {
                    continue;
                }
                let after = q
                    .cfg
                    .tiers
                    .iter()
                    .filter(|t| qualifies(t, seat, b.topic, self.surge.open))
                    .map(|t| t.after)
                    .min();
                if after
                    .and_then(|a| key.0.checked_add(a))
                    .is_some_and(|at| at <= now)
                {
                    best = Some((rank, call));
                }
            }
        }
        best.map(|(_, c)| c)
    }

    /// Offers the best call to a seat if it is Ready and some call fits.
    fn route_seat(&mut self, now: Instant, s: u32) {
        if self.seats[s as usize].state != SeatState::Ready {
            return;
        }
        if let Some(call) = self.best_call_for(now, s) {
            self.offer(now, call, s);
        }
    }

    /// Finds seats for a waiting call. Each idle seat found takes its own best call (which
    /// may be an older or more urgent one); repeat until this call is offered or no idle seat
    /// fits it.
    fn route_call(&mut self, now: Instant, call: CallId) {
        loop {
            let Some(rt) = self.calls.get(&call).copied() else {
                return;
            };
            if rt.state != CallState::Waiting {
                return;
            }
            let q = &self.queues[usize::from(rt.queue)];
            let mut found = None;
            for tier in &q.cfg.tiers {
                if rt.entered.checked_add(tier.after).is_none_or(|at| at > now) {
                    continue;
                }
                let want = Want {
                    tier,
                    topic: rt.topic,
                    strategy: q.cfg.strategy,
                    rr_last: q.rr_last,
                    surge_open: self.surge.open,
                };
                found = pick_seat(want, &self.seats, &self.idle, &mut self.rng);
                if found.is_some() {
                    break;
                }
            }
            let Some(s) = found else {
                return;
            };
            let Some(best) = self.best_call_for(now, s) else {
                return;
            };
            self.offer(now, best, s);
            if best == call {
                return;
            }
        }
    }

    fn offer(&mut self, now: Instant, call: CallId, s: u32) {
        let Some(rt) = self.calls.get_mut(&call) else {
            return;
        };
        rt.state = CallState::Ringing(s);
        let rt = *rt;
        let t = Target {
            line: None,
            queue: None,
            ..self.target(&rt, Some(s))
        };
        self.figs.record(now, t, Event::Offered);
        let q = &mut self.queues[usize::from(rt.queue)];
        q.waiting.remove(rt.topic, rt.priority, rt.key());
        q.rr_last = Some(s);
        let ring_timeout = q.cfg.ring_timeout;
        self.counters.waiting -= 1;
        self.counters.ringing += 1;
        let seat = self.seats[s as usize].id;
        self.outputs.push_back(Output::Offer {
            call,
            seat,
            ring_timeout,
        });
        self.set_state(s, SeatState::Offered(call));
    }

    // ---- seat state ---------------------------------------------------------------------

    fn set_ready(&mut self, s: u32, since: Instant) {
        let st = &mut self.seats[s as usize];
        st.state = SeatState::Ready;
        st.idle_since = Some(since);
        let id = st.id;
        self.idle.insert(&mut self.seats, s);
        self.outputs.push_back(Output::SeatChanged {
            seat: id,
            state: SeatState::Ready,
        });
    }

    fn set_state(&mut self, s: u32, state: SeatState) {
        debug_assert!(state != SeatState::Ready);
        self.seats[s as usize].state = state;
        self.idle.remove(&mut self.seats, s);
        self.outputs.push_back(Output::SeatChanged {
            seat: self.seats[s as usize].id,
            state,
        });
    }
}
