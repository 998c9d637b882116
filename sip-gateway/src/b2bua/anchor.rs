//! Media anchoring as pure bookkeeping: which RTP port of ours faces each leg, what codec
//! the leg agreed, and the SDP we write on it. The gateway never lets one leg's SDP reach the
//! other: each leg sees our address, our port for that leg and an `o=` line of its own, so
//! the media plane (crates/media, driven by the platform from [`MediaOrder`]s) terminates
//! RTP on every leg (docs/decisions/0011-codecs-and-anchoring.md, 0012-early-media-queue.md).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use media::sdp::{self, Choice, Endpoint, Offer, Origin, SdpError, Session, PCMA, PCMU};

use super::call::Side;

/// Where the media plane listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorConfig {
    /// The address written in our SDP (and bound by the media plane).
    pub address: IpAddr,
    /// RTP ports to hand out: even ports carry RTP, the odd port above each RTCP.
    pub ports: RangeInclusive<u16>,
}

/// What the media plane must do, drained with [`Gateway::poll_media`](super::Gateway::poll_media).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOrder {
    /// Bind `port` (and `port + 1`) for the leg and start its state: `choice` is the leg's
    /// codec, `remote` where its SDP says it receives (if known yet).
    Open {
        /// Gateway call id.
        call: u64,
        /// Which leg of the media plane's call: 0 the caller, 1 the seat, 2 a transfer
        /// target (which stays 2 when it takes the seat's place).
        leg: u8,
        /// Our RTP port for the leg.
        port: u16,
        /// The leg's codec.
        choice: Choice,
        /// The leg's RTP address from its SDP.
        remote: Option<SocketAddr>,
    },
    /// New SDP from the leg (its answer, a re-INVITE, the ACK of a late offer).
    Update {
        /// Gateway call id.
        call: u64,
        /// Which leg of the media plane's call: 0 the caller, 1 the seat, 2 a transfer
        /// target (which stays 2 when it takes the seat's place).
        leg: u8,
        /// The leg's codec.
        choice: Choice,
        /// The leg's RTP address.
        remote: Option<SocketAddr>,
        /// Whether the leg says it sends (its direction is sendrecv or sendonly).
        sends: bool,
        /// Whether the leg wants to hear us (sendrecv or recvonly); false is a leg that puts
        /// the call on hold (sendonly, inactive).
        receives: bool,
    },
    /// The leg is gone (a seat that did not answer, a seat that hung up before the survey).
    CloseLeg {
        /// Gateway call id.
        call: u64,
        /// Which leg of the media plane's call: 0 the caller, 1 the seat, 2 a transfer
        /// target (which stays 2 when it takes the seat's place).
        leg: u8,
    },
    /// The call is over: close every leg.
    Close {
        /// Gateway call id.
        call: u64,
    },
}

/// Why a leg could not be anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AnchorError {
    /// The SDP is malformed (400) or offers nothing we carry (488).
    Sdp(SdpError),
    /// Every port of the range is in use (503).
    NoPort,
}

impl AnchorError {
    pub(super) fn status(&self) -> (u16, &'static str) {
        match self {
            Self::Sdp(e) if e.sip_status() == 488 => (488, "Not Acceptable Here"),
            Self::Sdp(_) => (400, "Bad Request"),
            Self::NoPort => (503, "Service Unavailable"),
        }
    }
}

/// The media plane's leg number of a transfer target.
pub const TARGET_LEG: u8 = 2;

/// The media plane's leg number of the seat's consultation call to a transfer target (an
/// attended transfer from the seat's phone: its second dialog, joined into the call it
/// consults about).
pub const CONSULT_LEG: u8 = 3;

/// One leg's anchor.
#[derive(Debug, Clone)]
pub(super) struct LegMedia {
    /// The media plane's leg number (see [`MediaOrder`]).
    number: u8,
    pub(super) port: u16,
    pub(super) choice: Choice,
    origin: Origin,
    /// The last offer this leg sent us, answered on the other leg's behalf.
    pending_offer: Option<Session>,
    /// Our answer to the caller's INVITE offer, sent in 183 and again in the 200.
    pub(super) answer: Option<Vec<u8>>,
}

