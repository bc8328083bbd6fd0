//! Plots of a scored plate, each written as PNG and SVG through
//! [`crate::output::plot::draw_png_and_svg`]:
//! - `heatmap_<method>`: score per cell, doses (with units) on the axes; red = synergy
//!   under the shared convention (excess > 0, CI < 1), blue = antagonism, grey =
//!   undefined;
//! - `single_agents`: each drug's single-agent means and fitted Hill curve (log dose);
//! - `ci_fa` (when `ci` was scored): Fa-CI plot and normalised isobologram at Fa 0.5,
//!   0.75, 0.9.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ci::CiDetail;
use super::{CellStatus, Context, Method, MethodDetail, MethodResult, SynergyError};
use crate::fit::HillFit;
use crate::output::plot::{draw_png_and_svg, Figure};
use crate::plate::DrugInfo;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn dose_label(d: f64) -> String {
    if d == 0.0 {
        "0".into()
    } else {
        format!("{d:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn axis(drug: &DrugInfo) -> String {
    if drug.unit.is_empty() {
        format!("{} dose", drug.name)
    } else {
        format!("{} dose ({})", drug.name, drug.unit)
    }
}

/// Map a score to a colour: signed "synergy strength" s in [-1, 1] (positive = synergy)
/// from white to red or blue.
fn colour(method: Method, score: f64, scale: f64) -> RGBColor {
    let s = if method == Method::Ci {
        -score.max(1e-12).log2()
    } else {
        score
    };
    let t = (s / scale).clamp(-1.0, 1.0);
    let fade = |c: u8| (255.0 - (255.0 - f64::from(c)) * t.abs()) as u8;
    if t >= 0.0 {
        RGBColor(fade(200), fade(30), fade(30))
    } else {
        RGBColor(fade(30), fade(60), fade(200))
    }
}

struct Heatmap<'a> {
    ctx: &'a Context,
    result: &'a MethodResult,
}

impl Figure for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let g = &self.ctx.grid;
        let (na, nb) = (g.na(), g.nb());
        let m = self.result.method;
        area.fill(&WHITE).map_err(e)?;
        let what = if m == Method::Ci {
            "combination index (< 1 = synergy)"
        } else {
            "excess over reference (> 0 = synergy)"
        };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{m}: {what}"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((0..nb).into_segmented(), (0..na).into_segmented())
            .map_err(e)?;
        let label = |doses: &[f64], v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(k) if *k < doses.len() => dose_label(doses[*k]),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nb + 1)
            .y_labels(na + 1)
            .x_label_formatter(&|v| label(&g.doses_b, v))
            .y_label_formatter(&|v| label(&g.doses_a, v))
            .x_desc(axis(&g.drug_b))
            .y_desc(axis(&g.drug_a))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        let scale = self
            .result
            .cells
            .iter()
            .filter(|c| c.status != CellStatus::Neutral)
            .filter_map(|c| c.score)
            .map(|s| {
                if m == Method::Ci {
                    s.max(1e-12).log2().abs()
                } else {
                    s.abs()
                }
            })
            .fold(1e-9, f64::max);
        let exact = SegmentValue::Exact;
        chart
            .draw_series(self.result.cells.iter().map(|c| {
                let fill = match c.score {
                    Some(s) => colour(m, s, scale),
                    None => RGBColor(170, 170, 170),
                };
                Rectangle::new(
                    [(exact(c.j), exact(c.i)), (exact(c.j + 1), exact(c.i + 1))],
                    fill.filled(),
                )
            }))
            .map_err(e)?;
        chart
            .draw_series(self.result.cells.iter().map(|c| {
                let text = c.score.map_or("n/a".to_string(), |s| format!("{s:.2}"));
                Text::new(
                    text,
                    (SegmentValue::CenterOf(c.j), SegmentValue::CenterOf(c.i)),
                    ("sans-serif", 11).into_font().color(&BLACK),
                )
            }))
            .map_err(e)?;
        Ok(())
    }
}

/// Chart builder shared by the curve and CI panels: caption, margins, label areas.
fn panel<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: String,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(caption, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(55);
    b
}

struct SingleAgents<'a> {
    ctx: &'a Context,
}

