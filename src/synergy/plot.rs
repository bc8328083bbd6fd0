//! Plots of a scored plate, each written as PNG and SVG through
//! [`crate::output::plot::draw_png_and_svg`]:
//! - `heatmap_<method>`: score per cell (and its 95 % bootstrap interval when there is
//!   one), doses (with units) on the axes, and a colour bar. Every heatmap uses one
//!   fixed, symmetric, diverging scale (ColorBrewer RdBu through plotters'
//!   `DerivedColorMap`): red = synergy under the shared convention, blue = antagonism,
//!   white = none, grey = undefined. Excess scores saturate at +-[`EXCESS_LIMIT`]
//!   viability; the combination index at `2^-+CI_LOG2_LIMIT` (0.25 and 4), so the same
//!   colour means the same strength on every plate and for every method;
//! - `surface`: the measured dose-response surface in 3D with the neutral (Bliss, fitted
//!   single agents) surface as a wireframe;
//! - `single_agents`: each drug's single-agent means and fitted Hill curve (log dose);
//! - `ci_fa` (when `ci` was scored): Fa-CI plot and normalised isobologram at Fa 0.5,
//!   0.75, 0.9.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ci::CiDetail;
use super::{
    BootstrapSummary, CellStatus, Context, Interval, Method, MethodDetail, MethodResult,
    SynergyError,
};
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

/// Excess score (viability) at which the colour scale saturates.
pub const EXCESS_LIMIT: f64 = 0.3;
/// `|log2 CI|` at which the colour scale saturates (CI 0.25 or 4).
pub const CI_LOG2_LIMIT: f64 = 2.0;

/// The diverging colour map: -1 (antagonism, blue) .. 0 (white) .. +1 (synergy, red).
fn diverging() -> DerivedColorMap<RGBColor> {
    DerivedColorMap::new(&[
        RGBColor(33, 102, 172),
        RGBColor(103, 169, 207),
        RGBColor(209, 229, 240),
        RGBColor(247, 247, 247),
        RGBColor(253, 219, 199),
        RGBColor(239, 138, 98),
        RGBColor(178, 24, 43),
    ])
}

/// Signed synergy strength in [-1, 1] (positive = synergy) on the fixed scale.
fn strength(method: Method, score: f64) -> f64 {
    let s = if method == Method::Ci {
        -score.max(1e-300).log2() / CI_LOG2_LIMIT
    } else {
        score / EXCESS_LIMIT
    };
    s.clamp(-1.0, 1.0)
}

/// The score shown at strength `t` (inverse of [`strength`]), for colour-bar labels.
fn score_at(method: Method, t: f64) -> f64 {
    if method == Method::Ci {
        (-t * CI_LOG2_LIMIT).exp2()
    } else {
        t * EXCESS_LIMIT
    }
}

fn colour(map: &DerivedColorMap<RGBColor>, t: f64) -> RGBColor {
    map.get_color_normalized(t, -1.0, 1.0)
}

struct Heatmap<'a> {
    ctx: &'a Context,
    result: &'a MethodResult,
    /// Per-cell bootstrap intervals, when bootstrapped.
    intervals: Option<&'a [Interval]>,
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
        let (main, bar) = area.split_horizontally(area.dim_in_pixel().0 - 120);
        let what = if m == Method::Ci {
            "combination index (< 1 = synergy)"
        } else {
            "excess over reference (> 0 = synergy)"
        };
        // A method with no defined cell says why in its title.
        let reasons = &self.result.summary.undefined_reasons;
        let (caption, size) = match reasons.keys().next() {
            Some(why) if self.result.summary.n_scored == 0 => (format!("{m} undefined: {why}"), 12),
            _ => (format!("{m}: {what}"), 20),
        };
        let mut chart = ChartBuilder::on(&main)
            .caption(caption, ("sans-serif", size))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            // `(0..n - 1).into_segmented()` has exactly n segments, one per dose.
            .build_cartesian_2d((0..nb - 1).into_segmented(), (0..na - 1).into_segmented())
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
        let map = diverging();
        let exact = SegmentValue::Exact;
        chart
            .draw_series(self.result.cells.iter().map(|c| {
                let fill = match c.score {
                    Some(s) => colour(&map, strength(m, s)),
                    None => RGBColor(170, 170, 170),
                };
                Rectangle::new(
                    [(exact(c.j), exact(c.i)), (exact(c.j + 1), exact(c.i + 1))],
                    fill.filled(),
                )
            }))
            .map_err(e)?;
        let font = |size: u32| ("sans-serif", size).into_font().color(&BLACK);
        let shift = if self.intervals.is_some() { -7 } else { 0 };
        chart
            .draw_series(self.result.cells.iter().enumerate().map(|(k, c)| {
                let at = (SegmentValue::CenterOf(c.j), SegmentValue::CenterOf(c.i));
                let score = c.score.map_or("n/a".to_string(), |s| format!("{s:.2}"));
                let interval = self
                    .intervals
                    .and_then(|v| v.get(k))
                    .filter(|_| c.score.is_some() && c.status != CellStatus::Neutral)
                    .and_then(|iv| Some(format!("[{:.2}, {:.2}]", iv.lo?, iv.hi?)))
                    .unwrap_or_default();
                EmptyElement::at(at)
                    + Text::new(score, (0, shift), font(12).pos(centre()))
                    + Text::new(interval, (0, 8), font(9).pos(centre()))
            }))
            .map_err(e)?;
        colour_bar(&bar, m, &map, self.intervals.is_some())
    }
}

