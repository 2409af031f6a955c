//! Property tests: random sequences of operations over a small world (five VNets drawing from
//! prefixes that often overlap, links both ways under two names, subnets, gateways, NICs) keep every
//! invariant of `vnetlab_engine::invariants`, refused operations change nothing, and replaying the
//! changes of the accepted ones rebuilds the same state.

use proptest::prelude::*;
use vnetlab_engine::*;
use vnetlab_model::{Change, GatewayType, Kind, Location, ResourceId, State};

use crate::support::*;

/// Address spaces for VNet `v`: mostly its own (so pairs can connect), sometimes dual-stack or in
/// two ranges, sometimes deliberately overlapping every other VNet or one neighbour.
fn space(v: usize, choice: usize) -> Vec<String> {
    match choice {
        0 => vec![format!("10.{v}.0.0/16")],
        1 => vec![format!("10.{v}.0.0/16"), format!("fd00:{v}::/48")],
        2 => vec![format!("10.{v}.0.0/16"), format!("10.{}.0.0/16", v + 10)],
        3 => vec![format!("10.{}.0.0/16", (v + 1) % 5), format!("fd00:{v}::/48")],
        _ => vec!["10.0.0.0/8".to_owned()],
    }
}

#[derive(Debug, Clone)]
enum Step {
    Vnet {
        v: usize,
        space: usize,
        location: bool,
    },
    /// Links both ways between two VNets, with the same options.
    Pair {
        a: usize,
        b: usize,
        subnets: u8,
        transit: bool,
    },
    VnetDelete {
        v: usize,
    },
    Subnet {
        v: usize,
        slot: usize,
    },
    SubnetDelete {
        v: usize,
        slot: usize,
    },
    /// `subnets`: 0 for whole-VNet peering; else subnet peering of slot `(subnets >> 2) & 3` on the
    /// local side and `subnets & 3` on the remote side, IPv6 only when bit 4 is set.
    Peer {
        from: usize,
        to: usize,
        alt_name: bool,
        flags: u8,
        sync: bool,
        subnets: u8,
    },
    Unpeer {
        from: usize,
        alt_name: bool,
    },
    Gateway {
        v: usize,
    },
    GatewayDelete {
        v: usize,
    },
    Nic {
        v: usize,
        slot: usize,
        n: usize,
    },
    NicDelete {
        n: usize,
    },
    Group {
        delete: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
                3 => (0..5usize, prop_oneof![4 => 0..4usize, 1 => Just(4usize)], prop_oneof![9 => Just(true), 1 => Just(false)])
            .prop_map(|(v, space, location)| Step::Vnet { v, space, location }),
        4 => (0..5usize, 0..5usize, prop_oneof![2 => Just(0u8), 1 => 1u8..32], any::<bool>())
            .prop_map(|(a, b, subnets, transit)| Step::Pair { a, b, subnets, transit }),
        1 => (0..5usize).prop_map(|v| Step::VnetDelete { v }),
                2 => (0..5usize, 0..4usize).prop_map(|(v, slot)| Step::Subnet { v, slot }),
        1 => (0..5usize, 0..4usize).prop_map(|(v, slot)| Step::SubnetDelete { v, slot }),
                6 => (0..5usize, 0..5usize, any::<bool>(), any::<u8>(), any::<bool>(), prop_oneof![Just(0u8), 1u8..32])
            .prop_map(|(from, to, alt_name, flags, sync, subnets)| Step::Peer { from, to, alt_name, flags, sync, subnets }),
        2 => (0..5usize, any::<bool>()).prop_map(|(from, alt_name)| Step::Unpeer { from, alt_name }),
        1 => (0..5usize).prop_map(|v| Step::Gateway { v }),
        1 => (0..5usize).prop_map(|v| Step::GatewayDelete { v }),
        1 => (0..5usize, 0..3usize, 0..4usize).prop_map(|(v, slot, n)| Step::Nic { v, slot, n }),
        1 => (0..4usize).prop_map(|n| Step::NicDelete { n }),
        1 => any::<bool>().prop_map(|delete| Step::Group { delete }),
    ]
}

fn vnet(lab: &Lab, v: usize) -> ResourceId {
    lab.vnet_id(&format!("v{v}"))
}

