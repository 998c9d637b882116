//! The guard layer in front of every route: bearer tokens (or loopback-only without any),
//! the role table of `access.rs`, the failure limiter of `limiter.rs`, and the audit ledger.
//!
//! For a guarded path (`/metrics`, `/api/…`) each request goes through, in order:
//!
//! 1. the limiter: an address blocked for failing too often gets 429 with `Retry-After`;
//! 2. authentication: with tokens configured, `Authorization: Bearer <token>` (or
//!    `?access_token=` on the event stream, which browsers open without headers), else 401
//!    with `WWW-Authenticate: Bearer`; without tokens, loopback clients are admin and others
//!    get 403 `loopback_only`. Each refusal counts as a failure for the limiter;
//! 3. authorization by the role table: 403 `forbidden` (not counted: the client is known);
//! 4. the route itself, with the [`Principal`] in the request's extensions ([`Who`]).
//!
//! The ledger gets every refusal (the first 429 of each block only: a blocked flood must not
//! fill the disk), every write (any method but `GET`/`HEAD`) with the status answered and the
//! request body, and whatever a handler notes in an [`AuditNote`] (an unmasked view).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::access::{authorize, guarded, rule_for, Access, Decision, Principal};
use super::error::body_too_large;
use super::limiter::{Admission, FailureLimiter};
use super::BODY_LIMIT;
use crate::api::{ApiError, Command, EngineHandle};
use crate::audit::{clip_detail, AuditAction, AuditEntry};

/// The route browsers open as an `EventSource`, which cannot send headers: it alone accepts
/// the token as `?access_token=` (RFC 6750 §2.3). The ledger never stores the query.
const EVENT_STREAM: &str = "/api/v1/events";

/// What the guard layer holds.
#[derive(Debug, Clone)]
pub(super) struct Guard {
    access: Arc<Access>,
    limiter: Arc<Mutex<FailureLimiter>>,
    engine: EngineHandle,
    timeout: Duration,
}

impl Guard {
    pub(super) fn new(access: Access, engine: EngineHandle, timeout: Duration) -> Self {
        Self {
            access: Arc::new(access),
            limiter: Arc::new(Mutex::new(FailureLimiter::default())),
            engine,
            timeout,
        }
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, FailureLimiter> {
        // The limiter holds no invariant a panic elsewhere could break halfway.
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Something a handler wants in the ledger about its answer (e.g. the reason of an unmasked
/// view), put in the response's extensions.
#[derive(Debug, Clone)]
pub(super) struct AuditNote {
    pub(super) action: AuditAction,
    pub(super) detail: String,
}

impl AuditNote {
    /// Attach to `response`.
    pub(super) fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// The authenticated client, for handlers. Missing only if the guard layer is not installed:
/// then 500, never an unguarded answer.
#[derive(Debug)]
pub(super) struct Who(pub(super) Principal);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Self)
            .ok_or_else(|| ApiError {
                status: 500,
                code: "no_principal",
                message: "the request was not authenticated (the guard layer is missing)".into(),
            })
    }
}

/// One request's facts for its ledger entries.
struct Ledger {
    engine: EngineHandle,
    source: String,
    method: String,
    path: String,
}

impl Ledger {
    async fn write(
        &self,
        who: Option<&Principal>,
        status: u16,
        action: AuditAction,
        detail: Option<String>,
    ) {
        let entry = AuditEntry {
            at_ms: now_ms(),
            actor: who.map_or_else(|| "-".to_owned(), |p| p.actor.clone()),
            role: who.map(|p| p.role.as_str().to_owned()),
            source: self.source.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            status,
            action,
            detail,
        };
        if self.engine.tell(Command::Audit(entry)).await.is_err() {
            tracing::error!(
                action = action.as_str(),
                method = %self.method,
                path = %self.path,
                status,
                "audit entry lost: the engine has stopped"
            );
        }
    }
}

/// The client's address: from [`super::serve`] (`ConnectInfo`), or from `MockConnectInfo` in
/// tests without a socket; `None` if neither is there.
fn peer_of(req: &Request) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| ext.get::<MockConnectInfo<SocketAddr>>().map(|c| c.0))
}

