//! `vnetlab vnet peering ...`, in the spirit of `az network vnet peering`.

use clap::Subcommand;
use serde_json::Value;
use vnetlab_control::Request;
use vnetlab_engine::{Operation, PeeringSpec};
use vnetlab_model::arm::render;
use vnetlab_model::{AzureError, Kind, ResourceId, State, View, ViewExt};

use crate::output;
use crate::{Env, Failure, Result};

#[derive(Subcommand)]
pub enum PeeringCommand {
    /// List the peerings of a virtual network
    List {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(long)]
        vnet_name: String,
    },
    /// Show a peering
    Show {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(long)]
        vnet_name: String,
        #[arg(short = 'n', long)]
        name: String,
    },
    /// Create a peering link from a virtual network to a remote one
    Create {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(long)]
        vnet_name: String,
        #[arg(short = 'n', long)]
        name: String,
        /// The remote virtual network: a name in the same resource group, or a resource id
        #[arg(long)]
        remote_vnet: String,
        #[command(flatten)]
        flags: Flags,
    },
    /// Update a peering: `--set allowForwardedTraffic=true` and the flags of `create`
    Update {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(long)]
        vnet_name: String,
        #[arg(short = 'n', long)]
        name: String,
        /// PROPERTY=VALUE, with the peering's property names
        #[arg(long, value_name = "PROPERTY=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        flags: Flags,
    },
    /// Delete a peering link (the other side becomes Disconnected)
    Delete {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(long)]
        vnet_name: String,
        #[arg(short = 'n', long)]
        name: String,
    },
    /// Sync a peering with the remote virtual network's current address space
    Sync {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(long)]
        vnet_name: String,
        #[arg(short = 'n', long)]
        name: String,
    },
}

/// The peering options, as az spells them. A flag alone means true.
#[derive(clap::Args, Default)]
pub struct Flags {
    /// Allow access from the local VNet to the remote one
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    allow_vnet_access: Option<bool>,
    /// Allow traffic forwarded from outside the remote VNet
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    allow_forwarded_traffic: Option<bool>,
    /// Let the remote VNet use this VNet's gateway
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    allow_gateway_transit: Option<bool>,
    /// Use the remote VNet's gateway
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    use_remote_gateways: Option<bool>,
    /// Peer whole VNets (true) or only the named subnets (false)
    #[arg(long, value_name = "BOOL")]
    peer_complete_vnets: Option<bool>,
    #[arg(long, num_args = 1.., value_name = "NAME")]
    local_subnet_names: Option<Vec<String>>,
    #[arg(long, num_args = 1.., value_name = "NAME")]
    remote_subnet_names: Option<Vec<String>>,
    /// Peer only the IPv6 space of the subnets
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    enable_only_ipv6: Option<bool>,
}

impl PeeringCommand {
    pub fn writes(&self) -> bool {
        !matches!(self, PeeringCommand::List { .. } | PeeringCommand::Show { .. })
    }
}

impl Flags {
    fn apply(&self, spec: &mut PeeringSpec) {
        let set = |target: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *target = v;
            }
        };
        set(&mut spec.allow_virtual_network_access, self.allow_vnet_access);
        set(&mut spec.allow_forwarded_traffic, self.allow_forwarded_traffic);
        set(&mut spec.allow_gateway_transit, self.allow_gateway_transit);
        set(&mut spec.use_remote_gateways, self.use_remote_gateways);
        set(&mut spec.peer_complete_vnets, self.peer_complete_vnets);
        set(&mut spec.enable_only_ipv6_peering, self.enable_only_ipv6);
        if let Some(names) = &self.local_subnet_names {
            spec.local_subnet_names = names.clone();
        }
        if let Some(names) = &self.remote_subnet_names {
            spec.remote_subnet_names = names.clone();
        }
    }
}

fn vnet_id(env: &Env, group: &str, vnet: &str) -> std::result::Result<ResourceId, AzureError> {
    env.group(group)?
        .top_level(Kind::VirtualNetwork, vnet)
        .map_err(|_| vnetlab_engine::errors::invalid_resource_name(vnet))
}

/// The VNet must exist for anything under it.
fn require_vnet(env: &Env, group: &str, vnet: &ResourceId) -> Result<()> {
    let (group_exists, vnet_exists) =
        env.lab.read(|s| (vnet.resource_group_id().is_some_and(|g| s.exists(&g)), s.exists(vnet)))?;
    if !group_exists {
        return Err(vnetlab_engine::errors::resource_group_not_found(group).into());
    }
    if !vnet_exists {
        return Err(vnetlab_engine::errors::resource_not_found(vnet).into());
    }
    Ok(())
}

/// The id of link `name` under VNet `vnet_name`; with `vnet_must_exist`, a missing group or VNet is
/// reported as ARM reports it.
fn link_id(env: &Env, group: &str, vnet_name: &str, name: &str, vnet_must_exist: bool) -> Result<ResourceId> {
    let vnet = vnet_id(env, group, vnet_name)?;
    if vnet_must_exist {
        require_vnet(env, group, &vnet)?;
    }
    Ok(vnet
        .child(Kind::VirtualNetworkPeering, name)
        .map_err(|_| vnetlab_engine::errors::invalid_resource_name(name))?)
}

fn rendered(env: &Env, id: &ResourceId) -> Result<Value> {
    env.lab
        .read(|s| {
            vnetlab_engine::authorization::check_read(s, &env.caller, id)
                .map(|()| s.get(id).map(|stored| render(s, stored)))
        })??
        .ok_or_else(|| Failure::Azure(vnetlab_engine::errors::not_found(id)))
}

