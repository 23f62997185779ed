"""Write (or, with --check, verify) the dashboard JSON files Grafana provisions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from observability.grafana.generator import inference_api, model, platform_health
from observability.grafana.generator.grafana import Json

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "dashboards"
BUILDERS: dict[str, Callable[[], Json]] = {
    "inference-api.json": inference_api.build,
    "model.json": model.build,
    "platform.json": platform_health.build,
}


def render(dashboard: Json) -> str:
    """The committed form: stable key order, two-space indent, final newline."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: render(build()) for name, build in BUILDERS.items()}


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Dashboard files that are missing or differ from what the code generates."""
    return [
        name
        for name, text in rendered().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m observability.grafana.generator", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="fail if a file is not current")
    parser.add_argument("--out", type=Path, default=DASHBOARDS_DIR, help="target directory")
    arguments = parser.parse_args(argv)
    if arguments.check:
        outdated = stale(arguments.out)
        for name in outdated:
            print(f"{arguments.out / name} is not current: run make dashboards", file=sys.stderr)
        return 1 if outdated else 0
    arguments.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (arguments.out / name).write_text(text)
        print(f"wrote {arguments.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
