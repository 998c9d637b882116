//! The media plane's tokio shell: sockets, one task per call, events and counters.
//!
//! Each call is one task that owns the call's [`MediaCall`] and its sockets (an RTP and an
//! RTCP socket per leg). The task waits on all of them at once with one hand-written poll
//! (commands, every socket, the 20 ms tick, housekeeping), so a packet goes from the kernel
//! to `on_rtp` and back out of the same buffer without crossing a task or a channel, and
//! without a lock: the calls map is touched only by control operations.
//!
//! Counters are kept per task and added to the plane's shared atomics at most every 100 ms
//! and when a leg or the call closes, never per packet.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tracing::{debug, warn};

use crate::call::{CallEvent, Feed, LegId, MediaCall, MAX_LEGS};
use crate::player::Playlist;
use crate::sdp::Choice;

/// Generated audio's packet interval.
const TICK: Duration = Duration::from_millis(20);
/// Housekeeping (counter flush) interval; no-RTP timeouts are checked every
/// [`TIMEOUT_EVERY`] housekeeping rounds.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
const TIMEOUT_EVERY: u32 = 5;
/// Socket buffers: a few hundred milliseconds of a busy call's packets, so a scheduling
/// hiccup does not drop packets in the kernel.
const SOCKET_BUFFER: usize = 256 * 1024;
/// Receive buffer: more than any RTP packet we accept.
const RECV_BUF: usize = 2048;

/// Settings of the media plane.
#[derive(Debug, Clone)]
pub struct PlaneConfig {
    /// Address the legs' RTP and RTCP sockets bind to.
    pub bind_ip: IpAddr,
    /// How long a sending leg may stay without RTP before [`MediaEvent::NoRtp`].
    pub no_rtp_timeout: Duration,
}

/// Something the platform must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key pressed on a leg (RFC 4733), reported once per press.
    Digit {
        /// The call.
        call: u64,
        /// The leg.
        leg: LegId,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// A playlist's clips have all been played on a leg.
    PlayDone {
        /// The call.
        call: u64,
        /// The leg.
        leg: LegId,
    },
    /// A sending leg has sent no RTP for the no-RTP timeout.
    NoRtp {
        /// The call.
        call: u64,
        /// The leg.
        leg: LegId,
    },
}

/// Plane-wide counters (a snapshot; the shell accumulates per call task and flushes into
/// shared atomics at most every ~100 ms and when a call closes — no shared atomic increment
/// per packet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Calls open now.
    pub calls: u64,
    /// Legs open now.
    pub legs: u64,
    /// Datagrams received (RTP and RTCP ports).
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// RTCP received (on either port); counted, not relayed.
    pub rtcp_in: u64,
    /// Dropped: not RTP.
    pub dropped_not_rtp: u64,
    /// Dropped: payload type not negotiated.
    pub dropped_payload_type: u64,
    /// Dropped: a source other than the latched one.
    pub dropped_foreign_source: u64,
    /// Malformed telephone-event packets.
    pub bad_telephone_event: u64,
    /// Digits reported.
    pub dtmf_digits: u64,
    /// No-RTP timeouts reported.
    pub no_rtp_timeouts: u64,
    /// Sends that failed (including a full socket buffer: the packet is dropped).
    pub send_errors: u64,
    /// Legs whose ports could not be bound.
    pub bind_failures: u64,
}

const STATS_FIELDS: usize = 13;

impl MediaStats {
    fn to_array(self) -> [u64; STATS_FIELDS] {
        [
            self.calls,
            self.legs,
            self.packets_in,
            self.packets_out,
            self.rtcp_in,
            self.dropped_not_rtp,
            self.dropped_payload_type,
            self.dropped_foreign_source,
            self.bad_telephone_event,
            self.dtmf_digits,
            self.no_rtp_timeouts,
            self.send_errors,
            self.bind_failures,
        ]
    }

    fn from_array(a: [u64; STATS_FIELDS]) -> Self {
        let [calls, legs, packets_in, packets_out, rtcp_in, dropped_not_rtp, dropped_payload_type, dropped_foreign_source, bad_telephone_event, dtmf_digits, no_rtp_timeouts, send_errors, bind_failures] =
            a;
        Self {
            calls,
            legs,
            packets_in,
            packets_out,
            rtcp_in,
            dropped_not_rtp,
            dropped_payload_type,
            dropped_foreign_source,
            bad_telephone_event,
            dtmf_digits,
            no_rtp_timeouts,
            send_errors,
            bind_failures,
        }
    }
}