fn print_one(env: &Env, body: &Value) -> Result<()> {
    output::print(env.format, body, || output::default_table(std::slice::from_ref(body)))?;
    Ok(())
}

/// The spec an existing link has, to update it.
fn current_spec(state: &State, id: &ResourceId) -> Result<PeeringSpec> {
    let link = state.peering(id).cloned().ok_or_else(|| Failure::Azure(vnetlab_engine::errors::not_found(id)))?;
    let p = link.properties;
    let mut spec = PeeringSpec::new(p.remote_virtual_network.id);
    spec.allow_virtual_network_access = p.allow_virtual_network_access;
    spec.allow_forwarded_traffic = p.allow_forwarded_traffic;
    spec.allow_gateway_transit = p.allow_gateway_transit;
    spec.use_remote_gateways = p.use_remote_gateways;
    spec.do_not_verify_remote_gateways = p.do_not_verify_remote_gateways;
    spec.peer_complete_vnets = p.peer_complete_vnets;
    spec.enable_only_ipv6_peering = p.enable_only_ipv6_peering;
    spec.local_subnet_names = p.local_subnet_names;
    spec.remote_subnet_names = p.remote_subnet_names;
    Ok(spec)
}

fn set_property(spec: &mut PeeringSpec, assignment: &str) -> anyhow::Result<()> {
    let Some((key, value)) = assignment.split_once('=') else {
        anyhow::bail!("--set takes PROPERTY=VALUE, not '{assignment}'");
    };
    let key = key.trim().trim_start_matches("properties.");
    let flag = || -> anyhow::Result<bool> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => anyhow::bail!("{key} takes true or false, not '{other}'"),
        }
    };
    match key {
        "allowVirtualNetworkAccess" => spec.allow_virtual_network_access = flag()?,
        "allowForwardedTraffic" => spec.allow_forwarded_traffic = flag()?,
        "allowGatewayTransit" => spec.allow_gateway_transit = flag()?,
        "useRemoteGateways" => spec.use_remote_gateways = flag()?,
        "doNotVerifyRemoteGateways" => spec.do_not_verify_remote_gateways = flag()?,
        "peerCompleteVnets" => spec.peer_complete_vnets = flag()?,
        "enableOnlyIPv6Peering" => spec.enable_only_ipv6_peering = flag()?,
        other => anyhow::bail!(
            "'{other}' cannot be set; settable properties: allowVirtualNetworkAccess, allowForwardedTraffic, allowGatewayTransit, useRemoteGateways, doNotVerifyRemoteGateways, peerCompleteVnets, enableOnlyIPv6Peering"
        ),
    }
    Ok(())
}

/// Puts the link with the spec `spec` makes from the current state, in the same transaction: a
/// concurrent change to another property of the link is kept, not overwritten.
fn put(env: &Env, id: &ResourceId, sync: bool, spec: impl FnOnce(&State) -> Result<PeeringSpec>) -> Result<()> {
    let request = Request { caller: Some(&env.caller), ..Request::default() };
    env.lab.execute_planned(&request, |state| {
        let op = Operation::PeeringPut { id: id.clone(), spec: spec(state)?, sync_remote_address_space: sync };
        Ok((vec![op], ()))
    })?;
    print_one(env, &rendered(env, id)?)
}

pub fn run(env: &Env, command: PeeringCommand) -> Result<()> {
    match command {
        PeeringCommand::List { resource_group, vnet_name } => {
            let vnet = vnet_id(env, &resource_group, &vnet_name)?;
            require_vnet(env, &resource_group, &vnet)?;
            let bodies: Vec<Value> = env.lab.read(|s| {
                vnetlab_engine::authorization::check_read(s, &env.caller, &vnet).map(|()| {
                    s.children_of(&vnet, Kind::VirtualNetworkPeering).into_iter().map(|p| render(s, p)).collect()
                })
            })??;
            output::print(env.format, &Value::Array(bodies.clone()), || output::default_table(&bodies))?;
            Ok(())
        }
        PeeringCommand::Show { resource_group, vnet_name, name } => {
            let id = link_id(env, &resource_group, &vnet_name, &name, true)?;
            print_one(env, &rendered(env, &id)?)
        }
        PeeringCommand::Create { resource_group, vnet_name, name, remote_vnet, flags } => {
            let id = link_id(env, &resource_group, &vnet_name, &name, false)?;
            // As az: a bare name is a VNet in the same resource group.
            let remote = if remote_vnet.starts_with('/') {
                vnetlab_engine::input::parse_resource_id(&remote_vnet, "properties.remoteVirtualNetwork.id")?
            } else {
                vnet_id(env, &resource_group, &remote_vnet)?
            };
            let mut spec = PeeringSpec::new(remote);
            flags.apply(&mut spec);
            put(env, &id, false, |_| Ok(spec))
        }
        PeeringCommand::Update { resource_group, vnet_name, name, set, flags } => {
            let id = link_id(env, &resource_group, &vnet_name, &name, true)?;
            put(env, &id, false, |state| {
                let mut spec = current_spec(state, &id)?;
                for assignment in &set {
                    set_property(&mut spec, assignment)?;
                }
                flags.apply(&mut spec);
                Ok(spec)
            })
        }
        PeeringCommand::Delete { resource_group, vnet_name, name } => {
            let id = link_id(env, &resource_group, &vnet_name, &name, false)?;
            let request = Request { caller: Some(&env.caller), ..Request::default() };
            env.lab.execute_with(&[Operation::PeeringDelete { id }], &request)?;
            Ok(())
        }
        PeeringCommand::Sync { resource_group, vnet_name, name } => {
            let id = link_id(env, &resource_group, &vnet_name, &name, true)?;
            put(env, &id, true, |state| current_spec(state, &id))
        }
    }
}
