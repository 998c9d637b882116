//! Strict validation in front of everything (issue 2, item 4).
//!
//! Every byte string that arrives from the network passes through [`validate`] before any
//! other code sees it. The result is a [`Verdict`]: a well-formed request or response with its
//! routing facts extracted, a ready-made error response to send back, or a reason to drop.
//! Parsing itself is rsipstack's; the checks around it are ours.
//!
//! # Contract
//!
//! - UDP: call [`validate`] once per datagram.
//! - TCP: call [`frame`] on the connection's buffer until it stops returning
//!   [`Frame::Complete`] or [`Frame::KeepAlive`]; hand each complete message to [`validate`].
//! - [`Verdict::Reject`]: send [`Rejection::bytes`] to the source and do nothing else.
//!   [`Verdict::Drop`]: send nothing; count the [`DropReason`].
//! - [`response_to`] builds every response the gateway generates for a request it accepted.
//!
//! Pure functions: no I/O, no clock, no state.
//!
//! # Checks on a request, in order (the first failure decides)
//!
//! | check | answer |
//! |---|---|
//! | only CRLFs | [`DropReason::KeepAlive`] |
//! | larger than [`Limits::max_message_bytes`] | 513 Message Too Large (dropped when no request line and Via can be read) |
//! | no request line we could answer (garbage, HTTP, …) | [`DropReason::Unanswerable`] |
//! | Request-Line not `Method SP Request-URI SP SIP-Version` | 400 (RFC 4475 §3.1.2.9–10) |
//! | SIP-Version not `SIP/2.0` | 505 Version Not Supported |
//! | method not in [`KNOWN_METHODS`] (case-sensitive) | 501 Not Implemented + `Allow` |
//! | Request-URI scheme not `sip`/`sips`/`tel` | 416 Unsupported URI Scheme |
//! | malformed Request-URI, header line, or header value; missing Via/From/To/Call-ID/CSeq; duplicated single-valued header; bad CSeq, Max-Forwards, Content-Length, Expires, Date; body without Content-Type; Content-Length past the end | 400 Bad Request |
//! | Require with a tag not in [`SUPPORTED_OPTION_TAGS`] (not for ACK/CANCEL) | 420 Bad Extension + `Unsupported` |
//! | body type not accepted for the method, or Content-Encoding not identity | 415 + `Accept` / `Accept-Encoding` |
//! | Max-Forwards 0 on a request we would forward | 483 Too Many Hops |
//! | rsipstack cannot parse the message or the From, To, top Via or Contact it will be asked for | 400 Bad Request |
//!
//! An ACK is never answered: where another request would be rejected, an ACK is dropped.
//! A response that fails any check is dropped (RFC 3261 §18.1.2). Bytes after the
//! Content-Length body are discarded (RFC 3261 §18.3).

mod framing;
mod grammar;
mod lex;
mod reject;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use memchr::memmem;

use crate::sip::{
    parser::parse_message, typed, Auth, Header, Headers, HostWithPort, Method, Request, Response,
    Scheme, SipMessage, Uri,
};
pub use framing::{frame, Frame};
use grammar::{AddrUse, Checked, RequestUri, UriError, ViaParm};
use lex::{all_token, Fields, Kind};
pub use reject::response_to;

/// The methods we implement, as they must be written (methods are case-sensitive tokens:
/// `invite` and `RE%47IST%45R` are unknown). Sent in `Allow` with a 501.
pub const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "INFO",
    "UPDATE",
    "PRACK",
    "REFER",
    "NOTIFY",
    "SUBSCRIBE",
    "MESSAGE",
    "PUBLISH",
];

/// Option tags we support in `Require` (RFC 3261 §8.2.2.3); any other gets a 420.
pub const SUPPORTED_OPTION_TAGS: &[&str] = &[];

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE, PUBLISH";

/// Limits applied before parsing.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A message (or a datagram) longer than this is refused with 513, or dropped.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
        }
    }
}

