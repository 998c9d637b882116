//! The audit ledger (table `audit`): who did what through the API, when and from where.
//!
//! The HTTP layer writes an [`AuditEntry`] for every write (any method but `GET`/`HEAD`),
//! every refusal (401, 403, 429) and every view of an unmasked caller number; entries reach
//! the store through the engine task like every other record, so they are committed in order
//! and never dropped while the disk fails (docs/storage.md). The API can read the ledger
//! ([`AuditQuery`], admin only) but has no way to change it, and the database refuses
//! `UPDATE` and `DELETE` on it with triggers.

use serde::Serialize;

use crate::record::UnixMs;

/// What an entry records (column `audit.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A write through the API (any method but `GET`/`HEAD`), with its outcome status.
    Write,
    /// 401: no token, or a token that matches none.
    Unauthenticated,
    /// 403: the role may not do this, or a non-loopback client while no tokens are set.
    Forbidden,
    /// 429: too many failed attempts from the client's address.
    RateLimited,
    /// Callers' numbers were shown unmasked; the detail holds the reason.
    Unmask,
}

impl AuditAction {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Unmask => "unmask",
        }
    }
}

/// One row of the ledger, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When the request was answered (Unix ms).
    pub at_ms: UnixMs,
    /// The token's name from the secrets file (`duty-1`), `loopback` for a loopback client
    /// while no tokens are configured, `-` when nobody was authenticated.
    pub actor: String,
    /// `seat`, `monitor`, `supervisor`, `admin`; `None` when nobody was authenticated.
    pub role: Option<String>,
    /// The client's address (`ip:port`) as the socket saw it.
    pub source: String,
    /// HTTP method.
    pub method: String,
    /// The path, without the query (which may hold a token).
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// What is recorded.
    pub action: AuditAction,
    /// What was asked or why it was refused: the request body of a write (cut to
    /// [`DETAIL_MAX`] characters), the reason of an unmasked view, the refusal's reason.
    pub detail: Option<String>,
}

/// Longest `detail` stored, in characters; longer text is cut and ends with `…`.
pub const DETAIL_MAX: usize = 1000;

/// Cut `text` to [`DETAIL_MAX`] characters.
pub fn clip_detail(text: &str) -> String {
    match text.char_indices().nth(DETAIL_MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A row read back (`GET /api/v1/audit`): the columns of [`AuditEntry`] as stored, with the
/// row's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Order of writing, from 1; never reused.
    pub id: i64,
    /// See [`AuditEntry::at_ms`].
    pub at_ms: UnixMs,
    /// See [`AuditEntry::actor`].
    pub actor: String,
    /// See [`AuditEntry::role`].
    pub role: Option<String>,
    /// See [`AuditEntry::source`].
    pub source: String,
    /// See [`AuditEntry::method`].
    pub method: String,
    /// See [`AuditEntry::path`].
    pub path: String,
    /// See [`AuditEntry::status`].
    pub status: u16,
    /// [`AuditAction::as_str`], as stored (a newer build's name is shown as it is).
    pub action: String,
    /// See [`AuditEntry::detail`].
    pub detail: Option<String>,
}

/// `GET /api/v1/audit?since=…&after=…&actor=…&limit=…`: rows in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only rows with `at_ms >= since`.
    pub since: Option<UnixMs>,
    /// Only rows with `id > after` (paging: pass the last id received).
    pub after: Option<i64>,
    /// Only rows of this actor.
    pub actor: Option<String>,
    /// At most this many rows (1 to [`AUDIT_LIMIT_MAX`]).
    pub limit: u32,
}

/// Rows answered when the query names no `limit`.
pub const AUDIT_LIMIT_DEFAULT: u32 = 100;
/// The largest `limit` accepted.
pub const AUDIT_LIMIT_MAX: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_cut_on_characters() {
        assert_eq!(clip_detail("short"), "short");
        let long = "审".repeat(DETAIL_MAX + 5);
        let cut = clip_detail(&long);
        assert_eq!(cut.chars().count(), DETAIL_MAX + 1);
        assert!(cut.ends_with('…'));
    }
}
