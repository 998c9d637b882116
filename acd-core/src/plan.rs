//! The shipped Zhengzhou seat plan (郑政办〔2021〕54号), as an [`AcdConfig`].
//!
//! Choices made here (the seed document fixes the pools and lines, not these numbers):
//!
//! * **Queues.** Queue 0 `"12345"` is fed by 12345 and by every merged (整体并入) number; a
//!   call keeps its old line's topic so statistics still show it. Queue 1 `"12348"` is the
//!   kept number of 公共法律服务. Sub-platform numbers (12333, 12329, 12320, …) keep their own
//!   platforms and are not lines here; their expert seats sit on 12345 intake seats.
//! * **12345 tiers.** Intake at once; surge at once (a surge seat only counts while surge is
//!   open); support after 60 s, so back-office staff are pulled in only when callers have
//!   waited long.
//! * **12348 tiers.** Legal experts (skill `legal` ≥ 7) first; after 30 s widen to all intake
//!   and surge seats; after 60 s support.
//! * **Seats.** Intake 1001–1114 (114). The last fourteen, 1101–1114, carry expert skills at
//!   level 8: 1101–1105 `legal` (12348), 1106–1108 `人社` (12333), 1109–1111 `公积金`
//!   (12329), 1112–1114 `卫生` (12320). Support 2001–2051 (51), surge 3001–3025 (25).
//! * **Timing.** Ring timeout 10 s, no maximum wait (GB/T 33358: callers go to a person),
//!   wrap-up 30 s for intake and surge, 60 s for support, service target 15 s.
//! * **Surge.** [`SurgeConfig::default`]: opens after 40 s behind (longest wait ≥ 60 s or
//!   15-second answer rate < 80 % over 5 minutes), closes after 5 calm minutes.

use std::time::Duration;

use crate::{
    AcdConfig, Line, Pool, PoolConfig, QueueConfig, SeatConfig, SeatId, Skill, Strategy,
    SurgeConfig, Tier,
};

/// Merged (整体并入) numbers that now ring 12345 intake, with the topic each is tagged with.
pub const MERGED_LINES: [(u32, &str); 12] = [
    (12349, "民政"),
    (12336, "自然资源违法举报"),
    (12301, "旅游"),
    (96119, "火灾隐患"),
    (67_175_706, "文物稽查"),
    (66_976_996, "教育"),
    (62_912_345, "登封市长"),
    (69_812_345, "新密市长"),
    (64_912_345, "荥阳市长"),
    (62_112_345, "中牟县长"),
    (12318, "文化市场"),
    (12350, "安全生产"),
];

/// The topic of plain 12345 calls.
pub const GENERAL_TOPIC: &str = "general";
/// The topic of 12348 calls and of legal expert skills.
pub const LEGAL_TOPIC: &str = "legal";
/// The service target: answered within 15 s (GB/T 33358-2016).
pub const SERVICE_TARGET: Duration = Duration::from_secs(15);
/// Seats 1101–1114 are expert seats; this is the first of them.
pub const FIRST_EXPERT_SEAT: u32 = 1101;

/// Intake seat ids, 1001–1114.
pub fn intake_seats() -> impl Iterator<Item = SeatId> {
    (1001..=1114).map(SeatId)
}

/// Support seat ids, 2001–2051.
pub fn support_seats() -> impl Iterator<Item = SeatId> {
    (2001..=2051).map(SeatId)
}

/// Surge seat ids, 3001–3025.
pub fn surge_seats() -> impl Iterator<Item = SeatId> {
    (3001..=3025).map(SeatId)
}

/// The shipped Zhengzhou seat plan; see the module documentation for every choice.
pub fn zhengzhou_plan() -> AcdConfig {
    let mut cfg = AcdConfig::default();
    cfg.topic(GENERAL_TOPIC);
    let legal = cfg.topic(LEGAL_TOPIC);
    let renshe = cfg.topic("人社");
    let gjj = cfg.topic("公积金");
    let health = cfg.topic("卫生");
    for (_, topic) in MERGED_LINES {
        cfg.topic(topic);
    }
    let ring_timeout = Some(Duration::from_secs(10));
    let mut lines = vec![Line(12345)];
    lines.extend(MERGED_LINES.iter().map(|&(n, _)| Line(n)));
    cfg.queues.push(QueueConfig {
        name: "12345".into(),
        lines,
        strategy: Strategy::LongestIdle,
        tiers: vec![
            tier(&[Pool::Intake, Pool::Surge], None, 0),
            tier(&[Pool::Support], None, 60),
        ],
        ring_timeout,
        max_wait: None,
    });
    cfg.queues.push(QueueConfig {
        name: "12348".into(),
        lines: vec![Line(12348)],
        strategy: Strategy::LongestIdle,
        tiers: vec![
            tier(&[Pool::Intake], Some(7), 0),
            tier(&[Pool::Intake, Pool::Surge], None, 30),
            tier(&[Pool::Support], None, 60),
        ],
        ring_timeout,
        max_wait: None,
    });
    cfg.pools = vec![
        PoolConfig {
            pool: Pool::Intake,
            wrap_up: Duration::from_secs(30),
        },
        PoolConfig {
            pool: Pool::Surge,
            wrap_up: Duration::from_secs(30),
        },
        PoolConfig {
            pool: Pool::Support,
            wrap_up: Duration::from_secs(60),
        },
    ];
    for id in intake_seats() {
        let mut seat = SeatConfig::new(id, Pool::Intake);
        let topic = match id.0 {
            1101..=1105 => Some(legal),
            1106..=1108 => Some(renshe),
            1109..=1111 => Some(gjj),
            1112..=1114 => Some(health),
            _ => None,
        };
        if let Some(topic) = topic {
            seat.skills.push(Skill { topic, level: 8 });
        }
        cfg.seats.push(seat);
    }
    cfg.seats
        .extend(support_seats().map(|id| SeatConfig::new(id, Pool::Support)));
    cfg.seats
        .extend(surge_seats().map(|id| SeatConfig::new(id, Pool::Surge)));
    cfg.surge = SurgeConfig {
        answer_within: SERVICE_TARGET,
        ..SurgeConfig::default()
    };
    cfg
}

/// A tier of `pools`, reached after `after_secs` of waiting, optionally needing a skill level.
fn tier(pools: &[Pool], min_level: Option<u8>, after_secs: u64) -> Tier {
    Tier {
        pools: pools.to_vec(),
        min_level,
        after: Duration::from_secs(after_secs),
    }
}
