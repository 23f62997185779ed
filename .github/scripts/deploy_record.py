"""The deploy record: what production runs of one model, as a generated file in the prod overlay.

Each model's record (platform/k8s/overlays/prod/release/<model name>/kustomization.yaml)
is a Kustomize Component: it pins that model's API image by digest and puts the
registered model's name and version, the source git SHA and the model bundle's
digest on its API pods. Delivery writes it and commits it to the deploy branch; a
rollback reverts that commit. Standard library and PyYAML only. See
platform/k8s/README.md.

    deploy_record.py write --record PATH --image REPO@sha256:HEX --model-name NAME \\
        --model-version N --git-sha SHA --bundle-sha256 HEX
    deploy_record.py bootstrap --record PATH --model-name NAME [--image REPO:TAG]
    deploy_record.py show --record PATH [--json]
    deploy_record.py check --record PATH --status STATUS_JSON

Exit status: 0 done (check: in agreement); 1 check found a disagreement, or
the record is the bootstrap one (show prints it all the same: "no delivery
recorded yet", so a script never takes a version from it); 2 a bad argument or
file (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

# The sibling module: Python puts this script's directory first on sys.path.
from deploy_record_file import BOOTSTRAP_IMAGE, Record, UsageError, load_record, save

NO_DELIVERY = "no delivery recorded yet"


def check(record: Record, status_path: Path) -> tuple[bool, str]:
    """Whether the registry's production alias is the version the record pins, and why."""
    if record.bootstrap:
        return False, f"{NO_DELIVERY}: the bootstrap record names {record.image}"
    try:
        status = json.loads(status_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the status JSON {status_path}: {error}") from None
    if not isinstance(status, dict) or not status.get("model_name"):
        raise UsageError(f"{status_path} has no model_name (expected mlship status --json)")
    name, pinned = str(status["model_name"]), record.model_version
    production = (status.get("aliases") or {}).get("production")
    if name != record.model_name:
        return False, f"the record pins {record.model_name} version {pinned}, the status is {name}"
    if production is None:
        return False, f"the record pins {name} version {pinned}; the registry has no production"
    if str(production) != pinned:
        return False, (
            f"disagreement: the record pins {name} version {pinned}, "
            f"the registry's production alias is version {production}"
        )
    return True, f"in agreement: {name} version {pinned} is recorded and is production"


def _shown(value: object) -> str:
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy_record", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the record of a delivery")
    write.add_argument("--image", required=True, help="REPOSITORY@sha256:<64 hex>")
    write.add_argument("--model-name", required=True, help="registered model name")
    write.add_argument("--model-version", required=True, help="registered model version")
    write.add_argument("--git-sha", required=True, help="40-hex commit the model came from")
    write.add_argument("--bundle-sha256", required=True, help="digest of the model bundle")
    boot = commands.add_parser("bootstrap", help="write the record no delivery has replaced")
    boot.add_argument("--image", default=BOOTSTRAP_IMAGE, help="REPOSITORY:TAG (no model)")
    boot.add_argument("--model-name", required=True, help="registered model name")
    show = commands.add_parser("show", help="print the record's fields")
    show.add_argument("--json", action="store_true", help="as one JSON object")
    agree = commands.add_parser("check", help="does the registry serve what the record pins?")
    agree.add_argument("--status", type=Path, required=True, help="mlship status --json output")
    for command in (write, boot, show, agree):
        command.add_argument("--record", type=Path, required=True, help="the record file")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "write":
            names = ("image", "model_name", "model_version", "git_sha", "bundle_sha256")
            record = Record(**{name: getattr(arguments, name) for name in names})
            save(arguments.record, record)
            print(
                f"deploy_record: wrote {arguments.record}: {record.model_name} "
                f"version {record.model_version}, {record.image}"
            )
        elif arguments.command == "bootstrap":
            save(arguments.record, Record(image=arguments.image, model_name=arguments.model_name))
            print(f"deploy_record: wrote the bootstrap record {arguments.record}")
        elif arguments.command == "show":
            record = load_record(arguments.record)
            fields = {"bootstrap": record.bootstrap, **asdict(record)}
            if arguments.json:
                print(json.dumps(fields, sort_keys=True))
            else:
                print("\n".join(f"{key}: {_shown(value)}" for key, value in fields.items()))
            if record.bootstrap:
                print(f"deploy_record: {NO_DELIVERY}: {arguments.record}", file=sys.stderr)
                return 1
        else:
            agreed, message = check(load_record(arguments.record), arguments.status)
            if not agreed:
                print(f"deploy_record: {message}", file=sys.stderr)
                return 1
            print(message)
    except UsageError as error:
        print(f"deploy_record: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
