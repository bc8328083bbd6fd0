//! Ensembles of replicates, each from its own random stream, run in parallel with
//! identical output for any number of threads; summary bands, time to resistance,
//! probabilities of resistance and extinction, and lineage attribution of relapse.

use rayon::prelude::*;

use crate::engine::agent::error::AbmError;
use crate::engine::agent::model::{CellModel, ConstantExposure, ConstantRates, Exposure};
use crate::engine::agent::simulation::{
    AbmOptions, CloneInfo, Founders, Progress, Record, ReplicateResult, Simulation,
};

/// When a replicate counts as resistant. Evaluated on the timeline records at or after
/// the treatment start.
#[derive(Debug, Clone, PartialEq)]
pub enum ResistanceCriterion {
    /// The population regrows to `factor` times the smallest size it has had since
    /// treatment start (e.g. 1.25 for "regrows by more than 25% from its nadir").
    Regrowth { factor: f64 },
    /// The population reaches `cells`.
    AboveTotal { cells: u64 },
    /// The listed genotypes make up more than `fraction` of the population.
    GenotypeFraction {
        genotypes: Vec<usize>,
        fraction: f64,
    },
    /// The replicate's own first resistance event, as a driver (a therapy schedule's
    /// rules) recorded it in [`ReplicateResult::resistance`].
    Events,
}

impl ResistanceCriterion {
    /// First record time at which the criterion holds, if any.
    pub fn first_time(&self, timeline: &[Record], treatment_start: f64) -> Option<f64> {
        let mut nadir = u64::MAX;
        for r in timeline.iter().filter(|r| r.t >= treatment_start) {
            nadir = nadir.min(r.total);
            let hit = match self {
                ResistanceCriterion::Regrowth { factor } => {
                    nadir > 0 && r.total as f64 >= factor * nadir as f64 && r.total > nadir
                }
                ResistanceCriterion::AboveTotal { cells } => r.total >= *cells,
                ResistanceCriterion::GenotypeFraction {
                    genotypes,
                    fraction,
                } => {
                    let sel: u64 = genotypes.iter().filter_map(|&g| r.by_genotype.get(g)).sum();
                    r.total > 0 && sel as f64 > fraction * r.total as f64
                }
                // Not a timeline rule: see `ResistanceCriterion::time_in`.
                ResistanceCriterion::Events => false,
            };
            if hit {
                return Some(r.t);
            }
        }
        None
    }
}

/// Where the clone behind a relapse came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A founding clone of the base genotype: no mutation (selection of, or
    /// adaptation by, the loop).
    Founder,
    /// A mutant clone present at the start or arisen before treatment start.
    PreExisting,
    /// A mutant clone that arose during treatment.
    DeNovo,
}

impl Origin {
    /// Classify a clone by its own founding event. Genotype 0 is the base genotype: a
    /// founding clone of any other genotype was present before treatment.
    pub fn of(clone: &CloneInfo, treatment_start: f64) -> Origin {
        match clone.parent {
            None if clone.genotype == 0 => Origin::Founder,
            None => Origin::PreExisting,
            Some(_) if clone.born < treatment_start => Origin::PreExisting,
            Some(_) => Origin::DeNovo,
        }
    }

    /// Lower-case name used in CSV files.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Founder => "founder",
            Origin::PreExisting => "pre-existing",
            Origin::DeNovo => "de-novo",
        }
    }
}

/// Per-replicate summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicateSummary {
    pub replicate: u64,
    pub final_time: f64,
    pub final_total: u64,
    pub final_by_genotype: Vec<u64>,
    pub extinction_time: Option<f64>,
    pub resistance_time: Option<f64>,
    /// Largest clone at the end, its genotype and origin.
    pub dominant_clone: Option<(u32, usize, Origin)>,
    /// Largest clone at the resistance time (needs `record_clones`).
    pub relapse_clone: Option<(u32, usize, Origin)>,
    pub clamps: u64,
}

/// A timeline variable: cells of the whole population or of one genotype, or the
/// mean of one loop species over all cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    Total,
    Genotype(usize),
    SpeciesMean(usize),
}

impl Variable {
    /// Value in a record (NaN for a species mean of an extinct population).
    pub fn of(self, r: &Record) -> f64 {
        match self {
            Variable::Total => r.total as f64,
            Variable::Genotype(g) => r.by_genotype.get(g).copied().unwrap_or(0) as f64,
            Variable::SpeciesMean(s) => r.species_mean_all(s),
        }
    }
}

/// Median and interquartile range of one variable at one time across replicates.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub t: f64,
    pub variable: Variable,
    pub q25: f64,
    pub median: f64,
    pub q75: f64,
}

