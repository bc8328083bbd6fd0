//! In-place LU factorisation with partial pivoting for the small dense iteration
//! matrices of the Rosenbrock methods (real) and of Radau IIA (one real and one
//! complex matrix per step size: [`DenseLu`] is generic over [`LuScalar`]).
//!
//! Why not `nalgebra::LU`: `LU::new` consumes its matrix and allocates a permutation
//! sequence, so every step (one factorisation each) would allocate twice, and its
//! solve walks the matrix through generic views. This factorisation works on a
//! buffer the solver owns (column-major, like `DMatrix`), keeps its pivots in a
//! reused vector and allocates nothing after [`DenseLu::resize`] (except when a
//! matrix's nonzero pattern asks for a new order of elimination: a few times a
//! run). On the 11-state benchmark loop it factors and solves in well under a
//! right-hand-side evaluation; `benches/stiff.rs` (`lu/*`) times both side by side.
//!
//! Sparse iteration matrices (reaction networks: each species reacts with a
//! few others) are stored and factored densely, but the factorisation records
//! the nonzeros of L and U by row and the solve visits only those
//! ([`SparseRows`]: the same bits as the dense loops), and when the natural
//! order of the variables fills the factors, they are eliminated in a
//! minimum-degree order instead ([`Reordering`], `fill`). POLLU (20 species):
//! 89 instead of 242 nonzeros in L and U, `bdf` 13 % faster at rtol 1e-10.
//! Such a matrix is then refactored on the pivots and structure of its last full
//! factorisation (`refactor`, for [`DenseLu::factor_weighted`]).
//!
//! ## References
//! Golub GH, Van Loan CF (2013) Matrix Computations, 4th ed., Algorithm 3.4.1
//! (Gaussian elimination with partial pivoting, outer-product form).
//! Davis TA (2006) Direct Methods for Sparse Linear Systems, SIAM, 3.1
//! (triangular solves visiting only nonzeros).

use super::fill;

mod refactor;

/// What the factorisation needs of its entries: `f64` and `Complex<f64>`.
pub trait LuScalar:
    Copy
    + Default
    + PartialEq
    + std::ops::Mul<Output = Self>
    + std::ops::MulAssign
    + std::ops::SubAssign
{
    /// The size pivoting compares (for complex entries `|re| + |im|`, as in
    /// Hairer's `decc`: as good a pivot choice as the modulus, without a root).
    fn magnitude(self) -> f64;
    fn recip(self) -> Self;
}

impl LuScalar for f64 {
    #[inline]
    fn magnitude(self) -> f64 {
        self.abs()
    }
    #[inline]
    fn recip(self) -> f64 {
        1.0 / self
    }
}

impl LuScalar for nalgebra::Complex<f64> {
    #[inline]
    fn magnitude(self) -> f64 {
        self.re.abs() + self.im.abs()
    }
    #[inline]
    fn recip(self) -> Self {
        self.inv()
    }
}

/// The LU factors of an `n x n` matrix, `P A = L U`, stored in place.
#[derive(Debug, Clone, Default)]
pub struct DenseLu<T: LuScalar = f64> {
    n: usize,
    /// Column-major: `a[i + j * n]`; unit-lower L below the diagonal, U on and above.
    a: Vec<T>,
    /// Row exchanged with row k at elimination step k.
    piv: Vec<usize>,
    /// Reciprocals of U's diagonal: the back substitution multiplies (a division
    /// in its dependency chain cost about a third of a solve).
    inv_diag: Vec<T>,
    /// The nonzero off-diagonal entries of the factors by row, when there are few
    /// enough of them ([`SPARSE_DENSITY`]): [`DenseLu::solve`] then visits only
    /// those (see [`SparseRows`]).
    rows: SparseRows<T>,
    /// The order of elimination ([`Reordering`]).
    order: Reordering,
    /// Room for the permuted matrix while it is copied, and for the permuted
    /// right-hand side in [`DenseLu::solve`].
    scratch: Vec<T>,
    /// The pivots and structure of the last full factorisation, on which
    /// [`DenseLu::factor_weighted`] refactors a sparse matrix (`refactor`).
    symbolic: refactor::Symbolic,
}

/// Shrink of the off-diagonal nonzeros of L and U (predicted without pivoting)
/// that makes [`DenseLu::factor`] eliminate in the minimum-degree order rather
/// than the natural one.
///
/// Why a threshold: a different order changes the rounding of every solve (not
/// the accuracy), so the results of a problem whose factors are already sparse
/// stay what they were. Measured: POLLU 242 nonzeros in the natural order, 89
/// in the minimum-degree one (reordered); the 11-state il6 loop 22 and 19 (kept).
const REORDER_GAIN: f64 = 2.0;

