"""The helm adapter against the real helm binaries and a local download server."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhsvc import helm
from bhsvc.errors import OperationError, UsageError


def fake_helm_script(tmp_path: Path, version_output: str) -> Path:
    """A stand-in executable for the version gate only: real helms are all >= 3.14."""
    script = tmp_path / "helm"
    script.write_text(f"#!/bin/sh\necho '{version_output}'\n")
    script.chmod(0o755)
    return script


def test_probe_real_helm4(helm4_path: Path) -> None:
    found = helm.probe(helm4_path)
    assert found.major == 4
    assert found.version >= (4, 1, 0)


def test_probe_real_helm3(helm3_path: Path) -> None:
    assert helm.probe(helm3_path).version >= (3, 14, 0)


def test_old_helm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"helm 3\.13\.2 .* is too old: bhsvc needs helm 3\.14\.0"):
        helm.probe(fake_helm_script(tmp_path, "v3.13.2"))


def test_not_helm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not look like helm"):
        helm.probe(fake_helm_script(tmp_path, "hello"))
    with pytest.raises(UsageError, match="helm not found"):
        helm.probe(tmp_path / "missing")


def test_find_order_explicit_env_path(helm4_path: Path, helm3_path: Path) -> None:
    env = {"PATH": str(helm4_path.parent), "HOME": "/nonexistent"}
    assert helm.find_helm(None, env).path == helm4_path
    assert helm.find_helm(None, {**env, helm.HELM_ENV: str(helm3_path)}).path == helm3_path
    assert helm.find_helm(str(helm3_path), env).major == 3


def test_cached_download_is_used_when_not_on_path(tmp_path: Path, helm4_path: Path) -> None:
    env = {"PATH": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path)}
    cached = helm.cache_dir(env) / "helm"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(helm4_path.read_bytes())
    cached.chmod(0o755)
    assert helm.find_helm(None, env).path == cached


# ---- download --------------------------------------------------------------


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """Serve tmp_path/www over HTTP on loopback; yields (base url, folder, requests)."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            requests.append(self.path)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, requests
    server.shutdown()
    server.server_close()