/// An ensemble's replicates and summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    pub n_genotypes: usize,
    /// Names from the model, for outputs.
    pub genotype_names: Vec<String>,
    pub species_names: Vec<String>,
    pub replicates: Vec<ReplicateResult>,
    pub summaries: Vec<ReplicateSummary>,
    /// Common time grid of the bands: the record times of the longest replicate.
    pub bands: Vec<Band>,
}

/// What to run: replicates, seed, end time, threads, and the resistance criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleConfig {
    pub replicates: u64,
    pub seed: u64,
    pub t_end: f64,
    /// `None`: the global rayon pool; `Some(k)`: a local pool of `k` threads.
    pub threads: Option<usize>,
    pub criterion: ResistanceCriterion,
}

impl EnsembleConfig {
    /// `replicates` replicates from `seed` to `t_end` on the global rayon pool.
    pub fn new(replicates: u64, seed: u64, t_end: f64, criterion: ResistanceCriterion) -> Self {
        EnsembleConfig {
            replicates,
            seed,
            t_end,
            threads: None,
            criterion,
        }
    }
}

/// Run replicate `replicate` of `config` from its own stream `(config.seed, replicate)`
/// to `config.t_end`.
pub fn run_replicate<M: CellModel + ?Sized>(
    model: &M,
    founders: &[Founders],
    opts: &AbmOptions,
    exposure: &dyn Exposure,
    config: &EnsembleConfig,
    replicate: u64,
    progress: &dyn Progress,
) -> Result<ReplicateResult, AbmError> {
    let mut sim = Simulation::new(model, founders, opts.clone(), config.seed, replicate)?;
    sim.advance_to(config.t_end, exposure, progress)?;
    Ok(sim.finish())
}

/// Run an ensemble. Replicates run in parallel; output is identical for any pool size.
pub fn run_ensemble<M: CellModel + ?Sized>(
    model: &M,
    founders: &[Founders],
    opts: &AbmOptions,
    exposure: &dyn Exposure,
    config: &EnsembleConfig,
    progress: &dyn Progress,
) -> Result<Ensemble, AbmError> {
    // Validate once up front so a bad input fails before any thread starts.
    Simulation::new(model, founders, opts.clone(), config.seed, 0)?;
    run_replicates(model, config, progress, |r| {
        run_replicate(model, founders, opts, exposure, config, r, progress)
    })
}

/// Run `config.replicates` replicates with `run_one(replicate)` (a pure function of
/// the replicate index) in parallel on the configured pool, and summarise them. The
/// building block of [`run_ensemble`] and of schedule drivers.
pub fn run_replicates<M: CellModel + ?Sized>(
    model: &M,
    config: &EnsembleConfig,
    progress: &dyn Progress,
    run_one: impl Fn(u64) -> Result<ReplicateResult, AbmError> + Sync,
) -> Result<Ensemble, AbmError> {
    if config.replicates == 0 {
        return Err(AbmError::BadOption {
            name: "replicates",
            value: 0.0,
            reason: "must be at least 1",
        });
    }
    let run = || -> Result<Vec<ReplicateResult>, AbmError> {
        (0..config.replicates)
            .into_par_iter()
            .map(|r| {
                let res = run_one(r);
                progress.replicate_done(r);
                res
            })
            .collect()
    };
    let replicates = match config.threads {
        None => run()?,
        Some(k) => rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build()
            .map_err(|e| AbmError::ThreadPool {
                threads: k,
                message: e.to_string(),
            })?
            .install(run)?,
    };
    Ok(summarise(model, replicates, &config.criterion))
}

impl ConstantRates {
    /// Run an ensemble of this drug-free null model from `n0` cells of genotype 0.
    pub fn run_from(
        &self,
        n0: u64,
        opts: &AbmOptions,
        config: &EnsembleConfig,
    ) -> Result<Ensemble, AbmError> {
        let founders = [Founders {
            genotype: 0,
            count: n0,
        }];
        let no_drug = ConstantExposure::default();
        run_ensemble(self, &founders, opts, &no_drug, config, &super::NoProgress)
    }
}

/// Summaries and bands of finished replicates of `model`.
pub fn summarise<M: CellModel + ?Sized>(
    model: &M,
    replicates: Vec<ReplicateResult>,
    criterion: &ResistanceCriterion,
) -> Ensemble {
    let n_genotypes = model.n_genotypes();
    let summaries = replicates
        .iter()
        .map(|r| summarise_one(r, criterion))
        .collect();
    let bands = bands(n_genotypes, model.n_species(), &replicates);
    Ensemble {
        n_genotypes,
        genotype_names: (0..n_genotypes).map(|g| model.genotype_name(g)).collect(),
        species_names: (0..model.n_species())
            .map(|s| model.species_name(s))
            .collect(),
        replicates,
        summaries,
        bands,
    }
}

