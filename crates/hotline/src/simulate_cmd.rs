//! `hotline simulate`: a seeded simulated day of Zhengzhou traffic through the real
//! distributor, with the Erlang A prediction beside each hour. A thin shell over
//! `acd_core::simulation`; it only parses and formats.

use std::time::Instant;

use acd_core::simulation::{simulate_day, Dist, SimConfig, HOURS};

/// Arguments of `hotline simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Seed of the simulation; the same seed gives the same day.
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Expected calls over the day.
    #[arg(long, value_name = "N", default_value_t = 12_000.0)]
    calls_per_day: f64,
    /// Mean talk time in seconds (exponential; wrap-up comes from the seat plan).
    #[arg(long, value_name = "SECONDS", default_value_t = 240.0)]
    aht: f64,
    /// Mean caller patience in seconds (lognormal, deviation two thirds of the mean).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    patience: f64,
    /// 24 comma-separated relative arrival weights, hour 0 first (default: a government
    /// hotline day, peaks 9–11 and 14–17).
    #[arg(long, value_name = "W0,W1,...,W23", value_delimiter = ',')]
    profile: Option<Vec<f64>>,
    /// Intake seats staffed in every hour (default: per hour, the fewest that Erlang A says
    /// answer 90 % within 15 s, at most 114).
    #[arg(long, value_name = "N")]
    staffed: Option<u32>,
}

/// Runs `hotline simulate` and returns the text to print.
pub(crate) fn run(args: SimulateArgs) -> Result<String, String> {
    let mut cfg = SimConfig {
        seed: args.seed,
        calls_per_day: args.calls_per_day,
        talk: Dist::Exponential {
            mean_secs: args.aht,
        },
        patience: Dist::Lognormal {
            mean_secs: args.patience,
            sd_secs: args.patience * 2.0 / 3.0,
        },
        ..SimConfig::default()
    };
    if let Some(profile) = args.profile {
        cfg.profile = profile.try_into().map_err(|p: Vec<f64>| {
            format!(
                "--profile needs {HOURS} comma-separated weights, got {}",
                p.len()
            )
        })?;
    }
    match args.staffed {
        Some(n) => cfg.staff_all_day(n),
        None => cfg.staff_for(0.9),
    }
    let report = simulate_day(&cfg, Instant::now()).map_err(|e| e.to_string())?;
    Ok(report.to_string())
}
