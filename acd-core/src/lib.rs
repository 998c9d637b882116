//! # acd-core
//!
//! The automatic call distributor (ACD) of the 12345 hotline as a pure state machine: lines
//! feed queues, queues overflow through tiers of seat pools, seats are chosen by skill and a
//! per-queue strategy, and a surge pool opens when the platform falls behind. No sockets, no
//! clock, no async runtime: time is an input.
//!
//! ## Driving contract
//!
//! 1. Build an [`Acd`] from an [`AcdConfig`] (a plain struct, built in code).
//! 2. For each event call [`Acd::handle`]`(now, input)`. Bad input returns a typed
//!    [`AcdError`] and leaves the state unchanged.
//! 3. Then drain [`Acd::poll_output`] until it returns `None` and carry out each [`Output`]
//!    (ring a seat, tell the caller's leg where to go, show a seat's state, announce surge).
//! 4. Ask [`Acd::poll_timeout`] when to wake next; at that instant call
//!    [`Acd::handle_timeout`]`(now)` and drain outputs again. Time-driven work is overflow
//!    widening, maximum wait, wrap-up end and surge evaluation.
//!
//! The shell rings seats and enforces the ring timeout carried in [`Output::Offer`]; when it
//! passes (or the seat rejects, or cannot be reached) it reports [`Input::OfferFailed`] and the
//! call goes back to the head of its queue with its original wait.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use acd_core::*;
//!
//! let mut cfg = AcdConfig::default();
//! let topic = cfg.topic("general");
//! cfg.queues.push(QueueConfig {
//!     name: "12345".into(),
//!     lines: vec![Line(12345)],
//!     strategy: Strategy::LongestIdle,
//!     tiers: vec![Tier { pools: vec![Pool::Intake], min_level: None, after: Duration::ZERO }],
//!     ring_timeout: Some(Duration::from_secs(10)),
//!     max_wait: None,
//! });
//! cfg.seats.push(SeatConfig::new(SeatId(1), Pool::Intake));
//! let mut acd = Acd::new(cfg).unwrap();
//! let now = Instant::now();
//! acd.handle(now, Input::SeatState { seat: SeatId(1), state: SeatRequest::Ready }).unwrap();
//! acd.handle(now, Input::CallArrived {
//!     call: CallId(7), line: Line(12345), topic, priority: Priority(0),
//! }).unwrap();
//! let mut offered = None;
//! while let Some(out) = acd.poll_output() {
//!     if let Output::Offer { call, seat, .. } = out {
//!         offered = Some((call, seat));
//!     }
//! }
//! assert_eq!(offered, Some((CallId(7), SeatId(1))));
//! ```
//!
//! ## Performance
//!
//! Waiting calls sit in per-(queue, topic, priority) ordered maps; a routing decision looks
//! at bucket heads and at the idle seats of the eligible pools only, never at all waiting
//! calls. See `benches/decision.rs`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod acd;
mod config;
mod error;
mod figures;
mod idhash;
mod model;
mod queue;
mod seats;
mod strategy;
mod surge;
mod weights;

pub use acd::Acd;
pub use config::{
    AcdConfig, MaxWait, PoolConfig, QueueConfig, SeatConfig, Strategy, SurgeConfig, Tier,
};
pub use error::AcdError;
pub use figures::{Figures, Scope, Window};
pub use model::{
    CallId, Counters, Exit, Input, LeaveReason, Line, NotReadyReason, OfferFailure, Output, Pool,
    Priority, QueueId, SeatId, SeatRequest, SeatState, Skill, SurgeReason, TopicId,
};
pub mod plan;
pub mod simulation;
pub mod staffing;
