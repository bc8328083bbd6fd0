//! The 4-parameter Hill (log-logistic) dose-response curve
//! `E(d) = E0 + (Emax - E0) d^h / (C^h + d^h)`.
//!
//! Fitting: given `C` and `h` the curve is linear in `E0` and `Emax`, so those two are
//! solved exactly (bounded linear least squares) inside every residual evaluation and
//! Levenberg-Marquardt searches only `(ln C, ln h)` (variable projection). Searching in
//! log space keeps `C` and `h` positive and makes the problem well scaled across dose
//! decades; projecting out the linear pair removes the E0/Emax-vs-C trade-off that
//! makes plain 4-parameter fits wander. A coarse grid over `(ln C, h)` provides the
//! starting point, so the fit does not depend on the user guessing one.
//!
//! ## References
//! Hill, A. V. (1910). J. Physiol. 40, iv-vii.
//! Golub, G. H. & Pereyra, V. (1973). SIAM J. Numer. Anal. 10, 413-432 (variable projection).

use super::{check_points, least_squares, FitError};

/// Bounds on the Hill parameters. `C` bounds are relative to the tested dose range.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HillBounds {
    pub e0: (f64, f64),
    pub emax: (f64, f64),
    pub h: (f64, f64),
    /// `C` may go this factor below the smallest positive dose and above the largest.
    pub c_factor: f64,
}

impl HillBounds {
    /// Viability-scale bounds: responses in [0, 1.5], slopes 0.1..10, `C` within three
    /// decades of the tested range.
    pub const VIABILITY: HillBounds = HillBounds {
        e0: (0.0, 1.5),
        emax: (0.0, 1.5),
        h: (0.1, 10.0),
        c_factor: 1000.0,
    };
}

impl Default for HillBounds {
    fn default() -> Self {
        HillBounds::VIABILITY
    }
}

/// Fit options: bounds, and optionally fixed `E0` / `Emax` (e.g. ZIP fixes 1 and 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HillOptions {
    pub bounds: HillBounds,
    pub fix_e0: Option<f64>,
    pub fix_emax: Option<f64>,
}

/// A fitted Hill curve with goodness of fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HillFit {
    /// Response at zero dose.
    pub e0: f64,
    /// Response at infinite dose.
    pub emax: f64,
    /// Half-effect dose (EC50, relative: halfway between `e0` and `emax`).
    pub c: f64,
    /// Hill slope (> 0).
    pub h: f64,
    /// Coefficient of determination (1 for an exact fit; 1 also when the data are flat
    /// and fitted exactly).
    pub r2: f64,
    /// Residual standard deviation, `sqrt(SSE / (n - free parameters))`.
    pub resid_sd: f64,
    /// The optimiser reached its tolerance (not its evaluation limit).
    pub converged: bool,
    /// Residual evaluations used by Levenberg-Marquardt.
    pub iterations: usize,
    /// Number of points fitted.
    pub n: usize,
    /// Nonlinear parameters that ended on their bounds.
    pub at_bounds: HillAtBounds,
}

/// Which nonlinear Hill parameters ended on a bound (a sign that the data do not
/// determine them, e.g. a flat or U-shaped curve).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct HillAtBounds {
    pub c: bool,
    pub h: bool,
}

impl HillFit {
    /// Fit with default (viability-scale) bounds.
    pub fn fit(doses: &[f64], responses: &[f64]) -> Result<HillFit, FitError> {
        HillFit::fit_with(doses, responses, &HillOptions::default())
    }

