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
use crate::expr::resolve::did_you_mean_among;
use crate::model::{load_file, parse_toml, ModelError, ModelErrorKind as K, SourceText};
use crate::pkpd::parse_dose_spec;
use crate::schedule::{Schedule, Setting};
use crate::synergy::Method as SynergyMethod;
use crate::therapy::TherapyOptions;

/// Settings of loading that are not part of the file.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept parameter ranges that leave the bounds the model declares
    /// (`--allow-outside`).
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    seed: u64,
    design: Spanned<DesignSpec>,
    parameters: Vec<RawParameter>,
    model: Option<RawModel>,
    schedule: Option<RawSchedule>,
    #[serde(default)]
    metrics: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    name: Spanned<String>,
    lo: Option<Spanned<f64>>,
    hi: Option<Spanned<f64>>,
    #[serde(default)]
    scale: Scale,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    file: Spanned<String>,
    #[serde(default)]
    set: IndexMap<Spanned<String>, Spanned<f64>>,
    method: Option<Spanned<String>>,
    rtol: Option<Spanned<f64>>,
    atol: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    file: Option<Spanned<String>>,
    days: Option<Spanned<f64>>,
    doses: Option<Vec<Spanned<String>>>,
    points: Option<Spanned<u64>>,
    initial_cells: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    kind: Spanned<String>,
    name: Option<Spanned<String>>,
    variable: Option<Spanned<String>>,
    population: Option<Spanned<String>>,
    at: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    fraction: Option<Spanned<f64>>,
    genotypes: Option<Spanned<Vec<String>>>,
    rule: Option<Spanned<String>>,
    drugs: Option<Spanned<Vec<String>>>,
    method: Option<Spanned<String>>,
    summary: Option<Spanned<String>>,
    snapshot: Option<Spanned<String>>,
    doses_a: Option<Spanned<Vec<f64>>>,
    doses_b: Option<Spanned<Vec<f64>>>,
}

/// Metric kinds and the optional fields each takes (besides `kind` and `name`).
const METRIC_KINDS: &[(&str, &[&str])] = &[
    ("final_population", &["population"]),
    ("resistant_fraction", &["genotypes", "at"]),
    ("time_to_resistance", &["population", "fraction", "rule"]),
    ("auc", &["variable", "population", "from", "to"]),
    ("value", &["variable", "population", "at"]),
    ("min", &["variable", "population", "from", "to"]),
    ("max", &["variable", "population", "from", "to"]),
    ("ic50_fold", &[]),
    (
        "synergy",
        &[
            "drugs", "doses_a", "doses_b", "method", "summary", "snapshot",
        ],
    ),
];

