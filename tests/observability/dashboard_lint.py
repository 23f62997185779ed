"""Rules every provisioned Grafana dashboard follows; each check returns the problems found.

Also the bridge from Grafana to Prometheus: the queries a dashboard runs, with
Grafana's macros and template variables substituted, so that they can be sent
to a real Prometheus or checked by promtool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observability.generator.grafana import DATASOURCE_UID, GRID_WIDTH

Json = dict[str, Any]

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "observability" / "grafana" / "dashboards"
MACROS = {"__rate_interval", "__range", "__interval"}
# Counter-like series: raw counters and the _count/_sum/_bucket series of histograms.
COUNTER = re.compile(r"(?<![\w:])([a-zA-Z_]\w*(?:_total|_count|_sum|_bucket))(?![\w:])")
WRAPPED = re.compile(
    r"\b(?P<function>rate|irate|increase)\(\s*(?P<name>[a-zA-Z_]\w*)\s*(?:\{[^}]*\})?\s*"
    r"\[(?P<range>[^\]]+)\]"
)
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
VARIABLE = re.compile(r"\$\{?(\w+)")
DURATION = re.compile(r"^\d+[smhdwy]$")


@dataclass(frozen=True)
class DashboardQuery:
    """One PromQL query of a dashboard and where it comes from."""

    dashboard: str  # uid
    panel: str  # title, or "annotation: NAME"
    ref_id: str
    expr: str
    instant: bool


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, Json]:
    """File name -> dashboard JSON of every file Grafana's provider would load."""
    return {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def queries(dashboard: Json) -> Iterator[DashboardQuery]:
    uid = dashboard["uid"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield DashboardQuery(
                uid, panel["title"], target["refId"], target["expr"], target.get("instant", False)
            )
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            yield DashboardQuery(
                uid, f"annotation: {annotation['name']}", "A", annotation["expr"], False
            )


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` as Grafana does; unknown names stay (and show)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def counter_problems(expr: str) -> list[str]:
    """Counters outside rate()/irate()/increase(), and ranges Grafana cannot adapt."""
    bare = QUOTED.sub('""', expr)
    problems: list[str] = []
    wrapped_at = {match.start("name") for match in WRAPPED.finditer(bare)}
    for match in COUNTER.finditer(bare):
        if match.start(1) not in wrapped_at:
            problems.append(f"counter {match.group(1)} is not inside rate()/increase()")
    for match in WRAPPED.finditer(bare):
        function, window = match.group("function"), match.group("range").strip()
        if function in {"rate", "irate"} and window != "$__rate_interval":
            problems.append(f"{function}() over [{window}] instead of [$__rate_interval]")
        if function == "increase" and not (
            window in {"$__rate_interval", "$__range"} or DURATION.match(window)
        ):
            problems.append(f"increase() over [{window}]")
    return problems


def _panel_problems(panel: Json, where: str) -> list[str]:
    problems: list[str] = []
    if panel["type"] == "row":
        return problems
    if panel.get("datasource") != {"type": "prometheus", "uid": DATASOURCE_UID}:
        problems.append(f"{where}: datasource is not uid {DATASOURCE_UID}")
    if not panel.get("description"):
        problems.append(f"{where}: no description")
    if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
        problems.append(f"{where}: no unit")
    grid = panel["gridPos"]
    if grid["x"] + grid["w"] > GRID_WIDTH:
        problems.append(f"{where}: wider than the grid")
    targets = panel.get("targets", [])
    if not targets:
        problems.append(f"{where}: no query")
    ref_ids = [target.get("refId") for target in targets]
    if len(set(ref_ids)) != len(ref_ids):
        problems.append(f"{where}: duplicate refIds {ref_ids}")
    for target in targets:
        if target.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{where} {target.get('refId')}: datasource is not {DATASOURCE_UID}")
        if not target.get("expr", "").strip():
            problems.append(f"{where} {target.get('refId')}: empty query")
    return problems


def _overlaps(panels: list[Json]) -> list[str]:
    cells: dict[tuple[int, int], str] = {}
    problems: list[str] = []
    for panel in panels:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = cells.setdefault((x, y), panel["title"])
                if other != panel["title"]:
                    problems.append(f"panels {other!r} and {panel['title']!r} overlap")
                    return problems
    return problems


def _reference_problems(dashboard: Json) -> list[str]:
    """Variables, annotations and the ``$names`` the dashboard's texts use."""
    uid = dashboard["uid"]
    problems: list[str] = []
    variables = dashboard.get("templating", {}).get("list", [])
    defined = {variable["name"] for variable in variables}
    for variable in variables:
        if variable.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{uid}: variable {variable['name']} has another datasource")
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{uid}: annotation {annotation.get('name')} has another datasource")
    texts = [query.expr for query in queries(dashboard)]
    texts += [variable.get("definition", "") for variable in variables]
    texts += [panel.get("title", "") for panel in dashboard.get("panels", [])]
    for text in texts:
        for name in VARIABLE.findall(text):
            if name not in defined | MACROS:
                problems.append(f"{uid}: ${name} is neither a variable nor a Grafana macro")
    return problems


def dashboard_problems(dashboard: Json) -> list[str]:
    """Everything wrong with one dashboard."""
    uid = dashboard.get("uid", "")
    problems: list[str] = []
    if not uid or len(uid) > 40:
        problems.append(f"uid {uid!r} is empty or longer than Grafana's 40 characters")
    if not dashboard.get("title"):
        problems.append(f"{uid}: no title")
    panels = dashboard.get("panels", [])
    ids = [panel.get("id") for panel in panels]
    if len(set(ids)) != len(ids) or not all(isinstance(i, int) and i > 0 for i in ids):
        problems.append(f"{uid}: panel ids are not unique positive integers: {ids}")
    titles = [panel.get("title") for panel in panels]
    if not all(titles) or len(set(titles)) != len(titles):
        problems.append(f"{uid}: panel titles are missing or repeated")
    for panel in panels:
        problems += _panel_problems(panel, f"{uid} / {panel.get('title')!r}")
    problems += _overlaps(panels)
    problems += _reference_problems(dashboard)
    for query in queries(dashboard):
        problems += [
            f"{uid} / {query.panel!r} {query.ref_id}: {problem}"
            for problem in counter_problems(query.expr)
        ]
    return problems
