//! The JSON API under `/api/v1`, plus `/metrics`, `/healthz` and the wallboard at `/`
//! (reference: docs/api.md).
//!
//! Handlers hold no engine state: each sends one [`Command`] through the [`EngineHandle`] and
//! turns the reply into JSON. Every failure, including the framework's own (unknown path, wrong
//! method, unreadable body), is answered with the same JSON error body
//! `{"error": {"code": "...", "message": "..."}}` and the status of its [`ApiError`].
//!
//! One layer guards every route (`auth.rs`): bearer tokens and the role table of
//! [`access`], failed attempts limited per address, writes and refusals in the audit ledger.
//! [`serve`] provides the client's address the layer needs.
//!
//! ```no_run
//! # async fn f(engine: hotline::api::EngineHandle) -> std::io::Result<()> {
//! use std::sync::Arc;
//! let metrics = Arc::new(hotline::metrics::Metrics::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let router = hotline::http::router(engine, metrics);
//! hotline::http::serve(listener, router, std::future::pending()).await
//! # }
//! ```

pub mod access;
mod audit;
mod auth;
mod calls;
mod error;
pub mod limiter;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;
mod wallboard;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::{
    ApiError, CallView, Command, EngineHandle, QueueView, Reply, SeatAssignRequest,
    SeatStateRequest, SeatView, StatsView, SurgeView, TransferRequest, TransferView,
    WithdrawRequest,
};
use crate::metrics::{self, Metrics};
use access::Access;
use auth::Guard;
use error::{CallPath, JsonBody, SeatId};

/// The largest request body accepted (64 KiB); larger bodies are answered 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a handler waits for the engine's answer before replying 503 `engine_timeout`.
/// Long enough for `Stats` and `RefreshGauges`, which wait for storage to commit; short enough
/// to answer before a Prometheus scrape timeout's default (10 s) is reached by the client.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone)]
struct AppState {
    engine: EngineHandle,
    metrics: Arc<Metrics>,
    timeout: Duration,
}

/// The routes of docs/api.md over `engine`, answering loopback clients only (as admin): no
/// tokens are configured. `GET /metrics` renders `metrics` after asking the engine to refresh
/// its gauges.
pub fn router(engine: EngineHandle, metrics: Arc<Metrics>) -> Router {
    router_with_access(engine, metrics, Access::loopback_only())
}

/// [`router`] guarded by `access`: with tokens, every guarded request needs one.
pub fn router_with_access(engine: EngineHandle, metrics: Arc<Metrics>, access: Access) -> Router {
    build(engine, metrics, access, ENGINE_TIMEOUT)
}

#[cfg(test)]
fn router_with_timeout(engine: EngineHandle, metrics: Arc<Metrics>, timeout: Duration) -> Router {
    build(engine, metrics, Access::loopback_only(), timeout)
}

fn build(engine: EngineHandle, metrics: Arc<Metrics>, access: Access, timeout: Duration) -> Router {
    let guard = Guard::new(access, engine.clone(), timeout);
    Router::new()
        .route("/api/v1/seats", get(list_seats))
        .route("/api/v1/seats/{id}", get(get_seat))
        .route("/api/v1/seats/{id}/state", post(set_seat_state))
        .route("/api/v1/seats/{id}/pools", post(assign_seat))
        .route("/api/v1/calls", get(calls::list_calls))
        .route("/api/v1/calls/{id}/transfer", post(start_transfer))
        .route(
            "/api/v1/calls/{id}/transfer/complete",
            post(complete_transfer),
        )
        .route("/api/v1/calls/{id}/transfer/cancel", post(cancel_transfer))
        .route("/api/v1/calls/{id}/withdraw", post(withdraw))
        .route("/api/v1/queues", get(list_queues))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/pools/surge", post(surge))
        .route("/api/v1/audit", get(audit::read_audit))
        .route("/metrics", get(prometheus))
        .route("/healthz", get(healthz))
        .merge(wallboard::routes(engine.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(guard, auth::guard))
        .with_state(AppState {
            engine,
            metrics,
            timeout,
        })
}

/// Serve `router` on `listener` (HTTP/1.1) until `shutdown` completes, then stop accepting and
/// let requests in flight finish. Each request carries the client's address
/// (`ConnectInfo<SocketAddr>`), which the guard layer needs: a request without one is
/// treated as coming from elsewhere, never as loopback.
///
/// # Errors
///
/// None in practice with axum 0.8, which logs a failed `accept` (e.g. `EMFILE`) and retries
/// after a second, and ends a broken connection without ending the server; the type leaves
/// room for a server that cannot go on.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

impl AppState {
    /// [`EngineHandle::ask`] bounded by the handler timeout. A command that times out may still
    /// take effect in the engine later; the client is told 503 `engine_timeout`.
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ApiError> {
        tokio::time::timeout(self.timeout, self.engine.ask(make))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError {
                    status: 503,
                    code: "engine_timeout",
                    message: format!(
                        "the engine did not answer within {} ms",
                        self.timeout.as_millis()
                    ),
                })
            })
    }
}

