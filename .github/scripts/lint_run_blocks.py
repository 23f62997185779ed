"""shellcheck every `run:` block of GitHub workflows and composite actions.

Each block is written to its own script (``${{ ... }}`` expressions replaced by a
plain word) and all are checked in one shellcheck call; findings name the file,
the job and the step. Blocks for other shells (pwsh, python) are skipped.

    lint_run_blocks.py FILE...   (workflow or action.yml files; exit 1 on findings)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
SHELLS = {"bash": "bash", "sh": "sh"}


@dataclass(frozen=True)
class RunBlock:
    where: str
    shell: str
    script: str


def _shell_of(step: dict[str, Any], default: str) -> str | None:
    """The shellcheck dialect of a step, None for a shell shellcheck does not know."""
    shell = str(step.get("shell") or default).split()[0]
    return SHELLS.get(Path(shell).name)


def _default_shell(*documents: dict[str, Any]) -> str:
    for document in documents:
        shell = ((document.get("defaults") or {}).get("run") or {}).get("shell")
        if shell:
            return str(shell)
    return "bash"


def _steps(steps: object, where: str, default: str) -> list[RunBlock]:
    blocks = []
    for index, step in enumerate(steps if isinstance(steps, list) else [], start=1):
        if not isinstance(step, dict) or "run" not in step:
            continue
        shell = _shell_of(step, default)
        if shell is not None:
            name = step.get("name") or step.get("id") or f"step {index}"
            blocks.append(RunBlock(f"{where} / {name}", shell, str(step["run"])))
    return blocks


def run_blocks(path: Path) -> list[RunBlock]:
    """Every `run:` block of a workflow (jobs.*.steps) or composite action (runs.steps)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    if "runs" in document:
        return _steps((document.get("runs") or {}).get("steps"), str(path), "bash")
    blocks = []
    for job_id, job in (document.get("jobs") or {}).items():
        if isinstance(job, dict):
            default = _default_shell(job, document)
            blocks += _steps(job.get("steps"), f"{path} / {job_id}", default)
    return blocks


def shellcheck(blocks: list[RunBlock], shellcheck_bin: str) -> tuple[bool, str]:
    """(clean, findings) for all blocks, checked in one shellcheck run."""
    if not blocks:
        return True, ""
    with tempfile.TemporaryDirectory(prefix="run-blocks-") as scratch:
        scripts: dict[str, RunBlock] = {}
        for number, block in enumerate(blocks):
            script = Path(scratch) / f"block{number}.sh"
            body = EXPRESSION.sub("_gha_expression_", block.script)
            script.write_text(f"# shellcheck shell={block.shell}\n{body}\n", encoding="utf-8")
            scripts[str(script)] = block
        result = subprocess.run(
            [shellcheck_bin, "--format=gcc", *scripts],
            capture_output=True,
            text=True,
            check=False,
        )
    findings = []
    for line in result.stdout.splitlines():
        file, _, rest = line.partition(":")
        found = scripts.get(file)
        if found is None:
            findings.append(line)
            continue
        row, _, message = rest.partition(":")
        # Line 1 of the script is the dialect comment: report lines of the block itself.
        findings.append(f"{found.where} (line {int(row) - 1}):{message.split(':', 1)[-1]}")
    clean = result.returncode == 0
    if not clean and not findings:
        findings.append(result.stderr.strip() or f"shellcheck exited {result.returncode}")
    return clean, "\n".join(findings)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    shellcheck_bin = shutil.which("shellcheck")
    if shellcheck_bin is None:
        print("lint_run_blocks: shellcheck is not installed", file=sys.stderr)
        return 2
    blocks: list[RunBlock] = []
    for name in argv:
        try:
            blocks += run_blocks(Path(name))
        except (OSError, ValueError, yaml.YAMLError) as error:
            print(f"lint_run_blocks: {name}: {error}", file=sys.stderr)
            return 2
    clean, findings = shellcheck(blocks, shellcheck_bin)
    if findings:
        print(findings)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
