//! One call's media, as a pure state machine: up to four legs, what each one hears, and the
//! RTP that results. No sockets and no clock: the shell ([`crate::plane`]) passes `now`,
//! hands over every datagram ([`MediaCall::on_rtp`]), ticks it every 20 ms while
//! [`MediaCall::needs_tick`], and sends what [`MediaCall::poll_transmit`] yields.
//!
//! The hot path is a two-party relay: a packet from one leg is judged by the leg's [`Latch`],
//! rewritten in place by the listening leg's [`OutStream`] (transcoded in place first when
//! one leg speaks PCMU and the other PCMA, G.711 being one byte per sample either way), and
//! handed back for the shell to send from the same buffer: no copy, no allocation. Generated
//! audio (prompts, tones, the mixer, RFC 4733 digits) is queued in fixed-size buffers whose
//! queue keeps its capacity, so steady state does not allocate either.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::dtmf::{DtmfReceiver, DtmfSender};
use crate::g711::{self, Codec};
use crate::mixer::{Frame, Mixer, PartyId, FRAME_SAMPLES};
use crate::player::Player;
use crate::relay::{Counters, Latch, OutStream, SourceId, SourcePacket, Verdict};
use crate::sdp::Choice;

/// The most legs one call holds (caller, seat and two three-way targets).
pub const MAX_LEGS: usize = 4;

/// Size of a [`Transmit`] buffer: one Ethernet MTU, enough for any G.711 packet we relay or
/// generate (12-byte header + 160 bytes per 20 ms, with room for CSRCs and extensions).
pub const TRANSMIT_BUF: usize = 1500;

/// Transmit queue bound: the shell drains it after every input, so reaching this means the
/// shell is not draining; the oldest packets are dropped rather than growing without limit.
const MAX_QUEUED: usize = 256;

/// How long each digit of [`MediaCall::send_digits`] lasts.
const DIGIT_MS: u32 = 100;
/// Volume of the digits we send (RFC 4733 §2.5.2.2: −10 dBm0).
const DIGIT_VOLUME: u8 = 10;
/// Silent ticks between two digits we send (60 ms, above the 50 ms minimum pause).
const DIGIT_GAP_TICKS: u8 = 3;

/// Which leg of a call. Caller = 0, Seat = 1, others (three-way targets) 2..=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u8);

impl LegId {
    /// The caller's leg.
    pub const CALLER: Self = Self(0);
    /// The seat's (agent's) leg.
    pub const SEAT: Self = Self(1);
}

/// What a leg hears.
#[derive(Debug, Clone)]
pub enum Feed {
    /// Nothing: no packets are sent to the leg.
    Silence,
    /// Relay from that leg.
    Leg(LegId),
    /// A playlist.
    Player(Player),
    /// Member of the call's mixer: hears every other member, and is heard by them.
    Mix,
}

/// Something the call's owner must know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// A key pressed on `leg` (RFC 4733), reported once per press.
    Digit {
        /// The leg.
        leg: LegId,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The playlist's clips on `leg` have all been played (reported once per playlist; a
    /// loop may go on playing).
    PlayDone {
        /// The leg.
        leg: LegId,
    },
    /// `leg` should be sending but no RTP arrived for the no-RTP timeout (reported once,
    /// then again only after RTP arrived or the leg was updated).
    NoRtp {
        /// The leg.
        leg: LegId,
    },
}

/// A packet to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The leg whose socket sends it.
    pub leg: LegId,
    /// Destination.
    pub to: SocketAddr,
    /// Bytes of `buf` in use.
    pub len: usize,
    /// The packet (first `len` bytes).
    pub buf: [u8; TRANSMIT_BUF],
}

