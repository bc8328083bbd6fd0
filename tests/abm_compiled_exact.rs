//! The exact results of issue 6, on compiled model files run through the whole model
//! path (model text -> compiled programs -> batch evaluation -> hazards, genotypes ->
//! mutation table), not on a hand-written cell model.
//!
//! The test model carries one loop species `x` held at its steady state 1 (`dx/dt =
//! k (1 - x)`, exact in `f32`), and the fate reads it (`division = b * x`), so the
//! per-cell evaluation and the trapezoid hazard rule run while the hazards stay the
//! constants `b`, `d` for which the results are exact:
//!
//! - linear birth-death from `n0` cells (Kendall 1948): mean `n0 e^{rt}`, variance
//!   `n0 (b+d)/(b-d) e^{rt}(e^{rt}-1)`, extinction by `t` `alpha(t)^n0`;
//! - Luria-Delbrueck: mutant counts at size M against the Ma-Sandri-Sarkar recursion
//!   with `m = u (N - 1)` mutations expected;
//! - Iwasa, Michor and Nowak (2006): P(at least one resistant cell at size M)
//!   `= 1 - exp(-(M u b/d) ln((b - d n0/M)/(b - d)))`.
//!
//! Tolerances: 4 standard errors (binomial or sample) plus 0.01 for the stopping
//! overshoot in the size-M tests. Means, probabilities and quantiles only: no sample
//! variance of mutant counts (heavy-tailed).
//!
//! ## References
//! - Kendall, D. G. (1948). Ann. Math. Statist. 19, 1-15.
//! - Ma, W. T., Sandri, G. v. H. and Sarkar, S. (1992). J. Appl. Probab. 29, 255-267.
//! - Iwasa, Y., Michor, F. and Nowak, M. A. (2006). Genetics 172, 2557-2566.

use std::path::Path;

use resloop::abm::{
    run_ensemble, AbmOptions, CellModel, CompiledCells, ConstantExposure, EnsembleConfig,
    LoopIntegration, NoProgress, ResistanceCriterion,
};
use resloop::compile::{compile_str, BoundModel};

/// A model file with constant hazards `b`, `d` (through the loop species) and a
/// mutant genotype reached with probability `u` per division.
fn model_text(b: f64, d: f64, u: f64) -> String {
    format!(
        r#"
[model]
name = "birth_death"
title = "Linear birth-death-mutation through the model path"
time_unit = "hours"
description = "x sits at its steady state 1; division b x, death d"

[species.x]
initial = 1.0
unit = "1"
description = "held at 1"
rate = "k * (1 - x)"

[parameters.k]
value = 0.3
unit = "1/h"
provenance = "assumed"
note = "relaxation of x (irrelevant at steady state)"
[parameters.b]
value = {b}
unit = "1/h"
provenance = "assumed"
note = "division rate"
[parameters.d]
value = {d}
unit = "1/h"
provenance = "assumed"
note = "death rate"

[fate]
division = "b * x"
death = "d"

[genotypes.mutant]
mutation_probability = {u}
description = "neutral marker"
[genotypes.mutant.overrides]
k = 0.5
"#
    )
}

fn cells(b: f64, d: f64, u: f64) -> CompiledCells {
    let m = compile_str(Path::new("birth_death.toml"), &model_text(b, d, u)).unwrap();
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let c = CompiledCells::new(&m, &bound, LoopIntegration::default()).unwrap();
    assert_eq!(
        c.mutations(0),
        &[(1, u)],
        "the file's genotype is the mutation"
    );
    c
}

/// (final totals, final mutant counts) of `reps` replicates.
fn run(
    model: &CompiledCells,
    opts: AbmOptions,
    n0: u64,
    t_end: f64,
    reps: u64,
    seed: u64,
) -> (Vec<f64>, Vec<u64>) {
    let never = ResistanceCriterion::AboveTotal { cells: u64::MAX };
    let cfg = EnsembleConfig::new(reps, seed, t_end, never);
    let ens = run_ensemble(
        model,
        &model.founders(n0),
        &opts,
        &ConstantExposure::default(),
        &cfg,
        &NoProgress,
    )
    .unwrap();
    (
        ens.summaries.iter().map(|s| s.final_total as f64).collect(),
        ens.summaries
            .iter()
            .map(|s| s.final_by_genotype[1])
            .collect(),
    )
}

fn coarse(mut o: AbmOptions) -> AbmOptions {
    o.record_every = 1e6;
    o.record_clones = false;
    o
}

