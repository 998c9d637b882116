//! The secrets file: seat credentials and API tokens, kept out of the shipped configuration.
//!
//! ```toml
//! [seats]
//! 1001 = "a long random password"
//!
//! [tokens.duty-1]                 # the name is the actor in the audit ledger
//! token = "9f1c0c6b2e…"           # at least 24 characters, e.g. `openssl rand -hex 32`
//! role = "supervisor"             # seat, monitor, supervisor or admin
//!
//! [tokens.seat-1001]
//! token = "…"
//! role = "seat"
//! seat = "1001"                   # role = "seat" only: the seat it is
//! ```
//!
//! Every problem is reported as `FILE:LINE[:COL]: key: message`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use hotline::http::access::{ApiToken, Role, LOOPBACK_ACTOR};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use sip_gateway::registrar::Credentials;
use toml::Spanned;

/// The shortest token accepted, in characters.
const TOKEN_MIN: usize = 24;
/// The longest token accepted, in characters.
const TOKEN_MAX: usize = 1024;
/// The longest token name accepted, in characters.
const NAME_MAX: usize = 64;

/// What the secrets file holds.
#[derive(Debug)]
pub(crate) struct Secrets {
    /// Seat credentials for the registrar.
    pub(crate) credentials: Credentials,
    /// API tokens, in file order.
    pub(crate) tokens: Vec<ApiToken>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    #[serde(default)]
    seats: HashMap<String, String>,
    #[serde(default)]
    tokens: BTreeMap<String, TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: Spanned<String>,
    role: Spanned<String>,
    #[serde(default)]
    seat: Option<Spanned<SeatRef>>,
}

/// A seat id written as a string (`"1001"`) or an integer (`1001`).
#[derive(Debug)]
struct SeatRef(String);

