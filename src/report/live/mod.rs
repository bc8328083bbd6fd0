//! The live teaching page (`resloop live STORY --out DIR`): one self-contained HTML
//! file whose sliders (dose, dose interval, loop strength, day the loop breaker
//! starts) rerun the model in the browser and redraw the teaching figure.
//!
//! The Rust `wasm32` target cannot be installed where resloop is built, so the page's
//! model is generated from the same bound expression trees the engines compile
//! ([`crate::compile::Inliner`]): [`js`] lowers each genotype's right-hand side to a
//! JavaScript function, with the loop-strength parameter left free so a slider can
//! move it. The population ODE, the drug exposure and the Dormand-Prince 5(4)
//! integrator are a static script (`assets/live_solver.js`) that mirrors the engine's
//! arithmetic step for step; [`reference_run`] is the same run on the engine, and
//! `tests/live.rs` runs the page's script in Node.js against it for every study
//! model, so the page and the engine cannot drift apart.
//!
//! What the page runs: the deterministic mean-field population ODE (the `simulate`
//! engine with `--engine mean-field`), from the model's initial state equilibrated
//! drug-free as the story's schedule says, under a regular schedule built from the
//! sliders: the story's targeted drug at one dose every interval from day 0, and the
//! loop breaker (the drug the combination schedule adds) at its dose on the same
//! dosing days from the chosen day on. In vitro a medium change sets each drug's
//! concentration and the culture grows up to the model's carrying capacity, as
//! `simulate` runs it (no passages: a passaged dish's expanded count grows without
//! bound and would take the figure's axis with it); in vivo doses are mg/kg boluses
//! through the model's one-compartment pharmacokinetics, with the host's growth and
//! size limit.

pub mod js;

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;

use super::html::esc;
use super::story::Story;
use crate::compile::{lineage_params, BoundModel, CompiledModel, Inliner};
use crate::engine::ode::{rescale_cells, Method, OdeRun, RunSettings, SimError};
use crate::expr::{Expr, Var};
use crate::pkpd::{DoseEvent, DoseKind, Exposure};
use crate::schedule::{ArmStart, DrugArm, Regimen, Schedule, Setting};

/// Tolerances of the page's integrator: the engine's defaults.
pub const PAGE_RTOL: f64 = 1e-6;
pub const PAGE_ATOL: f64 = 1e-9;
/// Output times of one run on the page.
pub const PAGE_POINTS: usize = 400;

/// The page's integrator and population ODE (static; see the module docs).
pub const SOLVER_JS: &str = include_str!("assets/live_solver.js");
const UI_JS: &str = include_str!("assets/live_ui.js");
const LIVE_CSS: &str = include_str!("assets/live.css");

/// Why a story cannot become a live page.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{story}: {message}")]
    Story { story: String, message: String },
    #[error(transparent)]
    Lower(#[from] js::LowerError),
}

/// One drug as the page doses it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveDrug {
    /// Model drug index and name.
    pub index: usize,
    pub name: String,
    /// `set` (in vitro: the medium is set to a concentration) or `bolus` (mg/kg).
    pub kind: &'static str,
    /// The story's dose, in `unit`.
    pub dose: f64,
    pub unit: String,
}

/// The loop-strength parameter and its slider range.
#[derive(Debug, Clone, Serialize)]
pub struct LoopParameter {
    pub index: usize,
    pub name: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub unit: String,
    pub note: String,
}

/// Everything the page needs from a story, in the model's time unit.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    pub title: String,
    pub setting: &'static str,
    pub hours_per_unit: f64,
    pub duration: f64,
    pub cells: f64,
    pub equilibrate: f64,
    pub carrying_capacity: Option<f64>,
    pub division_factor: f64,
    pub drug: LiveDrug,
    pub breaker: Option<LiveDrug>,
    /// The story's dosing interval, and the day the breaker starts by default.
    pub interval: f64,
    pub breaker_start: f64,
    pub loop_parameter: LoopParameter,
    /// Key loop species (model indices).
    pub species: Vec<usize>,
    pub detection_cells: Option<f64>,
    pub detection_label: Option<String>,
}

fn story_error(story: &Story, message: impl Into<String>) -> LiveError {
    LiveError::Story {
        story: story.path.display().to_string(),
        message: message.into(),
    }
}