impl Transmit {
    /// The packet.
    pub fn packet(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Call-wide counts (all legs, including removed ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    /// Datagrams received on the legs' RTP ports.
    pub packets_in: u64,
    /// Packets produced for sending (relayed or generated).
    pub packets_out: u64,
    /// RTCP received on RTP ports.
    pub rtcp_in: u64,
    /// Dropped: not RTP.
    pub dropped_not_rtp: u64,
    /// Dropped: payload type not negotiated.
    pub dropped_payload_type: u64,
    /// Dropped: another source than the latched one.
    pub dropped_foreign_source: u64,
    /// Telephone-event packets whose payload is malformed.
    pub bad_telephone_event: u64,
    /// Digits reported.
    pub dtmf_digits: u64,
    /// No-RTP timeouts reported.
    pub no_rtp_timeouts: u64,
}

impl MediaCounters {
    fn add_leg(&mut self, c: &Counters) {
        self.packets_in += c.packets_in;
        self.packets_out += c.packets_out;
        self.rtcp_in += c.rtcp_in;
        self.dropped_not_rtp += c.dropped_not_rtp;
        self.dropped_payload_type += c.dropped_payload_type;
        self.dropped_foreign_source += c.dropped_foreign_source;
    }
}

/// A stream we generate (player, mixer output, digits): its own source id and numbering.
#[derive(Debug, Clone, Copy)]
struct Generated {
    source: SourceId,
    seq: u16,
    ts: u32,
}

impl Generated {
    fn new(source: SourceId) -> Self {
        Self {
            source,
            seq: 0,
            ts: 0,
        }
    }

    /// Numbers the next packet of `samples` samples (0 for telephone-event, whose packets
    /// carry the event's start timestamp, given as `ts`).
    fn next(&mut self, ts: u32, marker: bool, samples: u32) -> SourcePacket {
        let p = SourcePacket {
            seq: self.seq,
            timestamp: ts,
            marker,
            samples,
        };
        self.seq = self.seq.wrapping_add(1);
        p
    }
}

/// The leg's feed, with the state generating it.
#[derive(Debug)]
enum LegFeed {
    Silence,
    Leg(LegId),
    Player {
        player: Player,
        stream: Generated,
        done_reported: bool,
    },
    Mix {
        party: PartyId,
        stream: Generated,
    },
}

/// Decoded audio from a mixer member, waiting for the next tick: a small FIFO that absorbs
/// arrival jitter and packets longer than one frame (ptime 30/40 ms).
#[derive(Debug)]
struct MixInput {
    samples: [i16; 4 * FRAME_SAMPLES],
    start: usize,
    len: usize,
}

impl MixInput {
    fn new() -> Self {
        Self {
            samples: [0; 4 * FRAME_SAMPLES],
            start: 0,
            len: 0,
        }
    }

    fn push(&mut self, codec: Codec, payload: &[u8]) {
        let cap = self.samples.len();
        for &b in payload {
            if self.len == cap {
                // Full: drop the oldest sample, latency must not grow.
                self.start = (self.start + 1) % cap;
                self.len -= 1;
            }
            self.samples[(self.start + self.len) % cap] = codec.decode(b);
            self.len += 1;
        }
    }

    fn pop(&mut self, out: &mut Frame) -> bool {
        if self.len < FRAME_SAMPLES {
            return false;
        }
        let cap = self.samples.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.samples[(self.start + i) % cap];
        }
        self.start = (self.start + FRAME_SAMPLES) % cap;
        self.len -= FRAME_SAMPLES;
        true
    }
}

/// RFC 4733 digits being sent on a leg.
#[derive(Debug)]
struct DigitsOut {
    queue: VecDeque<char>,
    current: Option<DtmfSender>,
    gap: u8,
    stream: Generated,
    /// 8 kHz clock of the digit stream, advanced every tick while sending.
    clock: u32,
    event_ts: u32,
}

impl DigitsOut {
    fn active(&self) -> bool {
        self.current.is_some() || self.gap > 0 || !self.queue.is_empty()
    }
}

#[derive(Debug)]
struct Leg {
    codec: Codec,
    payload_type: u8,
    te: Option<u8>,
    latch: Latch,
    out: OutStream,
    dtmf_in: DtmfReceiver,
    feed: LegFeed,
    digits: DigitsOut,
    mix_in: MixInput,
    sends: bool,
    no_rtp_reported: bool,
    bad_te: u64,
    dtmf_digits: u64,
    no_rtp_timeouts: u64,
}

impl Leg {
    fn payload_types(&self) -> Vec<u8> {
        std::iter::once(self.payload_type).chain(self.te).collect()
    }

    fn counters(&self) -> Counters {
        *self.latch.counters() + *self.out.counters()
    }
}

fn codec_of(choice: &Choice) -> Codec {
    if choice.encoding.eq_ignore_ascii_case("PCMA") {
        Codec::Pcma
    } else {
        Codec::Pcmu
    }
}

fn index(leg: LegId) -> Option<usize> {
    let i = usize::from(leg.0);
    (i < MAX_LEGS).then_some(i)
}

/// Where the payload of a (validated) RTP packet is: after CSRCs and extension, before
/// padding.
fn payload_range(pkt: &[u8]) -> Option<std::ops::Range<usize>> {
    let b0 = *pkt.first()?;
    let mut start = 12 + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        let words = u16::from_be_bytes([*pkt.get(start + 2)?, *pkt.get(start + 3)?]);
        start += 4 + 4 * usize::from(words);
    }
    let mut end = pkt.len();
    if b0 & 0x20 != 0 {
        end = end.checked_sub(usize::from(*pkt.last()?))?;
    }
    (start <= end).then_some(start..end)
}

/// All the legs of one call, and what each hears. See the [module docs](self).
#[derive(Debug)]
pub struct MediaCall {
    legs: [Option<Leg>; MAX_LEGS],
    mixer: Mixer,
    /// PCMU→PCMA and PCMA→PCMU byte maps, indexed by the source codec.
    transcode: [[u8; 256]; 2],
    transmits: VecDeque<Transmit>,
    events: VecDeque<CallEvent>,
    /// Counts of removed legs.
    retired: MediaCounters,
    /// Transmits dropped because the queue was full or a packet too long for a buffer.
    dropped_transmits: u64,
    next_source: u64,
}

impl Default for MediaCall {
    fn default() -> Self {
        Self::new()
    }
}

impl MediaCall {
    /// A call with no leg.
    pub fn new() -> Self {
        let mut transcode = [[0u8; 256]; 2];
        for b in 0..=255u8 {
            transcode[0][usize::from(b)] = Codec::Pcma.encode(Codec::Pcmu.decode(b));
            transcode[1][usize::from(b)] = Codec::Pcmu.encode(Codec::Pcma.decode(b));
        }
        Self {
            legs: std::array::from_fn(|_| None),
            mixer: Mixer::new(),
            transcode,
            transmits: VecDeque::with_capacity(16),
            events: VecDeque::new(),
            retired: MediaCounters::default(),
            dropped_transmits: 0,
            // Relayed sources use ids below 2^40 (leg | ssrc << 8); generated ones above.
            next_source: 1 << 40,
        }
    }

