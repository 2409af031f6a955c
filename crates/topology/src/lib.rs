//! Topology files: a lab described in YAML (VNets and subnets, VMs, NSGs, route tables, gateways,
//! on-premises sites and connections, peerings with their options on each side, and connectivity
//! configurations in one line each), compiled into the same engine operations every other front
//! door uses. Errors point at the file, line and column. The format is described in
//! docs/topology.md.

mod compile;
mod locate;
mod plan;
pub mod schema;

use std::fmt;
use std::path::Path as FsPath;

use vnetlab_engine::Operation;
use vnetlab_model::{AzureError, State};

pub use compile::{
    CompileError, Compiled, DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, Declared, Defaults, Secrets,
    compile_for_teardown, stable_guid, teardown,
};
pub use locate::{Path, Step, locate};
pub use plan::{Action, FieldChange, PlannedChange, diff, simulate};
pub use schema::Topology;

/// A problem with a topology file: where it is, what it is, and Azure's error when Azure would
/// report it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyError {
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field, such as `vnets[0].addressSpace[1]`.
    pub path: Option<String>,
    pub message: String,
    pub azure: Option<Box<AzureError>>,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": ")?;
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TopologyError {}

/// A topology file read and parsed.
#[derive(Debug)]
pub struct Loaded {
    pub file: String,
    pub text: String,
    pub doc: Topology,
}

impl Loaded {
    /// Reads and parses a file. Malformed YAML, unknown fields and values of the wrong type are
    /// reported with their line and column.
    pub fn read(path: &FsPath) -> Result<Loaded, TopologyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            file: file.clone(),
            position: None,
            path: None,
            message: format!("cannot read the file: {e}"),
            azure: None,
        })?;
        Loaded::parse(&file, text)
    }

    pub fn parse(file: &str, text: String) -> Result<Loaded, TopologyError> {
        let doc: Topology = if text.trim().is_empty() {
            Topology::default()
        } else {
            yaml_serde::from_str(&text).map_err(|e| TopologyError {
                file: file.to_owned(),
                position: e.location().map(|l| (l.line(), l.column())),
                path: None,
                message: strip_position(&e.to_string()),
                azure: None,
            })?
        };
        Ok(Loaded { file: file.to_owned(), text, doc })
    }

    /// What the resources this file creates record as their origin: `topology:` and the file's
    /// `name`, else its file name without the extension.
    pub fn origin(&self) -> String {
        let stem = FsPath::new(&self.file).file_stem().map(|s| s.to_string_lossy().into_owned());
        format!("topology:{}", self.doc.name.clone().or(stem).unwrap_or_default())
    }

    /// Locates a problem at `path` in this file: at the value itself, or at the closest enclosing
    /// value the file has.
    pub fn error_at(&self, path: &Path, message: String, azure: Option<Box<AzureError>>) -> TopologyError {
        let mut position = None;
        let mut prefix = path.clone();
        while position.is_none() && !prefix.0.is_empty() {
            position = locate(&self.text, &prefix);
            prefix.0.pop();
        }
        TopologyError {
            file: self.file.clone(),
            position,
            path: (!path.0.is_empty()).then(|| path.to_string()),
            message,
            azure,
        }
    }

    pub fn compile(&self, state: &State, defaults: &Defaults) -> Result<Compiled, TopologyError> {
        compile::compile(&self.doc, state, defaults).map_err(|e| self.error_at(&e.path, e.message, e.azure))
    }

    /// What `down` removes: the file's declarations, even where what they reference is gone.
    pub fn teardown(&self, state: &State, defaults: &Defaults) -> Result<Vec<(Operation, Path)>, TopologyError> {
        let compiled = compile::compile_for_teardown(&self.doc, state, defaults)
            .map_err(|e| self.error_at(&e.path, e.message, e.azure))?;
        Ok(compile::teardown(&compiled, state, &self.origin()))
    }

    /// `state` with this file applied in memory (nothing stored), or the first problem, located.
    pub fn simulate(
        &self,
        state: &State,
        defaults: &Defaults,
        settings: &vnetlab_engine::Settings,
    ) -> Result<State, TopologyError> {
        let compiled = self.compile(state, defaults)?;
        simulate(state, &compiled.ops, settings, Some(&self.origin())).map_err(|(i, e)| self.rejected(&compiled, i, e))
    }

    /// The error for operation `index` of `compiled`, refused by the engine with `error`.
    pub fn rejected(&self, compiled: &Compiled, index: usize, error: AzureError) -> TopologyError {
        let path = compiled.sources.get(index).cloned().unwrap_or_default();
        self.error_at(&path, error.to_string(), Some(Box::new(error)))
    }
}

/// yaml_serde appends " at line L column C" to its messages; the position is reported separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