/// The arm of `drug` in `s`, dosed as the page doses it: the highest concentration
/// of an in vitro regimen (a ladder's top step, an adaptive rule's cap), the mg/kg of
/// a bolus regimen (its largest first dose); and, in vivo, its mean interval between
/// doses (model time units).
fn arm_dose(m: &CompiledModel, a: &DrugArm) -> (LiveDrug, Option<f64>) {
    let drug = &m.drugs[a.drug];
    let (kind, dose, unit, interval) = match &a.regimen {
        Regimen::Constant { concentration } => ("set", *concentration, drug.unit.symbol(), None),
        Regimen::Ladder { steps } => (
            "set",
            steps.iter().map(|s| s.concentration).fold(0.0, f64::max),
            drug.unit.symbol(),
            None,
        ),
        Regimen::Adaptive(r) => ("set", r.cap, drug.unit.symbol(), None),
        Regimen::Bolus { series } => {
            // Doses per time unit over every series (a weekday pattern is one series
            // per dosing day, each weekly).
            let rate: f64 = series.iter().map(|x| 1.0 / x.every).sum();
            (
                "bolus",
                series.iter().map(|x| x.mg_per_kg).fold(0.0, f64::max),
                "mg/kg",
                (rate > 0.0).then(|| 1.0 / rate),
            )
        }
    };
    (
        LiveDrug {
            index: a.drug,
            name: drug.name.clone(),
            kind,
            dose,
            unit: unit.to_string(),
        },
        interval,
    )
}

/// Read what the page needs from a story; `loop_parameter` overrides the story's.
pub fn from_story(story: &Story, loop_parameter: Option<&str>) -> Result<Live, LiveError> {
    let m = &story.model;
    if !m.has_cells {
        return Err(story_error(
            story,
            "the model has no cells (no `[fate]`): the page draws cells",
        ));
    }
    if !m.events.is_empty() {
        return Err(story_error(
            story,
            "the model has events, which the page's integrator does not locate",
        ));
    }
    let (a, c): (&Schedule, &Schedule) = (&story.alone, &story.combination);
    let injected =
        |x: &Schedule| x.setting == Setting::InVivo && (x.host.lag > 0.0 || m.take.is_some());
    if injected(a) || injected(c) {
        return Err(story_error(
            story,
            "an in vivo schedule with a host lag (`[tumour] lag`) or a model with a \
             `[fate] take`: the page scales the injected cells by the host's take only and \
             grows them at once; run the schedules with `resloop therapy`",
        ));
    }
    let day = a.hours_per_unit / 24.0;
    let first = a
        .primary_arm
        .or((!a.arms.is_empty()).then_some(0))
        .ok_or_else(|| story_error(story, "the drug-alone schedule gives no drug"))?;
    let (drug, bolus_interval) = arm_dose(m, &a.arms[first]);
    let breaker_arm = c
        .arms
        .iter()
        .find(|x| !a.arms.iter().any(|y| y.drug == x.drug));
    let breaker = breaker_arm.map(|x| arm_dose(m, x).0);
    let duration = c.duration.max(a.duration);
    let breaker_start = match breaker_arm.map(|x| x.start) {
        Some(ArmStart::At(t)) => t,
        // On relapse or on size: a day the page cannot know before it runs.
        _ => (duration * day / 2.0).round() / day,
    };
    let interval = match a.setting {
        Setting::InVitro => a.culture.refresh_every.unwrap_or(72.0 / a.hours_per_unit),
        Setting::InVivo => bolus_interval.unwrap_or(1.0 / day),
    };
    let name = loop_parameter
        .map(str::to_string)
        .or_else(|| story.spec.loop_parameter.clone())
        .ok_or_else(|| {
            story_error(
                story,
                "name the loop-strength parameter: `loop_parameter` in the story's [story] \
                 table, or --loop-parameter",
            )
        })?;
    let index = m.param_index(&name).ok_or_else(|| {
        story_error(
            story,
            format!(
                "the model has no parameter `{name}`{}",
                crate::expr::resolve::did_you_mean_among(&name, m.param_names())
            ),
        )
    })?;
    let p = &m.params[index];
    let [min, max] = p.bounds.unwrap_or(if p.value == 0.0 {
        [0.0, 1.0]
    } else {
        [
            p.value.min(0.0).min(2.0 * p.value),
            p.value.max(2.0 * p.value),
        ]
    });
    let cells = c.initial_cells.unwrap_or(m.initial_cells) * c.host.take;
    Ok(Live {
        title: story.spec.title.clone(),
        setting: match a.setting {
            Setting::InVitro => "in_vitro",
            Setting::InVivo => "in_vivo",
        },
        hours_per_unit: a.hours_per_unit,
        duration,
        cells,
        equilibrate: c.equilibrate.unwrap_or(0.0),
        carrying_capacity: c.host.carrying_capacity.or(m.carrying_capacity),
        division_factor: c.host.division_factor,
        drug,
        breaker,
        interval,
        breaker_start,
        loop_parameter: LoopParameter {
            index,
            name,
            value: p.value,
            min,
            max,
            unit: p.unit.clone().unwrap_or_default(),
            note: p.note.clone().unwrap_or_default(),
        },
        species: story.species.clone(),
        detection_cells: story.spec.detection_cells,
        detection_label: story.spec.detection_label.clone(),
    })
}

