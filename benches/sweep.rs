//! Runner benchmarks: overhead per point with a trivial evaluator, throughput with a
//! CPU-bound (~1 ms) evaluator on 1 and 2 threads, and the model sweep the issue
//! targets: the shipped loop model over a 12-month schedule in ODE mode (one run, and
//! sweeps on 1 and 2 threads). Parallel efficiency is throughput(2) / (2
//! throughput(1)), read from each pair of results; sims per second per core is the
//! 2-thread throughput divided by 2.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resloop::sweep::{load_model_sweep, run_sweep, Evaluator, LoadOptions, RunOptions, SweepSpec};

/// Returns its input: measures the runner alone (design, channel, writer, final sort).
struct Trivial;

impl Evaluator for Trivial {
    fn metric_names(&self) -> Vec<String> {
        vec!["y".into()]
    }
    fn evaluate(&self, x: &[f64], _seed: u64) -> Result<Vec<f64>, String> {
        Ok(vec![x[0] + x[1]])
    }
}

/// A fixed amount of floating-point work (about 1 ms on the development machine).
struct Busy {
    iterations: u64,
}

impl Evaluator for Busy {
    fn metric_names(&self) -> Vec<String> {
        vec!["y".into()]
    }
    fn evaluate(&self, x: &[f64], _seed: u64) -> Result<Vec<f64>, String> {
        let mut acc = x[0];
        for i in 0..self.iterations {
            acc = (acc * 1.000_000_1 + i as f64 * 1e-9).sin();
        }
        Ok(vec![black_box(acc)])
    }
}

fn spec(samples: usize) -> SweepSpec {
    SweepSpec::from_toml(&format!(
        "seed = 1\ndesign = {{ kind = \"latin_hypercube\", samples = {samples} }}\n\
         parameters = [{{ name = \"a\", lo = 0.0, hi = 1.0 }}, {{ name = \"b\", lo = 1e-3, hi = 1e3, scale = \"log\" }}]"
    ))
    .unwrap()
}

fn run<E: Evaluator>(spec: &SweepSpec, ev: &E, threads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let o = RunOptions {
        threads: Some(threads),
        ..RunOptions::default()
    };
    black_box(run_sweep(spec, ev, dir.path(), &o).unwrap());
}

/// One group timing a sweep of `n` points with `ev` on 1 and 2 threads, reported as
/// points per second.
fn by_threads<E: Evaluator>(c: &mut Criterion, group: &str, n: usize, ev: &E) {
    by_threads_spec(c, group, &spec(n), ev);
}

fn overhead(c: &mut Criterion) {
    by_threads(c, "runner_overhead_trivial", 20_000, &Trivial);
}

fn cpu_bound(c: &mut Criterion) {
    let ev = Busy { iterations: 40_000 };
    c.bench_function("cpu_bound_single_evaluation", |b| {
        b.iter(|| ev.evaluate(&[0.3, 1.0], 0))
    });
    by_threads(c, "cpu_bound_1ms", 200, &ev);
}

/// A Latin hypercube over four loop and fate parameters of models/minimal_loop.toml,
/// 365 days of 1 uM drug refreshed every 72 h (122 doses), four timeline metrics.
fn twelve_month_sweep(samples: usize) -> resloop::sweep::ModelSweep {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/minimal_loop.toml");
    let text = format!(
        r#"seed = 5
design = {{ kind = "latin_hypercube", samples = {samples} }}
[model]
file = "{model}"
[schedule]
days = 365
doses = ["tki=1uM@72h"]
points = 365
[[parameters]]
name = "k_erode"
scale = "log"
[[parameters]]
name = "w_bypass"
[[parameters]]
name = "ic50_drug"
scale = "log"
[[parameters]]
name = "k_kill"
[[metrics]]
kind = "time_to_resistance"
[[metrics]]
kind = "final_population"
[[metrics]]
kind = "min"
variable = "cells"
[[metrics]]
kind = "resistant_fraction"
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, text).unwrap();
    load_model_sweep(&path, &LoadOptions::default()).unwrap()
}

fn model_sweep(c: &mut Criterion) {
    let one = twelve_month_sweep(2);
    c.bench_function("model_12_months_single_run", |b| {
        b.iter(|| {
            one.evaluator
                .evaluate(&[0.005, 0.4, 0.05, 0.04], 0)
                .unwrap()
        })
    });
    let sw = twelve_month_sweep(200);
    by_threads_spec(c, "model_12_months_sweep_200", &sw.spec, &sw.evaluator);
}

/// One group timing the sweep `s` with `ev` on 1 and 2 threads, reported as points
/// per second.
fn by_threads_spec<E: Evaluator>(c: &mut Criterion, group: &str, s: &SweepSpec, ev: &E) {
    let n = resloop::sweep::Design::generate(s).unwrap().points.len();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    for threads in [1, 2] {
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| run(s, ev, threads))
        });
    }
    g.finish();
}

criterion_group!(benches, overhead, cpu_bound, model_sweep);
criterion_main!(benches);
