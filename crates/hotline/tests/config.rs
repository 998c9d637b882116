//! The plan file: the embedded Zhengzhou plan, and the exact `FILE:LINE: key` message of each
//! kind of bad input.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hotline::config::{
    self, check, parse, ConfigError, MediaPlan, Plan, SurveyPlan, TargetKind, TransferPlan,
    WaitingPlan, EMBEDDED,
};
use ivr_flows::{Action, Feature, Step};

const FILE: &str = "test.toml";

/// The 1-based line of the first `needle` in `text`.
fn line(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the text"));
    text[..at].matches('\n').count() + 1
}

/// The 1-based line of the first `needle` after the first `anchor` in `text`.
fn line_after(text: &str, anchor: &str, needle: &str) -> usize {
    let from = text
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor:?} not in the text"));
    let at = from
        + text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not after {anchor:?}"));
    text[..at].matches('\n').count() + 1
}

/// The embedded plan with `from` replaced once by `to`.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        EMBEDDED.matches(from).count(),
        1,
        "{from:?} must occur once"
    );
    EMBEDDED.replacen(from, to, 1)
}

fn ok(text: &str) -> Plan {
    parse(FILE, text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> ConfigError {
    match parse(FILE, text) {
        Ok(_) => panic!("accepted a bad plan"),
        Err(e) => e,
    }
}

/// Asserts the error has exactly one problem, rendered as `FILE:line: key `key`: message…`.
#[track_caller]
fn assert_one(e: &ConfigError, line: usize, key: &str, message_starts: &str) {
    let shown = e.to_string();
    assert_eq!(e.problems().len(), 1, "{shown}");
    let prefix = format!("{FILE}:{line}: key `{key}`: {message_starts}");
    assert!(
        shown.starts_with(&prefix),
        "got\n  {shown}\nwanted\n  {prefix}…"
    );
    assert!(!shown.contains('\n'), "{shown}");
}

/// Asserts one of the problems is at `line`, about `key`, with a message containing `part`.
#[track_caller]
fn assert_has(e: &ConfigError, line: usize, key: &str, part: &str) {
    assert!(
        e.problems()
            .iter()
            .any(|p| p.line == Some(line) && p.key == key && p.message.contains(part)),
        "no problem at line {line} key `{key}` containing {part:?} in\n{e}"
    );
}

#[test]
fn embedded_plan_is_acd_cores_zhengzhou_plan() {
    let plan = config::zhengzhou();
    assert_eq!(plan.source, "embedded deploy/zhengzhou.toml");
    assert_eq!(plan.acd, acd_core::plan::zhengzhou_plan());
    acd_core::Acd::new(plan.acd.clone()).unwrap();
    assert_eq!(plan.reserved_places, 100);
    assert_eq!(plan.service.answer_rate, 0.98);
    assert_eq!(plan.service.answer_within, Duration::from_secs(15));
    assert_eq!(
        plan.service.short_abandon,
        acd_core::AcdConfig::default().short_abandon
    );
}

#[test]
fn embedded_plan_lines_and_dial_plan() {
    let plan = config::zhengzhou();
    let numbers: Vec<&str> = plan.lines.iter().map(|l| l.number.as_str()).collect();
    let mut expected = vec!["12345".to_owned()];
    expected.extend(
        acd_core::plan::MERGED_LINES
            .iter()
            .map(|(n, _)| n.to_string()),
    );
    expected.push("12348".into());
    assert_eq!(numbers, expected);
    assert_eq!(
        plan.dial_plan.numbers().collect::<Vec<_>>(),
        numbers,
        "every line has a flow"
    );
    for (number, topic) in acd_core::plan::MERGED_LINES {
        let line = plan
            .lines
            .iter()
            .find(|l| l.number == number.to_string())
            .unwrap();
        assert_eq!((line.topic.as_str(), line.queue.as_str()), (topic, "12345"));
        assert_eq!(line.notice, Some(format!("notice_{number}")));
    }
    let flow = |n: &str| plan.dial_plan.flow(n).unwrap().steps.clone();
    assert_eq!(
        flow("12345"),
        [Step::Enqueue {
            topic: "general".into(),
            priority: 0
        }]
    );
    assert_eq!(
        flow("12348"),
        [Step::Enqueue {
            topic: "legal".into(),
            priority: 0
        }]
    );
    let mut run = plan.dial_plan.start("12349", None);
    assert_eq!(
        run.poll_action(),
        Some(Action::Play {
            prompt: "notice_12349".into()
        })
    );
    run.prompt_done();
    assert_eq!(
        run.poll_action(),
        Some(Action::Enqueue {
            line: "12349".into(),
            topic: "民政".into(),
            priority: 0
        })
    );
    let mut run = plan.dial_plan.start("*12", Some("1001"));
    assert_eq!(
        run.poll_action(),
        Some(Action::Feature {
            seat: "1001".into(),
            feature: Feature::NotReady
        })
    );
    let f = plan.dial_plan.features();
    assert_eq!(
        (&*f.ready, &*f.not_ready, &*f.log_out),
        ("*11", "*12", "*13")
    );
}

#[test]
fn embedded_plan_targets() {
    let plan = config::zhengzhou();
    let of = |kind: TargetKind| -> Vec<&str> {
        plan.targets
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| t.number.as_str())
            .collect()
    };
    assert_eq!(
        of(TargetKind::SubPlatform),
        ["12333", "12329", "12320", "12315", "12319", "12393", "12328"]
    );
    assert_eq!(of(TargetKind::SubCenter), ["12367", "12366", "12313"]);
    assert_eq!(of(TargetKind::Emergency), ["110", "119", "120", "122"]);
    assert_eq!(of(TargetKind::ExpertPool).len(), 1);
    assert_eq!(plan.targets.len(), 15);
    // Codes: sub-platforms 1-7, sub-centers 11-13, emergency lines their numbers, experts 9.
    let codes: Vec<&str> = plan.targets.iter().map(|t| t.code.as_str()).collect();
    assert_eq!(
        codes,
        ["1", "2", "3", "4", "5", "6", "7", "11", "12", "13", "110", "119", "120", "122", "9"]
    );
    let unique: std::collections::HashSet<&str> = codes.iter().copied().collect();
    assert_eq!(unique.len(), codes.len());
    // Every trunk target has a loopback placeholder URI and its address; ports by kind.
    let ports: Vec<u16> = plan
        .targets
        .iter()
        .filter(|t| t.kind != TargetKind::ExpertPool)
        .map(|t| {
            let uri = t
                .uri
                .as_deref()
                .unwrap_or_else(|| panic!("{} has no uri", t.key));
            let addr = t
                .trunk_addr
                .unwrap_or_else(|| panic!("{} has no trunk", t.key));
            assert_eq!(uri, format!("sip:{}@127.0.0.1:{}", t.number, addr.port()));
            assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
            assert!(t.pool.is_none() && t.skill.is_none(), "{}", t.key);
            addr.port()
        })
        .collect();
    assert_eq!(
        ports,
        [5071, 5072, 5073, 5074, 5075, 5076, 5077, 5081, 5082, 5083, 5091, 5092, 5093, 5094]
    );
    for t in &plan.targets {
        assert_eq!(t.ticket_url, None, "{}", t.key);
        assert_eq!(t.inbound_priority, 0, "{}", t.key);
        assert_eq!(t.ring_timeout, Duration::from_secs(30), "{}", t.key);
    }
    let experts = plan.target("experts").unwrap();
    assert_eq!(experts.kind, TargetKind::ExpertPool);
    assert_eq!(experts.pool.as_deref(), Some("intake"));
    assert_eq!(experts.skill.as_deref(), Some("legal"));
    assert_eq!((experts.uri.as_ref(), experts.trunk_addr), (None, None));
    assert_eq!(
        plan.transfers,
        TransferPlan {
            ring_timeout: Duration::from_secs(30),
            start: "*2".into(),
            complete: "*3".into(),
            cancel: "*4".into(),
        }
    );
}

#[test]
fn targets_are_found_by_key_number_code_or_trunk() {
    let plan = config::zhengzhou();
    for name in ["renshe", "12333", "1"] {
        assert_eq!(
            plan.target(name).map(|t| t.key.as_str()),
            Some("renshe"),
            "{name}"
        );
    }
    assert_eq!(plan.target("110").unwrap().key, "police");
    assert_eq!(plan.target("11").unwrap().key, "yimin");
    assert_eq!(plan.target("9").unwrap().key, "experts");
    assert_eq!(plan.target("9000").unwrap().key, "experts");
    assert!(plan.target("8").is_none());
    assert!(plan.target("12345").is_none());
    let at = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
    assert_eq!(
        plan.target_from(at("127.0.0.1:5071")).unwrap().key,
        "renshe"
    );
    assert_eq!(
        plan.target_from(at("127.0.0.1:5094")).unwrap().key,
        "traffic"
    );
    // A dual-stack socket reports an IPv4 peer as IPv4-mapped IPv6.
    assert_eq!(
        plan.target_from(at("[::ffff:127.0.0.1]:5081")).unwrap().key,
        "yimin"
    );
    assert!(plan.target_from(at("127.0.0.1:5070")).is_none());
    assert!(plan.target_from(at("127.0.0.2:5071")).is_none());
}

/// The embedded plan with `[targets.<key>]`'s `from` replaced once by `to`.
fn edit_target(key: &str, from: &str, to: &str) -> String {
    let header = format!("[targets.{key}]\n");
    let start = EMBEDDED
        .find(&header)
        .unwrap_or_else(|| panic!("no {header}"));
    let end = EMBEDDED[start + 1..]
        .find("\n[")
        .map_or(EMBEDDED.len(), |e| start + 1 + e);
    let table = &EMBEDDED[start..end];
    assert_eq!(
        table.matches(from).count(),
        1,
        "{from:?} must occur once in {key}"
    );
    format!(
        "{}{}{}",
        &EMBEDDED[..start],
        table.replacen(from, to, 1),
        &EMBEDDED[end..]
    )
}

#[test]
fn target_settings_resolve() {
    let plan = ok(&edit_target(
        "renshe",
        "uri = \"sip:12333@127.0.0.1:5071\"",
        "uri = \"sip:12333@10.20.0.5;transport=udp\"\nticket_url = \"http://10.20.0.6:8080/tickets\"\n\
         inbound_priority = 5\nring_timeout = \"45s\"",
    ));
    let t = plan.target("renshe").unwrap();
    assert_eq!(t.uri.as_deref(), Some("sip:12333@10.20.0.5;transport=udp"));
    assert_eq!(t.trunk_addr, Some("10.20.0.5:5060".parse().unwrap()));
    assert_eq!(
        t.ticket_url.as_deref(),
        Some("http://10.20.0.6:8080/tickets")
    );
    assert_eq!(t.inbound_priority, 5);
    assert_eq!(t.ring_timeout, Duration::from_secs(45));
    assert_eq!(
        plan.target_from("10.20.0.5:5060".parse().unwrap())
            .unwrap()
            .key,
        "renshe"
    );
    // A host name is dialled, but calls from it cannot be recognised by address.
    let plan = ok(&edit_target(
        "renshe",
        "127.0.0.1:5071",
        "sbc.example.org:5071",
    ));
    assert_eq!(plan.target("renshe").unwrap().trunk_addr, None);
    // [transfers] sets the default ring timeout and the keys; skill is optional.
    let plan = ok(&edit(
        "ring_timeout = \"30s\"        #",
        "ring_timeout = \"20s\"        #",
    )
    .replacen("start = \"*2\"", "start = \"*72\"", 1)
    .replacen("skill = \"legal\"\n", "", 1));
    assert!(plan
        .targets
        .iter()
        .all(|t| t.ring_timeout == Duration::from_secs(20)));
    assert_eq!(plan.transfers.start, "*72");
    assert_eq!(plan.target("experts").unwrap().skill, None);
    // Without [transfers] the defaults apply.
    let text = strip_tables(EMBEDDED, &["[transfers]"]);
    assert_eq!(ok(&text).transfers, config::zhengzhou().transfers);
    // Several targets behind one trunk (one carrier SBC for the emergency lines).
    let text = EMBEDDED.replacen("127.0.0.1:5092", "127.0.0.1:5091", 1);
    let plan = ok(&text);
    assert_eq!(
        plan.target_from("127.0.0.1:5091".parse().unwrap())
            .unwrap()
            .key,
        "police"
    );
}

#[test]
fn target_codes_must_be_short_and_unique() {
    let text = edit_target("gongjijin", "code = \"2\"", "code = \"1\"");
    assert_one(
        &err(&text),
        line(&text, "code = \"1\"\nuri = \"sip:12329"),
        "targets.gongjijin.code",
        &format!(
            "code 1 is also targets.renshe's (line {})",
            line(&text, "code = \"1\"")
        ),
    );
    let text = edit_target("gongjijin", "code = \"2\"", "code = \"1234\"");
    assert_one(
        &err(&text),
        line(&text, "code = \"1234\""),
        "targets.gongjijin.code",
        "code \"1234\" must be 1 to 3 digits (a seat keys *2, the code, #)",
    );
    let text = edit_target("gongjijin", "code = \"2\"", "code = \"*2\"");
    assert_one(
        &err(&text),
        line(&text, "code = \"*2\""),
        "targets.gongjijin.code",
        "code \"*2\" must be 1 to 3 digits",
    );
    // 119 is fire's number and code: both clashes are reported.
    let text = edit_target("gongjijin", "code = \"2\"", "code = \"119\"");
    let e = err(&text);
    assert_eq!(e.problems().len(), 2, "{e}");
    assert_has(
        &e,
        line(&text, "code = \"119\"\nuri = \"sip:12329"),
        "targets.gongjijin.code",
        &format!(
            "code 119 is also the number of targets.fire (line {}); a target is looked up by \
             number before code",
            line(&text, "number = \"119\"")
        ),
    );
    assert_has(
        &e,
        line(&text, "code = \"119\"\nuri = \"sip:119@"),
        "targets.fire.code",
        "code 119 is also targets.gongjijin's (line",
    );
    let text = edit_target("gongjijin", "code = \"2\"\n", "");
    assert_one(
        &err(&text),
        line(&text, "[targets.gongjijin]"),
        "targets.gongjijin.code",
        "required key is missing",
    );
}

#[test]
fn trunk_targets_need_a_sip_uri() {
    let text = edit_target("yancao", "uri = \"sip:12313@127.0.0.1:5083\"\n", "");
    assert_one(
        &err(&text),
        line(&text, "[targets.yancao]"),
        "targets.yancao.uri",
        "a target of kind sub_center needs uri, the SIP URI its trunk is dialled at",
    );
    let text = edit_target("police", "uri = \"sip:110@127.0.0.1:5091\"\n", "");
    assert_one(
        &err(&text),
        line(&text, "[targets.police]"),
        "targets.police.uri",
        "a target of kind emergency needs uri",
    );
    for (bad, message) in [
        (
            "http://x",
            "\"http://x\" is not a sip: or sips: URI; write e.g.",
        ),
        ("sip:", "SIP URI \"sip:\" has no host"),
        (
            "sip:12333@10.0.0.5:0",
            "SIP URI \"sip:12333@10.0.0.5:0\" has port \"0\"",
        ),
        (
            "sip:12333@10.0.0.5:65536",
            "SIP URI \"sip:12333@10.0.0.5:65536\" has port",
        ),
        (
            "tel:12333",
            "\"tel:12333\" is not a sip: or sips: URI (tel: is not dialled",
        ),
    ] {
        let text = edit_target(
            "renshe",
            "uri = \"sip:12333@127.0.0.1:5071\"",
            &format!("uri = \"{bad}\""),
        );
        assert_one(
            &err(&text),
            line_after(&text, "[targets.renshe]", "uri = "),
            "targets.renshe.uri",
            message,
        );
    }
}

#[test]
fn expert_pool_targets_take_a_pool_not_a_uri() {
    let text = edit_target("experts", "pool = \"intake\"\n", "");
    assert_one(
        &err(&text),
        line(&text, "[targets.experts]"),
        "targets.experts.pool",
        "an expert_pool target needs pool",
    );
    let text = edit_target("experts", "pool = \"intake\"", "pool = \"experts\"");
    assert_one(
        &err(&text),
        line(&text, "pool = \"experts\""),
        "targets.experts.pool",
        "unknown pool \"experts\"; pools are intake, support, surge, expert, leader",
    );
    let text = edit_target("experts", "pool = \"intake\"", "pool = \"leader\"");
    assert_one(
        &err(&text),
        line(&text, "pool = \"leader\""),
        "targets.experts.pool",
        "pool leader has no seats",
    );
    let text = edit_target("experts", "skill = \"legal\"", "skill = \"law\"");
    assert_one(
        &err(&text),
        line(&text, "skill = \"law\""),
        "targets.experts.skill",
        "unknown topic \"law\"; topics are general, legal",
    );
    let text = edit_target(
        "experts",
        "pool = \"intake\"",
        "pool = \"intake\"\nuri = \"sip:9000@127.0.0.1:5099\"",
    );
    assert_one(
        &err(&text),
        line(&text, "uri = \"sip:9000"),
        "targets.experts.uri",
        "an expert_pool target is this platform's own seats; it takes no uri",
    );
    let text = edit_target(
        "experts",
        "pool = \"intake\"",
        "pool = \"intake\"\ninbound_priority = 3",
    );
    assert_one(
        &err(&text),
        line(&text, "inbound_priority = 3"),
        "targets.experts.inbound_priority",
        "an expert_pool target has no trunk",
    );
    let text = edit_target("renshe", "code = \"1\"", "code = \"1\"\npool = \"intake\"");
    assert_one(
        &err(&text),
        line(&text, "pool = \"intake\"\nuri"),
        "targets.renshe.pool",
        "only an expert_pool target takes a pool",
    );
    let text = edit_target("renshe", "code = \"1\"", "code = \"1\"\nskill = \"人社\"");
    assert_one(
        &err(&text),
        line(&text, "skill = \"人社\""),
        "targets.renshe.skill",
        "only an expert_pool target takes a skill",
    );
}

#[test]
fn ticket_urls_priorities_and_ring_timeouts() {
    let text = edit_target(
        "renshe",
        "# ticket_url = \"http://10.20.0.6:8080/tickets\"",
        "ticket_url = \"https://10.20.0.6/tickets\"",
    );
    assert_one(
        &err(&text),
        line_after(&text, "[targets.renshe]", "ticket_url = "),
        "targets.renshe.ticket_url",
        "\"https://10.20.0.6/tickets\": https is not supported; use an http:// endpoint or a \
         TLS-terminating proxy",
    );
    let text = edit_target(
        "renshe",
        "# ticket_url = \"http://10.20.0.6:8080/tickets\"",
        "ticket_url = \"10.20.0.6/tickets\"",
    );
    assert_one(
        &err(&text),
        line_after(&text, "[targets.renshe]", "ticket_url = "),
        "targets.renshe.ticket_url",
        "\"10.20.0.6/tickets\" is not an http:// URL",
    );
    let text = edit_target(
        "renshe",
        "code = \"1\"",
        "code = \"1\"\ninbound_priority = 256",
    );
    assert_one(
        &err(&text),
        line(&text, "inbound_priority = 256"),
        "targets.renshe.inbound_priority",
        "invalid value: integer `256`, expected u8",
    );
    let text = edit_target(
        "renshe",
        "code = \"1\"",
        "code = \"1\"\nring_timeout = \"0s\"",
    );
    assert_one(
        &err(&text),
        line(&text, "ring_timeout = \"0s\""),
        "targets.renshe.ring_timeout",
        "must be more than 0s, or leave it out for transfers.ring_timeout",
    );
    // Two targets on one trunk must agree on the priority of calls from it.
    let text = EMBEDDED
        .replacen("127.0.0.1:5072", "127.0.0.1:5071", 1)
        .replacen("code = \"2\"", "code = \"2\"\ninbound_priority = 4", 1);
    assert_one(
        &err(&text),
        line(&text, "inbound_priority = 4"),
        "targets.gongjijin.inbound_priority",
        &format!(
            "trunk 127.0.0.1:5071 is also targets.renshe's (line {}), with inbound_priority 0, \
             not 4",
            line(&text, "[targets.renshe]")
        ),
    );
}

#[test]
fn transfer_keys_clashing() {
    let text = edit("complete = \"*3\"", "complete = \"*2\"");
    assert_one(
        &err(&text),
        line(&text, "complete = "),
        "transfers.complete",
        &format!(
            "transfer key *2 is also transfers.start (line {})",
            line(&text, "start = \"*2\"")
        ),
    );
    let text = edit("cancel = \"*4\"", "cancel = \"*11\"");
    assert_one(
        &err(&text),
        line(&text, "cancel = "),
        "transfers.cancel",
        &format!(
            "transfer key *11 is also features.ready (line {})",
            line(&text, "ready = \"*11\"")
        ),
    );
    let text = edit("cancel = \"*4\"", "cancel = \"*21\"");
    assert_one(
        &err(&text),
        line(&text, "cancel = "),
        "transfers.cancel",
        "transfer key *21 and transfers.start (*2 (line",
    );
    let text = edit("start = \"*2\"", "start = \"*8\"");
    assert_one(
        &err(&text),
        line(&text, "start = "),
        "transfers.start",
        "transfer key *8 and the survey key *8 begin alike",
    );
    let text = edit("start = \"*2\"", "start = \"2\"");
    assert_one(
        &err(&text),
        line(&text, "start = "),
        "transfers.start",
        "transfer key \"2\" must start with *",
    );
    let text = edit("start = \"*2\"", "start = \"*2a\"");
    assert_one(
        &err(&text),
        line(&text, "start = "),
        "transfers.start",
        "transfer key \"*2a\" may hold only digits, * and #",
    );
    let text = edit(
        "ring_timeout = \"30s\"        #",
        "ring_timeout = \"0s\"        #",
    );
    assert_one(
        &err(&text),
        line(&text, "ring_timeout = \"0s\""),
        "transfers.ring_timeout",
        "must be more than 0s",
    );
    let text = edit("cancel = \"*4\"", "cancel = \"*4\"\nabort = \"*5\"");
    assert_one(
        &err(&text),
        line(&text, "abort"),
        "transfers.abort",
        "unknown field `abort`",
    );
}

#[test]
fn shipped_file_loads_and_is_summarised() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/zhengzhou.toml");
    let plan = config::load(&path).unwrap();
    assert_eq!(plan.source, path.display().to_string());
    assert_eq!(plan.acd, config::zhengzhou().acd);
    let summary = check::check_config(&path).unwrap();
    for part in [
        "plan OK",
        "lines      14",
        "seats     190",
        "intake    114  (14 with skills, wrap-up 30s)",
        "support    51",
        "surge      25",
        "targets    15",
        "  sub-platform: 1=12333 2=12329",
        "  emergency: 110=110 119=119 120=120 122=122",
        "  keys: *2 <code> # to transfer, *3 complete, *4 cancel; ring 30s unless set",
        "reserved places 100",
        "media    RTP ports 20000-29999 on the SIP listen address, hang up after 1m without \
         RTP; 52 prompts (embedded deploy/prompts); survey on (answer within 10s)",
    ] {
        assert!(summary.contains(part), "{part:?} not in\n{summary}");
    }
}

