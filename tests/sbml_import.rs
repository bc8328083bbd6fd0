//! SBML import against analytic solutions: concentration and amount semantics,
//! compartments that are not 1, a time-triggered event, a state-triggered event
//! located exactly; and the shipped example imports and runs.

use std::path::Path;

use resloop::compile::{compile_str, BoundModel};
use resloop::engine::ode::{simulate, OdeOptions, Timeline};
use resloop::sbml::{import_str, Role};

fn model(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m">
{body}
  </model>
</sbml>"#
    )
}

fn run(xml: &str, t_end: f64, n_out: usize) -> Timeline {
    let imported = import_str(Path::new("test.xml"), xml).unwrap_or_else(|e| panic!("{e}"));
    let m = compile_str(Path::new("test.toml"), &imported.toml).unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let mut o = OdeOptions::new(t_end);
    o.n_out = n_out;
    o.rtol = 1e-10;
    o.atol = 1e-14;
    simulate(&m, &b, &[], &o).unwrap().timeline
}

fn series(tl: &Timeline, name: &str) -> Vec<f64> {
    let c = tl.columns.iter().position(|c| c.variable == name).unwrap();
    tl.series(c)
}

const DECAY: &str = r#"
    <listOfCompartments><compartment id="c" size="2" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="A" compartment="c" initialAmount="3" hasOnlySubstanceUnits="HOSU" boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters><parameter id="k" value="0.5" constant="true"/></listOfParameters>
    <listOfReactions>
      <reaction id="R" reversible="false">
        <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci> k </ci><ci> A </ci></apply>
        </math></kineticLaw>
      </reaction>
    </listOfReactions>"#;

/// Rate `k A` with A a concentration in a compartment of 2: the amount decays at
/// k / 2 (the rate is substance per time, the state a concentration); with
/// `hasOnlySubstanceUnits` the same law makes the amount decay at k.
#[test]
fn concentration_and_amount_semantics() {
    let tl = run(&model(&DECAY.replace("HOSU", "false")), 4.0, 4);
    for (t, a) in tl.times.iter().zip(series(&tl, "A")) {
        let want = 1.5 * (-0.25 * t).exp();
        assert!((a - want).abs() < 1e-8 * want, "t {t}: {a} vs {want}");
    }
    let tl = run(&model(&DECAY.replace("HOSU", "true")), 4.0, 4);
    for (t, a) in tl.times.iter().zip(series(&tl, "A")) {
        let want = 3.0 * (-0.5 * t).exp();
        assert!((a - want).abs() < 1e-8 * want, "t {t}: {a} vs {want}");
    }
}

/// An event refills A (a concentration) to 1.5 when it falls below 0.5: the
/// crossings, every 4 ln 3, are located on the solver's dense output, so the whole
/// sawtooth matches the analytic solution restarted at each crossing.
#[test]
fn state_event_is_located_on_the_trajectory() {
    let events = r#"
    <listOfEvents>
      <event id="refill" useValuesFromTriggerTime="true">
        <trigger initialValue="true" persistent="true">
          <math xmlns="http://www.w3.org/1998/Math/MathML"><apply><lt/><ci> A </ci><cn> 0.5 </cn></apply></math>
        </trigger>
        <listOfEventAssignments>
          <eventAssignment variable="A"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn> 1.5 </cn></math></eventAssignment>
        </listOfEventAssignments>
      </event>
    </listOfEvents>"#;
    let xml = model(&(DECAY.replace("HOSU", "false") + events));
    let tl = run(&xml, 10.0, 100);
    // Concentration 1.5 e^{-t/4}: reaches 0.5 at t* = 4 ln 3, then restarts.
    let ts = 4.0 * 3f64.ln();
    for (t, a) in tl.times.iter().zip(series(&tl, "A")) {
        let since = if *t < ts {
            *t
        } else {
            t - ts * (t / ts).floor()
        };
        let want = 1.5 * (-0.25 * since).exp();
        assert!((a - want).abs() < 1e-7, "t {t}: {a} vs {want}");
    }
}

/// Assignment rules read each other (inlined into observables), an initial
/// assignment reads a rule, a function definition and piecewise translate, and
/// ids that are resloop words are renamed.
#[test]
fn rules_initial_assignments_functions_and_reserved_names() {
    let xml = model(
        r#"
    <listOfFunctionDefinitions>
      <functionDefinition id="twice"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <lambda><bvar><ci> x </ci></bvar><apply><times/><cn> 2 </cn><ci> x </ci></apply></lambda>
      </math></functionDefinition>
    </listOfFunctionDefinitions>
    <listOfParameters>
      <parameter id="t" value="3" constant="true"/>
      <parameter id="y" constant="false"/>
      <parameter id="z" constant="false"/>
      <parameter id="w" constant="true"/>
      <parameter id="r" value="0" constant="false"/>
    </listOfParameters>
    <listOfInitialAssignments>
      <initialAssignment symbol="w"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><plus/><ci> z </ci><cn> 1 </cn></apply></math></initialAssignment>
    </listOfInitialAssignments>
    <listOfRules>
      <assignmentRule variable="y"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><ci> twice </ci><ci> t </ci></apply></math></assignmentRule>
      <assignmentRule variable="z"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <piecewise><piece><ci> y </ci><apply><gt/><ci> r </ci><cn> 1 </cn></apply></piece><otherwise><cn> -1 </cn></otherwise></piecewise>
      </math></assignmentRule>
      <rateRule variable="r"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn> 1 </cn></math></rateRule>
    </listOfRules>"#,
    );
    let imported = import_str(Path::new("test.xml"), &xml).unwrap();
    assert_eq!(imported.symbols["t"].name, "t_");
    assert_eq!(imported.symbols["y"].role, Role::Observable);
    assert_eq!(imported.symbols["r"].role, Role::State);
    assert_eq!(imported.symbols["w"].initial, 0.0, "z = -1 at the start");
    let tl = run(&xml, 2.0, 4);
    assert_eq!(series(&tl, "y"), vec![6.0; 5]);
    assert_eq!(series(&tl, "z"), vec![-1.0, -1.0, -1.0, 6.0, 6.0]);
}

/// The example shipped for the README imports and runs; its event sets the
/// inhibitor at 48 h.
#[test]
fn shipped_example_imports_and_runs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sbml/goodwin_loop.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let tl = run(&xml, 96.0, 8);
    let inh = series(&tl, "inhibitor");
    assert_eq!(&inh[..4], &[0.0; 4]);
    assert!(inh[4..].iter().all(|&v| v == 0.6), "{inh:?}");
}

/// Export writes SBML that imports back to the same trajectory, bit for bit (the
/// shipped example: rules, a function, piecewise, an event).
#[test]
fn export_round_trip_is_exact() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sbml/goodwin_loop.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let first = import_str(&path, &xml).unwrap();
    let model = compile_str(Path::new("first.toml"), &first.toml).unwrap();
    let plain = resloop::sbml::export::Run::of(&model);
    let exported = resloop::sbml::export::export(&model, &plain).unwrap().xml;
    let a = run(&xml, 96.0, 48);
    let b = run(&exported, 96.0, 48);
    for name in [
        "mRNA",
        "protein",
        "repressor",
        "inhibitor",
        "repressed",
        "transcription",
    ] {
        assert_eq!(series(&a, name), series(&b, name), "{name}");
    }
}
