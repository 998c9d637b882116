//! Building responses straight into bytes: error responses from the raw text of a message that
//! may not parse (RFC 3261 §8.2.6), and [`response_to`] for requests we accepted.

use bytes::Bytes;
use memchr::memmem;

use super::grammar::{name_addrs, AddrUse};
use super::lex::{is_token, trim, Kind};
use super::{Rejection, ValidRequest};
use crate::sip::Header;

/// The standard reason phrase for the codes this module produces (RFC 3261 §21).
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        483 => "Too Many Hops",
        501 => "Not Implemented",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Error",
    }
}

/// The header fields of a message the way rsipstack's parser splits them: lines end at LF
/// (a CR before it is dropped), the section ends at the first empty line, a line starting with
/// SP or HT continues the previous field, and a line without a colon is skipped.
struct LenientFields<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> LenientFields<'a> {
    fn line(&self, p: usize) -> (&'a [u8], usize) {
        let rest = &self.s[p..];
        match memchr::memchr(b'\n', rest) {
            Some(lf) => {
                let line = &rest[..lf];
                (line.strip_suffix(b"\r").unwrap_or(line), p + lf + 1)
            }
            None => (rest, self.s.len()),
        }
    }
}

impl<'a> Iterator for LenientFields<'a> {
    /// (name, raw value: from after the colon to the end of the last continuation line)
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pos >= self.s.len() {
                return None;
            }
            let (line, mut next) = self.line(self.pos);
            if line.is_empty() {
                self.pos = self.s.len();
                return None;
            }
            let start = self.pos;
            let mut end = start + line.len();
            while next < self.s.len() && matches!(self.s[next], b' ' | b'\t') {
                let (l, n) = self.line(next);
                end = next + l.len();
                next = n;
            }
            self.pos = next;
            if matches!(line[0], b' ' | b'\t') {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            return Some((trim(&line[..colon]), &self.s[start + colon + 1..end]));
        }
    }
}

/// Writes a raw (possibly folded) value unfolded the way rsipstack does it: each line trimmed,
/// continuation lines joined with one space. Stray CRs become spaces and invalid UTF-8 is
/// replaced, so the result is one well-formed header line.
fn put_value(out: &mut Vec<u8>, raw: &[u8]) {
    for (n, piece) in raw.split(|&b| b == b'\n').enumerate() {
        let piece = trim(piece);
        if n > 0 {
            out.push(b' ');
        }
        match std::str::from_utf8(piece) {
            Ok(s) => out.extend(s.bytes().map(|b| if b == b'\r' { b' ' } else { b })),
            Err(_) => out.extend(String::from_utf8_lossy(piece).bytes().map(|b| {
                if b == b'\r' {
                    b' '
                } else {
                    b
                }
            })),
        }
    }
}

