//! Stiff ODE benchmark: work-precision tables and the libRoadRunner comparison.
//!
//! Printed first (the numbers docs/performance.md keeps), each row the best CPU time
//! of several runs of one simulation on one thread (model loading excluded), its
//! largest relative error against a reference, and its work counters:
//!
//! 1. The Bari test set (ROBER, HIRES, OREGO, POLLU; `engine::ode::testset`):
//!    final state against the published reference, rtol 1e-4 ... 1e-10.
//! 2. `benches/il6_loop.toml`, the stiff loop with doses: 365 days, 105 escalating
//!    trastuzumab boluses, 1000 output intervals, atol 1e-12; error over every
//!    output time and state component against a Dopri5 run at rtol 1e-12.
//! 3. Every shipped model under its longest shipped schedule (the therapy driver
//!    with its IC50 assays, all on the method under test); error over the
//!    timeline's species and cell counts against Dopri5 at rtol 1e-11.
//! 4. Every shipped model under the fixed-dose replay of its longest schedule
//!    (see [`replays`]), which SBML can carry: the mean-field ODE with the doses
//!    the schedule's run chose, no passages or assays; error over every
//!    genotype's species and cells at every readout against Dopri5 at rtol 1e-12.
//!    Beside it, the whole `resloop therapy` process on the schedule itself.
//! 5. The problems of 1, 2 and 4 through libRoadRunner 2.10 (CVODE) in the same
//!    run, by `benches/roadrunner/setup.sh` (which makes its own venv; part 4's
//!    models go over as the SBML `resloop export` writes), scored here with the
//!    same error function, and the CPU ratio at each rtol.
//!
//! Then criterion times a few cases at rtol 1e-6 and the LU factorisation.
//! `STIFF_QUICK=1` runs fewer tolerances; `STIFF_PARTS=set,shipped,replay,rr` picks
//! parts (the il6 loop always runs: it is the reference of part 5);
//! `STIFF_METHODS=bdf,radau5` picks the methods of parts 1 and 2 (`auto` always
//! runs). Part 5 ends with the equal-error ratio of every method that ran.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::DMatrix;
use resloop::assay::AssaySettings;
use resloop::compile::{compile_file, BoundModel, CompiledModel};
use resloop::engine::ode::testset::{TestProblem, SIGNIFICANT};
use resloop::engine::ode::{
    simulate, DenseLu, Method, OdeOptions, RunSettings, SimResult, SolverStats, Timeline,
};
use resloop::pkpd::{DoseEvent, DoseKind};
use resloop::sbml::export::{export, Run};
use resloop::schedule::Schedule;
use resloop::therapy::{self, EventKind, TherapyOptions, TherapyResult};

const METHODS: [Method; 6] = [
    Method::Auto,
    Method::Rodas5p,
    Method::Radau5,
    Method::Bdf,
    Method::Rodas4,
    Method::Rosenbrock23,
];

/// `methods` without those `STIFF_METHODS=bdf,rodas5p` leaves out (all by default;
/// `auto` always runs: the comparison with libRoadRunner is on it).
fn wanted(methods: &[Method]) -> Vec<Method> {
    let keep = |m: &Method| {
        *m == Method::Auto
            || std::env::var("STIFF_METHODS").map_or(true, |v| v.split(',').any(|x| x == m.label()))
    };
    methods.iter().copied().filter(keep).collect()
}

fn rtols() -> Vec<f64> {
    if std::env::var_os("STIFF_QUICK").is_some() {
        vec![1e-4, 1e-6, 1e-8]
    } else {
        (4..=10).map(|k| 10f64.powi(-k)).collect()
    }
}

/// [`rtols`] and 1e-3 for resloop's runs on the test set and the il6 loop: where
/// libRoadRunner's error at rtol 1e-4 is larger than resloop's at 1e-4, the
/// equal-error ratio needs a resloop run at least that loose to interpolate from
/// (without one it takes the 1e-4 time, understating the ratio).
fn rtols_resloop() -> Vec<f64> {
    std::iter::once(1e-3).chain(rtols()).collect()
}

