"""One version: chart/Chart.yaml's `version` is the Python package's (hatch reads it),
the chart's bundled in the wheel and the packaged chart's; `tools/release.py check`
refuses a disagreement and `bump` changes them together."""

from __future__ import annotations

import email.parser
import hashlib
import importlib.metadata
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.version import Version
from releaselib import CHART, ROOT, chart_version, release


def wheel_of(dist: Path) -> Path:
    [wheel] = (dist / "python").glob("*.whl")
    return wheel


def metadata_version(text: str) -> str:
    version: str = email.parser.Parser().parsestr(text)["Version"]
    return version


def test_the_package_the_wheel_and_the_chart_have_one_version(dist: Path) -> None:
    version = chart_version()
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        [meta] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        assert Version(metadata_version(wheel.read(meta).decode())) == Version(version)
        # The wheel bundles this very chart.
        bundled = wheel.read("bhsvc/_chart/Chart.yaml").decode()
        assert bundled == (ROOT / "chart" / "Chart.yaml").read_text()
    [sdist] = (dist / "python").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        pkg_info = archive.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/PKG-INFO")
        assert pkg_info is not None
        assert Version(metadata_version(pkg_info.read().decode())) == Version(version)
    tgz = dist / "chart" / f"{CHART}-{version}.tgz"
    with tarfile.open(tgz) as archive:
        member = archive.extractfile(f"{CHART}/Chart.yaml")
        assert member is not None
        packaged = yaml.safe_load(member.read())
    assert packaged["version"] == version
    # appVersion stays BinderHub's: the image the chart deploys by default.
    values = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())
    assert packaged["appVersion"] == values["image"]["tag"]
    # What pip installed here, and what bhsvc says.
    assert Version(importlib.metadata.version("bhsvc")) == Version(version)
    shown = subprocess.run(
        [sys.executable, "-m", "bhsvc", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert shown.split() == ["bhsvc", version]
    # The sums published beside the files are theirs.
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest


def test_pyproject_holds_no_version_of_its_own() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "chart/Chart.yaml"


# ---- check ---------------------------------------------------------------------------


def test_check_names_the_version(checkout: Path, helm4_path: Path, tmp_path: Path) -> None:
    done = release("check", "--expect", f"v{chart_version()}", helm=helm4_path,
                   home=tmp_path, root=checkout)  # fmt: skip
    assert done.code == 0, done.both
    assert done.out.strip() == chart_version()


def _set_init_version(root: Path) -> str:
    init = root / "src" / "bhsvc" / "__init__.py"
    text = init.read_text()
    if "__version__ = " not in text:
        pytest.skip("bhsvc reads its version from the package metadata")
    init.write_text(text.replace(f'__version__ = "{chart_version()}"', '__version__ = "9.9.9"'))
    return "src/bhsvc/__init__.py: __version__ is 9.9.9"


def _drop_changelog_section(root: Path) -> str:
    changelog = root / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(f"## [{chart_version()}]", "## [0.0.0]"))
    return f"CHANGELOG.md: no section `## [{chart_version()}]`"


def _not_semver(root: Path) -> str:
    chart = root / "chart" / "Chart.yaml"
    chart.write_text(chart.read_text().replace(f"version: {chart_version()}", "version: 1.0"))
    return "'1.0' is not a release version"


def _stale_docs(root: Path) -> str:
    page = root / "docs" / "how-to" / "helm-only.md"
    page.write_text(
        page.read_text().replace(f"CHART_VERSION={chart_version()}", "CHART_VERSION=0.0.9")
    )
    return f"docs/how-to/helm-only.md: CHART_VERSION=0.0.9, the version is {chart_version()}"


@pytest.mark.parametrize(
    "breaks", [_set_init_version, _drop_changelog_section, _not_semver, _stale_docs]
)
def test_check_refuses_versions_that_disagree(
    breaks: object, checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    expected = breaks(checkout)  # type: ignore[operator]
    done = release("check", helm=helm4_path, home=tmp_path, root=checkout)
    assert done.code == 2
    assert done.out == ""
    assert len(done.err.splitlines()) == 1 and "Traceback" not in done.err
    assert expected in done.err
    # build checks first: nothing is built.
    dist = tmp_path / "dist"
    done = release("build", "--dist", str(dist), "--no-isolation", helm=helm4_path,
                   home=tmp_path, root=checkout)  # fmt: skip
    assert done.code == 2 and expected in done.err
    assert not dist.exists()


def test_check_refuses_a_tag_of_another_version(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    done = release("check", "--expect", "v9.9.9", helm=helm4_path, home=tmp_path, root=checkout)
    assert done.code == 2
    assert done.err.strip().endswith(f"version is {chart_version()}, the tag says v9.9.9")


# ---- bump ----------------------------------------------------------------------------


def test_bump_changes_every_place_and_releases_the_changelog(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    old = chart_version()
    chart_before = (checkout / "chart" / "Chart.yaml").read_text()
    changelog_before = (checkout / "CHANGELOG.md").read_text()
    unreleased = changelog_before.split("## [Unreleased]\n", 1)[1].split(f"## [{old}]")[0]

    def bump(version: str) -> tuple[int, str]:
        done = release("bump", version, "--date", "2026-12-01", helm=helm4_path,
                       home=tmp_path, root=checkout)  # fmt: skip
        return done.code, done.both

    code, out = bump("0.2.0-rc.1")
    assert code == 0, out
    assert f"{old} -> 0.2.0-rc.1" in out
    chart_after = (checkout / "chart" / "Chart.yaml").read_text()
    changed = [(a, b) for a, b in zip(chart_before.splitlines(), chart_after.splitlines(),
                                      strict=True) if a != b]  # fmt: skip
    assert changed == [(f"version: {old}", "version: 0.2.0-rc.1")]
    init = (checkout / "src" / "bhsvc" / "__init__.py").read_text()
    if "__version__ = " in init:
        assert '__version__ = "0.2.0rc1"' in init  # the same version, as pip writes it
    # The install pages show the new version.
    for page in ("docs/how-to/helm-only.md", "docs/how-to/air-gapped.md"):
        text = (checkout / page).read_text()
        assert "CHART_VERSION=0.2.0-rc.1\n" in text and f"CHART_VERSION={old}" not in text
    changelog = (checkout / "CHANGELOG.md").read_text()
    # What was unreleased is now the release's; a new empty Unreleased section opens.
    assert f"## [Unreleased]\n\n## [0.2.0-rc.1] - 2026-12-01\n{unreleased}## [{old}]" in changelog
    assert release("check", helm=helm4_path, home=tmp_path, root=checkout).out.strip() == (
        "0.2.0-rc.1"
    )

    refusals = [
        ("0.2.0-rc.1", "is not after"),
        ("0.1.9", "is not after"),
        ("0.2", "not a release version"),
        ("v0.3.0", "not a release version"),
    ]
    for refused, why in refusals:
        code, out = bump(refused)
        assert code == 2 and why in out, (refused, out)
    assert bump("0.2.0")[0] == 0
    assert "version: 0.2.0\n" in (checkout / "chart" / "Chart.yaml").read_text()


def test_a_pre_release_is_one_version_for_pip_and_helm(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    """SemVer 0.2.0-rc.1 for helm is PEP 440 0.2.0rc1 for pip: hatch and helm agree."""
    assert release("bump", "0.2.0-rc.1", helm=helm4_path, home=tmp_path, root=checkout).code == 0
    dist = tmp_path / "dist"
    done = release("build", "--dist", str(dist), "--no-isolation", helm=helm4_path,
                   home=tmp_path, root=checkout)  # fmt: skip
    assert done.code == 0, done.both
    names = sorted(p.name for p in dist.rglob("*") if p.is_file())
    assert names == [
        "SHA256SUMS",
        "bhsvc-0.2.0rc1-py3-none-any.whl",
        "bhsvc-0.2.0rc1.tar.gz",
        f"{CHART}-0.2.0-rc.1.tgz",
    ]
    with zipfile.ZipFile(dist / "python" / "bhsvc-0.2.0rc1-py3-none-any.whl") as wheel:
        [meta] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        assert Version(metadata_version(wheel.read(meta).decode())) == Version("0.2.0rc1")
        bundled = yaml.safe_load(wheel.read("bhsvc/_chart/Chart.yaml"))
        assert bundled["version"] == "0.2.0-rc.1"
