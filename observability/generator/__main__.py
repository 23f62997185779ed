"""Write (or, with --check, verify) the generated dashboards and Prometheus rule files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from observability.generator.outputs import ROOT, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m observability.generator", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is not current")
    parser.add_argument("--out", type=Path, default=ROOT, help="the observability/ directory")
    arguments = parser.parse_args(argv)
    if arguments.check:
        outdated = stale(arguments.out)
        for path in outdated:
            print(
                f"{arguments.out / path} is not what the generator makes: edit "
                "observability/generator and run make obs-generate",
                file=sys.stderr,
            )
        return 1 if outdated else 0
    for target in write(arguments.out):
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
