//! Start and stop rules that act at the event itself, on any engine: an arm that
//! starts when the population reaches a size, a run that stops when one genotype
//! reaches a size, progression at an absolute size, and an arm that ends on
//! resistance.

mod common;

use std::path::Path;

use resloop::compile::{compile_file, CompiledModel};
use resloop::engine::ode::Method;
use resloop::engine::EngineKind;
use resloop::schedule::Schedule;
use resloop::therapy::{self, EventKind, ResistanceRule, StopReason, TherapyOptions};

fn model() -> CompiledModel {
    compile_file(Path::new("models/minimal_loop.toml")).unwrap()
}

fn schedule(m: &CompiledModel, text: &str) -> Schedule {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    Schedule::load(&path, m).unwrap()
}

fn options(engine: EngineKind) -> TherapyOptions {
    TherapyOptions {
        engine,
        seed: 3,
        ..TherapyOptions::default()
    }
}

const HEAD: &str = r#"
[schedule]
name = "rules"
setting = "in_vitro"
readout_every = "1d"
initial_cells = 1e5
"#;

#[test]
fn an_arm_starts_when_the_population_reaches_its_size() {
    let m = model();
    let s = schedule(
        &m,
        &format!(
            "{HEAD}duration = \"20d\"\n\n[[drug]]\nname = \"tki\"\nstart = \"on_size\"\nstart_cells = 3.3e5\nconcentration = \"1 uM\"\n"
        ),
    );
    let r = therapy::run(&m, &s, &options(EngineKind::MeanField)).unwrap();
    let start = r
        .events
        .iter()
        .find(|e| e.kind == EventKind::ArmStart)
        .expect("the arm started");
    assert!(start.time > 0.0 && start.time < s.duration);
    // The same model without drug, run to that time, holds the start size then: the
    // start is at the crossing, not at the next daily readout.
    let free = schedule(&m, &format!("{HEAD}duration = \"{}h\"\n", start.time));
    let f = therapy::run(&m, &free, &options(EngineKind::MeanField)).unwrap();
    let cells = f.summary.final_cells;
    assert!(
        (cells / 3.3e5 - 1.0).abs() < 1e-5,
        "{cells} cells at the arm's start, t = {} h",
        start.time
    );
    // Before the start no drug, after it the drug.
    let tl = &r.timeline;
    let dose = tl.column("dose", "tki").unwrap();
    for i in 0..tl.times.len() {
        let want = if tl.times[i] < start.time { 0.0 } else { 1.0 };
        assert_eq!(tl.get(i, dose), want, "t = {}", tl.times[i]);
    }
}

#[test]
fn a_run_stops_when_a_genotype_reaches_its_size() {
    let m = model();
    let s = schedule(
        &m,
        &format!(
            "{HEAD}duration = \"26w\"\n\n[[drug]]\nname = \"tki\"\nconcentration = \"1 uM\"\n\n[stop]\ngenotype_cells = {{ gatekeeper = 50 }}\n"
        ),
    );
    for engine in [EngineKind::MeanField, EngineKind::Hybrid] {
        let r = therapy::run(&m, &s, &options(engine)).unwrap();
        assert_eq!(
            r.summary.stop_reason,
            StopReason::GenotypeCells,
            "{engine:?}"
        );
        let tl = &r.timeline;
        let g = tl.column("gatekeeper", "cells").unwrap();
        let last = tl.get(tl.times.len() - 1, g);
        // Whole cells on the hybrid (the birth that makes the 50th), the crossing of
        // the trajectory on the mean field.
        assert!(
            (50.0..50.0 + 1e-3).contains(&last),
            "{engine:?}: {last} cells"
        );
        assert!(r.summary.end_time < s.duration);
    }
}

