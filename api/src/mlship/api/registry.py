"""The MLflow Model Registry and its proxied artifacts, read over MLflow's REST API.

The service reads three things: which version an alias names, where that
version's files are, and the files. MLflow's documented REST endpoints answer
all three, so the service needs neither the MLflow client (its import costs
about a second of cold start and its dependencies tens of megabytes of image)
nor credentials beyond the tracking server's own: ``MLFLOW_TRACKING_USERNAME``/
``MLFLOW_TRACKING_PASSWORD`` or ``MLFLOW_TRACKING_TOKEN``, and
``MLFLOW_TRACKING_SERVER_CERT_PATH``/``MLFLOW_TRACKING_INSECURE_TLS`` for TLS,
as MLflow's client reads them. Artifacts are read through the server's proxy
(``mlflow-artifacts:``), as every registry of the platform serves them.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class NoModelError(Exception):
    """The registry answered, but the model, alias or version does not exist (yet)."""


class RegistryUnreachableError(Exception):
    """The registry could not be asked (down, timing out, refusing, answering errors)."""


def _headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get(f"MLFLOW_TRACKING_{part}") for part in ("USERNAME", "PASSWORD")
    )
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _tls() -> ssl.SSLContext | None:
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        return ssl._create_unverified_context()  # noqa: S323 (asked for by the operator)
    certificate = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    return ssl.create_default_context(cafile=certificate) if certificate else None


class RegistryClient:
    """Calls to one tracking server, each bounded by ``timeout`` seconds, never retried."""

    def __init__(self, tracking_uri: str, timeout: float) -> None:
        if not tracking_uri.startswith(("http://", "https://")):
            raise ValueError(
                f"tracking URI {tracking_uri!r} is not an http(s) URL: the service reads "
                "the registry from a tracking server (API_TRACKING_URI / MLFLOW_TRACKING_URI)"
            )
        self.base, self.timeout = tracking_uri.rstrip("/"), timeout
        self._headers, self._tls = _headers(), _tls()

    def _open(self, path: str, query: dict[str, str] | None = None) -> bytes:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers=self._headers)  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._tls) as reply:  # noqa: S310
                return bytes(reply.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                answer = json.loads(body)
            except ValueError:
                answer = {}
            message = f"{path}: HTTP {error.code} {answer.get('message') or error.reason}"
            if answer.get("error_code") in NOT_FOUND_CODES:
                raise NoModelError(message) from None
            raise RegistryUnreachableError(message) from None
        except (OSError, ValueError) as error:  # refused, reset, timed out, bad URL
            raise RegistryUnreachableError(f"{self.base}: {error}") from None

    def get(self, endpoint: str, **query: str) -> dict[str, Any]:
        answer = json.loads(self._open(endpoint, query))
        return answer if isinstance(answer, dict) else {}

    def version(self, name: str, alias: str | None, version: str | None) -> dict[str, Any]:
        """The model version an alias names, or a version by number."""
        if alias is not None:
            found = self.get("/api/2.0/mlflow/registered-models/alias", name=name, alias=alias)
        else:
            found = self.get("/api/2.0/mlflow/model-versions/get", name=name, version=str(version))
        return dict(found.get("model_version") or {})

    def artifact_path(self, name: str, version: str) -> str:
        """Where the version's files are, as a path under the server's artifact proxy."""
        uri = self.get(
            "/api/2.0/mlflow/model-versions/get-download-uri", name=name, version=version
        ).get("artifact_uri", "")
        if uri.startswith("runs:/"):
            run_id, _, inner = uri.removeprefix("runs:/").partition("/")
            run = self.get("/api/2.0/mlflow/runs/get", run_id=run_id)
            uri = f"{run['run']['info']['artifact_uri'].rstrip('/')}/{inner}"
        elif uri.startswith("models:/"):
            model_id = uri.removeprefix("models:/").strip("/")
            logged = self.get(f"/api/2.0/mlflow/logged-models/{urllib.parse.quote(model_id)}")
            uri = logged["model"]["info"]["artifact_uri"]
        if not uri.startswith("mlflow-artifacts:"):
            raise RegistryUnreachableError(
                f"version {version} of {name} is stored at {uri}, not behind the tracking "
                "server's artifact proxy (mlflow server --serve-artifacts)"
            )
        return str(urllib.parse.urlparse(uri).path).strip("/")

    def download(self, path: str, destination: Path) -> None:
        """Every file under ``path`` into ``destination``, recursively."""
        destination.mkdir(parents=True, exist_ok=True)
        listing = self.get(ARTIFACTS, path=path).get("files") or []
        if not listing:
            raise NoModelError(f"{path}: no files under the artifact proxy")
        for entry in listing:
            name = Path(str(entry["path"])).name
            if name in ("", ".", ".."):
                raise RegistryUnreachableError(f"{path}: the proxy listed a bad name {name!r}")
            if entry.get("is_dir"):
                self.download(f"{path}/{name}", destination / name)
            else:
                quoted = urllib.parse.quote(f"{path}/{name}")
                (destination / name).write_bytes(self._open(f"{ARTIFACTS}/{quoted}"))
