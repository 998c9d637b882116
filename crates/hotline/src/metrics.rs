//! The Prometheus registry behind `GET /metrics`, kept current by the engine.
//!
//! Two kinds of series, two ways of keeping them:
//!
//! - **Counters and the wait histogram** move as events happen. At start-up the engine calls
//!   [`Metrics::line`] once per (line, queue) pair and keeps the returned [`LineMetrics`]: its
//!   methods are one atomic add (or one histogram observation) each, with the label lookup
//!   already done, so they are fine on the call path.
//! - **Gauges** (ratios, waiting calls, seats, surge, SIP and store levels) are set by the engine
//!   when it answers [`crate::api::Command::RefreshGauges`], which the HTTP layer sends before
//!   every scrape.
//!
//! A ratio that is undefined (acd-core's figure is `None`: no request for a person in the
//! window) is **omitted**: its series is removed rather than exported as `NaN`, so it drops out
//! of sums and averages instead of poisoning them, and `absent()` can alert on it. Every metric,
//! its type, labels and the figure it corresponds to is listed in docs/metrics.md, section
//! "Prometheus metrics (/metrics)".

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The `Content-Type` of [`Metrics::render`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the `hotline_wait_seconds` buckets: dense around the 15 s target
/// (GB/T 33358), then coarse up to 10 minutes.
pub const WAIT_BUCKETS: [f64; 16] = [
    1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];

/// The window label values the engine uses for ratio gauges.
pub const WINDOWS: [&str; 4] = ["15m", "1h", "24h", "today"];

/// Gateway counters read from `sip_gateway`'s `Stats` and live counts, passed to
/// [`Metrics::set_sip`] on each refresh. The monotonic fields are totals since the gateway
/// started; the two `active_*` fields are current levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SipSnapshot {
    /// Requests that passed validation.
    pub requests: u64,
    /// Responses that passed validation.
    pub responses: u64,
    /// Requests answered with an error by the validation layer (all status codes).
    pub rejected: u64,
    /// Messages dropped without an answer.
    pub dropped: u64,
    /// Messages sent, retransmissions included.
    pub transmitted: u64,
    /// Calls accepted for routing.
    pub calls_started: u64,
    /// Calls in progress.
    pub active_calls: u64,
    /// Transactions in progress (server + client).
    pub active_transactions: u64,
    /// TLS handshakes that failed on connections peers opened to us.
    pub tls_handshake_failures_in: u64,
    /// TLS handshakes that failed on connections we opened (trunks dialled).
    pub tls_handshake_failures_out: u64,
}

/// The gateway's monotonic totals, exported as Prometheus counters.
#[derive(Debug)]
struct SipCounters {
    requests: IntCounter,
    responses: IntCounter,
    rejected: IntCounter,
    dropped: IntCounter,
    transmitted: IntCounter,
    calls_started: IntCounter,
    tls_handshake_failures: IntCounterVec,
}

/// Line and queue counters, registered once, resolved per pair by [`Metrics::line`].
#[derive(Debug)]
struct LineVecs {
    offered: IntCounterVec,
    answered: IntCounterVec,
    abandoned: IntCounterVec,
    timed_out: IntCounterVec,
    transferred: IntCounterVec,
    wait: HistogramVec,
}

/// The registry and every metric in it. Create once, share as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    lines: LineVecs,
    answer_ratio: GaugeVec,
    answered_within_ratio: GaugeVec,
    calls_waiting: IntGaugeVec,
    seats: IntGaugeVec,
    surge_open: IntGauge,
    /// Held while turning a running total into counter increments ([`Metrics::set_sip`],
    /// [`Metrics::set_store_errors`]), so two concurrent calls cannot add the same delta twice.
    sip: Mutex<SipCounters>,
    sip_active_calls: IntGauge,
    sip_active_transactions: IntGauge,
    store_errors: IntCounter,
    store_pending: IntGauge,
    media: MediaMetrics,
    protection: ProtectionMetrics,
}

/// What overload control and flood defence refused (see [`Metrics::set_protection`]).
struct ProtectionMetrics {
    overload: IntCounterVec,
    flood: IntCounterVec,
    blocked_messages: IntCounter,
    blocks: IntCounter,
    blocked_sources: IntGauge,
}

/// The media plane's figures (see [`Metrics::set_media`]).
struct MediaMetrics {
    rtp: IntCounterVec,
    dropped: IntCounterVec,
    rtcp: IntCounter,
    bad_events: IntCounter,
    digits: IntCounter,
    no_rtp: IntCounter,
    bind_failures: IntCounter,
    sdp_refused: IntCounterVec,
    calls: IntGauge,
    legs: IntGauge,
    transfers: IntCounterVec,
    tickets: IntCounterVec,
}

/// Every outcome of a transfer, as `hotline_transfers_total` labels it.
pub const TRANSFER_OUTCOMES: [&str; 8] = [
    "completed",
    "cancelled",
    "busy",
    "rejected",
    "no_answer",
    "unreachable",
    "target_hung_up",
    "caller_left",
];

