//! Unit tests: one per malformed-input case, each checking the status code, the header the
//! RFC asks for, and that Via, Call-ID and CSeq were copied into the answer.

use super::*;
use crate::sip::{HeadersExt, StatusCode};

const VIA1: &str = "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-top";
const VIA2: &str = "Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK-second";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// A well-formed request's header lines; tests edit them.
fn headers(method: &str) -> Vec<String> {
    vec![
        VIA1.into(),
        VIA2.into(),
        "Max-Forwards: 70".into(),
        "From: \"Alice\" <sip:alice@example.com>;tag=from-1".into(),
        "To: <sip:queue@hotline.example.com>".into(),
        "Call-ID: call-1@192.0.2.1".into(),
        format!("CSeq: 7 {method}"),
        "Contact: <sip:alice@192.0.2.1:5060>".into(),
    ]
}

/// Start line, header lines, then `Content-Length` (unless a line already sets it) and body.
fn build(start: &str, lines: &[String], body: &str) -> Vec<u8> {
    let mut m = format!("{start}\r\n");
    for l in lines {
        m.push_str(l);
        m.push_str("\r\n");
    }
    let has_length = lines.iter().any(|l| {
        let n = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        n == "content-length" || n == "l"
    });
    if !has_length {
        m.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    m.push_str("\r\n");
    m.push_str(body);
    m.into_bytes()
}

/// A request with `edit` applied to its header lines.
fn req(method: &str, edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let mut h = headers(method);
    edit(&mut h);
    build(
        &format!("{method} sip:queue@hotline.example.com SIP/2.0"),
        &h,
        "",
    )
}

fn invite_with_sdp(edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let mut h = headers("INVITE");
    h.push("Content-Type: application/sdp".into());
    edit(&mut h);
    build("INVITE sip:queue@hotline.example.com SIP/2.0", &h, SDP)
}

fn remove(h: &mut Vec<String>, prefix: &str) {
    h.retain(|l| {
        !l.to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase())
    });
}

fn run(m: &[u8]) -> Verdict {
    validate(m, &Limits::default())
}

fn accepted(m: &[u8]) -> Box<ValidRequest> {
    match run(m) {
        Verdict::Request(r) => r,
        other => panic!(
            "expected a request, got {other:?}\n{}",
            String::from_utf8_lossy(m)
        ),
    }
}

/// The rejection text; checks the status and that it parses with the Call-ID copied.
fn rejected(m: &[u8], status: u16) -> (Rejection, String) {
    let r = match run(m) {
        Verdict::Reject(r) => r,
        other => panic!(
            "expected {status}, got {other:?}\n{}",
            String::from_utf8_lossy(m)
        ),
    };
    assert_eq!(r.status, status, "{}", r.detail);
    let text = String::from_utf8_lossy(&r.bytes).into_owned();
    let first = format!("SIP/2.0 {status} {}\r\n", reject::reason(status));
    assert!(text.starts_with(&first), "{text}");
    let parsed = Response::try_from(&r.bytes[..]).expect("rejection parses");
    assert_eq!(parsed.status_code.code(), status);
    assert!(
        text.contains(&format!("\r\nWarning: 399 hotline \"{}\"\r\n", r.detail)),
        "{text}"
    );
    assert!(
        text.ends_with("\r\nServer: hotline\r\nContent-Length: 0\r\n\r\n"),
        "{text}"
    );
    (r, text)
}

/// Via (both, in order), Call-ID and CSeq were copied.
fn assert_copied(text: &str, cseq: &str) {
    let v1 = text
        .find(&format!("\r\n{VIA1}\r\n"))
        .expect("top Via copied");
    let v2 = text
        .find(&format!("\r\n{VIA2}\r\n"))
        .expect("second Via copied");
    assert!(v1 < v2, "Vias in order: {text}");
    assert!(text.contains("\r\nCall-ID: call-1@192.0.2.1\r\n"), "{text}");
    assert!(text.contains(&format!("\r\nCSeq: {cseq}\r\n")), "{text}");
    assert!(
        text.contains("\r\nFrom: \"Alice\" <sip:alice@example.com>;tag=from-1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nTo: <sip:queue@hotline.example.com>;tag="),
        "{text}"
    );
}

