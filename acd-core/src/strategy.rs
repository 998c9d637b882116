//! Choosing a seat for a call: tier first, then skill level, then the queue's strategy.

use std::time::Instant;

use crate::config::{Strategy, Tier};
use crate::model::{Pool, TopicId};
use crate::seats::{IdleIndex, Seat};
use crate::weights::Weights;

/// A small deterministic generator (SplitMix64) for the weighted-random strategy.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Whether `seat` qualifies for a call on `topic` under `tier`.
pub(crate) fn qualifies(tier: &Tier, seat: &Seat, topic: TopicId, surge_open: bool) -> bool {
    if !tier.pools.contains(&seat.pool) || (seat.pool == Pool::Surge && !surge_open) {
        return false;
    }
    match tier.min_level {
        None => true,
        Some(min) => seat.level(topic).is_some_and(|l| l >= min),
    }
}

/// Strategy key; the smallest wins.
fn key(
    strategy: Strategy,
    seat: &Seat,
    idx: u32,
    n: u32,
    rr_last: Option<u32>,
) -> (u128, Option<Instant>) {
    let primary = match strategy {
        Strategy::LongestIdle | Strategy::WeightedRandom => 0,
        Strategy::FewestCalls => u128::from(seat.calls_answered),
        Strategy::LeastTalkTime => seat.talk_total.as_nanos(),
        Strategy::RoundRobin => {
            let start = rr_last.map_or(0, |l| (l + 1) % n);
            u128::from((idx + n - start) % n)
        }
    };
    (primary, seat.idle_since)
}

/// What a seat search needs to know about the call and queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Want<'a> {
    pub(crate) tier: &'a Tier,
    pub(crate) topic: TopicId,
    pub(crate) strategy: Strategy,
    pub(crate) rr_last: Option<u32>,
    pub(crate) surge_open: bool,
}

/// Reads the choice straight off the idle index when no skill level is required: the head of
/// each eligible pool under the strategy's key, or a weighted draw from the pools' weight
/// trees. `None` when the strategy's ordering is not indexed and the seats must be scanned.
fn indexed(want: Want<'_>, idle: &IdleIndex, n: u32, rng: &mut Rng) -> Option<Option<u32>> {
    if want.strategy == Strategy::WeightedRandom {
        return idle.weights().map(|w| draw(want, w, rng));
    }
    let start = want.rr_last.map_or(0, |l| (l + 1) % n);
    let mut best: Option<(u128, Option<Instant>, u32)> = None;
    for &p in &want.tier.pools {
        if p == Pool::Surge && !want.surge_open {
            continue;
        }
        let head = match want.strategy {
            Strategy::LongestIdle => idle.first(p).map(|(t, i)| (0, Some(t), i)),
            Strategy::FewestCalls => idle
                .first_by_calls(p)?
                .map(|(c, t, i)| (u128::from(c), Some(t), i)),
            Strategy::LeastTalkTime => idle
                .first_by_talk(p)?
                .map(|(d, t, i)| (d.as_nanos(), Some(t), i)),
            Strategy::RoundRobin => idle
                .next_from(p, start, n)?
                .map(|(d, i)| (u128::from(d), None, i)),
            // Drawn from the weight trees above.
            Strategy::WeightedRandom => None,
        };
        if let Some(h) = head {
            if best.is_none_or(|b| h < b) {
                best = Some(h);
            }
        }
    }
    Some(best.map(|b| b.2))
}

/// One weighted draw over the idle seats of the tier's eligible pools.
fn draw(want: Want<'_>, weights: &[Weights; Pool::COUNT], rng: &mut Rng) -> Option<u32> {
    let eligible = || {
        want.tier
            .pools
            .iter()
            .filter(|&&p| p != Pool::Surge || want.surge_open)
            .map(|&p| &weights[p.index()])
    };
    let total: u64 = eligible().map(Weights::total).sum();
    if total == 0 {
        return None;
    }
    let mut r = rng.next_u64() % total;
    for w in eligible() {
        if r < w.total() {
            return w.find(r);
        }
        r -= w.total();
    }
    None
}

/// Picks the idle seat for a call within one tier, or `None` if no idle seat qualifies.
///
/// Higher skill level on the call's topic wins first (only when the tier asks for a level),
/// then the strategy. Cost is bounded by the idle seats of the tier's pools.
pub(crate) fn pick_seat(
    want: Want<'_>,
    seats: &[Seat],
    idle: &IdleIndex,
    rng: &mut Rng,
) -> Option<u32> {
    pick(want, seats, idle, rng, true)
}

