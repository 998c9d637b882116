//! The engine inside the tokio shell: SIP from [`sip_gateway::shell`], commands from the HTTP
//! API, records to the [`Store`]. Figures are answered only once every record behind them is
//! committed (docs/decisions/0007-durable-records.md): the reply waits on the store, not the
//! engine, so the SIP loop never blocks on disk.
//!
//! Nothing is said on the wire before the records behind it are durable: each message the
//! engine produces waits (off the engine's path) until the store has committed every record
//! written up to the step that produced it, so a call whose BYE was answered is in storage
//! even if the process is killed the next instant (docs/decisions/0022-crash-safety.md). A
//! failing disk holds messages at most [`HOLD_MAX`]: the platform stays up, durability
//! degrades, and the late releases are counted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sip_gateway::b2bua::Transmit;
use sip_gateway::shell::Core;
use sip_gateway::Peer;

use media::plane::MediaPlane;

use super::audio::MediaCommand;
use super::Engine;
use crate::api::{ApiError, Command, Reply, SurgeView};
use crate::audit::{AuditQuery, AuditRow};
use crate::record::Record;
use crate::store::{read_audit, Store, StoreStatus};
use crate::ticket::TicketPusher;

/// How long a reply waits for the store before it is dropped.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// The longest a SIP message waits for the records behind it to be committed.
pub const HOLD_MAX: Duration = Duration::from_millis(200);

/// How often held messages are checked against the store's progress.
const HOLD_POLL: Duration = Duration::from_millis(1);

/// [`Engine`] plus the store it writes to and the socket its confirmations are played from.
#[derive(Debug)]
pub struct Driver {
    engine: Engine,
    store: Store,
    status: StoreStatus,
    /// Sequence number of the last record handed to the store.
    written: u64,
    plane: Option<MediaPlane>,
    tickets: Option<TicketPusher>,
    /// Messages waiting for their records: (sequence to be committed, since when, message).
    held: VecDeque<(u64, Instant, Transmit)>,
    /// The `now` of the latest step, for the hold's wake-up.
    last_now: Option<Instant>,
    /// Messages released by [`HOLD_MAX`] before their records were committed.
    released_early: u64,
}

impl Driver {
    /// Drive `engine`, writing its records to `store`.
    pub fn new(engine: Engine, store: Store) -> Self {
        let status = store.status();
        Self {
            engine,
            store,
            status,
            written: 0,
            plane: None,
            tickets: None,
            held: VecDeque::new(),
            last_now: None,
            released_early: 0,
        }
    }

    /// Messages sent before their records were committed because the store was slower
    /// than [`HOLD_MAX`].
    pub const fn released_early(&self) -> u64 {
        self.released_early
    }

    /// Push transfer tickets (工单推送) with `pusher`.
    #[must_use]
    pub fn with_ticket_pusher(mut self, pusher: TicketPusher) -> Self {
        self.tickets = Some(pusher);
        self
    }

    /// Carry out the engine's media orders on `plane` (the gateway anchors media).
    #[must_use]
    pub fn with_media_plane(mut self, plane: MediaPlane) -> Self {
        self.plane = Some(plane);
        self
    }

    /// Stop: the store flushes what it holds.
    pub fn into_parts(self) -> (Engine, Store) {
        (self.engine, self.store)
    }

    fn flush(&mut self) {
        while let Some(record) = self.engine.poll_record() {
            self.written = self.store.write(record);
        }
        self.media();
        while let Some((url, ticket)) = self.engine.poll_ticket() {
            match &self.tickets {
                Some(pusher) => pusher.push(&url, ticket),
                None => tracing::warn!(call = ticket.call, "no ticket pusher: ticket not pushed"),
            }
        }
    }