    /// Fit with explicit bounds and fixed parameters.
    pub fn fit_with(
        doses: &[f64],
        responses: &[f64],
        opts: &HillOptions,
    ) -> Result<HillFit, FitError> {
        check_points("Hill fit", doses, responses)?;
        let free = 2 + usize::from(opts.fix_e0.is_none()) + usize::from(opts.fix_emax.is_none());
        let n = doses.len();
        if n < free {
            return Err(FitError::TooFewPoints {
                what: "Hill fit",
                found: n,
                needed: free,
            });
        }
        let positive = || doses.iter().copied().filter(|&d| d > 0.0);
        let dmin = positive().fold(f64::INFINITY, f64::min);
        let dmax = positive().fold(0.0, f64::max);
        if !dmin.is_finite() || dmin == dmax {
            return Err(FitError::NoDoseSpread { what: "Hill fit" });
        }
        let ln_d: Vec<f64> = doses
            .iter()
            .map(|&d| if d > 0.0 { d.ln() } else { f64::NEG_INFINITY })
            .collect();
        let b = opts.bounds;
        let lo = [(dmin / b.c_factor).ln(), b.h.0.ln()];
        let hi = [(dmax * b.c_factor).ln(), b.h.1.ln()];
        let problem = Projected {
            ln_d: &ln_d,
            y: responses,
            opts,
        };
        let resid = |p: &[f64], out: &mut [f64]| problem.residuals(p[0], p[1].exp(), out);

        // Coarse start: 9 C values spanning the tested range, 4 slopes.
        let mut best = (f64::INFINITY, [0.0, 0.0]);
        let mut r = vec![0.0; n];
        let (l0, l1) = (dmin.ln() - 1.0, dmax.ln() + 1.0);
        for k in 0..9 {
            let lc = l0 + (l1 - l0) * k as f64 / 8.0;
            for h in [0.5f64, 1.0, 2.0, 4.0] {
                let lh = h.ln().clamp(lo[1], hi[1]);
                resid(&[lc, lh], &mut r);
                let sse: f64 = r.iter().map(|v| v * v).sum();
                if sse < best.0 {
                    best = (sse, [lc, lh]);
                }
            }
        }
        let out = least_squares(&best.1, &lo, &hi, n, &resid);
        let (c, h) = (out.params[0].exp(), out.params[1].exp());
        let (e0, emax, sse) = problem.linear(out.params[0], h);
        let mean = responses.iter().sum::<f64>() / n as f64;
        let sst: f64 = responses.iter().map(|y| (y - mean).powi(2)).sum();
        let r2 = if sst > 0.0 {
            1.0 - sse / sst
        } else if sse <= 1e-24 {
            1.0
        } else {
            0.0
        };
        let dof = (n - free).max(1) as f64;
        let on = |k: usize| {
            let tol = 1e-6 * (hi[k] - lo[k]);
            out.params[k] <= lo[k] + tol || out.params[k] >= hi[k] - tol
        };
        Ok(HillFit {
            e0,
            emax,
            c,
            h,
            r2,
            resid_sd: (sse / dof).sqrt(),
            converged: out.converged,
            iterations: out.evaluations,
            n,
            at_bounds: HillAtBounds { c: on(0), h: on(1) },
        })
    }

    /// A curve from known parameters (goodness-of-fit fields set to an exact fit).
    pub fn from_params(e0: f64, emax: f64, c: f64, h: f64) -> HillFit {
        HillFit {
            e0,
            emax,
            c,
            h,
            r2: 1.0,
            resid_sd: 0.0,
            converged: true,
            iterations: 0,
            n: 0,
            at_bounds: HillAtBounds::default(),
        }
    }

    /// Response at dose `d`.
    pub fn eval(&self, d: f64) -> f64 {
        self.e0 + (self.emax - self.e0) * occupancy(d, self.c, self.h)
    }

    /// Dose giving response `e`; `None` unless `e` lies strictly between `e0` and `emax`
    /// (outside that range no finite dose reaches it).
    pub fn inverse(&self, e: f64) -> Option<f64> {
        let f = (e - self.e0) / (self.emax - self.e0);
        (f.is_finite() && f > 0.0 && f < 1.0).then(|| self.c * (f / (1.0 - f)).powf(1.0 / self.h))
    }

    /// Absolute ICx: dose that lowers the response by `x` percent of the untreated level
    /// `e0` (IC50 = response at half of `e0`). `None` if the curve never gets there, e.g.
    /// IC90 of a drug whose `emax` is 0.3 of `e0`.
    pub fn icxx(&self, x: f64) -> Option<f64> {
        self.inverse(self.e0 * (1.0 - x / 100.0))
    }

    /// Relative ECx: dose giving `x` percent of this drug's own maximal effect
    /// (`ecxx(50) == c`).
    pub fn ecxx(&self, x: f64) -> Option<f64> {
        (x > 0.0 && x < 100.0).then(|| self.c * (x / (100.0 - x)).powf(1.0 / self.h))
    }
}

/// `d^h / (c^h + d^h)`, evaluated without overflow for extreme doses.
pub fn occupancy(d: f64, c: f64, h: f64) -> f64 {
    if d <= 0.0 {
        0.0
    } else {
        1.0 / (1.0 + (h * (c.ln() - d.ln())).exp())
    }
}

/// The fit problem with `E0`, `Emax` projected out.
struct Projected<'a> {
    ln_d: &'a [f64],
    y: &'a [f64],
    opts: &'a HillOptions,
}

