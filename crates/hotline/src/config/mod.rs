//! The plan of one platform, read from one TOML file: lines and their flows, queues and
//! tiers, pools and seats, transfer targets and service targets. The Zhengzhou plan
//! (`deploy/zhengzhou.toml`) is embedded; `docs/config.md` describes every key.
//!
//! Reading happens in three passes, each reporting `FILE:LINE: key `dotted.path`: message`:
//!
//! 1. serde into `raw` structs, all `deny_unknown_fields`; durations, seat ids, numbers and
//!    pool names check themselves while being read. Syntax and type errors carry the `toml`
//!    crate's byte span.
//! 2. `spans`: the same text is read again, by the `toml` crate, into a list of dotted key
//!    paths with their spans. A serde error's span is turned into its key path there; a
//!    semantic error names its key path and gets its line from there. (No `toml_edit`
//!    dependency and no `Spanned` fields in the structs.)
//! 3. `build`: one key against another, then [`acd_core::Acd::new`] and
//!    [`ivr_flows::DialPlan::new`] as final checks, so every [`Plan`] returned runs. The
//!    prompts are loaded here too ([`crate::prompts::PromptBook`]: the embedded ones, or the
//!    directory `media.prompts`), and every prompt the plan names must be among them: a
//!    missing prompt is reported at the key that names it.

mod build;
pub mod check;
mod raw;
mod spans;
mod values;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use values::{format_duration, parse_duration};

/// The Zhengzhou plan's file, embedded in the binary.
pub const EMBEDDED: &str = include_str!("../../../../deploy/zhengzhou.toml");

/// What [`zhengzhou`] names its source.
pub const EMBEDDED_SOURCE: &str = "embedded deploy/zhengzhou.toml";

/// A checked plan, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file path, or [`EMBEDDED_SOURCE`].
    pub source: String,
    /// Queues, tiers, pools (wrap-up), seats with skills, surge, short abandon, answer
    /// within, maximum misses. [`acd_core::Acd::new`] accepts it.
    pub acd: acd_core::AcdConfig,
    /// Every line number and its flow; the feature codes.
    pub dial_plan: ivr_flows::DialPlan,
    /// Every dialed number the platform answers, in file order.
    pub lines: Vec<LinePlan>,
    /// Transfer targets, in file order.
    pub targets: Vec<TransferTarget>,
    /// `[transfers]`: the seat's in-call transfer keys and the default ring timeout.
    pub transfers: TransferPlan,
    /// What the platform is judged by.
    pub service: ServiceTargets,
    /// Seat places built but not equipped (informational).
    pub reserved_places: u32,
    /// `[media]`: where RTP goes and when a silent leg is hung up.
    pub media: MediaPlan,
    /// `[survey]`; `None` when `enabled = false`.
    pub survey: Option<SurveyPlan>,
    /// `[protection]`: overload control and flood defence for the SIP gateway. The trunks
    /// of transfer targets are trusted besides the listed addresses.
    pub protection: sip_gateway::guard::GuardConfig,
    /// Every prompt, decoded; holds every prompt the plan names.
    pub prompts: Arc<crate::prompts::PromptBook>,
    /// `[tls]` and the TLS targets' checks, ready for the shell: `None` when the plan has no
    /// `[tls]` and dials no target over TLS.
    pub tls: Option<Arc<sip_gateway::tls::TlsConfig>>,
}

/// A dialed number the platform answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePlan {
    /// The number, digits without a leading 0 (it is also an `acd_core::Line`).
    pub number: String,
    /// Its name for people, e.g. "民政服务电话".
    pub name: String,
    /// The topic its calls carry.
    pub topic: String,
    /// The queue it feeds.
    pub queue: String,
    /// A prompt played before queueing, if any.
    pub notice: Option<String>,
    /// Priority of its calls in the queue; higher first.
    pub priority: u8,
    /// What its callers hear while queued (the line's `waiting` over its queue's over
    /// `[waiting]` over the defaults).
    pub waiting: WaitingPlan,
}

