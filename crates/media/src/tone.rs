//! Tones as 8 kHz 16-bit PCM: ringback while a seat is alerted, a confirmation beep, DTMF
//! pairs for tests, and a Goertzel filter to measure them.
//!
//! A [`Tone`] is one or two sine components with an on/off cadence and an optional total
//! length. [`Tone::fill`] writes the next samples into a caller's buffer, so a 20 ms RTP tick
//! asks for 160 samples, encodes them with [`crate::g711`] and sends them; the oscillator phase
//! carries over from one call to the next, so the output does not depend on how it is sliced.
//! Each burst of a cadence starts at phase zero (no click at its start).
//!
//! Levels are given in dBm0 (ITU-T G.711: a sine whose peak reaches the codec's overload point
//! is +3.14 dBm0 for A-law, +3.17 dBm0 for µ-law; we use +3.14 dBm0 ↔ peak 32768) or as a
//! linear peak.

use std::time::Duration;

/// Sampling rate of everything in this crate, in Hz.
pub const SAMPLE_RATE_HZ: u32 = 8000;

/// The level of a sine component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// Power relative to the digital milliwatt, in dBm0 (a sine's level; negative = quieter).
    Dbm0(f32),
    /// Linear peak amplitude in 16-bit sample units.
    Peak(i16),
}

impl Level {
    /// The peak amplitude this level stands for, in 16-bit sample units.
    pub fn peak(self) -> f32 {
        match self {
            Self::Dbm0(dbm0) => dbm0_to_peak(dbm0),
            Self::Peak(p) => f32::from(p).abs(),
        }
    }
}

/// Peak amplitude (16-bit units) of a sine at `dbm0`: 32768 · 10^((dBm0 − 3.14) / 20), so
/// 0 dBm0 ≈ 22 812 and −10 dBm0 ≈ 7 214.
pub fn dbm0_to_peak(dbm0: f32) -> f32 {
    32768.0 * 10f32.powf((dbm0 - FULL_SCALE_SINE_DBM0) / 20.0)
}

/// The level of a sine whose peak is the A-law overload point (ITU-T G.711: +3.14 dBm0).
#[allow(clippy::approx_constant)] // a level in dB that happens to look like π
const FULL_SCALE_SINE_DBM0: f32 = 3.14;

/// One sine oscillator: a 32-bit phase accumulator (one turn = 2^32).
#[derive(Debug, Clone, Copy)]
struct Osc {
    step: u32,
    phase: u32,
    peak: f32,
}

impl Osc {
    fn new(freq_hz: f32, level: Level) -> Self {
        let turns_per_sample = f64::from(freq_hz) / f64::from(SAMPLE_RATE_HZ);
        let step = (turns_per_sample.rem_euclid(1.0) * 4_294_967_296.0).round() as u64 as u32;
        Self {
            step,
            phase: 0,
            peak: level.peak(),
        }
    }

    #[inline]
    fn next(&mut self) -> f32 {
        const RAD_PER_UNIT: f32 = std::f32::consts::TAU / 4_294_967_296.0;
        let v = (self.phase as f32 * RAD_PER_UNIT).sin() * self.peak;
        self.phase = self.phase.wrapping_add(self.step);
        v
    }
}

/// A tone generator producing 8 kHz PCM: one or two sine components, an on/off cadence and an
/// optional total length.
#[derive(Debug, Clone)]
pub struct Tone {
    oscs: [Osc; 2],
    dual: bool,
    /// Samples of tone per cadence cycle.
    on: u64,
    /// Samples of silence per cadence cycle; 0 = continuous.
    off: u64,
    /// Position within the current cadence cycle.
    pos: u64,
    /// Samples left before the tone ends; `None` = endless.
    remaining: Option<u64>,
}

/// Number of 8 kHz samples in `d`, rounded down.
pub fn samples_in(d: Duration) -> u64 {
    let n = d.as_nanos() * u128::from(SAMPLE_RATE_HZ) / 1_000_000_000;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The DTMF (row, column) frequencies of a key, ITU-T Q.23 Table 1: rows 697/770/852/941 Hz,
/// columns 1209/1336/1477/1633 Hz.
pub fn dtmf_frequencies(digit: char) -> Option<(f32, f32)> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (r, c) = match digit.to_ascii_uppercase() {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => return None,
    };
    Some((ROWS[r], COLS[c]))
}

