"""An API container and a Prometheus scraping it, on a private network (docker SDK).

Everything created carries the label ``mlship.smoke=<run>`` and is removed by
``close()``, which the fixture calls whatever the tests' outcome.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.containers.docker_engine import base_image, engine

API_KEY = "smoke-key"  # pragma: allowlist secret (a throwaway test key)
BAKED_MODEL = "/opt/mlship/model"
PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: mlship-api
    static_configs:
      - targets: ["{target}:8000"]
"""


def _tar(name: str, content: str) -> bytes:
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _host_port(container: Any, port: str) -> int:
    container.reload()
    return int(container.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])


@dataclass
class SmokeDeployment:
    api_image: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    created: list[Any] = field(default_factory=list)
    network: Any = None
    api: Any = None
    prometheus: Any = None

    @property
    def labels(self) -> dict[str, str]:
        return {"mlship.smoke": self.run}

    def start(self) -> SmokeDeployment:
        client = engine()
        self.network = client.networks.create(f"mlship-smoke-{self.run}", labels=self.labels)
        api_name = f"mlship-smoke-api-{self.run}"
        # Ports on 127.0.0.1 only, the host side chosen by the engine.
        self.api = client.containers.run(
            self.api_image,
            name=api_name,
            detach=True,
            network=self.network.name,
            environment={"API_KEYS": API_KEY},
            ports={"8000/tcp": ("127.0.0.1", None)},
            labels=self.labels,
        )
        self.created.append(self.api)
        self.prometheus = client.containers.create(
            base_image("PROMETHEUS_IMAGE"),
            command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp"],
            name=f"mlship-smoke-prometheus-{self.run}",
            network=self.network.name,
            ports={"9090/tcp": ("127.0.0.1", None)},
            labels=self.labels,
        )
        self.created.append(self.prometheus)
        config = PROMETHEUS_CONFIG.format(target=api_name)
        self.prometheus.put_archive("/etc/prometheus", _tar("prometheus.yml", config))
        self.prometheus.start()
        return self

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{_host_port(self.api, '8000/tcp')}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{_host_port(self.prometheus, '9090/tcp')}"

    def baked_mlmodel(self) -> dict[str, Any]:
        """The MLmodel document of the model baked into the image."""
        stream, _ = self.api.get_archive(f"{BAKED_MODEL}/MLmodel")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile("MLmodel")
            assert member is not None, "MLmodel is not a regular file in the image"
            document: dict[str, Any] = yaml.safe_load(member.read())
        return document

    def logs(self) -> str:
        return "\n".join(
            f"--- {container.name}\n{container.logs(tail=40).decode(errors='replace')}"
            for container in self.created
        )

    def close(self) -> None:
        import docker  # noqa: PLC0415

        for container in self.created:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        if self.network is not None:
            self.network.remove()

    def leftovers(self) -> list[str]:
        client = engine()
        label = f"mlship.smoke={self.run}"
        containers = client.containers.list(all=True, filters={"label": label})
        networks = client.networks.list(filters={"label": label})
        return [item.name for item in [*containers, *networks]]
