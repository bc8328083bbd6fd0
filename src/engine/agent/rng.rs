//! Random streams: xoshiro256++ seeded through splitmix64 from a tuple of ids.
//!
//! Every stream is a pure function of `(seed, replicate, step, group, block)`-style keys,
//! never of thread scheduling, so one thread and many threads produce identical output.
//! The generator is implemented here (rather than using `rand::rngs::SmallRng`) because
//! `SmallRng`'s algorithm may change between `rand` versions, which would silently change
//! every stored result.
//!
//! ## References
//! - Blackman, D. and Vigna, S. (2021). Scrambled linear pseudorandom number generators.
//!   ACM Transactions on Mathematical Software 47(4), 36.
//! - Steele, G., Lea, D. and Flood, C. (2014). Fast splittable pseudorandom number
//!   generators (SplitMix). OOPSLA 2014.

use rand::RngCore;

/// One step of splitmix64: a bijective mixer of 64-bit words.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash a seed and a list of ids into one 64-bit key (order matters).
pub fn derive_key(seed: u64, ids: &[u64]) -> u64 {
    let mut st = seed;
    let mut key = splitmix64(&mut st);
    for &id in ids {
        st ^= id.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ key;
        key = splitmix64(&mut st);
    }
    key
}

/// xoshiro256++: 256 bits of state, period 2^256 - 1, about 1 ns per 64-bit output.
#[derive(Debug, Clone)]
pub struct Stream {
    s: [u64; 4],
}

impl Stream {
    /// A stream derived from `seed` and `ids`, e.g. `Stream::derive(seed, &[replicate])`.
    pub fn derive(seed: u64, ids: &[u64]) -> Self {
        let mut st = derive_key(seed, ids);
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = splitmix64(&mut st);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Stream { s }
    }

