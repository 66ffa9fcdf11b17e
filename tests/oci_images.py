"""Small images made here as OCI image layouts, and skopeo to copy them into the
real registries of tests/oci_registry.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _image(layout: Path, content: bytes, architecture: str) -> bytes:
    """A one-layer image (one small file) in the layout's blobs; returns its manifest."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(content), 0
        archive.addfile(info, io.BytesIO(content))
    layer = gzip.compress(tar.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": architecture,
        "os": "linux",
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(tar.getvalue()).hexdigest()}"]},
    }).encode()  # fmt: skip
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _blob(layout, config, "application/vnd.oci.image.config.v1+json"),
        "layers": [_blob(layout, layer, "application/vnd.oci.image.layer.v1.tar+gzip")],
    }).encode()  # fmt: skip


def _top(layout: Path, data: bytes, media_type: str, tag: str) -> None:
    descriptor = _blob(layout, data, media_type)
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def oci_layout(path: Path, tag: str, content: bytes = b"built by the bhsvc tests\n") -> bytes:
    """A one-platform image as an OCI image layout at `path:tag`; returns its manifest."""
    manifest = _image(path, content, "amd64")
    _top(path, manifest, OCI_MANIFEST, tag)
    return manifest


def oci_index_layout(path: Path, tag: str, content: bytes) -> bytes:
    """A two-platform image (amd64, arm64) at `path:tag`; returns its index."""
    platforms = []
    for architecture in ("amd64", "arm64"):
        manifest = _image(path, content + architecture.encode(), architecture)
        descriptor = _blob(path, manifest, OCI_MANIFEST)
        descriptor["platform"] = {"architecture": architecture, "os": "linux"}
        platforms.append(descriptor)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms})
    _top(path, index.encode(), OCI_INDEX, tag)
    return index.encode()


def skopeo(skopeo_path: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """skopeo with a policy that accepts any image and a home of its own (no login
    of this machine's user is used)."""
    policy = home / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    return subprocess.run(
        [skopeo_path, "--policy", str(policy), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