fn summarise_one(r: &ReplicateResult, criterion: &ResistanceCriterion) -> ReplicateSummary {
    let last = r.timeline.last();
    let resistance_time = match criterion {
        ResistanceCriterion::Events => r.resistance.as_ref().map(|x| x.0),
        c => c.first_time(&r.timeline, r.treatment_start),
    };
    let classify = |id: u32| {
        let c = &r.clones[id as usize];
        (id, c.genotype, Origin::of(c, r.treatment_start))
    };
    let dominant_clone = r
        .clones
        .iter()
        .filter(|c| c.size > 0)
        .max_by(|a, b| a.size.cmp(&b.size).then(b.id.cmp(&a.id)))
        .map(|c| classify(c.id));
    let relapse_clone = resistance_time.and_then(|t| {
        r.clone_sizes
            .iter()
            .find(|cs| cs.t >= t)
            .and_then(|cs| {
                cs.sizes
                    .iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            })
            .map(|&(id, _)| classify(id))
    });
    ReplicateSummary {
        replicate: r.replicate,
        final_time: r.final_time,
        final_total: last.map_or(0, |l| l.total),
        final_by_genotype: last.map_or_else(Vec::new, |l| l.by_genotype.clone()),
        extinction_time: r.extinction_time,
        resistance_time,
        dominant_clone,
        relapse_clone,
        clamps: r.clamps,
    }
}

/// Quantile `q` of sorted data (linear interpolation between order statistics, the
/// "type 7" rule of Hyndman and Fan 1996).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Value of a timeline at `t`: the last record at or before `t` (so an extinct replicate
/// stays at 0 and a stopped one keeps its last value).
fn value_at(timeline: &[Record], t: f64, var: Variable) -> f64 {
    let idx = timeline.partition_point(|r| r.t <= t + 1e-12 * t.abs().max(1.0));
    match idx.checked_sub(1).map(|i| &timeline[i]) {
        None => f64::NAN,
        Some(r) => var.of(r),
    }
}

fn bands(n_genotypes: usize, n_species: usize, replicates: &[ReplicateResult]) -> Vec<Band> {
    let grid: Vec<f64> = replicates
        .iter()
        .max_by_key(|r| r.timeline.len())
        .map(|r| r.timeline.iter().map(|x| x.t).collect())
        .unwrap_or_default();
    let vars: Vec<Variable> = std::iter::once(Variable::Total)
        .chain((0..n_genotypes).map(Variable::Genotype))
        .chain((0..n_species).map(Variable::SpeciesMean))
        .collect();
    let mut out = Vec::with_capacity(grid.len() * vars.len());
    let mut vals = Vec::with_capacity(replicates.len());
    for &t in &grid {
        for &v in &vars {
            vals.clear();
            vals.extend(
                replicates
                    .iter()
                    .map(|r| value_at(&r.timeline, t, v))
                    .filter(|x| !x.is_nan()),
            );
            vals.sort_by(f64::total_cmp);
            out.push(Band {
                t,
                variable: v,
                q25: quantile(&vals, 0.25),
                median: quantile(&vals, 0.5),
                q75: quantile(&vals, 0.75),
            });
        }
    }
    out
}

impl Ensemble {
    /// Fraction of replicates resistant by time `t`.
    pub fn probability_resistant_by(&self, t: f64) -> f64 {
        self.fraction(|s| s.resistance_time.is_some_and(|x| x <= t))
    }

    /// Fraction of replicates extinct by time `t`.
    pub fn probability_extinct_by(&self, t: f64) -> f64 {
        self.fraction(|s| s.extinction_time.is_some_and(|x| x <= t))
    }

    /// Times to resistance of the replicates that became resistant, sorted.
    pub fn resistance_times(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .summaries
            .iter()
            .filter_map(|s| s.resistance_time)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// How many replicates relapsed from each origin: founder, pre-existing, de novo.
    pub fn relapse_origins(&self) -> [u64; 3] {
        let mut c = [0; 3];
        for s in &self.summaries {
            if let Some((_, _, o)) = s.relapse_clone {
                c[o as usize] += 1;
            }
        }
        c
    }

    fn fraction(&self, f: impl Fn(&ReplicateSummary) -> bool) -> f64 {
        if self.summaries.is_empty() {
            return f64::NAN;
        }
        self.summaries.iter().filter(|s| f(s)).count() as f64 / self.summaries.len() as f64
    }
}