/// What to do with one message.
#[derive(Debug)]
pub enum Verdict {
    /// A request that passed every check.
    Request(Box<ValidRequest>),
    /// A response that passed every check.
    Response(Box<ValidResponse>),
    /// Send `Rejection::bytes` back to the source; nothing else happens.
    Reject(Rejection),
    /// Nothing is sent; the caller counts it.
    Drop(DropReason),
}

/// A request that passed validation, with the facts routing needs already extracted.
#[derive(Debug)]
pub struct ValidRequest {
    /// The request as rsipstack parsed it (body limited to Content-Length).
    pub request: Request,
    /// The method (always one of [`KNOWN_METHODS`]).
    pub method: Method,
    /// Call-ID, as written.
    pub call_id: String,
    /// From tag, when present.
    pub from_tag: Option<String>,
    /// To tag, when present (an in-dialog request).
    pub to_tag: Option<String>,
    /// CSeq number.
    pub cseq: u32,
    /// top Via's branch parameter ("" when absent)
    pub branch: String,
    /// top Via's sent-by (`host[:port]`) as written, without the LWS RFC 3261 allows around the colon
    pub via_sent_by: String,
    /// 70 when absent
    pub max_forwards: u32,
    /// lowercased media type without parameters, e.g. "application/sdp"
    pub content_type: Option<String>,
}

/// A response that passed validation.
#[derive(Debug)]
pub struct ValidResponse {
    /// The response as rsipstack parsed it.
    pub response: Response,
    /// Status code, 100–699.
    pub status: u16,
    /// Call-ID, as written.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// CSeq method.
    pub cseq_method: Method,
    /// top Via's branch parameter ("" when absent)
    pub branch: String,
    /// To tag, when present.
    pub to_tag: Option<String>,
}

/// An error response ready to send back to where the request came from.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The status code (400, 415, 416, 420, 483, 501, 505 or 513).
    pub status: u16,
    /// a short human reason (goes in logs/metrics and in a `Warning: 399 hotline "..."` header)
    pub detail: String,
    /// the complete response to send back to the source
    pub bytes: Bytes,
}

/// Why a message was dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// a CRLF keep-alive (RFC 5626 §3.5.1) — not an error
    KeepAlive,
    /// a response that fails any check (RFC 3261 §18.1.2: dropped silently)
    MalformedResponse(String),
    /// an ACK that would have been rejected (ACK is never answered), or garbage with no start line we can answer
    Unanswerable(String),
}

/// Validate one UDP datagram or one message framed by [`frame`].
///
/// Never panics, whatever the bytes; see the module documentation for the checks and their
/// order.
pub fn validate(datagram_or_framed_message: &[u8], limits: &Limits) -> Verdict {
    let input = datagram_or_framed_message;
    if !input.is_empty() && input.iter().all(|&b| b == b'\r' || b == b'\n') {
        return Verdict::Drop(DropReason::KeepAlive);
    }
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let mut msg = input;
    while let Some(rest) = msg.strip_prefix(b"\r\n") {
        msg = rest;
    }
    if msg.is_empty() {
        return unanswerable("empty message");
    }
    if input.len() > limits.max_message_bytes {
        return too_large(msg, limits.max_message_bytes);
    }
    let Some(line_end) = memmem::find(msg, b"\r\n") else {
        return unanswerable("no CRLF-terminated start line");
    };
    if msg.starts_with(b"SIP/") {
        response(msg, line_end)
    } else {
        request(msg, line_end)
    }
}

fn unanswerable(detail: &str) -> Verdict {
    Verdict::Drop(DropReason::Unanswerable(detail.to_owned()))
}

/// The pieces of a request line we could answer: a token method and something that looks
/// like a SIP-Version at the end.
#[derive(Debug)]
struct ReqLine<'a> {
    method: &'a [u8],
    uri: &'a [u8],
    version: &'a [u8],
    /// Exactly `Method SP Request-URI SP SIP-Version`.
    exact: bool,
}

