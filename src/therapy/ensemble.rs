//! Replicates of a therapy run on a stochastic engine, and what they say together.
//!
//! Each replicate is a pure function of (model, schedule, options, seed, replicate
//! number), so the replicates can run on any number of threads with the same result.
//! The ensemble's endpoints are right-censored: a replicate that never became
//! resistant says only that its time to resistance exceeds the run's end. Medians and
//! quartiles are therefore Kaplan-Meier estimates, undefined (None) when fewer than
//! that share of replicates reached the event; the probabilities of an event by the
//! end count replicates.
//!
//! ## References
//! - Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete
//!   observations. J Am Stat Assoc 53:457-481.

use rayon::prelude::*;
use serde::Serialize;

use super::types::{Endpoint, TherapyError, TherapyOptions, TherapyResult};
pub use crate::abm::ensemble::quantile;
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::EngineKind;
use crate::schedule::Schedule;

/// Run replicates `0..replicates` of `schedule` (one run for the mean-field engine,
/// whatever `replicates` says: it has no randomness), the model bound once.
pub fn run_replicates(
    model: &CompiledModel,
    schedule: &Schedule,
    options: &TherapyOptions,
    replicates: u64,
) -> Result<Vec<TherapyResult>, TherapyError> {
    let bound = super::driver::bind(model, schedule, options)?;
    run_replicates_bound(model, &bound, schedule, options, replicates)
}

/// [`run_replicates`] on `bound`, the model bound with `options.params`
/// ([`super::driver::bind`]).
pub fn run_replicates_bound(
    model: &CompiledModel,
    bound: &BoundModel,
    schedule: &Schedule,
    options: &TherapyOptions,
    replicates: u64,
) -> Result<Vec<TherapyResult>, TherapyError> {
    let n = if options.engine.is_stochastic() {
        replicates.max(1)
    } else {
        1
    };
    (0..n)
        .into_par_iter()
        .map(|r| {
            let o = TherapyOptions {
                replicate: r,
                ..options.clone()
            };
            super::driver::run_bound(model, bound, schedule, &o)
        })
        .collect()
}

/// Kaplan-Meier quantiles of a censored time-to-event sample (days).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurvivalSummary {
    pub reached: usize,
    pub censored: usize,
    /// Share of replicates with the event by the end of their run.
    pub probability_by_end: f64,
    /// Times (days) by which 25 %, 50 % and 75 % of replicates had the event; None
    /// where the Kaplan-Meier curve does not fall that far.
    pub q25_days: Option<f64>,
    pub median_days: Option<f64>,
    pub q75_days: Option<f64>,
}

impl SurvivalSummary {
    pub fn of(endpoints: &[Endpoint]) -> SurvivalSummary {
        let reached = endpoints.iter().filter(|e| e.reached).count();
        let n = endpoints.len();
        SurvivalSummary {
            reached,
            censored: n - reached,
            probability_by_end: if n > 0 {
                reached as f64 / n as f64
            } else {
                f64::NAN
            },
            q25_days: km_quantile(endpoints, 0.25),
            median_days: km_quantile(endpoints, 0.5),
            q75_days: km_quantile(endpoints, 0.75),
        }
    }
}

/// First time at which the Kaplan-Meier estimate of P(event by t) reaches `q`.
pub fn km_quantile(endpoints: &[Endpoint], q: f64) -> Option<f64> {
    let mut e: Vec<(f64, bool)> = endpoints.iter().map(|e| (e.days, e.reached)).collect();
    // Events before censorings at equal times (the usual convention).
    e.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut at_risk = e.len() as f64;
    let mut survival = 1.0;
    let mut i = 0;
    while i < e.len() {
        let t = e[i].0;
        let (mut events, mut leaving) = (0.0, 0.0);
        while i < e.len() && e[i].0 == t {
            events += if e[i].1 { 1.0 } else { 0.0 };
            leaving += 1.0;
            i += 1;
        }
        if events > 0.0 {
            survival *= 1.0 - events / at_risk;
            if 1.0 - survival >= q - 1e-12 {
                return Some(t);
            }
        }
        at_risk -= leaving;
    }
    None
}

