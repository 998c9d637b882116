//! The thin tokio driver around [`Gateway`]: it owns the UDP socket, the TCP listener and its
//! connections, and the one timer, and carries out what the core says.
//!
//! One task owns the core, so every message of a dialog leaves in the order the core produced
//! it. TCP connections each have a reader task (framing only) and a writer task; they talk to
//! the core task over channels.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use nix::sys::socket::{sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use crate::b2bua::{Event, Gateway, Transmit};
use crate::peer::{Peer, Transport};
use crate::route::Router;
use crate::validate::{self, Frame, Limits};

/// Kernel socket buffer size asked for: room for bursts of a few thousand datagrams.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;
/// Datagrams read per wake-up before timers and output get their turn.
const RECV_BATCH: usize = 64;
/// Messages queued towards one TCP connection before it counts as stuck.
const TCP_QUEUE: usize = 1024;

/// Both sockets, bound.
#[derive(Debug)]
pub struct Sockets {
    /// UDP socket on the SIP address.
    pub udp: UdpSocket,
    /// TCP listener on the same address.
    pub tcp: TcpListener,
}

impl Sockets {
    /// Bind UDP and TCP on `addr` with large kernel buffers.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let domain = socket2::Domain::for_address(addr);
        let udp = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        // Best effort: the kernel caps these at net.core.{r,w}mem_max.
        let _ = udp.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = udp.set_send_buffer_size(SOCKET_BUFFER);
        udp.set_nonblocking(true)?;
        // Kernel receive timestamps tell how long each datagram waited for us (overload
        // control); without them the delay reads as zero.
        let _ = nix::sys::socket::setsockopt(&udp, sockopt::ReceiveTimestampns, &true);
        udp.bind(&addr.into())?;
        let udp = UdpSocket::from_std(udp.into())?;
        let tcp = TcpListener::bind(udp.local_addr()?).await?;
        Ok(Self { udp, tcp })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// Counters the shell itself keeps (the core keeps its own in [`crate::b2bua::Stats`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShellStats {
    /// UDP sends that failed.
    pub udp_send_errors: u64,
    /// Messages for a TCP peer with no usable connection, or whose queue was full.
    pub tcp_undeliverable: u64,
    /// TCP connections accepted or opened.
    pub tcp_connections: u64,
}

enum FromTcp {
    Opened(SocketAddr, mpsc::Sender<Bytes>),
    Message(SocketAddr, Bytes),
    Closed(SocketAddr),
    /// An outbound connection attempt failed; what was queued for it is dropped.
    Unreachable(SocketAddr),
}

/// What the shell drives: the bare [`Gateway`], or a platform core that wraps one. Every
/// `handle_*` call may queue messages, which the shell then sends in order.
pub trait Core {
    /// Requests from other tasks (e.g. the HTTP API), delivered in order.
    type Command: Send + 'static;
    /// One datagram or framed stream message from `from`.
    fn handle_message(&mut self, now: std::time::Instant, from: Peer, bytes: &[u8]);
    /// Timers due at or before `now`.
    fn handle_timeout(&mut self, now: std::time::Instant);
    /// One command.
    fn handle_command(&mut self, now: std::time::Instant, command: Self::Command);
    /// When `handle_timeout` must next be called.
    fn poll_timeout(&self) -> Option<std::time::Instant>;
    /// How long the datagram about to be handled waited in the kernel's receive queue.
    fn note_receive_delay(&mut self, delay: Duration) {
        let _ = delay;
    }
    /// A graceful stop began: refuse new calls, let those in progress go on.
    fn drain(&mut self, now: std::time::Instant) {
        let _ = now;
    }
    /// Whether nothing is left to wait for: no call in progress, nothing unsent.
    fn drained(&self) -> bool {
        true
    }
    /// The graceful stop's limit passed: end every call still in progress.
    fn end_all(&mut self, now: std::time::Instant) {
        let _ = now;
    }
    /// The next message to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
}

impl<R: Router> Core for Gateway<R> {
    type Command = std::convert::Infallible;

    fn handle_message(&mut self, now: std::time::Instant, from: Peer, bytes: &[u8]) {
        Self::handle_message(self, now, from, bytes);
        self.log_events();
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        Self::handle_timeout(self, now);
        self.log_events();
    }

    fn handle_command(&mut self, _: std::time::Instant, command: Self::Command) {
        match command {}
    }

    fn poll_timeout(&self) -> Option<std::time::Instant> {
        Self::poll_timeout(self)
    }

    fn note_receive_delay(&mut self, delay: Duration) {
        Self::note_receive_delay(self, delay);
    }

    fn drain(&mut self, _: std::time::Instant) {
        self.stop_admitting();
    }

    fn drained(&self) -> bool {
        self.active_calls() == 0
    }

    fn end_all(&mut self, now: std::time::Instant) {
        self.terminate_all(now);
        self.log_events();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Self::poll_transmit(self)
    }
}

