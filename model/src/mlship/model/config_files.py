"""Reading the TOML files a user writes, with errors that name the file and the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlship.model.errors import BadConfigError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The document in ``path``; a missing file or bad TOML is one ``BadConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadConfigError(f"{what} {path}: cannot read it ({error.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadConfigError(f"{what} {path}: invalid TOML: {error}") from None


def field_path(location: tuple[int | str, ...]) -> str:
    """``smoke[3].features`` for pydantic's ``("smoke", 2, "features")`` (1-based rows)."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        elif not part.startswith(("function-", "tagged-union")):
            # Union members add their tag (e.g. `csv`) to the path: it only repeats `loader`.
            text += ("." if text else "") + part
    return text or "file"


def problems(error: ValidationError, *, prefix: str = "") -> str:
    """Every problem of ``error`` as ``field: message``, joined by ``; ``."""
    parts = []
    for detail in error.errors():
        location = (prefix, *detail["loc"]) if prefix else tuple(detail["loc"])
        message = str(detail["msg"]).removeprefix("Value error, ")
        # A check across fields names them in its message, and has no location of its own.
        parts.append(f"{field_path(location)}: {message}" if location else message)
    return "; ".join(parts)
