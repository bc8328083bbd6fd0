//! ODE engine benchmarks.
//!
//! - `rhs/hill10`: one right-hand-side evaluation of the 10-species Hill loop
//!   (population system, its program as native code, the default); `rhs/hill10/
//!   interpreted` the same with the register program.
//! - `jacobian/hill10`: one exact Jacobian of the same system (symbolic derivative
//!   blocks, native code); `jacobian/hill10/interpreted` with the register program.
//! - `year_105_doses/*`: 365 days, a 50 mg/kg bolus every 3.5 days (105 doses),
//!   1000 output points, rtol 1e-6, per method. The accuracy of the same run
//!   against an rtol 1e-10 solve is checked by `tests/bench_model.rs`.
//!
//! Each method's work counters (accepted and rejected steps, right-hand-side
//! evaluations) are printed before it is timed: they do not depend on the machine's
//! load, so a change in time can be told from noise.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use resloop::compile::{compile_file, BoundModel, Evaluation};
use resloop::engine::ode::{simulate, Method, OdeOptions, OdeSystem, PopulationSystem};
use resloop::pkpd::{DoseEvent, DoseKind};

fn bench(c: &mut Criterion) {
    let m =
        compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hill10.toml")).unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();

    let interpreted =
        BoundModel::with_evaluation(&m, &m.param_values(), Evaluation::Interpreted).unwrap();
    let mut sys = PopulationSystem::new(&m, &b, m.carrying_capacity, 1e-3);
    let mut sys_i = PopulationSystem::new(&m, &interpreted, m.carrying_capacity, 1e-3);
    let y = sys.initial_state(1e6);
    let mut dy = vec![0.0; y.len()];
    println!(
        "rhs/hill10: {} register instructions in {} blocks per evaluation",
        b.genotypes[0].rhs.n_ops(),
        b.genotypes[0].rhs.n_blocks()
    );
    c.bench_function("rhs/hill10", |bch| {
        bch.iter(|| sys.rhs(std::hint::black_box(1.0), &y, &mut dy))
    });
    c.bench_function("rhs/hill10/interpreted", |bch| {
        bch.iter(|| sys_i.rhs(std::hint::black_box(1.0), &y, &mut dy))
    });
    println!(
        "jacobian/hill10: {} register instructions in {} blocks per evaluation",
        b.genotypes[0].jacobian.n_ops(),
        b.genotypes[0].jacobian.n_blocks()
    );
    let mut jac = nalgebra::DMatrix::zeros(y.len(), y.len());
    c.bench_function("jacobian/hill10", |bch| {
        bch.iter(|| sys.jacobian(std::hint::black_box(1.0), &y, &mut jac))
    });
    c.bench_function("jacobian/hill10/interpreted", |bch| {
        bch.iter(|| sys_i.jacobian(std::hint::black_box(1.0), &y, &mut jac))
    });

    let doses: Vec<DoseEvent> = (0..105)
        .map(|k| DoseEvent {
            time: 3.5 * k as f64,
            drug: 0,
            kind: DoseKind::Bolus { mg_per_kg: 50.0 },
        })
        .collect();
    for method in [
        Method::Auto,
        Method::Dopri5,
        Method::Rodas5p,
        Method::OdeSolversDopri5,
        Method::Rosenbrock23,
    ] {
        let mut o = OdeOptions::new(365.0);
        o.n_out = 1000;
        o.method = method;
        o.rtol = 1e-6;
        o.atol = 1e-9;
        let st = simulate(&m, &b, &doses, &o).unwrap().stats;
        println!(
            "year_105_doses/{}: {} steps accepted, {} rejected, {} RHS evaluations, {} Jacobians",
            method.label(),
            st.accepted,
            st.rejected,
            st.rhs_evals,
            st.jacobian_evals
        );
        c.bench_function(&format!("year_105_doses/{}", method.label()), |bch| {
            bch.iter(|| simulate(&m, &b, &doses, &o).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
