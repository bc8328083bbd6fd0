//! The assay layer against models whose dose-response is known in closed form.

mod common;

use common::*;
use resloop::assay::{checkerboard, dose_response, log_doses, AssaySettings};
use resloop::compile::{BoundModel, CompiledModel};
use resloop::engine::ode::OdeRun;

/// Death rate chosen so that 72 h viability is exactly `1 - block`, with
/// `block = hill(C, 2 uM, 1.5)`: the fitted IC50 must be 2 uM.
fn known_hill_model() -> CompiledModel {
    model(include_str!("data/known_hill.toml"))
}

#[test]
fn seventy_two_hour_assay_recovers_a_known_ic50_within_one_percent() {
    let m = known_hill_model();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let y = OdeRun::initial_state(&m, &b, 1e6);
    let doses = log_doses(0.01, 300.0, 13).unwrap();
    let s = AssaySettings::standard(&m);
    let dr = dose_response(&m, &b, &y, &[0.0, 0.0], 0, &doses, &s).unwrap();
    let ic50 = dr.ic50().unwrap();
    assert!((ic50 / 2.0 - 1.0).abs() < 0.01, "IC50 {ic50}, want 2");
    assert!((dr.fit.h - 1.5).abs() < 0.02, "slope {}", dr.fit.h);
    // Viability is the closed form at every tested dose.
    for (d, v) in dr.doses.iter().zip(&dr.viability) {
        let want = 1.0 - 0.999999 * d.powf(1.5) / (2f64.powf(1.5) + d.powf(1.5));
        assert!((v - want).abs() < 1e-5, "dose {d}: {v} vs {want}");
    }
}

#[test]
fn background_drug_and_checkerboard_follow_bliss_independence() {
    // Two independent kills multiply: the checkerboard of this model is a Bliss
    // null surface.
    let m = known_hill_model();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let y = OdeRun::initial_state(&m, &b, 1e6);
    let s = AssaySettings::standard(&m);
    let da = [0.0, 0.5, 2.0, 8.0];
    let db = [0.0, 10.0, 30.0, 90.0];
    let plate = checkerboard(&m, &b, &y, &[0.0, 0.0], 0, &da, 1, &db, &s).unwrap();
    let va = |d: f64| 1.0 - 0.999999 * d.powf(1.5) / (2f64.powf(1.5) + d.powf(1.5));
    let vb = |d: f64| 1.0 - 0.9 * d / (30.0 + d);
    assert_eq!(plate.wells().len(), 16);
    for w in plate.wells() {
        let want = va(w.dose_a) * vb(w.dose_b);
        assert!((w.response - want).abs() < 1e-5, "{w:?} vs {want}");
    }
    // A background of drug e shifts the whole curve of d down by vb(30) = 0.55 but
    // leaves its IC50 relative to the background control unchanged.
    let doses = log_doses(0.01, 300.0, 13).unwrap();
    let dr = dose_response(&m, &b, &y, &[0.0, 30.0], 0, &doses, &s).unwrap();
    assert!((dr.ic50().unwrap() / 2.0 - 1.0).abs() < 0.01);
}

#[test]
fn empty_snapshot_is_an_error_not_a_nan() {
    let m = known_hill_model();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let y = OdeRun::initial_state(&m, &b, 0.0);
    let s = AssaySettings::standard(&m);
    let err = dose_response(&m, &b, &y, &[0.0, 0.0], 0, &[1.0, 2.0, 4.0], &s).unwrap_err();
    assert!(err.to_string().contains("no cells"), "{err}");
}
