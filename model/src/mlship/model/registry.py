"""Promotion, rollback and status: aliases are the source of truth.

Aliases move in an order that never leaves ``production`` unset: ``previous`` is
written first, then ``production`` switches in one call, so a server polling
``@production`` sees either the old or the new version, never neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlflow.entities.model_registry import ModelVersion

from mlship.model.alias_record import AliasState
from mlship.model.connection import connect, ui_url
from mlship.model.errors import RefusedError
from mlship.model.evaluation import KEY_METRICS
from mlship.model.registry_io import (
    ALIASES,
    alias_version,
    all_versions,
    get_version,
    require_model,
    set_alias,
)
from mlship.model.settings import Settings
from mlship.model.uris import public_uri


@dataclass(frozen=True)
class AliasMove:
    """Result of promote / rollback: where ``production`` and ``previous`` now point.

    ``before`` is where they pointed before the move: ``mlship restore`` puts it back.
    """

    model_name: str
    production: str
    previous: str | None
    changed: bool
    message: str
    before: AliasState


def _refuse_unvalidated(name: str, version: ModelVersion) -> None:
    gate = version.tags.get("gate")
    if gate is None:
        raise RefusedError(
            f"version {version.version} of {name!r} was never validated; "
            f"run `mlship validate --version {version.version}` first"
        )
    if gate != "passed":
        raise RefusedError(
            f"version {version.version} of {name!r} failed the gate (gate={gate}); not promoting it"
        )


def promote(settings: Settings, version: str | None) -> AliasMove:
    """``previous`` <- ``production``, ``production`` <- ``challenger`` (or ``version``)."""
    client = connect(settings)
    name = settings.model_name
    require_model(client, name)
    if version is None:
        candidate = alias_version(client, name, "challenger")
        if candidate is None:
            raise RefusedError(
                f"{name!r} has no challenger; validate a version first (mlship validate)"
            )
    else:
        candidate = get_version(client, name, version)
    _refuse_unvalidated(name, candidate)
    current = alias_version(client, name, "production")
    previous = alias_version(client, name, "previous")
    before = AliasState(
        current.version if current else None, previous.version if previous else None
    )
    if current is not None and current.version == candidate.version:
        return AliasMove(
            name,
            candidate.version,
            before.previous,
            changed=False,
            message=f"version {candidate.version} is already production; nothing moved",
            before=before,
        )
    if current is not None:
        set_alias(client, name, "previous", current.version)
    set_alias(client, name, "production", candidate.version)
    challenger = alias_version(client, name, "challenger")
    if challenger is not None and challenger.version == candidate.version:
        client.delete_registered_model_alias(name, "challenger")
    return AliasMove(
        name,
        candidate.version,
        current.version if current else None,
        changed=True,
        message=f"promoted version {candidate.version} to production"
        + (f" (previous: {current.version})" if current else ""),
        before=before,
    )


def rollback(settings: Settings) -> AliasMove:
    """``production`` <- ``previous`` and ``previous`` <- the old production (reversible)."""
    client = connect(settings)
    name = settings.model_name
    require_model(client, name)
    target = alias_version(client, name, "previous")
    if target is None:
        raise RefusedError(f"{name!r} has no previous version to roll back to")
    current = alias_version(client, name, "production")
    if current is not None:
        set_alias(client, name, "previous", current.version)
    else:
        client.delete_registered_model_alias(name, "previous")
    set_alias(client, name, "production", target.version)
    return AliasMove(
        name,
        target.version,
        current.version if current else None,
        changed=True,
        message=f"rolled back production to version {target.version}"
        + (f" (previous: {current.version})" if current else ""),
        before=AliasState(current.version if current else None, target.version),
    )


def _gate_checks(version: ModelVersion) -> list[str]:
    try:
        report = json.loads(version.tags.get("gate_report", "{}"))
    except json.JSONDecodeError:
        return []
    return [check["name"] for check in report.get("checks", []) if not check.get("passed", True)]


def status(settings: Settings, limit: int = 20) -> dict[str, Any]:
    client = connect(settings)
    name = settings.model_name
    versions = all_versions(client, name)[:limit]
    aliases = {}
    for alias in ALIASES:
        target = alias_version(client, name, alias)
        if target is not None:
            aliases[alias] = target.version
    rows = []
    for version in versions:
        metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        rows.append(
            {
                "version": version.version,
                "aliases": [
                    alias for alias, target in aliases.items() if target == version.version
                ],
                "gate": version.tags.get("gate"),
                "failing_checks": _gate_checks(version),
                "metrics": {key: metrics[key] for key in KEY_METRICS if key in metrics},
                "git_sha": version.tags.get("git_sha"),
                "pr": version.tags.get("pr"),
                "run_id": version.run_id,
                "created": version.creation_timestamp,
                "url": ui_url(settings, name, version.version),
            }
        )
    return {
        "model_name": name,
        "tracking_uri": public_uri(settings.tracking_uri),
        "aliases": aliases,
        "versions": rows,
    }


def status_table(document: dict[str, Any]) -> str:
    """The status as a plain-text table for people."""
    aliases = document["aliases"]
    head = ", ".join(f"{alias}={version}" for alias, version in aliases.items()) or "none"
    lines = [
        f"model {document['model_name']} on {document['tracking_uri']}",
        f"aliases: {head}",
        "",
        f"{'version':>7}  {'aliases':<22} {'gate':<7} "
        + " ".join(f"{metric:>9}" for metric in KEY_METRICS)
        + "  git_sha",
    ]
    for row in document["versions"]:
        metrics = " ".join(
            f"{row['metrics'][metric]:>9.4f}" if metric in row["metrics"] else f"{'-':>9}"
            for metric in KEY_METRICS
        )
        gate = row["gate"] or "-"
        sha = (row["git_sha"] or "-")[:12]
        lines.append(
            f"{row['version']:>7}  {','.join(row['aliases']) or '-':<22} {gate:<7} {metrics}  {sha}"
        )
        if row["failing_checks"]:
            lines.append(f"{'':>9}failing: {', '.join(row['failing_checks'])}")
    return "\n".join(lines)
