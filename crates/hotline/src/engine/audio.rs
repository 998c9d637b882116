//! What callers hear from the platform itself, and the keys they press: the merged-line
//! notice, music and position / estimated-wait notices while queued, the bridge when a seat
//! answers, the post-call survey (好差评), in-call feature codes, and the no-RTP hang-up.
//! The engine decides; the driver carries out [`MediaCommand`]s on the media plane and feeds
//! its events back ([`Engine::on_media_event`]).

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd_core::CallId;
use media::call::LegId;
use media::plane::MediaEvent;
use media::player::{After, Clip, Playlist};
use media::sdp::Choice;
use sip_gateway::b2bua::{MediaOrder, Side};

use super::Engine;
use crate::config::{SurveyPlan, WaitingPlan};
use crate::prompts::PromptBook;
use crate::record::CallOutcome;

/// An order for the media plane, carried out by the driver.
#[derive(Debug, Clone)]
pub enum MediaCommand {
    /// Bind `port` for the leg (see [`MediaOrder::Open`]).
    Open {
        /// Gateway call id.
        call: u64,
        /// Which leg.
        leg: LegId,
        /// Our RTP port.
        port: u16,
        /// The leg's codec.
        choice: Choice,
        /// Where the leg receives.
        remote: Option<SocketAddr>,
    },
    /// New SDP from the leg.
    Update {
        /// Gateway call id.
        call: u64,
        /// Which leg.
        leg: LegId,
        /// The leg's codec.
        choice: Choice,
        /// Where the leg receives.
        remote: Option<SocketAddr>,
        /// Whether it sends.
        sends: bool,
    },

    /// Close one leg.
    CloseLeg {
        /// Gateway call id.
        call: u64,
        /// Which leg.
        leg: LegId,
    },
    /// Close the call's media.
    Close {
        /// Gateway call id.
        call: u64,
    },
    /// Play to a leg.
    Play {
        /// Gateway call id.
        call: u64,
        /// Which leg.
        leg: LegId,
        /// What.
        playlist: Playlist,
    },
    /// Two legs hear each other.
    Bridge {
        /// Gateway call id.
        call: u64,
        /// One leg.
        a: LegId,
        /// The other.
        b: LegId,
    },
    /// These legs hear each other through the mixer, each all the others but itself.
    Mix {
        /// Gateway call id.
        call: u64,
        /// The legs.
        legs: Vec<LegId>,
    },
    /// Send keys to a leg as RFC 4733 telephone-events.
    SendDigits {
        /// Gateway call id.
        call: u64,
        /// Which leg.
        leg: LegId,
        /// The keys.
        digits: String,
    },
}

/// The media plane's leg of a gateway side (before any transfer).
const fn leg_of(side: Side) -> LegId {
    match side {
        Side::Caller => LegId::CALLER,
        Side::Seat => LegId::SEAT,
    }
}

impl From<MediaOrder> for MediaCommand {
    fn from(o: MediaOrder) -> Self {
        match o {
            MediaOrder::Open {
                call,
                leg,
                port,
                choice,
                remote,
            } => Self::Open {
                call,
                leg: LegId(leg),
                port,
                choice,
                remote,
            },
            MediaOrder::Update {
                call,
                leg,
                choice,
                remote,
                sends,
                ..
            } => Self::Update {
                call,
                leg: LegId(leg),
                choice,
                remote,
                sends,
            },
            MediaOrder::CloseLeg { call, leg } => Self::CloseLeg {
                call,
                leg: LegId(leg),
            },
            MediaOrder::Close { call } => Self::Close { call },
        }
    }
}

/// The plan's audio: prompts by name, what each line's waiting callers hear, the survey.
#[derive(Debug)]
pub(super) struct Audio {
    pub(super) prompts: Arc<PromptBook>,
    pub(super) waiting: std::collections::HashMap<String, WaitingPlan>,
    pub(super) survey: Option<SurveyPlan>,
}

