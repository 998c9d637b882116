//! What a REGISTER says: the seat (To user), the Contact list and the Expires header
//! (RFC 3261 §10.2, §20.10, §20.19). rsipstack keeps these headers as raw text; we parse
//! them here, strictly, without panicking on any input.

use crate::sip::typed::To;
use crate::sip::{parse_uri, Header, Param, Request, Scheme, Uri};

/// The Contact headers of a REGISTER, all of them taken together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Contacts {
    /// No Contact: a query for the current bindings (RFC 3261 §10.2.4).
    Query,
    /// `Contact: *`: remove every binding (RFC 3261 §10.2.2).
    Wildcard,
    /// One or more contacts, in the order sent.
    List(Vec<ContactEntry>),
}

/// One contact to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContactEntry {
    /// The URI as sent, without the angle brackets.
    pub(super) uri: String,
    /// What makes two contact URIs "the same" (RFC 3261 §19.1.4, simplified: see
    /// [`contact_key`]).
    pub(super) key: String,
    /// The `expires` contact parameter, if any.
    pub(super) expires: Option<u32>,
}

/// The seat id: the user part of the To URI, percent-decoded. `Ok(None)` when the To URI has
/// no user part; `Err` when the To header is missing or broken.
pub(super) fn seat_from_to(request: &Request) -> Result<Option<String>, &'static str> {
    let value = request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::To(to) => Some(to.value()),
            _ => None,
        })
        .ok_or("missing To")?;
    let to = To::parse(value).map_err(|_| "malformed To")?;
    match to.uri.user() {
        None | Some("") => Ok(None),
        Some(user) => percent_decode(user).map(Some).ok_or("malformed To user"),
    }
}

/// The `Expires` header: `Ok(None)` when absent.
pub(super) fn expires_header(request: &Request) -> Result<Option<u32>, &'static str> {
    match request.headers.iter().find_map(|h| match h {
        Header::Expires(e) => Some(e.value()),
        _ => None,
    }) {
        None => Ok(None),
        Some(value) => delta_seconds(value.trim())
            .map(Some)
            .ok_or("malformed Expires"),
    }
}

/// All Contact headers (each possibly a comma-separated list), in order.
pub(super) fn parse_contacts(request: &Request) -> Result<Contacts, &'static str> {
    let mut entries = Vec::new();
    let mut wildcard = false;
    for header in request.headers.iter() {
        let Header::Contact(contact) = header else {
            continue;
        };
        for element in split_list(contact.value())? {
            if element == "*" {
                wildcard = true;
            } else {
                entries.push(parse_contact(element)?);
            }
        }
    }
    match (wildcard, entries.is_empty()) {
        (false, true) => Ok(Contacts::Query),
        (true, true) => Ok(Contacts::Wildcard),
        (true, false) => Err("Contact * with other contacts"),
        (false, false) => Ok(Contacts::List(entries)),
    }
}

/// `delta-seconds = 1*DIGIT`; values past 2³²−1 saturate (RFC 3261 §20.19 allows up to it).
pub(super) fn delta_seconds(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = text.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(b - b'0'))
            .min(u64::from(u32::MAX))
    });
    u32::try_from(value).ok()
}

/// Splits a header value at commas outside quoted-strings and angle brackets.
fn split_list(value: &str) -> Result<Vec<&str>, &'static str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    let mut in_angle = false;
    for (i, b) in value.bytes().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
            continue;
        }
        match b {
            b'"' => quoted = true,
            b'<' if in_angle => return Err("nested '<' in Contact"),
            b'<' => in_angle = true,
            b'>' if !in_angle => return Err("stray '>' in Contact"),
            b'>' => in_angle = false,
            b',' if !in_angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted || in_angle {
        return Err("unbalanced quotes or brackets in Contact");
    }
    out.push(value[start..].trim());
    if out.iter().any(|e| e.is_empty()) {
        return Err("empty Contact");
    }
    Ok(out)
}

/// Index of the first `needle` outside quoted-strings.
fn find_unquoted(s: &str, needle: u8) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == needle {
            return Some(i);
        }
    }
    None
}

/// `(name-addr / addr-spec) *(";" contact-params)` (RFC 3261 §20.10).
fn parse_contact(element: &str) -> Result<ContactEntry, &'static str> {
    let (uri_text, params) = match find_unquoted(element, b'<') {
        Some(lt) => {
            // split_list checked that a '>' follows.
            let gt = lt + element[lt..].find('>').ok_or("missing '>' in Contact")?;
            (element[lt + 1..gt].trim(), &element[gt + 1..])
        }
        None => {
            if element.contains('"') {
                return Err("display name without <> in Contact");
            }
            // A bare addr-spec cannot carry URI parameters: what follows ';' is the header's.
            match element.find(';') {
                Some(semi) => (element[..semi].trim(), &element[semi..]),
                None => (element, ""),
            }
        }
    };
    if uri_text.is_empty() || uri_text.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err("malformed Contact URI");
    }
    let uri = parse_uri(uri_text).map_err(|_| "malformed Contact URI")?;
    if !matches!(uri.scheme, Some(Scheme::Sip | Scheme::Sips)) {
        return Err("Contact URI is not sip: or sips:");
    }
    Ok(ContactEntry {
        uri: uri_text.to_string(),
        key: contact_key(&uri),
        expires: contact_expires(params)?,
    })
}

