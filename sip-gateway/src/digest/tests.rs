// Tests start their fake clock from the real one, once.
#![allow(clippy::disallowed_methods)]
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::nonce::hmac_sha256;
use super::*;

const SECRET: [u8; 32] = [7; 32];

/// RFC 7616 §3.9.1: the example request, with `algorithm` filled in by the caller.
fn rfc7616_example(algorithm: &str, response: &str) -> String {
    format!(
        "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\",\r\n \
         uri=\"/dir/index.html\",\r\n algorithm={algorithm},\r\n \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n nc=00000001,\r\n \
         cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n qop=auth,\r\n \
         response=\"{response}\",\r\n opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
    )
}

#[test]
fn digest_rfc7616_example_md5() {
    let expected = "8ca523f5e9506fed4657c9700eebdbec";
    let creds = DigestCredentials::parse(&rfc7616_example("MD5", expected)).unwrap();
    assert_eq!(creds.algorithm, DigestAlgorithm::Md5);
    assert_eq!(creds.username, "Mufasa");
    assert_eq!(
        creds.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
    assert_eq!(
        expected_response_hex(&creds, "Circle of Life", "GET"),
        expected
    );
}

#[test]
fn digest_rfc7616_example_sha256() {
    let expected = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";
    let creds = DigestCredentials::parse(&rfc7616_example("SHA-256", expected)).unwrap();
    assert_eq!(creds.algorithm, DigestAlgorithm::Sha256);
    let qop = creds.qop.as_ref().unwrap();
    assert_eq!((qop.nc, qop.nc_text.as_str()), (1, "00000001"));
    assert_eq!(
        expected_response_hex(&creds, "Circle of Life", "GET"),
        expected
    );
}

#[test]
fn digest_rfc2069_response_without_qop() {
    // RFC 2069 §2.4 formula: H(H(A1) ":" nonce ":" H(A2)).
    let creds = DigestCredentials::parse(
        "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\"",
    )
    .unwrap();
    assert_eq!(creds.algorithm, DigestAlgorithm::Md5);
    let md5 = |s: &str| DigestAlgorithm::Md5.hash_hex(s.as_bytes());
    let want = md5(&format!("{}:n:{}", md5("u:r:p"), md5("REGISTER:sip:r")));
    assert_eq!(expected_response_hex(&creds, "p", "REGISTER"), want);
}

#[test]
fn digest_hmac_sha256_rfc4231_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn digest_parse_is_case_insensitive_in_any_order_with_escapes() {
    let creds = DigestCredentials::parse(
        "  dIgEsT  RESPONSE=abc ,Realm=\"a\\\"b\\\\c\",uri=sip:x@y;transport=tcp, \
         QOP=\"auth\",NC=0000000A , CNonce=\"c\",nonce=\"n\",UserName=\"10\\01\", \
         algorithm=\"sha-256\", foo=bar,, ",
    )
    .unwrap();
    assert_eq!(creds.realm, "a\"b\\c");
    assert_eq!(creds.username, "1001");
    assert_eq!(creds.uri, "sip:x@y;transport=tcp");
    assert_eq!(creds.response, "abc");
    assert_eq!(creds.algorithm, DigestAlgorithm::Sha256);
    let qop = creds.qop.unwrap();
    assert_eq!(
        (qop.nc, qop.nc_text.as_str(), qop.cnonce.as_str()),
        (10, "0000000A", "c")
    );
}

#[test]
fn digest_parse_errors_say_what_to_answer() {
    use AuthorizationError::*;
    let base = "username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"00\"";
    let cases: &[(String, AuthorizationError)] = &[
        (String::new(), NotDigest),
        ("Basic dXNlcjpwYXNz".into(), NotDigest),
        ("Digestive x=1".into(), NotDigest),
        ("Digest".into(), Malformed("no parameters")),
        (
            format!("Digest {base}, algorithm=MD5-sess"),
            Unsupported("algorithm"),
        ),
        (
            format!("Digest {base}, algorithm=SHA-512-256"),
            Unsupported("algorithm"),
        ),
        (
            format!("Digest {base}, qop=auth-int, nc=00000001, cnonce=\"c\""),
            Unsupported("qop"),
        ),
        (
            format!("Digest {base}, userhash=true"),
            Unsupported("userhash"),
        ),
        (
            "Digest username*=UTF-8''x, realm=\"r\"".into(),
            Unsupported("username*"),
        ),
        (
            format!("Digest {base}, qop=auth, cnonce=\"c\""),
            Malformed("qop without nc"),
        ),
        (
            format!("Digest {base}, qop=auth, nc=00000001"),
            Malformed("qop without cnonce"),
        ),
        (
            format!("Digest {base}, qop=auth, nc=1, cnonce=\"c\""),
            Malformed("nc is not 8 hex digits"),
        ),
        (
            format!("Digest {base}, qop=auth, nc=00000000, cnonce=\"c\""),
            Malformed("nc is zero"),
        ),
        (
            format!("Digest {base}, nc=00000001"),
            Malformed("nc or cnonce without qop"),
        ),
        (
            format!("Digest {base}, realm=\"r2\""),
            Malformed("duplicate parameter"),
        ),
        (
            "Digest realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0\"".into(),
            Malformed("missing username"),
        ),
        (
            "Digest username=\"u".into(),
            Malformed("unterminated quoted-string"),
        ),
        ("Digest username".into(), Malformed("expected '='")),
        (
            "Digest username=\"u\" realm=\"r\"".into(),
            Malformed("expected ','"),
        ),
        ("Digest =x".into(), Malformed("expected a parameter name")),
        ("Digest a=".into(), Malformed("expected a parameter value")),
    ];
    for (value, want) in cases {
        assert_eq!(DigestCredentials::parse(value), Err(*want), "{value:?}");
    }
}

#[test]
fn digest_challenge_headers_offer_sha256_then_md5() {
    let mut auth = DigestAuth::new("hot\"line", SECRET, Instant::now(), DEFAULT_NONCE_TTL);
    let now = Instant::now();
    let lines = auth.challenge_headers(now, false);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("WWW-Authenticate: Digest realm=\"hot\\\"line\", nonce=\""));
    assert!(
        lines[0].ends_with(", qop=\"auth\", algorithm=SHA-256"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(", qop=\"auth\", algorithm=MD5"),
        "{}",
        lines[1]
    );
    let nonce = |l: &str| l.split("nonce=\"").nth(1).unwrap()[..64].to_string();
    assert_eq!(nonce(&lines[0]), nonce(&lines[1]));
    let stale = auth.challenge_headers(now, true);
    assert!(stale.iter().all(|l| l.ends_with(", stale=true")));
    assert_ne!(nonce(&stale[0]), nonce(&lines[0]));
}

#[test]
fn digest_nonce_fresh_stale_invalid() {
    let t0 = Instant::now();
    let mut issuer = NonceIssuer::new(SECRET, t0, Duration::from_secs(300));
    let nonce = issuer.issue(t0 + Duration::from_secs(5));
    assert_eq!(nonce.len(), 64);
    assert!(matches!(
        issuer.check(t0 + Duration::from_secs(305), &nonce),
        NonceStatus::Fresh(_)
    ));
    assert_eq!(
        issuer.check(t0 + Duration::from_millis(305_001), &nonce),
        NonceStatus::Stale
    );
    // Issued "later" than now (clock misuse): stale, not fresh.
    assert_eq!(issuer.check(t0, &nonce), NonceStatus::Stale);
    // Every single-character change breaks the MAC or the shape.
    for i in 0..nonce.len() {
        let mut forged = nonce.clone().into_bytes();
        forged[i] = if forged[i] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            issuer.check(t0 + Duration::from_secs(6), &forged),
            NonceStatus::Invalid
        );
    }
    let other = NonceIssuer::new([8; 32], t0, Duration::from_secs(300));
    assert_eq!(
        other.check(t0 + Duration::from_secs(6), &nonce),
        NonceStatus::Invalid
    );
    for junk in [
        "",
        "zz",
        &nonce[..63],
        &format!("{nonce}0"),
        &"é".repeat(32),
    ] {
        assert_eq!(issuer.check(t0, junk), NonceStatus::Invalid);
    }
}