/// Where a call's survey stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Survey {
    /// Not asked (no survey configured, or the call never reached a seat).
    #[default]
    NotAsked,
    /// The question is playing or waiting for a key; the timeout runs from `deadline`.
    Asking {
        /// When the caller's time to answer ends (set once the question has played).
        deadline: Option<Instant>,
    },
    /// Answered (1-5) or timed out (0); the closing prompt plays, then the platform hangs up.
    Closing(u8),
}

/// Timers of the audio side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum AudioTimer {
    /// Time for a queued caller's position / wait notice.
    Announce,
    /// The survey's time to answer is over.
    SurveyTimeout,
}

/// The in-call key a seat presses to hand the caller to the survey (转满意度评价).
pub const SURVEY_KEY: &str = "*8";

impl Engine {
    /// The next order for the media plane.
    pub fn poll_media(&mut self) -> Option<MediaCommand> {
        self.take_gateway_orders();
        self.media.pop_front()
    }

    /// The gateway's media orders, in the order it made them and before any the engine adds
    /// after them (a leg is opened before it is played to). A seat that puts the call on hold
    /// (its SDP no longer asks to hear us) gets the caller music; taking it back, the bridge.
    pub(super) fn take_gateway_orders(&mut self) {
        while let Some(order) = self.gw.poll_media() {
            let hold = match order {
                MediaOrder::Update {
                    call,
                    leg: 1,
                    receives,
                    ..
                } => Some((call, !receives)),
                _ => None,
            };
            self.media.push_back(order.into());
            if let Some((call, on_hold)) = hold {
                self.seat_hold(call, on_hold);
            }
        }
    }

    /// Queue an order of the engine's own, after the gateway's so far.
    pub(super) fn order(&mut self, command: MediaCommand) {
        self.take_gateway_orders();
        self.media.push_back(command);
    }

    /// Music for a caller the seat holds; the bridge again when it resumes.
    fn seat_hold(&mut self, call: u64, on_hold: bool) {
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        if rec.answered.is_none() || rec.seat_done.is_some() || rec.held == on_hold {
            return;
        }
        rec.held = on_hold;
        tracing::info!(call = rec.id, on_hold, "seat hold");
        if on_hold {
            self.hold_music(call);
        } else {
            self.media.push_back(MediaCommand::Bridge {
                call,
                a: LegId::CALLER,
                b: LegId::SEAT,
            });
        }
    }

    /// The caller hears the line's music (held by the seat, or during a consultation).
    pub(super) fn hold_music(&mut self, call: u64) {
        let Some(line) = self.calls.get(&call).map(|r| r.line.clone()) else {
            return;
        };
        let then = self.music(&line);
        self.media.push_back(MediaCommand::Play {
            call,
            leg: LegId::CALLER,
            playlist: Playlist {
                clips: Vec::new(),
                then,
            },
        });
    }

    fn clip(&self, name: &str) -> Option<Clip> {
        let audio = self.audio.as_ref()?;
        audio.prompts.get(name).map(|p| Clip::Prompt(Arc::clone(p)))
    }

    fn waiting_plan(&self, line: &str) -> Option<&WaitingPlan> {
        self.audio.as_ref()?.waiting.get(line)
    }

    fn play(&mut self, call: u64, clips: Vec<Clip>, then: After) {
        self.order(MediaCommand::Play {
            call,
            leg: LegId::CALLER,
            playlist: Playlist { clips, then },
        });
    }

    fn music(&self, line: &str) -> After {
        self.waiting_plan(line)
            .and_then(|w| w.music.as_deref())
            .and_then(|m| self.clip(m))
            .map_or(After::Silence, After::Loop)
    }

    /// Whether the platform plays media to this call's caller (anchored, with a plan).
    pub(super) fn has_audio(&self, call: u64) -> bool {
        self.audio.is_some() && self.gw.anchored_answer_possible(call)
    }

