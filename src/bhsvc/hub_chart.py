"""The z2jh chart, fetched and checked before anything changes on the cluster.

`deploy` and `connect-hub` install the hub from a local copy of the chart: the
user's own (`hub.chart` naming a directory or .tgz), or one bhsvc fetched into
its cache (`$XDG_CACHE_HOME/bhsvc/charts/<source>/jupyterhub-<version>.tgz`)
and checked. So an unreachable repository, a missing version or values the
chart's schema refuses stop the run before its first change, and the upgrade
installs exactly the chart the offline render took.

How the copy is fetched and checked. z2jh's repository index lists every
development build: a 2024 snapshot of it is 1.7 MB with 1775 entries, which
PyYAML takes 1.0 s and 46 MB to load with libyaml (4.7 s without). So helm
speaks the repository protocol (TLS, proxies, the same client as `helm
upgrade`): `helm repo add` into a throw-away repository config fetches the
index once, `helm pull` takes the chart from it, and bhsvc compares the
chart's SHA-256 with the digest of its entry, found by scanning the index's
text for the lines of that version and parsing those entries alone (50 ms on
that snapshot; an index in another layout, such as JSON, is parsed whole).
The SHA-256 is recorded beside the copy (`<file>.sha256`, in sha256sum's
format) and checked on every later use, which needs no network: a copy that
no longer matches it is fetched and checked again. A chart from a
registry (`hub.chart: oci://...`) is pulled by helm, which checks the layers
against their digests, and recorded the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from bhsvc import chart as chart_mod
from bhsvc import helm as helm_mod
from bhsvc.config import Config
from bhsvc.errors import OperationError, UsageError
from bhsvc.files import cache_home, write_atomic
from bhsvc.text import shown, unplain_problem
from bhsvc.yaml_input import load_yaml

# Another repository than hub.jupyter.org's (a mirror, a test server).
REPOSITORY_ENV = "BHSVC_HUB_CHART_REPO"
# Seconds for one helm command that fetches (the index is megabytes).
FETCH_TIMEOUT = 300.0
# The repository's name in the throw-away repository config.
_REPO_NAME = "bhsvc-hub"


@dataclass(frozen=True)
class HubChart:
    """The z2jh chart a run renders and installs."""

    path: str  # a local chart: the user's, or bhsvc's copy
    source: str  # where it comes from: a repository URL, a reference, a local path
    version: str | None  # None: a local chart, the version its Chart.yaml says
    repository: str | None = None  # a helm repository: its index gives the digest

    @property
    def fetched(self) -> bool:
        """Whether bhsvc fetches it (into its cache), rather than the user giving it."""
        return self.version is not None

    @property
    def shown_source(self) -> str:
        return without_password(self.source)

    @property
    def shown_repository(self) -> str:
        return without_password(self.repository or "")

    def describe(self) -> str:
        if not self.fetched:
            return f"chart {self.shown_source}"
        return f"z2jh {self.version} from {self.shown_source}"


def without_password(url: str) -> str:
    """A URL as bhsvc shows it: a password in it (a mirror's login) becomes ***."""
    url, login = split_login(url)
    if login is None:
        return url
    parts = urlsplit(url)
    return parts._replace(netloc=f"{login[0]}:***@{parts.netloc}").geturl()


def split_login(url: str) -> tuple[str, tuple[str, str] | None]:
    """A URL without its user and password, and them (None: it has no password)."""
    parts = urlsplit(url) if "@" in url and "://" in url else None
    if parts is None or parts.password is None:
        return url, None
    login = (unquote(parts.username or ""), unquote(parts.password))
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl(), login


def repository_url(env: Mapping[str, str]) -> str:
    """The helm repository of z2jh: $BHSVC_HUB_CHART_REPO, or hub.jupyter.org's."""
    url = env.get(REPOSITORY_ENV) or chart_mod.HUB_CHART_REPO
    problem = unplain_problem(url)
    parts = urlsplit(url) if problem is None else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{REPOSITORY_ENV}: {shown(without_password(url))} is not the http:// or https:// "
            "URL of a helm chart repository"
        )
    return url if url.endswith("/") else url + "/"


