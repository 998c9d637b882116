//! Playlists of prompts, tones and silences, turned into 20 ms frames, as pure code.
//!
//! A [`Player`] is pulled once per 20 ms tick by the call's state machine
//! ([`crate::call::MediaCall`]); it knows nothing of time or RTP. Each clip starts on a frame
//! boundary: a clip whose length is not a multiple of 160 samples is padded with zeros in its
//! last frame, so a prompt followed by a tone never splices mid-frame (and a playlist's frames
//! are exactly its clips' samples, frame-aligned, which makes playback testable bit for bit).

use std::sync::Arc;
use std::time::Duration;

use crate::mixer::{Frame, FRAME_SAMPLES};
use crate::tone::{samples_in, Tone};
use crate::wav::Prompt;

/// One thing to play.
#[derive(Debug, Clone)]
pub enum Clip {
    /// A decoded prompt (shared: one copy in memory however many calls play it).
    Prompt(Arc<Prompt>),
    /// A tone; give it a length ([`Tone::with_length`]) unless it is meant to play forever.
    Tone(Tone),
    /// Silence of this length (rounded down to whole samples).
    Silence(Duration),
}

/// A sequence of clips, then what follows it.
#[derive(Debug, Clone)]
pub struct Playlist {
    /// Played in order.
    pub clips: Vec<Clip>,
    /// What plays once `clips` are done.
    pub then: After,
}

/// What a [`Playlist`] does after its clips.
#[derive(Debug, Clone)]
pub enum After {
    /// Nothing: the player stops producing frames (the leg gets no packets).
    Silence,
    /// This clip, repeated forever (music on hold).
    Loop(Clip),
}

/// A clip being played: where we are in it.
#[derive(Debug, Clone)]
enum Cursor {
    Prompt { prompt: Arc<Prompt>, pos: usize },
    Tone(Tone),
    Silence { left: u64 },
}

impl Cursor {
    fn new(clip: &Clip) -> Self {
        match clip {
            Clip::Prompt(p) => Self::Prompt {
                prompt: Arc::clone(p),
                pos: 0,
            },
            Clip::Tone(t) => Self::Tone(t.clone()),
            Clip::Silence(d) => Self::Silence {
                left: samples_in(*d),
            },
        }
    }

    fn is_finished(&self) -> bool {
        match self {
            Self::Prompt { prompt, pos } => *pos >= prompt.samples().len(),
            Self::Tone(t) => t.is_finished(),
            Self::Silence { left } => *left == 0,
        }
    }

    /// Fills `out` (zero-padded) and returns how many samples were the clip's.
    fn fill(&mut self, out: &mut Frame) -> usize {
        match self {
            Self::Prompt { prompt, pos } => {
                let rest = prompt.samples().get(*pos..).unwrap_or(&[]);
                let n = rest.len().min(FRAME_SAMPLES);
                out[..n].copy_from_slice(&rest[..n]);
                out[n..].fill(0);
                *pos += n;
                n
            }
            Self::Tone(t) => t.fill(out),
            Self::Silence { left } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(FRAME_SAMPLES);
                out.fill(0);
                *left -= n as u64;
                n
            }
        }
    }
}

/// Plays a [`Playlist`] frame by frame. Pure: the caller paces it (one frame per 20 ms).
#[derive(Debug, Clone)]
pub struct Player {
    clips: Vec<Clip>,
    /// Index of the clip in `cursor` (== `clips.len()` once they are all played).
    next: usize,
    cursor: Option<Cursor>,
    then: After,
    /// The looping clip is playing (the playlist's own clips are done).
    looping: bool,
    finished: bool,
}

impl Player {
    /// A player at the start of `playlist`.
    pub fn new(playlist: Playlist) -> Self {
        let mut p = Self {
            clips: playlist.clips,
            next: 0,
            cursor: None,
            then: playlist.then,
            looping: false,
            finished: false,
        };
        p.advance();
        p
    }

    /// Loads the next clip (or the loop clip, or nothing) into `cursor`.
    fn advance(&mut self) {
        if let Some(clip) = self.clips.get(self.next) {
            self.cursor = Some(Cursor::new(clip));
            self.next += 1;
            return;
        }
        self.next = self.clips.len();
        match &self.then {
            After::Loop(clip) => {
                self.looping = true;
                self.cursor = Some(Cursor::new(clip));
            }
            After::Silence => self.cursor = None,
        }
    }

