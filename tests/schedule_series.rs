//! Schedule pieces a translated libRoadRunner model needs (issue 17): escalating
//! bolus series, fractional-day intervals, several series of one drug in one arm, a
//! readout count, and drug quantities that `--set` and sweeps change. The schedule,
//! the `--dose` grammar and a hand-written dose list must give the same doses.

use std::path::{Path, PathBuf};

use resloop::compile::{compile_file, CompiledModel};
use resloop::experiment::{apply_sets_checked, simulate, SimulateRequest};
use resloop::pkpd::{parse_dose_spec, DoseEvent, DoseKind, Exposure};
use resloop::schedule::{DosePlan, Schedule};
use resloop::sweep::{load_model_sweep_str, Design, Evaluator, LoadOptions};
use resloop::therapy::{self, TherapyOptions};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn il6() -> CompiledModel {
    compile_file(&repo("benches/il6_loop.toml")).unwrap()
}

fn minimal() -> CompiledModel {
    compile_file(&repo("models/minimal_loop.toml")).unwrap()
}

fn schedule(m: &CompiledModel, text: &str) -> Schedule {
    Schedule::parse(Path::new("s.toml"), text, m).unwrap_or_else(|e| panic!("{e}"))
}

fn boluses(events: &[DoseEvent]) -> Vec<(f64, f64)> {
    events
        .iter()
        .map(|e| match e.kind {
            DoseKind::Bolus { mg_per_kg } => (e.time, mg_per_kg),
            k => panic!("not a bolus: {k:?}"),
        })
        .collect()
}

fn same(a: &[(f64, f64)], b: &[(f64, f64)]) {
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9,
            "{x:?} != {y:?}"
        );
    }
}

/// The issue's protocol: 105 boluses every 3.5 days of 1 + 0.1 k mg/kg.
fn protocol() -> Vec<(f64, f64)> {
    (0..105)
        .map(|k| (3.5 * k as f64, 1.0 + 0.1 * k as f64))
        .collect()
}

#[test]
fn the_issue_example_is_one_schedule_file_and_one_dose_spec() {
    let m = il6();
    let s = Schedule::load(&repo("benches/il6_loop_escalation.toml"), &m).unwrap();
    assert!((s.readout_every - 0.365).abs() < 1e-12, "points = 1000");
    let from_schedule = boluses(&DosePlan::new(&s).fixed_events().unwrap());
    same(&from_schedule, &protocol());
    for spec in [
        "trastuzumab=1mg/kg@3.5dx105,+0.1mg/kg",
        "trastuzumab=1mg/kg@84hx105,+0.1mg/kg",
        "trastuzumab=1mg/kg@84h,+100ug/kg",
    ] {
        let r = parse_dose_spec(&m, spec, 365.0);
        // mg/kg steps only: ug/kg is not a unit of the grammar.
        if spec.contains("ug/kg") {
            assert!(r.unwrap_err().to_string().contains("unknown unit"));
            continue;
        }
        same(&boluses(&r.unwrap()), &protocol());
    }
}

#[test]
fn the_schedule_and_the_dose_spec_run_to_the_same_trajectory() {
    let m = il6();
    let s = Schedule::load(&repo("benches/il6_loop_escalation.toml"), &m).unwrap();
    let opts = TherapyOptions {
        rtol: 1e-8,
        atol: 1e-10,
        ..TherapyOptions::default()
    };
    let t = therapy::run(&m, &s, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.timeline.times.len(), 1001, "1000 intervals, both ends");
    let req = SimulateRequest {
        doses: vec!["trastuzumab=1mg/kg@3.5dx105,+0.1mg/kg".into()],
        rtol: 1e-8,
        atol: 1e-10,
        points: 1000,
        plot: false,
        ..SimulateRequest::new(&repo("benches/il6_loop.toml"), 365.0)
    };
    let (_, _, runs) = simulate(&req).unwrap();
    let r = &runs[0];
    assert_eq!(r.timeline.times.len(), 1001);
    let g = &m.genotypes[0].name;
    for var in ["cells", "IL6", "pSTAT3"] {
        let a = t.timeline.series(t.timeline.column(g, var).unwrap());
        let b = r.timeline.series(r.timeline.column(g, var).unwrap());
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * y.abs().max(1e-6),
                "{var} at readout {k}: therapy {x} vs simulate {y}"
            );
        }
    }
}

