//! A variable-order (1 to 5), variable-step backward differentiation method (BDF,
//! with the NDF variant's error-reducing terms) that keeps its Jacobian and LU
//! factors over many steps, for stiff problems at tight tolerances.
//!
//! Why beside Rodas5P and Radau IIA. A Rosenbrock step pays for a Jacobian, an LU
//! and eight right-hand sides and solves whatever happens; a BDF step pays for the
//! one or two simplified-Newton iterations its implicit equation needs (one
//! right-hand side and one solve each) and refactors only when the step size has
//! moved far. That is why CVODE (the solver of libRoadRunner) is cheap per step.
//! The price is memory: a multistep method carries a history, and after a dose
//! (a discontinuity) it restarts at order 1 from a short step. Measured at equal
//! error (`benches/stiff.rs`, docs/performance.md): the fastest method on POLLU (20
//! species) at rtol 1e-8 to 1e-10 (2.6x less CPU than Rodas5P at 1.4e-10) and a
//! little faster than Rodas5P on the dosed 11-state loop at 1e-8 to 1e-10; as fast
//! as the one-step methods on HIRES (8); 1.5-4x slower on ROBER and OREGO (3),
//! where a Rosenbrock step is cheap and BDF needs more steps.
//!
//! Form: the quasi-constant-step difference form of Shampine and Reichelt (MATLAB's
//! `ode15s`, scipy's `BDF`), chosen over CVODE's Nordsieck array for simplicity
//! with the same cost per step: the history is the backward differences `D_j` of
//! the solution on an equally spaced grid; a step-size change by `r` maps them to
//! the grid of the new step with a small `(q+1) x (q+1)` matrix (`R U`), an order
//! change reuses the next difference. A step of order `q` from the predictor
//! `y_p = sum_{j<=q} D_j` solves
//! `d - c f(t + h, y_p + d) + psi = 0`, `c = h / alpha_q`,
//! `psi = sum_{j=1..q} gamma_j D_j / alpha_q`, by modified Newton with `I - c J`;
//! the local error is `E_q d`. The NDF coefficients `kappa` (Klopfenstein-Shampine)
//! make the error constants of orders 1 to 4 smaller at a small loss of stability
//! angle; `kappa = 0` is classical BDF.
//!
//! From CVODE (Hindmarsh et al.) the parts that make it cheap:
//! - the Jacobian is kept up to [`MAX_JAC_AGE`] steps and the factors of `I - c J`
//!   while `c` stays within 30 % of the `c` they were built for and for at most
//!   [`MAX_LU_AGE`] steps; with stale factors the Newton correction is scaled by
//!   `2 / (1 + c / c_lu)`. A Newton failure on a Jacobian not taken at this step
//!   takes a fresh one; on a fresh one the step is cut by 4;
//! - Newton stops when its correction, reduced by the rate estimate kept from step
//!   to step, is below a fraction ([`NEWTON_COEF`]) of what the error test allows
//!   (so one iteration often suffices), and gives up after [`MAX_NEWTON`]
//!   iterations or on divergence;
//! - step and order change only after `q + 1` steps at the current ones, choosing
//!   among orders `q - 1`, `q`, `q + 1` the one that allows the longest step (with
//!   CVODE's biases), and only when that step is at least 1.5 times longer: most
//!   steps keep `h`, so most steps keep the factors.
//!
//! Dense output: the interpolating polynomial of the history (values at
//! `t_new - j h`, `j = 0..q`), of order `q`, for readouts, events and failures.
//! Restart (after a dose or an event): order 1, `D_1 = h f`, with `h` the last step
//! capped by the starting-step probe ([`start_segment`]); the Jacobian is kept (a
//! Newton failure replaces it).
//!
//! ## References
//! Shampine LF, Reichelt MW (1997) The MATLAB ODE suite. SIAM J Sci Comput 18:1-22
//! (the NDF/BDF difference form, its change of step size, the `kappa` values).
//! Hindmarsh AC, Brown PN, Grant KE, Lee SL, Serban R, Shumaker DE, Woodward CS
//! (2005) SUNDIALS: Suite of nonlinear and differential/algebraic equation solvers.
//! ACM TOMS 31:363-396, and the CVODE source (`cvode.c`, `cvode_ls.c`: the reuse
//! rules for Jacobian and factors, the Newton convergence test, the order and
//! step selection and its biases). Hairer E, Norsett SP, Wanner G (1993) Solving
//! Ordinary Differential Equations I, 2nd ed., III.5 (variable step size
//! multistep methods); Hairer E, Wanner G (1996) Solving Ordinary Differential
//! Equations II, 2nd ed., V.1 (BDF: stability regions, order).
//! Virtanen P et al. (2020) SciPy 1.0, `scipy.integrate.BDF` (the same form).