impl Projected<'_> {
    fn g(&self, i: usize, ln_c: f64, h: f64) -> f64 {
        let ld = self.ln_d[i];
        if ld == f64::NEG_INFINITY {
            0.0
        } else {
            1.0 / (1.0 + (h * (ln_c - ld)).exp())
        }
    }

    fn residuals(&self, ln_c: f64, h: f64, out: &mut [f64]) {
        let (e0, emax, _) = self.linear(ln_c, h);
        for (i, r) in out.iter_mut().enumerate() {
            let g = self.g(i, ln_c, h);
            *r = self.y[i] - (e0 + (emax - e0) * g);
        }
    }

    /// Best `(e0, emax)` for given `C`, `h`, within bounds or at fixed values, and the SSE.
    fn linear(&self, ln_c: f64, h: f64) -> (f64, f64, f64) {
        // Model: y = e0 * (1 - g) + emax * g. Accumulate the 2x2 normal equations.
        let (mut s_uu, mut s_ug, mut s_gg, mut s_uy, mut s_gy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..self.y.len() {
            let g = self.g(i, ln_c, h);
            let u = 1.0 - g;
            let y = self.y[i];
            s_uu += u * u;
            s_ug += u * g;
            s_gg += g * g;
            s_uy += u * y;
            s_gy += g * y;
        }
        let sse = |a: f64, b: f64| {
            (0..self.y.len())
                .map(|i| {
                    let g = self.g(i, ln_c, h);
                    (self.y[i] - a * (1.0 - g) - b * g).powi(2)
                })
                .sum::<f64>()
        };
        let bd = self.opts.bounds;
        // 1-D optimum of one coefficient with the other fixed, clamped to its bounds.
        let best_e0 = |emax: f64| clamp_div(s_uy - emax * s_ug, s_uu, bd.e0);
        let best_emax = |e0: f64| clamp_div(s_gy - e0 * s_ug, s_gg, bd.emax);
        let (a, b) = match (self.opts.fix_e0, self.opts.fix_emax) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, best_emax(a)),
            (None, Some(b)) => (best_e0(b), b),
            (None, None) => {
                let det = s_uu * s_gg - s_ug * s_ug;
                let inside = |v: f64, (l, h): (f64, f64)| v >= l && v <= h;
                let free = (det > 1e-14 * s_uu * s_gg).then(|| {
                    (
                        (s_uy * s_gg - s_gy * s_ug) / det,
                        (s_gy * s_uu - s_uy * s_ug) / det,
                    )
                });
                match free {
                    Some((a, b)) if inside(a, bd.e0) && inside(b, bd.emax) => (a, b),
                    _ => {
                        // Optimum is on an edge of the box: try all four edges.
                        let cands = [
                            (bd.e0.0, best_emax(bd.e0.0)),
                            (bd.e0.1, best_emax(bd.e0.1)),
                            (best_e0(bd.emax.0), bd.emax.0),
                            (best_e0(bd.emax.1), bd.emax.1),
                        ];
                        cands
                            .into_iter()
                            .min_by(|p, q| sse(p.0, p.1).total_cmp(&sse(q.0, q.1)))
                            .unwrap_or((bd.e0.1, bd.emax.0))
                    }
                }
            }
        };
        (a, b, sse(a, b))
    }
}

/// `num / den` clamped to `(lo, hi)`; the midpoint when `den` is zero (no information).
fn clamp_div(num: f64, den: f64, (lo, hi): (f64, f64)) -> f64 {
    if den > 0.0 {
        (num / den).clamp(lo, hi)
    } else {
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doses() -> Vec<f64> {
        let mut d = vec![0.0];
        d.extend((0..9).map(|k| 0.01 * 3f64.powi(k)));
        d
    }

    #[test]
    fn recovers_exact_curve() {
        let truth = HillFit::from_params(0.98, 0.12, 0.7, 1.6);
        let d = doses();
        let y: Vec<f64> = d.iter().map(|&x| truth.eval(x)).collect();
        let f = HillFit::fit(&d, &y).unwrap();
        assert!(f.converged);
        for (got, want) in [(f.e0, 0.98), (f.emax, 0.12), (f.c, 0.7), (f.h, 1.6)] {
            assert!((got - want).abs() < 1e-7 * want.abs().max(1.0), "{f:?}");
        }
        assert!(f.r2 > 1.0 - 1e-12);
    }

    #[test]
    fn emax_at_bound_zero_is_reached_exactly() {
        let truth = HillFit::from_params(1.0, 0.0, 0.3, 1.0);
        let d = doses();
        let y: Vec<f64> = d.iter().map(|&x| truth.eval(x)).collect();
        let f = HillFit::fit(&d, &y).unwrap();
        assert!(f.emax.abs() < 1e-9 && (f.c - 0.3).abs() < 1e-7, "{f:?}");
    }

    #[test]
    fn inverse_and_icxx() {
        let f = HillFit::from_params(1.0, 0.2, 2.0, 1.0);
        assert!((f.inverse(0.6).unwrap() - 2.0).abs() < 1e-12);
        assert!((f.eval(f.icxx(50.0).unwrap()) - 0.5).abs() < 1e-12);
        assert!(f.icxx(90.0).is_none(), "emax 0.2 never reaches 0.1");
        assert_eq!(f.ecxx(50.0), Some(2.0));
        assert!(f.inverse(1.0).is_none() && f.inverse(0.2).is_none());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            HillFit::fit(&[0.0, 1.0, 2.0], &[1.0, 0.5, 0.2]),
            Err(FitError::TooFewPoints { .. })
        ));
        assert!(matches!(
            HillFit::fit(&[0.0, 1.0, 2.0, 3.0], &[1.0, f64::NAN, 0.2, 0.1]),
            Err(FitError::BadPoint { index: 1, .. })
        ));
        assert!(matches!(
            HillFit::fit(&[0.0, 0.0, 0.0, 0.0], &[1.0, 1.0, 1.0, 1.0]),
            Err(FitError::NoDoseSpread { .. })
        ));
    }
}
