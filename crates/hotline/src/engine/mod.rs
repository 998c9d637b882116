//! The platform core: the SIP gateway, the dial plan and the call distributor joined into one
//! sans-IO state machine, plus the tokio driver that owns it.
//!
//! [`Engine`] takes `now` and what arrived (a SIP message, a timer, an API command) and leaves
//! behind SIP messages to send ([`Engine::poll_transmit`]) and facts to store
//! ([`Engine::poll_record`]). Its pieces talk in one direction each:
//!
//! - gateway events (a call arrived, a seat answered, a caller hung up) run the dial plan and
//!   become distributor inputs;
//! - distributor outputs (ring this seat, this call left the queue) become gateway commands;
//! - everything that happened becomes a [`Record`] and a metric.
//!
//! [`driver`] wraps it for [`sip_gateway::shell::run`] with the store and the HTTP commands.

pub mod audio;
pub mod driver;
pub mod ports;
mod router;
mod supervise;
mod transfer;
mod views;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd_core::{
    Acd, CallId, Exit, Input, LeaveReason, Line, NotReadyReason, OfferFailure, Output, Pool,
    Priority, QueueId, SeatId, SeatRequest, SeatState, TopicId,
};
use ivr_flows::{Action, DialPlan, Feature};
use sip_gateway::b2bua::{EndCause, Event, Gateway, OfferError, SeatFailure, Side, Transmit};
use sip_gateway::Peer;

use crate::api::{ApiError, SeatStateRequest};
use crate::config::Plan;
use crate::metrics::{LineMetrics, Metrics};
use crate::privacy::CallerNumber;
use crate::record::{CallOutcome, QueueEventKind, Record, UnixMs};
pub use router::PlatformRouter;

/// Offset of Beijing time from UTC: the calendar day of the figures starts at local midnight.
const LOCAL_OFFSET_SECS: i64 = 8 * 3600;

/// Maps the monotonic clock the cores run on to Unix milliseconds for records.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    base: Instant,
    base_ms: UnixMs,
}

impl WallClock {
    /// `base` and `base_ms` name the same moment.
    pub const fn new(base: Instant, base_ms: UnixMs) -> Self {
        Self { base, base_ms }
    }

    /// Unix milliseconds at `now`.
    pub fn ms(&self, now: Instant) -> UnixMs {
        let since = now.saturating_duration_since(self.base).as_millis();
        self.base_ms
            .saturating_add(i64::try_from(since).unwrap_or(i64::MAX))
    }

    /// The instant of the last local (UTC+8) midnight at or before `base`.
    fn local_midnight(&self) -> Instant {
        let local_ms = self.base_ms + LOCAL_OFFSET_SECS * 1000;
        let since_midnight = u64::try_from(local_ms.rem_euclid(86_400_000)).unwrap_or(0);
        self.base
            .checked_sub(Duration::from_millis(since_midnight))
            .unwrap_or(self.base)
    }
}

/// Static facts about a seat from the plan.
#[derive(Debug)]
struct SeatMeta {
    id: SeatId,
    name: String,
    pool: Pool,
    skills: Vec<String>,
    /// Take the seat out of routing when its current call ends (its phone unregistered).
    logout_after_call: bool,
    /// The distributor was told this seat is not ready because it is on an internal call;
    /// it goes ready again when that call ends.
    internal_hold: bool,
}

/// A queue from the plan.
#[derive(Debug)]
struct QueueMeta {
    name: String,
    lines: Vec<String>,
    strategy: String,
    metrics: HashMap<String, LineMetrics>,
}

/// One call the engine knows, keyed by the gateway's call id.
#[derive(Debug)]
struct CallRec {
    /// The engine's id: the distributor's `CallId` and the records' call id.
    id: u64,
    line: String,
    started: Instant,
    /// The queue it waits (or waited) in.
    queue: Option<QueueId>,
    topic: Option<String>,
    /// When it entered the queue.
    entered: Option<Instant>,
    /// The seat ringing or talking, and the leg number of that attempt.
    seat: Option<(SeatId, u32)>,
    legs: u32,
    answered: Option<Instant>,
    /// The seat that answered.
    answered_by: Option<SeatId>,
    /// A seat dialled directly (an internal call), outside the distributor.
    direct: bool,
    /// A dial-plan flow waiting for its notice to finish playing.
    flow: Option<ivr_flows::FlowRun>,
    /// When the next position / wait notice is due.
    announce_at: Option<Instant>,
    /// The post-call survey.
    survey: audio::Survey,
    /// The seat's conversation is over (the caller stays for the survey): when.
    seat_done: Option<Instant>,
    /// The seat's last keys, for in-call feature codes.
    keys: String,
    /// The caller's number (masked in `Debug`).
    caller: CallerNumber,
    /// A call another platform transferred to us: its target entry and context.
    origin: Option<transfer::Origin>,
    /// Ended because a leg sent no RTP.
    no_rtp: bool,
    /// Answered by the platform for a confirmation: hang up when it has played.
    hang_up_after_play: bool,
    /// The seat holds the call (the caller hears music).
    held: bool,
    /// The transfer under way.
    transfer: Option<transfer::Transfer>,
    /// The transfer that completed (the target now talks with the caller).
    completed_transfer: Option<transfer::Transfer>,
    /// Transfers started so far.
    transfers: u32,
    /// The seat hears a cue; bridge it back to the caller when it has played.
    rebridge_seat: bool,
}

