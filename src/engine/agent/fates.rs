//! The fate of every cell in a step: its line's divisions and deaths over the step,
//! with hazards frozen over the step, exactly in law, for a block of cells at once.
//!
//! A cell with division and death hazards `b`, `d` has no event in a step of length
//! `dt` with probability `e = exp(-(b + d) dt)`. One uniform `u` per cell decides: `u <
//! e` means it simply survives; otherwise `tau = -ln(u) / (b + d)` (at most `dt`) is the
//! time of its first event, drawn from the same uniform (exponential by inversion,
//! conditioned on falling within the step), and the rest of its line is followed event
//! by event (Gillespie's direct method with the hazards frozen) to the end of the step
//! ([`line_after_first`]). So the cells it has become (`K`), its line's divisions and
//! its deaths are all exact; `K` follows Kendall's law (Kendall 1948, the law a
//! lumped clone's step draws, [`kendall`]), and the divisions and deaths that cancel
//! within a step (a division whose daughter dies) are counted too. The usual step
//! (`(b + d) dt` of a few per cent) follows one event and looks once past it.
//!
//! [`draw_fates`] draws the uniforms from [`LaneStream`] lanes, eight or sixteen cells
//! at a time in vector registers, decides most cells by comparing with a bound valid
//! for the whole block, and returns only the cells that died or divided, so the
//! sequential phase of the step never scans the cells that did neither; the block's
//! divisions and deaths are summed as it goes.
//!
//! ## References
//! - Kendall, D. G. (1948). On the generalized "birth-and-death" process. Annals of
//!   Mathematical Statistics 19(1), 1-15.
//! - Gillespie, D. T. (1977). Exact stochastic simulation of coupled chemical
//!   reactions. Journal of Physical Chemistry 81(25), 2340-2361.
//! - Marsaglia, G., Tsang, W. W. (2000). The ziggurat method for generating random
//!   variables. Journal of Statistical Software 5(8) (`rand_distr::Exp1`, the waiting
//!   times after the first event).

use rand::Rng;
use rand_distr::Exp1;

use super::rng::{unit_from_bits, LaneStream, Stream, RNG_LANES};

const L: usize = RNG_LANES;

/// A hazard that is not finite and non-negative: `(cell index, which, value)`.
pub(crate) type BadHazard = (usize, &'static str, f64);

/// A cell that did not simply survive the step: `k = 0` (died) or `k >= 2` (it and
/// `k - 1` new cells at the end of the step). `index` is the cell's index in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FateEvent {
    pub index: u32,
    pub k: u32,
}

/// A block's hazards over one step: division hazards `div` (scaled by `factor`, the
/// carrying capacity's brake on division) and death hazards `death`, frozen over `dt`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockHazards<'a> {
    pub div: &'a [f64],
    pub death: &'a [f64],
    pub factor: f64,
    pub dt: f64,
}

/// Where a block's fates come from and go: `lanes` gives one uniform per cell, `extra`
/// the further draws of the cells with an event; the cells that died or divided are
/// appended to `events`, indexed from `base`, and every division and death of their
/// lines is added to `divisions` and `deaths`.
pub(crate) struct FateDraw<'a> {
    pub lanes: &'a mut LaneStream,
    pub extra: &'a mut Stream,
    pub base: u32,
    pub events: &'a mut Vec<FateEvent>,
    pub divisions: u64,
    pub deaths: u64,
}

impl FateDraw<'_> {
    /// Record that cell `i` of the block became `k` cells (`k != 1`).
    #[inline(always)]
    fn push(&mut self, i: usize, k: u32) {
        self.events.push(FateEvent {
            index: self.base + i as u32,
            k,
        });
    }

    /// Decide cell `i` (hazards `b`, `d` over `dt`) from its uniform `u` and its
    /// chance of no event `e`: follow its line if it has an event, count the line's
    /// divisions and deaths, and record the cell unless it is one cell at the end.
    #[inline(always)]
    fn decide(&mut self, i: usize, (b, d, dt): (f64, f64, f64), e: f64, u: f64) {
        if u < e {
            return;
        }
        let line = line_after_first(b, d, dt, u, self.extra);
        self.divisions += line.divisions;
        self.deaths += line.deaths;
        if line.cells != 1 {
            self.push(i, line.cells.min(u32::MAX as u64) as u32);
        }
    }
}

