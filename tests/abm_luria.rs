//! Mutant counts against Luria-Delbrueck (Ma-Sandri-Sarkar recursion) and the
//! probability of pre-existing resistance against Iwasa, Michor and Nowak (2006).
//!
//! ## References
//! - Luria, S. E. and Delbrueck, M. (1943). Mutations of bacteria from virus sensitivity
//!   to virus resistance. Genetics 28, 491-511.
//! - Ma, W. T., Sandri, G. v. H. and Sarkar, S. (1992). Analysis of the Luria-Delbrueck
//!   distribution using discrete convolution powers. J. Appl. Probab. 29, 255-267.
//! - Iwasa, Y., Nowak, M. A. and Michor, F. (2006). Evolution of resistance during
//!   clonal expansion. Genetics 172(4), 2557-2566 (probability of resistance at
//!   detection size M).

use resloop::abm::{AbmOptions, ConstantRates, EnsembleConfig, ResistanceCriterion};

/// Ma-Sandri-Sarkar: p_0 = e^{-m}, p_n = (m/n) sum_{i<n} p_i / (n - i + 1).
fn mss(m: f64, n_max: usize) -> Vec<f64> {
    let mut p = vec![(-m).exp()];
    for n in 1..=n_max {
        let s: f64 = (0..n).map(|i| p[i] / (n - i + 1) as f64).sum();
        p.push(m / n as f64 * s);
    }
    p
}

/// Final mutant counts and final totals of `reps` replicates stopped at size `m_size`.
fn mutants(
    opts: AbmOptions,
    b: f64,
    d: f64,
    u: f64,
    n0: u64,
    reps: u64,
    seed: u64,
) -> (Vec<u64>, f64) {
    let model = ConstantRates::with_mutant(b, d, u);
    let never = ResistanceCriterion::AboveTotal { cells: u64::MAX };
    let cfg = EnsembleConfig::new(reps, seed, 1e6, never);
    let ens = model.run_from(n0, &opts, &cfg).unwrap();
    let mean_total = ens
        .summaries
        .iter()
        .map(|s| s.final_total as f64)
        .sum::<f64>()
        / reps as f64;
    (
        ens.summaries
            .iter()
            .map(|s| s.final_by_genotype[1])
            .collect(),
        mean_total,
    )
}

fn opts(agg: bool, dt: f64, m_size: u64) -> AbmOptions {
    let mut o = if agg {
        AbmOptions::aggregated(dt)
    } else {
        AbmOptions::per_cell(dt)
    };
    o.record_every = 1e6;
    o.record_clones = false;
    o.stop_at_population = Some(m_size);
    o
}

/// Compare P(0), P(1), P(<=3), P(<=10), P(<=30) with 4 binomial standard errors plus
/// 0.01 for the model's own approximations (stopping overshoot of at most one step of
/// growth, mutants created within a step start growing at its end).
fn compare_ld(counts: &[u64], m: f64) {
    let p = mss(m, 40);
    let n = counts.len() as f64;
    for k in [0usize, 1, 3, 10, 30] {
        let exact: f64 = p[..=k].iter().sum();
        let exact = if k == 1 { p[1] } else { exact };
        let hat = if k == 1 {
            counts.iter().filter(|&&c| c == 1).count() as f64 / n
        } else {
            counts.iter().filter(|&&c| c as usize <= k).count() as f64 / n
        };
        let tol = 4.0 * (exact * (1.0 - exact) / n).sqrt() + 0.01;
        assert!(
            (hat - exact).abs() < tol,
            "k = {k}: simulated {hat}, Ma-Sandri-Sarkar {exact} (m = {m}, tol {tol})"
        );
    }
}

#[test]
fn luria_delbruck_aggregated() {
    let (u, m_size) = (1e-4, 20_000);
    let (counts, mean_total) = mutants(opts(true, 0.02, m_size), 1.0, 0.0, u, 1, 8000, 21);
    // Expected mutations = u x divisions = u (N - 1).
    compare_ld(&counts, u * (mean_total - 1.0));
}

#[test]
fn luria_delbruck_per_cell() {
    let (u, m_size) = (5e-4, 2_000);
    let (counts, mean_total) = mutants(opts(false, 0.02, m_size), 1.0, 0.0, u, 1, 1500, 22);
    compare_ld(&counts, u * (mean_total - 1.0));
}

#[test]
fn iwasa_michor_nowak_probability_of_resistance() {
    // b > d: P(at least one resistant cell at size M)
    //   = 1 - exp(-(M u b / d) ln((b - d n0/M)/(b - d))),
    // the n0-exact form of 1 - exp(-(M u b/d) ln(b/(b-d))).
    let (b, d, n0, m_size) = (1.0, 0.5, 100u64, 10_000u64);
    let u = 7e-5;
    let reps = 3000;
    let (counts, mean_total) = mutants(opts(true, 0.02, m_size), b, d, u, n0, reps, 23);
    let mm = mean_total;
    let lambda = mm * u * b / d * ((b - d * n0 as f64 / mm) / (b - d)).ln();
    let exact = 1.0 - (-lambda).exp();
    let hat = counts.iter().filter(|&&c| c > 0).count() as f64 / reps as f64;
    let tol = 4.0 * (exact * (1.0 - exact) / reps as f64).sqrt() + 0.01;
    assert!(
        (hat - exact).abs() < tol,
        "P(resistant) simulated {hat}, Iwasa-Michor-Nowak {exact} (tol {tol})"
    );
    // The textbook large-M form differs only by the n0/M correction.
    let textbook = 1.0 - (-(m_size as f64 * u * b / d) * (b / (b - d)).ln()).exp();
    assert!((textbook - exact).abs() < 0.01);
}
