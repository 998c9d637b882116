//! Properties of the validator, seeded with the RFC 4475 torture messages.
//!
//! - `validate` never panics: not on arbitrary bytes, not on mutated valid messages (bytes
//!   flipped, lines duplicated, dropped or cut short).
//! - Every `Reject` is a response rsipstack parses, with the status it claims, every Via of the
//!   request, and the request's Call-ID whenever the request had a readable one.
//! - `frame` splits a stream of concatenated messages (and keep-alives), however it arrives,
//!   back into exactly those messages.

use proptest::prelude::*;
use sip_gateway::sip::{HeadersExt, SipMessage};
use sip_gateway::validate::{frame, response_to, validate, Frame, Limits, Verdict, KNOWN_METHODS};

const SEEDS: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "badinv01",
    "clerr",
    "ncl",
    "scalar02",
    "scalarlg",
    "quotbal",
    "ltgtruri",
    "lwsruri",
    "lwsstart",
    "trws",
    "escruri",
    "baddate",
    "regbadct",
    "badaspec",
    "baddn",
    "badvers",
    "mismatch01",
    "mismatch02",
    "bigcode",
    "badbranch",
    "insuf",
    "unkscm",
    "novelsc",
    "unksm2",
    "bext01",
    "invut",
    "regaut01",
    "multi01",
    "mcl01",
    "bcast",
    "zeromf",
    "cparam01",
    "cparam02",
    "regescrt",
    "sdp01",
    "inv2543",
];

fn seeds() -> &'static [Vec<u8>] {
    static DATA: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        SEEDS
            .iter()
            .map(|n| {
                let p = format!("{}/tests/data/rfc4475/{n}.dat", env!("CARGO_MANIFEST_DIR"));
                std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
            })
            .collect()
    })
}

/// One way to damage a message.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    DuplicateLine(usize),
    DropLine(usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop::sample::select(&b"\r\n :;,<>\"\\@/=0\x00\xff"[..])
        )
            .prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
    ]
}

/// Byte offsets just after each LF.
fn line_starts(m: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            m.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < m.len())
        .collect()
}

fn apply(m: &mut Vec<u8>, mutation: &Mutation) {
    if m.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip(i, b) => {
            let i = i % m.len();
            m[i] = *b;
        }
        Mutation::Truncate(n) => m.truncate(n % m.len()),
        Mutation::DuplicateLine(i) | Mutation::DropLine(i) => {
            let starts = line_starts(m);
            let k = i % starts.len();
            let (a, b) = (starts[k], starts.get(k + 1).copied().unwrap_or(m.len()));
            let line = m[a..b].to_vec();
            if matches!(mutation, Mutation::DropLine(_)) {
                m.drain(a..b);
            } else {
                m.splice(b..b, line);
            }
        }
        Mutation::Insert(i, v) => {
            let i = i % (m.len() + 1);
            m.splice(i..i, v.iter().copied());
        }
    }
}

/// The Call-ID a reader of the raw request would find: the first `Call-ID`/`i` field of the
/// header section, when it is printable ASCII on one line.
fn readable_call_id(input: &[u8]) -> Option<String> {
    let mut msg = input;
    while let Some(rest) = msg.strip_prefix(b"\r\n") {
        msg = rest;
    }
    let text = msg;
    let start = text.windows(2).position(|w| w == b"\r\n")? + 2;
    let end = text[start - 2..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(text.len(), |p| start - 2 + p + 2);
    let head = &text[start..end.max(start)];
    let lines: Vec<&[u8]> = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .collect();
    for (n, line) in lines.iter().enumerate() {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon])
            .trim()
            .to_ascii_lowercase();
        if name != "call-id" && name != "i" {
            continue;
        }
        let folded = lines
            .get(n + 1)
            .is_some_and(|l| matches!(l.first(), Some(b' ' | b'\t')));
        let value = String::from_utf8_lossy(&line[colon + 1..])
            .trim()
            .to_owned();
        return (!folded && !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic()))
            .then_some(value);
    }
    None
}

