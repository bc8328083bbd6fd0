//! `--method auto` (the default): explicit Dormand-Prince while the loop is not
//! stiff, Rodas5P on the exact Jacobian once it is, and back.
//!
//! How it decides:
//!
//! - **Explicit to stiff** (Hairer's test from DOPRI5): after every accepted
//!   Dopri5 step, `h |lambda| ~ h ||k7 - k6|| / ||y1 - y6||` (the last two stages
//!   are taken at the same time, so their difference sees the Jacobian's dominant
//!   eigenvalue along the step). Near the edge of Dopri5's stability region (3.3
//!   on the negative real axis) the step size is held by stability, not accuracy;
//!   10 steps above 2.5 (not interrupted by 6 steps below it) switch to Rodas5P.
//!   Cheap: two norms per step. Hairer's DOPRI5 uses 3.25 and 15 steps; the
//!   estimate sees the fast mode only when the step excites it, so at the edge it
//!   hovers around 3.3 and those settings let Dopri5 crawl along its stability
//!   limit (ROBER at rtol 1e-8: 29,245 right-hand sides with them, 7,402 with
//!   these; the shipped models stay explicit either way).
//! - **Stiff to explicit**: after every accepted Rodas step, an upper bound of the
//!   Jacobian's spectral radius, `rho(J) <= ||D^-1 J D||_inf` with
//!   `D = diag(atol + rtol |y|)` (the tolerance scaling balances rows of very
//!   different size, e.g. cell counts next to concentrations, without changing the
//!   eigenvalues). When the next step `h` has `h rho < 2` for 5 steps in a row,
//!   the explicit method would be stable at the step the stiff one takes, at a
//!   fraction of its cost per step, and the run switches back. The bound
//!   overestimates, so switching back is conservative.
//! - **Doses**: a dose is a restart of whichever method is running; the mode, both
//!   step sizes and the counters carry over (a dose changes the exposure, not the
//!   loop's time scales), so every segment between doses starts with the method
//!   and step the previous one ended with and can switch inside the segment. The
//!   step size is handed over at a switch.
//!
//! ## References
//! Hairer E, Norsett SP, Wanner G (1993) Solving Ordinary Differential Equations
//! I, 2nd ed., IV.2 (stiffness detection in DOPRI5). Petzold L (1983) Automatic
//! selection of methods for solving stiff and nonstiff systems of ordinary
//! differential equations. SIAM J Sci Stat Comput 4:136-148 (LSODA's switching
//! both ways). Rackauckas C, Nie Q (2017) DifferentialEquations.jl, J Open Res
//! Softw 5:15 (composite auto-switching algorithms, `AutoTsit5(Rodas5P())`).

use nalgebra::DMatrix;

use super::dopri5::Dopri5;
use super::rodas::{Rodas, RODAS5P};
use super::solver::{OdeSystem, Solver, SolverError, SolverStats};

/// Why a method stopped before or at the segment end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The segment end was reached.
    Reached,
    /// The explicit method found the problem stiff.
    Stiff,
    /// The stiff method found the problem no longer stiff.
    NonStiff,
    /// An event is due at the (located) time the method stopped at.
    Event,
}

/// Hairer's DOPRI5 stiffness counters.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StiffnessTest {
    stiff: u32,
    nonstiff: u32,
}

/// `h |lambda|` beyond which Dopri5 is taken to be held by stability.
const STIFF_H_LAMBDA: f64 = 2.5;
const STIFF_STEPS: u32 = 10;
const NONSTIFF_RESET_STEPS: u32 = 6;
/// `h rho(J)` below which the explicit method is stable with margin.
const NONSTIFF_H_RHO: f64 = 2.0;
const NONSTIFF_STEPS: u32 = 5;

impl StiffnessTest {
    /// Record one accepted step's `h |lambda|`; true when it is time to switch.
    pub(super) fn stiff_after(&mut self, h_lambda: f64) -> bool {
        if h_lambda > STIFF_H_LAMBDA {
            self.nonstiff = 0;
            self.stiff += 1;
            if self.stiff >= STIFF_STEPS {
                self.stiff = 0;
                return true;
            }
        } else {
            self.nonstiff += 1;
            if self.nonstiff == NONSTIFF_RESET_STEPS {
                self.stiff = 0;
            }
        }
        false
    }
}

/// The switch-back counter.
#[derive(Debug, Clone, Default)]
pub(super) struct NonStiffTest {
    steps: u32,
    /// Tolerance weights `atol + rtol |y_j|` and the rows of `|J| w` (reused).
    w: Vec<f64>,
    rows: Vec<f64>,
}

impl NonStiffTest {
    /// Record one accepted stiff step (Jacobian `jac` at its start, next step `h`);
    /// true when it is time to switch back.
    ///
    /// It runs after every stiff step, so it reads `J` column by column (its
    /// storage order) with the weights computed once, each row still summed over
    /// `j` in order: indexing `J(i, j)` and recomputing a weight per entry cost
    /// `auto` a few per cent against `rodas5p` on the 11-state il6 loop.
    pub(super) fn nonstiff_after(
        &mut self,
        jac: &DMatrix<f64>,
        y: &[f64],
        h: f64,
        rtol: f64,
        atol: f64,
    ) -> bool {
        let n = y.len();
        self.w.clear();
        self.w.extend(y.iter().map(|&yj| atol + rtol * yj.abs()));
        self.rows.clear();
        self.rows.resize(n, 0.0);
        for (col, &wj) in jac.as_slice().chunks_exact(n).zip(&self.w) {
            for (r, &v) in self.rows.iter_mut().zip(col) {
                *r += v.abs() * wj;
            }
        }
        let rho = self
            .rows
            .iter()
            .zip(&self.w)
            .fold(0.0f64, |m, (&r, &wi)| m.max(r / wi));
        if h * rho < NONSTIFF_H_RHO {
            self.steps += 1;
            if self.steps >= NONSTIFF_STEPS {
                self.steps = 0;
                return true;
            }
        } else {
            self.steps = 0;
        }
        false
    }
}

