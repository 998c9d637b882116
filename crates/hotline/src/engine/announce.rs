//! The SDP side of the platform's own confirmations: answer a seat phone's offer with the
//! announcement socket's address and one G.711 codec, and find where to send the cue.

use std::net::SocketAddr;

use media::sdp::{self, Endpoint, Origin, Session, PCMA, PCMU};

/// What answering an offer gives: our SDP answer, the phone's RTP address, the payload type
/// on the wire and whether it is A-law.
pub(super) struct Answered {
    pub(super) body: Vec<u8>,
    pub(super) to: SocketAddr,
    pub(super) payload_type: u8,
    pub(super) alaw: bool,
}

/// Our answer to `offer` for a one-way cue from `ours`, or `None` when the offer is not SDP
/// with PCMU or PCMA and an address to send to.
pub(super) fn answer(offer: &[u8], ours: SocketAddr, session_id: u64) -> Option<Answered> {
    let session = Session::parse(offer).ok()?;
    let choice = sdp::choose(&session, &[PCMU, PCMA]).ok()?;
    let to = session.audio_endpoint()?;
    let mut origin = Origin::new(session_id, ours.ip());
    let body = sdp::answer(
        &session,
        &choice,
        Endpoint {
            addr: ours.ip(),
            port: ours.port(),
        },
        &mut origin,
    );
    Some(Answered {
        body,
        to: to.into(),
        payload_type: choice.payload_type,
        alaw: choice.encoding == "PCMA",
    })
}