#[test]
fn missing_file_names_the_file() {
    let e = config::load(Path::new("/nonexistent/plan.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/plan.toml: cannot read: "),
        "{e}"
    );
    let e = check::check_config(Path::new("/nonexistent/plan.toml")).unwrap_err();
    assert!(
        e.starts_with("/nonexistent/plan.toml: cannot read: "),
        "{e}"
    );
}

#[test]
fn unknown_pool_in_a_tier() {
    let text = edit(
        "pools = [\"intake\"]\nmin_level = 7",
        "pools = [\"intake\", \"experts\"]\nmin_level = 7",
    );
    let e = err(&text);
    assert_eq!(
        e.to_string(),
        format!(
            "{FILE}:{}: key `queues.12348.tiers[0].pools`: unknown pool \"experts\"; pools \
             are intake, support, surge, expert, leader",
            line(&text, "[\"intake\", \"experts\"]")
        )
    );
}

#[test]
fn unknown_pool_table() {
    let text = edit("[pools.support]", "[pools.backoffice]");
    assert_one(
        &err(&text),
        line(&text, "[pools.backoffice]"),
        "pools.backoffice",
        "unknown pool \"backoffice\"",
    );
}

#[test]
fn tier_without_pools_or_with_seatless_pool() {
    let text = edit(
        "pools = [\"intake\"]\nmin_level = 7",
        "pools = []\nmin_level = 7",
    );
    assert_one(
        &err(&text),
        line(&text, "pools = []"),
        "queues.12348.tiers[0].pools",
        "a tier needs at least one pool; pools are intake, support, surge, expert, leader",
    );
    let text = edit(
        "pools = [\"intake\"]\nmin_level = 7",
        "pools = [\"intake\", \"leader\"]\nmin_level = 7",
    );
    assert_one(
        &err(&text),
        line(&text, "\"leader\""),
        "queues.12348.tiers[0].pools",
        "pool leader has no seats",
    );
    let text = edit("min_level = 7", "min_level = 11");
    assert_one(
        &err(&text),
        line(&text, "min_level = 11"),
        "queues.12348.tiers[0].min_level",
        "skill level 11 is outside 1..=10",
    );
}

