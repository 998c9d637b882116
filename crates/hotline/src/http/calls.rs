//! `GET /api/v1/calls`: calls in progress, callers' numbers masked (crate::privacy) unless a
//! role that may see them asks with a reason, which goes into the audit ledger with the calls
//! shown; a seat sees only the calls at its own seat.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::access::Role;
use super::auth::{AuditNote, Who};
use super::error::QueryParams;
use super::{AppState, Calls};
use crate::api::{ApiError, Command};
use crate::audit::AuditAction;

/// `GET /api/v1/calls` query: `?unmask=true&reason=…` shows callers' numbers in full.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallsQuery {
    #[serde(default)]
    unmask: bool,
    reason: Option<String>,
}

/// The longest reason accepted for an unmasked view, in characters.
pub(super) const UNMASK_REASON_MAX: usize = 200;

impl CallsQuery {
    /// The reason of an unmasked view, `None` for a masked one; 400 when they do not fit.
    fn unmask_reason(self) -> Result<Option<String>, ApiError> {
        let bad = |m: String| Err(ApiError::bad_request("invalid_query", m));
        match (self.unmask, self.reason) {
            (false, None) => Ok(None),
            (false, Some(_)) => bad("reason is only used with unmask=true".into()),
            (true, None) => bad(format!(
                "unmask=true needs a reason (1 to {UNMASK_REASON_MAX} characters): it goes \
                 into the audit ledger"
            )),
            (true, Some(reason)) => {
                let reason = reason.trim();
                let n = reason.chars().count();
                if n == 0 || n > UNMASK_REASON_MAX {
                    bad(format!(
                        "reason must be 1 to {UNMASK_REASON_MAX} characters, not {n}"
                    ))
                } else if reason.chars().any(char::is_control) {
                    bad("reason must not hold control characters".into())
                } else {
                    Ok(Some(reason.to_owned()))
                }
            }
        }
    }
}

/// Calls in progress; a seat sees its own only. Callers' numbers are masked unless a role
/// that may unmask asks with a reason, which the audit ledger records with the calls shown.
pub(super) async fn list_calls(
    State(s): State<AppState>,
    Who(who): Who,
    QueryParams(query): QueryParams<CallsQuery>,
) -> Result<Response, ApiError> {
    let reason = query.unmask_reason()?;
    if reason.is_some() && !who.role.may_unmask() {
        let why = format!(
            "role {} may not see callers' numbers unmasked",
            who.role.as_str()
        );
        let note = AuditNote {
            action: AuditAction::Forbidden,
            detail: why.clone(),
        };
        let error = ApiError {
            status: 403,
            code: "forbidden",
            message: why,
        };
        return Ok(note.attach(error.into_response()));
    }
    let mut calls = s.ask(|reply| Command::ListCalls { reply }).await?;
    if who.role == Role::Seat {
        calls.retain(|c| c.seat.is_some() && c.seat == who.seat);
    }
    let Some(reason) = reason else {
        return Ok(Json(Calls { calls }).into_response());
    };
    let ids: Vec<String> = calls.iter().map(|c| c.id.to_string()).collect();
    for call in &mut calls {
        call.caller = call.caller.clone().revealed();
    }
    let note = AuditNote {
        action: AuditAction::Unmask,
        detail: format!(
            "reason: {reason}; calls: {}",
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        ),
    };
    Ok(note.attach(Json(Calls { calls }).into_response()))
}
