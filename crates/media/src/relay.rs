//! RTP stream continuity and source latching, as pure code: no sockets, no clock (`now` is
//! always an argument).
//!
//! Each leg of an anchored call has, in the shell:
//!
//! - a [`Latch`] for what arrives on the leg's port. Call [`Latch::on_packet`] for every
//!   datagram; forward only [`Verdict::Accept`] and [`Verdict::AcceptAndLatch`] (RTCP gets
//!   its own verdict and is not relayed). Send to [`Latch::send_to`]: the SDP address until
//!   the leg's own RTP arrives, then where it comes from (symmetric RTP, RFC 4961). Hang up
//!   when [`Latch::idle_since`] is older than the configured no-RTP timeout while the leg is
//!   meant to be sending (docs/decisions/0011-codecs-and-anchoring.md).
//! - an [`OutStream`] for what we send on the leg. Every packet, relayed ([`OutStream::rewrite`],
//!   in place) or generated ([`OutStream::next_header`]), goes through it with the
//!   [`SourceId`] of what fed it, so the leg sees one continuous stream with our SSRC while its
//!   source changes (prompt → seat → mixer…): sequence numbers continue, timestamps follow
//!   wall time across a switch, and the first packet after a switch carries the marker bit
//!   (RFC 3551 §4.1). Within one source, the source's own sequence and timestamp steps are
//!   kept, so loss, reordering and RFC 4733 event timestamps survive.
//!
//! Both keep [`Counters`] for the leg's metrics.

use std::net::SocketAddr;
use std::ops::Add;
use std::time::{Duration, Instant};

use rtp_rs::{RtpReader, RtpReaderError};

/// Samples per second of every format we carry (G.711 and telephone-event/8000).
pub const CLOCK_RATE: u32 = 8000;

/// Default for [`Latch::set_relatch_after`].
pub const DEFAULT_RELATCH_AFTER: Duration = Duration::from_secs(2);

/// A datagram that is not a well-formed RTP packet (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RelayError {
    /// Shorter than the 12-byte fixed header.
    #[error("{0} bytes: shorter than an RTP header")]
    TooShort(usize),
    /// Version is not 2.
    #[error("RTP version {0}, not 2")]
    Version(u8),
    /// The CSRC list or header extension runs past the end of the datagram.
    #[error("RTP header runs past the end of the packet")]
    Truncated,
    /// The padding count is 0 or longer than the payload.
    #[error("bad RTP padding")]
    Padding,
}

impl From<RtpReaderError> for RelayError {
    fn from(e: RtpReaderError) -> Self {
        match e {
            RtpReaderError::BufferTooShort(n) => Self::TooShort(n),
            RtpReaderError::UnsupportedVersion(v) => Self::Version(v),
            RtpReaderError::HeadersTruncated { .. } => Self::Truncated,
            RtpReaderError::PaddingLengthInvalid(_) => Self::Padding,
        }
    }
}

/// Per-leg packet counts for metrics. A [`Latch`] fills the inbound fields, an [`OutStream`]
/// the outbound ones; add the two for the leg's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams received on the leg's RTP port, whatever their fate.
    pub packets_in: u64,
    /// Of those, RTCP (RFC 5761 §4 second-byte test), not relayed.
    pub rtcp_in: u64,
    /// Dropped: not RTP.
    pub dropped_not_rtp: u64,
    /// Dropped: payload type not negotiated on the leg.
    pub dropped_payload_type: u64,
    /// Dropped: another SSRC from another address while the latched source is live.
    pub dropped_foreign_source: u64,
    /// Times the send address was set from arriving packets (first latch and re-latches).
    pub latched: u64,
    /// Times the latched address started sending with a new SSRC.
    pub ssrc_changes: u64,
    /// Packets sent on the leg.
    pub packets_out: u64,
    /// Times the source feeding the leg changed (the first source counts).
    pub source_switches: u64,
}