#[test]
fn unknown_keys_are_refused_with_file_line_and_key() {
    let text = edit(
        "reserved_places = 100",
        "reserved_places = 100\ncolour = \"red\"",
    );
    assert_one(
        &err(&text),
        line(&text, "colour"),
        "colour",
        "unknown field `colour`",
    );
    let text = edit(
        "queue = \"12348\"\ntopic = \"legal\"",
        "queue = \"12348\"\ntopic = \"legal\"\nqueu = \"x\"",
    );
    assert_one(
        &err(&text),
        line(&text, "queu = "),
        "lines[13].queu",
        "unknown field `queu`, expected one of",
    );
    let text = edit(
        "pools = [\"intake\"]\nmin_level = 7",
        "pools = [\"intake\"]\nmin_lvl = 7",
    );
    assert_one(
        &err(&text),
        line(&text, "min_lvl"),
        "queues.12348.tiers[0].min_lvl",
        "unknown field `min_lvl`",
    );
    let text = edit(
        "skills = { legal = 8 }",
        "skills = { legal = 8 }\nlevel = 8",
    );
    assert_one(
        &err(&text),
        line(&text, "level = 8"),
        "seats[0].level",
        "unknown field `level`",
    );
    let text = edit(
        "kind = \"expert_pool\"",
        "kind = \"expert_pool\"\nurl = \"x\"",
    );
    assert_one(
        &err(&text),
        line_after(&text, "[targets.experts]", "url = "),
        "targets.experts.url",
        "unknown field `url`",
    );
}

