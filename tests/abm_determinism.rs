//! The same seed gives byte-identical output files with one thread and with two, in
//! per-cell mode with cells processed in parallel inside a replicate (with intrinsic
//! and partition noise, mutation and passaging) and in hybrid mode; plots are written.

use std::path::Path;

use resloop::abm::output::{
    plot_muller, plot_population, plot_resistance_times, plot_species_distribution,
    write_clones_csv, write_muller_csv, write_summary_csv, write_timeline_csv,
};
use resloop::abm::{
    run_ensemble, AbmOptions, CellModel, Ensemble, EnsembleConfig, FnExposure, Founders,
    NoProgress, NoiseSpec, Passage, ResistanceCriterion, StateError, States, StatesMut,
    StepContext,
};

/// Two species relaxing towards drug-dependent targets; the first sets survival, and
/// genotype 1 ignores the drug.
struct Relaxing {
    mutations: Vec<Vec<(usize, f64)>>,
    noisy: bool,
}

impl CellModel for Relaxing {
    type Scratch = ();
    fn scratch(&self, _batch: usize) {}
    fn n_species(&self) -> usize {
        2
    }
    fn n_genotypes(&self) -> usize {
        2
    }
    fn n_drugs(&self) -> usize {
        1
    }
    fn initial_state(&self, _g: usize, out: &mut [f64]) {
        out.copy_from_slice(&[1.0, 0.5]);
    }
    fn advance(
        &self,
        ctx: &StepContext<'_>,
        st: &mut StatesMut<'_>,
        _s: &mut (),
    ) -> Result<(), StateError> {
        let c = if ctx.genotype == 1 { 0.0 } else { ctx.drugs[0] };
        let target = (1.0 / (1.0 + c)) as f32;
        let k = (0.5 * ctx.dt) as f32;
        for x in st.species_mut(0) {
            *x += k * (target - *x);
        }
        for x in st.species_mut(1) {
            *x += k * (0.5 - *x);
        }
        Ok(())
    }
    fn hazards(
        &self,
        _ctx: &StepContext<'_>,
        st: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        _s: &mut (),
    ) {
        for (i, &x) in st.species(0).iter().enumerate() {
            div[i] = 0.8;
            death[i] = 0.2 + 0.8 * (1.0 - x as f64).max(0.0);
        }
    }
    fn mutations(&self, g: usize) -> &[(usize, f64)] {
        &self.mutations[g]
    }
    fn noise(&self) -> NoiseSpec {
        if self.noisy {
            NoiseSpec {
                intrinsic: vec![0.3, 0.1],
                partition_cv: 0.1,
            }
        } else {
            NoiseSpec::default()
        }
    }
}

fn run(opts: &AbmOptions, noisy: bool, threads: usize) -> Ensemble {
    let model = Relaxing {
        mutations: vec![vec![(1, 1e-3)], vec![]],
        noisy,
    };
    let exposure = FnExposure(|t: f64, out: &mut [f64]| out[0] = if t >= 1.0 { 2.0 } else { 0.0 });
    let cfg = EnsembleConfig {
        replicates: 4,
        seed: 99,
        t_end: 6.0,
        threads: Some(threads),
        criterion: ResistanceCriterion::Regrowth { factor: 1.25 },
    };
    run_ensemble(
        &model,
        &[Founders {
            genotype: 0,
            count: 6000,
        }],
        opts,
        &exposure,
        &cfg,
        &NoProgress,
    )
    .unwrap()
}

fn write_all(dir: &Path, ens: &Ensemble) -> Vec<Vec<u8>> {
    let names = ["clones.csv", "summary.csv", "timeline.csv", "muller.csv"];
    write_clones_csv(&dir.join(names[0]), ens).unwrap();
    write_summary_csv(&dir.join(names[1]), ens).unwrap();
    write_timeline_csv(&dir.join(names[2]), ens, None, &[]).unwrap();
    write_muller_csv(&dir.join(names[3]), ens).unwrap();
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect()
}

fn same_bytes(opts: AbmOptions, noisy: bool) -> Ensemble {
    let a = run(&opts, noisy, 1);
    let b = run(&opts, noisy, 2);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (fa, fb) = (write_all(da.path(), &a), write_all(db.path(), &b));
    for (x, y) in fa.iter().zip(&fb) {
        assert!(!x.is_empty());
        assert!(x == y, "outputs differ between 1 and 2 threads");
    }
    a
}

#[test]
fn per_cell_parallel_cells_is_thread_independent() {
    let mut opts = AbmOptions::per_cell(0.1);
    opts.parallel_cells = true;
    opts.record_every = 0.5;
    opts.treatment_start = 1.0;
    opts.snapshot_times = vec![3.0];
    opts.passage = Some(Passage {
        at: 20_000,
        keep_fraction: 0.25,
    });
    let ens = same_bytes(opts, true);
    let rep = &ens.replicates[0];
    assert!(rep.clones.len() > 1, "mutants arose");
    assert_eq!(rep.snapshots.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    plot_population(&dir.path().join("population"), &ens, "day").unwrap();
    plot_muller(&dir.path().join("muller"), rep, &ens.genotype_names, "day").unwrap();
    plot_species_distribution(
        &dir.path().join("species0"),
        &rep.snapshots[0],
        0,
        "species 0",
        "a.u.",
        "day",
    )
    .unwrap();
    for stem in ["population", "muller", "species0"] {
        assert!(dir.path().join(format!("{stem}.png")).exists());
        assert!(dir.path().join(format!("{stem}.svg")).exists());
    }
    if !ens.resistance_times().is_empty() {
        plot_resistance_times(&dir.path().join("ttr"), &ens, "day").unwrap();
        assert!(dir.path().join("ttr.png").exists());
    }
}

#[test]
fn hybrid_is_thread_independent() {
    let mut opts = AbmOptions::hybrid(0.1, 1000, 100);
    opts.record_every = 0.5;
    opts.treatment_start = 1.0;
    let ens = same_bytes(opts, false);
    assert!(ens.summaries.iter().all(|s| s.final_total > 0));
}
