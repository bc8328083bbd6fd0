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
