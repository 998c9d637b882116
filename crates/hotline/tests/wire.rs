//! Malformed input over the wire (plain UDP datagrams): each gets its RFC 3261 answer, nothing
//! reaches the seat, and the gateway keeps answering afterwards.
//! A registered seat (benches/sipp/register.xml, needs `sipp`) is a bare UDP socket here.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;

struct Case {
    name: &'static str,
    request: String,
    expect: u16,
    /// (header, text the header's value must contain)
    headers: Vec<(&'static str, &'static str)>,
    /// Whether the request has a Call-ID and CSeq the answer must echo.
    echoes: Option<(String, &'static str)>,
    is_invite: bool,
}

fn invite(gw: u16, id: &str, extra: &str, body: &str, content_length: Option<usize>) -> String {
    let len = content_length.unwrap_or(body.len());
    format!(
        "INVITE sip:1001@127.0.0.1:{gw} SIP/2.0\n\
         Via: SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK-{id}\n\
         Max-Forwards: 70\n\
         From: <sip:raw@127.0.0.1>;tag={id}\n\
         To: <sip:1001@127.0.0.1:{gw}>\n\
         Call-ID: {id}@127.0.0.1\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:raw@127.0.0.1:{{port}}>\n\
         {extra}\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\n{body}"
    )
}

fn non_invite(
    gw: u16,
    method: &str,
    cseq_method: &str,
    version: &str,
    id: &str,
    omit: &str,
) -> String {
    let lines = [
        (
            "Via",
            format!("Via: SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK-{id}"),
        ),
        ("Max-Forwards", "Max-Forwards: 70".to_owned()),
        ("From", format!("From: <sip:raw@127.0.0.1>;tag={id}")),
        ("To", format!("To: <sip:1001@127.0.0.1:{gw}>")),
        ("Call-ID", format!("Call-ID: {id}@127.0.0.1")),
        ("CSeq", format!("CSeq: 1 {cseq_method}")),
        ("Content-Length", "Content-Length: 0".to_owned()),
    ];
    let mut s = format!("{method} sip:1001@127.0.0.1:{gw} {version}\n");
    for (name, line) in lines {
        if name != omit {
            s.push_str(&line);
            s.push('\n');
        }
    }
    s.push('\n');
    s
}

const SDP: &str = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// 7. Malformed requests over UDP get 400/505/501/483/420, none reaches the seat, garbage is
///    survived, and the gateway still answers OPTIONS afterwards.
#[test]
fn malformed_requests_get_their_rfc_answers() {
    let dir = TestDir::new("malformed");
    let gw = Gateway::start(&dir, &[]);
    let seat_port = free_port();
    register_seat(&dir, &gw, "1001", seat_port, false);
    let seat = UdpSocket::bind(("127.0.0.1", seat_port)).expect("bind seat socket");
    let p = gw.port;

    let echo = |id: &str, cseq: &'static str| Some((format!("{id}@127.0.0.1"), cseq));
    let cases = vec![
        Case {
            name: "OPTIONS without Call-ID",
            request: non_invite(p, "OPTIONS", "OPTIONS", "SIP/2.0", "nocallid", "Call-ID"),
            expect: 400,
            headers: vec![],
            echoes: None,
            is_invite: false,
        },
        Case {
            name: "OPTIONS ... SIP/3.0",
            request: non_invite(p, "OPTIONS", "OPTIONS", "SIP/3.0", "sip3", ""),
            expect: 505,
            headers: vec![],
            echoes: echo("sip3", "1 OPTIONS"),
            is_invite: false,
        },
        Case {
            name: "unknown method FROB",
            request: non_invite(p, "FROB", "FROB", "SIP/2.0", "frob", ""),
            expect: 501,
            headers: vec![],
            echoes: echo("frob", "1 FROB"),
            is_invite: false,
        },
        Case {
            name: "INVITE with Max-Forwards: 0",
            request: invite(p, "mf0", "", SDP, None).replace("Max-Forwards: 70", "Max-Forwards: 0"),
            expect: 483,
            headers: vec![],
            echoes: echo("mf0", "1 INVITE"),
            is_invite: true,
        },
        Case {
            name: "INVITE with Require: foo",
            request: invite(p, "reqfoo", "Require: foo\n", SDP, None),
            expect: 420,
            headers: vec![("Unsupported", "foo")],
            echoes: echo("reqfoo", "1 INVITE"),
            is_invite: true,
        },
        // Beyond the brief's list: RFC 3261 §8.1.1 mandatory headers, §8.1.1.5 CSeq method,
        // §18.3 a datagram shorter than its Content-Length.
        Case {
            name: "OPTIONS without From",
            request: non_invite(p, "OPTIONS", "OPTIONS", "SIP/2.0", "nofrom", "From"),
            expect: 400,
            headers: vec![],
            echoes: None,
            is_invite: false,
        },
        Case {
            name: "OPTIONS without CSeq",
            request: non_invite(p, "OPTIONS", "OPTIONS", "SIP/2.0", "nocseq", "CSeq"),
            expect: 400,
            headers: vec![],
            echoes: None,
            is_invite: false,
        },
        Case {
            name: "OPTIONS whose CSeq says BYE",
            request: non_invite(p, "OPTIONS", "BYE", "SIP/2.0", "cseqbye", ""),
            expect: 400,
            headers: vec![],
            echoes: echo("cseqbye", "1 BYE"),
            is_invite: false,
        },
        Case {
            name: "INVITE whose body is shorter than its Content-Length",
            request: invite(p, "shortbody", "", SDP, Some(SDP.len() + 200)),
            expect: 400,
            headers: vec![],
            echoes: echo("shortbody", "1 INVITE"),
            is_invite: true,
        },
    ];

    let mut problems = Vec::new();
    for case in &cases {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap().port();
        let text = case
            .request
            .replace("{port}", &local.to_string())
            .replace('\n', "\r\n");
        let got = raw_exchange_on(&sock, p, text.as_bytes(), Duration::from_secs(4));
        let Some(answer) = got
            .iter()
            .find(|r| status_code(r).is_some_and(|c| c >= 200))
        else {
            let firsts: Vec<&str> = got.iter().map(|r| r.lines().next().unwrap_or("")).collect();
            problems.push(format!(
                "{}: expected {}, got no final answer in 4 s ({firsts:?})",
                case.name, case.expect
            ));
            continue;
        };
        let code = status_code(answer).unwrap();
        let status_line = answer.lines().next().unwrap_or("");
        if code != case.expect {
            problems.push(format!(
                "{}: expected {}, got `{status_line}`",
                case.name, case.expect
            ));
        }
        for (name, want) in &case.headers {
            let values = header_values(answer, name, None);
            if !values.iter().any(|v| v.contains(want)) {
                problems.push(format!(
                    "{}: `{status_line}` lacks `{name}: {want}` (has {values:?})",
                    case.name
                ));
            }
        }
        if let Some((call_id, cseq)) = &case.echoes {
            if header_values(answer, "Call-ID", Some("i")).first() != Some(&call_id.as_str()) {
                problems.push(format!(
                    "{}: `{status_line}` does not echo Call-ID {call_id}",
                    case.name
                ));
            }
            let cseqs = header_values(answer, "CSeq", None);
            if !cseqs
                .first()
                .is_some_and(|v| v.split_whitespace().eq(cseq.split_whitespace()))
            {
                problems.push(format!(
                    "{}: `{status_line}` has CSeq {cseqs:?}, expected {cseq}",
                    case.name
                ));
            }
        }
        let vias = header_values(answer, "Via", Some("v"));
        if !vias.first().is_some_and(|v| v.contains("branch=z9hG4bK-")) {
            problems.push(format!(
                "{}: `{status_line}` does not echo our Via ({vias:?})",
                case.name
            ));
        }
        if case.is_invite {
            // ACK the non-2xx final answer (same branch, To from the answer).
            let to = header_values(answer, "To", Some("t"))
                .first()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let id = case
                .echoes
                .as_ref()
                .map(|(c, _)| c.clone())
                .unwrap_or_default();
            let branch_id = id.trim_end_matches("@127.0.0.1");
            let ack = format!(
                "ACK sip:1001@127.0.0.1:{p} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{branch_id}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:raw@127.0.0.1>;tag={branch_id}\r\n\
                 To: {to}\r\n\
                 Call-ID: {id}\r\n\
                 CSeq: 1 ACK\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            sock.send_to(ack.as_bytes(), ("127.0.0.1", p)).unwrap();
        }
    }

    // Garbage that cannot be answered (RFC 3261 §18: discard): only survival is checked.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let garbage: [&[u8]; 7] = [
        b"",
        b"\r\n\r\n",
        b"hello world\r\n\r\n",
        b"\x00\xff\xfe\x01 binary \x80\x81",
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-stray\r\nCall-ID: stray@x\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n",
        b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-big\r\nX-Long: ",
    ];
    for g in garbage {
        junk.send_to(g, ("127.0.0.1", p)).unwrap();
    }
    let mut long = b"OPTIONS sip:x SIP/2.0\r\nX-Filler: ".to_vec();
    long.resize(60_000, b'a');
    junk.send_to(&long, ("127.0.0.1", p)).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let after = raw_exchange(
        p,
        &options_request(p, "after-malformed"),
        Duration::from_secs(3),
    );
    if !after.iter().any(|r| status_code(r) == Some(200)) {
        problems.push(format!(
            "no 200 to OPTIONS after the malformed input (alive: {})",
            gw.alive()
        ));
    }
    let forwarded = drain_udp(&seat, Duration::from_millis(300));
    if !forwarded.is_empty() {
        let firsts: Vec<&str> = forwarded
            .iter()
            .map(|m| m.lines().next().unwrap_or(""))
            .collect();
        problems.push(format!("the seat was sent: {firsts:?}"));
    }

    assert!(
        problems.is_empty(),
        "malformed input, {} problem(s):\n  {}\n--- gateway ({}), output ({}):\n{}",
        problems.len(),
        problems.join("\n  "),
        gw.state(),
        gw.log.display(),
        gw.log_tail()
    );
}
