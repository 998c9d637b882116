//! The engine inside the tokio shell: SIP from [`sip_gateway::shell`], commands from the HTTP
//! API, records to the [`Store`]. Figures are answered only once every record behind them is
//! committed (docs/decisions/0007-durable-records.md): the reply waits on the store, not the
//! engine, so the SIP loop never blocks on disk.

use std::time::Instant;

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
const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

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
        }
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
        self.engine.handle_message(now, from, bytes);
        self.flush();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.flush();
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
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.engine.poll_transmit()
    }
}
