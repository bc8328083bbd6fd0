//! Global sensitivity analysis.
