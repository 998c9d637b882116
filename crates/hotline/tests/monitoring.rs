//! The monitoring kit in `deploy/` checked against the real thing:
//!
//! - the Prometheus alert rules (`deploy/prometheus/hotline-alerts.yml`) pass `promtool check
//!   rules` and their unit tests (`promtool test rules hotline-alerts.test.yml`); every alert
//!   has a severity, a summary, a description and a runbook hint, and a unit test in which it
//!   fires and one in which it stays silent; the example `prometheus.yml` passes `promtool
//!   check config`;
//! - the Grafana dashboard (`deploy/grafana/hotline-dashboard.json`) is well-formed: current
//!   schema, the `DS_PROMETHEUS` datasource variable on every panel and query, unique panel
//!   ids, panels that do not overlap, a query in every panel, and PromQL that promtool
//!   accepts once Grafana's variables are filled in;
//! - every metric, label and label value the rules and the dashboard name is in a real scrape
//!   of `hotline serve`'s `/metrics`, so renaming a metric or a label breaks this test rather
//!   than silently emptying an alert.
//!
//! promtool comes with Debian's `prometheus` package, which `scripts/test` installs when it is
//! missing; `HOTLINE_PROMTOOL` names another binary. Without promtool these tests fail with a
//! message saying so: they never skip.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

// ---------------------------------------------------------------------------------------------
// Files and promtool

