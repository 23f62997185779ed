"""CI glue for the workflows: the job-summary report (also the pull request comment).

Reads what the mlship CLI writes (``mlship status --json``, the gate's own
``gate_report.json`` and ``gate_report.md``, reused as they are); standard library
only. Called by the Makefile's ``ci-report`` target, never by people.

    mlship_ci.py report --status S.json [--gate G.json] [--images F] [--title T]
                        [--commit SHA] [--outcome O] [--model NAME] --out R.md

The report ends with a marker naming its model: the pull request keeps one comment
per model (a matrix leg edits its own, never another model's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- mlship-gate-report:{model} -->"


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


def gate_section(gate_json: Path) -> list[str]:
    """The gate's own markdown report, written beside its JSON report (never re-rendered)."""
    markdown = gate_json.with_suffix(".md")
    if not markdown.exists():
        raise UsageError(f"gate report {gate_json} has no markdown twin {markdown}")
    return markdown.read_text(encoding="utf-8").rstrip("\n").splitlines()


def render_report(
    title: str,
    status: dict[str, Any],
    gate_path: Path | None,
    images: list[str],
    context: list[str],
    *,
    model: str | None = None,
) -> str:
    versions = _versions(status)
    aliases: dict[str, str] = {k: str(v) for k, v in (status.get("aliases") or {}).items()}
    lines = [f"## {title}", ""]
    lines += [f"> {line}" for line in context] + ([""] if context else [])
    gate = load_json(gate_path, "gate report") if gate_path and gate_path.exists() else None
    if gate is None or gate_path is None:
        lines += ["The gate did not run in this job.", ""]
    else:
        lines += [*gate_section(gate_path), ""]
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
    # Last, so the summary starts with the title; the model's PR comment is found by it.
    lines.append(MARKER.format(model=model or status.get("model_name") or "unknown"))
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlship_ci", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="markdown for the job summary and PR comment")
    report.add_argument("--status", type=Path, required=True, help="mlship status --json output")
    report.add_argument("--gate", type=Path, help="gate_report.json (absent: no gate ran)")
    report.add_argument("--images", type=Path, help="file with the API image tags, one a line")
    report.add_argument("--title", default="mlship", help="heading of the report")
    report.add_argument("--commit", help="the commit this report is about")
    report.add_argument("--outcome", help="the job's outcome when it did not succeed")
    report.add_argument("--model", help="the model reported on (its comment marker)")
    report.add_argument("--out", type=Path, required=True, help="markdown file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        status = load_json(arguments.status, "status file")
        images_path: Path | None = arguments.images
        images = (
            images_path.read_text(encoding="utf-8").split()
            if images_path and images_path.exists()
            else []
        )
        context = [f"Reports on commit `{arguments.commit}`."] if arguments.commit else []
        if arguments.outcome and arguments.outcome != "success":
            context.append(f"**The run ended: {arguments.outcome}.** See its log.")
        if reason := os.environ.get("ROLLBACK_REASON"):
            context.append(f"Rollback: {reason}")
        text = render_report(
            arguments.title, status, arguments.gate, images, context, model=arguments.model
        )
    except UsageError as error:
        print(f"mlship_ci: error: {error}", file=sys.stderr)
        return 2
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