/// Every outcome of a ticket push, as `hotline_ticket_pushes_total` labels it.
pub const TICKET_OUTCOMES: [&str; 2] = ["delivered", "failed"];

/// A snapshot of the media plane's running totals, for [`Metrics::set_media`].
#[derive(Debug, Clone, Default)]
pub struct MediaSnapshot {
    /// Calls with media open now.
    pub calls: u64,
    /// Legs open now.
    pub legs: u64,
    /// RTP datagrams received.
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// RTCP packets received (counted, not relayed).
    pub rtcp_in: u64,
    /// Datagrams that were not RTP.
    pub dropped_not_rtp: u64,
    /// RTP with a payload type the leg did not negotiate.
    pub dropped_payload_type: u64,
    /// RTP from an unexpected source while the latched one is live.
    pub dropped_foreign_source: u64,
    /// Sends that failed (full socket buffer, unreachable).
    pub send_errors: u64,
    /// Malformed RFC 4733 telephone-event payloads.
    pub bad_telephone_event: u64,
    /// Ports the plane could not bind.
    pub bind_failures: u64,
    /// SDP offers refused, by SIP status.
    pub sdp_refused: Vec<(u16, u64)>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("families", &self.registry.gather().len())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Pre-resolved counters and histogram of one (line, queue) pair, from [`Metrics::line`].
/// Cloning is cheap (reference counts); every method is lock-free.
#[derive(Debug, Clone)]
pub struct LineMetrics {
    offered: IntCounter,
    answered: IntCounter,
    abandoned_short: IntCounter,
    abandoned_long: IntCounter,
    timed_out: IntCounter,
    transferred: IntCounter,
    wait: Histogram,
}

impl LineMetrics {
    /// A call arrived at the queue (acd-core `Input::CallArrived`).
    pub fn offered(&self) {
        self.offered.inc();
    }

    /// A seat answered the call after `wait` (queue + ring time, from arrival, as acd-core
    /// counts it): counts it and records the wait in `hotline_wait_seconds`.
    pub fn answered(&self, wait: Duration) {
        self.answered.inc();
        self.wait.observe(wait.as_secs_f64());
    }

    /// The caller hung up while waiting or ringing; `short` when the wait was below the
    /// short-abandon threshold (`AcdConfig::short_abandon`).
    pub fn abandoned(&self, short: bool) {
        if short {
            self.abandoned_short.inc();
        } else {
            self.abandoned_long.inc();
        }
    }

    /// The call reached the queue's maximum wait (`Output::CallLeft{TimedOut}`).
    pub fn timed_out(&self) {
        self.timed_out.inc();
    }

    /// The seat handed the answered caller on (`Input::CallTransferred`).
    pub fn transferred(&self) {
        self.transferred.inc();
    }
}

/// Register `collector` or fail loudly: names are fixed at compile time, so a clash is a bug
/// caught by the tests, never a run-time condition.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are unique and valid");
    c
}

/// `GuardStats::overload` in order.
const OVERLOAD_REASONS: [&str; 4] = ["rate", "calls", "delay", "stopping"];
/// `GuardStats::flood` in order.
const FLOOD_METHODS: [&str; 3] = ["INVITE", "REGISTER", "OPTIONS"];

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    register(registry, vec)
}

fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    register(registry, vec)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let vec = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    register(registry, vec)
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric definition");
    register(registry, c)
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric definition");
    register(registry, g)
}

