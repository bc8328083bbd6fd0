//! Drug exposure from dose events, for the agent-based engine.
//!
//! The events (from `--dose` specs or a model's `[scenario]`) are applied once, in
//! order, to the pharmacokinetic state of [`crate::pkpd::Exposure`]; the state after
//! each event is kept, so the concentration at any time is the closed form from the
//! last event at or before it. That makes the exposure a pure function of time, shared
//! read-only by every replicate and thread, and it reports every event time as a
//! discontinuity so that no engine step straddles a dose.

use super::error::AbmError;
use super::model::Exposure;
use crate::compile::CompiledModel;
use crate::pkpd::{self, DoseEvent};

/// Piecewise closed-form exposure from a list of dose events.
#[derive(Debug, Clone)]
pub struct DoseExposure {
    /// Distinct event times, increasing.
    times: Vec<f64>,
    /// Exposure state after all events at or before `times[k]`.
    after: Vec<pkpd::Exposure>,
    /// No drug (before the first event).
    before: pkpd::Exposure,
}

impl DoseExposure {
    /// Apply `events` (any order; ties keep their given order) to `model`'s drugs.
    pub fn new(model: &CompiledModel, events: &[DoseEvent]) -> Result<DoseExposure, AbmError> {
        let mut ev: Vec<&DoseEvent> = events.iter().collect();
        ev.sort_by(|a, b| a.time.total_cmp(&b.time));
        let before = pkpd::Exposure::new(model);
        let mut state = before.clone();
        let mut times: Vec<f64> = Vec::new();
        let mut after = Vec::new();
        for e in ev {
            if !e.time.is_finite() {
                return Err(AbmError::BadOption {
                    name: "dose time",
                    value: e.time,
                    reason: "must be finite",
                });
            }
            state
                .apply(e, model)
                .map_err(|x| AbmError::Exposure(x.to_string()))?;
            if times.last() == Some(&e.time) {
                *after.last_mut().expect("one state per time") = state.clone();
            } else {
                times.push(e.time);
                after.push(state.clone());
            }
        }
        Ok(DoseExposure {
            times,
            after,
            before,
        })
    }

    /// Event times (distinct, increasing).
    pub fn event_times(&self) -> &[f64] {
        &self.times
    }
}

impl Exposure for DoseExposure {
    fn drugs_at(&self, t: f64, out: &mut [f64]) {
        let k = self.times.partition_point(|&x| x <= t);
        let state = match k.checked_sub(1) {
            Some(i) => &self.after[i],
            None => &self.before,
        };
        state.concentrations(t, out);
    }

    fn next_discontinuity(&self, t: f64) -> Option<f64> {
        let k = self.times.partition_point(|&x| x <= t);
        self.times.get(k).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_str;
    use crate::pkpd::DoseKind;
    use std::path::Path;

    const MODEL: &str = r#"
[model]
name = "pk"
title = "t"
time_unit = "hours"
description = "d"
[species.x]
initial = 1.0
unit = "1"
description = "x"
rate = "0"
[drugs.a]
unit = "mg/L"
description = "a"
target = "x"
[drugs.a.in_vitro]
medium_half_life = 10.0
[drugs.a.in_vivo]
half_life = 5.0
volume = 2.0
[fate]
division = "0"
death = "0"
"#;

    /// In vitro refresh with a medium half-life, then boluses on top of each other:
    /// the closed forms of pkpd, the events as discontinuities.
    #[test]
    fn piecewise_closed_form() {
        let m = compile_str(Path::new("pk.toml"), MODEL).unwrap();
        let set = |time, value| DoseEvent {
            time,
            drug: 0,
            kind: DoseKind::SetConcentration { value },
        };
        let bolus = |time, mg_per_kg| DoseEvent {
            time,
            drug: 0,
            kind: DoseKind::Bolus { mg_per_kg },
        };
        let x =
            DoseExposure::new(&m, &[bolus(30.0, 4.0), set(0.0, 8.0), bolus(20.0, 2.0)]).unwrap();
        let at = |t: f64| {
            let mut c = [0.0];
            x.drugs_at(t, &mut c);
            c[0]
        };
        assert_eq!(at(-1.0), 0.0);
        assert!((at(10.0) - 4.0).abs() < 1e-12, "one medium half-life");
        // At 20 h: 8 * 2^-2 = 2 mg/L left, plus 2 mg/kg / 2 L/kg = 1 mg/L, then the
        // in vivo half-life of 5 h.
        assert!((at(20.0) - 3.0).abs() < 1e-12);
        assert!((at(25.0) - 1.5).abs() < 1e-12);
        assert!((at(30.0) - (0.75 + 2.0)).abs() < 1e-12);
        assert_eq!(x.next_discontinuity(0.0), Some(20.0));
        assert_eq!(x.next_discontinuity(-5.0), Some(0.0));
        assert_eq!(x.next_discontinuity(20.0), Some(30.0));
        assert_eq!(x.next_discontinuity(30.0), None);
    }
}
