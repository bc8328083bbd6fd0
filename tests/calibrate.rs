//! `resloop calibrate`: recovers parameters that facts pin, is reproducible, scores
//! tolerances as documented, and refuses parameters it must not touch.

use std::path::{Path, PathBuf};
use std::process::Command;

use resloop::calibrate::{self, fact_distance, Settings, Space, Stop};
use resloop::facts::{self, Bound, Reading};

/// A model whose steady states are ratios of parameters: x* = k_in / k_out and
/// y* = k_y / d_y. `k_in` and `k_y` are assumed with bounds; the rest are not
/// calibratable for the reason their names say.
const MODEL: &str = r#"
[model]
name = "pinned"
title = "Steady states pinned by parameter ratios"
time_unit = "hours"
description = "x* = k_in / k_out, y* = k_y / d_y"

[species.x]
initial = 1.0
unit = "1"
description = "level set by k_in / k_out"
rate = "k_in - k_out * x"

[species.y]
initial = 1.0
unit = "1"
description = "level set by k_y / d_y"
rate = "k_y - d_y * y"

[parameters.k_in]
value = 1.0
unit = "1/h"
bounds = [0.1, 100.0]
provenance = "assumed"
note = "calibrated"

[parameters.k_y]
value = 0.5
unit = "1/h"
bounds = [0.01, 1.0]
provenance = "assumed"
note = "calibrated"

[parameters.k_out]
value = 0.5
unit = "1/h"
bounds = [0.1, 1.0]
provenance = "seed"
note = "from the study"

[parameters.d_y]
value = 1.0
unit = "1/h"
provenance = "assumed"
note = "no bounds"

[fate]
division = "0.01"
death = "0.01"
initial_cells = 1000
description = "constant"
"#;

/// x(parental) / x(reference) = k_in / k_out (reference has k_in = k_out = 1) and
/// y(parental) / y(reference) = k_y / d_y (reference has k_y = d_y): with k_out =
/// 0.5 and d_y = 1, the facts pin k_in = 3 and k_y = 0.2 within +-0.5%.
const FACTS: &str = r#"
[facts]
model = "pinned.toml"

[states.parental]
equilibrate = "30d"

[states.reference]
equilibrate = "30d"
set = { k_in = 1.0, k_out = 1.0, k_y = 1.0 }

[[fact]]
id = "x_fold"
role = "calibration"
claim = "x is 6-fold the reference"
study = "6-fold"
kind = "ratio"
quantity = "x"
test = { state = "parental" }
control = { state = "reference" }
expect = { min = 5.97, max = 6.03 }

[[fact]]
id = "y_fold"
role = "calibration"
claim = "y is a fifth of the reference"
study = "0.2"
kind = "ratio"
quantity = "y"
test = { state = "parental" }
control = { state = "reference" }
expect = { min = 0.199, max = 0.201 }
"#;

fn write_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("pinned.toml");
    let facts = dir.join("pinned.facts.toml");
    std::fs::write(&model, MODEL).unwrap();
    std::fs::write(&facts, FACTS).unwrap();
    (model, facts)
}

fn calibrate_pinned(seed: u64) -> calibrate::Calibration {
    let dir = tempfile::tempdir().unwrap();
    let (model, facts_path) = write_inputs(dir.path());
    let file = facts::load(&facts_path).unwrap();
    let space = Space::new(&file.model, &model, &["k_in".into(), "k_y".into()]).unwrap();
    calibrate::calibrate(
        &file,
        &space,
        Settings {
            max_evals: 300,
            seed,
            engine: resloop::engine::EngineKind::MeanField,
        },
        &mut |_| {},
    )
    .unwrap()
}

#[test]
fn recovers_parameters_pinned_by_fold_changes() {
    let cal = calibrate_pinned(7);
    let start = cal.start();
    assert_eq!(
        start.values,
        vec![1.0, 0.5],
        "the search starts at the model's values"
    );
    assert_eq!(start.score.passing, 0);
    let best = cal.best();
    assert_eq!(cal.stop, Stop::AllPass, "stopped: {:?}", cal.stop);
    assert_eq!((best.score.passing, best.score.scored), (2, 2));
    assert_eq!(best.score.loss, 0.0);
    let (k_in, k_y) = (best.values[0], best.values[1]);
    assert!((k_in / 3.0 - 1.0).abs() < 0.01, "k_in = {k_in}, expected 3");
    assert!((k_y / 0.2 - 1.0).abs() < 0.01, "k_y = {k_y}, expected 0.2");
    assert!(cal.evaluations.len() <= 300);
}

#[test]
fn same_seed_same_search_and_every_point_in_bounds() {
    let a = calibrate_pinned(3);
    let b = calibrate_pinned(3);
    let rows = |c: &calibrate::Calibration| -> Vec<(Vec<f64>, f64)> {
        c.evaluations
            .iter()
            .map(|e| (e.values.clone(), e.score.loss))
            .collect()
    };
    assert_eq!(rows(&a), rows(&b));
    for e in &a.evaluations {
        assert!((0.1..=100.0).contains(&e.values[0]), "{:?}", e.values);
        assert!((0.01..=1.0).contains(&e.values[1]), "{:?}", e.values);
    }
}

