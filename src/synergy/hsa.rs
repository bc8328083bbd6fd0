//! Highest single agent (Gaddum's non-interaction): the combination is expected to do
//! as well as its better component, `E_ref(a, b) = min(E_A(a), E_B(b))` on the viability
//! scale, using the observed single-agent means.
//!
//! ## References
//! Berenbaum, M. C. (1989). What is synergy? Pharmacol. Rev. 41, 93-141.
//! Gaddum, J. H. (1940). Pharmacology. Oxford University Press.

use super::{Context, Method, Reference, SynergyModel};

/// Highest single agent on observed single agents.
pub struct Hsa;

impl SynergyModel for Hsa {
    fn method(&self) -> Method {
        Method::Hsa
    }
    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        Ok(ctx.single_a(i).min(ctx.single_b(j)).into())
    }
}
