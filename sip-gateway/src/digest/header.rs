//! The `Authorization` header value (RFC 7616 §3.4, RFC 3261 §25.1 `credentials`), parsed by
//! hand: `Digest` then comma-separated `name=value` pairs, values a token or a quoted-string
//! with `\` escapes, names case-insensitive, in any order, unknown names ignored.

use std::fmt;

use super::DigestAlgorithm;

/// Parameters more than this make the header malformed (a client sends about ten).
const MAX_PARAMS: usize = 32;

/// Digest credentials as a client sent them, checked for shape but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// `username`, unescaped.
    pub username: String,
    /// `realm`, unescaped.
    pub realm: String,
    /// `nonce`, as issued by us (if genuine).
    pub nonce: String,
    /// `uri`: the digest-uri the client hashed (A2 = method ":" digest-uri).
    pub uri: String,
    /// `response`: hex digits, checked against the algorithm's length only when verifying.
    pub response: String,
    /// `algorithm`; MD5 when absent (RFC 7616 §3.4).
    pub algorithm: DigestAlgorithm,
    /// `qop=auth` with its `nc` and `cnonce`; `None` for RFC 2069-style credentials.
    pub qop: Option<QopAuth>,
    /// `opaque`, echoed back; we never send one, so it is ignored.
    pub opaque: Option<String>,
}

/// The `qop=auth` part of a response (RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAuth {
    /// `cnonce`, unescaped.
    pub cnonce: String,
    /// `nc` as a number; never 0.
    pub nc: u32,
    /// `nc` exactly as sent (8 hex digits, any case): this text goes into the hash.
    pub nc_text: String,
}

/// Why an `Authorization` value could not be used.
///
/// The registrar answers [`NotDigest`](Self::NotDigest) and
/// [`Unsupported`](Self::Unsupported) with a new challenge (401), as for a request without
/// credentials: the client may well speak one of the algorithms we offer.
/// [`Malformed`](Self::Malformed) gets 400 Bad Request: the client claims Digest and breaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationError {
    /// Empty, or another scheme (e.g. `Basic`).
    NotDigest,
    /// Well-formed Digest using something we do not offer: the named parameter (an algorithm
    /// other than MD5/SHA-256, `qop=auth-int`, `userhash=true`, `username*`).
    Unsupported(&'static str),
    /// Digest, but syntactically broken or missing a required parameter; says what.
    Malformed(&'static str),
}

impl fmt::Display for AuthorizationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDigest => f.write_str("not Digest credentials"),
            Self::Unsupported(what) => write!(f, "unsupported Digest parameter: {what}"),
            Self::Malformed(what) => write!(f, "malformed Digest credentials: {what}"),
        }
    }
}

impl std::error::Error for AuthorizationError {}

impl DigestCredentials {
    /// Parses an `Authorization` (or `Proxy-Authorization`) header value. Total: any input
    /// gives `Ok` or an error, never a panic; work is linear in the input length.
    pub fn parse(value: &str) -> Result<Self, AuthorizationError> {
        let params = parse_params(value)?;
        Self::from_params(params)
    }

    fn from_params(params: Vec<(String, String)>) -> Result<Self, AuthorizationError> {
        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut algorithm = None;
        let mut qop = None;
        let mut nc = None;
        let mut cnonce = None;
        let mut opaque = None;
        let mut username_star = false;
        let mut userhash = None;
        for (name, value) in params {
            let slot = match name.as_str() {
                "username" => &mut username,
                "realm" => &mut realm,
                "nonce" => &mut nonce,
                "uri" => &mut uri,
                "response" => &mut response,
                "algorithm" => &mut algorithm,
                "qop" => &mut qop,
                "nc" => &mut nc,
                "cnonce" => &mut cnonce,
                "opaque" => &mut opaque,
                "userhash" => &mut userhash,
                "username*" => {
                    username_star = true;
                    continue;
                }
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(AuthorizationError::Malformed("duplicate parameter"));
            }
        }
        if username_star {
            return Err(AuthorizationError::Unsupported("username*"));
        }
        if userhash.is_some_and(|v: String| v.eq_ignore_ascii_case("true")) {
            return Err(AuthorizationError::Unsupported("userhash"));
        }
        let algorithm = match algorithm {
            None => DigestAlgorithm::Md5,
            Some(token) => DigestAlgorithm::from_token(&token)
                .ok_or(AuthorizationError::Unsupported("algorithm"))?,
        };
        let qop = match qop {
            None => {
                if nc.is_some() || cnonce.is_some() {
                    return Err(AuthorizationError::Malformed("nc or cnonce without qop"));
                }
                None
            }
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = nc.ok_or(AuthorizationError::Malformed("qop without nc"))?;
                let cnonce = cnonce.ok_or(AuthorizationError::Malformed("qop without cnonce"))?;
                let nc = parse_nc(&nc_text)?;
                Some(QopAuth {
                    cnonce,
                    nc,
                    nc_text,
                })
            }
            Some(q) if q.eq_ignore_ascii_case("auth-int") => {
                return Err(AuthorizationError::Unsupported("qop"));
            }
            Some(_) => return Err(AuthorizationError::Malformed("unknown qop")),
        };
        let required = |v: Option<String>, what| v.ok_or(AuthorizationError::Malformed(what));
        Ok(Self {
            username: required(username, "missing username")?,
            realm: required(realm, "missing realm")?,
            nonce: required(nonce, "missing nonce")?,
            uri: required(uri, "missing uri")?,
            response: required(response, "missing response")?,
            algorithm,
            qop,
            opaque,
        })
    }
}