fn request_line(line: &[u8]) -> Option<ReqLine<'_>> {
    let sp = memchr::memchr(b' ', line)?;
    let method = &line[..sp];
    if !all_token(method) {
        return None;
    }
    let end = line.iter().rposition(|&b| b != b' ' && b != b'\t')? + 1;
    let last = memchr::memrchr(b' ', &line[..end])?;
    let version = &line[last + 1..end];
    if version.len() < 4 || !version[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let uri = if last > sp {
        &line[sp + 1..last]
    } else {
        &[][..]
    };
    let exact =
        end == line.len() && !uri.is_empty() && !uri.iter().any(|&b| b == b' ' || b == b'\t');
    Some(ReqLine {
        method,
        uri,
        version,
        exact,
    })
}

/// `SIP-Version`: exactly `SIP/2.0` passes; another `SIP/x.y` is 505; anything else is 400.
fn check_version(v: &[u8]) -> Result<(), (u16, &'static str)> {
    if v == b"SIP/2.0" {
        return Ok(());
    }
    let rest = &v[4..];
    let numeric = memchr::memchr(b'.', rest)
        .is_some_and(|d| all_digits(&rest[..d]) && all_digits(&rest[d + 1..]));
    if !numeric {
        Err((400, "malformed SIP-Version"))
    } else if v.eq_ignore_ascii_case(b"SIP/2.0") {
        // RFC 3261 §7.1: case-insensitive, but MUST be sent upper-case (rsipstack insists).
        Err((400, "SIP-Version must be written SIP/2.0"))
    } else {
        Err((505, "only SIP/2.0 is supported"))
    }
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// The method for a name in [`KNOWN_METHODS`] (exact, case-sensitive match).
fn known_method(m: &[u8]) -> Option<Method> {
    Some(match m {
        b"INVITE" => Method::Invite,
        b"ACK" => Method::Ack,
        b"BYE" => Method::Bye,
        b"CANCEL" => Method::Cancel,
        b"OPTIONS" => Method::Options,
        b"REGISTER" => Method::Register,
        b"INFO" => Method::Info,
        b"UPDATE" => Method::Update,
        b"PRACK" => Method::PRack,
        b"REFER" => Method::Refer,
        b"NOTIFY" => Method::Notify,
        b"SUBSCRIBE" => Method::Subscribe,
        b"MESSAGE" => Method::Message,
        b"PUBLISH" => Method::Publish,
        _ => return None,
    })
}

/// Media types we accept in a request body, by method.
fn accepted_types(method: Method) -> &'static [&'static str] {
    match method {
        Method::Info => &[
            "application/sdp",
            "application/dtmf-relay",
            "application/dtmf",
        ],
        Method::Notify => &["application/sdp", "message/sipfrag"],
        _ => &["application/sdp"],
    }
}

/// The error response for a raw request, or `None` when it cannot be answered: a response,
/// no request line we could answer, or an ACK. Used by [`frame`] too.
fn answer(msg: &[u8], status: u16, detail: &str, extra: &[(&str, &str)]) -> Option<Rejection> {
    if msg.starts_with(b"SIP/") {
        return None;
    }
    let line_end = memmem::find(msg, b"\r\n")?;
    let rl = request_line(&msg[..line_end])?;
    if rl.method == b"ACK" {
        return None;
    }
    Some(reject::rejection(msg, status, detail, extra))
}

/// The 513 for a message over the size limit, when its first `limit` bytes hold a request
/// line we could answer and a Via.
fn oversize_answer(msg: &[u8], limit: usize) -> Option<Rejection> {
    let prefix = &msg[..limit.min(msg.len())];
    let cut = memmem::rfind(prefix, b"\r\n").map_or(0, |p| p + 2);
    let prefix = &prefix[..cut];
    if !reject::has_via(prefix) {
        return None;
    }
    answer(
        prefix,
        513,
        &format!("message larger than {limit} bytes"),
        &[],
    )
}

