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
//! 4. The same problems of 1 and 2 through libRoadRunner 2.10 (CVODE) in the same
//!    run, by `benches/roadrunner/setup.sh` (which makes its own venv), scored here
//!    with the same error function, and the CPU ratio at each rtol.
//!
//! Then criterion times a few cases at rtol 1e-6 and the LU factorisation.
//! `STIFF_QUICK=1` runs fewer tolerances; `STIFF_PARTS=set,shipped,rr` picks parts
//! (the il6 loop always runs: it is the reference of part 4).

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
use resloop::schedule::Schedule;
use resloop::therapy::{self, TherapyOptions};

const METHODS: [Method; 5] = [
    Method::Auto,
    Method::Rodas5p,
    Method::Radau5,
    Method::Rodas4,
    Method::Rosenbrock23,
];

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

/// CPU time of the calling thread, in seconds. Timings are CPU, not wall, time: on a
/// machine shared with other builds a run of tens of milliseconds is preempted and
/// its wall time inflated several-fold while a sub-millisecond run is not, which
/// skewed ratios between long and short runs; `benches/roadrunner/compare.py` times
/// libRoadRunner the same way (`time.thread_time`).
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a Linux constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + 1e-9 * ts.tv_nsec as f64
}

/// Best CPU time of `f` over repeated runs (at least 3, until 0.3 s in total).
fn best_of<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let (mut best, mut total, mut reps) = (f64::INFINITY, 0.0, 0);
    let mut last = None;
    while reps < 3 || (total < 0.3 && reps < 200) {
        let t = thread_cpu_seconds();
        let r = f();
        let s = thread_cpu_seconds() - t;
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
        for method in METHODS {
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
    for method in [
        Method::Auto,
        Method::Rodas5p,
        Method::Radau5,
        Method::Rodas4,
        Method::Dopri5,
        Method::Rosenbrock23,
    ] {
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

fn shipped_models(rows: &mut Vec<Row>) {
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
    for path in models {
        let m = compile_file(&path).unwrap();
        let Some(s) = longest_schedule(&root, &m) else {
            continue;
        };
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

/// One resloop run for the ratio table: (rtol, seconds, max relative error).
type Run = (f64, f64, f64);

/// Run the libRoadRunner side; its rows and resloop's best time per (problem,
/// rtol) give the ratio table.
fn roadrunner(il6_reference: &[f64], rows: &[Row]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/roadrunner");
    let out = std::env::temp_dir().join(format!("resloop-roadrunner-{}.json", std::process::id()));
    let rt: Vec<String> = rtols().iter().map(|r| format!("{r:e}")).collect();
    let status = std::process::Command::new("sh")
        .arg(dir.join("setup.sh"))
        .arg("--out")
        .arg(&out)
        .arg("--rtols")
        .arg(rt.join(","))
        .status();
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
    let mut resloop: BTreeMap<(String, String), Vec<Run>> = BTreeMap::new();
    for r in rows {
        resloop
            .entry((r.problem.clone(), r.method.clone()))
            .or_default()
            .push((r.rtol, r.seconds, r.error));
    }
    let Some(problems) = json["problems"].as_object() else {
        return;
    };
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
                    None => (
                        max_rel(&values, il6_reference),
                        "il6_loop, 105 doses".into(),
                    ),
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
}

/// resloop's CPU time to reach max relative error `target`, interpolated
/// log-log between the two runs (rtol, seconds, error) that bracket it; `None`
/// when no run is that accurate.
fn time_at_error(runs: &[Run], target: f64) -> Option<f64> {
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
            roadrunner(&il6_reference, &set);
        }
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
