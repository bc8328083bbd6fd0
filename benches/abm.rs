//! Agent-based engine benchmarks.
//!
//! - `abm/per_cell_hill8`: per-cell updates (8-species Hill-type ring loop, hazards,
//!   RNG, fate) on one core; throughput = cell-updates.
//! - `abm/aggregated_bdm`: birth-death-mutation as lumped clones; throughput = expected
//!   division + death events.
//! - With `ABM_LONG=1`: one timed run of 1e6 cells carrying the loop for 180 days at 1 h
//!   steps (printed, not a criterion sample: it takes tens of seconds).
//!
//! Memory per cell is printed from the storage layout (`bytes_per_cell`).

use std::time::Instant;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use resloop::abm::engine::BLOCK;
use resloop::abm::{
    bytes_per_cell, AbmOptions, CellModel, ConstantExposure, ConstantRates, Founders, NoProgress,
    Simulation, States, StatesMut, StepContext,
};

const NS: usize = 8;

/// Ring of 8 species, each repressed by the previous one through a Hill function
/// (coefficient 2); species 0 promotes division, species 3 protects from the drug.
struct Ring8;

impl CellModel for Ring8 {
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
    fn advance(&self, ctx: &StepContext<'_>, st: &mut StatesMut<'_>, _s: &mut [f64]) {
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
    }
    fn hazards(
        &self,
        ctx: &StepContext<'_>,
        st: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        _s: &mut [f64],
    ) {
        let c = ctx.drugs[0];
        for ((d, x0), x3) in div.iter_mut().zip(st.species(0)).zip(st.species(3)) {
            let x0 = *x0 as f64;
            *d = 0.04 * x0 / (0.5 + x0);
            let _ = x3;
        }
        for (m, x3) in death.iter_mut().zip(st.species(3)) {
            let protect = 1.0 + 4.0 * *x3 as f64;
            *m = 0.01 + 0.02 * c / (c + protect);
        }
    }
    fn mutations(&self, _g: usize) -> &[(usize, f64)] {
        &[]
    }
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
    g.bench_function("per_cell_hill8", |b| {
        // Setup (seeding the founders) is outside the timed routine.
        b.iter_batched(
            || {
                Simulation::new(
                    &Ring8,
                    &[Founders {
                        genotype: 0,
                        count: n,
                    }],
                    o.clone(),
                    1,
                    0,
                )
                .expect("valid")
            },
            |mut sim| {
                sim.advance_to(steps as f64, &exposure, &NoProgress)
                    .expect("runs");
                sim.population()
            },
            BatchSize::LargeInput,
        )
    });
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
fn long_run() {
    let n = 1_000_000u64;
    let mut o = AbmOptions::per_cell(1.0);
    o.record_every = 24.0;
    o.record_clones = false;
    // Drug-free with a carrying capacity of 2e6, so the population stays near 1e6.
    o.carrying_capacity = Some(2e6);
    o.parallel_cells = std::env::var("ABM_LONG_PARALLEL").is_ok_and(|v| v == "1");
    let start = Instant::now();
    let mut sim = Simulation::new(
        &Ring8,
        &[Founders {
            genotype: 0,
            count: n,
        }],
        o,
        3,
        0,
    )
    .expect("valid");
    sim.advance_to(180.0 * 24.0, &ConstantExposure(vec![0.0]), &NoProgress)
        .expect("runs");
    let secs = start.elapsed().as_secs_f64();
    let r = sim.finish();
    eprintln!(
        "long run: 1e6 cells x 4320 steps of 1 h: {:.1} s, {} cell-updates ({:.3e} per s), final population {}",
        secs,
        r.cell_steps,
        r.cell_steps as f64 / secs,
        r.timeline.last().map_or(0, |x| x.total)
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
    if std::env::var("ABM_LONG").is_ok_and(|v| v == "1") {
        long_run();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
