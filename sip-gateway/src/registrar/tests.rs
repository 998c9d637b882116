//! Registrar tests on a fake clock: a start `Instant` plus `Duration`s.

// Tests start their fake clock from the real one, once.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use md5::Md5;
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

use super::*;

const DOMAIN: &str = "hotline.test";
const SECRET: [u8; 32] = [42; 32];

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn peer(addr: &str) -> Peer {
    Peer::udp(addr.parse::<SocketAddr>().unwrap())
}

fn phone() -> Peer {
    peer("192.0.2.10:5062")
}

fn loopback() -> Peer {
    peer("127.0.0.1:5062")
}

fn credentials() -> Credentials {
    [("1001", "s3cret-1001"), ("1002", "pw-1002")]
        .into_iter()
        .collect()
}

fn registrar(credentials: Option<Credentials>) -> (Registrar, Instant) {
    let t0 = Instant::now();
    (
        Registrar::new(RegistrarConfig::new(DOMAIN), credentials, SECRET, t0),
        t0,
    )
}

/// A REGISTER under construction.
#[derive(Clone)]
struct Reg {
    seat: String,
    contacts: Vec<String>,
    expires: Option<String>,
    authorization: Vec<String>,
    call_id: String,
    cseq: u32,
}

impl Reg {
    fn new(seat: &str) -> Self {
        Self {
            seat: seat.to_string(),
            contacts: vec![format!("<sip:{seat}@192.0.2.10:5062>")],
            expires: None,
            authorization: Vec::new(),
            call_id: format!("reg-{seat}"),
            cseq: 1,
        }
    }
    fn contacts(mut self, contacts: &[&str]) -> Self {
        self.contacts = contacts.iter().map(|c| c.to_string()).collect();
        self
    }
    fn expires(mut self, expires: &str) -> Self {
        self.expires = Some(expires.to_string());
        self
    }
    fn auth(mut self, value: String) -> Self {
        self.authorization = vec![value];
        self
    }
    fn cseq(mut self, cseq: u32) -> Self {
        self.cseq = cseq;
        self
    }
    fn call_id(mut self, call_id: &str) -> Self {
        self.call_id = call_id.to_string();
        self
    }
    fn request(&self) -> Request {
        let mut text = format!(
            "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-{}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{seat}@{DOMAIN}>;tag=f{seat}\r\n\
             To: <sip:{seat}@{DOMAIN}>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n",
            self.cseq,
            self.call_id,
            self.cseq,
            seat = self.seat,
        );
        for c in &self.contacts {
            text.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = &self.expires {
            text.push_str(&format!("Expires: {e}\r\n"));
        }
        for a in &self.authorization {
            text.push_str(&format!("Authorization: {a}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Request::try_from(text.as_bytes()).unwrap()
    }
    fn send(&self, registrar: &mut Registrar, now: Instant, source: Peer) -> RegisterOutcome {
        registrar.handle_register(now, source, &self.request(), &self.call_id, self.cseq)
    }
}

/// H() computed independently of the code under test.
fn h(algorithm: &str, data: &str) -> String {
    match algorithm {
        "MD5" => hex::encode(Md5::digest(data.as_bytes())),
        "SHA-256" => hex::encode(Sha256::digest(data.as_bytes())),
        other => panic!("{other}"),
    }
}

/// The parameter `name` of a challenge line (quoted or not).
fn param(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => quoted[..quoted.find('"').unwrap()].to_string(),
        None => rest.split(',').next().unwrap().trim().to_string(),
    })
}

fn challenge(outcome: &RegisterOutcome) -> &[String] {
    match outcome {
        RegisterOutcome::Challenge { headers } => headers,
        other => panic!("expected a 401 challenge, got {other:?}"),
    }
}

/// What a phone answers to `outcome` (a 401) with `algorithm`, RFC 7616 §3.4.1.
fn answer(
    outcome: &RegisterOutcome,
    algorithm: &str,
    user: &str,
    password: &str,
    nc: u32,
) -> String {
    let line = challenge(outcome)
        .iter()
        .find(|l| {
            l.ends_with(&format!("algorithm={algorithm}"))
                || l.contains(&format!("algorithm={algorithm},"))
        })
        .unwrap();
    let realm = param(line, "realm").unwrap();
    let nonce = param(line, "nonce").unwrap();
    answer_nonce(&realm, &nonce, algorithm, user, password, nc)
}

fn answer_nonce(
    realm: &str,
    nonce: &str,
    algorithm: &str,
    user: &str,
    password: &str,
    nc: u32,
) -> String {
    let uri = format!("sip:{DOMAIN}");
    let cnonce = "0a4f113b";
    let ha1 = h(algorithm, &format!("{user}:{realm}:{password}"));
    let ha2 = h(algorithm, &format!("REGISTER:{uri}"));
    let response = h(
        algorithm,
        &format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"),
    );
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={algorithm}, qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\""
    )
}

fn ok(outcome: RegisterOutcome) -> (String, Vec<String>, BindingChange) {
    match outcome {
        RegisterOutcome::Ok {
            seat,
            contact_headers,
            changed,
        } => (seat, contact_headers, changed),
        other => panic!("expected 200, got {other:?}"),
    }
}

fn rejected(outcome: &RegisterOutcome) -> (u16, &'static str, &[String]) {
    match outcome {
        RegisterOutcome::Reject {
            status,
            reason,
            headers,
        } => (*status, *reason, headers),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn is_stale(outcome: &RegisterOutcome) -> bool {
    let lines = challenge(outcome);
    let stale = lines.iter().filter(|l| l.ends_with(", stale=true")).count();
    assert!(stale == 0 || stale == lines.len());
    stale > 0
}

fn register_with(algorithm: &str) {
    let (mut reg, t0) = registrar(Some(credentials()));
    assert!(reg.requires_auth());
    let first = Reg::new("1001").send(&mut reg, t0, phone());
    let lines = challenge(&first);
    assert!(lines[0].ends_with("algorithm=SHA-256") && lines[1].ends_with("algorithm=MD5"));
    assert_eq!(param(&lines[0], "realm").as_deref(), Some(DOMAIN));
    assert_eq!(param(&lines[0], "qop").as_deref(), Some("auth"));
    assert!(!is_stale(&first));
    let authz = answer(&first, algorithm, "1001", "s3cret-1001", 1);
    let now = t0 + secs(1);
    let outcome = Reg::new("1001")
        .cseq(2)
        .auth(authz)
        .send(&mut reg, now, phone());
    let (seat, contacts, changed) = ok(outcome);
    assert_eq!(seat, "1001");
    assert_eq!(
        contacts,
        ["Contact: <sip:1001@192.0.2.10:5062>;expires=3600"]
    );
    assert_eq!(changed, BindingChange::Added);
    let b = reg.lookup(now, "1001").unwrap();
    assert_eq!(
        (b.peer, b.contact.as_str(), b.cseq),
        (phone(), "sip:1001@192.0.2.10:5062", 2)
    );
    assert_eq!(b.expires_at, now + secs(3600));
    assert_eq!(reg.seats_registered(), 1);
}

#[test]
fn registrar_md5_register_is_challenged_then_accepted() {
    register_with("MD5");
}

#[test]
fn registrar_sha256_register_is_challenged_then_accepted() {
    register_with("SHA-256");
}

#[test]
fn registrar_wrong_password_gets_a_fresh_challenge() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let first = Reg::new("1001").send(&mut reg, t0, phone());
    let authz = answer(&first, "MD5", "1001", "guess", 1);
    let second = Reg::new("1001")
        .cseq(2)
        .auth(authz)
        .send(&mut reg, t0, phone());
    assert!(!is_stale(&second));
    assert_ne!(
        param(&challenge(&first)[0], "nonce"),
        param(&challenge(&second)[0], "nonce")
    );
    assert!(reg.lookup(t0, "1001").is_none());
}

/// Decision: an unknown seat gets the same 401 as a wrong password, never 404, so seat ids
/// cannot be enumerated.
#[test]
fn registrar_unknown_seat_gets_401_like_a_wrong_password() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let first = Reg::new("9999").send(&mut reg, t0, phone());
    let authz = answer(&first, "SHA-256", "9999", "anything", 1);
    let second = Reg::new("9999")
        .cseq(2)
        .auth(authz)
        .send(&mut reg, t0, phone());
    assert!(!is_stale(&second));
    assert_eq!(reg.seats_registered(), 0);
}

#[test]
fn registrar_replayed_nc_gets_401_and_a_higher_nc_passes() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let first = Reg::new("1001").send(&mut reg, t0, phone());
    let nc1 = answer(&first, "MD5", "1001", "s3cret-1001", 1);
    ok(Reg::new("1001")
        .cseq(2)
        .auth(nc1.clone())
        .send(&mut reg, t0, phone()));
    let replay = Reg::new("1001")
        .cseq(3)
        .auth(nc1)
        .send(&mut reg, t0 + secs(1), phone());
    assert!(!is_stale(&replay));
    let nc2 = answer(&first, "MD5", "1001", "s3cret-1001", 2);
    let (_, _, changed) =
        ok(Reg::new("1001")
            .cseq(4)
            .auth(nc2)
            .send(&mut reg, t0 + secs(2), phone()));
    assert_eq!(changed, BindingChange::Refreshed);
}