    fn new_source(&mut self) -> SourceId {
        self.next_source += 1;
        SourceId(self.next_source)
    }

    fn leg_mut(&mut self, leg: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(index(leg)?)?.as_mut()
    }

    fn leg(&self, leg: LegId) -> Option<&Leg> {
        self.legs.get(index(leg)?)?.as_ref()
    }

    /// Whether `leg` exists.
    pub fn has_leg(&self, leg: LegId) -> bool {
        self.leg(leg).is_some()
    }

    /// Number of legs.
    pub fn leg_count(&self) -> usize {
        self.legs.iter().flatten().count()
    }

    /// Adds (or replaces) a leg. `remote` is its SDP address (`None`: unknown until its RTP
    /// arrives); `ssrc`, `seq` and `ts` start our stream towards it (random, drawn by the
    /// shell so this core stays deterministic). The leg hears silence, and counts as sending
    /// (subject to the no-RTP timeout) iff `remote` is known; see [`update_leg`]. Legs
    /// beyond [`MAX_LEGS`] are ignored.
    ///
    /// [`update_leg`]: Self::update_leg
    #[allow(clippy::too_many_arguments)]
    pub fn add_leg(
        &mut self,
        leg: LegId,
        choice: Choice,
        remote: Option<SocketAddr>,
        ssrc: u32,
        seq: u16,
        ts: u32,
        now: Instant,
    ) {
        let Some(i) = index(leg) else { return };
        self.remove_leg(leg);
        let te = choice.dtmf_payload_type;
        let pts: Vec<u8> = std::iter::once(choice.payload_type).chain(te).collect();
        let digits_source = self.new_source();
        self.legs[i] = Some(Leg {
            codec: codec_of(&choice),
            payload_type: choice.payload_type,
            te,
            latch: Latch::new(remote, &pts, now),
            out: OutStream::new(ssrc, seq, ts),
            dtmf_in: DtmfReceiver::new(),
            feed: LegFeed::Silence,
            digits: DigitsOut {
                queue: VecDeque::new(),
                current: None,
                gap: 0,
                stream: Generated::new(digits_source),
                clock: 0,
                event_ts: 0,
            },
            mix_in: MixInput::new(),
            sends: remote.is_some(),
            no_rtp_reported: false,
            bad_te: 0,
            dtmf_digits: 0,
            no_rtp_timeouts: 0,
        });
        self.refresh_payload_maps();
    }

    /// New SDP from `leg` (re-INVITE, the seat's answer): its codec, address, and whether it
    /// sends (its direction is sendrecv or sendonly); the no-RTP clock restarts.
    pub fn update_leg(
        &mut self,
        leg: LegId,
        choice: Choice,
        remote: Option<SocketAddr>,
        sends: bool,
        now: Instant,
    ) {
        let Some(l) = self.leg_mut(leg) else { return };
        l.codec = codec_of(&choice);
        l.payload_type = choice.payload_type;
        l.te = choice.dtmf_payload_type;
        let pts = l.payload_types();
        l.latch.update(remote, &pts, now);
        l.sends = sends;
        l.no_rtp_reported = false;
        self.refresh_payload_maps();
    }

    /// Removes `leg`. Legs that heard it hear nothing until a leg with the same id returns.
    pub fn remove_leg(&mut self, leg: LegId) {
        let Some(i) = index(leg) else { return };
        if let Some(l) = self.legs[i].take() {
            if let LegFeed::Mix { party, .. } = l.feed {
                self.mixer.remove_party(party);
            }
            self.retired.add_leg(&l.counters());
            self.retired.bad_telephone_event += l.bad_te;
            self.retired.dtmf_digits += l.dtmf_digits;
            self.retired.no_rtp_timeouts += l.no_rtp_timeouts;
        }
    }

    /// Sets what `leg` hears.
    pub fn set_feed(&mut self, leg: LegId, feed: Feed) {
        if !self.has_leg(leg) {
            return;
        }
        let new = match feed {
            Feed::Silence => LegFeed::Silence,
            Feed::Leg(from) => LegFeed::Leg(from),
            Feed::Player(player) => LegFeed::Player {
                player,
                stream: Generated::new(self.new_source()),
                done_reported: false,
            },
            Feed::Mix => {
                if let Some(LegFeed::Mix { .. }) = self.leg(leg).map(|l| &l.feed) {
                    return; // already a member: keep its party and stream
                }
                match self.mixer.add_party() {
                    Some(party) => LegFeed::Mix {
                        party,
                        stream: Generated::new(self.new_source()),
                    },
                    None => LegFeed::Silence,
                }
            }
        };
        let Some(l) = self.leg_mut(leg) else { return };
        let old = std::mem::replace(&mut l.feed, new);
        if matches!(l.feed, LegFeed::Mix { .. }) {
            // Stale audio from an earlier membership must not be mixed in.
            l.mix_in = MixInput::new();
        }
        if let LegFeed::Mix { party, .. } = old {
            self.mixer.remove_party(party);
        }
        self.refresh_payload_maps();
    }