/// `u64` to the `i64` of an integer gauge, saturating.
fn level(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

const DEFS: &str = "(see docs/metrics.md)";

impl Metrics {
    /// A registry with every hotline metric registered (series with labels appear once set).
    ///
    /// # Panics
    ///
    /// Never in practice: it would only on an invalid or duplicate metric definition, which
    /// are fixed in this file and exercised by its tests.
    pub fn new() -> Self {
        let r = Registry::new();
        let line_queue = &["line", "queue"];
        let lines = LineVecs {
            offered: counter_vec(
                &r,
                "hotline_calls_offered_total",
                &format!("Calls that arrived at a queue: acd-core figure `offered` {DEFS}"),
                line_queue,
            ),
            answered: counter_vec(
                &r,
                "hotline_calls_answered_total",
                &format!("Calls answered by a seat: figure `answered` {DEFS}"),
                line_queue,
            ),
            abandoned: counter_vec(
                &r,
                "hotline_calls_abandoned_total",
                &format!(
                    "Callers who hung up while waiting or ringing; short=\"true\" when the wait \
                     was below the short-abandon threshold: figures `abandoned_short` / \
                     `abandoned_long` {DEFS}"
                ),
                &["line", "queue", "short"],
            ),
            timed_out: counter_vec(
                &r,
                "hotline_calls_timed_out_total",
                &format!("Calls that reached the queue's maximum wait: figure `timed_out` {DEFS}"),
                line_queue,
            ),
            transferred: counter_vec(
                &r,
                "hotline_calls_transferred_total",
                &format!(
                    "Answered calls the seat handed on (blind transfer or leaving a three-way \
                     call): figure `transferred` {DEFS}"
                ),
                line_queue,
            ),
            wait: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "hotline_wait_seconds",
                        format!(
                            "Wait (queue + ring time from arrival) of answered calls, seconds; \
                             bucket le=\"15\" counts figure `answered_within` {DEFS}"
                        ),
                    )
                    .buckets(WAIT_BUCKETS.to_vec()),
                    line_queue,
                )
                .expect("valid metric definition"),
            ),
        };
        let window = &["line", "queue", "window"];
        let answer_ratio = gauge_vec(
            &r,
            "hotline_answer_ratio",
            &format!(
                "Answer rate A/(A+S+L+T) over the window (15m, 1h, 24h, today): figure \
                 `answer_rate`; series absent while undefined {DEFS}"
            ),
            window,
        );
        let answered_within_ratio = gauge_vec(
            &r,
            "hotline_answered_within_15s_ratio",
            &format!(
                "15-second answer rate W/(A+S+L+T) over the window: figure \
                 `answered_within_rate`; series absent while undefined {DEFS}"
            ),
            window,
        );
        let calls_waiting = int_gauge_vec(
            &r,
            "hotline_calls_waiting",
            &format!("Calls waiting in the queue now, not ringing: figure `waiting_now` {DEFS}"),
            line_queue,
        );
        let seats = int_gauge_vec(
            &r,
            "hotline_seats",
            "Seats by pool and state (logged_out, ready, not_ready, ringing, talking, wrap_up)",
            &["pool", "state"],
        );
        let surge_open = int_gauge(
            &r,
            "hotline_surge_open",
            "1 while the surge pool takes calls, else 0",
        );
        let sip = SipCounters {
            requests: counter(
                &r,
                "hotline_sip_requests_total",
                "SIP requests received that passed validation",
            ),
            responses: counter(
                &r,
                "hotline_sip_responses_total",
                "SIP responses received that passed validation",
            ),
            rejected: counter(
                &r,
                "hotline_sip_rejected_total",
                "SIP requests answered with an error by the validation layer",
            ),
            dropped: counter(
                &r,
                "hotline_sip_dropped_total",
                "SIP messages dropped without an answer (malformed or unanswerable)",
            ),
            transmitted: counter(
                &r,
                "hotline_sip_transmitted_total",
                "SIP messages sent, retransmissions included",
            ),
            calls_started: counter(
                &r,
                "hotline_sip_calls_started_total",
                "Inbound calls the gateway accepted for routing",
            ),
            tls_handshake_failures: counter_vec(
                &r,
                "hotline_sip_tls_handshake_failures_total",
                "TLS handshakes that failed, by direction: out (a trunk we dialled: untrusted or \
                 wrong-name certificate, ...) or in (a peer connecting to our TLS listener)",
                &["direction"],
            ),
        };
        for direction in ["in", "out"] {
            sip.tls_handshake_failures.with_label_values(&[direction]);
        }
        let sip_active_calls = int_gauge(
            &r,
            "hotline_sip_active_calls",
            "Calls in progress in the SIP gateway",
        );
        let sip_active_transactions = int_gauge(
            &r,
            "hotline_sip_active_transactions",
            "SIP transactions in progress (server + client)",
        );
        let store_errors = counter(
            &r,
            "hotline_store_errors_total",
            "Failed attempts to write records to storage",
        );
        let store_pending = int_gauge(
            &r,
            "hotline_store_pending_records",
            "Records produced by the engine and not yet committed to storage",
        );
        let media = MediaMetrics {
            rtp: counter_vec(
                &r,
                "hotline_rtp_packets_total",
                "RTP packets received (direction=in, every datagram on a media port) and sent (out)",
                &["direction"],
            ),
            dropped: counter_vec(
                &r,
                "hotline_rtp_dropped_total",
                "Media datagrams dropped, by reason: not_rtp, payload_type (not negotiated), \
                 foreign_source (another sender while the latched one is live), send_error",
                &["reason"],
            ),
            rtcp: counter(
                &r,
                "hotline_rtcp_packets_total",
                "RTCP packets received (terminated per leg, not relayed)",
            ),
            bad_events: counter(
                &r,
                "hotline_dtmf_malformed_total",
                "Malformed RFC 4733 telephone-event payloads received",
            ),
            digits: counter(
                &r,
                "hotline_dtmf_digits_total",
                "Keys received (RFC 4733 telephone-events and SIP INFO)",
            ),
            no_rtp: counter(
                &r,
                "hotline_media_no_rtp_total",
                "Calls hung up because a leg sent no RTP for the configured time",
            ),
            bind_failures: counter(
                &r,
                "hotline_media_bind_failures_total",
                "RTP ports the media plane could not bind",
            ),
            sdp_refused: counter_vec(
                &r,
                "hotline_sdp_refused_total",
                "SDP offers refused, by SIP status (488: no PCMU/PCMA, 400: malformed, 503: no port)",
                &["status"],
            ),
            transfers: counter_vec(
                &r,
                "hotline_transfers_total",
                "Transfers (一键转接) by target key and outcome: completed, cancelled, busy, \
                 rejected, no_answer, unreachable, target_hung_up, caller_left",
                &["target", "outcome"],
            ),
            tickets: counter_vec(
                &r,
                "hotline_ticket_pushes_total",
                "Ticket pushes (工单推送) to transfer targets, by target and outcome \
                 (delivered, failed)",
                &["target", "outcome"],
            ),
            calls: int_gauge(&r, "hotline_media_calls", "Calls with anchored media now"),
            legs: int_gauge(&r, "hotline_media_legs", "Anchored media legs now"),
        };
        // Every series from the start, at 0, so rate() and alerts work before the first event.
        for d in ["in", "out"] {
            media.rtp.with_label_values(&[d]);
        }
        for reason in ["not_rtp", "payload_type", "foreign_source", "send_error"] {
            media.dropped.with_label_values(&[reason]);
        }
        for status in ["400", "488", "503"] {
            media.sdp_refused.with_label_values(&[status]);
        }
        let protection = ProtectionMetrics {
            overload: counter_vec(
                &r,
                "hotline_sip_overload_refused_total",
                "New calls answered 503 by overload control, by reason (rate, calls, delay, stopping)",
                &["reason"],
            ),
            flood: counter_vec(
                &r,
                "hotline_sip_flood_dropped_total",
                "New requests dropped unanswered because their source exceeded its rate, by method",
                &["method"],
            ),
            blocked_messages: counter(
                &r,
                "hotline_sip_blocked_messages_total",
                "SIP messages ignored because their source is blocked",
            ),
            blocks: counter(
                &r,
                "hotline_sip_source_blocks_total",
                "Times a source address was blocked for repeated failed digest authentication",
            ),
            blocked_sources: int_gauge(
                &r,
                "hotline_sip_blocked_sources",
                "Source addresses blocked now",
            ),
        };
        for reason in OVERLOAD_REASONS {
            protection.overload.with_label_values(&[reason]);
        }
        for method in FLOOD_METHODS {
            protection.flood.with_label_values(&[method]);
        }
        Self {
            protection,
            media,
            registry: r,
            lines,
            answer_ratio,
            answered_within_ratio,
            calls_waiting,
            seats,
            surge_open,
            sip: Mutex::new(sip),
            sip_active_calls,
            sip_active_transactions,
            store_errors,
            store_pending,
        }
    }

    /// The pre-resolved counters of one (line, queue) pair: call once per pair at start-up and
    /// keep the result. Creates the series at 0, so `rate()` works from the first event.
    #[must_use]
    pub fn line(&self, line: &str, queue: &str) -> LineMetrics {
        let v = &self.lines;
        let lq = &[line, queue];
        LineMetrics {
            offered: v.offered.with_label_values(lq),
            answered: v.answered.with_label_values(lq),
            abandoned_short: v.abandoned.with_label_values(&[line, queue, "true"]),
            abandoned_long: v.abandoned.with_label_values(&[line, queue, "false"]),
            timed_out: v.timed_out.with_label_values(lq),
            transferred: v.transferred.with_label_values(lq),
            wait: v.wait.with_label_values(lq),
        }
    }

    /// Every metric in Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            // Only possible for inconsistent metric families, which `new` cannot build.
            tracing::warn!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Set or clear one `hotline_answer_ratio` series. `None` (acd-core's `answer_rate` is
    /// undefined: nothing requested a person in the window) removes the series.
    pub fn set_answer_ratio(&self, line: &str, queue: &str, window: &str, ratio: Option<f64>) {
        set_or_remove(&self.answer_ratio, &[line, queue, window], ratio);
    }

    /// Set or clear one `hotline_answered_within_15s_ratio` series; `None` removes it.
    pub fn set_answered_within_ratio(
        &self,
        line: &str,
        queue: &str,
        window: &str,
        ratio: Option<f64>,
    ) {
        set_or_remove(&self.answered_within_ratio, &[line, queue, window], ratio);
    }

    /// Calls waiting now in the queue, of the line.
    pub fn set_calls_waiting(&self, line: &str, queue: &str, n: u64) {
        self.calls_waiting
            .with_label_values(&[line, queue])
            .set(level(n));
    }

    /// Seats of `pool` in `state`. Set every (pool, state) pair on each refresh, 0 included,
    /// so a state that empties reads 0 instead of keeping its last value.
    pub fn set_seats(&self, pool: &str, state: &str, n: u64) {
        self.seats.with_label_values(&[pool, state]).set(level(n));
    }

    /// Whether the surge pool takes calls.
    pub fn set_surge_open(&self, open: bool) {
        self.surge_open.set(i64::from(open));
    }

    /// The gateway's counters. The totals are exported as counters: each call adds the
    /// increase since the previous snapshot; a snapshot below the previous one (a restarted
    /// gateway) resets the counter to the snapshot, which Prometheus' `rate()` reads as a
    /// counter reset. `active_calls` and `active_transactions` are gauges.
    pub fn set_sip(&self, s: &SipSnapshot) {
        let sip = self
            .sip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        advance(&sip.requests, s.requests);
        advance(&sip.responses, s.responses);
        advance(&sip.rejected, s.rejected);
        advance(&sip.dropped, s.dropped);
        advance(&sip.transmitted, s.transmitted);
        advance(&sip.calls_started, s.calls_started);
        let tls = &sip.tls_handshake_failures;
        advance(&tls.with_label_values(&["in"]), s.tls_handshake_failures_in);
        advance(
            &tls.with_label_values(&["out"]),
            s.tls_handshake_failures_out,
        );
        drop(sip);
        self.sip_active_calls.set(level(s.active_calls));
        self.sip_active_transactions
            .set(level(s.active_transactions));
    }

    /// Overload control and flood defence: totals from the gateway's guard
    /// ([`sip_gateway::guard::GuardStats`]) and the sources blocked now.
    pub fn set_protection(&self, s: &sip_gateway::guard::GuardStats, blocked_sources: usize) {
        let _guard = self
            .sip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let p = &self.protection;
        for (reason, &n) in OVERLOAD_REASONS.iter().zip(&s.overload) {
            advance(&p.overload.with_label_values(&[reason]), n);
        }
        for (method, &n) in FLOOD_METHODS.iter().zip(&s.flood) {
            advance(&p.flood.with_label_values(&[method]), n);
        }
        advance(&p.blocked_messages, s.blocked_messages);
        advance(&p.blocks, s.blocks);
        p.blocked_sources.set(level(blocked_sources as u64));
    }

    /// A write to storage failed (count one per failed attempt). Use this or
    /// [`Self::set_store_errors`] for one `Metrics`, not both.
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// Bring `hotline_store_errors_total` to `total`, a running count kept by the store
    /// (`StoreStatus::errors`); a lower total than before is read as a counter reset, as in
    /// [`Self::set_sip`].
    pub fn set_store_errors(&self, total: u64) {
        let _guard = self
            .sip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        advance(&self.store_errors, total);
    }

    /// The media plane's totals, as counters (see [`Self::set_sip`] for how totals advance
    /// them) and gauges.
    pub fn set_media(&self, s: &MediaSnapshot) {
        let _guard = self
            .sip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let m = &self.media;
        advance(&m.rtp.with_label_values(&["in"]), s.packets_in);
        advance(&m.rtp.with_label_values(&["out"]), s.packets_out);
        advance(&m.rtcp, s.rtcp_in);
        for (reason, n) in [
            ("not_rtp", s.dropped_not_rtp),
            ("payload_type", s.dropped_payload_type),
            ("foreign_source", s.dropped_foreign_source),
            ("send_error", s.send_errors),
        ] {
            advance(&m.dropped.with_label_values(&[reason]), n);
        }
        advance(&m.bad_events, s.bad_telephone_event);
        advance(&m.bind_failures, s.bind_failures);
        for (status, n) in &s.sdp_refused {
            advance(&m.sdp_refused.with_label_values(&[&status.to_string()]), *n);
        }
        m.calls.set(level(s.calls));
        m.legs.set(level(s.legs));
    }

    /// Create every `hotline_transfers_total` series of these targets at 0, so each
    /// sub-platform's figures exist (and `rate()` works) before its first transfer.
    pub fn declare_transfer_targets<'a>(&self, targets: impl IntoIterator<Item = &'a str>) {
        for t in targets {
            for outcome in TRANSFER_OUTCOMES {
                self.media.transfers.with_label_values(&[t, outcome]);
            }
        }
    }

    /// Create both `hotline_ticket_pushes_total` series of these targets (those with a
    /// `ticket_url`) at 0, so a ticket system's first failure shows in `rate()`, alerts and
    /// dashboards like every later one.
    pub fn declare_ticket_targets<'a>(&self, targets: impl IntoIterator<Item = &'a str>) {
        for t in targets {
            for outcome in TICKET_OUTCOMES {
                self.media.tickets.with_label_values(&[t, outcome]);
            }
        }
    }

    /// A ticket push to `target` ended with `outcome` ("delivered" or "failed").
    pub fn ticket_push(&self, target: &str, outcome: &str) {
        self.media
            .tickets
            .with_label_values(&[target, outcome])
            .inc();
    }

    /// A transfer to `target` ended with `outcome`.
    pub fn transfer(&self, target: &str, outcome: &str) {
        self.media
            .transfers
            .with_label_values(&[target, outcome])
            .inc();
    }

    /// A key was received (RFC 4733 or SIP INFO).
    pub fn dtmf_digit(&self) {
        self.media.digits.inc();
    }

    /// A call was hung up for want of RTP.
    pub fn media_no_rtp(&self) {
        self.media.no_rtp.inc();
    }

    /// Records produced and not yet committed.
    pub fn set_store_pending(&self, n: u64) {
        self.store_pending.set(level(n));
    }
}

