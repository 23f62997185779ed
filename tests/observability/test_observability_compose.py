"""What the compose files mount from observability/ exists and is what the services read.

The platform this replaces mounted a Prometheus configuration that did not
exist: Docker then creates an empty directory in its place and Prometheus
fails at start. These checks read the compose files as data.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.support.components import missing

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "observability"
COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.yml"))
PROMETHEUS_DEFAULT_CONFIG = "/etc/prometheus/prometheus.yml"
GRAFANA_DEFAULT_PROVISIONING = "/etc/grafana/provisioning"


@dataclass(frozen=True)
class Mount:
    compose_file: str
    service: str
    source: Path  # resolved on this machine
    target: PurePosixPath


def _compose_files() -> list[Path]:
    if not COMPOSE_FILES:
        missing("docker-compose.yml", "the compose files are not in the repository yet")
    return COMPOSE_FILES


def _services(path: Path) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text()).get("services", {})
    return services


def _bind_mounts(path: Path, name: str, service: dict[str, Any]) -> list[Mount]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
        elif volume.get("type") == "bind":
            source, target = volume["source"], volume["target"]
        else:
            continue
        if source.startswith((".", "/")):
            resolved = (path.parent / source).resolve()
            mounts.append(Mount(path.name, name, resolved, PurePosixPath(target)))
    return mounts


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _mounted_at(mounts: list[Mount], target: PurePosixPath) -> Path | None:
    for mount in mounts:
        if mount.target == target:
            return mount.source
    return None


def _is(image_or_name: str, service_name: str, service: dict[str, Any]) -> bool:
    return image_or_name in service_name or image_or_name in str(service.get("image", ""))


def test_every_mounted_observability_file_exists() -> None:
    checked = 0
    for path in _compose_files():
        for name, service in _services(path).items():
            for mount in _bind_mounts(path, name, service):
                if mount.source.is_relative_to(OBSERVABILITY):
                    assert mount.source.exists(), f"{path.name}: {name} mounts {mount.source}"
                    checked += 1
    assert checked, "no compose file mounts anything from observability/"


def test_prometheus_reads_the_mounted_config_and_rules() -> None:
    rule_globs = yaml.safe_load((OBSERVABILITY / "prometheus" / "prometheus.yml").read_text())[
        "rule_files"
    ]
    services = [
        (path, name, service)
        for path in _compose_files()
        for name, service in _services(path).items()
        if _is("prometheus", name, service)
    ]
    assert services, "no compose file runs Prometheus"
    for path, name, service in services:
        mounts = _bind_mounts(path, name, service)
        flags = [part for part in _command(service) if part.startswith("--config.file=")]
        config = PurePosixPath(flags[-1].split("=", 1)[1] if flags else PROMETHEUS_DEFAULT_CONFIG)
        assert _mounted_at(mounts, config) == OBSERVABILITY / "prometheus" / "prometheus.yml", (
            f"{path.name}: {name} reads {config}, which is not the committed configuration"
        )
        for rule_glob in rule_globs:
            # Relative rule paths resolve against the configuration file's directory.
            directory = (config.parent / rule_glob).parent
            assert _mounted_at(mounts, directory) == OBSERVABILITY / "prometheus" / "rules", (
                f"{path.name}: {name} loads rules from {directory}, not mounted from the rules"
            )


def test_grafana_reads_the_mounted_provisioning_and_dashboards() -> None:
    services = [
        (path, name, service)
        for path in _compose_files()
        for name, service in _services(path).items()
        if _is("grafana", name, service)
    ]
    if not services:
        missing("a Grafana service", "no compose file runs Grafana")
    providers = yaml.safe_load(
        (OBSERVABILITY / "grafana" / "provisioning" / "dashboards" / "mlship.yml").read_text()
    )["providers"]
    for path, name, service in services:
        mounts = _bind_mounts(path, name, service)
        environment = _environment(service)
        provisioning = PurePosixPath(
            environment.get("GF_PATHS_PROVISIONING", GRAFANA_DEFAULT_PROVISIONING)
        )
        assert _mounted_at(mounts, provisioning) == OBSERVABILITY / "grafana" / "provisioning"
        for provider in providers:
            dashboards = PurePosixPath(provider["options"]["path"])
            assert _mounted_at(mounts, dashboards) == OBSERVABILITY / "grafana" / "dashboards"


def test_grafana_credentials_come_from_the_environment_and_anonymous_access_is_off() -> None:
    for path in _compose_files():
        for name, service in _services(path).items():
            if not _is("grafana", name, service):
                continue
            environment = _environment(service)
            password = environment.get("GF_SECURITY_ADMIN_PASSWORD", "")
            # A required variable (${VAR} or ${VAR:?message}), never a literal or a default.
            assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", password), (
                f"{path.name}: {name} must take GF_SECURITY_ADMIN_PASSWORD from a required variable"
            )
            assert environment.get("GF_AUTH_ANONYMOUS_ENABLED", "false").lower() == "false"


def test_no_default_grafana_login_in_committed_files() -> None:
    files = [*COMPOSE_FILES, *(p for p in OBSERVABILITY.rglob("*") if p.is_file())]
    files += [p for p in (ROOT / ".env.example",) if p.exists()]
    for path in files:
        if path.suffix in {".pyc"}:
            continue
        text = path.read_text(errors="replace").lower()
        assert "admin/admin" not in text, path
        assert not re.search(r"admin_password\W+admin\b", text), path