impl<R: Router> Gateway<R> {
    /// With no platform above, events are only logged.
    fn log_events(&mut self) {
        while let Some(event) = self.poll_event() {
            match event {
                Event::SeatRegistered { seat } => tracing::info!(seat, "seat registered"),
                Event::SeatUnregistered { seat } => tracing::info!(seat, "seat unregistered"),
                // The caller's number is personal data: it stays out of the logs.
                Event::CallStarted { call, dialed, .. } => {
                    tracing::debug!(call, dialed, "call started");
                }
                other => tracing::debug!(?other, "event"),
            }
        }
    }
}

/// How long, after the calls are ended at a graceful stop's limit, the shell keeps running so
/// the BYEs leave (and records behind them are committed).
const LAST_WORDS: Duration = Duration::from_millis(500);

/// Run `core` until `shutdown` completes, feeding it datagrams, stream messages, timers and
/// `commands`; returns the core (for an orderly stop) and the shell's counters. With a
/// `drain` limit, the stop is graceful: new calls are refused ([`Core::drain`]) while calls in
/// progress finish, for at most `drain`; then the rest are ended ([`Core::end_all`]).
pub async fn run<C: Core>(
    mut core: C,
    sockets: Sockets,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
    mut commands: mpsc::Receiver<C::Command>,
    drain: Duration,
) -> io::Result<(C, ShellStats)> {
    let Sockets { udp, tcp } = sockets;
    let (tcp_tx, mut tcp_rx) = mpsc::channel::<FromTcp>(4096);
    let accept = tokio::spawn(accept_loop(tcp, tcp_tx.clone(), limits.clone()));
    let mut connections: HashMap<SocketAddr, mpsc::Sender<Bytes>> = HashMap::new();
    // Messages for peers we are still connecting to, in order.
    let mut connecting: HashMap<SocketAddr, Vec<Bytes>> = HashMap::new();
    let mut stats = ShellStats::default();
    let mut buf = vec![0u8; 65_536];
    let mut shutdown = pin!(shutdown);
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let mut timer = pin!(sleep_until(far));
    let mut armed = far;
    // A graceful stop: the drain's deadline, then the moment the last words are out.
    let mut drain_until: Option<Instant> = None;
    let mut stop_at: Option<Instant> = None;

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown, if drain_until.is_none() => {
                if drain.is_zero() {
                    break;
                }
                let now = Instant::now();
                tracing::info!(limit = ?drain, "stopping: no new calls; waiting for calls in progress");
                core.drain(now.into_std());
                drain_until = Some(now + drain);
            }
            ready = udp.readable() => {
                if let Err(e) = ready {
                    tracing::debug!(error = %e, "udp readable");
                }
                let now = Instant::now().into_std();
                for _ in 0..=RECV_BATCH {
                    match recv_timestamped(&udp, &mut buf) {
                        Ok((n, addr, delay)) => {
                            core.note_receive_delay(delay);
                            core.handle_message(now, Peer::udp(addr), &buf[..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // ICMP port-unreachable surfaces here on Linux; it is not fatal.
                        Err(e) => tracing::debug!(error = %e, "udp recv"),
                    }
                }
            }
            Some(command) = commands.recv() => {
                core.handle_command(Instant::now().into_std(), command);
            }
            Some(msg) = tcp_rx.recv() => {
                match msg {
                    FromTcp::Opened(addr, tx) => {
                        stats.tcp_connections += 1;
                        for bytes in connecting.remove(&addr).unwrap_or_default() {
                            if tx.try_send(bytes).is_err() {
                                stats.tcp_undeliverable += 1;
                            }
                        }
                        connections.insert(addr, tx);
                    }
                    FromTcp::Unreachable(addr) => {
                        let lost = connecting.remove(&addr).map_or(0, |q| q.len());
                        stats.tcp_undeliverable += lost as u64;
                        tracing::debug!(%addr, lost, "tcp connect failed");
                    }
                    FromTcp::Message(addr, bytes) => {
                        core.handle_message(Instant::now().into_std(), Peer::tcp(addr), &bytes);
                    }
                    FromTcp::Closed(addr) => {
                        connections.remove(&addr);
                    }
                }
            }
            () = &mut timer => {
                armed = far;
                timer.as_mut().reset(far);
            }
        }
        let now = Instant::now().into_std();
        if core.poll_timeout().is_some_and(|at| at <= now) {
            core.handle_timeout(now);
        }
        if let (Some(until), None) = (drain_until, stop_at) {
            let t = Instant::from_std(now);
            if core.drained() {
                break;
            }
            if t >= until {
                tracing::warn!(
                    "stopping: the drain limit passed; ending the calls still in progress"
                );
                core.end_all(now);
                stop_at = Some(t + LAST_WORDS);
            }
        }
        while let Some(Transmit { to, bytes }) = core.poll_transmit() {
            match to.transport {
                Transport::Udp => {
                    let sent = match udp.try_send_to(&bytes, to.addr) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            udp.send_to(&bytes, to.addr).await.map(|_| ())
                        }
                        other => other.map(|_| ()),
                    };
                    if let Err(e) = sent {
                        stats.udp_send_errors += 1;
                        tracing::debug!(error = %e, to = %to.addr, "udp send");
                    }
                }
                Transport::Tcp => match connections.get(&to.addr) {
                    Some(tx) => {
                        if tx.try_send(bytes).is_err() {
                            stats.tcp_undeliverable += 1;
                        }
                    }
                    None => match connecting.get_mut(&to.addr) {
                        Some(queue) => queue.push(bytes),
                        None => {
                            // Never stall the core on a connect: it runs on its own task and
                            // reports back; the core's timers handle a peer that never answers.
                            connecting.insert(to.addr, vec![bytes]);
                            tokio::spawn(connect(to.addr, tcp_tx.clone(), limits.clone()));
                        }
                    },
                },
            }
        }
        if stop_at.is_some_and(|at| Instant::now() >= at) {
            break;
        }
        let next = [
            core.poll_timeout().map(Instant::from_std),
            drain_until.filter(|_| stop_at.is_none()),
            stop_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(far);
        if next != armed {
            armed = next;
            timer.as_mut().reset(next);
        }
    }
    accept.abort();
    Ok((core, stats))
}