/// A message over the size limit: 513 when possible, otherwise dropped.
fn too_large(msg: &[u8], limit: usize) -> Verdict {
    if msg.starts_with(b"SIP/") {
        return Verdict::Drop(DropReason::MalformedResponse(
            "response larger than the size limit".into(),
        ));
    }
    match oversize_answer(msg, limit) {
        Some(r) => Verdict::Reject(r),
        None => unanswerable(
            "message larger than the size limit, without a request line and Via we could answer",
        ),
    }
}

/// Where the header section and the body are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    head_start: usize,
    /// End of the header section, including the last header line's CRLF.
    head_end: usize,
    /// After the empty line; `None` when there is none.
    body_start: Option<usize>,
}

impl Layout {
    fn of(msg: &[u8], line_end: usize) -> Self {
        let head_start = line_end + 2;
        match memmem::find(&msg[line_end..], b"\r\n\r\n") {
            Some(i) => Self {
                head_start,
                head_end: line_end + i + 2,
                body_start: Some(line_end + i + 4),
            },
            None => Self {
                head_start,
                head_end: msg.len(),
                body_start: None,
            },
        }
    }
}

/// What one pass over the header fields found.
#[derive(Debug, Default)]
struct Facts<'a> {
    /// The first problem, in header order.
    error: Option<&'static str>,
    /// Bit per [`Kind`] seen.
    seen: u32,
    via: Option<ViaParm<'a>>,
    from_tag: Option<&'a [u8]>,
    to_tag: Option<&'a [u8]>,
    call_id: Option<&'a [u8]>,
    cseq: Option<(u32, &'a [u8])>,
    max_forwards: Option<u64>,
    content_length: Option<u64>,
    content_type: Option<(&'a [u8], &'a [u8])>,
    bad_encoding: bool,
    unsupported: Vec<&'a [u8]>,
}

impl<'a> Facts<'a> {
    fn fail(&mut self, e: &'static str) {
        self.error.get_or_insert(e);
    }

    fn has(&self, k: Kind) -> bool {
        self.seen & (1 << k as u32) != 0
    }

    /// One pass over the header section.
    fn scan(head: &'a [u8]) -> Self {
        let mut f = Self::default();
        for field in Fields::new(head) {
            let field = match field {
                Ok(field) => field,
                Err(e) => {
                    f.fail(e);
                    continue;
                }
            };
            let kind = Kind::of(field.name);
            if kind.single() && f.has(kind) {
                f.fail(duplicate(kind));
                continue;
            }
            f.seen |= 1 << kind as u32;
            let v = field.value;
            if v.is_empty() && !matches!(kind, Kind::Other) {
                f.fail("empty header value");
                continue;
            }
            if let Err(e) = f.check(kind, v) {
                f.fail(e);
            }
        }
        f
    }

    fn check(&mut self, kind: Kind, v: &'a [u8]) -> Checked<()> {
        match kind {
            Kind::Via => {
                let p = grammar::via(v)?;
                self.via.get_or_insert(p);
            }
            Kind::From => self.from_tag = grammar::name_addrs(v, AddrUse::Single)?,
            Kind::To => self.to_tag = grammar::name_addrs(v, AddrUse::Single)?,
            Kind::Contact => _ = grammar::name_addrs(v, AddrUse::Contact)?,
            Kind::CallId => {
                grammar::call_id(v)?;
                self.call_id = Some(v);
            }
            Kind::CSeq => self.cseq = Some(grammar::cseq(v)?),
            Kind::MaxForwards => {
                self.max_forwards = Some(grammar::bounded(v, 255, "Max-Forwards is not 0-255")?);
            }
            Kind::ContentLength => {
                self.content_length = Some(grammar::bounded(
                    v,
                    u64::MAX,
                    "Content-Length is not a non-negative integer",
                )?);
            }
            Kind::ContentType => self.content_type = Some(grammar::media_type(v)?),
            Kind::ContentEncoding => {
                let bad = &mut self.bad_encoding;
                grammar::token_list(v, |t| *bad |= !t.eq_ignore_ascii_case(b"identity"))?;
            }
            Kind::Require => {
                let list = &mut self.unsupported;
                grammar::token_list(v, |t| {
                    let known = SUPPORTED_OPTION_TAGS
                        .iter()
                        .any(|s| s.as_bytes().eq_ignore_ascii_case(t));
                    if !known && !list.contains(&t) {
                        list.push(t);
                    }
                })?;
            }
            Kind::Expires => {
                _ = grammar::bounded(v, u64::from(u32::MAX), "Expires is not 0-4294967295")?
            }
            Kind::Date => grammar::date(v)?,
            Kind::Other => {}
        }
        Ok(())
    }

