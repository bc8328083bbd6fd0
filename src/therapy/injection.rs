//! Injection into a host: which of the injected cells form the tumour.
//!
//! An in vivo schedule's `initial_cells` are the cells injected. Of each genotype's
//! cells a fraction `host take x model take` forms the tumour: the schedule's
//! `[tumour] take` (the same for every cell: the host, the site, the matrix) times
//! the model's `[fate] take` evaluated on that genotype's loop state at injection,
//! drug-free (cells in suspension between the dish and the host). The model's take is
//! how a loop state that makes cells stem-like (survival in suspension, tumour
//! initiation) makes them take better. The losses happen at injection, before the
//! host's lag (`[tumour] lag`), during which the cells that took do not divide.
//!
//! On the mean-field engine the take scales each genotype's expected cells. On the
//! stochastic engines each injected cell takes on its own: a genotype's cells that
//! take are a binomial draw from its whole injected cells, from a stream of the run's
//! seed and replicate (so each replicate has its own draw, the same in every run).

use crate::compile::{BoundModel, CompiledModel};
use crate::engine::agent::rng::Stream;
use crate::engine::agent::simulation::binomial;
use crate::schedule::{Schedule, Setting};

/// Id of the injection's random stream among a replicate's streams.
const STREAM: u64 = u64::from_le_bytes(*b"inject\0\0");

/// Each genotype's take: the fraction of its injected cells that form the tumour
/// (1 for every genotype of an in vitro schedule). `y` is the population block at
/// injection (per genotype: species, then cells). An error names the genotype whose
/// model take is not a fraction in [0, 1].
fn takes(
    model: &CompiledModel,
    bound: &BoundModel,
    s: &Schedule,
    y: &[f64],
) -> Result<Vec<f64>, String> {
    let ng = model.genotypes.len();
    if s.setting == Setting::InVitro {
        return Ok(vec![1.0; ng]);
    }
    let n = model.species.len();
    let nd = model.drugs.len();
    y.chunks_exact(n + 1)
        .zip(&bound.genotypes)
        .zip(&model.genotypes)
        .map(|((state, bg), gt)| {
            let p = &bg.take;
            let mut regs = p.workspace();
            regs[..n].copy_from_slice(&state[..n]);
            // Drug-free, at the injection (t = 0 of the schedule).
            regs[n..n + nd + 1].fill(0.0);
            p.run(&mut regs);
            let own = p.output(&regs, 0);
            if !(0.0..=1.0).contains(&own) {
                return Err(format!(
                    "the model's `[fate] take` of genotype `{}` is {own} at injection; \
                     expected a fraction of the injected cells in [0, 1]",
                    gt.name
                ));
            }
            Ok(s.host.take * own)
        })
        .collect()
}

/// Keep the cells that take. `draw`: `None` on the mean-field engine (each genotype's
/// cells in `y` times its take), else `(seed, replicate)` of a stochastic run (each of
/// a genotype's whole cells takes with that probability).
pub fn inject(
    model: &CompiledModel,
    bound: &BoundModel,
    s: &Schedule,
    y: &mut [f64],
    draw: Option<(u64, u64)>,
) -> Result<(), String> {
    let n = model.species.len();
    let takes = takes(model, bound, s, y)?;
    let mut rng = draw.map(|(seed, replicate)| Stream::derive(seed, &[replicate, STREAM]));
    for (c, f) in y.chunks_exact_mut(n + 1).zip(takes) {
        c[n] = match &mut rng {
            None => c[n] * f,
            Some(rng) if f < 1.0 => binomial(c[n].max(0.0).round() as u64, f, rng) as f64,
            Some(_) => c[n],
        };
    }
    Ok(())
}
