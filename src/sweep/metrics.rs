//! Per-run metrics of a model sweep: each turns one simulated timeline into one
//! number for a column of `runs.csv`.
//!
//! Times are reported in days whatever the model's time unit, so metrics of models
//! written in hours and in days compare directly. Between output times a series is
//! the straight line through its readouts (cell counts: the straight line through
//! their logarithms, exact for exponential growth or decay between readouts), so a
//! finer output grid (`[schedule] points`) makes AUCs and interpolated values more
//! accurate; final values are exact (the run ends on an output).

use super::synergy_metric::SynergyMetric;
use crate::engine::ode::Timeline;

/// A column of a timeline, by name (population: a genotype, `total` or `exposure`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRef {
    pub population: String,
    pub variable: String,
}

impl ColumnRef {
    /// Cell counts are interpolated on a log scale.
    fn is_cells(&self) -> bool {
        self.variable == "cells"
    }
}

/// What one run produced, as the metrics read it.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Readouts; times in model units.
    pub timeline: Timeline,
    /// State at the end (per genotype: species then cells).
    pub final_state: Vec<f64>,
    /// Days per model time unit.
    pub days_per_unit: f64,
    /// When the run ended, in days (a therapy run may stop early).
    pub end_days: f64,
    /// Therapy runs: the first resistance event of the schedule's rules (days).
    pub schedule_resistance_days: Option<Option<f64>>,
    /// Therapy runs: the last IC50 readout over the first.
    pub ic50_fold_final: Option<Option<f64>>,
}

impl RunOutput {
    /// The output of a plain ODE run.
    pub fn plain(
        timeline: Timeline,
        final_state: Vec<f64>,
        days_per_unit: f64,
        end_days: f64,
    ) -> RunOutput {
        RunOutput {
            timeline,
            final_state,
            days_per_unit,
            end_days,
            schedule_resistance_days: None,
            ic50_fold_final: None,
        }
    }
}

/// A resolved metric (checked against the model when the sweep file was loaded).
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// Cells of a population (default `total`) at the end of the run.
    FinalPopulation { cells: ColumnRef },
    /// Cells of the listed genotypes over all cells, at `at` days.
    ResistantFraction { genotypes: Vec<String>, at: f64 },
    /// First time (days) the population regrows by more than `fraction` above its
    /// running minimum (the nadir so far). A time-to-event metric: when it never
    /// does, the value is the run's length, censored (see [`Metric::is_event`]).
    TimeToResistance { cells: ColumnRef, fraction: f64 },
    /// First resistance event of a therapy schedule's `[resistance]` rules (days);
    /// censored at the run's end when none fired.
    ScheduleResistance,
    /// IC50 of the last readout of a therapy run over the first.
    Ic50Fold,
    /// Integral of a column over `[from, to]` days (value x days).
    Auc {
        column: ColumnRef,
        from: f64,
        to: f64,
    },
    /// A column's value at `at` days.
    ValueAt { column: ColumnRef, at: f64 },
    /// Smallest value of a column over `[from, to]` days.
    Min {
        column: ColumnRef,
        from: f64,
        to: f64,
    },
    /// Largest value of a column over `[from, to]` days.
    Max {
        column: ColumnRef,
        from: f64,
        to: f64,
    },
    /// A simulated checkerboard scored for synergy; needs the run's model state, so
    /// the evaluator computes it (see [`SynergyMetric::compute`]).
    Synergy(SynergyMetric),
}

/// One column as a function of time in days.
struct Series {
    t: Vec<f64>,
    v: Vec<f64>,
    log: bool,
}

impl Series {
    fn of(tl: &Timeline, c: &ColumnRef, days_per_unit: f64) -> Result<Series, String> {
        let col = tl
            .column(&c.population, &c.variable)
            .ok_or_else(|| format!("the timeline has no column {}/{}", c.population, c.variable))?;
        Ok(Series {
            t: tl.times.iter().map(|t| t * days_per_unit).collect(),
            v: tl.series(col),
            log: c.is_cells(),
        })
    }

    /// Value at `x` on the segment `k..k+1` (log-linear for positive cell counts).
    fn on_segment(&self, k: usize, x: f64) -> f64 {
        let (t0, t1, a, b) = (self.t[k], self.t[k + 1], self.v[k], self.v[k + 1]);
        if t1 <= t0 {
            return b;
        }
        let w = ((x - t0) / (t1 - t0)).clamp(0.0, 1.0);
        if self.log && a > 0.0 && b > 0.0 {
            (a.ln() + w * (b.ln() - a.ln())).exp()
        } else {
            a + w * (b - a)
        }
    }

    /// Value at time `x` (clamped to the run).
    fn at(&self, x: f64) -> f64 {
        let n = self.t.len();
        if n == 1 || x <= self.t[0] {
            return self.v[0];
        }
        if x >= self.t[n - 1] {
            return self.v[n - 1];
        }
        let k = self.t.partition_point(|&t| t <= x) - 1;
        self.on_segment(k.min(n - 2), x)
    }