/// `GET /api/v1/seats`.
#[derive(Debug, Serialize)]
struct Seats {
    seats: Vec<SeatView>,
}

/// `GET /api/v1/calls`.
#[derive(Debug, Serialize)]
pub(super) struct Calls {
    calls: Vec<CallView>,
}

/// `GET /api/v1/queues`.
#[derive(Debug, Serialize)]
struct Queues {
    queues: Vec<QueueView>,
}

/// `POST /api/v1/pools/surge` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurgeRequest {
    open: bool,
}

async fn list_seats(State(s): State<AppState>) -> Result<Json<Seats>, ApiError> {
    let seats = s.ask(|reply| Command::ListSeats { reply }).await?;
    Ok(Json(Seats { seats }))
}

async fn get_seat(
    State(s): State<AppState>,
    SeatId(seat): SeatId,
) -> Result<Json<SeatView>, ApiError> {
    let view = s.ask(|reply| Command::GetSeat { seat, reply }).await??;
    Ok(Json(view))
}

async fn set_seat_state(
    State(s): State<AppState>,
    SeatId(seat): SeatId,
    JsonBody(request): JsonBody<SeatStateRequest>,
) -> Result<Json<SeatView>, ApiError> {
    let view = s
        .ask(|reply| Command::SetSeatState {
            seat,
            request,
            reply,
        })
        .await??;
    Ok(Json(view))
}

async fn assign_seat(
    State(s): State<AppState>,
    SeatId(seat): SeatId,
    JsonBody(request): JsonBody<SeatAssignRequest>,
) -> Result<Json<SeatView>, ApiError> {
    let view = s
        .ask(|reply| Command::AssignSeat {
            seat,
            request,
            reply,
        })
        .await??;
    Ok(Json(view))
}

async fn withdraw(
    State(s): State<AppState>,
    CallPath(call): CallPath,
    JsonBody(WithdrawRequest { seat }): JsonBody<WithdrawRequest>,
) -> Result<Json<CallView>, ApiError> {
    Ok(Json(
        s.ask(|reply| Command::Withdraw { call, seat, reply })
            .await??,
    ))
}

async fn start_transfer(
    State(s): State<AppState>,
    CallPath(call): CallPath,
    JsonBody(request): JsonBody<TransferRequest>,
) -> Result<Json<TransferView>, ApiError> {
    let view = s
        .ask(|reply| Command::Transfer {
            call,
            target: request.target,
            mode: request.mode,
            reply,
        })
        .await??;
    Ok(Json(view))
}

async fn complete_transfer(
    State(s): State<AppState>,
    CallPath(call): CallPath,
) -> Result<Json<TransferView>, ApiError> {
    end_transfer(s, call, true).await
}

async fn cancel_transfer(
    State(s): State<AppState>,
    CallPath(call): CallPath,
) -> Result<Json<TransferView>, ApiError> {
    end_transfer(s, call, false).await
}

async fn end_transfer(
    s: AppState,
    call: u64,
    complete: bool,
) -> Result<Json<TransferView>, ApiError> {
    let view = s
        .ask(|reply| Command::EndTransfer {
            call,
            complete,
            reply,
        })
        .await??;
    Ok(Json(view))
}

async fn list_queues(State(s): State<AppState>) -> Result<Json<Queues>, ApiError> {
    let queues = s.ask(|reply| Command::ListQueues { reply }).await?;
    Ok(Json(Queues { queues }))
}

async fn stats(State(s): State<AppState>) -> Result<Json<StatsView>, ApiError> {
    Ok(Json(s.ask(|reply| Command::Stats { reply }).await?))
}

async fn surge(
    State(s): State<AppState>,
    JsonBody(SurgeRequest { open }): JsonBody<SurgeRequest>,
) -> Result<Json<SurgeView>, ApiError> {
    Ok(Json(s.ask(|reply| Command::Surge { open, reply }).await??))
}

/// Refresh the gauges first, so a scrape sees figures no older than the scrape itself.
async fn prometheus(State(s): State<AppState>) -> Result<Response, ApiError> {
    s.ask(|reply| Command::RefreshGauges { reply }).await?;
    let body = s.metrics.render();
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response())
}

/// Liveness of the HTTP server only; the engine is not asked.
async fn healthz() -> &'static str {
    "ok"
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: 405,
        code: "method_not_allowed",
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}
