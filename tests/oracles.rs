//! Analytic oracles: the engine against closed-form solutions.

mod common;

use common::*;
use resloop::engine::ode::Method;
use resloop::pkpd::{DoseEvent, DoseKind};

fn max_rel_err(got: &[f64], want: impl Fn(usize) -> f64) -> f64 {
    got.iter()
        .enumerate()
        .map(|(i, g)| ((g - want(i)) / want(i).abs().max(1e-300)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn exponential_decay() {
    let m = model(
        &(header("hours")
            + r#"
[species.A]
initial = 5.0
unit = "uM"
description = "decaying"
rate = "-k * A"
[parameters.k]
value = 0.3
unit = "1/h"
provenance = "assumed"
note = "test"
[fate]
division = "0"
death = "0"
"#),
    );
    for method in METHODS {
        let r = run(&m, &[], 20.0, 40, method, 1e-10, 1e-12);
        let tl = &r.timeline;
        let a = tl.series(tl.column("parental", "A").unwrap());
        let err = max_rel_err(&a, |i| 5.0 * (-0.3 * tl.times[i]).exp());
        let tol = if method == Method::Rosenbrock23 {
            1e-6
        } else {
            1e-8
        };
        assert!(err < tol, "{method:?}: max relative error {err:e}");
    }
}

#[test]
fn logistic_growth() {
    let m = model(
        &(header("days")
            + r#"
[parameters.r]
value = 0.7
unit = "1/d"
provenance = "assumed"
note = "test"
[fate]
division = "r"
death = "0"
initial_cells = 1000.0
carrying_capacity = 1.0e6
"#),
    );
    for method in METHODS {
        let r = run(&m, &[], 25.0, 50, method, 1e-10, 1e-8);
        let tl = &r.timeline;
        let n = tl.series(tl.column("total", "cells").unwrap());
        let (k, n0, rate) = (1e6, 1000.0, 0.7);
        let err = max_rel_err(&n, |i| {
            k / (1.0 + (k / n0 - 1.0) * (-rate * tl.times[i]).exp())
        });
        let tol = if method == Method::Rosenbrock23 {
            1e-5
        } else {
            1e-7
        };
        assert!(err < tol, "{method:?}: max relative error {err:e}");
    }
}

/// One-compartment repeated bolus. The plasma concentration is exact by
/// construction; the response R, driven by it (dR/dt = kin C - kout R), is
/// integrated by the solver across 20 dose discontinuities and must match the
/// superposed closed form within 1e-6 relative at rtol 1e-9.
#[test]
fn one_compartment_repeated_bolus() {
    let m = model(
        &(header("hours")
            + r#"
[species.R]
initial = 0.0
unit = "a.u."
description = "response driven by plasma concentration"
rate = "kin * drug - kout * R"
[parameters.kin]
value = 0.5
unit = "1/h/uM"
provenance = "assumed"
note = "test"
[parameters.kout]
value = 0.2
unit = "1/h"
provenance = "assumed"
note = "test"
[drugs.drug]
unit = "uM"
[drugs.drug.in_vivo]
half_life = 6.0
volume = 2.0
molecular_weight = 400.0
[fate]
division = "0"
death = "0"
"#),
    );
    let dose = 50.0; // mg/kg
    let tau = 12.0;
    let doses: Vec<DoseEvent> = (0..20)
        .map(|k| DoseEvent {
            time: k as f64 * tau,
            drug: 0,
            kind: DoseKind::Bolus { mg_per_kg: dose },
        })
        .collect();
    let ke = std::f64::consts::LN_2 / 6.0;
    let c0 = dose / 2.0 * 1e-3 / 400.0 * 1e6; // mg/kg / (L/kg) -> mg/L -> g/L -> mol/L -> uM
    let (kin, kout) = (0.5, 0.2);
    let conc = |t: f64| {
        (0..20)
            .map(|k| k as f64 * tau)
            .filter(|&tk| tk <= t)
            .map(|tk| c0 * (-ke * (t - tk)).exp())
            .sum::<f64>()
    };
    let resp = |t: f64| {
        (0..20)
            .map(|k| k as f64 * tau)
            .filter(|&tk| tk <= t)
            .map(|tk| {
                let s = t - tk;
                kin * c0 / (kout - ke) * ((-ke * s).exp() - (-kout * s).exp())
            })
            .sum::<f64>()
    };
    for method in [Method::Dopri5, Method::OdeSolversDopri5] {
        let r = run(&m, &doses, 240.0, 480, method, 1e-9, 1e-12);
        let tl = &r.timeline;
        let c = tl.series(tl.column("exposure", "drug").unwrap());
        let rr = tl.series(tl.column("parental", "R").unwrap());
        for (i, &t) in tl.times.iter().enumerate().skip(1) {
            let (cw, rw) = (conc(t), resp(t));
            assert!(
                ((c[i] - cw) / cw).abs() < 1e-12,
                "concentration at t={t}: {} vs {cw}",
                c[i]
            );
            assert!(
                ((rr[i] - rw) / rw).abs() < 1e-6,
                "{method:?} response at t={t}: {} vs {rw}",
                rr[i]
            );
        }
    }
}

#[test]
fn hill_steady_state() {
    let m = model(
        &(header("hours")
            + r#"
[species.X]
initial = 0.0
unit = "a.u."
description = "induced by the drug"
rate = "v * hill(drug, K, n) - d * X"
[parameters.v]
value = 2.0
unit = "a.u./h"
provenance = "assumed"
note = "test"
[parameters.K]
value = 0.4
unit = "uM"
provenance = "assumed"
note = "test"
[parameters.n]
value = 2.5
unit = "1"
provenance = "assumed"
note = "test"
[parameters.d]
value = 0.5
unit = "1/h"
provenance = "assumed"
note = "test"
[drugs.drug]
unit = "uM"
[fate]
division = "0"
death = "0"
"#),
    );
    let c = 0.7;
    let doses = [DoseEvent {
        time: 0.0,
        drug: 0,
        kind: DoseKind::SetConcentration { value: c },
    }];
    let want = 2.0 / 0.5 * c.powf(2.5) / (0.4f64.powf(2.5) + c.powf(2.5));
    for method in METHODS {
        let r = run(&m, &doses, 80.0, 8, method, 1e-10, 1e-12);
        let x = *r.final_state.first().unwrap();
        assert!(
            ((x - want) / want).abs() < 1e-8,
            "{method:?}: {x} vs {want}"
        );
    }
}

/// Birth, death and mutation: the mutant count follows the linear closed form
/// N_m(t) = u b N0 (e^{(b-d)t} - 1)/(b - d) when the mutant grows like the parent
/// minus mutation loss (here both have the same rates and u is small).
#[test]
fn mutation_flux_matches_closed_form() {
    let m = model(
        &(header("days")
            + r#"
[parameters.b]
value = 0.6
unit = "1/d"
provenance = "assumed"
note = "test"
[fate]
division = "b"
death = "0.1"
initial_cells = 1000.0
[genotypes.mutant]
mutation_probability = 1e-3
"#),
    );
    let r = run(&m, &[], 10.0, 10, Method::Dopri5, 1e-10, 1e-12);
    let tl = &r.timeline;
    let (b, d, u, n0) = (0.6f64, 0.1f64, 1e-3f64, 1000.0f64);
    for (i, &t) in tl.times.iter().enumerate().skip(1) {
        let parent = tl.get(i, tl.column("parental", "cells").unwrap());
        let mutant = tl.get(i, tl.column("mutant", "cells").unwrap());
        // parent: dP = (b(1-u) - d) P; mutant: dM = u b P + (b - d) M
        let g = b * (1.0 - u) - d;
        let pw = n0 * (g * t).exp();
        let mw = u * b * n0 * (((b - d) * t).exp() - (g * t).exp()) / (b - d - g);
        assert!(((parent - pw) / pw).abs() < 1e-8);
        assert!(((mutant - mw) / mw).abs() < 1e-7, "t={t}: {mutant} vs {mw}");
    }
}
