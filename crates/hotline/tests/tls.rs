//! SIP over TLS end to end through `hotline serve`, with trunks and a carrier written here on
//! tokio-rustls and certificates made at test time with rcgen (SIPp has no TLS here):
//!
//! - a transfer to a `sips:` trunk whose certificate the configured CA signed goes out over
//!   TLS (Via `SIP/2.0/TLS`, a SIPS Contact), is answered, completes, and the BYE crosses the
//!   same connection;
//! - trunks with a certificate from an untrusted CA, or for another name, are refused at the
//!   handshake: the transfer fails as unreachable within seconds, the caller stays with the
//!   seat, the failures are counted and logged; `tls_name` and `tls_verify = false` let such
//!   trunks through;
//! - a carrier calls in over mutual TLS and reaches a seat; one without a client certificate
//!   is refused and counted.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

// ---------------------------------------------------------------------------------------------
// Certificates

/// A certificate authority made for the test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM.
struct Issued {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    /// A certificate for `names` (IP addresses become IP address SANs), for servers and
    /// clients alike.
    fn issue(&self, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "hotline test");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).expect("root");
        roots
    }
}

fn chain_and_key(issued: &Issued) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = CertificateDer::pem_slice_iter(issued.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).expect("key");
    (chain, key)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server (a trunk) presenting `issued`.