#[test]
fn registrar_stale_nonce_after_ttl_gets_401_with_stale() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let first = Reg::new("1001").send(&mut reg, t0, phone());
    let authz = answer(&first, "SHA-256", "1001", "s3cret-1001", 1);
    let late = t0 + reg.config().nonce_ttl + secs(1);
    let second = Reg::new("1001")
        .cseq(2)
        .auth(authz)
        .send(&mut reg, late, phone());
    assert!(is_stale(&second));
    // The phone retries with the new nonce and gets in.
    let authz = answer(&second, "SHA-256", "1001", "s3cret-1001", 1);
    ok(Reg::new("1001")
        .cseq(3)
        .auth(authz)
        .send(&mut reg, late, phone()));
}

#[test]
fn registrar_forged_nonce_gets_401_without_stale() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let first = Reg::new("1001").send(&mut reg, t0, phone());
    let mut nonce = param(&challenge(&first)[1], "nonce").unwrap();
    // Claim a later issue time: the MAC no longer matches.
    nonce.replace_range(0..2, if nonce.starts_with("ff") { "00" } else { "ff" });
    let authz = answer_nonce(DOMAIN, &nonce, "MD5", "1001", "s3cret-1001", 1);
    let second = Reg::new("1001")
        .cseq(2)
        .auth(authz)
        .send(&mut reg, t0, phone());
    assert!(!is_stale(&second));
    let made_up = answer_nonce(DOMAIN, "abc", "MD5", "1001", "s3cret-1001", 1);
    let third = Reg::new("1001")
        .cseq(3)
        .auth(made_up)
        .send(&mut reg, t0, phone());
    assert!(!is_stale(&third));
}

