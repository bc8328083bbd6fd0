//! Latin hypercube sampling (McKay, Beckman & Conover 1979): each parameter's range is
//! cut into `n` equal strata and every stratum is hit exactly once.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{at_least, at_most, MAX_POINTS};
use crate::sweep::error::SweepError;
use crate::sweep::seed::{stream_rng, Stream};

/// `n` points; column `j` is an independent random permutation of the strata with a
/// uniform offset inside each stratum.
pub(super) fn unit_lhs(d: usize, n: usize, seed: u64) -> Result<Vec<Vec<f64>>, SweepError> {
    at_least("latin_hypercube", "samples", n, 1)?;
    at_most("latin_hypercube", "samples", n, MAX_POINTS)?;
    let mut rows = vec![vec![0.0; d]; n];
    for j in 0..d {
        // One stream per column, so adding a parameter leaves earlier columns unchanged.
        let mut rng = stream_rng(seed, Stream::Design, j as u64);
        let mut strata: Vec<usize> = (0..n).collect();
        strata.shuffle(&mut rng);
        for (row, s) in rows.iter_mut().zip(strata) {
            row[j] = (s as f64 + rng.random::<f64>()) / n as f64;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stratum_once() {
        let rows = unit_lhs(3, 50, 9).unwrap();
        for j in 0..3 {
            let mut hit: Vec<usize> = rows.iter().map(|r| (r[j] * 50.0) as usize).collect();
            hit.sort();
            assert_eq!(hit, (0..50).collect::<Vec<_>>());
        }
        assert_eq!(rows, unit_lhs(3, 50, 9).unwrap());
    }
}
