//! Bytes, not strings: character classes, a cursor over header values and the strict
//! header-field splitter (RFC 3261 §7.3, §25.1).
//!
//! Everything here works on the raw datagram. A header value is a slice of the input that may
//! still contain folds (`CRLF` followed by SP/HT); the cursor treats CR and LF as whitespace, so
//! no value is ever copied to unfold it.

use memchr::memchr2;

const TOKEN: u8 = 1;
const URIC: u8 = 4;
const WS: u8 = 8;

/// One lookup per byte: which RFC 3261 §25.1 classes it belongs to.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alnum = c.is_ascii_alphanumeric();
        let mut v = 0;
        // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
        if alnum
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            v |= TOKEN;
        }
        // Characters that may appear unescaped somewhere in a URI (RFC 3261 §25.1, RFC 3986):
        // unreserved, reserved and "%" (checked to start an escape separately).
        if alnum
            || matches!(
                c,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'%'
                    | b';'
                    | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'['
                    | b']'
                    | b'#'
            )
        {
            v |= URIC;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            v |= WS;
        }
        t[b] = v;
        b += 1;
    }
    t
};

/// A `token` character (RFC 3261 §25.1).
#[inline]
pub(super) fn is_token(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}

/// A character allowed unescaped somewhere in a URI.
#[inline]
pub(super) fn is_uric(b: u8) -> bool {
    CLASS[b as usize] & URIC != 0
}

/// Linear whitespace inside a (possibly folded) header value: SP, HT, and the CR LF of a fold.
#[inline]
pub(super) fn is_ws(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

/// Whether a non-empty slice is made of token characters only.
pub(super) fn all_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Trims linear whitespace (including fold CRLFs) from both ends.
pub(super) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ws(b)).map_or(start, |p| p + 1);
    &s[start..end]
}

/// A cursor over one header value.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    pub(super) fn new(s: &'a [u8]) -> Self {
        Self { s, i: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    pub(super) fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    pub(super) fn pos(&self) -> usize {
        self.i
    }

    pub(super) fn slice(&self, from: usize) -> &'a [u8] {
        &self.s[from..self.i]
    }

    pub(super) fn bump(&mut self) {
        self.i += 1;
    }

    /// Skips linear whitespace; true when any was skipped.
    pub(super) fn ws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
        self.i > start
    }

    /// Consumes `c` if it is next.
    pub(super) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `SWS c SWS` (RFC 3261 §25.1: SEMI, COLON, SLASH, EQUAL, COMMA); on a miss nothing moves.
    pub(super) fn sep(&mut self, c: u8) -> bool {
        let save = self.i;
        self.ws();
        if self.eat(c) {
            self.ws();
            true
        } else {
            self.i = save;
            false
        }
    }

    /// The longest run of bytes in `class` (possibly empty).
    pub(super) fn take_while(&mut self, class: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&class) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A token (possibly empty).
    pub(super) fn token(&mut self) -> &'a [u8] {
        self.take_while(is_token)
    }

    /// A quoted-string starting at the cursor (`"` ... `"`, RFC 3261 §25.1), returning its
    /// content without the quotes. Control characters are allowed only as quoted-pairs.
    pub(super) fn quoted(&mut self) -> Result<&'a [u8], &'static str> {
        if !self.eat(b'"') {
            return Err("expected a quoted string");
        }
        let start = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err("unterminated quoted string");
            };
            self.i += 1;
            match b {
                b'"' => return Ok(&self.s[start..self.i - 1]),
                b'\\' => match self.peek() {
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                    Some(n) if n != b'\r' && n != b'\n' && n < 0x80 => self.i += 1,
                    _ => return Err("bad escape in quoted string"),
                },
                b'\t' | b' ' | b'\r' | b'\n' => {}
                0..=0x1f | 0x7f => return Err("control character in quoted string"),
                _ => {}
            }
        }
    }
}

/// One header field as it stands in the message: the name and the value with surrounding
/// whitespace trimmed (folds inside the value are left in place).
#[derive(Debug, Clone, Copy)]
pub(super) struct Field<'a> {
    pub(super) name: &'a [u8],
    pub(super) value: &'a [u8],
}

