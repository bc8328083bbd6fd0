//! Caps on the work an input asks for, checked before the work starts; and the range
//! checks of run settings (tolerances, positive quantities) every front end shares.
//!
//! Why: a short input can ask for unbounded work (a scenario of 1e9 days, a dose
//! every microsecond, 1e8 output points, an IC50 readout every minute). Without a cap
//! the run exhausts memory or never ends; with one it fails at once with a sentence
//! that says what was asked, what the limit is, and how to raise it on purpose
//! (`--limit NAME=VALUE` on any subcommand, or [`set`] from the library).
//!
//! Each entry point counts what its input asks for (points, readouts, doses, ...)
//! and calls [`check`]; the numbers are estimated from durations and intervals, so no
//! check allocates what it guards against. Limits never change a result: a run under
//! its limits is the same run with or without them.

use std::sync::RwLock;

/// One kind of work that has a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Run length in days (any engine, any front end).
    Days,
    /// Output time points of one run (`--points`, sweep `points`).
    Points,
    /// Schedule readouts per run (`readout_every`).
    Readouts,
    /// IC50 readouts per run (`ic50_every`); each is a dose-response experiment.
    Ic50,
    /// Medium refreshes per run (`refresh_every`).
    Refreshes,
    /// Dose events per run (`--dose`, scenario doses, in vivo bolus days).
    Doses,
    /// Estimated size of one run's output files, in MB.
    OutputMb,
}

impl Limit {
    pub const ALL: [Limit; 7] = [
        Limit::Days,
        Limit::Points,
        Limit::Readouts,
        Limit::Ic50,
        Limit::Refreshes,
        Limit::Doses,
        Limit::OutputMb,
    ];

    /// The name used by `--limit NAME=VALUE`.
    pub fn key(self) -> &'static str {
        match self {
            Limit::Days => "days",
            Limit::Points => "points",
            Limit::Readouts => "readouts",
            Limit::Ic50 => "ic50",
            Limit::Refreshes => "refreshes",
            Limit::Doses => "doses",
            Limit::OutputMb => "output_mb",
        }
    }

    /// What is counted, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Limit::Days => "days of simulated time",
            Limit::Points => "output time points",
            Limit::Readouts => "readouts",
            Limit::Ic50 => "IC50 readouts",
            Limit::Refreshes => "medium refreshes",
            Limit::Doses => "dose events",
            Limit::OutputMb => "MB of output",
        }
    }
}

/// The caps in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    values: [f64; 7],
}

impl Limits {
    /// The defaults: generous for any study (a century of simulated time, a reading
    /// every 10 minutes for a year and a half), small enough to fail fast.
    pub const DEFAULT: Limits = Limits {
        values: [
            36_500.0, 100_000.0, 100_000.0, 1_000.0, 100_000.0, 100_000.0, 2_000.0,
        ],
    };

    pub fn get(&self, l: Limit) -> f64 {
        self.values[l as usize]
    }

    pub fn with(mut self, l: Limit, value: f64) -> Limits {
        self.values[l as usize] = value;
        self
    }

