//! The search: Nelder-Mead (argmin) over the folded coordinates of [`Space`], from
//! the model's current values, with restarts.
//!
//! Nelder-Mead needs no gradients, which the facts do not have (an IC50 read off a
//! fitted curve, a crossing time, a resistance event are piecewise in the
//! parameters), and a fact file costs 0.1-1 s, so a few hundred evaluations is the
//! budget. The initial simplex steps 5-15% of each axis from the start, with signs
//! and sizes drawn from a ChaCha8 stream seeded by `--seed`; when a simplex collapses
//! the search restarts once from the best point with a fresh simplex, and stops when
//! a restart finds nothing better, when every fact passes (loss 0: nothing left to
//! improve), or when the evaluation budget is spent. Identical points are evaluated
//! once (a run is a pure function of its parameters), so the result is a pure
//! function of model, facts, parameters, budget and seed, whatever the thread count.
//!
//! ## References
//! - Nelder, J. A. & Mead, R. (1965). A simplex method for function minimization.
//!   The Computer Journal 7(4), 308-313.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::loss::{score, Score};
use super::space::Space;
use super::CalibrateError;
use crate::engine::EngineKind;
use crate::facts::{FactFile, Outcome, Role, Runner};

/// How long to search and how to seed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// At most this many fact-file runs (distinct parameter sets).
    pub max_evals: usize,
    /// Seeds the initial simplices (and a stochastic engine's runs: the same random
    /// numbers at every parameter set, so the loss is a deterministic function).
    pub seed: u64,
    /// Engine of the facts' schedules.
    pub engine: EngineKind,
}

/// One run of the fact file.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// 1-based, in the order the search asked for them.
    pub number: usize,
    /// 0 for the first simplex, k for the k-th restart.
    pub restart: usize,
    /// Values of the calibrated parameters, in `--params` order.
    pub values: Vec<f64>,
    pub score: Score,
    pub outcomes: Vec<Outcome>,
}

/// Why the search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every scored fact passes.
    AllPass,
    /// A restart from the best point found nothing better.
    Converged,
    /// The evaluation budget is spent.
    Budget,
}

impl Stop {
    pub fn describe(self) -> &'static str {
        match self {
            Stop::AllPass => "every fact passes (loss 0)",
            Stop::Converged => "converged (a restart from the best point found nothing better)",
            Stop::Budget => "evaluation budget spent",
        }
    }
}

/// The record of a calibration.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub space: Space,
    pub settings: Settings,
    pub evaluations: Vec<Evaluation>,
    /// Index of the best evaluation (the first of equal losses).
    pub best: usize,
    pub restarts: usize,
    pub stop: Stop,
    pub seconds: f64,
}

impl Calibration {
    /// The model's current values (always the first evaluation).
    pub fn start(&self) -> &Evaluation {
        &self.evaluations[0]
    }
    pub fn best(&self) -> &Evaluation {
        &self.evaluations[self.best]
    }
}

/// Run the fact file with the calibrated parameters set to `values` (the file itself
/// is not changed: a copy with the new base values is run, so states, conditions and
/// genotype overrides all see them exactly as `validate` would after an edit).
pub fn evaluate(
    file: &FactFile,
    space: &Space,
    values: &[f64],
    engine: EngineKind,
    seed: u64,
) -> (Score, Vec<Outcome>) {
    let mut f = file.clone();
    for (a, &v) in space.axes.iter().zip(values) {
        f.model.params[a.index].value = v;
    }
    let outcomes = Runner::new(&f).with_engine(engine, seed).run_all();
    (score(&f.facts, &outcomes), outcomes)
}

/// Evaluations so far, shared with argmin's cost function.
struct Log<'a> {
    evaluations: Vec<Evaluation>,
    seen: HashMap<Vec<u64>, usize>,
    best: usize,
    restart: usize,
    budget: usize,
    exhausted: bool,
    on_improve: &'a mut dyn FnMut(&Evaluation),
}

/// argmin's cost function: owns nothing, so a fresh one is made for each simplex.
struct Objective<'a, 'l> {
    file: &'a FactFile,
    space: &'a Space,
    log: &'l RefCell<Log<'a>>,
    engine: EngineKind,
    seed: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("evaluation budget spent")]
struct BudgetSpent;

