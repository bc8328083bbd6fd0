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
//! - **Explicit to stiff, on the Jacobian**: the estimate above looks along the
//!   step's own direction, and at tight tolerances the controller keeps the fast
//!   mode too small for it to see (on the dosed il6 loop at rtol 1e-9 it stayed
//!   at 0.01-0.9 while Dopri5 crawled along its stability limit for the first 16
//!   days, 2,475 steps, before it switched; the same on ROBER at 1e-9 and
//!   1e-10). So every 50 accepted Dopri5 steps the Jacobian at the new state is
//!   evaluated and `h |lambda|` computed with `|lambda|` the spectral radius of
//!   `D^-1 J D` (`D` as below) by 8 steps of power iteration, the vector carried
//!   from one check to the next. Two checks in a row above 2 switch. Why 2 and not
//!   2.5: there Dopri5 can lengthen its step by at most 1.65x before stability
//!   holds it, while a Rodas5P step costs about four Dopri5 steps and takes 3-5x
//!   longer ones (il6 loop at rtol 1e-10: Dopri5 held by accuracy at `h |lambda|`
//!   2.0-2.5 for 16 days; switching at 2 cut the run from 19,221 to 16,281 steps,
//!   Rodas5P alone takes 16,006). Cost where nothing is stiff: one Jacobian per
//!   50 steps, about 300 right-hand sides; results are untouched as long as the
//!   run stays explicit.
//! - **Stiff to explicit**: after every accepted Rodas step, an upper bound of the
//!   Jacobian's spectral radius, `rho(J) <= ||D^-1 J D||_inf` with
//!   `D = diag(atol + rtol |y|)` (the tolerance scaling balances rows of very
//!   different size, e.g. cell counts next to concentrations, without changing the
//!   eigenvalues). When the next step `h` has `h rho < 2` for 5 steps in a row,
//!   the explicit method would be stable at the step the stiff one takes, at a
//!   fraction of its cost per step, and the run switches back. The bound
//!   overestimates, so switching back is conservative, and it lies above the
//!   power iteration's `|lambda|`: a run that switched at `h_D |lambda| > 2`
//!   switches back only once the stiff step has fallen below the explicit step
//!   it replaced, so the two tests do not hand the run back and forth.
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

/// Hairer's DOPRI5 stiffness counters, and the periodic check on the Jacobian.
#[derive(Debug, Clone, Default)]
pub(super) struct StiffnessTest {
    stiff: u32,
    nonstiff: u32,
    /// Accepted steps since the last Jacobian check, and consecutive checks that
    /// found the step held by stability.
    since_check: u32,
    checks_stiff: u32,
    /// The power iteration's vector, kept from one check to the next (the
    /// dominant direction changes slowly, so each check starts close to it).
    v: Vec<f64>,
    u: Vec<f64>,
    w: Vec<f64>,
}

/// `h |lambda|` beyond which Dopri5 is taken to be held by stability.
const STIFF_H_LAMBDA: f64 = 2.5;
const STIFF_STEPS: u32 = 10;
const NONSTIFF_RESET_STEPS: u32 = 6;
/// `h rho(J)` below which the explicit method is stable with margin.
const NONSTIFF_H_RHO: f64 = 2.0;
const NONSTIFF_STEPS: u32 = 5;
/// Accepted explicit steps between two Jacobian checks, power iterations per
/// check, and consecutive stiff checks that switch.
const CHECK_EVERY: u32 = 50;
/// `h |lambda|` (from the Jacobian) beyond which the explicit method is taken to
/// cost more than the stiff one: see the module docs.
const CHECK_H_LAMBDA: f64 = 2.0;
const POWER_ITERATIONS: usize = 8;
const CHECKS_STIFF: u32 = 2;

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

    /// Count one accepted step; true when a Jacobian check is due.
    pub(super) fn jacobian_check_due(&mut self) -> bool {
        self.since_check += 1;
        if self.since_check >= CHECK_EVERY {
            self.since_check = 0;
            return true;
        }
        false
    }

    /// The check on the Jacobian `jac` at the end of a step of size `h` (state
    /// `y`): `h |lambda|` with `|lambda|` the spectral radius of `D^-1 J D`,
    /// `D = diag(atol + rtol |y|)`, by power iteration; true when
    /// [`CHECKS_STIFF`] checks in a row found it above [`CHECK_H_LAMBDA`].
    pub(super) fn stiff_by_jacobian(
        &mut self,
        jac: &DMatrix<f64>,
        y: &[f64],
        h: f64,
        rtol: f64,
        atol: f64,
    ) -> bool {
        let h_lambda = h * self.spectral_radius(jac, y, rtol, atol);
        if h_lambda > CHECK_H_LAMBDA {
            self.checks_stiff += 1;
            if self.checks_stiff >= CHECKS_STIFF {
                self.checks_stiff = 0;
                return true;
            }
        } else {
            self.checks_stiff = 0;
        }
        false
    }

    /// Power iteration on `M = D^-1 J D`: the geometric mean of the last two
    /// growth factors `||M v|| / ||v||` (a dominant complex pair turns `v`
    /// within the plane it spans; two factors average that out). The weights
    /// balance rows of very different size without changing the eigenvalues.
    fn spectral_radius(&mut self, jac: &DMatrix<f64>, y: &[f64], rtol: f64, atol: f64) -> f64 {
        let n = y.len();
        if self.v.len() != n {
            self.v = vec![1.0 / (n as f64).sqrt(); n];
        }
        tolerance_weights(&mut self.w, y, rtol, atol);
        self.u.resize(n, 0.0);
        let (mut last, mut before) = (0.0, 0.0);
        for _ in 0..POWER_ITERATIONS {
            self.u.fill(0.0);
            for ((col, &vj), &wj) in jac.as_slice().chunks_exact(n).zip(&self.v).zip(&self.w) {
                let x = wj * vj;
                for (ui, &jij) in self.u.iter_mut().zip(col) {
                    *ui += jij * x;
                }
            }
            for (ui, &wi) in self.u.iter_mut().zip(&self.w) {
                *ui /= wi;
            }
            let norm = self.u.iter().map(|x| x * x).sum::<f64>().sqrt();
            if !(norm > 0.0 && norm.is_finite()) {
                // J v = 0 (or J holds a non-finite entry): start afresh next time.
                self.v.clear();
                return 0.0;
            }
            for (vi, &ui) in self.v.iter_mut().zip(&self.u) {
                *vi = ui / norm;
            }
            (before, last) = (last, norm);
        }
        (before * last).sqrt()
    }
}

