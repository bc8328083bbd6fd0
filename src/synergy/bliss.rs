//! Bliss independence: the drugs act through independent mechanisms, so the surviving
//! fractions multiply, `E_ref(a, b) = E_A(a) * E_B(b)` on the viability scale.
//!
//! Two variants: [`Bliss`] uses the observed single-agent means at the tested doses
//! (SynergyFinder's Bliss); [`BlissHill`] uses the fitted 4-parameter Hill curves,
//! which smooths noise in the single-agent row and column. Both assume responses are
//! already normalised to the untreated control (1 = untreated).
//!
//! ## References
//! Bliss, C. I. (1939). The toxicity of poisons applied jointly. Ann. Appl. Biol. 26, 585-615.

use super::{Context, Method, Reference, SynergyModel};

/// Bliss independence on the observed single agents.
pub struct Bliss;

impl SynergyModel for Bliss {
    fn method(&self) -> Method {
        Method::Bliss
    }
    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        Ok((ctx.single_a(i) * ctx.single_b(j)).into())
    }
}

/// Bliss independence on the fitted single-agent Hill curves.
pub struct BlissHill;

impl SynergyModel for BlissHill {
    fn method(&self) -> Method {
        Method::BlissHill
    }
    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        if let Some(reason) = ctx.hill_failure() {
            return Err(reason);
        }
        let g = &ctx.grid;
        Ok((ctx.fit_a.eval(g.doses_a[i]) * ctx.fit_b.eval(g.doses_b[j])).into())
    }
}