fn reject_400(m: &[u8]) -> String {
    let (r, text) = rejected(m, 400);
    assert!(!r.detail.is_empty());
    text
}

fn dropped(m: &[u8]) -> DropReason {
    match run(m) {
        Verdict::Drop(d) => d,
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[test]
fn a_plain_invite_is_accepted_with_its_facts() {
    let r = accepted(&invite_with_sdp(|_| {}));
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.call_id, "call-1@192.0.2.1");
    assert_eq!(r.from_tag.as_deref(), Some("from-1"));
    assert_eq!(r.to_tag, None);
    assert_eq!(r.cseq, 7);
    assert_eq!(r.branch, "z9hG4bK-top");
    assert_eq!(r.via_sent_by, "192.0.2.1:5060");
    assert_eq!(r.max_forwards, 70);
    assert_eq!(r.content_type.as_deref(), Some("application/sdp"));
    assert_eq!(r.request.body, SDP.as_bytes());
}

#[test]
fn known_methods_are_the_ones_we_map() {
    for m in KNOWN_METHODS {
        let method = known_method(m.as_bytes()).expect("mapped");
        assert_eq!(method.to_string(), *m);
    }
    assert_eq!(ALLOW, KNOWN_METHODS.join(", "));
}

// --- size and keep-alives ---

#[test]
fn over_the_size_limit_is_513_with_headers_copied() {
    let big = "x".repeat(20_000);
    let m = req("INVITE", |h| h.push(format!("X-Filler: {big}")));
    let (_, text) = rejected(&m, 513);
    assert_copied(&text, "7 INVITE");
}

#[test]
fn over_the_size_limit_without_a_via_in_reach_is_dropped() {
    let big = "x".repeat(20_000);
    let m = req("INVITE", |h| h.insert(0, format!("X-Filler: {big}")));
    assert!(matches!(dropped(&m), DropReason::Unanswerable(_)));
}

#[test]
fn an_oversized_response_is_dropped() {
    let m = format!(
        "SIP/2.0 200 OK\r\n{VIA1}\r\nX: {}\r\n\r\n",
        "y".repeat(20_000)
    );
    assert!(matches!(
        dropped(m.as_bytes()),
        DropReason::MalformedResponse(_)
    ));
}

#[test]
fn crlf_keep_alives_are_dropped_as_such() {
    assert_eq!(dropped(b"\r\n\r\n"), DropReason::KeepAlive);
    assert_eq!(dropped(b"\r\n"), DropReason::KeepAlive);
}

#[test]
fn garbage_and_http_are_unanswerable() {
    for m in [
        &b""[..],
        b"\x00\x01\x02\x03",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0",
    ] {
        assert!(matches!(dropped(m), DropReason::Unanswerable(_)), "{m:?}");
    }
}

// --- start line ---

#[test]
fn another_sip_version_is_505() {
    let m =
        String::from_utf8(req("INVITE", |_| {}))
            .unwrap()
            .replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
    let (_, text) = rejected(m.as_bytes(), 505);
    assert_copied(&text, "7 INVITE");
}

#[test]
fn a_lower_case_sip_version_is_400() {
    let m = String::from_utf8(req("OPTIONS", |_| {})).unwrap().replacen(
        "SIP/2.0\r\n",
        "sip/2.0\r\n",
        1,
    );
    assert_copied(&reject_400(m.as_bytes()), "7 OPTIONS");
}

#[test]
fn an_unknown_method_is_501_with_allow() {
    let (_, text) = rejected(&req("FROBNICATE", |_| {}), 501);
    assert!(
        text.contains(&format!("\r\nAllow: {}\r\n", KNOWN_METHODS.join(", "))),
        "{text}"
    );
    assert_copied(&text, "7 FROBNICATE");
}

#[test]
fn methods_are_case_sensitive_and_percent_is_no_escape() {
    for m in ["invite", "RE%47IST%45R"] {
        let (_, text) = rejected(&req(m, |_| {}), 501);
        assert!(text.contains("\r\nAllow: INVITE, ACK,"), "{text}");
    }
}

#[test]
fn an_unsupported_request_uri_scheme_is_416() {
    let mut h = headers("INVITE");
    h.push("Content-Length: 0".into());
    let (_, text) = rejected(
        &build("INVITE http://example.com/queue SIP/2.0", &h, ""),
        416,
    );
    assert_copied(&text, "7 INVITE");
}

#[test]
fn sip_sips_and_tel_request_uris_are_accepted() {
    for uri in [
        "sips:queue@hotline.example.com:5061;transport=tcp",
        "tel:+15551234567",
        "sip:[2001:db8::1]",
    ] {
        let m = build(&format!("OPTIONS {uri} SIP/2.0"), &headers("OPTIONS"), "");
        accepted(&m);
    }
}

#[test]
fn an_unparsable_request_uri_is_400() {
    for uri in [
        "sip:",
        "sip:@host",
        "sip:host:99999",
        "sip:host;;a",
        "sip:a%zz@host",
        "<sip:a@b>",
    ] {
        let m = build(&format!("OPTIONS {uri} SIP/2.0"), &headers("OPTIONS"), "");
        assert_copied(&reject_400(&m), "7 OPTIONS");
    }
}

#[test]
fn a_request_line_with_extra_spaces_is_400() {
    for line in [
        "OPTIONS  sip:a@b SIP/2.0",
        "OPTIONS sip:a@b SIP/2.0 ",
        "OPTIONS sip:a@b\tx SIP/2.0",
    ] {
        assert_copied(
            &reject_400(&build(line, &headers("OPTIONS"), "")),
            "7 OPTIONS",
        );
    }
}

// --- mandatory headers ---

macro_rules! missing {
    ($($name:ident: $prefix:expr;)*) => {$(
        #[test]
        fn $name() {
            let (r, text) = rejected(&req("INVITE", |h| remove(h, $prefix)), 400);
            assert!(r.detail.starts_with("missing"), "{}", r.detail);
            if $prefix != "Call-ID:" {
                assert!(text.contains("\r\nCall-ID: call-1@192.0.2.1\r\n"), "{text}");
            }
            if $prefix != "CSeq:" {
                assert!(text.contains("\r\nCSeq: 7 INVITE\r\n"), "{text}");
            }
        }
    )*};
}

missing! {
    missing_call_id_is_400: "Call-ID:";
    missing_from_is_400: "From:";
    missing_to_is_400: "To:";
    missing_cseq_is_400: "CSeq:";
    missing_via_is_400_and_still_answered: "Via:";
}

#[test]
fn compact_header_names_count() {
    let lines: Vec<String> = [
        "v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-top",
        "f: <sip:alice@example.com>;tag=from-1",
        "t: <sip:queue@hotline.example.com>;tag=to-9",
        "i: call-1@192.0.2.1",
        "CSeq: 7 INFO",
        "m: <sip:alice@192.0.2.1>",
        "k: timer",
        "s: hello",
        "e: identity",
        "c: application/dtmf-relay",
        "l: 24",
    ]
    .map(String::from)
    .to_vec();
    let r = accepted(&build(
        "INFO sip:queue@hotline.example.com SIP/2.0",
        &lines,
        "Signal=5\r\nDuration=160\r\n",
    ));
    assert_eq!(r.call_id, "call-1@192.0.2.1");
    assert_eq!(r.to_tag.as_deref(), Some("to-9"));
    assert_eq!(r.content_type.as_deref(), Some("application/dtmf-relay"));
}

// --- Content-Length ---

#[test]
fn content_length_past_the_datagram_is_400() {
    let m = invite_with_sdp(|h| h.push(format!("Content-Length: {}", SDP.len() + 1)));
    assert_copied(&reject_400(&m), "7 INVITE");
}

#[test]
fn negative_content_length_is_400() {
    assert_copied(
        &reject_400(&req("OPTIONS", |h| h.push("Content-Length: -1".into()))),
        "7 OPTIONS",
    );
}

#[test]
fn non_numeric_content_length_is_400() {
    assert_copied(
        &reject_400(&req("OPTIONS", |h| h.push("Content-Length: five".into()))),
        "7 OPTIONS",
    );
}

#[test]
fn two_content_lengths_are_400_even_when_equal() {
    for second in ["l: 0", "Content-Length: 5"] {
        let m = req("OPTIONS", |h| {
            h.push("Content-Length: 0".into());
            h.push(second.into());
        });
        assert_copied(&reject_400(&m), "7 OPTIONS");
    }
}

#[test]
fn bytes_after_the_content_length_body_are_discarded() {
    let mut m = invite_with_sdp(|_| {});
    m.extend_from_slice(b"INVITE sip:junk SIP/2.0\r\n\r\n");
    let r = accepted(&m);
    assert_eq!(r.request.body, SDP.as_bytes());
}

#[test]
fn a_body_without_content_type_is_400() {
    let m = build(
        "INVITE sip:queue@hotline.example.com SIP/2.0",
        &headers("INVITE"),
        SDP,
    );
    assert_copied(&reject_400(&m), "7 INVITE");
}

#[test]
fn without_content_length_a_datagram_body_runs_to_the_end() {
    let mut h = headers("INVITE");
    h.push("Content-Type: application/sdp".into());
    let mut m = format!("INVITE sip:q@h SIP/2.0\r\n{}\r\n\r\n", h.join("\r\n")).into_bytes();
    m.extend_from_slice(SDP.as_bytes());
    assert_eq!(accepted(&m).request.body, SDP.as_bytes());
}

// --- single-valued headers ---

macro_rules! duplicated {
    ($($name:ident: $line:expr;)*) => {$(
        #[test]
        fn $name() {
            let (r, text) = rejected(&req("INVITE", |h| h.push($line.into())), 400);
            assert!(r.detail.starts_with("more than one"), "{}", r.detail);
            assert!(text.contains(&format!("\r\n{VIA1}\r\n")), "{text}");
        }
    )*};
}

duplicated! {
    duplicate_call_id_is_400: "i: other@192.0.2.1";
    duplicate_from_is_400: "From: <sip:mallory@example.com>;tag=x";
    duplicate_to_is_400: "t: <sip:other@example.com>";
    duplicate_cseq_is_400: "CSeq: 7 INVITE";
    duplicate_max_forwards_is_400: "Max-Forwards: 69";
    duplicate_content_length_is_400: "Content-Length: 0\r\nl: 0";
    duplicate_content_type_is_400: "Content-Type: application/sdp\r\nc: application/sdp";
    duplicate_expires_is_400: "Expires: 60\r\nExpires: 60";
}

// --- CSeq and Max-Forwards ---

#[test]
fn a_cseq_that_is_not_number_and_method_is_400() {
    for cseq in [
        "CSeq: INVITE",
        "CSeq: 7",
        "CSeq: 4294967296 INVITE",
        "CSeq: 7INVITE",
        "CSeq: -7 INVITE",
        "CSeq: 7 INVITE x",
    ] {
        let (r, _) = rejected(
            &req("INVITE", |h| {
                remove(h, "CSeq:");
                h.push(cseq.into());
            }),
            400,
        );
        assert!(r.detail.contains("CSeq"), "{cseq}: {}", r.detail);
    }
}

#[test]
fn a_cseq_method_differing_from_the_request_is_400() {
    for cseq in ["CSeq: 7 BYE", "CSeq: 7 invite"] {
        let (r, text) = rejected(
            &req("INVITE", |h| {
                remove(h, "CSeq:");
                h.push(cseq.into());
            }),
            400,
        );
        assert!(r.detail.contains("CSeq method"), "{}", r.detail);
        assert!(text.contains(&format!("\r\n{cseq}\r\n")), "{text}");
    }
}

#[test]
fn max_forwards_must_be_0_to_255() {
    for mf in ["256", "-1", "abc", "7 0"] {
        let m = req("OPTIONS", |h| {
            remove(h, "Max-Forwards:");
            h.push(format!("Max-Forwards: {mf}"));
        });
        assert_copied(&reject_400(&m), "7 OPTIONS");
    }
    let m = req("OPTIONS", |h| {
        remove(h, "Max-Forwards:");
        h.push("Max-Forwards: 0070".into());
    });
    assert_eq!(accepted(&m).max_forwards, 70);
}

// --- header syntax ---

#[test]
fn malformed_header_lines_are_400() {
    for bad in [
        "No colon here",
        " leading: whitespace",
        "Bad Name: x",
        "X-Bare: a\nb",
        "X-Control: a\x01b",
        "X-Latin1: caf\u{e9}",
    ] {
        let mut m = req("OPTIONS", |_| {});
        // Insert right after the request line.
        let at = memmem::find(&m, b"\r\n").unwrap() + 2;
        let line = if bad.starts_with("X-Latin1") {
            b"X-Latin1: caf\xe9\r\n".to_vec()
        } else {
            format!("{bad}\r\n").into_bytes()
        };
        m.splice(at..at, line);
        assert_copied(&reject_400(&m), "7 OPTIONS");
    }
}

#[test]
fn malformed_from_to_via_contact_call_id_date_are_400() {
    for (prefix, line) in [
        ("From:", "From: Bell, Alexander <sip:a@example.com>;tag=1"),
        ("To:", "To: \"unterminated <sip:b@example.com>"),
        ("To:", "To: < sip:b@example.com >"),
        ("Contact:", "Contact: sip:a@example.com?Route=x"),
        ("Via:", "Via: SIP/2.0/UDP 192.0.2.1;;branch=z9hG4bK-x"),
        ("Via:", "Via: SIP/2.0/UDP"),
        ("Call-ID:", "Call-ID: has space"),
        ("Call-ID:", "Call-ID: caf\u{e9}"),
        ("Date:", "Date: Fri, 01 Jan 2010 16:00:00 EST"),
        ("Expires:", "Expires: 4294967296"),
    ] {
        let m = req("INVITE", |h| {
            remove(h, prefix);
            h.insert(1, line.into());
        });
        let (r, _) = rejected(&m, 400);
        assert!(!r.detail.is_empty(), "{line}");
    }
}

#[test]
fn a_top_via_rsipstack_cannot_read_is_400() {
    let m = req("OPTIONS", |h| {
        h[0] = "Via: SIP/2.0/FOO 192.0.2.1;branch=z9hG4bK-x".into()
    });
    let (r, _) = rejected(&m, 400);
    assert!(r.detail.contains("rsipstack"), "{}", r.detail);
}

#[test]
fn a_call_id_may_hold_any_visible_ascii() {
    let r = accepted(&req("OPTIONS", |h| h[5] = "i: YWJj==/x@[::1]".into()));
    assert_eq!(r.call_id, "YWJj==/x@[::1]");
}

#[test]
fn a_valid_date_is_accepted() {
    accepted(&req("OPTIONS", |h| {
        h.push("Date: Sat, 13 Nov 2010 23:29:00 GMT".into())
    }));
}

// --- Require, bodies, Max-Forwards 0 ---

#[test]
fn an_unsupported_require_is_420_with_unsupported() {
    let m = req("INVITE", |h| h.push("Require: 100rel, timer".into()));
    let (_, text) = rejected(&m, 420);
    assert!(
        text.contains("\r\nUnsupported: 100rel, timer\r\n"),
        "{text}"
    );
    assert_copied(&text, "7 INVITE");
}

#[test]
fn require_on_ack_and_cancel_is_ignored() {
    for method in ["ACK", "CANCEL"] {
        accepted(&req(method, |h| h.push("Require: 100rel".into())));
    }
}

#[test]
fn an_unsupported_body_type_is_415_with_accept() {
    let m = invite_with_sdp(|h| {
        remove(h, "Content-Type:");
        h.push("Content-Type: text/plain".into());
    });
    let (_, text) = rejected(&m, 415);
    assert!(text.contains("\r\nAccept: application/sdp\r\n"), "{text}");
    assert_copied(&text, "7 INVITE");
}

#[test]
fn info_takes_dtmf_and_notify_takes_sipfrag() {
    let body = "Signal=1\r\nDuration=100\r\n";
    let info = |ct: &str| {
        let mut h = headers("INFO");
        h.push(format!("Content-Type: {ct}"));
        build("INFO sip:q@h SIP/2.0", &h, body)
    };
    accepted(&info("application/dtmf-relay"));
    accepted(&info("Application/DTMF"));
    let (_, text) = rejected(&info("text/plain"), 415);
    assert!(
        text.contains("\r\nAccept: application/sdp, application/dtmf-relay, application/dtmf\r\n"),
        "{text}"
    );
    let mut h = headers("NOTIFY");
    h.push("Content-Type: message/sipfrag;version=2.0".into());
    let notify = accepted(&build("NOTIFY sip:q@h SIP/2.0", &h, "SIP/2.0 200 OK\r\n"));
    assert_eq!(notify.content_type.as_deref(), Some("message/sipfrag"));
    let mut h = headers("INVITE");
    h.push("Content-Type: message/sipfrag".into());
    rejected(
        &build("INVITE sip:q@h SIP/2.0", &h, "SIP/2.0 200 OK\r\n"),
        415,
    );
}

#[test]
fn a_content_encoding_other_than_identity_is_415() {
    let (_, text) = rejected(
        &invite_with_sdp(|h| h.push("Content-Encoding: gzip".into())),
        415,
    );
    assert!(text.contains("\r\nAccept-Encoding: identity\r\n"), "{text}");
    assert_copied(&text, "7 INVITE");
    accepted(&invite_with_sdp(|h| h.push("e: identity".into())));
}

#[test]
fn max_forwards_0_on_a_forwarded_request_is_483() {
    for method in ["INVITE", "BYE", "REFER"] {
        let m = req(method, |h| {
            remove(h, "Max-Forwards:");
            h.push("Max-Forwards: 0".into());
        });
        let (_, text) = rejected(&m, 483);
        assert_copied(&text, &format!("7 {method}"));
    }
    for method in ["OPTIONS", "REGISTER", "CANCEL", "ACK"] {
        let m = req(method, |h| {
            remove(h, "Max-Forwards:");
            h.push("Max-Forwards: 0".into());
        });
        assert_eq!(accepted(&m).max_forwards, 0);
    }
}

#[test]
fn a_bad_ack_is_dropped_not_answered() {
    for m in [
        req("ACK", |h| remove(h, "Call-ID:")),
        String::from_utf8(req("ACK", |_| {}))
            .unwrap()
            .replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1)
            .into_bytes(),
        req("ACK", |h| h.push("Content-Length: 99".into())),
    ] {
        assert!(matches!(dropped(&m), DropReason::Unanswerable(_)));
    }
}

