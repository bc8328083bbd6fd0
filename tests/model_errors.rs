//! Every kind of bad model file gives an error naming file, line and column, exits
//! non-zero, and writes nothing to --out.

mod common;

use std::process::Command;

const GOOD: &str = r#"[model]
name = "t"
title = "test"
time_unit = "hours"
description = "test model"

[species.X]
initial = 1.0
unit = "a.u."
description = "x"
rate = "k_deg * (1 - X)"

[parameters.k_deg]
value = 0.1
unit = "1/h"
bounds = [0.01, 1.0]
provenance = "assumed"
note = "test"

[fate]
division = "0.01"
death = "0.001"
"#;

/// Run `resloop simulate` on `text`; return (stderr, out dir existed afterwards).
fn simulate(text: &str) -> (String, bool, i32) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args([
            "simulate",
            file.to_str().unwrap(),
            "--days",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    (stderr, out.exists(), o.status.code().unwrap_or(-1))
}

/// Assert the error cites bad.toml at `line:col` and contains `needle`.
fn expect(text: &str, line: usize, col: usize, needle: &str) {
    let (stderr, wrote, code) = simulate(text);
    assert_ne!(code, 0, "expected failure; stderr: {stderr}");
    assert!(!wrote, "nothing may be written to --out on error");
    let loc = format!("bad.toml:{line}:{col}");
    assert!(
        stderr.contains(&loc),
        "expected location {loc} in: {stderr}"
    );
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
}

fn line_col(text: &str, needle: &str) -> (usize, usize) {
    let off = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    let line = text[..off].matches('\n').count() + 1;
    let col = off - text[..off].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn good_model_runs() {
    let (stderr, wrote, code) = simulate(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(wrote);
}

#[test]
fn malformed_toml() {
    let bad = GOOD.replace("value = 0.1", "value = = 0.1");
    let (l, c) = line_col(&bad, "= 0.1");
    expect(&bad, l, c, "");
}

#[test]
fn unknown_key() {
    let bad = GOOD.replace("unit = \"1/h\"", "unit = \"1/h\"\nvalu = 3");
    let (l, c) = line_col(&bad, "valu =");
    expect(&bad, l, c, "unknown field `valu`");
}

#[test]
fn unknown_name_with_suggestion() {
    let bad = GOOD.replace("k_deg * (1 - X)", "k_dge * (1 - X)");
    let (l, c) = line_col(&bad, "k_dge");
    expect(&bad, l, c, "unknown name `k_dge` (did you mean `k_deg`?)");
}

#[test]
fn wrong_function_arity() {
    let bad = GOOD.replace("k_deg * (1 - X)", "k_deg * hill(X, 0.5)");
    let (l, c) = line_col(&bad, "hill(X");
    expect(
        &bad,
        l,
        c,
        "function `hill` takes 3 arguments but was given 2",
    );
}

#[test]
fn duplicate_name() {
    let bad = GOOD.replace("[fate]", "[parameters.X]\nvalue = 1.0\nunit = \"1\"\nprovenance = \"assumed\"\nnote = \"dup\"\n\n[fate]");
    let (l, c) = line_col(&bad, "X]\nvalue = 1.0");
    expect(
        &bad,
        l,
        c,
        "duplicate name `X`: already declared as a species",
    );
}

#[test]
fn non_finite_initial_value() {
    let bad = GOOD.replace("initial = 1.0", "initial = nan");
    let (l, c) = line_col(&bad, "nan");
    expect(&bad, l, c, "expected a finite initial value");
}

#[test]
fn negative_initial_value() {
    let bad = GOOD.replace("initial = 1.0", "initial = -2.0");
    let (l, c) = line_col(&bad, "-2.0");
    expect(&bad, l, c, "expected a non-negative initial value");
}

#[test]
fn bounds_exclude_value() {
    let bad = GOOD.replace("bounds = [0.01, 1.0]", "bounds = [0.2, 1.0]");
    let (l, c) = line_col(&bad, "[0.2, 1.0]");
    expect(&bad, l, c, "bounds [0.2, 1] exclude the value 0.1");
}

#[test]
fn expression_syntax_error() {
    let bad = GOOD.replace("k_deg * (1 - X)", "k_deg * (1 - X");
    let (l, c) = line_col(&bad, "\"\n\n[parameters");
    expect(&bad, l, c, "expected `)`");
}

#[test]
fn mutation_probability_out_of_range() {
    let bad = GOOD.to_string() + "\n[genotypes.m]\nmutation_probability = 1.5\n";
    let (l, c) = line_col(&bad, "1.5");
    expect(&bad, l, c, "expected a probability in [0, 1]");
}

#[test]
fn observable_referring_to_observable() {
    let bad = GOOD.replace(
        "[fate]",
        "[observables.a]\nexpr = \"X\"\n[observables.b]\nexpr = \"2 * a\"\n\n[fate]",
    );
    let (l, c) = line_col(&bad, "a\"\n\n[fate]");
    expect(&bad, l, c, "observables may not refer to other observables");
}

#[test]
fn missing_file_is_an_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args(["check", "no/such/model.toml"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/model.toml"));
}

#[test]
fn bad_dose_and_set_are_errors_before_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, GOOD).unwrap();
    let out = dir.path().join("out");
    for extra in [
        ["--set", "k_dg=0.2"],
        ["--dose", "nodrug=1uM@24h"],
        ["--set", "k_deg=abc"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
            .args([
                "simulate",
                file.to_str().unwrap(),
                "--days",
                "1",
                "--out",
                out.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(0));
        assert!(!out.exists());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(extra[1].split('=').next().unwrap()), "{e}");
    }
}

#[test]
fn check_strict_fails_on_missing_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, GOOD.replace("provenance = \"assumed\"\n", "")).unwrap();
    let run = |strict: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_resloop"));
        c.args(["check", file.to_str().unwrap()]);
        if strict {
            c.arg("--strict");
        }
        c.output().unwrap()
    };
    let lax = run(false);
    assert_eq!(lax.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lax.stderr).contains("has no provenance"));
    assert_ne!(run(true).status.code(), Some(0));
}