#[test]
fn progression_at_an_absolute_size_and_an_arm_that_ends_on_it() {
    let m = model();
    // The drug alone kills the parental cells; gatekeeper mutants regrow. Progression:
    // back up to 2e5 cells after the first dose; the drug's arm ends there.
    let s = schedule(
        &m,
        &format!(
            "{HEAD}duration = \"26w\"\n\n[[drug]]\nname = \"tki\"\nstop = \"on_resistance\"\nconcentration = \"1 uM\"\n\n[resistance]\ncells_above = 2e5\n"
        ),
    );
    let r = therapy::run(&m, &s, &options(EngineKind::MeanField)).unwrap();
    assert_eq!(r.summary.resistance_rule, Some(ResistanceRule::Threshold));
    let t = r.summary.time_to_resistance.unwrap();
    let tl = &r.timeline;
    let dose = tl.column("dose", "tki").unwrap();
    for i in 0..tl.times.len() {
        let want = if tl.times[i] < t { 1.0 } else { 0.0 };
        assert_eq!(tl.get(i, dose), want, "t = {}", tl.times[i]);
    }
    let ev = r
        .events
        .iter()
        .find(|e| e.kind == EventKind::Resistance(ResistanceRule::Threshold))
        .unwrap();
    assert!(
        (ev.value / 2e5 - 1.0).abs() < 1e-5,
        "{} cells at the event",
        ev.value
    );
}

#[test]
fn bad_rules_are_refused_with_the_field() {
    let m = model();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[drug]]\nname = \"tki\"\nstart = \"on_size\"\nconcentration = \"1 uM\"\n",
            "start_cells",
        ),
        (
            "[[drug]]\nname = \"tki\"\nstart = \"on_size\"\nstart_cells = 1e6\nstart_genotype = \"nope\"\nconcentration = \"1 uM\"\n",
            "no genotype `nope`",
        ),
        (
            "[[drug]]\nname = \"tki\"\nstop = \"on_resistance\"\nconcentration = \"1 uM\"\n",
            "no resistance rule can fire",
        ),
        (
            "[[drug]]\nname = \"tki\"\nconcentration = \"1 uM\"\n\n[stop]\ngenotype_cells = { gatekeepr = 5 }\n",
            "did you mean",
        ),
        (
            "[[drug]]\nname = \"tki\"\nconcentration = \"1 uM\"\n\n[resistance]\nvolume_above = 1.0\n",
            "in vivo size",
        ),
    ];
    for (body, want) in cases {
        let path = dir.path().join("s.toml");
        std::fs::write(&path, format!("{HEAD}duration = \"2d\"\n\n{body}")).unwrap();
        let e = Schedule::load(&path, &m).unwrap_err().to_string();
        assert!(e.contains(want), "{body}: {e}");
        assert!(e.contains("s.toml:"), "{e}");
    }
}

#[test]
fn the_host_sets_take_growth_and_capacity_in_vivo() {
    // Constant division 1/day and death 0.2/day; in the host a tenth of the cells take
    // and divide at 0.4 times their culture rate.
    // The mutant genotype is never reached (probability 0): every cell is parental.
    let m = common::birth_death(1.0, 0.2, 0.0, 1.0, 0.2, 1e6);
    let host = |extra: &str| {
        schedule(
            &m,
            &format!(
                "[schedule]\nname = \"host\"\nsetting = \"in_vivo\"\nduration = \"10d\"\nreadout_every = \"1d\"\ninitial_cells = 1e5\n\n[tumour]\ntake = 0.1\ngrowth = 0.4\n{extra}"
            ),
        )
    };
    let r = therapy::run(&m, &host(""), &options(EngineKind::MeanField)).unwrap();
    let want = 1e4 * ((0.4 * 1.0 - 0.2) * 10.0f64).exp();
    let got = r.summary.final_cells;
    assert!((got / want - 1.0).abs() < 1e-5, "{got} vs {want}");
    // A host capacity of 2e5 cells (0.2 mm^3 at 1e-6 mm^3 per cell) crowds division
    // only: dN/dt = (0.4 (1 - N/2e5) - 0.2) N, logistic with rate 0.2 and plateau 1e5.
    let r = therapy::run(
        &m,
        &host("max_volume = 0.2\n"),
        &options(EngineKind::MeanField),
    )
    .unwrap();
    let (a, k) = (0.4 - 0.2, 2e5 * 0.2 / 0.4);
    let want = k / (1.0 + (k / 1e4 - 1.0) * (-a * 10.0f64).exp());
    let got = r.summary.final_cells;
    assert!((got / want - 1.0).abs() < 1e-5, "{got} vs {want}");
}