impl RawMetric {
    /// Optional fields present, with their offsets.
    fn present(&self) -> Vec<(&'static str, usize)> {
        let mut v = Vec::new();
        let mut add = |n: &'static str, s: Option<usize>| {
            if let Some(s) = s {
                v.push((n, s));
            }
        };
        add("variable", self.variable.as_ref().map(|x| x.span().start));
        add(
            "population",
            self.population.as_ref().map(|x| x.span().start),
        );
        add("at", self.at.as_ref().map(|x| x.span().start));
        add("from", self.from.as_ref().map(|x| x.span().start));
        add("to", self.to.as_ref().map(|x| x.span().start));
        add("fraction", self.fraction.as_ref().map(|x| x.span().start));
        add("genotypes", self.genotypes.as_ref().map(|x| x.span().start));
        add("rule", self.rule.as_ref().map(|x| x.span().start));
        add("drugs", self.drugs.as_ref().map(|x| x.span().start));
        add("method", self.method.as_ref().map(|x| x.span().start));
        add("summary", self.summary.as_ref().map(|x| x.span().start));
        add("snapshot", self.snapshot.as_ref().map(|x| x.span().start));
        add("doses_a", self.doses_a.as_ref().map(|x| x.span().start));
        add("doses_b", self.doses_b.as_ref().map(|x| x.span().start));
        v
    }
}

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
    let (model, model_path) = cx.model(&rm.file)?;
    let mut inputs = vec![InputFile {
        role: "model".into(),
        path: model_path.display().to_string(),
        sha256: model.meta.sha256.clone(),
    }];
    let base = cx.base_params(&model, rm)?;
    let schedule = cx.schedule_file(&model, raw.schedule.as_ref())?;
    let (days, dose_specs) = match &schedule {
        Some(s) => (s.duration * s.hours_per_unit / 24.0, Vec::new()),
        None => cx.schedule(&model, raw.schedule.as_ref())?,
    };
    let t_end = days * 24.0 / model.meta.time_unit.hours();
    let mut ode = cx.ode_options(rm, raw.schedule.as_ref(), t_end)?;
    ode.t_end = t_end;
    if let Some(s) = &schedule {
        inputs.push(InputFile {
            role: "schedule".into(),
            path: s.path.clone(),
            sha256: s.sha256.clone(),
        });
    }

    let placeholders: Vec<(String, usize)> = dose_specs
        .iter()
        .flat_map(|(s, at)| placeholder_names(s).into_iter().map(move |n| (n, *at)))
        .collect();
    let mut units = BTreeMap::new();
    let mut parameters = Vec::new();
    let mut targets = Vec::new();
    for p in &raw.parameters {
        let (spec, target, unit) = cx.parameter(p, &model, &placeholders, &dose_specs, options)?;
        if let Some(u) = unit {
            units.insert(spec.name.clone(), u);
        }
        if let Target::Param(i) = target {
            if let Some((k, _)) = rm
                .set
                .iter()
                .find(|(k, _)| k.get_ref() == &model.params[i].name)
            {
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
    let run = match schedule {
        Some(s) => RunKind::Therapy {
            schedule: Box::new(s),
            options: TherapyOptions {
                method: ode.method,
                rtol: ode.rtol,
                atol: ode.atol,
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

/// Names inside `{...}` in a dose spec.
fn placeholder_names(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = spec;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(after[..close].trim().to_string());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Parse a duration with a unit (`72h`, `30d`, `6w`) into days.
pub fn parse_days(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, days_per) = if let Some(x) = s.strip_suffix('h') {
        (x, 1.0 / 24.0)
    } else if let Some(x) = s.strip_suffix('d') {
        (x, 1.0)
    } else if let Some(x) = s.strip_suffix('w') {
        (x, 7.0)
    } else {
        return None;
    };
    let v: f64 = num.trim().parse().ok()?;
    v.is_finite().then_some(v * days_per)
}

/// Loading context: the sweep file's text (for locations) and directory (for
/// relative paths).
struct Cx<'a> {
    src: &'a SourceText,
    dir: PathBuf,
}

/// A dose spec with the offset of its string in the sweep file (0 when it comes from
/// the model's scenario).
type DoseSpecAt = (String, usize);

impl Cx<'_> {
    fn err(&self, offset: usize, field: &str, message: impl Into<String>) -> SweepError {
        SweepError::Input(ModelError::at(
            self.src,
            offset,
            K::BadValue,
            Some(field.to_string()),
            message,
        ))
    }

    fn unknown(&self, offset: usize, field: &str, message: impl Into<String>) -> SweepError {
        SweepError::Input(ModelError::at(
            self.src,
            offset,
            K::UnknownName,
            Some(field.to_string()),
            message,
        ))
    }

    /// Load and compile the model named by `[model] file`.
    fn model(&self, file: &Spanned<String>) -> Result<(CompiledModel, PathBuf), SweepError> {
        let path = self.dir.join(file.get_ref());
        if !path.is_file() {
            return Err(self.err(
                file.span().start,
                "model.file",
                format!("no model file at {}", path.display()),
            ));
        }
        let (msrc, mfile) = load_file(&path)?;
        Ok((compile(&msrc, &mfile)?, path))
    }

    /// Model parameter values with the file's `set` changes.
    fn base_params(&self, model: &CompiledModel, rm: &RawModel) -> Result<Vec<f64>, SweepError> {
        let mut base = model.param_values();
        for (name, value) in &rm.set {
            let field = format!("model.set.{}", name.get_ref());
            let i = model.param_index(name.get_ref()).ok_or_else(|| {
                self.unknown(
                    name.span().start,
                    &field,
                    format!(
                        "the model `{}` has no parameter `{}`{}",
                        model.meta.name,
                        name.get_ref(),
                        did_you_mean_among(name.get_ref(), model.param_names())
                    ),
                )
            })?;
            let v = *value.get_ref();
            if !v.is_finite() {
                return Err(self.err(
                    value.span().start,
                    &field,
                    format!("expected a finite value, found {v}"),
                ));
            }
            base[i] = v;
        }
        Ok(base)
    }

    /// The therapy schedule named by `[schedule] file`, checked against the model; the
    /// keys that describe a plain run (`days`, `doses`, `points`, `initial_cells`) are
    /// the schedule file's business then and refused here.
    fn schedule_file(
        &self,
        model: &CompiledModel,
        rs: Option<&RawSchedule>,
    ) -> Result<Option<Schedule>, SweepError> {
        let Some(rs) = rs else { return Ok(None) };
        let Some(file) = &rs.file else {
            return Ok(None);
        };
        let clash = [
            ("days", rs.days.as_ref().map(|x| x.span().start)),
            (
                "doses",
                rs.doses
                    .as_ref()
                    .and_then(|d| d.first())
                    .map(|x| x.span().start),
            ),
            ("points", rs.points.as_ref().map(|x| x.span().start)),
            (
                "initial_cells",
                rs.initial_cells.as_ref().map(|x| x.span().start),
            ),
        ];
        for (key, at) in clash {
            if let Some(at) = at {
                return Err(self.err(
                    at,
                    &format!("schedule.{key}"),
                    format!("`{key}` does not go with a schedule file: the schedule sets the duration, doses, readouts and initial cells"),
                ));
            }
        }
        let path = self.dir.join(file.get_ref());
        if !path.is_file() {
            return Err(self.err(
                file.span().start,
                "schedule.file",
                format!("no schedule file at {}", path.display()),
            ));
        }
        Ok(Some(Schedule::load(&path, model)?))
    }

    /// Run length (days) and dose specs: the `[schedule]` section, else the model's
    /// `[scenario]`.
    fn schedule(
        &self,
        model: &CompiledModel,
        rs: Option<&RawSchedule>,
    ) -> Result<(f64, Vec<DoseSpecAt>), SweepError> {
        let scenario = model.scenario.as_ref();
        let days = match rs.and_then(|s| s.days.as_ref()) {
            Some(d) => {
                let v = *d.get_ref();
                if !(v.is_finite() && v > 0.0) {
                    return Err(self.err(
                        d.span().start,
                        "schedule.days",
                        format!("expected a positive number of days, found {v}"),
                    ));
                }
                v
            }
            None => match scenario {
                Some(s) => s.days,
                None => {
                    return Err(self.err(
                        0,
                        "schedule.days",
                        format!(
                        "the model `{}` declares no [scenario]; give [schedule] days (and doses)",
                        model.meta.name
                    ),
                    ))
                }
            },
        };
        let doses = match rs.and_then(|s| s.doses.as_ref()) {
            Some(d) => d
                .iter()
                .map(|s| (s.get_ref().clone(), s.span().start))
                .collect(),
            None => scenario
                .map(|s| s.doses.iter().map(|d| (d.clone(), 0)).collect())
                .unwrap_or_default(),
        };
        Ok((days, doses))
    }

    /// Solver settings (`[model]`) and output grid and initial cells (`[schedule]`).
    fn ode_options(
        &self,
        rm: &RawModel,
        rs: Option<&RawSchedule>,
        t_end: f64,
    ) -> Result<OdeOptions, SweepError> {
        let mut o = OdeOptions::new(t_end);
        if let Some(m) = &rm.method {
            o.method = Method::parse(m.get_ref()).ok_or_else(|| {
                self.err(
                    m.span().start,
                    "model.method",
                    format!(
                        "unknown method `{}`; expected dopri5, rosenbrock23 or ode-solvers-dopri5",
                        m.get_ref()
                    ),
                )
            })?;
        }
        if let Some(r) = &rm.rtol {
            let v = *r.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(self.err(
                    r.span().start,
                    "model.rtol",
                    format!("expected 0 < rtol < 1, found {v}"),
                ));
            }
            o.rtol = v;
        }
        if let Some(a) = &rm.atol {
            let v = *a.get_ref();
            if !(v > 0.0 && v.is_finite()) {
                return Err(self.err(
                    a.span().start,
                    "model.atol",
                    format!("expected a positive atol, found {v}"),
                ));
            }
            o.atol = v;
        }
        o.n_out = DEFAULT_POINTS as usize;
        if let Some(p) = rs.and_then(|s| s.points.as_ref()) {
            let v = *p.get_ref();
            if !(1..=1_000_000).contains(&v) {
                return Err(self.err(
                    p.span().start,
                    "schedule.points",
                    format!("expected 1 to 1000000 output intervals, found {v}"),
                ));
            }
            o.n_out = v as usize;
        }
        if let Some(c) = rs.and_then(|s| s.initial_cells.as_ref()) {
            let v = *c.get_ref();
            if !(v.is_finite() && v > 0.0) {
                return Err(self.err(
                    c.span().start,
                    "schedule.initial_cells",
                    format!("expected a positive number of cells, found {v}"),
                ));
            }
            o.initial_cells = Some(v);
        }
        Ok(o)
    }

    /// Resolve one `[[parameters]]` entry: a model parameter (bounds default to the
    /// model's and must lie inside them) or a dose placeholder (bounds required).
    fn parameter(
        &self,
        p: &RawParameter,
        model: &CompiledModel,
        placeholders: &[(String, usize)],
        dose_specs: &[DoseSpecAt],
        options: &LoadOptions,
    ) -> Result<(ParameterSpec, Target, Option<String>), SweepError> {
        let name = p.name.get_ref();
        let at = p.name.span().start;
        let field = format!("parameters.{name}");
        if name.is_empty() || is_reserved(name) {
            return Err(self.err(
                at,
                &field,
                "a parameter name may not be empty nor one of id, status, error",
            ));
        }
        let lo = p.lo.as_ref().map(|v| *v.get_ref());
        let hi = p.hi.as_ref().map(|v| *v.get_ref());
        let (target, lo, hi, unit) = if let Some(i) = model.param_index(name) {
            let mp = &model.params[i];
            let declared = mp.bounds;
            let need = |which: &str| {
                self.err(
                    at,
                    &field,
                    format!(
                        "the model declares no bounds for `{name}`; give `{which}` in the sweep file"
                    ),
                )
            };
            let lo = match (lo, declared) {
                (Some(v), _) => v,
                (None, Some(b)) => b[0],
                (None, None) => return Err(need("lo")),
            };
            let hi = match (hi, declared) {
                (Some(v), _) => v,
                (None, Some(b)) => b[1],
                (None, None) => return Err(need("hi")),
            };
            if let (Some(b), false) = (declared, options.allow_outside) {
                for (v, which, span) in [(lo, "lo", &p.lo), (hi, "hi", &p.hi)] {
                    if v < b[0] || v > b[1] {
                        let off = span.as_ref().map_or(at, |s| s.span().start);
                        return Err(self.err(
                            off,
                            &format!("{field}.{which}"),
                            format!(
                                "{which} = {v} lies outside the bounds [{}, {}] the model `{}` declares for `{name}`; \
                                 pass --allow-outside to sweep beyond them",
                                b[0], b[1], model.meta.name
                            ),
                        ));
                    }
                }
            }
            (Target::Param(i), lo, hi, mp.unit.clone())
        } else if placeholders.iter().any(|(n, _)| n == name) {
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(self.err(
                    at,
                    &field,
                    format!(
                        "`{name}` is a dose placeholder, not a model parameter: give lo and hi"
                    ),
                ));
            };
            (Target::Dose, lo, hi, placeholder_unit(dose_specs, name))
        } else {
            return Err(self.unknown(
                at,
                &field,
                format!(
                    "the model `{}` has no parameter `{name}`{} (and no dose spec uses `{{{name}}}`)",
                    model.meta.name,
                    did_you_mean_among(name, model.param_names())
                ),
            ));
        };
        let spec = ParameterSpec {
            name: name.clone(),
            lo,
            hi,
            scale: p.scale,
        };
        spec.validate()
            .map_err(|e| self.err(at, &field, e.to_string()))?;
        Ok((spec, target, unit))
    }

    /// Dose events: parsed once when fixed; with placeholders, checked now at the
    /// bounds of every placeholder parameter and parsed per run.
    fn doses(
        &self,
        model: &CompiledModel,
        specs: &[DoseSpecAt],
        targets: &[(String, Target)],
        params: &[ParameterSpec],
        t_end: f64,
    ) -> Result<Doses, SweepError> {
        let templated = specs.iter().any(|(s, _)| !placeholder_names(s).is_empty());
        let check = |s: &str, at: usize| {
            parse_dose_spec(model, s, t_end)
                .map_err(|e| self.err(at, "schedule.doses", e.to_string()))
        };
        if !templated {
            let mut events = Vec::new();
            for (s, at) in specs {
                events.extend(check(s, *at)?);
            }
            return Ok(Doses::Fixed(events));
        }
        for corner in [0, 1] {
            let point: Vec<f64> = params
                .iter()
                .map(|p| if corner == 0 { p.lo } else { p.hi })
                .collect();
            for (s, at) in specs {
                check(&fill_template(s, targets, &point), *at)?;
            }
        }
        Ok(Doses::Templates(
            specs.iter().map(|(s, _)| s.clone()).collect(),
        ))
    }

    /// Resolve the `[[metrics]]` list; returns (name, metric) pairs and their units.
    #[allow(clippy::type_complexity)]
    fn metrics(
        &self,
        model: &CompiledModel,
        raw: &[RawMetric],
        days: f64,
        params: &[ParameterSpec],
        schedule: Option<&Schedule>,
    ) -> Result<(Vec<(String, Metric)>, BTreeMap<String, String>), SweepError> {
        if raw.is_empty() {
            return Err(self.err(
                0,
                "metrics",
                "a model sweep needs at least one [[metrics]] entry (e.g. kind = \"final_population\")",
            ));
        }
        let mut out: Vec<(String, Metric)> = Vec::new();
        let mut units = BTreeMap::new();
        let mut seen: HashSet<String> = params.iter().map(|p| p.name.clone()).collect();
        for (k, m) in raw.iter().enumerate() {
            let (name, metric, unit) = self.metric(model, m, k, days, schedule)?;
            let (at, field) = match &m.name {
                Some(n) => (n.span().start, format!("metrics[{k}].name")),
                None => (m.kind.span().start, format!("metrics[{k}].kind")),
            };
            if name.is_empty() || is_reserved(&name) || !seen.insert(name.clone()) {
                return Err(self.err(
                    at,
                    &field,
                    format!(
                        "the column name `{name}` is empty, reserved (id, status, error) or already used by a parameter or metric; give this metric a distinct `name`"
                    ),
                ));
            }
            if !unit.is_empty() {
                units.insert(name.clone(), unit);
            }
            out.push((name, metric));
        }
        Ok((out, units))
    }

    /// Resolve one metric: (column name, definition, unit).
    fn metric(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
        days: f64,
        schedule: Option<&Schedule>,
    ) -> Result<(String, Metric, String), SweepError> {
        let kind = m.kind.get_ref().as_str();
        let field = |f: &str| format!("metrics[{k}].{f}");
        let Some((_, allowed)) = METRIC_KINDS.iter().find(|(n, _)| *n == kind) else {
            return Err(self.unknown(
                m.kind.span().start,
                &field("kind"),
                format!(
                    "unknown metric kind `{kind}`{}; kinds: {}",
                    did_you_mean_among(kind, METRIC_KINDS.iter().map(|(n, _)| *n)),
                    METRIC_KINDS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        for (f, at) in m.present() {
            if !allowed.contains(&f) {
                return Err(self.err(
                    at,
                    &field(f),
                    format!(
                        "`{f}` does not apply to metric kind `{kind}` (it takes: name{})",
                        allowed.iter().map(|a| format!(", {a}")).collect::<String>()
                    ),
                ));
            }
        }
        let time =
            |s: &Option<Spanned<String>>, f: &str, default: f64| -> Result<f64, SweepError> {
                let Some(s) = s else { return Ok(default) };
                let v = parse_days(s.get_ref()).ok_or_else(|| {
                    self.err(
                        s.span().start,
                        &field(f),
                        format!(
                            "cannot read the time `{}` (a number with h, d or w, e.g. 30d)",
                            s.get_ref()
                        ),
                    )
                })?;
                if !(0.0..=days * (1.0 + 1e-12)).contains(&v) {
                    return Err(self.err(
                        s.span().start,
                        &field(f),
                        format!(
                            "the time {} ({v} d) lies outside the run (0 to {days} d)",
                            s.get_ref()
                        ),
                    ));
                }
                Ok(v.min(days))
            };
        let window = || -> Result<(f64, f64), SweepError> {
            let from = time(&m.from, "from", 0.0)?;
            let to = time(&m.to, "to", days)?;
            if to <= from {
                let at =
                    m.to.as_ref()
                        .or(m.from.as_ref())
                        .map_or(m.kind.span().start, |s| s.span().start);
                return Err(self.err(
                    at,
                    &field("to"),
                    format!("the window must end after it starts (from {from} d, to {to} d)"),
                ));
            }
            Ok((from, to))
        };
        let suffix = |col: &ColumnRef, default_pop: &str| {
            if col.population == default_pop {
                String::new()
            } else {
                format!("_{}", col.population)
            }
        };
        let given = m.name.as_ref().map(|n| n.get_ref().clone());
        let (default_name, metric, unit) = match kind {
            "final_population" => {
                let cells = self.cells_of(model, m, k)?;
                let n = format!("final_population{}", suffix(&cells, "total"));
                (n, Metric::FinalPopulation { cells }, "cells".to_string())
            }
            "resistant_fraction" => {
                let genotypes = match &m.genotypes {
                    Some(g) => {
                        for name in g.get_ref() {
                            if model.genotype_index(name).is_none() {
                                return Err(self.unknown(
                                    g.span().start,
                                    &field("genotypes"),
                                    format!(
                                        "the model `{}` has no genotype `{name}`{}",
                                        model.meta.name,
                                        did_you_mean_among(
                                            name,
                                            model.genotypes.iter().map(|g| g.name.as_str())
                                        )
                                    ),
                                ));
                            }
                        }
                        g.get_ref().clone()
                    }
                    None => model
                        .genotypes
                        .iter()
                        .skip(1)
                        .map(|g| g.name.clone())
                        .collect(),
                };
                if genotypes.is_empty() {
                    return Err(self.err(
                        m.kind.span().start,
                        &field("genotypes"),
                        format!(
                            "the model `{}` has no genotype besides its base; a resistant fraction needs `genotypes`",
                            model.meta.name
                        ),
                    ));
                }
                let at = time(&m.at, "at", days)?;
                (
                    "resistant_fraction".to_string(),
                    Metric::ResistantFraction { genotypes, at },
                    "1".to_string(),
                )
            }
            "time_to_resistance" => {
                let by_schedule = match &m.rule {
                    None => schedule.is_some(),
                    Some(r) => match r.get_ref().as_str() {
                        "regrowth" => false,
                        "schedule" if schedule.is_some() => true,
                        "schedule" => {
                            return Err(self.err(
                                r.span().start,
                                &field("rule"),
                                "rule = \"schedule\" uses a therapy schedule's [resistance] rules: name one with `[schedule] file`, or use rule = \"regrowth\"",
                            ))
                        }
                        other => {
                            return Err(self.err(
                                r.span().start,
                                &field("rule"),
                                format!("unknown rule `{other}`; expected regrowth or schedule"),
                            ))
                        }
                    },
                };
                if by_schedule {
                    for (f, at) in [
                        ("fraction", m.fraction.as_ref().map(|x| x.span().start)),
                        ("population", m.population.as_ref().map(|x| x.span().start)),
                    ] {
                        if let Some(at) = at {
                            return Err(self.err(
                                at,
                                &field(f),
                                format!("`{f}` belongs to rule = \"regrowth\"; with a schedule file the schedule's [resistance] rules decide (set rule = \"regrowth\" to use it)"),
                            ));
                        }
                    }
                    return Ok((
                        given.unwrap_or_else(|| "time_to_resistance".into()),
                        Metric::ScheduleResistance,
                        "d".into(),
                    ));
                }
                let fraction = match &m.fraction {
                    Some(f) => {
                        let v = *f.get_ref();
                        if !(v.is_finite() && v > 0.0) {
                            return Err(self.err(
                                f.span().start,
                                &field("fraction"),
                                format!("expected a positive fraction, found {v}"),
                            ));
                        }
                        v
                    }
                    None => DEFAULT_REGROWTH,
                };
                let cells = self.cells_of(model, m, k)?;
                let n = format!("time_to_resistance{}", suffix(&cells, "total"));
                (
                    n,
                    Metric::TimeToResistance { cells, fraction },
                    "d".to_string(),
                )
            }
            "auc" | "value" | "min" | "max" => {
                let (column, unit) = self.column(model, m, k, schedule)?;
                let base = &model.genotypes[0].name;
                let default_pop = if column.variable == "cells" {
                    "total"
                } else if model.drug_index(&column.variable).is_some() {
                    "exposure"
                } else {
                    base.as_str()
                };
                let sfx = suffix(&column, default_pop);
                let var = column.variable.clone();
                match kind {
                    "auc" => {
                        let (from, to) = window()?;
                        let u = if unit.is_empty() {
                            "d".to_string()
                        } else {
                            format!("{unit} d")
                        };
                        (
                            format!("auc_{var}{sfx}"),
                            Metric::Auc { column, from, to },
                            u,
                        )
                    }
                    "value" => {
                        let at = time(&m.at, "at", days)?;
                        let n = match &m.at {
                            Some(s) => format!("{var}{sfx}_at_{}", s.get_ref().replace(' ', "")),
                            None => format!("final_{var}{sfx}"),
                        };
                        (n, Metric::ValueAt { column, at }, unit)
                    }
                    "min" => {
                        let (from, to) = window()?;
                        (
                            format!("min_{var}{sfx}"),
                            Metric::Min { column, from, to },
                            unit,
                        )
                    }
                    _ => {
                        let (from, to) = window()?;
                        (
                            format!("max_{var}{sfx}"),
                            Metric::Max { column, from, to },
                            unit,
                        )
                    }
                }
            }
            "ic50_fold" => {
                if schedule.is_none_or(|s| s.ic50_every.is_none()) {
                    return Err(self.err(
                        m.kind.span().start,
                        &field("kind"),
                        "`ic50_fold` needs IC50 readouts: a therapy schedule (`[schedule] file`) with `ic50_every`",
                    ));
                }
                ("ic50_fold".to_string(), Metric::Ic50Fold, "1".to_string())
            }
            _ => {
                let sm = self.synergy(model, m, k)?;
                let n = format!(
                    "{}_{}_{}_{}",
                    sm.method,
                    sm.statistic.name(),
                    model.drugs[sm.drug_a].name,
                    model.drugs[sm.drug_b].name
                );
                (n, Metric::Synergy(sm), "1".to_string())
            }
        };
        Ok((given.unwrap_or(default_name), metric, unit))
    }

    /// Resolve a synergy metric: two drugs of the model, their checkerboard doses,
    /// a method of the synergy layer, a summary statistic and the snapshot.
    fn synergy(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
    ) -> Result<SynergyMetric, SweepError> {
        let field = |f: &str| format!("metrics[{k}].{f}");
        let at_kind = m.kind.span().start;
        let Some(drugs) = &m.drugs else {
            return Err(self.err(
                at_kind,
                &field("drugs"),
                "a synergy metric needs `drugs = [\"A\", \"B\"]`",
            ));
        };
        let names = drugs.get_ref();
        if names.len() != 2 || names[0] == names[1] {
            return Err(self.err(
                drugs.span().start,
                &field("drugs"),
                format!("expected two different drugs, found {names:?}"),
            ));
        }
        let mut idx = [0usize; 2];
        for (slot, name) in idx.iter_mut().zip(names) {
            *slot = model.drug_index(name).ok_or_else(|| {
                self.unknown(
                    drugs.span().start,
                    &field("drugs"),
                    format!(
                        "the model `{}` has no drug `{name}`{}",
                        model.meta.name,
                        did_you_mean_among(name, model.drugs.iter().map(|d| d.name.as_str()))
                    ),
                )
            })?;
        }
        let doses = |d: &Option<Spanned<Vec<f64>>>,
                     f: &str,
                     drug: usize|
         -> Result<Vec<f64>, SweepError> {
            let Some(d) = d else {
                return Err(self.err(
                    at_kind,
                    &field(f),
                    format!("a synergy metric needs `{f}`: the checkerboard concentrations of `{}` in {}", model.drugs[drug].name, model.drugs[drug].unit.symbol()),
                ));
            };
            normalise_doses(d.get_ref()).ok_or_else(|| {
                self.err(d.span().start, &field(f), "expected at least three distinct non-negative, finite concentrations (0 is added for the single-agent row)")
            })
        };
        let method = match &m.method {
            None => SynergyMethod::Bliss,
            Some(s) => s
                .get_ref()
                .parse::<SynergyMethod>()
                .map_err(|e| self.unknown(s.span().start, &field("method"), e.to_string()))?,
        };
        let statistic = match &m.summary {
            None => Statistic::Mean,
            Some(s) => Statistic::parse(s.get_ref()).ok_or_else(|| {
                self.err(
                    s.span().start,
                    &field("summary"),
                    format!(
                        "unknown summary `{}`; expected mean, median, min or max",
                        s.get_ref()
                    ),
                )
            })?,
        };
        let snapshot = match m
            .snapshot
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span().start))
        {
            None | Some(("end", _)) => Snapshot::End,
            Some(("start", _)) => Snapshot::Start,
            Some((other, at)) => {
                return Err(self.err(
                    at,
                    &field("snapshot"),
                    format!("unknown snapshot `{other}`; expected start or end"),
                ))
            }
        };
        Ok(SynergyMetric {
            drug_a: idx[0],
            drug_b: idx[1],
            doses_a: doses(&m.doses_a, "doses_a", idx[0])?,
            doses_b: doses(&m.doses_b, "doses_b", idx[1])?,
            method,
            statistic,
            snapshot,
        })
    }

    /// The cell-count column of `population` (default `total`).
    fn cells_of(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
    ) -> Result<ColumnRef, SweepError> {
        let pop = match &m.population {
            None => "total".to_string(),
            Some(p) => {
                let name = p.get_ref();
                if name != "total" && model.genotype_index(name).is_none() {
                    return Err(self.unknown(
                        p.span().start,
                        &format!("metrics[{k}].population"),
                        format!(
                            "`{name}` is neither `total` nor a genotype of the model `{}`{}",
                            model.meta.name,
                            did_you_mean_among(
                                name,
                                model.genotypes.iter().map(|g| g.name.as_str())
                            )
                        ),
                    ));
                }
                name.clone()
            }
        };
        Ok(ColumnRef {
            population: pop,
            variable: "cells".into(),
        })
    }

    /// Columns only a therapy run's timeline has: totals (`expanded_cells`,
    /// `resistant_fraction`, `resistant_fraction_ic50`, in vivo `tumour_volume`) and
    /// the scheduled dose of each drug (population `dose`). `None` for other columns.
    fn therapy_column(
        &self,
        model: &CompiledModel,
        s: &Schedule,
        var: &str,
        pop: Option<&str>,
        pop_at: usize,
        k: usize,
    ) -> Result<Option<(ColumnRef, String)>, SweepError> {
        let field = format!("metrics[{k}].population");
        let totals: &[(&str, &str)] = &[
            ("expanded_cells", "cells"),
            ("resistant_fraction", "1"),
            ("resistant_fraction_ic50", "1"),
            ("tumour_volume", "mm^3"),
        ];
        if let Some((_, unit)) = totals.iter().find(|(n, _)| *n == var) {
            if var == "tumour_volume" && s.setting != Setting::InVivo {
                return Err(self.err(
                    pop_at,
                    &format!("metrics[{k}].variable"),
                    "`tumour_volume` exists only in in vivo schedules",
                ));
            }
            if pop.is_some_and(|p| p != "total") {
                return Err(self.err(
                    pop_at,
                    &field,
                    format!("`{var}` is a column of population `total`"),
                ));
            }
            return Ok(Some((
                ColumnRef {
                    population: "total".into(),
                    variable: var.into(),
                },
                unit.to_string(),
            )));
        }
        if pop == Some("dose") {
            let Some(d) = model
                .drug_index(var)
                .filter(|&d| s.arms.iter().any(|a| a.drug == d))
            else {
                return Err(self.err(pop_at, &field, format!("population `dose` holds the scheduled dose of each drug the schedule gives; `{var}` is not one")));
            };
            let unit = match s.setting {
                Setting::InVivo => "mg/kg".to_string(),
                _ => model.drugs[d].unit.symbol().to_string(),
            };
            return Ok(Some((
                ColumnRef {
                    population: "dose".into(),
                    variable: var.into(),
                },
                unit,
            )));
        }
        Ok(None)
    }

    /// A timeline column named by `variable` and `population`, with its unit.
    fn column(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
        schedule: Option<&Schedule>,
    ) -> Result<(ColumnRef, String), SweepError> {
        let Some(v) = &m.variable else {
            return Err(self.err(
                m.kind.span().start,
                &format!("metrics[{k}].variable"),
                format!("metric kind `{}` needs a `variable` (a species, observable, drug, cells, division_rate or death_rate)", m.kind.get_ref()),
            ));
        };
        let var = v.get_ref().as_str();
        let pop_at = m
            .population
            .as_ref()
            .map_or(v.span().start, |s| s.span().start);
        let pop_given = m.population.as_ref().map(|p| p.get_ref().as_str());
        if let Some(s) = schedule {
            if let Some(col) = self.therapy_column(model, s, var, pop_given, pop_at, k)? {
                return Ok(col);
            }
        }
        let tu = model.meta.time_unit.symbol();
        let per_cell: Option<String> = if let Some(i) = model.species_index(var) {
            Some(model.species[i].unit.clone())
        } else if let Some(o) = model.observables.iter().find(|o| o.name == var) {
            Some(o.unit.clone().unwrap_or_default())
        } else if var == "division_rate" || var == "death_rate" {
            Some(format!("1/{tu}"))
        } else {
            None
        };
        let drug = model.drug_index(var);
        let candidates = || {
            model
                .species
                .iter()
                .map(|s| s.name.as_str())
                .chain(model.observables.iter().map(|o| o.name.as_str()))
                .chain(model.drugs.iter().map(|d| d.name.as_str()))
                .chain(["cells", "division_rate", "death_rate"])
        };
        if per_cell.is_none() && drug.is_none() && var != "cells" {
            return Err(self.unknown(
                v.span().start,
                &format!("metrics[{k}].variable"),
                format!(
                    "the model `{}` has no species, observable or drug `{var}`{}",
                    model.meta.name,
                    did_you_mean_among(var, candidates())
                ),
            ));
        }
        let base = model.genotypes[0].name.clone();
        let pop = m.population.as_ref().map(|p| p.get_ref().clone());
        let bad_pop = |p: &str, expected: &str| {
            self.err(
                m.population.as_ref().map_or(0, |s| s.span().start),
                &format!("metrics[{k}].population"),
                format!("population `{p}` does not fit variable `{var}` (expected {expected})"),
            )
        };
        let (population, unit) = if let Some(d) = drug {
            let p = pop.unwrap_or_else(|| "exposure".into());
            if p != "exposure" {
                return Err(bad_pop(&p, "`exposure`"));
            }
            (p, model.drugs[d].unit.symbol().to_string())
        } else {
            let default = if var == "cells" {
                "total".to_string()
            } else {
                base
            };
            let p = pop.unwrap_or(default);
            let genotype = model.genotype_index(&p).is_some();
            let ok = genotype || (p == "total" && var == "cells");
            if !ok {
                let expected = if var == "cells" {
                    "`total` or a genotype"
                } else {
                    "a genotype"
                };
                return Err(bad_pop(&p, expected));
            }
            let unit = per_cell.unwrap_or_else(|| "cells".into());
            (p, unit)
        };
        Ok((
            ColumnRef {
                population,
                variable: var.to_string(),
            },
            unit,
        ))
    }
}

/// The concentration unit written right after `{name}` in a dose spec (`{c}uM@72h`).
fn placeholder_unit(specs: &[DoseSpecAt], name: &str) -> Option<String> {
    let key = format!("{{{name}}}");
    specs.iter().find_map(|(s, _)| {
        let rest = &s[s.find(&key)? + key.len()..];
        let unit = rest.split('@').next()?.trim();
        (!unit.is_empty()).then(|| unit.to_string())
    })
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
