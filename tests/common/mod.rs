//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use resloop::compile::{compile_file, compile_str, BoundModel, CompiledModel};
use resloop::engine::ode::testset::TestProblem;
use resloop::engine::ode::{simulate, Method, OdeOptions, SimResult, SolverStats};
use resloop::pkpd::{DoseEvent, DoseKind};

pub fn model(text: &str) -> CompiledModel {
    compile_str(Path::new("test.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

pub fn run(
    m: &CompiledModel,
    doses: &[DoseEvent],
    t_end: f64,
    n_out: usize,
    method: Method,
    rtol: f64,
    atol: f64,
) -> SimResult {
    let b = BoundModel::new(m, &m.param_values()).unwrap();
    let mut o = OdeOptions::new(t_end);
    o.n_out = n_out;
    o.method = method;
    o.rtol = rtol;
    o.atol = atol;
    simulate(m, &b, doses, &o).unwrap_or_else(|e| panic!("{e}"))
}

pub const METHODS: [Method; 6] = [
    Method::Auto,
    Method::Dopri5,
    Method::Rodas5p,
    Method::Rodas4,
    Method::Rosenbrock23,
    Method::OdeSolversDopri5,
];

/// Header every test model shares.
/// The stiff loop with doses (`benches/il6_loop.toml`): 60 days, a bolus every 3.5
/// days (1 + 0.1 k mg/kg), 200 output intervals, atol 1e-12.
pub fn il6_dosed(method: Method, rtol: f64) -> SimResult {
    let m =
        compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/il6_loop.toml")).unwrap();
    let doses: Vec<DoseEvent> = (0..18)
        .map(|k| DoseEvent {
            time: 3.5 * k as f64,
            drug: 0,
            kind: DoseKind::Bolus {
                mg_per_kg: 1.0 + 0.1 * k as f64,
            },
        })
        .collect();
    run(&m, &doses, 60.0, 200, method, rtol, 1e-12)
}

/// Solve every Bari test problem with `method` at each `(rtol, bound)` of `bounds`
/// (atol the problem's own for that rtol) and require the error at the final time,
/// against the test set's published solution, to be below `bound`; the solver's
/// work per run, in the order of `bounds`, for further checks.
pub fn test_set_runs(
    method: Method,
    bounds: &[(f64, f64)],
) -> Vec<(TestProblem, Vec<SolverStats>)> {
    TestProblem::ALL
        .iter()
        .map(|&p| {
            let stats = bounds
                .iter()
                .map(|&(rtol, bound)| {
                    let mut s = method.solver(rtol, p.atol(rtol));
                    let (mut t, mut y, mut sys) = (0.0, p.initial(), p);
                    s.advance(&mut sys, &mut t, &mut y, p.t_end(), &[], &mut |_, _| {})
                        .unwrap_or_else(|e| panic!("{} rtol {rtol:e}: {e}", p.name()));
                    let e = p.max_relative_error(&y);
                    assert!(
                        e < bound,
                        "{} rtol {rtol:e}: error {e:e} >= {bound:e}",
                        p.name()
                    );
                    s.stats()
                })
                .collect();
            (p, stats)
        })
        .collect()
}

/// Largest relative error of `got` over entries of `want` at least 1e-12 in size.
pub fn worst_rel(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .filter(|(_, w)| w.abs() >= 1e-12)
        .map(|(g, w)| ((g - w) / w).abs())
        .fold(0.0, f64::max)
}

pub fn header(time_unit: &str) -> String {
    format!("[model]\nname = \"t\"\ntitle = \"test\"\ntime_unit = \"{time_unit}\"\ndescription = \"test model\"\n\n")
}

/// Constant per-cell rates per day: parental division `b` and death `d`; a mutant
/// reached with probability `u` per parental division, dividing at `bm` and dying at
/// `dm`; `initial_cells` cells. The analytic cases of the stochastic engines.
pub fn birth_death(b: f64, d: f64, u: f64, bm: f64, dm: f64, initial_cells: f64) -> CompiledModel {
    model(&format!(
        r#"
[model]
name = "birth_death"
title = "Linear birth-death with a mutant genotype"
time_unit = "days"
description = "constant rates"

[species.x]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"

[parameters.b]
value = {b}
unit = "1/day"
provenance = "assumed"
note = "division"
[parameters.d]
value = {d}
unit = "1/day"
provenance = "assumed"
note = "death"

[fate]
division = "b"
death = "d"
initial_cells = {initial_cells}

[genotypes.mutant]
mutation_probability = {u}
description = "its own rates"
[genotypes.mutant.overrides]
b = {bm}
d = {dm}
"#
    ))
}

/// P(no resistant lineage ever survives) for one sensitive cell under therapy
/// (division `b` < death `d`), whose divisions give a resistant daughter with
/// probability `u`; resistant lineages (division `bm` > death `dm`) survive with
/// probability `1 - dm / bm`. The smaller root of
/// `b (1 - u) f^2 - (b + d - b u (1 - ps)) f + d = 0`; for `n0` cells, its `n0`-th power.
///
/// ## References
/// - Bozic, I. et al. (2013). Evolutionary dynamics of cancer in response to targeted
///   combination therapy. eLife 2, e00747 (the one-mutation form of its branching
///   process).
pub fn cure_one_cell(b: f64, d: f64, u: f64, bm: f64, dm: f64) -> f64 {
    let ps = 1.0 - dm / bm;
    let (qa, qb, qc) = (b * (1.0 - u), -(b + d - b * u * (1.0 - ps)), d);
    (-qb - (qb * qb - 4.0 * qa * qc).sqrt()) / (2.0 * qa)
}