/// The symmetric permutation [`DenseLu::factor`] applies before eliminating,
/// chosen for the nonzero pattern of the matrices (`fill` says how) and kept
/// while they stay inside it.
#[derive(Debug, Clone, Default)]
struct Reordering {
    /// The union of the nonzero patterns (column-major) seen since the matrix
    /// size was set: the order is chosen for it and kept while the matrices stay
    /// inside it (a subset fills no more). The diagonal does not matter.
    pattern: Vec<bool>,
    /// `perm[k]`: the row and column of the matrix eliminated k-th; empty for
    /// the natural order.
    perm: Vec<usize>,
    /// The off-diagonal nonzeros of L and U predicted for that order (without
    /// pivoting).
    fill: usize,
}

/// Largest share of nonzero off-diagonal entries in L and U for which
/// [`DenseLu::solve`] takes the sparse path. Measured: POLLU's factors in the
/// natural order (63 % nonzero) solved as fast on either path; scalar
/// gathers lose to the two-wide vector loops of the dense path beyond that.
const SPARSE_DENSITY: f64 = 0.5;

/// The nonzero off-diagonal entries of L and U row by row, recorded when the
/// factors are built (rare in the multistep and Radau methods: one factorisation
/// serves many solves). Rows of L are listed with their columns ascending and the
/// rows of U with their columns descending: the order in which the column-oriented
/// substitutions of the dense path update each unknown, so the sparse path makes
/// the same operations on every unknown in the same order, less the products with
/// an exact zero (`x - 0 b = x` for finite `b`), and returns the same bits (a
/// zero's sign aside).
///
/// Why rows: in the column form every unknown waits for the one before it
/// (a chain of `n` dependent multiply-subtracts); in the row form an unknown
/// waits only for those its row names, so on a sparse matrix the processor
/// overlaps the independent rows. The iteration matrix of a reaction network
/// inherits the network's sparsity: the 11-state il6 loop's factors have 22
/// nonzeros off the diagonal of 110 (Rodas5P and BDF 5-10 % faster on it,
/// same results), POLLU's 89 of 380 once reordered.
#[derive(Debug, Clone, Default)]
struct SparseRows<T> {
    /// Whether the solve uses these rows (false: dense factors).
    active: bool,
    /// Row `i` of L is `lower[lower_start[i]..lower_start[i + 1]]`, as
    /// (column, value); U likewise.
    lower_start: Vec<usize>,
    lower: Vec<(usize, T)>,
    upper_start: Vec<usize>,
    upper: Vec<(usize, T)>,
}

impl Reordering {
    /// Choose the order again when `m` (`n x n`, column-major) has a nonzero
    /// outside the pattern the current order was chosen for; true when the
    /// pattern grew.
    fn update<S: LuScalar>(&mut self, m: &[S], n: usize) -> bool {
        let zero = S::default();
        if self.pattern.len() != m.len() {
            self.pattern.clear();
            self.pattern.resize(m.len(), false);
        } else {
            let covered = !m
                .iter()
                .zip(&self.pattern)
                .fold(false, |d, (v, &p)| d | (*v != zero && !p));
            if covered {
                return false;
            }
        }
        for (p, v) in self.pattern.iter_mut().zip(m) {
            *p |= *v != zero;
        }
        let natural: Vec<usize> = (0..n).collect();
        let greedy = fill::minimum_degree(&self.pattern, n);
        let natural_fill = fill::fill(&self.pattern, n, &natural);
        let greedy_fill = fill::fill(&self.pattern, n, &greedy);
        self.perm.clear();
        self.fill = natural_fill;
        if greedy_fill as f64 * REORDER_GAIN <= natural_fill as f64 {
            self.perm = greedy;
            self.fill = greedy_fill;
        }
        true
    }

    /// The permutation, `None` for the natural order.
    fn perm(&self) -> Option<&[usize]> {
        (!self.perm.is_empty()).then_some(&self.perm[..])
    }
}

impl<T: LuScalar> DenseLu<T> {
    /// Make room for `n x n` factors (allocates only when `n` changes).
    pub fn resize(&mut self, n: usize) {
        if self.n != n || self.a.len() != n * n {
            self.n = n;
            self.a = vec![T::default(); n * n];
            self.piv = vec![0; n];
            self.inv_diag = vec![T::default(); n];
            self.order = Reordering::default();
            self.scratch = vec![T::default(); n * n];
            self.symbolic = refactor::Symbolic::default();
            let half = n * n.saturating_sub(1) / 2;
            self.rows = SparseRows {
                active: false,
                lower_start: vec![0; n + 1],
                lower: vec![(0, T::default()); half],
                upper_start: vec![0; n + 1],
                upper: vec![(0, T::default()); half],
            };
        }
    }