    /// Apply one `NAME=VALUE` setting (`--limit points=1e6`).
    pub fn apply(&mut self, setting: &str) -> Result<(), String> {
        let keys = || {
            Limit::ALL
                .iter()
                .map(|l| l.key())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("--limit `{setting}`: expected NAME=VALUE ({})", keys()))?;
        let limit = Limit::ALL
            .into_iter()
            .find(|l| l.key() == name.trim())
            .ok_or_else(|| {
                format!(
                    "--limit `{setting}`: unknown limit `{}`{}; the limits are {}",
                    name.trim(),
                    crate::expr::resolve::did_you_mean_among(
                        name.trim(),
                        Limit::ALL.iter().map(|l| l.key())
                    ),
                    keys()
                )
            })?;
        let v: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("--limit `{setting}`: cannot read `{value}` as a number"))?;
        if v.is_nan() || v <= 0.0 {
            return Err(format!(
                "--limit `{setting}`: expected a positive number (inf for no limit)"
            ));
        }
        self.values[limit as usize] = v;
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

static CURRENT: RwLock<Limits> = RwLock::new(Limits::DEFAULT);

/// The limits in force for this process.
pub fn current() -> Limits {
    *CURRENT.read().unwrap_or_else(|e| e.into_inner())
}

/// Replace the limits in force for this process (the CLI does this once, from
/// `--limit`, before any work).
pub fn set(l: Limits) {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = l;
}

/// An input asked for more work than a limit allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {} asked for, over the limit of {} (raise it on purpose with `--limit {}={}`)", fmt_count(.asked), .limit.what(), fmt_count(.max), .limit.key(), fmt_count(&suggest(*.asked)))]
pub struct LimitExceeded {
    pub limit: Limit,
    pub asked: f64,
    pub max: f64,
}

/// Check `asked` against the limit in force.
pub fn check(limit: Limit, asked: f64) -> Result<(), LimitExceeded> {
    let max = current().get(limit);
    // NaN asked (from an undefined estimate) is refused too.
    if asked <= max {
        Ok(())
    } else {
        Err(LimitExceeded { limit, asked, max })
    }
}

/// A setting outside the range where it means anything (a tolerance of `inf`, a
/// negative volume). Checked where the setting enters, the same for every engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} = {value}: expected {expected}")]
pub struct OutOfRange {
    pub name: String,
    pub value: f64,
    pub expected: &'static str,
}

/// Solver tolerances: `0 < rtol < 1` and a finite `atol > 0` (an infinite atol turns
/// error control off and lets cell counts go negative).
pub fn check_tolerances(rtol: f64, atol: f64) -> Result<(), OutOfRange> {
    if !(rtol > 0.0 && rtol < 1.0) {
        return Err(OutOfRange {
            name: "rtol".into(),
            value: rtol,
            expected: "a relative tolerance with 0 < rtol < 1",
        });
    }
    if !(atol > 0.0 && atol.is_finite()) {
        return Err(OutOfRange {
            name: "atol".into(),
            value: atol,
            expected: "a finite absolute tolerance > 0",
        });
    }
    Ok(())
}

/// A finite positive quantity (cells, volumes, rates given as settings).
pub fn check_positive(name: &str, value: f64) -> Result<(), OutOfRange> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(OutOfRange {
            name: name.to_string(),
            value,
            expected: "a finite number > 0",
        })
    }
}

/// How many events of period `every` fit in `[0, duration]` (counting t = 0), as a
/// float so that a period of 1e-300 gives a huge count instead of an overflow.
pub fn events_in(duration: f64, every: f64) -> f64 {
    (duration / every).floor() + 1.0
}

/// A value to suggest in the message: the asked amount rounded up to one significant
/// digit.
fn suggest(asked: f64) -> f64 {
    if !asked.is_finite() || asked <= 0.0 {
        return f64::INFINITY;
    }
    let p = 10f64.powf(asked.log10().floor());
    (asked / p).ceil() * p
}

fn fmt_count(x: &f64) -> String {
    let x = *x;
    if x.is_finite() && x.abs() < 1e7 && x == x.trunc() {
        format!("{x}")
    } else if x.is_finite() {
        format!("{x:.3e}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_name_the_limits() {
        let mut l = Limits::DEFAULT;
        l.apply("points=1e7").unwrap();
        assert_eq!(l.get(Limit::Points), 1e7);
        l.apply("days=inf").unwrap();
        assert_eq!(l.get(Limit::Days), f64::INFINITY);
        let e = l.apply("pionts=5").unwrap_err();
        assert!(e.contains("did you mean `points`"), "{e}");
        assert!(l.apply("points=-1").unwrap_err().contains("positive"));
        assert!(l.apply("points").unwrap_err().contains("NAME=VALUE"));
    }

    #[test]
    fn messages_say_what_the_limit_is_and_how_to_raise_it() {
        let e = LimitExceeded {
            limit: Limit::Doses,
            asked: events_in(24.0, 1e-6),
            max: 1e5,
        };
        assert_eq!(
            e.to_string(),
            "2.400e7 dose events asked for, over the limit of 100000 \
             (raise it on purpose with `--limit doses=3.000e7`)"
        );
        assert_eq!(events_in(10.0, 3.0), 4.0);
        assert!(events_in(1e308, 1e-300).is_infinite());
    }
}
