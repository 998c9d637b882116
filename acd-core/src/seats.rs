//! Seats at run time and the index of idle (Ready) seats per pool.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::config::SeatConfig;
use crate::model::{Pool, SeatId, SeatState, Skill, TopicId};
use crate::weights::Weights;

/// A seat with the figures strategies need.
#[derive(Debug)]
pub(crate) struct Seat {
    pub(crate) id: SeatId,
    pub(crate) pool: Pool,
    pub(crate) skills: Vec<Skill>,
    pub(crate) wrap_up: Duration,
    pub(crate) weight: u32,
    pub(crate) state: SeatState,
    /// When the seat last became Ready; the longest-idle key.
    pub(crate) idle_since: Option<Instant>,
    pub(crate) calls_answered: u64,
    pub(crate) talk_total: Duration,
    pub(crate) talk_started: Option<Instant>,
    pub(crate) misses: u8,
    /// The key under which the seat sits in the idle index, if it does.
    idle_key: Option<IdleKey>,
}

impl Seat {
    pub(crate) fn new(cfg: &SeatConfig, pool_wrap_up: Duration) -> Self {
        Self {
            id: cfg.id,
            pool: cfg.pool,
            skills: cfg.skills.clone(),
            wrap_up: cfg.wrap_up.unwrap_or(pool_wrap_up),
            weight: cfg.weight.max(1),
            state: SeatState::LoggedOut,
            idle_since: None,
            calls_answered: 0,
            talk_total: Duration::ZERO,
            talk_started: None,
            misses: 0,
            idle_key: None,
        }
    }

    /// The seat's level on a topic, if it has the skill.
    pub(crate) fn level(&self, topic: TopicId) -> Option<u8> {
        self.skills
            .iter()
            .find(|s| s.topic == topic)
            .map(|s| s.level)
    }

    /// Whether the seat is busy with a call (ringing or talking).
    pub(crate) const fn busy(&self) -> bool {
        matches!(self.state, SeatState::Offered(_) | SeatState::Talking(_))
    }
}

/// The orderings an idle seat is filed under. Strategy keys do not change while a seat is
/// idle: answered calls and talk time only grow while it is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdleKey {
    since: Instant,
    calls: u64,
    talk: Duration,
}

/// Which orderings the idle index keeps, from the strategies the queues use.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Orderings {
    pub(crate) by_calls: bool,
    pub(crate) by_talk: bool,
    pub(crate) by_seat: bool,
    pub(crate) by_weight: bool,
}

type PerPool<T> = [BTreeSet<T>; Pool::COUNT];

/// Ready seats per pool, ordered by each strategy key in use.
///
/// Without a skill requirement, a strategy reads the first entry of each eligible pool, or
/// draws from the pools' weight trees (O(pools · log seats)); otherwise the caller iterates
/// the pool's seats.
#[derive(Debug, Default)]
pub(crate) struct IdleIndex {
    by_idle: PerPool<(Instant, u32)>,
    by_calls: Option<PerPool<(u64, Instant, u32)>>,
    by_talk: Option<PerPool<(Duration, Instant, u32)>>,
    by_seat: Option<PerPool<u32>>,
    by_weight: Option<[Weights; Pool::COUNT]>,
}

impl IdleIndex {
    /// An empty index for seat indices `0..seats`.
    pub(crate) fn new(o: Orderings, seats: usize) -> Self {
        Self {
            by_idle: Default::default(),
            by_calls: o.by_calls.then(Default::default),
            by_talk: o.by_talk.then(Default::default),
            by_seat: o.by_seat.then(Default::default),
            by_weight: o
                .by_weight
                .then(|| std::array::from_fn(|_| Weights::new(seats))),
        }
    }

    /// Marks seat `idx` idle under its current figures.
    pub(crate) fn insert(&mut self, seats: &mut [Seat], idx: u32) {
        self.remove(seats, idx);
        let seat = &mut seats[idx as usize];
        let Some(since) = seat.idle_since else {
            return;
        };
        let key = IdleKey {
            since,
            calls: seat.calls_answered,
            talk: seat.talk_total,
        };
        let p = seat.pool.index();
        self.by_idle[p].insert((key.since, idx));
        if let Some(s) = &mut self.by_calls {
            s[p].insert((key.calls, key.since, idx));
        }
        if let Some(s) = &mut self.by_talk {
            s[p].insert((key.talk, key.since, idx));
        }
        if let Some(s) = &mut self.by_seat {
            s[p].insert(idx);
        }
        if let Some(w) = &mut self.by_weight {
            w[p].add(idx, u64::from(seat.weight));
        }
        seat.idle_key = Some(key);
    }

    /// Marks seat `idx` not idle.
    pub(crate) fn remove(&mut self, seats: &mut [Seat], idx: u32) {
        let seat = &mut seats[idx as usize];
        let Some(key) = seat.idle_key.take() else {
            return;
        };
        let p = seat.pool.index();
        self.by_idle[p].remove(&(key.since, idx));
        if let Some(s) = &mut self.by_calls {
            s[p].remove(&(key.calls, key.since, idx));
        }
        if let Some(s) = &mut self.by_talk {
            s[p].remove(&(key.talk, key.since, idx));
        }
        if let Some(s) = &mut self.by_seat {
            s[p].remove(&idx);
        }
        if let Some(w) = &mut self.by_weight {
            w[p].sub(idx, u64::from(seat.weight));
        }
    }

    /// Idle seats of a pool, longest idle first.
    pub(crate) fn of(&self, pool: Pool) -> impl Iterator<Item = u32> + '_ {
        self.by_idle[pool.index()].iter().map(|&(_, i)| i)
    }

    /// The longest idle seat of a pool, as (idle since, seat).
    pub(crate) fn first(&self, pool: Pool) -> Option<(Instant, u32)> {
        self.by_idle[pool.index()].first().copied()
    }

    /// The seat with the fewest answered calls, then longest idle; `None` if not indexed.
    pub(crate) fn first_by_calls(&self, pool: Pool) -> Option<Option<(u64, Instant, u32)>> {
        self.by_calls
            .as_ref()
            .map(|s| s[pool.index()].first().copied())
    }

    /// The seat with the least talk time, then longest idle; `None` if not indexed.
    pub(crate) fn first_by_talk(&self, pool: Pool) -> Option<Option<(Duration, Instant, u32)>> {
        self.by_talk
            .as_ref()
            .map(|s| s[pool.index()].first().copied())
    }

    /// The first idle seat at or after `start` in configuration order, wrapping at `n`, as
    /// (distance from `start`, seat); `None` if not indexed.
    pub(crate) fn next_from(&self, pool: Pool, start: u32, n: u32) -> Option<Option<(u32, u32)>> {
        self.by_seat.as_ref().map(|s| {
            let set = &s[pool.index()];
            set.range(start..)
                .next()
                .map(|&i| (i - start, i))
                .or_else(|| set.first().map(|&i| (i + n - start, i)))
        })
    }

    /// The idle weight trees per pool; `None` if not indexed.
    pub(crate) const fn weights(&self) -> Option<&[Weights; Pool::COUNT]> {
        self.by_weight.as_ref()
    }
}
