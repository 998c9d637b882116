//! `hotline`: the contact-center engine for the 12345 government service hotline.
//!
//! `hotline serve` runs the SIP gateway on loopback with no configuration file. What it does
//! today is listed in the start-up banner; nothing there is claimed before it works.

mod secrets;
mod simulate_cmd;
mod staffing_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use sip_gateway::b2bua::{Event, Gateway, GatewayConfig};
use sip_gateway::digest::DigestAlgorithm;
use sip_gateway::registrar::{Registrar, RegistrarConfig};
use sip_gateway::route::SeatRouter;
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
    /// Seats needed for an interval's load (Erlang C, or Erlang A with --patience).
    Staffing(staffing_cmd::StaffingArgs),
    /// Simulate a day of Zhengzhou traffic through the distributor, beside Erlang A.
    Simulate(simulate_cmd::SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct Serve {
    /// SIP address (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// Secrets file with seat credentials ([seats] <id> = "<password>").
    #[arg(long, env = "HOTLINE_SECRETS")]
    secrets: Option<PathBuf>,
    /// Seconds a seat rings before the caller is told it is unavailable.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    ring_timeout: u64,
    /// Digest algorithms offered to registering seats, most preferred first. Put `md5` first
    /// for phones that read only the first challenge and know only MD5 (e.g. SIPp 3.6).
    #[arg(long, value_delimiter = ',', default_value = "sha-256,md5", value_parser = parse_algorithm)]
    digest_algorithms: Vec<DigestAlgorithm>,
    /// Largest SIP message accepted, in bytes.
    #[arg(long, default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(1024..=65_535))]
    max_message_bytes: u64,
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
        Command::Simulate(args) => simulate_cmd::run(args),
        Command::Staffing(args) => staffing_cmd::run(args),
    };
    match outcome {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("hotline: {message}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: Serve) -> Result<(), String> {
    let credentials = match &args.secrets {
        Some(path) => Some(secrets::load(path)?),
        None => None,
    };
    if credentials.is_none() && !args.sip.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {} without a secrets file: seats would register without \
             authentication from any network. Pass --secrets FILE (or HOTLINE_SECRETS), or \
             listen on a loopback address.",
            args.sip
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let sockets = Sockets::bind(args.sip)
            .await
            .map_err(|e| format!("cannot listen for SIP on {}: {e}", args.sip))?;
        let local = sockets
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let limits = Limits {
            max_message_bytes: args.max_message_bytes as usize,
        };
        let seats = credentials.as_ref().map(|c| c.len());
        let registrar = Registrar::new(
            RegistrarConfig {
                digest_algorithms: args.digest_algorithms.clone(),
                ..RegistrarConfig::new(local.ip().to_string())
            },
            credentials,
            rand::random(),
            Instant::now(),
        );
        let config = GatewayConfig {
            local_addr: local,
            timers: TimerConfig::default(),
            limits: limits.clone(),
            ring_timeout: Duration::from_secs(args.ring_timeout),
        };
        let gateway = Gateway::new(config, SeatRouter, registrar, rand::random());
        print_banner(local, seats, &args.digest_algorithms, args.ring_timeout);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let stats = shell::run(gateway, sockets, limits, shutdown, |event, _| {
            log_event(event)
        })
        .await
        .map_err(|e| format!("SIP transport failed: {e}"))?;
        tracing::info!(?stats, "stopped");
        Ok(())
    })
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

fn print_banner(
    sip: SocketAddr,
    seats: Option<usize>,
    algorithms: &[DigestAlgorithm],
    ring_timeout: u64,
) {
    println!(
        "hotline {} — contact-center engine for the 12345 hotline",
        env!("CARGO_PKG_VERSION")
    );
    println!("  SIP        udp+tcp {sip}");
    match seats {
        Some(n) => {
            let offered: Vec<&str> = algorithms
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
    println!(
        "  routing    sip:<seat-id>@{} rings that registered seat (ring timeout {ring_timeout} s); other numbers get 404",
        sip.ip()
    );
    println!("  ready");
}

fn log_event(event: &Event) {
    match event {
        Event::CallEnded { call, cause } => tracing::debug!(call, ?cause, "call ended"),
        Event::SeatRegistered { seat } => tracing::info!(seat, "seat registered"),
        Event::SeatUnregistered { seat } => tracing::info!(seat, "seat unregistered"),
        // The caller's number is personal data: it stays out of the logs.
        Event::CallStarted { call, dialed, .. } => tracing::debug!(call, dialed, "call started"),
        other => tracing::debug!(?other, "event"),
    }
}