impl Add for Counters {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            packets_in: self.packets_in + o.packets_in,
            rtcp_in: self.rtcp_in + o.rtcp_in,
            dropped_not_rtp: self.dropped_not_rtp + o.dropped_not_rtp,
            dropped_payload_type: self.dropped_payload_type + o.dropped_payload_type,
            dropped_foreign_source: self.dropped_foreign_source + o.dropped_foreign_source,
            latched: self.latched + o.latched,
            ssrc_changes: self.ssrc_changes + o.ssrc_changes,
            packets_out: self.packets_out + o.packets_out,
            source_switches: self.source_switches + o.source_switches,
        }
    }
}

// --- outgoing streams -----------------------------------------------------------------------

/// What feeds an [`OutStream`], named by the shell: e.g. the other leg and its SSRC, a prompt
/// player, the mixer. Packets from one `SourceId` must share one sequence and timestamp
/// space, so give a remote stream whose SSRC changes a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u64);

/// A packet's RTP fields as its source numbered them (see [`OutStream::next_header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourcePacket {
    /// The source's sequence number.
    pub seq: u16,
    /// The source's timestamp (8 kHz).
    pub timestamp: u32,
    /// The source's marker bit (start of a talkspurt or of a telephone event).
    pub marker: bool,
    /// Samples of audio the payload carries (160 for 20 ms of G.711, 0 for telephone-event).
    pub samples: u32,
}

/// The RTP fields to send a packet with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Our SSRC.
    pub ssrc: u32,
    /// Marker bit.
    pub marker: bool,
}

impl Header {
    /// The 12-byte fixed header (RFC 3550 §5.1): version 2, no padding, extension or CSRC.
    pub fn to_bytes(self, payload_type: u8) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0] = 0x80;
        b[1] = (u8::from(self.marker) << 7) | (payload_type & 0x7f);
        b[2..4].copy_from_slice(&self.seq.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }
}

/// One leg's outgoing RTP stream: our SSRC, continuous across changes of source.
///
/// When the source changes, the next packet gets our previous highest sequence number + 1 and
/// our previous highest timestamp + the wall time since our last packet (at 8 kHz, at least
/// the duration of that packet), and the marker bit. Packets of the same source then keep the
/// source's own steps (`ours = source + offset`, wrapping).
#[derive(Debug, Clone)]
pub struct OutStream {
    ssrc: u32,
    initial_seq: u16,
    initial_ts: u32,
    current: Option<SourceId>,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest sequence number and timestamp sent (serial-number order), the samples of the
    /// packet with that timestamp, and when we last sent.
    top_seq: u16,
    top_ts: u32,
    top_samples: u32,
    last_at: Option<Instant>,
    payload_map: [u8; 128],
    counters: Counters,
}

