//! Semantic checks: one key against another. Every problem found is reported (not only the
//! first), each with the line and dotted key it is about, then the distributor itself is
//! built once as a last check.

use std::collections::btree_map::Entry as MapEntry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use acd_core::{
    Acd, AcdConfig, Exit, Line, MaxWait, Pool, PoolConfig, QueueConfig, SeatConfig, SeatId, Skill,
    Strategy, SurgeConfig, Tier,
};
use ivr_flows::{DialPlan, Entry, FeatureCodes, Flow, Step};

use super::raw::{RawExit, RawLine, RawPlan, RawStrategy, RawTls, RawWaiting};
use super::spans::{join, Spans};
use super::values::{check_http_url, parse_sip_uri, pool_name, PoolName, POOL_NAMES};
use super::{
    ConfigError, LinePlan, MediaPlan, Plan, Problem, ServiceTargets, SurveyPlan, TargetKind,
    TargetTls, TransferPlan, TransferTarget, WaitingPlan,
};
use crate::engine::audio::SURVEY_KEY;
use crate::prompts::{PromptBook, PromptError, MAX_NUMBER};

/// Problems found so far, each placed by its key path.
struct Problems<'a> {
    spans: &'a Spans,
    list: Vec<Problem>,
}

impl Problems<'_> {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.list.push(Problem {
            line: self.spans.line_of(path),
            key: self.spans.display(path),
            message: message.into(),
        });
    }

    /// `" (line 12)"` for a path in the file, else nothing.
    fn at(&self, path: &str) -> String {
        self.spans
            .line_of(path)
            .map_or_else(String::new, |l| format!(" (line {l})"))
    }
}

/// Checks a parsed file and builds the plan; a relative `media.prompts` is taken from `dir`.
pub(super) fn build(
    source: &str,
    raw: RawPlan,
    spans: &Spans,
    dir: &Path,
) -> Result<Plan, ConfigError> {
    let mut p = Problems {
        spans,
        list: Vec::new(),
    };
    let mut cfg = AcdConfig::default();
    let service = service(&mut p, &raw, &mut cfg);
    topics(&mut p, &raw, &mut cfg);
    let seat_pool = pools(&mut p, &raw, &mut cfg);
    seats(&mut p, &raw, &mut cfg, &seat_pool);
    let mut pending_exits = Vec::new();
    queues(&mut p, &raw, &mut cfg, &seat_pool, &mut pending_exits);
    let (lines, waiting_from) = lines(&mut p, &raw, &mut cfg, &seat_pool);
    let media = media(&mut p, &raw);
    let survey = survey(&mut p, &raw);
    let line_path: HashMap<&str, String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.number.as_str(), format!("lines[{i}]")))
        .collect();
    let features = features(&mut p, &raw, &line_path, &seat_pool);
    let transfers = transfers(&mut p, &raw, &features);
    let targets = targets(
        &mut p, &raw, &cfg, &line_path, &seat_pool, &features, &transfers,
    );
    for (path, queue, to) in pending_exits {
        let known = line_path.contains_key(to.as_str()) || targets.iter().any(|t| t.number == to);
        match to.parse::<u32>() {
            Ok(n) if known && n.to_string() == to => {
                if let Some(mw) = &mut cfg.queues[queue].max_wait {
                    mw.exit = Exit::Transfer(Line(n));
                }
            }
            _ if !known => p.add(
                &path,
                format!("{to:?} is neither a line nor a transfer target's number"),
            ),
            _ => p.add(
                &path,
                format!("{to:?} cannot be a queue exit: digits without a leading 0 only"),
            ),
        }
    }
    let protection = protection(&mut p, &raw, &targets);
    let tls = tls(&mut p, raw.tls.as_ref(), dir, &targets);
    let prompts = prompts(&mut p, &raw, dir, &lines, &waiting_from, survey.as_ref());
    if !p.list.is_empty() {
        return Err(p.into_error(source));
    }
    let Some(prompts) = prompts else {
        p.add("media.prompts", "no prompts could be loaded");
        return Err(p.into_error(source));
    };
    let dial_plan = match dial_plan(&lines, features) {
        Ok(plan) => plan,
        Err(e) => {
            p.add("lines", format!("the dial plan refuses these lines: {e}"));
            return Err(p.into_error(source));
        }
    };
    if let Err(e) = Acd::new(cfg.clone()) {
        p.add("queues", format!("the distributor refuses this plan: {e}"));
        return Err(p.into_error(source));
    }
    Ok(Plan {
        source: source.to_owned(),
        acd: cfg,
        dial_plan,
        lines,
        targets,
        transfers,
        service,
        reserved_places: raw.reserved_places,
        media,
        survey,
        prompts,
        protection,
        tls,
    })
}

impl Problems<'_> {
    fn into_error(mut self, source: &str) -> ConfigError {
        self.list.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        ConfigError {
            source: source.to_owned(),
            problems: self.list,
        }
    }
}

fn rate_ok(rate: f64) -> bool {
    (0.0..=1.0).contains(&rate)
}

/// `[service]`, `[distributor]` and `[surge]`.
fn service(p: &mut Problems<'_>, raw: &RawPlan, cfg: &mut AcdConfig) -> ServiceTargets {
    let s = &raw.service;
    if !rate_ok(s.answer_rate) {
        p.add(
            "service.answer_rate",
            format!(
                "{} is not a rate; write a fraction from 0 to 1, e.g. 0.98",
                s.answer_rate
            ),
        );
    }
    if s.answer_within.0.is_zero() {
        p.add(
            "service.answer_within",
            "must be more than 0s, e.g. \"15s\"",
        );
    }
    cfg.answer_within = s.answer_within.0;
    cfg.short_abandon = s.short_abandon.0;
    cfg.max_consecutive_misses = raw.distributor.max_consecutive_misses;
    cfg.seed = raw.distributor.seed;
    let g = &raw.surge;
    if !rate_ok(g.answer_rate_below) {
        p.add(
            "surge.answer_rate_below",
            format!(
                "{} is not a rate; write a fraction from 0 to 1, e.g. 0.80 (0 is off)",
                g.answer_rate_below
            ),
        );
    }
    if g.eval_every.0.is_zero() {
        p.add("surge.eval_every", "must be more than 0s, e.g. \"1s\"");
    }
    if g.answer_rate_below > 0.0 && g.window.0.is_zero() {
        p.add(
            "surge.window",
            "must be more than 0s while answer_rate_below is set",
        );
    }
    let permille = (g.answer_rate_below.clamp(0.0, 1.0) * 1000.0).round() as u16;
    cfg.surge = SurgeConfig {
        automatic: g.automatic,
        longest_wait: Some(g.longest_wait.0).filter(|d| !d.is_zero()),
        calls_waiting: Some(g.calls_waiting).filter(|&n| n > 0),
        answer_rate_below_permille: Some(permille).filter(|&n| n > 0),
        answer_within: s.answer_within.0,
        window: g.window.0,
        min_samples: g.min_samples,
        open_after: g.open_after.0,
        close_after: g.close_after.0,
        eval_every: g.eval_every.0,
    };
    ServiceTargets {
        answer_rate: s.answer_rate,
        answer_within: s.answer_within.0,
        short_abandon: s.short_abandon.0,
    }
}

