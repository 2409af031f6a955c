"""The Azure SDK for Python (azure-mgmt-network, -resource, -compute) against `vnetlab serve`.

Every test runs twice, once per server LRO mode (`server` is parametrized in conftest): in `sync`
mode a write answers once, finished; in `async` mode it answers `Updating` and the SDK's poller
must go through Azure-AsyncOperation (or Location) polling. `expect_lro` checks which happened,
from the exchanges the clients recorded. Setup steps use builders.quick() (polling without the
Retry-After pauses); the operation a test is about uses the SDK's own poller.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.network import models as n
from azure.mgmt.resource import SubscriptionClient

from builders import (
    arm_id,
    ipsec_body,
    local_gateway_body,
    make_nic,
    make_pip,
    make_vnet,
    peer,
    quick,
    vm_body,
    vnet_body,
)
from conftest import (
    LOCATION,
    PAGE_SIZE,
    SUBSCRIPTION,
    TENANT,
    Clients,
    Exchange,
    Server,
    ServerToken,
    Wire,
    client_options,
    sdk_clients,
)


# ---- helpers ------------------------------------------------------------------------------------

ETAG = re.compile(r'^W/"[0-9a-f-]{36}"$')
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def same_id(a: str | None, b: str | None) -> bool:
    """ARM compares ids case-insensitively."""
    return a is not None and b is not None and a.lower() == b.lower()


def ids(items) -> list[str]:
    return sorted(i.id.lower() for i in items or [])


def is_operation(e: Exchange) -> bool:
    p = e.path.lower()
    return "/operations/" in p or "/operationresults/" in p


def expect_lro(server: Server, exchanges: list[Exchange], method: str = "PUT") -> Exchange:
    """Asserts how the write in `exchanges` completed, and returns its first answer.

    sync: one answer, already final (PUT 200/201 Succeeded, DELETE 200/204), and no polling.
    async: PUT 200/201 `Updating` (DELETE/POST 202) with Azure-AsyncOperation or Location and
    Retry-After, then polls that report InProgress and later Succeeded.
    """
    trace = "\n".join(map(str, exchanges))
    writes = [e for e in exchanges if e.method == method and not is_operation(e)]
    assert writes, f"no {method} in:\n{trace}"
    first = writes[0]
    polls = [e for e in exchanges if is_operation(e)]
    if not server.is_async:
        if method == "PUT":
            assert first.status in (200, 201), trace
            assert first.body["properties"]["provisioningState"] == "Succeeded", trace
        elif method == "DELETE" and first.status == 202:
            # Some deletes only have 202/204 in the spec; a 202 must still say where its outcome is.
            assert "location" in first.headers or "azure-asyncoperation" in first.headers, trace
            assert all(p.status in (200, 204) or p.body == {"status": "Succeeded"} for p in polls), trace
            return first
        elif method == "DELETE":
            assert first.status in (200, 204), trace
        assert not polls, f"sync mode must not need polling:\n{trace}"
        return first
    assert first.headers.get("retry-after") == "1", f"async answers carry Retry-After: 1\n{trace}"
    if method in ("PUT", "PATCH"):
        assert first.status in (200, 201), trace
        assert first.body["properties"]["provisioningState"] in ("Updating", "Creating"), trace
        assert "azure-asyncoperation" in first.headers, trace
    else:
        assert first.status == 202, trace
        assert "azure-asyncoperation" in first.headers or "location" in first.headers, trace
    statuses = [p.body.get("status") for p in polls if isinstance(p.body, dict) and "status" in p.body]
    # Each answer that says "not yet" must say when to ask again; without it az waits 30 s.
    for p in polls:
        if p.status == 202 or (isinstance(p.body, dict) and p.body.get("status") == "InProgress"):
            assert p.headers.get("retry-after") == "1", f"no Retry-After on a running poll:\n{trace}"
    if "azure-asyncoperation" in first.headers:
        assert statuses[:1] == ["InProgress"] and statuses[-1] == "Succeeded", f"polls: {statuses}\n{trace}"
    else:
        codes = [p.status for p in polls]
        assert codes[:1] == [202] and codes[-1] in (200, 204), f"Location polls: {codes}\n{trace}"
    return first


def done(poller, server: Server, wire: Wire, method: str = "PUT"):
    """Waits for a poller, checks the exchanges it made, returns its result."""
    result = poller.result()
    expect_lro(server, wire.take(), method)
    return result


def prefixes(space) -> list[str]:
    return sorted(space.address_prefixes) if space else []


def error_code(exc: HttpResponseError) -> str | None:
    return exc.error.code if exc.error else None


def raw(client, method: str, path: str, *, json=None, content=None, headers=None, api: str = "2026-03-01"):
    """A request through the client's own pipeline (auth, TLS), for what no operation exposes."""
    sep = "&" if "?" in path else "?"
    request = HttpRequest(method, f"{path}{sep}api-version={api}", json=json, content=content, headers=headers)
    return client.send_request(request)


# ---- resource groups ----------------------------------------------------------------------------


def test_resource_group_lifecycle(server, resources, wire):
    name = f"rg-life-{server.mode}"
    created = resources.resource_groups.create_or_update(name, {"location": LOCATION, "tags": {"a": "1"}})
    first = wire.take()
    assert [e.status for e in first if e.method == "PUT"] == [201]
    assert created.name == name and created.location == LOCATION
    assert created.id == f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}"
    assert created.type == "Microsoft.Resources/resourceGroups"
    assert created.properties.provisioning_state == "Succeeded"
    assert created.tags == {"a": "1"}

    again = resources.resource_groups.create_or_update(name, {"location": LOCATION, "tags": {"a": "2"}})
    assert [e.status for e in wire.take() if e.method == "PUT"] == [200]
    assert again.tags == {"a": "2"}

    assert resources.resource_groups.check_existence(name) is True
    assert resources.resource_groups.get(name).tags == {"a": "2"}
    patched = resources.resource_groups.update(name, {"tags": {"b": "x"}})
    assert patched.tags == {"b": "x"} and patched.location == LOCATION
    assert name in [g.name for g in resources.resource_groups.list()]
    wire.take()

    poller = resources.resource_groups.begin_delete(name)
    poller.result()
    exchanges = wire.take()
    first = expect_lro(server, exchanges, "DELETE")
    if server.is_async:
        assert first.status == 202 and "location" in first.headers
    assert resources.resource_groups.check_existence(name) is False
    with pytest.raises(ResourceNotFoundError) as e:
        resources.resource_groups.get(name)
    assert error_code(e.value) == "ResourceGroupNotFound"
    assert name not in [g.name for g in resources.resource_groups.list()]


def test_subscriptions_and_tenants(server, wire):
    client = SubscriptionClient(ServerToken(server), **client_options(server, wire))
    [subscription] = client.subscriptions.list()
    assert (subscription.subscription_id, subscription.tenant_id) == (SUBSCRIPTION, TENANT)
    assert subscription.id == f"/subscriptions/{SUBSCRIPTION}" and subscription.state == "Enabled"
    assert client.subscriptions.get(SUBSCRIPTION).display_name == subscription.display_name
    assert [t.tenant_id for t in client.tenants.list()] == [TENANT]
    with pytest.raises(HttpResponseError) as e:
        client.subscriptions.get("00000000-0000-0000-0000-00000000ffff")
    assert e.value.status_code == 404 and error_code(e.value) == "SubscriptionNotFound"


def test_resource_group_in_another_location_is_a_conflict(resources, rg):
    with pytest.raises(ResourceExistsError) as e:
        resources.resource_groups.create_or_update(rg, {"location": "eastus"})
    assert e.value.status_code == 409
    assert error_code(e.value) == "InvalidResourceGroupLocation"


def test_resource_group_delete_takes_its_resources(server, resources, network, rg):
    make_vnet(network, rg, "v", "10.0.0.0/16")
    resources.resource_groups.begin_delete(rg).result()
    with pytest.raises(ResourceNotFoundError) as e:
        network.virtual_networks.get(rg, "v")
    assert error_code(e.value) == "ResourceGroupNotFound"


# ---- virtual networks ---------------------------------------------------------------------------


