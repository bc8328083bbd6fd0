//! The population ODE: for each genotype g, the loop state x_g of a representative
//! cell and the number of cells N_g.
//!
//! ```text
//! dx_g/dt = rates_g(x_g, C(t), t)
//! dN_g/dt = b_g c N_g (1 - sum_k u_gk) - d_g N_g + sum_p u_pg b_p c N_p
//! c       = max(0, 1 - N_total / K)        (1 without a carrying capacity)
//! ```
//! with b, d the model's division and death rates and u the probability per
//! division that one daughter carries the child genotype. A mutant's representative
//! cell follows the loop with its own parameters from the model's initial state; the
//! state of incoming mutant cells is not averaged into it (the loop settles within
//! days, fast next to clonal expansion).

use nalgebra::DMatrix;

use super::solver::{OdeSystem, SolverError, SolverErrorKind};
use crate::compile::{BoundModel, CompiledModel};
use crate::pkpd::Exposure;

pub struct PopulationSystem<'a> {
    pub model: &'a CompiledModel,
    pub bound: &'a BoundModel,
    pub exposure: Exposure,
    pub capacity: Option<f64>,
    /// Per genotype: (child genotype, probability per division).
    children: Vec<Vec<(usize, f64)>>,
    regs: Vec<Vec<f64>>,
    jregs: Vec<Vec<f64>>,
    drugs: Vec<f64>,
    /// A species or population more negative than this is a failure.
    pub negative_tolerance: f64,
}

impl<'a> PopulationSystem<'a> {
    pub fn new(
        model: &'a CompiledModel,
        bound: &'a BoundModel,
        capacity: Option<f64>,
        negative_tolerance: f64,
    ) -> Self {
        let mut children = vec![Vec::new(); model.genotypes.len()];
        for (c, g) in model.genotypes.iter().enumerate() {
            if let Some(p) = g.parent {
                children[p].push((c, g.mutation_probability));
            }
        }
        PopulationSystem {
            model,
            bound,
            exposure: Exposure::new(model),
            capacity,
            children,
            regs: bound.genotypes.iter().map(|g| g.rhs.workspace()).collect(),
            jregs: bound
                .genotypes
                .iter()
                .map(|g| g.jacobian.workspace())
                .collect(),
            drugs: vec![0.0; model.drugs.len()],
            negative_tolerance,
        }
    }

    /// Entries per genotype in the state vector: species then cell count.
    pub fn stride(&self) -> usize {
        self.bound.n_species + 1
    }

    /// Initial state: every genotype's loop at the model's initial values; cells
    /// split by the genotypes' initial fractions.
    pub fn initial_state(&self, cells: f64) -> Vec<f64> {
        let n = self.bound.n_species;
        let s = self.stride();
        let mut y = vec![0.0; s * self.model.genotypes.len()];
        let mutant: f64 = self
            .model
            .genotypes
            .iter()
            .skip(1)
            .map(|g| g.initial_fraction)
            .sum();
        for (g, gt) in self.model.genotypes.iter().enumerate() {
            for (i, sp) in self.model.species.iter().enumerate() {
                y[g * s + i] = sp.initial;
            }
            y[g * s + n] = cells
                * if g == 0 {
                    1.0 - mutant
                } else {
                    gt.initial_fraction
                };
        }
        y
    }

    fn crowding(&self, y: &[f64]) -> (f64, f64) {
        match self.capacity {
            None => (1.0, 0.0),
            Some(k) => {
                let s = self.stride();
                let total: f64 = (0..self.model.genotypes.len())
                    .map(|g| y[g * s + s - 1])
                    .sum();
                let c = 1.0 - total / k;
                if c > 0.0 {
                    (c, -1.0 / k)
                } else {
                    (0.0, 0.0)
                }
            }
        }
    }

    /// Load genotype g's inputs and run its right-hand-side program; returns
    /// (division, death). Rates are left in the register file.
    #[inline]
    fn run_genotype(&mut self, g: usize, t: f64, y: &[f64]) -> (f64, f64) {
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let regs = &mut self.regs[g];
        regs[..n].copy_from_slice(&y[g * s..g * s + n]);
        regs[n..n + nd].copy_from_slice(&self.drugs);
        regs[n + nd] = t;
        let p = &self.bound.genotypes[g].rhs;
        p.run(regs);
        (p.output(regs, n), p.output(regs, n + 1))
    }