/// Names for a list of known names in a message, shortened when long.
fn list(names: &[String]) -> String {
    const MAX: usize = 20;
    let mut out = names
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        out.push_str(", …");
    }
    out
}

fn topics(p: &mut Problems<'_>, raw: &RawPlan, cfg: &mut AcdConfig) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, topic) in raw.topics.iter().enumerate() {
        let path = format!("topics[{i}]");
        if topic.trim().is_empty() {
            p.add(&path, "a topic needs a name");
        } else if let Some(&j) = first.get(topic.as_str()) {
            let at = p.at(&format!("topics[{j}]"));
            p.add(&path, format!("topic {topic:?} is listed twice{at}"));
        } else {
            first.insert(topic, i);
            cfg.topic(topic);
        }
    }
    if cfg.topics.len() > usize::from(u16::MAX) {
        p.add("topics", "at most 65535 topics");
    }
}

fn unknown_topic(cfg: &AcdConfig, topic: &str) -> String {
    format!("unknown topic {topic:?}; topics are {}", list(&cfg.topics))
}

/// `"1001-1003, 1007"` for a set of ids.
fn ranges(ids: &[u32]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// "seat 1001 is" / "seats 1001-1003 are".
fn seats_are(ids: &[u32]) -> String {
    if ids.len() == 1 {
        format!("seat {} is", ids[0])
    } else {
        format!("seats {} are", ranges(ids))
    }
}

/// Each seat id and its pool.
type SeatPools = BTreeMap<u32, Pool>;

/// `[pools.*]`: wrap-up times and seat membership.
fn pools(p: &mut Problems<'_>, raw: &RawPlan, cfg: &mut AcdConfig) -> SeatPools {
    let mut seat_pool = SeatPools::new();
    for (PoolName(pool), rp) in &raw.pools.0 {
        let path = format!("pools.{}.seats", pool_name(*pool));
        cfg.pools.push(PoolConfig {
            pool: *pool,
            wrap_up: rp.wrap_up.0,
        });
        let mut twice = Vec::new();
        let mut elsewhere: BTreeMap<Pool, Vec<u32>> = BTreeMap::new();
        for &id in &rp.seats.0 {
            match seat_pool.entry(id) {
                MapEntry::Vacant(v) => {
                    v.insert(*pool);
                }
                MapEntry::Occupied(o) if o.get() == pool => twice.push(id),
                MapEntry::Occupied(o) => elsewhere.entry(*o.get()).or_default().push(id),
            }
        }
        if !twice.is_empty() {
            p.add(&path, format!("{} listed twice", seats_are(&twice)));
        }
        for (other, ids) in elsewhere {
            let other = pool_name(other);
            let at = p.at(&format!("pools.{other}.seats"));
            p.add(
                &path,
                format!(
                    "{} already in pool {other}{at}; a seat belongs to one pool",
                    seats_are(&ids)
                ),
            );
        }
    }
    seat_pool
}

/// `[[seats]]`: skills, weights and wrap-up of particular seats; then every seat, by id.
fn seats(p: &mut Problems<'_>, raw: &RawPlan, cfg: &mut AcdConfig, seat_pool: &SeatPools) {
    let mut group_of: HashMap<u32, usize> = HashMap::new();
    let mut skills_of: Vec<Vec<Skill>> = Vec::with_capacity(raw.seats.len());
    for (gi, g) in raw.seats.iter().enumerate() {
        let path = format!("seats[{gi}]");
        let ids_path = format!("{path}.ids");
        let mut skills = Vec::new();
        for (topic, level) in &g.skills.0 {
            let skill_path = join(&format!("{path}.skills"), topic);
            let Some(id) = cfg.topic_id(topic) else {
                p.add(&skill_path, unknown_topic(cfg, topic));
                continue;
            };
            match u8::try_from(*level) {
                Ok(level @ 1..=10) => skills.push(Skill { topic: id, level }),
                _ => p.add(
                    &skill_path,
                    format!("skill level {level} is outside 1..=10"),
                ),
            }
        }
        skills_of.push(skills);
        if g.ids.0.is_empty() {
            p.add(&ids_path, "lists no seats");
        }
        let mut no_pool = Vec::new();
        let mut twice: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for &id in &g.ids.0 {
            if !seat_pool.contains_key(&id) {
                no_pool.push(id);
            } else if let Some(&other) = group_of.get(&id) {
                twice.entry(other).or_default().push(id);
            } else {
                group_of.insert(id, gi);
            }
        }
        if !no_pool.is_empty() {
            p.add(
                &ids_path,
                format!(
                    "{} in no pool; list seats under [pools.<pool>] seats first",
                    seats_are(&no_pool)
                ),
            );
        }
        for (other, ids) in twice {
            let name = &raw.seats[other].name;
            let other = format!("seats[{other}]");
            let at = p.at(&other);
            let named = if name.is_empty() {
                String::new()
            } else {
                format!(" {name:?}")
            };
            p.add(
                &ids_path,
                format!(
                    "{} already set in {other}{named}{at}; give each seat its settings once",
                    seats_are(&ids)
                ),
            );
        }
    }
    // Seats in id order: the configuration order round_robin follows.
    cfg.seats = seat_pool
        .iter()
        .map(|(&id, &pool)| {
            let mut seat = SeatConfig::new(SeatId(id), pool);
            if let Some(&gi) = group_of.get(&id) {
                let g = &raw.seats[gi];
                seat.skills.clone_from(&skills_of[gi]);
                seat.wrap_up = g.wrap_up.map(|d| d.0);
                seat.weight = g.weight.unwrap_or(1);
            }
            seat
        })
        .collect();
}

/// A queue exit to resolve once lines and targets are known: (key path, queue index, number).
type PendingExit = (String, usize, String);

/// `[queues.*]`.
fn queues(
    p: &mut Problems<'_>,
    raw: &RawPlan,
    cfg: &mut AcdConfig,
    seat_pool: &SeatPools,
    pending: &mut Vec<PendingExit>,
) {
    let mut seated = [false; Pool::COUNT];
    for &pool in seat_pool.values() {
        seated[pool.index()] = true;
    }
    if raw.queues.0.is_empty() {
        p.add("queues", "no queues; define at least one [queues.<name>]");
    }
    for (qi, (name, rq)) in raw.queues.0.iter().enumerate() {
        let path = join("queues", name);
        if name.trim().is_empty() {
            p.add(&path, "a queue needs a name");
        }
        if rq.tiers.is_empty() {
            p.add(
                &format!("{path}.tiers"),
                "a queue needs at least one tier ([[queues.<name>.tiers]])",
            );
        }
        let mut tiers = Vec::with_capacity(rq.tiers.len());
        for (ti, t) in rq.tiers.iter().enumerate() {
            let tier_path = format!("{path}.tiers[{ti}]");
            let pools_path = format!("{tier_path}.pools");
            let mut pools: Vec<Pool> = Vec::with_capacity(t.pools.len());
            for &PoolName(pool) in &t.pools {
                if pools.contains(&pool) {
                    p.add(
                        &pools_path,
                        format!("pool {} is listed twice", pool_name(pool)),
                    );
                } else if !seated[pool.index()] {
                    let name = pool_name(pool);
                    p.add(
                        &pools_path,
                        format!("pool {name} has no seats; give it seats under [pools.{name}]"),
                    );
                }
                pools.push(pool);
            }
            if t.pools.is_empty() {
                p.add(
                    &pools_path,
                    format!(
                        "a tier needs at least one pool; pools are {}",
                        POOL_NAMES.join(", ")
                    ),
                );
            }
            let min_level = match t.min_level {
                None => None,
                Some(l) => match u8::try_from(l) {
                    Ok(l @ 1..=10) => Some(l),
                    _ => {
                        p.add(
                            &format!("{tier_path}.min_level"),
                            format!("skill level {l} is outside 1..=10"),
                        );
                        None
                    }
                },
            };
            tiers.push(Tier {
                pools,
                min_level,
                after: t.after.0,
            });
        }
        if rq.ring_timeout.is_some_and(|d| d.0.is_zero()) {
            p.add(
                &format!("{path}.ring_timeout"),
                "must be more than 0s, or leave it out",
            );
        }
        let max_wait = rq.max_wait.as_ref().map(|mw| {
            let mw_path = format!("{path}.max_wait");
            if mw.after.0.is_zero() {
                p.add(
                    &format!("{mw_path}.after"),
                    "must be more than 0s, or leave max_wait out",
                );
            }
            let exit = match (mw.exit, &mw.to) {
                (RawExit::Transfer, Some(to)) => {
                    pending.push((format!("{mw_path}.to"), qi, to.0.clone()));
                    Exit::Disconnect // resolved once lines and targets are known
                }
                (RawExit::Transfer, None) => {
                    p.add(
                        &format!("{mw_path}.exit"),
                        "exit \"transfer\" needs `to`, the number to transfer to",
                    );
                    Exit::Disconnect
                }
                (_, Some(_)) => {
                    p.add(
                        &format!("{mw_path}.to"),
                        "only exit \"transfer\" takes a `to` number",
                    );
                    Exit::Disconnect
                }
                (RawExit::Voicemail, None) => Exit::Voicemail,
                (RawExit::Callback, None) => Exit::Callback,
                (RawExit::Disconnect, None) => Exit::Disconnect,
            };
            MaxWait {
                after: mw.after.0,
                exit,
            }
        });
        cfg.queues.push(QueueConfig {
            name: name.clone(),
            lines: Vec::new(),
            strategy: match rq.strategy {
                RawStrategy::LongestIdle => Strategy::LongestIdle,
                RawStrategy::FewestCalls => Strategy::FewestCalls,
                RawStrategy::LeastTalkTime => Strategy::LeastTalkTime,
                RawStrategy::RoundRobin => Strategy::RoundRobin,
                RawStrategy::WeightedRandom => Strategy::WeightedRandom,
            },
            tiers,
            ring_timeout: rq.ring_timeout.map(|d| d.0),
            max_wait,
        });
    }
    if cfg.queues.len() > usize::from(u16::MAX) {
        p.add("queues", "at most 65535 queues");
    }
}

/// A line number as the distributor knows it (`acd_core::Line(u32)`).
fn line_number(number: &str) -> Result<u32, String> {
    match number.parse::<u32>() {
        Ok(n) if n.to_string() == number => Ok(n),
        _ => Err(format!(
            "line number {number:?} must be digits without a leading 0, at most 4294967295"
        )),
    }
}

/// `[[lines]]`; also fills each queue's lines. Returns with each line where its `waiting`
/// values came from.
fn lines(
    p: &mut Problems<'_>,
    raw: &RawPlan,
    cfg: &mut AcdConfig,
    seat_pool: &SeatPools,
) -> (Vec<LinePlan>, Vec<WaitingFrom>) {
    let queue_names: Vec<String> = cfg.queues.iter().map(|q| q.name.clone()).collect();
    let queue_index: HashMap<&str, usize> = queue_names
        .iter()
        .enumerate()
        .map(|(i, q)| (q.as_str(), i))
        .collect();
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(raw.lines.len());
    let mut from = Vec::with_capacity(raw.lines.len());
    if raw.lines.is_empty() {
        p.add("lines", "no lines; define at least one [[lines]]");
    }
    for (li, l) in raw.lines.iter().enumerate() {
        let path = format!("lines[{li}]");
        let number = l.number.0.as_str();
        let number_path = format!("{path}.number");
        let parsed = match line_number(number) {
            Ok(n) => Some(n),
            Err(e) => {
                p.add(&number_path, e);
                None
            }
        };
        if let Some(&j) = first.get(number) {
            let at = p.at(&format!("lines[{j}]"));
            p.add(
                &number_path,
                format!("line {number} is defined twice; also lines[{j}]{at}"),
            );
        } else {
            first.insert(number, li);
        }
        if let Some(pool) = parsed.and_then(|n| seat_pool.get(&n)) {
            p.add(
                &number_path,
                format!(
                    "line {number} is also a seat id (pool {}); dialing it must reach one or \
                     the other",
                    pool_name(*pool)
                ),
            );
        }
        if l.name.trim().is_empty() {
            p.add(&format!("{path}.name"), "a line needs a name");
        }
        let queue = queue_index.get(l.queue.as_str()).copied();
        if queue.is_none() {
            p.add(
                &format!("{path}.queue"),
                format!(
                    "unknown queue {:?}; queues are {}",
                    l.queue,
                    list(&queue_names)
                ),
            );
        }
        if cfg.topic_id(&l.topic).is_none() {
            p.add(&format!("{path}.topic"), unknown_topic(cfg, &l.topic));
        }
        if l.notice.as_deref().is_some_and(|n| n.trim().is_empty()) {
            p.add(
                &format!("{path}.notice"),
                "a notice needs a prompt name, or leave it out",
            );
        }
        if let (Some(q), Some(n)) = (queue, parsed) {
            cfg.queues[q].lines.push(Line(n));
        }
        let (waiting, waiting_from) = waiting(raw, li, l);
        from.push(waiting_from);
        out.push(LinePlan {
            number: number.to_owned(),
            name: l.name.clone(),
            topic: l.topic.clone(),
            queue: l.queue.clone(),
            notice: l.notice.clone(),
            priority: l.priority,
            waiting,
        });
    }
    for ((name, _), q) in raw.queues.0.iter().zip(&cfg.queues) {
        if q.lines.is_empty() && !out.iter().any(|l| &l.queue == name) {
            p.add(
                &join("queues", name),
                "no line feeds this queue; name it in a [[lines]] queue",
            );
        }
    }
    (out, from)
}

/// The key path each resolved `waiting` value of a line came from (`lines[3].waiting.music`,
/// `queues.12345.waiting.music` or `waiting.music`, also for a default).
#[derive(Debug, Clone)]
struct WaitingFrom {
    welcome: String,
    music: String,
    position: String,
    estimated_wait: String,
}

/// A line's `waiting`: its own keys over its queue's over `[waiting]` over the defaults.
fn waiting(raw: &RawPlan, li: usize, l: &RawLine) -> (WaitingPlan, WaitingFrom) {
    let mut layers: Vec<(String, &RawWaiting)> = vec![(format!("lines[{li}].waiting"), &l.waiting)];
    if let Some((name, q)) = raw.queues.0.iter().find(|(name, _)| *name == l.queue) {
        layers.push((format!("{}.waiting", join("queues", name)), &q.waiting));
    }
    layers.push(("waiting".into(), &raw.waiting));
    fn pick<T>(
        layers: &[(String, &RawWaiting)],
        field: &str,
        get: impl Fn(&RawWaiting) -> Option<T>,
        default: T,
    ) -> (T, String) {
        layers
            .iter()
            .find_map(|(path, w)| get(w).map(|v| (v, format!("{path}.{field}"))))
            .unwrap_or_else(|| (default, format!("waiting.{field}")))
    }
    let named = |s: String| Some(s).filter(|s| !s.is_empty());
    let (welcome, welcome_from) = pick(&layers, "welcome", |w| w.welcome.clone(), "welcome".into());
    let (music, music_from) = pick(&layers, "music", |w| w.music.clone(), "music".into());
    let (every, _) = pick(
        &layers,
        "announce_every",
        |w| w.announce_every.map(|d| d.0),
        Duration::from_secs(60),
    );
    let (position, position_from) = pick(&layers, "position", |w| w.position, true);
    let (estimated_wait, estimated_from) =
        pick(&layers, "estimated_wait", |w| w.estimated_wait, true);
    (
        WaitingPlan {
            welcome: named(welcome),
            music: named(music),
            announce_every: Some(every).filter(|d| !d.is_zero()),
            position,
            estimated_wait,
        },
        WaitingFrom {
            welcome: welcome_from,
            music: music_from,
            position: position_from,
            estimated_wait: estimated_from,
        },
    )
}

/// `[media]`.
fn media(p: &mut Problems<'_>, raw: &RawPlan) -> MediaPlan {
    let m = &raw.media;
    let address = m
        .address
        .as_deref()
        .and_then(|a| match a.trim().parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => {
                p.add(
                    "media.address",
                    format!(
                    "{a:?} cannot be written in SDP; name this host's address, or leave it out \
                     for the SIP listen address's"
                ),
                );
                None
            }
            Ok(ip) => Some(ip),
            Err(_) => {
                p.add(
                    "media.address",
                    format!(
                        "{a:?} is not an IP address; write e.g. \"10.0.0.5\", or leave it out for \
                     the SIP listen address's"
                    ),
                );
                None
            }
        });
    if m.prompts.as_deref().is_some_and(|d| d.trim().is_empty()) {
        p.add(
            "media.prompts",
            "a prompts directory needs a path, or leave it out for the embedded prompts",
        );
    }
    MediaPlan {
        address,
        ports: m.ports.0.clone(),
        no_rtp_timeout: Some(m.no_rtp_timeout.0).filter(|d| !d.is_zero()),
    }
}

