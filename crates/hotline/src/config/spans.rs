//! Where each key of the file is: dotted key paths to lines and back.
//!
//! The typed structs carry no spans. Instead the text is deserialized a second time, by the
//! `toml` crate itself, into a flat list of (dotted path, byte span) items; a semantic error
//! names its key path and gets the line from here, and a serde error's span is turned into the
//! key path here. For text that is not TOML at all, [`syntax_location`] reads the header and key
//! of the offending line directly.
//!
//! The `toml` crate hands out spans only to `toml::Spanned<T>`, which fails on tables that have
//! no span of their own (the implicit `queues` in `[queues.12345]`). So this module speaks the
//! same protocol as `serde_spanned` 0.6 (the version `toml` 0.8 uses): it asks for a struct with
//! the private names below and accepts either the spanned form or the plain value.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

const SPANNED: &str = "$__serde_spanned_private_Spanned";
const START: &str = "$__serde_spanned_private_start";
const END: &str = "$__serde_spanned_private_end";
const VALUE: &str = "$__serde_spanned_private_value";
const FIELDS: &[&str] = &[START, END, VALUE];
/// `toml_datetime` hands datetimes out as a one-field map with a name starting like this.
const PRIVATE: &str = "$__toml_private";

/// What a value is, for naming: an element of an array of scalars is named by its array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Array,
    Table,
}

#[derive(Debug)]
struct Item {
    path: String,
    span: Range<usize>,
    /// The span is the key's (else the value's).
    key: bool,
    shape: Shape,
}

/// The locations of every key and value of one TOML text.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    items: Vec<Item>,
    /// Path to the index of its best item (the key if it has one, else the value).
    by_path: HashMap<String, usize>,
}

impl Spans {
    /// Reads the locations of `text`; if it is not TOML, only lines are known.
    pub(crate) fn new(text: &str) -> Self {
        let mut spans = Self {
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            ..Self::default()
        };
        let seed = ValueSeed {
            path: String::new(),
            items: &mut spans.items,
            spanned: false,
        };
        if seed.deserialize(toml::Deserializer::new(text)).is_err() {
            spans.items.clear();
        }
        for (i, item) in spans.items.iter().enumerate() {
            spans
                .by_path
                .entry(item.path.clone())
                .and_modify(|best| {
                    if item.key && !spans.items[*best].key {
                        *best = i;
                    }
                })
                .or_insert(i);
        }
        spans
    }

    /// Whether nothing was read (the text is not TOML).
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// The line of a key path, or of the nearest enclosing key that is in the file.
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(&i) = self.by_path.get(path) {
                return Some(self.line_at(self.items[i].span.start));
            }
            path = parent(path)?;
        }
    }

    /// How to name `path` to a person: elements of arrays of scalars by their array.
    pub(crate) fn display(&self, path: &str) -> String {
        match self.by_path.get(path) {
            Some(&i) if self.items[i].shape == Shape::Scalar && path.ends_with(']') => {
                parent(path).unwrap_or(path).to_owned()
            }
            _ => path.to_owned(),
        }
    }

    /// The innermost table holding the byte offset (`""` for the root): where serde places a
    /// missing key.
    pub(crate) fn table_at(&self, offset: usize) -> String {
        self.items
            .iter()
            .filter(|it| !it.key && it.shape == Shape::Table && it.span.contains(&offset))
            .min_by_key(|it| it.span.len())
            .map_or_else(String::new, |it| it.path.clone())
    }

    /// The key path whose key or value holds the byte offset (the innermost one).
    pub(crate) fn path_at(&self, offset: usize) -> Option<String> {
        self.items
            .iter()
            .filter(|it| {
                it.span.contains(&offset) || (it.span.is_empty() && it.span.start == offset)
            })
            .min_by_key(|it| (it.span.len(), usize::MAX - it.path.len()))
            .map(|it| self.display(&it.path))
    }
}

/// The enclosing path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// Joins a key to a path, quoting keys that would not read back as one key.
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '.' | '[' | ']' | '"' | '\''));
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{key:?}"),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}.{key:?}"),
    }
}

/// The 1-based line and a best-effort key path of a syntax error at `offset`, from the text
/// alone: the last table header above it and the key on its line.
pub(crate) fn syntax_location(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let mut header = String::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut path = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = strip_comment(line).trim();
        let is_line = i + 1 == line_no;
        if let Some(inner) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let name = clean_key(inner);
            let n = counts.entry(name.clone()).or_default();
            header = format!("{name}[{n}]");
            *n += 1;
            path.clone_from(&header);
        } else if let Some(inner) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = clean_key(inner);
            path.clone_from(&header);
        } else if let Some((key, _)) = trimmed.split_once('=').filter(|_| is_line) {
            let key = clean_key(key);
            path = if header.is_empty() {
                key
            } else {
                format!("{header}.{key}")
            };
        } else {
            path.clone_from(&header);
        }
        if is_line {
            break;
        }
    }
    (line_no, path)
}

/// The line without its comment (a `#` outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return &line[..i],
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            _ => {}
        }
    }
    line
}

/// `a . "b"` → `a.b`.
fn clean_key(raw: &str) -> String {
    raw.split('.')
        .map(|k| k.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

/// A key, with its span when the deserializer has one.
struct Key {
    name: String,
    span: Option<Range<usize>>,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_struct(SPANNED, FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_owned(),
            span: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut name) = (0, 0, String::new());
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                START => start = map.next_value()?,
                END => end = map.next_value()?,
                _ => name = map.next_value()?,
            }
        }
        Ok(Key {
            name,
            span: Some(start..end),
        })
    }
}

