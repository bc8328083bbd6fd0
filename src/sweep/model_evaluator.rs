//! The model evaluator: one sweep point = one simulation of a model under a schedule,
//! summarised by the sweep's metrics.
//!
//! A run is either a plain ODE run under fixed (or placeholder) dose specs
//! ([`crate::engine::ode::simulate`]), or a therapy run under a schedule file
//! ([`crate::therapy::run`]: media changes, escalation, passaging, IC50 readouts,
//! resistance rules). Everything that can be checked is checked when the sweep file is
//! loaded ([`super::file`]); what is left for a run are failures of the simulation
//! itself (a numerical failure at some parameter values), which become failed rows.

use std::collections::BTreeMap;

use super::manifest::InputFile;
use super::metrics::{Metric, RunOutput, REACHED_SUFFIX};
use super::runner::Evaluator;
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::ode::{simulate, OdeOptions};
use crate::pkpd::{parse_dose_spec, DoseEvent, DrugQuantity};
use crate::schedule::Schedule;
use crate::therapy::{self, TherapyOptions};

/// What a sweep parameter changes in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A model parameter (by index): its base value, before genotype overrides, so a
    /// genotype that overrides it keeps its own value.
    Param(usize),
    /// A placeholder `{name}` in the schedule's dose specs.
    Dose,
    /// A drug's PK or effect value (`drug.NAME.half_life`, ...): the run's model
    /// carries the point's value.
    Drug(DrugQuantity),
}

/// The doses of every plain ODE run: fixed, or dose specs with `{name}` placeholders
/// filled from the point.
#[derive(Debug, Clone)]
pub enum Doses {
    Fixed(Vec<DoseEvent>),
    Templates(Vec<String>),
}

/// How each point is simulated.
#[derive(Debug, Clone)]
pub enum RunKind {
    /// The ODE engine under dose specs for `options.t_end`.
    Ode { doses: Doses, options: OdeOptions },
    /// The therapy driver under a schedule file.
    Therapy {
        schedule: Box<Schedule>,
        options: TherapyOptions,
    },
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
    pub run: RunKind,
    /// Cells at the start of a run (the synergy metric's `start` snapshot).
    pub initial_cells: f64,
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

    /// The model of the run at `point`: the sweep's, with the point's drug
    /// quantities when any is swept (a copy; model parameters go through
    /// [`ModelEvaluator::params_at`]).
    pub fn model_at(&self, point: &[f64]) -> Result<std::borrow::Cow<'_, CompiledModel>, String> {
        let mut model = std::borrow::Cow::Borrowed(&self.model);
        for ((_, target), &v) in self.parameters.iter().zip(point) {
            if let Target::Drug(q) = target {
                q.set(model.to_mut(), v)?;
            }
        }
        Ok(model)
    }

    /// Dose events of the plain ODE run at `point` (a therapy run doses by its
    /// schedule: an error).
    pub fn doses_at(&self, point: &[f64]) -> Result<Vec<DoseEvent>, String> {
        let RunKind::Ode { doses, options } = &self.run else {
            return Err("a therapy run doses by its schedule".into());
        };
        match doses {
            Doses::Fixed(d) => Ok(d.clone()),
            Doses::Templates(specs) => {
                let mut events = Vec::new();
                for spec in specs {
                    let filled = fill_template(spec, &self.parameters, point);
                    events.extend(
                        parse_dose_spec(&self.model, &filled, options.t_end)
                            .map_err(|e| e.to_string())?,
                    );
                }
                Ok(events)
            }
        }
    }

    /// Simulate the point: the run's outputs every metric reads.
    fn simulate(
        &self,
        model: &CompiledModel,
        point: &[f64],
        params: Vec<f64>,
        bound: Option<&BoundModel>,
        seed: u64,
    ) -> Result<RunOutput, String> {
        match &self.run {
            RunKind::Ode { options, .. } => {
                let bound = bound.ok_or("internal error: an ODE run without a bound model")?;
                let doses = self.doses_at(point)?;
                let res = simulate(model, bound, &doses, options)
                    .map_err(|e| format!("simulation failed: {e}"))?;
                let end_days = options.t_end * self.days_per_unit;
                Ok(RunOutput::plain(
                    res.timeline,
                    res.final_state,
                    self.days_per_unit,
                    end_days,
                ))
            }
            RunKind::Therapy { schedule, options } => {
                // A stochastic engine draws from the point's own seed, so each point
                // is a pure function of the sweep's seed and its id.
                let o = TherapyOptions {
                    params: Some(params),
                    seed,
                    ..options.clone()
                };
                let res = therapy::run(model, schedule, &o)
                    .map_err(|e| format!("therapy run failed: {e}"))?;
                let s = &res.summary;
                Ok(RunOutput {
                    days_per_unit: self.days_per_unit,
                    end_days: s.end_days,
                    schedule_resistance_days: Some(s.time_to_resistance_days),
                    ic50_fold_final: Some(s.ic50_fold_final),
                    final_state: res.final_state,
                    timeline: res.timeline,
                })
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
    /// Every metric's column, and after a time-to-event metric its `_reached` flag.
    fn metric_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (n, m) in &self.metrics {
            names.push(n.clone());
            if m.is_event() {
                names.push(format!("{n}{REACHED_SUFFIX}"));
            }
        }
        names
    }

    /// Simulate the point. Mean-field runs are deterministic; a schedule run on the
    /// hybrid engine draws from `seed`.
    fn evaluate(&self, point: &[f64], seed: u64) -> Result<Vec<f64>, String> {
        let params = self.params_at(point);
        let model = self.model_at(point)?;
        let model = model.as_ref();
        // The therapy driver binds the model itself; bind here only when needed.
        let needs_bound = matches!(self.run, RunKind::Ode { .. })
            || self
                .metrics
                .iter()
                .any(|(_, m)| matches!(m, Metric::Synergy(_)));
        let bound = if needs_bound {
            Some(
                BoundModel::new(model, &params)
                    .map_err(|e| format!("cannot bind the model: {e}"))?,
            )
        } else {
            None
        };
        let out = self.simulate(model, point, params, bound.as_ref(), seed)?;
        let mut values = Vec::with_capacity(self.metrics.len() + 2);
        for (name, m) in &self.metrics {
            let fail = |e: String| format!("metric `{name}`: {e}");
            if m.is_event() {
                let (t, reached) = m.compute_event(&out).map_err(fail)?;
                values.push(t);
                values.push(if reached { 1.0 } else { 0.0 });
                continue;
            }
            let v = match (m, &bound) {
                (Metric::Synergy(s), Some(b)) => {
                    s.compute(model, b, self.initial_cells, &out.final_state)
                }
                _ => m.compute(&out),
            };
            values.push(v.map_err(fail)?);
        }
        Ok(values)
    }

    fn inputs(&self) -> Vec<InputFile> {
        self.inputs.clone()
    }

    fn units(&self) -> BTreeMap<String, String> {
        self.units.clone()
    }
}
