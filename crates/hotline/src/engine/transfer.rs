//! One-key transfers (一键转接、三方通话), as the engine decides them: which target, which mode,
//! what the three legs hear, when the seat is freed, what is recorded. The gateway dials and
//! joins the legs ([`sip_gateway::b2bua::Gateway::dial_target`]); the media plane mixes.
//! Triggers: the HTTP API, the seat's keys (`*2` code `#`, `*3`, `*4` by default).

use std::time::Instant;

use acd_core::{CallId, Input, SeatState};
use media::call::LegId;
use media::player::{After, Clip, Playlist};
use sip_gateway::b2bua::{Dial, ReferTo, SeatFailure, TransferError, CONSULT_LEG, TARGET_LEG};

use super::audio::MediaCommand;
use super::{Cue, Engine};
use crate::api::{ApiError, TransferMode, TransferView};
use crate::config::{TargetKind, TransferTarget};
use crate::record::Record;

/// The target's leg on the media plane.
const TARGET: LegId = LegId(TARGET_LEG);

/// The leg of the seat's consultation call (attended transfer from its phone).
const CONSULT: LegId = LegId(CONSULT_LEG);

/// A transfer under way.
#[derive(Debug, Clone)]
pub(super) struct Transfer {
    /// 1 for the call's first transfer, 2 for the second…
    pub(super) number: u32,
    pub(super) target: TransferTarget,
    pub(super) mode: TransferMode,
    pub(super) answered: Option<Instant>,
    pub(super) started: Instant,
    /// An expert seat dialled for a pool target (held not ready while it has the call).
    pub(super) expert: Option<usize>,
    /// Asked for by the seat's phone (REFER): it hears the outcome in a NOTIFY.
    pub(super) by_refer: bool,
    /// The seat's consultation call (gateway id) when its phone called the target itself.
    pub(super) consult: Option<u64>,
}

impl Transfer {
    fn view(&self, call: u64, state: &str) -> TransferView {
        TransferView {
            call,
            target: self.target.key.clone(),
            number: self.target.number.clone(),
            mode: self.mode,
            state: state.to_owned(),
        }
    }
}

/// How a transfer ended, as recorded and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Completed,
    Cancelled,
    Busy,
    Rejected,
    NoAnswer,
    Unreachable,
    TargetHungUp,
    CallerLeft,
}

impl Outcome {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Busy => "busy",
            Self::Rejected => "rejected",
            Self::NoAnswer => "no_answer",
            Self::Unreachable => "unreachable",
            Self::TargetHungUp => "target_hung_up",
            Self::CallerLeft => "caller_left",
        }
    }

    /// The status line the referring phone is told (RFC 3515 sipfrag).
    const fn sipfrag(self) -> &'static str {
        match self {
            Self::Completed => "SIP/2.0 200 OK",
            Self::Busy => "SIP/2.0 486 Busy Here",
            Self::NoAnswer => "SIP/2.0 480 Temporarily Unavailable",
            Self::Unreachable => "SIP/2.0 503 Service Unavailable",
            Self::Rejected => "SIP/2.0 603 Decline",
            Self::Cancelled | Self::TargetHungUp | Self::CallerLeft => {
                "SIP/2.0 487 Request Terminated"
            }
        }
    }

    /// The final response the seat's consultation INVITE gets when the transfer ends
    /// without completing.
    const fn consult_status(self) -> (u16, &'static str) {
        match self {
            Self::Busy => (486, "Busy Here"),
            Self::Rejected => (603, "Decline"),
            Self::NoAnswer => (480, "Temporarily Unavailable"),
            Self::Unreachable => (503, "Service Unavailable"),
            Self::Completed | Self::Cancelled | Self::TargetHungUp | Self::CallerLeft => {
                (487, "Request Terminated")
            }
        }
    }

    fn of(why: SeatFailure) -> (Self, String) {
        match why {
            SeatFailure::NoAnswer => (Self::NoAnswer, "no answer within the ring timeout".into()),
            SeatFailure::Unreachable => (Self::Unreachable, "no response from the target".into()),
            SeatFailure::Refused(s @ (486 | 600)) => (Self::Busy, format!("busy ({s})")),
            SeatFailure::Refused(s) => (Self::Rejected, format!("refused with {s}")),
        }
    }
}