// --- the answers themselves ---

#[test]
fn the_to_tag_of_an_answer_is_stable_per_call_id_and_branch() {
    let tag = |m: &[u8]| {
        let (_, text) = rejected(m, 501);
        let to = text
            .lines()
            .find(|l| l.starts_with("To: "))
            .unwrap()
            .to_owned();
        to.split(";tag=").nth(1).unwrap().to_owned()
    };
    let a = tag(&req("FOO", |_| {}));
    assert_eq!(
        a,
        tag(&req("FOO", |_| {})),
        "a retransmission gets the same tag"
    );
    assert_eq!(a.len(), 16);
    assert_ne!(
        a,
        tag(&req("FOO", |h| h[0] =
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-other"
                .into()))
    );
    assert_ne!(
        a,
        tag(&req("FOO", |h| h[5] = "Call-ID: call-2@192.0.2.1".into()))
    );
}

#[test]
fn an_existing_to_tag_is_kept() {
    let m = req("FOO", |h| {
        h[4] = "To: <sip:queue@hotline.example.com>;tag=mine".into()
    });
    let (_, text) = rejected(&m, 501);
    assert!(
        text.contains("\r\nTo: <sip:queue@hotline.example.com>;tag=mine\r\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("tag=").count(),
        2,
        "From and To tags only: {text}"
    );
}

#[test]
fn folded_and_compact_vias_are_copied_as_via_lines_in_order() {
    let m = req("FOO", |h| {
        h[0] = "v: SIP/2.0/UDP 192.0.2.1:5060\r\n ;branch=z9hG4bK-top".into();
    });
    let (_, text) = rejected(&m, 501);
    let v1 = text
        .find("\r\nVia: SIP/2.0/UDP 192.0.2.1:5060 ;branch=z9hG4bK-top\r\n")
        .expect(&text);
    let v2 = text.find(&format!("\r\n{VIA2}\r\n")).expect(&text);
    assert!(v1 < v2);
}

// --- responses ---

fn response_msg(status_line: &str, edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let mut h = vec![
        VIA1.to_owned(),
        "From: <sip:alice@example.com>;tag=from-1".into(),
        "To: <sip:agent@example.com>;tag=to-2".into(),
        "Call-ID: call-1@192.0.2.1".into(),
        "CSeq: 7 INVITE".into(),
    ];
    edit(&mut h);
    build(status_line, &h, "")
}

#[test]
fn a_response_is_accepted_with_its_facts_whatever_its_reason_phrase() {
    for line in [
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 ",
        "SIP/2.0 200",
        "SIP/2.0 486 \u{e9}t\u{e9} occup\u{e9}",
    ] {
        let Verdict::Response(r) = run(&response_msg(line, |_| {})) else {
            panic!("{line}");
        };
        assert_eq!(r.call_id, "call-1@192.0.2.1");
        assert_eq!((r.cseq, r.cseq_method), (7, Method::Invite));
        assert_eq!(r.branch, "z9hG4bK-top");
        assert_eq!(r.to_tag.as_deref(), Some("to-2"));
    }
}

#[test]
fn a_malformed_response_is_dropped() {
    let bad: Vec<Vec<u8>> = vec![
        response_msg("SIP/2.0 99 Low", |_| {}),
        response_msg("SIP/2.0 700 High", |_| {}),
        response_msg("SIP/2.0 2OO OK", |_| {}),
        response_msg("SIP/2.0 2000 OK", |_| {}),
        response_msg("SIP/3.0 200 OK", |_| {}),
        response_msg("SIP/2.0 200 OK", |h| {
            h.remove(0);
        }),
        response_msg("SIP/2.0 200 OK", |h| {
            h.remove(1);
        }),
        response_msg("SIP/2.0 200 OK", |h| {
            h.remove(2);
        }),
        response_msg("SIP/2.0 200 OK", |h| {
            h.remove(3);
        }),
        response_msg("SIP/2.0 200 OK", |h| {
            h.remove(4);
        }),
        response_msg("SIP/2.0 200 OK", |h| {
            h[4] = "CSeq: 99999999999 INVITE".into()
        }),
        response_msg("SIP/2.0 200 OK", |h| h[4] = "CSeq: 7 FROB".into()),
        response_msg("SIP/2.0 200 OK", |h| h.push("Content-Length: 10".into())),
        response_msg("SIP/2.0 200 OK", |h| h.push("Content-Length: ten".into())),
    ];
    for m in bad {
        assert!(
            matches!(dropped(&m), DropReason::MalformedResponse(_)),
            "{}",
            String::from_utf8_lossy(&m)
        );
    }
}

// --- response_to ---

#[test]
fn response_to_copies_the_dialog_headers_and_adds_the_tag() {
    let r = accepted(&invite_with_sdp(|_| {}));
    let bytes = response_to(
        &r,
        200,
        "OK",
        Some("gw-1"),
        &["Contact: <sip:gw@192.0.2.9>", "Allow: INVITE, ACK"],
        Some(("application/sdp", SDP.as_bytes())),
    );
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert_copied(&text, "7 INVITE");
    assert!(
        text.contains("\r\nTo: <sip:queue@hotline.example.com>;tag=gw-1\r\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "\r\nContact: <sip:gw@192.0.2.9>\r\nAllow: INVITE, ACK\r\nServer: hotline\r\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        )),
        "{text}"
    );
    let parsed = Response::try_from(&bytes[..]).expect("parses");
    assert_eq!(parsed.status_code, StatusCode::OK);
    assert_eq!(parsed.body, SDP.as_bytes());
    assert_eq!(
        parsed.to_header().unwrap().tag().unwrap().unwrap().value(),
        "gw-1"
    );
}

