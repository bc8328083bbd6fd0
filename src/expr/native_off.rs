//! The native backend in a build without the `native` cargo feature (no Cranelift,
//! e.g. the fuzz targets, which exercise the readers and would otherwise compile
//! Cranelift a third time in CI): nothing is compiled, [`shared`] says why, and
//! every program stays the register program, which computes the same bits (see the
//! feature's own module, `native.rs`, and `tests/expr_backends.rs`).

use std::sync::Arc;

use super::ir::Ir;

/// Why code could not be generated: here, always, because the feature is off.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("native code generation failed: {0}")]
pub struct NativeError(String);

/// Compiled code, of which a build without the feature has none (no value exists).
#[derive(Debug)]
pub enum Native {}

impl Native {
    /// Always an error: see the module documentation.
    pub fn compile(_ir: &Ir) -> Result<Native, NativeError> {
        Err(NativeError(
            "resloop was built without the `native` feature".into(),
        ))
    }

    /// Never called: no [`Native`] value exists.
    #[inline]
    pub fn run(&self, _regs: &mut [f64]) {
        match *self {}
    }
}

/// Always an error ([`Native::compile`]); callers keep the register program.
pub fn shared(ir: &Ir) -> Result<Arc<Native>, NativeError> {
    Native::compile(ir).map(Arc::new)
}
