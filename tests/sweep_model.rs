//! Model sweeps through the library: analytic metrics of a birth-death model,
//! thread-count independence on a shipped model, dose placeholders, and bad sweep
//! files refused with the file, line and field before any run.

mod sweep_support;

use std::path::{Path, PathBuf};

use resloop::sweep::{load_model_sweep, run_sweep, Evaluator, LoadOptions, RunOptions, SweepError};
use sweep_support::{runs_text, write_sweep};

const ANALYTIC: &str = r#"
seed = 3
design = { kind = "grid", levels = 3 }

[model]
file = "model.toml"
rtol = 1e-10
atol = 1e-12

[schedule]
days = 10
doses = []
points = 2000

[[parameters]]
name = "b"

[[parameters]]
name = "d"

[[parameters]]
name = "k"
scale = "log"

[[metrics]]
kind = "final_population"

[[metrics]]
kind = "time_to_resistance"

[[metrics]]
kind = "auc"
variable = "x"

[[metrics]]
kind = "value"
variable = "cells"
at = "60h"
"#;

fn opts(threads: usize) -> RunOptions {
    RunOptions {
        threads: Some(threads),
        ..RunOptions::default()
    }
}

fn column(text: &str, name: &str) -> Vec<f64> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn birth_death_metrics_match_the_closed_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sweep(dir.path(), ANALYTIC);
    let sweep = load_model_sweep(&path, &LoadOptions::default()).unwrap();
    // Bounds default to the model's.
    let p = &sweep.spec.parameters;
    assert_eq!((p[0].lo, p[0].hi), (0.02, 0.04));
    assert_eq!((p[2].lo, p[2].hi), (0.01, 0.1));
    let out = dir.path().join("out");
    let s = run_sweep(&sweep.spec, &sweep.evaluator, &out, &opts(2)).unwrap();
    assert_eq!((s.points, s.ok), (27, 27));
    let text = runs_text(&out);
    let (b, d, k) = (column(&text, "b"), column(&text, "d"), column(&text, "k"));
    let fin = column(&text, "final_population");
    let ttr = column(&text, "time_to_resistance");
    let auc = column(&text, "auc_x");
    let at60 = column(&text, "cells_at_60h");
    for i in 0..27 {
        let r = b[i] - d[i]; // per hour
        let want = 1000.0 * (r * 240.0).exp();
        assert!(
            (fin[i] / want - 1.0).abs() < 1e-7,
            "final {} vs {want}",
            fin[i]
        );
        let want = 1000.0 * (r * 60.0).exp();
        assert!(
            (at60[i] / want - 1.0).abs() < 1e-7,
            "60 h {} vs {want}",
            at60[i]
        );
        // Regrowth by 25 % above the nadir (here the start), in days.
        let want = 1.25f64.ln() / r / 24.0;
        assert!((ttr[i] - want).abs() < 1e-6, "ttr {} vs {want}", ttr[i]);
        // Integral of exp(-k t) over 10 days, in days (trapezoid error ~ (hk)^2/12).
        let want = (1.0 - (-k[i] * 240.0).exp()) / (24.0 * k[i]);
        assert!(
            (auc[i] / want - 1.0).abs() < 1e-4,
            "auc {} vs {want}",
            auc[i]
        );
    }
    // Units recorded for plots.
    let m = resloop::sweep::Manifest::read(&out).unwrap();
    assert_eq!(m.units.get("b").map(String::as_str), Some("1/h"));
    assert_eq!(
        m.units.get("time_to_resistance").map(String::as_str),
        Some("d")
    );
    assert_eq!(m.inputs[0].role, "model");
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn shipped_sweep_is_identical_on_one_and_two_threads() {
    let sweep = load_model_sweep(
        &shipped("models/sweeps/minimal_loop_sobol.toml"),
        &LoadOptions::default(),
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();
    for threads in [1, 2] {
        let out = root.path().join(format!("t{threads}"));
        let s = run_sweep(&sweep.spec, &sweep.evaluator, &out, &opts(threads)).unwrap();
        assert_eq!(s.failed, 0);
        texts.push(runs_text(&out));
    }
    assert_eq!(texts[0], texts[1]);
    // The same point evaluated directly gives the row's values (pure function).
    let ev = &sweep.evaluator;
    let point = [0.005, 0.4, 0.05, 0.04];
    assert_eq!(
        ev.evaluate(&point, 1).unwrap(),
        ev.evaluate(&point, 2).unwrap()
    );
}

#[test]
fn dose_placeholders_change_the_doses() {
    let sweep = load_model_sweep(
        &shipped("models/sweeps/minimal_loop_dose_grid.toml"),
        &LoadOptions::default(),
    )
    .unwrap();
    let ev = &sweep.evaluator;
    let low = ev.doses_at(&[0.01, 0.1]).unwrap();
    let high = ev.doses_at(&[10.0, 100.0]).unwrap();
    assert_eq!(low.len(), high.len());
    assert!(low.len() > 20);
    let conc = |d: &resloop::pkpd::DoseEvent| match d.kind {
        resloop::pkpd::DoseKind::SetConcentration { value } => value,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(conc(&low[0]), 0.01);
    assert_eq!(conc(&high[0]), 10.0);
    // More drug leaves fewer cells at the end.
    let fin = |p: &[f64]| ev.evaluate(p, 0).unwrap()[0];
    assert!(fin(&[10.0, 100.0]) < fin(&[0.01, 0.1]));
}

/// Load `sweep` (next to the birth-death model) and return the error text.
fn refused(sweep: &str, allow_outside: bool) -> (SweepError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sweep(dir.path(), sweep);
    let e = load_model_sweep(&path, &LoadOptions { allow_outside }).unwrap_err();
    let text = e.to_string();
    (e, text.replace(&dir.path().display().to_string(), "DIR"))
}

fn with_parameters(params: &str, metrics: &str) -> String {
    format!(
        "seed = 1\ndesign = {{ kind = \"grid\", levels = 2 }}\n[model]\nfile = \"model.toml\"\n\
         [schedule]\ndays = 5\n{params}\n{metrics}"
    )
}

const FINAL: &str = "[[metrics]]\nkind = \"final_population\"\n";

#[test]
fn bad_sweep_files_name_file_line_and_field() {
    // Unknown parameter, with a suggestion.
    let (_, e) = refused(
        &with_parameters("[[parameters]]\nname = \"kk\"", FINAL),
        false,
    );
    assert!(e.starts_with("DIR/sweep.toml:8:8: `parameters.kk`"), "{e}");
    assert!(e.contains("no parameter `kk` (did you mean `k`?)"), "{e}");

    // Bounds outside the model's declared bounds: refused, then allowed.
    let outside = with_parameters("[[parameters]]\nname = \"b\"\nhi = 0.5", FINAL);
    let (_, e) = refused(&outside, false);
    assert!(
        e.starts_with("DIR/sweep.toml:9:6: `parameters.b.hi`"),
        "{e}"
    );
    assert!(e.contains("outside the bounds [0.02, 0.04]"), "{e}");
    assert!(e.contains("--allow-out-of-bounds"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = write_sweep(dir.path(), &outside);
    let ok = load_model_sweep(
        &p,
        &LoadOptions {
            allow_outside: true,
        },
    )
    .unwrap();
    assert_eq!(ok.spec.parameters[0].hi, 0.5);

    // A design too small for its kind, located at the design.
    let small = "seed = 1\ndesign = { kind = \"saltelli\", samples = 1 }\n[model]\nfile = \"model.toml\"\n\
                 [schedule]\ndays = 5\n[[parameters]]\nname = \"b\"\n[[metrics]]\nkind = \"final_population\"\n";
    let (_, e) = refused(small, false);
    assert!(e.starts_with("DIR/sweep.toml:2:10: `design`"), "{e}");
    assert!(
        e.contains("samples = 1 is too small (need at least 2)"),
        "{e}"
    );

    // Unknown metric kind, with a suggestion; a field the kind does not take.
    let (_, e) = refused(
        &with_parameters(
            "[[parameters]]\nname = \"b\"",
            "[[metrics]]\nkind = \"final_populaton\"",
        ),
        false,
    );
    assert!(e.contains(":10:8: `metrics[0].kind`"), "{e}");
    assert!(e.contains("did you mean `final_population`?"), "{e}");
    let (_, e) = refused(
        &with_parameters(
            "[[parameters]]\nname = \"b\"",
            "[[metrics]]\nkind = \"auc\"\nvariable = \"x\"\nat = \"2d\"",
        ),
        false,
    );
    assert!(e.contains(":12:6: `metrics[0].at`"), "{e}");
    assert!(e.contains("does not apply to metric kind `auc`"), "{e}");

    // Unknown variable; a time outside the run; a missing model file.
    let (_, e) = refused(
        &with_parameters(
            "[[parameters]]\nname = \"b\"",
            "[[metrics]]\nkind = \"value\"\nvariable = \"y\"",
        ),
        false,
    );
    assert!(
        e.contains("`metrics[0].variable`") && e.contains("no species, observable or drug `y`"),
        "{e}"
    );
    let (_, e) = refused(
        &with_parameters(
            "[[parameters]]\nname = \"b\"",
            "[[metrics]]\nkind = \"value\"\nvariable = \"x\"\nat = \"6d\"",
        ),
        false,
    );
    assert!(
        e.contains("`metrics[0].at`") && e.contains("outside the run (0 to 5 d)"),
        "{e}"
    );
    let (_, e) = refused(
        &with_parameters("[[parameters]]\nname = \"b\"", FINAL).replace("model.toml", "nope.toml"),
        false,
    );
    assert!(
        e.starts_with("DIR/sweep.toml:4:8: `model.file`") && e.contains("no model file"),
        "{e}"
    );

    // Pending features are clear errors, not silent gaps.
    let (_, e) = refused(
        &with_parameters(
            "[[parameters]]\nname = \"b\"",
            "[[metrics]]\nkind = \"ic50_fold\"",
        ),
        false,
    );
    assert!(
        e.contains("`metrics[0].kind`") && e.contains("therapy"),
        "{e}"
    );

    // A metric name clashing with a parameter; a parameter both set and swept.
    let (_, e) = refused(
        &with_parameters(
            "[[parameters]]\nname = \"b\"",
            "[[metrics]]\nkind = \"final_population\"\nname = \"b\"",
        ),
        false,
    );
    assert!(
        e.contains("`metrics[0].name`") && e.contains("already used"),
        "{e}"
    );
    let (_, e) = refused(
        &with_parameters("[[parameters]]\nname = \"b\"", FINAL).replace(
            "file = \"model.toml\"",
            "file = \"model.toml\"\nset = { b = 0.03 }",
        ),
        false,
    );
    assert!(
        e.contains("`model.set.b`") && e.contains("set it or sweep it"),
        "{e}"
    );

    // A dose placeholder without a parameter, and an unknown key (TOML level).
    let (_, e) = refused(
        &with_parameters("[[parameters]]\nname = \"b\"", FINAL)
            .replace("days = 5", "days = 5\ndoses = [\"tki={c}uM@72h\"]"),
        false,
    );
    assert!(
        e.contains("`schedule.doses`") && e.contains("placeholder `{c}`"),
        "{e}"
    );
    let (e, text) = refused(
        &with_parameters("[[parameters]]\nname = \"b\"\nlow = 1", FINAL),
        false,
    );
    assert!(matches!(e, SweepError::Input(_)), "{text}");
    assert!(
        text.starts_with("DIR/sweep.toml:9:1") && text.contains("unknown field `low`"),
        "{text}"
    );
}

/// Two independent kills (viability after 72 h = (1 - block_d)(1 - kill_e) exactly):
/// a Bliss-null checkerboard whatever the IC50 of drug d.
const BLISS_NULL_MODEL: &str = r#"
[model]
name = "bliss_null"
title = "Two independent kills"
time_unit = "hours"
description = "72 h viability is the product of the single-agent viabilities."
[species.X]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"
[parameters.r]
value = 0.03
unit = "1/h"
provenance = "assumed"
note = "test"
[parameters.ic50_d]
value = 2.0
unit = "uM"
bounds = [0.5, 8.0]
provenance = "assumed"
note = "test"
[drugs.d]
unit = "uM"
description = "test drug"
[drugs.d.effects.block]
ic50 = "ic50_d"
hill = 1.5
emax = 0.999999
description = "fraction blocked"
[drugs.e]
unit = "nM"
description = "second drug, independent kill"
[drugs.e.effects.kill]
ic50 = 30.0
hill = 1.0
emax = 0.9
description = "fraction killed"
[fate]
division = "r"
death = "-ln(1 - block) / 72 - ln(1 - kill) / 72"
"#;

#[test]
fn synergy_metric_scores_a_bliss_null_checkerboard() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("null.toml"), BLISS_NULL_MODEL).unwrap();
    let sweep = r#"seed = 1
design = { kind = "grid", levels = 3 }
[model]
file = "null.toml"
[schedule]
days = 3
doses = []
[[parameters]]
name = "ic50_d"
scale = "log"
[[metrics]]
kind = "synergy"
drugs = ["d", "e"]
doses_a = [0.5, 2.0, 8.0]
doses_b = [10.0, 30.0, 90.0]
snapshot = "start"
[[metrics]]
kind = "synergy"
drugs = ["d", "e"]
method = "hsa"
doses_a = [0.5, 2.0, 8.0]
doses_b = [10.0, 30.0, 90.0]
"#;
    let path = dir.path().join("sweep.toml");
    std::fs::write(&path, sweep).unwrap();
    let sw = load_model_sweep(&path, &LoadOptions::default()).unwrap();
    assert_eq!(
        sw.evaluator.metric_names(),
        ["bliss_mean_d_e", "hsa_mean_d_e"]
    );
    for ic50 in [0.5, 2.0, 8.0] {
        let m = sw.evaluator.evaluate(&[ic50], 0).unwrap();
        assert!(m[0].abs() < 1e-5, "Bliss score of a Bliss null: {}", m[0]);
        // HSA excess of a product surface: mean of min(va, vb) - va vb.
        let va = |c: f64| 1.0 - 0.999999 * c.powf(1.5) / (ic50.powf(1.5) + c.powf(1.5));
        let vb = |c: f64| 1.0 - 0.9 * c / (30.0 + c);
        let mut want = 0.0;
        for a in [0.5, 2.0, 8.0] {
            for b in [10.0, 30.0, 90.0] {
                want += va(a).min(vb(b)) - va(a) * vb(b);
            }
        }
        want /= 9.0;
        assert!((m[1] - want).abs() < 1e-5, "HSA {} vs {want}", m[1]);
    }
}

#[test]
fn resume_refuses_an_edited_model() {
    let dir = tempfile::tempdir().unwrap();
    let text = ANALYTIC
        .replace("levels = 3", "levels = 2")
        .replace("points = 2000", "points = 20");
    let path = write_sweep(dir.path(), &text);
    let out = dir.path().join("out");
    let sweep = load_model_sweep(&path, &LoadOptions::default()).unwrap();
    run_sweep(&sweep.spec, &sweep.evaluator, &out, &opts(1)).unwrap();
    // Same spec, same design, but the model file changed underneath.
    let model = dir.path().join("model.toml");
    let edited = std::fs::read_to_string(&model)
        .unwrap()
        .replace("note = \"death rate\"", "note = \"death rate (edited)\"");
    std::fs::write(&model, edited).unwrap();
    let again = load_model_sweep(&path, &LoadOptions::default()).unwrap();
    let resume = RunOptions {
        resume: true,
        ..opts(1)
    };
    let e = run_sweep(&again.spec, &again.evaluator, &out, &resume).unwrap_err();
    assert!(
        matches!(&e, SweepError::ResumeMismatch { message, .. } if message.contains("input files changed")),
        "{e}"
    );
}

#[test]
fn schedule_file_sweeps_run_through_the_therapy_driver() {
    let path = shipped("models/sweeps/minimal_loop_adaptive_morris.toml");
    let sweep = load_model_sweep(&path, &LoadOptions::default()).unwrap();
    assert_eq!(
        sweep.evaluator.metric_names(),
        [
            "time_to_resistance",
            "time_to_resistance_reached",
            "ic50_fold",
            "max_tki_uM"
        ]
    );
    assert_eq!(sweep.evaluator.inputs[1].role, "schedule");
    // A point's metrics are the therapy driver's own summary of the same run.
    let point = [0.005, 0.6, 0.05];
    let m = sweep.evaluator.evaluate(&point, 0).unwrap();
    let model = &sweep.evaluator.model;
    let schedule = resloop::schedule::Schedule::load(
        &shipped("models/schedules/minimal_loop_adaptive.toml"),
        model,
    )
    .unwrap();
    let o = resloop::therapy::TherapyOptions {
        params: Some(sweep.evaluator.params_at(&point)),
        ..Default::default()
    };
    let res = resloop::therapy::run(model, &schedule, &o).unwrap();
    let s = &res.summary;
    // A time to resistance is the event's time, flagged reached, or the run's end
    // flagged censored: never an unflagged run length.
    assert_eq!(m[0], s.resistance.days);
    assert_eq!(m[1], if s.resistance.reached { 1.0 } else { 0.0 });
    assert_eq!(m[0], s.time_to_resistance_days.unwrap_or(s.end_days));
    assert_eq!(Some(m[2]), s.ic50_fold_final);
    assert_eq!(m[3], s.drugs[0].max_dose);
    // The whole design on 1 and 2 threads.
    let root = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();
    for threads in [1, 2] {
        let out = root.path().join(format!("t{threads}"));
        run_sweep(&sweep.spec, &sweep.evaluator, &out, &opts(threads)).unwrap();
        texts.push(runs_text(&out));
    }
    assert_eq!(texts[0], texts[1]);
}

#[test]
fn schedule_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let models = shipped("models");
    let write = |body: &str| {
        let p = dir.path().join("s.toml");
        let text = format!(
            "seed = 1\ndesign = {{ kind = \"grid\", levels = 2 }}\n[model]\nfile = \"{}\"\n{body}\n[[parameters]]\nname = \"k_erode\"\n",
            models.join("minimal_loop.toml").display()
        );
        std::fs::write(&p, text).unwrap();
        load_model_sweep(&p, &LoadOptions::default())
            .unwrap_err()
            .to_string()
    };
    let sched = |name: &str| models.join("schedules").join(name).display().to_string();
    // Plain-run keys do not go with a schedule file.
    let e = write(&format!(
        "[schedule]\nfile = \"{}\"\ndays = 10\n[[metrics]]\nkind = \"final_population\"",
        sched("minimal_loop_adaptive.toml")
    ));
    assert!(
        e.contains("s.toml:7:8: `schedule.days`") && e.contains("does not go with a schedule file"),
        "{e}"
    );
    // IC50 folds need IC50 readouts.
    let e = write(&format!(
        "[schedule]\nfile = \"{}\"\n[[metrics]]\nkind = \"ic50_fold\"",
        sched("minimal_loop_xenograft_daily.toml")
    ));
    assert!(
        e.contains("`metrics[0].kind`") && e.contains("ic50_every"),
        "{e}"
    );
    // The schedule rule needs a schedule.
    let e = write(
        "[schedule]\ndays = 5\n[[metrics]]\nkind = \"time_to_resistance\"\nrule = \"schedule\"",
    );
    assert!(
        e.contains("`metrics[0].rule`") && e.contains("[schedule] file"),
        "{e}"
    );
    // A schedule file that does not exist.
    let e = write("[schedule]\nfile = \"nope.toml\"\n[[metrics]]\nkind = \"final_population\"");
    assert!(
        e.contains("`schedule.file`") && e.contains("no schedule file"),
        "{e}"
    );
}