/// How one replicate went, as one of a few stories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Extinct without a resistance event first.
    Cured,
    /// A resistance event, and then extinct (e.g. cured by a second drug).
    ResistantThenCured,
    /// A resistance event, cells left at the end.
    Resistant,
    /// Neither by the end (both endpoints censored).
    Neither,
}

impl Outcome {
    pub fn of(r: &TherapyResult) -> Outcome {
        let s = &r.summary;
        match (s.resistance.reached, s.extinction.reached) {
            (false, true) => Outcome::Cured,
            (true, true) => Outcome::ResistantThenCured,
            (true, false) => Outcome::Resistant,
            (false, false) => Outcome::Neither,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Cured => "extinct without resistance",
            Outcome::ResistantThenCured => "resistant, then extinct",
            Outcome::Resistant => "resistant, cells left",
            Outcome::Neither => "neither resistant nor extinct by the end",
        }
    }
}

/// What a set of replicates says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnsembleSummary {
    pub schedule: String,
    pub engine: EngineKind,
    pub replicates: usize,
    /// Replicates per outcome, every outcome listed (each replicate has exactly one).
    pub outcomes: Vec<(Outcome, usize)>,
    pub resistance: SurvivalSummary,
    pub extinction: SurvivalSummary,
    /// Median and quartiles of the cells at the end.
    pub final_cells_median: f64,
    pub final_cells_q25: f64,
    pub final_cells_q75: f64,
}

impl EnsembleSummary {
    pub fn of(results: &[TherapyResult]) -> EnsembleSummary {
        let first = &results[0].summary;
        let outcomes = [
            Outcome::Resistant,
            Outcome::ResistantThenCured,
            Outcome::Cured,
            Outcome::Neither,
        ]
        .into_iter()
        .map(|o| (o, results.iter().filter(|r| Outcome::of(r) == o).count()))
        .collect();
        let res: Vec<Endpoint> = results.iter().map(|r| r.summary.resistance).collect();
        let ext: Vec<Endpoint> = results.iter().map(|r| r.summary.extinction).collect();
        let mut cells: Vec<f64> = results.iter().map(|r| r.summary.final_cells).collect();
        cells.sort_by(f64::total_cmp);
        EnsembleSummary {
            schedule: first.schedule.clone(),
            engine: first.engine,
            replicates: results.len(),
            outcomes,
            resistance: SurvivalSummary::of(&res),
            extinction: SurvivalSummary::of(&ext),
            final_cells_median: quantile(&cells, 0.5),
            final_cells_q25: quantile(&cells, 0.25),
            final_cells_q75: quantile(&cells, 0.75),
        }
    }

    /// The outcomes in one line, e.g. "7 of 10 resistant, cells left; 3 of 10
    /// resistant, then extinct".
    pub fn story(&self) -> String {
        let parts: Vec<String> = self
            .outcomes
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| format!("{n} of {} {}", self.replicates, o.label()))
            .collect();
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(days: f64, reached: bool) -> Endpoint {
        Endpoint {
            reached,
            time: days,
            days,
        }
    }

    #[test]
    fn kaplan_meier_without_censoring_is_the_empirical_quantile() {
        let e: Vec<Endpoint> = (1..=4).map(|d| ep(d as f64, true)).collect();
        assert_eq!(km_quantile(&e, 0.5), Some(2.0));
        assert_eq!(km_quantile(&e, 0.75), Some(3.0));
        assert_eq!(km_quantile(&e, 1.0), Some(4.0));
    }

    #[test]
    fn censored_replicates_leave_the_risk_set_without_an_event() {
        // Events at 1 and 3, censored at 2 and 5: S(1) = 3/4, S(3) = 3/4 * 1/2.
        let e = [ep(1.0, true), ep(2.0, false), ep(3.0, true), ep(5.0, false)];
        assert_eq!(km_quantile(&e, 0.25), Some(1.0));
        assert_eq!(km_quantile(&e, 0.5), Some(3.0));
        assert_eq!(km_quantile(&e, 0.7), None);
        let s = SurvivalSummary::of(&e);
        assert_eq!((s.reached, s.censored), (2, 2));
        assert_eq!(s.probability_by_end, 0.5);
    }

    #[test]
    fn all_censored_has_no_median() {
        let e = [ep(60.0, false), ep(60.0, false)];
        assert_eq!(km_quantile(&e, 0.5), None);
    }
}
