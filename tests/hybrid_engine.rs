//! The hybrid engine against analytic results of linear birth-death(-mutation)
//! processes, at its default thresholds unless a test says otherwise. Every case runs
//! 10,000 replicates and compares with the exact value within 2 standard errors of
//! the sample (the seed is fixed, so a pass is reproducible).
//!
//! Cases:
//! - moments and extinction of a linear birth-death process started below the
//!   promotion threshold (pure event simulation);
//! - extinction of a shrinking population started above it (deterministic until it
//!   falls below the demotion threshold, then drawn with the ODE's mean and variance):
//!   the case a mean-field-then-round hybrid gets wrong;
//! - probability of cure under therapy with resistant mutants arising at division
//!   (the branching-process result of Bozic et al. 2013, eLife 2:e00747, in its
//!   one-mutation form);
//! - the probability of no mutant in a Luria-Delbruck fluctuation test (e^-m);
//! - extinction and mean of a clone whose death hazard changes in time (Kendall's
//!   time-inhomogeneous law), on the fine and on the coarse grid.

mod common;

use resloop::compile::{BoundModel, CompiledModel};
use resloop::engine::ode::RunSettings;
use resloop::engine::population::{HybridSettings, Mode, PopulationEngine};
use resloop::engine::{Advanced, Engine, Watch, WatchTarget};

const REPLICATES: u64 = 10_000;

fn model(b: f64, d: f64, u: f64, bm: f64, dm: f64) -> CompiledModel {
    common::birth_death(b, d, u, bm, dm, 1.0)
}

/// Parental cells `n0`, no mutant.
fn start(m: &CompiledModel, n0: f64) -> Vec<f64> {
    let s = m.species.len() + 1;
    let mut y = vec![1.0; s * m.genotypes.len()];
    for (g, c) in y.chunks_exact_mut(s).enumerate() {
        c[s - 1] = if g == 0 { n0 } else { 0.0 };
    }
    y
}

struct Outcome {
    cells: Vec<f64>,
    why: Advanced,
    time: f64,
}

fn replicate(
    m: &CompiledModel,
    b: &BoundModel,
    n0: f64,
    t_end: f64,
    hybrid: HybridSettings,
    r: u64,
    watches: &[Watch],
) -> Outcome {
    let settings = RunSettings::default();
    let mode = Mode::Hybrid {
        settings: hybrid,
        seed: 7,
        replicate: r,
    };
    let mut e = PopulationEngine::new(m, b, &settings, &start(m, n0), 0.0, mode).unwrap();
    let why = e.advance_to(t_end, watches).unwrap();
    let s = e.stride();
    Outcome {
        cells: e.population().chunks_exact(s).map(|c| c[s - 1]).collect(),
        why,
        time: e.time(),
    }
}

fn mean_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// A proportion and its standard error under the exact value `p`.
fn within_2se_p(k: usize, n: usize, p: f64, what: &str) {
    let phat = k as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (phat - p).abs() <= 2.0 * se,
        "{what}: {phat:.4} from {n} replicates, exact {p:.4} (2 SE = {:.4})",
        2.0 * se
    );
}

/// P(a linear birth-death process from one cell is extinct by t) (Kendall 1948).
fn p0(b: f64, d: f64, t: f64) -> f64 {
    let e = ((b - d) * t).exp();
    d * (e - 1.0) / (b * e - d)
}

