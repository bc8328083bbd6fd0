//! Runner benchmarks: overhead per point with a trivial evaluator, and throughput with
//! a CPU-bound (~1 ms) evaluator on 1 and 2 threads. Parallel efficiency is
//! throughput(2) / (2 throughput(1)), read from the two `cpu_bound` results.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resloop::sweep::{run_sweep, Evaluator, RunOptions, SweepSpec};

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
    let s = spec(n);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    for threads in [1, 2] {
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| run(&s, ev, threads))
        });
    }
    g.finish();
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

criterion_group!(benches, overhead, cpu_bound);
criterion_main!(benches);