/// Best CPU time of `f` over repeated runs (at least 3, until 0.3 s in total).
fn best_of<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let (mut best, mut total, mut reps) = (f64::INFINITY, 0.0, 0);
    let mut last = None;
    while reps < 3 || (total < 0.3 && reps < 200) {
        let t = common::thread_cpu_seconds();
        let r = f();
        let s = common::thread_cpu_seconds() - t;
        best = best.min(s);
        total += s;
        reps += 1;
        last = Some(r);
    }
    (best, last.unwrap())
}

struct Row {
    problem: String,
    method: String,
    rtol: f64,
    seconds: f64,
    error: f64,
    stats: Option<SolverStats>,
}

fn print_rows(title: &str, rows: &[Row]) {
    println!("\n## {title}\n");
    println!("| problem | method | rtol | CPU (ms) | max rel. error | steps (rej.) | f evals | J evals |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (steps, f, j) = match r.stats {
            Some(s) => (
                format!("{} ({})", s.accepted, s.rejected),
                s.rhs_evals.to_string(),
                s.jacobian_evals.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {:.0e} | {:.3} | {:.1e} | {steps} | {f} | {j} |",
            r.problem,
            r.method,
            r.rtol,
            1e3 * r.seconds,
            r.error
        );
    }
}

fn run_test_problem(p: TestProblem, method: Method, rtol: f64) -> (Vec<f64>, SolverStats) {
    let mut solver = method.solver(rtol, p.atol(rtol));
    let (mut t, mut y, mut sys) = (0.0, p.initial(), p);
    solver
        .advance(&mut sys, &mut t, &mut y, p.t_end(), &[], &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{} {}: {e}", p.name(), method.label()));
    (y, solver.stats())
}

fn test_set(rows: &mut Vec<Row>) {
    for p in TestProblem::ALL {
        for method in wanted(&METHODS) {
            for rtol in rtols_resloop() {
                if method == Method::Rosenbrock23 && rtol < 1e-8 {
                    continue; // second order: millions of steps, nothing to learn
                }
                let (s, (y, stats)) = best_of(|| run_test_problem(p, method, rtol));
                rows.push(Row {
                    problem: p.name().into(),
                    method: method.label().into(),
                    rtol,
                    seconds: s,
                    error: p.max_relative_error(&y),
                    stats: Some(stats),
                });
            }
        }
    }
}

/// Largest relative error over matching entries with a reference of at least
/// [`SIGNIFICANT`] in magnitude.
fn max_rel(values: &[f64], reference: &[f64]) -> f64 {
    values
        .iter()
        .zip(reference)
        .filter(|(_, r)| r.abs() >= SIGNIFICANT)
        .map(|(v, r)| ((v - r) / r).abs())
        .fold(0.0, f64::max)
}

/// The il6 loop's doses: every 3.5 days, 1 + 0.1 k mg/kg (k = 0..104).
fn il6_doses() -> Vec<DoseEvent> {
    (0..105)
        .map(|k| DoseEvent {
            time: 3.5 * k as f64,
            drug: 0,
            kind: DoseKind::Bolus {
                mg_per_kg: 1.0 + 0.1 * k as f64,
            },
        })
        .collect()
}

/// Species and cells of the parental population, row by row (the state order of
/// compare.py's IL6_LOOP).
fn state_columns(tl: &Timeline, m: &CompiledModel) -> Vec<f64> {
    let g = &m.genotypes[0].name;
    let cols: Vec<usize> = m
        .species
        .iter()
        .map(|s| tl.column(g, &s.name).unwrap())
        .chain(std::iter::once(tl.column(g, "cells").unwrap()))
        .collect();
    (0..tl.times.len())
        .flat_map(|r| cols.iter().map(move |&c| (r, c)))
        .map(|(r, c)| tl.get(r, c))
        .collect()
}

fn il6_run(m: &CompiledModel, b: &BoundModel, method: Method, rtol: f64) -> SimResult {
    let mut o = OdeOptions::new(365.0);
    o.n_out = 1000;
    o.method = method;
    o.rtol = rtol;
    o.atol = 1e-12;
    simulate(m, b, &il6_doses(), &o).unwrap_or_else(|e| panic!("il6_loop {rtol}: {e}"))
}

fn il6_loop(m: &CompiledModel, rows: &mut Vec<Row>) -> Vec<f64> {
    let b = BoundModel::new(m, &m.param_values()).unwrap();
    let reference = state_columns(&il6_run(m, &b, Method::Dopri5, 1e-12).timeline, m);
    for method in wanted(&[
        Method::Auto,
        Method::Rodas5p,
        Method::Radau5,
        Method::Bdf,
        Method::Rodas4,
        Method::Dopri5,
        Method::Rosenbrock23,
    ]) {
        for rtol in rtols_resloop() {
            if method == Method::Rosenbrock23 && rtol < 1e-8 {
                continue;
            }
            let (s, r) = best_of(|| il6_run(m, &b, method, rtol));
            rows.push(Row {
                problem: "il6_loop, 105 doses".into(),
                method: method.label().into(),
                rtol,
                seconds: s,
                error: max_rel(&state_columns(&r.timeline, m), &reference),
                stats: Some(r.stats),
            });
        }
    }
    reference
}

/// The shipped schedule of `model` with the longest duration.
fn longest_schedule(root: &Path, m: &CompiledModel) -> Option<Schedule> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("schedules"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{}_", m.meta.name)))
        })
        .collect();
    files.sort();
    files.iter().filter_map(|p| Schedule::load(p, m).ok()).fold(
        None,
        |best: Option<Schedule>, s| match best {
            Some(b) if b.duration >= s.duration => Some(b),
            _ => Some(s),
        },
    )
}

