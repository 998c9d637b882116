//! The surge pool (高峰应急): opens when the platform falls behind, closes when calm.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::SurgeConfig;
use crate::model::SurgeReason;

/// What an evaluation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SurgeChange {
    Open(SurgeReason),
    Close(SurgeReason),
}

/// Surge state and the recent window of answered-within-limit outcomes.
#[derive(Debug)]
pub(crate) struct Surge {
    cfg: SurgeConfig,
    pub(crate) open: bool,
    /// Opened by hand: automatic evaluation does not close it.
    manual: bool,
    behind_since: Option<(Instant, SurgeReason)>,
    calm_since: Option<Instant>,
    /// (when the wait ended, answered within the limit) for calls that left the queue.
    window: VecDeque<(Instant, bool)>,
    within: usize,
}

impl Surge {
    pub(crate) fn new(cfg: SurgeConfig) -> Self {
        Self {
            cfg,
            open: false,
            manual: false,
            behind_since: None,
            calm_since: None,
            window: VecDeque::with_capacity(1024),
            within: 0,
        }
    }

    /// The evaluation period, if evaluation is automatic.
    pub(crate) fn eval_every(&self) -> Option<Duration> {
        self.cfg.automatic.then_some(self.cfg.eval_every)
    }

    /// The answer-rate limit (15 s).
    pub(crate) const fn answer_within(&self) -> Duration {
        self.cfg.answer_within
    }

    /// Whether evaluation still has work: something waits, surge is open, or a timer runs.
    pub(crate) const fn needs_eval(&self, waiting: u64) -> bool {
        waiting > 0 || self.open || self.behind_since.is_some()
    }

    /// Records a call whose wait ended at `at`: answered within the limit or not.
    pub(crate) fn record(&mut self, at: Instant, answered_within: bool) {
        self.window.push_back((at, answered_within));
        self.within += usize::from(answered_within);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, ok)) = self.window.front() {
            if now.saturating_duration_since(at) <= self.cfg.window {
                break;
            }
            self.window.pop_front();
            self.within -= usize::from(ok);
        }
    }

    fn behind(&self, longest_wait: Duration, waiting: usize) -> Option<SurgeReason> {
        if let Some(limit) = self.cfg.longest_wait {
            if waiting > 0 && longest_wait >= limit {
                return Some(SurgeReason::LongestWait(longest_wait));
            }
        }
        if let Some(limit) = self.cfg.calls_waiting {
            if waiting >= limit {
                return Some(SurgeReason::CallsWaiting(waiting));
            }
        }
        if let Some(limit) = self.cfg.answer_rate_below_permille {
            let n = self.window.len();
            if n >= self.cfg.min_samples.max(1) {
                let permille = u16::try_from(self.within * 1000 / n).unwrap_or(1000);
                if permille < limit {
                    return Some(SurgeReason::AnswerRate { permille });
                }
            }
        }
        None
    }

    /// Evaluates the thresholds at `now`.
    pub(crate) fn evaluate(
        &mut self,
        now: Instant,
        longest_wait: Duration,
        waiting: usize,
    ) -> Option<SurgeChange> {
        self.expire(now);
        let behind = self.behind(longest_wait, waiting);
        if self.open {
            if self.manual || behind.is_some() {
                self.calm_since = None;
                return None;
            }
            let since = *self.calm_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.cfg.close_after {
                self.open = false;
                self.calm_since = None;
                self.behind_since = None;
                return Some(SurgeChange::Close(SurgeReason::Calm));
            }
            return None;
        }
        let Some(reason) = behind else {
            self.behind_since = None;
            return None;
        };
        let (since, _) = *self.behind_since.get_or_insert((now, reason));
        if now.saturating_duration_since(since) >= self.cfg.open_after {
            self.open = true;
            self.behind_since = None;
            self.calm_since = None;
            return Some(SurgeChange::Open(reason));
        }
        None
    }

    /// A supervisor's open or close. Returns true if the state changed.
    ///
    /// A manual open holds until a manual close; a manual close hands back to automatic
    /// evaluation, which needs a fresh `open_after` of falling behind to reopen.
    pub(crate) fn manual(&mut self, open: bool) -> bool {
        self.behind_since = None;
        self.calm_since = None;
        self.manual = open;
        let changed = self.open != open;
        self.open = open;
        changed
    }
}
