//! Scenario tests of the rules engine, one binary.

mod support;

mod gateways;
mod invariants;
mod network;
mod peering;
mod review;
