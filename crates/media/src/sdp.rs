//! Just enough SDP (RFC 4566) and offer/answer (RFC 3264) for an anchored G.711 audio stream.
//!
//! hotline anchors media: every leg's RTP goes to a port of ours. So the SDP a leg sees is
//! always ours, written here, and the SDP a leg sends is read here for three things: where its
//! audio goes (connection address and port), which codec it wants, and which direction.
//!
//! - [`Session::parse`] reads a body (CRLF or LF, unknown attributes and trailing whitespace
//!   tolerated). Malformed input is a typed [`SdpError`], never a panic.
//! - [`choose`] picks the codec: the first offered format that is PCMU or PCMA and allowed by
//!   the caller's preferences, plus telephone-event/8000 if offered
//!   (docs/decisions/0011-codecs-and-anchoring.md). No match is [`SdpError::NoCommonCodec`]:
//!   answer 488 Not Acceptable Here ([`SdpError::sip_status`]).
//! - [`answer`] writes our answer to an offer: one m-line per offered m-line, same order, the
//!   audio one ours, every other one rejected with port 0 (RFC 3264 §6).
//! - [`offer`] writes an offer for a leg we originate, from an [`Offer`]: every codec we
//!   support ([`Offer::all`]) or exactly the one already chosen on the other leg
//!   ([`Offer::exactly`]), so no transcoding is ever needed.
//! - [`rewrite`] replaces only the connection address(es) and the audio port of a body,
//!   keeping the rest byte for byte, for relaying an SDP across legs unchanged otherwise.
//!
//! Our own SDPs carry an [`Origin`] per leg whose version goes up by one each time the body
//! we send on that leg changes, and stays when it does not (RFC 3264 §8).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Static payload type of PCMU (RFC 3551 §6).
pub const PCMU: u8 = 0;
/// Static payload type of PCMA (RFC 3551 §6).
pub const PCMA: u8 = 8;
/// The telephone-event payload type we offer when the choice is ours (a dynamic one).
pub const DEFAULT_DTMF_PAYLOAD_TYPE: u8 = 101;
/// Packetisation time when the offer names none (RFC 3551 §4.5: 20 ms for G.711).
pub const DEFAULT_PTIME_MS: u16 = 20;
/// The telephone events we receive and send: 0–9, `*`, `#`, A–D (RFC 4733 §3.2).
const DTMF_EVENTS: &str = "0-15";

/// Something wrong with an SDP body, or no way to agree on one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body has no lines.
    #[error("empty SDP body")]
    Empty,
    /// The first line is not `v=0` (RFC 4566 §5.1).
    #[error("line {line}: an SDP body starts with v=0")]
    Version {
        /// 1-based line number.
        line: usize,
    },
    /// A line that is not `<type>=<value>`.
    #[error("line {line}: not <type>=<value>")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A line we must read is not UTF-8.
    #[error("line {line}: not UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// A malformed or misplaced `o=` line (RFC 4566 §5.2).
    #[error("line {line}: bad o= line")]
    Origin {
        /// 1-based line number.
        line: usize,
    },
    /// The body has no `o=` line.
    #[error("no o= line")]
    MissingOrigin,
    /// A malformed `c=` line (RFC 4566 §5.7), or its address does not match its type.
    #[error("line {line}: bad c= line")]
    Connection {
        /// 1-based line number.
        line: usize,
    },
    /// A malformed `m=` line (RFC 4566 §5.14).
    #[error("line {line}: bad m= line")]
    Media {
        /// 1-based line number.
        line: usize,
    },
    /// A malformed `a=rtpmap` or `a=fmtp` in an RTP media section.
    #[error("line {line}: bad attribute")]
    Attribute {
        /// 1-based line number.
        line: usize,
    },
    /// No `m=audio` line with a non-zero port.
    #[error("no audio stream")]
    NoAudio,
    /// The audio stream's transport is not plain `RTP/AVP` (e.g. SRTP's `RTP/SAVP`).
    #[error("audio transport {0} is not RTP/AVP")]
    Transport(String),
    /// Neither PCMU nor PCMA (within the preferences) is offered.
    #[error("no common codec")]
    NoCommonCodec,
}

