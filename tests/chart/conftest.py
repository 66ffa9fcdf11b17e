"""Fixtures of the Helm chart tests: the helm binaries, cached renders,
kubernetes-validate. See chartlib for how helm binaries are found."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from chartlib import (
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    SCENARIOS_DIR,
    Helm,
    HelmError,
    Rendered,
    find_helm,
    values_files,
)


@pytest.fixture(scope="session", params=[4, 3], ids=["helm4", "helm3"])
def helm(request: pytest.FixtureRequest) -> Helm:
    try:
        found = find_helm(request.param)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        pytest.fail(str(e), pytrace=False)
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def helm4() -> Helm:
    """Just helm 4, for tests that need one helm only."""
    try:
        found = find_helm(4)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        pytest.fail(str(e), pytrace=False)
    assert isinstance(found, Helm)
    return found


def _parametrized_explicitly(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0]
        if isinstance(argnames, str):
            argnames = [a.strip() for a in argnames.split(",")]
        if name in argnames:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `scenario` runs for every scenario values file, unless
    it chooses its scenarios with a parametrize mark."""
    if "scenario" in metafunc.fixturenames and not _parametrized_explicitly(metafunc, "scenario"):
        metafunc.parametrize("scenario", SCENARIOS)


_render_cache: dict[tuple[Any, ...], Rendered | Future[str]] = {}
_lint_cache: dict[tuple[str, str], Future[str]] = {}
_warmed: set[str] = set()
_pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))


def _warm_up(helm: Helm) -> None:
    """Start every scenario's render and lint at once: each helm call is a
    process, so they run in parallel while the tests consume the results."""
    if helm.path in _warmed:
        return
    _warmed.add(helm.path)
    for scenario in SCENARIOS:
        values = [SCENARIOS_DIR / f"{scenario}.yaml"]
        key = (helm.path, scenario, RELEASE, NAMESPACE, "")
        _render_cache.setdefault(key, _pool.submit(helm.template, values))  # type: ignore[arg-type]
        _lint_cache.setdefault((helm.path, scenario), _pool.submit(helm.lint, values))


@pytest.fixture(scope="session")
def values_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("values")


@pytest.fixture(scope="session")
def render(values_dir: Path):
    """render(helm, scenario=None, *, release, namespace, extra) -> Rendered.

    Renders the chart with the scenario's values file, then `extra` (a dict of
    values), cached per arguments for the whole session.
    """

    def _render(
        helm: Helm,
        scenario: str | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        extra: dict[str, Any] | None = None,
    ) -> Rendered:
        _warm_up(helm)
        extra_json = json.dumps(extra, sort_keys=True) if extra else ""
        key = (helm.path, scenario, release, namespace, extra_json)
        cached = _render_cache.get(key)
        if isinstance(cached, Future):
            cached = _render_cache[key] = Rendered(cached.result())
        if cached is None:
            files = values_files(values_dir, scenario, extra)
            cached = _render_cache[key] = Rendered(helm.template(files, release, namespace))
        return cached

    return _render


@pytest.fixture(scope="session")
def lint():
    """lint(helm, scenario): `helm lint --strict` with the scenario's values."""

    def _lint(helm: Helm, scenario: str) -> str:
        _warm_up(helm)
        return _lint_cache[(helm.path, scenario)].result()

    return _lint


@pytest.fixture(scope="session")
def template_error(helm: Helm, values_dir: Path):
    """template_error(extra, scenario=None) -> helm's error output (it must fail)."""

    def _error(extra: dict[str, Any], scenario: str | None = None) -> str:
        with pytest.raises(HelmError) as info:
            helm.template(values_files(values_dir, scenario, extra))
        return info.value.stderr

    return _error


# ---------------------------------------------------------------------------
# kubernetes-validate, with its schema files loaded once
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def k8s_validate() -> Iterator[Any]:
    """validate(doc, version): kubernetes-validate --strict, memoized."""
    from kubernetes_validate import utils

    original = utils.schema_contents
    # validate() parses the (large) schema files on every call; they never
    # change, so parse each once. Validation itself is untouched.
    utils.schema_contents = functools.lru_cache(maxsize=None)(original)
    seen: dict[tuple[str, str], None] = {}

    def validate(doc: dict[str, Any], version: str) -> None:
        key = (json.dumps(doc, sort_keys=True), version)
        if key in seen:
            return
        utils.validate(doc, version, strict=True)
        seen[key] = None

    try:
        yield validate
    finally:
        utils.schema_contents = original
