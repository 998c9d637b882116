//! The grammar of the header values and start-line pieces the validator checks
//! (RFC 3261 §25.1). Each function reads a raw (possibly folded) value and either returns the
//! facts we need or a short reason for the 400.

use super::lex::{all_token, is_token, is_uric, trim, Cur};

/// Result of a grammar check: the facts, or the reason it failed.
pub(super) type Checked<T> = Result<T, &'static str>;

/// The first via-parm of a Via header value: what the gateway needs to route responses.
#[derive(Debug, Clone, Copy)]
pub(super) struct ViaParm<'a> {
    pub(super) host: &'a [u8],
    pub(super) port: Option<&'a [u8]>,
    pub(super) branch: Option<&'a [u8]>,
}

/// `Via = 1#via-parm` with `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`
/// (RFC 3261 §20.42, §25.1). Checks every via-parm of the value and returns the first.
pub(super) fn via(value: &[u8]) -> Checked<ViaParm<'_>> {
    let mut c = Cur::new(value);
    let mut first = None;
    loop {
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport
        if c.token().is_empty() || !c.sep(b'/') || c.token().is_empty() || !c.sep(b'/') {
            return Err("malformed Via sent-protocol");
        }
        if c.token().is_empty() {
            return Err("malformed Via transport");
        }
        if !c.ws() {
            return Err("no space between Via transport and sent-by");
        }
        let host = host(&mut c).ok_or("malformed Via sent-by host")?;
        let mut port = None;
        if c.sep(b':') {
            port = Some(port_number(&mut c).ok_or("malformed Via sent-by port")?);
        }
        let mut branch = None;
        while c.sep(b';') {
            let (name, val) = generic_param(&mut c).ok_or("malformed Via parameter")?;
            if name.eq_ignore_ascii_case(b"branch") {
                let b = val.ok_or("Via branch without a value")?;
                if !all_token(b) {
                    return Err("Via branch is not a token");
                }
                // RFC 4475 §3.2.1: the magic cookie alone is no transaction identifier.
                if b.eq_ignore_ascii_case(b"z9hG4bK") {
                    return Err("Via branch is only the magic cookie");
                }
                branch.get_or_insert(b);
            }
        }
        first.get_or_insert(ViaParm { host, port, branch });
        c.ws();
        if c.eof() {
            break;
        }
        if !c.eat(b',') {
            return Err("unexpected character in Via");
        }
        c.ws();
    }
    first.ok_or("empty Via")
}

/// `host = hostname / IPv4address / IPv6reference` (RFC 3261 §25.1), loosely: letters, digits,
/// `-` and `.`, or a bracketed IPv6 literal.
fn host<'a>(c: &mut Cur<'a>) -> Option<&'a [u8]> {
    let start = c.pos();
    if c.eat(b'[') {
        let inner = c.take_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if inner.is_empty() || !c.eat(b']') {
            return None;
        }
    } else if c
        .take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        .is_empty()
    {
        return None;
    }
    Some(c.slice(start))
}

/// `port = 1*DIGIT`, at most 65535.
fn port_number<'a>(c: &mut Cur<'a>) -> Option<&'a [u8]> {
    let d = c.take_while(|b| b.is_ascii_digit());
    (!d.is_empty() && number(d).is_some_and(|n| n <= 65535)).then_some(d)
}

/// `generic-param = token [ EQUAL gen-value ]`, `gen-value = token / host / quoted-string`.
/// The cursor stands after the SEMI.
fn generic_param<'a>(c: &mut Cur<'a>) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    let name = c.token();
    if name.is_empty() {
        return None;
    }
    if !c.sep(b'=') {
        return Some((name, None));
    }
    if c.peek() == Some(b'"') {
        return Some((name, Some(c.quoted().ok()?)));
    }
    let val = c.take_while(|b| is_token(b) || matches!(b, b':' | b'[' | b']'));
    (!val.is_empty()).then_some((name, Some(val)))
}