/// The anchors of one call.
#[derive(Debug, Clone, Default)]
pub(super) struct CallMedia {
    /// Caller, seat, transfer target (while the transfer is pending), the seat's
    /// consultation call (while it consults).
    legs: [Option<LegMedia>; 4],
    /// The caller's INVITE came without SDP: our 200 carries an offer, the ACK the answer.
    pub(super) late_offer: bool,
    /// The caller has our SDP in a 183 and hears the platform's media while it waits.
    pub(super) early: bool,
}

impl CallMedia {
    pub(super) fn leg(&self, side: Side) -> Option<&LegMedia> {
        self.legs[side.index()].as_ref()
    }
}

/// Where the anchor's RTP ports come from. [`PortPool`] hands out numbers; the server's
/// source also binds each port before handing it out, so SDP never names a port another
/// process holds.
pub trait PortSource: std::fmt::Debug + Send {
    /// A free even port (its odd neighbour carries RTCP), or `None` if none is left.
    fn take(&mut self) -> Option<u16>;
    /// A port the anchor no longer uses.
    fn give_back(&mut self, port: u16);
}

/// Free ports, oldest-freed first, so a port is reused as late as possible (its old socket
/// has long been closed and stray packets of its old call have died out).
#[derive(Debug, Clone)]
pub struct PortPool {
    free: VecDeque<u16>,
}

impl PortPool {
    /// Every even port of `range` whose odd neighbour is in it too.
    pub fn new(range: &RangeInclusive<u16>) -> Self {
        let start = range.start() + range.start() % 2;
        let free = (start..*range.end()).step_by(2).collect();
        Self { free }
    }

    /// How many ports are free.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no port is free.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

impl PortSource for PortPool {
    fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    fn give_back(&mut self, port: u16) {
        self.free.push_back(port);
    }
}

/// The gateway's anchoring state.
#[derive(Debug)]
pub(super) struct Anchor {
    config: AnchorConfig,
    ports: Box<dyn PortSource>,
    orders: VecDeque<MediaOrder>,
    sessions: u64,
}

const CARRIED: &[u8] = &[PCMU, PCMA];

fn is_sdp(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
}

fn remote_of(session: &Session) -> Option<SocketAddr> {
    session
        .audio_endpoint()
        .filter(|e| e.port != 0)
        .map(SocketAddr::from)
}

fn sends(session: &Session) -> bool {
    session.audio().is_some_and(|m| m.direction.sends())
}

fn receives(session: &Session) -> bool {
    session
        .audio()
        .is_some_and(|m| m.direction.answer().sends())
}

impl Anchor {
    pub(super) fn new(config: AnchorConfig, ports: Box<dyn PortSource>, seed: u64) -> Self {
        Self {
            config,
            ports,
            orders: VecDeque::new(),
            sessions: seed & 0xffff_ffff,
        }
    }

    pub(super) fn poll(&mut self) -> Option<MediaOrder> {
        self.orders.pop_front()
    }

    fn ours(&self, port: u16) -> Endpoint {
        Endpoint {
            addr: self.config.address,
            port,
        }
    }

    fn new_leg(&mut self, number: u8, choice: Choice) -> Result<LegMedia, AnchorError> {
        let port = self.ports.take().ok_or(AnchorError::NoPort)?;
        self.sessions += 1;
        Ok(LegMedia {
            number,
            port,
            choice,
            origin: Origin::new(self.sessions, self.config.address),
            pending_offer: None,
            answer: None,
        })
    }

    /// The caller's INVITE: agree a codec on its offer (or note a late offer) and open its leg.
    pub(super) fn open_caller(
        &mut self,
        call: u64,
        body: Option<&(String, Vec<u8>)>,
    ) -> Result<CallMedia, AnchorError> {
        let mut media = CallMedia::default();
        let (choice, remote, offer) = match body.filter(|(t, _)| is_sdp(t)) {
            Some((_, bytes)) => {
                let session = Session::parse(bytes).map_err(AnchorError::Sdp)?;
                let choice = sdp::choose(&session, CARRIED).map_err(AnchorError::Sdp)?;
                (choice, remote_of(&session), Some(session))
            }
            None => {
                media.late_offer = true;
                (default_choice(), None, None)
            }
        };
        let mut leg = self.new_leg(0, choice)?;
        leg.pending_offer = offer;
        self.orders.push_back(MediaOrder::Open {
            call,
            leg: 0,
            port: leg.port,
            choice,
            remote,
        });
        media.legs[Side::Caller.index()] = Some(leg);
        Ok(media)
    }