const SLOTS: [&str; 4] = ["s0", "s1", "GatewaySubnet", "v6"];

/// The subnet slot's name and its prefix: a /24 in the VNet's first IPv4 range, or (slot 3) the
/// first /64 of its IPv6 range.
fn subnet_slot(lab: &Lab, v: usize, slot: usize) -> Option<(ResourceId, vnetlab_model::Prefix)> {
    use vnetlab_model::ViewExt;
    let id = vnet(lab, v);
    let vn = lab.state.vnet(&id)?;
    let prefixes = &vn.properties.address_space.address_prefixes;
    let prefix = if slot == 3 {
        let range = prefixes.iter().find(|p| p.is_ipv6())?;
        vnetlab_model::Prefix::parse(&format!("{}/64", range.network())).ok()?
    } else {
        let range = prefixes.iter().find(|p| p.is_ipv4())?;
        let base = range.nth(u128::from(slot as u32) * 256)?;
        vnetlab_model::Prefix::parse(&format!("{base}/24")).ok()?
    };
    Some((id.child(Kind::Subnet, SLOTS[slot]).ok()?, prefix))
}

/// The operations a step stands for (a gateway needs its public IP first).
fn to_ops(lab: &Lab, step: &Step) -> Vec<Operation> {
    if let Step::Pair { a, b, subnets, transit } = step {
        let forward = Step::Peer {
            from: *a,
            to: *b,
            alt_name: false,
            flags: if *transit { 5 } else { 1 },
            sync: false,
            subnets: *subnets,
        };
        // The way back swaps the subnet slots and may use the first side's gateway.
        let back_subnets = if *subnets == 0 { 0 } else { (subnets & 16) | ((subnets & 3) << 2) | ((subnets >> 2) & 3) };
        let back = Step::Peer {
            from: *b,
            to: *a,
            alt_name: false,
            flags: if *transit { 25 } else { 1 },
            sync: false,
            subnets: back_subnets,
        };
        // First what the links need: the named subnets, and for transit a gateway in the first VNet.
        let mut ops = Vec::new();
        if *subnets != 0 {
            ops.extend(to_op(lab, &Step::Subnet { v: *a, slot: usize::from((subnets >> 2) & 3) }));
            ops.extend(to_op(lab, &Step::Subnet { v: *b, slot: usize::from(subnets & 3) }));
        }
        if *transit {
            ops.extend(to_op(lab, &Step::Subnet { v: *a, slot: 2 }));
            ops.extend(to_ops(lab, &Step::Gateway { v: *a }));
        }
        ops.extend([forward, back].iter().filter_map(|s| to_op(lab, s)));
        return ops;
    }
    if let Step::Gateway { v } = step {
        let pip = lab.id(Kind::PublicIpAddress, &format!("gw{v}-pip"));
        let pip_op = Operation::PublicIpAddressPut { id: pip.clone(), spec: PublicIpAddressSpec::new(westus()) };
        let spec = lab.gateway_spec(&vnet(lab, *v), Some(pip), GatewayType::Vpn);
        let gw =
            Operation::VirtualNetworkGatewayPut { id: lab.id(Kind::VirtualNetworkGateway, &format!("gw{v}")), spec };
        return vec![pip_op, gw];
    }
    to_op(lab, step).into_iter().collect()
}