#[test]
fn syntax_errors_name_line_and_key() {
    let text = edit(
        "[queues.12345]\nstrategy = \"longest_idle\"",
        "[queues.12345]\nstrategy = \"longest_idle",
    );
    let e = err(&text);
    assert_eq!(e.problems().len(), 1, "{e}");
    let p = &e.problems()[0];
    assert_eq!(p.line, Some(line(&text, "[queues.12345]") + 1));
    assert_eq!(p.key, "queues.12345.strategy");
    assert!(e.to_string().starts_with(&format!(
        "{FILE}:{}: key `queues.12345.strategy`: ",
        p.line.unwrap()
    )));
    let text = edit("number = \"12318\"", "number = = \"12318\"");
    let e = err(&text);
    assert_eq!(e.problems()[0].line, Some(line(&text, "= = ")));
    assert_eq!(e.problems()[0].key, "lines[11].number");
}

#[test]
fn bad_types_name_line_and_key() {
    let text = edit(
        "queue = \"12348\"\ntopic = \"legal\"",
        "queue = \"12348\"\ntopic = \"legal\"\npriority = \"high\"",
    );
    assert_one(
        &err(&text),
        line(&text, "priority = \"high\""),
        "lines[13].priority",
        "invalid type: string \"high\", expected u8",
    );
    let text = edit("reserved_places = 100", "reserved_places = -1");
    assert_one(
        &err(&text),
        line(&text, "reserved_places"),
        "reserved_places",
        "invalid value: integer `-1`, expected u32",
    );
    let text = edit(
        "strategy = \"longest_idle\"   #",
        "strategy = \"fastest\"   #",
    );
    assert_one(
        &err(&text),
        line(&text, "\"fastest\""),
        "queues.12345.strategy",
        "unknown variant `fastest`, expected one of `longest_idle`",
    );
    let text = edit(
        "kind = \"emergency\"\ncode = \"110\"",
        "kind = \"urgent\"\ncode = \"110\"",
    );
    assert_one(
        &err(&text),
        line(&text, "\"urgent\""),
        "targets.police.kind",
        "unknown variant `urgent`, expected one of `sub_platform`",
    );
}

