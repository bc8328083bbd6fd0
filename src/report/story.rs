//! The teaching story of a model: the targeted drug alone against the drug plus the
//! second drug that breaks the loop, in one figure a class can read in five minutes.
//!
//! A story file (`models/stories/<model>.toml`, see docs/tutorial.md) names the
//! model, the two shipped schedules and the loop species to show; nothing here knows
//! any model. The figure stacks:
//! 1. cells of both runs on a log axis, the drugs in force shaded, a detection line,
//!    and the events marked (resistance under the drug alone, the second drug
//!    added, resistance or a fall below detection with it);
//! 2. the key loop species of both runs (solid: drug alone, dashed: with the second
//!    drug), one panel per unit;
//! 3. the genotype composition of each run (stacked fractions with a legend).
//!
//! In vitro runs are passaged, so their cells are shown expanded (as if no passage
//! had discarded any): the dish count saws up and down and hides the trend.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compile::{compile_file, CompiledModel};
use crate::output::atomic::write_atomic;
use crate::output::manifest::{model_ref, schedule_ref, FileRef, Manifest};
use crate::output::number::num;
use crate::output::panels::{series_colour, stacked_fractions, Line, Panel, Panels, Stroke};
use crate::schedule::{Schedule, Setting};
use crate::therapy::plot::{dose_bands, dose_steps};
use crate::therapy::{EventKind, TherapyOptions, TherapyResult};

/// The `[story]` table of a story file. Paths are relative to the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorySpec {
    /// One line heading the figure.
    pub title: String,
    /// The model file.
    pub model: PathBuf,
    /// Schedule of the targeted drug alone.
    pub alone: PathBuf,
    /// Schedule of the drug plus the loop breaker.
    pub combination: PathBuf,
    /// Loop species to show (the loop's key players), by name.
    pub species: Vec<String>,
    /// Cells below which a tumour or a culture is not detected (a line on the cell
    /// panel; optional).
    #[serde(default)]
    pub detection_cells: Option<f64>,
    /// What the detection line stands for (its label).
    #[serde(default)]
    pub detection_label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoryFile {
    story: StorySpec,
}

#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: `story.{field}`: {message}")]
    Field {
        path: String,
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error(transparent)]
    Therapy(#[from] crate::therapy::TherapyError),
    #[error(transparent)]
    Plot(#[from] crate::output::plot::PlotError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// A story file read and checked against its model and schedules.
pub struct Story {
    pub path: PathBuf,
    pub spec: StorySpec,
    pub model: CompiledModel,
    pub alone: Schedule,
    pub combination: Schedule,
    /// Indices of `spec.species` in the model.
    pub species: Vec<usize>,
}

/// Read a story file; every name is checked (an unknown species is an error naming
/// the field, with the closest name the model has).
pub fn load(path: &Path) -> Result<Story, StoryError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| StoryError::File {
        path: p.clone(),
        message: e.to_string(),
    })?;
    let file: StoryFile = toml::from_str(&text).map_err(|e| StoryError::File {
        path: p.clone(),
        message: e.to_string().trim().replace('\n', " "),
    })?;
    let spec = file.story;
    let here = path.parent().unwrap_or(Path::new("."));
    let model = compile_file(&here.join(&spec.model))?;
    let alone = Schedule::load(&here.join(&spec.alone), &model)?;
    let combination = Schedule::load(&here.join(&spec.combination), &model)?;
    let field = |field, message| StoryError::Field {
        path: p.clone(),
        field,
        message,
    };
    if spec.species.is_empty() {
        return Err(field("species", "name at least one loop species".into()));
    }
    let mut species = Vec::new();
    for s in &spec.species {
        let i = model
            .species
            .iter()
            .position(|x| &x.name == s)
            .ok_or_else(|| {
                field(
                    "species",
                    format!(
                        "the model has no species `{s}`{}",
                        crate::expr::resolve::did_you_mean_among(
                            s,
                            model.species.iter().map(|x| x.name.as_str())
                        )
                    ),
                )
            })?;
        species.push(i);
    }
    if let Some(d) = spec.detection_cells {
        if !(d.is_finite() && d > 0.0) {
            return Err(field(
                "detection_cells",
                format!("expected a positive number of cells, found {d}"),
            ));
        }
    }
    Ok(Story {
        path: path.to_path_buf(),
        spec,
        model,
        alone,
        combination,
        species,
    })
}

/// The two runs of a story.
pub struct StoryRuns {
    pub alone: TherapyResult,
    pub combination: TherapyResult,
}

/// Run both schedules with `options` (engine, seed, tolerances).
pub fn run(story: &Story, options: &TherapyOptions) -> Result<StoryRuns, StoryError> {
    Ok(StoryRuns {
        alone: crate::therapy::run(&story.model, &story.alone, options)?,
        combination: crate::therapy::run(&story.model, &story.combination, options)?,
    })
}

