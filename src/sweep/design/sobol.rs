//! Sobol low-discrepancy points from the `sobol_burley` crate.
//!
//! Why that crate: it implements the Joe & Kuo (2008) direction numbers with Owen
//! scrambling (Burley 2020), is `no_std`, dependency-free and seedable. Owen scrambling
//! makes the sequence a randomised QMC rule: estimates stay unbiased and the sweep seed
//! picks an independent scramble. Its limits (2^16 points, 256 dimensions, `f32`
//! output with 24-bit resolution) are far beyond what a simulation sweep evaluates
//! and are checked here with clear errors.

use super::{at_least, at_most};
use crate::sweep::error::SweepError;
use crate::sweep::seed::{derive_seed, Stream};

/// Most points the crate provides per sequence.
pub const MAX_SOBOL_POINTS: usize = 1 << 16;
/// Most dimensions the crate provides.
pub const MAX_SOBOL_DIMS: usize = sobol_burley::NUM_DIMENSIONS as usize;

/// Scramble seed for the crate (32 bits) derived from the sweep seed.
fn scramble_seed(seed: u64) -> u32 {
    (derive_seed(seed, Stream::Design, u64::MAX) >> 32) as u32
}

/// The first `n` points of a `dims`-dimensional scrambled Sobol sequence.
pub(super) fn sobol_rows(
    design: &'static str,
    dims: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, SweepError> {
    at_most(design, "sobol dimensions", dims, MAX_SOBOL_DIMS)?;
    at_most(design, "samples", n, MAX_SOBOL_POINTS)?;
    let s = scramble_seed(seed);
    Ok((0..n as u32)
        .map(|i| {
            (0..dims as u32)
                .map(|j| f64::from(sobol_burley::sample(i, j, s)))
                .collect()
        })
        .collect())
}

/// Sobol design of `n` points in `d` dimensions.
pub(super) fn unit_sobol(d: usize, n: usize, seed: u64) -> Result<Vec<Vec<f64>>, SweepError> {
    at_least("sobol", "samples", n, 1)?;
    sobol_rows("sobol", d, n, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_dyadic_interval() {
        // A (0, m, 1)-net property: 64 points hit each of 64 equal intervals once.
        let rows = unit_sobol(2, 64, 3).unwrap();
        for j in 0..2 {
            let mut cells: Vec<usize> = rows.iter().map(|r| (r[j] * 64.0) as usize).collect();
            cells.sort();
            assert_eq!(cells, (0..64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn too_many_points_refused() {
        assert!(matches!(
            unit_sobol(2, MAX_SOBOL_POINTS + 1, 0),
            Err(SweepError::SampleTooLarge { .. })
        ));
    }
}
