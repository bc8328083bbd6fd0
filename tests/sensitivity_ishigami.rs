//! Analytic oracles for the sensitivity methods: the Ishigami function
//! `f = sin x1 + a sin^2 x2 + b x3^4 sin x1` with a = 7, b = 0.1 and inputs uniform on
//! [-pi, pi], run through the real runner and analysis.

mod sweep_support;

use resloop::sensitivity::{sensitivity_with, IndexRow, SensitivityOptions};
use std::f64::consts::PI;

use resloop::sweep::{run_sweep, Evaluator, RunOptions, SweepSpec};
use sweep_support::spec_from;

const A: f64 = 7.0;
const B: f64 = 0.1;

struct Ishigami;

impl Evaluator for Ishigami {
    fn metric_names(&self) -> Vec<String> {
        vec!["y".into()]
    }

    fn evaluate(&self, x: &[f64], _seed: u64) -> Result<Vec<f64>, String> {
        Ok(vec![
            x[0].sin() + A * x[1].sin().powi(2) + B * x[2].powi(4) * x[0].sin(),
        ])
    }
}

fn spec(design: &str) -> SweepSpec {
    let x = |n: &str| format!("{{ name = \"{n}\", lo = {}, hi = {} }}", -PI, PI);
    spec_from(12345, design, &[x("x1"), x("x2"), x("x3")].join(", "))
}

fn analyse(design: &str, resamples: usize) -> Vec<IndexRow> {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        threads: Some(2),
        ..RunOptions::default()
    };
    run_sweep(&spec(design), &Ishigami, dir.path(), &opts).unwrap();
    let sa = SensitivityOptions {
        resamples,
        confidence: 0.95,
        plots: false,
    };
    sensitivity_with(dir.path(), &sa).unwrap().indices
}

fn get<'a>(rows: &'a [IndexRow], param: &str, index: &str) -> &'a IndexRow {
    rows.iter()
        .find(|r| r.parameter == param && r.index == index)
        .unwrap()
}

/// Analytic first-order and total indices (Ishigami & Homma 1990; Sobol' & Levitan
/// 1999).
fn analytic() -> ([f64; 3], [f64; 3]) {
    let pi4 = std::f64::consts::PI.powi(4);
    let v1 = 0.5 * (1.0 + B * pi4 / 5.0).powi(2);
    let v2 = A * A / 8.0;
    let v13 = B * B * pi4 * pi4 * (1.0 / 18.0 - 1.0 / 50.0);
    let v = v1 + v2 + v13;
    ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
}

#[test]
fn sobol_indices_match_analytic_values() {
    // N = 8192 base samples, N (d + 2) = 40960 evaluations.
    let rows = analyse(r#"{ kind = "saltelli", samples = 8192 }"#, 300);
    let (s1, st) = analytic();
    assert!((s1[0] - 0.314).abs() < 1e-3 && (st[2] - 0.244).abs() < 1e-3);
    for (i, name) in ["x1", "x2", "x3"].iter().enumerate() {
        let (f, t) = (get(&rows, name, "S1"), get(&rows, name, "ST"));
        eprintln!(
            "{name}: S1 {:.4} (want {:.4}) ST {:.4} (want {:.4}) CI {:?} {:?}",
            f.value,
            s1[i],
            t.value,
            st[i],
            (f.ci_low, f.ci_high),
            (t.ci_low, t.ci_high)
        );
        assert!((f.value - s1[i]).abs() < 0.02, "{name} S1 {}", f.value);
        assert!((t.value - st[i]).abs() < 0.02, "{name} ST {}", t.value);
        let (lo, hi) = (t.ci_low.unwrap(), t.ci_high.unwrap());
        assert!(
            lo <= t.value && t.value <= hi && hi - lo < 0.1,
            "{name} ST CI {lo}..{hi}"
        );
        assert_eq!(f.used, 8192);
    }
}

#[test]
fn morris_ranks_ishigami_inputs() {
    // With p = 4 levels (delta = 2/3 of the range, i.e. steps between -pi and pi/3 or
    // -pi/3 and pi) every elementary effect can be enumerated:
    // |EE2| = 7 * 0.75 / (2/3) = 7.875 always;
    // |EE1| = 0.866 (1 + 0.1 x3^4) / (2/3), mean over x3 in {+-pi, +-pi/3} = 7.704;
    // |EE3| = 0.1 (pi^4 - (pi/3)^4) |sin x1| / (2/3), mean over x1 = 6.249.
    // So mu* ranks x2 > x1 > x3, x2 and x1 close; x3 is the least important alone but
    // has the largest spread through its interaction with x1.
    let rows = analyse(r#"{ kind = "morris", trajectories = 1000, levels = 4 }"#, 0);
    let ms = |p: &str| get(&rows, p, "mu_star").value;
    for (p, want) in [("x1", 7.704), ("x2", 7.875), ("x3", 6.249)] {
        eprintln!(
            "{p}: mu* {:.3} (want {want}) mu {:.3} sigma {:.3}",
            ms(p),
            get(&rows, p, "mu").value,
            get(&rows, p, "sigma").value
        );
        assert!((ms(p) - want).abs() < 0.6, "{p} mu* {}", ms(p));
    }
    assert!(ms("x3") < ms("x1") && ms("x3") < ms("x2"));
    // Every x1 effect is positive; x2's alternate in sign and cancel in mu.
    assert!((get(&rows, "x1", "mu").value - ms("x1")).abs() < 1e-9);
    assert!(get(&rows, "x2", "mu").value.abs() < 1.0);
}
