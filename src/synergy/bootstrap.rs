//! Bootstrap confidence intervals for the per-method summaries and MuSyC parameters.
//!
//! With replicates (some cell has more than one), every cell's replicates are resampled
//! with replacement. Without replicates, residuals from the fitted MuSyC surface (a
//! smooth surface that keeps any synergy in the data) are resampled and added back to
//! it. Each sample refits the single agents and rescores every method.
//!
//! Determinism: sample `k` draws from `StdRng::seed_from_u64(mix(seed, k))`, so samples
//! are identical whatever the number of rayon threads; results are collected in sample
//! order. Intervals are percentile intervals (2.5 %, 97.5 %), of each method's mean and
//! median and of every cell's score.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::{musyc, score_method, Context, Method, MethodDetail, MethodResult, MusycParams};
use crate::plate::Grid;

/// How samples were drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BootstrapMode {
    Replicates,
    Residuals,
}

/// A percentile interval; `None` bounds when fewer than 2 samples had a value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Samples in which the statistic was defined.
    pub n: usize,
}

impl Interval {
    fn of(mut v: Vec<f64>) -> Interval {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let q = |p: f64| {
            // Linear interpolation between order statistics.
            let x = p * (n - 1) as f64;
            let (k, t) = (x.floor() as usize, x - x.floor());
            v[k] + t * (v[(k + 1).min(n - 1)] - v[k])
        };
        if n < 2 {
            return Interval {
                lo: None,
                hi: None,
                n,
            };
        }
        Interval {
            lo: Some(q(0.025)),
            hi: Some(q(0.975)),
            n,
        }
    }
}

/// Bootstrap intervals of one method's summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MethodIntervals {
    pub method: Method,
    pub mean: Interval,
    pub median: Interval,
    /// Per-cell score intervals, in the order of [`MethodResult::cells`] (written to
    /// `scores.csv` as `ci_lo`, `ci_hi` and drawn on the heatmaps, not to the JSON).
    #[serde(skip)]
    pub cells: Vec<Interval>,
}

/// Bootstrap output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BootstrapSummary {
    pub samples: usize,
    pub seed: u64,
    pub mode: BootstrapMode,
    pub methods: Vec<MethodIntervals>,
    /// MuSyC parameter intervals in [`MusycParams::NAMES`] order (`beta` last).
    pub musyc: Option<Vec<(String, Interval)>>,
    /// Samples whose single-agent refit failed (skipped).
    pub failed: usize,
}

/// Stream seed of sample `k`: SplitMix64 of `seed` and `k`, so neighbouring samples get
/// unrelated streams.
pub fn sample_seed(seed: u64, k: u64) -> u64 {
    let mut z = seed ^ k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Sample {
    means: Vec<(Option<f64>, Option<f64>)>,
    /// Per method, the score of every cell.
    cells: Vec<Vec<Option<f64>>>,
    musyc: Option<MusycParams>,
}

/// Run `n` bootstrap samples of the given methods.
pub fn run(
    ctx: &Context,
    results: &[MethodResult],
    methods: &[Method],
    n: usize,
    seed: u64,
) -> BootstrapSummary {
    let g = &ctx.grid;
    let mode = if g.max_replicates() > 1 {
        BootstrapMode::Replicates
    } else {
        BootstrapMode::Residuals
    };
    let fitted = results.iter().find_map(|r| match &r.detail {
        MethodDetail::Musyc(f) => Some(f.params),
        _ => None,
    });
    let smooth_params = fitted.unwrap_or_else(|| musyc::fit_musyc(ctx, None).params);
    // Residual mode: smooth surface and residuals of measured cells.
    let (na, nb) = (g.na(), g.nb());
    let mut smooth = vec![0.0; na * nb];
    let mut resid = Vec::new();
    for i in 0..na {
        for j in 0..nb {
            let s = smooth_params.eval(g.doses_a[i], g.doses_b[j]);
            smooth[i * nb + j] = s;
            if let Some(y) = g.mean(i, j) {
                resid.push(y - s);
            }
        }
    }
    let want_musyc = methods.contains(&Method::Musyc);
    let samples: Vec<Option<Sample>> = (0..n)
        .into_par_iter()
        .map(|k| {
            let mut rng = StdRng::seed_from_u64(sample_seed(seed, k as u64));
            let reps: Vec<Vec<f64>> = match mode {
                BootstrapMode::Replicates => g
                    .all_reps()
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|_| r[rng.random_range(0..r.len())])
                            .collect()
                    })
                    .collect(),
                BootstrapMode::Residuals => g
                    .all_reps()
                    .iter()
                    .zip(&smooth)
                    .map(|(r, &s)| {
                        if r.is_empty() {
                            Vec::new()
                        } else {
                            vec![s + resid[rng.random_range(0..resid.len())]]
                        }
                    })
                    .collect(),
            };
            let grid = Grid::from_parts(
                g.drug_a.clone(),
                g.drug_b.clone(),
                g.doses_a.clone(),
                g.doses_b.clone(),
                reps,
            );
            let c = Context::new(grid, ctx.settings).ok()?;
            let mut musyc_params = None;
            let mut cells = Vec::with_capacity(methods.len());
            let means = methods
                .iter()
                .map(|&m| {
                    let r = if m == Method::Musyc {
                        let model = musyc::Musyc::new(&c, fitted.as_ref());
                        musyc_params = Some(model.fit.params);
                        super::SynergyModel::score(&model, &c)
                    } else {
                        score_method(&c, m)
                    };
                    cells.push(r.cells.iter().map(|c| c.score).collect());
                    (r.summary.mean, r.summary.median)
                })
                .collect();
            Some(Sample {
                means,
                cells,
                musyc: musyc_params,
            })
        })
        .collect();
    let ok: Vec<&Sample> = samples.iter().flatten().collect();
    let methods_out = methods
        .iter()
        .enumerate()
        .map(|(k, &method)| MethodIntervals {
            method,
            mean: Interval::of(ok.iter().filter_map(|s| s.means[k].0).collect()),
            median: Interval::of(ok.iter().filter_map(|s| s.means[k].1).collect()),
            cells: (0..na * nb)
                .map(|c| Interval::of(ok.iter().filter_map(|s| s.cells[k][c]).collect()))
                .collect(),
        })
        .collect();
    let musyc = want_musyc.then(|| {
        MusycParams::NAMES
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let v = ok
                    .iter()
                    .filter_map(|s| s.musyc.map(|p| p.values()[k]))
                    .filter(|x| x.is_finite())
                    .collect();
                (name.to_string(), Interval::of(v))
            })
            .collect()
    });
    BootstrapSummary {
        samples: n,
        seed,
        mode,
        methods: methods_out,
        musyc,
        failed: n - ok.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_and_are_stable() {
        assert_ne!(sample_seed(1, 0), sample_seed(1, 1));
        assert_ne!(sample_seed(1, 0), sample_seed(2, 0));
        assert_eq!(sample_seed(7, 3), sample_seed(7, 3));
    }

    #[test]
    fn percentile_interval() {
        let iv = Interval::of((0..=100).map(f64::from).collect());
        assert_eq!((iv.lo, iv.hi, iv.n), (Some(2.5), Some(97.5), 101));
        assert_eq!(Interval::of(vec![1.0]).lo, None);
    }
}