    /// Readouts inside `[from, to]` plus the interpolated end points.
    fn window(&self, from: f64, to: f64) -> (Vec<f64>, Vec<f64>) {
        let mut t = vec![from];
        let mut v = vec![self.at(from)];
        for (&tk, &vk) in self.t.iter().zip(&self.v) {
            if tk > from && tk < to {
                t.push(tk);
                v.push(vk);
            }
        }
        if to > from {
            t.push(to);
            v.push(self.at(to));
        }
        (t, v)
    }

    /// Integral over `[from, to]` of the interpolant (log-linear segments integrate
    /// exactly as exponentials).
    fn integral(&self, from: f64, to: f64) -> f64 {
        let (t, v) = self.window(from, to);
        t.windows(2)
            .zip(v.windows(2))
            .map(|(t, v)| {
                let (h, a, b) = (t[1] - t[0], v[0], v[1]);
                if self.log && a > 0.0 && b > 0.0 && (a - b).abs() > 1e-12 * a.max(b) {
                    h * (b - a) / (b / a).ln()
                } else {
                    0.5 * h * (a + b)
                }
            })
            .sum()
    }
}

/// Suffix of the companion column of a time-to-event metric: 1 when the event was
/// reached, 0 when the time is censored at the run's end.
pub const REACHED_SUFFIX: &str = "_reached";

impl Metric {
    /// Whether the metric is a time to an event that a run may not reach: `runs.csv`
    /// then carries a companion `<name>_reached` column (1 = reached, 0 = censored at
    /// the run's end), and sensitivity analyses the indicator, P(event by the end),
    /// wherever a time is censored.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            Metric::TimeToResistance { .. } | Metric::ScheduleResistance
        )
    }

    /// A time-to-event metric: the event time, or the run's end when the event was
    /// not reached (`false`).
    pub fn compute_event(&self, run: &RunOutput) -> Result<(f64, bool), String> {
        match self {
            Metric::TimeToResistance { cells, fraction } => {
                let s = Series::of(&run.timeline, cells, run.days_per_unit)?;
                Ok(match regrowth_time(&s, *fraction) {
                    Some(t) => (t, true),
                    None => (s.t[s.t.len() - 1], false),
                })
            }
            Metric::ScheduleResistance => match run.schedule_resistance_days {
                Some(Some(t)) => Ok((t, true)),
                Some(None) => Ok((run.end_days, false)),
                None => Err("the schedule's resistance rules need a therapy run".into()),
            },
            _ => Err("not a time-to-event metric".into()),
        }
    }

    /// Compute the metric from a run's output (a time-to-event metric gives its
    /// censoring time when not reached: read [`Metric::compute_event`] for the flag).
    /// Errors are messages for the run's `error` column.
    pub fn compute(&self, run: &RunOutput) -> Result<f64, String> {
        let (tl, days_per_unit) = (&run.timeline, run.days_per_unit);
        if tl.times.is_empty() {
            return Err("the run produced no output".into());
        }
        match self {
            Metric::FinalPopulation { cells } => {
                let s = Series::of(tl, cells, days_per_unit)?;
                Ok(s.v[s.v.len() - 1])
            }
            Metric::ResistantFraction { genotypes, at } => {
                let total = ColumnRef {
                    population: "total".into(),
                    variable: "cells".into(),
                };
                let all = Series::of(tl, &total, days_per_unit)?.at(*at);
                let mut part = 0.0;
                for g in genotypes {
                    let c = ColumnRef {
                        population: g.clone(),
                        variable: "cells".into(),
                    };
                    part += Series::of(tl, &c, days_per_unit)?.at(*at);
                }
                if all.is_nan() || all <= 0.0 {
                    return Err(format!(
                        "no cells left at day {at} (total {all}): the resistant fraction is undefined"
                    ));
                }
                Ok(part / all)
            }
            Metric::TimeToResistance { .. } | Metric::ScheduleResistance => {
                self.compute_event(run).map(|e| e.0)
            }
            Metric::Auc { column, from, to } => {
                Ok(Series::of(tl, column, days_per_unit)?.integral(*from, *to))
            }
            Metric::ValueAt { column, at } => Ok(Series::of(tl, column, days_per_unit)?.at(*at)),
            Metric::Min { column, from, to } => {
                let (_, v) = Series::of(tl, column, days_per_unit)?.window(*from, *to);
                Ok(v.into_iter().fold(f64::INFINITY, f64::min))
            }
            Metric::Max { column, from, to } => {
                let (_, v) = Series::of(tl, column, days_per_unit)?.window(*from, *to);
                Ok(v.into_iter().fold(f64::NEG_INFINITY, f64::max))
            }
            Metric::Ic50Fold => match run.ic50_fold_final {
                Some(Some(f)) => Ok(f),
                Some(None) => Err("no IC50 fold: the readouts did not determine the initial IC50 (or none was taken)".into()),
                None => Err("IC50 readouts need a therapy run".into()),
            },
            Metric::Synergy(_) => {
                Err("the synergy metric needs the run's population, not only its timeline".into())
            }
        }
    }
}