use nalgebra::DMatrix;

use super::auto::{NonStiffTest, Stop};
use super::lu::DenseLu;
use super::solver::{
    emit_start, rms, start_segment, step_guard, OdeSystem, Solver, SolverError, SolverErrorKind,
    SolverStats,
};
use super::step_end::StepEnd;

const MAX_ORDER: usize = 5;
/// Rows of the difference array: orders 0..=q, the last correction (q + 1) and
/// its change (q + 2), at the highest order.
const ROWS: usize = MAX_ORDER + 3;
/// NDF coefficients (Shampine-Reichelt); order 5 is plain BDF.
const KAPPA: [f64; MAX_ORDER + 1] = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];
/// Newton iterations per attempt (CVODE's `NLS_MAXCOR`).
const MAX_NEWTON: u32 = 3;
/// Fraction of the error test's allowance the Newton error must stay below.
/// CVODE's `nlscoef` is 0.1; measured here (the Bari test set, rtol 1e-6 to
/// 1e-10), 0.1 left enough Newton residual in the corrections that
/// the order selection, which reads the difference of two consecutive
/// corrections, raised the order wrongly: ROBER at rtol 1e-10 took 5,201 steps
/// with 410 rejections, with 0.01 it takes about 4,000 with 8 for the same error
/// (POLLU 1,488 / 14 and 1,426 / 1; the extra iterations cost less than the
/// rejections). 0.003 bought nothing more.
const NEWTON_COEF: f64 = 0.01;
/// The rate estimate's decay between steps and the divergence ratio (CVODE's
/// `CRDOWN`, `RDIV`).
const RATE_DOWN: f64 = 0.3;
const DIVERGE: f64 = 2.0;
/// Reuse limits of the factors and the Jacobian (CVODE's `DGMAX_LSETUP`, `MSBP`,
/// `MSBJ`).
const MAX_GAMMA_CHANGE: f64 = 0.3;
const MAX_LU_AGE: u32 = 20;
const MAX_JAC_AGE: u32 = 50;
/// Step-size selection: CVODE's biases on the error estimates of orders q - 1, q,
/// q + 1, the least gain worth a change, and the bounds of `h_new / h`.
const BIAS_DOWN: f64 = 6.0;
const BIAS_SAME: f64 = 6.0;
const BIAS_UP: f64 = 10.0;
const ADDON: f64 = 1e-6;
const THRESH: f64 = 1.5;
const MAX_GROWTH: f64 = 10.0;
const MIN_CUT: f64 = 0.1;
/// Cut after a Newton failure on a fresh Jacobian (CVODE's `ETACF`).
const NEWTON_CUT: f64 = 0.25;
/// Error-test failures in one step after which the order drops to 1.
const MAX_ERROR_FAILS: u32 = 3;
/// Consecutive singular iteration matrices (each cutting h) before giving up.
const MAX_SINGULAR: u32 = 5;

/// The method's coefficients for orders 0..=MAX_ORDER + 1.
struct Coefficients {
    /// `gamma_k = sum_{j<=k} 1 / j`.
    gamma: [f64; MAX_ORDER + 2],
    /// `alpha_k = (1 - kappa_k) gamma_k`.
    alpha: [f64; MAX_ORDER + 2],
    /// Local error constants `kappa_k gamma_k + 1 / (k + 1)`.
    error: [f64; MAX_ORDER + 2],
    /// `(1 / THRESH - ADDON)^p` for `p` = 0..=MAX_ORDER + 1, raised by a
    /// relative 1e-9: a biased error above it allows no step [`THRESH`] times
    /// longer at error order `p` ([`Bdf::select`] says why).
    no_gain: [f64; MAX_ORDER + 3],
}

impl Coefficients {
    fn new() -> Coefficients {
        let mut c = Coefficients {
            gamma: [0.0; MAX_ORDER + 2],
            alpha: [0.0; MAX_ORDER + 2],
            error: [0.0; MAX_ORDER + 2],
            no_gain: [0.0; MAX_ORDER + 3],
        };
        for (p, x) in c.no_gain.iter_mut().enumerate() {
            *x = (1.0 / THRESH - ADDON).powi(p as i32) * (1.0 + 1e-9);
        }
        for k in 0..MAX_ORDER + 2 {
            let kappa = KAPPA.get(k).copied().unwrap_or(0.0);
            c.gamma[k] = if k == 0 {
                0.0
            } else {
                c.gamma[k - 1] + 1.0 / k as f64
            };
            c.alpha[k] = (1.0 - kappa) * c.gamma[k];
            c.error[k] = kappa * c.gamma[k] + 1.0 / (k + 1) as f64;
        }
        c
    }
}

