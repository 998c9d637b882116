//! The wallboard (大屏): the page at `/` with its stylesheet and script, and the live feed it
//! reads, `GET /api/v1/events` (server-sent events; docs/decisions/0016-wallboard.md).
//!
//! One poller per server asks the engine for a [`WallboardView`] every [`FeedConfig::poll_every`]
//! while at least one board is connected, and publishes it through a `watch` channel only when
//! it changed. Each stream client holds a receiver of that channel and nothing else: a client
//! costs the engine no work, and one that vanishes frees its receiver and its place among
//! [`FeedConfig::max_clients`] as soon as its stream is dropped. With no client the poller
//! stops, and the engine is not asked at all.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::api::{ApiError, Command, EngineHandle, WallboardView};

#[cfg(test)]
mod tests;

/// How often the poller asks the engine while a board is connected: twice a second, so a
/// change reaches the screen within a second.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(500);

/// A comment line on an idle stream this often keeps proxies and the browser from closing it.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Stream clients served at once; more are answered 503 `too_many_streams`. A room of
/// screens and every supervisor's browser fit many times over, while a client that opens
/// streams in a loop cannot hold more than this many sockets and buffers.
pub(super) const MAX_CLIENTS: usize = 1000;

/// How long a new stream waits for the poller's first snapshot before its response starts
/// anyway (the engine may be slow; the snapshot then follows when it comes).
const FIRST_SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

/// The page, its stylesheet and its script, shipped in the binary: no build step.
const INDEX_HTML: &str = include_str!("wallboard/index.html");
const WALLBOARD_CSS: &str = include_str!("wallboard/wallboard.css");
const WALLBOARD_JS: &str = include_str!("wallboard/wallboard.js");

/// Only our own files and API: the page loads nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The feed's settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct FeedConfig {
    /// See [`POLL_EVERY`].
    pub(super) poll_every: Duration,
    /// See [`KEEP_ALIVE`].
    pub(super) keep_alive: Duration,
    /// See [`MAX_CLIENTS`].
    pub(super) max_clients: usize,
    /// How long the poller waits for one answer of the engine.
    pub(super) engine_timeout: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            poll_every: POLL_EVERY,
            keep_alive: KEEP_ALIVE,
            max_clients: MAX_CLIENTS,
            engine_timeout: super::ENGINE_TIMEOUT,
        }
    }
}

/// What the watch channel holds.
#[derive(Debug, Clone)]
enum Frame {
    /// No snapshot yet since the poller (re)started.
    Nothing,
    /// The latest snapshot, as JSON, serialized once for every client.
    Snapshot(Arc<str>),
    /// The engine has stopped: streams end (so a graceful shutdown is not held open).
    Closed,
}

/// The shared feed: the watch channel, the poller's flag and the client bound.
#[derive(Debug, Clone)]
pub(super) struct Feed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: EngineHandle,
    config: FeedConfig,
    tx: watch::Sender<Frame>,
    /// Whether a poller runs. Taken by a subscriber that may start one and by the poller
    /// deciding to stop, so that a board arriving as the poller stops is never left without.
    polling: Mutex<bool>,
    clients: Arc<Semaphore>,
}

impl Feed {
    pub(super) fn new(engine: EngineHandle, config: FeedConfig) -> Self {
        let (tx, _) = watch::channel(Frame::Nothing);
        Self {
            inner: Arc::new(Inner {
                engine,
                config,
                tx,
                polling: Mutex::new(false),
                clients: Arc::new(Semaphore::new(config.max_clients)),
            }),
        }
    }

    /// A receiver that sees the current frame first; starts the poller if none runs.
    fn subscribe(&self) -> watch::Receiver<Frame> {
        let mut polling = self
            .inner
            .polling
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut rx = self.inner.tx.subscribe();
        rx.mark_changed();
        if !*polling {
            *polling = true;
            tokio::spawn(poll(Arc::clone(&self.inner)));
        }
        rx
    }

    /// Stream clients connected now.
    #[cfg(test)]
    pub(super) fn clients(&self) -> usize {
        self.inner.config.max_clients - self.inner.clients.available_permits()
    }