/// A cell's line over one step after its first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    /// Cells at the end of the step (the cell itself and its surviving descendants).
    pub cells: u64,
    pub divisions: u64,
    pub deaths: u64,
}

/// More events than this in one cell's line in one step mark a runaway configuration
/// (`b dt` in the tens); the line is followed no further and counts as it stands.
const MAX_LINE_EVENTS: u64 = 1 << 24;

/// Follow a line that has an event within the step, `u >= exp(-(b + d) dt)` being the
/// uniform that said so, to the end of the step, hazards `b`, `d` per cell frozen:
/// each event is a division with probability `b / (b + d)`, else a death, and the next
/// comes after an exponential time with rate `n (b + d)` for `n` cells (Gillespie's
/// direct method, exact for a linear birth-death process). The first event's time is
/// `-ln(u) / (b + d)` (`P(tau > s) = P(u < exp(-(b + d) s))`: exponential, conditioned
/// on the step), needed only when it is a division (a death ends the line at once).
#[inline]
pub(crate) fn line_after_first(b: f64, d: f64, dt: f64, u: f64, rng: &mut Stream) -> Line {
    let rate = b + d;
    if rng.uniform() * rate >= b {
        return Line {
            cells: 0,
            divisions: 0,
            deaths: 1,
        };
    }
    let mut line = Line {
        cells: 2,
        divisions: 1,
        deaths: 0,
    };
    let mut t = (-u.ln() / rate).min(dt);
    while line.divisions + line.deaths < MAX_LINE_EVENTS {
        // An exponential variate by the ziggurat (no logarithm in the usual case).
        let x: f64 = rng.sample(Exp1);
        t += x / (line.cells as f64 * rate);
        if t > dt {
            break;
        }
        if rng.uniform() * rate < b {
            line.cells += 1;
            line.divisions += 1;
        } else {
            line.cells -= 1;
            line.deaths += 1;
            if line.cells == 0 {
                break;
            }
        }
    }
    line
}

/// `(exp(x) - 1) / x`, accurate for all `x` (Taylor series near 0, where the direct
/// formula cancels).
#[inline(always)]
pub fn expm1_over_x(x: f64) -> f64 {
    if x.abs() < 0.0625 {
        expm1_over_x_series(x)
    } else {
        x.exp_m1() / x
    }
}

/// Taylor series of `(exp(x) - 1) / x` to `x^7`; truncation error < x^8/9! < 2e-15
/// relative for `|x| < 1/16`. Evaluated by Estrin's scheme (pairs of terms combined
/// by powers of `x^2`) rather than Horner's: three dependent multiply-adds instead of
/// seven, which matters where a cell's thresholds are computed alone.
#[inline(always)]
fn expm1_over_x_series(x: f64) -> f64 {
    let x2 = x * x;
    let x4 = x2 * x2;
    let a = 1.0 + x * 0.5;
    let b = 1.0 / 6.0 + x * (1.0 / 24.0);
    let c = 1.0 / 120.0 + x * (1.0 / 720.0);
    let d = 1.0 / 5040.0 + x * (1.0 / 40320.0);
    (a + x2 * b) + x4 * (c + x2 * d)
}

/// Kendall's `(alpha, beta)` for hazards `b`, `d` frozen over `dt`: a cell leaves
/// `K = 0` cells with probability `alpha`, else `1 + Geometric` cells with ratio `beta`.
#[inline(always)]
pub fn kendall(b: f64, d: f64, dt: f64) -> (f64, f64) {
    let g = dt * expm1_over_x((b - d) * dt);
    let bg = b * g;
    let inv = 1.0 / (1.0 + bg);
    (d * g * inv, bg * inv)
}

/// A hazard must be finite and non-negative (NaN fails).
#[inline(always)]
pub(crate) fn valid_hazard(x: f64) -> bool {
    (0.0..f64::INFINITY).contains(&x)
}

