//! A fixed list of dose events on any [`Engine`]: the `simulate` command's run.
//!
//! Advance to the next dose or output time, apply the doses due, record a row at each
//! output time, go on. Therapy schedules (refreshes, escalation decisions, passaging)
//! go through `crate::therapy` instead, over the same trait.

use super::ode::{Column, RowRecorder, SimError, Timeline};
use super::Engine;
use crate::pkpd::DoseEvent;

/// Run `engine` from its current time to `outs`' last time under `doses`, recording
/// a timeline row at every time of `outs` (sorted, starting at the engine's time).
/// Doses at an output time are applied before that row is recorded.
pub fn run_doses(
    engine: &mut dyn Engine,
    recorder: &mut RowRecorder,
    doses: &[DoseEvent],
    outs: &[f64],
    time_unit: &str,
) -> Result<Timeline, SimError> {
    let Some(&t_end) = outs.last() else {
        return Err(SimError::Settings("no output time".into()));
    };
    let mut events: Vec<DoseEvent> = doses.iter().copied().filter(|e| e.time <= t_end).collect();
    events.sort_by(|a, b| a.time.total_cmp(&b.time));
    let columns: Vec<Column> = recorder.columns();
    let mut values = Vec::with_capacity(columns.len() * outs.len());
    let (mut ei, mut oi) = (0, 0);
    loop {
        let t = engine.time();
        while ei < events.len() && events[ei].time <= t {
            engine.apply_dose(events[ei].drug, events[ei].kind)?;
            ei += 1;
        }
        while oi < outs.len() && outs[oi] <= t {
            recorder.row(
                outs[oi],
                engine.population(),
                engine.exposure(),
                &mut values,
            );
            oi += 1;
        }
        if oi == outs.len() {
            break;
        }
        let next = events
            .get(ei)
            .map_or(f64::INFINITY, |e| e.time)
            .min(outs[oi]);
        engine.advance_to(next, &[])?;
    }
    Ok(Timeline {
        times: outs.to_vec(),
        time_unit: time_unit.to_string(),
        columns,
        values,
    })
}
