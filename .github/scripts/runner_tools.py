"""Install the tools a job needs that GitHub's runner image does not document.

``.github/runner-tools.toml`` is the data: the tools ubuntu-24.04 documents, and
for the rest the Debian/Ubuntu package that provides each. Standard library
only: it runs before the project's virtualenv exists.

    runner_tools.py install TOOL...   install each missing TOOL's package (apt-get)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "runner-tools.toml"


class ToolError(Exception):
    """A tool that is neither documented nor installable, or a failed install."""


def load(path: Path = DATA) -> tuple[set[str], dict[str, str]]:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    return set(document["documented"]), dict(document["install"])


def packages_for(tools: list[str], documented: set[str], install: dict[str, str]) -> list[str]:
    """The packages to install for the tools that are missing on this machine."""
    unknown = [tool for tool in tools if tool not in documented and tool not in install]
    if unknown:
        raise ToolError(
            f"{', '.join(unknown)}: neither on the runner image's documented list nor "
            f"installable (add it to {DATA.name})"
        )
    return sorted({install[tool] for tool in tools if tool in install and not shutil.which(tool)})


def apt_install(packages: list[str]) -> None:
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        if subprocess.run([*prefix, *command], env=environment, check=False).returncode != 0:
            raise ToolError(f"{' '.join(command[:2])} failed for {' '.join(packages)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runner_tools", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("install",))
    parser.add_argument("tools", nargs="*")
    arguments = parser.parse_args(argv)
    try:
        documented, install = load()
        packages = packages_for(arguments.tools, documented, install)
        if packages:
            print(f"runner-tools: installing {' '.join(packages)}")
            apt_install(packages)
    except ToolError as error:
        print(f"runner-tools: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
