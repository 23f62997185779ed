"""A model bundle's manifest: what the bundle is and the SHA-256 digest of every file in it.

Standard library only: ``mlship verify`` runs where there is no tracking server, and
it should not pay for importing MLflow either.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlship.model.errors import BundleError, RefusedError

SCHEMA = 1
MANIFEST = "manifest.json"
MODEL_DIR = "model"
# A bundle without these is not a model bundle, whatever its manifest lists.
REQUIRED_FILES = (f"{MODEL_DIR}/MLmodel", "gate_report.json", "gate_report.md")
FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (int,),
    "model_name": (str,),
    "source_version": (str,),
    "source_tracking_uri": (str,),
    "run_id": (str,),
    "git_sha": (str,),
    "pr": (str, type(None)),
    "data_sha256": (str,),
    "gate": (str,),
    "metrics": (dict,),
    "params": (dict,),
    "files": (dict,),
}
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose files all match its manifest."""

    directory: Path
    manifest: dict[str, Any]
    bundle_sha256: str  # digest of manifest.json's bytes: names the whole bundle

    def summary(self) -> dict[str, Any]:
        """The manifest without the per-file digests, for people and ``--json``."""
        document = {key: value for key, value in self.manifest.items() if key != "files"}
        return {
            **document,
            "directory": str(self.directory),
            "bundle_sha256": self.bundle_sha256,
            "file_count": len(self.manifest["files"]),
        }

    def describe(self, verb: str) -> str:
        """What the bundle holds, in three lines for people."""
        manifest = self.manifest
        model_files = sum(1 for name in manifest["files"] if name.startswith(f"{MODEL_DIR}/"))
        return "\n".join(
            [
                f"bundle {self.directory} {verb}: {manifest['model_name']} version "
                f"{manifest['source_version']} of {manifest['source_tracking_uri']}",
                f"  {MODEL_DIR}/ ({model_files} files), gate_report.json, gate_report.md, "
                f"{MANIFEST}",
                f"  bundle sha256 {self.bundle_sha256}  git {manifest['git_sha'][:12]}  "
                f"pr {manifest['pr'] or '-'}  data sha256 {manifest['data_sha256'][:16]}",
            ]
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _scan(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Regular files under ``directory`` by relative POSIX path, and problems (symlinks)."""
    files: dict[str, Path] = {}
    problems: list[str] = []
    # os.walk does not follow links: a symlink could point anywhere, so it never counts.
    for root, directories, names in os.walk(directory):
        for name in [*directories, *names]:
            path = Path(root) / name
            relative = path.relative_to(directory).as_posix()
            if path.is_symlink():
                problems.append(f"{relative} unexpected (a symlink)")
            elif path.is_file() and relative != MANIFEST:
                files[relative] = path
    return files, problems


def digest_files(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` except the manifest itself."""
    files, problems = _scan(directory)
    if problems:
        raise BundleError(f"bundle {directory}: {'; '.join(problems)}")
    return {relative: sha256_file(path) for relative, path in sorted(files.items())}


def write_manifest(directory: Path, fields: dict[str, Any]) -> str:
    """Write ``manifest.json`` (fields plus ``schema`` and ``files``); return its SHA-256."""
    document = {**fields, "schema": SCHEMA, "files": digest_files(directory)}
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    (directory / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def require_new_directory(directory: Path) -> None:
    """Refuse to export into anything but a new or empty directory (no stray files)."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise RefusedError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise RefusedError(f"{directory} is not empty; export writes a new bundle")


def _safe(relative: str) -> bool:
    path = PurePosixPath(relative)
    return (
        bool(relative)
        and not path.is_absolute()
        and "\\" not in relative
        and all(part not in {"", ".", ".."} for part in relative.split("/"))
    )


def _parse(directory: Path) -> tuple[dict[str, Any], str]:
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BundleError(f"bundle {directory}: not a directory")
    if path.is_symlink() or not path.is_file():
        raise BundleError(f"bundle {directory}: {MANIFEST} missing")
    data = path.read_bytes()
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"bundle {directory}: {MANIFEST} is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise BundleError(f"bundle {directory}: {MANIFEST} is not a JSON object")
    return document, hashlib.sha256(data).hexdigest()


def _check_fields(directory: Path, manifest: dict[str, Any]) -> None:
    where = f"bundle {directory}: {MANIFEST}"
    absent = [name for name in FIELDS if name not in manifest]
    if absent:
        raise BundleError(f"{where} lacks field(s) {', '.join(absent)}")
    for name, types in FIELDS.items():
        # bool is an int to isinstance; a schema of `true` is still wrong.
        if not isinstance(manifest[name], types) or isinstance(manifest[name], bool):
            expected = " or ".join(
                "null" if kind is type(None) else kind.__name__ for kind in types
            )
            raise BundleError(f"{where}: field {name!r} should be {expected}")
    if manifest["schema"] != SCHEMA:
        raise BundleError(f"{where}: schema {manifest['schema']} is not supported ({SCHEMA} is)")
    if manifest["gate"] != "passed":
        raise BundleError(f"{where}: gate is {manifest['gate']!r}, not 'passed'")
    for relative, digest in manifest["files"].items():
        if not _safe(relative) or relative == MANIFEST:
            raise BundleError(f"{where}: file path {relative!r} is not inside the bundle")
        if not isinstance(digest, str) or not _HEX_DIGEST.match(digest):
            raise BundleError(f"{where}: digest of {relative} is not a SHA-256 hex string")
    if not all(
        isinstance(value, int | float) and not isinstance(value, bool)
        for value in manifest["metrics"].values()
    ):
        raise BundleError(f"{where}: field 'metrics' should map names to numbers")
    if not all(isinstance(value, str) for value in manifest["params"].values()):
        raise BundleError(f"{where}: field 'params' should map names to strings")
    unlisted = [name for name in REQUIRED_FILES if name not in manifest["files"]]
    if unlisted:
        raise BundleError(f"{where} does not list {', '.join(unlisted)}")


def verify_bundle(directory: Path, git_sha: str | None = None) -> VerifiedBundle:
    """Check every digest, the manifest's fields and, when given, the commit it was built from."""
    manifest, bundle_sha256 = _parse(directory)
    _check_fields(directory, manifest)
    on_disk, problems = _scan(directory)
    expected: dict[str, str] = manifest["files"]
    for relative in sorted(expected.keys() | on_disk.keys()):
        if relative not in on_disk:
            problems.append(f"{relative} missing")
        elif relative not in expected:
            problems.append(f"{relative} unexpected")
        elif sha256_file(on_disk[relative]) != expected[relative]:
            problems.append(f"{relative} changed")
    if problems:
        raise BundleError(f"bundle {directory} does not verify: {'; '.join(sorted(problems))}")
    if git_sha is not None and manifest["git_sha"].lower() != git_sha.strip().lower():
        raise BundleError(
            f"bundle {directory} was built from git sha {manifest['git_sha']}, not {git_sha}"
        )
    return VerifiedBundle(directory, manifest, bundle_sha256)
