//! Hand-computed examples per method, one test per bad input, CSV import, and the
//! `run_synergy` entry point end to end.

use resloop::fit::HillFit;
use resloop::plate::{CsvOptions, DrugInfo, Plate, PlateError, Well};
use resloop::synergy::{
    run_synergy, score_plate, CellStatus, LoeweFallback, Method, MethodDetail, MethodResult,
    MusycParams, ScoreSettings, SynergyError, SynergyOptions,
};

/// The 4x4 plate used for the observed-single-agent methods (rows: dose_a 0,1,2,4;
/// columns: dose_b 0,1,2,4).
const SMALL: [[f64; 4]; 4] = [
    [1.0, 0.8, 0.6, 0.5],
    [0.9, 0.6, 0.5, 0.4],
    [0.7, 0.5, 0.3, 0.2],
    [0.5, 0.3, 0.2, 0.1],
];
const SMALL_DOSES: [f64; 4] = [0.0, 1.0, 2.0, 4.0];

fn csv_of(da: &[f64], db: &[f64], f: impl Fn(usize, usize) -> f64) -> String {
    let mut s = String::from("dose_a,dose_b,response\n");
    for (i, a) in da.iter().enumerate() {
        for (j, b) in db.iter().enumerate() {
            s.push_str(&format!("{a},{b},{}\n", f(i, j)));
        }
    }
    s
}

fn read(text: &str) -> Result<Plate, PlateError> {
    Plate::from_csv_reader(text.as_bytes(), "plate.csv", &CsvOptions::default())
}

fn small() -> Plate {
    read(&csv_of(&SMALL_DOSES, &SMALL_DOSES, |i, j| SMALL[i][j])).unwrap()
}

fn score(p: &Plate, m: Method, settings: ScoreSettings) -> MethodResult {
    score_plate(p, &[m], settings).unwrap().1.remove(0)
}

fn cell(r: &MethodResult, a: f64, b: f64) -> &resloop::synergy::CellScore {
    r.cells
        .iter()
        .find(|c| c.dose_a == a && c.dose_b == b)
        .unwrap()
}

fn close(x: f64, y: f64, tol: f64) -> bool {
    (x - y).abs() <= tol
}

/// Plate from exact curves: A = Hill(1, 0, 1, 1), B = Hill(1, 0, 2, 1) on a
/// 0, 0.5 .. 8 ladder, combinations from `combo`.
fn exact(combo: impl Fn(f64, f64) -> f64) -> Plate {
    let d = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0];
    let fa = HillFit::from_params(1.0, 0.0, 1.0, 1.0);
    let fb = HillFit::from_params(1.0, 0.0, 2.0, 1.0);
    read(&csv_of(&d, &d, |i, j| {
        let (a, b) = (d[i], d[j]);
        if a == 0.0 || b == 0.0 {
            fa.eval(a) * fb.eval(b)
        } else {
            combo(a, b)
        }
    }))
    .unwrap()
}

#[test]
fn bliss_by_hand() {
    let r = score(&small(), Method::Bliss, ScoreSettings::default());
    // (1,1): 0.9 * 0.8 - 0.6 = 0.12; (2,4): 0.7 * 0.5 - 0.2 = 0.15.
    let c = cell(&r, 1.0, 1.0);
    assert!(close(c.reference.unwrap(), 0.72, 1e-12) && close(c.score.unwrap(), 0.12, 1e-12));
    assert!(close(cell(&r, 2.0, 4.0).score.unwrap(), 0.15, 1e-12));
    // Single-agent and control cells are neutral and excluded from the summary.
    assert_eq!(cell(&r, 0.0, 2.0).status, CellStatus::Neutral);
    assert_eq!(cell(&r, 0.0, 2.0).score, Some(0.0));
    let s = &r.summary;
    assert_eq!(s.n_scored, 9);
    assert!(close(s.mean.unwrap(), 0.89 / 9.0, 1e-12), "{s:?}");
    assert!(close(s.median.unwrap(), 0.10, 1e-12));
    assert!(close(s.min.unwrap(), 0.04, 1e-12) && close(s.max.unwrap(), 0.15, 1e-12));
}

#[test]
fn hsa_by_hand() {
    let r = score(&small(), Method::Hsa, ScoreSettings::default());
    // (1,1): min(0.9, 0.8) - 0.6 = 0.2; (4,2): min(0.5, 0.6) - 0.2 = 0.3.
    assert!(close(cell(&r, 1.0, 1.0).score.unwrap(), 0.2, 1e-12));
    assert!(close(cell(&r, 4.0, 2.0).score.unwrap(), 0.3, 1e-12));
}

