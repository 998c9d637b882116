//! The torture messages of RFC 4475 §3 against `validate`: what each one gets, and why.
//!
//! The messages are stored byte-exact under `tests/data/rfc4475/` (see the README there).
//! §3.1 tests the parser: every valid message of §3.1.1 must get through, every invalid one of
//! §3.1.2 must get the answer the RFC asks for. §3.2 and §3.3/§3.4 test the transaction and
//! application layers; for those the table says what the validator does and why.
//!
//! Run with `--nocapture` to see the table.

use sip_gateway::sip::{HeadersExt, Method, SipMessage};
use sip_gateway::validate::{validate, DropReason, Limits, Rejection, Verdict};

/// What `validate` is expected to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `Verdict::Request`
    Accept,
    /// `Verdict::Response`
    AcceptResponse,
    /// `Verdict::Reject` with this status
    Reject(u16),
    /// `Verdict::Drop(DropReason::MalformedResponse)`
    DropResponse,
}

use Outcome::{Accept, AcceptResponse, DropResponse, Reject};

/// (section, file, expected outcome, why)
const CASES: &[(&str, &str, Outcome, &str)] = &[
    // §3.1.1: valid messages. None may get a 400.
    ("3.1.1.1", "wsinv", Accept, "folding, LWS everywhere, compact forms, leading zeros"),
    ("3.1.1.2", "intmeth", Reject(501), "valid, but the method is unknown: endpoints answer 501 + Allow"),
    ("3.1.1.3", "esc01", Accept, "% HEX HEX escapes in URIs"),
    ("3.1.1.4", "escnull", Accept, "escaped NULs (%00) in URIs are just text"),
    ("3.1.1.5", "esc02", Reject(501), "RE%47IST%45R is an unknown method, not REGISTER"),
    ("3.1.1.6", "lwsdisp", Accept, "no LWS between display name and <: accepted per the RFC"),
    ("3.1.1.7", "longreq", Accept, "long values, 34 Vias (the top one without branch)"),
    ("3.1.1.8", "dblreq", Accept, "REGISTER; the INVITE after its Content-Length is discarded"),
    ("3.1.1.9", "semiuri", Accept, "; in the Request-URI user part"),
    ("3.1.1.10", "transports", Accept, "SCTP, TLS and UNKNOWN transports below the top Via"),
    ("3.1.1.11", "mpart01", Reject(415), "well-formed, but we take no multipart/mixed bodies"),
    ("3.1.1.12", "unreason", AcceptResponse, "UTF-8 reason phrase"),
    ("3.1.1.13", "noreason", AcceptResponse, "empty reason phrase"),
    // §3.1.2: invalid messages.
    ("3.1.2.1", "badinv01", Reject(400), "empty Via and Contact parameters (;;,;,,)"),
    ("3.1.2.2", "clerr", Reject(400), "Content-Length 9999 past the end of the datagram"),
    ("3.1.2.3", "ncl", Reject(400), "negative Content-Length"),
    ("3.1.2.4", "scalar02", Reject(400), "CSeq number above 2**32-1"),
    ("3.1.2.5", "scalarlg", DropResponse, "response: CSeq number above 2**32-1"),
    ("3.1.2.6", "quotbal", Reject(400), "unterminated quoted display name"),
    ("3.1.2.7", "ltgtruri", Reject(400), "Request-URI enclosed in <>"),
    ("3.1.2.8", "lwsruri", Reject(400), "LWS inside the Request-URI"),
    ("3.1.2.9", "lwsstart", Reject(400), "several SPs between Request-Line elements"),
    ("3.1.2.10", "trws", Reject(400), "SPs after the SIP-Version"),
    ("3.1.2.11", "escruri", Reject(400), "headers (?Route=...) in the Request-URI"),
    ("3.1.2.12", "baddate", Reject(400), "Date in EST; only GMT is legal"),
    ("3.1.2.13", "regbadct", Reject(400), "Contact URI with ? not enclosed in <>"),
    ("3.1.2.14", "badaspec", Reject(400), "spaces inside <> in To"),
    ("3.1.2.15", "baddn", Reject(400), "unquoted display names with a comma"),
    ("3.1.2.16", "badvers", Reject(505), "SIP/7.0"),
    ("3.1.2.17", "mismatch01", Reject(400), "OPTIONS with CSeq method INVITE"),
    ("3.1.2.18", "mismatch02", Reject(501), "unknown method; the RFC prefers 501 over 400"),
    ("3.1.2.19", "bigcode", DropResponse, "response code 4294967301"),
    // §3.2: transaction layer.
    ("3.2.1", "badbranch", Reject(400), "branch is the bare magic cookie; our transactions key on it, so refuse statelessly as the RFC allows"),
    // §3.3, §3.4: application layer.
    ("3.3.1", "insuf", Reject(400), "no Call-ID, From, To or Max-Forwards"),
    ("3.3.2", "unkscm", Reject(416), "Request-URI scheme nobodyKnowsThisScheme"),
    ("3.3.3", "novelsc", Reject(416), "Request-URI scheme soap.beep: well-formed, but not ours"),
    ("3.3.4", "unksm2", Accept, "syntactically valid; the registrar refuses the isbn: AOR, not the validator"),
    ("3.3.5", "bext01", Reject(420), "Require tags nobody supports (Proxy-Require is for proxies; a UAS ignores it)"),
    ("3.3.6", "invut", Reject(415), "Content-Type application/unknownformat"),
    ("3.3.7", "regaut01", Accept, "unknown Authorization scheme: the registrar challenges with 401"),
    ("3.3.8", "multi01", Reject(400), "two CSeq, Call-ID, To, From, Max-Forwards"),
    ("3.3.9", "mcl01", Reject(400), "two Content-Length values"),
    ("3.3.10", "bcast", AcceptResponse, "well-formed 200; only the top Via matters to us and it is ours"),
    ("3.3.11", "zeromf", Accept, "Max-Forwards 0 on OPTIONS: we answer it, we do not forward it"),
    ("3.3.12", "cparam01", Accept, "unknownparam is a Contact header parameter"),
    ("3.3.13", "cparam02", Accept, "unknownparam is a URI parameter"),
    ("3.3.14", "regescrt", Accept, "escaped header in a bracketed Contact URI is legal"),
    ("3.3.15", "sdp01", Accept, "Accept without application/sdp: the B2BUA may answer 406; not a syntax error"),
    ("3.4.1", "inv2543", Accept, "RFC 2543 syntax (no branch, tag, Max-Forwards, Content-Length): accepted, body runs to the datagram's end"),
];