    /// `a` hears `b` and `b` hears `a`.
    pub fn bridge(&mut self, a: LegId, b: LegId) {
        self.set_feed(a, Feed::Leg(b));
        self.set_feed(b, Feed::Leg(a));
    }

    /// Puts `legs` in the call's mixer: each hears all the other members but not itself.
    /// Legs not listed keep their feed.
    pub fn mix(&mut self, legs: &[LegId]) {
        for &l in legs {
            self.set_feed(l, Feed::Mix);
        }
    }

    /// Plays `playlist` to `leg` (replacing its feed).
    pub fn play(&mut self, leg: LegId, playlist: crate::player::Playlist) {
        self.set_feed(leg, Feed::Player(Player::new(playlist)));
    }

    /// Queues RFC 4733 digits to send on `leg` (100 ms each, 60 ms apart), during which the
    /// leg's audio feed is paused. Characters that are not DTMF keys are skipped; a leg that
    /// did not negotiate telephone-event gets nothing.
    pub fn send_digits(&mut self, leg: LegId, digits: &str) {
        let Some(l) = self.leg_mut(leg) else { return };
        if l.te.is_none() {
            return;
        }
        l.digits.queue.extend(
            digits
                .chars()
                .filter(|&c| crate::dtmf::event_of(c).is_some()),
        );
    }

    /// Whether [`on_tick`](Self::on_tick) has work: a player, the mixer or digits.
    pub fn needs_tick(&self) -> bool {
        self.legs.iter().flatten().any(|l| {
            l.digits.active()
                || match &l.feed {
                    LegFeed::Player {
                        player,
                        done_reported,
                        ..
                    } => !player.is_finished() || !done_reported,
                    LegFeed::Mix { .. } => true,
                    LegFeed::Silence | LegFeed::Leg(_) => false,
                }
        })
    }

    /// Inbound and outbound counts of `leg` (zero for an unknown leg).
    pub fn counters(&self, leg: LegId) -> Counters {
        self.leg(leg).map(Leg::counters).unwrap_or_default()
    }

    /// Call-wide counts, removed legs included.
    pub fn media_counters(&self) -> MediaCounters {
        let mut c = self.retired;
        for l in self.legs.iter().flatten() {
            c.add_leg(&l.counters());
            c.bad_telephone_event += l.bad_te;
            c.dtmf_digits += l.dtmf_digits;
            c.no_rtp_timeouts += l.no_rtp_timeouts;
        }
        c
    }

    /// Packets the transmit queue dropped (queue full, or too long to copy).
    pub fn dropped_transmits(&self) -> u64 {
        self.dropped_transmits
    }

    /// Re-derives every relaying leg's payload type renumbering from its source's numbers:
    /// the source's codec to ours (the transcoding case included), its telephone-event to
    /// ours.
    fn refresh_payload_maps(&mut self) {
        for i in 0..MAX_LEGS {
            let Some(LegFeed::Leg(src)) = self.legs[i].as_ref().map(|l| &l.feed) else {
                continue;
            };
            let Some(s) = self.leg(*src).map(|s| (s.payload_type, s.te)) else {
                continue;
            };
            let Some(l) = self.legs[i].as_mut() else {
                continue;
            };
            l.out.map_payload_type(s.0, l.payload_type);
            if let (Some(from), Some(to)) = (s.1, l.te) {
                l.out.map_payload_type(from, to);
            }
        }
    }

    /// Queues a transmit: `fill` writes the packet into the buffer and returns its length.
    fn queue(
        transmits: &mut VecDeque<Transmit>,
        dropped: &mut u64,
        leg: LegId,
        to: SocketAddr,
        fill: impl FnOnce(&mut [u8; TRANSMIT_BUF]) -> usize,
    ) {
        if transmits.len() >= MAX_QUEUED {
            transmits.pop_front();
            *dropped += 1;
        }
        transmits.push_back(Transmit {
            leg,
            to,
            len: 0,
            buf: [0; TRANSMIT_BUF],
        });
        if let Some(t) = transmits.back_mut() {
            t.len = fill(&mut t.buf);
        }
    }

