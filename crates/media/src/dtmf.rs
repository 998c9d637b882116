//! DTMF key presses as RTP telephone events (RFC 4733, which obsoletes RFC 2833).
//!
//! Callers answer IVR menus ("按1…") with their keypad. Phones and carrier gateways send the
//! keys out of band as `telephone-event/8000` RTP packets (RFC 4733 §2.3); in-band tone
//! detection is not done here.
//!
//! - [`EventPayload`]: the 4-byte payload of RFC 4733 §2.3.
//! - [`DtmfReceiver`]: turns a stream of such packets into key presses, each reported once.
//! - [`DtmfSender`]: the packet sequence for one key press (the seat's phone pressing keys
//!   toward a caller, or tests).
//!
//! # How an event travels (RFC 4733 §2.5)
//!
//! All packets of one event carry the same RTP timestamp: the event's start. The first has the
//! RTP marker bit set; updates follow every packetisation interval with a growing duration;
//! the final packet has the E bit and is sent three times (§2.5.1.4), each time with a new
//! sequence number but the same timestamp and duration. An event longer than 0xFFFF timestamp
//! units (8.19 s) continues in a new segment with a new timestamp (§2.5.1.3, §2.5.2.3), and
//! several short consecutive events may be packed into one packet, the RTP timestamp being the
//! first one's start and each next one starting where the previous ended (§2.5.1.5, §2.5.2.4).
//! Only the latter, not RFC 2198 redundancy, puts more than one 4-byte block in a
//! `telephone-event` payload: RFC 2198 `red` packets have their own payload type and must be
//! unwrapped before they reach this module.

use std::fmt;

/// One packetisation interval of the sender, in 8 kHz timestamp units (20 ms).
pub const PACKET_UNITS: u16 = 160;

/// How many times the sender transmits the final (E bit) packet (RFC 4733 §2.5.1.4).
pub const END_PACKETS: u8 = 3;

/// The most 4-byte blocks the receiver reads from one packet; more is nonsense (RFC 4733
/// §2.5.1.5 asks senders not to delay events by packing many).
pub const MAX_EVENTS_PER_PACKET: usize = 8;

/// A packet of the same key as the newest event that arrives up to this many timestamp units
/// (10 s) behind it is a late duplicate and is ignored; anything further back, or a different
/// key, is taken as a new event (a source whose timestamps jumped back: a restarted stream, a
/// recording replayed, a phone that reuses its SSRC across streams).
const LATE_WINDOW: u32 = 80_000;

/// How many recent event timestamps the receiver remembers to recognise duplicates.
const RECENT_EVENTS: usize = 8;

/// Tolerance, in timestamp units, when matching a long event's next segment (RFC 4733
/// §2.5.2.3) to the previous one's end.
const SEGMENT_SLACK: u32 = 2 * PACKET_UNITS as u32;

/// A malformed telephone-event payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// Fewer than the 4 bytes of one event block.
    #[error("telephone-event payload of {0} bytes, need at least 4")]
    TooShort(usize),
}

/// The telephone-event payload of RFC 4733 §2.3:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventPayload {
    /// Event code (§3.2: 0–9 the digits, 10 `*`, 11 `#`, 12–15 `A`–`D`).
    pub event: u8,
    /// The E bit: this packet reports the event's end.
    pub end: bool,
    /// Power level of the tone, 0 to 63 meaning 0 to −63 dBm0 (only the low 6 bits are sent).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units (1/8000 s for `telephone-event/8000`).
    pub duration: u16,
}

impl EventPayload {
    /// Parses the first 4-byte block of a payload. Longer payloads are accepted: they are
    /// packed events (RFC 4733 §2.5.1.5), which [`DtmfReceiver`] reads in full. The reserved
    /// R bit is ignored, as §2.3.3 requires of receivers.
    ///
    /// # Errors
    ///
    /// [`DtmfError::TooShort`] for fewer than 4 bytes.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(Self {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(DtmfError::TooShort(payload.len())),
        }
    }

    /// Writes the block (R bit clear, volume masked to 6 bits).
    pub fn write(&self, out: &mut [u8; 4]) {
        let d = self.duration.to_be_bytes();
        *out = [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ];
    }

    /// The block as bytes.
    pub fn to_bytes(&self) -> [u8; 4] {
        let mut out = [0; 4];
        self.write(&mut out);
        out
    }
}

