//! What every method with a dense output does after it accepts a step: check the
//! new state, locate a failure or an event inside the step on the dense output,
//! emit the outputs the step covers, rearm events. Written once, used by Rodas,
//! Radau IIA and BDF, so the event and output semantics cannot drift apart.

use super::solver::{locate_event, locate_failure, next_due, OdeSystem, SolverError};

/// The end state of an accepted step `[t0, t0 + h]` (ending at `t_new`), judged:
/// whether it passes [`OdeSystem::check`], whether an armed event is due there,
/// and whether an output time falls inside the step.
pub struct StepEnd {
    checked: Result<(), SolverError>,
    event: bool,
    due: bool,
}

impl StepEnd {
    /// Judge the state `ynew` at `t_new`; `outs[next_out..]` are the outputs not yet
    /// emitted, `t_end` the end of the segment.
    pub fn judge(
        sys: &mut dyn OdeSystem,
        t_new: f64,
        ynew: &[f64],
        outs: &[f64],
        next_out: usize,
        t_end: f64,
    ) -> StepEnd {
        let due = outs
            .get(next_out)
            .is_some_and(|&tk| tk < t_new && tk < t_end);
        let checked = sys.check(t_new, ynew);
        let event = checked.is_ok() && sys.has_events() && sys.event_due(t_new, ynew);
        StepEnd {
            checked,
            event,
            due,
        }
    }

    /// Whether [`StepEnd::finish`] will evaluate the dense output (a method that
    /// builds it lazily builds it only then).
    pub fn needs_dense(&self) -> bool {
        self.due || self.checked.is_err() || self.event
    }

    /// Act on the judgement, with `interp(theta, buf)` the step's dense output
    /// (theta in [0, 1] over `[t0, t0 + h]`) and `buf` scratch of the state's
    /// length:
    /// - a failed state is an error, reported at the earliest failing point of
    ///   the dense output ([`locate_failure`]);
    /// - a due event stops the step where the trigger first holds
    ///   ([`locate_event`]): the outputs before it are emitted, `buf` holds the
    ///   state there, and its time is returned (the caller moves to it and
    ///   forgets what it knew about the old state);
    /// - otherwise the events are rearmed at `(t_new, ynew)`, the outputs inside
    ///   the step are emitted, and `None` is returned.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        self,
        sys: &mut dyn OdeSystem,
        (t0, h, t_new, t_end): (f64, f64, f64, f64),
        ynew: &[f64],
        (outs, next_out): (&[f64], &mut usize),
        out: &mut dyn FnMut(f64, &[f64]),
        buf: &mut [f64],
        interp: &dyn Fn(f64, &mut [f64]),
    ) -> Result<Option<f64>, SolverError> {
        if let Err(e) = self.checked {
            return Err(locate_failure(sys, t0, h, buf, interp).unwrap_or(e));
        }
        if self.event {
            let theta = locate_event(sys, t0, h, buf, interp);
            let t_event = t0 + theta * h;
            while let Some(tk) = next_due(outs, next_out, t_event, t_end) {
                interp((tk - t0) / h, buf);
                out(tk, buf);
            }
            interp(theta, buf);
            return Ok(Some(t_event));
        }
        if sys.has_events() {
            sys.rearm(t_new, ynew);
        }
        while let Some(tk) = next_due(outs, next_out, t_new, t_end) {
            interp((tk - t0) / h, buf);
            out(tk, buf);
        }
        Ok(None)
    }
}