    /// The matrix to factor, column-major (fill it, then call [`DenseLu::factor`]).
    pub fn matrix_mut(&mut self) -> &mut [T] {
        &mut self.a
    }

    /// Factor the matrix in place. False when a pivot is zero or not finite (the
    /// matrix is singular to working precision, or holds a NaN).
    pub fn factor(&mut self) -> bool {
        let n = self.n;
        if self.order.update(&self.a[..n * n], n) {
            self.symbolic.forget();
        }
        if let Some(p) = self.order.perm() {
            for (j, col) in self.scratch.chunks_exact_mut(n).enumerate() {
                let from = &self.a[p[j] * n..(p[j] + 1) * n];
                for (x, &pi) in col.iter_mut().zip(p) {
                    *x = from[pi];
                }
            }
            std::mem::swap(&mut self.a, &mut self.scratch);
        }
        self.eliminate()
    }

    /// Gaussian elimination of the matrix in `a` (already in the order of
    /// elimination), then the sparse rows of its factors.
    fn eliminate(&mut self) -> bool {
        let n = self.n;
        let a = &mut self.a[..n * n];
        for k in 0..n {
            let col = &a[k * n..(k + 1) * n];
            let mut p = k;
            let mut best = col[k].magnitude();
            for (i, v) in col.iter().enumerate().skip(k + 1) {
                if v.magnitude() > best {
                    best = v.magnitude();
                    p = i;
                }
            }
            if !(best > 0.0 && best.is_finite()) {
                return false;
            }
            self.piv[k] = p;
            if p != k {
                for j in 0..n {
                    a.swap(k + j * n, p + j * n);
                }
            }
            let inv = a[k + k * n].recip();
            self.inv_diag[k] = inv;
            for v in &mut a[k * n + k + 1..(k + 1) * n] {
                *v *= inv;
            }
            let (left, right) = a.split_at_mut((k + 1) * n);
            let lk = &left[k * n + k + 1..(k + 1) * n];
            for cj in right.chunks_exact_mut(n) {
                let akj = cj[k];
                if akj != T::default() {
                    for (x, &l) in cj[k + 1..].iter_mut().zip(lk) {
                        *x -= l * akj;
                    }
                }
            }
        }
        self.index_rows();
        true
    }

    /// Record the nonzero off-diagonal entries of the factors by row
    /// ([`SparseRows`]) and whether they are few enough to use.
    fn index_rows(&mut self) {
        let n = self.n;
        let most = SPARSE_DENSITY * (n * n - n) as f64;
        if self.order.fill as f64 > most {
            // Too dense already without pivoting (ROBER, OREGO: 3 states): the
            // rows would go unused, and recording them costs Rodas, which factors
            // every step, 4 % on those.
            self.rows.active = false;
            return;
        }
        let a = &self.a[..n * n];
        let r = &mut self.rows;
        let count = list_nonzeros(a, n, (&mut r.lower_start, &mut r.lower), |i| 0..i)
            + list_nonzeros(a, n, (&mut r.upper_start, &mut r.upper), |i| {
                (i + 1..n).rev()
            });
        r.active = count as f64 <= most;
    }

    /// Overwrite `b` with the solution of `A x = b` (after a successful `factor`).
    pub fn solve(&mut self, b: &mut [T]) {
        let n = self.n;
        if n == 0 {
            return;
        }
        let b = &mut b[..n];
        let Some(p) = self.order.perm() else {
            self.substitute(b);
            return;
        };
        let mut x = std::mem::take(&mut self.scratch);
        for (xk, &pk) in x.iter_mut().zip(p) {
            *xk = b[pk];
        }
        self.substitute(&mut x[..n]);
        for (&xk, &pk) in x.iter().zip(self.order.perm().unwrap_or_default()) {
            b[pk] = xk;
        }
        self.scratch = x;
    }

