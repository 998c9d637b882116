//! What the engine shows the API: seats, calls, queues and figures as [`crate::api`] views.

use std::collections::BTreeMap;
use std::time::Instant;

use acd_core::{NotReadyReason, Pool, QueueId, Scope, SeatState, Strategy, SurgeReason, Window};

use super::{Engine, LOCAL_OFFSET_SECS};
use crate::api::{
    CallView, FiguresView, HourView, QueueView, SeatView, StatsView, SurgeReasonView, TotalsView,
    TransferCountsView, WallboardView,
};
use crate::metrics::TRANSFER_OUTCOMES;
use crate::record::UnixMs;

/// Windows shown by the API and metrics, with their names.
pub(crate) const WINDOWS: [(Window, &str); 4] = [
    (Window::Min15, "15m"),
    (Window::Hour, "1h"),
    (Window::Day, "24h"),
    (Window::Today, "today"),
];

/// The API name of a seat state.
pub(crate) const fn state_name(state: SeatState) -> &'static str {
    match state {
        SeatState::LoggedOut => "logged_out",
        SeatState::Ready => "ready",
        SeatState::NotReady { .. } => "not_ready",
        SeatState::Offered(_) => "ringing",
        SeatState::Talking(_) => "talking",
        SeatState::WrapUp { .. } => "wrap_up",
    }
}

/// Every seat state name, for gauges that list all of them.
pub(crate) const STATE_NAMES: [&str; 6] = [
    "logged_out",
    "ready",
    "not_ready",
    "ringing",
    "talking",
    "wrap_up",
];

/// The API name of a pool.
pub(crate) const fn pool_name(pool: Pool) -> &'static str {
    match pool {
        Pool::Intake => "intake",
        Pool::Support => "support",
        Pool::Surge => "surge",
        Pool::Expert => "expert",
        Pool::Leader => "leader",
    }
}

/// The configuration name of a strategy.
pub(crate) const fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::LongestIdle => "longest_idle",
        Strategy::FewestCalls => "fewest_calls",
        Strategy::LeastTalkTime => "least_talk_time",
        Strategy::RoundRobin => "round_robin",
        Strategy::WeightedRandom => "weighted_random",
    }
}

/// A not-ready reason as text.
pub(crate) fn reason_text(reason: NotReadyReason, custom: &[String]) -> String {
    match reason {
        NotReadyReason::Break => "break".into(),
        NotReadyReason::Meal => "meal".into(),
        NotReadyReason::Training => "training".into(),
        NotReadyReason::Meeting => "meeting".into(),
        NotReadyReason::MissedOffers { count } => format!("missed {count} offers"),
        NotReadyReason::Other(i) => custom
            .get(usize::from(i))
            .cloned()
            .unwrap_or_else(|| format!("other {i}")),
    }
}

