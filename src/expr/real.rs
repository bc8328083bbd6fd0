//! The floating-point types expressions are evaluated in, and the arithmetic every
//! evaluator shares.
//!
//! Why a trait: the tree walker and the scalar register program compute in `f64`, the
//! agent-based engine's lanes in `f32` (cell state is stored in `f32`, see
//! `crate::abm`). The meaning of every function ([`Func::apply1`](super::Func::apply1),
//! [`Func::apply2`](super::Func::apply2)) and of every fused instruction
//! ([`super::ir::Op::eval`]) is written once, generically over [`Real`], and each
//! backend calls it; only the primitive operations below differ per type.
//!
//! `f32` computes `exp`, `ln`, `log10`, `sqrt`, powers, `min`, `max`, rounding and
//! `%` natively (these are what rate laws use, and they vectorise); the
//! trigonometric and hyperbolic functions go through `f64` and are rounded back.

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

/// A floating-point type an expression can be evaluated in.
pub trait Real:
    Copy
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    /// Exponents up to this magnitude are raised by multiplication, not `powf`.
    const MAX_POWI: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `self as i32` (saturating, as `as` does).
    fn to_i32(self) -> i32;
    fn min(self, o: Self) -> Self;
    fn max(self, o: Self) -> Self;
    fn abs(self) -> Self;
    fn trunc(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn log10(self) -> Self;
    fn powf(self, b: Self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
}

macro_rules! native {
    ($($f:ident),*) => {
        $(#[inline(always)] fn $f(self) -> Self { Self::$f(self) })*
    };
}

macro_rules! through_f64 {
    ($($f:ident),*) => {
        $(#[inline(always)] fn $f(self) -> Self { f64::$f(self as f64) as f32 })*
    };
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const MAX_POWI: f64 = 64.0;
    #[inline(always)]
    fn from_f64(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn min(self, o: f64) -> f64 {
        f64::min(self, o)
    }
    #[inline(always)]
    fn max(self, o: f64) -> f64 {
        f64::max(self, o)
    }
    #[inline(always)]
    fn powf(self, b: f64) -> f64 {
        f64::powf(self, b)
    }
    native!(abs, trunc, floor, ceil, sqrt, exp, ln, log10);
    native!(sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, asinh, acosh, atanh);
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const MAX_POWI: f32 = 64.0;
    #[inline(always)]
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn min(self, o: f32) -> f32 {
        f32::min(self, o)
    }
    #[inline(always)]
    fn max(self, o: f32) -> f32 {
        f32::max(self, o)
    }
    #[inline(always)]
    fn powf(self, b: f32) -> f32 {
        f32::powf(self, b)
    }
    native!(abs, trunc, floor, ceil, sqrt, exp, ln, log10);
    through_f64!(sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, asinh, acosh, atanh);
}

/// A truth value as a number: 1 or 0.
#[inline(always)]
pub fn truth<T: Real>(b: bool) -> T {
    if b {
        T::ONE
    } else {
        T::ZERO
    }
}

/// `if(c, a, b)`: `a` where `c` is non-zero, else `b` (only the chosen branch's value
/// is used, so `if(x > 0, 1/x, 0)` is 0 at x = 0, not NaN).
#[inline(always)]
pub fn select<T: Real>(c: T, a: T, b: T) -> T {
    if c != T::ZERO {
        a
    } else {
        b
    }
}

/// `a^n` by binary exponentiation: the algorithm of the `__powidf2` / `__powisf2`
/// builtins behind `f64::powi` and `f32::powi` (hence bit-identical to them), inlined
/// so that no library call is made.
#[inline(always)]
pub fn powi<T: Real>(mut a: T, n: i32) -> T {
    let mut e = n.unsigned_abs();
    let mut r = T::ONE;
    loop {
        if e & 1 != 0 {
            r = r * a;
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        a = a * a;
    }
    if n < 0 {
        T::ONE / r
    } else {
        r
    }
}

/// `a^b` with integer exponents (|b| <= 64) computed by repeated multiplication
/// (exact for negative bases, faster than `powf`), any other by `powf`.
#[inline(always)]
pub fn pow<T: Real>(a: T, b: T) -> T {
    if b == b.trunc() && b.abs() <= T::MAX_POWI {
        powi(a, b.to_i32())
    } else {
        a.powf(b)
    }
}

/// `a^(h/2)` for a constant whole number `h` of half-steps (see
/// [`super::ir::half_steps`]): [`powi`] for even `h`, `a^k * sqrt(a)` for odd `h = 2k +
/// 1`.
///
/// This is [`pow`] to within rounding (`a^k * sqrt(a)` may differ from `powf` in the
/// last bit), with the same special values: NaN for a negative `a` and a half-integer
/// exponent, except `(-inf)^(k + 1/2) = +inf`, and `(-0)^(k + 1/2) = +0`, as `powf`
/// has them.
#[inline(always)]
pub fn pow_half<T: Real>(a: T, h: i32) -> T {
    // Two compares for the common Hill coefficients 2 and 1, not a jump table (an
    // indirect jump per instruction in the scalar program); a constant `h` (the lane
    // loops) unrolls `powi` into the same products.
    if h == 4 {
        a * a
    } else if h == 2 {
        a
    } else if h & 1 == 0 {
        powi(a, h >> 1)
    } else {
        // `a + 0` is `a` but for -0, which becomes +0: `powf(-0, k + 1/2)` is +0.
        let a = a + T::ZERO;
        let v = powi(a, h >> 1) * a.sqrt();
        if a == T::from_f64(f64::NEG_INFINITY) {
            T::from_f64(f64::INFINITY)
        } else {
            v
        }
    }
}

/// A Hill term from its power `p = max(x, 0)^n`: `p / (kn + p)`, or the repressor
/// `kn / (kn + p)` when `rep` is set.
#[inline(always)]
pub fn hill_of<T: Real>(p: T, kn: T, rep: bool) -> T {
    if rep {
        kn / (kn + p)
    } else {
        p / (kn + p)
    }
}

/// `a*b + c`, rounded as a product and then a sum (never contracted into a fused
/// multiply-add, so every backend gives the tree's bits).
#[inline(always)]
pub fn mul_add<T: Real>(a: T, b: T, c: T) -> T {
    a * b + c
}

/// `a*b - c`, rounded as [`mul_add`].
#[inline(always)]
pub fn mul_sub<T: Real>(a: T, b: T, c: T) -> T {
    a * b - c
}

/// `c - a*b`, rounded as [`mul_add`].
#[inline(always)]
pub fn sub_mul<T: Real>(a: T, b: T, c: T) -> T {
    c - a * b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same<T: Real>(a: T, b: T) -> bool {
        (a.to_f64().is_nan() && b.to_f64().is_nan()) || a.to_f64().to_bits() == b.to_f64().to_bits()
    }

    #[test]
    fn inlined_powi_is_bit_identical_to_std() {
        for n in -70..=70 {
            for x in [0.0, -0.0, 1e-3, 0.3, 0.999, 1.0001, 2.0, -1.7, 13.0, 1e10] {
                let (a, b) = (powi(x, n), f64::powi(x, n));
                assert!(same(a, b), "{x}^{n}: {a} vs {b}");
                let x = x as f32;
                let (a, b) = (powi(x, n), f32::powi(x, n));
                assert!(same(a, b), "{x}^{n} (f32): {a} vs {b}");
            }
        }
    }

    #[test]
    fn pow_half_is_pow_to_rounding_with_the_same_special_values() {
        let xs = [
            0.0,
            -0.0,
            1e-3,
            0.3,
            2.0,
            7.5,
            1e10,
            -2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for h in [-8, -6, -2, 1, 2, 3, 4, 5, 6, 8, 9, 17] {
            for x in xs {
                let (got, want) = (pow_half(x, h), pow(x, h as f64 / 2.0));
                let close = (got - want).abs() <= 2e-15 * want.abs();
                assert!(same(got, want) || close, "{x}^({h}/2): {got} vs {want}");
                let x = x as f32;
                let (got, want) = (pow_half(x, h), pow(x, h as f32 / 2.0));
                let close = (got - want).abs() <= 1e-6 * want.abs();
                assert!(
                    same(got, want) || close,
                    "{x}^({h}/2) (f32): {got} vs {want}"
                );
            }
        }
    }
}
