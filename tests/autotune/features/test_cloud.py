"""Cloud identity: DMI parsing, environment override, and the metadata probe against a local stub only."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from autotune.features import CloudIdentity, cloud_identity, identity_from_dmi, machine_fingerprint, probe_instance_type
from autotune.features._cloud import AZURE_ASSET_TAG

ENV_NAMES = ("AUTOTUNE_CLOUD_PROVIDER", "AUTOTUNE_INSTANCE_TYPE", "AUTOTUNE_METADATA_PROBE", "AUTOTUNE_METADATA_URL")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Every test here: no environment overrides, and any connection off 127.0.0.1 fails the test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0]
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            pytest.fail(f"test tried to connect to {host}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any attempt to open a URL or a connection."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"network call made: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return calls


def fake_dmi(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text + "\n")
    return root


DMI_CASES = {
    "aws-nitro": ({"sys_vendor": "Amazon EC2", "product_name": "m5.large", "bios_vendor": "Amazon EC2"},
                  CloudIdentity("aws", "m5.large", "dmi")),
    "aws-xen": ({"sys_vendor": "Xen", "product_name": "HVM domU", "product_version": "4.11.amazon",
                 "bios_version": "4.11.amazon"}, CloudIdentity("aws", None, "dmi")),
    "gcp": ({"sys_vendor": "Google", "product_name": "Google Compute Engine", "bios_vendor": "Google"},
            CloudIdentity("gcp", None, "dmi")),
    "azure": ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
               "chassis_asset_tag": AZURE_ASSET_TAG}, CloudIdentity("azure", None, "dmi")),
    "hyper-v": ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
                 "chassis_asset_tag": "0000-0000"}, CloudIdentity("unknown", None, "none")),
    "bare-metal": ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R750", "bios_vendor": "Dell Inc."},
                   CloudIdentity("unknown", None, "none")),
    "qemu": ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"},
             CloudIdentity("unknown", None, "none")),
}


@pytest.mark.parametrize("case", sorted(DMI_CASES))
def test_dmi(tmp_path, case, no_network):
    files, expected = DMI_CASES[case]
    root = fake_dmi(tmp_path / case, **files)
    assert identity_from_dmi(root) == expected
    assert cloud_identity(dmi_root=root) == expected
    assert not no_network


def test_missing_dmi_directory(tmp_path):
    assert identity_from_dmi(tmp_path / "absent") == CloudIdentity("unknown", None, "none")


def test_environment_wins(tmp_path, monkeypatch, no_network):
    root = fake_dmi(tmp_path, sys_vendor="Amazon EC2", product_name="m5.large")
    monkeypatch.setenv("AUTOTUNE_CLOUD_PROVIDER", "GCP")
    monkeypatch.setenv("AUTOTUNE_INSTANCE_TYPE", "n2-standard-8")
    monkeypatch.setenv("AUTOTUNE_METADATA_PROBE", "1")
    assert cloud_identity(dmi_root=root, probe_metadata=True) == CloudIdentity("gcp", "n2-standard-8", "env")
    monkeypatch.delenv("AUTOTUNE_CLOUD_PROVIDER")
    assert cloud_identity(dmi_root=root) == CloudIdentity("aws", "n2-standard-8", "env")
    assert not no_network


def test_probe_off_makes_no_network_call(tmp_path, no_network):
    empty = fake_dmi(tmp_path)
    assert cloud_identity(dmi_root=empty) == CloudIdentity("unknown", None, "none")
    assert cloud_identity(dmi_root=empty, metadata_url="http://127.0.0.1:9/x") == CloudIdentity()
    assert cloud_identity(dmi_root=empty, probe_metadata=False) == CloudIdentity()
    machine_fingerprint(refresh=True)
    assert not no_network


class StubIMDS:
    """A local metadata service: ``mode`` is "v2" (token required), "v1" (no token endpoint),
    "slow" (never answers in time) or "garbage" (answers with a web page)."""

    def __init__(self, mode: str, instance_type: str = "c7i.2xlarge") -> None:
        self.mode, self.instance_type = mode, instance_type
        self.requests: list[tuple[str, str, dict]] = []
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                stub.requests.append(("PUT", self.path, {k.lower(): v for k, v in self.headers.items()}))
                if stub.mode == "slow":
                    stub.release.wait(5)
                if stub.mode == "v1" or self.path != "/latest/api/token":
                    return self.reply(405)
                if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self.reply(400)
                return self.reply(200, "secret-token")

            def do_GET(self):
                stub.requests.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
                if stub.mode == "slow":
                    stub.release.wait(5)
                if stub.mode == "v2" and self.headers.get("X-aws-ec2-metadata-token") != "secret-token":
                    return self.reply(401)
                if self.path != "/latest/meta-data/instance-type":
                    return self.reply(404)
                if stub.mode == "garbage":
                    return self.reply(200, "<html><body>Welcome to the hotel wifi</body></html>")
                return self.reply(200, stub.instance_type)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/latest/meta-data/instance-type"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def imds(request):
    stubs = []

    def start(mode: str) -> StubIMDS:
        stubs.append(StubIMDS(mode))
        return stubs[-1]

    yield start
    for stub in stubs:
        stub.close()


def test_probe_imdsv2_token_flow(imds):
    stub = imds("v2")
    assert probe_instance_type(stub.url, timeout=2) == "c7i.2xlarge"
    (method, path, headers), (method2, _, headers2) = stub.requests
    assert (method, path, method2) == ("PUT", "/latest/api/token", "GET")
    assert headers["x-aws-ec2-metadata-token-ttl-seconds"]
    assert headers2["x-aws-ec2-metadata-token"] == "secret-token"


def test_probe_falls_back_to_imdsv1(imds):
    stub = imds("v1")
    assert probe_instance_type(stub.url, timeout=2) == "c7i.2xlarge"
    assert [r[0] for r in stub.requests] == ["PUT", "GET"]
    assert "x-aws-ec2-metadata-token" not in stub.requests[1][2]


def test_probe_timeout_means_unknown(imds, tmp_path):
    stub = imds("slow")
    start = time.monotonic()
    assert probe_instance_type(stub.url, timeout=0.2) is None
    assert cloud_identity(probe_metadata=True, metadata_url=stub.url, timeout=0.2, dmi_root=tmp_path) == CloudIdentity()
    assert time.monotonic() - start < 3


def test_probe_rejects_a_page_that_is_not_an_instance_type(imds):
    assert probe_instance_type(imds("garbage").url, timeout=2) is None


def test_probe_connection_refused_means_unknown():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert probe_instance_type(f"http://127.0.0.1:{port}/latest/meta-data/instance-type", timeout=0.5) is None


def test_probe_enabled_by_environment(imds, tmp_path, monkeypatch):
    stub = imds("v2")
    monkeypatch.setenv("AUTOTUNE_METADATA_PROBE", "1")
    monkeypatch.setenv("AUTOTUNE_METADATA_URL", stub.url)
    assert cloud_identity(dmi_root=tmp_path) == CloudIdentity("aws", "c7i.2xlarge", "metadata")
    # DMI that already names the instance type, or another provider, needs no probe.
    nitro = fake_dmi(tmp_path / "nitro", sys_vendor="Amazon EC2", product_name="m5.large")
    gcp = fake_dmi(tmp_path / "gcp", sys_vendor="Google", product_name="Google Compute Engine")
    stub.requests.clear()
    assert cloud_identity(dmi_root=nitro).instance_type == "m5.large"
    assert cloud_identity(dmi_root=gcp) == CloudIdentity("gcp", None, "dmi")
    assert not stub.requests


def test_probe_argument_and_fingerprint(imds, tmp_path):
    stub = imds("v1")
    xen = fake_dmi(tmp_path, sys_vendor="Xen", bios_version="4.11.amazon")
    assert cloud_identity(probe_metadata=True, metadata_url=stub.url, dmi_root=xen) == CloudIdentity(
        "aws", "c7i.2xlarge", "metadata")
    fp = machine_fingerprint(probe_metadata=True, metadata_url=stub.url, metadata_timeout=2)
    if fp.cloud.source != "dmi":  # on a real cloud host the DMI answer comes first
        assert fp.cloud == CloudIdentity("aws", "c7i.2xlarge", "metadata")
        assert fp.machine_id != machine_fingerprint().machine_id


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "not a url", 5])
def test_probe_rejects_bad_urls(url):
    with pytest.raises(ValueError, match="metadata_url"):
        probe_instance_type(url)
