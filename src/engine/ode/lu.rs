//! In-place LU factorisation with partial pivoting for the small dense iteration
//! matrices of the Rosenbrock methods (real) and of Radau IIA (one real and one
//! complex matrix per step size: [`DenseLu`] is generic over [`LuScalar`]).
//!
//! Why not `nalgebra::LU`: `LU::new` consumes its matrix and allocates a permutation
//! sequence, so every step (one factorisation each) would allocate twice, and its
//! solve walks the matrix through generic views. This factorisation works on a
//! buffer the solver owns (column-major, like `DMatrix`), keeps its pivots in a
//! reused vector and allocates nothing after [`DenseLu::resize`]. On the 11-state
//! benchmark loop it factors and solves in well under a right-hand-side evaluation;
//! `benches/stiff.rs` (`lu/*`) times both side by side.
//!
//! ## References
//! Golub GH, Van Loan CF (2013) Matrix Computations, 4th ed., Algorithm 3.4.1
//! (Gaussian elimination with partial pivoting, outer-product form).

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
}

impl<T: LuScalar> DenseLu<T> {
    /// Make room for `n x n` factors (allocates only when `n` changes).
    pub fn resize(&mut self, n: usize) {
        if self.n != n || self.a.len() != n * n {
            self.n = n;
            self.a = vec![T::default(); n * n];
            self.piv = vec![0; n];
            self.inv_diag = vec![T::default(); n];
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
        true
    }

    /// Overwrite `b` with the solution of `A x = b` (after a successful `factor`).
    ///
    /// Both substitutions are chains: each unknown waits for the update of the one
    /// before. The next unknown is therefore carried in a register (`next`) while
    /// the rest of its column is updated in memory; read back from memory, it came
    /// from a vector store just made, and waiting for that store to forward its
    /// value cost about half of every solve (the loads after the column updates
    /// were the two hottest instructions of the 11-state il6 loop's profile). The
    /// arithmetic, and so the result, is that of the plain column-oriented loops.
    pub fn solve(&self, b: &mut [T]) {
        let n = self.n;
        if n == 0 {
            return;
        }
        let a = &self.a[..n * n];
        let b = &mut b[..n];
        for k in 0..n {
            b.swap(k, self.piv[k]);
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
    pub fn factor_weighted(&mut self, a: f64, b: f64, jac: &[f64], row_scale: &[f64]) -> bool {
        let n = self.n;
        let cols = self.a[..n * n].chunks_exact_mut(n).zip(jac.chunks_exact(n));
        for (j, (col, jac)) in cols.enumerate() {
            for ((x, &jv), &s) in col.iter_mut().zip(jac).zip(&row_scale[..n]) {
                *x = -(b * jv) * s;
            }
            col[j] += a * row_scale[j];
        }
        self.factor()
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
}
