//! What a transaction asks its owner to do, and the small queue that holds it.

use std::collections::VecDeque;

use bytes::Bytes;

use super::TimerName;

/// What a transaction asks its owner to do, drained with `poll_action()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the transaction's peer (request, retransmission, response or ACK).
    Transmit(Bytes),
    /// Client: Timer B or F fired with no final response; the TU acts as if a 408 arrived
    /// (RFC 3261 §8.1.3.1, §17.1.1.2, §17.1.2.2). Server INVITE: Timer H fired (no ACK for a
    /// non-2xx final, §17.2.1).
    Timeout(TimerName),
    /// Client: the transport reported that the request cannot reach the peer (a connection
    /// or TLS handshake that failed) before any final response; the TU acts as for a timeout
    /// (RFC 3261 §17.1.4, §8.1.3.1). The transaction goes straight to Terminated.
    TransportError,
    /// Server INVITE: a 2xx was retransmitted for 64*T1 with no ACK (RFC 3261 §13.3.1.4); the TU
    /// should send BYE.
    NoAckFor2xx,
    /// The transaction is over; the owner removes it (RFC 3261 §17.1.1.2: "destroyed the instant
    /// it enters the Terminated state").
    Terminated,
}

/// Actions a contract-abiding owner (one that drains after every call) can meet at once: the
/// worst case is a retransmission, a timeout and `Terminated` from one `handle_timeout`.
const INLINE: usize = 4;

/// FIFO of actions: a fixed inline ring, spilling to a `VecDeque` only if the owner lets more
/// than [`INLINE`] actions pile up. The spill allocates nothing until it is first used.
#[derive(Debug, Default)]
pub(crate) struct ActionQueue {
    ring: [Option<Action>; INLINE],
    head: usize,
    len: usize,
    /// Holds only actions younger than every action in `ring`.
    spill: VecDeque<Action>,
}

impl ActionQueue {
    pub(crate) fn push(&mut self, action: Action) {
        if self.len < INLINE && self.spill.is_empty() {
            self.ring[(self.head + self.len) % INLINE] = Some(action);
            self.len += 1;
        } else {
            self.spill.push_back(action);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Action> {
        if self.len == 0 {
            return self.spill.pop_front();
        }
        let action = self.ring[self.head].take();
        self.head = (self.head + 1) % INLINE;
        self.len -= 1;
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_across_ring_and_spill() {
        let mut q = ActionQueue::default();
        let t = |i: u8| Action::Transmit(Bytes::from(vec![i]));
        for i in 0..6 {
            q.push(t(i));
        }
        assert_eq!(q.pop(), Some(t(0)));
        assert_eq!(q.pop(), Some(t(1)));
        // Room in the ring, but older actions wait in the spill: order must hold.
        q.push(t(6));
        for i in 2..7 {
            assert_eq!(q.pop(), Some(t(i)));
        }
        assert_eq!(q.pop(), None);
        for i in 7..10 {
            q.push(t(i));
        }
        for i in 7..10 {
            assert_eq!(q.pop(), Some(t(i)));
        }
        assert_eq!(q.pop(), None);
    }
}
