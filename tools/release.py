#!/usr/bin/env python3
"""Release bhsvc: one version for the package and the chart, built, indexed, pushed.

The version lives in one place, `version` in chart/Chart.yaml (SemVer). hatch
reads it for the Python package (pyproject.toml), and the wheel bundles that
same chart. `appVersion` stays BinderHub's version. Steps:

    python tools/release.py check [--expect VERSION] [--pinned]
    python tools/release.py bump VERSION
    python tools/release.py digests [--from HOST[:PORT]] [--plain-http]
    python tools/release.py build [--dist DIR] [--no-isolation]
    python tools/release.py index --site DIR --url URL [--dist DIR]
    python tools/release.py push oci://HOST/PATH [--plain-http] [--ca-file FILE]

`check`: the versions agree, CHANGELOG.md has a section for this one and the
docs show it (`CHART_VERSION=...`), and values.yaml records digests only of
images the chart lists; with `--pinned`, a digest of each of them.
`bump`: sets the version everywhere and turns CHANGELOG.md's Unreleased
section into it.
`digests`: looks up the digest of each image Chart.yaml lists (skopeo
inspect, from its registry or from a mirror that keeps digests) and records
them in values.yaml's `imageDigests`, which pins the chart's pods to them.
`build`: the wheel and sdist (python -m build) into DIR/python, the chart
(helm package) into DIR/chart, SHA-256 sums into DIR/SHA256SUMS.
`index`: adds the packaged chart to the helm repository in the static site DIR
(its index.yaml merged with `helm repo index --merge`); refuses a version the
site already has.
`push`: pushes the packaged chart to an OCI registry. Credentials come from the
environment only, BHSVC_RELEASE_REGISTRY_USERNAME and
BHSVC_RELEASE_REGISTRY_PASSWORD (the password reaches helm on its standard
input, never in an argument); without them helm uses its own registry login.

Exit codes: 0 done, 1 a step failed, 2 bad input. `python3 -m nox -s release --
STEP ...` runs this with the pinned helm.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import image_digests

ROOT = Path(__file__).resolve().parent.parent
CHART_NAME = "binderhub-service"
USERNAME_ENV = "BHSVC_RELEASE_REGISTRY_USERNAME"
PASSWORD_ENV = "BHSVC_RELEASE_REGISTRY_PASSWORD"
BUILD_TIMEOUT = 600.0
HELM_TIMEOUT = 300.0
SKOPEO_TIMEOUT = 120.0

# Release versions: X.Y.Z, or X.Y.Z-alpha.N / -beta.N / -rc.N (SemVer for helm,
# the same version to PEP 440 for pip: 1.2.0-rc.1 is 1.2.0rc1).
SEMVER = re.compile(
    r"(?P<release>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))"
    r"(-(?P<pre>alpha|beta|rc)\.(?P<n>0|[1-9]\d*))?"
)
PEP440_PRE = {"alpha": "a", "beta": "b", "rc": "rc"}
# The `version:` line of Chart.yaml; pyproject.toml's [tool.hatch.version] reads the same.
CHART_VERSION_LINE = re.compile(r"(?m)^version: *[\"']?(?P<version>[^\"'\s#]+)[\"']?[ \t]*$")
INIT_VERSION = re.compile(r"(?m)^__version__ = \"(?P<version>[^\"]*)\"$")
CHANGELOG_UNRELEASED = re.compile(r"(?m)^## \[Unreleased\][ \t]*$")
# The version the install docs show (`CHART_VERSION=X.Y.Z` in a console block).
DOCS_VERSION = re.compile(r"\bCHART_VERSION=(?P<version>[^\s\"']+)")


class BadInput(Exception):
    """Exit 2: one line naming the file or argument and what is wrong."""


class StepFailed(Exception):
    """Exit 1: a tool this script ran failed."""


# ---- versions (pure) ---------------------------------------------------------------


def release_parts(version: str) -> re.Match[str]:
    match = SEMVER.fullmatch(version)
    if match is None:
        raise BadInput(
            f"{version!r} is not a release version: X.Y.Z or X.Y.Z-alpha.N, -beta.N, -rc.N"
        )
    return match


def python_version(chart_version: str) -> str:
    """The PEP 440 form of a release version: 1.2.0-rc.1 -> 1.2.0rc1."""
    match = release_parts(chart_version)
    if match["pre"] is None:
        return match["release"]
    return f"{match['release']}{PEP440_PRE[match['pre']]}{match['n']}"


def same_version(chart_version: str, other: str) -> bool:
    """Whether a package's version (either spelling) is the chart's."""
    return other in (chart_version, python_version(chart_version))


def order_key(version: str) -> tuple[int, ...]:
    """Sort key of a release version; a pre-release comes before its release."""
    match = release_parts(version)
    numbers = tuple(int(part) for part in match["release"].split("."))
    if match["pre"] is None:
        return (*numbers, 1, 0, 0)
    return (*numbers, 0, list(PEP440_PRE).index(match["pre"]), int(match["n"]))


def chart_version(text: str, source: str) -> str:
    match = CHART_VERSION_LINE.search(text)
    if match is None:
        raise BadInput(f"{source}: no `version:` line")
    return match["version"]


def changelog_has(text: str, version: str) -> bool:
    return re.search(rf"(?m)^## \[{re.escape(version)}\]", text) is not None


@dataclass(frozen=True)
class Sources:
    """The files that hold the version, under one root (a checkout)."""

    root: Path

    @property
    def chart_yaml(self) -> Path:
        return self.root / "chart" / "Chart.yaml"

    @property
    def init_py(self) -> Path:
        return self.root / "src" / "bhsvc" / "__init__.py"

    @property
    def changelog(self) -> Path:
        return self.root / "CHANGELOG.md"

    @property
    def values_yaml(self) -> Path:
        return self.root / "chart" / "values.yaml"

    def docs(self) -> list[Path]:
        """Pages that show the version to install."""
        pages = [*sorted((self.root / "docs").rglob("*.md")), self.root / "chart" / "README.md"]
        return [
            p
            for p in pages
            if "_build" not in p.parts and p.is_file() and DOCS_VERSION.search(read_text(p))
        ]


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise BadInput(f"{path}: cannot read it ({err.strerror})") from None


def check(sources: Sources, expect: str | None = None, pinned: bool = False) -> str:
    """The release version, once every place agrees; else BadInput naming the file."""
    version = chart_version(read_text(sources.chart_yaml), str(sources.chart_yaml))
    release_parts(version)
    if expect is not None and expect.removeprefix("v") != version:
        raise BadInput(f"{sources.chart_yaml}: version is {version}, the tag says {expect}")
    init = INIT_VERSION.search(read_text(sources.init_py))
    # bhsvc may read its version from the package metadata; a literal must agree.
    if init is not None and not same_version(version, init["version"]):
        raise BadInput(
            f"{sources.init_py}: __version__ is {init['version']}, "
            f"{sources.chart_yaml} says {version}"
        )
    if not changelog_has(read_text(sources.changelog), version):
        raise BadInput(f"{sources.changelog}: no section `## [{version}]`")
    for page in sources.docs():
        shown = {m["version"] for m in DOCS_VERSION.finditer(read_text(page))} - {version}
        if shown:
            raise BadInput(f"{page}: CHART_VERSION={min(shown)}, the version is {version}")
    check_digests(sources, pinned)
    return version


def check_digests(sources: Sources, pinned: bool) -> None:
    """Recorded digests only of the images Chart.yaml lists; with `pinned`, of each."""
    try:
        images = image_digests.listed_images(read_text(sources.chart_yaml), str(sources.chart_yaml))
        recorded = image_digests.recorded_digests(
            read_text(sources.values_yaml), str(sources.values_yaml)
        )
    except ValueError as err:
        raise BadInput(str(err)) from None
    extra = image_digests.stale(images, recorded)
    if extra:
        raise BadInput(
            f"{sources.values_yaml}: imageDigests has {extra[0]}, an image "
            f"{sources.chart_yaml.name} does not list (run `digests`, or remove it)"
        )
    missing = image_digests.unrecorded(images, recorded)
    if pinned and missing:
        raise BadInput(
            f"{sources.values_yaml}: imageDigests has no digest of {missing[0]} (run `digests`)"
        )


def bump(sources: Sources, new: str, today: datetime.date) -> str:
    """Set the version in Chart.yaml (and a __version__ literal), open its changelog."""
    chart = read_text(sources.chart_yaml)
    old = chart_version(chart, str(sources.chart_yaml))
    if order_key(new) <= order_key(old):
        raise BadInput(f"{new} is not after the current version {old}")
    changelog = read_text(sources.changelog)
    if CHANGELOG_UNRELEASED.search(changelog) is None:
        raise BadInput(f"{sources.changelog}: no `## [Unreleased]` section to release")
    init = read_text(sources.init_py)
    sources.chart_yaml.write_text(
        CHART_VERSION_LINE.sub(f"version: {new}", chart, count=1), encoding="utf-8"
    )
    if INIT_VERSION.search(init):
        sources.init_py.write_text(
            INIT_VERSION.sub(f'__version__ = "{python_version(new)}"', init, count=1),
            encoding="utf-8",
        )
    for page in sources.docs():
        text = read_text(page)
        page.write_text(
            text.replace(f"CHART_VERSION={old}", f"CHART_VERSION={new}"), encoding="utf-8"
        )
    heading = f"## [Unreleased]\n\n## [{new}] - {today.isoformat()}"
    sources.changelog.write_text(
        CHANGELOG_UNRELEASED.sub(heading, changelog, count=1), encoding="utf-8"
    )
    return old


# ---- built artifacts (pure readers) ------------------------------------------------


def wheel_versions(wheel: Path) -> tuple[str, str]:
    """(the wheel's metadata Version, the version of the chart it bundles)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = archive.read(metadata).decode()
        chart = archive.read("bhsvc/_chart/Chart.yaml").decode()
    return header(meta, "Version", str(wheel)), chart_version(chart, f"{wheel}!Chart.yaml")


def sdist_version(sdist: Path) -> str:
    with tarfile.open(sdist, "r:gz") as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/PKG-INFO"))
        data = archive.extractfile(member)
        assert data is not None
        return header(data.read().decode(), "Version", str(sdist))


def packaged_chart_version(tgz: Path) -> str:
    with tarfile.open(tgz, "r:gz") as archive:
        data = archive.extractfile(f"{CHART_NAME}/Chart.yaml")
        assert data is not None
        return chart_version(data.read().decode(), f"{tgz}!Chart.yaml")


def header(text: str, name: str, source: str) -> str:
    match = re.search(rf"(?m)^{name}: *(\S+)", text)
    if match is None:
        raise StepFailed(f"{source}: no {name} in its metadata")
    return match[1]


# ---- running tools -----------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of the tools this runs: without the registry password."""
    return {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}


def spawn(
    args: Sequence[str], timeout: float, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool (the command shown first, its environment without the password)."""
    print("$", " ".join(args), flush=True)
    try:
        return subprocess.run(
            list(args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{args[0]} did not finish within {timeout:.0f}s") from None
    except OSError as err:
        raise StepFailed(f"cannot run {args[0]}: {err.strerror}") from None


def failure(args: Sequence[str], proc: subprocess.CompletedProcess[str]) -> StepFailed:
    # The tool's words, some of them a server's: no control characters reach the terminal.
    detail = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", (proc.stderr or proc.stdout).strip())
    # helm push, helm registry login, python -m build: what failed, without its arguments.
    verb = " ".join(args[1:3]) if args[1] in {"registry", "repo", "-m"} else args[1]
    return StepFailed(f"{Path(args[0]).name} {verb} failed: {detail}")


def run(args: Sequence[str], timeout: float, stdin: str | None = None) -> str:
    """Run a tool; its output, or StepFailed with its error."""
    proc = spawn(args, timeout, stdin)
    if proc.returncode != 0:
        raise failure(args, proc)
    return proc.stdout + proc.stderr


def find_helm(explicit: str | None) -> str:
    helm = explicit or os.environ.get("HELM") or shutil.which("helm")
    if not helm:
        raise BadInput("no helm: put it on PATH, set HELM or pass --helm (nox -s release does)")
    return helm


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_skopeo() -> str:
    skopeo = os.environ.get("SKOPEO") or shutil.which("skopeo")
    if not skopeo:
        raise BadInput("no skopeo: install it (package skopeo) or set SKOPEO")
    return skopeo


def only_file(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise BadInput(f"{folder}: expected one {pattern}, found {len(found)} (run `build`)")
    return found[0]


# ---- steps -------------------------------------------------------------------------


def build(
    sources: Sources, dist: Path, helm: str, isolation: bool, expect: str | None = None
) -> str:
    """Wheel, sdist and chart package of the checked version, into dist/python and
    dist/chart (replaced whole, so nothing of an older build is published)."""
    version = check(sources, expect)
    dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dist, prefix=".build-") as tmp:
        staged = Path(tmp)
        python_dir, chart_dir = staged / "python", staged / "chart"
        build_args = [sys.executable, "-m", "build", "--outdir", str(python_dir)]
        if not isolation:
            build_args.append("--no-isolation")
        run([*build_args, str(sources.root)], BUILD_TIMEOUT)
        wheel = only_file(python_dir, "*.whl")
        sdist = only_file(python_dir, "*.tar.gz")
        run([helm, "package", str(sources.root / "chart"), "--destination", str(chart_dir)],
            HELM_TIMEOUT)  # fmt: skip
        tgz = only_file(chart_dir, f"{CHART_NAME}-*.tgz")
        package, bundled = wheel_versions(wheel)
        sdist_package, chart = sdist_version(sdist), packaged_chart_version(tgz)
        found = [
            (f"{wheel.name} metadata", package, same_version(version, package)),
            (f"{wheel.name} bundled chart", bundled, bundled == version),
            (f"{sdist.name} metadata", sdist_package, same_version(version, sdist_package)),
            (tgz.name, chart, chart == version),
        ]
        wrong = [f"{what} has {have}" for what, have, ok in found if not ok]
        if wrong:
            raise StepFailed(f"version {version} expected: {'; '.join(wrong)}")
        sums = "".join(f"{sha256(p)}  {p.relative_to(staged)}\n" for p in (wheel, sdist, tgz))
        (staged / "SHA256SUMS").write_text(sums, encoding="utf-8")
        for name in ("python", "chart", "SHA256SUMS"):
            target = dist / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(staged / name, target)
    print(f"built {version}:")
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        print(f"  {dist / line.split('  ', 1)[1]}")
    return version


def image_digest(skopeo: str, image: str, plain_http: bool) -> str:
    """The digest a registry serves for an image (of its manifest, or of its
    index for a multi-platform image: the one every platform's node can pull)."""
    # --no-tags: the digest only, not the (Docker Hub: thousands of) tags beside it.
    args = [skopeo, "inspect", "--no-tags", "--format", "{{.Digest}}"]
    if plain_http:
        args.append("--tls-verify=false")
    proc = spawn([*args, f"docker://{image}"], SKOPEO_TIMEOUT)
    if proc.returncode != 0:
        raise failure(args, proc)
    digest = proc.stdout.strip()
    if image_digests.DIGEST.fullmatch(digest) is None:
        raise StepFailed(f"skopeo inspect gave no sha256 digest for {image}")
    return digest


def digests(sources: Sources, skopeo: str, mirror: str | None, plain_http: bool) -> dict[str, str]:
    """Record the digest of each image Chart.yaml lists in values.yaml (all or none)."""
    values = read_text(sources.values_yaml)
    try:
        images = image_digests.listed_images(read_text(sources.chart_yaml), str(sources.chart_yaml))
        where = {i: image_digests.in_mirror(i, mirror) if mirror else i for i in images}
        # values.yaml can take them: known before the first lookup.
        image_digests.with_digests(values, {}, str(sources.values_yaml))
        found = {image: image_digest(skopeo, where[image], plain_http) for image in images}
        updated = image_digests.with_digests(values, found, str(sources.values_yaml))
    except ValueError as err:
        raise BadInput(str(err)) from None
    for image, digest in found.items():
        print(f"{image}: {digest}")
    if updated == values:
        print(f"{sources.values_yaml}: the digests recorded already")
    else:
        sources.values_yaml.write_text(updated, encoding="utf-8")
        print(f"{sources.values_yaml}: {len(found)} digests recorded")
    return found


def index_versions(index: Path) -> list[str]:
    """The versions of the chart an index.yaml lists."""
    import yaml

    try:
        data: Any = yaml.safe_load(read_text(index)) or {}
    except yaml.YAMLError as err:
        raise BadInput(f"{index}: not YAML ({err.__class__.__name__})") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise BadInput(f"{index}: not a helm repository index (no entries)")
    return [str(e.get("version")) for e in entries.get(CHART_NAME) or [] if isinstance(e, dict)]


def index(dist: Path, site: Path, url: str, helm: str) -> str:
    """Add the packaged chart to the helm repository in `site` (index.yaml merged)."""
    if not re.fullmatch(r"https?://\S+", url):
        raise BadInput(f"--url {url!r}: the site's http(s) URL, where index.yaml is served")
    tgz = only_file(dist / "chart", f"{CHART_NAME}-*.tgz")
    version = packaged_chart_version(tgz)
    site.mkdir(parents=True, exist_ok=True)
    existing = site / "index.yaml"
    if existing.exists() and version in index_versions(existing):
        raise BadInput(
            f"{existing}: already has {CHART_NAME} {version}; releases are never replaced"
        )
    published = site / tgz.name
    # The file alone (an earlier run stopped before its index.yaml) may be this one.
    if published.exists() and sha256(published) != sha256(tgz):
        raise BadInput(f"{published} exists with other content; releases are never replaced")
    with tempfile.TemporaryDirectory(dir=site, prefix=".index-") as tmp:
        work = Path(tmp)
        shutil.copy2(tgz, work / tgz.name)
        args = [helm, "repo", "index", str(work), "--url", url]
        if existing.exists():
            args += ["--merge", str(existing)]
        run(args, HELM_TIMEOUT)
        listed = index_versions(work / "index.yaml")
        os.replace(work / tgz.name, published)
        os.replace(work / "index.yaml", existing)
    print(f"{existing}: {CHART_NAME} {version} added ({len(listed)} versions)")
    return version


def already_pushed(
    helm: str, chart_ref: str, version: str, tgz: Path, flags: list[str], tmp: Path
) -> bool:
    """Whether the registry has this version: True when it is this very chart (a
    re-run), BadInput when it is another one (a release is never replaced)."""
    pulled = tmp / "pulled"
    pulled.mkdir()
    args = [helm, "pull", chart_ref, "--version", version, "--destination", str(pulled), *flags]
    proc = spawn(args, HELM_TIMEOUT)
    if proc.returncode != 0:
        # helm's answer for a missing tag (an error of access ends otherwise).
        if proc.stderr.rstrip().endswith(
            f"{chart_ref.removeprefix('oci://')}:{version}: not found"
        ):
            return False
        raise failure(args, proc)
    if sha256(only_file(pulled, "*.tgz")) != sha256(tgz):
        raise BadInput(
            f"{chart_ref}:{version} exists with other content; releases are never replaced"
        )
    return True


OCI_REFERENCE = re.compile(r"oci://(?P<host>[a-z0-9.-]+(:[0-9]+)?)(?P<path>(/[a-z0-9._-]+)+)")


def push(dist: Path, reference: str, helm: str, plain_http: bool, ca_file: Path | None) -> str:
    """helm push of the packaged chart to oci://HOST/PATH; returns the chart's reference."""
    match = OCI_REFERENCE.fullmatch(reference.rstrip("/"))
    if match is None:
        raise BadInput(
            f"{reference!r}: expected oci://HOST[:PORT]/PATH in lowercase "
            "(the chart goes to PATH/binderhub-service)"
        )
    username = os.environ.get(USERNAME_ENV, "")
    password = os.environ.get(PASSWORD_ENV, "")
    if bool(username) != bool(password):
        raise BadInput(f"set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither")
    if ca_file is not None and not ca_file.is_file():
        raise BadInput(f"--ca-file {ca_file}: no such file")
    tgz = only_file(dist / "chart", f"{CHART_NAME}-*.tgz")
    version = packaged_chart_version(tgz)
    tls = ["--plain-http"] if plain_http else []
    if ca_file is not None:
        tls += ["--ca-file", str(ca_file)]
    target = reference.rstrip("/")
    chart_ref = f"{target}/{CHART_NAME}"
    with tempfile.TemporaryDirectory(prefix="bhsvc-release-") as tmp:
        config: list[str] = []
        if username:
            # A login of this run only, removed with the folder, not the user's own.
            config = ["--registry-config", str(Path(tmp) / "registry.json")]
            run([helm, "registry", "login", match["host"], "--username", username,
                 "--password-stdin", *config, *tls], HELM_TIMEOUT, stdin=password)  # fmt: skip
        if already_pushed(helm, chart_ref, version, tgz, [*config, *tls], Path(tmp)):
            print(f"{chart_ref}:{version} is already there, the same chart: nothing to do")
            return chart_ref
        pushed = run([helm, "push", str(tgz), target, *config, *tls], HELM_TIMEOUT)
        shown = run([helm, "show", "chart", chart_ref, "--version", version, *config, *tls],
                    HELM_TIMEOUT)  # fmt: skip
    if chart_version(shown, chart_ref) != version:
        raise StepFailed(f"{chart_ref} serves {chart_version(shown, chart_ref)}, not {version}")
    digest = re.search(r"sha256:[0-9a-f]{64}", pushed)
    print(f"pushed {chart_ref}:{version}" + (f" ({digest[0]})" if digest else ""))
    return chart_ref


# ---- command line ------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="release.py", description="Release bhsvc and its chart.")
    top.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    top.add_argument("--helm", help="helm binary (default: $HELM, then PATH)")
    steps = top.add_subparsers(dest="step", required=True)
    p = steps.add_parser("check", help="the versions agree; CHANGELOG.md has this version")
    p.add_argument("--expect", help="the version a tag names (v prefix allowed)")
    p.add_argument("--pinned", action="store_true", help="every image has a recorded digest")
    p = steps.add_parser("bump", help="set a new version, release CHANGELOG.md's Unreleased")
    p.add_argument("version")
    p.add_argument("--date", type=datetime.date.fromisoformat, help=argparse.SUPPRESS)
    p = steps.add_parser("digests", help="record the digests of the chart's images")
    p.add_argument("--from", dest="mirror", help="look them up in this mirror (HOST[:PORT])")
    p.add_argument("--plain-http", action="store_true", help="registry without TLS")
    p = steps.add_parser("build", help="wheel, sdist and chart package into --dist")
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    p.add_argument("--expect", help="the version a tag names (v prefix allowed)")
    p.add_argument("--no-isolation", action="store_true", help="build in this environment")
    p = steps.add_parser("index", help="add the chart to a static helm repository")
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    p.add_argument("--site", type=Path, required=True, help="the site's folder")
    p.add_argument("--url", required=True, help="the site's public URL")
    p = steps.add_parser("push", help="push the chart to an OCI registry")
    p.add_argument("reference", help="oci://HOST[:PORT]/PATH")
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    p.add_argument("--plain-http", action="store_true", help="registry without TLS")
    p.add_argument("--ca-file", type=Path, help="CA certificate of the registry")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sources = Sources(args.root.resolve())
    try:
        if args.step == "check":
            print(check(sources, args.expect, args.pinned))
        elif args.step == "bump":
            old = bump(sources, args.version, args.date or datetime.date.today())
            print(f"{old} -> {args.version}: edit CHANGELOG.md's [{args.version}] section")
        elif args.step == "digests":
            digests(sources, find_skopeo(), args.mirror, args.plain_http)
        elif args.step == "build":
            build(sources, args.dist, find_helm(args.helm), not args.no_isolation, args.expect)
        elif args.step == "index":
            index(args.dist, args.site, args.url, find_helm(args.helm))
        elif args.step == "push":
            push(args.dist, args.reference, find_helm(args.helm), args.plain_http, args.ca_file)
    except BadInput as err:
        print(f"release: {err}", file=sys.stderr)
        return 2
    except StepFailed as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
