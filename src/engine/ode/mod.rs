//! Deterministic (ODE) engine: the loop of a representative cell of each genotype
//! plus the size of each subpopulation.

mod adapter;
mod dopri5;
mod driver;
mod population;
mod rosenbrock;
mod run;
mod solver;

pub use adapter::OdeSolversDopri5;
pub use dopri5::Dopri5;
pub use driver::{simulate, simulate_with, Column, OdeOptions, SimError, SimResult, Timeline};
pub use population::{PopulationSystem, ACC_PER_GENOTYPE, ACC_VARIANCE};
pub use rosenbrock::Rosenbrock23;
pub use run::{
    timeline_columns, total_cells, Captured, GenotypeReading, OdeRun, RowRecorder, RunSettings,
};
pub use solver::{Method, OdeSystem, Solver, SolverError, SolverErrorKind, SolverStats};
