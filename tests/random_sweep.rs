//! No solver failure on randomized parameter sets of every shipped model.
//!
//! Each set draws every parameter that declares bounds log-uniformly between them
//! (uniformly when the lower bound is 0, where a log scale has no bottom), runs the
//! model's default scenario (its [scenario] doses and days, as `resloop sweep` does
//! without a schedule) with the default method (`auto`) at rtol 1e-6 and 1e-8
//! (atol 1e-3 rtol), and fails on any solver failure. A species that goes negative
//! at the same time at both tolerances is the model's trajectory, not the solver's
//! doing: such sets are counted and printed, not failed. The sets are a pure
//! function of the model's position and the set number.
//!
//! 1,000 sets per model by default (about 20 s on two cores); the counts:
//!
//! ```text
//! cargo test --release --test random_sweep -- --nocapture
//! ```
//! (`RANDOM_SWEEP_SETS=N` changes the number of sets, `RANDOM_SWEEP_METHOD=rodas5p`
//! the method).

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use resloop::compile::{compile_file, BoundModel, CompiledModel};
use resloop::engine::ode::{simulate, Method, OdeOptions, SimError, SolverErrorKind};
use resloop::pkpd::DoseEvent;

fn sets() -> usize {
    std::env::var("RANDOM_SWEEP_SETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn method() -> Method {
    std::env::var("RANDOM_SWEEP_METHOD").map_or(Method::default(), |v| {
        Method::parse(&v).unwrap_or_else(|| panic!("RANDOM_SWEEP_METHOD={v}: not a method"))
    })
}

fn draw(m: &CompiledModel, rng: &mut ChaCha8Rng) -> Vec<f64> {
    m.params
        .iter()
        .map(|p| match p.bounds {
            Some([lo, hi]) if lo > 0.0 && hi > lo => {
                (lo.ln() + rng.random::<f64>() * (hi / lo).ln()).exp()
            }
            Some([lo, hi]) if hi > lo => lo + rng.random::<f64>() * (hi - lo),
            _ => p.value,
        })
        .collect()
}

fn scenario(m: &CompiledModel) -> (f64, Vec<DoseEvent>) {
    let days = m.scenario.as_ref().map_or(30.0, |s| s.days);
    let t_end = days * 24.0 / m.meta.time_unit.hours();
    let doses = m
        .scenario
        .iter()
        .flat_map(|s| s.doses.iter())
        .flat_map(|d| d.events(t_end).unwrap())
        .collect();
    (t_end, doses)
}

/// What one parameter set did at both tolerances.
enum Outcome {
    Ok,
    /// A species or cell count crossed below zero at the same time and in the same
    /// variable at rtol 1e-6 and 1e-8: a converged property of the trajectory under
    /// these parameters (the model's rate law is not positivity-preserving there),
    /// which the run correctly reports; not a solver failure.
    ModelNegative(String),
    /// Anything else: step-size underflow, too many steps, a non-finite value, a
    /// singular matrix, or a failure at one tolerance only.
    SolverFailure(String),
}

fn run_set(m: &CompiledModel, params: &[f64], t_end: f64, doses: &[DoseEvent]) -> Outcome {
    let b = BoundModel::new(m, params).unwrap();
    let run = |rtol: f64| {
        let mut o = OdeOptions::new(t_end);
        o.method = method();
        o.rtol = rtol;
        o.atol = rtol * 1e-3;
        simulate(m, &b, doses, &o).err()
    };
    match (run(1e-6), run(1e-8)) {
        (None, None) => Outcome::Ok,
        (Some(SimError::Solver(a)), Some(SimError::Solver(b))) => match (&a.kind, &b.kind) {
            (
                SolverErrorKind::Negative { variable: va, .. },
                SolverErrorKind::Negative { variable: vb, .. },
            ) if va == vb && (a.time - b.time).abs() <= 1e-3 * a.time.abs().max(1.0) => {
                Outcome::ModelNegative(format!("{va} at t = {:.4}", b.time))
            }
            _ => Outcome::SolverFailure(format!("rtol 1e-6: {a}; rtol 1e-8: {b}")),
        },
        (a, b) => Outcome::SolverFailure(format!("rtol 1e-6: {a:?}; rtol 1e-8: {b:?}")),
    }
}

#[test]
fn randomized_parameter_sets_never_fail() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| resloop::model::is_model_file(p))
        .collect();
    models.sort();
    assert!(!models.is_empty());
    let n = sets();
    let mut failures = Vec::new();
    for (mi, path) in models.iter().enumerate() {
        let m = compile_file(path).unwrap();
        let (t_end, doses) = scenario(&m);
        let outcomes: Vec<Outcome> = (0..n)
            .into_par_iter()
            .map(|k| {
                let mut rng = ChaCha8Rng::seed_from_u64(((mi as u64) << 32) | k as u64);
                run_set(&m, &draw(&m, &mut rng), t_end, &doses)
            })
            .collect();
        let before = failures.len();
        let mut negative = Vec::new();
        for (k, o) in outcomes.into_iter().enumerate() {
            match o {
                Outcome::Ok => {}
                Outcome::ModelNegative(what) => negative.push(format!("set {k}: {what}")),
                Outcome::SolverFailure(e) => failures.push(format!("{} set {k}: {e}", m.meta.name)),
            }
        }
        println!(
            "{} ({}): {n} sets x rtol 1e-6 and 1e-8: {} solver failures, {} sets whose trajectory leaves the positive range{}",
            m.meta.name,
            method().label(),
            failures.len() - before,
            negative.len(),
            negative.first().map_or(String::new(), |w| format!(" (first: {w})"))
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
