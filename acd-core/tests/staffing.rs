//! Staffing: Erlang C and Erlang A against published figures and their known properties.

use acd_core::staffing::{erlang_a, erlang_c, seats_for, Load, StaffingError};
use proptest::prelude::*;

/// 100 calls in 30 minutes, AHT 3 minutes: 10 Erlangs.
fn published_load() -> Load {
    Load {
        calls: 100.0,
        interval_secs: 1800.0,
        aht_secs: 180.0,
    }
}

/// Within one unit of the last printed digit of a published figure.
fn matches_printed(value: f64, printed: f64, decimals: i32) -> bool {
    (value - printed).abs() <= 10f64.powi(-decimals)
}

#[test]
fn published_vector_14_seats() {
    let s = erlang_c(&published_load(), 14, 20.0).unwrap();
    assert_eq!(s.seats, 14);
    assert_eq!(format!("{:.4}", s.p_wait), "0.1741");
    // Exactly 0.888350019…; published as 0.8883.
    assert!(
        matches_printed(s.service_level, 0.8883, 4),
        "{}",
        s.service_level
    );
    assert_eq!(format!("{:.3}", s.occupancy), "0.714");
    assert_eq!(format!("{:.2}", s.asa_secs), "7.84");
    assert_eq!(s.p_abandon, None);
}

#[test]
fn seats_for_target_is_the_smallest_that_meets_it() {
    let load = published_load();
    let s = seats_for(&load, 20.0, 0.8, None).unwrap();
    assert!(s.service_level >= 0.8);
    let below = erlang_c(&load, s.seats - 1, 20.0).unwrap();
    assert!(below.service_level < 0.8, "{below:?}");
    // 13 seats give about 0.78 and 14 give 0.888.
    assert_eq!(s.seats, 14);
    assert_eq!(s, erlang_c(&load, 14, 20.0).unwrap());
}

#[test]
fn seats_for_with_patience_is_the_smallest_that_meets_it() {
    let load = published_load();
    let s = seats_for(&load, 20.0, 0.8, Some(120.0)).unwrap();
    assert!(s.service_level >= 0.8);
    let below = erlang_a(&load, s.seats - 1, 20.0, 120.0).unwrap();
    assert!(below.service_level < 0.8);
    assert!(s.p_abandon.is_some());
}

#[test]
fn erlang_a_with_long_patience_converges_to_erlang_c() {
    let load = published_load();
    for seats in [11, 12, 14, 20] {
        let c = erlang_c(&load, seats, 20.0).unwrap();
        let a = erlang_a(&load, seats, 20.0, 1.0e7).unwrap();
        assert!((a.p_wait - c.p_wait).abs() < 1e-3, "{seats}: {a:?} {c:?}");
        assert!((a.service_level - c.service_level).abs() < 1e-3);
        assert!((a.occupancy - c.occupancy).abs() < 1e-3);
        assert!((a.asa_secs - c.asa_secs).abs() < 1e-3 * c.asa_secs.max(1.0));
        assert!(a.p_abandon.unwrap() < 1e-3);
    }
}

#[test]
fn erlang_a_abandonment_falls_as_seats_rise() {
    let load = published_load();
    let mut last = 1.0;
    for seats in 1..=25 {
        let s = erlang_a(&load, seats, 20.0, 60.0).unwrap();
        let ab = s.p_abandon.unwrap();
        assert!(ab < last, "{seats}: {ab} !< {last}");
        last = ab;
    }
    assert!(last < 1e-4);
}

#[test]
fn erlang_a_is_stable_below_the_offered_load() {
    let s = erlang_a(&published_load(), 5, 20.0, 90.0).unwrap();
    assert!(s.p_wait > 0.9);
    // Carried traffic cannot exceed the seats.
    assert!(s.occupancy <= 1.0);
    assert!(s.p_abandon.unwrap() > 0.4);
}

#[test]
fn erlang_a_agrees_with_simulation() {
    // A 400 000-call discrete-event simulation of M/M/12+M (patience 60 s) on the published
    // load gave P(wait) 0.245, P(abandon) 0.078, service level 0.857, ASA 3.6 s.
    let s = erlang_a(&published_load(), 12, 20.0, 60.0).unwrap();
    assert!((s.p_wait - 0.245).abs() < 0.01, "{s:?}");
    assert!((s.p_abandon.unwrap() - 0.078).abs() < 0.005);
    assert!((s.service_level - 0.857).abs() < 0.01);
    assert!((s.asa_secs - 3.6).abs() < 0.3);
}

#[test]
fn erlang_a_reports_non_convergence_instead_of_guessing() {
    // One seat for 10 Erlangs with near-infinite patience: the queue settles near 5·10^10.
    let err = erlang_a(&published_load(), 1, 20.0, 1.0e12).unwrap_err();
    assert_eq!(err, StaffingError::NotConverged { seats: 1 });
}

#[test]
fn erlang_c_refuses_an_unstable_queue() {
    let load = published_load();
    for seats in [1, 9, 10] {
        let err = erlang_c(&load, seats, 20.0).unwrap_err();
        assert!(matches!(err, StaffingError::Unstable { .. }), "{err:?}");
        assert!(err.to_string().contains("without bound"));
    }
}