/// Splits a header section into fields, strictly: lines end in CRLF, a continuation line
/// starts with SP or HT, a field is `token *WSP ":" value`, and a control character is allowed
/// only right after a backslash (a quoted-pair). A bad line yields an error and the splitter
/// moves on, so the caller can still collect what it needs for an error response.
#[derive(Debug)]
pub(super) struct Fields<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// `head` runs from the first header line to the CRLF ending the last one (or the end of
    /// the message when there is no empty line).
    pub(super) fn new(head: &'a [u8]) -> Self {
        Self { s: head, pos: 0 }
    }

    /// Where the line starting at `p` ends: (end of content, start of the next line, bare CR/LF).
    fn line_end(&self, p: usize) -> (usize, usize, bool) {
        match memchr2(b'\r', b'\n', &self.s[p..]) {
            None => (self.s.len(), self.s.len(), false),
            Some(off) => {
                let e = p + off;
                if self.s[e] == b'\r' && self.s.get(e + 1) == Some(&b'\n') {
                    (e, e + 2, false)
                } else {
                    (e, e + 1, true)
                }
            }
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.s.len() {
            return None;
        }
        let start = self.pos;
        let mut bad: Option<&'static str> = None;
        if matches!(self.s[start], b' ' | b'\t') {
            bad = Some("header section starts with whitespace");
        }
        let (mut end, mut next, bare) = self.line_end(start);
        let first_end = end;
        if bare {
            bad = bad.or(Some("bare CR or LF in header section"));
        }
        while next < self.s.len() && matches!(self.s[next], b' ' | b'\t') {
            let (e, n, bare) = self.line_end(next);
            if bare {
                bad = bad.or(Some("bare CR or LF in header section"));
            }
            end = e;
            next = n;
        }
        self.pos = next;
        if let Some(e) = bad {
            return Some(Err(e));
        }
        let line = &self.s[start..first_end];
        let Some(colon) = memchr::memchr(b':', line) else {
            return Some(Err("header line without a colon"));
        };
        let mut name_end = colon;
        while name_end > 0 && matches!(line[name_end - 1], b' ' | b'\t') {
            name_end -= 1;
        }
        let name = &line[..name_end];
        if !all_token(name) {
            return Some(Err("header name is not a token"));
        }
        let value = &self.s[start + colon + 1..end];
        let mut prev = 0u8;
        for &b in value {
            if (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n') || b == 0x7f) && prev != b'\\' {
                return Some(Err("control character in header value"));
            }
            prev = if prev == b'\\' { 0 } else { b };
        }
        Some(Ok(Field {
            name,
            value: trim(value),
        }))
    }
}

/// The headers the validator looks at, by full or compact name (RFC 3261 §7.3.3, §20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Require,
    Expires,
    Date,
    Contact,
    Other,
}

impl Kind {
    /// Classifies a header name (case-insensitive).
    pub(super) fn of(name: &[u8]) -> Self {
        let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        match name.len() {
            1 => match name[0].to_ascii_lowercase() {
                b'v' => Self::Via,
                b'f' => Self::From,
                b't' => Self::To,
                b'i' => Self::CallId,
                b'l' => Self::ContentLength,
                b'c' => Self::ContentType,
                b'e' => Self::ContentEncoding,
                b'm' => Self::Contact,
                _ => Self::Other,
            },
            2 if is("to") => Self::To,
            3 if is("via") => Self::Via,
            4 if is("from") => Self::From,
            4 if is("cseq") => Self::CSeq,
            4 if is("date") => Self::Date,
            7 if is("call-id") => Self::CallId,
            7 if is("require") => Self::Require,
            7 if is("expires") => Self::Expires,
            7 if is("contact") => Self::Contact,
            12 if is("max-forwards") => Self::MaxForwards,
            12 if is("content-type") => Self::ContentType,
            14 if is("content-length") => Self::ContentLength,
            16 if is("content-encoding") => Self::ContentEncoding,
            _ => Self::Other,
        }
    }

    /// Headers that may appear at most once (RFC 3261 §7.3.1, §20).
    pub(super) fn single(self) -> bool {
        matches!(
            self,
            Self::From
                | Self::To
                | Self::CallId
                | Self::CSeq
                | Self::MaxForwards
                | Self::ContentLength
                | Self::ContentType
                | Self::Expires
                | Self::Date
        )
    }
}
