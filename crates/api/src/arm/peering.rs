//! Virtual network peerings: one link, from the VNet in the path to `remoteVirtualNetwork`.

use vnetlab_engine::{Operation, PeeringSpec};
use vnetlab_model::{AzureError, ResourceId};

use super::Query;
use crate::body::At;

pub fn peering(id: ResourceId, root: &At<'_>, query: Query<'_>) -> Result<Operation, AzureError> {
    let p = root.properties()?;
    // [gap] Azure's answer to a link without a remote was not found.
    let remote = match p.reference("remoteVirtualNetwork")? {
        Some(remote) => remote,
        None => return Err(crate::errors::required_property(p.path(), "remoteVirtualNetwork")),
    };
    let mut spec = PeeringSpec::new(remote);
    let flag = |name: &str, default: bool| -> Result<bool, AzureError> { Ok(p.bool(name)?.unwrap_or(default)) };
    spec.allow_virtual_network_access = flag("allowVirtualNetworkAccess", false)?;
    spec.allow_forwarded_traffic = flag("allowForwardedTraffic", false)?;
    spec.allow_gateway_transit = flag("allowGatewayTransit", false)?;
    spec.use_remote_gateways = flag("useRemoteGateways", false)?;
    spec.do_not_verify_remote_gateways = flag("doNotVerifyRemoteGateways", false)?;
    spec.peer_complete_vnets = flag("peerCompleteVnets", true)?;
    spec.enable_only_ipv6_peering = flag("enableOnlyIPv6Peering", false)?;
    spec.local_subnet_names = p.strings("localSubnetNames")?.unwrap_or_default();
    spec.remote_subnet_names = p.strings("remoteSubnetNames")?.unwrap_or_default();
    Ok(Operation::PeeringPut { id, spec, sync_remote_address_space: query.sync_remote_address_space })
}