    /// A datagram arrived on `leg`'s RTP port from `from`. Returns `Some((to_leg, to))` when
    /// `pkt` was rewritten in place for `to_leg` and the shell must send it, as it is now, to
    /// `to` from `to_leg`'s socket (the relay fast path). Other output goes to
    /// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event).
    pub fn on_rtp(
        &mut self,
        now: Instant,
        leg: LegId,
        from: SocketAddr,
        pkt: &mut [u8],
    ) -> Option<(LegId, SocketAddr)> {
        let src_i = index(leg)?;
        let src = self.legs[src_i].as_mut()?;
        let ssrc = match src.latch.on_packet(from, pkt, now) {
            Verdict::Accept { ssrc } | Verdict::AcceptAndLatch { ssrc, .. } => ssrc,
            Verdict::Rtcp | Verdict::Drop(_) => return None,
        };
        src.no_rtp_reported = false;
        let pt = pkt[1] & 0x7f;
        let range = payload_range(pkt)?;
        let is_te = src.te == Some(pt) && pt != src.payload_type;
        let src_codec = src.codec;
        if is_te {
            let payload = &pkt[range.clone()];
            if payload.len() < 4 {
                src.bad_te += 1;
                return None;
            }
            let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
            let marker = pkt[1] & 0x80 != 0;
            for digit in src.dtmf_in.on_packet(ts, marker, payload) {
                src.dtmf_digits += 1;
                self.events.push_back(CallEvent::Digit { leg, digit });
            }
        } else if let LegFeed::Mix { .. } = src.feed {
            src.mix_in.push(src_codec, &pkt[range.clone()]);
        }

        // Who relays this packet: legs fed by `leg`, not busy sending digits, and for a
        // telephone-event packet only those that negotiated telephone-event.
        let listens = |l: &Option<Leg>| {
            l.as_ref().is_some_and(|l| {
                matches!(l.feed, LegFeed::Leg(s) if s == leg)
                    && !l.digits.active()
                    && (!is_te || l.te.is_some())
            })
        };
        let listeners = self.legs.iter().filter(|l| listens(l)).count();
        if listeners == 0 {
            return None;
        }
        // The source counts as new when its SSRC changes, so our stream is renumbered.
        let source = SourceId(u64::from(leg.0) | (u64::from(ssrc) << 8));
        let transcode_from = match src_codec {
            Codec::Pcmu => 0,
            Codec::Pcma => 1,
        };
        if listeners == 1 {
            let i = self.legs.iter().position(listens)?;
            let l = self.legs[i].as_mut()?;
            if !is_te && l.codec != src_codec {
                let table = &self.transcode[transcode_from];
                for b in &mut pkt[range] {
                    *b = table[usize::from(*b)];
                }
            }
            let to = l.latch.send_to()?;
            l.out.rewrite(source, pkt, now).ok()?;
            return Some((LegId(i as u8), to));
        }
        if pkt.len() > TRANSMIT_BUF {
            self.dropped_transmits += 1;
            return None;
        }
        for i in 0..MAX_LEGS {
            if !listens(&self.legs[i]) {
                continue;
            }
            let Some(l) = self.legs[i].as_mut() else {
                continue;
            };
            let Some(to) = l.latch.send_to() else {
                continue;
            };
            let transcode =
                (!is_te && l.codec != src_codec).then_some(&self.transcode[transcode_from]);
            let out = &mut l.out;
            let range = range.clone();
            Self::queue(
                &mut self.transmits,
                &mut self.dropped_transmits,
                LegId(i as u8),
                to,
                |buf| {
                    let b = &mut buf[..pkt.len()];
                    b.copy_from_slice(pkt);
                    if let Some(table) = transcode {
                        for x in &mut b[range] {
                            *x = table[usize::from(*x)];
                        }
                    }
                    match out.rewrite(source, b, now) {
                        Ok(_) => b.len(),
                        Err(_) => 0,
                    }
                },
            );
        }
        None
    }

    /// The 20 ms tick: players, the mixer and digits produce their packets.
    pub fn on_tick(&mut self, now: Instant) {
        let Self {
            legs,
            mixer,
            transmits,
            events,
            dropped_transmits,
            ..
        } = self;
        let mut frame: Frame = [0; FRAME_SAMPLES];
        // Mixer input first: each member's oldest buffered frame.
        for l in legs.iter_mut().flatten() {
            if let LegFeed::Mix { party, .. } = l.feed {
                if l.mix_in.pop(&mut frame) {
                    mixer.put(party, &frame);
                }
            }
        }
        for (i, slot) in legs.iter_mut().enumerate() {
            let Some(l) = slot else { continue };
            let id = LegId(i as u8);
            let to = l.latch.send_to();
            if l.digits.active() {
                // Digits pre-empt the leg's audio; a player is paused, not skipped.
                Self::tick_digits(l, id, to, now, transmits, dropped_transmits);
                continue;
            }
            let LegFeed::Player {
                player,
                stream,
                done_reported,
            } = &mut l.feed
            else {
                continue;
            };
            let played = player.next_frame(&mut frame);
            if played {
                let p = stream.next(stream.ts, false, FRAME_SAMPLES as u32);
                stream.ts = stream.ts.wrapping_add(FRAME_SAMPLES as u32);
                if let Some(to) = to {
                    let h = l.out.next_header(stream.source, p, now);
                    let (codec, pt) = (l.codec, l.payload_type);
                    Self::queue(transmits, dropped_transmits, id, to, |buf| {
                        buf[..12].copy_from_slice(&h.to_bytes(pt));
                        12 + g711::encode_into(codec, &frame, &mut buf[12..12 + FRAME_SAMPLES])
                    });
                }
            }
            if player.clips_done() && !*done_reported {
                *done_reported = true;
                events.push_back(CallEvent::PlayDone { leg: id });
            }
        }
        if mixer.is_empty() {
            return;
        }
        mixer.mix(|party, mixed| {
            let Some((i, l)) = legs.iter_mut().enumerate().find_map(|(i, l)| {
                let l = l.as_mut()?;
                matches!(l.feed, LegFeed::Mix { party: p, .. } if p == party).then_some((i, l))
            }) else {
                return;
            };
            if l.digits.active() {
                return;
            }
            let LegFeed::Mix { stream, .. } = &mut l.feed else {
                return;
            };
            let p = stream.next(stream.ts, false, FRAME_SAMPLES as u32);
            stream.ts = stream.ts.wrapping_add(FRAME_SAMPLES as u32);
            let Some(to) = l.latch.send_to() else { return };
            let h = l.out.next_header(stream.source, p, now);
            let (codec, pt) = (l.codec, l.payload_type);
            Self::queue(transmits, dropped_transmits, LegId(i as u8), to, |buf| {
                buf[..12].copy_from_slice(&h.to_bytes(pt));
                12 + g711::encode_into(codec, mixed, &mut buf[12..12 + FRAME_SAMPLES])
            });
        });
    }

