//! The ticket push (工单推送): when a seat transfers a call to a sub-platform that has a
//! ticket-push URL, the call's ticket (its context, as JSON) is POSTed to that URL.
//!
//! [`TicketPusher::push`] returns at once; a tokio task per ticket makes the attempts and calls
//! the `done` callback exactly once with the [`PushOutcome`].
//!
//! Each attempt is `POST <url>` with `Content-Type: application/json`, the [`Ticket`] as the body,
//! `Idempotency-Key: <`[`Ticket::idempotency_key`]`>` (the same on every attempt, so a receiver
//! that saw an attempt whose answer we lost can drop the repeat) and `User-Agent: hotline/<version>`.
//! An attempt has [`ATTEMPT_TIMEOUT`] (5 s) to connect, send and get the response head.
//!
//! - 2xx: [`PushOutcome::Delivered`].
//! - 408, 429, 5xx, connection errors and timeouts: tried again per the [`RetryPolicy`]; after the
//!   last attempt, [`PushOutcome::Failed`] with the last attempt's reason.
//! - Any other 4xx (the receiver refused the ticket) and 3xx (redirects are not followed):
//!   [`PushOutcome::Failed`] at once, reason `HTTP <status>: <first 200 bytes of the body>`.
//! - A URL that does not parse, is not absolute or is not `http://`: [`PushOutcome::Failed`] at
//!   once with `attempts: 0`, the reason naming the URL.
//!
//! Only plain `http://` is spoken: an `https://` URL is refused with "https needs a
//! TLS-terminating proxy; use http://" (put a TLS-terminating proxy, e.g. nginx or stunnel, in
//! front of the receiver, or between us and it).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::privacy::CallerNumber;

/// How long one attempt may take: connect, send the ticket, get the response head (and the first
/// bytes of an error body).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of a refusing response's body goes into [`PushOutcome::Failed::reason`].
const BODY_EXCERPT: usize = 200;

/// The refusal of an `https://` URL.
const HTTPS_REFUSED: &str = "https needs a TLS-terminating proxy; use http://";

/// One ticket to push: the call's context as JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ticket {
    /// Our call id (also the ticket number, `X-Hotline-Ticket`).
    pub call: u64,
    /// The transfer's id within the call (1, 2, …), so two transfers of one call are two tickets.
    pub transfer: u32,
    /// Target key in the configuration (e.g. "renshe").
    pub target: String,
    /// The number the caller first dialled (`X-Hotline-Line`).
    pub line: String,
    /// Topic (`X-Hotline-Topic`), if any.
    pub topic: Option<String>,
    /// The caller's number: in full in the pushed JSON (the receiving platform takes the
    /// case on), masked in `Debug`.
    pub caller: CallerNumber,
    /// The seat that transferred.
    pub seat: Option<u32>,
    /// When the transfer started, Unix ms.
    pub at: i64,
}

impl Ticket {
    /// The idempotency key sent as `Idempotency-Key` on every attempt: stable for one
    /// (call, transfer, target), `hotline-<call>-<transfer>-<target>`.
    ///
    /// Bytes of the target outside `A-Z a-z 0-9 - . _ ~` are percent-encoded (`%XX`), so the key
    /// is always a valid header value (a target key such as "人社" still gives one stable key).
    pub fn idempotency_key(&self) -> String {
        let mut key = format!("hotline-{}-{}-", self.call, self.transfer);
        for &b in self.target.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                key.push(char::from(b));
            } else {
                key.push_str(&format!("%{b:02X}"));
            }
        }
        key
    }
}

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// The 2xx status.
        status: u16,
        /// Attempts made, the successful one included (1 = first time).
        attempts: u32,
    },
    /// The receiver refused the ticket, or every attempt failed, or the URL is unusable.
    Failed {
        /// Why (the last attempt's reason when all attempts failed).
        reason: String,
        /// Attempts made (0 when the URL was refused before any request).
        attempts: u32,
    },
}