/// The platform core. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    gw: Gateway<PlatformRouter>,
    acd: Acd,
    dial_plan: DialPlan,
    topics: Vec<String>,
    queues: Vec<QueueMeta>,
    line_queue: HashMap<u32, QueueId>,
    seats: Vec<SeatMeta>,
    seat_by_name: HashMap<String, usize>,
    seat_by_id: HashMap<u32, usize>,
    calls: HashMap<u64, CallRec>,
    /// Engine call id → gateway call id.
    by_id: HashMap<u64, u64>,
    next_id: u64,
    reasons: Vec<String>,
    /// Who caused the seat changes being recorded now ("api", "phone", "registration").
    source: &'static str,
    records: VecDeque<Record>,
    metrics: Arc<Metrics>,
    clock: WallClock,
    ring_timeout: Duration,
    answer_within: Duration,
    target_answer_rate: f64,
    /// Calls the platform answered itself, to hang up when their confirmation has played.
    hangups: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    /// Prompts, waiting audio and survey, once media is anchored ([`Engine::with_audio`]).
    audio: Option<audio::Audio>,
    /// Orders for the media plane.
    media: VecDeque<audio::MediaCommand>,
    audio_timers:
        std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64, audio::AudioTimer)>>,
    /// Transfer targets of the plan.
    targets: Vec<crate::config::TransferTarget>,
    /// A seat's consultation call (gateway id) → the call it consults about (attended
    /// transfer from the seat's phone).
    consults: HashMap<u64, u64>,
    /// The seat's transfer keys.
    transfer_codes: crate::config::TransferPlan,
    /// Tickets to push (工单推送), for the driver.
    tickets: VecDeque<(String, crate::ticket::Ticket)>,
    /// The last opening or closing of the surge pool, for the wallboard.
    surge_change: Option<crate::api::SurgeReasonView>,
    /// Ended transfers per target key and outcome since start-up (`hotline_transfers_total`
    /// kept where the views can read it).
    transfer_counts: HashMap<String, HashMap<&'static str, u64>>,
    /// Lines of the plan with their names, for the wallboard.
    lines: Vec<crate::api::LineView>,
}

/// The confirmations a seat phone hears after a feature code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// The change was made: one short high beep.
    Done,
    /// The change was impossible: three short low beeps.
    Refused,
}

impl Cue {
    /// How long the cue plays.
    pub const fn duration(self) -> Duration {
        match self {
            Self::Done => Duration::from_millis(400),
            Self::Refused => Duration::from_millis(750),
        }
    }

    /// The cue's sound: one 1 kHz beep, or three short 400 Hz beeps.
    pub fn tone(self) -> media::tone::Tone {
        use media::tone::{Level, Tone};
        match self {
            Self::Done => Tone::confirm().with_length(self.duration()),
            Self::Refused => Tone::new(400.0, Level::Dbm0(-10.0))
                .with_cadence(Duration::from_millis(150), Duration::from_millis(150))
                .with_length(self.duration()),
        }
    }
}

impl Engine {
    /// Build the engine for `plan` around a gateway whose router is a [`PlatformRouter`] over
    /// the same plan. Call ids start at `first_call_id` (above every id already stored);
    /// `ring_timeout` applies to queues that set none.
    pub fn new(
        plan: &Plan,
        gw: Gateway<PlatformRouter>,
        metrics: Arc<Metrics>,
        first_call_id: u64,
        clock: WallClock,
        ring_timeout: Duration,
    ) -> Result<Self, String> {
        let mut cfg = plan.acd.clone();
        cfg.day_start = Some(clock.local_midnight());
        let acd = Acd::new(cfg.clone()).map_err(|e| format!("{}: {e}", plan.source))?;
        let queues: Vec<QueueMeta> = cfg
            .queues
            .iter()
            .map(|q| QueueMeta {
                name: q.name.clone(),
                lines: q.lines.iter().map(|l| l.0.to_string()).collect(),
                strategy: views::strategy_name(q.strategy).to_owned(),
                metrics: q
                    .lines
                    .iter()
                    .map(|l| {
                        let line = l.0.to_string();
                        let m = metrics.line(&line, &q.name);
                        (line, m)
                    })
                    .collect(),
            })
            .collect();
        let mut line_queue = HashMap::new();
        for (i, q) in cfg.queues.iter().enumerate() {
            let qid = QueueId(u16::try_from(i).map_err(|_| "too many queues".to_owned())?);
            for l in &q.lines {
                line_queue.insert(l.0, qid);
            }
        }
        let seats: Vec<SeatMeta> = cfg
            .seats
            .iter()
            .map(|s| SeatMeta {
                id: s.id,
                name: s.id.0.to_string(),
                pool: s.pool,
                skills: s
                    .skills
                    .iter()
                    .map(|k| {
                        let topic = cfg
                            .topics
                            .get(usize::from(k.topic.0))
                            .map_or("?", String::as_str);
                        format!("{topic}:{}", k.level)
                    })
                    .collect(),
                logout_after_call: false,
                internal_hold: false,
            })
            .collect();
        let seat_by_name = seats
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let seat_by_id = seats.iter().enumerate().map(|(i, s)| (s.id.0, i)).collect();
        metrics.declare_transfer_targets(plan.targets.iter().map(|t| t.key.as_str()));
        metrics.declare_ticket_targets(
            plan.targets
                .iter()
                .filter(|t| t.ticket_url.is_some())
                .map(|t| t.key.as_str()),
        );
        Ok(Self {
            gw,
            acd,
            dial_plan: plan.dial_plan.clone(),
            topics: cfg.topics.clone(),
            queues,
            line_queue,
            seats,
            seat_by_name,
            seat_by_id,
            calls: HashMap::new(),
            by_id: HashMap::new(),
            next_id: first_call_id.max(1),
            reasons: Vec::new(),
            source: "distributor",
            records: VecDeque::new(),
            metrics,
            clock,
            ring_timeout,
            answer_within: plan.service.answer_within,
            target_answer_rate: plan.service.answer_rate,
            hangups: std::collections::BinaryHeap::new(),
            audio: None,
            media: VecDeque::new(),
            audio_timers: std::collections::BinaryHeap::new(),
            targets: plan.targets.clone(),
            consults: HashMap::new(),
            transfer_codes: plan.transfers.clone(),
            tickets: VecDeque::new(),
            surge_change: None,
            transfer_counts: HashMap::new(),
            lines: plan
                .lines
                .iter()
                .map(|l| crate::api::LineView {
                    number: l.number.clone(),
                    name: l.name.clone(),
                    queue: l.queue.clone(),
                })
                .collect(),
        })
    }

