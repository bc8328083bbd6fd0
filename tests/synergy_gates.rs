//! Fit quality gates: a score that rests on a failed fit is undefined, with the reason,
//! in the results, `scores.csv`, `summary.json` and the CLI table; real-lab plates
//! (noise below 0 and above 1, percent inhibition, SynergyFinder's layout, several
//! blocks in one file) are read as a lab would expect.

use std::process::Command;

use resloop::fit::HillFit;
use resloop::plate::{CsvOptions, DrugInfo, Plate, PlateError, Well};
use resloop::synergy::{
    run_synergy, score_plate, CellStatus, Method, MethodResult, MusycParams, MusycScore,
    ScoreSettings, SynergyOptions, ZipEmax,
};

fn ladder(c: f64, n: usize) -> Vec<f64> {
    let mut d = vec![0.0];
    d.extend((0..n - 1).map(|k| c * 2f64.powf(k as f64 - (n as f64 - 2.0) / 2.0)));
    d
}

fn plate(f: impl Fn(usize, usize, f64, f64) -> f64) -> Plate {
    let (da, db) = (ladder(1.0, 8), ladder(2.0, 8));
    let mut wells = Vec::new();
    for (i, &a) in da.iter().enumerate() {
        for (j, &b) in db.iter().enumerate() {
            wells.push(Well {
                dose_a: a,
                dose_b: b,
                response: f(i, j, a, b),
                replicate: None,
            });
        }
    }
    Plate::new(DrugInfo::new("A", "uM"), DrugInfo::new("B", "uM"), wells).unwrap()
}

fn all(p: &Plate) -> Vec<MethodResult> {
    score_plate(p, &Method::ALL, ScoreSettings::default())
        .unwrap()
        .1
}

fn undefined_because(r: &MethodResult) -> String {
    assert_eq!(
        r.summary.n_scored, 0,
        "{} still scored: {:?}",
        r.method, r.summary
    );
    assert!(r.summary.mean.is_none());
    assert!(r
        .cells
        .iter()
        .filter(|c| c.i > 0 && c.j > 0)
        .all(|c| c.score.is_none() && matches!(c.status, CellStatus::Undefined(_))));
    r.summary
        .undefined_reasons
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join("; ")
}

/// Drug B has no effect (numerical noise of 4e-8): the median-effect fit would put Dm
/// at ~1e75 and CI would be "scored". Every fitted-curve method must be undefined and
/// say B is inactive; Bliss and HSA on the measured single agents stay defined.
#[test]
fn inactive_drug_leaves_fitted_scores_undefined() {
    let fa = HillFit::from_params(1.0, 0.1, 1.0, 1.5);
    let p = plate(|i, j, a, _| fa.eval(a) * (1.0 - 4e-8 * ((i * 3 + j) % 3) as f64));
    for r in all(&p) {
        match r.method {
            Method::Bliss | Method::Hsa => assert_eq!(r.summary.n_undefined, 0, "{r:?}"),
            _ => {
                let why = undefined_because(&r);
                assert!(
                    why.contains("B alone") && why.contains("inactive"),
                    "{}: {why}",
                    r.method
                );
            }
        }
    }
}

/// A U-shaped single agent (falls, then recovers): no Hill curve or median-effect line
/// describes it, so CI (which gave values up to 3.7e5) and every fitted method say so.
#[test]
fn u_shaped_single_agent_leaves_fitted_scores_undefined() {
    let u = [1.0, 0.8, 0.5, 0.3, 0.25, 0.4, 0.7, 0.9];
    let fb = HillFit::from_params(1.0, 0.2, 2.0, 1.0);
    let p = plate(|i, _, _, b| u[i] * fb.eval(b));
    for r in all(&p) {
        if matches!(r.method, Method::Bliss | Method::Hsa) {
            continue;
        }
        let why = undefined_because(&r);
        assert!(
            why.contains("A alone is non-monotone"),
            "{}: {why}",
            r.method
        );
    }
}

/// A MuSyC fit that explains too little of the plate is not scored.
#[test]
fn poor_musyc_fit_is_undefined_and_says_why() {
    let fa = HillFit::from_params(1.0, 0.1, 1.0, 1.5);
    let fb = HillFit::from_params(1.0, 0.2, 2.0, 1.0);
    // A checkerboard pattern on the combination cells that no smooth surface follows.
    let p = plate(|i, j, a, b| {
        let bump = if i > 0 && j > 0 {
            0.5 * ((i + j) % 2) as f64
        } else {
            0.0
        };
        fa.eval(a) * fb.eval(b) + bump
    });
    let r = all(&p).pop().unwrap();
    assert_eq!(r.method, Method::Musyc);
    let why = undefined_because(&r);
    assert!(why.contains("MuSyC fit"), "{why}");
}

/// The two MuSyC conventions: model (default) is null minus fitted surface; data is
/// null minus measured means. On exact MuSyC data they agree.
#[test]
fn musyc_score_conventions() {
    let truth = MusycParams {
        e0: 1.0,
        e1: 0.4,
        e2: 0.3,
        e3: 0.05,
        h1: 1.5,
        h2: 0.8,
        c1: 1.0,
        c2: 2.0,
        alpha12: 2.0,
        alpha21: 0.3,
        gamma12: 1.5,
        gamma21: 0.8,
    };
    let p = plate(|_, _, a, b| truth.eval(a, b));
    let score = |mode| {
        let settings = ScoreSettings {
            musyc_score: mode,
            ..Default::default()
        };
        score_plate(&p, &[Method::Musyc], settings)
            .unwrap()
            .1
            .remove(0)
    };
    let (model, data) = (score(MusycScore::Model), score(MusycScore::Data));
    for (m, d) in model.cells.iter().zip(&data.cells) {
        let (m, d) = (m.score.unwrap(), d.score.unwrap());
        assert!((m - d).abs() < 1e-6, "{m} vs {d}");
    }
    assert!(model.summary.mean.unwrap() > 0.05, "{:?}", model.summary);
    assert!("data".parse::<MusycScore>().is_ok() && "x".parse::<MusycScore>().is_err());
}

