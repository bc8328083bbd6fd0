//! The solver interface shared by every method, and its errors.

use std::fmt;

use nalgebra::DMatrix;

/// A system of ODEs `dy/dt = f(t, y)`.
pub trait OdeSystem {
    fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]);
    /// `J = df/dy`. The default is forward differences; systems with an exact
    /// Jacobian override it.
    fn jacobian(&mut self, t: f64, y: &[f64], jac: &mut DMatrix<f64>) {
        let n = y.len();
        let mut f0 = vec![0.0; n];
        let mut f1 = vec![0.0; n];
        let mut yp = y.to_vec();
        self.rhs(t, y, &mut f0);
        for j in 0..n {
            let h = 1e-8 * y[j].abs().max(1e-6);
            yp[j] = y[j] + h;
            self.rhs(t, &yp, &mut f1);
            for i in 0..n {
                jac[(i, j)] = (f1[i] - f0[i]) / h;
            }
            yp[j] = y[j];
        }
    }
    /// Check an accepted state; an error stops the run and reports when and what.
    fn check(&self, t: f64, y: &[f64]) -> Result<(), SolverError> {
        check_finite(t, y, |i| format!("y[{i}]"))
    }
    /// Whether the system has events (conditions at which integration must stop).
    fn has_events(&self) -> bool {
        false
    }
    /// Whether an armed event's trigger holds at `(t, y)` (a state inside or at the
    /// end of a step; must not change which events are armed).
    fn event_due(&mut self, _t: f64, _y: &[f64]) -> bool {
        false
    }
    /// An accepted state at which no event was due: arm every event whose trigger
    /// is false there, so that it fires when the trigger next becomes true.
    fn rearm(&mut self, _t: f64, _y: &[f64]) {}
}

/// Report the first non-finite component.
pub fn check_finite(t: f64, y: &[f64], name: impl Fn(usize) -> String) -> Result<(), SolverError> {
    match y.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(SolverError {
            time: t,
            kind: SolverErrorKind::NonFinite {
                variable: name(i),
                value: y[i],
            },
        }),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SolverErrorKind {
    NonFinite {
        variable: String,
        value: f64,
    },
    Negative {
        variable: String,
        value: f64,
        tolerance: f64,
    },
    StepSizeUnderflow {
        step: f64,
        limit: Option<StepLimit>,
    },
    TooManySteps {
        steps: u64,
        limit: Option<StepLimit>,
    },
    SingularMatrix,
    /// The solver could not produce a requested output time.
    OutputUnavailable,
    /// Events kept triggering each other at one instant.
    EventLoop {
        rounds: usize,
    },
}

/// What held the step size down when a method stalled (step-size underflow, too
/// many steps): the variable whose rate is the largest relative to the tolerances at
/// the last accepted state, and the method, for a hint at what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLimit {
    pub variable: String,
    pub method: &'static str,
}

impl fmt::Display for StepLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "; the fastest variable relative to the tolerances is `{}`",
            self.variable
        )?;
        if self.method == "dopri5" {
            write!(
                f,
                ". dopri5 is explicit: on a stiff model (fast and slow time scales together) \
                 its step stays tiny; use --method auto (the default) or rodas5p"
            )
        } else {
            write!(
                f,
                ". Look at its rate law: a jump inside the run (a threshold in an \
                 expression), or a value racing off to infinity, stalls any method; or \
                 loosen --rtol / --atol"
            )
        }
    }
}

/// A numerical failure, with the time it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverError {
    pub time: f64,
    pub kind: SolverErrorKind,
}

impl fmt::Display for SolverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "numerical failure at t = {}: ", self.time)?;
        match &self.kind {
            SolverErrorKind::NonFinite { variable, value } => {
                write!(f, "`{variable}` became {value}")
            }
            SolverErrorKind::Negative {
                variable,
                value,
                tolerance,
            } => {
                write!(
                    f,
                    "`{variable}` went negative ({value:e}, beyond the tolerance -{tolerance:e})"
                )
            }
            SolverErrorKind::StepSizeUnderflow { step, limit } => {
                write!(f, "step size underflow (h = {step:e})")?;
                limit.iter().try_for_each(|l| write!(f, "{l}"))
            }
            SolverErrorKind::TooManySteps { steps, limit } => {
                write!(f, "more than {steps} steps")?;
                limit.iter().try_for_each(|l| write!(f, "{l}"))
            }
            SolverErrorKind::SingularMatrix => write!(f, "singular iteration matrix"),
            SolverErrorKind::OutputUnavailable => {
                write!(f, "no solution available at this output time")
            }
            SolverErrorKind::EventLoop { rounds } => write!(
                f,
                "events kept triggering each other for {rounds} rounds at one instant"
            ),
        }
    }
}

