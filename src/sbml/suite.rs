//! Running cases of the SBML Test Suite (semantic, time-course): import the case's
//! model, simulate it, and compare with the expected results the way the suite's
//! README says a case passes: for every listed variable and output time,
//! `|simulated - expected| <= absolute + relative * |expected|`.
//!
//! A species is compared as an amount or a concentration as the case's settings
//! ask (amount = concentration x compartment size, both read from the same run).
//! Every failure says why: the feature the importer refused, or the first time and
//! variable whose number is wrong.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{import_str, Imported, Role, SbmlError};
use crate::compile::{compile_str, BoundModel};
use crate::engine::ode::{simulate, OdeOptions, Timeline};

/// A case's `NNNNN-settings.txt`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub start: f64,
    pub duration: f64,
    pub steps: usize,
    pub variables: Vec<String>,
    pub absolute: f64,
    pub relative: f64,
    pub amount: Vec<String>,
    pub concentration: Vec<String>,
}

/// A case: its folder, number and tags (from `NNNNN-model.m`).
#[derive(Debug, Clone)]
pub struct Case {
    pub dir: PathBuf,
    pub id: String,
    pub component_tags: Vec<String>,
    pub test_tags: Vec<String>,
    pub test_type: String,
}

/// How a case went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    /// Not a time course (flux balance): out of scope.
    NotTimeCourse,
    /// The importer refused the model (an unsupported feature).
    Unsupported(String),
    /// Simulated, but a number is off.
    Wrong {
        time: f64,
        variable: String,
        got: f64,
        expected: f64,
    },
    /// Anything else: a file missing, an import or simulation error.
    Error(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::NotTimeCourse => "not a time course",
            Outcome::Unsupported(_) => "unsupported",
            Outcome::Wrong { .. } => "wrong numbers",
            Outcome::Error(_) => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => write!(f, "pass"),
            Outcome::NotTimeCourse => write!(f, "not a time course (skipped)"),
            Outcome::Unsupported(w) => write!(f, "unsupported: {w}"),
            Outcome::Wrong {
                time,
                variable,
                got,
                expected,
            } => write!(
                f,
                "wrong numbers: at t = {time}, `{variable}` = {got:e}, expected {expected:e}"
            ),
            Outcome::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Every case folder under `root/cases` (or `root` itself), in order.
pub fn list_cases(root: &Path) -> std::io::Result<Vec<Case>> {
    let base = if root.join("cases").is_dir() {
        root.join("cases")
    } else {
        root.to_path_buf()
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs.into_iter().map(|d| read_case(&d)).collect())
}

/// A case's tags from its `NNNNN-model.m` (empty where unreadable).
pub fn read_case(dir: &Path) -> Case {
    let id = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let text = std::fs::read_to_string(dir.join(format!("{id}-model.m"))).unwrap_or_default();
    let field = |key: &str| -> Vec<String> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| {
                v.trim_start_matches(':')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    Case {
        dir: dir.to_path_buf(),
        component_tags: field("componentTags"),
        test_tags: field("testTags"),
        test_type: field("testType").join(","),
        id,
    }
}

/// Parse a settings file.
pub fn parse_settings(text: &str) -> Result<Settings, String> {
    let mut s = Settings::default();
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let num = |k: &str, v: &str| -> Result<f64, String> {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("settings: `{k}: {v}` is not a number"))
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim() {
            "start" => s.start = if v.trim().is_empty() { 0.0 } else { num(k, v)? },
            "duration" => s.duration = num(k, v)?,
            "steps" => s.steps = num(k, v)? as usize,
            "variables" => s.variables = list(v),
            "absolute" => s.absolute = num(k, v)?,
            "relative" => s.relative = num(k, v)?,
            "amount" => s.amount = list(v),
            "concentration" => s.concentration = list(v),
            _ => {}
        }
    }
    Ok(s)
}

/// The SBML file of a case: the highest level and version it ships.
fn model_file(case: &Case) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&case.dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().contains("-sbml-l") && n.to_string_lossy().ends_with(".xml")
            })
        })
        .collect();
    files.sort();
    files.pop()
}

/// Run one case with the given solver tolerances.
pub fn run_case(case: &Case, rtol: f64, atol: f64) -> Outcome {
    run_case_with(case, rtol, atol, false)
}

/// Run one case; with `round_trip` the imported model is exported to SBML and
/// imported again before it runs (so the case checks export as well).
pub fn run_case_with(case: &Case, rtol: f64, atol: f64, round_trip: bool) -> Outcome {
    match run_case_inner(case, rtol, atol, round_trip) {
        Ok(o) => o,
        Err(o) => o,
    }
}