/// Retry schedule, pure: attempt n (1-based) waits `delay(n)` before it; give up after
/// `max_attempts`.
///
/// The delay doubles from `first_delay` (attempt 2) and is capped at `max_delay`; attempt 1 goes
/// at once. A `max_attempts` of 0 is taken as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Wait before attempt 2.
    pub first_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s doubling, capped at 30 s (waits 0, 1, 2, 4, 8 s).
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (1-based): 0 for attempt 1 (and 0),
    /// `min(first_delay * 2^(attempt-2), max_delay)` after.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let doublings = attempt - 2;
        let delay = 1u32
            .checked_shl(doublings)
            .and_then(|factor| self.first_delay.checked_mul(factor))
            .unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }

    fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }
}

type Done = dyn Fn(Ticket, PushOutcome) + Send + Sync;
type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Inner {
    policy: RetryPolicy,
    done: Box<Done>,
    client: HttpClient,
}

/// Pushes tickets in the background (tokio tasks on the current runtime), one task per ticket;
/// `done` is called once per ticket with its outcome.
///
/// Cloning is cheap (the clones share the policy, the callback and the HTTP client).
#[derive(Clone)]
pub struct TicketPusher {
    inner: Arc<Inner>,
}

impl fmt::Debug for TicketPusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketPusher")
            .field("policy", &self.inner.policy)
            .field("attempt_timeout", &ATTEMPT_TIMEOUT)
            .finish_non_exhaustive()
    }
}

impl TicketPusher {
    /// A pusher with this retry policy; `done` gets each ticket back with its outcome, on the
    /// ticket's task (so it should not block).
    pub fn new(
        policy: RetryPolicy,
        done: impl Fn(Ticket, PushOutcome) + Send + Sync + 'static,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        // Pushes are rare (one per transfer): a fresh connection per attempt, no idle sockets.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Self {
            inner: Arc::new(Inner {
                policy,
                done: Box::new(done),
                client,
            }),
        }
    }

    /// Starts pushing `ticket` to `url` (returns at once).
    ///
    /// The outcome, even for a URL refused without any request, goes to `done` from the spawned
    /// task, never from inside this call. Called outside a tokio runtime, nothing can be spawned:
    /// `done` is then called here with a `Failed` outcome.
    pub fn push(&self, url: &str, ticket: Ticket) {
        let inner = Arc::clone(&self.inner);
        let url = url.to_owned();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let outcome = inner.run(&url, &ticket).await;
                    (inner.done)(ticket, outcome);
                });
            }
            Err(_) => {
                tracing::error!(
                    call = ticket.call,
                    transfer = ticket.transfer,
                    "ticket push outside a tokio runtime"
                );
                let outcome = PushOutcome::Failed {
                    reason: "ticket push started outside a tokio runtime".to_owned(),
                    attempts: 0,
                };
                (inner.done)(ticket, outcome);
            }
        }
    }
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// 2xx.
    Delivered(u16),
    /// Worth another attempt (408, 429, 5xx, connection error, timeout).
    Retry(String),
    /// Final refusal (other 4xx, 3xx).
    Refused(String),
}

impl Inner {
    async fn run(&self, url: &str, ticket: &Ticket) -> PushOutcome {
        let uri = match parse_url(url) {
            Ok(uri) => uri,
            Err(reason) => {
                tracing::warn!(call = ticket.call, transfer = ticket.transfer, target = %ticket.target, %reason, "ticket push refused");
                return PushOutcome::Failed {
                    reason,
                    attempts: 0,
                };
            }
        };
        let body = match serde_json::to_vec(ticket) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                return PushOutcome::Failed {
                    reason: format!("cannot encode the ticket as JSON: {e}"),
                    attempts: 0,
                }
            }
        };
        let key = ticket.idempotency_key();
        let max = self.policy.attempts();
        let mut last = String::new();
        for attempt in 1..=max {
            let delay = self.policy.delay_before(attempt);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result =
                attempt_once(&self.client, &uri, &key, body.clone(), ATTEMPT_TIMEOUT).await;
            match result {
                Attempt::Delivered(status) => {
                    tracing::info!(call = ticket.call, transfer = ticket.transfer, target = %ticket.target, status, attempt, "ticket delivered");
                    return PushOutcome::Delivered {
                        status,
                        attempts: attempt,
                    };
                }
                Attempt::Refused(reason) => {
                    tracing::warn!(call = ticket.call, transfer = ticket.transfer, target = %ticket.target, %reason, attempt, "ticket refused");
                    return PushOutcome::Failed {
                        reason,
                        attempts: attempt,
                    };
                }
                Attempt::Retry(reason) => {
                    tracing::warn!(call = ticket.call, transfer = ticket.transfer, target = %ticket.target, %reason, attempt, max, "ticket push attempt failed");
                    last = reason;
                }
            }
        }
        PushOutcome::Failed {
            reason: last,
            attempts: max,
        }
    }
}

