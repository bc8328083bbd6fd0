//! Every command of the README tour and of docs/tutorial.md runs as written, from a
//! temporary folder that links the repository's `models/`, `examples/` and `docs/`
//! (so `out/...`, and defaults such as `validate`'s `out/validate`, land there): the
//! docs cannot drift from the command line. `demo` is left to CI's smoke run.

use std::path::Path;
use std::process::Command;

/// Commands in the ```sh blocks of `text` that start with `prefix`, continuation
/// lines (`\`) joined.
fn commands(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = t == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let t = t.split(" # ").next().unwrap_or(t).trim();
        let (body, more) = match t.strip_suffix('\\') {
            Some(b) => (b.trim(), true),
            None => (t, false),
        };
        match current.as_mut() {
            Some(c) => {
                c.push(' ');
                c.push_str(body);
            }
            None if body.starts_with(prefix) => current = Some(body[prefix.len()..].to_string()),
            None => continue,
        }
        if !more {
            out.extend(current.take());
        }
    }
    out
}

/// Split on whitespace, keeping '...' quoted words whole.
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut w = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmd.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut w));
                    any = false;
                }
            }
            c => {
                w.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(w);
    }
    out
}

fn run_all(doc: &str, prefix: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(doc)).unwrap();
    let cmds = commands(&text, prefix);
    assert!(cmds.len() >= 5, "{doc}: found only {cmds:?}");
    let tmp = tempfile::tempdir().unwrap();
    for d in ["models", "examples", "docs"] {
        std::os::unix::fs::symlink(root.join(d), tmp.path().join(d)).unwrap();
    }
    for cmd in cmds {
        let mut w = words(&cmd);
        if w.first().is_some_and(|x| x == "demo") {
            continue;
        }
        w.push("--quiet".into());
        let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
            .args(&w)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{doc}: `resloop {cmd}` failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn readme_tour_runs_as_written() {
    run_all("README.md", "cargo run --release -- ");
}

#[test]
fn tutorial_runs_as_written() {
    run_all("docs/tutorial.md", "resloop ");
}

/// Every figure the tutorial embeds is in the repository.
#[test]
fn tutorial_figures_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/tutorial.md")).unwrap();
    let figures: Vec<&str> = text
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|l| l.ends_with(".png"))
        .collect();
    assert!(figures.len() >= 5, "{figures:?}");
    for f in figures {
        assert!(
            root.join("docs").join(f).is_file(),
            "docs/tutorial.md embeds {f}, which is missing"
        );
    }
}

#[test]
fn command_extraction() {
    let t = "```sh\nresloop a --x 'p=1@2h' \\\n    --out out/x\nresloop b # note\n```\nresloop c\n";
    assert_eq!(
        commands(t, "resloop "),
        vec!["a --x 'p=1@2h' --out out/x", "b"]
    );
    assert_eq!(words("a --x 'p=1 @2h' y"), vec!["a", "--x", "p=1 @2h", "y"]);
}