/// `[protection]`. Zero turns a limit off. Per-source rates allow bursts of twice the rate
/// (a hundred phones behind one address re-registering at once after an outage).
fn protection(
    p: &mut Problems<'_>,
    raw: &RawPlan,
    targets: &[TransferTarget],
) -> sip_gateway::guard::GuardConfig {
    use sip_gateway::guard::{GuardConfig, Rate};
    let r = &raw.protection;
    let rate = |n: u32| (n > 0).then(|| Rate::per_second(n));
    let mut trusted = Vec::new();
    for (i, a) in r.trusted.iter().enumerate() {
        match a.trim().parse::<IpAddr>() {
            Ok(ip) => trusted.push(ip),
            Err(_) => p.add(
                &format!("protection.trusted[{i}]"),
                format!("{a:?} is not an IP address; write the carrier's SBC address, e.g. \"10.0.0.9\""),
            ),
        }
    }
    trusted.extend(targets.iter().filter_map(|t| t.trunk_addr.map(|a| a.ip())));
    trusted.sort_unstable();
    trusted.dedup();
    if r.retry_after.0.as_secs() == 0 {
        p.add(
            "protection.retry_after",
            "a 503's Retry-After needs at least \"1s\"",
        );
    }
    for (key, d) in [
        ("auth_window", r.auth_window.0),
        ("block_for", r.block_for.0),
    ] {
        if r.auth_failures > 0 && d.is_zero() {
            p.add(
                &format!("protection.{key}"),
                "must be longer than 0 while auth_failures is set (0 turns blocking off)",
            );
        }
    }
    GuardConfig {
        calls_per_second: rate(r.calls_per_second),
        max_calls: (r.max_calls > 0).then_some(r.max_calls as usize),
        max_delay: Some(r.max_delay.0).filter(|d| !d.is_zero()),
        retry_after: u32::try_from(r.retry_after.0.as_secs()).unwrap_or(u32::MAX),
        invite_per_source: rate(r.invite_per_source),
        register_per_source: rate(r.register_per_source),
        options_per_source: rate(r.options_per_source),
        auth_failures: r.auth_failures,
        auth_window: r.auth_window.0,
        block_for: r.block_for.0,
        trusted,
        ..GuardConfig::default()
    }
}

