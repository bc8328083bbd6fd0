//! `--method auto` (the default): explicit Dormand-Prince while the loop is not
//! stiff, Rodas5P or BDF on the exact Jacobian once it is, and back.
//!
//! How it decides:
//!
//! - **Explicit to stiff** (Hairer's test from DOPRI5): after every accepted
//!   Dopri5 step, `h |lambda| ~ h ||k7 - k6|| / ||y1 - y6||` (the last two stages
//!   are taken at the same time, so their difference sees the Jacobian's dominant
//!   eigenvalue along the step). Near the edge of Dopri5's stability region (3.3
//!   on the negative real axis) the step size is held by stability, not accuracy;
//!   10 steps above 2.5 (not interrupted by 6 steps below it) switch to the
//!   stiff method.
//!   Cheap: two norms per step. Hairer's DOPRI5 uses 3.25 and 15 steps; the
//!   estimate sees the fast mode only when the step excites it, so at the edge it
//!   hovers around 3.3 and those settings let Dopri5 crawl along its stability
//!   limit (ROBER at rtol 1e-8: 29,245 right-hand sides with them, 7,402 with
//!   these; the shipped models stay explicit either way).
//! - **Which stiff method** ([`stiff_method`], a pure function of the number of
//!   states `n`, rtol and whether the run has restarted since its first step):
//!   BDF when `n >= 10`, rtol `<= 1e-7` and no restart (dose, event, change of
//!   state) has come since the first step; Rodas5P otherwise. A restart while
//!   BDF runs hands over to Rodas5P for the rest of the run. Why, measured (CPU
//!   per step from the bench tables at rtol 1e-10; step counts at equal error):
//!   a Rodas5P step costs 2.1x a BDF step on ROBER and OREGO (3 states), 3.3x
//!   on HIRES (8), 5.1x on the il6 loop (11) and 5.2x on POLLU (20): its LU and
//!   eight triangular solves grow with `n` faster than its right-hand sides,
//!   where BDF reuses its Jacobian and factors over many steps. BDF needs 2-4.5x
//!   Rodas5P's steps for the same error on the undosed problems from rtol 1e-7
//!   down, so it wins from about 10 states (HIRES, at 8, is a tie; POLLU runs
//!   1.7-2.6x faster on it). At looser tolerances it needs more (POLLU at rtol
//!   1e-6: Rodas5P reaches BDF's error in 0.18 ms against 0.23). A restart
//!   costs BDF a climb from order 1 with a small step where Rodas5P keeps its
//!   step: on the il6 loop with 105 doses BDF takes 5.1x Rodas5P's steps at
//!   equal error and is at best even, on the same loop with one dose at the
//!   start it takes 2.9-4.3x and wins by 1.1-1.5x (rtol 1e-7 to 1e-10). So the
//!   count of states says what a step costs and a restart what BDF's steps are
//!   worth (docs/performance.md has the table).
//! - **Stiff to explicit**: after every accepted Rodas step, an upper bound of the
//!   Jacobian's spectral radius, `rho(J) <= ||D^-1 J D||_inf` with
//!   `D = diag(atol + rtol |y|)` (the tolerance scaling balances rows of very
//!   different size, e.g. cell counts next to concentrations, without changing the
//!   eigenvalues). When the next step `h` has `h rho < 2` for 5 steps in a row,
//!   the explicit method would be stable at the step the stiff one takes, at a
//!   fraction of its cost per step, and the run switches back. The bound
//!   overestimates, so switching back is conservative. BDF runs the same test
//!   with the bound taken at each of its Jacobians
//!   ([`NonStiffTest::after_bdf_step`]), counting
//!   10 steps that did not grow the step size (it climbs from order 1 and a
//!   small step after a switch, which is not the step stability allows).
//! - **Doses**: a dose is a restart of whichever method is running; the mode, both
//!   step sizes and the counters carry over (a dose changes the exposure, not the
//!   loop's time scales), so every segment between doses starts with the method
//!   and step the previous one ended with and can switch inside the segment. The
//!   step size is handed over at a switch (BDF, whose step size is its own,
//!   starts at order 1 with the step it last had, capped by the starting-step
//!   probe as after a dose, or with the probe's step on its first use).
//!
//! ## References
//! Hairer E, Norsett SP, Wanner G (1993) Solving Ordinary Differential Equations
//! I, 2nd ed., IV.2 (stiffness detection in DOPRI5). Petzold L (1983) Automatic
//! selection of methods for solving stiff and nonstiff systems of ordinary
//! differential equations. SIAM J Sci Stat Comput 4:136-148 (LSODA's switching
//! both ways). Rackauckas C, Nie Q (2017) DifferentialEquations.jl, J Open Res
//! Softw 5:15 (composite auto-switching algorithms, `AutoTsit5(Rodas5P())`).
//! Hindmarsh AC et al. (2005) SUNDIALS, ACM Trans Math Softw 31:363-396 (CVODE,
//! the BDF whose reuse rules `bdf` follows).

