"""`bhsvc deploy` with `binderhub.chart` set to an oci:// reference: real helm pulls the
chart from a real registry (Debian's docker-registry on loopback, HTTPS with a CA
trusted through SSL_CERT_FILE) and installs it into the fake cluster.

Without `binderhub.chart_version` helm takes the registry's newest stable version
of the chart; with it, the offline render and the install both ask for that
version (`--version`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from deploylib import RELEASE, Project

from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes
from oci_registry import Registry

CHART_DIR = Path(__file__).resolve().parents[2] / "chart"


def push_chart(
    helm: Path, registry: Registry, tmp_path: Path, version: str, env: dict[str, str]
) -> str:
    """This checkout's chart under another version, pushed; its oci:// reference."""
    chart = tmp_path / "chart-copy" / "binderhub-service"
    shutil.copytree(CHART_DIR, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(
        text.replace(f"version: {meta['version']}", f"version: {version}")
    )
    for args in (
        ["package", str(chart), "--destination", str(tmp_path / "packaged")],
        ["push", str(tmp_path / "packaged" / f"binderhub-service-{version}.tgz"),
         registry.oci("deploy-test/charts"), *registry.helm_flags()],
    ):  # fmt: skip
        subprocess.run([str(helm), *args], env=env, check=True, capture_output=True, timeout=120)
    return registry.oci("deploy-test/charts/binderhub-service")


def test_deploy_installs_the_chart_from_an_oci_registry(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
    trusted_registry: Registry,
    helm4_path: Path,
    tmp_path: Path,
) -> None:
    version = "9.9.9"  # not the bundled chart's
    reference = push_chart(helm4_path, trusted_registry, tmp_path, version, dict(deploy_env))
    project.write_config({"binderhub": {"release": RELEASE, "chart": reference}})

    result = run_cli("deploy", "--config", str(project.config), "--yes", "--timeout", "30",
                     "--output", "json")  # fmt: skip
    assert result.code == 0, result.both
    doc = result.json()
    assert doc["ok"] is True
    assert doc["chart_version"] == version  # the registry's chart, not the bundled one
    assert cluster.get("Deployment", "binder", "binderhub-binderhub-service") is not None
    log = trusted_registry.log()
    assert f"GET /v2/deploy-test/charts/binderhub-service/manifests/{version} " in log


def test_a_registry_without_tls_is_refused_with_helms_words(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    deploy_env: dict[str, str],
    oci_registry: Registry,
    helm4_path: Path,
    tmp_path: Path,
) -> None:
    """bhsvc gives helm no --plain-http: a plain-HTTP registry fails, and says why."""
    reference = push_chart(helm4_path, oci_registry, tmp_path, "9.9.8", dict(deploy_env))
    project.write_config({"binderhub": {"release": RELEASE, "chart": reference}})
    result = run_cli("deploy", "--config", str(project.config), "--yes", "--timeout", "30")
    assert result.code != 0
    assert "Traceback" not in result.both
    assert "server gave HTTP response to HTTPS client" in result.err
    assert cluster.objects("Deployment", "binder") == []


def test_chart_version_picks_the_version_for_the_render_and_the_install(
    run_cli: Any,
    project: Project,
    binderhub: FakeBinderHub,  # answers the smoke check
    deploy_env: dict[str, str],
    trusted_registry: Registry,
    helm4_path: Path,
    tmp_path: Path,
) -> None:
    env = dict(deploy_env)
    reference = push_chart(helm4_path, trusted_registry, tmp_path / "old", "9.8.1", env)
    push_chart(helm4_path, trusted_registry, tmp_path / "new", "9.8.2", env)  # the newest
    binderhub_settings = {"release": RELEASE, "chart": reference, "chart_version": "9.8.1"}
    project.write_config({"binderhub": binderhub_settings})

    plan = run_cli("deploy", "--config", str(project.config), "--dry-run", "--output", "json")
    assert plan.code == 0, plan.both
    [command] = [s["command"] for s in plan.json()["plan"] if s["action"] == "helm"]
    assert command[command.index("--version") + 1] == "9.8.1"

    args = ["deploy", "--config", str(project.config), "--yes", "--timeout", "30", "-o", "json"]
    result = run_cli(*args)
    assert result.code == 0, result.both
    assert result.json()["chart_version"] == "9.8.1"  # not the newest
    log = trusted_registry.log()
    manifests = "GET /v2/deploy-test/charts/binderhub-service/manifests/"
    # the dry run's render, the real run's render and its install: each asked for 9.8.1
    assert log.count(manifests + "9.8.1 ") >= 3
    assert manifests + "9.8.2 " not in log

    # The version is known before helm runs, so a re-run with nothing changed is a no-op.
    again = run_cli(*args)
    assert again.code == 0, again.both
    assert again.json()["skipped"] == [f"BinderHub release {RELEASE}"]
    assert again.json()["revision"] == 1