fn run_case_inner(case: &Case, rtol: f64, atol: f64, round_trip: bool) -> Result<Outcome, Outcome> {
    if !case.test_type.contains("TimeCourse") {
        return Ok(Outcome::NotTimeCourse);
    }
    let err = |e: String| Outcome::Error(e);
    let read = |name: String| {
        std::fs::read_to_string(case.dir.join(&name)).map_err(|e| err(format!("{name}: {e}")))
    };
    let settings = parse_settings(&read(format!("{}-settings.txt", case.id))?).map_err(err)?;
    let xml_path = model_file(case).ok_or_else(|| err("no SBML file".into()))?;
    let xml = std::fs::read_to_string(&xml_path).map_err(|e| err(e.to_string()))?;
    let imported = import_str(&xml_path, &xml).map_err(|e| match e {
        SbmlError::Unsupported { .. } => Outcome::Unsupported(e.to_string()),
        other => err(other.to_string()),
    })?;
    let expected = read_results(&read(format!("{}-results.csv", case.id))?).map_err(err)?;
    if settings.start != 0.0 {
        return Err(Outcome::Unsupported(format!(
            "a start time of {} (runs start at 0)",
            settings.start
        )));
    }
    let toml = if round_trip {
        let model =
            compile_str(Path::new("imported"), &imported.toml).map_err(|e| err(e.to_string()))?;
        let exported = super::export::export(&model, &super::export::Run::of(&model))
            .map_err(|e| err(format!("export: {e}")))?;
        import_str(Path::new("exported.xml"), &exported.xml)
            .map_err(|e| err(format!("import of the export: {e}")))?
            .toml
    } else {
        imported.toml.clone()
    };
    let timeline = run(&toml, &settings, rtol, atol).map_err(err)?;
    compare(&imported, &settings, &timeline, &expected)
}

/// A simulated case: the timeline and the parameter values (by resloop name).
struct Run {
    timeline: Timeline,
    params: HashMap<String, f64>,
}

/// Simulate an imported model for a case's settings.
fn run(toml: &str, s: &Settings, rtol: f64, atol: f64) -> Result<Run, String> {
    let model = compile_str(Path::new("imported"), toml).map_err(|e| e.to_string())?;
    let bound = BoundModel::new(&model, &model.param_values()).map_err(|e| e.to_string())?;
    let mut opts = OdeOptions::new(s.start + s.duration);
    opts.n_out = s.steps.max(1);
    opts.rtol = rtol;
    opts.atol = atol;
    let res = simulate(&model, &bound, &[], &opts).map_err(|e| e.to_string())?;
    Ok(Run {
        timeline: res.timeline,
        params: model
            .params
            .iter()
            .map(|p| (p.name.clone(), p.value))
            .collect(),
    })
}

/// Expected results: header, then one row per output time.
struct Results {
    header: Vec<String>,
    rows: Vec<Vec<f64>>,
}

fn read_results(text: &str) -> Result<Results, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or("empty results file")?
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|x| {
                    let x = x.trim();
                    match x {
                        "INF" | "inf" => Ok(f64::INFINITY),
                        "-INF" | "-inf" => Ok(f64::NEG_INFINITY),
                        "NaN" | "nan" => Ok(f64::NAN),
                        _ => x
                            .parse::<f64>()
                            .map_err(|_| format!("results: `{x}` is not a number")),
                    }
                })
                .collect::<Result<Vec<f64>, String>>()
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Results { header, rows })
}

/// Compare every listed variable at every output time.
fn compare(
    imported: &Imported,
    s: &Settings,
    run: &Run,
    expected: &Results,
) -> Result<Outcome, Outcome> {
    let tl = &run.timeline;
    // The value of an SBML id at output row `row`, as its symbol means it.
    let raw = |id: &str, row: usize| -> Result<f64, Outcome> {
        let sym = imported
            .symbols
            .get(id)
            .ok_or_else(|| Outcome::Error(format!("variable `{id}` is not in the model")))?;
        Ok(match sym.role {
            Role::Parameter => run.params.get(&sym.name).copied().unwrap_or(sym.initial),
            Role::State | Role::Observable => {
                let col = tl
                    .columns
                    .iter()
                    .position(|c| c.variable == sym.name && c.population != "exposure")
                    .ok_or_else(|| Outcome::Error(format!("no timeline column for `{id}`")))?;
                tl.get(row, col)
            }
        })
    };
    let value = |id: &str, row: usize| -> Result<f64, Outcome> {
        let v = raw(id, row)?;
        let Some((comp, is_amount)) = imported.symbols.get(id).and_then(|s| s.species.clone())
        else {
            return Ok(v);
        };
        let want_amount = s.amount.iter().any(|a| a == id);
        let want_conc = s.concentration.iter().any(|a| a == id);
        Ok(if want_amount && !is_amount {
            v * raw(&comp, row)?
        } else if want_conc && is_amount {
            v / raw(&comp, row)?
        } else {
            v
        })
    };
    if expected.rows.len() != tl.times.len() {
        return Err(Outcome::Error(format!(
            "{} expected rows, {} simulated",
            expected.rows.len(),
            tl.times.len()
        )));
    }
    for var in &s.variables {
        // Column 0 is time (whatever its header says: a variable may be `Time`).
        let col = expected
            .header
            .iter()
            .skip(1)
            .position(|h| h == var)
            .map(|c| c + 1)
            .ok_or_else(|| Outcome::Error(format!("`{var}` is not in the results file")))?;
        for (row, want) in expected.rows.iter().enumerate() {
            let e = want.get(col).copied().unwrap_or(f64::NAN);
            let got = value(var, row)?;
            let ok = if e.is_nan() {
                got.is_nan()
            } else if e.is_infinite() {
                got == e
            } else {
                (got - e).abs() <= s.absolute + s.relative * e.abs()
            };
            if !ok {
                return Ok(Outcome::Wrong {
                    time: tl.times[row],
                    variable: var.clone(),
                    got,
                    expected: e,
                });
            }
        }
    }
    Ok(Outcome::Pass)
}