    /// Solve in the order of elimination: the row exchanges, then the
    /// substitutions, sparse ([`SparseRows`]) or dense.
    ///
    /// Dense, both substitutions are chains: each unknown waits for the update of
    /// the one before. The next unknown is therefore carried in a register
    /// (`next`) while the rest of its column is updated in memory; read back from
    /// memory, it came from a vector store just made, and waiting for that store
    /// to forward its value cost about half of every solve (the loads after the
    /// column updates were the two hottest instructions of the 11-state il6
    /// loop's profile). The arithmetic, and so the result, is that of the plain
    /// column-oriented loops.
    fn substitute(&self, b: &mut [T]) {
        let n = self.n;
        let a = &self.a[..n * n];
        for k in 0..n {
            b.swap(k, self.piv[k]);
        }
        if self.rows.active {
            self.solve_rows(b);
            return;
        }
        let zero = T::default();
        // Forward: L y = P b, L unit lower (column k below its diagonal).
        let mut next = b[0];
        for k in 0..n - 1 {
            let bk = next;
            b[k] = bk;
            let l = &a[k * n + k + 1..(k + 1) * n];
            let rest = &mut b[k + 1..];
            next = rest[0];
            if bk != zero {
                next -= l[0] * bk;
                for (x, &lv) in rest[1..].iter_mut().zip(&l[1..]) {
                    *x -= lv * bk;
                }
            }
        }
        // Backward: U x = y (column k above its diagonal).
        for k in (0..n).rev() {
            next *= self.inv_diag[k];
            let bk = next;
            b[k] = bk;
            if k > 0 {
                let u = &a[k * n..k * n + k];
                let (head, last) = b[..k].split_at_mut(k - 1);
                next = last[0];
                next -= u[k - 1] * bk;
                for (x, &uv) in head.iter_mut().zip(&u[..k - 1]) {
                    *x -= uv * bk;
                }
            }
        }
    }
}

/// For each row `i` of the `n x n` column-major `a`, the entries `(j, a[i + j n])`
/// of the columns `cols(i)` (in that order) that are nonzero, into `out`, row `i`
/// starting at `start[i]`; returns how many. Every candidate is written and kept
/// only when nonzero (no branch on the values: half of them mispredicted on POLLU).
fn list_nonzeros<T: LuScalar, I: Iterator<Item = usize>>(
    a: &[T],
    n: usize,
    (start, out): (&mut [usize], &mut [(usize, T)]),
    cols: impl Fn(usize) -> I,
) -> usize {
    let zero = T::default();
    let mut len = 0;
    for i in 0..n {
        start[i] = len;
        for j in cols(i) {
            let v = a[i + j * n];
            out[len] = (j, v);
            len += usize::from(v != zero);
        }
    }
    start[n] = len;
    len
}

impl<T: LuScalar> DenseLu<T> {
    /// The substitutions on the sparse rows ([`SparseRows`]), `b` permuted.
    fn solve_rows(&self, b: &mut [T]) {
        let r = &self.rows;
        for (i, w) in r.lower_start.windows(2).enumerate() {
            let mut x = b[i];
            for &(j, v) in &r.lower[w[0]..w[1]] {
                x -= v * b[j];
            }
            b[i] = x;
        }
        for (i, w) in r.upper_start.windows(2).enumerate().rev() {
            let mut x = b[i];
            for &(j, v) in &r.upper[w[0]..w[1]] {
                x -= v * b[j];
            }
            x *= self.inv_diag[i];
            b[i] = x;
        }
    }
}

