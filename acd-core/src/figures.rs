//! Figures (话务统计): per line, queue, pool and seat, over rolling windows and the calendar
//! day. Formulas and their source events are in `docs/metrics.md`.
//!
//! Counts live in a ring of 1440 per-minute buckets per scope (fixed memory); a rolling
//! window is the sum of its last N minute buckets. Wait-time percentiles live in a ring of
//! 288 five-minute `hdrhistogram` slots per line/queue/pool scope, allocated on first use
//! and reused after; a window's percentiles merge the slots it touches (five-minute
//! granularity). Recording an event is O(1).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::model::{Line, Pool, QueueId, SeatId};

const MINUTE: Duration = Duration::from_secs(60);
const MINUTES: usize = 24 * 60;
const SLOT_MINUTES: u64 = 5;
const SLOTS: usize = MINUTES / SLOT_MINUTES as usize;
/// Highest trackable wait in milliseconds (2 h); longer waits are recorded as 2 h.
const HIST_MAX_MS: u64 = 2 * 3600 * 1000;

/// A time span over which figures are summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last 15 minutes (the current minute and the 14 before).
    Min15,
    /// The last hour.
    Hour,
    /// The last 24 hours.
    Day,
    /// Since the last local midnight (see [`crate::AcdConfig::day_start`]).
    Today,
}

/// What the figures are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A dialed line.
    Line(Line),
    /// A queue.
    Queue(QueueId),
    /// A seat pool (the pool of the seat involved).
    Pool(Pool),
    /// One seat.
    Seat(SeatId),
    /// Every queue together: the platform's figures (what the 98 % target is judged on).
    Platform,
}

/// The figures of one scope over one window. Rates are fractions in `0..=1`, `None` when the
/// denominator is zero.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    /// Calls that arrived (line/queue) or offers rung (pool/seat).
    pub offered: u64,
    /// Calls answered by a seat.
    pub answered: u64,
    /// Calls answered with a wait ≤ [`crate::AcdConfig::answer_within`].
    pub answered_within: u64,
    /// Abandoned before [`crate::AcdConfig::short_abandon`].
    pub abandoned_short: u64,
    /// Abandoned at or after the short-abandon threshold.
    pub abandoned_long: u64,
    /// Calls that reached their queue's maximum wait.
    pub timed_out: u64,
    /// Answered calls whose seat handed them on ([`crate::Input::CallTransferred`]); a
    /// subset of `handled`.
    pub transferred: u64,
    /// answered / (answered + abandoned + timed out).
    pub answer_rate: Option<f64>,
    /// answered / (answered + long abandons + timed out).
    pub answer_rate_excl_short: Option<f64>,
    /// answered within / (answered + abandoned + timed out).
    pub answered_within_rate: Option<f64>,
    /// Average speed of answer: mean wait of answered calls.
    pub asa: Option<Duration>,
    /// Average handle time: mean (talk + wrap-up) of calls ended.
    pub aht: Option<Duration>,
    /// Calls whose conversation ended (the AHT sample count).
    pub handled: u64,
    /// Longest wait of a call waiting now (line/queue only; window-independent).
    pub longest_wait: Option<Duration>,
    /// Calls waiting now (line/queue only; window-independent).
    pub waiting_now: u64,
    /// Median wait of answered calls.
    pub wait_p50: Option<Duration>,
    /// 90th percentile wait of answered calls.
    pub wait_p90: Option<Duration>,
    /// 99th percentile wait of answered calls.
    pub wait_p99: Option<Duration>,
}

/// One minute's (or one day's) counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    offered: u32,
    answered: u32,
    answered_within: u32,
    abandoned_short: u32,
    abandoned_long: u32,
    timed_out: u32,
    handled: u32,
    transferred: u32,
    answer_wait_ms: u64,
    handle_ms: u64,
}

impl Bucket {
    fn add(&mut self, o: &Self) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within += o.answered_within;
        self.abandoned_short += o.abandoned_short;
        self.abandoned_long += o.abandoned_long;
        self.timed_out += o.timed_out;
        self.handled += o.handled;
        self.transferred += o.transferred;
        self.answer_wait_ms += o.answer_wait_ms;
        self.handle_ms += o.handle_ms;
    }
}

/// A recorded event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Offered,
    Answered { wait: Duration },
    Abandoned { short: bool },
    TimedOut,
    Handled { handle: Duration, transferred: bool },
}

