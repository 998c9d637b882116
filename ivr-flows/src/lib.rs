//! # ivr-flows
//!
//! The dial plan and call flows as data, plus a pure interpreter: which dialed number leads
//! where, which announcement plays first, which queue the caller joins and with what topic,
//! and which numbers a registered seat dials to change its own state (feature codes).
//!
//! No I/O, no clock, no async runtime. The caller of this crate (the `hotline` engine) plays
//! prompts, joins queues and answers SIP; this crate only says what to do next.
//!
//! ## Driving contract
//!
//! 1. Build a [`DialPlan`] once from [`Entry`]s and [`FeatureCodes`] with [`DialPlan::new`].
//!    It checks the plan and returns a [`PlanError`] for anything that could not run: two
//!    entries for one number, an empty flow, a flow that does not end in a terminal step
//!    ([`Step::Enqueue`] or [`Step::Reject`]), steps after a terminal step, feature codes
//!    clashing with numbers or with each other, a reject status outside `400..=699`.
//! 2. For each new call, [`DialPlan::start`]`(dialed, from_seat)` gives a [`FlowRun`]. The
//!    lookup is one hash-map probe. `from_seat` is `Some(seat id)` when the caller is a
//!    registered seat; only then do feature codes apply (anyone else dialing one gets
//!    `403 Forbidden`). Unknown numbers get `404 Not Found`.
//! 3. Drain [`FlowRun::poll_action`] and carry out each [`Action`]:
//!    - [`Action::Play`]: play the prompt, then call [`FlowRun::prompt_done`] (also when the
//!      prompt could not be played: a missing announcement must not lose the caller).
//!      Until then `poll_action` returns `None`.
//!    - [`Action::Enqueue`], [`Action::Reject`], [`Action::Feature`]: terminal. The run is
//!      then [finished](FlowRun::is_finished) and `poll_action` returns `None` for ever.
//!
//! Every run the plan accepts yields exactly one terminal action (a property test checks
//! this for arbitrary plans).
//!
//! ```
//! use ivr_flows::*;
//!
//! let plan = DialPlan::new(
//!     vec![
//!         Entry { number: "12345".into(), flow: Flow { steps: vec![
//!             Step::Enqueue { topic: "general".into(), priority: 0 },
//!         ] } },
//!         Entry { number: "12349".into(), flow: Flow { steps: vec![
//!             Step::Notice { prompt: "merged-12349".into() },
//!             Step::Enqueue { topic: "民政".into(), priority: 0 },
//!         ] } },
//!     ],
//!     FeatureCodes { ready: "*11".into(), not_ready: "*12".into(), log_out: "*13".into() },
//! )
//! .unwrap();
//!
//! let mut run = plan.start("12349", None);
//! assert_eq!(run.poll_action(), Some(Action::Play { prompt: "merged-12349".into() }));
//! assert_eq!(run.poll_action(), None); // waiting for the prompt to end
//! run.prompt_done();
//! assert_eq!(
//!     run.poll_action(),
//!     Some(Action::Enqueue { line: "12349".into(), topic: "民政".into(), priority: 0 })
//! );
//! assert!(run.is_finished());
//!
//! let mut run = plan.start("*11", Some("1001"));
//! assert_eq!(run.poll_action(), Some(Action::Feature { seat: "1001".into(), feature: Feature::Ready }));
//!
//! let mut run = plan.start("*11", None);
//! assert_eq!(run.poll_action(), Some(Action::Reject { status: 403, reason: "Forbidden" }));
//!
//! let mut run = plan.start("110", None);
//! assert_eq!(run.poll_action(), Some(Action::Reject { status: 404, reason: "Not Found" }));
//! ```
//!
//! Prompts and the post-call survey of the media issue will add steps here; the contract
//! (poll, carry out, report `prompt_done`) stays.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod plan;
mod run;
mod status;

pub use plan::{DialPlan, Entry, Feature, FeatureCodes, Flow, PlanError, Step};
pub use run::{Action, FlowRun};
pub use status::reason_phrase;