/// A call another platform transferred to us (it came from a target's trunk address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    /// The target entry whose trunk it came from.
    pub(super) target: String,
    /// Its intake priority.
    pub(super) priority: u8,
    /// `X-Hotline-Ticket`: the other platform's ticket.
    pub(super) ticket: Option<String>,
    /// `X-Hotline-Line`: the number the caller first dialled there.
    pub(super) line: Option<String>,
    /// `X-Hotline-Topic`.
    pub(super) topic: Option<String>,
}

fn not_answered() -> ApiError {
    ApiError::conflict(
        "call_not_answered",
        "only a call a seat is talking on can be transferred",
    )
}

fn pending() -> ApiError {
    ApiError::conflict(
        "transfer_pending",
        "a transfer of this call is already under way",
    )
}

fn call_ended() -> ApiError {
    ApiError::not_found("unknown_call", "the call has ended")
}

fn ended_view(call: u64, state: &str) -> TransferView {
    TransferView {
        call,
        target: String::new(),
        number: String::new(),
        mode: TransferMode::ThreeWay,
        state: state.to_owned(),
    }
}

impl Engine {
    fn gw_call_of(&self, call: u64) -> Result<u64, ApiError> {
        self.by_id.get(&call).copied().ok_or_else(|| {
            ApiError::not_found("unknown_call", format!("no call {call} in progress"))
        })
    }

    /// Start a transfer of call `call` (the API's id) to `target` (key, number or code).
    pub fn start_transfer(
        &mut self,
        now: Instant,
        call: u64,
        target: &str,
        mode: TransferMode,
    ) -> Result<TransferView, ApiError> {
        let gw_call = self.gw_call_of(call)?;
        let view = self.transfer_gw(now, gw_call, target, mode, None);
        self.pump(now);
        view
    }