impl SdpError {
    /// The SIP status to refuse an offer with: 488 Not Acceptable Here when the body is fine
    /// but we cannot agree on it (RFC 3261 §21.4.26), 400 Bad Request when it is malformed.
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::NoAudio | Self::Transport(_) | Self::NoCommonCodec => 488,
            _ => 400,
        }
    }
}

/// An address and port where RTP is received: ours in the SDP we write, the far side's in
/// the SDP we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Connection address (`c=`).
    pub addr: IpAddr,
    /// Media port (`m=`).
    pub port: u16,
}

impl From<Endpoint> for SocketAddr {
    fn from(e: Endpoint) -> Self {
        Self::new(e.addr, e.port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::from(*self).fmt(f)
    }
}

/// Media direction attribute (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, the default.
    #[default]
    SendRecv,
    /// `a=sendonly`: the writer sends, does not receive (it put the other side on hold).
    SendOnly,
    /// `a=recvonly`: the writer receives, does not send.
    RecvOnly,
    /// `a=inactive`: neither.
    Inactive,
}

impl Direction {
    /// The direction to answer an offer of `self` with (RFC 3264 §6.1): sendonly is answered
    /// recvonly, recvonly sendonly, the others themselves.
    pub fn answer(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }

    /// Whether the writer of this direction sends media (so its silence means trouble).
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    fn from_attr(name: &[u8]) -> Option<Self> {
        match name {
            b"sendrecv" => Some(Self::SendRecv),
            b"sendonly" => Some(Self::SendOnly),
            b"recvonly" => Some(Self::RecvOnly),
            b"inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// Address type of an `o=` or `c=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::Ip4,
            IpAddr::V6(_) => Self::Ip6,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "IP4" => Some(Self::Ip4),
            "IP6" => Some(Self::Ip6),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ip4 => "IP4",
            Self::Ip6 => "IP6",
        }
    }
}

/// The `o=` line (RFC 4566 §5.2): the far side's as read, or ours for one leg.
///
/// Keep one `Origin` per leg for every SDP we send on it: [`answer`] and [`offer`] write it
/// and raise [`version`](Self::version) by one whenever the rest of the body differs from the
/// previous one written with this origin, as RFC 3264 §8 asks (an unchanged body keeps its
/// version, so session-refresh re-INVITEs are answered with the same version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` when the writer has none.
    pub username: String,
    /// `<sess-id>`, a numeric string kept as written.
    pub session_id: String,
    /// `<sess-version>`.
    pub version: u64,
    /// `<addrtype>`.
    pub addr_type: AddrType,
    /// `<unicast-address>`, an address or a host name.
    pub address: String,
    /// The body after `o=` last written with this origin.
    last_written: Option<Vec<u8>>,
}

impl Origin {
    /// Our origin for a new leg: username `hotline`, version 1.
    pub fn new(session_id: u64, address: IpAddr) -> Self {
        Self {
            username: "hotline".to_owned(),
            session_id: session_id.to_string(),
            version: 1,
            addr_type: AddrType::of(address),
            address: address.to_string(),
            last_written: None,
        }
    }