impl Tone {
    /// A continuous single-frequency tone.
    pub fn new(freq_hz: f32, level: Level) -> Self {
        Self {
            oscs: [Osc::new(freq_hz, level), Osc::new(0.0, Level::Peak(0))],
            dual: false,
            on: 0,
            off: 0,
            pos: 0,
            remaining: None,
        }
    }

    /// A continuous dual-frequency tone (the two components are added).
    pub fn dual(f1_hz: f32, l1: Level, f2_hz: f32, l2: Level) -> Self {
        Self {
            oscs: [Osc::new(f1_hz, l1), Osc::new(f2_hz, l2)],
            dual: true,
            ..Self::new(0.0, Level::Peak(0))
        }
    }

    /// Sets an on/off cadence: `on` of tone then `off` of silence, repeated. An `off` of zero
    /// means continuous tone; an `on` of zero (with a non-zero `off`) means silence.
    #[must_use]
    pub fn with_cadence(mut self, on: Duration, off: Duration) -> Self {
        let (on, off) = (samples_in(on), samples_in(off));
        if off == 0 {
            self.on = 0;
            self.off = 0;
        } else if on == 0 {
            for o in &mut self.oscs {
                o.peak = 0.0;
            }
            self.on = 0;
            self.off = 0;
        } else {
            self.on = on;
            self.off = off;
        }
        self.pos = 0;
        self
    }

    /// Ends the tone after `total` (counting silences of the cadence); afterwards
    /// [`fill`](Self::fill) writes silence and [`is_finished`](Self::is_finished) is true.
    #[must_use]
    pub fn with_length(mut self, total: Duration) -> Self {
        self.remaining = Some(samples_in(total));
        self
    }

    /// Chinese ringback (回铃音): 450 Hz, 1 s on / 4 s off, endless, at −10 dBm0.
    ///
    /// Frequency and cadence are China's entry in ITU-T E.180 Supplement 2 ("Various tones
    /// used in national networks") and in Asterisk's `indications.conf` (`[cn] ring =
    /// 450/1000,0/4000`); the national standard they come from is the GB/YD signal-tone
    /// specification (commonly cited as GB 3380), which we have not been able to check
    /// first-hand. The level is our choice, within the usual −10 ± 3 dBm0 for
    /// call-progress tones.
    pub fn ringback_cn() -> Self {
        Self::new(450.0, Level::Dbm0(-10.0))
            .with_cadence(Duration::from_secs(1), Duration::from_secs(4))
    }

    /// A confirmation beep: 0.3 s of 1 kHz at −10 dBm0, then silence.
    pub fn confirm() -> Self {
        Self::new(1000.0, Level::Dbm0(-10.0)).with_length(Duration::from_millis(300))
    }

    /// The DTMF pair of a key (`0`–`9`, `*`, `#`, `A`–`D`), continuous: low group at
    /// −10 dBm0, high group at −8 dBm0 (a 2 dB positive twist, as telephone sets send).
    /// Combine with [`with_length`](Self::with_length) for a key press.
    pub fn dtmf(digit: char) -> Option<Self> {
        let (low, high) = dtmf_frequencies(digit)?;
        Some(Self::dual(low, Level::Dbm0(-10.0), high, Level::Dbm0(-8.0)))
    }

