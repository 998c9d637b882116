//! `hotline`: the contact-center engine for the 12345 government service hotline.
//!
//! `hotline serve` runs the platform on loopback with no configuration file: the embedded
//! Zhengzhou plan, seats that register and go ready, callers queued to them, call records in
//! SQLite and live figures over HTTP. The start-up banner lists what listens where.

mod secrets;
mod simulate_cmd;
mod staffing_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use hotline::api::{Command as EngineCommand, EngineHandle};
use hotline::engine::driver::Driver;
use hotline::engine::ports::PlanePorts;
use hotline::engine::{Engine, PlatformRouter, WallClock};
use hotline::metrics::Metrics;
use hotline::store::Store;
use hotline::ticket::{RetryPolicy, TicketPusher};
use hotline::{config, http};
use media::plane::{MediaPlane, PlaneConfig};
use sip_gateway::b2bua::{AnchorConfig, Gateway, GatewayConfig};
use sip_gateway::digest::DigestAlgorithm;
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::shell::{self, Sockets};
use sip_gateway::transaction::TimerConfig;
use sip_gateway::validate::Limits;

#[derive(Debug, Parser)]
#[command(
    name = "hotline",
    version,
    about = "Contact-center engine for the 12345 hotline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine.
    Serve(Serve),
    /// Check a configuration file and summarise it; exit 2 with file:line:key messages if bad.
    CheckConfig(CheckConfig),
    /// Seats needed for an interval's load (Erlang C, or Erlang A with --patience).
    Staffing(staffing_cmd::StaffingArgs),
    /// Simulate a day of Zhengzhou traffic through the distributor, beside Erlang A.
    Simulate(simulate_cmd::SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct Serve {
    /// Platform configuration (TOML); without it the embedded Zhengzhou plan
    /// (deploy/zhengzhou.toml) runs.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SIP address (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// SIP over TLS address (e.g. 0.0.0.0:5061); needs the plan's [tls] certificate and
    /// private_key. Off unless given; required when a target is dialled over TLS.
    #[arg(long)]
    sip_tls: Option<SocketAddr>,
    /// HTTP address of the JSON API (/api/v1), /metrics and the wallboard (/).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Directory of the call-record database (hotline.db, SQLite WAL); created if missing.
    #[arg(long, default_value = "hotline-data")]
    data: PathBuf,
    /// Secrets file with seat credentials ([seats] <id> = "<password>") and API tokens
    /// ([tokens.<name>] token, role, seat); without tokens the API answers loopback only.
    #[arg(long, env = "HOTLINE_SECRETS")]
    secrets: Option<PathBuf>,
    /// Seconds a seat rings on an internal call (a seat's own number dialled); calls from a
    /// queue ring for the queue's configured ring timeout.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    ring_timeout: u64,
    /// Digest algorithms offered to registering seats, most preferred first. Put `md5` first
    /// for phones that read only the first challenge and know only MD5 (e.g. SIPp 3.6).
    #[arg(long, value_delimiter = ',', default_value = "sha-256,md5", value_parser = parse_algorithm)]
    digest_algorithms: Vec<DigestAlgorithm>,
    /// RTP port range, e.g. `30000-30999`, overriding the configuration's `[media] ports`
    /// (e.g. to run two servers on one host).
    #[arg(long, value_parser = parse_port_range)]
    rtp_ports: Option<std::ops::RangeInclusive<u16>>,
    /// Largest SIP message accepted, in bytes.
    #[arg(long, default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(1024..=65_535))]
    max_message_bytes: u64,
    /// Fault injection for crash-safety tests: the record writer waits this many
    /// milliseconds before each transaction, as on a slow disk.
    #[arg(long, default_value_t = 0, hide = true)]
    fault_commit_delay_ms: u64,
    /// Seconds a graceful stop (SIGTERM, Ctrl-C) waits for calls in progress to finish while
    /// refusing new ones (503); the calls left then are ended. 0: stop at once.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    drain: u64,
}

#[derive(Debug, clap::Args)]
struct CheckConfig {
    /// The TOML file to check.
    file: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOTLINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Every subcommand ends the same way: its text on stdout, or one error line and exit 2.
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).map(|()| String::new()),
        Command::CheckConfig(args) => config::check::check_config(&args.file),
        Command::Simulate(args) => simulate_cmd::run(args),
        Command::Staffing(args) => staffing_cmd::run(args),
    };
    match outcome {
        Ok(text) => {
            print!("{text}");
            if !text.is_empty() && !text.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("hotline: {message}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: Serve) -> Result<(), String> {
    let plan = match &args.config {
        Some(path) => config::load(path).map_err(|e| e.to_string())?,
        None => config::zhengzhou(),
    };
    let (credentials, tokens) = match &args.secrets {
        Some(path) => {
            let seats: std::collections::HashSet<String> =
                plan.acd.seats.iter().map(|s| s.id.0.to_string()).collect();
            let loaded = secrets::load(path, |id| seats.contains(id))?;
            (Some(loaded.credentials), loaded.tokens)
        }
        None => (None, Vec::new()),
    };
    // The API mirrors SIP: without tokens it answers loopback clients only (as admin), and
    // says so; it does not refuse to start, since the loopback clients still need it.
    let access = http::access::Access::with_tokens(tokens);
    if access.is_loopback_only() && !args.http.ip().is_loopback() {
        tracing::warn!(
            http = %args.http,
            "no API tokens in the secrets file: the HTTP API answers loopback clients only \
             (others get 403); add [tokens] to the secrets file to open it"
        );
    }
    for addr in std::iter::once(args.sip).chain(args.sip_tls) {
        if credentials.is_none() && !addr.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {addr} without a secrets file: seats would register \
                 without authentication from any network. Pass --secrets FILE (or \
                 HOTLINE_SECRETS), or listen on a loopback address."
            ));
        }
    }
    check_tls(&plan, args.sip_tls)?;
    let now = Instant::now();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let store_options = hotline::store::StoreOptions {
        commit_delay: Duration::from_millis(args.fault_commit_delay_ms),
        ..hotline::store::StoreOptions::default()
    };
    let (store, recovery) =
        Store::open_with(&args.data, now_ms, &store_options).map_err(|e| e.to_string())?;
    // RTP has its own two worker threads, so a burst of packets never delays SIP and the
    // reverse (docs/decisions/0012-media-plane.md).
    let media_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hotline-media")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the media runtime: {e}"))?;
    let media_handle = media_runtime.handle().clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let driver = runtime.block_on(async move {
        let mut sockets = Sockets::bind(args.sip)
            .await
            .map_err(|e| format!("cannot listen for SIP on {}: {e}", args.sip))?;
        if let Some(tls) = &plan.tls {
            sockets = sockets
                .with_tls(Arc::clone(tls), args.sip_tls)
                .await
                .map_err(|e| {
                    let at = args
                        .sip_tls
                        .map_or_else(String::new, |a| format!(" on {a}"));
                    format!("cannot listen for SIP over TLS{at}: {e}")
                })?;
        }
        let tls_addr = sockets.tls_addr();
        let local = sockets
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let http = tokio::net::TcpListener::bind(args.http)
            .await
            .map_err(|e| format!("cannot listen for HTTP on {}: {e}", args.http))?;
        let http_addr = http
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let limits = Limits {
            max_message_bytes: args.max_message_bytes as usize,
        };
        let credential_count = credentials.as_ref().map(|c| c.len());
        let registrar = Registrar::new(
            RegistrarConfig {
                digest_algorithms: args.digest_algorithms.clone(),
                ..RegistrarConfig::new(local.ip().to_string())
            },
            credentials,
            rand::random(),
            now,
        );
        let ring_timeout = Duration::from_secs(args.ring_timeout);
        let gateway_config = GatewayConfig {
            local_addr: local,
            timers: TimerConfig::default(),
            limits: limits.clone(),
            ring_timeout,
        };
        let router = PlatformRouter::new(
            plan.acd.seats.iter().map(|s| s.id.0.to_string()),
            ring_timeout,
        );
        let media_ip = plan.media.address.unwrap_or(local.ip());
        let (commands_tx, commands) = tokio::sync::mpsc::channel(1024);
        // Media events reach the engine in order and none is lost: an unbounded hop from the
        // plane's callback to the bounded command channel.
        let (media_tx, mut media_rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = commands_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = media_rx.recv().await {
                if forward.send(EngineCommand::Media(event)).await.is_err() {
                    break;
                }
            }
        });
        let plane = {
            let _enter = media_handle.enter();
            MediaPlane::start(
                PlaneConfig {
                    bind_ip: media_ip,
                    no_rtp_timeout: plan.media.no_rtp_timeout.unwrap_or(Duration::MAX),
                },
                move |event| {
                    let _ = media_tx.send(event);
                },
            )
        };
        let rtp_ports = args
            .rtp_ports
            .clone()
            .unwrap_or_else(|| plan.media.ports.clone());
        let mut gateway = Gateway::new(gateway_config, router, registrar, rand::random());
        if let Some(addr) = tls_addr {
            gateway = gateway.with_tls_address(addr);
        }
        let gateway = gateway
            .with_anchor_ports(
                AnchorConfig {
                    address: media_ip,
                    ports: rtp_ports.clone(),
                },
                Box::new(PlanePorts::new(&rtp_ports, plane.clone())),
            )
            .with_guard(plan.protection.clone());
        let metrics = Arc::new(Metrics::new());
        let engine = Engine::new(
            &plan,
            gateway,
            Arc::clone(&metrics),
            recovery.max_call_id + 1,
            WallClock::new(now, now_ms),
            ring_timeout,
        )?
        .with_audio(&plan);
        let api_tokens = (!access.is_loopback_only()).then(|| {
            http::access::Role::ALL
                .iter()
                .filter_map(|&r| {
                    let n = access.count(r);
                    (n > 0).then(|| format!("{n} {}", r.as_str()))
                })
                .collect::<Vec<_>>()
                .join(", ")
        });
        let router =
            http::router_with_access(EngineHandle::new(commands_tx.clone()), metrics, access);
        let (stop_http_tx, stop_http) = tokio::sync::oneshot::channel::<()>();
        let http_task = tokio::spawn(http::serve(http, router, async {
            let _ = stop_http.await;
        }));
        print_banner(&Banner {
            plan: &plan,
            sip: local,
            sip_tls: tls_addr,
            http: http_addr,
            data: &args.data,
            interrupted: recovery.interrupted_calls,
            credentials: credential_count,
            algorithms: &args.digest_algorithms,
            api_tokens,
        });
        // Ctrl-C or SIGTERM (systemd, docker stop): stop taking SIP, then flush the records.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stop asked");
        };
        // Ticket pushes report back through the command channel, like media events.
        let (ticket_tx, mut ticket_rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = commands_tx.clone();
        tokio::spawn(async move {
            while let Some((ticket, outcome)) = ticket_rx.recv().await {
                let done = EngineCommand::TicketPushed { ticket, outcome };
                if forward.send(done).await.is_err() {
                    break;
                }
            }
        });
        let pusher = TicketPusher::new(RetryPolicy::default(), move |ticket, outcome| {
            let _ = ticket_tx.send((ticket, outcome));
        });
        let driver = Driver::new(engine, store)
            .with_media_plane(plane)
            .with_ticket_pusher(pusher);
        let drain = Duration::from_secs(args.drain);
        let (driver, stats) = shell::run(driver, sockets, limits, shutdown, commands, drain)
            .await
            .map_err(|e| format!("SIP transport failed: {e}"))?;
        let _ = stop_http_tx.send(());
        let _ = http_task.await;
        tracing::info!(?stats, "stopped: writing the remaining call records");
        Ok::<_, String>(driver)
    })?;
    media_runtime.shutdown_timeout(Duration::from_secs(1));
    let (_, store) = driver.into_parts();
    store
        .close(Duration::from_secs(10))
        .map_err(|e| format!("call records not all written: {e}"))
}

