"""Which models a change touches (.github/scripts/changed_models.py), the list the
workflows' matrices run over: from real `git diff`s of a repository holding the
project's own model specifications, plus the rules on their own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.components import declared_model_names
from tests.workflows.act_repo import ROOT, commit_all

pytestmark = pytest.mark.unit

SCRIPTS = ROOT / ".github/scripts"
sys.path.insert(0, str(SCRIPTS))
from changed_models import IGNORED, touched  # noqa: E402
from model_specs import ModelSpec, SpecError, declared, slug  # noqa: E402

IRIS = ModelSpec("IrisClassifier", "model/models/iris.toml", None)
FOREST = ModelSpec("BreastCancerForest", "model/models/breast_cancer.toml", None)
OWN_DATA = ModelSpec("Mine", "model/models/mine.toml", "model/models/data/mine.csv")
SPECS = [FOREST, IRIS, OWN_DATA]
EVERY = sorted(spec.name for spec in SPECS)


def run(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "changed_models.py"), "--root", str(root), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["model/models/breast_cancer.toml"], ["BreastCancerForest"]),
        (
            ["model/models/iris.toml", "model/models/breast_cancer.toml"],
            sorted([FOREST.name, IRIS.name]),
        ),
        (["model/models/data/mine.csv"], ["Mine"]),
        (["model/models/_defaults.toml"], EVERY),
        (["model/models/iris.toml", "model/src/mlship/model/training.py"], EVERY),
        (["Makefile"], EVERY),
        (["requirements-dev.txt"], EVERY),
        (["model/models/data/unpinned.csv"], EVERY),
        ([".github/workflows/pr.yml"], EVERY),
        (["README.md", "model/README.md", "platform/k8s/base/kustomization.yaml"], []),
        (["model/models/iris.toml", "docs/guide.md"], ["IrisClassifier"]),
        (["model/models/removed.toml"], []),
        ([], []),
    ],
)
def test_a_change_touches_its_model_or_every_model(paths: list[str], expected: list[str]) -> None:
    assert touched(paths, SPECS) == expected


def test_ignored_paths_are_the_workflows_paths_ignore() -> None:
    """Paths that never start a workflow never touch a model either."""
    for name, event in (("pr.yml", "pull_request"), ("main.yml", "push")):
        document = yaml.safe_load((ROOT / ".github/workflows" / name).read_text(encoding="utf-8"))
        triggers = document.get("on", document.get(True))
        assert tuple(triggers[event]["paths-ignore"]) == IGNORED, name


def test_names_come_from_the_specifications_as_mlship_lists_them() -> None:
    names = declared_model_names(ROOT)
    assert [spec.name for spec in declared(ROOT)] == names
    completed = run(ROOT, "all")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == names


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the project's specifications and some shared code."""
    shutil.copytree(ROOT / "model/models", tmp_path / "model/models")
    (tmp_path / "Makefile").write_text("all:\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    commit_all(tmp_path, "base")
    return tmp_path


def _changed(repo: Path, base: str, head: str = "HEAD") -> list[str]:
    completed = run(repo, "changed", "--base", base, "--head", head)
    assert completed.returncode == 0, completed.stderr
    names: list[str] = json.loads(completed.stdout)
    return names


def test_a_diff_of_the_second_model_spec_names_only_it(repo: Path) -> None:
    base = _head(repo)
    spec = repo / "model/models/breast_cancer.toml"
    spec.write_text(spec.read_text() + "\n# a comment\n")
    head = commit_all(repo, "the forest's spec")
    assert _changed(repo, base, head) == ["BreastCancerForest"]
    # A shared file as well: every model.
    (repo / "Makefile").write_text("all:\n\ttrue\n")
    assert _changed(repo, base, commit_all(repo, "shared")) == [
        "BreastCancerForest",
        "IrisClassifier",
    ]


def test_the_diff_is_what_head_changed_since_it_left_base(repo: Path) -> None:
    fork = _head(repo)
    iris = repo / "model/models/iris.toml"
    iris.write_text(iris.read_text() + "\n# main moved on\n")
    main = commit_all(repo, "main: iris")
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "pr", fork], check=True)
    spec = repo / "model/models/breast_cancer.toml"
    spec.write_text(spec.read_text() + "\n# the pull request\n")
    head = commit_all(repo, "pr: forest")
    # BASE...HEAD: main's own change to iris.toml is not the pull request's.
    assert _changed(repo, main, head) == ["BreastCancerForest"]


def test_no_base_means_every_model_and_an_unknown_base_fails(repo: Path) -> None:
    every = ["BreastCancerForest", "IrisClassifier"]
    assert _changed(repo, "") == every
    assert _changed(repo, "0" * 40) == every  # a push that created the branch
    unknown = run(repo, "changed", "--base", "1" * 40)
    assert unknown.returncode == 2
    assert "fetch-depth: 0" in unknown.stderr
    assert unknown.stdout == ""


def test_a_data_file_a_spec_pins_touches_that_model(repo: Path) -> None:
    data = repo / "model/models/data/mine.csv"
    data.parent.mkdir()
    data.write_text("a,target\n1,x\n")
    (repo / "model/models/mine.toml").write_text(
        'name = "MyModel"\n[data]\nloader = "csv"\npath = "data/mine.csv"\n'
    )
    base = commit_all(repo, "a model with its own data")
    data.write_text("a,target\n2,y\n")
    assert _changed(repo, base, commit_all(repo, "new data")) == ["MyModel"]


def test_a_spec_without_a_valid_name_is_refused(repo: Path) -> None:
    (repo / "model/models/broken.toml").write_text('name = "not a name"\n')
    completed = run(repo, "all")
    assert completed.returncode == 2
    assert completed.stderr.startswith("changed_models: error: model/models/broken.toml: name")


def _head(repo: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IrisClassifier", "iris-classifier"),
        ("BreastCancerForest", "breast-cancer-forest"),
        ("XMLModel2", "xml-model2"),
        ("my_model.v2", "my-model-v2"),
    ],
)
def test_a_model_name_becomes_a_dns_label(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_names_whose_kubernetes_names_collide_or_overflow_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model/models").mkdir(parents=True)
    (tmp_path / "model/models/a.toml").write_text('name = "IrisClassifier"\n')
    (tmp_path / "model/models/b.toml").write_text('name = "iris_classifier"\n')
    with pytest.raises(SpecError, match="share the Kubernetes name 'iris-classifier'"):
        declared(tmp_path)
    with pytest.raises(SpecError, match="DNS label"):
        slug("A" + "b" * 60)
