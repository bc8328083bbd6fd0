//! Therapy runs on the teaching model: the shipped 12-month adaptive escalation in
//! ODE mode with its monthly IC50 readouts (the issue's target: <= 0.5 s), the same
//! run without readouts (the driver alone), and one IC50 readout (a 72 h
//! dose-response of every tested concentration, wells in parallel); and the hybrid
//! engine's replicates on loop A in vivo (the issue's target: 1,000 replicates of
//! 180 days from 10^9 cells in under a minute on 2 cores); and the hybrid engine's
//! exact birth-death events on one core (the issue's target: >= 8e7 events/s),
//! printed per CPU second beside a bare direct-method loop on the same process.

mod common;

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use resloop::assay::{default_range, dose_response, log_doses, points_for, AssaySettings};
use resloop::compile::{compile_file, BoundModel};
use resloop::engine::ode::OdeRun;
use resloop::schedule::Schedule;
use resloop::therapy::{self, TherapyOptions};

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let m = compile_file(&root.join("minimal_loop.toml")).unwrap();
    let s = Schedule::load(&root.join("schedules/minimal_loop_adaptive.toml"), &m).unwrap();
    let opts = TherapyOptions::default();
    let mut g = c.benchmark_group("therapy");
    g.sample_size(20);
    g.bench_function("adaptive_52w_with_monthly_ic50", |b| {
        b.iter(|| black_box(therapy::run(&m, &s, &opts).unwrap()))
    });
    let mut quiet = s.clone();
    quiet.ic50_every = None;
    quiet.resistance.ic50_fold = None;
    quiet.arms[0].regimen = match quiet.arms[0].regimen.clone() {
        resloop::schedule::Regimen::Adaptive(mut r) => {
            r.start = resloop::schedule::AdaptiveStart::Concentration(0.005);
            resloop::schedule::Regimen::Adaptive(r)
        }
        other => other,
    };
    g.bench_function("adaptive_52w_no_assays", |b| {
        b.iter(|| black_box(therapy::run(&m, &quiet, &opts).unwrap()))
    });
    let bound = BoundModel::new(&m, &m.param_values()).unwrap();
    let y = OdeRun::initial_state(&m, &bound, 1e6);
    let (lo, hi) = default_range(&m, &bound, 0);
    let doses = log_doses(lo, hi, points_for(lo, hi)).unwrap();
    let settings = AssaySettings::standard(&m);
    g.bench_function("one_ic50_readout", |b| {
        b.iter(|| {
            black_box(dose_response(&m, &bound, &y, &[0.0, 0.0], 0, &doses, &settings).unwrap())
        })
    });
    g.finish();

    // Loop A in vivo: ceritinib 50 mg/kg daily from 10^9 cells for 180 days, no
    // stop at a burden, hybrid engine, 1,000 replicates on every core.
    let a = compile_file(&root.join("mir34a_axl.toml")).unwrap();
    let mut x = Schedule::load(&root.join("schedules/mir34a_axl_xenograft.toml"), &a).unwrap();
    x.initial_cells = Some(1e9);
    x.duration = 180.0 * 24.0 / x.hours_per_unit;
    x.stop.max_cells = None;
    let hybrid = TherapyOptions {
        engine: resloop::engine::EngineKind::Hybrid,
        ..TherapyOptions::default()
    };
    let mut g = c.benchmark_group("hybrid");
    g.sample_size(10);
    // Exact events alone: a critical birth-death clone (b = d = 1/day) of about 500
    // cells kept small (no promotion) for 100 days, about 1e5 events per run; the
    // bench prints the event rate once.
    let bd = resloop::compile::compile_str(
        Path::new("bd.toml"),
        r#"
[model]
name = "bd"
title = "critical birth-death"
time_unit = "days"
description = "b = d"
[species.x]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"
[fate]
division = "1"
death = "1"
initial_cells = 500
"#,
    )
    .unwrap();
    let bd_bound = BoundModel::new(&bd, &bd.param_values()).unwrap();
    let small_only = resloop::engine::population::Mode::Hybrid {
        settings: resloop::engine::population::HybridSettings {
            promote_at: 1e12,
            demote_below: 1e11,
            ..Default::default()
        },
        seed: 1,
        replicate: 0,
    };
    let events_run = || {
        use resloop::engine::Engine;
        let y0 = OdeRun::initial_state(&bd, &bd_bound, 500.0);
        let settings = resloop::engine::ode::RunSettings::default();
        let mut e = resloop::engine::population::PopulationEngine::new(
            &bd, &bd_bound, &settings, &y0, 0.0, small_only,
        )
        .unwrap();
        e.advance_to(100.0, &[]).unwrap();
        let c = e.counters().unwrap();
        c.divisions[0] + c.deaths[0]
    };
    // Events per CPU second over about a second of runs, beside the same process by a
    // bare Gillespie direct-method loop (one clone, rebop's kind of inner loop) with
    // the two ways of drawing the waiting time: the like-with-like reference on this
    // machine, measured in the same run.
    // CPU time of this thread (see `common`): the machine is shared.
    let rate = |run: &dyn Fn(u64) -> f64| -> f64 {
        let (mut events, mut rep) = (0.0, 0);
        let t0 = common::thread_cpu_seconds();
        while common::thread_cpu_seconds() - t0 < 1.0 {
            events += run(rep);
            rep += 1;
        }
        events / (common::thread_cpu_seconds() - t0)
    };
    let direct = |log: bool| {
        move |rep: u64| -> f64 {
            use resloop::engine::agent::rng::{Exponentials, Stream};
            let mut rng = Stream::derive(2, &[rep]);
            let mut exp = Exponentials::derive(2, &[rep, 1]);
            let (b, d, t_end) = (1.0, 1.0, 100.0);
            let (mut n, mut t, mut events) = (500.0f64, 0.0, 0.0);
            while n > 0.0 {
                let total = n * (b + d);
                let e = if log {
                    -rng.uniform_open0().ln()
                } else {
                    exp.next_exp()
                };
                t += e / total;
                if t >= t_end {
                    break;
                }
                n += if rng.uniform() * total < n * b {
                    1.0
                } else {
                    -1.0
                };
                events += 1.0;
            }
            black_box(events)
        }
    };
    println!(
        "hybrid exact events: {:.3e} events/s (one core); bare direct method on the \
         same process: {:.3e} events/s with -ln(U) waiting times, {:.3e} with the \
         ziggurat",
        rate(&|_| events_run()),
        rate(&direct(true)),
        rate(&direct(false)),
    );
    g.bench_function("exact_birth_death_events_500_cells_100d", |b| {
        b.iter(|| black_box(events_run()))
    });
    g.bench_function("loop_a_in_vivo_180d_1e9_cells_1000_replicates", |b| {
        b.iter(|| black_box(therapy::run_replicates(&a, &x, &hybrid, 1000).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