#[test]
fn registrar_authenticated_user_must_be_the_to_user() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let first = Reg::new("1001").send(&mut reg, t0, phone());
    let as_1002 = answer(&first, "MD5", "1002", "pw-1002", 1);
    let outcome = Reg::new("1001")
        .cseq(2)
        .auth(as_1002)
        .send(&mut reg, t0, phone());
    assert_eq!(rejected(&outcome).0, 403);
}

#[test]
fn registrar_broken_digest_gets_400_other_schemes_get_401() {
    let (mut reg, t0) = registrar(Some(credentials()));
    let broken = Reg::new("1001").auth("Digest username=\"1001\", realm=".into());
    let outcome = broken.send(&mut reg, t0, phone());
    let (status, reason, headers) = rejected(&outcome);
    assert_eq!((status, reason), (400, "Bad Request"));
    assert!(
        headers[0].starts_with("Warning: 399 hotline.test \""),
        "{headers:?}"
    );
    for value in [
        "Basic MTAwMTpzM2NyZXQ=",
        "Digest username=\"1001\", realm=\"hotline.test\", nonce=\"n\", uri=\"sip:x\", response=\"0\", algorithm=MD5-sess",
        "Digest username=\"1001\", realm=\"elsewhere\", nonce=\"n\", uri=\"sip:x\", response=\"0\"",
    ] {
        let outcome = Reg::new("1001").auth(value.into()).send(&mut reg, t0, phone());
        challenge(&outcome);
    }
}

#[test]
fn registrar_without_credentials_only_loopback_registers() {
    let (mut reg, t0) = registrar(None);
    assert!(!reg.requires_auth());
    let (seat, contacts, _) = ok(Reg::new("1001").send(&mut reg, t0, loopback()));
    assert_eq!((seat.as_str(), contacts.len()), ("1001", 1));
    ok(Reg::new("1002").send(&mut reg, t0, Peer::tcp("[::1]:5070".parse().unwrap())));
    let outcome = Reg::new("1003").send(&mut reg, t0, phone());
    assert_eq!(rejected(&outcome).0, 403);
    assert_eq!(reg.seats_registered(), 2);
}

#[test]
fn registrar_to_without_user_gets_404() {
    let (mut reg, t0) = registrar(None);
    let mut r = Reg::new("1001").request();
    for h in r.headers.iter_mut() {
        if let Header::To(to) = h {
            *to = format!("<sip:{DOMAIN}>").into();
        }
    }
    let outcome = reg.handle_register(t0, loopback(), &r, "c", 1);
    assert_eq!(rejected(&outcome), (404, "Not Found", &[][..]));
}

