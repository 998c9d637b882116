//! Load harness for the media plane's RTP relay (docs/performance.md, "Media: RTP relay
//! under load").
//!
//! - `rtp-load relay`: the media plane exactly as `hotline serve` runs it (a dedicated tokio
//!   multi-thread runtime with 2 workers), with N bridged calls on 127.0.0.1 whose legs
//!   latch onto the far ends.
//! - `rtp-load drive`: the far ends. Per call a "caller phone" and a "seat phone" socket,
//!   each sending 20 ms PCMU (172-byte packets) to its leg at 50 packets/s, and receiving
//!   what the relay forwards from the other phone. Payload bytes 0..8 carry the send time
//!   (nanoseconds since the harness started, monotonic clock), 8..16 a per-flow packet
//!   counter and 16..20 the flow number, so the receiving phone computes the one-way added
//!   latency, loss and jitter.
//!
//! Both print one JSON line of results on stdout.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use media::call::LegId;
use media::plane::{MediaPlane, PlaneConfig};
use media::sdp::Choice;
use serde_json::json;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PTIME: Duration = Duration::from_millis(20);
const PACKET: usize = 172;
const HEADER: usize = 12;
const SOCKET_BUFFER: usize = 256 * 1024;
/// The sender sleeps at least this long between rounds once many flows share the 20 ms
/// (it then sends every flow that has come due): bounds its wake-ups to 2,000/s.
const MIN_SLEEP: Duration = Duration::from_micros(500);

#[derive(Parser, Debug)]
#[command(name = "rtp-load", about = "Load harness for hotline's RTP relay")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the media plane with N bridged calls until stdin closes or --seconds pass.
    Relay {
        /// Calls (bridged CALLER ↔ SEAT pairs).
        #[arg(long)]
        calls: u16,
        /// Call i: CALLER leg on base+4i (RTCP base+4i+1), SEAT leg on base+4i+2.
        #[arg(long, default_value_t = 20000)]
        base_port: u16,
        /// Upper bound on the run (it ends earlier when stdin closes).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Drive N calls through a running relay: 100 packets/s per call in, 100 out.
    Drive {
        #[arg(long)]
        calls: u16,
        #[arg(long, default_value_t = 20000)]
        base_port: u16,
        /// Measurement window, after the warm-up.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Warm-up (latching, queues settling) before the window opens.
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        /// The relay's pid: its CPU time (utime+stime from /proc/PID/stat) is read when the
        /// window opens and closes.
        #[arg(long)]
        relay_pid: Option<u32>,
        /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
        #[arg(long, default_value_t = 100)]
        clk_tck: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Relay {
            calls,
            base_port,
            seconds,
        } => relay(calls, base_port, seconds),
        Cmd::Drive {
            calls,
            base_port,
            seconds,
            warmup,
            relay_pid,
            clk_tck,
        } => drive(&DriveArgs {
            calls,
            base_port,
            seconds,
            warmup,
            relay_pid,
            clk_tck,
        }),
    };
    if let Err(e) = r {
        eprintln!("rtp-load: {e}");
        std::process::exit(1);
    }
}

fn pcmu() -> Choice {
    Choice {
        payload_type: 0,
        encoding: "PCMU",
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
    }
}

fn leg_port(base: u16, call: u16, leg: LegId) -> Result<u16, String> {
    let off = u32::from(call) * 4 + if leg == LegId::SEAT { 2 } else { 0 };
    let p = u32::from(base) + off;
    if p + 1 > u32::from(u16::MAX) {
        return Err(format!(
            "port {p} out of range: lower --base-port or --calls"
        ));
    }
    Ok(p as u16)
}

// ---------------------------------------------------------------------------------------------
// relay

