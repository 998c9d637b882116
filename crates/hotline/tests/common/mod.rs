//! Shared harness for the gateway's integration tests against real peers.
//!
//! - [`Gateway`]: a `hotline serve` child on its own 127.0.0.1 port, ready once it answers an
//!   OPTIONS over UDP, killed on drop.
//! - [`Sipp`]: one SIPp run (foreground with a wall-clock limit, or in the background), writing
//!   its error log, message trace, statistics and screen into the test's [`TestDir`].
//! - [`raw_exchange`]: a request over a plain UDP socket and the responses it got.
//!
//! Every test gets its own directory under `CARGO_TARGET_TMPDIR/hotline-itest/`, kept after
//! the run so that a failure can be read at leisure; panic messages carry the useful tails.
#![allow(dead_code, unreachable_pub)]

pub mod raw;
#[allow(unused_imports)] // not every test binary needs the raw caller
pub use raw::*;

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read as _};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The SIPp binary: `$HOTLINE_SIPP` or `sipp` from PATH.
pub fn sipp_bin() -> String {
    std::env::var("HOTLINE_SIPP").unwrap_or_else(|_| "sipp".to_owned())
}

/// A scenario of ours, under `tests/scenarios/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// The seat registration scenario shared with the benches.
pub fn register_xml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/sipp/register.xml")
}

// ---------------------------------------------------------------------------------------------
// Ports

const PORT_LO: u32 = 20_000;
const PORT_SPAN: u32 = 12_000; // 20000..32000: below Linux's ephemeral range (32768..)
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A port on 127.0.0.1 that is free for both UDP and TCP right now. Tests in one process take
/// ports from a shared counter; concurrent test processes start at different offsets (by pid).
pub fn free_port() -> u16 {
    let start = (std::process::id() % 60) * 200;
    for _ in 0..PORT_SPAN {
        let n = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        let port = (PORT_LO + (start + n) % PORT_SPAN) as u16;
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!(
        "no free port on 127.0.0.1 in {PORT_LO}..{}",
        PORT_LO + PORT_SPAN
    );
}

/// Wait until something holds `port` (TCP when `tcp`, else UDP), i.e. a SIPp UAS is listening.
fn wait_bound(port: u16, tcp: bool, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // SIPp listens on one transport: UDP by default, TCP with -t t1.
        let taken = if tcp {
            TcpListener::bind(("127.0.0.1", port)).is_err()
        } else {
            UdpSocket::bind(("127.0.0.1", port)).is_err()
        };
        if taken {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}) before listening on port {port}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("not listening on port {port} after 10 s"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Per-test directory

/// The test's own directory for logs and traces (emptied at creation, kept afterwards).
#[derive(Debug)]
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(test: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("hotline-itest")
            .join(test);
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create test dir");
        Self { path }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// The last `max` bytes of a file (lossy UTF-8), or a note that it is missing or empty.
pub fn tail(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(bytes) if bytes.is_empty() => "(empty)".to_owned(),
        Ok(bytes) => {
            let from = bytes.len().saturating_sub(max);
            let cut = if from > 0 { "…" } else { "" };
            format!("{cut}{}", String::from_utf8_lossy(&bytes[from..]))
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw SIP over UDP

/// Send `request` (with `{port}` replaced by the local port, `\n` by CRLF) from a fresh UDP
/// socket to 127.0.0.1:`to_port`, retransmitting every 500 ms like a UDP client transaction,
/// and collect the responses that arrive until a final one (then a short grace period) or until
/// `wait`. Returns the responses as text.
pub fn raw_exchange(to_port: u16, request: &str, wait: Duration) -> Vec<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind raw udp");
    let local = sock.local_addr().unwrap().port();
    let text = request.replace("{port}", &local.to_string());
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    raw_exchange_on(&sock, to_port, text.as_bytes(), wait)
}

/// As [`raw_exchange`] with bytes sent as they are from a given socket.
pub fn raw_exchange_on(
    sock: &UdpSocket,
    to_port: u16,
    bytes: &[u8],
    wait: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut responses = Vec::new();
    let mut next_send = Instant::now();
    let mut sends = 0;
    let mut final_at: Option<Instant> = None;
    let mut buf = vec![0u8; 65_535];
    loop {
        let now = Instant::now();
        if now >= deadline || final_at.is_some_and(|t| now >= t + Duration::from_millis(150)) {
            return responses;
        }
        if responses.is_empty() && now >= next_send && sends < 7 {
            sock.send_to(bytes, ("127.0.0.1", to_port))
                .expect("send raw udp");
            sends += 1;
            next_send = now + Duration::from_millis(500);
        }
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if status_code(&msg).is_some_and(|c| c >= 200) && final_at.is_none() {
                    final_at = Some(Instant::now());
                }
                responses.push(msg);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("raw udp recv: {e}"),
        }
    }
}

/// The status code of a response's status line.
pub fn status_code(msg: &str) -> Option<u16> {
    let line = msg.lines().next()?;
    let rest = line.strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

/// The values of a header (full name or compact form, case-insensitive) in a message.
pub fn header_values<'a>(msg: &'a str, name: &str, compact: Option<&str>) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or(msg);
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)))
                .then(|| v.trim())
        })
        .collect()
}

