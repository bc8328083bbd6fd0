//! The model evaluator: one sweep point = one simulation of a model under a schedule,
//! summarised by the sweep's metrics.
//!
//! Everything that can be checked is checked when the sweep file is loaded
//! ([`super::file`]); what is left for a run are failures of the simulation itself
//! (a numerical failure at some parameter values), which become failed rows.

use std::collections::BTreeMap;

use super::manifest::InputFile;
use super::metrics::Metric;
use super::runner::Evaluator;
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::ode::{simulate, OdeOptions};
use crate::pkpd::{parse_dose_spec, DoseEvent};

/// What a sweep parameter changes in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A model parameter (by index): its base value, before genotype overrides, so a
    /// genotype that overrides it keeps its own value.
    Param(usize),
    /// A placeholder `{name}` in the schedule's dose specs.
    Dose,
}

/// The doses of every run: fixed, or dose specs with `{name}` placeholders filled
/// from the point.
#[derive(Debug, Clone)]
pub enum Doses {
    Fixed(Vec<DoseEvent>),
    Templates(Vec<String>),
}

/// A compiled model, a schedule and metrics: the [`Evaluator`] of a model sweep.
#[derive(Debug, Clone)]
pub struct ModelEvaluator {
    pub model: CompiledModel,
    /// Parameter values of every run before the point is applied (model values plus
    /// the sweep file's `set`).
    pub base: Vec<f64>,
    /// Sweep parameter names and what each changes, in design order.
    pub parameters: Vec<(String, Target)>,
    pub doses: Doses,
    pub options: OdeOptions,
    /// Metric column names and definitions, in column order.
    pub metrics: Vec<(String, Metric)>,
    /// Days per model time unit.
    pub days_per_unit: f64,
    pub inputs: Vec<InputFile>,
    pub units: BTreeMap<String, String>,
}

impl ModelEvaluator {
    /// Parameter values of the run at `point`.
    pub fn params_at(&self, point: &[f64]) -> Vec<f64> {
        let mut p = self.base.clone();
        for ((_, target), &v) in self.parameters.iter().zip(point) {
            if let Target::Param(i) = target {
                p[*i] = v;
            }
        }
        p
    }

    /// Dose events of the run at `point`.
    pub fn doses_at(&self, point: &[f64]) -> Result<Vec<DoseEvent>, String> {
        match &self.doses {
            Doses::Fixed(d) => Ok(d.clone()),
            Doses::Templates(specs) => {
                let mut events = Vec::new();
                for spec in specs {
                    let filled = fill_template(spec, &self.parameters, point);
                    events.extend(
                        parse_dose_spec(&self.model, &filled, self.options.t_end)
                            .map_err(|e| e.to_string())?,
                    );
                }
                Ok(events)
            }
        }
    }
}

/// Replace each `{name}` of a dose-placeholder parameter by the point's value,
/// written as the shortest text that reads back to the same number.
pub fn fill_template(spec: &str, parameters: &[(String, Target)], point: &[f64]) -> String {
    let mut s = spec.to_string();
    for ((name, target), v) in parameters.iter().zip(point) {
        if *target == Target::Dose {
            s = s.replace(&format!("{{{name}}}"), &format!("{v:?}"));
        }
    }
    s
}

impl Evaluator for ModelEvaluator {
    fn metric_names(&self) -> Vec<String> {
        self.metrics.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Simulate the point. ODE runs are deterministic, so the seed is not used; it
    /// is kept for stochastic engines.
    fn evaluate(&self, point: &[f64], _seed: u64) -> Result<Vec<f64>, String> {
        let params = self.params_at(point);
        let doses = self.doses_at(point)?;
        let bound = BoundModel::new(&self.model, &params)
            .map_err(|e| format!("cannot bind the model: {e}"))?;
        let res = simulate(&self.model, &bound, &doses, &self.options)
            .map_err(|e| format!("simulation failed: {e}"))?;
        self.metrics
            .iter()
            .map(|(name, m)| {
                match m {
                    Metric::Synergy(s) => s.compute(
                        &self.model,
                        &bound,
                        self.options
                            .initial_cells
                            .unwrap_or(self.model.initial_cells),
                        &res.final_state,
                    ),
                    _ => m.compute(&res.timeline, self.days_per_unit),
                }
                .map_err(|e| format!("metric `{name}`: {e}"))
            })
            .collect()
    }

    fn inputs(&self) -> Vec<InputFile> {
        self.inputs.clone()
    }

    fn units(&self) -> BTreeMap<String, String> {
        self.units.clone()
    }
}
