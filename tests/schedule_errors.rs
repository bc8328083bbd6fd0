//! Bad schedules through the binary: each error names the file, line, column and
//! field, the exit status is non-zero, and no output folder is created. A run that
//! fails numerically reports the time and writes nothing either.

use std::path::Path;
use std::process::Command;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/minimal_loop.toml");

const IN_VITRO: &str = r#"[schedule]
name = "bad"
setting = "in_vitro"
duration = "30d"

[culture]
refresh_every = "72h"
confluence_cap = 4e6
split = 8

[[drug]]
name = "tki"
concentration = "1 uM"
"#;

const IN_VIVO: &str = r#"[schedule]
name = "bad"
setting = "in_vivo"
duration = "21d"

[[drug]]
name = "tki"
dose = "25 mg/kg"
days = "5/7"
"#;

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

/// 1-based line and column of the first occurrence of `needle`.
fn at(text: &str, needle: &str) -> (usize, usize) {
    let off = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the schedule"));
    let line = text[..off].matches('\n').count() + 1;
    let col = off - text[..off].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The schedule `text` with `from` replaced by `to` must fail at `to` (its first
/// occurrence, or `locate` if given) naming `field` and saying `message`.
fn expect(base: &str, from: &str, to: &str, locate: Option<&str>, field: &str, message: &str) {
    assert!(base.contains(from), "`{from}` not in the base schedule");
    let text = base.replacen(from, to, 1);
    let (line, col) = at(&text, locate.unwrap_or(to));
    let (stderr, code, wrote) = therapy(Path::new(MODEL), &text);
    assert_ne!(code, 0, "expected failure for `{to}`; stderr: {stderr}");
    assert!(!wrote, "no output folder may be created on error ({to})");
    let loc = format!("bad.toml:{line}:{col}");
    assert!(stderr.contains(&loc), "want {loc} in: {stderr}");
    assert!(
        stderr.contains(&format!("`{field}`")),
        "want field `{field}` in: {stderr}"
    );
    assert!(stderr.contains(message), "want `{message}` in: {stderr}");
}

#[test]
fn unknown_drug() {
    expect(
        IN_VITRO,
        r#"name = "tki""#,
        r#"name = "tkii""#,
        Some(r#""tkii""#),
        "drug[1].name",
        "has no drug `tkii` (did you mean `tki`?)",
    );
}

#[test]
fn mg_per_kg_on_an_in_vitro_schedule() {
    expect(
        IN_VITRO,
        r#""1 uM""#,
        r#""50 mg/kg""#,
        None,
        "drug[tki].concentration",
        "an mg/kg dose on an in vitro schedule",
    );
}

#[test]
fn concentration_on_an_in_vivo_schedule() {
    expect(
        IN_VIVO,
        r#""25 mg/kg""#,
        r#""1 uM""#,
        None,
        "drug[tki].dose",
        "a concentration on an in vivo schedule",
    );
    expect(
        IN_VIVO,
        r#"dose = "25 mg/kg""#,
        r#"concentration = "1 uM""#,
        Some(r#""1 uM""#),
        "drug[tki].concentration",
        "a concentration on an in vivo schedule",
    );
}

#[test]
fn mg_per_kg_for_a_drug_without_pharmacokinetics() {
    expect(
        IN_VIVO,
        r#"name = "tki""#,
        r#"name = "hdaci""#,
        Some(r#""25 mg/kg""#),
        "drug[hdaci].dose",
        "has no `[drugs.hdaci.in_vivo]` pharmacokinetics",
    );
}

#[test]
fn overlapping_ladder_steps() {
    expect(
        IN_VITRO,
        r#"concentration = "1 uM""#,
        r#"ladder = [
  { concentration = "2 nM", duration = "4d" },
  { concentration = "5 nM", duration = "4d", from = "3d" },
]"#,
        Some(r#""3d""#),
        "drug[tki].ladder[2].from",
        "must not overlap",
    );
}

#[test]
fn negative_and_non_finite_amounts() {
    expect(
        IN_VITRO,
        r#""1 uM""#,
        r#""-1 uM""#,
        None,
        "drug[tki].concentration",
        "non-negative",
    );
    expect(
        IN_VITRO,
        r#""1 uM""#,
        r#""inf uM""#,
        None,
        "drug[tki].concentration",
        "finite",
    );
    expect(
        IN_VIVO,
        r#""25 mg/kg""#,
        r#""NaN mg/kg""#,
        None,
        "drug[tki].dose",
        "finite",
    );
    expect(
        IN_VITRO,
        "split = 8",
        "split = nan",
        Some("nan"),
        "culture.split",
        "a split ratio K > 1",
    );
}

#[test]
fn refresh_interval_of_zero() {
    expect(
        IN_VITRO,
        r#""72h""#,
        r#""0h""#,
        None,
        "culture.refresh_every",
        "expected a positive duration",
    );
}

#[test]
fn stop_before_start() {
    expect(
        IN_VITRO,
        r#"concentration = "1 uM""#,
        "concentration = \"1 uM\"\nstart = \"10d\"\nstop = \"5d\"",
        Some(r#""5d""#),
        "drug[tki].stop",
        "not after its start",
    );
    expect(
        IN_VIVO,
        r#"days = "5/7""#,
        "days = \"5/7\"\nholidays = [[\"9d\", \"2d\"]]",
        Some(r#""2d""#),
        "drug[tki].holidays[1]",
        "not after it starts",
    );
}

#[test]
fn durations_need_units_and_keys_must_exist() {
    expect(
        IN_VITRO,
        r#"duration = "30d""#,
        r#"duration = "30""#,
        Some(r#""30""#),
        "schedule.duration",
        "has no unit",
    );
    expect(
        IN_VITRO,
        "split = 8",
        "splitt = 8",
        None,
        "culture.splitt",
        "unknown field `splitt`",
    );
    expect(
        IN_VITRO,
        "split = 8",
        "split = \"8\"",
        Some("\"8\""),
        "culture.split",
        "invalid type",
    );
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