    fn tick_digits(
        l: &mut Leg,
        id: LegId,
        to: Option<SocketAddr>,
        now: Instant,
        transmits: &mut VecDeque<Transmit>,
        dropped: &mut u64,
    ) {
        let d = &mut l.digits;
        if d.current.is_none() {
            if d.gap > 0 {
                d.gap -= 1;
            } else if let Some(c) = d.queue.pop_front() {
                d.current = DtmfSender::new(c, DIGIT_MS, DIGIT_VOLUME);
                d.event_ts = d.clock;
            }
        }
        d.clock = d.clock.wrapping_add(FRAME_SAMPLES as u32);
        let Some(sender) = &mut d.current else { return };
        let packet = sender.next_packet();
        if sender.is_done() {
            d.current = None;
            d.gap = DIGIT_GAP_TICKS;
        }
        let (Some(p), Some(to), Some(te)) = (packet, to, l.te) else {
            return;
        };
        let sp = d.stream.next(d.event_ts, p.marker, 0);
        let h = l.out.next_header(d.stream.source, sp, now);
        Self::queue(transmits, dropped, id, to, |buf| {
            buf[..12].copy_from_slice(&h.to_bytes(te));
            buf[12..16].copy_from_slice(&p.payload);
            16
        });
    }

    /// Applies the no-RTP timeout: a leg that sends and has had no RTP for `no_rtp` gets one
    /// [`CallEvent::NoRtp`].
    pub fn check_timeouts(&mut self, now: Instant, no_rtp: Duration) {
        for (i, l) in self.legs.iter_mut().enumerate() {
            let Some(l) = l else { continue };
            if l.sends && !l.no_rtp_reported && l.latch.timed_out(now, no_rtp) {
                l.no_rtp_reported = true;
                l.no_rtp_timeouts += 1;
                self.events.push_back(CallEvent::NoRtp {
                    leg: LegId(i as u8),
                });
            }
        }
    }

