"""Running a rendered container as a local process, the way the kubelet would
assemble its environment: ConfigMaps, Secrets and the downward API, with
`$(VAR)` expansion in env values.

Differences from a pod, all explicit: volume mount paths are mapped to local
directories (every setting naming a mount path is rewritten), and the caller
may override settings (bind loopback on a free port instead of 0.0.0.0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.k8s.manifests import Manifest, named

VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: unknown references stay, `$$` escapes a dollar."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return variables.get(name, match.group(0))

    return VARIABLE.sub(substitute, text)


@dataclass(frozen=True)
class PodFacts:
    """What the cluster would provide: Secret values and downward-API fields."""

    secrets: Mapping[tuple[str, str], str]
    fields: Mapping[str, str]


def container_environment(
    manifests: list[Manifest], container: Manifest, facts: PodFacts
) -> dict[str, str]:
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config = named(manifests, "ConfigMap", source["configMapRef"]["name"])
        variables.update(config.get("data", {}))
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            variables[name] = expand(variable["value"], variables)
            continue
        source = variable["valueFrom"]
        if "secretKeyRef" in source:
            reference = source["secretKeyRef"]
            variables[name] = facts.secrets[(reference["name"], reference["key"])]
        elif "fieldRef" in source:
            variables[name] = facts.fields[source["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"unsupported env source for {name}: {source}")
    return variables


@dataclass(frozen=True)
class Mounts:
    """Local directories standing in for a container's volume mounts."""

    local: Mapping[str, Path]
    inodes: Mapping[str, int]

    def assert_intact(self) -> None:
        """A real mount point cannot be removed or replaced by the process (EBUSY)."""
        for path, local in self.local.items():
            assert local.is_dir(), f"the process removed the mount point {path}"
            assert local.stat().st_ino == self.inodes[path], (
                f"the process replaced the mount point {path}: point it at a directory inside"
            )


def map_mounts(environment: dict[str, str], container: Manifest, root: Path) -> Mounts:
    """Give every volume mount a local directory and point the settings at it."""
    local: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        directory = root / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        local[mount["mountPath"]] = directory
    for name, value in environment.items():
        for path, directory in local.items():
            if value == path or value.startswith(f"{path}/"):
                environment[name] = str(directory) + value[len(path) :]
    return Mounts(local, {path: directory.stat().st_ino for path, directory in local.items()})