    fn parse(value: &str, line: usize) -> Result<Self, SdpError> {
        let err = SdpError::Origin { line };
        let f: Vec<&str> = value.split_ascii_whitespace().collect();
        let [username, session_id, version, net, addr_type, address] = f[..] else {
            return Err(err);
        };
        if net != "IN"
            || !f.iter().all(|t| visible(t))
            || !session_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err);
        }
        Ok(Self {
            username: username.to_owned(),
            session_id: session_id.to_owned(),
            version: version.parse().map_err(|_| err.clone())?,
            addr_type: AddrType::parse(addr_type).ok_or(err)?,
            address: address.to_owned(),
            last_written: None,
        })
    }

    /// Writes `o=` and then `rest`, bumping the version if `rest` changed since last time.
    fn write(&mut self, rest: Vec<u8>) -> Vec<u8> {
        match &self.last_written {
            Some(prev) if *prev == rest => {}
            Some(_) => self.version = self.version.wrapping_add(1),
            None => {}
        }
        let mut out = Vec::with_capacity(rest.len() + 64);
        out.extend_from_slice(b"v=0\r\n");
        out.extend_from_slice(
            format!(
                "o={} {} {} IN {} {}\r\n",
                self.username,
                self.session_id,
                self.version,
                self.addr_type.as_str(),
                self.address
            )
            .as_bytes(),
        );
        out.extend_from_slice(&rest);
        self.last_written = Some(rest);
        out
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// RTP payload type, 0–127.
    pub payload_type: u8,
    /// Encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channels, when written.
    pub channels: Option<u16>,
}