#[test]
fn missing_keys_are_named() {
    let text = edit(
        "name = \"公共法律服务热线\"\nqueue = \"12348\"\n",
        "name = \"公共法律服务热线\"\n",
    );
    let e = err(&text);
    assert_eq!(e.problems().len(), 1, "{e}");
    assert_eq!(e.problems()[0].key, "lines[13].queue");
    assert_eq!(e.problems()[0].message, "required key is missing");
    let header = text.rfind("[[lines]]").unwrap();
    let header_line = text[..header].matches('\n').count() + 1;
    assert_eq!(e.problems()[0].line, Some(header_line), "{e}");
}

#[test]
fn missing_top_level_keys_and_multi_line_toml_messages() {
    assert_one(
        &err("reserved_places = 1\n"),
        1,
        "topics",
        "required key is missing",
    );
    // The toml crate explains some syntax errors over several lines; one problem, one line.
    let text = edit("[pools.surge]", "[pools.surge");
    assert_one(
        &err(&text),
        line(&text, "[pools.surge"),
        "pools.surge",
        "invalid table header",
    );
}

#[test]
fn durations() {
    for (written, secs) in [
        ("\"2m\"", 120),
        ("\"1h30m\"", 5400),
        ("15", 15),
        ("\"15s\"", 15),
    ] {
        let plan = ok(&edit(
            "short_abandon = \"5s\"",
            &format!("short_abandon = {written}"),
        ));
        assert_eq!(plan.service.short_abandon, Duration::from_secs(secs));
        assert_eq!(plan.acd.short_abandon, Duration::from_secs(secs));
    }
    let text = edit("answer_within = \"15s\"", "answer_within = \"15 sec\"");
    assert_one(
        &err(&text),
        line(&text, "15 sec"),
        "service.answer_within",
        "\"15 sec\" is not a duration; write e.g. \"15s\", \"2m\", \"1h30m\", \"500ms\" or \
         whole seconds",
    );
    let text = edit("wrap_up = \"60s\"", "wrap_up = -60");
    assert_one(
        &err(&text),
        line(&text, "-60"),
        "pools.support.wrap_up",
        "-60 is negative",
    );
    let text = edit("answer_within = \"15s\"", "answer_within = 0");
    assert_one(
        &err(&text),
        line(&text, "answer_within = 0"),
        "service.answer_within",
        "must be more than 0s",
    );
}

#[test]
fn rates_outside_zero_to_one() {
    let text = edit("answer_rate = 0.98", "answer_rate = 98");
    assert_one(
        &err(&text),
        line(&text, "answer_rate = 98"),
        "service.answer_rate",
        "98 is not a rate; write a fraction from 0 to 1, e.g. 0.98",
    );
    let text = edit("answer_rate_below = 0.80", "answer_rate_below = -0.1");
    assert_one(
        &err(&text),
        line(&text, "answer_rate_below = -0.1"),
        "surge.answer_rate_below",
        "-0.1 is not a rate",
    );
}

#[test]
fn surge_thresholds_of_zero_are_off() {
    let plan = ok(&edit("longest_wait = \"60s\"", "longest_wait = 0"));
    assert_eq!(plan.acd.surge.longest_wait, None);
    let plan = ok(&edit("calls_waiting = 0", "calls_waiting = 30"));
    assert_eq!(plan.acd.surge.calls_waiting, Some(30));
    let plan = ok(&edit("answer_rate_below = 0.80", "answer_rate_below = 0"));
    assert_eq!(plan.acd.surge.answer_rate_below_permille, None);
}

#[test]
fn line_feeding_an_unknown_queue() {
    let text = edit(
        "queue = \"12348\"\ntopic = \"legal\"",
        "queue = \"12347\"\ntopic = \"legal\"",
    );
    let e = err(&text);
    assert_has(
        &e,
        line(&text, "queue = \"12347\""),
        "lines[13].queue",
        "unknown queue \"12347\"; queues are 12345, 12348",
    );
    // …which leaves queue 12348 unfed: both are reported, one per line, by line.
    assert_has(
        &e,
        line(&text, "[queues.12348]"),
        "queues.12348",
        "no line feeds this queue",
    );
    assert_eq!(e.problems().len(), 2);
    let shown = e.to_string();
    assert_eq!(shown.lines().count(), 2, "{shown}");
    assert!(
        shown.lines().all(|l| l.starts_with("test.toml:")),
        "{shown}"
    );
}

#[test]
fn two_lines_with_one_number() {
    let text = edit("number = \"12350\"", "number = \"12349\"");
    assert_one(
        &err(&text),
        line(&text, "number = \"12349\"\nname = \"安全生产"),
        "lines[12].number",
        &format!(
            "line 12349 is defined twice; also lines[1] (line {})",
            line(&text, "[[lines]]\nnumber = \"12349\"")
        ),
    );
}

#[test]
fn line_numbers_must_be_distributor_lines() {
    let text = edit("number = \"66976996\"", "number = \"037166976996\"");
    assert_one(
        &err(&text),
        line(&text, "037166976996"),
        "lines[6].number",
        "line number \"037166976996\" must be digits without a leading 0",
    );
    // Integers are accepted for numbers.
    let plan = ok(&edit("number = \"12350\"", "number = 12350"));
    assert_eq!(plan.lines[12].number, "12350");
}

#[test]
fn seats_in_two_pools_or_twice() {
    let text = edit("seats = \"3001-3025\"", "seats = \"3001-3025, 1113-1114\"");
    assert_one(
        &err(&text),
        line(&text, "3001-3025, 1113"),
        "pools.surge.seats",
        &format!(
            "seats 1113-1114 are already in pool intake (line {}); a seat belongs to one pool",
            line(&text, "seats = \"1001-1114\"")
        ),
    );
    let text = edit("seats = \"2001-2051\"", "seats = \"2001-2051, 2051\"");
    assert_one(
        &err(&text),
        line(&text, "2001-2051, 2051"),
        "pools.support.seats",
        "seat 2051 is listed twice",
    );
    let text = edit("ids = \"1106-1108\"", "ids = \"1105-1108\"");
    assert_one(
        &err(&text),
        line(&text, "1105-1108"),
        "seats[1].ids",
        "seat 1105 is already set in seats[0] \"12348 公共法律服务 法律服务专家\"",
    );
    let text = edit("ids = \"1112-1114\"", "ids = \"1112-1116\"");
    assert_one(
        &err(&text),
        line(&text, "1112-1116"),
        "seats[3].ids",
        "seats 1115-1116 are in no pool",
    );
}