/// `[survey]`; `None` when disabled.
fn survey(p: &mut Problems<'_>, raw: &RawPlan) -> Option<SurveyPlan> {
    let s = &raw.survey;
    if !s.enabled {
        return None;
    }
    for (key, name) in [
        ("prompt", &s.prompt),
        ("thanks", &s.thanks),
        ("no_answer", &s.no_answer),
    ] {
        if name.trim().is_empty() {
            p.add(
                &format!("survey.{key}"),
                "the survey needs a prompt name here, or set enabled = false",
            );
        }
    }
    if s.timeout.0.is_zero() {
        p.add("survey.timeout", "must be more than 0s, e.g. \"10s\"");
    }
    Some(SurveyPlan {
        prompt: s.prompt.clone(),
        thanks: s.thanks.clone(),
        no_answer: s.no_answer.clone(),
        timeout: s.timeout.0,
    })
}

/// The embedded prompts, decoded once per process.
fn embedded_prompts() -> Result<Arc<PromptBook>, PromptError> {
    static BOOK: OnceLock<Arc<PromptBook>> = OnceLock::new();
    if let Some(book) = BOOK.get() {
        return Ok(Arc::clone(book));
    }
    let book = Arc::new(PromptBook::embedded()?);
    Ok(Arc::clone(BOOK.get_or_init(|| book)))
}