/// A surge change as the API shows it.
pub(crate) fn surge_reason(open: bool, reason: SurgeReason, at: UnixMs) -> SurgeReasonView {
    let (name, value) = match reason {
        SurgeReason::LongestWait(d) => ("longest_wait", Some(ms(d) as f64)),
        SurgeReason::CallsWaiting(n) => ("calls_waiting", Some(n as f64)),
        SurgeReason::AnswerRate { permille } => ("answer_rate", Some(f64::from(permille) / 1000.0)),
        SurgeReason::Manual => ("manual", None),
        SurgeReason::Calm => ("calm", None),
    };
    SurgeReasonView {
        open,
        reason: name.to_owned(),
        value,
        at,
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    pub(super) fn seat_view(&self, now: Instant, idx: usize) -> Option<SeatView> {
        let meta = self.seats.get(idx)?;
        let state = self.acd.seat_state(meta.id)?;
        let call = match state {
            SeatState::Offered(c) | SeatState::Talking(c) => Some(c.0),
            _ => None,
        };
        Some(SeatView {
            id: meta.name.clone(),
            pool: pool_name(meta.pool).to_owned(),
            state: state_name(state).to_owned(),
            reason: match state {
                SeatState::NotReady { reason } => Some(reason_text(reason, &self.reasons)),
                _ => None,
            },
            registered: self.gw.registrar().lookup(now, &meta.name).is_some(),
            call,
            skills: meta.skills.clone(),
        })
    }

    /// All seats, in configuration order.
    pub fn seats(&self, now: Instant) -> Vec<SeatView> {
        (0..self.seats.len())
            .filter_map(|i| self.seat_view(now, i))
            .collect()
    }

    /// One seat by its number.
    pub fn seat(&self, now: Instant, seat: &str) -> Option<SeatView> {
        self.seat_view(now, *self.seat_by_name.get(seat)?)
    }

    /// Calls in progress, oldest first.
    pub fn calls(&self, now: Instant) -> Vec<CallView> {
        let mut out: Vec<(Instant, CallView)> = self
            .calls
            .values()
            .map(|c| {
                let state = if c.answered.is_some() {
                    "talking"
                } else if c.seat.is_some() {
                    "ringing"
                } else {
                    "waiting"
                };
                let since = c.entered.unwrap_or(c.started);
                let seat = c
                    .seat
                    .map(|(s, _)| s)
                    .or(c.answered_by)
                    .map(|s| s.0.to_string());
                (
                    c.started,
                    CallView {
                        id: c.id,
                        line: c.line.clone(),
                        caller: c.caller.clone(),
                        state: state.to_owned(),
                        queue: c.queue.map(|q| self.queue_name(Some(q))),
                        topic: c.topic.clone(),
                        seat,
                        waited_ms: ms(c.answered.unwrap_or(now).saturating_duration_since(since)),
                        origin: c.origin.as_ref().map(|o| o.target.clone()),
                    },
                )
            })
            .collect();
        out.sort_by_key(|(t, v)| (*t, v.id));
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// Queues, in configuration order.
    pub fn queues(&self, now: Instant) -> Vec<QueueView> {
        self.queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let id = QueueId(u16::try_from(i).unwrap_or(u16::MAX));
                let f = self.acd.figures(Scope::Queue(id), Window::Min15, now);
                QueueView {
                    name: q.name.clone(),
                    lines: q.lines.clone(),
                    strategy: q.strategy.clone(),
                    waiting: f.map_or(0, |f| f.waiting_now),
                    longest_wait_ms: f.and_then(|f| f.longest_wait).map(ms),
                    estimated_wait_ms: self.acd.estimated_wait_queue(id, now).map(ms),
                }
            })
            .collect()
    }

    fn windows(&self, scope: Scope, now: Instant) -> BTreeMap<String, FiguresView> {
        WINDOWS
            .iter()
            .filter_map(|&(w, name)| {
                self.acd
                    .figures(scope, w, now)
                    .map(|f| (name.to_owned(), FiguresView::from(&f)))
            })
            .collect()
    }

    /// The platform's figures per hour of today, each hour stamped with its local start.
    fn today_by_hour(&self, now: Instant) -> Vec<HourView> {
        let now_ms = self.clock.ms(now);
        let midnight = now_ms - (now_ms + LOCAL_OFFSET_SECS * 1000).rem_euclid(86_400_000);
        self.acd
            .figures_by_hour(Scope::Platform, now)
            .unwrap_or_default()
            .iter()
            .zip(0u8..)
            .map(|(f, hour)| HourView {
                hour,
                start: midnight + i64::from(hour) * 3_600_000,
                offered: f.offered,
                answered: f.answered,
                answered_within: f.answered_within,
                answer_rate: f.answer_rate,
                answered_within_rate: f.answered_within_rate,
            })
            .collect()
    }

    /// Transfers per target of the plan, in its order.
    fn transfer_counts(&self) -> Vec<TransferCountsView> {
        self.targets
            .iter()
            .map(|t| {
                let counts = self.transfer_counts.get(&t.key);
                TransferCountsView {
                    target: t.key.clone(),
                    name: t.name.clone(),
                    number: t.number.clone(),
                    under_way: self
                        .calls
                        .values()
                        .filter(|c| c.transfer.as_ref().is_some_and(|x| x.target.key == t.key))
                        .count() as u64,
                    outcomes: TRANSFER_OUTCOMES
                        .iter()
                        .map(|&o| {
                            let n = counts.and_then(|c| c.get(o)).copied().unwrap_or(0);
                            (o.to_owned(), n)
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// Seats counted by pool and state; every state of every pool with seats is listed.
    fn seat_counts(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        let mut counts = BTreeMap::new();
        for s in &self.seats {
            for st in STATE_NAMES {
                counts.entry((pool_name(s.pool), st)).or_insert(0);
            }
            if let Some(state) = self.acd.seat_state(s.id) {
                *counts
                    .entry((pool_name(s.pool), state_name(state)))
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    /// Everything the wallboard shows.
    pub fn wallboard(&self, now: Instant) -> WallboardView {
        let mut seats: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((pool, state), n) in self.seat_counts() {
            seats
                .entry(pool.to_owned())
                .or_default()
                .insert(state.to_owned(), n);
        }
        let mut waiting_calls: Vec<CallView> = self
            .calls(now)
            .into_iter()
            .filter(|c| c.state == "waiting")
            .collect();
        // `calls` lists the oldest first; a re-queued call may have waited longer.
        waiting_calls.sort_by(|a, b| b.waited_ms.cmp(&a.waited_ms).then(a.id.cmp(&b.id)));
        waiting_calls.truncate(WallboardView::WAITING_SHOWN);
        WallboardView {
            stats: self.stats(now),
            queues: self.queues(now),
            lines: self.lines.clone(),
            seats,
            waiting_calls,
        }
    }

    /// The figures of every line, queue and pool over every window.
    pub fn stats(&self, now: Instant) -> StatsView {
        let c = self.acd.counters();
        let mut lines = BTreeMap::new();
        for q in &self.queues {
            for l in &q.lines {
                if let Ok(n) = l.parse() {
                    lines.insert(l.clone(), self.windows(Scope::Line(acd_core::Line(n)), now));
                }
            }
        }
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let id = QueueId(u16::try_from(i).unwrap_or(u16::MAX));
                (q.name.clone(), self.windows(Scope::Queue(id), now))
            })
            .collect();
        let pools = Pool::ALL
            .iter()
            .filter(|p| self.seats.iter().any(|s| s.pool == **p))
            .map(|&p| (pool_name(p).to_owned(), self.windows(Scope::Pool(p), now)))
            .collect();
        StatsView {
            at: self.clock.ms(now),
            target_answer_rate: self.target_answer_rate,
            answer_within_s: self.answer_within.as_secs(),
            surge_open: self.acd.surge_open(),
            surge_reason: self.surge_change.clone(),
            totals: TotalsView {
                offered: c.offered,
                answered: c.answered,
                abandoned_short: c.abandoned_short,
                abandoned_long: c.abandoned_long,
                timed_out: c.timed_out,
                waiting: c.waiting,
                ringing: c.ringing,
            },
            lines,
            queues,
            pools,
            platform: self.windows(Scope::Platform, now),
            today_by_hour: self.today_by_hour(now),
            transfers: self.transfer_counts(),
        }
    }

    /// Set every gauge of the metrics registry from the current state.
    pub fn refresh_gauges(&self, now: Instant) {
        let m = &self.metrics;
        for q in &self.queues {
            for l in &q.lines {
                let Ok(n) = l.parse() else { continue };
                let scope = Scope::Line(acd_core::Line(n));
                for &(w, name) in &WINDOWS {
                    let f = self.acd.figures(scope, w, now);
                    m.set_answer_ratio(l, &q.name, name, f.and_then(|f| f.answer_rate));
                    m.set_answered_within_ratio(
                        l,
                        &q.name,
                        name,
                        f.and_then(|f| f.answered_within_rate),
                    );
                }
                let waiting = self
                    .acd
                    .figures(scope, Window::Min15, now)
                    .map_or(0, |f| f.waiting_now);
                m.set_calls_waiting(l, &q.name, waiting);
            }
        }
        for ((pool, state), n) in self.seat_counts() {
            m.set_seats(pool, state, n);
        }
        m.set_surge_open(self.acd.surge_open());
        let g = self.gw.stats();
        m.set_sip(&crate::metrics::SipSnapshot {
            requests: g.requests,
            responses: g.responses,
            rejected: g.rejected.values().sum(),
            dropped: g.dropped,
            transmitted: g.transmitted,
            calls_started: g.calls_started,
            active_calls: self.gw.active_calls() as u64,
            active_transactions: self.gw.active_transactions() as u64,
            tls_handshake_failures_in: g.tls_handshake_failures_in,
            tls_handshake_failures_out: g.tls_handshake_failures_out,
        });
        let guard = self.gw.guard();
        m.set_protection(guard.stats(), guard.blocked_sources(now));
    }
}