    /// The first mandatory header (RFC 3261 §8.1.1) that is missing.
    fn missing(&self) -> Option<&'static str> {
        [
            (Kind::Via, "missing Via"),
            (Kind::From, "missing From"),
            (Kind::To, "missing To"),
            (Kind::CallId, "missing Call-ID"),
            (Kind::CSeq, "missing CSeq"),
        ]
        .into_iter()
        .find(|(k, _)| !self.has(*k))
        .map(|(_, m)| m)
    }
}

fn duplicate(kind: Kind) -> &'static str {
    match kind {
        Kind::From => "more than one From",
        Kind::To => "more than one To",
        Kind::CallId => "more than one Call-ID",
        Kind::CSeq => "more than one CSeq",
        Kind::MaxForwards => "more than one Max-Forwards",
        Kind::ContentLength => "more than one Content-Length",
        Kind::ContentType => "more than one Content-Type",
        Kind::Expires => "more than one Expires",
        Kind::Date => "more than one Date",
        _ => "duplicated header",
    }
}

/// The body per Content-Length (RFC 3261 §18.3), or why it cannot be had.
fn body<'a>(msg: &'a [u8], layout: Layout, facts: &Facts<'_>) -> Checked<&'a [u8]> {
    let Some(start) = layout.body_start else {
        return Err("no empty line after the header fields");
    };
    let available = msg.len() - start;
    match facts.content_length {
        // Without Content-Length (possible on UDP only) the body runs to the end.
        None => Ok(&msg[start..]),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= available => Ok(&msg[start..start + n]),
            _ => Err("Content-Length larger than the body"),
        },
    }
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn request(msg: &[u8], line_end: usize) -> Verdict {
    let Some(rl) = request_line(&msg[..line_end]) else {
        return unanswerable("no request line we could answer");
    };
    let is_ack = rl.method == b"ACK";
    let refuse = |status: u16, detail: &str, extra: &[(&str, &str)]| {
        if is_ack {
            unanswerable(detail)
        } else {
            Verdict::Reject(reject::rejection(msg, status, detail, extra))
        }
    };
    if !rl.exact {
        return refuse(
            400,
            "Request-Line is not Method SP Request-URI SP SIP-Version",
            &[],
        );
    }
    if let Err((status, detail)) = check_version(rl.version) {
        return refuse(status, detail, &[]);
    }
    let Some(method) = known_method(rl.method) else {
        return refuse(501, "method not implemented", &[("Allow", ALLOW)]);
    };
    let uri = match grammar::request_uri(rl.uri) {
        Ok(u) => u,
        Err(UriError::Scheme) => return refuse(416, "Request-URI scheme not supported", &[]),
        Err(UriError::Syntax(detail)) => return refuse(400, detail, &[]),
    };

    let layout = Layout::of(msg, line_end);
    let mut facts = Facts::scan(&msg[layout.head_start..layout.head_end]);
    if std::str::from_utf8(&msg[..layout.head_end]).is_err() {
        facts.error = Some("header section is not UTF-8");
    }
    let body = body(msg, layout, &facts);
    let problem = facts
        .error
        .or_else(|| facts.missing())
        .or_else(|| match facts.cseq {
            Some((_, m)) if m != rl.method => Some("CSeq method differs from the request method"),
            _ => None,
        })
        .or_else(|| body.err())
        .or_else(|| match body {
            Ok(b) if !b.is_empty() && facts.content_type.is_none() => {
                Some("body without Content-Type")
            }
            _ => None,
        });
    if let Some(detail) = problem {
        return refuse(400, detail, &[]);
    }
    let body = body.unwrap_or_default();

    if !matches!(method, Method::Ack | Method::Cancel) && !facts.unsupported.is_empty() {
        let tags: Vec<String> = facts.unsupported.iter().map(|t| lossy(t)).collect();
        return refuse(
            420,
            "unsupported option tag in Require",
            &[("Unsupported", &tags.join(", "))],
        );
    }
    let content_type = facts.content_type.map(|(t, s)| {
        let mut ct = lossy(t);
        ct.push('/');
        ct.push_str(&String::from_utf8_lossy(s));
        ct.make_ascii_lowercase();
        ct
    });
    if !body.is_empty() {
        let accepted = accepted_types(method);
        if !content_type
            .as_deref()
            .is_some_and(|ct| accepted.contains(&ct))
        {
            return refuse(
                415,
                "body type not supported",
                &[("Accept", &accepted.join(", "))],
            );
        }
        if facts.bad_encoding {
            return refuse(
                415,
                "Content-Encoding not supported",
                &[("Accept-Encoding", "identity")],
            );
        }
    }
    let max_forwards = facts.max_forwards.unwrap_or(70) as u32;
    if max_forwards == 0
        && !matches!(
            method,
            Method::Register | Method::Options | Method::Ack | Method::Cancel
        )
    {
        return refuse(483, "Max-Forwards is 0", &[]);
    }

    let end = match facts.content_length {
        Some(_) => layout.body_start.unwrap_or(msg.len()) + body.len(),
        None => msg.len(),
    };
    let Ok(SipMessage::Request(mut request)) = parse_message(&msg[..end]) else {
        return refuse(400, "message not parsable by rsipstack", &[]);
    };
    if let Err(detail) = rsip_checks(&request.headers) {
        return refuse(400, detail, &[]);
    }
    // rsipstack reads a missing Content-Length as 0; on UDP the body runs to the end.
    if facts.content_length.is_none() {
        request.body = body.to_vec();
    }
    // rsipstack splits a SIP URI at its first `;` or `?` even inside the userinfo
    // (`sip:user;par=u%40example.net@example.com`, RFC 4475 §3.1.1.9).
    if let RequestUri::Sip {
        awkward_user: true,
        at: Some(at),
    } = uri
    {
        match rebuild_sip_uri(rl.uri, at) {
            Some(u) => request.uri = u,
            None => return refuse(400, "Request-URI not representable", &[]),
        }
    }

    let via = facts.via.unwrap_or(ViaParm {
        host: &[],
        port: None,
        branch: None,
    });
    let mut via_sent_by = lossy(via.host);
    if let Some(port) = via.port {
        via_sent_by.push(':');
        via_sent_by.push_str(&String::from_utf8_lossy(port));
    }
    Verdict::Request(Box::new(ValidRequest {
        request,
        method,
        call_id: lossy(facts.call_id.unwrap_or_default()),
        from_tag: facts.from_tag.map(lossy),
        to_tag: facts.to_tag.map(lossy),
        cseq: facts.cseq.map_or(0, |(n, _)| n),
        branch: lossy(via.branch.unwrap_or_default()),
        via_sent_by,
        max_forwards,
        content_type,
    }))
}

