"""Real packets under the real az CLI: with `vnetlab serve --dataplane`, a peering made or removed
through the API changes what the kernel lets through (as root; skipped otherwise, unless
VNETLAB_REQUIRE_ROOT=1 makes it fail)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import logged_in_az, start_server, vnetlab_bin

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales-marketing.yaml"
RG = "learn-rg"


def root() -> bool:
    if os.geteuid() == 0:
        return True
    if os.environ.get("VNETLAB_REQUIRE_ROOT") == "1":
        pytest.fail("the data-plane client test needs root (VNETLAB_REQUIRE_ROOT=1 is set)")
    return False


def vnetlab(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VNETLAB_HOME": str(home)}
    return subprocess.run([str(vnetlab_bin()), *args], env=env, capture_output=True, text=True, timeout=120)


def pings(home: Path) -> bool:
    return vnetlab(home, "exec", "SalesVM", "--", "ping", "-c", "1", "-W", "1", "10.2.1.4").returncode == 0


def eventually(check, want: bool, seconds: float = 5.0) -> bool:
    """Whether `check()` gives `want` within `seconds` (the agent follows the API's writes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check() == want:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def dataplane_server(tmp_path_factory):
    if not root():
        pytest.skip("the data plane needs root")

    def prepare(home: Path) -> None:
        done = vnetlab(home, "up", str(EXAMPLE))
        assert done.returncode == 0, done.stderr

    server = start_server(tmp_path_factory.mktemp("vnetlab"), "sync", extra=("--dataplane",), prepare=prepare)
    yield server
    server.stop()
    vnetlab(server.home, "down")


def test_az_peering_changes_what_packets_do(dataplane_server):
    home = dataplane_server.home
    az = logged_in_az(dataplane_server)
    assert pings(home), "the example's peering carries packets"

    az(f"network vnet peering delete -g {RG} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet")
    assert eventually(lambda: pings(home), False), "deleting one side stops the packets"

    # The other side is Disconnected: as in Azure, it is made again, then this one.
    az(f"network vnet peering delete -g {RG} --vnet-name MarketingVNet -n MarketingVNet-To-SalesVNet")
    az(
        f"network vnet peering create -g {RG} --vnet-name MarketingVNet -n MarketingVNet-To-SalesVNet "
        "--remote-vnet SalesVNet --allow-vnet-access"
    )
    assert not pings(home), "Initiated carries nothing"
    az(
        f"network vnet peering create -g {RG} --vnet-name SalesVNet -n SalesVNet-To-MarketingVNet "
        "--remote-vnet MarketingVNet --allow-vnet-access"
    )
    assert eventually(lambda: pings(home), True), "Connected again: the next ping goes through"
