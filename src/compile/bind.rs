//! Binding: fix the parameter values of one run (per genotype), inline drug effects
//! and observables, fold constants, and compile the register programs the engines
//! evaluate.
//!
//! After binding, expressions read only species, drug concentrations and time, so
//! a Hill term `K^n` with parameter K and n is computed once here, not at every
//! right-hand-side evaluation.

use super::types::{CompiledModel, Effect};
use crate::expr::deriv::{diff_within, TooLarge};
use crate::expr::ir::UnboundVar;
use crate::expr::{Expr, Program, Var};
use crate::model::EffectMode;

/// Most expression nodes the exact Jacobian of one genotype may take (about 50 bytes
/// each). The derivative of an expression can be larger than the expression (the
/// chain rule copies inner terms), so it has its own budget.
pub const MAX_JACOBIAN_NODES: usize = 5_000_000;

/// Why a model could not be bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Unbound(#[from] UnboundVar),
    #[error("the exact Jacobian of genotype `{genotype}` is too large: {source} (at d rate[{row}] / d {species}); this limit cannot be raised: simplify or split the rate expressions")]
    Jacobian {
        genotype: String,
        row: usize,
        species: String,
        #[source]
        source: TooLarge,
    },
}

/// The programs of one genotype.
#[derive(Debug, Clone)]
pub struct BoundGenotype {
    /// Parameter values in force (base values, `--set` changes, genotype overrides).
    pub params: Vec<f64>,
    /// Inputs `[species.., drugs.., t]`; outputs `[rate_0 .. rate_{n-1}, division, death]`.
    pub rhs: Program,
    /// Same inputs; outputs the observables.
    pub observables: Program,
    /// Same inputs; outputs the non-zero entries of d(rhs outputs)/d(species), in the
    /// order of `jac_pattern`.
    pub jacobian: Program,
    /// (row in rhs outputs, species column) of each Jacobian output.
    pub jac_pattern: Vec<(usize, usize)>,
    /// Same inputs; one output: the model's `[fate] take` (1 without one).
    pub take: Program,
    /// Same inputs; outputs every event's trigger, then every event's priority
    /// (`-inf` where it has none), then every event's delay (0 where it has none).
    pub triggers: Program,
    /// Same inputs; outputs every event's assigned values, events in order.
    pub assignments: Program,
}

/// How a bound model's right-hand side and Jacobian programs (what an ODE solve runs
/// at every stage) are evaluated. Either way the results are the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Evaluation {
    /// Compiled to machine code ([`Program::compile_native`]), where the target has
    /// a code generator and resloop was built with the `native` feature (the
    /// default; else interpreted). The default: a Rodas5P solve of the
    /// stiff loop benchmark takes 23 % less CPU, Dopri5 44 % less, and the compile
    /// (0.3-2.5 ms per model) is paid once per program shape per process, so a
    /// sweep's later parameter sets reuse the code (docs/performance.md).
    #[default]
    Native,
    /// The register program ([`Program`]) only.
    Interpreted,
}

/// A model with every genotype's parameters bound.
#[derive(Debug, Clone)]
pub struct BoundModel {
    pub n_species: usize,
    pub n_drugs: usize,
    pub genotypes: Vec<BoundGenotype>,
}

impl BoundModel {
    /// Bind with base parameter values `base` (the model's values plus any changes),
    /// evaluated the default way ([`Evaluation::Native`]).
    pub fn new(model: &CompiledModel, base: &[f64]) -> Result<BoundModel, BindError> {
        BoundModel::with_evaluation(model, base, Evaluation::default())
    }

    /// Bind as [`BoundModel::new`], evaluating the hot programs as `how` says.
    pub fn with_evaluation(
        model: &CompiledModel,
        base: &[f64],
        how: Evaluation,
    ) -> Result<BoundModel, BindError> {
        let mut genotypes = model
            .genotypes
            .iter()
            .enumerate()
            .map(|(g, gt)| bind_genotype(model, lineage_params(model, base, g, |v| v), &gt.name))
            .collect::<Result<Vec<_>, _>>()?;
        if how == Evaluation::Native {
            for g in &mut genotypes {
                for p in [&mut g.rhs, &mut g.jacobian] {
                    // An error (no code generator for this target) leaves the program
                    // interpreted, which computes the same.
                    let _ = p.compile_native();
                }
            }
        }
        Ok(BoundModel {
            n_species: model.species.len(),
            n_drugs: model.drugs.len(),
            genotypes,
        })
    }

    /// Number of program inputs: species, drugs, time.
    pub fn n_inputs(&self) -> usize {
        self.n_species + self.n_drugs + 1
    }
    /// Input slot of the time variable.
    pub fn time_slot(&self) -> usize {
        self.n_species + self.n_drugs
    }
}

/// The parameters of genotype `g`: `base` with the overrides of its lineage on top
/// (a child inherits its ancestors' overrides, nearest ancestor last); `value` turns
/// an override into a `T` (the identity for numbers, a constant for expressions).
pub fn lineage_params<T: Clone>(
    model: &CompiledModel,
    base: &[T],
    g: usize,
    value: impl Fn(f64) -> T,
) -> Vec<T> {
    let mut p = base.to_vec();
    let mut chain = Vec::new();
    let mut cur = Some(&model.genotypes[g]);
    while let Some(x) = cur {
        chain.push(x);
        cur = x.parent.map(|i| &model.genotypes[i]);
    }
    for x in chain.iter().rev() {
        for &(i, v) in &x.overrides {
            p[i] = value(v);
        }
    }
    p
}