/// The key of a DTMF event code (RFC 4733 §3.2, Table 7): `'0'`–`'9'` for 0–9, `'*'` for 10,
/// `'#'` for 11, `'A'`–`'D'` for 12–15; `None` for any other event.
pub fn digit_of(event: u8) -> Option<char> {
    const KEYS: &[u8; 16] = b"0123456789*#ABCD";
    KEYS.get(usize::from(event)).map(|&b| b as char)
}

/// The event code of a key, the inverse of [`digit_of`] (lower-case `a`–`d` accepted).
pub fn event_of(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The keys newly pressed according to one packet: nearly always zero or one, more only for
/// packed events. Iterate it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digits {
    keys: [char; MAX_EVENTS_PER_PACKET],
    len: u8,
    next: u8,
}

impl Digits {
    const NONE: Self = Self {
        keys: ['\0'; MAX_EVENTS_PER_PACKET],
        len: 0,
        next: 0,
    };

    fn push(&mut self, key: char) {
        if usize::from(self.len) < MAX_EVENTS_PER_PACKET {
            self.keys[usize::from(self.len)] = key;
            self.len += 1;
        }
    }

    /// Whether no key was pressed (before iterating).
    pub fn is_empty(&self) -> bool {
        self.len == self.next
    }
}

impl Iterator for Digits {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if self.next < self.len {
            self.next += 1;
            Some(self.keys[usize::from(self.next - 1)])
        } else {
            None
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.len - self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Digits {}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(&self.keys[usize::from(self.next)..usize::from(self.len)])
            .finish()
    }
}

/// The event being received.
#[derive(Debug, Clone, Copy)]
struct Current {
    /// RTP timestamp of the event's current segment.
    start: u32,
    event: u8,
    /// Largest duration seen in this segment.
    duration: u16,
    ended: bool,
}

/// Turns received telephone-event packets into key presses, each reported exactly once.
///
/// **A key is reported on the first packet seen of a new event**, not at its end. That is
/// what an IVR wants: the menu reacts (and stops its prompt) as soon as the key goes down,
/// and a press is still reported when its start packet is lost (the first update or end
/// packet to arrive reports it) or when all three end packets are lost. Reporting at the
/// end, as many PBXs do, is slower by the press length (typically 100 ms or more) and
/// gains nothing here: the duration is not needed, only the key.
///
/// An event is identified by its RTP timestamp (RFC 4733 §2.5.2). Packets whose timestamp
/// matches one of the last 8 events are updates, retransmitted end packets or duplicates and
/// are ignored; so are late packets of earlier events (timestamp up to 10 s behind the newest
/// event). The next segment of a held key (RFC 4733 §2.5.2.3: same event, previous segment
/// not ended, starting where it ended) is not a new press.
///
/// Feed it only packets of the negotiated `telephone-event` payload type, of one SSRC; call
/// [`reset`](Self::reset) when the source changes.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    current: Option<Current>,
    recent: [u32; RECENT_EVENTS],
    recent_len: usize,
    recent_next: usize,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets all events, e.g. when the remote SSRC changes.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Handles one packet: its RTP timestamp, marker bit and payload. Returns the keys it
    /// newly reports (usually none or one). Payloads shorter than 4 bytes report nothing;
    /// trailing bytes that do not make a whole block are ignored.
    ///
    /// The marker bit is not needed to recognise a new event (its start packet may be lost),
    /// so it is only accepted for symmetry with the RTP header.
    pub fn on_packet(&mut self, rtp_timestamp: u32, marker: bool, payload: &[u8]) -> Digits {
        let _ = marker;
        let mut keys = Digits::NONE;
        let mut start = rtp_timestamp;
        for block in payload.chunks_exact(4).take(MAX_EVENTS_PER_PACKET) {
            let Ok(ev) = EventPayload::parse(block) else {
                break;
            };
            if let Some(key) = self.on_event(start, ev) {
                keys.push(key);
            }
            // A packed event starts where the previous one ended (RFC 4733 §2.5.2.4).
            start = start.wrapping_add(u32::from(ev.duration));
        }
        keys
    }

    fn seen(&self, ts: u32) -> bool {
        self.recent[..self.recent_len].contains(&ts)
    }

    fn remember(&mut self, ts: u32) {
        self.recent[self.recent_next] = ts;
        self.recent_next = (self.recent_next + 1) % RECENT_EVENTS;
        self.recent_len = (self.recent_len + 1).min(RECENT_EVENTS);
    }

    fn on_event(&mut self, start: u32, ev: EventPayload) -> Option<char> {
        if self.seen(start) {
            if let Some(cur) = &mut self.current {
                if cur.start == start {
                    cur.ended |= ev.end;
                    cur.duration = cur.duration.max(ev.duration);
                }
            }
            return None;
        }
        if let Some(cur) = self.current {
            let behind = cur.start.wrapping_sub(start);
            if behind != 0 && behind <= LATE_WINDOW && cur.event == ev.event {
                return None; // a late packet of an earlier event
            }
            let ahead = start.wrapping_sub(cur.start);
            let continues = cur.event == ev.event
                && !cur.ended
                && ahead.abs_diff(u32::from(u16::MAX)) <= SEGMENT_SLACK;
            if continues {
                self.remember(start);
                self.current = Some(Current {
                    start,
                    event: ev.event,
                    duration: ev.duration,
                    ended: ev.end,
                });
                return None;
            }
        }
        self.remember(start);
        self.current = Some(Current {
            start,
            event: ev.event,
            duration: ev.duration,
            ended: ev.end,
        });
        digit_of(ev.event)
    }
}