/// Decimal digits to a number; `None` when empty, not all digits, or above `u64::MAX`.
pub(super) fn number(d: &[u8]) -> Option<u64> {
    if d.is_empty() {
        return None;
    }
    d.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A whole value that must be `1*DIGIT` no larger than `max`.
pub(super) fn bounded(value: &[u8], max: u64, what: &'static str) -> Checked<u64> {
    number(value).filter(|&n| n <= max).ok_or(what)
}

/// `CSeq = 1*DIGIT LWS Method` (RFC 3261 §20.16), the number below 2**32.
pub(super) fn cseq(value: &[u8]) -> Checked<(u32, &[u8])> {
    let mut c = Cur::new(value);
    let digits = c.take_while(|b| b.is_ascii_digit());
    let seq = number(digits)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("CSeq number is not a 32-bit unsigned integer")?;
    if !c.ws() {
        return Err("CSeq is not <number> <method>");
    }
    let method = c.token();
    if method.is_empty() || !c.eof() {
        return Err("CSeq is not <number> <method>");
    }
    Ok((seq, method))
}

/// Call-ID: one run of visible ASCII. RFC 3261 §20.8 says `word [ "@" word ]`, which would
/// refuse `=` (base64 padding some user agents put in Call-IDs); the value is only ever
/// compared and echoed, so nothing is gained by refusing those calls.
pub(super) fn call_id(value: &[u8]) -> Checked<()> {
    let ok = !value.is_empty() && value.iter().all(|&b| b.is_ascii_graphic());
    ok.then_some(()).ok_or("malformed Call-ID")
}

/// `rfc1123-date = wkday "," SP date1 SP time SP "GMT"` (RFC 3261 §20.17): the only legal
/// time zone is GMT (RFC 4475 §3.1.2.12).
pub(super) fn date(value: &[u8]) -> Checked<()> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let v = value;
    let digits = |r: core::ops::Range<usize>| v[r].iter().all(u8::is_ascii_digit);
    let ok = v.len() == 29
        && DAYS.contains(&&v[0..3])
        && &v[3..5] == b", "
        && digits(5..7)
        && v[7] == b' '
        && MONTHS.contains(&&v[8..11])
        && v[11] == b' '
        && digits(12..16)
        && v[16] == b' '
        && digits(17..19)
        && v[19] == b':'
        && digits(20..22)
        && v[22] == b':'
        && digits(23..25)
        && &v[25..] == b" GMT";
    ok.then_some(())
        .ok_or("Date is not an RFC 1123 date in GMT")
}

/// `1#token` (Require, Content-Encoding); calls `each` for every token.
pub(super) fn token_list<'a>(value: &'a [u8], mut each: impl FnMut(&'a [u8])) -> Checked<()> {
    let mut c = Cur::new(value);
    loop {
        let t = c.token();
        if t.is_empty() {
            return Err("malformed token list");
        }
        each(t);
        c.ws();
        if c.eof() {
            return Ok(());
        }
        if !c.sep(b',') {
            return Err("malformed token list");
        }
    }
}

/// `media-type = m-type SLASH m-subtype *(SEMI m-parameter)` (RFC 3261 §20.15); returns type
/// and subtype.
pub(super) fn media_type(value: &[u8]) -> Checked<(&[u8], &[u8])> {
    let mut c = Cur::new(value);
    let t = c.token();
    if t.is_empty() || !c.sep(b'/') {
        return Err("malformed Content-Type");
    }
    let s = c.token();
    if s.is_empty() {
        return Err("malformed Content-Type");
    }
    while c.sep(b';') {
        let name = c.token();
        if name.is_empty() || !c.sep(b'=') {
            return Err("malformed Content-Type parameter");
        }
        let ok = if c.peek() == Some(b'"') {
            c.quoted().is_ok()
        } else {
            !c.token().is_empty()
        };
        if !ok {
            return Err("malformed Content-Type parameter");
        }
    }
    c.ws();
    if !c.eof() {
        return Err("malformed Content-Type");
    }
    Ok((t, s))
}

