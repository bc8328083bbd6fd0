//! Rosenbrock 2(3) (`ode23s`) for stiff loops, on the model's exact Jacobian.
//!
//! A linearly implicit one-step method: one LU factorisation of `W = I - h d J` per
//! step, no Newton iterations, so it too restarts after a dose with its last step
//! size. L-stable second-order solution with a third-order error estimate, and a
//! continuous extension for output between steps.
//!
//! ## References
//! Shampine LF, Reichelt MW (1997) The MATLAB ODE Suite. SIAM J Sci Comput
//! 18:1-22 (the ode23s scheme, its error estimate and interpolant).

use nalgebra::{DMatrix, DVector};

use super::solver::{
    emit_start, error_norm, initial_step, next_due, step_guard, time_derivative, OdeSystem, Solver,
    SolverError, SolverErrorKind, SolverStats,
};

pub struct Rosenbrock23 {
    rtol: f64,
    atol: f64,
    max_steps: u64,
    h: f64,
    fsal: bool,
    f0: Vec<f64>,
    stats: SolverStats,
}

impl Rosenbrock23 {
    pub fn new(rtol: f64, atol: f64) -> Rosenbrock23 {
        Rosenbrock23 {
            rtol,
            atol,
            max_steps: 10_000_000,
            h: 0.0,
            fsal: false,
            f0: Vec::new(),
            stats: SolverStats::default(),
        }
    }
}

impl Solver for Rosenbrock23 {
    fn name(&self) -> &'static str {
        "rosenbrock23"
    }
    fn restart(&mut self) {
        self.fsal = false;
        self.stats.restarts += 1;
    }
    fn stats(&self) -> SolverStats {
        self.stats
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
        let n = y.len();
        let d = 1.0 / (2.0 + std::f64::consts::SQRT_2);
        let e32 = 6.0 + std::f64::consts::SQRT_2;
        let mut next_out = emit_start(outs, *t, t_end, y, out);
        if *t >= t_end {
            return Ok(());
        }
        if self.f0.len() != n {
            self.f0 = vec![0.0; n];
            self.fsal = false;
        }
        if !self.fsal {
            sys.rhs(*t, y, &mut self.f0);
            self.stats.rhs_evals += 1;
            self.fsal = true;
        }
        let span = t_end - *t;
        if self.h <= 0.0 {
            let (h, e) = initial_step(sys, *t, y, &self.f0, 2, self.rtol, self.atol, span);
            self.h = h;
            self.stats.rhs_evals += e;
        }
        let mut h = self.h.min(span);
        let mut jac = DMatrix::<f64>::zeros(n, n);
        let (mut f1, mut f2, mut ft, mut ytmp, mut ynew, mut err, mut dense) = (
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
        );
        let mut steps = 0;
        loop {
            steps += 1;
            step_guard(steps, self.max_steps, h, *t, t_end)?;
            let last = *t + 1.01 * h >= t_end;
            let proposed = h;
            if last {
                h = t_end - *t;
            }
            sys.jacobian(*t, y, &mut jac);
            self.stats.jacobian_evals += 1;
            let mut tvec = vec![0.0; n];
            self.stats.rhs_evals +=
                time_derivative(sys, *t, h, y, &self.f0, &mut tvec, [&mut ft, &mut f2]);
            let w = DMatrix::<f64>::identity(n, n) - &jac * (h * d);
            let lu = w.lu();
            let solve = |rhs: Vec<f64>| lu.solve(&DVector::from_vec(rhs));
            let Some(k1) = solve((0..n).map(|i| self.f0[i] + h * d * tvec[i]).collect()) else {
                return Err(SolverError {
                    time: *t,
                    kind: SolverErrorKind::SingularMatrix,
                });
            };
            for i in 0..n {
                ytmp[i] = y[i] + 0.5 * h * k1[i];
            }
            sys.rhs(*t + 0.5 * h, &ytmp, &mut f1);
            let Some(mut k2) = solve((0..n).map(|i| f1[i] - k1[i]).collect()) else {
                return Err(SolverError {
                    time: *t,
                    kind: SolverErrorKind::SingularMatrix,
                });
            };
            k2 += &k1;
            let t_new = if last { t_end } else { *t + h };
            for i in 0..n {
                ynew[i] = y[i] + h * k2[i];
            }
            sys.rhs(t_new, &ynew, &mut f2);
            let Some(k3) = solve(
                (0..n)
                    .map(|i| {
                        f2[i] - e32 * (k2[i] - f1[i]) - 2.0 * (k1[i] - self.f0[i]) + h * d * tvec[i]
                    })
                    .collect(),
            ) else {
                return Err(SolverError {
                    time: *t,
                    kind: SolverErrorKind::SingularMatrix,
                });
            };
            self.stats.rhs_evals += 2;
            for i in 0..n {
                err[i] = h / 6.0 * (k1[i] - 2.0 * k2[i] + k3[i]);
            }
            let e = error_norm(&err, y, &ynew, self.rtol, self.atol);
            if e <= 1.0 {
                sys.check(t_new, &ynew)?;
                let t_old = *t;
                while let Some(tk) = next_due(outs, &mut next_out, t_new, t_end) {
                    let s = (tk - t_old) / h;
                    let a = s * (1.0 - s) / (1.0 - 2.0 * d);
                    let b = s * (s - 2.0 * d) / (1.0 - 2.0 * d);
                    for i in 0..n {
                        dense[i] = y[i] + h * (a * k1[i] + b * k2[i]);
                    }
                    out(tk, &dense);
                }
                y.copy_from_slice(&ynew);
                self.f0.copy_from_slice(&f2);
                *t = t_new;
                self.stats.accepted += 1;
                let fac = (0.9 * e.max(1e-10).powf(-1.0 / 3.0)).clamp(0.2, 5.0);
                if last {
                    self.h = (h * fac).max(proposed);
                    return Ok(());
                }
                h *= fac;
            } else {
                self.stats.rejected += 1;
                h *= if e.is_finite() {
                    (0.9 * e.powf(-1.0 / 3.0)).clamp(0.1, 0.9)
                } else {
                    0.1
                };
            }
        }
    }
}