/// The TLS listener and the plan must agree: listening needs our certificate, and a target
/// dialled over TLS needs the listener (its Contact, where the trunk sends its requests in the
/// dialog, names it). Targets exempted from verification are named in the log at every start.
fn check_tls(plan: &config::Plan, listen: Option<SocketAddr>) -> Result<(), String> {
    let can_listen = plan.tls.as_ref().is_some_and(|t| t.can_listen());
    if let (Some(addr), false) = (listen, can_listen) {
        return Err(format!(
            "--sip-tls {addr} needs a certificate: set certificate and private_key in the \
             plan's [tls] table (docs/config.md)"
        ));
    }
    let over_tls: Vec<&str> = plan
        .targets
        .iter()
        .filter(|t| t.tls.is_some())
        .map(|t| t.key.as_str())
        .collect();
    if !over_tls.is_empty() && listen.is_none() {
        return Err(format!(
            "targets {} are dialled over TLS: pass --sip-tls ADDR, the TLS listener their \
             trunks reach the platform at within a call",
            over_tls.join(", ")
        ));
    }
    for t in &plan.targets {
        if t.tls.as_ref().is_some_and(|c| !c.verify) {
            tracing::warn!(
                trunk = t.key,
                "tls_verify = false: the trunk's certificate is not checked; anyone on the path \
                 can pose as it"
            );
        }
    }
    Ok(())
}

