"""The declared models as delivery and the Kubernetes manifests see them.

Read from ``model/models/*.toml`` with the standard library only (tomllib), so the
workflows can ask which models exist before anything is installed: a model is a
spec file whose name does not start with ``_``; its name is the spec's ``name``
(never hard-coded here), its data file is ``data.path`` relative to the spec.
``slug`` turns a name into the DNS label its Kubernetes objects carry.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

SPECS_DIR = "model/models"
# model/src/mlship/model/spec.py's rule for a name: safe in a path, an image tag, a shell word.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
# A DNS-1123 label; "mlship-api-" + slug must stay within its 63 characters.
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SLUG_MAX = 63 - len("mlship-api-")


class SpecError(Exception):
    """A specification delivery cannot use: reported in one line, exit status 2."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    spec: str  # the spec file, relative to the repository root (POSIX)
    data: str | None  # the data file data.path pins, relative to the root, if any

    @property
    def slug(self) -> str:
        return slug(self.name)


def slug(name: str) -> str:
    """``IrisClassifier`` -> ``iris-classifier``: the model's part of its objects' names."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    label = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")
    if not LABEL.fullmatch(label) or len(label) > SLUG_MAX:
        raise SpecError(
            f"model name {name!r} gives the Kubernetes name part {label!r}: it must be a DNS "
            f"label of at most {SLUG_MAX} characters"
        )
    return label


def _spec(root: Path, path: Path) -> ModelSpec:
    relative = path.relative_to(root).as_posix()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SpecError(f"{relative}: cannot read the specification: {error}") from None
    name = document.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SpecError(f"{relative}: name must match {NAME.pattern}, got {name!r}")
    data = document.get("data")
    pinned = data.get("path") if isinstance(data, dict) else None
    file = None
    if isinstance(pinned, str) and pinned:
        file = posixpath.normpath(posixpath.join(posixpath.dirname(relative), pinned))
    return ModelSpec(name=name, spec=relative, data=file)


def declared(root: Path) -> list[ModelSpec]:
    """Every declared model, sorted by name; names and their slugs are unique."""
    folder = root / SPECS_DIR
    if not folder.is_dir():
        raise SpecError(f"no {SPECS_DIR} under {root}")
    files = [path for path in folder.glob("*.toml") if not path.name.startswith("_")]
    specs = sorted((_spec(root, path) for path in files), key=lambda spec: spec.name)
    for what in ("name", "slug"):
        seen: dict[str, str] = {}
        for spec in specs:
            if (value := str(getattr(spec, what))) in seen:
                label = "Kubernetes name" if what == "slug" else what
                raise SpecError(f"{spec.spec} and {seen[value]} share the {label} {value!r}")
            seen[value] = spec.spec
    if not specs:
        raise SpecError(f"{SPECS_DIR} declares no model")
    return specs
