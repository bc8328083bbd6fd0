//! The timeline figure of `simulate`: stacked panels (cells per genotype on a log
//! axis, loop species, observables, drug exposure), one panel per unit so no axis
//! mixes units, time in days for runs of days. Drawn with [`super::panels`].

use std::path::Path;

use super::panels::{panels_by_unit, series_colour, Line, Panel, Panels, TimeAxis};
use super::plot::PlotError;
use crate::engine::ode::Timeline;

/// Most lines in one panel before it is split (a legend of a dozen colours cannot
/// be told apart).
pub const MAX_LINES: usize = 6;

pub struct TimelineFigure {
    panels: Panels,
}

/// Hours in one unit of a timeline's time symbol (`h`, `d`).
pub fn hours_per_unit(symbol: &str) -> f64 {
    match symbol {
        "d" => 24.0,
        _ => 1.0,
    }
}

impl TimelineFigure {
    /// Panels for a run: `base` is the genotype whose loop species are drawn.
    pub fn new(tl: &Timeline, base: &str, species: &[String], observables: &[String]) -> Self {
        let t_end = tl.times.last().copied().unwrap_or(1.0);
        let axis = TimeAxis::for_run(t_end, hours_per_unit(&tl.time_unit));
        let points = |c: usize| -> Vec<(f64, f64)> {
            tl.times
                .iter()
                .map(|t| t * axis.scale)
                .zip(tl.series(c))
                .collect()
        };
        let mut pop = Panel::new("Population", "cells", true);
        // Total first, so the genotypes are drawn over it.
        let mut cells: Vec<usize> = (0..tl.columns.len())
            .filter(|&c| tl.columns[c].variable == "cells")
            .collect();
        cells.sort_by_key(|&c| tl.columns[c].population != "total");
        let mut k = 0;
        for &c in &cells {
            let col = &tl.columns[c];
            let colour = if col.population == "total" {
                plotters::style::RGBAColor(0, 0, 0, 1.0)
            } else {
                k += 1;
                series_colour(k - 1)
            };
            pop.lines.push(Line::new(
                format!("{} cells", col.population),
                points(c),
                colour,
            ));
        }
        // A plain ODE model has no cells: no population panel (unless nothing else
        // would be drawn).
        let plain = cells.is_empty() && !(species.is_empty() && observables.is_empty());
        let mut panels = if plain { Vec::new() } else { vec![pop] };
        let by_unit = |names: &[String]| -> Vec<(String, Line)> {
            names
                .iter()
                .filter_map(|n| tl.column(base, n))
                .map(|c| {
                    let col = &tl.columns[c];
                    (
                        col.unit.clone(),
                        Line::new(col.variable.clone(), points(c), series_colour(0)),
                    )
                })
                .collect()
        };
        panels.extend(panels_by_unit(
            &format!("Loop species of {base}"),
            false,
            by_unit(species),
            MAX_LINES,
        ));
        panels.extend(panels_by_unit(
            &format!("Observables of {base}"),
            false,
            by_unit(observables),
            MAX_LINES,
        ));
        let drugs: Vec<(String, Line)> = (0..tl.columns.len())
            .filter(|&c| tl.columns[c].population == "exposure")
            .map(|c| {
                let col = &tl.columns[c];
                (
                    col.unit.clone(),
                    Line::new(col.variable.clone(), points(c), series_colour(0)),
                )
            })
            .collect();
        panels.extend(panels_by_unit("Drug exposure", false, drugs, MAX_LINES));
        TimelineFigure {
            panels: Panels {
                panels,
                x_max: t_end * axis.scale,
                x_label: axis.label.to_string(),
            },
        }
    }

    /// Titles of the panels, top to bottom.
    pub fn titles(&self) -> Vec<&str> {
        self.panels
            .panels
            .iter()
            .map(|p| p.title.as_str())
            .collect()
    }

    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        self.panels.save(stem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ode::Column;

    fn col(population: &str, variable: &str, unit: &str) -> Column {
        Column {
            population: population.into(),
            variable: variable.into(),
            unit: unit.into(),
        }
    }

    /// One panel per unit: uM and nM drugs never share an axis, and a 60-day run in
    /// hours is shown in days.
    #[test]
    fn one_axis_per_unit_and_days() {
        let columns = vec![
            col("g", "cells", "cells"),
            col("g", "a", "fraction"),
            col("g", "b", "nM"),
            col("exposure", "tki", "uM"),
            col("exposure", "hdaci", "nM"),
        ];
        let times = vec![0.0, 720.0, 1440.0];
        let tl = Timeline {
            times,
            time_unit: "h".into(),
            values: vec![1.0; 15],
            columns,
        };
        let f = TimelineFigure::new(&tl, "g", &["a".into(), "b".into()], &[]);
        assert_eq!(
            f.titles(),
            vec![
                "Population",
                "Loop species of g (fraction)",
                "Loop species of g (nM)",
                "Drug exposure (uM)",
                "Drug exposure (nM)"
            ]
        );
        assert_eq!(f.panels.x_label, "time (days)");
        assert_eq!(f.panels.x_max, 60.0);
    }
}