fn curve_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    drug: &DrugInfo,
    (d, y): (Vec<f64>, Vec<f64>),
    fit: &HillFit,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let pos: Vec<(f64, f64)> = d
        .iter()
        .zip(&y)
        .filter(|p| *p.0 > 0.0)
        .map(|(&a, &b)| (a, b))
        .collect();
    let lo = pos.iter().map(|p| p.0).fold(f64::INFINITY, f64::min) / 3.0;
    let hi = pos.iter().map(|p| p.0).fold(0.0, f64::max) * 3.0;
    let ymax = y.iter().copied().fold(1.2, f64::max);
    let mut chart = panel(
        area,
        format!(
            "{}: E0={:.2} Emax={:.2} EC50={:.3e} h={:.2} r2={:.3}",
            drug.name, fit.e0, fit.emax, fit.c, fit.h, fit.r2
        ),
    )
    .build_cartesian_2d((lo..hi).log_scale(), 0.0..ymax)
    .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} (log scale)", axis(drug)))
        .y_desc("viable fraction")
        .draw()
        .map_err(e)?;
    let n = 200;
    let line = (0..=n).map(|k| {
        let x = lo * (hi / lo).powf(k as f64 / n as f64);
        (x, fit.eval(x))
    });
    chart
        .draw_series(LineSeries::new(line, BLUE.stroke_width(2)))
        .map_err(e)?;
    if let Some(y0) = d.iter().position(|&x| x == 0.0).map(|k| y[k]) {
        chart
            .draw_series(DashedLineSeries::new(
                [(lo, y0), (hi, y0)],
                6,
                4,
                BLACK.mix(0.5).into(),
            ))
            .map_err(e)?
            .label("untreated (dose 0)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.5)));
    }
    chart
        .draw_series(pos.iter().map(|&p| Circle::new(p, 4, RED.filled())))
        .map_err(e)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(e)?;
    Ok(())
}

impl Figure for SingleAgents<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(e)?;
        let (left, right) = area.split_horizontally(area.dim_in_pixel().0 / 2);
        let g = &self.ctx.grid;
        curve_panel(&left, &g.drug_a, g.single_a(), &self.ctx.fit_a)?;
        curve_panel(&right, &g.drug_b, g.single_b(), &self.ctx.fit_b)
    }
}

struct CiFigure<'a> {
    result: &'a MethodResult,
    detail: &'a CiDetail,
}

impl Figure for CiFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(e)?;
        let (left, right) = area.split_horizontally(area.dim_in_pixel().0 / 2);
        let pts: Vec<(f64, f64)> = self
            .result
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Scored)
            .filter_map(|c| Some((1.0 - c.observed?, c.score?)))
            .collect();
        let ymax = pts.iter().map(|p| p.1).fold(2.0, f64::max).min(10.0);
        let mut chart = panel(&left, "Fa-CI plot (CI < 1 = synergy)".into())
            .build_cartesian_2d(0.0..1.0, 0.0..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("fraction affected Fa (1 - viable fraction)")
            .y_desc("combination index")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 1.0), (1.0, 1.0)],
                6,
                4,
                BLACK.into(),
            ))
            .map_err(e)?;
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y.min(ymax)), 4, RED.filled())),
            )
            .map_err(e)?;

        let iso: Vec<(f64, f64, f64)> = self
            .detail
            .rays
            .iter()
            .flat_map(|r| r.at_fa.iter().map(|p| (p.fa, 1.0 / p.dri_a, 1.0 / p.dri_b)))
            .collect();
        let lim = iso
            .iter()
            .map(|p| p.1.max(p.2))
            .fold(1.2, f64::max)
            .min(5.0);
        let mut chart = panel(
            &right,
            "normalised isobologram (below line = synergy)".into(),
        )
        .build_cartesian_2d(0.0..lim, 0.0..lim)
        .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("d_A / Dx_A (dose of A in mixture / dose alone, same Fa)")
            .y_desc("d_B / Dx_B")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new([(1.0, 0.0), (0.0, 1.0)], BLACK))
            .map_err(e)?;
        for (k, (fa, colour)) in [(0.5, RED), (0.75, GREEN), (0.9, BLUE)]
            .into_iter()
            .enumerate()
        {
            chart
                .draw_series(iso.iter().filter(|p| p.0 == fa).map(|p| {
                    Circle::new((p.1.min(lim), p.2.min(lim)), 4 + k as i32, colour.filled())
                }))
                .map_err(e)?
                .label(format!("Fa = {fa}"))
                .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(e)?;
        Ok(())
    }
}

/// Draw every plot for the results into `out_dir`; returns the files written.
pub fn draw_all(
    out_dir: &Path,
    ctx: &Context,
    results: &[MethodResult],
    _bootstrap: Option<&super::BootstrapSummary>,
) -> Result<Vec<PathBuf>, SynergyError> {
    std::fs::create_dir_all(out_dir).map_err(|source| SynergyError::Write {
        path: out_dir.display().to_string(),
        source,
    })?;
    let mut files = Vec::new();
    let mut stem = |name: String| {
        let s = out_dir.join(name);
        files.push(s.with_extension("png"));
        files.push(s.with_extension("svg"));
        s
    };
    let side = |n: usize| (140 + 70 * n as u32).clamp(500, 1400);
    let size = (side(ctx.grid.nb()), side(ctx.grid.na()));
    for r in results {
        draw_png_and_svg(
            &stem(format!("heatmap_{}", r.method)),
            size,
            &Heatmap { ctx, result: r },
        )?;
        if let MethodDetail::Ci(detail) = &r.detail {
            draw_png_and_svg(
                &stem("ci_fa".into()),
                (1100, 500),
                &CiFigure { result: r, detail },
            )?;
        }
    }
    draw_png_and_svg(
        &stem("single_agents".into()),
        (1100, 480),
        &SingleAgents { ctx },
    )?;
    Ok(files)
}
