//! Every backend of the expression IR against the tree walker, on random expression
//! trees over every operation and function, at ordinary and edge-case inputs (0, -0,
//! infinities, NaN, tiny and huge numbers).
//!
//! The reference is the tree walk of the simplified tree ([`Expr::simplify`]), which is
//! what the IR builder starts from: the simplifier's identities (`x * 0 = 0`, `x - x =
//! 0`, ...) are part of the language and differ from IEEE arithmetic only at infinities
//! and NaN.
//!
//! - `f64` backends (the IR interpreter, the scalar register program, its machine code
//!   (the native backend), the uniform part of the lane program): the same bits as
//!   the tree, except that a constant
//!   half-integer power `x^(k + 1/2)` is computed as `x^k * sqrt(x)`, which may differ
//!   from `powf` in the last bit; such expressions are compared to 1e-12 and must agree
//!   exactly on NaN and infinities.
//! - `f32` lanes (per-cell part of the agent-based engine): against the tree walked
//!   the way lanes compute (per-batch subtrees in `f64` rounded to `f32`, the rest in
//!   `f32`), to 1e-4 relative (the lanes round a product of two per-batch values in
//!   `f32`, the walk in `f64`), where no intermediate leaves the `f32` range (above
//!   1e30 or, but for 0, below 1e-30) and no jump (a condition, a comparison,
//!   `floor`) is within 1e-4 of the point. A lane's bits do not depend on its batch.

use proptest::prelude::*;
use resloop::expr::batch::{BatchProgram, Src};
use resloop::expr::ir::half_steps;
use resloop::expr::real;
use resloop::expr::tree::Env;
use resloop::expr::{Expr, Func, Ir, Program, Var};

