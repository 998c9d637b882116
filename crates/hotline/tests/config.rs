//! The plan file: the embedded Zhengzhou plan, and the exact `FILE:LINE: key` message of each
//! kind of bad input.

use std::path::Path;
use std::time::Duration;

use hotline::config::{self, check, parse, ConfigError, Plan, TargetKind, EMBEDDED};
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
        assert_eq!(line.notice, None);
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
    assert!(plan.targets.iter().all(|t| t.uri.is_none()));
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
        "reserved places 100",
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
        line(&text, "url = "),
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
        "kind = \"emergency\"\n\n[targets.fire]",
        "kind = \"urgent\"\n\n[targets.fire]",
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
        line(&text, "number = \"120\"\nkind = \"emergency\"\n\n# The"),
        "targets.traffic.number",
        "number 120 is also targets.ambulance",
    );
    let text = edit(
        "kind = \"expert_pool\"",
        "kind = \"expert_pool\"\nuri = \"sip:9000@10.0.0.1\"",
    );
    assert_one(
        &err(&text),
        line(&text, "uri = "),
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
    let plan = ok(&edit(
        "topic = \"民政\"",
        "topic = \"民政\"\nnotice = \"merged-12349\"",
    ));
    let mut run = plan.dial_plan.start("12349", None);
    assert_eq!(
        run.poll_action(),
        Some(Action::Play {
            prompt: "merged-12349".into()
        })
    );
    run.prompt_done();
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
