//! The file as written: serde structs, every one `deny_unknown_fields`, with the defaults
//! documented in `docs/config.md`. Nothing here checks one key against another; that is
//! `build.rs`.

use std::time::Duration;

use acd_core::{AcdConfig, SurgeConfig};
use serde::Deserialize;

use super::values::{Dur, Number, Ordered, PoolName, Ports, SeatIds};
use super::TargetKind;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlan {
    #[serde(default)]
    pub(crate) reserved_places: u32,
    pub(crate) topics: Vec<String>,
    #[serde(default)]
    pub(crate) service: RawService,
    #[serde(default)]
    pub(crate) distributor: RawDistributor,
    #[serde(default)]
    pub(crate) surge: RawSurge,
    #[serde(default)]
    pub(crate) features: RawFeatures,
    #[serde(default)]
    pub(crate) media: RawMedia,
    #[serde(default)]
    pub(crate) waiting: RawWaiting,
    #[serde(default)]
    pub(crate) survey: RawSurvey,
    pub(crate) pools: Ordered<PoolName, RawPool>,
    #[serde(default)]
    pub(crate) seats: Vec<RawSeats>,
    pub(crate) queues: Ordered<String, RawQueue>,
    pub(crate) lines: Vec<RawLine>,
    #[serde(default)]
    pub(crate) transfers: RawTransfers,
    #[serde(default)]
    pub(crate) targets: Ordered<String, RawTarget>,
    #[serde(default)]
    pub(crate) protection: RawProtection,
    pub(crate) tls: Option<RawTls>,
}

/// `[tls]`: SIP over TLS. Paths are relative to the plan file's directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    pub(crate) certificate: Option<String>,
    pub(crate) private_key: Option<String>,
    pub(crate) ca_file: Option<String>,
    pub(crate) client_ca_file: Option<String>,
}

/// `[protection]`: overload control and flood defence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawProtection {
    pub(crate) calls_per_second: u32,
    pub(crate) max_calls: u32,
    pub(crate) max_delay: Dur,
    pub(crate) retry_after: Dur,
    pub(crate) invite_per_source: u32,
    pub(crate) register_per_source: u32,
    pub(crate) options_per_source: u32,
    pub(crate) auth_failures: u32,
    pub(crate) auth_window: Dur,
    pub(crate) block_for: Dur,
    pub(crate) trusted: Vec<String>,
}

impl Default for RawProtection {
    fn default() -> Self {
        Self {
            calls_per_second: 0,
            max_calls: 0,
            max_delay: Dur(Duration::from_millis(200)),
            retry_after: Dur(Duration::from_secs(5)),
            invite_per_source: 20,
            register_per_source: 20,
            options_per_source: 20,
            auth_failures: 5,
            auth_window: Dur(Duration::from_secs(60)),
            block_for: Dur(Duration::from_secs(600)),
            trusted: Vec::new(),
        }
    }
}

/// `[service]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawService {
    pub(crate) answer_rate: f64,
    pub(crate) answer_within: Dur,
    pub(crate) short_abandon: Dur,
}

impl Default for RawService {
    fn default() -> Self {
        let acd = AcdConfig::default();
        Self {
            answer_rate: 0.98,
            answer_within: Dur(acd.answer_within),
            short_abandon: Dur(acd.short_abandon),
        }
    }
}

/// `[distributor]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawDistributor {
    pub(crate) max_consecutive_misses: u8,
    pub(crate) seed: u64,
}

impl Default for RawDistributor {
    fn default() -> Self {
        let acd = AcdConfig::default();
        Self {
            max_consecutive_misses: acd.max_consecutive_misses,
            seed: acd.seed,
        }
    }
}

/// `[surge]`. Thresholds of 0 are off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSurge {
    pub(crate) automatic: bool,
    pub(crate) longest_wait: Dur,
    pub(crate) calls_waiting: usize,
    pub(crate) answer_rate_below: f64,
    pub(crate) window: Dur,
    pub(crate) min_samples: usize,
    pub(crate) open_after: Dur,
    pub(crate) close_after: Dur,
    pub(crate) eval_every: Dur,
}

impl Default for RawSurge {
    fn default() -> Self {
        let s = SurgeConfig::default();
        Self {
            automatic: s.automatic,
            longest_wait: Dur(s.longest_wait.unwrap_or(Duration::ZERO)),
            calls_waiting: s.calls_waiting.unwrap_or(0),
            answer_rate_below: f64::from(s.answer_rate_below_permille.unwrap_or(0)) / 1000.0,
            window: Dur(s.window),
            min_samples: s.min_samples,
            open_after: Dur(s.open_after),
            close_after: Dur(s.close_after),
            eval_every: Dur(s.eval_every),
        }
    }
}

