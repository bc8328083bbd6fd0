//! Bad input gives clear errors carrying the facts, never a panic; noise that drives a
//! species below zero is clamped and counted.

use resloop::abm::{
    AbmError, AbmOptions, CellModel, ConstantExposure, ConstantRates, Founders, NoProgress,
    NoiseSpec, Simulation, StateError, States, StatesMut, StepContext,
};

fn one(count: u64) -> [Founders; 1] {
    [Founders { genotype: 0, count }]
}

#[test]
fn zero_cells() {
    let m = ConstantRates::single(1.0, 0.1);
    let e = Simulation::new(&m, &one(0), AbmOptions::per_cell(0.1), 1, 0).err();
    assert!(matches!(e, Some(AbmError::NoCells)));
    let e = Simulation::new(&m, &[], AbmOptions::per_cell(0.1), 1, 0).err();
    assert!(matches!(e, Some(AbmError::NoCells)));
}

#[test]
fn mutation_probability_outside_unit_interval() {
    for p in [1.5, -0.1, f64::NAN] {
        let m = ConstantRates::with_mutant(1.0, 0.1, p);
        match Simulation::new(&m, &one(10), AbmOptions::per_cell(0.1), 1, 0) {
            Err(AbmError::MutationProbability {
                from: 0,
                to: 1,
                probability,
            }) => {
                assert!(probability.is_nan() || probability == p)
            }
            Err(other) => panic!("wrong error {other}"),
            Ok(_) => panic!("accepted p = {p}"),
        }
    }
    let mut m = ConstantRates::with_mutant(1.0, 0.1, 0.6);
    m.mutations[0].push((1, 0.6));
    let e = Simulation::new(&m, &one(10), AbmOptions::per_cell(0.1), 1, 0).err();
    assert!(matches!(e, Some(AbmError::MutationSum { genotype: 0, .. })));
    let mut m = ConstantRates::single(1.0, 0.1);
    m.mutations[0].push((7, 0.1));
    let e = Simulation::new(&m, &one(10), AbmOptions::per_cell(0.1), 1, 0).err();
    assert!(matches!(
        e,
        Some(AbmError::GenotypeOutOfRange { genotype: 7, .. })
    ));
}

#[test]
fn population_over_memory_is_refused_up_front() {
    let m = ConstantRates::single(1.0, 0.1);
    let mut o = AbmOptions::per_cell(0.1);
    o.memory_limit_bytes = 1 << 20;
    match Simulation::new(&m, &one(1_000_000), o.clone(), 1, 0) {
        Err(AbmError::MemoryExceeded {
            cells,
            bytes,
            bytes_per_cell,
            limit,
        }) => {
            assert_eq!(cells, 1_000_000);
            assert_eq!(bytes, cells * bytes_per_cell);
            assert_eq!(limit, 1 << 20);
            let msg = AbmError::MemoryExceeded {
                cells,
                bytes,
                bytes_per_cell,
                limit,
            }
            .to_string();
            assert!(msg.contains("8000000 bytes"), "{msg}");
        }
        Err(other) => panic!("wrong error {other}"),
        Ok(_) => panic!("accepted"),
    }
    // The same population as a count costs nothing per cell.
    let mut agg = AbmOptions::aggregated(0.1);
    agg.memory_limit_bytes = 1 << 20;
    assert!(Simulation::new(&m, &one(1_000_000_000_000), agg, 1, 0).is_ok());
    // Growth past the limit during a run is refused too.
    let mut sim = Simulation::new(&m, &one(50_000), o, 1, 0).unwrap();
    let e = sim
        .advance_to(100.0, &ConstantExposure::default(), &NoProgress)
        .err();
    assert!(matches!(e, Some(AbmError::MemoryExceeded { .. })));
}

/// One species with configurable noise and hazard; optionally returns a NaN hazard.
struct Noisy {
    noise: NoiseSpec,
    nan: bool,
}

impl CellModel for Noisy {
    type Scratch = ();
    fn scratch(&self, _batch: usize) {}
    fn n_species(&self) -> usize {
        1
    }
    fn n_genotypes(&self) -> usize {
        1
    }
    fn initial_state(&self, _g: usize, out: &mut [f64]) {
        out[0] = 1.0;
    }
    fn advance(
        &self,
        _c: &StepContext<'_>,
        _s: &mut StatesMut<'_>,
        _x: &mut (),
    ) -> Result<(), StateError> {
        Ok(())
    }
    fn hazards(
        &self,
        _c: &StepContext<'_>,
        _s: &States<'_>,
        d: &mut [f64],
        m: &mut [f64],
        _x: &mut (),
    ) {
        d.fill(if self.nan { f64::NAN } else { 1.0 });
        m.fill(0.5);
    }
    fn mutations(&self, _g: usize) -> &[(usize, f64)] {
        &[]
    }
    fn noise(&self) -> NoiseSpec {
        self.noise.clone()
    }
}

