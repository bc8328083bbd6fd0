//! The schedule mechanics of therapy runs against closed forms: ladder steps, media
//! refresh of a drug that decays in the medium, in vivo bolus trains on days-of-week
//! patterns with a holiday, and passaging at the confluence cap.

mod common;

use std::path::Path;

use common::{header, model};
use resloop::compile::CompiledModel;
use resloop::schedule::Schedule;
use resloop::therapy::{self, EventKind, TherapyOptions, TherapyResult};

fn schedule(m: &CompiledModel, text: &str) -> Schedule {
    Schedule::parse(Path::new("s.toml"), text, m).unwrap_or_else(|e| panic!("{e}"))
}

fn tight() -> TherapyOptions {
    TherapyOptions {
        rtol: 1e-10,
        atol: 1e-12,
        ..TherapyOptions::default()
    }
}

fn run(m: &CompiledModel, s: &Schedule) -> TherapyResult {
    therapy::run(m, s, &tight()).unwrap_or_else(|e| panic!("{e}"))
}

fn series(r: &TherapyResult, pop: &str, var: &str) -> Vec<f64> {
    let c = r
        .timeline
        .column(pop, var)
        .unwrap_or_else(|| panic!("no column {pop}/{var}"));
    r.timeline.series(c)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300) || (a == 0.0 && b == 0.0)
}

/// A flat population (division = death) and one drug with no effect, in days.
fn flat_model(drug: &str) -> CompiledModel {
    model(
        &(header("days")
            + r#"
[species.X]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"
"# + drug + r#"
[fate]
division = "0.1"
death = "0.1"
"#),
    )
}

#[test]
fn ladder_applies_exactly_the_listed_concentrations_for_the_listed_durations() {
    let m = flat_model(
        r#"
[drugs.d]
unit = "nM"
description = "stable in the medium"
"#,
    );
    // Steps from day 1: 2 nM for 4 d, 5 nM (written in uM) for 3 d, a gap of one day,
    // 10 nM for 36 h from day 9, then 20 nM held until the arm stops at day 18.
    let s = schedule(
        &m,
        r#"
[schedule]
name = "ladder"
setting = "in_vitro"
duration = "20d"
readout_every = "3h"
[[drug]]
name = "d"
start = "1d"
stop = "18d"
ladder = [
  { concentration = "2 nM", duration = "4d" },
  { concentration = "0.005 uM", duration = "3d" },
  { concentration = "10 nM", duration = "36h", from = "9d" },
  { concentration = "20 nM", duration = "2d" },
]
"#,
    );
    let r = run(&m, &s);
    let want = |t: f64| -> f64 {
        match t {
            t if t < 1.0 => 0.0,
            t if t < 5.0 => 2.0,
            t if t < 8.0 => 5.0,
            t if t < 9.0 => 0.0,
            t if t < 10.5 => 10.0,
            t if t < 18.0 => 20.0,
            _ => 0.0,
        }
    };
    let exposure = series(&r, "exposure", "d");
    let dose = series(&r, "dose", "d");
    assert_eq!(r.timeline.times.len(), 20 * 8 + 1);
    for (k, &t) in r.timeline.times.iter().enumerate() {
        assert!(
            close(exposure[k], want(t), 1e-12),
            "t = {t}: {}",
            exposure[k]
        );
        assert!(close(dose[k], want(t), 1e-12), "t = {t}: dose {}", dose[k]);
    }
    let changes: Vec<(f64, f64)> = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DoseChange)
        .map(|e| (e.time, e.value))
        .collect();
    let expect = [
        (1.0, 2.0),
        (5.0, 5.0),
        (8.0, 0.0),
        (9.0, 10.0),
        (10.5, 20.0),
        (18.0, 0.0),
    ];
    assert_eq!(changes.len(), expect.len(), "{changes:?}");
    for ((t, v), (te, ve)) in changes.iter().zip(expect) {
        assert!(close(*t, te, 1e-12) && close(*v, ve, 1e-12), "{changes:?}");
    }
    // Exposure AUC = sum of concentration x duration, in nM x day.
    let auc = 2.0 * 4.0 + 5.0 * 3.0 + 10.0 * 1.5 + 20.0 * 7.5;
    assert!(close(r.summary.drugs[0].auc_unit_days, auc, 1e-12));
    assert_eq!(
        r.summary.drugs[0].final_dose, 0.0,
        "the arm stopped at day 18"
    );
    assert_eq!(r.summary.drugs[0].max_dose, 20.0);
}

