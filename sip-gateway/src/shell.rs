//! The thin tokio driver around [`Gateway`]: it owns the UDP socket, the TCP listener, the
//! TLS listener and their connections, and the one timer, and carries out what the core says.
//!
//! One task owns the core, so every message of a dialog leaves in the order the core produced
//! it. TCP and TLS connections each have a reader task (framing only) and a writer task; they
//! talk to the core task over channels. TLS is a stream like TCP: the same framing and the
//! same connection code, with the handshake in front (on a task of its own, so a slow or
//! failing peer never holds up the core).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use nix::sys::socket::{sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::b2bua::{Event, Gateway, Transmit};
use crate::peer::{Peer, Transport, TransportFailure};
use crate::route::Router;
use crate::tls::TlsConfig;
use crate::validate::{self, Frame, Limits};

/// Kernel socket buffer size asked for: room for bursts of a few thousand datagrams.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;
/// Datagrams read per wake-up before timers and output get their turn.
const RECV_BATCH: usize = 64;
/// Messages queued towards one TCP connection before it counts as stuck.
const TCP_QUEUE: usize = 1024;
/// How long an outbound TCP connect may take before the peer counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TLS handshake may take, either way: a transfer to a trunk that cannot complete
/// one fails after at most connect + handshake time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// The sockets, bound.
#[derive(Debug)]
pub struct Sockets {
    /// UDP socket on the SIP address.
    pub udp: UdpSocket,
    /// TCP listener on the same address.
    pub tcp: TcpListener,
    /// SIP over TLS: `None` without it (a message for a TLS peer is then undeliverable).
    pub tls: Option<TlsSockets>,
}

/// SIP over TLS: the configurations and, if we listen for TLS, its listener.
#[derive(Debug)]
pub struct TlsSockets {
    /// Certificates, trust and per-trunk checks.
    pub config: Arc<TlsConfig>,
    /// The TLS listener, on a port of its own (RFC 3261 §26.2.2: 5061 by default).
    pub listener: Option<TcpListener>,
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
        Ok(Self {
            udp,
            tcp,
            tls: None,
        })
    }

    /// Speak TLS with `config`: to trunks we dial and, with `listen`, on a TLS listener of
    /// its own (which needs our certificate in `config`).
    pub async fn with_tls(
        mut self,
        config: Arc<TlsConfig>,
        listen: Option<SocketAddr>,
    ) -> io::Result<Self> {
        let listener = match listen {
            Some(_) if !config.can_listen() => {
                return Err(io::Error::other(
                    "no certificate and private key to listen for TLS with",
                ))
            }
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        self.tls = Some(TlsSockets { config, listener });
        Ok(self)
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// The TLS listener's bound address, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
            .as_ref()
            .and_then(|t| t.listener.as_ref())
            .and_then(|l| l.local_addr().ok())
    }
}

/// Counters the shell itself keeps (the core keeps its own in [`crate::b2bua::Stats`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShellStats {
    /// UDP sends that failed.
    pub udp_send_errors: u64,
    /// Messages for a TCP or TLS peer with no usable connection, or whose queue was full.
    pub tcp_undeliverable: u64,
    /// TCP and TLS connections accepted or opened.
    pub tcp_connections: u64,
    /// TLS handshakes that failed, either way (untrusted or wrong-name certificates, ours
    /// refused, no shared protocol, timeouts).
    pub tls_handshake_failures: u64,
}

/// From the connection tasks to the core task. A stream peer is its transport and address:
/// a TCP and a TLS connection to one address are different flows.
enum FromTcp {
    Opened(Peer, mpsc::Sender<Bytes>),
    Message(Peer, Bytes),
    Closed(Peer),
    /// A connection could not be opened or its handshake failed; what was queued for it is
    /// dropped.
    Failed(Peer, TransportFailure),
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
    /// A connection to `peer` could not be opened, or a TLS handshake with it failed.
    fn handle_transport_failure(
        &mut self,
        now: std::time::Instant,
        peer: Peer,
        why: TransportFailure,
    );
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