/// An OPTIONS to the gateway itself.
pub fn options_request(gw_port: u16, tag: &str) -> String {
    format!(
        "OPTIONS sip:127.0.0.1:{gw_port} SIP/2.0\n\
         Via: SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK-{tag}\n\
         Max-Forwards: 70\n\
         From: <sip:itest@127.0.0.1>;tag={tag}\n\
         To: <sip:127.0.0.1:{gw_port}>\n\
         Call-ID: {tag}@127.0.0.1\n\
         CSeq: 1 OPTIONS\n\
         Content-Length: 0\n\n"
    )
}

// ---------------------------------------------------------------------------------------------
// The gateway

/// A `hotline serve` child process; killed on drop.
#[derive(Debug)]
pub struct Gateway {
    child: Mutex<Child>,
    pub port: u16,
    /// The HTTP API's port.
    pub http: u16,
    /// The data directory (hotline.db).
    pub data: PathBuf,
    pub log: PathBuf,
}

/// `--rtp-ports` for a test server: a block of 200 ports of its own, picked from its SIP port,
/// so servers of tests running side by side do not fight over RTP ports. None if the test
/// sets its own.
fn rtp_ports(sip_port: u16, extra: &[&str]) -> Vec<String> {
    if extra.contains(&"--rtp-ports") {
        return Vec::new();
    }
    // 10000..20000: clear of the SIP and HTTP ports above (20000..32000) and of the kernel's
    // ephemeral range.
    let block = u32::from(sip_port) % 50;
    let start = 10_000 + block * 200;
    vec!["--rtp-ports".into(), format!("{start}-{}", start + 199)]
}

fn spawn_hotline(port: u16, http: u16, data: &Path, log: &Path, extra: &[&str]) -> Child {
    let out = fs::File::create(log).expect("create gateway log");
    let err = out.try_clone().unwrap();
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("serve")
        .arg("--sip")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--http")
        .arg(format!("127.0.0.1:{http}"))
        .arg("--data")
        .arg(data)
        .args(rtp_ports(port, extra))
        .args(extra)
        .env(
            "HOTLINE_LOG",
            std::env::var("HOTLINE_LOG").unwrap_or_else(|_| "debug".to_owned()),
        )
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn hotline")
}