impl OutStream {
    /// A stream with our `ssrc`, whose first packet gets `initial_seq` and `initial_ts`
    /// (RFC 3550 §5.1 asks for random values; the shell draws them).
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> Self {
        let mut payload_map = [0u8; 128];
        for (i, pt) in payload_map.iter_mut().enumerate() {
            *pt = i as u8;
        }
        Self {
            ssrc,
            initial_seq,
            initial_ts,
            current: None,
            seq_offset: 0,
            ts_offset: 0,
            top_seq: 0,
            top_ts: 0,
            top_samples: 0,
            last_at: None,
            payload_map,
            counters: Counters::default(),
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The source of the last packet sent.
    pub fn source(&self) -> Option<SourceId> {
        self.current
    }

    /// Renumbers payload type `from` to `to` in relayed packets, for a format both legs
    /// negotiated under different numbers (telephone-event at 101 on one, 96 on the other).
    /// Renumbering only: PCMU is never turned into PCMA here. Numbers above 127 are ignored.
    pub fn map_payload_type(&mut self, from: u8, to: u8) {
        if let (Some(slot), true) = (self.payload_map.get_mut(usize::from(from)), to <= 127) {
            *slot = to;
        }
    }

    /// Outbound counts ([`Counters::packets_out`], [`Counters::source_switches`]).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Rewrites a relayed packet in place for sending on this leg: our SSRC, sequence number,
    /// timestamp and marker, and the payload type through [`map_payload_type`]. CSRCs,
    /// extension, payload and padding are untouched. A packet that is not RTP is left as it
    /// was and refused. No allocation.
    ///
    /// [`map_payload_type`]: Self::map_payload_type
    pub fn rewrite(
        &mut self,
        source: SourceId,
        pkt: &mut [u8],
        now: Instant,
    ) -> Result<Header, RelayError> {
        let (src, payload_type) = {
            let r = RtpReader::new(pkt)?;
            let payload_type = self.payload_map[usize::from(r.payload_type())];
            let samples = match payload_type {
                0 | 8 => r.payload().len() as u32,
                _ => 0,
            };
            let src = SourcePacket {
                seq: r.sequence_number().into(),
                timestamp: r.timestamp(),
                marker: r.mark(),
                samples,
            };
            (src, payload_type)
        };
        let h = self.next_header(source, src, now);
        pkt[1] = (u8::from(h.marker) << 7) | payload_type;
        pkt[2..4].copy_from_slice(&h.seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
        pkt[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
        Ok(h)
    }

    /// The header to send a packet from `source` with, for packets we generate (prompts,
    /// tones, mixer output, DTMF): the generator numbers its packets in its own space
    /// (`src`), as a remote source would. Write it with [`Header::to_bytes`].
    pub fn next_header(&mut self, source: SourceId, src: SourcePacket, now: Instant) -> Header {
        let switched = self.current != Some(source);
        if switched {
            let (seq, ts) = match self.last_at {
                None => {
                    self.top_seq = self.initial_seq;
                    self.top_ts = self.initial_ts;
                    self.top_samples = 0;
                    (self.initial_seq, self.initial_ts)
                }
                Some(at) => {
                    let gap = samples_between(at, now).max(self.top_samples);
                    (self.top_seq.wrapping_add(1), self.top_ts.wrapping_add(gap))
                }
            };
            self.seq_offset = seq.wrapping_sub(src.seq);
            self.ts_offset = ts.wrapping_sub(src.timestamp);
            self.current = Some(source);
            self.counters.source_switches += 1;
        }
        let seq = src.seq.wrapping_add(self.seq_offset);
        let timestamp = src.timestamp.wrapping_add(self.ts_offset);
        // Serial-number arithmetic (RFC 1982): later means ahead by less than half the space.
        if seq.wrapping_sub(self.top_seq) as i16 > 0 {
            self.top_seq = seq;
        }
        match timestamp.wrapping_sub(self.top_ts) as i32 {
            d if d > 0 => {
                self.top_ts = timestamp;
                self.top_samples = src.samples;
            }
            0 => self.top_samples = self.top_samples.max(src.samples),
            _ => {}
        }
        self.last_at = Some(now);
        self.counters.packets_out += 1;
        Header {
            seq,
            timestamp,
            ssrc: self.ssrc,
            marker: src.marker || switched,
        }
    }
}

/// Wall time from `from` to `to` in 8 kHz samples, wrapping like an RTP timestamp.
fn samples_between(from: Instant, to: Instant) -> u32 {
    let d = to.saturating_duration_since(from);
    let samples = d.as_secs() * u64::from(CLOCK_RATE) + u64::from(d.subsec_nanos() / 125_000);
    samples as u32
}

// --- incoming streams -----------------------------------------------------------------------

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not RTP.
    NotRtp(RelayError),
    /// A payload type not negotiated on the leg (e.g. comfort noise, 13, never offered).
    PayloadType(u8),
    /// Another SSRC from another address than the latched one, while that one is live.
    ForeignSource {
        /// The intruder's SSRC.
        ssrc: u32,
    },
}

/// What to do with a datagram that arrived on a leg's RTP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Relay it; the send address is unchanged.
    Accept {
        /// The packet's SSRC (for the [`SourceId`] it feeds the other leg as).
        ssrc: u32,
    },
    /// Relay it, and from now on send this leg's RTP to `to` (symmetric RTP, RFC 4961).
    AcceptAndLatch {
        /// The new send address.
        to: SocketAddr,
        /// The packet's SSRC.
        ssrc: u32,
    },
    /// RTCP on the RTP port (RFC 5761 §4): not relayed, RTCP is per leg.
    Rtcp,
    /// Do not relay.
    Drop(DropReason),
}

/// Symmetric RTP for one leg (RFC 4961 style): where to send, and which arriving packets to
/// trust.
///
/// Until the leg's RTP arrives we send to the SDP address. The first RTP packet with a
/// negotiated payload type latches its source address and SSRC, and we send there from then
/// on (NAT and SBC friendly: the SDP address may be private). After that:
///
/// - same address, new SSRC: accepted, the SSRC is adopted (the far side restarted its
///   stream);
/// - same SSRC, new address: accepted and re-latched (a NAT binding moved);
/// - new SSRC from a new address: dropped and counted, unless the latched source has sent
///   nothing for [`set_relatch_after`](Self::set_relatch_after) (default
///   [`DEFAULT_RELATCH_AFTER`]), in which case the newcomer takes over: a far side that
///   moves its media without telling us is followed instead of left one-way.
#[derive(Debug, Clone)]
pub struct Latch {
    remote: Option<SocketAddr>,
    /// Bit n set: payload type n negotiated.
    payload_types: u128,
    latched: Option<(SocketAddr, u32)>,
    last_rtp: Instant,
    relatch_after: Duration,
    counters: Counters,
}

impl Latch {
    /// A leg whose SDP says it receives at `remote` (`None`: nowhere yet, e.g. port 0 or
    /// `0.0.0.0`) and which may send the given payload types (the leg's codec and
    /// telephone-event). `now` starts the no-RTP clock.
    pub fn new(remote: Option<SocketAddr>, payload_types: &[u8], now: Instant) -> Self {
        Self {
            remote,
            payload_types: pt_mask(payload_types),
            latched: None,
            last_rtp: now,
            relatch_after: DEFAULT_RELATCH_AFTER,
            counters: Counters::default(),
        }
    }

    /// How long the latched source must have been silent before a different address and
    /// SSRC may take over.
    pub fn set_relatch_after(&mut self, after: Duration) {
        self.relatch_after = after;
    }

    /// A new SDP from the leg (re-INVITE, UPDATE): new address and payload types. If the
    /// address changed, the latch is released (we send to the new address until the leg's
    /// packets arrive again). The no-RTP clock restarts at `now` either way (a resumed hold
    /// gets a full period).
    pub fn update(&mut self, remote: Option<SocketAddr>, payload_types: &[u8], now: Instant) {
        if remote != self.remote {
            self.latched = None;
        }
        self.remote = remote;
        self.payload_types = pt_mask(payload_types);
        self.last_rtp = now;
    }

    /// Judges a datagram that arrived from `from` on this leg's RTP port.
    pub fn on_packet(&mut self, from: SocketAddr, pkt: &[u8], now: Instant) -> Verdict {
        self.counters.packets_in += 1;
        if let [b0, b1, ..] = *pkt {
            if b0 >> 6 == 2 && (192..=223).contains(&b1) {
                self.counters.rtcp_in += 1;
                return Verdict::Rtcp;
            }
        }
        let (payload_type, ssrc) = match RtpReader::new(pkt) {
            Ok(r) => (r.payload_type(), r.ssrc()),
            Err(e) => {
                self.counters.dropped_not_rtp += 1;
                return Verdict::Drop(DropReason::NotRtp(e.into()));
            }
        };
        if self.payload_types & (1u128 << payload_type) == 0 {
            self.counters.dropped_payload_type += 1;
            return Verdict::Drop(DropReason::PayloadType(payload_type));
        }
        let verdict = match self.latched {
            Some((addr, s)) if addr == from => {
                if s != ssrc {
                    self.counters.ssrc_changes += 1;
                    self.latched = Some((addr, ssrc));
                }
                Verdict::Accept { ssrc }
            }
            Some((_, s))
                if s != ssrc
                    && now.saturating_duration_since(self.last_rtp) < self.relatch_after =>
            {
                self.counters.dropped_foreign_source += 1;
                return Verdict::Drop(DropReason::ForeignSource { ssrc });
            }
            _ => {
                self.latched = Some((from, ssrc));
                self.counters.latched += 1;
                Verdict::AcceptAndLatch { to: from, ssrc }
            }
        };
        self.last_rtp = now;
        verdict
    }

    /// Where to send this leg's RTP: the latched address, else the SDP address, else nowhere.
    pub fn send_to(&self) -> Option<SocketAddr> {
        self.latched.map(|(a, _)| a).or(self.remote)
    }

    /// The latched address and SSRC, once the leg's RTP has arrived.
    pub fn latched(&self) -> Option<(SocketAddr, u32)> {
        self.latched
    }

    /// The last accepted RTP packet, or the last [`new`](Self::new)/[`update`](Self::update)
    /// if none since. Only accepted RTP counts: RTCP and dropped packets keep no leg alive.
    pub fn idle_since(&self) -> Instant {
        self.last_rtp
    }

    /// Whether the leg has sent no accepted RTP for `timeout` (the no-RTP timeout; the
    /// shell applies it only while the leg's SDP direction says it sends).
    pub fn timed_out(&self, now: Instant, timeout: Duration) -> bool {
        now.saturating_duration_since(self.last_rtp) >= timeout
    }

    /// Inbound counts.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

fn pt_mask(payload_types: &[u8]) -> u128 {
    payload_types
        .iter()
        .filter(|&&pt| pt <= 127)
        .fold(0, |m, &pt| m | (1u128 << pt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16, ts: u32, ssrc: u32, pt: u8, marker: bool, payload: usize) -> Vec<u8> {
        let mut p = Header {
            seq,
            timestamp: ts,
            ssrc,
            marker,
        }
        .to_bytes(pt)
        .to_vec();
        p.resize(12 + payload, 0xff);
        p
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn first_packet_takes_initial_values_and_marker() {
        let t0 = Instant::now();
        let mut out = OutStream::new(0xabcd, 1000, 5000);
        let mut p = pkt(7, 77, 1, 0, false, 160);
        let h = out.rewrite(SourceId(1), &mut p, t0).unwrap();
        assert_eq!(
            h,
            Header {
                seq: 1000,
                timestamp: 5000,
                ssrc: 0xabcd,
                marker: true
            }
        );
        let r = RtpReader::new(&p).unwrap();
        assert_eq!(
            (
                u16::from(r.sequence_number()),
                r.timestamp(),
                r.ssrc(),
                r.mark()
            ),
            (1000, 5000, 0xabcd, true)
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn rtcp_and_garbage_are_not_rtp() {
        let t0 = Instant::now();
        let from: SocketAddr = "192.0.2.9:4000".parse().unwrap();
        let mut latch = Latch::new(None, &[0, 101], t0);
        assert_eq!(
            latch.on_packet(from, &[0x80, 200, 0, 6, 0, 0, 0, 1], t0),
            Verdict::Rtcp
        );
        assert_eq!(
            latch.on_packet(from, &[0x80, 0], t0),
            Verdict::Drop(DropReason::NotRtp(RelayError::TooShort(2)))
        );
        assert_eq!(
            latch.on_packet(from, &[0x40; 20], t0),
            Verdict::Drop(DropReason::NotRtp(RelayError::Version(1)))
        );
        assert_eq!(latch.send_to(), None);
        assert_eq!(latch.counters().packets_in, 3);
    }
}