    /// The next packet to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            let t = self.transmits.pop_front()?;
            if t.len > 0 {
                return Some(t);
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests read the clock once for a base `now`
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::dtmf::EventPayload;
    use crate::player::{After, Clip, Playlist};
    use crate::relay::Header;
    use crate::wav::Prompt;

    const A: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);
    const B: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6000);

    fn choice(pt: u8) -> Choice {
        Choice {
            payload_type: pt,
            encoding: if pt == 8 { "PCMA" } else { "PCMU" },
            dtmf_payload_type: Some(101),
            ptime_ms: 20,
        }
    }

    fn pkt(seq: u16, ts: u32, ssrc: u32, pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = Header {
            seq,
            timestamp: ts,
            ssrc,
            marker: false,
        }
        .to_bytes(pt)
        .to_vec();
        p.extend_from_slice(payload);
        p
    }

    fn two_legs(pt_a: u8, pt_b: u8) -> (MediaCall, Instant) {
        let t0 = Instant::now();
        let mut c = MediaCall::new();
        c.add_leg(LegId::CALLER, choice(pt_a), Some(A), 0xaaaa, 100, 1000, t0);
        c.add_leg(LegId::SEAT, choice(pt_b), Some(B), 0xbbbb, 200, 2000, t0);
        c.bridge(LegId::CALLER, LegId::SEAT);
        (c, t0)
    }

    fn fields(p: &[u8]) -> (u8, u16, u32, u32, bool) {
        (
            p[1] & 0x7f,
            u16::from_be_bytes([p[2], p[3]]),
            u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
            p[1] & 0x80 != 0,
        )
    }

    #[test]
    fn relay_fast_path_rewrites_in_place() {
        let (mut c, t0) = two_legs(0, 0);
        for i in 0..5u16 {
            let mut p = pkt(7 + i, 160 * u32::from(i), 0x1234, 0, &[0x55; 160]);
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            assert_eq!(
                c.on_rtp(now, LegId::CALLER, A, &mut p),
                Some((LegId::SEAT, B))
            );
            assert_eq!(
                fields(&p),
                (0, 200 + i, 2000 + 160 * u32::from(i), 0xbbbb, i == 0)
            );
            assert_eq!(&p[12..], &[0x55; 160]);
        }
        assert!(c.poll_transmit().is_none());
        assert_eq!(c.counters(LegId::CALLER).packets_in, 5);
        assert_eq!(c.counters(LegId::SEAT).packets_out, 5);
        // Symmetric: the seat's packets go to the caller.
        let mut p = pkt(1, 0, 0x9999, 0, &[1; 160]);
        assert_eq!(
            c.on_rtp(t0, LegId::SEAT, B, &mut p),
            Some((LegId::CALLER, A))
        );
        assert_eq!(fields(&p).3, 0xaaaa);
        // Garbage, RTCP, unknown payload type: never relayed, counted.
        assert_eq!(c.on_rtp(t0, LegId::CALLER, A, &mut [1, 2, 3]), None);
        assert_eq!(
            c.on_rtp(t0, LegId::CALLER, A, &mut [0x80, 200, 0, 1, 0, 0, 0, 1]),
            None
        );
        assert_eq!(
            c.on_rtp(t0, LegId::CALLER, A, &mut pkt(1, 0, 0x1234, 13, &[0])),
            None
        );
        let m = c.media_counters();
        assert_eq!(
            (m.dropped_not_rtp, m.rtcp_in, m.dropped_payload_type),
            (1, 1, 1)
        );
        assert_eq!((m.packets_in, m.packets_out), (9, 6));
    }

    #[test]
    fn transcodes_pcmu_to_pcma_and_back() {
        let (mut c, t0) = two_legs(0, 8);
        let samples: Vec<i16> = (0..160).map(|i| (i * 200 - 16000) as i16).collect();
        let mut ulaw = [0u8; 160];
        g711::encode_into(Codec::Pcmu, &samples, &mut ulaw);
        let mut p = pkt(1, 0, 1, 0, &ulaw);
        assert_eq!(
            c.on_rtp(t0, LegId::CALLER, A, &mut p),
            Some((LegId::SEAT, B))
        );
        assert_eq!(fields(&p).0, 8);
        for (&u, &a) in ulaw.iter().zip(&p[12..]) {
            assert_eq!(a, Codec::Pcma.encode(Codec::Pcmu.decode(u)));
        }
        let mut alaw = [0u8; 160];
        g711::encode_into(Codec::Pcma, &samples, &mut alaw);
        let mut p = pkt(1, 0, 2, 8, &alaw);
        assert_eq!(
            c.on_rtp(t0, LegId::SEAT, B, &mut p),
            Some((LegId::CALLER, A))
        );
        assert_eq!(fields(&p).0, 0);
        for (&a, &u) in alaw.iter().zip(&p[12..]) {
            assert_eq!(u, Codec::Pcmu.encode(Codec::Pcma.decode(a)));
        }
    }

    #[test]
    fn several_listeners_get_copies() {
        let (mut c, t0) = two_legs(0, 0);
        let third: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        c.add_leg(LegId(2), choice(8), Some(third), 0xcccc, 0, 0, t0);
        c.set_feed(LegId(2), Feed::Leg(LegId::CALLER));
        let mut p = pkt(1, 0, 1, 0, &[0xff; 160]);
        assert_eq!(c.on_rtp(t0, LegId::CALLER, A, &mut p), None);
        let t1 = c.poll_transmit().unwrap();
        let t2 = c.poll_transmit().unwrap();
        assert!(c.poll_transmit().is_none());
        assert_eq!(
            (t1.leg, t1.to, fields(t1.packet()).3),
            (LegId::SEAT, B, 0xbbbb)
        );
        assert_eq!(
            (t2.leg, t2.to, fields(t2.packet()).3),
            (LegId(2), third, 0xcccc)
        );
        assert_eq!(fields(t2.packet()).0, 8);
        assert_eq!(t2.packet()[12], Codec::Pcma.encode(0));
    }

    #[test]
    fn player_frames_then_play_done_then_relay_continues_stream() {
        let (mut c, t0) = two_legs(8, 0);
        let samples: Vec<i16> = (0..400).map(|i| (i * 50) as i16).collect();
        c.play(
            LegId::CALLER,
            Playlist {
                clips: vec![Clip::Prompt(Arc::new(Prompt::from_samples(
                    samples.clone(),
                )))],
                then: After::Silence,
            },
        );
        assert!(c.needs_tick());
        let mut got = Vec::new();
        let mut now = t0;
        for _ in 0..5 {
            now += Duration::from_millis(20);
            c.on_tick(now);
            while let Some(t) = c.poll_transmit() {
                got.push(t);
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(
            c.poll_event(),
            Some(CallEvent::PlayDone { leg: LegId::CALLER })
        );
        assert_eq!(c.poll_event(), None);
        assert!(!c.needs_tick());
        let mut decoded = Vec::new();
        for (k, t) in got.iter().enumerate() {
            let (pt, seq, ts, ssrc, marker) = fields(t.packet());
            assert_eq!(
                (pt, seq, ts, ssrc, marker),
                (8, 100 + k as u16, 1000 + 160 * k as u32, 0xaaaa, k == 0)
            );
            assert_eq!(t.len, 172);
            decoded.extend(t.packet()[12..].iter().map(|&b| Codec::Pcma.decode(b)));
        }
        let expect: Vec<i16> = samples
            .iter()
            .chain(std::iter::repeat_n(&0, 80))
            .map(|&s| Codec::Pcma.decode(Codec::Pcma.encode(s)))
            .collect();
        assert_eq!(decoded, expect);
        // Switch to the seat: same SSRC, next sequence number, marker.
        c.bridge(LegId::CALLER, LegId::SEAT);
        let mut p = pkt(5000, 9, 77, 0, &[0xff; 160]);
        now += Duration::from_millis(20);
        assert_eq!(
            c.on_rtp(now, LegId::SEAT, B, &mut p),
            Some((LegId::CALLER, A))
        );
        let (_, seq, _, ssrc, marker) = fields(&p);
        assert_eq!((seq, ssrc, marker), (103, 0xaaaa, true));
    }

    #[test]
    fn no_rtp_timeout_once_until_rtp() {
        let (mut c, t0) = two_legs(0, 0);
        c.update_leg(LegId::SEAT, choice(0), Some(B), false, t0);
        let to = Duration::from_secs(1);
        c.check_timeouts(t0 + Duration::from_millis(999), to);
        assert_eq!(c.poll_event(), None);
        c.check_timeouts(t0 + to, to);
        assert_eq!(
            c.poll_event(),
            Some(CallEvent::NoRtp { leg: LegId::CALLER })
        );
        assert_eq!(c.poll_event(), None);
        c.check_timeouts(t0 + 2 * to, to);
        assert_eq!(c.poll_event(), None);
        let t3 = t0 + 3 * to;
        c.on_rtp(t3, LegId::CALLER, A, &mut pkt(1, 0, 1, 0, &[0; 160]));
        c.check_timeouts(t3 + to, to);
        assert_eq!(
            c.poll_event(),
            Some(CallEvent::NoRtp { leg: LegId::CALLER })
        );
        assert_eq!(c.media_counters().no_rtp_timeouts, 2);
    }

    #[test]
    fn digits_in_and_out() {
        let (mut c, t0) = two_legs(0, 0);
        // In: reported once, relayed to the seat as telephone-event.
        for (i, end) in [(0u16, false), (1, false), (2, true), (3, true)] {
            let ev = EventPayload {
                event: 4,
                end,
                volume: 10,
                duration: 160 * (i + 1),
            };
            let mut p = pkt(10 + i, 8000, 1, 101, &ev.to_bytes());
            assert_eq!(
                c.on_rtp(t0, LegId::CALLER, A, &mut p),
                Some((LegId::SEAT, B))
            );
            assert_eq!(fields(&p).0, 101);
        }
        assert_eq!(
            c.poll_event(),
            Some(CallEvent::Digit {
                leg: LegId::CALLER,
                digit: '4'
            })
        );
        assert_eq!(c.poll_event(), None);
        // Malformed: counted, not relayed.
        assert_eq!(
            c.on_rtp(t0, LegId::CALLER, A, &mut pkt(20, 9000, 1, 101, &[1, 2])),
            None
        );
        assert_eq!(c.media_counters().bad_telephone_event, 1);
        // Out: the seat gets "12" as RFC 4733 packets; relayed audio pauses meanwhile.
        c.send_digits(LegId::SEAT, "1x2");
        assert!(c.needs_tick());
        let mut rx = DtmfReceiver::new();
        let mut keys = String::new();
        let mut now = t0;
        for k in 0..40u16 {
            now += Duration::from_millis(20);
            c.on_tick(now);
            if k < 5 {
                let mut p = pkt(100 + k, 0, 1, 0, &[0; 160]);
                assert_eq!(c.on_rtp(now, LegId::CALLER, A, &mut p), None);
            }
            while let Some(t) = c.poll_transmit() {
                let p = t.packet();
                assert_eq!((t.leg, fields(p).0), (LegId::SEAT, 101));
                keys.extend(rx.on_packet(fields(p).2, fields(p).4, &p[12..]));
            }
        }
        assert_eq!(keys, "12");
        assert!(!c.needs_tick());
        let mut p = pkt(2, 160, 1, 0, &[0; 160]);
        assert_eq!(
            c.on_rtp(now, LegId::CALLER, A, &mut p),
            Some((LegId::SEAT, B))
        );
    }

    #[test]
    fn mixer_members_hear_the_others() {
        let t0 = Instant::now();
        let mut c = MediaCall::new();
        let addrs: Vec<SocketAddr> = (0..3).map(|i| SocketAddr::new(A.ip(), 7000 + i)).collect();
        for (i, &a) in addrs.iter().enumerate() {
            c.add_leg(LegId(i as u8), choice(0), Some(a), i as u32, 0, 0, t0);
        }
        c.mix(&[LegId(0), LegId(1), LegId(2)]);
        assert!(c.needs_tick());
        let levels = [1000i16, 2000, 4000];
        for (i, &a) in addrs.iter().enumerate() {
            let payload = [Codec::Pcmu.encode(levels[i]); 160];
            assert_eq!(
                c.on_rtp(t0, LegId(i as u8), a, &mut pkt(1, 0, 9, 0, &payload)),
                None
            );
        }
        c.on_tick(t0);
        let mut heard = [0i16; 3];
        while let Some(t) = c.poll_transmit() {
            heard[usize::from(t.leg.0)] = Codec::Pcmu.decode(t.packet()[12]);
        }
        let q = |v: i16| Codec::Pcmu.decode(Codec::Pcmu.encode(v));
        assert_eq!(
            heard,
            [
                q(q(2000) + q(4000)),
                q(q(1000) + q(4000)),
                q(q(1000) + q(2000))
            ]
        );
    }
}