impl Gateway {
    /// Start `hotline serve --sip 127.0.0.1:PORT --http 127.0.0.1:PORT --data DIR <extra>` and
    /// wait until it answers OPTIONS.
    pub fn start(dir: &TestDir, extra: &[&str]) -> Self {
        let mut last_err = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let http = free_port();
            let data = dir.file("data");
            let log = dir.file(&format!("gateway-{attempt}.log"));
            let child = spawn_hotline(port, http, &data, &log, extra);
            let mut gw = Self {
                child: Mutex::new(child),
                port,
                http,
                data,
                log,
            };
            match gw.wait_ready(Duration::from_secs(15)) {
                Ok(()) => return gw,
                // The port may have been taken between the check and the bind: try another.
                Err(e) => {
                    last_err = format!("attempt {attempt} on port {port}: {e}\n{}", gw.log_tail())
                }
            }
        }
        panic!("hotline did not come up:\n{last_err}");
    }

    /// Start the server again after it stopped or was killed: same ports, same data, output
    /// to `log`. Returns how long it took to answer OPTIONS.
    pub fn restart(&mut self, log: PathBuf, extra: &[&str]) -> Duration {
        let started = Instant::now();
        let child = spawn_hotline(self.port, self.http, &self.data, &log, extra);
        *self.child.get_mut().unwrap_or_else(|e| e.into_inner()) = child;
        self.log = log;
        self.wait_ready(Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("hotline did not come back: {e}\n{}", self.log_tail()));
        started.elapsed()
    }

    /// Send `signal` (e.g. "TERM", "KILL") without waiting.
    pub fn signal(&self, signal: &str) {
        let pid = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .id()
            .to_string();
        let _ = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status();
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut n = 0;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Err(format!("hotline exited: {status}"));
            }
            n += 1;
            let req = options_request(self.port, &format!("ready{n}"));
            let got = raw_exchange(self.port, &req, Duration::from_millis(300));
            if got.iter().any(|r| status_code(r) == Some(200)) {
                return Ok(());
            }
        }
        Err(format!("no 200 to OPTIONS within {within:?}"))
    }

    /// Send SIGTERM and wait up to `within` for the process to exit; its exit status.
    pub fn terminate(&self, within: Duration) -> Option<ExitStatus> {
        let pid = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .id()
            .to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Whether the process is still running.
    pub fn alive(&self) -> bool {
        self.exited().is_none()
    }

    /// How the process ended, if it did.
    pub fn exited(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().ok().flatten()
    }

    /// "running", or how it ended (an unexpected exit or a kill by someone else shows here).
    pub fn state(&self) -> String {
        match self.exited() {
            None => "running".to_owned(),
            Some(status) => format!("NOT RUNNING: {status}"),
        }
    }

    /// The end of the gateway's output, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 6000)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// SIPp

/// One SIPp invocation under construction.
#[derive(Debug)]
pub struct Sipp {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    pub local_port: u16,
    tcp: bool,
}

/// What a finished (or killed) SIPp run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub cmdline: String,
    /// The exit code; None when we killed it at the wall-clock limit (or a signal ended it).
    pub code: Option<i32>,
    pub killed_at_limit: bool,
    /// Why we stopped it, when we did.
    pub stopped_because: &'static str,
    pub elapsed: Duration,
    pub error_file: PathBuf,
    pub stat_file: PathBuf,
    pub screen_file: PathBuf,
    pub message_file: PathBuf,
    pub stdout_file: PathBuf,
}

/// Cumulative call counters from SIPp's statistics file (last row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub successful: u64,
    pub failed: u64,
    pub created: u64,
    /// Calls per second over the whole run, as SIPp measured it.
    pub call_rate: f64,
}

impl Sipp {
    /// A SIPp run named `name` (file prefix in the test dir), bound to its own local port
    /// and control port, with error log, message trace, statistics and screen dumps enabled.
    pub fn new(dir: &TestDir, name: &str) -> Self {
        let local_port = free_port();
        let control_port = free_port();
        let f = |suffix: &str| dir.file(&format!("{name}.{suffix}")).display().to_string();
        let args = vec![
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            local_port.to_string(),
            "-cp".into(),
            control_port.to_string(),
            "-nostdin".into(),
            "-trace_err".into(),
            "-error_file".into(),
            f("errors.log"),
            "-trace_msg".into(),
            "-message_file".into(),
            f("messages.log"),
            "-trace_stat".into(),
            "-stf".into(),
            f("stat.csv"),
            "-fd".into(),
            "1".into(),
            "-trace_screen".into(),
            "-screen_file".into(),
            f("screen.log"),
        ];
        Self {
            name: name.to_owned(),
            dir: dir.path.clone(),
            args,
            local_port,
            tcp: false,
        }
    }

    /// A caller (UAC) towards the gateway with one of our scenarios; `-s service`.
    pub fn caller(
        dir: &TestDir,
        name: &str,
        gw: &Gateway,
        scenario_file: &str,
        service: &str,
    ) -> Self {
        Self::new(dir, name)
            .remote(gw.port)
            .arg("-sf")
            .arg(scenario(scenario_file).display().to_string())
            .arg("-s")
            .arg(service)
    }

    /// A seat (UAS) with one of our scenarios.
    pub fn seat(dir: &TestDir, name: &str, scenario_file: &str) -> Self {
        Self::new(dir, name)
            .arg("-sf")
            .arg(scenario(scenario_file).display().to_string())
    }

    pub fn remote(self, port: u16) -> Self {
        self.arg(format!("127.0.0.1:{port}"))
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, items: I) -> Self {
        self.args.extend(items.into_iter().map(Into::into));
        self
    }