/// One packet of a key press to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The telephone-event payload.
    pub payload: [u8; 4],
    /// The RTP marker bit: set on the first packet of the event only.
    pub marker: bool,
    /// Duration reported so far, in timestamp units (also in the payload).
    pub duration: u16,
    /// Whether this is one of the final (E bit) packets.
    pub end: bool,
}

/// The packet sequence for one key press at 8 kHz with 20 ms packets (RFC 4733 §2.5.1):
/// a start packet with the marker bit, updates whose duration grows by 160 each, and the
/// final packet with the E bit sent [`END_PACKETS`] times with the same duration.
///
/// The sender is pure: call [`next_packet`](Self::next_packet) once per 20 ms tick and send
/// what it returns until it returns `None`. The caller stamps the RTP header: **every packet
/// of the event carries the same RTP timestamp** (the event's start, in the audio stream's
/// timestamp space) and each its own, consecutive, sequence number. Audio after the event
/// continues at timestamp start + [`duration_units`](Self::duration_units) or later.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    volume: u8,
    total: u16,
    sent: u16,
    ends_sent: u8,
}

impl DtmfSender {
    /// A key press of `digit` lasting `duration_ms` at `volume` (0–63, meaning −dBm0; 10 is
    /// usual). `None` for an unknown key, a volume over 63, a zero duration, or one over
    /// 8191 ms (a single segment's 0xFFFF units).
    pub fn new(digit: char, duration_ms: u32, volume: u8) -> Option<Self> {
        let event = event_of(digit)?;
        let units = duration_ms.checked_mul(8)?;
        if volume > 63 || units == 0 || units > u32::from(u16::MAX) {
            return None;
        }
        Some(Self {
            event,
            volume,
            total: units as u16,
            sent: 0,
            ends_sent: 0,
        })
    }

    /// The event code being sent.
    pub fn event(&self) -> u8 {
        self.event
    }

    /// The press's length in timestamp units.
    pub fn duration_units(&self) -> u16 {
        self.total
    }

    /// Whether every packet has been returned.
    pub fn is_done(&self) -> bool {
        self.ends_sent >= END_PACKETS
    }

    /// The next packet, or `None` once the last end packet has been returned.
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        if self.is_done() {
            return None;
        }
        let marker = self.sent == 0;
        if self.sent < self.total {
            self.sent = self.sent.saturating_add(PACKET_UNITS).min(self.total);
        }
        let end = self.sent == self.total;
        if end {
            self.ends_sent += 1;
        }
        let payload = EventPayload {
            event: self.event,
            end,
            volume: self.volume,
            duration: self.sent,
        };
        Some(DtmfPacket {
            payload: payload.to_bytes(),
            marker,
            duration: self.sent,
            end,
        })
    }
}

