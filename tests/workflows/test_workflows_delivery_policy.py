"""The delivery contract as the workflow files state it: least privilege, one
queue for production, self-sufficient jobs, one MLflow version, and every image
tag a manifest names pushed by a workflow.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml

from tests.support.components import declared_model_names
from tests.workflows.act_repo import ROOT

pytestmark = pytest.mark.unit

WORKFLOWS = ROOT / ".github/workflows"


def _workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    document["on"] = document.pop(True, document.get("on"))
    return document


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _pin(path: str, package: str) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(package)}==(\S+)$", text, re.MULTILINE)
    assert match, f"{path} does not pin {package}"
    return match.group(1)


def test_write_credentials_live_only_in_the_production_environment() -> None:
    pull_request = (WORKFLOWS / "pr.yml").read_text(encoding="utf-8")
    assert "MLFLOW_DELIVERY_" not in pull_request, "a pull request must never get write credentials"
    for name in ("main.yml", "rollback.yml"):
        for job_id, job in _workflow(name)["jobs"].items():
            # workflow_dispatch offers every branch: every job itself insists on main.
            assert str(job.get("if")).startswith("${{ github.ref == 'refs/heads/main'"), (
                f"{name}/{job_id}"
            )
            writes = any(access == "write" for access in job["permissions"].values())
            if writes or "secrets." in str(job):
                assert job.get("environment") == "production", f"{name}/{job_id}"
            else:  # the job that lists the models reads the repository, nothing else
                assert job["permissions"] == {"contents": "read"}, f"{name}/{job_id}"


@pytest.mark.parametrize("name", ["pr.yml", "main.yml", "rollback.yml", "platform-images.yml"])
def test_checkouts_keep_no_credentials(name: str) -> None:
    for job_id, job in _workflow(name)["jobs"].items():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{job_id}"


def test_delivery_and_rollback_share_one_queue_that_never_cancels() -> None:
    groups = [_workflow(name)["concurrency"] for name in ("main.yml", "rollback.yml")]
    assert groups[0] == groups[1] == {"group": "production-delivery", "cancel-in-progress": False}
    assert "${{" not in groups[0]["group"], "a group keyed by ref would not serialise branches"


def test_delivery_steps_run_in_the_contract_order() -> None:
    runs = _runs(_workflow("main.yml")["jobs"]["deliver"])
    order = [
        "make ci-merged-pr",
        "make ci-fetch",
        "make ci-verify",
        "make ci-register",
        "make ci-gate-registered",
        "make ci-image",
        'make smoke API_IMAGE="$API_IMAGE"',
        "make ci-promote",
        "make ci-push",
        "make ci-record",
        "make ci-restore",
    ]
    positions = [runs.index(step) for step in order]
    assert positions == sorted(positions), runs


def test_a_failure_after_promotion_restores_the_aliases() -> None:
    steps = _workflow("main.yml")["jobs"]["deliver"]["steps"]
    (restore,) = [step for step in steps if step.get("run") == "make ci-restore"]
    assert "failure()" in restore["if"]
    assert "cancelled()" in restore["if"]
    assert "steps.promote.outcome == 'success'" in restore["if"]


def test_jobs_install_the_tools_the_runner_image_lacks() -> None:
    data = tomllib.loads((ROOT / ".github/runner-tools.toml").read_text(encoding="utf-8"))
    documented, installable = set(data["documented"]), set(data["install"])
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    system_tools = {
        hook["entry"].split()[0]
        for repo in config["repos"]
        for hook in repo["hooks"]
        if not hook["entry"].startswith(".venv/")
    }
    system_tools = {tool for tool in system_tools if tool != "bash"} | {"promtool"}
    lint = " ".join(_runs(_workflow("pr.yml")["jobs"]["lint"]))
    for tool in system_tools:
        assert tool in documented or (tool in installable and tool in lint), (
            f"the lint job uses {tool}: not on the runner image's list, not installed by the job"
        )


def test_one_mlflow_version_across_client_server_and_manifests() -> None:
    version = _pin("platform/mlflow/requirements.txt", "mlflow")
    assert _pin("model/requirements.txt", "mlflow") == version
    # The API reads the registry over MLflow's REST API: no MLflow distribution at all.
    api = (ROOT / "api/requirements.txt").read_text(encoding="utf-8")
    assert not re.search(r"^mlflow", api, re.MULTILINE)
    prod = yaml.safe_load(
        (ROOT / "platform/k8s/overlays/prod/kustomization.yaml").read_text(encoding="utf-8")
    )
    tags = {image["name"]: image.get("newTag") for image in prod.get("images", [])}
    assert tags.get("mlship-mlflow") == version


def test_every_image_tag_the_prod_overlay_names_is_pushed_by_a_workflow() -> None:
    """mlship-mlflow by its MLflow version (platform images); mlship-api by digest (delivery)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "MLFLOW_VERSION = $(shell sed -n 's/^mlflow==//p' platform/mlflow/requirements.txt)" in (
        makefile
    )
    push = makefile.split("ci-push-mlflow: ##", 1)[1].split("\n\n", 1)[0]
    assert "docker push $(firstword $(subst :, ,$(MLFLOW_IMAGE))):$(MLFLOW_VERSION)" in push
    assert any(
        "make ci-push-mlflow" in run
        for run in _runs(_workflow("platform-images.yml")["jobs"]["mlflow-server"])
    )
    prod = yaml.safe_load(
        (ROOT / "platform/k8s/overlays/prod/kustomization.yaml").read_text(encoding="utf-8")
    )
    names = {image["name"] for image in prod.get("images", [])}
    assert "mlship-api" not in names, "the API image is pinned by the deploy record, by digest"