fn acceptor(issued: &Issued) -> TlsAcceptor {
    let (chain, key) = chain_and_key(issued);
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS client (a carrier) trusting `ca`, presenting `issued` if given.
fn connector(ca: &Ca, issued: Option<&Issued>) -> TlsConnector {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(ca.roots());
    let config = match issued {
        Some(issued) => {
            let (chain, key) = chain_and_key(issued);
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

fn write(dir: &TestDir, name: &str, text: &str) -> String {
    let path = dir.file(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

// ---------------------------------------------------------------------------------------------
// The plan and the gateway

/// The shipped plan with each `(shipped, replacement)` of `edits` made (each `shipped` text
/// occurs once), RTP silence never hanging up, and `tls` appended (a `[tls]` table).
fn plan(dir: &TestDir, edits: &[(&str, String)], tls: &str) -> String {
    let mut text = include_str!("../../../deploy/zhengzhou.toml").to_owned();
    let quiet = [(
        "no_rtp_timeout = \"60s\"",
        "no_rtp_timeout = \"0s\"".to_owned(),
    )];
    for (shipped, replacement) in edits.iter().chain(&quiet) {
        assert_eq!(text.matches(shipped).count(), 1, "{shipped:?} once");
        text = text.replace(shipped, replacement);
    }
    text.push_str(tls);
    write(dir, "plan.toml", &text)
}

/// Our side: the CA that signs everything trusted, the gateway's certificate for 127.0.0.1,
/// and the `[tls]` table naming them (with `extra` lines).
fn our_tls(dir: &TestDir, ca: &Ca, extra: &str) -> String {
    let ours = ca.issue(&["127.0.0.1"]);
    let cert = write(dir, "hotline.crt", &ours.cert);
    let key = write(dir, "hotline.key", &ours.key);
    let ca_file = write(dir, "ca.pem", &ca.pem());
    format!(
        "\n[tls]\ncertificate = \"{cert}\"\nprivate_key = \"{key}\"\nca_file = \"{ca_file}\"\n{extra}"
    )
}

/// `hotline serve` with `plan`, listening for TLS on a port of its own; that port.
fn start(dir: &TestDir, plan: &str) -> (Gateway, u16) {
    let tls_port = free_port();
    let listen = format!("127.0.0.1:{tls_port}");
    let gw = Gateway::start(dir, &["--config", plan, "--sip-tls", &listen]);
    (gw, tls_port)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------------------------------------
// SIP over a stream

/// SIP messages over one stream (TLS here), framed by Content-Length.
struct SipConn<S> {
    io: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SipConn<S> {
    fn new(io: S) -> Self {
        Self {
            io,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, msg: &str) {
        self.io.write_all(msg.as_bytes()).await.expect("send");
        self.io.flush().await.expect("flush");
    }

    /// The next message, or `None` if the stream ends or nothing comes within `within`.
    async fn recv(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(n) = complete(&self.buf) {
                let msg = String::from_utf8_lossy(&self.buf[..n]).into_owned();
                self.buf.drain(..n);
                return Some(msg);
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await;
            match read {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Messages until one that `want` accepts; panics after `within`.
    async fn until(&mut self, what: &str, within: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Some(msg) if want(&msg) => return msg,
                Some(_) => {}
                None => panic!("no {what} within {within:?}"),
            }
        }
    }
}

/// The length of the first complete message in `buf`, if there is one.
fn complete(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]);
    let length: usize = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            (k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (buf.len() >= head + length).then_some(head + length)
}

/// A response to `request`: its Via, From, To (with `to_tag`), Call-ID and CSeq.
fn response(request: &str, status: &str, to_tag: &str, extra: &str, body: &str) -> String {
    let to = header(request, "To");
    let to = if to.contains("tag=") {
        to.to_owned()
    } else {
        format!("{to};tag={to_tag}")
    };
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         {extra}{content_type}Content-Length: {}\r\n\r\n{body}",
        header(request, "Via"),
        header(request, "From"),
        header(request, "Call-ID"),
        header(request, "CSeq"),
        body.len()
    )
}

fn sdp(rtp_port: u16) -> String {
    format!(
        "v=0\r\no=tls-test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n"
    )
}

fn is_request(method: &str) -> impl Fn(&str) -> bool + '_ {
    move |m: &str| m.starts_with(&format!("{method} "))
}

fn is_response(status: u16, method: &'static str) -> impl Fn(&str) -> bool {
    move |m: &str| status_code(m) == Some(status) && header(m, "CSeq").ends_with(method)
}

// ---------------------------------------------------------------------------------------------
// Trunks

/// What a trunk does with the INVITE it gets.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// 200 with SDP, then wait for the BYE and answer it.
    Talk,
    /// 486 Busy Here (and take the ACK).
    Busy,
}

/// What a trunk saw: the handshake's outcome and the requests that came over it.
#[derive(Debug)]
struct Seen {
    handshake: Result<(), String>,
    requests: Vec<String>,
}

/// A trunk listening on 127.0.0.1 with `issued`: takes one TLS connection and one INVITE.
async fn trunk(listener: TcpListener, acceptor: TlsAcceptor, answer: Answer) -> Seen {
    let (tcp, _) = listener.accept().await.expect("accept");
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            return Seen {
                handshake: Err(e.to_string()),
                requests: Vec::new(),
            }
        }
        Err(_) => {
            return Seen {
                handshake: Err("timed out".into()),
                requests: Vec::new(),
            }
        }
    };
    let media = UdpSocket::bind("127.0.0.1:0").expect("rtp");
    let rtp_port = media.local_addr().expect("addr").port();
    let mut conn = SipConn::new(tls);
    let mut requests = Vec::new();
    let invite = conn
        .until("INVITE", Duration::from_secs(10), is_request("INVITE"))
        .await;
    requests.push(invite.clone());
    let contact = "Contact: <sips:trunk@127.0.0.1>\r\n";
    match answer {
        Answer::Talk => {
            conn.send(&response(&invite, "180 Ringing", "t1", contact, ""))
                .await;
            conn.send(&response(&invite, "200 OK", "t1", contact, &sdp(rtp_port)))
                .await;
            requests.push(
                conn.until("ACK", Duration::from_secs(10), is_request("ACK"))
                    .await,
            );
            let bye = conn
                .until("BYE", Duration::from_secs(30), is_request("BYE"))
                .await;
            conn.send(&response(&bye, "200 OK", "t1", "", "")).await;
            requests.push(bye);
        }
        Answer::Busy => {
            conn.send(&response(&invite, "486 Busy Here", "t1", "", ""))
                .await;
            requests.push(
                conn.until("ACK", Duration::from_secs(10), is_request("ACK"))
                    .await,
            );
        }
    }
    drop(media);
    Seen {
        handshake: Ok(()),
        requests,
    }
}

/// A trunk on a port of its own, running on `rt`: its port and its report.
fn spawn_trunk(
    rt: &tokio::runtime::Runtime,
    issued: &Issued,
    answer: Answer,
) -> (u16, tokio::task::JoinHandle<Seen>) {
    let listener = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind trunk");
    let port = listener.local_addr().expect("addr").port();
    let task = rt.spawn(trunk(listener, acceptor(issued), answer));
    (port, task)
}

fn seen(rt: &tokio::runtime::Runtime, task: tokio::task::JoinHandle<Seen>) -> Seen {
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), task).await })
        .expect("the trunk finishes in time")
        .expect("the trunk task")
}