#[test]
fn skills_on_unknown_topics() {
    let text = edit("skills = { \"人社\" = 8 }", "skills = { \"人设\" = 8 }");
    assert_one(
        &err(&text),
        line(&text, "人设"),
        "seats[1].skills.人设",
        "unknown topic \"人设\"; topics are general, legal, 人社",
    );
    let text = edit("skills = { legal = 8 }", "skills = { legal = 0 }");
    assert_one(
        &err(&text),
        line(&text, "legal = 0"),
        "seats[0].skills.legal",
        "skill level 0 is outside 1..=10",
    );
    let text = edit("topic = \"安全生产\"", "topic = \"安全\"");
    assert_one(
        &err(&text),
        line(&text, "topic = \"安全\""),
        "lines[12].topic",
        "unknown topic \"安全\"",
    );
    let text = edit("    \"旅游\",", "    \"旅游\",\n    \"legal\",");
    assert_one(
        &err(&text),
        line_after(&text, "\"旅游\",", "\"legal\","),
        "topics",
        &format!(
            "topic \"legal\" is listed twice (line {})",
            line(&text, "\"legal\",  ")
        ),
    );
}

#[test]
fn target_numbers_clashing_with_lines_seats_or_features() {
    let text = edit("number = \"12313\"", "number = \"12349\"");
    assert_one(
        &err(&text),
        line(&text, "number = \"12349\"\nkind"),
        "targets.yancao.number",
        "number 12349 is also a line (lines[1] (line",
    );
    let text = edit("number = \"9000\"", "number = \"2001\"");
    assert_one(
        &err(&text),
        line(&text, "number = \"2001\""),
        "targets.experts.number",
        "number 2001 is also a seat id",
    );
    let text = edit("number = \"122\"", "number = \"120\"");
    assert_one(
        &err(&text),
        line(
            &text,
            "number = \"120\"\nkind = \"emergency\"\ncode = \"122\"",
        ),
        "targets.traffic.number",
        "number 120 is also targets.ambulance",
    );
    let text = edit(
        "kind = \"expert_pool\"",
        "kind = \"expert_pool\"\nuri = \"sip:9000@10.0.0.1\"",
    );
    assert_one(
        &err(&text),
        line_after(&text, "[targets.experts]", "uri = "),
        "targets.experts.uri",
        "an expert_pool target is this platform's own seats",
    );
}

#[test]
fn feature_codes_clashing() {
    let text = edit("ready = \"*11\"", "ready = \"12345\"");
    assert_one(
        &err(&text),
        line(&text, "ready = \"12345\""),
        "features.ready",
        "feature code 12345 is also a line (lines[0] (line",
    );
    let text = edit("log_out = \"*13\"", "log_out = \"*11\"");
    assert_one(
        &err(&text),
        line(&text, "log_out"),
        "features.log_out",
        "feature code *11 is also features.ready",
    );
}

#[test]
fn queue_exits() {
    let plan = ok(&edit(
        "[queues.12348]\nstrategy = \"longest_idle\"",
        "[queues.12348]\nmax_wait = { after = \"10m\", exit = \"transfer\", to = \"12345\" }\nstrategy = \"longest_idle\"",
    ));
    assert_eq!(
        plan.acd.queues[1].max_wait,
        Some(acd_core::MaxWait {
            after: Duration::from_secs(600),
            exit: acd_core::Exit::Transfer(acd_core::Line(12345)),
        })
    );
    let text = edit(
        "[queues.12348]\nstrategy = \"longest_idle\"",
        "[queues.12348]\nmax_wait = { after = \"10m\", exit = \"transfer\", to = \"99999\" }\nstrategy = \"longest_idle\"",
    );
    assert_one(
        &err(&text),
        line_after(&text, "[queues.12348]", "max_wait"),
        "queues.12348.max_wait.to",
        "\"99999\" is neither a line nor a transfer target's number",
    );
    let text = edit(
        "[queues.12348]\nstrategy = \"longest_idle\"",
        "[queues.12348]\nmax_wait = { after = \"10m\", exit = \"transfer\" }\nstrategy = \"longest_idle\"",
    );
    assert_one(
        &err(&text),
        line_after(&text, "[queues.12348]", "max_wait"),
        "queues.12348.max_wait.exit",
        "exit \"transfer\" needs `to`",
    );
}

#[test]
fn a_notice_plays_before_queueing() {
    let plan = ok(&edit("notice = \"notice_12336\"", "notice = \"welcome\""));
    let mut run = plan.dial_plan.start("12336", None);
    assert_eq!(
        run.poll_action(),
        Some(Action::Play {
            prompt: "welcome".into()
        })
    );
    run.prompt_done();
    assert!(matches!(run.poll_action(), Some(Action::Enqueue { .. })));
    // 12345 has no notice.
    let mut run = plan.dial_plan.start("12345", None);
    assert!(matches!(run.poll_action(), Some(Action::Enqueue { .. })));
}

#[test]
fn several_problems_are_all_reported() {
    let text = edit("answer_rate = 0.98", "answer_rate = 2.0");
    let text = text.replacen("topic = \"旅游\"", "topic = \"tourism\"", 1);
    let e = err(&text);
    assert_eq!(e.problems().len(), 2, "{e}");
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines[0].starts_with(&format!(
        "{FILE}:{}: key `service.answer_rate`",
        line(&text, "answer_rate = 2.0")
    )));
    assert!(lines[1].starts_with(&format!(
        "{FILE}:{}: key `lines[3].topic`",
        line(&text, "\"tourism\"")
    )));
}

// ---------------------------------------------------------------------------------------
// Media, waiting, survey and prompts.

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hotline-config-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shipped_prompts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prompts")
}

/// A directory holding copies of the shipped prompts, without those in `leave_out`.
fn prompts_copy(leave_out: &[&str]) -> TempDir {
    let dir = TempDir::new("prompts");
    for entry in std::fs::read_dir(shipped_prompts()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let stem = name.strip_suffix(".wav");
        if stem.is_some_and(|s| !leave_out.contains(&s)) {
            std::fs::copy(&path, dir.0.join(&name)).unwrap();
        }
    }
    dir
}

/// The embedded plan with `[media]` taking prompts from `dir`.
fn with_prompts_dir(text: &str, dir: &Path) -> String {
    let from = "[media]\n";
    assert_eq!(text.matches(from).count(), 1);
    text.replacen(
        from,
        &format!("[media]\nprompts = {:?}\n", dir.display().to_string()),
        1,
    )
}

