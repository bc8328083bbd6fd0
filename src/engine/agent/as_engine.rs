//! The agent-based simulation behind the [`Engine`] trait, so the one therapy driver
//! (`crate::therapy`) runs schedules on it like on the mean-field and hybrid engines.
//!
//! The population block it reports is, per genotype, the mean loop state of that
//! genotype's cells (the model's initial state for a genotype with no cell) and its
//! cell count; assays and timeline rows read it as they read the ODE engines'.
//! Clones above 10,000 cells are kept as counts with a shared state when the model
//! has no cell-to-cell noise (the `abm` command's `auto` mode), so in vivo tumours of
//! 10^8 cells fit in memory.

use super::compiled::CompiledCells;
use super::error::AbmError;
use super::model::{CellModel, Exposure as CellExposure};
use super::simulation::{AbmOptions, Founders, NoProgress, Progress, Simulation, StopReason};
use crate::compile::CompiledModel;
use crate::engine::ode::{RunSettings, SimError, SolverStats};
use crate::engine::{Advanced, Counters, Engine, EngineKind, Watch, WatchTarget};
use crate::pkpd::{DoseEvent, DoseKind, Exposure};

/// Clones above this many cells are counts (without noise); below
/// [`EXPAND_BELOW`] they are cells again.
const LUMP_ABOVE: u64 = 10_000;
const EXPAND_BELOW: u64 = 1_000;

/// The exposure in force between two stops, in closed form.
struct Between<'a>(&'a Exposure);

impl CellExposure for Between<'_> {
    fn drugs_at(&self, t: f64, out: &mut [f64]) {
        self.0.concentrations(t, out);
    }
}

/// An agent-based replicate as an [`Engine`].
pub struct AgentEngine<'a> {
    model: &'a CompiledModel,
    cells: &'a CompiledCells,
    sim: Simulation<'a, CompiledCells>,
    exposure: Exposure,
    population: Vec<f64>,
    stride: usize,
    /// Told of every record the simulation keeps.
    progress: &'a dyn Progress,
    /// The time reported: the requested end of an advance that reached it (the
    /// simulation's sum of steps can fall short of it by rounding), else the
    /// simulation's own time.
    t: f64,
}

fn sim_err(e: AbmError) -> SimError {
    SimError::Settings(format!("agent-based engine: {e}"))
}

impl<'a> AgentEngine<'a> {
    /// Start replicate `replicate` of `seed` from `y0` (the population block; cell
    /// counts rounded to whole cells), with time step `dt` (model time unit), room
    /// for `duration`, and the run's carrying capacity and division factor.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &'a CompiledModel,
        cells: &'a CompiledCells,
        y0: &[f64],
        dt: f64,
        duration: f64,
        settings: &RunSettings,
        seed: u64,
        replicate: u64,
    ) -> Result<Self, SimError> {
        let ns = model.species.len();
        let stride = ns + 1;
        let founders: Vec<Founders> = y0
            .chunks_exact(stride)
            .enumerate()
            .map(|(g, c)| Founders {
                genotype: g,
                count: c[ns].max(0.0).round() as u64,
            })
            .filter(|f| f.count > 0)
            .collect();
        let mut opts = if cells.noise().is_off() {
            AbmOptions::hybrid(dt, LUMP_ABOVE, EXPAND_BELOW)
        } else {
            AbmOptions::per_cell(dt)
        };
        // The driver records and passages; the simulation keeps two records only.
        opts.record_every = duration.max(dt);
        opts.record_clones = false;
        opts.carrying_capacity = settings.carrying_capacity;
        opts.division_factor = settings.division_factor;
        opts.division_from = settings.division_from;
        opts.stop_when_extinct = true;
        let sim = Simulation::new(cells, &founders, opts, seed, replicate).map_err(sim_err)?;
        Ok(Self::from_simulation(model, cells, sim, &NoProgress))
    }

    /// Wrap a simulation the caller set up (its own options: step, mode, records,
    /// snapshots), at time 0 and with no drug given yet. The `abm` command runs
    /// schedules this way and takes the simulation back with
    /// [`AgentEngine::into_simulation`] for its clone lineages and snapshots.
    pub fn from_simulation(
        model: &'a CompiledModel,
        cells: &'a CompiledCells,
        sim: Simulation<'a, CompiledCells>,
        progress: &'a dyn Progress,
    ) -> Self {
        let mut e = AgentEngine {
            model,
            cells,
            sim,
            exposure: Exposure::new(model),
            population: Vec::new(),
            stride: model.species.len() + 1,
            progress,
            t: 0.0,
        };
        e.refresh();
        e
    }

    /// The simulation, where the run left it.
    pub fn into_simulation(self) -> Simulation<'a, CompiledCells> {
        self.sim
    }

    /// Rebuild the population block from the cells.
    fn refresh(&mut self) {
        let ns = self.stride - 1;
        let (counts, means) = self.sim.genotype_means();
        let mut init = vec![0.0; ns];
        self.population.clear();
        for (g, &n) in counts.iter().enumerate() {
            let m = &means[g * ns..(g + 1) * ns];
            if n == 0 || m.iter().any(|v| !v.is_finite()) {
                self.cells.initial_state(g, &mut init);
                self.population.extend_from_slice(&init);
            } else {
                self.population.extend_from_slice(m);
            }
            self.population.push(n as f64);
        }
    }
}