use nalgebra::DMatrix;

use super::bdf::Bdf;
use super::dopri5::Dopri5;
use super::rodas::{Rodas, RODAS5P};
use super::solver::{Method, OdeSystem, Solver, SolverError, SolverStats};

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
/// The same for BDF, counting only steps that did not grow the step size by more
/// than [`BDF_STEADY_GROWTH`]: BDF keeps a step for at least `q + 1` steps
/// (6 at order 5) before it changes it, and it starts at order 1 with a small step
/// that it grows by at least 1.5x at a time, so 5 steps in a row would see that
/// climb, not the step stability allows.
const BDF_NONSTIFF_STEPS: u32 = 10;
const BDF_STEADY_GROWTH: f64 = 1.2;

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
    /// BDF's last counted step ([`NonStiffTest::after_bdf_step`]).
    h_last: f64,
    /// Tolerance weights `atol + rtol |y_j|` and the rows of `|J| w` (reused).
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
        let rho = self.spectral_bound(jac, y, rtol, atol);
        self.record(h * rho, NONSTIFF_STEPS)
    }

    /// Record one accepted BDF step `h` with the bound `rho` taken at BDF's
    /// latest Jacobian; true when it is time to switch back.
    ///
    /// BDF keeps a Jacobian up to 50 steps, so the bound comes from the Jacobian
    /// (an `n^2` pass after every step would cost as much as BDF's one triangular
    /// solve), and the step counted is the one just taken. A step that grew the
    /// step size by more than [`BDF_STEADY_GROWTH`] resets the count
    /// ([`BDF_NONSTIFF_STEPS`] says why).
    pub(super) fn after_bdf_step(&mut self, h: f64, rho: f64) -> bool {
        if h > BDF_STEADY_GROWTH * self.h_last {
            self.steps = 0;
        }
        self.h_last = h;
        self.record(h * rho, BDF_NONSTIFF_STEPS)
    }

    /// BDF's last counted step (the step to hand to the explicit method).
    pub(super) fn last_bdf_step(&self) -> f64 {
        self.h_last
    }

    /// The bound `rho(J) <= ||D^-1 J D||_inf`, `D = diag(atol + rtol |y|)`.
    ///
    /// Rodas runs it after every step, so it reads `J` column by column (its
    /// storage order) with the weights computed once, each row still summed over
    /// `j` in order: indexing `J(i, j)` and recomputing a weight per entry cost
    /// `auto` a few per cent against `rodas5p` on the 11-state il6 loop.
    pub(super) fn spectral_bound(
        &mut self,
        jac: &DMatrix<f64>,
        y: &[f64],
        rtol: f64,
        atol: f64,
    ) -> f64 {
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
        self.rows
            .iter()
            .zip(&self.w)
            .fold(0.0f64, |m, (&r, &wi)| m.max(r / wi))
    }

    /// Count one accepted step with `h rho`; true after `needed` in a row below
    /// [`NONSTIFF_H_RHO`].
    fn record(&mut self, h_rho: f64, needed: u32) -> bool {
        if h_rho < NONSTIFF_H_RHO {
            self.steps += 1;
            if self.steps >= needed {
                self.steps = 0;
                return true;
            }
        } else {
            self.steps = 0;
        }
        false
    }
}

