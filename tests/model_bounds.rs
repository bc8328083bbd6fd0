//! Shipped models stay physical across their declared parameter bounds: a fraction of
//! nucleosomes stays in [0, 1] wherever a sweep or a calibration may take it.

use resloop::compile::{compile_file, BoundModel};
use resloop::engine::ode::{OdeRun, RunSettings};

/// Loop A's H3K27me3 mark at MIR34A, at the corner of the bounds where strong
/// read-write spreading meets a high parental mark (until 0.2.0 the PRC2 recruitment
/// term turned negative there and pushed the mark below zero), drug-free and under
/// ceritinib (EMT high), for a year.
#[test]
fn mir34a_axl_h3k27me3_stays_a_fraction_at_the_bounds() {
    let m = compile_file(std::path::Path::new("models/mir34a_axl.toml")).unwrap();
    let me3 = m.species_index("H3K27me3_mir34a").unwrap();
    let cer = m.drug_index("ceritinib").unwrap();
    let mut p = m.param_values();
    for (name, v) in [
        ("me3_0", 0.2),
        ("K_me3_fb", 0.2),
        ("n_me3_fb", 2.0),
        ("w_me3_fb", 15.0),
        ("k_me3", 0.1),
    ] {
        p[m.param_index(name).unwrap()] = v;
    }
    let b = BoundModel::new(&m, &p).unwrap();
    let stride = m.species.len() + 1;
    for conc in [0.0, 1.0] {
        let mut y = OdeRun::initial_state(&m, &b, 1e6);
        y[me3] = 0.0;
        let settings = RunSettings {
            carrying_capacity: m.carrying_capacity,
            ..RunSettings::default()
        };
        let mut run = OdeRun::new(&m, &b, &settings, &y, 0.0).unwrap();
        let mut c = vec![0.0; m.drugs.len()];
        c[cer] = conc;
        run.set_concentrations(&c).unwrap();
        for day in 1..=365 {
            run.advance_to(day as f64, &[]).unwrap();
            for g in 0..m.genotypes.len() {
                let v = run.state()[g * stride + me3];
                assert!(
                    (-1e-9..=1.0 + 1e-9).contains(&v),
                    "ceritinib {conc} uM, day {day}, genotype {g}: H3K27me3 = {v}"
                );
            }
        }
    }
}
