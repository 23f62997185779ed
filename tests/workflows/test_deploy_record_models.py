"""One deploy record per model: each model's committed record is its bootstrap
record, byte for byte as the script writes it, and a record pins its own model's
API only (never an images: entry that would rename every model's image)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.k8s.manifests import MODELS as DECLARED
from tests.workflows.act_repo import ROOT
from tests.workflows.test_deploy_record import IMAGE, RELEASE, run, show, status_file, write

# Every model of model/models/, named by its specification.
MODELS = [name for name, _ in DECLARED]


@pytest.mark.unit
@pytest.mark.parametrize("model", MODELS)
def test_each_models_committed_record_is_its_bootstrap_record(tmp_path: Path, model: str) -> None:
    committed = RELEASE / model / "kustomization.yaml"
    shown = show(committed)
    if not shown["bootstrap"]:
        pytest.skip("this branch holds a delivered record (the deploy branch)")
    assert shown["model_name"] == model
    generated = tmp_path / "kustomization.yaml"
    assert run("bootstrap", "--record", str(generated), "--model-name", model).returncode == 0
    assert show(generated)["image"] == "mlship-api:bootstrap"
    # Generated, never hand-made: the script writes these very bytes (for its image).
    image = ("--image", shown["image"])
    assert (
        run("bootstrap", "--record", str(generated), "--model-name", model, *image).returncode == 0
    )
    assert committed.read_bytes() == generated.read_bytes()
    assert shown["model_version"] is None
    status = status_file(tmp_path, "3", model)
    checked = run("check", "--record", str(committed), "--status", str(status))
    assert checked.returncode == 1
    assert "no delivery recorded yet" in checked.stderr


@pytest.mark.unit
def test_a_record_pins_its_own_models_api_only(tmp_path: Path) -> None:
    record = tmp_path / "kustomization.yaml"
    assert write(record, **{"model-name": "BreastCancerForest"}).returncode == 0
    document = yaml.safe_load(record.read_text())
    (patch,) = [yaml.safe_load(entry["patch"]) for entry in document["patches"]]
    # Only this model's Deployment; no images: transformer, which would rename every model's image.
    assert patch["metadata"]["name"] == "mlship-api-breast-cancer-forest"
    assert "images" not in document
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    # The model baked into the image is served, never the registry's moving alias.
    assert env == {"API_IMAGE_REF": IMAGE, "API_MODEL_URI": "/opt/mlship/model"}
    dockerfile = (ROOT / "platform/api/Dockerfile").read_text()
    assert "COPY ${MODEL_DIR}/ /opt/mlship/model/" in dockerfile
    # A record edited to pin another model's API is refused.
    record.write_text(record.read_text().replace("breast-cancer-forest", "iris-classifier"))
    completed = run("show", "--record", str(record))
    assert completed.returncode == 2
    assert "not BreastCancerForest's API" in completed.stderr