/// The first hazard that is not finite and non-negative, as `(index, which, value)`.
///
/// The common all-valid case is decided by [`hazard_range`]'s branch-free reductions;
/// only otherwise is each value checked (a finite sum that merely overflowed finds
/// nothing and passes).
#[inline(always)]
pub(crate) fn first_bad_hazard(div: &[f64], death: &[f64]) -> Option<BadHazard> {
    if hazard_range(div, death).is_some() {
        return None;
    }
    div.iter().zip(death).enumerate().find_map(|(i, (&b, &d))| {
        if !valid_hazard(b) {
            Some((i, "division", b))
        } else if !valid_hazard(d) {
            Some((i, "death", d))
        } else {
            None
        }
    })
}

/// Draw the fate of every cell of a block, append the cells that died or divided to
/// `out.events` and add their lines' divisions and deaths to `out`.
///
/// Every hazard is checked first; a bad one is returned (and nothing is drawn). Usually
/// few cells have an event in a step, and the block's largest hazards bound every
/// cell's chance of none, so most cells are decided by comparing a 32-bit uniform
/// prefix with one number ([`fates_screened`]); when many cells are likely to have
/// one, every cell's chance is computed ([`fates_in_lanes`]), or only compared with
/// when the cells share it ([`fates_shared`], the same draws as `fates_in_lanes`). Every path
/// is exact in law, and which one runs depends only on the block's hazards. On x86-64
/// CPUs with AVX2 the pass runs compiled for AVX2 (chosen at run time; the same IEEE
/// operations, so the same bits either way).
pub(crate) fn draw_fates(h: &BlockHazards<'_>, out: &mut FateDraw<'_>) -> Option<BadHazard> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { draw_fates_avx2(h, out) };
        }
    }
    draw_fates_any::<false>(h, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn draw_fates_avx2(h: &BlockHazards<'_>, out: &mut FateDraw<'_>) -> Option<BadHazard> {
    draw_fates_any::<true>(h, out)
}

#[inline(always)]
fn draw_fates_any<const AVX2: bool>(
    h: &BlockHazards<'_>,
    out: &mut FateDraw<'_>,
) -> Option<BadHazard> {
    let (factor, dt) = (h.factor, h.dt);
    let Some(r) = hazard_range(h.div, h.death) else {
        if let Some(bad) = first_bad_hazard(h.div, h.death) {
            return Some(bad);
        }
        // Valid hazards so large that their sum overflowed: every cell on its own.
        fates_in_lanes::<false, AVX2>(h, out);
        return None;
    };
    // The chance of no event falls with either hazard, so the block's largest hazards
    // bound every cell's: a uniform below `hi` means no event for every cell. The
    // margin (far above rounding, far below any probability that matters) keeps a
    // chance computed a few ulps off above the bound.
    let hi = no_event::<false>(r.b_max * factor, r.d_max, dt) - 1e-12;
    let shared = r.b_min == r.b_max && r.d_min == r.d_max;
    if 1.0 - hi < SCREEN_LIMIT {
        fates_screened::<AVX2>(h, hi, out);
    } else if shared {
        // Every cell has the hazards the bound was computed from.
        let (b, d) = (r.b_max * factor, r.d_max);
        fates_shared::<AVX2>(h.div.len(), (b, d, dt), out);
    } else if (r.b_max * factor + r.d_max) * dt < 0.0625 {
        fates_in_lanes::<true, AVX2>(h, out);
    } else {
        fates_in_lanes::<false, AVX2>(h, out);
    }
    None
}

/// Above this chance that a cell falls above the block's bound, computing every cell's
/// chance of no event (vectorised) or, when the cells share it, comparing every cell
/// with it beats screening (scalar work for each candidate).
const SCREEN_LIMIT: f64 = 0.25;

/// The range of a block's hazards.
struct HazardRange {
    b_min: f64,
    b_max: f64,
    d_min: f64,
    d_max: f64,
}

/// The range of the hazards, or `None` when one is not finite and non-negative (or
/// their sum overflows). One branch-free vectorisable pass: every hazard is valid when
/// both minima are >= 0 (`NaN < x` is false, so NaN never lowers a minimum) and the
/// sum is finite (NaN and infinity make it non-finite).
#[inline(always)]
fn hazard_range(div: &[f64], death: &[f64]) -> Option<HazardRange> {
    let (b_min, b_max, b_sum) = range_of(div);
    let (d_min, d_max, d_sum) = range_of(death);
    let r = HazardRange {
        b_min,
        b_max,
        d_min,
        d_max,
    };
    let valid = b_min >= 0.0 && d_min >= 0.0 && (b_sum + d_sum).is_finite();
    valid.then_some(r)
}

/// `(min, max, sum)` of `x` (`max` at least 0), in `W` vector accumulators: a plain
/// loop over fixed-size chunks, one array at a time, so it compiles to packed min,
/// max and add.
#[inline(always)]
fn range_of(x: &[f64]) -> (f64, f64, f64) {
    const W: usize = 8;
    let (mut lo, mut hi, mut sum) = ([f64::INFINITY; W], [0.0f64; W], [0.0f64; W]);
    let mut c = x.chunks_exact(W);
    for v in &mut c {
        for j in 0..W {
            lo[j] = if v[j] < lo[j] { v[j] } else { lo[j] };
            hi[j] = if v[j] > hi[j] { v[j] } else { hi[j] };
            sum[j] += v[j];
        }
    }
    for &v in c.remainder() {
        lo[0] = if v < lo[0] { v } else { lo[0] };
        hi[0] = if v > hi[0] { v } else { hi[0] };
        sum[0] += v;
    }
    (
        lo.iter().fold(f64::INFINITY, |m, &v| m.min(v)),
        hi.iter().fold(0.0f64, |m, &v| m.max(v)),
        sum.iter().sum(),
    )
}

/// Fates by screening. Each cell's uniform `u` is built from a 32-bit prefix `v`
/// (half a lane word, so one [`LaneStream`] call serves `2 L` cells) and, only when
/// needed, 20 more bits from `extra`: `u = (v 2^20 + w) 2^-52`, uniform on [0, 1)
/// with 52 bits. The prefix alone places `u` in `[v, v + 1) 2^-32`; when that
/// interval lies below `hi` (valid for the whole block) the cell has no event without
/// computing anything else. Only the others (a fraction of about `(b + d) dt`) draw
/// their suffix and meet their own chance. Exact in law, like [`fates_in_lanes`], but
/// not the same draws.
///
/// Bound: the prefix interval `[v, v + 1) 2^-32` lies below `hi` iff
/// `v < floor(hi 2^32)`.
#[inline(always)]
fn fates_screened<const AVX2: bool>(h: &BlockHazards<'_>, hi: f64, out: &mut FateDraw<'_>) {
    // 2^32. `hi` <= 1 - 1e-12 here, so the bound fits in 32 bits.
    const SCALE: f64 = 4_294_967_296.0;
    let b = (hi * SCALE).floor() as u32;
    let n = h.div.len();
    let mut start = 0;
    while start < n {
        let bits = draw_bits::<AVX2>(out.lanes);
        let mut v = [0u32; 2 * L];
        let mut mask = 0u32;
        for j in 0..L {
            v[j] = bits[j] as u32;
            v[j + L] = (bits[j] >> 32) as u32;
        }
        for (j, &v) in v.iter().enumerate() {
            mask |= ((v >= b) as u32) << j;
        }
        // Only the candidates, by their bits (no branch per cell); the lanes past `n`
        // are dropped.
        let m = (n - start).min(2 * L);
        if m < 32 {
            mask &= (1u32 << m) - 1;
        }
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let i = start + j;
            let w = out.extra.bits() >> 44;
            let u = (((v[j] as u64) << 20) | w) as f64 * (1.0 / (1u64 << 52) as f64);
            let (bi, di) = (h.div[i] * h.factor, h.death[i]);
            let e = no_event::<false>(bi, di, h.dt);
            out.decide(i, (bi, di, h.dt), e, u);
        }
        start += 2 * L;
    }
}