/// The URL as an absolute `http://` URI, or why not.
fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("ticket-push URL {url:?} does not parse: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(s) if s.eq_ignore_ascii_case("https") => {
            return Err(format!("ticket-push URL {url:?}: {HTTPS_REFUSED}"));
        }
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(other) => {
            return Err(format!(
                "ticket-push URL {url:?}: scheme {other:?} is not supported; use http://"
            ));
        }
        None => {
            return Err(format!(
                "ticket-push URL {url:?} is not an absolute http:// URL"
            ));
        }
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(uri),
        _ => Err(format!("ticket-push URL {url:?} has no host")),
    }
}

/// One POST, bounded by `timeout`.
async fn attempt_once(
    client: &HttpClient,
    uri: &Uri,
    key: &str,
    body: Bytes,
    timeout: Duration,
) -> Attempt {
    let authority = uri
        .authority()
        .map_or_else(String::new, ToString::to_string);
    match tokio::time::timeout(timeout, exchange(client, uri, key, body)).await {
        Ok(result) => result,
        Err(_) => Attempt::Retry(format!(
            "no response from {authority} within {} s",
            timeout.as_secs_f64()
        )),
    }
}

async fn exchange(client: &HttpClient, uri: &Uri, key: &str, body: Bytes) -> Attempt {
    let authority = uri
        .authority()
        .map_or_else(String::new, ToString::to_string);
    let key = match HeaderValue::from_str(key) {
        Ok(key) => key,
        Err(e) => {
            return Attempt::Refused(format!(
                "idempotency key {key:?} is not a header value: {e}"
            ))
        }
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header("idempotency-key", key)
        .header(
            USER_AGENT,
            HeaderValue::from_static(concat!("hotline/", env!("CARGO_PKG_VERSION"))),
        )
        .body(Full::new(body));
    let request = match request {
        Ok(request) => request,
        Err(e) => return Attempt::Refused(format!("cannot build the request: {e}")),
    };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => {
            let what = if e.is_connect() {
                format!("cannot connect to {authority}")
            } else {
                format!("request to {authority} failed")
            };
            return Attempt::Retry(format!("{what}: {}", error_chain(&e)));
        }
    };
    classify(response).await
}

async fn classify(response: Response<Incoming>) -> Attempt {
    let status = response.status();
    if status.is_success() {
        return Attempt::Delivered(status.as_u16());
    }
    let location = response
        .headers()
        .get(LOCATION)
        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
    let excerpt = body_excerpt(response.into_body()).await;
    let reason = format!("HTTP {}: {excerpt}", status.as_u16());
    let retry = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retry {
        Attempt::Retry(reason)
    } else if status.is_redirection() {
        let to = location.unwrap_or_default();
        Attempt::Refused(format!("{reason} (redirect to {to:?} not followed)"))
    } else {
        Attempt::Refused(reason)
    }
}

/// The first [`BODY_EXCERPT`] bytes of `body`, as text (cut at a character boundary, lines
/// joined, trimmed); whatever could be read if the body fails midway.
async fn body_excerpt(mut body: Incoming) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_EXCERPT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    excerpt(&bytes)
}

fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(BODY_EXCERPT)];
    let text = match std::str::from_utf8(cut) {
        Ok(text) => text.to_owned(),
        // A character split by the cut: drop its first bytes.
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `e`'s sources joined with ": " (the legacy client's own "client error (Connect)" left out).
fn error_chain(e: &hyper_util::client::legacy::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn default_policy_waits_0_1_2_4_8_seconds() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 5);
        let waits: Vec<u64> = (1..=5).map(|n| p.delay_before(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2, 4, 8]);
        assert_eq!(p.delay_before(0), Duration::ZERO);
    }

    #[test]
    fn delay_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_before(6), Duration::from_secs(16));
        assert_eq!(p.delay_before(7), Duration::from_secs(30));
        assert_eq!(p.delay_before(8), Duration::from_secs(30));
        // Shifts and multiplications that overflow are capped too.
        assert_eq!(p.delay_before(40), Duration::from_secs(30));
        assert_eq!(p.delay_before(u32::MAX), Duration::from_secs(30));
        let huge = RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::MAX,
            max_delay: Duration::from_secs(60),
        };
        assert_eq!(huge.delay_before(2), Duration::from_secs(60));
        assert_eq!(huge.delay_before(3), Duration::from_secs(60));
    }

    #[test]
    fn fast_policy() {
        let p = RetryPolicy {
            max_attempts: 4,
            first_delay: 10 * MS,
            max_delay: 25 * MS,
        };
        let waits: Vec<Duration> = (1..=4).map(|n| p.delay_before(n)).collect();
        assert_eq!(waits, [Duration::ZERO, 10 * MS, 20 * MS, 25 * MS]);
        let none = RetryPolicy {
            max_attempts: 0,
            ..p
        };
        assert_eq!(none.attempts(), 1);
    }

    fn ticket(target: &str) -> Ticket {
        Ticket {
            call: 42,
            transfer: 2,
            target: target.to_owned(),
            line: "12345".to_owned(),
            topic: None,
            caller: CallerNumber::new("13800000000".to_owned()).revealed(),
            seat: Some(7),
            at: 1_700_000_000_000,
        }
    }

    #[test]
    fn idempotency_key_is_stable_and_a_header_value() {
        assert_eq!(ticket("renshe").idempotency_key(), "hotline-42-2-renshe");
        assert_eq!(
            ticket("renshe").idempotency_key(),
            ticket("renshe").idempotency_key()
        );
        let key = ticket("人社 x").idempotency_key();
        assert_eq!(key, "hotline-42-2-%E4%BA%BA%E7%A4%BE%20x");
        assert!(HeaderValue::from_str(&key).is_ok());
    }

    #[test]
    fn ticket_json_fields() {
        let json = serde_json::to_value(ticket("renshe")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "call": 42, "transfer": 2, "target": "renshe", "line": "12345", "topic": null,
                "caller": "13800000000", "seat": 7, "at": 1_700_000_000_000_i64
            })
        );
    }

    #[test]
    fn urls() {
        assert!(parse_url("http://127.0.0.1:8080/tickets").is_ok());
        assert!(parse_url("HTTP://example.org/t").is_ok());
        let https = parse_url("https://example.org/t").unwrap_err();
        assert!(https.contains(HTTPS_REFUSED), "{https}");
        for bad in [
            "",
            "not a url",
            "example.org/t",
            "/tickets",
            "ftp://example.org/t",
            "http://",
        ] {
            let reason = parse_url(bad).unwrap_err();
            assert!(reason.contains(&format!("{bad:?}")), "{reason}");
        }
    }

    #[test]
    fn excerpts() {
        assert_eq!(excerpt(b"  bad\r\n  ticket \n"), "bad ticket");
        let long = "x".repeat(300);
        assert_eq!(excerpt(long.as_bytes()).len(), 200);
        // 67 three-byte characters = 201 bytes: the cut falls inside the 67th.
        let chinese = "工".repeat(67);
        assert_eq!(excerpt(chinese.as_bytes()), "工".repeat(66));
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[tokio::test]
    async fn an_attempt_without_answer_times_out() {
        // Accepts, reads nothing, answers nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(HttpConnector::new());
        let uri: Uri = format!("http://{addr}/t").parse().unwrap();
        let got = attempt_once(&client, &uri, "k", Bytes::from_static(b"{}"), 50 * MS).await;
        assert_eq!(
            got,
            Attempt::Retry(format!("no response from {addr} within 0.05 s"))
        );
        server.abort();
    }

    #[test]
    fn push_outside_a_runtime_reports_failure() {
        let (tx, rx) = std::sync::mpsc::channel();
        let pusher = TicketPusher::new(RetryPolicy::default(), move |t, o| {
            let _ = tx.send((t, o));
        });
        pusher.push("http://127.0.0.1:9/t", ticket("renshe"));
        let (t, o) = rx.recv().unwrap();
        assert_eq!(t, ticket("renshe"));
        assert!(
            matches!(o, PushOutcome::Failed { attempts: 0, .. }),
            "{o:?}"
        );
        assert!(format!("{pusher:?}").contains("TicketPusher"));
    }
}
