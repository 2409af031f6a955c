"""The real az CLI (azure-cli 2.91) against `vnetlab serve`, logged in with a managed identity.

Each az call costs about a second of Python start-up (two more in async mode, where every write
polls once with Retry-After: 1), so tests share a server per mode and group their commands; state
az does not need to create itself is made through the SDK. Tests that matter in both LRO modes use
the parametrized `az`; the others pin the server to sync mode with `sync_only`.
"""

from __future__ import annotations

import pytest
from azure.mgmt.network import models as n

from builders import ipsec_body, make_nic, make_vnet, quick, vm_body
from conftest import (
    LOCATION,
    SUBSCRIPTION,
    TENANT,
    Az,
    Exchange,
    Wire,
    logged_in_az,
    parse_table,
    sdk_clients,
    vnetlab,
    with_cloud,
)

sync_only = pytest.mark.parametrize("server", ["sync"], indirect=True)


def rid(rg: str, *types_and_names: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Network/" + "/".join(types_and_names)


def polled(exchanges: list[Exchange]) -> list[str]:
    """The statuses az read from Azure-AsyncOperation URLs, in order."""
    return [
        e.body["status"]
        for e in exchanges
        if "/operations/" in e.url.lower() and isinstance(e.body, dict) and "status" in e.body
    ]


def expect_completion(server, exchanges: list[Exchange]) -> None:
    """sync: one answer and no polling; async: the write answered Updating, az polled to Succeeded."""
    statuses = polled(exchanges)
    if server.is_async:
        assert statuses[:1] == ["InProgress"] and statuses[-1] == "Succeeded", exchanges
    else:
        assert statuses == [], exchanges


# ---- login --------------------------------------------------------------------------------------


@sync_only
def test_logged_in_with_a_managed_identity(az):
    account = az("account show")
    assert (account["id"], account["tenantId"], account["state"]) == (SUBSCRIPTION, TENANT, "Enabled")
    assert account["environmentName"] == "vnetlab" and account["isDefault"] is True
    assert account["user"]["type"] == "servicePrincipal"
    token = az("account get-access-token")
    assert token["subscription"] == SUBSCRIPTION and token["tenant"] == TENANT


@sync_only
def test_logged_in_as_a_service_principal(server, tmp_path):
    """The AAD side: OIDC discovery and the v2 token endpoint (instance discovery is off in az-env),
    for a principal `vnetlab principal add` made, with its secret checked."""
    app = "11111111-2222-3333-4444-555555555555"
    vnetlab(server, "principal", "add", "ci-sp", "--app-id", app, "--secret", "s3cret")
    vnetlab(server, "principal", "grant", "ci-sp", "--role", "Contributor")
    az = with_cloud(Az(server, config_dir=tmp_path / "az-sp"))
    wrong = az.fails(f"login --service-principal -u {app} -p wrong --tenant {TENANT}")
    assert "AADSTS7000215" in wrong.err, wrong
    login = az(f"login --service-principal -u {app} -p s3cret --tenant {TENANT}")
    assert [(s["id"], s["tenantId"], s["user"]["type"]) for s in login] == [(SUBSCRIPTION, TENANT, "servicePrincipal")]
    assert login[0]["user"]["name"] == app
    assert az("group create -n from-sp -l westus")["name"] == "from-sp"
    # Contributor may not hand out roles.
    denied = az.fails(f"role assignment create --assignee-object-id {app} --assignee-principal-type ServicePrincipal --role Reader --scope /subscriptions/{SUBSCRIPTION}")
    assert "AuthorizationFailed" in denied.err, denied


@sync_only
def test_logged_in_as_a_user(server, tmp_path):
    """A user with a password (the resource-owner password flow), who is Reader: reads, and is
    refused writes with Azure's AuthorizationFailed naming the user. MSAL asks a non-ADFS
    authority's user realm on port 443 whatever the authority's port, so the cloud's Active
    Directory endpoint is the server's ADFS one (docs/identity.md)."""
    user = "ana@vnetlab.onmicrosoft.com"
    vnetlab(server, "principal", "add", "Ana", "--user", user, "--secret", "pa55word")
    vnetlab(server, "principal", "grant", user, "--role", "Reader")
    az = Az(server, config_dir=tmp_path / "az-user")
    az.run(
        f"cloud register -n vnetlab --endpoint-resource-manager {server.url}/ "
        f"--endpoint-active-directory {server.url}/adfs",
        expect=0,
    )
    az.run("cloud set -n vnetlab", expect=0)
    wrong = az.fails(f"login -u {user} -p nope")
    assert "AADSTS50126" in wrong.err, wrong
    login = az(f"login -u {user} -p pa55word")
    assert [(s["id"], s["user"]["name"], s["user"]["type"]) for s in login] == [(SUBSCRIPTION, user, "user")]
    assert isinstance(az("group list"), list)
    denied = az.fails("group create -n by-ana -l westus")
    assert "AuthorizationFailed" in denied.err and f"The client '{user}'" in denied.err, denied
    # A Graph token from the refresh token, to name the principals of the role assignments.
    mine = [a for a in az("role assignment list --all") if a["principalName"] == user]
    assert [a["roleDefinitionName"] for a in mine] == ["Reader"], mine


# ---- the Learn exercise -------------------------------------------------------------------------


def test_learn_peering_exercise(az, server):
    """Microsoft Learn's "connect services by using virtual network peering", then what comes after."""
    rg = f"learn-{server.mode}"
    az(f"group create --name {rg} --location {LOCATION}")
    sales = az(
        f"network vnet create --resource-group {rg} --name SalesVNet --address-prefixes 10.1.0.0/16 "
        "--subnet-name Apps --subnet-prefixes 10.1.1.0/24 --location northeurope"
    )["newVNet"]
    assert (sales["provisioningState"], sales["location"]) == ("Succeeded", "northeurope")
    assert [(s["name"], s["addressPrefix"]) for s in sales["subnets"]] == [("Apps", "10.1.1.0/24")]
    az(
        f"network vnet create --resource-group {rg} --name MarketingVNet --address-prefixes 10.2.0.0/16 "
        "--subnet-name Apps --subnet-prefixes 10.2.1.0/24 --location northeurope"
    )
    succeeded = "[?contains(provisioningState, 'Succeeded')]"
    vnets = parse_table(az.table(f'network vnet list --resource-group {rg} --query "{succeeded}"'))
    assert sorted(v["Name"] for v in vnets) == ["MarketingVNet", "SalesVNet"]

    first, exchanges = az.trace(
        f"network vnet peering create --name SalesVNet-To-MarketingVNet --remote-vnet MarketingVNet "
        f"--resource-group {rg} --vnet-name SalesVNet --allow-vnet-access"
    )
    expect_completion(server, exchanges)
    assert (first["peeringState"], first["peeringSyncLevel"]) == ("Initiated", "RemoteNotInSync")
    assert first["allowVirtualNetworkAccess"] is True and first["allowForwardedTraffic"] is False
    assert first["remoteVirtualNetwork"]["id"] == rid(rg, "virtualNetworks", "MarketingVNet")
    second = az(
        f"network vnet peering create --name MarketingVNet-To-SalesVNet --remote-vnet SalesVNet "
        f"--resource-group {rg} --vnet-name MarketingVNet --allow-vnet-access"
    )
    assert (second["peeringState"], second["peeringSyncLevel"]) == ("Connected", "FullyInSync")
    assert second["resourceGuid"] == first["resourceGuid"]

    table = az.table(f"network vnet peering list --resource-group {rg} --vnet-name SalesVNet")
    [row] = parse_table(table)
    assert row["Name"] == "SalesVNet-To-MarketingVNet", table
    assert (row["PeeringState"], row["PeeringSyncLevel"]) == ("Connected", "FullyInSync"), table
    assert (row["AllowVirtualNetworkAccess"], row["ProvisioningState"], row["ResourceGroup"]) == (
        "True",
        "Succeeded",
        rg,
    ), table

    shown = az(f"network vnet peering show -g {rg} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet")
    assert shown["peeringState"] == "Connected"
    assert shown["remoteAddressSpace"]["addressPrefixes"] == ["10.2.0.0/16"]

    updated = az(
        f"network vnet peering update -g {rg} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet "
        "--set allowForwardedTraffic=true"
    )
    assert updated["allowForwardedTraffic"] is True and updated["peeringState"] == "Connected"

    # Resize SalesVNet: its link waits on the remote, MarketingVNet's link on itself until synced.
    grown = az(f"network vnet update -g {rg} -n SalesVNet --address-prefixes 10.1.0.0/16 10.11.0.0/16")
    assert grown["addressSpace"]["addressPrefixes"] == ["10.1.0.0/16", "10.11.0.0/16"]
    s2m = az(f"network vnet peering show -g {rg} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet")
    m2s = az(f"network vnet peering show -g {rg} --vnet-name MarketingVNet -n MarketingVNet-To-SalesVNet")
    assert s2m["peeringSyncLevel"] == "RemoteNotInSync"
    assert m2s["peeringSyncLevel"] == "LocalNotInSync"
    assert m2s["remoteAddressSpace"]["addressPrefixes"] == ["10.1.0.0/16"]
    assert m2s["remoteVirtualNetworkAddressSpace"]["addressPrefixes"] == ["10.1.0.0/16", "10.11.0.0/16"]

    synced = az(f"network vnet peering sync -g {rg} --vnet-name MarketingVNet -n MarketingVNet-To-SalesVNet")
    assert synced["peeringSyncLevel"] == "FullyInSync"
    assert synced["remoteAddressSpace"]["addressPrefixes"] == ["10.1.0.0/16", "10.11.0.0/16"]
    listed = az(f"network vnet peering list -g {rg} --vnet-name SalesVNet")
    assert [(p["peeringState"], p["peeringSyncLevel"]) for p in listed] == [("Connected", "FullyInSync")]

    az.run(f"network vnet peering delete -g {rg} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet", expect=0)
    left = az(f"network vnet peering show -g {rg} --vnet-name MarketingVNet -n MarketingVNet-To-SalesVNet")
    assert left["peeringState"] == "Disconnected"
    missing = az.fails(f"network vnet peering show -g {rg} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet", 3)
    assert "(NotFound)" in missing.err and "SalesVNet-To-MarketingVNet" in missing.err

    # A rule violation is az's ordinary failure: exit 1, Azure's code and message on stderr.
    az(f"network vnet create -g {rg} -n OverlapVNet --address-prefixes 10.1.128.0/17 --location northeurope")
    overlap = az.fails(
        f"network vnet peering create --name SalesVNet-To-OverlapVNet --remote-vnet OverlapVNet "
        f"--resource-group {rg} --vnet-name SalesVNet --allow-vnet-access"
    )
    assert "ERROR: (VnetAddressSpacesOverlap) Cannot create or update peering" in overlap.err
    assert "10.1.128.0/17" in overlap.err and overlap.out == ""
    assert az(f"network vnet peering list -g {rg} --vnet-name SalesVNet") == []


def test_resource_group_exists_and_delete(az, server):
    rg = f"doomed-{server.mode}"
    created = az(f"group create -n {rg} -l {LOCATION} --tags team=net")
    assert created["properties"]["provisioningState"] == "Succeeded" and created["tags"] == {"team": "net"}
    az(f"network vnet create -g {rg} -n v --address-prefixes 10.0.0.0/16")
    assert az.run(f"group exists -n {rg}", expect=0).out.strip() == "true"
    assert rg in [g["name"] for g in az("group list")]

    _, exchanges = az.trace(f"group delete -n {rg} --yes")
    [delete] = [e for e in exchanges if e.method == "DELETE"]
    if server.is_async:
        # Resource groups delete through Location polling: 202 while running, then 200.
        assert delete.status == 202 and "location" in delete.headers
        assert [e.status for e in exchanges if "/operationresults/" in e.url.lower()][-1] == 200
    else:
        assert delete.status in (200, 202)
    assert az.run(f"group exists -n {rg}", expect=0).out.strip() == "false"
    gone = az.fails(f"group show -n {rg}", 3)
    assert "(ResourceGroupNotFound)" in gone.err
    vnet_gone = az.fails(f"network vnet show -g {rg} -n v", 3)
    assert "(ResourceGroupNotFound)" in vnet_gone.err


# ---- NSGs, route tables, subnets ----------------------------------------------------------------


@sync_only
def test_nsg_route_table_and_subnet(az):
    rg = "filters"
    az(f"group create -n {rg} -l {LOCATION}")
    nsg = az(f"network nsg create -g {rg} -n web-nsg")["NewNSG"]
    defaults = sorted((r["direction"], r["priority"], r["name"]) for r in nsg["defaultSecurityRules"])
    assert defaults == [
        ("Inbound", 65000, "AllowVnetInBound"),
        ("Inbound", 65001, "AllowAzureLoadBalancerInBound"),
        ("Inbound", 65500, "DenyAllInBound"),
        ("Outbound", 65000, "AllowVnetOutBound"),
        ("Outbound", 65001, "AllowInternetOutBound"),
        ("Outbound", 65500, "DenyAllOutBound"),
    ]
    ssh = az(
        f"network nsg rule create -g {rg} --nsg-name web-nsg -n allow-ssh --priority 100 --access Allow "
        "--protocol Tcp --direction Inbound --destination-port-ranges 22 --source-address-prefixes Internet"
    )
    assert (ssh["priority"], ssh["destinationPortRange"], ssh["sourceAddressPrefix"]) == (100, "22", "Internet")
    assert ssh["id"] == rid(rg, "networkSecurityGroups", "web-nsg", "securityRules", "allow-ssh")
    clash = az.fails(
        f"network nsg rule create -g {rg} --nsg-name web-nsg -n allow-rdp --priority 100 --access Allow "
        "--protocol Tcp --direction Inbound --destination-port-ranges 3389"
    )
    assert "(SecurityRuleConflict)" in clash.err
    denied = az(f"network nsg rule update -g {rg} --nsg-name web-nsg -n allow-ssh --access Deny --priority 200")
    assert (denied["access"], denied["priority"]) == ("Deny", 200)
    rows = parse_table(az.table(f"network nsg rule list -g {rg} --nsg-name web-nsg --include-default"))
    assert [(r["Name"], r["Priority"], r["Access"]) for r in rows][:2] == [
        ("allow-ssh", "200", "Deny"),
        ("AllowVnetInBound", "65000", "Allow"),
    ]
    assert len(rows) == 7

    rt = az(f"network route-table create -g {rg} -n spoke-rt --disable-bgp-route-propagation true")
    assert rt["disableBgpRoutePropagation"] is True and rt["provisioningState"] == "Succeeded"
    route = az(
        f"network route-table route create -g {rg} --route-table-name spoke-rt -n to-nva "
        "--address-prefix 10.20.0.0/16 --next-hop-type VirtualAppliance --next-hop-ip-address 10.0.1.4"
    )
    assert (route["nextHopType"], route["nextHopIpAddress"]) == ("VirtualAppliance", "10.0.1.4")
    az(
        f"network route-table route create -g {rg} --route-table-name spoke-rt -n default "
        "--address-prefix 0.0.0.0/0 --next-hop-type Internet"
    )
    routes = parse_table(az.table(f"network route-table route list -g {rg} --route-table-name spoke-rt"))
    assert sorted((r["Name"], r["AddressPrefix"], r["NextHopType"]) for r in routes) == [
        ("default", "0.0.0.0/0", "Internet"),
        ("to-nva", "10.20.0.0/16", "VirtualAppliance"),
    ]
    az.run(f"network route-table route delete -g {rg} --route-table-name spoke-rt -n default", expect=0)

    az(f"network vnet create -g {rg} -n app --address-prefixes 10.0.0.0/16")
    subnet = az(
        f"network vnet subnet create -g {rg} --vnet-name app -n web --address-prefixes 10.0.1.0/24 "
        "--network-security-group web-nsg --route-table spoke-rt"
    )
    assert subnet["addressPrefix"] == "10.0.1.0/24"
    assert subnet["networkSecurityGroup"]["id"] == rid(rg, "networkSecurityGroups", "web-nsg")
    assert subnet["routeTable"]["id"] == rid(rg, "routeTables", "spoke-rt")
    nsg = az(f"network nsg show -g {rg} -n web-nsg")
    assert [s["id"] for s in nsg["subnets"]] == [subnet["id"]]
    rt = az(f"network route-table show -g {rg} -n spoke-rt")
    assert [s["id"] for s in rt["subnets"]] == [subnet["id"]]
    assert [r["name"] for r in rt["routes"]] == ["to-nva"]

    in_use = az.fails(f"network nsg delete -g {rg} -n web-nsg")
    assert "(InUseNetworkSecurityGroupCannotBeDeleted)" in in_use.err
    outside = az.fails(f"network vnet subnet create -g {rg} --vnet-name app -n far --address-prefixes 10.9.0.0/24")
    assert "(NetcfgSubnetRangeOutsideVnet)" in outside.err


# ---- public IPs and NICs ------------------------------------------------------------------------


@sync_only
def test_public_ip_and_nic(az):
    rg = "nics"
    az(f"group create -n {rg} -l {LOCATION}")
    az(
        f"network vnet create -g {rg} -n app --address-prefixes 10.0.0.0/16 "
        "--subnet-name web --subnet-prefixes 10.0.1.0/24"
    )
    pip = az(f"network public-ip create -g {rg} -n web-ip --sku Standard --allocation-method Static")["publicIp"]
    assert (pip["sku"]["name"], pip["publicIPAllocationMethod"]) == ("Standard", "Static")
    assert pip["ipAddress"] and pip["provisioningState"] == "Succeeded"
    az(f"network nsg create -g {rg} -n web-nsg")

    nic = az(
        f"network nic create -g {rg} -n web-nic --vnet-name app --subnet web --public-ip-address web-ip "
        "--network-security-group web-nsg"
    )["NewNIC"]
    [config] = nic["ipConfigurations"]
    assert (config["privateIPAllocationMethod"], config["privateIPAddress"]) == ("Dynamic", "10.0.1.4")
    assert config["publicIPAddress"]["id"] == pip["id"] and config["primary"] is True
    assert nic["networkSecurityGroup"]["id"] == rid(rg, "networkSecurityGroups", "web-nsg")
    static = az(
        f"network nic create -g {rg} -n db-nic --vnet-name app --subnet web --private-ip-address 10.0.1.10"
    )["NewNIC"]
    assert static["ipConfigurations"][0]["privateIPAllocationMethod"] == "Static"
    assert static["ipConfigurations"][0]["privateIPAddress"] == "10.0.1.10"

    assert [c["name"] for c in az(f"network nic ip-config list -g {rg} --nic-name web-nic")] == ["ipconfig1"]
    shown = az(f"network nic ip-config show -g {rg} --nic-name web-nic -n ipconfig1")
    assert shown["id"] == config["id"] and shown["privateIPAddress"] == "10.0.1.4"
    subnet = az(f"network vnet subnet show -g {rg} --vnet-name app -n web")
    assert sorted(c["id"].lower() for c in subnet["ipConfigurations"]) == sorted(
        [config["id"].lower(), static["ipConfigurations"][0]["id"].lower()]
    )
    assert az(f"network public-ip show -g {rg} -n web-ip")["ipConfiguration"]["id"] == config["id"]

    taken = az(f"network vnet check-ip-address -g {rg} -n app --ip-address 10.0.1.4")
    assert taken["available"] is False
    assert "10.0.1.4" not in taken["availableIPAddresses"] and "10.0.1.10" not in taken["availableIPAddresses"]
    assert az(f"network vnet check-ip-address -g {rg} -n app --ip-address 10.0.1.100")["available"] is True

    in_use = az.fails(f"network public-ip delete -g {rg} -n web-ip")
    assert "(PublicIPAddressCannotBeDeleted)" in in_use.err
    az.run(f"network nic delete -g {rg} -n web-nic", expect=0)
    az.run(f"network public-ip delete -g {rg} -n web-ip", expect=0)
    assert [x["name"] for x in az(f"network nic list -g {rg}")] == ["db-nic"]


# ---- gateways -----------------------------------------------------------------------------------


def test_vnet_gateway_and_local_gateway(az, server):
    rg = f"vpn-{server.mode}"
    az(f"group create -n {rg} -l {LOCATION}")
    az(
        f"network vnet create -g {rg} -n hub --address-prefixes 10.9.0.0/16 "
        "--subnet-name GatewaySubnet --subnet-prefixes 10.9.255.0/27"
    )
    az(f"network public-ip create -g {rg} -n gw-ip --sku Standard")
    created, exchanges = az.trace(
        f"network vnet-gateway create -g {rg} -n hub-gw --vnet hub --public-ip-addresses gw-ip "
        "--gateway-type Vpn --vpn-type RouteBased --sku VpnGw1"
    )
    expect_completion(server, exchanges)
    gw = created["vnetGateway"]
    assert (gw["gatewayType"], gw["vpnType"], gw["sku"]["name"]) == ("Vpn", "RouteBased", "VpnGw1")
    assert gw["provisioningState"] == "Succeeded" and gw["activeActive"] is False
    [config] = gw["ipConfigurations"]
    assert config["subnet"]["id"] == rid(rg, "virtualNetworks", "hub", "subnets", "GatewaySubnet")
    assert config["publicIPAddress"]["id"] == rid(rg, "publicIPAddresses", "gw-ip")
    assert [g["name"] for g in az(f"network vnet-gateway list -g {rg}")] == ["hub-gw"]

    lgw = az(
        f"network local-gateway create -g {rg} -n onprem --gateway-ip-address 203.0.113.7 "
        "--local-address-prefixes 192.168.0.0/16"
    )
    assert lgw["gatewayIpAddress"] == "203.0.113.7" and lgw["provisioningState"] == "Succeeded"
    assert lgw["localNetworkAddressSpace"]["addressPrefixes"] == ["192.168.0.0/16"]
    assert az(f"network local-gateway show -g {rg} -n onprem")["id"] == rid(rg, "localNetworkGateways", "onprem")

    # `az network vpn-connection create` deploys an ARM template, which vnetlab does not serve:
    # the connection comes from the SDK, and az reads it.
    network = sdk_clients(server, Wire()).network
    body = ipsec_body(gw["id"], lgw["id"], "s3cret-key")
    network.virtual_network_gateway_connections.begin_create_or_update(rg, "to-onprem", body, **quick()).result()
    connection = az(f"network vpn-connection show -g {rg} -n to-onprem")
    assert connection["connectionType"] == "IPsec"
    assert connection["virtualNetworkGateway1"]["id"] == gw["id"]
    assert [c["name"] for c in az(f"network vpn-connection list -g {rg}")] == ["to-onprem"]
    assert az(f"network vpn-connection shared-key show -g {rg} --connection-name to-onprem")["value"] == "s3cret-key"

    in_use = az.fails(f"network vnet-gateway delete -g {rg} -n hub-gw")
    assert "(InUseVirtualNetworkGatewayCannotBeDeleted)" in in_use.err
    az.run(f"network vpn-connection delete -g {rg} -n to-onprem", expect=0)
    az.run(f"network vnet-gateway delete -g {rg} -n hub-gw", expect=0)
    az.run(f"network local-gateway delete -g {rg} -n onprem", expect=0)
    assert az(f"network vnet-gateway list -g {rg}") == []


# ---- network watchers ---------------------------------------------------------------------------


def test_network_watcher_configure_and_list(az):
    az(f"group create -n NetworkWatcherRG -l {LOCATION}")
    watchers = az(f"network watcher configure -g NetworkWatcherRG -l {LOCATION} --enabled true")
    mine = [w for w in watchers if w["location"] == LOCATION]
    assert [(w["name"], w["resourceGroup"]) for w in mine] == [(f"NetworkWatcher_{LOCATION}", "NetworkWatcherRG")]
    assert mine[0]["provisioningState"] == "Succeeded"
    rows = parse_table(az.table("network watcher list"))
    assert (f"NetworkWatcher_{LOCATION}", "Succeeded") in [(r["Name"], r["ProvisioningState"]) for r in rows]


def test_network_watcher_disable(az, server):
    # The watcher comes from the SDK, so that only the delete is under test.
    region = "eastus"
    clients = sdk_clients(server, Wire())
    network = clients.network
    clients.resources.resource_groups.create_or_update("watchers", {"location": LOCATION})
    name = f"NetworkWatcher_{region}"
    watcher = network.network_watchers.create_or_update("watchers", name, n.NetworkWatcher(location=region))
    assert watcher.provisioning_state == "Succeeded"

    az.run(f"network watcher configure -l {region} --enabled false", expect=0)
    assert region not in [w["location"] for w in az("network watcher list")]


# ---- Network Watcher's answers ------------------------------------------------------------------


@sync_only
def test_network_watcher_answers_from_the_compiled_view(az, server):
    """Effective routes and NSGs of a NIC, next hop and IP flow verify, between two peered VNets
    with an NSG that keeps SSH out of one of them."""
    rg = "watching"
    clients = sdk_clients(server, Wire())
    network = clients.network
    clients.resources.resource_groups.create_or_update(rg, {"location": LOCATION})
    # One watcher per region and subscription: an earlier test may have made this region's.
    if not any(w.location == LOCATION for w in network.network_watchers.list_all()):
        network.network_watchers.create_or_update(rg, f"NetworkWatcher_{LOCATION}", n.NetworkWatcher(location=LOCATION))
    rule = n.SecurityRule(
        name="deny-ssh-from-a", priority=100, direction="Inbound", access="Deny", protocol="Tcp",
        source_address_prefix="10.1.0.0/16", source_port_range="*",
        destination_address_prefix="*", destination_port_range="22",
    )
    nsg = network.network_security_groups.begin_create_or_update(
        rg, "b-nsg", n.NetworkSecurityGroup(location=LOCATION, security_rules=[rule]), **quick()
    ).result()
    a = make_vnet(network, rg, "a", "10.1.0.0/16", subnets={"s": "10.1.1.0/24"})
    b = network.virtual_networks.begin_create_or_update(
        rg, "b",
        n.VirtualNetwork(
            location=LOCATION,
            address_space=n.AddressSpace(address_prefixes=["10.2.0.0/16"]),
            subnets=[n.Subnet(name="s", address_prefix="10.2.1.0/24", network_security_group=n.NetworkSecurityGroup(id=nsg.id))],
        ),
        **quick(),
    ).result()
    az(f"network vnet peering create -g {rg} --vnet-name a -n a-to-b --remote-vnet b --allow-vnet-access")
    az(f"network vnet peering create -g {rg} --vnet-name b -n b-to-a --remote-vnet a --allow-vnet-access")
    ips = {}
    for name, vnet in [("a", a), ("b", b)]:
        nic = make_nic(network, rg, f"vm-{name}-nic", vnet.subnets[0].id)
        clients.compute.virtual_machines.begin_create_or_update(rg, f"vm-{name}", vm_body(nic.id), **quick()).result()
        ips[name] = nic.ip_configurations[0].private_ip_address

    routes = az(f"network nic show-effective-route-table -g {rg} -n vm-a-nic")["value"]
    summary = [(r["source"], r["state"], r["addressPrefix"], r["nextHopType"]) for r in routes]
    assert ("Default", "Active", ["10.1.0.0/16"], "VnetLocal") in summary, summary
    assert ("Default", "Active", ["10.2.0.0/16"], "VNetPeering") in summary, summary
    assert ("Default", "Active", ["0.0.0.0/0"], "Internet") in summary, summary
    rows = parse_table(az.table(f"network nic show-effective-route-table -g {rg} -n vm-a-nic"))
    assert {"Source": "Default", "State": "Active", "Address Prefix": "10.2.0.0/16", "Next Hop Type": "VNetPeering",
            "Next Hop IP": ""}.items() <= next(r for r in rows if r.get("Address Prefix") == "10.2.0.0/16").items(), rows

    groups = az(f"network nic list-effective-nsg -g {rg} -n vm-b-nic")["value"]
    assert [g["networkSecurityGroup"]["id"].lower() for g in groups] == [nsg.id.lower()]
    names = [r["name"] for r in groups[0]["effectiveSecurityRules"]]
    assert names[0] == "securityRules/deny-ssh-from-a" and "defaultSecurityRules/AllowVnetInBound" in names

    hop = az(f"network watcher show-next-hop -g {rg} --vm vm-a --source-ip {ips['a']} --dest-ip {ips['b']}")
    assert (hop["nextHopType"], hop["routeTableId"]) == ("VnetPeering", "System Route"), hop
    hop = az(f"network watcher show-next-hop -g {rg} --vm vm-a --source-ip {ips['a']} --dest-ip 10.3.0.4")
    assert hop["nextHopType"] == "None", hop

    flow = az(
        f"network watcher test-ip-flow -g {rg} --vm vm-b --direction Inbound --protocol TCP "
        f"--local {ips['b']}:22 --remote {ips['a']}:50000"
    )
    assert (flow["access"], flow["ruleName"]) == ("Deny", "securityRules/deny-ssh-from-a"), flow
    flow = az(
        f"network watcher test-ip-flow -g {rg} --vm vm-b --direction Inbound --protocol TCP "
        f"--local {ips['b']}:80 --remote {ips['a']}:50000"
    )
    assert (flow["access"], flow["ruleName"]) == ("Allow", "defaultSecurityRules/AllowVnetInBound"), flow
    # A local address the VM does not have: Azure's error envelope, through az.
    bad = az.fails(
        f"network watcher test-ip-flow -g {rg} --vm vm-b --direction Inbound --protocol TCP "
        f"--local 10.2.1.250:80 --remote {ips['a']}:50000"
    )
    assert "is not an address of" in bad.err, bad.err

    # Connectivity check: the path from the compiled view, with the blocking rule as an issue.
    check = az(f"network watcher test-connectivity -g {rg} --source-resource vm-a --dest-resource vm-b --dest-port 22")
    assert check["connectionStatus"] == "Unreachable", check
    assert [h["type"] for h in check["hops"]] == ["Source", "VirtualNetwork"], check
    assert check["hops"][0]["address"] == ips["a"] and check["hops"][1]["address"] == ips["b"], check
    assert check["hops"][0]["nextHopIds"] == [check["hops"][1]["id"]], check
    issue = check["hops"][1]["issues"][0]
    assert (issue["type"], issue["origin"], issue["severity"]) == ("NetworkSecurityRule", "Inbound", "Error"), issue
    assert {"key": "RuleName", "value": "deny-ssh-from-a"} in issue["context"], issue
    check = az(f"network watcher test-connectivity -g {rg} --source-resource vm-a --dest-resource vm-b --dest-port 80")
    assert check["connectionStatus"] == "Connected" and check["probesFailed"] == 0, check
    assert all(h["issues"] == [] for h in check["hops"]), check
    check = az(f"network watcher test-connectivity -g {rg} --source-resource vm-a --dest-address 10.2.1.250 --dest-port 80")
    assert check["connectionStatus"] == "Unreachable", check
    bad = az.fails(f"network watcher test-connectivity -g {rg} --source-resource vm-a --dest-address example.com --dest-port 80")
    assert "resolves no host names" in bad.err, bad.err

    # After a change the next answer follows it: deleting one side disconnects the peering.
    az(f"network vnet peering delete -g {rg} --vnet-name b -n b-to-a")
    routes = az(f"network nic show-effective-route-table -g {rg} -n vm-a-nic")["value"]
    assert not [r for r in routes if r["nextHopType"] == "VNetPeering"], routes
    check = az(f"network watcher test-connectivity -g {rg} --source-resource vm-a --dest-resource vm-b --dest-port 80")
    assert check["connectionStatus"] == "Unreachable", check
    issues = [i for h in check["hops"] for i in h["issues"]]
    context = {c["key"]: c["value"] for c in issues[0]["context"]}
    assert "has no link back" in context["Problem"] and "peering create" in context["Fix"], context


# ---- virtual machines (created through the SDK: `az vm create` is not served) -------------------


@sync_only
def test_vm_show_list_delete(az, server):
    rg = "vms"
    clients = sdk_clients(server, Wire())
    clients.resources.resource_groups.create_or_update(rg, {"location": LOCATION})
    vnet = make_vnet(clients.network, rg, "v", "10.0.0.0/16", subnets={"s": "10.0.0.0/24"})
    nic = make_nic(clients.network, rg, "vm1-nic", vnet.subnets[0].id)
    clients.compute.virtual_machines.begin_create_or_update(rg, "vm1", vm_body(nic.id), **quick()).result()

    vm = az(f"vm show -g {rg} -n vm1")
    assert vm["hardwareProfile"]["vmSize"] == "Standard_B1s" and vm["provisioningState"] == "Succeeded"
    assert vm["networkProfile"]["networkInterfaces"][0]["id"].lower() == nic.id.lower()
    assert "adminPassword" not in vm["osProfile"] or vm["osProfile"]["adminPassword"] is None
    assert [m["name"] for m in az(f"vm list -g {rg}")] == ["vm1"]
    assert az(f"network nic show -g {rg} -n vm1-nic")["virtualMachine"]["id"].lower() == vm["id"].lower()
    az.run(f"vm delete -g {rg} -n vm1 --yes", expect=0)
    assert az(f"vm list -g {rg}") == []
    assert "virtualMachine" not in az(f"network nic show -g {rg} -n vm1-nic")


# ---- paging -------------------------------------------------------------------------------------


def test_az_follows_next_link(paged_server):
    """az's AAZ pager follows nextLink like the SDK's (the server answers 2 items per page)."""
    clients = sdk_clients(paged_server, Wire())
    rg = "paging"
    clients.resources.resource_groups.create_or_update(rg, {"location": LOCATION})
    for i in range(5):
        subnets = {f"s{j}": f"10.{i}.{j}.0/24" for j in range(3)}
        make_vnet(clients.network, rg, f"v{i}", f"10.{i}.0.0/16", subnets=subnets)
    az = logged_in_az(paged_server)

    vnets, exchanges = az.trace(f"network vnet list -g {rg}")
    assert sorted(v["name"] for v in vnets) == [f"v{i}" for i in range(5)]
    assert len([e for e in exchanges if "/virtualnetworks" in e.url.lower()]) == 3
    assert sorted(s["name"] for s in az(f"network vnet subnet list -g {rg} --vnet-name v0")) == ["s0", "s1", "s2"]
    assert {f"v{i}" for i in range(5)} <= {v["name"] for v in az("network vnet list")}