/// Fixed-Emax ZIP (SynergyFinder 1-2) sees synergy in Bliss-independent data with a
/// partial-efficacy drug; fitted-Emax ZIP (the default) scores it ~0.
#[test]
fn zip_emax_fitted_and_fixed() {
    let fa = HillFit::from_params(1.0, 0.35, 1.0, 1.3);
    let fb = HillFit::from_params(1.0, 0.0, 2.0, 0.9);
    let p = plate(|_, _, a, b| fa.eval(a) * fb.eval(b));
    let run = |emax| {
        let settings = ScoreSettings {
            zip_emax: emax,
            ..Default::default()
        };
        score_plate(&p, &[Method::Zip], settings)
            .unwrap()
            .1
            .remove(0)
    };
    let fitted = run(ZipEmax::Fitted).summary;
    let fixed = run(ZipEmax::Fixed).summary;
    assert!(
        fitted.max.unwrap().abs().max(fitted.min.unwrap().abs()) < 1e-3,
        "{fitted:?}"
    );
    assert!(
        fixed.max.unwrap().abs().max(fixed.min.unwrap().abs()) > 0.015,
        "{fixed:?}"
    );
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Noise just below 0 and above 1 is kept (and counted); it does not reject the plate.
#[test]
fn noisy_viabilities_are_kept_and_counted() {
    let fa = HillFit::from_params(1.0, 0.0, 1.0, 2.0);
    let fb = HillFit::from_params(1.0, 0.0, 2.0, 2.0);
    let p = plate(|i, j, a, b| {
        let v = fa.eval(a) * fb.eval(b);
        match (i, j) {
            (7, 7) => -0.0075,
            (0, 1) => 1.02,
            _ => v,
        }
    });
    assert_eq!(p.out_of_unit_range(), (1, 1));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    p.save_csv(&path).unwrap();
    let mut opts = SynergyOptions::new(&path);
    opts.plots = false;
    let report = run_synergy(&opts, &dir.path().join("out"))
        .unwrap()
        .remove(0);
    assert!(
        report.warnings[0].contains("1 well(s) below 0 and 1 above 1"),
        "{:?}",
        report.warnings
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(json["warnings"][0]
        .as_str()
        .unwrap()
        .contains("kept as measured"));
}

#[test]
fn percent_inhibition_without_the_flag_gets_a_hint() {
    let e = Plate::from_csv_reader(
        "dose_a,dose_b,response\n0,0,0\n1,0,35\n2,0,80\n".as_bytes(),
        "p.csv",
        &CsvOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, PlateError::LooksLikeInhibition { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("p.csv") && msg.contains("--percent-inhibition"),
        "{msg}"
    );
}

/// SynergyFinder's layout with two blocks (PairIndex), % inhibition and replicates,
/// scored in one run: one output directory per block, undefined reasons in the CSV.
#[test]
fn synergyfinder_layout_with_two_blocks() {
    let fa = HillFit::from_params(1.0, 0.0, 1.0, 1.5);
    let fb = HillFit::from_params(1.0, 0.1, 2.0, 1.0);
    let mut text = String::from("PairIndex,Response,Drug1,Drug2,Conc1,Conc2,ConcUnit\n");
    let (da, db) = (ladder(1.0, 6), ladder(2.0, 6));
    for (block, pair) in [(1, ("X", "Y")), (2, ("X", "Z"))] {
        for rep in 0..2 {
            for &a in &da {
                for &b in &db {
                    // Block 2: drug Z has no effect at all.
                    let v = if block == 1 {
                        fa.eval(a) * fb.eval(b)
                    } else {
                        fa.eval(a)
                    };
                    let inhibition = 100.0 * (1.0 - v) + 0.3 * rep as f64;
                    text += &format!("{block},{inhibition},{},{},{a},{b},nM\n", pair.0, pair.1);
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "sf.csv", &text);
    let blocks = Plate::blocks_from_csv_path(&path, &CsvOptions::default()).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1].plate.drug_b(), &DrugInfo::new("Z", "nM"));
    assert!(blocks[0].plate.has_replicates());
    let e = Plate::from_csv_path(&path, &CsvOptions::default()).unwrap_err();
    assert!(matches!(e, PlateError::SeveralBlocks { n: 2, .. }), "{e}");

    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args(["synergy", path.to_str().unwrap(), "--no-plot", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("block 1: X + Y") && stdout.contains("block 2: X + Z"),
        "{stdout}"
    );
    assert!(stdout.contains("Z alone reaches an effect"), "{stdout}");
    let scores = std::fs::read_to_string(out.join("block-2/scores.csv")).unwrap();
    assert!(
        scores.contains("undefined: Z alone reaches an effect"),
        "{scores}"
    );
    assert!(out.join("block-1/summary.json").exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("block-2/summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["methods"]["ci"]["defined"], false);
    assert_eq!(json["methods"]["bliss"]["defined"], true);
}

#[test]
fn the_shipped_example_plates_score() {
    // The README's `synergy` example and the SynergyFinder-layout example.
    for (plate, file) in [
        ("examples/plates/synergy_example.csv", "scores.csv"),
        (
            "examples/plates/synergyfinder_two_blocks.csv",
            "block-2/scores.csv",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = Command::new(env!("CARGO_BIN_EXE_resloop"))
            .args(["synergy", plate, "--no-plot", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{plate}: {o:?}");
        assert!(out.join(file).is_file(), "{plate}: {file} written");
    }
}
