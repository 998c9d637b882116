//! One call going through its flow: the interpreter.

use std::sync::Arc;

use crate::plan::{Compiled, Feature, Step};
use crate::status::reason_phrase;

/// What the caller of [`FlowRun::poll_action`] must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play the prompt to the caller, then call [`FlowRun::prompt_done`].
    Play {
        /// The prompt's name.
        prompt: String,
    },
    /// Terminal: put the call in the queue fed by `line`, with this topic and priority.
    Enqueue {
        /// The dialed number, kept on the call (statistics and routing use it).
        line: String,
        /// The topic.
        topic: String,
        /// The priority; higher is served first.
        priority: u8,
    },
    /// Terminal: answer the call with this final status.
    Reject {
        /// SIP status, `400..=699`.
        status: u16,
        /// Its reason phrase (RFC 3261 §21), e.g. `"Not Found"` for 404.
        reason: &'static str,
    },
    /// Terminal: a registered seat dialed a feature code; change its state.
    Feature {
        /// The seat's id, as given to [`crate::DialPlan::start`].
        seat: String,
        /// What it asked for.
        feature: Feature,
    },
}

/// The state of one call's flow. Built by [`crate::DialPlan::start`]; see the crate
/// documentation for the driving contract.
#[derive(Debug, Clone)]
pub struct FlowRun {
    state: State,
}

/// What the run expects next.
#[derive(Debug, Clone)]
enum State {
    /// Ready to hand out step `next` of the flow.
    Step { flow: Arc<Compiled>, next: usize },
    /// A prompt was handed out; waiting for `prompt_done`, then step `next`.
    ExpectPromptDone { flow: Arc<Compiled>, next: usize },
    /// One terminal action to hand out (unknown numbers, feature codes).
    Immediate(Action),
    /// The terminal action was handed out.
    Finished,
}

impl FlowRun {
    pub(crate) const fn flow(flow: Arc<Compiled>) -> Self {
        Self {
            state: State::Step { flow, next: 0 },
        }
    }

    pub(crate) fn feature(seat: &str, feature: Feature) -> Self {
        Self {
            state: State::Immediate(Action::Feature {
                seat: seat.to_owned(),
                feature,
            }),
        }
    }

    pub(crate) const fn reject(status: u16) -> Self {
        Self {
            state: State::Immediate(Action::Reject {
                status,
                reason: reason_phrase(status),
            }),
        }
    }

    /// The next action, or `None` while a prompt is playing or once the run is finished.
    pub fn poll_action(&mut self) -> Option<Action> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Step { flow, next } => {
                let action = match flow.flow.steps.get(next)? {
                    Step::Notice { prompt } => Action::Play {
                        prompt: prompt.clone(),
                    },
                    Step::Enqueue { topic, priority } => Action::Enqueue {
                        line: flow.number.clone(),
                        topic: topic.clone(),
                        priority: *priority,
                    },
                    &Step::Reject { status } => Action::Reject {
                        status,
                        reason: reason_phrase(status),
                    },
                };
                if matches!(action, Action::Play { .. }) {
                    self.state = State::ExpectPromptDone {
                        flow,
                        next: next + 1,
                    };
                }
                Some(action)
            }
            waiting @ State::ExpectPromptDone { .. } => {
                self.state = waiting;
                None
            }
            State::Immediate(action) => Some(action),
            State::Finished => None,
        }
    }

    /// The prompt handed out by the last [`Action::Play`] has ended (or could not be played).
    /// Ignored when no prompt is playing.
    pub fn prompt_done(&mut self) {
        if let State::ExpectPromptDone { flow, next } = &self.state {
            self.state = State::Step {
                flow: Arc::clone(flow),
                next: *next,
            };
        }
    }

    /// Whether a prompt is playing, i.e. [`FlowRun::prompt_done`] is expected.
    pub const fn is_playing(&self) -> bool {
        matches!(self.state, State::ExpectPromptDone { .. })
    }

    /// Whether the terminal action has been handed out.
    pub const fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Action, DialPlan, Entry, FeatureCodes, Flow, Step};

    #[test]
    fn notices_wait_for_prompt_done() {
        let plan = DialPlan::new(
            vec![Entry {
                number: "12349".into(),
                flow: Flow {
                    steps: vec![
                        Step::Notice { prompt: "a".into() },
                        Step::Notice { prompt: "b".into() },
                        Step::Reject { status: 480 },
                    ],
                },
            }],
            FeatureCodes {
                ready: "*11".into(),
                not_ready: "*12".into(),
                log_out: "*13".into(),
            },
        )
        .unwrap();
        let mut run = plan.start("12349", None);
        run.prompt_done(); // nothing playing: ignored
        assert_eq!(run.poll_action(), Some(Action::Play { prompt: "a".into() }));
        assert!(run.is_playing());
        assert_eq!(run.poll_action(), None);
        assert_eq!(run.poll_action(), None);
        run.prompt_done();
        assert!(!run.is_playing());
        assert_eq!(run.poll_action(), Some(Action::Play { prompt: "b".into() }));
        run.prompt_done();
        run.prompt_done(); // a second report is ignored
        assert!(!run.is_finished());
        assert_eq!(
            run.poll_action(),
            Some(Action::Reject {
                status: 480,
                reason: "Temporarily Unavailable"
            })
        );
        assert!(run.is_finished());
        assert_eq!(run.poll_action(), None);
    }
}