def locate(config: Config, env: Mapping[str, str]) -> HubChart:
    """Where the hub's chart is, or will be once fetched (pure: nothing is read)."""
    hub = config.hub
    if hub.chart and "://" not in hub.chart:
        local = chart_mod.reference(config, hub.chart)
        return HubChart(local, local, None)
    source = hub.chart or repository_url(env)
    folder = cache_home(env) / "charts" / hashlib.sha256(source.encode()).hexdigest()[:16]
    path = folder / f"{chart_mod.HUB_CHART_NAME}-{hub.chart_version}.tgz"
    repository = None if hub.chart else source
    return HubChart(str(path), source, hub.chart_version, repository)


# ---- the copy and its record ---------------------------------------------------------


def record_path(chart: HubChart) -> Path:
    return Path(chart.path + ".sha256")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_sha256(chart: HubChart) -> str | None:
    """The SHA-256 recorded when the copy was fetched, None without a record."""
    try:
        text = record_path(chart).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    found = re.match(r"([0-9a-f]{64}) ", text)
    return found.group(1) if found else None


def checked(chart: HubChart) -> bool:
    """Whether the copy exists and matches its record."""
    expected = recorded_sha256(chart)
    try:
        return expected is not None and sha256_of(Path(chart.path)) == expected
    except OSError:
        return False