/// `a=fmtp:<payload type> <parameters>` (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// RTP payload type, 0–127.
    pub payload_type: u8,
    /// The parameters as written.
    pub params: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `application`…
    pub kind: String,
    /// Port; 0 means the stream is rejected or disabled (RFC 3264 §6, §8.2).
    pub port: u16,
    /// `<number of ports>` after a `/`, when written.
    pub port_count: Option<u16>,
    /// Transport, e.g. `RTP/AVP`.
    pub proto: String,
    /// Formats in the writer's order of preference; RTP payload type numbers for RTP.
    pub formats: Vec<String>,
    /// Media-level `c=` address, if any.
    pub connection: Option<IpAddr>,
    /// `a=rtpmap` lines (RTP transports only).
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` lines (RTP transports only).
    pub fmtps: Vec<Fmtp>,
    /// `a=ptime`, media level or else session level; `None` when absent or unreadable.
    pub ptime: Option<u16>,
    /// Direction: media level, else session level, else sendrecv.
    pub direction: Direction,
}

impl Media {
    /// The formats that are RTP payload type numbers (0–127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| parse_pt(f))
    }

    /// The rtpmap of a payload type, if written.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == payload_type)
    }

    /// Encoding name and clock rate of a payload type: its rtpmap, else the static
    /// assignment for PCMU and PCMA (RFC 3551 Table 4).
    fn encoding(&self, payload_type: u8) -> Option<(&str, u32, Option<u16>)> {
        match (self.rtpmap(payload_type), payload_type) {
            (Some(m), _) => Some((m.encoding.as_str(), m.clock_rate, m.channels)),
            (None, PCMU) => Some(("PCMU", 8000, None)),
            (None, PCMA) => Some(("PCMA", 8000, None)),
            (None, _) => None,
        }
    }

    fn is_rtp(&self) -> bool {
        self.proto
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"RTP/"))
    }
}

/// A parsed SDP body: what we need of it for an audio call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `o=`.
    pub origin: Origin,
    /// Session-level `c=` address, if any.
    pub connection: Option<IpAddr>,
    /// `t=` start and stop; `0 0` when absent or unreadable.
    pub timing: (u64, u64),
    /// Every `m=` section in order (an answer needs one line per offered line).
    pub media: Vec<Media>,
    audio: Option<usize>,
}

impl Session {
    /// Parses an SDP body. Lines may end in CRLF or LF; blank lines, trailing whitespace and
    /// unknown lines and attributes are ignored.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let mut lines = lines(body)
            .map(|(n, l, _)| (n, l))
            .filter(|(_, l)| !l.is_empty());
        match lines.next() {
            None => return Err(SdpError::Empty),
            Some((_, b"v=0")) => {}
            Some((line, _)) => return Err(SdpError::Version { line }),
        }
        let mut origin = None;
        let mut connection = None;
        let mut timing = (0, 0);
        let mut session_direction = None;
        let mut session_ptime = None;
        // Per media: the section and its own direction/ptime, resolved at the end.
        let mut media: Vec<(Media, Option<Direction>, Option<u16>)> = Vec::new();
        for (line, l) in lines {
            let [kind, b'=', value @ ..] = l else {
                return Err(SdpError::Syntax { line });
            };
            match kind {
                b'v' => return Err(SdpError::Version { line }),
                b'o' => {
                    if origin.is_some() || !media.is_empty() {
                        return Err(SdpError::Origin { line });
                    }
                    origin = Some(Origin::parse(utf8(value, line)?, line)?);
                }
                b'c' => {
                    let addr = parse_connection(utf8(value, line)?, line)?;
                    match media.last_mut() {
                        Some((m, _, _)) => m.connection = Some(addr),
                        None => connection = Some(addr),
                    }
                }
                b't' if media.is_empty() => {
                    let t = utf8(value, line)?;
                    let mut f = t.split_ascii_whitespace().map(str::parse::<u64>);
                    if let (Some(Ok(start)), Some(Ok(stop)), None) = (f.next(), f.next(), f.next())
                    {
                        timing = (start, stop);
                    }
                }
                b'm' => media.push((parse_media(utf8(value, line)?, line)?, None, None)),
                b'a' => {
                    let (name, attr_value) = match value.iter().position(|&b| b == b':') {
                        Some(i) => (&value[..i], Some(&value[i + 1..])),
                        None => (value, None),
                    };
                    let current = media.last_mut();
                    if let Some(d) = Direction::from_attr(name) {
                        match current {
                            Some((_, dir, _)) => *dir = Some(d),
                            None => session_direction = Some(d),
                        }
                    } else if name == b"ptime" {
                        let p = attr_value.and_then(parse_ptime);
                        match current {
                            Some((_, _, ptime)) => *ptime = p,
                            None => session_ptime = p,
                        }
                    } else if let Some((m, _, _)) = current.filter(|(m, _, _)| m.is_rtp()) {
                        let err = SdpError::Attribute { line };
                        match (name, attr_value) {
                            (b"rtpmap", Some(v)) => {
                                m.rtpmaps.push(parse_rtpmap(utf8(v, line)?).ok_or(err)?)
                            }
                            (b"fmtp", Some(v)) => {
                                m.fmtps.push(parse_fmtp(utf8(v, line)?).ok_or(err)?)
                            }
                            (b"rtpmap" | b"fmtp", None) => return Err(err),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let origin = origin.ok_or(SdpError::MissingOrigin)?;
        let media: Vec<Media> = media
            .into_iter()
            .map(|(mut m, dir, ptime)| {
                m.direction = dir.or(session_direction).unwrap_or_default();
                m.ptime = ptime.or(session_ptime);
                m
            })
            .collect();
        let audio = media.iter().position(|m| m.kind == "audio" && m.port != 0);
        Ok(Self {
            origin,
            connection,
            timing,
            media,
            audio,
        })
    }

    /// The audio stream: the first `m=audio` with a non-zero port.
    pub fn audio(&self) -> Option<&Media> {
        self.audio.map(|i| &self.media[i])
    }

    /// Where the far side receives audio: the audio stream's address (media-level `c=`, else
    /// session-level) and port. `None` when there is no audio stream, no address, or the
    /// address is unspecified (`0.0.0.0`, the RFC 2543 hold still seen in the wild): nowhere
    /// to send until the far side's packets arrive.
    pub fn audio_endpoint(&self) -> Option<Endpoint> {
        let m = self.audio()?;
        let addr = m.connection.or(self.connection)?;
        (!addr.is_unspecified()).then_some(Endpoint { addr, port: m.port })
    }
}

/// The codec agreed for one leg (see [`choose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Choice {
    /// The payload type number of the codec on this leg, as the offer numbered it (0 or 8,
    /// unless the offerer mapped PCMU/PCMA to a dynamic number).
    pub payload_type: u8,
    /// `"PCMU"` or `"PCMA"`.
    pub encoding: &'static str,
    /// The telephone-event/8000 payload type, if offered (RFC 4733).
    pub dtmf_payload_type: Option<u8>,
    /// Packetisation time: the offer's `a=ptime` if between 10 and 120 ms, else 20.
    pub ptime_ms: u16,
}

