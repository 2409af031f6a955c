"""The portal in a real browser: Debian's Chromium, headless, driven by Playwright (pointed at the
installed browser; nothing is downloaded). Adding a peering through the form makes both sides,
an overlapping VNet is refused with the engine's words, delete removes both sides, a peering
made by az appears without a reload, and Sync brings a link back in step. The topology page
draws the lab, zooms and pans, opens a VNet, draws a trace between two VMs with its blockers
(following a change az makes) and overlays the reachability matrix. Screenshots of the pages go
to target/portal-screenshots/ for people to look at."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import logged_in_az, start_server, vnetlab_bin

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "target" / "portal-screenshots"
SUB = "00000000-0000-0000-0000-000000000001"
NET = f"/subscriptions/{SUB}/resourceGroups/portal-rg/providers/Microsoft.Network/virtualNetworks"

TOPOLOGY = """
resourceGroup: portal-rg
nsgs:
  - name: apps-nsg
    rules:
      - {name: deny-telnet, priority: 200, direction: Inbound, access: Deny, protocol: Tcp, destinationPorts: "23"}
vnets:
  - {name: alpha, addressSpace: [10.1.0.0/16], subnets: [{name: apps, addressPrefix: 10.1.1.0/24, nsg: apps-nsg}]}
  - {name: beta, addressSpace: [10.2.0.0/16]}
  - {name: gamma, addressSpace: [10.1.128.0/17]}
  - {name: delta, addressSpace: [10.4.0.0/16]}
vms:
  - {name: alpha-vm, subnet: alpha/apps}
