//! A lab in memory: the engine plus a state, with shorthand for building topologies.

use vnetlab_engine::*;
use vnetlab_model::{
    AzureError, GatewayType, Kind, Location, Prefix, ResourceId, State, View, ViewExt, VirtualNetworkPeering,
};

pub const SUB: &str = "00000000-0000-0000-0000-000000000001";
pub const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";

pub fn p(s: &str) -> Prefix {
    Prefix::parse(s).unwrap()
}

pub fn westus() -> Location {
    Location::parse("westus").unwrap()
}

pub struct Lab {
    pub state: State,
    pub ids: SequentialIds,
    pub settings: Settings,
    pub api_version: Option<String>,
}

impl Lab {
    /// A tenant, a subscription and resource group `rg` in westus.
    pub fn new() -> Lab {
        Lab::with_settings(Settings::default())
    }

    pub fn with_settings(settings: Settings) -> Lab {
        let mut lab = Lab { state: State::new(), ids: SequentialIds::default(), settings, api_version: None };
        lab.ok(Operation::TenantPut { tenant_id: TENANT.into(), display_name: "Contoso".into(), default_domain: None });
        lab.ok(Operation::SubscriptionPut {
            subscription_id: SUB.into(),
            display_name: "lab".into(),
            tenant_id: TENANT.into(),
        });
        lab.group("rg", "westus");
        lab
    }

    pub fn try_apply(&mut self, op: Operation) -> Result<Outcome, AzureError> {
        let mut ctx = Context::new(&mut self.ids, &self.settings);
        ctx.api_version = self.api_version.clone();
        let outcome = vnetlab_engine::apply(&self.state, &op, &mut ctx)?;
        let revision = self.state.revision() + 1;
        let _ = self.state.apply(&outcome.changes, revision);
        Ok(outcome)
    }

    #[track_caller]
    pub fn ok(&mut self, op: Operation) -> Outcome {
        match self.try_apply(op) {
            Ok(o) => o,
            Err(e) => panic!("operation failed: {e}"),
        }
    }

    /// Runs an operation that must fail, checks the state did not change, and returns the error.
    #[track_caller]
    pub fn err(&mut self, op: Operation) -> AzureError {
        let before: Vec<_> = self.state.iter().cloned().collect();
        let revision = self.state.revision();
        match self.try_apply(op) {
            Ok(_) => panic!("operation succeeded but should have failed"),
            Err(e) => {
                let after: Vec<_> = self.state.iter().cloned().collect();
                assert_eq!(before, after, "a failed operation changed the state");
                assert_eq!(revision, self.state.revision());
                e
            }
        }
    }

    pub fn rg_id(&self, name: &str) -> ResourceId {
        ResourceId::resource_group(SUB, name).unwrap()
    }

    pub fn group(&mut self, name: &str, location: &str) -> ResourceId {
        let id = self.rg_id(name);
        self.ok(Operation::ResourceGroupPut {
            id: id.clone(),
            location: Location::parse(location).unwrap(),
            tags: Default::default(),
        });
        id
    }

    pub fn id(&self, kind: Kind, name: &str) -> ResourceId {
        self.rg_id("rg").top_level(kind, name).unwrap()
    }

    pub fn vnet_id(&self, name: &str) -> ResourceId {
        self.id(Kind::VirtualNetwork, name)
    }

    pub fn vnet_in(&mut self, name: &str, location: &str, prefixes: &[&str]) -> ResourceId {
        let id = self.vnet_id(name);
        let spec = VirtualNetworkSpec::new(Location::parse(location).unwrap(), prefixes.iter().map(|s| p(s)).collect());
        self.ok(Operation::VirtualNetworkPut { id: id.clone(), spec });
        id
    }

    pub fn vnet(&mut self, name: &str, prefixes: &[&str]) -> ResourceId {
        self.vnet_in(name, "westus", prefixes)
    }

    pub fn subnet(&mut self, vnet: &ResourceId, name: &str, prefix: &str) -> ResourceId {
        let id = vnet.child(Kind::Subnet, name).unwrap();
        self.ok(Operation::SubnetPut { id: id.clone(), spec: SubnetSpec::with_prefix(p(prefix)) });
        id
    }