    /// Play `plan`'s prompts, waiting audio and survey to callers. Only for a gateway built
    /// [`with_anchor`](sip_gateway::Gateway::with_anchor), whose media the driver carries
    /// out from [`Engine::poll_media`].
    #[must_use]
    pub fn with_audio(mut self, plan: &Plan) -> Self {
        self.audio = Some(audio::Audio {
            prompts: Arc::clone(&plan.prompts),
            waiting: plan
                .lines
                .iter()
                .map(|l| (l.number.clone(), l.waiting.clone()))
                .collect(),
            survey: plan.survey.clone(),
        });
        self
    }

    /// A graceful stop began: new calls are refused (503), calls in progress go on.
    pub fn stop_admitting(&mut self) {
        self.gw.stop_admitting();
    }

    /// Calls in progress in the gateway.
    pub fn active_calls(&self) -> usize {
        self.gw.active_calls()
    }

    /// End every call in progress (the graceful stop's limit passed); they are recorded as
    /// ended by the platform.
    pub fn end_all(&mut self, now: Instant) {
        self.gw.terminate_all(now);
        self.pump(now);
    }

    /// How long the next datagram waited in the receive queue (overload control).
    pub fn note_receive_delay(&mut self, delay: Duration) {
        self.gw.note_receive_delay(delay);
    }

    /// Feed one SIP message.
    pub fn handle_message(&mut self, now: Instant, from: Peer, bytes: &[u8]) {
        self.gw.handle_message(now, from, bytes);
        self.pump(now);
    }

    /// The shell could not reach `peer`, or a TLS handshake with it failed: what the gateway
    /// was waiting for from it fails now (e.g. a transfer, as unreachable).
    pub fn handle_transport_failure(
        &mut self,
        now: Instant,
        peer: Peer,
        why: sip_gateway::TransportFailure,
    ) {
        self.gw.handle_transport_failure(now, peer, why);
        self.pump(now);
    }

