//! The state of one dialog and the requests it sends (RFC 3261 §12).
//!
//! A B2BUA call holds two of these: the caller's leg, where hotline is the UAS, and the seat's
//! leg, where hotline is the UAC. Each has its own Call-ID, tags and CSeq space; nothing of one
//! leaks into the other except what the B2BUA copies on purpose (SDP, the caller's identity).

use std::fmt::Write as _;

use bytes::Bytes;
use rsipstack::sip::Method;

use crate::peer::Peer;

/// One dialog's identifiers and sequence state (RFC 3261 §12.1).
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID of this leg.
    pub call_id: String,
    /// Our tag (From tag on a UAC leg, To tag on a UAS leg).
    pub local_tag: String,
    /// The peer's tag, once known (a UAC leg learns it from the first response with one).
    pub remote_tag: Option<String>,
    /// Our name-addr as it appears in From (UAC) or To (UAS), without the tag.
    pub local_uri: String,
    /// The peer's name-addr, without the tag.
    pub remote_uri: String,
    /// The last CSeq number we used on this leg.
    pub local_cseq: u32,
    /// The last CSeq number the peer used (RFC 3261 §12.2.2 ordering).
    pub remote_cseq: Option<u32>,
    /// Where in-dialog requests are addressed: the peer's Contact URI.
    pub remote_target: String,
    /// Route set, in the order requests carry it (RFC 3261 §12.1.1 / §12.1.2).
    pub route_set: Vec<String>,
    /// The flow packets for this leg travel on.
    pub peer: Peer,
}

/// Why an in-dialog request was refused before reaching the B2BUA logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceError {
    /// CSeq lower than (or equal to) the last one seen: RFC 3261 §12.2.2 answers 500.
    OutOfOrder,
}

impl Dialog {
    /// Accept the peer's CSeq for a new in-dialog request (not ACK/CANCEL), or refuse it.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> Result<(), SequenceError> {
        match self.remote_cseq {
            Some(last) if cseq <= last => Err(SequenceError::OutOfOrder),
            _ => {
                self.remote_cseq = Some(cseq);
                Ok(())
            }
        }
    }

    /// Next local CSeq for a new request on this leg.
    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq += 1;
        self.local_cseq
    }

    /// Build an in-dialog request (RFC 3261 §12.2.1.1): Request-URI is the remote target,
    /// Route headers from the route set, From/To/Call-ID from the dialog.
    pub fn request(&self, req: InDialog<'_>) -> Bytes {
        self.request_with(req, &[])
    }

    /// [`request`](Self::request) with further header lines (each without CRLF).
    pub fn request_with(&self, req: InDialog<'_>, extra: &[&str]) -> Bytes {
        build_request(&OutRequest {
            method: req.method,
            uri: &self.remote_target,
            via: Via {
                transport: self.peer.transport.via_token(),
                sent_by: req.sent_by,
                branch: req.branch,
            },
            max_forwards: 70,
            from: &self.local_uri,
            from_tag: &self.local_tag,
            to: &self.remote_uri,
            to_tag: self.remote_tag.as_deref(),
            call_id: &self.call_id,
            cseq: req.cseq,
            routes: &self.route_set,
            contact: req.contact,
            extra,
            body: req.body,
        })
    }
}

/// What an in-dialog request adds to the dialog's own state.
#[derive(Debug, Clone, Copy)]
pub struct InDialog<'a> {
    /// Method.
    pub method: Method,
    /// Our host:port for the Via.
    pub sent_by: &'a str,
    /// A fresh branch (the RFC 3261 magic cookie first).
    pub branch: &'a str,
    /// CSeq number (for ACK: the INVITE's).
    pub cseq: u32,
    /// Contact to advertise (target-refreshing requests).
    pub contact: Option<&'a str>,
    /// Content-Type and body.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// Everything needed to write a request onto the wire.
#[derive(Debug, Clone, Copy)]
pub struct OutRequest<'a> {
    /// Method of the request.
    pub method: Method,
    /// Request-URI.
    pub uri: &'a str,
    /// The Via line's transport token and sent-by.
    pub via: Via<'a>,
    /// Max-Forwards value.
    pub max_forwards: u32,
    /// From name-addr (without tag).
    pub from: &'a str,
    /// From tag.
    pub from_tag: &'a str,
    /// To name-addr (without tag).
    pub to: &'a str,
    /// To tag, in dialog.
    pub to_tag: Option<&'a str>,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number (the method is `method`).
    pub cseq: u32,
    /// Route header values, in order.
    pub routes: &'a [String],
    /// Contact URI to advertise (dialog-creating and target-refreshing requests).
    pub contact: Option<&'a str>,
    /// Further header lines, each without CRLF.
    pub extra: &'a [&'a str],
    /// Content-Type and body.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// Our Via entry for a request we originate.