impl std::error::Error for SolverError {}

/// Work counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SolverStats {
    pub rhs_evals: u64,
    pub jacobian_evals: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub restarts: u64,
}

/// A one-step integrator that can stop at discontinuities and restart cheaply.
pub trait Solver {
    fn name(&self) -> &'static str;
    /// Integrate from `*t` to `t_end` (no discontinuity in between), calling
    /// `out(t_k, y(t_k))` for every `t_k` in `outs` with `*t <= t_k < t_end`, in order.
    /// On success `*t == t_end` and `y` holds `y(t_end)`.
    fn advance(
        &mut self,
        sys: &mut dyn OdeSystem,
        t: &mut f64,
        y: &mut [f64],
        t_end: f64,
        outs: &[f64],
        out: &mut dyn FnMut(f64, &[f64]),
    ) -> Result<(), SolverError>;
    /// Forget derivative information after a discontinuity (the state changed);
    /// keep the step size, which is the cheap restart.
    fn restart(&mut self);
    fn stats(&self) -> SolverStats;
    /// Whether [`Solver::advance`] stops at events of a system that has them (then
    /// it returns early, with `*t` the event time located on the step's dense
    /// output and `y` the state there; see [`locate_event`]).
    fn supports_events(&self) -> bool {
        false
    }
}

/// A borrowed solver is a solver (lets a caller lend one to a run and reuse it).
impl<S: Solver + ?Sized> Solver for &mut S {
    fn name(&self) -> &'static str {
        (**self).name()
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
        (**self).advance(sys, t, y, t_end, outs, out)
    }
    fn restart(&mut self) {
        (**self).restart()
    }
    fn stats(&self) -> SolverStats {
        (**self).stats()
    }
    fn supports_events(&self) -> bool {
        (**self).supports_events()
    }
}

/// Which integrator to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Dopri5 until stiffness is detected, then Rodas5P or BDF, and back
    /// (default; see [`super::Auto`] for how it decides).
    #[default]
    Auto,
    /// Dormand-Prince 5(4), allocation-free, warm restarts.
    Dopri5,
    /// The `ode_solvers` crate's Dopri5 (reference and comparison).
    OdeSolversDopri5,
    /// Rosenbrock 2(3) (Shampine-Reichelt `ode23s`) on the exact symbolic Jacobian.
    Rosenbrock23,
    /// Rodas4 (Hairer-Wanner), order 4, on the exact Jacobian.
    Rodas4,
    /// Rodas5P (Steinebach), order 5, on the exact Jacobian: `auto`'s stiff
    /// method for small systems, loose tolerances and dosed runs.
    Rodas5p,
    /// Radau IIA (Hairer-Wanner RADAU5), order 5, implicit, reusing its Jacobian
    /// and LU over many steps: tight tolerances.
    Radau5,
    /// Variable-order (1 to 5) BDF/NDF (CVODE's reuse rules for Jacobian and LU):
    /// stiff problems at tight tolerances; `auto`'s stiff method for undosed
    /// systems of 10 or more states at rtol 1e-7 and below.
    Bdf,
}