impl Iterator for DtmfSender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        self.next_packet()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_layout() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(p.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(EventPayload::parse(&p.to_bytes()), Ok(p));
        // The R bit is ignored.
        assert_eq!(EventPayload::parse(&[11, 0xCA, 0x03, 0x20]), Ok(p));
        assert_eq!(EventPayload::parse(&[1, 2, 3]), Err(DtmfError::TooShort(3)));
    }

    #[test]
    fn digits_map_both_ways() {
        for e in 0..16u8 {
            assert_eq!(event_of(digit_of(e).unwrap()), Some(e));
        }
        assert_eq!(digit_of(16), None);
        assert_eq!(event_of('x'), None);
    }

    #[test]
    fn sender_sequence_100ms() {
        let packets: Vec<_> = DtmfSender::new('5', 100, 10).unwrap().collect();
        let durations: Vec<u16> = packets.iter().map(|p| p.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert!(packets[0].marker);
        assert!(packets[1..].iter().all(|p| !p.marker));
        assert_eq!(packets.iter().filter(|p| p.end).count(), 3);
        assert!(packets[4..].iter().all(|p| p.end));
    }

    #[test]
    fn sender_short_press_starts_with_end() {
        let packets: Vec<_> = DtmfSender::new('1', 10, 10).unwrap().collect();
        assert_eq!(packets.len(), 3);
        assert!(packets[0].marker && packets[0].end && packets[0].duration == 80);
    }

    #[test]
    fn sender_rejects_bad_input() {
        assert!(DtmfSender::new('x', 100, 10).is_none());
        assert!(DtmfSender::new('1', 0, 10).is_none());
        assert!(DtmfSender::new('1', 100, 64).is_none());
        assert!(DtmfSender::new('1', 8192, 10).is_none());
        assert!(DtmfSender::new('1', 8191, 10).is_some());
    }

    #[test]
    fn another_key_whose_timestamp_went_back_is_a_new_press() {
        // Recordings replayed one after another on one SSRC (SIPp's dtmf_2833_star.pcap at
        // ts 85760, then dtmf_2833_8.pcap at 60800): the 8 is a key, not a late '*'.
        let mut rx = DtmfReceiver::new();
        let key = |event: u8, end: bool| {
            EventPayload {
                event,
                end,
                volume: 10,
                duration: if end { 2240 } else { 0 },
            }
            .to_bytes()
        };
        let mut got: Vec<char> = rx.on_packet(85_760, true, &key(10, false)).collect();
        got.extend(rx.on_packet(85_760, false, &key(10, true)));
        got.extend(rx.on_packet(60_800, true, &key(8, false)));
        got.extend(rx.on_packet(60_800, false, &key(8, true)));
        // A late end packet of the '*' is still a duplicate.
        got.extend(rx.on_packet(85_760, false, &key(10, true)));
        assert_eq!(got, ['*', '8']);
    }

    #[test]
    fn long_press_segments_report_once() {
        let mut rx = DtmfReceiver::new();
        let seg = |d: u16, end: bool| {
            EventPayload {
                event: 5,
                end,
                volume: 10,
                duration: d,
            }
            .to_bytes()
        };
        assert_eq!(
            rx.on_packet(1000, true, &seg(160, false))
                .collect::<Vec<_>>(),
            ['5']
        );
        assert!(rx.on_packet(1000, false, &seg(0xFFFF, false)).is_empty());
        let next = 1000 + 0xFFFF;
        assert!(rx.on_packet(next, false, &seg(160, false)).is_empty());
        assert!(rx.on_packet(next, false, &seg(800, true)).is_empty());
        // A new press of the same key afterwards is reported.
        assert_eq!(rx.on_packet(next + 4000, true, &seg(160, false)).count(), 1);
    }

    #[test]
    fn packed_events_are_all_reported() {
        let mut rx = DtmfReceiver::new();
        let mut payload = Vec::new();
        for (e, end) in [(1u8, true), (2, true), (3, false)] {
            payload.extend_from_slice(
                &EventPayload {
                    event: e,
                    end,
                    volume: 10,
                    duration: 800,
                }
                .to_bytes(),
            );
        }
        let keys: Vec<char> = rx.on_packet(0, true, &payload).collect();
        assert_eq!(keys, ['1', '2', '3']);
        // The third event continues in its own packet, stamped with its own start.
        let cont = EventPayload {
            event: 3,
            end: true,
            volume: 10,
            duration: 1600,
        };
        assert!(rx.on_packet(1600, false, &cont.to_bytes()).is_empty());
    }
}
