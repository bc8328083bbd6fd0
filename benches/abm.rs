//! Agent-based engine benchmarks.
//!
//! - `abm/per_cell_hill8`: per-cell updates (8-species Hill-type ring loop, hazards,
//!   RNG, fate) on one core; throughput = cell-updates.
//! - `abm/per_cell_compiled8_heun`, `_euler`: the same kind of loop as a model file
//!   through the compiled-model path (what `resloop abm` runs).
//! - `abm/per_cell_bdm_events`: birth-death-mutation with individual cells;
//!   throughput = expected division + death events.
//! - `abm/aggregated_bdm`: birth-death-mutation as lumped clones; throughput = expected
//!   division + death events.
//! - With `ABM_FIXED=ring8|euler|heun`: one fixed per-cell workload, for counting CPU
//!   time with `perf stat -e task-clock` when wall-clock samples are unreliable.
//! - With `ABM_LONG=1`: one timed run of 1e6 cells carrying the loop for 180 days at 1 h
//!   steps (printed, not a criterion sample: it takes tens of seconds).
//!
//! Memory per cell is printed from the storage layout (`bytes_per_cell`).

use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use resloop::abm::{
    bytes_per_cell, AbmOptions, CellModel, CompiledCells, ConstantExposure, ConstantRates,
    Founders, Integrator, LoopIntegration, NoProgress, Simulation, StateError, States, StatesMut,
    StepContext,
};
use resloop::compile::{compile_str, BoundModel};
use resloop::engine::agent::simulation::BLOCK;

const NS: usize = 8;

/// Ring of 8 species, each repressed by the previous one through a Hill function
/// (coefficient 2); species 0 promotes division, species 3 protects from the drug.
struct Ring8;

impl CellModel for Ring8 {
    type Scratch = ();
    fn scratch(&self, _batch: usize) {}
    fn n_species(&self) -> usize {
        NS
    }
    fn n_genotypes(&self) -> usize {
        1
    }
    fn n_drugs(&self) -> usize {
        1
    }
    fn initial_state(&self, _g: usize, out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = 0.5 + 0.1 * i as f64;
        }
    }
    fn advance(
        &self,
        ctx: &StepContext<'_>,
        st: &mut StatesMut<'_>,
        _s: &mut (),
    ) -> Result<(), StateError> {
        let dt = ctx.dt as f32;
        let n = st.len();
        let (synth, k2, gamma) = (0.2f32, 0.25f32, 0.2f32);
        let update = |x: &mut f32, p: f32| {
            let rep = k2 / (k2 + p * p);
            *x += dt * (synth * rep - gamma * *x);
        };
        // Species 0 is repressed by species 7; keep the old species 0 for species 1,
        // then update 7, 6, ..., 2 from still-old predecessors (explicit Euler).
        let mut old0 = [0.0f32; BLOCK];
        old0[..n].copy_from_slice(st.species(0));
        {
            let (p, x) = st.pair_mut(NS - 1, 0);
            x.iter_mut().zip(p).for_each(|(x, &p)| update(x, p));
        }
        for s in (2..NS).rev() {
            let (p, x) = st.pair_mut(s - 1, s);
            x.iter_mut().zip(p).for_each(|(x, &p)| update(x, p));
        }
        st.species_mut(1)
            .iter_mut()
            .zip(&old0[..n])
            .for_each(|(x, &p)| update(x, p));
        Ok(())
    }
    fn hazards(
        &self,
        ctx: &StepContext<'_>,
        st: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        _s: &mut (),
    ) {
        // In `f32` like the loop (vectorises), widened to the engine's `f64`.
        let c = ctx.drugs[0] as f32;
        for (d, &x0) in div.iter_mut().zip(st.species(0)) {
            *d = (0.04 * x0 / (0.5 + x0)) as f64;
        }
        for (m, &x3) in death.iter_mut().zip(st.species(3)) {
            let protect = 1.0 + 4.0 * x3;
            *m = (0.01 + 0.02 * c / (c + protect)) as f64;
        }
    }
    fn mutations(&self, _g: usize) -> &[(usize, f64)] {
        &[]
    }
}

/// The same kind of loop as a model file, run through the compiled-model path
/// (batch-evaluated register programs) as `resloop abm` runs it.
const LOOP8: &str = r#"
[model]
name = "loop8"
title = "8-species Hill ring with a drug and a fate map (benchmark)"
time_unit = "hours"
description = "X1 -> X2 -> ... -> X8 -| X1 through Hill terms; the drug blocks X1 synthesis; X4 drives division, X6 protects from drug-induced death."