impl Method {
    /// Every method, in the order help texts list them.
    pub const ALL: [Method; 8] = [
        Method::Auto,
        Method::Dopri5,
        Method::Rodas5p,
        Method::Radau5,
        Method::Bdf,
        Method::Rodas4,
        Method::Rosenbrock23,
        Method::OdeSolversDopri5,
    ];
    /// What the command line and files accept, for error messages.
    pub const EXPECTED: &'static str =
        "auto, dopri5, rodas5p, radau5, bdf, rodas4, rosenbrock23 or ode-solvers-dopri5";

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "stiff" => Some(Method::Rodas5p),
            _ => Method::ALL.into_iter().find(|m| m.label() == s),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Dopri5 => "dopri5",
            Method::OdeSolversDopri5 => "ode-solvers-dopri5",
            Method::Rosenbrock23 => "rosenbrock23",
            Method::Rodas4 => "rodas4",
            Method::Rodas5p => "rodas5p",
            Method::Radau5 => "radau5",
            Method::Bdf => "bdf",
        }
    }
    pub fn solver(self, rtol: f64, atol: f64) -> Box<dyn Solver> {
        match self {
            Method::Auto => Box::new(super::Auto::new(rtol, atol)),
            Method::Dopri5 => Box::new(super::Dopri5::new(rtol, atol)),
            Method::OdeSolversDopri5 => Box::new(super::OdeSolversDopri5::new(rtol, atol)),
            Method::Rosenbrock23 => Box::new(super::Rosenbrock23::new(rtol, atol)),
            Method::Rodas4 => Box::new(super::Rodas::new(&super::RODAS4, rtol, atol)),
            Method::Rodas5p => Box::new(super::Rodas::new(&super::RODAS5P, rtol, atol)),
            Method::Radau5 => Box::new(super::Radau5::new(rtol, atol)),
            Method::Bdf => Box::new(super::Bdf::new(rtol, atol)),
        }
    }
}

/// Start of [`Solver::advance`]: the index of the first requested output time not
/// before `t`, emitting `y` itself when an output falls exactly on `t` (the state
/// after any event just applied).
pub fn emit_start(
    outs: &[f64],
    t: f64,
    t_end: f64,
    y: &[f64],
    out: &mut dyn FnMut(f64, &[f64]),
) -> usize {
    let mut next = outs.partition_point(|&o| o < t);
    if next < outs.len() && outs[next] == t && t < t_end {
        out(t, y);
        next += 1;
    }
    next
}

/// The next requested output time inside a step ending at `t_new` (and before the
/// segment end), advancing the cursor; `None` when none is due.
#[inline]
pub fn next_due(outs: &[f64], next: &mut usize, t_new: f64, t_end: f64) -> Option<f64> {
    let tk = *outs.get(*next)?;
    if tk < t_new && tk < t_end {
        *next += 1;
        Some(tk)
    } else {
        None
    }
}

/// When a step ends in a state that fails [`OdeSystem::check`], the earliest time
/// within the step at which the step's dense output `interp(theta, buf)` (theta in
/// [0, 1] over `[t0, t0 + h]`) already fails it: a coarse scan, then bisection. So
/// an error reports when things went wrong, not when the step that noticed it ended.
pub fn locate_failure(
    sys: &dyn OdeSystem,
    t0: f64,
    h: f64,
    buf: &mut [f64],
    interp: &dyn Fn(f64, &mut [f64]),
) -> Option<SolverError> {
    let fails = |theta: f64, buf: &mut [f64]| {
        interp(theta, buf);
        sys.check(t0 + theta * h, buf).is_err()
    };
    let mut hi = 1.0;
    for k in 1..=32 {
        let theta = k as f64 / 32.0;
        if fails(theta, buf) {
            hi = theta;
            break;
        }
    }
    let mut lo = hi - 1.0 / 32.0;
    if lo <= 0.0 && fails(0.0, buf) {
        hi = 0.0;
    }
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if fails(mid, buf) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    interp(hi, buf);
    sys.check(t0 + hi * h, buf).err()
}

/// The earliest point of a step `[t0, t0 + h]` at which an event is due, given that
/// none was due at `t0` and one is at the step's end: bisection on the step's dense
/// output `interp(theta, buf)` to the resolution of floating point (60 halvings of
/// theta). Returns theta at the first due point; `buf` holds the state there. A
/// trigger that turns on and off again within one step is not seen (as in every
/// integrator that looks for sign changes at step ends).
pub fn locate_event(
    sys: &mut dyn OdeSystem,
    t0: f64,
    h: f64,
    buf: &mut [f64],
    interp: &dyn Fn(f64, &mut [f64]),
) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        interp(mid, buf);
        if sys.event_due(t0 + mid * h, buf) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    interp(hi, buf);
    hi
}

