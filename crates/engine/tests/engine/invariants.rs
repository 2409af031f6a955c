//! Property tests: random sequences of operations over a small world (five VNets drawing from
//! prefixes that often overlap, links both ways under two names, subnets, gateways, NICs) keep every
//! invariant of `vnetlab_engine::invariants`, refused operations change nothing, and replaying the
//! changes of the accepted ones rebuilds the same state.

use proptest::prelude::*;
use vnetlab_engine::*;
use vnetlab_model::{Change, GatewayType, Kind, Location, ResourceId, State};

use crate::support::*;

const SPACES: [&[&str]; 6] = [
    &["10.0.0.0/16"],
    &["10.1.0.0/16"],
    &["10.0.0.0/8"],
    &["10.2.0.0/16", "10.3.0.0/16"],
    &["10.1.0.0/16", "fd00:1::/48"],
    &["192.168.0.0/16"],
];

#[derive(Debug, Clone)]
enum Step {
    Vnet { v: usize, space: usize, location: bool },
    VnetDelete { v: usize },
    Subnet { v: usize, slot: usize },
    SubnetDelete { v: usize, slot: usize },
    Peer { from: usize, to: usize, alt_name: bool, flags: u8, sync: bool },
    Unpeer { from: usize, alt_name: bool },
    Gateway { v: usize },
    GatewayDelete { v: usize },
    Nic { v: usize, slot: usize, n: usize },
    NicDelete { n: usize },
    Group { delete: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..5usize, 0..SPACES.len(), any::<bool>()).prop_map(|(v, space, location)| Step::Vnet { v, space, location }),
        1 => (0..5usize).prop_map(|v| Step::VnetDelete { v }),
        2 => (0..5usize, 0..3usize).prop_map(|(v, slot)| Step::Subnet { v, slot }),
        1 => (0..5usize, 0..3usize).prop_map(|(v, slot)| Step::SubnetDelete { v, slot }),
        6 => (0..5usize, 0..5usize, any::<bool>(), any::<u8>(), any::<bool>())
            .prop_map(|(from, to, alt_name, flags, sync)| Step::Peer { from, to, alt_name, flags, sync }),
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

/// The subnet slot's name and its prefix inside the VNet's first range, if it has room.
fn subnet_slot(lab: &Lab, v: usize, slot: usize) -> Option<(ResourceId, vnetlab_model::Prefix)> {
    use vnetlab_model::ViewExt;
    let id = vnet(lab, v);
    let vn = lab.state.vnet(&id)?;
    let range = vn.properties.address_space.address_prefixes.iter().find(|p| p.is_ipv4())?;
    let base = range.nth(u128::from(slot as u32) * 256)?;
    let prefix = vnetlab_model::Prefix::parse(&format!("{base}/24")).ok()?;
    let name = if slot == 2 { "GatewaySubnet".to_owned() } else { format!("s{slot}") };
    Some((id.child(Kind::Subnet, &name).ok()?, prefix))
}

/// The operations a step stands for (a gateway needs its public IP first).
fn to_ops(lab: &Lab, step: &Step) -> Vec<Operation> {
    if let Step::Gateway { v } = step {
        let pip = lab.id(Kind::PublicIpAddress, &format!("gw{v}-pip"));
        let pip_op = Operation::PublicIpAddressPut {
            id: pip.clone(),
            spec: PublicIpAddressSpec {
                location: westus(),
                tags: Default::default(),
                sku: None,
                tier: None,
                allocation_method: None,
                version: vnetlab_model::IpVersion::IPv4,
                zones: vec![],
                idle_timeout_in_minutes: None,
            },
        };
        let spec = lab.gateway_spec(&vnet(lab, *v), Some(pip), GatewayType::Vpn);
        let gw =
            Operation::VirtualNetworkGatewayPut { id: lab.id(Kind::VirtualNetworkGateway, &format!("gw{v}")), spec };
        return vec![pip_op, gw];
    }
    to_op(lab, step).into_iter().collect()
}

fn to_op(lab: &Lab, step: &Step) -> Option<Operation> {
    Some(match step {
        Step::Vnet { v, space, location } => {
            let loc = Location::parse(if *location { "westus" } else { "eastus" }).ok()?;
            Operation::VirtualNetworkPut {
                id: vnet(lab, *v),
                spec: VirtualNetworkSpec::new(loc, SPACES[*space].iter().map(|s| p(s)).collect()),
            }
        }
        Step::VnetDelete { v } => Operation::VirtualNetworkDelete { id: vnet(lab, *v) },
        Step::Subnet { v, slot } => {
            let (id, prefix) = subnet_slot(lab, *v, *slot)?;
            Operation::SubnetPut { id, spec: SubnetSpec::with_prefix(prefix) }
        }
        Step::SubnetDelete { v, slot } => Operation::SubnetDelete { id: subnet_slot(lab, *v, *slot)?.0 },
        Step::Peer { from, to, alt_name, flags, sync } => {
            let name = if *alt_name { "alt" } else { "main" };
            let (from, to) = (vnet(lab, *from), vnet(lab, *to));
            let mut op = lab.peer_op(&from, &to, name, |s| {
                s.allow_virtual_network_access = flags & 1 != 0;
                s.allow_forwarded_traffic = flags & 2 != 0;
                s.allow_gateway_transit = flags & 4 != 0;
                s.use_remote_gateways = flags & 8 != 0 && flags & 16 != 0;
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
                spec: NetworkInterfaceSpec {
                    location: westus(),
                    tags: Default::default(),
                    ip_configurations: vec![NicIpConfigurationSpec {
                        name: "ipconfig1".into(),
                        subnet,
                        private_ip_address: None,
                        allocation_method: None,
                        version: None,
                        primary: None,
                        public_ip_address: None,
                    }],
                    network_security_group: None,
                    enable_ip_forwarding: false,
                    enable_accelerated_networking: false,
                    dns_servers: vec![],
                },
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