/// How a name-addr list is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddrUse {
    /// From, To: exactly one value.
    Single,
    /// Contact: a comma-separated list, or `*`.
    Contact,
}

/// `( name-addr / addr-spec ) *( SEMI param )` (RFC 3261 §20.10, §20.20, §20.39), once or as a
/// list. Returns the `tag` parameter of the first value.
///
/// Rejected, per RFC 4475: an unterminated quoted display name (§3.1.2.6), a display name with
/// non-token characters outside quotes (§3.1.2.15), whitespace inside `<>` (§3.1.2.14), an
/// unbracketed URI with `?` or `,` (§3.1.2.13), empty parameters (§3.1.2.1).
pub(super) fn name_addrs(value: &[u8], usage: AddrUse) -> Checked<Option<&[u8]>> {
    if usage == AddrUse::Contact && trim(value) == b"*" {
        return Ok(None);
    }
    let mut c = Cur::new(value);
    let mut first_tag = None;
    let mut first = true;
    loop {
        let tag = name_addr(&mut c)?;
        if first {
            first_tag = tag;
            first = false;
        }
        c.ws();
        if c.eof() {
            return Ok(first_tag);
        }
        if usage == AddrUse::Single || !c.eat(b',') {
            return Err("unexpected character after address");
        }
        c.ws();
    }
}

/// One `( name-addr / addr-spec ) *( SEMI param )`; returns its `tag` parameter.
fn name_addr<'a>(c: &mut Cur<'a>) -> Checked<Option<&'a [u8]>> {
    c.ws();
    let bracketed = match c.peek() {
        Some(b'"') => {
            c.quoted()?;
            c.ws();
            if !c.eat(b'<') {
                return Err("quoted display name not followed by <URI>");
            }
            true
        }
        Some(b'<') => {
            c.bump();
            true
        }
        _ => {
            // Either `*(token LWS) <URI>` or an addr-spec, which starts with a scheme.
            let mut probe = *c;
            let mut words = 0;
            loop {
                if probe.take_while(|b| is_token(b) || b >= 0x80).is_empty() {
                    break;
                }
                words += 1;
                if !probe.ws() {
                    break;
                }
            }
            match probe.peek() {
                Some(b'<') if words > 0 => {
                    probe.bump();
                    *c = probe;
                    true
                }
                Some(b':') => false,
                _ => return Err("display name with non-token characters must be quoted"),
            }
        }
    };
    if bracketed {
        let uri = c.take_while(|b| b != b'>' && !super::lex::is_ws(b));
        if !c.eat(b'>') {
            return Err(if c.eof() {
                "missing > after URI"
            } else {
                "whitespace inside <URI>"
            });
        }
        uri_chars(uri)?;
    } else {
        // An addr-spec runs to the first SEMI, comma or whitespace; with `?` or `,` in it the
        // name-addr form is mandatory (RFC 3261 §20).
        let uri = c.take_while(|b| !matches!(b, b';' | b',') && !super::lex::is_ws(b));
        if memchr::memchr(b'?', uri).is_some() {
            return Err("URI with headers must be enclosed in <>");
        }
        uri_chars(uri)?;
    }
    let mut tag = None;
    while c.sep(b';') {
        let (name, val) = generic_param(c).ok_or("malformed header parameter")?;
        if name.eq_ignore_ascii_case(b"tag") {
            let t = val.filter(|t| all_token(t)).ok_or("malformed tag")?;
            tag.get_or_insert(t);
        }
    }
    Ok(tag)
}

