//! Sensitivity outputs: files written, intervals independent of thread count, plots
//! for every design, refusal of an unfinished sweep.

mod sweep_support;

use resloop::sensitivity::{sensitivity, sensitivity_with, SensitivityError, SensitivityOptions};
use resloop::sweep::{run_sweep, RunOptions, Shard, SweepSpec};
use sweep_support::{spec_from, Toy};

fn spec(design: &str) -> SweepSpec {
    let params = r#"{ name = "a", lo = 0.0, hi = 1.0 }, { name = "k", lo = 0.01, hi = 100.0, scale = "log" }"#;
    spec_from(5, design, params)
}

fn run(design: &str, fail_above: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = RunOptions {
        threads: Some(2),
        ..RunOptions::default()
    };
    run_sweep(&spec(design), &Toy { fail_above }, dir.path(), &o).unwrap();
    dir
}

#[test]
fn sobol_outputs_and_plots_with_failed_blocks() {
    let dir = run(r#"{ kind = "saltelli", samples = 64 }"#, 0.95);
    let rep = sensitivity(dir.path()).unwrap();
    assert_eq!(rep.method, "sobol");
    // Blocks with a failed run are dropped as a whole.
    let used = rep.indices[0].used;
    assert!(used < 64 && used > 40, "used {used}");
    for f in [
        "indices.csv",
        "indices.json",
        "plots/tornado_sum.png",
        "plots/tornado_noisy.svg",
        "plots/scatter_sum.png",
    ] {
        assert!(dir.path().join("sensitivity").join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(dir.path().join("sensitivity/indices.csv")).unwrap();
    assert!(csv.starts_with("metric,parameter,index,value,ci_low,ci_high,used\n"));
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 2);
}

#[test]
fn bootstrap_does_not_depend_on_threads() {
    let dir = run(r#"{ kind = "saltelli", samples = 128 }"#, 2.0);
    let o = SensitivityOptions {
        resamples: 200,
        confidence: 0.9,
        plots: false,
    };
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(|| sensitivity_with(dir.path(), &o).unwrap());
    let two = pool(2).install(|| sensitivity_with(dir.path(), &o).unwrap());
    assert_eq!(one.indices, two.indices);
    assert!(one.indices.iter().all(|r| r.ci_low.is_some()));
}

#[test]
fn grid_heatmap_and_morris_tornado() {
    let dir = run(r#"{ kind = "grid", levels = 6 }"#, 0.7);
    let rep = sensitivity(dir.path()).unwrap();
    assert_eq!(rep.method, "none");
    assert!(dir
        .path()
        .join("sensitivity/plots/heatmap_sum.png")
        .exists());
    assert!(!dir.path().join("sensitivity/indices.csv").exists());

    let dir = run(r#"{ kind = "morris", trajectories = 20, levels = 4 }"#, 2.0);
    let rep = sensitivity(dir.path()).unwrap();
    assert_eq!(rep.method, "morris");
    // sum = a + k: mu* of `a` is exactly 1 (a unit step per unit of normalised input).
    let a = rep
        .indices
        .iter()
        .find(|r| r.metric == "sum" && r.parameter == "a" && r.index == "mu_star")
        .unwrap();
    assert!((a.value - 1.0).abs() < 1e-9);
    assert!(dir
        .path()
        .join("sensitivity/plots/tornado_sum.svg")
        .exists());
}

#[test]
fn unfinished_shard_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = RunOptions {
        shard: Some(Shard::new(0, 2).unwrap()),
        ..RunOptions::default()
    };
    run_sweep(
        &spec(r#"{ kind = "sobol", samples = 16 }"#),
        &Toy { fail_above: 2.0 },
        dir.path(),
        &o,
    )
    .unwrap();
    assert!(matches!(
        sensitivity(dir.path()),
        Err(SensitivityError::Incomplete { .. })
    ));
}
