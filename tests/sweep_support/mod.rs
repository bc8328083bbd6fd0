//! Evaluators and specs shared by the sweep and sensitivity integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use resloop::sweep::{Evaluator, SweepSpec};

/// A deterministic evaluator: two metrics, one of them depending on the seed, and a
/// failure for points whose first value exceeds `fail_above`.
pub struct Toy {
    pub fail_above: f64,
}

impl Evaluator for Toy {
    fn metric_names(&self) -> Vec<String> {
        vec!["sum".into(), "noisy".into()]
    }

    fn evaluate(&self, point: &[f64], seed: u64) -> Result<Vec<f64>, String> {
        if point[0] > self.fail_above {
            return Err(format!("x = {} is too large, \"refused\"", point[0]));
        }
        let sum: f64 = point.iter().sum();
        let noise = (seed >> 11) as f64 / (1u64 << 53) as f64;
        Ok(vec![sum, sum * 0.1 + noise])
    }
}

/// Wraps an evaluator and raises a cancel flag after `after` evaluations, like a
/// Ctrl-C arriving mid-sweep.
pub struct CancelAfter<'a, E> {
    pub inner: &'a E,
    pub after: usize,
    pub count: AtomicUsize,
    pub cancel: Arc<AtomicBool>,
}

impl<E: Evaluator> Evaluator for CancelAfter<'_, E> {
    fn metric_names(&self) -> Vec<String> {
        self.inner.metric_names()
    }

    fn evaluate(&self, point: &[f64], seed: u64) -> Result<Vec<f64>, String> {
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.cancel.store(true, Ordering::SeqCst);
        }
        self.inner.evaluate(point, seed)
    }
}

/// A spec from its seed, design (inline TOML table) and parameter entries (inline
/// TOML tables, comma separated).
pub fn spec_from(seed: u64, design: &str, parameters: &str) -> SweepSpec {
    SweepSpec::from_toml(&format!(
        "seed = {seed}\ndesign = {design}\nparameters = [{parameters}]\n"
    ))
    .unwrap()
}

/// A small LHS spec over three parameters, one of them on a log scale.
pub fn toy_spec(samples: usize) -> SweepSpec {
    let design = format!("{{ kind = \"latin_hypercube\", samples = {samples} }}");
    let params = r#"{ name = "a", lo = 0.0, hi = 1.0 },
        { name = "k", lo = 0.001, hi = 10.0, scale = "log" },
        { name = "c", lo = -5.0, hi = 5.0, scale = "linear" }"#;
    spec_from(20240611, &design, params)
}

/// Contents of `dir/runs.csv`.
pub fn runs_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("runs.csv")).unwrap()
}

/// A pure birth-death population in hours (division `b`, death `d`, no carrying
/// capacity) with one decaying species `x' = -k x`, x(0) = 1: the analytic oracle of
/// model sweeps.
pub const BIRTH_DEATH_MODEL: &str = r#"
[model]
name = "birth_death"
title = "Pure birth-death with a decaying marker"
time_unit = "hours"
description = "Analytic oracle: N(t) = N0 exp((b - d) t), x(t) = exp(-k t)."

[species.x]
initial = 1.0
unit = "1"
description = "decaying marker"
rate = "-k * x"

[parameters.b]
value = 0.03
unit = "1/h"
bounds = [0.02, 0.04]
provenance = "assumed"
note = "division rate"

[parameters.d]
value = 0.005
unit = "1/h"
bounds = [0.001, 0.01]
provenance = "assumed"
note = "death rate"

[parameters.k]
value = 0.05
unit = "1/h"
bounds = [0.01, 0.1]
provenance = "assumed"
note = "marker decay rate"

[fate]
division = "b"
death = "d"
initial_cells = 1000.0
"#;

/// Write `model.toml` (the birth-death oracle) and `sweep.toml` (`sweep`) into `dir`;
/// returns the sweep file's path.
pub fn write_sweep(dir: &Path, sweep: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("model.toml"), BIRTH_DEATH_MODEL).unwrap();
    let p = dir.join("sweep.toml");
    std::fs::write(&p, sweep).unwrap();
    p
}