fn centre() -> Pos {
    Pos::new(HPos::Center, VPos::Center)
}

/// A vertical colour bar of the fixed scale, labelled in the method's own units.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    method: Method,
    map: &DerivedColorMap<RGBColor>,
    intervals: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let caption = match (method == Method::Ci, intervals) {
        (true, _) => "CI",
        (false, true) => "score [95% CI]",
        (false, false) => "score",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 13))
        .margin_top(50)
        .margin_bottom(60)
        .margin_right(10)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..1.0, -1.0..1.0)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(9)
        .y_label_formatter(&|t| {
            let v = score_at(method, *t);
            if method == Method::Ci {
                format!("{v:.2}")
            } else {
                format!("{v:+.2}")
            }
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let n = 100;
    chart
        .draw_series((0..n).map(|k| {
            let (t0, t1) = (
                -1.0 + 2.0 * k as f64 / n as f64,
                -1.0 + 2.0 * (k + 1) as f64 / n as f64,
            );
            Rectangle::new(
                [(0.0, t0), (1.0, t1)],
                colour(map, 0.5 * (t0 + t1)).filled(),
            )
        }))
        .map_err(e)?;
    Ok(())
}

/// The measured surface in 3D over the dose grid, with the neutral (Bliss of the fitted
/// single agents) surface as a black wireframe.
struct Surface<'a> {
    ctx: &'a Context,
}

impl Figure for Surface<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let c = self.ctx;
        let g = &c.grid;
        let (na, nb) = (g.na(), g.nb());
        area.fill(&WHITE).map_err(e)?;
        let neutral = |i: usize, j: usize| c.fit_a.eval(g.doses_a[i]) * c.fit_b.eval(g.doses_b[j]);
        let measured = |i: usize, j: usize| g.mean(i, j).unwrap_or_else(|| neutral(i, j));
        let top = (0..na)
            .flat_map(|i| (0..nb).map(move |j| (i, j)))
            .map(|(i, j)| measured(i, j))
            .fold(1.05, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} + {}: measured viability (surface) vs Bliss neutral surface (black)",
                    g.drug_a.name, g.drug_b.name
                ),
                ("sans-serif", 16),
            )
            .margin(20)
            .build_cartesian_3d(0.0..(nb - 1) as f64, 0.0..top, 0.0..(na - 1) as f64)
            .map_err(e)?;
        chart.with_projection(|mut p| {
            p.yaw = 0.75;
            p.pitch = 0.35;
            p.scale = 0.85;
            p.into_matrix()
        });
        let dose = |doses: &[f64], v: f64| {
            let k = v.round();
            if (v - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < doses.len() {
                dose_label(doses[k as usize])
            } else {
                String::new()
            }
        };
        let fx = |v: &f64| dose(&g.doses_b, *v);
        let fz = |v: &f64| dose(&g.doses_a, *v);
        chart
            .configure_axes()
            .x_labels(nb)
            .z_labels(na)
            .x_formatter(&fx)
            .z_formatter(&fz)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        let viridis = ViridisRGB;
        let style = |y: &f64| {
            let c: RGBColor = viridis.get_color_normalized(*y, 0.0, top);
            c.mix(0.85).filled()
        };
        let idx = |v: f64| v.round().max(0.0) as usize;
        chart
            .draw_series(
                SurfaceSeries::xoz(
                    (0..nb).map(|j| j as f64),
                    (0..na).map(|i| i as f64),
                    |x: f64, z: f64| measured(idx(z), idx(x)),
                )
                .style_func(&style),
            )
            .map_err(e)?
            .label(format!(
                "measured ({} dose along x, {} along z)",
                g.drug_b.name, g.drug_a.name
            ))
            .legend(move |(x, y)| {
                let mid: RGBColor = viridis.get_color(0.5);
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], mid.filled())
            });
        // Wireframe: every row (fixed drug A dose), then every column.
        let rows = (0..na).map(|i| (0..nb).map(move |j| (i, j)).collect::<Vec<_>>());
        let cols = (0..nb).map(|j| (0..na).map(move |i| (i, j)).collect::<Vec<_>>());
        for line in rows.chain(cols) {
            let pts = line
                .iter()
                .map(|&(i, j)| (j as f64, neutral(i, j), i as f64));
            chart
                .draw_series(LineSeries::new(pts, BLACK.stroke_width(1)))
                .map_err(e)?;
        }
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64, f64)>>())
            .map_err(e)?
            .label("Bliss neutral surface (fitted single agents)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLACK));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .draw()
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
    bootstrap: Option<&BootstrapSummary>,
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
    // Room for the colour bar on the right.
    let size = (side(ctx.grid.nb()) + 120, side(ctx.grid.na()));
    for r in results {
        draw_png_and_svg(
            &stem(format!("heatmap_{}", r.method)),
            size,
            &Heatmap {
                ctx,
                result: r,
                intervals: bootstrap
                    .and_then(|b| b.methods.iter().find(|m| m.method == r.method))
                    .map(|m| m.cells.as_slice()),
            },
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
    draw_png_and_svg(&stem("surface".into()), (1000, 800), &Surface { ctx })?;
    Ok(files)
}
