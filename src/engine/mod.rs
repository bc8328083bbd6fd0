//! Engines: run a bound model through time under a list of dose events.
//!
//! Engines know nothing about any particular loop: they see species, drugs,
//! genotypes and the compiled programs.

pub mod ode;