    /// Use this local port (`-p`) instead of the one picked at construction.
    pub fn local_port(mut self, port: u16) -> Self {
        let i = self.args.iter().position(|a| a == "-p").expect("-p") + 1;
        self.args[i] = port.to_string();
        self.local_port = port;
        self
    }

    /// `-t t1`: one TCP connection.
    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self.arg("-t").arg("t1")
    }

    /// `-m calls`.
    pub fn calls(self, n: u32) -> Self {
        self.arg("-m").arg(n.to_string())
    }

    /// SIPp's own global timeout (`-timeout s -timeout_error`): it then exits non-zero.
    pub fn timeout(self, secs: u32) -> Self {
        self.arg("-timeout")
            .arg(format!("{secs}s"))
            .arg("-timeout_error")
    }

    fn files(&self) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
        let f = |suffix: &str| self.dir.join(format!("{}.{suffix}", self.name));
        (
            f("errors.log"),
            f("stat.csv"),
            f("screen.log"),
            f("messages.log"),
            f("stdout.log"),
        )
    }

    fn command(&self) -> (Command, String) {
        let (_, _, _, _, stdout_file) = self.files();
        let out = fs::File::create(&stdout_file).expect("create sipp stdout");
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(sipp_bin());
        cmd.args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let cmdline = format!("{} {}", sipp_bin(), self.args.join(" "));
        (cmd, cmdline)
    }

    /// Run in the foreground; killed if it outlives `limit`.
    pub fn run(self, limit: Duration) -> Outcome {
        self.start(false).wait(limit)
    }

    /// Start in the background (a seat): returns once its port is bound.
    pub fn spawn(self) -> Running {
        self.start(true)
    }

    fn start(self, wait_listening: bool) -> Running {
        let (mut cmd, cmdline) = self.command();
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run `{}` ({e}): is SIPp installed (apt-get install sip-tester)?",
                sipp_bin()
            )
        });
        let started = Instant::now();
        if wait_listening {
            if let Err(e) = wait_bound(self.local_port, self.tcp, &mut child) {
                let _ = child.kill();
                let _ = child.wait();
                let (errors, _, _, _, stdout) = self.files();
                panic!(
                    "sipp {} {e}\n    {cmdline}\n    error log:\n{}\n    output:\n{}",
                    self.name,
                    tail(&errors, 3000),
                    tail(&stdout, 3000)
                );
            }
        }
        Running {
            child: Some(child),
            sipp: self,
            cmdline,
            started,
        }
    }
}

/// A SIPp process running in the background; killed on drop.
#[derive(Debug)]
pub struct Running {
    child: Option<Child>,
    sipp: Sipp,
    cmdline: String,
    started: Instant,
}

impl Running {
    pub fn port(&self) -> u16 {
        self.sipp.local_port
    }

    /// Wait for the exit, killing it once `limit` has passed since it started.
    pub fn wait(self, limit: Duration) -> Outcome {
        self.wait_or_stop(limit, "killed at the test's wall-clock limit")
    }

    fn wait_or_stop(mut self, limit: Duration, stopped_because: &'static str) -> Outcome {
        let mut child = self.child.take().expect("child");
        let deadline = self.started + limit;
        let (status, killed): (Option<ExitStatus>, bool) = loop {
            match child.try_wait() {
                Ok(Some(status)) => break (Some(status), false),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break (None, true);
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for sipp: {e}"),
            }
        };
        let (error_file, stat_file, screen_file, message_file, stdout_file) = self.sipp.files();
        Outcome {
            name: self.sipp.name.clone(),
            cmdline: self.cmdline.clone(),
            code: status.and_then(|s| s.code()),
            killed_at_limit: killed,
            stopped_because,
            elapsed: self.started.elapsed(),
            error_file,
            stat_file,
            screen_file,
            message_file,
            stdout_file,
        }
    }