#[test]
fn registrar_bindings_vanish_at_expires_at() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001")
        .expires("60")
        .send(&mut reg, t0, loopback()));
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(60)));
    assert!(reg
        .lookup(t0 + secs(60) - Duration::from_millis(1), "1001")
        .is_some());
    assert!(reg.lookup(t0 + secs(60), "1001").is_none());
    assert!(reg.expire(t0 + secs(59)).is_empty());
    assert_eq!(reg.expire(t0 + secs(60)), ["1001"]);
    assert_eq!(reg.seats_registered(), 0);
    assert_eq!(reg.poll_timeout(), None);
}

#[test]
fn registrar_refresh_moves_the_expiry() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001")
        .expires("120")
        .send(&mut reg, t0, loopback()));
    let (_, contacts, changed) =
        ok(Reg::new("1001")
            .expires("120")
            .cseq(2)
            .send(&mut reg, t0 + secs(100), loopback()));
    assert_eq!(changed, BindingChange::Refreshed);
    assert_eq!(
        contacts,
        ["Contact: <sip:1001@192.0.2.10:5062>;expires=120"]
    );
    assert_eq!(reg.bindings("1001").len(), 1);
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(220)));
    assert!(reg.expire(t0 + secs(120)).is_empty());
    assert!(reg.lookup(t0 + secs(200), "1001").is_some());
    assert_eq!(reg.expire(t0 + secs(220)), ["1001"]);
}

#[test]
fn registrar_refresh_from_a_new_flow_moves_the_binding_there() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001").send(&mut reg, t0, loopback()));
    let moved = peer("127.0.0.1:40000");
    ok(Reg::new("1001").cseq(2).send(&mut reg, t0 + secs(1), moved));
    assert_eq!(reg.lookup(t0 + secs(1), "1001").unwrap().peer, moved);
}

#[test]
fn registrar_expires_zero_removes() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001").send(&mut reg, t0, loopback()));
    let (_, contacts, changed) =
        ok(Reg::new("1001")
            .expires("0")
            .cseq(2)
            .send(&mut reg, t0, loopback()));
    assert_eq!((contacts.len(), changed), (0, BindingChange::Removed));
    assert_eq!((reg.seats_registered(), reg.poll_timeout()), (0, None));
    // The same through the contact parameter, which beats the header.
    ok(Reg::new("1001").cseq(3).send(&mut reg, t0, loopback()));
    let r = Reg::new("1001")
        .contacts(&["<sip:1001@192.0.2.10:5062>;expires=0"])
        .expires("3600")
        .cseq(4);
    let (_, contacts, changed) = ok(r.send(&mut reg, t0, loopback()));
    assert_eq!((contacts.len(), changed), (0, BindingChange::Removed));
    // Removing what is not bound changes nothing.
    let (_, _, changed) = ok(Reg::new("1001")
        .expires("0")
        .cseq(5)
        .send(&mut reg, t0, loopback()));
    assert_eq!(changed, BindingChange::Unchanged);
}

#[test]
fn registrar_wildcard_removes_all_bindings() {
    let (mut reg, t0) = registrar(None);
    let two =
        Reg::new("1001").contacts(&["<sip:1001@192.0.2.10:5062>", "<sip:1001@192.0.2.11:5062>"]);
    let (_, contacts, _) = ok(two.send(&mut reg, t0, loopback()));
    assert_eq!(contacts.len(), 2);
    let star = Reg::new("1001").contacts(&["*"]).cseq(2);
    assert_eq!(rejected(&star.send(&mut reg, t0, loopback())).0, 400);
    assert_eq!(
        rejected(&star.clone().expires("60").send(&mut reg, t0, loopback())).0,
        400
    );
    let mixed = Reg::new("1001")
        .contacts(&["*", "<sip:1001@h>"])
        .expires("0")
        .cseq(2);
    assert_eq!(rejected(&mixed.send(&mut reg, t0, loopback())).0, 400);
    let (_, contacts, changed) = ok(star.expires("0").send(&mut reg, t0, loopback()));
    assert_eq!((contacts.len(), changed), (0, BindingChange::Removed));
    assert_eq!((reg.seats_registered(), reg.poll_timeout()), (0, None));
}

