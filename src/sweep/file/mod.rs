//! Sweep files of a model: which model, under which schedule, which parameters over
//! which ranges (defaulting to the bounds the model declares), which design, and which
//! metrics to keep. `docs/sweep-format.md` is the reference.
//!
//! Loading checks everything against the model before any run starts and reports
//! each problem with the sweep file's path, line, column and field (a parameter the
//! model lacks comes with a suggestion). The result is a plain [`SweepSpec`] (bounds
//! filled in, the `model`, `schedule` and `metrics` sections carried as written) and a
//! [`ModelEvaluator`] for the runner.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::design::Design;
use super::error::SweepError;
use super::manifest::InputFile;
use super::metrics::{ColumnRef, Metric};
use super::model_evaluator::{fill_template, Doses, ModelEvaluator, RunKind, Target};
use super::spec::{is_reserved, DesignSpec, ParameterSpec, Scale, SweepSpec};
use super::synergy_metric::{normalise_doses, Snapshot, Statistic, SynergyMetric};
use crate::compile::{compile, CompiledModel};
use crate::engine::ode::{Method, OdeOptions};
use crate::engine::EngineKind;
use crate::expr::resolve::did_you_mean_among;
use crate::model::{load_file, parse_toml, ModelError, ModelErrorKind as K, SourceText};
use crate::output::manifest::{model_ref, schedule_ref};
use crate::pkpd::{parse_dose_spec, DrugQuantity};
use crate::schedule::{Schedule, Setting};
use crate::synergy::Method as SynergyMethod;
use crate::therapy::TherapyOptions;

mod columns;
mod metrics;
mod parameters;
mod raw;
mod sections;

use raw::*;
pub use sections::parse_days;
use sections::{placeholder_names, placeholder_unit};

/// Settings of loading that are not part of the file.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept parameter ranges that leave the bounds the model declares
    /// (`--allow-out-of-bounds`).
    pub allow_outside: bool,
}

/// A loaded, checked model sweep.
#[derive(Debug, Clone)]
pub struct ModelSweep {
    /// The sweep file.
    pub path: PathBuf,
    pub spec: SweepSpec,
    pub evaluator: ModelEvaluator,
}

/// Output intervals of each run when the schedule does not say.
pub const DEFAULT_POINTS: u64 = 400;
/// Regrowth above the nadir that counts as resistance (the loop A study's rule).
pub const DEFAULT_REGROWTH: f64 = 0.25;

/// Read and check a model sweep file.
pub fn load_model_sweep(path: &Path, options: &LoadOptions) -> Result<ModelSweep, SweepError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| SweepError::Input(ModelError::io(path, &e)))?;
    load_model_sweep_str(path, text, options)
}