    /// Start a transfer of `gw_call`; `consult` is the seat's own call to the target when its
    /// phone placed one (an attended transfer), joined to this call instead of a new dial.
    fn transfer_gw(
        &mut self,
        now: Instant,
        gw_call: u64,
        target: &str,
        mode: TransferMode,
        consult: Option<u64>,
    ) -> Result<TransferView, ApiError> {
        let target = self
            .targets
            .iter()
            .find(|t| t.key == target || t.number == target || t.code == target)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found("unknown_target", format!("no transfer target {target:?}"))
            })?;
        let Some(rec) = self.calls.get(&gw_call) else {
            return Err(call_ended());
        };
        if rec.answered.is_none() || rec.seat_done.is_some() {
            return Err(not_answered());
        }
        if rec.transfer.is_some() {
            return Err(pending());
        }
        // A call transferred in keeps the number its caller first dialled.
        let line = rec
            .origin
            .as_ref()
            .and_then(|o| o.line.clone())
            .unwrap_or_else(|| rec.line.clone());
        let (id, topic) = (rec.id, rec.topic.clone());
        let number = rec.transfers + 1;
        let (uri, expert) = match (&target.uri, target.kind) {
            (Some(uri), _) => (uri.clone(), None),
            (None, TargetKind::ExpertPool) => {
                let (i, contact) = self.free_expert(now, &target).ok_or_else(|| {
                    ApiError::conflict("no_expert", format!("no seat of {} is ready", target.name))
                })?;
                (contact, Some(i))
            }
            (None, _) => {
                return Err(ApiError::conflict(
                    "target_unreachable",
                    format!("{} has no trunk configured", target.key),
                ))
            }
        };
        let mut headers = vec![
            format!("X-Hotline-Ticket: {id}"),
            format!("X-Hotline-Line: {line}"),
        ];
        if let Some(t) = &topic {
            headers.push(format!("X-Hotline-Topic: {t}"));
        }
        let dial = Dial {
            uri: &uri,
            label: &target.key,
            headers: &headers,
            ring_timeout: target.ring_timeout,
        };
        match consult {
            Some(c) => self.gw.consult(now, c, gw_call, &dial),
            None => self.gw.dial_target(now, gw_call, &dial),
        }
        .map_err(|e| match e {
            TransferError::UnknownCall => call_ended(),
            TransferError::NotAnswered => not_answered(),
            TransferError::Pending => pending(),
            TransferError::BadUri => ApiError::conflict(
                "target_unreachable",
                format!("{}'s uri {uri:?} is not sip:user@ip[:port]", target.key),
            ),
            TransferError::NoMediaPort => {
                ApiError::conflict("no_media_port", "no RTP port is free for the target")
            }
            TransferError::NotConsultable => ApiError::conflict(
                "not_consultable",
                "the consultation call has no SDP offer to join",
            ),
        })?;
        if let Some(i) = expert {
            self.internal_hold(now, i, true);
        }
        if mode == TransferMode::Blind {
            // The caller hears ringback while the target rings; the seat is done talking.
            self.ringback_to_caller(gw_call);
            self.order(MediaCommand::Play {
                call: gw_call,
                leg: LegId::SEAT,
                playlist: Playlist {
                    clips: Vec::new(),
                    then: After::Silence,
                },
            });
        }
        if mode == TransferMode::Attended {
            // The caller waits with music; the seat hears the target ring (its own phone
            // does, for a consultation call it placed).
            self.take_gateway_orders();
            self.hold_music(gw_call);
            let then = if consult.is_some() {
                After::Silence
            } else {
                After::Loop(Clip::Tone(media::tone::Tone::ringback_cn()))
            };
            self.order(MediaCommand::Play {
                call: gw_call,
                leg: LegId::SEAT,
                playlist: Playlist {
                    clips: Vec::new(),
                    then,
                },
            });
        }
        tracing::info!(call = id, target = target.key, ?mode, "transfer started");
        let transfer = Transfer {
            number,
            target,
            mode,
            answered: None,
            started: now,
            expert,
            by_refer: false,
            consult,
        };
        let view = transfer.view(id, "ringing");
        if let Some(rec) = self.calls.get_mut(&gw_call) {
            rec.transfers = number;
            rec.transfer = Some(transfer);
        }
        self.push_ticket(gw_call);
        Ok(view)
    }

    /// A ready, registered seat of the target's pool (one with the target's skill first):
    /// its index and registered contact.
    fn free_expert(&self, now: Instant, target: &TransferTarget) -> Option<(usize, String)> {
        let pool = target.pool.as_deref()?;
        let mut best: Option<(usize, String, bool)> = None;
        for (i, s) in self.seats.iter().enumerate() {
            if super::views::pool_name(s.pool) != pool
                || self.acd.seat_state(s.id) != Some(SeatState::Ready)
            {
                continue;
            }
            let Some(binding) = self.gw.registrar().lookup(now, &s.name) else {
                continue;
            };
            let skilled = target
                .skill
                .as_deref()
                .is_some_and(|k| s.skills.iter().any(|x| x.starts_with(&format!("{k}:"))));
            if best.as_ref().is_none_or(|b| skilled && !b.2) {
                best = Some((i, binding.contact.clone(), skilled));
            }
        }
        best.map(|(i, c, _)| (i, c))
    }

    /// Complete (`true`) or cancel the transfer of call `call` (the API's id).
    pub fn end_transfer(
        &mut self,
        now: Instant,
        call: u64,
        complete: bool,
    ) -> Result<TransferView, ApiError> {
        let gw_call = self.gw_call_of(call)?;
        let view = if complete {
            self.complete_gw(now, gw_call)
        } else {
            self.cancel_gw(now, gw_call)
        };
        self.pump(now);
        view
    }

    fn complete_gw(&mut self, now: Instant, gw_call: u64) -> Result<TransferView, ApiError> {
        let rec = self.calls.get(&gw_call).ok_or_else(call_ended)?;
        let Some(t) = rec.transfer.as_ref() else {
            return Err(ApiError::conflict(
                "no_transfer",
                "no transfer is under way",
            ));
        };
        if t.answered.is_none() {
            return Err(ApiError::conflict(
                "target_not_answered",
                "the target has not answered yet: cancel, or wait",
            ));
        }
        if !self.gw.complete_transfer(now, gw_call) {
            return Err(ApiError::conflict(
                "no_transfer",
                "no transfer is under way",
            ));
        }
        Ok(self.completed(now, gw_call))
    }

    /// The gateway joined caller and target: the seat's part is over.
    fn completed(&mut self, now: Instant, gw_call: u64) -> TransferView {
        self.order(MediaCommand::Bridge {
            call: gw_call,
            a: LegId::CALLER,
            b: TARGET,
        });
        let seat_present = self
            .calls
            .get(&gw_call)
            .is_some_and(|r| r.seat_done.is_none());
        if seat_present {
            self.close_leg(now, gw_call, "transferred");
            self.seat_transferred(now, gw_call);
        }
        let Some(rec) = self.calls.get_mut(&gw_call) else {
            return ended_view(0, "completed");
        };
        rec.seat_done.get_or_insert(now);
        let id = rec.id;
        let (line, queue) = (rec.line.clone(), rec.queue);
        let Some(t) = rec.transfer.take() else {
            return ended_view(id, "completed");
        };
        rec.completed_transfer = Some(t.clone());
        if let Some(m) = queue.and_then(|q| self.line_metrics(q, &line)) {
            m.transferred();
        }
        self.record_transfer(now, id, &t, Outcome::Completed, "");
        t.view(id, "completed")
    }

    /// The distributor hears the seat handed the call on (its wrap-up starts).
    fn seat_transferred(&mut self, now: Instant, gw_call: u64) {
        let Some(rec) = self.calls.get(&gw_call) else {
            return;
        };
        if rec.queue.is_none() || rec.direct {
            return;
        }
        let id = rec.id;
        if let Err(e) = self
            .acd
            .handle(now, Input::CallTransferred { call: CallId(id) })
        {
            tracing::error!(call = id, error = %e, "distributor refused a transfer");
        }
    }

    fn cancel_gw(&mut self, now: Instant, gw_call: u64) -> Result<TransferView, ApiError> {
        let rec = self.calls.get(&gw_call).ok_or_else(call_ended)?;
        if rec.transfer.is_none() {
            return Err(ApiError::conflict(
                "no_transfer",
                "no transfer is under way",
            ));
        }
        self.gw.cancel_transfer(now, gw_call);
        Ok(self.back_to_seat(
            now,
            gw_call,
            Outcome::Cancelled,
            "cancelled by the seat",
            false,
        ))
    }

    /// The transfer is over without completing: caller and seat talk again (the seat hears
    /// the refusal cue first when `tell` is set). A seat that already left: the call ends.
    fn back_to_seat(
        &mut self,
        now: Instant,
        gw_call: u64,
        outcome: Outcome,
        reason: &str,
        tell: bool,
    ) -> TransferView {
        let Some(rec) = self.calls.get_mut(&gw_call) else {
            return ended_view(0, outcome.as_str());
        };
        let id = rec.id;
        let seat_left = rec.seat_done.is_some();
        let Some(t) = rec.transfer.take() else {
            return ended_view(id, outcome.as_str());
        };
        if let Some(i) = t.expert {
            self.internal_hold(now, i, false);
        }
        self.record_transfer(now, id, &t, outcome, reason);
        if t.by_refer {
            self.gw.refer_outcome(now, gw_call, outcome.sipfrag());
        }
        if t.consult.is_some() {
            let (status, why) = outcome.consult_status();
            self.gw.end_consult(now, gw_call, status, why);
        }
        tracing::info!(
            call = id,
            target = t.target.key,
            outcome = outcome.as_str(),
            reason,
            "transfer over"
        );
        if seat_left {
            self.gw.terminate(now, gw_call);
        } else {
            self.order(MediaCommand::Bridge {
                call: gw_call,
                a: LegId::CALLER,
                b: LegId::SEAT,
            });
            if tell {
                self.tell_seat(gw_call);
            }
        }
        t.view(id, outcome.as_str())
    }

    /// The seat hears the refusal cue, then the caller again.
    fn tell_seat(&mut self, gw_call: u64) {
        self.order(MediaCommand::Play {
            call: gw_call,
            leg: LegId::SEAT,
            playlist: Playlist {
                clips: vec![Clip::Tone(Cue::Refused.tone())],
                then: After::Silence,
            },
        });
        if let Some(rec) = self.calls.get_mut(&gw_call) {
            rec.rebridge_seat = true;
        }
    }

    /// The origin of a call from `source`: a target's trunk, with its `X-Hotline-*` context.
    pub(super) fn origin_of(
        &self,
        source: std::net::SocketAddr,
        context: &[(String, String)],
    ) -> Option<Origin> {
        let source = match source {
            std::net::SocketAddr::V6(v6) => v6
                .ip()
                .to_ipv4_mapped()
                .map_or(source, |ip| std::net::SocketAddr::new(ip.into(), v6.port())),
            v4 => v4,
        };
        let target = self.targets.iter().find(|t| t.trunk_addr == Some(source))?;
        let get = |k: &str| {
            context
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let origin = Origin {
            target: target.key.clone(),
            priority: target.inbound_priority,
            ticket: get("ticket"),
            line: get("line"),
            topic: get("topic"),
        };
        tracing::info!(
            target = origin.target,
            ticket = origin.ticket.as_deref().unwrap_or("-"),
            line = origin.line.as_deref().unwrap_or("-"),
            "a call transferred in from another platform"
        );
        Some(origin)
    }

    /// A transferred-in call keeps its topic (when this platform knows it) and enters at its
    /// trunk's priority (never below the line's own).
    pub(super) fn inbound_routing(
        &self,
        gw_call: u64,
        topic: String,
        priority: u8,
    ) -> (String, u8) {
        let Some(o) = self.calls.get(&gw_call).and_then(|r| r.origin.as_ref()) else {
            return (topic, priority);
        };
        let topic = o
            .topic
            .clone()
            .filter(|t| self.topics.contains(t))
            .unwrap_or(topic);
        (topic, priority.max(o.priority))
    }

    /// Gateway: the seat's phone sent REFER. Without `Replaces`: a blind transfer to a
    /// configured target (by number, code or key in the Refer-To user part); anything else is
    /// refused: 403 for a number that is not a target (seats may not dial out through the
    /// platform), 491 while another transfer is under way. With `Replaces` naming the seat's
    /// consultation call about this call (`consult`): the attended transfer completes, at once
    /// if the target talks, else when it answers (the consultation ends; the caller hears
    /// ringback meanwhile). A `Replaces` naming anything else is refused (403).
    pub(super) fn on_refer(
        &mut self,
        now: Instant,
        gw_call: u64,
        refer: u64,
        target: &ReferTo,
        consult: Option<u64>,
    ) {
        if target.replaces.is_some() {
            self.attended_refer(now, gw_call, refer, consult);
            return;
        }
        match self.transfer_gw(now, gw_call, &target.user, TransferMode::Blind, None) {
            Ok(_) => {
                if let Some(t) = self
                    .calls
                    .get_mut(&gw_call)
                    .and_then(|r| r.transfer.as_mut())
                {
                    t.by_refer = true;
                }
                self.gw.answer_refer(now, gw_call, refer, 202, "Accepted");
            }
            Err(e) => {
                let (status, reason) = match e.code {
                    "unknown_target" => (403, "Forbidden: not a transfer target"),
                    "transfer_pending" => (491, "Request Pending"),
                    "call_not_answered" => (403, "Forbidden"),
                    _ => (503, "Service Unavailable"),
                };
                tracing::info!(target = target.user, error = %e.message, status, "REFER refused");
                self.gw.answer_refer(now, gw_call, refer, status, reason);
            }
        }
    }

    /// REFER with `Replaces`: complete the attended transfer whose consultation it names.
    fn attended_refer(&mut self, now: Instant, gw_call: u64, refer: u64, consult: Option<u64>) {
        let t = self
            .calls
            .get_mut(&gw_call)
            .and_then(|r| r.transfer.as_mut());
        let Some(t) = t.filter(|t| consult.is_some() && t.consult == consult) else {
            tracing::info!(
                call = gw_call,
                "REFER with Replaces naming no consultation refused"
            );
            self.gw.answer_refer(
                now,
                gw_call,
                refer,
                403,
                "Forbidden: Replaces names no consultation of this call",
            );
            return;
        };
        t.by_refer = true;
        let answered = t.answered.is_some();
        self.gw.answer_refer(now, gw_call, refer, 202, "Accepted");
        if answered {
            self.gw
                .refer_outcome(now, gw_call, Outcome::Completed.sipfrag());
            if self.gw.complete_transfer(now, gw_call) {
                self.completed(now, gw_call);
            }
            return;
        }
        // Transferred while the target still rings: it becomes a blind transfer.
        if let Some(t) = self
            .calls
            .get_mut(&gw_call)
            .and_then(|r| r.transfer.as_mut())
        {
            t.mode = TransferMode::Blind;
            t.consult = None;
        }
        self.gw.end_consult(now, gw_call, 487, "Request Terminated");
        self.ringback_to_caller(gw_call);
    }

    /// Gateway: a seat's phone placed a call. To a transfer target while the seat talks with
    /// a caller, it is a consultation about that call (an attended transfer); to a target
    /// outside a call it is refused (403: seats do not dial out through the platform).
    /// False when the number is not a target (the dial plan routes the call).
    pub(super) fn seat_dialled_target(
        &mut self,
        now: Instant,
        call: u64,
        dialed: &str,
        seat: &str,
    ) -> bool {
        let Some(key) = self
            .targets
            .iter()
            .find(|t| t.number == dialed || t.code == dialed || t.key == dialed)
            .map(|t| t.key.clone())
        else {
            return false;
        };
        let seat_id = self.seat_by_name.get(seat).map(|&i| self.seats[i].id);
        let about = self
            .calls
            .iter()
            .filter(|(_, r)| {
                r.answered.is_some()
                    && r.seat_done.is_none()
                    && r.seat.is_some_and(|(s, _)| Some(s) == seat_id)
            })
            .map(|(&k, _)| k)
            .min();
        let Some(about) = about else {
            tracing::info!(
                seat,
                target = key,
                "seat dialled a target outside a call: refused"
            );
            self.gw.reject(
                now,
                call,
                403,
                "Forbidden: targets are reached by transferring a call",
            );
            return true;
        };
        match self.transfer_gw(now, about, &key, TransferMode::Attended, Some(call)) {
            Ok(_) => {
                self.consults.insert(call, about);
            }
            Err(e) => {
                let (status, reason) = match e.code {
                    "transfer_pending" => (491, "Request Pending"),
                    "no_expert" => (480, "Temporarily Unavailable"),
                    "not_consultable" => (488, "Not Acceptable Here"),
                    _ => (503, "Service Unavailable"),
                };
                tracing::info!(seat, target = key, error = %e.message, status, "consultation refused");
                self.gw.reject(now, call, status, reason);
            }
        }
        true
    }

    /// Gateway: the seat's consultation call ended by itself (it hung up or cancelled before
    /// transferring): the transfer is cancelled, the seat back with its caller.
    pub(super) fn consult_ended(&mut self, now: Instant, consult: u64, about: u64) {
        let ours = self
            .calls
            .get(&about)
            .and_then(|r| r.transfer.as_ref())
            .is_some_and(|t| t.consult == Some(consult));
        if ours {
            self.gw.cancel_transfer(now, about);
            self.back_to_seat(
                now,
                about,
                Outcome::Cancelled,
                "the seat hung up the consultation",
                false,
            );
        }
    }

    /// The caller hears ringback while a target rings without the seat.
    fn ringback_to_caller(&mut self, gw_call: u64) {
        self.order(MediaCommand::Play {
            call: gw_call,
            leg: LegId::CALLER,
            playlist: Playlist {
                clips: Vec::new(),
                then: After::Loop(Clip::Tone(media::tone::Tone::ringback_cn())),
            },
        });
    }

    /// Gateway: the target rings (the seat's phone hears so, for its consultation call).
    pub(super) fn on_transfer_ringing(&mut self, now: Instant, gw_call: u64) {
        let Some(rec) = self.calls.get(&gw_call) else {
            return;
        };
        tracing::debug!(call = rec.id, "transfer target ringing");
        if let Some(c) = rec.transfer.as_ref().and_then(|t| t.consult) {
            self.gw.ring_back(now, c);
        }
    }

    /// Gateway: the target answered. Three-way: everyone hears everyone. Blind, or a seat
    /// that already left: the caller goes to the target at once.
    pub(super) fn on_transfer_answered(&mut self, now: Instant, gw_call: u64) {
        let Some(rec) = self.calls.get_mut(&gw_call) else {
            return;
        };
        let seat_left = rec.seat_done.is_some();
        let Some(t) = rec.transfer.as_mut() else {
            return;
        };
        t.answered = Some(now);
        if t.mode == TransferMode::Blind || seat_left {
            if t.by_refer {
                // The phone hears the success before the platform hangs it up.
                self.gw
                    .refer_outcome(now, gw_call, Outcome::Completed.sipfrag());
            }
            if self.gw.complete_transfer(now, gw_call) {
                self.completed(now, gw_call);
            }
            return;
        }
        if t.mode == TransferMode::Attended {
            // Seat and target talk alone; the caller keeps its music.
            let seat = match t.consult {
                Some(_) => {
                    self.gw.answer_consult(now, gw_call);
                    CONSULT
                }
                None => LegId::SEAT,
            };
            self.order(MediaCommand::Bridge {
                call: gw_call,
                a: seat,
                b: TARGET,
            });
            return;
        }
        self.order(MediaCommand::Mix {
            call: gw_call,
            legs: vec![LegId::CALLER, LegId::SEAT, TARGET],
        });
    }

    /// Gateway: the target failed.
    pub(super) fn on_transfer_failed(&mut self, now: Instant, gw_call: u64, why: SeatFailure) {
        let (outcome, reason) = Outcome::of(why);
        self.back_to_seat(now, gw_call, outcome, &reason, true);
    }

    /// Gateway: the target hung up before the transfer completed.
    pub(super) fn on_transfer_ended(&mut self, now: Instant, gw_call: u64) {
        self.back_to_seat(
            now,
            gw_call,
            Outcome::TargetHungUp,
            "the target hung up",
            true,
        );
    }

    /// The seat left during a transfer: a three-way call whose target talks completes; one
    /// still ringing completes when the target answers.
    pub(super) fn seat_left_transfer(&mut self, now: Instant, gw_call: u64) -> bool {
        let Some(rec) = self.calls.get_mut(&gw_call) else {
            return false;
        };
        let Some(t) = rec.transfer.as_ref() else {
            return false;
        };
        let answered = t.answered.is_some();
        tracing::info!(
            call = rec.id,
            answered,
            "seat left during the transfer: complete"
        );
        if answered {
            if self.gw.complete_transfer(now, gw_call) {
                self.completed(now, gw_call);
            }
        } else {
            self.close_leg(now, gw_call, "transferred");
            self.seat_transferred(now, gw_call);
            if let Some(rec) = self.calls.get_mut(&gw_call) {
                rec.seat_done = Some(now);
            }
            // Until the target answers the caller hears ringback.
            self.ringback_to_caller(gw_call);
        }
        true
    }

    /// The call ended: a transfer under way (the caller left; the gateway dropped the
    /// target) is recorded; an expert seat that had the call is free again.
    pub(super) fn transfer_call_ended(&mut self, now: Instant, gw_call: u64) {
        let Some(rec) = self.calls.get_mut(&gw_call) else {
            return;
        };
        let id = rec.id;
        let pending = rec.transfer.take();
        let done = rec.completed_transfer.take();
        if let Some(t) = &pending {
            tracing::info!(
                call = id,
                target = t.target.key,
                outcome = Outcome::CallerLeft.as_str(),
                "transfer over"
            );
            self.record_transfer(now, id, t, Outcome::CallerLeft, "the caller hung up");
        }
        for t in pending.iter().chain(done.iter()) {
            if let Some(i) = t.expert {
                self.internal_hold(now, i, false);
            }
        }
    }

    fn record_transfer(
        &mut self,
        now: Instant,
        call: u64,
        t: &Transfer,
        outcome: Outcome,
        reason: &str,
    ) {
        self.metrics.transfer(&t.target.key, outcome.as_str());
        *self
            .transfer_counts
            .entry(t.target.key.clone())
            .or_default()
            .entry(outcome.as_str())
            .or_insert(0) += 1;
        let r = Record::Transfer {
            call,
            transfer: t.number,
            target: t.target.key.clone(),
            number: t.target.number.clone(),
            mode: match t.mode {
                TransferMode::ThreeWay => "three_way",
                TransferMode::Blind => "blind",
                TransferMode::Attended => "attended",
            }
            .to_owned(),
            started_at: self.clock.ms(t.started),
            answered_at: t.answered.map(|a| self.clock.ms(a)),
            ended_at: self.clock.ms(now),
            outcome: outcome.as_str().to_owned(),
            reason: reason.to_owned(),
        };
        self.record(r);
    }

    /// Queue the ticket push (工单推送) of the call's new transfer, if its target has a URL.
    fn push_ticket(&mut self, gw_call: u64) {
        let Some(rec) = self.calls.get(&gw_call) else {
            return;
        };
        let Some(t) = rec.transfer.as_ref() else {
            return;
        };
        let Some(url) = t.target.ticket_url.clone() else {
            return;
        };
        let ticket = crate::ticket::Ticket {
            call: rec.id,
            transfer: t.number,
            target: t.target.key.clone(),
            line: rec.line.clone(),
            topic: rec.topic.clone(),
            // The target takes the case on: it gets the number in full.
            caller: rec.caller.clone().revealed(),
            seat: rec.answered_by.map(|s| s.0),
            at: self.clock.ms(t.started),
        };
        self.tickets.push_back((url, ticket));
    }

    /// The next ticket to push, and where.
    pub fn poll_ticket(&mut self) -> Option<(String, crate::ticket::Ticket)> {
        self.tickets.pop_front()
    }

    /// A ticket push ended: recorded and counted.
    pub fn on_ticket_pushed(
        &mut self,
        now: Instant,
        ticket: &crate::ticket::Ticket,
        outcome: &crate::ticket::PushOutcome,
    ) {
        let (delivered, status, attempts, reason) = match outcome {
            crate::ticket::PushOutcome::Delivered { status, attempts } => {
                (true, Some(*status), *attempts, String::new())
            }
            crate::ticket::PushOutcome::Failed { reason, attempts } => {
                (false, None, *attempts, reason.clone())
            }
        };
        tracing::info!(
            call = ticket.call,
            target = ticket.target,
            delivered,
            attempts,
            reason,
            "ticket push"
        );
        self.metrics.ticket_push(
            &ticket.target,
            if delivered { "delivered" } else { "failed" },
        );
        let r = Record::TicketPush {
            call: ticket.call,
            transfer: ticket.transfer,
            target: ticket.target.clone(),
            at: self.clock.ms(now),
            delivered,
            status,
            attempts,
            reason,
        };
        self.record(r);
    }

    /// Keys a seat pressed during a call: start (`*2` code `#`), complete, cancel.
    /// True when they made a transfer command.
    pub(super) fn transfer_keys(&mut self, now: Instant, gw_call: u64) -> bool {
        let Some(rec) = self.calls.get_mut(&gw_call) else {
            return false;
        };
        let keys = rec.keys.clone();
        let codes = &self.transfer_codes;
        if keys.ends_with(&codes.complete) {
            rec.keys.clear();
            if let Err(e) = self.complete_gw(now, gw_call) {
                tracing::info!(error = %e.message, "seat key: complete refused");
                self.tell_seat(gw_call);
            }
            return true;
        }
        if keys.ends_with(&codes.cancel) {
            rec.keys.clear();
            if let Err(e) = self.cancel_gw(now, gw_call) {
                tracing::info!(error = %e.message, "seat key: cancel refused");
                self.tell_seat(gw_call);
            }
            return true;
        }
        let code = keys.strip_suffix('#').and_then(|k| {
            k.rfind(codes.start.as_str())
                .map(|i| k[i + codes.start.len()..].to_owned())
        });
        let Some(code) = code else {
            return false;
        };
        rec.keys.clear();
        let refused = if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            Some("not a target code".to_owned())
        } else {
            self.transfer_gw(now, gw_call, &code, TransferMode::ThreeWay, None)
                .err()
                .map(|e| e.message)
        };
        if let Some(why) = refused {
            tracing::info!(code, why, "seat key: transfer refused");
            self.tell_seat(gw_call);
        }
        true
    }
}
