"""``mlship-api``: run the service with uvicorn using the ``API_*`` settings.

``mlship-api fetch DIR`` downloads the configured registry model into DIR (for
images with a baked model; then serve it with ``API_MODEL_URI=DIR``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from mlship.api.settings import Settings


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'settings'}: {issue['msg']}"
            for issue in error.errors()
        )
        sys.exit(f"mlship-api: invalid settings: {problems}")
    from mlship.api.source import source_for  # noqa: PLC0415

    try:  # the model source's own rules: URI forms, a tracking server's URL
        source_for(settings.model_uri, settings.tracking_uri)
    except ValueError as error:
        sys.exit(f"mlship-api: invalid settings: {error}")
    return settings


def _prepare_multiprocess_dir(settings: Settings) -> None:
    """Wipe stale metric files; must run before prometheus_client is imported."""
    directory = settings.prometheus_multiproc_dir
    if directory is None:
        return
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def serve(settings: Settings) -> None:
    _prepare_multiprocess_dir(settings)
    import uvicorn  # noqa: PLC0415

    from mlship.api.logs import log_config  # noqa: PLC0415

    uvicorn.run(
        "mlship.api.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=log_config(settings.log_level),
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


def fetch(settings: Settings, destination: Path) -> None:
    from mlship.api.source import (  # noqa: PLC0415
        NoModelError,
        RegistrySource,
        RegistryUnreachableError,
        source_for,
        write_registry_metadata,
    )

    source = source_for(
        settings.model_uri, settings.tracking_uri, settings.registry_timeout_seconds
    )
    if not isinstance(source, RegistrySource):
        sys.exit(f"mlship-api fetch: API_MODEL_URI must be a models:/ URI, got {source.uri}")
    if destination.exists() and any(destination.iterdir()):
        sys.exit(f"mlship-api fetch: {destination} exists and is not empty")
    try:
        ref = source.resolve()
        with tempfile.TemporaryDirectory(prefix="mlship-fetch-") as staging:
            downloaded = source.fetch(ref, Path(staging))
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.exists():
                destination.rmdir()
            shutil.move(str(downloaded), destination)
    except (NoModelError, RegistryUnreachableError) as error:
        sys.exit(f"mlship-api fetch: {error}")
    write_registry_metadata(ref, destination)
    print(f"{ref.name} version {ref.version} -> {destination}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mlship-api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (the default)")
    fetch_parser = commands.add_parser("fetch", help="download the registry model into DIR")
    fetch_parser.add_argument("directory", type=Path)
    arguments = parser.parse_args(argv)
    settings = _settings()
    if arguments.command == "fetch":
        fetch(settings, arguments.directory)
    else:
        serve(settings)


if __name__ == "__main__":
    main()