fn therapy_options(m: &CompiledModel, method: Method, rtol: f64) -> TherapyOptions {
    let atol = rtol * 1e-3;
    let mut assay = AssaySettings::standard(m);
    assay.run = RunSettings {
        method,
        rtol,
        atol,
        ..assay.run
    };
    TherapyOptions {
        method,
        rtol,
        atol,
        assay: Some(assay),
        ..TherapyOptions::default()
    }
}

fn timeline_states(tl: &Timeline, m: &CompiledModel) -> Vec<f64> {
    let cols: Vec<usize> = (0..tl.columns.len())
        .filter(|&c| {
            let col = &tl.columns[c];
            col.variable == "cells" || m.species.iter().any(|s| s.name == col.variable)
        })
        .collect();
    (0..tl.times.len())
        .flat_map(|r| cols.iter().map(move |&c| (r, c)))
        .map(|(r, c)| tl.get(r, c))
        .collect()
}

/// Every shipped model (`models/*.toml`, not fact files) with its longest
/// shipped schedule.
fn shipped_with_schedules() -> Vec<(PathBuf, CompiledModel, Schedule)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut models: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "toml")
                && !p.to_string_lossy().ends_with(".facts.toml")
        })
        .collect();
    models.sort();
    models
        .into_iter()
        .filter_map(|path| {
            let m = compile_file(&path).unwrap();
            let s = longest_schedule(&root, &m)?;
            Some((path, m, s))
        })
        .collect()
}

fn shipped_models(rows: &mut Vec<Row>) {
    for (_, m, s) in shipped_with_schedules() {
        let reference = therapy::run(&m, &s, &therapy_options(&m, Method::Dopri5, 1e-11))
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let want = timeline_states(&reference.timeline, &m);
        for method in [Method::Auto, Method::Rodas5p, Method::Dopri5] {
            for rtol in rtols() {
                let opts = therapy_options(&m, method, rtol);
                let (secs, r) = best_of(|| therapy::run(&m, &s, &opts));
                let (error, stats) = match r {
                    Ok(r) => {
                        let got = timeline_states(&r.timeline, &m);
                        let e = if got.len() == want.len() {
                            max_rel(&got, &want)
                        } else {
                            f64::INFINITY // a different event history
                        };
                        (e, Some(r.stats))
                    }
                    Err(e) => {
                        println!("{} {} {rtol:e}: {e}", s.name, method.label());
                        (f64::NAN, None)
                    }
                };
                rows.push(Row {
                    problem: format!("{} ({} {})", s.name, s.duration, s.time_unit),
                    method: method.label().into(),
                    rtol,
                    seconds: secs,
                    error,
                    stats,
                });
            }
        }
    }
}