/// `w_i = atol + rtol |y_i|`, the tolerance scaling `D` of the tests.
fn tolerance_weights(w: &mut Vec<f64>, y: &[f64], rtol: f64, atol: f64) {
    w.clear();
    w.extend(y.iter().map(|&yi| atol + rtol * yi.abs()));
}

/// The switch-back counter.
#[derive(Debug, Clone, Default)]
pub(super) struct NonStiffTest {
    steps: u32,
    /// Tolerance weights and the rows of `|J| w` (reused buffers).
    w: Vec<f64>,
    rows: Vec<f64>,
}

impl NonStiffTest {
    /// Record one accepted stiff step (Jacobian `jac` at its start, next step `h`);
    /// true when it is time to switch back.
    pub(super) fn nonstiff_after(
        &mut self,
        jac: &DMatrix<f64>,
        y: &[f64],
        h: f64,
        rtol: f64,
        atol: f64,
    ) -> bool {
        let n = y.len();
        tolerance_weights(&mut self.w, y, rtol, atol);
        // Row i of |J| w, summed over j in order, column by column (J is
        // column-major).
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
        // Only the periodic stiffness checks evaluate the Jacobian.
        assert!(s.stats().jacobian_evals <= s.stats().accepted / CHECK_EVERY as u64);
        assert!((y[0] - (-10.0f64).exp()).abs() < 1e-8);
    }

    /// The Jacobian check's power iteration finds the spectral radius of the
    /// tolerance-scaled Jacobian, for a fast mode beside a slow variable a million
    /// times larger (which dominates the unweighted norms of Hairer's estimate)
    /// and for a dominant complex pair; two checks above the threshold switch.
    #[test]
    fn the_jacobian_check_finds_the_spectral_radius() {
        let (rtol, atol) = (1e-9, 1e-12);
        let hidden = DMatrix::from_row_slice(2, 2, &[-0.1, 0.0, 5.0, -1e3]);
        let y = [1e6, 1.0];
        let mut test = StiffnessTest::default();
        let rho = test.spectral_radius(&hidden, &y, rtol, atol);
        assert!((rho / 1e3 - 1.0).abs() < 1e-2, "{rho}");
        // At the explicit method's stability edge (3.3 / 1e3): stiff on the second
        // check in a row; well inside it: not.
        assert!(!test.stiff_by_jacobian(&hidden, &y, 3e-3, rtol, atol));
        assert!(test.stiff_by_jacobian(&hidden, &y, 3e-3, rtol, atol));
        assert!(!test.stiff_by_jacobian(&hidden, &y, 1e-3, rtol, atol));
        assert!(!test.stiff_by_jacobian(&hidden, &y, 1e-3, rtol, atol));
        // A damped oscillation at |lambda| = |-100 +- 300i| = 316.2, rotating the
        // iteration's vector at every step.
        let spiral = DMatrix::from_row_slice(
            3,
            3,
            &[-100.0, 300.0, 0.0, -300.0, -100.0, 0.0, 1.0, 0.0, -2.0],
        );
        let rho = test.spectral_radius(&spiral, &[1.0, 1.0, 1.0], rtol, atol);
        assert!((rho / 100f64.hypot(300.0) - 1.0).abs() < 1e-2, "{rho}");
        // A zero Jacobian (nothing moves): not stiff, and no NaN carried over.
        let zero = DMatrix::zeros(3, 3);
        assert_eq!(
            test.spectral_radius(&zero, &[1.0, 1.0, 1.0], rtol, atol),
            0.0
        );
        let rho = test.spectral_radius(&spiral, &[1.0, 1.0, 1.0], rtol, atol);
        assert!((rho / 100f64.hypot(300.0) - 1.0).abs() < 1e-2, "{rho}");
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