/// Dopri5 and Rodas5P with automatic switching (see the module docs).
pub struct Auto {
    explicit: Dopri5,
    stiff: Rodas,
    stiff_mode: bool,
    restarts: u64,
    switches: u64,
}

impl Auto {
    pub fn new(rtol: f64, atol: f64) -> Auto {
        Auto {
            explicit: Dopri5::new(rtol, atol),
            stiff: Rodas::new(&RODAS5P, rtol, atol),
            stiff_mode: false,
            restarts: 0,
            switches: 0,
        }
    }

    /// Method switches so far (either way).
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// Whether the stiff method is the one running.
    pub fn is_stiff(&self) -> bool {
        self.stiff_mode
    }
}

impl Solver for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn restart(&mut self) {
        self.explicit.restart();
        self.stiff.restart();
        self.restarts += 1;
    }

    fn stats(&self) -> SolverStats {
        let (a, b) = (self.explicit.stats(), self.stiff.stats());
        SolverStats {
            rhs_evals: a.rhs_evals + b.rhs_evals,
            jacobian_evals: a.jacobian_evals + b.jacobian_evals,
            accepted: a.accepted + b.accepted,
            rejected: a.rejected + b.rejected,
            restarts: self.restarts,
        }
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
        loop {
            if self.stiff_mode {
                match self
                    .stiff
                    .integrate(sys, t, y, t_end, outs, &mut *out, true)?
                {
                    Stop::NonStiff => {
                        self.explicit.set_step_size(self.stiff.step_size());
                        self.explicit.restart();
                        self.stiff_mode = false;
                        self.switches += 1;
                    }
                    _ => return Ok(()),
                }
            } else {
                match self
                    .explicit
                    .integrate(sys, t, y, t_end, outs, &mut *out, true)?
                {
                    Stop::Stiff => {
                        self.stiff.set_step_size(self.explicit.step_size());
                        self.stiff.restart();
                        self.stiff_mode = true;
                        self.switches += 1;
                    }
                    _ => return Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Robertson's chemical kinetics: stiff after a short transient.
    struct Rober;

    impl OdeSystem for Rober {
        fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
            dy[1] = 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] * y[1];
            dy[2] = 3e7 * y[1] * y[1];
        }
    }

    /// A slow linear decay: never stiff.
    struct Slow;

    impl OdeSystem for Slow {
        fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -y[0];
            dy[1] = -0.5 * y[1];
        }
    }

    #[test]
    fn switches_to_the_stiff_method_on_a_stiff_problem_and_stays_cheap() {
        let mut s = Auto::new(1e-6, 1e-10);
        let (mut t, mut y) = (0.0, vec![1.0, 0.0, 0.0]);
        s.advance(&mut Rober, &mut t, &mut y, 1e3, &[], &mut |_, _| {})
            .unwrap();
        assert!(s.is_stiff());
        assert!(s.switches() >= 1);
        // Dopri5 alone needs ~ 3.3 / 1e4-ish steps per unit time near the end:
        // hundreds of thousands; auto takes a few hundred.
        assert!(s.stats().accepted < 2_000, "{:?}", s.stats());
        // Reference (Hairer & Wanner's test set, t = 1e3 is not tabulated; check
        // conservation instead, which every method keeps to rounding).
        assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_non_stiff_problem_stays_explicit() {
        let mut s = Auto::new(1e-8, 1e-10);
        let (mut t, mut y) = (0.0, vec![1.0, 1.0]);
        s.advance(&mut Slow, &mut t, &mut y, 10.0, &[], &mut |_, _| {})
            .unwrap();
        assert!(!s.is_stiff());
        assert_eq!(s.switches(), 0);
        assert_eq!(s.stats().jacobian_evals, 0);
        assert!((y[0] - (-10.0f64).exp()).abs() < 1e-8);
    }

    /// A segment shorter than the step-size underflow threshold (two stops that
    /// differ by rounding) is a step, not a failure, for every method.
    #[test]
    fn a_segment_below_the_underflow_threshold_is_taken() {
        use crate::engine::ode::Method;
        for method in [
            Method::Auto,
            Method::Dopri5,
            Method::Rodas5p,
            Method::Radau5,
            Method::Rodas4,
            Method::Rosenbrock23,
        ] {
            let mut s = method.solver(1e-6, 1e-9);
            let (mut t, mut y) = (0.0, vec![1.0, 1.0]);
            s.advance(&mut Slow, &mut t, &mut y, 20.075, &[], &mut |_, _| {})
                .unwrap();
            s.restart();
            let end = 20.075 + 1.7e-13;
            s.advance(&mut Slow, &mut t, &mut y, end, &[], &mut |_, _| {})
                .unwrap_or_else(|e| panic!("{}: {e}", method.label()));
            assert_eq!(t, end);
            assert!((y[0] - (-20.075f64).exp()).abs() < 1e-6);
        }
    }
}