// ---------------------------------------------------------------------------------------------
// The caller and the seat (UDP)

/// A raw UDP caller talking to seat 1001 (a SIPp UAS that answers and waits for BYE).
struct Caller {
    sip: UdpSocket,
    _media: UdpSocket,
    gw_port: u16,
    tag: &'static str,
    to: String,
}

impl Caller {
    fn call(gw: &Gateway, tag: &'static str) -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("sip");
        let media = UdpSocket::bind("127.0.0.1:0").expect("rtp");
        let rtp = media.local_addr().expect("addr").port();
        let req = invite(&sip, gw.port, rtp, "12345", tag);
        sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port))
            .expect("send");
        let ok = until_reply(&sip, 200, "INVITE", Duration::from_secs(10));
        let to = header(&ok, "To").to_owned();
        let local = sip.local_addr().expect("addr").port();
        let ack = format!(
            "ACK sip:12345@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{tag}-ack\r\n\
             From: <sip:raw@127.0.0.1:{local}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {tag}@raw\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = gw.port
        );
        sip.send_to(ack.as_bytes(), ("127.0.0.1", gw.port))
            .expect("send");
        Self {
            sip,
            _media: media,
            gw_port: gw.port,
            tag,
            to,
        }
    }

    fn hang_up(self) {
        let local = self.sip.local_addr().expect("addr").port();
        let bye = format!(
            "BYE sip:12345@127.0.0.1:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{tag}-bye\r\n\
             From: <sip:raw@127.0.0.1:{local}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {tag}@raw\r\n\
             CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = self.gw_port,
            tag = self.tag,
            to = self.to
        );
        self.sip
            .send_to(bye.as_bytes(), ("127.0.0.1", self.gw_port))
            .expect("send");
        until_reply(&self.sip, 200, "BYE", Duration::from_secs(5));
    }
}

/// Seat 1001: a SIPp UAS that answers one call and waits for its BYE, registered and ready.
fn seat(dir: &TestDir, gw: &Gateway) -> Running {
    let seat = Sipp::seat(dir, "seat", "uas_echo.xml").calls(1).timeout(90);
    register_seat(dir, gw, "1001", seat.local_port, false);
    ready(gw, "1001");
    seat.spawn()
}