    /// A notice of the dial plan (the merged-line notice): heard as early media; the flow
    /// goes on when it has played. False when it cannot be played (no media): go on now.
    pub(super) fn play_notice(&mut self, now: Instant, call: u64, prompt: &str) -> bool {
        if !self.has_audio(call) {
            return false;
        }
        let Some(clip) = self.clip(prompt) else {
            return false;
        };
        if !self.gw.early_media(now, call) {
            return false;
        }
        self.play(call, vec![clip], After::Silence);
        true
    }

    /// A call entered its queue: early media with the welcome and music, position / wait
    /// notices on their period. Without media the caller hears ringback (180).
    pub(super) fn start_waiting(&mut self, now: Instant, call: u64) {
        let line = self.calls.get(&call).map(|r| r.line.clone());
        let Some(line) = line.filter(|_| self.has_audio(call)) else {
            self.gw.ring_back(now, call);
            return;
        };
        if !self.gw.early_media(now, call) {
            return;
        }
        let plan = self.waiting_plan(&line).cloned();
        let clips: Vec<Clip> = plan
            .as_ref()
            .and_then(|w| w.welcome.as_deref())
            .and_then(|w| self.clip(w))
            .into_iter()
            .collect();
        let then = self.music(&line);
        self.play(call, clips, then);
        if let Some(every) = plan
            .filter(|w| w.position || w.estimated_wait)
            .and_then(|w| w.announce_every)
        {
            self.arm_audio(call, now + every, AudioTimer::Announce);
        }
    }

    pub(super) fn arm_audio(&mut self, call: u64, at: Instant, timer: AudioTimer) {
        if let Some(rec) = self.calls.get_mut(&call) {
            match timer {
                AudioTimer::Announce => rec.announce_at = Some(at),
                AudioTimer::SurveyTimeout => {}
            }
        }
        self.audio_timers.push(Reverse((at, call, timer)));
    }

    pub(super) fn on_audio_timer(&mut self, now: Instant, at: Instant, call: u64, t: AudioTimer) {
        match t {
            AudioTimer::Announce => self.announce(now, at, call),
            AudioTimer::SurveyTimeout => {
                let due = self.calls.get(&call).is_some_and(
                    |r| matches!(r.survey, Survey::Asking { deadline: Some(d) } if d == at),
                );
                if due {
                    self.close_survey(call, 0);
                }
            }
        }
    }

    /// Position and estimated-wait notice, then music again.
    fn announce(&mut self, now: Instant, at: Instant, call: u64) {
        let Some(rec) = self.calls.get(&call) else {
            return;
        };
        if rec.announce_at != Some(at) || rec.answered.is_some() || rec.queue.is_none() {
            return;
        }
        let (id, line, ringing) = (rec.id, rec.line.clone(), rec.seat.is_some());
        let Some(plan) = self.waiting_plan(&line).cloned() else {
            return;
        };
        let Some(every) = plan.announce_every else {
            return;
        };
        self.arm_audio(call, now + every, AudioTimer::Announce);
        if ringing {
            // A seat is about to answer: no notice over its ringing.
            return;
        }
        let mut clips = Vec::new();
        let numbers = self.audio.as_ref().map(|a| Arc::clone(&a.prompts));
        let Some(numbers) = numbers else {
            return;
        };
        let n = |k: u32| numbers.number(k).map(|p| Clip::Prompt(Arc::clone(p)));
        if plan.position {
            if let Some(pos) = self.acd.position(CallId(id)) {
                let pos = u32::try_from(pos).unwrap_or(u32::MAX);
                clips.extend(self.clip("position_before"));
                clips.extend(n(pos));
                clips.extend(self.clip("position_after"));
            }
        }
        if plan.estimated_wait {
            if let Some(wait) = self.acd.estimated_wait(CallId(id), now) {
                let minutes = u32::try_from(wait.as_secs().div_ceil(60).max(1)).unwrap_or(30);
                clips.extend(self.clip("wait_before"));
                clips.extend(n(minutes));
                clips.extend(self.clip("wait_minutes"));
            }
        }
        if clips.is_empty() {
            return;
        }
        let then = self.music(&line);
        self.play(call, clips, then);
    }

