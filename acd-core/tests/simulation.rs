//! The day simulation: determinism, speed, service under generous and cut staffing, and
//! agreement with Erlang A on a stationary hour.
#![allow(clippy::disallowed_methods)] // tests may read the clock: an origin and a timing

use std::time::Instant;

use acd_core::plan::zhengzhou_plan;
use acd_core::simulation::{simulate_day, Dist, SimConfig, HOURS};

#[test]
fn same_seed_gives_identical_report() {
    let cfg = SimConfig::default();
    let a = simulate_day(&cfg, Instant::now()).unwrap();
    let b = simulate_day(&cfg, Instant::now()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string(), b.to_string());
    let other = simulate_day(&SimConfig { seed: 7, ..cfg }, Instant::now()).unwrap();
    assert_ne!(a.day, other.day);
}

#[test]
fn a_day_runs_fast() {
    let cfg = SimConfig::default();
    let start = Instant::now();
    let report = simulate_day(&cfg, Instant::now()).unwrap();
    let took = start.elapsed();
    eprintln!(
        "simulated day: {} calls, {} events in {took:?}",
        report.day.offered, report.events
    );
    assert_eq!(report.rejected_inputs, 0);
    assert!(report.day.offered > 11_000 && report.day.offered < 13_000);
    if !cfg!(debug_assertions) {
        assert!(took.as_secs_f64() < 1.0, "took {took:?}");
    }
}

#[test]
fn generous_staffing_answers_98_percent() {
    let mut cfg = SimConfig::default();
    cfg.staff_all_day(114);
    let r = simulate_day(&cfg, Instant::now()).unwrap();
    eprintln!("{r}");
    assert_eq!(r.rejected_inputs, 0);
    assert!(r.day.answer_rate() >= 0.98, "{}", r.day.answer_rate());
    let d = r.day;
    assert_eq!(d.offered, d.answered + d.abandoned + d.timed_out);
}

#[test]
fn default_plan_staffing_meets_98_percent() {
    let r = simulate_day(&SimConfig::default(), Instant::now()).unwrap();
    eprintln!("{r}");
    assert!(r.day.answer_rate() >= 0.98, "{}", r.day.answer_rate());
}

#[test]
fn cut_staffing_drops_answer_rate_and_opens_surge() {
    let mut generous = SimConfig::default();
    generous.staff_all_day(114);
    let mut cut = generous.clone();
    let calls = cut.hourly_calls();
    for (s, c) in cut.staffing.iter_mut().zip(calls) {
        // About 60 % of the Erlangs the hour brings.
        *s = ((c * 272.0 / 3600.0 * 0.6) as u32).max(3);
    }
    let g = simulate_day(&generous, Instant::now()).unwrap();
    let c = simulate_day(&cut, Instant::now()).unwrap();
    eprintln!("{c}");
    assert_eq!(c.rejected_inputs, 0);
    assert!(c.day.answer_rate() < g.day.answer_rate() - 0.05);
    assert!(c.day.surge_openings > 0);
    assert_eq!(g.day.surge_openings, 0);
}

#[test]
fn stationary_hours_agree_with_erlang_a() {
    let mut acd = zhengzhou_plan();
    acd.surge.automatic = false;
    let general = acd.topic_id("general").unwrap();
    let mut cfg = SimConfig {
        acd,
        calls_per_day: 24.0 * 600.0,
        profile: [1.0; HOURS],
        talk: Dist::Exponential { mean_secs: 240.0 },
        patience: Dist::Exponential { mean_secs: 60.0 },
        line_mix: vec![(acd_core::Line(12345), general, 1.0)],
        miss_probability: 0.0,
        ..SimConfig::default()
    };
    // 600 calls × 272 s / 3600 s ≈ 45 Erlangs on 50 seats: a busy, stable hour.
    cfg.staff_all_day(50);
    let r = simulate_day(&cfg, Instant::now()).unwrap();
    eprintln!("{r}");
    assert_eq!(r.rejected_inputs, 0);
    // Skip the first hour (the day starts empty) and the last (no arrivals after it).
    for h in &r.hours[1..HOURS - 1] {
        let p = h.erlang_a.unwrap();
        let sim = h.tally.answer_rate();
        assert!(
            (sim - p.answer_rate).abs() <= 0.05,
            "hour {}: simulated {sim:.3}, Erlang A {:.3}",
            h.hour,
            p.answer_rate
        );
    }
    let mean_pred: f64 = r.hours[1..HOURS - 1]
        .iter()
        .map(|h| h.erlang_a.unwrap().within_rate)
        .sum::<f64>()
        / (HOURS - 2) as f64;
    let sim_within = r.day.within_rate();
    let mean_answer: f64 = r.hours[1..HOURS - 1]
        .iter()
        .map(|h| h.erlang_a.unwrap().answer_rate)
        .sum::<f64>()
        / (HOURS - 2) as f64;
    assert!(
        (r.day.answer_rate() - mean_answer).abs() <= 0.02,
        "day answer rate: simulated {:.3}, Erlang A {mean_answer:.3}",
        r.day.answer_rate()
    );
    assert!(
        (sim_within - mean_pred).abs() <= 0.05,
        "15 s rate: simulated {sim_within:.3}, Erlang A {mean_pred:.3}"
    );
}

#[test]
fn bad_settings_are_rejected() {
    let cfg = SimConfig {
        profile: [0.0; HOURS],
        ..SimConfig::default()
    };
    assert!(simulate_day(&cfg, Instant::now()).is_err());
    let cfg = SimConfig {
        calls_per_day: f64::NAN,
        ..SimConfig::default()
    };
    assert!(simulate_day(&cfg, Instant::now()).is_err());
}
