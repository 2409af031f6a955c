//! `vnetlab graph`: the lab's topology as an SVG picture, Graphviz DOT or a Mermaid flowchart.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use vnetlab_analysis::graph::{GraphFormat, render};
use vnetlab_control::Lab;

use crate::Result;

/// The values of `vnetlab graph --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An SVG picture, laid out without Graphviz
    Svg,
    /// Graphviz DOT, for `dot -Tpng` and other Graphviz tools
    Dot,
    /// A Mermaid `flowchart LR`, for Markdown that renders Mermaid
    Mermaid,
}

impl From<Format> for GraphFormat {
    fn from(format: Format) -> GraphFormat {
        match format {
            Format::Svg => GraphFormat::Svg,
            Format::Dot => GraphFormat::Dot,
            Format::Mermaid => GraphFormat::Mermaid,
        }
    }
}

/// Prints the drawing of the lab in `home`. Only reads: a lab that does not exist yet is drawn
/// empty and is not created.
pub fn graph(home: &Path, format: GraphFormat) -> Result<()> {
    let lab = Lab::open_existing(home)?;
    let drawing = lab.read(|state| render(state, format))?;
    let mut out = std::io::stdout().lock();
    out.write_all(drawing.as_bytes()).and_then(|()| out.flush()).context("cannot write the drawing")?;
    Ok(())
}
