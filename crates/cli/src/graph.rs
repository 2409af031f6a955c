//! `vnetlab graph`: the lab's topology as an SVG picture, Graphviz DOT or a Mermaid flowchart.

use std::io::Write;

use anyhow::Context as _;
use vnetlab_analysis::graph::{GraphFormat, Topology};
use vnetlab_engine::authorization;

use crate::{Env, Result};

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

/// Prints the drawing of the lab, as much of it as the caller may read (what it may not read
/// and a drawn resource refers to is a placeholder). Only reads: a lab that does not exist yet is
/// drawn empty and is not created.
pub fn graph(env: &Env, format: GraphFormat) -> Result<()> {
    let drawing = env
        .lab
        .read(|state| Topology::visible(state, &|id| authorization::can_read(state, &env.caller, id)).render(format))?;
    let mut out = std::io::stdout().lock();
    out.write_all(drawing.as_bytes()).and_then(|()| out.flush()).context("cannot write the drawing")?;
    Ok(())
}