impl Objective<'_, '_> {
    /// Evaluate at parameter values (cached), recording new evaluations.
    fn at_values(&self, values: Vec<f64>) -> Result<f64, BudgetSpent> {
        let key: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let mut log = self.log.borrow_mut();
        if let Some(&i) = log.seen.get(&key) {
            return Ok(log.evaluations[i].score.loss);
        }
        if log.evaluations.len() >= log.budget {
            log.exhausted = true;
            return Err(BudgetSpent);
        }
        let (score, outcomes) = evaluate(self.file, self.space, &values, self.engine, self.seed);
        let e = Evaluation {
            number: log.evaluations.len() + 1,
            restart: log.restart,
            values,
            score,
            outcomes,
        };
        let i = log.evaluations.len();
        log.seen.insert(key, i);
        let improved = i == 0 || score.loss < log.evaluations[log.best].score.loss;
        log.evaluations.push(e);
        if improved {
            log.best = i;
            let Log {
                evaluations,
                on_improve,
                ..
            } = &mut *log;
            on_improve(&evaluations[i]);
        }
        Ok(score.loss)
    }

    fn best(&self) -> (usize, f64) {
        let log = self.log.borrow();
        (log.best, log.evaluations[log.best].score.loss)
    }
}

impl CostFunction for Objective<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, u: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.at_values(self.space.values(u))?)
    }
}

/// A simplex around `u0`: one vertex per axis, stepped 5-15% of the axis with a
/// random sign.
fn simplex(u0: &[f64], rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut s = vec![u0.to_vec()];
    for i in 0..u0.len() {
        let step: f64 = rng.random_range(0.05..0.15);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let mut v = u0.to_vec();
        v[i] += sign * step;
        s.push(v);
    }
    s
}

/// Calibrate: search the space for the least loss over the fact file. The file must
/// hold calibration facts only (a prediction fact is an error: predictions are never
/// fitted to); [`FactFile::calibration_targets`] leaves them out.
/// `on_improve` sees each evaluation that lowers the best loss (the first included).
pub fn calibrate(
    file: &FactFile,
    space: &Space,
    settings: Settings,
    on_improve: &mut dyn FnMut(&Evaluation),
) -> Result<Calibration, CalibrateError> {
    let n = space.len();
    let need = n + 2;
    if settings.max_evals < need {
        return Err(CalibrateError::TooFewEvals {
            given: settings.max_evals,
            n,
            need,
        });
    }
    let predictions: Vec<&str> = file
        .facts
        .iter()
        .filter(|f| f.role == Role::Prediction)
        .map(|f| f.id.as_str())
        .collect();
    if let Some(first) = predictions.first() {
        return Err(CalibrateError::Predictions {
            facts: file.path.clone(),
            count: predictions.len(),
            first: first.to_string(),
        });
    }
    if file.facts.iter().all(|f| f.known_failure.is_some()) {
        return Err(CalibrateError::NoTargets {
            facts: file.path.clone(),
        });
    }
    let clock = Instant::now();
    let log = RefCell::new(Log {
        evaluations: Vec::new(),
        seen: HashMap::new(),
        best: 0,
        restart: 0,
        budget: settings.max_evals,
        exhausted: false,
        on_improve,
    });
    let objective = Objective {
        file,
        space,
        log: &log,
        engine: settings.engine,
        seed: settings.seed,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    // The start is evaluated first, so evaluation 1 is always the model as it is.
    let start = space.start();
    objective
        .at_values(start.clone())
        .map_err(|e| CalibrateError::Optimiser(e.to_string()))?;
    let mut u0 = space.coords(&start);
    let mut restart = 0;
    let stop = loop {
        let (best_before, loss_before) = objective.best();
        if loss_before == 0.0 {
            break Stop::AllPass;
        }
        {
            let log = objective.log.borrow();
            // A simplex needs n new points and the first step one more; never let
            // argmin's initialisation hit the budget.
            if log.budget - log.evaluations.len() < n + 1 {
                break Stop::Budget;
            }
        }
        objective.log.borrow_mut().restart = restart;
        let solver = NelderMead::new(simplex(&u0, &mut rng))
            .with_sd_tolerance(1e-7)
            .map_err(|e| CalibrateError::Optimiser(e.to_string()))?;
        let problem = Objective {
            file,
            space,
            log: &log,
            engine: settings.engine,
            seed: settings.seed,
        };
        let result = Executor::new(problem, solver)
            .configure(|s| s.max_iters(u64::MAX).target_cost(0.0))
            .timer(false)
            .run();
        if let Err(e) = result {
            if objective.log.borrow().exhausted {
                break Stop::Budget;
            }
            return Err(CalibrateError::Optimiser(e.to_string()));
        }
        let (best_after, loss_after) = objective.best();
        if loss_after == 0.0 {
            break Stop::AllPass;
        }
        if restart > 0 && (best_after == best_before || loss_after >= loss_before) {
            break Stop::Converged;
        }
        let log = objective.log.borrow();
        u0 = space.coords(&log.evaluations[log.best].values);
        restart += 1;
    };
    let log = log.into_inner();
    Ok(Calibration {
        space: space.clone(),
        settings,
        best: log.best,
        evaluations: log.evaluations,
        restarts: restart,
        stop,
        seconds: clock.elapsed().as_secs_f64(),
    })
}
