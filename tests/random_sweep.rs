//! No solver failure on randomized parameter sets of every shipped model.
//!
//! Each set draws every parameter that declares bounds log-uniformly between them
//! (uniformly when the lower bound is 0, where a log scale has no bottom), runs the
//! model's default scenario (its [scenario] doses and days, as `resloop sweep` does
//! without a schedule) with the default method (`auto`) at rtol 1e-6 and 1e-8, and
//! counts the runs that end in an error. The sets are a pure function of the model's
//! position and the set number.
//!
//! 100 sets per model and tolerance by default; the issue's 1,000:
//!
//! ```text
//! RANDOM_SWEEP_SETS=1000 cargo test --release --test random_sweep -- --nocapture
//! ```

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use resloop::compile::{compile_file, BoundModel, CompiledModel};
use resloop::engine::ode::{simulate, Method, OdeOptions};
use resloop::pkpd::{parse_dose_spec, DoseEvent};

fn sets() -> usize {
    std::env::var("RANDOM_SWEEP_SETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
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
        .flat_map(|d| parse_dose_spec(m, d, t_end).unwrap())
        .collect();
    (t_end, doses)
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
        for rtol in [1e-6, 1e-8] {
            let failed: Vec<String> = (0..n)
                .into_par_iter()
                .filter_map(|k| {
                    let mut rng = ChaCha8Rng::seed_from_u64(((mi as u64) << 32) | k as u64);
                    let params = draw(&m, &mut rng);
                    let b = BoundModel::new(&m, &params).unwrap();
                    let mut o = OdeOptions::new(t_end);
                    o.method = Method::default();
                    o.rtol = rtol;
                    o.atol = rtol * 1e-3;
                    simulate(&m, &b, &doses, &o)
                        .err()
                        .map(|e| format!("{} set {k} rtol {rtol:e}: {e}", m.meta.name))
                })
                .collect();
            println!(
                "{}: {n} sets at rtol {rtol:e}: {} failures",
                m.meta.name,
                failed.len()
            );
            failures.extend(failed);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
