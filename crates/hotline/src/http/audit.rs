//! `GET /api/v1/audit`: the ledger, read-only (admin; the role table says so). There is no
//! route that changes it: any other method on the path is 405, and the database refuses
//! `UPDATE` and `DELETE` of its rows.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::QueryParams;
use super::AppState;
use crate::api::{ApiError, Command};
use crate::audit::{AuditQuery, AuditRow, AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX};

/// The query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    since: Option<i64>,
    after: Option<i64>,
    actor: Option<String>,
    limit: Option<u32>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub(super) struct AuditList {
    audit: Vec<AuditRow>,
}

impl AuditParams {
    fn into_query(self) -> Result<AuditQuery, ApiError> {
        let limit = self.limit.unwrap_or(AUDIT_LIMIT_DEFAULT);
        if !(1..=AUDIT_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be 1 to {AUDIT_LIMIT_MAX}, not {limit}"),
            ));
        }
        if self.actor.as_deref().is_some_and(str::is_empty) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "actor must not be empty",
            ));
        }
        Ok(AuditQuery {
            since: self.since,
            after: self.after,
            actor: self.actor,
            limit,
        })
    }
}

/// Rows in the order written, once every entry sent before this request is committed.
pub(super) async fn read_audit(
    State(s): State<AppState>,
    QueryParams(params): QueryParams<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let query = params.into_query()?;
    let audit = s.ask(|reply| Command::ReadAudit { query, reply }).await??;
    Ok(Json(AuditList { audit }))
}
