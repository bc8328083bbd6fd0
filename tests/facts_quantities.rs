//! Fact quantities written as expressions, facts the model cannot express yet, and
//! where a fact file finds its model.

use std::path::Path;

use resloop::facts::{self, Role, Runner, Status};

const STATES: &str = "[states.parental]\nequilibrate = \"5d\"\n\n";

fn fact(id: &str, quantity: &str, extra: &str) -> String {
    format!(
        "[[fact]]\nid = \"{id}\"\nrole = \"prediction\"\nclaim = \"c\"\nstudy = \"s\"\nkind = \"value\"\nquantity = \"{quantity}\"\ntest = {{ state = \"parental\" }}\nexpect = {{ min = 0 }}\n{extra}\n"
    )
}

fn load_beside_models(body: &str) -> Result<facts::FactFile, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test.facts.toml");
    facts::parse(
        &path,
        format!("[facts]\nmodel = \"minimal_loop.toml\"\n\n{STATES}{body}"),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn an_expression_quantity_is_evaluated_on_the_state() {
    let file = load_beside_models(&format!(
        "{}{}{}",
        fact("plain", "mirna", ""),
        fact("twice", "2 * mirna", ""),
        fact("ratio", "mirna / bypass + k_mir - k_mir", "")
    ))
    .unwrap();
    assert_eq!(file.expressions.len(), 2);
    let out = Runner::new(&file).run_all();
    let v: Vec<f64> = out.iter().map(|o| o.reading.unwrap().value).collect();
    assert!((v[1] / v[0] - 2.0).abs() < 1e-12, "{v:?}");
    assert!(v[2] > 0.0 && v[2].is_finite());
    assert!(out.iter().all(|o| o.role == Role::Prediction));
}

#[test]
fn a_bad_expression_names_the_column() {
    let e = load_beside_models(&fact("x", "mirna / bypas", "")).unwrap_err();
    assert!(
        e.contains("unknown name `bypas`") && e.contains("bypass"),
        "{e}"
    );
    // Line 13 of the file; column of `bypas` inside the string (after `quantity = "`).
    assert!(e.contains("test.facts.toml:13:21"), "{e}");
    let e = load_beside_models(&fact("x", "mirna * t", "")).unwrap_err();
    assert!(e.contains("time `t`"), "{e}");
    let e = load_beside_models(&fact("x", "mirna +", "")).unwrap_err();
    assert!(e.contains("quantity expression"), "{e}");
}

#[test]
fn a_known_failure_may_name_what_the_model_lacks() {
    let file =
        load_beside_models(&fact("later", "FGFR1", "known_failure = \"no FGFR1 yet\"")).unwrap();
    let out = Runner::new(&file).run_all();
    assert_eq!(out[0].status, Status::KnownFailure);
    assert!(out[0].detail.contains("cannot express") && out[0].detail.contains("FGFR1"));
    // Without the mark it is an error, as any unknown name.
    let e = load_beside_models(&fact("later", "FGFR1", "")).unwrap_err();
    assert!(e.contains("`FGFR1` is not a species"), "{e}");
}

#[test]
fn model_paths_resolve_beside_the_file_or_from_the_working_directory() {
    // Tests run in the package root, so `models/minimal_loop.toml` is found from the
    // working directory even though the fact file lives elsewhere.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("elsewhere.facts.toml");
    let body = fact("plain", "mirna", "");
    let file = facts::parse(
        &path,
        format!("[facts]\nmodel = \"models/minimal_loop.toml\"\n\n{STATES}{body}"),
    )
    .unwrap();
    assert_eq!(file.model_path, Path::new("models/minimal_loop.toml"));
    let e = facts::parse(
        &path,
        format!("[facts]\nmodel = \"nowhere.toml\"\n\n{STATES}{body}"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("beside the fact file") && e.contains("working directory"),
        "{e}"
    );
}
