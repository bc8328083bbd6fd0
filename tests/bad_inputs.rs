//! Bad inputs as data: every folder under `tests/bad_inputs/` is one case, run by the
//! `resloop` binary, that must fail with the message it names (see the folder's
//! README.md for the format). Filter as usual:
//! `cargo test --release --test bad_inputs -- points`.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

const CASES: &str = "tests/bad_inputs";

fn main() {
    let args = Arguments::from_args();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(CASES)
        .expect("tests/bad_inputs is readable")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.join("cmd").is_file())
        .collect();
    dirs.sort();
    let trials = dirs
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            Trial::test(name, move || run_case(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Run one case: substitute `{here}`, `{models}` and `{out}` in `cmd`, run it, and
/// check the exit code is 1, every line of `expect` occurs in stderr (every line of
/// the optional `once` exactly once) and `{out}` was not created.
fn run_case(dir: &Path) -> Result<(), Failed> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{f}: {e}"));
    let tmp = tempfile::tempdir()?;
    let out = tmp.path().join("out");
    let here = std::fs::canonicalize(dir)?;
    let models = std::fs::canonicalize("models")?;
    let fill = |w: &str| {
        w.replace("{here}", &here.to_string_lossy())
            .replace("{models}", &models.to_string_lossy())
            .replace("{out}", &out.to_string_lossy())
    };
    let cmd = read("cmd")?;
    let words: Vec<String> = cmd
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace().map(fill).collect::<Vec<_>>())
        .collect();
    let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args(&words)
        .output()?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() != Some(1) {
        return Err(format!(
            "expected exit code 1, got {:?}; stderr:\n{stderr}",
            o.status
        )
        .into());
    }
    for want in read("expect")?
        .lines()
        .map(fill)
        .filter(|l| !l.trim().is_empty())
    {
        if !stderr.contains(want.as_str()) {
            return Err(format!("expected `{want}` in stderr:\n{stderr}").into());
        }
    }
    if let Ok(once) = read("once") {
        for want in once.lines().map(fill).filter(|l| !l.trim().is_empty()) {
            let n = stderr.matches(want.as_str()).count();
            if n != 1 {
                return Err(
                    format!("expected `{want}` once in stderr, found {n}:\n{stderr}").into(),
                );
            }
        }
    }
    if out.exists() {
        return Err(format!("{} was created by a failed run", out.display()).into());
    }
    Ok(())
}