/// `START-END`: an even start, at least two port pairs, within 1024..=65535.
fn parse_port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?}: expected START-END, e.g. 20000-29999"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u16>()
            .map_err(|_| format!("{s:?}: {v:?} is not a port number"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a < 1024 || a % 2 != 0 || b < a.saturating_add(3) {
        return Err(format!(
            "{s:?}: the range must start on an even port of 1024 or more and hold at least \
             two RTP/RTCP pairs"
        ));
    }
    Ok(a..=b)
}

fn parse_algorithm(s: &str) -> Result<DigestAlgorithm, String> {
    match s.to_ascii_lowercase().as_str() {
        "sha-256" | "sha256" => Ok(DigestAlgorithm::Sha256),
        "md5" => Ok(DigestAlgorithm::Md5),
        other => Err(format!(
            "unknown digest algorithm {other:?}: use sha-256 or md5"
        )),
    }
}

struct Banner<'a> {
    plan: &'a config::Plan,
    sip: SocketAddr,
    sip_tls: Option<SocketAddr>,
    http: SocketAddr,
    data: &'a std::path::Path,
    interrupted: u64,
    credentials: Option<usize>,
    algorithms: &'a [DigestAlgorithm],
    /// Tokens by role ("1 admin, 2 seat"), or `None`: no tokens, loopback only.
    api_tokens: Option<String>,
}