def test_vnet_lifecycle(server, network, wire, rg):
    poller = network.virtual_networks.begin_create_or_update(
        rg, "SalesVNet", vnet_body("10.1.0.0/16", subnets={"Apps": "10.1.1.0/24"}, tags={"team": "sales"})
    )
    vnet = done(poller, server, wire)
    assert vnet.id == arm_id(rg, "virtualNetworks", "SalesVNet")
    assert vnet.name == "SalesVNet" and vnet.type == "Microsoft.Network/virtualNetworks"
    assert vnet.location == LOCATION and vnet.tags == {"team": "sales"}
    assert vnet.provisioning_state == "Succeeded"
    assert GUID.match(vnet.resource_guid) and ETAG.match(vnet.etag)
    assert prefixes(vnet.address_space) == ["10.1.0.0/16"]
    [apps] = vnet.subnets
    assert apps.id == arm_id(rg, "virtualNetworks", "SalesVNet", "subnets", "Apps")
    assert apps.type == "Microsoft.Network/virtualNetworks/subnets"
    assert apps.address_prefix == "10.1.1.0/24" and apps.provisioning_state == "Succeeded"
    # The spec's defaults, filled in by the service.
    assert (apps.private_endpoint_network_policies, apps.private_link_service_network_policies) == (
        "Disabled",
        "Enabled",
    )
    # As in Azure's own recordings: enableDdosProtection comes back false, dhcpOptions only if sent.
    assert vnet.enable_ddos_protection is False and vnet.dhcp_options is None
    assert vnet.virtual_network_peerings == []

    got = network.virtual_networks.get(rg, "SalesVNet")
    assert got.as_dict() == vnet.as_dict()
    # ARM matches names case-insensitively and answers with the stored spelling.
    assert network.virtual_networks.get(rg.upper(), "salesvnet").name == "SalesVNet"
    assert [v.name for v in network.virtual_networks.list(rg)] == ["SalesVNet"]
    assert vnet.id.lower() in [v.id.lower() for v in network.virtual_networks.list_all()]
    wire.take()

    # A PUT is the whole desired state: a second prefix, the same subnet.
    grown = done(
        network.virtual_networks.begin_create_or_update(
            rg, "SalesVNet", vnet_body("10.1.0.0/16", "10.5.0.0/16", subnets={"Apps": "10.1.1.0/24"})
        ),
        server,
        wire,
    )
    assert prefixes(grown.address_space) == ["10.1.0.0/16", "10.5.0.0/16"]
    assert grown.resource_guid == vnet.resource_guid and grown.etag != vnet.etag
    assert [s.name for s in grown.subnets] == ["Apps"]

    done(network.virtual_networks.begin_delete(rg, "SalesVNet"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError) as e:
        network.virtual_networks.get(rg, "SalesVNet")
    assert error_code(e.value) == "ResourceNotFound"
    assert list(network.virtual_networks.list(rg)) == []


def test_vnet_check_ip_address_availability_and_usage(network, rg):
    make_vnet(network, rg, "v", "10.1.0.0/16", subnets={"a": "10.1.1.0/24"})
    subnet = network.subnets.get(rg, "v", "a")
    nic = make_nic(network, rg, "nic1", subnet.id)
    used = nic.ip_configurations[0].private_ip_address

    taken = network.virtual_networks.check_ip_address_availability(rg, "v", ip_address=used)
    assert taken.available is False
    assert taken.available_ip_addresses and used not in taken.available_ip_addresses
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.1.1.0/24") for a in taken.available_ip_addresses)

    free = network.virtual_networks.check_ip_address_availability(rg, "v", ip_address="10.1.1.100")
    assert free.available is True

    [usage] = network.virtual_networks.list_usage(rg, "v")
    assert same_id(usage.id, subnet.id)
    assert usage.unit == "Count"
    # Azure keeps five addresses of every subnet: a /24 offers 251.
    assert (usage.current_value, usage.limit) == (1, 251)


def test_vnet_rejects_bad_prefixes(network, rg):
    with pytest.raises(HttpResponseError) as e:
        make_vnet(network, rg, "v", "10.1.0.0/16", subnets={"a": "10.2.0.0/24"})
    assert e.value.status_code == 400 and error_code(e.value) == "NetcfgSubnetRangeOutsideVnet"

    with pytest.raises(HttpResponseError) as e:
        make_vnet(network, rg, "v", "10.1.0.0/16", subnets={"a": "10.1.0.0/24", "b": "10.1.0.128/25"})
    assert e.value.status_code == 400 and error_code(e.value) == "NetcfgSubnetRangesOverlap"

    with pytest.raises(HttpResponseError) as e:
        make_vnet(network, rg, "v", "10.1.0.1/16")
    assert e.value.status_code == 400 and error_code(e.value) == "InvalidCIDRNotation"


# ---- subnets, NSGs, route tables ----------------------------------------------------------------


def test_subnet_lifecycle_with_nsg_and_route_table(server, network, wire, rg):
    make_vnet(network, rg, "v", "10.1.0.0/16")
    nsg = network.network_security_groups.begin_create_or_update(
        rg, "nsg", n.NetworkSecurityGroup(location=LOCATION), **quick()
    ).result()
    rt = network.route_tables.begin_create_or_update(rg, "rt", n.RouteTable(location=LOCATION), **quick()).result()
    wire.take()

    subnet = done(
        network.subnets.begin_create_or_update(
            rg,
            "v",
            "web",
            n.Subnet(
                address_prefix="10.1.2.0/24",
                network_security_group=n.NetworkSecurityGroup(id=nsg.id),
                route_table=n.RouteTable(id=rt.id),
            ),
        ),
        server,
        wire,
    )
    assert subnet.id == arm_id(rg, "virtualNetworks", "v", "subnets", "web")
    assert subnet.type == "Microsoft.Network/virtualNetworks/subnets"
    assert subnet.address_prefix == "10.1.2.0/24"
    assert same_id(subnet.network_security_group.id, nsg.id) and same_id(subnet.route_table.id, rt.id)
    assert subnet.provisioning_state == "Succeeded" and ETAG.match(subnet.etag)

    assert network.subnets.get(rg, "v", "web").as_dict() == subnet.as_dict()
    assert [s.name for s in network.subnets.list(rg, "v")] == ["web"]
    assert ids(network.virtual_networks.get(rg, "v").subnets) == [subnet.id.lower()]
    assert ids(network.network_security_groups.get(rg, "nsg").subnets) == [subnet.id.lower()]
    assert ids(network.route_tables.get(rg, "rt").subnets) == [subnet.id.lower()]

    # Azure refuses to delete what a subnet still uses.
    with pytest.raises(HttpResponseError) as e:
        network.network_security_groups.begin_delete(rg, "nsg").result()
    assert error_code(e.value) == "InUseNetworkSecurityGroupCannotBeDeleted"
    with pytest.raises(HttpResponseError) as e:
        network.route_tables.begin_delete(rg, "rt").result()
    assert error_code(e.value) == "InUseRouteTableCannotBeDeleted"
    wire.take()

    bare = done(
        network.subnets.begin_create_or_update(rg, "v", "web", n.Subnet(address_prefix="10.1.2.0/24")), server, wire
    )
    assert bare.network_security_group is None and bare.route_table is None
    assert not network.network_security_groups.get(rg, "nsg").subnets
    assert not network.route_tables.get(rg, "rt").subnets
    wire.take()

    done(network.subnets.begin_delete(rg, "v", "web"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError) as e:
        network.subnets.get(rg, "v", "web")
    assert error_code(e.value) == "NotFound"
    assert network.virtual_networks.get(rg, "v").subnets == []


def test_subnet_outside_the_vnet_is_refused(network, rg):
    make_vnet(network, rg, "v", "10.1.0.0/16")
    with pytest.raises(HttpResponseError) as e:
        network.subnets.begin_create_or_update(rg, "v", "s", n.Subnet(address_prefix="10.9.0.0/24")).result()
    assert e.value.status_code == 400 and error_code(e.value) == "NetcfgSubnetRangeOutsideVnet"
    with pytest.raises(ResourceNotFoundError):
        network.subnets.begin_create_or_update(rg, "nope", "s", n.Subnet(address_prefix="10.9.0.0/24")).result()


DEFAULT_RULES = {
    ("Inbound", 65000): "AllowVnetInBound",
    ("Inbound", 65001): "AllowAzureLoadBalancerInBound",
    ("Inbound", 65500): "DenyAllInBound",
    ("Outbound", 65000): "AllowVnetOutBound",
    ("Outbound", 65001): "AllowInternetOutBound",
    ("Outbound", 65500): "DenyAllOutBound",
}


def ssh_rule(priority: int = 100, **overrides) -> n.SecurityRule:
    fields = dict(
        protocol="Tcp",
        access="Allow",
        direction="Inbound",
        priority=priority,
        source_address_prefix="*",
        source_port_range="*",
        destination_address_prefix="VirtualNetwork",
        destination_port_range="22",
    )
    fields.update(overrides)
    return n.SecurityRule(**fields)


def test_nsg_and_security_rules(server, network, wire, rg):
    inline = ssh_rule(100)
    inline.name = "ssh"
    nsg = done(
        network.network_security_groups.begin_create_or_update(
            rg, "nsg", n.NetworkSecurityGroup(location=LOCATION, security_rules=[inline], tags={"k": "v"})
        ),
        server,
        wire,
    )
    assert nsg.id == arm_id(rg, "networkSecurityGroups", "nsg")
    assert nsg.type == "Microsoft.Network/networkSecurityGroups" and nsg.provisioning_state == "Succeeded"
    assert GUID.match(nsg.resource_guid)
    defaults = {(r.direction, r.priority): r.name for r in nsg.default_security_rules}
    assert defaults == DEFAULT_RULES
    deny = next(r for r in nsg.default_security_rules if r.name == "DenyAllInBound")
    assert (deny.access, deny.protocol, deny.source_address_prefix, deny.destination_port_range) == (
        "Deny",
        "*",
        "*",
        "*",
    )
    assert deny.id == arm_id(rg, "networkSecurityGroups", "nsg", "defaultSecurityRules", "DenyAllInBound")
    [ssh] = nsg.security_rules
    assert ssh.name == "ssh" and ssh.priority == 100 and ssh.destination_port_range == "22"
    assert ssh.type == "Microsoft.Network/networkSecurityGroups/securityRules"

    listed_defaults = list(network.default_security_rules.list(rg, "nsg"))
    assert {(r.direction, r.priority): r.name for r in listed_defaults} == DEFAULT_RULES
    lb = network.default_security_rules.get(rg, "nsg", "AllowAzureLoadBalancerInBound")
    assert lb.source_address_prefix == "AzureLoadBalancer" and lb.access == "Allow"
    with pytest.raises(ResourceNotFoundError):
        network.default_security_rules.get(rg, "nsg", "NoSuchRule")
    wire.take()

    https = done(
        network.security_rules.begin_create_or_update(
            rg, "nsg", "https", ssh_rule(110, destination_port_ranges=["443", "8443"], destination_port_range=None)
        ),
        server,
        wire,
    )
    assert https.id == arm_id(rg, "networkSecurityGroups", "nsg", "securityRules", "https")
    assert sorted(https.destination_port_ranges) == ["443", "8443"] and https.provisioning_state == "Succeeded"
    assert network.security_rules.get(rg, "nsg", "https").as_dict() == https.as_dict()
    assert sorted(r.name for r in network.security_rules.list(rg, "nsg")) == ["https", "ssh"]

    # Two rules may not share a priority in one direction.
    with pytest.raises(HttpResponseError) as e:
        network.security_rules.begin_create_or_update(rg, "nsg", "dup", ssh_rule(110)).result()
    assert e.value.status_code == 400 and error_code(e.value) == "SecurityRuleConflict"
    # ... but may across directions.
    network.security_rules.begin_create_or_update(rg, "nsg", "out", ssh_rule(110, direction="Outbound")).result()
    wire.take()

    updated = done(
        network.security_rules.begin_create_or_update(rg, "nsg", "https", ssh_rule(120, access="Deny")),
        server,
        wire,
    )
    assert (updated.priority, updated.access) == (120, "Deny")
    done(network.security_rules.begin_delete(rg, "nsg", "https"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.get(rg, "nsg", "https")
    assert sorted(r.name for r in network.network_security_groups.get(rg, "nsg").security_rules) == ["out", "ssh"]

    # A PUT of the NSG is its whole rule set: "out" is not in it, so it goes.
    replaced = done(
        network.network_security_groups.begin_create_or_update(
            rg, "nsg", n.NetworkSecurityGroup(location=LOCATION, security_rules=[inline], tags={"k": "w"})
        ),
        server,
        wire,
    )
    assert [r.name for r in replaced.security_rules] == ["ssh"] and replaced.tags == {"k": "w"}
    assert replaced.resource_guid == nsg.resource_guid and len(replaced.default_security_rules) == 6
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.get(rg, "nsg", "out")

    assert [g.name for g in network.network_security_groups.list(rg)] == ["nsg"]
    assert nsg.id.lower() in [g.id.lower() for g in network.network_security_groups.list_all()]
    wire.take()
    done(network.network_security_groups.begin_delete(rg, "nsg"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.network_security_groups.get(rg, "nsg")


def test_security_rule_validation(network, rg):
    network.network_security_groups.begin_create_or_update(
        rg, "nsg", n.NetworkSecurityGroup(location=LOCATION), **quick()
    ).result()
    with pytest.raises(HttpResponseError) as e:
        network.security_rules.begin_create_or_update(rg, "nsg", "low", ssh_rule(99)).result()
    assert e.value.status_code == 400 and error_code(e.value) == "SecurityRuleInvalidPriority"
    with pytest.raises(HttpResponseError) as e:
        network.security_rules.begin_create_or_update(
            rg, "nsg", "ports", ssh_rule(200, destination_port_range="70000")
        ).result()
    assert e.value.status_code == 400 and error_code(e.value) == "SecurityRuleInvalidPortRange"


def test_route_tables_and_routes(server, network, wire, rg):
    rt = done(
        network.route_tables.begin_create_or_update(
            rg,
            "rt",
            n.RouteTable(
                location=LOCATION,
                disable_bgp_route_propagation=True,
                routes=[n.Route(name="internet", address_prefix="0.0.0.0/0", next_hop_type="Internet")],
            ),
        ),
        server,
        wire,
    )
    assert rt.id == arm_id(rg, "routeTables", "rt") and rt.type == "Microsoft.Network/routeTables"
    assert rt.disable_bgp_route_propagation is True and rt.provisioning_state == "Succeeded"
    [internet] = rt.routes
    assert internet.id == arm_id(rg, "routeTables", "rt", "routes", "internet")
    assert internet.type == "Microsoft.Network/routeTables/routes"
    assert (internet.address_prefix, internet.next_hop_type) == ("0.0.0.0/0", "Internet")

    nva = done(
        network.routes.begin_create_or_update(
            rg,
            "rt",
            "to-nva",
            n.Route(address_prefix="10.2.0.0/16", next_hop_type="VirtualAppliance", next_hop_ip_address="10.1.0.4"),
        ),
        server,
        wire,
    )
    assert (nva.next_hop_type, nva.next_hop_ip_address) == ("VirtualAppliance", "10.1.0.4")
    assert nva.provisioning_state == "Succeeded"
    assert network.routes.get(rg, "rt", "to-nva").as_dict() == nva.as_dict()
    assert sorted(r.name for r in network.routes.list(rg, "rt")) == ["internet", "to-nva"]

    # Two routes of a table may not have one destination.
    with pytest.raises(HttpResponseError) as e:
        network.routes.begin_create_or_update(
            rg, "rt", "again", n.Route(address_prefix="10.2.0.0/16", next_hop_type="None")
        ).result()
    assert e.value.status_code == 400 and error_code(e.value) == "RouteConflict"
    wire.take()

    blackhole = done(
        network.routes.begin_create_or_update(
            rg, "rt", "to-nva", n.Route(address_prefix="10.2.0.0/16", next_hop_type="None")
        ),
        server,
        wire,
    )
    assert blackhole.next_hop_type == "None" and blackhole.next_hop_ip_address is None
    done(network.routes.begin_delete(rg, "rt", "to-nva"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.routes.get(rg, "rt", "to-nva")

    assert [r.name for r in network.route_tables.get(rg, "rt").routes] == ["internet"]
    wire.take()
    body = n.RouteTable(location=LOCATION, disable_bgp_route_propagation=False, routes=[internet], tags={"x": "y"})
    updated = done(network.route_tables.begin_create_or_update(rg, "rt", body), server, wire)
    assert updated.disable_bgp_route_propagation is False and updated.tags == {"x": "y"}
    assert [r.name for r in updated.routes] == ["internet"] and updated.resource_guid == rt.resource_guid
    assert [t.name for t in network.route_tables.list(rg)] == ["rt"]
    assert rt.id.lower() in [t.id.lower() for t in network.route_tables.list_all()]
    wire.take()
    done(network.route_tables.begin_delete(rg, "rt"), server, wire, "DELETE")
    assert list(network.route_tables.list(rg)) == []


def test_virtual_appliance_route_needs_a_next_hop_address(network, rg):
    network.route_tables.begin_create_or_update(rg, "rt", n.RouteTable(location=LOCATION), **quick()).result()
    with pytest.raises(HttpResponseError) as e:
        network.routes.begin_create_or_update(
            rg, "rt", "r", n.Route(address_prefix="10.2.0.0/16", next_hop_type="VirtualAppliance")
        ).result()
    assert e.value.status_code == 400


# ---- peerings -----------------------------------------------------------------------------------


def test_peering_lifecycle(server, network, wire, rg):
    sales = make_vnet(network, rg, "SalesVNet", "10.1.0.0/16", subnets={"Apps": "10.1.1.0/24"})
    marketing = make_vnet(network, rg, "MarketingVNet", "10.2.0.0/16")
    wire.take()

    s2m = done(peer(network, rg, "SalesVNet", "SalesVNet-To-MarketingVNet", marketing.id), server, wire)
    assert s2m.id == arm_id(rg, "virtualNetworks", "SalesVNet", "virtualNetworkPeerings", "SalesVNet-To-MarketingVNet")
    assert s2m.type == "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
    assert (s2m.peering_state, s2m.peering_sync_level) == ("Initiated", "RemoteNotInSync")
    assert s2m.provisioning_state == "Succeeded" and ETAG.match(s2m.etag) and GUID.match(s2m.resource_guid)
    assert same_id(s2m.remote_virtual_network.id, marketing.id)
    assert s2m.allow_virtual_network_access is True
    assert (s2m.allow_forwarded_traffic, s2m.allow_gateway_transit, s2m.use_remote_gateways) == (False, False, False)
    assert s2m.peer_complete_vnets is True
    assert prefixes(s2m.remote_address_space) == ["10.2.0.0/16"]
    assert prefixes(s2m.remote_virtual_network_address_space) == ["10.2.0.0/16"]

    m2s = done(peer(network, rg, "MarketingVNet", "MarketingVNet-To-SalesVNet", sales.id), server, wire)
    assert (m2s.peering_state, m2s.peering_sync_level) == ("Connected", "FullyInSync")
    s2m = network.virtual_network_peerings.get(rg, "SalesVNet", "SalesVNet-To-MarketingVNet")
    assert (s2m.peering_state, s2m.peering_sync_level) == ("Connected", "FullyInSync")
    # The two links of a pair share one resourceGuid.
    assert m2s.resource_guid == s2m.resource_guid

    [listed] = network.virtual_network_peerings.list(rg, "SalesVNet")
    assert listed.as_dict() == s2m.as_dict()
    [embedded] = network.virtual_networks.get(rg, "SalesVNet").virtual_network_peerings
    assert embedded.name == "SalesVNet-To-MarketingVNet" and embedded.peering_state == "Connected"
    wire.take()

    # update: the SDK sends back what it read, read-only fields included.
    s2m.allow_forwarded_traffic = True
    updated = done(
        network.virtual_network_peerings.begin_create_or_update(rg, "SalesVNet", "SalesVNet-To-MarketingVNet", s2m),
        server,
        wire,
    )
    assert updated.allow_forwarded_traffic is True
    assert (updated.peering_state, updated.peering_sync_level) == ("Connected", "FullyInSync")
    assert updated.etag != s2m.etag

    # Resizing a peered VNet: its own link waits on the remote, the remote's link on itself.
    make_vnet(network, rg, "SalesVNet", "10.1.0.0/16", "10.11.0.0/16", subnets={"Apps": "10.1.1.0/24"})
    s2m = network.virtual_network_peerings.get(rg, "SalesVNet", "SalesVNet-To-MarketingVNet")
    m2s = network.virtual_network_peerings.get(rg, "MarketingVNet", "MarketingVNet-To-SalesVNet")
    assert (s2m.peering_state, s2m.peering_sync_level) == ("Connected", "RemoteNotInSync")
    assert (m2s.peering_state, m2s.peering_sync_level) == ("Connected", "LocalNotInSync")
    assert prefixes(m2s.remote_address_space) == ["10.1.0.0/16"]
    assert prefixes(m2s.remote_virtual_network_address_space) == ["10.1.0.0/16", "10.11.0.0/16"]
    wire.take()

    synced = done(
        network.virtual_network_peerings.begin_create_or_update(
            rg, "MarketingVNet", "MarketingVNet-To-SalesVNet", m2s, sync_remote_address_space="true"
        ),
        server,
        wire,
    )
    assert synced.peering_sync_level == "FullyInSync"
    assert prefixes(synced.remote_address_space) == ["10.1.0.0/16", "10.11.0.0/16"]
    s2m = network.virtual_network_peerings.get(rg, "SalesVNet", "SalesVNet-To-MarketingVNet")
    assert s2m.peering_sync_level == "FullyInSync"
    wire.take()

    done(
        network.virtual_network_peerings.begin_delete(rg, "SalesVNet", "SalesVNet-To-MarketingVNet"),
        server,
        wire,
        "DELETE",
    )
    with pytest.raises(ResourceNotFoundError) as e:
        network.virtual_network_peerings.get(rg, "SalesVNet", "SalesVNet-To-MarketingVNet")
    assert e.value.status_code == 404
    assert list(network.virtual_network_peerings.list(rg, "SalesVNet")) == []
    m2s = network.virtual_network_peerings.get(rg, "MarketingVNet", "MarketingVNet-To-SalesVNet")
    assert m2s.peering_state == "Disconnected"


def test_peering_deleted_with_its_vnet_leaves_the_remote_disconnected(network, rg):
    a = make_vnet(network, rg, "a", "10.1.0.0/16")
    b = make_vnet(network, rg, "b", "10.2.0.0/16")
    peer(network, rg, "a", "a2b", b.id, **quick()).result()
    peer(network, rg, "b", "b2a", a.id, **quick()).result()
    network.virtual_networks.begin_delete(rg, "a", **quick()).result()
    b2a = network.virtual_network_peerings.get(rg, "b", "b2a")
    assert b2a.peering_state == "Disconnected"
    assert network.virtual_networks.get(rg, "b").provisioning_state == "Succeeded"

    # A VNet of the same name is another VNet: the Disconnected link blocks a new reverse link.
    a = make_vnet(network, rg, "a", "10.1.0.0/16")
    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "a", "a2b", b.id, **quick()).result()
    assert e.value.status_code == 400 and error_code(e.value) == "RemotePeeringIsDisconnected"


def test_disconnected_peering_is_recreated(network, rg):
    a = make_vnet(network, rg, "a", "10.1.0.0/16")
    b = make_vnet(network, rg, "b", "10.2.0.0/16")
    peer(network, rg, "a", "a2b", b.id, **quick()).result()
    peer(network, rg, "b", "b2a", a.id, **quick()).result()
    network.virtual_network_peerings.begin_delete(rg, "a", "a2b", **quick()).result()
    assert network.virtual_network_peerings.get(rg, "b", "b2a").peering_state == "Disconnected"
    # Recovery: delete the Disconnected side too, then peer again from both sides.
    network.virtual_network_peerings.begin_delete(rg, "b", "b2a", **quick()).result()
    assert peer(network, rg, "b", "b2a", a.id, **quick()).result().peering_state == "Initiated"
    assert peer(network, rg, "a", "a2b", b.id, **quick()).result().peering_state == "Connected"
    assert network.virtual_network_peerings.get(rg, "b", "b2a").peering_state == "Connected"


def test_peering_rules(network, rg):
    a = make_vnet(network, rg, "a", "10.1.0.0/16")
    b = make_vnet(network, rg, "b", "10.2.0.0/16")
    overlapping = make_vnet(network, rg, "c", "10.1.128.0/17")

    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "a", "a2c", overlapping.id, **quick()).result()
    assert e.value.status_code == 400 and error_code(e.value) == "VnetAddressSpacesOverlap"
    assert "10.1.128.0/17" in e.value.error.message

    missing = arm_id(rg, "virtualNetworks", "nowhere")
    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "a", "a2x", missing, **quick()).result()
    assert e.value.status_code == 400 and error_code(e.value) == "InvalidGlobalResourceReference"

    peer(network, rg, "a", "a2b", b.id, **quick()).result()
    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "a", "a2b-again", b.id, **quick()).result()
    assert e.value.status_code == 400 and error_code(e.value) == "AnotherPeeringAlreadyReferencesRemoteVnet"

    # c overlaps a, which b already peers with.
    peer(network, rg, "b", "b2a", a.id, **quick()).result()
    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "c", "c2b", b.id, **quick()).result()
    assert error_code(e.value) == "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet"

    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "a", "a2b", overlapping.id, **quick()).result()
    assert error_code(e.value) == "ChangingRemoteVirtualNetworkNotAllowed"

    d = make_vnet(network, rg, "d", "10.4.0.0/16")
    with pytest.raises(HttpResponseError) as e:
        peer(network, rg, "d", "d2b", b.id, use_remote_gateways=True, **quick()).result()
    assert e.value.status_code == 400 and error_code(e.value) == "RemoteVnetHasNoGateways"

    with pytest.raises(ResourceNotFoundError):
        peer(network, rg, "nowhere", "x2b", b.id, **quick()).result()


# ---- NICs and public IPs ------------------------------------------------------------------------


def test_network_interface_lifecycle(server, network, wire, rg):
    make_vnet(network, rg, "v", "10.1.0.0/16", subnets={"a": "10.1.1.0/24"})
    subnet = network.subnets.get(rg, "v", "a")
    nsg = network.network_security_groups.begin_create_or_update(
        rg, "nsg", n.NetworkSecurityGroup(location=LOCATION), **quick()
    ).result()
    pip = make_pip(network, rg, "pip")
    wire.take()

    body = n.NetworkInterface(
        location=LOCATION,
        network_security_group=n.NetworkSecurityGroup(id=nsg.id),
        enable_ip_forwarding=True,
        ip_configurations=[
            n.NetworkInterfaceIPConfiguration(
                name="ipconfig1", subnet=n.Subnet(id=subnet.id), public_ip_address=n.PublicIPAddress(id=pip.id)
            )
        ],
    )
    nic = done(network.network_interfaces.begin_create_or_update(rg, "nic1", body), server, wire)
    assert nic.id == arm_id(rg, "networkInterfaces", "nic1")
    assert nic.type == "Microsoft.Network/networkInterfaces" and nic.provisioning_state == "Succeeded"
    assert nic.enable_ip_forwarding is True and GUID.match(nic.resource_guid)
    assert same_id(nic.network_security_group.id, nsg.id)
    [config] = nic.ip_configurations
    assert config.id == arm_id(rg, "networkInterfaces", "nic1", "ipConfigurations", "ipconfig1")
    # Azure keeps .0-.3 of every subnet: the first dynamic address is .4.
    assert (config.private_ip_allocation_method, config.private_ip_address) == ("Dynamic", "10.1.1.4")
    assert config.private_ip_address_version == "IPv4" and config.primary is True
    assert same_id(config.subnet.id, subnet.id) and same_id(config.public_ip_address.id, pip.id)

    assert network.network_interfaces.get(rg, "nic1").as_dict() == nic.as_dict()
    assert network.network_interface_ip_configurations.get(rg, "nic1", "ipconfig1").as_dict() == config.as_dict()
    assert [c.name for c in network.network_interface_ip_configurations.list(rg, "nic1")] == ["ipconfig1"]
    with pytest.raises(ResourceNotFoundError):
        network.network_interface_ip_configurations.get(rg, "nic1", "nope")

    # Back-references on what the NIC uses.
    assert ids(network.subnets.get(rg, "v", "a").ip_configurations) == [config.id.lower()]
    assert ids(network.network_security_groups.get(rg, "nsg").network_interfaces) == [nic.id.lower()]
    assert same_id(network.public_ip_addresses.get(rg, "pip").ip_configuration.id, config.id)

    second = make_nic(network, rg, "nic2", subnet.id)
    assert second.ip_configurations[0].private_ip_address == "10.1.1.5"
    # Update: pin nic2's address to another one.
    wire.take()
    second.ip_configurations[0].private_ip_allocation_method = "Static"
    second.ip_configurations[0].private_ip_address = "10.1.1.60"
    second = done(network.network_interfaces.begin_create_or_update(rg, "nic2", second), server, wire)
    assert second.ip_configurations[0].private_ip_address == "10.1.1.60"
    taken = network.virtual_networks.check_ip_address_availability(rg, "v", ip_address="10.1.1.5")
    assert taken.available is True
    def static(name: str, address: str):
        return make_nic(network, rg, name, subnet.id, private_ip_allocation_method="Static", private_ip_address=address)

    nic3 = static("nic3", "10.1.1.50")
    assert nic3.ip_configurations[0].private_ip_address == "10.1.1.50"
    assert nic3.ip_configurations[0].private_ip_allocation_method == "Static"
    for address, code in [
        ("10.1.1.50", "PrivateIPAddressIsAllocated"),
        ("10.1.1.2", "PrivateIPAddressInReservedRange"),
        ("10.1.2.9", "PrivateIPAddressNotInSubnet"),
    ]:
        with pytest.raises(HttpResponseError) as e:
            static("nic4", address)
        assert (e.value.status_code, error_code(e.value)) == (400, code), address

    with pytest.raises(HttpResponseError) as e:
        network.subnets.begin_delete(rg, "v", "a").result()
    assert e.value.status_code == 400 and error_code(e.value) == "InUseSubnetCannotBeDeleted"
    with pytest.raises(HttpResponseError) as e:
        network.virtual_networks.begin_delete(rg, "v").result()
    assert e.value.status_code == 400 and error_code(e.value) == "InUseSubnetCannotBeDeleted"
    with pytest.raises(HttpResponseError) as e:
        network.public_ip_addresses.begin_delete(rg, "pip").result()
    assert e.value.status_code == 400 and error_code(e.value) == "PublicIPAddressCannotBeDeleted"
    # A public IP serves one ip configuration at a time.
    with pytest.raises(HttpResponseError) as e:
        make_nic(network, rg, "nic4", subnet.id, public_ip_address=n.PublicIPAddress(id=pip.id))
    assert e.value.status_code == 400 and error_code(e.value) == "PublicIPAddressInUse"

    assert sorted(i.name for i in network.network_interfaces.list(rg)) == ["nic1", "nic2", "nic3"]
    assert nic.id.lower() in [i.id.lower() for i in network.network_interfaces.list_all()]
    wire.take()

    done(network.network_interfaces.begin_delete(rg, "nic1"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.network_interfaces.get(rg, "nic1")
    assert network.public_ip_addresses.get(rg, "pip").ip_configuration is None
    assert not network.network_security_groups.get(rg, "nsg").network_interfaces
    left = ids(network.subnets.get(rg, "v", "a").ip_configurations)
    assert config.id.lower() not in left and len(left) == 2
    # The freed address is the first one handed out again.
    assert make_nic(network, rg, "nic5", subnet.id).ip_configurations[0].private_ip_address == "10.1.1.4"


def test_public_ip_lifecycle(server, network, wire, rg):
    body = n.PublicIPAddress(
        location=LOCATION,
        sku=n.PublicIPAddressSku(name="Standard", tier="Regional"),
        public_ip_allocation_method="Static",
        idle_timeout_in_minutes=10,
        tags={"env": "lab"},
    )
    pip = done(network.public_ip_addresses.begin_create_or_update(rg, "pip", body), server, wire)
    assert pip.id == arm_id(rg, "publicIPAddresses", "pip")
    assert pip.type == "Microsoft.Network/publicIPAddresses" and pip.provisioning_state == "Succeeded"
    assert (pip.sku.name, pip.sku.tier) == ("Standard", "Regional")
    assert pip.public_ip_allocation_method == "Static" and pip.public_ip_address_version == "IPv4"
    assert pip.idle_timeout_in_minutes == 10 and GUID.match(pip.resource_guid)
    # A static address is allocated at once (a lab's is not routable, but never a private one).
    address = ipaddress.ip_address(pip.ip_address)
    assert address.version == 4
    assert not any(address in ipaddress.ip_network(p) for p in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    assert pip.ip_configuration is None

    assert network.public_ip_addresses.get(rg, "pip").as_dict() == pip.as_dict()
    assert [p.name for p in network.public_ip_addresses.list(rg)] == ["pip"]
    assert pip.id.lower() in [p.id.lower() for p in network.public_ip_addresses.list_all()]

    wire.take()
    body.idle_timeout_in_minutes = 15
    updated = done(network.public_ip_addresses.begin_create_or_update(rg, "pip", body), server, wire)
    assert updated.idle_timeout_in_minutes == 15 and updated.ip_address == pip.ip_address

    other = make_pip(network, rg, "pip2")
    assert other.ip_address != pip.ip_address

    with pytest.raises(HttpResponseError) as e:
        network.public_ip_addresses.begin_create_or_update(
            rg,
            "dyn",
            n.PublicIPAddress(
                location=LOCATION, sku=n.PublicIPAddressSku(name="Standard"), public_ip_allocation_method="Dynamic"
            ),
        ).result()
    assert e.value.status_code == 400 and error_code(e.value) == "StandardSkuPublicIPAddressesMustBeStatic"
    wire.take()

    done(network.public_ip_addresses.begin_delete(rg, "pip"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.public_ip_addresses.get(rg, "pip")


# ---- gateways and connections -------------------------------------------------------------------


def gateway_body(rg: str, subnet: str, pip_id: str):
    """A route-based VpnGw1 gateway in the hub VNet's `subnet`, on the public IP `pip_id`."""
    return n.VirtualNetworkGateway(
        location=LOCATION,
        gateway_type="Vpn",
        vpn_type="RouteBased",
        sku=n.VirtualNetworkGatewaySku(name="VpnGw1", tier="VpnGw1"),
        ip_configurations=[
            n.VirtualNetworkGatewayIPConfiguration(
                name="default",
                subnet=n.SubResource(id=arm_id(rg, "virtualNetworks", "hub", "subnets", subnet)),
                public_ip_address=n.SubResource(id=pip_id),
            )
        ],
    )


def make_gateway(network, wire: Wire, rg: str, name: str = "vng", **polling):
    """Starts creating a VPN gateway (with its hub VNet and public IP); returns the poller and the IP."""
    make_vnet(network, rg, "hub", "10.0.0.0/16", subnets={"GatewaySubnet": "10.0.255.0/27"})
    pip = make_pip(network, rg, f"{name}-pip")
    wire.take()
    body = gateway_body(rg, "GatewaySubnet", pip.id)
    return network.virtual_network_gateways.begin_create_or_update(rg, name, body, **polling), pip


def hub_id(rg: str) -> str:
    return arm_id(rg, "virtualNetworks", "hub")


def test_gateways_and_connections(server, network, wire, rg):
    poller, pip = make_gateway(network, wire, rg)
    vng = done(poller, server, wire)
    assert vng.id == arm_id(rg, "virtualNetworkGateways", "vng")
    assert vng.type == "Microsoft.Network/virtualNetworkGateways" and vng.provisioning_state == "Succeeded"
    assert (vng.gateway_type, vng.vpn_type, vng.sku.name) == ("Vpn", "RouteBased", "VpnGw1")
    assert vng.active_active is False and vng.enable_bgp is False
    [config] = vng.ip_configurations
    assert config.id == arm_id(rg, "virtualNetworkGateways", "vng", "ipConfigurations", "default")
    assert same_id(config.public_ip_address.id, pip.id)
    gateway_subnet = network.subnets.get(rg, "hub", "GatewaySubnet")
    assert ids(gateway_subnet.ip_configurations) == [config.id.lower()]
    assert same_id(network.public_ip_addresses.get(rg, pip.name).ip_configuration.id, config.id)
    assert network.virtual_network_gateways.get(rg, "vng").as_dict() == vng.as_dict()
    assert [g.name for g in network.virtual_network_gateways.list(rg)] == ["vng"]

    lng = done(network.local_network_gateways.begin_create_or_update(rg, "onprem", local_gateway_body()), server, wire)
    assert lng.id == arm_id(rg, "localNetworkGateways", "onprem")
    assert lng.type == "Microsoft.Network/localNetworkGateways" and lng.provisioning_state == "Succeeded"
    assert lng.gateway_ip_address == "203.0.113.10"
    assert prefixes(lng.local_network_address_space) == ["192.168.0.0/16"]
    assert network.local_network_gateways.get(rg, "onprem").as_dict() == lng.as_dict()
    assert [g.name for g in network.local_network_gateways.list(rg)] == ["onprem"]
    wire.take()
    moved = done(
        network.local_network_gateways.begin_create_or_update(
            rg, "onprem", local_gateway_body("203.0.113.11", "192.168.0.0/17")
        ),
        server,
        wire,
    )
    assert moved.gateway_ip_address == "203.0.113.11" and moved.resource_guid == lng.resource_guid
    assert prefixes(moved.local_network_address_space) == ["192.168.0.0/17"]
    wire.take()

    body = ipsec_body(vng.id, lng.id, "first-secret", routing_weight=10)
    connection = done(
        network.virtual_network_gateway_connections.begin_create_or_update(rg, "to-onprem", body), server, wire
    )
    assert connection.id == arm_id(rg, "connections", "to-onprem")
    assert connection.type == "Microsoft.Network/connections" and connection.provisioning_state == "Succeeded"
    assert connection.connection_type == "IPsec" and connection.routing_weight == 10
    assert same_id(connection.virtual_network_gateway1.id, vng.id)
    assert same_id(connection.local_network_gateway2.id, lng.id)
    assert connection.connection_status in ("Unknown", "Connecting", "Connected", "NotConnected")
    assert network.virtual_network_gateway_connections.get(rg, "to-onprem").name == "to-onprem"
    assert [c.name for c in network.virtual_network_gateway_connections.list(rg)] == ["to-onprem"]
    assert [c.name for c in network.virtual_network_gateways.list_connections(rg, "vng")] == ["to-onprem"]

    key = network.virtual_network_gateway_connections.get_shared_key(rg, "to-onprem")
    assert key.value == "first-secret"
    wire.take()

    connection = done(
        network.virtual_network_gateway_connections.begin_update_tags(
            rg, "to-onprem", n.TagsObject(tags={"tunnel": "1"})
        ),
        server,
        wire,
        "PATCH",
    )
    assert connection.tags == {"tunnel": "1"}
    vng = done(
        network.virtual_network_gateways.begin_update_tags(rg, "vng", n.TagsObject(tags={"tier": "1"})),
        server,
        wire,
        "PATCH",
    )
    assert vng.tags == {"tier": "1"} and vng.sku.name == "VpnGw1"

    # Gateway transit: a spoke peered with the hub uses the hub's gateway.
    spoke = make_vnet(network, rg, "spoke", "10.50.0.0/16")
    peer(network, rg, "hub", "hub2spoke", spoke.id, allow_gateway_transit=True, **quick()).result()
    spoke2hub = peer(network, rg, "spoke", "spoke2hub", hub_id(rg), use_remote_gateways=True, **quick()).result()
    assert spoke2hub.use_remote_gateways is True and spoke2hub.peering_state == "Connected"
    remote_gateways = spoke2hub.as_dict()["properties"].get("remoteGateways")
    assert [g["id"].lower() for g in remote_gateways or []] == [vng.id.lower()]
    hub2spoke = network.virtual_network_peerings.get(rg, "hub", "hub2spoke")
    assert hub2spoke.allow_gateway_transit is True and hub2spoke.peering_state == "Connected"
    wire.take()

    # Azure refuses to delete gateways a connection still uses.
    with pytest.raises(HttpResponseError) as e:
        network.virtual_network_gateways.begin_delete(rg, "vng").result()
    assert e.value.status_code == 400 and error_code(e.value) == "InUseVirtualNetworkGatewayCannotBeDeleted"
    with pytest.raises(HttpResponseError) as e:
        network.local_network_gateways.begin_delete(rg, "onprem").result()
    assert e.value.status_code == 400 and error_code(e.value) == "InUseLocalNetworkGatewayCannotBeDeleted"
    wire.take()

    done(network.virtual_network_gateway_connections.begin_delete(rg, "to-onprem"), server, wire, "DELETE")
    assert list(network.virtual_network_gateways.list_connections(rg, "vng")) == []
    done(network.local_network_gateways.begin_delete(rg, "onprem"), server, wire, "DELETE")
    network.virtual_network_peerings.begin_delete(rg, "spoke", "spoke2hub", **quick()).result()
    wire.take()
    done(network.virtual_network_gateways.begin_delete(rg, "vng"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.virtual_network_gateways.get(rg, "vng")
    assert not network.subnets.get(rg, "hub", "GatewaySubnet").ip_configurations


def test_connection_shared_key(network, wire, rg):
    poller, _ = make_gateway(network, wire, rg, **quick())
    vng = poller.result()
    lng = network.local_network_gateways.begin_create_or_update(rg, "onprem", local_gateway_body(), **quick()).result()
    connections = network.virtual_network_gateway_connections
    connections.begin_create_or_update(rg, "c", ipsec_body(vng.id, lng.id, "first-secret"), **quick()).result()
    key = connections.get_shared_key(rg, "c")
    assert key.value == "first-secret" and key.id == arm_id(rg, "connections", "c", "sharedkey")

    # The spec makes both LROs; an answer that is already final is allowed, but then it is final.
    assert connections.begin_set_shared_key(rg, "c", n.ConnectionSharedKey(value="second")).result().value == "second"
    assert connections.get_shared_key(rg, "c").value == "second"
    assert connections.get(rg, "c").provisioning_state == "Succeeded"

    reset = connections.begin_reset_shared_key(rg, "c", n.ConnectionResetSharedKey(key_length=32)).result()
    assert reset.key_length == 32
    assert connections.get_shared_key(rg, "c").value != "second"
    assert connections.get(rg, "c").provisioning_state == "Succeeded"


def test_gateway_needs_a_gateway_subnet(network, rg):
    make_vnet(network, rg, "hub", "10.0.0.0/16", subnets={"apps": "10.0.1.0/24"})
    pip = make_pip(network, rg, "pip")
    body = gateway_body(rg, "apps", pip.id)
    with pytest.raises(HttpResponseError) as e:
        network.virtual_network_gateways.begin_create_or_update(rg, "vng", body).result()
    assert e.value.status_code == 400


# ---- network watchers ---------------------------------------------------------------------------


def test_network_watcher_lifecycle(network, wire, rg):
    region = "eastus2"
    watcher = network.network_watchers.create_or_update(rg, "nw", n.NetworkWatcher(location=region))
    [put] = [e for e in wire.take() if e.method == "PUT"]
    assert put.status == 201 and "azure-asyncoperation" not in put.headers
    assert watcher.id == arm_id(rg, "networkWatchers", "nw")
    assert watcher.type == "Microsoft.Network/networkWatchers"
    assert watcher.location == region and watcher.provisioning_state == "Succeeded"

    again = network.network_watchers.create_or_update(rg, "nw", n.NetworkWatcher(location=region, tags={"a": "b"}))
    assert [e.status for e in wire.take() if e.method == "PUT"] == [200]
    assert again.tags == {"a": "b"} and again.provisioning_state == "Succeeded"
    assert network.network_watchers.get(rg, "nw").as_dict() == again.as_dict()
    assert [w.name for w in network.network_watchers.list(rg)] == ["nw"]
    assert watcher.id.lower() in [w.id.lower() for w in network.network_watchers.list_all()]

    # One watcher per region and subscription.
    with pytest.raises(HttpResponseError) as e:
        network.network_watchers.create_or_update(rg, "nw2", n.NetworkWatcher(location=region))
    assert e.value.status_code == 400 and error_code(e.value) == "NetworkWatcherCountLimitReached"


def test_network_watcher_delete(server, network, wire, rg):
    network.network_watchers.create_or_update(rg, "nw", n.NetworkWatcher(location="westus2"))
    wire.take()
    done(network.network_watchers.begin_delete(rg, "nw"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        network.network_watchers.get(rg, "nw")


# ---- network watcher answers --------------------------------------------------------------------


def region_watcher(network, rg: str) -> tuple[str, str]:
    """The group and name of LOCATION's network watcher, made in `rg` when there is none yet: the
    server keeps one watcher per region and subscription, and an earlier test may have made it."""
    for w in network.network_watchers.list_all():
        if w.location == LOCATION:
            return w.id.split("/")[4], w.name
    name = f"NetworkWatcher_{LOCATION}"
    network.network_watchers.create_or_update(rg, name, n.NetworkWatcher(location=LOCATION))
    return rg, name


@dataclass
class WatchedLab:
    """Two VNets and a VM in each: `a` (10.1.0.0/16) with a route table on its subnet, `b`
    (10.2.0.0/16) with an NSG on its subnet that keeps SSH from `a` out."""

    watcher: tuple[str, str]
    nsg: n.NetworkSecurityGroup
    table: n.RouteTable
    subnets: dict[str, str]
    vms: dict[str, str]
    ips: dict[str, str]


NVA = "10.1.1.100"


def watched_lab(clients: Clients, rg: str, *, peered: bool = True) -> WatchedLab:
    """Builds the WatchedLab in `rg`; `peered` links the VNets both ways, else only `a` to `b`."""
    network = clients.network
    watcher = region_watcher(network, rg)
    deny_ssh = ssh_rule(200, access="Deny", source_address_prefix="10.1.0.0/16", destination_address_prefix="*")
    deny_ssh.name = "deny-ssh-from-a"
    nsg = network.network_security_groups.begin_create_or_update(
        rg, "b-nsg", n.NetworkSecurityGroup(location=LOCATION, security_rules=[deny_ssh]), **quick()
    ).result()

    def to_nva(name: str, prefix: str) -> n.Route:
        return n.Route(name=name, address_prefix=prefix, next_hop_type="VirtualAppliance", next_hop_ip_address=NVA)

    # "to-nva" has a prefix no system route has; "onprem" the prefix of a default None route.
    routes = [to_nva("to-nva", "10.9.0.0/16"), to_nva("onprem", "192.168.0.0/16")]
    table = network.route_tables.begin_create_or_update(
        rg, "a-rt", n.RouteTable(location=LOCATION, routes=routes), **quick()
    ).result()
    subnets = {
        "a": n.Subnet(name="s", address_prefix="10.1.1.0/24", route_table=n.RouteTable(id=table.id)),
        "b": n.Subnet(name="s", address_prefix="10.2.1.0/24", network_security_group=n.NetworkSecurityGroup(id=nsg.id)),
    }
    vnets = {}
    for name, space in [("a", "10.1.0.0/16"), ("b", "10.2.0.0/16")]:
        body = n.VirtualNetwork(
            location=LOCATION, address_space=n.AddressSpace(address_prefixes=[space]), subnets=[subnets[name]]
        )
        vnets[name] = network.virtual_networks.begin_create_or_update(rg, name, body, **quick()).result()
    peer(network, rg, "a", "a-to-b", vnets["b"].id, **quick()).result()
    if peered:
        peer(network, rg, "b", "b-to-a", vnets["a"].id, **quick()).result()
    lab = WatchedLab(watcher, nsg, table, {}, {}, {})
    for name, vnet in vnets.items():
        nic = make_nic(network, rg, f"vm-{name}-nic", vnet.subnets[0].id)
        vm = clients.compute.virtual_machines.begin_create_or_update(rg, f"vm-{name}", vm_body(nic.id), **quick())
        lab.subnets[name] = vnet.subnets[0].id
        lab.vms[name] = vm.result().id
        lab.ips[name] = nic.ip_configurations[0].private_ip_address
    return lab


def answered_at_once(wire: Wire) -> None:
    """Azure runs the watcher's operations as long-running ones; vnetlab answers them with 200 at
    once, in either mode, which the SDK's poller takes as a finished operation."""
    exchanges = wire.take()
    assert [(e.method, e.status) for e in exchanges] == [("POST", 200)], wire.dump(exchanges)


def route_rows(routes) -> list[tuple[str, str, list[str], str, list[str]]]:
    return [(r.source, r.state, r.address_prefix, r.next_hop_type, r.next_hop_ip_address) for r in routes.value]


def test_effective_route_table(clients, wire, rg):
    network = clients.network
    watched_lab(clients, rg, peered=False)
    # Only one side of the peering: no route to the remote VNet yet.
    rows = route_rows(network.network_interfaces.begin_get_effective_route_table(rg, "vm-a-nic").result())
    assert not [r for r in rows if r[3] == "VNetPeering"], rows
    assert ("Default", "Active", ["10.1.0.0/16"], "VnetLocal", []) in rows, rows

    peer(network, rg, "b", "b-to-a", arm_id(rg, "virtualNetworks", "a"), **quick()).result()
    wire.take()
    routes = network.network_interfaces.begin_get_effective_route_table(rg, "vm-a-nic").result()
    answered_at_once(wire)
    rows = route_rows(routes)
    assert rows[:3] == [
        ("Default", "Active", ["10.1.0.0/16"], "VnetLocal", []),
        ("Default", "Active", ["10.2.0.0/16"], "VNetPeering", []),
        ("Default", "Active", ["0.0.0.0/0"], "Internet", []),
    ], rows
    # "onprem" overrides the default None route of its prefix; 10.0.0.0/8 keeps its own.
    assert ("Default", "Invalid", ["192.168.0.0/16"], "None", []) in rows, rows
    assert ("Default", "Active", ["10.0.0.0/8"], "None", []) in rows, rows
    user = {r.name: r for r in routes.value if r.source == "User"}
    assert sorted(user) == ["onprem", "to-nva"], rows
    assert (user["to-nva"].state, user["to-nva"].address_prefix) == ("Active", ["10.9.0.0/16"])
    assert (user["to-nva"].next_hop_type, user["to-nva"].next_hop_ip_address) == ("VirtualAppliance", [NVA])
    assert (user["onprem"].state, user["onprem"].address_prefix) == ("Active", ["192.168.0.0/16"])
    assert all(r.name is None for r in routes.value if r.source == "Default")
    assert not any(r.disable_bgp_route_propagation for r in routes.value)

    # b's subnet has no route table: its own space, the peer's, and no user route.
    rows = route_rows(network.network_interfaces.begin_get_effective_route_table(rg, "vm-b-nic").result())
    assert ("Default", "Active", ["10.2.0.0/16"], "VnetLocal", []) in rows, rows
    assert ("Default", "Active", ["10.1.0.0/16"], "VNetPeering", []) in rows, rows
    assert ("Default", "Active", ["192.168.0.0/16"], "None", []) in rows, rows
    assert not [r for r in rows if r[0] == "User"], rows

    # A user route for 0.0.0.0/0 turns the Internet route Invalid; the more specific VNet and
    # peering routes stay Active.
    network.routes.begin_create_or_update(
        rg, "a-rt", "everything", n.Route(address_prefix="0.0.0.0/0", next_hop_type="None"), **quick()
    ).result()
    rows = route_rows(network.network_interfaces.begin_get_effective_route_table(rg, "vm-a-nic").result())
    assert ("Default", "Invalid", ["0.0.0.0/0"], "Internet", []) in rows, rows
    assert ("User", "Active", ["0.0.0.0/0"], "None", []) in rows, rows
    assert ("Default", "Active", ["10.2.0.0/16"], "VNetPeering", []) in rows, rows


def test_effective_network_security_groups(clients, wire, rg):
    network = clients.network
    lab = watched_lab(clients, rg)
    wire.take()
    result = network.network_interfaces.begin_list_effective_network_security_groups(rg, "vm-b-nic").result()
    answered_at_once(wire)
    [group] = result.value
    assert same_id(group.network_security_group.id, lab.nsg.id)
    assert same_id(group.association.subnet.id, lab.subnets["b"]) and group.association.network_interface is None
    rules = group.effective_security_rules
    assert [r.name for r in rules] == ["securityRules/deny-ssh-from-a"] + [
        f"defaultSecurityRules/{name}" for _, name in sorted(DEFAULT_RULES.items())
    ]
    deny = rules[0]
    assert (deny.access, deny.direction, deny.priority, deny.protocol) == ("Deny", "Inbound", 200, "Tcp")
    assert (deny.source_address_prefix, deny.destination_address_prefix) == ("10.1.0.0/16", "0.0.0.0/0")
    assert (deny.source_port_range, deny.destination_port_range) == ("0-65535", "22-22")
    assert deny.expanded_source_address_prefix is None

    by_name = {r.name.split("/")[-1]: r for r in rules}
    vnet_in = by_name["AllowVnetInBound"]
    assert (vnet_in.access, vnet_in.priority, vnet_in.protocol) == ("Allow", 65000, "All")
    assert vnet_in.source_address_prefix == "VirtualNetwork"
    # The subnet's VNet, the peer, and the platform address.
    expected = ["10.1.0.0/16", "10.2.0.0/16", "168.63.129.16/32"]
    assert sorted(vnet_in.expanded_source_address_prefix) == expected, vnet_in
    assert sorted(vnet_in.expanded_destination_address_prefix) == expected, vnet_in
    assert by_name["AllowAzureLoadBalancerInBound"].expanded_source_address_prefix == ["168.63.129.16/32"]
    internet = by_name["AllowInternetOutBound"]
    assert internet.destination_address_prefix == "Internet" and internet.direction == "Outbound"
    public = [ipaddress.ip_network(p) for p in internet.expanded_destination_address_prefix]
    assert any(ipaddress.ip_address("8.8.8.8") in p for p in public)
    private = [ipaddress.ip_network(q) for q in ("10.0.0.0/8", "192.168.0.0/16")]
    assert not any(p.overlaps(q) for p in public if p.version == 4 for q in private), public
    assert by_name["DenyAllInBound"].expanded_source_address_prefix is None
    assert sorted(group.tag_map["VirtualNetwork"]) == expected

    # An NSG on the NIC as well: the subnet's comes first, then the NIC's.
    nic_nsg = network.network_security_groups.begin_create_or_update(
        rg, "nic-nsg", n.NetworkSecurityGroup(location=LOCATION), **quick()
    ).result()
    nic = network.network_interfaces.get(rg, "vm-b-nic")
    nic.network_security_group = n.NetworkSecurityGroup(id=nic_nsg.id)
    network.network_interfaces.begin_create_or_update(rg, "vm-b-nic", nic, **quick()).result()
    groups = network.network_interfaces.begin_list_effective_network_security_groups(rg, "vm-b-nic").result().value
    assert [g.network_security_group.id.lower() for g in groups] == [lab.nsg.id.lower(), nic_nsg.id.lower()]
    assert same_id(groups[1].association.network_interface.id, nic.id) and groups[1].association.subnet is None
    assert [r.name.split("/")[0] for r in groups[1].effective_security_rules] == ["defaultSecurityRules"] * 6

    # a's subnet has no NSG and its NIC none either.
    assert network.network_interfaces.begin_list_effective_network_security_groups(rg, "vm-a-nic").result().value == []


def test_next_hop(clients, wire, rg):
    network = clients.network
    lab = watched_lab(clients, rg)
    watcher_rg, watcher = lab.watcher

    def hop(vm: str, destination: str, **extra) -> n.NextHopResult:
        parameters = n.NextHopParameters(
            target_resource_id=lab.vms[vm], source_ip_address=lab.ips[vm], destination_ip_address=destination, **extra
        )
        return network.network_watchers.begin_get_next_hop(watcher_rg, watcher, parameters).result()

    wire.take()
    local = hop("a", "10.1.1.200")
    answered_at_once(wire)
    assert (local.next_hop_type, local.next_hop_ip_address, local.route_table_id) == (
        "VnetLocal",
        "10.1.1.200",
        "System Route",
    )
    peered = hop("a", lab.ips["b"])
    assert (peered.next_hop_type, peered.next_hop_ip_address, peered.route_table_id) == (
        "VnetPeering",
        lab.ips["b"],
        "System Route",
    )
    internet = hop("a", "8.8.8.8")
    assert (internet.next_hop_type, internet.next_hop_ip_address, internet.route_table_id) == (
        "Internet",
        None,
        "System Route",
    )
    for destination in ("10.9.0.7", "192.168.4.4"):
        appliance = hop("a", destination)
        assert (appliance.next_hop_type, appliance.next_hop_ip_address) == ("VirtualAppliance", NVA), destination
        assert same_id(appliance.route_table_id, lab.table.id), appliance
    # From b, which has no route table: 192.168.0.0/16 keeps its default None route.
    dropped = hop("b", "192.168.4.4")
    assert (dropped.next_hop_type, dropped.next_hop_ip_address, dropped.route_table_id) == (
        "None",
        None,
        "System Route",
    )
    back = hop("b", lab.ips["a"], target_nic_resource_id=arm_id(rg, "networkInterfaces", "vm-b-nic"))
    assert back.next_hop_type == "VnetPeering"

    # The NIC itself may be the target.
    parameters = n.NextHopParameters(
        target_resource_id=arm_id(rg, "networkInterfaces", "vm-a-nic"),
        source_ip_address=lab.ips["a"],
        destination_ip_address="10.9.0.7",
    )
    assert network.network_watchers.begin_get_next_hop(watcher_rg, watcher, parameters).result().next_hop_type == (
        "VirtualAppliance"
    )


def test_verify_ip_flow(clients, wire, rg):
    network = clients.network
    lab = watched_lab(clients, rg)
    watcher_rg, watcher = lab.watcher

    def flow(vm: str, direction: str, local_port: int, remote: str, protocol: str = "TCP") -> tuple[str, str]:
        parameters = n.VerificationIPFlowParameters(
            target_resource_id=lab.vms[vm],
            direction=direction,
            protocol=protocol,
            local_ip_address=lab.ips[vm],
            local_port=str(local_port),
            remote_ip_address=remote,
            remote_port="50000",
        )
        verdict = network.network_watchers.begin_verify_ip_flow(watcher_rg, watcher, parameters).result()
        return verdict.access, verdict.rule_name

    wire.take()
    assert flow("b", "Inbound", 22, lab.ips["a"]) == ("Deny", "securityRules/deny-ssh-from-a")
    answered_at_once(wire)
    assert flow("b", "Inbound", 80, lab.ips["a"]) == ("Allow", "defaultSecurityRules/AllowVnetInBound")
    # The rule is for TCP only.
    assert flow("b", "Inbound", 22, lab.ips["a"], "UDP") == ("Allow", "defaultSecurityRules/AllowVnetInBound")
    # From b's own VNet, SSH is let in.
    assert flow("b", "Inbound", 22, "10.2.1.50") == ("Allow", "defaultSecurityRules/AllowVnetInBound")
    assert flow("b", "Inbound", 80, "203.0.113.9") == ("Deny", "defaultSecurityRules/DenyAllInBound")
    assert flow("b", "Outbound", 50001, "8.8.8.8") == ("Allow", "defaultSecurityRules/AllowInternetOutBound")
    assert flow("b", "Outbound", 50001, lab.ips["a"]) == ("Allow", "defaultSecurityRules/AllowVnetOutBound")

    # An allowing rule of higher priority than the deny decides instead.
    allow = ssh_rule(100, source_address_prefix=lab.ips["a"], destination_address_prefix="*")
    network.security_rules.begin_create_or_update(rg, "b-nsg", "allow-ssh-from-vm-a", allow, **quick()).result()
    assert flow("b", "Inbound", 22, lab.ips["a"]) == ("Allow", "securityRules/allow-ssh-from-vm-a")


def test_network_watcher_errors(clients, rg):
    network = clients.network
    lab = watched_lab(clients, rg)
    watcher_rg, watcher = lab.watcher
    nowhere = arm_id(rg, "virtualMachines", "vm-nowhere", namespace="Microsoft.Compute")

    with pytest.raises(ResourceNotFoundError) as e:
        network.network_watchers.begin_get_next_hop(
            watcher_rg,
            watcher,
            n.NextHopParameters(
                target_resource_id=nowhere, source_ip_address="10.1.1.4", destination_ip_address="8.8.8.8"
            ),
        ).result()
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"
    assert "vm-nowhere" in e.value.error.message

    def verify(**fields) -> n.VerificationIPFlowParameters:
        parameters = dict(
            target_resource_id=lab.vms["b"],
            direction="Inbound",
            protocol="TCP",
            local_ip_address=lab.ips["b"],
            local_port="22",
            remote_ip_address=lab.ips["a"],
            remote_port="50000",
        )
        parameters.update(fields)
        return n.VerificationIPFlowParameters(**parameters)

    with pytest.raises(ResourceNotFoundError) as e:
        network.network_watchers.begin_verify_ip_flow(watcher_rg, watcher, verify(target_resource_id=nowhere)).result()
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"

    # A local address the VM does not have.
    with pytest.raises(HttpResponseError) as e:
        network.network_watchers.begin_verify_ip_flow(
            watcher_rg, watcher, verify(local_ip_address="10.2.1.250")
        ).result()
    assert e.value.status_code == 400 and error_code(e.value) == "InvalidRequestFormat"
    assert "10.2.1.250 is not an address of" in e.value.error.message

    # A target that is neither a VM nor a NIC.
    with pytest.raises(HttpResponseError) as e:
        network.network_watchers.begin_verify_ip_flow(
            watcher_rg, watcher, verify(target_resource_id=arm_id(rg, "virtualNetworks", "b"))
        ).result()
    assert e.value.status_code == 400 and error_code(e.value) == "InvalidRequestFormat"

    # A watcher that does not exist.
    with pytest.raises(ResourceNotFoundError) as e:
        network.network_watchers.begin_verify_ip_flow(watcher_rg, "no-such-watcher", verify()).result()
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"

    # A NIC that does not exist.
    with pytest.raises(ResourceNotFoundError) as e:
        network.network_interfaces.begin_get_effective_route_table(rg, "no-such-nic").result()
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        network.network_interfaces.begin_list_effective_network_security_groups(rg, "no-such-nic").result()
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"

    # Bodies the SDK's models would not send: a missing property, an address that is not one.
    path = arm_id(watcher_rg, "networkWatchers", watcher, "nextHop")
    missing = raw(network, "POST", path, json={"targetResourceId": lab.vms["a"], "sourceIPAddress": lab.ips["a"]})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "InvalidRequestFormat"
    assert "destinationIPAddress" in missing.text()
    not_an_address = raw(
        network,
        "POST",
        path,
        json={"targetResourceId": lab.vms["a"], "sourceIPAddress": lab.ips["a"], "destinationIPAddress": "10.1.1"},
    )
    assert not_an_address.status_code == 400 and not_an_address.json()["error"]["code"] == "InvalidRequestFormat"


def check_connectivity(network, lab: WatchedLab, source: str, **destination) -> n.ConnectivityInformation:
    parameters = n.ConnectivityParameters(
        source=n.ConnectivitySource(resource_id=lab.vms[source]),
        destination=n.ConnectivityDestination(**destination),
    )
    watcher_rg, watcher = lab.watcher
    return network.network_watchers.begin_check_connectivity(watcher_rg, watcher, parameters).result()


def ip_configuration_id(rg: str, nic: str) -> str:
    return arm_id(rg, "networkInterfaces", nic, "ipConfigurations", "ipconfig1")


def test_check_connectivity_connected(clients, wire, rg):
    network = clients.network
    lab = watched_lab(clients, rg)
    wire.take()
    info = check_connectivity(network, lab, "a", resource_id=lab.vms["b"], port=80)
    answered_at_once(wire)
    assert info.connection_status == "Connected"
    assert info.probes_sent >= 1 and info.probes_failed == 0
    source, destination = info.hops
    assert (source.type, source.address) == ("Source", lab.ips["a"])
    assert same_id(source.resource_id, ip_configuration_id(rg, "vm-a-nic"))
    assert (destination.type, destination.address) == ("VirtualNetwork", lab.ips["b"])
    assert same_id(destination.resource_id, ip_configuration_id(rg, "vm-b-nic"))
    # The hops are chained by their ids.
    assert GUID.match(source.id) and GUID.match(destination.id) and source.id != destination.id
    assert (source.next_hop_ids, destination.next_hop_ids) == ([destination.id], [])
    assert (source.issues, destination.issues) == ([], [])

    # To an address on the Internet: b's NSG lets everything out to it.
    out = check_connectivity(network, lab, "b", address="8.8.8.8", port=443)
    assert out.connection_status == "Connected"
    assert [(h.type, h.address) for h in out.hops] == [("Source", lab.ips["b"]), ("Internet", "8.8.8.8")]
    # The NSG keeps SSH from a out of b, not from b out of a.
    back = check_connectivity(network, lab, "b", address=lab.ips["a"], port=22)
    assert back.connection_status == "Connected"
    assert same_id(back.hops[-1].resource_id, ip_configuration_id(rg, "vm-a-nic"))


def test_check_connectivity_unreachable(clients, rg):
    network = clients.network
    lab = watched_lab(clients, rg)
    info = check_connectivity(network, lab, "a", resource_id=lab.vms["b"], port=22)
    assert info.connection_status == "Unreachable"
    assert info.probes_sent >= 1 and info.probes_failed == info.probes_sent
    source, destination = info.hops
    assert (source.type, destination.type, destination.address) == ("Source", "VirtualNetwork", lab.ips["b"])
    assert source.issues == []
    # The issue is on the hop whose NSG drops the traffic, and names the rule.
    [issue] = destination.issues
    assert (issue.origin, issue.severity, issue.type) == ("Inbound", "Error", "NetworkSecurityRule")
    assert {"key": "RuleName", "value": "deny-ssh-from-a"} in issue.context, issue.context

    # 10.3.0.4 is in no VNet and no site, and the default None route of 10.0.0.0/8 drops it: the
    # path ends at the source.
    lost = check_connectivity(network, lab, "a", address="10.3.0.4", port=80)
    assert lost.connection_status == "Unreachable"
    [hop] = lost.hops
    assert (hop.type, hop.address, hop.next_hop_ids) == ("Source", lab.ips["a"], [])
    assert [(i.origin, i.severity) for i in hop.issues] == [("Outbound", "Error")]

    # A source that does not exist.
    nowhere = arm_id(rg, "virtualMachines", "vm-nowhere", namespace="Microsoft.Compute")
    parameters = n.ConnectivityParameters(
        source=n.ConnectivitySource(resource_id=nowhere), destination=n.ConnectivityDestination(address="8.8.8.8")
    )
    watcher_rg, watcher = lab.watcher
    with pytest.raises(ResourceNotFoundError) as e:
        network.network_watchers.begin_check_connectivity(watcher_rg, watcher, parameters).result()
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"


# ---- updates of tags and deletes of children ----------------------------------------------------


def tag_me_vnet(network, rg):
    return make_vnet(network, rg, "x", "10.0.0.0/16")


def tag_me_nsg(network, rg):
    body = n.NetworkSecurityGroup(location=LOCATION)
    return network.network_security_groups.begin_create_or_update(rg, "x", body, **quick()).result()


def tag_me_route_table(network, rg):
    return network.route_tables.begin_create_or_update(rg, "x", n.RouteTable(location=LOCATION), **quick()).result()


def tag_me_nic(network, rg):
    vnet = make_vnet(network, rg, "v", "10.0.0.0/16", subnets={"s": "10.0.0.0/24"})
    return make_nic(network, rg, "x", vnet.subnets[0].id)


def tag_me_public_ip(network, rg):
    return make_pip(network, rg, "x")


def tag_me_local_gateway(network, rg):
    body = local_gateway_body("203.0.113.20", "192.168.0.0/24")
    return network.local_network_gateways.begin_create_or_update(rg, "x", body, **quick()).result()


def tag_me_watcher(network, rg):
    return network.network_watchers.create_or_update(rg, "x", n.NetworkWatcher(location="centralus"))


# Resources whose PATCH (update_tags) is not a long-running operation: its answer is final.
# kind -> (create or replace the resource "x", its operations group)
TAGGABLE = {
    "virtualNetworks": (tag_me_vnet, lambda network: network.virtual_networks),
    "networkSecurityGroups": (tag_me_nsg, lambda network: network.network_security_groups),
    "routeTables": (tag_me_route_table, lambda network: network.route_tables),
    "networkInterfaces": (tag_me_nic, lambda network: network.network_interfaces),
    "publicIPAddresses": (tag_me_public_ip, lambda network: network.public_ip_addresses),
    "localNetworkGateways": (tag_me_local_gateway, lambda network: network.local_network_gateways),
    "networkWatchers": (tag_me_watcher, lambda network: network.network_watchers),
}


@pytest.mark.parametrize("kind", TAGGABLE)
def test_update_tags_is_final(network, wire, rg, kind):
    make, operations = TAGGABLE[kind]
    before = make(network, rg)
    assert before.provisioning_state == "Succeeded"
    wire.take()
    tagged = operations(network).update_tags(rg, "x", n.TagsObject(tags={"k": "v"}))
    [patch] = wire.take()
    assert patch.method == "PATCH" and patch.status == 200
    assert "azure-asyncoperation" not in patch.headers and "location" not in patch.headers
    assert tagged.tags == {"k": "v"} and tagged.provisioning_state == "Succeeded"
    assert tagged.etag != before.etag
    assert operations(network).get(rg, "x").tags == {"k": "v"}
    # The resource takes the next write at once.
    make(network, rg)


def test_child_deletes_leave_the_parent_writable(network, rg):
    """After a subnet or peering delete, the VNets involved are Succeeded and take writes."""
    a = make_vnet(network, rg, "a", "10.1.0.0/16", subnets={"s1": "10.1.1.0/24", "s2": "10.1.2.0/24"})
    b = make_vnet(network, rg, "b", "10.2.0.0/16")
    network.subnets.begin_delete(rg, "a", "s2", **quick()).result()
    assert network.virtual_networks.get(rg, "a").provisioning_state == "Succeeded"
    network.subnets.begin_create_or_update(rg, "a", "s3", n.Subnet(address_prefix="10.1.3.0/24"), **quick()).result()

    peer(network, rg, "a", "a2b", b.id, **quick()).result()
    peer(network, rg, "b", "b2a", a.id, **quick()).result()
    network.virtual_network_peerings.begin_delete(rg, "a", "a2b", **quick()).result()
    assert network.virtual_networks.get(rg, "a").provisioning_state == "Succeeded"
    assert network.virtual_networks.get(rg, "b").provisioning_state == "Succeeded"
    network.subnets.begin_create_or_update(rg, "b", "s", n.Subnet(address_prefix="10.2.1.0/24"), **quick()).result()


def test_rule_and_route_deletes_leave_the_parent_writable(network, rg):
    body = n.NetworkSecurityGroup(location=LOCATION)
    network.network_security_groups.begin_create_or_update(rg, "nsg", body, **quick()).result()
    network.security_rules.begin_create_or_update(rg, "nsg", "r1", ssh_rule(100), **quick()).result()
    network.security_rules.begin_delete(rg, "nsg", "r1", **quick()).result()
    assert network.network_security_groups.get(rg, "nsg").provisioning_state == "Succeeded"
    network.security_rules.begin_create_or_update(rg, "nsg", "r2", ssh_rule(100), **quick()).result()

    route = n.Route(address_prefix="0.0.0.0/0", next_hop_type="None")
    network.route_tables.begin_create_or_update(rg, "rt", n.RouteTable(location=LOCATION), **quick()).result()
    network.routes.begin_create_or_update(rg, "rt", "r1", route, **quick()).result()
    network.routes.begin_delete(rg, "rt", "r1", **quick()).result()
    assert network.route_tables.get(rg, "rt").provisioning_state == "Succeeded"
    network.routes.begin_create_or_update(rg, "rt", "r2", route, **quick()).result()


# ---- virtual machines ---------------------------------------------------------------------------


def test_virtual_machine_lifecycle(server, network, compute, wire, rg):
    make_vnet(network, rg, "v", "10.1.0.0/16", subnets={"a": "10.1.1.0/24"})
    nic = make_nic(network, rg, "vm1-nic", network.subnets.get(rg, "v", "a").id)
    wire.take()

    body = vm_body(nic.id, tags={"role": "web"})
    vm = done(compute.virtual_machines.begin_create_or_update(rg, "vm1", body), server, wire)
    assert vm.id == arm_id(rg, "virtualMachines", "vm1", namespace="Microsoft.Compute")
    assert vm.type == "Microsoft.Compute/virtualMachines" and vm.provisioning_state == "Succeeded"
    assert vm.location == LOCATION and vm.tags == {"role": "web"}
    assert GUID.match(vm.vm_id)
    assert vm.hardware_profile.vm_size == "Standard_B1s"
    assert vm.storage_profile.image_reference.offer == "ubuntu-24_04-lts"
    assert vm.storage_profile.os_disk.name == "vm1-os"
    assert (vm.os_profile.computer_name, vm.os_profile.admin_username) == ("vm1", "azureuser")
    # Azure never returns a password.
    assert vm.os_profile.admin_password is None
    [ref] = vm.network_profile.network_interfaces
    assert same_id(ref.id, nic.id)

    wire.take()
    resized = vm_body(nic.id, tags={"role": "db"})
    resized.hardware_profile.vm_size = "Standard_B2s"
    resized = done(compute.virtual_machines.begin_create_or_update(rg, "vm1", resized), server, wire)
    assert resized.hardware_profile.vm_size == "Standard_B2s" and resized.tags == {"role": "db"}
    assert resized.vm_id == vm.vm_id

    got = compute.virtual_machines.get(rg, "vm1")
    assert got.vm_id == vm.vm_id and got.os_profile.admin_password is None
    assert [m.name for m in compute.virtual_machines.list(rg)] == ["vm1"]
    assert vm.id.lower() in [m.id.lower() for m in compute.virtual_machines.list_all()]
    assert same_id(network.network_interfaces.get(rg, "vm1-nic").virtual_machine.id, vm.id)

    with pytest.raises(HttpResponseError) as e:
        network.network_interfaces.begin_delete(rg, "vm1-nic").result()
    assert e.value.status_code == 400 and error_code(e.value) == "NicInUse"
    wire.take()

    done(compute.virtual_machines.begin_delete(rg, "vm1"), server, wire, "DELETE")
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(rg, "vm1")
    assert network.network_interfaces.get(rg, "vm1-nic").virtual_machine is None


# ---- errors and conditional requests ------------------------------------------------------------


def test_errors_map_to_sdk_exceptions(network, rg):
    with pytest.raises(ResourceNotFoundError) as e:
        network.virtual_networks.get(rg, "missing")
    assert e.value.status_code == 404 and error_code(e.value) == "ResourceNotFound"
    assert "missing" in e.value.error.message

    with pytest.raises(ResourceNotFoundError) as e:
        network.virtual_networks.get("no-such-group", "v")
    assert error_code(e.value) == "ResourceGroupNotFound"

    with pytest.raises(ResourceNotFoundError) as e:
        network.virtual_networks.begin_create_or_update("no-such-group", "v", vnet_body("10.0.0.0/16")).result()
    assert error_code(e.value) == "ResourceGroupNotFound"

    with pytest.raises(ResourceNotFoundError) as e:
        network.subnets.get(rg, "missing", "s")
    assert e.value.status_code == 404

    # A delete of what is not there succeeds: ARM answers 204.
    network.virtual_networks.begin_delete(rg, "missing").result()


def test_responses_carry_request_ids(network, wire, rg):
    make_vnet(network, rg, "v", "10.0.0.0/16")
    network.virtual_networks.get(rg, "v")
    with pytest.raises(ResourceNotFoundError):
        network.virtual_networks.get(rg, "w")
    for exchange in wire.take():
        assert GUID.match(exchange.headers.get("x-ms-request-id", "")), exchange
        assert GUID.match(exchange.headers.get("x-ms-correlation-request-id", "")), exchange


def test_malformed_bodies(network, rg):
    path = arm_id(rg, "virtualNetworks", "v")
    not_json = raw(network, "PUT", path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "InvalidRequestContent"

    wrong_shape = raw(network, "PUT", path, json={"location": LOCATION, "properties": {"addressSpace": "10.0.0.0/16"}})
    assert wrong_shape.status_code == 400
    assert wrong_shape.json()["error"]["code"] == "InvalidRequestFormat"

    no_location = raw(network, "PUT", path, json={"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})
    assert no_location.status_code == 400
    assert no_location.json()["error"]["code"] == "LocationRequired"

    no_version = network.send_request(HttpRequest("GET", path))
    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"


def test_if_match_and_if_none_match(server, network, rg):
    vnet = make_vnet(network, rg, "v", "10.0.0.0/16")
    path = arm_id(rg, "virtualNetworks", "v")
    body = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}

    got = raw(network, "GET", path)
    assert got.status_code == 200 and got.headers["ETag"] == vnet.etag

    stale = raw(network, "PUT", path, json=body, headers={"If-Match": 'W/"00000000-0000-0000-0000-000000000000"'})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "PreconditionFailed"

    create_only = raw(network, "PUT", path, json=body, headers={"If-None-Match": "*"})
    assert create_only.status_code == 412

    stale_delete = raw(network, "DELETE", path, headers={"If-Match": 'W/"00000000-0000-0000-0000-000000000000"'})
    assert stale_delete.status_code == 412
    assert network.virtual_networks.get(rg, "v").etag == vnet.etag

    current = raw(network, "PUT", path, json={**body, "tags": {"v": "2"}}, headers={"If-Match": vnet.etag})
    assert current.status_code == 200
    assert current.json()["etag"] != vnet.etag
    # Through the SDK: a stale If-Match surfaces as HttpResponseError with status 412.
    with pytest.raises(HttpResponseError) as e:
        network.virtual_networks.begin_create_or_update(
            rg, "v", vnet_body("10.0.0.0/16"), headers={"If-Match": vnet.etag}
        ).result()
    assert e.value.status_code == 412 and error_code(e.value) == "PreconditionFailed"

    fresh = raw(network, "PUT", arm_id(rg, "virtualNetworks", "w"), json=body, headers={"If-None-Match": "*"})
    assert fresh.status_code in (200, 201)


def test_async_write_while_another_is_running(async_server, wire):
    """Azure refuses a second write on a resource whose first write is still running (409)."""
    clients = sdk_clients(async_server, wire)
    network = clients.network
    clients.resources.resource_groups.create_or_update("busy", {"location": LOCATION})
    network.virtual_networks.begin_create_or_update("busy", "v", vnet_body("10.0.0.0/16")).result()

    first = network.virtual_networks.begin_create_or_update("busy", "v", vnet_body("10.0.0.0/16", "10.1.0.0/16"))
    assert first.status() == "InProgress"
    assert network.virtual_networks.get("busy", "v").provisioning_state == "Updating"
    with pytest.raises(ResourceExistsError) as e:
        network.virtual_networks.begin_create_or_update("busy", "v", vnet_body("10.0.0.0/16", "10.2.0.0/16")).result()
    assert e.value.status_code == 409 and error_code(e.value) == "AnotherOperationInProgress"
    assert prefixes(first.result().address_space) == ["10.0.0.0/16", "10.1.0.0/16"]


# ---- paging -------------------------------------------------------------------------------------


@pytest.fixture
def paged(paged_server, wire) -> Clients:
    return sdk_clients(paged_server, wire)


def test_lists_follow_next_link(paged: Clients, wire, request):
    network = paged.network
    rg = "paging"
    paged.resources.resource_groups.create_or_update(rg, {"location": LOCATION})
    names = [f"v{i}" for i in range(5)]
    for i, name in enumerate(names):
        make_vnet(network, rg, name, f"10.{i}.0.0/16", subnets={f"s{j}": f"10.{i}.{j}.0/24" for j in range(3)})
    network.network_security_groups.begin_create_or_update(
        rg, "nsg", n.NetworkSecurityGroup(location=LOCATION), **quick()
    ).result()
    wire.take()

    assert sorted(v.name for v in network.virtual_networks.list(rg)) == names
    pages = [e for e in wire.take() if e.method == "GET"]
    assert len(pages) == 3, wire.dump(pages)
    for page in pages[:-1]:
        assert len(page.body["value"]) == PAGE_SIZE
        link = page.body["nextLink"]
        assert link.startswith(paged_server_url(page)) and "api-version=" in link
    assert not pages[-1].body.get("nextLink")

    def pages_of(listing) -> tuple[list, int]:
        items = list(listing)
        return items, len([e for e in wire.take() if e.method == "GET"])

    all_vnets, count = pages_of(network.virtual_networks.list_all())
    assert sorted(v.name for v in all_vnets) == names and count == 3
    subnets, count = pages_of(network.subnets.list(rg, "v0"))
    assert sorted(s.name for s in subnets) == ["s0", "s1", "s2"] and count == 2
    defaults, count = pages_of(network.default_security_rules.list(rg, "nsg"))
    assert len(defaults) == 6 and count == 3
    groups = [f"paging-{i}" for i in range(3)]
    for g in groups:
        paged.resources.resource_groups.create_or_update(g, {"location": LOCATION})
    wire.take()
    listed, count = pages_of(paged.resources.resource_groups.list())
    assert {g.name for g in listed} == set(groups + [rg]) and count == 2
    # usages is pageable too, but how many Azure puts on a page is its own business: all must come.
    assert len(list(network.virtual_networks.list_usage(rg, "v0"))) == 3


def paged_server_url(exchange: Exchange) -> str:
    return exchange.url.split("/subscriptions/", 1)[0]
