//! Curve fitting shared by the synergy layer and the simulated-assay layer: the
//! 4-parameter Hill curve ([`HillFit`]), the Chou-Talalay median-effect line
//! ([`MedianEffectFit`]), a box-bounded least-squares driver around the
//! `levenberg-marquardt` crate, and a bracketed root finder.

pub mod hill;
pub mod median_effect;
pub mod quality;

pub use hill::{HillAtBounds, HillBounds, HillFit, HillOptions};
pub use median_effect::MedianEffectFit;
pub use quality::FitGate;

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::{DMatrix, DVector, Dyn, Owned};

/// Why a curve could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{what}: {found} usable points, at least {needed} needed")]
    TooFewPoints {
        what: &'static str,
        found: usize,
        needed: usize,
    },
    #[error("{what}: doses ({doses}) and responses ({responses}) differ in length")]
    LengthMismatch {
        what: &'static str,
        doses: usize,
        responses: usize,
    },
    #[error("{what}: point {index} has dose {dose} and response {response}; doses must be finite and >= 0, responses finite")]
    BadPoint {
        what: &'static str,
        index: usize,
        dose: f64,
        response: f64,
    },
    #[error("{what}: all usable doses are equal, so the slope is undefined")]
    NoDoseSpread { what: &'static str },
}

/// Outcome of [`least_squares`].
#[derive(Debug, Clone)]
pub(crate) struct LsqOutcome {
    pub params: Vec<f64>,
    pub sse: f64,
    pub evaluations: usize,
    pub converged: bool,
}

/// A least-squares problem given by a residual function, with a forward-difference
/// Jacobian and box bounds.
///
/// Why bounds by projection: the `levenberg-marquardt` crate (0.15, on nalgebra 0.34) is
/// unconstrained. Every trial point is clamped into the box before residuals are
/// evaluated, so the model is never evaluated outside its valid range; at an active
/// bound the finite-difference column is zero and that coordinate simply stops moving.
struct BoxProblem<'a, F> {
    resid: &'a F,
    lo: &'a [f64],
    hi: &'a [f64],
    x: Vec<f64>,
    m: usize,
}

impl<F: Fn(&[f64], &mut [f64])> BoxProblem<'_, F> {
    fn clamp(&self, p: &mut [f64]) {
        for ((v, &l), &h) in p.iter_mut().zip(self.lo).zip(self.hi) {
            *v = v.clamp(l, h);
        }
    }
    fn eval(&self, p: &[f64], out: &mut [f64]) -> bool {
        (self.resid)(p, out);
        out.iter().all(|r| r.is_finite())
    }
}

impl<F: Fn(&[f64], &mut [f64])> LeastSquaresProblem<f64, Dyn, Dyn> for BoxProblem<'_, F> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, p: &DVector<f64>) {
        self.x.copy_from_slice(p.as_slice());
        let mut x = std::mem::take(&mut self.x);
        self.clamp(&mut x);
        self.x = x;
    }

    fn params(&self) -> DVector<f64> {
        DVector::from_column_slice(&self.x)
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        let mut r = vec![0.0; self.m];
        self.eval(&self.x, &mut r).then(|| DVector::from_vec(r))
    }

    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let n = self.x.len();
        let mut base = vec![0.0; self.m];
        if !self.eval(&self.x, &mut base) {
            return None;
        }
        let mut jac = DMatrix::zeros(self.m, n);
        let mut p = self.x.clone();
        let mut r = vec![0.0; self.m];
        for k in 0..n {
            // Step inward when at the upper bound so the difference stays feasible.
            let step = 1e-7 * self.x[k].abs().max(1.0);
            let step = if self.x[k] + step > self.hi[k] {
                -step
            } else {
                step
            };
            p[k] = self.x[k] + step;
            if !self.eval(&p, &mut r) {
                return None;
            }
            for i in 0..self.m {
                jac[(i, k)] = (r[i] - base[i]) / step;
            }
            p[k] = self.x[k];
        }
        Some(jac)
    }
}