fn relay(calls: u16, base: u16, seconds: Option<u64>) -> Result<(), String> {
    // Exactly as crates/hotline/src/main.rs builds the media runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hotline-media")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the media runtime: {e}"))?;
    let plane = {
        let _enter = runtime.enter();
        MediaPlane::start(
            PlaneConfig {
                bind_ip: LOCALHOST,
                no_rtp_timeout: Duration::from_secs(60),
            },
            |_| {},
        )
    };
    for i in 0..calls {
        let call = u64::from(i) + 1;
        for leg in [LegId::CALLER, LegId::SEAT] {
            let port = leg_port(base, i, leg)?;
            plane
                .open_leg(call, leg, port, pcmu(), None)
                .map_err(|e| format!("call {call}: cannot bind {port}/{}: {e}", port + 1))?;
            // The far end's address is unknown (latching learns it); it "does not send" as
            // far as the no-RTP timeout goes.
            plane.update_leg(call, leg, pcmu(), None, false);
        }
        plane.bridge(call, LegId::CALLER, LegId::SEAT);
    }
    let started = Instant::now();
    println!("{}", json!({"ready": true, "calls": calls}));
    io::stdout().flush().map_err(|e| e.to_string())?;

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = [0u8; 512];
        let mut stdin = io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    match seconds {
        Some(s) => {
            let _ = rx.recv_timeout(Duration::from_secs(s));
        }
        None => {
            let _ = rx.recv();
        }
    }
    // Counters are flushed by the call tasks every ~100 ms.
    std::thread::sleep(Duration::from_millis(300));
    let s = plane.stats();
    println!(
        "{}",
        json!({
            "relay": true,
            "calls": s.calls,
            "legs": s.legs,
            "seconds": started.elapsed().as_secs_f64(),
            "packets_in": s.packets_in,
            "packets_out": s.packets_out,
            "rtcp_in": s.rtcp_in,
            "dropped_not_rtp": s.dropped_not_rtp,
            "dropped_payload_type": s.dropped_payload_type,
            "dropped_foreign_source": s.dropped_foreign_source,
            "bad_telephone_event": s.bad_telephone_event,
            "dtmf_digits": s.dtmf_digits,
            "no_rtp_timeouts": s.no_rtp_timeouts,
            "send_errors": s.send_errors,
            "bind_failures": s.bind_failures,
        })
    );
    io::stdout().flush().map_err(|e| e.to_string())?;
    for i in 0..calls {
        plane.close_call(u64::from(i) + 1);
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// drive

#[derive(Debug)]
struct DriveArgs {
    calls: u16,
    base_port: u16,
    seconds: u64,
    warmup: u64,
    relay_pid: Option<u32>,
    clk_tck: u64,
}

/// Flow k = 2·call + dir: dir 0 the caller phone (sends to the CALLER leg, hears the seat
/// phone), dir 1 the seat phone.
fn open_phone(base: u16, call: u16, leg: LegId) -> Result<UdpSocket, String> {
    let s = UdpSocket::bind((LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    let to = SocketAddr::new(LOCALHOST, leg_port(base, call, leg)?);
    // Connected: sends go to the leg, and only the leg's datagrams are received (the relay
    // forwards a leg's audio out of the other leg's socket, which is the port this phone
    // sends to).
    s.connect(to).map_err(|e| format!("connect {to}: {e}"))?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    let r = socket2::SockRef::from(&s);
    let _ = r.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = r.set_send_buffer_size(SOCKET_BUFFER);
    Ok(s)
}

/// What the sender counted (per direction).
#[derive(Debug, Default, Clone, Copy)]
struct SendCounts {
    sent_total: [u64; 2],
    sent_window: [u64; 2],
    send_errors: [u64; 2],
}

/// Receive side, shared by the receiving tasks (one thread).
struct RecvAgg {
    window: (u64, u64),
    recv_total: [u64; 2],
    recv_window: [u64; 2],
    out_of_order: u64,
    foreign: u64,
    latency_us: Histogram<u64>,
    latency_us_dir: [Histogram<u64>; 2],
    jitter_us: Histogram<u64>,
    recv_errors: u64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn proc_cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ".
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy jiffies of the whole machine (all CPUs): user+nice+system+irq+softirq+steal.
fn machine_busy_ticks() -> Option<u64> {
    let t = std::fs::read_to_string("/proc/stat").ok()?;
    let line = t.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?)
}

fn udp_snmp() -> Option<(u64, u64, u64)> {
    let t = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = t.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let vals: Vec<&str> = lines.next()?.split_whitespace().collect();
    let get = |n: &str| -> Option<u64> {
        let i = names.iter().position(|x| *x == n)?;
        vals.get(i)?.parse().ok()
    };
    Some((get("InErrors")?, get("RcvbufErrors")?, get("SndbufErrors")?))
}

fn drive(a: &DriveArgs) -> Result<(), String> {
    let calls = a.calls;
    let start = Instant::now();
    let warmup_ns = a.warmup * 1_000_000_000;
    let window = (warmup_ns, warmup_ns + a.seconds * 1_000_000_000);

    // Sockets: flow 2i is the caller phone of call i, flow 2i+1 the seat phone.
    let mut recv_socks = Vec::with_capacity(usize::from(calls) * 2);
    let mut send_socks = Vec::with_capacity(usize::from(calls) * 2);
    for i in 0..calls {
        for leg in [LegId::CALLER, LegId::SEAT] {
            let s = open_phone(a.base_port, i, leg)?;
            send_socks.push(s.try_clone().map_err(|e| e.to_string())?);
            recv_socks.push(s);
        }
    }

    let stop_recv = Arc::new(AtomicBool::new(false));

    // Receiver: one thread, a current-thread tokio runtime (epoll), one task per phone.
    let recv_thread = {
        let stop = Arc::clone(&stop_recv);
        std::thread::Builder::new()
            .name("rtp-load-recv".into())
            .spawn(move || -> Result<RecvAgg, String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                let agg = Rc::new(RefCell::new(RecvAgg {
                    window,
                    recv_total: [0; 2],
                    recv_window: [0; 2],
                    out_of_order: 0,
                    foreign: 0,
                    latency_us: histogram(),
                    latency_us_dir: [histogram(), histogram()],
                    jitter_us: histogram(),
                    recv_errors: 0,
                }));
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async {
                    for (flow, s) in recv_socks.into_iter().enumerate() {
                        let s = tokio::net::UdpSocket::from_std(s).map_err(|e| e.to_string())?;
                        let agg = Rc::clone(&agg);
                        tokio::task::spawn_local(receive(flow, s, start, agg));
                    }
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Ok::<(), String>(())
                })?;
                drop(local);
                Rc::try_unwrap(agg)
                    .map(RefCell::into_inner)
                    .map_err(|_| "receiver state still shared".to_string())
            })
            .map_err(|e| e.to_string())?
    };

    // Sender: one thread, paced; flow k's phase is k/(2N) of the 20 ms.
    let sender = {
        let total = a.warmup + a.seconds;
        std::thread::Builder::new()
            .name("rtp-load-send".into())
            .spawn(move || send_loop(&send_socks, start, window, total))
            .map_err(|e| e.to_string())?
    };

    // Window bookkeeping: CPU of the relay and of this process, kernel UDP drop counters.
    let pid = a.relay_pid.map(|p| p.to_string());
    let sleep_until = |ns: u64| {
        let at = start + Duration::from_nanos(ns);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
    };
    sleep_until(window.0);
    let t0 = Instant::now();
    let relay0 = pid.as_deref().and_then(proc_cpu_ticks);
    let self0 = proc_cpu_ticks("self");
    let snmp0 = udp_snmp();
    let busy0 = machine_busy_ticks();
    sleep_until(window.1);
    let wall = t0.elapsed().as_secs_f64();
    let relay1 = pid.as_deref().and_then(proc_cpu_ticks);
    let self1 = proc_cpu_ticks("self");
    let snmp1 = udp_snmp();
    let busy1 = machine_busy_ticks();

    let (sc, lag) = sender.join().map_err(|_| "sender panicked".to_string())?;
    // Let the last packets arrive.
    std::thread::sleep(Duration::from_millis(500));
    stop_recv.store(true, Ordering::Relaxed);
    let agg = recv_thread
        .join()
        .map_err(|_| "receiver panicked".to_string())??;

    let tck = a.clk_tck as f64;
    let cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => json!((b.saturating_sub(a)) as f64 / tck),
        _ => serde_json::Value::Null,
    };
    let relay_cpu_s = cpu(relay0, relay1);
    let gen_cpu_s = cpu(self0, self1);
    let secs = a.seconds as f64;
    let sent_w = sc.sent_window[0] + sc.sent_window[1];
    let recv_w = agg.recv_window[0] + agg.recv_window[1];
    // Direction d's packets are received by the other phone: caller→seat is heard by dir 1.
    let lost = [
        sc.sent_window[0] as i64 - agg.recv_window[1] as i64,
        sc.sent_window[1] as i64 - agg.recv_window[0] as i64,
    ];
    let pct = |l: i64, s: u64| {
        if s == 0 {
            0.0
        } else {
            l as f64 * 100.0 / s as f64
        }
    };
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p);
    let snmp = match (snmp0, snmp1) {
        (Some(x), Some(y)) => json!({
            "in_errors": y.0 - x.0, "rcvbuf_errors": y.1 - x.1, "sndbuf_errors": y.2 - x.2
        }),
        _ => serde_json::Value::Null,
    };
    let out = json!({
        "calls": calls,
        "seconds": secs,
        "window_wall_s": wall,
        "offered_pps": 100.0 * f64::from(calls),
        "sent_pps": sent_w as f64 / secs,
        "delivered_pps": recv_w as f64 / secs,
        "sent": sent_w,
        "received": recv_w,
        "sent_dir": {"caller_to_seat": sc.sent_window[0], "seat_to_caller": sc.sent_window[1]},
        "received_dir": {"caller_to_seat": agg.recv_window[1], "seat_to_caller": agg.recv_window[0]},
        "lost_dir": {"caller_to_seat": lost[0], "seat_to_caller": lost[1]},
        "loss_pct": pct(lost[0] + lost[1], sent_w),
        "out_of_order": agg.out_of_order,
        "foreign": agg.foreign,
        "send_errors": sc.send_errors[0] + sc.send_errors[1],
        "recv_errors": agg.recv_errors,
        "sent_total": sc.sent_total[0] + sc.sent_total[1],
        "received_total": agg.recv_total[0] + agg.recv_total[1],
        "latency_us": {
            "p50": q(&agg.latency_us, 0.5), "p99": q(&agg.latency_us, 0.99),
            "p999": q(&agg.latency_us, 0.999), "max": agg.latency_us.max(),
            "mean": agg.latency_us.mean(),
        },
        "latency_p99_us_dir": {
            "caller_to_seat": q(&agg.latency_us_dir[1], 0.99),
            "seat_to_caller": q(&agg.latency_us_dir[0], 0.99),
        },
        "jitter_us": {
            "method": "RFC 3550 interarrival jitter J (J += (|D|-J)/16), D from the embedded send times; every packet's running J",
            "p50": q(&agg.jitter_us, 0.5), "p99": q(&agg.jitter_us, 0.99),
            "max": agg.jitter_us.max(),
        },
        "sender_lag_us": {"p50": q(&lag, 0.5), "p99": q(&lag, 0.99), "max": lag.max()},
        "relay_cpu_s": relay_cpu_s,
        "generator_cpu_s": gen_cpu_s,
        "machine_busy_cpu_s": cpu(busy0, busy1),
        "udp_snmp": snmp,
    });
    println!("{out}");
    Ok(())
}

