//! The interface between the agent-based engine and a cell model.
//!
//! The engine knows nothing about any particular feedback loop: a model is anything that
//! implements [`CellModel`]. The engine hands the model *batches* of cells of one
//! genotype, stored species-major (all values of species 0, then all of species 1, ...),
//! so that a model can write tight, vectorisable loops over one species at a time.
//!
//! Loop states are stored as `f32`: four bytes per species per cell is what lets 1e7
//! cells with an 8-species loop fit in about 0.5 GB (see `docs/abm.md`, "Memory"). A
//! model that needs `f64` arithmetic can widen into its own [`CellModel::Scratch`].

/// Where a batch sits in time and which exposure it sees, passed to every model call.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// Genotype of every cell in the batch (index into the model's genotypes).
    pub genotype: usize,
    /// In [`CellModel::advance`]: time at the start of the step. In
    /// [`CellModel::hazards`]: the time of the states (the end of the step).
    /// Model time unit.
    pub t: f64,
    /// Step length (model time unit). Zero in [`CellModel::hazards`] calls.
    pub dt: f64,
    /// Drug concentrations at the midpoint of the step, one per drug, in the units the
    /// model declares. Exposure is smooth between doses and no step straddles a dose
    /// (see [`Exposure::next_discontinuity`]), so the midpoint value makes the exposure
    /// seen over a step second-order accurate.
    pub drugs: &'a [f64],
}

/// A loop state that an explicit step made unusable (not finite, or negative beyond
/// rounding): the step is too long for the loop's fastest timescale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateError {
    /// Species index.
    pub species: usize,
    /// The offending value.
    pub value: f64,
}

/// Species-major view of a batch of cells: species `s` of cell `i` is
/// `data[s * stride + i]`, for `i < len`. Used read-only as [`States`] and mutably as
/// [`StatesMut`].
#[derive(Debug)]
pub struct Batch<S> {
    data: S,
    stride: usize,
    len: usize,
    n_species: usize,
}

/// Read-only batch of cells.
pub type States<'a> = Batch<&'a [f32]>;
/// Mutable batch of cells.
pub type StatesMut<'a> = Batch<&'a mut [f32]>;

impl<S: AsRef<[f32]>> Batch<S> {
    /// Wrap species-major storage. `data` must hold `n_species` rows of `stride` values
    /// each (the last row may stop at `len`).
    pub fn new(data: S, stride: usize, len: usize, n_species: usize) -> Self {
        debug_assert!(len <= stride || n_species == 0);
        Batch {
            data,
            stride,
            len,
            n_species,
        }
    }

    /// Number of cells in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the batch holds no cell.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of species per cell.
    pub fn n_species(&self) -> usize {
        self.n_species
    }

    /// Values of species `s` for every cell of the batch.
    pub fn species(&self, s: usize) -> &[f32] {
        let start = s * self.stride;
        &self.data.as_ref()[start..start + self.len]
    }

    /// The whole species-major storage and its stride: species `s` of cell `i` is at
    /// `data[s * stride + i]` (for a batch program reading cells in place).
    pub fn raw(&self) -> (&[f32], usize) {
        (self.data.as_ref(), self.stride)
    }

    /// A read-only view of the same batch.
    pub fn as_states(&self) -> States<'_> {
        Batch::new(self.data.as_ref(), self.stride, self.len, self.n_species)
    }
}

impl<S: AsRef<[f32]> + AsMut<[f32]>> Batch<S> {
    /// Mutable values of species `s` for every cell of the batch.
    pub fn species_mut(&mut self, s: usize) -> &mut [f32] {
        let start = s * self.stride;
        &mut self.data.as_mut()[start..start + self.len]
    }

    /// Species `read` (read-only) and species `write` (mutable) at once, e.g. to update
    /// one species from another without copying. Panics if `read == write` (a model
    /// bug, not user input).
    pub fn pair_mut(&mut self, read: usize, write: usize) -> (&[f32], &mut [f32]) {
        assert_ne!(read, write, "pair_mut needs two different species");
        let (len, stride) = (self.len, self.stride);
        if read < write {
            let (a, b) = self.data.as_mut().split_at_mut(write * stride);
            (&a[read * stride..read * stride + len], &mut b[..len])
        } else {
            let (a, b) = self.data.as_mut().split_at_mut(read * stride);
            (&b[..len], &mut a[write * stride..write * stride + len])
        }
    }
}