/// First time the series exceeds `(1 + fraction)` times its running minimum; the
/// crossing is located inside the readout interval on the interpolant. `None` when
/// it never does (censored at the run's length).
fn regrowth_time(s: &Series, fraction: f64) -> Option<f64> {
    let mut nadir = s.v[0];
    for k in 1..s.v.len() {
        let threshold = (1.0 + fraction) * nadir;
        if s.v[k] > threshold {
            let (a, b) = (s.v[k - 1], s.v[k]);
            // a <= threshold < b: solve the interpolant on this segment.
            let w = if s.log && a > 0.0 && b > 0.0 && threshold > 0.0 {
                (threshold.ln() - a.ln()) / (b.ln() - a.ln())
            } else {
                (threshold - a) / (b - a)
            };
            return Some(s.t[k - 1] + w.clamp(0.0, 1.0) * (s.t[k] - s.t[k - 1]));
        }
        nadir = nadir.min(s.v[k]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ode::Column;

    /// A timeline (hours) with total cells `n0 e^{r t}` and a linear species.
    fn timeline(r: f64, hours: f64, n: usize) -> Timeline {
        let times: Vec<f64> = (0..=n).map(|k| hours * k as f64 / n as f64).collect();
        let columns = vec![
            Column {
                population: "total".into(),
                variable: "cells".into(),
                unit: "cells".into(),
            },
            Column {
                population: "p".into(),
                variable: "x".into(),
                unit: "1".into(),
            },
        ];
        let values = times
            .iter()
            .flat_map(|&t| [100.0 * (r * t).exp(), 2.0 * t])
            .collect();
        Timeline {
            times,
            time_unit: "h".into(),
            columns,
            values,
        }
    }

    fn run(tl: Timeline) -> RunOutput {
        let end = tl.times[tl.times.len() - 1] / 24.0;
        RunOutput::plain(tl, Vec::new(), 1.0 / 24.0, end)
    }

    fn col(p: &str, v: &str) -> ColumnRef {
        ColumnRef {
            population: p.into(),
            variable: v.into(),
        }
    }

    #[test]
    fn exponential_growth_metrics_are_exact_on_a_coarse_grid() {
        let r = 0.01; // per hour
        let tl = run(timeline(r, 240.0, 10));
        let total = col("total", "cells");
        let ttr = Metric::TimeToResistance {
            cells: total.clone(),
            fraction: 0.25,
        };
        let want = 1.25f64.ln() / r / 24.0;
        assert!((ttr.compute(&tl).unwrap() - want).abs() < 1e-12);
        // AUC of n0 e^{rt} over days 1..9, in cells x days.
        let auc = Metric::Auc {
            column: total.clone(),
            from: 1.0,
            to: 9.0,
        };
        let rd = r * 24.0;
        let want = 100.0 * ((9.0 * rd).exp() - rd.exp()) / rd;
        let got = auc.compute(&tl).unwrap();
        assert!((got / want - 1.0).abs() < 1e-12, "{got} vs {want}");
        let at = Metric::ValueAt {
            column: total,
            at: 3.3,
        };
        let want = 100.0 * (rd * 3.3).exp();
        assert!((at.compute(&tl).unwrap() / want - 1.0).abs() < 1e-12);
    }

    #[test]
    fn linear_series_auc_min_max_and_value() {
        let tl = run(timeline(0.0, 48.0, 4));
        let x = col("p", "x");
        // x = 2 t (hours) = 48 d (days): integral over [0.5, 1.5] d = 24 (1.5^2 - 0.5^2).
        let auc = Metric::Auc {
            column: x.clone(),
            from: 0.5,
            to: 1.5,
        };
        assert!((auc.compute(&tl).unwrap() - 48.0).abs() < 1e-9);
        let mn = Metric::Min {
            column: x.clone(),
            from: 0.25,
            to: 2.0,
        };
        assert!((mn.compute(&tl).unwrap() - 12.0).abs() < 1e-12);
        let mx = Metric::Max {
            column: x.clone(),
            from: 0.0,
            to: 1.1,
        };
        assert!((mx.compute(&tl).unwrap() - 52.8).abs() < 1e-9);
        // No regrowth of a constant population: censored at the run length.
        let ttr = Metric::TimeToResistance {
            cells: col("total", "cells"),
            fraction: 0.25,
        };
        assert_eq!(ttr.compute(&tl).unwrap(), 2.0);
        assert_eq!(ttr.compute_event(&tl).unwrap(), (2.0, false));
    }

    #[test]
    fn regrowth_counts_from_the_nadir() {
        // Falls to 10, then regrows: 12.5 is crossed between t = 3 (11) and 4 (14).
        let s = Series {
            t: vec![0.0, 1.0, 2.0, 3.0, 4.0],
            v: vec![100.0, 40.0, 10.0, 11.0, 14.0],
            log: false,
        };
        assert!((regrowth_time(&s, 0.25).unwrap() - 3.5).abs() < 1e-12);
    }
}