    fn handle_transport_failure(
        &mut self,
        now: std::time::Instant,
        peer: Peer,
        why: TransportFailure,
    ) {
        Self::handle_transport_failure(self, now, peer, why);
        self.log_events();
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
    let Sockets { udp, tcp, tls } = sockets;
    let (tcp_tx, mut tcp_rx) = mpsc::channel::<FromTcp>(4096);
    let accept = tokio::spawn(accept_loop(tcp, tcp_tx.clone(), limits.clone()));
    let (tls, tls_listener) = match tls {
        Some(TlsSockets { config, listener }) => (Some(config), listener),
        None => (None, None),
    };
    let tls_accept = match (tls_listener, tls.as_ref().and_then(|t| t.server())) {
        (Some(listener), Some(server)) => Some(tokio::spawn(tls_accept_loop(
            listener,
            TlsAcceptor::from(server),
            tcp_tx.clone(),
            limits.clone(),
        ))),
        _ => None,
    };
    let mut connections: HashMap<Peer, mpsc::Sender<Bytes>> = HashMap::new();
    // Messages for peers we are still connecting to, in order.
    let mut connecting: HashMap<Peer, Vec<Bytes>> = HashMap::new();
    let mut stats = ShellStats::default();
    let mut buf = vec![0u8; 65_536];
    // Room for one receive timestamp, reused for every datagram.
    let mut stamp_space = nix::cmsg_space!(nix::sys::time::TimeSpec);
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
                    match recv_timestamped(&udp, &mut buf, &mut stamp_space) {
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
                    FromTcp::Opened(peer, tx) => {
                        stats.tcp_connections += 1;
                        for bytes in connecting.remove(&peer).unwrap_or_default() {
                            if tx.try_send(bytes).is_err() {
                                stats.tcp_undeliverable += 1;
                            }
                        }
                        connections.insert(peer, tx);
                    }
                    FromTcp::Failed(peer, why) => {
                        let lost = connecting.remove(&peer).map_or(0, |q| q.len());
                        stats.tcp_undeliverable += lost as u64;
                        if matches!(why, TransportFailure::TlsHandshake { .. }) {
                            stats.tls_handshake_failures += 1;
                        }
                        // The core ends what it was waiting for from the peer at once
                        // instead of on Timer B.
                        core.handle_transport_failure(Instant::now().into_std(), peer, why);
                    }
                    FromTcp::Message(peer, bytes) => {
                        core.handle_message(Instant::now().into_std(), peer, &bytes);
                    }
                    FromTcp::Closed(peer) => {
                        connections.remove(&peer);
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
                Transport::Tls if tls.is_none() => {
                    stats.tcp_undeliverable += 1;
                    tracing::warn!(%to, "a message for a TLS peer, but TLS is not configured");
                    core.handle_transport_failure(
                        Instant::now().into_std(),
                        to,
                        TransportFailure::Connect,
                    );
                }
                Transport::Tcp | Transport::Tls => match connections.get(&to) {
                    Some(tx) => {
                        if tx.try_send(bytes).is_err() {
                            stats.tcp_undeliverable += 1;
                        }
                    }
                    None => match connecting.get_mut(&to) {
                        Some(queue) => queue.push(bytes),
                        None => {
                            // Never stall the core on a connect or a handshake: they run on
                            // a task of their own and report back (FromTcp::Failed).
                            connecting.insert(to, vec![bytes]);
                            tokio::spawn(connect(to, tls.clone(), tcp_tx.clone(), limits.clone()));
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
    if let Some(task) = tls_accept {
        task.abort();
    }
    Ok((core, stats))
}

/// One datagram and how long it waited in the kernel's queue (from its `SO_TIMESTAMPNS`
/// receive timestamp; zero when there is none).
fn recv_timestamped(
    udp: &UdpSocket,
    buf: &mut [u8],
    space: &mut Vec<u8>,
) -> io::Result<(usize, SocketAddr, Duration)> {
    use std::os::fd::AsRawFd;
    udp.try_io(tokio::io::Interest::READABLE, || {
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg = nix::sys::socket::recvmsg::<SockaddrStorage>(
            udp.as_raw_fd(),
            &mut iov,
            Some(&mut *space),
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
                let (reader, writer) = stream.into_split();
                start_connection(
                    reader,
                    writer,
                    Peer::tcp(addr),
                    to_core.clone(),
                    limits.clone(),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accept TLS connections (RFC 3261 §26.2): each handshake runs on a task of its own, bounded
/// by [`HANDSHAKE_TIMEOUT`]; a failed one is logged and reported.
async fn tls_accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    to_core: mpsc::Sender<FromTcp>,
    limits: Limits,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let (acceptor, to_core, limits) =
                    (acceptor.clone(), to_core.clone(), limits.clone());
                tokio::spawn(async move {
                    let peer = Peer::tls(addr);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let (reader, writer) = tokio::io::split(stream);
                            start_connection(reader, writer, peer, to_core, limits).await;
                        }
                        outcome => {
                            let why = match outcome {
                                Ok(Err(e)) => e.to_string(),
                                _ => "timed out".to_owned(),
                            };
                            tracing::info!(%peer, reason = %why, "inbound TLS handshake failed");
                            let failed = TransportFailure::TlsHandshake { inbound: true };
                            let _ = to_core.send(FromTcp::Failed(peer, failed)).await;
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "tls accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Open a connection to a peer we must reach that has none open (a trunk we dial, or a seat
/// whose Contact names its listening port): TCP, then for TLS the handshake, verifying the
/// peer's certificate as `tls` says for its address. Bounded waits; the result is reported
/// to the core task.
async fn connect(
    peer: Peer,
    tls: Option<Arc<TlsConfig>>,
    to_core: mpsc::Sender<FromTcp>,
    limits: Limits,
) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer.addr)).await {
        Ok(Ok(stream)) => stream,
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::debug!(%peer, reason = %why, "connect failed");
            let _ = to_core
                .send(FromTcp::Failed(peer, TransportFailure::Connect))
                .await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls.filter(|_| peer.transport == Transport::Tls) else {
        let (reader, writer) = stream.into_split();
        start_connection(reader, writer, peer, to_core, limits).await;
        return;
    };
    let (config, name) = tls.client_for(peer.addr);
    let handshake = TlsConnector::from(config).connect(name.clone(), stream);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => {
            let (reader, writer) = tokio::io::split(stream);
            start_connection(reader, writer, peer, to_core, limits).await;
        }
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            // An operator must see this: a trunk with a certificate we do not trust, or for
            // another name, is a misconfiguration (or an attack), not a busy line.
            tracing::warn!(%peer, name = %name.to_str(), reason = %why, "TLS handshake with a peer we dialled failed");
            let failed = TransportFailure::TlsHandshake { inbound: false };
            let _ = to_core.send(FromTcp::Failed(peer, failed)).await;
        }
    }
}

async fn start_connection<R, W>(
    reader: R,
    writer: W,
    peer: Peer,
    to_core: mpsc::Sender<FromTcp>,
    limits: Limits,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(TCP_QUEUE);
    if to_core.send(FromTcp::Opened(peer, tx)).await.is_err() {
        return;
    }
    spawn_connection(reader, writer, peer, rx, to_core, limits);
}

fn spawn_connection<R, W>(
    mut reader: R,
    mut writer: W,
    peer: Peer,
    mut outgoing: mpsc::Receiver<Bytes>,
    to_core: mpsc::Sender<FromTcp>,
    limits: Limits,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (reject_tx, mut reject_rx) = mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                m = outgoing.recv() => m,
                m = reject_rx.recv() => m,
            };
            let Some(bytes) = next else { break };
            // TLS buffers what it encrypts: flush so each message leaves now.
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
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
                        if to_core.send(FromTcp::Message(peer, message)).await.is_err() {
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
        let _ = to_core.send(FromTcp::Closed(peer)).await;
    });
}
