"""Helpers of the Helm chart tests: real helm binaries, rendered manifests.

helm binaries come from BHSVC_TEST_HELM4 and BHSVC_TEST_HELM3 (paths). When
BHSVC_TEST_HELM4 is unset, `helm` on PATH is used for the v4 tests, and must be
a helm 4; when BHSVC_TEST_HELM3 is unset, the v3 tests use `helm` on PATH if it
is a helm 3, and are skipped otherwise.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
SCENARIOS = sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))

RELEASE = "binderhub"
NAMESPACE = "binder"
HELM_TIMEOUT = 60

# libyaml's loader when PyYAML has it: rendered manifests are large
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# helm major version -> environment variable naming its binary
HELM_ENV = {4: "BHSVC_TEST_HELM4", 3: "BHSVC_TEST_HELM3"}


class HelmError(Exception):
    def __init__(self, args: list[str], returncode: int, stderr: str):
        super().__init__(f"{' '.join(args)} exited with {returncode}:\n{stderr}")
        self.stderr = stderr


@dataclass(frozen=True)
class Helm:
    path: str
    major: int
    version: str

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        cmd = [self.path, *args]
        env = {**os.environ, **(env or {}), "HELM_NO_PLUGINS": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HELM_TIMEOUT, env=env)
        if proc.returncode != 0:
            raise HelmError(cmd, proc.returncode, proc.stderr)
        return proc.stdout

    def template(
        self,
        values: Sequence[Path] = (),
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        chart: Path = CHART,
    ) -> str:
        args = ["template", release, str(chart), "--namespace", namespace]
        for v in values:
            args += ["--values", str(v)]
        return self.run(*args)

    def lint(self, values: Sequence[Path] = ()) -> str:
        args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
        for v in values:
            args += ["--values", str(v)]
        return self.run(*args)


def _helm_version(path: str) -> tuple[int, str]:
    out = subprocess.run(
        [path, "version", "--template", "{{ .Version }}"],
        capture_output=True,
        text=True,
        timeout=HELM_TIMEOUT,
        check=True,
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", out)
    if not match:
        raise RuntimeError(f"{path}: unexpected helm version {out!r}")
    return int(match.group(1)), out


@functools.cache
def find_helm(major: int) -> Helm | str:
    """The helm of that major version, or a reason to skip (a str).

    Raises when a configured binary is broken: that is a setup error.
    """
    env = HELM_ENV[major]
    configured = os.environ.get(env)
    if configured:
        found_major, version = _helm_version(configured)
        if found_major != major:
            raise RuntimeError(f"{env}={configured} is helm {version}, not helm {major}")
        return Helm(configured, major, version)
    on_path = shutil.which("helm")
    if on_path:
        found_major, version = _helm_version(on_path)
        if found_major == major:
            return Helm(on_path, major, version)
    if major == 4:
        raise RuntimeError(
            f"no helm 4: set {env} to a helm v4 binary (helm on PATH: {on_path or 'none'})"
        )
    return f"{env} is unset and helm on PATH is not helm {major}"


# ---------------------------------------------------------------------------
# Rendered manifests
# ---------------------------------------------------------------------------


@dataclass
class Rendered:
    """The objects of one `helm template` run."""

    text: str
    docs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.docs = [d for d in yaml.load_all(self.text, Loader=YamlLoader) if d]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def find(self, kind: str, component: str) -> list[dict[str, Any]]:
        return [
            d
            for d in self.all(kind)
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]

    # The BinderHub Deployment, its pod spec and container
    @property
    def deployment(self) -> dict[str, Any]:
        return self.get("Deployment")

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.deployment["spec"]["template"]["spec"]

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod_spec["containers"]
        return container

    def env(self) -> dict[str, dict[str, Any]]:
        return {e["name"]: e for e in self.container.get("env", [])}

    def shared_secrets(self) -> dict[str, tuple[str, str]]:
        """The files of BinderHub's shared-secrets volume: path -> (Secret, key)."""
        (volume,) = [v for v in self.pod_spec["volumes"] if v["name"] == "shared-secrets"]
        mounts = {m["name"]: m["mountPath"] for m in self.container["volumeMounts"]}
        assert mounts["shared-secrets"] == self.env()["BINDERHUB_SECRETS_DIR"]["value"]
        return {
            item["path"]: (source["secret"]["name"], item["key"])
            for source in volume["projected"]["sources"]
            for item in source["secret"]["items"]
        }

    def chart_config(self) -> dict[str, Any]:
        """chart-config.yaml of the config Secret, as BinderHub reads it."""
        (secret,) = [
            s
            for s in self.find("Secret", "binderhub")
            if "chart-config.yaml" in s.get("stringData", {})
        ]
        return yaml.load(secret["stringData"]["chart-config.yaml"], Loader=YamlLoader)

    def config(self, cls: str) -> dict[str, Any]:
        return self.chart_config()["config"].get(cls) or {}

    # The `helm test` Job and its pod template
    @property
    def test_job(self) -> dict[str, Any]:
        (job,) = [
            d
            for d in self.all("Job")
            if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
        ]
        return job

    @property
    def test_pod(self) -> dict[str, Any]:
        return self.test_job["spec"]["template"]

    def daemonset(self) -> dict[str, Any] | None:
        found = self.all("DaemonSet")
        assert len(found) <= 1
        return found[0] if found else None


