//! G.711 sample codecs: PCMU (µ-law) and PCMA (A-law), ITU-T G.711 (11/88).
//!
//! Every leg of the 12345 hotline speaks G.711 at 8 kHz (RTP/AVP static payload types 0 and 8,
//! RFC 3551 §6), so this is the only place where samples change form: decode what arrives,
//! mix or analyse 16-bit linear PCM, encode what leaves.
//!
//! # Conventions
//!
//! Linear samples are 16-bit two's complement, left-justified: µ-law uses the top 14 bits,
//! A-law the top 13, exactly as the ITU-T reference implementation (G.191 Software Tools
//! Library, `g711.c`, `ulaw_compress`/`alaw_compress`) does. Negative inputs are folded with the
//! one's complement (`!x`), as in that reference, so the quantiser is symmetric about −½.
//!
//! - Decoding is a lookup in a 256-entry table built at compile time; the table values are
//!   G.711's decoder output values (Tables 1a/2a) scaled to 16 bits: µ-law 0xFF → 0,
//!   0x80 → +32124, 0x00 → −32124; A-law 0xD5 → +8, 0xAA → +32256, 0x2A → −32256.
//! - Encoding is a few integer operations (segment = position of the leading one).
//! - µ-law has two codes for zero: 0xFF (+0) and 0x7F (−0). Both decode to 0 and the encoder
//!   produces 0x7F for inputs −1…−4 (one's complement fold), so `encode(decode(0x7F))` is 0xFF:
//!   the only byte of either law that does not survive a decode/encode round trip.
//! - A-law inverts the even bits of every code word before transmission (XOR 0x55, G.711
//!   §3.5 / Table 1a), which is why A-law silence is 0xD5/0x55 on the wire.

/// Largest µ-law decoder output (code 0x80), G.711 Table 2a's 8031 scaled by 4.
pub const ULAW_MAX: i16 = 32124;
/// Largest A-law decoder output (code 0xAA), G.711 Table 1a's 4032 scaled by 8.
pub const ALAW_MAX: i16 = 32256;

/// A G.711 law, as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, `PCMU/8000`, static RTP payload type 0.
    Pcmu,
    /// A-law, `PCMA/8000`, static RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 §6, Table 4): 0 for PCMU, 8 for PCMA.
    pub const fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The codec of a static payload type, or `None` for anything but 0 and 8.
    pub const fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name (`a=rtpmap:<pt> <name>/8000`).
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// The code word for silence (what a decoder turns into the smallest magnitude):
    /// 0xFF for µ-law, 0xD5 for A-law.
    pub const fn silence(self) -> u8 {
        match self {
            Self::Pcmu => 0xFF,
            Self::Pcma => 0xD5,
        }
    }

    /// Encodes one sample.
    #[inline]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => ulaw_encode(sample),
            Self::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one code word.
    #[inline]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_decode(code),
            Self::Pcma => alaw_decode(code),
        }
    }
}

/// µ-law encoder (G.711 §3.2–3.4, Table 2a), following G.191's `ulaw_compress`.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // Fold to a magnitude with the one's complement, drop to 14 bits, add the bias of 33.
    let negative = sample < 0;
    let folded = (if negative { !sample } else { sample }) as u16; // 0..=32767
    let biased = ((folded >> 2) + 33).min(0x1FFF) as u32; // 33..=8191
                                                          // Segment 0 holds 32..=63 (after bias); segment s holds 2^(5+s)..2^(6+s).
    let exponent = (31 - biased.leading_zeros()) - 5; // 0..=7
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    let code = ((exponent << 4) | mantissa) as u8;
    // Transmitted code words are inverted; bit 7 set means positive.
    if negative {
        code ^ 0x7F
    } else {
        !code
    }
}

