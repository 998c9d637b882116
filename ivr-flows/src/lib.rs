//! # ivr-flows
//!
//! The dial plan and call flows as data plus a pure interpreter: which dialed number leads
//! where, notices, queue messages, the post-call survey.
//!
//! Empty on purpose: it is built by the server issue (dial plan) and the media issue (prompts,
//! survey). Nothing here is used yet.
#![forbid(unsafe_code)]