/// The model as the page's script reads it: `const LIVE_MODEL = {...}` with one
/// generated right-hand-side function per genotype, reading the loop-strength
/// parameter as `p[0]`. Also returns the number of distinct expression nodes.
pub fn model_js(model: &CompiledModel, live: &Live) -> Result<(String, usize), LiveError> {
    let free = live.loop_parameter.index;
    let base: Vec<Expr> = model
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == free {
                Expr::var(Var::Param(i))
            } else {
                Expr::c(p.value)
            }
        })
        .collect();
    let exposure = Exposure::new(model);
    let data = json!({
        "name": model.meta.name,
        "time_unit": model.meta.time_unit.symbol(),
        "species": model.species.iter().map(|s| json!({
            "name": s.name, "unit": s.unit, "initial": s.initial})).collect::<Vec<_>>(),
        "genotypes": model.genotypes.iter().map(|g| json!({
            "name": g.name, "parent": g.parent,
            "mutation_probability": g.mutation_probability,
            "initial_fraction": g.initial_fraction})).collect::<Vec<_>>(),
        "drugs": model.drugs.iter().enumerate().map(|(i, d)| {
            let (bolus_scale, in_vivo_decay, in_vitro_decay) = exposure.constants(i);
            json!({"name": d.name, "unit": d.unit.symbol(), "bolus_scale": bolus_scale,
                   "in_vivo_decay": in_vivo_decay, "in_vitro_decay": in_vitro_decay})
        }).collect::<Vec<_>>(),
        "settings": {"carrying_capacity": live.carrying_capacity,
                     "division_factor": live.division_factor},
    });
    let n = model.species.len();
    let name = |v: Var| match v {
        Var::Species(i) if i < n => Some(format!("y[o + {i}]")),
        Var::Drug(k) => Some(format!("c[{k}]")),
        Var::Time => Some("t".to_string()),
        Var::Param(i) if i == free => Some("p[0]".to_string()),
        _ => None,
    };
    let mut code = format!(
        "const LIVE_MODEL = {};\nLIVE_MODEL.rhs = [\n",
        script_json(&data)
    );
    let mut nodes = 0;
    for (g, gt) in model.genotypes.iter().enumerate() {
        let params = lineage_params(model, &base, g, Expr::c);
        let rhs = Inliner::new(model, &params).rhs(model);
        let (body, k) = js::lower(&rhs, &name)?;
        nodes += k;
        let _ = write!(
            code,
            "// genotype {}: the species' rates, then division and death\n\
             function (y, o, c, t, p, out) {{\n{body}}},\n",
            gt.name.replace('\n', " ")
        );
    }
    code.push_str("];\n");
    Ok((code, nodes))
}

/// JSON for inside a `<script>` element (no `</script>` can end it early).
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace("</", "<\\/")
}

/// The page's model and integrator without its user interface: what the page runs
/// and what `tests/live.rs` runs in Node.js.
pub fn engine_script(model: &CompiledModel, live: &Live) -> Result<String, LiveError> {
    Ok(format!("{SOLVER_JS}\n{}", model_js(model, live)?.0))
}