[species.X1]
initial = 0.35
unit = "a.u."
description = "stage 1"
rate = "k_syn * (1 - blk) * hill_rep(X8, K, n) + b0 - k_deg * X1"
[species.X2]
initial = 0.40
unit = "a.u."
description = "stage 2"
rate = "k_syn * hill(X1, K, n) + b0 - k_deg * X2"
[species.X3]
initial = 0.45
unit = "a.u."
description = "stage 3"
rate = "k_syn * hill(X2, K, n) + b0 - k_deg * X3"
[species.X4]
initial = 0.50
unit = "a.u."
description = "stage 4"
rate = "k_syn * hill(X3, K, n) + b0 - k_deg * X4"
[species.X5]
initial = 0.55
unit = "a.u."
description = "stage 5"
rate = "k_syn * hill(X4, K, n) + b0 - k_deg * X5"
[species.X6]
initial = 0.60
unit = "a.u."
description = "stage 6"
rate = "k_syn * hill(X5, K, n) + b0 - k_deg * X6"
[species.X7]
initial = 0.65
unit = "a.u."
description = "stage 7"
rate = "k_syn * hill(X6, K, n) + b0 - k_deg * X7"
[species.X8]
initial = 0.70
unit = "a.u."
description = "stage 8"
rate = "k_syn * hill(X7, K, n) + b0 - k_deg * X8"

[parameters.k_syn]
value = 0.3
unit = "1/h"
provenance = "assumed"
note = "benchmark value"
[parameters.k_deg]
value = 0.2
unit = "1/h"
provenance = "assumed"
note = "benchmark value"
[parameters.K]
value = 0.5
unit = "a.u."
provenance = "assumed"
note = "benchmark value"
[parameters.n]
value = 2.0
unit = "1"
provenance = "assumed"
note = "benchmark value"
[parameters.b0]
value = 0.01
unit = "1/h"
provenance = "assumed"
note = "benchmark value"
[parameters.r_div]
value = 0.04
unit = "1/h"
provenance = "assumed"
note = "benchmark value"
[parameters.r_death]
value = 0.01
unit = "1/h"
provenance = "assumed"
note = "benchmark value"
[parameters.k_kill]
value = 0.03
unit = "1/h"
provenance = "assumed"
note = "benchmark value"

[drugs.tki]
unit = "uM"
description = "drug"
target = "X1 synthesis"
[drugs.tki.effects.blk]
ic50 = 0.1
hill = 1.5

[fate]
division = "r_div * X4 / (0.5 + X4)"
death = "r_death + k_kill * blk * hill_rep(X6, 0.5, 2)"
carrying_capacity = 2.0e6

[genotypes.mutant]
mutation_probability = 1.0e-6
description = "weaker feedback"
[genotypes.mutant.overrides]
K = 0.8
"#;

fn loop8(method: Integrator) -> CompiledCells {
    let m = compile_str(Path::new("loop8.toml"), LOOP8).expect("bench model compiles");
    let b = BoundModel::new(&m, &m.param_values()).expect("binds");
    CompiledCells::new(
        &m,
        &b,
        LoopIntegration {
            method,
            substeps: 1,
        },
    )
    .expect("builds")
}

fn per_cell(c: &mut Criterion) {
    let n = 200_000u64;
    let steps = 10;
    let mut o = AbmOptions::per_cell(1.0);
    o.record_every = 1e9;
    o.record_clones = false;
    o.carrying_capacity = Some(4e5);
    let exposure = ConstantExposure(vec![1.0]);
    let mut g = c.benchmark_group("abm");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n * steps));
    fn bench_model<M: CellModel>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        model: &M,
        n: u64,
        steps: u64,
        o: &AbmOptions,
        exposure: &ConstantExposure,
    ) {
        g.bench_function(name, |b| {
            // Setup (seeding the founders, then two warm-up steps that size the
            // per-worker scratch and the newborn buffers) is outside the timed routine,
            // which measures the steady state: `steps` more steps.
            let warm = 2.0 * o.dt;
            b.iter_batched(
                || {
                    let mut sim = Simulation::new(
                        model,
                        &[Founders {
                            genotype: 0,
                            count: n,
                        }],
                        o.clone(),
                        1,
                        0,
                    )
                    .expect("valid");
                    sim.advance_to(warm, exposure, &NoProgress).expect("runs");
                    sim
                },
                |mut sim| {
                    sim.advance_to(warm + steps as f64 * o.dt, exposure, &NoProgress)
                        .expect("runs");
                    sim.population()
                },
                BatchSize::LargeInput,
            )
        });
    }
    bench_model(&mut g, "per_cell_hill8", &Ring8, n, steps, &o, &exposure);
    let heun = loop8(Integrator::Heun);
    let euler = loop8(Integrator::Euler);
    eprintln!(
        "loop8 lane/uniform ops: rates {:?}, fate {:?}",
        heun.op_counts(0).0,
        heun.op_counts(0).1
    );
    bench_model(
        &mut g,
        "per_cell_compiled8_heun",
        &heun,
        n,
        steps,
        &o,
        &exposure,
    );
    bench_model(
        &mut g,
        "per_cell_compiled8_euler",
        &euler,
        n,
        steps,
        &o,
        &exposure,
    );
    // Birth-death-mutation per cell at the critical point (b = d = 1, u = 1e-3), 2e5
    // cells for 2 time units (4 steps of dt = 0.5; the step law is exact for constant
    // hazards at any dt): expected division + death events = (b + d) N T = 8e5.
    let bdm = ConstantRates::with_mutant(1.0, 1.0, 1e-3);
    let mut pc = AbmOptions::per_cell(0.5);
    pc.record_every = 1e9;
    pc.record_clones = false;
    g.throughput(Throughput::Elements(8e5 as u64));
    bench_model(
        &mut g,
        "per_cell_bdm_events",
        &bdm,
        n,
        4,
        &pc,
        &ConstantExposure::default(),
    );
    // Birth-death-mutation at the critical point (b = d), 1e9 cells: expected events
    // per iteration = (b + d) N T.
    let model = ConstantRates::with_mutant(1.0, 1.0, 1e-7);
    let (n0, t_end) = (1_000_000_000u64, 2.0);
    let events = (2.0 * n0 as f64 * t_end) as u64;
    let mut agg = AbmOptions::aggregated(0.05);
    agg.record_every = 1e9;
    agg.record_clones = false;
    g.throughput(Throughput::Elements(events));
    g.bench_function("aggregated_bdm", |b| {
        b.iter(|| {
            let mut sim = Simulation::new(
                &model,
                &[Founders {
                    genotype: 0,
                    count: n0,
                }],
                agg.clone(),
                2,
                0,
            )
            .expect("valid");
            sim.advance_to(t_end, &ConstantExposure::default(), &NoProgress)
                .expect("runs");
            sim.population()
        })
    });
    g.finish();
}

