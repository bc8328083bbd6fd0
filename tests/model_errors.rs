//! A good model runs; a missing file, a bad `--set` or `--dose` and `check --strict`
//! fail before any output. (Every kind of bad model file, each error naming file,
//! line and column, is a data case in `tests/bad_inputs/model_*`.)

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

#[test]
fn good_model_runs() {
    let (stderr, wrote, code) = simulate(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(wrote);
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
