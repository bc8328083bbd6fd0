//! Doses that change by rule: the escalation of a series of doses (a schedule's bolus
//! series, `--dose ...,+0.1mg/kg`) and the raise of an adaptive arm share one step.
//!
//! A step is additive (`+0.1mg/kg`: the dose grows by a fixed amount) or
//! multiplicative (`x1.5`: by a factor). The n-th dose of a series (counted from 0)
//! has had `floor(n / every)` steps; a cap, when given, holds the dose once reached.

use serde::Serialize;

use crate::units::{amount, Amount, ConcUnit};

/// One escalation step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Step {
    /// Add this amount (in the dose's unit: mg/kg, or the drug's concentration unit).
    Add(f64),
    /// Multiply by this factor (> 0).
    Times(f64),
}

impl Step {
    /// The dose after one step from `level`, at most `cap`.
    pub fn raise(self, level: f64, cap: Option<f64>) -> f64 {
        let next = match self {
            Step::Add(d) => level + d,
            Step::Times(f) => level * f,
        };
        cap.map_or(next, |c| next.min(c))
    }

    /// The dose after `n` steps from `base` (closed form, so dose 1000 costs no more
    /// than dose 1), at most `cap`.
    pub fn after(self, base: f64, n: u64, cap: Option<f64>) -> f64 {
        let v = match self {
            Step::Add(d) => base + d * n as f64,
            Step::Times(f) => base * f.powf(n as f64),
        };
        cap.map_or(v, |c| v.min(c))
    }
}

/// How the doses of a series change: one `step` every `every` doses, up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Escalation {
    pub step: Step,
    /// Doses per step (>= 1): 1 = every dose differs from the one before.
    pub every: u64,
    /// Highest dose (the dose's unit); `None`: no cap.
    pub cap: Option<f64>,
}

impl Escalation {
    /// Dose `n` (from 0) of a series whose first dose is `base`.
    pub fn dose(&self, base: f64, n: u64) -> f64 {
        self.step.after(base, n / self.every.max(1), self.cap)
    }
}

/// Read a step: `+AMOUNT` (the amount in the grammar of [`crate::units::amount`],
/// converted like the dose it changes) or `xFACTOR` / `*FACTOR` (a positive number).
/// `mg_per_kg` says whether the dose is an mg/kg bolus (then an additive step must be
/// mg/kg too) or a concentration in `unit`.
pub fn parse_step(
    s: &str,
    mg_per_kg: bool,
    unit: &ConcUnit,
    mw: Option<f64>,
) -> Result<Step, String> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix(['x', 'X', '*']) {
        let f: f64 = rest
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: expected a factor after `x`, e.g. `x1.5`"))?;
        if !(f.is_finite() && f > 0.0) {
            return Err(format!("`{s}`: the factor must be a positive number"));
        }
        return Ok(Step::Times(f));
    }
    let Some(rest) = t.strip_prefix('+') else {
        return Err(format!(
            "`{s}`: expected an escalation step `+AMOUNT` (e.g. `+0.1mg/kg`, added at each \
             step) or `xFACTOR` (e.g. `x1.5`, multiplied at each step)"
        ));
    };
    match (
        amount(rest, unit, mw).map_err(|m| format!("`{s}`: {m}"))?,
        mg_per_kg,
    ) {
        (Amount::MgPerKg(v), true) | (Amount::Concentration(v), false) => Ok(Step::Add(v)),
        (Amount::MgPerKg(_), false) => Err(format!(
            "`{s}`: an mg/kg step on a concentration dose; write the step in a concentration unit"
        )),
        (Amount::Concentration(_), true) => Err(format!(
            "`{s}`: a concentration step on an mg/kg dose; write the step in mg/kg"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additive_and_multiplicative_steps() {
        let add = Escalation {
            step: Step::Add(0.1),
            every: 1,
            cap: None,
        };
        assert!((add.dose(1.0, 0) - 1.0).abs() < 1e-15);
        assert!((add.dose(1.0, 104) - 11.4).abs() < 1e-12);
        let per3 = Escalation {
            step: Step::Times(2.0),
            every: 3,
            cap: Some(5.0),
        };
        assert_eq!(per3.dose(1.0, 2), 1.0);
        assert_eq!(per3.dose(1.0, 3), 2.0);
        assert_eq!(per3.dose(1.0, 6), 4.0);
        assert_eq!(per3.dose(1.0, 9), 5.0);
        assert_eq!(Step::Times(1.5).raise(2.0, Some(2.5)), 2.5);
    }

    #[test]
    fn steps_read_through_the_unit_grammar() {
        let ug = ConcUnit::parse("ug/ml").unwrap();
        assert_eq!(
            parse_step("+0.1mg/kg", true, &ug, None).unwrap(),
            Step::Add(0.1)
        );
        assert_eq!(
            parse_step("x1.5", true, &ug, None).unwrap(),
            Step::Times(1.5)
        );
        assert_eq!(
            parse_step("+10 ng/ml", false, &ug, None).unwrap(),
            Step::Add(0.01)
        );
        assert!(parse_step("0.1mg/kg", true, &ug, None)
            .unwrap_err()
            .contains("expected an escalation step"));
        assert!(parse_step("+0.1", true, &ug, None)
            .unwrap_err()
            .contains("no unit"));
        assert!(parse_step("x0", true, &ug, None)
            .unwrap_err()
            .contains("positive"));
        assert!(parse_step("+1ng/ml", true, &ug, None)
            .unwrap_err()
            .contains("in mg/kg"));
    }
}
