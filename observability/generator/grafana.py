"""Building blocks of Grafana dashboard JSON (schema of Grafana 10/11).

Every panel and query points at the provisioned Prometheus datasource by its
fixed uid, so dashboards work without a datasource variable. Panels are laid
out left to right in rows of the 24-column grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASOURCE_UID = "mlship-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
GRID_WIDTH = 24

Json = dict[str, Any]


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel; ``legend`` is Grafana's legendFormat."""

    expr: str
    legend: str = "__auto"
    instant: bool = False
    format: str = "time_series"  # "heatmap" for bucket series shown in a heatmap


@dataclass(frozen=True)
class Panel:
    """A visualisation; ``width``/``height`` are grid units (24 columns per row)."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    options: Json = field(default_factory=dict)
    defaults: Json = field(default_factory=dict)
    extra: Json = field(default_factory=dict)


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Absolute thresholds: the first step's value is None (the base colour)."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


def value_names(mapping: dict[str, tuple[str, str]]) -> list[Json]:
    """Value mappings such as {"1": ("up", "green")}."""
    return [
        {
            "type": "value",
            "options": {
                value: {"text": text, "color": color, "index": index}
                for index, (value, (text, color)) in enumerate(mapping.items())
            },
        }
    ]


def query_variable(
    name: str, label: str, definition: str, *, multi: bool = False, default: str | None = None
) -> Json:
    """A template variable filled by ``label_values(...)``; multi-value ones offer All (.*)."""
    variable: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": definition,
        "query": {"query": definition, "refId": f"{name}-values"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "hide": 0,
        "options": [],
    }
    if multi:
        variable["allValue"] = ".*"
        variable["current"] = {"text": ["All"], "value": ["$__all"]}
    elif default is not None:
        variable["current"] = {"text": default, "value": default}
    return variable


def _target(query: Query, ref_id: str) -> Json:
    return {
        "refId": ref_id,
        "datasource": DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend,
        "range": not query.instant,
        "instant": query.instant,
        "format": query.format,
        "editorMode": "code",
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> Json:
    ref_ids = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [_target(query, ref_ids[index]) for index, query in enumerate(panel.queries)],
        "fieldConfig": {"defaults": {"unit": panel.unit, **panel.defaults}, "overrides": []},
        "options": panel.options,
        **panel.extra,
    }


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    rows: list[tuple[str, list[Panel]]],
    variables: list[Json] | None = None,
    annotations: list[Json] | None = None,
) -> Json:
    """A complete dashboard: each row is a title and its panels, laid out in order."""
    panels: list[Json] = []
    panel_id = 0
    y = 0
    for row_title, row_panels in rows:
        panel_id += 1
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = 0
        line_height = 0
        for panel in row_panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panel_id += 1
            panels.append(_panel_json(panel, panel_id, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["mlship"],
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "links": [
            {
                "type": "dashboards",
                "tags": ["mlship"],
                "asDropdown": False,
                "title": "mlship",
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables or []},
        "annotations": {"list": annotations or []},
        "panels": panels,
    }