/// Fates of `n` cells that share their hazards `(b, d)` over `dt` (a constant-rate
/// model, or cells still in their founders' state): only a comparison per cell. The
/// same uniforms and chance of no event as [`fates_in_lanes`] would use.
#[inline(always)]
fn fates_shared<const AVX2: bool>(n: usize, bdt: (f64, f64, f64), out: &mut FateDraw<'_>) {
    let e = no_event::<false>(bdt.0, bdt.1, bdt.2);
    let mut start = 0;
    while start < n {
        let bits = draw_bits::<AVX2>(out.lanes);
        let mut u = [0.0f64; L];
        let mut any = 0u32;
        for j in 0..L {
            u[j] = unit_from_bits(bits[j]);
            any |= ((u[j] >= e) as u32) << j;
        }
        if n - start < L {
            any &= (1u32 << (n - start)) - 1;
        }
        while any != 0 {
            let j = any.trailing_zeros() as usize;
            any &= any - 1;
            out.decide(start + j, bdt, e, u[j]);
        }
        start += L;
    }
}

/// The chance `exp(-(b + d) dt)` that a cell with hazards `b`, `d` has no event in
/// `dt`; `SMALL` when `(b + d) dt < 1/16` is known (branch-free series).
#[inline(always)]
fn no_event<const SMALL: bool>(b: f64, d: f64, dt: f64) -> f64 {
    let x = (b + d) * dt;
    if SMALL {
        1.0 - x * expm1_over_x_series(-x)
    } else {
        (-x).exp()
    }
}