#[test]
fn loss_is_log_distance_outside_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let (_, facts_path) = write_inputs(dir.path());
    let file = facts::load(&facts_path).unwrap();
    let x_fold = &file.facts[0]; // ratio, tolerance [5.97, 6.03]
    let exact = |v| Reading {
        value: v,
        bound: Bound::Exact,
    };
    assert_eq!(fact_distance(x_fold, exact(6.0)), Some(0.0));
    let d = fact_distance(x_fold, exact(12.06)).unwrap();
    assert!((d - 2f64.ln()).abs() < 1e-12, "{d}");
    let d = fact_distance(x_fold, exact(5.97 / 4.0)).unwrap();
    assert!((d - 4f64.ln()).abs() < 1e-12, "{d}");
    // A lower bound cannot promise a maximum: unscorable (the fixed penalty).
    let censored = Reading {
        value: 100.0,
        bound: Bound::AtLeast,
    };
    assert_eq!(fact_distance(x_fold, censored), None);
    assert_eq!(fact_distance(x_fold, exact(f64::NAN)), None);
}

fn run_cli(dir: &Path, model: &Path, params: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args([
            "calibrate",
            model.to_str().unwrap(),
            "--params",
            params,
            "--max-evals",
            "40",
            "--out",
            dir.join("out").to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn cli_writes_the_record_and_leaves_the_model_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = write_inputs(dir.path());
    let o = run_cli(dir.path(), &model, "k_in");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&model).unwrap(), MODEL);
    let out = dir.path().join("out");
    let csv = std::fs::read_to_string(out.join("calibration.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "evaluation,restart,k_in,loss,facts_passing,facts_scored,best_so_far"
    );
    assert!(lines.next().unwrap().starts_with("1,0,1,"));
    let best: toml::Value =
        toml::from_str(&std::fs::read_to_string(out.join("best.toml")).unwrap()).unwrap();
    let k_in = best["parameters"]["k_in"]["value"].as_float().unwrap();
    // y is not calibrated, so only x_fold can pass; it pins k_in = 3.
    assert!((k_in / 3.0 - 1.0).abs() < 0.01, "k_in = {k_in}");
    assert_eq!(best["fact"].as_array().unwrap().len(), 2);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["params"][0]["name"], "k_in");
    assert_eq!(manifest["params"][0]["log"], true);
    // The common envelope: version, command line, inputs with their hashes, outputs.
    assert!(manifest["resloop_version"].is_string());
    assert!(manifest["command_line"].is_array());
    let inputs = manifest["inputs"].as_array().unwrap();
    let roles: Vec<&str> = inputs.iter().map(|f| f["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["model", "facts"]);
    for f in inputs {
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(manifest["outputs"][2], "manifest.json");
}

#[test]
fn cli_refuses_parameters_it_must_not_touch() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = write_inputs(dir.path());
    for (params, expected) in [
        (
            "k_inn",
            "no parameter `k_inn` to calibrate (did you mean `k_in`?)",
        ),
        ("k_in,d_y", "parameter `d_y` has no `bounds`"),
        ("k_out", "parameter `k_out` is `seed`, not `assumed`"),
    ] {
        let o = run_cli(dir.path(), &model, params);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{params} accepted");
        assert!(err.contains(expected), "{params}: {err}");
        assert!(err.contains("pinned.toml"), "{params}: {err}");
        assert!(!dir.path().join("out").exists(), "{params}: wrote output");
    }
}

/// A prediction that contradicts the calibration targets (x 2-fold, where the targets
/// pin it at 6-fold): never a target.
const PREDICTION: &str = r#"
[[fact]]
id = "x_prediction"
role = "prediction"
claim = "a prediction calibration must not see"
study = "2-fold"
kind = "ratio"
quantity = "x"
test = { state = "parental" }
control = { state = "reference" }
expect = { min = 1.9, max = 2.1 }
"#;

#[test]
fn predictions_are_never_calibrated_on() {
    let dir = tempfile::tempdir().unwrap();
    let (model, facts_path) = write_inputs(dir.path());
    std::fs::write(&facts_path, format!("{FACTS}{PREDICTION}")).unwrap();
    let file = facts::load(&facts_path).unwrap();
    let space = Space::new(&file.model, &model, &["k_in".into(), "k_y".into()]).unwrap();
    let settings = Settings {
        max_evals: 300,
        seed: 7,
        engine: resloop::engine::EngineKind::MeanField,
    };
    // The library refuses a file with predictions in it...
    let e = calibrate::calibrate(&file, &space, settings, &mut |_| {})
        .expect_err("a file with predictions is refused");
    assert!(e.to_string().contains("x_prediction"), "{e}");
    // ...and the loss ignores them whoever calls it.
    let targets = file.calibration_targets();
    assert_eq!(targets.facts.len(), 2);
    let cal = calibrate::calibrate(&targets, &space, settings, &mut |_| {}).unwrap();
    assert_eq!(cal.stop, Stop::AllPass);
    assert!((cal.best().values[0] - 3.0).abs() < 0.03);
    let (score, outcomes) = calibrate::evaluate(
        &file,
        &space,
        &cal.best().values,
        resloop::engine::EngineKind::MeanField,
        1,
    );
    assert_eq!(outcomes.len(), 3, "predictions are still evaluated");
    assert_eq!((score.scored, score.passing), (2, 2), "but not scored");
    assert!(score.loss == 0.0);
    // The command line leaves them out and says so.
    let o = run_cli(dir.path(), &model, "k_in,k_y");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("1 prediction fact(s) left out"), "{out}");
}
