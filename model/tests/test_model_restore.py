"""The promotion record ``mlship restore --from`` reads, checked before any server is contacted."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from mlship.model.alias_record import AliasState, parse_promotion_record, read_promotion_record
from mlship.model.cli import main
from mlship.model.errors import BadConfigError, ExitCode
from tests.support.components import free_port

pytestmark = pytest.mark.unit

# What `mlship promote --json` prints (AliasMove through dataclasses.asdict).
PROMOTION: dict[str, Any] = {
    "model_name": "M",
    "production": "4",
    "previous": "3",
    "changed": True,
    "message": "promoted version 4 to production (previous: 3)",
    "before": {"production": "3", "previous": "2"},
}


def test_a_promotion_record_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "promotion.json"
    path.write_text(json.dumps(PROMOTION))
    record = read_promotion_record(path)
    assert (record.model_name, record.production) == ("M", "4")
    assert record.before == AliasState(production="3", previous="2")
    assert asdict(record.before) == PROMOTION["before"]


def test_a_first_promotion_had_nothing_before() -> None:
    first = {**PROMOTION, "previous": None, "before": {"production": None, "previous": None}}
    assert parse_promotion_record(first, "f").before == AliasState(None, None)


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ([], "not a JSON object"),
        ({**PROMOTION, "model_name": ""}, "no model_name"),
        ({**PROMOTION, "production": 4}, "production is not a version number"),
        ({**PROMOTION, "production": "latest"}, "production is not a version number"),
        ({k: v for k, v in PROMOTION.items() if k != "before"}, "no before.production"),
        ({**PROMOTION, "before": {"production": "3"}}, "no before.production"),
        ({**PROMOTION, "before": {"production": "x", "previous": None}}, "before.production"),
    ],
)
def test_what_is_not_a_promotion_record(document: Any, complaint: str) -> None:
    with pytest.raises(BadConfigError, match="not a promotion record") as caught:
        parse_promotion_record(document, "promotion record f")
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (None, "cannot read it"),
        ("{not json", "not valid JSON"),
        (json.dumps({"production": "1"}), "not a promotion record"),
    ],
)
def test_restore_refuses_a_bad_record_before_contacting_the_server(
    tmp_path: Path, content: str | None, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "promotion.json"
    if content is not None:
        path.write_text(content)
    unreachable = f"http://127.0.0.1:{free_port()}"
    code = main(["restore", "--from", str(path), "--tracking-uri", unreachable])
    assert code == ExitCode.BAD_CONFIG
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlship: error: promotion record")
    assert complaint in err
    assert len(err.splitlines()) == 1