/// Where a prompt is missing from, for a message.
fn prompts_place(book: &PromptBook) -> String {
    let names: Vec<String> = book.names().map(str::to_owned).collect();
    let known = if names.is_empty() {
        "it holds no *.wav".to_owned()
    } else {
        format!("{} prompts: {}", names.len(), list(&names))
    };
    if book.source() == crate::prompts::EMBEDDED_SOURCE {
        format!("the embedded prompts ({known}); set media.prompts to a directory of your own WAVs")
    } else {
        format!("prompts directory {} ({known})", book.source())
    }
}

/// Loads the prompts (embedded, or `media.prompts` from `dir`) and checks that every prompt
/// the plan names is there; each missing one is reported at the key naming it.
fn prompts(
    p: &mut Problems<'_>,
    raw: &RawPlan,
    dir: &Path,
    lines: &[LinePlan],
    from: &[WaitingFrom],
    survey: Option<&SurveyPlan>,
) -> Option<Arc<PromptBook>> {
    let book = match raw.media.prompts.as_deref() {
        None => embedded_prompts(),
        Some(d) if d.trim().is_empty() => return None, // reported by media()
        Some(d) => PromptBook::load_dir(&dir.join(d)).map(Arc::new),
    };
    let book = match book {
        Ok(book) => book,
        Err(e) => {
            p.add("media.prompts", e.to_string());
            return None;
        }
    };
    // (key path, prompt name, why it is needed, if not obvious), in the order found.
    let mut uses: Vec<(String, String, &str)> = Vec::new();
    for (i, (l, w)) in lines.iter().zip(from).enumerate() {
        if let Some(n) = &l.notice {
            uses.push((format!("lines[{i}].notice"), n.clone(), ""));
        }
        if let Some(n) = &l.waiting.welcome {
            uses.push((w.welcome.clone(), n.clone(), ""));
        }
        if let Some(n) = &l.waiting.music {
            uses.push((w.music.clone(), n.clone(), ""));
        }
    }
    if let Some(s) = survey {
        uses.push(("survey.prompt".into(), s.prompt.clone(), ""));
        uses.push(("survey.thanks".into(), s.thanks.clone(), ""));
        uses.push(("survey.no_answer".into(), s.no_answer.clone(), ""));
    }
    // The fixed prompts of the periodic notices, at the key that turned the first one on.
    let announcing = |on: fn(&WaitingPlan) -> bool| {
        lines
            .iter()
            .zip(from)
            .find(|(l, _)| l.waiting.announce_every.is_some() && on(&l.waiting))
            .map(|(_, w)| w)
    };
    let position = announcing(|w| w.position);
    let estimated = announcing(|w| w.estimated_wait);
    const POSITION: &str = " (needed to say the position; or set position = false)";
    const ESTIMATED: &str = " (needed to say the estimated wait; or set estimated_wait = false)";
    if let Some(w) = position {
        for n in ["position_before", "position_after"] {
            uses.push((w.position.clone(), n.into(), POSITION));
        }
    }
    if let Some(w) = estimated {
        for n in ["wait_before", "wait_minutes"] {
            uses.push((w.estimated_wait.clone(), n.into(), ESTIMATED));
        }
    }
    let mut seen = BTreeSet::new();
    for (path, name, why) in uses {
        if !book.contains(&name) && seen.insert((path.clone(), name.clone())) {
            p.add(
                &path,
                format!("no prompt {name:?} in {}{why}", prompts_place(&book)),
            );
        }
    }
    // The numbers, together: one problem, not thirty.
    if let Some((path, why)) = position
        .map(|w| (&w.position, POSITION))
        .or_else(|| estimated.map(|w| (&w.estimated_wait, ESTIMATED)))
    {
        let missing: Vec<String> = (1..=MAX_NUMBER)
            .map(|n| format!("n{n}"))
            .filter(|n| !book.contains(n))
            .collect();
        if !missing.is_empty() {
            let names = missing
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            p.add(
                path,
                format!(
                    "no number prompt{} {names} in {}{why}; numbers n1 to n{MAX_NUMBER} are needed",
                    if missing.len() == 1 { "" } else { "s" },
                    prompts_place(&book)
                ),
            );
        }
    }
    Some(book)
}