/// The `(q+1) x (q+1)` matrix `R(r)` that maps the differences of an equally
/// spaced grid with step `h` to those with step `r h` (Shampine-Reichelt):
/// `R_ij = prod_{k=1..i} (k - 1 - r j) / k`.
fn grid_change(order: usize, r: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let mut m = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    m[0] = [1.0; MAX_ORDER + 1];
    for i in 1..=order {
        let (done, rest) = m.split_at_mut(i);
        let row = done[i - 1].iter().zip(rest[0].iter_mut());
        for (j, (&above, x)) in row.enumerate().take(order + 1) {
            *x = if j == 0 {
                0.0
            } else {
                above * (i as f64 - 1.0 - r * j as f64) / i as f64
            };
        }
    }
    m
}

/// How one Newton solve ended.
enum Newton {
    Converged,
    Failed,
}

/// The variable-order BDF with its workspace.
pub struct Bdf {
    rtol: f64,
    atol: f64,
    k: Coefficients,
    max_steps: u64,
    /// The step the differences are scaled to (kept across restarts as a guess).
    h: f64,
    order: usize,
    /// Accepted steps since the last change of step size or order.
    n_equal: usize,
    /// Backward differences, row j at `d[j * n..(j + 1) * n]`.
    d: Vec<f64>,
    /// Whether `d` holds the history of the current state (false after a restart).
    started: bool,
    /// `f(t, y)` at the segment's start (for the starting step).
    f0: Vec<f64>,
    fsal: bool,
    jac: DMatrix<f64>,
    jac_valid: bool,
    /// Steps since the Jacobian was taken.
    jac_age: u32,
    lu: DenseLu,
    /// The `c` the factors belong to (0: none) and steps since they were built.
    c_lu: f64,
    lu_age: u32,
    /// `1 / (atol + rtol |y_i|)` when the factors were built: their row weights.
    row_scale: Vec<f64>,
    /// Newton's convergence-rate estimate, kept from step to step.
    rate: f64,
    ypred: Vec<f64>,
    psi: Vec<f64>,
    /// The Newton correction accumulated: `y_new - y_pred`.
    corr: Vec<f64>,
    /// `1 / (atol + rtol |y_pred|)`, the Newton norm's weights.
    inv_w: Vec<f64>,
    ynew: Vec<f64>,
    fnew: Vec<f64>,
    buf: Vec<f64>,
    stats: SolverStats,
    /// `auto`'s switch-back test (see [`Bdf::integrate`]): whether it runs in
    /// this call, its counter, and the bound `rho(J)` at the latest Jacobian
    /// taken in this call (infinite before the first: no step counts).
    detect: bool,
    nonstiff: NonStiffTest,
    rho: f64,
}

impl Bdf {
    pub fn new(rtol: f64, atol: f64) -> Bdf {
        Bdf {
            rtol,
            atol,
            k: Coefficients::new(),
            max_steps: 10_000_000,
            h: 0.0,
            order: 1,
            n_equal: 0,
            d: Vec::new(),
            started: false,
            f0: Vec::new(),
            fsal: false,
            jac: DMatrix::zeros(0, 0),
            jac_valid: false,
            jac_age: 0,
            lu: DenseLu::default(),
            c_lu: 0.0,
            lu_age: 0,
            row_scale: Vec::new(),
            rate: 1.0,
            ypred: Vec::new(),
            psi: Vec::new(),
            corr: Vec::new(),
            inv_w: Vec::new(),
            ynew: Vec::new(),
            fnew: Vec::new(),
            buf: Vec::new(),
            stats: SolverStats::default(),
            detect: false,
            nonstiff: NonStiffTest::default(),
            rho: f64::INFINITY,
        }
    }

    fn ensure(&mut self, n: usize) {
        if self.f0.len() != n {
            self.d = vec![0.0; ROWS * n];
            for v in [
                &mut self.f0,
                &mut self.row_scale,
                &mut self.ypred,
                &mut self.psi,
                &mut self.corr,
                &mut self.inv_w,
                &mut self.ynew,
                &mut self.fnew,
                &mut self.buf,
            ] {
                *v = vec![0.0; n];
            }
            self.jac = DMatrix::zeros(n, n);
            self.lu.resize(n);
            self.started = false;
            self.fsal = false;
            self.jac_valid = false;
            self.c_lu = 0.0;
        }
    }

    /// Rescale the differences of orders 0..=order to a step `r` times the current
    /// one (`D <- (R(r) U)^T D`, `U = R(1)`).
    fn change_step(&mut self, r: f64) {
        let q = self.order;
        let n = self.f0.len();
        let (rm, u) = (grid_change(q, r), grid_change(q, 1.0));
        let mut ru = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
        for i in 0..=q {
            for j in 0..=q {
                ru[i][j] = (0..=q).map(|k| rm[i][k] * u[k][j]).sum();
            }
        }
        for i in 0..n {
            let mut col = [0.0; MAX_ORDER + 1];
            for (j, c) in col.iter_mut().enumerate().take(q + 1) {
                *c = self.d[j * n + i];
            }
            for (k, row) in self.d.chunks_exact_mut(n).enumerate().take(q + 1) {
                row[i] = (0..=q).map(|j| ru[j][k] * col[j]).sum();
            }
        }
        self.h *= r;
        self.n_equal = 0;
    }