/// Whether the controller has driven the step `h` from `t` below what floating
/// point can resolve (a numerical failure). A step that reaches the segment end
/// `t_end` is never an underflow: a caller may ask for a segment shorter than
/// the threshold (two stops that differ by rounding), and that step is exact.
#[inline]
pub fn step_underflow(h: f64, t: f64, t_end: f64) -> bool {
    h.is_nan() || (h <= 1e-14 * t.abs().max(1.0) && t + h < t_end)
}

/// The checks every integrator makes before a step attempt: at most `max_steps`
/// attempts in one advance, and no step size below what floating point resolves.
#[inline]
pub fn step_guard(
    steps: u64,
    max_steps: u64,
    h: f64,
    t: f64,
    t_end: f64,
) -> Result<(), SolverError> {
    if steps > max_steps {
        return Err(SolverError {
            time: t,
            kind: SolverErrorKind::TooManySteps {
                steps: max_steps,
                limit: None,
            },
        });
    }
    if step_underflow(h, t, t_end) {
        return Err(SolverError {
            time: t,
            kind: SolverErrorKind::StepSizeUnderflow {
                step: h,
                limit: None,
            },
        });
    }
    Ok(())
}

/// `df/dt` at `(t, y)` into `dfdt`, with `f0 = f(t, y)`; returns the right-hand
/// sides spent. The rates depend on time through decaying drug exposure, so
/// `df/dt` is smooth on a step's scale: a one-sided second-order difference over
/// `1e-3 h` and `2e-3 h` is accurate to `O((1e-3 h / tau)^2)` for an exposure decaying
/// with time constant `tau`, and its rounding error enters the stages as
/// `h gamma_i df/dt`, that is a few `1e3 eps |f|`. It samples only times inside the
/// step `[t, t + h]`: a run is split into segments at every jump in time (a dose, the
/// end of a host's lag), and a central difference at a segment's start reached back
/// across the jump, gave a `df/dt` of order `jump / h` and stalled the step size.
/// (A forward difference over `1e-7 max(|t|, 1)` was off by a relative `5e-8 t / tau`,
/// about 2e-6 late in a year-long run: it held the error of the dosed loop above 1e-8
/// at rtol 1e-9 and tripled its steps at 1e-10.) When `f(t + dt) == f(t)` exactly the
/// system does not depend on time (no drug decays now) and the second evaluation is
/// skipped.
pub fn time_derivative(
    sys: &mut dyn OdeSystem,
    t: f64,
    h: f64,
    y: &[f64],
    f0: &[f64],
    dfdt: &mut [f64],
    [f1, f2]: [&mut Vec<f64>; 2],
) -> u64 {
    let n = y.len();
    // Above rounding level, but never past the step's end (a tiny last step before a
    // jump must not see the jump).
    let dt = (1e-3 * h)
        .max(64.0 * f64::EPSILON * t.abs().max(1.0))
        .min(0.5 * h);
    // The increments actually represented in floating point.
    let (t1, t2) = (t + dt, t + 2.0 * dt);
    sys.rhs(t1, y, f1);
    if f1[..n] == f0[..n] {
        dfdt[..n].fill(0.0);
        return 1;
    }
    sys.rhs(t2, y, f2);
    // The derivative at t of the parabola through (t, f0), (t1, f1), (t2, f2).
    let (d1, d2) = (t1 - t, t2 - t);
    let inv = 1.0 / (d1 * d2 * (d2 - d1));
    for i in 0..n {
        dfdt[i] = ((f1[i] - f0[i]) * d2 * d2 - (f2[i] - f0[i]) * d1 * d1) * inv;
    }
    2
}

/// Weighted RMS norm used by the step-size controllers: each error is divided
/// by `atol + rtol max(|y0_i|, |y1_i|)`.
#[inline]
pub fn error_norm(err: &[f64], y0: &[f64], y1: &[f64], rtol: f64, atol: f64) -> f64 {
    let scaled = err.iter().zip(y0.iter().zip(y1));
    rms(scaled.map(|(&e, (&a, &b))| e / (atol + rtol * a.abs().max(b.abs()))))
}