/// `[features]`.
fn features(
    p: &mut Problems<'_>,
    raw: &RawPlan,
    line_path: &HashMap<&str, String>,
    seat_pool: &SeatPools,
) -> FeatureCodes {
    let f = &raw.features;
    let codes = [
        ("ready", &f.ready),
        ("not_ready", &f.not_ready),
        ("log_out", &f.log_out),
    ];
    for (i, (name, code)) in codes.iter().enumerate() {
        let path = format!("features.{name}");
        if code.is_empty() {
            p.add(&path, "a feature code cannot be empty");
            continue;
        }
        if !code
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        {
            p.add(
                &path,
                format!("feature code {code:?} may hold only digits, * and #"),
            );
        }
        if let Some((other, _)) = codes[..i].iter().find(|(_, c)| c == code) {
            p.add(
                &path,
                format!("feature code {code} is also features.{other}"),
            );
        }
        if let Some(line) = line_path.get(code.as_str()) {
            let at = p.at(line);
            p.add(
                &path,
                format!("feature code {code} is also a line ({line}{at})"),
            );
        }
        if code
            .parse::<u32>()
            .is_ok_and(|n| seat_pool.contains_key(&n))
        {
            p.add(&path, format!("feature code {code} is also a seat id"));
        }
    }
    FeatureCodes {
        ready: f.ready.clone(),
        not_ready: f.not_ready.clone(),
        log_out: f.log_out.clone(),
    }
}

/// The seat's in-call keys other than the transfer keys, by name for messages.
const IN_CALL_KEYS: [(&str, &str); 1] = [("the survey key", SURVEY_KEY)];

/// `[transfers]`: the ring timeout and the seat's in-call transfer keys.
fn transfers(p: &mut Problems<'_>, raw: &RawPlan, features: &FeatureCodes) -> TransferPlan {
    let t = &raw.transfers;
    if t.ring_timeout.0.is_zero() {
        p.add(
            "transfers.ring_timeout",
            "must be more than 0s, e.g. \"30s\"",
        );
    }
    let codes = [
        ("start", &t.start),
        ("complete", &t.complete),
        ("cancel", &t.cancel),
    ];
    let feature_codes = [
        ("ready", &features.ready),
        ("not_ready", &features.not_ready),
        ("log_out", &features.log_out),
    ];
    for (i, (name, code)) in codes.iter().enumerate() {
        let path = format!("transfers.{name}");
        if code.is_empty() {
            p.add(&path, "a transfer key cannot be empty; write e.g. \"*2\"");
            continue;
        }
        if !code.starts_with('*') {
            p.add(
                &path,
                format!("transfer key {code:?} must start with *, e.g. \"*2\""),
            );
        } else if !code
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        {
            p.add(
                &path,
                format!("transfer key {code:?} may hold only digits, * and #"),
            );
        }
        if let Some((other, _)) = codes[..i].iter().find(|(_, c)| c == code) {
            let at = p.at(&format!("transfers.{other}"));
            p.add(
                &path,
                format!("transfer key {code} is also transfers.{other}{at}"),
            );
        } else if let Some((other, c)) = codes[..i]
            .iter()
            .find(|(_, c)| code.starts_with(c.as_str()) || c.starts_with(code.as_str()))
        {
            let at = p.at(&format!("transfers.{other}"));
            p.add(
                &path,
                format!(
                    "transfer key {code} and transfers.{other} ({c}{at}) begin alike; keyed in a \
                     call, one could not be told from the other"
                ),
            );
        }
        if let Some((feature, _)) = feature_codes.iter().find(|(_, c)| c == code) {
            let at = p.at(&format!("features.{feature}"));
            p.add(
                &path,
                format!("transfer key {code} is also features.{feature}{at}"),
            );
        }
        for (what, key) in IN_CALL_KEYS {
            if code.starts_with(key) || key.starts_with(code.as_str()) {
                p.add(
                    &path,
                    format!(
                        "transfer key {code} and {what} {key} begin alike; keyed in a call, one \
                         could not be told from the other"
                    ),
                );
            }
        }
    }
    TransferPlan {
        ring_timeout: t.ring_timeout.0,
        start: t.start.clone(),
        complete: t.complete.clone(),
        cancel: t.cancel.clone(),
    }
}