/// A shipped model under the fixed-dose replay of its longest schedule: what both
/// tools run in part 4.
///
/// The schedules decide as they go (adaptive raises, passages at the confluence
/// cap, IC50 assays, equilibration), which SBML cannot carry. The replay takes the
/// doses the schedule's own run chose (`resloop therapy`, mean field, default
/// tolerances): every dose change at its time, the medium refreshed at the
/// schedule's interval to the concentration then in force, in vivo boluses as
/// given; over the schedule's duration, from its initial cells, with readouts at
/// its interval. Without passages the population grows to the model's carrying
/// capacity instead of being split; the loop sees the same drug history.
struct Replay {
    /// Row label, e.g. `minimal_loop_adaptive replay (8736 h, 122 doses)`.
    label: String,
    schedule: String,
    model: CompiledModel,
    bound: BoundModel,
    doses: Vec<DoseEvent>,
    t_end: f64,
    /// The same in days (the command line's unit).
    days: f64,
    n_out: usize,
    cells: f64,
    /// Scored columns: (population, variable, SBML id): each genotype's species
    /// and cells.
    columns: Vec<(String, String, String)>,
    /// The model and schedule files, for the whole-process run.
    model_path: PathBuf,
    schedule_path: PathBuf,
    /// The SBML file `resloop export` writes for the same run.
    sbml: PathBuf,
}

/// The dose list of [`Replay`] from the events of the schedule's run.
fn replayed_doses(m: &CompiledModel, s: &Schedule, r: &TherapyResult) -> Vec<DoseEvent> {
    let drug = |e: &resloop::therapy::Event| {
        e.drug
            .as_deref()
            .and_then(|d| m.drug_index(d))
            .expect("a dose event names a model drug")
    };
    let mut doses: Vec<DoseEvent> = Vec::new();
    // (time, drug, level) of every change of a medium's concentration.
    let mut changes: Vec<(f64, usize, f64)> = Vec::new();
    for e in r.events.iter().filter(|e| e.time < s.duration) {
        match e.kind {
            EventKind::Bolus => doses.push(DoseEvent {
                time: e.time,
                drug: drug(e),
                kind: DoseKind::Bolus { mg_per_kg: e.value },
            }),
            EventKind::DoseChange => changes.push((e.time, drug(e), e.value)),
            _ => {}
        }
    }
    let mut times: Vec<f64> = changes.iter().map(|c| c.0).collect();
    if let Some(every) = s.culture.refresh_every {
        times.extend(
            (0..)
                .map(|k| k as f64 * every)
                .take_while(|&t| t < s.duration),
        );
    }
    times.sort_by(f64::total_cmp);
    times.dedup();
    for t in times {
        for d in 0..m.drugs.len() {
            let level = changes.iter().rfind(|c| c.1 == d && c.0 <= t).map(|c| c.2);
            if let Some(value) = level {
                doses.push(DoseEvent {
                    time: t,
                    drug: d,
                    kind: DoseKind::SetConcentration { value },
                });
            }
        }
    }
    doses.sort_by(|a, b| a.time.total_cmp(&b.time));
    doses
}

