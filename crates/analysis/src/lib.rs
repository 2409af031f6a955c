//! The compiled view of a lab and the questions asked of it: effective routes, effective
//! security rules, next hop, IP flow verify.
//!
//! A generic core (longest-prefix match in [`lpm`], ordered rule layers in [`layers`]) and the
//! [`azure`] module, which gives them Azure's semantics (shared/reference/peering-rules.md §2–§3).

pub mod azure;
pub mod graph;
pub mod layers;
pub mod lpm;
pub mod picture;