/// Targets Cranelift generates code for, in a build with the `native` feature (the
/// default): there the native backend must compile.
const HAS_CODE_GENERATOR: bool = cfg!(all(
    feature = "native",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

/// The functions of one and of two arguments.
fn functions(arity: usize) -> Vec<Func> {
    Func::ALL
        .into_iter()
        .filter(|f| f.arity() == arity)
        .collect()
}

/// Constants: ordinary values, the exponents the builder treats specially (integers,
/// half-integers, out of range), and edge cases.
const CONSTS: [f64; 20] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1.5,
    2.0,
    2.5,
    3.0,
    -3.0,
    4.0,
    0.3,
    1.3,
    -1.5,
    70.0,
    1e-300,
    1e300,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// Inputs: x, y (species, per cell in the lane backend), c (a drug, uniform) and t.
const N_INPUTS: usize = 4;

fn slot(v: Var) -> Option<usize> {
    match v {
        Var::Species(i) if i < 2 => Some(i),
        Var::Drug(0) => Some(2),
        Var::Time => Some(3),
        _ => None,
    }
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        3 => (0usize..2).prop_map(|i| Expr::var(Var::Species(i))),
        1 => Just(Expr::var(Var::Drug(0))),
        1 => Just(Expr::var(Var::Time)),
        2 => prop::sample::select(CONSTS.to_vec()).prop_map(Expr::c),
        2 => (-4.0f64..4.0).prop_map(Expr::c),
    ]
}

/// Random trees over every node kind and function, plus the shapes the builder fuses
/// (Hill terms with constant and variable thresholds and exponents, products added to
/// or subtracted from a term).
fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 3, |e| {
        let exps = prop::sample::select(vec![1.0, 2.0, 3.0, 4.0, 0.5, 1.5, 2.5, 1.3, 70.0]);
        prop_oneof![
            e.clone().prop_map(Expr::neg),
            (e.clone(), e.clone()).prop_map(|(a, b)| Expr::add(a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| Expr::sub(a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| Expr::mul(a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| Expr::div(a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| Expr::pow(a, b)),
            (e.clone(), prop::sample::select(CONSTS.to_vec()))
                .prop_map(|(a, n)| Expr::pow(a, Expr::c(n))),
            (prop::sample::select(functions(1)), e.clone()).prop_map(|(f, a)| Expr::f1(f, a)),
            (prop::sample::select(functions(2)), e.clone(), e.clone())
                .prop_map(|(f, a, b)| Expr::f2(f, a, b)),
            (e.clone(), e.clone(), e.clone()).prop_map(|(c, a, b)| Expr::if_(c, a, b)),
            (e.clone(), e.clone(), e.clone()).prop_map(|(a, b, c)| Expr::add(Expr::mul(a, b), c)),
            (e.clone(), e.clone(), e.clone()).prop_map(|(a, b, c)| Expr::sub(c, Expr::mul(a, b))),
            (e.clone(), e.clone(), e.clone()).prop_map(|(a, b, c)| Expr::sub(Expr::mul(a, b), c)),
            (e.clone(), 0.05f64..3.0, exps.clone(), any::<bool>()).prop_map(|(x, k, n, rep)| {
                let (k, n) = (Expr::c(k), Expr::c(n));
                if rep {
                    Expr::hill_rep(x, k, n)
                } else {
                    Expr::hill(x, k, n)
                }
            }),
            (e.clone(), e.clone(), e.clone(), any::<bool>()).prop_map(|(x, k, n, rep)| {
                if rep {
                    Expr::hill_rep(x, k, n)
                } else {
                    Expr::hill(x, k, n)
                }
            }),
            // `k * hill(x) + b`: fused further by the lane backend.
            (e, 0.05f64..3.0, exps, 0.0f64..2.0, 0.0f64..1.0).prop_map(|(x, k, n, a, b)| {
                Expr::add(
                    Expr::mul(Expr::c(a), Expr::hill(x, Expr::c(k), Expr::c(n))),
                    Expr::c(b),
                )
            }),
        ]
    })
}

fn input() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -3.0f64..3.0,
        1 => prop::sample::select(CONSTS.to_vec()),
    ]
}

fn tree(e: &Expr, at: &[f64]) -> f64 {
    e.eval(&Env {
        species: &at[..2],
        params: &[],
        drugs: &at[2..3],
        effects: &[],
        observables: &[],
        t: at[3],
    })
}

/// Whether the expression raises to a constant half-integer (the one place the
/// compiled backends may differ from the tree in the last bit).
fn has_half_power(e: &Expr) -> bool {
    match e {
        Expr::Const(_) | Expr::Var(_) => false,
        Expr::Pow(a, b) => {
            let half = b
                .as_const()
                .is_some_and(|n| n.fract().abs() == 0.5 && n > 0.0 && n <= 64.0);
            half || has_half_power(a) || has_half_power(b)
        }
        Expr::Neg(a) | Expr::F1(_, a) => has_half_power(a),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Mul(a, b)
        | Expr::Div(a, b)
        | Expr::F2(_, a, b) => has_half_power(a) || has_half_power(b),
        Expr::If(c, a, b) => has_half_power(c) || has_half_power(a) || has_half_power(b),
    }
}

/// Largest and smallest non-zero magnitude of any node's value on the tree walk (NaN
/// counts as infinite).
fn range(e: &Expr, at: &[f64]) -> (f64, f64) {
    let own = tree(e, at).abs();
    let own = if own.is_nan() { f64::INFINITY } else { own };
    let mut r = (own, if own == 0.0 { f64::INFINITY } else { own });
    let mut with = |k: &Expr| {
        let (hi, lo) = range(k, at);
        r = (r.0.max(hi), r.1.min(lo));
    };
    match e {
        Expr::Const(_) | Expr::Var(_) => {}
        Expr::Neg(a) | Expr::F1(_, a) => with(a),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Mul(a, b)
        | Expr::Div(a, b)
        | Expr::Pow(a, b)
        | Expr::F2(_, a, b) => {
            with(a);
            with(b);
        }
        // Only the chosen branch matters.
        Expr::If(c, a, b) => {
            with(c);
            with(if tree(c, at) != 0.0 { a } else { b });
        }
    }
    r
}

/// Whether some jump of the expression is within `eps` (relative) of the point: a
/// condition or logical argument near 0, compared values near each other, `floor`,
/// `ceil` or `rem` near a whole number. There `f32` rounding may land on the other
/// side, and no tolerance applies.
fn near_jump(e: &Expr, at: &[f64], eps: f64) -> bool {
    let v = |x: &Expr| tree(x, at);
    let near0 = |x: f64| x.abs() <= eps;
    let near = |a: f64, b: f64| (a - b).abs() <= eps * a.abs().max(b.abs()).max(1.0);
    let own = match e {
        Expr::If(c, _, _) => near0(v(c)),
        Expr::F1(Func::Not | Func::Step, a) => near0(v(a)),
        Expr::F1(Func::Floor | Func::Ceil, a) => near(v(a), v(a).round()),
        Expr::F2(Func::And | Func::Or | Func::Xor, a, b) => near0(v(a)) || near0(v(b)),
        Expr::F2(Func::Rem, a, b) => near(v(a) / v(b), (v(a) / v(b)).round()),
        Expr::F2(Func::Min | Func::Max, _, _) => false,
        Expr::F2(_, a, b) => near(v(a), v(b)),
        _ => false,
    };
    own || match e {
        Expr::Const(_) | Expr::Var(_) => false,
        Expr::Neg(a) | Expr::F1(_, a) => near_jump(a, at, eps),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Mul(a, b)
        | Expr::Div(a, b)
        | Expr::Pow(a, b)
        | Expr::F2(_, a, b) => near_jump(a, at, eps) || near_jump(b, at, eps),
        Expr::If(c, a, b) => {
            near_jump(c, at, eps) || near_jump(if v(c) != 0.0 { a } else { b }, at, eps)
        }
    }
}

/// The tree walked the way the lane backend computes: a subtree that reads no species
/// (per batch) in `f64` and rounded to `f32`, the rest in `f32`; a constant
/// half-integer power as `x^k * sqrt(x)`, as the IR defines it.
fn tree32(e: &Expr, at: &[f64]) -> f32 {
    if !(e.depends_on(Var::Species(0)) || e.depends_on(Var::Species(1))) {
        return tree(e, at) as f32;
    }
    let v = |x: &Expr| tree32(x, at);
    match e {
        Expr::Const(c) => *c as f32,
        Expr::Var(Var::Species(i)) => at[*i] as f32,
        Expr::Var(_) => unreachable!("reads a species"),
        Expr::Neg(a) => -v(a),
        Expr::Add(a, b) => v(a) + v(b),
        Expr::Sub(a, b) => v(a) - v(b),
        Expr::Mul(a, b) => v(a) * v(b),
        Expr::Div(a, b) => v(a) / v(b),
        Expr::Pow(a, b) => match b.as_const().and_then(half_steps) {
            Some(h) => real::pow_half(v(a), h),
            None => real::pow(v(a), v(b)),
        },
        Expr::F1(f, a) => f.apply1(v(a)),
        Expr::F2(f, a, b) => f.apply2(v(a), v(b)),
        Expr::If(c, a, b) => real::select(v(c), v(a), v(b)),
    }
}

fn f64_agrees(got: f64, want: f64, exact: bool) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    if exact || want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= 1e-12 * want.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The IR interpreter, the scalar program and the uniform (per-batch) part of the
    /// lane program agree with the tree, bit for bit where the operations are the same.
    #[test]
    fn f64_backends_match_the_tree(
        e in expr(),
        at in prop::collection::vec(input(), N_INPUTS),
    ) {
        let s = e.simplify();
        let want = tree(&s, &at);
        let exact = !has_half_power(&s);
        let ir = Ir::build(std::slice::from_ref(&e), N_INPUTS, &slot).unwrap();
        let by_ir = ir.eval(&at)[0];
        prop_assert!(f64_agrees(by_ir, want, exact), "IR: {by_ir} vs tree {want} for {s:?} at {at:?}");

        let p = Program::compile(std::slice::from_ref(&e), N_INPUTS, &slot).unwrap();
        let mut regs = p.workspace();
        regs[..N_INPUTS].copy_from_slice(&at);
        p.run(&mut regs);
        let by_program = p.output(&regs, 0);
        prop_assert_eq!(by_program.to_bits(), by_ir.to_bits(), "program vs IR for {:?}", s);

        // The same program as machine code, on a target with a code generator.
        let mut pn = p.clone();
        let compiled = pn.compile_native();
        prop_assert!(compiled.is_ok() || !HAS_CODE_GENERATOR, "{:?}", compiled);
        let mut regs = pn.workspace();
        regs[..N_INPUTS].copy_from_slice(&at);
        pn.run(&mut regs);
        let by_native = pn.output(&regs, 0);
        prop_assert!(
            by_native.to_bits() == by_program.to_bits() || (by_native.is_nan() && by_program.is_nan()),
            "native {by_native} vs program {by_program} for {s:?} at {at:?}"
        );

        // Nothing varies per cell: everything is uniform, in f64.
        let bp = BatchProgram::new(p.ir(), &[], &[0]).unwrap();
        let mut u = bp.uniform_workspace();
        u[..N_INPUTS].copy_from_slice(&at);
        bp.run_uniform(&mut u);
        let Src::Uniform(r) = bp.output(0) else {
            return Err(TestCaseError::fail("uniform output expected"));
        };
        prop_assert_eq!(u[r as usize].to_bits(), by_ir.to_bits(), "uniform part vs IR for {:?}", s);
    }

    /// The f32 lanes (x and y per cell, c and t uniform) agree with the tree to f32
    /// precision where the value is well conditioned, and a lane's bits do not depend
    /// on the batch it is in.
    #[test]
    fn lanes_match_the_tree(
        e in expr(),
        cells in prop::collection::vec((input(), input()), 1..12),
        c in input(),
        t in input(),
    ) {
        let s = e.simplify();
        let p = Program::compile(std::slice::from_ref(&e), N_INPUTS, &slot).unwrap();
        let bp = BatchProgram::new(p.ir(), &[0, 1], &[0]).unwrap();
        let mut u = bp.uniform_workspace();
        u[2] = c;
        u[3] = t;
        bp.run_uniform(&mut u);
        let stride = 16;
        let run = |cells: &[(f64, f64)]| {
            let mut l = vec![0.0f32; bp.n_lane_regs().max(1) * stride];
            for (i, &(x, y)) in cells.iter().enumerate() {
                l[bp.lane_input(0) as usize * stride + i] = x as f32;
                l[bp.lane_input(1) as usize * stride + i] = y as f32;
            }
            bp.run_lanes(&u, &mut l, stride, cells.len());
            (0..cells.len())
                .map(|i| match bp.output(0) {
                    Src::Lane(r) => l[r as usize * stride + i],
                    Src::Uniform(r) => u[r as usize] as f32,
                })
                .collect::<Vec<f32>>()
        };
        let all = run(&cells);
        for (i, &(x, y)) in cells.iter().enumerate() {
            // Alone, the cell gives the same bits as in the batch.
            prop_assert_eq!(run(&cells[i..=i])[0].to_bits(), all[i].to_bits());
            let at = [x as f32 as f64, y as f32 as f64, c, t];
            let (big, small) = range(&s, &at);
            if !(big < 1e30 && small > 1e-30) || near_jump(&s, &at, 1e-4) {
                continue;
            }
            let want = tree32(&s, &at) as f64;
            let tol = 1e-4 * want.abs().max(1.0);
            let got = all[i] as f64;
            prop_assert!(
                (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= tol,
                "lane {i}: {got} vs tree {want} for {s:?} at {at:?}"
            );
        }
    }
}

/// Programs whose constants differ but whose shape is the same share one compiled
/// code (read the constants from their own register files), and each gets its own
/// values.
#[test]
fn native_code_is_shared_by_shape_and_reads_each_programs_constants() {
    let prog = |k: f64| {
        let e = Expr::add(
            Expr::mul(
                Expr::c(k),
                Expr::hill(Expr::var(Var::Species(0)), Expr::c(0.5), Expr::c(2.0)),
            ),
            Expr::c(0.25),
        );
        let mut p = Program::compile(&[e], N_INPUTS, &slot).unwrap();
        let plain = p.clone();
        p.compile_native().unwrap();
        (p, plain)
    };
    if !HAS_CODE_GENERATOR {
        return;
    }
    let run = |p: &Program, x: f64| {
        let mut r = p.workspace();
        r[0] = x;
        p.run(&mut r);
        p.output(&r, 0)
    };
    let (a, a_plain) = prog(3.0);
    let (b, b_plain) = prog(7.0);
    for x in [0.0, 0.3, 2.0] {
        assert_eq!(run(&a, x).to_bits(), run(&a_plain, x).to_bits());
        assert_eq!(run(&b, x).to_bits(), run(&b_plain, x).to_bits());
    }
    assert_ne!(run(&a, 2.0), run(&b, 2.0));
}

/// One compiled program runs on several threads at once with the same results.
#[test]
fn native_code_is_shared_by_threads() {
    let e = Expr::sub(
        Expr::mul(
            Expr::f1(Func::Exp, Expr::var(Var::Species(0))),
            Expr::var(Var::Species(1)),
        ),
        Expr::pow(Expr::var(Var::Time), Expr::c(1.3)),
    );
    let mut p = Program::compile(&[e], N_INPUTS, &slot).unwrap();
    let plain = p.clone();
    let compiled = p.compile_native();
    assert_eq!(compiled.is_ok(), HAS_CODE_GENERATOR, "{compiled:?}");
    if compiled.is_err() {
        return;
    }
    let eval = |p: &Program, k: usize| {
        let mut r = p.workspace();
        r[..N_INPUTS].copy_from_slice(&[k as f64 * 0.01, 1.5, 0.0, k as f64]);
        p.run(&mut r);
        p.output(&r, 0).to_bits()
    };
    let want: Vec<u64> = (0..400).map(|k| eval(&plain, k)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..400).map(|k| eval(&p, k)).collect::<Vec<u64>>()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), want);
        }
    });
}