    /// Our answer to the caller's offer, written once and reused (183, then 200).
    pub(super) fn caller_answer(&mut self, media: &mut CallMedia) -> Option<Vec<u8>> {
        let ours = media.leg(Side::Caller).map(|l| self.ours(l.port))?;
        let leg = media.legs[Side::Caller.index()].as_mut()?;
        if leg.answer.is_none() {
            let offer = leg.pending_offer.as_ref()?;
            leg.answer = Some(sdp::answer(offer, &leg.choice, ours, &mut leg.origin));
        }
        leg.answer.clone()
    }

    /// A seat leg: our offer to the seat, with exactly the caller's codec (no transcoding
    /// needed), or everything we carry for a late offer.
    pub(super) fn open_seat(
        &mut self,
        call: u64,
        media: &mut CallMedia,
    ) -> Result<Vec<u8>, AnchorError> {
        let caller = media.leg(Side::Caller).map(|l| l.choice);
        let choice = caller.unwrap_or_else(default_choice);
        let spec = if media.late_offer {
            Offer::all()
        } else {
            Offer::exactly(&choice)
        };
        let mut leg = self.new_leg(1, choice)?;
        let body = sdp::offer(&spec, self.ours(leg.port), &mut leg.origin);
        self.orders.push_back(MediaOrder::Open {
            call,
            leg: 1,
            port: leg.port,
            choice,
            remote: None,
        });
        if let Some(old) = media.legs[Side::Seat.index()].replace(leg) {
            self.ports.give_back(old.port);
        }
        Ok(body)
    }

    /// Drop one leg's anchor.
    pub(super) fn close_leg(&mut self, call: u64, media: &mut CallMedia, side: Side) {
        self.close_slot(call, media, side.index());
    }

    fn close_slot(&mut self, call: u64, media: &mut CallMedia, slot: usize) {
        if let Some(leg) = media.legs[slot].take() {
            self.ports.give_back(leg.port);
            self.orders.push_back(MediaOrder::CloseLeg {
                call,
                leg: leg.number,
            });
        }
    }

    /// A transfer target's leg: our offer with exactly the caller's codec.
    pub(super) fn open_target(
        &mut self,
        call: u64,
        media: &mut CallMedia,
    ) -> Result<Vec<u8>, AnchorError> {
        let choice = media
            .leg(Side::Caller)
            .map_or_else(default_choice, |l| l.choice);
        let mut leg = self.new_leg(TARGET_LEG, choice)?;
        let body = sdp::offer(
            &Offer::exactly(&choice),
            self.ours(leg.port),
            &mut leg.origin,
        );
        self.orders.push_back(MediaOrder::Open {
            call,
            leg: TARGET_LEG,
            port: leg.port,
            choice,
            remote: None,
        });
        if let Some(old) = media.legs[2].replace(leg) {
            self.ports.give_back(old.port);
        }
        Ok(body)
    }

    /// The target answered our offer.
    pub(super) fn target_answered(
        &mut self,
        call: u64,
        media: &mut CallMedia,
        body: Option<&(String, Vec<u8>)>,
    ) {
        if let Some(session) = body
            .filter(|(t, _)| is_sdp(t))
            .and_then(|(_, b)| Session::parse(b).ok())
        {
            self.learn_slot(call, media, 2, &session);
        }
    }

    /// The transfer is dropped: close the target's leg.
    pub(super) fn close_target(&mut self, call: u64, media: &mut CallMedia) {
        self.close_slot(call, media, 2);
    }

    /// The transfer completes: the seat's leg closes and the target's takes its place (its
    /// leg number stays [`TARGET_LEG`]).
    pub(super) fn promote_target(&mut self, call: u64, media: &mut CallMedia) {
        self.close_slot(call, media, Side::Seat.index());
        media.legs[Side::Seat.index()] = media.legs[2].take();
    }