/// The whole page: one HTML file with its styles and scripts inline.
pub fn page(story: &Story, live: &Live) -> Result<String, LiveError> {
    let m = &story.model;
    let ui = json!({
        "live": live,
        "species_names": live.species.iter().map(|&i| &m.species[i].name).collect::<Vec<_>>(),
        "rtol": PAGE_RTOL, "atol": PAGE_ATOL, "points": PAGE_POINTS,
    });
    let engine = engine_script(m, live)?;
    let title = format!("{} (live)", live.title);
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{css}{LIVE_CSS}</style></head><body>\
         <h1>{t}</h1>\
         <p class=\"what\">Move a slider: the page reruns the model <b>{model}</b> \
         ({mtitle}) in your browser and redraws the figure. Solid lines: the targeted \
         drug alone; dashed: with the loop breaker added. It runs the deterministic \
         mean-field population ODE that resloop's engine runs (its right-hand side \
         generated from the same expressions), integrated by the same Dormand-Prince \
         5(4) method at rtol {rtol:e}.</p>\
         <div id=\"controls\"></div><p id=\"status\"></p><div id=\"figure\"></div>\
         <script>\n{engine}\nconst LIVE = {ui};\n{UI_JS}\n</script></body></html>\n",
        t = esc(&title),
        css = super::CSS,
        model = esc(&m.meta.name),
        mtitle = esc(&m.meta.title),
        rtol = PAGE_RTOL,
        ui = script_json(&ui),
    ))
}

/// One run of the page on the engine: the loop parameter at `loop_value`, `cells`
/// cells equilibrated drug-free for `equilibrate` and rescaled, then the doses.
#[derive(Debug, Clone)]
pub struct Setup {
    pub loop_value: f64,
    pub cells: f64,
    pub equilibrate: f64,
    pub doses: Vec<DoseEvent>,
    pub t_end: f64,
    pub outs: Vec<f64>,
    pub rtol: f64,
    pub atol: f64,
}

/// States at output times (the population block: per genotype, species then cells).
#[derive(Debug, Clone, Default)]
pub struct Trajectory {
    pub times: Vec<f64>,
    pub states: Vec<Vec<f64>>,
}

/// The page's run on resloop's own engine ([`OdeRun`] with its dopri5), the
/// reference the page is tested against: the therapy driver's equilibration and
/// rescaling, then `simulate`'s loop (apply the doses due, integrate to the next).
pub fn reference_run(
    model: &CompiledModel,
    live: &Live,
    setup: &Setup,
) -> Result<Trajectory, SimError> {
    let mut base = model.param_values();
    base[live.loop_parameter.index] = setup.loop_value;
    let bound = BoundModel::new(model, &base)
        .map_err(|e| SimError::Settings(format!("cannot bind the model: {e}")))?;
    let settings = RunSettings {
        method: Method::Dopri5,
        rtol: setup.rtol,
        atol: setup.atol,
        carrying_capacity: live.carrying_capacity,
        division_factor: live.division_factor,
        division_from: 0.0,
        negative_tolerance: 1e3 * setup.atol,
    };
    let stride = model.species.len() + 1;
    let mut y0 = OdeRun::initial_state(model, &bound, setup.cells);
    if setup.equilibrate > 0.0 {
        let mut eq = OdeRun::new(model, &bound, &settings, &y0, 0.0)?;
        eq.advance_to(setup.equilibrate, &[])?;
        y0 = eq.state().to_vec();
        rescale_cells(&mut y0, stride, setup.cells);
    }
    let mut run = OdeRun::new(model, &bound, &settings, &y0, 0.0)?;
    let mut doses: Vec<DoseEvent> = setup
        .doses
        .iter()
        .copied()
        .filter(|d| d.time <= setup.t_end)
        .collect();
    doses.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut out = Trajectory::default();
    let mut next = 0;
    loop {
        while next < doses.len() && doses[next].time <= run.time() {
            run.apply_dose(doses[next].drug, doses[next].kind)?;
            next += 1;
        }
        let t_next = doses
            .get(next)
            .map_or(setup.t_end, |d| d.time.min(setup.t_end));
        if t_next > run.time() {
            run.advance_to(t_next, &setup.outs)?;
            for (t, y) in run.captured().iter() {
                out.times.push(t);
                out.states.push(y.to_vec());
            }
        }
        if run.time() >= setup.t_end {
            break;
        }
    }
    out.times.push(setup.t_end);
    out.states.push(run.state().to_vec());
    Ok(out)
}

/// A dose as the page writes it (`{time, drug, kind, value}`), for the engine.
pub fn dose_event(time: f64, drug: usize, kind: &str, value: f64) -> Option<DoseEvent> {
    let kind = match kind {
        "set" => DoseKind::SetConcentration { value },
        "bolus" => DoseKind::Bolus { mg_per_kg: value },
        _ => return None,
    };
    Some(DoseEvent { time, drug, kind })
}