/// A client answering `nonce` as RFC 7616 §3.4.1 says.
fn answer(
    realm: &str,
    nonce: &str,
    nc: Option<u32>,
    password: &str,
    alg: DigestAlgorithm,
) -> DigestCredentials {
    let mut creds = DigestCredentials {
        username: "1001".into(),
        realm: realm.into(),
        nonce: nonce.into(),
        uri: "sip:hotline".into(),
        response: String::new(),
        algorithm: alg,
        qop: nc.map(|nc| QopAuth {
            cnonce: "0a4f113b".into(),
            nc,
            nc_text: format!("{nc:08x}"),
        }),
        opaque: None,
    };
    creds.response = expected_response_hex(&creds, password, "REGISTER");
    creds
}

fn fresh_nonce(auth: &mut DigestAuth, now: Instant) -> String {
    let line = auth.challenge_headers(now, false).remove(0);
    line.split("nonce=\"").nth(1).unwrap()[..64].to_string()
}

#[test]
fn digest_verify_nc_must_grow_and_qopless_nonces_are_single_use() {
    let t0 = Instant::now();
    let mut auth = DigestAuth::new("hotline", SECRET, t0, DEFAULT_NONCE_TTL);
    let nonce = fresh_nonce(&mut auth, t0);
    let v = |auth: &mut DigestAuth, nc, pw| {
        let creds = answer("hotline", &nonce, nc, pw, DigestAlgorithm::Sha256);
        auth.verify(
            t0 + Duration::from_secs(1),
            "REGISTER",
            &creds,
            Some("secret"),
        )
    };
    // A wrong password does not consume nc=1.
    assert_eq!(
        v(&mut auth, Some(1), "wrong"),
        Verification::Rejected(Rejection::BadResponse)
    );
    assert_eq!(v(&mut auth, Some(1), "secret"), Verification::Ok);
    assert_eq!(
        v(&mut auth, Some(1), "secret"),
        Verification::Rejected(Rejection::Replay)
    );
    assert_eq!(v(&mut auth, Some(3), "secret"), Verification::Ok);
    assert_eq!(
        v(&mut auth, Some(2), "secret"),
        Verification::Rejected(Rejection::Replay)
    );
    assert_eq!(
        v(&mut auth, None, "secret"),
        Verification::Rejected(Rejection::Replay)
    );

    let nonce2 = fresh_nonce(&mut auth, t0);
    let creds = answer("hotline", &nonce2, None, "secret", DigestAlgorithm::Md5);
    let now = t0 + Duration::from_secs(2);
    assert_eq!(
        auth.verify(now, "REGISTER", &creds, Some("secret")),
        Verification::Ok
    );
    assert_eq!(
        auth.verify(now, "REGISTER", &creds, Some("secret")),
        Verification::Rejected(Rejection::Replay)
    );
}