/// Stochastic ingredients of a model that the engine applies on top of the
/// deterministic loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseSpec {
    /// Multiplicative intrinsic noise amplitude per species, per square-root time unit
    /// (0 = off). Each step adds `sigma_s * x * sqrt(dt) * xi`, `xi ~ N(0, 1)`, to
    /// species `s` (Euler-Maruyama for `dx = ... + sigma_s x dW`, the form a chemical
    /// Langevin equation takes when fluctuations scale with abundance). Empty = all off.
    pub intrinsic: Vec<f64>,
    /// Coefficient of variation of partitioning at division: the two daughters receive
    /// `x (1 + cv xi)` and `x (1 - cv xi)` of every species (0 = exact inheritance).
    pub partition_cv: f64,
}

impl NoiseSpec {
    /// True when neither intrinsic nor partition noise is on, so that every cell of a
    /// clone keeps exactly the same loop state (the condition for lumping a clone).
    pub fn is_off(&self) -> bool {
        self.partition_cv == 0.0 && self.intrinsic.iter().all(|&s| s == 0.0)
    }
}

/// A cell model: the loop each cell carries, how it sets the cell's fate, and which
/// heritable variants it can mutate into.
///
/// Contract (relied on by the engine's determinism and by lumping identical cells):
/// every call must treat the cells of a batch independently and deterministically, so
/// that the result for a cell depends only on its own state, the context and the
/// model, never on its position in the batch or on the batch size.
pub trait CellModel: Sync {
    /// Per-worker working memory for model calls on one batch, made once by
    /// [`CellModel::scratch`] and reused for every batch (so the hot loop allocates
    /// nothing). `()` for a model that needs none.
    type Scratch: Send;

    /// Number of loop species each cell carries (may be 0).
    fn n_species(&self) -> usize;

    /// Number of heritable genotypes (at least 1).
    fn n_genotypes(&self) -> usize;

    /// Number of drugs whose concentrations the model reads from `StepContext::drugs`.
    fn n_drugs(&self) -> usize {
        0
    }

    /// Working memory for batches of up to `batch` cells.
    fn scratch(&self, batch: usize) -> Self::Scratch;

    /// Name of species `s`, for error messages and outputs (default: its index).
    fn species_name(&self, s: usize) -> String {
        s.to_string()
    }

    /// Name of genotype `g`, for error messages and outputs (default: its index).
    fn genotype_name(&self, g: usize) -> String {
        g.to_string()
    }

    /// Initial loop state of a founder cell of `genotype`, written to `out`
    /// (`out.len() == n_species()`). Default: all zero.
    fn initial_state(&self, genotype: usize, out: &mut [f64]) {
        let _ = genotype;
        out.fill(0.0);
    }

    /// Advance the loop state of every cell of the batch from `ctx.t` to
    /// `ctx.t + ctx.dt` (explicit integration; the engine adds noise afterwards).
    /// A state the step made unusable is reported, not stored silently; the engine
    /// turns it into an error naming the species, genotype, time and step.
    fn advance(
        &self,
        ctx: &StepContext<'_>,
        states: &mut StatesMut<'_>,
        scratch: &mut Self::Scratch,
    ) -> Result<(), StateError>;

    /// Division and death hazards (per cell per time unit) of every cell of the batch,
    /// written to `div[i]` and `death[i]` (`div.len() == death.len() == states.len()`).
    /// Hazards must be finite and non-negative; the engine reports anything else as an
    /// error that names the genotype, time and value.
    fn hazards(
        &self,
        ctx: &StepContext<'_>,
        states: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        scratch: &mut Self::Scratch,
    );

    /// Whether the hazards can change within a step (they read the loop state, the
    /// drugs or time). If so the engine evaluates them at both ends of the step and
    /// uses the mean (trapezoid rule, second order); if not, once. Default: true.
    fn hazards_vary(&self) -> bool {
        true
    }