fn replays(dir: &Path) -> Vec<Replay> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    shipped_with_schedules()
        .into_iter()
        .map(|(model_path, m, s)| {
            let run = therapy::run(&m, &s, &TherapyOptions::default())
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let doses = replayed_doses(&m, &s, &run);
            let cells = s.initial_cells.unwrap_or(m.initial_cells);
            let mut export_run = Run::of(&m);
            export_run.cells = cells;
            export_run.doses = doses.clone();
            let exported = export(&m, &export_run).unwrap();
            let sbml = dir.join(format!("{}.xml", s.name));
            std::fs::write(&sbml, &exported.xml).unwrap();
            let columns = exported
                .columns
                .iter()
                .filter(|c| {
                    m.genotypes.iter().any(|g| g.name == c.population)
                        && (c.variable == "cells" || m.species.iter().any(|x| x.name == c.variable))
                })
                .map(|c| (c.population.clone(), c.variable.clone(), c.id.clone()))
                .collect();
            let bound = BoundModel::new(&m, &m.param_values()).unwrap();
            Replay {
                label: format!(
                    "{} replay ({} {}, {} doses)",
                    s.name,
                    s.duration,
                    s.time_unit,
                    doses.len()
                ),
                schedule: s.name.clone(),
                n_out: (s.duration / s.readout_every).round() as usize,
                t_end: s.duration,
                days: s.duration * s.hours_per_unit / 24.0,
                model: m,
                bound,
                doses,
                cells,
                columns,
                model_path,
                schedule_path: root.join("schedules").join(format!("{}.toml", s.name)),
                sbml,
            }
        })
        .collect()
}

fn replay_run(r: &Replay, method: Method, rtol: f64) -> Result<SimResult, String> {
    let mut o = OdeOptions::new(r.t_end);
    o.n_out = r.n_out;
    o.method = method;
    o.rtol = rtol;
    o.atol = 1e-3 * rtol;
    o.initial_cells = Some(r.cells);
    simulate(&r.model, &r.bound, &r.doses, &o).map_err(|e| e.to_string())
}

/// The scored columns of a replay's timeline, row by row.
fn replay_values(r: &Replay, tl: &Timeline) -> Vec<f64> {
    let cols: Vec<usize> = r
        .columns
        .iter()
        .map(|(p, v, _)| tl.column(p, v).unwrap())
        .collect();
    (0..tl.times.len())
        .flat_map(|i| cols.iter().map(move |&c| (i, c)))
        .map(|(i, c)| tl.get(i, c))
        .collect()
}

/// CPU time (user + system) of the waited-for children of this process.
fn children_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_CHILDREN) failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + 1e-6 * t.tv_usec as f64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Part 4: resloop's rows of every replay, their references, and the whole
/// process of `resloop therapy` on each schedule (best of three per rtol).
fn shipped_replays(
    replays: &[Replay],
    rows: &mut Vec<Row>,
    references: &mut BTreeMap<String, (String, Vec<f64>)>,
) {
    let exe = env!("CARGO_BIN_EXE_resloop");
    let out = std::env::temp_dir().join(format!("resloop-stiff-{}", std::process::id()));
    let mut whole = Vec::new();
    for r in replays {
        let reference = replay_values(
            r,
            &replay_run(r, Method::Dopri5, 1e-12)
                .unwrap_or_else(|e| panic!("{}: {e}", r.label))
                .timeline,
        );
        for method in [Method::Auto, Method::Rodas5p, Method::Dopri5] {
            for rtol in rtols() {
                let (secs, res) = best_of(|| replay_run(r, method, rtol));
                let (error, stats) = match res {
                    Ok(res) => (
                        max_rel(&replay_values(r, &res.timeline), &reference),
                        Some(res.stats),
                    ),
                    Err(e) => {
                        println!("{} {} {rtol:e}: {e}", r.label, method.label());
                        (f64::NAN, None)
                    }
                };
                rows.push(Row {
                    problem: r.label.clone(),
                    method: method.label().into(),
                    rtol,
                    seconds: secs,
                    error,
                    stats,
                });
            }
        }
        // The replay's SBML read back by `resloop import` (once, not timed) and run
        // by `resloop simulate`: the same file libRoadRunner loads.
        let imported = r.sbml.with_extension("toml");
        let status = std::process::Command::new(exe)
            .arg("import")
            .arg(&r.sbml)
            .arg("--out")
            .arg(&imported)
            .arg("--quiet")
            .status()
            .expect("run resloop import");
        assert!(status.success(), "resloop import {}", r.sbml.display());
        for rtol in rtols() {
            let tol = [
                "--rtol".to_string(),
                format!("{rtol:e}"),
                "--atol".into(),
                format!("{:e}", 1e-3 * rtol),
            ];
            let common = ["--no-plot", "--quiet", "--overwrite", "--out"];
            let mut simulate = std::process::Command::new(exe);
            simulate
                .arg("simulate")
                .arg(&imported)
                .args(["--days", &r.days.to_string()])
                .args(["--points", &r.n_out.to_string()])
                .args(&tol)
                .args(common)
                .arg(&out);
            let mut therapy = std::process::Command::new(exe);
            therapy
                .arg("therapy")
                .arg(&r.model_path)
                .arg(&r.schedule_path)
                .args(["--engine", "mean-field"])
                .args(&tol)
                .args(common)
                .arg(&out);
            whole.push((
                r.schedule.clone(),
                rtol,
                child_cpu(&mut simulate),
                child_cpu(&mut therapy),
            ));
        }
        references.insert(r.schedule.clone(), (r.label.clone(), reference));
    }
    let _ = std::fs::remove_dir_all(&out);
    println!("\n## Whole resloop process (user + system CPU, best of 3)\n");
    println!("| schedule | rtol | `resloop simulate` of the replay's SBML, imported (ms) | `resloop therapy MODEL SCHEDULE --engine mean-field` (ms) |");
    println!("|---|---|---|---|");
    for (label, rtol, replay, therapy) in whole {
        println!(
            "| {label} | {rtol:.0e} | {:.1} | {:.1} |",
            1e3 * replay,
            1e3 * therapy
        );
    }
}