#[test]
fn registrar_too_brief_gets_423_and_changes_nothing() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001")
        .expires("600")
        .send(&mut reg, t0, loopback()));
    let brief = Reg::new("1001")
        .contacts(&[
            "<sip:1001@192.0.2.10:5062>",
            "<sip:1001@192.0.2.99>;expires=30",
        ])
        .expires("120")
        .cseq(2);
    let outcome = brief.send(&mut reg, t0, loopback());
    assert_eq!(
        rejected(&outcome),
        (
            423,
            "Interval Too Brief",
            &["Min-Expires: 60".to_string()][..]
        )
    );
    assert_eq!(reg.bindings("1001").len(), 1);
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(600)));
}

#[test]
fn registrar_expires_is_clamped_to_max_and_defaults() {
    let (mut reg, t0) = registrar(None);
    let (_, contacts, _) = ok(Reg::new("1001")
        .expires("86400")
        .send(&mut reg, t0, loopback()));
    assert_eq!(
        contacts,
        ["Contact: <sip:1001@192.0.2.10:5062>;expires=3600"]
    );
    let huge = Reg::new("1002").expires("99999999999999999999");
    assert_eq!(
        ok(huge.send(&mut reg, t0, loopback())).1,
        ["Contact: <sip:1002@192.0.2.10:5062>;expires=3600"]
    );
    let param = Reg::new("1003")
        .contacts(&["<sip:1003@h>;expires=90"])
        .expires("600");
    assert_eq!(
        ok(param.send(&mut reg, t0, loopback())).1,
        ["Contact: <sip:1003@h>;expires=90"]
    );
    let default = Reg::new("1004");
    assert_eq!(
        ok(default.send(&mut reg, t0, loopback())).1,
        ["Contact: <sip:1004@192.0.2.10:5062>;expires=3600"]
    );
    // expires=N in the 200 counts down.
    let (_, contacts, changed) = ok(Reg::new("1003").contacts(&[]).send(
        &mut reg,
        t0 + Duration::from_millis(30_500),
        loopback(),
    ));
    assert_eq!(
        (contacts, changed),
        (
            vec!["Contact: <sip:1003@h>;expires=60".to_string()],
            BindingChange::Unchanged
        )
    );
}

#[test]
fn registrar_expire_reports_seats_that_lost_their_last_binding() {
    let (mut reg, t0) = registrar(None);
    let both = Reg::new("1001").contacts(&["<sip:1001@a>;expires=60", "<sip:1001@b>;expires=120"]);
    ok(both.send(&mut reg, t0, loopback()));
    ok(Reg::new("1002")
        .expires("60")
        .send(&mut reg, t0, loopback()));
    ok(Reg::new("1003")
        .expires("90")
        .send(&mut reg, t0, loopback()));
    assert_eq!(reg.seats_registered(), 3);
    assert_eq!(reg.expire(t0 + secs(60)), ["1002"]);
    assert_eq!(
        reg.lookup(t0 + secs(60), "1001").unwrap().contact,
        "sip:1001@b"
    );
    assert_eq!(reg.expire(t0 + secs(200)), ["1003", "1001"]);
    assert_eq!(reg.seats_registered(), 0);
}

#[test]
fn registrar_cseq_must_grow_on_the_same_call_id() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001")
        .cseq(5)
        .expires("300")
        .send(&mut reg, t0, loopback()));
    for cseq in [4, 5] {
        let outcome = Reg::new("1001")
            .cseq(cseq)
            .expires("0")
            .send(&mut reg, t0, loopback());
        assert_eq!(rejected(&outcome), (500, "Server Internal Error", &[][..]));
        let star = Reg::new("1001").contacts(&["*"]).expires("0").cseq(cseq);
        assert_eq!(rejected(&star.send(&mut reg, t0, loopback())).0, 500);
    }
    assert_eq!(reg.bindings("1001").len(), 1);
    // Another Call-ID (the phone rebooted) may start low.
    let reboot = Reg::new("1001").call_id("after-reboot").cseq(1);
    assert_eq!(
        ok(reboot.send(&mut reg, t0, loopback())).2,
        BindingChange::Refreshed
    );
    assert_eq!(reg.lookup(t0, "1001").unwrap().call_id, "after-reboot");
}