#[test]
fn loewe_by_hand() {
    // Isobole at (1, 2): 1 / D_A(E) + 2 / D_B(E) = 2E / (1 - E) = 1, so E = 1/3.
    let p = exact(|_, _| 0.2);
    let r = score(&p, Method::Loewe, ScoreSettings::default());
    let c = cell(&r, 1.0, 2.0);
    assert!(close(c.reference.unwrap(), 1.0 / 3.0, 1e-6), "{c:?}");
    assert!(close(c.score.unwrap(), 1.0 / 3.0 - 0.2, 1e-6));
    assert_eq!(c.status, CellStatus::Scored);
}

#[test]
fn loewe_fallback_is_explicit_and_counted() {
    // B only reaches 0.5: wherever A alone already goes below 0.5 the isobole is gone.
    let d = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0];
    let fa = HillFit::from_params(1.0, 0.0, 1.0, 1.0);
    let fb = HillFit::from_params(1.0, 0.5, 1.0, 1.0);
    let p = read(&csv_of(&d, &d, |i, j| fa.eval(d[i]) * fb.eval(d[j]))).unwrap();
    let hsa = score(&p, Method::Loewe, ScoreSettings::default());
    let MethodDetail::Loewe(det) = &hsa.detail else {
        panic!()
    };
    assert!(det.fallback_cells > 0 && det.fallback_cells < 25, "{det:?}");
    assert_eq!(hsa.summary.n_fallback, det.fallback_cells);
    // a = 8: f_A(8) = 1/9 < 0.5, fallback HSA reference = min(f_A, f_B).
    let c = cell(&hsa, 8.0, 1.0);
    assert!(matches!(c.status, CellStatus::Fallback(_)));
    assert!(close(c.reference.unwrap(), 1.0 / 9.0, 1e-6), "{c:?}");
    let weakest = score(
        &p,
        Method::Loewe,
        ScoreSettings {
            loewe_fallback: LoeweFallback::Weakest,
            ..Default::default()
        },
    );
    assert!(close(
        cell(&weakest, 8.0, 1.0).reference.unwrap(),
        0.5,
        1e-6
    ));
    let nan = score(
        &p,
        Method::Loewe,
        ScoreSettings {
            loewe_fallback: LoeweFallback::Nan,
            ..Default::default()
        },
    );
    assert_eq!(nan.summary.n_undefined, det.fallback_cells);
    assert_eq!(cell(&nan, 8.0, 1.0).score, None);
    assert!("weakest".parse::<LoeweFallback>().is_ok() && "x".parse::<LoeweFallback>().is_err());
}

#[test]
fn zip_by_hand() {
    // Reference = Bliss of the fitted single agents (exactly E0 = 1, Emax = 0 here):
    // (1, 2) -> 0.5 * 0.5 = 0.25.
    let p = exact(|a, b| 1.0 / (1.0 + 2.0 * a) / (1.0 + b));
    let r = score(&p, Method::Zip, ScoreSettings::default());
    let c = cell(&r, 1.0, 2.0);
    assert!(close(c.reference.unwrap(), 0.25, 1e-6), "{c:?}");
    assert!(close(
        c.score.unwrap(),
        c.reference.unwrap() - c.observed.unwrap(),
        1e-15
    ));
    // Drug B doubles A's potency: ZIP sees synergy in every combination cell.
    assert!(r.summary.min.unwrap() > 0.0, "{:?}", r.summary);
}

#[test]
fn ci_by_hand() {
    // Median-effect: m = 1, Dm_A = 1, Dm_B = 2. At (1, 2) viability 0.2 -> fa = 0.8,
    // fa/fu = 4, Dx_A = 4, Dx_B = 8, CI = 1/4 + 2/8 = 0.5, DRI_A = DRI_B = 4.
    let p = exact(|_, _| 0.2);
    let r = score(&p, Method::Ci, ScoreSettings::default());
    let c = cell(&r, 1.0, 2.0);
    assert!(close(c.score.unwrap(), 0.5, 1e-9), "{c:?}");
    assert_eq!(c.reference, None);
    assert_eq!(
        cell(&r, 0.0, 2.0).score,
        Some(1.0),
        "single agents are neutral at CI = 1"
    );
    let MethodDetail::Ci(det) = &r.detail else {
        panic!()
    };
    let dri = det
        .dri
        .iter()
        .find(|d| d.dose_a == 1.0 && d.dose_b == 2.0)
        .unwrap();
    assert!(close(dri.dri_a, 4.0, 1e-9) && close(dri.dri_b, 4.0, 1e-9));
    let me = det.median_effect_a.unwrap();
    assert!(close(me.m, 1.0, 1e-9) && close(me.dm, 1.0, 1e-9));
}