#[test]
fn a_loading_dose_then_maintenance_in_one_arm() {
    let m = minimal();
    let s = schedule(
        &m,
        r#"
[schedule]
name = "load"
setting = "in_vivo"
duration = "4w"

[[drug]]
name = "tki"
holidays = [["14d", "21d"]]
[[drug.bolus]]
dose = "50 mg/kg"
times = 1
[[drug.bolus]]
dose = "20 mg/kg"
every = "3.5d"
after = "1w"
escalate = "x2"
escalate_every = 2
cap = "60 mg/kg"
"#,
    );
    let got = boluses(&DosePlan::new(&s).fixed_events().unwrap());
    // Hours (minimal_loop's time unit). Maintenance slots k = 0.. at 7 d + 3.5 k d:
    // 20, 20, [holiday: 40, 40], 60, 60 (20 x 4 capped at 60); day 28 is the end.
    let h = |d: f64| d * 24.0;
    same(
        &got,
        &[
            (0.0, 50.0),
            (h(7.0), 20.0),
            (h(10.5), 20.0),
            (h(21.0), 60.0),
            (h(24.5), 60.0),
        ],
    );
    // Slots 2 and 3 (days 14, 17.5) fall in the holiday: skipped, not postponed, and
    // still counted by the escalation.
    let plan = DosePlan::new(&s);
    assert_eq!(plan.arm_dose(0, h(11.0)), 20.0, "latest bolus");
    assert_eq!(plan.arm_dose(0, h(15.0)), 0.0, "holiday");
    assert_eq!(
        plan.arm_dose(0, h(3.0)),
        50.0,
        "the loading dose is the latest"
    );
}

#[test]
fn weekday_patterns_are_series_and_keep_their_days() {
    let m = minimal();
    let s = Schedule::load(
        &repo("models/schedules/minimal_loop_xenograft_intermittent.toml"),
        &m,
    )
    .unwrap();
    let got = boluses(&DosePlan::new(&s).fixed_events().unwrap());
    let days: Vec<f64> = got.iter().map(|b| b.0 / 24.0).collect();
    let expected: Vec<f64> = (0..(s.duration / 24.0) as i64)
        .filter(|d| d % 7 < 5 && !(21..35).contains(d))
        .map(|d| d as f64)
        .collect();
    assert_eq!(days.len(), expected.len(), "{days:?}");
    for (a, b) in days.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-9, "{days:?}");
    }
}

#[test]
fn fractional_intervals_and_points_in_hours_models() {
    let m = minimal();
    let s = schedule(
        &m,
        r#"
[schedule]
name = "frac"
setting = "in_vivo"
duration = "10d"
points = 7

[[drug]]
name = "tki"
dose = "25 mg/kg"
every = "3.5d"
"#,
    );
    assert!((s.readout_every - 240.0 / 7.0).abs() < 1e-12);
    let got = boluses(&DosePlan::new(&s).fixed_events().unwrap());
    same(&got, &[(0.0, 25.0), (84.0, 25.0), (168.0, 25.0)]);
}