fn load(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn outcome(v: &Verdict) -> String {
    match v {
        Verdict::Request(r) => format!("request {}", r.method),
        Verdict::Response(r) => format!("response {}", r.status),
        Verdict::Reject(r) => format!("{} \"{}\"", r.status, r.detail),
        Verdict::Drop(d) => format!("drop {d:?}"),
    }
}

fn matches(v: &Verdict, want: Outcome) -> bool {
    match (v, want) {
        (Verdict::Request(_), Accept) | (Verdict::Response(_), AcceptResponse) => true,
        (Verdict::Reject(r), Reject(code)) => r.status == code,
        (Verdict::Drop(DropReason::MalformedResponse(_)), DropResponse) => true,
        _ => false,
    }
}

/// A rejection is a response rsipstack can parse, with the request's Call-ID and CSeq.
fn check_rejection(name: &str, input: &[u8], r: &Rejection) {
    let parsed = SipMessage::try_from(&r.bytes[..])
        .unwrap_or_else(|e| panic!("{name}: rejection does not parse: {e}"));
    let SipMessage::Response(resp) = parsed else {
        panic!("{name}: rejection is not a response");
    };
    assert_eq!(resp.status_code.code(), r.status, "{name}");
    let text = String::from_utf8_lossy(&r.bytes);
    assert!(
        text.contains("\r\nWarning: 399 hotline \""),
        "{name}: {text}"
    );
    assert!(text.contains("\r\nServer: hotline\r\n"), "{name}");
    assert!(text.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{name}");
    if let Some(line) = input
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
        .find(|l| l.starts_with("Call-ID:") || l.starts_with("i:"))
    {
        let call_id = line
            .split_once(':')
            .map(|(_, v)| v.trim())
            .unwrap_or_default();
        assert_eq!(
            resp.call_id_header().map(|c| c.value()).ok(),
            Some(call_id),
            "{name}"
        );
    }
    assert!(resp.via_header().is_ok() || !text.contains("Via"), "{name}");
    // A To, when there was one, always carries a tag (added when the request had none).
    if text.contains("\r\nTo: ") {
        assert!(
            resp.to_header().is_ok_and(|t| t.value().contains(";tag=")),
            "{name}: {text}"
        );
    }
}

#[test]
fn every_torture_message_gets_its_rfc_outcome() {
    let limits = Limits::default();
    let mut failures = Vec::new();
    println!(
        "{:<9} {:<11} {:<14} {:<60} why",
        "section", "message", "expected", "got"
    );
    for &(section, name, want, why) in CASES {
        let input = load(name);
        let verdict = validate(&input, &limits);
        let ok = matches(&verdict, want);
        let mark = if ok { "" } else { "  <-- MISMATCH" };
        println!(
            "{section:<9} {name:<11} {:<14} {:<60} {why}{mark}",
            format!("{want:?}"),
            outcome(&verdict)
        );
        if !ok {
            failures.push(name);
        }
        if let Verdict::Reject(r) = &verdict {
            check_rejection(name, &input, r);
        }
    }
    assert!(failures.is_empty(), "unexpected outcomes: {failures:?}");
    let files = std::fs::read_dir(format!("{}/tests/data/rfc4475", env!("CARGO_MANIFEST_DIR")))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "dat"))
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(files, CASES.len(), "every stored message has a row");
}