    /// Hand the engine's media orders to the plane. A leg that cannot be opened ends its
    /// call (the engine is told, and its own orders are carried out in turn).
    fn media(&mut self) {
        let Some(plane) = self.plane.clone() else {
            while self.engine.poll_media().is_some() {}
            return;
        };
        let mut failed = Vec::new();
        while let Some(command) = self.engine.poll_media() {
            match command {
                MediaCommand::Open {
                    call,
                    leg,
                    port,
                    choice,
                    remote,
                } => {
                    if let Err(e) = plane.open_leg(call, leg, port, choice, remote) {
                        tracing::error!(call, port, error = %e, "cannot open an RTP port");
                        failed.push(call);
                    } else {
                        // Nothing is owed before the answer: early media does not oblige
                        // the caller to send, so the no-RTP clock waits for the answer.
                        plane.update_leg(call, leg, choice, remote, false);
                    }
                }
                MediaCommand::Update {
                    call,
                    leg,
                    choice,
                    remote,
                    sends,
                } => plane.update_leg(call, leg, choice, remote, sends),
                MediaCommand::CloseLeg { call, leg } => plane.close_leg(call, leg),
                MediaCommand::Close { call } => plane.close_call(call),
                MediaCommand::Play {
                    call,
                    leg,
                    playlist,
                } => plane.play(call, leg, playlist),
                MediaCommand::Bridge { call, a, b } => plane.bridge(call, a, b),
                MediaCommand::Mix { call, legs } => plane.mix(call, &legs),
                MediaCommand::SendDigits { call, leg, digits } => {
                    plane.send_digits(call, leg, &digits);
                }
            }
        }
        if !failed.is_empty() {
            #[allow(clippy::disallowed_methods)] // the shell's clock
            let now = Instant::now();
            for call in failed {
                self.engine.on_media_failed(now, call);
            }
            self.flush();
        }
    }

    /// Reply once the store has committed everything written so far.
    fn reply_after_commit<T: Send + 'static>(
        &self,
        reply: tokio::sync::oneshot::Sender<T>,
        value: T,
    ) {
        let status = self.status.clone();
        let seq = self.written;
        tokio::spawn(async move {
            // While the database fails the figures are withheld (the API answers 503 after
            // its own timeout); the waiter gives up a little later.
            if tokio::time::timeout(COMMIT_WAIT, status.wait_committed(seq))
                .await
                .is_ok()
            {
                let _ = reply.send(value);
            }
        });
    }
}

impl Driver {
    /// Read the ledger once everything written so far is committed, on a blocking thread
    /// with a read-only connection of its own (the writer thread is never asked to read).
    fn read_audit(&self, query: AuditQuery, reply: Reply<Result<Vec<AuditRow>, ApiError>>) {
        let status = self.status.clone();
        let seq = self.written;
        tokio::spawn(async move {
            if tokio::time::timeout(COMMIT_WAIT, status.wait_committed(seq))
                .await
                .is_err()
            {
                return;
            }
            let db = status.path().to_path_buf();
            let read = tokio::task::spawn_blocking(move || read_audit(&db, &query)).await;
            let answer = match read {
                Ok(Ok(rows)) => Ok(rows),
                Ok(Err(e)) => {
                    tracing::error!(path = %status.path().display(), error = %e, "cannot read the audit ledger");
                    Err(ApiError {
                        status: 503,
                        code: "storage_unavailable",
                        message: format!("the audit ledger cannot be read: {e}"),
                    })
                }
                Err(_) => Err(ApiError::unavailable()),
            };
            let _ = reply.send(answer);
        });
    }
}

impl Core for Driver {
    type Command = Command;

