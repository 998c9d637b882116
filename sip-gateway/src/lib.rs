//! # sip-gateway
//!
//! hotline's SIP side: everything between the network and the call distributor.
//!
//! - [`validate`]: strict checks in front of everything; bad input gets its RFC answer.
//! - [`transaction`]: RFC 3261 §17 transactions as pure state machines (timers A–M).
//! - [`digest`] and [`registrar`]: seat phones register with digest auth (MD5, SHA-256).
//! - [`dialog`]: the state of one dialog (RFC 3261 §12).
//! - [`route`]: where an inbound call goes; the call distributor plugs in here.
//! - [`b2bua`]: the sans-IO gateway core joining two dialogs per call.
//! - [`shell`]: the thin tokio driver that owns the UDP, TCP and TLS sockets and the timers.
//! - [`tls`]: the rustls configurations of SIP over TLS, read from PEM files.
//!
//! Message parsing and types are rsipstack's ([`sip`]); transactions, dialogs and the
//! B2BUA are ours (docs/decisions/0001-sip-core.md).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use rsipstack::sip;

pub mod b2bua;
pub mod dialog;
pub mod digest;
pub mod guard;
pub mod peer;
pub mod registrar;
pub mod route;
pub mod shell;
pub mod tls;
pub mod transaction;
pub mod validate;

pub use b2bua::{Event, Gateway, GatewayConfig};
pub use peer::{Peer, Transport, TransportFailure};
