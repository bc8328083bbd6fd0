//! Null-model oracles: data generated exactly under each method's no-interaction model
//! must score as no interaction, and exact MuSyC data must give back its parameters.

use resloop::fit::HillFit;
use resloop::plate::{DrugInfo, Plate, Well};
use resloop::synergy::{
    score_plate, Method, MethodDetail, MethodResult, MusycParams, ScoreSettings,
};

fn ladder(c: f64, n: usize) -> Vec<f64> {
    let mut d = vec![0.0];
    d.extend((0..n - 1).map(|k| c * 2f64.powf(k as f64 - (n as f64 - 2.0) / 2.0)));
    d
}

fn plate(da: &[f64], db: &[f64], f: impl Fn(f64, f64) -> f64) -> Plate {
    let mut wells = Vec::new();
    for &a in da {
        for &b in db {
            wells.push(Well {
                dose_a: a,
                dose_b: b,
                response: f(a, b),
                replicate: None,
            });
        }
    }
    Plate::new(DrugInfo::new("A", "uM"), DrugInfo::new("B", "uM"), wells).unwrap()
}

fn run(p: &Plate, m: Method) -> MethodResult {
    score_plate(p, &[m], ScoreSettings::default())
        .unwrap()
        .1
        .remove(0)
}

fn max_abs_dev(r: &MethodResult, target: f64) -> f64 {
    r.cells
        .iter()
        .map(|c| (c.score.expect("every cell scored") - target).abs())
        .fold(0.0, f64::max)
}

#[test]
fn bliss_independent_data_scores_zero() {
    let fa = HillFit::from_params(1.0, 0.1, 0.5, 1.2);
    let fb = HillFit::from_params(1.0, 0.3, 2.0, 2.0);
    let p = plate(&ladder(0.5, 8), &ladder(2.0, 8), |a, b| {
        fa.eval(a) * fb.eval(b)
    });
    let r = run(&p, Method::Bliss);
    assert!(
        max_abs_dev(&r, 0.0) < 1e-9,
        "bliss {}",
        max_abs_dev(&r, 0.0)
    );
    assert_eq!(r.summary.n_scored, 49);
    // Fitted-curve Bliss recovers the exact curves, so it is zero too.
    let r = run(&p, Method::BlissHill);
    assert!(
        max_abs_dev(&r, 0.0) < 1e-6,
        "bliss_hill {}",
        max_abs_dev(&r, 0.0)
    );
    // A synergistic plate must not score zero (the oracle can fail).
    let q = plate(&ladder(0.5, 8), &ladder(2.0, 8), |a, b| {
        fa.eval(a) * fb.eval(b) * if a > 0.0 && b > 0.0 { 0.8 } else { 1.0 }
    });
    assert!(run(&q, Method::Bliss).summary.min.unwrap() > 0.01);
}

#[test]
fn zip_of_bliss_independent_full_efficacy_data_is_zero() {
    // ZIP's null is Bliss with E0 = 1, Emax = 0 single agents.
    let fa = HillFit::from_params(1.0, 0.0, 0.5, 1.2);
    let fb = HillFit::from_params(1.0, 0.0, 2.0, 2.0);
    let p = plate(&ladder(0.5, 8), &ladder(2.0, 8), |a, b| {
        fa.eval(a) * fb.eval(b)
    });
    let r = run(&p, Method::Zip);
    assert!(max_abs_dev(&r, 0.0) < 1e-6, "zip {}", max_abs_dev(&r, 0.0));
}

#[test]
fn sham_combination_is_loewe_additive_and_ci_one() {
    // The same drug on both axes: response depends on the total dose only.
    let f = HillFit::from_params(1.0, 0.0, 1.0, 1.5);
    let d = ladder(1.0, 8);
    let p = plate(&d, &d, |a, b| f.eval(a + b));
    let loewe = run(&p, Method::Loewe);
    assert!(
        max_abs_dev(&loewe, 0.0) < 1e-6,
        "loewe {}",
        max_abs_dev(&loewe, 0.0)
    );
    let ci = run(&p, Method::Ci);
    let combos: Vec<f64> = ci
        .cells
        .iter()
        .filter(|c| c.dose_a > 0.0 && c.dose_b > 0.0)
        .map(|c| c.score.unwrap())
        .collect();
    assert_eq!(combos.len(), 49);
    assert!(combos.iter().all(|c| (c - 1.0).abs() < 1e-6), "{combos:?}");
    // Rays: CI at Fa 0.5 / 0.75 / 0.9 is 1 too.
    let MethodDetail::Ci(detail) = &ci.detail else {
        panic!("ci detail")
    };
    assert!(!detail.rays.is_empty());
    for ray in &detail.rays {
        for at in &ray.at_fa {
            assert!((at.ci - 1.0).abs() < 1e-6, "{at:?}");
        }
    }
    // Bliss does not call the sham additive (f(a) f(b) != f(a + b)): the two nulls
    // differ, which is why the sham is the oracle for Loewe and CI only.
    assert!(max_abs_dev(&run(&p, Method::Bliss), 0.0) > 0.01);
}

#[test]
fn musyc_recovers_generating_parameters() {
    let truth = MusycParams {
        e0: 1.0,
        e1: 0.35,
        e2: 0.25,
        e3: 0.05,
        h1: 1.4,
        h2: 0.9,
        c1: 1.0,
        c2: 3.0,
        alpha12: 2.5,
        alpha21: 0.6,
        gamma12: 1.3,
        gamma21: 0.8,
    };
    let p = plate(&ladder(1.0, 10), &ladder(3.0, 10), |a, b| truth.eval(a, b));
    let r = run(&p, Method::Musyc);
    let MethodDetail::Musyc(fit) = r.detail else {
        panic!("musyc detail")
    };
    let got = fit.params.values();
    for (k, name) in MusycParams::NAMES.iter().enumerate() {
        let want = truth.values()[k];
        let tol = 0.01 * want.abs().max(0.05);
        assert!(
            (got[k] - want).abs() <= tol,
            "{name}: got {} want {want} ({fit:?})",
            got[k]
        );
    }
    assert!(fit.r2 > 1.0 - 1e-10);
    // No interaction: MuSyC's own null surface is the data, so the score is zero.
    let null = truth.null();
    let p0 = plate(&ladder(1.0, 10), &ladder(3.0, 10), |a, b| null.eval(a, b));
    let r0 = run(&p0, Method::Musyc);
    assert!(
        max_abs_dev(&r0, 0.0) < 1e-6,
        "musyc null {}",
        max_abs_dev(&r0, 0.0)
    );
}
