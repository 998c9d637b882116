//! The dial plan as data: numbers, their flows, feature codes, and the checks that make every
//! accepted plan runnable.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::run::FlowRun;

/// One dialed number and the flow its callers go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The dialed number, exactly as it appears in the request URI's user part, e.g. `"12349"`.
    pub number: String,
    /// What happens to its callers.
    pub flow: Flow,
}

/// The steps a caller goes through, in order. The last step, and only the last, is terminal
/// ([`Step::Enqueue`] or [`Step::Reject`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The steps.
    pub steps: Vec<Step>,
}

/// One step of a [`Flow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Play a configured announcement, by prompt name, and wait until it has played.
    Notice {
        /// The prompt's name.
        prompt: String,
    },
    /// Terminal: join the queue fed by the dialed line, tagged with a topic.
    Enqueue {
        /// The topic the call carries (e.g. `"民政"` for the merged 12349 line).
        topic: String,
        /// Priority in the queue; higher is served first.
        priority: u8,
    },
    /// Terminal: refuse the call with a SIP status, e.g. 404, 480 or 503.
    Reject {
        /// The final status, `400..=699`.
        status: u16,
    },
}

impl Step {
    /// Whether the step ends the flow.
    pub const fn is_terminal(&self) -> bool {
        matches!(self, Self::Enqueue { .. } | Self::Reject { .. })
    }
}

/// The numbers a registered seat dials to change its own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCodes {
    /// Become ready for calls, e.g. `"*11"`.
    pub ready: String,
    /// Stop taking calls, e.g. `"*12"`.
    pub not_ready: String,
    /// Sign out, e.g. `"*13"`.
    pub log_out: String,
}

impl FeatureCodes {
    /// Each feature with its code.
    pub fn codes(&self) -> [(Feature, &str); 3] {
        [
            (Feature::Ready, &self.ready),
            (Feature::NotReady, &self.not_ready),
            (Feature::LogOut, &self.log_out),
        ]
    }
}

/// What a feature code asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Take calls.
    Ready,
    /// Stop taking calls.
    NotReady,
    /// Sign out.
    LogOut,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready => "ready",
            Self::NotReady => "not ready",
            Self::LogOut => "log out",
        })
    }
}

/// Why [`DialPlan::new`] refused a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An entry has an empty number.
    #[error("entry {index} has an empty number")]
    EmptyNumber {
        /// Index of the entry.
        index: usize,
    },
    /// Two entries share a number.
    #[error("number {number} has two flows")]
    DuplicateNumber {
        /// The number.
        number: String,
    },
    /// A flow has no steps.
    #[error("the flow of {number} has no steps")]
    EmptyFlow {
        /// The number.
        number: String,
    },
    /// A flow's last step is not terminal, so callers would be left hanging.
    #[error("the flow of {number} does not end in enqueue or reject")]
    NotTerminated {
        /// The number.
        number: String,
    },
    /// A step follows a terminal step and could never run.
    #[error("step {step} of the flow of {number} comes after a terminal step")]
    StepAfterTerminal {
        /// The number.
        number: String,
        /// Index of the unreachable step.
        step: usize,
    },
    /// A reject status outside `400..=699`.
    #[error("the flow of {number} rejects with status {status}; a rejection is 400..=699")]
    BadStatus {
        /// The number.
        number: String,
        /// The status.
        status: u16,
    },
    /// A notice without a prompt name or an enqueue without a topic.
    #[error("step {step} of the flow of {number} has an empty name")]
    EmptyName {
        /// The number.
        number: String,
        /// Index of the step.
        step: usize,
    },
    /// A feature code is empty.
    #[error("the {feature} feature code is empty")]
    EmptyFeatureCode {
        /// The feature.
        feature: Feature,
    },
    /// A feature code is also a dialed number with a flow.
    #[error("feature code {code} is also a number with a flow")]
    FeatureCodeIsNumber {
        /// The code.
        code: String,
    },
    /// Two features share a code.
    #[error("feature code {code} is used twice")]
    DuplicateFeatureCode {
        /// The code.
        code: String,
    },
}

/// A number's flow, shared between the plan and its runs.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) number: String,
    pub(crate) flow: Flow,
}

/// What a dialed number leads to.
#[derive(Debug, Clone)]
enum Target {
    Flow(Arc<Compiled>),
    Feature(Feature),
}

/// Every dialed number the platform answers and its flow, plus the seats' feature codes.
///
/// Immutable once built; cloning is cheap (flows are shared).
#[derive(Debug, Clone)]
pub struct DialPlan {
    /// Numbers and feature codes, one probe per call.
    by_number: HashMap<Box<str>, Target>,
    /// Flows in the order given, for [`DialPlan::numbers`].
    flows: Vec<Arc<Compiled>>,
    features: FeatureCodes,
}

