//! Scenario tests of the rules engine, one binary.

mod support;

mod authorization;
mod gateways;
mod invariants;
mod network;
mod peering;
mod review;