#[test]
fn linear_birth_death_moments_and_extinction() {
    let (b, d, n0, t) = (1.0, 0.6, 2.0, 3.0);
    let m = model(b, d, 0.0, b, d);
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let exact_only = HybridSettings {
        promote_at: 1e12,
        demote_below: 1e11,
        ..HybridSettings::default()
    };
    let out: Vec<Outcome> = (0..REPLICATES)
        .map(|r| replicate(&m, &bound, n0, t, exact_only, r, &[]))
        .collect();
    let n: Vec<f64> = out.iter().map(|o| o.cells[0]).collect();
    let r = b - d;
    let mean = n0 * (r * t).exp();
    let var = n0 * (b + d) / r * (r * t).exp() * ((r * t).exp() - 1.0);
    let (m_hat, se) = mean_se(&n);
    assert!(
        (m_hat - mean).abs() <= 2.0 * se,
        "mean {m_hat:.3} vs exact {mean:.3} (2 SE {:.3})",
        2.0 * se
    );
    let v_hat = n.iter().map(|x| (x - m_hat).powi(2)).sum::<f64>() / (n.len() as f64 - 1.0);
    // The sample variance's standard error, from the fourth central moment.
    let m4 = n.iter().map(|x| (x - m_hat).powi(4)).sum::<f64>() / n.len() as f64;
    let v_se = ((m4 - v_hat * v_hat) / n.len() as f64).sqrt();
    assert!(
        (v_hat - var).abs() <= 2.0 * v_se,
        "variance {v_hat:.2} vs exact {var:.2} (2 SE {:.2})",
        2.0 * v_se
    );
    let extinct = out.iter().filter(|o| o.why == Advanced::Extinct).count();
    let p = p0(b, d, t).powf(n0);
    assert!((p - 0.262).abs() < 0.001, "exact value {p}");
    within_2se_p(extinct, out.len(), p, "P(extinct by day 3)");
    // Extinct replicates stop at the extinction event itself, before the end.
    assert!(out
        .iter()
        .filter(|o| o.why == Advanced::Extinct)
        .all(|o| o.time < t && o.cells[0] == 0.0));
    // Never a fraction of a cell.
    assert!(n.iter().all(|x| x.fract() == 0.0));
}

/// A clone whose per-cell death hazard rises smoothly, `d(t) = 0.9 - 0.4 e^(-t/10)`
/// per day (a species decaying from 1), beside divisions at 1 per day: P(extinct by
/// day 15) and the mean from one cell against the time-inhomogeneous law (Kendall
/// 1948): with `rho(t) = int_0^t (d - b)`, `P(N(t) = 0) = 1 - 1 / (e^rho(t) +
/// int_0^t b e^rho(s) ds)` and `E N(t) = e^-rho(t)`. At the default settings every
/// segment here runs on the fine grid (the hazard moves by more than 1 % of itself
/// within a segment); at ten times the default `max_rate_change` every segment runs
/// on the coarse grid, with the death hazard changing by up to 2.4 % within one
/// coarse interval, and the bias of holding it constant there stays below the
/// sampling error.
#[test]
fn hazards_that_change_in_time_give_the_exact_law() {
    let (b, d_inf, a, k, t) = (1.0, 0.9, 0.4, 0.1, 15.0);
    let m = common::model(&format!(
        r#"
[model]
name = "rising_death"
title = "Linear birth-death with a death hazard that rises in time"
time_unit = "days"
description = "d(t) = d_inf - a exp(-k t)"
[species.x]
initial = 1.0
unit = "1"
description = "decays from 1"
rate = "-{k} * x"
[fate]
division = "{b}"
death = "{d_inf} - {a} * x"
initial_cells = 1
"#
    ));
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let rho = |s: f64| (d_inf - b) * s - a * (1.0 - (-k * s).exp()) / k;
    // Simpson's rule on 2,000 intervals (the integrand is smooth: error ~1e-12).
    let n = 2000;
    let h = t / n as f64;
    let integral = (0..=n)
        .map(|i| {
            let w = if i == 0 || i == n {
                1.0
            } else {
                [2.0, 4.0][i % 2]
            };
            w * b * rho(i as f64 * h).exp()
        })
        .sum::<f64>()
        * h
        / 3.0;
    let p = 1.0 - 1.0 / (rho(t).exp() + integral);
    let mean = (-rho(t)).exp();
    assert!(
        (p - 0.583).abs() < 0.001 && (mean - 100.2).abs() < 0.1,
        "{p} {mean}"
    );
    for rate_change in [HybridSettings::default().max_rate_change, 0.1] {
        let settings = HybridSettings {
            promote_at: 1e12,
            demote_below: 1e11,
            max_rate_change: rate_change,
            ..HybridSettings::default()
        };
        // Four times the usual replicates (cheap here): a sharper check.
        let out: Vec<Outcome> = (0..4 * REPLICATES)
            .map(|r| replicate(&m, &bound, 1.0, t, settings, r, &[]))
            .collect();
        let extinct = out.iter().filter(|o| o.why == Advanced::Extinct).count();
        within_2se_p(
            extinct,
            out.len(),
            p,
            &format!("P(extinct by day 15), max_rate_change {rate_change}"),
        );
        let cells: Vec<f64> = out.iter().map(|o| o.cells[0]).collect();
        let (m_hat, se) = mean_se(&cells);
        assert!(
            (m_hat - mean).abs() <= 2.0 * se,
            "mean {m_hat:.2} vs exact {mean:.2} (2 SE {:.2}), max_rate_change {rate_change}",
            2.0 * se
        );
    }
}