#[test]
fn response_to_keeps_an_existing_to_tag_and_writes_no_body() {
    let r = accepted(&req("BYE", |h| {
        h[4] = "To: <sip:queue@hotline.example.com>;tag=old".into()
    }));
    let bytes = response_to(
        &r,
        481,
        "Call/Transaction Does Not Exist",
        Some("new"),
        &[],
        None,
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("\r\nTo: <sip:queue@hotline.example.com>;tag=old\r\n"),
        "{text}"
    );
    assert!(!text.contains("new"), "{text}");
    assert!(
        text.ends_with("Server: hotline\r\nContent-Length: 0\r\n\r\n"),
        "{text}"
    );
}

// --- framing ---

#[test]
fn frame_splits_by_content_length() {
    let limits = Limits::default();
    let m = invite_with_sdp(|_| {});
    let mut buf = m.clone();
    buf.extend_from_slice(b"OPTIONS");
    assert!(matches!(frame(&buf, &limits), Frame::Complete(n) if n == m.len()));
    assert!(matches!(
        frame(&m[..m.len() - 1], &limits),
        Frame::Incomplete
    ));
    assert!(matches!(frame(&m[..40], &limits), Frame::Incomplete));
    assert!(matches!(
        frame(b"\r\n\r\nINVITE", &limits),
        Frame::KeepAlive(4)
    ));
    assert!(matches!(frame(b"\r\n", &limits), Frame::KeepAlive(2)));
    assert!(matches!(frame(b"", &limits), Frame::Incomplete));
}