/// `[targets.*]`.
fn targets(
    p: &mut Problems<'_>,
    raw: &RawPlan,
    cfg: &AcdConfig,
    line_path: &HashMap<&str, String>,
    seat_pool: &SeatPools,
    features: &FeatureCodes,
    transfers: &TransferPlan,
) -> Vec<TransferTarget> {
    let mut seated = [false; Pool::COUNT];
    for &pool in seat_pool.values() {
        seated[pool.index()] = true;
    }
    let mut number_of: HashMap<&str, &str> = HashMap::new();
    for (key, t) in &raw.targets.0 {
        number_of.entry(t.number.0.as_str()).or_insert(key);
    }
    let mut first: HashMap<&str, &str> = HashMap::new();
    let mut first_code: HashMap<&str, &str> = HashMap::new();
    // Each trunk address: the first target there and its inbound priority.
    let mut first_trunk: HashMap<SocketAddr, (&str, u8)> = HashMap::new();
    let mut out = Vec::with_capacity(raw.targets.0.len());
    for (key, t) in &raw.targets.0 {
        let path = join("targets", key);
        let number = t.number.0.as_str();
        let number_path = format!("{path}.number");
        if t.name.trim().is_empty() {
            p.add(&format!("{path}.name"), "a target needs a name");
        }
        let digits = number.strip_prefix('+').unwrap_or(number);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            p.add(
                &number_path,
                format!("{number:?} is not a number to dial: digits, optionally after +"),
            );
        }
        if let Some(other) = first.get(number) {
            let other = join("targets", other);
            let at = p.at(&other);
            p.add(&number_path, format!("number {number} is also {other}{at}"));
        } else {
            first.insert(number, key);
        }
        if let Some(line) = line_path.get(number) {
            let at = p.at(line);
            p.add(
                &number_path,
                format!(
                    "number {number} is also a line ({line}{at}); a transfer to it would come \
                     back to this platform"
                ),
            );
        }
        if number
            .parse::<u32>()
            .is_ok_and(|n| seat_pool.contains_key(&n))
        {
            p.add(&number_path, format!("number {number} is also a seat id"));
        }
        if let Some((feature, _)) = [
            ("ready", &features.ready),
            ("not_ready", &features.not_ready),
            ("log_out", &features.log_out),
        ]
        .into_iter()
        .find(|(_, c)| c.as_str() == number)
        {
            p.add(
                &number_path,
                format!("number {number} is also features.{feature}"),
            );
        }

        // The short code.
        let code = t.code.0.as_str();
        let code_path = format!("{path}.code");
        if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            p.add(
                &code_path,
                format!(
                    "code {code:?} must be 1 to 3 digits (a seat keys {}, the code, #)",
                    transfers.start
                ),
            );
        } else if let Some(other) = first_code.get(code) {
            let other = join("targets", other);
            let at = p.at(&format!("{other}.code"));
            p.add(&code_path, format!("code {code} is also {other}'s{at}"));
        } else {
            first_code.insert(code, key);
            if let Some(other) = number_of.get(code).filter(|&&o| o != key) {
                let other = join("targets", other);
                let at = p.at(&format!("{other}.number"));
                p.add(
                    &code_path,
                    format!(
                        "code {code} is also the number of {other}{at}; a target is looked up \
                         by number before code"
                    ),
                );
            }
        }

        // Where it is dialled: a trunk's URI, or this platform's own seats.
        let expert = t.kind == TargetKind::ExpertPool;
        let uri_path = format!("{path}.uri");
        let mut trunk_addr = None;
        let mut over_tls = false;
        match (&t.uri, expert) {
            (Some(_), true) => p.add(
                &uri_path,
                "an expert_pool target is this platform's own seats; it takes no uri",
            ),
            (None, false) => p.add(
                &uri_path,
                format!(
                    "a target of kind {} needs uri, the SIP URI its trunk is dialled at, e.g. \
                     \"sip:{number}@10.0.0.5:5060\"",
                    raw_kind(t.kind)
                ),
            ),
            (Some(uri), false) => match parse_sip_uri(uri) {
                Ok(u) => {
                    trunk_addr = u.addr();
                    over_tls = u.tls;
                }
                Err(e) => p.add(&uri_path, e),
            },
            (None, true) => {}
        }
        let pool_path = format!("{path}.pool");
        let pool = match (t.pool, expert) {
            (None, true) => {
                p.add(
                    &pool_path,
                    "an expert_pool target needs pool, the pool whose ready seats take the \
                     transfer, e.g. \"intake\"",
                );
                None
            }
            (Some(_), false) => {
                p.add(
                    &pool_path,
                    format!(
                        "only an expert_pool target takes a pool; one of kind {} is dialled at \
                         its uri",
                        raw_kind(t.kind)
                    ),
                );
                None
            }
            (Some(PoolName(pool)), true) => {
                let name = pool_name(pool);
                if !seated[pool.index()] {
                    p.add(
                        &pool_path,
                        format!("pool {name} has no seats; give it seats under [pools.{name}]"),
                    );
                }
                Some(name.to_owned())
            }
            (None, false) => None,
        };
        if let Some(skill) = &t.skill {
            let skill_path = format!("{path}.skill");
            if !expert {
                p.add(
                    &skill_path,
                    "only an expert_pool target takes a skill (a topic its seats are chosen by)",
                );
            } else if cfg.topic_id(skill).is_none() {
                p.add(&skill_path, unknown_topic(cfg, skill));
            }
        }
        if let Some(url) = &t.ticket_url {
            if let Err(e) = check_http_url(url) {
                p.add(&format!("{path}.ticket_url"), e);
            }
        }
        let priority_path = format!("{path}.inbound_priority");
        if expert && t.inbound_priority.is_some() {
            p.add(
                &priority_path,
                "an expert_pool target has no trunk that calls come from; leave \
                 inbound_priority out",
            );
        }
        let inbound_priority = t.inbound_priority.unwrap_or(0);
        if let Some(addr) = trunk_addr {
            match first_trunk.get(&addr) {
                Some(&(other, priority)) if priority != inbound_priority => {
                    let other = join("targets", other);
                    let at = p.at(&other);
                    let place = if t.inbound_priority.is_some() {
                        &priority_path
                    } else {
                        &uri_path
                    };
                    p.add(
                        place,
                        format!(
                            "trunk {addr} is also {other}'s{at}, with inbound_priority \
                             {priority}, not {inbound_priority}; calls from one trunk get one \
                             priority"
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    first_trunk.insert(addr, (key, inbound_priority));
                }
            }
        }
        let tls = if over_tls {
            if let Some(Err(e)) = t.tls_name.as_deref().map(sip_gateway::tls::server_name) {
                p.add(&format!("{path}.tls_name"), e);
            }
            Some(TargetTls {
                name: t.tls_name.clone(),
                verify: t.tls_verify.unwrap_or(true),
            })
        } else {
            for (key, set) in [
                ("tls_name", t.tls_name.is_some()),
                ("tls_verify", t.tls_verify.is_some()),
            ] {
                if set {
                    p.add(
                        &format!("{path}.{key}"),
                        format!(
                            "only a target dialled over TLS takes {key}: give it a sips: uri (or \
                             ;transport=tls)"
                        ),
                    );
                }
            }
            None
        };
        if t.ring_timeout.is_some_and(|d| d.0.is_zero()) {
            p.add(
                &format!("{path}.ring_timeout"),
                "must be more than 0s, or leave it out for transfers.ring_timeout",
            );
        }
        out.push(TransferTarget {
            key: key.clone(),
            name: t.name.clone(),
            number: number.to_owned(),
            kind: t.kind,
            uri: t.uri.clone().filter(|_| !expert),
            code: code.to_owned(),
            pool,
            skill: t.skill.clone().filter(|_| expert),
            ticket_url: t.ticket_url.clone(),
            inbound_priority: if expert { 0 } else { inbound_priority },
            ring_timeout: t.ring_timeout.map_or(transfers.ring_timeout, |d| d.0),
            trunk_addr,
            tls,
        });
    }
    out
}

