//! Morris one-at-a-time trajectories (Morris 1991).
//!
//! Each trajectory starts at a random point of the `p`-level grid and changes every
//! parameter once, in random order, by `delta = p / (2 (p - 1))` (in unit-cube
//! coordinates), upward from the lower half of the levels and downward from the upper
//! half, so every step stays on the grid. With `p` even this is Morris's recommended
//! choice: every level is equally likely to be sampled.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{at_least, at_most, MAX_POINTS};
use crate::sweep::error::SweepError;
use crate::sweep::seed::{stream_rng, Stream};

/// One step of a trajectory: which parameter changed and by how much (signed, in
/// unit-cube coordinates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MorrisStep {
    pub param: usize,
    pub delta: f64,
}

/// `r` trajectories of `d + 1` points, and the step of each move.
#[allow(clippy::type_complexity)]
pub(super) fn unit_morris(
    d: usize,
    r: usize,
    p: usize,
    seed: u64,
) -> Result<(Vec<Vec<f64>>, Vec<Vec<MorrisStep>>), SweepError> {
    // Sigma (a standard deviation over trajectories) needs at least two.
    at_least("morris", "trajectories", r, 2)?;
    at_least("morris", "levels", p, 2)?;
    at_most("morris", "points", r.saturating_mul(d + 1), MAX_POINTS)?;
    if !p.is_multiple_of(2) {
        return Err(SweepError::InvalidDesign {
            design: "morris",
            message: format!("levels = {p} must be even so that steps stay on the grid"),
        });
    }
    let step = 1.0 / (p - 1) as f64;
    let jump = p / 2;
    let delta = jump as f64 * step;
    let mut rows = Vec::with_capacity(r * (d + 1));
    let mut all_steps = Vec::with_capacity(r);
    for t in 0..r {
        // One stream per trajectory: trajectory t does not depend on r.
        let mut rng = stream_rng(seed, Stream::Design, t as u64);
        let mut level: Vec<usize> = (0..d).map(|_| rng.random_range(0..p)).collect();
        let mut order: Vec<usize> = (0..d).collect();
        order.shuffle(&mut rng);
        rows.push(level.iter().map(|&l| l as f64 * step).collect());
        let mut steps = Vec::with_capacity(d);
        for &k in &order {
            let up = level[k] < jump;
            level[k] = if up { level[k] + jump } else { level[k] - jump };
            steps.push(MorrisStep {
                param: k,
                delta: if up { delta } else { -delta },
            });
            rows.push(level.iter().map(|&l| l as f64 * step).collect());
        }
        all_steps.push(steps);
    }
    Ok((rows, all_steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_moves_one_coordinate_by_delta() {
        let (rows, steps) = unit_morris(4, 5, 4, 11).unwrap();
        assert_eq!(rows.len(), 25);
        for (t, st) in steps.iter().enumerate() {
            let mut moved: Vec<usize> = st.iter().map(|s| s.param).collect();
            moved.sort();
            assert_eq!(moved, vec![0, 1, 2, 3]);
            for (k, s) in st.iter().enumerate() {
                let (a, b) = (&rows[t * 5 + k], &rows[t * 5 + k + 1]);
                for j in 0..4 {
                    let diff = b[j] - a[j];
                    let want = if j == s.param { s.delta } else { 0.0 };
                    assert!((diff - want).abs() < 1e-12);
                }
                assert!(b.iter().all(|&x| (0.0..=1.0).contains(&x)));
            }
        }
    }

    #[test]
    fn odd_levels_refused() {
        assert!(unit_morris(2, 4, 3, 0).is_err());
    }
}
