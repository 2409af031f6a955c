"""Fixtures for the client suite: a `vnetlab serve` per LRO mode, the real az CLI logged in to it,
and the Azure SDK management clients pointed at it.

Servers are module-scoped and cheap (a fresh lab directory, a free loopback port); tests isolate
themselves with a fresh resource group each. Nothing here talks to anything but 127.0.0.1: every
child process and this one get a proxy that does not exist for any other host.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TENANT = "0000aaaa-0000-0000-0000-000000000001"
LOCATION = "westus"
MODES = ("sync", "async")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "debug" / "vnetlab"

# Any request that is not for loopback goes to a proxy on a port nobody listens on, and fails
# there instead of leaving the machine.
LOOPBACK_ONLY = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
os.environ.update(LOOPBACK_ONLY)


def vnetlab_bin() -> Path:
    path = Path(os.environ.get("VNETLAB_BIN", DEFAULT_BIN))
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.exists():
        pytest.fail(
            f"vnetlab binary not found at {path}: build it with `cargo build` or set VNETLAB_BIN",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    """One running `vnetlab serve`."""

    mode: str
    page_size: int | None
    home: Path
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.addr}"

    @property
    def ca(self) -> Path:
        return self.home / "tls" / "ca.pem"

    @property
    def is_async(self) -> bool:
        return self.mode == "async"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, Any]:
        """A raw GET over TLS with no proxy, no token and no client library in between."""
        context = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(body) if body else None
        except ValueError:
            return response.status, body.decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            # The server stops cleanly on Ctrl-C.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def vnetlab(server: "Server", *args: str) -> str:
    """Runs the vnetlab CLI on the server's lab, which must succeed; its output."""
    env = {**os.environ, "VNETLAB_HOME": str(server.home)}
    done = subprocess.run([str(vnetlab_bin()), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"vnetlab {' '.join(args)}: {done.stderr}"
    return done.stdout


def start_server(
    root: Path, mode: str, page_size: int | None = None, extra: tuple[str, ...] = (), prepare=None
) -> Server:
    """`vnetlab serve` on a new home; `prepare(home)` runs first, `extra` are more serve flags."""
    binary = vnetlab_bin()
    for attempt in range(3):
        home = root / f"{mode}-{page_size or 'default'}-{attempt}"
        home.mkdir(parents=True)
        if prepare is not None:
            prepare(home)
        port = free_port()
        log = home / "serve.log"
        args = [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--lro", mode, *extra]
        if page_size is not None:
            args += ["--page-size", str(page_size)]
        env = {**os.environ, "VNETLAB_HOME": str(home)}
        with log.open("wb") as out:
            process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        server = Server(mode, page_size, home, port, process, log)
        if wait_until_ready(server):
            return server
        server.stop()
        if "Address already in use" not in server.output():
            break
    pytest.fail(f"`{' '.join(args)}` did not start:\n{server.output()}", pytrace=False)


def wait_until_ready(server: Server, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if server.ca.exists():
            try:
                status, _ = server.get("/metadata/endpoints?api-version=2022-09-01")
                if status == 200:
                    return True
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module", params=MODES)
def server(request, tmp_path_factory) -> Server:
    """A server in each LRO mode; every test that uses it runs once per mode."""
    s = start_server(tmp_path_factory.mktemp("vnetlab"), request.param)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def async_server(tmp_path_factory) -> Server:
    s = start_server(tmp_path_factory.mktemp("vnetlab"), "async")
    yield s
    s.stop()


PAGE_SIZE = 2


@pytest.fixture(scope="module")
def paged_server(tmp_path_factory) -> Server:
    """A server that answers lists PAGE_SIZE items at a time."""
    s = start_server(tmp_path_factory.mktemp("vnetlab"), "sync", page_size=PAGE_SIZE)
    yield s
    s.stop()


# ---- the az CLI ---------------------------------------------------------------------------------


@dataclass
class AzResult:
    command: str
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"$ az {self.command}\nexit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"

    def json(self) -> Any:
        return json.loads(self.out) if self.out.strip() else None


AZ_SCRUBBED = ("AZURE_", "ARM_", "MSI_", "IDENTITY_", "ACC_", "AZ_")

# Every az run of the session, with its duration: the suite's budget is mostly az start-ups.
AZ_RUNS: list[tuple[str, float]] = []


class Az:
    """The real az CLI, in its own config directory, pointed at one server."""

    def __init__(self, server: Server, config_dir: Path | None = None):
        self.server = server
        self.env = az_environment(server)
        if config_dir is not None:
            self.env["AZURE_CONFIG_DIR"] = str(config_dir)

    def run(self, command: str, *, expect: int | None = None) -> AzResult:
        """Runs `az <command>` (split like a shell would); `expect` asserts the exit code."""
        args = shlex.split(command)
        exe = Path(sys.executable).with_name("az")
        argv = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "azure.cli", *args]
        started = time.monotonic()
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=300)
        AZ_RUNS.append((command, time.monotonic() - started))
        result = AzResult(command, done.returncode, done.stdout, done.stderr)
        if expect is not None:
            assert result.code == expect, f"expected exit {expect}\n{result}\n--- server log tail\n{tail(self.server)}"
        return result

    def __call__(self, command: str) -> Any:
        """`az <command> -o json`, which must succeed; returns the parsed output."""
        return self.run(f"{command} -o json", expect=0).json()

    def table(self, command: str) -> str:
        return self.run(f"{command} -o table", expect=0).out

    def fails(self, command: str, code: int = 1) -> AzResult:
        return self.run(command, expect=code)

    def trace(self, command: str) -> tuple[Any, list[Exchange]]:
        """`az <command> -o json --debug`, which must succeed: its output and the exchanges az logged."""
        result = self.run(f"{command} -o json --debug", expect=0)
        return result.json(), parse_az_debug(result.err)


AZ_POLICY_LOG = "DEBUG: cli.azure.cli.core.sdk.policies: "


def parse_az_debug(stderr: str) -> list[Exchange]:
    """The requests and responses az's logging policy printed under --debug."""
    exchanges: list[Exchange] = []
    lines = [line[len(AZ_POLICY_LOG) :] for line in stderr.splitlines() if line.startswith(AZ_POLICY_LOG)]
    current = None
    for i, line in enumerate(lines):
        if line.startswith("Request URL: "):
            current = Exchange("", line[len("Request URL: ") :].strip("'"), 0, {}, None)
            exchanges.append(current)
        elif current is None:
            continue
        elif line.startswith("Request method: "):
            current.method = line[len("Request method: ") :].strip("'")
        elif line.startswith("Response status: "):
            current.status = int(line[len("Response status: ") :])
        elif line.startswith("    '") and current.status:
            key, _, value = line.strip().partition(": ")
            current.headers[key.strip("'").lower()] = value.strip("'")
        elif line == "Response content:" and i + 1 < len(lines) and not lines[i + 1].startswith("Request URL: "):
            try:
                current.body = json.loads(lines[i + 1])
            except ValueError:
                current.body = lines[i + 1]
    return exchanges


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of az's `-o table` output, keyed by column title (columns cut at the dashed rule)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header, rule, rows = lines[0], lines[1], lines[2:]
    spans = [m.span() for m in re.finditer(r"-+", rule)]

    def cells(line: str) -> list[str]:
        return [line[a:b if i + 1 < len(spans) else None].strip() for i, (a, b) in enumerate(spans)]

    titles = cells(header)
    return [dict(zip(titles, cells(row))) for row in rows]


def az_environment(server: Server) -> dict[str, str]:
    """The environment `vnetlab az-env` prints for the server, on top of a scrubbed copy of ours."""
    done = subprocess.run(
        [str(vnetlab_bin()), "az-env", "--listen", server.addr],
        env={**os.environ, "VNETLAB_HOME": str(server.home)},
        capture_output=True,
        text=True,
        check=True,
    )
    exported = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            exported[key] = shlex.split(value)[0] if value else ""
    env = {k: v for k, v in os.environ.items() if not k.startswith(AZ_SCRUBBED)}
    env.update(exported)
    env.update(LOOPBACK_ONLY)
    env["AZURE_CORE_SURVEY_MESSAGE"] = "false"
    env["AZURE_CORE_NO_COLOR"] = "true"
    env["AZURE_CORE_ONLY_SHOW_ERRORS"] = "false"
    return env


def tail(server: Server, lines: int = 30) -> str:
    return "\n".join(server.output().splitlines()[-lines:])


def with_cloud(az: Az) -> Az:
    """Registers the server as az's cloud `vnetlab` and makes it the active one."""
    az.run(f"cloud register -n vnetlab --endpoint-resource-manager {az.server.url}/", expect=0)
    az.run("cloud set -n vnetlab", expect=0)
    return az


def logged_in_az(server: Server) -> Az:
    az = Az(server)
    assert Path(az.env["AZURE_CONFIG_DIR"]).is_relative_to(server.home), az.env["AZURE_CONFIG_DIR"]
    assert az.env["REQUESTS_CA_BUNDLE"] == str(server.ca)
    with_cloud(az).run("login --identity -o none", expect=0)
    return az


@pytest.fixture(scope="module")
def az(server) -> Az:
    """az logged in (managed identity) to the mode-parametrized server."""
    return logged_in_az(server)


@pytest.fixture(scope="module")
def az_paged(paged_server) -> Az:
    return logged_in_az(paged_server)


# ---- the SDKs -----------------------------------------------------------------------------------


def default_token(server: "Server") -> str:
    """A token for the lab's own principal (Owner of its subscription), from the server's
    managed-identity endpoint."""
    status, body = server.get("/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.core.windows.net%2F")
    assert status == 200, body
    return body["access_token"]


class ServerToken:
    """A TokenCredential handing out the server's token for the lab's own principal."""

    def __init__(self, server: "Server"):
        self.token = default_token(server)

    def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False, **kwargs) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class Exchange:
    """One request and its response, as the SDK's pipeline saw them."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def path(self) -> str:
        return self.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status} {json.dumps(self.body)[:300]}"


@dataclass
class Wire:
    """Every exchange of the clients built for one test, in order."""

    exchanges: list[Exchange] = field(default_factory=list)

    def hook(self, pipeline_response) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        # The SDK may stream the body later: read it through requests, which keeps the bytes and
        # replays them to the SDK's own reader (azure-core's read() would consume the stream).
        internal = getattr(response, "internal_response", None)
        data = internal.content if hasattr(internal, "content") else response.read()
        text = data.decode("utf-8", errors="replace") if data else ""
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        headers = {k.lower(): v for k, v in response.headers.items()}
        self.exchanges.append(Exchange(request.method, request.url, response.status_code, headers, body))

    def take(self) -> list[Exchange]:
        """The exchanges since the last take."""
        taken, self.exchanges = self.exchanges, []
        return taken

    def dump(self, exchanges=None) -> str:
        return "\n".join(str(e) for e in (self.exchanges if exchanges is None else exchanges))


@pytest.fixture
def wire() -> Wire:
    return Wire()


def client_options(server: Server, wire: Wire) -> dict[str, Any]:
    return dict(
        base_url=server.url,
        connection_verify=str(server.ca),
        # Retry-After (1 s) sets the pace of async polls; no header would mean no wait at all.
        polling_interval=0,
        # A server error must fail the test at once, not after the SDK's back-off retries.
        retry_total=0,
        raw_response_hook=wire.hook,
    )


@dataclass
class Clients:
    """The three management clients, on one server, recording into one Wire."""

    network: Any
    resources: Any
    compute: Any


def sdk_clients(server: Server, wire: Wire) -> Clients:
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource import ResourceManagementClient

    options = client_options(server, wire)
    return Clients(
        NetworkManagementClient(ServerToken(server), SUBSCRIPTION, **options),
        ResourceManagementClient(ServerToken(server), SUBSCRIPTION, **options),
        ComputeManagementClient(ServerToken(server), SUBSCRIPTION, **options),
    )


@pytest.fixture
def clients(server, wire) -> Clients:
    return sdk_clients(server, wire)


@pytest.fixture
def network(clients):
    return clients.network


@pytest.fixture
def resources(clients):
    return clients.resources


@pytest.fixture
def compute(clients):
    return clients.compute


_group_numbers = itertools.count(1)


def group_name(request) -> str:
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", request.node.name).strip("-")[:60]
    return f"{stem}-{next(_group_numbers)}"


@pytest.fixture
def rg(resources, wire, request) -> str:
    """A fresh resource group in LOCATION, named after the test."""
    name = group_name(request)
    resources.resource_groups.create_or_update(name, {"location": LOCATION})
    wire.take()
    return name


def pytest_terminal_summary(terminalreporter) -> None:
    if AZ_RUNS:
        total = sum(t for _, t in AZ_RUNS)
        terminalreporter.write_line(f"az: {len(AZ_RUNS)} runs, {total:.0f} s in all")