def official_style_tarball(binary: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("linux-amd64/helm")
        info.size = len(binary)
        info.mode = 0o755
        archive.addfile(info, io.BytesIO(binary))
    return buffer.getvalue()


def test_download_verifies_and_installs(
    file_server: tuple[str, Path, list[str]], tmp_path: Path, helm4_path: Path
) -> None:
    base_url, root, _ = file_server
    name = "helm.tar.gz"
    archive = official_style_tarball(helm4_path.read_bytes())
    (root / name).write_bytes(archive)
    sha = hashlib.sha256(archive).hexdigest()
    env = {
        "PATH": str(tmp_path / "empty"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        helm.DOWNLOAD_URL_ENV: f"{base_url}/{name}",
        helm.DOWNLOAD_SHA_ENV: sha,
    }
    found = helm.find_helm(None, env)
    assert found.path == helm.cache_dir(env) / "helm"
    assert found.major == 4
    assert found.path.stat().st_mode & 0o777 == 0o755


def test_download_with_wrong_checksum_installs_nothing(
    file_server: tuple[str, Path, list[str]], tmp_path: Path, helm4_path: Path
) -> None:
    base_url, root, _ = file_server
    (root / "helm.tar.gz").write_bytes(official_style_tarball(helm4_path.read_bytes()))
    env = {
        "PATH": str(tmp_path / "empty"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        helm.DOWNLOAD_URL_ENV: f"{base_url}/helm.tar.gz",
        helm.DOWNLOAD_SHA_ENV: "0" * 64,
    }
    with pytest.raises(OperationError, match="refusing to use it"):
        helm.find_helm(None, env)
    assert not (helm.cache_dir(env) / "helm").exists()


def test_download_failure_names_the_way_out(
    file_server: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    base_url, _, requests = file_server
    env = {
        "PATH": str(tmp_path / "empty"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        helm.DOWNLOAD_URL_ENV: f"{base_url}/missing.tar.gz",
        helm.DOWNLOAD_SHA_ENV: "0" * 64,
    }
    with pytest.raises(OperationError, match=r"install helm >= 3\.14 or pass --helm PATH"):
        helm.find_helm(None, env)
    assert requests == ["/missing.tar.gz"]


def test_download_override_needs_a_checksum() -> None:
    with pytest.raises(UsageError, match="BHSVC_HELM_DOWNLOAD_SHA256 must hold"):
        helm.download_sources({helm.DOWNLOAD_URL_ENV: "http://127.0.0.1:1/helm.tar.gz"})


def test_default_sources_are_pinned() -> None:
    sources = helm.download_sources({})
    assert sources, "no download source for this platform"
    assert all(len(source.sha256) == 64 for source in sources)
    assert all(source.url.startswith("https://get.helm.sh/") for source in sources)
    assert all(helm.PINNED_VERSION in source.url for source in sources)


# ---- running -----------------------------------------------------------------


def test_run_failure_carries_helms_message(helm4_path: Path) -> None:
    with pytest.raises(OperationError, match=r"helm show failed: \S"):
        helm.run(helm.probe(helm4_path), ["show", "chart", "/nonexistent/chart"])


def test_run_times_out(tmp_path: Path) -> None:
    script = tmp_path / "helm"
    script.write_text("#!/bin/sh\nsleep 5\n")
    script.chmod(0o755)
    slow = helm.Helm(script, (4, 1, 4))
    with pytest.raises(OperationError, match="did not finish within 0s"):
        helm.run(slow, ["template"], timeout=0.2)


def test_run_json_parses(helm4_path: Path, tmp_path: Path) -> None:
    # The memory driver lets `helm list` answer without a cluster.
    (tmp_path / "releases").write_text("")
    env = {
        "HELM_DRIVER": "memory",
        "HELM_MEMORY_DRIVER_DATA": str(tmp_path / "releases"),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "HOME": str(tmp_path),
    }
    assert helm.run_json(helm.probe(helm4_path), ["list"], timeout=10, env=env) == []


@pytest.mark.parametrize(("major", "flag"), [(4, "--rollback-on-failure"), (3, "--atomic")])
def test_upgrade_install_rolls_back_per_major(major: int, flag: str) -> None:
    args = helm.upgrade_install_args(
        helm.Helm(Path("helm"), (major, 19, 0)), "bh", "./chart", "binder", [Path("v.yaml")], 300
    )
    assert args[:3] == ["upgrade", "--install", "bh"]
    assert args[args.index("--values") : args.index("--values") + 2] == ["--values", "v.yaml"]
    assert "--wait" in args and "300s" in args and flag in args


def test_no_child_process_gets_bhsvcs_own_secrets(tmp_path: Path) -> None:
    """The probe and the render both run helm; neither sees the secret variables."""
    seen = tmp_path / "seen-env"
    script = tmp_path / "helm"
    script.write_text(f"#!/bin/sh\nenv >> {seen}\necho v4.1.4\n")
    script.chmod(0o755)
    config = tmp_path / "bhsvc.yaml"
    config.write_text(
        "kube: {namespace: binder}\nregistry: {provider: dockerhub, username: someone}\n"
    )
    env = {
        **os.environ,
        "BHSVC_HELM": str(script),
        "BHSVC_REGISTRY_PASSWORD": "registry-secret",
        "BHSVC_TOKEN": "hub-token",
        "KUBECONFIG": "/somewhere/kubeconfig",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bhsvc", "render", "-c", str(config), "-d", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    dumped = seen.read_text()
    assert dumped.count("KUBECONFIG=/somewhere/kubeconfig") == 2, "the rest is kept, twice"
    assert "registry-secret" not in dumped and "hub-token" not in dumped
