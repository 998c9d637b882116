//! # media
//!
//! RTP anchoring and relay, G.711 (PCMU/PCMA), RFC 4733 DTMF, the prompt player and the
//! three-party mixer.
//!
//! Empty on purpose: it is built by the media issue. Until then SDP passes through the gateway
//! unchanged and media flows directly between the caller and the seat.
#![forbid(unsafe_code)]