/// Picks the codec for a leg from its offer (or from its answer to our offer: the same rule
/// reads the answerer's choice).
///
/// `prefs` lists the static payload types we accept, [`PCMU`] and/or [`PCMA`]. The first
/// format of the audio stream, in the writer's order, whose encoding is PCMU/8000 or
/// PCMA/8000 (mono) and is in `prefs` wins; telephone-event/8000 is taken at whatever payload
/// type it is offered (the first one listed). Errors: [`SdpError::NoAudio`],
/// [`SdpError::Transport`] for anything but `RTP/AVP`, [`SdpError::NoCommonCodec`]; all three
/// mean 488.
pub fn choose(offer: &Session, prefs: &[u8]) -> Result<Choice, SdpError> {
    let audio = offer.audio().ok_or(SdpError::NoAudio)?;
    if !audio.proto.eq_ignore_ascii_case("RTP/AVP") {
        return Err(SdpError::Transport(audio.proto.clone()));
    }
    let mut codec = None;
    let mut dtmf = None;
    for pt in audio.payload_types() {
        let Some((encoding, clock, channels)) = audio.encoding(pt) else {
            continue;
        };
        if clock != 8000 || channels.is_some_and(|c| c != 1) {
            continue;
        }
        let g711 = if encoding.eq_ignore_ascii_case("PCMU") {
            Some((PCMU, "PCMU"))
        } else if encoding.eq_ignore_ascii_case("PCMA") {
            Some((PCMA, "PCMA"))
        } else {
            None
        };
        match g711 {
            Some((static_pt, name)) if codec.is_none() && prefs.contains(&static_pt) => {
                codec = Some((pt, name));
            }
            None if dtmf.is_none() && encoding.eq_ignore_ascii_case("telephone-event") => {
                dtmf = Some(pt);
            }
            _ => {}
        }
    }
    let (payload_type, encoding) = codec.ok_or(SdpError::NoCommonCodec)?;
    let ptime_ms = audio
        .ptime
        .filter(|p| (10..=120).contains(p))
        .unwrap_or(DEFAULT_PTIME_MS);
    Ok(Choice {
        payload_type,
        encoding,
        dtmf_payload_type: dtmf,
        ptime_ms,
    })
}

