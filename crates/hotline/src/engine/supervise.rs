//! Supervisor controls beyond a seat's state and the surge switch: moving a seat between pools
//! and skills, and withdrawing a waiting call to a named seat (docs/api.md).

use std::time::Instant;

use acd_core::{AcdError, CallId, Input, Pool, Skill, TopicId};

use super::views::pool_name;
use super::Engine;
use crate::api::{ApiError, CallView, SeatAssignRequest, SeatView};

/// A pool by its configuration name.
fn pool_of(name: &str) -> Option<Pool> {
    [
        Pool::Intake,
        Pool::Support,
        Pool::Surge,
        Pool::Expert,
        Pool::Leader,
    ]
    .into_iter()
    .find(|&p| pool_name(p) == name)
}

impl Engine {
    /// Move seat `seat` to another pool and/or give it other skills (`"topic:level"`, level
    /// 1-10). A ready seat serves its new pool at once; a busy one from its next call.
    pub fn assign_seat(
        &mut self,
        now: Instant,
        seat: &str,
        request: &SeatAssignRequest,
    ) -> Result<SeatView, ApiError> {
        let idx = *self
            .seat_by_name
            .get(seat)
            .ok_or_else(|| ApiError::not_found("unknown_seat", format!("no seat {seat:?}")))?;
        if request.pool.is_none() && request.skills.is_none() {
            return Err(ApiError::unprocessable(
                "invalid_body",
                "give `pool`, `skills` or both",
            ));
        }
        let pool = match request.pool.as_deref() {
            Some(name) => pool_of(name).ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_pool",
                    format!("no pool {name:?}: intake, support, surge, expert or leader"),
                )
            })?,
            None => self.seats[idx].pool,
        };
        let names = request
            .skills
            .clone()
            .unwrap_or_else(|| self.seats[idx].skills.clone());
        let skills = names
            .iter()
            .map(|s| self.skill_of(s))
            .collect::<Result<Vec<Skill>, ApiError>>()?;
        let id = self.seats[idx].id;
        self.acd
            .assign_seat(now, id, pool, skills)
            .map_err(|e| ApiError::conflict("invalid_assignment", format!("seat {seat}: {e}")))?;
        let meta = &mut self.seats[idx];
        tracing::info!(
            seat,
            from = pool_name(meta.pool),
            to = pool_name(pool),
            skills = ?names,
            "seat moved by a supervisor"
        );
        meta.pool = pool;
        meta.skills = names;
        self.pump(now);
        self.seat_view(now, idx)
            .ok_or_else(|| ApiError::not_found("unknown_seat", format!("no seat {seat:?}")))
    }

    /// `"topic:level"` → a skill of a known topic, level 1-10.
    fn skill_of(&self, text: &str) -> Result<Skill, ApiError> {
        let bad = || {
            ApiError::unprocessable(
                "invalid_skill",
                format!("skill {text:?}: write \"topic:level\" with a topic of the plan and a level 1-10"),
            )
        };
        let (topic, level) = text.rsplit_once(':').ok_or_else(bad)?;
        let level: u8 = level
            .parse()
            .ok()
            .filter(|l| (1..=10).contains(l))
            .ok_or_else(bad)?;
        let topic = self
            .topics
            .iter()
            .position(|t| t == topic)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(bad)?;
        Ok(Skill {
            topic: TopicId(topic),
            level,
        })
    }

    /// Ring seat `seat` with the waiting call `call` (the API's id) now, ahead of the queue's
    /// order. The seat must be ready with a registered phone; if it does not answer, the call
    /// goes back to the head of its queue.
    pub fn withdraw_call(
        &mut self,
        now: Instant,
        call: u64,
        seat: &str,
    ) -> Result<CallView, ApiError> {
        let gw_call = *self.by_id.get(&call).ok_or_else(|| {
            ApiError::not_found("unknown_call", format!("no call {call} in progress"))
        })?;
        let idx = *self
            .seat_by_name
            .get(seat)
            .ok_or_else(|| ApiError::not_found("unknown_seat", format!("no seat {seat:?}")))?;
        if self.gw.registrar().lookup(now, seat).is_none() {
            return Err(ApiError::conflict(
                "not_registered",
                format!("seat {seat} has no registered phone"),
            ));
        }
        let queued = self
            .calls
            .get(&gw_call)
            .is_some_and(|r| r.queue.is_some() && r.answered.is_none() && !r.direct);
        if !queued {
            return Err(not_waiting(call));
        }
        let input = Input::Withdraw {
            call: CallId(call),
            seat: self.seats[idx].id,
        };
        self.source = "api";
        let result = self.acd.handle(now, input);
        self.pump(now);
        self.source = "distributor";
        result.map_err(|e| match e {
            AcdError::NotWaiting(_) | AcdError::UnknownCall(_) => not_waiting(call),
            AcdError::SeatNotReady(_) => {
                ApiError::conflict("seat_not_ready", format!("seat {seat} is not ready"))
            }
            e => ApiError::conflict("invalid_withdraw", e.to_string()),
        })?;
        tracing::info!(
            call,
            seat,
            "waiting call withdrawn to a seat by a supervisor"
        );
        self.calls(now)
            .into_iter()
            .find(|c| c.id == call)
            .ok_or_else(|| {
                ApiError::not_found("unknown_call", format!("no call {call} in progress"))
            })
    }
}

fn not_waiting(call: u64) -> ApiError {
    ApiError::conflict(
        "call_not_waiting",
        format!("call {call} is not waiting in a queue"),
    )
}