    /// Fire the gateway's and the distributor's timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.gw.poll_timeout().is_some_and(|t| t <= now) {
            self.gw.handle_timeout(now);
        }
        if self.acd.poll_timeout().is_some_and(|t| t <= now) {
            self.acd.handle_timeout(now);
        }
        while let Some(&std::cmp::Reverse((at, call))) = self.hangups.peek() {
            if at > now {
                break;
            }
            self.hangups.pop();
            self.gw.hang_up_locally(now, call);
        }
        while let Some(&std::cmp::Reverse((at, call, timer))) = self.audio_timers.peek() {
            if at > now {
                break;
            }
            self.audio_timers.pop();
            self.on_audio_timer(now, at, call, timer);
        }
        self.pump(now);
    }

    /// When [`Engine::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.gw.poll_timeout(),
            self.acd.poll_timeout(),
            self.hangups.peek().map(|r| r.0 .0),
            self.audio_timers.peek().map(|r| r.0 .0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next SIP message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.gw.poll_transmit()
    }

    /// The next fact to store, in the order they happened.
    pub fn poll_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }

    /// The gateway (read only), e.g. for its counters.
    pub const fn gateway(&self) -> &Gateway<PlatformRouter> {
        &self.gw
    }

    /// Change a seat's state on behalf of the API or the seat's phone.
    pub fn set_seat_state(
        &mut self,
        now: Instant,
        seat: &str,
        request: &SeatStateRequest,
        source: &'static str,
    ) -> Result<crate::api::SeatView, ApiError> {
        let idx = *self
            .seat_by_name
            .get(seat)
            .ok_or_else(|| ApiError::not_found("unknown_seat", format!("no seat {seat:?}")))?;
        let id = self.seats[idx].id;
        let req = match request {
            SeatStateRequest::Ready { .. } => {
                if self.gw.registrar().lookup(now, seat).is_none() {
                    return Err(ApiError::conflict(
                        "not_registered",
                        format!(
                            "seat {seat} has no registered phone; register it before going ready"
                        ),
                    ));
                }
                SeatRequest::Ready
            }
            SeatStateRequest::NotReady { reason } => {
                SeatRequest::NotReady(self.reason_code(reason.as_deref()))
            }
            SeatStateRequest::LoggedOut { .. } => SeatRequest::LoggedOut,
        };
        self.source = source;
        let result = self.acd.handle(
            now,
            Input::SeatState {
                seat: id,
                state: req,
            },
        );
        self.pump(now);
        self.source = "distributor";
        result
            .map_err(|e| ApiError::conflict("invalid_transition", format!("seat {seat}: {e}")))?;
        self.seat_view(now, idx)
            .ok_or_else(|| ApiError::not_found("unknown_seat", format!("no seat {seat:?}")))
    }

    /// Open or close the surge pool by hand.
    pub fn set_surge(&mut self, now: Instant, open: bool) -> bool {
        self.source = "api";
        let _ = self.acd.handle(now, Input::SurgeManual { open });
        self.pump(now);
        self.source = "distributor";
        self.acd.surge_open()
    }

    fn reason_code(&mut self, reason: Option<&str>) -> NotReadyReason {
        match reason.unwrap_or("break") {
            "break" => NotReadyReason::Break,
            "meal" => NotReadyReason::Meal,
            "training" => NotReadyReason::Training,
            "meeting" => NotReadyReason::Meeting,
            other => {
                let i = self
                    .reasons
                    .iter()
                    .position(|r| r == other)
                    .unwrap_or_else(|| {
                        self.reasons.push(other.to_owned());
                        self.reasons.len() - 1
                    });
                NotReadyReason::Other(u16::try_from(i).unwrap_or(u16::MAX))
            }
        }
    }

    /// Drain gateway events and distributor outputs until both are quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(event) = self.gw.poll_event() {
                busy = true;
                self.on_event(now, event);
            }
            while let Some(out) = self.acd.poll_output() {
                busy = true;
                self.on_output(now, out);
            }
            if !busy {
                break;
            }
        }
    }

    fn record(&mut self, r: Record) {
        self.records.push_back(r);
    }

    /// Record a queue event of the gateway call `call`, with its id, line and queue.
    fn queue_event(
        &mut self,
        now: Instant,
        call: u64,
        kind: QueueEventKind,
        seat: Option<SeatId>,
        wait: Option<Duration>,
    ) {
        let Some(rec) = self.calls.get(&call) else {
            return;
        };
        let r = Record::Queue {
            call: rec.id,
            at: self.clock.ms(now),
            queue: self.queue_name(rec.queue),
            line: rec.line.clone(),
            seat: seat.map(|s| s.0),
            kind,
            wait_ms: wait.map(ms),
        };
        self.record(r);
    }

    fn line_metrics(&self, queue: QueueId, line: &str) -> Option<&LineMetrics> {
        self.queues.get(usize::from(queue.0))?.metrics.get(line)
    }

    fn queue_name(&self, queue: Option<QueueId>) -> String {
        queue
            .and_then(|q| self.queues.get(usize::from(q.0)))
            .map(|q| q.name.clone())
            .unwrap_or_default()
    }

    // ---- gateway events -------------------------------------------------------------------

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::CallStarted {
                call,
                dialed,
                caller,
                from_seat,
                source,
                context,
            } => {
                if let Some(seat) = &from_seat {
                    if self.seat_dialled_target(now, call, &dialed, seat) {
                        return;
                    }
                }
                let origin = self.origin_of(source, &context);
                self.on_call_started(now, call, dialed, caller, from_seat, origin);
            }
            Event::SeatRinging { .. } => {}
            Event::CallAnswered { call, seat } => self.on_answered(now, call, &seat),
            Event::OfferFailed { call, seat, why } => self.on_offer_failed(now, call, &seat, why),
            Event::CallEnded { call, cause } => self.on_call_ended(now, call, cause),
            Event::SeatRegistered { seat } => tracing::info!(seat, "seat registered"),
            Event::SeatUnregistered { seat } => self.on_unregistered(now, &seat),
            Event::SeatHungUp { call, .. } => self.on_seat_hung_up(now, call),
            Event::Dtmf { call, side, digit } => self.on_digit(now, call, side, digit, true),
            Event::TransferRinging { call } => self.on_transfer_ringing(now, call),
            Event::TransferAnswered { call } => self.on_transfer_answered(now, call),
            Event::TransferFailed { call, why } => self.on_transfer_failed(now, call, why),
            Event::TransferEnded { call } => self.on_transfer_ended(now, call),
            Event::Refer {
                call,
                refer,
                target,
                consult,
            } => self.on_refer(now, call, refer, &target, consult),
        }
    }

    fn on_call_started(
        &mut self,
        now: Instant,
        call: u64,
        dialed: String,
        caller: String,
        from_seat: Option<String>,
        origin: Option<transfer::Origin>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.clock.ms(now);
        let caller_number = CallerNumber::new(caller.clone());
        // Masked: the log keeps what an operator needs to match a complaint to a call.
        tracing::debug!(call = id, line = %dialed, caller = %caller_number, "call started");
        self.record(Record::CallStarted {
            call: id,
            at,
            line: dialed.clone(),
            caller,
        });
        let direct = self.seat_by_name.contains_key(&dialed);
        self.calls.insert(
            call,
            CallRec {
                id,
                line: dialed.clone(),
                started: now,
                queue: None,
                topic: None,
                entered: None,
                seat: None,
                legs: 0,
                answered: None,
                answered_by: None,
                direct,
                flow: None,
                announce_at: None,
                survey: audio::Survey::NotAsked,
                seat_done: None,
                keys: String::new(),
                caller: caller_number,
                origin,
                no_rtp: false,
                hang_up_after_play: false,
                held: false,
                transfer: None,
                completed_transfer: None,
                transfers: 0,
                rebridge_seat: false,
            },
        );
        self.by_id.insert(id, call);
        if direct {
            // An internal call to a seat's number: the router rang it already.
            if let Some(&i) = self.seat_by_name.get(&dialed) {
                let seat = self.seats[i].id;
                self.open_leg(now, call, seat);
                self.internal_hold(now, i, true);
            }
            return;
        }
        let run = self.dial_plan.start(&dialed, from_seat.as_deref());
        self.run_flow(now, call, run, false);
    }

    /// Carry out a flow's actions; a notice that plays parks the flow until it has played
    /// (`resumed`: it just did).
    fn run_flow(&mut self, now: Instant, call: u64, mut run: ivr_flows::FlowRun, resumed: bool) {
        if resumed {
            run.prompt_done();
        }
        while let Some(action) = run.poll_action() {
            match action {
                Action::Play { prompt } => {
                    if self.play_notice(now, call, &prompt) {
                        if let Some(rec) = self.calls.get_mut(&call) {
                            rec.flow = Some(run);
                        }
                        return;
                    }
                    run.prompt_done();
                }
                Action::Enqueue {
                    line,
                    topic,
                    priority,
                } => {
                    let (topic, priority) = self.inbound_routing(call, topic, priority);
                    self.enqueue(now, call, &line, &topic, priority);
                }
                Action::Reject { status, reason } => {
                    self.gw.reject(now, call, status, reason);
                }
                Action::Feature { seat, feature } => self.feature(now, call, &seat, feature),
            }
        }
    }

    fn enqueue(&mut self, now: Instant, call: u64, line: &str, topic: &str, priority: u8) {
        let number: Option<u32> = line.parse().ok();
        let queue = number.and_then(|n| self.line_queue.get(&n).copied());
        let topic_id = self
            .topics
            .iter()
            .position(|t| t == topic)
            .and_then(|i| u16::try_from(i).ok())
            .map(TopicId);
        let (Some(number), Some(queue), Some(topic_id)) = (number, queue, topic_id) else {
            // The configuration is validated against the distributor; this is a bug guard.
            tracing::error!(
                line,
                topic,
                "dial plan names a line or topic the distributor lacks"
            );
            self.gw.reject(now, call, 500, "Server Internal Error");
            return;
        };
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        rec.queue = Some(queue);
        rec.topic = Some(topic.to_owned());
        rec.entered = Some(now);
        let id = rec.id;
        self.start_waiting(now, call);
        self.queue_event(now, call, QueueEventKind::Enter, None, None);
        if let Some(m) = self.line_metrics(queue, line) {
            m.offered();
        }
        let input = Input::CallArrived {
            call: CallId(id),
            line: Line(number),
            topic: topic_id,
            priority: Priority(priority),
        };
        if let Err(e) = self.acd.handle(now, input) {
            tracing::error!(call = id, error = %e, "distributor refused a call");
            self.gw.reject(now, call, 500, "Server Internal Error");
        }
    }

    /// A seat dialled a feature code: change its state, then answer and play a short cue
    /// (one beep: done; three low beeps: refused) and hang up. Without an announcement
    /// socket or a usable offer the phone is told by a final response instead
    /// (docs/decisions/0008-feature-codes.md): 603 with the new state as the reason phrase,
    /// 403 with the cause.
    fn feature(&mut self, now: Instant, call: u64, seat: &str, feature: Feature) {
        let request = match feature {
            Feature::Ready => SeatStateRequest::Ready { reason: None },
            Feature::NotReady => SeatStateRequest::NotReady { reason: None },
            Feature::LogOut => SeatStateRequest::LoggedOut { reason: None },
        };
        let (cue, status, reason) = match self.set_seat_state(now, seat, &request, "phone") {
            Ok(view) => (
                Cue::Done,
                603,
                format!("Seat {seat} {}", view.state.replace('_', " ")),
            ),
            Err(e) => (
                Cue::Refused,
                403,
                format!("Seat {seat} unchanged: {}", e.message),
            ),
        };
        if !self.play_and_hang_up(now, call, cue) {
            self.gw.reject(now, call, status, &reason);
        }
    }

    /// Answer `call` from its anchored port, play `cue` and hang up once it has played.
    /// False when the call's media is not ours to play to (not anchored, late offer).
    fn play_and_hang_up(&mut self, now: Instant, call: u64, cue: Cue) -> bool {
        if !self.gw.anchored_answer_possible(call) {
            return false;
        }
        let Some(sdp) = self.gw.anchored_answer(call) else {
            return false;
        };
        if !self.gw.answer_locally(now, call, &sdp) {
            return false;
        }
        if let Some(rec) = self.calls.get_mut(&call) {
            rec.hang_up_after_play = true;
        }
        self.order(audio::MediaCommand::Play {
            call,
            leg: media::call::LegId::CALLER,
            playlist: media::player::Playlist {
                clips: vec![media::player::Clip::Tone(cue.tone())],
                then: media::player::After::Silence,
            },
        });
        true
    }

    fn open_leg(&mut self, now: Instant, call: u64, seat: SeatId) {
        let at = self.clock.ms(now);
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        rec.legs += 1;
        rec.seat = Some((seat, rec.legs));
        let (id, leg) = (rec.id, rec.legs);
        self.record(Record::LegStarted {
            call: id,
            leg,
            at,
            seat: seat.0,
        });
    }

    fn close_leg(&mut self, now: Instant, call: u64, outcome: &str) {
        let at = self.clock.ms(now);
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((_, leg)) = rec.seat.take() else {
            return;
        };
        let (id, answered) = (rec.id, rec.answered);
        let answered_at = answered.map(|t| self.clock.ms(t));
        self.record(Record::LegEnded {
            call: id,
            leg,
            at,
            answered_at,
            outcome: outcome.to_owned(),
        });
    }

    fn on_answered(&mut self, now: Instant, call: u64, seat: &str) {
        let seat_id = self.seat_by_name.get(seat).map(|&i| self.seats[i].id);
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        rec.answered = Some(now);
        rec.answered_by = seat_id;
        let direct = rec.direct;
        self.on_bridged(call);
        if direct {
            return;
        }
        let Some(rec) = self.calls.get(&call) else {
            return;
        };
        let (id, line, queue) = (rec.id, rec.line.clone(), rec.queue);
        let wait = rec.entered.map(|e| now.saturating_duration_since(e));
        let Some(&i) = self.seat_by_name.get(seat) else {
            return;
        };
        let seat_id = self.seats[i].id;
        if let Err(e) = self.acd.handle(
            now,
            Input::OfferAnswered {
                call: CallId(id),
                seat: seat_id,
            },
        ) {
            tracing::error!(call = id, seat, error = %e, "distributor refused an answer");
        }
        self.queue_event(now, call, QueueEventKind::Connect, Some(seat_id), wait);
        if let (Some(q), Some(w)) = (queue, wait) {
            if let Some(m) = self.line_metrics(q, &line) {
                m.answered(w);
            }
        }
    }

    fn on_offer_failed(&mut self, now: Instant, call: u64, seat: &str, why: SeatFailure) {
        let (kind, outcome, failure) = match why {
            SeatFailure::NoAnswer => (
                QueueEventKind::RingNoAnswer,
                "no-answer".to_owned(),
                OfferFailure::NoAnswer,
            ),
            SeatFailure::Refused(status) => (
                QueueEventKind::Refused,
                format!("refused {status}"),
                OfferFailure::Rejected,
            ),
            SeatFailure::Unreachable => (
                QueueEventKind::Unreachable,
                "unreachable".to_owned(),
                OfferFailure::Unreachable,
            ),
        };
        self.close_leg(now, call, &outcome);
        let Some(rec) = self.calls.get(&call) else {
            return;
        };
        let id = rec.id;
        let Some(&i) = self.seat_by_name.get(seat) else {
            return;
        };
        let seat_id = self.seats[i].id;
        self.queue_event(now, call, kind, Some(seat_id), None);
        if let Err(e) = self.acd.handle(
            now,
            Input::OfferFailed {
                call: CallId(id),
                seat: seat_id,
                why: failure,
            },
        ) {
            tracing::error!(call = id, seat, error = %e, "distributor refused an offer failure");
        }
    }

    fn on_call_ended(&mut self, now: Instant, call: u64, cause: EndCause) {
        if let Some(about) = self.consults.remove(&call) {
            self.consult_ended(now, call, about);
            return;
        }
        self.transfer_call_ended(now, call);
        let Some(rec) = self.calls.get(&call) else {
            return;
        };
        let id = rec.id;
        let queued = rec.queue.is_some() && !rec.direct;
        if rec.seat_done.is_some() {
            // Kept for the survey: the seat's part was completed when it left.
            self.finish_surveyed(now, call);
            return;
        }
        let leg_outcome = if rec.no_rtp { "no-rtp" } else { "hung-up" };
        match cause {
            EndCause::HungUp { .. } | EndCause::NoAck | EndCause::Terminated
                if rec.answered.is_some() =>
            {
                let by_caller = matches!(cause, EndCause::HungUp { by: Side::Caller });
                self.close_leg(now, call, leg_outcome);
                if queued {
                    self.complete(now, call, by_caller);
                }
                self.finish(now, call, CallOutcome::Answered);
            }
            EndCause::CallerCancelled
            | EndCause::HungUp { .. }
            | EndCause::NoAck
            | EndCause::Terminated
                if queued =>
            {
                // The caller left while waiting or ringing: the distributor classes the
                // abandon (short or long) and reports it in CallLeft.
                self.close_leg(now, call, "cancelled");
                if let Err(e) = self
                    .acd
                    .handle(now, Input::CallAbandoned { call: CallId(id) })
                {
                    tracing::error!(call = id, error = %e, "distributor refused an abandon");
                    self.finish(now, call, CallOutcome::Abandoned);
                }
            }
            EndCause::Rejected { .. } if queued => {
                // A timeout exit: CallLeft{TimedOut} already finished the record.
                self.close_leg(now, call, "cancelled");
            }
            _ => {
                // Not queued: unknown numbers, feature codes, internal calls that failed.
                self.close_leg(now, call, "failed");
                self.finish(now, call, CallOutcome::Rejected);
            }
        }
    }

    /// The conversation of a queued call ended: the distributor frees the seat.
    fn complete(&mut self, now: Instant, call: u64, by_caller: bool) {
        let Some(rec) = self.calls.get(&call) else {
            return;
        };
        let (id, answered_by) = (rec.id, rec.answered_by);
        let seat = answered_by.map(|s| s.0);
        let kind = if by_caller {
            QueueEventKind::CompleteCaller
        } else {
            QueueEventKind::CompleteSeat
        };
        self.queue_event(now, call, kind, answered_by, None);
        if let Err(e) = self.acd.handle(now, Input::CallEnded { call: CallId(id) }) {
            tracing::error!(call = id, error = %e, "distributor refused a call end");
        }
        if let Some(s) = seat.and_then(|s| self.seat_by_id.get(&s).copied()) {
            if self.seats[s].logout_after_call {
                self.seats[s].logout_after_call = false;
                self.source = "registration";
                let _ = self.acd.handle(
                    now,
                    Input::SeatState {
                        seat: self.seats[s].id,
                        state: SeatRequest::LoggedOut,
                    },
                );
                self.source = "distributor";
            }
        }
    }

    /// Write the call's final record and forget it.
    fn finish(&mut self, now: Instant, call: u64, outcome: CallOutcome) {
        let survey = self.survey_answer(call);
        let Some(rec) = self.calls.remove(&call) else {
            return;
        };
        self.by_id.remove(&rec.id);
        if rec.direct {
            if let Some(&i) = self.seat_by_name.get(&rec.line) {
                self.internal_hold(now, i, false);
            }
        }
        let wait = rec
            .entered
            .map(|e| rec.answered.unwrap_or(now).saturating_duration_since(e));
        // Talk ends when the seat leaves; a survey after it is not talk.
        let talk = rec
            .answered
            .map(|a| rec.seat_done.unwrap_or(now).saturating_duration_since(a));
        let at = self.clock.ms(now);
        self.record(Record::CallEnded {
            call: rec.id,
            at,
            outcome,
            queue: rec.queue.map(|q| self.queue_name(Some(q))),
            topic: rec.topic,
            seat: rec.answered_by.map(|s| s.0),
            wait_ms: wait.map(ms),
            talk_ms: talk.map(ms),
            survey,
        });
    }

    /// A seat rung on an internal call must not be offered a queued call meanwhile: a ready
    /// seat is set not ready ("internal call") for the call's length, then ready again.
    fn internal_hold(&mut self, now: Instant, i: usize, on: bool) {
        let id = self.seats[i].id;
        let state = self.acd.seat_state(id);
        let request = if on {
            if state != Some(SeatState::Ready) {
                return;
            }
            SeatRequest::NotReady(self.reason_code(Some("internal call")))
        } else {
            if !self.seats[i].internal_hold || !matches!(state, Some(SeatState::NotReady { .. })) {
                self.seats[i].internal_hold = false;
                return;
            }
            SeatRequest::Ready
        };
        self.seats[i].internal_hold = on;
        let _ = self.acd.handle(
            now,
            Input::SeatState {
                seat: id,
                state: request,
            },
        );
    }

    fn on_unregistered(&mut self, now: Instant, seat: &str) {
        tracing::info!(seat, "seat unregistered: out of routing");
        let Some(&i) = self.seat_by_name.get(seat) else {
            return;
        };
        let id = self.seats[i].id;
        match self.acd.seat_state(id) {
            Some(SeatState::LoggedOut) | None => {}
            Some(SeatState::Offered(_) | SeatState::Talking(_)) => {
                self.seats[i].logout_after_call = true;
            }
            Some(_) => {
                self.source = "registration";
                let _ = self.acd.handle(
                    now,
                    Input::SeatState {
                        seat: id,
                        state: SeatRequest::LoggedOut,
                    },
                );
                self.pump(now);
                self.source = "distributor";
            }
        }
    }

    // ---- distributor outputs ---------------------------------------------------------------

    fn on_output(&mut self, now: Instant, out: Output) {
        match out {
            Output::Offer {
                call,
                seat,
                ring_timeout,
            } => self.on_offer(now, call, seat, ring_timeout),
            Output::CallLeft { call, why } => self.on_left(now, call, why),
            Output::SeatChanged { seat, state } => self.on_seat_changed(now, seat, state),
            Output::SurgeOpened { reason } => {
                tracing::warn!(?reason, "surge pool OPENED: page the surge staff");
                self.surge_change = Some(views::surge_reason(true, reason, self.clock.ms(now)));
            }
            Output::SurgeClosed { reason } => {
                tracing::warn!(?reason, "surge pool closed");
                self.surge_change = Some(views::surge_reason(false, reason, self.clock.ms(now)));
            }
        }
    }

    fn on_offer(&mut self, now: Instant, call: CallId, seat: SeatId, ring: Option<Duration>) {
        let Some(&gw_call) = self.by_id.get(&call.0) else {
            return;
        };
        let Some(&i) = self.seat_by_id.get(&seat.0) else {
            return;
        };
        let name = self.seats[i].name.clone();
        let ring = ring.unwrap_or(self.ring_timeout);
        match self.gw.offer(now, gw_call, &name, ring) {
            Ok(()) => {
                self.open_leg(now, gw_call, seat);
                self.queue_event(now, gw_call, QueueEventKind::Offer, Some(seat), None);
            }
            Err(e) => {
                tracing::warn!(call = call.0, seat = name, ?e, "cannot ring seat");
                let why = match e {
                    OfferError::NotRegistered | OfferError::NoMediaPort => {
                        OfferFailure::Unreachable
                    }
                    OfferError::NotHeld | OfferError::UnknownCall => OfferFailure::Rejected,
                };
                let _ = self.acd.handle(now, Input::OfferFailed { call, seat, why });
            }
        }
    }

    fn on_left(&mut self, now: Instant, call: CallId, why: LeaveReason) {
        let Some(&gw_call) = self.by_id.get(&call.0) else {
            return;
        };
        let Some(rec) = self.calls.get(&gw_call) else {
            return;
        };
        let (line, queue) = (rec.line.clone(), rec.queue);
        let wait = rec.entered.map(|e| now.saturating_duration_since(e));
        match why {
            LeaveReason::Answered { .. } => {}
            LeaveReason::Abandoned { short } => {
                let kind = if short {
                    QueueEventKind::AbandonShort
                } else {
                    QueueEventKind::AbandonLong
                };
                self.queue_event(now, gw_call, kind, None, wait);
                if let Some(m) = queue.and_then(|q| self.line_metrics(q, &line)) {
                    m.abandoned(short);
                }
                let outcome = if short {
                    CallOutcome::AbandonedShort
                } else {
                    CallOutcome::Abandoned
                };
                self.finish(now, gw_call, outcome);
            }
            LeaveReason::TimedOut { exit } => {
                self.queue_event(now, gw_call, QueueEventKind::Timeout, None, wait);
                if let Some(m) = queue.and_then(|q| self.line_metrics(q, &line)) {
                    m.timed_out();
                }
                if !matches!(exit, Exit::Disconnect) {
                    // Voicemail, callback and transfer exits need media and transfers (later
                    // issues); until then every exit ends the call with 480.
                    tracing::info!(call = call.0, ?exit, "timeout exit not available yet: 480");
                }
                self.finish(now, gw_call, CallOutcome::TimedOut);
                self.gw.reject(now, gw_call, 480, "Temporarily Unavailable");
            }
        }
    }

    fn on_seat_changed(&mut self, now: Instant, seat: SeatId, state: SeatState) {
        let reason = match state {
            SeatState::NotReady { reason } => Some(views::reason_text(reason, &self.reasons)),
            _ => None,
        };
        let at = self.clock.ms(now);
        self.record(Record::SeatState {
            seat: seat.0,
            at,
            state: views::state_name(state).to_owned(),
            reason,
            source: self.source.to_owned(),
        });
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use media::tone::goertzel_power;

    use super::Cue;

    fn pcm(cue: Cue) -> Vec<i16> {
        let mut tone = cue.tone();
        let mut out = vec![0i16; 8000];
        let n = tone.fill(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn the_done_cue_is_a_400_ms_1khz_beep() {
        let beep = pcm(Cue::Done);
        assert_eq!(beep.len(), 3200, "400 ms at 8 kHz");
        let (k1, low) = (goertzel_power(&beep, 1000.0), goertzel_power(&beep, 450.0));
        assert!(k1 > 100.0 * low, "1 kHz {k1} vs 450 Hz {low}");
    }

    #[test]
    fn the_refused_cue_is_three_low_beeps() {
        let beeps = pcm(Cue::Refused);
        assert_eq!(beeps.len(), 6000, "750 ms at 8 kHz");
        let on: Vec<bool> = beeps
            .chunks(400)
            .map(|c| c.iter().any(|s| s.unsigned_abs() > 1000))
            .collect();
        let starts = on.windows(2).filter(|w| !w[0] && w[1]).count() + usize::from(on[0]);
        assert_eq!(starts, 3, "{on:?}");
        let (low, k1) = (
            goertzel_power(&beeps[..1200], 400.0),
            goertzel_power(&beeps[..1200], 1000.0),
        );
        assert!(low > 100.0 * k1);
    }
}