/// `nc` is exactly 8 hex digits (RFC 7616 §3.4), and the first use is 00000001.
fn parse_nc(text: &str) -> Result<u32, AuthorizationError> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthorizationError::Malformed("nc is not 8 hex digits"));
    }
    match u32::from_str_radix(text, 16) {
        Ok(0) | Err(_) => Err(AuthorizationError::Malformed("nc is zero")),
        Ok(nc) => Ok(nc),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 token characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Splits `Digest name=value, ...` into lowercase names and unescaped values.
fn parse_params(value: &str) -> Result<Vec<(String, String)>, AuthorizationError> {
    let bytes = value.as_bytes();
    let mut at = skip_ws(bytes, 0);
    let scheme_end = take_while(bytes, at, is_token);
    if !value[at..scheme_end].eq_ignore_ascii_case("digest") {
        return Err(AuthorizationError::NotDigest);
    }
    at = scheme_end;
    if at < bytes.len() && !is_ws(bytes[at]) {
        return Err(AuthorizationError::NotDigest);
    }
    let mut params = Vec::new();
    loop {
        at = skip_ws(bytes, at);
        // Empty list elements are allowed by the #rule (RFC 7230 §7).
        while at < bytes.len() && bytes[at] == b',' {
            at = skip_ws(bytes, at + 1);
        }
        if at == bytes.len() {
            break;
        }
        // `username*` (RFC 7616 §3.4) is a token followed by `*`.
        let mut name_end = take_while(bytes, at, is_token);
        if name_end == at {
            return Err(AuthorizationError::Malformed("expected a parameter name"));
        }
        if name_end < bytes.len() && bytes[name_end] == b'*' {
            name_end += 1;
        }
        let name = value[at..name_end].to_ascii_lowercase();
        at = skip_ws(bytes, name_end);
        if at == bytes.len() || bytes[at] != b'=' {
            return Err(AuthorizationError::Malformed("expected '='"));
        }
        at = skip_ws(bytes, at + 1);
        let (parsed, next) = if at < bytes.len() && bytes[at] == b'"' {
            quoted_string(value, at)?
        } else {
            // Tokens, plus the characters some clients leave unquoted (e.g. `/` in a uri).
            let end = take_while(bytes, at, |b| {
                !is_ws(b) && b != b',' && b != b'"' && b.is_ascii_graphic()
            });
            if end == at {
                return Err(AuthorizationError::Malformed("expected a parameter value"));
            }
            (value[at..end].to_string(), end)
        };
        params.push((name, parsed));
        if params.len() > MAX_PARAMS {
            return Err(AuthorizationError::Malformed("too many parameters"));
        }
        at = skip_ws(bytes, next);
        if at < bytes.len() && bytes[at] != b',' {
            return Err(AuthorizationError::Malformed("expected ','"));
        }
    }
    if params.is_empty() {
        return Err(AuthorizationError::Malformed("no parameters"));
    }
    Ok(params)
}

fn skip_ws(bytes: &[u8], at: usize) -> usize {
    take_while(bytes, at, is_ws)
}

fn take_while(bytes: &[u8], mut at: usize, pred: impl Fn(u8) -> bool) -> usize {
    while at < bytes.len() && pred(bytes[at]) {
        at += 1;
    }
    at
}

/// A quoted-string starting at `start` (the opening `"`): its unescaped content and the index
/// after the closing quote. `\` escapes the next character, whatever it is.
fn quoted_string(value: &str, start: usize) -> Result<(String, usize), AuthorizationError> {
    let mut out = String::new();
    let mut chars = value[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + i + 1)),
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(AuthorizationError::Malformed("unterminated quoted-string"))
}

/// Writes `s` as a quoted-string, escaping `"` and `\`.
pub(super) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// The header value a client would send: `Digest username="…", …` (parameters quoted as
/// RFC 7616 §3.4 prescribes). `parse(to_string(x)) == x`.
impl fmt::Display for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        write_quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        write_quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        write_quoted(f, &self.response)?;
        write!(f, ", algorithm={}", self.algorithm.token())?;
        if let Some(qop) = &self.qop {
            write!(f, ", qop=auth, nc={}, cnonce=", qop.nc_text)?;
            write_quoted(f, &qop.cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        Ok(())
    }
}
