//! Full factorial grid.

use super::{at_least, at_most, MAX_POINTS};
use crate::sweep::error::SweepError;

/// `levels^d` unit-cube points with coordinates `k / (levels - 1)`; the first
/// coordinate varies slowest, like nested loops with the first parameter outermost.
pub(super) fn unit_grid(d: usize, levels: usize) -> Result<Vec<Vec<f64>>, SweepError> {
    at_least("grid", "levels", levels, 2)?;
    let n = u32::try_from(d)
        .ok()
        .and_then(|d| levels.checked_pow(d))
        .unwrap_or(usize::MAX);
    at_most("grid", "points (levels^parameters)", n, MAX_POINTS)?;
    let step = 1.0 / (levels - 1) as f64;
    Ok((0..n)
        .map(|mut i| {
            let mut row = vec![0.0; d];
            for slot in row.iter_mut().rev() {
                *slot = (i % levels) as f64 * step;
                i /= levels;
            }
            row
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_coordinate_slowest() {
        let g = unit_grid(2, 3).unwrap();
        assert_eq!(g.len(), 9);
        assert_eq!(g[1], vec![0.0, 0.5]);
        assert_eq!(g[3], vec![0.5, 0.0]);
        assert_eq!(g[8], vec![1.0, 1.0]);
    }
}
