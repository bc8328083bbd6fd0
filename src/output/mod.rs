//! Outputs: tidy CSV, JSON manifests and plots, always written atomically
//! (temporary name, then rename) so that a file that exists is a complete file.

pub mod atomic;
pub mod manifest;
pub mod number;
pub mod panels;
pub mod plot;
pub mod progress;
pub mod timeline;
pub mod timeline_plot;
