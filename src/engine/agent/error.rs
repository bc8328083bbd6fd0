//! Errors of the agent-based engine: each variant carries the facts needed to fix the
//! input (which genotype, species, value, limit).

use std::path::PathBuf;

/// Everything that can go wrong when configuring or running the agent-based engine.
#[derive(Debug, thiserror::Error)]
pub enum AbmError {
    #[error("the initial population has no cells")]
    NoCells,
    /// A schedule run through the therapy driver failed (its own error, kept whole).
    #[error(transparent)]
    Therapy(#[from] Box<crate::therapy::TherapyError>),
    #[error(transparent)]
    Schedule(#[from] Box<crate::schedule::ScheduleError>),
    #[error("the model declares no genotype")]
    NoGenotypes,
    #[error("genotype {genotype} is out of range: the model has {n_genotypes} genotypes")]
    GenotypeOutOfRange { genotype: usize, n_genotypes: usize },
    #[error(
        "mutation probability {probability} from genotype {from} to genotype {to} is outside [0, 1]"
    )]
    MutationProbability {
        from: usize,
        to: usize,
        probability: f64,
    },
    #[error("mutation probabilities of genotype {genotype} sum to {sum} > 1")]
    MutationSum { genotype: usize, sum: f64 },
    #[error(
        "intrinsic noise amplitude {amplitude} of species {species} is negative or not finite"
    )]
    NoiseAmplitude { species: usize, amplitude: f64 },
    #[error(
        "intrinsic noise amplitude {amplitude} of species {species} with dt = {dt} gives \
         sigma*sqrt(dt) = {scaled:.4}: a fraction {fraction:.2e} of updates would drive the \
         species negative (limit {limit:.0e}); reduce dt or the amplitude"
    )]
    NoiseTooLarge {
        species: usize,
        amplitude: f64,
        dt: f64,
        scaled: f64,
        fraction: f64,
        limit: f64,
    },
    #[error("partition noise coefficient of variation {cv} is outside [0, 1)")]
    PartitionNoise { cv: f64 },
    #[error("noise spec lists {given} intrinsic amplitudes but the model has {n_species} species")]
    NoiseLength { given: usize, n_species: usize },
    #[error(
        "a population of {cells} cells needs about {bytes} bytes ({bytes_per_cell} per cell), \
         over the memory limit of {limit} bytes"
    )]
    MemoryExceeded {
        cells: u64,
        bytes: u64,
        bytes_per_cell: u64,
        limit: u64,
    },
    #[error("option {name} = {value} is invalid: {reason}")]
    BadOption {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error(
        "lumping clones needs every cell of a clone to share its loop state, which noise \
         breaks: turn noise off or set lump_above to u64::MAX"
    )]
    LumpingWithNoise,
    #[error(
        "the model returned {which} hazard {value} for genotype {genotype} (`{name}`) at \
         t = {t}: hazards (the fate's division and death rates) must be finite and \
         non-negative"
    )]
    BadHazard {
        which: &'static str,
        genotype: usize,
        name: String,
        t: f64,
        value: f64,
    },
    #[error(
        "species `{species}` of genotype `{genotype}` became {value} in the step from t = {t} \
         (dt = {dt}): the \
         explicit step is too long for the loop's fastest rate (or a rate expression is \
         undefined there); use a shorter step or more substeps"
    )]
    BadState {
        species: String,
        genotype: String,
        t: f64,
        dt: f64,
        value: f64,
    },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Dose(#[from] crate::pkpd::DoseSpecError),
    #[error("{0}")]
    Settings(String),
    #[error("exposure: {0}")]
    Exposure(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("cannot build a thread pool with {threads} threads: {message}")]
    ThreadPool { threads: usize, message: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Plot(#[from] crate::output::plot::PlotError),
    #[error("nothing to plot: {0}")]
    NothingToPlot(&'static str),
}
