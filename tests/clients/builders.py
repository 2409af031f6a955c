"""Request bodies and setup steps through the SDK, shared by the SDK and az tests.

Setup steps poll with NoWaitPolling: in async mode they still go through the whole long-running
operation, only without Retry-After's one-second pauses, which tests keep for the operations they
are about.
"""

from __future__ import annotations

from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.network import models as n

from conftest import LOCATION, SUBSCRIPTION


def arm_id(rg: str, *types_and_names: str, namespace: str = "Microsoft.Network") -> str:
    """`/subscriptions/…/resourceGroups/rg/providers/<ns>/<type>/<name>[/<type>/<name>]`."""
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/{namespace}/" + "/".join(types_and_names)


class NoWaitPolling(ARMPolling):
    """ARM polling without the Retry-After pauses. It still polls to a terminal status; setup steps
    use it so that async mode spends its seconds on the operations a test is about."""

    def _sleep(self, delay: float) -> None:
        pass


def quick() -> dict:
    """Keyword arguments for a setup LRO: a fresh NoWaitPolling."""
    return {"polling": NoWaitPolling()}


def vnet_body(*prefixes: str, subnets: dict[str, str] | None = None, **extra) -> n.VirtualNetwork:
    return n.VirtualNetwork(
        location=LOCATION,
        address_space=n.AddressSpace(address_prefixes=list(prefixes)),
        subnets=[n.Subnet(name=k, address_prefix=v) for k, v in (subnets or {}).items()],
        **extra,
    )


def make_vnet(network, rg: str, name: str, *prefixes: str, subnets: dict[str, str] | None = None):
    body = vnet_body(*prefixes, subnets=subnets)
    return network.virtual_networks.begin_create_or_update(rg, name, body, **quick()).result()


def peer(network, rg: str, vnet: str, name: str, remote_id: str, polling=True, **flags):
    """Starts creating the link `vnet` -> `remote_id`; returns the poller."""
    body = n.VirtualNetworkPeering(
        remote_virtual_network=n.SubResource(id=remote_id), allow_virtual_network_access=True, **flags
    )
    return network.virtual_network_peerings.begin_create_or_update(rg, vnet, name, body, polling=polling)


def make_nic(network, rg: str, name: str, subnet_id: str, **ipconfig):
    config = n.NetworkInterfaceIPConfiguration(name="ipconfig1", subnet=n.Subnet(id=subnet_id), **ipconfig)
    body = n.NetworkInterface(location=LOCATION, ip_configurations=[config])
    return network.network_interfaces.begin_create_or_update(rg, name, body, **quick()).result()


def make_pip(network, rg: str, name: str):
    body = n.PublicIPAddress(
        location=LOCATION, sku=n.PublicIPAddressSku(name="Standard"), public_ip_allocation_method="Static"
    )
    return network.public_ip_addresses.begin_create_or_update(rg, name, body, **quick()).result()


def local_gateway_body(address: str = "203.0.113.10", prefix: str = "192.168.0.0/16") -> n.LocalNetworkGateway:
    return n.LocalNetworkGateway(
        location=LOCATION,
        gateway_ip_address=address,
        local_network_address_space=n.AddressSpace(address_prefixes=[prefix]),
    )


def ipsec_body(vng_id: str, lng_id: str, shared_key: str, **extra) -> n.VirtualNetworkGatewayConnection:
    return n.VirtualNetworkGatewayConnection(
        location=LOCATION,
        connection_type="IPsec",
        virtual_network_gateway1=n.VirtualNetworkGateway(id=vng_id),
        local_network_gateway2=n.LocalNetworkGateway(id=lng_id),
        shared_key=shared_key,
        **extra,
    )


def vm_body(nic_id: str, **extra):
    """A small Linux VM on one NIC, with every profile vnetlab stores."""
    from azure.mgmt.compute import models as c

    return c.VirtualMachine(
        location=LOCATION,
        hardware_profile=c.HardwareProfile(vm_size="Standard_B1s"),
        storage_profile=c.StorageProfile(
            image_reference=c.ImageReference(
                publisher="Canonical", offer="ubuntu-24_04-lts", sku="server", version="latest"
            ),
            os_disk=c.OSDisk(create_option="FromImage", name="vm1-os"),
        ),
        os_profile=c.OSProfile(computer_name="vm1", admin_username="azureuser", admin_password="Never-Returned-1"),
        network_profile=c.NetworkProfile(network_interfaces=[c.NetworkInterfaceReference(id=nic_id, primary=True)]),
        **extra,
    )