    /// The seat's consultation call joins call `call`: its leg (the seat's offer, agreed on
    /// `consult`'s own plane call) closes there and opens again as [`CONSULT_LEG`] of `call`,
    /// on a port of its own, with the caller's codec when the seat offered it (the target is
    /// offered the caller's codec, so the legs relay without transcoding). Err if the seat's
    /// INVITE carried no offer (a late offer cannot be answered before the target answers)
    /// or no port is free.
    pub(super) fn adopt_consult(
        &mut self,
        call: u64,
        media: &mut CallMedia,
        consult: u64,
        consult_media: CallMedia,
    ) -> Result<(), AnchorError> {
        let offer = consult_media
            .leg(Side::Caller)
            .and_then(|l| l.pending_offer.clone());
        self.close(consult, consult_media);
        let offer = offer.ok_or(AnchorError::Sdp(SdpError::NoAudio))?;
        let caller = media.leg(Side::Caller).map(|l| l.choice);
        let choice = caller
            .and_then(|c| sdp::choose(&offer, &[static_pt(&c)]).ok())
            .map_or_else(|| sdp::choose(&offer, CARRIED), Ok)
            .map_err(AnchorError::Sdp)?;
        let mut leg = self.new_leg(CONSULT_LEG, choice)?;
        self.orders.push_back(MediaOrder::Open {
            call,
            leg: CONSULT_LEG,
            port: leg.port,
            choice,
            remote: remote_of(&offer),
        });
        leg.pending_offer = Some(offer);
        if let Some(old) = media.legs[usize::from(CONSULT_LEG)].replace(leg) {
            self.ports.give_back(old.port);
        }
        Ok(())
    }

    /// Our answer to the seat's consultation INVITE (sent when the target answers).
    pub(super) fn consult_answer(&mut self, media: &mut CallMedia) -> Option<Vec<u8>> {
        let slot = usize::from(CONSULT_LEG);
        let ours = media.legs[slot].as_ref().map(|l| self.ours(l.port))?;
        let leg = media.legs[slot].as_mut()?;
        let offer = leg.pending_offer.as_ref()?;
        Some(sdp::answer(offer, &leg.choice, ours, &mut leg.origin))
    }

    /// The consultation is over: close its leg.
    pub(super) fn close_consult(&mut self, call: u64, media: &mut CallMedia) {
        self.close_slot(call, media, usize::from(CONSULT_LEG));
    }

    /// The call is over.
    pub(super) fn close(&mut self, call: u64, media: CallMedia) {
        for leg in media.legs.into_iter().flatten() {
            self.ports.give_back(leg.port);
        }
        self.orders.push_back(MediaOrder::Close { call });
    }

    /// The seat's answer to our INVITE offer: learn where it listens. For a late-offer caller
    /// this also writes the offer the caller's 200 carries.
    pub(super) fn seat_answered(
        &mut self,
        call: u64,
        media: &mut CallMedia,
        body: Option<&(String, Vec<u8>)>,
    ) -> Option<Vec<u8>> {
        if let Some(session) = body
            .filter(|(t, _)| is_sdp(t))
            .and_then(|(_, b)| Session::parse(b).ok())
        {
            self.learn(call, media, Side::Seat, &session);
        }
        // Answered: the caller now sends (its no-RTP clock starts; early media never
        // obliged it to).
        if let Some(offer) = media
            .leg(Side::Caller)
            .and_then(|l| l.pending_offer.clone())
        {
            self.learn(call, media, Side::Caller, &offer);
        }
        if media.late_offer {
            let choice = media.leg(Side::Seat)?.choice;
            let ours = self.ours(media.leg(Side::Caller)?.port);
            let leg = media.legs[Side::Caller.index()].as_mut()?;
            leg.choice = choice;
            return Some(sdp::offer(&Offer::exactly(&choice), ours, &mut leg.origin));
        }
        self.caller_answer(media)
    }

    /// The ACK that answers the offer our 200 made to a late-offer caller.
    pub(super) fn ack_answer(
        &mut self,
        call: u64,
        media: &mut CallMedia,
        side: Side,
        body: &(String, Vec<u8>),
    ) {
        if is_sdp(&body.0) {
            if let Ok(session) = Session::parse(&body.1) {
                self.learn(call, media, side, &session);
            }
        }
    }

    /// SDP from `side` about its own media: codec, address, direction.
    fn learn(&mut self, call: u64, media: &mut CallMedia, side: Side, session: &Session) {
        self.learn_slot(call, media, side.index(), session);
    }