    /// Start the history at the current state: order 1, `D_0 = y`, `D_1 = h f`.
    fn begin(&mut self, y: &[f64]) {
        let n = y.len();
        self.d.fill(0.0);
        self.d[..n].copy_from_slice(y);
        for (x, &f) in self.d[n..2 * n].iter_mut().zip(&self.f0) {
            *x = self.h * f;
        }
        self.order = 1;
        self.n_equal = 0;
        self.rate = 1.0;
        self.started = true;
    }

    /// Factor `I - c J` with rows weighted by `1 / (atol + rtol |y_i|)`
    /// ([`DenseLu::factor_weighted`] says why); false when singular.
    fn factor(&mut self, c: f64, y: &[f64]) -> bool {
        for (s, &v) in self.row_scale.iter_mut().zip(y) {
            *s = 1.0 / (self.atol + self.rtol * v.abs());
        }
        self.c_lu = c;
        self.lu_age = 0;
        self.rate = 1.0;
        let jac = self.jac.as_slice();
        self.lu.factor_weighted(1.0, c, jac, &self.row_scale)
    }

    /// Modified Newton for the correction `corr` of a step to `t_new` with
    /// coefficient `c`, from the predictor in `ypred`; the solution ends in `ynew`.
    fn newton(&mut self, sys: &mut dyn OdeSystem, t_new: f64, c: f64, tol: f64) -> Newton {
        let n = self.f0.len();
        self.ynew.copy_from_slice(&self.ypred);
        self.corr.fill(0.0);
        let scale = if c == self.c_lu {
            1.0
        } else {
            2.0 / (1.0 + c / self.c_lu)
        };
        let mut del_prev = 0.0;
        for m in 0..MAX_NEWTON {
            sys.rhs(t_new, &self.ynew, &mut self.fnew);
            self.stats.rhs_evals += 1;
            for i in 0..n {
                self.fnew[i] = (c * self.fnew[i] - self.psi[i] - self.corr[i]) * self.row_scale[i];
            }
            self.lu.solve(&mut self.fnew);
            let mut s = 0.0;
            for i in 0..n {
                let dy = self.fnew[i] * scale;
                self.ynew[i] += dy;
                self.corr[i] += dy;
                let e = dy * self.inv_w[i];
                s += e * e;
            }
            let del = (s / n as f64).sqrt();
            if !del.is_finite() {
                return Newton::Failed;
            }
            if m > 0 {
                self.rate = (RATE_DOWN * self.rate).max(del / del_prev);
            }
            if del * self.rate.min(1.0) <= tol {
                return Newton::Converged;
            }
            if m > 0 && del > DIVERGE * del_prev {
                return Newton::Failed;
            }
            del_prev = del;
        }
        Newton::Failed
    }

    /// Weighted RMS of `coef * v` (a row of the difference array, or `corr`) with
    /// the weights in `inv_w`.
    fn weighted(&self, coef: f64, v: &[f64]) -> f64 {
        coef * rms(v.iter().zip(&self.inv_w).map(|(&x, &w)| x * w))
    }

    /// The dense output of the last accepted step (of size `h`, history in `d`,
    /// `D_0` its end) at `theta` in [0, 1].
    fn interpolate(d: &[f64], order: usize, theta: f64, out: &mut [f64]) {
        let n = out.len();
        out.copy_from_slice(&d[..n]);
        let mut p = 1.0;
        for j in 0..order {
            p *= (theta - 1.0 + j as f64) / (j + 1) as f64;
            for (o, &x) in out.iter_mut().zip(&d[(j + 1) * n..(j + 2) * n]) {
                *o += p * x;
            }
        }
    }