impl DenseLu<f64> {
    /// Fill with the row-weighted iteration matrix `D^-1 (a I - b J)` and factor
    /// it (false when singular); `jac` is `J` column-major and `row_scale` holds
    /// `D^-1`, the reciprocal of each variable's error weight `atol + rtol |y_i|`.
    /// The implicit methods (Rodas, BDF) then solve `D^-1 W k = D^-1 r`.
    ///
    /// Why: partial pivoting picks the largest entry of a column, which in
    /// unscaled rows can belong to the equation of a variable many orders of
    /// magnitude larger. The hybrid population layout carries, beside a dying
    /// clone of 1e-3 cells, its mutant's count variance (5e13, rising 2e12 per
    /// hour) whose rate depends on that clone's count (`J = -3e3`, above
    /// `1 / (h gamma) ~ 1e3`): the variance's row became the pivot of the
    /// clone's column and its rounding (1e-16 of 1e12) landed in the clone's
    /// increment as noise of 1e-7 cells, far above the tolerance. Rodas5P then
    /// rejected step after step (524,000 rejections for 360,000 steps on
    /// `minimal_loop_adaptive` at rtol 1e-5, where Dopri5 takes 1,322) or
    /// accepted a count of -1e-6. With the rows weighted the pivot is the entry
    /// largest relative to its own variable's tolerance, as in elimination on the
    /// variables `k_i / w_i` (scaling columns does not change a pivot choice).
    /// The solution is the same in exact arithmetic; the cost is one product per
    /// matrix entry and per right-hand-side entry.
    ///
    /// A sparse matrix whose pattern has not grown is refactored on the pivot
    /// rows and structure of the last full factorisation while each kept pivot
    /// is at least a tenth of the largest entry of its column (`refactor`: a
    /// pass over the structural nonzeros instead of the dense elimination's
    /// passes over all entries; the dense path otherwise).
    pub fn factor_weighted(&mut self, a: f64, b: f64, jac: &[f64], row_scale: &[f64]) -> bool {
        let n = self.n;
        if self.order.update(&jac[..n * n], n) {
            self.symbolic.forget();
        }
        if self.symbolic.valid
            && self.symbolic.refactor(
                (a, b),
                &jac[..n * n],
                &row_scale[..n],
                &mut self.a[..n * n],
                &mut self.inv_diag[..n],
            )
        {
            self.symbolic.rows(&self.a[..n * n], &mut self.rows);
            return true;
        }
        if let Some(p) = self.order.perm() {
            // Filled in the order of elimination: entry (i, j) is the matrix's
            // (p[i], p[j]).
            for (j, col) in self.a[..n * n].chunks_exact_mut(n).enumerate() {
                let (pj, jac) = (p[j], &jac[p[j] * n..(p[j] + 1) * n]);
                for (x, &pi) in col.iter_mut().zip(p) {
                    *x = -(b * jac[pi]) * row_scale[pi];
                }
                col[j] += a * row_scale[pj];
            }
        } else {
            let cols = self.a[..n * n].chunks_exact_mut(n).zip(jac.chunks_exact(n));
            for (j, (col, jac)) in cols.enumerate() {
                for ((x, &jv), &s) in col.iter_mut().zip(jac).zip(&row_scale[..n]) {
                    *x = -(b * jv) * s;
                }
                col[j] += a * row_scale[j];
            }
        }
        let ok = self.eliminate();
        if ok && self.rows.active {
            let perm = self.order.perm().unwrap_or_default();
            self.symbolic
                .analyse(&self.order.pattern, n, perm, &self.piv[..n]);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};

    #[test]
    fn solves_like_nalgebra_on_a_matrix_that_needs_pivoting() {
        let n = 5;
        let m = DMatrix::from_fn(n, n, |i, j| {
            if i == j {
                1e-3 * (i as f64 - 2.0)
            } else {
                ((i * 7 + j * 3) % 5) as f64 - 2.0 + 0.1 * j as f64
            }
        });
        let b = DVector::from_fn(n, |i, _| 1.0 + i as f64);
        let want = m.clone().lu().solve(&b).unwrap();
        let mut lu = DenseLu::default();
        lu.resize(n);
        lu.matrix_mut().copy_from_slice(m.as_slice());
        assert!(lu.factor());
        let mut x = b.as_slice().to_vec();
        lu.solve(&mut x);
        for i in 0..n {
            assert!((x[i] - want[i]).abs() < 1e-10 * want[i].abs().max(1.0));
        }
    }

    /// The complex factorisation solves `(a + i b) x = c` as the equivalent real
    /// system of twice the size does.
    #[test]
    fn complex_entries_solve_like_the_real_equivalent() {
        use nalgebra::Complex;
        let n = 4;
        let re = DMatrix::from_fn(n, n, |i, j| ((i * 5 + j * 3) % 7) as f64 - 3.0);
        let im = DMatrix::from_fn(n, n, |i, j| if i == j { 2.0 + i as f64 } else { 0.5 });
        let (br, bi): (Vec<f64>, Vec<f64>) =
            (0..n).map(|i| (1.0 + i as f64, 0.5 - i as f64)).unzip();
        // [re -im; im re] [xr; xi] = [br; bi]
        let big = DMatrix::from_fn(2 * n, 2 * n, |i, j| match (i < n, j < n) {
            (true, true) => re[(i, j)],
            (true, false) => -im[(i, j - n)],
            (false, true) => im[(i - n, j)],
            (false, false) => re[(i - n, j - n)],
        });
        let rhs = DVector::from_iterator(2 * n, br.iter().chain(&bi).copied());
        let want = big.lu().solve(&rhs).unwrap();
        let mut lu = DenseLu::<Complex<f64>>::default();
        lu.resize(n);
        for (k, e) in lu.matrix_mut().iter_mut().enumerate() {
            *e = Complex::new(re.as_slice()[k], im.as_slice()[k]);
        }
        assert!(lu.factor());
        let mut x: Vec<Complex<f64>> = (0..n).map(|i| Complex::new(br[i], bi[i])).collect();
        lu.solve(&mut x);
        for i in 0..n {
            assert!(
                (x[i].re - want[i]).abs() < 1e-12,
                "{i}: {} vs {}",
                x[i].re,
                want[i]
            );
            assert!(
                (x[i].im - want[i + n]).abs() < 1e-12,
                "{i}: {} vs {}",
                x[i].im,
                want[i + n]
            );
        }
    }

    #[test]
    fn singular_matrix_is_reported() {
        let mut lu = DenseLu::default();
        lu.resize(2);
        lu.matrix_mut().copy_from_slice(&[1.0, 2.0, 2.0, 4.0]);
        assert!(!lu.factor());
    }

    /// A reproducible sparse `n x n` matrix: each off-diagonal entry nonzero with
    /// probability `density`, the diagonal large enough to need no pivoting
    /// when `dominant`.
    fn sparse_matrix(n: usize, density: f64, seed: u64, dominant: bool) -> DMatrix<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        DMatrix::from_fn(n, n, |i, j| {
            if i == j {
                rng.random_range(if dominant { 5.0..10.0 } else { -1.0..1.0 })
            } else if rng.random::<f64>() < density {
                rng.random_range(-1.0..1.0)
            } else {
                0.0
            }
        })
    }