/// `[media]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlan {
    /// The address RTP is bound to and written in SDP; `None`: the SIP listen address's IP.
    pub address: Option<IpAddr>,
    /// RTP ports: even ones carry RTP, the odd one above each RTCP. Starts even, holds at
    /// least two pairs, within 1024..=65535.
    pub ports: RangeInclusive<u16>,
    /// A leg that should send RTP and sends none this long is hung up; `None`: never.
    pub no_rtp_timeout: Option<Duration>,
}

/// What a queued caller hears, resolved for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingPlan {
    /// Played once when the call enters the queue, before the music; `None`: nothing.
    pub welcome: Option<String>,
    /// Looped while waiting; `None`: silence.
    pub music: Option<String>,
    /// Period of the position / estimated-wait notices; `None`: never.
    pub announce_every: Option<Duration>,
    /// Say the position ("您前面还有 N 位").
    pub position: bool,
    /// Say the estimated wait in minutes.
    pub estimated_wait: bool,
}

/// `[survey]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyPlan {
    /// The question.
    pub prompt: String,
    /// Played after a valid answer 1-5.
    pub thanks: String,
    /// Played after the timeout.
    pub no_answer: String,
    /// How long to wait for the answer from the end of the question; more than 0.
    pub timeout: Duration,
}

/// Where a call can be handed over to (一键转接、三方通话).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferTarget {
    /// Its key in the file (`[targets.<key>]`).
    pub key: String,
    /// Its name for people.
    pub name: String,
    /// The number to dial.
    pub number: String,
    /// What it is.
    pub kind: TargetKind,
    /// The SIP URI it is dialled at (`sip:user@host[:port][;params]`): `Some` for the trunk
    /// kinds (sub-platform, sub-center, emergency), `None` for an expert pool.
    pub uri: Option<String>,
    /// The short code a seat keys after [`TransferPlan::start`] (and before `#`): 1-3 digits,
    /// unique among targets.
    pub code: String,
    /// The pool whose ready seats take the transfer (its file name, e.g. "intake"); expert
    /// pools only.
    pub pool: Option<String>,
    /// A topic: seats of [`Self::pool`] with a skill on it are preferred; expert pools only.
    pub skill: Option<String>,
    /// Where the ticket (工单) is pushed, an `http://` URL.
    pub ticket_url: Option<String>,
    /// Priority in intake of calls arriving from this target's trunk ([`Self::trunk_addr`]).
    pub inbound_priority: u8,
    /// How long the target rings before the transfer fails (its own, else
    /// [`TransferPlan::ring_timeout`]).
    pub ring_timeout: Duration,
    /// The trunk's address (host:port of `uri`, port default 5060, 5061 over TLS), for
    /// recognising calls that come FROM the target; `None` when the host is a name that
    /// doesn't parse as an IP, or for pools.
    pub trunk_addr: Option<SocketAddr>,
    /// `Some` when `uri` is dialled over TLS (`sips:` or `;transport=tls`): how the trunk's
    /// certificate is checked.
    pub tls: Option<TargetTls>,
}

/// How the certificate of a target dialled over TLS is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTls {
    /// The name the certificate must carry (`tls_name`); `None`: the IP address of `uri`.
    pub name: Option<String>,
    /// False only with `tls_verify = false`: the certificate is not checked at all (unsafe).
    pub verify: bool,
}

/// `[transfers]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPlan {
    /// How long a target rings before the transfer fails (no answer), for targets that set
    /// none of their own.
    pub ring_timeout: Duration,
    /// A seat keys this, then a target's code and `#`: e.g. `*2 1 #`.
    pub start: String,
    /// The seat leaves a three-way call: caller and target stay.
    pub complete: String,
    /// Drop the target: caller and seat stay.
    pub cancel: String,
}

impl Plan {
    /// The target with this key, number or code (in that order), e.g. "renshe", "12333" or
    /// "1".
    pub fn target(&self, name: &str) -> Option<&TransferTarget> {
        self.targets
            .iter()
            .find(|t| t.key == name)
            .or_else(|| self.targets.iter().find(|t| t.number == name))
            .or_else(|| self.targets.iter().find(|t| t.code == name))
    }

