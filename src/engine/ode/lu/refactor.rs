//! Numeric refactorisation of a sparse iteration matrix on the pivots and the
//! structure of its last full factorisation.
//!
//! Why. BDF factors `I - c J` again whenever `c` moves by 30 % or the factors
//! are 20 steps old, on a Jacobian it keeps for up to 50 steps, and Rodas factors
//! every step; the matrices keep their nonzero pattern. The dense elimination
//! walks all `n^2` entries several times per factorisation (fill, pivot search,
//! row exchanges, the skipped updates, recording the rows), where a sparse
//! matrix's factors have a few nonzeros per row (POLLU: 89 of 380). Knowing the
//! pivot rows and the structure of L and U, a factorisation is a pass over the
//! structural nonzeros only (what KLU calls a refactorisation).
//!
//! Pivots: a kept pivot row stays while its entry is at least a tenth of the
//! largest entry of its column ([`PIVOT_TOLERANCE`], threshold partial pivoting
//! as in UMFPACK and KLU; growth of the entries stays bounded by `1 + 10` per
//! step, against `1 + 1` for the largest pivot). Otherwise (a zero or non-finite
//! pivot, another row ten times larger, a NaN) the refactorisation reports
//! failure and the caller factors densely, which picks the largest pivots and is
//! analysed again. Where each kept pivot is also the largest of its column the
//! operations are the dense elimination's on the entries that can be nonzero, in
//! the same order per entry, and the bits are the same (tested); where a kept
//! pivot is not the largest, the rounding is that of another stable pivot.
//!
//! Why not only the largest: on POLLU the largest entry of some columns changes
//! with `c` and the state (more than ten pivot sequences in one BDF run at rtol
//! 1e-10), so "same pivots as partial pivoting" let 16 of 99 factorisations fall
//! back to the dense path and be analysed again, which cost what the
//! refactorisations saved (`bdf` no faster). With the threshold 2 of 99 fall back: `bdf` 6 % and
//! `rodas5p` 20 % less CPU on POLLU (rtol 1e-8 to 1e-10, the same counters),
//! `rodas5p` 7-8 % on the 11-state il6 loop and 5 % on HIRES
//! (docs/performance.md).
//!
//! ## References
//! Davis TA, Palamadai Natarajan E (2010) Algorithm 907: KLU, a direct sparse
//! solver for circuit simulation problems. ACM TOMS 37:36 (refactorisation on a
//! kept pivot order and pattern). Davis TA (2006) Direct Methods for Sparse
//! Linear Systems, SIAM, 4.x (symbolic analysis of LU).

use super::{list_nonzeros, SparseRows, SPARSE_DENSITY};

/// A kept pivot must be at least this fraction of the largest entry of its
/// column (threshold partial pivoting; UMFPACK's default).
const PIVOT_TOLERANCE: f64 = 0.1;

/// The structure of the last full factorisation of a sparse matrix, in the
/// positions of the factors (rows in their final order after the exchanges).
#[derive(Debug, Clone, Default)]
pub(super) struct Symbolic {
    /// Whether it describes the current order of elimination and pivots.
    pub(super) valid: bool,
    /// The matrix's structural entries off the diagonal: (position in the
    /// factors' storage, index into the Jacobian, index into the row scale).
    entries: Vec<(usize, usize, usize)>,
    /// Where each diagonal entry of the (reordered) matrix lands, and the index of
    /// its row scale.
    diagonal: Vec<(usize, usize)>,
    /// Rows `i > k` of L's column `k`, ascending (`lcol_start[k]..[k + 1]`).
    lcol_start: Vec<usize>,
    lcol: Vec<usize>,
    /// Columns `j > k` of U's row `k`, descending (the order of the solve's rows).
    urow_start: Vec<usize>,
    urow: Vec<usize>,
    /// Columns `j < i` of L's row `i`, ascending (the order of the solve's rows).
    lrow_start: Vec<usize>,
    lrow: Vec<usize>,
    /// The row exchanges analysed, and whether an analysis (valid or not) stands
    /// for them and the current pattern.
    piv: Vec<usize>,
    done: bool,
    /// Scratch of the analysis: the final row order, its inverse, the structure.
    rows: Vec<usize>,
    at: Vec<usize>,
    s: Vec<bool>,
}

impl Symbolic {
    /// Forget the analysis (the pattern or the order of elimination changed).
    pub(super) fn forget(&mut self) {
        self.done = false;
        self.valid = false;
    }

