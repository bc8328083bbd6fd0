//! Every shipped schedule (`models/schedules/<model>_*.toml`) loads against its model
//! without warnings and runs to its end or to one of its stop conditions.

use std::path::Path;

use resloop::compile::compile_file;
use resloop::schedule::Schedule;
use resloop::therapy::{self, StopReason, TherapyOptions};

#[test]
fn every_shipped_schedule_loads_and_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut models: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_name()?.to_str()?.strip_suffix(".toml")?.to_string();
            (!stem.contains('.')).then_some(stem)
        })
        .collect();
    // Longest names first, so a schedule goes to the most specific model prefix.
    models.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root.join("schedules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let model = models
            .iter()
            .find(|m| file.starts_with(&format!("{m}_")))
            .unwrap_or_else(|| panic!("{file}: no model in models/ matches its name prefix"));
        let m = compile_file(&root.join(format!("{model}.toml"))).unwrap();
        let s = Schedule::load(&path, &m).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.warnings.is_empty(), "{file}: {:?}", s.warnings);
        let r = therapy::run(&m, &s, &TherapyOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            r.summary.stop_reason != StopReason::End
                || (r.final_time - s.duration).abs() < 1e-9 * s.duration,
            "{file}: ended at {} of {}",
            r.final_time,
            s.duration
        );
        assert!(!r.timeline.times.is_empty());
        n += 1;
    }
    assert!(n >= 7, "the minimal_loop schedules at least");
}