fn hist() -> Histogram<u32> {
    // Bounds are valid constants; the constructor cannot fail with them.
    Histogram::new_with_bounds(1, HIST_MAX_MS, 2).unwrap_or_else(|_| unreachable!())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Figures of one scope.
#[derive(Debug)]
struct ScopeFig {
    minutes: Box<[Bucket]>,
    /// The absolute minute each bucket holds; stale buckets are skipped and reset on reuse.
    minute_of: Box<[u64]>,
    today: Bucket,
    today_day: u64,
    /// Five-minute wait histograms (None for seats); `slot_of` as `minute_of`.
    slots: Option<Vec<Option<Histogram<u32>>>>,
    slot_of: Box<[u64]>,
    today_hist: Option<Histogram<u32>>,
}

impl ScopeFig {
    fn new(percentiles: bool) -> Self {
        Self {
            minutes: vec![Bucket::default(); MINUTES].into_boxed_slice(),
            minute_of: vec![u64::MAX; MINUTES].into_boxed_slice(),
            today: Bucket::default(),
            today_day: 0,
            slots: percentiles.then(|| (0..SLOTS).map(|_| None).collect()),
            slot_of: vec![u64::MAX; SLOTS].into_boxed_slice(),
            today_hist: percentiles.then(hist),
        }
    }

    fn record(&mut self, minute: u64, event: Event, within: Duration) {
        let i = (minute % MINUTES as u64) as usize;
        if self.minute_of[i] != minute {
            self.minute_of[i] = minute;
            self.minutes[i] = Bucket::default();
        }
        let day = minute / MINUTES as u64;
        if self.today_day != day {
            self.today_day = day;
            self.today = Bucket::default();
            if let Some(h) = &mut self.today_hist {
                h.reset();
            }
        }
        for b in [&mut self.minutes[i], &mut self.today] {
            match event {
                Event::Offered => b.offered += 1,
                Event::Answered { wait } => {
                    b.answered += 1;
                    b.answered_within += u32::from(wait <= within);
                    b.answer_wait_ms += ms(wait);
                }
                Event::Abandoned { short: true } => b.abandoned_short += 1,
                Event::Abandoned { short: false } => b.abandoned_long += 1,
                Event::TimedOut => b.timed_out += 1,
                Event::Handled {
                    handle,
                    transferred,
                } => {
                    b.handled += 1;
                    b.transferred += u32::from(transferred);
                    b.handle_ms += ms(handle);
                }
            }
        }
        if let Event::Answered { wait } = event {
            let v = ms(wait).max(1);
            if let Some(slots) = &mut self.slots {
                let slot = minute / SLOT_MINUTES;
                let j = (slot % SLOTS as u64) as usize;
                let h = slots[j].get_or_insert_with(hist);
                if self.slot_of[j] != slot {
                    self.slot_of[j] = slot;
                    h.reset();
                }
                h.saturating_record(v);
            }
            if let Some(h) = &mut self.today_hist {
                h.saturating_record(v);
            }
        }
    }

    fn read(&self, minute: u64, window: Window) -> (Bucket, Option<Histogram<u32>>) {
        let n = match window {
            Window::Min15 => 15,
            Window::Hour => 60,
            Window::Day => MINUTES as u64,
            Window::Today => {
                let fresh = self.today_day == minute / MINUTES as u64;
                let b = if fresh { self.today } else { Bucket::default() };
                let h = self.today_hist.as_ref().filter(|_| fresh).cloned();
                return (b, h);
            }
        };
        let first = (minute + 1).saturating_sub(n);
        let sum = self.sum(first, minute);
        let h = self.slots.as_ref().map(|slots| {
            let mut acc = hist();
            for slot in first / SLOT_MINUTES..=minute / SLOT_MINUTES {
                let j = (slot % SLOTS as u64) as usize;
                if self.slot_of[j] == slot {
                    if let Some(h) = &slots[j] {
                        // Same bounds on both sides: adding cannot fail.
                        let _ = acc.add(h);
                    }
                }
            }
            acc
        });
        (sum, h)
    }
}

impl ScopeFig {
    /// The counts of minutes `first..=last` still held in the ring.
    fn sum(&self, first: u64, last: u64) -> Bucket {
        let mut sum = Bucket::default();
        for m in first..=last {
            let i = (m % MINUTES as u64) as usize;
            if self.minute_of[i] == m {
                sum.add(&self.minutes[i]);
            }
        }
        sum
    }
}

fn rate(num: u32, den: u32) -> Option<f64> {
    (den > 0).then(|| f64::from(num) / f64::from(den))
}

fn mean(total_ms: u64, n: u32) -> Option<Duration> {
    (n > 0).then(|| Duration::from_millis(total_ms / u64::from(n)))
}

/// Figures store of the distributor: one [`ScopeFig`] per line, queue, pool and seat.
#[derive(Debug)]
pub(crate) struct FigureStore {
    epoch: Option<Instant>,
    answer_within: Duration,
    lines: Vec<(Line, ScopeFig)>,
    queues: Vec<ScopeFig>,
    pools: Vec<ScopeFig>,
    seats: Vec<ScopeFig>,
    /// Every queue's events together.
    platform: ScopeFig,
}

/// Which scopes an event touches (indexes into the store).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) line: Option<usize>,
    pub(crate) queue: Option<usize>,
    pub(crate) pool: Option<usize>,
    pub(crate) seat: Option<usize>,
}