/// Writes our answer to `offer` (RFC 3264 §6): one m-line per offered m-line in the same
/// order; the audio stream (see [`Session::audio`]) at `ours` with exactly the chosen codec
/// and telephone-event, the offer's direction mirrored ([`Direction::answer`]); every other
/// m-line rejected with port 0. `origin` is this leg's (see [`Origin`]).
pub fn answer(offer: &Session, choice: &Choice, ours: Endpoint, origin: &mut Origin) -> Vec<u8> {
    let mut out = session_head(ours.addr, offer.timing);
    for (i, m) in offer.media.iter().enumerate() {
        if Some(i) == offer.audio {
            audio_section(
                &mut out,
                &audio_formats(choice),
                choice.dtmf_payload_type,
                choice.ptime_ms,
                m.direction.answer(),
                ours.port,
            );
        } else {
            out.extend_from_slice(format!("m={} 0 {}", m.kind, m.proto).as_bytes());
            for f in &m.formats {
                out.push(b' ');
                out.extend_from_slice(f.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    origin.write(out)
}

/// What to put in an offer we originate (see [`offer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Codecs in our order of preference: payload type and encoding name (`"PCMU"`/`"PCMA"`).
    pub codecs: Vec<(u8, &'static str)>,
    /// The telephone-event/8000 payload type, or `None` to offer none.
    pub dtmf_payload_type: Option<u8>,
    /// `a=ptime`.
    pub ptime_ms: u16,
    /// Direction to offer: sendrecv, or sendonly to hold the leg.
    pub direction: Direction,
}

impl Offer {
    /// Everything we support: PCMU, PCMA, telephone-event at 101, 20 ms, sendrecv.
    pub fn all() -> Self {
        Self {
            codecs: vec![(PCMU, "PCMU"), (PCMA, "PCMA")],
            dtmf_payload_type: Some(DEFAULT_DTMF_PAYLOAD_TYPE),
            ptime_ms: DEFAULT_PTIME_MS,
            direction: Direction::SendRecv,
        }
    }

    /// Exactly the codec, payload type numbers and ptime agreed on the other leg, so the two
    /// legs' packets can be relayed without transcoding or renumbering. If the other leg has
    /// no telephone-event, 101 is offered anyway: DTMF from this leg is then ours to read.
    pub fn exactly(choice: &Choice) -> Self {
        Self {
            codecs: vec![(choice.payload_type, choice.encoding)],
            dtmf_payload_type: Some(
                choice
                    .dtmf_payload_type
                    .unwrap_or(DEFAULT_DTMF_PAYLOAD_TYPE),
            ),
            ptime_ms: choice.ptime_ms,
            direction: Direction::SendRecv,
        }
    }
}

/// Writes an offer for a leg we originate: one audio m-line at `ours` (RFC 3264 §5).
/// `origin` is this leg's (see [`Origin`]).
pub fn offer(spec: &Offer, ours: Endpoint, origin: &mut Origin) -> Vec<u8> {
    let mut out = session_head(ours.addr, (0, 0));
    audio_section(
        &mut out,
        &spec.codecs,
        spec.dtmf_payload_type,
        spec.ptime_ms,
        spec.direction,
        ours.port,
    );
    origin.write(out)
}

/// Replaces the connection address(es) and the audio port of `body` with `ours`, keeping
/// every other line byte for byte (line endings included), for relaying a body across legs.
///
/// Rewritten: the session-level `c=` and the audio stream's `c=` (to `ours.addr`), the audio
/// `m=` port (to `ours.port`). Also changed, because they would point past us: other m-lines
/// with a non-zero port get port 0 (we anchor audio only), and `a=rtcp` and ICE attributes
/// (`a=candidate`, `a=remote-candidates`, `a=ice-*`), which name the far side's addresses,
/// are removed. The `o=` line is kept as the far side wrote it: use [`answer`]/[`offer`] with
/// the leg's own [`Origin`] when the far side can change during a dialog (another seat).
pub fn rewrite(body: &[u8], ours: Endpoint) -> Result<Vec<u8>, SdpError> {
    let session = Session::parse(body)?;
    let c_line = connection_line(ours.addr);
    let mut out = Vec::with_capacity(body.len() + 16);
    // -1: session level; i: inside the i-th m= section.
    let mut section: isize = -1;
    for (_, l, raw) in lines(body) {
        let ending = &raw[l.len()..];
        if let [b'm', b'=', ..] = l {
            section += 1;
            let i = section as usize;
            let m = &session.media[i];
            let port = if Some(i) == session.audio {
                ours.port
            } else if m.port != 0 {
                0
            } else {
                out.extend_from_slice(raw);
                continue;
            };
            out.extend_from_slice(format!("m={} {} {}", m.kind, port, m.proto).as_bytes());
            for f in &m.formats {
                out.push(b' ');
                out.extend_from_slice(f.as_bytes());
            }
            out.extend_from_slice(ending);
        } else if l.starts_with(b"c=") && (section < 0 || Some(section as usize) == session.audio) {
            out.extend_from_slice(c_line.trim_end().as_bytes());
            out.extend_from_slice(ending);
        } else if l.starts_with(b"a=rtcp:")
            || l.starts_with(b"a=candidate:")
            || l.starts_with(b"a=remote-candidates:")
            || l.starts_with(b"a=ice-")
        {
            continue;
        } else {
            out.extend_from_slice(raw);
        }
    }
    Ok(out)
}

// --- writing helpers ------------------------------------------------------------------------

fn connection_line(addr: IpAddr) -> String {
    format!("c=IN {} {}\r\n", AddrType::of(addr).as_str(), addr)
}

/// `s=`, `c=`, `t=`: what follows `o=` in every body we write.
fn session_head(addr: IpAddr, timing: (u64, u64)) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"s=-\r\n");
    out.extend_from_slice(connection_line(addr).as_bytes());
    out.extend_from_slice(format!("t={} {}\r\n", timing.0, timing.1).as_bytes());
    out
}

fn audio_formats(choice: &Choice) -> [(u8, &'static str); 1] {
    [(choice.payload_type, choice.encoding)]
}

fn audio_section(
    out: &mut Vec<u8>,
    codecs: &[(u8, &'static str)],
    dtmf: Option<u8>,
    ptime_ms: u16,
    direction: Direction,
    port: u16,
) {
    use std::fmt::Write as _;
    let mut s = format!("m=audio {port} RTP/AVP");
    for (pt, _) in codecs {
        let _ = write!(s, " {pt}");
    }
    if let Some(pt) = dtmf {
        let _ = write!(s, " {pt}");
    }
    s.push_str("\r\n");
    for (pt, name) in codecs {
        let _ = write!(s, "a=rtpmap:{pt} {name}/8000\r\n");
    }
    if let Some(pt) = dtmf {
        let _ = write!(
            s,
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} {DTMF_EVENTS}\r\n"
        );
    }
    let _ = write!(s, "a=ptime:{ptime_ms}\r\na={}\r\n", direction.as_str());
    out.extend_from_slice(s.as_bytes());
}

// --- parsing helpers ------------------------------------------------------------------------

/// Lines of a body: (1-based number, content without line ending or trailing whitespace,
/// raw line with its ending).
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
    body.split_inclusive(|&b| b == b'\n')
        .enumerate()
        .map(|(i, raw)| {
            let end = raw
                .iter()
                .rposition(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
                .map_or(0, |p| p + 1);
            (i + 1, &raw[..end], raw)
        })
}

fn utf8(value: &[u8], line: usize) -> Result<&str, SdpError> {
    std::str::from_utf8(value).map_err(|_| SdpError::NotUtf8 { line })
}

/// Printable ASCII without spaces: what a token we may echo back must be.
fn visible(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_graphic())
}

fn parse_pt(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u8>().ok().filter(|&pt| pt <= 127)
}

/// `IN <IP4|IP6> <address>[/ttl[/count]]`.
fn parse_connection(value: &str, line: usize) -> Result<IpAddr, SdpError> {
    let err = SdpError::Connection { line };
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let ["IN", addr_type, address] = f[..] else {
        return Err(err);
    };
    let addr_type = AddrType::parse(addr_type).ok_or(err.clone())?;
    let address = address.split('/').next().unwrap_or_default();
    let addr: IpAddr = address.parse().map_err(|_| err.clone())?;
    if AddrType::of(addr) != addr_type {
        return Err(err);
    }
    Ok(addr)
}

/// `<media> <port>[/<count>] <proto> <fmt> …`.
fn parse_media(value: &str, line: usize) -> Result<Media, SdpError> {
    let err = SdpError::Media { line };
    let mut f = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(err);
    };
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if !visible(kind) || !visible(proto) || !formats.iter().all(|t| visible(t)) {
        return Err(err);
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse::<u16>().map_err(|_| err.clone())?)),
        None => (port, None),
    };
    let port = port.parse::<u16>().map_err(|_| err.clone())?;
    Ok(Media {
        kind: kind.to_owned(),
        port,
        port_count,
        proto: proto.to_owned(),
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        direction: Direction::SendRecv,
    })
}