    /// Give it `grace` to finish on its own, then stop it.
    pub fn finish(self, grace: Duration) -> Outcome {
        let limit = self.started.elapsed() + grace;
        self.wait_or_stop(
            limit,
            "still running when the test was done with it: stopped",
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The last row of the statistics file.
    pub fn stats(&self) -> Option<Stats> {
        let text = fs::read_to_string(&self.stat_file).ok()?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines.next()?.split(';').collect();
        let last: Vec<&str> = lines.next_back()?.split(';').collect();
        let col = |name: &str| -> Option<&str> {
            let i = header.iter().position(|h| h.trim() == name)?;
            Some(last.get(i)?.trim())
        };
        let num = |name: &str| -> Option<u64> { col(name)?.parse().ok() };
        Some(Stats {
            successful: num("SuccessfulCall(C)")?,
            failed: num("FailedCall(C)")?,
            created: num("TotalCallCreated").unwrap_or(0),
            call_rate: col("CallRate(C)")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0),
        })
    }

    /// Everything useful for a failure message.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let code = match (self.code, self.killed_at_limit) {
            (_, true) => self.stopped_because.to_owned(),
            (Some(c), _) => format!("exit code {c}{}", exit_meaning(c)),
            (None, _) => "ended by a signal".to_owned(),
        };
        let _ = writeln!(
            s,
            "--- sipp `{}`: {code} after {:.1?}",
            self.name, self.elapsed
        );
        let _ = writeln!(s, "    {}", self.cmdline);
        if let Some(st) = self.stats() {
            let _ = writeln!(
                s,
                "    calls: {} created, {} successful, {} failed ({:.0} cps)",
                st.created, st.successful, st.failed, st.call_rate
            );
        }
        let _ = writeln!(
            s,
            "    error log ({}):\n{}",
            self.error_file.display(),
            tail(&self.error_file, 4000)
        );
        let errors = fs::read(&self.error_file).unwrap_or_default();
        if errors.is_empty() {
            let _ = writeln!(s, "    output:\n{}", tail(&self.stdout_file, 1500));
        }
        let _ = writeln!(s, "    (messages: {})", self.message_file.display());
        s
    }
}

fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => " (all calls successful)",
        1 => " (at least one call failed)",
        97 => " (exit on internal command)",
        99 => " (normal exit without calls processed)",
        255 => " (fatal error, or SIPp's -timeout reached)",
        254 => " (fatal error binding a socket)",
        _ => "",
    }
}

/// Panic with every SIPp report and the gateway's output unless all runs exited 0 and the
/// gateway is still running.
pub fn expect_all_ok(what: &str, runs: &[&Outcome], gw: &Gateway) {
    if runs.iter().all(|o| o.ok()) && gw.alive() {
        return;
    }
    panic!("{}", failure(what, runs, gw));
}

/// The text of a failure: what was expected, the SIPp reports, the gateway's output.
pub fn failure(what: &str, runs: &[&Outcome], gw: &Gateway) -> String {
    let mut s = format!("FAILED: {what}\n");
    for o in runs {
        s.push_str(&o.report());
    }
    let _ = write!(
        s,
        "--- gateway ({}), output ({}):\n{}",
        gw.state(),
        gw.log.display(),
        gw.log_tail()
    );
    s
}

/// Register `seat` with the gateway, its Contact pointing at `contact_port`
/// (benches/sipp/register.xml), from a port of its own; panics unless SIPp exits 0.
/// The tests register before the seat listens: a call must go to the Contact, not to the
/// REGISTER's source address.
pub fn register_seat(dir: &TestDir, gw: &Gateway, seat: &str, contact_port: u16, tcp: bool) {
    let mut reg = Sipp::new(dir, &format!("register-{seat}"))
        .remote(gw.port)
        .arg("-sf")
        .arg(register_xml().display().to_string())
        .calls(1)
        .args(["-key", "seat", seat])
        .args(["-key", "contact_port"])
        .arg(contact_port.to_string())
        .timeout(10);
    if tcp {
        reg = reg.tcp();
    }
    let out = reg.run(Duration::from_secs(20));
    expect_all_ok(
        &format!("seat {seat} registers (contact port {contact_port})"),
        &[&out],
        gw,
    );
}

/// Read whatever arrives on a socket for `period` (used by silent seats).
pub fn drain_udp(sock: &UdpSocket, period: Duration) -> Vec<String> {
    let deadline = Instant::now() + period;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("udp recv: {e}"),
        }
    }
    got
}

/// Read a file fully (lossy), for assertions on traces.
pub fn read_lossy(path: &Path) -> String {
    let mut v = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_end(&mut v);
    }
    String::from_utf8_lossy(&v).into_owned()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// One HTTP/1.1 request to the gateway's API on loopback; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        },
    )
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The value of one Prometheus sample, e.g.
/// `metric(&text, "hotline_calls_offered_total", &[("line", "12345")])`, summed over every
/// series carrying those labels.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            if n != name {
                return None;
            }
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}
