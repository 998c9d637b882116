//! Staffing: how many seats an interval needs, by Erlang C and Erlang A.
//!
//! Pure functions of the offered [`Load`], the seat count and the service-level threshold; no
//! clock, no I/O. Two models:
//!
//! * **Erlang C** (M/M/N): callers wait forever. Only defined when `seats` exceeds the offered
//!   traffic `A`; otherwise the queue grows without bound and [`erlang_c`] returns
//!   [`StaffingError::Unstable`].
//! * **Erlang A** (M/M/N+M, Palm; Garnett, Mandelbaum & Reiman 2002): callers abandon after an
//!   exponentially distributed patience with the given mean. Stable for every `seats >= 1`.
//!
//! # Numerics
//!
//! Both start from Erlang B by the iterative recursion `1/B(n) = 1 + (n/A)·1/B(n-1)`, carried
//! in logarithms so that neither thousands of seats nor tiny loads overflow or underflow.
//! Erlang C follows from B as `1/C = ((N-A)/N)·(1/B) + A/N`.
//!
//! Erlang A is solved as a **direct birth–death chain**: below `N` busy seats the stationary
//! weights are Erlang B's; with all seats busy and `k` callers queued the chain moves up at rate
//! `λ` and down at rate `Nμ + kθ`. The queue part is summed term by term in log scale (rescaled
//! as it goes), and truncated only once the remaining tail is provably below `e^-40` of the
//! largest term (after the peak the terms shrink geometrically with a falling ratio `r`, so the
//! tail after term `t` is at most `t·r/(1-r)`). If that has not happened after
//! [`MAX_QUEUE_TERMS`] terms — only with patience far longer than the interval and far too few
//! seats — [`StaffingError::NotConverged`] is returned rather than a guess.
//!
//! A caller who finds `k` callers ahead of them is answered after `V = Σ_{j=0..k} Exp(Nμ+jθ)`
//! unless their own patience runs out first. With `x = Nμ/θ`, `1 - e^{-θV}` is Beta(k+1, x)
//! distributed, which gives closed forms per `k`:
//!
//! * P(answered) = `Nμ / (Nμ + (k+1)θ)`;
//! * P(answered within t) = P(answered) · `I_w(k+1, x+1)` with `w = 1 - e^{-θt}` (regularised
//!   incomplete beta, stepped in `k` by its standard recurrence);
//! * E[wait · 1{answered}] = P(answered) · `Σ_{i=1..k+1} 1/(Nμ + iθ)`.
//!
//! # Definitions
//!
//! * **Service level**: the fraction of *all offered* calls answered within the threshold
//!   (abandoned calls count as missed).
//! * **ASA**: mean wait of *answered* calls, including those answered at once.
//! * **Occupancy**: carried traffic per seat, `A·(1 - P(abandon)) / N`.

use std::fmt;

/// The largest seat count evaluated. Far beyond any hotline floor; it bounds the work done.
pub const MAX_SEATS: u32 = 1_000_000;

/// The most queue-length terms the Erlang A chain is summed over before giving up.
pub const MAX_QUEUE_TERMS: u64 = 20_000_000;

/// Relative size (as a natural logarithm) below which the remaining queue tail is dropped.
const TAIL_LOG_TOLERANCE: f64 = -40.0;

/// Offered load over one planning interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Calls offered in the interval.
    pub calls: f64,
    /// Length of the interval, in seconds.
    pub interval_secs: f64,
    /// Average handling time (talk plus wrap-up), in seconds.
    pub aht_secs: f64,
}

impl Load {
    /// Offered traffic `A = calls · aht / interval`, in Erlangs.
    #[must_use]
    pub fn offered_erlangs(&self) -> f64 {
        self.calls * self.aht_secs / self.interval_secs
    }