    /// After an accepted step: choose the order among q - 1, q, q + 1 and the step
    /// size (CVODE's rule: only after q + 1 steps at the current ones, and only for
    /// a gain of at least [`THRESH`]).
    fn select(&mut self, err_q: f64) {
        let q = self.order;
        self.n_equal += 1;
        if self.n_equal <= q {
            return;
        }
        let n = self.f0.len();
        // The biased error estimates at orders q - 1, q, q + 1 (error order p).
        let e_down = (q > 1).then(|| {
            let e = self.weighted(self.k.error[q - 1], &self.d[q * n..(q + 1) * n]);
            (BIAS_DOWN * e, q)
        });
        let e_q = Some((BIAS_SAME * err_q, q + 1));
        let e_up = (q < MAX_ORDER).then(|| {
            let e = self.weighted(self.k.error[q + 1], &self.d[(q + 2) * n..(q + 3) * n]);
            (BIAS_UP * e, q + 2)
        });
        // Usually no order allows a step THRESH times longer: `eta >= THRESH`
        // exactly when the biased error is at most `(1 / THRESH - ADDON)^p`, so
        // when all three are above that bound (with a margin far beyond the
        // rounding of `powf`) the step stays and no `powf` is needed; the
        // decisions are those of computing every `eta` (measured: the `powf`
        // calls were 7-10 % of POLLU's time).
        let may_gain =
            |e: Option<(f64, usize)>| e.is_some_and(|(b, p)| b <= self.k.no_gain[p] || b.is_nan());
        if !(may_gain(e_down) || may_gain(e_q) || may_gain(e_up)) {
            return;
        }
        let eta = |e: Option<(f64, usize)>| {
            e.map_or(0.0, |(b, p)| 1.0 / (b.powf(1.0 / p as f64) + ADDON))
        };
        let (eta_down, eta_q, eta_up) = (eta(e_down), eta(e_q), eta(e_up));
        let (best, dq) = if eta_q >= eta_down && eta_q >= eta_up {
            (eta_q, 0)
        } else if eta_down > eta_up {
            (eta_down, -1)
        } else {
            (eta_up, 1)
        };
        if best < THRESH {
            return;
        }
        self.order = (q as isize + dq) as usize;
        self.change_step(best.min(MAX_GROWTH));
    }

    /// Forget the history (after a dose or an event); the step size and the
    /// Jacobian stay.
    fn forget(&mut self) {
        self.started = false;
        self.fsal = false;
    }
}

impl Solver for Bdf {
    fn name(&self) -> &'static str {
        "bdf"
    }
    fn restart(&mut self) {
        self.forget();
        self.stats.restarts += 1;
    }
    fn stats(&self) -> SolverStats {
        self.stats
    }
    fn supports_events(&self) -> bool {
        true
    }
    fn advance(
        &mut self,
        sys: &mut dyn OdeSystem,
        t: &mut f64,
        y: &mut [f64],
        t_end: f64,
        outs: &[f64],
        out: &mut dyn FnMut(f64, &[f64]),
    ) -> Result<(), SolverError> {
        self.integrate(sys, t, y, t_end, outs, out, false)
            .map(|_| ())
    }
}