def test_dependabot_covers_every_requirement_file() -> None:
    config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text(encoding="utf-8"))
    (pip,) = [update for update in config["updates"] if update["package-ecosystem"] == "pip"]
    covered = set(pip["directories"])
    for path in ROOT.glob("**/requirements*.txt"):
        if {".venv", ".mlship", "node_modules"} & set(path.parts):
            continue
        relative = path.parent.relative_to(ROOT).as_posix()
        directory = "/" if relative == "." else f"/{relative}"
        assert directory in covered, f"dependabot misses {path.relative_to(ROOT)}"


def _models_job(name: str, job_id: str, base: str, head: str) -> None:
    job = _workflow(name)["jobs"][job_id]
    (checkout,) = [step for step in job["steps"] if "uses" in step]
    assert checkout["with"]["fetch-depth"] == 0, "the diff needs the base commit"
    (listing,) = [step for step in job["steps"] if step.get("run") == "make ci-models"]
    assert (listing["env"]["BASE_SHA"], listing["env"]["HEAD_SHA"]) == (base, head)
    assert job["outputs"]["models"] == f"${{{{ steps.{listing['id']}.outputs.models }}}}"


def test_the_pull_request_and_delivery_matrices_run_over_the_models_a_change_touches() -> None:
    _models_job(
        "pr.yml",
        "models",
        "${{ github.event.pull_request.base.sha }}",
        "${{ github.event.pull_request.head.sha || github.sha }}",
    )
    # Delivery: the push's own diff, the merged pull request's changes.
    _models_job("main.yml", "merged-models", "${{ github.event.before }}", "${{ github.sha }}")
    deliver = _workflow("main.yml")["jobs"]["deliver"]
    assert deliver["needs"] == ["merged-models"]
    assert deliver["if"].endswith("&& needs.merged-models.outputs.models != '[]' }}")
    strategy = deliver["strategy"]
    assert strategy["matrix"] == {"model": "${{ fromJSON(needs.merged-models.outputs.models) }}"}
    # Legs never race on the deploy branch or the registry, and one model's failure
    # does not cancel another model's delivery.
    assert (strategy["max-parallel"], strategy["fail-fast"]) == (1, False)
    assert deliver["env"]["MODEL_NAME"] == "${{ matrix.model }}"
    # Each model's image has its own tag in the one repository.
    assert deliver["env"]["API_IMAGE"].endswith("/mlship-api:${{ matrix.model }}-${{ github.sha }}")
    for job in (deliver, _workflow("pr.yml")["jobs"]["train"]):
        assert "MODEL_NAME" not in _workflow("main.yml").get("env", {})
        assert "vars.MODEL_NAME" not in str(job), "the model comes from the matrix"


def test_rollback_offers_exactly_the_declared_models() -> None:
    """GitHub needs the choices literal: they must be the specifications' names."""
    names = declared_model_names(ROOT)
    inputs = _workflow("rollback.yml")["on"]["workflow_dispatch"]["inputs"]
    assert inputs["model"]["type"] == "choice"
    assert inputs["model"]["options"] == names
    assert inputs["model"]["default"] in names
    job = _workflow("rollback.yml")["jobs"]["rollback"]
    assert job["env"]["MODEL_NAME"] == "${{ inputs.model }}"


def test_the_fetched_artifact_is_keyed_by_the_head_commit() -> None:
    pr_steps = _workflow("pr.yml")["jobs"]["train"]["steps"]
    (upload,) = [step for step in pr_steps if step.get("uses") == "./.github/actions/upload-model"]
    assert upload["with"]["name"] == "model-${{ env.MODEL_NAME }}-${{ env.HEAD_SHA }}"
    delivery = (ROOT / ".github/scripts/delivery.sh").read_text(encoding="utf-8")
    assert 'artifact_name() { echo "model-${model_name}-${HEAD_SHA}"; }' in delivery
