//! # hotline
//!
//! The server that joins the SIP gateway, the dial plan and the call distributor into the
//! running 12345 platform, plus what operators need around it:
//!
//! - [`config`]: the TOML plan (the Zhengzhou plan is embedded), validated with file, line and key.
//! - [`prompts`]: the prompt WAVs (embedded, or a directory), decoded once at start.
//! - [`engine`]: the sans-IO platform core (gateway + dial plan + distributor) and its tokio task.
//! - [`record`] and [`store`]: call records, legs, queue events and seat changes in SQLite (WAL).
//! - [`api`], [`http`] and [`metrics`]: the JSON API under `/api/v1` and `/metrics`.
//! - [`ticket`]: the ticket push (工单推送): a transferred call's ticket POSTed to the sub-platform.
//! - [`privacy`] and [`audit`]: callers' numbers masked unless a role may see them; the audit
//!   ledger of API writes, refusals and unmasked views.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod audit;
pub mod config;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod privacy;
pub mod prompts;
pub mod record;
pub mod store;
pub mod ticket;
