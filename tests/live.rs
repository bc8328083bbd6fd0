//! The live teaching page cannot drift from the engine: its script (the model lowered
//! to JavaScript plus the page's integrator) runs in Node.js and must reproduce
//! resloop's own dopri5 trajectories for every study model, and the lowering of every
//! expression function must agree with the tree walker.
//!
//! Without `node` on PATH these tests print why and pass, unless
//! `RESLOOP_REQUIRE_NODE=1` (CI sets it: `.ci/live-check` installs Node.js).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use resloop::expr::tree::Env;
use resloop::expr::{Expr, Func, Var};
use resloop::report::live::{self, js, Setup};
use resloop::report::story;
use serde_json::Value;

/// Whether Node.js can run; a missing Node is a failure when CI requires it.
fn have_node(test: &str) -> bool {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("RESLOOP_REQUIRE_NODE").is_none(),
            "{test}: RESLOOP_REQUIRE_NODE is set but `node` does not run"
        );
        eprintln!("skipping {test}: `node` (Node.js) is not on PATH; .ci/live-check installs it");
    }
    ok
}

/// Run a script in Node.js; its standard output as JSON.
fn node(script: &str) -> Value {
    let mut f = tempfile::Builder::new().suffix(".js").tempfile().unwrap();
    f.write_all(script.as_bytes()).unwrap();
    let out = Command::new("node").arg(f.path()).output().unwrap();
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// For every study model (a story file), a fixed schedule from the page's own
/// schedule builder with the loop parameter moved off its default: the page's
/// trajectories (both arms) against the engine's at rtol 1e-10 must agree to 1e-6
/// (relative). While both take the same steps they agree to ~1e-12; where a
/// last-bit difference between V8's and Rust's `exp` or `pow` flips one step-size
/// decision the step sequences part, and the runs then differ by the method's global
/// error (1.3e-7 at worst here: loop A's combination, cells falling seven decades;
/// 1.8e-6 at rtol 1e-9).
#[test]
fn page_runs_match_the_engine_for_every_study_model() {
    if !have_node("page_runs_match_the_engine_for_every_study_model") {
        return;
    }
    let (rtol, atol) = (1e-10, 1e-10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stories: Vec<_> = std::fs::read_dir(root.join("models/stories"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    stories.sort();
    assert!(stories.len() >= 4);
    for path in stories {
        let s = story::load(&path).unwrap();
        let l = live::from_story(&s, None).unwrap();
        let p = &l.loop_parameter;
        let loop_value = p.value + 0.25 * (p.max - p.value);
        let settings = serde_json::json!({
            "dose": l.drug.dose * 0.7,
            "interval": l.interval,
            "loop": loop_value,
            "start": l.breaker_start,
        });
        let script = format!(
            "{engine}\nconst L = {live};\nconst s = {settings};\n\
             const opts = {{rtol: {rtol:e}, atol: {atol:e}, points: 120}};\n\
             const arm = (b) => {{ const setup = liveSetup(L, opts, s, b); const r = simulate(LIVE_MODEL, setup);\n\
               return {{doses: setup.doses, outs: setup.outs, times: r.times,\n\
                 states: r.states.map((x) => Array.from(x)), stats: r.stats}}; }};\n\
             console.log(JSON.stringify({{alone: arm(false), combination: arm(true)}}));\n",
            engine = live::engine_script(&s.model, &l).unwrap(),
            live = serde_json::to_string(&l).unwrap(),
        );
        let out = node(&script);
        for arm in ["alone", "combination"] {
            let o = &out[arm];
            let doses = o["doses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    live::dose_event(
                        d["time"].as_f64().unwrap(),
                        d["drug"].as_u64().unwrap() as usize,
                        d["kind"].as_str().unwrap(),
                        d["value"].as_f64().unwrap(),
                    )
                    .unwrap()
                })
                .collect::<Vec<_>>();
            assert!(!doses.is_empty());
            let setup = Setup {
                loop_value,
                cells: l.cells,
                equilibrate: l.equilibrate,
                doses,
                t_end: l.duration,
                outs: floats(&o["outs"]),
                rtol,
                atol,
            };
            let reference = live::reference_run(&s.model, &l, &setup).unwrap();
            let times = floats(&o["times"]);
            assert_eq!(
                times,
                reference.times,
                "{}: {arm}: output times",
                path.display()
            );
            let mut worst = (0.0f64, 0, 0);
            for (k, (js_row, rs_row)) in o["states"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&reference.states)
                .enumerate()
            {
                for (i, (a, b)) in floats(js_row).iter().zip(rs_row).enumerate() {
                    // Relative error; values below 1e-6 (a species near zero, a
                    // mutant clone of a millionth of a cell) count in absolute terms.
                    // A NaN counts as the worst.
                    let e = (a - b).abs() / b.abs().max(1e-6);
                    let e = if e.is_nan() { f64::INFINITY } else { e };
                    if e > worst.0 {
                        worst = (e, k, i);
                    }
                }
            }
            let stats = &o["stats"];
            eprintln!(
                "{}: {arm}: {} doses, worst relative difference {:.2e} (output {}, component {}); page: {} steps, {} rejected",
                s.model.meta.name,
                setup.doses.len(),
                worst.0,
                worst.1,
                worst.2,
                stats["accepted"],
                stats["rejected"]
            );
            assert!(
                worst.0 <= 1e-6,
                "{}: {arm}: the page and the engine differ by {:.3e} (relative) at t = {}, component {}: {} vs {}",
                s.model.meta.name,
                worst.0,
                times[worst.1],
                worst.2,
                floats(&o["states"][worst.1])[worst.2],
                reference.states[worst.1][worst.2]
            );
        }
    }
}

/// Every function of the expression language, exactly once (`index` is exhaustive,
/// so a new function fails to compile here until it is listed and tested).
/// The lowering of every function, operator, power and `if` against the tree walker
/// on inputs that include zero, negatives, both sides of every comparison, NaN and
/// infinities: the same value, to the last bit where both sides are correctly
/// rounded, within 4 ulp for the transcendental functions (libm and V8 may round
/// differently).
#[test]
fn lowering_matches_the_tree_walker_for_every_function() {
    if !have_node("lowering_matches_the_tree_walker_for_every_function") {
        return;
    }
    let x = || Expr::var(Var::Species(0));
    let y = || Expr::var(Var::Species(1));
    let z = || Expr::var(Var::Species(2));
    let mut exprs: Vec<(String, Expr, bool)> = Func::ALL
        .iter()
        .map(|&f| {
            let e = if f.arity() == 1 {
                Expr::f1(f, x())
            } else {
                Expr::f2(f, x(), y())
            };
            let exact = !matches!(
                f,
                Func::Exp
                    | Func::Ln
                    | Func::Log10
                    | Func::Sin
                    | Func::Cos
                    | Func::Tan
                    | Func::Asin
                    | Func::Acos
                    | Func::Atan
                    | Func::Sinh
                    | Func::Cosh
                    | Func::Tanh
                    | Func::Asinh
                    | Func::Acosh
                    | Func::Atanh
            );
            (f.name().to_string(), e, exact)
        })
        .collect();
    exprs.extend([
        ("neg".into(), Expr::neg(x()), true),
        ("add".into(), Expr::add(x(), y()), true),
        ("sub".into(), Expr::sub(x(), y()), true),
        ("mul".into(), Expr::mul(x(), y()), true),
        ("div".into(), Expr::div(x(), y()), true),
        ("pow x^y".into(), Expr::pow(x(), y()), false),
        ("pow x^3".into(), Expr::pow(x(), Expr::c(3.0)), true),
        ("pow x^-2".into(), Expr::pow(x(), Expr::c(-2.0)), true),
        ("pow x^0.5".into(), Expr::pow(x(), Expr::c(0.5)), false),
        ("if".into(), Expr::if_(x(), y(), z()), true),
        (
            "hill".into(),
            Expr::hill(x(), Expr::c(0.3), Expr::c(2.0)),
            true,
        ),
        ("time".into(), Expr::mul(Expr::var(Var::Time), x()), true),
    ]);
    let values = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        3.7,
        1e-3,
        0.3,
        64.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut inputs = Vec::new();
    for &a in &values {
        for &b in &values[..10] {
            inputs.push([a, b, if a == b { 0.0 } else { 2.0 }]);
        }
    }
    let name = |v: Var| match v {
        Var::Species(i) => Some(format!("y[o + {i}]")),
        Var::Time => Some("t".to_string()),
        _ => None,
    };
    let outputs: Vec<Expr> = exprs.iter().map(|e| e.1.clone()).collect();
    let (body, _) = js::lower(&outputs, &name).unwrap();
    let rows: Vec<String> = inputs
        .iter()
        .map(|r| {
            format!(
                "[{}]",
                r.iter()
                    .map(|&v| js::number(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let script = format!(
        "{solver}\nfunction f(y, o, c, t, p, out) {{\n{body}}}\n\
         const out = new Float64Array({n});\n\
         console.log(JSON.stringify([{rows}].map((r) => {{ f(r, 0, [], 1.5, [], out); return Array.from(out, String); }})));\n",
        solver = live::SOLVER_JS,
        n = outputs.len(),
        rows = rows.join(", ")
    );
    let got = node(&script);
    let t = 1.5;
    let mut checked = 0;
    for (r, row) in inputs.iter().zip(got.as_array().unwrap()) {
        let env = Env {
            species: r,
            params: &[],
            drugs: &[],
            effects: &[],
            observables: &[],
            t,
        };
        for ((label, e, exact), v) in exprs.iter().zip(row.as_array().unwrap()) {
            let js: f64 = v.as_str().unwrap().parse().unwrap();
            let rs = e.eval(&env);
            let same = (js.is_nan() && rs.is_nan())
                || js == rs
                || (!exact && (js - rs).abs() <= 4.0 * f64::EPSILON * rs.abs());
            assert!(
                same,
                "{label} at {r:?}: JavaScript {js:e}, tree walker {rs:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, inputs.len() * exprs.len());
}

/// What the page takes from a story (no Node.js needed): loop A's xenograft rescue is
/// ceritinib 50 mg/kg daily with panobinostat 5 mg/kg from day 77, the slider moves
/// `w_me3_fb` over its bounds, and the page carries one generated function per
/// genotype, its styles and scripts inline, nothing fetched.
#[test]
fn the_page_of_loop_a() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = story::load(&root.join("models/stories/mir34a_axl.toml")).unwrap();
    let l = live::from_story(&s, None).unwrap();
    assert_eq!((l.drug.name.as_str(), l.drug.kind), ("ceritinib", "bolus"));
    assert_eq!(l.drug.dose, 50.0);
    assert_eq!(l.interval, 1.0); // days, the model's time unit
    let b = l.breaker.as_ref().unwrap();
    assert_eq!((b.name.as_str(), b.dose), ("panobinostat", 5.0));
    assert_eq!(l.breaker_start, 77.0);
    assert_eq!(l.loop_parameter.name, "w_me3_fb");
    assert_eq!((l.loop_parameter.min, l.loop_parameter.max), (0.0, 15.0));
    let page = live::page(&s, &l).unwrap();
    assert_eq!(
        page.matches("function (y, o, c, t, p, out)").count(),
        s.model.genotypes.len()
    );
    for remote in ["src=\"http", "href=\"http", "<link", "import("] {
        assert!(
            !page.contains(remote),
            "the page fetches something: {remote}"
        );
    }
    let other = live::from_story(&s, Some("k_me3")).unwrap();
    assert_eq!(other.loop_parameter.name, "k_me3");
}
