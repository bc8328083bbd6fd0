//! Running facts: make the states, run each fact's simulated experiment, compare
//! with the tolerance.
//!
//! States are made once, in dependency order; facts then run in parallel (each is a
//! pure function of the states, so the table does not depend on the thread count).

use std::collections::HashMap;

use rayon::prelude::*;

use super::types::*;
use crate::assay::{
    default_range, dose_response, log_doses, points_for, run_well, AssayError, AssaySettings,
};
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::ode::{total_cells, OdeRun, RowRecorder, RunSettings, SimError, Timeline};
use crate::engine::EngineKind;
use crate::plate::{same_dose, DrugInfo, Plate, Well};
use crate::schedule::Schedule;
use crate::synergy::{score_plate, Method, ScoreSettings};
use crate::therapy::{self, EventKind, TherapyOptions};

/// Why a fact could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum FactError {
    #[error("state `{state}`: {message}")]
    State { state: String, message: String },
    #[error(transparent)]
    Assay(#[from] AssayError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("{0}")]
    Undefined(String),
}

/// A made state: the snapshot, the overrides it was made with and, for schedule
/// states, the schedule's timeline and resistance events.
#[derive(Debug, Clone)]
pub struct StateResult {
    pub y: Vec<f64>,
    pub set: Vec<(usize, f64)>,
    pub timeline: Option<Timeline>,
    /// (event kind, time in the model's time unit since the schedule's start).
    pub events: Vec<(String, f64)>,
}

/// Is the true value exactly this, or only bounded by it (an IC50 beyond the tested
/// range is at least the top dose)?
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Exact,
    AtLeast,
    AtMost,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub value: f64,
    pub bound: Bound,
}

impl Reading {
    fn exact(value: f64) -> Reading {
        Reading {
            value,
            bound: Bound::Exact,
        }
    }
    /// `a / b` with the bounds combined; `None` when nothing can be said.
    fn ratio(a: Reading, b: Reading) -> Option<Reading> {
        use Bound::*;
        let bound = match (a.bound, b.bound) {
            (Exact, Exact) => Exact,
            (AtLeast, Exact) | (Exact, AtMost) | (AtLeast, AtMost) => AtLeast,
            (AtMost, Exact) | (Exact, AtLeast) | (AtMost, AtLeast) => AtMost,
            _ => return None,
        };
        Some(Reading {
            value: a.value / b.value,
            bound,
        })
    }
    /// As the validate table shows it: `> 10` for a lower bound.
    pub fn shown(&self) -> String {
        let v = if self.value.is_finite() {
            format!("{:.4}", self.value)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            format!("{}", self.value)
        };
        match self.bound {
            Bound::Exact => v,
            Bound::AtLeast => format!("> {v}"),
            Bound::AtMost => format!("< {v}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Fails, and is declared a known failure.
    KnownFailure,
    /// Declared a known failure but passes: the declaration is stale.
    UnexpectedPass,
}

impl Status {
    /// Does this outcome break the tests? A new failure does, and so does a known
    /// failure that passes: the list of known failures must match the failures, so
    /// it cannot rot.
    pub fn is_problem(self) -> bool {
        matches!(self, Status::Fail | Status::UnexpectedPass)
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::KnownFailure => "known failure",
            Status::UnexpectedPass => "UNEXPECTED PASS (marked known failure)",
        }
    }
}

/// One row of the validate table.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub role: Role,
    pub claim: String,
    pub study: String,
    pub tolerance: String,
    pub reading: Option<Reading>,
    pub status: Status,
    pub known_failure: Option<String>,
    /// Why there is no value, or what the value is made of.
    pub detail: String,
}

impl Outcome {
    pub fn value_shown(&self) -> String {
        self.reading.map_or_else(|| "-".into(), |r| r.shown())
    }
}

/// Does a reading meet `[min, max]`? A bound passes only the side it guarantees.
pub fn meets(r: Reading, min: Option<f64>, max: Option<f64>) -> bool {
    if !r.value.is_finite() && r.bound == Bound::Exact {
        return false;
    }
    let lo_ok = |v: f64| min.is_none_or(|m| v >= m);
    let hi_ok = |v: f64| max.is_none_or(|m| v <= m);
    match r.bound {
        Bound::Exact => lo_ok(r.value) && hi_ok(r.value),
        Bound::AtLeast => max.is_none() && lo_ok(r.value),
        Bound::AtMost => min.is_none() && hi_ok(r.value),
    }
}

/// A concentration range `(lo, hi)` in a drug's unit.
type Range = (f64, f64);

/// Evaluates the facts of one file.
pub struct Runner<'f> {
    file: &'f FactFile,
    states: HashMap<String, StateResult>,
    /// States that could not be made, with the reason.
    failed: HashMap<String, String>,
    assay: AssaySettings,
    /// Engine of the states' schedules (mean-field by default: facts compare expected
    /// behaviour with the studies' numbers), and its seed.
    engine: EngineKind,
    seed: u64,
}