    /// Checks that every figure is finite and strictly positive.
    ///
    /// # Errors
    ///
    /// [`StaffingError::InvalidInput`] naming the first bad field.
    pub fn validate(&self) -> Result<(), StaffingError> {
        positive("calls", self.calls)?;
        positive("interval_secs", self.interval_secs)?;
        positive("aht_secs", self.aht_secs)?;
        let a = self.offered_erlangs();
        if !a.is_finite() || a <= 0.0 {
            return Err(StaffingError::InvalidInput {
                field: "offered_erlangs",
                value: a,
            });
        }
        Ok(())
    }
}

/// What a given number of seats achieves on a [`Load`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Staffing {
    /// Seats evaluated.
    pub seats: u32,
    /// Probability that an offered call has to wait (finds every seat busy).
    pub p_wait: f64,
    /// Fraction of offered calls answered within the threshold.
    pub service_level: f64,
    /// Fraction of seat time spent handling calls.
    pub occupancy: f64,
    /// Average speed of answer: mean wait of answered calls, in seconds.
    pub asa_secs: f64,
    /// Probability that an offered call abandons; `Some` for Erlang A only.
    pub p_abandon: Option<f64>,
}

/// Why a staffing figure could not be computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StaffingError {
    /// A number that must be finite and positive (or, for the threshold, non-negative) was not.
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// The service-level target is not strictly between 0 and 1.
    InvalidTarget(f64),
    /// Zero seats were asked for.
    NoSeats,
    /// More than [`MAX_SEATS`] seats were asked for, or would be needed.
    TooManySeats {
        /// Seats asked for (or the first count past the limit).
        seats: u64,
    },
    /// Erlang C with no more seats than offered traffic: the queue grows without bound.
    Unstable {
        /// Seats evaluated.
        seats: u32,
        /// Offered traffic, in Erlangs.
        offered_erlangs: f64,
    },
    /// The Erlang A queue sum did not converge within [`MAX_QUEUE_TERMS`] terms.
    NotConverged {
        /// Seats evaluated.
        seats: u32,
    },
}

impl fmt::Display for StaffingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput { field, value } => {
                write!(f, "{field} must be a finite positive number, got {value}")
            }
            Self::InvalidTarget(t) => {
                write!(
                    f,
                    "service-level target must lie strictly between 0 and 1, got {t}"
                )
            }
            Self::NoSeats => f.write_str("at least one seat is needed"),
            Self::TooManySeats { seats } => {
                write!(
                    f,
                    "{seats} seats is beyond the supported maximum of {MAX_SEATS}"
                )
            }
            Self::Unstable {
                seats,
                offered_erlangs,
            } => write!(
                f,
                "{seats} seats cannot carry {offered_erlangs:.3} Erlangs without abandonment: \
                 the queue grows without bound (Erlang C needs more seats than Erlangs; \
                 give a caller patience for Erlang A)"
            ),
            Self::NotConverged { seats } => write!(
                f,
                "Erlang A queue sum for {seats} seats did not converge within \
                 {MAX_QUEUE_TERMS} terms (patience too long for so few seats)"
            ),
        }
    }
}

impl std::error::Error for StaffingError {}

/// Erlang C (no abandonment): what `seats` achieve on `load` with threshold `within_secs`.
///
/// # Errors
///
/// Bad input ([`StaffingError::InvalidInput`], [`StaffingError::NoSeats`],
/// [`StaffingError::TooManySeats`]) or `seats <= A` ([`StaffingError::Unstable`]).
pub fn erlang_c(load: &Load, seats: u32, within_secs: f64) -> Result<Staffing, StaffingError> {
    load.validate()?;
    non_negative("within_secs", within_secs)?;
    check_seats(seats)?;
    let a = load.offered_erlangs();
    erlang_c_at(load, a, seats, log_inv_erlang_b(a, seats), within_secs)
}

