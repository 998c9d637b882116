//! Where a message came from or goes to: a transport and a socket address.

use std::fmt;
use std::net::SocketAddr;

/// The transport a message travels on (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams: the transaction layer retransmits.
    Udp,
    /// A stream: reliable, no retransmissions below the TU.
    Tcp,
    /// A TCP stream inside TLS (RFC 3261 §26.2, RFC 5630): framed and reliable like
    /// [`Self::Tcp`], on connections of its own.
    Tls,
}

impl Transport {
    /// Reliable transports need no retransmission timers (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }

    /// The token used in a Via header's sent-protocol.
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// A remote party as the shell sees it: the transport and the address packets came from.
///
/// For TCP and TLS the address identifies the connection (the shell keeps one per remote address),
/// so a response or in-dialog request reuses the flow the peer opened (RFC 5626 §4.1 in spirit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The remote socket address.
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            addr,
        }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Tcp,
            addr,
        }
    }

    /// A TLS peer.
    pub fn tls(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Tls,
            addr,
        }
    }

    /// True when the peer is on a loopback address (127.0.0.0/8 or ::1).
    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.transport.via_token().to_ascii_lowercase(),
            self.addr
        )
    }
}

/// What the shell could not do for a peer, reported to the core
/// ([`crate::Gateway::handle_transport_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    /// A connection to the peer could not be opened (refused, or no answer in time); what
    /// was queued for it is lost.
    Connect,
    /// The TLS handshake failed: the peer's certificate was not trusted or not for its name,
    /// ours was refused, or no protocol was shared. `inbound` when the peer connected to us.
    TlsHandshake {
        /// The peer opened the connection (a carrier), not we (a trunk we dialled).
        inbound: bool,
    },
}
