//! Configuration, a plain struct built in code (no file parsing here).

use std::time::Duration;

use crate::model::{Exit, Line, Pool, SeatId, Skill, TopicId};

/// How a queue chooses among equally qualified idle seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// The seat idle the longest.
    #[default]
    LongestIdle,
    /// The seat that has answered the fewest calls; ties to the longest idle.
    FewestCalls,
    /// The seat with the least total talk time; ties to the longest idle.
    LeastTalkTime,
    /// The next seat after the one this queue offered last, in configuration order.
    RoundRobin,
    /// A seat drawn at random in proportion to [`SeatConfig::weight`] (seeded, deterministic).
    WeightedRandom,
}

/// One step of a queue's overflow: which seats may take the call, from when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Pools whose seats belong to this tier. [`Pool::Surge`] counts only while surge is open.
    pub pools: Vec<Pool>,
    /// If set, a seat needs a skill on the call's topic at least this level.
    pub min_level: Option<u8>,
    /// How long the call must have waited before this tier may take it.
    pub after: Duration,
}

/// The maximum wait of a queue and where calls go when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxWait {
    /// Maximum wait.
    pub after: Duration,
    /// Where the call goes.
    pub exit: Exit,
}

/// A queue fed by one or more lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// A name for people.
    pub name: String,
    /// Dialed numbers feeding this queue.
    pub lines: Vec<Line>,
    /// Seat choice among equals.
    pub strategy: Strategy,
    /// Overflow tiers, preferred first. Earlier tiers win over later ones.
    pub tiers: Vec<Tier>,
    /// Ring timeout carried in [`crate::Output::Offer`].
    pub ring_timeout: Option<Duration>,
    /// Optional maximum wait.
    pub max_wait: Option<MaxWait>,
}

/// Settings of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// The pool.
    pub pool: Pool,
    /// After-call work time for its seats.
    pub wrap_up: Duration,
}

/// A seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatConfig {
    /// Its id.
    pub id: SeatId,
    /// Its pool.
    pub pool: Pool,
    /// Its skills.
    pub skills: Vec<Skill>,
    /// Overrides the pool's wrap-up time.
    pub wrap_up: Option<Duration>,
    /// Weight for [`Strategy::WeightedRandom`]; 0 is treated as 1.
    pub weight: u32,
}

impl SeatConfig {
    /// A seat in `pool` with no skills, the pool's wrap-up and weight 1.
    pub const fn new(id: SeatId, pool: Pool) -> Self {
        Self {
            id,
            pool,
            skills: Vec::new(),
            wrap_up: None,
            weight: 1,
        }
    }
}

/// When the surge pool opens and closes by itself.
///
/// The platform is *behind* when any set threshold is passed. Surge opens once the platform
/// has been behind for `open_after`, and closes once it has been calm for `close_after`.
/// Evaluation happens every `eval_every` while anything is waiting or surge is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurgeConfig {
    /// Evaluate automatically at all.
    pub automatic: bool,
    /// Behind when the longest waiting caller has waited at least this long.
    pub longest_wait: Option<Duration>,
    /// Behind when at least this many callers wait.
    pub calls_waiting: Option<usize>,
    /// Behind when the answer rate within `answer_within` over `window` drops below this (‰).
    pub answer_rate_below_permille: Option<u16>,
    /// The answer-rate limit, 15 s by GB/T 33358-2016.
    pub answer_within: Duration,
    /// The recent window for the answer rate.
    pub window: Duration,
    /// Calls needed in the window before the answer rate counts.
    pub min_samples: usize,
    /// How long behind before opening.
    pub open_after: Duration,
    /// How long calm before closing.
    pub close_after: Duration,
    /// Evaluation period.
    pub eval_every: Duration,
}

impl Default for SurgeConfig {
    fn default() -> Self {
        Self {
            automatic: true,
            longest_wait: Some(Duration::from_secs(60)),
            calls_waiting: None,
            answer_rate_below_permille: Some(800),
            answer_within: Duration::from_secs(15),
            window: Duration::from_secs(300),
            min_samples: 20,
            open_after: Duration::from_secs(40),
            close_after: Duration::from_secs(300),
            eval_every: Duration::from_secs(1),
        }
    }
}

/// The whole distributor configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    /// Topic names; [`TopicId`] is the index.
    pub topics: Vec<String>,
    /// Queues; [`crate::QueueId`] is the index.
    pub queues: Vec<QueueConfig>,
    /// Per-pool settings; pools not listed have no wrap-up.
    pub pools: Vec<PoolConfig>,
    /// Seats.
    pub seats: Vec<SeatConfig>,
    /// Surge thresholds.
    pub surge: SurgeConfig,
    /// Consecutive failed offers that put a seat NotReady; 0 disables.
    pub max_consecutive_misses: u8,
    /// Abandons before this wait are short (excluded from the 人工接通率 denominator).
    pub short_abandon: Duration,
    /// Seed of the weighted-random strategy's generator.
    pub seed: u64,
    /// Answers at or before this wait count as "answered within" (15-second answer rate).
    pub answer_within: Duration,
    /// An instant that was local midnight (e.g. `now - wall_time_since_local_midnight`),
    /// anchoring minute buckets and the calendar day of the figures. `None`: the first event
    /// seen is taken as midnight. See `docs/metrics.md`.
    pub day_start: Option<std::time::Instant>,
}

impl Default for AcdConfig {
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            queues: Vec::new(),
            pools: Vec::new(),
            seats: Vec::new(),
            surge: SurgeConfig::default(),
            max_consecutive_misses: 3,
            short_abandon: Duration::from_secs(5),
            seed: 0x1234_5678,
            answer_within: Duration::from_secs(15),
            day_start: None,
        }
    }
}

impl AcdConfig {
    /// Interns a topic name, returning its id.
    pub fn topic(&mut self, name: &str) -> TopicId {
        let idx = self
            .topics
            .iter()
            .position(|t| t == name)
            .unwrap_or_else(|| {
                self.topics.push(name.to_owned());
                self.topics.len() - 1
            });
        TopicId(u16::try_from(idx).unwrap_or(u16::MAX))
    }

    /// The id of a known topic name.
    pub fn topic_id(&self, name: &str) -> Option<TopicId> {
        self.topics
            .iter()
            .position(|t| t == name)
            .and_then(|i| u16::try_from(i).ok())
            .map(TopicId)
    }
}