    fn handle_message(&mut self, now: Instant, from: Peer, bytes: &[u8]) {
        self.last_now = Some(now);
        self.engine.handle_message(now, from, bytes);
        self.flush();
        self.hold(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        if self.engine.poll_timeout().is_some_and(|at| at <= now) {
            self.engine.handle_timeout(now);
            self.flush();
        }
        self.hold(now);
    }

    fn handle_transport_failure(
        &mut self,
        now: Instant,
        peer: Peer,
        why: sip_gateway::TransportFailure,
    ) {
        self.last_now = Some(now);
        self.engine.handle_transport_failure(now, peer, why);
        self.flush();
        self.hold(now);
    }

    fn note_receive_delay(&mut self, delay: Duration) {
        self.engine.note_receive_delay(delay);
    }

    fn drain(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.engine.stop_admitting();
    }

    fn drained(&self) -> bool {
        self.engine.active_calls() == 0 && self.held.is_empty()
    }

    fn end_all(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.engine.end_all(now);
        self.flush();
        self.hold(now);
    }

    fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Media(event) => self.engine.on_media_event(now, event),
            Command::Transfer {
                call,
                target,
                mode,
                reply,
            } => {
                let _ = reply.send(self.engine.start_transfer(now, call, &target, mode));
            }
            Command::EndTransfer {
                call,
                complete,
                reply,
            } => {
                let _ = reply.send(self.engine.end_transfer(now, call, complete));
            }
            Command::TicketPushed { ticket, outcome } => {
                self.engine.on_ticket_pushed(now, &ticket, &outcome);
            }
            Command::SetSeatState {
                seat,
                request,
                reply,
            } => {
                let r = self.engine.set_seat_state(now, &seat, &request, "api");
                let _ = reply.send(r);
            }
            Command::ListSeats { reply } => {
                let _ = reply.send(self.engine.seats(now));
            }
            Command::GetSeat { seat, reply } => {
                let r = self.engine.seat(now, &seat).ok_or_else(|| {
                    ApiError::not_found("unknown_seat", format!("no seat {seat:?}"))
                });
                let _ = reply.send(r);
            }
            Command::ListCalls { reply } => {
                let _ = reply.send(self.engine.calls(now));
            }
            Command::ListQueues { reply } => {
                let _ = reply.send(self.engine.queues(now));
            }
            Command::Stats { reply } => {
                let view = self.engine.stats(now);
                self.flush();
                self.reply_after_commit(reply, view);
            }
            Command::RefreshGauges { reply } => {
                self.engine.refresh_gauges(now);
                self.flush();
                self.engine.metrics.set_store_pending(self.status.pending());
                self.engine.metrics.set_store_errors(self.status.errors());
                if let Some(plane) = &self.plane {
                    let m = plane.stats();
                    self.engine
                        .metrics
                        .set_media(&crate::metrics::MediaSnapshot {
                            calls: m.calls,
                            legs: m.legs,
                            packets_in: m.packets_in,
                            packets_out: m.packets_out,
                            rtcp_in: m.rtcp_in,
                            dropped_not_rtp: m.dropped_not_rtp,
                            dropped_payload_type: m.dropped_payload_type,
                            dropped_foreign_source: m.dropped_foreign_source,
                            send_errors: m.send_errors,
                            bad_telephone_event: m.bad_telephone_event,
                            bind_failures: m.bind_failures,
                            sdp_refused: self.engine.sdp_refused(),
                        });
                }
                self.reply_after_commit(reply, ());
            }
            Command::AssignSeat {
                seat,
                request,
                reply,
            } => {
                let _ = reply.send(self.engine.assign_seat(now, &seat, &request));
            }
            Command::Withdraw { call, seat, reply } => {
                let _ = reply.send(self.engine.withdraw_call(now, call, &seat));
            }
            Command::Wallboard { reply } => {
                let _ = reply.send(self.engine.wallboard(now));
            }
            Command::Surge { open, reply } => {
                let open = self.engine.set_surge(now, open);
                let _ = reply.send(Ok(SurgeView { open }));
            }
            Command::Audit(entry) => {
                self.written = self.store.write(Record::Audit(entry));
            }
            Command::ReadAudit { query, reply } => self.read_audit(query, reply),
        }
        self.flush();
        self.last_now = Some(now);
        self.hold(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let engine = self.engine.poll_timeout();
        let hold = (!self.held.is_empty())
            .then(|| self.last_now.map(|n| n + HOLD_POLL))
            .flatten();
        match (engine, hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let committed = self.status.committed();
        let now = self.last_now?;
        let &(seq, since, _) = self.held.front()?;
        if seq > committed {
            if now.saturating_duration_since(since) < HOLD_MAX {
                return None;
            }
            self.released_early += 1;
            if self.released_early.is_power_of_two() {
                tracing::warn!(
                    released = self.released_early,
                    "storage is slow: SIP messages sent before their records were committed"
                );
            }
        }
        self.held.pop_front().map(|(_, _, t)| t)
    }
}

impl Driver {
    /// Queue the engine's new messages behind the records written so far.
    fn hold(&mut self, now: Instant) {
        while let Some(t) = self.engine.poll_transmit() {
            self.held.push_back((self.written, now, t));
        }
    }
}
