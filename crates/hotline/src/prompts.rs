//! The prompts the platform plays, by name: the WAV files of `deploy/prompts` compiled into the
//! binary, or every `*.wav` of a directory named by the plan's `media.prompts`. They are decoded
//! once, at start, to 8 kHz PCM ([`media::wav::parse`]); a file that does not decode is an
//! error then, not when a caller would hear it. The plan checks that every prompt it names is
//! here (`crate::config`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use media::wav::{Prompt, WavError};

/// The highest number prompt: `n30`. Larger counts are said as 30.
pub const MAX_NUMBER: u32 = 30;

/// What [`PromptBook::embedded`] names its source.
pub const EMBEDDED_SOURCE: &str = "embedded deploy/prompts";

/// `(name, bytes)` of every WAV under `deploy/prompts`, by name.
macro_rules! embedded_wavs {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../../deploy/prompts/", $name, ".wav")))),*]
    };
}

/// The WAVs compiled in; a test checks this is every `*.wav` of `deploy/prompts`.
const EMBEDDED: &[(&str, &[u8])] = embedded_wavs![
    "music",
    "n1",
    "n2",
    "n3",
    "n4",
    "n5",
    "n6",
    "n7",
    "n8",
    "n9",
    "n10",
    "n11",
    "n12",
    "n13",
    "n14",
    "n15",
    "n16",
    "n17",
    "n18",
    "n19",
    "n20",
    "n21",
    "n22",
    "n23",
    "n24",
    "n25",
    "n26",
    "n27",
    "n28",
    "n29",
    "n30",
    "notice_12301",
    "notice_12318",
    "notice_12336",
    "notice_12349",
    "notice_12350",
    "notice_96119",
    "notice_62112345",
    "notice_62912345",
    "notice_64912345",
    "notice_66976996",
    "notice_67175706",
    "notice_69812345",
    "position_after",
    "position_before",
    "queue_busy",
    "survey",
    "survey_none",
    "survey_thanks",
    "wait_before",
    "wait_minutes",
    "welcome",
];

/// Every prompt the platform can play, by name (the WAV file name without `.wav`), decoded to
/// 8 kHz PCM.
#[derive(Clone)]
pub struct PromptBook {
    /// Where the prompts came from: a directory, or [`EMBEDDED_SOURCE`].
    source: String,
    prompts: BTreeMap<String, Arc<Prompt>>,
}

/// Why prompts could not be loaded: names the file.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The directory could not be listed (missing, not a directory, no permission).
    #[error("cannot read prompts directory {}: {source}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A WAV file could not be read.
    #[error("cannot read prompt {}: {source}", file.display())]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A WAV file is not a prompt the platform can play.
    #[error("prompt {} does not load: {source}", file.display())]
    Wav {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        source: WavError,
    },
    /// A WAV file whose name is not UTF-8, so no plan could name it.
    #[error("prompt file name {} is not UTF-8", file.display())]
    Name {
        /// The file.
        file: PathBuf,
    },
}

impl PromptBook {
    /// The prompts compiled into the binary: every WAV under `deploy/prompts`.
    ///
    /// # Errors
    ///
    /// A compiled-in WAV that does not decode (the unit tests decode them all).
    pub fn embedded() -> Result<Self, PromptError> {
        let mut prompts = BTreeMap::new();
        for &(name, bytes) in EMBEDDED {
            let prompt = media::wav::parse(bytes).map_err(|source| PromptError::Wav {
                file: Path::new("deploy/prompts").join(format!("{name}.wav")),
                source,
            })?;
            prompts.insert(name.to_owned(), Arc::new(prompt));
        }
        Ok(Self {
            source: EMBEDDED_SOURCE.to_owned(),
            prompts,
        })
    }

