"""Every generated file of observability/, and whether the committed copies are current."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from observability.generator import (
    api_rules,
    api_tests,
    inference_api,
    model,
    model_rules,
    model_tests,
    platform_health,
    slo_rules,
    slo_tests,
)
from observability.generator.grafana import Json
from observability.generator.promrules import RuleFile, render
from observability.generator.unittests import TestFile
from observability.generator.unittests import render as render_tests

ROOT = Path(__file__).resolve().parents[1]  # observability/
DASHBOARDS_DIR = "grafana/dashboards"
RULES_DIR = "prometheus/rules"
TESTS_DIR = "prometheus/tests"
DASHBOARDS: dict[str, Callable[[], Json]] = {
    "inference-api.json": inference_api.build,
    "model.json": model.build,
    "platform.json": platform_health.build,
}
RULE_FILES: tuple[Callable[[], RuleFile], ...] = (
    api_rules.alerts,
    model_rules.recording,
    model_rules.alerts,
    slo_rules.recording,
    slo_rules.alerts,
)
TEST_FILES: tuple[Callable[[], TestFile], ...] = (
    api_tests.test_file,
    model_tests.test_file,
    slo_tests.test_file,
)
# Folders whose every file of this kind is generated: a hand-written one is reported.
OWNED = {DASHBOARDS_DIR: "*.json", RULES_DIR: "*.y*ml", TESTS_DIR: "*.y*ml"}


def dashboard_text(dashboard: Json) -> str:
    """The committed form: stable key order, two-space indent, final newline."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def rule_files() -> list[RuleFile]:
    return [build() for build in RULE_FILES]


def rendered() -> dict[str, str]:
    """Path relative to observability/ -> text of every generated file."""
    files = {f"{DASHBOARDS_DIR}/{name}": dashboard_text(b()) for name, b in DASHBOARDS.items()}
    files |= {f"{RULES_DIR}/{rules.name}": render(rules) for rules in rule_files()}
    for build in TEST_FILES:
        tests = build()
        files[f"{TESTS_DIR}/{tests.name}"] = render_tests(tests)
    return files


def stale(root: Path = ROOT) -> list[str]:
    """Generated files missing or edited under ``root``, and files there the code does not make."""
    expected = rendered()
    outdated = [
        path
        for path, text in expected.items()
        if not (root / path).is_file() or (root / path).read_text() != text
    ]
    unknown = [
        path.relative_to(root).as_posix()
        for folder, pattern in OWNED.items()
        for path in sorted((root / folder).glob(pattern))
        if path.relative_to(root).as_posix() not in expected
    ]
    return outdated + unknown


def write(root: Path = ROOT) -> list[Path]:
    written = []
    for path, text in rendered().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written