/// The properties every verdict must have.
fn check(input: &[u8]) -> Result<(), TestCaseError> {
    match validate(input, &Limits::default()) {
        Verdict::Reject(r) => {
            let parsed = SipMessage::try_from(&r.bytes[..]);
            prop_assert!(
                parsed.is_ok(),
                "rejection does not parse: {:?}",
                String::from_utf8_lossy(&r.bytes)
            );
            let Ok(SipMessage::Response(resp)) = parsed else {
                return Err(TestCaseError::fail("rejection is not a response"));
            };
            prop_assert_eq!(resp.status_code.code(), r.status);
            prop_assert!(r.bytes.ends_with(b"\r\nContent-Length: 0\r\n\r\n"));
            if let Some(call_id) = readable_call_id(input) {
                prop_assert_eq!(
                    resp.call_id_header().map(|c| c.value().to_owned()).ok(),
                    Some(call_id)
                );
            }
        }
        Verdict::Request(req) => {
            // Whatever got through can be answered, and the answer parses.
            let bytes = response_to(&req, 200, "OK", Some("t1"), &[], None);
            let parsed = SipMessage::try_from(&bytes[..]);
            prop_assert!(matches!(parsed, Ok(SipMessage::Response(_))));
            prop_assert!(KNOWN_METHODS.contains(&req.method.to_string().as_str()));
        }
        Verdict::Response(resp) => prop_assert!((100..=699).contains(&resp.status)),
        Verdict::Drop(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..1500)) {
        check(&input)?;
    }

    #[test]
    fn sip_shaped_noise_never_panics(
        parts in prop::collection::vec(prop::sample::select(&[
            "INVITE ", "ACK ", "SIP/2.0", "SIP/2.0 200 OK", "sip:a@b", " ", "\r\n", "\r\n\r\n",
            "Via: ", "SIP/2.0/UDP h;branch=z9hG4bK1", "v:", "Call-ID: x", "i:", "CSeq: 1 INVITE",
            "From: <sip:a@b>;tag=1", "To: ", "t:", "l: ", "Content-Length: ", "5", "-1", ";", ",",
            "\"", "<", ">", "\t", ":", "Require: x", "Content-Type: application/sdp", "\0",
        ][..]), 0..60)
    ) {
        check(parts.concat().as_bytes())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_torture_messages_never_panic(
        seed in 0..SEEDS.len(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut m = seeds()[seed].clone();
        for mu in &mutations {
            apply(&mut m, mu);
        }
        check(&m)?;
    }
}

/// A well-formed request with a body of arbitrary bytes (CRLFs included) and an exact
/// Content-Length.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(KNOWN_METHODS),
        "[a-zA-Z0-9]{1,20}",
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(method, id, body, compact)| {
            let length = if compact { "l" } else { "Content-Length" };
            let mut m = format!(
                "{method} sip:q@hotline.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK{id}\r\n\
                 From: <sip:a@example.com>;tag={id}\r\nTo: <sip:q@hotline.example.com>\r\nCall-ID: {id}\r\n\
                 CSeq: 1 {method}\r\nContent-Type: application/sdp\r\n{length}: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            m.extend_from_slice(&body);
            m
        })
}

proptest! {
    #[test]
    fn frame_splits_concatenated_messages_back_exactly(
        items in prop::collection::vec((message(), 0..3usize), 1..6),
        chunks in prop::collection::vec(1..400usize, 1..40),
    ) {
        let limits = Limits::default();
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (m, keepalives) in &items {
            stream.extend(std::iter::repeat_n(&b"\r\n\r\n"[..], *keepalives).flatten());
            stream.extend_from_slice(m);
            expected.push(m.clone());
        }
        // Feed the stream in chunks, as a socket would, framing after each.
        let mut buf: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        while fed < stream.len() {
            let n = (*sizes.next().unwrap_or(&1)).min(stream.len() - fed);
            buf.extend_from_slice(&stream[fed..fed + n]);
            fed += n;
            loop {
                match frame(&buf, &limits) {
                    Frame::Complete(n) => got.push(buf.drain(..n).collect::<Vec<u8>>()),
                    Frame::KeepAlive(n) => { buf.drain(..n); }
                    Frame::Incomplete => break,
                    Frame::Invalid(r) => return Err(TestCaseError::fail(format!("invalid: {r:?}"))),
                }
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&got, &expected);
        for m in &got {
            prop_assert!(matches!(validate(m, &limits), Verdict::Request(_)));
        }
    }
}
