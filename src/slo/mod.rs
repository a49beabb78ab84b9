//! Saturation search (`--slo p99=1ms`): the highest open-loop rate at which every latency objective
//! holds. This module holds the objectives and what a search found; `search` decides which rate to
//! try next; the session (`session::slo`) runs the steps. It knows nothing of output: reporters
//! read `SloResult`.

use crate::runner::PhaseResult;
use crate::stats::ms;

pub mod search;

// The objectives are the plan's (config reads them from flags and profile); re-exported so the
// search and its readers name them here.
pub use crate::config::objectives::{
    DEFAULT_CONFIRM, DEFAULT_RESOLUTION, DEFAULT_STEP, MAX_CONFIRM, MIN_STEP, Objective, Slo,
    display_label, parse_label, parse_latency, parse_objectives, parse_resolution,
};

/// A step that delivers less than this share of its target rate is a miss: the answer is never a
/// rate rbench could not send. The open-loop scheduler delivers within 0.1 % when it keeps up.
pub const DELIVERY: f64 = 0.97;

/// One open-loop step of a search, as measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The target rate (requests per second, the whole phase).
    pub rate: f64,
    /// Requests answered per second of the step.
    pub achieved: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Each objective's percentile, in the order of `Slo::objectives`.
    pub measured: Vec<f64>,
    pub errors: u64,
    pub requests: u64,
    pub pass: bool,
    /// Why a miss missed (`p99 1.32 ms > 1 ms`, `achieved 91% of the target`); empty on a pass.
    pub why: String,
}

impl Step {
    /// Judges a step that ran at `rate` (None: the closed-loop probe, judged by nothing): every
    /// objective must hold over the phase's requests (a mix's commands together), the rate must be
    /// delivered, and failed requests may not exceed `max_error_rate`.
    pub fn judge(slo: &Slo, rate: f64, res: &PhaseResult, max_error_rate: f64) -> Step {
        let mut hist = crate::stats::new_histogram();
        for st in &res.stats {
            let _ = hist.add(&st.hist);
        }
        let requests: u64 = res.stats.iter().map(|s| s.requests()).sum();
        let errors: u64 = res.stats.iter().map(|s| s.failed).sum();
        let achieved = requests as f64 / res.elapsed.as_secs_f64().max(1e-9);
        let measured: Vec<f64> = slo.objectives.iter().map(|o| o.measure(&hist)).collect();
        let mut why: Vec<String> = slo
            .objectives
            .iter()
            .zip(&measured)
            .filter(|(o, m)| **m > o.limit_ms)
            .map(|(o, m)| format!("{} {m:.3} ms > {}", o.name, o.limit_display()))
            .collect();
        if achieved < rate * DELIVERY {
            why.push(format!(
                "delivered {:.0}% of the target",
                100.0 * achieved / rate
            ));
        }
        if errors as f64 > max_error_rate * requests as f64 {
            why.push(format!("{errors} failed requests"));
        }
        if requests == 0 {
            why.push("no request answered".into());
        }
        Step {
            rate,
            achieved,
            p50_ms: ms(hist.value_at_quantile(0.5)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            measured,
            errors,
            requests,
            pass: why.is_empty(),
            why: why.join(", "),
        }
    }

    /// The worst objective's measured/limit ratio, for a miss that delivered its rate (what the
    /// search's descent watches); None when the rate was not delivered.
    pub fn over(&self, slo: &Slo) -> Option<f64> {
        if self.achieved < self.rate * DELIVERY {
            return None;
        }
        slo.objectives
            .iter()
            .zip(&self.measured)
            .map(|(o, m)| m / o.limit_ms)
            .reduce(f64::max)
    }
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The objectives hold up to `max_rps` and fail above it (within the resolution).
    Found,
    /// They hold even at the closed-loop ceiling: the client or the server is the limit, not
    /// latency.
    AtCeiling,
    /// They fail even at the lowest rate tried.
    NotMet,
    /// A signal stopped the search before it finished.
    Interrupted,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::AtCeiling => "at_ceiling",
            Outcome::NotMet => "not_met",
            Outcome::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Found,
            Outcome::AtCeiling,
            Outcome::NotMet,
            Outcome::Interrupted,
        ]
        .into_iter()
        .find(|o| o.name() == s)
    }
}

/// What a result row knows of the search behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct SloResult {
    /// `p99<=1ms,p50<=200us`.
    pub objective: String,
    /// The highest target rate that met every objective (None: none did).
    pub max_rps: Option<f64>,
    /// The closed-loop probe's throughput.
    pub ceiling_rps: f64,
    pub outcome: Outcome,
    /// The steps this row ran: the whole ladder for the search, the one re-run for a repeat.
    pub steps: Vec<Step>,
    /// Whether the step whose numbers fill this row met the objectives.
    pub held: bool,
}

impl SloResult {
    /// How often `rate` ran among the steps, and how often it held: (held, runs).
    pub fn tally(&self, rate: f64) -> (u32, u32) {
        self.steps
            .iter()
            .filter(|s| s.rate == rate)
            .fold((0, 0), |(h, n), s| (h + u32::from(s.pass), n + 1))
    }

    /// The lowest rate that missed at least once: the search's upper bracket.
    pub fn lowest_miss(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| !s.pass)
            .map(|s| s.rate)
            .reduce(f64::min)
    }

    /// ` (held 5/5; missed at 207000 rps, held 1/2)`: how sure the answer is, from the steps.
    fn confidence(&self, rate: f64) -> String {
        let (held, runs) = self.tally(rate);
        if runs == 0 {
            return String::new();
        }
        let above = match self.lowest_miss().filter(|&m| m > rate) {
            Some(m) => {
                let (h, n) = self.tally(m);
                format!("; missed at {m:.0} rps, held {h}/{n}")
            }
            None => String::new(),
        };
        format!(" (held {held}/{runs}{above})")
    }

    /// One line on what the search found, for the console and the table's notes.
    pub fn verdict(&self, display: &str) -> String {
        match (self.outcome, self.max_rps) {
            (Outcome::Found, Some(r)) => {
                format!("max {r:.0} rps with {display}{}", self.confidence(r))
            }
            (Outcome::AtCeiling, _) => format!(
                "{display} holds up to the ceiling: not reached below {:.0} rps (client or server ceiling)",
                self.ceiling_rps
            ),
            (Outcome::Interrupted, Some(r)) => {
                format!("interrupted; {display} held at {r:.0} rps, the highest rate tried")
            }
            (Outcome::Interrupted, None) => format!("interrupted before {display} held"),
            (_, _) => {
                let low = self
                    .steps
                    .iter()
                    .map(|s| s.rate)
                    .fold(f64::INFINITY, f64::min);
                format!("{display} not met, even at the lowest step ({low:.0} rps)")
            }
        }
    }
}
