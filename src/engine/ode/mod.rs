//! Deterministic (ODE) engine: the loop of a representative cell of each genotype
//! plus the size of each subpopulation.

mod adapter;
mod auto;
mod bdf;
mod dopri5;
mod driver;
mod fill;
mod lu;
mod population;
mod radau;
mod rodas;
mod rosenbrock;
mod run;
mod solver;
mod step_end;
pub mod testset;

pub use adapter::OdeSolversDopri5;
pub use auto::Auto;
pub use bdf::Bdf;
pub use dopri5::Dopri5;
pub use driver::{simulate, simulate_with, Column, OdeOptions, SimError, SimResult, Timeline};
pub use lu::{DenseLu, LuScalar};
pub use population::{PopulationSystem, ACC_PER_GENOTYPE, ACC_VARIANCE};
pub use radau::Radau5;
pub use rodas::{Rodas, RodasTableau, RODAS4, RODAS5P};
pub use rosenbrock::Rosenbrock23;
pub use run::{
    default_negative_tolerance, rescale_cells, timeline_columns, total_cells, Captured,
    GenotypeReading, OdeRun, RowRecorder, RunSettings,
};
pub use solver::{Method, OdeSystem, Solver, SolverError, SolverErrorKind, SolverStats, StepLimit};
