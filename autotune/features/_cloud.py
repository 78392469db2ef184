"""Cloud instance identity: which provider and instance type this process runs on.

Three sources, in order of precedence:

1. the environment: ``AUTOTUNE_CLOUD_PROVIDER`` and ``AUTOTUNE_INSTANCE_TYPE`` win over everything;
2. the DMI tables under ``/sys/class/dmi/id`` (local file reads, always on);
3. the instance metadata service, only when asked for (argument or ``AUTOTUNE_METADATA_PROBE=1``),
   because it means a network call. It speaks the AWS IMDS protocol (IMDSv2 token first, v1 GET
   as fallback) and any failure simply leaves the instance type unknown.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_DMI_ROOT",
    "DEFAULT_METADATA_URL",
    "CloudIdentity",
    "cloud_identity",
    "identity_from_dmi",
    "probe_instance_type",
]

logger = logging.getLogger(__name__)

DEFAULT_DMI_ROOT = Path("/sys/class/dmi/id")
DEFAULT_METADATA_URL = "http://169.254.169.254/latest/meta-data/instance-type"
UNKNOWN = "unknown"

ENV_PROVIDER = "AUTOTUNE_CLOUD_PROVIDER"
ENV_INSTANCE_TYPE = "AUTOTUNE_INSTANCE_TYPE"
ENV_PROBE = "AUTOTUNE_METADATA_PROBE"
ENV_URL = "AUTOTUNE_METADATA_URL"

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
_DMI_FILES = ("sys_vendor", "product_name", "product_version", "board_vendor", "bios_vendor", "bios_version",
              "chassis_asset_tag")
# An instance type is a short token such as "m5.large" or "n2-standard-8"; anything else (an HTML
# page from a captive portal, an error body) is not one.
_INSTANCE_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_TOKEN_TTL_S = "60"


@dataclass(frozen=True)
class CloudIdentity:
    """Where this machine runs.

    Attributes:
        provider: ``"aws"``, ``"gcp"``, ``"azure"``, another recognised provider, or ``"unknown"``
            (bare metal, a local VM, or a cloud that could not be recognised).
        instance_type: e.g. ``"m5.large"``; None when unknown.
        source: where the answer came from: ``"env"``, ``"dmi"``, ``"metadata"`` or ``"none"``.
    """

    provider: str = UNKNOWN
    instance_type: str | None = None
    source: str = "none"

    def to_dict(self) -> dict[str, str | None]:
        return {"provider": self.provider, "instance_type": self.instance_type, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> CloudIdentity:
        if not isinstance(data, dict):
            raise ValueError(f"CloudIdentity data must be a dict, got {type(data).__name__}")
        return cls(provider=str(data.get("provider", UNKNOWN)), instance_type=data.get("instance_type"),
                   source=str(data.get("source", "none")))


def _read_dmi(root: Path) -> dict[str, str]:
    values = {}
    for name in _DMI_FILES:
        try:
            values[name] = (root / name).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:  # missing (containers, macOS) or root-only (some kernels): simply unknown
            values[name] = ""
    return values


def identity_from_dmi(root: str | os.PathLike[str] = DEFAULT_DMI_ROOT) -> CloudIdentity:
    """Recognise the cloud provider (and, on AWS Nitro, the instance type) from DMI files under ``root``."""
    dmi = _read_dmi(Path(root))
    vendor = dmi["sys_vendor"].lower()
    product = dmi["product_name"]
    bios = f"{dmi['bios_vendor']} {dmi['bios_version']} {dmi['product_version']}".lower()
    if vendor == "amazon ec2" or dmi["board_vendor"].lower() == "amazon ec2":
        # On Nitro instances the DMI product name is the instance type itself.
        itype = product if _INSTANCE_TYPE_RE.match(product) and "." in product else None
        return CloudIdentity("aws", itype, "dmi")
    if "amazon" in bios:  # older Xen-based instances: "4.11.amazon" in the BIOS version
        return CloudIdentity("aws", None, "dmi")
    if vendor == "google" or product == "Google Compute Engine":
        return CloudIdentity("gcp", None, "dmi")
    if dmi["chassis_asset_tag"] == AZURE_ASSET_TAG:
        # A local Hyper-V VM has the same vendor and product name; only Azure sets this asset tag.
        return CloudIdentity("azure", None, "dmi")
    if vendor == "digitalocean":
        return CloudIdentity("digitalocean", None, "dmi")
    if vendor == "hetzner":
        return CloudIdentity("hetzner", None, "dmi")
    if vendor.startswith("alibaba cloud"):
        return CloudIdentity("alibaba", None, "dmi")
    if dmi["chassis_asset_tag"] == "OracleCloud.com":
        return CloudIdentity("oracle", None, "dmi")
    return CloudIdentity(UNKNOWN, None, "none")


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # The metadata service is link-local: an http_proxy from the environment must not see the request.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _token_url(metadata_url: str) -> str:
    parts = urllib.parse.urlsplit(metadata_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/latest/api/token", "", ""))


def probe_instance_type(url: str = DEFAULT_METADATA_URL, *, timeout: float = 0.5) -> str | None:
    """Ask the instance metadata service at ``url`` for the instance type; None on any failure.

    Tries the IMDSv2 flow (PUT a session token, then GET with it) and falls back to a plain
    IMDSv1 GET. Each request is bounded by ``timeout`` seconds.
    """
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"metadata_url must be an http(s) URL, got {url!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"metadata timeout must be a positive number of seconds, got {timeout!r}")
    opener = _no_proxy_opener()
    headers = {}
    try:
        req = urllib.request.Request(_token_url(url), method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": _TOKEN_TTL_S})
        with opener.open(req, timeout=timeout) as resp:
            headers["X-aws-ec2-metadata-token"] = resp.read(4096).decode("ascii", "replace").strip()
    except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
        logger.debug("IMDSv2 token request to %s failed (%s); trying IMDSv1", url, exc)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            text = resp.read(256).decode("ascii", "replace").strip()
    except (OSError, ValueError) as exc:
        logger.debug("instance metadata request to %s failed: %s", url, exc)
        return None
    if not _INSTANCE_TYPE_RE.match(text):
        logger.debug("instance metadata at %s did not answer with an instance type: %.60r", url, text)
        return None
    return text


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def cloud_identity(
    *,
    probe_metadata: bool | None = None,
    metadata_url: str | None = None,
    timeout: float = 0.5,
    dmi_root: str | os.PathLike[str] = DEFAULT_DMI_ROOT,
) -> CloudIdentity:
    """The cloud provider and instance type of this machine.

    Args:
        probe_metadata: ask the metadata service when the instance type is not otherwise known.
            None (the default) reads ``AUTOTUNE_METADATA_PROBE`` (``1`` turns it on); off otherwise.
        metadata_url: the instance-type URL; default ``AUTOTUNE_METADATA_URL`` or the AWS IMDS path.
        timeout: seconds per metadata request.
        dmi_root: the DMI directory (a parameter so tests can point it at a fake one).

    Returns:
        A :class:`CloudIdentity`; ``provider="unknown"`` where nothing could be recognised.
    """
    if probe_metadata is not None and not isinstance(probe_metadata, bool):
        raise ValueError(f"probe_metadata must be True, False or None, got {probe_metadata!r}")
    env_provider = os.environ.get(ENV_PROVIDER, "").strip().lower()
    env_type = os.environ.get(ENV_INSTANCE_TYPE, "").strip()
    if env_provider and env_type:
        return CloudIdentity(env_provider, env_type, "env")
    found = identity_from_dmi(dmi_root)
    if env_provider or env_type:
        # One field from the environment, the other from DMI; the environment still decides.
        return CloudIdentity(env_provider or found.provider, env_type or found.instance_type, "env")
    probe = _env_flag(ENV_PROBE) if probe_metadata is None else probe_metadata
    if found.instance_type is not None or not probe or found.provider not in ("aws", UNKNOWN):
        return found
    url = metadata_url or os.environ.get(ENV_URL, "").strip() or DEFAULT_METADATA_URL
    itype = probe_instance_type(url, timeout=timeout)
    if itype is None:
        return found
    # The probe speaks the AWS IMDS protocol, so an answer means AWS unless DMI said otherwise.
    return CloudIdentity(found.provider if found.provider != UNKNOWN else "aws", itype, "metadata")
