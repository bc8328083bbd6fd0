//! The `ode_solvers` crate's Dopri5 behind the [`Solver`] trait.
//!
//! Kept as a reference implementation and for comparison: each segment between
//! events is a fresh `ode_solvers::Dopri5` started with the last step size we saw
//! (it has no getter, so we read it off the accepted step times), and output
//! times are taken from its continuous output model.

use std::cell::RefCell;

use ode_solvers::continuous_output_model::ContinuousOutputModel;
use ode_solvers::{DVector, OutputType, System};

use super::solver::{
    emit_start, next_due, OdeSystem, Solver, SolverError, SolverErrorKind, SolverStats,
};

pub struct OdeSolversDopri5 {
    rtol: f64,
    atol: f64,
    h: f64,
    stats: SolverStats,
}

impl OdeSolversDopri5 {
    pub fn new(rtol: f64, atol: f64) -> OdeSolversDopri5 {
        OdeSolversDopri5 {
            rtol,
            atol,
            h: 0.0,
            stats: SolverStats::default(),
        }
    }
}

struct Wrap<'a> {
    sys: RefCell<&'a mut dyn OdeSystem>,
    failure: &'a RefCell<Option<SolverError>>,
}

impl System<f64, DVector<f64>> for Wrap<'_> {
    fn system(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        self.sys
            .borrow_mut()
            .rhs(t, y.as_slice(), dy.as_mut_slice());
    }
    fn solout(&mut self, t: f64, y: &DVector<f64>, _dy: &DVector<f64>) -> bool {
        match self.sys.borrow().check(t, y.as_slice()) {
            Ok(()) => false,
            Err(e) => {
                *self.failure.borrow_mut() = Some(e);
                true
            }
        }
    }
}

impl Solver for OdeSolversDopri5 {
    fn name(&self) -> &'static str {
        "ode-solvers-dopri5"
    }
    fn restart(&mut self) {
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
        let mut next_out = emit_start(outs, *t, t_end, y, out);
        if *t >= t_end {
            return Ok(());
        }
        let span = t_end - *t;
        let failure = RefCell::new(None);
        let wrap = Wrap {
            sys: RefCell::new(sys),
            failure: &failure,
        };
        let mut stepper = ode_solvers::Dopri5::from_param(
            wrap,
            *t,
            t_end,
            span,
            DVector::from_column_slice(y),
            self.rtol,
            self.atol,
            0.9,
            0.04,
            0.2,
            10.0,
            span,
            self.h.min(span),
            u32::MAX - 1,
            1000,
            OutputType::Continuous,
        );
        let mut model = ContinuousOutputModel::default();
        let res = stepper.integrate_with_continuous_output_model(&mut model);
        let xs = stepper.x_out().clone();
        let last_y = stepper.y_out().last().cloned();
        drop(stepper);
        if let Ok(st) = &res {
            self.stats.rhs_evals += st.num_eval as u64;
            self.stats.accepted += st.accepted_steps as u64;
            self.stats.rejected += st.rejected_steps as u64;
        }
        if let Some(e) = failure.into_inner() {
            return Err(e);
        }
        if let Err(e) = res {
            return Err(match e {
                ode_solvers::dop_shared::IntegrationError::StepSizeUnderflow { x } => SolverError {
                    time: x,
                    kind: SolverErrorKind::StepSizeUnderflow {
                        step: 0.0,
                        limit: None,
                    },
                },
                ode_solvers::dop_shared::IntegrationError::MaxNumStepReached { x, n_step } => {
                    SolverError {
                        time: x,
                        kind: SolverErrorKind::TooManySteps {
                            steps: n_step as u64,
                            limit: None,
                        },
                    }
                }
                ode_solvers::dop_shared::IntegrationError::StiffnessDetected { x } => SolverError {
                    time: x,
                    kind: SolverErrorKind::StepSizeUnderflow {
                        step: 0.0,
                        limit: None,
                    },
                },
            });
        }
        while let Some(tk) = next_due(outs, &mut next_out, t_end, t_end) {
            // The continuous model covers [*t, t_end]; a gap would misalign the
            // timeline, so it is an error rather than a skipped row.
            let v = model.evaluate(tk).ok_or(SolverError {
                time: tk,
                kind: SolverErrorKind::OutputUnavailable,
            })?;
            out(tk, v.as_slice());
        }
        if xs.len() >= 3 {
            let n = xs.len();
            self.h = (xs[n - 2] - xs[n - 3]).max(xs[n - 1] - xs[n - 2]);
        }
        if let Some(v) = last_y {
            y.copy_from_slice(v.as_slice());
        }
        *t = t_end;
        Ok(())
    }
}
