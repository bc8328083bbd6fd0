//! A rate expression: parse, resolve (against species x, y and parameter k), take the
//! derivative within its budget and compile; evaluate program and tree once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resloop::expr::deriv::diff_within;
use resloop::expr::tree::Env;
use resloop::expr::{parse, resolve, Program, Scope, Var};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(ast) = parse(&text) else { return };
    let mut scope = Scope::new();
    scope.insert("x", Var::Species(0));
    scope.insert("y", Var::Species(1));
    scope.insert("k", Var::Param(0));
    let Ok(e) = resolve(&ast, &scope) else { return };
    let mut budget = 1_000_000;
    let Ok(d) = diff_within(&e, Var::Species(0), &mut budget) else {
        return;
    };
    let params = [0.5];
    let bound = e.substitute(&|v| match v {
        Var::Param(0) => Some(resloop::expr::Expr::c(params[0])),
        _ => None,
    });
    let slot = |v: Var| match v {
        Var::Species(i) => Some(i),
        Var::Time => Some(2),
        _ => None,
    };
    if let Ok(p) = Program::compile(&[bound, d], 3, &slot) {
        let mut regs = p.workspace();
        regs[..3].copy_from_slice(&[0.3, 1.7, 0.0]);
        p.run(&mut regs);
    }
    let _ = e.eval(&Env {
        species: &[0.3, 1.7],
        params: &params,
        drugs: &[],
        effects: &[],
        observables: &[],
        t: 0.0,
    });
});