/// One datagram and how long it waited in the kernel's queue (from its `SO_TIMESTAMPNS`
/// receive timestamp; zero when there is none).
fn recv_timestamped(udp: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Duration)> {
    use std::os::fd::AsRawFd;
    udp.try_io(tokio::io::Interest::READABLE, || {
        let mut iov = [io::IoSliceMut::new(buf)];
        let mut space = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let msg = nix::sys::socket::recvmsg::<SockaddrStorage>(
            udp.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let stamp = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::ScmTimestampns(ts) => Some(ts),
                _ => None,
            })
        });
        let addr = msg
            .address
            .and_then(|a| {
                a.as_sockaddr_in()
                    .map(|v4| SocketAddr::V4((*v4).into()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
            })
            .ok_or_else(|| io::Error::other("datagram without a source address"))?;
        let delay = stamp.map_or(Duration::ZERO, queued_for);
        Ok((msg.bytes, addr, delay))
    })
}

/// Time since a kernel receive timestamp, which is on the real-time clock.
#[allow(clippy::disallowed_methods)]
fn queued_for(ts: nix::sys::time::TimeSpec) -> Duration {
    let at = Duration::new(
        u64::try_from(ts.tv_sec()).unwrap_or(0),
        u32::try_from(ts.tv_nsec()).unwrap_or(0),
    );
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(Duration::ZERO, |now| now.saturating_sub(at))
}

async fn accept_loop(listener: TcpListener, to_core: mpsc::Sender<FromTcp>, limits: Limits) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                start_connection(stream, addr, to_core.clone(), limits.clone()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Open a TCP connection to a peer we must reach that has none open (e.g. a seat whose
/// Contact names its listening port). Bounded wait; the result is reported to the core task.
async fn connect(addr: SocketAddr, to_core: mpsc::Sender<FromTcp>, limits: Limits) {
    match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            start_connection(stream, addr, to_core, limits).await;
        }
        _ => {
            let _ = to_core.send(FromTcp::Unreachable(addr)).await;
        }
    }
}

async fn start_connection(
    stream: TcpStream,
    addr: SocketAddr,
    to_core: mpsc::Sender<FromTcp>,
    limits: Limits,
) {
    let (tx, rx) = mpsc::channel(TCP_QUEUE);
    if to_core.send(FromTcp::Opened(addr, tx)).await.is_err() {
        return;
    }
    spawn_connection(stream, addr, rx, to_core, limits);
}

fn spawn_connection(
    stream: TcpStream,
    addr: SocketAddr,
    mut outgoing: mpsc::Receiver<Bytes>,
    to_core: mpsc::Sender<FromTcp>,
    limits: Limits,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (reject_tx, mut reject_rx) = mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                m = outgoing.recv() => m,
                m = reject_rx.recv() => m,
            };
            let Some(bytes) = next else { break };
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        'read: loop {
            match reader.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            loop {
                match validate::frame(&buf, &limits) {
                    Frame::Complete(n) => {
                        let message = buf.split_to(n).freeze();
                        if to_core.send(FromTcp::Message(addr, message)).await.is_err() {
                            break 'read;
                        }
                    }
                    Frame::KeepAlive(n) => {
                        let _ = buf.split_to(n);
                    }
                    Frame::Incomplete => break,
                    Frame::Invalid(rejection) => {
                        // The stream can't be framed any more: answer if we can, then close.
                        if let Some(r) = rejection {
                            let _ = reject_tx.send(r.bytes).await;
                        }
                        break 'read;
                    }
                }
            }
        }
        let _ = to_core.send(FromTcp::Closed(addr)).await;
    });
}