/// Systems of at least this many states may run BDF as the stiff method.
pub const BDF_MIN_STATES: usize = 10;
/// Relative tolerances at or below which BDF may be the stiff method.
pub const BDF_MAX_RTOL: f64 = 1e-7;

/// The stiff method `auto` runs ([`Method::Bdf`] or [`Method::Rodas5p`]) on a
/// system of `n` states at `rtol`, `restarted` telling whether the run has
/// restarted (a dose, an event, a change of state) since its first step. See the
/// module docs for the measurements behind the rule.
pub fn stiff_method(n: usize, rtol: f64, restarted: bool) -> Method {
    if n >= BDF_MIN_STATES && rtol <= BDF_MAX_RTOL && !restarted {
        Method::Bdf
    } else {
        Method::Rodas5p
    }
}

/// Which method runs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Explicit,
    Rodas,
    Bdf,
}

/// Dopri5, Rodas5P and BDF with automatic switching (see the module docs).
pub struct Auto {
    rtol: f64,
    explicit: Dopri5,
    rodas: Rodas,
    bdf: Bdf,
    mode: Mode,
    restarts: u64,
    /// Whether a restart came after the first accepted step.
    restarted: bool,
    switches: u64,
}

impl Auto {
    pub fn new(rtol: f64, atol: f64) -> Auto {
        Auto {
            rtol,
            explicit: Dopri5::new(rtol, atol),
            rodas: Rodas::new(&RODAS5P, rtol, atol),
            bdf: Bdf::new(rtol, atol),
            mode: Mode::Explicit,
            restarts: 0,
            restarted: false,
            switches: 0,
        }
    }

    /// Method switches so far (either way, and between the stiff methods).
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// Whether a stiff method is the one running.
    pub fn is_stiff(&self) -> bool {
        self.mode != Mode::Explicit
    }

    /// The method running now: [`Method::Dopri5`], [`Method::Rodas5p`] or
    /// [`Method::Bdf`].
    pub fn running(&self) -> Method {
        match self.mode {
            Mode::Explicit => Method::Dopri5,
            Mode::Rodas => Method::Rodas5p,
            Mode::Bdf => Method::Bdf,
        }
    }

    /// The stiff mode the rule picks for a system of `n` states now.
    fn stiff_mode(&self, n: usize) -> Mode {
        match stiff_method(n, self.rtol, self.restarted) {
            Method::Bdf => Mode::Bdf,
            _ => Mode::Rodas,
        }
    }

    /// Back to Dopri5 (its step already handed over).
    fn back_to_explicit(&mut self) {
        self.explicit.restart();
        self.mode = Mode::Explicit;
        self.switches += 1;
    }

    /// Enter stiff mode `mode` with the step `h` of the method that ran.
    fn enter(&mut self, mode: Mode, h: f64) {
        match mode {
            Mode::Rodas => {
                self.rodas.set_step_size(h);
                self.rodas.restart();
            }
            // BDF starts at order 1 with the step it last had, capped by the
            // starting-step probe (as after a dose), or with the probe's step on
            // its first use; its step size is its own.
            Mode::Bdf => self.bdf.restart(),
            Mode::Explicit => {}
        }
        self.mode = mode;
        self.switches += 1;
    }
}