#[test]
fn media_refresh_resets_a_decaying_concentration() {
    // Half-life 1 day in the medium, refreshed every 3 days at 100 nM.
    let m = flat_model(
        r#"
[drugs.d]
unit = "nM"
description = "decays in the medium"
[drugs.d.in_vitro]
medium_half_life = 1.0
"#,
    );
    let s = schedule(
        &m,
        r#"
[schedule]
name = "refresh"
setting = "in_vitro"
duration = "10d"
readout_every = "6h"
[culture]
refresh_every = "72h"
[[drug]]
name = "d"
concentration = "100 nM"
"#,
    );
    let r = run(&m, &s);
    let exposure = series(&r, "exposure", "d");
    for (k, &t) in r.timeline.times.iter().enumerate() {
        // After the refresh at a refresh time; t = 10 is the end (no refresh there).
        let since = if t >= 10.0 {
            t - 9.0
        } else {
            t - 3.0 * (t / 3.0).floor()
        };
        let want = 100.0 * 0.5f64.powf(since);
        assert!(
            close(exposure[k], want, 1e-12),
            "t = {t}: {} vs {want}",
            exposure[k]
        );
        assert!(close(series(&r, "dose", "d")[k], 100.0, 0.0));
    }
    // The AUC of the sawtooth: three full 3-day cycles and one day.
    let ln2 = std::f64::consts::LN_2;
    let auc = 100.0 / ln2 * (3.0 * (1.0 - 0.125) + 0.5);
    assert!(close(r.summary.drugs[0].auc_unit_days, auc, 1e-12));
}

#[test]
fn bolus_trains_on_a_days_of_week_pattern_match_the_closed_form() {
    // 10 mg/kg into 2 L/kg = 5 mg/L = 5 ug/ml per bolus; half-life 6 h.
    let m = flat_model(
        r#"
[drugs.d]
unit = "ug/ml"
description = "dosed in vivo"
[drugs.d.in_vivo]
half_life = 0.25
volume = 2.0
"#,
    );
    let s = schedule(
        &m,
        r#"
[schedule]
name = "train"
setting = "in_vivo"
duration = "21d"
readout_every = "3h"
[[drug]]
name = "d"
dose = "10 mg/kg"
days = "3/7"
start = "2d"
stop = "20d"
holidays = [["9d", "12d"]]
"#,
    );
    let r = run(&m, &s);
    // Days 1, 3, 5 of each week from day 2: 2, 4, 6, 9, 11, 13, 16, 18; the
    // holiday [9, 12) removes 9 and 11.
    let want_times = [2.0, 4.0, 6.0, 13.0, 16.0, 18.0];
    let given: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Bolus)
        .map(|e| e.time)
        .collect();
    assert_eq!(given.len(), want_times.len(), "{given:?}");
    for (a, b) in given.iter().zip(want_times) {
        assert!(close(*a, b, 1e-12), "{given:?}");
    }
    let k = std::f64::consts::LN_2 / 0.25;
    let closed = |t: f64| -> f64 {
        want_times
            .iter()
            .filter(|&&ti| ti <= t + 1e-12)
            .map(|&ti| 5.0 * (-k * (t - ti)).exp())
            .sum()
    };
    let exposure = series(&r, "exposure", "d");
    for (i, &t) in r.timeline.times.iter().enumerate() {
        assert!(
            (exposure[i] - closed(t)).abs() <= 1e-12 * closed(t).max(1e-9),
            "t = {t}: {} vs {}",
            exposure[i],
            closed(t)
        );
    }
    let d = &r.summary.drugs[0];
    assert_eq!((d.boluses, d.total_mg_per_kg), (6, 60.0));
    let auc: f64 = want_times
        .iter()
        .map(|&ti| 5.0 / k * (1.0 - (-k * (21.0 - ti)).exp()))
        .sum();
    assert!(
        close(d.auc_unit_days, auc, 1e-12),
        "{} vs {auc}",
        d.auc_unit_days
    );
}

