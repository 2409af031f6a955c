//! Real packets: every VM a network namespace, every NIC a veth into a fabric namespace that
//! plays Azure's host switch, and a reconciler that makes the kernel hold what the compiled
//! view says (routes per subnet, NSGs and peering guards in nftables).

pub mod cost;
pub mod desired;
pub mod dns;
pub mod firewall;
pub mod ipsec;
pub mod kernel;
pub mod live;
pub mod names;
pub mod netns;
pub mod reconcile;
pub mod ssh;