"""


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory):
    def prepare(home: Path) -> None:
        (home / "portal.yaml").write_text(TOPOLOGY)
        env = {**os.environ, "VNETLAB_HOME": str(home)}
        subprocess.run([str(vnetlab_bin()), "up", str(home / "portal.yaml")], env=env, check=True, capture_output=True)

    s = start_server(tmp_path_factory.mktemp("vnetlab"), "sync", prepare=prepare)
    yield s
    s.stop()


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    def prepare(home: Path) -> None:
        env = {**os.environ, "VNETLAB_HOME": str(home)}
        subprocess.run(
            [str(vnetlab_bin()), "up", str(EXAMPLES / "hub-and-spoke.yaml")], env=env, check=True, capture_output=True
        )

    s = start_server(tmp_path_factory.mktemp("vnetlab"), "sync", prepare=prepare)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (scripts/test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, portal_server):
    context = browser.new_context(ignore_https_errors=True, color_scheme="light")
    pg = context.new_page()
    errors: list[str] = []
    # Script errors and policy violations; the browser's own lines for refused requests (the
    # engine's 400 for the overlapping VNet) are expected.
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def open_vnet(page, server, name: str) -> None:
    page.goto(f"{server.url}/#/vnets")
    page.get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, exact=True).wait_for()


def row(page, link: str):
    return page.locator(f"tr[data-peering='{link}']")


def test_the_portal_adds_deletes_and_follows_peerings(page, portal_server):
    s = portal_server
    az = logged_in_az(s)
    page.goto(f"{s.url}/")
    page.get_by_role("table", name="Virtual networks").wait_for()
    for name in ("alpha", "beta", "gamma", "delta"):
        assert page.get_by_role("link", name=name, exact=True).is_visible()
    shot(page, "vnets")

    open_vnet(page, s, "alpha")
    assert page.get_by_role("table", name="Connected devices").get_by_role("cell", name="alpha-vm", exact=True).is_visible()
    page.get_by_role("button", name="+ Add").click()
    page.get_by_role("heading", name="Add peering to alpha").wait_for()
    # Gateway options are off without a gateway; the overlapping candidate is greyed out with why.
    assert page.get_by_label("Allow gateway in 'alpha' to forward traffic to the peered virtual network").is_disabled()
    gamma = page.locator("#remote-vnet option", has_text="gamma")
    assert gamma.is_disabled() and "overlaps 10.1.0.0/16" in gamma.inner_text()
    # Client-side validation: nothing is sent for a bad name.
    page.get_by_label("Peering link name").first.fill("-bad")
    page.get_by_role("button", name="Add", exact=True).click()
    assert page.get_by_text("must be 1 to 80 letters").first.is_visible()
    page.locator("#local-name").fill("alpha-to-beta")
    page.locator("#remote-name").fill("beta-to-alpha")
    page.locator("#remote-vnet").select_option(label="beta")
    assert page.get_by_label("Allow 'alpha' to access the peered virtual network").is_checked()
    shot(page, "add-peering")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("heading", name="alpha", exact=True).wait_for()
    assert row(page, "alpha-to-beta").locator("td").nth(1).inner_text() == "Connected"
    shot(page, "peerings")
    # The same through az: both sides Connected.
    for vnet, link in (("alpha", "alpha-to-beta"), ("beta", "beta-to-alpha")):
        links = az(f"network vnet peering list -g portal-rg --vnet-name {vnet}")
        assert [(p["name"], p["peeringState"]) for p in links] == [(link, "Connected")], links

    # An overlapping VNet named by its id: the engine refuses, in Azure's words, and nothing is made.
    page.get_by_role("button", name="+ Add").click()
    page.locator("#local-name").fill("alpha-to-gamma")
    page.locator("#remote-name").fill("gamma-to-alpha")
    page.get_by_label("I know my resource ID").check()
    page.locator("#remote-id").fill(f"{NET}/gamma")
    page.get_by_role("button", name="Add", exact=True).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "(VnetAddressSpacesOverlap)" in alert.inner_text(), alert.inner_text()
    shot(page, "overlap-refused")
    assert az("network vnet peering list -g portal-rg --vnet-name alpha") and not az(
        "network vnet peering list -g portal-rg --vnet-name gamma"
    )
    page.get_by_role("button", name="Cancel").click()

    # A peering made by az appears without a reload.
    page.get_by_role("heading", name="alpha", exact=True).wait_for()
    rendered = page.evaluate("document.body.dataset.rendered")
    started = time.monotonic()
    az(f"network vnet peering create -g portal-rg --vnet-name alpha -n alpha-to-delta --remote-vnet delta --allow-vnet-access")
    row(page, "alpha-to-delta").wait_for(timeout=5000)
    assert page.evaluate("document.body.dataset.rendered") != rendered
    assert row(page, "alpha-to-delta").locator("td").nth(1).inner_text() == "Initiated"
    print(f"live update seen {time.monotonic() - started:.2f} s after az was started")

    # Sync after the remote's address space changes.
    az("network vnet update -g portal-rg -n beta --address-prefixes 10.2.0.0/16 10.3.0.0/16")
    sync = row(page, "alpha-to-beta").get_by_role("button", name="Sync alpha-to-beta")
    expect(sync).to_be_enabled(timeout=5000)
    assert "sync required" in row(page, "alpha-to-beta").locator("td").nth(2).inner_text()
    sync.click()
    expect(row(page, "alpha-to-beta").get_by_role("button", name="Sync alpha-to-beta")).to_be_disabled(timeout=5000)
    assert row(page, "alpha-to-beta").locator("td").nth(2).inner_text() == "Fully Synchronized"

    # Delete, both sides.
    row(page, "alpha-to-beta").get_by_role("button", name="Delete alpha-to-beta").click()
    both = page.get_by_label("Also delete the peering link beta-to-alpha on beta")
    assert both.is_checked()
    page.get_by_role("form", name="Delete peering").get_by_role("button", name="Delete").click()
    row(page, "alpha-to-beta").wait_for(state="detached")
    assert az("network vnet peering list -g portal-rg --vnet-name beta") == []
    shot(page, "after-delete")
    # A NIC's effective routes and security rules, as the portal's tables.
    page.get_by_role("link", name="alpha-vm-nic").click()
    routes = page.get_by_role("table", name="Effective routes")
    routes.wait_for()
    assert routes.get_by_role("row").filter(has_text="VnetLocal").filter(has_text="10.1.0.0/16").count() == 1
    assert routes.get_by_role("row").filter(has_text="VNetPeering").filter(has_text="10.4.0.0/16").count() == 0, "alpha-to-delta is only Initiated"
    rules = page.get_by_role("table", name="Effective security rules of apps-nsg")
    deny = rules.get_by_role("row").filter(has_text="deny-telnet")
    assert "Deny" in deny.inner_text() and "200" in deny.inner_text()
    assert rules.get_by_role("row").filter(has_text="AllowVnetInBound").count() == 1
    shot(page, "nic-effective")
    assert page.errors == [], page.errors


def test_dark_mode_and_keyboard(browser, portal_server):
    context = browser.new_context(ignore_https_errors=True, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{portal_server.url}/#/vnets")
    page.get_by_role("table", name="Virtual networks").wait_for()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(27, 27, 31)", background
    shot(page, "vnets-dark")
    # The page is usable from the keyboard: tab to a VNet's link and open it with Enter.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "alpha":
            break
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="alpha", exact=True).wait_for()
    context.close()


def view_box(page) -> list[float]:
    return [float(v) for v in page.locator("#topology").get_attribute("viewBox").split()]


def test_the_topology_page_draws_traces_and_reachability(browser, hub_server):
    s = hub_server
    az = logged_in_az(s)
    context = browser.new_context(ignore_https_errors=True, color_scheme="light", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{s.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Topology").click()
    picture = page.locator("#topology")
    picture.wait_for()
    names = page.locator("#topology .node").evaluate_all("ns => ns.map(n => n.dataset.name)")
    assert names == ["hub", "spoke1", "spoke2", "spoke3", "hub-vpngw", "branch-office"], names
    peerings = page.locator("#topology .edge-peering")
    assert peerings.count() == 3
    assert {peerings.nth(i).get_attribute("data-states") for i in range(3)} == {"Connected / Connected"}
    assert page.locator("#topology .edge-connection[data-from='hub-vpngw'][data-to='branch-office']").count() == 1
    assert page.locator("#topology .kind-gw").count() == 1 and page.locator("#topology .kind-site").count() == 1

    # Zoom and pan, with the buttons and the keyboard; Fit goes back.
    whole = view_box(page)
    page.get_by_role("button", name="Zoom in").click()
    zoomed = view_box(page)
    assert zoomed[2] < whole[2] and zoomed[3] < whole[3]
    picture.focus()
    page.keyboard.press("ArrowRight")
    assert view_box(page)[0] > zoomed[0]
    page.keyboard.press("-")
    assert view_box(page)[2] > zoomed[2]
    page.get_by_role("button", name="Fit").click()
    assert view_box(page) == whole
    # Dragging pans.
    box = picture.bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 90, steps=5)
    page.mouse.up()
    assert view_box(page)[0] < whole[0]
    page.get_by_role("button", name="Fit").click()

    # A trace from spoke1 to spoke3 runs through the hub's appliance, drawn on the picture.
    page.get_by_label("From VM").select_option(label="spoke1-vm (spoke1)")
    page.get_by_label("To VM").select_option(label="spoke3-vm (spoke3)")
    page.get_by_label("Protocol").select_option("Icmp")
    assert page.get_by_label("Port").is_disabled()
    page.get_by_role("button", name="Trace", exact=True).click()
    verdict = page.locator("#trace-result .verdict")
    expect(verdict).to_contain_text("Reachable")
    forward = page.locator("#topology .trace-mark[data-leg='forward']").evaluate_all("ms => ms.map(m => m.dataset.name)")
    assert forward == ["spoke1", "hub", "spoke3"], forward
    assert page.locator("#topology .trace-line[data-leg='return']").count() == 2
    assert "appliance" in page.locator("#trace-result ol.hops").first.inner_text()
    shot(page, "topology-trace")

    # az deletes the hub's link to spoke3: the picture and the trace follow without a reload.
    rendered = page.evaluate("document.body.dataset.rendered")
    az("network vnet peering delete -g hub-and-spoke-rg --vnet-name hub -n hub-to-spoke3")
    expect(page.locator("#topology .edge-link[data-from='spoke3']")).to_have_attribute("data-states", "Disconnected", timeout=5000)
    assert page.evaluate("document.body.dataset.rendered") != rendered
    expect(verdict).to_contain_text("Not reachable", timeout=5000)
    blockers = page.get_by_role("list", name="Blockers")
    said = blockers.inner_text()
    assert "'spoke3' has a link to 'hub' ('spoke3-to-hub'), Disconnected, and 'hub' has none back" in said, said
    # Azure refuses a new link while the other side's is Disconnected: the fix deletes it first.
    assert "az network vnet peering delete -g hub-and-spoke-rg --vnet-name spoke3 -n spoke3-to-hub" in said, said
    assert "az network vnet peering create -g hub-and-spoke-rg --vnet-name hub -n hub-to-spoke3" in said, said
    # The drawing was brought up to date in place: no line is left from before.
    assert page.locator("#topology .edge").count() == 5
    assert page.locator("#topology .edge[data-from='hub'][data-to='spoke3']").count() == 0
    assert page.locator("#topology .trace-mark.trace-blocked").count() >= 1
    shot(page, "topology-trace-blocked")

    # The reachability overlay and its matrix.
    page.get_by_label("Show reachability").check()
    matrix = page.get_by_role("table", name="Reachability matrix")
    matrix.wait_for()
    row = matrix.get_by_role("row").filter(has=page.get_by_role("rowheader", name="spoke1", exact=True))
    cells = row.get_by_role("cell").all_inner_texts()
    # Columns: hub, spoke1, spoke2, spoke3, branch-office.
    assert cells == ["✓", "—", "✓", "✗", "✓"], cells
    assert page.locator("#topology .reach-line").count() > 0
    assert page.locator("#topology .reach-line[data-from='spoke1'][data-to='spoke3']").count() == 0
    shot(page, "topology-reach")

    # The CLI, another process on the same lab, applies the fix: the picture, the trace and the
    # matrix follow without a reload.
    def cli(*args: str) -> None:
        env = {**os.environ, "VNETLAB_HOME": str(s.home)}
        subprocess.run([str(vnetlab_bin()), "vnet", "peering", *args], env=env, check=True, capture_output=True)

    cli("delete", "-g", "hub-and-spoke-rg", "--vnet-name", "spoke3", "-n", "spoke3-to-hub")
    expect(page.locator("#topology .edge")).to_have_count(4, timeout=5000)
    # As the example peers them: forwarded traffic allowed (spoke to spoke goes through the hub's
    # appliance), the hub's gateway shared.
    cli("create", "-g", "hub-and-spoke-rg", "--vnet-name", "hub", "-n", "hub-to-spoke3", "--remote-vnet", "spoke3",
        "--allow-vnet-access", "--allow-forwarded-traffic", "--allow-gateway-transit")
    cli("create", "-g", "hub-and-spoke-rg", "--vnet-name", "spoke3", "-n", "spoke3-to-hub", "--remote-vnet", "hub",
        "--allow-vnet-access", "--allow-forwarded-traffic", "--use-remote-gateways")
    restored = page.locator("#topology .edge-peering[data-from='hub'][data-to='spoke3']")
    expect(restored).to_have_attribute("data-states", "Connected / Connected", timeout=5000)
    expect(verdict).to_contain_text("Reachable", timeout=5000)
    expect(row.get_by_role("cell").nth(3)).to_have_text("✓", timeout=5000)
    assert page.locator("#topology .edge").count() == 5

    # Bad input is refused before anything is sent.
    traces: list[str] = []
    page.on("request", lambda r: traces.append(r.url) if "/portal/trace" in r.url else None)
    page.get_by_label("Protocol").select_option("Tcp")
    page.get_by_label("Port").fill("70000")
    page.get_by_role("button", name="Trace", exact=True).click()
    expect(page.locator("#trace-result [role='alert']")).to_contain_text("is not a port")
    page.get_by_label("From VM").select_option("")
    page.get_by_label("Port").fill("22")
    page.get_by_role("button", name="Trace", exact=True).click()
    expect(page.locator("#trace-result [role='alert']")).to_contain_text("Choose the VM to trace from")
    assert traces == [], traces

    # The picture's keys work on a focused VNet too.
    page.locator("#topology .node[data-name='spoke2']").focus()
    before = view_box(page)
    page.keyboard.press("+")
    assert view_box(page)[2] < before[2]
    page.get_by_role("button", name="Fit").click()

    # A VNet opens from the picture, with the mouse and with the keyboard.
    page.locator("#topology .node[data-name='spoke2']").click()
    page.get_by_role("heading", name="spoke2", exact=True).wait_for()
    page.go_back()
    page.locator("#topology .node[data-name='spoke1']").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="spoke1", exact=True).wait_for()
    assert errors == [], errors
    context.close()

    dark = browser.new_context(ignore_https_errors=True, color_scheme="dark", viewport={"width": 1280, "height": 900})
    page = dark.new_page()
    page.goto(f"{s.url}/#/topology")
    page.locator("#topology .node").first.wait_for()
    fill = page.locator("#topology .kind-vnet .box").first.evaluate("b => getComputedStyle(b).fill")
    assert fill == "rgb(31, 59, 87)", fill
    # Lines and words in the dark scheme's colours (light on dark).
    stroke = page.locator("#topology .edge-peering line").first.evaluate("l => getComputedStyle(l).stroke")
    assert stroke == "rgb(108, 203, 95)", stroke
    text = page.locator("#topology .node text").first.evaluate("t => getComputedStyle(t).fill")
    assert text == "rgb(236, 236, 236)", text
    shot(page, "topology-dark")
    dark.close()


AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2 A and AA checks, run in the page (evaluated over the DevTools protocol,
    which the page's content policy does not apply to)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(browser, hub_server, scheme):
    if not AXE.exists():
        pytest.fail("axe-core is not installed (scripts/test runs npm ci in tests/clients)")
    s = hub_server
    context = browser.new_context(ignore_https_errors=True, color_scheme=scheme, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    hub = f"/subscriptions/{SUB}/resourceGroups/hub-and-spoke-rg/providers/Microsoft.Network/virtualNetworks/hub"
    nic = f"/subscriptions/{SUB}/resourceGroups/hub-and-spoke-rg/providers/Microsoft.Network/networkInterfaces/nva-nic"
    found: dict[str, list[str]] = {}
    for name, hash_, ready in (
        ("vnets", "#/vnets", "table"),
        ("vnet", f"#/vnet/{quote(hub, safe='')}", "tr[data-peering]"),
        ("add-peering", f"#/vnet/{quote(hub, safe='')}/add-peering", "#local-name"),
        ("nic", f"#/nic/{quote(nic, safe='')}", "table[aria-label='Effective routes']"),
        ("topology", "#/topology", "#topology .node"),
    ):
        page.goto(f"{s.url}/{hash_}")
        page.locator(ready).first.wait_for()
        if name == "topology":
            page.get_by_label("From VM").select_option(label="spoke1-vm (spoke1)")
            page.get_by_label("To VM").select_option(label="spoke2-vm (spoke2)")
            page.get_by_role("button", name="Trace", exact=True).click()
            page.locator("#trace-result .verdict").wait_for()
            page.get_by_label("Show reachability").check()
            page.get_by_role("table", name="Reachability matrix").wait_for()
        violations = axe_violations(page)
        if violations:
            found[name] = violations
    context.close()
    assert found == {}, "\n".join(f"{page}: {v}" for page, vs in found.items() for v in vs)