#[test]
fn ci_cells_outside_fa_range_are_counted_undefined() {
    let p = exact(|a, _| if a == 8.0 { 1.0 } else { 0.2 });
    let r = score(&p, Method::Ci, ScoreSettings::default());
    assert_eq!(r.summary.n_undefined, 5);
    assert_eq!(
        r.summary
            .undefined_reasons
            .get("fraction affected outside (0, 1)"),
        Some(&5)
    );
}

#[test]
fn musyc_beta_by_hand() {
    // E1 = E2 = 0.3, E3 = 0: beta = (0.3 - 0) / (1 - 0.3) = 3/7.
    let truth = MusycParams {
        e0: 1.0,
        e1: 0.3,
        e2: 0.3,
        e3: 0.0,
        h1: 1.0,
        h2: 1.0,
        c1: 1.0,
        c2: 2.0,
        alpha12: 1.0,
        alpha21: 1.0,
        gamma12: 1.0,
        gamma21: 1.0,
    };
    let d = [0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
    let p = read(&csv_of(&d, &d, |i, j| truth.eval(d[i], d[j]))).unwrap();
    let r = score(&p, Method::Musyc, ScoreSettings::default());
    let MethodDetail::Musyc(fit) = r.detail else {
        panic!()
    };
    assert!(close(fit.beta, 3.0 / 7.0, 1e-3), "{fit:?}");
    // Synergistic efficacy -> positive excess over MuSyC's no-synergy surface.
    assert!(r.summary.mean.unwrap() > 0.0);
}

#[test]
fn unmeasured_combination_cell_is_counted_not_nan() {
    let text = csv_of(&SMALL_DOSES, &SMALL_DOSES, |i, j| SMALL[i][j]).replace("2,2,0.3\n", "");
    let r = score(
        &read(&text).unwrap(),
        Method::Bliss,
        ScoreSettings::default(),
    );
    assert_eq!((r.summary.n_scored, r.summary.n_undefined), (8, 1));
    assert!(r.cells.iter().all(|c| c.score.is_none_or(f64::is_finite)));
}

fn plate_err(text: &str) -> PlateError {
    match read(text) {
        Err(e) => e,
        Ok(p) => p.grid().unwrap_err(),
    }
}

#[test]
fn bad_missing_zero_dose_row() {
    // No dose_a = 0 row: drug B has no single-agent wells.
    let text = csv_of(&[1.0, 2.0, 4.0, 8.0], &SMALL_DOSES, |i, j| SMALL[i][j]);
    let e = plate_err(&text);
    assert!(
        matches!(&e, PlateError::MissingZeroDose { which: "row", drug, .. } if drug == "B"),
        "{e}"
    );
}

#[test]
fn bad_missing_zero_dose_column() {
    // No dose_b = 0 column: drug A has no single-agent wells.
    let text = csv_of(&SMALL_DOSES, &[1.0, 2.0, 4.0, 8.0], |i, j| SMALL[i][j]);
    let e = plate_err(&text);
    assert!(
        matches!(&e, PlateError::MissingZeroDose { which: "column", drug, .. } if drug == "A"),
        "{e}"
    );
}

#[test]
fn bad_missing_single_agent_well() {
    let text = csv_of(&SMALL_DOSES, &SMALL_DOSES, |i, j| SMALL[i][j]).replace("\n4,0,0.5\n", "\n");
    assert!(matches!(plate_err(&text), PlateError::MissingSingleAgent { dose, .. } if dose == 4.0));
}

#[test]
fn bad_too_few_doses() {
    let text = csv_of(&[0.0, 1.0, 2.0], &SMALL_DOSES, |i, j| SMALL[i][j]);
    let e = plate_err(&text);
    assert!(
        matches!(
            e,
            PlateError::TooFewDoses {
                found: 3,
                needed: 4,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_nan_response() {
    let e = plate_err("dose_a,dose_b,response\n0,0,1\n1,0,NaN\n");
    assert!(
        matches!(&e, PlateError::NonFiniteResponse { at, .. } if at.line == 3),
        "{e}"
    );
}

#[test]
fn bad_negative_response() {
    // Plate noise (-0.0075) is kept; a value far below 0 is not a viable fraction.
    let e = plate_err("dose_a,dose_b,response\n0,0,1\n1,0,-0.0075\n2,0,-0.4\n");
    assert!(
        matches!(&e, PlateError::NegativeResponse { value, at, .. } if value == "-0.4" && at.line == 4),
        "{e}"
    );
}

#[test]
fn bad_response_above_limit() {
    let e = plate_err("dose_a,dose_b,response\n0,0,1\n1,0,95\n");
    assert!(matches!(e, PlateError::ResponseTooHigh { .. }), "{e}");
    assert!(e.to_string().contains("plate.csv line 3"), "{e}");
}

#[test]
fn bad_duplicate_without_replicate_column() {
    let e = plate_err("dose_a,dose_b,response\n0,0,1\n1,0,0.9\n1,0,0.8\n");
    let PlateError::DuplicateWell { at, first, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!((at.line, first.line), (4, 3));
}

#[test]
fn bad_unit_mismatch() {
    let e = plate_err("dose_a,dose_b,response,unit_a,unit_b\n0,0,1,nM,uM\n1,0,0.9,uM,uM\n");
    assert!(
        matches!(
            &e,
            PlateError::UnitMismatch {
                field: "unit_a",
                ..
            }
        ),
        "{e}"
    );
    let opts = CsvOptions {
        unit_b: Some("nM".into()),
        ..Default::default()
    };
    let e = Plate::from_csv_reader(
        "dose_a,dose_b,response,unit_b\n0,0,1,uM\n".as_bytes(),
        "p",
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            PlateError::UnitMismatch {
                field: "unit_b",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_negative_dose_and_missing_column() {
    assert!(matches!(
        plate_err("dose_a,dose_b,response\n-1,0,1\n"),
        PlateError::BadDose {
            field: "dose_a",
            ..
        }
    ));
    assert!(matches!(
        plate_err("dose_a,response\n0,1\n"),
        PlateError::MissingColumn {
            column: "dose_b",
            ..
        }
    ));
}

#[test]
fn csv_percent_inhibition_and_names() {
    let text =
        "drug_a,drug_b,unit_a,unit_b,dose_a,dose_b,response\nX,Y,nM,uM,0,0,0\nX,Y,nM,uM,1,0,25\n";
    let opts = CsvOptions {
        percent_inhibition: true,
        ..Default::default()
    };
    let p = Plate::from_csv_reader(text.as_bytes(), "p", &opts).unwrap();
    assert_eq!(p.wells()[1].response, 0.75);
    assert_eq!(p.drug_a(), &DrugInfo::new("X", "nM"));
    assert_eq!(p.drug_b(), &DrugInfo::new("Y", "uM"));
    let opts = CsvOptions {
        drug_a: Some("ceritinib".into()),
        ..opts
    };
    let p = Plate::from_csv_reader(text.as_bytes(), "p", &opts).unwrap();
    assert_eq!(p.drug_a().name, "ceritinib");
    // 150 % inhibition is a negative viable fraction: rejected, quoting the raw value.
    let e = Plate::from_csv_reader(
        "dose_a,dose_b,response\n0,0,0\n1,0,150\n".as_bytes(),
        "p",
        &CsvOptions {
            percent_inhibition: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, PlateError::NegativeResponse { value, .. } if value == "150"),
        "{e}"
    );
}

#[test]
fn csv_replicates_are_averaged_per_cell() {
    let mut text = String::from("dose_a,dose_b,response,replicate\n");
    for (rep, shift) in [("r1", 0.02), ("r2", -0.02), ("r3", 0.0)] {
        for (i, a) in SMALL_DOSES.iter().enumerate() {
            for (j, b) in SMALL_DOSES.iter().enumerate() {
                text.push_str(&format!("{a},{b},{},{rep}\n", SMALL[i][j] + shift));
            }
        }
    }
    let p = read(&text).unwrap();
    assert!(p.has_replicates());
    let g = p.grid().unwrap();
    assert_eq!(g.replicates(1, 1).len(), 3);
    assert!(close(g.mean(1, 1).unwrap(), 0.6, 1e-12));
    let r = score(&p, Method::Bliss, ScoreSettings::default());
    assert!(close(cell(&r, 1.0, 1.0).score.unwrap(), 0.12, 1e-12));
    // A repeated (dose, dose, replicate) triple is still a duplicate.
    let dup = format!("{text}1,1,0.5,r1\n");
    assert!(matches!(
        read(&dup).unwrap_err(),
        PlateError::DuplicateWell { .. }
    ));
    // Mixing labelled and unlabelled rows is an error.
    assert!(matches!(
        read("dose_a,dose_b,response,replicate\n0,0,1,a\n1,0,1,\n").unwrap_err(),
        PlateError::MixedReplicate { .. }
    ));
}

#[test]
fn csv_writer_roundtrip_through_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = Plate::new(
        DrugInfo::new("A", "uM"),
        DrugInfo::new("B", "nM"),
        vec![Well {
            dose_a: 0.0,
            dose_b: 0.0,
            response: 1.0,
            replicate: None,
        }],
    )
    .unwrap();
    let path = dir.path().join("p.csv");
    p.save_csv(&path).unwrap();
    assert_eq!(
        Plate::from_csv_path(&path, &CsvOptions::default()).unwrap(),
        p
    );
}

fn replicated_plate_file(dir: &std::path::Path) -> std::path::PathBuf {
    let d = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0];
    let fa = HillFit::from_params(1.0, 0.05, 0.7, 1.2);
    let fb = HillFit::from_params(1.0, 0.2, 1.5, 1.0);
    let mut text = String::from("dose_a,dose_b,response,replicate,drug_a,drug_b,unit_a,unit_b\n");
    for (k, noise) in [0.03, -0.02, 0.01].iter().enumerate() {
        for (i, &a) in d.iter().enumerate() {
            for (j, &b) in d.iter().enumerate() {
                let y = fa.eval(a) * fb.eval(b) * if a > 0.0 && b > 0.0 { 0.85 } else { 1.0 };
                let wobble = noise * (((i * 7 + j * 3 + k) % 5) as f64 - 2.0) / 2.0;
                text.push_str(&format!(
                    "{a},{b},{},{k},cer,pano,uM,nM\n",
                    (y + wobble).max(0.0)
                ));
            }
        }
    }
    let path = dir.join("plate.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn run_synergy_writes_outputs_and_bootstrap_is_thread_independent() {
    let dir = tempfile::tempdir().unwrap();
    let plate = replicated_plate_file(dir.path());
    let mut opts = SynergyOptions::new(&plate);
    opts.bootstrap = 16;
    opts.seed = 42;
    let out = dir.path().join("out");
    let report = run_synergy(&opts, &out).unwrap().remove(0);
    for f in [
        "scores.csv",
        "summary.json",
        "heatmap_bliss.png",
        "heatmap_ci.svg",
        "single_agents.png",
        "ci_fa.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let scores = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    assert!(
        scores.starts_with("method,dose_a,dose_b,observed,reference,score,ci_lo,ci_hi,status\n")
    );
    assert_eq!(scores.lines().count(), 1 + 7 * 36);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(json["conventions"]["sign"]
        .as_str()
        .unwrap()
        .contains("> 0 = synergy"));
    assert_eq!(json["plate"]["drug_b"]["unit"], "nM");
    // The combination kills 15 % more than Bliss: synergy by Bliss, CI below 1.
    let bliss = &report.results[0].summary;
    assert!(bliss.mean.unwrap() > 0.02, "{bliss:?}");
    let b = report.bootstrap.as_ref().unwrap();
    assert_eq!(b.failed, 0);
    assert!(b
        .musyc
        .as_ref()
        .unwrap()
        .iter()
        .any(|(name, _)| name == "beta"));
    // Same seed, one thread vs two: identical intervals.
    opts.plots = false;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let r1 = one.install(|| {
        run_synergy(&opts, &dir.path().join("o1"))
            .unwrap()
            .remove(0)
    });
    let r2 = two.install(|| {
        run_synergy(&opts, &dir.path().join("o2"))
            .unwrap()
            .remove(0)
    });
    assert_eq!(r1.bootstrap, r2.bootstrap);
    assert_eq!(r1.bootstrap, report.bootstrap);
}

#[test]
fn run_synergy_reports_plate_errors_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "dose_a,dose_b,response\n0,0,1\n0,0,1\n").unwrap();
    let e = run_synergy(&SynergyOptions::new(&path), &dir.path().join("out")).unwrap_err();
    assert!(matches!(
        e,
        SynergyError::Plate(PlateError::DuplicateWell { .. })
    ));
    assert!(e.to_string().contains("bad.csv line 3"), "{e}");
    assert!(!dir.path().join("out/scores.csv").exists());
}
