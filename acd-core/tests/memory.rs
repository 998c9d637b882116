//! Memory per waiting call, measured: 100,000 callers wait with no seat ready, and the
//! process's resident memory grows by at most a few hundred bytes each.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use acd_core::*;

/// Resident set size in bytes (Linux /proc/self/statm, pages × 4 KiB).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn a_waiting_call_costs_well_under_a_kibibyte() {
    let mut cfg = AcdConfig::default();
    let topic = cfg.topic("general");
    cfg.queues.push(QueueConfig {
        name: "12345".into(),
        lines: vec![Line(12345)],
        strategy: Strategy::LongestIdle,
        tiers: vec![Tier {
            pools: vec![Pool::Intake],
            min_level: None,
            after: Duration::ZERO,
        }],
        ring_timeout: Some(Duration::from_secs(15)),
        max_wait: None,
    });
    cfg.seats.push(SeatConfig::new(SeatId(1), Pool::Intake));
    let mut acd = Acd::new(cfg).expect("config");
    let now = Instant::now();
    const CALLS: u64 = 100_000;
    // Warm up allocator pools with a first batch that is then abandoned.
    for call in 0..1_000 {
        let input = Input::CallArrived {
            call: CallId(10_000_000 + call),
            line: Line(12345),
            topic,
            priority: Priority(0),
        };
        acd.handle(now, input).expect("arrive");
    }
    let Some(before) = rss_bytes() else {
        eprintln!("no /proc/self/statm: not measured");
        return;
    };
    for call in 0..CALLS {
        let input = Input::CallArrived {
            call: CallId(call),
            line: Line(12345),
            topic,
            priority: Priority(0),
        };
        acd.handle(now, input).expect("arrive");
        while acd.poll_output().is_some() {}
    }
    let after = rss_bytes().expect("statm");
    let per_call = after.saturating_sub(before) as f64 / CALLS as f64;
    println!("resident memory per waiting call: {per_call:.0} bytes ({CALLS} calls)");
    assert_eq!(acd.waiting(), CALLS + 1_000);
    assert!(per_call < 1024.0, "{per_call:.0} bytes per waiting call");
}
