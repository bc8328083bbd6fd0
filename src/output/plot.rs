//! Shared plotting setup: an embedded font (so PNG text renders on a machine with no
//! system fonts) and helpers that write PNG and SVG atomically.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::atomic::{commit_file, partial_path};
use std::sync::Once;

static FONTS: Once = Once::new();

/// Register the embedded DejaVu Sans font under plotters' `sans-serif` family.
/// Call before drawing any text; cheap after the first call.
pub fn ensure_fonts() {
    FONTS.call_once(|| {
        use plotters::style::FontStyle;
        // The font bytes are compiled in, so registration cannot fail on a fresh machine;
        // `register_font` only errors on unparsable data.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Error from drawing a plot: which file and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw plot {path}: {message}")]
pub struct PlotError {
    pub path: String,
    pub message: String,
}

impl PlotError {
    pub fn new(path: &Path, message: impl std::fmt::Display) -> Self {
        PlotError {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// A figure that can draw itself onto any plotters backend, so the same code makes
/// the PNG and the SVG.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static;
}

/// Draw `fig` to `stem.png` and `stem.svg`, each written under a temporary name and
/// renamed when complete.
pub fn draw_png_and_svg(stem: &Path, size: (u32, u32), fig: &impl Figure) -> Result<(), PlotError> {
    ensure_fonts();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let png_tmp = stem.with_extension("partial.png");
    let svg_tmp = partial_path(&svg);
    {
        let root = BitMapBackend::new(&png_tmp, size).into_drawing_area();
        fig.draw(&root).map_err(|e| PlotError::new(&png, e))?;
        root.present().map_err(|e| PlotError::new(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg_tmp, size).into_drawing_area();
        fig.draw(&root).map_err(|e| PlotError::new(&svg, e))?;
        root.present().map_err(|e| PlotError::new(&svg, e))?;
    }
    commit_file(&png_tmp, &png).map_err(|e| PlotError::new(&png, e))?;
    commit_file(&svg_tmp, &svg).map_err(|e| PlotError::new(&svg, e))?;
    Ok(())
}