impl Bdf {
    /// [`Solver::advance`], and with `detect` `auto`'s switch-back test after
    /// every accepted step ([`NonStiffTest::after_bdf_step`], with the bound
    /// taken at each Jacobian): stop with [`Stop::NonStiff`] at the end of the
    /// step that decided (also at the segment's end) once an explicit method
    /// would be stable at BDF's step. The test only observes: until it fires,
    /// the steps are those of BDF alone, bit for bit.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn integrate(
        &mut self,
        sys: &mut dyn OdeSystem,
        t: &mut f64,
        y: &mut [f64],
        t_end: f64,
        outs: &[f64],
        out: &mut dyn FnMut(f64, &[f64]),
        detect: bool,
    ) -> Result<Stop, SolverError> {
        let n = y.len();
        self.ensure(n);
        self.detect = detect;
        self.rho = f64::INFINITY;
        let mut next_out = emit_start(outs, *t, t_end, y, out);
        if *t >= t_end {
            return Ok(Stop::Reached);
        }
        if !self.started {
            self.stats.rhs_evals += start_segment(
                sys,
                (*t, y, t_end - *t),
                (&mut self.f0, &mut self.fsal, &mut self.h),
                (1, self.rtol, self.atol),
                [&mut self.ynew, &mut self.fnew],
            );
            self.begin(y);
        }
        let mut steps = 0u64;
        let mut singular = 0;
        let mut error_fails = 0;
        loop {
            steps += 1;
            step_guard(steps, self.max_steps, self.h, *t, t_end)?;
            // Land on the segment's end.
            let last = *t + 1.01 * self.h >= t_end;
            if last && *t + self.h != t_end {
                self.change_step((t_end - *t) / self.h);
            }
            let (h, q) = (self.h, self.order);
            let t_new = if last { t_end } else { *t + h };
            let c = h / self.k.alpha[q];
            self.ypred.copy_from_slice(&self.d[..n]);
            self.psi.fill(0.0);
            for (j, row) in self.d.chunks_exact(n).enumerate().take(q + 1).skip(1) {
                let g = self.k.gamma[j] / self.k.alpha[q];
                for ((p, s), &v) in self.ypred.iter_mut().zip(&mut self.psi).zip(row) {
                    *p += v;
                    *s += g * v;
                }
            }
            for (w, &p) in self.inv_w.iter_mut().zip(&self.ypred) {
                *w = 1.0 / (self.atol + self.rtol * p.abs());
            }
            // The factors: rebuilt when c moved by more than 30 % or they are old,
            // with a fresh Jacobian when that is old too.
            let stale_lu = self.c_lu == 0.0
                || (c / self.c_lu - 1.0).abs() > MAX_GAMMA_CHANGE
                || self.lu_age >= MAX_LU_AGE;
            if stale_lu {
                if !self.jac_valid || self.jac_age >= MAX_JAC_AGE {
                    self.take_jacobian(sys, t_new);
                }
                if !self.refactor(c, &mut singular, *t)? {
                    self.change_step(NEWTON_CUT);
                    continue;
                }
            }
            // A Jacobian taken since the last accepted step counts as fresh.
            let fresh = self.jac_age == 0;
            let tol = NEWTON_COEF / self.k.error[q];
            let converged = match self.newton(sys, t_new, c, tol) {
                Newton::Converged => true,
                Newton::Failed if !fresh => {
                    // A Jacobian from an earlier state may be what fails: take one
                    // here and try again with the same step.
                    self.take_jacobian(sys, t_new);
                    if !self.refactor(c, &mut singular, *t)? {
                        self.change_step(NEWTON_CUT);
                        continue;
                    }
                    matches!(self.newton(sys, t_new, c, tol), Newton::Converged)
                }
                Newton::Failed => false,
            };
            if !converged {
                self.stats.rejected += 1;
                self.change_step(NEWTON_CUT);
                continue;
            }
            // From here on the weights are those of the new state.
            for (w, &y) in self.inv_w.iter_mut().zip(&self.ynew) {
                *w = 1.0 / (self.atol + self.rtol * y.abs());
            }
            let err = self.weighted(self.k.error[q], &self.corr);
            if err > 1.0 {
                self.stats.rejected += 1;
                error_fails += 1;
                if error_fails >= MAX_ERROR_FAILS && q > 1 {
                    // Repeated failures: the history misleads; drop to order 1.
                    self.order = 1;
                    self.change_step(MIN_CUT);
                } else {
                    let eta = 1.0 / ((BIAS_SAME * err).powf(1.0 / (q + 1) as f64) + ADDON);
                    self.change_step(eta.clamp(MIN_CUT, 0.9));
                }
                continue;
            }
            error_fails = 0;
            singular = 0;
            // Accept: update the differences (D_0 becomes y_new).
            {
                let (lo, hi) = self.d.split_at_mut((q + 1) * n);
                let (d_q1, d_q2) = hi.split_at_mut(n);
                for i in 0..n {
                    d_q2[i] = self.corr[i] - d_q1[i];
                    d_q1[i] = self.corr[i];
                }
                for j in (0..=q).rev() {
                    let (a, b) = lo.split_at_mut((j + 1) * n);
                    let next: &[f64] = if j == q { d_q1 } else { &b[..n] };
                    for (x, &v) in a[j * n..].iter_mut().zip(next) {
                        *x += v;
                    }
                }
            }
            self.stats.accepted += 1;
            self.jac_age += 1;
            self.lu_age += 1;
            let judged = StepEnd::judge(sys, t_new, &self.ynew, outs, next_out, t_end);
            let mut buf = std::mem::take(&mut self.buf);
            let (d, order) = (&self.d, self.order);
            let interp = |theta: f64, b: &mut [f64]| Self::interpolate(d, order, theta, b);
            let ended = judged.finish(
                sys,
                (*t, h, t_new, t_end),
                &self.ynew,
                (outs, &mut next_out),
                out,
                &mut buf,
                &interp,
            );
            if let Ok(Some(t_event)) = ended {
                // Stopped at the event: the state there is in `buf`.
                y.copy_from_slice(&buf);
                self.buf = buf;
                *t = t_event;
                self.forget();
                return Ok(Stop::Event);
            }
            self.buf = buf;
            ended?;
            let switch = self.detect && self.nonstiff.after_bdf_step(t_new - *t, self.rho);
            y.copy_from_slice(&self.ynew);
            *t = t_new;
            if switch {
                return Ok(Stop::NonStiff);
            }
            if last {
                return Ok(Stop::Reached);
            }
            self.select(err);
        }
    }

    /// The last step `auto`'s switch-back test counted (the step to hand over).
    pub(super) fn last_counted_step(&self) -> f64 {
        self.nonstiff.last_bdf_step()
    }
}

impl Bdf {
    fn take_jacobian(&mut self, sys: &mut dyn OdeSystem, t_new: f64) {
        sys.jacobian(t_new, &self.ypred, &mut self.jac);
        self.stats.jacobian_evals += 1;
        if self.detect {
            self.rho = self
                .nonstiff
                .spectral_bound(&self.jac, &self.ypred, self.rtol, self.atol);
        }
        self.jac_valid = true;
        self.jac_age = 0;
    }