    fn factored(m: &DMatrix<f64>) -> DenseLu {
        let mut lu = DenseLu::default();
        lu.resize(m.nrows());
        lu.matrix_mut().copy_from_slice(m.as_slice());
        assert!(lu.factor());
        lu
    }

    /// Record the sparse rows of the factors and solve on them, however dense.
    fn record_rows<T: LuScalar>(lu: &mut DenseLu<T>) {
        lu.order.fill = 0;
        lu.index_rows();
        lu.rows.active = true;
    }

    /// The sparse rows give the dense substitutions' bits, with pivoting and
    /// without, at any sparsity.
    #[test]
    fn the_sparse_rows_solve_to_the_same_bits_as_the_dense_loops() {
        for seed in 0..40 {
            let n = 3 + (seed as usize % 17);
            let density = [0.05, 0.15, 0.3, 0.6][seed as usize % 4];
            let m = sparse_matrix(n, density, seed, seed % 2 == 0);
            let mut lu = factored(&m);
            let b: Vec<f64> = (0..n).map(|i| 1.0 + (i as f64 * 0.37).sin()).collect();
            let (mut sparse, mut dense) = (b.clone(), b.clone());
            record_rows(&mut lu);
            lu.solve(&mut sparse);
            lu.rows.active = false;
            lu.solve(&mut dense);
            for i in 0..n {
                assert_eq!(sparse[i].to_bits(), dense[i].to_bits(), "seed {seed}, {i}");
            }
            let want = m.clone().lu().solve(&DVector::from_vec(b)).unwrap();
            for i in 0..n {
                assert!((dense[i] - want[i]).abs() < 1e-9 * want[i].abs().max(1.0));
            }
        }
    }

    /// The same for complex entries (Radau's complex system).
    #[test]
    fn complex_sparse_rows_solve_to_the_same_bits() {
        use nalgebra::Complex;
        let n = 12;
        let re = sparse_matrix(n, 0.2, 7, false);
        let im = sparse_matrix(n, 0.2, 8, true);
        let mut lu = DenseLu::<Complex<f64>>::default();
        lu.resize(n);
        for (k, e) in lu.matrix_mut().iter_mut().enumerate() {
            *e = Complex::new(re.as_slice()[k], im.as_slice()[k]);
        }
        assert!(lu.factor());
        let b: Vec<Complex<f64>> = (0..n).map(|i| Complex::new(1.0, i as f64)).collect();
        let (mut sparse, mut dense) = (b.clone(), b);
        record_rows(&mut lu);
        lu.solve(&mut sparse);
        lu.rows.active = false;
        lu.solve(&mut dense);
        for i in 0..n {
            assert_eq!(sparse[i].re.to_bits(), dense[i].re.to_bits(), "{i}");
            assert_eq!(sparse[i].im.to_bits(), dense[i].im.to_bits(), "{i}");
        }
    }

    /// An arrowhead matrix whose hub comes first (a species that reacts with all
    /// others): the natural order fills L and U completely, so the factors are
    /// built in the minimum-degree order (hub last, no fill), come out sparse,
    /// and solve like nalgebra's LU. Both ways in: `factor` and `factor_weighted`.
    #[test]
    fn a_hub_first_is_eliminated_last_and_the_solution_is_unchanged() {
        let n = 12;
        let jac = DMatrix::from_fn(n, n, |i, j| match (i, j) {
            _ if i == j => -3.0 - i as f64,
            (0, _) | (_, 0) => 0.5 + 0.1 * (i + j) as f64,
            _ => 0.0,
        });
        let mut lu = factored(&jac);
        let perm = lu.order.perm().expect("reordered").to_vec();
        assert!(perm[..n - 2].iter().all(|&v| v != 0), "{perm:?}");
        assert!(lu.rows.active);
        assert_eq!(lu.rows.lower_start[n] + lu.rows.upper_start[n], 2 * (n - 1));
        let b = DVector::from_fn(n, |i, _| 1.0 - 0.2 * i as f64);
        let mut x = b.as_slice().to_vec();
        lu.solve(&mut x);
        let want = jac.clone().lu().solve(&b).unwrap();
        for i in 0..n {
            assert!(
                (x[i] - want[i]).abs() < 1e-12 * want[i].abs().max(1.0),
                "{i}"
            );
        }
        // D^-1 (2 I - 0.5 J) x = D^-1 b, built from J in the permuted order.
        let scale: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let mut lu = DenseLu::default();
        lu.resize(n);
        assert!(lu.factor_weighted(2.0, 0.5, jac.as_slice(), &scale));
        assert!(lu.order.perm().is_some());
        let w = DMatrix::identity(n, n) * 2.0 - &jac * 0.5;
        let want = w.lu().solve(&b).unwrap();
        let mut x: Vec<f64> = (0..n).map(|i| b[i] * scale[i]).collect();
        lu.solve(&mut x);
        for i in 0..n {
            assert!(
                (x[i] - want[i]).abs() < 1e-12 * want[i].abs().max(1.0),
                "{i}"
            );
        }
    }

