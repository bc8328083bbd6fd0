//! The validate table: printed for people, CSV for machines.

use std::fmt::Write as _;
use std::path::Path;

use super::run::Outcome;
use crate::output::atomic::write_atomic;

/// A model's outcomes, ready to print.
pub struct Table<'a> {
    pub model: &'a str,
    pub outcomes: &'a [Outcome],
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
        writeln!(
            f,
            "  {:<w_id$}  {:<w_st$}  {:<14}  {:<12}  result",
            "fact", "study", "tolerance", "value"
        )?;
        for o in self.outcomes {
            let study: String = o.study.chars().take(28).collect();
            writeln!(
                f,
                "  {:<w_id$}  {:<w_st$}  {:<14}  {:<12}  {}",
                o.id,
                study,
                o.tolerance,
                o.value_shown(),
                o.status.label()
            )?;
            if o.reading.is_none() {
                writeln!(f, "  {:<w_id$}  ({})", "", o.detail)?;
            }
        }
        let n = self.outcomes.len();
        let pass = self
            .outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o.status,
                    super::Status::Pass | super::Status::UnexpectedPass
                )
            })
            .count();
        let known = self
            .outcomes
            .iter()
            .filter(|o| o.status == super::Status::KnownFailure)
            .count();
        write!(
            f,
            "  {pass}/{n} facts pass, {known} known failure(s), {} unexpected failure(s)",
            n - pass - known
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
    let mut s =
        String::from("model,fact,claim,study,tolerance,value,bound,status,known_failure,detail\n");
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
                "{},{},{},{},{},{},{},{},{},{}",
                csv_field(model),
                csv_field(&o.id),
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