/// Drug effects, the parameters they scale and observables inlined into a model's
/// expressions, which then read only species, drugs, time and whatever parameter the
/// caller left free: `params[i]` stands for parameter i (its value as a constant
/// when binding; a variable for a front end that changes it live, the teaching page).
pub struct Inliner {
    effects: Vec<Expr>,
    params: Vec<Expr>,
    observables: Vec<Expr>,
}

impl Inliner {
    pub fn new(model: &CompiledModel, params: &[Expr]) -> Inliner {
        let effects: Vec<Expr> = model
            .effects
            .iter()
            .map(|e| effect_expr(e, params))
            .collect();
        // Each parameter becomes its value, times (1 - E) or (1 + E) for every effect scaling it.
        let scaled: Vec<Expr> = (0..params.len())
            .map(|i| {
                model
                    .effects
                    .iter()
                    .zip(&effects)
                    .filter(|(e, _)| e.scales == Some(i))
                    .fold(params[i].clone(), |acc, (e, ex)| {
                        let factor = match e.mode {
                            EffectMode::Inhibit => Expr::sub(Expr::c(1.0), ex.clone()),
                            EffectMode::Activate => Expr::add(Expr::c(1.0), ex.clone()),
                        };
                        Expr::mul(acc, factor)
                    })
                    .simplify()
            })
            .collect();
        let mut inl = Inliner {
            effects,
            params: scaled,
            observables: Vec::new(),
        };
        inl.observables = model
            .observables
            .iter()
            .map(|o| o.expr.substitute(&|v| inl.base(v)))
            .collect();
        inl
    }

    fn base(&self, v: Var) -> Option<Expr> {
        match v {
            Var::Param(i) => Some(self.params[i].clone()),
            Var::Effect(i) => Some(self.effects[i].clone()),
            _ => None,
        }
    }

    /// `e` with parameters, effects and observables inlined, simplified.
    pub fn inline(&self, e: &Expr) -> Expr {
        e.substitute(&|v| match v {
            Var::Observable(i) => Some(self.observables[i].clone()),
            other => self.base(other),
        })
    }

    /// The observables, inlined.
    pub fn observables(&self) -> &[Expr] {
        &self.observables
    }

    /// The right-hand side of one genotype's cell: every species' rate, then the
    /// division and the death rate (the outputs of [`BoundGenotype::rhs`]).
    pub fn rhs(&self, model: &CompiledModel) -> Vec<Expr> {
        let mut v: Vec<Expr> = model.species.iter().map(|s| self.inline(&s.rate)).collect();
        v.push(self.inline(&model.division));
        v.push(self.inline(&model.death));
        v
    }
}

/// The effect formula with parameters substituted: `emax * hill(C, ic50, h)`.
fn effect_expr(e: &Effect, params: &[Expr]) -> Expr {
    let bind = |x: &Expr| {
        x.substitute(&|v| match v {
            Var::Param(i) => Some(params[i].clone()),
            _ => None,
        })
    };
    Expr::mul(
        bind(&e.emax),
        Expr::hill(Expr::var(Var::Drug(e.drug)), bind(&e.ic50), bind(&e.hill)),
    )
    .simplify()
}

fn bind_genotype(
    model: &CompiledModel,
    params: Vec<f64>,
    genotype: &str,
) -> Result<BoundGenotype, BindError> {
    let constants: Vec<Expr> = params.iter().map(|&v| Expr::c(v)).collect();
    let inl = Inliner::new(model, &constants);
    let observables = inl.observables().to_vec();
    let full_sub = |e: &Expr| inl.inline(e);
    let rhs_exprs = inl.rhs(model);

    let n = model.species.len();
    let nd = model.drugs.len();
    let slot = move |v: Var| match v {
        Var::Species(i) => Some(i),
        Var::Drug(k) => Some(n + k),
        Var::Time => Some(n + nd),
        _ => None,
    };
    let mut jac_exprs = Vec::new();
    let mut jac_pattern = Vec::new();
    let mut budget = MAX_JACOBIAN_NODES;
    for (row, e) in rhs_exprs.iter().enumerate() {
        for col in 0..n {
            let d = diff_within(e, Var::Species(col), &mut budget).map_err(|source| {
                BindError::Jacobian {
                    genotype: genotype.to_string(),
                    row,
                    species: model.species[col].name.clone(),
                    source,
                }
            })?;
            if d.as_const() != Some(0.0) {
                jac_exprs.push(d);
                jac_pattern.push((row, col));
            }
        }
    }
    let mut trigger_exprs: Vec<Expr> = model.events.iter().map(|e| full_sub(&e.trigger)).collect();
    trigger_exprs.extend(model.events.iter().map(|e| match &e.priority {
        Some(p) => full_sub(p),
        None => Expr::c(f64::NEG_INFINITY),
    }));
    trigger_exprs.extend(model.events.iter().map(|e| match &e.delay {
        Some(d) => full_sub(d),
        None => Expr::c(0.0),
    }));
    let assign_exprs: Vec<Expr> = model
        .events
        .iter()
        .flat_map(|e| e.assignments.iter().map(|(_, x)| full_sub(x)))
        .collect();
    Ok(BoundGenotype {
        triggers: Program::compile(&trigger_exprs, n + nd + 1, &slot)?,
        assignments: Program::compile(&assign_exprs, n + nd + 1, &slot)?,
        rhs: Program::compile(&rhs_exprs, n + nd + 1, &slot)?,
        observables: Program::compile(&observables, n + nd + 1, &slot)?,
        jacobian: Program::compile(&jac_exprs, n + nd + 1, &slot)?,
        take: Program::compile(
            &[model.take.as_ref().map_or(Expr::c(1.0), full_sub)],
            n + nd + 1,
            &slot,
        )?,
        jac_pattern,
        params,
    })
}