impl Solver for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn restart(&mut self) {
        self.restarted |= self.stats().accepted > 0;
        self.explicit.restart();
        self.rodas.restart();
        self.bdf.restart();
        self.restarts += 1;
    }

    fn stats(&self) -> SolverStats {
        let (a, b, c) = (self.explicit.stats(), self.rodas.stats(), self.bdf.stats());
        SolverStats {
            rhs_evals: a.rhs_evals + b.rhs_evals + c.rhs_evals,
            jacobian_evals: a.jacobian_evals + b.jacobian_evals + c.jacobian_evals,
            accepted: a.accepted + b.accepted + c.accepted,
            rejected: a.rejected + b.rejected + c.rejected,
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
        // A restart since BDF was chosen hands over to Rodas5P (both restarted).
        if self.mode == Mode::Bdf && self.stiff_mode(y.len()) == Mode::Rodas {
            self.mode = Mode::Rodas;
            self.switches += 1;
        }
        loop {
            match self.mode {
                Mode::Rodas => match self
                    .rodas
                    .integrate(sys, t, y, t_end, outs, &mut *out, true)?
                {
                    Stop::NonStiff => {
                        self.explicit.set_step_size(self.rodas.step_size());
                        self.back_to_explicit();
                    }
                    _ => return Ok(()),
                },
                Mode::Bdf => match self
                    .bdf
                    .integrate(sys, t, y, t_end, outs, &mut *out, true)?
                {
                    Stop::NonStiff => {
                        self.explicit.set_step_size(self.bdf.last_counted_step());
                        self.back_to_explicit();
                        // BDF also hands back at the segment's end.
                        if *t >= t_end {
                            return Ok(());
                        }
                    }
                    _ => return Ok(()),
                },
                Mode::Explicit => match self
                    .explicit
                    .integrate(sys, t, y, t_end, outs, &mut *out, true)?
                {
                    Stop::Stiff => {
                        let mode = self.stiff_mode(y.len());
                        self.enter(mode, self.explicit.step_size());
                    }
                    _ => return Ok(()),
                },
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

    /// Ten slow decays and one fast component that tracks `cos t` at the rate
    /// `k0 exp(-t / tau)`: stiff while `k0 exp(-t / tau)` is large.
    struct Tracking {
        k0: f64,
        tau: f64,
    }

    impl OdeSystem for Tracking {
        fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
            let k = self.k0 * (-t / self.tau).exp();
            dy[0] = -k * (y[0] - t.cos());
            for i in 1..y.len() {
                dy[i] = -0.1 * i as f64 * y[i] + 0.01 * y[i - 1];
            }
        }
        fn jacobian(&mut self, t: f64, y: &[f64], jac: &mut DMatrix<f64>) {
            jac.fill(0.0);
            jac[(0, 0)] = -self.k0 * (-t / self.tau).exp();
            for i in 1..y.len() {
                jac[(i, i)] = -0.1 * i as f64;
                jac[(i, i - 1)] = 0.01;
            }
        }
    }

    /// `y(t_end)` of [`Tracking`] with `n` states under `solver`, restarted (as at
    /// a dose that changes nothing) at each of `stops`.
    fn track(solver: &mut dyn Solver, n: usize, tau: f64, stops: &[f64], t_end: f64) -> Vec<f64> {
        let mut sys = Tracking { k0: 1e4, tau };
        let (mut t, mut y) = (0.0, vec![1.0; n]);
        for &stop in stops.iter().chain([&t_end]) {
            solver
                .advance(&mut sys, &mut t, &mut y, stop, &[], &mut |_, _| {})
                .unwrap();
            solver.restart();
        }
        y
    }

    fn max_rel(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0, |m, (x, y)| m.max((x - y).abs() / y.abs().max(1e-6)))
    }

    #[test]
    fn the_rule_picks_bdf_only_for_large_undosed_systems_at_tight_tolerances() {
        assert_eq!(stiff_method(20, 1e-7, false), Method::Bdf);
        assert_eq!(stiff_method(10, 1e-10, false), Method::Bdf);
        assert_eq!(stiff_method(20, 1e-6, false), Method::Rodas5p);
        assert_eq!(stiff_method(9, 1e-10, false), Method::Rodas5p);
        assert_eq!(stiff_method(3, 1e-10, false), Method::Rodas5p);
        assert_eq!(stiff_method(20, 1e-10, true), Method::Rodas5p);
    }

    /// Where the rule says BDF, `auto` runs BDF (a Jacobian kept over many steps)
    /// and is as accurate as BDF alone; a looser tolerance or a smaller system
    /// runs Rodas5P (a Jacobian every step).
    #[test]
    fn auto_runs_the_stiff_method_the_rule_picks() {
        let reference = track(&mut Rodas::new(&RODAS5P, 1e-12, 1e-14), 12, 1e9, &[], 2.0);
        for (n, rtol, want) in [
            (12, 1e-8, Method::Bdf),
            (12, 1e-6, Method::Rodas5p),
            (6, 1e-8, Method::Rodas5p),
        ] {
            let mut s = Auto::new(rtol, rtol * 1e-3);
            let y = track(&mut s, n, 1e9, &[], 2.0);
            assert_eq!(
                (s.running(), s.switches()),
                (want, 1),
                "n {n} rtol {rtol:e}"
            );
            let st = s.stats();
            let reused = st.jacobian_evals * 5 < st.accepted;
            assert_eq!(reused, want == Method::Bdf, "n {n} rtol {rtol:e}: {st:?}");
            let alone = track(&mut *want.solver(rtol, rtol * 1e-3), n, 1e9, &[], 2.0);
            let (e_auto, e_alone) = (
                max_rel(&y, &reference[..n]),
                max_rel(&alone, &reference[..n]),
            );
            assert!(
                e_auto < 10.0 * e_alone.max(rtol),
                "n {n} rtol {rtol:e}: auto {e_auto:e}, {} {e_alone:e}",
                want.label()
            );
        }
    }

    /// While the switch-back test does not fire, BDF under `auto` (with the test
    /// on) takes exactly the steps of BDF alone: the test only observes, so a
    /// stiff stretch of `auto` is BDF's to the bit.
    #[test]
    fn bdf_under_auto_is_bdf_bit_for_bit() {
        let outs: Vec<f64> = (1..20).map(|k| 0.1 * k as f64).collect();
        let run = |detect: bool| {
            let mut sys = Tracking { k0: 1e4, tau: 1e9 };
            let mut bdf = Bdf::new(1e-8, 1e-11);
            let (mut t, mut y, mut seen) = (0.0, vec![1.0; 12], Vec::new());
            let mut out = |t: f64, y: &[f64]| seen.push((t, y.to_vec()));
            let stop = bdf
                .integrate(&mut sys, &mut t, &mut y, 2.0, &outs, &mut out, detect)
                .unwrap();
            (stop, t, y, seen, bdf.stats())
        };
        let (stop, t, y, seen, stats) = run(true);
        assert_eq!(stop, Stop::Reached);
        assert_eq!((t, y, seen, stats), {
            let (_, t, y, seen, stats) = run(false);
            (t, y, seen, stats)
        });
    }

    /// A restart after the first step (a dose) hands BDF over to Rodas5P.
    #[test]
    fn a_restart_hands_bdf_over_to_rodas() {
        let mut s = Auto::new(1e-8, 1e-11);
        track(&mut s, 12, 1e9, &[], 1.0);
        assert_eq!(s.running(), Method::Bdf);
        let reference = track(
            &mut Rodas::new(&RODAS5P, 1e-12, 1e-14),
            12,
            1e9,
            &[1.0],
            2.0,
        );
        let mut s = Auto::new(1e-8, 1e-11);
        let y = track(&mut s, 12, 1e9, &[1.0], 2.0);
        assert_eq!((s.running(), s.switches()), (Method::Rodas5p, 2));
        assert!(
            max_rel(&y, &reference) < 1e-7,
            "{:e}",
            max_rel(&y, &reference)
        );
    }

    /// Once the fast rate has decayed, BDF hands back to Dopri5 (the same bound as
    /// from Rodas5P), and the result stays accurate.
    #[test]
    fn bdf_switches_back_when_the_problem_is_no_longer_stiff() {
        let reference = track(&mut Rodas::new(&RODAS5P, 1e-12, 1e-14), 12, 1.0, &[], 20.0);
        let mut s = Auto::new(1e-8, 1e-11);
        let y = track(&mut s, 12, 1.0, &[], 20.0);
        assert_eq!(s.running(), Method::Dopri5);
        assert!(s.switches() >= 2, "{}", s.switches());
        assert!(s.bdf.stats().accepted > 0, "{:?}", s.bdf.stats());
        // The global error over 20 time units, at rtol 1e-8.
        assert!(
            max_rel(&y, &reference) < 1e-6,
            "{:e}",
            max_rel(&y, &reference)
        );
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