/// Drugs of `s` not given in `alone`: the loop breakers.
fn added_drugs(alone: &Schedule, s: &Schedule) -> Vec<String> {
    s.arms
        .iter()
        .filter(|a| !alone.arms.iter().any(|b| b.drug == a.drug))
        .map(|a| a.drug_name.clone())
        .collect()
}

/// One column of a run's timeline against time in days.
fn series(
    s: &Schedule,
    r: &TherapyResult,
    population: &str,
    variable: &str,
) -> Option<Vec<(f64, f64)>> {
    let day = s.hours_per_unit / 24.0;
    let c = r.timeline.column(population, variable)?;
    Some(
        r.timeline
            .times
            .iter()
            .map(|t| t * day)
            .zip(r.timeline.series(c))
            .collect(),
    )
}

/// The cells shown: in the dish or tumour in vivo, expanded in vitro.
fn cells(s: &Schedule, r: &TherapyResult) -> Vec<(f64, f64)> {
    let var = match s.setting {
        Setting::InVivo => "cells",
        Setting::InVitro => "expanded_cells",
    };
    series(s, r, "total", var).unwrap_or_default()
}

/// The story figure and the series it plots.
pub struct StoryFigure {
    pub panels: Panels,
}

impl StoryFigure {
    pub fn new(story: &Story, runs: &StoryRuns) -> StoryFigure {
        let m = &story.model;
        let (a, c) = (&story.alone, &story.combination);
        let added = added_drugs(a, c);
        let with = if added.is_empty() {
            c.name.clone()
        } else {
            format!("+ {}", added.join(" + "))
        };
        let alone_label = "drug alone".to_string();
        let in_vitro = a.setting == Setting::InVitro;

        // 1. Cells.
        let mut top = Panel::new(
            format!(
                "{}: cells{}",
                story.spec.title,
                if in_vitro {
                    " (expanded: as if no passage discarded any)"
                } else {
                    ""
                }
            ),
            "cells",
            true,
        );
        let cells_a = cells(a, &runs.alone);
        let cells_c = cells(c, &runs.combination);
        top.lines.push(Line::new(
            alone_label.clone(),
            cells_a.clone(),
            series_colour(0),
        ));
        // Dashed: the runs share their start, and the drug-alone line shows through.
        top.lines.push(
            Line::new(with.clone(), cells_c.clone(), series_colour(2)).stroke(Stroke::Dashed),
        );
        // Shade only the drugs of the combination run: the shared drug and the breaker.
        let steps = dose_steps(&runs.combination, c.hours_per_unit / 24.0);
        top.bands = dose_bands(&steps, 3);
        if let Some(d) = story.spec.detection_cells {
            top.hlines.push((
                d,
                story
                    .spec
                    .detection_label
                    .clone()
                    .unwrap_or_else(|| format!("detection ({} cells)", num(d))),
            ));
            top.log_floor = Some(d / 100.0);
        }
        let day_a = a.hours_per_unit / 24.0;
        let day_c = c.hours_per_unit / 24.0;
        if let Some(t) = runs.alone.summary.time_to_resistance_days {
            top.marks.push((t, "resistant (drug alone)".into()));
        }
        let breaker_start = runs
            .combination
            .events
            .iter()
            .find(|e| {
                e.kind == EventKind::DoseChange
                    && e.value > 0.0
                    && e.drug.as_ref().is_some_and(|d| added.contains(d))
            })
            .map(|e| e.time * day_c);
        if let Some(t) = breaker_start {
            top.marks.push((t, format!("{with} added")));
        }
        match runs.combination.summary.time_to_resistance_days {
            // Before the breaker the runs are the same run: one event, one mark.
            Some(t) if runs.alone.summary.time_to_resistance_days == Some(t) => {
                if let Some(m) = top.marks.first_mut() {
                    m.1 = "resistant (both runs)".into();
                }
            }
            Some(t) => top.marks.push((t, format!("resistant ({with})"))),
            None => {}
        }
        if let (Some(d), Some(t0)) = (story.spec.detection_cells, breaker_start) {
            if let Some(&(t, _)) = cells_c.iter().find(|(t, v)| *t > t0 && *v < d) {
                top.marks.push((t, "below detection".into()));
            }
        }
        if runs.combination.summary.extinction.reached {
            top.marks
                .push((runs.combination.summary.extinction.days, "extinct".into()));
        }
        let mut panels = vec![top];

        // A column of both runs, as a solid (drug alone) and a dashed (combined) line.
        let both = |population: &str, variable: &str, colour| -> Vec<Line> {
            let label = if variable == "cells" {
                population
            } else {
                variable
            };
            [
                (&runs.alone, a, Stroke::Solid, alone_label.as_str()),
                (&runs.combination, c, Stroke::Dashed, with.as_str()),
            ]
            .into_iter()
            .filter_map(|(r, s, stroke, tag)| {
                let pts = series(s, r, population, variable)?;
                Some(Line::new(format!("{label} ({tag})"), pts, colour).stroke(stroke))
            })
            .collect()
        };

        // 2. Key loop species of the base genotype: solid alone, dashed combined.
        let base = &m.genotypes[0].name;
        let mut units: Vec<&str> = Vec::new();
        for &i in &story.species {
            let u = m.species[i].unit.as_str();
            if !units.contains(&u) {
                units.push(u);
            }
        }
        for u in units {
            let mut p = Panel::new(
                format!("Key loop species of {base} ({u}); solid: drug alone, dashed: {with}"),
                u,
                false,
            );
            for (k, &i) in story.species.iter().enumerate() {
                if m.species[i].unit != u {
                    continue;
                }
                p.lines
                    .extend(both(base, &m.species[i].name, series_colour(k)));
            }
            panels.push(p);
        }

        // 3. Genotypes: cells of each on a log axis (a mutant too rare for a band
        // still shows), and the composition of each run where a mutant reached 1%.
        if m.genotypes.len() > 1 {
            let mut p = Panel::new(
                format!("Cells of each genotype; solid: drug alone, dashed: {with}"),
                "cells",
                true,
            );
            p.log_floor = Some(0.5);
            for (g, gt) in m.genotypes.iter().enumerate() {
                p.lines.extend(both(&gt.name, "cells", series_colour(g)));
            }
            panels.push(p);
            for (r, s, tag) in [
                (&runs.alone, a, alone_label.as_str()),
                (&runs.combination, c, with.as_str()),
            ] {
                let parts: Vec<(String, Vec<(f64, f64)>)> = m
                    .genotypes
                    .iter()
                    .filter_map(|g| Some((g.name.clone(), series(s, r, &g.name, "cells")?)))
                    .collect();
                let areas = stacked_fractions(&parts);
                let mutant_peak = areas
                    .iter()
                    .skip(1)
                    .flat_map(|a| a.points.iter().map(|p| p.2 - p.1))
                    .fold(0.0, f64::max);
                if mutant_peak >= 0.01 {
                    let mut p = Panel::new(
                        format!("Genotype composition, {tag} (fraction of cells)"),
                        "fraction of cells",
                        false,
                    );
                    p.areas = areas;
                    panels.push(p);
                }
            }
        }
        let x_max = (runs.alone.final_time * day_a).max(runs.combination.final_time * day_c);
        StoryFigure {
            panels: Panels {
                panels,
                x_max,
                x_label: "time (days)".into(),
            },
        }
    }
}

