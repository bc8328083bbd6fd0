//! Saltelli design for first-order and total Sobol indices (Saltelli et al. 2010).
//!
//! Two independent `N x d` matrices A and B are the two halves of one `2d`-dimensional
//! scrambled Sobol sequence; `A_B^i` is A with column `i` taken from B. Evaluating A,
//! B and every `A_B^i` costs `N (d + 2)` runs and serves both the Saltelli (2010)
//! first-order and the Jansen (1999) total-effect estimators.

use super::at_least;
use super::sobol::sobol_rows;
use crate::sweep::error::SweepError;

/// Unit-cube rows in the layout documented on [`super::Layout::Saltelli`].
pub(super) fn unit_saltelli(d: usize, n: usize, seed: u64) -> Result<Vec<Vec<f64>>, SweepError> {
    // Variance needs two base samples; fewer cannot estimate any index.
    at_least("saltelli", "samples", n, 2)?;
    let base = sobol_rows("saltelli", 2 * d, n, seed)?;
    let mut rows = Vec::with_capacity(n * (d + 2));
    for r in base {
        let (a, b) = r.split_at(d);
        rows.push(a.to_vec());
        for i in 0..d {
            let mut ab = a.to_vec();
            ab[i] = b[i];
            rows.push(ab);
        }
        rows.push(b.to_vec());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_one_block() {
        let rows = unit_saltelli(3, 4, 1).unwrap();
        assert_eq!(rows.len(), 4 * 5);
        let (a, b) = (&rows[5], &rows[9]);
        for i in 0..3 {
            let ab = &rows[5 + 1 + i];
            for k in 0..3 {
                assert_eq!(ab[k], if k == i { b[k] } else { a[k] });
            }
        }
    }
}
