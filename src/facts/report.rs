//! The validate table: printed for people, CSV for machines. Calibration facts and
//! prediction facts are reported apart: a model that passes the targets it was fitted
//! to says little; the prediction pass rate says whether it predicts.

use std::fmt::Write as _;
use std::path::Path;

use super::run::{Outcome, Status};
use super::types::Role;
use crate::output::atomic::write_atomic;

/// A model's outcomes, ready to print.
pub struct Table<'a> {
    pub model: &'a str,
    pub outcomes: &'a [Outcome],
}

/// How one group of facts (one role) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub total: usize,
    /// Passing (including known failures that pass, which are problems of their own).
    pub pass: usize,
    pub known_failures: usize,
    /// Failures not marked as known, plus known failures that pass.
    pub problems: usize,
}

impl Tally {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Tally {
        let mut t = Tally::default();
        for o in outcomes {
            t.total += 1;
            if matches!(o.status, Status::Pass | Status::UnexpectedPass) {
                t.pass += 1;
            }
            if o.status == Status::KnownFailure {
                t.known_failures += 1;
            }
            if o.status.is_problem() {
                t.problems += 1;
            }
        }
        t
    }

    /// Outcomes of one role.
    pub fn of_role(outcomes: &[Outcome], role: Role) -> Tally {
        Tally::of(outcomes.iter().filter(|o| o.role == role))
    }

    /// `7/12 pass (58%)`.
    pub fn rate(&self) -> String {
        if self.total == 0 {
            return "none".into();
        }
        format!(
            "{}/{} pass ({:.0}%)",
            self.pass,
            self.total,
            100.0 * self.pass as f64 / self.total as f64
        )
    }
}

impl std::fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w_id = self
            .outcomes
            .iter()
            .map(|o| o.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_st = self
            .outcomes
            .iter()
            .map(|o| o.study.chars().count().min(28))
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(f, "{}", self.model)?;
        for (role, heading) in [
            (
                Role::Calibration,
                "calibration facts (targets the model was fitted to)",
            ),
            (
                Role::Prediction,
                "prediction facts (recorded before fitting, never calibrated on)",
            ),
        ] {
            let rows: Vec<&Outcome> = self.outcomes.iter().filter(|o| o.role == role).collect();
            if rows.is_empty() {
                writeln!(f, "  {heading}: none")?;
                continue;
            }
            writeln!(f, "  {heading}")?;
            writeln!(
                f,
                "    {:<w_id$}  {:<w_st$}  {:<14}  {:<12}  result",
                "fact", "study", "tolerance", "value"
            )?;
            for o in &rows {
                let study: String = o.study.chars().take(28).collect();
                writeln!(
                    f,
                    "    {:<w_id$}  {:<w_st$}  {:<14}  {:<12}  {}",
                    o.id,
                    study,
                    o.tolerance,
                    o.value_shown(),
                    o.status.label()
                )?;
                if o.reading.is_none() {
                    writeln!(f, "    {:<w_id$}  ({})", "", o.detail)?;
                }
            }
            let t = Tally::of(rows.iter().copied());
            writeln!(
                f,
                "    {} {}: {}, {} known failure(s), {} problem(s)",
                t.total,
                role.label(),
                t.rate(),
                t.known_failures,
                t.problems
            )?;
        }
        let all = Tally::of(self.outcomes);
        write!(
            f,
            "  {}/{} facts pass, {} known failure(s), {} problem(s) (unexpected failures or passes)",
            all.pass, all.total, all.known_failures, all.problems
        )
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write `validate.csv`: one row per fact of every model.
pub fn write_csv(path: &Path, rows: &[(String, Vec<Outcome>)]) -> std::io::Result<()> {
    let mut s = String::from(
        "model,fact,role,claim,study,tolerance,value,bound,status,known_failure,detail\n",
    );
    for (model, outcomes) in rows {
        for o in outcomes {
            let (value, bound) = o.reading.map_or((String::new(), String::new()), |r| {
                (
                    format!("{}", r.value),
                    match r.bound {
                        super::Bound::Exact => "exact",
                        super::Bound::AtLeast => "at_least",
                        super::Bound::AtMost => "at_most",
                    }
                    .to_string(),
                )
            });
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(model),
                csv_field(&o.id),
                o.role.label(),
                csv_field(&o.claim),
                csv_field(&o.study),
                csv_field(&o.tolerance),
                value,
                bound,
                o.status.label(),
                csv_field(o.known_failure.as_deref().unwrap_or("")),
                csv_field(&o.detail)
            );
        }
    }
    write_atomic(path, |w| w.write_all(s.as_bytes()))
}