impl Engine for AgentEngine<'_> {
    fn kind(&self) -> EngineKind {
        EngineKind::AgentBased
    }
    fn time(&self) -> f64 {
        self.t
    }
    fn population(&self) -> &[f64] {
        &self.population
    }
    fn stride(&self) -> usize {
        self.stride
    }
    fn exposure(&self) -> &Exposure {
        &self.exposure
    }
    fn apply_dose(&mut self, drug: usize, kind: DoseKind) -> Result<(), SimError> {
        let ev = DoseEvent {
            time: self.t,
            drug,
            kind,
        };
        self.exposure.apply(&ev, self.model)?;
        Ok(())
    }
    fn passage(&mut self, split: f64) -> Result<(), SimError> {
        if !(split.is_finite() && split >= 1.0) {
            return Err(SimError::Settings(format!(
                "a passage splits 1:K with K >= 1, found {split}"
            )));
        }
        self.sim.passage(1.0 / split).map_err(sim_err)?;
        self.refresh();
        Ok(())
    }
    fn advance_to(&mut self, t_end: f64, watches: &[Watch]) -> Result<Advanced, SimError> {
        if let Some(w) = watches.iter().find(|w| w.target != WatchTarget::Total) {
            return Err(SimError::Settings(format!(
                "the agent-based engine watches the total population only, not {:?}",
                w.target
            )));
        }
        let limit = watches
            .iter()
            .map(|w| w.cells.max(0.0).ceil())
            .fold(f64::INFINITY, f64::min);
        if self.sim.population() == 0 {
            // Extinct before this advance: nothing is left to move.
            self.t = t_end;
            return Ok(Advanced::Reached);
        }
        self.sim
            .set_stop_at_population(limit.is_finite().then_some(limit as u64));
        let why = self
            .sim
            .advance_to(t_end, &Between(&self.exposure), self.progress)
            .map_err(sim_err)?;
        self.refresh();
        self.t = match why {
            StopReason::ReachedTime => t_end,
            _ => self.sim.time(),
        };
        Ok(match why {
            StopReason::Extinct => Advanced::Extinct,
            StopReason::PopulationReached => {
                let total = self.sim.population() as f64;
                let i = watches.iter().position(|w| total >= w.cells).unwrap_or(0);
                Advanced::Watch(i)
            }
            _ => Advanced::Reached,
        })
    }
    fn counters(&self) -> Option<&Counters> {
        None
    }
    fn stats(&self) -> SolverStats {
        SolverStats::default()
    }
}
