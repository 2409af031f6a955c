//! Azure's network model as vnetlab holds it: resources in their ARM JSON shape, resource ids that
//! compare as ARM compares them, canonical prefixes, Azure's errors, and the indexed in-memory state
//! every other crate reads.

pub mod arm;
pub mod common;
pub mod error;
pub mod id;
pub mod kind;
pub mod location;
pub mod prefix;
pub mod resources;
pub mod state;
pub mod time;

pub use common::*;
pub use error::AzureError;
pub use id::{IdError, ResourceId, Scope, same_name};
pub use kind::Kind;
pub use location::{Cloud, Location, UnknownLocation};
pub use prefix::{Prefix, PrefixError};
pub use resources::*;
pub use state::{Change, Draft, State, Undo, View, ViewExt};