#[test]
fn embedded_plan_media_waiting_survey_and_prompts() {
    let plan = config::zhengzhou();
    assert_eq!(
        plan.media,
        MediaPlan {
            address: None,
            ports: 20000..=29999,
            no_rtp_timeout: Some(Duration::from_secs(60)),
        }
    );
    assert_eq!(
        plan.survey,
        Some(SurveyPlan {
            prompt: "survey".into(),
            thanks: "survey_thanks".into(),
            no_answer: "survey_none".into(),
            timeout: Duration::from_secs(10),
        })
    );
    assert_eq!(plan.prompts.len(), 52);
    let defaults = WaitingPlan {
        welcome: Some("welcome".into()),
        music: Some("music".into()),
        announce_every: Some(Duration::from_secs(60)),
        position: true,
        estimated_wait: true,
    };
    for line in &plan.lines {
        assert_eq!(line.waiting, defaults, "{}", line.number);
        if let Some(notice) = &line.notice {
            assert!(plan.prompts.contains(notice), "{notice}");
        }
    }
    assert_eq!(plan.lines.iter().filter(|l| l.notice.is_some()).count(), 12);
    for (number, _) in acd_core::plan::MERGED_LINES {
        let name = format!("notice_{number}");
        assert!(plan.prompts.get(&name).is_some(), "{name}");
    }
    for n in 1..=30 {
        assert!(plan.prompts.number(n).is_some(), "n{n}");
    }
    // The defaults are what the file spells out.
    let bare = strip_tables(EMBEDDED, &["[media]", "[waiting]", "[survey]"]);
    let plain = ok(&bare);
    assert_eq!(plain.media, plan.media);
    assert_eq!(plain.survey, plan.survey);
    assert_eq!(plain.lines, plan.lines);
}

/// `text` without the tables whose headers are given (each up to the next blank line).
fn strip_tables(text: &str, headers: &[&str]) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for l in text.lines() {
        if headers.contains(&l.trim()) {
            skipping = true;
        } else if skipping && l.trim().is_empty() {
            skipping = false;
        }
        if !skipping {
            out.push_str(l);
            out.push('\n');
        }
    }
    for h in headers {
        assert!(!out.contains(h), "{h}");
    }
    out
}

#[test]
fn a_missing_notice_prompt_names_file_line_and_key() {
    let text = edit("notice = \"notice_12336\"", "notice = \"notice_12336x\"");
    let dir = TempDir::new("plan");
    let path = dir.0.join("plan.toml");
    std::fs::write(&path, &text).unwrap();
    let e = config::load(&path).unwrap_err();
    let shown = e.to_string();
    let prefix = format!(
        "{}:{}: key `lines[2].notice`: no prompt \"notice_12336x\" in the embedded prompts (52 \
         prompts: ",
        path.display(),
        line(&text, "notice_12336x")
    );
    assert!(
        shown.starts_with(&prefix),
        "got\n  {shown}\nwanted\n  {prefix}…"
    );
    assert_eq!(e.problems().len(), 1, "{shown}");
    // check-config reports the same.
    let e = check::check_config(&path).unwrap_err();
    assert!(e.starts_with(&prefix), "{e}");
    // And from a prompts directory, naming the directory.
    let prompts = prompts_copy(&[]);
    let text = with_prompts_dir(&text, &prompts.0);
    assert_one(
        &err(&text),
        line(&text, "notice_12336x"),
        "lines[2].notice",
        &format!(
            "no prompt \"notice_12336x\" in prompts directory {} (52 prompts: ",
            prompts.0.display()
        ),
    );
}

#[test]
fn a_prompts_directory_without_music_names_waiting_music() {
    let prompts = prompts_copy(&["music"]);
    let text = with_prompts_dir(EMBEDDED, &prompts.0);
    assert_one(
        &err(&text),
        line_after(&text, "[waiting]", "music = "),
        "waiting.music",
        &format!(
            "no prompt \"music\" in prompts directory {} (51 prompts: ",
            prompts.0.display()
        ),
    );
    // Silence needs no music.
    let text = text.replacen("music = \"music\"", "music = \"\"", 1);
    let plan = ok(&text);
    assert_eq!(plan.prompts.len(), 51);
    assert!(plan.lines.iter().all(|l| l.waiting.music.is_none()));
}