fn send_loop(
    socks: &[UdpSocket],
    start: Instant,
    window: (u64, u64),
    total_s: u64,
) -> (SendCounts, Histogram<u64>) {
    let flows = socks.len();
    let period = PTIME.as_nanos() as u64;
    let end = Duration::from_secs(total_s);
    let mut counts = SendCounts::default();
    // How late each round started, in µs (the generator's own scheduling).
    let mut lag = histogram();
    let mut seq = vec![0u64; flows];
    let mut pkt = [0u8; PACKET];
    // Flow k sends at t0 + c·20 ms + k·20 ms/flows, c = 0, 1, ...
    let t0 = start + Duration::from_millis(5);
    let offset = |k: usize| period * k as u64 / flows.max(1) as u64;
    let mut cycle: u64 = 0;
    let mut k: usize = 0;
    loop {
        let due = t0 + Duration::from_nanos(cycle * period + offset(k));
        if due.duration_since(start) >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            // Sparse flows: sleep to the next phase; dense ones: batch by MIN_SLEEP.
            let wait = if period_gap(period, flows) >= MIN_SLEEP {
                due - now
            } else {
                (due - now).max(MIN_SLEEP)
            };
            std::thread::sleep(wait);
            continue;
        }
        let behind = now.duration_since(due).as_micros() as u64;
        let _ = lag.record(behind.max(1));
        // Send every flow that is due.
        let now = Instant::now();
        loop {
            let due = t0 + Duration::from_nanos(cycle * period + offset(k));
            if due > now {
                break;
            }
            let dir = k & 1;
            let s = seq[k];
            seq[k] += 1;
            let sent_ns = start.elapsed().as_nanos() as u64;
            pkt[0] = 0x80;
            pkt[1] = 0; // PT 0 (PCMU), no marker
            pkt[2..4].copy_from_slice(&(s as u16).to_be_bytes());
            pkt[4..8].copy_from_slice(&((s as u32).wrapping_mul(160)).to_be_bytes());
            pkt[8..12].copy_from_slice(&(0x1000_0000u32 + k as u32).to_be_bytes());
            pkt[HEADER..HEADER + 8].copy_from_slice(&sent_ns.to_le_bytes());
            pkt[HEADER + 8..HEADER + 16].copy_from_slice(&s.to_le_bytes());
            pkt[HEADER + 16..HEADER + 20].copy_from_slice(&(k as u32).to_le_bytes());
            match socks[k].send(&pkt) {
                Ok(_) => {
                    counts.sent_total[dir] += 1;
                    if sent_ns >= window.0 && sent_ns < window.1 {
                        counts.sent_window[dir] += 1;
                    }
                }
                Err(_) => counts.send_errors[dir] += 1,
            }
            k += 1;
            if k == flows {
                k = 0;
                cycle += 1;
            }
        }
    }
    (counts, lag)
}