fn to_op(lab: &Lab, step: &Step) -> Option<Operation> {
    Some(match step {
        Step::Vnet { v, space: choice, location } => {
            let loc = Location::parse(if *location { "westus" } else { "eastus" }).ok()?;
            Operation::VirtualNetworkPut {
                id: vnet(lab, *v),
                spec: VirtualNetworkSpec::new(loc, space(*v, *choice).iter().map(|s| p(s)).collect()),
            }
        }
        Step::Pair { .. } => return None,
        Step::VnetDelete { v } => Operation::VirtualNetworkDelete { id: vnet(lab, *v) },
        Step::Subnet { v, slot } => {
            let (id, prefix) = subnet_slot(lab, *v, *slot)?;
            Operation::SubnetPut { id, spec: SubnetSpec::with_prefix(prefix) }
        }
        Step::SubnetDelete { v, slot } => Operation::SubnetDelete { id: subnet_slot(lab, *v, *slot)?.0 },
        Step::Peer { from, to, alt_name, flags, sync, subnets } => {
            let name = if *alt_name { "alt" } else { "main" };
            let (from, to) = (vnet(lab, *from), vnet(lab, *to));
            let mut op = lab.peer_op(&from, &to, name, |s| {
                s.allow_virtual_network_access = flags & 1 != 0;
                s.allow_forwarded_traffic = flags & 2 != 0;
                s.allow_gateway_transit = flags & 4 != 0;
                s.use_remote_gateways = flags & 8 != 0 && flags & 16 != 0;
                if *subnets != 0 {
                    s.peer_complete_vnets = false;
                    s.local_subnet_names = vec![SLOTS[usize::from((subnets >> 2) & 3)].to_owned()];
                    s.remote_subnet_names = vec![SLOTS[usize::from(subnets & 3)].to_owned()];
                    s.enable_only_ipv6_peering = subnets & 16 != 0;
                }
            });
            if let Operation::PeeringPut { sync_remote_address_space, .. } = &mut op {
                *sync_remote_address_space = *sync;
            }
            op
        }
        Step::Unpeer { from, alt_name } => {
            Operation::PeeringDelete { id: lab.link_id(&vnet(lab, *from), if *alt_name { "alt" } else { "main" }) }
        }
        Step::Gateway { .. } => return None,
        Step::GatewayDelete { v } => {
            Operation::VirtualNetworkGatewayDelete { id: lab.id(Kind::VirtualNetworkGateway, &format!("gw{v}")) }
        }
        Step::Nic { v, slot, n } => {
            let (subnet, _) = subnet_slot(lab, *v, *slot)?;
            Operation::NetworkInterfacePut {
                id: lab.id(Kind::NetworkInterface, &format!("nic{n}")),
                spec: NetworkInterfaceSpec::new(westus(), vec![NicIpConfigurationSpec::new("ipconfig1", subnet)]),
            }
        }
        Step::NicDelete { n } => {
            Operation::NetworkInterfaceDelete { id: lab.id(Kind::NetworkInterface, &format!("nic{n}")) }
        }
        Step::Group { delete: true } => Operation::ResourceGroupDelete { id: lab.rg_id("rg") },
        Step::Group { delete: false } => {
            Operation::ResourceGroupPut { id: lab.rg_id("rg"), location: westus(), tags: Default::default() }
        }
    })
}

fn bodies(state: &State) -> Vec<(String, String, vnetlab_model::Resource)> {
    state.iter().map(|s| (s.id().key().to_owned(), s.etag.clone(), s.resource.clone())).collect()
}

proptest! {
    #[test]
    fn random_operations_keep_the_invariants(steps in proptest::collection::vec(step(), 1..60)) {
        let mut lab = Lab::new();
        let mut log: Vec<Vec<Change>> = Vec::new();
        let initial = lab.state.clone();
        for step in &steps {
          for op in to_ops(&lab, step) {
            let before = bodies(&lab.state);
            match lab.try_apply(op.clone()) {
                Ok(outcome) => log.push(outcome.changes),
                Err(e) => {
                    prop_assert!(e.status >= 400 && e.status < 500, "{e}");
                    prop_assert_eq!(&before, &bodies(&lab.state), "refused {:?} changed the state", op);
                }
            }
            let violations = invariants::check(&lab.state);
            prop_assert!(violations.is_empty(), "after {:?}: {:#?}", step, violations);
          }
        }
        // Replaying the accepted changes on the starting state gives the same state.
        let mut replayed = initial;
        for (i, changes) in log.iter().enumerate() {
            let _ = replayed.apply(changes, i as u64 + 1);
        }
        prop_assert_eq!(bodies(&replayed), bodies(&lab.state));
    }

    #[test]
    fn the_engine_is_deterministic(steps in proptest::collection::vec(step(), 1..30)) {
        let run = |steps: &[Step]| {
            let mut lab = Lab::new();
            for step in steps {
                for op in to_ops(&lab, step) {
                    let _ = lab.try_apply(op);
                }
            }
            bodies(&lab.state)
        };
        prop_assert_eq!(run(&steps), run(&steps));
    }
}