    /// Whether the poller runs.
    #[cfg(test)]
    pub(super) fn polling(&self) -> bool {
        *self
            .inner
            .polling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wallboard's routes over `engine`, with their own state, for merging into the API's
/// router.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(engine: EngineHandle) -> Router<S> {
    routes_with(Feed::new(engine, FeedConfig::default()))
}

pub(super) fn routes_with<S: Clone + Send + Sync + 'static>(feed: Feed) -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/wallboard.css", get(stylesheet))
        .route("/wallboard.js", get(script))
        .route("/api/v1/events", get(events))
        .with_state(feed)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Always revalidated: a new binary's page is seen at the next load.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", WALLBOARD_CSS)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", WALLBOARD_JS)
}

/// `GET /api/v1/events`: `event: snapshot` with a [`WallboardView`] as JSON now and at every
/// change, a keep-alive comment when idle.
async fn events(State(feed): State<Feed>) -> Result<Response, ApiError> {
    let permit = Arc::clone(&feed.inner.clients)
        .try_acquire_owned()
        .map_err(|_| ApiError {
            status: 503,
            code: "too_many_streams",
            message: format!(
                "{} event streams are open already; try again later",
                feed.inner.config.max_clients
            ),
        })?;
    let mut rx = feed.subscribe();
    // Answer with a snapshot at hand (the poller may be starting): the response brings the
    // figures, rather than an empty page that fills a moment later.
    let first = rx.wait_for(|frame| !matches!(frame, Frame::Nothing));
    let _ = tokio::time::timeout(FIRST_SNAPSHOT_WAIT, first).await;
    rx.mark_changed();
    let stream = futures_util::stream::unfold((rx, permit), next_snapshot);
    let keep_alive = KeepAlive::new()
        .interval(feed.inner.config.keep_alive)
        .text("keep-alive");
    let mut response = Sse::new(stream).keep_alive(keep_alive).into_response();
    // A reverse proxy (nginx) must pass events on as they come, not buffer them.
    response
        .headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    Ok(response)
}

/// The stream's next event: the next snapshot published, or the end when the engine stopped.
/// The permit travels with the receiver and is released with it.
async fn next_snapshot(
    (mut rx, permit): (watch::Receiver<Frame>, OwnedSemaphorePermit),
) -> Option<(
    Result<Event, Infallible>,
    (watch::Receiver<Frame>, OwnedSemaphorePermit),
)> {
    loop {
        // The sender lives as long as the router: `changed` fails only if it is gone.
        rx.changed().await.ok()?;
        let frame = rx.borrow_and_update().clone();
        match frame {
            Frame::Nothing => {}
            Frame::Snapshot(json) => {
                let event = Event::default().event("snapshot").data(&*json);
                return Some((Ok(event), (rx, permit)));
            }
            Frame::Closed => return None,
        }
    }
}

/// Ask the engine every `poll_every` while anyone listens; publish what changed.
async fn poll(feed: Arc<Inner>) {
    let mut tick = tokio::time::interval(feed.config.poll_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<WallboardView> = None;
    loop {
        tick.tick().await;
        if stop_if_alone(&feed) {
            return;
        }
        let asked = feed.engine.ask(|reply| Command::Wallboard { reply });
        match tokio::time::timeout(feed.config.engine_timeout, asked).await {
            Ok(Ok(view)) => {
                if last.as_ref().is_some_and(|last| same_board(last, &view)) {
                    continue;
                }
                match serde_json::to_string(&view) {
                    Ok(json) => {
                        feed.tx.send_replace(Frame::Snapshot(json.into()));
                        last = Some(view);
                    }
                    Err(e) => tracing::error!(error = %e, "wallboard snapshot not serializable"),
                }
            }
            Ok(Err(_)) => {
                // The engine has stopped for good (its command channel is closed).
                *feed.polling.lock().unwrap_or_else(PoisonError::into_inner) = false;
                feed.tx.send_replace(Frame::Closed);
                return;
            }
            // A slow engine: the board keeps its last snapshot (whose `at` shows its age).
            Err(_) => tracing::debug!("the engine did not answer the wallboard in time"),
        }
    }
}

/// Stop polling when no board listens (under the lock a subscriber takes).
fn stop_if_alone(feed: &Inner) -> bool {
    let mut polling = feed.polling.lock().unwrap_or_else(PoisonError::into_inner);
    if feed.tx.receiver_count() > 0 {
        return false;
    }
    *polling = false;
    // The next board starts from a fresh snapshot, not from this one grown old.
    feed.tx.send_replace(Frame::Nothing);
    true
}

/// Equal but for the moment they were taken.
fn same_board(a: &WallboardView, b: &WallboardView) -> bool {
    let mut b = b.clone();
    b.stats.at = a.stats.at;
    *a == b
}