#[test]
fn registrar_query_lists_bindings_most_recent_first() {
    let (mut reg, t0) = registrar(None);
    ok(Reg::new("1001")
        .contacts(&["<sip:1001@a>"])
        .send(&mut reg, t0, loopback()));
    ok(Reg::new("1001").contacts(&["<sip:1001@b>"]).cseq(2).send(
        &mut reg,
        t0 + secs(10),
        loopback(),
    ));
    let (_, contacts, changed) =
        ok(Reg::new("1001")
            .contacts(&[])
            .cseq(3)
            .send(&mut reg, t0 + secs(10), loopback()));
    assert_eq!(changed, BindingChange::Unchanged);
    assert_eq!(
        contacts,
        [
            "Contact: <sip:1001@b>;expires=3600",
            "Contact: <sip:1001@a>;expires=3590"
        ]
    );
    assert_eq!(
        reg.lookup(t0 + secs(10), "1001").unwrap().contact,
        "sip:1001@b"
    );
    ok(Reg::new("1001").contacts(&["<sip:1001@a>"]).cseq(4).send(
        &mut reg,
        t0 + secs(20),
        loopback(),
    ));
    assert_eq!(
        reg.lookup(t0 + secs(20), "1001").unwrap().contact,
        "sip:1001@a"
    );
    // Nobody registered: an empty 200.
    assert_eq!(
        ok(Reg::new("1009")
            .contacts(&[])
            .send(&mut reg, t0, loopback()))
        .1
        .len(),
        0
    );
}

#[test]
fn registrar_keeps_at_most_max_contacts_dropping_the_least_recent() {
    let (mut reg, t0) = registrar(None);
    for (i, host) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let r = Reg::new("1001")
            .contacts(&[&format!("<sip:1001@{host}>")])
            .cseq(i as u32 + 1);
        ok(r.send(&mut reg, t0 + secs(i as u64), loopback()));
    }
    let contacts: Vec<&str> = reg
        .bindings("1001")
        .iter()
        .map(|b| b.contact.as_str())
        .collect();
    assert_eq!(
        contacts,
        ["sip:1001@b", "sip:1001@c", "sip:1001@d", "sip:1001@e"]
    );
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(3601)));
}

#[test]
fn registrar_bad_contact_or_expires_gets_400() {
    let (mut reg, t0) = registrar(None);
    for r in [
        Reg::new("1001").expires("soon"),
        Reg::new("1001").expires("-1"),
        Reg::new("1001").contacts(&["<sip:1001@h>;expires=x"]),
        Reg::new("1001").contacts(&["<tel:+861012345>"]),
        Reg::new("1001").contacts(&["<sip:1001@h"]),
        Reg::new("1001").contacts(&["<sip:1001@h>, ,<sip:1001@i>"]),
    ] {
        let outcome = r.send(&mut reg, t0, loopback());
        assert_eq!(rejected(&outcome).0, 400, "{:?}", r.contacts);
    }
    assert_eq!(reg.seats_registered(), 0);
}

#[test]
fn registrar_ten_thousand_seats_register_refresh_and_expire() {
    let (mut reg, t0) = registrar(None);
    for round in 0..2u32 {
        for seat in 0..10_000u32 {
            let r = Reg::new(&seat.to_string()).expires("60").cseq(round + 1);
            let at = t0 + secs(u64::from(round) * 30) + Duration::from_micros(u64::from(seat));
            reg.handle_register(at, loopback(), &r.request(), &r.call_id, r.cseq);
        }
    }
    assert_eq!(reg.seats_registered(), 10_000);
    assert!(reg.expire(t0 + secs(89)).is_empty());
    assert_eq!(reg.expire(t0 + secs(91)).len(), 10_000);
    assert_eq!(reg.poll_timeout(), None);
}

proptest! {
    #[test]
    fn registrar_garbage_headers_never_panic(
        authorization in proptest::option::of(any::<String>()),
        contact in proptest::option::of("[<>\";,=*a-z0-9@:. ]{0,40}"),
        expires in proptest::option::of("[0-9a-z -]{0,12}"),
    ) {
        let (mut reg, t0) = registrar(Some(credentials()));
        let mut r = Reg::new("1001").request();
        r.headers.retain(|h| !matches!(h, Header::Contact(_)));
        if let Some(a) = authorization {
            r.headers.push(Header::Authorization(a.into()));
        }
        if let Some(c) = contact {
            r.headers.push(Header::Contact(c.into()));
        }
        if let Some(e) = expires {
            r.headers.push(Header::Expires(e.into()));
        }
        let _ = reg.handle_register(t0, phone(), &r, "c", 1);
        let mut open = Registrar::new(RegistrarConfig::new(DOMAIN), None, SECRET, t0);
        let _ = open.handle_register(t0, loopback(), &r, "c", 1);
    }
}