/// The `expires` parameter among `;name[=value]` contact parameters.
fn contact_expires(params: &str) -> Result<Option<u32>, &'static str> {
    let params = params.trim();
    if params.is_empty() {
        return Ok(None);
    }
    let Some(mut rest) = params.strip_prefix(';') else {
        return Err("junk after Contact URI");
    };
    let mut expires = None;
    loop {
        let end = find_unquoted(rest, b';').unwrap_or(rest.len());
        let param = rest[..end].trim();
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (param, None),
        };
        if name.is_empty() {
            return Err("empty Contact parameter");
        }
        if name.eq_ignore_ascii_case("expires") {
            let secs = value
                .and_then(delta_seconds)
                .ok_or("malformed Contact expires")?;
            if expires.replace(secs).is_some() {
                return Err("duplicate Contact expires");
            }
        }
        if end == rest.len() {
            return Ok(expires);
        }
        rest = &rest[end + 1..];
    }
}

/// A comparison key for contact URIs, after RFC 3261 §19.1.4 but simplified: scheme, user
/// (case-sensitive), host (case-insensitive), port (absent ≠ 5060), and the `transport`,
/// `user`, `maddr`, `ttl` and `method` parameters, which must match when present in either.
/// Other parameters (`ob`, `rinstance`, …) are ignored: a phone that re-registers the same
/// address with a different one refreshes its binding rather than adding a second.
pub(super) fn contact_key(uri: &Uri) -> String {
    let scheme = match uri.scheme {
        Some(Scheme::Sips) => "sips",
        _ => "sip",
    };
    let user = uri.user().unwrap_or("");
    let host = uri.host().to_string().to_ascii_lowercase();
    let port = uri
        .host_with_port
        .port
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut params: Vec<String> = uri
        .params
        .iter()
        .filter_map(|p| match p {
            Param::Transport(_)
            | Param::User(_)
            | Param::Maddr(_)
            | Param::Ttl(_)
            | Param::Method(_) => Some(p.to_string().to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    params.sort();
    format!("{scheme}:{user}@{host}:{port}{}", params.concat())
}

/// `%XX` escapes decoded (RFC 3261 §19.1.4: users compare after unescaping).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrar_contact_parsing() {
        let e = parse_contact("\"Seat, 1001\" <sip:1001@10.0.0.5:5062;transport=TCP>;expires=60;+sip.instance=\"<urn:uuid:1>\"").unwrap();
        assert_eq!(e.uri, "sip:1001@10.0.0.5:5062;transport=TCP");
        assert_eq!(e.expires, Some(60));
        let bare = parse_contact("sip:1001@10.0.0.5:5062;expires=0").unwrap();
        assert_eq!(
            (bare.uri.as_str(), bare.expires),
            ("sip:1001@10.0.0.5:5062", Some(0))
        );
        assert_eq!(
            parse_contact("<sip:1001@HOST.example;transport=tcp;ob>")
                .unwrap()
                .key,
            parse_contact("<sip:1001@host.example;rinstance=9;transport=TCP>")
                .unwrap()
                .key,
        );
        assert_ne!(
            parse_contact("<sip:1001@host>").unwrap().key,
            parse_contact("<sip:1001@host:5060>").unwrap().key,
        );
        assert_eq!(
            split_list("<sip:a@b;x=\"1,2\">;q=0.5, \"a,b\" <sip:c@d>").unwrap(),
            vec!["<sip:a@b;x=\"1,2\">;q=0.5", "\"a,b\" <sip:c@d>"]
        );
        for bad in [
            "<sip:1001@host>;expires=soon",
            "<sip:1001@host>;expires=",
            "<sip:1001@host>;expires=60;expires=70",
            "<tel:+123>",
            "<>",
            "<sip:a b@host>",
            "\"x\" sip:1001@host",
            "<sip:1001@host> junk",
            "<sip:1001@host>;;",
            "1001@host",
        ] {
            assert!(parse_contact(bad).is_err(), "{bad}");
        }
        for bad in [
            "<sip:a@b",
            "sip:a@b>",
            "<<sip:a@b>>",
            "\"open <sip:a@b>",
            "a,,b",
            "",
        ] {
            assert!(split_list(bad).is_err(), "{bad:?}");
        }
        assert_eq!(delta_seconds("99999999999999999999"), Some(u32::MAX));
        assert_eq!(delta_seconds("0060"), Some(60));
        assert_eq!(delta_seconds("-1"), None);
        assert_eq!(delta_seconds("6 0"), None);
        assert_eq!(percent_decode("10%301").as_deref(), Some("1001"));
        assert_eq!(percent_decode("10%3"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%+f"), None);
    }
}