    /// Factor for `c` at the predicted state; a singular matrix counts towards
    /// [`MAX_SINGULAR`] (then an error at `t`) and asks the caller to cut the step.
    fn refactor(&mut self, c: f64, singular: &mut u32, t: f64) -> Result<bool, SolverError> {
        let ypred = std::mem::take(&mut self.ypred);
        let ok = self.factor(c, &ypred);
        self.ypred = ypred;
        if ok {
            return Ok(true);
        }
        self.c_lu = 0.0;
        *singular += 1;
        self.stats.rejected += 1;
        if *singular > MAX_SINGULAR || !self.jac.iter().all(|v| v.is_finite()) {
            return Err(SolverError {
                time: t,
                kind: SolverErrorKind::SingularMatrix,
            });
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ode::rodas::tests::{Decay, Falling};

    /// y' = -50 (y - cos t), y(0) = 0: stiff, non-autonomous, closed form.
    struct Prothero;

    impl OdeSystem for Prothero {
        fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -50.0 * (y[0] - t.cos());
        }
        fn jacobian(&mut self, _t: f64, _y: &[f64], jac: &mut DMatrix<f64>) {
            jac[(0, 0)] = -50.0;
        }
    }

    fn exact(t: f64) -> f64 {
        let k = 50.0;
        k * (k * t.cos() + t.sin()) / (k * k + 1.0) - k * k / (k * k + 1.0) * (-k * t).exp()
    }

    /// Worst error over 41 outputs (dense output) and the end, and the work.
    fn worst_error(rtol: f64) -> (f64, SolverStats) {
        let mut s = Bdf::new(rtol, rtol * 1e-3);
        let outs: Vec<f64> = (0..=40).map(|k| 0.05 * k as f64).collect();
        let (mut t, mut y) = (0.0, vec![0.0]);
        let mut worst: f64 = 0.0;
        let mut seen = 0;
        s.advance(&mut Prothero, &mut t, &mut y, 2.0, &outs, &mut |tk, yk| {
            worst = worst.max((yk[0] - exact(tk)).abs());
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, 40);
        assert_eq!(t, 2.0);
        worst = worst.max((y[0] - exact(2.0)).abs());
        (worst, s.stats())
    }

    /// The error (at step ends and on the dense output) follows the tolerance,
    /// the order rises (fewer steps than order 1 would need) and the Jacobian is
    /// taken only a few times.
    #[test]
    fn converges_with_the_tolerance_dense_output_included() {
        let (e1, s1) = worst_error(1e-4);
        let (e2, s2) = worst_error(1e-8);
        assert!(e1 < 1e-3, "{e1:e}");
        assert!(e2 < 1e-7, "{e2:e}");
        assert!(s2.accepted > s1.accepted, "{s1:?} vs {s2:?}");
        // Order 1 at 1e-8 would need ~1e4 steps over [0, 2].
        assert!(s2.accepted < 1000, "{s2:?}");
        assert!(s2.jacobian_evals * 20 < s2.accepted, "{s2:?}");
    }

    /// A restart (f jumps) starts again at order 1 and is as accurate as before.
    #[test]
    fn restart_after_f_jumps_stays_accurate() {
        let mut s = Bdf::new(1e-8, 1e-12);
        let mut sys = Decay(0.1);
        let (mut t, mut y) = (0.0, vec![1.0]);
        s.advance(&mut sys, &mut t, &mut y, 10.0, &[], &mut |_, _| {})
            .unwrap();
        assert!(s.order > 1, "order {}", s.order);
        sys.0 = 5.0;
        s.restart();
        s.advance(&mut sys, &mut t, &mut y, 10.5, &[], &mut |_, _| {})
            .unwrap();
        assert_eq!(s.stats().restarts, 1);
        let exact = (-0.1f64 * 10.0 - 5.0 * 0.5).exp();
        assert!(((y[0] - exact) / exact).abs() < 1e-6, "{} vs {exact}", y[0]);
    }

    #[test]
    fn a_failed_state_is_reported_where_the_dense_output_crosses() {
        let mut s = Bdf::new(1e-6, 1e-9);
        let (mut t, mut y) = (0.0, vec![1.0]);
        let e = s
            .advance(&mut Falling, &mut t, &mut y, 10.0, &[], &mut |_, _| {})
            .unwrap_err();
        assert!(matches!(e.kind, SolverErrorKind::Negative { .. }), "{e}");
        assert!((e.time - 0.5).abs() < 1e-6, "t = {}", e.time);
    }

    /// y' = -y with an event when y falls below 1/2 (at ln 2).
    struct HalfLife {
        armed: bool,
    }

    impl OdeSystem for HalfLife {
        fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -y[0];
        }
        fn jacobian(&mut self, _t: f64, _y: &[f64], jac: &mut DMatrix<f64>) {
            jac[(0, 0)] = -1.0;
        }
        fn has_events(&self) -> bool {
            true
        }
        fn event_due(&mut self, _t: f64, y: &[f64]) -> bool {
            self.armed && y[0] < 0.5
        }
        fn rearm(&mut self, _t: f64, y: &[f64]) {
            self.armed |= y[0] >= 0.5;
        }
    }

    /// The event stops the run where the dense output crosses the trigger, after
    /// the outputs before it, and the run goes on from there.
    #[test]
    fn an_event_is_located_on_the_dense_output() {
        let mut s = Bdf::new(1e-8, 1e-12);
        let mut sys = HalfLife { armed: true };
        let (mut t, mut y) = (0.0, vec![1.0]);
        let outs = [0.25, 0.5, 1.0];
        let mut seen = Vec::new();
        s.advance(&mut sys, &mut t, &mut y, 2.0, &outs, &mut |tk, yk| {
            seen.push((tk, yk[0]))
        })
        .unwrap();
        assert!((t - 2f64.ln()).abs() < 1e-7, "event at {t}");
        assert!((y[0] - 0.5).abs() < 1e-7, "{}", y[0]);
        assert_eq!(seen.len(), 2, "{seen:?}");
        for (tk, v) in &seen {
            assert!((v - (-tk).exp()).abs() < 1e-7, "{tk}: {v}");
        }
        sys.armed = false;
        s.advance(&mut sys, &mut t, &mut y, 2.0, &outs, &mut |tk, _| {
            seen.push((tk, 0.0))
        })
        .unwrap();
        assert_eq!((t, seen.len()), (2.0, 3));
        assert!((y[0] - (-2f64).exp()).abs() < 1e-7, "{}", y[0]);
    }

    /// A Jacobian with a NaN is a singular iteration matrix, reported with its time.
    struct Broken;

    impl OdeSystem for Broken {
        fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -y[0];
        }
        fn jacobian(&mut self, _t: f64, _y: &[f64], jac: &mut DMatrix<f64>) {
            jac[(0, 0)] = f64::NAN;
        }
    }

