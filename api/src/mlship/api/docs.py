"""OpenAPI docs that work offline: Swagger UI's assets are served by the service itself.

The assets come from the ``swagger-ui-bundle-v2`` distribution. Request
examples are built from the model being served (its signature and smoke
sample), so the docs show a body that predicts as-is.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from mlship.api.manager import ModelManager
from mlship.api.routes import request_schemas

ASSETS = "/static/swagger-ui"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
SECURITY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "HTTPBearer": {"type": "http", "scheme": "bearer"},
}


def _examples(manager: ModelManager) -> dict[str, dict[str, Any]]:
    model = manager.current
    if model is None or model.files.smoke_inputs is None:
        return {}
    rows = model.files.smoke_inputs[:3].tolist()
    features = model.features
    named = [dict(zip(features, row, strict=True)) for row in rows]
    return {
        "/predict": {
            "values": {"summary": "values in signature order", "value": {"features": rows[0]}},
            "named": {"summary": "values by feature name", "value": named[0]},
        },
        "/predict/batch": {
            "rows": {"summary": "rows as arrays", "value": {"instances": rows}},
            "named": {"summary": "rows as objects", "value": {"instances": named}},
        },
        "/v2/models/{name}/infer": {
            "tensor": {
                "summary": "one [N, features] tensor",
                "value": {
                    "inputs": [
                        {
                            "name": "input-0",
                            "shape": [len(rows), len(features)],
                            "datatype": "FP64",
                            "data": rows,
                        }
                    ]
                },
            }
        },
    }


def _served_names(schema: dict[str, Any], name: str, version: str) -> None:
    """V2 path parameters name what is served (others are a 404): clients and fuzzers see it."""
    served = {"name": name, "version": version}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in served:
                    value = served[parameter["name"]]
                    parameter["schema"] = {"type": "string", "enum": [value]}
                    parameter["example"] = value


def install_docs(app: FastAPI, manager: ModelManager) -> None:
    assets = Path(swagger_ui_bundle.swagger_ui_path)
    app.mount(ASSETS, StaticFiles(directory=assets), name="swagger-ui")
    base: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not base:
            base.update(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
            base.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        schema = copy.deepcopy(base)
        for path, examples in _examples(manager).items():
            operation = schema["paths"].get(path, {}).get("post")
            if operation is None:
                continue
            body = operation.setdefault("requestBody", {"content": {"application/json": {}}})
            body["content"].setdefault("application/json", {})["examples"] = examples
        if manager.current is not None:  # the served model's exact bodies
            exact = request_schemas(app.state.service.settings, manager.current.features)
            for path, body_schema in exact.items():
                content = schema["paths"][path]["post"]["requestBody"]["content"]
                content["application/json"]["schema"] = body_schema
            _served_names(schema, manager.current.ref.name, manager.current.ref.version)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{app.title} - docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )
    page_policy = docs_policy(bytes(page.body).decode())

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return HTMLResponse(page.body, headers={"Content-Security-Policy": page_policy})


def docs_policy(html: str) -> str:
    """A Content-Security-Policy for the docs page: own assets, its inline script by hash.

    Swagger UI sets style attributes at run time, hence 'unsafe-inline' for styles only,
    and draws icons from data: URIs.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )
