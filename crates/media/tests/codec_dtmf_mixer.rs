//! Properties of the media plane's pure pieces: G.711 against the ITU-T definitions, tones
//! measured with the Goertzel filter, WAV parsing on hostile input, RFC 4733 DTMF through
//! loss and duplication, and the mixer's "everyone but yourself" sums.

use media::dtmf::{self, DtmfReceiver, DtmfSender, EventPayload};
use media::g711::{self, Codec, ALAW_MAX, ULAW_MAX};
use media::mixer::{Frame, Mixer, FRAME_SAMPLES, MAX_PARTIES};
use media::tone::{self, dbm0_to_peak, goertzel_power, Level, Tone};
use media::wav;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// G.711

/// ITU-T G.711: every linear input decodes back to within half a quantisation step of itself,
/// except in the overload region beyond the last decision value, where the output is the
/// largest magnitude of the right sign.
fn check_quantisation(codec: Codec, max: i16) {
    for x in i16::MIN..=i16::MAX {
        let code = codec.encode(x);
        let y = codec.decode(code);
        let step = g711::quantisation_step(codec, code);
        let err = (i32::from(y) - i32::from(x)).abs();
        if i32::from(x).abs() <= i32::from(max) + step / 2 {
            assert!(
                err <= step / 2,
                "{codec:?} x={x} code={code:#04x} y={y} step={step}"
            );
        } else {
            assert_eq!(
                y,
                if x < 0 { -max } else { max },
                "{codec:?} overload x={x}"
            );
        }
    }
}

#[test]
fn ulaw_quantisation_error_within_half_step() {
    check_quantisation(Codec::Pcmu, ULAW_MAX);
}

#[test]
fn alaw_quantisation_error_within_half_step() {
    check_quantisation(Codec::Pcma, ALAW_MAX);
}

#[test]
fn encoders_are_monotonic_and_sign_symmetric() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut last = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let y = codec.decode(codec.encode(x));
            assert!(y >= last, "{codec:?} not monotonic at {x}");
            last = y;
            // G.191 folds negatives with the one's complement: x and !x (= -x-1) differ only in
            // the sign bit of the code word.
            assert_eq!(codec.encode(!x), codec.encode(x) ^ 0x80, "{codec:?} x={x}");
        }
    }
}

#[test]
fn every_code_word_survives_decode_encode_except_ulaw_negative_zero() {
    for b in 0..=255u8 {
        let u = g711::ulaw_encode(g711::ulaw_decode(b));
        if b == 0x7F {
            // µ-law −0 decodes to 0, which encodes as +0.
            assert_eq!(u, 0xFF);
        } else {
            assert_eq!(u, b, "µ-law {b:#04x}");
        }
        assert_eq!(g711::alaw_encode(g711::alaw_decode(b)), b, "A-law {b:#04x}");
    }
}

#[test]
fn known_code_words() {
    // µ-law (G.711 Table 2a, outputs ×4): 0xFF/0x7F are ±0, 0x80/0x00 the extremes.
    assert_eq!(g711::ulaw_decode(0xFF), 0);
    assert_eq!(g711::ulaw_decode(0x7F), 0);
    assert_eq!(g711::ulaw_decode(0x80), 32124);
    assert_eq!(g711::ulaw_decode(0x00), -32124);
    assert_eq!(g711::ulaw_decode(0xFE), 8);
    assert_eq!(g711::ulaw_encode(0), 0xFF);
    assert_eq!(g711::ulaw_encode(-1), 0x7F);
    // A-law (G.711 Table 1a, outputs ×8): the smallest magnitudes are ±8; 0xAA/0x2A extremes.
    assert_eq!(g711::alaw_decode(0xD5), 8);
    assert_eq!(g711::alaw_decode(0x55), -8);
    assert_eq!(g711::alaw_decode(0xAA), 32256);
    assert_eq!(g711::alaw_decode(0x2A), -32256);
}

#[test]
fn alaw_inverts_even_bits() {
    // Without the XOR with 0x55 the code word is sign | segment | mantissa (G.711 Table 1a).
    for x in [0i16, 15, 16, 31, 32, 100, 1000, 4095, 4096, 20000, 32767] {
        let raw = g711::alaw_encode(x) ^ 0x55;
        assert_eq!(raw & 0x80, 0x80, "positive sign bit for {x}");
        let raw_neg = g711::alaw_encode(!x) ^ 0x55;
        assert_eq!(raw_neg, raw & 0x7F);
    }
    assert_eq!(g711::alaw_encode(0) ^ 0x55, 0x80);
    // Raw code words grow with the magnitude.
    let mut last = 0;
    for x in (0..=i16::MAX).step_by(7) {
        let raw = g711::alaw_encode(x) ^ 0x55;
        assert!(raw >= last);
        last = raw;
    }
    assert_eq!(last, 0xFF);
}

/// The digital milliwatt sequences of G.711 (Tables 5 and 6): eight code words repeated give a
/// 1 kHz sine at 0 dBm0. Decoding them must give the level `tone` calls 0 dBm0.
#[test]
fn digital_milliwatt_is_zero_dbm0() {
    let cases = [
        (
            Codec::Pcmu,
            [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E],
        ),
        (
            Codec::Pcma,
            [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4],
        ),
    ];
    let zero_dbm0_power = dbm0_to_peak(0.0).powi(2) / 2.0;
    for (codec, cycle) in cases {
        let codes: Vec<u8> = cycle.iter().copied().cycle().take(160).collect();
        let mut pcm = [0i16; 160];
        assert_eq!(g711::decode_into(codec, &codes, &mut pcm), 160);
        let p = goertzel_power(&pcm, 1000.0);
        let db = 10.0 * (p / zero_dbm0_power).log10();
        assert!(db.abs() < 0.2, "{codec:?}: {db} dB");
    }
}

#[test]
fn slice_codecs_stop_at_the_shorter_side() {
    let pcm = [0i16, 1000, -1000, 32767];
    let mut out = [0u8; 3];
    assert_eq!(g711::encode_into(Codec::Pcmu, &pcm, &mut out), 3);
    assert_eq!(
        out,
        [0xFF, g711::ulaw_encode(1000), g711::ulaw_encode(-1000)]
    );
    let mut back = [7i16; 5];
    assert_eq!(g711::decode_into(Codec::Pcma, &[0xD5, 0x55], &mut back), 2);
    assert_eq!(back, [8, -8, 7, 7, 7]);
}

// ---------------------------------------------------------------------------------------------
// Tones

#[test]
fn dtmf_tones_carry_their_pair_only() {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    for digit in "0123456789*#ABCD".chars() {
        let (low, high) = tone::dtmf_frequencies(digit).unwrap();
        let mut t = Tone::dtmf(digit).unwrap();
        let mut buf = vec![0i16; 1600];
        t.fill(&mut buf);
        let p_low = goertzel_power(&buf, low);
        let p_high = goertzel_power(&buf, high);
        // Low group at −10 dBm0, high group at −8 dBm0.
        let expect = |dbm0: f32| dbm0_to_peak(dbm0).powi(2) / 2.0;
        assert!(
            (p_low / expect(-10.0) - 1.0).abs() < 0.05,
            "{digit} low {p_low}"
        );
        assert!(
            (p_high / expect(-8.0) - 1.0).abs() < 0.05,
            "{digit} high {p_high}"
        );
        for f in ROWS.iter().chain(&COLS).filter(|&&f| f != low && f != high) {
            let p = goertzel_power(&buf, *f);
            assert!(p < p_low / 500.0, "{digit}: {f} Hz has {p}");
        }
    }
    assert!(Tone::dtmf('x').is_none());
}

#[test]
fn tone_levels_and_dual_sum() {
    let mut t = Tone::dual(400.0, Level::Peak(1000), 1000.0, Level::Peak(2000));
    let mut buf = [0i16; 160];
    t.fill(&mut buf);
    assert!((goertzel_power(&buf, 400.0) - 500_000.0).abs() < 5_000.0);
    assert!((goertzel_power(&buf, 1000.0) - 2_000_000.0).abs() < 20_000.0);
    assert!(goertzel_power(&buf, 700.0) < 100.0);
}

// ---------------------------------------------------------------------------------------------
// WAV