#[derive(Debug, Clone, Copy)]
pub struct Via<'a> {
    /// `UDP` or `TCP`.
    pub transport: &'a str,
    /// host:port we listen on.
    pub sent_by: &'a str,
    /// The branch, starting with the RFC 3261 magic cookie `z9hG4bK`.
    pub branch: &'a str,
}

/// Write a request. One allocation, sized up front.
pub fn build_request(r: &OutRequest<'_>) -> Bytes {
    let body_len = r.body.map_or(0, |(_, b)| b.len());
    let mut out = String::with_capacity(512 + body_len);
    let method = r.method;
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{t} {sb};branch={br};rport\r\nMax-Forwards: {mf}\r\nFrom: {from};tag={ft}\r\nTo: {to}",
        uri = r.uri,
        t = r.via.transport,
        sb = r.via.sent_by,
        br = r.via.branch,
        mf = r.max_forwards,
        from = r.from,
        ft = r.from_tag,
        to = r.to,
    );
    if let Some(tag) = r.to_tag {
        let _ = write!(out, ";tag={tag}");
    }
    let _ = write!(
        out,
        "\r\nCall-ID: {}\r\nCSeq: {} {method}\r\n",
        r.call_id, r.cseq
    );
    for route in r.routes {
        let _ = write!(out, "Route: {route}\r\n");
    }
    if let Some(contact) = r.contact {
        let _ = write!(out, "Contact: <{contact}>\r\n");
    }
    for line in r.extra {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("User-Agent: hotline\r\n");
    let mut bytes = out.into_bytes();
    finish_body(&mut bytes, r.body);
    Bytes::from(bytes)
}

/// Append Content-Type (when a body is present), Content-Length and the body.
pub(crate) fn finish_body(out: &mut Vec<u8>, body: Option<(&str, &[u8])>) {
    match body {
        Some((content_type, body)) if !body.is_empty() => {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(content_type.as_bytes());
            out.extend_from_slice(b"\r\nContent-Length: ");
            out.extend_from_slice(body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(body);
        }
        _ => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
    }
}

/// Strip the `;tag=...` parameter from a From/To header value, so the name-addr can be
/// reused on the other leg. Header parameters after the tag are dropped with it; a B2BUA
/// does not carry the far leg's parameters across.
pub fn without_tag(value: &str) -> &str {
    // The tag is a header parameter: after the closing '>' when there is one.
    let search_from = value.rfind('>').unwrap_or(0);
    let lower = value[search_from..].to_ascii_lowercase();
    match lower.find(";tag=") {
        Some(i) => value[..search_from + i].trim_end(),
        None => value.trim_end(),
    }
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;p=1` → `sip:bob@x`), or the addr-spec itself.
pub fn uri_of(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(a), Some(b)) if a < b => name_addr[a + 1..b].trim(),
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim(),
    }
}

/// The user part of a SIP URI (`sip:1001@host` → `1001`), or the number of a tel URI.
pub fn user_of(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    let user = if scheme.eq_ignore_ascii_case("tel") {
        rest
    } else {
        rest.split_once('@')?.0
    };
    let user = user.split(';').next().unwrap_or(user);
    let user = user.split(':').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_stripped_from_name_addr() {
        assert_eq!(
            without_tag("\"Alice\" <sip:alice@a.example>;tag=1928301774"),
            "\"Alice\" <sip:alice@a.example>"
        );
        assert_eq!(without_tag("<sip:a@b>;TAG=x;foo=bar"), "<sip:a@b>");
        assert_eq!(without_tag("sip:a@b"), "sip:a@b");
    }

    #[test]
    fn uri_and_user_are_found() {
        assert_eq!(
            uri_of("\"Bob\" <sip:1001@10.0.0.1:5060>;expires=60"),
            "sip:1001@10.0.0.1:5060"
        );
        assert_eq!(uri_of("sip:1001@h;transport=udp"), "sip:1001@h");
        assert_eq!(user_of("sip:1001@127.0.0.1:5070"), Some("1001"));
        assert_eq!(user_of("sip:12345;phone-context=x@h"), Some("12345"));
        assert_eq!(user_of("sip:127.0.0.1"), None);
        assert_eq!(user_of("tel:12345;phone-context=+86"), Some("12345"));
    }

    #[test]
    fn remote_cseq_must_grow() {
        let mut d = Dialog {
            call_id: "c".into(),
            local_tag: "l".into(),
            remote_tag: Some("r".into()),
            local_uri: "<sip:a@b>".into(),
            remote_uri: "<sip:c@d>".into(),
            local_cseq: 1,
            remote_cseq: Some(5),
            remote_target: "sip:c@127.0.0.1".into(),
            route_set: vec![],
            peer: Peer::udp("127.0.0.1:5060".parse().expect("addr")),
        };
        assert_eq!(d.accept_remote_cseq(5), Err(SequenceError::OutOfOrder));
        assert_eq!(d.accept_remote_cseq(6), Ok(()));
        assert_eq!(d.next_cseq(), 2);
    }
}