/// Root mean square of already weighted errors: the one norm of every error
/// test and Newton convergence test, whichever way a method keeps its weights
/// (computed per step here, kept as scales in Radau5, as reciprocals in BDF).
#[inline]
pub fn rms(weighted: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = weighted.fold((0.0, 0usize), |(s, n), e| (s + e * e, n + 1));
    (s / n.max(1) as f64).sqrt()
}

/// Hairer's starting step size (Solving ODEs I, II.4): an explicit Euler probe.
/// Returns the step and the number of right-hand-side evaluations it made (1).
#[allow(clippy::too_many_arguments)]
pub fn initial_step(
    sys: &mut dyn OdeSystem,
    t: f64,
    y: &[f64],
    f0: &[f64],
    order: i32,
    rtol: f64,
    atol: f64,
    h_max: f64,
) -> (f64, u64) {
    let n = y.len();
    let (mut y1, mut f1) = (vec![0.0; n], vec![0.0; n]);
    let s = initial_step_in(sys, t, y, f0, order, rtol, atol, h_max, &mut y1, &mut f1);
    (s.h, s.rhs_evals)
}

/// What [`initial_step_in`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartStep {
    pub h: f64,
    pub rhs_evals: u64,
    /// False when the probe saw (almost) no motion (f or its change below the
    /// thresholds), so `h` is Hairer's fallback guess (1e-6 or so), or when the
    /// estimate fell below the floor: not a measurement of the state's motion, so
    /// a warm restart should not be capped by it.
    pub informative: bool,
}

/// The step a segment starts with, given the probe `start` at its first state:
/// Hairer's estimate on a cold start; on a warm restart (after a dose) the step
/// carried over, capped by the estimate when the probe measured motion (a dose
/// changes f abruptly, and the step tuned to the slow tail before it would be
/// rejected), and kept as it is when the probe saw none (its fallback is a guess).
pub fn starting_step(carried: f64, warm: bool, start: StartStep) -> f64 {
    if !warm {
        start.h
    } else if start.informative {
        carried.min(start.h)
    } else {
        carried
    }
}

/// The start of a segment `[t, t + span]` for a one-step method that carries
/// `f(t, y)` from step to step (first same as last) and its step size across
/// restarts: `f0` is evaluated when a restart dropped it (`fsal` false), and the
/// step `h` is Hairer's estimate for a method of `order` on a cold start, or the
/// carried step capped by it after a restart ([`starting_step`]). `scratch` is two
/// buffers of the length of `y`. Returns the right-hand sides spent.
pub fn start_segment(
    sys: &mut dyn OdeSystem,
    (t, y, span): (f64, &[f64], f64),
    (f0, fsal, h): (&mut [f64], &mut bool, &mut f64),
    (order, rtol, atol): (i32, f64, f64),
    [y1, f1]: [&mut [f64]; 2],
) -> u64 {
    let warm = !*fsal && *h > 0.0;
    let mut evals = 0;
    if !*fsal {
        sys.rhs(t, y, f0);
        evals += 1;
        *fsal = true;
    }
    if *h <= 0.0 || warm {
        let start = initial_step_in(sys, t, y, f0, order, rtol, atol, span, y1, f1);
        evals += start.rhs_evals;
        *h = starting_step(*h, warm, start);
    }
    evals
}

