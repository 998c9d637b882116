//! Prompt files: RIFF/WAVE in, 8 kHz 16-bit PCM out.
//!
//! IVR prompts (welcome message, menus, "please hold") are recorded once and played to many
//! callers, so they are loaded into memory as linear PCM at start-up and encoded per leg with
//! [`crate::g711`]. Accepted: a `fmt ` chunk describing mono 8000 Hz audio as 16-bit PCM
//! (format 1), µ-law (7) or A-law (6), also when wrapped in `WAVE_FORMAT_EXTENSIBLE` (0xFFFE).
//! Anything else is refused with an error that names what the file holds, e.g.
//! "44100 Hz stereo 16-bit PCM", so whoever records the prompt knows what to re-export; we do
//! not resample.
//!
//! The parser reads the RIFF chunk list (Microsoft/IBM "Multimedia Programming Interface and
//! Data Specifications 1.0", 1991): a chunk is a four-byte id, a little-endian u32 size and
//! that many bytes, padded to an even length. Unknown chunks (`LIST`, `fact`, `bext`, …) are
//! skipped. Truncated chunks and sizes that overrun the file are errors; the parser never
//! panics and never reads out of bounds (property-tested on random bytes). `byte rate` and
//! `block align` are not checked: the three fields that matter are.

use std::fmt;
use std::time::Duration;

use crate::g711;
use crate::tone::SAMPLE_RATE_HZ;

/// A prompt decoded to 8 kHz mono 16-bit linear PCM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    samples: Vec<i16>,
}

impl Prompt {
    /// Wraps samples that are already 8 kHz mono PCM.
    pub fn from_samples(samples: Vec<i16>) -> Self {
        Self { samples }
    }

    /// The samples, 8000 per second.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Gives the samples back.
    pub fn into_samples(self) -> Vec<i16> {
        self.samples
    }

    /// Playing time: one sample is 125 µs.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.samples.len() as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE_HZ))
    }
}

/// A RIFF chunk id, printed as text when it is printable ASCII.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FourCc(pub [u8; 4]);

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| (0x20..0x7F).contains(b)) {
            f.write_str("`")?;
            for &b in &self.0 {
                write!(f, "{}", b as char)?;
            }
            f.write_str("`")
        } else {
            write!(
                f,
                "0x{:02x}{:02x}{:02x}{:02x}",
                self.0[0], self.0[1], self.0[2], self.0[3]
            )
        }
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What a `fmt ` chunk says about the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    /// The format tag (1 PCM, 3 float, 6 A-law, 7 µ-law, …), already resolved through
    /// `WAVE_FORMAT_EXTENSIBLE`'s sub-format when the file uses it.
    pub format_tag: u16,
    /// Number of channels.
    pub channels: u16,
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Bits per sample.
    pub bits_per_sample: u16,
}

impl WavFormat {
    const PCM: u16 = 1;
    const ALAW: u16 = 6;
    const ULAW: u16 = 7;
    const EXTENSIBLE: u16 = 0xFFFE;

    fn is_supported(&self) -> bool {
        self.channels == 1
            && self.sample_rate == SAMPLE_RATE_HZ
            && matches!(
                (self.format_tag, self.bits_per_sample),
                (Self::PCM, 16) | (Self::ALAW, 8) | (Self::ULAW, 8)
            )
    }
}

impl fmt::Display for WavFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz ", self.sample_rate)?;
        match self.channels {
            1 => f.write_str("mono ")?,
            2 => f.write_str("stereo ")?,
            n => write!(f, "{n}-channel ")?,
        }
        let name = match self.format_tag {
            Self::PCM => "PCM",
            3 => "IEEE float",
            Self::ALAW => "A-law",
            Self::ULAW => "µ-law",
            0x0002 => "MS ADPCM",
            0x0011 => "IMA ADPCM",
            0x0031 => "GSM 6.10",
            0x0050 | 0x0055 => "MPEG audio",
            Self::EXTENSIBLE => "extensible (unknown sub-format)",
            tag => return write!(f, "{}-bit format 0x{tag:04x}", self.bits_per_sample),
        };
        write!(f, "{}-bit {name}", self.bits_per_sample)
    }
}

