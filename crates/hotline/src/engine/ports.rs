//! RTP ports for the gateway's anchor that the media plane has already bound, so SDP never
//! names a port another process holds (another server, a softphone) and a call never starts
//! on a port it cannot open.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

use media::plane::MediaPlane;
use sip_gateway::b2bua::PortSource;

/// The configured range, oldest-freed first, each port reserved on the plane when taken.
#[derive(Debug)]
pub struct PlanePorts {
    free: VecDeque<u16>,
    plane: MediaPlane,
}

impl PlanePorts {
    /// Every even port of `range` (with its odd neighbour), bound through `plane` on use.
    pub fn new(range: &RangeInclusive<u16>, plane: MediaPlane) -> Self {
        let start = range.start() + range.start() % 2;
        Self {
            free: (start..*range.end()).step_by(2).collect(),
            plane,
        }
    }
}

impl PortSource for PlanePorts {
    fn take(&mut self) -> Option<u16> {
        // A port someone else holds (or whose old socket is still closing) goes to the back
        // of the line; one full turn without success means none is free.
        for _ in 0..self.free.len() {
            let port = self.free.pop_front()?;
            match self.plane.reserve(port) {
                Ok(()) => return Some(port),
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port taken: skipped");
                    self.free.push_back(port);
                }
            }
        }
        None
    }

    fn give_back(&mut self, port: u16) {
        self.plane.unreserve(port);
        self.free.push_back(port);
    }
}