/// Every shipped model solves to the same bits with its programs interpreted and as
/// machine code, with both a stiff and an explicit method.
#[test]
fn shipped_models_solve_identically_natively() {
    use resloop::compile::{compile_file, BoundModel, Evaluation};
    use resloop::engine::ode::{simulate, Method, OdeOptions};
    use resloop::pkpd::{DoseEvent, DoseKind};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("models")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".toml") || name.ends_with(".facts.toml") {
            continue;
        }
        let m = compile_file(&path).unwrap();
        let bind = |how| BoundModel::with_evaluation(&m, &m.param_values(), how).unwrap();
        let (plain, native) = (bind(Evaluation::Interpreted), bind(Evaluation::Native));
        assert!(!plain.genotypes[0].rhs.is_native());
        assert_eq!(native.genotypes[0].rhs.is_native(), HAS_CODE_GENERATOR);
        let doses: Vec<DoseEvent> = (0..m.drugs.len().min(1))
            .flat_map(|d| (0..8).map(move |k| (d, k)))
            .map(|(drug, k)| DoseEvent {
                time: 7.0 * k as f64,
                drug,
                // Fresh medium at a concentration that alternates, so effects switch.
                kind: DoseKind::SetConcentration {
                    value: if k % 2 == 0 { 1.0 } else { 0.0 },
                },
            })
            .collect();
        for method in [Method::Rodas5p, Method::Dopri5] {
            let mut o = OdeOptions::new(60.0);
            o.method = method;
            o.n_out = 120;
            let a = simulate(&m, &plain, &doses, &o).unwrap();
            let b = simulate(&m, &native, &doses, &o).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
            assert_eq!(
                bits(&a.timeline.values),
                bits(&b.timeline.values),
                "{name} {method:?}"
            );
            assert_eq!(
                bits(&a.final_state),
                bits(&b.final_state),
                "{name} {method:?}"
            );
            assert_eq!(a.stats.rhs_evals, b.stats.rhs_evals, "{name} {method:?}");
        }
        seen += 1;
    }
    assert!(seen >= 4, "shipped models found: {seen}");
}
