//! N-party audio mixing in which each party hears everyone but itself.
//!
//! Three-way calls (caller, seat, and a supervisor or an interpreter joining), attended
//! transfers and supervisor barge-in put up to a handful of parties in one conference. Every
//! 20 ms tick the shell decodes each party's packet into a 160-sample frame, [`Mixer::put`]s
//! it, then calls [`Mixer::mix`], which hands every party its own mix to encode and send:
//! the sum of all *other* parties' frames.
//!
//! The sum is computed once in 32-bit integers; each party's mix is that total minus its own
//! frame, saturated to 16 bits (a loud sum clips at ±32767/−32768 instead of wrapping round
//! to the opposite sign, which would be heard as a crack). A party that sent nothing this
//! tick (packet loss, silence suppression) counts as silence. The mixer never allocates:
//! frames live in fixed arrays sized for [`MAX_PARTIES`].

/// Samples per frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// The most parties one mixer holds.
pub const MAX_PARTIES: usize = 8;

/// One 20 ms frame of 8 kHz linear PCM.
pub type Frame = [i16; FRAME_SAMPLES];

/// A party of a [`Mixer`]. Ids are not reused: a removed party's id stays invalid even when
/// its slot is given to a new party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyId {
    slot: u8,
    generation: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The generation of the party in this slot, if occupied.
    party: Option<u32>,
    /// Whether `frame` holds this tick's input.
    has_frame: bool,
}

/// An N-party mixer (N ≤ [`MAX_PARTIES`]) working on 20 ms frames.
#[derive(Debug, Clone)]
pub struct Mixer {
    slots: [Slot; MAX_PARTIES],
    frames: [Frame; MAX_PARTIES],
    next_generation: u32,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    /// An empty mixer.
    pub fn new() -> Self {
        Self {
            slots: [Slot {
                party: None,
                has_frame: false,
            }; MAX_PARTIES],
            frames: [[0; FRAME_SAMPLES]; MAX_PARTIES],
            next_generation: 0,
        }
    }

    /// Adds a party, or returns `None` when all [`MAX_PARTIES`] slots are taken.
    pub fn add_party(&mut self) -> Option<PartyId> {
        let slot = self.slots.iter().position(|s| s.party.is_none())?;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.slots[slot] = Slot {
            party: Some(generation),
            has_frame: false,
        };
        Some(PartyId {
            slot: slot as u8,
            generation,
        })
    }

    /// Removes a party: from now on it is neither heard nor given a mix. Returns whether it
    /// was present.
    pub fn remove_party(&mut self, party: PartyId) -> bool {
        match self.slot_of(party) {
            Some(i) => {
                self.slots[i] = Slot {
                    party: None,
                    has_frame: false,
                };
                true
            }
            None => false,
        }
    }

    /// Whether `party` is in the mixer.
    pub fn contains(&self, party: PartyId) -> bool {
        self.slot_of(party).is_some()
    }

    /// Number of parties.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.party.is_some()).count()
    }

    /// Whether the mixer has no party.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot_of(&self, party: PartyId) -> Option<usize> {
        let i = usize::from(party.slot);
        (self.slots.get(i)?.party == Some(party.generation)).then_some(i)
    }

    /// Gives `party`'s frame for this tick (a second `put` in the same tick replaces the
    /// first). Returns `false`, ignoring the frame, for an unknown party.
    pub fn put(&mut self, party: PartyId, frame: &Frame) -> bool {
        match self.slot_of(party) {
            Some(i) => {
                self.frames[i] = *frame;
                self.slots[i].has_frame = true;
                true
            }
            None => false,
        }
    }

    /// Mixes this tick: calls `out` once per party, in slot order, with the saturated sum of
    /// every other party's frame (silence for a party alone), then clears the tick's inputs.
    pub fn mix(&mut self, mut out: impl FnMut(PartyId, &Frame)) {
        let mut total = [0i32; FRAME_SAMPLES];
        for (slot, frame) in self.slots.iter().zip(&self.frames) {
            if slot.party.is_some() && slot.has_frame {
                for (t, &s) in total.iter_mut().zip(frame) {
                    *t += i32::from(s);
                }
            }
        }
        let mut mixed = [0i16; FRAME_SAMPLES];
        for (i, (slot, frame)) in self.slots.iter().zip(&self.frames).enumerate() {
            let Some(generation) = slot.party else {
                continue;
            };
            if slot.has_frame {
                for ((m, &t), &own) in mixed.iter_mut().zip(&total).zip(frame) {
                    *m = saturate(t - i32::from(own));
                }
            } else {
                for (m, &t) in mixed.iter_mut().zip(&total) {
                    *m = saturate(t);
                }
            }
            out(
                PartyId {
                    slot: i as u8,
                    generation,
                },
                &mixed,
            );
        }
        for slot in &mut self.slots {
            slot.has_frame = false;
        }
    }
}

#[inline]
fn saturate(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_reused() {
        let mut m = Mixer::new();
        let a = m.add_party().unwrap();
        assert!(m.remove_party(a));
        let b = m.add_party().unwrap();
        assert_ne!(a, b);
        assert!(!m.put(a, &[1; FRAME_SAMPLES]));
        assert!(m.put(b, &[1; FRAME_SAMPLES]));
        assert!(!m.remove_party(a));
    }

    #[test]
    fn capacity() {
        let mut m = Mixer::new();
        for _ in 0..MAX_PARTIES {
            assert!(m.add_party().is_some());
        }
        assert!(m.add_party().is_none());
        assert_eq!(m.len(), MAX_PARTIES);
    }

    #[test]
    fn alone_hears_silence_and_inputs_clear() {
        let mut m = Mixer::new();
        let a = m.add_party().unwrap();
        let b = m.add_party().unwrap();
        m.put(a, &[100; FRAME_SAMPLES]);
        let mut heard = Vec::new();
        m.mix(|p, f| heard.push((p, f[0])));
        assert_eq!(heard, [(a, 0), (b, 100)]);
        heard.clear();
        m.mix(|p, f| heard.push((p, f[0])));
        assert_eq!(heard, [(a, 0), (b, 0)]);
    }
}