#[test]
fn the_dose_spec_escalates_concentrations_too() {
    let m = minimal();
    let ev = parse_dose_spec(
        &m,
        "tki=0.5uM@72h,x2,escalate_every=2,cap=1.5uM",
        24.0 * 30.0,
    )
    .unwrap();
    let v: Vec<f64> = ev
        .iter()
        .map(|e| match e.kind {
            DoseKind::SetConcentration { value } => value,
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(v, [0.5, 0.5, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]);
    assert!(parse_dose_spec(&m, "tki=0.5uM@72h,+1mg/kg", 100.0)
        .unwrap_err()
        .to_string()
        .contains("an mg/kg step on a concentration dose"));
}

#[test]
fn drug_quantities_are_set_like_parameters() {
    let mut m = minimal();
    let base = Exposure::new(&m);
    let sets = [
        "drug.tki.half_life=16".to_string(),
        "drug.tki.volume=2.5".to_string(),
        "drug.hdaci.hdaci_effect.ic50=20".to_string(),
        "k_erode=0.01".to_string(),
    ];
    let p = apply_sets_checked(&mut m, &sets, false).unwrap();
    assert_eq!(p[m.param_index("k_erode").unwrap()], 0.01);
    let pk = m.drugs[0].in_vivo.unwrap();
    assert_eq!((pk.half_life, pk.volume), (16.0, 2.5));
    let e = m.effects.iter().find(|e| e.name == "hdaci_effect").unwrap();
    assert_eq!(e.ic50.as_const(), Some(20.0));
    // The exposure follows: twice the concentration (half the volume), half the decay.
    let bolus = |x: &mut Exposure, m: &CompiledModel| {
        x.apply(
            &DoseEvent {
                time: 0.0,
                drug: 0,
                kind: DoseKind::Bolus { mg_per_kg: 10.0 },
            },
            m,
        )
        .unwrap();
        x.concentration(0, 16.0)
    };
    let (mut a, mut b) = (base, Exposure::new(&m));
    let before = bolus(&mut a, &minimal());
    let after = bolus(&mut b, &m);
    assert!(
        (after / before - 2.0 * 2.0).abs() < 1e-9,
        "{before} {after}"
    );
    let err = |s: &str| {
        apply_sets_checked(&mut minimal(), &[s.to_string()], true)
            .unwrap_err()
            .to_string()
    };
    assert!(err("drug.tkk.half_life=1").contains("did you mean `tki`"));
    assert!(err("drug.tki.halflife=1").contains("drug.tki.half_life"));
    assert!(err("drug.tki.medium_half_life=1").contains("stable in the medium"));
    assert!(err("drug.tki.volume=0").contains("positive"));
}

fn sweep_file(dir: &Path, points: &str) -> String {
    std::fs::write(dir.join("points.csv"), points).unwrap();
    format!(
        r#"
seed = 1
design = {{ kind = "explicit", file = "points.csv" }}

[model]
file = "{}"
set = {{ "drug.tki.volume" = 2.5 }}

[schedule]
days = 6
doses = ["tki=25mg/kg@24h"]
points = 24

[[parameters]]
name = "drug.tki.half_life"
lo = 1.0
hi = 48.0
scale = "log"

[[metrics]]
kind = "final_population"
"#,
        repo("models/minimal_loop.toml").display()
    )
}

#[test]
fn a_sweep_varies_a_drug_half_life_and_ignores_extra_columns() {
    let dir = tempfile::tempdir().unwrap();
    let text = sweep_file(
        dir.path(),
        "label,drug.tki.half_life,measured\nshort,2,0.1\nlong,40,0.9\n",
    );
    let path = dir.path().join("sweep.toml");
    let sw = load_model_sweep_str(&path, text.clone(), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Design::ignored_columns(&sw.spec).unwrap(),
        ["label", "measured"]
    );
    assert_eq!(sw.evaluator.model.drugs[0].in_vivo.unwrap().volume, 2.5);
    let design = Design::generate(&sw.spec).unwrap();
    let v: Vec<f64> = design
        .points
        .iter()
        .map(|p| sw.evaluator.evaluate(&p.values, 0).unwrap()[0])
        .collect();
    assert!(v[1] < v[0], "a longer half-life keeps more drug: {v:?}");
    // The evaluator's own model is untouched by a point.
    assert_eq!(sw.evaluator.model.drugs[0].in_vivo.unwrap().half_life, 8.0);

    // Bounds: required and positive.
    let bad = text.replace("lo = 1.0\n", "lo = -1.0\n");
    let e = load_model_sweep_str(&path, bad, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`parameters.drug.tki.half_life.lo`"), "{e}");
    assert!(e.contains("must be positive"), "{e}");
    let bad = text.replace("lo = 1.0\n", "");
    let e = load_model_sweep_str(&path, bad, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("give `lo`"), "{e}");
    // A parameter column twice is an error.
    let text = sweep_file(dir.path(), "drug.tki.half_life,drug.tki.half_life\n2,3\n");
    let e = load_model_sweep_str(&path, text, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("two columns are named `drug.tki.half_life`"),
        "{e}"
    );
}