#[test]
fn a_shrinking_population_goes_extinct_at_the_exact_rate_across_the_threshold() {
    // From 2,000 cells (above the promotion threshold) at net rate -0.5/day: the ODE
    // carries it down to the demotion threshold at about day 4, then events. Exact:
    // P(extinct by day 14) = p0(14)^2000 = 0.40; rounding the ODE's mean at the
    // threshold instead would give about 0.16.
    let (b, d, n0, t) = (0.5, 1.0, 2000.0, 14.0);
    let m = model(b, d, 0.0, b, d);
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let out: Vec<Outcome> = (0..REPLICATES)
        .map(|r| replicate(&m, &bound, n0, t, HybridSettings::default(), r, &[]))
        .collect();
    let extinct = out.iter().filter(|o| o.why == Advanced::Extinct).count();
    let p = p0(b, d, t).powf(n0);
    assert!((p - 0.40).abs() < 0.01, "exact value {p}");
    within_2se_p(
        extinct,
        out.len(),
        p,
        "P(extinct by day 14) from 2000 cells",
    );
    let n: Vec<f64> = out.iter().map(|o| o.cells[0]).collect();
    let (m_hat, se) = mean_se(&n);
    let mean = n0 * ((b - d) * t).exp();
    assert!(
        (m_hat - mean).abs() <= 2.0 * se,
        "mean {m_hat:.3} vs exact {mean:.3} (2 SE {:.3})",
        2.0 * se
    );
}

#[test]
fn probability_of_cure_under_therapy_with_resistance_by_mutation() {
    // 2,000 sensitive cells dying faster than they divide; a division gives a
    // resistant daughter with probability u; resistant lineages survive with
    // probability 1/2. A run ends cured (extinct) or failed (10^4 cells).
    let (b, d, u, bm, dm, n0) = (0.5, 1.0, 5e-4, 1.0, 0.5, 2000.0);
    let m = model(b, d, u, bm, dm);
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let fail = [Watch {
        target: WatchTarget::Total,
        cells: 1e4,
    }];
    let out: Vec<Outcome> = (0..REPLICATES)
        .map(|r| replicate(&m, &bound, n0, 400.0, HybridSettings::default(), r, &fail))
        .collect();
    assert!(
        out.iter().all(|o| o.why != Advanced::Reached),
        "a run neither cured nor failed"
    );
    let cured = out.iter().filter(|o| o.why == Advanced::Extinct).count();
    let p = common::cure_one_cell(b, d, u, bm, dm).powf(n0);
    assert!((p - 0.607).abs() < 0.005, "exact value {p}");
    within_2se_p(cured, out.len(), p, "P(cure)");
    // Failures stop where the population reaches 10^4 cells (at the event, or where
    // the large clones' trajectory crosses it), not at a later readout.
    for o in out.iter().filter(|o| o.why == Advanced::Watch(0)) {
        let total: f64 = o.cells.iter().sum();
        assert!(
            (1e4 * (1.0 - 1e-6)..1e4 + 2.0).contains(&total),
            "stopped at {total} cells"
        );
    }
}

#[test]
fn luria_delbruck_probability_of_no_mutant() {
    // Pure birth from one cell to 2^14 cells with u = 1.5e-4 per division: the number
    // of mutations is Poisson with mean m = u (N - 1), so P(no mutant) = e^-m.
    let (u, size) = (1.5e-4, 16384.0);
    let m = model(1.0, 0.0, u, 1.0, 0.0);
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let grown = [Watch {
        target: WatchTarget::Total,
        cells: size,
    }];
    let out: Vec<Outcome> = (0..REPLICATES)
        .map(|r| replicate(&m, &bound, 1.0, 100.0, HybridSettings::default(), r, &grown))
        .collect();
    assert!(out.iter().all(|o| o.why == Advanced::Watch(0)));
    let none = out.iter().filter(|o| o.cells[1] == 0.0).count();
    let p = (-u * (size - 1.0)).exp();
    within_2se_p(none, out.len(), p, "P(no mutant at 2^14 cells)");
}