/// Records the value at `path` and everything under it.
struct ValueSeed<'a> {
    path: String,
    items: &'a mut Vec<Item>,
    /// The span of this value was already taken; read the plain value.
    spanned: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        if self.spanned {
            d.deserialize_any(ValueVisitor(self))
        } else {
            d.deserialize_struct(SPANNED, FIELDS, ValueVisitor(self))
        }
    }
}

struct ValueVisitor<'a>(ValueSeed<'a>);

impl ValueVisitor<'_> {
    fn child(&mut self, path: String) -> ValueSeed<'_> {
        ValueSeed {
            path,
            items: self.0.items,
            spanned: false,
        }
    }

    fn record(&mut self, path: String, span: Range<usize>, key: bool, shape: Shape) {
        self.0.items.push(Item {
            path,
            span,
            key,
            shape,
        });
    }

    /// One entry of a plain table whose key has been read.
    fn entry<'de, A: MapAccess<'de>>(&mut self, map: &mut A, key: Key) -> Result<(), A::Error> {
        let path = join(&self.0.path, &key.name);
        let shape = map.next_value_seed(self.child(path.clone()))?;
        if let Some(span) = key.span {
            self.record(path, span, true, shape);
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Shape, A::Error> {
        let mut i = 0;
        loop {
            let path = format!("{}[{i}]", self.0.path);
            if seq.next_element_seed(self.child(path))?.is_none() {
                return Ok(Shape::Array);
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Shape, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Ok(Shape::Table);
        };
        if first.span.is_none() && first.name == START {
            // The spanned form: start, end, then the value itself.
            let start: usize = map.next_value()?;
            let mut end = start;
            let mut shape = Shape::Scalar;
            while let Some(field) = map.next_key::<String>()? {
                if field == END {
                    end = map.next_value()?;
                } else {
                    let path = self.0.path.clone();
                    shape = map.next_value_seed(ValueSeed {
                        path,
                        items: self.0.items,
                        spanned: true,
                    })?;
                }
            }
            let path = self.0.path.clone();
            self.record(path, start..end, false, shape);
            return Ok(shape);
        }
        if first.span.is_none() && first.name.starts_with(PRIVATE) {
            map.next_value::<de::IgnoredAny>()?;
            return Ok(Shape::Scalar);
        }
        self.entry(&mut map, first)?;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            self.entry(&mut map, key)?;
        }
        Ok(Shape::Table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"top = 1
[[lines]]
number = "1"

[[lines]]
number = "2"
tags = ["a",
  "b"]

[queues.12348]
strategy = "x"
max_wait = { after = "5m", exit = "callback" }
[[queues.12348.tiers]]
pools = ["intake"]
"#;

    #[test]
    fn paths_have_lines() {
        let spans = Spans::new(TEXT);
        assert_eq!(spans.line_of("top"), Some(1));
        assert_eq!(spans.line_of("lines[0].number"), Some(3));
        assert_eq!(spans.line_of("lines[1].number"), Some(6));
        assert_eq!(spans.line_of("lines[1].tags[1]"), Some(8));
        assert_eq!(spans.line_of("queues.12348"), Some(10));
        assert_eq!(spans.line_of("queues.12348.strategy"), Some(11));
        assert_eq!(spans.line_of("queues.12348.max_wait.exit"), Some(12));
        assert_eq!(spans.line_of("queues.12348.tiers[0].pools"), Some(14));
        assert_eq!(spans.line_of("queues.12348.nothing"), Some(10));
        assert_eq!(spans.line_of("nothing"), None);
        assert_eq!(spans.display("lines[1].tags[1]"), "lines[1].tags");
        assert_eq!(spans.display("lines[1]"), "lines[1]");
    }

    #[test]
    fn offsets_have_paths() {
        let spans = Spans::new(TEXT);
        let at = |needle: &str| spans.path_at(TEXT.find(needle).unwrap()).unwrap();
        assert_eq!(at("\"x\""), "queues.12348.strategy");
        assert_eq!(at("strategy"), "queues.12348.strategy");
        assert_eq!(at("\"callback\""), "queues.12348.max_wait.exit");
        assert_eq!(at("\"b\""), "lines[1].tags");
        assert_eq!(at("\"intake\""), "queues.12348.tiers[0].pools");
    }

    #[test]
    fn syntax_errors_are_located_from_the_text() {
        let text = "[a]\nx = 1\n[[b]]\n[[b]]\ny = = 2\n";
        assert_eq!(
            syntax_location(text, text.find("= 2").unwrap()),
            (5, "b[1].y".into())
        );
        assert_eq!(syntax_location(text, 0), (1, "a".into()));
        let text = "[a]\nx = 1\n[b   # the b table\ny = 2\n";
        assert_eq!(syntax_location(text, 12), (3, "b".into()));
        let text = "[a]\nx = \"#\" # c\n";
        assert_eq!(syntax_location(text, 5), (2, "a.x".into()));
    }

    #[test]
    fn keys_are_quoted_when_needed() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "人社"), "a.人社");
        assert_eq!(join("a", "b.c"), "a.\"b.c\"");
    }
}