/// [`initial_step`] with caller-provided scratch `y1`, `f1` (length of `y`), for
/// solvers that call it at every restart and must not allocate.
#[allow(clippy::too_many_arguments)]
pub fn initial_step_in(
    sys: &mut dyn OdeSystem,
    t: f64,
    y: &[f64],
    f0: &[f64],
    order: i32,
    rtol: f64,
    atol: f64,
    h_max: f64,
    y1: &mut [f64],
    f1: &mut [f64],
) -> StartStep {
    let n = y.len();
    let (mut d0, mut d1) = (0.0, 0.0);
    for i in 0..n {
        let sc = atol + rtol * y[i].abs();
        d0 += (y[i] / sc).powi(2);
        d1 += (f0[i] / sc).powi(2);
    }
    let (d0, d1) = ((d0 / n as f64).sqrt(), (d1 / n as f64).sqrt());
    let still = d0 < 1e-5 || d1 < 1e-5;
    let h0 = if still { 1e-6 } else { 0.01 * d0 / d1 }.min(h_max);
    for i in 0..n {
        y1[i] = y[i] + h0 * f0[i];
    }
    sys.rhs(t + h0, y1, f1);
    let mut d2 = 0.0;
    for i in 0..n {
        let sc = atol + rtol * y[i].abs();
        d2 += ((f1[i] - f0[i]) / sc).powi(2);
    }
    let d2 = (d2 / n as f64).sqrt() / h0;
    let flat = d1.max(d2) <= 1e-15;
    let h1 = if flat {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / (order as f64 + 1.0))
    };
    // Floor: components that start at zero with a large rate under a tiny atol
    // (counts accumulated since the last stop, just reset to zero) drive the
    // estimate toward the resolution of t, where the first step would be
    // reported as an underflow; 1e3 times that resolution is still far below any
    // step the controller keeps, and it grows from there.
    // An estimate at the floor measured those components, not the motion of the
    // state, so it does not cap a warm restart either.
    let floor = 1e-11 * t.abs().max(1.0);
    let h = (100.0 * h0).min(h1);
    StartStep {
        h: h.max(floor).min(h_max),
        rhs_evals: 1,
        informative: !(still || flat || h < floor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y' = -50 (y - exp(-t / 5)), a drug level decaying late in a long run.
    struct Decaying;

    impl OdeSystem for Decaying {
        fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -50.0 * (y[0] - (-(t - 360.0) / 5.0).exp());
        }
    }

    /// df/dt is accurate to well below the tolerances a Rosenbrock step meets, late in
    /// a run and at short and long steps, and at a jump at the step's start; and costs
    /// one evaluation when f does not depend on time.
    #[test]
    fn time_derivative_is_accurate_late_in_a_run() {
        let (t, y) = (362.0, [0.5]);
        let exact = -50.0 / 5.0 * (-(t - 360.0) / 5.0f64).exp();
        for h in [1e-6, 1e-3, 0.1] {
            let (mut f0, mut dfdt) = (vec![0.0], vec![0.0]);
            let (mut a, mut b) = (vec![0.0], vec![0.0]);
            Decaying.rhs(t, &y, &mut f0);
            let evals = time_derivative(&mut Decaying, t, h, &y, &f0, &mut dfdt, [&mut a, &mut b]);
            assert_eq!(evals, 2);
            // Accurate, or (at tiny steps, where rounding dominates) its error enters
            // the stages as h x error below a few 1e3 eps |f|.
            let rel = ((dfdt[0] - exact) / exact).abs();
            let in_stage = h * (dfdt[0] - exact).abs() / f0[0].abs();
            assert!(
                rel < 1e-8 || in_stage < 1e4 * f64::EPSILON,
                "h {h}: relative error {rel:e}, {in_stage:e} of |f| in a stage"
            );
        }
        // A jump at the step's start (the end of a host's lag: no division before
        // it): only times inside the step count.
        struct JumpAt360;
        impl OdeSystem for JumpAt360 {
            fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
                let on = if t < 360.0 { 0.0 } else { 1.0 };
                dy[0] = on * y[0] - 50.0 * (y[0] - (-(t - 360.0) / 5.0).exp());
            }
        }
        let (t, exact) = (360.0, -50.0 / 5.0);
        let (mut f0, mut dfdt) = (vec![0.0], vec![0.0]);
        let (mut a, mut b) = (vec![0.0], vec![0.0]);
        JumpAt360.rhs(t, &y, &mut f0);
        time_derivative(&mut JumpAt360, t, 0.1, &y, &f0, &mut dfdt, [&mut a, &mut b]);
        let rel = ((dfdt[0] - exact) / exact).abs();
        assert!(rel < 1e-8, "at a jump: relative error {rel:e}");
        struct Autonomous;
        impl OdeSystem for Autonomous {
            fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
                dy[0] = -y[0];
            }
        }
        let (f0, mut dfdt) = (vec![-0.5], vec![1.0]);
        let (mut a, mut b) = (vec![0.0], vec![0.0]);
        let evals = time_derivative(
            &mut Autonomous,
            t,
            0.1,
            &y,
            &f0,
            &mut dfdt,
            [&mut a, &mut b],
        );
        assert_eq!((evals, dfdt[0]), (1, 0.0));
    }
}
