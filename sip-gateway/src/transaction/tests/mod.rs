//! Deterministic tests on a fake clock (see [`harness`]).

mod client_invite;
mod client_non_invite;
mod harness;
mod proptests;
mod server_invite;
mod server_non_invite;

pub(crate) use harness::start;