#[test]
fn frame_refuses_streams_without_a_usable_content_length() {
    let limits = Limits::default();
    let no_length = format!(
        "OPTIONS sip:q@h SIP/2.0\r\n{}\r\n\r\n",
        headers("OPTIONS").join("\r\n")
    );
    let Frame::Invalid(Some(r)) = frame(no_length.as_bytes(), &limits) else {
        panic!("no Content-Length");
    };
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.bytes).contains("\r\nCall-ID: call-1@192.0.2.1\r\n"));
    for bad in ["Content-Length: -1", "Content-Length: 1\r\nl: 1"] {
        let m = format!(
            "OPTIONS sip:q@h SIP/2.0\r\n{}\r\n{bad}\r\n\r\n",
            headers("OPTIONS").join("\r\n")
        );
        assert!(matches!(frame(m.as_bytes(), &limits), Frame::Invalid(Some(r)) if r.status == 400));
    }
    let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK-1\r\n\r\n";
    assert!(matches!(
        frame(response.as_bytes(), &limits),
        Frame::Invalid(None)
    ));
    let ack = format!(
        "ACK sip:q@h SIP/2.0\r\n{}\r\n\r\n",
        headers("ACK").join("\r\n")
    );
    assert!(matches!(
        frame(ack.as_bytes(), &limits),
        Frame::Invalid(None)
    ));
}

#[test]
fn frame_refuses_what_cannot_fit() {
    let limits = Limits {
        max_message_bytes: 600,
    };
    let huge_body = invite_with_sdp(|h| {
        remove(h, "Content-Length");
        h.push("Content-Length: 100000".into());
    });
    assert!(matches!(frame(&huge_body, &limits), Frame::Invalid(Some(r)) if r.status == 513));
    let endless = req("OPTIONS", |h| {
        h.push(format!("X-Long: {}", "z".repeat(700)))
    });
    let cut = &endless[..endless.len() - 4];
    assert!(matches!(frame(cut, &limits), Frame::Invalid(Some(r)) if r.status == 513));
    assert!(matches!(frame(&[b'x'; 700], &limits), Frame::Invalid(None)));
}
