//! SBML export of models with cells, genotypes, drugs and doses: importing the
//! export gives back (as a plain ODE model whose species include the cells and the
//! drug concentrations) the trajectory of resloop's mean-field engine on the
//! original model, for every shipped model under its scenario and for a variant
//! that uses what the shipped models do not (a medium half-life, a genotype
//! chain, mutants present at the start, mixed in vitro and in vivo doses, changed
//! parameters, fewer cells). libRoadRunner's side of the round trip is
//! `benches/roadrunner/sbml_roundtrip.py`.

use std::path::{Path, PathBuf};

use resloop::compile::{compile_file, compile_str, BoundModel, CompiledModel};
use resloop::engine::ode::{simulate, OdeOptions, Timeline};
use resloop::engine::EngineKind;
use resloop::experiment::SimulateRequest;
use resloop::sbml::export::{export, Exported, Run};
use resloop::sbml::import_str;

const RTOL: f64 = 1e-10;
const ATOL: f64 = 1e-12;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The original model on the mean-field engine.
fn mean_field(
    path: &Path,
    days: f64,
    doses: &[String],
    sets: &[String],
    cells: Option<f64>,
) -> Timeline {
    let mut req = SimulateRequest::new(path, days);
    req.doses = doses.to_vec();
    req.drug_free = doses.is_empty();
    req.sets = sets.to_vec();
    req.cells = cells;
    req.rtol = RTOL;
    req.atol = ATOL;
    req.points = 120;
    req.engine = Some(EngineKind::MeanField);
    let (_, _, mut runs) = resloop::experiment::simulate(&req).unwrap_or_else(|e| panic!("{e}"));
    runs.swap_remove(0).timeline
}

/// The export under the same run, imported back and run as a plain ODE model.
fn exported(
    m: &CompiledModel,
    run: &Run,
    days: f64,
) -> (Exported, resloop::sbml::Imported, Timeline) {
    let ex = export(m, run).unwrap();
    let imported = import_str(Path::new("exported.xml"), &ex.xml).unwrap_or_else(|e| panic!("{e}"));
    let plain = compile_str(Path::new("imported.toml"), &imported.toml).unwrap();
    assert!(!plain.has_cells);
    let b = BoundModel::new(&plain, &plain.param_values()).unwrap();
    let mut o = OdeOptions::new(days * 24.0 / m.meta.time_unit.hours());
    o.n_out = 120;
    o.rtol = RTOL;
    o.atol = ATOL;
    let tl = simulate(&plain, &b, &[], &o).unwrap().timeline;
    (ex, imported, tl)
}

/// Every column of the original timeline against the imported export's, at every
/// output time: the largest relative difference (values below atol / rtol, where
/// the solvers control absolute error, skipped), and where.
fn largest_difference(
    original: &Timeline,
    ex: &Exported,
    imported: &resloop::sbml::Imported,
    again: &Timeline,
) -> (f64, String) {
    assert_eq!(ex.columns.len(), original.columns.len());
    let mut worst = (0.0, String::new());
    for (c, col) in ex.columns.iter().zip(&original.columns) {
        assert_eq!(
            (&c.population, &c.variable),
            (&col.population, &col.variable)
        );
        let name = &imported.symbols[&c.id].name;
        let j = again
            .columns
            .iter()
            .position(|k| &k.variable == name)
            .unwrap_or_else(|| panic!("{} ({name}) is not in the imported timeline", c.id));
        let i = original.column(&col.population, &col.variable).unwrap();
        for (a, b) in original.series(i).iter().zip(again.series(j)) {
            if a.abs().max(b.abs()) < ATOL / RTOL {
                continue;
            }
            let rel = (a - b).abs() / a.abs();
            if rel > worst.0 {
                worst = (rel, format!("{}/{}", col.population, col.variable));
            }
        }
    }
    worst
}

/// Every shipped model under its scenario: the imported export follows the
/// mean-field run to the solvers' tolerance (both at rtol 1e-10).
#[test]
fn shipped_models_round_trip_under_their_scenarios() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".toml") || name.ends_with(".facts.toml") {
            continue;
        }
        let m = compile_file(&path).unwrap();
        let sc = m.scenario.clone().expect("shipped models have a scenario");
        let t_end = sc.days * 24.0 / m.meta.time_unit.hours();
        let mut run = Run::of(&m);
        for d in &sc.doses {
            run.doses.extend(d.events(t_end).unwrap());
        }
        assert!(!run.doses.is_empty(), "{name}: a dosed scenario");
        let specs: Vec<String> = sc.doses.iter().map(|d| d.text.clone()).collect();
        let original = mean_field(&path, sc.days, &specs, &[], None);
        let (ex, imported, again) = exported(&m, &run, sc.days);
        let (worst, at) = largest_difference(&original, &ex, &imported, &again);
        println!("{name}: largest relative difference {worst:.2e} ({at})");
        assert!(worst < 1e-6, "{name}: {worst:e} at {at}");
        n += 1;
    }
    assert!(n >= 4);
}