    /// Writes the next 20 ms into `out`. Returns `false` (and writes silence) once the
    /// playlist is finished and followed by [`After::Silence`]; a looping playlist never
    /// finishes.
    pub fn next_frame(&mut self, out: &mut Frame) -> bool {
        // Bounded: an empty clip is skipped, and a loop clip that yields nothing from its
        // start (an empty prompt) must not spin, so it plays as silence instead.
        for _ in 0..=self.clips.len() + 1 {
            if self.finished {
                break;
            }
            let Some(cursor) = &mut self.cursor else {
                self.finished = true;
                break;
            };
            let n = if cursor.is_finished() {
                0
            } else {
                cursor.fill(out)
            };
            let done = cursor.is_finished();
            if done {
                self.advance();
            }
            if n > 0 {
                return true;
            }
            if self.looping && done && self.next >= self.clips.len() && self.empty_loop() {
                out.fill(0);
                return true;
            }
        }
        out.fill(0);
        !self.finished
    }

    fn empty_loop(&self) -> bool {
        match &self.then {
            After::Loop(clip) => Cursor::new(clip).is_finished(),
            After::Silence => false,
        }
    }

    /// Whether the playlist's own clips (not the loop) have all been played.
    pub fn clips_done(&self) -> bool {
        self.looping || self.finished || (self.next >= self.clips.len() && self.cursor.is_none())
    }

    /// Whether the player will produce no more frames (clips done, then silence).
    pub fn is_finished(&self) -> bool {
        self.finished || (self.cursor.is_none() && matches!(self.then, After::Silence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::Level;

    fn prompt(n: usize) -> Clip {
        Clip::Prompt(Arc::new(Prompt::from_samples(
            (1..=n).map(|i| i as i16).collect(),
        )))
    }

    #[test]
    fn prompt_is_padded_and_finishes() {
        let mut p = Player::new(Playlist {
            clips: vec![prompt(200)],
            then: After::Silence,
        });
        let mut f = [0i16; FRAME_SAMPLES];
        assert!(!p.clips_done());
        assert!(p.next_frame(&mut f));
        assert_eq!(f[0], 1);
        assert_eq!(f[159], 160);
        assert!(!p.clips_done());
        assert!(p.next_frame(&mut f));
        assert_eq!(f[39], 200);
        assert!(f[40..].iter().all(|&s| s == 0));
        assert!(p.clips_done());
        assert!(!p.next_frame(&mut f));
        assert!(p.is_finished());
    }

    #[test]
    fn clips_start_on_frame_boundaries_and_loop() {
        let mut p = Player::new(Playlist {
            clips: vec![
                prompt(10),
                Clip::Silence(Duration::from_millis(20)),
                Clip::Tone(
                    Tone::new(1000.0, Level::Peak(1000)).with_length(Duration::from_millis(20)),
                ),
            ],
            then: After::Loop(prompt(160)),
        });
        let mut f = [0i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut f));
        assert_eq!(f[9], 10);
        assert_eq!(f[10], 0);
        assert!(p.next_frame(&mut f));
        assert!(f.iter().all(|&s| s == 0));
        assert!(p.next_frame(&mut f));
        assert!(f.iter().any(|&s| s != 0));
        assert!(p.clips_done());
        for _ in 0..5 {
            assert!(p.next_frame(&mut f));
            assert_eq!((f[0], f[159]), (1, 160));
        }
        assert!(!p.is_finished());
    }

    #[test]
    fn empty_playlists() {
        let mut f = [1i16; FRAME_SAMPLES];
        let mut p = Player::new(Playlist {
            clips: vec![prompt(0)],
            then: After::Silence,
        });
        assert!(!p.next_frame(&mut f));
        assert!(p.clips_done());
        let mut p = Player::new(Playlist {
            clips: vec![],
            then: After::Loop(prompt(0)),
        });
        assert!(p.next_frame(&mut f));
        assert!(f.iter().all(|&s| s == 0));
        assert!(p.clips_done());
    }
}