    /// The target whose trunk address is `addr` (inbound transfers); the first in file order
    /// when several share one trunk. An IPv4-mapped IPv6 address (`[::ffff:10.0.0.5]`, as a
    /// dual-stack socket reports it) matches its IPv4 address.
    pub fn target_from(&self, addr: SocketAddr) -> Option<&TransferTarget> {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        self.targets.iter().find(|t| t.trunk_addr == Some(addr))
    }
}

/// The kinds of transfer target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// 分平台: keeps its number and platform; transfers both ways (12333, 12329, …).
    SubPlatform,
    /// 分中心: a vertically managed line answered locally (12367, 12366, 12313).
    SubCenter,
    /// 110, 119, 120, 122.
    Emergency,
    /// This platform's expert seats.
    ExpertPool,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SubPlatform => "sub-platform",
            Self::SubCenter => "sub-center",
            Self::Emergency => "emergency",
            Self::ExpertPool => "expert pool",
        })
    }
}

/// The service standard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceTargets {
    /// Share of calls to answer, e.g. 0.98.
    pub answer_rate: f64,
    /// Answer within this, e.g. 15 s (GB/T 33358-2016).
    pub answer_within: Duration,
    /// Abandons before this are short (left out of the 人工接通率 denominator).
    pub short_abandon: Duration,
}

/// One problem in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// The dotted key path, e.g. `queues.12348.tiers[0].pools`; empty if none applies.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Why a file was refused: one or more problems, each displayed on its own line as
/// `FILE:LINE: key `dotted.path`: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    source: String,
    problems: Vec<Problem>,
}

impl ConfigError {
    /// The file path, or [`EMBEDDED_SOURCE`].
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// The problems, by line.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    fn one(source: &str, line: Option<usize>, key: String, message: String) -> Self {
        Self {
            source: source.to_owned(),
            problems: vec![Problem { line, key, message }],
        }
    }

    /// A syntax or type error, placed by its span.
    fn from_toml(source: &str, text: &str, err: &toml::de::Error) -> Self {
        // One problem, one line: the toml crate's messages may span several.
        let mut message = err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let spans = spans::Spans::new(text);
        let (line, mut key) = match err.span() {
            None => (None, String::new()),
            Some(span) if spans.is_empty() => {
                let (line, key) = spans::syntax_location(text, span.start);
                (Some(line), key)
            }
            Some(span) => (
                Some(spans.line_at(span.start)),
                spans.path_at(span.start).unwrap_or_default(),
            ),
        };
        // serde names a missing key in its message and places it at its table: name it.
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            let table = err
                .span()
                .map(|s| spans.table_at(s.start))
                .unwrap_or_default();
            key = spans::join(&table, field);
            message = "required key is missing".into();
        }
        Self::one(source, line, key, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.source)?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            if !p.key.is_empty() {
                write!(f, ": key `{}`", p.key)?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads and checks a plan file; a relative `media.prompts` is taken from the file's
/// directory.
pub fn load(path: &Path) -> Result<Plan, ConfigError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(&source, None, String::new(), format!("cannot read: {e}")))?;
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    parse_in(&source, &text, dir)
}

/// Checks a plan's text; `source_name` is used in error messages and [`Plan::source`]. A
/// relative `media.prompts` is taken from the current directory.
pub fn parse(source_name: &str, text: &str) -> Result<Plan, ConfigError> {
    parse_in(source_name, text, Path::new(""))
}

/// [`parse`], with a relative `media.prompts` taken from `dir`.
fn parse_in(source_name: &str, text: &str, dir: &Path) -> Result<Plan, ConfigError> {
    let raw: raw::RawPlan =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(source_name, text, &e))?;
    let spans = spans::Spans::new(text);
    build::build(source_name, raw, &spans, dir)
}

/// The embedded Zhengzhou plan.
///
/// # Panics
///
/// Never: the `config` tests parse [`EMBEDDED`].
pub fn zhengzhou() -> Plan {
    match parse(EMBEDDED_SOURCE, EMBEDDED) {
        Ok(plan) => plan,
        Err(e) => panic!("the embedded plan is invalid:\n{e}"),
    }
}