/// What the shipped models do not use: a drug with a medium half-life, a mutant of
/// a mutant (overrides inherited along the chain), mutants present at t = 0, a
/// drug given in vitro and then as boluses, `--set` of a parameter and of a drug's
/// half-life, fewer cells.
#[test]
fn variant_with_chain_half_life_and_mixed_doses_round_trips() {
    let text = std::fs::read_to_string(root().join("models/minimal_loop.toml")).unwrap();
    let text =
        text.replace(
            "[drugs.hdaci.effects.hdaci_effect]",
            "[drugs.hdaci.in_vitro]\nmedium_half_life = 30.0\n[drugs.hdaci.effects.hdaci_effect]",
        )
        .replace(
            "[genotypes.gatekeeper]\nmutation_probability = 1.0e-7",
            "[genotypes.gatekeeper]\nmutation_probability = 1.0e-4\ninitial_fraction = 0.01",
        ) + "\n[genotypes.double]\nparent = \"gatekeeper\"\nmutation_probability = 1.0e-3\n\
           initial_fraction = 0.001\ndescription = \"a second hit\"\n\
           [genotypes.double.overrides]\nk_kill = 0.01\n";
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sbml_export_variant");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("variant.toml");
    std::fs::write(&path, &text).unwrap();
    let mut m = compile_file(&path).unwrap();
    assert!(m.drugs[1].medium_half_life.is_some());
    assert_eq!(m.genotypes.len(), 3);
    let days = 30.0;
    let doses: Vec<String> = ["tki=1uM@72hx3", "hdaci=10nM@48h", "tki=25mg/kg@24h"]
        .map(String::from)
        .to_vec();
    // A parameter and a drug's half-life (`--set` changes the model's PK).
    let sets = vec![
        "k_erode=0.01".to_string(),
        "drug.tki.half_life=6".to_string(),
    ];
    let t_end = days * 24.0;
    let mut run = Run::of(&m);
    run.params = resloop::experiment::apply_sets(&mut m, &sets).unwrap();
    run.cells = 2e5;
    for d in &doses {
        run.doses
            .extend(resloop::pkpd::parse_dose_spec(&m, d, t_end).unwrap());
    }
    let original = mean_field(&path, days, &doses, &sets, Some(2e5));
    let (ex, imported, again) = exported(&m, &run, days);
    let (worst, at) = largest_difference(&original, &ex, &imported, &again);
    println!("variant: largest relative difference {worst:.2e} ({at})");
    assert!(worst < 1e-6, "{worst:e} at {at}");
    // The second hit inherits the gatekeeper's IC50 and has its own k_kill; the
    // gatekeeper's own effect is shared by both mutants.
    for id in [
        "ic50_drug_gatekeeper",
        "k_kill_double",
        "tki_block_gatekeeper",
    ] {
        assert!(ex.xml.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(!ex.xml.contains("ic50_drug_double"));
    assert!(ex.xml.contains("hdaci_medium_half_life"));
    assert!(ex.xml.contains(
        r#"<parameter id="tki_half_life" name="elimination half-life of tki in vivo" value="6.0""#
    ));
}

/// Ids resloop allows and SBML does not (`.`) are made valid; a clash with a
/// model name moves the derived id aside; wrong run data is an error.
#[test]
fn ids_and_bad_runs() {
    let text = r#"
[model]
name = "m.v2"
title = "dots"
time_unit = "days"
description = "ids that SBML does not allow"
source = "test"
[species."a.b"]
initial = 1.0
unit = "1"
description = "a"
rate = "-k * a.b"
[species.cells_parental]
initial = 2.0
unit = "1"
description = "a species named as the export names cells"
rate = "0"
[parameters.k]
value = 0.5
[fate]
division = "0.1"
death = "0.01"
"#;
    let m = compile_str(Path::new("dots.toml"), text).unwrap();
    let ex = export(&m, &Run::of(&m)).unwrap();
    assert!(ex.xml.contains(r#"<model id="m_v2""#), "{}", &ex.xml[..400]);
    assert!(ex.xml.contains(r#"id="a_b""#));
    // The model's own species keeps its id; the export's cells move aside.
    let cells = ex
        .columns
        .iter()
        .find(|c| c.population == "parental" && c.variable == "cells")
        .unwrap();
    assert_eq!(cells.id, "cells_parental_");
    import_str(Path::new("dots.xml"), &ex.xml).unwrap_or_else(|e| panic!("{e}"));
    let mut bad = Run::of(&m);
    bad.params.pop();
    assert!(export(&m, &bad).is_err());
}