fn hours(model: &CompiledModel, h: f64) -> f64 {
    h / model.meta.time_unit.hours()
}
fn to_days(model: &CompiledModel, t: f64) -> f64 {
    t * model.meta.time_unit.hours() / 24.0
}

/// Base parameters with overrides applied in order.
fn params_with(model: &CompiledModel, sets: &[&[(usize, f64)]]) -> Vec<f64> {
    let mut p = model.param_values();
    for s in sets {
        for &(i, v) in *s {
            p[i] = v;
        }
    }
    p
}

/// A fact file's state as the start of another run (`therapy` and `checkerboard` with
/// `--facts FILE --state NAME`): the model's parameters with the state's overrides,
/// and the population block (per genotype: species, then cells) where the state ends.
#[derive(Debug, Clone)]
pub struct StartPoint {
    pub params: Vec<f64>,
    pub state: Vec<f64>,
}

/// Make state `name` of `file` (and the states it starts from) and return it as a
/// [`StartPoint`].
pub fn start_point(file: &FactFile, name: &str) -> Result<StartPoint, FactError> {
    let mut runner = Runner::new(file);
    let s = runner.state_named(name)?;
    Ok(StartPoint {
        params: params_with(&file.model, &[&s.set]),
        state: s.y.clone(),
    })
}

fn bind(model: &CompiledModel, params: &[f64]) -> Result<BoundModel, FactError> {
    BoundModel::new(model, params).map_err(|e| FactError::Undefined(e.to_string()))
}

impl<'f> Runner<'f> {
    pub fn new(file: &'f FactFile) -> Runner<'f> {
        Runner {
            file,
            states: HashMap::new(),
            failed: HashMap::new(),
            assay: AssaySettings::standard(&file.model),
            engine: EngineKind::MeanField,
            seed: 1,
        }
    }

    /// Run the states' schedules on `engine` (replicate 0 of `seed` when stochastic).
    pub fn with_engine(mut self, engine: EngineKind, seed: u64) -> Self {
        self.engine = engine;
        self.seed = seed;
        self
    }

    fn model(&self) -> &'f CompiledModel {
        &self.file.model
    }

    /// Make every state (in dependency order). A state that fails is an error for
    /// the facts that use it, not for the others.
    pub fn make_states(&mut self) {
        let names: Vec<String> = self.file.states.keys().cloned().collect();
        for n in names {
            if let Err(e) = self.make_state(&n) {
                self.failed.insert(n, e.to_string());
            }
        }
    }