/// Every cell's chance of no event, `L` cells at a time in vector registers.
#[inline(always)]
fn fates_in_lanes<const SMALL: bool, const AVX2: bool>(
    h: &BlockHazards<'_>,
    out: &mut FateDraw<'_>,
) {
    let mut start = 0;
    let mut bc = h.div.chunks_exact(L);
    let mut dc = h.death.chunks_exact(L);
    for (b, d) in (&mut bc).zip(&mut dc) {
        // `chunks_exact(L)` yields slices of exactly `L`.
        let (b, d): (&[f64; L], &[f64; L]) = (b.try_into().unwrap(), d.try_into().unwrap());
        fate_chunk::<SMALL, AVX2>(b, d, h, start, out);
        start += L;
    }
    let (rb, rd) = (bc.remainder(), dc.remainder());
    if !rb.is_empty() {
        // Padding cells with no hazards have no event with certainty (`e = 1`).
        let (mut b, mut d) = ([0.0f64; L], [0.0f64; L]);
        b[..rb.len()].copy_from_slice(rb);
        d[..rd.len()].copy_from_slice(rd);
        fate_chunk::<SMALL, AVX2>(&b, &d, h, start, out);
    }
}

/// One random word per lane; `AVX2` only when the caller checked the CPU has it.
#[inline(always)]
fn draw_bits<const AVX2: bool>(lanes: &mut LaneStream) -> [u64; L] {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is set only on the path chosen after detecting AVX2.
        return unsafe { lanes.bits_avx2() };
    }
    lanes.bits()
}