/// Why a file could not be loaded as a prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// The file does not start with a RIFF header of form type `WAVE`.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// The file ends inside the 12-byte RIFF header.
    #[error("file too short for a RIFF header: {0} bytes")]
    TooShort(usize),
    /// The RIFF size field is smaller than the form type or larger than the file.
    #[error("RIFF size {declared} does not fit a file of {actual} bytes")]
    BadRiffSize {
        /// The size the header declares (bytes after the first 8).
        declared: u32,
        /// The file's length in bytes.
        actual: usize,
    },
    /// A chunk's header or body runs past the end of the RIFF chunk.
    #[error("chunk {id} of {size} bytes runs past the end of the file ({available} bytes left)")]
    ChunkTruncated {
        /// The chunk id.
        id: FourCc,
        /// Its declared size.
        size: u32,
        /// Bytes actually left for its body.
        available: usize,
    },
    /// The `fmt ` chunk is shorter than the 16 bytes of a PCM format block.
    #[error("`fmt ` chunk of {0} bytes, need at least 16")]
    FmtTooShort(u32),
    /// No `fmt ` chunk.
    #[error("no `fmt ` chunk")]
    MissingFmt,
    /// No `data` chunk.
    #[error("no `data` chunk")]
    MissingData,
    /// The audio is not 8 kHz mono PCM16/µ-law/A-law.
    #[error("unsupported audio: {0}; need 8000 Hz mono 16-bit PCM, µ-law or A-law")]
    Unsupported(WavFormat),
    /// The `data` chunk ends in the middle of a 16-bit sample.
    #[error("`data` chunk of {0} bytes is not a whole number of 16-bit samples")]
    PartialSample(u32),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The sub-format GUID suffix shared by every `KSDATAFORMAT_SUBTYPE_*` that wraps a plain
/// format tag (`xxxxxxxx-0000-0010-8000-00aa00389b71`).
const KSDATAFORMAT_SUFFIX: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

fn parse_fmt(body: &[u8]) -> Result<WavFormat, WavError> {
    if body.len() < 16 {
        return Err(WavError::FmtTooShort(body.len() as u32));
    }
    let mut format_tag = u16_at(body, 0);
    if format_tag == WavFormat::EXTENSIBLE
        && body.len() >= 40
        && body[26..40] == KSDATAFORMAT_SUFFIX
    {
        format_tag = u16_at(body, 24);
    }
    Ok(WavFormat {
        format_tag,
        channels: u16_at(body, 2),
        sample_rate: u32_at(body, 4),
        bits_per_sample: u16_at(body, 14),
    })
}

