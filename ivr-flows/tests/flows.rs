//! Property tests of the dial plan: the validator's verdict matches an independent oracle, and
//! every flow it accepts runs to exactly one terminal action.

use std::collections::HashSet;

use ivr_flows::{Action, DialPlan, Entry, Feature, FeatureCodes, Flow, Step};
use proptest::prelude::*;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop_oneof![Just(""), Just("welcome"), Just("merged-12349")]
            .prop_map(|p| Step::Notice { prompt: p.into() }),
        3 => (prop_oneof![Just(""), Just("general"), Just("民政")], any::<u8>())
            .prop_map(|(t, priority)| Step::Enqueue { topic: t.into(), priority }),
        2 => prop_oneof![Just(404u16), Just(480), Just(503), Just(699), Just(200), Just(700), Just(399)]
            .prop_map(|status| Step::Reject { status }),
    ]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    let number = prop_oneof![
        Just("12345"),
        Just("12348"),
        Just("12349"),
        Just("62912345"),
        Just("*11"),
        Just("")
    ];
    prop::collection::vec(
        (number, prop::collection::vec(step(), 0..5)).prop_map(|(n, steps)| Entry {
            number: n.into(),
            flow: Flow { steps },
        }),
        0..5,
    )
}

/// Plans that are mostly valid: notices, then one terminal step, on distinct numbers.
fn runnable_entries() -> impl Strategy<Value = Vec<Entry>> {
    let flow = (
        prop::collection::vec(
            prop_oneof![Just("welcome"), Just("merged-12349")]
                .prop_map(|p| Step::Notice { prompt: p.into() }),
            0..4,
        ),
        prop_oneof![
            any::<u8>().prop_map(|priority| Step::Enqueue {
                topic: "legal".into(),
                priority
            }),
            (400u16..=699).prop_map(|status| Step::Reject { status }),
        ],
    )
        .prop_map(|(mut steps, last)| {
            steps.push(last);
            Flow { steps }
        });
    prop::collection::vec(flow, 0..6).prop_map(|flows| {
        flows
            .into_iter()
            .enumerate()
            .map(|(i, flow)| Entry {
                number: format!("1234{i}"),
                flow,
            })
            .collect()
    })
}

fn standard_codes() -> FeatureCodes {
    FeatureCodes {
        ready: "*11".into(),
        not_ready: "*12".into(),
        log_out: "*13".into(),
    }
}

fn codes() -> impl Strategy<Value = FeatureCodes> {
    let code = prop_oneof![
        Just("*11"),
        Just("*12"),
        Just("*13"),
        Just("12345"),
        Just("")
    ];
    (code.clone(), code.clone(), code).prop_map(|(a, b, c)| FeatureCodes {
        ready: a.into(),
        not_ready: b.into(),
        log_out: c.into(),
    })
}

/// What the validator should say, written independently of it.
fn oracle(entries: &[Entry], codes: &FeatureCodes) -> bool {
    let mut seen = HashSet::new();
    for e in entries {
        let steps = &e.flow.steps;
        let terminal = |s: &Step| matches!(s, Step::Enqueue { .. } | Step::Reject { .. });
        let ok = !e.number.is_empty()
            && seen.insert(e.number.as_str())
            && steps.last().is_some_and(terminal)
            && steps[..steps.len() - 1].iter().all(|s| !terminal(s))
            && steps.iter().all(|s| match s {
                Step::Notice { prompt } => !prompt.is_empty(),
                Step::Enqueue { topic, .. } => !topic.is_empty(),
                Step::Reject { status } => (400..=699).contains(status),
            });
        if !ok {
            return false;
        }
    }
    [&codes.ready, &codes.not_ready, &codes.log_out]
        .into_iter()
        .all(|c| !c.is_empty() && seen.insert(c.as_str()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validator_matches_oracle(entries in entries(), codes in codes()) {
        let expected = oracle(&entries, &codes);
        let got = DialPlan::new(entries, codes);
        prop_assert_eq!(got.is_ok(), expected, "{:?}", got.err());
    }

    #[test]
    fn accepted_flows_run_to_exactly_one_terminal_action(
        entries in prop_oneof![entries(), runnable_entries()],
        codes in prop_oneof![codes(), Just(standard_codes())],
        seat in prop_oneof![Just(None), Just(Some("1001"))],
        dialed in prop_oneof![Just("12345"), Just("12341"), Just("*11"), Just("*12"), Just("110")],
    ) {
        let Ok(plan) = DialPlan::new(entries.clone(), codes) else { return Ok(()) };
        let numbers: Vec<&str> = plan.numbers().collect();
        let expected: Vec<&str> = entries.iter().map(|e| e.number.as_str()).collect();
        prop_assert_eq!(numbers.clone(), expected);
        for number in numbers.into_iter().chain([dialed]) {
            let mut run = plan.start(number, seat);
            let notices = plan
                .flow(number)
                .map_or(0, |f| f.steps.iter().filter(|s| matches!(s, Step::Notice { .. })).count());
            let (mut plays, mut terminals) = (0, 0);
            // Bounded: a flow has fewer than 5 steps; each poll either plays or ends.
            for _ in 0..20 {
                match run.poll_action() {
                    Some(Action::Play { .. }) => {
                        prop_assert!(!run.is_finished());
                        plays += 1;
                        prop_assert_eq!(run.poll_action(), None);
                        run.prompt_done();
                    }
                    Some(action) => {
                        terminals += 1;
                        prop_assert!(run.is_finished());
                        match action {
                            Action::Enqueue { line, .. } => prop_assert_eq!(line, number),
                            Action::Feature { seat: s, feature } => {
                                prop_assert_eq!(Some(s.as_str()), seat);
                                prop_assert_eq!(plan.feature(number), Some(feature));
                            }
                            Action::Reject { status, reason } => {
                                prop_assert!((400..=699).contains(&status));
                                prop_assert!(!reason.is_empty());
                            }
                            Action::Play { .. } => unreachable!(),
                        }
                    }
                    None => break,
                }
            }
            prop_assert_eq!(terminals, 1);
            prop_assert_eq!(plays, notices);
            prop_assert!(run.is_finished());
            prop_assert_eq!(run.poll_action(), None);
        }
    }
}

#[test]
fn feature_codes_map_to_features() {
    let plan = DialPlan::new(vec![], standard_codes()).unwrap();
    for (code, feature) in [
        ("*11", Feature::Ready),
        ("*12", Feature::NotReady),
        ("*13", Feature::LogOut),
    ] {
        let mut run = plan.start(code, Some("1001"));
        assert_eq!(
            run.poll_action(),
            Some(Action::Feature {
                seat: "1001".into(),
                feature
            })
        );
    }
}