/// Erlang A (exponential patience with mean `patience_secs`): what `seats` achieve on `load`.
///
/// # Errors
///
/// Bad input, or [`StaffingError::NotConverged`] (see the module documentation).
pub fn erlang_a(
    load: &Load,
    seats: u32,
    within_secs: f64,
    patience_secs: f64,
) -> Result<Staffing, StaffingError> {
    load.validate()?;
    non_negative("within_secs", within_secs)?;
    positive("patience_secs", patience_secs)?;
    check_seats(seats)?;
    let a = load.offered_erlangs();
    erlang_a_at(
        load,
        a,
        seats,
        log_inv_erlang_b(a, seats),
        within_secs,
        patience_secs,
    )
}

/// The smallest seat count whose service level is at least `target`: by Erlang A when
/// `patience_secs` is given, else by Erlang C (which starts at the first stable count).
///
/// # Errors
///
/// Bad input, [`StaffingError::InvalidTarget`], [`StaffingError::TooManySeats`] when no count up
/// to [`MAX_SEATS`] meets the target, or [`StaffingError::NotConverged`].
pub fn seats_for(
    load: &Load,
    within_secs: f64,
    target: f64,
    patience_secs: Option<f64>,
) -> Result<Staffing, StaffingError> {
    load.validate()?;
    non_negative("within_secs", within_secs)?;
    if !(target > 0.0 && target < 1.0) {
        return Err(StaffingError::InvalidTarget(target));
    }
    if let Some(p) = patience_secs {
        positive("patience_secs", p)?;
    }
    let a = load.offered_erlangs();
    let first = match patience_secs {
        Some(_) => 1.0,
        // Smallest integer strictly above A.
        None => a.floor() + 1.0,
    };
    if first > f64::from(MAX_SEATS) {
        return Err(StaffingError::TooManySeats {
            seats: first as u64,
        });
    }
    let first = first as u32;
    let mut log_inv_b = log_inv_erlang_b(a, first);
    let mut n = first;
    loop {
        let s = match patience_secs {
            Some(p) => erlang_a_at(load, a, n, log_inv_b, within_secs, p)?,
            None => erlang_c_at(load, a, n, log_inv_b, within_secs)?,
        };
        if s.service_level >= target {
            return Ok(s);
        }
        if n >= MAX_SEATS {
            return Err(StaffingError::TooManySeats {
                seats: u64::from(n) + 1,
            });
        }
        n += 1;
        log_inv_b = log_inv_erlang_b_step(a, n, log_inv_b);
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), StaffingError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(StaffingError::InvalidInput { field, value })
    }
}

fn non_negative(field: &'static str, value: f64) -> Result<(), StaffingError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(StaffingError::InvalidInput { field, value })
    }
}

fn check_seats(seats: u32) -> Result<(), StaffingError> {
    if seats == 0 {
        Err(StaffingError::NoSeats)
    } else if seats > MAX_SEATS {
        Err(StaffingError::TooManySeats {
            seats: u64::from(seats),
        })
    } else {
        Ok(())
    }
}

/// `ln(1/B(n, a))` from `ln(1/B(n-1, a))`: `1/B(n) = 1 + (n/a)·1/B(n-1)`.
fn log_inv_erlang_b_step(a: f64, n: u32, prev: f64) -> f64 {
    let grow = (f64::from(n) / a).ln() + prev;
    // ln(1 + e^grow), stable for either sign of grow.
    if grow > 0.0 {
        grow + (-grow).exp().ln_1p()
    } else {
        grow.exp().ln_1p()
    }
}

