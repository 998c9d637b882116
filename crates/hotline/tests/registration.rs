//! Seat registration end to end: digest auth against the secrets file (MD5 with a real SIPp
//! phone, SHA-256 computed here over the wire), replay refusal, and the start-up rules for
//! secrets (no secrets → loopback only; a bad secrets file names its file and line).

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};

const SEAT: &str = "1001";
const PASSWORD: &str = "s3cret-1001";

fn secrets(dir: &TestDir) -> String {
    let path = dir.file("secrets.toml");
    std::fs::write(&path, format!("[seats]\n{SEAT} = \"{PASSWORD}\"\n")).expect("write secrets");
    path.display().to_string()
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A quoted parameter of a WWW-Authenticate value.
fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let len = header[start..].find('"')?;
    Some(&header[start..start + len])
}

fn register(gw_port: u16, local: u16, cseq: u32, authorization: Option<&str>) -> String {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\n"));
    format!(
        "REGISTER sip:127.0.0.1:{gw_port} SIP/2.0\n\
         Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-reg-{cseq}\n\
         Max-Forwards: 70\n\
         From: <sip:{SEAT}@127.0.0.1>;tag=regtag\n\
         To: <sip:{SEAT}@127.0.0.1>\n\
         Call-ID: sha256-reg@127.0.0.1\n\
         CSeq: {cseq} REGISTER\n\
         Contact: <sip:{SEAT}@127.0.0.1:{local}>\n\
         Expires: 600\n\
         {auth}Content-Length: 0\n\n"
    )
    .replace('\n', "\r\n")
}

#[test]
fn sha256_digest_registers_and_a_replayed_nc_is_refused() {
    let dir = TestDir::new("sha256_digest");
    let secrets = secrets(&dir);
    let gw = Gateway::start(&dir, &["--secrets", &secrets]);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = sock.local_addr().expect("addr").port();
    let wait = Duration::from_secs(3);

    let first = raw_exchange_on(
        &sock,
        gw.port,
        register(gw.port, local, 1, None).as_bytes(),
        wait,
    );
    let challenge = first
        .iter()
        .find(|m| status_code(m) == Some(401))
        .unwrap_or_else(|| {
            panic!(
                "no 401 for an unauthenticated REGISTER: {first:?}\n{}",
                gw.log_tail()
            )
        });
    let offered = header_values(challenge, "WWW-Authenticate", None);
    assert_eq!(offered.len(), 2, "SHA-256 and MD5 offered: {offered:?}");
    assert!(
        offered[0].contains("algorithm=SHA-256"),
        "SHA-256 first (RFC 8760): {offered:?}"
    );
    assert!(offered[1].contains("algorithm=MD5"));
    let realm = param(offered[0], "realm").expect("realm");
    let nonce = param(offered[0], "nonce").expect("nonce");

    let uri = format!("sip:127.0.0.1:{}", gw.port);
    let ha1 = sha256_hex(&format!("{SEAT}:{realm}:{PASSWORD}"));
    let ha2 = sha256_hex(&format!("REGISTER:{uri}"));
    let authorization = |nc: &str, password_ok: bool| {
        let ha1 = if password_ok {
            ha1.clone()
        } else {
            sha256_hex(&format!("{SEAT}:{realm}:wrong"))
        };
        let response = sha256_hex(&format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
        format!(
            "Digest username=\"{SEAT}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"c0ffee\""
        )
    };

    let send = |cseq: u32, nc: &str, password_ok: bool| {
        let request = register(gw.port, local, cseq, Some(&authorization(nc, password_ok)));
        raw_exchange_on(&sock, gw.port, request.as_bytes(), wait)
    };

    let wrong = send(2, "00000001", false);
    assert_eq!(
        wrong.last().and_then(|m| status_code(m)),
        Some(401),
        "wrong password: {wrong:?}"
    );

    let ok = send(3, "00000002", true);
    let ok = ok.last().expect("an answer");
    assert_eq!(
        status_code(ok),
        Some(200),
        "right SHA-256 response: {ok}\n{}",
        gw.log_tail()
    );
    let contact = header_values(ok, "Contact", Some("m"));
    assert!(
        contact
            .iter()
            .any(|c| c.contains(&format!("127.0.0.1:{local}")) && c.contains("expires=")),
        "the binding is listed with its expiry: {contact:?}"
    );

    // The same nc again is a replay, even with a higher CSeq.
    let replay = send(4, "00000002", true);
    assert_eq!(
        replay.last().and_then(|m| status_code(m)),
        Some(401),
        "replayed nc: {replay:?}"
    );
}

#[test]
fn sipp_phone_registers_with_md5_digest_and_takes_calls() {
    let dir = TestDir::new("md5_digest_sipp");
    let secrets = secrets(&dir);
    // SIPp 3.6 reads only the first challenge and knows only MD5: offer MD5 first.
    let gw = Gateway::start(
        &dir,
        &["--secrets", &secrets, "--digest-algorithms", "md5,sha-256"],
    );

    let refused = Sipp::new(&dir, "register-wrong")
        .remote(gw.port)
        .arg("-sf")
        .arg(register_xml().display().to_string())
        .calls(1)
        .args(["-key", "seat", SEAT, "-key", "contact_port", "5999"])
        .args(["-au", SEAT, "-ap", "not-the-password"])
        .timeout(8)
        .run(Duration::from_secs(15));
    assert!(
        !refused.ok(),
        "a wrong password must not register:\n{}",
        refused.report()
    );

    let seat = Sipp::new(&dir, "seat")
        .args(["-sn", "uas"])
        .calls(20)
        .timeout(60);
    let registered = Sipp::new(&dir, "register")
        .remote(gw.port)
        .arg("-sf")
        .arg(register_xml().display().to_string())
        .calls(1)
        .args(["-key", "seat", SEAT, "-key", "contact_port"])
        .arg(seat.local_port.to_string())
        .args(["-au", SEAT, "-ap", PASSWORD])
        .timeout(8)
        .run(Duration::from_secs(15));
    expect_all_ok("seat registers with MD5 digest", &[&registered], &gw);
    let seat = seat.spawn();
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", SEAT, "-r", "20"])
        .calls(20)
        .timeout(30)
        .run(Duration::from_secs(45));
    let seat = seat.finish(Duration::from_secs(5));
    expect_all_ok("20 calls to the authenticated seat", &[&caller, &seat], &gw);
}

#[test]
fn no_secrets_refuses_a_non_loopback_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["serve", "--sip", "0.0.0.0:0"])
        .output()
        .expect("run hotline");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without a secrets file"),
        "{err}"
    );
    assert!(err.contains("--secrets"), "{err}");
}

#[test]
fn a_bad_secrets_file_names_its_file_line_and_key() {
    let dir = TestDir::new("bad_secrets");
    let path = dir.file("secrets.toml");
    std::fs::write(&path, "[seats]\n1001 = \"x\"\n[seat]\n1002 = \"y\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["serve", "--sip", "127.0.0.1:0", "--secrets"])
        .arg(&path)
        .output()
        .expect("run hotline");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", path.display())), "{err}");
    assert!(err.contains("seat"), "{err}");
}

#[test]
fn banner_says_registration_is_loopback_only_without_secrets() {
    let dir = TestDir::new("banner");
    let gw = Gateway::start(&dir, &[]);
    let log = gw.log_tail();
    assert!(
        log.contains(&format!("SIP        udp+tcp 127.0.0.1:{}", gw.port)),
        "{log}"
    );
    assert!(log.contains("only loopback sources may register"), "{log}");
}