impl DialPlan {
    /// Checks and builds a plan. See the crate documentation for what is refused.
    pub fn new(entries: Vec<Entry>, features: FeatureCodes) -> Result<Self, PlanError> {
        let mut by_number = HashMap::with_capacity(entries.len() + 3);
        let mut flows = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            check_flow(index, &entry)?;
            let compiled = Arc::new(Compiled {
                number: entry.number,
                flow: entry.flow,
            });
            let key: Box<str> = compiled.number.as_str().into();
            if by_number
                .insert(key, Target::Flow(Arc::clone(&compiled)))
                .is_some()
            {
                return Err(PlanError::DuplicateNumber {
                    number: compiled.number.clone(),
                });
            }
            flows.push(compiled);
        }
        for (feature, code) in features.codes() {
            if code.is_empty() {
                return Err(PlanError::EmptyFeatureCode { feature });
            }
            match by_number.insert(code.into(), Target::Feature(feature)) {
                None => {}
                Some(Target::Flow(_)) => {
                    return Err(PlanError::FeatureCodeIsNumber { code: code.into() })
                }
                Some(Target::Feature(_)) => {
                    return Err(PlanError::DuplicateFeatureCode { code: code.into() })
                }
            }
        }
        Ok(Self {
            by_number,
            flows,
            features,
        })
    }

    /// Starts the flow for a call to `dialed`. `from_seat` is the caller's seat id when the
    /// caller is a registered seat; feature codes apply only then. Unknown numbers are
    /// rejected with 404, feature codes dialed by anyone but a seat with 403.
    pub fn start(&self, dialed: &str, from_seat: Option<&str>) -> FlowRun {
        match (self.by_number.get(dialed), from_seat) {
            (Some(Target::Flow(flow)), _) => FlowRun::flow(Arc::clone(flow)),
            (Some(&Target::Feature(feature)), Some(seat)) => FlowRun::feature(seat, feature),
            (Some(Target::Feature(_)), None) => FlowRun::reject(403),
            (None, _) => FlowRun::reject(404),
        }
    }

    /// The numbers with a flow, in the order given to [`DialPlan::new`] (feature codes not
    /// included).
    pub fn numbers(&self) -> impl Iterator<Item = &str> {
        self.flows.iter().map(|f| f.number.as_str())
    }

    /// The flow of a number.
    pub fn flow(&self, number: &str) -> Option<&Flow> {
        match self.by_number.get(number) {
            Some(Target::Flow(compiled)) => Some(&compiled.flow),
            _ => None,
        }
    }

    /// The feature a code stands for, if it is one.
    pub fn feature(&self, code: &str) -> Option<Feature> {
        match self.by_number.get(code) {
            Some(&Target::Feature(feature)) => Some(feature),
            _ => None,
        }
    }

    /// The feature codes.
    pub const fn features(&self) -> &FeatureCodes {
        &self.features
    }
}