def listed_images() -> list[str]:
    """The images the chart lists in Chart.yaml (`artifacthub.io/images`)."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return [i["image"] for i in yaml.safe_load(chart["annotations"]["artifacthub.io/images"])]


def example_digest(image: str) -> str:
    """A digest of the right form, one per image (no registry is asked)."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def pod_spec_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a Pod or of a workload's pod template."""
    if doc["kind"] == "Pod":
        spec: dict[str, Any] = doc["spec"]
        return spec
    template: dict[str, Any] | None = doc.get("spec", {}).get("template", {}).get("spec")
    return template


def pod_containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The init containers and containers of a Pod or of a workload's pods."""
    spec = pod_spec_of(doc) or {}
    containers: list[dict[str, Any]] = spec.get("initContainers", []) + spec.get("containers", [])
    return containers


class _KeyRecorder(yaml.SafeLoader):
    """A loader that records the keys written twice in one mapping."""

    duplicates: list[str]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key in seen:
                self.duplicates.append(f"{key} (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep)


def duplicate_keys(text: str) -> list[str]:
    """Keys that appear twice in one mapping of a YAML stream."""
    loader = _KeyRecorder(text)
    loader.duplicates = []
    try:
        while loader.check_data():
            loader.get_data()
    finally:
        loader.dispose()
    return loader.duplicates


def load_config_file(
    directory: Path, rendered: Rendered, monkeypatch: Any, env: dict[str, str] | None = None
) -> Any:
    """The traitlets config that BinderHub gets from a render: the chart's
    binderhub_config.py run, as traitlets runs a config file, next to the other
    files of its volume (chart-config.yaml, ...), with `env` in the environment."""
    from traitlets.config import PyFileConfigLoader

    secret = rendered.find("Secret", "binderhub")[0]["stringData"]
    for name, text in secret.items():  # the files of the config Secret's volume
        (directory / name).write_text(text)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BINDERHUB_CHART_CONFIG", raising=False)
    return PyFileConfigLoader("binderhub_config.py", path=str(directory)).load_config()


def secret_data(secret: dict[str, Any], key: str) -> str:
    if key in secret.get("stringData", {}):
        return str(secret["stringData"][key])
    return base64.b64decode(secret["data"][key]).decode()


def values_files(
    values_dir: Path, scenario: str | None, extra: dict[str, Any] | None
) -> list[Path]:
    files = [SCENARIOS_DIR / f"{scenario}.yaml"] if scenario else []
    if extra:
        text = yaml.safe_dump(extra)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        path = values_dir / f"extra-{digest}.yaml"
        path.write_text(text)
        files.append(path)
    return files