/// µ-law decoder: a table lookup (G.711 Table 2a decoder output values, ×4).
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// A-law encoder (G.711 §3.2–3.4, Table 1a), following G.191's `alaw_compress`.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let negative = sample < 0;
    let folded = (if negative { !sample } else { sample }) as u16; // 0..=32767
    let ix = u32::from(folded >> 4); // 0..=2047: 12-bit magnitude in units of 16
    let code = if ix < 16 {
        ix
    } else {
        // Segment s (1..=7) holds 2^(3+s)..2^(4+s); the mantissa is the next four bits.
        let exponent = (31 - ix.leading_zeros()) - 3;
        (exponent << 4) | ((ix >> (exponent - 1)) & 0x0F)
    } as u8;
    let signed = if negative { code } else { code | 0x80 };
    signed ^ 0x55
}

/// A-law decoder: a table lookup (G.711 Table 1a decoder output values, ×8).
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes `min(input.len(), output.len())` samples and returns that count.
///
/// Callers normally pass equal lengths (160 samples ↔ 160 bytes for 20 ms); a shorter side
/// bounds the work instead of panicking.
pub fn encode_into(codec: Codec, input: &[i16], output: &mut [u8]) -> usize {
    let n = input.len().min(output.len());
    match codec {
        Codec::Pcmu => {
            for (o, &s) in output[..n].iter_mut().zip(&input[..n]) {
                *o = ulaw_encode(s);
            }
        }
        Codec::Pcma => {
            for (o, &s) in output[..n].iter_mut().zip(&input[..n]) {
                *o = alaw_encode(s);
            }
        }
    }
    n
}

/// Decodes `min(input.len(), output.len())` code words and returns that count.
pub fn decode_into(codec: Codec, input: &[u8], output: &mut [i16]) -> usize {
    let n = input.len().min(output.len());
    let table = match codec {
        Codec::Pcmu => &ULAW_DECODE,
        Codec::Pcma => &ALAW_DECODE,
    };
    for (o, &c) in output[..n].iter_mut().zip(&input[..n]) {
        *o = table[c as usize];
    }
    n
}

/// µ-law decoding table, G.191's `ulaw_expand` evaluated for every code word.
static ULAW_DECODE: [i16; 256] = build_ulaw_table();
/// A-law decoding table, G.191's `alaw_expand` evaluated for every code word.
static ALAW_DECODE: [i16; 256] = build_alaw_table();

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let code = i as u8;
        let inverted = !code;
        let exponent = ((inverted >> 4) & 0x07) as i32;
        let mantissa = (inverted & 0x0F) as i32;
        let step = 8 << exponent; // 16-bit units
        let magnitude = (128 << exponent) + step * mantissa + step / 2 - 4 * 33;
        table[i] = if code < 0x80 {
            -magnitude as i16
        } else {
            magnitude as i16
        };
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let code = i as u8;
        let ix = (code ^ 0x55) & 0x7F;
        let exponent = (ix >> 4) as i32;
        let mut mantissa = (ix & 0x0F) as i32;
        if exponent > 0 {
            mantissa += 16;
        }
        let mut magnitude = (mantissa << 4) + 8;
        if exponent > 1 {
            magnitude <<= exponent - 1;
        }
        table[i] = if code & 0x80 != 0 {
            magnitude as i16
        } else {
            -magnitude as i16
        };
        i += 1;
    }
    table
}

/// The quantisation step (distance between adjacent decoder outputs), in 16-bit units, of the
/// segment that `code` belongs to. Used by tests and by anyone bounding codec error.
pub fn quantisation_step(codec: Codec, code: u8) -> i32 {
    match codec {
        Codec::Pcmu => 8 << ((!code >> 4) & 0x07),
        Codec::Pcma => {
            let exponent = ((code ^ 0x55) >> 4) & 0x07;
            16 << exponent.saturating_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), ULAW_MAX);
        assert_eq!(ulaw_decode(0x00), -ULAW_MAX);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), ALAW_MAX);
        assert_eq!(alaw_decode(0x2A), -ALAW_MAX);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn payload_types() {
        for c in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
        }
        assert_eq!(Codec::from_payload_type(18), None);
    }
}