fn put_header(out: &mut Vec<u8>, name: &str, raw: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    put_value(out, raw);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal form of `n`.
pub(super) fn put_num(out: &mut Vec<u8>, n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn put_status_line(out: &mut Vec<u8>, status: u16, reason: &str) {
    out.extend_from_slice(b"SIP/2.0 ");
    put_num(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A To tag for a response we generate without keeping state: the same request (same
/// Call-ID and top branch) always gets the same tag, so a retransmission is answered
/// identically (RFC 3261 §8.2.6.2 asks for a tag; §17.2 for identical retransmissions).
pub(super) fn stateless_tag(call_id: &[u8], branch: &[u8]) -> [u8; 16] {
    // FNV-1a, 64 bits: stable across builds and processes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id.iter().chain(b"\0").chain(branch) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = b"0123456789abcdef"[((h >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// The branch parameter of the first via-parm, found leniently.
fn lenient_branch(via: &[u8]) -> &[u8] {
    let first = via.split(|&b| b == b',').next().unwrap_or_default();
    let Some(at) = first
        .windows(6)
        .position(|w| w.eq_ignore_ascii_case(b"branch"))
    else {
        return &[];
    };
    let rest = trim(&first[at + 6..]);
    let Some(rest) = rest.strip_prefix(b"=") else {
        return &[];
    };
    let rest = trim(rest);
    let end = rest
        .iter()
        .position(|&b| !is_token(b))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Whether a To value already carries a tag; strict when the value parses, otherwise a plain
/// search for `;tag=` after the URI.
fn has_tag(to: &[u8]) -> bool {
    match name_addrs(trim(to), AddrUse::Single) {
        Ok(tag) => tag.is_some(),
        Err(_) => {
            let after = memchr::memrchr(b'>', to).map_or(to, |p| &to[p..]);
            let compact: Vec<u8> = after
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .map(u8::to_ascii_lowercase)
                .collect();
            memmem::find(&compact, b";tag=").is_some()
        }
    }
}

/// Writes `Warning: 399 hotline "<detail>"` with the detail made safe for a quoted string.
fn put_warning(out: &mut Vec<u8>, detail: &str) {
    out.extend_from_slice(b"Warning: 399 hotline \"");
    for ch in detail.chars().take(200) {
        match ch {
            '"' | '\\' => out.push(b'\''),
            c if c.is_control() => out.push(b' '),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.extend_from_slice(b"\"\r\n");
}

/// The header section of a raw message: after the first CRLF, up to the empty line or the end.
fn head_of(msg: &[u8]) -> &[u8] {
    let head_start = memmem::find(msg, b"\r\n").map_or(msg.len(), |p| p + 2);
    let head_end = memmem::find(&msg[head_start.saturating_sub(2)..], b"\r\n\r\n")
        .map_or(msg.len(), |p| head_start.saturating_sub(2) + p + 2);
    &msg[head_start..head_end.max(head_start)]
}

/// Whether a raw message has a Via header field.
pub(super) fn has_via(msg: &[u8]) -> bool {
    LenientFields {
        s: head_of(msg),
        pos: 0,
    }
    .any(|(name, _)| Kind::of(name) == Kind::Via)
}

/// The error response to a request given as raw bytes (start line and headers; the body is
/// ignored): status line with the standard phrase, every Via in order, From, To (with a tag
/// added when it has none), Call-ID and CSeq as far as they exist, a Warning carrying
/// `detail`, the `extra` header fields, `Server` and `Content-Length: 0` (RFC 3261 §8.2.6).
pub(super) fn rejection(
    msg: &[u8],
    status: u16,
    detail: &str,
    extra: &[(&str, &str)],
) -> Rejection {
    let head = head_of(msg);
    let mut out = Vec::with_capacity(msg.len().min(2048) + 256);
    put_status_line(&mut out, status, reason(status));
    let (mut from, mut to, mut call_id, mut cseq, mut top_via) = (None, None, None, None, None);
    for (name, raw) in (LenientFields { s: head, pos: 0 }) {
        match Kind::of(name) {
            Kind::Via => {
                top_via.get_or_insert(raw);
                put_header(&mut out, "Via", raw);
            }
            Kind::From => _ = from.get_or_insert(raw),
            Kind::To => _ = to.get_or_insert(raw),
            Kind::CallId => _ = call_id.get_or_insert(raw),
            Kind::CSeq => _ = cseq.get_or_insert(raw),
            _ => {}
        }
    }
    if let Some(raw) = from {
        put_header(&mut out, "From", raw);
    }
    if let Some(raw) = to {
        put_header(&mut out, "To", raw);
        if !has_tag(raw) {
            // Undo the CRLF to append the tag to the same line.
            out.truncate(out.len() - 2);
            let branch = top_via.map_or(&[][..], lenient_branch);
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(&stateless_tag(trim(call_id.unwrap_or_default()), branch));
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(raw) = call_id {
        put_header(&mut out, "Call-ID", raw);
    }
    if let Some(raw) = cseq {
        put_header(&mut out, "CSeq", raw);
    }
    put_warning(&mut out, detail);
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Server: hotline\r\nContent-Length: 0\r\n\r\n");
    Rejection {
        status,
        detail: detail.to_owned(),
        bytes: Bytes::from(out),
    }
}

/// Build a response to a request we accepted (RFC 3261 §8.2.6.2).
///
/// Copies every Via (in order), From, To, Call-ID and CSeq from `req.request`'s headers; adds
/// `;tag=<to_tag>` to To when the request's To has no tag and `to_tag` is given; then writes
/// each of `extra_headers` (one full header line each, without CRLF), `Server: hotline`,
/// `Content-Type` when there is a body, `Content-Length` and the body. The bytes are written
/// directly; nothing goes through rsipstack's serializer.
pub fn response_to(
    req: &ValidRequest,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra_headers: &[&str],
    body: Option<(&str, &[u8])>,
) -> Bytes {
    let body_len = body.map_or(0, |(_, b)| b.len());
    let mut out = Vec::with_capacity(512 + body_len);
    put_status_line(&mut out, status, reason);
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for h in req.request.headers.iter() {
        match h {
            Header::Via(v) => put_line(&mut out, "Via", v.value()),
            Header::From(v) => _ = from.get_or_insert(v.value()),
            Header::To(v) => _ = to.get_or_insert(v.value()),
            Header::CallId(v) => _ = call_id.get_or_insert(v.value()),
            Header::CSeq(v) => _ = cseq.get_or_insert(v.value()),
            _ => {}
        }
    }
    if let Some(v) = from {
        put_line(&mut out, "From", v);
    }
    if let Some(v) = to {
        out.extend_from_slice(b"To: ");
        out.extend_from_slice(v.as_bytes());
        if let (None, Some(tag)) = (&req.to_tag, to_tag) {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(tag.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    if let Some(v) = call_id {
        put_line(&mut out, "Call-ID", v);
    }
    if let Some(v) = cseq {
        put_line(&mut out, "CSeq", v);
    }
    for line in extra_headers {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Server: hotline\r\n");
    if let Some((content_type, _)) = body {
        put_line(&mut out, "Content-Type", content_type);
    }
    out.extend_from_slice(b"Content-Length: ");
    put_num(&mut out, body_len);
    out.extend_from_slice(b"\r\n\r\n");
    if let Some((_, b)) = body {
        out.extend_from_slice(b);
    }
    Bytes::from(out)
}

fn put_line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}
