//! First-order and total Sobol indices from a Saltelli design, with bootstrap
//! confidence intervals.
//!
//! With `f_A`, `f_B` and `f_ABi` the outputs on the rows of A, B and `A_B^i`, and `V`
//! the variance of all `f_A` and `f_B` values:
//!
//! * first order (Saltelli et al. 2010, Table 2 (b)):
//!   `S_i = mean(f_B (f_ABi - f_A)) / V`
//! * total effect (Jansen 1999; Saltelli et al. 2010, Table 2 (f)):
//!   `ST_i = mean((f_A - f_ABi)^2) / (2 V)`
//!
//! Confidence intervals are bootstrap percentile intervals: each resample draws base
//! samples with replacement (whole Saltelli blocks, so the estimators stay paired)
//! from a stream derived from (seed, resample index). Resamples are computed in
//! parallel and collected in index order, so the intervals do not depend on the
//! number of threads.
//!
//! ## References
//!
//! * Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M., Tarantola, S.
//!   (2010). Variance based sensitivity analysis of model output. Design and estimator
//!   for the total sensitivity index. *Computer Physics Communications* 181, 259-270.
//! * Jansen, M. J. W. (1999). Analysis of variance designs for model output.
//!   *Computer Physics Communications* 117, 35-43.

use rand::Rng;
use rayon::prelude::*;

use crate::sweep::seed::{stream_rng, Stream};

/// Bootstrap settings for confidence intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Number of resamples (0: no intervals).
    pub resamples: usize,
    /// Coverage of the interval, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the resampling streams.
    pub seed: u64,
}

/// Indices of one input for one output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SobolIndex {
    pub s1: f64,
    pub st: f64,
    /// Bootstrap interval of `s1`, if resamples > 0.
    pub s1_ci: Option<(f64, f64)>,
    pub st_ci: Option<(f64, f64)>,
}

/// Outputs of a Saltelli design regrouped per base sample: `f_a[j]`, `f_b[j]` and
/// `f_ab[j][i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SaltelliOutputs {
    pub f_a: Vec<f64>,
    pub f_b: Vec<f64>,
    pub f_ab: Vec<Vec<f64>>,
}

impl SaltelliOutputs {
    /// Regroup `y` (in the design's id order, see `Layout::Saltelli`) for `d` inputs,
    /// keeping only base samples whose `d + 2` outputs are all finite (a failed run
    /// removes its whole block, which keeps the estimators paired). Returns the kept
    /// outputs.
    pub fn from_design_order(y: &[f64], d: usize) -> SaltelliOutputs {
        let mut out = SaltelliOutputs {
            f_a: Vec::new(),
            f_b: Vec::new(),
            f_ab: Vec::new(),
        };
        for block in y.chunks_exact(d + 2) {
            if block.iter().all(|v| v.is_finite()) {
                out.f_a.push(block[0]);
                out.f_ab.push(block[1..=d].to_vec());
                out.f_b.push(block[d + 1]);
            }
        }
        out
    }

    /// Number of usable base samples.
    pub fn len(&self) -> usize {
        self.f_a.len()
    }

    /// True when no base sample is usable.
    pub fn is_empty(&self) -> bool {
        self.f_a.is_empty()
    }
}

/// Point estimates (S1, ST) for every input over the base samples `rows`.
fn estimate(o: &SaltelliOutputs, rows: &[usize], d: usize) -> Vec<(f64, f64)> {
    let n = rows.len() as f64;
    let mean = rows.iter().map(|&j| o.f_a[j] + o.f_b[j]).sum::<f64>() / (2.0 * n);
    let var = rows
        .iter()
        .map(|&j| (o.f_a[j] - mean).powi(2) + (o.f_b[j] - mean).powi(2))
        .sum::<f64>()
        / (2.0 * n);
    (0..d)
        .map(|i| {
            let (mut first, mut total) = (0.0, 0.0);
            for &j in rows {
                let (a, b, ab) = (o.f_a[j], o.f_b[j], o.f_ab[j][i]);
                first += b * (ab - a);
                total += (a - ab).powi(2);
            }
            (first / n / var, total / (2.0 * n) / var)
        })
        .collect()
}

/// Sobol indices of `d` inputs with bootstrap intervals. A constant output has no
/// variance to apportion: its indices are NaN.
pub fn sobol_indices(o: &SaltelliOutputs, d: usize, boot: &Bootstrap) -> Vec<SobolIndex> {
    let n = o.len();
    let all: Vec<usize> = (0..n).collect();
    let point = estimate(o, &all, d);
    let resampled: Vec<Vec<(f64, f64)>> = (0..boot.resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = stream_rng(boot.seed, Stream::Bootstrap, b as u64);
            let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            estimate(o, &rows, d)
        })
        .collect();
    point
        .iter()
        .enumerate()
        .map(|(i, &(s1, st))| {
            let ci = |pick: fn(&(f64, f64)) -> f64| {
                (boot.resamples > 0).then(|| {
                    let v: Vec<f64> = resampled.iter().map(|r| pick(&r[i])).collect();
                    percentile_interval(v, boot.confidence)
                })
            };
            SobolIndex {
                s1,
                st,
                s1_ci: ci(|p| p.0),
                st_ci: ci(|p| p.1),
            }
        })
        .collect()
}

/// Central `confidence` interval of `v` by linear interpolation between order
/// statistics. NaNs (from a degenerate resample) are ignored.
pub fn percentile_interval(mut v: Vec<f64>, confidence: f64) -> (f64, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    let tail = (1.0 - confidence) / 2.0;
    (q(tail), q(1.0 - tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additive_function_has_equal_first_and_total() {
        // f = x0 + 2 x1 on independent uniforms: S = (1/5, 4/5), no interactions.
        let mut rng = stream_rng(1, Stream::Design, 0);
        let n = 20_000;
        let f = |x: [f64; 2]| x[0] + 2.0 * x[1];
        let mut o = SaltelliOutputs {
            f_a: vec![],
            f_b: vec![],
            f_ab: vec![],
        };
        for _ in 0..n {
            let a: [f64; 2] = [rng.random(), rng.random()];
            let b: [f64; 2] = [rng.random(), rng.random()];
            o.f_a.push(f(a));
            o.f_b.push(f(b));
            o.f_ab.push(vec![f([b[0], a[1]]), f([a[0], b[1]])]);
        }
        let boot = Bootstrap {
            resamples: 200,
            confidence: 0.95,
            seed: 3,
        };
        let idx = sobol_indices(&o, 2, &boot);
        for (i, want) in [0.2, 0.8].into_iter().enumerate() {
            assert!((idx[i].s1 - want).abs() < 0.03, "{idx:?}");
            assert!((idx[i].st - want).abs() < 0.03, "{idx:?}");
            let (lo, hi) = idx[i].st_ci.unwrap();
            assert!(lo < idx[i].st && idx[i].st < hi);
        }
    }

    #[test]
    fn percentile_of_a_ramp() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        let (lo, hi) = percentile_interval(v, 0.9);
        assert!((lo - 5.0).abs() < 1e-9 && (hi - 95.0).abs() < 1e-9);
    }
}