/// `deploy/` of the repository.
fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn rules_path() -> PathBuf {
    deploy().join("prometheus/hotline-alerts.yml")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Run promtool with `args` in `dir`; (success, stdout + stderr). Panics when promtool cannot
/// be run at all, saying how to get it.
fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let bin = std::env::var("HOTLINE_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let out = Command::new(&bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{bin}` ({e}). promtool checks the alert rules and the dashboard's \
                 queries: install Debian's `prometheus` package (`apt-get install prometheus`; \
                 scripts/test does this when promtool is missing) or set HOTLINE_PROMTOOL to a \
                 promtool binary"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn promtool_ok(args: &[&str], dir: &Path) -> String {
    let (ok, text) = promtool(args, dir);
    assert!(ok, "promtool {} failed:\n{text}", args.join(" "));
    text
}

// ---------------------------------------------------------------------------------------------
// The rules file, read line by line (its layout is ours: `- alert:` / `- record:` items with
// an `expr:` that is either inline or a `|` block)

/// One rule of the rules file.
#[derive(Debug)]
struct Rule {
    /// `alert` or `record`.
    kind: &'static str,
    name: String,
    expr: String,
    /// The rule's lines as written (labels, annotations).
    text: String,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn parse_rules(text: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let kind = if t.starts_with("- alert:") {
            "alert"
        } else if t.starts_with("- record:") {
            "record"
        } else {
            i += 1;
            continue;
        };
        let base = indent(lines[i]);
        let name = t.split_once(':').map(|x| x.1.trim()).unwrap_or_default();
        let mut body = vec![lines[i]];
        i += 1;
        while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > base) {
            body.push(lines[i]);
            i += 1;
        }
        let mut expr = String::new();
        for (k, line) in body.iter().enumerate() {
            let Some(value) = line.trim_start().strip_prefix("expr:") else {
                continue;
            };
            let value = value.trim();
            if value.starts_with('|') || value.starts_with('>') {
                let level = indent(line);
                let block: Vec<&str> = body[k + 1..]
                    .iter()
                    .take_while(|l| l.trim().is_empty() || indent(l) > level)
                    .map(|l| l.trim())
                    .collect();
                expr = block.join("\n").trim().to_owned();
            } else {
                assert!(
                    !value.starts_with(['"', '\'']),
                    "rule {name}: write expr unquoted or as a | block"
                );
                expr = value.to_owned();
            }
        }
        assert!(!expr.is_empty(), "rule {name} has no expr");
        rules.push(Rule {
            kind,
            name: name.to_owned(),
            expr,
            text: body.join("\n"),
        });
    }
    rules
}

// ---------------------------------------------------------------------------------------------
// PromQL: which metrics, labels and label values an expression names

/// A label matcher `label op "value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

/// A metric named in an expression, with its matchers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

/// What an expression names: its selectors, and the labels of its `by`, `without`, `on`,
/// `ignoring` and `group_*` clauses.
#[derive(Debug, Default)]
struct Names {
    selectors: Vec<Selector>,
    grouping: BTreeSet<String>,
}

const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The index just past the string literal opening at `i` (`"`, `'` or a backtick).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    let quote = b[i];
    i += 1;
    while i < b.len() && b[i] != quote {
        if b[i] == b'\\' && quote != b'`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The matchers of the `{...}` opening at `open`, and the index past its `}`. Also parses the
/// label set of a sample in the text format, which has the same shape.
fn matchers(s: &str, open: usize) -> (Vec<Matcher>, usize) {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = open + 1;
    loop {
        i = skip_space(b, i);
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            panic!("unclosed {{ in `{s}`");
        }
        if b[i] == b'}' {
            return (out, i + 1);
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        let label = s[start..i].to_owned();
        i = skip_space(b, i);
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| s[i..].starts_with(op))
            .unwrap_or_else(|| panic!("no matcher operator after `{label}` in `{s}`"));
        i = skip_space(b, i + op.len());
        assert!(
            matches!(b.get(i), Some(b'"' | b'\'' | b'`')),
            "no quoted value for `{label}` in `{s}`"
        );
        let end = skip_string(b, i);
        let value = s[i + 1..end - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\");
        out.push(Matcher {
            label,
            op: op.to_owned(),
            value,
        });
        i = end;
    }
}

/// The metrics and labels an expression names. Grafana variables (`$line`, `${x}`,
/// `$__rate_interval`) are skipped; the expression is otherwise PromQL.
fn names(expr: &str) -> Names {
    let b = expr.as_bytes();
    let mut out = Names::default();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(b, i);
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'[' {
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
        } else if c == b'{' {
            i = matchers(expr, i).1;
        } else if c == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                while i < b.len() && b[i] != b'}' {
                    i += 1;
                }
            }
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // A number or a duration (`0.98`, `1e3`, `5m` after offset).
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let lower = word.to_ascii_lowercase();
            let next = skip_space(b, i);
            if GROUPING.contains(&lower.as_str()) {
                if b.get(next) == Some(&b'(') {
                    let close = expr[next..].find(')').expect("closed label list") + next;
                    out.grouping.extend(
                        expr[next + 1..close]
                            .split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    );
                    i = close + 1;
                }
            } else if KEYWORDS.contains(&lower.as_str())
                || AGGREGATIONS.contains(&lower.as_str())
                || b.get(next) == Some(&b'(')
            {
                // An operator or a function call.
            } else {
                let mut sel = Selector {
                    name: word.to_owned(),
                    matchers: Vec::new(),
                };
                if b.get(next) == Some(&b'{') {
                    let (m, end) = matchers(expr, next);
                    sel.matchers = m;
                    i = end;
                }
                out.selectors.push(sel);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn the_promql_reader_finds_metrics_labels_and_values() {
    let n = names(
        "histogram_quantile(0.9, sum by (le) (rate(hotline_wait_seconds_bucket{line=~\"$line\", \
         le=\"15\"}[$__rate_interval])))\n/ (up{job=\"hotline\"} offset 1d > 0) and on (line, \
         queue) platform:x:rate5m # a comment naming not_a_metric\nunless sum(foo) without (a)",
    );
    let sel = |name: &str, m: &[(&str, &str, &str)]| Selector {
        name: name.to_owned(),
        matchers: m
            .iter()
            .map(|(l, o, v)| Matcher {
                label: (*l).to_owned(),
                op: (*o).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
    };
    assert_eq!(
        n.selectors,
        vec![
            sel(
                "hotline_wait_seconds_bucket",
                &[("line", "=~", "$line"), ("le", "=", "15")]
            ),
            sel("up", &[("job", "=", "hotline")]),
            sel("platform:x:rate5m", &[]),
            sel("foo", &[]),
        ]
    );
    assert_eq!(
        n.grouping,
        ["a", "le", "line", "queue"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

// ---------------------------------------------------------------------------------------------
// The rules

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = deploy().join("prometheus");
    let check = promtool_ok(&["check", "rules", "hotline-alerts.yml"], &dir);
    let text = read(&rules_path());
    let rules = parse_rules(&text);
    // promtool counts the rules it loaded: the line reader above saw the same ones.
    assert!(
        check.contains(&format!("SUCCESS: {} rules found", rules.len())),
        "promtool and this test disagree on the rules ({} read here):\n{check}",
        rules.len()
    );
    promtool_ok(&["test", "rules", "hotline-alerts.test.yml"], &dir);
    promtool_ok(&["check", "config", "prometheus.yml"], &dir);
}

#[test]
fn every_alert_is_labelled_annotated_and_tested_firing_and_silent() {
    let rules = parse_rules(&read(&rules_path()));
    let tests = read(&deploy().join("prometheus/hotline-alerts.test.yml"));
    let lines: Vec<&str> = tests.lines().collect();
    // alertname -> (fires somewhere, stays silent somewhere)
    let mut cases: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for (k, line) in lines.iter().enumerate() {
        let Some(name) = line.trim_start().strip_prefix("alertname:") else {
            continue;
        };
        let next = lines[k + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        let fires = next.starts_with("exp_alerts:") && next != "exp_alerts: []";
        let case = cases.entry(name.trim()).or_default();
        case.0 |= fires;
        case.1 |= !fires;
    }
    let alerts: Vec<&Rule> = rules.iter().filter(|r| r.kind == "alert").collect();
    assert!(alerts.len() >= 10, "{} alerts", alerts.len());
    let mut problems = Vec::new();
    for a in &alerts {
        let severity = ["critical", "warning", "info"]
            .iter()
            .any(|s| a.text.contains(&format!("severity: {s}")));
        if !severity {
            problems.push(format!("{}: no severity critical/warning/info", a.name));
        }
        for key in ["summary:", "description:", "runbook:"] {
            if !a.text.contains(key) {
                problems.push(format!("{}: no {key} annotation", a.name));
            }
        }
        match cases.get(a.name.as_str()) {
            None => problems.push(format!("{}: no unit test", a.name)),
            Some((fires, silent)) => {
                if !fires {
                    problems.push(format!("{}: no unit test in which it fires", a.name));
                }
                if !silent {
                    problems.push(format!("{}: no unit test in which it is silent", a.name));
                }
            }
        }
    }
    for name in cases.keys() {
        if !alerts.iter().any(|a| a.name == *name) {
            problems.push(format!("the unit tests name {name}, which is no alert"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The dashboard

fn dashboard() -> serde_json::Value {
    let path = deploy().join("grafana/hotline-dashboard.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, those inside collapsed rows included.
fn panels(d: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// (where, expression) of every query of the dashboard.
fn dashboard_queries(d: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!(
                    "panel {} {:?} query {}",
                    p["id"],
                    p["title"].as_str().unwrap_or_default(),
                    t["refId"]
                ),
                t["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// (variable, metric selector, label) of each `label_values(metric, label)` variable.
fn dashboard_variables(d: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().expect("templating") {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or_else(|| v["query"].as_str())
            .unwrap_or_default();
        let args = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {}: not label_values(metric, label)", v["name"]));
        let (metric, label) = args.rsplit_once(',').expect("label_values(metric, label)");
        out.push((
            v["name"].as_str().unwrap_or_default().to_owned(),
            metric.trim().to_owned(),
            label.trim().to_owned(),
        ));
    }
    out
}

const DS: &str = "${DS_PROMETHEUS}";

#[test]
fn the_grafana_dashboard_is_well_formed() {
    let d = dashboard();
    let mut problems = Vec::new();
    let schema = d["schemaVersion"].as_u64().unwrap_or(0);
    // Grafana 10.0-10.3 write 38, 10.4 and 11 write 39 and up; older ones get migrated.
    if !(38..=41).contains(&schema) {
        problems.push(format!("schemaVersion {schema}: not Grafana 10/11's"));
    }
    for key in ["uid", "title"] {
        if d[key].as_str().is_none_or(str::is_empty) {
            problems.push(format!("no {key}"));
        }
    }
    let vars = d["templating"]["list"].as_array().expect("templating");
    if !vars.iter().any(|v| {
        v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource" && v["query"] == "prometheus"
    }) {
        problems.push("no datasource variable DS_PROMETHEUS of type prometheus".to_owned());
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        if v["datasource"]["uid"] != DS {
            problems.push(format!("variable {}: datasource is not {DS}", v["name"]));
        }
    }

    let all = panels(&d);
    let mut ids = BTreeSet::new();
    let mut boxes = Vec::new();
    for p in &all {
        let id = p["id"].as_u64();
        let title = p["title"].as_str().unwrap_or_default();
        let at = format!("panel {} {title:?}", p["id"]);
        match id {
            Some(id) if ids.insert(id) => {}
            _ => problems.push(format!("{at}: id missing or not unique")),
        }
        if title.is_empty() {
            problems.push(format!("{at}: no title"));
        }
        let g = &p["gridPos"];
        let (Some(x), Some(y), Some(w), Some(h)) = (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        ) else {
            problems.push(format!("{at}: no gridPos"));
            continue;
        };
        if x + w > 24 || w == 0 || h == 0 {
            problems.push(format!("{at}: gridPos outside the 24 columns"));
        }
        for (other, (ox, oy, ow, oh)) in &boxes {
            if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                problems.push(format!("{at}: overlaps {other}"));
            }
        }
        boxes.push((at.clone(), (x, y, w, h)));
        if p["type"] == "row" {
            continue;
        }
        if p["datasource"]["uid"] != DS {
            problems.push(format!("{at}: datasource is not {DS}"));
        }
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if targets.is_empty() {
            problems.push(format!("{at}: no query"));
        }
        let mut refs = BTreeSet::new();
        for t in targets {
            if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                problems.push(format!("{at}: query {} has no expr", t["refId"]));
            }
            if !refs.insert(t["refId"].as_str().unwrap_or_default()) {
                problems.push(format!("{at}: refId {} twice", t["refId"]));
            }
            if t["datasource"]["uid"] != DS {
                problems.push(format!("{at}: query {} datasource is not {DS}", t["refId"]));
            }
        }
    }
    assert!(
        all.iter().filter(|p| p["type"] != "row").count() >= 15,
        "the dashboard lost its panels"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Grafana's variables replaced by what they may stand for, so promtool can parse the query.
fn fill_variables(expr: &str) -> String {
    let filled = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1d")
        .replace("$instance", ".*")
        .replace("$line", ".*")
        .replace("$pool", ".*");
    assert!(
        !filled.contains('$'),
        "a Grafana variable this test does not know: {expr}"
    );
    filled
}

#[test]
fn the_dashboard_queries_are_promql_that_promtool_accepts() {
    let queries = dashboard_queries(&dashboard());
    let dir = TestDir::new("monitoring_dashboard_promql");
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, expr)) in queries.iter().enumerate() {
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&fill_variables(expr)).expect("string");
        yaml.push_str(&format!(
            "      - record: dashboard_query_{n}\n        expr: {quoted}\n"
        ));
    }
    std::fs::write(dir.file("dashboard-queries.yml"), &yaml).expect("write");
    let (ok, text) = promtool(&["check", "rules", "dashboard-queries.yml"], &dir.path);
    if !ok {
        let index: Vec<String> = queries
            .iter()
            .enumerate()
            .map(|(n, (at, _))| format!("dashboard_query_{n}: {at}"))
            .collect();
        panic!(
            "promtool refuses a dashboard query:\n{text}\n{}",
            index.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Against a real scrape

/// Series of a scrape: metric name -> label sets of its samples.
fn scrape_series(text: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, _value) = line.rsplit_once(' ').expect("sample has a value");
        let (name, labels) = match series.find('{') {
            None => (series, BTreeMap::new()),
            Some(open) => (
                &series[..open],
                matchers(series, open)
                    .0
                    .into_iter()
                    .map(|m| (m.label, m.value))
                    .collect(),
            ),
        };
        out.entry(name.to_owned()).or_default().push(labels);
    }
    out
}

/// Labels Prometheus attaches at scrape time, absent from /metrics itself.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];
/// Series Prometheus makes itself (`up` per target).
const SYNTHETIC: [&str; 1] = ["up"];

/// The problems of one expression against the scrape: metrics, matcher labels and equality
/// values that are not there, grouping labels no metric of the expression has.
fn check_names(
    at: &str,
    expr: &str,
    scrape: &BTreeMap<String, Vec<BTreeMap<String, String>>>,
    recorded: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> BTreeSet<String> {
    let n = names(expr);
    let mut used = BTreeSet::new();
    let mut labels_seen = BTreeSet::new();
    for sel in &n.selectors {
        used.insert(sel.name.clone());
        if sel.name.contains(':') {
            if !recorded.contains(&sel.name) {
                problems.push(format!("{at}: {} is recorded by no rule", sel.name));
            }
            continue;
        }
        if SYNTHETIC.contains(&sel.name.as_str()) {
            continue;
        }
        let Some(series) = scrape.get(&sel.name) else {
            problems.push(format!("{at}: metric {} is not in the scrape", sel.name));
            continue;
        };
        labels_seen.extend(series.iter().flat_map(|s| s.keys().cloned()));
        for m in &sel.matchers {
            if TARGET_LABELS.contains(&m.label.as_str()) {
                continue;
            }
            if !series.iter().any(|s| s.contains_key(&m.label)) {
                problems.push(format!("{at}: {} has no label {}", sel.name, m.label));
            } else if m.op == "="
                && !m.value.contains('$')
                && !series.iter().any(|s| s.get(&m.label) == Some(&m.value))
            {
                problems.push(format!(
                    "{at}: no {}{{{}=\"{}\"}} in the scrape",
                    sel.name, m.label, m.value
                ));
            }
        }
    }
    let raw = n
        .selectors
        .iter()
        .any(|s| !s.name.contains(':') && !SYNTHETIC.contains(&s.name.as_str()));
    for label in &n.grouping {
        if raw && !TARGET_LABELS.contains(&label.as_str()) && !labels_seen.contains(label) {
            problems.push(format!(
                "{at}: no metric of the expression has label {label}"
            ));
        }
    }
    used
}

/// The embedded plan with a `ticket_url` on one target, so its ticket series exist too.
fn plan_with_ticket_url(dir: &TestDir) -> String {
    let shipped = include_str!("../../../deploy/zhengzhou.toml");
    let plan = shipped.replacen(
        "\n# ticket_url = \"http://10.20.0.6:8080/tickets\"\n",
        "\nticket_url = \"http://127.0.0.1:9/tickets\"\n",
        1,
    );
    assert_ne!(
        plan, shipped,
        "the shipped plan's commented ticket_url moved"
    );
    let path = dir.file("plan.toml");
    std::fs::write(&path, plan).expect("write plan");
    path.display().to_string()
}

#[test]
fn every_metric_the_rules_and_the_dashboard_name_is_in_a_real_scrape() {
    let dir = TestDir::new("monitoring_scrape");
    let plan = plan_with_ticket_url(&dir);
    let gw = Gateway::start(&dir, &["--config", &plan]);

    // One caller who hangs up while queued: the answer-rate gauges are defined (an undefined
    // ratio is omitted from /metrics), so every series the rules read is there.
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let media = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let media_port = media.local_addr().expect("addr").port();
    let req = invite(&sip, gw.port, media_port, "12345", "monitor1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port))
        .expect("send");
    until_status(&sip, 183, Duration::from_secs(5));
    let req = cancel(&sip, gw.port, "12345", "monitor1");
    sip.send_to(req.as_bytes(), ("127.0.0.1", gw.port))
        .expect("send");
    until_status(&sip, 487, Duration::from_secs(5));
    let mut text = String::new();
    eventually(Duration::from_secs(10), "the answer ratios defined", || {
        text = metrics(&gw);
        text.contains("hotline_answer_ratio{")
            && text.contains("hotline_answered_within_15s_ratio{")
    });
    let scrape = scrape_series(&text);

    let rules = parse_rules(&read(&rules_path()));
    let recorded: BTreeSet<String> = rules
        .iter()
        .filter(|r| r.kind == "record")
        .map(|r| r.name.clone())
        .collect();
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for r in &rules {
        let at = format!("rule {}", r.name);
        used.extend(check_names(&at, &r.expr, &scrape, &recorded, &mut problems));
    }
    let d = dashboard();
    for (at, expr) in dashboard_queries(&d) {
        used.extend(check_names(&at, &expr, &scrape, &recorded, &mut problems));
    }
    for (var, metric, label) in dashboard_variables(&d) {
        let at = format!("variable {var}");
        used.extend(check_names(
            &at,
            &format!("sum by ({label}) ({metric})"),
            &scrape,
            &recorded,
            &mut problems,
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n\n(scrape of a running hotline: {} families)",
        problems.join("\n"),
        scrape.len()
    );
    // The reader found what the kit is about, not a handful of names.
    let raw: BTreeSet<&String> = used.iter().filter(|n| n.starts_with("hotline_")).collect();
    assert!(
        raw.len() >= 30,
        "only {} hotline metrics used: {raw:?}",
        raw.len()
    );
}
