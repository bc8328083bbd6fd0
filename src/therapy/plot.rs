//! Therapy figures, written as PNG and SVG through the shared helpers:
//! - `therapy`: population on a log axis with the dose steps shaded and resistance
//!   events marked, the loop species and observables of the base genotype, the dose
//!   in force, and the IC50 readouts over time;
//! - `compare` (see [`CompareFigure`]): several schedules overlaid.
//!
//! Time is shown in days whatever the model's unit; panels, legends, ticks and
//! colours are the shared ones of [`crate::output::panels`].

use std::path::Path;

use plotters::style::RGBAColor;

use super::types::{EventKind, TherapyResult};
use crate::compile::CompiledModel;
use crate::output::panels::{panels_by_unit, series_colour, Band, Line, Panel, Panels, Stroke};
use crate::output::plot::PlotError;
use crate::output::timeline_plot::MAX_LINES;
use crate::schedule::{Schedule, Setting};

fn colour(k: usize) -> RGBAColor {
    series_colour(k)
}

/// `(from, to, dose)` with times in days.
pub(crate) type Step = (f64, f64, f64);

/// Piecewise-constant dose of each drug from the run's dose-change events:
/// (drug, steps).
pub(crate) fn dose_steps(r: &TherapyResult, day: f64) -> Vec<(String, Vec<Step>)> {
    let mut out: Vec<(String, Vec<Step>)> = Vec::new();
    let end = r.final_time * day;
    for ev in r.events.iter().filter(|e| e.kind == EventKind::DoseChange) {
        let Some(drug) = &ev.drug else { continue };
        let t = ev.time * day;
        let k = match out.iter().position(|(d, _)| d == drug) {
            Some(k) => k,
            None => {
                out.push((drug.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let steps = &mut out[k].1;
        if let Some(last) = steps.last_mut() {
            last.1 = t;
        }
        steps.push((t, end, ev.value));
    }
    for (_, steps) in &mut out {
        steps.retain(|s| s.1 > s.0);
    }
    out
}

/// Shaded bands of the dose in force (darker = higher), one colour per drug, with
/// one legend entry per drug.
pub(crate) fn dose_bands(steps: &[(String, Vec<Step>)], first_colour: usize) -> Vec<Band> {
    let mut bands = Vec::new();
    for (j, (drug, st)) in steps.iter().enumerate() {
        let mut levels: Vec<f64> = st.iter().map(|s| s.2).filter(|&v| v > 0.0).collect();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        let base = colour(j + first_colour);
        for &(a, b, v) in st {
            if v <= 0.0 {
                continue;
            }
            let rank = levels.iter().position(|&x| x == v).unwrap_or(0) + 1;
            let alpha = 0.05 + 0.2 * rank as f64 / levels.len() as f64;
            bands.push(Band {
                from: a,
                to: b,
                color: RGBAColor(base.0, base.1, base.2, alpha),
                label: Some(format!("{drug} in force")),
            });
        }
    }
    bands
}

/// The figure of one therapy run.
pub struct TherapyFigure {
    panels: Panels,
}

impl TherapyFigure {
    pub fn new(model: &CompiledModel, s: &Schedule, r: &TherapyResult) -> TherapyFigure {
        let day = s.hours_per_unit / 24.0;
        let tl = &r.timeline;
        let days: Vec<f64> = tl.times.iter().map(|t| t * day).collect();
        let series = |pop: &str, var: &str| -> Option<Vec<(f64, f64)>> {
            let c = tl.column(pop, var)?;
            Some(days.iter().copied().zip(tl.series(c)).collect())
        };
        let steps = dose_steps(r, day);

        // Population, with dose steps shaded (darker = higher dose, per drug).
        let mut pop = Panel::new(
            "Population (shaded: dose in force, darker = higher)",
            "cells",
            true,
        );
        // Total first, so the genotypes are drawn over it.
        if model.genotypes.len() > 1 {
            if let Some(p) = series("total", "cells") {
                pop.lines
                    .push(Line::new("total cells", p, RGBAColor(0, 0, 0, 1.0)));
            }
        }
        for (k, g) in model.genotypes.iter().enumerate() {
            if let Some(p) = series(&g.name, "cells") {
                pop.lines
                    .push(Line::new(format!("{} cells", g.name), p, colour(k)));
            }
        }
        pop.bands = dose_bands(&steps, model.genotypes.len());
        for ev in &r.events {
            if let EventKind::Resistance(rule) = ev.kind {
                pop.marks.push((ev.time * day, rule.label().to_string()));
            }
        }
        let mut panels = vec![pop];

        // Loop species and observables of the base genotype, one panel per unit.
        let base = &model.genotypes[0].name;
        let lines = |names: Vec<(&String, &str)>| -> Vec<(String, Line)> {
            names
                .into_iter()
                .filter_map(|(n, u)| {
                    series(base, n).map(|pts| (u.to_string(), Line::new(n.clone(), pts, colour(0))))
                })
                .collect()
        };
        panels.extend(panels_by_unit(
            &format!("Loop species of {base}"),
            false,
            lines(
                model
                    .species
                    .iter()
                    .map(|x| (&x.name, x.unit.as_str()))
                    .collect(),
            ),
            MAX_LINES,
        ));
        panels.extend(panels_by_unit(
            &format!("Observables of {base}"),
            false,
            lines(
                model
                    .observables
                    .iter()
                    .map(|o| (&o.name, o.unit.as_deref().unwrap_or("")))
                    .collect(),
            ),
            MAX_LINES,
        ));

        // Dose in force, one panel per dose unit (log axis when it spans decades).
        if !steps.is_empty() {
            let unit_of = |drug: &str| match s.setting {
                Setting::InVitro => model
                    .drug_index(drug)
                    .map_or(String::new(), |d| model.drugs[d].unit.symbol().to_string()),
                Setting::InVivo => "mg/kg".to_string(),
            };
            let items: Vec<(String, Line)> = steps
                .iter()
                .map(|(drug, st)| {
                    let pts = st.iter().flat_map(|&(a, b, v)| [(a, v), (b, v)]).collect();
                    (unit_of(drug), Line::new(drug.clone(), pts, colour(0)))
                })
                .collect();
            for mut p in panels_by_unit("Scheduled dose", false, items, MAX_LINES) {
                let pos: Vec<f64> = p
                    .lines
                    .iter()
                    .flat_map(|l| l.points.iter().map(|x| x.1))
                    .filter(|&v| v > 0.0)
                    .collect();
                let span = pos.iter().copied().fold(0.0, f64::max)
                    / pos.iter().copied().fold(f64::INFINITY, f64::min);
                p.log = span.is_finite() && span > 50.0;
                panels.push(p);
            }
        }

        // IC50 readouts.
        if !r.ic50.is_empty() {
            let unit = &r.ic50[0].unit;
            let mut p = Panel::new(
                format!("IC50 of {} (72 h assay)", r.ic50[0].drug),
                format!("IC50 ({unit})"),
                true,
            );
            p.lines.push(
                Line::new(
                    "IC50",
                    r.ic50
                        .iter()
                        .filter_map(|x| x.ic50.map(|v| (x.time * day, v)))
                        .collect(),
                    colour(0),
                )
                .stroke(Stroke::Markers),
            );
            let above: Vec<(f64, f64)> = r
                .ic50
                .iter()
                .filter(|x| x.ic50.is_none())
                .map(|x| (x.time * day, x.top_dose))
                .collect();
            if !above.is_empty() {
                p.lines.push(
                    Line::new("above tested range (at top dose)", above, colour(1))
                        .stroke(Stroke::Markers),
                );
            }
            if let (Some(i0), Some(f)) = (r.summary.ic50_initial, s.resistance.ic50_fold) {
                p.hlines.push((
                    f * i0,
                    format!(
                        "resistance: {} x IC50 at t = 0",
                        crate::output::number::num(f)
                    ),
                ));
            }
            panels.push(p);
        }
        TherapyFigure {
            panels: Panels {
                panels,
                x_max: r.final_time * day,
                x_label: "time (days)".into(),
            },
        }
    }

    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        self.panels.save(stem)
    }
}

/// Several runs overlaid: the real burden (tumour volume in vivo, cells in the dish
/// in vitro) on a log axis, IC50 fold, scheduled dose.
pub struct CompareFigure {
    panels: Panels,
}

impl CompareFigure {
    /// `runs`: (schedule, result) pairs, in table order.
    pub fn new(model: &CompiledModel, runs: &[(&Schedule, &TherapyResult)]) -> CompareFigure {
        let in_vivo = runs.iter().all(|(s, _)| s.setting == Setting::InVivo);
        let (var, title, y) = if in_vivo {
            (
                "tumour_volume",
                "Tumour volume (numbers: time to resistance)",
                "mm^3",
            )
        } else {
            ("cells", "Cells (numbers: time to resistance)", "cells")
        };
        let mut burden = Panel::new(title, y, true);
        let mut fold = Panel::new("IC50 relative to t = 0", "fold", true);
        let mut dose_items: Vec<(String, Line)> = Vec::new();
        let mut x_max: f64 = 0.0;
        for (k, (s, r)) in runs.iter().enumerate() {
            let day = s.hours_per_unit / 24.0;
            x_max = x_max.max(r.final_time * day);
            let tl = &r.timeline;
            let days: Vec<f64> = tl.times.iter().map(|t| t * day).collect();
            let label = format!("{} {}", k + 1, s.name);
            if let Some(c) = tl.column("total", var) {
                burden.lines.push(Line::new(
                    label.clone(),
                    days.iter().copied().zip(tl.series(c)).collect(),
                    colour(k),
                ));
            }
            if let Some(t) = r.summary.time_to_resistance_days {
                burden.marks.push((t, format!("{}", k + 1)));
            }
            let pts: Vec<(f64, f64)> = r
                .ic50
                .iter()
                .filter_map(|x| x.fold.map(|f| (x.time * day, f)))
                .collect();
            if !pts.is_empty() {
                fold.lines
                    .push(Line::new(label.clone(), pts, colour(k)).stroke(Stroke::Markers));
            }
            for (drug, st) in dose_steps(r, day) {
                let pts = st.iter().flat_map(|&(a, b, v)| [(a, v), (b, v)]).collect();
                let unit = if s.setting == Setting::InVivo {
                    "mg/kg".to_string()
                } else {
                    model
                        .drug_index(&drug)
                        .map_or(String::new(), |d| model.drugs[d].unit.symbol().to_string())
                };
                dose_items.push((unit, Line::new(format!("{} {drug}", k + 1), pts, colour(k))));
            }
        }
        let mut panels = vec![burden];
        if !fold.lines.is_empty() {
            panels.push(fold);
        }
        // Keep each run's colour in the dose panels.
        let colours: Vec<(String, RGBAColor)> = dose_items
            .iter()
            .map(|(_, l)| (l.label.clone(), l.color))
            .collect();
        for mut p in panels_by_unit("Scheduled dose", false, dose_items, 2 * MAX_LINES) {
            for l in &mut p.lines {
                if let Some((_, c)) = colours.iter().find(|(n, _)| *n == l.label) {
                    l.color = *c;
                }
            }
            panels.push(p);
        }
        CompareFigure {
            panels: Panels {
                panels,
                x_max,
                x_label: "time (days)".into(),
            },
        }
    }

    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        self.panels.save(stem)
    }
}