/// Minimise the sum of squared residuals `resid(p, out)` (`out` has length `m`) over the
/// box `lo <= p <= hi`, starting from `p0`.
pub(crate) fn least_squares<F>(
    p0: &[f64],
    lo: &[f64],
    hi: &[f64],
    m: usize,
    resid: &F,
) -> LsqOutcome
where
    F: Fn(&[f64], &mut [f64]),
{
    let mut problem = BoxProblem {
        resid,
        lo,
        hi,
        x: p0.to_vec(),
        m,
    };
    let mut x0 = p0.to_vec();
    problem.clamp(&mut x0);
    problem.x = x0;
    let (problem, report) = LevenbergMarquardt::new()
        .with_ftol(1e-15)
        .with_xtol(1e-15)
        .with_gtol(1e-15)
        .with_patience(200)
        .minimize(problem);
    let mut r = vec![0.0; m];
    let ok = problem.eval(&problem.x, &mut r);
    let sse = if ok {
        r.iter().map(|v| v * v).sum()
    } else {
        f64::INFINITY
    };
    LsqOutcome {
        params: problem.x,
        sse,
        evaluations: report.number_of_evaluations,
        // `NoImprovementPossible` at these tight tolerances means the optimum is reached
        // to machine precision, which for our purposes is convergence.
        converged: ok
            && (report.termination.was_successful()
                || matches!(
                    report.termination,
                    levenberg_marquardt::TerminationReason::NoImprovementPossible(_)
                )),
    }
}

/// Root of `f` on `[a, b]` where `f(a)` and `f(b)` have opposite signs (or one is zero),
/// by Brent's method (bisection safeguarded inverse quadratic interpolation); `None` if
/// the interval does not bracket a root or `f` is not finite at an end.
///
/// ## References
/// Brent, R. P. (1973). Algorithms for Minimization without Derivatives, ch. 4.
pub fn brent_root(f: impl Fn(f64) -> f64, a: f64, b: f64, tol: f64) -> Option<f64> {
    let (mut a, mut b) = (a, b);
    let (mut fa, mut fb) = (f(a), f(b));
    if !fa.is_finite() || !fb.is_finite() || fa * fb > 0.0 {
        return None;
    }
    if fa == 0.0 {
        return Some(a);
    }
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..200 {
        if fb * fc > 0.0 {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol1 = 2.0 * f64::EPSILON * b.abs() + 0.5 * tol;
        let xm = 0.5 * (c - b);
        if xm.abs() <= tol1 || fb == 0.0 {
            return Some(b);
        }
        if e.abs() >= tol1 && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * xm * s;
                q = 1.0 - s;
            } else {
                let qa = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * xm * qa * (qa - r) - (b - a) * (r - 1.0));
                q = (qa - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            }
            p = p.abs();
            if 2.0 * p < (3.0 * xm * q - (tol1 * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = xm;
                e = d;
            }
        } else {
            d = xm;
            e = d;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol1 { d } else { tol1.copysign(xm) };
        fb = f(b);
        if !fb.is_finite() {
            return None;
        }
    }
    Some(b)
}

/// Check paired dose/response slices: equal length, finite, doses >= 0.
pub(crate) fn check_points(
    what: &'static str,
    doses: &[f64],
    responses: &[f64],
) -> Result<(), FitError> {
    if doses.len() != responses.len() {
        return Err(FitError::LengthMismatch {
            what,
            doses: doses.len(),
            responses: responses.len(),
        });
    }
    for (index, (&dose, &response)) in doses.iter().zip(responses).enumerate() {
        if !dose.is_finite() || dose < 0.0 || !response.is_finite() {
            return Err(FitError::BadPoint {
                what,
                index,
                dose,
                response,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brent_finds_cubic_root() {
        let r = brent_root(|x| x * x * x - 2.0, 0.0, 2.0, 1e-14).unwrap();
        assert!((r - 2f64.cbrt()).abs() < 1e-12);
        assert!(brent_root(|x| x * x + 1.0, -1.0, 1.0, 1e-12).is_none());
    }

    #[test]
    fn least_squares_respects_bounds() {
        // Minimum of (p - 3)^2 is at 3, but the box stops at 2.
        let out = least_squares(&[0.0], &[-1.0], &[2.0], 1, &|p: &[f64], r: &mut [f64]| {
            r[0] = p[0] - 3.0;
        });
        assert!((out.params[0] - 2.0).abs() < 1e-12, "{:?}", out.params);
    }
}