    /// Whether a tone with a length has played all of it.
    pub fn is_finished(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Starts over: cadence and phase back to the beginning. The length, if any, is not
    /// restored (build a new tone for that).
    pub fn restart_cadence(&mut self) {
        self.pos = 0;
        for o in &mut self.oscs {
            o.phase = 0;
        }
    }

    #[inline]
    fn sample(&mut self) -> i16 {
        let mut v = self.oscs[0].next();
        if self.dual {
            v += self.oscs[1].next();
        }
        v.round().clamp(-32768.0, 32767.0) as i16
    }

    /// Writes the next `out.len()` samples. Returns how many of them belong to the tone
    /// (cadence silences included); once the length runs out the rest is silence and the
    /// return value is smaller than `out.len()`.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let n = match self.remaining {
            Some(r) => usize::try_from(r).unwrap_or(usize::MAX).min(out.len()),
            None => out.len(),
        };
        let (live, rest) = out.split_at_mut(n);
        rest.fill(0);
        if self.off == 0 {
            for s in live.iter_mut() {
                *s = self.sample();
            }
        } else {
            let cycle = self.on + self.off;
            let mut i = 0;
            while i < live.len() {
                let in_on = self.pos < self.on;
                let end_of_period = if in_on { self.on } else { cycle };
                let run = usize::try_from(end_of_period - self.pos)
                    .unwrap_or(usize::MAX)
                    .min(live.len() - i);
                if in_on {
                    if self.pos == 0 {
                        // Each burst starts at phase zero.
                        for o in &mut self.oscs {
                            o.phase = 0;
                        }
                    }
                    for s in &mut live[i..i + run] {
                        *s = self.sample();
                    }
                } else {
                    live[i..i + run].fill(0);
                }
                i += run;
                self.pos += run as u64;
                if self.pos >= cycle {
                    self.pos = 0;
                }
            }
        }
        if let Some(r) = &mut self.remaining {
            *r -= n as u64;
        }
        n
    }
}

/// Mean power of the component of `samples` at `freq_hz` (8 kHz sampling), by the Goertzel
/// algorithm, in squared 16-bit sample units: a sine of peak `A` at exactly that frequency
/// gives about `A²/2`, the rest of the spectrum (outside the ±8000/N Hz main lobe) nearly 0.
/// For the cleanest separation choose `N` so that the frequencies of interest are whole
/// multiples of 8000/N Hz (N = 160 gives a 50 Hz grid). Returns 0 for an empty slice.
pub fn goertzel_power(samples: &[i16], freq_hz: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = std::f64::consts::TAU * f64::from(freq_hz) / f64::from(SAMPLE_RATE_HZ);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    (2.0 * power / (n * n)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuous_tone_has_expected_power() {
        let mut t = Tone::new(1000.0, Level::Peak(10000));
        let mut buf = [0i16; 160];
        t.fill(&mut buf);
        let p = goertzel_power(&buf, 1000.0);
        assert!((p / 5.0e7 - 1.0).abs() < 0.01, "{p}");
        assert!(goertzel_power(&buf, 1500.0) < 1.0);
    }

    #[test]
    fn slicing_does_not_change_output() {
        let mut a = Tone::ringback_cn();
        let mut b = Tone::ringback_cn();
        let mut whole = vec![0i16; 8000 * 6];
        a.fill(&mut whole);
        let mut sliced = vec![0i16; whole.len()];
        let mut at = 0;
        let mut k = 1;
        while at < sliced.len() {
            let end = (at + k).min(sliced.len());
            b.fill(&mut sliced[at..end]);
            at = end;
            k = k % 317 + 13;
        }
        assert_eq!(whole, sliced);
    }

    #[test]
    fn ringback_cadence() {
        let mut t = Tone::ringback_cn();
        let mut buf = vec![0i16; 8000 * 10];
        t.fill(&mut buf);
        let on = |r: std::ops::Range<usize>| buf[r].iter().any(|&s| s != 0);
        assert!(on(0..8000));
        assert!(!on(8000..40000));
        assert!(on(40000..48000));
        assert!(!on(48000..80000));
        assert!(goertzel_power(&buf[0..8000], 450.0) > 1.0e7);
    }

    #[test]
    fn confirm_ends() {
        let mut t = Tone::confirm();
        let mut buf = [0i16; 160];
        let mut total = 0;
        for _ in 0..20 {
            total += t.fill(&mut buf);
        }
        assert_eq!(total, 2400);
        assert!(t.is_finished());
        assert!(buf.iter().all(|&s| s == 0));
    }

    #[test]
    fn levels() {
        assert!((dbm0_to_peak(FULL_SCALE_SINE_DBM0) - 32768.0).abs() < 1.0);
        assert!((dbm0_to_peak(-10.0) - 7214.0).abs() < 5.0);
    }
}