/// What `manifest.json` holds for a story, inside the common envelope (the story,
/// model and both schedules are its inputs).
#[derive(Debug, Serialize)]
struct StoryRun<'a> {
    story: &'a StorySpec,
    options: &'a TherapyOptions,
    summary: StorySummary,
}

/// The story in numbers (also the page's one-line story).
#[derive(Debug, Serialize)]
struct StorySummary {
    story: String,
    alone: String,
    combination: String,
}

/// Run a story and write `story.png`, `story.svg`, `story.csv` (the plotted series,
/// long format) and `manifest.json` into `out` (an existing folder).
pub fn write(story: &Story, options: &TherapyOptions, out: &Path) -> Result<String, StoryError> {
    let runs = run(story, options)?;
    let fig = StoryFigure::new(story, &runs);
    fig.panels.save(&out.join("story"))?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StoryError::Io { path, source }
    };
    let csv = out.join("story.csv");
    write_atomic(&csv, |w| {
        writeln!(w, "panel,series,time_days,value")?;
        for p in &fig.panels.panels {
            for l in &p.lines {
                for (t, v) in &l.points {
                    writeln!(
                        w,
                        "\"{}\",\"{}\",{t},{v}",
                        p.title.replace('"', "'"),
                        l.label
                    )?;
                }
            }
            for a in &p.areas {
                for (t, lo, hi) in &a.points {
                    writeln!(
                        w,
                        "\"{}\",\"{}\",{t},{}",
                        p.title.replace('"', "'"),
                        a.label,
                        hi - lo
                    )?;
                }
            }
        }
        Ok(())
    })
    .map_err(io(&csv))?;
    let line = format!(
        "{}: {}; with the loop breaker: {}",
        story.spec.title, runs.alone.summary.story, runs.combination.summary.story
    );
    let run = StoryRun {
        story: &story.spec,
        options,
        summary: StorySummary {
            story: line.clone(),
            alone: runs.alone.summary.story.clone(),
            combination: runs.combination.summary.story.clone(),
        },
    };
    let story_file = FileRef::read("story", &story.path).map_err(io(&story.path))?;
    let inputs = vec![
        story_file,
        model_ref(&story.model),
        schedule_ref(&story.alone),
        schedule_ref(&story.combination),
    ];
    let outputs = ["story.png", "story.svg", "story.csv", "manifest.json"];
    let manifest = Manifest::new(inputs, run, None, outputs.map(String::from).to_vec());
    let mp = out.join("manifest.json");
    manifest.write(&mp).map_err(io(&mp))?;
    Ok(line)
}