    /// Analyse the factorisation just made: `pattern` the union of the
    /// Jacobian's nonzero patterns (column-major, `n x n`), `perm` the order of
    /// elimination (empty: natural), `piv` the row exchanges. Invalid when the
    /// structure of L and U has more nonzeros than the sparse solve takes.
    /// Reuses its buffers: after the first analysis of a size it allocates
    /// nothing.
    pub(super) fn analyse(&mut self, pattern: &[bool], n: usize, perm: &[usize], piv: &[usize]) {
        if self.done && self.piv == piv {
            return;
        }
        self.done = true;
        self.piv.clear();
        self.piv.extend_from_slice(piv);
        self.valid = false;
        if n == 0 {
            return;
        }
        let p = |i: usize| if perm.is_empty() { i } else { perm[i] };
        // rows[i]: the row of the reordered matrix that ends in position i.
        let rows = &mut self.rows;
        rows.clear();
        rows.extend(0..n);
        for (k, &pk) in piv.iter().enumerate().take(n) {
            rows.swap(k, pk);
        }
        self.at.clear();
        self.at.resize(n, 0);
        for (i, &r) in rows.iter().enumerate() {
            self.at[r] = i;
        }
        let s = &mut self.s;
        s.clear();
        s.resize(n * n, false);
        for j in 0..n {
            for i in 0..n {
                s[i + j * n] = rows[i] == j || pattern[p(rows[i]) + p(j) * n];
            }
        }
        // Symbolic elimination without exchanges (they are in `rows`).
        super::fill::eliminate(s, n);
        let count = (0..n * n).filter(|&x| s[x] && x % n != x / n).count();
        if count as f64 > SPARSE_DENSITY * (n * n - n) as f64 {
            return;
        }
        self.entries.clear();
        self.diagonal.clear();
        for j in 0..n {
            for (i, &r) in rows.iter().enumerate() {
                if r != j && pattern[p(r) + p(j) * n] {
                    self.entries.push((i + j * n, p(r) + p(j) * n, p(r)));
                }
            }
            self.diagonal.push((self.at[j] + j * n, p(j)));
        }
        for v in [
            &mut self.lcol_start,
            &mut self.lcol,
            &mut self.urow_start,
            &mut self.urow,
            &mut self.lrow_start,
            &mut self.lrow,
        ] {
            v.clear();
        }
        for k in 0..n {
            self.lcol_start.push(self.lcol.len());
            self.lcol.extend((k + 1..n).filter(|&i| s[i + k * n]));
            self.urow_start.push(self.urow.len());
            self.urow.extend((k + 1..n).rev().filter(|&j| s[k + j * n]));
            self.lrow_start.push(self.lrow.len());
            self.lrow.extend((0..k).filter(|&j| s[k + j * n]));
        }
        self.lcol_start.push(self.lcol.len());
        self.urow_start.push(self.urow.len());
        self.lrow_start.push(self.lrow.len());
        self.valid = true;
    }

    /// Fill `a` (`n x n`, column-major, the factors' storage) with the
    /// row-weighted `D^-1 (alpha I - beta J)` in the factors' positions and
    /// eliminate on the kept pivots, writing the reciprocals of U's diagonal to
    /// `inv_diag`. False when a kept pivot is not the unique largest finite
    /// entry of its column (then `a` holds no factorisation).
    pub(super) fn refactor(
        &self,
        (alpha, beta): (f64, f64),
        jac: &[f64],
        row_scale: &[f64],
        a: &mut [f64],
        inv_diag: &mut [f64],
    ) -> bool {
        let n = inv_diag.len();
        a.fill(0.0);
        for &(at, jx, sx) in &self.entries {
            a[at] = -(beta * jac[jx]) * row_scale[sx];
        }
        for &(at, sx) in &self.diagonal {
            a[at] = -(beta * jac[sx + sx * n]) * row_scale[sx] + alpha * row_scale[sx];
        }
        for k in 0..n {
            let rows = &self.lcol[self.lcol_start[k]..self.lcol_start[k + 1]];
            let pivot = a[k + k * n];
            let best = pivot.abs();
            let too_small = |&i: &usize| {
                let v = a[i + k * n].abs();
                v * PIVOT_TOLERANCE > best || v.is_nan()
            };
            if !(best > 0.0 && best.is_finite()) || rows.iter().any(too_small) {
                return false;
            }
            let inv = 1.0 / pivot;
            inv_diag[k] = inv;
            for &i in rows {
                a[i + k * n] *= inv;
            }
            for &j in &self.urow[self.urow_start[k]..self.urow_start[k + 1]] {
                let akj = a[k + j * n];
                if akj != 0.0 {
                    for &i in rows {
                        a[i + j * n] -= a[i + k * n] * akj;
                    }
                }
            }
        }
        true
    }

    /// The nonzero entries of the factors by row into `rows`, for the solve: L's
    /// rows with their columns ascending, U's descending (see `SparseRows`), the
    /// same lists the dense path records.
    pub(super) fn rows(&self, a: &[f64], rows: &mut SparseRows<f64>) {
        let n = rows.lower_start.len() - 1;
        list_nonzeros(
            a,
            n,
            (&mut rows.lower_start, &mut rows.lower),
            listed(&self.lrow_start, &self.lrow),
        );
        list_nonzeros(
            a,
            n,
            (&mut rows.upper_start, &mut rows.upper),
            listed(&self.urow_start, &self.urow),
        );
        rows.active = true;
    }
}

/// Row `i` of a list stored as `cols[start[i]..start[i + 1]]`.
fn listed<'a>(
    start: &'a [usize],
    cols: &'a [usize],
) -> impl Fn(usize) -> std::iter::Copied<std::slice::Iter<'a, usize>> {
    move |i| cols[start[i]..start[i + 1]].iter().copied()
}