fn print_banner(b: &Banner<'_>) {
    println!(
        "hotline {} — contact-center engine for the 12345 hotline",
        env!("CARGO_PKG_VERSION")
    );
    println!("  plan       {}", b.plan.source);
    let pools: Vec<String> = acd_core::Pool::ALL
        .iter()
        .filter_map(|&p| {
            let n = b.plan.acd.seats.iter().filter(|s| s.pool == p).count();
            (n > 0).then(|| format!("{n} {}", format!("{p:?}").to_lowercase()))
        })
        .collect();
    println!(
        "             {} lines into {} queues; seats: {}",
        b.plan.lines.len(),
        b.plan.acd.queues.len(),
        pools.join(", ")
    );
    println!("  SIP        udp+tcp {}", b.sip);
    if let Some(addr) = b.sip_tls {
        println!("  SIP TLS    tls {addr}");
    }
    println!(
        "  HTTP       http://{}/api/v1  and  http://{}/metrics",
        b.http, b.http
    );
    println!("  wallboard  http://{}/", b.http);
    println!(
        "  records    {} (SQLite, WAL){}",
        b.data.join("hotline.db").display(),
        if b.interrupted > 0 {
            format!(
                "; {} call(s) in flight at the last stop closed as interrupted",
                b.interrupted
            )
        } else {
            String::new()
        }
    );
    match b.credentials {
        Some(n) => {
            let offered: Vec<&str> = b
                .algorithms
                .iter()
                .map(|a| match a {
                    DigestAlgorithm::Sha256 => "SHA-256",
                    DigestAlgorithm::Md5 => "MD5",
                })
                .collect();
            println!(
                "  registrar  {n} seat credential(s) from the secrets file; digest auth required ({})",
                offered.join(", ")
            );
        }
        None => println!(
            "  registrar  no secrets file: only loopback sources may register, without authentication"
        ),
    }
    match &b.api_tokens {
        Some(roles) => println!(
            "  API auth   bearer tokens from the secrets file ({roles}); failures rate-limited, \
             writes audited"
        ),
        None => {
            println!("  API auth   no API tokens: the API answers loopback clients only, as admin")
        }
    }
    println!("  ready");
}