fn set_or_remove(vec: &GaugeVec, labels: &[&str], ratio: Option<f64>) {
    match ratio {
        Some(r) => vec.with_label_values(labels).set(r),
        // Err only means the series was not there: nothing to remove.
        None => {
            let _ = vec.remove_label_values(labels);
        }
    }
}

/// Bring `counter` to `total`: add the difference, or restart from `total` if it went down.
fn advance(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total >= now {
        counter.inc_by(total - now);
    } else {
        counter.reset();
        counter.inc_by(total);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// One sample line: metric name, labels, value.
    type Sample = (String, BTreeMap<String, String>, f64);

    /// Parse the sample lines of the text format (comments skipped). Label values here never
    /// contain `,`, `"` or `}`; the parser relies on that.
    fn samples(text: &str) -> Vec<Sample> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("sample has a value");
                let value: f64 = value.parse().expect("numeric value");
                let (name, labels) = match series.split_once('{') {
                    None => (series.to_string(), BTreeMap::new()),
                    Some((name, rest)) => {
                        let rest = rest.strip_suffix('}').expect("closed labels");
                        let labels = rest
                            .split(',')
                            .filter(|kv| !kv.is_empty())
                            .map(|kv| {
                                let (k, v) = kv.split_once('=').expect("label=value");
                                (k.to_string(), v.trim_matches('"').to_string())
                            })
                            .collect();
                        (name.to_string(), labels)
                    }
                };
                (name, labels, value)
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    /// The samples of one metric name, sorted by labels.
    fn family(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let mut v: Vec<_> = samples(text)
            .into_iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, v)| (l, v))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn value(text: &str, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
        let want = labels(pairs);
        samples(text)
            .into_iter()
            .find(|(n, l, _)| n == name && *l == want)
            .map(|(_, _, v)| v)
    }

    #[test]
    fn counters_follow_a_scripted_sequence_exactly() {
        let m = Metrics::new();
        let a = m.line("12345", "12345");
        let b = m.line("12349", "12345");
        for _ in 0..5 {
            a.offered();
        }
        a.answered(Duration::from_secs(4));
        a.answered(Duration::from_millis(15_000));
        a.abandoned(true);
        a.abandoned(false);
        a.abandoned(false);
        a.timed_out();
        a.transferred();
        b.offered();
        let text = m.render();

        let a_l = [("line", "12345"), ("queue", "12345")];
        let b_l = [("line", "12349"), ("queue", "12345")];
        assert_eq!(
            family(&text, "hotline_calls_offered_total"),
            vec![(labels(&a_l), 5.0), (labels(&b_l), 1.0)]
        );
        assert_eq!(
            family(&text, "hotline_calls_answered_total"),
            vec![(labels(&a_l), 2.0), (labels(&b_l), 0.0)]
        );
        assert_eq!(
            family(&text, "hotline_calls_abandoned_total"),
            vec![
                (labels(&[a_l[0], a_l[1], ("short", "false")]), 2.0),
                (labels(&[a_l[0], a_l[1], ("short", "true")]), 1.0),
                (labels(&[b_l[0], b_l[1], ("short", "false")]), 0.0),
                (labels(&[b_l[0], b_l[1], ("short", "true")]), 0.0),
            ]
        );
        assert_eq!(
            family(&text, "hotline_calls_timed_out_total"),
            vec![(labels(&a_l), 1.0), (labels(&b_l), 0.0)]
        );
        assert_eq!(
            family(&text, "hotline_calls_transferred_total"),
            vec![(labels(&a_l), 1.0), (labels(&b_l), 0.0)]
        );
        assert!(text.contains("# TYPE hotline_calls_offered_total counter"));
        assert!(text.contains("# HELP hotline_calls_offered_total "));
        assert!(text.contains("docs/metrics.md"));
    }

    #[test]
    fn wait_histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        let a = m.line("12345", "12345");
        // 0.5 s, 15 s exactly (le="15" is "answered within" 15 s), 15.001 s, 700 s (past the
        // last bound: only +Inf).
        for ms in [500, 15_000, 15_001, 700_000] {
            a.answered(Duration::from_millis(ms));
        }
        let text = m.render();
        let lq = [("line", "12345"), ("queue", "12345")];
        let bucket = |le: &str| {
            value(
                &text,
                "hotline_wait_seconds_bucket",
                &[lq[0], lq[1], ("le", le)],
            )
        };
        let expected = [
            ("1", 1.0),
            ("2", 1.0),
            ("3", 1.0),
            ("5", 1.0),
            ("8", 1.0),
            ("10", 1.0),
            ("15", 2.0),
            ("20", 3.0),
            ("30", 3.0),
            ("45", 3.0),
            ("60", 3.0),
            ("90", 3.0),
            ("120", 3.0),
            ("180", 3.0),
            ("300", 3.0),
            ("600", 3.0),
            ("+Inf", 4.0),
        ];
        for (le, n) in expected {
            assert_eq!(bucket(le), Some(n), "bucket le={le}");
        }
        assert_eq!(family(&text, "hotline_wait_seconds_bucket").len(), 17);
        assert_eq!(value(&text, "hotline_wait_seconds_count", &lq), Some(4.0));
        let sum = value(&text, "hotline_wait_seconds_sum", &lq).expect("sum");
        assert!((sum - 730.501).abs() < 1e-9, "{sum}");
        assert!(text.contains("# TYPE hotline_wait_seconds histogram"));
    }

    #[test]
    fn undefined_ratios_are_omitted_and_come_back_when_defined() {
        let m = Metrics::new();
        let name = "hotline_answer_ratio";
        let within = "hotline_answered_within_15s_ratio";
        m.set_answer_ratio("12345", "12345", "1h", Some(0.98));
        m.set_answer_ratio("12345", "12345", "15m", Some(1.0));
        m.set_answered_within_ratio("12345", "12345", "today", Some(0.5));
        let text = m.render();
        let l = |w| [("line", "12345"), ("queue", "12345"), ("window", w)];
        assert_eq!(value(&text, name, &l("1h")), Some(0.98));
        assert_eq!(value(&text, name, &l("15m")), Some(1.0));
        assert_eq!(value(&text, within, &l("today")), Some(0.5));

        m.set_answer_ratio("12345", "12345", "1h", None);
        m.set_answered_within_ratio("12345", "12345", "today", None);
        // Removing a series that was never set is a no-op.
        m.set_answer_ratio("12349", "12345", "24h", None);
        let text = m.render();
        assert_eq!(value(&text, name, &l("1h")), None);
        assert_eq!(family(&text, name), vec![(labels(&l("15m")), 1.0)]);
        assert!(family(&text, within).is_empty());
        assert!(!text.contains("NaN"));

        m.set_answer_ratio("12345", "12345", "1h", Some(0.9));
        assert_eq!(value(&m.render(), name, &l("1h")), Some(0.9));
    }

    #[test]
    fn gauges_take_the_last_value_set() {
        let m = Metrics::new();
        m.set_calls_waiting("12345", "12345", 7);
        m.set_seats("intake", "ready", 3);
        m.set_seats("intake", "talking", 2);
        m.set_seats("intake", "ready", 0);
        m.set_surge_open(true);
        m.set_store_pending(12);
        m.store_error();
        m.store_error();
        assert_eq!(
            value(&m.render(), "hotline_store_errors_total", &[]),
            Some(2.0)
        );
        m.set_store_errors(5);
        let text = m.render();
        assert_eq!(
            value(
                &text,
                "hotline_calls_waiting",
                &[("line", "12345"), ("queue", "12345")]
            ),
            Some(7.0)
        );
        assert_eq!(
            family(&text, "hotline_seats"),
            vec![
                (labels(&[("pool", "intake"), ("state", "ready")]), 0.0),
                (labels(&[("pool", "intake"), ("state", "talking")]), 2.0),
            ]
        );
        assert_eq!(value(&text, "hotline_surge_open", &[]), Some(1.0));
        assert_eq!(
            value(&text, "hotline_store_pending_records", &[]),
            Some(12.0)
        );
        assert_eq!(value(&text, "hotline_store_errors_total", &[]), Some(5.0));
        m.set_surge_open(false);
        assert_eq!(value(&m.render(), "hotline_surge_open", &[]), Some(0.0));
    }

    #[test]
    fn declared_transfer_and_ticket_series_exist_at_zero() {
        let m = Metrics::new();
        m.declare_transfer_targets(["renshe", "gongjijin"]);
        m.declare_ticket_targets(["renshe"]);
        m.transfer("renshe", "busy");
        let text = m.render();
        let transfers = family(&text, "hotline_transfers_total");
        assert_eq!(transfers.len(), 2 * TRANSFER_OUTCOMES.len());
        assert_eq!(transfers.iter().map(|(_, v)| v).sum::<f64>(), 1.0);
        assert_eq!(
            family(&text, "hotline_ticket_pushes_total"),
            vec![
                (
                    labels(&[("outcome", "delivered"), ("target", "renshe")]),
                    0.0
                ),
                (labels(&[("outcome", "failed"), ("target", "renshe")]), 0.0),
            ]
        );
        m.ticket_push("renshe", "failed");
        assert_eq!(
            value(
                &m.render(),
                "hotline_ticket_pushes_total",
                &[("target", "renshe"), ("outcome", "failed")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn sip_totals_are_counters_that_follow_snapshots() {
        let m = Metrics::new();
        let mut s = SipSnapshot {
            requests: 10,
            responses: 8,
            rejected: 2,
            dropped: 1,
            transmitted: 30,
            calls_started: 4,
            active_calls: 3,
            active_transactions: 9,
            tls_handshake_failures_in: 1,
            tls_handshake_failures_out: 2,
        };
        m.set_sip(&s);
        s.requests = 15;
        s.active_calls = 1;
        m.set_sip(&s);
        let text = m.render();
        let v = |n| value(&text, n, &[]);
        assert_eq!(v("hotline_sip_requests_total"), Some(15.0));
        assert_eq!(v("hotline_sip_responses_total"), Some(8.0));
        assert_eq!(v("hotline_sip_rejected_total"), Some(2.0));
        assert_eq!(v("hotline_sip_dropped_total"), Some(1.0));
        assert_eq!(v("hotline_sip_transmitted_total"), Some(30.0));
        assert_eq!(v("hotline_sip_calls_started_total"), Some(4.0));
        assert_eq!(v("hotline_sip_active_calls"), Some(1.0));
        assert_eq!(v("hotline_sip_active_transactions"), Some(9.0));
        let tls = |d| {
            value(
                &text,
                "hotline_sip_tls_handshake_failures_total",
                &[("direction", d)],
            )
        };
        assert_eq!((tls("in"), tls("out")), (Some(1.0), Some(2.0)));
        assert!(text.contains("# TYPE hotline_sip_requests_total counter"));
        assert!(text.contains("# TYPE hotline_sip_active_calls gauge"));
        // A gateway that restarted from zero: the counter resets to the new total.
        s.requests = 2;
        m.set_sip(&s);
        assert_eq!(
            value(&m.render(), "hotline_sip_requests_total", &[]),
            Some(2.0)
        );
    }

    #[test]
    fn every_documented_family_is_exported_with_its_type() {
        let m = Metrics::new();
        let _ = m.line("12345", "12345");
        m.set_answer_ratio("12345", "12345", "1h", Some(1.0));
        m.set_answered_within_ratio("12345", "12345", "1h", Some(1.0));
        m.set_calls_waiting("12345", "12345", 0);
        m.set_seats("intake", "ready", 0);
        let text = m.render();
        let expected = [
            ("hotline_calls_offered_total", "counter"),
            ("hotline_calls_answered_total", "counter"),
            ("hotline_calls_abandoned_total", "counter"),
            ("hotline_calls_timed_out_total", "counter"),
            ("hotline_calls_transferred_total", "counter"),
            ("hotline_wait_seconds", "histogram"),
            ("hotline_answer_ratio", "gauge"),
            ("hotline_answered_within_15s_ratio", "gauge"),
            ("hotline_calls_waiting", "gauge"),
            ("hotline_seats", "gauge"),
            ("hotline_surge_open", "gauge"),
            ("hotline_sip_requests_total", "counter"),
            ("hotline_sip_responses_total", "counter"),
            ("hotline_sip_rejected_total", "counter"),
            ("hotline_sip_dropped_total", "counter"),
            ("hotline_sip_transmitted_total", "counter"),
            ("hotline_sip_calls_started_total", "counter"),
            ("hotline_sip_active_calls", "gauge"),
            ("hotline_sip_active_transactions", "gauge"),
            ("hotline_sip_tls_handshake_failures_total", "counter"),
            ("hotline_sip_overload_refused_total", "counter"),
            ("hotline_sip_flood_dropped_total", "counter"),
            ("hotline_sip_blocked_messages_total", "counter"),
            ("hotline_sip_source_blocks_total", "counter"),
            ("hotline_sip_blocked_sources", "gauge"),
            ("hotline_store_errors_total", "counter"),
            ("hotline_store_pending_records", "gauge"),
            ("hotline_rtp_packets_total", "counter"),
            ("hotline_rtp_dropped_total", "counter"),
            ("hotline_rtcp_packets_total", "counter"),
            ("hotline_dtmf_malformed_total", "counter"),
            ("hotline_dtmf_digits_total", "counter"),
            ("hotline_media_no_rtp_total", "counter"),
            ("hotline_media_bind_failures_total", "counter"),
            ("hotline_sdp_refused_total", "counter"),
            ("hotline_media_calls", "gauge"),
            ("hotline_media_legs", "gauge"),
        ];
        for (name, kind) in expected {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} {kind}"
            );
        }
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(types, expected.len(), "no undocumented family");
        let docs = include_str!("../../../docs/metrics.md");
        for (name, _) in expected {
            assert!(docs.contains(&format!("`{name}`")), "{name} documented");
        }
    }
}