/// The API's id of the one call in progress, and its seat.
fn the_call(gw: &Gateway) -> (u64, String) {
    let (status, body) = http(gw.http, "GET", "/api/v1/calls", None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let call = &v["calls"][0];
    let id = call["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("a call: {body}"));
    (id, call["seat"].as_str().unwrap_or_default().to_owned())
}

fn transfer(gw: &Gateway, call: u64, target: &str) {
    let body = format!(r#"{{"target":"{target}","mode":"three_way"}}"#);
    let (status, body) = http(
        gw.http,
        "POST",
        &format!("/api/v1/calls/{call}/transfer"),
        Some(&body),
    );
    assert_eq!(status, 200, "transfer to {target}: {body}");
}

fn transfers(gw: &Gateway, target: &str, outcome: &str) -> f64 {
    metric(
        &metrics(gw),
        "hotline_transfers_total",
        &[("target", target), ("outcome", outcome)],
    )
}

fn handshake_failures(gw: &Gateway, direction: &str) -> f64 {
    metric(
        &metrics(gw),
        "hotline_sip_tls_handshake_failures_total",
        &[("direction", direction)],
    )
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn a_transfer_to_a_sips_trunk_goes_over_verified_tls_and_completes() {
    let dir = TestDir::new("tls_transfer");
    let rt = runtime();
    let ca = Ca::new("hotline test CA");
    let (trunk_port, trunk) = spawn_trunk(&rt, &ca.issue(&["127.0.0.1"]), Answer::Talk);
    let plan = plan(
        &dir,
        &[(
            "uri = \"sip:12333@127.0.0.1:5071\"",
            format!("uri = \"sips:12333@127.0.0.1:{trunk_port}\""),
        )],
        &our_tls(&dir, &ca, ""),
    );
    let (gw, tls_port) = start(&dir, &plan);
    let seat = seat(&dir, &gw);
    let caller = Caller::call(&gw, "tls-a");
    let (id, on) = the_call(&gw);
    assert_eq!(on, "1001");

    transfer(&gw, id, "renshe");
    // The seat leaves once the trunk has answered (409 until then).
    eventually(Duration::from_secs(10), "the trunk answers", || {
        let (status, body) = http(
            gw.http,
            "POST",
            &format!("/api/v1/calls/{id}/transfer/complete"),
            None,
        );
        status == 200 && body.contains(r#""state":"completed""#)
    });
    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat is hung up", &[&seat], &gw)
    );
    caller.hang_up();

    let seen = seen(&rt, trunk);
    assert_eq!(seen.handshake, Ok(()), "{}", gw.log_tail());
    let methods: Vec<&str> = seen
        .requests
        .iter()
        .map(|r| r.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        methods,
        ["INVITE", "ACK", "BYE"],
        "over the one TLS connection"
    );
    let invite = &seen.requests[0];
    assert!(
        invite.starts_with(&format!(
            "INVITE sips:12333@127.0.0.1:{trunk_port} SIP/2.0\r\n"
        )),
        "{invite}"
    );
    assert!(
        header(invite, "Via").starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{tls_port};")),
        "{invite}"
    );
    assert_eq!(
        header(invite, "Contact"),
        format!("<sips:127.0.0.1:{tls_port}>"),
        "a SIPS Contact at the TLS listener"
    );
    assert!(
        header(&seen.requests[2], "Via").starts_with("SIP/2.0/TLS "),
        "{}",
        seen.requests[2]
    );
    eventually(Duration::from_secs(5), "completed counted", || {
        transfers(&gw, "renshe", "completed") == 1.0
    });
    assert_eq!(handshake_failures(&gw, "out"), 0.0);
}

#[test]
fn untrusted_or_wrong_name_trunks_are_refused_at_the_handshake_and_the_caller_stays() {
    let dir = TestDir::new("tls_refused");
    let rt = runtime();
    let ca = Ca::new("hotline test CA");
    let stranger = Ca::new("someone else's CA");
    let (untrusted, untrusted_seen) =
        spawn_trunk(&rt, &stranger.issue(&["127.0.0.1"]), Answer::Busy);
    let (wrong_name, wrong_name_seen) =
        spawn_trunk(&rt, &ca.issue(&["trunk.example.org"]), Answer::Busy);
    // The same certificates pass where the plan says so: a name to check instead of the IP,
    // or no verification at all.
    let (named, named_seen) = spawn_trunk(&rt, &ca.issue(&["trunk.example.org"]), Answer::Busy);
    let (unverified, unverified_seen) =
        spawn_trunk(&rt, &stranger.issue(&["127.0.0.1"]), Answer::Busy);
    let plan = plan(
        &dir,
        &[
            (
                "uri = \"sip:12329@127.0.0.1:5072\"",
                format!("uri = \"sips:12329@127.0.0.1:{untrusted}\""),
            ),
            (
                "uri = \"sip:12320@127.0.0.1:5073\"",
                format!("uri = \"sip:12320@127.0.0.1:{wrong_name};transport=tls\""),
            ),
            (
                "uri = \"sip:12315@127.0.0.1:5074\"",
                format!("uri = \"sips:12315@127.0.0.1:{named}\"\ntls_name = \"trunk.example.org\""),
            ),
            (
                "uri = \"sip:12319@127.0.0.1:5075\"",
                format!("uri = \"sips:12319@127.0.0.1:{unverified}\"\ntls_verify = false"),
            ),
        ],
        &our_tls(&dir, &ca, ""),
    );
    let (gw, _) = start(&dir, &plan);
    let seat = seat(&dir, &gw);
    let caller = Caller::call(&gw, "tls-b");
    let (id, _) = the_call(&gw);

    for (target, n) in [("gongjijin", 1.0), ("weisheng", 2.0)] {
        let started = Instant::now();
        transfer(&gw, id, target);
        eventually(Duration::from_secs(10), "unreachable counted", || {
            transfers(&gw, target, "unreachable") == 1.0
        });
        // Connect + handshake, not the 30 s ring timeout or Timer B's 32 s.
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{target} failed after {:?}",
            started.elapsed()
        );
        assert_eq!(handshake_failures(&gw, "out"), n);
        let (call, on) = the_call(&gw);
        assert_eq!(
            (call, on.as_str()),
            (id, "1001"),
            "the caller stays with the seat"
        );
    }
    for (target, task) in [("gongjijin", untrusted_seen), ("weisheng", wrong_name_seen)] {
        let seen = seen(&rt, task);
        assert!(seen.handshake.is_err(), "{target}: {seen:?}");
        assert!(seen.requests.is_empty(), "{target}: nothing crossed");
    }
    let log = read_lossy(&gw.log);
    assert!(
        log.contains("TLS handshake with a peer we dialled failed"),
        "logged: {}",
        gw.log_tail()
    );
    assert!(log.contains("UnknownIssuer"), "the reason is logged");
    assert!(log.contains("not valid for name"), "the reason is logged");

    for target in ["shichang", "chengguan"] {
        transfer(&gw, id, target);
        eventually(Duration::from_secs(10), "busy counted", || {
            transfers(&gw, target, "busy") == 1.0
        });
    }
    for (target, task) in [("shichang", named_seen), ("chengguan", unverified_seen)] {
        let seen = seen(&rt, task);
        assert_eq!(seen.handshake, Ok(()), "{target}");
        assert_eq!(seen.requests.len(), 2, "{target}: INVITE and ACK");
    }
    assert_eq!(handshake_failures(&gw, "out"), 2.0);

    caller.hang_up();
    let seat = seat.finish(Duration::from_secs(10));
    assert!(seat.ok(), "{}", failure("the seat", &[&seat], &gw));
}

#[test]
fn a_carrier_calls_in_over_mutual_tls_and_reaches_a_seat() {
    let dir = TestDir::new("tls_inbound");
    let rt = runtime();
    let ca = Ca::new("hotline test CA");
    let ca_file = write(&dir, "carriers-ca.pem", &ca.pem());
    let plan = plan(
        &dir,
        &[],
        &our_tls(&dir, &ca, &format!("client_ca_file = \"{ca_file}\"\n")),
    );
    let (gw, tls_port) = start(&dir, &plan);
    let seat = seat(&dir, &gw);
    let carrier = ca.issue(&["127.0.0.1"]);

    rt.block_on(async {
        let tcp = TcpStream::connect(("127.0.0.1", tls_port))
            .await
            .expect("connect");
        let local = tcp.local_addr().expect("addr").port();
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let tls = connector(&ca, Some(&carrier))
            .connect(name, tcp)
            .await
            .expect("the gateway's certificate verifies and ours is taken");
        let mut conn = SipConn::new(tls);
        let media = UdpSocket::bind("127.0.0.1:0").expect("rtp");
        let body = sdp(media.local_addr().expect("addr").port());
        let invite = format!(
            "INVITE sips:12345@127.0.0.1:{tls_port} SIP/2.0\r\n\
             Via: SIP/2.0/TLS 127.0.0.1:{local};branch=z9hG4bK-tls-c\r\n\
             From: <sip:13800000000@127.0.0.1>;tag=carrier\r\nTo: <sip:12345@127.0.0.1>\r\n\
             Call-ID: tls-c@carrier\r\nCSeq: 1 INVITE\r\n\
             Contact: <sips:carrier@127.0.0.1:{local}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.send(&invite).await;
        let ok = conn
            .until(
                "200 to the INVITE",
                Duration::from_secs(15),
                is_response(200, "INVITE"),
            )
            .await;
        let contact = header(&ok, "Contact");
        assert!(
            contact.contains(&format!("127.0.0.1:{tls_port}")) && contact.contains("transport=tls"),
            "our Contact names the TLS listener: {ok}"
        );
        let to = header(&ok, "To").to_owned();
        let in_dialog = |method: &str, cseq: u32, branch: &str| {
            format!(
                "{method} sips:12345@127.0.0.1:{tls_port} SIP/2.0\r\n\
                 Via: SIP/2.0/TLS 127.0.0.1:{local};branch=z9hG4bK-{branch}\r\n\
                 From: <sip:13800000000@127.0.0.1>;tag=carrier\r\nTo: {to}\r\n\
                 Call-ID: tls-c@carrier\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        };
        conn.send(&in_dialog("ACK", 1, "tls-c-ack")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.send(&in_dialog("BYE", 2, "tls-c-bye")).await;
        conn.until(
            "200 to the BYE",
            Duration::from_secs(5),
            is_response(200, "BYE"),
        )
        .await;
    });
    let seat = seat.finish(Duration::from_secs(10));
    assert!(
        seat.ok(),
        "{}",
        failure("the seat takes the call", &[&seat], &gw)
    );

    // A carrier without a certificate is refused (mutual TLS) and counted.
    rt.block_on(async {
        let tcp = TcpStream::connect(("127.0.0.1", tls_port))
            .await
            .expect("connect");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        // TLS 1.3: the client may think it is done before the server has checked it; the
        // refusal then shows on the first read.
        if let Ok(tls) = connector(&ca, None).connect(name, tcp).await {
            let mut conn = SipConn::new(tls);
            let options = options_request(tls_port, "tls-anon");
            let _ = conn.io.write_all(options.as_bytes()).await;
            assert_eq!(conn.recv(Duration::from_secs(3)).await, None, "no answer");
        }
    });
    eventually(Duration::from_secs(5), "the refusal counted", || {
        handshake_failures(&gw, "in") == 1.0
    });
}

#[test]
fn tls_settings_that_cannot_work_are_refused_naming_the_key_and_the_file() {
    let dir = TestDir::new("tls_config");
    let ca = Ca::new("hotline test CA");
    let ours = ca.issue(&["127.0.0.1"]);
    let other = ca.issue(&["127.0.0.1"]);
    let cert = write(&dir, "ours.crt", &ours.cert);
    let wrong_key = write(&dir, "other.key", &other.key);
    let not_pem = write(&dir, "notes.txt", "not a certificate\n");
    let missing = dir.file("missing.pem").display().to_string();
    let sips = (
        "uri = \"sip:12333@127.0.0.1:5071\"",
        "uri = \"sips:12333@127.0.0.1\"".to_owned(),
    );
    let refused = |edits: &[(&str, String)], tls: &str| -> String {
        let path = plan(&dir, edits, tls);
        let e = hotline::config::load(std::path::Path::new(&path)).expect_err("refused");
        e.to_string()
    };

    let e = refused(
        std::slice::from_ref(&sips),
        &format!("\n[tls]\ncertificate = \"{missing}\"\nprivate_key = \"{wrong_key}\"\n"),
    );
    assert!(
        e.contains("key `tls.certificate`: cannot read ") && e.contains("missing.pem"),
        "{e}"
    );
    let e = refused(&[], &format!("\n[tls]\nca_file = \"{not_pem}\"\n"));
    assert!(
        e.contains("key `tls.ca_file`: ") && e.contains("notes.txt: no certificate"),
        "{e}"
    );
    let e = refused(
        &[],
        &format!("\n[tls]\ncertificate = \"{cert}\"\nprivate_key = \"{wrong_key}\"\n"),
    );
    assert!(
        e.contains("key `tls.private_key`: ") && e.contains("does not fit the certificate"),
        "{e}"
    );
    assert!(e.contains("other.key") && e.contains("ours.crt"), "{e}");
    let e = refused(&[], &format!("\n[tls]\nclient_ca_file = \"{cert}\"\n"));
    assert!(
        e.contains("key `tls.client_ca_file`: asking carriers"),
        "{e}"
    );
    // Each error has its line: FILE:LINE: key ...
    assert!(
        e.contains("plan.toml:") && !e.contains("plan.toml: key"),
        "{e}"
    );
    let e = refused(
        &[(
            "uri = \"sip:12333@127.0.0.1:5071\"",
            "uri = \"sip:12333@127.0.0.1:5071\"\ntls_verify = false".to_owned(),
        )],
        "",
    );
    assert!(
        e.contains("key `targets.renshe.tls_verify`: only a target dialled over TLS"),
        "{e}"
    );

    // A sips: target on its default port, verified by default.
    let path = plan(&dir, &[sips], "");
    let plan = hotline::config::load(std::path::Path::new(&path)).expect("plan");
    let renshe = plan.target("renshe").expect("renshe");
    assert_eq!(
        renshe.trunk_addr,
        Some("127.0.0.1:5061".parse().expect("addr"))
    );
    assert!(renshe
        .tls
        .as_ref()
        .is_some_and(|t| t.verify && t.name.is_none()));

    // serve: a TLS target needs the TLS listener, which needs our certificate.
    let serve = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["serve", "--config", &path, "--data"])
            .arg(dir.file("data"))
            .args(extra)
            .output()
            .expect("run hotline");
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = serve(&[]);
    assert!(
        e.contains("targets renshe are dialled over TLS: pass --sip-tls"),
        "{e}"
    );
    let e = serve(&["--sip-tls", "127.0.0.1:0"]);
    assert!(
        e.contains("--sip-tls 127.0.0.1:0 needs a certificate"),
        "{e}"
    );
}
