//! Fill-reducing orderings for [`DenseLu`](super::lu::DenseLu): which symmetric
//! permutation of a sparse iteration matrix keeps its LU factors sparse.
//!
//! Why. Eliminating a variable connects everything it touches: a species that
//! reacts with most others (POLLU's NO2, a loop's hub kinase) eliminated first
//! fills L and U completely, eliminated last it fills nothing. POLLU's
//! iteration matrix in its natural order has 59-80 nonzeros off the diagonal of
//! 380; its factors have 240. Minimum degree (eliminate the variable with the
//! fewest uneliminated neighbours first) is the classic greedy answer (Tinney
//! and Walker's scheme 2; AMD approximates it on large matrices, where the exact
//! degrees cost too much). At the sizes this crate factors densely (up to a few
//! hundred states) the exact degrees on a boolean matrix cost `O(n^3)` bit
//! operations, once per change of the Jacobian's nonzero pattern: less than one
//! numerical factorisation, so no approximation (and no sparse-matrix crate) is
//! needed.
//!
//! ## References
//! Tinney WF, Walker JW (1967) Direct solutions of sparse network equations by
//! optimally ordered triangular factorization. Proc IEEE 55:1801-1809.
//! George A, Liu JWH (1989) The evolution of the minimum degree ordering
//! algorithm. SIAM Rev 31:1-19.
//! Davis TA (2006) Direct Methods for Sparse Linear Systems, SIAM, 7.1 (fill-
//! reducing orderings) and 4.x (symbolic analysis).

/// Off-diagonal nonzeros of L and U when the `n x n` matrix with nonzero
/// `pattern` (column-major, `pattern[i + j * n]`) is eliminated in `order`
/// (`order[k]` the variable eliminated k-th) with pivots on the diagonal.
pub fn fill(pattern: &[bool], n: usize, order: &[usize]) -> usize {
    let mut m = vec![false; n * n];
    for j in 0..n {
        for i in 0..n {
            m[i + j * n] = pattern[order[i] + order[j] * n];
        }
    }
    eliminate(&mut m, n);
    (0..n * n).filter(|&x| m[x] && x % n != x / n).count()
}

/// Symbolic Gaussian elimination in place, pivots on the diagonal: `m` (`n x n`,
/// column-major) becomes the nonzero pattern of L and U together (an entry is
/// nonzero when it was, or when its row and column meet a nonzero of an earlier
/// pivot's column and row).
pub fn eliminate(m: &mut [bool], n: usize) {
    for k in 0..n {
        for j in k + 1..n {
            if m[k + j * n] {
                for i in k + 1..n {
                    if m[i + k * n] {
                        m[i + j * n] = true;
                    }
                }
            }
        }
    }
}

/// Minimum degree on the symmetrised pattern (`A + A^T`): repeatedly eliminate
/// the variable with the fewest uneliminated neighbours (ties: the lowest
/// index), joining its neighbours into a clique. Returns the order of
/// elimination.
pub fn minimum_degree(pattern: &[bool], n: usize) -> Vec<usize> {
    let mut g = vec![false; n * n];
    for j in 0..n {
        for i in 0..n {
            if i != j && (pattern[i + j * n] || pattern[j + i * n]) {
                g[i + j * n] = true;
            }
        }
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut nbrs = Vec::with_capacity(n);
    for _ in 0..n {
        let degree = |v: usize| (0..n).filter(|&u| !done[u] && g[u + v * n]).count();
        let v = (0..n)
            .filter(|&v| !done[v])
            .min_by_key(|&v| degree(v))
            .expect("a variable is left");
        done[v] = true;
        order.push(v);
        nbrs.clear();
        nbrs.extend((0..n).filter(|&u| !done[u] && g[u + v * n]));
        for &a in &nbrs {
            for &b in &nbrs {
                if a != b {
                    g[a + b * n] = true;
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An arrow pointing the wrong way: variable 0 couples to all others.
    fn hub_first(n: usize) -> Vec<bool> {
        (0..n * n)
            .map(|k| {
                let (i, j) = (k % n, k / n);
                i == j || i == 0 || j == 0
            })
            .collect()
    }

    #[test]
    fn a_hub_is_eliminated_last_and_fills_nothing() {
        let n = 7;
        let p = hub_first(n);
        let natural: Vec<usize> = (0..n).collect();
        assert_eq!(fill(&p, n, &natural), n * (n - 1), "complete fill");
        let order = minimum_degree(&p, n);
        // The last two tie at degree 1 (the lower index goes first).
        assert_eq!(order, vec![1, 2, 3, 4, 5, 0, 6]);
        assert_eq!(fill(&p, n, &order), 2 * (n - 1), "the arrow itself");
    }

    /// A tridiagonal matrix fills nothing in its natural order, and minimum
    /// degree (ends first) fills nothing either; counts are of L and U together.
    #[test]
    fn a_chain_fills_nothing() {
        let n: usize = 6;
        let p: Vec<bool> = (0..n * n).map(|k| (k % n).abs_diff(k / n) <= 1).collect();
        let natural: Vec<usize> = (0..n).collect();
        assert_eq!(fill(&p, n, &natural), 2 * (n - 1));
        let order = minimum_degree(&p, n);
        assert_eq!(order[0], 0);
        assert_eq!(fill(&p, n, &order), 2 * (n - 1));
    }

    /// The fill of an unsymmetric pattern: eliminating 0 with a nonzero at
    /// (2, 0) and at (0, 1) creates (2, 1).
    #[test]
    fn fill_counts_the_entries_elimination_creates() {
        let n = 3;
        let mut p = vec![false; n * n];
        for (i, j) in [(0, 0), (1, 1), (2, 2), (2, 0), (0, 1)] {
            p[i + j * n] = true;
        }
        assert_eq!(fill(&p, n, &[0, 1, 2]), 3);
        assert_eq!(fill(&p, n, &[2, 1, 0]), 2);
    }
}