#[test]
fn digest_verify_stale_only_with_right_response() {
    let t0 = Instant::now();
    let mut auth = DigestAuth::new("hotline", SECRET, t0, Duration::from_secs(10));
    let nonce = fresh_nonce(&mut auth, t0);
    let late = t0 + Duration::from_secs(11);
    let good = answer("hotline", &nonce, Some(1), "secret", DigestAlgorithm::Md5);
    let bad = answer("hotline", &nonce, Some(1), "guess", DigestAlgorithm::Md5);
    assert_eq!(
        auth.verify(late, "REGISTER", &good, Some("secret")),
        Verification::Stale
    );
    assert_eq!(
        auth.verify(late, "REGISTER", &bad, Some("secret")),
        Verification::Rejected(Rejection::BadResponse)
    );
}

#[test]
fn digest_verify_rejects_realm_method_unknown_user_and_bad_hex() {
    let t0 = Instant::now();
    let mut auth = DigestAuth::new("hotline", SECRET, t0, DEFAULT_NONCE_TTL);
    let nonce = fresh_nonce(&mut auth, t0);
    let creds = answer("other", &nonce, Some(1), "secret", DigestAlgorithm::Md5);
    assert_eq!(
        auth.verify(t0, "REGISTER", &creds, Some("secret")),
        Verification::Rejected(Rejection::WrongRealm)
    );
    let creds = answer("hotline", &nonce, Some(1), "secret", DigestAlgorithm::Md5);
    assert_eq!(
        auth.verify(t0, "INVITE", &creds, Some("secret")),
        Verification::Rejected(Rejection::BadResponse)
    );
    assert_eq!(
        auth.verify(t0, "REGISTER", &creds, None),
        Verification::Rejected(Rejection::UnknownUser)
    );
    let mut upper = creds.clone();
    upper.response = upper.response.to_uppercase();
    assert_eq!(
        auth.verify(t0, "REGISTER", &upper, Some("secret")),
        Verification::Ok
    );
    for junk in [
        "",
        "zz",
        &creds.response[..30],
        &format!("{}00", creds.response),
    ] {
        let mut c = creds.clone();
        c.response = junk.to_string();
        c.qop.as_mut().unwrap().nc = 9;
        assert_eq!(
            auth.verify(t0, "REGISTER", &c, Some("secret")),
            Verification::Rejected(Rejection::BadResponse)
        );
    }
    let mut forged = creds;
    forged.nonce = "0".repeat(64);
    forged.response = expected_response_hex(&forged, "secret", "REGISTER");
    assert_eq!(
        auth.verify(t0, "REGISTER", &forged, Some("secret")),
        Verification::Rejected(Rejection::BadNonce)
    );
}