#[test]
fn linear_birth_death_moments_and_extinction() {
    let (b, d) = (1.0, 0.5);
    let model = cells(b, d, 0.0);
    let (r, z) = (b - d, 4.0);
    // Moments from 10 cells at t = 3 h, per-cell, dt = 0.25 h.
    let (x, _) = run(
        &model,
        coarse(AbmOptions::per_cell(0.25)),
        10,
        3.0,
        3000,
        31,
    );
    let e = (r * 3.0f64).exp();
    let (mean, var) = (10.0 * e, 10.0 * (b + d) / (b - d) * e * (e - 1.0));
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let s2 = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = x.iter().map(|v| (v - m).powi(4)).sum::<f64>() / n;
    assert!(
        (m - mean).abs() < z * (var / n).sqrt(),
        "mean {m} vs {mean}"
    );
    assert!(
        (s2 - var).abs() < z * ((m4 - s2 * s2) / n).sqrt(),
        "variance {s2} vs {var}"
    );
    // Extinction from 2 cells by t = 12 h (aggregated: the same law as counts).
    let (x, _) = run(
        &model,
        coarse(AbmOptions::aggregated(0.25)),
        2,
        12.0,
        4000,
        32,
    );
    let e = (r * 12.0f64).exp();
    let alpha = d * (e - 1.0) / (b * e - d);
    let p = alpha * alpha;
    let hat = x.iter().filter(|&&v| v == 0.0).count() as f64 / x.len() as f64;
    let se = (p * (1.0 - p) / x.len() as f64).sqrt();
    assert!((hat - p).abs() < z * se, "extinction {hat} vs {p}");
    assert!((p - (d / b).powi(2)).abs() < 0.01, "close to (d/b)^n0");
}

/// Ma-Sandri-Sarkar: p_0 = e^{-m}, p_n = (m/n) sum_{i<n} p_i / (n - i + 1).
fn mss(m: f64, n_max: usize) -> Vec<f64> {
    let mut p = vec![(-m).exp()];
    for n in 1..=n_max {
        let s: f64 = (0..n).map(|i| p[i] / (n - i + 1) as f64).sum();
        p.push(m / n as f64 * s);
    }
    p
}

fn to_size(mut o: AbmOptions, m_size: u64) -> AbmOptions {
    o.stop_at_population = Some(m_size);
    coarse(o)
}

#[test]
fn luria_delbruck_per_cell() {
    let (u, m_size, reps) = (5e-4, 2_000u64, 1500u64);
    let model = cells(1.0, 0.0, u);
    let (totals, counts) = run(
        &model,
        to_size(AbmOptions::per_cell(0.02), m_size),
        1,
        1e6,
        reps,
        33,
    );
    let mean_total = totals.iter().sum::<f64>() / reps as f64;
    let p = mss(u * (mean_total - 1.0), 40);
    let n = reps as f64;
    for k in [0usize, 1, 3, 10, 30] {
        let (exact, hat) = if k == 1 {
            (p[1], counts.iter().filter(|&&c| c == 1).count() as f64 / n)
        } else {
            (
                p[..=k].iter().sum::<f64>(),
                counts.iter().filter(|&&c| c as usize <= k).count() as f64 / n,
            )
        };
        let tol = 4.0 * (exact * (1.0 - exact) / n).sqrt() + 0.01;
        assert!(
            (hat - exact).abs() < tol,
            "k = {k}: simulated {hat}, Ma-Sandri-Sarkar {exact} (tol {tol})"
        );
    }
}

#[test]
fn iwasa_michor_nowak_probability_of_resistance() {
    let (b, d, n0, m_size, u, reps) = (1.0, 0.5, 100u64, 10_000u64, 7e-5, 3000u64);
    let model = cells(b, d, u);
    let (totals, counts) = run(
        &model,
        to_size(AbmOptions::hybrid(0.02, 2000, 500), m_size),
        n0,
        1e6,
        reps,
        34,
    );
    let mm = totals.iter().sum::<f64>() / reps as f64;
    let lambda = mm * u * b / d * ((b - d * n0 as f64 / mm) / (b - d)).ln();
    let exact = 1.0 - (-lambda).exp();
    let hat = counts.iter().filter(|&&c| c > 0).count() as f64 / reps as f64;
    let tol = 4.0 * (exact * (1.0 - exact) / reps as f64).sqrt() + 0.01;
    assert!(
        (hat - exact).abs() < tol,
        "P(resistant) simulated {hat}, Iwasa-Michor-Nowak {exact} (tol {tol})"
    );
}
