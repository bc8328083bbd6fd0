//! Bad fact files: every mistake names the file, line, column and field.

use std::path::Path;

use resloop::facts;

const HEAD: &str =
    "[facts]\nmodel = \"minimal_loop.toml\"\n\n[states.parental]\nequilibrate = \"30d\"\n\n";

fn parse(body: &str) -> String {
    // Parsed as if it sat in models/, so the model path resolves.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test.facts.toml");
    match facts::parse(&path, format!("{HEAD}{body}")) {
        Ok(_) => panic!("accepted a bad fact file:\n{body}"),
        Err(e) => e.to_string(),
    }
}

fn fact(kind_and_fields: &str) -> String {
    format!(
        "[[fact]]\nid = \"x\"\nrole = \"calibration\"\nclaim = \"c\"\nstudy = \"s\"\nexpect = {{ min = 1 }}\n{kind_and_fields}\n"
    )
}

fn line_of(err: &str) -> usize {
    // "path:LINE:COL: ..."
    let rest = err.split(".toml:").nth(1).expect("error cites the file");
    rest.split(':').next().unwrap().parse().unwrap()
}

#[test]
fn unknown_state_is_named_with_a_suggestion_and_line() {
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"mirna\"\ntest = { state = \"parentl\" }\ncontrol = { state = \"parental\" }",
    ));
    assert!(e.contains("no state `parentl`"), "{e}");
    assert!(e.contains("parental"), "{e}");
    assert!(e.contains("fact[x].test.state"), "{e}");
    assert_eq!(line_of(&e), 15, "{e}");
}

#[test]
fn unknown_quantity_drug_and_parameter() {
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"mirnaa\"\ntest = { state = \"parental\" }\ncontrol = { state = \"parental\" }",
    ));
    assert!(
        e.contains("`mirnaa` is not a species") && e.contains("mirna"),
        "{e}"
    );
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"mirna\"\ntest = { state = \"parental\", drugs = { tkk = \"1 uM\" } }\ncontrol = { state = \"parental\" }",
    ));
    assert!(e.contains("no drug `tkk`") && e.contains("tki"), "{e}");
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"mirna\"\ntest = { state = \"parental\", set = { k_mirr = 1.0 } }\ncontrol = { state = \"parental\" }",
    ));
    assert!(
        e.contains("no parameter `k_mirr`") && e.contains("k_mir"),
        "{e}"
    );
}

#[test]
fn amounts_must_be_concentrations_with_known_units() {
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"mirna\"\ntest = { state = \"parental\", drugs = { tki = \"50 mg/kg\" } }\ncontrol = { state = \"parental\" }",
    ));
    assert!(e.contains("not mg/kg"), "{e}");
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"mirna\"\ntest = { state = \"parental\", drugs = { tki = \"1 parsec\" } }\ncontrol = { state = \"parental\" }",
    ));
    assert!(e.contains("unknown unit"), "{e}");
    let e = parse(&fact(
        "kind = \"ratio\"\nquantity = \"cells\"\ntest = { state = \"parental\", duration = \"72\" }\ncontrol = { state = \"parental\" }",
    ));
    assert!(e.contains("no unit") && e.contains("duration"), "{e}");
}

#[test]
fn kinds_fields_and_ids_are_checked() {
    let e = parse(&fact("kind = \"ratios\""));
    assert!(e.contains("unknown fact kind `ratios`"), "{e}");
    let e = parse(&fact("kind = \"ic50\"\ntest = { state = \"parental\" }"));
    assert!(e.contains("needs `drug`"), "{e}");
    let e = parse(&fact("kind = \"ratio\"\nquantity = \"mirna\"\ntest = { state = \"parental\" }\ncontrol = { state = \"parental\" }\nbogus = 1"));
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let twice = fact("kind = \"value\"\nquantity = \"mirna\"\ntest = { state = \"parental\" }");
    let e = parse(&format!("{twice}\n{twice}"));
    assert!(e.contains("used twice"), "{e}");
    let e = parse(&fact(
        "kind = \"crossing_time\"\nstate = \"parental\"\nquantity = \"mirna\"\nthreshold = 0.5",
    ));
    assert!(e.contains("has no schedule"), "{e}");
}

#[test]
fn every_fact_declares_its_role() {
    let body = "kind = \"value\"\nquantity = \"mirna\"\ntest = { state = \"parental\" }";
    let e = parse(&fact(body).replace("role = \"calibration\"\n", ""));
    assert!(
        e.contains("fact[x].role") && e.contains("role = \"prediction\""),
        "{e}"
    );
    assert_eq!(line_of(&e), 8, "{e}");
    let e = parse(&fact(body).replace("\"calibration\"", "\"target\""));
    assert!(e.contains("unknown role `target`"), "{e}");
    assert_eq!(line_of(&e), 9, "{e}");
}

#[test]
fn states_must_not_loop_and_schedules_must_exist() {
    let e = parse("[states.a]\nfrom = \"b\"\n[states.b]\nfrom = \"a\"\n");
    assert!(e.contains("must not start from themselves"), "{e}");
    let e = parse("[states.r]\nschedule = \"schedules/nope.toml\"\n");
    assert!(e.contains("no schedule file"), "{e}");
}

#[test]
fn validate_exits_non_zero_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let bad = dir.path().join("bad.facts.toml");
    std::fs::write(
        &bad,
        format!(
            "[facts]\nmodel = \"{}\"\n\n[[fact]]\nid = \"x\"\nrole = \"calibration\"\nclaim = \"c\"\nstudy = \"s\"\nkind = \"value\"\nquantity = \"mirna\"\ntest = {{ state = \"nope\" }}\nexpect = {{ min = 1 }}\n",
            models.join("minimal_loop.toml").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args([
            "validate",
            bad.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("bad.facts.toml:11:"), "{err}");
    assert!(!out.join("validate.csv").exists());
}