/// Parses a RIFF/WAVE file into a [`Prompt`].
///
/// # Errors
///
/// [`WavError`] for anything that is not a well-formed WAVE file of 8 kHz mono 16-bit PCM,
/// µ-law or A-law.
pub fn parse(bytes: &[u8]) -> Result<Prompt, WavError> {
    if bytes.len() >= 4 && &bytes[..4] != b"RIFF" {
        return Err(WavError::NotWave);
    }
    if bytes.len() < 12 {
        return Err(WavError::TooShort(bytes.len()));
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let declared = u32_at(bytes, 4);
    let riff_end = 8u64 + u64::from(declared);
    if declared < 4 || riff_end > bytes.len() as u64 {
        return Err(WavError::BadRiffSize {
            declared,
            actual: bytes.len(),
        });
    }
    // riff_end <= bytes.len(), so it fits in usize.
    let body = &bytes[12..riff_end as usize];

    let mut format = None;
    let mut data = None;
    let mut at = 0usize;
    // A header needs 8 bytes; fewer trailing bytes are padding some writers leave behind.
    while body.len() - at >= 8 {
        let id = FourCc([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let size = u32_at(body, at + 4);
        let start = at + 8;
        let available = body.len() - start;
        if size as u64 > available as u64 {
            return Err(WavError::ChunkTruncated {
                id,
                size,
                available,
            });
        }
        let chunk = &body[start..start + size as usize];
        match &id.0 {
            b"fmt " if format.is_none() => format = Some(parse_fmt(chunk)?),
            b"data" if data.is_none() => data = Some(chunk),
            _ => {}
        }
        // Odd sizes are followed by a pad byte, which may be missing at the very end.
        at = (start + size as usize + (size as usize & 1)).min(body.len());
    }

    let format = format.ok_or(WavError::MissingFmt)?;
    if !format.is_supported() {
        return Err(WavError::Unsupported(format));
    }
    let data = data.ok_or(WavError::MissingData)?;
    let samples = match format.format_tag {
        WavFormat::PCM => {
            if data.len() % 2 != 0 {
                return Err(WavError::PartialSample(data.len() as u32));
            }
            data.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect()
        }
        WavFormat::ULAW => data.iter().map(|&c| g711::ulaw_decode(c)).collect(),
        _ => data.iter().map(|&c| g711::alaw_decode(c)).collect(),
    };
    Ok(Prompt { samples })
}

/// Writes `samples` as a 44-byte-header RIFF/WAVE file of 8 kHz mono 16-bit PCM.
///
/// # Panics
///
/// If the data would not fit RIFF's 32-bit sizes: more than about 2^31 samples (74 hours).
pub fn write_pcm16(samples: &[i16]) -> Vec<u8> {
    let data_len = samples
        .len()
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n <= u32::MAX - 36)
        .expect("a WAV file holds at most 4 GiB of data");
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&WavFormat::PCM.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&SAMPLE_RATE_HZ.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE_HZ * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a WAVE file from a format block and extra chunks (id, body).
    fn wav(fmt_body: &[u8], chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"WAVE");
        let mut push = |id: &[u8; 4], b: &[u8]| {
            body.extend_from_slice(id);
            body.extend_from_slice(&(b.len() as u32).to_le_bytes());
            body.extend_from_slice(b);
            if b.len() % 2 == 1 {
                body.push(0);
            }
        };
        push(b"fmt ", fmt_body);
        for (id, b) in chunks {
            push(id, b);
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn fmt_block(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(channels) * u32::from(bits) / 8).to_le_bytes());
        f.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    #[test]
    fn round_trip() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37 - 9000) as i16).collect();
        let p = parse(&write_pcm16(&samples)).unwrap();
        assert_eq!(p.samples(), &samples[..]);
        assert_eq!(p.duration(), Duration::from_millis(125));
    }

    #[test]
    fn ulaw_and_alaw_with_unknown_chunks() {
        let u = wav(
            &fmt_block(7, 1, 8000, 8),
            &[(b"LIST", b"INFOabc"), (b"data", &[0xFF, 0x80, 0x00])],
        );
        assert_eq!(parse(&u).unwrap().samples(), &[0, 32124, -32124]);
        let a = wav(&fmt_block(6, 1, 8000, 8), &[(b"data", &[0xD5, 0xAA])]);
        assert_eq!(parse(&a).unwrap().samples(), &[8, 32256]);
    }

    #[test]
    fn extensible_pcm() {
        let mut f = fmt_block(0xFFFE, 1, 8000, 16);
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&4u32.to_le_bytes());
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&KSDATAFORMAT_SUFFIX);
        let w = wav(&f, &[(b"data", &[1, 0, 2, 0])]);
        assert_eq!(parse(&w).unwrap().samples(), &[1, 2]);
    }

    #[test]
    fn unsupported_names_what_it_found() {
        let w = wav(&fmt_block(1, 2, 44100, 16), &[(b"data", &[0; 8])]);
        let e = parse(&w).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported audio: 44100 Hz stereo 16-bit PCM; need 8000 Hz mono 16-bit PCM, \
             µ-law or A-law"
        );
        let w = wav(&fmt_block(0x55, 1, 8000, 0), &[(b"data", &[0; 8])]);
        assert!(parse(&w).unwrap_err().to_string().contains("MPEG audio"));
    }

    #[test]
    fn malformed() {
        assert_eq!(parse(b""), Err(WavError::TooShort(0)));
        assert_eq!(parse(b"RIFX\0\0\0\0WAVE"), Err(WavError::NotWave));
        let mut w = write_pcm16(&[1, 2, 3]);
        w.truncate(w.len() - 1);
        assert!(matches!(parse(&w), Err(WavError::BadRiffSize { .. })));
        // Fix the RIFF size so that only the data chunk overruns.
        let n = (w.len() - 8) as u32;
        w[4..8].copy_from_slice(&n.to_le_bytes());
        assert!(matches!(parse(&w), Err(WavError::ChunkTruncated { .. })));
        let w = wav(&fmt_block(1, 1, 8000, 16), &[(b"data", &[1, 2, 3])]);
        assert_eq!(parse(&w), Err(WavError::PartialSample(3)));
        let w = wav(&fmt_block(1, 1, 8000, 16), &[]);
        assert_eq!(parse(&w), Err(WavError::MissingData));
        let w = wav(&[1, 0, 1, 0], &[]);
        assert_eq!(parse(&w), Err(WavError::FmtTooShort(4)));
    }
}