/// The fates of `L` cells with hazards `b`, `d` (those of `h` from cell `start` on,
/// padded), the first at block index `start`. A function, not a closure, so it is
/// inlined into (and compiled with the features of) the AVX2 caller.
#[inline(always)]
fn fate_chunk<const SMALL: bool, const AVX2: bool>(
    b: &[f64; L],
    d: &[f64; L],
    h: &BlockHazards<'_>,
    start: usize,
    out: &mut FateDraw<'_>,
) {
    let (factor, dt) = (h.factor, h.dt);
    let bits = draw_bits::<AVX2>(out.lanes);
    let (mut e, mut u) = ([0.0f64; L], [0.0f64; L]);
    let mut any = 0u32;
    for j in 0..L {
        e[j] = no_event::<SMALL>(b[j] * factor, d[j], dt);
        u[j] = unit_from_bits(bits[j]);
        any |= (u[j] >= e[j]) as u32;
    }
    if any != 0 {
        for j in 0..L {
            if u[j] >= e[j] {
                out.decide(start + j, (b[j] * factor, d[j], dt), e[j], u[j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hz<'a>(div: &'a [f64], death: &'a [f64], factor: f64, dt: f64) -> BlockHazards<'a> {
        BlockHazards {
            div,
            death,
            factor,
            dt,
        }
    }

    fn to<'a>(
        lanes: &'a mut LaneStream,
        extra: &'a mut Stream,
        events: &'a mut Vec<FateEvent>,
    ) -> FateDraw<'a> {
        FateDraw {
            lanes,
            extra,
            base: 0,
            events,
            divisions: 0,
            deaths: 0,
        }
    }

    #[test]
    fn kendall_mean_is_exact() {
        for &(b, d, dt) in &[
            (1.0, 0.5, 0.1),
            (1.0, 1.0, 0.3),
            (0.2, 2.0, 1.0),
            (3.0, 0.0, 0.01),
        ] {
            let (a, be) = kendall(b, d, dt);
            let mean = (1.0 - a) / (1.0 - be);
            let exact = ((b - d) * dt).exp();
            assert!((mean - exact).abs() < 1e-12 * exact, "{b} {d} {dt}");
        }
    }

    /// A cell's step drawn as the engine draws it (no event below `e`, else its line
    /// from the first event on) follows Kendall's law for `K`, and its divisions and
    /// deaths have the exact means `b g` and `d g`, `g = (exp((b - d) dt) - 1) / (b - d)`
    /// the expected cell-time of the line (5 standard errors), at small and large
    /// `b dt`, with deaths above births and with no deaths.
    #[test]
    fn a_line_follows_kendalls_law_and_counts_every_event() {
        for &(b, d, dt) in &[
            (0.4, 0.1, 0.1),
            (1.0, 1.0, 0.5),
            (0.3, 1.2, 1.0),
            (2.0, 0.0, 0.7),
        ] {
            let mut rng = Stream::derive(5, &[(b * 100.0) as u64, (d * 100.0) as u64]);
            let e = no_event::<false>(b, d, dt);
            let n = 400_000u64;
            let mut counts = [0u64; 8];
            let (mut sd, mut sd2, mut sx, mut sx2) = (0.0, 0.0, 0.0, 0.0);
            for _ in 0..n {
                let u = rng.uniform();
                let line = if u < e {
                    Line {
                        cells: 1,
                        divisions: 0,
                        deaths: 0,
                    }
                } else {
                    line_after_first(b, d, dt, u, &mut rng)
                };
                assert_eq!(line.cells + line.deaths, 1 + line.divisions);
                counts[(line.cells as usize).min(7)] += 1;
                let (dv, dx) = (line.divisions as f64, line.deaths as f64);
                sd += dv;
                sd2 += dv * dv;
                sx += dx;
                sx2 += dx * dx;
            }
            let (alpha, beta) = kendall(b, d, dt);
            assert_law(&counts, n, alpha, beta);
            let g = dt * expm1_over_x((b - d) * dt);
            let nf = n as f64;
            for (what, s1, s2, want) in [("divisions", sd, sd2, b * g), ("deaths", sx, sx2, d * g)]
            {
                let mean = s1 / nf;
                let se = ((s2 / nf - mean * mean) / nf).sqrt().max(1e-12);
                assert!(
                    (mean - want).abs() < 5.0 * se,
                    "b {b} d {d} dt {dt} {what}: {mean} vs {want} (se {se})"
                );
            }
        }
    }

    fn assert_law(counts: &[u64; 8], n: u64, alpha: f64, beta: f64) {
        for (k, &c) in counts.iter().enumerate().take(6) {
            let p = if k == 0 {
                alpha
            } else {
                (1.0 - alpha) * (1.0 - beta) * beta.powi(k as i32 - 1)
            };
            let hat = c as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
            assert!(
                (hat - p).abs() < 5.0 * se,
                "alpha {alpha} beta {beta} k {k}: {hat} vs {p}"
            );
        }
    }

    /// The block kernel draws the same law: the events it returns (every other cell
    /// survived) have Kendall's frequencies, for a block length that leaves a padded
    /// remainder, on the series path (small `|b - d| dt`) and the general one.
    #[test]
    fn block_kernel_follows_the_step_law() {
        for &(b, d, dt) in &[(0.4, 0.1, 0.1), (1.0, 1.0, 0.5), (3.0, 0.5, 0.5)] {
            let n_cells = 253;
            let div = vec![b; n_cells];
            let death = vec![d; n_cells];
            let mut lanes = LaneStream::derive(11, &[1]);
            let mut extra = Stream::derive(11, &[2]);
            let mut counts = [0u64; 8];
            let mut events = Vec::new();
            let blocks = 2000u64;
            let (mut divisions, mut deaths) = (0u64, 0u64);
            for _ in 0..blocks {
                events.clear();
                let mut draw = to(&mut lanes, &mut extra, &mut events);
                let bad = draw_fates(&hz(&div, &death, 1.0, dt), &mut draw);
                let (dv, dx) = (draw.divisions, draw.deaths);
                divisions += dv;
                deaths += dx;
                assert!(bad.is_none());
                // Every line's net change is its divisions less its deaths.
                let net: i64 = events.iter().map(|e| e.k as i64 - 1).sum();
                assert_eq!(net, dv as i64 - dx as i64);
                assert!(events.windows(2).all(|w| w[0].index < w[1].index));
                assert!(events
                    .iter()
                    .all(|e| e.k != 1 && (e.index as usize) < n_cells));
                for e in &events {
                    counts[(e.k as usize).min(7)] += 1;
                }
                counts[1] += (n_cells - events.len()) as u64;
            }
            let (alpha, beta) = kendall(b, d, dt);
            assert_law(&counts, blocks * n_cells as u64, alpha, beta);
            // Divisions per cell: mean b g (a variance bound of 2 E[D] (2 + E[D])).
            let cells = (blocks * n_cells as u64) as f64;
            let g = dt * expm1_over_x((b - d) * dt);
            for (got, rate) in [(divisions, b), (deaths, d)] {
                let want = rate * g;
                let hat = got as f64 / cells;
                let se = (2.0 * want * (2.0 + want) / cells).sqrt();
                assert!(
                    (hat - want).abs() < 5.0 * se,
                    "b {b} d {d} dt {dt}: {hat} vs {want}"
                );
            }
        }
    }

    /// Screening and computing every cell's chance of no event both draw each cell's fate
    /// from its own law, with hazards spread over a block (so the bounds are loose)
    /// and a block length that is not a multiple of the chunk: the counts of
    /// `K = 0, 1, 2, ...` over many blocks match the mixture of the cells' laws
    /// (5 standard errors), and events come in index order, inside the block.
    #[test]
    fn screening_and_full_paths_follow_each_cells_law() {
        let n = 250;
        let div: Vec<f64> = (0..n)
            .map(|i| 0.02 + 0.9 * ((i * 37) % 101) as f64 / 101.0)
            .collect();
        let death: Vec<f64> = (0..n)
            .map(|i| 0.5 * ((i * 53) % 97) as f64 / 97.0)
            .collect();
        for &(factor, dt) in &[(1.0, 0.05), (0.3, 0.2), (1.0, 0.01)] {
            let bound = no_event::<false>(0.92 * factor, 0.5, dt) - 1e-12;
            assert!(1.0 - bound < SCREEN_LIMIT);
            // Expected count of each K per block: the sum of the cells' laws.
            let mut expect = [0.0f64; 4];
            for (&b, &d) in div.iter().zip(&death) {
                let (alpha, beta) = kendall(b * factor, d, dt);
                expect[0] += alpha;
                expect[1] += (1.0 - alpha) * (1.0 - beta);
                expect[2] += (1.0 - alpha) * (1.0 - beta) * beta;
                expect[3] += (1.0 - alpha) * beta * beta;
            }
            for screen in [true, false] {
                let mut lanes = LaneStream::derive(3, &[9]);
                let mut extra = Stream::derive(3, &[10]);
                let blocks = 4000;
                let mut counts = [0u64; 4];
                let mut ev = Vec::new();
                for _ in 0..blocks {
                    ev.clear();
                    let (l, x, e) = (&mut lanes, &mut extra, &mut ev);
                    if screen {
                        fates_screened::<false>(
                            &hz(&div, &death, factor, dt),
                            bound,
                            &mut to(l, x, e),
                        );
                    } else {
                        fates_in_lanes::<false, false>(
                            &hz(&div, &death, factor, dt),
                            &mut to(l, x, e),
                        );
                    }
                    assert!(ev.windows(2).all(|w| w[0].index < w[1].index));
                    assert!(ev.iter().all(|e| e.k != 1 && (e.index as usize) < n));
                    for e in &ev {
                        counts[(e.k as usize).min(3)] += 1;
                    }
                    counts[1] += (n - ev.len()) as u64;
                }
                for k in 0..4 {
                    let p = expect[k] / n as f64;
                    let total = (blocks * n) as f64;
                    let se = (p * (1.0 - p) / total).sqrt();
                    let hat = counts[k] as f64 / total;
                    assert!(
                        (hat - p).abs() < 5.0 * se + 1e-12,
                        "screen {screen} factor {factor} dt {dt} k {k}: {hat} vs {p}"
                    );
                }
            }
        }
    }

    /// Cells sharing their hazards take the comparison-only path; it draws exactly
    /// what computing every cell's chance draws.
    #[test]
    fn shared_hazards_path_draws_the_same_fates() {
        for &(b, d, dt) in &[
            (0.4, 0.1, 0.1),
            (1.0, 1.0, 0.5),
            (3.0, 0.5, 0.5),
            (0.0, 0.2, 1.0),
        ] {
            let n = 203;
            let (div, death) = (vec![b; n], vec![d; n]);
            let run = |shared: bool| {
                let mut lanes = LaneStream::derive(21, &[1]);
                let mut extra = Stream::derive(21, &[2]);
                let mut ev = Vec::new();
                for _ in 0..50 {
                    let (l, x, e) = (&mut lanes, &mut extra, &mut ev);
                    if shared {
                        fates_shared::<false>(n, (b, d, dt), &mut to(l, x, e));
                    } else {
                        fates_in_lanes::<false, false>(
                            &hz(&div, &death, 1.0, dt),
                            &mut to(l, x, e),
                        );
                    }
                }
                ev
            };
            let (a, c) = (run(true), run(false));
            assert!(!a.is_empty());
            assert_eq!(a, c, "b {b} d {d} dt {dt}");
        }
    }

    /// Hazards each valid but summing past the largest float are not mistaken for bad
    /// ones, and every cell still gets a fate (all die at an enormous death hazard).
    #[test]
    fn overflowing_hazard_sums_still_draw_fates() {
        let div = vec![0.0; 20];
        let death = vec![1e308; 20];
        let mut lanes = LaneStream::derive(1, &[]);
        let mut extra = Stream::derive(1, &[]);
        let mut events = Vec::new();
        let bad = draw_fates(
            &hz(&div, &death, 1.0, 1.0),
            &mut to(&mut lanes, &mut extra, &mut events),
        );
        assert!(bad.is_none());
        assert_eq!(events.len(), 20);
        assert!(events.iter().all(|e| e.k == 0));
    }

    #[test]
    fn block_kernel_reports_the_first_bad_hazard() {
        let div = [0.1, 0.2, f64::NAN, 0.1];
        let death = [0.0, -1.0, 0.0, 0.0];
        let mut lanes = LaneStream::derive(1, &[]);
        let mut extra = Stream::derive(1, &[]);
        let mut events = Vec::new();
        let bad = draw_fates(
            &hz(&div, &death, 1.0, 0.1),
            &mut to(&mut lanes, &mut extra, &mut events),
        );
        assert_eq!(bad.map(|(i, w, _)| (i, w)), Some((1, "death")));
        assert!(events.is_empty());
    }

    #[test]
    fn expm1_over_x_is_continuous() {
        // The series agrees with the direct formula where it hands over.
        for x in [0.0624999f64, -0.0624999, 0.03] {
            assert!(
                (expm1_over_x_series(x) - x.exp_m1() / x).abs() < 1e-14,
                "{x}"
            );
        }
        assert_eq!(expm1_over_x(0.0), 1.0);
    }
}
