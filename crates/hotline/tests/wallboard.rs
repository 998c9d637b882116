//! The wallboard in a real browser against a real server under SIPp load: headless Chromium
//! (Debian's `chromium`, or `$HOTLINE_CHROMIUM`) loads `/` from `hotline serve` while SIPp
//! callers abandon, are answered, talk and wait; the figures read off the rendered page
//! (every `data-figure` element) must be those of `GET /api/v1/stats` and `/api/v1/seats`
//! taken right after. Three hundred event-stream clients that connect and vanish first must
//! leave the server answering at once. Screenshots (1920×1080 and 3840×2160 in Chinese,
//! 1920×1080 in English) go to `target/test-output/`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The embedded plan with no wrap-up, so a seat takes the next call at once; everything else
/// is the shipped `deploy/zhengzhou.toml`.
fn test_plan(dir: &TestDir) -> String {
    let shipped = include_str!("../../../deploy/zhengzhou.toml");
    let text = shipped
        .replace(r#"wrap_up = "30s""#, r#"wrap_up = "0s""#)
        .replace(r#"wrap_up = "60s""#, r#"wrap_up = "0s""#);
    assert_ne!(text, shipped);
    let path = dir.file("plan.toml");
    fs::write(&path, text).expect("write plan");
    path.display().to_string()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn get_json(gw: &Gateway, path: &str) -> Value {
    let (status, body) = http(gw.http, "GET", path, None);
    assert_eq!(status, 200, "GET {path}: {body}");
    json(&body)
}

fn seat_state(gw: &Gateway, seat: &str, body: &str) {
    let (status, reply) = http(
        gw.http,
        "POST",
        &format!("/api/v1/seats/{seat}/state"),
        Some(body),
    );
    assert_eq!(status, 200, "seat {seat} {body}: {reply}");
}

/// Wait until `check` holds, or panic with `what` and the server's output.
fn until(gw: &Gateway, what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "not within {within:?}: {what}\n{}",
            gw.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIPp callers to `service` (`-sn uac` with `hold_ms` of talk, or `uac_abandon.xml` hanging
/// up `hold_ms` after the early media).
fn callers(dir: &TestDir, gw: &Gateway, name: &str, service: &str, abandon: bool) -> Sipp {
    let sipp = if abandon {
        Sipp::caller(dir, name, gw, "uac_abandon.xml", service)
    } else {
        Sipp::new(dir, name)
            .remote(gw.port)
            .args(["-sn", "uac", "-s", service])
    };
    sipp.args(["-l", "100"])
}

fn run_ok(gw: &Gateway, what: &str, sipp: Sipp, calls: u32, rate: u32, hold_ms: u32) {
    let out = sipp
        .args(["-r".to_owned(), rate.to_string()])
        .args(["-d".to_owned(), hold_ms.to_string()])
        .calls(calls)
        .timeout(60)
        .run(Duration::from_secs(90));
    let st = out.stats();
    if !out.ok() || st.map(|s| s.successful) != Some(u64::from(calls)) {
        panic!("{}", failure(what, &[&out], gw));
    }
}

// ---------------------------------------------------------------------------------------------
// Chromium

fn chromium_bin() -> PathBuf {
    let bin =
        PathBuf::from(std::env::var("HOTLINE_CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    assert!(
        bin.exists(),
        "the wallboard's browser test needs Chromium at {} (Debian: `apt-get install chromium`, \
         which scripts/test does when it is missing; or set HOTLINE_CHROMIUM)",
        bin.display()
    );
    bin
}

/// How long the page may run (virtual time) before it is dumped or shot: long enough for the
/// script to connect and render the first snapshot.
const PAGE_BUDGET_MS: u32 = 4000;

/// Run headless Chromium on `url` with `what` (`--dump-dom` or `--screenshot=…`), its own
/// profile directory, killed after `limit`; its standard output.
fn chromium(dir: &TestDir, name: &str, url: &str, size: (u32, u32), what: &str) -> String {
    let out_file = dir.file(&format!("chromium-{name}.out"));
    let err_file = dir.file(&format!("chromium-{name}.log"));
    let mut child = Command::new(chromium_bin())
        .args([
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.file(&format!("chromium-{name}-profile")).display()
        ))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--virtual-time-budget={PAGE_BUDGET_MS}"))
        .arg(what)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_file).expect("chromium stdout"))
        .stderr(fs::File::create(&err_file).expect("chromium stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run Chromium: {e}"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium ({name}) still running after 90 s:\n{}",
                tail(&err_file, 3000)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "Chromium ({name}): {status}\n{}",
        tail(&err_file, 3000)
    );
    fs::read_to_string(&out_file).expect("chromium output")
}

/// The page's DOM once a snapshot has been rendered into it. Chromium's virtual time runs
/// ahead while the page waits on the network, so on a busy machine the dump may come before
/// the first event: try again (each run is a fresh page), at most three times.
fn rendered(dir: &TestDir, name: &str, url: &str) -> String {
    let mut dom = String::new();
    for attempt in 1..=3 {
        dom = chromium(
            dir,
            &format!("{name}-{attempt}"),
            url,
            (1920, 1080),
            "--dump-dom",
        );
        let snapshot = figures(&dom)
            .get("updated")
            .is_some_and(|(text, _)| text.contains(':'));
        if snapshot {
            return dom;
        }
        eprintln!("wallboard: attempt {attempt}: the page had no snapshot yet");
    }
    panic!("three page loads without a snapshot rendered; the last DOM:\n{dom}");
}

/// `data-figure` name → (text, the element's attributes), from serialized HTML.
fn figures(dom: &str) -> BTreeMap<String, (String, String)> {
    let mut found = BTreeMap::new();
    let mut rest = dom;
    while let Some(i) = rest.find("data-figure=\"") {
        let tag_start = rest[..i].rfind('<').unwrap_or(0);
        let after = &rest[i + "data-figure=\"".len()..];
        let Some(end) = after.find('"') else { break };
        let name = after[..end].to_owned();
        let Some(close) = rest[i..].find('>') else {
            break;
        };
        let attrs = rest[tag_start..i + close].to_owned();
        let text_start = i + close + 1;
        let text_end = rest[text_start..]
            .find('<')
            .map_or(rest.len(), |n| text_start + n);
        let text = rest[text_start..text_end]
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
        found.insert(name, (text.trim().to_owned(), attrs));
        rest = &rest[text_end..];
    }
    found
}

/// The value of an attribute in a tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(tag[i..].split('"').next()?.to_owned())
}

/// "97.5%" → 97.5; "—" (no figure) → None.
fn shown_percent(text: &str) -> Option<f64> {
    text.strip_suffix('%')?.parse().ok()
}

/// "1:05" or "1:02:03" → seconds; "—" → None.
fn shown_wait(text: &str) -> Option<u64> {
    let parts: Vec<u64> = text
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(parts.iter().fold(0, |acc, p| acc * 60 + p))
}

/// A PNG's width and height, after checking it is one and not a blank.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 24,
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 40_000,
        "{} is only {} bytes: an empty page?",
        path.display(),
        bytes.len()
    );
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// Where screenshots are kept: `target/test-output/`.
fn output_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("test-output");
    fs::create_dir_all(&dir).expect("create target/test-output");
    dir
}

// ---------------------------------------------------------------------------------------------
// Event-stream clients that vanish

/// `n` clients open `/api/v1/events` and disappear without a word: a third before the
/// answer, a third after the response head, a third after the first snapshot.
fn vanishing_clients(gw: &Gateway, n: usize) {
    let request = b"GET /api/v1/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
    let mut handles = Vec::new();
    for batch in 0..10 {
        let port = gw.http;
        handles.push(std::thread::spawn(move || {
            for i in 0..n / 10 {
                let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = conn.write_all(request);
                let want: &[u8] = match (batch + i) % 3 {
                    0 => b"",
                    1 => b"\r\n\r\n",
                    _ => b"event: snapshot",
                };
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !want.is_empty() && !got.windows(want.len()).any(|w| w == want) {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                drop(conn);
            }
        }));
    }
    for h in handles {
        h.join().expect("client thread");
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_wallboard_shows_what_the_api_counts_under_sipp_load() {
    let browser = chromium_bin(); // fail first, and say why, without Chromium
    let dir = TestDir::new("wallboard");
    let plan = test_plan(&dir);
    let gw = Gateway::start(&dir, &["--config", &plan]);

    // Eight intake seats answered by one SIPp.
    let seats_uas = Sipp::new(&dir, "seats")
        .args(["-sn", "uas"])
        .calls(1000)
        .timeout(300);
    let seats: Vec<String> = (1001..=1008).map(|s| s.to_string()).collect();
    for seat in &seats {
        register_seat(&dir, &gw, seat, seats_uas.local_port, false);
    }
    let _seats_uas = seats_uas.spawn();

    // Nobody ready: callers abandon, 5 short (1.5 s) and 3 long (6 s), on 12345 (12349 plays
    // its notice first: a caller gone within it never reached the queue).
    std::thread::scope(|s| {
        s.spawn(|| {
            let c = callers(&dir, &gw, "abandon-short", "12345", true);
            run_ok(&gw, "short abandons", c, 5, 5, 1500);
        });
        s.spawn(|| {
            let c = callers(&dir, &gw, "abandon-long", "12345", true);
            run_ok(&gw, "long abandons", c, 3, 3, 6000);
        });
    });

    // Seats ready: 24 calls on 12345 and 8 on 12349 are answered (1.5 s talks).
    for seat in &seats {
        seat_state(&gw, seat, r#"{"state":"ready"}"#);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let c = callers(&dir, &gw, "answered-12345", "12345", false);
            run_ok(&gw, "answered on 12345", c, 24, 8, 1500);
        });
        s.spawn(|| {
            let c = callers(&dir, &gw, "answered-12349", "12349", false);
            run_ok(&gw, "answered on 12349", c, 8, 4, 1500);
        });
    });

    // Four long conversations; the other four seats go on a meal break; six callers wait.
    let _talks = callers(&dir, &gw, "talking", "12345", false)
        .args(["-r", "4", "-d", "50000"])
        .calls(4)
        .spawn();
    let talking = |gw: &Gateway| -> Vec<String> {
        get_json(gw, "/api/v1/seats")["seats"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["state"] == "talking")
                    .filter_map(|s| s["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    until(&gw, "four seats talking", Duration::from_secs(20), || {
        talking(&gw).len() == 4
    });
    let busy = talking(&gw);
    for seat in seats.iter().filter(|s| !busy.contains(s)) {
        seat_state(&gw, seat, r#"{"state":"not_ready","reason":"meal"}"#);
    }
    let mut waiting = Vec::new();
    for (service, n) in [("12345", 3), ("12349", 2), ("12348", 1)] {
        waiting.push(
            callers(&dir, &gw, &format!("waiting-{service}"), service, true)
                .args(["-r", "10", "-d", "50000"])
                .calls(n)
                .spawn(),
        );
    }
    until(&gw, "six callers waiting", Duration::from_secs(20), || {
        get_json(&gw, "/api/v1/stats")["totals"]["waiting"] == 6
    });
    let (status, body) = http(
        gw.http,
        "POST",
        "/api/v1/pools/surge",
        Some(r#"{"open":true}"#),
    );
    assert_eq!(status, 200, "{body}");

    // Bad input: hundreds of stream clients that connect and vanish.
    let started = Instant::now();
    vanishing_clients(&gw, 300);
    let vanish_took = started.elapsed();
    let started = Instant::now();
    let (status, _) = http(gw.http, "GET", "/healthz", None);
    assert_eq!(status, 200);
    let (status, _) = http(gw.http, "GET", "/api/v1/stats", None);
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the server answers at once after 300 vanished clients: {:?}",
        started.elapsed()
    );
    assert!(gw.alive(), "{}", gw.log_tail());

    // The page, rendered from the live stream, against the API taken just after.
    let url = format!("http://127.0.0.1:{}/", gw.http);
    let dumped = Instant::now();
    let dom = rendered(&dir, "dump", &url);
    let dump_took = dumped.elapsed();
    fs::write(dir.file("wallboard.html"), &dom).expect("keep the DOM");
    let stats = get_json(&gw, "/api/v1/stats");
    let seat_list = get_json(&gw, "/api/v1/seats");
    let page = figures(&dom);
    let shown = |name: &str| -> &str {
        page.get(name)
            .map(|(text, _)| text.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "no data-figure=\"{name}\" on the page ({} figures)",
                    page.len()
                )
            })
    };
    let mut checked = 0;
    let mut rate = |name: &str, want: &Value| {
        let got = shown_percent(shown(name));
        match want.as_f64() {
            Some(w) => {
                let g = got.unwrap_or_else(|| panic!("{name}: {:?}, want {w}", shown(name)));
                assert!(
                    (g - w * 100.0).abs() <= 0.05 + 1e-9,
                    "{name}: page {g}%, API {w}"
                );
            }
            None => assert_eq!(got, None, "{name}: no figure in the API"),
        }
        checked += 1;
    };
    assert!(dom.contains(r#"data-link="live""#), "the stream was live");
    let platform = &stats["platform"];
    for w in ["today", "1h", "24h"] {
        rate(&format!("answer_rate.{w}"), &platform[w]["answer_rate"]);
        rate(
            &format!("answered_within_rate.{w}"),
            &platform[w]["answered_within_rate"],
        );
    }
    rate("headline.answer_rate", &platform["today"]["answer_rate"]);
    for (line, figures) in stats["lines"].as_object().expect("lines") {
        rate(
            &format!("answer_rate.line.{line}"),
            &figures["today"]["answer_rate"],
        );
    }
    for (queue, figures) in stats["queues"].as_object().expect("queues") {
        rate(
            &format!("answer_rate.queue.{queue}"),
            &figures["today"]["answer_rate"],
        );
    }
    let count = |name: &str| -> u64 {
        shown(name)
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {:?} is not a count", shown(name)))
    };
    let today = &platform["today"];
    assert_eq!(today["offered"], 50, "{today}");
    assert_eq!(today["answered"], 36, "{today}");
    assert_eq!(today["abandoned_short"], 5, "{today}");
    assert_eq!(count("offered.today"), 50);
    assert_eq!(count("answered.today"), 36);
    assert_eq!(
        Some(count("offered.1h")),
        platform["1h"]["offered"].as_u64()
    );
    assert_eq!(count("waiting.total"), 6);
    assert_eq!(
        Some(count("waiting.total")),
        stats["totals"]["waiting"].as_u64()
    );
    // Waits move on while callers wait: the page's may be behind the API's by the time
    // between the two, never ahead.
    let wait_close = |name: &str, want: &Value| {
        let page_s = shown_wait(shown(name));
        let api_s = want.as_u64().map(|ms| ms / 1000);
        match (page_s, api_s) {
            (Some(p), Some(a)) => assert!(
                p <= a + 1 && a <= p + dump_took.as_secs() + 3,
                "{name}: page {p} s, API {a} s"
            ),
            (p, a) => assert_eq!(p, a, "{name}"),
        }
    };
    wait_close("longest_wait.total", &today["longest_wait_ms"]);
    for scope in ["lines", "queues"] {
        let kind = &scope[..scope.len() - 1];
        for (name, figures) in stats[scope].as_object().expect("scope") {
            let now = &figures["15m"];
            assert_eq!(
                Some(count(&format!("waiting.{kind}.{name}"))),
                now["waiting_now"].as_u64(),
                "waiting on {kind} {name}"
            );
            wait_close(
                &format!("longest_wait.{kind}.{name}"),
                &now["longest_wait_ms"],
            );
            assert_eq!(
                Some(count(&format!("offered.{kind}.{name}"))),
                figures["today"]["offered"].as_u64(),
                "offered on {kind} {name}"
            );
        }
    }
    assert_eq!(count("waiting.queue.12345"), 5);
    assert_eq!(count("waiting.line.12348"), 1);
    // Seats by pool and state, against the seat list.
    let mut by_pool: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in seat_list["seats"].as_array().expect("seats") {
        let key = (
            s["pool"].as_str().unwrap_or("").to_owned(),
            s["state"].as_str().unwrap_or("").to_owned(),
        );
        *by_pool.entry(key).or_default() += 1;
    }
    for ((pool, state), n) in &by_pool {
        assert_eq!(
            count(&format!("seats.{pool}.{state}")),
            *n,
            "{pool} {state}"
        );
    }
    assert_eq!(count("seats.intake.talking"), 4);
    assert_eq!(count("seats.intake.not_ready"), 4);
    // Surge, opened by hand, and its reason.
    assert_eq!(stats["surge_open"], true);
    assert_eq!(stats["surge_reason"]["reason"], "manual");
    assert_eq!(shown("surge.open"), "应急席位已开启");
    assert!(
        shown("surge.reason").contains("班长手动操作"),
        "{}",
        shown("surge.reason")
    );
    // Transfers by target (none in this run), every target listed.
    for t in stats["transfers"].as_array().expect("transfers") {
        let key = t["target"].as_str().expect("target");
        let total: u64 = t["outcomes"]
            .as_object()
            .expect("outcomes")
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(count(&format!("transfers.{key}.total")), total, "{key}");
        assert_eq!(
            Some(count(&format!("transfers.{key}.under_way"))),
            t["under_way"].as_u64()
        );
    }
    // The chart: one dot per hour with calls, at the hour's answer rate.
    let hours = stats["today_by_hour"].as_array().expect("hours");
    let with_calls: Vec<&Value> = hours
        .iter()
        .filter(|h| !h["answer_rate"].is_null())
        .collect();
    assert!(!with_calls.is_empty(), "{hours:?}");
    for h in with_calls {
        let name = format!("hour.{}.answer_rate", h["hour"]);
        let (_, tag) = page
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} on the chart"));
        let value: f64 = attr(tag, "data-value")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {tag}"));
        assert!(
            (value - h["answer_rate"].as_f64().unwrap_or(-1.0)).abs() < 1e-9,
            "{name}"
        );
    }
    assert!(checked >= 10);

    // Screenshots: Chinese at 1080p and 2160p, English at 1080p.
    let out = output_dir();
    let shots = [
        ("wallboard.png", "", (1920, 1080)),
        ("wallboard-4k.png", "", (3840, 2160)),
        ("wallboard-en.png", "?lang=en", (1920, 1080)),
    ];
    for (file, query, size) in shots {
        let path = out.join(file);
        let _ = fs::remove_file(&path);
        chromium(
            &dir,
            file,
            &format!("{url}{query}"),
            size,
            &format!("--screenshot={}", path.display()),
        );
        assert_eq!(png_size(&path), size, "{}", path.display());
    }
    let english = rendered(&dir, "dump-en", &format!("{url}?lang=en"));
    assert!(english.contains("Answer rate today"), "English labels");
    assert!(english.contains(r#"<html lang="en""#), "English page");
    eprintln!(
        "wallboard: {checked} rates and every count agree; 300 vanishing clients took {vanish_took:?}; \
         Chromium dump {dump_took:?}; screenshots in {} ({})",
        out.display(),
        browser.display()
    );
    drop(waiting);
}
