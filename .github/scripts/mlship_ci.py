"""CI glue for the workflows: the job-summary report and the pull request's version.

Reads what the mlship CLI writes (``mlship status --json``, the gate's
``gate_report.json``); standard library only, so it runs before anything else
is installed. Called by the Makefile's ``ci-*`` targets, never by people.

    mlship_ci.py report --status S.json [--gate G.json] [--images F] [--title T] --out R.md
    mlship_ci.py pr-version --status S.json --pr N
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- mlship-gate-report -->"


class UsageError(Exception):
    """A bad input file or argument: reported in one line, exit status 2."""


def load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{what} {path} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UsageError(f"{what} {path} must hold a JSON object")
    return document


def _versions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = status.get("versions")
    if not isinstance(rows, list):
        raise UsageError("status JSON has no 'versions' list (expected mlship status --json)")
    return {str(row["version"]): row for row in rows if isinstance(row, dict) and "version" in row}


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def metrics_table(candidate: dict[str, Any], production: dict[str, Any] | None) -> list[str]:
    """Candidate against production, metric by metric (change = candidate - production)."""
    ours: dict[str, float] = candidate.get("metrics") or {}
    theirs: dict[str, float] = (production or {}).get("metrics") or {}
    if production is None:
        lines = [f"| metric | version {candidate['version']} |", "| --- | ---: |"]
        lines += [f"| {name} | {_number(value)} |" for name, value in sorted(ours.items())]
        return lines
    lines = [
        f"| metric | version {candidate['version']} | production (version "
        f"{production['version']}) | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in sorted(set(ours) | set(theirs)):
        mine, reference = ours.get(name), theirs.get(name)
        change = (
            f"{mine - reference:+.4f}"
            if isinstance(mine, int | float) and isinstance(reference, int | float)
            else "-"
        )
        lines.append(f"| {name} | {_number(mine)} | {_number(reference)} | {change} |")
    return lines


def gate_section(gate: dict[str, Any]) -> list[str]:
    verdict = "passed" if gate.get("passed") else "FAILED"
    lines = [
        f"### Gate {verdict}: {gate.get('model_name')} version {gate.get('version')}",
        "",
        f"Thresholds: `{gate.get('thresholds')}`.",
        "",
        "| check | result | observed | limit | detail |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for check in gate.get("checks", []):
        result = "pass" if check.get("passed") else "**FAIL**"
        lines.append(
            f"| {check.get('name')} | {result} | {_number(check.get('observed'))} "
            f"| {_number(check.get('limit'))} | {check.get('detail') or ''} |"
        )
    return lines


def render_report(
    title: str,
    status: dict[str, Any],
    gate: dict[str, Any] | None,
    images: list[str],
    note: str | None,
) -> str:
    versions = _versions(status)
    aliases: dict[str, str] = {k: str(v) for k, v in (status.get("aliases") or {}).items()}
    lines = [f"## {title}", ""]
    if note:
        lines += [f"> {note}", ""]
    if gate is None:
        lines += ["The gate did not run in this job.", ""]
    else:
        lines += [*gate_section(gate), ""]
    candidate_version = str(gate["version"]) if gate else aliases.get("production")
    candidate = versions.get(candidate_version or "")
    if candidate is not None:
        production_version = aliases.get("production")
        production = (
            versions.get(production_version)
            if production_version and production_version != candidate_version
            else None
        )
        lines += ["### Metrics", "", *metrics_table(candidate, production), ""]
    held = ", ".join(f"`{alias}` = {version}" for alias, version in sorted(aliases.items()))
    lines += [f"**Registry** `{status.get('model_name')}`: {held or 'no aliases yet'}.", ""]
    if images:
        lines += ["**API image**: " + ", ".join(f"`{image}`" for image in images), ""]
    # Last, so the summary starts with the title; the PR comment is found by it.
    lines.append(MARKER)
    return "\n".join(lines) + "\n"


def pr_version(status: dict[str, Any], pr: str) -> str:
    """The newest version that pull request ``pr`` registered and the gate passed."""
    matches = [
        row
        for row in _versions(status).values()
        if str(row.get("pr") or "") == pr and row.get("gate") == "passed"
    ]
    if not matches:
        raise UsageError(f"no version of pull request #{pr} passed the gate")
    return str(max(matches, key=lambda row: int(row["version"]))["version"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlship_ci", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="markdown for the job summary and PR comment")
    report.add_argument("--status", type=Path, required=True, help="mlship status --json output")
    report.add_argument("--gate", type=Path, help="gate_report.json (absent: no gate ran)")
    report.add_argument("--images", type=Path, help="file with the API image tags, one a line")
    report.add_argument("--title", default="mlship", help="heading of the report")
    report.add_argument("--out", type=Path, required=True, help="markdown file to write")
    version = commands.add_parser("pr-version", help="the version a pull request validated")
    version.add_argument("--status", type=Path, required=True, help="mlship status --json output")
    version.add_argument("--pr", required=True, help="pull request number")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        status = load_json(arguments.status, "status file")
        if arguments.command == "pr-version":
            print(pr_version(status, arguments.pr))
            return 0
        gate_path: Path | None = arguments.gate
        gate = load_json(gate_path, "gate report") if gate_path and gate_path.exists() else None
        images_path: Path | None = arguments.images
        images = (
            images_path.read_text(encoding="utf-8").split()
            if images_path and images_path.exists()
            else []
        )
        note = os.environ.get("ROLLBACK_REASON") or None
        text = render_report(arguments.title, status, gate, images, note)
    except UsageError as error:
        print(f"mlship_ci: error: {error}", file=sys.stderr)
        return 2
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