/// Best of three runs of `cmd`: user + system CPU of the child process.
fn child_cpu(cmd: &mut std::process::Command) -> f64 {
    (0..3)
        .map(|_| {
            let before = children_cpu_seconds();
            let status = cmd.status().expect("run resloop");
            assert!(status.success(), "{cmd:?}");
            children_cpu_seconds() - before
        })
        .fold(f64::INFINITY, f64::min)
}
/// One resloop run for the ratio table: (rtol, seconds, max relative error).
type RunPoint = (f64, f64, f64);

/// Run the libRoadRunner side; its rows and resloop's best time per (problem,
/// rtol) give the ratio table. `references` maps a problem of compare.py that is
/// not in the test set to (resloop's row label, reference values); `replays` go
/// over as SBML files.
fn roadrunner(references: &BTreeMap<String, (String, Vec<f64>)>, replays: &[Replay], rows: &[Row]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/roadrunner");
    let out = std::env::temp_dir().join(format!("resloop-roadrunner-{}.json", std::process::id()));
    let rt: Vec<String> = rtols().iter().map(|r| format!("{r:e}")).collect();
    let jobs_file = out.with_extension("jobs.json");
    let jobs: Vec<serde_json::Value> = replays
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.schedule,
                "sbml": r.sbml,
                "t_end": r.t_end,
                "points": r.n_out,
                "ids": r.columns.iter().map(|c| &c.2).collect::<Vec<_>>(),
                "atol_per_rtol": 1e-3,
            })
        })
        .collect();
    std::fs::write(&jobs_file, serde_json::to_string(&jobs).unwrap()).unwrap();
    let mut problems = vec!["IL6_LOOP"];
    if part("set") {
        problems.extend(TestProblem::ALL.iter().map(|p| p.name()));
    }
    let status = std::process::Command::new("sh")
        .arg(dir.join("setup.sh"))
        .arg("--out")
        .arg(&out)
        .arg("--rtols")
        .arg(rt.join(","))
        .arg("--problems")
        .arg(problems.join(","))
        .arg("--sbml-jobs")
        .arg(&jobs_file)
        .status();
    let _ = std::fs::remove_file(&jobs_file);
    let text = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&out).ok(),
        _ => None,
    };
    let _ = std::fs::remove_file(&out);
    let Some(json) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) else {
        println!("\nlibRoadRunner comparison skipped (benches/roadrunner/setup.sh failed)");
        return;
    };
    println!(
        "\n## libRoadRunner {} (CVODE) on the same problems\n",
        json["roadrunner"].as_str().unwrap_or("?")
    );
    println!("| problem | rtol | libRoadRunner CPU (ms) | its max rel. error | resloop auto, same rtol: CPU (ms) / error | CPU ratio, same rtol | resloop auto at that error (ms) | CPU ratio, equal error | fastest resloop method at that error (ms) | its CPU ratio |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    // Keyed by (problem, method).
    let mut resloop: BTreeMap<(String, String), Vec<RunPoint>> = BTreeMap::new();
    for r in rows {
        resloop
            .entry((r.problem.clone(), r.method.clone()))
            .or_default()
            .push((r.rtol, r.seconds, r.error));
    }
    let Some(problems) = json["problems"].as_object() else {
        return;
    };
    // (problem, rtol, libRoadRunner's error, its seconds) for the per-method table.
    let mut theirs = Vec::new();
    for (name, runs) in problems {
        for run in runs.as_array().into_iter().flatten() {
            let rtol = run["rtol"].as_f64().unwrap_or(f64::NAN);
            let values: Vec<f64> = run["values"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|row| row.as_array().into_iter().flatten())
                .filter_map(|v| v.as_f64())
                .collect();
            let (error, ours_key): (f64, String) =
                match TestProblem::ALL.iter().find(|p| p.name() == name) {
                    Some(p) => (p.max_relative_error(&values), p.name().to_string()),
                    None => match references.get(name) {
                        Some((key, reference)) => (max_rel(&values, reference), key.clone()),
                        None => continue,
                    },
                };
            let runs_of = |method: &str| {
                resloop
                    .get(&(ours_key.clone(), method.to_string()))
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
            };
            let ours = runs_of("auto");
            let same = ours.iter().find(|o| o.0 == rtol);
            let Some(secs) = run["seconds"].as_f64() else {
                println!("| {name} | {rtol:.0e} | failed | | | | | | | |");
                continue;
            };
            theirs.push((ours_key.clone(), rtol, error, secs));
            let fastest = resloop
                .keys()
                .filter(|(p, _)| *p == ours_key)
                .filter_map(|(_, m)| time_at_error(runs_of(m), error).map(|t| (m.clone(), t)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let fastest_cols = fastest.map_or("- | -".into(), |(m, t)| {
                format!("{m} {:.3} | {:.1}x", 1e3 * t, secs / t)
            });
            let same_cols = same.map_or("- | -".into(), |o| {
                format!("{:.3} / {:.1e} | {:.1}x", 1e3 * o.1, o.2, secs / o.1)
            });
            let equal_cols = time_at_error(ours, error).map_or("- | -".into(), |t| {
                format!("{:.3} | {:.1}x", 1e3 * t, secs / t)
            });
            println!(
                "| {name} | {rtol:.0e} | {:.3} | {error:.1e} | {same_cols} | {equal_cols} | {fastest_cols} |",
                1e3 * secs
            );
        }
    }
    // Every method's CPU ratio at libRoadRunner's error (its time over ours).
    let mut methods: Vec<&String> = resloop.keys().map(|(_, m)| m).collect();
    methods.sort();
    methods.dedup();
    println!(
        "\n## CPU ratio at equal error, libRoadRunner / resloop method (- : never that accurate)\n"
    );
    println!(
        "| problem | rtol | libRoadRunner error | {} |",
        methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|---|{}", "---|".repeat(methods.len()));
    for (problem, rtol, error, secs) in theirs {
        let cols: Vec<String> = methods
            .iter()
            .map(|m| {
                resloop
                    .get(&(problem.clone(), m.to_string()))
                    .and_then(|runs| time_at_error(runs, error))
                    .map_or("-".into(), |t| format!("{:.1}x", secs / t))
            })
            .collect();
        println!(
            "| {problem} | {rtol:.0e} | {error:.1e} | {} |",
            cols.join(" | ")
        );
    }
}

/// resloop's CPU time to reach max relative error `target`, interpolated
/// log-log between the two runs (rtol, seconds, error) that bracket it; `None`
/// when no run is that accurate.
fn time_at_error(runs: &[RunPoint], target: f64) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| r.2 > 0.0 && r.2.is_finite())
        .map(|r| (r.2.ln(), r.1.ln()))
        .collect();
    pts.sort_by(|a, b| b.0.total_cmp(&a.0)); // error decreasing
    let x = target.ln();
    if pts.first().is_some_and(|p| x >= p.0) {
        return Some(pts[0].1.exp()); // the loosest run is already that accurate
    }
    pts.windows(2)
        .find(|w| w[0].0 >= x && x >= w[1].0)
        .map(|w| {
            let f = (x - w[0].0) / (w[1].0 - w[0].0);
            (w[0].1 + f * (w[1].1 - w[0].1)).exp()
        })
}

/// Whether part `name` of the tables is wanted (`STIFF_PARTS=set,shipped,rr`;
/// all by default).
fn part(name: &str) -> bool {
    std::env::var("STIFF_PARTS").map_or(true, |v| v.split(',').any(|p| p == name))
}

fn tables() -> Vec<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let mut set = Vec::new();
        if part("set") {
            test_set(&mut set);
            print_rows("Bari test set (final state vs published reference)", &set);
        }
        let m = compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/il6_loop.toml"))
            .unwrap();
        let mut dosed = Vec::new();
        let il6_reference = il6_loop(&m, &mut dosed);
        print_rows(
            "il6_loop: 365 d, 105 escalating boluses, 1000 outputs, atol 1e-12",
            &dosed,
        );
        let mut references = BTreeMap::new();
        references.insert(
            "IL6_LOOP".to_string(),
            ("il6_loop, 105 doses".to_string(), il6_reference.clone()),
        );
        let sbml_dir = std::env::temp_dir().join(format!("resloop-sbml-{}", std::process::id()));
        std::fs::create_dir_all(&sbml_dir).unwrap();
        let replays = if part("replay") {
            replays(&sbml_dir)
        } else {
            Vec::new()
        };
        let mut replayed = Vec::new();
        if !replays.is_empty() {
            shipped_replays(&replays, &mut replayed, &mut references);
            print_rows(
                "Shipped models, fixed-dose replay of the longest schedule (mean field, SBML-exportable)",
                &replayed,
            );
        }
        if part("shipped") {
            let mut shipped = Vec::new();
            shipped_models(&mut shipped);
            print_rows(
                "Shipped models under their longest schedule (therapy driver, assays included)",
                &shipped,
            );
        }
        if part("rr") {
            set.extend(dosed);
            set.extend(replayed);
            roadrunner(&references, &replays, &set);
        }
        let _ = std::fs::remove_dir_all(&sbml_dir);
        il6_reference
    })
}