#[allow(clippy::disallowed_methods)] // the shell's clock
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why authentication failed.
struct Refusal {
    error: ApiError,
    /// `WWW-Authenticate` for a 401.
    challenge: Option<&'static str>,
    action: AuditAction,
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub(super) async fn guard(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !guarded(&path) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let peer = peer_of(&req);
    let ledger = Ledger {
        engine: g.engine.clone(),
        source: peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
        method: method.to_string(),
        path: path.clone(),
    };
    let ip = peer.map(|p| p.ip().to_canonical());
    #[allow(clippy::disallowed_methods)] // the shell's clock
    let now = Instant::now();

    if let Some(ip) = ip {
        let admission = g.limiter().admit(ip, now);
        if let Admission::Blocked { retry_after, first } = admission {
            if first {
                let detail = format!(
                    "too many failed attempts from {ip}: refused for {} s; further refusals \
                     of this block are not recorded",
                    retry_after.as_secs()
                );
                ledger
                    .write(None, 429, AuditAction::RateLimited, Some(detail))
                    .await;
            }
            return too_many(retry_after);
        }
    }

    let who = match authenticate(&g.access, &req, &method, &path, ip) {
        Ok(who) => who,
        Err(refusal) => {
            if let Some(ip) = ip {
                g.limiter().failed(ip, now);
            }
            let status = refusal.error.status;
            ledger
                .write(
                    None,
                    status,
                    refusal.action,
                    Some(refusal.error.message.clone()),
                )
                .await;
            let mut response = refusal.error.into_response();
            if let Some(challenge) = refusal.challenge {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            return response;
        }
    };

    let write = method != Method::GET && method != Method::HEAD;
    let denied = match authorize(rule_for(&method, &path), &who) {
        Decision::Allow => None,
        Decision::Deny(why) => Some(why),
        Decision::IfOwnCall { seat, call } => match g.seat_call(&seat).await {
            Ok(Some(current)) if current.to_string() == call => None,
            Ok(_) => Some(format!(
                "seat {seat} may only transfer the call it is on, not call {call}"
            )),
            Err(e) => {
                ledger
                    .write(Some(&who), e.status, AuditAction::Write, None)
                    .await;
                return e.into_response();
            }
        },
    };
    if let Some(why) = denied {
        ledger
            .write(Some(&who), 403, AuditAction::Forbidden, Some(why.clone()))
            .await;
        return ApiError {
            status: 403,
            code: "forbidden",
            message: why,
        }
        .into_response();
    }

    let mut body_text = None;
    if write {
        match read_body(req).await {
            Ok((again, text)) => {
                req = again;
                body_text = text;
            }
            Err(e) => {
                ledger
                    .write(Some(&who), e.status, AuditAction::Write, None)
                    .await;
                return e.into_response();
            }
        }
    }
    req.extensions_mut().insert(who.clone());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    if let Some(note) = response.extensions().get::<AuditNote>() {
        ledger
            .write(Some(&who), status, note.action, Some(note.detail.clone()))
            .await;
    } else if write {
        ledger
            .write(Some(&who), status, AuditAction::Write, body_text)
            .await;
    }
    response
}

impl Guard {
    /// The call `seat` rings or talks on, as the engine sees it now.
    async fn seat_call(&self, seat: &str) -> Result<Option<u64>, ApiError> {
        let seat = seat.to_owned();
        let asked = tokio::time::timeout(
            self.timeout,
            self.engine.ask(|reply| Command::GetSeat { seat, reply }),
        )
        .await
        .map_err(|_| ApiError {
            status: 503,
            code: "engine_timeout",
            message: format!(
                "the engine did not answer within {} ms",
                self.timeout.as_millis()
            ),
        })??;
        Ok(asked.ok().and_then(|view| view.call))
    }
}

/// Who sent `req`, or why it is refused.
fn authenticate(
    access: &Access,
    req: &Request,
    method: &Method,
    path: &str,
    ip: Option<IpAddr>,
) -> Result<Principal, Refusal> {
    if access.is_loopback_only() {
        return match ip {
            Some(ip) if ip.is_loopback() => Ok(Principal::loopback()),
            _ => Err(Refusal {
                error: ApiError {
                    status: 403,
                    code: "loopback_only",
                    message: "no API tokens are configured (the secrets file has no [tokens]), \
                              so the API answers loopback clients only"
                        .into(),
                },
                challenge: None,
                action: AuditAction::Forbidden,
            }),
        };
    }
    let unauthenticated = |code: &'static str, message: &str, challenge: &'static str| Refusal {
        error: ApiError {
            status: 401,
            code,
            message: message.to_owned(),
        },
        challenge: Some(challenge),
        action: AuditAction::Unauthenticated,
    };
    let presented = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => match value.to_str().ok().and_then(bearer) {
            Some(token) => Some(token.to_owned()),
            None => {
                return Err(unauthenticated(
                    "unauthenticated",
                    "the Authorization header must be `Bearer <token>`",
                    r#"Bearer realm="hotline", error="invalid_request""#,
                ))
            }
        },
        None if path == EVENT_STREAM && (method == Method::GET || method == Method::HEAD) => {
            query_token(req.uri().query())
        }
        None => None,
    };
    let Some(token) = presented else {
        return Err(unauthenticated(
            "unauthenticated",
            "this API needs `Authorization: Bearer <token>` (a token from the secrets file)",
            r#"Bearer realm="hotline""#,
        ));
    };
    access.authenticate(&token).cloned().ok_or_else(|| {
        unauthenticated(
            "invalid_token",
            "the bearer token matches no configured token",
            r#"Bearer realm="hotline", error="invalid_token""#,
        )
    })
}

/// The token of `Bearer <token>` (the scheme in any case, RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `access_token` from a query string (percent-decoded), if there is exactly one.
fn query_token(query: Option<&str>) -> Option<String> {
    let uri = format!("/?{}", query?).parse().ok()?;
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri).ok()?;
    let mut tokens = pairs.into_iter().filter(|(k, _)| k == "access_token");
    let (_, token) = tokens.next()?;
    tokens.next().is_none().then_some(token)
}

/// 429 with `Retry-After` in whole seconds, rounded up.
fn too_many(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = ApiError {
        status: 429,
        code: "too_many_failures",
        message: format!("too many failed attempts from this address; try again in {secs} s"),
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Read a write's body (at most [`BODY_LIMIT`]) for the ledger and put it back for the
/// handler. The same errors as the JSON extractor: 413 over the limit, 400 unreadable.
async fn read_body(req: Request) -> Result<(Request, Option<String>), ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(body_too_large());
    }
    let bytes = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(body_too_large()),
        Err(e) => {
            return Err(ApiError::bad_request(
                "unreadable_body",
                format!("the request body could not be read: {e}"),
            ))
        }
    };
    let text = (!bytes.is_empty()).then(|| clip_detail(&String::from_utf8_lossy(&bytes)));
    Ok((Request::from_parts(parts, Body::from(bytes)), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_the_scheme_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn the_query_token_is_decoded_and_must_be_alone() {
        assert_eq!(
            query_token(Some("access_token=a%2Bb&x=1")).as_deref(),
            Some("a+b")
        );
        assert_eq!(query_token(Some("x=1")), None);
        assert_eq!(query_token(Some("access_token=a&access_token=b")), None);
        assert_eq!(query_token(None), None);
    }
}