#[test]
fn large_centre_2000_seats_is_finite() {
    let load = Load {
        calls: 36_000.0,
        interval_secs: 3600.0,
        aht_secs: 180.0,
    }; // 1800 Erlangs
    let c = erlang_c(&load, 1850, 20.0).unwrap();
    assert!(c.p_wait.is_finite() && c.p_wait > 0.0 && c.p_wait < 1.0);
    let a = erlang_a(&load, 2000, 20.0, 120.0).unwrap();
    assert!(a.service_level > 0.99);
    // 100 Erlangs more than the seats: in the long run abandonment sheds at least the excess,
    // 100/1800 of the calls.
    let a = erlang_a(&load, 1700, 20.0, 120.0).unwrap();
    let ab = a.p_abandon.unwrap();
    assert!(ab > 100.0 / 1800.0 && ab < 0.06, "{a:?}");
    assert!(a.service_level <= 1.0 - ab);
    let need = seats_for(&load, 20.0, 0.9, None).unwrap();
    assert!(need.seats > 1800 && need.seats < 1900, "{need:?}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let good = published_load();
    let bad = |calls: f64, interval_secs: f64, aht_secs: f64| Load {
        calls,
        interval_secs,
        aht_secs,
    };
    for load in [
        bad(0.0, 1800.0, 180.0),
        bad(-1.0, 1800.0, 180.0),
        bad(f64::NAN, 1800.0, 180.0),
        bad(100.0, 0.0, 180.0),
        bad(100.0, f64::INFINITY, 180.0),
        bad(100.0, 1800.0, -3.0),
        bad(f64::MAX, 1.0e-300, 180.0),
    ] {
        assert!(matches!(
            erlang_c(&load, 14, 20.0),
            Err(StaffingError::InvalidInput { .. })
        ));
        assert!(matches!(
            erlang_a(&load, 14, 20.0, 60.0),
            Err(StaffingError::InvalidInput { .. })
        ));
        assert!(matches!(
            seats_for(&load, 20.0, 0.8, None),
            Err(StaffingError::InvalidInput { .. })
        ));
    }
    assert_eq!(erlang_c(&good, 0, 20.0), Err(StaffingError::NoSeats));
    assert_eq!(erlang_a(&good, 0, 20.0, 60.0), Err(StaffingError::NoSeats));
    assert!(matches!(
        erlang_c(&good, 14, -1.0),
        Err(StaffingError::InvalidInput {
            field: "within_secs",
            ..
        })
    ));
    assert!(matches!(
        erlang_a(&good, 14, 20.0, 0.0),
        Err(StaffingError::InvalidInput {
            field: "patience_secs",
            ..
        })
    ));
    assert!(matches!(
        erlang_a(&good, 14, 20.0, f64::NAN),
        Err(StaffingError::InvalidInput { .. })
    ));
    for target in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        assert!(matches!(
            seats_for(&good, 20.0, target, None),
            Err(StaffingError::InvalidTarget(_))
        ));
    }
    assert!(matches!(
        erlang_c(&good, u32::MAX, 20.0),
        Err(StaffingError::TooManySeats { .. })
    ));
}

fn load_strategy() -> impl Strategy<Value = Load> {
    (1.0f64..5000.0, 60.0f64..7200.0, 10.0f64..1200.0).prop_map(
        |(calls, interval_secs, aht_secs)| Load {
            calls,
            interval_secs,
            aht_secs,
        },
    )
}

fn is_probability(x: f64) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn erlang_c_outputs_are_probabilities_and_monotone(
        load in load_strategy(),
        within in 0.0f64..600.0,
        extra in 0u32..40,
    ) {
        let a = load.offered_erlangs();
        prop_assume!(a < 1500.0);
        let first = a.floor() as u32 + 1;
        let mut last = 0.0;
        for seats in first..=first + extra {
            let s = erlang_c(&load, seats, within).unwrap();
            prop_assert!(is_probability(s.p_wait));
            prop_assert!(is_probability(s.service_level));
            prop_assert!(is_probability(s.occupancy));
            prop_assert!(s.asa_secs.is_finite() && s.asa_secs >= 0.0);
            prop_assert!(s.service_level >= last - 1e-12, "{} < {}", s.service_level, last);
            last = s.service_level;
        }
    }

    #[test]
    fn erlang_a_outputs_are_probabilities_and_monotone(
        load in load_strategy(),
        within in 0.0f64..600.0,
        patience in 1.0f64..1800.0,
        start in 1u32..2000,
        extra in 0u32..12,
    ) {
        let a = load.offered_erlangs();
        prop_assume!(a < 2000.0);
        let mut last = 0.0;
        for seats in start..=start + extra {
            let s = erlang_a(&load, seats, within, patience).unwrap();
            let ab = s.p_abandon.unwrap();
            prop_assert!(is_probability(s.p_wait));
            prop_assert!(is_probability(s.service_level));
            prop_assert!(is_probability(s.occupancy));
            prop_assert!(is_probability(ab));
            prop_assert!(ab <= s.p_wait + 1e-12);
            prop_assert!(s.service_level <= 1.0 - ab + 1e-12);
            prop_assert!(s.asa_secs.is_finite() && s.asa_secs >= 0.0);
            prop_assert!(s.service_level >= last - 1e-9, "{} < {}", s.service_level, last);
            last = s.service_level;
        }
    }

    #[test]
    fn seats_for_meets_target_minimally(
        load in load_strategy(),
        within in 0.0f64..120.0,
        target in 0.05f64..0.99,
        patience in proptest::option::of(5.0f64..900.0),
    ) {
        prop_assume!(load.offered_erlangs() < 500.0);
        let s = seats_for(&load, within, target, patience).unwrap();
        prop_assert!(s.service_level >= target);
        if s.seats > 1 {
            let below = match patience {
                Some(p) => erlang_a(&load, s.seats - 1, within, p).map(|b| b.service_level),
                None => erlang_c(&load, s.seats - 1, within).map(|b| b.service_level),
            };
            match below {
                Ok(sl) => prop_assert!(sl < target),
                Err(e) => {
                    let unstable = matches!(e, StaffingError::Unstable { .. });
                    prop_assert!(unstable, "{e}");
                }
            }
        }
    }
}