fn accepted(name: &str) -> Box<sip_gateway::validate::ValidRequest> {
    match validate(&load(name), &Limits::default()) {
        Verdict::Request(r) => r,
        other => panic!("{name}: {}", outcome(&other)),
    }
}

fn rejected(name: &str) -> Rejection {
    match validate(&load(name), &Limits::default()) {
        Verdict::Reject(r) => r,
        other => panic!("{name}: {}", outcome(&other)),
    }
}

#[test]
fn wsinv_facts_are_read_through_folding_and_lws() {
    let r = accepted("wsinv");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.call_id, "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(r.to_tag.as_deref(), Some("1918181833n"));
    assert_eq!(r.from_tag.as_deref(), Some("98asjd8"));
    assert_eq!(r.cseq, 9);
    assert_eq!(r.max_forwards, 68);
    assert_eq!(r.branch, "390skdjuw");
    assert_eq!(r.via_sent_by, "192.0.2.2");
    assert_eq!(r.content_type.as_deref(), Some("application/sdp"));
    assert_eq!(r.request.body.len(), 150);
}

#[test]
fn dblreq_keeps_the_register_and_drops_the_trailing_invite() {
    let r = accepted("dblreq");
    assert_eq!(r.method, Method::Register);
    assert!(r.request.body.is_empty());
}

#[test]
fn semiuri_user_part_survives_rsipstack() {
    let r = accepted("semiuri");
    assert_eq!(r.request.uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(r.request.uri.host().to_string(), "example.com");
}

#[test]
fn inv2543_body_runs_to_the_end_of_the_datagram() {
    let r = accepted("inv2543");
    assert_eq!(r.branch, "");
    assert_eq!(r.from_tag, None);
    assert_eq!(r.max_forwards, 70);
    assert!(r.request.body.starts_with(b"v=0\r\n"));
    assert_eq!(r.request.body.len(), 105);
}

#[test]
fn answers_carry_the_headers_the_rfc_asks_for() {
    let text = |r: &Rejection| String::from_utf8_lossy(&r.bytes).into_owned();
    let allow = text(&rejected("esc02"));
    assert!(
        allow.contains("\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER,"),
        "{allow}"
    );
    let bext = text(&rejected("bext01"));
    assert!(
        bext.contains("\r\nUnsupported: nothingSupportsThis, nothingSupportsThisEither\r\n"),
        "{bext}"
    );
    assert!(!bext.contains("noProxiesSupportThis"), "{bext}");
    let invut = text(&rejected("invut"));
    assert!(invut.contains("\r\nAccept: application/sdp\r\n"), "{invut}");
    // Compact `v:` and folded Vias come back as `Via:` lines, in order.
    let multi = text(&rejected("badinv01"));
    assert!(
        multi.contains("\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"),
        "{multi}"
    );
}

#[test]
fn baddn_is_refused_for_its_display_names() {
    // The archived message also lacks its empty line; the display name is found first.
    let r = rejected("baddn");
    assert!(r.detail.contains("display name"), "{}", r.detail);
}