/// `[features]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawFeatures {
    pub(crate) ready: String,
    pub(crate) not_ready: String,
    pub(crate) log_out: String,
}

impl Default for RawFeatures {
    fn default() -> Self {
        Self {
            ready: "*11".into(),
            not_ready: "*12".into(),
            log_out: "*13".into(),
        }
    }
}

/// `[media]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawMedia {
    pub(crate) address: Option<String>,
    pub(crate) ports: Ports,
    pub(crate) no_rtp_timeout: Dur,
    pub(crate) prompts: Option<String>,
}

impl Default for RawMedia {
    fn default() -> Self {
        Self {
            address: None,
            ports: Ports::default(),
            no_rtp_timeout: Dur(Duration::from_secs(60)),
            prompts: None,
        }
    }
}

/// `[waiting]`, and the `waiting = { ... }` of a queue or line: any subset; what is left out
/// comes from the next layer (line, queue, `[waiting]`, the defaults in `build.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWaiting {
    pub(crate) music: Option<String>,
    pub(crate) announce_every: Option<Dur>,
    pub(crate) position: Option<bool>,
    pub(crate) estimated_wait: Option<bool>,
    pub(crate) welcome: Option<String>,
}

/// `[survey]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSurvey {
    pub(crate) enabled: bool,
    pub(crate) prompt: String,
    pub(crate) thanks: String,
    pub(crate) no_answer: String,
    pub(crate) timeout: Dur,
}

impl Default for RawSurvey {
    fn default() -> Self {
        Self {
            enabled: true,
            prompt: "survey".into(),
            thanks: "survey_thanks".into(),
            no_answer: "survey_none".into(),
            timeout: Dur(Duration::from_secs(10)),
        }
    }
}

/// `[pools.<pool>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    #[serde(default)]
    pub(crate) seats: SeatIds,
    #[serde(default)]
    pub(crate) wrap_up: Dur,
}

/// `[[seats]]`: settings of particular seats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSeats {
    #[serde(default)]
    pub(crate) name: String,
    pub(crate) ids: SeatIds,
    #[serde(default)]
    pub(crate) skills: Ordered<String, i64>,
    pub(crate) weight: Option<u32>,
    pub(crate) wrap_up: Option<Dur>,
}

/// `[queues.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    #[serde(default)]
    pub(crate) strategy: RawStrategy,
    pub(crate) ring_timeout: Option<Dur>,
    pub(crate) max_wait: Option<RawMaxWait>,
    #[serde(default)]
    pub(crate) waiting: RawWaiting,
    pub(crate) tiers: Vec<RawTier>,
}

/// `strategy = "..."`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawStrategy {
    #[default]
    LongestIdle,
    FewestCalls,
    LeastTalkTime,
    RoundRobin,
    WeightedRandom,
}

/// `max_wait = { after = "10m", exit = "...", to = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMaxWait {
    pub(crate) after: Dur,
    pub(crate) exit: RawExit,
    pub(crate) to: Option<Number>,
}

/// `exit = "..."`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawExit {
    Voicemail,
    Callback,
    Transfer,
    Disconnect,
}

/// `[[queues.<name>.tiers]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTier {
    pub(crate) pools: Vec<PoolName>,
    pub(crate) min_level: Option<i64>,
    #[serde(default)]
    pub(crate) after: Dur,
}

/// `[[lines]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLine {
    pub(crate) number: Number,
    pub(crate) name: String,
    pub(crate) queue: String,
    pub(crate) topic: String,
    pub(crate) notice: Option<String>,
    #[serde(default)]
    pub(crate) priority: u8,
    #[serde(default)]
    pub(crate) waiting: RawWaiting,
}

/// `[transfers]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTransfers {
    pub(crate) ring_timeout: Dur,
    pub(crate) start: String,
    pub(crate) complete: String,
    pub(crate) cancel: String,
}

impl Default for RawTransfers {
    fn default() -> Self {
        Self {
            ring_timeout: Dur(Duration::from_secs(30)),
            start: "*2".into(),
            complete: "*3".into(),
            cancel: "*4".into(),
        }
    }
}

/// `[targets.<key>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub(crate) name: String,
    pub(crate) number: Number,
    pub(crate) kind: TargetKind,
    pub(crate) code: Number,
    pub(crate) uri: Option<String>,
    pub(crate) pool: Option<PoolName>,
    pub(crate) skill: Option<String>,
    pub(crate) ticket_url: Option<String>,
    pub(crate) inbound_priority: Option<u8>,
    pub(crate) ring_timeout: Option<Dur>,
    pub(crate) tls_name: Option<String>,
    pub(crate) tls_verify: Option<bool>,
}
