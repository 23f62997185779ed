"""promtool rule unit test files, written from compact Python cases.

What a case tests stays in the case: its input series, evaluation times and the
labels each firing alert must carry. What is mechanical comes from here: the
cumulative buckets of a histogram from per-bucket rates, the alert's own labels
(severity, slo, window) and its annotations, expanded from the rule's templates
with the expected labels, so a template naming a missing label fails
generation and a template Prometheus expands differently fails promtool.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from observability.generator.promrules import GENERATED, Alert, RuleFile

Json = dict[str, Any]
TEMPLATE = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")


def selector(metric: str, labels: dict[str, str]) -> str:
    """``metric{a="1", b="2"}`` in the labels' order."""
    return metric + "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def series(metric: str, values: str, **labels: str) -> Json:
    return {"series": selector(metric, labels), "values": values}


def histogram(
    metric: str, bounds: Sequence[str], increments: Sequence[float], steps: int, **labels: str
) -> list[Json]:
    """A histogram whose bucket ``i`` (up to ``bounds[i]``) gains ``increments[i]`` a step.

    ``increments`` has one more entry than ``bounds`` for the values above the last
    bound (+Inf); the buckets are cumulative, the count is the +Inf bucket.
    """
    if len(increments) != len(bounds) + 1:
        raise ValueError("one increment per bound, and one for +Inf")
    cumulative, total = [], 0.0
    for increment in increments:
        total += increment
        cumulative.append(total)
    rows = [
        series(f"{metric}_bucket", f"0+{count:g}x{steps}", **labels, le=bound)
        for bound, count in zip([*bounds, "+Inf"], cumulative, strict=True)
    ]
    return [*rows, series(f"{metric}_count", f"0+{total:g}x{steps}", **labels)]


def _expand(template: str, labels: dict[str, str]) -> str:
    return TEMPLATE.sub(lambda match: labels[match.group(1)], template)


def alert_named(rule_file: RuleFile, name: str) -> Alert:
    for group in rule_file.groups:
        for rule in group.rules:
            if isinstance(rule, Alert) and rule.name == name:
                return rule
    raise KeyError(f"{rule_file.name} has no alert {name}")


def fires(alert: Alert, at: str, *label_sets: dict[str, str]) -> Json:
    """At ``at`` the alert fires exactly once per label set (its own labels added)."""
    expected = []
    for labels in label_sets:
        every = {"severity": alert.severity, **alert.labels, **labels}
        expected.append(
            {
                "exp_labels": every,
                "exp_annotations": {
                    "summary": _expand(alert.summary, every),
                    "description": _expand(alert.description, every),
                    "runbook": alert.runbook,
                },
            }
        )
    return {"eval_time": at, "alertname": alert.name, "exp_alerts": expected}


def silent(alert: Alert, at: str) -> Json:
    return {"eval_time": at, "alertname": alert.name, "exp_alerts": []}


def sample(expr: str, at: str, value: float, labels: str) -> Json:
    """A promql_expr_test expecting one sample."""
    return {"expr": expr, "eval_time": at, "exp_samples": [{"labels": labels, "value": value}]}


@dataclass(frozen=True)
class Case:
    name: str
    interval: str
    input_series: list[Json]
    alerts: list[Json]
    samples: tuple[Json, ...] = ()

    def data(self) -> Json:
        data: Json = {
            "name": self.name,
            "interval": self.interval,
            "input_series": self.input_series,
            "alert_rule_test": self.alerts,
        }
        if self.samples:
            data["promql_expr_test"] = list(self.samples)
        return data


@dataclass(frozen=True)
class TestFile:
    """One file of ``prometheus/tests``; rule files are loaded from ``../rules``."""

    name: str
    header: str
    rule_files: tuple[RuleFile, ...]
    evaluation_interval: str
    cases: tuple[Case, ...]

    def data(self) -> Json:
        return {
            "rule_files": [f"../rules/{rules.name}" for rules in self.rule_files],
            "evaluation_interval": self.evaluation_interval,
            "tests": [case.data() for case in self.cases],
        }


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as the other YAML files of the repository do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render(test_file: TestFile) -> str:
    comment = "\n".join(
        f"# {line}".rstrip() for line in f"{GENERATED}\n{test_file.header}".splitlines()
    )
    body = yaml.dump(
        test_file.data(), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True
    )
    return f"{comment}\n{body}"
