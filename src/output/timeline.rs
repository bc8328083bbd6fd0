//! Tidy timeline CSV: one row per time x population x variable.

use std::io;
use std::path::Path;

use super::atomic::write_atomic;
use crate::engine::ode::Timeline;

/// A value outside its physical range in a timeline: the run fails with the time,
/// the variable and the value instead of writing it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at t = {time} {time_unit}, `{population}` `{variable}` = {value}, but {expected}; the run is refused and nothing was written (a model that evaluates to this is wrong, or the solver tolerances are too loose)")]
pub struct NonPhysical {
    pub time: f64,
    pub time_unit: String,
    pub population: String,
    pub variable: String,
    pub value: f64,
    pub expected: &'static str,
}

/// Cell counts and drug concentrations may dip this far below zero through the
/// solver's absolute error (atol is 1e-9 by default) before they are refused.
pub const COUNT_SLACK: f64 = 1e-6;
/// Rates may be this far below zero through rounding (`k * (1 - hill)` near 1).
pub const RATE_SLACK: f64 = 1e-12;

/// Check every value of a timeline before it is written: every value finite; cell
/// counts, tumour volumes and drug exposures non-negative (to [`COUNT_SLACK`]);
/// division and death rates non-negative (to [`RATE_SLACK`]). Species and
/// observables only need to be finite (a model may define a signed quantity).
pub fn check_timeline(tl: &Timeline) -> Result<(), NonPhysical> {
    let floors: Vec<Option<(f64, &'static str)>> = tl
        .columns
        .iter()
        .map(|c| match (c.population.as_str(), c.variable.as_str()) {
            ("exposure", _) => Some((-COUNT_SLACK, "a drug concentration cannot be negative")),
            (_, "cells") => Some((-COUNT_SLACK, "a number of cells cannot be negative")),
            (_, "tumour_volume") => Some((-COUNT_SLACK, "a volume cannot be negative")),
            (_, "division_rate" | "death_rate") => {
                Some((-RATE_SLACK, "a division or death rate cannot be negative"))
            }
            _ => None,
        })
        .collect();
    for (row, &t) in tl.times.iter().enumerate() {
        for (col, c) in tl.columns.iter().enumerate() {
            let v = tl.get(row, col);
            let expected = if !v.is_finite() {
                "every value written must be finite"
            } else {
                match floors[col] {
                    Some((floor, why)) if v < floor => why,
                    _ => continue,
                }
            };
            return Err(NonPhysical {
                time: t,
                time_unit: tl.time_unit.clone(),
                population: c.population.clone(),
                variable: c.variable.clone(),
                value: v,
                expected,
            });
        }
    }
    Ok(())
}

/// Write `time,population,variable,value` rows (units are listed in the manifest).
/// Refuses (with an [`io::Error`] wrapping [`NonPhysical`]) a timeline that fails
/// [`check_timeline`], so no writer can put out-of-range numbers on disk.
pub fn write_timeline_csv(path: &Path, tl: &Timeline) -> io::Result<()> {
    check_timeline(tl).map_err(io::Error::other)?;
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["time", "population", "variable", "value"])?;
        let mut buf = ryu_like::Buf::default();
        for (row, t) in tl.times.iter().enumerate() {
            let ts = buf.fmt(*t).to_string();
            for (col, c) in tl.columns.iter().enumerate() {
                let v = buf.fmt(tl.get(row, col));
                csv.write_record([ts.as_str(), c.population.as_str(), c.variable.as_str(), v])?;
            }
        }
        csv.flush()?;
        Ok(())
    })
}

/// Shortest round-trip formatting of floats (Rust's `Display` for f64 is already
/// shortest-round-trip; this only reuses one buffer).
mod ryu_like {
    use std::fmt::Write;

    #[derive(Default)]
    pub struct Buf(String);

    impl Buf {
        pub fn fmt(&mut self, v: f64) -> &str {
            self.0.clear();
            let _ = write!(self.0, "{v}");
            &self.0
        }
    }
}