impl<'de> Deserialize<'de> for SeatRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SeatRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a seat id, e.g. \"1001\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SeatRef, E> {
                Ok(SeatRef(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SeatRef, E> {
                Ok(SeatRef(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SeatRef, E> {
                Ok(SeatRef(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Load the secrets file; `known_seat` says whether a seat id is in the plan. The error names
/// the file, line and key.
pub(crate) fn load(path: &Path, known_seat: impl Fn(&str) -> bool) -> Result<Secrets, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read secrets file: {e}", path.display()))?;
    let parsed: SecretsFile = toml::from_str(&text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
        format!("{}:{line}:{col}: {}", path.display(), e.message())
    })?;
    for (seat, password) in &parsed.seats {
        if password.is_empty() {
            let line = text
                .lines()
                .position(|l| {
                    l.trim_start()
                        .trim_start_matches('"')
                        .starts_with(seat.as_str())
                })
                .map_or(0, |i| i + 1);
            return Err(format!(
                "{}:{line}: seats.{seat}: empty password",
                path.display()
            ));
        }
    }
    let tokens = tokens(parsed.tokens, &known_seat).map_err(|(at, key, message)| {
        let (line, col) = line_col(&text, at);
        format!("{}:{line}:{col}: {key}: {message}", path.display())
    })?;
    Ok(Secrets {
        credentials: Credentials::new(parsed.seats),
        tokens,
    })
}

/// A problem: byte offset, dotted key, message.
type Problem = (usize, String, String);

/// Check every entry, in file order, and turn them into tokens.
fn tokens(
    entries: BTreeMap<String, TokenEntry>,
    known_seat: &impl Fn(&str) -> bool,
) -> Result<Vec<ApiToken>, Problem> {
    let mut entries: Vec<(String, TokenEntry)> = entries.into_iter().collect();
    entries.sort_by_key(|(_, e)| e.token.span().start.min(e.role.span().start));
    let mut out: Vec<ApiToken> = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let key = |k: &str| format!("tokens.{name}.{k}");
        let at_token = entry.token.span().start;
        let at_role = entry.role.span().start;
        check_name(&name).map_err(|m| (at_token.min(at_role), format!("tokens.{name}"), m))?;
        let token = entry.token.get_ref();
        check_token(token).map_err(|m| (at_token, key("token"), m))?;
        if let Some(other) = out.iter().find(|t| t.token == *token) {
            return Err((
                at_token,
                key("token"),
                format!(
                    "the same token as tokens.{}: each token must be its own, so the audit \
                     ledger can tell who used it",
                    other.name
                ),
            ));
        }
        let role = Role::named(entry.role.get_ref()).ok_or_else(|| {
            (
                at_role,
                key("role"),
                format!(
                    "unknown role {:?}: use seat, monitor, supervisor or admin",
                    entry.role.get_ref()
                ),
            )
        })?;
        let seat = match (role, entry.seat) {
            (Role::Seat, None) => {
                return Err((
                    at_role,
                    key("role"),
                    "role \"seat\" needs the seat it is: seat = \"<id>\"".into(),
                ))
            }
            (Role::Seat, Some(seat)) => {
                let at = seat.span().start;
                let SeatRef(id) = seat.into_inner();
                if !known_seat(&id) {
                    return Err((at, key("seat"), format!("no seat {id:?} in the plan")));
                }
                Some(id)
            }
            (_, Some(seat)) => {
                return Err((
                    seat.span().start,
                    key("seat"),
                    format!(
                        "seat is only for role \"seat\", not {:?}",
                        entry.role.get_ref()
                    ),
                ))
            }
            (_, None) => None,
        };
        out.push(ApiToken {
            name,
            token: entry.token.into_inner(),
            role,
            seat,
        });
    }
    Ok(out)
}

/// A token name is the actor of the audit ledger: printable, short, not a reserved actor.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(format!("a token's name must be 1 to {NAME_MAX} characters"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a token's name must not hold spaces or control characters".into());
    }
    if name == LOOPBACK_ACTOR || name == "-" {
        return Err(format!(
            "{name:?} is reserved (the audit ledger uses it for clients without a token)"
        ));
    }
    Ok(())
}

/// A bearer token (RFC 6750 §2.1 `b64token`), long enough not to be guessed.
fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("empty token".into());
    }
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let body = token.trim_end_matches('=');
    if body.is_empty() || !body.chars().all(b64token) {
        return Err(
            "a token may hold only letters, digits and - . _ ~ + / (then = padding), as an \
             `Authorization: Bearer` header allows"
                .into(),
        );
    }
    let n = token.chars().count();
    if n < TOKEN_MIN {
        return Err(format!(
            "too short ({n} characters): use at least {TOKEN_MIN} random characters, e.g. \
             `openssl rand -hex 32`"
        ));
    }
    if n > TOKEN_MAX {
        return Err(format!("too long ({n} characters; at most {TOKEN_MAX})"));
    }
    Ok(())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hotline-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn seats_1001_to_1190(id: &str) -> bool {
        id.parse::<u32>().is_ok_and(|n| (1001..=1190).contains(&n))
    }

    /// Tests run in parallel in one directory: token cases get files of their own.
    fn load_text(name: &str, text: &str) -> Result<Secrets, String> {
        load(&write(&format!("tokens-{name}"), text), seats_1001_to_1190)
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let path = write("bad.toml", "[seats]\n1001 = \"x\"\n[extra]\nfoo = 1\n");
        let err = load(&path, |_| true).expect_err("unknown section");
        assert!(err.contains("bad.toml:3:"), "{err}");
        assert!(err.contains("extra"), "{err}");
    }

    #[test]
    fn wrong_type_names_line() {
        let path = write("type.toml", "[seats]\n1001 = 5\n");
        let err = load(&path, |_| true).expect_err("number");
        assert!(err.contains("type.toml:2:"), "{err}");
    }

    #[test]
    fn empty_password_is_refused() {
        let path = write("empty.toml", "[seats]\n1001 = \"\"\n");
        let err = load(&path, |_| true).expect_err("empty");
        assert!(err.contains("seats.1001"), "{err}");
    }

    #[test]
    fn good_file_loads() {
        let path = write("good.toml", "[seats]\n1001 = \"pw1\"\n\"1002\" = \"pw2\"\n");
        let secrets = load(&path, |_| true).expect("loads");
        assert_eq!(secrets.credentials.len(), 2);
        assert!(secrets.tokens.is_empty());
    }

    #[test]
    fn tokens_load_in_file_order_with_roles_and_seats() {
        let text = format!(
            "[tokens.zz-admin]\ntoken = \"{GOOD}\"\nrole = \"admin\"\n\n\
             [tokens.seat-1001]\ntoken = \"{GOOD}00\"\nrole = \"seat\"\nseat = 1001\n\n\
             [tokens.wall]\ntoken = \"{GOOD}11\"\nrole = \"monitor\"\n\n\
             [tokens.\"值班长\"]\ntoken = \"{GOOD}22==\"\nrole = \"supervisor\"\n"
        );
        let secrets = load_text("tokens.toml", &text).expect("loads");
        let got: Vec<(&str, Role, Option<&str>)> = secrets
            .tokens
            .iter()
            .map(|t| (t.name.as_str(), t.role, t.seat.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("zz-admin", Role::Admin, None),
                ("seat-1001", Role::Seat, Some("1001")),
                ("wall", Role::Monitor, None),
                ("值班长", Role::Supervisor, None),
            ]
        );
        assert_eq!(secrets.credentials.len(), 0);
    }

    /// Each bad entry is reported at its file, line and key.
    #[test]
    fn bad_tokens_name_file_line_and_key() {
        let cases: &[(&str, String, &str, &str)] = &[
            (
                "empty",
                "[tokens.a]\nrole = \"admin\"\ntoken = \"\"\n".into(),
                ":3:9: tokens.a.token:",
                "empty token",
            ),
            (
                "short",
                "[tokens.a]\ntoken = \"abc123\"\nrole = \"admin\"\n".into(),
                ":2:9: tokens.a.token:",
                "too short (6 characters)",
            ),
            (
                "chars",
                format!("[tokens.a]\ntoken = \"{GOOD} x\"\nrole = \"admin\"\n"),
                ":2:9: tokens.a.token:",
                "only letters, digits",
            ),
            (
                "role",
                format!("[tokens.a]\ntoken = \"{GOOD}\"\nrole = \"root\"\n"),
                ":3:8: tokens.a.role:",
                "unknown role \"root\"",
            ),
            (
                "no-seat",
                format!("\n[tokens.s]\ntoken = \"{GOOD}\"\nrole = \"seat\"\n"),
                ":4:8: tokens.s.role:",
                "needs the seat it is",
            ),
            (
                "seat-unknown",
                format!("[tokens.s]\ntoken = \"{GOOD}\"\nrole = \"seat\"\nseat = \"9999\"\n"),
                ":4:8: tokens.s.seat:",
                "no seat \"9999\" in the plan",
            ),
            (
                "seat-on-supervisor",
                format!("[tokens.s]\ntoken = \"{GOOD}\"\nrole = \"supervisor\"\nseat = \"1001\"\n"),
                ":4:8: tokens.s.seat:",
                "only for role \"seat\"",
            ),
            (
                "duplicate",
                format!(
                    "[tokens.a]\ntoken = \"{GOOD}\"\nrole = \"admin\"\n\
                     [tokens.b]\ntoken = \"{GOOD}\"\nrole = \"monitor\"\n"
                ),
                ":5:9: tokens.b.token:",
                "the same token as tokens.a",
            ),
            (
                "reserved",
                format!("[tokens.loopback]\ntoken = \"{GOOD}\"\nrole = \"admin\"\n"),
                ":2:9: tokens.loopback:",
                "reserved",
            ),
            (
                "missing",
                "[tokens.a]\nrole = \"admin\"\n".into(),
                "missing.toml:1:",
                "missing field `token`",
            ),
            (
                "extra-key",
                format!("[tokens.a]\ntoken = \"{GOOD}\"\nrole = \"admin\"\nexpires = 1\n"),
                "extra-key.toml:4:",
                "expires",
            ),
            (
                "seat-type",
                format!("[tokens.s]\ntoken = \"{GOOD}\"\nrole = \"seat\"\nseat = true\n"),
                "seat-type.toml:4:",
                "a seat id",
            ),
        ];
        for (name, text, at, message) in cases {
            let file = format!("{name}.toml");
            let err = load_text(&file, text).expect_err(name);
            assert!(
                err.contains(&format!("{file}{at}")) || err.contains(at),
                "{name}: {err}"
            );
            assert!(err.contains(message), "{name}: {err}");
        }
    }
}