    /// Where the natural order fills little (a banded matrix), it is kept: the
    /// factors and so the results are those of plain elimination.
    #[test]
    fn a_matrix_that_fills_little_keeps_its_order() {
        let n = 10;
        let m = DMatrix::from_fn(n, n, |i, j| match i.abs_diff(j) {
            0 => 4.0,
            1 => -1.0,
            _ => 0.0,
        });
        let lu = factored(&m);
        assert!(lu.order.perm().is_none());
        assert!(lu.rows.active);
    }

    /// A singular matrix is reported in the minimum-degree order too, and a
    /// nonzero outside the pattern the order was chosen for chooses again.
    #[test]
    fn singular_matrices_are_reported_after_reordering() {
        let n = 8;
        // Arrowhead (hub first) with a zero row: singular.
        let mut m = DMatrix::from_fn(n, n, |i, j| match (i, j) {
            _ if i == j => 2.0,
            (0, _) | (_, 0) => 1.0,
            _ => 0.0,
        });
        let mut lu = factored(&m);
        assert!(lu.order.perm().is_some());
        m.row_mut(3).fill(0.0);
        lu.matrix_mut().copy_from_slice(m.as_slice());
        assert!(!lu.factor());
        // Two equal columns, one of them the hub's.
        let mut m = DMatrix::from_fn(n, n, |i, j| match (i, j) {
            _ if i == j => 2.0 + i as f64,
            (0, _) | (_, 0) => 1.0,
            _ => 0.0,
        });
        let hub = m.column(0).into_owned();
        m.set_column(5, &hub);
        lu.matrix_mut().copy_from_slice(m.as_slice());
        assert!(!lu.factor());
        // A dense matrix: the pattern grew, the order is chosen again (natural).
        let dense = sparse_matrix(n, 1.0, 3, true);
        lu.matrix_mut().copy_from_slice(dense.as_slice());
        assert!(lu.factor());
        assert!(lu.order.perm().is_none());
        assert!(!lu.rows.active);
    }

    /// `D^-1 (a I - b J)`, the matrix [`DenseLu::factor_weighted`] factors.
    fn weighted(a: f64, b: f64, jac: &DMatrix<f64>, scale: &[f64]) -> DMatrix<f64> {
        let n = jac.nrows();
        DMatrix::from_fn(n, n, |i, j| {
            (if i == j { a } else { 0.0 } - b * jac[(i, j)]) * scale[i]
        })
    }

    /// Factor by `factor_weighted`; true when it refactored (the dense path
    /// writes every row exchange, the refactorisation none).
    fn factor_weighted_refactored(
        lu: &mut DenseLu,
        (a, b): (f64, f64),
        jac: &DMatrix<f64>,
        scale: &[f64],
    ) -> bool {
        let n = jac.nrows();
        let last = std::mem::replace(&mut lu.piv[n - 1], usize::MAX);
        assert!(lu.factor_weighted(a, b, jac.as_slice(), scale));
        let refactored = lu.piv[n - 1] == usize::MAX;
        if refactored {
            lu.piv[n - 1] = last;
        }
        refactored
    }