/// `absoluteURI` or SIP-URI inside a name-addr, loosely: a scheme, a colon, then URI
/// characters with well-formed `%HH` escapes.
fn uri_chars(uri: &[u8]) -> Checked<()> {
    let colon = memchr::memchr(b':', uri).ok_or("URI without a scheme")?;
    if !scheme_ok(&uri[..colon]) || colon + 1 == uri.len() {
        return Err("malformed URI");
    }
    escapes_ok(&uri[colon + 1..], |b| is_uric(b) && b != b'#')
        .then_some(())
        .ok_or("malformed URI")
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub(super) fn scheme_ok(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_alphabetic)
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Every byte is in `allowed`, and each `%` starts `%HH`.
fn escapes_ok(s: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            if !(s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !allowed(b) {
            return false;
        }
        i += 1;
    }
    true
}

/// What the Request-URI check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestUri {
    /// A SIP or SIPS URI; `awkward_user` when its userinfo holds `;` or `?`, which
    /// rsipstack's URI parser splits on before finding the `@`.
    Sip {
        awkward_user: bool,
        at: Option<usize>,
    },
    /// A tel URI (RFC 3966).
    Tel,
}

/// Why the Request-URI was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UriError {
    /// Malformed: 400.
    Syntax(&'static str),
    /// Well-formed scheme we do not serve: 416.
    Scheme,
}

/// The Request-URI (RFC 3261 §19.1.1, §25.1): `sip`, `sips` or `tel`, no headers, and for SIP
/// a userinfo, a host, a port and parameters that follow the grammar.
pub(super) fn request_uri(uri: &[u8]) -> Result<RequestUri, UriError> {
    let colon = memchr::memchr(b':', uri).ok_or(UriError::Syntax("Request-URI has no scheme"))?;
    let scheme = &uri[..colon];
    if !scheme_ok(scheme) {
        return Err(UriError::Syntax("Request-URI is not a URI"));
    }
    let rest = &uri[colon + 1..];
    if scheme.eq_ignore_ascii_case(b"tel") {
        let ok = !rest.is_empty() && escapes_ok(rest, |b| is_uric(b) && b != b'?' && b != b'@');
        return if ok {
            Ok(RequestUri::Tel)
        } else {
            Err(UriError::Syntax("malformed tel Request-URI"))
        };
    }
    if !scheme.eq_ignore_ascii_case(b"sip") && !scheme.eq_ignore_ascii_case(b"sips") {
        return Err(UriError::Scheme);
    }
    let bad = |m| Err(UriError::Syntax(m));
    // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
    let at = memchr::memchr(b'@', rest);
    let (userinfo, hostpart) = match at {
        Some(a) => (&rest[..a], &rest[a + 1..]),
        None => (&rest[..0], rest),
    };
    if at.is_some() {
        let user_end = memchr::memchr(b':', userinfo).unwrap_or(userinfo.len());
        let user_ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b);
        let pass_ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,:".contains(&b);
        if user_end == 0
            || !escapes_ok(&userinfo[..user_end], user_ok)
            || !escapes_ok(&userinfo[user_end..], pass_ok)
        {
            return bad("malformed Request-URI userinfo");
        }
    }
    let mut c = Cur::new(hostpart);
    if host(&mut c).is_none() {
        return bad("malformed Request-URI host");
    }
    if c.eat(b':') && port_number(&mut c).is_none() {
        return bad("malformed Request-URI port");
    }
    while c.eat(b';') {
        let param = |b: u8| b.is_ascii_alphanumeric() || b"[]/:&+$-_.!~*'()".contains(&b);
        let name = c.take_while(|b| param(b) || b == b'%');
        if name.is_empty() || !escapes_ok(name, param) {
            return bad("malformed Request-URI parameter");
        }
        if c.eat(b'=') {
            let v = c.take_while(|b| param(b) || b == b'%');
            if v.is_empty() || !escapes_ok(v, param) {
                return bad("malformed Request-URI parameter");
            }
        }
    }
    match c.peek() {
        None => Ok(RequestUri::Sip {
            awkward_user: userinfo.iter().any(|&b| b == b';' || b == b'?'),
            at: at.map(|a| colon + 1 + a),
        }),
        Some(b'?') => bad("Request-URI must not carry headers"),
        Some(_) => bad("malformed Request-URI"),
    }
}