impl FigureStore {
    pub(crate) fn new(
        epoch: Option<Instant>,
        answer_within: Duration,
        lines: &[Line],
        queues: usize,
        seats: usize,
    ) -> Self {
        Self {
            epoch,
            answer_within,
            lines: lines.iter().map(|&l| (l, ScopeFig::new(true))).collect(),
            queues: (0..queues).map(|_| ScopeFig::new(true)).collect(),
            pools: (0..Pool::COUNT).map(|_| ScopeFig::new(true)).collect(),
            seats: (0..seats).map(|_| ScopeFig::new(false)).collect(),
            platform: ScopeFig::new(true),
        }
    }

    pub(crate) fn line_index(&self, line: Line) -> Option<usize> {
        self.lines.iter().position(|(l, _)| *l == line)
    }

    /// The absolute minute of `now` since the epoch (set on first use).
    pub(crate) fn minute(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs() / MINUTE.as_secs()
    }

    fn minute_of(&self, now: Instant) -> u64 {
        self.epoch.map_or(0, |e| {
            now.saturating_duration_since(e).as_secs() / MINUTE.as_secs()
        })
    }

    pub(crate) fn record(&mut self, now: Instant, t: Target, event: Event) {
        let minute = self.minute(now);
        let within = self.answer_within;
        if let Some(i) = t.line {
            self.lines[i].1.record(minute, event, within);
        }
        if let Some(i) = t.queue {
            self.queues[i].record(minute, event, within);
            // Each call is in exactly one queue, so the platform is the sum of the queues.
            self.platform.record(minute, event, within);
        }
        if let Some(i) = t.pool {
            self.pools[i].record(minute, event, within);
        }
        if let Some(i) = t.seat {
            self.seats[i].record(minute, event, within);
        }
    }

    /// Average handle time of a queue over a window, for wait estimates.
    pub(crate) fn queue_aht(&self, queue: usize, window: Window, now: Instant) -> Option<Duration> {
        let (b, _) = self.queues.get(queue)?.read(self.minute_of(now), window);
        mean(b.handle_ms, b.handled)
    }

    fn scope(&self, scope: ScopeIdx) -> &ScopeFig {
        match scope {
            ScopeIdx::Line(i) => &self.lines[i].1,
            ScopeIdx::Queue(i) => &self.queues[i],
            ScopeIdx::Pool(i) => &self.pools[i],
            ScopeIdx::Seat(i) => &self.seats[i],
            ScopeIdx::Platform => &self.platform,
        }
    }

    /// Figures of a scope index set; gauges filled in by the caller.
    pub(crate) fn figures(&self, scope: ScopeIdx, window: Window, now: Instant) -> Figures {
        let (b, h) = self.scope(scope).read(self.minute_of(now), window);
        figures_of(&b, h.as_ref())
    }

    /// One [`Figures`] per hour of the calendar day of `now`, from its first hour to the hour
    /// of `now`: counts and rates of the minute buckets, no percentiles (five-minute histograms
    /// would have to be merged per hour for a chart that shows rates).
    pub(crate) fn by_hour(&self, scope: ScopeIdx, now: Instant) -> Vec<Figures> {
        let minute = self.minute_of(now);
        let day_first = minute - minute % MINUTES as u64;
        let fig = self.scope(scope);
        (day_first..=minute)
            .step_by(60)
            .map(|first| figures_of(&fig.sum(first, (first + 59).min(minute)), None))
            .collect()
    }
}

/// The figures of summed counts and, for percentiles, a merged histogram.
fn figures_of(b: &Bucket, h: Option<&Histogram<u32>>) -> Figures {
    let requests = b.answered + b.abandoned_short + b.abandoned_long + b.timed_out;
    let pct = |q: f64| {
        h.filter(|h| !h.is_empty())
            .map(|h| Duration::from_millis(h.value_at_quantile(q)))
    };
    Figures {
        offered: u64::from(b.offered),
        answered: u64::from(b.answered),
        answered_within: u64::from(b.answered_within),
        abandoned_short: u64::from(b.abandoned_short),
        abandoned_long: u64::from(b.abandoned_long),
        timed_out: u64::from(b.timed_out),
        transferred: u64::from(b.transferred),
        answer_rate: rate(b.answered, requests),
        answer_rate_excl_short: rate(b.answered, requests - b.abandoned_short),
        answered_within_rate: rate(b.answered_within, requests),
        asa: mean(b.answer_wait_ms, b.answered),
        aht: mean(b.handle_ms, b.handled),
        handled: u64::from(b.handled),
        longest_wait: None,
        waiting_now: 0,
        wait_p50: pct(0.5),
        wait_p90: pct(0.9),
        wait_p99: pct(0.99),
    }
}

/// A resolved scope.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ScopeIdx {
    Line(usize),
    Queue(usize),
    Pool(usize),
    Seat(usize),
    Platform,
}