fn check_flow(index: usize, entry: &Entry) -> Result<(), PlanError> {
    let number = || entry.number.clone();
    if entry.number.is_empty() {
        return Err(PlanError::EmptyNumber { index });
    }
    let steps = &entry.flow.steps;
    let Some(last) = steps.last() else {
        return Err(PlanError::EmptyFlow { number: number() });
    };
    for (step, s) in steps.iter().enumerate() {
        if s.is_terminal() && step + 1 < steps.len() {
            return Err(PlanError::StepAfterTerminal {
                number: number(),
                step: step + 1,
            });
        }
        match s {
            Step::Notice { prompt: name } | Step::Enqueue { topic: name, .. }
                if name.is_empty() =>
            {
                return Err(PlanError::EmptyName {
                    number: number(),
                    step,
                })
            }
            &Step::Reject { status } if !(400..=699).contains(&status) => {
                return Err(PlanError::BadStatus {
                    number: number(),
                    status,
                })
            }
            _ => {}
        }
    }
    if !last.is_terminal() {
        return Err(PlanError::NotTerminated { number: number() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    fn codes() -> FeatureCodes {
        FeatureCodes {
            ready: "*11".into(),
            not_ready: "*12".into(),
            log_out: "*13".into(),
        }
    }

    fn entry(number: &str, steps: Vec<Step>) -> Entry {
        Entry {
            number: number.into(),
            flow: Flow { steps },
        }
    }

    fn enqueue(topic: &str) -> Step {
        Step::Enqueue {
            topic: topic.into(),
            priority: 0,
        }
    }

    fn notice(prompt: &str) -> Step {
        Step::Notice {
            prompt: prompt.into(),
        }
    }

    #[test]
    fn accepts_and_lists_numbers_in_order() {
        let plan = DialPlan::new(
            vec![
                entry("12345", vec![enqueue("general")]),
                entry("12349", vec![notice("n"), enqueue("民政")]),
                entry("12318", vec![Step::Reject { status: 410 }]),
            ],
            codes(),
        )
        .unwrap();
        assert_eq!(
            plan.numbers().collect::<Vec<_>>(),
            ["12345", "12349", "12318"]
        );
        assert_eq!(plan.flow("12349").unwrap().steps.len(), 2);
        assert!(plan.flow("*11").is_none());
        assert_eq!(plan.feature("*12"), Some(Feature::NotReady));
        assert_eq!(plan.features().log_out, "*13");
    }

    #[test]
    fn refuses_duplicates() {
        let err = DialPlan::new(
            vec![
                entry("12345", vec![enqueue("a")]),
                entry("12345", vec![enqueue("b")]),
            ],
            codes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PlanError::DuplicateNumber {
                number: "12345".into()
            }
        );
        assert_eq!(err.to_string(), "number 12345 has two flows");
    }

    #[test]
    fn refuses_bad_flows() {
        let bad = |steps: Vec<Step>| DialPlan::new(vec![entry("1", steps)], codes()).unwrap_err();
        assert_eq!(bad(vec![]), PlanError::EmptyFlow { number: "1".into() });
        assert_eq!(
            bad(vec![notice("n")]),
            PlanError::NotTerminated { number: "1".into() }
        );
        assert_eq!(
            bad(vec![enqueue("a"), notice("n"), enqueue("b")]),
            PlanError::StepAfterTerminal {
                number: "1".into(),
                step: 1
            }
        );
        assert_eq!(
            bad(vec![Step::Reject { status: 200 }]),
            PlanError::BadStatus {
                number: "1".into(),
                status: 200
            }
        );
        assert_eq!(
            bad(vec![Step::Reject { status: 700 }]),
            PlanError::BadStatus {
                number: "1".into(),
                status: 700
            }
        );
        assert_eq!(
            bad(vec![notice(""), enqueue("a")]),
            PlanError::EmptyName {
                number: "1".into(),
                step: 0
            }
        );
        assert_eq!(
            DialPlan::new(vec![entry("", vec![enqueue("a")])], codes()).unwrap_err(),
            PlanError::EmptyNumber { index: 0 }
        );
    }

    #[test]
    fn refuses_clashing_feature_codes() {
        let err = DialPlan::new(vec![entry("*12", vec![enqueue("a")])], codes()).unwrap_err();
        assert_eq!(err, PlanError::FeatureCodeIsNumber { code: "*12".into() });
        let mut same = codes();
        same.log_out = "*11".into();
        assert_eq!(
            DialPlan::new(vec![], same).unwrap_err(),
            PlanError::DuplicateFeatureCode { code: "*11".into() }
        );
        let mut empty = codes();
        empty.ready = String::new();
        assert_eq!(
            DialPlan::new(vec![], empty).unwrap_err(),
            PlanError::EmptyFeatureCode {
                feature: Feature::Ready
            }
        );
    }

    #[test]
    fn unknown_numbers_and_foreign_feature_codes_are_refused() {
        let plan = DialPlan::new(vec![entry("12345", vec![enqueue("general")])], codes()).unwrap();
        let mut run = plan.start("12346", Some("1001"));
        assert_eq!(
            run.poll_action(),
            Some(Action::Reject {
                status: 404,
                reason: "Not Found"
            })
        );
        assert!(run.is_finished());
        let mut run = plan.start("*13", None);
        assert_eq!(
            run.poll_action(),
            Some(Action::Reject {
                status: 403,
                reason: "Forbidden"
            })
        );
        let mut run = plan.start("*13", Some("2001"));
        assert_eq!(
            run.poll_action(),
            Some(Action::Feature {
                seat: "2001".into(),
                feature: Feature::LogOut
            })
        );
        assert_eq!(run.poll_action(), None);
        assert!(run.is_finished());
    }

    #[test]
    fn a_seat_dialing_a_line_gets_its_flow() {
        let plan = DialPlan::new(vec![entry("12345", vec![enqueue("general")])], codes()).unwrap();
        let mut run = plan.start("12345", Some("1001"));
        assert_eq!(
            run.poll_action(),
            Some(Action::Enqueue {
                line: "12345".into(),
                topic: "general".into(),
                priority: 0
            })
        );
    }
}
