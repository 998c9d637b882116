//! `hotline staffing`: seats needed for an interval's load, by Erlang C or (with `--patience`)
//! Erlang A. A thin shell over `acd_core::staffing`; it only parses and formats.

use acd_core::staffing::{erlang_a, erlang_c, seats_for, Load, Staffing};
use clap::ArgGroup;

/// Arguments of `hotline staffing`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("goal").required(true).args(["target", "seats"])))]
pub(crate) struct StaffingArgs {
    /// Calls offered in the interval.
    #[arg(long, value_name = "N")]
    calls: f64,
    /// Length of the interval, in seconds.
    #[arg(long, value_name = "SECONDS")]
    interval: f64,
    /// Average handling time (talk plus wrap-up), in seconds.
    #[arg(long, value_name = "SECONDS")]
    aht: f64,
    /// Service-level threshold: answered within this many seconds.
    #[arg(long, value_name = "SECONDS")]
    within: f64,
    /// Service-level target as a fraction (0.8 = 80 % answered within the threshold); prints
    /// the fewest seats that meet it.
    #[arg(long, value_name = "FRACTION")]
    target: Option<f64>,
    /// Evaluate this many seats instead of searching for a target.
    #[arg(long, value_name = "N")]
    seats: Option<u32>,
    /// Mean caller patience in seconds: use Erlang A (callers abandon) instead of Erlang C.
    #[arg(long, value_name = "SECONDS")]
    patience: Option<f64>,
}

/// Runs `hotline staffing` and returns the text to print.
pub(crate) fn run(args: StaffingArgs) -> Result<String, String> {
    let load = Load {
        calls: args.calls,
        interval_secs: args.interval,
        aht_secs: args.aht,
    };
    let result = match (args.target, args.seats, args.patience) {
        (Some(target), _, patience) => seats_for(&load, args.within, target, patience),
        (None, Some(seats), Some(patience)) => erlang_a(&load, seats, args.within, patience),
        (None, Some(seats), None) => erlang_c(&load, seats, args.within),
        (None, None, _) => return Err("give either --target or --seats".to_owned()),
    };
    let staffing = result.map_err(|e| e.to_string())?;
    Ok(render(&load, &args, &staffing))
}

fn render(load: &Load, args: &StaffingArgs, s: &Staffing) -> String {
    let model = match args.patience {
        Some(p) => format!("Erlang A, mean patience {}", secs(p)),
        None => "Erlang C, no abandonment".to_owned(),
    };
    let seats_label = if args.target.is_some() {
        "seats needed"
    } else {
        "seats"
    };
    let mut rows: Vec<(&str, String, String)> = vec![
        (
            "offered load",
            format!("{:.2}", load.offered_erlangs()),
            "Erlangs".to_owned(),
        ),
        (seats_label, s.seats.to_string(), String::new()),
        ("probability of wait", percent(s.p_wait), "%".to_owned()),
        (
            "service level",
            percent(s.service_level),
            format!("% answered within {}", secs(args.within)),
        ),
        ("occupancy", percent(s.occupancy), "%".to_owned()),
        ("ASA", format!("{:.2}", s.asa_secs), "s".to_owned()),
    ];
    if let Some(ab) = s.p_abandon {
        rows.push(("abandon rate", percent(ab), "%".to_owned()));
    }
    let mut out = format!("staffing ({model})\n");
    for (label, value, unit) in rows {
        let line = format!("  {label:<20}{value:>10} {unit}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn percent(fraction: f64) -> String {
    format!("{:.2}", fraction * 100.0)
}

/// Seconds without a needless fraction: `20 s`, `7.5 s`.
fn secs(value: f64) -> String {
    format!("{value} s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: StaffingArgs,
    }

    fn parse(line: &str) -> Result<StaffingArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("staffing").chain(line.split_whitespace()))
            .map(|c| c.args)
    }

    fn row<'a>(text: &'a str, label: &str) -> &'a str {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} row in:\n{text}"))
    }

    #[test]
    fn published_vector_through_the_cli() {
        let args = parse("--calls 100 --interval 1800 --aht 180 --within 20 --target 0.8").unwrap();
        let text = run(args).unwrap();
        assert!(text.starts_with("staffing (Erlang C"), "{text}");
        assert!(
            row(&text, "offered load").ends_with("10.00 Erlangs"),
            "{text}"
        );
        assert!(row(&text, "seats needed").ends_with(" 14"), "{text}");
        assert!(
            row(&text, "probability of wait").ends_with("17.41 %"),
            "{text}"
        );
        // 0.888350…: the published 0.8883, rounded here to two decimals of a percent.
        assert!(
            row(&text, "service level").ends_with("88.84 % answered within 20 s"),
            "{text}"
        );
        assert!(row(&text, "occupancy").ends_with("71.43 %"), "{text}");
        assert!(row(&text, "ASA").ends_with("7.84 s"), "{text}");
        assert!(!text.contains("abandon rate"), "{text}");
    }

    #[test]
    fn explicit_seats_are_evaluated() {
        let args = parse("--calls 100 --interval 1800 --aht 180 --within 20 --seats 14").unwrap();
        let text = run(args).unwrap();
        assert!(row(&text, "seats").ends_with(" 14"), "{text}");
        assert!(
            row(&text, "probability of wait").ends_with("17.41 %"),
            "{text}"
        );
    }

    #[test]
    fn columns_are_aligned() {
        let args =
            parse("--calls 100 --interval 1800 --aht 180 --within 20 --seats 12 --patience 60")
                .unwrap();
        let text = run(args).unwrap();
        // Values are right-aligned: each ends in column 32, followed by a space or nothing.
        for line in text.lines().skip(1) {
            let bytes = line.as_bytes();
            assert!(bytes[31].is_ascii_digit(), "{line:?}");
            assert!(bytes.len() == 32 || bytes[32] == b' ', "{line:?}");
        }
    }

    #[test]
    fn patience_adds_the_abandon_rate() {
        let args =
            parse("--calls 100 --interval 1800 --aht 180 --within 20 --target 0.8 --patience 60")
                .unwrap();
        let text = run(args).unwrap();
        assert!(
            text.starts_with("staffing (Erlang A, mean patience 60 s)"),
            "{text}"
        );
        assert!(row(&text, "abandon rate").ends_with(" %"), "{text}");
    }

    #[test]
    fn exactly_one_of_target_and_seats() {
        let base = "--calls 100 --interval 1800 --aht 180 --within 20";
        assert!(parse(base).is_err());
        assert!(parse(&format!("{base} --target 0.8 --seats 14")).is_err());
    }

    #[test]
    fn unstable_and_bad_input_are_reported() {
        let err =
            run(parse("--calls 100 --interval 1800 --aht 180 --within 20 --seats 9").unwrap())
                .unwrap_err();
        assert!(err.contains("without bound"), "{err}");
        let err =
            run(parse("--calls 0 --interval 1800 --aht 180 --within 20 --target 0.8").unwrap())
                .unwrap_err();
        assert!(err.contains("calls"), "{err}");
        let err =
            run(parse("--calls 100 --interval 1800 --aht 180 --within 20 --target 1.2").unwrap())
                .unwrap_err();
        assert!(err.contains("target"), "{err}");
    }
}
