"""The z2jh chart is fetched, checked and rendered before anything changes.

A real helm repository on loopback (stand-in z2jh charts with z2jh's real
schemas, packaged with `helm package`, indexed with `helm repo index`) serves
the chart; real helm fetches it into bhsvc's cache, bhsvc checks its SHA-256
against the index's digest, renders it offline with all values, and installs
that copy into the fake cluster. Also: an unreachable repository, a copy that
changed in the cache, a chart that does not match the index, values the
schema refuses, a registry (oci://) chart.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import Project

from bhsvc.hub_chart import index_digest
from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes
from helm_repository import HelmRepository
from hub.hublib import fake_z2jh_chart
from oci_registry import Registry

HUB = {"enabled": True, "namespace": "jupyterhub"}  # fancy-profiles: z2jh 4.3.1


def deploy(*extra: str, project: Project) -> list[str]:
    return ["deploy", "--config", str(project.config), "--yes", "--timeout", "30", *extra]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bhsvc's cache of this test alone."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "bhsvc" / "charts"


@pytest.fixture
def repository(
    tmp_path: Path, helm4_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> Iterator[HelmRepository]:
    """A repository of this test alone (it may be tampered with), named to bhsvc."""
    served = HelmRepository(tmp_path / "served", helm4_path)
    served.add(fake_z2jh_chart(tmp_path / "src", "4.3.1"))
    monkeypatch.setenv("BHSVC_HUB_CHART_REPO", served.url)
    yield served
    served.close()


def cached_copies(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/jupyterhub-*.tgz"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def error_line(err: str) -> str:
    """The one error line, after the progress line of the fetch."""
    lines = [line for line in err.splitlines() if not line.startswith("fetching the z2jh chart ")]
    return one_line("\n".join(lines))


def test_deploy_installs_the_copy_it_fetched_and_checked(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    repository: HelmRepository,
    cache: Path,
) -> None:
    project.write_config({"hub": HUB})
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        cluster.port_targets[8000] = ("127.0.0.1", binderhub.port)
        result = run_cli(*deploy("-o", "json", project=project))
    assert result.code == 0, result.both
    assert repository.requests == ["/index.yaml", "/jupyterhub-4.3.1.tgz"]
    [copy] = cached_copies(cache)
    served = repository.folder / "jupyterhub-4.3.1.tgz"
    index = yaml.safe_load((repository.folder / "index.yaml").read_text())
    assert sha256(copy) == sha256(served) == index["entries"]["jupyterhub"][0]["digest"]
    record = Path(f"{copy}.sha256").read_text()
    assert record == f"{sha256(copy)}  jupyterhub-4.3.1.tgz\n"  # sha256sum -c reads it
    doc = result.json()
    assert doc["hub"]["chart_version"] == "4.3.1" and doc["hub"]["revision"] == 1
    [hub_step] = [s for s in doc["plan"] if s["name"] == "JupyterHub release jupyterhub"]
    assert hub_step["command"][4] == str(copy)  # helm installs the checked copy
    assert "--repo" not in hub_step["command"]

    # Later runs check the copy against its record and never ask the repository.
    plan = run_cli(*deploy("--dry-run", project=project))
    assert plan.code == 0, plan.both
    assert f"install or upgrade z2jh 4.3.1 from {repository.url} " in plan.out
    assert repository.requests == ["/index.yaml", "/jupyterhub-4.3.1.tgz"]


@pytest.mark.parametrize("password", ["s3cr3t", "wrong-s3cr3t"])
def test_a_mirror_login_in_the_url_reaches_helm_and_is_never_shown(
    run_cli: Any,
    project: Project,
    tmp_path: Path,
    helm4_path: Path,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
) -> None:
    served = HelmRepository(tmp_path / "served", helm4_path, login=("mirror", "s3cr3t"))
    try:
        served.add(fake_z2jh_chart(tmp_path / "src", "4.3.1"))
        host = served.url.removeprefix("http://")
        monkeypatch.setenv("BHSVC_HUB_CHART_REPO", f"http://mirror:{password}@{host}")
        project.write_config({"hub": HUB})
        plan = run_cli(*deploy("--dry-run", "-o", "json", project=project))
    finally:
        served.close()
    assert plan.code == 0, plan.both
    assert password not in plan.both
    shown = f"http://mirror:***@{host}"
    if password == "s3cr3t":  # helm logged in: the checked copy is in the cache
        assert served.requests[-2:] == ["/index.yaml", "/jupyterhub-4.3.1.tgz"]
        assert len(cached_copies(cache)) == 1
        assert f"z2jh 4.3.1 from {shown}" in json.dumps(plan.json()["plan"])
    else:
        [note] = [n for n in plan.json()["notes"] if "z2jh chart" in n]
        assert shown in note, note
        assert cached_copies(cache) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing answers there


def test_an_unreachable_repository_stops_the_run_before_the_cluster(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/charts/"
    monkeypatch.setenv("BHSVC_HUB_CHART_REPO", url)
    project.write_config({"hub": HUB})
    result = run_cli(*deploy(project=project))
    assert result.code == 1, result.both
    line = error_line(result.err)
    assert line.startswith(f"error: the z2jh chart repository {url} cannot be reached (")
    assert "connection refused" in line and "BHSVC_HUB_CHART_REPO" in line
    assert cluster.requests == []  # not even a read: it stopped before the cluster
    assert cached_copies(cache) == []

    # The dry run shows the plan, and where the real run would stop.
    plan = run_cli(*deploy("--dry-run", "-o", "json", project=project))
    assert plan.code == 0, plan.both
    [note] = [n for n in plan.json()["notes"] if "cannot be reached" in n]
    assert note.startswith("deploy would stop here (exit code 1): the z2jh chart repository")
    assert cluster.writes == []


def test_a_copy_changed_in_the_cache_is_fetched_and_checked_again(
    run_cli: Any, project: Project, repository: HelmRepository, cache: Path
) -> None:
    project.write_config({"hub": HUB})
    assert run_cli(*deploy("--dry-run", project=project)).code == 0
    [copy] = cached_copies(cache)
    good = copy.read_bytes()
    copy.write_bytes(good[:-10] + b"tampered!!")
    again = run_cli(*deploy("--dry-run", project=project))
    assert again.code == 0, again.both
    assert f"{copy} does not match the SHA-256 recorded when it was fetched" in again.err
    assert repository.requests.count("/jupyterhub-4.3.1.tgz") == 2
    assert copy.read_bytes() == good


def test_a_chart_that_does_not_match_the_index_is_refused(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    repository: HelmRepository,
    cache: Path,
    tmp_path: Path,
) -> None:
    # The repository serves another chart than the one its index describes.
    other = fake_z2jh_chart(tmp_path / "other", "4.3.1")
    (other / "templates" / "extra.yaml").write_text("# not in the indexed chart\n")
    served = repository.folder / "jupyterhub-4.3.1.tgz"
    digest = sha256(served)
    HelmRepository._helm(repository, "package", str(other), "--destination", str(tmp_path))
    served.write_bytes((tmp_path / "jupyterhub-4.3.1.tgz").read_bytes())
    project.write_config({"hub": HUB})
    result = run_cli(*deploy(project=project))
    assert result.code == 1, result.both
    line = error_line(result.err)
    assert f"the repository's index says {digest}: refusing to use it" in line
    assert f"has SHA-256 {sha256(served)}" in line
    assert cached_copies(cache) == []
    assert cluster.requests == []


@pytest.mark.parametrize(
    ("where", "values", "refused"),
    [
        ("hub.values", {"hub": {"nosuchkey": 1}}, "at '/hub': additional properties 'nosuchkey'"),
        (
            "file",
            {"proxy": {"service": {"type": "Weird"}}},
            "at '/proxy/service/type': value must be one of",
        ),
    ],
)
def test_values_the_z2jh_schema_refuses_are_bad_input(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    where: str,
    values: dict[str, Any],
    refused: str,
    cache: Path,
) -> None:
    if where == "file":
        (project.root / "mine.yaml").write_text(yaml.safe_dump(values))
        project.write_config({"hub": {**HUB, "values_files": ["mine.yaml"]}})
    else:
        project.write_config({"hub": {**HUB, "values": values}})
    result = run_cli(*deploy(project=project))
    assert result.code == 2, result.both
    line = error_line(result.err)
    assert line.startswith("error: the hub values (hub.values_files, --hub-values, hub.values, ")
    assert "the z2jh chart's schema refuses them (" in line and refused in line
    assert cluster.requests == []
    assert not project.rendered.exists()


def test_a_version_the_repository_does_not_have_is_bad_input(
    run_cli: Any, project: Project, cluster: FakeKubernetes, repository: HelmRepository
) -> None:
    image = "registry.example.org/hub-fancy:4.2.0-1"  # a fancy-profiles hub image for it
    project.write_config({"hub": {**HUB, "image": image, "chart_version": "4.2.0"}})
    result = run_cli(*deploy(project=project))
    assert result.code == 2, result.both
    assert (
        f"error: hub.chart_version: the repository {repository.url} has no chart jupyterhub 4.2.0"
        in result.err
    )
    assert cluster.requests == []


@pytest.mark.parametrize("url", ["ftp://mirror.example.org/charts/", "mirror.example.org", "-x"])
def test_a_repository_that_is_no_http_url_is_bad_input(
    run_cli: Any, project: Project, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BHSVC_HUB_CHART_REPO", url)
    project.write_config({"hub": HUB})
    result = run_cli(*deploy("--dry-run", project=project))
    assert result.code == 2, result.both
    assert one_line(result.err).startswith("error: BHSVC_HUB_CHART_REPO: '")


def test_a_chart_from_a_registry_is_fetched_into_the_cache_too(
    run_cli: Any,
    project: Project,
    trusted_registry: Registry,
    helm4_path: Path,
    tmp_path: Path,
    cache: Path,
    deploy_env: dict[str, str],
) -> None:
    import subprocess

    chart = fake_z2jh_chart(tmp_path / "src", "4.3.1")
    for args in (
        ["package", str(chart), "--destination", str(tmp_path)],
        ["push", str(tmp_path / "jupyterhub-4.3.1.tgz"), trusted_registry.oci("hub-test"),
         *trusted_registry.helm_flags()],
    ):  # fmt: skip
        subprocess.run([str(helm4_path), *args], env=deploy_env, check=True, timeout=120)
    reference = trusted_registry.oci("hub-test/jupyterhub")
    project.write_config({"hub": {**HUB, "chart": reference}})
    plan = run_cli(*deploy("--dry-run", "-o", "json", project=project))
    assert plan.code == 0, plan.both
    [copy] = cached_copies(cache)
    assert sha256(copy) == sha256(tmp_path / "jupyterhub-4.3.1.tgz")
    [hub_step] = [s for s in plan.json()["plan"] if s["name"] == "JupyterHub release jupyterhub"]
    assert hub_step["command"][4] == str(copy)
    assert f"z2jh 4.3.1 from {reference}" in hub_step["description"]


# ---- the digest in the index ---------------------------------------------------------------


def _index(**entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "entries": entries, "generated": "2026-01-01T00:00:00Z"}


def _entry(name: str, version: str, digest: str) -> dict[str, Any]:
    images = "- image: quay.io/jupyterhub/k8s-hub:x\n  name: hub\n- version: 4.4.0\n"
    return {
        "annotations": {"artifacthub.io/images": images},
        "apiVersion": "v2",
        "digest": digest,
        "name": name,
        "urls": [f"https://example.org/{name}-{version}.tgz"],
        "version": version,
    }


# binderhub's entries name the jupyterhub chart they depend on, at its version
DEPENDENT = {
    **_entry("binderhub", "0.2.0", "f" * 64),
    "dependencies": [{"name": "jupyterhub", "repository": "https://x.org", "version": "4.3.1"}],
}
INDEX = _index(
    binderhub=[DEPENDENT, _entry("binderhub", "4.4.0", "b" * 64)],
    jupyterhub=[
        _entry("jupyterhub", "4.4.0-0.dev.git.7.habc", "d" * 64),
        _entry("jupyterhub", "4.4.0", "a" * 64),
        _entry("jupyterhub", "4.3.1", "c" * 64),
    ],
)


def test_the_digest_of_the_entry_of_that_chart_and_version() -> None:
    # helm's layout: sequences not indented under their key
    text = yaml.safe_dump(INDEX, sort_keys=True)
    assert "\n  - annotations:" in text
    assert index_digest(text, "jupyterhub", "4.4.0") == "a" * 64
    assert index_digest(text, "jupyterhub", "4.3.1") == "c" * 64
    assert index_digest(text, "binderhub", "4.4.0") == "b" * 64
    assert index_digest(text, "jupyterhub", "4.2.0") is None
    quoted = text.replace("version: 4.3.1", "version: '4.3.1'")
    assert index_digest(quoted, "jupyterhub", "4.3.1") == "c" * 64
    # sequences indented under their key; JSON, parsed whole
    indented = yaml.dump(INDEX, Dumper=_IndentedDumper)
    assert "\n    - annotations:" in indented
    assert index_digest(indented, "jupyterhub", "4.4.0") == "a" * 64
    assert index_digest(json.dumps(INDEX), "jupyterhub", "4.4.0") == "a" * 64
    assert index_digest(json.dumps(INDEX), "jupyterhub", "4.0.0") is None
    assert index_digest("version: 4.4.0\n", "jupyterhub", "4.4.0") is None


def test_a_digest_that_is_no_sha256_is_none() -> None:
    for digest in ("", "sha256:" + "A" * 64, "abc"):
        index = _index(jupyterhub=[_entry("jupyterhub", "4.4.0", digest)])
        assert index_digest(yaml.safe_dump(index), "jupyterhub", "4.4.0") is None
    prefixed = _index(jupyterhub=[_entry("jupyterhub", "4.4.0", "sha256:" + "e" * 64)])
    assert index_digest(yaml.safe_dump(prefixed), "jupyterhub", "4.4.0") == "e" * 64


class _IndentedDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)
