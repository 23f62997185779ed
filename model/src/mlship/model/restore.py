"""Undo one promotion: put ``production`` and ``previous`` back where its record says they were.

A delivery job calls this when a step after the promotion fails. It acts only while
``production`` still points at the version that promotion set: if anyone moved it
since, restoring the older state would undo their move, so it refuses instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from mlship.model.alias_record import PromotionRecord
from mlship.model.connection import connect
from mlship.model.errors import RefusedError
from mlship.model.registry_io import alias_version, require_model, set_alias
from mlship.model.settings import Settings


@dataclass(frozen=True)
class Restoration:
    """Where ``production`` and ``previous`` point after the restore (None: unset)."""

    model_name: str
    production: str | None
    previous: str | None
    changed: bool
    message: str


def _point(client: MlflowClient, name: str, alias: str, version: str | None) -> None:
    if version is not None:
        set_alias(client, name, alias, version)
    elif alias_version(client, name, alias) is not None:
        client.delete_registered_model_alias(name, alias)


def restore(settings: Settings, record: PromotionRecord) -> Restoration:
    name = settings.model_name
    if record.model_name != name:
        raise RefusedError(
            f"the record is of a promotion of {record.model_name!r}, not of {name!r} "
            "(--model-name / MODEL_NAME)"
        )
    client = connect(settings)
    require_model(client, name)
    current = alias_version(client, name, "production")
    if current is None or current.version != record.production:
        now = f"version {current.version}" if current else "unset"
        raise RefusedError(
            f"production of {name!r} is {now}, not version {record.production} as the "
            "promotion left it: someone else moved it; nothing restored"
        )
    previous = alias_version(client, name, "previous")
    before = record.before
    if (before.production, before.previous) == (
        record.production,
        previous.version if previous else None,
    ):
        return Restoration(
            name, before.production, before.previous, False, "aliases already as recorded"
        )
    # production first: it is what the API serves, and it only ever points at a version
    # (or, if there was none before the promotion, is removed).
    _point(client, name, "production", before.production)
    _point(client, name, "previous", before.previous)
    production = (
        f"production back to version {before.production}"
        if before.production
        else "production removed (there was none before the promotion)"
    )
    return Restoration(
        name,
        before.production,
        before.previous,
        changed=True,
        message=f"restored {name!r}: {production}; previous: {before.previous or 'unset'}",
    )