    /// Next 64 random bits.
    #[inline(always)]
    pub fn bits(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on `[0, 1)` with 53 random bits.
    #[inline(always)]
    pub fn uniform(&mut self) -> f64 {
        (self.bits() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on `(0, 1]`, safe to take the logarithm of.
    #[inline(always)]
    pub fn uniform_open0(&mut self) -> f64 {
        ((self.bits() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Exponentials drawn at a time by [`Exponentials`].
pub const EXP_BLOCK: usize = 64;

/// Exponentials with mean 1 from their own stream, by the ziggurat of
/// `rand_distr::Exp1` (one 64-bit draw and a table look-up 98.9 % of the time),
/// drawn [`EXP_BLOCK`] at a time. `-ln(U)` costs a logarithm for every draw, which
/// took a quarter of the hybrid engine's event loop; drawing one at a time from the
/// crate is a call the compiler does not inline, and a call spills every
/// floating-point register of the loop around it. From a buffer, an event pays a
/// load.
///
/// ## References
/// - Marsaglia G, Tsang WW (2000). The ziggurat method for generating random
///   variables. J Stat Softw 5(8).
#[derive(Debug, Clone)]
pub struct Exponentials {
    rng: Stream,
    buf: [f64; EXP_BLOCK],
    next: usize,
}

impl Exponentials {
    /// Exponentials from the stream [`Stream::derive`] gives for `seed` and `ids`.
    pub fn derive(seed: u64, ids: &[u64]) -> Self {
        Exponentials {
            rng: Stream::derive(seed, ids),
            buf: [0.0; EXP_BLOCK],
            next: EXP_BLOCK,
        }
    }

    /// The next exponential with mean 1.
    #[inline(always)]
    pub fn next_exp(&mut self) -> f64 {
        if self.next >= EXP_BLOCK {
            self.refill();
        }
        let x = self.buf[self.next];
        self.next += 1;
        x
    }

    #[inline(never)]
    fn refill(&mut self) {
        use rand::Rng;
        for x in &mut self.buf {
            *x = self.rng.sample(rand_distr::Exp1);
        }
        self.next = 0;
    }
}

/// Lanes of one [`LaneStream`]: enough independent generators to fill two AVX2
/// registers of 64-bit words.
pub const RNG_LANES: usize = 8;

/// [`RNG_LANES`] independent xoshiro256++ generators advanced together, struct-of-arrays,
/// so one call yields a uniform for each of `RNG_LANES` cells in a handful of vector
/// instructions instead of a serial chain of scalar ones.
///
/// Every lane is seeded from one splitmix64 sequence keyed by `(seed, ids)`, the
/// seeding Blackman and Vigna recommend; the output is a pure function of the key.
#[derive(Debug, Clone)]
pub struct LaneStream {
    s: [[u64; RNG_LANES]; 4],
}

impl LaneStream {
    /// Lanes derived from `seed` and `ids`, as [`Stream::derive`].
    pub fn derive(seed: u64, ids: &[u64]) -> Self {
        let mut st = derive_key(seed, ids);
        let mut s = [[0u64; RNG_LANES]; 4];
        for j in 0..RNG_LANES {
            for w in &mut s {
                w[j] = splitmix64(&mut st);
            }
            if s.iter().all(|w| w[j] == 0) {
                s[0][j] = 1;
            }
        }
        LaneStream { s }
    }

    /// Next 64 random bits in every lane (xoshiro256++ per lane).
    #[inline(always)]
    pub fn bits(&mut self) -> [u64; RNG_LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u64; RNG_LANES];
        for j in 0..RNG_LANES {
            out[j] = s0[j]
                .wrapping_add(s3[j])
                .rotate_left(23)
                .wrapping_add(s0[j]);
            let t = s1[j] << 17;
            s2[j] ^= s0[j];
            s3[j] ^= s1[j];
            s1[j] ^= s2[j];
            s0[j] ^= s3[j];
            s2[j] ^= t;
            s3[j] = s3[j].rotate_left(45);
        }
        out
    }

    /// [`bits`](Self::bits) in AVX2 registers: the same recurrence, the same output.
    /// Written with intrinsics because AVX2 has no 64-bit rotate and the compiler
    /// otherwise moves every lane to a scalar register to rotate it.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn bits_avx2(&mut self) -> [u64; RNG_LANES] {
        use std::arch::x86_64::{
            __m256i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_or_si256, _mm256_slli_epi64,
            _mm256_srli_epi64, _mm256_storeu_si256, _mm256_xor_si256,
        };
        let mut out = [0u64; RNG_LANES];
        for h in (0..RNG_LANES).step_by(4) {
            // SAFETY: `h + 4 <= RNG_LANES`, so every pointer covers four `u64` in
            // bounds; unaligned loads and stores.
            let ld = |w: &[u64; RNG_LANES]| _mm256_loadu_si256(w[h..].as_ptr() as *const __m256i);
            let [w0, w1, w2, w3] = &mut self.s;
            let (mut s0, mut s1, mut s2, mut s3) = (ld(w0), ld(w1), ld(w2), ld(w3));
            let sum = _mm256_add_epi64(s0, s3);
            let rot = _mm256_or_si256(_mm256_slli_epi64(sum, 23), _mm256_srli_epi64(sum, 41));
            let res = _mm256_add_epi64(rot, s0);
            let t = _mm256_slli_epi64(s1, 17);
            s2 = _mm256_xor_si256(s2, s0);
            s3 = _mm256_xor_si256(s3, s1);
            s1 = _mm256_xor_si256(s1, s2);
            s0 = _mm256_xor_si256(s0, s3);
            s2 = _mm256_xor_si256(s2, t);
            s3 = _mm256_or_si256(_mm256_slli_epi64(s3, 45), _mm256_srli_epi64(s3, 19));
            for (w, v) in [(w0, s0), (w1, s1), (w2, s2), (w3, s3)] {
                _mm256_storeu_si256(w[h..].as_mut_ptr() as *mut __m256i, v);
            }
            _mm256_storeu_si256(out[h..].as_mut_ptr() as *mut __m256i, res);
        }
        out
    }
}

/// Uniform on `[0, 1)` from the top 52 of 64 random bits, by placing them in the
/// mantissa of a number in `[1, 2)`: exact, and it vectorises (no integer-to-float
/// conversion, which AVX2 lacks for 64-bit words).
#[inline(always)]
pub fn unit_from_bits(bits: u64) -> f64 {
    f64::from_bits((bits >> 12) | 0x3FF0_0000_0000_0000) - 1.0
}

impl RngCore for Stream {
    fn next_u32(&mut self) -> u32 {
        (self.bits() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.bits()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.bits().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_id_and_repeat_by_key() {
        let mut a = Stream::derive(7, &[0, 1]);
        let mut b = Stream::derive(7, &[1, 0]);
        let mut c = Stream::derive(7, &[0, 1]);
        let (x, y, z) = (a.bits(), b.bits(), c.bits());
        assert_ne!(x, y);
        assert_eq!(x, z);
    }

    /// Lanes are distinct generators, each the xoshiro256++ recurrence, and the
    /// mantissa uniforms have mean 1/2 and stay in [0, 1).
    #[test]
    fn lanes_differ_and_are_uniform() {
        let mut a = LaneStream::derive(7, &[1, 2]);
        let mut b = LaneStream::derive(7, &[1, 2]);
        let first = a.bits();
        assert_eq!(first, b.bits());
        for j in 1..RNG_LANES {
            assert_ne!(first[0], first[j]);
        }
        let n = 50_000;
        let mut sum = 0.0;
        for _ in 0..n {
            for x in a.bits() {
                let u = unit_from_bits(x);
                assert!((0.0..1.0).contains(&u));
                sum += u;
            }
        }
        let mean = sum / (n * RNG_LANES) as f64;
        // Standard error 1/sqrt(12 n L) = 4.6e-4; 5 of them.
        assert!((mean - 0.5).abs() < 2.3e-3, "{mean}");
        assert_eq!(unit_from_bits(0), 0.0);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut v = LaneStream::derive(3, &[]);
            let mut s = v.clone();
            for _ in 0..100 {
                // SAFETY: AVX2 is present (checked above).
                assert_eq!(unsafe { v.bits_avx2() }, s.bits());
            }
        }
        assert!(unit_from_bits(u64::MAX) < 1.0);
    }

    /// The ziggurat's exponentials: mean 1, variance 1, and P(X > 3) = e^-3; a
    /// pure function of the key across block refills.
    #[test]
    fn exponentials_have_unit_mean_and_variance() {
        let mut r = Exponentials::derive(2, &[]);
        let n = 200_000;
        let x: Vec<f64> = (0..n).map(|_| r.next_exp()).collect();
        let mut again = Exponentials::derive(2, &[]);
        assert!(x[..3 * EXP_BLOCK + 5]
            .iter()
            .all(|&v| v == again.next_exp()));
        let m = x.iter().sum::<f64>() / n as f64;
        let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        let tail = x.iter().filter(|&&v| v > 3.0).count() as f64 / n as f64;
        // Standard errors: 1/sqrt(n) = 0.0022 for the mean, sqrt(8/n) = 0.0063 for
        // the variance, sqrt(p (1 - p) / n) = 0.00048 for the tail; 5 of them.
        assert!((m - 1.0).abs() < 0.011, "{m}");
        assert!((v - 1.0).abs() < 0.032, "{v}");
        assert!((tail - (-3.0f64).exp()).abs() < 0.0024, "{tail}");
        assert!(x.iter().all(|&v| v >= 0.0 && v.is_finite()));
    }

    #[test]
    fn uniform_mean_is_half() {
        let mut r = Stream::derive(1, &[]);
        let n = 100_000;
        let m: f64 = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        // Standard error 1/sqrt(12 n) ~ 0.0009; 5 sigma.
        assert!((m - 0.5).abs() < 0.0046, "{m}");
    }
}
