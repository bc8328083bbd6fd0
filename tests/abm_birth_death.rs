//! Linear birth-death process against its exact results, in per-cell and aggregated
//! mode, at a deliberately coarse time step (the engine's step law is exact for
//! constant hazards).
//!
//! From `n0` cells with division hazard `b` and death hazard `d` (Kendall 1948):
//! mean `n0 e^{rt}`, variance `n0 (b+d)/(b-d) e^{rt} (e^{rt} - 1)` with `r = b - d`,
//! extinction by time t `alpha(t)^n0` with `alpha(t) = d (e^{rt}-1)/(b e^{rt} - d)`,
//! which tends to `(d/b)^n0`.
//!
//! Every comparison uses a z-threshold of 4 standard errors (false-failure chance
//! about 6e-5 per comparison) with R = 4000 replicates.

use resloop::abm::{AbmOptions, ConstantRates, EnsembleConfig, ResistanceCriterion};

const B: f64 = 1.0;
const D: f64 = 0.5;
const R: u64 = 4000;
const Z: f64 = 4.0;

fn finals(opts: AbmOptions, n0: u64, t_end: f64, seed: u64) -> Vec<f64> {
    let model = ConstantRates::single(B, D);
    let never = ResistanceCriterion::AboveTotal { cells: u64::MAX };
    let cfg = EnsembleConfig::new(R, seed, t_end, never);
    let ens = model.run_from(n0, &opts, &cfg).unwrap();
    ens.summaries.iter().map(|s| s.final_total as f64).collect()
}

fn check_moments(x: &[f64], n0: f64, t: f64) {
    let r = B - D;
    let e = (r * t).exp();
    let mean = n0 * e;
    let var = n0 * (B + D) / (B - D) * e * (e - 1.0);
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let s2 = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = x.iter().map(|v| (v - m).powi(4)).sum::<f64>() / n;
    let se_mean = (var / n).sqrt();
    let se_var = ((m4 - s2 * s2) / n).sqrt();
    assert!(
        (m - mean).abs() < Z * se_mean,
        "mean {m} vs exact {mean} (se {se_mean})"
    );
    assert!(
        (s2 - var).abs() < Z * se_var,
        "variance {s2} vs exact {var} (se {se_var})"
    );
}

fn check_extinction(x: &[f64], n0: i32, t: f64) {
    let r = B - D;
    let e = (r * t).exp();
    let alpha = D * (e - 1.0) / (B * e - D);
    let p = alpha.powi(n0);
    let n = x.len() as f64;
    let p_hat = x.iter().filter(|&&v| v == 0.0).count() as f64 / n;
    let se = (p * (1.0 - p) / n).sqrt();
    assert!(
        (p_hat - p).abs() < Z * se,
        "extinction {p_hat} vs exact {p} (se {se})"
    );
    // And the finite-time value is already close to the ultimate (d/b)^n0.
    assert!((p - (D / B).powi(n0)).abs() < 0.01);
}

/// Coarse steps (dt = 0.25), records once per time unit, no clone history.
fn coarse(mut o: AbmOptions) -> AbmOptions {
    o.record_every = 1.0;
    o.record_clones = false;
    o
}

fn per_cell() -> AbmOptions {
    coarse(AbmOptions::per_cell(0.25))
}

fn aggregated() -> AbmOptions {
    coarse(AbmOptions::aggregated(0.25))
}

#[test]
fn moments_per_cell() {
    check_moments(&finals(per_cell(), 10, 3.0, 11), 10.0, 3.0);
}

#[test]
fn moments_aggregated() {
    check_moments(&finals(aggregated(), 10, 3.0, 12), 10.0, 3.0);
}

#[test]
fn extinction_per_cell() {
    check_extinction(&finals(per_cell(), 2, 12.0, 13), 2, 12.0);
}

#[test]
fn extinction_aggregated() {
    check_extinction(&finals(aggregated(), 2, 12.0, 14), 2, 12.0);
}

#[test]
fn moments_hybrid_large_population() {
    // Clones above 200 cells become counts, below 50 cells individuals again: the mix
    // is the same process, so the same exact moments hold.
    let o = coarse(AbmOptions::hybrid(0.25, 200, 50));
    check_moments(&finals(o, 100, 2.0, 15), 100.0, 2.0);
}

/// Every division and death of the cells simulated one by one is counted, including
/// those that cancel within a step: per replicate the final cells are the initial
/// ones plus divisions less deaths, exactly; and over the ensemble the divisions and
/// deaths have their exact means `b n0 (e^{rt} - 1)/r` and `d n0 (e^{rt} - 1)/r` (the
/// hazard times the expected cell-time), at a step so coarse (`dt = 0.5`, `(b + d) dt
/// = 0.75`) that hidden events (a division whose daughter dies in the same step) are
/// frequent. With two genotypes the mutants are divisions of the parent and arrivals
/// into the child.
#[test]
fn counters_count_every_division_and_death() {
    let (n0, t) = (20u64, 3.0);
    let mut opts = coarse(AbmOptions::per_cell(0.5));
    opts.stop_when_extinct = false;
    let model = ConstantRates::single(B, D);
    let never = ResistanceCriterion::AboveTotal { cells: u64::MAX };
    let ens = model
        .run_from(n0, &opts, &EnsembleConfig::new(R, 31, t, never.clone()))
        .unwrap();
    let (mut div, mut dead) = (Vec::new(), Vec::new());
    for (r, s) in ens.replicates.iter().zip(&ens.summaries) {
        let c = &r.counters;
        assert_eq!(
            s.final_total as f64,
            n0 as f64 + c.divisions[0] - c.deaths[0],
            "replicate {}",
            r.replicate
        );
        assert!(c.arrivals.iter().all(|&a| a == 0.0));
        div.push(c.divisions[0]);
        dead.push(c.deaths[0]);
    }
    let r = B - D;
    let cell_time = n0 as f64 * ((r * t).exp() - 1.0) / r;
    for (what, x, want) in [
        ("divisions", &div, B * cell_time),
        ("deaths", &dead, D * cell_time),
    ] {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let se = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        assert!(
            (m - want).abs() < Z * se,
            "{what}: mean {m} vs exact {want} (se {se})"
        );
    }

    // A mutation table: mutants are divisions of the parent and arrivals into the
    // child, and each genotype's cells balance.
    let model = ConstantRates {
        division: vec![B, B],
        death: vec![D, D],
        mutations: vec![vec![(1, 0.05)], vec![]],
    };
    let ens = model
        .run_from(n0, &opts, &EnsembleConfig::new(200, 32, t, never))
        .unwrap();
    let mut arrivals = 0.0;
    for s in &ens.replicates {
        let c = &s.counters;
        let last = s.timeline.last().unwrap();
        assert_eq!(
            last.by_genotype[1] as f64,
            c.divisions[1] - c.deaths[1] + c.arrivals[1]
        );
        assert_eq!(
            last.by_genotype[0] as f64,
            n0 as f64 + c.divisions[0] - c.arrivals[1] - c.deaths[0]
        );
        arrivals += c.arrivals[1];
    }
    assert!(arrivals > 0.0);
}