    /// The seat answered: caller and seat hear each other. With a survey the caller is kept
    /// when the seat hangs up.
    pub(super) fn on_bridged(&mut self, call: u64) {
        if !self.has_audio(call) {
            return;
        }
        self.order(MediaCommand::Bridge {
            call,
            a: LegId::CALLER,
            b: LegId::SEAT,
        });
        let queued = self
            .calls
            .get(&call)
            .is_some_and(|r| r.queue.is_some() && !r.direct);
        if queued && self.audio.as_ref().is_some_and(|a| a.survey.is_some()) {
            self.gw.keep_caller(call, true);
        }
    }

    /// The seat left and the caller stays: the seat's conversation is over for the
    /// distributor, and the survey question plays.
    pub(super) fn on_seat_hung_up(&mut self, now: Instant, call: u64) {
        if self.seat_left_transfer(now, call) {
            return;
        }
        self.close_leg(now, call, "hung-up");
        self.complete(now, call, false);
        let question = self
            .audio
            .as_ref()
            .and_then(|a| a.survey.as_ref())
            .map(|s| s.prompt.clone());
        let clip = question.and_then(|q| self.clip(&q));
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        rec.seat_done = Some(now);
        match clip {
            Some(clip) => {
                rec.survey = Survey::Asking { deadline: None };
                self.play(call, vec![clip], After::Silence);
            }
            None => {
                self.gw.hang_up_locally(now, call);
            }
        }
    }

    fn close_survey(&mut self, call: u64, answer: u8) {
        let survey = self.audio.as_ref().and_then(|a| a.survey.clone());
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        rec.survey = Survey::Closing(answer);
        let name = survey.map(|s| if answer == 0 { s.no_answer } else { s.thanks });
        let clip = name.and_then(|n| self.clip(&n));
        self.play(call, clip.into_iter().collect(), After::Silence);
    }

    /// What the media plane reports.
    pub fn on_media_event(&mut self, now: Instant, event: MediaEvent) {
        match event {
            MediaEvent::Digit { call, leg, digit } => {
                let side = match leg {
                    LegId::CALLER => Side::Caller,
                    LegId::SEAT => Side::Seat,
                    // A transfer target's keys are its own business.
                    _ => return,
                };
                self.on_digit(now, call, side, digit, false);
            }
            MediaEvent::PlayDone { call, leg } if leg == LegId::CALLER => {
                self.on_play_done(now, call);
            }
            MediaEvent::PlayDone { call, leg } if leg == LegId::SEAT => {
                // The seat heard a cue (a transfer refused or failed): back to the caller.
                if let Some(rec) = self.calls.get_mut(&call) {
                    if std::mem::take(&mut rec.rebridge_seat) && rec.transfer.is_none() {
                        self.order(MediaCommand::Bridge {
                            call,
                            a: LegId::CALLER,
                            b: LegId::SEAT,
                        });
                    }
                }
            }
            MediaEvent::PlayDone { .. } => {}
            MediaEvent::NoRtp { call, leg } => {
                // Both legs of a dead call usually go silent together: one hang-up, counted once.
                let first = self
                    .calls
                    .get_mut(&call)
                    .is_some_and(|rec| !std::mem::replace(&mut rec.no_rtp, true));
                if first {
                    tracing::warn!(call, ?leg, "no RTP: hanging up");
                    self.metrics.media_no_rtp();
                    self.gw.terminate(now, call);
                }
            }
        }
        self.pump(now);
    }

    /// The media plane could not open a leg (no socket): the call cannot be carried.
    pub fn on_media_failed(&mut self, now: Instant, call: u64) {
        tracing::error!(call, "media plane could not open a leg: ending the call");
        self.gw.terminate(now, call);
        self.pump(now);
    }