/// 1e6 cells, 8-species loop, 180 days at 1 h steps, one core unless
/// `ABM_LONG_PARALLEL=1`.
fn long_run<M: CellModel>(name: &str, model: &M) {
    let n = 1_000_000u64;
    let mut o = AbmOptions::per_cell(1.0);
    o.record_every = 24.0;
    o.record_clones = false;
    // Drug-free with a carrying capacity of 2e6, so the population stays near 1e6.
    o.carrying_capacity = Some(2e6);
    o.parallel_cells = std::env::var("ABM_LONG_PARALLEL").is_ok_and(|v| v == "1");
    let start = Instant::now();
    let mut sim = Simulation::new(
        model,
        &[Founders {
            genotype: 0,
            count: n,
        }],
        o,
        3,
        0,
    )
    .expect("valid");
    // `ABM_LONG_DAYS` shortens the run, e.g. for profiling.
    let days: f64 = std::env::var("ABM_LONG_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(180.0);
    sim.advance_to(days * 24.0, &ConstantExposure(vec![0.0]), &NoProgress)
        .expect("runs");
    let secs = start.elapsed().as_secs_f64();
    let r = sim.finish();
    eprintln!(
        "long run ({name}): 1e6 cells x {} steps of 1 h: {:.1} s, {} cell-updates ({:.3e} per s), final population {}",
        (days * 24.0).round(),
        secs,
        r.cell_steps,
        r.cell_steps as f64 / secs,
        r.timeline.last().map_or(0, |x| x.total)
    );
}

/// A fixed workload (2e5 cells x 20 steps of the per-cell benchmark) run once, for
/// counting CPU cycles with `perf stat` on a loaded machine, where wall-clock samples
/// are unreliable: `ABM_FIXED=ring8|heun|euler perf stat -e cycles:u target/release/deps/abm-*`.
fn fixed_workload<M: CellModel>(name: &str, model: &M) {
    let n: u64 = std::env::var("ABM_FIXED_CELLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let steps: u64 = std::env::var("ABM_FIXED_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut o = AbmOptions::per_cell(1.0);
    o.record_every = 1e9;
    o.record_clones = false;
    o.carrying_capacity = Some(2.0 * n as f64);
    let mut sim = Simulation::new(
        model,
        &[Founders {
            genotype: 0,
            count: n,
        }],
        o,
        1,
        0,
    )
    .expect("valid");
    let start = Instant::now();
    sim.advance_to(steps as f64, &ConstantExposure(vec![1.0]), &NoProgress)
        .expect("runs");
    let r = sim.finish();
    eprintln!(
        "fixed workload ({name}): {} cell-updates in {:.3} s wall",
        r.cell_steps,
        start.elapsed().as_secs_f64()
    );
}

criterion_group!(benches, per_cell);

fn main() {
    eprintln!(
        "memory: {} bytes per cell with {} species ({} + 4 per species); target <= {}",
        bytes_per_cell(NS),
        NS,
        bytes_per_cell(0),
        64 + 8 * NS
    );
    if let Ok(which) = std::env::var("ABM_FIXED") {
        match which.as_str() {
            "ring8" => fixed_workload("hand-written ring8", &Ring8),
            "euler" => fixed_workload("compiled loop8, Euler", &loop8(Integrator::Euler)),
            _ => fixed_workload("compiled loop8, Heun", &loop8(Integrator::Heun)),
        }
        return;
    }
    if std::env::var("ABM_LONG").is_ok_and(|v| v == "1") {
        match std::env::var("ABM_LONG_MODEL").as_deref() {
            Ok("ring8") => long_run("hand-written ring8", &Ring8),
            Ok("euler") => long_run("compiled loop8, Euler", &loop8(Integrator::Euler)),
            _ => long_run("compiled loop8, Heun", &loop8(Integrator::Heun)),
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