/// `[tls]` and the TLS targets: our certificate and key, whom to trust, how each trunk is
/// checked. Files are read now, so a bad one is reported at its key, naming the file. `None`
/// when there is no `[tls]` and no target is dialled over TLS.
fn tls(
    p: &mut Problems<'_>,
    raw: Option<&RawTls>,
    dir: &Path,
    targets: &[TransferTarget],
) -> Option<Arc<sip_gateway::tls::TlsConfig>> {
    use sip_gateway::tls::{self as gw_tls, PeerCheck, TlsConfig, TlsConfigError, TlsSettings};
    let verifying = targets
        .iter()
        .filter(|t| t.tls.as_ref().is_some_and(|c| c.verify))
        .count();
    if raw.is_none() && !targets.iter().any(|t| t.tls.is_some()) {
        return None;
    }
    let empty = RawTls::default();
    let raw = raw.unwrap_or(&empty);
    let before = p.list.len();
    let cert_path = tls_path(p, "certificate", raw.certificate.as_deref(), dir);
    let key_path = tls_path(p, "private_key", raw.private_key.as_deref(), dir);
    let ca_path = tls_path(p, "ca_file", raw.ca_file.as_deref(), dir);
    let client_ca_path = tls_path(p, "client_ca_file", raw.client_ca_file.as_deref(), dir);
    let chain = cert_path.as_deref().and_then(|f| {
        gw_tls::read_certificates(f)
            .map_err(|e| p.add("tls.certificate", e))
            .ok()
    });
    let key = key_path.as_deref().and_then(|f| {
        gw_tls::read_private_key(f)
            .map_err(|e| p.add("tls.private_key", e))
            .ok()
    });
    let trust = ca_path.as_deref().and_then(|f| {
        gw_tls::read_ca_file(f)
            .map_err(|e| p.add("tls.ca_file", e))
            .ok()
    });
    let client_cas = client_ca_path.as_deref().and_then(|f| {
        gw_tls::read_ca_file(f)
            .map_err(|e| p.add("tls.client_ca_file", e))
            .ok()
    });
    match (&raw.certificate, &raw.private_key) {
        (Some(_), None) => p.add(
            "tls.certificate",
            "tls.certificate needs its private key: set tls.private_key to its PEM file",
        ),
        (None, Some(_)) => p.add(
            "tls.private_key",
            "tls.private_key needs its certificate: set tls.certificate to its PEM file",
        ),
        _ => {}
    }
    if raw.client_ca_file.is_some() && raw.certificate.is_none() {
        p.add(
            "tls.client_ca_file",
            "asking carriers for a certificate (mutual TLS) needs our own: set tls.certificate \
             and tls.private_key",
        );
    }
    let trust = match trust {
        Some(trust) => trust,
        // Only a trunk that is verified needs the system's roots.
        None => match gw_tls::system_roots() {
            Ok(roots) => roots,
            Err(e) if verifying > 0 && raw.ca_file.is_none() => {
                p.add(
                    "tls.ca_file",
                    format!("{e}; set tls.ca_file to the CAs that sign the trunks' certificates"),
                );
                gw_tls::RootCertStore::empty()
            }
            Err(_) => gw_tls::RootCertStore::empty(),
        },
    };
    if p.list.len() > before {
        return None;
    }
    let settings = TlsSettings {
        identity: chain.zip(key),
        trust,
        client_cas,
    };
    let mut config = match TlsConfig::new(settings) {
        Ok(config) => config,
        Err(e @ TlsConfigError::Identity(_)) => {
            let cert = cert_path.map_or_else(String::new, |f| format!(" ({})", f.display()));
            let key = key_path.map_or_else(String::new, |f| f.display().to_string());
            p.add("tls.private_key", format!("{key}: {e}{cert}"));
            return None;
        }
        Err(e @ TlsConfigError::ClientCas(_)) => {
            p.add("tls.client_ca_file", e.to_string());
            return None;
        }
    };
    // Each TLS trunk address: the first target there and its check.
    let mut first: HashMap<SocketAddr, (&str, &TargetTls)> = HashMap::new();
    for t in targets {
        let (Some(addr), Some(check)) = (t.trunk_addr, t.tls.as_ref()) else {
            continue;
        };
        if let Some((other, theirs)) = first.get(&addr) {
            if *theirs != check {
                let other = join("targets", other);
                let at = p.at(&other);
                p.add(
                    &format!("{}.uri", join("targets", &t.key)),
                    format!(
                        "trunk {addr} is also {other}'s{at}, checked otherwise (tls_name, \
                         tls_verify); one trunk is checked one way"
                    ),
                );
            }
            continue;
        }
        first.insert(addr, (&t.key, check));
        let peer = match (&check.name, check.verify) {
            (_, false) => PeerCheck::Unverified,
            (Some(name), true) => match gw_tls::server_name(name) {
                Ok(name) => PeerCheck::Name(name),
                Err(_) => continue, // reported at tls_name
            },
            (None, true) => continue, // by its IP address, the default
        };
        config = config.with_peer(addr, peer);
    }
    Some(Arc::new(config))
}

/// The path of a `[tls]` file key, relative to the plan's directory; an empty one is a
/// problem.
fn tls_path(
    p: &mut Problems<'_>,
    key: &str,
    file: Option<&str>,
    dir: &Path,
) -> Option<std::path::PathBuf> {
    let file = file?;
    if file.trim().is_empty() {
        p.add(&format!("tls.{key}"), "needs the path of a PEM file");
        return None;
    }
    Some(dir.join(file))
}

/// A kind as the file writes it.
fn raw_kind(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::SubPlatform => "sub_platform",
        TargetKind::SubCenter => "sub_center",
        TargetKind::Emergency => "emergency",
        TargetKind::ExpertPool => "expert_pool",
    }
}

/// Every line: its notice if any, then its queue.
fn dial_plan(lines: &[LinePlan], features: FeatureCodes) -> Result<DialPlan, ivr_flows::PlanError> {
    let entries = lines
        .iter()
        .map(|l| {
            let mut steps = Vec::with_capacity(2);
            if let Some(prompt) = &l.notice {
                steps.push(Step::Notice {
                    prompt: prompt.clone(),
                });
            }
            steps.push(Step::Enqueue {
                topic: l.topic.clone(),
                priority: l.priority,
            });
            Entry {
                number: l.number.clone(),
                flow: Flow { steps },
            }
        })
        .collect();
    DialPlan::new(entries, features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compress() {
        assert_eq!(ranges(&[3, 1, 2, 7, 9, 8, 20]), "1-3, 7-9, 20");
        assert_eq!(seats_are(&[5]), "seat 5 is");
        assert_eq!(seats_are(&[5, 6]), "seats 5-6 are");
    }
}