    /// Make one state (and those it starts from) and return it.
    pub fn state_named(&mut self, name: &str) -> Result<&StateResult, FactError> {
        if !self.file.states.contains_key(name) {
            return Err(FactError::State {
                state: name.to_string(),
                message: format!(
                    "no such state in {}; states are: {}",
                    self.file.path.display(),
                    self.file
                        .states
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        self.make_state(name)?;
        Ok(&self.states[name])
    }

    /// The model bound with a state's overrides (for experiments on the state).
    pub fn bound_for(&self, state: &StateResult) -> Result<BoundModel, FactError> {
        let m = self.model();
        bind(m, &params_with(m, &[&state.set]))
    }

    /// States that could not be made, with the reason.
    pub fn failed_states(&self) -> &HashMap<String, String> {
        &self.failed
    }

    fn make_state(&mut self, name: &str) -> Result<(), FactError> {
        if self.states.contains_key(name) {
            return Ok(());
        }
        if let Some(message) = self.failed.get(name) {
            return Err(FactError::State {
                state: name.to_string(),
                message: message.clone(),
            });
        }
        let spec = &self.file.states[name];
        let model = self.model();
        let fail = |message: String| FactError::State {
            state: name.to_string(),
            message,
        };
        let (mut y, mut set) = match &spec.from {
            Some(f) => {
                if let Err(e) = self.make_state(f) {
                    self.failed.insert(f.clone(), e.to_string());
                    return Err(e);
                }
                let s = &self.states[f];
                (s.y.clone(), s.set.clone())
            }
            None => {
                let b = bind(model, &model.param_values())?;
                (
                    OdeRun::initial_state(model, &b, model.initial_cells),
                    vec![],
                )
            }
        };
        set.extend_from_slice(&spec.set);
        let bound = bind(model, &params_with(model, &[&set]))?;
        let settings = RunSettings {
            carrying_capacity: model.carrying_capacity,
            division_factor: 1.0,
            ..RunSettings::default()
        };
        let drug_free = |y: &[f64], dt: f64| -> Result<Vec<f64>, FactError> {
            if dt <= 0.0 {
                return Ok(y.to_vec());
            }
            let mut run = OdeRun::new(model, &bound, &settings, y, 0.0)?;
            run.advance_to(dt, &[])?;
            // Keep the cell count where it started: the snapshot is a passaged culture.
            let s = run.stride();
            let f = total_cells(y, s) / run.total_cells();
            run.scale_cells(f);
            Ok(run.state().to_vec())
        };
        y = drug_free(&y, spec.equilibrate)?;
        let mut result = StateResult {
            y,
            set: set.clone(),
            timeline: None,
            events: vec![],
        };
        if let Some(path) = &spec.schedule {
            let schedule = Schedule::load(path, model).map_err(|e| fail(e.to_string()))?;
            let opts = TherapyOptions {
                params: Some(params_with(model, &[&set])),
                initial_state: Some(result.y.clone()),
                engine: self.engine,
                seed: self.seed,
                ..TherapyOptions::default()
            };
            let r = therapy::run(model, &schedule, &opts).map_err(|e| fail(e.to_string()))?;
            result.y = drug_free(&r.final_state, spec.washout)?;
            result.events = r
                .events
                .iter()
                .filter_map(|e| match e.kind {
                    EventKind::Resistance(rule) => Some((rule.label().to_string(), e.time)),
                    _ => None,
                })
                .collect();
            result.timeline = Some(r.timeline);
        }
        self.states.insert(name.to_string(), result);
        Ok(())
    }

    /// Make the states, then evaluate every fact in parallel.
    pub fn run_all(&mut self) -> Vec<Outcome> {
        self.make_states();
        let this = &*self;
        this.file.facts.par_iter().map(|f| this.check(f)).collect()
    }

    /// Evaluate one fact (after [`Runner::make_states`]).
    pub fn check(&self, f: &Fact) -> Outcome {
        let r = self.evaluate(f, &self.failed);
        self.outcome(f, r)
    }

    fn outcome(&self, f: &Fact, r: Result<(Reading, String), FactError>) -> Outcome {
        let (reading, detail, ok) = match r {
            Ok((rd, detail)) => (Some(rd), detail, meets(rd, f.min, f.max)),
            Err(e) => (None, e.to_string(), false),
        };
        let status = match (ok, f.known_failure.is_some()) {
            (true, false) => Status::Pass,
            (false, false) => Status::Fail,
            (false, true) => Status::KnownFailure,
            (true, true) => Status::UnexpectedPass,
        };
        Outcome {
            id: f.id.clone(),
            role: f.role,
            claim: f.claim.clone(),
            study: f.study.clone(),
            tolerance: f.tolerance(),
            reading,
            status,
            known_failure: f.known_failure.clone(),
            detail,
        }
    }

    fn state(
        &self,
        name: &str,
        failed: &HashMap<String, String>,
    ) -> Result<&StateResult, FactError> {
        self.states.get(name).ok_or_else(|| FactError::State {
            state: name.to_string(),
            message: failed
                .get(name)
                .cloned()
                .unwrap_or_else(|| "was not made".into()),
        })
    }

    fn evaluate(
        &self,
        f: &Fact,
        failed: &HashMap<String, String>,
    ) -> Result<(Reading, String), FactError> {
        let m = self.model();
        match &f.measure {
            Measure::Inexpressible { reason } => Err(FactError::Undefined(reason.clone())),
            Measure::Ratio {
                quantity,
                test,
                control,
            } => {
                let a = self.quantity(*quantity, test, failed)?;
                let b = self.quantity(*quantity, control, failed)?;
                Ok((
                    Reading::exact(a / b),
                    format!("test {a:.4e} / control {b:.4e}"),
                ))
            }
            Measure::Value { quantity, test } => {
                let a = self.quantity(*quantity, test, failed)?;
                Ok((Reading::exact(a), String::new()))
            }
            Measure::Ic50 { drug, test, range } => {
                let (r, d) = self.ic50(*drug, test, *range, failed)?;
                Ok((r, d))
            }
            Measure::Ic50Ratio {
                drug,
                test,
                control,
                range,
            } => {
                let (a, da) = self.ic50(*drug, test, *range, failed)?;
                let (b, db) = self.ic50(*drug, control, *range, failed)?;
                let r = Reading::ratio(a, b).ok_or_else(|| {
                    FactError::Undefined(format!(
                        "both IC50s are outside the tested range ({da}; {db})"
                    ))
                })?;
                Ok((r, format!("test {da}; control {db}")))
            }
            Measure::InhibitionRatio {
                drugs,
                test,
                control,
            } => {
                let a = self.inhibition(drugs, test, failed)?;
                let b = self.inhibition(drugs, control, failed)?;
                if b <= 0.0 {
                    return Err(FactError::Undefined(format!(
                        "the drugs do not inhibit the control condition (inhibition {b:.4})"
                    )));
                }
                Ok((
                    Reading::exact(a / b),
                    format!("inhibition test {a:.4} / control {b:.4}"),
                ))
            }
            Measure::Combination {
                test,
                a,
                b,
                score,
                range_a,
                range_b,
            } => self.combination(test, *a, b, *score, (*range_a, *range_b), failed),
            Measure::TimelineRatio {
                state,
                quantity,
                at,
                reference_at,
            } => {
                let tl = self.timeline(state, failed)?;
                let a = timeline_value(
                    self.file,
                    tl,
                    *quantity,
                    *at,
                    &self.state_params(state, failed)?,
                )?;
                let b = timeline_value(
                    self.file,
                    tl,
                    *quantity,
                    *reference_at,
                    &self.state_params(state, failed)?,
                )?;
                Ok((
                    Reading::exact(a / b),
                    format!(
                        "{a:.4e} at day {:.1} / {b:.4e} at day {:.1}",
                        to_days(m, *at),
                        to_days(m, *reference_at)
                    ),
                ))
            }
            Measure::CrossingTime {
                state,
                quantity,
                threshold,
                up,
            } => {
                let tl = self.timeline(state, failed)?;
                let series =
                    timeline_series(self.file, tl, *quantity, &self.state_params(state, failed)?)?;
                let t = crossing(&tl.times, &series, *threshold, *up).ok_or_else(|| {
                    let (lo, hi) = series
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                            (a.min(v), b.max(v))
                        });
                    FactError::Undefined(format!(
                        "never crosses {threshold} (range {lo:.4} .. {hi:.4} over the schedule)"
                    ))
                })?;
                Ok((Reading::exact(to_days(m, t)), "days".into()))
            }
            Measure::Window {
                state,
                quantity,
                from,
                to,
                max,
            } => {
                let tl = self.timeline(state, failed)?;
                let series =
                    timeline_series(self.file, tl, *quantity, &self.state_params(state, failed)?)?;
                let vals: Vec<f64> = tl
                    .times
                    .iter()
                    .zip(&series)
                    .filter(|(&t, _)| t >= *from - 1e-9 && t <= *to + 1e-9)
                    .map(|(_, &v)| v)
                    .collect();
                if vals.is_empty() {
                    return Err(FactError::Undefined(format!(
                        "no readout between day {:.1} and day {:.1}",
                        to_days(m, *from),
                        to_days(m, *to)
                    )));
                }
                let v = if *max {
                    vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.iter().copied().fold(f64::INFINITY, f64::min)
                };
                Ok((Reading::exact(v), format!("over {} readouts", vals.len())))
            }
            Measure::EventTime { state, event } => {
                let s = self.state(state, failed)?;
                let t = s
                    .events
                    .iter()
                    .find(|(k, _)| k == event)
                    .map(|&(_, t)| t)
                    .ok_or_else(|| {
                        FactError::Undefined(format!(
                            "no `{event}` event during the schedule (events: {})",
                            if s.events.is_empty() {
                                "none".to_string()
                            } else {
                                s.events
                                    .iter()
                                    .map(|(k, t)| format!("{k} at day {:.1}", to_days(m, *t)))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        ))
                    })?;
                Ok((Reading::exact(to_days(m, t)), "days".into()))
            }
        }
    }

    /// The parameters a state was made with (base values and its overrides).
    fn state_params(
        &self,
        state: &str,
        failed: &HashMap<String, String>,
    ) -> Result<Vec<f64>, FactError> {
        Ok(params_with(
            self.model(),
            &[&self.state(state, failed)?.set],
        ))
    }

    fn timeline(
        &self,
        state: &str,
        failed: &HashMap<String, String>,
    ) -> Result<&Timeline, FactError> {
        self.state(state, failed)?
            .timeline
            .as_ref()
            .ok_or_else(|| FactError::Undefined(format!("state `{state}` has no timeline")))
    }

    /// The state of a condition and the model bound with all its overrides.
    fn prepare(
        &self,
        c: &Condition,
        failed: &HashMap<String, String>,
    ) -> Result<(Vec<f64>, BoundModel), FactError> {
        let s = self.state(&c.state, failed)?;
        let m = self.model();
        let b = bind(m, &params_with(m, &[&s.set, &c.set]))?;
        Ok((s.y.clone(), b))
    }

    /// Run a condition for `duration` at assay density; returns (start, end) states.
    fn run_condition(
        &self,
        c: &Condition,
        extra: Option<&[f64]>,
        duration: f64,
        failed: &HashMap<String, String>,
    ) -> Result<(Vec<f64>, Vec<f64>, BoundModel), FactError> {
        let (y, b) = self.prepare(c, failed)?;
        let m = self.model();
        let mut conc = c.drugs.clone();
        if let Some(x) = extra {
            for (c, e) in conc.iter_mut().zip(x) {
                *c += e;
            }
        }
        let s = m.species.len() + 1;
        let start = crate::assay::seed_well(&y, s, self.assay.seeding)?;
        if duration <= 0.0 {
            return Ok((start.clone(), start, b));
        }
        let settings = AssaySettings {
            duration,
            ..self.assay
        };
        let end = run_well(m, &b, &y, &conc, &settings)?;
        Ok((start, end, b))
    }

    fn default_duration(&self, q: Quantity, c: &Condition) -> f64 {
        let m = self.model();
        c.duration.unwrap_or(
            if q.needs_time() || c.drugs.iter().any(|&x| x != 0.0) || !c.set.is_empty() {
                hours(m, 72.0)
            } else {
                0.0
            },
        )
    }

    fn quantity(
        &self,
        q: Quantity,
        c: &Condition,
        failed: &HashMap<String, String>,
    ) -> Result<f64, FactError> {
        let m = self.model();
        let dt = self.default_duration(q, c);
        if q.needs_time() && dt <= 0.0 {
            return Err(FactError::Undefined(
                "cells and growth_rate need a condition with a positive duration".into(),
            ));
        }
        let (start, end, b) = self.run_condition(c, None, dt, failed)?;
        let s = m.species.len() + 1;
        let (n0, n1) = (total_cells(&start, s), total_cells(&end, s));
        let per_day = 24.0 / m.meta.time_unit.hours();
        Ok(match q {
            Quantity::Cells => n1 / n0,
            Quantity::GrowthRate => (n1 / n0).ln() / to_days(m, dt),
            Quantity::TumourVolume => {
                return Err(FactError::Undefined(
                    "tumour_volume is read from an in vivo schedule's timeline, not a dish".into(),
                ))
            }
            _ => {
                let mut rec = RowRecorder::new(m, &b);
                let readings = rec.read(dt, &end, &c.drugs);
                let w: f64 = readings.iter().map(|r| r.cells).sum();
                if w <= 0.0 {
                    return Err(FactError::Undefined("no cells left to read".into()));
                }
                if let Quantity::Expression(k) = q {
                    let n = m.species.len() + m.observables.len();
                    let mut avg = vec![0.0; n];
                    for r in &readings {
                        for (a, v) in avg.iter_mut().zip(&r.values) {
                            *a += r.cells / w * v;
                        }
                    }
                    return Ok(eval_expression(
                        &self.file.expressions[k].expr,
                        &avg,
                        m.species.len(),
                        &params_with(m, &[&self.state(&c.state, failed)?.set, &c.set]),
                    ));
                }
                readings
                    .iter()
                    .map(|r| {
                        r.cells / w
                            * match q {
                                Quantity::Variable(i) => r.values[i],
                                Quantity::DivisionRate => r.division * per_day,
                                Quantity::DeathRate => r.death * per_day,
                                _ => unreachable!("handled above"),
                            }
                    })
                    .sum()
            }
        })
    }

    fn inhibition(
        &self,
        drugs: &[f64],
        c: &Condition,
        failed: &HashMap<String, String>,
    ) -> Result<f64, FactError> {
        let m = self.model();
        let dt = c.duration.unwrap_or(hours(m, 72.0));
        let s = m.species.len() + 1;
        let (_, without, _) = self.run_condition(c, None, dt, failed)?;
        let (_, with, _) = self.run_condition(c, Some(drugs), dt, failed)?;
        Ok(1.0 - total_cells(&with, s) / total_cells(&without, s))
    }

    fn ic50(
        &self,
        drug: usize,
        c: &Condition,
        range: Option<(f64, f64)>,
        failed: &HashMap<String, String>,
    ) -> Result<(Reading, String), FactError> {
        let m = self.model();
        let (y, b) = self.prepare(c, failed)?;
        let y = match c.duration {
            Some(dt) if dt > 0.0 => {
                // Pre-incubation under the condition's drugs before the assay.
                let settings = AssaySettings {
                    duration: dt,
                    ..self.assay
                };
                run_well(m, &b, &y, &c.drugs, &settings)?
            }
            _ => y,
        };
        let (lo, hi) = range.unwrap_or_else(|| default_range(m, &b, drug));
        let doses = log_doses(lo, hi, points_for(lo, hi))?;
        let dr = dose_response(m, &b, &y, &c.drugs, drug, &doses, &self.assay)?;
        let unit = &dr.unit;
        Ok(match dr.ic50() {
            Some(v) => (Reading::exact(v), format!("IC50 {v:.4} {unit}")),
            None => {
                let top = *dr.viability.last().unwrap_or(&1.0);
                if top > 0.5 {
                    (
                        Reading {
                            value: hi,
                            bound: Bound::AtLeast,
                        },
                        format!("IC50 > {hi} {unit} (viability {top:.3} at the top dose)"),
                    )
                } else {
                    (
                        Reading {
                            value: lo,
                            bound: Bound::AtMost,
                        },
                        format!("IC50 < {lo} {unit}"),
                    )
                }
            }
        })
    }

    fn combination(
        &self,
        c: &Condition,
        (da, dose_a): (usize, f64),
        (db, doses_b): &(usize, Vec<f64>),
        score: Score,
        (range_a, range_b): (Option<Range>, Option<Range>),
        failed: &HashMap<String, String>,
    ) -> Result<(Reading, String), FactError> {
        let m = self.model();
        let (y, b) = self.prepare(c, failed)?;
        // Single-agent curves of both drugs (for CI's median-effect fits) plus the
        // tested doses, and the combination wells.
        let (alo, ahi) = range_a.unwrap_or_else(|| default_range(m, &b, da));
        let (blo, bhi) = range_b.unwrap_or_else(|| default_range(m, &b, *db));
        let mut axis_a = log_doses(alo, ahi, points_for(alo, ahi))?;
        axis_a.push(dose_a);
        let mut axis_b = log_doses(blo, bhi, points_for(blo, bhi))?;
        axis_b.extend_from_slice(doses_b);
        let mut wells: Vec<(f64, f64)> = vec![(0.0, 0.0)];
        wells.extend(axis_a.iter().map(|&x| (x, 0.0)));
        wells.extend(axis_b.iter().map(|&x| (0.0, x)));
        wells.extend(doses_b.iter().map(|&x| (dose_a, x)));
        wells.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
        // Doses given twice (a tested dose inside the curve's range) are one well.
        wells.dedup_by(|p, q| same_dose(p.0, q.0) && same_dose(p.1, q.1));
        let conc: Vec<Vec<f64>> = wells
            .iter()
            .map(|&(x, z)| {
                let mut v = c.drugs.clone();
                v[da] = x;
                v[*db] = z;
                v
            })
            .collect();
        let counts = crate::assay::well_counts(m, &b, &y, &conc, &self.assay)?;
        let control = counts[wells.iter().position(|&w| w == (0.0, 0.0)).unwrap_or(0)];
        let plate = Plate::new(
            DrugInfo::new(&m.drugs[da].name, m.drugs[da].unit.symbol()),
            DrugInfo::new(&m.drugs[*db].name, m.drugs[*db].unit.symbol()),
            wells
                .iter()
                .zip(&counts)
                .map(|(&(x, z), &n)| Well {
                    dose_a: x,
                    dose_b: z,
                    response: n / control,
                    replicate: None,
                })
                .collect(),
        )
        .map_err(|e| FactError::Undefined(e.to_string()))?;
        let method = match score {
            Score::Bliss => Method::Bliss,
            Score::Hsa => Method::Hsa,
            Score::Ci => Method::Ci,
        };
        let (_, results) = score_plate(&plate, &[method], ScoreSettings::default())
            .map_err(|e| FactError::Undefined(e.to_string()))?;
        let mut worst: Option<f64> = None;
        let mut parts = Vec::new();
        for cell in &results[0].cells {
            if same_dose(cell.dose_a, dose_a) && doses_b.iter().any(|&d| same_dose(d, cell.dose_b))
            {
                let v = cell.score.ok_or_else(|| {
                    FactError::Undefined(format!(
                        "{} undefined at {} + {}: {}",
                        method.name(),
                        cell.dose_a,
                        cell.dose_b,
                        cell.status
                    ))
                })?;
                parts.push(format!("{}: {v:.3}", cell.dose_b));
                worst = Some(match (worst, score) {
                    (None, _) => v,
                    (Some(w), Score::Ci) => w.max(v),
                    (Some(w), _) => w.min(v),
                });
            }
        }
        let v = worst.ok_or_else(|| FactError::Undefined("no combination well scored".into()))?;
        Ok((
            Reading::exact(v),
            format!(
                "{} by {} dose: {}",
                method.name(),
                m.drugs[*db].name,
                parts.join(", ")
            ),
        ))
    }
}

/// Column of a timeline by population and variable.
fn col(tl: &Timeline, pop: &str, var: &str) -> Result<usize, FactError> {
    tl.column(pop, var)
        .ok_or_else(|| FactError::Undefined(format!("the timeline has no column {pop}/{var}")))
}

/// A quantity along a schedule timeline (cell-weighted over genotypes).
/// `params`: the state's parameters (read by quantity expressions).
pub fn timeline_series(
    file: &FactFile,
    tl: &Timeline,
    q: Quantity,
    params: &[f64],
) -> Result<Vec<f64>, FactError> {
    let m = &file.model;
    let per_day = 24.0 / m.meta.time_unit.hours();
    let var = match q {
        Quantity::Variable(i) if i < m.species.len() => m.species[i].name.clone(),
        Quantity::Variable(i) => m.observables[i - m.species.len()].name.clone(),
        Quantity::Cells => {
            return Ok(tl.series(col(tl, "total", "cells")?));
        }
        Quantity::TumourVolume => {
            return Ok(
                tl.series(tl.column("total", "tumour_volume").ok_or_else(|| {
                    FactError::Undefined(
                    "tumour_volume is recorded only by in vivo schedules (setting = \"in_vivo\")"
                        .into(),
                )
                })?),
            );
        }
        Quantity::Expression(k) => {
            // Every variable along the timeline, then the expression at each readout.
            let ns = m.species.len();
            let series: Vec<Vec<f64>> = (0..ns + m.observables.len())
                .map(|i| timeline_series(file, tl, Quantity::Variable(i), params))
                .collect::<Result<_, _>>()?;
            let mut row = vec![0.0; series.len()];
            return Ok((0..tl.times.len())
                .map(|t| {
                    for (r, s) in row.iter_mut().zip(&series) {
                        *r = s[t];
                    }
                    eval_expression(&file.expressions[k].expr, &row, ns, params)
                })
                .collect());
        }
        Quantity::DivisionRate => "division_rate".into(),
        Quantity::DeathRate => "death_rate".into(),
        Quantity::GrowthRate => String::new(),
    };
    let mut acc = vec![0.0; tl.times.len()];
    let mut w = vec![0.0; tl.times.len()];
    for g in &m.genotypes {
        let cells = tl.series(col(tl, &g.name, "cells")?);
        let vals: Vec<f64> = if q == Quantity::GrowthRate {
            let b = tl.series(col(tl, &g.name, "division_rate")?);
            let d = tl.series(col(tl, &g.name, "death_rate")?);
            b.iter().zip(&d).map(|(b, d)| (b - d) * per_day).collect()
        } else {
            let v = tl.series(col(tl, &g.name, &var)?);
            let f = if matches!(q, Quantity::DivisionRate | Quantity::DeathRate) {
                per_day
            } else {
                1.0
            };
            v.iter().map(|x| x * f).collect()
        };
        for k in 0..acc.len() {
            acc[k] += cells[k] * vals[k];
            w[k] += cells[k];
        }
    }
    Ok(acc
        .iter()
        .zip(&w)
        .map(|(a, w)| if *w > 0.0 { a / w } else { f64::NAN })
        .collect())
}

/// A quantity expression on cell-weighted values (`values`: species, then observables).
fn eval_expression(e: &crate::expr::Expr, values: &[f64], ns: usize, params: &[f64]) -> f64 {
    e.eval(&crate::expr::tree::Env {
        species: &values[..ns],
        params,
        drugs: &[],
        effects: &[],
        observables: &values[ns..],
        t: 0.0,
    })
}

/// The quantity at time `t` (linear interpolation between readouts).
fn timeline_value(
    file: &FactFile,
    tl: &Timeline,
    q: Quantity,
    t: f64,
    params: &[f64],
) -> Result<f64, FactError> {
    let m = &file.model;
    let s = timeline_series(file, tl, q, params)?;
    interpolate(&tl.times, &s, t).ok_or_else(|| {
        FactError::Undefined(format!(
            "day {:.1} is outside the schedule's timeline",
            to_days(m, t)
        ))
    })
}

fn interpolate(ts: &[f64], vs: &[f64], t: f64) -> Option<f64> {
    let k = ts.partition_point(|&x| x < t);
    if k < ts.len() && (ts[k] - t).abs() <= 1e-9 * t.abs().max(1.0) {
        return Some(vs[k]);
    }
    if k == 0 || k >= ts.len() {
        return None;
    }
    let f = (t - ts[k - 1]) / (ts[k] - ts[k - 1]);
    Some(vs[k - 1] + f * (vs[k] - vs[k - 1]))
}

/// First time the series crosses `threshold` (upwards or downwards), linearly
/// interpolated between readouts. A crossing needs a readout on the near side first:
/// a series that starts beyond the threshold (e.g. a level that dips and comes back)
/// crosses when it returns, not at its start; `None` when it never does.
pub fn crossing(ts: &[f64], vs: &[f64], threshold: f64, up: bool) -> Option<f64> {
    let beyond = |v: f64| if up { v >= threshold } else { v <= threshold };
    let mut near = false;
    for k in 0..vs.len() {
        if !beyond(vs[k]) {
            near = true;
        } else if near {
            let f = (threshold - vs[k - 1]) / (vs[k] - vs[k - 1]);
            return Some(ts[k - 1] + f * (ts[k] - ts[k - 1]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_pass_only_the_side_they_guarantee() {
        let at_least = Reading {
            value: 12.0,
            bound: Bound::AtLeast,
        };
        assert!(meets(at_least, Some(10.0), None));
        assert!(!meets(at_least, Some(15.0), None));
        assert!(!meets(at_least, Some(10.0), Some(45.0)));
        let exact = Reading::exact(0.4);
        assert!(meets(exact, None, Some(0.5)));
        assert!(!meets(exact, Some(0.5), None));
        assert!(!meets(Reading::exact(f64::NAN), None, Some(1.0)));
    }

    #[test]
    fn ratio_of_bounds() {
        let lb = Reading {
            value: 10.0,
            bound: Bound::AtLeast,
        };
        let r = Reading::ratio(lb, Reading::exact(0.5)).unwrap();
        assert_eq!((r.value, r.bound), (20.0, Bound::AtLeast));
        assert!(Reading::ratio(lb, lb).is_none());
    }

    #[test]
    fn crossing_interpolates() {
        let t = [0.0, 10.0, 20.0, 30.0];
        let v = [0.1, 0.2, 0.6, 0.9];
        assert!((crossing(&t, &v, 0.5, true).unwrap() - 17.5).abs() < 1e-12);
        assert_eq!(crossing(&t, &v, 0.95, true), None);
        assert!((crossing(&t, &[1.0, 0.8, 0.4, 0.2], 0.5, false).unwrap() - 17.5).abs() < 1e-12);
    }

    #[test]
    fn crossing_up_from_above_waits_for_the_real_crossing() {
        // Starts above, dips below, comes back up between day 70 and day 98.
        let t = [0.0, 14.0, 28.0, 42.0, 56.0, 70.0, 98.0];
        let v = [0.9, 0.6, 0.2, 0.1, 0.2, 0.3, 0.7];
        let up = crossing(&t, &v, 0.5, true).unwrap();
        assert!((up - 84.0).abs() < 1e-9, "{up}");
        // Never below the threshold: never crosses it upwards.
        assert_eq!(
            crossing(&t, &[0.9, 0.8, 0.95, 0.7, 0.6, 0.9, 1.0], 0.5, true),
            None
        );
        // The same for downward crossings from below.
        assert_eq!(
            crossing(&t, &[0.1, 0.2, 0.3, 0.4, 0.3, 0.2, 0.1], 0.5, false),
            None
        );
    }
}