/// Check a model sweep given as text; `path` locates errors and relative file names.
pub fn load_model_sweep_str(
    path: &Path,
    text: String,
    options: &LoadOptions,
) -> Result<ModelSweep, SweepError> {
    let src = SourceText::new(path, text);
    let raw: RawSweep = parse_toml(&src)?;
    let cx = Cx {
        src: &src,
        dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
    };
    let Some(rm) = &raw.model else {
        return Err(cx.err(
            0,
            "model",
            "a model sweep needs a [model] section naming the model `file` to simulate",
        ));
    };
    let (mut model, model_path) = cx.model(&rm.file)?;
    let mut inputs = vec![InputFile {
        path: model_path.display().to_string(),
        ..model_ref(&model)
    }];
    let base = cx.base_params(&mut model, rm)?;
    let schedule = cx.schedule_file(&model, raw.schedule.as_ref())?;
    let (days, dose_specs) = match &schedule {
        Some(s) => (
            s.duration * s.hours_per_unit / 24.0,
            DoseList::File(Vec::new()),
        ),
        None => cx.schedule(&model, raw.schedule.as_ref())?,
    };
    let t_end = days * 24.0 / model.meta.time_unit.hours();
    let mut ode = cx.ode_options(rm, raw.schedule.as_ref(), t_end)?;
    ode.t_end = t_end;
    if let Some(s) = &schedule {
        inputs.push(schedule_ref(s));
    }

    let placeholders: Vec<(String, usize)> = dose_specs
        .templates()
        .iter()
        .flat_map(|(s, at)| placeholder_names(s).into_iter().map(move |n| (n, *at)))
        .collect();
    let mut units = BTreeMap::new();
    let mut parameters = Vec::new();
    let mut targets = Vec::new();
    for p in &raw.parameters {
        let (spec, target, unit) =
            cx.parameter(p, &model, &placeholders, dose_specs.templates(), options)?;
        if let Some(u) = unit {
            units.insert(spec.name.clone(), u);
        }
        if target != Target::Dose {
            if let Some((k, _)) = rm.set.iter().find(|(k, _)| k.get_ref() == &spec.name) {
                return Err(cx.err(
                    k.span().start,
                    &format!("model.set.{}", k.get_ref()),
                    format!(
                        "`{}` is also a sweep parameter; set it or sweep it, not both",
                        k.get_ref()
                    ),
                ));
            }
        }
        targets.push((spec.name.clone(), target));
        parameters.push(spec);
    }
    for (name, at) in &placeholders {
        if !targets.iter().any(|(n, t)| n == name && *t == Target::Dose) {
            return Err(cx.err(
                *at,
                "schedule.doses",
                format!("the placeholder `{{{name}}}` names no sweep parameter; add [[parameters]] name = \"{name}\" with lo and hi"),
            ));
        }
    }
    let initial_cells = schedule
        .as_ref()
        .and_then(|s| s.initial_cells)
        .or(ode.initial_cells)
        .unwrap_or(model.initial_cells);
    let (metrics, metric_units) =
        cx.metrics(&model, &raw.metrics, days, &parameters, schedule.as_ref())?;
    let engine = match &rm.engine {
        None => EngineKind::MeanField,
        Some(e) => match EngineKind::parse(e.get_ref()) {
            Some(k @ (EngineKind::MeanField | EngineKind::Hybrid)) => k,
            _ => {
                return Err(cx.err(
                    e.span().start,
                    "model.engine",
                    format!("expected mean-field or hybrid, found `{}`", e.get_ref()),
                ))
            }
        },
    };
    if engine != EngineKind::MeanField && schedule.is_none() {
        let at = rm.engine.as_ref().map_or(0, |e| e.span().start);
        return Err(cx.err(
            at,
            "model.engine",
            "the hybrid engine runs sweeps of a schedule file ([schedule] file = ...); \
             dose-spec sweeps run the mean-field engine"
                .to_string(),
        ));
    }
    let run = match schedule {
        Some(s) => RunKind::Therapy {
            schedule: Box::new(s),
            options: TherapyOptions {
                method: ode.method,
                rtol: ode.rtol,
                atol: ode.atol,
                engine,
                ..TherapyOptions::default()
            },
        },
        None => RunKind::Ode {
            doses: cx.doses(&model, &dose_specs, &targets, &parameters, t_end)?,
            options: ode,
        },
    };
    units.extend(metric_units);

    let mut design = raw.design.get_ref().clone();
    if let DesignSpec::Explicit { file } = &mut design {
        if file.is_relative() {
            *file = cx.dir.join(&*file);
        }
    }
    let table: toml::Table = src
        .text
        .parse()
        .map_err(|e: toml::de::Error| ModelError::from_toml(&src, &e))?;
    let spec = SweepSpec {
        seed: raw.seed,
        design,
        parameters,
        model: table.get("model").cloned(),
        schedule: table.get("schedule").cloned(),
        metrics: table.get("metrics").cloned(),
    };
    // Sizes and explicit points are checked now, so a bad design fails before a run.
    Design::generate(&spec)
        .map_err(|e| cx.err(raw.design.span().start, "design", e.to_string()))?;
    let evaluator = ModelEvaluator {
        days_per_unit: model.meta.time_unit.hours() / 24.0,
        model,
        base,
        parameters: targets,
        run,
        initial_cells,
        metrics,
        inputs,
        units,
    };
    Ok(ModelSweep {
        path: path.to_path_buf(),
        spec,
        evaluator,
    })
}

/// Loading context: the sweep file's text (for locations) and directory (for
/// relative paths).
pub(super) struct Cx<'a> {
    pub(super) src: &'a SourceText,
    pub(super) dir: PathBuf,
}

/// A dose spec of the sweep file with the offset of its string (text: it may hold
/// placeholders, filled per point).
pub(super) type DoseSpecAt = (String, usize);

/// The doses of a sweep without a schedule file: its own `[schedule] doses`, or the
/// model's `[scenario]` doses as they were read when the model was compiled.
pub(super) enum DoseList {
    File(Vec<DoseSpecAt>),
    Scenario(Vec<crate::pkpd::DoseSpec>),
}

impl DoseList {
    /// The specs that may hold placeholders (the sweep file's own).
    pub(super) fn templates(&self) -> &[DoseSpecAt] {
        match self {
            DoseList::File(specs) => specs,
            DoseList::Scenario(_) => &[],
        }
    }
}

impl Cx<'_> {
    pub(super) fn err(&self, offset: usize, field: &str, message: impl Into<String>) -> SweepError {
        SweepError::Input(ModelError::at(
            self.src,
            offset,
            K::BadValue,
            Some(field.to_string()),
            message,
        ))
    }

    pub(super) fn unknown(
        &self,
        offset: usize,
        field: &str,
        message: impl Into<String>,
    ) -> SweepError {
        SweepError::Input(ModelError::at(
            self.src,
            offset,
            K::UnknownName,
            Some(field.to_string()),
            message,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_days("72h"), Some(3.0));
        assert_eq!(parse_days(" 2.5 d"), Some(2.5));
        assert_eq!(parse_days("6w"), Some(42.0));
        assert_eq!(parse_days("30"), None);
        assert_eq!(parse_days("xd"), None);
    }

    #[test]
    fn placeholders_and_their_units() {
        let specs = vec![
            ("tki={c}uM@72h".to_string(), 0),
            ("h={ d }nM@3d".to_string(), 0),
        ];
        assert_eq!(placeholder_names(&specs[0].0), ["c"]);
        assert_eq!(placeholder_names(&specs[1].0), ["d"]);
        assert_eq!(placeholder_unit(&specs, "c").as_deref(), Some("uM"));
        assert!(placeholder_names("tki=1uM@72h").is_empty());
    }
}