#[test]
fn noise_errors_and_clamps() {
    let mk = |intrinsic: Vec<f64>, cv: f64| Noisy {
        noise: NoiseSpec {
            intrinsic,
            partition_cv: cv,
        },
        nan: false,
    };
    let o = AbmOptions::per_cell(0.1);
    // sigma sqrt(dt) = 3 * 0.316 ~ 0.95: ~15% of updates would go negative: refused.
    let e = Simulation::new(&mk(vec![3.0], 0.0), &one(10), o.clone(), 1, 0).err();
    assert!(
        matches!(e, Some(AbmError::NoiseTooLarge { species: 0, .. })),
        "{e:?}"
    );
    let e = Simulation::new(&mk(vec![-1.0], 0.0), &one(10), o.clone(), 1, 0).err();
    assert!(matches!(
        e,
        Some(AbmError::NoiseAmplitude { species: 0, .. })
    ));
    let e = Simulation::new(&mk(vec![0.1, 0.1], 0.0), &one(10), o.clone(), 1, 0).err();
    assert!(matches!(
        e,
        Some(AbmError::NoiseLength {
            given: 2,
            n_species: 1
        })
    ));
    let e = Simulation::new(&mk(vec![], 1.5), &one(10), o.clone(), 1, 0).err();
    assert!(matches!(e, Some(AbmError::PartitionNoise { .. })));
    // Lumping needs identical cells in a clone.
    let e = Simulation::new(
        &mk(vec![0.5], 0.0),
        &one(10),
        AbmOptions::aggregated(0.1),
        1,
        0,
    )
    .err();
    assert!(matches!(e, Some(AbmError::LumpingWithNoise)));
    // Partition noise with cv 0.5 sends a daughter below zero when xi > 2 (2.3%):
    // clamped at zero and counted, never negative.
    let m = mk(vec![], 0.5);
    let mut sim = Simulation::new(&m, &one(200), o, 3, 0).unwrap();
    sim.advance_to(4.0, &ConstantExposure::default(), &NoProgress)
        .unwrap();
    let r = sim.finish();
    assert!(r.clamps > 0, "expected clamped partitions");
}

#[test]
fn bad_hazard_and_options() {
    let m = Noisy {
        noise: NoiseSpec::default(),
        nan: true,
    };
    let mut sim = Simulation::new(&m, &one(10), AbmOptions::per_cell(0.1), 1, 0).unwrap();
    let e = sim
        .advance_to(1.0, &ConstantExposure::default(), &NoProgress)
        .err();
    assert!(
        matches!(
            e,
            Some(AbmError::BadHazard {
                which: "division",
                genotype: 0,
                ..
            })
        ),
        "{e:?}"
    );
    let c = ConstantRates::single(1.0, 0.1);
    for dt in [0.0, -1.0, f64::NAN] {
        let e = Simulation::new(&c, &one(10), AbmOptions::per_cell(dt), 1, 0).err();
        assert!(matches!(e, Some(AbmError::BadOption { name: "dt", .. })));
    }
    let e = Simulation::new(
        &c,
        &[Founders {
            genotype: 3,
            count: 1,
        }],
        AbmOptions::per_cell(0.1),
        1,
        0,
    )
    .err();
    assert!(matches!(
        e,
        Some(AbmError::GenotypeOutOfRange {
            genotype: 3,
            n_genotypes: 1
        })
    ));
    let e = Simulation::new(&c, &one(10), AbmOptions::hybrid(0.1, 10, 20), 1, 0).err();
    assert!(matches!(
        e,
        Some(AbmError::BadOption {
            name: "expand_below",
            ..
        })
    ));
}

#[test]
fn memory_is_watched_while_the_population_grows() {
    // 100 cells fit; growth at 1/h passes 1,000 cells within a few hours, and the run
    // stops there with the population it reached, not at the start.
    let m = ConstantRates::single(1.0, 0.0);
    let mut o = AbmOptions::per_cell(0.1);
    o.memory_limit_bytes = 1_000 * resloop::abm::bytes_per_cell(m.n_species());
    let mut sim = Simulation::new(&m, &one(100), o, 1, 0).unwrap();
    let e = sim
        .advance_to(100.0, &ConstantExposure(vec![]), &NoProgress)
        .err();
    match e {
        Some(AbmError::MemoryExceeded { cells, limit, .. }) => {
            assert!(cells > 1_000 && cells < 2_100, "stopped at {cells} cells");
            assert_eq!(limit, 1_000 * resloop::abm::bytes_per_cell(m.n_species()));
        }
        other => panic!("expected MemoryExceeded, got {other:?}"),
    }
    assert!(sim.time() < 10.0, "stopped early, at t = {}", sim.time());
}