/// `<pt> <encoding>/<clock>[/<channels>]`.
fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.trim_start().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next().filter(|e| !e.is_empty() && visible(e))?;
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type: parse_pt(pt)?,
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

/// `<pt> <params>`; the parameters may be empty.
fn parse_fmtp(value: &str) -> Option<Fmtp> {
    let value = value.trim_start();
    let (pt, params) = value.split_once(' ').unwrap_or((value, ""));
    Some(Fmtp {
        payload_type: parse_pt(pt)?,
        params: params.trim().to_owned(),
    })
}

fn parse_ptime(value: &[u8]) -> Option<u16> {
    std::str::from_utf8(value)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n";

    #[test]
    fn minimal_parses() {
        let s = Session::parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(s.origin.version, 2);
        assert_eq!(
            s.audio_endpoint(),
            Some(Endpoint {
                addr: "192.0.2.1".parse().unwrap(),
                port: 4000
            })
        );
        assert_eq!(
            s.audio().unwrap().payload_types().collect::<Vec<_>>(),
            [0, 8]
        );
        assert_eq!(s.audio().unwrap().direction, Direction::SendRecv);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(Session::parse(b""), Err(SdpError::Empty));
        assert_eq!(Session::parse(b"\r\n \r\n"), Err(SdpError::Empty));
        assert_eq!(
            Session::parse(b"v=1\r\n"),
            Err(SdpError::Version { line: 1 })
        );
        assert_eq!(
            Session::parse(b"v=0\r\ns=-\r\n"),
            Err(SdpError::MissingOrigin)
        );
        assert_eq!(
            Session::parse(b"v=0\r\nxyz\r\n"),
            Err(SdpError::Syntax { line: 2 })
        );
        assert_eq!(
            Session::parse(b"v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n"),
            Err(SdpError::Origin { line: 2 })
        );
        assert_eq!(
            Session::parse(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP6 1.2.3.4\r\n"),
            Err(SdpError::Connection { line: 3 })
        );
        assert_eq!(
            Session::parse(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n"),
            Err(SdpError::Media { line: 3 })
        );
        assert_eq!(
            Session::parse(
                b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:300 X/8000\r\n"
            ),
            Err(SdpError::Attribute { line: 4 })
        );
        assert_eq!(SdpError::NoCommonCodec.sip_status(), 488);
        assert_eq!(SdpError::Empty.sip_status(), 400);
    }

    #[test]
    fn session_direction_and_ptime_apply_to_media() {
        let body = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\na=sendonly\na=ptime:30\nm=audio 4000 RTP/AVP 8\nm=audio 4002 RTP/AVP 0\na=inactive\na=ptime:10\n";
        let s = Session::parse(body.as_bytes()).unwrap();
        assert_eq!(s.media[0].direction, Direction::SendOnly);
        assert_eq!(s.media[0].ptime, Some(30));
        assert_eq!(s.media[1].direction, Direction::Inactive);
        assert_eq!(s.media[1].ptime, Some(10));
    }

    #[test]
    fn origin_version_moves_only_when_the_body_changes() {
        let offer = Session::parse(MINIMAL.as_bytes()).unwrap();
        let choice = choose(&offer, &[PCMU, PCMA]).unwrap();
        let ours = Endpoint {
            addr: "198.51.100.7".parse().unwrap(),
            port: 30000,
        };
        let mut origin = Origin::new(42, ours.addr);
        let a1 = answer(&offer, &choice, ours, &mut origin);
        let a2 = answer(&offer, &choice, ours, &mut origin);
        assert_eq!(a1, a2);
        assert_eq!(origin.version, 1);
        let moved = Endpoint {
            port: 30002,
            ..ours
        };
        let a3 = answer(&offer, &choice, moved, &mut origin);
        assert_eq!(origin.version, 2);
        assert!(String::from_utf8(a3)
            .unwrap()
            .contains("o=hotline 42 2 IN IP4 198.51.100.7\r\n"));
    }

    #[test]
    fn unspecified_address_is_nowhere() {
        let body = MINIMAL.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0");
        let s = Session::parse(body.as_bytes()).unwrap();
        assert_eq!(s.connection, Some(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(s.audio_endpoint(), None);
    }
}
