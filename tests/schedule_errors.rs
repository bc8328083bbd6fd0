//! A run that fails numerically reports the time and writes nothing. (The bad
//! schedules, each error naming the file, line, column and field, are data cases in
//! `tests/bad_inputs/schedule_*`.)

use std::path::Path;
use std::process::Command;

/// Run `resloop therapy` on schedule text; (stderr, exit code, out dir exists).
fn therapy(model: &Path, text: &str) -> (String, i32, bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args(["therapy"])
        .arg(model)
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stderr).to_string(),
        o.status.code().unwrap_or(-1),
        out.exists(),
    )
}

#[test]
fn numerical_failure_reports_the_time_and_writes_nothing() {
    // dX/dt = X^2 from X = 1 blows up at t = 1 h.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("blowup.toml");
    std::fs::write(
        &model,
        r#"[model]
name = "blowup"
title = "finite-time blow-up"
time_unit = "hours"
description = "dX/dt = X^2 has X = 1 / (1 - t)"

[species.X]
initial = 1.0
unit = "1"
description = "explodes at t = 1"
rate = "X^2"

[fate]
division = "0.01"
death = "0.001"
"#,
    )
    .unwrap();
    let text = "[schedule]\nname = \"x\"\nsetting = \"in_vitro\"\nduration = \"2d\"\n";
    let (stderr, code, wrote) = therapy(&model, text);
    assert_ne!(code, 0, "{stderr}");
    assert!(!wrote, "nothing may be written after a numerical failure");
    assert!(stderr.contains("numerical failure at t = "), "{stderr}");
    assert!(stderr.contains("`x`"), "names the schedule: {stderr}");
}