fn riff_prefix() -> impl Strategy<Value = Vec<u8>> {
    // A valid RIFF/WAVE header followed by random chunk-ish bytes, with the RIFF size either
    // right or random, to reach the chunk loop and the format checks.
    (
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(|(tail, right_size, size)| {
            let mut v = b"RIFF".to_vec();
            let n = if right_size {
                (tail.len() + 4) as u32
            } else {
                size
            };
            v.extend_from_slice(&n.to_le_bytes());
            v.extend_from_slice(b"WAVE");
            v.extend_from_slice(&tail);
            v
        })
}

fn fmt_then_random() -> impl Strategy<Value = Vec<u8>> {
    // A well-formed `fmt ` chunk of a supported kind, then random chunk headers and sizes.
    (
        prop_oneof![Just((1u16, 16u16)), Just((6, 8)), Just((7, 8))],
        proptest::collection::vec((any::<[u8; 4]>(), any::<u32>(), 0usize..40), 0..4),
        any::<bool>(),
    )
        .prop_map(|((tag, bits), chunks, data_last)| {
            let mut body = b"WAVE".to_vec();
            body.extend_from_slice(b"fmt ");
            body.extend_from_slice(&16u32.to_le_bytes());
            body.extend_from_slice(&tag.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&8000u32.to_le_bytes());
            body.extend_from_slice(&8000u32.to_le_bytes());
            body.extend_from_slice(&(bits / 8).to_le_bytes());
            body.extend_from_slice(&bits.to_le_bytes());
            let count = chunks.len();
            for (i, (mut id, size, len)) in chunks.into_iter().enumerate() {
                if data_last && i + 1 == count {
                    id = *b"data";
                }
                body.extend_from_slice(&id);
                body.extend_from_slice(&(size % 64).to_le_bytes());
                body.extend(std::iter::repeat_n(0xA5, len));
            }
            let mut v = b"RIFF".to_vec();
            v.extend_from_slice(&(body.len() as u32).to_le_bytes());
            v.extend_from_slice(&body);
            v
        })
}

proptest! {
    #[test]
    fn wav_parse_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = wav::parse(&bytes);
    }

    #[test]
    fn wav_parse_never_panics_past_the_header(bytes in riff_prefix()) {
        let _ = wav::parse(&bytes);
    }

    #[test]
    fn wav_parse_never_panics_in_chunks(bytes in fmt_then_random()) {
        if let Ok(p) = wav::parse(&bytes) {
            prop_assert!(p.samples().len() <= bytes.len());
        }
    }

    #[test]
    fn wav_round_trip(samples in proptest::collection::vec(any::<i16>(), 0..2000)) {
        let bytes = wav::write_pcm16(&samples);
        prop_assert_eq!(bytes.len(), 44 + 2 * samples.len());
        let p = wav::parse(&bytes).unwrap();
        prop_assert_eq!(p.samples(), &samples[..]);
    }

    #[test]
    fn wav_truncation_is_an_error(samples in proptest::collection::vec(any::<i16>(), 1..100), cut in 1usize..40) {
        let bytes = wav::write_pcm16(&samples);
        let cut = cut.min(bytes.len());
        prop_assert!(wav::parse(&bytes[..bytes.len() - cut]).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// DTMF (RFC 4733)

/// One packet on the wire: timestamp, marker, payload.
type Wire = (u32, bool, [u8; 4]);

fn packets_of(digit: char, duration_ms: u32, ts: u32) -> Vec<Wire> {
    DtmfSender::new(digit, duration_ms, 10)
        .unwrap()
        .map(|p| (ts, p.marker, p.payload))
        .collect()
}

fn receive(packets: &[Wire]) -> String {
    let mut rx = DtmfReceiver::new();
    packets
        .iter()
        .flat_map(|(ts, m, p)| rx.on_packet(*ts, *m, p))
        .collect()
}

#[test]
fn every_digit_round_trips_once() {
    for (i, digit) in "0123456789*#ABCD".chars().enumerate() {
        let packets = packets_of(digit, 120, 1000 + i as u32 * 4000);
        assert_eq!(packets.len(), 6 + 2, "{digit}");
        let all_same_ts = packets.iter().all(|p| p.0 == packets[0].0);
        assert!(all_same_ts);
        assert_eq!(receive(&packets), digit.to_string());
        // Lost start: reported on the first update.
        assert_eq!(receive(&packets[1..]), digit.to_string());
        // Only an end packet survives.
        assert_eq!(receive(&packets[packets.len() - 1..]), digit.to_string());
        let payload = EventPayload::parse(&packets[0].2).unwrap();
        assert_eq!(dtmf::digit_of(payload.event), Some(digit));
    }
}

#[test]
fn same_key_twice_is_two_presses() {
    let mut packets = packets_of('5', 100, 0);
    packets.extend(packets_of('5', 100, 1600));
    assert_eq!(receive(&packets), "55");
}

#[test]
fn timestamps_wrap() {
    let mut packets = packets_of('1', 100, u32::MAX - 100);
    packets.extend(packets_of('2', 100, 2000));
    assert_eq!(receive(&packets), "12");
}

#[test]
fn late_duplicates_are_ignored() {
    let first = packets_of('1', 100, 0);
    let second = packets_of('2', 100, 1600);
    let mut packets = first.clone();
    packets.extend_from_slice(&second[..2]);
    packets.push(first[0]); // reordered start of the first press
    packets.push(first[6]); // late end retransmission
    packets.extend_from_slice(&second[2..]);
    assert_eq!(receive(&packets), "12");
}

#[test]
fn reset_forgets_a_previous_source() {
    let mut rx = DtmfReceiver::new();
    let a = packets_of('7', 100, 50_000);
    let b = packets_of('8', 100, 49_000); // new SSRC, timestamps a little lower
    for (ts, m, p) in &a {
        rx.on_packet(*ts, *m, p);
    }
    rx.reset();
    let got: String = b
        .iter()
        .flat_map(|(ts, m, p)| rx.on_packet(*ts, *m, p))
        .collect();
    assert_eq!(got, "8");
}

#[test]
fn short_payloads_report_nothing() {
    let mut rx = DtmfReceiver::new();
    assert!(rx.on_packet(0, true, &[]).is_empty());
    assert!(rx.on_packet(0, true, &[1, 2, 3]).is_empty());
    assert_eq!(rx.on_packet(0, true, &[1, 0x0A, 0, 160, 9]).count(), 1);
}

fn dtmf_scenario() -> impl Strategy<Value = (Vec<(char, u32, u32)>, u32)> {
    let press = (
        proptest::sample::select("0123456789*#ABCD".chars().collect::<Vec<_>>()),
        40u32..400, // press length, ms
        0u32..4000, // gap after the previous press, timestamp units
    );
    (proptest::collection::vec(press, 1..10), any::<u32>())
}

proptest! {
    /// Each press is reported once, in order, whatever is dropped or duplicated, as long as one
    /// packet of each press arrives in order; late copies of earlier presses change nothing.
    #[test]
    fn dtmf_survives_loss_and_duplication(
        (presses, base) in dtmf_scenario(),
        copies in proptest::collection::vec(0usize..3, 256),
        survivors in proptest::collection::vec(any::<prop::sample::Index>(), 10),
        late in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
    ) {
        let mut ts = base;
        let mut events: Vec<Vec<Wire>> = Vec::new();
        for &(digit, ms, gap) in &presses {
            ts = ts.wrapping_add(gap);
            let packets = packets_of(digit, ms, ts);
            ts = ts.wrapping_add(ms * 8);
            events.push(packets);
        }
        let mut wire: Vec<Wire> = Vec::new();
        let mut k = 0;
        let mut sent_so_far: Vec<Wire> = Vec::new();
        let mut late = late.into_iter();
        for (e, packets) in events.iter().enumerate() {
            let keep = survivors[e].index(packets.len());
            for (i, p) in packets.iter().enumerate() {
                let n = if i == keep { copies[k % copies.len()].max(1) } else { copies[k % copies.len()] };
                k += 1;
                for _ in 0..n {
                    wire.push(*p);
                }
            }
            // Now and then, a late copy of a packet of an earlier press.
            if e > 0 {
                if let Some((which, at)) = late.next() {
                    let earlier = &events[..e];
                    let ev = &earlier[which.index(earlier.len())];
                    sent_so_far.push(ev[at.index(ev.len())]);
                    wire.push(*sent_so_far.last().unwrap());
                }
            }
        }
        let expected: String = presses.iter().map(|p| p.0).collect();
        prop_assert_eq!(receive(&wire), expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Mixer

fn tone_frames(freq: f32, ticks: usize) -> Vec<Frame> {
    let mut t = Tone::new(freq, Level::Dbm0(-10.0));
    (0..ticks)
        .map(|_| {
            let mut f = [0i16; FRAME_SAMPLES];
            t.fill(&mut f);
            f
        })
        .collect()
}

#[test]
fn three_parties_hear_the_other_two() {
    const TICKS: usize = 10;
    let freqs = [400.0, 700.0, 1100.0];
    let mut m = Mixer::new();
    let ids: Vec<_> = (0..3).map(|_| m.add_party().unwrap()).collect();
    let inputs: Vec<_> = freqs.iter().map(|&f| tone_frames(f, TICKS)).collect();
    let mut heard: Vec<Vec<i16>> = vec![Vec::new(); 3];
    for tick in 0..TICKS {
        for (id, input) in ids.iter().zip(&inputs) {
            assert!(m.put(*id, &input[tick]));
        }
        m.mix(|id, frame| {
            let p = ids.iter().position(|&i| i == id).unwrap();
            heard[p].extend_from_slice(frame);
        });
    }
    let full = dbm0_to_peak(-10.0).powi(2) / 2.0;
    for (p, heard) in heard.iter().enumerate() {
        for (q, &f) in freqs.iter().enumerate() {
            let power = goertzel_power(heard, f);
            if p == q {
                assert!(power < 1.0, "party {p} hears itself: {power}");
            } else {
                assert!(
                    (power / full - 1.0).abs() < 0.02,
                    "party {p} hears {f} Hz at {power}"
                );
            }
        }
    }
}

#[test]
fn sums_saturate_instead_of_wrapping() {
    let mut m = Mixer::new();
    let a = m.add_party().unwrap();
    let b = m.add_party().unwrap();
    let c = m.add_party().unwrap();
    // Two full-scale sines in phase.
    let mut t = Tone::new(1000.0, Level::Peak(i16::MAX));
    let mut sine = [0i16; FRAME_SAMPLES];
    t.fill(&mut sine);
    m.put(a, &sine);
    m.put(b, &sine);
    let mut got = None;
    m.mix(|id, f| {
        if id == c {
            got = Some(*f);
        }
    });
    let got = got.unwrap();
    for (o, s) in got.iter().zip(&sine) {
        assert_eq!(i32::from(*o), (2 * i32::from(*s)).clamp(-32768, 32767));
        assert!(i32::from(*o) * i32::from(*s) >= 0, "sign flipped");
    }
    assert!(got.contains(&i16::MAX) && got.contains(&i16::MIN));

    m.put(a, &[-30000; FRAME_SAMPLES]);
    m.put(b, &[-30000; FRAME_SAMPLES]);
    m.put(c, &[30000; FRAME_SAMPLES]);
    m.mix(|id, f| {
        let expect = if id == c { i16::MIN } else { 0 };
        assert!(f.iter().all(|&s| s == expect), "{id:?}: {}", f[0]);
    });
}

#[test]
fn removed_party_is_no_longer_heard() {
    let mut m = Mixer::new();
    let a = m.add_party().unwrap();
    let b = m.add_party().unwrap();
    let c = m.add_party().unwrap();
    let fb = tone_frames(700.0, 1)[0];
    let fc = tone_frames(1100.0, 1)[0];
    m.put(a, &[0; FRAME_SAMPLES]);
    m.put(b, &fb);
    m.put(c, &fc);
    let mut heard_a = [0i16; FRAME_SAMPLES];
    m.mix(|id, f| {
        if id == a {
            heard_a = *f;
        }
    });
    assert!(goertzel_power(&heard_a, 1100.0) > 1.0e6);
    assert!(m.remove_party(c));
    assert!(!m.put(c, &fc));
    m.put(b, &fb);
    let mut calls = 0;
    m.mix(|id, f| {
        calls += 1;
        assert_ne!(id, c);
        if id == a {
            heard_a = *f;
        }
    });
    assert_eq!(calls, 2);
    assert!(goertzel_power(&heard_a, 1100.0) < 1.0);
    assert!(goertzel_power(&heard_a, 700.0) > 1.0e6);
}

proptest! {
    /// Each party's mix equals the saturated sum of the frames of all others, with parties that
    /// sent nothing counting as silence.
    #[test]
    fn mix_is_saturated_sum_of_others(
        frames in proptest::collection::vec(
            proptest::option::of(proptest::collection::vec(any::<i16>(), FRAME_SAMPLES)),
            1..=MAX_PARTIES,
        ),
    ) {
        let mut m = Mixer::new();
        let ids: Vec<_> = frames.iter().map(|_| m.add_party().unwrap()).collect();
        let frames: Vec<Option<Frame>> = frames
            .into_iter()
            .map(|f| f.map(|v| v.try_into().unwrap()))
            .collect();
        for (id, f) in ids.iter().zip(&frames) {
            if let Some(f) = f {
                m.put(*id, f);
            }
        }
        let mut outputs = Vec::new();
        m.mix(|id, f| outputs.push((id, *f)));
        prop_assert_eq!(outputs.len(), ids.len());
        for (id, out) in outputs {
            let p = ids.iter().position(|&i| i == id).unwrap();
            for (n, &o) in out.iter().enumerate() {
                let sum: i32 = frames
                    .iter()
                    .enumerate()
                    .filter(|&(q, _)| q != p)
                    .filter_map(|(_, f)| f.as_ref().map(|f| i32::from(f[n])))
                    .sum();
                prop_assert_eq!(i32::from(o), sum.clamp(-32768, 32767));
            }
        }
    }
}
