//! The synergy metric: a simulated 72 h viability checkerboard of two drugs on the
//! population of a run (at its start or its end), scored by one method of the synergy
//! layer and summarised over the combination cells.
//!
//! The checkerboard is the assay layer's ([`crate::assay::checkerboard`]): wells
//! seeded from the population snapshot at assay density, held at fixed
//! concentrations, read as viable fraction of the untreated control; the resulting
//! [`crate::plate::Plate`] is scored exactly as measured plates are
//! ([`crate::synergy::score_plate`]).

use crate::assay::{checkerboard, AssaySettings};
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::ode::OdeRun;
use crate::synergy::{score_plate, Method, ScoreSettings, Summary};

/// Which population the checkerboard is run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// The untreated population at t = 0 (parental cells).
    Start,
    /// The population at the end of the run (after the schedule's selection).
    End,
}

/// Which summary of the scored combination cells is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    Mean,
    Median,
    Min,
    Max,
}

impl Statistic {
    pub fn parse(s: &str) -> Option<Statistic> {
        match s {
            "mean" => Some(Statistic::Mean),
            "median" => Some(Statistic::Median),
            "min" => Some(Statistic::Min),
            "max" => Some(Statistic::Max),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Median => "median",
            Statistic::Min => "min",
            Statistic::Max => "max",
        }
    }

    fn of(self, s: &Summary) -> Option<f64> {
        match self {
            Statistic::Mean => s.mean,
            Statistic::Median => s.median,
            Statistic::Min => s.min,
            Statistic::Max => s.max,
        }
    }
}

/// A resolved synergy metric.
#[derive(Debug, Clone, PartialEq)]
pub struct SynergyMetric {
    pub drug_a: usize,
    pub drug_b: usize,
    /// Concentrations in each drug's declared unit, ascending, starting with 0 (the
    /// single-agent row and column the methods fit).
    pub doses_a: Vec<f64>,
    pub doses_b: Vec<f64>,
    pub method: Method,
    pub statistic: Statistic,
    pub snapshot: Snapshot,
}

impl SynergyMetric {
    /// Run the checkerboard on the chosen snapshot and summarise the method's scores
    /// (> 0 synergy for excess methods, < 1 for `ci`).
    pub fn compute(
        &self,
        model: &CompiledModel,
        bound: &BoundModel,
        initial_cells: f64,
        final_state: &[f64],
    ) -> Result<f64, String> {
        let start;
        let state = match self.snapshot {
            Snapshot::End => final_state,
            Snapshot::Start => {
                start = OdeRun::initial_state(model, bound, initial_cells);
                &start
            }
        };
        let background = vec![0.0; model.drugs.len()];
        let settings = AssaySettings::standard(model);
        let plate = checkerboard(
            model,
            bound,
            state,
            &background,
            self.drug_a,
            &self.doses_a,
            self.drug_b,
            &self.doses_b,
            &settings,
        )
        .map_err(|e| e.to_string())?;
        let (_, results) = score_plate(&plate, &[self.method], ScoreSettings::default())
            .map_err(|e| e.to_string())?;
        let summary = &results[0].summary;
        self.statistic.of(summary).ok_or_else(|| {
            format!(
                "no combination cell could be scored by {} ({} undefined)",
                self.method, summary.n_undefined
            )
        })
    }
}

/// The dose list of one drug: finite, non-negative, ascending without repeats, with
/// 0 added in front when missing, and at least three non-zero doses (the single-agent
/// fits have four parameters). `None` when the list is unusable.
pub fn normalise_doses(doses: &[f64]) -> Option<Vec<f64>> {
    if doses.iter().any(|d| !(d.is_finite() && *d >= 0.0)) {
        return None;
    }
    let mut v = doses.to_vec();
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.first() != Some(&0.0) {
        v.insert(0, 0.0);
    }
    (v.len() >= 4).then_some(v)
}
