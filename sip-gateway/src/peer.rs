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
}

impl Transport {
    /// Reliable transports need no retransmission timers (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Tcp)
    }

    /// The token used in a Via header's sent-protocol.
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        }
    }
}

/// A remote party as the shell sees it: the transport and the address packets came from.
///
/// For TCP the address identifies the connection (the shell keeps one per remote address),
/// so a response or in-dialog request reuses the flow the peer opened (RFC 5626 §4.1 in spirit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP or TCP.
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