/// The header fields other modules will ask rsipstack to parse: the first From and To, the
/// top Via, and every Contact. Our grammar is stricter than rsipstack's in most ways, but not
/// all (rsipstack refuses unknown transports and methods in parameters, for one).
fn rsip_checks(headers: &Headers) -> Checked<()> {
    let (mut via, mut from, mut to) = (false, false, false);
    for h in headers.iter() {
        match h {
            Header::Via(v) if !via => {
                via = true;
                let top = v
                    .first_value()
                    .map_err(|_| "top Via not parsable by rsipstack")?;
                typed::Via::parse(top.value()).map_err(|_| "top Via not parsable by rsipstack")?;
            }
            Header::From(v) if !from => {
                from = true;
                typed::From::parse(v.value()).map_err(|_| "From not parsable by rsipstack")?;
            }
            Header::To(v) if !to => {
                to = true;
                typed::To::parse(v.value()).map_err(|_| "To not parsable by rsipstack")?;
            }
            Header::Contact(v) => {
                typed::Contact::parse_header_list(v.value())
                    .map_err(|_| "Contact not parsable by rsipstack")?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A SIP URI parsed with the userinfo taken up to the `@` first (RFC 3261 §19.1.1).
fn rebuild_sip_uri(uri: &[u8], at: usize) -> Option<Uri> {
    let s = std::str::from_utf8(uri).ok()?;
    let colon = s.find(':')?;
    let scheme = if s[..colon].eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else {
        Scheme::Sip
    };
    let hostpart = s.get(at + 1..)?;
    let (hostport, params) = hostpart.split_once(';').unwrap_or((hostpart, ""));
    Some(Uri {
        scheme: Some(scheme),
        auth: Some(Auth::from(s.get(colon + 1..at)?)),
        host_with_port: HostWithPort::try_from(hostport).ok()?,
        params: crate::sip::parse_params(params).ok()?,
        headers: Vec::new(),
    })
}

fn response(msg: &[u8], line_end: usize) -> Verdict {
    let malformed = |d: &str| Verdict::Drop(DropReason::MalformedResponse(d.to_owned()));
    let line = &msg[..line_end];
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (the phrase may be empty).
    let status = match line {
        [b'S', b'I', b'P', b'/', b'2', b'.', b'0', b' ', a, b, c, rest @ ..]
            if a.is_ascii_digit()
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && (rest.is_empty() || rest[0] == b' ') =>
        {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return malformed("malformed Status-Line"),
    };
    if !(100..=699).contains(&status) {
        return malformed("status code out of range");
    }
    if line[11..]
        .iter()
        .any(|&b| b < 0x20 && b != b'\t' || b == 0x7f)
    {
        return malformed("control character in Reason-Phrase");
    }
    let layout = Layout::of(msg, line_end);
    let facts = Facts::scan(&msg[layout.head_start..layout.head_end]);
    if std::str::from_utf8(&msg[..layout.head_end]).is_err() {
        return malformed("header section is not UTF-8");
    }
    if let Some(detail) = facts.error.or_else(|| facts.missing()) {
        return malformed(detail);
    }
    let Some((cseq, cseq_method)) = facts.cseq else {
        return malformed("missing CSeq");
    };
    let Some(cseq_method) = known_method(cseq_method) else {
        return malformed("CSeq method we never send");
    };
    let body = match body(msg, layout, &facts) {
        Ok(b) => b,
        Err(detail) => return malformed(detail),
    };
    let end = match facts.content_length {
        Some(_) => layout.body_start.unwrap_or(msg.len()) + body.len(),
        None => msg.len(),
    };
    let Ok(SipMessage::Response(mut response)) = parse_message(&msg[..end]) else {
        return malformed("message not parsable by rsipstack");
    };
    if let Err(detail) = rsip_checks(&response.headers) {
        return malformed(detail);
    }
    if facts.content_length.is_none() {
        response.body = body.to_vec();
    }
    Verdict::Response(Box::new(ValidResponse {
        response,
        status,
        call_id: lossy(facts.call_id.unwrap_or_default()),
        cseq,
        cseq_method,
        branch: lossy(facts.via.and_then(|v| v.branch).unwrap_or_default()),
        to_tag: facts.to_tag.map(lossy),
    }))
}
