"""What ``mlship promote --json`` records, read back by ``mlship restore --from FILE``.

Standard library only: a malformed record is refused before any server is contacted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.model.errors import BadConfigError


@dataclass(frozen=True)
class AliasState:
    """Where ``production`` and ``previous`` pointed (None: the alias was not set)."""

    production: str | None
    previous: str | None


@dataclass(frozen=True)
class PromotionRecord:
    """The part of a promotion's JSON that a restore needs."""

    model_name: str
    production: str  # the version the promotion set
    before: AliasState


def _version(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit()


def parse_promotion_record(document: Any, source: str) -> PromotionRecord:
    where = f"{source}: not a promotion record (mlship promote --json)"
    if not isinstance(document, dict):
        raise BadConfigError(f"{where}: not a JSON object")
    before = document.get("before")
    if not isinstance(document.get("model_name"), str) or not document["model_name"]:
        raise BadConfigError(f"{where}: no model_name")
    if not _version(document.get("production")):
        raise BadConfigError(f"{where}: production is not a version number")
    if not isinstance(before, dict) or not {"production", "previous"} <= before.keys():
        raise BadConfigError(f"{where}: no before.production / before.previous")
    for alias in ("production", "previous"):
        if before[alias] is not None and not _version(before[alias]):
            raise BadConfigError(f"{where}: before.{alias} is neither null nor a version number")
    return PromotionRecord(
        model_name=document["model_name"],
        production=document["production"],
        before=AliasState(production=before["production"], previous=before["previous"]),
    )


def read_promotion_record(path: Path) -> PromotionRecord:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise BadConfigError(f"promotion record {path}: cannot read it ({reason})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadConfigError(f"promotion record {path}: not valid JSON ({error})") from None
    return parse_promotion_record(document, f"promotion record {path}")
