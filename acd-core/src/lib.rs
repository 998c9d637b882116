//! # acd-core
//!
//! The automatic call distributor as a pure state machine: queues, seats, pools, strategies,
//! overflow, surge and answer-rate accounting, with no sockets, no clock and no async runtime.
//!
//! Empty on purpose: it is built by the call-distributor issue. Until then the gateway routes
//! through `sip_gateway::route::Router`, where this crate will plug in.
#![forbid(unsafe_code)]