/// The time between two flows' phases.
fn period_gap(period_ns: u64, flows: usize) -> Duration {
    Duration::from_nanos(period_ns / flows.max(1) as u64)
}

async fn receive(
    flow: usize,
    sock: tokio::net::UdpSocket,
    start: Instant,
    agg: Rc<RefCell<RecvAgg>>,
) {
    // This phone hears the other phone of its call.
    let peer = flow ^ 1;
    let dir = flow & 1;
    let mut buf = [0u8; 2048];
    let mut expected: u64 = 0;
    // RFC 3550 A.8 state: previous transit (ns) and J (ns, as f64).
    let mut last_transit: Option<i64> = None;
    let mut jitter: f64 = 0.0;
    loop {
        let Ok(n) = sock.recv(&mut buf).await else {
            agg.borrow_mut().recv_errors += 1;
            continue;
        };
        let now_ns = start.elapsed().as_nanos() as u64;
        let mut g = agg.borrow_mut();
        if n < HEADER + 20 {
            g.foreign += 1;
            continue;
        }
        let p = &buf[HEADER..];
        let sent_ns = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(p[8..16].try_into().unwrap_or_default());
        let from_flow = u32::from_le_bytes(p[16..20].try_into().unwrap_or_default()) as usize;
        if from_flow != peer {
            g.foreign += 1;
            continue;
        }
        g.recv_total[dir] += 1;
        if seq < expected {
            g.out_of_order += 1;
        }
        expected = expected.max(seq + 1);
        let transit = now_ns as i64 - sent_ns as i64;
        if let Some(prev) = last_transit {
            let d = (transit - prev).unsigned_abs() as f64;
            jitter += (d - jitter) / 16.0;
        }
        last_transit = Some(transit);
        if sent_ns >= g.window.0 && sent_ns < g.window.1 {
            g.recv_window[dir] += 1;
            let us = (transit.max(0) as u64 / 1000).max(1);
            let _ = g.latency_us.record(us);
            let _ = g.latency_us_dir[dir].record(us);
            let _ = g.jitter_us.record(((jitter / 1000.0) as u64).max(1));
        }
    }
}