#[test]
fn a_prompts_directory_with_all_prompts_loads_relative_to_the_file() {
    let dir = TempDir::new("relative");
    let prompts = prompts_copy(&[]);
    let sub = dir.0.join("voice");
    std::fs::rename(&prompts.0, &sub)
        .or_else(|_| {
            std::fs::create_dir_all(&sub)?;
            for e in std::fs::read_dir(&prompts.0)? {
                let e = e?;
                std::fs::copy(e.path(), sub.join(e.file_name()))?;
            }
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
    let text = EMBEDDED.replacen("[media]\n", "[media]\nprompts = \"voice\"\n", 1);
    let path = dir.0.join("plan.toml");
    std::fs::write(&path, &text).unwrap();
    let plan = config::load(&path).unwrap();
    assert_eq!(plan.prompts.len(), 52);
    assert_eq!(plan.prompts.source(), sub.display().to_string());
    let summary = check::check_config(&path).unwrap();
    assert!(summary.contains("52 prompts ("), "{summary}");
}

#[test]
fn prompt_directory_problems_name_media_prompts() {
    let text = EMBEDDED.replacen(
        "[media]\n",
        "[media]\nprompts = \"/nonexistent/hotline-prompts\"\n",
        1,
    );
    assert_one(
        &err(&text),
        line(&text, "/nonexistent/hotline-prompts"),
        "media.prompts",
        "cannot read prompts directory /nonexistent/hotline-prompts: ",
    );
    let prompts = prompts_copy(&[]);
    let bad = prompts.0.join("broken.wav");
    std::fs::write(&bad, b"RIFF\x04\x00\x00\x00WAVE").unwrap();
    let text = with_prompts_dir(EMBEDDED, &prompts.0);
    assert_one(
        &err(&text),
        line_after(&text, "[media]", "prompts = "),
        "media.prompts",
        &format!("prompt {} does not load: ", bad.display()),
    );
    let text = EMBEDDED.replacen("[media]\n", "[media]\nprompts = \"\"\n", 1);
    assert_one(
        &err(&text),
        line_after(&text, "[media]", "prompts = "),
        "media.prompts",
        "a prompts directory needs a path",
    );
}

#[test]
fn missing_notice_prompts_are_needed_only_when_announcing() {
    let prompts = prompts_copy(&["position_before", "n7", "n30", "wait_minutes"]);
    let text = with_prompts_dir(EMBEDDED, &prompts.0);
    let e = err(&text);
    assert_eq!(e.problems().len(), 3, "{e}");
    let pos = line_after(&text, "[waiting]", "position = ");
    let est = line_after(&text, "[waiting]", "estimated_wait = ");
    assert_has(&e, pos, "waiting.position", "no prompt \"position_before\"");
    assert_has(
        &e,
        est,
        "waiting.estimated_wait",
        "no prompt \"wait_minutes\"",
    );
    assert_has(
        &e,
        pos,
        "waiting.position",
        "no number prompts \"n7\", \"n30\"",
    );
    // Without the position only the estimated wait needs prompts.
    let text = text.replacen("position = true", "position = false", 1);
    let e = err(&text);
    assert_eq!(e.problems().len(), 2, "{e}");
    assert_has(
        &e,
        est,
        "waiting.estimated_wait",
        "no number prompts \"n7\", \"n30\"",
    );
    // Without notices, none.
    let text = text.replacen("announce_every = \"60s\"", "announce_every = \"0s\"", 1);
    let plan = ok(&text);
    assert!(plan
        .lines
        .iter()
        .all(|l| l.waiting.announce_every.is_none()));
}

#[test]
fn missing_survey_prompts_unless_disabled() {
    let prompts = prompts_copy(&["survey_thanks"]);
    let text = with_prompts_dir(EMBEDDED, &prompts.0);
    assert_one(
        &err(&text),
        line(&text, "thanks = \"survey_thanks\""),
        "survey.thanks",
        "no prompt \"survey_thanks\" in prompts directory ",
    );
    let text = text.replacen("enabled = true", "enabled = false", 1);
    assert_eq!(ok(&text).survey, None);
    let text = edit(
        "no_answer = \"survey_none\"\ntimeout = \"10s\"",
        "no_answer = \"survey_none\"\ntimeout = \"0s\"",
    );
    assert_one(
        &err(&text),
        line(&text, "timeout = \"0s\""),
        "survey.timeout",
        "must be more than 0s",
    );
}

#[test]
fn unknown_keys_in_the_new_tables() {
    let text = edit(
        "no_answer = \"survey_none\"\ntimeout = \"10s\"",
        "no_answer = \"survey_none\"\ntimeout = \"10s\"\nquestion = \"x\"",
    );
    assert_one(
        &err(&text),
        line(&text, "question = "),
        "survey.question",
        "unknown field `question`, expected one of `enabled`, `prompt`, `thanks`, `no_answer`, \
         `timeout`",
    );
    let text = edit(
        "ports = \"20000-29999\"",
        "ports = \"20000-29999\"\nport = 5",
    );
    assert_one(
        &err(&text),
        line(&text, "port = 5"),
        "media.port",
        "unknown field `port`",
    );
    let text = edit(
        "announce_every = \"60s\"",
        "announce_every = \"60s\"\nhold = 1",
    );
    assert_one(
        &err(&text),
        line(&text, "hold = 1"),
        "waiting.hold",
        "unknown field `hold`",
    );
    let text = edit(
        "notice = \"notice_12336\"",
        "notice = \"notice_12336\"\nwaiting = { musik = \"x\" }",
    );
    assert_one(
        &err(&text),
        line(&text, "musik"),
        "lines[2].waiting.musik",
        "unknown field `musik`",
    );
}

#[test]
fn bad_media_ports_and_address() {
    for (ports, part) in [
        ("20001-20003", "must start on an even port"),
        ("5-10", "must lie within 1024-65535"),
        ("30000-20000", "runs backwards"),
        ("20000-20001", "holds 1 RTP/RTCP pair; need at least 2"),
        ("20000", "is not a port range"),
    ] {
        let text = edit("ports = \"20000-29999\"", &format!("ports = \"{ports}\""));
        assert_one(
            &err(&text),
            line(&text, &format!("ports = \"{ports}\"")),
            "media.ports",
            &format!("port range {ports:?} {part}").replace(
                &format!("port range {ports:?} is not"),
                &format!("{ports:?} is not"),
            ),
        );
    }
    let text = edit(
        "ports = \"20000-29999\"",
        "ports = \"1024-1027\"\naddress = \"10.0.0.5\"",
    )
    .replacen("no_rtp_timeout = \"60s\"", "no_rtp_timeout = \"0s\"", 1);
    let plan = ok(&text);
    assert_eq!(
        plan.media,
        MediaPlan {
            address: Some("10.0.0.5".parse().unwrap()),
            ports: 1024..=1027,
            no_rtp_timeout: None,
        }
    );
    let text = edit(
        "ports = \"20000-29999\"",
        "ports = \"20000-29999\"\naddress = \"10.0.0\"",
    );
    assert_one(
        &err(&text),
        line(&text, "address = "),
        "media.address",
        "\"10.0.0\" is not an IP address",
    );
    let text = edit(
        "ports = \"20000-29999\"",
        "ports = \"20000-29999\"\naddress = \"::\"",
    );
    assert_one(
        &err(&text),
        line(&text, "address = "),
        "media.address",
        "\"::\" cannot be written in SDP",
    );
}

#[test]
fn waiting_overrides_line_over_queue_over_table_over_defaults() {
    // [waiting]: no welcome; 12345's queue: other music, no position; 12336: its own music
    // and announce period; 12348's queue: nothing of its own.
    let text = edit("welcome = \"welcome\"", "welcome = \"\"");
    let text = text.replacen(
        "[queues.12345]\n",
        "[queues.12345]\nwaiting = { music = \"queue_busy\", position = false }\n",
        1,
    );
    let text = text.replacen(
        "notice = \"notice_12336\"\n",
        "notice = \"notice_12336\"\nwaiting = { music = \"welcome\", announce_every = \"2m\", \
         welcome = \"queue_busy\" }\n",
        1,
    );
    let plan = ok(&text);
    let of = |n: &str| {
        plan.lines
            .iter()
            .find(|l| l.number == n)
            .unwrap()
            .waiting
            .clone()
    };
    assert_eq!(
        of("12345"),
        WaitingPlan {
            welcome: None,
            music: Some("queue_busy".into()),
            announce_every: Some(Duration::from_secs(60)),
            position: false,
            estimated_wait: true,
        }
    );
    assert_eq!(
        of("12336"),
        WaitingPlan {
            welcome: Some("queue_busy".into()),
            music: Some("welcome".into()),
            announce_every: Some(Duration::from_secs(120)),
            position: false,
            estimated_wait: true,
        }
    );
    assert_eq!(
        of("12348"),
        WaitingPlan {
            welcome: None,
            music: Some("music".into()),
            announce_every: Some(Duration::from_secs(60)),
            position: true,
            estimated_wait: true,
        }
    );
    // A missing prompt in an override is reported at the override.
    let text = text.replacen("music = \"queue_busy\"", "music = \"jazz\"", 1);
    assert_one(
        &err(&text),
        line(&text, "\"jazz\""),
        "queues.12345.waiting.music",
        "no prompt \"jazz\" in the embedded prompts",
    );
    // A table form of the override works too, and a bad duration in one names its key.
    let text = EMBEDDED.replacen(
        "[[queues.12348.tiers]]      # legal experts first",
        "[queues.12348.waiting]\nannounce_every = \"soon\"\n\n[[queues.12348.tiers]]      # legal experts first",
        1,
    );
    assert_one(
        &err(&text),
        line(&text, "\"soon\""),
        "queues.12348.waiting.announce_every",
        "\"soon\" is not a duration",
    );
}