    pub fn link_id(&self, from: &ResourceId, name: &str) -> ResourceId {
        from.child(Kind::VirtualNetworkPeering, name).unwrap()
    }

    pub fn peer_op(
        &self,
        from: &ResourceId,
        to: &ResourceId,
        name: &str,
        spec: impl FnOnce(&mut PeeringSpec),
    ) -> Operation {
        let mut s = PeeringSpec::new(to.clone());
        s.allow_virtual_network_access = true;
        spec(&mut s);
        Operation::PeeringPut { id: self.link_id(from, name), spec: s, sync_remote_address_space: false }
    }

    /// Creates the link `from → to` named `{from}-to-{to}`.
    pub fn link(&mut self, from: &ResourceId, to: &ResourceId) -> ResourceId {
        let name = format!("{}-to-{}", from.name(), to.name());
        let op = self.peer_op(from, to, &name, |_| {});
        self.ok(op);
        self.link_id(from, &name)
    }

    pub fn peering(&self, id: &ResourceId) -> &VirtualNetworkPeering {
        self.state.peering(id).unwrap_or_else(|| panic!("no peering {id}"))
    }

    pub fn public_ip(&mut self, name: &str) -> ResourceId {
        let id = self.id(Kind::PublicIpAddress, name);
        self.ok(Operation::PublicIpAddressPut { id: id.clone(), spec: PublicIpAddressSpec::new(westus()) });
        id
    }

    pub fn gateway_spec(
        &self,
        vnet: &ResourceId,
        pip: Option<ResourceId>,
        gateway_type: GatewayType,
    ) -> VirtualNetworkGatewaySpec {
        VirtualNetworkGatewaySpec::new(westus(), gateway_type, vnet, pip).unwrap()
    }

    /// A VPN gateway in `vnet`, which needs a GatewaySubnet.
    pub fn gateway(&mut self, vnet: &ResourceId, name: &str) -> ResourceId {
        let pip = self.public_ip(&format!("{name}-pip"));
        let id = self.id(Kind::VirtualNetworkGateway, name);
        let spec = self.gateway_spec(vnet, Some(pip), GatewayType::Vpn);
        self.ok(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec });
        id
    }

    pub fn nic(&mut self, name: &str, subnet: &ResourceId, ip: Option<&str>) -> Result<ResourceId, AzureError> {
        let id = self.id(Kind::NetworkInterface, name);
        self.try_apply(Operation::NetworkInterfacePut {
            id: id.clone(),
            spec: NetworkInterfaceSpec::new(
                westus(),
                vec![NicIpConfigurationSpec {
                    private_ip_address: ip.map(|s| s.parse().unwrap()),
                    ..NicIpConfigurationSpec::new("ipconfig1", subnet.clone())
                }],
            ),
        })?;
        Ok(id)
    }

    pub fn nic_ip(&self, nic: &ResourceId) -> String {
        let n = self.state.resource(nic).and_then(|r| r.as_network_interface()).unwrap();
        n.properties.ip_configurations[0].properties.private_ip_address.to_string()
    }

    /// Completes every deferred operation still running.
    pub fn complete_all(&mut self) {
        let mut pending: Vec<uuid::Uuid> =
            self.state.iter().filter_map(|s| s.meta.pending.as_ref().map(|p| p.operation_id)).collect();
        pending.sort();
        pending.dedup();
        for operation_id in pending {
            self.ok(Operation::CompleteOperation { operation_id });
        }
    }

    /// The invariants hold.
    #[track_caller]
    pub fn sound(&self) {
        let violations = vnetlab_engine::invariants::check(&self.state);
        assert!(violations.is_empty(), "invariants violated: {violations:#?}");
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.state.all_of(kind).len()
    }
}

/// Asserts an error's code, status and exact message.
#[track_caller]
pub fn assert_error(e: &AzureError, code: &str, status: u16, message: &str) {
    assert_eq!(e.code, code, "code of {e}");
    assert_eq!(e.status, status, "status of {e}");
    assert_eq!(e.message, message);
}
