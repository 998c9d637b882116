//! `hotline check-config FILE`: check a plan and summarise it for a person.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use acd_core::Pool;

use super::values::{format_duration, pool_name};
use super::{load, Plan, TargetKind};

/// Checks the plan at `path`, prompts included. `Ok` is a short summary (lines, queues, seats
/// per pool, targets (code=number) and transfer keys, reserved places, media, prompts and survey); `Err` is every problem,
/// one `FILE:LINE: key ...` per line.
pub fn check_config(path: &Path) -> Result<String, String> {
    load(path)
        .map(|plan| summary(&plan))
        .map_err(|e| e.to_string())
}

/// A short human summary of a checked plan.
pub fn summary(plan: &Plan) -> String {
    let mut out = format!("{}: plan OK\n", plan.source);
    let acd = &plan.acd;
    let notices = plan.lines.iter().filter(|l| l.notice.is_some()).count();
    let _ = writeln!(
        out,
        "lines    {:>4}  ({notices} with a notice)",
        plan.lines.len()
    );
    let _ = writeln!(out, "queues   {:>4}", acd.queues.len());
    for q in &acd.queues {
        let ring = q
            .ring_timeout
            .map_or_else(|| "server default".into(), format_duration);
        let lines: Vec<String> = q.lines.iter().map(|l| l.0.to_string()).collect();
        let _ = writeln!(
            out,
            "  {:<8} {} tier(s), ring {ring}, fed by {}",
            q.name,
            q.tiers.len(),
            lines.join(" ")
        );
    }
    let mut per_pool: BTreeMap<Pool, (usize, usize)> = BTreeMap::new();
    for s in &acd.seats {
        let e = per_pool.entry(s.pool).or_default();
        e.0 += 1;
        e.1 += usize::from(!s.skills.is_empty());
    }
    let _ = writeln!(out, "seats    {:>4}", acd.seats.len());
    for (pool, (n, skilled)) in per_pool {
        let wrap = acd
            .pools
            .iter()
            .find(|p| p.pool == pool)
            .map_or_else(|| "0s".into(), |p| format_duration(p.wrap_up));
        let _ = writeln!(
            out,
            "  {:<8} {n:>4}  ({skilled} with skills, wrap-up {wrap})",
            pool_name(pool)
        );
    }
    let _ = writeln!(out, "targets  {:>4}", plan.targets.len());
    for kind in [
        TargetKind::SubPlatform,
        TargetKind::SubCenter,
        TargetKind::Emergency,
        TargetKind::ExpertPool,
    ] {
        let numbers: Vec<String> = plan
            .targets
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| format!("{}={}", t.code, t.number))
            .collect();
        if !numbers.is_empty() {
            let _ = writeln!(out, "  {kind}: {}", numbers.join(" "));
        }
    }
    if let Some(tls) = &plan.tls {
        let over: Vec<&str> = plan
            .targets
            .iter()
            .filter(|t| t.tls.is_some())
            .map(|t| t.key.as_str())
            .collect();
        let unverified = plan
            .targets
            .iter()
            .filter(|t| t.tls.as_ref().is_some_and(|c| !c.verify))
            .count();
        let _ = writeln!(
            out,
            "  over TLS: {}{}; our certificate {}",
            if over.is_empty() {
                "none".to_owned()
            } else {
                over.join(" ")
            },
            if unverified > 0 {
                format!(" ({unverified} NOT verified)")
            } else {
                String::new()
            },
            if tls.can_listen() {
                "loaded (--sip-tls can listen)"
            } else {
                "not set"
            }
        );
    }
    let t = &plan.transfers;
    let _ = writeln!(
        out,
        "  keys: {} <code> # to transfer, {} complete, {} cancel; ring {} unless set",
        t.start,
        t.complete,
        t.cancel,
        format_duration(t.ring_timeout)
    );
    let _ = writeln!(out, "reserved places {}", plan.reserved_places);
    let s = &plan.service;
    let _ = writeln!(
        out,
        "service  answer rate {}%, within {}, short abandon under {}",
        s.answer_rate * 100.0,
        format_duration(s.answer_within),
        format_duration(s.short_abandon)
    );
    let m = &plan.media;
    let address = m
        .address
        .map_or_else(|| "the SIP listen address".into(), |a| a.to_string());
    let no_rtp = m
        .no_rtp_timeout
        .map_or_else(|| "never".into(), format_duration);
    let survey = plan.survey.as_ref().map_or_else(
        || "off".into(),
        |s| format!("on (answer within {})", format_duration(s.timeout)),
    );
    let _ = writeln!(
        out,
        "media    RTP ports {}-{} on {address}, hang up after {no_rtp} without RTP; {} prompts \
         ({}); survey {survey}",
        m.ports.start(),
        m.ports.end(),
        plan.prompts.len(),
        plan.prompts.source()
    );
    let f = plan.dial_plan.features();
    let _ = writeln!(
        out,
        "features ready {}, not ready {}, log out {}",
        f.ready, f.not_ready, f.log_out
    );
    out
}