/// An in vivo schedule of the birth-death model (division 1/day, death 0.2/day) with
/// this `[tumour]` table.
fn in_vivo(m: &CompiledModel, tumour: &str) -> Schedule {
    schedule(
        m,
        &format!(
            "[schedule]\nname = \"host\"\nsetting = \"in_vivo\"\nduration = \"10d\"\nreadout_every = \"0.5d\"\ninitial_cells = 1e5\n\n[tumour]\n{tumour}"
        ),
    )
}

fn total_cells(r: &therapy::TherapyResult) -> Vec<f64> {
    r.timeline
        .series(r.timeline.column("total", "cells").unwrap())
}

/// A dosed xenograft with a lag: drug exposure decays (the right-hand side depends on
/// time) and division starts at the lag's end. Every method runs it and agrees with
/// the others. Rosenbrock methods once stalled at the lag's end: their `df/dt`
/// reached across it, and their last stage at the step's end saw division start.
#[test]
fn a_dosed_xenograft_with_a_lag_runs_on_every_method() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let m = compile_file(&root.join("models/minimal_loop.toml")).unwrap();
    let text =
        std::fs::read_to_string(root.join("models/schedules/minimal_loop_xenograft_daily.toml"))
            .unwrap()
            .replace(
                "detection_limit = 1.0",
                "detection_limit = 1.0\nlag = \"2.5d\"",
            );
    assert!(text.contains("lag ="));
    let s = schedule(&m, &text);
    let run = |method| {
        let opts = TherapyOptions {
            method,
            rtol: 1e-8,
            ..options(EngineKind::MeanField)
        };
        let r = therapy::run(&m, &s, &opts).unwrap_or_else(|e| panic!("{method:?}: {e}"));
        total_cells(&r)
    };
    let reference = run(Method::Dopri5);
    for method in Method::ALL {
        for (k, (got, want)) in run(method).iter().zip(&reference).enumerate() {
            assert!(
                (got / want - 1.0).abs() < 1e-5,
                "{method:?}, readout {k}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn no_cell_divides_during_the_hosts_lag() {
    // Half the injected cells take; for 3 days they only die (0.2/day), then they
    // divide at 0.4 times their culture rate: N(t) = 5e4 e^(-0.2 t) up to day 3,
    // then N(3) e^((0.4 - 0.2)(t - 3)).
    let m = common::birth_death(1.0, 0.2, 0.0, 1.0, 0.2, 1e6);
    let s = in_vivo(&m, "take = 0.5\ngrowth = 0.4\nlag = \"3d\"\n");
    // Every method: a step that ends at the lag's end evaluates its last stage there,
    // and must not see division start (Rosenbrock steps once shrank to underflow).
    for method in Method::ALL {
        let opts = TherapyOptions {
            method,
            ..options(EngineKind::MeanField)
        };
        let r = therapy::run(&m, &s, &opts).unwrap_or_else(|e| panic!("{method:?}: {e}"));
        let n = total_cells(&r);
        for (&t, &got) in r.timeline.times.iter().zip(&n) {
            let want = if t <= 3.0 {
                5e4 * (-0.2 * t).exp()
            } else {
                5e4 * (-0.6f64).exp() * (0.2 * (t - 3.0)).exp()
            };
            assert!(
                (got / want - 1.0).abs() < 1e-5,
                "{method:?}, day {t}: {got} vs {want}"
            );
        }
    }
    // The stochastic engines: each injected cell takes on its own (a binomial draw,
    // the same for the same seed and replicate, another for another replicate); whole
    // cells die during the lag and none is born; the tumour grows after it.
    let small = in_vivo(&m, "take = 0.01\ngrowth = 0.4\nlag = \"3d\"\n");
    for engine in [EngineKind::Hybrid, EngineKind::AgentBased] {
        let r = therapy::run(&m, &small, &options(engine)).unwrap();
        let n = total_cells(&r);
        let lag_end = r.timeline.times.iter().position(|&t| t >= 3.0).unwrap();
        // Binomial(1e5, 0.01): mean 1000, sd 31.
        assert!(
            n[0].fract() == 0.0 && (n[0] - 1000.0).abs() < 160.0,
            "{engine:?}: {}",
            n[0]
        );
        for k in 0..lag_end {
            assert!(
                n[k + 1] <= n[k],
                "{engine:?}: a cell divided in the lag: {n:?}"
            );
        }
        // n0 e^(-0.6) survivors expected, binomial sd ~16.
        let want = n[0] * (-0.6f64).exp();
        assert!(
            (n[lag_end] - want).abs() < 100.0,
            "{engine:?}: {} vs {want}",
            n[lag_end]
        );
        let end = *n.last().unwrap();
        assert!(end > 2.0 * n[lag_end], "{engine:?}: {end} after the lag");
        let again = therapy::run(&m, &small, &options(engine)).unwrap();
        assert_eq!(
            total_cells(&again)[0],
            n[0],
            "{engine:?}: the same seed, the same draw"
        );
    }
    let takers = |replicate| {
        let o = TherapyOptions {
            replicate,
            ..options(EngineKind::Hybrid)
        };
        total_cells(&therapy::run(&m, &small, &o).unwrap())[0]
    };
    let draws: Vec<f64> = (0..4).map(takers).collect();
    assert!(
        draws.iter().any(|&d| d != draws[0]),
        "every replicate drew the same takers: {draws:?}"
    );
}

#[test]
fn the_model_sets_how_well_its_cells_take() {
    // `[fate] take` reads the loop state: a species that settles at `a` (0.2 for the
    // base genotype, 0.8 for the mutant after 30 days of equilibration); the host
    // takes half of those.
    let text = |take: &str| {
        format!(
            r#"
[model]
name = "take"
title = "Take from the loop state"
time_unit = "days"
description = "a species x settles at a; cells take with probability x"

[species.x]
initial = 0.5
unit = "1"
description = "stemness"
rate = "a - x"

[parameters.a]
value = 0.2
unit = "1"
provenance = "assumed"
note = "settled x"

[fate]
division = "1"
death = "0"
take = "{take}"

[genotypes.stem]
mutation_probability = 0.0
initial_fraction = 0.25
description = "settles higher"
[genotypes.stem.overrides]
a = 0.8
"#
        )
    };
    let m = common::model(&text("x"));
    let s = schedule(
        &m,
        "[schedule]\nname = \"take\"\nsetting = \"in_vivo\"\nduration = \"1d\"\nreadout_every = \"1d\"\nequilibrate = \"30d\"\ninitial_cells = 1e5\n\n[tumour]\ntake = 0.5\nlag = \"0.5d\"\n",
    );
    let r = therapy::run(&m, &s, &options(EngineKind::MeanField)).unwrap();
    let at0 = |g: &str| r.timeline.series(r.timeline.column(g, "cells").unwrap())[0];
    let want = [
        ("parental", 0.75e5 * 0.5 * 0.2),
        ("stem", 0.25e5 * 0.5 * 0.8),
    ];
    for (g, w) in want {
        assert!((at0(g) / w - 1.0).abs() < 1e-6, "{g}: {} vs {w}", at0(g));
    }
    // In culture nothing is injected: every cell counts.
    let dish = schedule(
        &m,
        "[schedule]\nname = \"dish\"\nsetting = \"in_vitro\"\nduration = \"1d\"\nreadout_every = \"1d\"\ninitial_cells = 1e5\n",
    );
    let r = therapy::run(&m, &dish, &options(EngineKind::MeanField)).unwrap();
    assert!((total_cells(&r)[0] - 1e5).abs() < 1e-6);
    // A take that is not a fraction is an error naming the genotype.
    let bad = common::model(&text("x + 0.5"));
    let e = therapy::run(&bad, &s, &options(EngineKind::MeanField))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`stem`") && e.contains("[0, 1]"), "{e}");
}