fn bench(c: &mut Criterion) {
    tables();
    let mut g = c.benchmark_group("stiff");
    g.sample_size(10);
    for p in TestProblem::ALL {
        for method in [Method::Auto, Method::Rodas5p] {
            g.bench_function(format!("{}/{}", p.name(), method.label()), |b| {
                b.iter(|| black_box(run_test_problem(p, method, 1e-6)))
            });
        }
    }
    let m =
        compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/il6_loop.toml")).unwrap();
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    for method in [Method::Auto, Method::Dopri5] {
        g.bench_function(format!("il6_loop_105_doses/{}", method.label()), |b| {
            b.iter(|| black_box(il6_run(&m, &bound, method, 1e-6)))
        });
    }
    g.finish();

    // The iteration matrix of an 11-state loop: factor and solve once.
    let n = 11;
    let a = DMatrix::from_fn(n, n, |i, j| {
        if i == j {
            100.0 + i as f64
        } else {
            ((i * 7 + j * 3) % 5) as f64 - 2.0
        }
    });
    let rhs = nalgebra::DVector::from_fn(n, |i, _| i as f64);
    let mut lu = DenseLu::default();
    lu.resize(n);
    let mut x = vec![0.0; n];
    c.bench_function("lu/dense_lu_11", |b| {
        b.iter(|| {
            lu.matrix_mut().copy_from_slice(a.as_slice());
            assert!(lu.factor());
            x.copy_from_slice(rhs.as_slice());
            lu.solve(&mut x);
            black_box(x[0])
        })
    });
    c.bench_function("lu/nalgebra_lu_11", |b| {
        b.iter(|| {
            let f = a.clone().lu();
            let mut y = rhs.clone();
            assert!(f.solve_mut(&mut y));
            black_box(y[0])
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