fn pick(
    want: Want<'_>,
    seats: &[Seat],
    idle: &IdleIndex,
    rng: &mut Rng,
    use_index: bool,
) -> Option<u32> {
    let n = u32::try_from(seats.len()).unwrap_or(u32::MAX).max(1);
    if use_index && want.tier.min_level.is_none() {
        if let Some(found) = indexed(want, idle, n, rng) {
            return found;
        }
    }
    let level_of = |s: &Seat| {
        if want.tier.min_level.is_some() {
            s.level(want.topic).unwrap_or(0)
        } else {
            0
        }
    };
    // The tier's pools are known to match; only surge state and skill level remain to check.
    let candidates = || {
        want.tier
            .pools
            .iter()
            .filter(|&&p| p != Pool::Surge || want.surge_open)
            .flat_map(|&p| idle.of(p))
            .filter(|&i| {
                want.tier.min_level.is_none_or(|min| {
                    seats[i as usize]
                        .level(want.topic)
                        .is_some_and(|l| l >= min)
                })
            })
    };
    if want.strategy == Strategy::WeightedRandom {
        let mut best_level = None;
        let mut total = 0u64;
        for i in candidates() {
            let s = &seats[i as usize];
            let l = level_of(s);
            match best_level {
                Some(b) if b > l => {}
                Some(b) if b == l => total += u64::from(s.weight),
                _ => {
                    best_level = Some(l);
                    total = u64::from(s.weight);
                }
            }
        }
        let best_level = best_level?;
        let mut r = rng.next_u64() % total;
        for i in candidates() {
            let s = &seats[i as usize];
            if level_of(s) != best_level {
                continue;
            }
            let w = u64::from(s.weight);
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        return None;
    }
    candidates().min_by_key(|&i| {
        let s = &seats[i as usize];
        (
            std::cmp::Reverse(level_of(s)),
            key(want.strategy, s, i, n, want.rr_last),
            i,
        )
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::SeatConfig;
    use crate::model::SeatId;
    use crate::seats::Orderings;

    /// The idle-index fast paths choose exactly what the full scan chooses.
    #[test]
    #[allow(clippy::disallowed_methods)] // a base instant for the fake clock
    fn indexed_choice_equals_scan() {
        let base = Instant::now();
        let mut rng = Rng::new(7);
        for round in 0..300 {
            let n = 1 + (rng.next_u64() % 40) as u32;
            let mut seats: Vec<Seat> = (0..n)
                .map(|i| {
                    let pool = Pool::ALL[(rng.next_u64() % 3) as usize];
                    Seat::new(&SeatConfig::new(SeatId(i), pool), Duration::ZERO)
                })
                .collect();
            let mut idle = IdleIndex::new(
                Orderings {
                    by_calls: true,
                    by_talk: true,
                    by_seat: true,
                    by_weight: true,
                },
                64,
            );
            for i in 0..n {
                if rng.next_u64() % 3 == 1 {
                    continue;
                }
                let s = &mut seats[i as usize];
                s.calls_answered = rng.next_u64() % 4;
                s.talk_total = Duration::from_secs(rng.next_u64() % 5);
                s.idle_since = Some(base + Duration::from_secs(rng.next_u64() % 6));
                idle.insert(&mut seats, i);
            }
            let tier = Tier {
                pools: vec![Pool::Intake, Pool::Surge],
                min_level: None,
                after: Duration::ZERO,
            };
            for strategy in [
                Strategy::LongestIdle,
                Strategy::FewestCalls,
                Strategy::LeastTalkTime,
                Strategy::RoundRobin,
            ] {
                let want = Want {
                    tier: &tier,
                    topic: TopicId(0),
                    strategy,
                    rr_last: (round % 2 == 0).then(|| (rng.next_u64() % u64::from(n)) as u32),
                    surge_open: round % 3 == 0,
                };
                let mut r = Rng::new(1);
                assert_eq!(
                    pick(want, &seats, &idle, &mut r, true),
                    pick(want, &seats, &idle, &mut r, false),
                    "{strategy:?} round {round}"
                );
            }
        }
    }
}