    fn learn_slot(&mut self, call: u64, media: &mut CallMedia, slot: usize, session: &Session) {
        let Some(leg) = media.legs[slot].as_mut() else {
            return;
        };
        if let Ok(choice) = sdp::choose(session, CARRIED) {
            leg.choice = choice;
        }
        self.orders.push_back(MediaOrder::Update {
            call,
            leg: leg.number,
            choice: leg.choice,
            remote: remote_of(session),
            sends: sends(session),
            receives: receives(session),
        });
    }

    /// A body crossing from `from` to the other leg inside the dialog (re-INVITE, UPDATE,
    /// their answers, the ACK of a late offer): learn `from`'s media and write what the other
    /// leg gets, with our address, its port and its own `o=`. Bodies other than SDP cross
    /// unchanged. An offer is re-offered with the codec it picked; an answer answers the
    /// offer the other leg made.
    pub(super) fn cross(
        &mut self,
        call: u64,
        media: &mut CallMedia,
        from: Side,
        body: Option<(String, Vec<u8>)>,
        kind: SdpKind,
    ) -> Result<Option<(String, Vec<u8>)>, AnchorError> {
        let Some((content_type, bytes)) = body else {
            return Ok(None);
        };
        if !is_sdp(&content_type) {
            return Ok(Some((content_type, bytes)));
        }
        let session = Session::parse(&bytes).map_err(AnchorError::Sdp)?;
        let to = from.other();
        let written = match kind {
            SdpKind::Offer => {
                let choice = sdp::choose(&session, CARRIED).map_err(AnchorError::Sdp)?;
                self.learn(call, media, from, &session);
                let direction = session.audio().map(|m| m.direction).unwrap_or_default();
                if let Some(leg) = media.legs[from.index()].as_mut() {
                    leg.pending_offer = Some(session);
                }
                let Some(ours) = media.leg(to).map(|l| self.ours(l.port)) else {
                    return Ok(None);
                };
                let Some(leg) = media.legs[to.index()].as_mut() else {
                    return Ok(None);
                };
                let spec = Offer {
                    direction,
                    ..Offer::exactly(&choice)
                };
                sdp::offer(&spec, ours, &mut leg.origin)
            }
            SdpKind::Answer => {
                self.learn(call, media, from, &session);
                let choice = media.leg(from).map_or_else(default_choice, |l| l.choice);
                let Some(ours) = media.leg(to).map(|l| self.ours(l.port)) else {
                    return Ok(None);
                };
                let Some(leg) = media.legs[to.index()].as_mut() else {
                    return Ok(None);
                };
                let Some(offer) = leg.pending_offer.as_ref() else {
                    return Ok(None);
                };
                // Answer with the payload type numbers the offerer used.
                let answer_choice = sdp::choose(offer, &[static_pt(&choice)]).unwrap_or(leg.choice);
                leg.choice = answer_choice;
                sdp::answer(offer, &answer_choice, ours, &mut leg.origin)
            }
        };
        Ok(Some(("application/sdp".to_owned(), written)))
    }
}

/// Whether a crossing body offers or answers (RFC 3264).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SdpKind {
    /// An offer: the leg proposes.
    Offer,
    /// An answer to the offer the other leg made.
    Answer,
}

fn static_pt(choice: &Choice) -> u8 {
    if choice.encoding == "PCMA" {
        PCMA
    } else {
        PCMU
    }
}