def ensure(chart: HubChart, helm: helm_mod.Helm, notify: Callable[[str], None]) -> None:
    """A checked copy of a fetched chart in the cache: the one there, or fetched now."""
    if not chart.fetched or checked(chart):
        return
    if Path(chart.path).exists():
        notify(
            f"{chart.path} does not match the SHA-256 recorded when it was fetched: "
            "fetching it again"
        )
    notify(f"fetching the z2jh chart {chart.version} from {chart.shown_source}")
    folder = Path(chart.path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as work:
            pulled, digest = _pull(chart, helm, Path(work))
            # The copy first, then its record: a run stopped in between finds no
            # matching record and fetches again.
            os.replace(pulled, chart.path)
            write_atomic(record_path(chart), f"{digest}  {Path(chart.path).name}\n")
    except OSError as err:
        raise OperationError(
            f"cannot keep the z2jh chart in {folder}: {err.strerror or err}"
        ) from None


def _pull(chart: HubChart, helm: helm_mod.Helm, work: Path) -> tuple[Path, str]:
    """The chart fetched into `work`, and its SHA-256 (checked against the index)."""
    assert chart.version is not None
    target = work / "pulled"
    target.mkdir()
    if chart.repository is None:
        args = ["pull", chart.source, "--version", chart.version, "--destination", str(target)]
        try:
            helm_mod.run(helm, args, FETCH_TIMEOUT)
        except helm_mod.HelmFailed as err:
            raise OperationError(
                f"cannot fetch the z2jh chart {chart.shown_source} {chart.version}: {err}"
            ) from None
        pulled = _only_chart_in(target)
        return pulled, sha256_of(pulled)
    private = ["--repository-config", str(work / "repositories.yaml")]
    private += ["--repository-cache", str(work / "cache")]
    # A mirror's login goes to helm on its standard input, not in its arguments;
    # helm keeps it with the repository for the pull.
    url, login = split_login(chart.repository)
    add = ["repo", "add", _REPO_NAME, url, *private]
    if login is not None:
        add += [f"--username={login[0]}", "--password-stdin"]
    try:
        helm_mod.run(helm, add, FETCH_TIMEOUT, stdin=login[1] if login else None)
    except helm_mod.HelmFailed as err:
        reason = str(err).partition("cannot be reached: ")[2] or str(err)
        raise OperationError(
            f"the z2jh chart repository {chart.shown_repository} cannot be reached ({reason}); "
            f"a mirror can be named in {REPOSITORY_ENV}"
        ) from None
    name = f"{_REPO_NAME}/{chart_mod.HUB_CHART_NAME}"
    pull = ["pull", name, "--version", chart.version, "--destination", str(target), *private]
    try:
        helm_mod.run(helm, pull, FETCH_TIMEOUT)
    except helm_mod.HelmFailed as err:
        if "not found" in str(err):
            raise UsageError(
                f"hub.chart_version: the repository {chart.shown_repository} has no chart "
                f"{chart_mod.HUB_CHART_NAME} {chart.version}"
            ) from None
        raise OperationError(
            f"cannot fetch the z2jh chart {chart.version} from {chart.shown_repository}: {err}"
        ) from None
    pulled = _only_chart_in(target)
    try:
        index = (work / "cache" / f"{_REPO_NAME}-index.yaml").read_text(errors="replace")
    except OSError:
        index = ""  # helm keeps it there; without it, nothing can be checked
    expected = index_digest(index, chart_mod.HUB_CHART_NAME, chart.version)
    digest = sha256_of(pulled)
    if expected is None:
        raise OperationError(
            f"the index of {chart.shown_repository} gives no digest for {chart_mod.HUB_CHART_NAME} "
            f"{chart.version}: bhsvc cannot check the chart it fetched"
        )
    if digest != expected:
        raise OperationError(
            f"the z2jh chart {chart.version} from {chart.shown_repository} has SHA-256 {digest}, "
            f"but the repository's index says {expected}: refusing to use it"
        )
    return pulled, digest


def _only_chart_in(folder: Path) -> Path:
    found = sorted(folder.glob("*.tgz"))
    if len(found) != 1:
        raise OperationError(f"helm pull left {len(found)} charts, not one, in {folder}")
    return found[0]


# ---- the repository's index ----------------------------------------------------------


def index_digest(index: str, name: str, version: str) -> str | None:
    """The digest the index gives chart `name` at `version` (hex, without "sha256:"),
    None when it gives none.

    Only the entries that hold the line `version: <version>` are parsed (see the
    module's note); an index laid out otherwise (JSON, flow style) is parsed whole.
    """
    line = re.compile(rf"^( *)version: *([\"']?){re.escape(version)}\2 *$", re.MULTILINE)
    found = list(line.finditer(index))
    for match in found:
        entry = _entry_at(index, match.start(), len(match.group(1)))
        if _is(entry, name, version):
            return _digest(entry)
    if found or version not in index:
        return None
    try:
        whole = load_yaml(index)
    except yaml.YAMLError:
        return None
    entries = whole.get("entries") if isinstance(whole, dict) else None
    listed = entries.get(name) if isinstance(entries, dict) else None
    for entry in listed if isinstance(listed, list) else []:
        if _is(entry, name, version):
            return _digest(entry)
    return None


def _entry_at(index: str, position: int, indent: int) -> Any:
    """The list item whose key at `indent` starts at `position`, parsed alone."""
    if indent < 2:
        return None  # not a key of a list item under `entries: <chart>:`
    start = index.rfind("\n" + " " * (indent - 2) + "- ", 0, position) + 1
    if start == 0:
        return None
    # The item ends at the next line indented less than its keys.
    end_match = re.compile(rf"^ {{0,{indent - 1}}}\S", re.MULTILINE).search(index, position)
    end = end_match.start() if end_match else len(index)
    try:
        parsed = yaml.safe_load(textwrap.dedent(index[start:end]))
    except yaml.YAMLError:
        return None
    return parsed[0] if isinstance(parsed, list) and parsed else None


def _is(entry: Any, name: str, version: str) -> bool:
    """Whether `entry` is the index entry of that chart and version (its `urls` tell it
    from the item of an entry's `dependencies`, which names a chart and version too)."""
    return (
        isinstance(entry, dict)
        and "urls" in entry
        and entry.get("name") == name
        and str(entry.get("version")) == version
    )


def _digest(entry: dict[str, Any]) -> str | None:
    digest = str(entry.get("digest") or "").removeprefix("sha256:")
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None
