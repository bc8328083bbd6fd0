//! Therapy runs on the teaching model: the shipped 12-month adaptive escalation in
//! ODE mode with its monthly IC50 readouts (the target: <= 0.5 s), the same
//! run without readouts (the driver alone), and one IC50 readout (a 72 h
//! dose-response of every tested concentration, wells in parallel); and the hybrid
//! engine's replicates on loop A in vivo (the target: 1,000 replicates of
//! 180 days from 10^9 cells in under a minute on 2 cores).

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
    g.bench_function("loop_a_in_vivo_180d_1e9_cells_1000_replicates", |b| {
        b.iter(|| black_box(therapy::run_replicates(&a, &x, &hybrid, 1000).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