/// Handle to the media plane (cheap to clone). All methods are non-blocking and callable from
/// any thread (commands go over a channel to the call's task).
#[derive(Clone)]
pub struct MediaPlane {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MediaPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPlane")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

type EventSink = dyn Fn(MediaEvent) + Send + Sync;

struct Shared {
    config: PlaneConfig,
    events: Box<EventSink>,
    runtime: tokio::runtime::Handle,
    calls: Mutex<HashMap<u64, mpsc::UnboundedSender<Command>>>,
    /// Ports bound by [`MediaPlane::reserve`] and not yet opened.
    reserved: Mutex<HashMap<u16, (std::net::UdpSocket, std::net::UdpSocket)>>,
    stats: [AtomicU64; STATS_FIELDS],
}

impl Shared {
    fn add(&self, delta: MediaStats) {
        for (a, d) in self.stats.iter().zip(delta.to_array()) {
            if d != 0 {
                a.fetch_add(d, Ordering::Relaxed);
            }
        }
    }

    fn sub_gauges(&self, calls: u64, legs: u64) {
        self.stats[0].fetch_sub(calls, Ordering::Relaxed);
        self.stats[1].fetch_sub(legs, Ordering::Relaxed);
    }
}

enum Command {
    AddLeg {
        leg: LegId,
        choice: Choice,
        remote: Option<SocketAddr>,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        ssrc: u32,
        seq: u16,
        ts: u32,
    },
    UpdateLeg {
        leg: LegId,
        choice: Choice,
        remote: Option<SocketAddr>,
        sends: bool,
    },
    CloseLeg(LegId),
    Close,
    Play(LegId, Playlist),
    Bridge(LegId, LegId),
    Mix(Vec<LegId>),
    Silence(LegId),
    SendDigits(LegId, String),
}

impl MediaPlane {
    /// Starts the plane on the current tokio runtime (panics outside one). `events` is called
    /// from plane tasks for every [`MediaEvent`]; it must not block.
    pub fn start(config: PlaneConfig, events: impl Fn(MediaEvent) + Send + Sync + 'static) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                events: Box::new(events),
                runtime: tokio::runtime::Handle::current(),
                calls: Mutex::new(HashMap::new()),
                reserved: Mutex::new(HashMap::new()),
                stats: Default::default(),
            }),
        }
    }

    /// Binds `port` (RTP) and `port + 1` (RTCP, counted and dropped) on `bind_ip`,
    /// synchronously, and adds the leg to the call (creating the call's task on first leg).
    /// Err if a bind fails (counted as `bind_failures`; neither port stays bound), or if
    /// `leg` is beyond the four legs a call holds. Opening a leg that exists replaces it.
    /// The leg hears silence until told otherwise; it is subject to the no-RTP timeout iff
    /// `remote` is known (see [`update_leg`](Self::update_leg)).
    pub fn open_leg(
        &self,
        call: u64,
        leg: LegId,
        port: u16,
        choice: Choice,
        remote: Option<SocketAddr>,
    ) -> io::Result<()> {
        if usize::from(leg.0) >= MAX_LEGS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("leg {} beyond the {MAX_LEGS} legs of a call", leg.0),
            ));
        }
        let reserved = self
            .shared
            .reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&port);
        let (rtp, rtcp) = match reserved {
            Some(pair) => pair,
            None => bind_pair(self.shared.config.bind_ip, port).inspect_err(|e| {
                self.shared.stats[12].fetch_add(1, Ordering::Relaxed);
                debug!(call, leg = leg.0, port, error = %e, "media: bind failed");
            })?,
        };
        let mut cmd = Command::AddLeg {
            leg,
            choice,
            remote,
            rtp,
            rtcp,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
        };
        let mut calls = self
            .shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = calls.get(&call) {
            match tx.send(cmd) {
                Ok(()) => return Ok(()),
                // The task is gone (it panicked): start the call afresh.
                Err(mpsc::error::SendError(c)) => cmd = c,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.stats[0].fetch_add(1, Ordering::Relaxed);
        self.shared
            .runtime
            .spawn(run_call(call, rx, Arc::clone(&self.shared)));
        // The receiver is alive: the task was just spawned with it.
        let _ = tx.send(cmd);
        calls.insert(call, tx);
        Ok(())
    }

    /// Binds `port` and `port + 1` now and keeps them for the [`open_leg`](Self::open_leg)
    /// of that port, so a port is written in SDP only once it is known to be ours. A port
    /// already reserved is fine. Err (counted as a bind failure) if either is taken.
    pub fn reserve(&self, port: u16) -> io::Result<()> {
        let mut reserved = self
            .shared
            .reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if reserved.contains_key(&port) {
            return Ok(());
        }
        let pair = bind_pair(self.shared.config.bind_ip, port).inspect_err(|_| {
            self.shared.stats[12].fetch_add(1, Ordering::Relaxed);
        })?;
        reserved.insert(port, pair);
        Ok(())
    }

    /// Gives back a reserved port that will not be opened.
    pub fn unreserve(&self, port: u16) {
        self.shared
            .reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&port);
    }

    fn command(&self, call: u64, cmd: Command) {
        let calls = self
            .shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match calls.get(&call) {
            Some(tx) => {
                if tx.send(cmd).is_err() {
                    debug!(call, "media: command for a call whose task ended");
                }
            }
            None => debug!(call, "media: command for an unknown call ignored"),
        }
    }

    /// New SDP from the leg (re-INVITE, the seat's answer): codec, address, whether it sends
    /// (direction).
    pub fn update_leg(
        &self,
        call: u64,
        leg: LegId,
        choice: Choice,
        remote: Option<SocketAddr>,
        sends: bool,
    ) {
        self.command(
            call,
            Command::UpdateLeg {
                leg,
                choice,
                remote,
                sends,
            },
        );
    }

    /// Closes one leg (its sockets are dropped).
    pub fn close_leg(&self, call: u64, leg: LegId) {
        self.command(call, Command::CloseLeg(leg));
    }

    /// Closes every leg of the call and ends its task (sockets dropped).
    pub fn close_call(&self, call: u64) {
        let tx = self
            .shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&call);
        match tx {
            Some(tx) => {
                let _ = tx.send(Command::Close);
            }
            None => debug!(call, "media: close of an unknown call ignored"),
        }
    }

    /// Plays `playlist` to `leg`, replacing what it heard.
    pub fn play(&self, call: u64, leg: LegId, playlist: Playlist) {
        self.command(call, Command::Play(leg, playlist));
    }

    /// `a` hears `b` and `b` hears `a`.
    pub fn bridge(&self, call: u64, a: LegId, b: LegId) {
        self.command(call, Command::Bridge(a, b));
    }

    /// Puts `legs` in the call's mixer: each hears all the other members.
    pub fn mix(&self, call: u64, legs: &[LegId]) {
        self.command(call, Command::Mix(legs.to_vec()));
    }

    /// `leg` hears nothing.
    pub fn silence(&self, call: u64, leg: LegId) {
        self.command(call, Command::Silence(leg));
    }

    /// Sends `digits` on `leg` as RFC 4733 telephone-events.
    pub fn send_digits(&self, call: u64, leg: LegId, digits: &str) {
        self.command(call, Command::SendDigits(leg, digits.to_owned()));
    }

    /// The plane's counters (packet counts lag by up to ~100 ms).
    pub fn stats(&self) -> MediaStats {
        let mut a = [0u64; STATS_FIELDS];
        for (v, s) in a.iter_mut().zip(&self.shared.stats) {
            *v = s.load(Ordering::Relaxed);
        }
        MediaStats::from_array(a)
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
    let rtcp_port = port
        .checked_add(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no port after 65535"))?;
    let rtp = bind_one(SocketAddr::new(ip, port))?;
    // On error `rtp` is dropped here, releasing `port`.
    let rtcp = bind_one(SocketAddr::new(ip, rtcp_port))?;
    Ok((rtp, rtcp))
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    // Best effort: the kernel may cap these (net.core.rmem_max), which is not an error.
    let r = socket2::SockRef::from(&s);
    let _ = r.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = r.set_send_buffer_size(SOCKET_BUFFER);
    Ok(s)
}

/// The shell's only clock read.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// What woke the call's task.
enum Wake {
    Command(Command),
    Closed,
    Rtp {
        leg: usize,
        len: usize,
        from: SocketAddr,
    },
    Rtcp,
    RecvError(io::Error),
    Tick,
    Housekeeping,
}

/// Counts only the shell sees.
#[derive(Default)]
struct ShellCounts {
    packets_out: u64,
    send_errors: u64,
    /// Datagrams on the RTCP ports.
    rtcp_port: u64,
}

struct CallTask {
    call: u64,
    shared: Arc<Shared>,
    media: MediaCall,
    sockets: [Option<LegSockets>; MAX_LEGS],
    counts: ShellCounts,
    /// What has been added to the shared counters so far.
    flushed: MediaStats,
}

async fn run_call(call: u64, mut rx: mpsc::UnboundedReceiver<Command>, shared: Arc<Shared>) {
    let mut task = CallTask {
        call,
        shared,
        media: MediaCall::new(),
        sockets: Default::default(),
        counts: ShellCounts::default(),
        flushed: MediaStats::default(),
    };
    let mut buf = [0u8; RECV_BUF];
    // Burst: generated streams (prompts, the mixer) must keep pace with wall time. After a
    // stall, Delay would leave them permanently behind, so their RTP timestamps would drift
    // from the real-time streams they are mixed with or follow, and the mixer's input
    // buffers (filled at the senders' real pace) would overflow; Burst catches up by sending
    // the missed frames at once, which receivers' jitter buffers absorb.
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut ticking = false;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
    housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rounds = 0u32;
    let mut first = 0usize;
    loop {
        let needs_tick = task.media.needs_tick();
        if needs_tick && !ticking {
            // Ticks missed while idle are not owed: restart the cadence now.
            tick.reset_immediately();
        }
        ticking = needs_tick;
        first = (first + 1) % MAX_LEGS;
        let sockets = &task.sockets;
        let wake = poll_fn(|cx| {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(c)) => return Poll::Ready(Wake::Command(c)),
                Poll::Ready(None) => return Poll::Ready(Wake::Closed),
                Poll::Pending => {}
            }
            // Start with a different leg each time so a flooded leg cannot starve the others.
            for k in 0..MAX_LEGS {
                let i = (first + k) % MAX_LEGS;
                let Some(s) = &sockets[i] else { continue };
                let mut rb = ReadBuf::new(&mut buf);
                match s.rtp.poll_recv_from(cx, &mut rb) {
                    Poll::Ready(Ok(from)) => {
                        return Poll::Ready(Wake::Rtp {
                            leg: i,
                            len: rb.filled().len(),
                            from,
                        })
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Wake::RecvError(e)),
                    Poll::Pending => {}
                }
                let mut rb = ReadBuf::new(&mut buf);
                match s.rtcp.poll_recv_from(cx, &mut rb) {
                    Poll::Ready(Ok(_)) => return Poll::Ready(Wake::Rtcp),
                    Poll::Ready(Err(e)) => return Poll::Ready(Wake::RecvError(e)),
                    Poll::Pending => {}
                }
            }
            if needs_tick && tick.poll_tick(cx).is_ready() {
                return Poll::Ready(Wake::Tick);
            }
            if housekeeping.poll_tick(cx).is_ready() {
                return Poll::Ready(Wake::Housekeeping);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Wake::Rtp { leg, len, from } => {
                let pkt = &mut buf[..len];
                if let Some((to_leg, to)) = task.media.on_rtp(now(), LegId(leg as u8), from, pkt) {
                    task.send(to_leg, to, pkt);
                }
            }
            Wake::Rtcp => task.counts.rtcp_port += 1,
            // E.g. an ICMP error reported on the socket: nothing to do, the next datagram
            // is read normally.
            Wake::RecvError(e) => debug!(call, error = %e, "media: receive error"),
            Wake::Tick => task.media.on_tick(now()),
            Wake::Housekeeping => {
                rounds += 1;
                if rounds >= TIMEOUT_EVERY {
                    rounds = 0;
                    let timeout = task.shared.config.no_rtp_timeout;
                    task.media.check_timeouts(now(), timeout);
                }
                task.flush();
            }
            Wake::Command(Command::Close) | Wake::Closed => break,
            Wake::Command(c) => task.command(c),
        }
        task.drain();
    }
    task.drain();
    task.flush();
    let legs = task.sockets.iter().flatten().count() as u64;
    task.shared.sub_gauges(1, legs);
    debug!(call, "media: call closed");
}

impl CallTask {
    fn send(&mut self, leg: LegId, to: SocketAddr, pkt: &[u8]) {
        let Some(s) = self
            .sockets
            .get(usize::from(leg.0))
            .and_then(Option::as_ref)
        else {
            return;
        };
        // Never wait: a full socket buffer drops the packet (late audio is useless).
        match s.rtp.try_send_to(pkt, to) {
            Ok(_) => self.counts.packets_out += 1,
            Err(e) => {
                self.counts.send_errors += 1;
                debug!(call = self.call, leg = leg.0, %to, error = %e, "media: send failed");
            }
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.media.poll_transmit() {
            self.send(t.leg, t.to, t.packet());
        }
        while let Some(e) = self.media.poll_event() {
            let call = self.call;
            let ev = match e {
                CallEvent::Digit { leg, digit } => MediaEvent::Digit { call, leg, digit },
                CallEvent::PlayDone { leg } => MediaEvent::PlayDone { call, leg },
                CallEvent::NoRtp { leg } => MediaEvent::NoRtp { call, leg },
            };
            (self.shared.events)(ev);
        }
    }

    /// Adds what was counted since the last flush to the shared counters.
    fn flush(&mut self) {
        let m = self.media.media_counters();
        let c = &self.counts;
        let total = MediaStats {
            packets_in: m.packets_in + c.rtcp_port,
            packets_out: c.packets_out,
            rtcp_in: m.rtcp_in + c.rtcp_port,
            dropped_not_rtp: m.dropped_not_rtp,
            dropped_payload_type: m.dropped_payload_type,
            dropped_foreign_source: m.dropped_foreign_source,
            bad_telephone_event: m.bad_telephone_event,
            dtmf_digits: m.dtmf_digits,
            no_rtp_timeouts: m.no_rtp_timeouts,
            send_errors: c.send_errors,
            ..MediaStats::default()
        };
        if total == self.flushed {
            return;
        }
        let mut delta = [0u64; STATS_FIELDS];
        for ((d, t), f) in delta
            .iter_mut()
            .zip(total.to_array())
            .zip(self.flushed.to_array())
        {
            *d = t.saturating_sub(f);
        }
        self.shared.add(MediaStats::from_array(delta));
        self.flushed = total;
    }

    fn command(&mut self, c: Command) {
        let m = &mut self.media;
        match c {
            Command::AddLeg {
                leg,
                choice,
                remote,
                rtp,
                rtcp,
                ssrc,
                seq,
                ts,
            } => {
                let sockets = match (UdpSocket::from_std(rtp), UdpSocket::from_std(rtcp)) {
                    (Ok(rtp), Ok(rtcp)) => LegSockets { rtp, rtcp },
                    (Err(e), _) | (_, Err(e)) => {
                        warn!(call = self.call, leg = leg.0, error = %e, "media: socket registration failed");
                        return;
                    }
                };
                m.add_leg(leg, choice, remote, ssrc, seq, ts, now());
                let slot = &mut self.sockets[usize::from(leg.0)];
                if slot.replace(sockets).is_none() {
                    self.shared.stats[1].fetch_add(1, Ordering::Relaxed);
                }
            }
            Command::UpdateLeg {
                leg,
                choice,
                remote,
                sends,
            } => m.update_leg(leg, choice, remote, sends, now()),
            Command::CloseLeg(leg) => {
                m.remove_leg(leg);
                let closed = self
                    .sockets
                    .get_mut(usize::from(leg.0))
                    .and_then(Option::take);
                if closed.is_some() {
                    self.shared.sub_gauges(0, 1);
                }
                self.flush();
            }
            Command::Play(leg, playlist) => m.play(leg, playlist),
            Command::Bridge(a, b) => m.bridge(a, b),
            Command::Mix(legs) => m.mix(&legs),
            Command::Silence(leg) => m.set_feed(leg, Feed::Silence),
            Command::SendDigits(leg, digits) => m.send_digits(leg, &digits),
            // Handled by the task loop.
            Command::Close => {}
        }
    }
}