    /// Heritable transitions at division: `(child genotype, probability per division)`.
    /// At a division, at most one daughter changes genotype; the probabilities of one
    /// genotype must each lie in `[0, 1]` and sum to at most 1.
    fn mutations(&self, genotype: usize) -> &[(usize, f64)];

    /// Intrinsic and partition noise; default: none.
    fn noise(&self) -> NoiseSpec {
        NoiseSpec::default()
    }
}

/// Drug exposure over time, so a therapy schedule can be plugged into the engine.
pub trait Exposure: Sync {
    /// Write the concentration of every drug at time `t` into `out`
    /// (`out.len()` is the model's `n_drugs()`).
    fn drugs_at(&self, t: f64, out: &mut [f64]);

    /// The first time after `t` at which the exposure jumps (a dose, a refresh), if
    /// any. The engine ends a step there, so no step straddles a jump. Default: none.
    fn next_discontinuity(&self, t: f64) -> Option<f64> {
        let _ = t;
        None
    }
}

/// Constant exposure (e.g. drug-free growth, or an in-vitro concentration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConstantExposure(pub Vec<f64>);

impl Exposure for ConstantExposure {
    fn drugs_at(&self, _t: f64, out: &mut [f64]) {
        for (o, c) in out
            .iter_mut()
            .zip(self.0.iter().chain(std::iter::repeat(&0.0)))
        {
            *o = *c;
        }
    }
}

/// Exposure given by a closure `f(t, out)`.
pub struct FnExposure<F>(pub F);

impl<F: Fn(f64, &mut [f64]) + Sync> Exposure for FnExposure<F> {
    fn drugs_at(&self, t: f64, out: &mut [f64]) {
        (self.0)(t, out)
    }
}

/// The simplest cell model: no loop species, constant division and death hazards per
/// genotype, and a fixed mutation table. It is the linear birth-death(-mutation)
/// process with known exact results, used by the tests and benchmarks, and a
/// null model for comparing a loop against pure genetic resistance.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantRates {
    /// Division hazard per genotype (per time unit).
    pub division: Vec<f64>,
    /// Death hazard per genotype (per time unit).
    pub death: Vec<f64>,
    /// Mutation table per genotype: `(child genotype, probability per division)`.
    pub mutations: Vec<Vec<(usize, f64)>>,
}

impl ConstantRates {
    /// One genotype with division hazard `b` and death hazard `d`, no mutation.
    pub fn single(b: f64, d: f64) -> Self {
        ConstantRates {
            division: vec![b],
            death: vec![d],
            mutations: vec![Vec::new()],
        }
    }

    /// Two genotypes with the same hazards; genotype 0 mutates to 1 with probability `u`
    /// per division (the Luria-Delbrueck setting).
    pub fn with_mutant(b: f64, d: f64, u: f64) -> Self {
        ConstantRates {
            division: vec![b, b],
            death: vec![d, d],
            mutations: vec![vec![(1, u)], Vec::new()],
        }
    }
}

impl CellModel for ConstantRates {
    type Scratch = ();

    fn n_species(&self) -> usize {
        0
    }

    fn scratch(&self, _batch: usize) {}

    fn n_genotypes(&self) -> usize {
        // The shortest table bounds the genotypes, so a ragged table never indexes out
        // of range.
        self.division
            .len()
            .min(self.death.len())
            .min(self.mutations.len())
    }

    fn advance(
        &self,
        _ctx: &StepContext<'_>,
        _states: &mut StatesMut<'_>,
        _scratch: &mut (),
    ) -> Result<(), StateError> {
        Ok(())
    }

    fn hazards(
        &self,
        ctx: &StepContext<'_>,
        _states: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        _scratch: &mut (),
    ) {
        div.fill(self.division[ctx.genotype]);
        death.fill(self.death[ctx.genotype]);
    }

    fn hazards_vary(&self) -> bool {
        false
    }

    fn mutations(&self, genotype: usize) -> &[(usize, f64)] {
        &self.mutations[genotype]
    }
}
