"""`tools/release.py` end to end: the chart it builds is pushed to a real OCI registry
(Debian's docker-registry on loopback) and added to a static helm repository
served over HTTP, and helm shows, templates and installs (dry run) it from both."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from releaselib import CHART, chart_version, helm_homes, helm_run, release

from oci_registry import Registry

IMAGE = "quay.io/jupyterhub/k8s-binderhub:"


def rendered_kinds(manifests: str) -> set[str]:
    return {doc["kind"] for doc in yaml.safe_load_all(manifests) if doc}


def assert_installs(helm: Path, home: Path, chart: str, version: str, *flags: str) -> None:
    """helm template and install --dry-run=client of a remote chart, with no cluster."""
    manifests = helm_run(helm, home, "template", "binderhub", chart, "--version", version,
                         "--namespace", "binder", *flags)  # fmt: skip
    assert {"Deployment", "Service", "DaemonSet", "NetworkPolicy"} <= rendered_kinds(manifests)
    assert IMAGE in manifests
    out = helm_run(helm, home, "install", "binderhub", chart, "--version", version,
                   "--namespace", "binder", "--dry-run=client", *flags)  # fmt: skip
    assert "STATUS: pending-install" in out


# ---- OCI -----------------------------------------------------------------------------


def test_push_to_an_oci_registry_then_helm_installs_from_it(
    dist: Path, oci_registry: Registry, helm4_path: Path, tmp_path: Path
) -> None:
    version = chart_version()
    target = oci_registry.oci("release-test/charts")
    done = release("push", target, "--plain-http", "--dist", str(dist),
                   helm=helm4_path, home=tmp_path)  # fmt: skip
    assert done.code == 0, done.both
    assert f"pushed {target}/{CHART}:{version} (sha256:" in done.out
    chart = f"{target}/{CHART}"
    # Another helm home: nothing cached from the push.
    other = tmp_path / "other"
    shown = yaml.safe_load(helm_run(helm4_path, other, "show", "chart", chart, "--version",
                                    version, "--plain-http"))  # fmt: skip
    assert shown["name"] == CHART and shown["version"] == version
    assert_installs(helm4_path, other, chart, version, "--plain-http")
    assert f"PUT /v2/release-test/charts/{CHART}/manifests/{version}" in oci_registry.log()

    # A re-run (a release job tried again) changes nothing; other content is refused.
    again = release("push", target, "--plain-http", "--dist", str(dist),
                    helm=helm4_path, home=tmp_path)  # fmt: skip
    assert again.code == 0, again.both
    assert "already there, the same chart: nothing to do" in again.out
    changed = tmp_path / "changed-dist"
    shutil.copytree(dist, changed)
    tgz = changed / "chart" / f"{CHART}-{version}.tgz"
    tgz.write_bytes(repackaged(tgz, tmp_path))
    refused = release("push", target, "--plain-http", "--dist", str(changed),
                      helm=helm4_path, home=tmp_path)  # fmt: skip
    assert refused.code == 2
    assert "exists with other content; releases are never replaced" in refused.err


def repackaged(tgz: Path, tmp_path: Path) -> bytes:
    """The same chart with other content (a changed description)."""
    import tarfile

    work = tmp_path / "repack"
    with tarfile.open(tgz) as archive:
        archive.extractall(work, filter="data")
    chart_yaml = work / CHART / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("description: |-", "description: |-\n  X"))
    out = tmp_path / "repacked.tgz"
    with tarfile.open(out, "w:gz") as archive:
        archive.add(work / CHART, arcname=CHART)
    return out.read_bytes()


def helm_shim(tmp_path: Path, helm: Path) -> tuple[Path, Path]:
    """A helm that writes down its arguments and environment, then runs the real one."""
    record = tmp_path / "helm-calls.txt"
    shim = tmp_path / "shim" / "helm"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\n{{ echo "ARGV: $*"; env; }} >> "{record}"\nexec "{helm}" "$@"\n')
    shim.chmod(0o755)
    return shim, record


def test_push_logs_in_with_credentials_from_the_environment_only(
    dist: Path, oci_registry_auth: Registry, helm4_path: Path, tmp_path: Path
) -> None:
    registry = oci_registry_auth
    assert registry.password is not None and registry.ca_file is not None
    shim, record = helm_shim(tmp_path, helm4_path)
    target = registry.oci("auth-test/charts")
    secret_env = {
        "BHSVC_RELEASE_REGISTRY_USERNAME": str(registry.username),
        "BHSVC_RELEASE_REGISTRY_PASSWORD": registry.password,
    }
    done = release("push", target, "--ca-file", str(registry.ca_file), "--dist", str(dist),
                   helm=shim, home=tmp_path, env=secret_env)  # fmt: skip
    assert done.code == 0, done.both
    assert f"pushed {target}/{CHART}:{chart_version()}" in done.out
    calls = record.read_text()
    assert "ARGV: registry login" in calls and "--password-stdin" in calls
    # Not in any argument, environment, output or file helm keeps for this user.
    assert registry.password not in calls
    assert registry.password not in done.both
    kept = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert registry.password not in kept
    assert not (tmp_path / "helm-config" / "registry").exists()

    # The login lived in a folder of its own, removed after the push.
    assert not list(Path(tempfile.gettempdir()).glob("bhsvc-release-*"))
    # The registry did ask: an anonymous client is turned away.
    anonymous = subprocess.run(
        [str(helm4_path), "show", "chart", f"{target}/{CHART}", "--ca-file", str(registry.ca_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **helm_homes(tmp_path / "anonymous")},
        check=False,
    )
    assert anonymous.returncode != 0
    assert anonymous.stderr.rstrip().endswith("basic credential not found")


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        # helm's words, as the registry's answer reaches the maintainer.
        (
            "not-the-password",
            "helm registry login failed: Error: authenticating to "
            '"{host}": GET "https://{host}/v2/": response status code 401: unauthorized: '
            "authentication required",
        ),
        (
            None,
            'helm pull failed: Error: failed to perform "FetchReference" on source: GET '
            '"https://{host}/v2/refused/charts/binderhub-service/manifests/{version}": '
            "basic credential not found",
        ),
    ],
    ids=["wrong password", "no credentials"],
)
def test_push_refused_by_the_registry_fails_with_its_answer(
    dist: Path,
    oci_registry_auth: Registry,
    helm4_path: Path,
    tmp_path: Path,
    password: str | None,
    expected: str,
) -> None:
    registry = oci_registry_auth
    env = {"BHSVC_RELEASE_REGISTRY_USERNAME": "", "BHSVC_RELEASE_REGISTRY_PASSWORD": ""}
    if password:
        env = {"BHSVC_RELEASE_REGISTRY_USERNAME": str(registry.username),
               "BHSVC_RELEASE_REGISTRY_PASSWORD": password}  # fmt: skip
    done = release("push", registry.oci("refused/charts"), "--ca-file", str(registry.ca_file),
                   "--dist", str(dist), helm=helm4_path, home=tmp_path, env=env)  # fmt: skip
    assert done.code == 1, done.both
    assert done.err.strip() == "release: " + expected.format(
        host=registry.host, version=chart_version()
    )
    assert "Traceback" not in done.err
    if password:
        assert password not in done.both


# ---- the helm repository (a static site) ---------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on loopback, as GitHub Pages serves the site."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def older_release(site: Path, url: str, helm: Path, home: Path, tmp_path: Path) -> None:
    """The site as an earlier release left it: version 0.0.1 and its index.yaml."""
    from releaselib import ROOT

    chart = tmp_path / "old-chart" / CHART
    shutil.copytree(ROOT / "chart", chart)
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(text.replace(f"version: {chart_version()}", "version: 0.0.1"))
    helm_run(helm, home, "package", str(chart), "--destination", str(site))
    helm_run(helm, home, "repo", "index", str(site), "--url", url)


def test_index_adds_the_chart_to_a_static_helm_repository(
    dist: Path, site: tuple[Path, str], helm4_path: Path, tmp_path: Path
) -> None:
    folder, url = site
    version = chart_version()
    older_release(folder, url, helm4_path, tmp_path / "maintainer", tmp_path)
    before = yaml.safe_load((folder / "index.yaml").read_text())["entries"][CHART]

    done = release("index", "--site", str(folder), "--url", url, "--dist", str(dist),
                         helm=helm4_path, home=tmp_path)  # fmt: skip
    assert done.code == 0, done.both
    assert f"{CHART} {version} added (2 versions)" in done.out
    index = yaml.safe_load((folder / "index.yaml").read_text())
    entries = {e["version"]: e for e in index["entries"][CHART]}
    assert set(entries) == {"0.0.1", version}
    assert entries["0.0.1"] == before[0]  # the earlier release is kept as it was
    assert entries[version]["urls"] == [f"{url}{CHART}-{version}.tgz"]
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{CHART}-0.0.1.tgz", f"{CHART}-{version}.tgz", "index.yaml"]  # fmt: skip

    # A user: `helm repo add`, then the chart from the repository.
    user = tmp_path / "user"
    helm_run(helm4_path, user, "repo", "add", "bhsvc", url)
    found = yaml.safe_load(helm_run(helm4_path, user, "search", "repo", f"bhsvc/{CHART}",
                                    "--versions", "-o", "yaml"))  # fmt: skip
    assert [f["version"] for f in found] == [version, "0.0.1"]
    assert_installs(helm4_path, user, f"bhsvc/{CHART}", version)

    # The same version again is refused, and the site is left as it was.
    index_text = (folder / "index.yaml").read_text()
    again = release("index", "--site", str(folder), "--url", url, "--dist", str(dist),
                    helm=helm4_path, home=tmp_path)  # fmt: skip
    assert again.code == 2
    assert f"already has {CHART} {version}; releases are never replaced" in again.err
    assert (folder / "index.yaml").read_text() == index_text


def test_index_starts_a_new_site(
    dist: Path, site: tuple[Path, str], helm4_path: Path, tmp_path: Path
) -> None:
    folder, url = site
    done = release("index", "--site", str(folder), "--url", url, "--dist", str(dist),
                   helm=helm4_path, home=tmp_path)  # fmt: skip
    assert done.code == 0, done.both
    user = tmp_path / "user"
    helm_run(helm4_path, user, "repo", "add", "bhsvc", url)
    shown = yaml.safe_load(helm_run(helm4_path, user, "show", "chart", f"bhsvc/{CHART}"))
    assert shown["version"] == chart_version()


# ---- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["push", "oci://Registry.example.org/charts"], {}, "in lowercase"),
        (["push", "https://registry.example.org/charts"], {}, "expected oci://HOST[:PORT]/PATH"),
        (["push", "oci://registry.example.org"], {}, "expected oci://HOST[:PORT]/PATH"),
        (["push", "oci://registry.example.org/charts"],
         {"BHSVC_RELEASE_REGISTRY_USERNAME": "me"}, "set both"),
        (["push", "oci://registry.example.org/charts", "--ca-file", "/nonexistent"], {},
         "--ca-file /nonexistent: no such file"),
        (["index", "--site", "SITE", "--url", "ftp://example.org/"], {}, "--url 'ftp://"),
        (["index", "--site", "SITE", "--url", "https://example.org/", "--dist", "EMPTY"], {},
         "expected one binderhub-service-*.tgz, found 0"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], expected: str, helm4_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "EMPTY" / "chart").mkdir(parents=True)
    args = [str(tmp_path / a) if a in {"SITE", "EMPTY"} else a for a in args]
    env = {"BHSVC_RELEASE_REGISTRY_USERNAME": "", "BHSVC_RELEASE_REGISTRY_PASSWORD": "", **env}
    done = release(*args, helm=helm4_path, home=tmp_path, env=env)
    assert done.code == 2, done.both
    assert done.out == ""
    assert len(done.err.splitlines()) == 1 and expected in done.err, done.err
    assert not (tmp_path / "SITE").exists()
