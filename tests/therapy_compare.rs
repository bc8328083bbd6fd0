//! `resloop compare` on two schedules prints the table, writes the plots and one
//! folder per schedule, and every number in the table matches that schedule's
//! timeline.csv and events.csv.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let head = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (head, rows)
}

fn f(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: `{s}`"))
}

#[test]
fn compare_prints_the_table_writes_plots_and_matches_the_timelines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .arg("compare")
        .arg(format!("{ROOT}/models/minimal_loop.toml"))
        .arg(format!(
            "{ROOT}/models/schedules/minimal_loop_adaptive.toml"
        ))
        .arg(format!(
            "{ROOT}/models/schedules/minimal_loop_top_dose.toml"
        ))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for s in [
        "schedule",
        "time_to_resistance_day",
        "final_expanded_cells",
        "passages",
    ] {
        assert!(stdout.contains(s), "table header `{s}` printed:\n{stdout}");
    }
    let names = ["minimal_loop_adaptive", "minimal_loop_top_dose"];
    for n in names {
        assert!(
            stdout.lines().any(|l| l.starts_with(n)),
            "a table row for {n}:\n{stdout}"
        );
    }
    for file in ["compare.csv", "compare.png", "compare.svg", "manifest.json"] {
        assert!(out.join(file).is_file(), "{file} written");
    }

    let (head, rows) = read_csv(&out.join("compare.csv"));
    assert_eq!(rows.len(), 2);
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    for (row, name) in rows.iter().zip(names) {
        assert_eq!(row[col("schedule")], name);
        let run = out.join(name);
        for file in [
            "timeline.csv",
            "events.csv",
            "summary.json",
            "manifest.json",
            "therapy.png",
        ] {
            assert!(run.join(file).is_file(), "{name}/{file} written");
        }
        // The timeline: total cells per readout (model time in hours).
        // The default engine for a model with genotypes is the hybrid: one replicate,
        // with a leading `replicate` column.
        let (th, tl) = read_csv(&run.join("timeline.csv"));
        let at = |name: &str| th.iter().position(|h| h == name).unwrap();
        let (ct, cp, cv, cx) = (at("time"), at("population"), at("variable"), at("value"));
        assert_eq!(th[0], "replicate");
        let pick = |pop: &str, var: &str| -> Vec<(f64, f64)> {
            tl.iter()
                .filter(|r| r[cp] == pop && r[cv] == var)
                .map(|r| (f(&r[ct]), f(&r[cx])))
                .collect()
        };
        let total = pick("total", "cells");
        let expanded = pick("total", "expanded_cells");
        let (t_end, n_end) = *total.last().unwrap();
        assert_eq!(f(&row[col("end_day")]), t_end / 24.0);
        assert_eq!(f(&row[col("final_cells")]), n_end);
        assert_eq!(
            f(&row[col("final_expanded_cells")]),
            expanded.last().unwrap().1
        );
        let min = total.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
        assert_eq!(f(&row[col("min_cells")]), min);
        let fold = pick("ic50_fold", "tki");
        assert_eq!(f(&row[col("ic50_fold_final")]), fold.last().unwrap().1);

        // The events: passages, first resistance event, dose steps.
        let (eh, ev) = read_csv(&run.join("events.csv"));
        let ec: HashMap<&str, usize> = eh
            .iter()
            .enumerate()
            .map(|(i, h)| (h.as_str(), i))
            .collect();
        let passages = ev.iter().filter(|r| r[ec["kind"]] == "passage").count();
        assert!(passages > 0);
        assert_eq!(row[col("passages")], passages.to_string());
        let first = ev
            .iter()
            .find(|r| r[ec["kind"]].starts_with("resistance:"))
            .expect("a resistance event");
        assert_eq!(f(&row[col("time_to_resistance_day")]), f(&first[ec["day"]]));
        assert_eq!(
            format!("resistance:{}", row[col("resistance_rule")]),
            first[ec["kind"]]
        );
        // tki is stable in the medium: its AUC is the sum of dose x time over the
        // dose steps (uM x h -> uM x day).
        let steps: Vec<(f64, f64)> = ev
            .iter()
            .filter(|r| r[ec["kind"]] == "dose_change" && r[ec["drug"]] == "tki")
            .map(|r| (f(&r[ec["time"]]), f(&r[ec["value"]])))
            .collect();
        let mut auc = 0.0;
        for (k, &(t, c)) in steps.iter().enumerate() {
            let next = steps.get(k + 1).map_or(t_end, |s| s.0);
            auc += c * (next - t);
        }
        let table_auc = f(&row[col("auc_tki_uM_day")]);
        assert!(
            (table_auc - auc / 24.0).abs() <= 1e-9 * table_auc,
            "{name}: AUC {table_auc} vs {}",
            auc / 24.0
        );
    }
}