/// PCMU with telephone-event at 101, 20 ms: what a late-offer leg starts with.
fn default_choice() -> Choice {
    Choice {
        payload_type: PCMU,
        encoding: "PCMU",
        dtmf_payload_type: Some(sdp::DEFAULT_DTMF_PAYLOAD_TYPE),
        ptime_ms: sdp::DEFAULT_PTIME_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0 100\r\na=rtpmap:100 telephone-event/8000\r\n";

    fn anchor() -> Anchor {
        let config = AnchorConfig {
            address: "127.0.0.1".parse().expect("ip"),
            ports: 20000..=20005,
        };
        let ports = Box::new(PortPool::new(&config.ports));
        Anchor::new(config, ports, 7)
    }

    fn sdp_body(b: &[u8]) -> (String, Vec<u8>) {
        ("application/sdp".to_owned(), b.to_vec())
    }

    #[test]
    fn caller_and_seat_get_our_ports_and_the_callers_codec() {
        let mut a = anchor();
        let mut m = a.open_caller(1, Some(&sdp_body(OFFER))).expect("open");
        assert!(matches!(
            a.poll(),
            Some(MediaOrder::Open { port: 20000, remote: Some(r), .. }) if r.port() == 4000
        ));
        let answer = String::from_utf8(a.caller_answer(&mut m).expect("answer")).expect("utf8");
        assert!(answer.contains("m=audio 20000 RTP/AVP 8 100"), "{answer}");
        assert!(answer.contains("c=IN IP4 127.0.0.1"), "{answer}");
        let offer = String::from_utf8(a.open_seat(1, &mut m).expect("seat")).expect("utf8");
        assert!(offer.contains("m=audio 20002 RTP/AVP 8 100"), "{offer}");
        assert!(matches!(
            a.poll(),
            Some(MediaOrder::Open {
                leg: 1,
                port: 20002,
                remote: None,
                ..
            })
        ));
        // The seat answers; the caller's 200 repeats the answer it already has.
        let seat = b"v=0\r\no=s 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8 100\r\na=rtpmap:100 telephone-event/8000\r\n";
        let again = a.seat_answered(1, &mut m, Some(&sdp_body(seat)));
        assert_eq!(again.as_deref(), Some(answer.as_bytes()));
        assert!(matches!(
            a.poll(),
            Some(MediaOrder::Update { leg: 1, remote: Some(r), sends: true, .. }) if r.port() == 5000
        ));
    }

    #[test]
    fn no_usable_codec_is_488_and_garbage_400() {
        let mut a = anchor();
        let g729 = b"v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
        let e = a.open_caller(1, Some(&sdp_body(g729))).expect_err("488");
        assert_eq!(e.status().0, 488);
        let e = a
            .open_caller(2, Some(&sdp_body(b"hello")))
            .expect_err("400");
        assert_eq!(e.status().0, 400);
        assert!(a.poll().is_none(), "nothing opened for refused offers");
    }

    #[test]
    fn ports_run_out_then_come_back() {
        let mut a = anchor();
        let mut calls = Vec::new();
        for call in 0..3 {
            calls.push(a.open_caller(call, Some(&sdp_body(OFFER))).expect("port"));
        }
        assert_eq!(
            a.open_caller(9, Some(&sdp_body(OFFER))).expect_err("full"),
            AnchorError::NoPort
        );
        a.close(0, calls.remove(0));
        assert!(a.open_caller(9, Some(&sdp_body(OFFER))).is_ok());
    }

    #[test]
    fn a_hold_reinvite_crosses_with_our_port_and_direction() {
        let mut a = anchor();
        let mut m = a.open_caller(1, Some(&sdp_body(OFFER))).expect("open");
        a.open_seat(1, &mut m).expect("seat");
        let hold = b"v=0\r\no=s 2 3 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\na=sendonly\r\n";
        let out = a
            .cross(1, &mut m, Side::Seat, Some(sdp_body(hold)), SdpKind::Offer)
            .expect("ok")
            .expect("body");
        let text = String::from_utf8(out.1).expect("utf8");
        assert!(text.contains("m=audio 20000 "), "{text}");
        assert!(text.contains("a=sendonly"), "{text}");
        let caller_answer = b"v=0\r\no=alice 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=recvonly\r\n";
        let back = a
            .cross(
                1,
                &mut m,
                Side::Caller,
                Some(sdp_body(caller_answer)),
                SdpKind::Answer,
            )
            .expect("ok")
            .expect("body");
        let text = String::from_utf8(back.1).expect("utf8");
        assert!(text.contains("m=audio 20002 RTP/AVP 8"), "{text}");
        assert!(text.contains("a=recvonly"), "{text}");
        // Non-SDP bodies cross untouched.
        let info = (
            "application/dtmf-relay".to_owned(),
            b"Signal=5\r\n".to_vec(),
        );
        let same = a
            .cross(1, &mut m, Side::Seat, Some(info.clone()), SdpKind::Offer)
            .expect("ok");
        assert_eq!(same, Some(info));
    }
}
