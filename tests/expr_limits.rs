//! The expression compiler on short but hostile inputs (issue 16): each reproducer
//! either compiles and evaluates correctly, fast and in bounded memory, or fails with a
//! located error that names the limit.

mod common;

use std::path::Path;

use resloop::compile::{compile_str, BoundModel};
use resloop::model::ModelErrorKind;

/// A one-species model whose rate is `rate` (on line 11).
fn model(rate: &str) -> String {
    format!(
        "{}[species.X]\ninitial = 1.0\nunit = \"a.u.\"\ndescription = \"x\"\nrate = \"{rate}\"\n\n\
         [parameters.k]\nvalue = 0.1\nunit = \"1/h\"\nprovenance = \"assumed\"\nnote = \"test\"\n\n\
         [fate]\ndivision = \"0.01\"\ndeath = \"0.001\"\n",
        common::header("hours")
    )
}

/// Compile and bind `rate`; return (rate at X = 1, d rate / dX at X = 1).
fn rate_and_slope(rate: &str) -> (f64, f64) {
    let m = compile_str(Path::new("t.toml"), &model(rate)).unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let g = &b.genotypes[0];
    let mut regs = g.rhs.workspace();
    regs[0] = 1.0;
    g.rhs.run(&mut regs);
    let value = g.rhs.output(&regs, 0);
    let mut jregs = g.jacobian.workspace();
    jregs[0] = 1.0;
    g.jacobian.run(&mut jregs);
    let k = g.jac_pattern.iter().position(|&p| p == (0, 0)).unwrap();
    (value, g.jacobian.output(&jregs, k))
}

fn compile_err(rate: &str) -> resloop::model::ModelError {
    compile_str(Path::new("t.toml"), &model(rate)).unwrap_err()
}

#[test]
fn eight_thousand_nested_parentheses_are_refused_with_the_depth_limit() {
    let rate = format!("{}X{}", "(".repeat(8000), ")".repeat(8000));
    let e = compile_err(&rate);
    assert_eq!(e.kind, ModelErrorKind::TooLarge);
    let msg = e.to_string();
    // The 101st parenthesis, on the rate's line (11), column 9 + 100 (after `rate = "`).
    assert!(msg.starts_with("t.toml:11:109: `species.X.rate`"), "{msg}");
    assert!(msg.contains("nests deeper than 100 levels"), "{msg}");
    assert!(msg.contains("name an inner part as an observable"), "{msg}");
}

#[test]
fn a_hundred_nested_parentheses_are_fine() {
    let rate = format!("{}k * X{}", "(".repeat(100), ")".repeat(100));
    let (v, d) = rate_and_slope(&rate);
    assert_eq!((v, d), (0.1, 0.1));
}

#[test]
fn a_sum_of_thirty_thousand_terms_compiles_and_is_exact() {
    // 30,000 terms: balanced, so depth ~15 instead of 30,000.
    let rate = vec!["k * X"; 30_000].join(" + ");
    let (v, d) = rate_and_slope(&rate);
    assert!((v - 3000.0).abs() < 1e-9, "{v}");
    assert!((d - 3000.0).abs() < 1e-9, "{d}");
    // Subtraction in a long chain keeps its sign.
    let rate = format!("{} - 29999 * k * X", vec!["k * X"; 30_000].join(" + "));
    let (v, _) = rate_and_slope(&rate);
    assert!((v - 0.1).abs() < 1e-9, "{v}");
}

#[test]
fn a_product_of_four_thousand_factors_is_fast_and_exact() {
    // X^4000 * 2^-... written out: the derivative of a balanced product is n log n.
    let rate = vec!["X"; 4_000].join(" * ");
    let t = std::time::Instant::now();
    let (v, d) = rate_and_slope(&rate);
    assert_eq!(v, 1.0);
    assert!((d - 4000.0).abs() < 1e-9, "{d}");
    // Not a timing test: a loose guard that the quadratic blow-up (5 s, 1.5 GB) is gone.
    assert!(t.elapsed().as_secs() < 60);
    // Divisions in a long chain: X / X * X / X ... (21 factors over 20) = X.
    let mut rate = String::from("X");
    for i in 0..40 {
        rate += if i % 2 == 0 { " / X" } else { " * X" };
    }
    let (v, d) = rate_and_slope(&rate);
    assert_eq!(v, 1.0);
    assert!((d - 1.0).abs() < 1e-12, "{d}");
}

#[test]
fn hill_nested_sixteen_deep_in_its_exponent_is_refused_before_expanding() {
    let mut rate = String::from("X");
    for _ in 0..16 {
        rate = format!("hill(1, 1, {rate})");
    }
    let e = compile_err(&rate);
    assert_eq!(e.kind, ModelErrorKind::TooLarge);
    let msg = e.to_string();
    assert!(msg.contains("`species.X.rate`"), "{msg}");
    assert!(msg.contains("over the limit of 250000"), "{msg}");
    assert!(
        msg.contains("nested Hill terms grow geometrically"),
        "{msg}"
    );
}

#[test]
fn hill_nested_ten_deep_in_its_argument_compiles() {
    // hill(x, ..) copies x twice: 2^10 copies, under the node limit; the register
    // compiler shares the copies again.
    let mut rate = String::from("X");
    for _ in 0..10 {
        rate = format!("hill({rate}, 1, 2)");
    }
    let (v, d) = rate_and_slope(&rate);
    // hill(1, 1, 2) = 1/2; hill(1/2, 1, 2) = 1/5; ... all finite, in (0, 1).
    assert!(v > 0.0 && v < 1.0, "{v}");
    assert!(d.is_finite(), "{d}");
}

#[test]
fn long_sign_runs_and_power_chains() {
    // 10,001 minus signs fold into one negation.
    let rate = format!("{}k * X", "-".repeat(10_001));
    assert_eq!(rate_and_slope(&rate).0, -0.1);
    // A power chain is nesting: 100 levels are fine, 200 are not.
    let ok = format!("X{}", "^1".repeat(99));
    assert_eq!(rate_and_slope(&ok).0, 1.0);
    let e = compile_err(&format!("X{}", "^1".repeat(200)));
    assert!(
        e.to_string().contains("nests deeper than 100 levels"),
        "{e}"
    );
}

#[test]
fn an_observable_used_many_times_is_refused_before_inlining() {
    let big = vec!["k * X"; 20_000].join(" + ");
    let rate = vec!["O"; 100].join(" + ");
    let text = model(&rate).replace(
        "[fate]",
        &format!("[observables.O]\nexpr = \"{big}\"\ndescription = \"o\"\n\n[fate]"),
    );
    let e = compile_str(Path::new("t.toml"), &text).unwrap_err();
    assert_eq!(e.kind, ModelErrorKind::TooLarge);
    let msg = e.to_string();
    assert!(msg.starts_with("t.toml:11:8: `species.X.rate`"), "{msg}");
    assert!(msg.contains("over the limit of 1000000"), "{msg}");
}