#[test]
fn digest_replay_table_is_bounded_and_forgotten_nonces_are_stale() {
    let t0 = Instant::now();
    let mut auth =
        DigestAuth::new("hotline", SECRET, t0, DEFAULT_NONCE_TTL).with_replay_capacity(3);
    let nonces: Vec<String> = (0..5).map(|_| fresh_nonce(&mut auth, t0)).collect();
    for nonce in &nonces[1..] {
        let creds = answer("hotline", nonce, Some(1), "pw", DigestAlgorithm::Md5);
        assert_eq!(
            auth.verify(t0, "REGISTER", &creds, Some("pw")),
            Verification::Ok
        );
    }
    assert_eq!(auth.replays.len(), 3);
    // nonces[1] was evicted: replaying it must not succeed, and nonces[0] (older, never used)
    // cannot be told apart from a forgotten one.
    for nonce in &nonces[..2] {
        let creds = answer("hotline", nonce, Some(1), "pw", DigestAlgorithm::Md5);
        assert_eq!(
            auth.verify(t0, "REGISTER", &creds, Some("pw")),
            Verification::Stale
        );
    }
    // Entries past the TTL are dropped on the next admission.
    let later = t0 + DEFAULT_NONCE_TTL + Duration::from_secs(1);
    let nonce = fresh_nonce(&mut auth, later);
    let creds = answer("hotline", &nonce, Some(1), "pw", DigestAlgorithm::Md5);
    assert_eq!(
        auth.verify(later, "REGISTER", &creds, Some("pw")),
        Verification::Ok
    );
    assert_eq!(auth.replays.len(), 1);
}

#[test]
fn digest_ct_eq() {
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(ct_eq(b"", b""));
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        any::<String>(),
        "[\"\\\\,= a-z\u{e9}]{0,16}",
    ]
}

fn arb_credentials() -> impl Strategy<Value = DigestCredentials> {
    (
        (arb_text(), arb_text(), arb_text(), arb_text(), arb_text()),
        prop_oneof![Just(DigestAlgorithm::Md5), Just(DigestAlgorithm::Sha256)],
        proptest::option::of((arb_text(), 1u32..)),
        proptest::option::of(arb_text()),
    )
        .prop_map(
            |((username, realm, nonce, uri, response), algorithm, qop, opaque)| DigestCredentials {
                username,
                realm,
                nonce,
                uri,
                response,
                algorithm,
                qop: qop.map(|(cnonce, nc)| QopAuth {
                    cnonce,
                    nc,
                    nc_text: format!("{nc:08X}"),
                }),
                opaque,
            },
        )
}

proptest! {
    #[test]
    fn digest_parse_never_panics_on_garbage(value in any::<String>()) {
        let _ = DigestCredentials::parse(&value);
    }

    #[test]
    fn digest_parse_never_panics_on_digest_like_garbage(
        value in "(Digest|digest|Basic|) ?[a-zA-Z*]{0,4}( )?=?( )?(\"([^\"\\\\]|\\\\.){0,6}\"?|[a-z0-9/:]{0,5})?(,|, | )?([a-zA-Z*]{0,8}=(\"[^\"]{0,4}\"|[0-9a-fA-F]{0,9}),? ?){0,12}"
    ) {
        let _ = DigestCredentials::parse(&value);
    }

    #[test]
    fn digest_parse_never_panics_on_mutated_valid_headers(
        cut in 0usize..400,
        insert in any::<char>(),
        at in 0usize..400,
    ) {
        let valid = rfc7616_example("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
        let mut chars: Vec<char> = valid.chars().collect();
        let at = at % (chars.len() + 1);
        chars.insert(at, insert);
        chars.truncate(cut.max(1));
        let s: String = chars.into_iter().collect();
        let _ = DigestCredentials::parse(&s);
    }

    #[test]
    fn digest_credentials_round_trip(creds in arb_credentials()) {
        prop_assert_eq!(DigestCredentials::parse(&creds.to_string()), Ok(creds));
    }

    #[test]
    fn digest_nonce_check_never_panics(nonce in any::<String>(), secs in 0u64..1000) {
        let t0 = Instant::now();
        let issuer = NonceIssuer::new(SECRET, t0, DEFAULT_NONCE_TTL);
        let status = issuer.check(t0 + Duration::from_secs(secs), &nonce);
        prop_assert_eq!(status, NonceStatus::Invalid);
    }
}
