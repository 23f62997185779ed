"""model/README.md's "Add your own model", followed literally in a copy of ``model/models``.

Every command of the guide's ``sh`` blocks runs as written (``.venv/bin/`` is this
project's virtual environment, ``make`` lines start servers and are checked
elsewhere), its ``toml`` block becomes the specification with the digest of step 2
pasted in, and the new model is trained and gated against a real tracking server;
step 6's ``make serve`` is the API process it starts (the same variables, a free port).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlship.model.catalog import models_dir
from mlship.model.errors import ExitCode
from tests.integration.api_process import api_process
from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "model" / "README.md"
PLACEHOLDER = "PASTE-THE-SHA256-OF-STEP-2"
FENCE = re.compile(r"^ *```(\w+)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)


def guide_blocks() -> list[tuple[str, str]]:
    """The guide's fenced blocks, in order, as ``(language, dedented text)``."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Add your own model")
    end = text.index("\n## ", start + 1)
    return [(language, textwrap.dedent(body)) for language, body in FENCE.findall(text[start:end])]


def shell(line: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    venv = str(Path(sys.executable).parent)
    return subprocess.run(
        ["bash", "-c", line.replace(".venv/bin/", f"{venv}/")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_add_your_own_model_guide_trains_and_gates_a_third_model(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(models_dir(), root / "model" / "models")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLSHIP_", "MODEL_NAME", "MLFLOW_"))
    }
    env |= {
        "MLSHIP_MODELS_DIR": str(root / "model" / "models"),
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    }
    blocks = guide_blocks()
    assert [language for language, _ in blocks] == ["sh", "sh", "toml", "sh", "sh", "sh"]

    digest, outputs = "", []
    for language, body in blocks:
        if language == "toml":
            target = body.splitlines()[0].removeprefix("# ").strip()
            assert PLACEHOLDER in body
            (root / target).write_text(body.replace(PLACEHOLDER, digest), encoding="utf-8")
            continue
        for line in body.splitlines():
            if not line.strip() or line.startswith(("#", "make ")):
                continue
            done = shell(line, root, env)
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr
            outputs.append(done.stdout)
            if line.startswith("sha256sum"):
                digest = done.stdout.split()[0]

    data = root / "model" / "models" / "data" / "wine.csv"
    assert digest == hashlib.sha256(data.read_bytes()).hexdigest()
    listed, trained, gated, promoted = outputs[-4:]
    assert "WineCultivar  (" in listed
    assert "data csv:data/wine.csv: 6 features, classes barolo, grignolino, barbera" in listed
    assert "registered WineCultivar version 1" in trained
    assert "Gate PASSED: WineCultivar version 1" in gated
    assert "smoke | pass" in gated
    assert "onnx_parity | pass" in gated
    assert "promoted version 1 to production" in promoted

    # Step 6's `make serve MODEL_NAME=WineCultivar`: the API on the alias, nothing else set.
    models = shell(".venv/bin/mlship models --json", root, env)
    example = next(m["example"] for m in json.loads(models.stdout) if m["name"] == "WineCultivar")
    serve = {
        "API_MODEL_URI": "models:/WineCultivar@production",
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
    }
    with api_process(tmp_path / "api", **serve) as api, api.client() as client:
        api.wait_for("/health/ready", 200, timeout=120)
        described = client.get("/model").json()
        answer = client.post("/predict", json={"features": example})
    assert (described["name"], described["runtime"]) == ("WineCultivar", "onnx")
    assert answer.status_code == 200, answer.text
    assert answer.json()["class_name"] in ("barolo", "grignolino", "barbera")

    # Step 2's promise: a changed file without a changed pin stops training, saying so.
    data.write_text(data.read_text().replace("barolo", "grignolino", 1))
    refused = shell(".venv/bin/mlship train --model WineCultivar", root, env)
    assert refused.returncode == ExitCode.BAD_CONFIG
    assert "wine.csv changed" in refused.stderr
    assert hashlib.sha256(data.read_bytes()).hexdigest() in refused.stderr
    assert digest in refused.stderr
    assert "Traceback" not in refused.stderr