    fn on_play_done(&mut self, now: Instant, call: u64) {
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        if rec.hang_up_after_play {
            // A little after the cue, so its last packets are heard before the BYE.
            self.hangups
                .push(Reverse((now + Duration::from_millis(300), call)));
            return;
        }
        if let Some(run) = rec.flow.take() {
            self.run_flow(now, call, run, true);
            return;
        }
        match rec.survey {
            Survey::Asking { deadline: None } => {
                let timeout = self
                    .audio
                    .as_ref()
                    .and_then(|a| a.survey.as_ref())
                    .map_or(Duration::from_secs(10), |s| s.timeout);
                let at = now + timeout;
                if let Some(rec) = self.calls.get_mut(&call) {
                    rec.survey = Survey::Asking { deadline: Some(at) };
                }
                self.arm_audio(call, at, AudioTimer::SurveyTimeout);
            }
            Survey::Closing(_) => {
                self.gw.hang_up_locally(now, call);
            }
            Survey::Asking { .. } | Survey::NotAsked => {}
        }
    }

    /// A key from a leg, by RFC 4733 (`info` false) or SIP INFO (`info` true).
    pub(super) fn on_digit(
        &mut self,
        now: Instant,
        call: u64,
        side: Side,
        digit: char,
        info: bool,
    ) {
        self.metrics.dtmf_digit();
        let Some(rec) = self.calls.get_mut(&call) else {
            return;
        };
        if side == Side::Caller && matches!(rec.survey, Survey::Asking { .. }) {
            if let Some(answer) = digit.to_digit(10).filter(|d| (1..=5).contains(d)) {
                let answer = u8::try_from(answer).unwrap_or(0);
                tracing::info!(call = rec.id, answer, "survey answered");
                self.close_survey(call, answer);
            }
            return;
        }
        if rec.answered.is_none() || rec.seat_done.is_some() {
            return;
        }
        if side == Side::Seat {
            rec.keys.push(digit);
            if rec.keys.len() > 12 {
                rec.keys.remove(0);
            }
            if self.transfer_keys(now, call) {
                return;
            }
            let Some(rec) = self.calls.get_mut(&call) else {
                return;
            };
            if rec.keys.ends_with(SURVEY_KEY)
                && rec.transfer.is_none()
                && self.audio.as_ref().is_some_and(|a| a.survey.is_some())
                && rec.queue.is_some()
            {
                rec.keys.clear();
                tracing::info!(call = rec.id, "seat hands the caller to the survey");
                self.gw.release_seat(now, call);
                return;
            }
        }
        if info {
            // A SIP INFO key is not in the RTP stream: send it on as telephone-event.
            let leg = leg_of(match side {
                Side::Caller => Side::Seat,
                Side::Seat => Side::Caller,
            });
            self.order(MediaCommand::SendDigits {
                call,
                leg,
                digits: digit.to_string(),
            });
        }
    }

    /// SDP offers the gateway refused, by status.
    pub fn sdp_refused(&self) -> Vec<(u16, u64)> {
        let mut v: Vec<(u16, u64)> = self
            .gw
            .stats()
            .media_refused
            .iter()
            .map(|(s, n)| (*s, *n))
            .collect();
        v.sort_unstable();
        v
    }

    /// The outcome of a call that reached a seat and may have been surveyed.
    pub(super) fn survey_answer(&self, call: u64) -> Option<u8> {
        match self.calls.get(&call)?.survey {
            Survey::NotAsked => None,
            Survey::Asking { .. } => Some(0),
            Survey::Closing(a) => Some(a),
        }
    }

    /// A call kept for the survey ended (the platform hung up, or the caller did).
    pub(super) fn finish_surveyed(&mut self, now: Instant, call: u64) {
        self.finish(now, call, CallOutcome::Answered);
    }
}
