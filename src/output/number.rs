//! Numbers for people: a value computed in floating point (`9.999999999999998`,
//! `149.99999999999523`, `0.30000000000000004`) printed as the number it stands for.

/// `x` rounded to `sig` significant digits, printed in the shortest form that reads
/// back as that rounded value: `9.999999999999998` -> `10`, `0.30000000000000004` ->
/// `0.3`, `1.5e-7` stays `1.5e-7`. Magnitudes outside [1e-3, 1e5) use exponent form
/// (`2.5e9` cells).
pub fn sig(x: f64, sig: usize) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let digits = sig.clamp(1, 17);
    // Rounding through the exponent form is exact decimal rounding of `x`.
    let rounded: f64 = format!("{:.*e}", digits - 1, x).parse().unwrap_or(x);
    let mag = rounded.abs();
    if (1e-3..1e5).contains(&mag) {
        format!("{rounded}")
    } else {
        // `1e-7`, `2.5e9`: exponent form without trailing zeros.
        let s = format!("{:.*e}", digits - 1, rounded);
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{e}")
    }
}

/// [`sig`] with 6 significant digits: the default for printed and plotted numbers.
pub fn num(x: f64) -> String {
    sig(x, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floating_point_noise_is_gone() {
        assert_eq!(num(9.999999999999998), "10");
        assert_eq!(num(149.99999999999523), "150");
        assert_eq!(num(0.30000000000000004), "0.3");
        assert_eq!(num(1.00000000002), "1");
        assert_eq!(num(72.0), "72");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.5e-7), "1.5e-7");
        assert_eq!(num(2.5e9), "2.5e9");
        assert_eq!(num(123456789.0), "1.23457e8");
        assert_eq!(sig(1.0e6, 4), "1e6");
        assert_eq!(sig(2824.1537, 4), "2824");
        assert_eq!(sig(0.123456, 2), "0.12");
        assert_eq!(num(f64::NAN), "NaN");
    }
}
