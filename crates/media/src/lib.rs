//! # media
//!
//! hotline's media plane. Everything but [`plane`] is pure code: no sockets, no clock, no
//! runtime (time is an input). [`plane`] is the thin tokio shell that owns the RTP sockets
//! and drives one [`call::MediaCall`] per call.
//!
//! - [`g711`]: PCMU (µ-law) and PCMA (A-law) sample codecs.
//! - [`tone`]: tones (ringback, confirmation beeps) as 8 kHz PCM.
//! - [`wav`]: prompt files (WAV) loaded into 8 kHz PCM.
//! - [`dtmf`]: RFC 4733 telephone-event payloads, a receiver that reports each key once, a
//!   sender.
//! - [`mixer`]: N-party mixing where each party hears everyone but itself.
//! - [`sdp`]: the audio part of SDP offers and answers, codec choice and address rewriting.
//! - [`relay`]: RTP header rewriting so a leg's outgoing stream stays continuous when its
//!   source changes (prompt → seat → mixer), and source latching.
//! - [`player`]: playlists of prompts, tones and silences, frame by frame.
//! - [`call`]: one call's legs and what each hears (relay, player, mixer, DTMF), as a pure
//!   state machine.
//! - [`plane`]: the tokio shell: sockets, one task per call, events and counters.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod call;
pub mod dtmf;
pub mod g711;
pub mod mixer;
pub mod plane;
pub mod player;
pub mod relay;
pub mod sdp;
pub mod tone;
pub mod wav;
