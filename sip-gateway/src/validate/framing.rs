//! Stream framing (RFC 3261 §18.3): on TCP, Content-Length is the only way to know where a
//! message ends, so it is mandatory and must be well-formed.

use memchr::memmem;

use super::grammar::number;
use super::lex::{Fields, Kind};
use super::{answer, oversize_answer, Limits, Rejection};

/// TCP stream framing (RFC 3261 §18.3): where the first message in a buffer ends.
#[derive(Debug)]
pub enum Frame {
    /// the first `usize` bytes are one complete message (headers + Content-Length body)
    Complete(usize),
    /// `usize` bytes of leading CRLFs (keep-alives) to discard
    KeepAlive(usize),
    /// need more bytes
    Incomplete,
    /// the stream cannot be framed (no/invalid Content-Length on a stream, header block over the limit): send `Rejection` if Some, then close the connection
    Invalid(Option<Rejection>),
}

/// TCP stream framing (RFC 3261 §18.3): find where the first message in `buf` ends.
///
/// Leading CRLFs (RFC 5626 §3.5.1 keep-alives, RFC 3261 §7.5) come back as
/// [`Frame::KeepAlive`] to discard before calling again. A message needs its empty line and a
/// single, numeric Content-Length; anything longer than [`Limits::max_message_bytes`] is
/// [`Frame::Invalid`] (with a 513 when its request line and Via can be read).
pub fn frame(buf: &[u8], limits: &Limits) -> Frame {
    let mut n = 0;
    while buf[n..].starts_with(b"\r\n") {
        n += 2;
    }
    if n > 0 {
        return Frame::KeepAlive(n);
    }
    if buf.is_empty() || buf == b"\r" {
        return Frame::Incomplete;
    }
    let limit = limits.max_message_bytes;
    let Some(blank) = memmem::find(buf, b"\r\n\r\n") else {
        return if buf.len() > limit {
            Frame::Invalid(oversize_answer(buf, limit))
        } else {
            Frame::Incomplete
        };
    };
    let body_start = blank + 4;
    if body_start > limit {
        return Frame::Invalid(oversize_answer(buf, limit));
    }
    let head_block = &buf[..body_start];
    let line_end = memmem::find(buf, b"\r\n").unwrap_or(blank);
    let head = buf.get(line_end + 2..blank + 2).unwrap_or_default();
    let mut content_length = None;
    for field in Fields::new(head).flatten() {
        if Kind::of(field.name) == Kind::ContentLength {
            if content_length.is_some() {
                return Frame::Invalid(answer(
                    head_block,
                    400,
                    "more than one Content-Length",
                    &[],
                ));
            }
            content_length = Some(number(field.value));
        }
    }
    let length = match content_length {
        None => {
            let detail = "Content-Length is required on a stream";
            return Frame::Invalid(answer(head_block, 400, detail, &[]));
        }
        Some(None) => {
            let detail = "Content-Length is not a non-negative integer";
            return Frame::Invalid(answer(head_block, 400, detail, &[]));
        }
        Some(Some(n)) => n,
    };
    match usize::try_from(length)
        .ok()
        .and_then(|l| body_start.checked_add(l))
    {
        Some(total) if total <= limit => {
            if buf.len() < total {
                Frame::Incomplete
            } else {
                Frame::Complete(total)
            }
        }
        _ => Frame::Invalid(oversize_answer(head_block, limit)),
    }
}