    #[test]
    fn a_nan_jacobian_is_reported_as_singular() {
        let mut s = Bdf::new(1e-6, 1e-9);
        let (mut t, mut y) = (1.5, vec![1.0]);
        let e = s
            .advance(&mut Broken, &mut t, &mut y, 10.0, &[], &mut |_, _| {})
            .unwrap_err();
        assert_eq!(e.kind, SolverErrorKind::SingularMatrix);
        assert_eq!(e.time, 1.5);
    }

    /// A segment shorter than the step-size underflow threshold (two stops that
    /// differ by rounding) is a step, not a failure, after a restart too.
    #[test]
    fn a_segment_below_the_underflow_threshold_is_taken() {
        let mut s = Bdf::new(1e-6, 1e-9);
        let (mut t, mut y) = (0.0, vec![1.0]);
        s.advance(&mut Decay(1.0), &mut t, &mut y, 20.075, &[], &mut |_, _| {})
            .unwrap();
        s.restart();
        let end = 20.075 + 1.7e-13;
        s.advance(&mut Decay(1.0), &mut t, &mut y, end, &[], &mut |_, _| {})
            .unwrap();
        assert_eq!(t, end);
        assert!((y[0] - (-20.075f64).exp()).abs() < 1e-9, "{}", y[0]);
    }

    /// The step-size change keeps the interpolating polynomial: the dense output
    /// before and after rescaling the differences agrees at the grid's points.
    #[test]
    fn a_change_of_step_keeps_the_history_polynomial() {
        let mut s = Bdf::new(1e-6, 1e-9);
        s.ensure(1);
        s.order = 3;
        s.h = 0.1;
        // Differences of y(t) = t^3 on the grid 1.0, 0.9, 0.8, 0.7 (D_j = nabla^j y).
        let v = [1.0f64, 0.729, 0.512, 0.343];
        s.d[0] = v[0];
        s.d[1] = v[0] - v[1];
        s.d[2] = v[0] - 2.0 * v[1] + v[2];
        s.d[3] = v[0] - 3.0 * v[1] + 3.0 * v[2] - v[3];
        s.change_step(0.5);
        // Now the grid is 1.0, 0.95, 0.9, 0.85: theta in units of the new step.
        for (k, tk) in [1.0f64, 0.95, 0.9, 0.85, 0.8].iter().enumerate() {
            let mut out = [0.0];
            Bdf::interpolate(&s.d, 3, 1.0 - k as f64, &mut out);
            assert!((out[0] - tk.powi(3)).abs() < 1e-12, "{tk}: {}", out[0]);
        }
    }
}