    /// Every `*.wav` in `dir` (not its subdirectories); other files are ignored.
    ///
    /// # Errors
    ///
    /// The directory cannot be listed, or a WAV cannot be read or decoded; the error names
    /// the directory or file.
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let read_dir = |source| PromptError::ReadDir {
            dir: dir.to_owned(),
            source,
        };
        let mut prompts = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(read_dir)? {
            let path = entry.map_err(read_dir)?.path();
            let is_wav = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
            if !is_wav || path.is_dir() {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                return Err(PromptError::Name { file: path });
            };
            let name = name.to_owned();
            let bytes = std::fs::read(&path).map_err(|source| PromptError::ReadFile {
                file: path.clone(),
                source,
            })?;
            let prompt = media::wav::parse(&bytes)
                .map_err(|source| PromptError::Wav { file: path, source })?;
            prompts.insert(name, Arc::new(prompt));
        }
        Ok(Self {
            source: dir.display().to_string(),
            prompts,
        })
    }

    /// The prompt called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Prompt>> {
        self.prompts.get(name)
    }

    /// Whether there is a prompt called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.prompts.contains_key(name)
    }

    /// How many prompts there are.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// The number prompt `"n<N>"` for 1..=30, saturating at 30 (callers are told "30" when 30
    /// or more wait). `None` for 0 or when the prompt is missing.
    pub fn number(&self, n: u32) -> Option<&Arc<Prompt>> {
        if n == 0 {
            return None;
        }
        self.get(&format!("n{}", n.min(MAX_NUMBER)))
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.prompts.keys().map(String::as_str)
    }

    /// Where the prompts came from: the directory, or [`EMBEDDED_SOURCE`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for PromptBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptBook")
            .field("source", &self.source)
            .field("len", &self.prompts.len())
            .field("names", &self.prompts.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompts_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prompts")
    }

    #[test]
    fn embedded_list_is_every_wav_of_deploy_prompts() {
        let mut on_disk: Vec<String> = std::fs::read_dir(prompts_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = EMBEDDED.iter().map(|(n, _)| (*n).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "update EMBEDDED in prompts.rs");
    }

    #[test]
    fn embedded_equals_the_directory() {
        let embedded = PromptBook::embedded().unwrap();
        let dir = PromptBook::load_dir(&prompts_dir()).unwrap();
        assert_eq!(embedded.len(), 52);
        assert!(!embedded.is_empty());
        assert_eq!(embedded.source(), EMBEDDED_SOURCE);
        assert!(embedded.names().eq(dir.names()));
        for name in embedded.names() {
            assert_eq!(embedded.get(name), dir.get(name), "{name}");
            assert!(!embedded.get(name).unwrap().samples().is_empty(), "{name}");
        }
        for fixed in ["welcome", "music", "survey", "survey_thanks", "survey_none"] {
            assert!(embedded.contains(fixed), "{fixed}");
        }
        let debug = format!("{embedded:?}");
        assert!(
            debug.contains("len: 52") && debug.contains("\"welcome\""),
            "{debug}"
        );
    }

    #[test]
    fn numbers_saturate_at_thirty() {
        let book = PromptBook::embedded().unwrap();
        assert!(book.number(0).is_none());
        assert!(Arc::ptr_eq(
            book.number(1).unwrap(),
            book.get("n1").unwrap()
        ));
        assert!(Arc::ptr_eq(
            book.number(17).unwrap(),
            book.get("n17").unwrap()
        ));
        assert!(Arc::ptr_eq(
            book.number(30).unwrap(),
            book.get("n30").unwrap()
        ));
        assert!(Arc::ptr_eq(
            book.number(31).unwrap(),
            book.get("n30").unwrap()
        ));
        assert!(Arc::ptr_eq(
            book.number(u32::MAX).unwrap(),
            book.get("n30").unwrap()
        ));
    }

    #[test]
    fn directory_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("hotline-prompts-unit-{}", std::process::id()));
        let missing = dir.join("nope");
        let e = PromptBook::load_dir(&missing).unwrap_err();
        assert!(matches!(e, PromptError::ReadDir { .. }));
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("readme.txt"), "not a prompt").unwrap();
        std::fs::write(dir.join("ok.wav"), media::wav::write_pcm16(&[0, 1, 2])).unwrap();
        let book = PromptBook::load_dir(&dir).unwrap();
        assert_eq!(book.names().collect::<Vec<_>>(), ["ok"]);
        std::fs::write(dir.join("bad.wav"), b"RIFF nonsense").unwrap();
        let e = PromptBook::load_dir(&dir).unwrap_err();
        assert!(
            e.to_string()
                .contains(&dir.join("bad.wav").display().to_string()),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