#[test]
fn passaging_keeps_the_dish_under_the_cap_and_is_recorded() {
    // Net growth 0.7 / day, no carrying capacity: the expanded population is
    // exactly 1e5 e^{0.7 t} whatever the passages.
    let m = model(
        &(header("days")
            + r#"
[species.X]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"
[fate]
division = "0.9"
death = "0.2"
initial_cells = 1e5
"#),
    );
    let s = schedule(
        &m,
        r#"
[schedule]
name = "passage"
setting = "in_vitro"
duration = "30d"
readout_every = "12h"
[culture]
refresh_every = "24h"
confluence_cap = 1e6
split = 4
"#,
    );
    let r = run(&m, &s);
    let total = series(&r, "total", "cells");
    let expanded = series(&r, "total", "expanded_cells");
    for (k, &t) in r.timeline.times.iter().enumerate() {
        assert!(total[k] < 1e6, "t = {t}: {} cells at a readout", total[k]);
        let want = 1e5 * (0.7 * t).exp();
        assert!(
            close(expanded[k], want, 1e-8),
            "t = {t}: {} vs {want}",
            expanded[k]
        );
    }
    let passages: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Passage)
        .collect();
    // ln(1e5 e^{21} / 1e6) / ln 4 splits were needed.
    let needed = ((21.0 - 10f64.ln()) / 4f64.ln()).floor() as usize;
    assert!(
        passages.len() == needed || passages.len() == needed + 1,
        "{} passages, about {needed} needed",
        passages.len()
    );
    assert_eq!(r.summary.passages, passages.len());
    for p in &passages {
        assert!(
            p.value >= 1e6,
            "passage at {} cells, below the cap",
            p.value
        );
        // Passages happen when the dish is handled: a refresh (daily) or a readout.
        assert!(close(p.time * 2.0, (p.time * 2.0).round(), 1e-12));
    }
    let last = r.timeline.times.len() - 1;
    assert!(close(
        expanded[last] / total[last],
        4f64.powi(passages.len() as i32),
        1e-12
    ));
}

#[test]
fn one_thread_and_many_give_the_same_run() {
    let m = model(include_str!("../models/minimal_loop.toml"));
    let s = Schedule::load(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/schedules/minimal_loop_ladder.toml"
        )),
        &m,
    )
    .unwrap();
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let a = pool(1).install(|| therapy::run(&m, &s, &TherapyOptions::default()).unwrap());
    let b = pool(2).install(|| therapy::run(&m, &s, &TherapyOptions::default()).unwrap());
    assert_eq!(a.timeline.values, b.timeline.values);
    assert_eq!(a.events, b.events);
    assert!(!a.ic50.is_empty());
    for (x, y) in a.ic50.iter().zip(&b.ic50) {
        assert_eq!((x.ic50, x.fold), (y.ic50, y.fold));
    }
}

/// `run_replicates` binds the model once and shares it between the replicates run
/// in parallel; each replicate is still the run `therapy::run` makes alone (nothing
/// of one replicate's run leaks into another's through the shared binding).
#[test]
fn replicates_on_one_binding_are_the_runs_made_alone() {
    let m = model(include_str!("../models/mir34a_axl.toml"));
    let mut s = Schedule::load(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/schedules/mir34a_axl_xenograft.toml"
        )),
        &m,
    )
    .unwrap();
    // A small tumour: its births and deaths are drawn one by one.
    s.duration = 30.0 * 24.0 / s.hours_per_unit;
    s.initial_cells = Some(500.0);
    let o = TherapyOptions {
        engine: resloop::engine::EngineKind::Hybrid,
        ..TherapyOptions::default()
    };
    let shared = therapy::run_replicates(&m, &s, &o, 6).unwrap();
    assert_eq!(shared.len(), 6);
    for (r, a) in shared.iter().enumerate() {
        let alone = therapy::run(
            &m,
            &s,
            &TherapyOptions {
                replicate: r as u64,
                ..o.clone()
            },
        )
        .unwrap();
        assert_eq!(a.timeline.values, alone.timeline.values, "replicate {r}");
        assert_eq!(a.final_state, alone.final_state, "replicate {r}");
    }
    // The replicates differ (a stochastic engine): the test can see a mix-up.
    assert_ne!(shared[0].final_state, shared[1].final_state);
}
