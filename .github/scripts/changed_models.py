"""Which models a change touches: the JSON list the workflows' matrices run over.

A changed specification (``model/models/NAME.toml``), or a data file a specification
pins with ``data.path``, touches that model only; a change to anything else
(shared code, ``_defaults.toml``, the Makefile, requirements, workflows, ...)
touches every model. Paths that never start the workflows (``**.md``,
``platform/k8s/**``: pr.yml's and main.yml's ``paths-ignore``) touch none, and a
specification that no longer exists names no model to train. Standard library
only; model names come from the specifications (model_specs.py).

    changed_models.py all                          every declared model
    changed_models.py changed --base SHA --head SHA   models BASE...HEAD touches
    changed_models.py changed --base '' ...        no base known: every model

Without a base (a workflow_dispatch, act's default event payload, a push that
creates the branch) there is nothing to compare with: every model, which trains
or delivers more than needed, never less. A base git does not know fails (exit 2).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

# The sibling module: Python puts this script's directory first on sys.path.
from model_specs import SPECS_DIR, ModelSpec, SpecError, declared

# The workflows' paths-ignore (tests/workflows check they agree).
IGNORED = ("**.md", "platform/k8s/**")
NO_COMMIT = frozenset({"", "0" * 40})


def ignored(path: str) -> bool:
    # GitHub's "**" crosses directories, as fnmatch's "*" does; "**.md" also matches "README.md".
    return any(fnmatch.fnmatchcase(path, pattern.replace("**", "*")) for pattern in IGNORED)


def touched(paths: Iterable[str], specs: list[ModelSpec]) -> list[str]:
    """The names of the models the changed ``paths`` touch, sorted."""
    names: set[str] = set()
    everything = [spec.name for spec in specs]
    for path in paths:
        if not path or ignored(path):
            continue
        own = {spec.name for spec in specs if path in (spec.spec, spec.data)}
        if own:
            names |= own
            continue
        folder, _, file = path.rpartition("/")
        if folder == SPECS_DIR and file.endswith(".toml") and not file.startswith("_"):
            continue  # a specification that no longer exists: no model to train
        return everything
    return sorted(names)


def diff(root: Path, base: str, head: str) -> list[str]:
    """``git diff --name-only BASE...HEAD``: what HEAD changed since it left BASE."""
    for commit in (base, head):
        known = subprocess.run(
            ["git", "-C", str(root), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
            check=False,
        )
        if known.returncode != 0:
            raise SpecError(
                f"git does not know the commit {commit!r}: check out with enough history "
                "(actions/checkout fetch-depth: 0)"
            )
    listed = subprocess.run(
        ["git", "-C", str(root), "diff", "--name-only", "--no-renames", f"{base}...{head}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise SpecError(f"git diff {base}...{head} failed: {listed.stderr.strip()}")
    return listed.stdout.splitlines()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="changed_models", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("all", help="every declared model")
    changed = commands.add_parser("changed", help="the models BASE...HEAD touches")
    changed.add_argument("--base", required=True, help="base commit ('' when unknown: all)")
    changed.add_argument("--head", default="HEAD", help="head commit")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        specs = declared(arguments.root)
        if arguments.command == "all":
            names = [spec.name for spec in specs]
        elif arguments.base in NO_COMMIT:
            print("changed_models: no base commit to compare with: every model", file=sys.stderr)
            names = [spec.name for spec in specs]
        else:
            names = touched(diff(arguments.root, arguments.base, arguments.head), specs)
    except SpecError as error:
        print(f"changed_models: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(names, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