/// `ln(1/B(n, a))` by the Erlang B recursion from `B(0) = 1`.
fn log_inv_erlang_b(a: f64, n: u32) -> f64 {
    (1..=n).fold(0.0, |l, k| log_inv_erlang_b_step(a, k, l))
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

fn erlang_c_at(
    load: &Load,
    a: f64,
    seats: u32,
    log_inv_b: f64,
    within_secs: f64,
) -> Result<Staffing, StaffingError> {
    let n = f64::from(seats);
    if n <= a {
        return Err(StaffingError::Unstable {
            seats,
            offered_erlangs: a,
        });
    }
    // 1/C = ((N-A)/N)·(1/B) + A/N; an overflowing 1/B gives C = 0, never NaN.
    let inv_c = (n - a) / n * log_inv_b.exp() + a / n;
    let c = clamp01(1.0 / inv_c);
    let slack = n - a;
    let service_level = clamp01(1.0 - c * (-slack * within_secs / load.aht_secs).exp());
    Ok(Staffing {
        seats,
        p_wait: c,
        service_level,
        occupancy: clamp01(a / n),
        asa_secs: c * load.aht_secs / slack,
        p_abandon: None,
    })
}

fn erlang_a_at(
    load: &Load,
    a: f64,
    seats: u32,
    log_inv_b: f64,
    within_secs: f64,
    patience_secs: f64,
) -> Result<Staffing, StaffingError> {
    let n = f64::from(seats);
    let mu = 1.0 / load.aht_secs;
    let lambda = a * mu;
    let theta = 1.0 / patience_secs;
    let n_mu = n * mu;
    let t = within_secs;

    // Queue weights t_k = Π_{j=1..k} λ/(Nμ + jθ), t_0 = 1, kept as ln t_k and summed relative
    // to the running maximum `log_max`.
    let mut log_term = 0.0_f64;
    let mut log_max = 0.0_f64;
    let mut sum = 0.0_f64; // Σ t_k
    let mut sum_abandon = 0.0_f64; // Σ t_k · P(abandon | k ahead)
    let mut sum_within = 0.0_f64; // Σ t_k · P(answered within t | k ahead)
    let mut sum_wait = 0.0_f64; // Σ t_k · E[wait · 1{answered} | k ahead]

    // Incomplete beta I_w(k+1, x+1), x = Nμ/θ, w = 1 - e^{-θt}: I(1) = 1 - (1-w)^{x+1}, then
    // I(a+1) = I(a) - T(a), T(1) = (x+1)·w·(1-w)^{x+1}, T(a+1) = T(a)·w·(a+x+1)/(a+1).
    let w = -(-theta * t).exp_m1();
    let ln_w_over_theta = w.ln() - theta.ln();
    let mut inc_beta = -(-(n_mu + theta) * t).exp_m1();
    let mut log_t_beta = ((n_mu + theta) / theta).ln() + w.ln() - (n_mu + theta) * t;
    // Σ_{i=1..k+1} 1/(Nμ + iθ)
    let mut harmonic = 0.0_f64;

    let mut k: u64 = 0;
    loop {
        let kp1 = (k + 1) as f64;
        let answered = n_mu / (n_mu + kp1 * theta);
        harmonic += 1.0 / (n_mu + kp1 * theta);

        if log_term > log_max {
            let rescale = (log_max - log_term).exp();
            sum *= rescale;
            sum_abandon *= rescale;
            sum_within *= rescale;
            sum_wait *= rescale;
            log_max = log_term;
        }
        let weight = (log_term - log_max).exp();
        sum += weight;
        sum_abandon += weight * (1.0 - answered);
        sum_within += weight * answered * clamp01(inc_beta);
        sum_wait += weight * answered * harmonic;

        // Next term.
        let ratio = lambda / (n_mu + (kp1) * theta);
        if ratio < 1.0 {
            let tail_bound = log_term + (ratio / (1.0 - ratio)).ln();
            if tail_bound - log_max < TAIL_LOG_TOLERANCE {
                break;
            }
        }
        k += 1;
        if k >= MAX_QUEUE_TERMS {
            return Err(StaffingError::NotConverged { seats });
        }
        log_term += ratio.ln();
        inc_beta -= log_t_beta.exp();
        log_t_beta += ln_w_over_theta + ((kp1 + 1.0) * theta + n_mu).ln() - (kp1 + 1.0).ln();
    }

    // P(wait) = B·S / (1 + B·(S - 1)) = 1 / (1 + (1/B - 1)/S), in logs.
    let log_s = log_max + sum.ln();
    let log_inv_b_minus_1 = log_inv_b + (-(-log_inv_b).exp_m1()).ln();
    let p_wait = clamp01(1.0 / (1.0 + (log_inv_b_minus_1 - log_s).exp()));
    let p_abandon = clamp01(p_wait * sum_abandon / sum);
    let service_level = clamp01((1.0 - p_wait) + p_wait * sum_within / sum);
    let answered = 1.0 - p_abandon;
    let asa_secs = if answered > 0.0 {
        (p_wait * sum_wait / sum / answered).max(0.0)
    } else {
        0.0
    };
    Ok(Staffing {
        seats,
        p_wait,
        service_level,
        occupancy: clamp01(a * answered / n),
        asa_secs,
        p_abandon: Some(p_abandon),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> Load {
        Load {
            calls: 100.0,
            interval_secs: 1800.0,
            aht_secs: 180.0,
        }
    }

    #[test]
    fn erlang_b_recursion_matches_closed_form() {
        // B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2
        let b = (-log_inv_erlang_b(1.0, 2)).exp();
        assert!((b - 0.2).abs() < 1e-12);
    }

    #[test]
    fn erlang_b_survives_many_seats_and_tiny_load() {
        let l = log_inv_erlang_b(0.01, 2000);
        assert!(l.is_finite() && l > 1000.0);
        let s = erlang_c(
            &Load {
                calls: 1.0,
                interval_secs: 18_000.0,
                aht_secs: 180.0,
            },
            2000,
            20.0,
        )
        .unwrap();
        assert_eq!(s.p_wait, 0.0);
        assert_eq!(s.service_level, 1.0);
    }

    #[test]
    fn published_vector() {
        let s = erlang_c(&vector(), 14, 20.0).unwrap();
        // Exact values from an independent double-precision evaluation of the textbook
        // formulas. The published service level 0.8883 is the exact 0.888350019… truncated.
        assert!((s.p_wait - 0.174_131_933_595_049_83).abs() < 1e-12);
        assert!((s.service_level - 0.888_350_019_179_466_9).abs() < 1e-12);
        assert!((s.occupancy - 10.0 / 14.0).abs() < 1e-12);
        assert!((s.asa_secs - 7.835_937_011_777_243).abs() < 1e-10);
    }

    #[test]
    fn erlang_a_zero_threshold_is_answered_at_once() {
        let s = erlang_a(&vector(), 12, 0.0, 60.0).unwrap();
        assert!((s.service_level - (1.0 - s.p_wait)).abs() < 1e-12);
    }

    #[test]
    fn erlang_a_single_seat_matches_mm1_plus_m_abandonment() {
        // M/M/1+M with θ = μ: queue weights are λ^k/(μ^k (k+1)!)-like; check the identity
        // P(abandon)·λ = θ·E[queue] by an independent sum.
        let load = Load {
            calls: 2.0,
            interval_secs: 1.0,
            aht_secs: 1.0,
        };
        let s = erlang_a(&load, 1, 1.0, 1.0).unwrap();
        let (lambda, mu, theta) = (2.0_f64, 1.0_f64, 1.0_f64);
        let mut p = vec![1.0_f64];
        for k in 1..200 {
            let prev = p[k - 1];
            let death = if k == 1 {
                mu
            } else {
                mu + (k as f64 - 1.0) * theta
            };
            p.push(prev * lambda / death);
        }
        let z: f64 = p.iter().sum();
        let queue: f64 = p
            .iter()
            .enumerate()
            .map(|(i, v)| (i.saturating_sub(1)) as f64 * v / z)
            .sum();
        let p_wait = 1.0 - p[0] / z;
        assert!(
            (s.p_wait - p_wait).abs() < 1e-12,
            "{} vs {p_wait}",
            s.p_wait
        );
        let p_ab = theta * queue / lambda;
        assert!((s.p_abandon.unwrap() - p_ab).abs() < 1e-12);
    }
}
