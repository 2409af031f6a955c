"""Two teams in two tenants, each signed in with its own service principal through the real az
CLI: the hub team peers hub→spoke and the spoke team spoke→hub, each with the other's token as
az sends it (x-ms-authorization-auxiliary), only once the other side has given it a role there.
The lab is examples/two-teams.yaml (both teams Owner of their own subscription, guests of the
other's tenant, and each with a VNet 'lab' on the same 10.0.0.0/16)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import Az, start_server, vnetlab_bin, with_cloud

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two-teams.yaml"
TENANT_A, TENANT_B = "aaaa0000-0000-0000-0000-00000000000a", "bbbb0000-0000-0000-0000-00000000000b"
SUB_A, SUB_B = "aaaa1111-0000-0000-0000-00000000000a", "bbbb1111-0000-0000-0000-00000000000b"
HUB_APP, SPOKE_APP = "aaaa2222-0000-0000-0000-00000000000a", "bbbb2222-0000-0000-0000-00000000000b"
HUB = f"/subscriptions/{SUB_A}/resourceGroups/hub-rg/providers/Microsoft.Network/virtualNetworks/hub"
SPOKE = f"/subscriptions/{SUB_B}/resourceGroups/spoke-rg/providers/Microsoft.Network/virtualNetworks/spoke"


@pytest.fixture(scope="module")
def teams_server(tmp_path_factory):
    def prepare(home: Path) -> None:
        env = {**os.environ, "VNETLAB_HOME": str(home)}
        subprocess.run([str(vnetlab_bin()), "up", str(EXAMPLE)], env=env, check=True, capture_output=True)

    s = start_server(tmp_path_factory.mktemp("vnetlab"), "sync", prepare=prepare)
    yield s
    s.stop()


def object_id(server, name: str) -> str:
    env = {**os.environ, "VNETLAB_HOME": str(server.home)}
    out = subprocess.run(
        [str(vnetlab_bin()), "principal", "list", "-o", "json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    import json

    return next(p["objectId"] for p in json.loads(out) if p["displayName"] == name)


def team(server, config_dir: Path, app: str, secret: str, home_tenant: str, other_tenant: str, sub: str) -> Az:
    """az signed in to both tenants (the other one first, as a guest), working in `sub`."""
    az = with_cloud(Az(server, config_dir=config_dir))
    for tenant in (other_tenant, home_tenant):
        az.run(f"login --service-principal -u {app} -p {secret} --tenant {tenant} --allow-no-subscriptions -o none", expect=0)
    az.run(f"account set -s {sub}", expect=0)
    return az


def grant(az: Az, role: str, principal: str, scope: str) -> dict:
    return az(
        f"role assignment create --assignee-object-id {principal} --assignee-principal-type ServicePrincipal "
        f'--role "{role}" --scope {scope}'
    )


def test_two_teams_peer_across_tenants(teams_server, tmp_path):
    s = teams_server
    hub_oid, spoke_oid = object_id(s, "hub-team"), object_id(s, "spoke-team")
    spoke = team(s, tmp_path / "spoke", SPOKE_APP, "spoke-secret", TENANT_B, TENANT_A, SUB_B)
    # The spoke team lets the hub team read its VNet: the hub team now sees the spoke subscription.
    reader = grant(spoke, "Reader", hub_oid, SPOKE)
    assert reader["scope"] == SPOKE and reader["principalId"] == hub_oid
    hub = team(s, tmp_path / "hub", HUB_APP, "hub-secret", TENANT_A, TENANT_B, SUB_A)
    accounts = {a["id"]: a["tenantId"] for a in hub("account list")}
    assert accounts == {SUB_A: TENANT_A, SUB_B: TENANT_B}, accounts

    # Each team lists its own VNets; the same address space in both tenants never shows across.
    assert sorted(v["name"] for v in hub(f"network vnet list --subscription {SUB_A}")) == ["hub", "lab"]
    assert [v["name"] for v in hub(f"network vnet list --subscription {SUB_B}")] == ["spoke"], "Reader on one VNet"

    peer = (
        "network vnet peering create -g hub-rg --vnet-name hub -n hub-to-spoke "
        f"--remote-vnet {SPOKE} --allow-vnet-access"
    )
    refused = hub.fails(peer)
    assert "LinkedAuthorizationFailed" in refused.err and "peer/action" in refused.err, refused
    contributor = grant(spoke, "Network Contributor", hub_oid, SPOKE)
    link = hub(peer)
    assert link["peeringState"] == "Initiated"

    grant(hub, "Network Contributor", spoke_oid, HUB)
    # The spoke team signs in to the hub's tenant again to see the subscription it now has a role in.
    spoke.run(f"login --service-principal -u {SPOKE_APP} -p spoke-secret --tenant {TENANT_A} -o none", expect=0)
    spoke.run(f"account set -s {SUB_B}", expect=0)
    back = spoke(
        f"network vnet peering create -g spoke-rg --vnet-name spoke -n spoke-to-hub --remote-vnet {HUB} --allow-vnet-access"
    )
    assert back["peeringState"] == "Connected"
    assert hub("network vnet peering show -g hub-rg --vnet-name hub -n hub-to-spoke")["peeringState"] == "Connected"

    # The spoke team lists the assignments on its VNet, with the principals' names from Graph.
    listed = spoke(f"role assignment list --scope {SPOKE}")
    assert sorted(a["roleDefinitionName"] for a in listed) == ["Network Contributor", "Reader"], listed
    assert {a["principalName"] for a in listed} == {HUB_APP}, listed

    # Taking the role back keeps the peering and stops new ones.
    spoke.run(f"role assignment delete --ids {contributor['id']}", expect=0)
    assert hub("network vnet peering show -g hub-rg --vnet-name hub -n hub-to-spoke")["peeringState"] == "Connected"
    again = hub.fails(f"network vnet peering create -g hub-rg --vnet-name lab -n lab-to-spoke --remote-vnet {SPOKE}")
    assert "LinkedAuthorizationFailed" in again.err, again
    # And the hub team cannot give itself the role back.
    denied = hub.fails(
        f"role assignment create --assignee-object-id {hub_oid} --assignee-principal-type ServicePrincipal "
        f'--role "Network Contributor" --scope {SPOKE}'
    )
    assert "AuthorizationFailed" in denied.err, denied