    /// Variable name of state component `i`, for error messages.
    pub fn variable_name(&self, i: usize) -> String {
        let s = self.stride();
        let (g, j) = (i / s, i % s);
        let gname = &self.model.genotypes[g].name;
        if j < self.bound.n_species {
            format!("{} (genotype {gname})", self.model.species[j].name)
        } else {
            format!("cells (genotype {gname})")
        }
    }
}

impl OdeSystem for PopulationSystem<'_> {
    fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
        self.exposure.concentrations(t, &mut self.drugs);
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let (crowd, _) = self.crowding(y);
        for cells in dy.iter_mut().skip(n).step_by(s) {
            *cells = 0.0;
        }
        let genotypes = self.regs.iter_mut().zip(&self.bound.genotypes);
        for (g, ((regs, bg), yg)) in genotypes.zip(y.chunks_exact(s)).enumerate() {
            let (x, cells) = (&yg[..n], yg[n]);
            let inputs = &mut regs[..n + nd + 1];
            inputs[..n].copy_from_slice(x);
            inputs[n..n + nd].copy_from_slice(&self.drugs);
            inputs[n + nd] = t;
            let p = &bg.rhs;
            p.run(regs);
            // The first n outputs are the species rates, then division and death.
            p.outputs_into(regs, &mut dy[g * s..g * s + n]);
            let (div, death) = (p.output(regs, n), p.output(regs, n + 1));
            let births = div * crowd * cells;
            let mut kept = births;
            for &(c, u) in &self.children[g] {
                dy[c * s + n] += u * births;
                kept -= u * births;
            }
            dy[g * s + n] += kept - death * cells;
        }
    }

    fn jacobian(&mut self, t: f64, y: &[f64], jac: &mut DMatrix<f64>) {
        self.exposure.concentrations(t, &mut self.drugs);
        jac.fill(0.0);
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let ng = self.model.genotypes.len();
        let (crowd, dcrowd) = self.crowding(y);
        for g in 0..ng {
            let (div, death) = self.run_genotype(g, t, y);
            let bg = &self.bound.genotypes[g];
            let jr = &mut self.jregs[g];
            jr[..n + nd + 1].copy_from_slice(&self.regs[g][..n + nd + 1]);
            bg.jacobian.run(jr);
            let cells = y[g * s + n];
            let u_out: f64 = self.children[g].iter().map(|c| c.1).sum();
            for (k, &(row, col)) in bg.jac_pattern.iter().enumerate() {
                let v = bg.jacobian.output(jr, k);
                if row < n {
                    jac[(g * s + row, g * s + col)] += v;
                } else if row == n {
                    // d division / d x
                    jac[(g * s + n, g * s + col)] += v * crowd * cells * (1.0 - u_out);
                    for &(c, u) in &self.children[g] {
                        jac[(c * s + n, g * s + col)] += u * v * crowd * cells;
                    }
                } else {
                    jac[(g * s + n, g * s + col)] -= v * cells;
                }
            }
            // Dependence on cell counts: own count, and every count through crowding.
            jac[(g * s + n, g * s + n)] += div * crowd * (1.0 - u_out) - death;
            for &(c, u) in &self.children[g] {
                jac[(c * s + n, g * s + n)] += u * div * crowd;
            }
            if dcrowd != 0.0 {
                for h in 0..ng {
                    jac[(g * s + n, h * s + n)] += div * dcrowd * cells * (1.0 - u_out);
                    for &(c, u) in &self.children[g] {
                        jac[(c * s + n, h * s + n)] += u * div * dcrowd * cells;
                    }
                }
            }
        }
    }

    fn check(&self, t: f64, y: &[f64]) -> Result<(), SolverError> {
        // Called on every accepted step: a branch-free scan first, names only on
        // failure.
        let tol = -self.negative_tolerance;
        if y.iter()
            .fold(true, |ok, &v| ok & (v.is_finite() & (v >= tol)))
        {
            return Ok(());
        }
        for (i, &v) in y.iter().enumerate() {
            if !v.is_finite() {
                return Err(SolverError {
                    time: t,
                    kind: SolverErrorKind::NonFinite {
                        variable: self.variable_name(i),
                        value: v,
                    },
                });
            }
            if v < tol {
                return Err(SolverError {
                    time: t,
                    kind: SolverErrorKind::Negative {
                        variable: self.variable_name(i),
                        value: v,
                        tolerance: self.negative_tolerance,
                    },
                });
            }
        }
        Ok(())
    }
}