    /// Sparse matrices that need row exchanges, refactored with new values on the
    /// same pattern (new Jacobian values, new `b`, new row weights): each solve
    /// agrees with nalgebra's, and most factorisations are refactorisations.
    #[test]
    fn refactored_sparse_matrices_solve_like_nalgebra() {
        use rand::{Rng, SeedableRng};
        let (mut refactored, mut total) = (0, 0);
        for seed in 0..30 {
            let n = 6 + (seed as usize % 15);
            let jac = sparse_matrix(n, 0.12, seed, false);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1000 + seed);
            let mut lu = DenseLu::default();
            lu.resize(n);
            for round in 0..8 {
                // The same pattern, values moved by up to 30 % (round 0: as is).
                let moved = jac
                    .map(|v| v * (1.0 + 0.3 * round.min(1) as f64 * rng.random_range(-1.0..1.0)));
                let b = rng.random_range(0.5..2.0);
                let scale: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..2.0)).collect();
                let again = factor_weighted_refactored(&mut lu, (1.0, b), &moved, &scale);
                assert!(round > 0 || !again);
                refactored += usize::from(again);
                total += 1;
                let rhs: Vec<f64> = (0..n).map(|i| 1.0 + (i as f64 * 0.7).cos()).collect();
                let want = weighted(1.0, b, &moved, &scale)
                    .lu()
                    .solve(&DVector::from_vec(rhs.clone()))
                    .unwrap();
                let mut x = rhs;
                lu.solve(&mut x);
                for i in 0..n {
                    assert!(
                        (x[i] - want[i]).abs() < 1e-9 * want.amax().max(1.0),
                        "seed {seed} round {round} x[{i}] {} want {}",
                        x[i],
                        want[i]
                    );
                }
            }
        }
        assert!(refactored * 2 > total, "{refactored} of {total}");
    }

    /// Where every kept pivot is also the largest of its column (no exchanges
    /// on a diagonally dominant matrix), the refactorisation makes the dense
    /// elimination's operations: the same solution bits.
    #[test]
    fn refactoring_on_the_largest_pivots_gives_the_dense_bits() {
        for seed in 0..20 {
            let n = 8 + (seed as usize % 12);
            let jac = sparse_matrix(n, 0.1, seed, true);
            let scale: Vec<f64> = (0..n).map(|i| 1.0 + 0.1 * i as f64).collect();
            let mut kept = DenseLu::default();
            kept.resize(n);
            assert!(!factor_weighted_refactored(
                &mut kept,
                (1.0, -0.3),
                &jac,
                &scale
            ));
            let moved = jac.map(|v| v * 1.1);
            assert!(factor_weighted_refactored(
                &mut kept,
                (1.0, -0.5),
                &moved,
                &scale
            ));
            let mut fresh = DenseLu::default();
            fresh.resize(n);
            assert!(!factor_weighted_refactored(
                &mut fresh,
                (1.0, -0.5),
                &moved,
                &scale
            ));
            let b: Vec<f64> = (0..n).map(|i| (i as f64).sin() + 2.0).collect();
            let (mut x, mut y) = (b.clone(), b);
            kept.solve(&mut x);
            fresh.solve(&mut y);
            for i in 0..n {
                assert_eq!(x[i].to_bits(), y[i].to_bits(), "seed {seed}, {i}");
            }
        }
    }

    /// A kept pivot that falls below a tenth of its column's largest entry sends
    /// the factorisation back to the dense path, which picks the new pivot.
    #[test]
    fn a_kept_pivot_below_the_threshold_is_replaced() {
        // A 10-state chain with an off-diagonal entry in column 0 that decides
        // the first pivot.
        let n = 10;
        let chain = |big: f64| {
            DMatrix::from_fn(n, n, |i, j| match (i, j) {
                (0, 0) => -1.0,
                (5, 0) => -big,
                (0, 5) => -1.0,
                _ if i == j => -3.0,
                _ if i == j + 1 => -0.5,
                _ => 0.0,
            })
        };
        let scale = vec![1.0; n];
        let mut lu = DenseLu::default();
        lu.resize(n);
        // I - J: column 0 holds 2 (diagonal) and 0.5 (row 5): pivot on the diagonal.
        assert!(!factor_weighted_refactored(
            &mut lu,
            (1.0, 1.0),
            &chain(0.5),
            &scale
        ));
        assert_eq!(lu.piv[0], 0);
        // 0.15: still within the threshold, refactored.
        assert!(factor_weighted_refactored(
            &mut lu,
            (1.0, 1.0),
            &chain(15.0),
            &scale
        ));
        // 25: the kept pivot 2 is below a tenth of 25: dense, row 5 pivots.
        assert!(!factor_weighted_refactored(
            &mut lu,
            (1.0, 1.0),
            &chain(25.0),
            &scale
        ));
        assert_ne!(lu.piv[0], 0);
        for big in [15.0, 25.0] {
            let rhs: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
            let want = weighted(1.0, 1.0, &chain(big), &scale)
                .lu()
                .solve(&DVector::from_vec(rhs.clone()))
                .unwrap();
            let mut fresh = DenseLu::default();
            fresh.resize(n);
            factor_weighted_refactored(&mut fresh, (1.0, 0.5), &chain(0.5), &scale);
            factor_weighted_refactored(&mut fresh, (1.0, 1.0), &chain(big), &scale);
            let mut x = rhs;
            fresh.solve(&mut x);
            for i in 0..n {
                assert!((x[i] - want[i]).abs() < 1e-12 * want.amax(), "{big}: {i}");
            }
        }
    }
}
